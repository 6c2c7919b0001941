// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk SPSC ring: layout, attach and the blocking operations.  The
 * non-blocking hot path is inline in <shmk/spsc.h>.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(struct shmk_spsc_shared) == 4 * SHMK_CACHELINE_PAD,
	       "SPSC header layout changed: bump SHMK_LAYOUT_VERSION");
_Static_assert(sizeof(struct shmk_obj_hdr) <= SHMK_CACHELINE,
	       "object header must fit one cache line");

static int spsc_params_ok(uint32_t elem_size, uint32_t capacity)
{
	return elem_size >= 1 && elem_size <= SHMK_SPSC_ELEM_MAX &&
	       capacity >= 1 && capacity <= SHMK_SPSC_CAP_MAX &&
	       !(capacity & (capacity - 1));
}

SHMK_API uint64_t shmk_spsc_size(uint32_t elem_size, uint32_t capacity)
{
	if (!spsc_params_ok(elem_size, capacity))
		return 0;
	return sizeof(struct shmk_spsc_shared) + (uint64_t)elem_size * capacity;
}

/*
 * Fill @q from the validated private copy @g (never from sh->hdr again)
 * and the indices @tail and @head, each already read once.  The sleep
 * tokens start after whatever a previous user left in the wait flags, so
 * that our first token differs from a stale one (see shmk__spsc_wake()).
 */
static void spsc_fill(struct shmk_spsc *q, const struct shmk_region *r,
		      struct shmk_spsc_shared *sh,
		      const struct shmk_obj_geom *g, uint32_t tail,
		      uint32_t head)
{
	/*
	 * Relaxed: only a starting point for our tokens, read once; any
	 * value is fine, it need only differ from the next one we store.
	 */
	uint32_t ct = atomic_load_explicit(&sh->cons_waiting, memory_order_relaxed);
	uint32_t pt = atomic_load_explicit(&sh->prod_waiting, memory_order_relaxed);

	memset(q, 0, sizeof(*q));
	q->sh = sh;
	q->slots = (unsigned char *)sh + g->data_offset;
	q->region = r;
	q->mask = g->capacity - 1;
	q->elem_size = g->elem_size;
	q->flags = g->flags;
	q->p.tail = tail;
	q->c.head = head;
	q->p.head_cache = q->c.head;
	q->c.tail_cache = q->p.tail;
	q->c.token = ct;
	q->p.token = pt;
}

SHMK_API int shmk_spsc_init(struct shmk_spsc *q, const struct shmk_region *r,
			    uint64_t offset, uint32_t elem_size,
			    uint32_t capacity, uint32_t flags)
{
	uint64_t size = shmk_spsc_size(elem_size, capacity);
	struct shmk_spsc_shared *sh;
	void *mem;
	int ret;

	if (!q || !size || flags & ~SHMK_OBJ_FLAGS_KNOWN)
		return -EINVAL;
	ret = shmk_obj_place(r, offset, size, &mem);
	if (ret)
		return ret;
	sh = mem;
	/*
	 * One point for the whole header: nobody reads it before the
	 * release store of the magic (shmk_obj_publish(), its own point).
	 */
	SHMK_CP();
	memset(sh, 0, sizeof(*sh));
	sh->hdr.version = SHMK_LAYOUT_VERSION;
	sh->hdr.hdr_size = sizeof(*sh);
	sh->hdr.flags = flags;
	sh->hdr.elem_size = elem_size;
	sh->hdr.capacity = capacity;
	sh->hdr.stride = elem_size;
	sh->hdr.total_size = size;
	sh->hdr.data_offset = sizeof(*sh);
	SHMK_CP();
	shmk_obj_publish(&sh->hdr, SHMK_MAGIC_SPSC);
	spsc_fill(q, r, sh, &(struct shmk_obj_geom){
			  .flags = flags, .elem_size = elem_size,
			  .capacity = capacity, .stride = elem_size,
			  .total_size = size, .data_offset = sizeof(*sh) },
		  0, 0);
	return 0;
}

SHMK_API int shmk_spsc_attach(struct shmk_spsc *q, const struct shmk_region *r,
			      uint64_t offset)
{
	struct shmk_spsc_shared *sh;
	struct shmk_obj_geom g;
	uint32_t tail, head;
	void *mem;
	int ret;

	if (!q)
		return -EINVAL;
	ret = shmk_obj_check(r, offset, SHMK_MAGIC_SPSC, sizeof(*sh), &mem, &g);
	if (ret)
		return ret;
	sh = mem;
	if (!spsc_params_ok(g.elem_size, g.capacity) ||
	    g.stride != g.elem_size || g.data_offset != sizeof(*sh) ||
	    g.total_size != shmk_spsc_size(g.elem_size, g.capacity))
		return -EBADMSG;
	/*
	 * Acquire: pairs with the release stores of tail and head by the
	 * previous users, so slots they filled or freed are seen as such.
	 * Read once, checked, and the same values go into the handle.
	 */
	tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
	head = atomic_load_explicit(&sh->head, memory_order_acquire);
	if (tail - head > g.capacity)
		return -EBADMSG;
	spsc_fill(q, r, sh, &g, tail, head);
	return 0;
}

/*
 * The waiter protocol (Documentation/library.rst, "No lost wakeup"), for
 * a sleeper S waiting on word W of the other side, with flag F:
 *
 *   S: try; spin; store F = 1; fence(seq_cst); v = load W;
 *      if v moved on: F = 0, retry; else wait(W, v); F = 0; retry.
 *   other side: store W (release); fence(seq_cst); if load F: wake(W).
 *
 * The two seq_cst fences are totally ordered: if S's fence comes first,
 * the other side's load of F sees 1 and wakes; otherwise S's load of W
 * sees the new value and S does not sleep.  wait() itself re-checks
 * W == v atomically with respect to wake(), closing the window between
 * S's load and its sleep.
 *
 * F holds a token, not 1: a new one for every sleep (@token, in our
 * handle, counts them, skipping 0).  The other side clears F with a
 * compare-and-swap from the token it read when its wake found nobody, so
 * a flag left by a sleeper that was killed costs two spare wakes, while a
 * newer sleep (a new token) is never cleared by mistake; and it wakes
 * once more on its next operation, for a sleeper on its way in whose
 * token it read late (shmk__spsc_wake()).
 */
static int spsc_sleep(struct shmk_spsc *q, _Atomic uint32_t *flag,
		      uint32_t *token, _Atomic uint32_t *word, uint32_t mine,
		      int64_t deadline)
{
	uint32_t v;
	int64_t left;
	int ret;

	if (++*token == 0)
		*token = 1;
	SHMK_CP();
	/* Relaxed: ordered before the reload of *word by the fence below. */
	atomic_store_explicit(flag, *token, memory_order_relaxed);
	/* Seq_cst fence: pairs with the fence after the other side's store. */
	atomic_thread_fence(memory_order_seq_cst);
	/* Relaxed: the retry that follows reloads with acquire. */
	v = atomic_load_explicit(word, memory_order_relaxed);
	ret = 0;
	if (v == mine) {
		left = shmk_remaining(deadline);
		ret = left == 0 ? -ETIMEDOUT : shmk_wait(q->region, word, v, left);
		if (ret == -EAGAIN)
			ret = 0;
	}
	SHMK_CP();
	/* Relaxed: a stale token costs the other side one spare wake only. */
	atomic_store_explicit(flag, 0, memory_order_relaxed);
	return ret;
}

SHMK_API int shmk_spsc_pop_wait(struct shmk_spsc *q, void *items, unsigned int n,
				int64_t timeout_ns)
{
	struct shmk_spin_run run;
	int64_t deadline;
	int ret;

	if (!q || !n)
		return -EINVAL;
	ret = shmk_spsc_pop_burst(q, items, n);
	if (ret)
		return ret;
	if (!(q->flags & SHMK_QUEUE_NOTIFY))
		return -EOPNOTSUPP;
	deadline = shmk_deadline(timeout_ns);
	/* Spin, before the first sleep only (notify.c, "Waiting"). */
	shmk_spin_begin(&q->c.spin, &run, deadline);
	while (shmk_spin_more(&run)) {
		ret = shmk_spsc_pop_burst(q, items, n);
		if (ret) {
			shmk_spin_end(&q->c.spin, &run, 1);
			return ret;
		}
	}
	shmk_spin_end(&q->c.spin, &run, 0);
	for (;;) {
		ret = shmk_spsc_pop_burst(q, items, n);
		if (ret)
			return ret;
		/* Empty means tail == our head: sleep while tail stays there. */
		ret = spsc_sleep(q, &q->sh->cons_waiting, &q->c.token,
				 &q->sh->tail, q->c.head, deadline);
		if (ret && ret != -ETIMEDOUT && ret != -EINTR)
			return ret;
		if (ret) {
			int last = shmk_spsc_pop_burst(q, items, n);

			return last ? last : ret;
		}
	}
}

SHMK_API int shmk_spsc_push_wait(struct shmk_spsc *q, const void *items,
				 unsigned int n, int64_t timeout_ns)
{
	struct shmk_spin_run run;
	int64_t deadline;
	int ret;

	if (!q || !n)
		return -EINVAL;
	ret = shmk_spsc_push_burst(q, items, n);
	if (ret)
		return ret;
	if (!(q->flags & SHMK_QUEUE_NOTIFY))
		return -EOPNOTSUPP;
	deadline = shmk_deadline(timeout_ns);
	/* Spin, before the first sleep only (notify.c, "Waiting"). */
	shmk_spin_begin(&q->p.spin, &run, deadline);
	while (shmk_spin_more(&run)) {
		ret = shmk_spsc_push_burst(q, items, n);
		if (ret) {
			shmk_spin_end(&q->p.spin, &run, 1);
			return ret;
		}
	}
	shmk_spin_end(&q->p.spin, &run, 0);
	for (;;) {
		ret = shmk_spsc_push_burst(q, items, n);
		if (ret)
			return ret;
		/* Full means head == our tail - capacity: sleep while it stays. */
		ret = spsc_sleep(q, &q->sh->prod_waiting, &q->p.token,
				 &q->sh->head, q->p.tail - (q->mask + 1),
				 deadline);
		if (ret && ret != -ETIMEDOUT && ret != -EINTR)
			return ret;
		if (ret) {
			int last = shmk_spsc_push_burst(q, items, n);

			return last ? last : ret;
		}
	}
}
