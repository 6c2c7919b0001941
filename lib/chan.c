// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk channels: the machinery publish-subscribe and request-response
 * share.  A producer loans chunks from the service's pool, publishes them
 * into its broadcast ring, and consumers follow each producer's ring with
 * a cursor of their own.
 */
#include <errno.h>
#include <string.h>

#include "probes.h"
#include "svc.h"

static uint64_t chunk_cap(const struct shmk_port *p, uint32_t c);
static uint64_t chunk_uoff(const struct shmk_port *p, uint32_t c);
static uint64_t cursor_clamp(const struct svc_view *v, uint32_t ch, uint32_t j,
			     uint32_t i, uint64_t start, uint64_t tail);

/* Ports */

/*
 * A new consumer @k on channel @ch: its cursor on each producer's ring
 * starts at that ring's tail, less the history of a live producer's
 * current generation.  Positions are monotonic per ring, so a cursor is
 * a plain position: samples of generations that come later start at or
 * after it.
 */
static void cursors_init(const struct svc_view *v, uint32_t ch, uint32_t k,
			 uint32_t plo, uint32_t phi, int client,
			 uint32_t history)
{
	uint32_t i;

	/* Channel 0: a cursor per producer; a response channel: its server. */
	if (client)
		plo = v->g.na + ch - 1, phi = plo + 1;
	for (i = plo; i < phi; i++) {
		_Atomic uint64_t *cur = cursor_at(v, ch, k, i);
		struct svc_prod *pr = prod_of(v, ch, client ? k : i);
		uint64_t pos, tail, start;
		uint32_t st;

		/* Acquire: pairs with the producer's store of ALIVE. */
		st = atomic_load_explicit(&v->slots[i].state,
					  memory_order_acquire);
		/* Acquire: pairs with the producer's release of tail. */
		tail = atomic_load_explicit(&pr->tail,
					    memory_order_acquire);
		/* Relaxed: published by the ALIVE store. */
		start = atomic_load_explicit(&pr->start,
					     memory_order_relaxed);
		if (start > tail)	/* corrupt: nothing to replay */
			start = tail;
		pos = tail;
		if (ST_TAG(st) == ST_ALIVE)
			pos = tail - start > history ?
			      tail - history : start;
		SHMK_CP();
		/* Release: pairs with bp_room()'s acquire. */
		atomic_store_explicit(cur, pos, memory_order_release);
	}
}

/*
 * Port @p is claiming slot @k (state CLAIM, not yet ALIVE): its producer
 * ring(s) continue from their tail, and its consumer cursors are set.
 * Everything written here is published by the claimer's store of ALIVE.
 *
 * A dead producer may have left an entry at its tail that it stored
 * before it could store the tail (lib-audit #1).  Nothing reads it:
 * consumers read only positions below tail, and a producer drops the
 * ring's reference of an overwritten entry only for positions of its
 * own generation (prod_publish()), never by the sequence in the entry.
 */
void chan_claim(struct shmk_port *p, uint32_t k)
{
	uint32_t na = p->v.cfg.max_publishers, i;

	/* Server s (slot na + s) answers on channel 1 + s (svc_core.c). */
	if (p->role == ROLE_SERVER)
		p->prod_ch = (int)(1 + k - na);
	if (p->prod_ch >= 0) {
		struct svc_prod *pr = prod_of(&p->v, (uint32_t)p->prod_ch, k);

		/* Relaxed: only this slot's producer writes them. */
		p->tail = atomic_load_explicit(&pr->tail, memory_order_relaxed);
		p->start = p->tail;
		SHMK_CP();
		atomic_store_explicit(&pr->start, p->start, memory_order_relaxed);
		for (i = 0; p->role == ROLE_SERVER && i < na; i++) {
			pr = prod_of(&p->v, (uint32_t)p->prod_ch, i);
			SHMK_CP();
			/* Relaxed: as above (this server's own channel). */
			atomic_store_explicit(&pr->start,
				atomic_load_explicit(&pr->tail,
						     memory_order_relaxed),
				memory_order_relaxed);
		}
	}
	p->bp_fails = 0;
	if (p->role == ROLE_CLIENT) {
		/* One response channel per server slot, 1 to nchan - 1. */
		for (i = 1; i < p->v.g.nchan; i++)
			cursors_init(&p->v, i, k, p->plo, p->phi, 1,
				     p->v.cfg.history);
	} else if (p->cons_ch >= 0) {
		cursors_init(&p->v, (uint32_t)p->cons_ch, k, p->plo, p->phi, 0,
			     p->role == ROLE_SUB ? p->history :
			     p->v.cfg.history);
	}
	p->nstash = 0;
	p->last = NIL;
	p->spare = NIL;
	memset(p->pend, 0, sizeof(p->pend));
}

/* Publish-subscribe: producers */

/* A publish of at least this many bytes leaves its chunk for reuse. */
#define REUSE_MIN	65536

/*
 * The chunk of our last publish (position q = tail - 1) as our next
 * loan, once every subscriber has taken and released it: a publisher
 * whose subscribers keep up then writes one chunk over and over, as a
 * plain shared-memory ping-pong reuses one buffer, instead of cap + 1
 * chunks in turn (issue 12: a 16 MiB payload then stays in the cache).
 * Only publish-subscribe without history (a late joiner replays nothing
 * from the ring), services of up to 64 slots (one holders word: one CAS
 * decides), not zero-trust, and after a publish of REUSE_MIN bytes or
 * more: below that the chunk's lines are few and the warm scan's loan,
 * whose holders line is already ours, is faster.  Returns the chunk, or
 * NIL to go on with the scan.
 *
 * The ring's reference on the chunk becomes the loan's: entry q % cap is
 * overwritten with a tombstone (position q + cap, no chunk) that
 * prod_publish() does not drop again, and a consumer that reads it
 * skips position q as dropped; only one that had not joined when we
 * looked can (every live one is past q).
 */
static uint32_t loan_reuse(struct shmk_port *p)
{
	const struct svc_view *v = &p->v;
	uint32_t c = p->last, cap = v->g.cap, j;
	uint64_t q = p->tail - 1, bit = SLOT_BIT(p->slot), old = bit;
	_Atomic uint64_t *e;

	p->last = NIL;
	if (c >= v->g.nchunks || p->tail == p->start)
		return NIL;
	e = &ring_of(v, (uint32_t)p->prod_ch, p->slot)[q % cap];
	/* Relaxed: only we write our ring. */
	if (atomic_load_explicit(e, memory_order_relaxed) != ent_make(q, c))
		return NIL;
	for (j = p->clo; j < p->chi; j++) {
		/* Acquire: as in bp_room(). */
		uint32_t st = atomic_load_explicit(&v->slots[j].state,
						   memory_order_acquire);

		/*
		 * Acquire (in cursor_clamp()): pairs with the consumer's
		 * release store of its cursor, after its fetch_or: its
		 * reference on sample q is in the holders word below.
		 */
		if (ST_TAG(st) == ST_ALIVE &&
		    cursor_clamp(v, (uint32_t)p->prod_ch, j, p->slot, p->start,
				 p->tail) <= q)
			return NIL;
	}
	/* Relaxed: a guess; the CAS below decides. */
	if (atomic_load_explicit(hold_word(v, c, p->slot),
				 memory_order_relaxed) != bit)
		return NIL;
	SHMK_CP();
	/* Relaxed: ordered before the consumers' re-check by the CAS. */
	atomic_store_explicit(e, ent_make(q + cap, ENT_NIL),
			      memory_order_relaxed);
	SHMK_CP();
	/*
	 * Release: heads a release sequence after the tombstone; a consumer
	 * whose fetch_or of its bit comes later in this word's modification
	 * order reads from it, so its re-load of the entry sees the
	 * tombstone and it lets go (cons_try_one()), as for prod_publish()'s
	 * drop.  One that came earlier makes this CAS fail.  Acquire: pairs
	 * with the last consumer's release of its bit (chunk_put()): its
	 * reads of the payload happen before our writes.
	 */
	if (atomic_compare_exchange_strong_explicit(hold_word(v, c, p->slot),
						    &old, bit,
						    memory_order_acq_rel,
						    memory_order_relaxed))
		return c;
	/* Held after all: the tombstone stays, so drop the ring's share. */
	hold_drop(v, c, p->slot);
	p->hint = c;
	return NIL;
}

/*
 * Loans are warm: the scan starts at p->hint, which is the chunk this
 * port last gave back (its ring's reference dropped in prod_publish(), or
 * a discard), else the chunk after its last loan.  That chunk's lines are
 * most likely still in this CPU's cache (we wrote it) and the consumer's
 * (it read it), so a publisher that keeps up cycles through cap + 1
 * chunks instead of the whole pool.  Only where the scan starts changes:
 * the CAS on the holders word decides, as for any other chunk.
 */
SHMK_API int shmk_pub_loan(struct shmk_port *p, void **payload)
{
	const struct svc_view *v;
	uint32_t n, c, pass, lo, cnt;

	if (!p || !payload || p->prod_ch < 0)
		return -EINVAL;
	v = &p->v;
	if (p->nloans >= v->cfg.max_loans)
		return -ENOBUFS;
	/* Dynamic: older segments go once nothing of them is held. */
	if (svc_zt(v) && p->zcur)
		zt_trim(p);
	/* Zero-trust: only our own chunks, [zlo, zlo + zn). */
	lo = svc_zt(v) ? p->zlo : 0;
	cnt = svc_zt(v) ? p->zn : v->g.nchunks;
	if (!cnt)
		return -EINVAL;
	if (p->spare != NIL) {
		/* Ours since the publish that dropped it (prod_publish_f()). */
		c = p->spare;
		p->spare = NIL;
		p->loans[p->nloans++] = c;
		*payload = chunk_ptr(p, c);
		SHMK_PROBE3(loan, p->svc->rname, p->slot, c);
		return 0;
	}
	if (p->last != NIL) {
		c = loan_reuse(p);
		if (c != NIL) {
			p->loans[p->nloans++] = c;
			*payload = chunk_ptr(p, c);
			SHMK_PROBE3(loan, p->svc->rname, p->slot, c);
			return 0;
		}
	}
	for (pass = 0; pass < 2; pass++) {
		/* p->hint is a chunk index, ours if zero-trust. */
		c = p->hint - lo < cnt ? p->hint : lo;
		for (n = 0; n < cnt; n++, c = c + 1 < lo + cnt ? c + 1 : lo) {
			/*
			 * Acquire (in hold_claim()): pairs with the release of
			 * the last holder (chunk_put(), the sweep): its uses
			 * are done.
			 */
			if (!hold_claim(v, c, p->slot))
				continue;
			p->hint = c + 1;
			/* Zero-trust: in our current segment (private). */
			if (svc_zt(v))
				p->cseg[c - lo] = (uint8_t)p->zcur;
			p->loans[p->nloans++] = c;
			*payload = chunk_ptr(p, c);
			SHMK_PROBE3(loan, p->svc->rname, p->slot, c);
			return 0;
		}
		if (view_recover(&p->svc->v) <= 0)
			break;
	}
	/*
	 * -EAGAIN, not -ENOMEM (malloc) nor -ENOBUFS (max_loans): every chunk
	 * is held, and one comes back when a holder releases it or a dead
	 * holder is recovered (lib-audit #20).
	 */
	svc_err("no free chunk in the pool (%u chunks, all held)", cnt);
	return -EAGAIN;
}

SHMK_API int shmk_pub_loan_slice(struct shmk_port *p, size_t n,
				 void **payload)
{
	const struct svc_view *v;
	uint64_t elem;

	if (!p || !payload || !n || p->prod_ch < 0)
		return -EINVAL;
	v = &p->v;
	elem = v->cfg.type_size ? v->cfg.type_size : 1;
	if (n > v->cfg.payload_max / elem) {
		svc_err("%zu elements of %llu bytes are more than payload_max "
			"(%llu bytes)", n, (unsigned long long)elem,
			(unsigned long long)v->cfg.payload_max);
		return -EMSGSIZE;
	}
	return loan_bytes(p, n * elem, payload);
}

/*
 * A loan of at least @bytes (<= payload_max): the bytes available, or
 * -errno.  Dynamic payloads: grows our segment when they do not fit.
 */
int loan_bytes(struct shmk_port *p, uint64_t bytes, void **payload)
{
	const struct svc_view *v = &p->v;
	uint32_t s;
	int ret;

	if (svc_zt(v) && bytes > zt_cap(v, p->zcur)) {
		/*
		 * Dynamic (only there is a segment's capacity below
		 * payload_max): the next segment that fits, power of two.
		 */
		for (s = p->zcur + 1; zt_cap(v, s) < bytes; s++)
			;
		ret = zt_create(p, p->slot, p->gen, s);
		if (ret)
			return ret;
	}
	ret = shmk_pub_loan(p, payload);
	if (ret)
		return ret;
	return (int)chunk_cap(p, p->loans[p->nloans - 1]);
}

SHMK_API void *shmk_pub_loan_header(struct shmk_port *p, const void *payload)
{
	int i;

	if (!p || !payload || !p->v.cfg.user_header_size)
		return NULL;
	i = find_chunk(p, p->loans, p->nloans, payload);
	if (i < 0)
		return NULL;
	return chunk_ptr(p, p->loans[i]) + chunk_uoff(p, p->loans[i]);
}

SHMK_API const void *shmk_sample_header(const struct shmk_port *p,
					const struct shmk_sample *smp)
{
	uint32_t i;

	if (!p || !smp || !p->v.cfg.user_header_size)
		return NULL;
	/* Only a chunk we hold (its payload found on receipt). */
	for (i = 0; i < p->nheld; i++)
		if (p->held[i] == smp->chunk)
			return p->hptr[i] + (svc_zt(&p->v) ?
			       zt_uoff(&p->v, p->zmaps[p->hmap[i]].seg) :
			       p->v.g.uoff);
	return NULL;
}

unsigned char *chunk_ptr(const struct shmk_port *p, uint32_t c)
{
	const struct svc_view *v = &p->v;

	if (svc_zt(v)) {
		uint32_t s = p->cseg[c - p->zlo];

		return p->zseg[s].chunks + (uint64_t)(c - p->zlo) *
		       zt_stride(v, s);
	}
	return v->chunks + (uint64_t)c * v->g.stride;
}

/* The payload bytes of loaned chunk @c. */
static uint64_t chunk_cap(const struct shmk_port *p, uint32_t c)
{
	return svc_zt(&p->v) ? zt_cap(&p->v, p->cseg[c - p->zlo]) :
	       p->v.cfg.payload_max;
}

/* ...and its user header's offset. */
static uint64_t chunk_uoff(const struct shmk_port *p, uint32_t c)
{
	return svc_zt(&p->v) ? zt_uoff(&p->v, p->cseg[c - p->zlo]) :
	       p->v.g.uoff;
}

/*
 * Index in @arr (chunks this port holds as loans) of the chunk whose
 * payload is at @payload, or -1.  Compares addresses: no division by the
 * stride on the publish path.
 */
int find_chunk(const struct shmk_port *p, const uint32_t *arr,
	       uint32_t n, const void *payload)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (chunk_ptr(p, arr[i]) == payload)
			return (int)i;
	return -1;
}

SHMK_API int shmk_pub_discard(struct shmk_port *p, void *payload)
{
	int i;

	if (!p)
		return -EINVAL;
	i = find_chunk(p, p->loans, p->nloans, payload);
	if (i < 0)
		return -EINVAL;
	chunk_put(&p->v, p->loans[i], p->slot);
	p->hint = p->loans[i];	/* warm: the next loan tries it first */
	p->loans[i] = p->loans[--p->nloans];
	return 0;
}

/*
 * Where consumer @j is on a ring whose current generation covers
 * [@start, @tail): its cursor, clamped into that range.  A cursor below
 * start has not yet skipped the samples of older generations, which it
 * cannot receive (cons_try_one() counts them as dropped); one above tail
 * is corrupt.
 */
static uint64_t cursor_clamp(const struct svc_view *v, uint32_t ch, uint32_t j,
			     uint32_t i, uint64_t start, uint64_t tail)
{
	/*
	 * Acquire: pairs with the consumer's release store of its cursor
	 * after it took its reference: it is done with the ring entry we
	 * are about to overwrite.
	 */
	uint64_t cv = atomic_load_explicit(cursor_at(v, ch, j, i),
					   memory_order_acquire);

	return cv < start ? start : cv > tail ? tail : cv;
}

/* Back-pressure: 0 when every live consumer has room, else -EAGAIN. */
static int bp_room(struct shmk_port *p, void *arg)
{
	const struct svc_view *v = &p->v;
	uint32_t j, ch = (uint32_t)p->prod_ch;

	(void)arg;
	for (j = p->clo; j < p->chi; j++) {
		/* Acquire: pairs with the claimer's seq_cst store of ALIVE. */
		uint32_t st = atomic_load_explicit(&v->slots[j].state,
						   memory_order_acquire);
		uint64_t cv;

		if (ST_TAG(st) != ST_ALIVE)
			continue;
		cv = cursor_clamp(v, ch, j, p->slot, p->start, p->tail);
		if (p->tail - cv >= v->cfg.buffer)
			return -EAGAIN;
	}
	return 0;
}

/* 0 when every live consumer of our own ring has room, else -EAGAIN. */
int chan_room(struct shmk_port *p)
{
	return bp_room(p, NULL);
}

/*
 * A server: 0 when client @k has fewer than buffer responses of ours
 * unread in its ring (so that none is overwritten), else -EAGAIN.
 */
int chan_room_to(struct shmk_port *p, uint32_t k)
{
	const struct svc_view *v = &p->v;
	uint32_t ch = (uint32_t)p->prod_ch;
	struct svc_prod *pr = prod_of(v, ch, k);
	/* Relaxed: only we (this server) write them. */
	uint64_t tail = atomic_load_explicit(&pr->tail, memory_order_relaxed);
	uint64_t start = atomic_load_explicit(&pr->start, memory_order_relaxed);

	if (start > tail)	/* corrupt: as prod_publish() */
		start = tail;
	return tail - cursor_clamp(v, ch, k, p->slot, start, tail) >=
	       v->cfg.buffer ? -EAGAIN : 0;
}

/* Is any consumer of ours live? */
int chan_consumers(const struct shmk_port *p)
{
	uint32_t j, st;

	for (j = p->clo; j < p->chi; j++) {
		/* Acquire: pairs with the consumer's store of ALIVE. */
		st = atomic_load_explicit(&p->v.slots[j].state,
					  memory_order_acquire);
		if (ST_TAG(st) == ST_ALIVE)
			return 1;
	}
	return 0;
}

/* Run recovery every this many failed non-blocking publishes in a row. */
#define BP_RECOVER_EVERY	16

int prod_publish(struct shmk_port *p, void *payload, size_t len,
			uint64_t corr, uint32_t target, uint32_t tgen,
			int policy, int64_t timeout_ns)
{
	return prod_publish_f(p, payload, len, corr, target, tgen, policy,
			      timeout_ns, 0);
}

/*
 * The publish of position pos overwrote entry (pos - cap) % cap, whose
 * chunk @oc the ring referenced: keep that reference as ours, the spare
 * that the next loan takes (shmk_pub_loan()), when nobody else holds
 * the chunk.  Returns whether it did; if not, the caller drops the
 * reference as usual.
 *
 * Why: a subscriber's receive and release write the holders line of the
 * chunks just published, so the usual loan, a CAS on a holders word in
 * that line, waited for the line to come back from the subscriber's CPU
 * before the publisher could write its sample.  The CAS here touches the
 * same line, but after the publish's store of tail: nobody waits for it.
 *
 * Only a publisher (a server writes its clients' rings), on one holders
 * word (nslots <= 64: no handshake over several words), not zero-trust
 * (its chunks come from segments that loans may trim), with no spare
 * yet, and not when the next loan is to take back the chunk just
 * published (p->last, 64 KiB or more: loan_reuse()).  A spare replaces
 * the ring's reference it came from, so a publisher holds no more than
 * cap + max_loans chunks, as the pool's size assumes (svc_core.c).
 */
static int keep_spare(struct shmk_port *p, uint32_t oc)
{
	const struct svc_view *v = &p->v;
	uint64_t bit = SLOT_BIT(p->slot), old = bit;

	if (p->role != ROLE_PUB || v->g.mwords != 1 || svc_zt(v) ||
	    p->spare != NIL || p->last != NIL)
		return 0;
	SHMK_CP();
	/*
	 * Release: heads a release sequence after our overwrite of the
	 * entry; a subscriber whose fetch_or of its bit comes later in this
	 * word's modification order reads from it, so its re-load of the
	 * entry sees the overwrite and it lets go (cons_try_one()), as
	 * after a drop; one that came earlier makes this CAS fail.  Acquire:
	 * pairs with the release of the chunk's last other holder
	 * (chunk_put()): its reads of the payload happen before our next
	 * writes.
	 */
	if (!atomic_compare_exchange_strong_explicit(hold_word(v, oc, p->slot),
						     &old, bit,
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	p->spare = oc;
	return 1;
}

/* prod_publish() with the header's flags (request-response). */
int prod_publish_f(struct shmk_port *p, void *payload, size_t len,
		   uint64_t corr, uint32_t target, uint32_t tgen,
		   int policy, int64_t timeout_ns, uint32_t flags)
{
	const struct svc_view *v = &p->v;
	uint32_t M = v->g.nslots, ch = (uint32_t)p->prod_ch, c, oc;
	/* A server writes a response into its client's ring. */
	uint32_t ri = p->role == ROLE_SERVER ? target : p->slot;
	struct svc_prod *pr = prod_of(v, ch, ri);
	uint64_t pos, start, old;
	_Atomic uint64_t *e;
	struct msg_hdr *h;
	int i, ret;

	i = find_chunk(p, p->loans, p->nloans, payload);
	if (i < 0 || len > chunk_cap(p, p->loans[i]) || ri >= M)
		return -EINVAL;
	if (policy == SHMK_OVERFLOW_BLOCK) {
		ret = svc_block_on(p, bp_room, NULL, timeout_ns, SLEEP_ROOM);
		/*
		 * Timeout 0 never sleeps, so nothing else would notice a
		 * dead consumer that holds us up on the memfd backend (its
		 * death announces itself to nobody): look for the dead now
		 * and then (lib-audit #10).
		 */
		if (ret == -EAGAIN && ++p->bp_fails >= BP_RECOVER_EVERY) {
			p->bp_fails = 0;
			if (view_recover(&p->svc->v) > 0)
				ret = bp_room(p, NULL);
			/* No request where no server will read it. */
			if (!ret && p->role == ROLE_CLIENT &&
			    !chan_consumers(p))
				ret = -ENOTCONN;
		}
		if (ret)
			return ret;
		p->bp_fails = 0;
	}
	c = p->loans[i];
	if (ri == p->slot) {
		/* Our own ring: the private copies (only we write it). */
		pos = p->tail;
		start = p->start;
	} else {
		/* Relaxed: only this producer (the server) writes them. */
		pos = atomic_load_explicit(&pr->tail, memory_order_relaxed);
		start = atomic_load_explicit(&pr->start, memory_order_relaxed);
		if (start > pos)	/* corrupt: drop nothing */
			start = pos;
	}
	h = &v->hdrs[c];
	SHMK_CP();
	h->seq = pos;
	h->corr = corr;
	h->len = len;
	h->origin = p->slot;
	h->origin_gen = p->gen;
	h->target = target;
	h->target_gen = tgen;
	h->flags = flags;
	h->seg = svc_zt(v) ? p->cseg[c - p->zlo] : 0;
	e = &ring_of(v, ch, ri)[pos % v->g.cap];
	/* Relaxed: only this producer writes its ring. */
	old = atomic_load_explicit(e, memory_order_relaxed);
	SHMK_CP();
	/*
	 * Release: the chunk's header and payload are written before the
	 * entry; pairs with the consumer's (seq_cst) load of the entry in
	 * cons_try_one().
	 */
	atomic_store_explicit(e, ent_make(pos, c), memory_order_release);
	SHMK_CP();
	/*
	 * Release: pairs with consumers' acquire loads of tail, which then
	 * see the entry above.  A consumer reads only below tail, so an
	 * entry stored by a producer that died before this store is never
	 * read (lib-audit #1).
	 */
	atomic_store_explicit(&pr->tail, pos + 1, memory_order_release);
	if (ri == p->slot)
		p->tail = pos + 1;
	p->loans[i] = p->loans[--p->nloans];
	/* The next loan may take this chunk back: loan_reuse(). */
	p->last = NIL;
	if (p->role == ROLE_PUB && len >= REUSE_MIN && !v->cfg.history &&
	    v->g.mwords == 1 && !svc_zt(v))
		p->last = c;
	/*
	 * Drop the ring's reference on the overwritten (oldest) sample.
	 * Decided by position: the entry at pos % cap holds a reference of
	 * ours exactly when this generation wrote it, at pos - cap >= start.
	 * An older generation's entry (its references went with its sweep),
	 * or one a dead producer stored past its tail, is left alone.  The
	 * entry must also say pos - cap; anything else is corrupt, and we
	 * never clear our bit where we may not hold it for the ring.
	 */
	oc = ent_chunk(old);
	if (pos - start >= v->g.cap && ent_is(old, pos - v->g.cap) &&
	    oc < v->g.nchunks) {
		if (keep_spare(p, oc))
			goto kept;
		/*
		 * Release (seq_cst, in hold_drop()), after the entry store
		 * above: a consumer whose fetch_or on this word (or load of
		 * it, hold_add()) comes later in its modification order reads
		 * from the release sequence this RMW heads (every write to a
		 * holders word is an RMW), so the overwrite of the entry
		 * happens before its re-load of it, which then fails (see
		 * cons_try_one()).  Also a release as chunk_put().
		 */
		hold_drop(v, oc, p->slot);
		/* The next loan tries it first: see shmk_pub_loan(). */
		p->hint = oc;
	}
kept:
	/* Its seq_cst fence orders the entry store before the mask load. */
	svc_wake_cons(p, ri);
	SHMK_PROBE5(publish, p->svc->rname, p->slot, pos, len, c);
	return 0;
}

/* 0 when every live consumer has read all we published, else -EAGAIN. */
int drained(struct shmk_port *p, void *arg)
{
	const struct svc_view *v = &p->v;
	uint32_t j, ch = (uint32_t)p->prod_ch;

	(void)arg;
	for (j = p->clo; j < p->chi; j++) {
		/* Acquire: as in bp_room(). */
		uint32_t st = atomic_load_explicit(&v->slots[j].state,
						   memory_order_acquire);
		uint64_t tail = p->tail, start = p->start;

		if (ST_TAG(st) != ST_ALIVE)
			continue;
		if (p->role == ROLE_SERVER) {
			/* Client j's own response ring; relaxed: ours. */
			tail = atomic_load_explicit(&prod_of(v, ch, j)->tail,
						    memory_order_relaxed);
			start = atomic_load_explicit(&prod_of(v, ch, j)->start,
						     memory_order_relaxed);
			if (start > tail)
				start = tail;
		}
		if (cursor_clamp(v, ch, j, p->slot, start, tail) < tail)
			return -EAGAIN;
	}
	return 0;
}

/* Consumers */

/* Move our cursor @cur to @to, counting the samples skipped as dropped. */
static void cursor_skip(struct shmk_port *p, _Atomic uint64_t *cur,
			uint64_t from, uint64_t to)
{
	p->dropped += to - from;
	SHMK_CP();
	/* Release: pairs with bp_room()'s acquire. */
	atomic_store_explicit(cur, to, memory_order_release);
}

/*
 * Try to take the next sample of producer @i; -EAGAIN when none.
 *
 * Delivery accounting: every sample whose publish returned (its tail was
 * stored) is either received or counted in p->dropped: skipped because
 * we lagged more than the ring (safe overflow), or because its producer
 * left or died before we took it (its references go with its slot), or
 * because a later generation of the slot had started meanwhile.
 */
static int cons_try_one(struct shmk_port *p, uint32_t ch, uint32_t i,
			struct shmk_sample *smp)
{
	const struct svc_view *v = &p->v;
	uint32_t cap = v->g.cap;
	_Atomic uint64_t *cur = cursor_at(v, ch, p->slot, i);
	/* Responses: the server writes client k's into ring k. */
	uint32_t ri = p->role == ROLE_CLIENT ? p->slot : i;
	struct svc_prod *pr = prod_of(v, ch, ri);
	_Atomic uint64_t *ring = ring_of(v, ch, ri);
	uint32_t st, tries;

	for (tries = 0; tries < 8; tries++) {
		uint64_t e, cv, tail, start, d, seq, hlen;
		uint32_t c, mi = 0, zlo, zn, seg = 0;
		unsigned char *data;
		int held, had;
		_Atomic uint64_t *ep;
		struct msg_hdr *h;

		/*
		 * Acquire: pairs with the producer's store of ALIVE (its start
		 * is visible) and with the reclaimer's release of FREE.
		 */
		st = atomic_load_explicit(&v->slots[i].state,
					  memory_order_acquire);
		/* Relaxed: only this consumer writes its cursor. */
		cv = atomic_load_explicit(cur, memory_order_relaxed);
		/*
		 * Acquire: pairs with the producer's release store of tail:
		 * entries below it are visible.
		 */
		tail = atomic_load_explicit(&pr->tail, memory_order_acquire);
		if (cv > tail) {
			/* Corrupt (positions only grow): start over at tail. */
			cursor_skip(p, cur, tail, tail);
			return -EBADMSG;
		}
		if (ST_TAG(st) != ST_ALIVE) {
			/*
			 * Producer gone or going: its samples we did not take
			 * are lost to us (a new claimer continues from tail).
			 * Relaxed: after the acquire load of tail above; an
			 * unchanged state means tail was this producer's.
			 */
			if (cv < tail &&
			    atomic_load_explicit(&v->slots[i].state,
						 memory_order_relaxed) == st)
				cursor_skip(p, cur, cv, tail);
			return -EAGAIN;
		}
		/* Relaxed: published by the ALIVE store we acquired. */
		start = atomic_load_explicit(&pr->start, memory_order_relaxed);
		if (start > tail)
			start = tail;
		if (cv < start) {
			/* An older generation's samples: gone with it. */
			cursor_skip(p, cur, cv, start);
			cv = start;
		}
		if (cv == tail)
			return -EAGAIN;
		if (tail - cv > cap) {
			/* Overwritten: we lagged more than the ring. */
			cursor_skip(p, cur, cv, tail - cap);
			cv = tail - cap;
		}
		ep = &ring[cv % cap];
		/*
		 * Seq_cst: an acquire, pairing with the producer's release
		 * store of the entry (the chunk is written); seq_cst so that
		 * a sleeper's re-check, after its seq_cst fetch_or of its
		 * sleeping bit and fence, follows wake_mask()'s fence
		 * (Dekker; a plain load on x86).
		 */
		e = atomic_load_explicit(ep, memory_order_seq_cst);
		c = ent_chunk(e);
		if (!ent_is(e, cv)) {
			/*
			 * cv < tail, so the entry holds cv or a later sample
			 * at this index (svc.h): we lagged while looking.
			 */
			d = ((e >> ENT_CBITS) - cv) & ENT_PMASK;
			if (d % cap || d > ENT_PMASK / 2)
				return -EBADMSG;	/* neither: corrupt */
			cursor_skip(p, cur, cv, cv + 1);
			continue;
		}
		/* Never trust a shared index: the entry may be corrupt. */
		if (c >= v->g.nchunks)
			return -EBADMSG;
		/* Zero-trust: and it must be one of producer i's chunks. */
		if (svc_zt(v)) {
			zt_range(v, i, &zlo, &zn);
			if (c < zlo || c - zlo >= zn)
				return -EBADMSG;
		}
		if (p->nheld >= v->cfg.max_borrow)
			return -ENOBUFS;
		h = &v->hdrs[c];
		/*
		 * Acquire (in hold_add()): take a reference, then re-read the
		 * entry and the producer's state.  Every write to a holders
		 * word is an RMW, so if the value of the producer's word we
		 * read (our own fetch_or's, or a load after it when its bit
		 * is in another word) comes after the producer's drop of its
		 * bit (prod_publish(), release, after its overwrite of the
		 * entry) or after the sweep of its slot (slot_sweep(),
		 * release, after the state left ALIVE) in the word's
		 * modification order, it reads from their release sequence:
		 * the overwrite or the state change happens before the
		 * re-loads below, which then see it.  If both are unchanged
		 * and the producer's bit was still set, the chunk was still
		 * referenced for this sample, so it is ours now (on several
		 * words, hold_claim()'s handshake keeps an allocator off it).
		 */
		held = hold_add(v, c, p->slot, i, &had);
		/* Relaxed: ordered after the acquire above (see there). */
		if (atomic_load_explicit(ep, memory_order_relaxed) != e ||
		    atomic_load_explicit(&v->slots[i].state,
					 memory_order_relaxed) != st ||
		    !held) {
			if (!had)
				chunk_put(v, c, p->slot);
			continue;
		}
		/* Read once: a corrupt header is as bad as a corrupt entry. */
		seq = SHMK_READ_ONCE(h->seq);
		hlen = SHMK_READ_ONCE(h->len);
		if (svc_zt(v))
			seg = SHMK_READ_ONCE(h->seg);
		if (seq != cv) {
			if (!had)
				chunk_put(v, c, p->slot);
			/* A sample 2^40 positions on (svc.h): lagged. */
			if (seq > cv && (seq - cv) % cap == 0) {
				cursor_skip(p, cur, cv, cv + 1);
				continue;
			}
			return -EBADMSG;
		}
		/* Dynamic: no more than the sample's segment holds. */
		if (hlen > v->cfg.payload_max ||
		    (svc_zt(v) && seg < ZT_SEGS && hlen > zt_cap(v, seg))) {
			if (!had)
				chunk_put(v, c, p->slot);
			return -EBADMSG;
		}
		data = v->chunks + (uint64_t)c * v->g.stride;
		if (svc_zt(v)) {
			/* The producer's data region, mapped on first sight. */
			int zret = zt_get(p, i, ST_VAL(st), seg, c, &data,
					  &mi);

			if (zret) {
				if (!had)
					chunk_put(v, c, p->slot);
				/*
				 * -EBADMSG (a corrupt header or region), as
				 * for a corrupt length: the cursor stays.
				 */
				if (zret != -ENOENT && zret != -ENOLINK)
					return zret;
				/* Gone with its producer: dropped. */
				cursor_skip(p, cur, cv, cv + 1);
				continue;
			}
		}
		p->hptr[p->nheld] = data;
		p->hmap[p->nheld] = mi;
		p->held[p->nheld++] = c;
		SHMK_CP();
		/* Release: pairs with bp_room()'s acquire. */
		atomic_store_explicit(cur, cv + 1, memory_order_release);
		smp->data = data;
		smp->len = (size_t)hlen;
		smp->seq = cv;
		smp->corr = SHMK_READ_ONCE(h->corr);
		smp->origin = i;
		smp->chunk = c;
		smp->origin_gen = ST_VAL(st);
		/* Just bits: a hostile value misleads nobody but us. */
		smp->reserved = SHMK_READ_ONCE(h->flags);
		/*
		 * Producer i may wait for room (back-pressure) or in a drain:
		 * its seq_cst fence orders our cursor store before the mask
		 * load (no slice would catch a missed wake on the device).
		 */
		svc_wake_prod(v, i);
		SHMK_PROBE6(receive, p->svc->rname, p->slot, i, cv, smp->len, c);
		return 0;
	}
	return -EAGAIN;
}

int cons_try(struct shmk_port *p, void *arg)
{
	struct shmk_sample *smp = arg;
	uint32_t n = p->phi - p->plo, t, i;
	int ret;

	for (t = 0; t < n; t++) {
		i = p->plo + (p->rr + t) % n;
		/* A client reads server s's responses on channel 1 + s. */
		ret = cons_try_one(p, p->role == ROLE_CLIENT ? 1 + i - p->plo :
				   (uint32_t)p->cons_ch, i, smp);
		if (ret == -EAGAIN)
			continue;
		if (ret == 0)
			p->rr = (i - p->plo + 1) % n;
		return ret;
	}
	return -EAGAIN;
}

/* Give back a sample taken by cons_try(). */
int chan_release(struct shmk_port *p, struct shmk_sample *smp)
{
	uint32_t i;

	for (i = 0; i < p->nheld; i++)
		if (p->held[i] == smp->chunk) {
			chunk_put(&p->v, smp->chunk, p->slot);
			if (svc_zt(&p->v))
				zt_put(p, p->hmap[i]);
			p->held[i] = p->held[--p->nheld];
			p->hptr[i] = p->hptr[p->nheld];
			p->hmap[i] = p->hmap[p->nheld];
			smp->data = NULL;
			SHMK_PROBE3(release, p->svc->rname, p->slot, smp->chunk);
			return 0;
		}
	return -EINVAL;
}
