// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: participant slots, how their liveness is judged, and
 * recovery (sweeping a dead participant's references).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

static int pid_dead(uint32_t pid)
{
	return pid == 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
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

/* Is the holder of slot @k (in state @st) gone? */
static int slot_dead(const struct svc_view *v, uint32_t k, uint32_t st)
{
	struct svc_slot *s = &v->slots[k];

	switch (ST_TAG(st)) {
	case ST_DEAD:
		return 1;
	case ST_CLAIM:
	case ST_RECLAIM:
		return pid_dead(ST_VAL(st));
	case ST_ALIVE:
		/* Relaxed: written before the ALIVE store we acquired. */
		if (atomic_load_explicit(&s->flags, memory_order_relaxed) &
		    SLOT_PIDCHECK)
			return pid_dead(atomic_load_explicit(&s->pid,
						memory_order_relaxed));
		if (shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE)
			return 0;	/* the module will write ST_DEAD */
		return ofd_lock(shmk_region_fd(v->r), slot_off(v, k), F_WRLCK,
				F_OFD_GETLK) == 0;
	default:
		return 0;
	}
}

/* Clear bit @k on every chunk and event word: slot @k holds nothing. */
void slot_sweep(const struct svc_view *v, uint32_t k)
{
	uint64_t bit = 1ULL << k;
	uint32_t i;

	for (i = 0; i < v->g.nchunks; i++) {
		/* Relaxed: a guess; the RMW below decides. */
		if (!(atomic_load_explicit(holders_of(v, i),
					   memory_order_relaxed) & bit))
			continue;
		SHMK_CP();
		/*
		 * Release, after the slot's state left ALIVE: a consumer
		 * whose acquire fetch_or on this word comes later in its
		 * modification order then sees the new state on its re-load
		 * and gives the chunk back (see cons_try_one()).  Also pairs
		 * with the allocating CAS's acquire.
		 */
		atomic_fetch_and_explicit(holders_of(v, i), ~bit,
					  memory_order_release);
	}
	for (i = 0; i < v->g.ewords; i++) {
		SHMK_CP();
		/* Relaxed: nobody reads a non-ALIVE listener's bits. */
		atomic_store_explicit(&v->events[(uint64_t)k * v->g.ewords + i],
				      0, memory_order_relaxed);
	}
}

/* Take slot @k from state @expect, sweep it, free it.  1 when done. */
static int slot_reclaim(const struct svc_view *v, uint32_t k, uint32_t expect)
{
	struct svc_slot *s = &v->slots[k];
	uint32_t mine = ST_RECLAIM | ((uint32_t)getpid() & 0x0fffffffU);
	SHMK_CP();

	/*
	 * Seq_cst (acquire and release would do): the sweep's release
	 * RMWs below come after this state change, which consumers that
	 * acquire a later holders value see (cons_try_one()).
	 */
	if (!atomic_compare_exchange_strong_explicit(&s->state, &expect, mine,
			memory_order_seq_cst, memory_order_relaxed))
		return 0;
	slot_sweep(v, k);
	SHMK_CP();
	/* Relaxed: published by the release store of FREE. */
	atomic_store_explicit(&s->flags, 0, memory_order_relaxed);
	SHMK_CP();
	/* Release: pairs with the claimer's acquire CAS from FREE. */
	atomic_store_explicit(&s->state, ST_FREE, memory_order_release);
	svc_kick(v);
	return 1;
}

int view_recover(const struct svc_view *v)
{
	uint32_t k, st;
	int n = 0;

	for (k = 0; k < v->g.nslots; k++) {
		/* Acquire: pairs with the claimer's release store of ALIVE. */
		st = atomic_load_explicit(&v->slots[k].state, memory_order_acquire);
		if (st != ST_FREE && slot_dead(v, k, st))
			n += slot_reclaim(v, k, st);
	}
	return n;
}

SHMK_API int shmk_service_recover(struct shmk_service *s)
{
	return s ? view_recover(&s->v) : -EINVAL;
}
