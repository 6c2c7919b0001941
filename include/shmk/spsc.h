/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: bounded single-producer single-consumer ring in region memory.
 *
 * Layout (struct shmk_spsc_shared, then the slots): a header line, the
 * producer's tail on its own 128 bytes, the consumer's head on its own 128
 * bytes, a line of waiter flags, then capacity * elem_size bytes of slots.
 * head and tail are free-running 32-bit counters; their difference, modulo
 * 2^32, is the fill level, so capacity is a power of two up to 2^31.
 *
 * Each side keeps, in its process-local handle, its own index and a cached
 * copy of the other side's index, so the shared opposite index is read
 * only when the cached one says the ring looks full (or empty).
 *
 * The non-blocking operations (push, pop and their bursts) never make a
 * system call, except shmk_wake() when the ring was initialised with
 * SHMK_QUEUE_NOTIFY and the other side is asleep.  See
 * Documentation/library.rst for the memory-ordering argument and the
 * waiter protocol.
 *
 * Crashes.  The ring is safe against a dead peer in this sense: nothing
 * is ever corrupted, and a new producer or consumer may attach and go on.
 * But it does not recover work in flight:
 *  - a producer killed after copying items but before its tail store
 *    loses those items (they were never published);
 *  - a consumer killed after copying items out but before its head store
 *    leaves them in the ring, so the next consumer receives them again
 *    (delivered twice);
 *  - a side killed while asleep leaves its wait flag set; the other side's
 *    next operation then makes one wake system call that finds nobody,
 *    and clears the flag, and the one after it one more (see
 *    shmk__spsc_wake(): it heals itself after two calls).
 * For messaging that survives crashed participants exactly (no loss, no
 * duplicate, no leaked buffer), use the services of <shmk/service.h>.
 *
 * A peer that writes garbage into the ring can make this side see wrong
 * items or -EBADMSG, never access memory outside the ring or loop.
 */
#ifndef SHMK_SPSC_H
#define SHMK_SPSC_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <shmk/common.h>
#include <shmk/notify.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmk_region;

/* Largest element and capacity an SPSC ring accepts. */
#define SHMK_SPSC_ELEM_MAX	(1U << 20)
#define SHMK_SPSC_CAP_MAX	(1U << 31)

/**
 * struct shmk_spsc_shared - the ring's shared header (in region memory)
 * @hdr:	magic SHMK_MAGIC_SPSC; stride == elem_size; capacity a
 *		power of two; data_offset == hdr_size == sizeof(this)
 * @tail:	next slot the producer fills; written by the producer only
 * @head:	next slot the consumer empties; written by the consumer only
 * @cons_waiting: non-zero while the consumer may sleep on @tail: a token
 *		that differs on every sleep, so that the producer can clear
 *		a flag a killed consumer left behind (compare-and-swap from
 *		the token it saw, after a wake that found nobody)
 * @prod_waiting: the same for the producer sleeping on @head
 */
struct shmk_spsc_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {				/* producer-written line */
		SHMK_ATOMIC(uint32_t) tail;
		char _pad_tail[SHMK_CACHELINE_PAD];
	};
	union {				/* consumer-written line */
		SHMK_ATOMIC(uint32_t) head;
		char _pad_head[SHMK_CACHELINE_PAD];
	};
	/*
	 * Written only around sleeps.  Padded by hand, not by a union with
	 * an anonymous struct: C++ allows no std::atomic in one.
	 */
	SHMK_ATOMIC(uint32_t) cons_waiting;
	SHMK_ATOMIC(uint32_t) prod_waiting;
	char _pad_wait[SHMK_CACHELINE_PAD - 2 * sizeof(uint32_t)];
};

/* The layout of Documentation/library.rst, in C and in C++ alike. */
SHMK__STATIC_ASSERT(offsetof(struct shmk_spsc_shared, cons_waiting) ==
		    3 * SHMK_CACHELINE_PAD &&
		    sizeof(struct shmk_spsc_shared) == 4 * SHMK_CACHELINE_PAD,
		    "struct shmk_spsc_shared: four 128-byte lines");

/**
 * struct shmk_spsc - process-local handle on a ring
 *
 * Filled by shmk_spsc_init() or shmk_spsc_attach(); the fields are
 * private.  The producer part and the consumer part sit on separate cache
 * lines, so one handle may serve a producer thread and a consumer thread;
 * two processes each attach their own handle.  At most one thread pushes
 * and at most one thread pops at any time.
 *
 * For throughput, give the handle cache lines of its own (_Alignas(128),
 * aligned_alloc()): it is only 8-byte aligned by itself, and its first
 * line, read on every push and pop, should not share a line with data
 * that another CPU writes.
 */
struct shmk_spsc {
	union {				/* read-only after attach */
		struct {
			struct shmk_spsc_shared *sh;
			unsigned char *slots;
			const struct shmk_region *region;
			uint32_t mask;
			uint32_t elem_size;
			uint32_t flags;
		};
		char _pad_ro[SHMK_CACHELINE_PAD];
	};
	union {				/* producer only */
		struct {
			uint32_t tail;
			uint32_t head_cache;
			uint32_t token;	/* last prod_waiting token */
			uint32_t spin;	/* learnt spin budget (lib) */
			uint32_t rewake; /* wake the consumer next push */
		} p;
		char _pad_p[SHMK_CACHELINE_PAD];
	};
	union {				/* consumer only */
		struct {
			uint32_t head;
			uint32_t tail_cache;
			uint32_t token;	/* last cons_waiting token */
			uint32_t spin;	/* learnt spin budget (lib) */
			uint32_t rewake; /* wake the producer next pop */
		} c;
		char _pad_c[SHMK_CACHELINE_PAD];
	};
};

/**
 * shmk_spsc_size() - bytes a ring needs in a region
 * @elem_size:	bytes per element, 1 to SHMK_SPSC_ELEM_MAX
 * @capacity:	elements, a power of two, 1 to SHMK_SPSC_CAP_MAX
 *
 * Return: the size, or 0 when the parameters are invalid.
 */
SHMK_API uint64_t shmk_spsc_size(uint32_t elem_size, uint32_t capacity);

/**
 * shmk_spsc_init() - lay out an empty ring in a region and attach to it
 * @q:		handle to fill
 * @r:		writable region
 * @offset:	where the ring starts, a multiple of SHMK_OBJ_ALIGN
 * @elem_size:	bytes per element
 * @capacity:	elements, a power of two
 * @flags:	SHMK_QUEUE_NOTIFY to allow the blocking operations
 *
 * Nobody may use the ring's bytes during init.  The magic is stored last,
 * so a concurrent shmk_spsc_attach() sees either no ring or a whole one.
 *
 * Return: 0; -EINVAL (bad size, capacity, flags, misaligned offset, or
 * the ring does not fit in the region); -EACCES (region mapped
 * read-only).
 */
SHMK_API int shmk_spsc_init(struct shmk_spsc *q, const struct shmk_region *r,
			    uint64_t offset, uint32_t elem_size,
			    uint32_t capacity, uint32_t flags);

/**
 * shmk_spsc_attach() - attach to a ring another handle initialised
 * @q:		handle to fill
 * @r:		region holding the ring
 * @offset:	where the ring starts
 *
 * Validates the header and loads the current head and tail.
 *
 * The header is only as trustworthy as the peers that can write it: a
 * hostile one can rewrite all of it into another geometry that is
 * consistent and fits the region.  Attach guarantees that the handle
 * stays inside the ring it describes, not that this is the ring you
 * expect: before passing buffers sized for your elements, check
 * shmk_spsc_elem_size() (and shmk_spsc_capacity() if it matters).
 *
 * Return: 0; -EINVAL (offset misaligned or outside the region); -EBADMSG
 * (bad magic, inconsistent or overflowing sizes, unknown flags, non-zero
 * reserved fields, ring larger than the region, indices further apart
 * than the capacity); -EPROTO (layout version this library does not
 * know); -EACCES (region mapped read-only).
 */
SHMK_API int shmk_spsc_attach(struct shmk_spsc *q, const struct shmk_region *r,
			      uint64_t offset);

/**
 * shmk_spsc_pop_wait() - pop up to @n elements, sleeping while empty
 * @q:		handle (consumer side)
 * @items:	room for @n elements
 * @n:		at least 1; more than INT_MAX is taken as INT_MAX
 * @timeout_ns:	relative timeout; SHMK_FOREVER for none
 *
 * Makes no system call when elements are there.  Otherwise spins briefly,
 * then sleeps on the tail word with the waiter protocol of
 * Documentation/library.rst.
 *
 * Return: number popped (1 to @n); -ETIMEDOUT; -EINTR; -EOPNOTSUPP (ring
 * made without SHMK_QUEUE_NOTIFY); -EINVAL (@n is 0); -EBADMSG (corrupt
 * indices).
 */
SHMK_API int shmk_spsc_pop_wait(struct shmk_spsc *q, void *items, unsigned int n,
				int64_t timeout_ns);

/**
 * shmk_spsc_push_wait() - push up to @n elements, sleeping while full
 * @q:		handle (producer side)
 * @items:	@n elements
 * @n:		at least 1; more than INT_MAX is taken as INT_MAX
 * @timeout_ns:	relative timeout; SHMK_FOREVER for none
 *
 * Return: number pushed (1 to @n); errors as shmk_spsc_pop_wait().
 */
SHMK_API int shmk_spsc_push_wait(struct shmk_spsc *q, const void *items,
				 unsigned int n, int64_t timeout_ns);

/*
 * Internal: wake the other side asleep on @word, whose wait flag held
 * @token when we looked (0: none, and *@rewake asked for this wake).
 * When the wake finds nobody, the flag's owner is not in its futex wait:
 * it was killed in its sleep, or is on its way out (it clears the flag
 * itself), or is on its way in.  We clear the flag, but only if it still
 * holds the same token (a newer sleep stores a newer token, which the
 * compare-and-swap leaves alone), so a killed sleeper costs two wake
 * system calls, not one per operation.
 *
 * On its way in: we read the flag late, after the other side took what
 * we had stored and began a new sleep (stored this token, fenced, read
 * our index); its futex wait will compare that index, still current,
 * and sleep, with the flag we cleared.  So after a clear our next
 * operation wakes whatever the flag says (*@rewake): its index store
 * then either comes before the sleeper's compare (which fails: no
 * sleep) or finds it queued.  One forced wake is enough: a clear harms
 * only when made by an operation whose index store the sleeper read
 * before its sleep, and only the last of those can read the new token
 * (Documentation/library.rst, "No lost wakeup").
 */
SHMK_INLINE void shmk__spsc_wake(struct shmk_spsc *q,
				 SHMK_ATOMIC(uint32_t) *flag, uint32_t token,
				 SHMK_ATOMIC(uint32_t) *word, uint32_t *rewake)
{
	SHMK__USE_ATOMICS
	*rewake = 0;
	if (shmk_wake(q->region, word, 1) == 0 && token) {
		SHMK__CP();
		/*
		 * Relaxed: the flag orders nothing by itself; the sleeper's
		 * protocol rests on the fences around its token store and
		 * our tail/head store.  A sleeper that stored this token and
		 * is not asleep yet either finds the word moved (its wait()
		 * compares it after our wake, which follows our store) or is
		 * woken by our next operation (*rewake).
		 */
		if (atomic_compare_exchange_strong_explicit(flag, &token, 0,
							    memory_order_relaxed,
							    memory_order_relaxed))
			*rewake = 1;
	}
}

/**
 * shmk_spsc_elem_size() - bytes per element of an attached ring
 * @q:		handle filled by shmk_spsc_init() or shmk_spsc_attach()
 *
 * Every push copies this many bytes per element from the caller and every
 * pop this many into the caller's buffer.  After an attach, compare it
 * with the size of your elements (see shmk_spsc_attach()).
 *
 * Return: the element size the handle was validated with.
 */
SHMK_INLINE uint32_t shmk_spsc_elem_size(const struct shmk_spsc *q)
{
	return q->elem_size;
}

/**
 * shmk_spsc_capacity() - elements an attached ring holds
 * @q:		handle
 *
 * Return: the capacity the handle was validated with.
 */
SHMK_INLINE uint32_t shmk_spsc_capacity(const struct shmk_spsc *q)
{
	return q->mask + 1;
}

/*
 * Internal: how the producer copies into the ring.  A copy of
 * SHMK__SPSC_REP_MIN bytes or more is one `rep movsb` on x86-64: it
 * writes whole cache lines without first reading them (the "fast
 * strings" of Intel's optimization manual), and the lines a producer
 * writes are the ones its consumer read last, so each would otherwise
 * be fetched back from the consumer's cache before being overwritten.
 * glibc's memcpy() makes the same switch, but only above its
 * rep_movsb_threshold (2,112 bytes on a machine with AVX-512), and a
 * burst of 256 8-byte items is 2,048: on a 2-vCPU Xeon, memcpy() ran
 * such bursts at 0.6x to 0.7x the rate of `rep movsb`
 * (Documentation/performance.rst, "The copy into the ring").  Smaller
 * copies, the consumer's copies out (its destination is private) and
 * builds under a sanitizer (which does not see inside an asm statement)
 * keep memcpy().  The stores of a fast-string `rep movsb` may become
 * visible out of order among themselves, but all of them before any
 * later store (Intel SDM, Vol. 3A, "Fast-String Operation and
 * Out-of-Order Stores": write a separate flag after the string
 * operation); that later store is the release store of tail in
 * shmk_spsc_push_burst(), so a consumer that acquires tail sees every
 * slot below it.  The asm's "memory" clobber keeps the compiler from
 * moving that store before it.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define SHMK__SPSC_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#undef SHMK__SPSC_SANITIZED
#define SHMK__SPSC_SANITIZED 1
#endif
#define SHMK__SPSC_REP_MIN 2048

SHMK_INLINE void shmk__spsc_store(void *dst, const void *src, size_t len)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
	!defined(SHMK__SPSC_SANITIZED)
	if (len >= SHMK__SPSC_REP_MIN) {
		__asm__ volatile("rep movsb"
				 : "+D"(dst), "+S"(src), "+c"(len)
				 :
				 : "memory");
		return;
	}
	/*
	 * Hide that len < SHMK__SPSC_REP_MIN here: knowing that bound, gcc
	 * 12 expands the memcpy() inline as a `rep movsq`, which ran bursts
	 * of 16 and 64 items at 0.55x the rate of glibc's memcpy().
	 */
	__asm__("" : "+r"(len));
#endif
	memcpy(dst, src, len);
}

/* Internal: copy @n elements in or out at counter @idx, wrapping. */
SHMK_INLINE void shmk__spsc_copy_in(struct shmk_spsc *q, uint32_t idx,
				    const void *src, uint32_t n)
{
	size_t es = q->elem_size;
	uint32_t i = idx & q->mask;
	uint32_t first = q->mask + 1 - i;

	if (first > n)
		first = n;
	shmk__spsc_store(q->slots + (size_t)i * es, src, (size_t)first * es);
	if (n > first)
		shmk__spsc_store(q->slots,
				 (const unsigned char *)src + (size_t)first * es,
				 (size_t)(n - first) * es);
}

SHMK_INLINE void shmk__spsc_copy_out(struct shmk_spsc *q, uint32_t idx,
				     void *dst, uint32_t n)
{
	size_t es = q->elem_size;
	uint32_t i = idx & q->mask;
	uint32_t first = q->mask + 1 - i;

	if (first > n)
		first = n;
	memcpy(dst, q->slots + (size_t)i * es, (size_t)first * es);
	if (n > first)
		memcpy((unsigned char *)dst + (size_t)first * es, q->slots,
		       (size_t)(n - first) * es);
}

/**
 * shmk_spsc_push_burst() - push up to @n elements without blocking
 * @q:		handle (producer side)
 * @items:	@n elements, contiguous
 * @n:		how many to push; more than INT_MAX is taken as INT_MAX, so
 *		that the count always fits the return value
 *
 * Return: how many were pushed (0 when full); -EBADMSG when the shared
 * head is further from the tail than the capacity (corrupt ring).
 */
SHMK_INLINE int shmk_spsc_push_burst(struct shmk_spsc *q, const void *items,
				     unsigned int n)
{
	SHMK__USE_ATOMICS
	uint32_t tail = q->p.tail;
	uint32_t cap = q->mask + 1;
	uint32_t token;

	if (SHMK_UNLIKELY(n > INT_MAX))
		n = INT_MAX;
	/*
	 * The fast path trusts head_cache, so head_cache only ever holds a
	 * value that passed the check below: tail - head_cache <= cap.
	 */
	if (SHMK_UNLIKELY(cap - (tail - q->p.head_cache) < n)) {
		uint32_t head, used;

		/*
		 * Acquire: pairs with the consumer's release store of head in
		 * shmk_spsc_pop_burst(): its reads of the slots it freed are
		 * complete before we overwrite them.  Read once, checked, and
		 * only then cached.
		 */
		head = atomic_load_explicit(&q->sh->head, memory_order_acquire);
		used = tail - head;
		if (SHMK_UNLIKELY(used > cap))
			return -EBADMSG;
		q->p.head_cache = head;
		if (n > cap - used)
			n = cap - used;
		if (!n)
			return 0;
	}
	/* One point for the slots: nobody reads them before the tail store. */
	SHMK__CP();
	shmk__spsc_copy_in(q, tail, items, n);
	q->p.tail = tail + n;
	SHMK__CP();
	/*
	 * Release: pairs with the consumer's acquire load of tail: the slot
	 * contents written above are visible before the new tail is.
	 */
	atomic_store_explicit(&q->sh->tail, tail + n, memory_order_release);
	if (q->flags & SHMK_QUEUE_NOTIFY) {
		/*
		 * Seq_cst fence: Dekker pairing with the fence in
		 * shmk_spsc_pop_wait() between its store of cons_waiting and
		 * its reload of tail.  Either that reload sees our tail, or
		 * the load below sees its flag and we wake it.
		 */
		atomic_thread_fence(memory_order_seq_cst);
		/* Relaxed: ordered after the tail store by the fence above. */
		token = atomic_load_explicit(&q->sh->cons_waiting,
					     memory_order_relaxed);
		if (SHMK_UNLIKELY(token | q->p.rewake))
			shmk__spsc_wake(q, &q->sh->cons_waiting, token,
					&q->sh->tail, &q->p.rewake);
	}
	return (int)n;
}

/**
 * shmk_spsc_pop_burst() - pop up to @n elements without blocking
 * @q:		handle (consumer side)
 * @items:	room for @n elements, contiguous
 * @n:		how many to pop at most; more than INT_MAX is taken as
 *		INT_MAX, so that the count always fits the return value
 *
 * Return: how many were popped (0 when empty); -EBADMSG when the shared
 * tail is further from the head than the capacity (corrupt ring).
 */
SHMK_INLINE int shmk_spsc_pop_burst(struct shmk_spsc *q, void *items,
				    unsigned int n)
{
	SHMK__USE_ATOMICS
	uint32_t head = q->c.head;
	uint32_t token;

	if (SHMK_UNLIKELY(n > INT_MAX))
		n = INT_MAX;
	/*
	 * The fast path trusts tail_cache, so tail_cache only ever holds a
	 * value that passed the check below: tail_cache - head <= capacity.
	 */
	if (SHMK_UNLIKELY(q->c.tail_cache - head < n)) {
		uint32_t tail, avail;

		/*
		 * Acquire: pairs with the producer's release store of tail in
		 * shmk_spsc_push_burst(): the slots up to tail are written.
		 * Read once, checked, and only then cached.
		 */
		tail = atomic_load_explicit(&q->sh->tail, memory_order_acquire);
		avail = tail - head;
		if (SHMK_UNLIKELY(avail > q->mask + 1))
			return -EBADMSG;
		q->c.tail_cache = tail;
		if (n > avail)
			n = avail;
		if (!n)
			return 0;
	}
	shmk__spsc_copy_out(q, head, items, n);
	q->c.head = head + n;
	SHMK__CP();
	/*
	 * Release: pairs with the producer's acquire load of head: our reads
	 * of the slots are complete before it may reuse them.
	 */
	atomic_store_explicit(&q->sh->head, head + n, memory_order_release);
	if (q->flags & SHMK_QUEUE_NOTIFY) {
		/*
		 * Seq_cst fence: Dekker pairing with the fence in
		 * shmk_spsc_push_wait() between its store of prod_waiting and
		 * its reload of head.
		 */
		atomic_thread_fence(memory_order_seq_cst);
		/* Relaxed: ordered after the head store by the fence above. */
		token = atomic_load_explicit(&q->sh->prod_waiting,
					     memory_order_relaxed);
		if (SHMK_UNLIKELY(token | q->c.rewake))
			shmk__spsc_wake(q, &q->sh->prod_waiting, token,
					&q->sh->head, &q->c.rewake);
	}
	return (int)n;
}

/**
 * shmk_spsc_push() - push one element without blocking
 * @q:		handle (producer side)
 * @item:	the element (elem_size bytes)
 *
 * Return: 0; -EAGAIN when full; -EBADMSG when corrupt.
 */
SHMK_INLINE int shmk_spsc_push(struct shmk_spsc *q, const void *item)
{
	int ret = shmk_spsc_push_burst(q, item, 1);

	return ret == 1 ? 0 : ret == 0 ? -EAGAIN : ret;
}

/**
 * shmk_spsc_pop() - pop one element without blocking
 * @q:		handle (consumer side)
 * @item:	room for one element
 *
 * Return: 0; -EAGAIN when empty; -EBADMSG when corrupt.
 */
SHMK_INLINE int shmk_spsc_pop(struct shmk_spsc *q, void *item)
{
	int ret = shmk_spsc_pop_burst(q, item, 1);

	return ret == 1 ? 0 : ret == 0 ? -EAGAIN : ret;
}

#ifdef __cplusplus
}
#endif

#endif /* SHMK_SPSC_H */
