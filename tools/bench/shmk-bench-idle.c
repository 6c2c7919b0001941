// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-bench idle: the cost of a publish against the number of idle
 * participants.  One publisher and one active subscriber in this thread
 * (loan, publish, receive, release: one figure per iteration), with 0,
 * 62, 63 (a second word of bitmaps) and 1,022 more subscribers that are
 * open but idle (awake, never receiving, holding nothing).  Layout 6
 * promises that a publish reads ceil(subscribers / 64) mask words and
 * wakes only sleepers, so the figures should stay close; the ratio is
 * against the service with no idle subscriber.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "shmk-bench.h"

/* A port fd each: raise the soft limit of open files to the hard one. */
static void idle_fds(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 4096 &&
	    rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int idle_one(uint32_t idle, double *s)
{
	struct shmk_svc_config c;
	struct shmk_service *svc = NULL;
	struct shmk_port *pub = NULL, *sub = NULL, **others;
	char name[SHMK_SVC_NAME_MAX], label[40];
	uint32_t i, k, total = sb.warmup + sb.rounds;
	int ret = -1;

	others = calloc(idle + 1, sizeof(*others));
	if (!others)
		return -1;
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.kind = SHMK_SVC_PUBSUB;
	c.payload_max = 8;
	c.max_publishers = 1;
	c.max_subscribers = idle + 1;
	c.buffer = 4;
	c.max_borrow = 1;
	snprintf(name, sizeof(name), "bench-idle-%d-%u", (int)getpid(), idle);
	if (shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &svc)) {
		fprintf(stderr, "shmk-bench: idle: %s\n", shmk_last_error());
		goto out;
	}
	if (shmk_pub_open(svc, &pub) || shmk_sub_open(svc, &sub)) {
		fprintf(stderr, "shmk-bench: idle: cannot open the ports\n");
		goto out;
	}
	for (k = 0; k < idle; k++)
		if (shmk_sub_open(svc, &others[k])) {
			fprintf(stderr, "shmk-bench: idle: subscriber %u of %u: "
				"%s\n", k, idle, strerror(errno));
			goto out;
		}
	/* Ports open their service by name: remove it only now. */
	shmk_service_remove(name);
	for (i = 0; i < total; i++) {
		struct shmk_sample smp;
		uint64_t t0 = sb_now_ns();
		void *pl;

		ret = shmk_pub_loan(pub, &pl);
		if (!ret) {
			memcpy(pl, &i, 4);
			ret = shmk_pub_publish(pub, pl, 8, 0);
		}
		if (!ret)
			ret = shmk_sub_receive(sub, &smp, 0);
		if (!ret)
			ret = shmk_sub_release(sub, &smp);
		if (ret) {
			fprintf(stderr, "shmk-bench: idle: %s\n",
				strerror(-ret));
			ret = -1;
			goto out;
		}
		if (i >= sb.warmup)
			s[i - sb.warmup] = (double)(sb_now_ns() - t0);
	}
	snprintf(label, sizeof(label), "%u idle subscriber%s", idle,
		 idle == 1 ? "" : "s");
	sb_add("idle", label, 8, s, sb.rounds);
	ret = 0;
out:
	for (k = 0; k < idle; k++)
		shmk_port_close(others[k]);
	shmk_port_close(sub);
	shmk_port_close(pub);
	if (svc)
		shmk_service_remove(name);
	shmk_service_close(svc);
	free(others);
	return ret;
}

int sb_idle(void)
{
	static const uint32_t idles[] = { 0, 62, 63, SHMK_SVC_SLOTS_MAX - 2 };
	double *s = calloc(sb.rounds, sizeof(*s));
	unsigned int i;
	int rc = 0;

	if (!s)
		return -1;
	idle_fds();
	sb_pin(sb.cpu[0]);
	for (i = 0; i < sizeof(idles) / sizeof(idles[0]); i++)
		if (idle_one(idles[i], s))
			rc = -1;
	free(s);
	sb_ratios("idle", "0 idle subscribers");
	sb_print_table("idle", "publish + receive in one thread (ns), "
		       "against idle subscribers; ratio: / none idle");
	return rc;
}
