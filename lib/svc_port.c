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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svc.h"

/*
 * Is @a the same object as @b (the service handle's)?  1, 0, or -errno.
 * memfd: the same inode; device: the same region id.
 */
static int same_object(const struct shmk_region *a, const struct shmk_region *b)
{
	if (shmk_region_backend(a) != shmk_region_backend(b))
		return 0;
	if (shmk_region_backend(a) == SHMK_BACKEND_DEVICE) {
		struct shmk_region_info ia, ib;

		memset(&ia, 0, sizeof(ia));
		ia.size = sizeof(ia);
		ib = ia;
		if (ioctl(shmk_region_fd(a), SHMK_IOC_INFO, &ia) < 0 ||
		    ioctl(shmk_region_fd(b), SHMK_IOC_INFO, &ib) < 0)
			return -errno;
		return ia.id == ib.id;
	} else {
		struct stat sa, sb;

		if (fstat(shmk_region_fd(a), &sa) < 0 ||
		    fstat(shmk_region_fd(b), &sb) < 0)
			return -errno;
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	}
}

static void notice_clear(struct shmk_port *p)
{
	if (p->notice != NOTICE_NONE)
		(void)shmk_region_on_release(p->v.r, NULL, 0, NULL);
	p->notice = NOTICE_NONE;
}

/*
 * Try to claim slot @k for @p: 0 when it is ours (ALIVE), -EAGAIN when it
 * is taken (try another), another -errno to give up.
 *
 * memfd: the slot's OFD lock first, through the port's own file; every
 * holder of a non-FREE state holds it, so a lock we get means whoever left
 * the state is gone, and we reclaim the slot on the spot.
 * Device: a conditional death notice for a fresh generation t first
 * ("CLAIM|t or ALIVE|t -> DEAD|t"), then the CAS: a claimer killed at
 * any point after the CAS is announced, and the notice of one that lost
 * the CAS matches nothing (t is unique).  Without the conditional notice
 * the plain one is armed after the CAS (see svc_live.c's fallback).
 *
 * With @free_only (the first pass), a slot whose state is not FREE is
 * skipped without a system call: with 1,024 slots, a claim that locked
 * every taken slot on its way would cost each new participant as many
 * fcntl() calls as there are participants.  A dead holder's slot is
 * reclaimed by the second pass (after view_recover()) or by any other
 * recovery.
 */
static int claim_slot(struct shmk_port *p, uint32_t k, int free_only)
{
	const struct svc_view *v = &p->v;
	struct svc_slot *sl = &v->slots[k];
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	int fd = shmk_region_fd(v->r), ret;
	uint32_t st, t, free_st = ST_FREE, i;

	if (dev || free_only) {
		/* Relaxed: a guess; the CAS (memfd: the lock) decides. */
		if (atomic_load_explicit(&sl->state, memory_order_relaxed) != ST_FREE)
			return -EAGAIN;
	}
	if (!dev) {
		if (ofd_lock(fd, slot_off(v, k), F_WRLCK, F_OFD_SETLK))
			return -EAGAIN;	/* a live holder has it */
		/* Acquire: pairs with the release of FREE or ALIVE. */
		st = atomic_load_explicit(&sl->state, memory_order_acquire);
		if (st != ST_FREE && !slot_reclaim(v, k, st))
			goto unlock;
	}
	t = slot_ticket(sl);
	if (dev) {
		ret = shmk__on_release_cmpxchg(v->r, &sl->state, t, ST_VMASK,
					       ST_DEAD | t, &v->sh->deaths);
		if (ret == 0)
			p->notice = NOTICE_COND;
		else if (ret == -EOPNOTSUPP)
			p->notice = NOTICE_NONE;	/* armed after the CAS */
		else
			return ret;
	}
	SHMK_CP();
	/*
	 * Acquire: pairs with the release of FREE by the last occupant or
	 * reclaimer: its sweep is complete.
	 */
	if (!atomic_compare_exchange_strong_explicit(&sl->state, &free_st,
			ST_CLAIM | t, memory_order_acquire, memory_order_relaxed))
		goto unlock;
	if (dev && p->notice == NOTICE_NONE) {
		ret = shmk_region_on_release(v->r, &sl->state, ST_DEAD | t,
					     &v->sh->deaths);
		if (ret) {
			free_st = ST_CLAIM | t;
			SHMK_CP();
			/* Device backend only: no death notice could be armed. */
			/* Release: as a reclaimer's FREE (nothing to sweep). */
			atomic_compare_exchange_strong_explicit(&sl->state,
					&free_st, ST_FREE, memory_order_release,
					memory_order_relaxed);
			return ret;
		}
		p->notice = NOTICE_PLAIN;
	}
	SHMK_CP();
	/* Relaxed: shown by shmkctl only, published by the ALIVE CAS. */
	atomic_store_explicit(&sl->pid, (uint32_t)getpid(), memory_order_relaxed);
	SHMK_CP();
	atomic_store_explicit(&sl->flags, 0, memory_order_relaxed);
	p->slot = k;
	p->gen = t;
	chan_claim(p, k);
	/*
	 * Zero-trust: our data region, before we are ALIVE (consumers map
	 * it on our first sample).  Failing, the slot goes back to FREE:
	 * we hold nothing yet, and chan_claim() wrote nothing a next
	 * claimer keeps.
	 */
	if (svc_zt(v) && p->prod_ch >= 0) {
		ret = zt_create(p, k, t, 0);
		if (ret) {
			if (p->notice == NOTICE_PLAIN)
				notice_clear(p);
			free_st = ST_CLAIM | t;
			SHMK_CP();
			/* Zero-trust: no data region could be created. */
			/* Release: as a reclaimer's FREE (nothing to sweep). */
			atomic_compare_exchange_strong_explicit(&sl->state,
					&free_st, ST_FREE, memory_order_release,
					memory_order_relaxed);
			if (!dev)
				ofd_lock(fd, slot_off(v, k), F_UNLCK,
					 F_OFD_SETLK);
			return ret;
		}
	}
	/* Relaxed: published by the state CAS below. */
	for (i = 0; i < v->g.ewords; i++) {
		SHMK_CP();
		atomic_store_explicit(&events_of(v, k)[i],
				      0, memory_order_relaxed);
	}
	/* Relaxed: we sleep nowhere yet (a sweep cleared them already). */
	mask_clear(v, MASK_DATA, k);
	mask_clear(v, MASK_ROOM, k);
	mask_clear(v, MASK_WATCH, k);
	st = ST_CLAIM | t;
	SHMK_CP();
	/*
	 * Seq_cst (a release at least): pairs with the acquire loads of
	 * the state by consumers and recoverers; start, gen, cursors above
	 * are visible first.  From the exact CLAIM|t: if the slot changed
	 * under us (a hostile peer), it is not ours; try another.
	 */
	if (!atomic_compare_exchange_strong_explicit(&sl->state, &st,
			ST_ALIVE | t, memory_order_seq_cst, memory_order_relaxed)) {
		notice_clear(p);
		zt_close(p, 1);
		goto unlock;
	}
	/*
	 * A new server: clients waiting in shmk_client_send_wait() for one
	 * sleep on their room bit (its seq_cst fence is in wake_mask()).
	 */
	if (p->role == ROLE_SERVER)
		svc_wake_room(v);
	return 0;
unlock:
	if (!dev)
		ofd_lock(fd, slot_off(v, k), F_UNLCK, F_OFD_SETLK);
	return -EAGAIN;
}

static void port_free(struct shmk_port *p)
{
	free(p->hptr);
	free(p->hmap);
	free(p->loans);
	free(p);
}

int port_new(struct shmk_service *s, int role, unsigned int kind,
		    struct shmk_port **out)
{
	return port_new_h(s, role, kind, -1, out);
}

int port_new_h(struct shmk_service *s, int role, unsigned int kind,
	       int64_t history, struct shmk_port **out)
{
	const struct shmk_svc_config *c;
	uint32_t na, M, lo, hi, k;
	struct shmk_region *r;
	struct shmk_port *p;
	int ret, pass;

	if (!out)
		return -EINVAL;
	if (s->v.cfg.kind != kind)
		return -EPROTOTYPE;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->svc = s;
	p->role = role;
	p->pid = (int)getpid();
	p->prod_ch = p->cons_ch = -1;
	p->last = p->spare = NIL;
	p->wfd = p->sfd = -1;
	/*
	 * The port's own file on the very object the handle maps, checked:
	 * a name removed and created again since the handle was opened is
	 * another service (lib-audit #4).  Every size below comes from the
	 * port's own validated view.
	 */
	ret = shmk_region_open(s->rname, 0, &r);
	if (ret)
		goto err;
	ret = same_object(r, s->v.r);
	if (ret == 1)
		ret = view_attach(&p->v, r);
	else if (ret == 0)
		ret = -ESTALE;
	if (!ret && memcmp(&p->v.cfg, &s->v.cfg, sizeof(p->v.cfg)))
		ret = -ESTALE;
	p->v.zt_id = s->v.zt_id;
	if (ret)
		goto err_r;
	c = &p->v.cfg;
	na = c->max_publishers;
	p->history = history >= 0 && history < c->history ?
		     (uint32_t)history : c->history;
	M = p->v.g.nslots;
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
	/* A-roles take slots [0, na), B-roles [na, M). */
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
		ret = -ENOMEM;
		goto err_r;
	}
	p->held = p->loans + c->max_loans;
	p->hptr = calloc(c->max_borrow, sizeof(*p->hptr));
	p->hmap = calloc(c->max_borrow, sizeof(*p->hmap));
	if (!p->hptr || !p->hmap) {
		ret = -ENOMEM;
		goto err_r;
	}
	for (pass = 0; pass < 2; pass++) {
		for (k = lo; k < hi; k++) {
			ret = claim_slot(p, k, pass == 0);
			if (ret == 0) {
				p->hint = k * 7919U;
				*out = p;
				return 0;
			}
			if (ret != -EAGAIN)
				goto err_clear;
		}
		if (pass == 0 && view_recover(&s->v) <= 0)
			break;
	}
	ret = -EBUSY;
err_clear:
	/* A notice armed for a slot we did not get would wake everyone. */
	if (shmk_region_backend(r) == SHMK_BACKEND_DEVICE)
		(void)shmk_region_on_release(r, NULL, 0, NULL);
err_r:
	shmk_region_close(r);
err:
	port_free(p);
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

SHMK_API int shmk_sub_open_opts(struct shmk_service *s,
				const struct shmk_sub_opts *opts,
				struct shmk_port **out)
{
	struct shmk_sub_opts o;
	uint32_t size, i;
	const unsigned char *b = (const unsigned char *)opts;

	if (!opts)
		return shmk_sub_open(s, out);
	if (!s || !out)
		return -EINVAL;
	size = opts->size;
	if (size < offsetof(struct shmk_sub_opts, flags) || size > 4096) {
		svc_err("opts->size: %u is not in %zu..4096 (set it to "
			"sizeof(struct shmk_sub_opts))", size,
			offsetof(struct shmk_sub_opts, flags));
		return -EINVAL;
	}
	for (i = sizeof(o); i < size; i++)
		if (b[i]) {
			svc_err("opts->size: byte %u, beyond the fields this "
				"library knows, is not 0", i);
			return -E2BIG;
		}
	memset(&o, 0, sizeof(o));
	memcpy(&o, opts, size < sizeof(o) ? size : sizeof(o));
	if (o.flags || o.reserved) {
		svc_err("opts: flags and reserved must be 0");
		return -EINVAL;
	}
	if (s->v.cfg.kind == SHMK_SVC_PUBSUB && o.history > s->v.cfg.history) {
		svc_err("opts->history: %u is more than the service's "
			"history, %u", o.history, s->v.cfg.history);
		return -EINVAL;
	}
	return port_new_h(s, ROLE_SUB, SHMK_SVC_PUBSUB, o.history, out);
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

/*
 * Leave (in the process that opened the port): take our own slot from
 * ALIVE to RECLAIM (a CAS from our exact state: a slot that is no longer
 * ours is left alone), sweep it, then FREE by CAS from our RECLAIM.  A
 * plain death notice (older module) is cleared before FREE, its result
 * checked: it must not hit the next occupant, so if the clear fails the
 * slot stays in RECLAIM and our release turns it DEAD for a reclaimer.
 * The conditional one stays armed: it matches only our generation, and
 * clearing it would strand the slot if we died before FREE.  memfd: the
 * lock is dropped only after FREE.
 */
SHMK_API void shmk_port_close(struct shmk_port *p)
{
	struct svc_slot *sl;
	uint32_t i, st, mine;
	int dev, free_ok = 1;

	if (!p)
		return;
	/*
	 * A fork() child (atexit(), a C++ destructor) shares the parent's
	 * open file, so its lock or death notice, and its slot: it only
	 * unmaps and frees its copy (lib-audit #20).
	 */
	if (p->pid != (int)getpid()) {
		svc_watch_close(p);
		zt_close(p, 0);
		shmk_region_close(p->v.r);
		port_free(p);
		return;
	}
	dev = shmk_region_backend(p->v.r) == SHMK_BACKEND_DEVICE;
	for (i = 0; i < p->nloans; i++)
		chunk_put(&p->v, p->loans[i], p->slot);
	if (p->spare != NIL)
		chunk_put(&p->v, p->spare, p->slot);
	for (i = 0; i < p->nheld; i++)
		chunk_put(&p->v, p->held[i], p->slot);
	sl = &p->v.slots[p->slot];
	st = ST_ALIVE | p->gen;
	mine = ST_RECLAIM | p->gen;
	/* Our sockets; the sweep below clears our watch bit. */
	svc_watch_close(p);
	SHMK_CP();
	/*
	 * Seq_cst: as slot_reclaim()'s CAS.  RECLAIM|gen still matches our
	 * conditional notice: if we die mid-sweep it becomes DEAD|gen.
	 */
	if (atomic_compare_exchange_strong_explicit(&sl->state, &st, mine,
			memory_order_seq_cst, memory_order_relaxed)) {
		slot_sweep(&p->v, p->slot);
		/*
		 * Only a plain notice must go before FREE: it would hit the
		 * next occupant.  A conditional one matches nothing once the
		 * slot is FREE, and clearing it would leave a window (dead
		 * after the clear, before FREE) in which nobody can ever
		 * reclaim the slot.
		 */
		if (dev && p->notice == NOTICE_PLAIN &&
		    shmk_region_on_release(p->v.r, NULL, 0, NULL))
			free_ok = 0;
		if (free_ok) {
			SHMK_CP();
			/* Relaxed: published by the release CAS below. */
			atomic_store_explicit(&sl->flags, 0, memory_order_relaxed);
			SHMK_CP();
			/* Release: pairs with the claimer's acquire CAS. */
			atomic_compare_exchange_strong_explicit(&sl->state, &mine,
					ST_FREE, memory_order_release,
					memory_order_relaxed);
		}
		/* Producers blocked on us as a consumer now have room. */
		svc_wake_room(&p->v);
	}
	if (!dev)
		ofd_lock(shmk_region_fd(p->v.r), slot_off(&p->v, p->slot),
			 F_UNLCK, F_OFD_SETLK);
	/* Zero-trust: our data region, and the producers' we mapped. */
	zt_close(p, 1);
	shmk_region_close(p->v.r);
	port_free(p);
}
