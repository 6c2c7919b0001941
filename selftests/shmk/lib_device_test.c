// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk on the device backend (/dev/shmk), run inside the QEMU guest
 * with shmk.ko loaded: regions, wait/wake and the queues across fork.
 *
 * Build: cc -static -std=gnu11 -O2 -Iinclude -Iinclude/uapi
 *        -Ibuild/kselftest selftests/shmk/lib_device_test.c
 *        build/lib/libshmk.a -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "kselftest_harness.h"

#define LIB_UTIL_PREFIX "libdev"
#include "lib_util.h"

/* Each test starts with this: skip when setup found no device. */
/* Not lib_util.h's: this fixture opens the region itself. */
#undef NEED_DEVICE
#define NEED_DEVICE()							\
	do {								\
		if (!self->r)						\
			SKIP(return, SHMK_DEVICE_PATH			\
			     " not available (module not loaded?)");	\
	} while (0)

FIXTURE(dev) {
	char name[SHMK_NAME_MAX];
	struct shmk_region *r;
};

FIXTURE_SETUP(dev)
{
	/* 6.1's harness runs the body after a SKIP here: see NEED_DEVICE. */
	if (access(SHMK_DEVICE_PATH, R_OK | W_OK))
		return;
	setenv("SHMK_BACKEND", "device", 1);
	uniq(self->name, sizeof(self->name), "fx");
	ASSERT_EQ(0, shmk_region_create(self->name, 4 << 20, 0600, 0, &self->r));
	ASSERT_EQ(SHMK_BACKEND_DEVICE, shmk_region_backend(self->r));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->r) {
		shmk_region_unlink(self->name);
		shmk_region_close(self->r);
	}
}

TEST_F(dev, create_open_map)
{
	struct shmk_region *b;
	unsigned char *pa, *pb;

	NEED_DEVICE();
	ASSERT_EQ(4ULL << 20, shmk_region_size(self->r));
	ASSERT_TRUE(shmk_region_writable(self->r));
	pa = shmk_region_base(self->r);
	ASSERT_EQ(0, pa[0]);
	pa[100] = 7;
	pa[(4 << 20) - 1] = 9;
	ASSERT_EQ(0, shmk_region_open(self->name, 0, &b));
	pb = shmk_region_base(b);
	ASSERT_EQ(4ULL << 20, shmk_region_size(b));
	ASSERT_EQ(7, pb[100]);
	ASSERT_EQ(9, pb[(4 << 20) - 1]);
	pb[200] = 3;
	ASSERT_EQ(3, pa[200]);
	shmk_region_close(b);
	ASSERT_EQ(0, shmk_region_open(self->name, SHMK_REGION_OPEN_RDONLY, &b));
	ASSERT_FALSE(shmk_region_writable(b));
	ASSERT_EQ(3, ((unsigned char *)shmk_region_base(b))[200]);
	shmk_region_close(b);
}

TEST_F(dev, errors)
{
	char longname[SHMK_NAME_MAX + 1];
	struct shmk_region *b = NULL;

	NEED_DEVICE();
	ASSERT_EQ(-EEXIST, shmk_region_create(self->name, 1, 0600, 0, &b));
	ASSERT_EQ(-ENOENT, shmk_region_open("libdev.no.such.region", 0, &b));
	ASSERT_EQ(-ENOENT, shmk_region_unlink("libdev.no.such.region"));
	memset(longname, 'x', SHMK_NAME_MAX);
	longname[SHMK_NAME_MAX] = 0;
	ASSERT_EQ(-ENAMETOOLONG, shmk_region_create(longname, 1, 0600, 0, &b));
	ASSERT_EQ(-EINVAL, shmk_region_create("a/b", 1, 0600, 0, &b));
	ASSERT_EQ(-EINVAL, shmk_region_create("libdev.zero", 0, 0600, 0, &b));
	ASSERT_EQ(NULL, b);
	/* Unlinked: the mapping lives on, the name is gone. */
	ASSERT_EQ(0, shmk_region_unlink(self->name));
	ASSERT_EQ(-ENOENT, shmk_region_open(self->name, 0, &b));
	((volatile char *)shmk_region_base(self->r))[0] = 1;
}

TEST_F(dev, eacces)
{
	char name[SHMK_NAME_MAX];
	struct shmk_region *r;
	pid_t pid;

	NEED_DEVICE();
	if (geteuid() != 0)
		SKIP(return, "needs root to drop privileges");
	uniq(name, sizeof(name), "acc");
	ASSERT_EQ(0, shmk_region_create(name, 1, 0644, 0, &r));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmk_region *c;

		CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
		CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
		CHILD_CHECK(shmk_region_open(name, 0, &c) == -EACCES);
		CHILD_CHECK(shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &c) == 0);
		shmk_region_close(c);
		CHILD_CHECK(shmk_region_unlink(name) == -EPERM);
		_exit(0);
	}
	ASSERT_EQ(0, reap(pid));
	ASSERT_EQ(0, shmk_region_unlink(name));
	shmk_region_close(r);
}

TEST_F(dev, wait_wake)
{
	_Atomic uint32_t *w;
	pid_t pid;
	int n = 0, tries;

	NEED_DEVICE();
	w = (_Atomic uint32_t *)shmk_region_base(self->r) + 64;
	atomic_store(w, 5);
	ASSERT_EQ(-EAGAIN, shmk_wait(self->r, w, 4, SHMK_FOREVER));
	ASSERT_EQ(-ETIMEDOUT, shmk_wait(self->r, w, 5, 10 * 1000 * 1000));
	ASSERT_EQ(-EINVAL, shmk_wait(self->r, (char *)w + 1, 5, 0));
	ASSERT_EQ(0, shmk_wake(self->r, w, 1));
	atomic_store(w, 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmk_region *c;
		_Atomic uint32_t *cw;

		/* A second region fd and mapping: keyed by offset. */
		CHILD_CHECK(shmk_region_open(self->name, 0, &c) == 0);
		cw = (_Atomic uint32_t *)shmk_region_base(c) + 64;
		while (atomic_load(cw) == 0) {
			int ret = shmk_wait(c, cw, 0, 10LL * 1000 * 1000 * 1000);

			CHILD_CHECK(ret == 0 || ret == -EAGAIN);
		}
		_exit(0);
	}
	usleep(100000);
	atomic_store(w, 1);
	for (tries = 0; tries < 200 && n == 0; tries++) {
		n = shmk_wake(self->r, w, SHMK_WAKE_ALL);
		ASSERT_LE(0, n);
		if (!n)
			usleep(5000);
	}
	ASSERT_EQ(0, reap(pid));
}

/*
 * The three fork tests move 100,000 items with blocking waits; on the
 * debug lane's KASAN kernel under TCG, beside other work on the same
 * cores, that took more than the harness's default 30 s (a clean-clone
 * CI run).  The bound is on time only: a lost wake-up still fails the
 * SPSC and MPMC ones through their pops' timeouts.
 */
TEST_F_TIMEOUT(dev, spsc_fork, 300)
{
	const uint64_t n = 200000;
	struct shmk_spsc q;
	uint64_t expect = 0, buf[16];
	pid_t pid;

	NEED_DEVICE();
	ASSERT_EQ(0, shmk_spsc_init(&q, self->r, 0, 8, 64, SHMK_QUEUE_NOTIFY));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmk_region *c;
		struct shmk_spsc cq;
		uint64_t i, v[7];

		CHILD_CHECK(shmk_region_open(self->name, 0, &c) == 0);
		CHILD_CHECK(shmk_spsc_attach(&cq, c, 0) == 0);
		for (i = 0; i < n;) {
			unsigned int k, want = n - i < 7 ? (unsigned int)(n - i) : 7;
			int got;

			for (k = 0; k < want; k++)
				v[k] = i + k;
			got = shmk_spsc_push_wait(&cq, v, want, SHMK_FOREVER);
			CHILD_CHECK(got > 0);
			i += (unsigned int)got;
		}
		_exit(0);
	}
	while (expect < n) {
		int got = shmk_spsc_pop_wait(&q, buf, 16, 10LL * 1000 * 1000 * 1000);
		int k;

		ASSERT_LT(0, got);
		for (k = 0; k < got; k++)
			ASSERT_EQ(expect++, buf[k]);
	}
	ASSERT_EQ(0, reap(pid));
	ASSERT_EQ(-EAGAIN, shmk_spsc_pop(&q, buf));
}

TEST_F_TIMEOUT(dev, mpmc_fork, 300)
{
	const uint64_t per = 50000;
	struct shmk_mpmc q;
	uint64_t seen[2] = { 0, 0 }, last[2] = { 0, 0 }, v;
	pid_t pids[2];
	int i;

	NEED_DEVICE();
	ASSERT_EQ(0, shmk_mpmc_init(&q, self->r, 1 << 20, 8, 16, SHMK_QUEUE_NOTIFY));
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			struct shmk_region *c;
			struct shmk_mpmc cq;
			uint64_t s;

			CHILD_CHECK(shmk_region_open(self->name, 0, &c) == 0);
			CHILD_CHECK(shmk_mpmc_attach(&cq, c, 1 << 20) == 0);
			for (s = 1; s <= per; s++) {
				uint64_t x = ((uint64_t)i << 40) | s;

				CHILD_CHECK(shmk_mpmc_push_wait(&cq, &x, SHMK_FOREVER) == 0);
			}
			_exit(0);
		}
	}
	while (seen[0] + seen[1] < 2 * per) {
		unsigned int p;

		ASSERT_EQ(0, shmk_mpmc_pop_wait(&q, &v, 10LL * 1000 * 1000 * 1000));
		p = (unsigned int)(v >> 40);
		ASSERT_LT(p, 2U);
		ASSERT_EQ(last[p] + 1, v & ((1ULL << 40) - 1));
		last[p]++;
		seen[p]++;
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, reap(pids[i]));
	ASSERT_EQ(-EAGAIN, shmk_mpmc_pop(&q, &v));
}

TEST_F_TIMEOUT(dev, pool_fork, 300)
{
	struct shmk_pool p;
	pid_t pids[2];
	int i, k;

	NEED_DEVICE();
	ASSERT_EQ(0, shmk_pool_init(&p, self->r, 2 << 20, 64, 8));
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			struct shmk_region *c;
			struct shmk_pool cp;
			int it;

			CHILD_CHECK(shmk_region_open(self->name, 0, &c) == 0);
			CHILD_CHECK(shmk_pool_attach(&cp, c, 2 << 20) == 0);
			for (it = 0; it < 50000; it++) {
				int64_t x = shmk_pool_alloc(&cp);
				_Atomic uint32_t *s;

				if (x == -ENOMEM)
					continue;
				CHILD_CHECK(x >= 0);
				s = shmk_pool_ptr(&cp, (uint32_t)x);
				atomic_store(s, (uint32_t)i + 1);
				CHILD_CHECK(atomic_load(s) == (uint32_t)i + 1);
				CHILD_CHECK(shmk_pool_free(&cp, (uint32_t)x) == 0);
			}
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, reap(pids[i]));
	for (k = 0; k < 8; k++)
		ASSERT_LE(0, shmk_pool_alloc(&p));
	ASSERT_EQ(-ENOMEM, shmk_pool_alloc(&p));
}

/*
 * libshmk's internal helper for conditional death notices
 * (lib/backend_device.c, declared in lib/internal.h; linked from the
 * static archive, not exported by the shared library).
 */
int shmk__on_release_cmpxchg(const struct shmk_region *r, const void *slot,
			     uint32_t expected, uint32_t mask, uint32_t value,
			     const void *counter);

#define ST_ALIVE	(2U << 28)
#define ST_DEAD		(3U << 28)
#define GEN_MASK	0x0fffffffU

/*
 * A port's notice lands on its own generation only; a newer occupant
 * keeps its slot, and the counter moves either way.
 */
TEST_F(dev, on_release_cmpxchg)
{
	_Atomic uint32_t *slot, *counter;
	struct shmk_region *port;

	NEED_DEVICE();
	slot = (_Atomic uint32_t *)shmk_region_base(self->r) + 16;
	counter = slot + 16;

	/* A newer generation took the slot before the file went. */
	ASSERT_EQ(0, shmk_region_open(self->name, 0, &port));
	*slot = ST_ALIVE | 5;
	ASSERT_EQ(0, shmk__on_release_cmpxchg(port, (char *)shmk_region_base(port) + 64,
					      5, GEN_MASK, ST_DEAD | 5,
					      (char *)shmk_region_base(port) + 128));
	*slot = ST_ALIVE | 6;
	shmk_region_close(port);
	EXPECT_EQ(ST_ALIVE | 6, *slot);
	EXPECT_EQ(1, *counter);

	/* Its own generation. */
	ASSERT_EQ(0, shmk_region_open(self->name, 0, &port));
	*slot = ST_ALIVE | 7;
	ASSERT_EQ(0, shmk__on_release_cmpxchg(port, (char *)shmk_region_base(port) + 64,
					      7, GEN_MASK, ST_DEAD | 7,
					      (char *)shmk_region_base(port) + 128));
	shmk_region_close(port);
	EXPECT_EQ(ST_DEAD | 7, *slot);
	EXPECT_EQ(2, *counter);
}

TEST_F(dev, on_release_cmpxchg_errors)
{
	unsigned char *b;
	struct shmk_region *m;
	char name[SHMK_NAME_MAX];

	NEED_DEVICE();
	b = shmk_region_base(self->r);
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(NULL, b, 1, 1, 0, b + 4));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, NULL, 1, 1, 0, b));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, b, 1, 1, 0, NULL));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, b, 0, 0, 0, b + 4));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, b, 0x10, 0xf, 0,
						    b + 4));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, b + 2, 1, 1, 0,
						    b + 4));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, b, 1, 1, 0,
						    b + (4 << 20)));
	EXPECT_EQ(-EINVAL, shmk__on_release_cmpxchg(self->r, b - 4, 1, 1, 0,
						    b + 4));
	/* memfd has no module to write for it. */
	setenv("SHMK_BACKEND", "memfd", 1);
	uniq(name, sizeof(name), "mfd");
	ASSERT_EQ(0, shmk_region_create(name, 1 << 20, 0600, 0, &m));
	setenv("SHMK_BACKEND", "device", 1);
	b = shmk_region_base(m);
	EXPECT_EQ(-EOPNOTSUPP, shmk__on_release_cmpxchg(m, b, 1, 1, 0, b + 4));
	setenv("SHMK_BACKEND", "memfd", 1);
	shmk_region_unlink(name);
	setenv("SHMK_BACKEND", "device", 1);
	shmk_region_close(m);
}

TEST_HARNESS_MAIN
