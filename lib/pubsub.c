// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk publish-subscribe: many publishers, many subscribers, each
 * subscriber following every publisher's ring (chan.c).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "svc.h"


SHMK_API int shmk_pub_drain(struct shmk_port *p, int64_t timeout_ns)
{
	if (!p || p->prod_ch < 0)
		return -EINVAL;
	return svc_block(p, drained, NULL, timeout_ns);
}

SHMK_API int shmk_pub_close_linger(struct shmk_port *p, int64_t timeout_ns)
{
	int ret = 0;

	if (!p)
		return 0;
	if (p->role != ROLE_PUB)
		ret = -EINVAL;
	else if (p->pid == (int)getpid())	/* a fork() child only frees */
		/*
		 * Every live subscriber's cursor at our tail: each took its
		 * reference on every sample we published (cons_try_one()
		 * stores the cursor after its fetch_or), so the sweep of
		 * our slot by the close below takes nothing from them.
		 */
		ret = svc_block(p, drained, NULL, timeout_ns);
	shmk_port_close(p);
	return ret == -EAGAIN ? -ETIMEDOUT : ret;
}

SHMK_API int shmk_pub_publish(struct shmk_port *p, void *payload, size_t len,
			      int64_t timeout_ns)
{
	if (!p || p->role != ROLE_PUB)
		return -EINVAL;
	/* The policy of the handle's validated copy (a port's own may lag). */
	return prod_publish(p, payload, len, 0, NIL, 0,
			    (int)p->svc->v.cfg.overflow, timeout_ns);
}

SHMK_API int shmk_pub_send_copy(struct shmk_port *p, const void *data,
				size_t len, int64_t timeout_ns)
{
	void *pl;
	int ret;

	if (!p || (len && !data))
		return -EINVAL;
	if (len > p->v.cfg.payload_max || p->prod_ch < 0)
		return -EINVAL;
	/* Dynamic payloads: a chunk that holds @len (svc_zt.c). */
	ret = loan_bytes(p, len, &pl);
	if (ret < 0)
		return ret;
	SHMK_CP();
	memcpy(pl, data, len);
	ret = shmk_pub_publish(p, pl, len, timeout_ns);
	if (ret)
		shmk_pub_discard(p, pl);
	return ret;
}


SHMK_API int shmk_sub_receive(struct shmk_port *p, struct shmk_sample *smp,
			      int64_t timeout_ns)
{
	if (!p || !smp || p->role != ROLE_SUB)
		return -EINVAL;
	return svc_block(p, cons_try, smp, timeout_ns);
}

SHMK_API int shmk_sub_release(struct shmk_port *p, struct shmk_sample *smp)
{
	if (!p || !smp)
		return -EINVAL;
	return chan_release(p, smp);
}

SHMK_API uint64_t shmk_sub_dropped(const struct shmk_port *p)
{
	return p->dropped;
}
