/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: bounded multi-producer multi-consumer queue in region memory.
 *
 * Dmitry Vyukov's bounded MPMC queue: an array of cells, each with a
 * 32-bit sequence number that says whose turn the cell is.  A producer
 * claims position pos with a CAS on enq_pos when cell[pos & mask].seq ==
 * pos, writes the data and publishes seq = pos + 1; a consumer claims pos
 * with a CAS on deq_pos when seq == pos + 1, reads the data and frees the
 * cell for the next lap with seq = pos + capacity.  Positions are
 * free-running 32-bit counters compared by signed difference.
 *
 * Lock-free for the queue as a whole, not wait-free: a producer that stops
 * between its claim and its publish holds up consumers of that cell.
 *
 * NOT SAFE AGAINST A CRASHED PARTICIPANT.  There is no recovery:
 *  - a producer killed between its claim (the enq_pos compare-and-swap)
 *    and its publish (the seq store) leaves the cell claimed but never
 *    filled: consumers stop at that cell forever (pop returns -EAGAIN as
 *    if empty, pop_wait sleeps until its timeout), and once producers
 *    have gone one lap round, the queue is full for them too;
 *  - a consumer killed between its claim (deq_pos) and its release of
 *    the cell (the seq store) blocks producers when they come round to
 *    that cell one lap later: push returns -EAGAIN as if full, forever;
 *  - a participant killed while asleep costs the next operation on the
 *    other side one spare wake system call (the waiter words heal).
 * Use it between threads, or between processes that live and die
 * together.  For messaging between processes that must survive a crashed
 * participant, use the services of <shmk/service.h> (publish-subscribe,
 * request-response), which recover a dead participant's state.
 *
 * A peer that writes garbage into the queue can make this side see wrong
 * items, -EAGAIN or -EBADMSG, never access memory outside the queue or
 * loop without bound.
 */
#ifndef SHMK_MPMC_H
#define SHMK_MPMC_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <shmk/common.h>
#include <shmk/notify.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmk_region;

#define SHMK_MPMC_ELEM_MAX	(1U << 20)
#define SHMK_MPMC_CAP_MAX	(1U << 30)

/* Bytes before the data in each cell (the sequence word and padding). */
#define SHMK_MPMC_CELL_HDR	8

/**
 * struct shmk_mpmc_shared - the queue's shared header (in region memory)
 * @hdr:	magic SHMK_MAGIC_MPMC; stride == 8 + elem_size rounded up to
 *		8; capacity a power of two; data_offset == hdr_size ==
 *		sizeof(this)
 * @enq_pos:	next position producers claim
 * @deq_pos:	next position consumers claim
 * @cons_waiters: announcements of consumers going to sleep on @cons_epoch
 *		(incremented before each sleep, never decremented)
 * @cons_epoch:	bumped by a producer before it wakes a consumer
 * @prod_waiters: the same for producers sleeping on @prod_epoch
 * @prod_epoch:	bumped by a consumer before it wakes a producer
 * @cons_seen:	the value of @cons_waiters at the last wake that found no
 *		consumer asleep: nobody announced since then sleeps, so a
 *		producer wakes only when @cons_waiters differs
 * @prod_seen:	the same for @prod_waiters
 */
struct shmk_mpmc_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {
		SHMK_ATOMIC(uint32_t) enq_pos;
		char _pad_enq[SHMK_CACHELINE_PAD];
	};
	union {
		SHMK_ATOMIC(uint32_t) deq_pos;
		char _pad_deq[SHMK_CACHELINE_PAD];
	};
	/*
	 * Written only around sleeps.  Padded by hand, not by a union with
	 * an anonymous struct: C++ allows no std::atomic in one.
	 */
	SHMK_ATOMIC(uint32_t) cons_waiters;
	SHMK_ATOMIC(uint32_t) cons_epoch;
	SHMK_ATOMIC(uint32_t) prod_waiters;
	SHMK_ATOMIC(uint32_t) prod_epoch;
	SHMK_ATOMIC(uint32_t) cons_seen;
	SHMK_ATOMIC(uint32_t) prod_seen;
	char _pad_wait[SHMK_CACHELINE_PAD - 6 * sizeof(uint32_t)];
};

/* The layout of Documentation/library.rst, in C and in C++ alike. */
SHMK__STATIC_ASSERT(offsetof(struct shmk_mpmc_shared, cons_waiters) ==
		    3 * SHMK_CACHELINE_PAD &&
		    sizeof(struct shmk_mpmc_shared) == 4 * SHMK_CACHELINE_PAD,
		    "struct shmk_mpmc_shared: four 128-byte lines");

/**
 * struct shmk_mpmc - process-local handle on an MPMC queue
 *
 * Filled by shmk_mpmc_init() or shmk_mpmc_attach(); private fields, never
 * written after attach, so any number of threads share one handle.
 */
struct shmk_mpmc {
	struct shmk_mpmc_shared *sh;
	unsigned char *cells;
	const struct shmk_region *region;
	uint32_t mask;
	uint32_t elem_size;
	uint32_t stride;
	uint32_t flags;
};

/**
 * shmk_mpmc_size() - bytes a queue needs in a region
 * @elem_size:	bytes per element, 1 to SHMK_MPMC_ELEM_MAX
 * @capacity:	elements, a power of two, 2 to SHMK_MPMC_CAP_MAX
 *
 * Return: the size, or 0 when the parameters are invalid.
 */
SHMK_API uint64_t shmk_mpmc_size(uint32_t elem_size, uint32_t capacity);

/**
 * shmk_mpmc_init() - lay out an empty queue in a region and attach to it
 * @q:		handle to fill
 * @r:		writable region
 * @offset:	a multiple of SHMK_OBJ_ALIGN
 * @elem_size:	bytes per element
 * @capacity:	elements, a power of two, at least 2
 * @flags:	SHMK_QUEUE_NOTIFY to allow the blocking operations
 *
 * Return: 0; -EINVAL; -EACCES (read-only region).  As shmk_spsc_init().
 */
SHMK_API int shmk_mpmc_init(struct shmk_mpmc *q, const struct shmk_region *r,
			    uint64_t offset, uint32_t elem_size,
			    uint32_t capacity, uint32_t flags);

/**
 * shmk_mpmc_attach() - attach to an initialised queue
 * @q:		handle to fill
 * @r:		region holding the queue
 * @offset:	where the queue starts
 *
 * As with shmk_spsc_attach(), a hostile peer can rewrite the header into
 * another consistent geometry: check shmk_mpmc_elem_size() before
 * passing buffers sized for your elements.
 *
 * Return: 0; -EINVAL; -EBADMSG; -EPROTO; -EACCES.  As shmk_spsc_attach().
 */
SHMK_API int shmk_mpmc_attach(struct shmk_mpmc *q, const struct shmk_region *r,
			      uint64_t offset);

/**
 * shmk_mpmc_pop_wait() - pop one element, sleeping while empty
 * @q:		handle
 * @item:	room for one element
 * @timeout_ns:	relative timeout; SHMK_FOREVER for none
 *
 * Return: 0; -ETIMEDOUT; -EINTR; -EOPNOTSUPP (no SHMK_QUEUE_NOTIFY);
 * -EBADMSG (corrupt).
 */
SHMK_API int shmk_mpmc_pop_wait(struct shmk_mpmc *q, void *item,
				int64_t timeout_ns);

/**
 * shmk_mpmc_push_wait() - push one element, sleeping while full
 * @q:		handle
 * @item:	the element
 * @timeout_ns:	relative timeout; SHMK_FOREVER for none
 *
 * Return: 0; errors as shmk_mpmc_pop_wait().
 */
SHMK_API int shmk_mpmc_push_wait(struct shmk_mpmc *q, const void *item,
				 int64_t timeout_ns);

/**
 * shmk_mpmc_elem_size() - bytes per element of an attached queue
 * @q:		handle filled by shmk_mpmc_init() or shmk_mpmc_attach()
 *
 * Return: the element size the handle was validated with: push copies
 * this many bytes from the caller, pop this many into the caller's
 * buffer.
 */
SHMK_INLINE uint32_t shmk_mpmc_elem_size(const struct shmk_mpmc *q)
{
	return q->elem_size;
}

/**
 * shmk_mpmc_capacity() - elements an attached queue holds
 * @q:		handle
 *
 * Return: the capacity the handle was validated with.
 */
SHMK_INLINE uint32_t shmk_mpmc_capacity(const struct shmk_mpmc *q)
{
	return q->mask + 1;
}

/*
 * Internal: after publishing (or freeing) a cell, wake one sleeper of the
 * other side if one may be asleep.  @waiters counts announcements and
 * @seen is its value at the last wake that found nobody: when they are
 * equal, every announced sleeper has been dealt with (see mpmc_wait() in
 * lib/mpmc.c and Documentation/library.rst).  A wake that finds nobody
 * records @waiters in @seen, so a sleeper killed in its sleep costs one
 * spare wake, not one per operation for ever.
 */
SHMK_INLINE void shmk__mpmc_notify(struct shmk_mpmc *q,
				   SHMK_ATOMIC(uint32_t) *waiters,
				   SHMK_ATOMIC(uint32_t) *seen,
				   SHMK_ATOMIC(uint32_t) *epoch)
{
	SHMK__USE_ATOMICS
	uint32_t w;

	/*
	 * Seq_cst fence: Dekker pairing with the fence in the *_wait()
	 * functions between their waiters increment and their retry: either
	 * the retry sees what we just published, or we see the waiter here.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/*
	 * Acquire: pairs with the waiter's seq_cst increment (and, every
	 * write of @waiters being an increment, with the whole release
	 * sequence after it), so the epoch each counted sleeper read before
	 * incrementing happens before our bump of it.
	 */
	w = atomic_load_explicit(waiters, memory_order_acquire);
	/*
	 * Relaxed: @seen only says "equal, nobody new": a stale value costs
	 * a spare wake, and an equal one was stored by a waker that read @w
	 * itself and bumped the epoch after every sleeper counted in it.
	 */
	if (SHMK_LIKELY(w == atomic_load_explicit(seen, memory_order_relaxed)))
		return;
	SHMK__CP();
	/*
	 * Release: the bump is what a sleeper's futex compares; what we
	 * published before is visible to the sleeper that sees it (it also
	 * retries the queue with acquire loads of the cells).
	 */
	atomic_fetch_add_explicit(epoch, 1, memory_order_release);
	if (shmk_wake(q->region, epoch, 1) == 0) {
		SHMK__CP();
		/*
		 * Relaxed: every sleeper counted in @w read the epoch before
		 * our bump (above), so its wait() returns at once: none of
		 * them can be asleep on the old value.  Two wakers storing
		 * in the other order leave an older value: one spare wake.
		 */
		atomic_store_explicit(seen, w, memory_order_relaxed);
	}
}

/**
 * shmk_mpmc_push() - push one element without blocking
 * @q:		handle
 * @item:	the element (elem_size bytes)
 *
 * Return: 0; -EAGAIN when full (or, after SHMK__RETRY_MAX retries in
 * one call, when a peer keeps rewriting the queue's positions); -EBADMSG
 * when a cell's sequence is ahead of any position a producer could have
 * claimed (corrupt queue).
 */
SHMK_INLINE int shmk_mpmc_push(struct shmk_mpmc *q, const void *item)
{
	SHMK__USE_ATOMICS
	struct shmk_mpmc_shared *sh = q->sh;
	/* Relaxed: only a starting guess; the cell's seq below decides. */
	uint32_t pos = atomic_load_explicit(&sh->enq_pos, memory_order_relaxed);
	uint32_t tries;

	/*
	 * Every shared value is read once into a local: pos is reduced by
	 * the private mask before it is used as an index, and seq is only
	 * compared, so garbage in either stays inside the cell array.
	 */
	for (tries = 0; tries < SHMK__RETRY_MAX; tries++) {
		unsigned char *cell = q->cells + (size_t)(pos & q->mask) * q->stride;
		SHMK_ATOMIC(uint32_t) *seqp = (SHMK_ATOMIC(uint32_t) *)cell;
		/*
		 * Acquire: pairs with the release store of seq by the consumer
		 * that emptied this cell: its read of the data is complete
		 * before we overwrite it.
		 */
		uint32_t seq = atomic_load_explicit(seqp, memory_order_acquire);
		int32_t dif = (int32_t)(seq - pos);

		if (dif == 0) {
			SHMK__CP();
			/*
			 * Relaxed: the CAS only decides which producer owns
			 * pos; the data is published by the seq store.
			 */
			if (atomic_compare_exchange_weak_explicit(&sh->enq_pos, &pos,
					pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				SHMK__CP();
				memcpy(cell + SHMK_MPMC_CELL_HDR, item, q->elem_size);
				SHMK__CP();
				/*
				 * Release: pairs with the consumer's acquire
				 * load of seq: the data is visible first.
				 */
				atomic_store_explicit(seqp, pos + 1,
						      memory_order_release);
				if (q->flags & SHMK_QUEUE_NOTIFY)
					shmk__mpmc_notify(q, &sh->cons_waiters,
							  &sh->cons_seen,
							  &sh->cons_epoch);
				return 0;
			}
			/* The failed CAS loaded the current enq_pos. */
		} else if (dif < 0) {
			return -EAGAIN;	/* the previous lap is not consumed */
		} else {
			/*
			 * Relaxed: the acquire load of seq above happens after
			 * the claim of pos by whoever advanced the cell, so
			 * this load sees enq_pos past pos unless the cell is
			 * corrupt.
			 */
			uint32_t now = atomic_load_explicit(&sh->enq_pos,
							    memory_order_relaxed);
			if (now == pos)
				return -EBADMSG;
			pos = now;
		}
	}
	return -EAGAIN;
}

/**
 * shmk_mpmc_pop() - pop one element without blocking
 * @q:		handle
 * @item:	room for one element
 *
 * Return: 0; -EAGAIN when empty (or the next element's producer has not
 * finished writing it, or after SHMK__RETRY_MAX retries as in push);
 * -EBADMSG when corrupt.
 */
SHMK_INLINE int shmk_mpmc_pop(struct shmk_mpmc *q, void *item)
{
	SHMK__USE_ATOMICS
	struct shmk_mpmc_shared *sh = q->sh;
	/* Relaxed: only a starting guess; the cell's seq below decides. */
	uint32_t pos = atomic_load_explicit(&sh->deq_pos, memory_order_relaxed);
	uint32_t tries;

	/* Shared values read once and only masked or compared, as in push. */
	for (tries = 0; tries < SHMK__RETRY_MAX; tries++) {
		unsigned char *cell = q->cells + (size_t)(pos & q->mask) * q->stride;
		SHMK_ATOMIC(uint32_t) *seqp = (SHMK_ATOMIC(uint32_t) *)cell;
		/*
		 * Acquire: pairs with the producer's release store of
		 * seq = pos + 1: the data is visible.
		 */
		uint32_t seq = atomic_load_explicit(seqp, memory_order_acquire);
		int32_t dif = (int32_t)(seq - (pos + 1));

		if (dif == 0) {
			SHMK__CP();
			/* Relaxed: decides ownership only, as in push. */
			if (atomic_compare_exchange_weak_explicit(&sh->deq_pos, &pos,
					pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				memcpy(item, cell + SHMK_MPMC_CELL_HDR, q->elem_size);
				SHMK__CP();
				/*
				 * Release: pairs with the next lap's producer
				 * acquire load of seq: our read is done first.
				 */
				atomic_store_explicit(seqp, pos + q->mask + 1,
						      memory_order_release);
				if (q->flags & SHMK_QUEUE_NOTIFY)
					shmk__mpmc_notify(q, &sh->prod_waiters,
							  &sh->prod_seen,
							  &sh->prod_epoch);
				return 0;
			}
		} else if (dif < 0) {
			return -EAGAIN;
		} else {
			/* Relaxed: as in push. */
			uint32_t now = atomic_load_explicit(&sh->deq_pos,
							    memory_order_relaxed);
			if (now == pos)
				return -EBADMSG;
			pos = now;
		}
	}
	return -EAGAIN;
}

#ifdef __cplusplus
}
#endif

#endif /* SHMK_MPMC_H */
