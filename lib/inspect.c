// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: introspection of the participant slots, read-only.
 *
 * Everything comes from the handle's validated private view (struct
 * svc_view: its geometry was checked against the configuration when the
 * service was opened), so every index and loop bound below is private;
 * only the words read through it (slot states, pids, ring positions,
 * cursors, event words) are shared, and each of them is read once into a
 * local, checked, and only ever used in arithmetic, never as an index or
 * a loop bound.  Nothing here writes the region: no SHMK_CP() is needed,
 * and a dead participant is reported, not reclaimed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "svc.h"
#include <shmk/inspect.h>

_Static_assert(sizeof(struct shmk_participant_info) ==
	       SHMK_PARTICIPANT_INFO_SIZE_V0,
	       "struct shmk_participant_info grew: add a _V1 size and accept both");

/* The largest out[0].size accepted (a newer header's struct). */
#define INFO_SIZE_MAX	4096U

SHMK_API const char *shmk_role_name(uint32_t role)
{
	switch (role) {
	case SHMK_ROLE_PUBLISHER: return "publisher";
	case SHMK_ROLE_SUBSCRIBER: return "subscriber";
	case SHMK_ROLE_CLIENT: return "client";
	case SHMK_ROLE_SERVER: return "server";
	case SHMK_ROLE_NOTIFIER: return "notifier";
	case SHMK_ROLE_LISTENER: return "listener";
	case SHMK_ROLE_WRITER: return "writer";
	case SHMK_ROLE_READER: return "reader";
	default: return "?";
	}
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/*
 * Relaxed, every load in this file: a snapshot for people and tools, as
 * shmk_service_backlog(); no decision of the library rests on it, so no
 * ordering with the writers is needed.
 */
static uint32_t load32(_Atomic uint32_t *w)
{
	return atomic_load_explicit(w, memory_order_relaxed);
}

static uint64_t load64(_Atomic uint64_t *w)
{
	return atomic_load_explicit(w, memory_order_relaxed);
}

/*
 * Consumer @j's standing on ring @ri of channel @ch, whose producer is
 * slot @i: what it has still to receive (at most cap) added to *@lag,
 * what it can no longer receive added to *@drops.  The rules are
 * cons_try_one()'s, applied to a snapshot.
 */
static void standing(const struct svc_view *v, uint32_t ch, uint32_t ri,
		     uint32_t i, uint32_t j, uint64_t *lag, uint64_t *drops)
{
	struct svc_prod *pr = prod_of(v, ch, ri);
	uint32_t st = load32(&v->slots[i].state);
	uint64_t tail = load64(&pr->tail);
	uint64_t start = load64(&pr->start);
	uint64_t cv = load64(cursor_at(v, ch, j, i));
	uint64_t d;

	if (cv > tail)
		return;		/* corrupt: the consumer starts over at tail */
	if (ST_TAG(st) != ST_ALIVE) {
		/* Producer gone or going: what is left is lost. */
		*drops = sat_add(*drops, tail - cv);
		return;
	}
	if (start > tail)
		start = tail;	/* corrupt: nothing to replay */
	if (cv < start) {
		/* An older generation's samples: gone with it. */
		*drops = sat_add(*drops, start - cv);
		cv = start;
	}
	d = tail - cv;
	if (d > v->g.cap) {
		/* Overwritten: it lagged more than the ring. */
		*drops = sat_add(*drops, d - v->g.cap);
		d = v->g.cap;
	}
	*lag = sat_add(*lag, d);
}

/* Samples produced on ring @ri of channel @ch since its producer opened. */
static uint64_t produced(const struct svc_view *v, uint32_t ch, uint32_t ri)
{
	struct svc_prod *pr = prod_of(v, ch, ri);
	uint64_t tail = load64(&pr->tail), start = load64(&pr->start);

	return start > tail ? 0 : tail - start;
}

/* Is slot @k's state, read as @st, an open port's? */
static int alive_tag(uint32_t st)
{
	return ST_TAG(st) == ST_ALIVE;
}

/*
 * The figures of slot @k (role @role, A-side when @k < na) into @e.
 * Channel 0 runs from the A-side (publishers, clients) to the B-side
 * (subscribers, servers); channel 1 + s from server s (slot na + s) to
 * client k, in ring k (see chan.c).
 */
static void figures(const struct svc_view *v, uint32_t k, uint32_t role,
		    struct shmk_participant_info *e)
{
	uint32_t na = v->cfg.max_publishers, M = v->g.nslots, i, w;
	uint64_t lag, drops, worst;

	switch (role) {
	case SHMK_ROLE_PUBLISHER:
	case SHMK_ROLE_CLIENT:
		e->flags |= SHMK_PART_PRODUCER | (role == SHMK_ROLE_CLIENT ?
						  SHMK_PART_CONSUMER : 0);
		e->published = produced(v, 0, k);
		worst = 0;
		for (i = na; i < M; i++) {
			lag = drops = 0;
			if (!alive_tag(load32(&v->slots[i].state)))
				continue;
			standing(v, 0, k, k, i, &lag, &drops);
			if (lag > worst)
				worst = lag;
		}
		if (role == SHMK_ROLE_PUBLISHER) {
			e->lag = worst;
			break;
		}
		/* A client's own lag: responses in its ring. */
		for (i = na; i < M; i++)
			standing(v, 1 + i - na, k, i, k, &e->lag, &e->drops);
		break;
	case SHMK_ROLE_SUBSCRIBER:
		e->flags |= SHMK_PART_CONSUMER;
		for (i = 0; i < na; i++)
			standing(v, 0, i, i, k, &e->lag, &e->drops);
		break;
	case SHMK_ROLE_SERVER:
		e->flags |= SHMK_PART_CONSUMER | SHMK_PART_PRODUCER;
		for (i = 0; i < na; i++) {
			standing(v, 0, i, i, k, &e->lag, &e->drops);
			e->published = sat_add(e->published,
					       produced(v, 1 + k - na, i));
		}
		break;
	case SHMK_ROLE_LISTENER:
		e->flags |= SHMK_PART_CONSUMER;
		for (w = 0; w < v->g.ewords; w++)
			e->lag += (uint64_t)__builtin_popcount(
					load32(&events_of(v, k)[w]));
		break;
	default:
		break;
	}
}

static uint32_t role_of(const struct svc_view *v, uint32_t k)
{
	int a = k < v->cfg.max_publishers;

	switch (v->cfg.kind) {
	case SHMK_SVC_PUBSUB:
		return a ? SHMK_ROLE_PUBLISHER : SHMK_ROLE_SUBSCRIBER;
	case SHMK_SVC_REQRES:
		return a ? SHMK_ROLE_CLIENT : SHMK_ROLE_SERVER;
	case SHMK_SVC_BLACKBOARD:
		return a ? SHMK_ROLE_WRITER : SHMK_ROLE_READER;
	default:
		return a ? SHMK_ROLE_NOTIFIER : SHMK_ROLE_LISTENER;
	}
}

/*
 * Is the holder of slot @k (state @st, not FREE) gone?  The judgement of
 * shmk_service_dead(): on the device, a state the module wrote (DEAD) or
 * none a live holder has; on memfd, nobody holds the slot's lock (every
 * holder of a non-FREE state does).  F_OFD_GETLK only asks.
 */
static int gone(const struct svc_view *v, uint32_t k, uint32_t st)
{
	if (shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE)
		return ST_TAG(st) != ST_CLAIM && ST_TAG(st) != ST_ALIVE &&
		       ST_TAG(st) != ST_RECLAIM;
	return ofd_lock(shmk_region_fd(v->r), slot_off(v, k), F_WRLCK,
			F_OFD_GETLK) == 0;
}

static uint32_t state_of(uint32_t st)
{
	switch (ST_TAG(st)) {
	case ST_CLAIM: return SHMK_PART_CLAIMING;
	case ST_ALIVE: return SHMK_PART_ALIVE;
	case ST_DEAD: return SHMK_PART_DEAD;
	case ST_RECLAIM: return SHMK_PART_LEAVING;
	default: return SHMK_PART_INVALID;
	}
}

SHMK_API int shmk_service_inspect(const struct shmk_service *s,
				  struct shmk_participant_info *out,
				  size_t max)
{
	const struct svc_view *v;
	uint32_t size = 0, fill, k, st, pid;
	size_t n = 0;

	if (!s || (max && !out)) {
		svc_err(s ? "out: NULL with max > 0" : "s: NULL");
		return -EINVAL;
	}
	if (max) {
		size = out[0].size;
		if (size < SHMK_PARTICIPANT_INFO_SIZE_V0 || size > INFO_SIZE_MAX) {
			svc_err("out[0].size: %u is not in %u..%u (set it to "
				"sizeof(struct shmk_participant_info))", size,
				SHMK_PARTICIPANT_INFO_SIZE_V0, INFO_SIZE_MAX);
			return -EINVAL;
		}
	}
	fill = size < sizeof(*out) ? size : (uint32_t)sizeof(*out);
	v = &s->v;
	for (k = 0; k < v->g.nslots; k++) {
		struct shmk_participant_info e;

		/* Read once: the state decides everything below. */
		st = load32(&v->slots[k].state);
		if (st == ST_FREE)
			continue;
		if (n < max) {
			memset(&e, 0, sizeof(e));
			e.size = fill;
			e.slot = k;
			e.role = role_of(v, k);
			e.state = state_of(st);
			e.generation = ST_VAL(st);
			if (gone(v, k, st))
				e.flags |= SHMK_PART_GONE;
			pid = load32(&v->slots[k].pid);
			/* 0 is nobody's; above PID_MAX_LIMIT (2^22) nobody's. */
			if (pid && pid <= (1U << 22)) {
				e.pid = pid;
				e.flags |= SHMK_PART_PID;
			}
			figures(v, k, e.role, &e);
			/*
			 * The caller's stride: a newer header's larger struct
			 * gets zeros in the fields this library does not know.
			 */
			memset((char *)out + n * size, 0, size);
			memcpy((char *)out + n * size, &e, fill);
		}
		n++;
	}
	return (int)n;
}
