// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: sleeping and waking.  Every blocking operation waits
 * on the service's epoch word.
 */
#include <errno.h>
#include <time.h>

#include "svc.h"

/* Wake every sleeper of the service if there may be one. */
void svc_kick(const struct svc_view *v)
{
	/*
	 * Seq_cst fence: Dekker pairing with the seq_cst increment of
	 * sleepers in svc_block() followed by its re-check: either the
	 * sleeper's re-check sees what we published before this call, or we
	 * see its increment here and wake it.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/* Relaxed: ordered by the fence above. */
	if (atomic_load_explicit(&v->sh->sleepers, memory_order_relaxed)) {
		SHMK_CP();
		/* Release: pairs with the sleeper's acquire load of epoch. */
		atomic_fetch_add_explicit(&v->sh->epoch, 1, memory_order_release);
		shmk_wake(v->r, (const void *)&v->sh->epoch, SHMK_WAKE_ALL);
	}
}

int svc_block(struct shmk_port *p, try_fn fn, void *arg,
		     int64_t timeout_ns)
{
	struct svc_shared *sh = p->v.sh;
	int64_t deadline = shmk_deadline(timeout_ns), left;
	int ret, i;

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
		/* Acquire: pairs with the release increment in svc_kick(). */
		uint32_t e = atomic_load_explicit(&sh->epoch, memory_order_acquire);
		SHMK_CP();
		/* Seq_cst: the Dekker side of svc_kick()'s fence. */
		atomic_fetch_add_explicit(&sh->sleepers, 1, memory_order_seq_cst);
		ret = fn(p, arg);
		if (ret == -EAGAIN) {
			left = shmk_remaining(deadline);
			if (left == 0) {
				ret = -ETIMEDOUT;
			} else {
				int w = shmk_wait(p->v.r, (const void *)&sh->epoch, e,
						  left < 0 || left > SLEEP_SLICE_NS ?
						  SLEEP_SLICE_NS : left);
				if (w == -EINTR)
					ret = -EINTR;
				else if (w == -ETIMEDOUT)
					view_recover(&p->svc->v);
			}
		}
		SHMK_CP();
		/* Relaxed: a hint for wakers only. */
		atomic_fetch_sub_explicit(&sh->sleepers, 1, memory_order_relaxed);
		if (ret != -EAGAIN)
			return ret;
	}
}
