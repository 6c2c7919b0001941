// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk request-response: clients publish requests on channel 0, the
 * server answers each client in that client's own ring of channel 1.
 */
#include <errno.h>

#include "svc.h"

/* Request-response */

static int client_publish(struct shmk_port *p, void *payload, size_t len,
			  uint64_t *corr)
{
	uint64_t id = p->corr_next + 1;
	int ret;

	ret = prod_publish(p, payload, len, id, NIL, 0,
			   (int)p->svc->v.cfg.overflow, 0);
	if (ret)
		return ret;
	p->corr_next = id;
	if (corr)
		*corr = id;
	return 0;
}

SHMK_API int shmk_client_send(struct shmk_port *p, void *payload, size_t len,
			      uint64_t *corr)
{
	int ret;

	if (!p || p->role != ROLE_CLIENT)
		return -EINVAL;
	if (find_chunk(&p->v, p->loans, p->nloans, payload) < 0 ||
	    len > p->v.cfg.payload_max)
		return -EINVAL;
	/* Nobody would ever answer: say so, keep the loan (lib-audit). */
	if (!chan_consumers(p)) {
		svc_err("shmk_client_send: no live server");
		return -ENOTCONN;
	}
	ret = client_publish(p, payload, len, corr);
	if (ret == -ENOTCONN)	/* recovery found the server dead */
		svc_err("shmk_client_send: no live server");
	return ret;
}

/* Ready to send: a server is live and (back-pressure) it has room. */
static int send_ready(struct shmk_port *p, void *arg)
{
	(void)arg;
	if (!chan_consumers(p))
		return -EAGAIN;
	return p->svc->v.cfg.overflow == SHMK_OVERFLOW_BLOCK ? chan_room(p) : 0;
}

SHMK_API int shmk_client_send_wait(struct shmk_port *p, void *payload,
				   size_t len, uint64_t *corr,
				   int64_t timeout_ns)
{
	int ret;

	if (!p || p->role != ROLE_CLIENT)
		return -EINVAL;
	if (timeout_ns == 0)
		return shmk_client_send(p, payload, len, corr);
	if (find_chunk(&p->v, p->loans, p->nloans, payload) < 0 ||
	    len > p->v.cfg.payload_max)
		return -EINVAL;
	ret = svc_block_on(p, send_ready, NULL, timeout_ns, SLEEP_ROOM);
	if (ret == -ETIMEDOUT)
		svc_err("shmk_client_send_wait: %s", chan_consumers(p) ?
			"the server's buffer stayed full" : "no live server");
	if (ret)
		return ret;
	/* Room cannot shrink but by our own publish: this does not wait. */
	return client_publish(p, payload, len, corr);
}

/* A response addressed to us, skipping (releasing) the others'. */
static int client_try(struct shmk_port *p, void *arg)
{
	struct shmk_sample *smp = arg;
	int ret;

	for (;;) {
		ret = cons_try(p, smp);
		if (ret)
			return ret;
		if (smp->reserved == 1)
			return 0;
		shmk_sub_release(p, smp);
	}
}

SHMK_API int shmk_client_receive(struct shmk_port *p, struct shmk_sample *smp,
				 int64_t timeout_ns)
{
	if (!p || !smp || p->role != ROLE_CLIENT)
		return -EINVAL;
	return svc_block(p, client_try, smp, timeout_ns);
}

SHMK_API int shmk_server_receive(struct shmk_port *p, struct shmk_sample *req,
				 int64_t timeout_ns)
{
	if (!p || !req || p->role != ROLE_SERVER)
		return -EINVAL;
	return svc_block(p, cons_try, req, timeout_ns);
}

SHMK_API int shmk_server_respond(struct shmk_port *p,
				 const struct shmk_sample *req, void *payload,
				 size_t len)
{
	if (!p || !req || p->role != ROLE_SERVER ||
	    req->origin >= p->v.cfg.max_publishers)
		return -EINVAL;
	return prod_publish(p, payload, len, req->corr, req->origin,
			    req->origin_gen, SHMK_OVERFLOW_SAFE, 0);
}
