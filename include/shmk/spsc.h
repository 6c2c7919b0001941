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
 */
#ifndef SHMK_SPSC_H
#define SHMK_SPSC_H

#include <errno.h>
#include <stdatomic.h>
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
 * @cons_waiting: non-zero while the consumer may sleep on @tail
 * @prod_waiting: non-zero while the producer may sleep on @head
 */
struct shmk_spsc_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {				/* producer-written line */
		_Atomic uint32_t tail;
		char _pad_tail[SHMK_CACHELINE_PAD];
	};
	union {				/* consumer-written line */
		_Atomic uint32_t head;
		char _pad_head[SHMK_CACHELINE_PAD];
	};
	union {				/* written only around sleeps */
		struct {
			_Atomic uint32_t cons_waiting;
			_Atomic uint32_t prod_waiting;
		};
		char _pad_wait[SHMK_CACHELINE_PAD];
	};
};

/**
 * struct shmk_spsc - process-local handle on a ring
 *
 * Filled by shmk_spsc_init() or shmk_spsc_attach(); the fields are
 * private.  The producer part and the consumer part sit on separate cache
 * lines, so one handle may serve a producer thread and a consumer thread;
 * two processes each attach their own handle.  At most one thread pushes
 * and at most one thread pops at any time.
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
		} p;
		char _pad_p[SHMK_CACHELINE_PAD];
	};
	union {				/* consumer only */
		struct {
			uint32_t head;
			uint32_t tail_cache;
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
 * @n:		at least 1
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
 * @n:		at least 1
 * @timeout_ns:	relative timeout; SHMK_FOREVER for none
 *
 * Return: number pushed (1 to @n); errors as shmk_spsc_pop_wait().
 */
SHMK_API int shmk_spsc_push_wait(struct shmk_spsc *q, const void *items,
				 unsigned int n, int64_t timeout_ns);

/* Internal: copy @n elements in or out at counter @idx, wrapping. */
SHMK_INLINE void shmk__spsc_copy_in(struct shmk_spsc *q, uint32_t idx,
				    const void *src, uint32_t n)
{
	size_t es = q->elem_size;
	uint32_t i = idx & q->mask;
	uint32_t first = q->mask + 1 - i;

	if (first > n)
		first = n;
	memcpy(q->slots + (size_t)i * es, src, (size_t)first * es);
	if (n > first)
		memcpy(q->slots, (const unsigned char *)src + (size_t)first * es,
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
 * @n:		how many to push
 *
 * Return: how many were pushed (0 when full); -EBADMSG when the shared
 * head is further from the tail than the capacity (corrupt ring).
 */
SHMK_INLINE int shmk_spsc_push_burst(struct shmk_spsc *q, const void *items,
				     unsigned int n)
{
	uint32_t tail = q->p.tail;
	uint32_t cap = q->mask + 1;

	if (SHMK_UNLIKELY(cap - (tail - q->p.head_cache) < n)) {
		uint32_t used;

		/*
		 * Acquire: pairs with the consumer's release store of head in
		 * shmk_spsc_pop_burst(): its reads of the slots it freed are
		 * complete before we overwrite them.
		 */
		q->p.head_cache = atomic_load_explicit(&q->sh->head,
						       memory_order_acquire);
		used = tail - q->p.head_cache;
		if (SHMK_UNLIKELY(used > cap))
			return -EBADMSG;
		if (n > cap - used)
			n = cap - used;
		if (!n)
			return 0;
	}
	shmk__spsc_copy_in(q, tail, items, n);
	q->p.tail = tail + n;
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
		if (SHMK_UNLIKELY(atomic_load_explicit(&q->sh->cons_waiting,
						       memory_order_relaxed)))
			shmk_wake(q->region, &q->sh->tail, 1);
	}
	return (int)n;
}

/**
 * shmk_spsc_pop_burst() - pop up to @n elements without blocking
 * @q:		handle (consumer side)
 * @items:	room for @n elements, contiguous
 * @n:		how many to pop at most
 *
 * Return: how many were popped (0 when empty); -EBADMSG when the shared
 * tail is further from the head than the capacity (corrupt ring).
 */
SHMK_INLINE int shmk_spsc_pop_burst(struct shmk_spsc *q, void *items,
				    unsigned int n)
{
	uint32_t head = q->c.head;

	if (SHMK_UNLIKELY(q->c.tail_cache - head < n)) {
		uint32_t avail;

		/*
		 * Acquire: pairs with the producer's release store of tail in
		 * shmk_spsc_push_burst(): the slots up to tail are written.
		 */
		q->c.tail_cache = atomic_load_explicit(&q->sh->tail,
						       memory_order_acquire);
		avail = q->c.tail_cache - head;
		if (SHMK_UNLIKELY(avail > q->mask + 1))
			return -EBADMSG;
		if (n > avail)
			n = avail;
		if (!n)
			return 0;
	}
	shmk__spsc_copy_out(q, head, items, n);
	q->c.head = head + n;
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
		if (SHMK_UNLIKELY(atomic_load_explicit(&q->sh->prod_waiting,
						       memory_order_relaxed)))
			shmk_wake(q->region, &q->sh->head, 1);
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
