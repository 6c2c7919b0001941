// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * MPMC queue: parameters, empty and full edges, position wrap-around,
 * blocking operations, thread and process stress (every item exactly once,
 * per-producer order preserved).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include "testutil.h"

REGION_GROUP_FIXTURE(8 << 20)

static void test_params(void **state)
{
	struct shmk_mpmc q;

	(void)state;
	assert_int_equal(shmk_mpmc_size(8, 16),
			 sizeof(struct shmk_mpmc_shared) + 16 * 16);
	assert_int_equal(shmk_mpmc_size(9, 16),
			 sizeof(struct shmk_mpmc_shared) + 16 * 24);
	assert_int_equal(shmk_mpmc_size(0, 16), 0);
	assert_int_equal(shmk_mpmc_size(8, 1), 0);
	assert_int_equal(shmk_mpmc_size(8, 24), 0);
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 24, 0), -EINVAL);
	assert_int_equal(shmk_mpmc_init(&q, R, 8, 8, 16, 0), -EINVAL);
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 16, 2), -EINVAL);
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 1U << 20, 1U << 10, 0), -EINVAL);
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 2, 0), 0);
}

static void test_empty_full(void **state)
{
	struct shmk_mpmc q;
	uint64_t v, i;

	(void)state;
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 4, 0), 0);
	assert_int_equal(shmk_mpmc_pop(&q, &v), -EAGAIN);
	for (i = 0; i < 4; i++)
		assert_int_equal(shmk_mpmc_push(&q, &i), 0);
	assert_int_equal(shmk_mpmc_push(&q, &i), -EAGAIN);
	for (i = 0; i < 4; i++) {
		assert_int_equal(shmk_mpmc_pop(&q, &v), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(shmk_mpmc_pop(&q, &v), -EAGAIN);
	/* Odd element size */
	{
		char in[13] = "abcdefghijkl", out[13];

		assert_int_equal(shmk_mpmc_init(&q, R, 0, 13, 2, 0), 0);
		assert_int_equal(shmk_mpmc_push(&q, in), 0);
		assert_int_equal(shmk_mpmc_push(&q, in), 0);
		assert_int_equal(shmk_mpmc_push(&q, in), -EAGAIN);
		assert_int_equal(shmk_mpmc_pop(&q, out), 0);
		assert_memory_equal(in, out, 13);
	}
}

/* Positions start just below 2^32: lay the cells out as if there. */
static void test_position_wrap(void **state)
{
	struct shmk_mpmc q;
	uint32_t start = UINT32_MAX - 9, p, i, v, got = 0, seq = 0;

	(void)state;
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 4, 8, 0), 0);
	for (p = start; p != start + 8; p++)
		atomic_store((_Atomic uint32_t *)(q.cells + (p & q.mask) * q.stride), p);
	atomic_store(&q.sh->enq_pos, start);
	atomic_store(&q.sh->deq_pos, start);
	for (i = 0; i < 50; i++) {
		int k;

		for (k = 0; k < 5; k++)
			assert_int_equal(shmk_mpmc_push(&q, &(uint32_t){ seq++ }), 0);
		for (k = 0; k < 5; k++) {
			assert_int_equal(shmk_mpmc_pop(&q, &v), 0);
			assert_int_equal(v, got++);
		}
		assert_int_equal(shmk_mpmc_pop(&q, &v), -EAGAIN);
	}
	assert_true(atomic_load(&q.sh->enq_pos) < start);
	for (i = 0; i < 8; i++)
		assert_int_equal(shmk_mpmc_push(&q, &i), 0);
	assert_int_equal(shmk_mpmc_push(&q, &i), -EAGAIN);
	for (i = 0; i < 8; i++) {
		assert_int_equal(shmk_mpmc_pop(&q, &v), 0);
		assert_int_equal(v, i);
	}
}

static void test_blocking_edges(void **state)
{
	struct shmk_mpmc q;
	uint64_t v = 3;

	(void)state;
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 2, 0), 0);
	assert_int_equal(shmk_mpmc_pop_wait(&q, &v, 0), -EOPNOTSUPP);
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 2, SHMK_QUEUE_NOTIFY), 0);
	assert_int_equal(shmk_mpmc_pop_wait(&q, NULL, 0), -EINVAL);
	assert_int_equal(shmk_mpmc_pop_wait(&q, &v, 0), -ETIMEDOUT);
	assert_int_equal(shmk_mpmc_pop_wait(&q, &v, 3000000), -ETIMEDOUT);
	assert_int_equal(shmk_mpmc_push_wait(&q, &v, 0), 0);
	assert_int_equal(shmk_mpmc_push_wait(&q, &v, 0), 0);
	assert_int_equal(shmk_mpmc_push_wait(&q, &v, 3000000), -ETIMEDOUT);
	assert_int_equal(shmk_mpmc_pop_wait(&q, &v, 0), 0);
	assert_int_equal(v, 3);
	/* Every announced sleeper dealt with: wakers are quiet again. */
	assert_int_equal(atomic_load(&q.sh->cons_waiters),
			 atomic_load(&q.sh->cons_seen));
	assert_int_equal(atomic_load(&q.sh->prod_waiters),
			 atomic_load(&q.sh->prod_seen));
}

#define NPROD 3
#define NCONS 3

/*
 * Shared results, in region memory so forked consumers can fill them:
 * seen[p] counts items of producer p, sum adds their values.
 */
struct results {
	_Atomic uint64_t seen[NPROD];
	_Atomic uint64_t sum;
	_Atomic int bad;
};

struct ctx {
	struct shmk_mpmc q;
	struct results *res;
	uint64_t per_prod;
	int id;
	int blocking;
};

static void *prod_fn(void *p)
{
	struct ctx *c = p;
	uint64_t i;

	for (i = 0; i < c->per_prod; i++) {
		uint64_t v = ((uint64_t)c->id << 40) | i;
		int ret;

		do {
			ret = c->blocking ? shmk_mpmc_push_wait(&c->q, &v, SHMK_FOREVER)
					  : shmk_mpmc_push(&c->q, &v);
			if (ret == -EAGAIN)
				sched_yield();	/* full */
		} while (ret == -EAGAIN);
		if (ret)
			atomic_store(&c->res->bad, 1);
	}
	return NULL;
}

/* Pop until the sentinel; check per-producer order as this consumer sees it. */
static void *cons_fn(void *p)
{
	struct ctx *c = p;
	uint64_t last[NPROD];
	int i;

	for (i = 0; i < NPROD; i++)
		last[i] = UINT64_MAX;
	for (;;) {
		uint64_t v;
		int ret = c->blocking ? shmk_mpmc_pop_wait(&c->q, &v, SHMK_FOREVER)
				      : shmk_mpmc_pop(&c->q, &v);
		unsigned int pid;
		uint64_t seq;

		if (ret == -EAGAIN) {
			sched_yield();	/* empty */
			continue;
		}
		if (ret) {
			atomic_store(&c->res->bad, 2);
			break;
		}
		if (v == UINT64_MAX)
			break;
		pid = (unsigned int)(v >> 40);
		seq = v & ((1ULL << 40) - 1);
		if (pid >= NPROD || (last[pid] != UINT64_MAX && seq <= last[pid])) {
			atomic_store(&c->res->bad, 3);
			continue;
		}
		last[pid] = seq;
		atomic_fetch_add(&c->res->seen[pid], 1);
		atomic_fetch_add(&c->res->sum, seq);
	}
	return NULL;
}

static void check_results(struct results *res, uint64_t per_prod)
{
	int i;

	assert_int_equal(atomic_load(&res->bad), 0);
	for (i = 0; i < NPROD; i++)
		assert_int_equal(atomic_load(&res->seen[i]), per_prod);
	assert_int_equal(atomic_load(&res->sum),
			 NPROD * (per_prod * (per_prod - 1) / 2));
}

static void send_sentinels(struct shmk_mpmc *q, int blocking)
{
	uint64_t stop = UINT64_MAX;
	int i;

	for (i = 0; i < NCONS; i++)
		while ((blocking ? shmk_mpmc_push_wait(q, &stop, SHMK_FOREVER)
				 : shmk_mpmc_push(q, &stop)) == -EAGAIN)
			sched_yield();
}

static void run_thread_stress(int blocking, uint32_t cap)
{
	struct ctx pc[NPROD], cc[NCONS];
	pthread_t pt[NPROD], ct[NCONS];
	struct results *res;
	struct shmk_mpmc q;
	uint64_t per = scaled(blocking ? 30000 : 200000);
	int i;

	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, cap,
					blocking ? SHMK_QUEUE_NOTIFY : 0), 0);
	res = (struct results *)((char *)shmk_region_base(R) + (4 << 20));
	memset(res, 0, sizeof(*res));
	for (i = 0; i < NCONS; i++) {
		cc[i] = (struct ctx){ q, res, per, i, blocking };
		assert_int_equal(pthread_create(&ct[i], NULL, cons_fn, &cc[i]), 0);
	}
	for (i = 0; i < NPROD; i++) {
		pc[i] = (struct ctx){ q, res, per, i, blocking };
		assert_int_equal(pthread_create(&pt[i], NULL, prod_fn, &pc[i]), 0);
	}
	for (i = 0; i < NPROD; i++)
		assert_int_equal(pthread_join(pt[i], NULL), 0);
	send_sentinels(&q, blocking);
	for (i = 0; i < NCONS; i++)
		assert_int_equal(pthread_join(ct[i], NULL), 0);
	check_results(res, per);
	assert_int_equal(shmk_mpmc_pop(&q, &per), -EAGAIN);
}

static void test_thread_stress(void **state)
{
	(void)state;
	run_thread_stress(0, 64);
	run_thread_stress(0, 2);
}

static void test_thread_stress_blocking(void **state)
{
	(void)state;
	run_thread_stress(1, 8);
}

/* Producers and consumers all in separate processes. */
static void test_fork_stress(void **state)
{
	char name[SHMK_NAME_MAX];
	struct shmk_region *r = new_region(1, name, sizeof(name), 1);
	struct results *res = (struct results *)((char *)shmk_region_base(r) + (1 << 20));
	uint64_t per = scaled(50000);
	pid_t pids[NPROD + NCONS];
	struct shmk_mpmc q;
	int i;

	(void)state;
	memset(res, 0, sizeof(*res));
	assert_int_equal(shmk_mpmc_init(&q, r, 0, 8, 16, SHMK_QUEUE_NOTIFY), 0);
	for (i = 0; i < NPROD + NCONS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct shmk_region *c;
			struct ctx cx;

			CHILD_CHECK(shmk_region_open(name, 0, &c) == 0);
			memset(&cx, 0, sizeof(cx));
			CHILD_CHECK(shmk_mpmc_attach(&cx.q, c, 0) == 0);
			cx.res = (struct results *)((char *)shmk_region_base(c) + (1 << 20));
			cx.per_prod = per;
			cx.blocking = 1;
			cx.id = i < NPROD ? i : i - NPROD;
			if (i < NPROD)
				prod_fn(&cx);
			else
				cons_fn(&cx);
			shmk_region_close(c);
			shmk_region_close(r);
			_exit(0);
		}
	}
	for (i = 0; i < NPROD; i++)
		assert_int_equal(reap(pids[i]), 0);
	send_sentinels(&q, 1);
	for (i = NPROD; i < NPROD + NCONS; i++)
		assert_int_equal(reap(pids[i]), 0);
	check_results(res, per);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Kill a forked child once it has announced a sleep on @waiters (moved
 * it away from @seen) and had time to fall asleep.
 */
static void kill_sleeper(pid_t pid, _Atomic uint32_t *waiters,
			 _Atomic uint32_t *seen)
{
	int i;

	for (i = 0; i < 5000 && atomic_load(waiters) == atomic_load(seen); i++)
		nap_ms(1);
	assert_int_not_equal(atomic_load(waiters), atomic_load(seen));
	nap_ms(20);	/* into its futex wait */
	kill(pid, SIGKILL);
	assert_int_equal(reap(pid), 128 + SIGKILL);
}

/*
 * A sleeper killed in its sleep used to leave its waiter count high, so
 * that every later operation on the other side bumped the epoch and made
 * a wake system call (lib-audit #6, the MPMC waiter counts).  Now the
 * first wake that finds nobody records the count, and the next
 * operations leave the epoch alone (no wake).
 */
static void test_dead_sleeper_heals(void **state)
{
	struct shmk_mpmc q;
	uint64_t v = 9;
	uint32_t e;
	pid_t pid;

	(void)state;
	assert_int_equal(shmk_mpmc_init(&q, R, 0, 8, 2, SHMK_QUEUE_NOTIFY), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmk_mpmc_pop_wait(&q, &v, SHMK_FOREVER);
		_exit(1);
	}
	kill_sleeper(pid, &q.sh->cons_waiters, &q.sh->cons_seen);
	e = atomic_load(&q.sh->cons_epoch);
	assert_int_equal(shmk_mpmc_push(&q, &v), 0);	/* one spare wake */
	assert_int_equal(atomic_load(&q.sh->cons_epoch), e + 1);
	assert_int_equal(shmk_mpmc_push(&q, &v), 0);	/* quiet */
	assert_int_equal(atomic_load(&q.sh->cons_epoch), e + 1);

	/* The queue is full: a producer asleep, killed. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmk_mpmc_push_wait(&q, &v, SHMK_FOREVER);
		_exit(1);
	}
	kill_sleeper(pid, &q.sh->prod_waiters, &q.sh->prod_seen);
	e = atomic_load(&q.sh->prod_epoch);
	assert_int_equal(shmk_mpmc_pop(&q, &v), 0);
	assert_int_equal(atomic_load(&q.sh->prod_epoch), e + 1);
	assert_int_equal(shmk_mpmc_pop(&q, &v), 0);
	assert_int_equal(atomic_load(&q.sh->prod_epoch), e + 1);
	assert_int_equal(shmk_mpmc_pop(&q, &v), -EAGAIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_empty_full),
		cmocka_unit_test(test_position_wrap),
		cmocka_unit_test(test_blocking_edges),
		cmocka_unit_test(test_thread_stress),
		cmocka_unit_test(test_thread_stress_blocking),
		cmocka_unit_test(test_fork_stress),
		cmocka_unit_test(test_dead_sleeper_heals),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("mpmc", tests, setup, teardown);
}
