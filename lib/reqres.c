// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk request-response: clients publish requests on channel 0, the
 * server answers each client in that client's own ring of channel 1.
 */
#include <errno.h>

#include "svc.h"

/* Request-response */

SHMK_API int shmk_client_send(struct shmk_port *p, void *payload, size_t len,
			      uint64_t *corr)
{
	uint64_t id;
	int ret;

	if (!p || p->role != ROLE_CLIENT)
		return -EINVAL;
	id = ++p->corr_next;
	ret = prod_publish(p, payload, len, id, NIL, 0, (int)p->v.cfg.overflow, 0);
	if (ret == 0 && corr)
		*corr = id;
	return ret;
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
