// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk object headers: placement checks for init, validation on attach.
 *
 * Errors: -EINVAL for the caller's own arguments (offset misaligned or
 * outside the region), -EACCES for a read-only mapping, -EBADMSG for a
 * header that is not ours or is inconsistent, -EPROTO for a layout
 * version this library does not know.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int shmk_obj_place(const struct shmk_region *r, uint64_t offset,
		   uint64_t size, void **out)
{
	if (!r || offset % SHMK_OBJ_ALIGN || size == 0)
		return -EINVAL;
	if (offset > r->size || size > r->size - offset)
		return -EINVAL;
	if (!r->writable)
		return -EACCES;
	*out = r->base + offset;
	return 0;
}

/*
 * Every field is read once (SHMK_READ_ONCE) and the checks and @geom use
 * only those copies; the caller validates the rest of @geom and fills its
 * handle from @geom, never from the shared header again.
 */
int shmk_obj_check(const struct shmk_region *r, uint64_t offset,
		   uint32_t magic, uint64_t shared_size, void **out,
		   struct shmk_obj_geom *geom)
{
	struct shmk_obj_hdr *h;
	unsigned int i;

	if (!r || offset % SHMK_OBJ_ALIGN)
		return -EINVAL;
	if (offset > r->size || shared_size > r->size - offset)
		return -EINVAL;
	if (!r->writable)
		return -EACCES;
	h = (struct shmk_obj_hdr *)(r->base + offset);
	/*
	 * Acquire: pairs with the release store of magic in
	 * shmk_obj_publish(): the rest of the header is complete.
	 */
	if (atomic_load_explicit(&h->magic, memory_order_acquire) != magic)
		return -EBADMSG;
	if (SHMK_READ_ONCE(h->version) != SHMK_LAYOUT_VERSION)
		return -EPROTO;
	geom->flags = SHMK_READ_ONCE(h->flags);
	if (SHMK_READ_ONCE(h->hdr_size) != shared_size ||
	    geom->flags & ~SHMK_OBJ_FLAGS_KNOWN)
		return -EBADMSG;
	for (i = 0; i < sizeof(h->reserved) / sizeof(h->reserved[0]); i++)
		if (SHMK_READ_ONCE(h->reserved[i]))
			return -EBADMSG;
	geom->elem_size = SHMK_READ_ONCE(h->elem_size);
	geom->capacity = SHMK_READ_ONCE(h->capacity);
	geom->stride = SHMK_READ_ONCE(h->stride);
	geom->total_size = SHMK_READ_ONCE(h->total_size);
	geom->data_offset = SHMK_READ_ONCE(h->data_offset);
	if (geom->total_size > r->size - offset ||
	    geom->data_offset > geom->total_size)
		return -EBADMSG;
	*out = h;
	return 0;
}

void shmk_obj_publish(struct shmk_obj_hdr *h, uint32_t magic)
{
	/*
	 * Release: pairs with the acquire load in shmk_obj_check(): every
	 * header and data-structure store before this is visible to an
	 * attacher that sees the magic.
	 */
	atomic_store_explicit(&h->magic, magic, memory_order_release);
}
