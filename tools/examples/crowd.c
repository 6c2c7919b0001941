// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * crowd: one publisher and 1,023 subscribers in one service, the most a
 * service takes (SHMK_SVC_SLOTS_MAX).  The subscribers live in a few
 * processes, each waiting for all of its ports at once with a WaitSet;
 * the publisher blocks for room (SHMK_OVERFLOW_BLOCK), so no subscriber
 * loses a sample.  The time it prints for a publish includes that wait
 * for the slowest of 1,023 subscribers; what a publish costs among idle
 * subscribers is `shmk-bench idle` (Documentation/messaging.rst,
 * "Holders of several words").
 *
 *   crowd [PROCESSES [SAMPLES]]   default 8 processes, 100 samples
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#define SUBS	(SHMK_SVC_SLOTS_MAX - 1)

static void fail(const char *what, int ret)
{
	fprintf(stderr, "crowd: %s: %s%s%s\n", what, strerror(-ret),
		*shmk_last_error() ? ": " : "", shmk_last_error());
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* A port's progress: the next sample it expects. */
struct sub {
	struct shmk_port *p;
	uint32_t next;
};

/*
 * One process's share of the subscribers: open @n of them, say so on
 * @ready, then take @samples samples on each, in order, through one
 * WaitSet.  Exits 0 when every port saw every sample.
 */
static int crowd_child(const char *name, uint32_t n, uint32_t samples,
		       int ready)
{
	struct shmk_waitset_event ev[64];
	struct shmk_waitset *ws;
	struct shmk_service *s;
	struct sub *sub = calloc(n, sizeof(*sub));
	uint32_t i, done = 0;
	int ret, k;

	if (!sub)
		return 1;
	ret = shmk_service_open(name, NULL, 0, &s);
	if (ret) {
		fail("open the service", ret);
		return 1;
	}
	ret = shmk_waitset_create(&ws);
	for (i = 0; !ret && i < n; i++) {
		ret = shmk_sub_open(s, &sub[i].p);
		if (!ret) {
			ret = shmk_waitset_attach_port(ws, sub[i].p, 0, &sub[i]);
			ret = ret < 0 ? ret : 0;
		}
	}
	if (ret) {
		fail("open a subscriber", ret);
		return 1;
	}
	if (write(ready, "r", 1) != 1)
		return 1;
	while (done < n) {
		ret = shmk_waitset_wait(ws, ev, 64, 10 * 1000000000LL);
		if (ret < 0) {
			fail("wait", ret);
			return 1;
		}
		for (k = 0; k < ret; k++) {
			struct sub *u = ev[k].user;
			struct shmk_sample smp;
			uint32_t v;

			/* Ready until received from until -EAGAIN. */
			while (shmk_sub_receive(u->p, &smp, 0) == 0) {
				memcpy(&v, smp.data, sizeof(v));
				shmk_sub_release(u->p, &smp);
				if (v != u->next) {
					fprintf(stderr, "crowd: sample %u where %u was due\n",
						v, u->next);
					return 1;
				}
				if (++u->next == samples)
					done++;
			}
		}
	}
	shmk_waitset_destroy(ws);
	for (i = 0; i < n; i++)
		shmk_port_close(sub[i].p);
	shmk_service_close(s);
	free(sub);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t procs = argc > 1 ? (uint32_t)atoi(argv[1]) : 8;
	uint32_t samples = argc > 2 ? (uint32_t)atoi(argv[2]) : 100, i, n;
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB };
	char name[SHMK_SVC_NAME_MAX], b;
	struct shmk_service *s;
	struct shmk_port *pub;
	struct rlimit rl;
	int64_t *ns;
	pid_t *kid;
	int fds[2], ret, bad = 0;

	if (procs < 1 || procs > SUBS || samples < 1 || samples > 1000000) {
		fprintf(stderr, "usage: crowd [PROCESSES (1-%u) [SAMPLES]]\n", SUBS);
		return 2;
	}
	/* A few fds per port (Documentation/library.rst): raise the limit. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(name, sizeof(name), "crowd.%d", (int)getpid());
	c.payload_max = 64;
	c.max_publishers = 1;
	c.max_subscribers = SUBS;
	c.buffer = 8;
	c.max_borrow = 1;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	ret = shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s);
	if (ret) {
		fail("create the service", ret);
		return 1;
	}
	kid = calloc(procs, sizeof(*kid));
	ns = calloc(samples, sizeof(*ns));
	if (!kid || !ns || pipe(fds))
		return 1;
	for (i = 0; i < procs; i++) {
		/* Spread SUBS ports over the processes. */
		n = SUBS / procs + (i < SUBS % procs);
		kid[i] = fork();
		if (kid[i] < 0)
			return 1;
		if (!kid[i]) {
			close(fds[0]);
			_exit(crowd_child(name, n, samples, fds[1]));
		}
	}
	close(fds[1]);
	for (i = 0; i < procs && read(fds[0], &b, 1) == 1; i++)
		;
	close(fds[0]);
	if (i < procs) {
		fprintf(stderr, "crowd: a subscriber process failed to start\n");
		bad = 1;
		goto out;
	}
	ret = shmk_pub_open(s, &pub);
	if (ret) {
		fail("open the publisher", ret);
		bad = 1;
		goto out;
	}
	printf("%u participants: 1 publisher, %u subscribers in %u processes\n",
	       shmk_service_participants(s), SUBS, procs);
	for (i = 0; i < samples; i++) {
		int64_t t = now_ns();

		ret = shmk_pub_send_copy(pub, &i, sizeof(i), SHMK_FOREVER);
		ns[i] = now_ns() - t;
		if (ret) {
			fail("publish", ret);
			bad = 1;
			break;
		}
	}
	ret = shmk_pub_drain(pub, SHMK_FOREVER);
	if (ret) {
		fail("drain", ret);
		bad = 1;
	}
	shmk_port_close(pub);
	qsort(ns, i, sizeof(*ns), cmp64);
	if (i)
		printf("%u samples published, each to %u subscribers: median %lld ns "
		       "a publish (blocking for room when the slowest lags)\n",
		       i, SUBS, (long long)ns[i / 2]);
out:
	for (i = 0; i < procs; i++) {
		int st;

		if (waitpid(kid[i], &st, 0) != kid[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			fprintf(stderr, "crowd: subscriber process %u failed\n", i);
			bad = 1;
		}
	}
	if (!bad)
		printf("every subscriber received every sample, in order\n");
	shmk_service_close(s);
	shmk_service_remove(name);
	free(kid);
	free(ns);
	return bad;
}
