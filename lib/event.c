// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk events: notifiers set bits in each live listener's event
 * words and wake it.
 */
#include <errno.h>
#include <stddef.h>

#include "svc.h"

/* Events */

SHMK_API int shmk_notifier_notify(struct shmk_port *p, uint32_t id)
{
	const struct svc_view *v;
	uint32_t j;
	int n = 0;

	if (!p || p->role != ROLE_NOTIFIER)
		return -EINVAL;
	v = &p->v;
	if (id >= v->cfg.max_events)
		return -EINVAL;
	for (j = p->clo; j < p->chi; j++) {
		/* Acquire: pairs with the claimer's store of ALIVE. */
		uint32_t st = atomic_load_explicit(&v->slots[j].state,
						   memory_order_acquire);

		if (ST_TAG(st) != ST_ALIVE)
			continue;
		SHMK_CP();
		/*
		 * Release: pairs with the listener's acquire exchange: what
		 * we wrote before notifying is visible to it.
		 */
		atomic_fetch_or_explicit(&events_of(v, j)[id / 32],
					 1U << (id % 32), memory_order_release);
		n++;
	}
	/*
	 * Its seq_cst fence orders the fetch_ors before the mask loads; it
	 * wakes the live sleepers and armed fds of our listeners' range.
	 */
	svc_wake_events(p, p->clo, p->chi);
	return n;
}

struct ev_arg {
	uint32_t *ids;
	unsigned int max;
};

static int listener_try(struct shmk_port *p, void *arg)
{
	struct ev_arg *a = arg;
	const struct svc_view *v = &p->v;
	_Atomic uint32_t *w = events_of(v, p->slot);
	uint32_t nev = v->cfg.max_events, i, x, b, valid;
	unsigned int n = 0;

	for (i = 0; i < v->g.ewords && n < a->max; i++) {
		/* Ids at or beyond max_events do not exist (lib-audit #14). */
		valid = i + 1 < v->g.ewords || nev % 32 == 0 ? 0xffffffffU :
			(1U << (nev % 32)) - 1;
		/* Relaxed: a guess; the exchange decides. */
		if (!(atomic_load_explicit(&w[i], memory_order_relaxed) & valid))
			continue;
		SHMK_CP();
		/* Acquire: pairs with the notifier's release fetch_or. */
		x = atomic_exchange_explicit(&w[i], 0, memory_order_acquire) & valid;
		for (b = 0; b < 32 && x; b++) {
			if (!(x & (1U << b)))
				continue;
			if (n == a->max)
				break;
			a->ids[n++] = i * 32 + b;
			x &= ~(1U << b);
		}
		if (x) {
			SHMK_CP();
			/* Relaxed: our own bits back, for the next call. */
			atomic_fetch_or_explicit(&w[i], x, memory_order_relaxed);
		}
	}
	return n ? (int)n : -EAGAIN;
}

SHMK_API int shmk_listener_wait(struct shmk_port *p, uint32_t *ids,
				unsigned int max, int64_t timeout_ns)
{
	struct ev_arg a = { ids, max };

	if (!p || !ids || !max || p->role != ROLE_LISTENER)
		return -EINVAL;
	return svc_block_on(p, listener_try, &a, timeout_ns, SLEEP_DATA);
}

/* The name of LIBSHMK_0.2: shmk_port_fd() for listeners. */
SHMK_API int shmk_listener_fd(struct shmk_port *p)
{
	if (!p || p->role != ROLE_LISTENER)
		return -EINVAL;
	return shmk_port_fd(p);
}
