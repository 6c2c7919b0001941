// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dds-peer: the shmk ends of tools/dds/test-dds.
 *
 *   dds-peer pub SVC N FIRST     publish samples FIRST..FIRST+N-1 (waits up
 *                                to 10 s for a subscriber, one every 2 ms)
 *   dds-peer sub SVC N SECS      receive N samples, checking each, then
 *                                watch one more second for extras; exit 0
 *                                when exactly N came, in order, byte-exact
 *   dds-peer hold SVC SECS       keep the service open (for stat)
 *   dds-peer stat SVC            "participants N dead N chunks_used N"
 *
 * Sample i: 8 + (i * 37) % 1000 bytes: i (little endian u64) and then
 * bytes (i * 131 + j * 7 + 1) & 0xff, so a sample out of order, cut,
 * corrupted or duplicated is seen.  The sub side expects FIRST = 0 and
 * the indices that follow, across publisher runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#define PAYLOAD_MAX 1024

static size_t sample_len(uint64_t i)
{
	return 8 + (size_t)((i * 37) % (PAYLOAD_MAX - 8 - 16));
}

static void sample_fill(unsigned char *p, uint64_t i)
{
	size_t j, n = sample_len(i);

	for (j = 0; j < 8; j++)
		p[j] = (unsigned char)(i >> (8 * j));
	for (; j < n; j++)
		p[j] = (unsigned char)(i * 131 + j * 7 + 1);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	/*
	 * Block overflow: the publisher waits for the bridge.  Buffer 256,
	 * and so DDS keep-last 256 in the bridges: half a second of the
	 * test's traffic may wait in a history before the oldest is lost
	 * (a slow or descheduled bridge thread under load, or valgrind).
	 */
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .payload_max = PAYLOAD_MAX, .buffer = 256,
				     .overflow = SHMK_OVERFLOW_BLOCK };
	struct shmk_service *s;
	struct shmk_port *p;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: dds-peer pub SVC N FIRST | sub SVC N SECS | hold SVC SECS | stat SVC\n");
		return 2;
	}
	ret = shmk_service_open(argv[2], &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		fprintf(stderr, "dds-peer: service %s: %s %s\n", argv[2], strerror(-ret),
			shmk_last_error());
		return 1;
	}
	if (!strcmp(argv[1], "stat")) {
		/* Our own handle is no participant. */
		printf("participants %u dead %u chunks_used %u\n", shmk_service_participants(s),
		       shmk_service_dead(s), shmk_service_chunks_used(s));
		shmk_service_close(s);
		return 0;
	}
	if (!strcmp(argv[1], "hold") && argc == 4) {
		sleep((unsigned int)atoi(argv[3]));
		shmk_service_close(s);
		return 0;
	}
	if (argc != 5)
		return 2;
	if (!strcmp(argv[1], "pub")) {
		uint64_t n = strtoull(argv[3], NULL, 0), first = strtoull(argv[4], NULL, 0), i;
		uint32_t subs = 0;
		int64_t until = now_ns() + 10000000000LL;

		ret = shmk_pub_open(s, &p);
		if (ret) {
			fprintf(stderr, "dds-peer: pub_open: %s\n", strerror(-ret));
			return 1;
		}
		while ((shmk_service_roles(s, NULL, &subs), subs == 0) && now_ns() < until)
			usleep(10000);
		if (!subs) {
			fprintf(stderr, "dds-peer: pub %s: no subscriber after 10 s\n", argv[2]);
			return 1;
		}
		for (i = first; i < first + n; i++) {
			void *pl;

			ret = shmk_pub_loan(p, &pl);
			if (!ret) {
				sample_fill(pl, i);
				ret = shmk_pub_publish(p, pl, sample_len(i), 5000000000LL);
			}
			if (ret) {
				fprintf(stderr, "dds-peer: pub %s: sample %" PRIu64 ": %s\n", argv[2],
					i, strerror(-ret));
				return 1;
			}
			usleep(2000);
		}
		shmk_pub_drain(p, 5000000000LL);
		shmk_port_close(p);
		shmk_service_close(s);
		printf("published %" PRIu64 "\n", n);
		return 0;
	}
	if (!strcmp(argv[1], "sub")) {
		uint64_t n = strtoull(argv[3], NULL, 0), got = 0, bad = 0, extra = 0;
		int64_t until = now_ns() + (int64_t)atoi(argv[4]) * 1000000000LL, grace = 0;
		unsigned char want[PAYLOAD_MAX];

		ret = shmk_sub_open(s, &p);
		if (ret) {
			fprintf(stderr, "dds-peer: sub_open: %s\n", strerror(-ret));
			return 1;
		}
		printf("ready\n");
		fflush(stdout);
		for (;;) {
			struct shmk_sample smp;
			int64_t t = now_ns(), end = got < n ? until : grace;

			if (t >= end)
				break;
			ret = shmk_sub_receive(p, &smp, end - t);
			if (ret == -ETIMEDOUT || ret == -EINTR)
				continue;
			if (ret) {
				fprintf(stderr, "dds-peer: sub %s: receive: %s\n", argv[2], strerror(-ret));
				break;
			}
			if (got >= n) {
				extra++;
			} else {
				sample_fill(want, got);
				if (smp.len != sample_len(got) || memcmp(smp.data, want, smp.len)) {
					uint64_t idx = 0;

					for (int j = 0; j < 8 && j < (int)smp.len; j++)
						idx |= (uint64_t)((const unsigned char *)smp.data)[j] << (8 * j);
					fprintf(stderr, "dds-peer: sub %s: sample %" PRIu64
						": got index %" PRIu64 ", %zu bytes%s\n", argv[2], got,
						idx, smp.len, idx == got ? " (content differs)" : "");
					bad++;
				}
				got++;
				if (got == n)
					grace = now_ns() + 1000000000LL;
			}
			shmk_sub_release(p, &smp);
		}
		printf("received %" PRIu64 " of %" PRIu64 ", %" PRIu64 " wrong, %" PRIu64
		       " extra, %" PRIu64 " dropped\n", got, n, bad, extra, shmk_sub_dropped(p));
		shmk_port_close(p);
		shmk_service_close(s);
		return got == n && !bad && !extra ? 0 : 1;
	}
	return 2;
}
