// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk MPMC queue: layout, attach and the blocking operations.  The
 * non-blocking hot path is inline in <shmk/mpmc.h>.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(struct shmk_mpmc_shared) == 4 * SHMK_CACHELINE_PAD,
	       "MPMC header layout changed: bump SHMK_LAYOUT_VERSION");

static int mpmc_params_ok(uint32_t elem_size, uint32_t capacity)
{
	return elem_size >= 1 && elem_size <= SHMK_MPMC_ELEM_MAX &&
	       capacity >= 2 && capacity <= SHMK_MPMC_CAP_MAX &&
	       !(capacity & (capacity - 1));
}

static uint32_t mpmc_stride(uint32_t elem_size)
{
	return SHMK_MPMC_CELL_HDR + ((elem_size + 7) & ~7U);
}

SHMK_API uint64_t shmk_mpmc_size(uint32_t elem_size, uint32_t capacity)
{
	if (!mpmc_params_ok(elem_size, capacity))
		return 0;
	return sizeof(struct shmk_mpmc_shared) +
	       (uint64_t)mpmc_stride(elem_size) * capacity;
}

/* Fill @q from the validated private copy @g, never from sh->hdr again. */
static void mpmc_fill(struct shmk_mpmc *q, const struct shmk_region *r,
		      struct shmk_mpmc_shared *sh,
		      const struct shmk_obj_geom *g)
{
	memset(q, 0, sizeof(*q));
	q->sh = sh;
	q->cells = (unsigned char *)sh + g->data_offset;
	q->region = r;
	q->mask = g->capacity - 1;
	q->elem_size = g->elem_size;
	q->stride = g->stride;
	q->flags = g->flags;
}

SHMK_API int shmk_mpmc_init(struct shmk_mpmc *q, const struct shmk_region *r,
			    uint64_t offset, uint32_t elem_size,
			    uint32_t capacity, uint32_t flags)
{
	uint64_t size = shmk_mpmc_size(elem_size, capacity);
	struct shmk_mpmc_shared *sh;
	unsigned char *cells;
	uint32_t i, stride = mpmc_stride(elem_size);
	void *mem;
	int ret;

	if (!q || !size || flags & ~SHMK_OBJ_FLAGS_KNOWN)
		return -EINVAL;
	ret = shmk_obj_place(r, offset, size, &mem);
	if (ret)
		return ret;
	sh = mem;
	/*
	 * One point for the header and the cells: nobody reads them before
	 * the release store of the magic (shmk_obj_publish(), its own point).
	 */
	SHMK_CP();
	memset(sh, 0, sizeof(*sh));
	sh->hdr.version = SHMK_LAYOUT_VERSION;
	sh->hdr.hdr_size = sizeof(*sh);
	sh->hdr.flags = flags;
	sh->hdr.elem_size = elem_size;
	sh->hdr.capacity = capacity;
	sh->hdr.stride = stride;
	sh->hdr.total_size = size;
	sh->hdr.data_offset = sizeof(*sh);
	cells = (unsigned char *)sh + sizeof(*sh);
	for (i = 0; i < capacity; i++)
		/* Relaxed: published by the release store of the magic. */
		atomic_store_explicit((_Atomic uint32_t *)(cells + (size_t)i * stride),
				      i, memory_order_relaxed);
	SHMK_CP();
	shmk_obj_publish(&sh->hdr, SHMK_MAGIC_MPMC);
	mpmc_fill(q, r, sh, &(struct shmk_obj_geom){
			  .flags = flags, .elem_size = elem_size,
			  .capacity = capacity, .stride = stride,
			  .total_size = size, .data_offset = sizeof(*sh) });
	return 0;
}

SHMK_API int shmk_mpmc_attach(struct shmk_mpmc *q, const struct shmk_region *r,
			      uint64_t offset)
{
	struct shmk_mpmc_shared *sh;
	struct shmk_obj_geom g;
	void *mem;
	int ret;

	if (!q)
		return -EINVAL;
	ret = shmk_obj_check(r, offset, SHMK_MAGIC_MPMC, sizeof(*sh), &mem, &g);
	if (ret)
		return ret;
	sh = mem;
	if (!mpmc_params_ok(g.elem_size, g.capacity) ||
	    g.stride != mpmc_stride(g.elem_size) ||
	    g.data_offset != sizeof(*sh) ||
	    g.total_size != shmk_mpmc_size(g.elem_size, g.capacity))
		return -EBADMSG;
	mpmc_fill(q, r, sh, &g);
	return 0;
}

/*
 * The eventcount protocol for many sleepers (Documentation/library.rst):
 *
 *   sleeper: e = load epoch; waiters++ (seq_cst); fence(seq_cst);
 *            try the operation; if it fails: wait(epoch, e); retry.
 *   other side: publish (release on the cell's seq); fence(seq_cst);
 *            w = load waiters (acquire);
 *            if w != seen: epoch++; if wake(epoch, 1) woke nobody:
 *            seen = w.
 *
 * Either the sleeper's try sees the published cell, or the other side
 * sees its increment in w (so w != seen: seen only ever holds a value
 * that some waker read and then bumped the epoch past, making every
 * sleeper counted in it return from wait() at once).  It then bumps the
 * epoch after the sleeper read it (the acquire load of waiters reads the
 * sleeper's increment or a later one in its release sequence, and the
 * increment follows the epoch read), so wait() returns at once or is
 * woken.  One wake per published element suffices: a woken sleeper that
 * finds nothing means someone else took the element.  A sleeper leaving
 * on timeout or signal retries once, so a wake spent on it cannot strand
 * an element.  Sleepers never decrement waiters: a sleeper killed in its
 * sleep would leave a count high for ever (lib-audit #6 for services);
 * instead the first wake that finds nobody records seen = w, and wakers
 * go quiet again.
 */
typedef int (*mpmc_op)(struct shmk_mpmc *q, void *item);

static int mpmc_try_pop(struct shmk_mpmc *q, void *item)
{
	return shmk_mpmc_pop(q, item);
}

static int mpmc_try_push(struct shmk_mpmc *q, void *item)
{
	return shmk_mpmc_push(q, item);
}

static int mpmc_wait(struct shmk_mpmc *q, mpmc_op op, void *item,
		     _Atomic uint32_t *waiters, _Atomic uint32_t *epoch,
		     int64_t timeout_ns)
{
	static _Thread_local uint32_t spins[2];	/* pop, push */
	uint32_t *spin = &spins[op == mpmc_try_pop ? 0 : 1];
	struct shmk_spin_run run;
	int64_t deadline, left;
	uint32_t e;
	int ret;

	ret = op(q, item);
	if (ret != -EAGAIN)
		return ret;
	if (!(q->flags & SHMK_QUEUE_NOTIFY))
		return -EOPNOTSUPP;
	deadline = shmk_deadline(timeout_ns);
	/*
	 * Spin, before the first sleep only (notify.c, "Waiting").  The
	 * handle may be shared by several threads: each learns its own
	 * budget, per side, in a thread-local word.
	 */
	shmk_spin_begin(spin, &run, deadline);
	while (shmk_spin_more(&run)) {
		ret = op(q, item);
		if (ret != -EAGAIN) {
			shmk_spin_end(spin, &run, 1);
			return ret;
		}
	}
	shmk_spin_end(spin, &run, 0);
	for (;;) {
		ret = op(q, item);
		if (ret != -EAGAIN)
			return ret;
		/* Acquire: pairs with the release bump in shmk__mpmc_notify(). */
		e = atomic_load_explicit(epoch, memory_order_acquire);
		SHMK_CP();
		/* Seq_cst: read by the other side's acquire load of waiters. */
		atomic_fetch_add_explicit(waiters, 1, memory_order_seq_cst);
		/* Seq_cst fence: pairs with the fence in shmk__mpmc_notify(). */
		atomic_thread_fence(memory_order_seq_cst);
		ret = op(q, item);
		if (ret == -EAGAIN) {
			left = shmk_remaining(deadline);
			ret = left == 0 ? -ETIMEDOUT :
			      shmk_wait(q->region, epoch, e, left);
			if (ret == 0 || ret == -EAGAIN)
				ret = -EAGAIN;	/* retry */
		}
		if (ret == -ETIMEDOUT || ret == -EINTR) {
			int last = op(q, item);

			return last == -EAGAIN ? ret : last;
		}
		if (ret != -EAGAIN)
			return ret;
	}
}

SHMK_API int shmk_mpmc_pop_wait(struct shmk_mpmc *q, void *item,
				int64_t timeout_ns)
{
	if (!q || !item)
		return -EINVAL;
	return mpmc_wait(q, mpmc_try_pop, item, &q->sh->cons_waiters,
			 &q->sh->cons_epoch, timeout_ns);
}

SHMK_API int shmk_mpmc_push_wait(struct shmk_mpmc *q, const void *item,
				 int64_t timeout_ns)
{
	if (!q || !item)
		return -EINVAL;
	/* The push path only reads *item; the cast serves the shared loop. */
	return mpmc_wait(q, mpmc_try_push, (void *)(uintptr_t)item,
			 &q->sh->prod_waiters, &q->sh->prod_epoch, timeout_ns);
}
