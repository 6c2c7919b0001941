// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * White-box checks for the crash-point harness (see cp_audit.h).  This
 * file follows lib/svc.h: adapt it, and only it, when the layout changes.
 */
#include <fcntl.h>
#include <stdio.h>

#include "svc.h"
#include "cp_audit.h"

static uint64_t alive_mask(const struct svc_view *v)
{
	uint64_t m = 0;
	uint32_t k;

	for (k = 0; k < v->g.nslots; k++)
		/* Relaxed: the harness looks while nobody else runs. */
		if (ST_TAG(atomic_load_explicit(&v->slots[k].state,
						memory_order_relaxed)) == ST_ALIVE)
			m |= 1ULL << k;
	return m;
}

int cp_audit_holders(const struct shmk_service *s, char *msg, size_t len)
{
	const struct svc_view *v = &s->v;
	uint64_t alive = alive_mask(v), h;
	uint32_t c;
	int n = 0;

	for (c = 0; c < v->g.nchunks; c++) {
		/* Relaxed: as above. */
		h = atomic_load_explicit(holders_of(v, c), memory_order_relaxed);
		if (!(h & ~alive))
			continue;
		if (!n++)
			snprintf(msg, len, "chunk %u held by %#llx, live slots %#llx",
				 c, (unsigned long long)h,
				 (unsigned long long)alive);
	}
	return n;
}

int cp_audit_watch(const struct shmk_service *s, char *msg, size_t len)
{
	const struct svc_view *v = &s->v;
	uint64_t alive = alive_mask(v);
	/* Relaxed: the harness looks while nobody else runs. */
	uint64_t m = atomic_load_explicit(&v->sh->watch, memory_order_relaxed);

	if (!(m & ~alive))
		return 0;
	snprintf(msg, len, "watch mask %#llx, live slots %#llx",
		 (unsigned long long)m, (unsigned long long)alive);
	return 1;
}

int cp_audit_port(const struct shmk_port *p, char *msg, size_t len)
{
	const struct svc_view *v = &p->v;
	uint64_t h;
	uint32_t i;
	int n = 0;

	for (i = 0; i < p->nloans; i++) {
		/* Relaxed: as above. */
		h = atomic_load_explicit(holders_of(v, p->loans[i]),
					 memory_order_relaxed);
		if (h == p->bit)
			continue;
		if (!n++)
			snprintf(msg, len, "slot %u's loan of chunk %u: holders %#llx, not only its bit",
				 p->slot, p->loans[i], (unsigned long long)h);
	}
	for (i = 0; i < p->nheld; i++) {
		h = atomic_load_explicit(holders_of(v, p->held[i]),
					 memory_order_relaxed);
		if (h & p->bit)
			continue;
		if (!n++)
			snprintf(msg, len, "slot %u's received chunk %u: holders %#llx, without its bit",
				 p->slot, p->held[i], (unsigned long long)h);
	}
	return n;
}

int cp_hog_chunks(const struct shmk_service *s, int slot)
{
	const struct svc_view *v = &s->v;
	uint32_t c;
	int n = 0;

	for (c = 0; c < v->g.nchunks; c++) {
		uint64_t zero = 0;

		/* Relaxed: the harness alone runs now; the owner is dead. */
		n += atomic_compare_exchange_strong_explicit(holders_of(v, c),
				&zero, 1ULL << slot, memory_order_relaxed,
				memory_order_relaxed);
	}
	return n;
}

struct shmk_region *cp_lock_slot(const struct shmk_service *s, int slot)
{
	struct shmk_region *r;

	if (shmk_region_backend(s->v.r) != SHMK_BACKEND_MEMFD)
		return NULL;	/* liveness on the device: death notices */
	if (shmk_region_open(s->rname, 0, &r))
		return NULL;
	if (ofd_lock(shmk_region_fd(r), slot_off(&s->v, (uint32_t)slot),
		     F_WRLCK, F_OFD_SETLK)) {
		shmk_region_close(r);
		return NULL;
	}
	return r;
}

/* --- Device backend: liveness from the module's death notices --- */

int cp_audit_announced(const struct shmk_service *s, uint64_t live,
		       char *msg, size_t len)
{
	uint64_t m = alive_mask(&s->v) & ~live;
	int n = __builtin_popcountll(m);

	if (n)
		snprintf(msg, len, "slot %d still ALIVE after its holder died (live slots %#llx): no death notice",
			 __builtin_ctzll(m), (unsigned long long)live);
	return n;
}
