// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: ports.  A port claims a participant slot in its own
 * region file (so that its death is noticed on its own) and gives it back
 * on close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc.h"

int port_new(struct shmk_service *s, int role, unsigned int kind,
		    struct shmk_port **out)
{
	const struct shmk_svc_config *c = &s->v.cfg;
	uint32_t na = c->max_publishers, M = s->v.g.nslots;
	uint32_t lo, hi, k, g, pid = (uint32_t)getpid() & 0x0fffffffU;
	struct shmk_region *r;
	struct shmk_port *p;
	int ret, pass;

	if (!out)
		return -EINVAL;
	if (c->kind != kind)
		return -EPROTOTYPE;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->svc = s;
	p->role = role;
	p->prod_ch = p->cons_ch = -1;
	/* A-roles take slots [0, na), B-roles [na, M). */
	switch (role) {
	case ROLE_PUB:
		p->prod_ch = 0;
		break;
	case ROLE_SUB:
		p->cons_ch = 0;
		break;
	case ROLE_CLIENT:
		p->prod_ch = 0;
		p->cons_ch = 1;
		break;
	case ROLE_SERVER:
		p->prod_ch = 1;
		p->cons_ch = 0;
		break;
	}
	if (role == ROLE_PUB || role == ROLE_CLIENT || role == ROLE_NOTIFIER) {
		lo = 0, hi = na;
		p->plo = na, p->phi = M;
		p->clo = na, p->chi = M;
	} else {
		lo = na, hi = M;
		p->plo = 0, p->phi = na;
		p->clo = 0, p->chi = na;
	}
	p->loans = calloc(c->max_loans + c->max_borrow, sizeof(uint32_t));
	if (!p->loans) {
		free(p);
		return -ENOMEM;
	}
	p->held = p->loans + c->max_loans;
	ret = shmk_region_open(s->rname, 0, &r);
	if (ret)
		goto err;
	ret = view_attach(&p->v, r);
	if (ret) {
		shmk_region_close(r);
		goto err;
	}
	for (pass = 0; pass < 2; pass++) {
		for (k = lo; k < hi; k++) {
			struct svc_slot *sl = &p->v.slots[k];
			uint32_t free_st = ST_FREE, i;

			/* Relaxed: a guess; the CAS decides. */
			if (atomic_load_explicit(&sl->state, memory_order_relaxed))
				continue;
			SHMK_CP();
			/*
			 * Acquire: pairs with the release store of FREE by the
			 * last reclaimer: its sweep is complete.
			 */
			if (!atomic_compare_exchange_strong_explicit(&sl->state,
					&free_st, ST_CLAIM | pid,
					memory_order_acquire, memory_order_relaxed))
				continue;
			/* Relaxed: only the claimer writes these (CLAIM held). */
			g = (atomic_load_explicit(&sl->gen, memory_order_relaxed) + 1) &
			    0x0fffffffU;
			if (!g)
				g = 1;
			SHMK_CP();
			atomic_store_explicit(&sl->gen, g, memory_order_relaxed);
			SHMK_CP();
			atomic_store_explicit(&sl->pid, pid, memory_order_relaxed);
			SHMK_CP();
			atomic_store_explicit(&sl->flags, 0, memory_order_relaxed);
			if (shmk_region_backend(r) == SHMK_BACKEND_DEVICE) {
				if (shmk_region_on_release(r, &sl->state, ST_DEAD | g,
							   &p->v.sh->epoch)) {
					SHMK_CP();
					atomic_store_explicit(&sl->flags, SLOT_PIDCHECK,
							      memory_order_relaxed);
				}
			} else if (ofd_lock(shmk_region_fd(r), slot_off(&p->v, k),
					    F_WRLCK, F_OFD_SETLK)) {
				SHMK_CP();
				/* Release: as the reclaimer's FREE. */
				atomic_store_explicit(&sl->state, ST_FREE,
						      memory_order_release);
				continue;
			}
			chan_claim(p, k);
			/* Relaxed: published by the state store below. */
			for (i = 0; i < p->v.g.ewords; i++) {
				SHMK_CP();
				atomic_store_explicit(&p->v.events[(uint64_t)k * p->v.g.ewords + i],
						      0, memory_order_relaxed);
			}
			SHMK_CP();
			/*
			 * Seq_cst (a release at least): pairs with the acquire
			 * loads of the state by consumers and recoverers; start,
			 * gen, cursors above are visible first.
			 */
			atomic_store_explicit(&sl->state, ST_ALIVE | g,
					      memory_order_seq_cst);
			p->slot = k;
			p->gen = g;
			p->bit = 1ULL << k;
			p->hint = k * 7919U;
			*out = p;
			return 0;
		}
		if (pass == 0 && view_recover(&s->v) <= 0)
			break;
	}
	ret = -EBUSY;
	shmk_region_close(r);
err:
	free(p->loans);
	free(p);
	return ret;
}

SHMK_API int shmk_pub_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_PUB, SHMK_SVC_PUBSUB, out) : -EINVAL;
}

SHMK_API int shmk_sub_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_SUB, SHMK_SVC_PUBSUB, out) : -EINVAL;
}

SHMK_API int shmk_client_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_CLIENT, SHMK_SVC_REQRES, out) : -EINVAL;
}

SHMK_API int shmk_server_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_SERVER, SHMK_SVC_REQRES, out) : -EINVAL;
}

SHMK_API int shmk_notifier_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_NOTIFIER, SHMK_SVC_EVENT, out) : -EINVAL;
}

SHMK_API int shmk_listener_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_LISTENER, SHMK_SVC_EVENT, out) : -EINVAL;
}

SHMK_API int shmk_port_slot(const struct shmk_port *p)
{
	return (int)p->slot;
}

SHMK_API void shmk_port_close(struct shmk_port *p)
{
	struct svc_slot *sl;
	uint32_t i, st;

	if (!p)
		return;
	for (i = 0; i < p->nloans; i++)
		chunk_put(&p->v, p->loans[i], p->bit);
	for (i = 0; i < p->nheld; i++)
		chunk_put(&p->v, p->held[i], p->bit);
	if (p->watching) {
		SHMK_CP();
		/* Relaxed: only a hint for wakers. */
		atomic_fetch_sub_explicit(&p->v.sh->sleepers, 1,
					  memory_order_relaxed);
	}
	sl = &p->v.slots[p->slot];
	st = ST_ALIVE | p->gen;
	SHMK_CP();
	/* Leave: reclaim our own slot (drops our ring references too). */
	if (atomic_compare_exchange_strong_explicit(&sl->state, &st,
			ST_RECLAIM | ((uint32_t)getpid() & 0x0fffffffU),
			memory_order_seq_cst, memory_order_relaxed)) {
		slot_sweep(&p->v, p->slot);
		/* Before FREE: our death notice must not hit the next owner. */
		if (shmk_region_backend(p->v.r) == SHMK_BACKEND_DEVICE)
			shmk_region_on_release(p->v.r, NULL, 0, NULL);
		else
			ofd_lock(shmk_region_fd(p->v.r), slot_off(&p->v, p->slot),
				 F_UNLCK, F_OFD_SETLK);
		SHMK_CP();
		atomic_store_explicit(&sl->flags, 0, memory_order_relaxed);
		SHMK_CP();
		/* Release: pairs with the claimer's acquire CAS. */
		atomic_store_explicit(&sl->state, ST_FREE, memory_order_release);
		svc_kick(&p->v);
	}
	shmk_region_close(p->v.r);
	free(p->loans);
	free(p);
}
