// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: sleeping and waking.
 *
 * A blocked port sleeps on its own slot's wake word, with its bit set in
 * one of the two sleeping masks of the service (data or room).  A waker
 * wakes exactly the slots it has something for whose bit is set and
 * which are alive, so a dead sleeper costs nothing once swept, and a
 * response to one client wakes no other.  The no-lost-wake-up argument
 * is in Documentation/messaging.rst ("Sleeping and waking").
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "svc.h"

/* Wake syscalls this process made (a statistic for the tests). */
_Atomic unsigned long shmk__svc_wakes;

/*
 * memfd's sleep slice; a test that must see every missed wake-up hang
 * raises it.
 */
int64_t shmk__svc_slice_ns = SLEEP_SLICE_NS;

/* Wake the live slots of @want whose bit is set in @mask. */
static void wake_mask(const struct svc_view *v, _Atomic uint64_t *mask,
		      uint64_t want)
{
	uint64_t m;
	uint32_t k;

	/*
	 * Seq_cst fence: the waker's half of the Dekker pairing with
	 * svc_block_on() (sleeper: set bit, fence, re-check).  Our store of
	 * what the sleeper waits for precedes this fence; the fences are
	 * totally ordered, so either the sleeper's re-check sees our store,
	 * or our load below sees its bit.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/*
	 * Acquire: pairs with the sleeper's seq_cst fetch_or of its bit,
	 * which follows its store of ALIVE: the state check below sees it.
	 */
	m = atomic_load_explicit(mask, memory_order_acquire) & want;
	while (m) {
		struct svc_slot *sl;

		k = (uint32_t)__builtin_ctzll(m);
		m &= m - 1;
		if (k >= v->g.nslots)	/* @want is ours, but be safe */
			break;
		sl = &v->slots[k];
		/* Relaxed: ordered by the acquire above; a dead slot sleeps not. */
		if (ST_TAG(atomic_load_explicit(&sl->state, memory_order_relaxed)) !=
		    ST_ALIVE)
			continue;
		SHMK_CP();
		/*
		 * Release: pairs with the sleeper's acquire load of its wake
		 * word: if it reads this increment, our store is visible to
		 * its re-check; if not, its wait returns at once (-EAGAIN) or
		 * is woken by the wake below.
		 */
		atomic_fetch_add_explicit(&sl->wake, 1, memory_order_release);
		shmk_wake(v->r, (const void *)&sl->wake, SHMK_WAKE_ALL);
		/* Relaxed: a statistic. */
		atomic_fetch_add_explicit(&shmk__svc_wakes, 1, memory_order_relaxed);
	}
}

static uint64_t range_mask(uint32_t lo, uint32_t hi)
{
	uint64_t m = hi >= 64 ? ~0ULL : (1ULL << hi) - 1;

	return lo >= 64 ? 0 : m & ~((1ULL << lo) - 1);
}

/*
 * After a producer published into ring @ri: wake its consumers (the
 * server wakes the one client whose ring it wrote).
 */
void svc_wake_cons(const struct shmk_port *p, uint32_t ri)
{
	uint64_t want = p->role != ROLE_SERVER ? range_mask(p->clo, p->chi) :
			ri < 64 ? 1ULL << ri : 0;

	wake_mask(&p->v, &p->v.sh->sleep_data, want);
}

/* After a consumer advanced its cursor on producer @i: wake @i if it waits. */
void svc_wake_prod(const struct svc_view *v, uint32_t i)
{
	if (i < 64)
		wake_mask(v, &v->sh->sleep_room, 1ULL << i);
}

/* After a notifier set the event bits of the listeners in @want. */
void svc_wake_listeners(const struct svc_view *v, uint64_t want)
{
	wake_mask(v, &v->sh->sleep_data, want);
}

/* A consumer left or was reclaimed: every producer waiting for room. */
void svc_wake_room(const struct svc_view *v)
{
	wake_mask(v, &v->sh->sleep_room, ~0ULL);
}

/* Device: sleep until our wake word or the death counter moves. */
static int sleep_device(const struct svc_view *v, const struct svc_slot *sl,
			uint32_t e, uint32_t d, int64_t left)
{
	struct shmk_waitv_entry ent[2];
	struct shmk_waitv w;
	const unsigned char *b = shmk_region_base(v->r);

	memset(ent, 0, sizeof(ent));
	ent[0].offset = (uint64_t)((const unsigned char *)&sl->wake - b);
	ent[0].expected = e;
	ent[0].bitset = SHMK_BITSET_ANY;
	ent[1].offset = (uint64_t)((const unsigned char *)&v->sh->deaths - b);
	ent[1].expected = d;
	ent[1].bitset = SHMK_BITSET_ANY;
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.entries = (uint64_t)(uintptr_t)ent;
	w.nr = 2;
	if (left >= 0) {
		w.flags = SHMK_WAIT_TIMEOUT;
		w.timeout_ns = (uint64_t)left;
	}
	return ioctl(shmk_region_fd(v->r), SHMK_IOC_WAITV, &w) < 0 ? -errno : 0;
}

/*
 * memfd: nothing announces a death, so a sleeper wakes every slice; one
 * recovery per slice per service handle (so per process, normally), not
 * one per sleeper.
 */
static void slice_recover(struct shmk_service *s)
{
	int64_t now = shmk_now_ns();
	/* Relaxed: a rate limit; the CAS picks one thread per slice. */
	int64_t last = atomic_load_explicit(&s->recover_ns, memory_order_relaxed);

	if (now - last < shmk__svc_slice_ns ||
	    !atomic_compare_exchange_strong_explicit(&s->recover_ns, &last, now,
			memory_order_relaxed, memory_order_relaxed))
		return;
	view_recover(&s->v);
}

/*
 * Call @fn until it returns something other than -EAGAIN, sleeping on the
 * port's wake word with its bit set in the @which mask in between; up to
 * @timeout_ns (0: one try; negative: forever).  A wait that fails with
 * anything but a wake, a timeout or a signal is returned: never a spin.
 */
int svc_block_on(struct shmk_port *p, try_fn fn, void *arg,
		 int64_t timeout_ns, int which)
{
	const struct svc_view *v = &p->v;
	struct svc_slot *sl = &v->slots[p->slot];
	_Atomic uint64_t *mask = which == SLEEP_DATA ? &v->sh->sleep_data :
				 &v->sh->sleep_room;
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	/* A watching listener's bit stays set for as long as it watches. */
	int keep = which == SLEEP_DATA && p->watching;
	int64_t deadline = shmk_deadline(timeout_ns), left;
	uint32_t e, d;
	int ret, w, i;

	for (;;) {
		ret = fn(p, arg);
		if (ret != -EAGAIN || timeout_ns == 0)
			return ret;
		for (i = 0; i < 64; i++) {
			shmk_cpu_relax();
			ret = fn(p, arg);
			if (ret != -EAGAIN)
				return ret;
		}
		/* Acquire: pairs with the waker's release increment. */
		e = atomic_load_explicit(&sl->wake, memory_order_acquire);
		/* Acquire: pairs with the module's increment after its store. */
		d = atomic_load_explicit(&v->sh->deaths, memory_order_acquire);
		SHMK_CP();
		/* Seq_cst: with the fence below, the sleeper's half of the Dekker. */
		atomic_fetch_or_explicit(mask, p->bit, memory_order_seq_cst);
		/*
		 * Seq_cst fence before the re-check, whatever orders @fn's
		 * loads have: pairs with wake_mask()'s fence (lib-audit #13).
		 */
		atomic_thread_fence(memory_order_seq_cst);
		ret = fn(p, arg);
		if (ret == -EAGAIN) {
			left = shmk_remaining(deadline);
			if (left == 0) {
				ret = -ETIMEDOUT;
			} else if (dev) {
				w = sleep_device(v, sl, e, d, left);
				if (w == -EINTR || (w && w != -EAGAIN &&
						    w != -ETIMEDOUT))
					ret = w;
				/* Relaxed: did someone die? Sweep them now. */
				else if (atomic_load_explicit(&v->sh->deaths,
						memory_order_relaxed) != d)
					view_recover(&p->svc->v);
			} else {
				w = shmk_wait(v->r, (const void *)&sl->wake, e,
					      left < 0 || left > shmk__svc_slice_ns ?
					      shmk__svc_slice_ns : left);
				if (w == -ETIMEDOUT)
					slice_recover(p->svc);
				else if (w && w != -EAGAIN)
					ret = w;	/* -EINTR, or a broken wait */
			}
		}
		if (!keep) {
			SHMK_CP();
			/* Relaxed: only we set it; a late wake is spurious only. */
			atomic_fetch_and_explicit(mask, ~p->bit, memory_order_relaxed);
		}
		if (ret != -EAGAIN)
			return ret;
	}
}

/* Consumers wait for data; a drain (and back-pressure, see chan.c) for room. */
int svc_block(struct shmk_port *p, try_fn fn, void *arg, int64_t timeout_ns)
{
	return svc_block_on(p, fn, arg, timeout_ns,
			    fn == drained ? SLEEP_ROOM : SLEEP_DATA);
}
