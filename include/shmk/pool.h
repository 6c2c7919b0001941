/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: fixed-size chunk pool in region memory.
 *
 * capacity chunks of stride bytes (chunk size rounded up to 64) and a
 * lock-free LIFO free list threaded through an array of 32-bit next
 * indices.  The list head is one 64-bit word: the index of the first free
 * chunk in the low 28 bits and a generation in the high 36 bits, bumped by
 * every successful CAS, so a head that was popped and pushed back between
 * a thread's read and its CAS (ABA) no longer compares equal.  The
 * generation wraps after 2^36 operations (about 40 minutes at 35 ns
 * each), which a thread would have to sleep through between its read of
 * the head and its CAS, and then find the same index on top.
 *
 * Chunks are named by index, so they mean the same in every process;
 * shmk_pool_ptr() turns an index into this process's address.
 *
 * NOT SAFE AGAINST A CRASHED PARTICIPANT.  The pool keeps no record of
 * who holds a chunk: a chunk allocated by a process that dies before
 * freeing it is lost until the pool is initialised again, and a process
 * killed inside alloc or free loses at most that one chunk (the list
 * itself stays whole: each operation is one compare-and-swap).  For
 * buffers shared between processes that must survive a crashed
 * participant, use the services of <shmk/service.h>, whose chunks carry
 * an owner set that recovery clears.
 *
 * A peer that writes garbage into the pool can make this side get
 * -EBADMSG, -EAGAIN or a chunk someone else holds, never an index out of
 * range, an access outside the pool, or an endless loop.
 */
#ifndef SHMK_POOL_H
#define SHMK_POOL_H

#include <errno.h>
#include <stdint.h>
#include <shmk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmk_region;

#define SHMK_POOL_NIL		0xffffffffU	/* end of the free list (next[]) */
#define SHMK_POOL_CHUNK_ALIGN	64
#define SHMK_POOL_CHUNK_MAX	(1U << 30)
#define SHMK_POOL_CAP_MAX	((1U << 28) - 1)

/*
 * free_head: bits 0-27 the first free index (SHMK_POOL_HEAD_NIL: none),
 * bits 28-63 the generation.  Adding SHMK_POOL_GEN_ONE to the whole word
 * bumps the generation; it wraps from 2^36 - 1 to 0 by carrying out of
 * the 64-bit word, never into the index.
 */
#define SHMK_POOL_IDX_BITS	28
#define SHMK_POOL_IDX_MASK	((1ULL << SHMK_POOL_IDX_BITS) - 1)
#define SHMK_POOL_HEAD_NIL	((uint32_t)SHMK_POOL_IDX_MASK)
#define SHMK_POOL_GEN_ONE	(1ULL << SHMK_POOL_IDX_BITS)

/**
 * struct shmk_pool_shared - the pool's shared header (in region memory)
 * @hdr:	magic SHMK_MAGIC_POOL; elem_size = chunk size; capacity =
 *		chunks; stride = chunk size rounded up to 64; hdr_size ==
 *		sizeof(this); the next array follows the header; data_offset
 *		is hdr_size + 4 * capacity rounded up to SHMK_OBJ_ALIGN
 * @free_head:	free-list head: index (low 28 bits), generation (high 36)
 */
struct shmk_pool_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {
		SHMK_ATOMIC(uint64_t) free_head;
		char _pad_head[SHMK_CACHELINE_PAD];
	};
};

/**
 * struct shmk_pool - process-local handle on a pool (private fields,
 * read-only after attach, shareable by threads)
 */
struct shmk_pool {
	struct shmk_pool_shared *sh;
	SHMK_ATOMIC(uint32_t) *next;
	unsigned char *chunks;
	uint32_t capacity;
	uint32_t chunk_size;
	uint32_t stride;
};

/**
 * shmk_pool_size() - bytes a pool needs in a region
 * @chunk_size:	bytes per chunk, 1 to SHMK_POOL_CHUNK_MAX
 * @capacity:	chunks, 1 to SHMK_POOL_CAP_MAX (2^28 - 1)
 *
 * Return: the size, or 0 when the parameters are invalid.
 */
SHMK_API uint64_t shmk_pool_size(uint32_t chunk_size, uint32_t capacity);

/**
 * shmk_pool_init() - lay out a pool with every chunk free and attach
 * @p:		handle to fill
 * @r:		writable region
 * @offset:	a multiple of SHMK_OBJ_ALIGN
 * @chunk_size:	bytes per chunk
 * @capacity:	chunks
 *
 * Return: 0; -EINVAL; -EACCES.  As shmk_spsc_init().
 */
SHMK_API int shmk_pool_init(struct shmk_pool *p, const struct shmk_region *r,
			    uint64_t offset, uint32_t chunk_size,
			    uint32_t capacity);

/**
 * shmk_pool_attach() - attach to an initialised pool
 * @p:		handle to fill
 * @r:		region holding the pool
 * @offset:	where the pool starts
 *
 * As with shmk_spsc_attach(), a hostile peer can rewrite the header into
 * another consistent geometry: check shmk_pool_chunk_size() (and
 * shmk_pool_capacity()) before writing into chunks.
 *
 * Return: 0; -EINVAL; -EBADMSG; -EPROTO; -EACCES.  As shmk_spsc_attach().
 */
SHMK_API int shmk_pool_attach(struct shmk_pool *p, const struct shmk_region *r,
			      uint64_t offset);

/**
 * shmk_pool_chunk_size() - usable bytes per chunk of an attached pool
 * @p:		handle filled by shmk_pool_init() or shmk_pool_attach()
 *
 * Return: the chunk size the handle was validated with.
 */
SHMK_INLINE uint32_t shmk_pool_chunk_size(const struct shmk_pool *p)
{
	return p->chunk_size;
}

/**
 * shmk_pool_capacity() - chunks in an attached pool
 * @p:		handle
 *
 * Return: the capacity the handle was validated with.
 */
SHMK_INLINE uint32_t shmk_pool_capacity(const struct shmk_pool *p)
{
	return p->capacity;
}

/* Internal: the next free-list head after @old, with first index @idx. */
SHMK_INLINE uint64_t shmk__pool_head(uint64_t old, uint32_t idx)
{
	return ((old & ~SHMK_POOL_IDX_MASK) + SHMK_POOL_GEN_ONE) | idx;
}

/**
 * shmk_pool_alloc() - take a free chunk
 * @p:		handle
 *
 * Return: the chunk index (0 to capacity - 1); -ENOMEM when none is
 * free; -EBADMSG when the free list holds an index out of range (corrupt
 * pool); -EAGAIN when the head changed under us SHMK__RETRY_MAX times in
 * a row (only a peer that rewrites it without end does that).
 */
SHMK_INLINE int64_t shmk_pool_alloc(struct shmk_pool *p)
{
	SHMK__USE_ATOMICS
	/*
	 * Acquire: pairs with the release CAS in shmk_pool_free() that
	 * pushed the head chunk: its next[] entry is visible to us.
	 */
	uint64_t old = atomic_load_explicit(&p->sh->free_head,
					    memory_order_acquire);
	uint32_t tries;

	/*
	 * old is one load (or the value a failed CAS loaded); idx and next
	 * come from it and from one load of next[idx], each checked against
	 * our private capacity before use.
	 */
	for (tries = 0; tries < SHMK__RETRY_MAX; tries++) {
		uint32_t idx = (uint32_t)(old & SHMK_POOL_IDX_MASK);
		uint32_t next;

		if (idx == SHMK_POOL_HEAD_NIL)
			return -ENOMEM;
		if (SHMK_UNLIKELY(idx >= p->capacity))
			return -EBADMSG;
		/*
		 * Relaxed: if idx was taken and given back since we read the
		 * head, next may be stale, but then the generation moved on
		 * and the CAS below fails.
		 */
		next = atomic_load_explicit(&p->next[idx], memory_order_relaxed);
		if (next == SHMK_POOL_NIL)
			next = SHMK_POOL_HEAD_NIL;
		else if (SHMK_UNLIKELY(next >= p->capacity))
			return -EBADMSG;	/* honest links are always valid */
		SHMK__CP();
		/*
		 * Acquire on success: we own the chunk, and see the writes of
		 * whoever freed it (their release CAS).  Acquire on failure:
		 * the reloaded head is read as above.
		 */
		if (atomic_compare_exchange_weak_explicit(&p->sh->free_head, &old,
				shmk__pool_head(old, next), memory_order_acquire,
				memory_order_acquire))
			return idx;
	}
	return -EAGAIN;
}

/**
 * shmk_pool_free() - give a chunk back
 * @p:		handle
 * @idx:	an index from shmk_pool_alloc(), not freed since
 *
 * Return: 0; -EINVAL when @idx is out of range; -EAGAIN (the chunk is
 * not freed) as in shmk_pool_alloc().  Freeing a chunk twice is not
 * detected and corrupts the list.
 */
SHMK_INLINE int shmk_pool_free(struct shmk_pool *p, uint32_t idx)
{
	SHMK__USE_ATOMICS
	/* Relaxed: a guess, checked by the CAS. */
	uint64_t old = atomic_load_explicit(&p->sh->free_head,
					    memory_order_relaxed);
	uint32_t tries, first;

	if (SHMK_UNLIKELY(idx >= p->capacity))
		return -EINVAL;
	for (tries = 0; tries < SHMK__RETRY_MAX; tries++) {
		/*
		 * The old first index goes into next[idx] as NIL or as it is:
		 * garbage there is caught by the alloc that reads it.
		 */
		first = (uint32_t)(old & SHMK_POOL_IDX_MASK);
		SHMK__CP();
		/* Relaxed: published by the release CAS below. */
		atomic_store_explicit(&p->next[idx],
				      first == SHMK_POOL_HEAD_NIL ?
				      SHMK_POOL_NIL : first,
				      memory_order_relaxed);
		SHMK__CP();
		/*
		 * Release on success: pairs with the acquire in
		 * shmk_pool_alloc(): our next[] store and our writes to the
		 * chunk happen before its next owner uses it.  Relaxed on
		 * failure: we only retry.
		 */
		if (atomic_compare_exchange_weak_explicit(&p->sh->free_head, &old,
				shmk__pool_head(old, idx), memory_order_release,
				memory_order_relaxed))
			return 0;
	}
	return -EAGAIN;
}

/**
 * shmk_pool_ptr() - address of a chunk in this process
 * @p:		handle
 * @idx:	chunk index
 *
 * Return: the address, or NULL when @idx is out of range.
 */
SHMK_INLINE void *shmk_pool_ptr(const struct shmk_pool *p, uint32_t idx)
{
	if (SHMK_UNLIKELY(idx >= p->capacity))
		return NULL;
	return p->chunks + (size_t)idx * p->stride;
}

/**
 * shmk_pool_index() - index of a chunk from its address in this process
 * @p:		handle
 * @ptr:	start of a chunk
 *
 * Return: the index; -EINVAL when @ptr is not the start of a chunk.
 */
SHMK_INLINE int64_t shmk_pool_index(const struct shmk_pool *p, const void *ptr)
{
	uintptr_t a = (uintptr_t)ptr, b = (uintptr_t)p->chunks;

	if (a < b || (a - b) % p->stride || (a - b) / p->stride >= p->capacity)
		return -EINVAL;
	return (int64_t)((a - b) / p->stride);
}

#ifdef __cplusplus
}
#endif

#endif /* SHMK_POOL_H */
