// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * zerotrust: publish-subscribe with zero-trust payloads
 * (SHMK_SVC_ZERO_TRUST): each publisher's samples live in a data region
 * only it can write; subscribers map it read-only.
 *
 *   zerotrust pub NAME [COUNT]   publish COUNT readings (default 5)
 *   zerotrust sub NAME [COUNT]   receive COUNT readings, and try to
 *                                write into the first (in a child
 *                                process): it faults, the sample stays
 *   zerotrust demo               both in one process, and the attempt
 *
 * The API is the plain one; only the configuration's mode changes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.h>

struct reading {
	uint64_t seq;
	char text[56];
};

static void fail(const char *what, int ret)
{
	fprintf(stderr, "%s: %s%s%s\n", what, strerror(-ret),
		*shmk_last_error() ? ": " : "", shmk_last_error());
}

/* A child writes into @smp's payload: 1 when the write faulted. */
static int tamper(const struct shmk_sample *smp)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return 0;
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		((volatile struct reading *)smp->data)->seq = 666;
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

static int publish(struct shmk_port *pub, uint64_t seq)
{
	struct reading *r;
	int ret = shmk_pub_loan(pub, (void **)&r);

	if (ret)
		return ret;
	r->seq = seq;
	snprintf(r->text, sizeof(r->text), "reading %llu",
		 (unsigned long long)seq);
	return shmk_pub_publish(pub, r, sizeof(*r), 0);
}

static int receive(struct shmk_port *sub, int count)
{
	struct shmk_sample smp;
	int i, ret;

	for (i = 0; i < count; i++) {
		ret = shmk_sub_receive(sub, &smp, 5000000000LL);
		if (ret) {
			fail("receive", ret);
			return 1;
		}
		printf("received %s\n", ((const struct reading *)smp.data)->text);
		if (i == 0) {
			printf("a write into it %s; it still says seq %llu\n",
			       tamper(&smp) ? "faulted (SIGSEGV)" : "went through",
			       (unsigned long long)
			       ((const struct reading *)smp.data)->seq);
		}
		shmk_sub_release(sub, &smp);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .payload_max = sizeof(struct reading),
				     .history = 1,
				     .mode = 0600 | SHMK_SVC_ZERO_TRUST };
	const char *name = argc > 2 ? argv[2] : "example.zerotrust";
	int count = argc > 3 ? atoi(argv[3]) : 5, i, ret, demo;
	struct shmk_port *pub = NULL, *sub = NULL;
	struct shmk_service *s;

	if (argc < 2 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub") &&
			 strcmp(argv[1], "demo"))) {
		fprintf(stderr, "usage: zerotrust pub|sub NAME [COUNT] | "
			"zerotrust demo\n");
		return 2;
	}
	demo = !strcmp(argv[1], "demo");
	if (demo)
		count = 1;
	ret = shmk_service_open(name, &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		fail("service", ret);
		return 1;
	}
	if (argv[1][0] == 's' || demo) {
		ret = shmk_sub_open(s, &sub);
		if (ret) {
			fail("subscriber", ret);
			return 1;
		}
	}
	if (argv[1][0] == 'p' || demo) {
		ret = shmk_pub_open(s, &pub);
		if (ret) {
			fail("publisher", ret);
			return 1;
		}
		for (i = 0; i < count; i++) {
			ret = publish(pub, (uint64_t)i);
			if (ret) {
				fail("publish", ret);
				return 1;
			}
			if (!demo)
				usleep(100000);
		}
	}
	ret = sub ? receive(sub, count) : 0;
	shmk_port_close(pub);
	shmk_port_close(sub);
	if (demo)
		shmk_service_remove(name);
	shmk_service_close(s);
	return ret;
}
