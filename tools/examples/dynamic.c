// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dynamic: publish-subscribe with dynamic payloads (SHMK_SVC_DYNAMIC):
 * point clouds of a size chosen per sample, up to payload_max.  The
 * publisher's chunks start at 4 KiB and grow by powers of two as the
 * clouds do; the subscriber follows without reconnecting.
 *
 *   dynamic pub NAME [COUNT]   publish COUNT clouds (default 6), each
 *                              four times the points of the one before
 *   dynamic sub NAME [COUNT]   receive COUNT clouds
 *   dynamic demo               both in one process
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmk/shmk.h>

struct point {
	float x, y, z;
};

static void fail(const char *what, int ret)
{
	fprintf(stderr, "%s: %s%s%s\n", what, strerror(-ret),
		*shmk_last_error() ? ": " : "", shmk_last_error());
}

static int publish(struct shmk_port *pub, size_t npoints)
{
	struct point *pts;
	size_t i;
	int bytes = shmk_pub_loan_slice(pub, npoints, (void **)&pts);

	if (bytes < 0)
		return bytes;
	for (i = 0; i < npoints; i++)
		pts[i] = (struct point){ (float)i, (float)(2 * i), 1.0f };
	printf("publish %zu points (%zu bytes) in a %d-byte chunk\n", npoints,
	       npoints * sizeof(*pts), bytes);
	return shmk_pub_publish(pub, pts, npoints * sizeof(*pts), 0);
}

static int receive(struct shmk_port *sub, int count)
{
	struct shmk_sample smp;
	int i, ret;

	for (i = 0; i < count; i++) {
		const struct point *pts;
		size_t n;

		ret = shmk_sub_receive(sub, &smp, 5000000000LL);
		if (ret) {
			fail("receive", ret);
			return 1;
		}
		pts = smp.data;
		n = smp.len / sizeof(*pts);
		printf("received %zu points, the last (%.0f, %.0f, %.0f)\n", n,
		       n ? pts[n - 1].x : 0.0, n ? pts[n - 1].y : 0.0,
		       n ? pts[n - 1].z : 0.0);
		shmk_sub_release(sub, &smp);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .payload_max = 4 << 20,
				     .type_name = "example.Point",
				     .type_size = sizeof(struct point),
				     .type_align = _Alignof(struct point),
				     .buffer = 8,
				     .mode = 0600 | SHMK_SVC_DYNAMIC };
	const char *name = argc > 2 ? argv[2] : "example.dynamic";
	int count = argc > 3 ? atoi(argv[3]) : 6, i, ret, demo;
	struct shmk_port *pub = NULL, *sub = NULL;
	struct shmk_service *s;
	size_t n = 100;

	if (argc < 2 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub") &&
			 strcmp(argv[1], "demo"))) {
		fprintf(stderr, "usage: dynamic pub|sub NAME [COUNT] | "
			"dynamic demo\n");
		return 2;
	}
	demo = !strcmp(argv[1], "demo");
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
		for (i = 0; i < count; i++, n *= 4) {
			ret = publish(pub, n);
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
