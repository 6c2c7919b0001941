// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: configuration, the layout of a service in its region,
 * creating and opening one by name, discovery and statistics.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "svc.h"

static void cfg_defaults(struct shmk_svc_config *c)
{
	if (!c->payload_max && c->kind != SHMK_SVC_EVENT)
		c->payload_max = 4096;
	if (!c->max_publishers)
		c->max_publishers = c->kind == SHMK_SVC_BLACKBOARD ? 1 : 4;
	if (!c->max_subscribers)
		c->max_subscribers = c->kind == SHMK_SVC_REQRES ? 1 : 4;
	if (!c->buffer)
		c->buffer = 8;
	if (!c->overflow)
		c->overflow = SHMK_OVERFLOW_SAFE;
	if (!c->max_loans)
		c->max_loans = 2;
	if (!c->max_borrow)
		c->max_borrow = 4;
	if (!c->max_events)
		c->max_events = 64;
	if (!(c->mode & 0777))
		c->mode |= 0600;
}

/* This thread's explanation of the last error (shmk_last_error()). */
static _Thread_local char last_error[256];

void svc_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

SHMK_API const char *shmk_last_error(void)
{
	return last_error;
}

/*
 * A field's name for messages: a blackboard reuses some fields under
 * names of its own (<shmk/blackboard.h>), given with the field's.
 */
static const char *cfg_name(uint32_t kind, const char *f)
{
	static const char *const bb[][2] = {
		{ "payload_max", "value_size (payload_max)" },
		{ "buffer", "key_size (buffer)" },
		{ "max_events", "keys (max_events)" },
		{ "max_publishers", "writers (max_publishers)" },
		{ "max_subscribers", "max_readers (max_subscribers)" },
	};
	unsigned int i;

	for (i = 0; kind == SHMK_SVC_BLACKBOARD && i < 5; i++)
		if (!strcmp(f, bb[i][0]))
			return bb[i][1];
	return f;
}

/* -EINVAL, naming the field of @what and the range it must be in. */
#define CFG_BAD(f, lo, hi)						\
	do {								\
		svc_err("%s: %llu is not in %llu..%llu",		\
			cfg_name(c->kind, #f),				\
			(unsigned long long)c->f, (unsigned long long)(lo), \
			(unsigned long long)(hi));			\
		return -EINVAL;						\
	} while (0)

/*
 * The fields of LIBSHMK_0.4: the payload type and the user header.  The
 * name must end within its array, be printable ASCII and have only 0s
 * after its NUL (so that two names compare as arrays).
 */
static int cfg_type_check(const struct shmk_svc_config *c)
{
	uint32_t i, n;

	n = (uint32_t)strnlen(c->type_name, sizeof(c->type_name));
	if (n == sizeof(c->type_name)) {
		svc_err("type_name: not NUL-terminated within %u bytes",
			SHMK_SVC_TYPE_NAME_MAX);
		return -EINVAL;
	}
	for (i = 0; i < sizeof(c->type_name); i++) {
		unsigned char ch = (unsigned char)c->type_name[i];

		if (i < n ? ch < 0x20 || ch > 0x7e : ch != 0) {
			svc_err("type_name: byte %u is %s", i, i < n ?
				"not printable ASCII" : "not 0 after the NUL");
			return -EINVAL;
		}
	}
	if (c->type_align & (c->type_align - 1) ||
	    c->type_align > SHMK_CACHELINE) {
		svc_err("type_align: %u is not 0 or a power of two up to %u",
			c->type_align, SHMK_CACHELINE);
		return -EINVAL;
	}
	/* On open, payload_max 0 is "any". */
	if (c->payload_max && c->type_size > c->payload_max)
		CFG_BAD(type_size, 0, c->payload_max);
	if (c->type_align && c->type_size % c->type_align) {
		svc_err("type_size: %llu is not a multiple of type_align %u",
			(unsigned long long)c->type_size, c->type_align);
		return -EINVAL;
	}
	if (c->user_header_size > SHMK_SVC_USER_HEADER_MAX)
		CFG_BAD(user_header_size, 0, SHMK_SVC_USER_HEADER_MAX);
	if (c->user_header_size && c->kind && c->kind != SHMK_SVC_PUBSUB &&
	    c->kind != SHMK_SVC_REQRES) {
		svc_err("user_header_size: %u, but only publish-subscribe "
			"and request-response samples have headers",
			c->user_header_size);
		return -EINVAL;
	}
	return 0;
}

/* Check a complete configuration and compute its layout. */
static int cfg_geometry(const struct shmk_svc_config *c, struct svc_geo *g)
{
	uint64_t M, off, per, na, ns;
	int ret;

	if (c->kind < SHMK_SVC_PUBSUB || c->kind > SHMK_SVC_BLACKBOARD)
		CFG_BAD(kind, SHMK_SVC_PUBSUB, SHMK_SVC_BLACKBOARD);
	if (c->kind != SHMK_SVC_EVENT &&
	    (c->payload_max < 1 || c->payload_max > SHMK_SVC_PAYLOAD_MAX))
		CFG_BAD(payload_max, 1, SHMK_SVC_PAYLOAD_MAX);
	if (!c->max_publishers || c->max_publishers >= SHMK_SVC_SLOTS_MAX)
		CFG_BAD(max_publishers, 1, SHMK_SVC_SLOTS_MAX - 1);
	if (!c->max_subscribers || c->max_subscribers >= SHMK_SVC_SLOTS_MAX)
		CFG_BAD(max_subscribers, 1, SHMK_SVC_SLOTS_MAX - 1);
	if (c->max_publishers + c->max_subscribers > SHMK_SVC_SLOTS_MAX) {
		svc_err("max_publishers + max_subscribers: %u + %u is more "
			"than %u", c->max_publishers, c->max_subscribers,
			SHMK_SVC_SLOTS_MAX);
		return -EINVAL;
	}
	/* A client's pending responses keep a 64-bit mask of servers. */
	if (c->kind == SHMK_SVC_REQRES &&
	    c->max_subscribers > SHMK_SVC_SERVERS_MAX)
		CFG_BAD(max_subscribers, 1, SHMK_SVC_SERVERS_MAX);
	/* A blackboard: one writer; buffer is the key size. */
	if (c->kind == SHMK_SVC_BLACKBOARD && c->max_publishers != 1)
		CFG_BAD(max_publishers, 1, 1);
	if (c->kind == SHMK_SVC_BLACKBOARD && c->buffer > SHMK_SVC_BB_KEY_MAX)
		CFG_BAD(buffer, 1, SHMK_SVC_BB_KEY_MAX);
	if (!c->buffer || c->buffer > SHMK_SVC_RING_MAX)
		CFG_BAD(buffer, 1, SHMK_SVC_RING_MAX);
	if (c->history > SHMK_SVC_RING_MAX)
		CFG_BAD(history, 0, SHMK_SVC_RING_MAX);
	if (c->overflow != SHMK_OVERFLOW_SAFE && c->overflow != SHMK_OVERFLOW_BLOCK)
		CFG_BAD(overflow, SHMK_OVERFLOW_SAFE, SHMK_OVERFLOW_BLOCK);
	if (!c->max_loans || c->max_loans > SHMK_SVC_RING_MAX)
		CFG_BAD(max_loans, 1, SHMK_SVC_RING_MAX);
	if (!c->max_borrow || c->max_borrow > SHMK_SVC_RING_MAX)
		CFG_BAD(max_borrow, 1, SHMK_SVC_RING_MAX);
	if (!c->max_events || c->max_events > SHMK_SVC_EVENTS_MAX)
		CFG_BAD(max_events, 1, SHMK_SVC_EVENTS_MAX);
	if (c->mode & ~(0777U | SHMK_SVC_ZERO_TRUST | SHMK_SVC_DYNAMIC)) {
		svc_err("mode: %#o has bits other than 0777, "
			"SHMK_SVC_ZERO_TRUST and SHMK_SVC_DYNAMIC", c->mode);
		return -EINVAL;
	}
	if ((c->mode & (SHMK_SVC_ZERO_TRUST | SHMK_SVC_DYNAMIC)) &&
	    c->kind != SHMK_SVC_PUBSUB && c->kind != SHMK_SVC_REQRES) {
		svc_err("mode: SHMK_SVC_ZERO_TRUST or SHMK_SVC_DYNAMIC, but "
			"only publish-subscribe and request-response services "
			"have payloads");
		return -EINVAL;
	}
	if (c->reserved)
		CFG_BAD(reserved, 0, 0);
	ret = cfg_type_check(c);
	if (ret)
		return ret;

	memset(g, 0, sizeof(*g));
	M = c->max_publishers + c->max_subscribers;
	g->nslots = (uint32_t)M;
	g->na = c->max_publishers;
	/* Per-slot bitmaps: holders, masks (layout 6). */
	g->mwords = (uint32_t)((M + 63) / 64);
	g->mstride = (uint32_t)align_up((uint64_t)g->mwords * 8,
					SHMK_CACHELINE_PAD);
	g->cap = c->buffer > c->history ? c->buffer : c->history;
	/*
	 * The pool: what every participant may hold at once while it keeps
	 * to its limits, plus one chunk per slot.  A producer's ring holds
	 * references on the last cap samples of its generation at most
	 * (prod_publish() drops one per publish past that), a producer has
	 * max_loans loans, a consumer max_borrow samples.  Every chunk in use
	 * carries at least one of those, so a loan never finds the pool empty
	 * unless somebody exceeds them, or a dead participant's chunks wait
	 * for recovery (which an empty pool runs).  Documentation/messaging.rst
	 * has the formulas.
	 */
	na = c->max_publishers;
	ns = c->max_subscribers;
	switch (c->kind) {
	case SHMK_SVC_PUBSUB:
		/* Publishers: a ring and loans; subscribers: held samples. */
		g->nchan = 1;
		per = na * (g->cap + c->max_loans) + ns * c->max_borrow;
		break;
	case SHMK_SVC_REQRES:
		/*
		 * Clients: a request ring, loans, held responses.  Each
		 * server: a response ring per client (lib-audit #3: it keeps
		 * cap references in each), loans, held requests.  Channel 0
		 * carries the requests, channel 1 + s server s's responses
		 * (ring k: client k's), so one server has the layout of
		 * LIBSHMK_0.3.
		 */
		g->nchan = (uint32_t)(1 + ns);
		per = na * (g->cap + c->max_loans + c->max_borrow) +
		      ns * (na * g->cap + c->max_loans + c->max_borrow);
		break;
	case SHMK_SVC_BLACKBOARD:
		/* No chunks, rings or event words: entries (svc.h). */
		g->nchan = 0;
		per = 0;
		break;
	default:
		g->nchan = 0;
		per = 0;
		g->ewords = (c->max_events + 31) / 32;
		break;
	}
	per = per ? per + M : 0;
	if (c->mode & (SHMK_SVC_ZERO_TRUST | SHMK_SVC_DYNAMIC)) {
		uint64_t a, b = 0;

		/*
		 * Zero-trust: each producer slot has chunks of its own, as
		 * many as may be held of its samples at once: its ring(s)
		 * and loans, every consumer's borrowed samples, plus one.
		 * Publishers and clients (A-roles): cap + max_loans +
		 * ns * max_borrow + 1; servers: a ring per client, so
		 * na * cap + max_loans + na * max_borrow + 1.  Subscribers
		 * produce nothing.
		 */
		a = g->cap + c->max_loans + ns * c->max_borrow + 1;
		if (c->kind == SHMK_SVC_REQRES)
			b = na * g->cap + c->max_loans + na * c->max_borrow + 1;
		per = na * a + ns * b;
		g->zta = (uint32_t)a;
		g->ztb = (uint32_t)b;
	}
	g->nchunks = per < ENT_NIL ? (uint32_t)per : ENT_NIL;
	/* A chunk: the payload, then the user header (layout 5). */
	g->uoff = per ? align_up(c->payload_max, SHMK_CACHELINE) : 0;
	g->stride = per ? g->uoff + align_up(c->user_header_size,
					     SHMK_CACHELINE) : 0;
	off = sizeof(struct svc_shared);
	g->slots_off = off;
	off += M * sizeof(struct svc_slot);
	g->masks_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->masks_off + (uint64_t)MASK_N * g->mstride;
	/* Rows and rings padded to SHMK_CACHELINE_PAD (lib-audit #17). */
	g->rstride = (uint32_t)align_up(sizeof(struct svc_prod) +
					(uint64_t)g->cap * 8, SHMK_CACHELINE_PAD);
	/* Channel 0's rows: a cursor per producer (cursor_at()). */
	g->crow = (uint32_t)align_up(na, SHMK_CACHELINE_PAD / 8);
	g->erow = (uint32_t)align_up(g->ewords, SHMK_CACHELINE_PAD / 4);
	g->prod_off = align_up(off, SHMK_CACHELINE_PAD);
	g->ring_off = g->prod_off + sizeof(struct svc_prod);	/* in each block */
	off = g->prod_off + (uint64_t)g->nchan * M * g->rstride;
	g->cursor_off = off;
	/* Channel 0: consumers x producers; each other: clients x 1. */
	if (g->nchan)
		off += (M - na) * g->crow * 8 +
		       (uint64_t)(g->nchan - 1) * na * SHMK_CACHELINE_PAD;
	g->holders_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->holders_off + (uint64_t)g->nchunks * g->mwords * 8;
	g->events_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->events_off + M * g->erow * 4;
	/* Layout 6: a pending row per client (svc.h, PEND_ROW). */
	g->pend_off = align_up(off, SHMK_CACHELINE_PAD);
	if (c->kind == SHMK_SVC_REQRES)
		off = g->pend_off + na * PEND_ROW;
	g->hdrs_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->hdrs_off + (uint64_t)g->nchunks * MSG_HDR;
	g->chunks_off = align_up(off, 4096);
	g->total = g->chunks_off + (uint64_t)g->nchunks * g->stride;
	/* Zero-trust: the chunks are in the producers' data regions. */
	if (g->zta)
		g->total = g->chunks_off;
	if (c->kind == SHMK_SVC_BLACKBOARD) {
		/* The chunks' area holds the blackboard: header, entries. */
		g->stride = bb_stride(c->buffer, c->payload_max);
		g->total = g->chunks_off + SHMK_CACHELINE_PAD +
			   (uint64_t)c->max_events * g->stride;
	}
	/* Chunk indices fit an entry's 24 bits, ENT_NIL excluded. */
	if (g->nchunks >= ENT_NIL || g->total > (1ULL << 46) ||
	    (uint64_t)(g->zta > g->ztb ? g->zta : g->ztb) * g->stride >
	    (1ULL << 46)) {
		svc_err("the service would need %llu chunks, %llu bytes: "
			"more than %u chunks or 64 TiB",
			(unsigned long long)g->nchunks,
			(unsigned long long)g->total, ENT_NIL - 1);
		return -EINVAL;
	}
	return 0;
}

static void view_fill(struct svc_view *v, struct shmk_region *r)
{
	unsigned char *b = shmk_region_base(r);

	v->r = r;
	v->sh = (struct svc_shared *)b;
	v->slots = (struct svc_slot *)(b + v->g.slots_off);
	v->masks = (_Atomic uint64_t *)(b + v->g.masks_off);
	v->rings = b + v->g.prod_off;
	v->cursor = (_Atomic uint64_t *)(b + v->g.cursor_off);
	v->holders = (_Atomic uint64_t *)(b + v->g.holders_off);
	v->events = (_Atomic uint32_t *)(b + v->g.events_off);
	v->pend = (_Atomic uint64_t *)(b + v->g.pend_off);
	v->hdrs = (struct msg_hdr *)(b + v->g.hdrs_off);
	v->chunks = b + v->g.chunks_off;
}

/* Validate the header of a mapped service and fill @v (private copies). */
int view_attach(struct svc_view *v, struct shmk_region *r)
{
	struct svc_shared *sh;
	struct shmk_obj_geom h;
	struct svc_geo g;
	void *p;
	int ret;

	ret = shmk_obj_check(r, 0, SHMK_MAGIC_SVC, sizeof(struct svc_shared), &p,
			     &h);
	if (ret)
		return ret;
	sh = p;
	/*
	 * Private copies, each shared field read once: layout 4's part,
	 * then the fields of layout 5 (the type name checked in the copy).
	 */
	memset(&v->cfg, 0, sizeof(v->cfg));
	memcpy(&v->cfg, &sh->cfg, sizeof(sh->cfg));
	memcpy(v->cfg.type_name, sh->type_name, sizeof(v->cfg.type_name));
	v->cfg.type_size = SHMK_READ_ONCE(sh->type_size);
	v->cfg.type_align = SHMK_READ_ONCE(sh->type_align);
	v->cfg.user_header_size = SHMK_READ_ONCE(sh->uhdr);
	if (v->cfg.size != SHMK_SVC_CONFIG_SIZE_V0)
		return -EBADMSG;
	v->cfg.size = sizeof(v->cfg);
	if (cfg_geometry(&v->cfg, &g))
		return -EBADMSG;
	if (SHMK_READ_ONCE(sh->layout) != SVC_LAYOUT)
		return -EPROTO;
	if (sh->nslots != g.nslots || sh->nchan != g.nchan || sh->cap != g.cap ||
	    sh->nchunks != g.nchunks || sh->ewords != g.ewords ||
	    sh->rstride != g.rstride || sh->crow != g.crow ||
	    sh->erow != g.erow || sh->mwords != g.mwords ||
	    sh->stride != g.stride || sh->slots_off != g.slots_off ||
	    sh->prod_off != g.prod_off || sh->ring_off != g.ring_off ||
	    sh->cursor_off != g.cursor_off || sh->holders_off != g.holders_off ||
	    sh->events_off != g.events_off || sh->hdrs_off != g.hdrs_off ||
	    sh->chunks_off != g.chunks_off ||
	    h.total_size != g.total || h.capacity != g.nchunks ||
	    h.data_offset != g.chunks_off ||
	    g.total > shmk_region_size(r))
		return -EBADMSG;
	v->g = g;
	view_fill(v, r);
	return 0;
}

/* Lay out a fresh (zero-filled) service and publish its magic. */
static void svc_init(struct shmk_region *r, const struct shmk_svc_config *c,
		     const struct svc_geo *g)
{
	struct svc_view v;
	uint32_t ch, ri, k;

	memset(&v, 0, sizeof(v));
	v.cfg = *c;
	v.g = *g;
	view_fill(&v, r);
	SHMK_CP();
	memcpy(&v.sh->cfg, c, sizeof(v.sh->cfg));
	v.sh->cfg.size = SHMK_SVC_CONFIG_SIZE_V0;
	memcpy(v.sh->type_name, c->type_name, sizeof(v.sh->type_name));
	v.sh->type_size = c->type_size;
	v.sh->type_align = c->type_align;
	v.sh->uhdr = c->user_header_size;
	v.sh->nslots = g->nslots;
	v.sh->nchan = g->nchan;
	v.sh->cap = g->cap;
	v.sh->nchunks = g->nchunks;
	v.sh->ewords = g->ewords;
	v.sh->rstride = g->rstride;
	v.sh->crow = g->crow;
	v.sh->erow = g->erow;
	v.sh->mwords = g->mwords;
	v.sh->layout = SVC_LAYOUT;
	v.sh->stride = g->stride;
	v.sh->slots_off = g->slots_off;
	v.sh->prod_off = g->prod_off;
	v.sh->ring_off = g->ring_off;
	v.sh->cursor_off = g->cursor_off;
	v.sh->holders_off = g->holders_off;
	v.sh->events_off = g->events_off;
	v.sh->hdrs_off = g->hdrs_off;
	v.sh->chunks_off = g->chunks_off;
	/* Empty ring entries: chunk ENT_NIL (position 0). */
	for (ch = 0; ch < g->nchan; ch++)
		for (ri = 0; ri < g->nslots; ri++)
			for (k = 0; k < g->cap; k++) {
				SHMK_CP();
				atomic_store_explicit(&ring_of(&v, ch, ri)[k],
						      ENT_NIL,
						      memory_order_relaxed);
			}
	v.sh->hdr.version = SHMK_LAYOUT_VERSION;
	v.sh->hdr.hdr_size = sizeof(struct svc_shared);
	v.sh->hdr.elem_size = (uint32_t)g->stride;
	v.sh->hdr.capacity = g->nchunks;
	v.sh->hdr.stride = (uint32_t)g->stride;
	v.sh->hdr.total_size = g->total;
	v.sh->hdr.data_offset = g->chunks_off;
	SHMK_CP();
	/* Release: everything above is visible to whoever sees the magic. */
	shmk_obj_publish(&v.sh->hdr, SHMK_MAGIC_SVC);
}

static int svc_rname(char *buf, const char *name)
{
	int ret = shmk_name_check(name);

	if (ret)
		return ret;
	if (strlen(name) >= SHMK_SVC_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(buf, SHMK_NAME_MAX, SHMK_SVC_PREFIX "%s", name);
	return 0;
}

/* Requested fields (non-zero) must equal the service's. */
static int cfg_match(const struct shmk_svc_config *want,
		     const struct shmk_svc_config *have)
{
#define M_(f)								\
	do {								\
		if (want->f && want->f != have->f) {			\
			svc_err("%s: the service has %llu, not %llu",	\
				cfg_name(have->kind, #f),		\
				(unsigned long long)have->f,		\
				(unsigned long long)want->f);		\
			return -EPROTOTYPE;				\
		}							\
	} while (0)
	M_(kind);
	M_(payload_max);
	M_(max_publishers);
	M_(max_subscribers);
	M_(buffer);
	M_(history);
	M_(overflow);
	M_(max_loans);
	M_(max_borrow);
	M_(max_events);
	M_(user_header_size);
#undef M_
	if ((want->mode & SHMK_SVC_ZERO_TRUST) &&
	    !(have->mode & (SHMK_SVC_ZERO_TRUST | SHMK_SVC_DYNAMIC))) {
		svc_err("mode: the service is not zero-trust "
			"(SHMK_SVC_ZERO_TRUST)");
		return -EPROTOTYPE;
	}
	if ((want->mode & SHMK_SVC_DYNAMIC) &&
	    !(have->mode & SHMK_SVC_DYNAMIC)) {
		svc_err("mode: the service's payloads are not dynamic "
			"(SHMK_SVC_DYNAMIC)");
		return -EPROTOTYPE;
	}
	if ((want->type_name[0] &&
	     memcmp(want->type_name, have->type_name, sizeof(want->type_name))) ||
	    (want->type_size && want->type_size != have->type_size)) {
		svc_err("payload type: the service has '%s' (%llu bytes), "
			"not '%s' (%llu bytes)", have->type_name,
			(unsigned long long)have->type_size, want->type_name,
			(unsigned long long)want->type_size);
		return -EPROTOTYPE;
	}
	if (want->type_align && want->type_align != have->type_align) {
		svc_err("payload type: the service's '%s' is aligned to %u, "
			"not %u", have->type_name, have->type_align,
			want->type_align);
		return -EPROTOTYPE;
	}
	return 0;
}

/* shmk__region_create_init()'s init step: svc_init() on the new region. */
struct svc_init_arg {
	const struct shmk_svc_config *c;
	const struct svc_geo *g;
};

static int svc_init_cb(struct shmk_region *r, void *arg)
{
	const struct svc_init_arg *a = arg;

	svc_init(r, a->c, a->g);
	return 0;
}

/* The geometry fields fit their 256 bytes: the header does not move. */
_Static_assert(sizeof(struct svc_shared) == 4 * SHMK_CACHELINE_PAD,
	       "struct svc_shared outgrew its lines");
_Static_assert(sizeof(struct svc_slot) == SHMK_CACHELINE_PAD,
	       "a slot is one SHMK_CACHELINE_PAD (lib-audit #17)");

_Static_assert(sizeof(struct shmk_svc_config) == SHMK_SVC_CONFIG_SIZE_V1,
	       "struct shmk_svc_config grew: add SHMK_SVC_CONFIG_SIZE_V2 and "
	       "accept every size");
_Static_assert(sizeof(struct svc_cfg0) == SHMK_SVC_CONFIG_SIZE_V0 &&
	       offsetof(struct shmk_svc_config, reserved) ==
	       offsetof(struct svc_cfg0, reserved),
	       "layout 4's stored configuration is LIBSHMK_0.2's struct");

/* The largest cfg->size accepted (a newer header's struct). */
#define CFG_SIZE_MAX	4096U

/*
 * Copy the caller's configuration of cfg->size bytes into @out: an older,
 * smaller struct (no smaller than SHMK_SVC_CONFIG_SIZE_V0) has its missing
 * fields 0; a newer, larger one is accepted when the fields this library
 * does not know are all 0 (the convention of clone3() and openat2()).
 */
static int cfg_copy_in(const struct shmk_svc_config *cfg,
		       struct shmk_svc_config *out)
{
	uint32_t size = cfg->size, i;
	const unsigned char *b = (const unsigned char *)cfg;

	if (size < SHMK_SVC_CONFIG_SIZE_V0 || size > CFG_SIZE_MAX) {
		svc_err("cfg->size: %u is not in %u..%u (set it to "
			"sizeof(struct shmk_svc_config))", size,
			SHMK_SVC_CONFIG_SIZE_V0, CFG_SIZE_MAX);
		return -EINVAL;
	}
	for (i = sizeof(*out); i < size; i++)
		if (b[i]) {
			svc_err("cfg->size: byte %u, beyond the fields this "
				"library knows, is not 0", i);
			return -E2BIG;
		}
	memset(out, 0, sizeof(*out));
	memcpy(out, cfg, size < sizeof(*out) ? size : sizeof(*out));
	out->size = sizeof(*out);
	if (out->reserved) {
		svc_err("reserved: must be 0");
		return -EINVAL;
	}
	/* Create checks them again with the defaults filled in. */
	return cfg_type_check(out);
}

SHMK_API int shmk_service_open(const char *name,
			       const struct shmk_svc_config *cfg,
			       unsigned int flags, struct shmk_service **out)
{
	struct shmk_svc_config full, want;
	struct shmk_service *s;
	struct shmk_region *r = NULL;
	struct svc_geo g;
	int64_t deadline;
	int ret;

	last_error[0] = 0;
	if (!out || (flags & ~(SHMK_SVC_CREATE | SHMK_SVC_EXCL))) {
		svc_err(out ? "flags: unknown bits" : "out: NULL");
		return -EINVAL;
	}
	if ((flags & SHMK_SVC_EXCL) && !(flags & SHMK_SVC_CREATE)) {
		svc_err("flags: SHMK_SVC_EXCL without SHMK_SVC_CREATE");
		return -EINVAL;
	}
	if (!cfg && (flags & SHMK_SVC_CREATE)) {
		svc_err("cfg: NULL with SHMK_SVC_CREATE");
		return -EINVAL;
	}
	if (cfg) {
		ret = cfg_copy_in(cfg, &want);
		if (ret)
			return ret;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = svc_rname(s->rname, name);
	if (ret) {
		svc_err("name: not a valid service name (1 to %d characters, "
			"no '/')", SHMK_SVC_NAME_MAX - 1);
		goto err;
	}
	if (flags & SHMK_SVC_CREATE) {
		full = want;
		cfg_defaults(&full);
		ret = cfg_geometry(&full, &g);
		if (ret)
			goto err;
		/* 0: created and initialised; 1: opened (EXCL not asked). */
		ret = shmk__region_create_init(s->rname, g.total,
				full.mode & 0777,
				(flags & SHMK_SVC_EXCL) ? 0 : SHMK__REGION_OPEN_OWN,
				svc_init_cb, &(struct svc_init_arg){ &full, &g }, &r);
		if (ret < 0)
			goto err;
	}
	if (!r || ret == 1) {
		if (!r)
			ret = shmk_region_open(s->rname, 0, &r);
		if (ret == -ENOLINK)
			svc_err("the service's live holders do not hand it over "
				"(memfd: none serves, e.g. a fork child that has "
				"opened nothing since, or only read-only holders "
				"are left)");
		if (ret < 0)
			goto err;
		/* The creator may still be initialising: wait for the magic. */
		deadline = shmk_deadline(1000000000LL);
		for (;;) {
			struct shmk_obj_hdr *h = shmk_region_base(r);

			/* Acquire: pairs with shmk_obj_publish()'s release. */
			if (atomic_load_explicit(&h->magic, memory_order_acquire))
				break;
			if (!shmk_remaining(deadline)) {
				svc_err("the service's creator has not finished "
					"initialising it after a second");
				ret = -EAGAIN;
				goto err_r;
			}
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		}
	}
	ret = view_attach(&s->v, r);
	if (ret) {
		if (ret == -EPROTO)
			svc_err("the service has another layout version");
		else if (ret == -EBADMSG)
			svc_err("the region is not a valid service");
		goto err_r;
	}
	if (cfg) {
		ret = cfg_match(&want, &s->v.cfg);
		if (ret)
			goto err_r;
	}
	if (svc_zt(&s->v)) {
		ret = zt_service_id(r, s->rname, &s->v.zt_id);
		if (ret)
			goto err_r;
	}
	*out = s;
	return 0;
err_r:
	shmk_region_close(r);
err:
	free(s);
	return ret;
}

SHMK_API void shmk_service_close(struct shmk_service *s)
{
	if (!s)
		return;
	shmk_region_close(s->v.r);
	free(s);
}

SHMK_API int shmk_service_remove(const char *name)
{
	char rname[SHMK_NAME_MAX];
	int ret = svc_rname(rname, name);

	return ret ? ret : shmk_region_unlink(rname);
}

static int list_add(char (*names)[SHMK_SVC_NAME_MAX], size_t max, int n,
		    const char *rname)
{
	size_t plen = strlen(SHMK_SVC_PREFIX);

	if (strncmp(rname, SHMK_SVC_PREFIX, plen) || !rname[plen])
		return n;
	if ((size_t)n < max) {
		strncpy(names[n], rname + plen, SHMK_SVC_NAME_MAX - 1);
		names[n][SHMK_SVC_NAME_MAX - 1] = 0;
	}
	return n + 1;
}

SHMK_API int shmk_service_list(char (*names)[SHMK_SVC_NAME_MAX], size_t max)
{
	int backend = shmk_backend_select(), n = 0;

	if (backend < 0)
		return backend;
	if (max && !names)
		return -EINVAL;
	if (backend == SHMK_BACKEND_MEMFD) {
		DIR *d = opendir("/dev/shm");
		struct dirent *e;

		if (!d)
			return -errno;
		while ((e = readdir(d)))
			if (!strncmp(e->d_name, "shmk.", 5))
				n = list_add(names, max, n, e->d_name + 5);
		closedir(d);
		return n;
	} else {
		struct shmk_region_info *info = NULL;
		struct shmk_list l;
		uint32_t room = 64, i;
		int fd, ret;

		fd = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		for (;;) {
			free(info);
			info = calloc(room, sizeof(*info));
			if (!info) {
				close(fd);
				return -ENOMEM;
			}
			memset(&l, 0, sizeof(l));
			l.size = sizeof(l);
			l.count = room;
			l.entry_size = sizeof(*info);
			l.entries = (uintptr_t)info;
			for (i = 0; i < room; i++)
				info[i].size = sizeof(*info);
			ret = ioctl(fd, SHMK_IOC_LIST, &l);
			if (ret < 0 || l.count <= room)
				break;
			room = l.count + 16;
		}
		close(fd);
		if (ret < 0) {
			ret = -errno;
			free(info);
			return ret;
		}
		for (i = 0; i < l.count; i++) {
			info[i].name[SHMK_NAME_MAX - 1] = 0;
			n = list_add(names, max, n, info[i].name);
		}
		free(info);
		return n;
	}
}

SHMK_API void shmk_service_config(const struct shmk_service *s,
				  struct shmk_svc_config *cfg)
{
	*cfg = s->v.cfg;
}

/*
 * shmk_service_config@LIBSHMK_0.2: a binary built against the headers
 * of LIBSHMK_0.2 or 0.3 has a struct of SHMK_SVC_CONFIG_SIZE_V0 bytes,
 * and gets exactly those (its size field says so).  A static link
 * takes the current one (a versioned name binds no plain reference).
 */
SHMK_API void shmk__service_config_v0(const struct shmk_service *s, void *cfg);
__asm__(".symver shmk__service_config_v0, shmk_service_config@LIBSHMK_0.2");

SHMK_API void shmk__service_config_v0(const struct shmk_service *s, void *cfg)
{
	struct shmk_svc_config c = s->v.cfg;

	c.size = SHMK_SVC_CONFIG_SIZE_V0;
	memcpy(cfg, &c, SHMK_SVC_CONFIG_SIZE_V0);
}

SHMK_API uint32_t shmk_service_chunks(const struct shmk_service *s)
{
	return s->v.g.nchunks;
}

SHMK_API uint32_t shmk_service_chunks_used(const struct shmk_service *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->v.g.nchunks; i++)
		/* Relaxed (in hold_busy()): a snapshot for statistics and tests. */
		if (hold_busy(&s->v, i))
			n++;
	return n;
}

SHMK_API uint32_t shmk_service_participants(const struct shmk_service *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->v.g.nslots; i++)
		/* Relaxed: a snapshot. */
		if (atomic_load_explicit(&s->v.slots[i].state,
					 memory_order_relaxed) != ST_FREE)
			n++;
	return n;
}

SHMK_API void shmk_service_roles(const struct shmk_service *s,
				 uint32_t *producers, uint32_t *consumers)
{
	struct shmk_svc_config c = { .size = sizeof(c) };
	uint32_t i, a = 0, b = 0;

	shmk_service_config(s, &c);
	/* Slots [0, max_publishers) hold the A-roles, the rest the B-roles. */
	for (i = 0; i < s->v.g.nslots; i++)
		/* Relaxed: a snapshot. */
		if (atomic_load_explicit(&s->v.slots[i].state,
					 memory_order_relaxed) != ST_FREE) {
			if (i < c.max_publishers)
				a++;
			else
				b++;
		}
	if (producers)
		*producers = a;
	if (consumers)
		*consumers = b;
}

SHMK_API uint32_t shmk_service_backlog(const struct shmk_service *s)
{
	const struct svc_view *v = &s->v;
	struct shmk_svc_config c = { .size = sizeof(c) };
	uint32_t M = v->g.nslots, na, i, j, worst = 0;

	shmk_service_config(s, &c);
	if (!v->g.nchan)	/* events, blackboard */
		return 0;
	na = c.max_publishers;
	/* Channel 0: A-role producers [0, na), B-role consumers [na, M). */
	for (j = na; j < M; j++) {
		uint32_t sum = 0;

		/* Relaxed, here and below: a snapshot for statistics. */
		if (ST_TAG(atomic_load_explicit(&v->slots[j].state,
						memory_order_relaxed)) != ST_ALIVE)
			continue;
		for (i = 0; i < na; i++) {
			uint32_t st = atomic_load_explicit(&v->slots[i].state,
							   memory_order_relaxed);
			const struct svc_prod *pr = prod_of(v, 0, i);
			uint64_t tail, start, pos;

			if (ST_TAG(st) != ST_ALIVE)
				continue;
			tail = atomic_load_explicit(&pr->tail,
						    memory_order_relaxed);
			start = atomic_load_explicit(&pr->start,
						     memory_order_relaxed);
			pos = atomic_load_explicit(cursor_at(v, 0, j, i),
						   memory_order_relaxed);
			/* Older generations' samples are not receivable. */
			if (pos < start)
				pos = start;
			if (pos < tail)
				sum += tail - pos < v->g.cap ?
				       (uint32_t)(tail - pos) : v->g.cap;
		}
		if (sum > worst)
			worst = sum;
	}
	return worst;
}
