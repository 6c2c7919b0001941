// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * typed: a typed publish-subscribe service with user headers, history
 * chosen per subscriber, and a publisher that lingers at close.
 *
 *   typed pub NAME [COUNT]           publish COUNT poses (default 10),
 *                                    then close only once every live
 *                                    subscriber has received them all
 *   typed sub NAME [COUNT [HISTORY]] receive COUNT poses; HISTORY: how
 *                                    many past ones to ask for (0 to 4)
 *   typed bad NAME                   open NAME as another type: refused
 *
 * The service carries its payload type ("example.Pose", its size and
 * alignment): a program built with another struct gets -EPROTOTYPE and
 * a sentence naming both types.  Each sample has a 16-byte user header
 * (here a send time and a publisher id) next to its payload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

struct pose {
	double x, y, z;
	uint32_t frame;
};

struct hdr {
	int64_t sent_ns;
	uint32_t pid;
	uint32_t pad;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fail(const char *what, int ret)
{
	fprintf(stderr, "%s: %s%s%s\n", what, strerror(-ret),
		*shmk_last_error() ? ": " : "", shmk_last_error());
}

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .payload_max = sizeof(struct pose),
				     .history = 4, .buffer = 16,
				     .type_name = "example.Pose",
				     .type_size = sizeof(struct pose),
				     .type_align = _Alignof(struct pose),
				     .user_header_size = sizeof(struct hdr) };
	struct shmk_service *s;
	struct shmk_port *p;
	int n, i, ret;

	if (argc < 3 || !strchr("psb", argv[1][0])) {
		fprintf(stderr, "usage: %s pub|sub|bad NAME [COUNT [HISTORY]]\n",
			argv[0]);
		return 2;
	}
	n = argc > 3 ? atoi(argv[3]) : 10;
	if (argv[1][0] == 'b') {
		/* Another program's idea of the type: refused, both named. */
		struct shmk_svc_config w = { .size = sizeof(w),
					     .kind = SHMK_SVC_PUBSUB,
					     .type_name = "example.Pose2",
					     .type_size = 40 };

		ret = shmk_service_open(argv[2], &w, 0, &s);
		if (ret) {
			fail("bad", ret);
			return ret == -EPROTOTYPE ? 0 : 1;
		}
		shmk_service_close(s);
		return 1;
	}
	ret = shmk_service_open(argv[2], &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		fail(argv[2], ret);
		return 1;
	}
	if (argv[1][0] == 'p') {
		ret = shmk_pub_open(s, &p);
		for (i = 0; !ret && i < n; i++) {
			struct pose *pl;
			struct hdr *h;

			ret = shmk_pub_loan(p, (void **)&pl);
			if (ret)
				break;
			*pl = (struct pose){ i * 1.0, i * 2.0, i * 3.0, (uint32_t)i };
			h = shmk_pub_loan_header(p, pl);
			h->sent_ns = now_ns();
			h->pid = (uint32_t)getpid();
			ret = shmk_pub_publish(p, pl, sizeof(*pl), 0);
			if (!ret)
				printf("published frame %d\n", i);
			nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		}
		if (!ret) {
			/* Up to 10 s for every live subscriber to receive all. */
			ret = shmk_pub_close_linger(p, 10000000000LL);
			if (ret)
				fail("linger", ret);
			shmk_service_close(s);
			return ret ? 1 : 0;
		}
	} else {
		struct shmk_sub_opts o = { .size = sizeof(o),
					   .history = argc > 4 ?
					   (uint32_t)atoi(argv[4]) : 0 };

		ret = shmk_sub_open_opts(s, &o, &p);
		for (i = 0; !ret && i < n; i++) {
			struct shmk_sample smp;
			const struct pose *pose;
			const struct hdr *h;

			do
				ret = shmk_sub_receive(p, &smp, SHMK_FOREVER);
			while (ret == -EINTR);
			if (ret)
				break;
			pose = smp.data;
			h = shmk_sample_header(p, &smp);
			printf("frame %u (%.1f, %.1f, %.1f) from pid %u, %lld us ago\n",
			       pose->frame, pose->x, pose->y, pose->z, h->pid,
			       (long long)(now_ns() - h->sent_ns) / 1000);
			shmk_sub_release(p, &smp);
		}
	}
	if (ret)
		fail(argv[1], ret);
	else
		shmk_port_close(p);
	shmk_service_close(s);
	return ret ? 1 : 0;
}
