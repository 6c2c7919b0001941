// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Wait and wake: value check, timeout, bad words, threads, processes.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "testutil.h"
#include "../internal.h"

static void test_value_mismatch(void **state)
{
	struct shmk_region *r = new_region(1, NULL, 0, 0);
	uint32_t *w = shmk_region_base(r);

	(void)state;
	*w = 5;
	assert_int_equal(shmk_wait(r, w, 4, SHMK_FOREVER), -EAGAIN);
	assert_int_equal(shmk_wait(r, w, 5, 10 * 1000 * 1000), -ETIMEDOUT);
	assert_int_equal(shmk_wait(r, w, 5, 0), -ETIMEDOUT);
	assert_int_equal(shmk_wake(r, w, 1), 0);
	shmk_region_close(r);
}

static void test_bad_word(void **state)
{
	struct shmk_region *r = new_region(1, NULL, 0, 0);
	unsigned char *b = shmk_region_base(r);
	uint32_t outside = 0;

	(void)state;
	assert_int_equal(shmk_wait(r, b + 2, 0, 0), -EINVAL);
	assert_int_equal(shmk_wake(r, b + 1, 1), -EINVAL);
	assert_int_equal(shmk_wait(r, &outside, 0, 0), -EINVAL);
	assert_int_equal(shmk_wake(r, &outside, 1), -EINVAL);
	assert_int_equal(shmk_wait(r, b + shmk_region_size(r), 0, 0), -EINVAL);
	assert_int_equal(shmk_wake(r, b + shmk_region_size(r) - 2, 1), -EINVAL);
	assert_int_equal(shmk_wake(r, b - 4, 1), -EINVAL);
	assert_int_equal(shmk_wake(NULL, b, 1), -EINVAL);
	assert_int_equal(shmk_wake(r, NULL, 1), -EINVAL);
	/* The last word is fine. */
	assert_int_equal(shmk_wake(r, b + shmk_region_size(r) - 4, 1), 0);
	shmk_region_close(r);
}

struct waiter_arg {
	struct shmk_region *r;
	_Atomic uint32_t *word;
	int ret;
};

static void *waiter(void *p)
{
	struct waiter_arg *a = p;

	/* Sleep until the word leaves 0 (loop over spurious returns). */
	while (atomic_load(a->word) == 0) {
		a->ret = shmk_wait(a->r, a->word, 0, SHMK_FOREVER);
		if (a->ret && a->ret != -EAGAIN)
			break;
	}
	return NULL;
}

static void test_thread_wake(void **state)
{
	struct shmk_region *r = new_region(1, NULL, 0, 0);
	_Atomic uint32_t *word = (_Atomic uint32_t *)shmk_region_base(r) + 16;
	struct waiter_arg a[3];
	pthread_t t[3];
	int i, woken = 0;

	(void)state;
	for (i = 0; i < 3; i++) {
		a[i] = (struct waiter_arg){ r, word, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, waiter, &a[i]), 0);
	}
	usleep(20000);
	atomic_store(word, 1);
	woken = shmk_wake(r, word, SHMK_WAKE_ALL);
	assert_true(woken >= 0 && woken <= 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(a[i].ret == 0 || a[i].ret == -EAGAIN);
	}
	shmk_region_close(r);
}

static void test_process_wake(void **state)
{
	char name[SHMK_NAME_MAX];
	struct shmk_region *r = new_region(1, name, sizeof(name), 1);
	_Atomic uint32_t *w = (_Atomic uint32_t *)shmk_region_base(r) + 100;
	_Atomic uint32_t *ready = w + 1;
	pid_t pid;
	int n = 0, tries;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Another mapping, at another address: keyed by region offset. */
		struct shmk_region *c;
		_Atomic uint32_t *cw;

		CHILD_CHECK(shmk_region_open(name, 0, &c) == 0);
		cw = (_Atomic uint32_t *)shmk_region_base(c) + 100;
		atomic_store(cw + 1, 1);
		while (atomic_load(cw) == 0) {
			int ret = shmk_wait(c, cw, 0, 5LL * 1000 * 1000 * 1000);

			CHILD_CHECK(ret == 0 || ret == -EAGAIN);
		}
		shmk_region_close(c);
		shmk_region_close(r);
		_exit(0);
	}
	while (!atomic_load(ready))
		usleep(1000);
	/* Wake until the child is seen asleep and woken (or it exits). */
	usleep(20000);
	atomic_store(w, 1);
	for (tries = 0; tries < 100 && n == 0; tries++) {
		n = shmk_wake(r, w, 1);
		assert_true(n >= 0);
		if (!n)
			usleep(1000);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
}

/*
 * Waiting (notify.c): the spin policy, white-box.  Every test puts the
 * process's configuration back as it was at load.
 */
static void spin_restore(void)
{
	cpu_set_t set;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	shmk__spin_setup(CPU_COUNT(&set), getenv("SHMK_SPIN_NS"));
}

static uint32_t spin_limit(uint32_t *st)
{
	struct shmk_spin_run run;

	shmk_spin_begin(st, &run, -1);
	return run.limit;
}

/* One usable CPU: never a spin, whatever the ceiling asked for. */
static void test_spin_one_cpu(void **state)
{
	struct shmk_spin_run run;
	uint32_t st = 0;

	(void)state;
	assert_int_equal(shmk__spin_setup(1, "50000"), 0);
	assert_int_equal(shmk_spin_ns(100000), 0);
	assert_int_equal(shmk_spin_ns(-1), 0);
	shmk_spin_begin(&st, &run, -1);
	assert_int_equal(run.limit, 0);
	assert_false(shmk_spin_more(&run));
	shmk_spin_end(&st, &run, 0);
	assert_int_equal(st, 0);
	spin_restore();
}

/* SHMK_SPIN_NS: a count of ns up to 1 s; anything else is the default. */
static void test_spin_env(void **state)
{
	(void)state;
	assert_int_equal(shmk__spin_setup(2, "5000"), 5000);
	assert_int_equal(shmk__spin_setup(2, "0"), 0);
	assert_int_equal(shmk__spin_setup(2, NULL), SHMK_SPIN_DEFAULT_NS);
	assert_int_equal(shmk__spin_setup(2, ""), SHMK_SPIN_DEFAULT_NS);
	assert_int_equal(shmk__spin_setup(2, "abc"), SHMK_SPIN_DEFAULT_NS);
	assert_int_equal(shmk__spin_setup(2, "12x"), SHMK_SPIN_DEFAULT_NS);
	assert_int_equal(shmk__spin_setup(2, "-1"), SHMK_SPIN_DEFAULT_NS);
	assert_int_equal(shmk__spin_setup(2, "1000000001"), SHMK_SPIN_DEFAULT_NS);
	assert_int_equal(shmk__spin_setup(2, "1000000000"), 1000000000);
	/* The setter: bad input changes nothing. */
	assert_int_equal(shmk_spin_ns(1000000001), -EINVAL);
	assert_int_equal(shmk_spin_ns(INT64_MAX), -EINVAL);
	assert_int_equal(shmk_spin_ns(7000), 1000000000);
	assert_int_equal(shmk_spin_ns(-1), 7000);
	assert_true(shmk__spin_every() >= 1 && shmk__spin_every() <= 4096);
	spin_restore();
}

/*
 * Each wait that had to sleep quarters the budget, down to none; a
 * waiter that stopped spinning probes with the full budget one wait in
 * SHMK_SPIN_PROBE, and a probe the spin satisfied gives it all back.
 */
static void test_spin_learns(void **state)
{
	struct shmk_spin_run run;
	uint32_t st = 0;
	int i;

	(void)state;
	assert_int_equal(shmk__spin_setup(2, "64000"), 64000);
	assert_int_equal(spin_limit(&st), 64000);
	for (i = 0; i < SHMK_SPIN_OFF; i++) {
		shmk_spin_begin(&st, &run, -1);
		assert_int_equal(run.limit, 64000 >> (2 * i));
		shmk_spin_end(&st, &run, 0);
	}
	for (i = 1; i < SHMK_SPIN_PROBE; i++) {
		shmk_spin_begin(&st, &run, -1);
		assert_int_equal(run.limit, 0);
		shmk_spin_end(&st, &run, 0);
	}
	/* The probe; lost, then the next probe wins. */
	shmk_spin_begin(&st, &run, -1);
	assert_int_equal(run.limit, 64000);
	shmk_spin_end(&st, &run, 0);
	for (i = 1; i < SHMK_SPIN_PROBE; i++)
		assert_int_equal(spin_limit(&st), 0);
	shmk_spin_begin(&st, &run, -1);
	assert_int_equal(run.limit, 64000);
	shmk_spin_end(&st, &run, 1);
	assert_int_equal(spin_limit(&st), 64000);
	/* A win below the ceiling climbs one level. */
	st = 2;
	shmk_spin_begin(&st, &run, -1);
	assert_int_equal(run.limit, 4000);
	shmk_spin_end(&st, &run, 1);
	assert_int_equal(spin_limit(&st), 16000);
	spin_restore();
}

/* The budget is time: a spin lasts at least it, and stops at a deadline. */
static void test_spin_is_time(void **state)
{
	struct shmk_spin_run run;
	uint32_t st = 0;
	int64_t t0, t;
	unsigned long n = 0;

	(void)state;
	assert_int_equal(shmk__spin_setup(2, "2000000"), 2000000);
	t0 = shmk_now_ns();
	shmk_spin_begin(&st, &run, -1);
	while (shmk_spin_more(&run))
		n++;
	t = shmk_now_ns() - t0;
	assert_true(n > 0);
	assert_true(t >= 2000000);
	/* A deadline before the budget ends: stop there. */
	t0 = shmk_now_ns();
	shmk_spin_begin(&st, &run, t0 + 500000);
	while (shmk_spin_more(&run))
		;
	assert_true(run.until == t0 + 500000);
	/* A deadline already past: no spin. */
	shmk_spin_begin(&st, &run, shmk_now_ns() - 1);
	assert_int_equal(run.limit, 0);
	spin_restore();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_mismatch),
		cmocka_unit_test(test_bad_word),
		cmocka_unit_test(test_thread_wake),
		cmocka_unit_test(test_process_wake),
		cmocka_unit_test(test_spin_one_cpu),
		cmocka_unit_test(test_spin_env),
		cmocka_unit_test(test_spin_learns),
		cmocka_unit_test(test_spin_is_time),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
