// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: participant slots, how their liveness is judged, and
 * recovery (sweeping a dead participant's references).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "svc.h"

/* Death notices and liveness */

SHMK_API int shmk_region_on_release(const struct shmk_region *r,
				    const void *slot, uint32_t value,
				    const void *counter)
{
	struct shmk_on_release a;
	uintptr_t b;

	if (!r)
		return -EINVAL;
	if (r->backend != SHMK_BACKEND_DEVICE)
		return -EOPNOTSUPP;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	b = (uintptr_t)r->base;
	if (!slot) {
		a.flags = SHMK_ON_RELEASE_CLEAR;
	} else {
		if (!counter || (uintptr_t)slot < b || (uintptr_t)counter < b ||
		    (uintptr_t)slot - b > r->size - 4 ||
		    (uintptr_t)counter - b > r->size - 4)
			return -EINVAL;
		a.slot_offset = (uintptr_t)slot - b;
		a.slot_value = value;
		a.counter_offset = (uintptr_t)counter - b;
	}
	return ioctl(r->fd, SHMK_IOC_ON_RELEASE, &a) < 0 ? -errno : 0;
}

/* memfd: an OFD write lock on the byte at the slot's offset. */
int ofd_lock(int fd, uint64_t off, short type, int cmd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)off;
	fl.l_len = 1;
	if (fcntl(fd, cmd, &fl) < 0)
		return -errno;
	return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

uint64_t slot_off(const struct svc_view *v, uint32_t k)
{
	return v->g.slots_off + (uint64_t)k * sizeof(struct svc_slot);
}

/*
 * A fresh generation or reclaim token for slot @s: never 0, and distinct
 * from the last 2^28 - 1 handed out for this slot, so a death notice armed
 * for it cannot match another attempt's state.
 */
uint32_t slot_ticket(struct svc_slot *s)
{
	uint32_t t;

	do {
		SHMK_CP();
		/*
		 * Relaxed: only uniqueness matters (every RMW reads the
		 * latest value); the state CAS that follows orders the rest.
		 */
		t = (atomic_fetch_add_explicit(&s->gen, 1, memory_order_relaxed) +
		     1) & ST_VMASK;
	} while (!t);
	return t;
}

/*
 * Clear bit @k on every chunk, event word and sleeping mask: slot @k
 * holds nothing and sleeps nowhere.
 */
void slot_sweep(const struct svc_view *v, uint32_t k)
{
	uint32_t i;

	for (i = 0; i < v->g.nchunks; i++) {
		/* Relaxed: a guess; the RMW below decides. */
		if (!(atomic_load_explicit(hold_word(v, i, k),
					   memory_order_relaxed) & SLOT_BIT(k)))
			continue;
		/*
		 * Release (seq_cst, in hold_drop()), after the slot's state
		 * left ALIVE: a consumer whose acquire fetch_or (or load, on
		 * another word) reads this word later in its modification
		 * order then sees the new state on its re-load and gives the
		 * chunk back (see cons_try_one(), hold_add()).  Also pairs
		 * with the allocator's acquire (hold_claim()).
		 */
		hold_drop(v, i, k);
	}
	for (i = 0; i < v->g.ewords; i++) {
		SHMK_CP();
		/* Relaxed: nobody reads a non-ALIVE listener's bits. */
		atomic_store_explicit(&events_of(v, k)[i],
				      0, memory_order_relaxed);
	}
	/*
	 * Relaxed (mask_clear()): the masks only decide whom a waker wakes,
	 * and slot k's port is gone or leaving (its state is not ALIVE):
	 * nobody must wake it, and nobody else sets or clears bit k until
	 * the slot is claimed again, after the release of FREE.  The watch
	 * bit: a dead watcher's armed fd gets no datagram again.
	 */
	mask_clear(v, MASK_DATA, k);
	mask_clear(v, MASK_ROOM, k);
	mask_clear(v, MASK_WATCH, k);
}

/*
 * Slot @k held @st and its holder is gone (memfd: we hold the slot's
 * lock; device: the module wrote DEAD): take it with a token of our own,
 * sweep it, free it.  1 when we freed it.
 *
 * Device backend: a reclaimer that dies mid-sweep must not leave the slot
 * in RECLAIM for good.  Before the CAS it arms, on the file it reclaims
 * through, a conditional notice "RECLAIM|u -> DEAD|u" (full mask): if it
 * dies, the slot is DEAD again and the next reclaimer starts the sweep
 * over, which is idempotent.  u is unique to this attempt, so the notice
 * of a reclaimer that lost the CAS, or finished, matches nothing.
 * Without the conditional notice (an older module) the plain notice is
 * armed after the CAS and cleared before FREE (FREE only when the clear
 * worked); a reclaimer killed between its CAS and that ioctl leaves the
 * slot in RECLAIM: one slot lost, never one slot shared.
 */
int slot_reclaim(const struct svc_view *v, uint32_t k, uint32_t st)
{
	struct svc_slot *s = &v->slots[k];
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	int mode = NOTICE_NONE, ret;
	uint32_t u = slot_ticket(s), mine = ST_RECLAIM | u, cur = mine;

	if (dev) {
		ret = shmk__on_release_cmpxchg(v->r, &s->state, mine, 0xffffffffU,
					       ST_DEAD | u, &v->sh->deaths);
		if (ret == 0)
			mode = NOTICE_COND;
		else if (ret == -EOPNOTSUPP)
			mode = NOTICE_PLAIN;
		else
			return 0;
	}
	SHMK_CP();
	/*
	 * Seq_cst (acquire and release would do): the sweep's release
	 * RMWs below come after this state change, which consumers that
	 * acquire a later holders value see (cons_try_one()).  From the
	 * exact state we judged: a slot that changed meanwhile is not ours.
	 */
	if (!atomic_compare_exchange_strong_explicit(&s->state, &st, mine,
			memory_order_seq_cst, memory_order_relaxed)) {
		if (mode == NOTICE_COND)
			shmk_region_on_release(v->r, NULL, 0, NULL);
		return 0;
	}
	if (mode == NOTICE_PLAIN)
		(void)shmk_region_on_release(v->r, &s->state, ST_DEAD | u,
					     &v->sh->deaths);
	slot_sweep(v, k);
	/*
	 * Zero-trust, memfd: the dead producer's data region would stay
	 * named in /dev/shm (nobody opens its name read-write again to
	 * sweep it), as would one of a producer before it whose reclaimer
	 * died (its generation is not in RECLAIM|u): the slot is ours, so
	 * every data region named for it is dead.  Its holders keep their
	 * mappings.  Best effort; the device forgets a region's name with
	 * its last handle.
	 */
	if (svc_zt(v) && !dev)
		zt_unlink_slot(v, k);
	/*
	 * Before FREE: a plain notice must not hit the next occupant.  A
	 * conditional one (RECLAIM|u -> DEAD|u) matches nothing once the
	 * slot is FREE; clearing it would leave a window in which a
	 * reclaimer killed after the clear strands the slot in RECLAIM.
	 */
	if (dev && mode == NOTICE_PLAIN &&
	    shmk_region_on_release(v->r, NULL, 0, NULL))
		return 1;	/* left in RECLAIM; our release turns it DEAD */
	SHMK_CP();
	/* Relaxed: published by the release CAS to FREE. */
	atomic_store_explicit(&s->flags, 0, memory_order_relaxed);
	SHMK_CP();
	/*
	 * Release: pairs with the claimer's acquire CAS from FREE.  A CAS
	 * from our own token: if another reclaimer took over (it judged us
	 * dead), the slot is its to free.
	 */
	atomic_compare_exchange_strong_explicit(&s->state, &cur, ST_FREE,
			memory_order_release, memory_order_relaxed);
	/* Producers blocked on this consumer now have room. */
	svc_wake_room(v);
	return 1;
}

/* The service handle whose view is @v (every caller passes &s->v). */
static struct shmk_service *svc_of(const struct svc_view *v)
{
	return (struct shmk_service *)((char *)v -
				       offsetof(struct shmk_service, v));
}

/*
 * Reclaim every slot whose holder is gone; the number freed.  Judged only
 * by the kernel: memfd, the slot's OFD lock (held by every live claimer,
 * occupant and reclaimer: a slot whose lock we get is abandoned, whatever
 * its state); device, the DEAD the module wrote.  One thread per service
 * handle at a time: they share the handle's file, its lock and its notice.
 */
int view_recover(const struct svc_view *v)
{
	struct shmk_service *svc = svc_of(v);
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	int fd = shmk_region_fd(v->r), n = 0;
	uint32_t k, st;

	int64_t deadline = -1;

	/*
	 * Acquire: pairs with the release store that ends another thread's
	 * pass.  Wait for it (a pass is bounded) so that our caller's
	 * decision rests on a finished pass; give up after a second (a
	 * fork() child may have inherited the flag of a thread it lacks).
	 */
	while (atomic_exchange_explicit(&svc->recovering, 1,
					memory_order_acquire)) {
		if (deadline < 0)
			deadline = shmk_deadline(1000000000LL);
		else if (!shmk_remaining(deadline))
			return 0;
		sched_yield();
	}
	for (k = 0; k < v->g.nslots; k++) {
		/* Acquire: pairs with the claimer's store of ALIVE. */
		st = atomic_load_explicit(&v->slots[k].state, memory_order_acquire);
		if (st == ST_FREE)
			continue;
		if (dev) {
			/* CLAIM, ALIVE, RECLAIM: a notice is armed for them. */
			if (ST_TAG(st) == ST_CLAIM || ST_TAG(st) == ST_ALIVE ||
			    ST_TAG(st) == ST_RECLAIM)
				continue;
			n += slot_reclaim(v, k, st);
			continue;
		}
		/* Held by a live participant: the common case, one syscall. */
		if (ofd_lock(fd, slot_off(v, k), F_WRLCK, F_OFD_GETLK) != 0)
			continue;
		if (ofd_lock(fd, slot_off(v, k), F_WRLCK, F_OFD_SETLK))
			continue;	/* taken meanwhile */
		/* Acquire: as above; read again now that the lock is ours. */
		st = atomic_load_explicit(&v->slots[k].state, memory_order_acquire);
		if (st != ST_FREE)
			n += slot_reclaim(v, k, st);
		ofd_lock(fd, slot_off(v, k), F_UNLCK, F_OFD_SETLK);
	}
	/* Release: our recovery is done before the next thread's. */
	atomic_store_explicit(&svc->recovering, 0, memory_order_release);
	return n;
}

SHMK_API uint32_t shmk_service_dead(const struct shmk_service *s)
{
	const struct svc_view *v = &s->v;
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	uint32_t k, st, n = 0;

	for (k = 0; k < v->g.nslots; k++) {
		/* Relaxed: a snapshot. */
		st = atomic_load_explicit(&v->slots[k].state, memory_order_relaxed);
		if (st == ST_FREE)
			continue;
		if (dev ? ST_TAG(st) != ST_CLAIM && ST_TAG(st) != ST_ALIVE &&
			  ST_TAG(st) != ST_RECLAIM :
		    ofd_lock(shmk_region_fd(v->r), slot_off(v, k), F_WRLCK,
			     F_OFD_GETLK) == 0)
			n++;
	}
	return n;
}

SHMK_API int shmk_service_recover(struct shmk_service *s)
{
	return s ? view_recover(&s->v) : -EINVAL;
}
