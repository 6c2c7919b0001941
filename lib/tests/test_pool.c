// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Chunk pool: parameters, exhaustion, index and pointer mapping, thread
 * and process stress with exclusive-ownership checks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include "testutil.h"

REGION_GROUP_FIXTURE(8 << 20)

static void test_params(void **state)
{
	struct shmk_pool p;

	(void)state;
	assert_int_equal(shmk_pool_size(1, 1), 256 + 128 + 64);
	assert_int_equal(shmk_pool_size(65, 3), 256 + 128 + 3 * 128);
	assert_int_equal(shmk_pool_size(0, 1), 0);
	assert_int_equal(shmk_pool_size(1, 0), 0);
	assert_int_equal(shmk_pool_size(1, SHMK_POOL_CAP_MAX + 1), 0);
	assert_int_equal(shmk_pool_init(&p, R, 0, 0, 4), -EINVAL);
	assert_int_equal(shmk_pool_init(&p, R, 4, 64, 4), -EINVAL);
	assert_int_equal(shmk_pool_init(&p, R, 0, 1 << 20, 100), -EINVAL);
	assert_int_equal(shmk_pool_init(NULL, R, 0, 64, 4), -EINVAL);
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 4), 0);
}

static void test_exhaust(void **state)
{
	struct shmk_pool p;
	int64_t idx[16];
	int i, j;

	(void)state;
	assert_int_equal(shmk_pool_init(&p, R, 256, 100, 16), 0);
	for (i = 0; i < 16; i++) {
		idx[i] = shmk_pool_alloc(&p);
		assert_true(idx[i] >= 0 && idx[i] < 16);
		for (j = 0; j < i; j++)
			assert_true(idx[i] != idx[j]);
		memset(shmk_pool_ptr(&p, (uint32_t)idx[i]), i, 100);
	}
	assert_int_equal(shmk_pool_alloc(&p), -ENOMEM);
	for (i = 0; i < 16; i++) {
		unsigned char *c = shmk_pool_ptr(&p, (uint32_t)idx[i]);

		assert_int_equal(c[0], i);
		assert_int_equal(c[99], i);
		assert_int_equal(shmk_pool_index(&p, c), idx[i]);
		assert_int_equal((uintptr_t)c % SHMK_POOL_CHUNK_ALIGN, 0);
	}
	assert_int_equal(shmk_pool_free(&p, 16), -EINVAL);
	assert_int_equal(shmk_pool_free(&p, UINT32_MAX), -EINVAL);
	assert_null(shmk_pool_ptr(&p, 16));
	assert_int_equal(shmk_pool_index(&p, (char *)shmk_pool_ptr(&p, 1) + 1), -EINVAL);
	assert_int_equal(shmk_pool_index(&p, (char *)shmk_pool_ptr(&p, 0) - 128), -EINVAL);
	assert_int_equal(shmk_pool_index(&p, (char *)shmk_pool_ptr(&p, 15) + 128), -EINVAL);
	for (i = 0; i < 16; i++)
		assert_int_equal(shmk_pool_free(&p, (uint32_t)idx[i]), 0);
	/* LIFO: the last freed comes back first. */
	assert_int_equal(shmk_pool_alloc(&p), idx[15]);
	/* Capacity 1 */
	assert_int_equal(shmk_pool_init(&p, R, 0, 8, 1), 0);
	assert_int_equal(shmk_pool_alloc(&p), 0);
	assert_int_equal(shmk_pool_alloc(&p), -ENOMEM);
	assert_int_equal(shmk_pool_free(&p, 0), 0);
	assert_int_equal(shmk_pool_alloc(&p), 0);
}

struct pctx {
	struct shmk_pool p;
	uint64_t iters;
	uint32_t id;
	_Atomic int *bad;
};

/*
 * Take up to 3 chunks, stamp them with our id, check nobody else stamped
 * them meanwhile, give them back.  A broken (ABA-prone) list hands one
 * chunk to two owners and a stamp check fails.
 */
static void *pool_worker(void *arg)
{
	struct pctx *c = arg;
	uint64_t i;

	for (i = 0; i < c->iters; i++) {
		int64_t got[3];
		int n, k;

		for (n = 0; n < 3; n++) {
			got[n] = shmk_pool_alloc(&c->p);
			if (got[n] == -ENOMEM)
				break;
			if (got[n] < 0) {
				atomic_store(c->bad, 1);
				return NULL;
			}
			/* Relaxed: the stamp is checked by this thread only. */
			atomic_store_explicit((_Atomic uint32_t *)shmk_pool_ptr(&c->p,
					      (uint32_t)got[n]), c->id,
					      memory_order_relaxed);
		}
		for (k = 0; k < n; k++) {
			_Atomic uint32_t *s = shmk_pool_ptr(&c->p, (uint32_t)got[k]);

			if (atomic_load_explicit(s, memory_order_relaxed) != c->id)
				atomic_store(c->bad, 2);
			shmk_pool_free(&c->p, (uint32_t)got[k]);
		}
	}
	return NULL;
}

static void check_all_free(struct shmk_pool *p, uint32_t cap)
{
	uint32_t i;
	unsigned char seen[64] = { 0 };

	for (i = 0; i < cap; i++) {
		int64_t x = shmk_pool_alloc(p);

		assert_true(x >= 0 && x < cap);
		assert_int_equal(seen[x], 0);
		seen[x] = 1;
	}
	assert_int_equal(shmk_pool_alloc(p), -ENOMEM);
}

static void test_thread_stress(void **state)
{
	_Atomic int bad = 0;
	struct pctx c[4];
	pthread_t t[4];
	struct shmk_pool p;
	int i;

	(void)state;
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 8), 0);
	for (i = 0; i < 4; i++) {
		c[i] = (struct pctx){ p, scaled(300000), (uint32_t)i + 1, &bad };
		assert_int_equal(pthread_create(&t[i], NULL, pool_worker, &c[i]), 0);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&bad), 0);
	check_all_free(&p, 8);
}

static void test_fork_stress(void **state)
{
	char name[SHMK_NAME_MAX];
	struct shmk_region *r = new_region(1, name, sizeof(name), 1);
	_Atomic int *bad = (_Atomic int *)((char *)shmk_region_base(r) + (1 << 20));
	struct shmk_pool p;
	pid_t pids[3];
	int i;

	(void)state;
	atomic_store(bad, 0);
	assert_int_equal(shmk_pool_init(&p, r, 0, 64, 8), 0);
	for (i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct shmk_region *cr;
			struct pctx c;

			CHILD_CHECK(shmk_region_open(name, 0, &cr) == 0);
			CHILD_CHECK(shmk_pool_attach(&c.p, cr, 0) == 0);
			c.iters = scaled(100000);
			c.id = (uint32_t)i + 100;
			c.bad = (_Atomic int *)((char *)shmk_region_base(cr) + (1 << 20));
			pool_worker(&c);
			shmk_region_close(cr);
			shmk_region_close(r);
			_exit(0);
		}
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(reap(pids[i]), 0);
	assert_int_equal(atomic_load(bad), 0);
	check_all_free(&p, 8);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
}

/* The generation field of a free-list head (bits 28-63). */
static uint64_t gen_of(uint64_t head)
{
	return head >> SHMK_POOL_IDX_BITS;
}

/*
 * lib-audit #20: the head is a 28-bit index and a 36-bit generation.
 * Every successful CAS adds exactly one to the generation, and a head
 * popped and pushed back (ABA) no longer compares equal.
 */
static void test_generation(void **state)
{
	struct shmk_pool p;
	uint64_t h0, h1;
	int64_t x, y;

	(void)state;
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 8), 0);
	h0 = atomic_load(&p.sh->free_head);
	assert_int_equal(h0, 0);
	x = shmk_pool_alloc(&p);
	y = shmk_pool_alloc(&p);
	assert_int_equal(x, 0);
	assert_int_equal(y, 1);
	assert_int_equal(shmk_pool_free(&p, (uint32_t)x), 0);
	h1 = atomic_load(&p.sh->free_head);
	/* Same first index as before (ABA), three generations later. */
	assert_int_equal(h1 & SHMK_POOL_IDX_MASK, h0 & SHMK_POOL_IDX_MASK);
	assert_int_equal(gen_of(h1), gen_of(h0) + 3);
	assert_true(h1 != h0);
	/* Generations wider than 32 bits: 2^32 is just a step. */
	atomic_store(&p.sh->free_head, (((1ULL << 32) - 1) << SHMK_POOL_IDX_BITS) | 0);
	assert_int_equal(shmk_pool_alloc(&p), 0);
	assert_int_equal(gen_of(atomic_load(&p.sh->free_head)), 1ULL << 32);
	assert_int_equal(atomic_load(&p.sh->free_head) & SHMK_POOL_IDX_MASK, 2);
}

/*
 * The generation runs through its wrap point (2^36 - 1 to 0) without
 * disturbing the index: start 3 below it, written directly into the
 * head, and check the list stays whole across 24 operations.
 */
static void test_generation_wrap(void **state)
{
	const uint64_t gen_max = (1ULL << (64 - SHMK_POOL_IDX_BITS)) - 1;
	struct shmk_pool p;
	int64_t idx[8];
	uint64_t h;
	int i;

	(void)state;
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 8), 0);
	atomic_store(&p.sh->free_head, ((gen_max - 2) << SHMK_POOL_IDX_BITS) | 0);
	for (i = 0; i < 8; i++) {
		idx[i] = shmk_pool_alloc(&p);
		assert_int_equal(idx[i], i);
	}
	assert_int_equal(shmk_pool_alloc(&p), -ENOMEM);
	/* 8 CASes: the generation went 2^36 - 3 .. 2^36 - 1, 0 .. 4. */
	h = atomic_load(&p.sh->free_head);
	assert_int_equal(gen_of(h), 5);
	assert_int_equal(h & SHMK_POOL_IDX_MASK, SHMK_POOL_HEAD_NIL);
	for (i = 0; i < 8; i++)
		assert_int_equal(shmk_pool_free(&p, (uint32_t)idx[i]), 0);
	check_all_free(&p, 8);
	h = atomic_load(&p.sh->free_head);
	assert_int_equal(gen_of(h), 21);
	assert_int_equal(h & SHMK_POOL_IDX_MASK, SHMK_POOL_HEAD_NIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_exhaust),
		cmocka_unit_test(test_thread_stress),
		cmocka_unit_test(test_fork_stress),
		cmocka_unit_test(test_generation),
		cmocka_unit_test(test_generation_wrap),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("pool", tests, setup, teardown);
}
