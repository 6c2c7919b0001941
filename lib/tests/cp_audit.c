// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * White-box checks for the crash-point harness (see cp_audit.h).  This
 * file follows lib/svc.h: adapt it, and only it, when the layout changes.
 */
#include <fcntl.h>
#include <stdio.h>

#include "svc.h"
#include "cp_audit.h"

/* Word @w of the bitmap of live slots. */
static uint64_t alive_mask(const struct svc_view *v, uint32_t w)
{
	uint64_t m = 0;
	uint32_t k;

	for (k = w * 64; k < v->g.nslots && k < w * 64 + 64; k++)
		/* Relaxed: the harness looks while nobody else runs. */
		if (ST_TAG(atomic_load_explicit(&v->slots[k].state,
						memory_order_relaxed)) == ST_ALIVE)
			m |= SLOT_BIT(k);
	return m;
}

int cp_audit_holders(const struct shmk_service *s, char *msg, size_t len)
{
	const struct svc_view *v = &s->v;
	uint64_t alive, h;
	uint32_t c, w;
	int n = 0;

	for (w = 0; w < v->g.mwords; w++) {
		alive = alive_mask(v, w);
		for (c = 0; c < v->g.nchunks; c++) {
			/* Relaxed: as above. */
			h = atomic_load_explicit(&holders_of(v, c)[w],
						 memory_order_relaxed);
			if (!(h & ~alive))
				continue;
			if (!n++)
				snprintf(msg, len, "chunk %u held by %#llx (word %u), live slots %#llx",
					 c, (unsigned long long)h, w,
					 (unsigned long long)alive);
		}
	}
	return n;
}

int cp_audit_watch(const struct shmk_service *s, char *msg, size_t len)
{
	const struct svc_view *v = &s->v;
	uint64_t alive, m;
	uint32_t w;

	for (w = 0; w < v->g.mwords; w++) {
		alive = alive_mask(v, w);
		/* Relaxed: the harness looks while nobody else runs. */
		m = atomic_load_explicit(&mask_of(v, MASK_WATCH)[w],
					 memory_order_relaxed);
		if (!(m & ~alive))
			continue;
		snprintf(msg, len, "watch mask %#llx (word %u), live slots %#llx",
			 (unsigned long long)m, w, (unsigned long long)alive);
		return 1;
	}
	return 0;
}

/* Is chunk @c's bitmap exactly slot @k's bit (@only), or does it have it? */
static int holds(const struct svc_view *v, uint32_t c, uint32_t k, int only)
{
	uint32_t w;
	uint64_t h;

	for (w = 0; w < v->g.mwords; w++) {
		/* Relaxed: as above. */
		h = atomic_load_explicit(&holders_of(v, c)[w],
					 memory_order_relaxed);
		if (w == SLOT_WORD(k) ? (only ? h != SLOT_BIT(k) :
					 !(h & SLOT_BIT(k))) : only && h)
			return 0;
	}
	return 1;
}

int cp_audit_port(const struct shmk_port *p, char *msg, size_t len)
{
	const struct svc_view *v = &p->v;
	uint32_t i;
	int n = 0;

	for (i = 0; i < p->nloans; i++) {
		if (holds(v, p->loans[i], p->slot, 1))
			continue;
		if (!n++)
			snprintf(msg, len, "slot %u's loan of chunk %u: holders not only its bit",
				 p->slot, p->loans[i]);
	}
	for (i = 0; i < p->nheld; i++) {
		if (holds(v, p->held[i], p->slot, 0))
			continue;
		if (!n++)
			snprintf(msg, len, "slot %u's received chunk %u: holders without its bit",
				 p->slot, p->held[i]);
	}
	return n;
}

int cp_hog_chunks(const struct shmk_service *s, int slot)
{
	const struct svc_view *v = &s->v;
	uint32_t c;
	int n = 0;

	for (c = 0; c < v->g.nchunks; c++) {
		if (hold_busy(v, c))
			continue;
		/* Relaxed: the harness alone runs now; the owner is dead. */
		atomic_store_explicit(hold_word(v, c, (uint32_t)slot),
				      SLOT_BIT(slot), memory_order_relaxed);
		n++;
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

int cp_audit_announced(const struct shmk_service *s, const uint64_t *live,
		       char *msg, size_t len)
{
	uint64_t m;
	uint32_t w;
	int n = 0;

	for (w = 0; w < s->v.g.mwords; w++) {
		m = alive_mask(&s->v, w) & ~live[w];
		if (m && !n)
			snprintf(msg, len, "slot %u still ALIVE after its holder died (live slots %#llx in word %u): no death notice",
				 w * 64 + (uint32_t)__builtin_ctzll(m),
				 (unsigned long long)live[w], w);
		n += __builtin_popcountll(m);
	}
	return n;
}
