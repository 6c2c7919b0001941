// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every crash point of the inline hot paths of the SPSC ring, the MPMC
 * queue and the pool: for each operation, a child runs it once per crash
 * point k and is SIGKILLed exactly at point k; the parent then checks
 * that what is left is one of the outcomes <shmk/spsc.h>, <shmk/mpmc.h>,
 * <shmk/pool.h> and Documentation/library.rst ("Crashes") promise, and
 * nothing else.
 *
 * Built with -DSHMK_CRASHPOINTS (lib/Makefile), so the inline functions
 * compiled into this file carry their SHMK__CP() sites; the library it
 * links is the normal one, so this file defines shmk__cp() itself.  The
 * points inside the library's .c files (init, the sleep paths) belong to the library's
 * crash-point build and its harness.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include "testutil.h"

#ifndef SHMK_CRASHPOINTS
#error "build with -DSHMK_CRASHPOINTS"
#endif

REGION_GROUP_FIXTURE(4 << 20)

static long cp_arm;		/* kill at this execution; 0: never */
static long cp_count;		/* executions since the last arm */
static unsigned long cp_runs;	/* crash runs, all scenarios */

void shmk__cp(struct shmk_cp_site *site)
{
	site->hits++;
	if (++cp_count == cp_arm)
		kill(getpid(), SIGKILL);
}

/* Run @op in a child armed at point @k (0: not armed); its wait status. */
static int run_child(void (*op)(void), long k, long *points)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		cp_count = 0;
		cp_arm = k;
		op();
		/* Report how many points ran, for the dry run. */
		_exit(cp_count > 250 ? 250 : (int)cp_count);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (points)
		*points = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return st;
}

/*
 * For each crash point of @op (counted by a dry run): @setup, the child
 * killed at that point, then @check.  Asserts that the child died at
 * every point, and that at least one point ran.
 */
static void every_point(const char *name, void (*setup)(void), void (*op)(void),
			void (*check)(int killed))
{
	long n, k;
	int st;

	setup();
	st = run_child(op, 0, &n);
	assert_true(WIFEXITED(st));
	assert_true(n > 0 && n < 250);
	check(0);
	for (k = 1; k <= n; k++) {
		setup();
		st = run_child(op, k, NULL);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		check(1);
		cp_runs++;
	}
	printf("%s: %ld crash points\n", name, n);
}

/* ---- SPSC ---- */

static struct shmk_spsc S;

static void spsc_setup(void)
{
	uint64_t v = 1;

	assert_int_equal(shmk_spsc_init(&S, R, 0, 8, 4, SHMK_QUEUE_NOTIFY), 0);
	assert_int_equal(shmk_spsc_push(&S, &v), 0);
	v = 2;
	assert_int_equal(shmk_spsc_push(&S, &v), 0);
	/* A stale sleeper on each side, so the wake paths run too. */
	atomic_store(&S.sh->cons_waiting, 77);
	atomic_store(&S.sh->prod_waiting, 77);
}

static void spsc_push_op(void)
{
	uint64_t v = 3;

	(void)shmk_spsc_push(&S, &v);
}

static void spsc_pop_op(void)
{
	uint64_t v;

	(void)shmk_spsc_pop(&S, &v);
}

/* Pop all as a new consumer; the values, in order, as a decimal number. */
static uint64_t spsc_drain(void)
{
	struct shmk_spsc c;
	uint64_t v, all = 0;

	assert_int_equal(shmk_spsc_attach(&c, R, 0), 0);
	while (shmk_spsc_pop(&c, &v) == 0)
		all = all * 10 + v;
	/* Still works: one more round trip. */
	v = 9;
	assert_int_equal(shmk_spsc_attach(&c, R, 0), 0);
	assert_int_equal(shmk_spsc_push(&c, &v), 0);
	assert_int_equal(shmk_spsc_pop(&c, &v), 0);
	assert_int_equal(v, 9);
	return all;
}

static void spsc_push_check(int killed)
{
	uint64_t all = spsc_drain();

	/* Before the tail store: not pushed (lost); after: pushed. */
	assert_true(all == 123 || (killed && all == 12));
}

static void spsc_pop_check(int killed)
{
	uint64_t all = spsc_drain();

	/* Before the head store: still there (delivered twice); after: gone. */
	assert_true(all == 2 || (killed && all == 12));
}

static void test_spsc(void **state)
{
	(void)state;
	every_point("spsc push", spsc_setup, spsc_push_op, spsc_push_check);
	every_point("spsc pop", spsc_setup, spsc_pop_op, spsc_pop_check);
}

/* ---- MPMC ---- */

static struct shmk_mpmc M;

static void mpmc_setup(void)
{
	uint64_t v = 1;

	assert_int_equal(shmk_mpmc_init(&M, R, 0, 8, 4, SHMK_QUEUE_NOTIFY), 0);
	assert_int_equal(shmk_mpmc_push(&M, &v), 0);
	/* Stale sleepers on both sides: the notify paths run too. */
	atomic_store(&M.sh->cons_waiters, 5);
	atomic_store(&M.sh->prod_waiters, 5);
}

static void mpmc_push_op(void)
{
	uint64_t v = 2;

	(void)shmk_mpmc_push(&M, &v);
}

static void mpmc_pop_op(void)
{
	uint64_t v;

	(void)shmk_mpmc_pop(&M, &v);
}

/* Pop until -EAGAIN; the values as a decimal number. */
static uint64_t mpmc_drain(void)
{
	uint64_t v, all = 0;
	int ret;

	while ((ret = shmk_mpmc_pop(&M, &v)) == 0)
		all = all * 10 + v;
	assert_int_equal(ret, -EAGAIN);
	return all;
}

/* Push until -EAGAIN; how many went in. */
static int mpmc_fill(void)
{
	uint64_t v = 8;
	int n = 0, ret;

	while ((ret = shmk_mpmc_push(&M, &v)) == 0)
		n++;
	assert_int_equal(ret, -EAGAIN);
	return n;
}

static void mpmc_push_check(int killed)
{
	uint64_t all = mpmc_drain();

	if (all == 12) {		/* published */
		assert_int_equal(mpmc_fill(), 4);
		return;
	}
	assert_true(killed);
	assert_int_equal(all, 1);
	if (atomic_load(&M.sh->enq_pos) == 1) {
		/* Killed before its claim: as if it never came. */
		assert_int_equal(mpmc_fill(), 4);
		assert_int_equal(mpmc_drain(), 8888);
	} else {
		/*
		 * Killed between claim and publish: consumers stop at that
		 * cell for good, and producers fill the rest of one lap.
		 */
		assert_int_equal(mpmc_fill(), 3);
		assert_int_equal(mpmc_drain(), 0);
	}
}

static void mpmc_pop_check(int killed)
{
	uint64_t all = mpmc_drain();
	uint32_t seq0 = atomic_load((_Atomic uint32_t *)M.cells);

	if (all == 1) {		/* killed before its claim */
		assert_true(killed);
		assert_int_equal(mpmc_fill(), 4);
		return;
	}
	assert_int_equal(all, 0);	/* the item went to the child */
	if (seq0 == 4) {
		/* Released: the queue goes on. */
		assert_int_equal(mpmc_fill(), 4);
	} else {
		/*
		 * Killed between claim and release: producers stop when they
		 * come round to that cell, one lap later.
		 */
		assert_true(killed);
		assert_int_equal(seq0, 1);
		assert_int_equal(mpmc_fill(), 3);
		assert_int_equal(mpmc_drain(), 888);
		assert_int_equal(mpmc_fill(), 0);
	}
}

static void test_mpmc(void **state)
{
	(void)state;
	every_point("mpmc push", mpmc_setup, mpmc_push_op, mpmc_push_check);
	every_point("mpmc pop", mpmc_setup, mpmc_pop_op, mpmc_pop_check);
}

/* ---- Pool ---- */

static struct shmk_pool P;
static int64_t held;

static void pool_setup(void)
{
	assert_int_equal(shmk_pool_init(&P, R, 0, 64, 4), 0);
	held = shmk_pool_alloc(&P);
	assert_int_equal(held, 0);
}

static void pool_alloc_op(void)
{
	(void)shmk_pool_alloc(&P);
}

static void pool_free_op(void)
{
	(void)shmk_pool_free(&P, (uint32_t)held);
}

/* Allocate until -ENOMEM: every index distinct and in range; how many. */
static int pool_count(void)
{
	unsigned char seen[4] = { 0 };
	int64_t x;
	int n = 0;

	while ((x = shmk_pool_alloc(&P)) >= 0) {
		assert_true(x < 4);
		assert_int_equal(seen[x], 0);
		seen[x] = 1;
		n++;
	}
	assert_int_equal(x, -ENOMEM);
	return n;
}

static void pool_alloc_check(int killed)
{
	int n = pool_count();

	/* 3 free before; the chunk the child took is lost with it. */
	assert_true(n == 2 || (killed && n == 3));
}

static void pool_free_check(int killed)
{
	int n = pool_count();

	/* Given back, or still the dead holder's (lost). */
	assert_true(n == 4 || (killed && n == 3));
}

static void test_pool(void **state)
{
	(void)state;
	every_point("pool alloc", pool_setup, pool_alloc_op, pool_alloc_check);
	every_point("pool free", pool_setup, pool_free_op, pool_free_check);
	printf("crash points: %lu crash runs, every outcome as documented\n", cp_runs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spsc),
		cmocka_unit_test(test_mpmc),
		cmocka_unit_test(test_pool),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("cp_queues", tests, setup, teardown);
}
