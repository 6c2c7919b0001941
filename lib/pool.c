// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk chunk pool: layout and attach.  alloc and free are inline in
 * <shmk/pool.h>.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(struct shmk_pool_shared) == 2 * SHMK_CACHELINE_PAD,
	       "pool header layout changed: bump SHMK_LAYOUT_VERSION");
/* Every index and the end-of-list mark fit the head's index field. */
_Static_assert(SHMK_POOL_CAP_MAX <= SHMK_POOL_HEAD_NIL,
	       "pool indices must fit the 28-bit field of free_head");

struct pool_geom {
	uint32_t stride;
	uint64_t data_offset;
	uint64_t total;
};

static int pool_geom(uint32_t chunk_size, uint32_t capacity,
		     struct pool_geom *g)
{
	if (chunk_size < 1 || chunk_size > SHMK_POOL_CHUNK_MAX ||
	    capacity < 1 || capacity > SHMK_POOL_CAP_MAX)
		return 0;
	g->stride = (chunk_size + SHMK_POOL_CHUNK_ALIGN - 1) &
		    ~(SHMK_POOL_CHUNK_ALIGN - 1);
	g->data_offset = (sizeof(struct shmk_pool_shared) + 4ULL * capacity +
			  SHMK_OBJ_ALIGN - 1) & ~(uint64_t)(SHMK_OBJ_ALIGN - 1);
	g->total = g->data_offset + (uint64_t)g->stride * capacity;
	return 1;
}

SHMK_API uint64_t shmk_pool_size(uint32_t chunk_size, uint32_t capacity)
{
	struct pool_geom g;

	return pool_geom(chunk_size, capacity, &g) ? g.total : 0;
}

/* Fill @p from validated private values, never from sh->hdr again. */
static void pool_fill(struct shmk_pool *p, struct shmk_pool_shared *sh,
		      uint32_t chunk_size, uint32_t capacity,
		      const struct pool_geom *g)
{
	memset(p, 0, sizeof(*p));
	p->sh = sh;
	p->next = (_Atomic uint32_t *)((unsigned char *)sh + sizeof(*sh));
	p->chunks = (unsigned char *)sh + g->data_offset;
	p->capacity = capacity;
	p->chunk_size = chunk_size;
	p->stride = g->stride;
}

SHMK_API int shmk_pool_init(struct shmk_pool *p, const struct shmk_region *r,
			    uint64_t offset, uint32_t chunk_size,
			    uint32_t capacity)
{
	struct shmk_pool_shared *sh;
	struct pool_geom g;
	_Atomic uint32_t *next;
	uint32_t i;
	void *mem;
	int ret;

	if (!p || !pool_geom(chunk_size, capacity, &g))
		return -EINVAL;
	ret = shmk_obj_place(r, offset, g.total, &mem);
	if (ret)
		return ret;
	sh = mem;
	/*
	 * One point for the header and the links: nobody reads them before
	 * the release store of the magic (shmk_obj_publish(), its own point).
	 */
	SHMK_CP();
	memset(sh, 0, sizeof(*sh));
	sh->hdr.version = SHMK_LAYOUT_VERSION;
	sh->hdr.hdr_size = sizeof(*sh);
	sh->hdr.elem_size = chunk_size;
	sh->hdr.capacity = capacity;
	sh->hdr.stride = g.stride;
	sh->hdr.total_size = g.total;
	sh->hdr.data_offset = g.data_offset;
	next = (_Atomic uint32_t *)((unsigned char *)sh + sizeof(*sh));
	/* Relaxed: all published by the release store of the magic. */
	for (i = 0; i < capacity; i++)
		atomic_store_explicit(&next[i], i + 1 < capacity ? i + 1 :
				      SHMK_POOL_NIL, memory_order_relaxed);
	/* First free index 0, generation 0. */
	atomic_store_explicit(&sh->free_head, 0, memory_order_relaxed);
	SHMK_CP();
	shmk_obj_publish(&sh->hdr, SHMK_MAGIC_POOL);
	pool_fill(p, sh, chunk_size, capacity, &g);
	return 0;
}

SHMK_API int shmk_pool_attach(struct shmk_pool *p, const struct shmk_region *r,
			      uint64_t offset)
{
	struct shmk_pool_shared *sh;
	struct shmk_obj_geom h;
	struct pool_geom g;
	void *mem;
	int ret;

	if (!p)
		return -EINVAL;
	ret = shmk_obj_check(r, offset, SHMK_MAGIC_POOL, sizeof(*sh), &mem, &h);
	if (ret)
		return ret;
	sh = mem;
	if (h.flags || !pool_geom(h.elem_size, h.capacity, &g) ||
	    h.stride != g.stride || h.data_offset != g.data_offset ||
	    h.total_size != g.total)
		return -EBADMSG;
	pool_fill(p, sh, h.elem_size, h.capacity, &g);
	return 0;
}
