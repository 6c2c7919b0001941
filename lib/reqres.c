// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk request-response: clients publish requests on channel 0, which
 * every live server reads; server s answers client k in ring k of its own
 * channel 1 + s.  A request tracked by its client (shmk_client_request())
 * is a pending response: each server that was live at the send answers
 * with a stream of responses, the last one flagged SHMK_RESP_LAST, and
 * the client sees the stream end, or end abnormally when a server leaves
 * or dies first.  A client that cancels a pending response, or whose
 * streams ended, clears the request's word in its pending row (svc.h,
 * PEND_ROW): servers read it (req_wanted()) and stop.
 * Documentation/messaging.rst is the guide.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "svc.h"

/* Request-response */

/* Is this response addressed to us (this generation of our slot)? */
static int resp_mine(const struct shmk_port *p, const struct shmk_sample *smp)
{
	const struct msg_hdr *h = &p->v.hdrs[smp->chunk];

	/* Read once each; we hold the chunk (cons_try_one() checked it). */
	return SHMK_READ_ONCE(h->target) == p->slot &&
	       SHMK_READ_ONCE(h->target_gen) == p->gen;
}

static int popcount64(uint64_t m)
{
	return __builtin_popcountll(m);
}

/* The pending response of request @corr, or NULL. */
static struct rr_pend *pend_find(struct shmk_port *p, uint64_t corr)
{
	uint32_t i;

	for (i = 0; corr && i < SHMK_SVC_PENDING_MAX; i++)
		if (p->pend[i].corr == corr)
			return &p->pend[i];
	return NULL;
}

/*
 * @pe's request is no longer pending: forget it, and clear its word in
 * our pending row, so that its servers stop (req_wanted()).
 */
static void pend_drop(struct shmk_port *p, struct rr_pend *pe)
{
	uint32_t i = (uint32_t)(pe - p->pend);

	memset(pe, 0, sizeof(*pe));
	SHMK_CP();
	/*
	 * Relaxed: a server that still reads the old id answers once more,
	 * and we release that response as we receive it.  A sleeping server
	 * sees the store through the wake's seq_cst fence
	 * (shmk_client_cancel()).
	 */
	atomic_store_explicit(&pend_of(&p->v, p->slot)[i], 0,
			      memory_order_relaxed);
}

/* A response of @pe's request came: a last one ends that server's stream. */
static void pend_note(const struct shmk_port *p, struct rr_pend *pe,
		      const struct shmk_sample *smp)
{
	/* Server s is slot plo + s; origin is a server slot (cons_try()). */
	uint32_t s = smp->origin - p->plo;
	uint64_t b = s < SHMK_SVC_SERVERS_MAX ? 1ULL << s : 0;

	if ((pe->live & b) && pe->gen[s] == smp->origin_gen &&
	    (smp->reserved & SHMK_RESP_LAST))
		pe->ended |= b;
}

/*
 * Servers of @pe's request whose stream is open but whose generation is
 * no longer live (left, died, reclaimed): their streams ended abnormally.
 * Called only after the rings were read empty: a server that is not live
 * has nothing more we could receive (cons_try_one() skips it).
 */
static void pend_check(const struct shmk_port *p, struct rr_pend *pe)
{
	uint64_t open = pe->live & ~pe->ended & ~pe->aborted;
	uint32_t i, st;

	for (i = 0; open && i < SHMK_SVC_SERVERS_MAX; i++) {
		if (!(open & (1ULL << i)))
			continue;
		open &= ~(1ULL << i);
		/* Acquire: pairs with the server's ALIVE or a reclaimer's FREE. */
		st = atomic_load_explicit(&p->v.slots[p->plo + i].state,
					  memory_order_acquire);
		if (st != (ST_ALIVE | pe->gen[i]))
			pe->aborted |= 1ULL << i;
	}
}

/* Keep a received response for a later call (counts in max_borrow). */
static void stash_push(struct shmk_port *p, const struct shmk_sample *smp)
{
	p->stash[p->nstash++] = *smp;
}

/* Take the first kept response, of request @corr (0: any), in order. */
static int stash_take(struct shmk_port *p, uint64_t corr,
		      struct shmk_sample *smp)
{
	uint32_t i;

	for (i = 0; i < p->nstash; i++) {
		if (corr && p->stash[i].corr != corr)
			continue;
		*smp = p->stash[i];
		memmove(&p->stash[i], &p->stash[i + 1],
			(p->nstash - i - 1) * sizeof(p->stash[0]));
		p->nstash--;
		return 1;
	}
	return 0;
}

/*
 * The next response addressed to us from the rings: the others' are
 * released, and so are responses of tracked requests we no longer wait
 * for (cancelled, or whose end was reported).
 */
static int client_next(struct shmk_port *p, struct shmk_sample *smp)
{
	int ret;

	for (;;) {
		if (p->nstash >= SHMK_SVC_PENDING_MAX)
			return -ENOBUFS;
		ret = cons_try(p, smp);
		if (ret)
			return ret;
		if (!resp_mine(p, smp) ||
		    ((smp->reserved & MSG_TRACKED) && !pend_find(p, smp->corr))) {
			chan_release(p, smp);
			continue;
		}
		return 0;
	}
}

/*
 * The live servers (bit s: server s, slot plo + s; fewer than
 * SHMK_SVC_SERVERS_MAX, cfg_geometry()), and their generations in @gen.
 */
static uint64_t live_servers(const struct shmk_port *p, uint32_t *gen)
{
	uint64_t m = 0;
	uint32_t s, st;

	for (s = 0; s < p->phi - p->plo && s < SHMK_SVC_SERVERS_MAX; s++) {
		/* Acquire: pairs with the server's store of ALIVE. */
		st = atomic_load_explicit(&p->v.slots[p->plo + s].state,
					  memory_order_acquire);
		if (ST_TAG(st) == ST_ALIVE) {
			m |= 1ULL << s;
			gen[s] = ST_VAL(st);
		}
	}
	return m;
}

static int client_publish(struct shmk_port *p, void *payload, size_t len,
			  uint64_t *corr, uint32_t flags, uint32_t *servers)
{
	uint64_t id = p->corr_next + 1, live;
	uint32_t gen[SHMK_SVC_SERVERS_MAX], i;
	_Atomic uint64_t *w;
	struct rr_pend *pe = NULL;
	int ret;

	if (flags & MSG_TRACKED) {
		for (i = 0; !pe && i < SHMK_SVC_PENDING_MAX; i++)
			if (!p->pend[i].corr)
				pe = &p->pend[i];
		if (!pe) {
			svc_err("shmk_client_request: %d responses pending",
				SHMK_SVC_PENDING_MAX);
			return -EBUSY;
		}
		i = (uint32_t)(pe - p->pend);
		w = &pend_of(&p->v, p->slot)[i];
		flags |= i << MSG_PEND_SHIFT;
		SHMK_CP();
		/*
		 * Release, before the publish: pairs with req_wanted()'s
		 * acquire load.  A server that reads this id also sees our
		 * claim of the slot, so its state check judges our
		 * generation, never an older one's request of the same id;
		 * and the request, published after, is never read before it.
		 */
		atomic_store_explicit(w, id, memory_order_release);
	}
	/* Before the publish: a server live now reads the request. */
	live = live_servers(p, gen);
	ret = prod_publish_f(p, payload, len, id, NIL, 0,
			     (int)p->svc->v.cfg.overflow, 0, flags);
	/*
	 * On failure the word keeps an id that no server received: the
	 * next request of entry i overwrites it before its publish, and a
	 * request of another entry is judged by its own word.
	 */
	if (ret)
		return ret;
	p->corr_next = id;
	if (pe) {
		memset(pe, 0, sizeof(*pe));
		pe->corr = id;
		pe->live = live;
		memcpy(pe->gen, gen, sizeof(gen));
	}
	if (corr)
		*corr = id;
	if (servers)
		*servers = (uint32_t)popcount64(live);
	return 0;
}

/* Ready to send: a server is live and (back-pressure) it has room. */
static int send_ready(struct shmk_port *p, void *arg)
{
	(void)arg;
	if (!chan_consumers(p))
		return -EAGAIN;
	return p->svc->v.cfg.overflow == SHMK_OVERFLOW_BLOCK ? chan_room(p) : 0;
}

/* shmk_client_send(), shmk_client_send_wait(), shmk_client_request(). */
static int client_send(struct shmk_port *p, void *payload, size_t len,
		       uint64_t *corr, uint32_t flags, uint32_t *servers,
		       int64_t timeout_ns, const char *fn)
{
	int ret;

	if (!p || p->role != ROLE_CLIENT)
		return -EINVAL;
	if (find_chunk(p, p->loans, p->nloans, payload) < 0 ||
	    len > p->v.cfg.payload_max)
		return -EINVAL;
	if (timeout_ns == 0) {
		/* Nobody would ever answer: say so, keep the loan. */
		if (!chan_consumers(p)) {
			svc_err("%s: no live server", fn);
			return -ENOTCONN;
		}
	} else {
		ret = svc_block_on(p, send_ready, NULL, timeout_ns,
				   SLEEP_ROOM);
		if (ret == -ETIMEDOUT)
			svc_err("%s: %s", fn, chan_consumers(p) ?
				"the server's buffer stayed full" :
				"no live server");
		if (ret)
			return ret;
	}
	ret = client_publish(p, payload, len, corr, flags, servers);
	if (ret == -ENOTCONN)	/* recovery found the server dead */
		svc_err("%s: no live server", fn);
	return ret;
}

SHMK_API int shmk_client_send(struct shmk_port *p, void *payload, size_t len,
			      uint64_t *corr)
{
	return client_send(p, payload, len, corr, 0, NULL, 0,
			   "shmk_client_send");
}

SHMK_API int shmk_client_send_wait(struct shmk_port *p, void *payload,
				   size_t len, uint64_t *corr,
				   int64_t timeout_ns)
{
	/* Room cannot shrink but by our own publish: that does not wait. */
	return client_send(p, payload, len, corr, 0, NULL, timeout_ns,
			   "shmk_client_send_wait");
}

SHMK_API int shmk_client_request(struct shmk_port *p, void *payload,
				 size_t len, unsigned int flags,
				 uint64_t *corr, uint32_t *servers,
				 int64_t timeout_ns)
{
	if (flags & ~SHMK_REQ_NO_RESPONSE) {
		svc_err("shmk_client_request: unknown flags %#x", flags);
		return -EINVAL;
	}
	if (!(flags & SHMK_REQ_NO_RESPONSE))
		flags |= MSG_TRACKED;
	return client_send(p, payload, len, corr, flags, servers, timeout_ns,
			   "shmk_client_request");
}

/* Any response to us: kept ones first, then the rings'. */
static int client_try(struct shmk_port *p, void *arg)
{
	struct shmk_sample *smp = arg;
	struct rr_pend *pe;
	int ret;

	if (!stash_take(p, 0, smp)) {
		ret = client_next(p, smp);
		if (ret)
			return ret;
	}
	pe = (smp->reserved & MSG_TRACKED) ? pend_find(p, smp->corr) : NULL;
	if (pe)
		pend_note(p, pe, smp);
	smp->reserved &= ~MSG_TRACKED;
	return 0;
}

SHMK_API int shmk_client_receive(struct shmk_port *p, struct shmk_sample *smp,
				 int64_t timeout_ns)
{
	if (!p || !smp || p->role != ROLE_CLIENT)
		return -EINVAL;
	return svc_block(p, client_try, smp, timeout_ns);
}

struct for_arg {
	uint64_t corr;
	struct shmk_sample *smp;
};

/* The next response of one pending request, or the end of its streams. */
static int for_try(struct shmk_port *p, void *arg)
{
	struct for_arg *a = arg;
	struct rr_pend *pe = pend_find(p, a->corr);
	struct shmk_sample s;
	int ret;

	if (!pe)
		return -ENOENT;
	if (stash_take(p, a->corr, a->smp))
		goto got;
	for (;;) {
		ret = client_next(p, &s);
		if (ret == -EAGAIN)
			break;
		if (ret)
			return ret;
		if ((s.reserved & MSG_TRACKED) && s.corr == a->corr) {
			*a->smp = s;
			goto got;
		}
		/* Another request's, or an untracked one's: for later. */
		stash_push(p, &s);
	}
	/* The rings are empty: who of those we wait for is gone? */
	pend_check(p, pe);
	if (((pe->ended | pe->aborted) & pe->live) != pe->live)
		return -EAGAIN;
	ret = pe->aborted ? -ECONNRESET : -ENODATA;
	pend_drop(p, pe);
	return ret;
got:
	pend_note(p, pe, a->smp);
	a->smp->reserved &= ~MSG_TRACKED;
	return 0;
}

SHMK_API int shmk_client_receive_for(struct shmk_port *p, uint64_t corr,
				     struct shmk_sample *smp,
				     int64_t timeout_ns)
{
	struct for_arg a = { corr, smp };
	int64_t deadline, left;
	int ret;

	if (!p || !smp || p->role != ROLE_CLIENT)
		return -EINVAL;
	if (!pend_find(p, corr)) {
		svc_err("shmk_client_receive_for: request %llu is not pending",
			(unsigned long long)corr);
		return -ENOENT;
	}
	/*
	 * A server that closes without ending its streams wakes nobody
	 * (one that dies does, on the device: the death counter): look
	 * again every slice.
	 */
	deadline = shmk_deadline(timeout_ns);
	for (;;) {
		left = shmk_remaining(deadline);
		ret = svc_block(p, for_try, &a, left < 0 || left > SLEEP_SLICE_NS ?
				SLEEP_SLICE_NS : left);
		if (ret != -ETIMEDOUT || timeout_ns == 0 ||
		    shmk_remaining(deadline) == 0)
			return ret;
	}
}

SHMK_API int shmk_client_pending(struct shmk_port *p, uint64_t corr)
{
	struct rr_pend *pe;

	if (!p || p->role != ROLE_CLIENT)
		return -EINVAL;
	pe = pend_find(p, corr);
	if (!pe)
		return -ENOENT;
	pend_check(p, pe);
	return popcount64(pe->live & ~pe->ended & ~pe->aborted);
}

SHMK_API int shmk_client_cancel(struct shmk_port *p, uint64_t corr)
{
	struct rr_pend *pe;
	struct shmk_sample s;
	uint64_t live;
	uint32_t i;

	if (!p || p->role != ROLE_CLIENT)
		return -EINVAL;
	pe = pend_find(p, corr);
	if (!pe)
		return -ENOENT;
	live = pe->live & ~pe->ended & ~pe->aborted;
	/* The servers read it in our pending row (req_wanted()). */
	pend_drop(p, pe);
	/*
	 * A server asleep in shmk_server_stream() for room in our ring
	 * wakes and sees the cancel: the seq_cst fence of the wake orders
	 * our store before its load of the sleep mask.
	 */
	for (i = 0; live && i < SHMK_SVC_SERVERS_MAX; i++)
		if (live & (1ULL << i)) {
			live &= ~(1ULL << i);
			/* Server i is slot plo + i (pend_note()). */
			svc_wake_prod(&p->v, p->plo + i);
		}
	/* What we kept of it goes back; what comes later is released. */
	while (stash_take(p, corr, &s))
		chan_release(p, &s);
	return 0;
}

SHMK_API int shmk_server_receive(struct shmk_port *p, struct shmk_sample *req,
				 int64_t timeout_ns)
{
	if (!p || !req || p->role != ROLE_SERVER)
		return -EINVAL;
	return svc_block(p, cons_try, req, timeout_ns);
}

/* Checks common to the ways of answering @req. */
static int resp_check(const struct shmk_port *p, const struct shmk_sample *req,
		      const char *fn)
{
	if (!p || !req || p->role != ROLE_SERVER ||
	    req->origin >= p->v.cfg.max_publishers)
		return -EINVAL;
	if (req->reserved & SHMK_REQ_NO_RESPONSE) {
		svc_err("%s: the request asked for no response", fn);
		return -EINVAL;
	}
	return 0;
}

/* req_wanted(): why the client of a request wants no more responses. */
enum { REQ_WANTED, REQ_CANCELLED, REQ_GONE };

/*
 * Does the client of @req (origin checked by the caller) still want
 * responses to it?  REQ_GONE: the generation that sent it is no longer
 * live (left, died, reclaimed).  REQ_CANCELLED (a tracked request): its
 * word in the client's pending row no longer holds its id: cancelled,
 * or its streams ended.  The word is read once, its index masked to the
 * client's row: a hostile peer can make us stop early or go on, never
 * read outside the row.
 */
static int req_wanted(const struct shmk_port *p, const struct shmk_sample *req)
{
	uint64_t w = 0;
	uint32_t st;

	if (req->reserved & MSG_TRACKED)
		/*
		 * Acquire: pairs with the release store of the id in
		 * client_publish().  If we read a later generation's store,
		 * its claim of the slot happens before the state load
		 * below, which then fails: a stale id never passes for
		 * ours.  If we read our request's generation's, the id is
		 * compared in full: ids of one generation never repeat.
		 */
		w = atomic_load_explicit(&pend_of(&p->v, req->origin)
					 [MSG_PEND(req->reserved)],
					 memory_order_acquire);
	/* Acquire: pairs with the client's ALIVE (or a reclaimer's FREE). */
	st = atomic_load_explicit(&p->v.slots[req->origin].state,
				  memory_order_acquire);
	if (st != (ST_ALIVE | req->origin_gen))
		return REQ_GONE;
	if ((req->reserved & MSG_TRACKED) && (!req->corr || w != req->corr))
		return REQ_CANCELLED;
	return REQ_WANTED;
}

/* The client of @req still wants it, and has room in our ring for it. */
static int resp_room_try(struct shmk_port *p, void *arg)
{
	const struct shmk_sample *req = arg;

	if (req_wanted(p, req) != REQ_WANTED)
		return -ECANCELED;
	return chan_room_to(p, req->origin);
}

/* Say why @req's responses are no longer wanted. */
static void resp_cancelled(const struct shmk_port *p,
			   const struct shmk_sample *req, const char *fn)
{
	svc_err("%s: %s", fn, req_wanted(p, req) == REQ_GONE ?
		"the client is gone" : "the client cancelled the request");
}

SHMK_API int shmk_server_cancelled(const struct shmk_port *p,
				   const struct shmk_sample *req)
{
	const struct svc_view *v;

	if (!p || !req || p->role != ROLE_SERVER ||
	    req->origin >= p->v.cfg.max_publishers)
		return -EINVAL;
	if (req_wanted(p, req) != REQ_WANTED)
		return 1;
	/*
	 * memfd: nothing announces a death, and the slot stays ALIVE until
	 * recovery: ask the kernel whether anyone holds the slot's lock
	 * (every live claimer does; svc_live.c).
	 */
	v = &p->svc->v;
	if (shmk_region_backend(v->r) != SHMK_BACKEND_DEVICE &&
	    ofd_lock(shmk_region_fd(v->r), slot_off(v, req->origin), F_WRLCK,
		     F_OFD_GETLK) == 0)
		return 1;
	return 0;
}

SHMK_API int shmk_server_respond(struct shmk_port *p,
				 const struct shmk_sample *req, void *payload,
				 size_t len)
{
	uint32_t fl = SHMK_RESP_LAST;
	int ret = resp_check(p, req, "shmk_server_respond");

	if (ret)
		return ret;
	if (req->reserved & MSG_TRACKED) {
		/* A pending response: its end must not be overwritten. */
		if (find_chunk(p, p->loans, p->nloans, payload) < 0 ||
		    len > p->v.cfg.payload_max)
			return -EINVAL;
		ret = resp_room_try(p, (void *)req);
		if (ret == -ECANCELED)
			resp_cancelled(p, req, "shmk_server_respond");
		if (ret)
			return ret;
		fl |= MSG_TRACKED;
	}
	return prod_publish_f(p, payload, len, req->corr, req->origin,
			      req->origin_gen, SHMK_OVERFLOW_SAFE, 0, fl);
}

SHMK_API int shmk_server_stream(struct shmk_port *p,
				const struct shmk_sample *req, void *payload,
				size_t len, unsigned int flags,
				int64_t timeout_ns)
{
	int ret = resp_check(p, req, "shmk_server_stream");

	if (ret)
		return ret;
	if (flags & ~SHMK_RESP_LAST) {
		svc_err("shmk_server_stream: unknown flags %#x", flags);
		return -EINVAL;
	}
	if (find_chunk(p, p->loans, p->nloans, payload) < 0 ||
	    len > p->v.cfg.payload_max)
		return -EINVAL;
	ret = svc_block_on(p, resp_room_try, (void *)req, timeout_ns,
			   SLEEP_ROOM);
	if (ret == -ECANCELED)
		resp_cancelled(p, req, "shmk_server_stream");
	if (ret)
		return ret;
	return prod_publish_f(p, payload, len, req->corr, req->origin,
			      req->origin_gen, SHMK_OVERFLOW_SAFE, 0,
			      flags | (req->reserved & MSG_TRACKED));
}

SHMK_API int shmk_server_end(struct shmk_port *p,
			     const struct shmk_sample *req, int64_t timeout_ns)
{
	void *buf;
	int ret = resp_check(p, req, "shmk_server_end");

	if (ret)
		return ret;
	ret = shmk_pub_loan(p, &buf);
	if (ret)
		return ret;
	ret = shmk_server_stream(p, req, buf, 0, SHMK_RESP_LAST, timeout_ns);
	if (ret)
		shmk_pub_discard(p, buf);
	return ret;
}
