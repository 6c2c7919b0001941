// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Hostile peers against the building blocks (issue 10, lib-audit #12):
 * between a victim's operations on an SPSC ring, an MPMC queue or a chunk
 * pool, a "peer" writes random values into random words of the shared
 * object (header fields, indices, positions, wait words, cell sequences,
 * free-list links and head, data).  The victim must get a clear error or
 * a valid result every time: never a crash, never an access outside the
 * object, never a hang.
 *
 * How each failure shows:
 *  - outside the object: the object ends where the region's last page
 *    begins; that page and the region's pages before the object are
 *    PROT_NONE, so a stray access is a SIGSEGV.  The victim's own
 *    buffers are heap blocks of exactly the size asked for, so the
 *    AddressSanitizer build (asan_*, the plain phase of make -C lib
 *    check) reports any overrun of them;
 *  - a hang: alarm() kills the test with a message naming the seed;
 *  - a wrong result: every return value is checked against what the
 *    function documents.
 *
 * A second part runs a peer thread that rewrites the hot words without
 * pause while the victim operates: every lock-free retry loop must give
 * up (-EAGAIN) rather than spin for ever.
 *
 * Environment: SHMK_HOSTILE_SEED (default: from the clock; printed),
 * SHMK_HOSTILE_COUNT (corruptions per structure; default 100000 divided by
 * SHMK_TEST_SCALE).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include "testutil.h"

#define REGION_BYTES	(2u << 20)
#define HANG_SECONDS	120

static uint64_t seed, rng;
static const char *phase = "setup";
static unsigned long corruptions;

/* xorshift64*: reproducible from the printed seed. */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static void on_alarm(int sig)
{
	char msg[160];
	int len;

	(void)sig;
	len = snprintf(msg, sizeof(msg),
		       "HANG in %s: no progress for %d s (SHMK_HOSTILE_SEED=%llu)\n",
		       phase, HANG_SECONDS, (unsigned long long)seed);
	if (len > 0)
		(void)!write(2, msg, (size_t)len);
	_exit(3);
}

static unsigned long count_from_env(void)
{
	const char *s = getenv("SHMK_HOSTILE_COUNT");

	if (s && *s)
		return strtoul(s, NULL, 10);
	return scaled(100000);
}

/*
 * Place an object of @size bytes (a multiple of SHMK_OBJ_ALIGN) in @r so
 * that it ends where the region's last page begins, and make that page
 * and every page of the region before the object's first page
 * inaccessible.  Returns the object; its offset in *@offset.
 */
static unsigned char *fenced(struct shmk_region *r, uint64_t size,
			     uint64_t *offset)
{
	unsigned char *base = shmk_region_base(r);
	uint64_t rsize = shmk_region_size(r);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t off = rsize - page - size;
	uint64_t below_obj = off & ~(page - 1);

	assert_int_equal(off % SHMK_OBJ_ALIGN, 0);
	if (below_obj)
		assert_int_equal(mprotect(base, below_obj, PROT_NONE), 0);
	assert_int_equal(mprotect(base + rsize - page, page, PROT_NONE), 0);
	*offset = off;
	return base + off;
}

/* A value a peer might write: random, or an edge near the old value. */
static uint32_t evil_value(uint32_t old)
{
	switch (below(10)) {
	case 0:
		return 0;
	case 1:
		return UINT32_MAX;
	case 2:
		return 0x80000000U;
	case 3:
		return old + 1;
	case 4:
		return old - 1;
	case 5:
		return old + (1U << below(32));
	case 6:
		return old ^ (1U << below(32));
	default:
		return (uint32_t)rnd();
	}
}

/*
 * Corrupt one aligned word of @obj (@size bytes): with probability 3/4
 * in its first @hot bytes (header, indices, wait words, links), else
 * anywhere.  Relaxed atomic stores, the width of the library's loads.
 */
static void corrupt(unsigned char *obj, uint64_t size, uint64_t hot)
{
	uint64_t span = below(4) ? hot : size;
	_Atomic uint32_t *w = (_Atomic uint32_t *)(obj + 4 * below((uint32_t)(span / 4)));

	atomic_store_explicit(w, evil_value(atomic_load_explicit(w, memory_order_relaxed)),
			      memory_order_relaxed);
	corruptions++;
}

/* Bytes from an object at @off to the end of region @r. */
#define ROOM(r, off)	(shmk_region_size(r) - (off))

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

static int is_one_of(int ret, const int *ok, int nok)
{
	int i;

	for (i = 0; i < nok; i++)
		if (ret == ok[i])
			return 1;
	return 0;
}

#define ASSERT_ERR(ret, ...)						\
	do {								\
		static const int ok_[] = { __VA_ARGS__ };		\
		if (!is_one_of((ret), ok_, sizeof(ok_) / sizeof(ok_[0]))) { \
			fprintf(stderr, "%s: unexpected %d at %s:%d (SHMK_HOSTILE_SEED=%llu)\n", \
				phase, (ret), __FILE__, __LINE__,	\
				(unsigned long long)seed);		\
			fail();						\
		}							\
	} while (0)

/*
 * The attach of a corrupt object: an error, or a handle inside the
 * region.  (A peer can rewrite the header into another geometry that
 * fits the region, so a newcomer's handle may reach past the object we
 * made: inside the region, which is all attach can promise.)
 */
static void check_spsc_handle(const struct shmk_spsc *q, const unsigned char *obj,
			      uint64_t room)
{
	uint64_t cap = (uint64_t)q->mask + 1;

	assert_true(cap && !(cap & (cap - 1)));
	assert_true(q->slots >= obj &&
		    (uint64_t)(q->slots - obj) + cap * q->elem_size <= room);
}

static void test_spsc(void **state)
{
	const uint32_t es = 8, cap = 16;
	uint64_t size = shmk_spsc_size(es, cap), off, i, n;
	struct shmk_region *r = new_region(REGION_BYTES, NULL, 0, 0);
	unsigned char *obj = fenced(r, size, &off);
	struct shmk_spsc q, q2;
	int ret;

	(void)state;
	phase = "spsc";
	n = count_from_env();
	assert_int_equal(shmk_spsc_init(&q, r, off, es, cap, SHMK_QUEUE_NOTIFY), 0);
	alarm(HANG_SECONDS);
	for (i = 0; i < n; i++) {
		unsigned int k = 1 + below(2 * cap);
		unsigned char *buf = xmalloc((size_t)k * es);

		memset(buf, 0x5a, (size_t)k * es);
		corrupt(obj, size, sizeof(struct shmk_spsc_shared));
		switch (below(8)) {
		case 0:
			ret = shmk_spsc_push(&q, buf);
			ASSERT_ERR(ret, 0, -EAGAIN, -EBADMSG);
			break;
		case 1:
			ret = shmk_spsc_pop(&q, buf);
			ASSERT_ERR(ret, 0, -EAGAIN, -EBADMSG);
			break;
		case 2:
			ret = shmk_spsc_push_burst(&q, buf, k);
			if (ret < 0)
				ASSERT_ERR(ret, -EBADMSG);
			assert_true(ret <= (int)k);
			break;
		case 3:
			ret = shmk_spsc_pop_burst(&q, buf, k);
			if (ret < 0)
				ASSERT_ERR(ret, -EBADMSG);
			assert_true(ret <= (int)k);
			break;
		case 4:
			ret = shmk_spsc_push_wait(&q, buf, k, below(2) ? 0 : 1000);
			if (ret < 0)
				ASSERT_ERR(ret, -ETIMEDOUT, -EBADMSG, -EOPNOTSUPP);
			assert_true(ret <= (int)k && ret != 0);
			break;
		case 5:
			ret = shmk_spsc_pop_wait(&q, buf, k, below(2) ? 0 : 1000);
			if (ret < 0)
				ASSERT_ERR(ret, -ETIMEDOUT, -EBADMSG, -EOPNOTSUPP);
			assert_true(ret <= (int)k && ret != 0);
			break;
		case 6:
			ret = shmk_spsc_attach(&q2, r, off);
			ASSERT_ERR(ret, 0, -EBADMSG, -EPROTO);
			if (ret == 0) {
				check_spsc_handle(&q2, obj, ROOM(r, off));
				/*
				 * Go on with what a newcomer gets, if it is
				 * what it expects: a peer can rewrite the
				 * header into another valid geometry, and
				 * our buffers are sized for es-byte items.
				 */
				if (shmk_spsc_elem_size(&q2) == es &&
				    shmk_spsc_capacity(&q2) == cap)
					q = q2;
			}
			break;
		default:
			/* Now and then a fresh ring, so the paths stay varied. */
			if (below(64) == 0)
				assert_int_equal(shmk_spsc_init(&q, r, off, es, cap,
								SHMK_QUEUE_NOTIFY), 0);
			break;
		}
		free(buf);
	}
	alarm(0);
	shmk_region_close(r);
}

static void check_mpmc_handle(const struct shmk_mpmc *q, const unsigned char *obj,
			      uint64_t room)
{
	uint64_t cap = (uint64_t)q->mask + 1;

	assert_true(cap && !(cap & (cap - 1)));
	assert_true(q->elem_size + SHMK_MPMC_CELL_HDR <= q->stride);
	assert_true(q->cells >= obj &&
		    (uint64_t)(q->cells - obj) + cap * q->stride <= room);
}

static void test_mpmc(void **state)
{
	const uint32_t es = 12, cap = 16;
	uint64_t size = shmk_mpmc_size(es, cap), off, i, n;
	struct shmk_region *r = new_region(REGION_BYTES, NULL, 0, 0);
	unsigned char *obj = fenced(r, size, &off);
	struct shmk_mpmc q, q2;
	int ret;

	(void)state;
	phase = "mpmc";
	n = count_from_env();
	assert_int_equal(shmk_mpmc_init(&q, r, off, es, cap, SHMK_QUEUE_NOTIFY), 0);
	alarm(HANG_SECONDS);
	for (i = 0; i < n; i++) {
		unsigned char *buf = xmalloc(es);

		memset(buf, 0xa5, es);
		/* Hot: the header, positions, wait words and the cells' seqs. */
		corrupt(obj, size, below(2) ? sizeof(struct shmk_mpmc_shared) : size);
		switch (below(6)) {
		case 0:
			ret = shmk_mpmc_push(&q, buf);
			ASSERT_ERR(ret, 0, -EAGAIN, -EBADMSG);
			break;
		case 1:
			ret = shmk_mpmc_pop(&q, buf);
			ASSERT_ERR(ret, 0, -EAGAIN, -EBADMSG);
			break;
		case 2:
			ret = shmk_mpmc_push_wait(&q, buf, below(2) ? 0 : 1000);
			ASSERT_ERR(ret, 0, -ETIMEDOUT, -EBADMSG, -EAGAIN,
				   -EOPNOTSUPP);
			break;
		case 3:
			ret = shmk_mpmc_pop_wait(&q, buf, below(2) ? 0 : 1000);
			ASSERT_ERR(ret, 0, -ETIMEDOUT, -EBADMSG, -EAGAIN,
				   -EOPNOTSUPP);
			break;
		case 4:
			ret = shmk_mpmc_attach(&q2, r, off);
			ASSERT_ERR(ret, 0, -EBADMSG, -EPROTO);
			if (ret == 0) {
				check_mpmc_handle(&q2, obj, ROOM(r, off));
				if (shmk_mpmc_elem_size(&q2) == es &&
				    shmk_mpmc_capacity(&q2) == cap)
					q = q2;
			}
			break;
		default:
			if (below(64) == 0)
				assert_int_equal(shmk_mpmc_init(&q, r, off, es, cap,
								SHMK_QUEUE_NOTIFY), 0);
			break;
		}
		free(buf);
	}
	alarm(0);
	shmk_region_close(r);
}

static void test_pool(void **state)
{
	const uint32_t cs = 100, cap = 32;
	uint64_t size = shmk_pool_size(cs, cap), off, i, n;
	struct shmk_region *r = new_region(REGION_BYTES, NULL, 0, 0);
	unsigned char *obj = fenced(r, size, &off);
	uint64_t hot = sizeof(struct shmk_pool_shared) + 4ULL * cap;
	uint32_t held[64];
	unsigned int nheld = 0;
	struct shmk_pool p, p2;
	int64_t x;
	int ret;

	(void)state;
	phase = "pool";
	n = count_from_env();
	assert_int_equal(shmk_pool_init(&p, r, off, cs, cap), 0);
	alarm(HANG_SECONDS);
	for (i = 0; i < n; i++) {
		corrupt(obj, size, hot);
		switch (below(6)) {
		case 0:
		case 1:
			x = shmk_pool_alloc(&p);
			if (x < 0) {
				ASSERT_ERR((int)x, -ENOMEM, -EBADMSG, -EAGAIN);
				break;
			}
			assert_true(x < cap);
			/* The whole chunk is ours to write, inside the pool. */
			memset(shmk_pool_ptr(&p, (uint32_t)x), 0x77, cs);
			assert_int_equal(shmk_pool_index(&p, shmk_pool_ptr(&p, (uint32_t)x)), x);
			if (nheld < 64)
				held[nheld++] = (uint32_t)x;
			break;
		case 2:
		case 3:
			if (!nheld)
				break;
			ret = shmk_pool_free(&p, held[--nheld]);
			ASSERT_ERR(ret, 0, -EAGAIN);
			break;
		case 4:
			ret = shmk_pool_free(&p, cap + below(1000));
			ASSERT_ERR(ret, -EINVAL);
			ret = shmk_pool_attach(&p2, r, off);
			ASSERT_ERR(ret, 0, -EBADMSG, -EPROTO);
			if (ret == 0) {
				assert_true(p2.stride >= p2.chunk_size);
				assert_true(p2.chunks >= obj &&
					    (uint64_t)(p2.chunks - obj) +
					    (uint64_t)p2.capacity * p2.stride <=
					    ROOM(r, off));
				assert_true((unsigned char *)p2.next >= obj &&
					    (unsigned char *)(p2.next + p2.capacity) <= p2.chunks);
				if (shmk_pool_chunk_size(&p2) == cs &&
				    shmk_pool_capacity(&p2) == cap)
					p = p2;
			}
			break;
		default:
			if (below(64) == 0) {
				assert_int_equal(shmk_pool_init(&p, r, off, cs, cap), 0);
				nheld = 0;
			}
			break;
		}
	}
	alarm(0);
	shmk_region_close(r);
}

/*
 * The peer that never stops: rewrites the words every retry loop
 * depends on (positions and cell sequences, the free-list head and
 * links) as fast as it can, while the victim operates.
 */
struct hammer {
	_Atomic uint32_t *words[64];
	unsigned int nwords;
	uint64_t rng;
	_Atomic int stop;
	_Atomic unsigned long writes;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	uint64_t s = h->rng;
	unsigned long n = 0;

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		atomic_store_explicit(h->words[(s >> 8) % h->nwords], (uint32_t)(s >> 32),
				      memory_order_relaxed);
		if (!(++n & 255))
			atomic_store_explicit(&h->writes, n, memory_order_relaxed);
	}
	atomic_store(&h->writes, n);
	return NULL;
}

static void test_hammer(void **state)
{
	struct shmk_region *r = new_region(REGION_BYTES, NULL, 0, 0);
	unsigned long i, n = count_from_env() / 10 + 1;
	struct hammer h = { .rng = seed | 1 };
	struct shmk_mpmc q;
	struct shmk_pool p;
	pthread_t t;
	uint64_t v = 1;
	int64_t x;
	int ret;

	(void)state;
	phase = "hammer";
	assert_int_equal(shmk_mpmc_init(&q, r, 0, 8, 4, SHMK_QUEUE_NOTIFY), 0);
	assert_int_equal(shmk_pool_init(&p, r, 1 << 20, 64, 4), 0);
	h.words[h.nwords++] = &q.sh->enq_pos;
	h.words[h.nwords++] = &q.sh->deq_pos;
	for (i = 0; i < 4; i++)
		h.words[h.nwords++] = (_Atomic uint32_t *)(q.cells + i * q.stride);
	h.words[h.nwords++] = (_Atomic uint32_t *)&p.sh->free_head;
	h.words[h.nwords++] = (_Atomic uint32_t *)&p.sh->free_head + 1;
	for (i = 0; i < 4; i++)
		h.words[h.nwords++] = &p.next[i];
	assert_int_equal(pthread_create(&t, NULL, hammer_fn, &h), 0);
	while (!atomic_load(&h.writes))
		sched_yield();
	alarm(HANG_SECONDS);
	for (i = 0; i < n; i++) {
		ret = shmk_mpmc_push(&q, &v);
		ASSERT_ERR(ret, 0, -EAGAIN, -EBADMSG);
		ret = shmk_mpmc_pop(&q, &v);
		ASSERT_ERR(ret, 0, -EAGAIN, -EBADMSG);
		x = shmk_pool_alloc(&p);
		if (x < 0) {
			ASSERT_ERR((int)x, -ENOMEM, -EBADMSG, -EAGAIN);
		} else {
			assert_true(x < 4);
			ret = shmk_pool_free(&p, (uint32_t)x);
			ASSERT_ERR(ret, 0, -EAGAIN);
		}
	}
	alarm(0);
	atomic_store(&h.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	printf("hammer: %lu rounds of 4 operations against %lu peer writes\n", n,
	       atomic_load(&h.writes));
	shmk_region_close(r);
}

static int report(void **state)
{
	(void)state;
	printf("hostile: %lu corruptions (SHMK_HOSTILE_SEED=%llu)\n", corruptions,
	       (unsigned long long)seed);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spsc),
		cmocka_unit_test(test_mpmc),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_hammer),
	};
	const char *s = getenv("SHMK_HOSTILE_SEED");
	struct timespec ts;

	use_memfd_backend();
	clock_gettime(CLOCK_REALTIME, &ts);
	seed = s && *s ? strtoull(s, NULL, 0) :
	       ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 32);
	if (!seed)
		seed = 1;
	rng = seed;
	printf("hostile: SHMK_HOSTILE_SEED=%llu, %lu corruptions per structure\n",
	       (unsigned long long)seed, count_from_env());
	signal(SIGALRM, on_alarm);
	return cmocka_run_group_tests_name("hostile_queues", tests, NULL, report);
}
