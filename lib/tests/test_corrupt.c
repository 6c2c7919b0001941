// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Corrupt and foreign headers: every attach validation, and corrupt
 * indices met on the hot path, give an error, never a crash.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include "testutil.h"

REGION_GROUP_FIXTURE(2 << 20)

enum kind { SPSC, MPMC, POOL };

static void init_kind(enum kind k, uint64_t off)
{
	struct shmk_spsc s;
	struct shmk_mpmc m;
	struct shmk_pool p;

	switch (k) {
	case SPSC:
		assert_int_equal(shmk_spsc_init(&s, R, off, 8, 64, SHMK_QUEUE_NOTIFY), 0);
		break;
	case MPMC:
		assert_int_equal(shmk_mpmc_init(&m, R, off, 8, 64, SHMK_QUEUE_NOTIFY), 0);
		break;
	case POOL:
		assert_int_equal(shmk_pool_init(&p, R, off, 64, 64), 0);
		break;
	}
}

static int attach_kind(enum kind k, const struct shmk_region *r, uint64_t off)
{
	struct shmk_spsc s;
	struct shmk_mpmc m;
	struct shmk_pool p;

	switch (k) {
	case SPSC:
		return shmk_spsc_attach(&s, r, off);
	case MPMC:
		return shmk_mpmc_attach(&m, r, off);
	default:
		return shmk_pool_attach(&p, r, off);
	}
}

static struct shmk_obj_hdr *hdr_at(uint64_t off)
{
	return (struct shmk_obj_hdr *)((char *)shmk_region_base(R) + off);
}

/* Apply one corruption to a fresh object and expect @err from attach. */
static void expect(enum kind k, void (*corrupt)(struct shmk_obj_hdr *), int err)
{
	const uint64_t off = 1 << 20;

	init_kind(k, off);
	assert_int_equal(attach_kind(k, R, off), 0);
	corrupt(hdr_at(off));
	assert_int_equal(attach_kind(k, R, off), err);
}

static void bad_magic(struct shmk_obj_hdr *h) { atomic_store(&h->magic, 0xdeadbeef); }
static void zero_magic(struct shmk_obj_hdr *h) { memset(h, 0, 4096); }
static void bad_version(struct shmk_obj_hdr *h) { h->version = SHMK_LAYOUT_VERSION + 1; }
static void zero_version(struct shmk_obj_hdr *h) { h->version = 0; }
static void bad_hdr_size(struct shmk_obj_hdr *h) { h->hdr_size += 128; }
static void bad_flags(struct shmk_obj_hdr *h) { h->flags |= 1U << 31; }
static void bad_reserved(struct shmk_obj_hdr *h) { h->reserved[2] = 1; }
static void zero_elem(struct shmk_obj_hdr *h) { h->elem_size = 0; }
static void huge_elem(struct shmk_obj_hdr *h) { h->elem_size = UINT32_MAX; }
static void cap_not_pow2(struct shmk_obj_hdr *h) { h->capacity = 63; }
static void cap_zero(struct shmk_obj_hdr *h) { h->capacity = 0; }
static void bad_stride(struct shmk_obj_hdr *h) { h->stride += 8; }
static void bad_total(struct shmk_obj_hdr *h) { h->total_size += 128; }
static void total_overflow(struct shmk_obj_hdr *h) { h->total_size = UINT64_MAX; }
static void bad_data_offset(struct shmk_obj_hdr *h) { h->data_offset += 128; }
static void data_offset_past(struct shmk_obj_hdr *h) { h->data_offset = UINT64_MAX; }

/* Consistent sizes, but far larger than the region. */
static void too_big(struct shmk_obj_hdr *h)
{
	h->capacity = 1U << 20;
	if (h->magic == SHMK_MAGIC_SPSC)
		h->total_size = h->data_offset + (uint64_t)h->stride * h->capacity;
	else if (h->magic == SHMK_MAGIC_MPMC)
		h->total_size = h->data_offset + (uint64_t)h->stride * h->capacity;
	else {
		h->data_offset = 256 + 4ULL * h->capacity;
		h->total_size = h->data_offset + (uint64_t)h->stride * h->capacity;
	}
}

static void run_all(enum kind k)
{
	expect(k, bad_magic, -EBADMSG);
	expect(k, zero_magic, -EBADMSG);
	expect(k, bad_version, -EPROTO);
	expect(k, zero_version, -EPROTO);
	expect(k, bad_hdr_size, -EBADMSG);
	expect(k, bad_flags, -EBADMSG);
	expect(k, bad_reserved, -EBADMSG);
	expect(k, zero_elem, -EBADMSG);
	expect(k, huge_elem, -EBADMSG);
	expect(k, cap_zero, -EBADMSG);
	expect(k, bad_stride, -EBADMSG);
	expect(k, bad_total, -EBADMSG);
	expect(k, total_overflow, -EBADMSG);
	expect(k, bad_data_offset, -EBADMSG);
	expect(k, data_offset_past, -EBADMSG);
	expect(k, too_big, -EBADMSG);
	if (k != POOL)
		expect(k, cap_not_pow2, -EBADMSG);
}

static void test_spsc_headers(void **state) { (void)state; run_all(SPSC); }
static void test_mpmc_headers(void **state) { (void)state; run_all(MPMC); }
static void test_pool_headers(void **state) { (void)state; run_all(POOL); }

/* Wrong kind, bad offsets, read-only mapping. */
static void test_foreign_and_offsets(void **state)
{
	char name[SHMK_NAME_MAX];
	struct shmk_region *ro;
	enum kind k;

	(void)state;
	init_kind(SPSC, 0);
	assert_int_equal(attach_kind(MPMC, R, 0), -EBADMSG);
	assert_int_equal(attach_kind(POOL, R, 0), -EBADMSG);
	for (k = SPSC; k <= POOL; k++) {
		assert_int_equal(attach_kind(k, R, 64), -EINVAL);
		assert_int_equal(attach_kind(k, R, shmk_region_size(R)), -EINVAL);
		assert_int_equal(attach_kind(k, R, shmk_region_size(R) - 128), -EINVAL);
		assert_int_equal(attach_kind(k, R, UINT64_MAX & ~127ULL), -EINVAL);
		assert_int_equal(attach_kind(k, NULL, 0), -EINVAL);
	}
	/* A read-only mapping cannot run a queue. */
	uniq_name(name, sizeof(name), "ro");
	{
		struct shmk_region *rw;

		assert_int_equal(shmk_region_create(name, 1, 0600, 0, &rw), 0);
		init_kind(SPSC, 0);
		memcpy(shmk_region_base(rw), shmk_region_base(R), 4096);
		assert_int_equal(shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &ro), 0);
		assert_int_equal(attach_kind(SPSC, ro, 0), -EACCES);
		{
			struct shmk_spsc s;

			assert_int_equal(shmk_spsc_init(&s, ro, 0, 8, 8, 0), -EACCES);
		}
		shmk_region_close(ro);
		assert_int_equal(shmk_region_unlink(name), 0);
		shmk_region_close(rw);
	}
}

/* Indices corrupted after attach: the hot path reports, never overruns. */
static void test_runtime_corruption(void **state)
{
	struct shmk_spsc s;
	struct shmk_mpmc m;
	struct shmk_pool p;
	uint64_t v = 0, buf[20] = { 0 };

	(void)state;
	assert_int_equal(shmk_spsc_init(&s, R, 0, 8, 8, 0), 0);
	atomic_store(&s.sh->tail, 1000);
	assert_int_equal(shmk_spsc_pop(&s, &v), -EBADMSG);
	/*
	 * The rejected tail must not stay in the consumer's cache, where
	 * the fast path would trust it: a burst of 20 from an empty ring of
	 * 8 read 20 slots, 12 past the ring (found by test_hostile_queues).
	 */
	atomic_store(&s.sh->tail, 0);
	assert_int_equal(shmk_spsc_pop_burst(&s, buf, 20), 0);
	atomic_store(&s.sh->tail, 1000);
	assert_int_equal(shmk_spsc_attach(&s, R, 0), -EBADMSG);
	assert_int_equal(shmk_spsc_init(&s, R, 0, 8, 8, 0), 0);
	atomic_store(&s.sh->head, 0x80000000U);
	for (int i = 0; i < 8; i++)
		assert_int_equal(shmk_spsc_push(&s, &v), 0);
	assert_int_equal(shmk_spsc_push(&s, &v), -EBADMSG);
	/* Nor the rejected head in the producer's: 20 writes into 8 slots. */
	atomic_store(&s.sh->head, 0);
	assert_int_equal(shmk_spsc_push_burst(&s, buf, 20), 0);
	assert_int_equal(atomic_load(&s.sh->tail), 8);

	/* MPMC: a cell sequence ahead of any claimed position. */
	assert_int_equal(shmk_mpmc_init(&m, R, 0, 8, 8, 0), 0);
	atomic_store((_Atomic uint32_t *)m.cells, 12345);
	assert_int_equal(shmk_mpmc_push(&m, &v), -EBADMSG);
	assert_int_equal(shmk_mpmc_pop(&m, &v), -EBADMSG);
	/* ...or behind: looks full or empty, no crash. */
	atomic_store((_Atomic uint32_t *)m.cells, 0xfffffff0U);
	assert_int_equal(shmk_mpmc_push(&m, &v), -EAGAIN);
	assert_int_equal(shmk_mpmc_pop(&m, &v), -EAGAIN);

	/* Pool: a free-list index out of range, in the head or a next link. */
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 4), 0);
	atomic_store(&p.sh->free_head, 77);
	assert_int_equal(shmk_pool_alloc(&p), -EBADMSG);
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 4), 0);
	atomic_store(&p.next[0], 1000);
	/* The link is checked before it can become the head. */
	assert_int_equal(shmk_pool_alloc(&p), -EBADMSG);
	assert_int_equal(atomic_load(&p.sh->free_head), 0);
	/* Index bits beyond the 28-bit field are generation, not index. */
	assert_int_equal(shmk_pool_init(&p, R, 0, 64, 4), 0);
	atomic_store(&p.sh->free_head, (5ULL << 28) | 2);
	assert_int_equal(shmk_pool_alloc(&p), 2);
	atomic_store(&p.sh->free_head, 0xfffffffULL);
	assert_int_equal(shmk_pool_alloc(&p), -ENOMEM);
}

/*
 * A peer that flips a header field while we attach (audit finding 7):
 * attach reads the header once, so a handle it fills is the geometry it
 * validated or it fails; never a mix.  The flipper stores with relaxed
 * __atomic builtins, the same width as the library's single loads, so
 * the ThreadSanitizer phase sees no race on the header.
 */
struct flipper {
	struct shmk_obj_hdr *h;
	struct shmk_obj_hdr good;
	_Atomic int stop;
};

static void *flip_thread(void *arg)
{
	struct flipper *f = arg;

	/* Relaxed: the main thread's stop store needs no ordering. */
	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		__atomic_store_n(&f->h->capacity, 1U << 28, __ATOMIC_RELAXED);
		__atomic_store_n(&f->h->capacity, f->good.capacity,
				 __ATOMIC_RELAXED);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Attach @k at 1 MiB in a loop for at most 1 s while a thread flips
 * capacity between its value and 1 << 28.
 */
static void attach_race(enum kind k)
{
	const uint64_t off = 1 << 20;
	unsigned long n = scaled(1000000), i, ok = 0, bad = 0, other = 0;
	unsigned char *lo = (unsigned char *)shmk_region_base(R) + off;
	unsigned char *hi = (unsigned char *)shmk_region_base(R) +
			    shmk_region_size(R);
	struct flipper f = { .h = hdr_at(off) };
	struct shmk_spsc s;
	struct shmk_mpmc m;
	struct shmk_pool p;
	double end = now_s() + 1.0;
	pthread_t t;

	init_kind(k, off);
	memcpy(&f.good, f.h, sizeof(f.good));
	assert_int_equal(pthread_create(&t, NULL, flip_thread, &f), 0);
	for (i = 0; i < n && (i % 1024 || now_s() < end); i++) {
		int ret;

		switch (k) {
		case SPSC:
			ret = shmk_spsc_attach(&s, R, off);
			if (!ret && (s.mask != 63 || s.elem_size != 8 ||
				     s.slots < lo || s.slots + 64 * 8 > hi))
				bad++;
			break;
		case MPMC:
			ret = shmk_mpmc_attach(&m, R, off);
			if (!ret && (m.mask != 63 || m.elem_size != 8 ||
				     m.cells < lo ||
				     m.cells + (uint64_t)64 * m.stride > hi))
				bad++;
			break;
		default:
			ret = shmk_pool_attach(&p, R, off);
			if (!ret && (p.capacity != 64 || p.chunk_size != 64 ||
				     p.chunks < lo ||
				     p.chunks + (uint64_t)64 * p.stride > hi))
				bad++;
			break;
		}
		if (!ret)
			ok++;
		else if (ret != -EBADMSG)
			other++;
	}
	/* Relaxed: pthread_join() orders everything after. */
	atomic_store_explicit(&f.stop, 1, memory_order_relaxed);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (bad)
		print_message("%lu of %lu successful attaches (%lu tries) had an unvalidated geometry\n",
			      bad, ok, i);
	assert_int_equal(bad, 0);
	assert_int_equal(other, 0);
	/* The header is whole again: a plain attach works. */
	assert_int_equal(attach_kind(k, R, off), 0);
}

static void test_spsc_attach_race(void **state) { (void)state; attach_race(SPSC); }
static void test_mpmc_attach_race(void **state) { (void)state; attach_race(MPMC); }
static void test_pool_attach_race(void **state) { (void)state; attach_race(POOL); }

/*
 * The deterministic form of the same race: the handle attach fills lies
 * over the header it validates (legal, if odd: the handle is the
 * caller's memory), so filling the handle rewrites the shared header
 * after validation.  Attach must fill the handle from what it validated,
 * not from a second read of the shared header.
 */
static void handle_over_header(enum kind k)
{
	const uint64_t off = 1536 << 10;
	struct shmk_obj_hdr *h = hdr_at(off);
	struct shmk_spsc *s = (struct shmk_spsc *)h, ss;
	struct shmk_mpmc *m = (struct shmk_mpmc *)h, ms;
	struct shmk_pool *p = (struct shmk_pool *)h, ps;

	init_kind(k, off);
	switch (k) {
	case SPSC:
		assert_int_equal(shmk_spsc_attach(&ss, R, off), 0);
		assert_int_equal(shmk_spsc_attach(s, R, off), 0);
		assert_int_equal(s->mask, 63);
		assert_int_equal(s->elem_size, 8);
		assert_ptr_equal(s->slots, ss.slots);
		break;
	case MPMC:
		assert_int_equal(shmk_mpmc_attach(&ms, R, off), 0);
		assert_int_equal(shmk_mpmc_attach(m, R, off), 0);
		assert_int_equal(m->mask, 63);
		assert_int_equal(m->elem_size, 8);
		assert_int_equal(m->stride, ms.stride);
		assert_ptr_equal(m->cells, ms.cells);
		break;
	default:
		assert_int_equal(shmk_pool_attach(&ps, R, off), 0);
		assert_int_equal(shmk_pool_attach(p, R, off), 0);
		assert_int_equal(p->capacity, 64);
		assert_int_equal(p->chunk_size, 64);
		assert_int_equal(p->stride, ps.stride);
		assert_ptr_equal(p->chunks, ps.chunks);
		break;
	}
}

static void test_spsc_handle_over_header(void **state) { (void)state; handle_over_header(SPSC); }
static void test_mpmc_handle_over_header(void **state) { (void)state; handle_over_header(MPMC); }
static void test_pool_handle_over_header(void **state) { (void)state; handle_over_header(POOL); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spsc_headers),
		cmocka_unit_test(test_mpmc_headers),
		cmocka_unit_test(test_pool_headers),
		cmocka_unit_test(test_foreign_and_offsets),
		cmocka_unit_test(test_runtime_corruption),
		cmocka_unit_test(test_spsc_handle_over_header),
		cmocka_unit_test(test_mpmc_handle_over_header),
		cmocka_unit_test(test_pool_handle_over_header),
		cmocka_unit_test(test_spsc_attach_race),
		cmocka_unit_test(test_mpmc_attach_race),
		cmocka_unit_test(test_pool_attach_race),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("corrupt", tests, setup, teardown);
}
