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
 */
#ifndef SHMK_MPMC_H
#define SHMK_MPMC_H

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
 * @cons_waiters: consumers that may be asleep on @cons_epoch
 * @cons_epoch:	bumped by a producer before it wakes a consumer
 * @prod_waiters: producers that may be asleep on @prod_epoch
 * @prod_epoch:	bumped by a consumer before it wakes a producer
 */
struct shmk_mpmc_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {
		_Atomic uint32_t enq_pos;
		char _pad_enq[SHMK_CACHELINE_PAD];
	};
	union {
		_Atomic uint32_t deq_pos;
		char _pad_deq[SHMK_CACHELINE_PAD];
	};
	union {
		struct {
			_Atomic uint32_t cons_waiters;
			_Atomic uint32_t cons_epoch;
			_Atomic uint32_t prod_waiters;
			_Atomic uint32_t prod_epoch;
		};
		char _pad_wait[SHMK_CACHELINE_PAD];
	};
};

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

/* Internal, out of line: bump an epoch and wake one sleeper on it. */
SHMK_API void shmk__mpmc_wake(struct shmk_mpmc *q, _Atomic uint32_t *epoch);

SHMK_INLINE void shmk__mpmc_notify(struct shmk_mpmc *q,
				   _Atomic uint32_t *waiters,
				   _Atomic uint32_t *epoch)
{
	/*
	 * Seq_cst fence: Dekker pairing with the fence in the *_wait()
	 * functions between their waiters increment and their retry: either
	 * the retry sees what we just published, or we see the waiter here.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/*
	 * Acquire: pairs with the waiter's seq_cst increment, so the epoch
	 * it read before incrementing happens before our bump of it.
	 */
	if (SHMK_UNLIKELY(atomic_load_explicit(waiters, memory_order_acquire)))
		shmk__mpmc_wake(q, epoch);
}

/**
 * shmk_mpmc_push() - push one element without blocking
 * @q:		handle
 * @item:	the element (elem_size bytes)
 *
 * Return: 0; -EAGAIN when full; -EBADMSG when a cell's sequence is ahead
 * of any position a producer could have claimed (corrupt queue).
 */
SHMK_INLINE int shmk_mpmc_push(struct shmk_mpmc *q, const void *item)
{
	struct shmk_mpmc_shared *sh = q->sh;
	/* Relaxed: only a starting guess; the cell's seq below decides. */
	uint32_t pos = atomic_load_explicit(&sh->enq_pos, memory_order_relaxed);

	for (;;) {
		unsigned char *cell = q->cells + (size_t)(pos & q->mask) * q->stride;
		_Atomic uint32_t *seqp = (_Atomic uint32_t *)cell;
		/*
		 * Acquire: pairs with the release store of seq by the consumer
		 * that emptied this cell: its read of the data is complete
		 * before we overwrite it.
		 */
		uint32_t seq = atomic_load_explicit(seqp, memory_order_acquire);
		int32_t dif = (int32_t)(seq - pos);

		if (dif == 0) {
			/*
			 * Relaxed: the CAS only decides which producer owns
			 * pos; the data is published by the seq store.
			 */
			if (atomic_compare_exchange_weak_explicit(&sh->enq_pos, &pos,
					pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				memcpy(cell + SHMK_MPMC_CELL_HDR, item, q->elem_size);
				/*
				 * Release: pairs with the consumer's acquire
				 * load of seq: the data is visible first.
				 */
				atomic_store_explicit(seqp, pos + 1,
						      memory_order_release);
				if (q->flags & SHMK_QUEUE_NOTIFY)
					shmk__mpmc_notify(q, &sh->cons_waiters,
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
}

/**
 * shmk_mpmc_pop() - pop one element without blocking
 * @q:		handle
 * @item:	room for one element
 *
 * Return: 0; -EAGAIN when empty (or the next element's producer has not
 * finished writing it); -EBADMSG when corrupt.
 */
SHMK_INLINE int shmk_mpmc_pop(struct shmk_mpmc *q, void *item)
{
	struct shmk_mpmc_shared *sh = q->sh;
	/* Relaxed: only a starting guess; the cell's seq below decides. */
	uint32_t pos = atomic_load_explicit(&sh->deq_pos, memory_order_relaxed);

	for (;;) {
		unsigned char *cell = q->cells + (size_t)(pos & q->mask) * q->stride;
		_Atomic uint32_t *seqp = (_Atomic uint32_t *)cell;
		/*
		 * Acquire: pairs with the producer's release store of
		 * seq = pos + 1: the data is visible.
		 */
		uint32_t seq = atomic_load_explicit(seqp, memory_order_acquire);
		int32_t dif = (int32_t)(seq - (pos + 1));

		if (dif == 0) {
			/* Relaxed: decides ownership only, as in push. */
			if (atomic_compare_exchange_weak_explicit(&sh->deq_pos, &pos,
					pos + 1, memory_order_relaxed,
					memory_order_relaxed)) {
				memcpy(item, cell + SHMK_MPMC_CELL_HDR, q->elem_size);
				/*
				 * Release: pairs with the next lap's producer
				 * acquire load of seq: our read is done first.
				 */
				atomic_store_explicit(seqp, pos + q->mask + 1,
						      memory_order_release);
				if (q->flags & SHMK_QUEUE_NOTIFY)
					shmk__mpmc_notify(q, &sh->prod_waiters,
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
}

#ifdef __cplusplus
}
#endif

#endif /* SHMK_MPMC_H */
