// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk messaging: services, participant slots, the chunk pool, and
 * the broadcast rings that publish-subscribe, request-response and
 * events are built from.  Documentation/messaging.rst is the guide.
 *
 * Ownership of a chunk is one 64-bit word per chunk, a bit per
 * participant slot ("holders"): a producer allocates by CAS 0 -> its bit,
 * a consumer adds its bit, everyone removes only its own.  The word is 0
 * exactly when the chunk is free, so no chunk is freed twice, and the
 * chunks of a dead participant come back when its bit is cleared
 * everywhere (the "sweep").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include <shmk/service.h>

/* Slot states: a 4-bit tag and a 28-bit generation or pid. */
#define ST_FREE		0x00000000U
#define ST_CLAIM	0x10000000U	/* | pid: being claimed */
#define ST_ALIVE	0x20000000U	/* | gen */
#define ST_DEAD		0x30000000U	/* | gen: written by the module */
#define ST_RECLAIM	0x40000000U	/* | pid: being reclaimed */
#define ST_TAG(s)	((s) & 0xf0000000U)
#define ST_VAL(s)	((s) & 0x0fffffffU)

#define SLOT_PIDCHECK	1U	/* no death notice: check the pid */

#define NIL		0xffffffffU
#define MSG_HDR		64	/* bytes of struct msg_hdr, one per chunk */
#define SLEEP_SLICE_NS	100000000LL	/* re-check for dead peers this often */

enum { ROLE_PUB, ROLE_SUB, ROLE_CLIENT, ROLE_SERVER, ROLE_NOTIFIER,
       ROLE_LISTENER };

/* One participant slot (64 bytes). */
struct svc_slot {
	_Atomic uint32_t state;
	_Atomic uint32_t gen;
	_Atomic uint32_t pid;
	_Atomic uint32_t flags;
	char _pad[48];
};

/* A producer's position on one channel, written by that producer only. */
struct svc_prod {
	_Atomic uint32_t tail;	/* next sequence number */
	_Atomic uint32_t start;	/* first sequence number of this generation */
	char _pad[SHMK_CACHELINE_PAD - 8];
};

/* One per chunk, in a dense array apart from the payloads. */
struct msg_hdr {
	uint64_t seq;
	uint64_t corr;
	uint64_t len;
	uint32_t origin;
	uint32_t origin_gen;
	uint32_t target;
	uint32_t target_gen;
	char _pad[MSG_HDR - 40];
};

/* The service header, at offset 0 of the region. */
struct svc_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {
		struct {
			struct shmk_svc_config cfg;
			uint32_t nslots, nchan, cap, nchunks, ewords, _r0;
			uint64_t stride, slots_off, prod_off, ring_off,
				 cursor_off, holders_off, events_off, hdrs_off,
				 chunks_off;
		};
		char _pad_geo[2 * SHMK_CACHELINE_PAD];
	};
	union {
		struct {
			_Atomic uint32_t epoch;		/* every sleeper waits here */
			_Atomic uint32_t sleepers;	/* who may be asleep on it */
		};
		char _pad_wait[SHMK_CACHELINE_PAD];
	};
};

/* Geometry, computed from a configuration. */
struct svc_geo {
	uint32_t nslots, nchan, cap, nchunks, ewords;
	uint64_t stride, slots_off, prod_off, ring_off, cursor_off,
		 holders_off, events_off, hdrs_off, chunks_off, total;
};

/* One process's view of one mapping of a service. */
struct svc_view {
	struct shmk_region *r;
	struct svc_shared *sh;
	struct svc_slot *slots;
	struct svc_prod *prod;		/* [ch * M + i] */
	_Atomic uint64_t *ring;		/* [(ch * M + i) * cap + k] */
	_Atomic uint64_t *cursor;	/* [(ch * M + j) * M + i]: gen << 32 | pos */
	_Atomic uint64_t *holders;	/* [chunk] */
	_Atomic uint32_t *events;	/* [j * ewords + w] */
	struct msg_hdr *hdrs;		/* [chunk] */
	unsigned char *chunks;
	struct shmk_svc_config cfg;	/* private copies, validated */
	struct svc_geo g;
};

struct shmk_service {
	struct svc_view v;
	char rname[SHMK_NAME_MAX];
};

struct shmk_port {
	struct shmk_service *svc;
	struct svc_view v;		/* the port's own region file */
	int role;
	uint32_t slot, gen;
	uint64_t bit;
	int prod_ch, cons_ch;		/* -1: none */
	uint32_t plo, phi;		/* slots that produce to us */
	uint32_t clo, chi;		/* slots that consume from us */
	uint32_t tail, start;		/* producer */
	uint32_t nloans, nheld, rr, hint;
	uint32_t *loans, *held;
	uint64_t dropped, corr_next;
	int watching;
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Chunk @c's holders word (@c checked against nchunks by the caller). */
static _Atomic uint64_t *holders_of(const struct svc_view *v, uint32_t c)
{
	return &v->holders[c];
}

/* Ring @ri of channel @ch: its entries, sequence pos at [pos % cap]. */
static _Atomic uint64_t *ring_of(const struct svc_view *v, uint32_t ch,
				 uint32_t ri)
{
	return &v->ring[((uint64_t)ch * v->g.nslots + ri) * v->g.cap];
}

/* Consumer @j's cursor on producer @i's ring of channel @ch. */
static _Atomic uint64_t *cursor_at(const struct svc_view *v, uint32_t ch,
				   uint32_t j, uint32_t i)
{
	return &v->cursor[((uint64_t)ch * v->g.nslots + j) * v->g.nslots + i];
}

static void cfg_defaults(struct shmk_svc_config *c)
{
	if (!c->payload_max && c->kind != SHMK_SVC_EVENT)
		c->payload_max = 4096;
	if (!c->max_publishers)
		c->max_publishers = 4;
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
	if (!c->mode)
		c->mode = 0600;
}

/* Check a complete configuration and compute its layout. */
static int cfg_geometry(const struct shmk_svc_config *c, struct svc_geo *g)
{
	uint64_t M, off, per;

	if (c->kind < SHMK_SVC_PUBSUB || c->kind > SHMK_SVC_EVENT)
		return -EINVAL;
	if (c->kind != SHMK_SVC_EVENT &&
	    (c->payload_max < 1 || c->payload_max > SHMK_SVC_PAYLOAD_MAX))
		return -EINVAL;
	if (!c->max_publishers || !c->max_subscribers ||
	    (uint64_t)c->max_publishers + c->max_subscribers > SHMK_SVC_SLOTS_MAX)
		return -EINVAL;
	if (c->kind == SHMK_SVC_REQRES && c->max_subscribers != 1)
		return -EINVAL;
	if (!c->buffer || c->buffer > SHMK_SVC_RING_MAX ||
	    c->history > SHMK_SVC_RING_MAX)
		return -EINVAL;
	if (c->overflow != SHMK_OVERFLOW_SAFE && c->overflow != SHMK_OVERFLOW_BLOCK)
		return -EINVAL;
	if (!c->max_loans || c->max_loans > SHMK_SVC_RING_MAX ||
	    !c->max_borrow || c->max_borrow > SHMK_SVC_RING_MAX)
		return -EINVAL;
	if (!c->max_events || c->max_events > SHMK_SVC_EVENTS_MAX)
		return -EINVAL;
	if (c->mode & ~0777U || c->reserved)
		return -EINVAL;

	memset(g, 0, sizeof(*g));
	M = c->max_publishers + c->max_subscribers;
	g->nslots = (uint32_t)M;
	g->cap = c->buffer > c->history ? c->buffer : c->history;
	switch (c->kind) {
	case SHMK_SVC_PUBSUB:
		g->nchan = 1;
		per = (uint64_t)c->max_publishers * (g->cap + c->max_loans) +
		      (uint64_t)c->max_subscribers * c->max_borrow;
		break;
	case SHMK_SVC_REQRES:
		g->nchan = 2;
		per = M * (g->cap + c->max_loans + c->max_borrow);
		break;
	default:
		g->nchan = 0;
		per = 0;
		g->ewords = (c->max_events + 31) / 32;
		break;
	}
	g->nchunks = per ? (uint32_t)(per + M) : 0;
	g->stride = per ? align_up(c->payload_max, SHMK_CACHELINE) : 0;
	off = sizeof(struct svc_shared);
	g->slots_off = off;
	off += M * sizeof(struct svc_slot);
	g->prod_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->prod_off + g->nchan * M * sizeof(struct svc_prod);
	g->ring_off = off;
	off += (uint64_t)g->nchan * M * g->cap * 8;
	g->cursor_off = off;
	off += (uint64_t)g->nchan * M * M * 8;
	g->holders_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->holders_off + (uint64_t)g->nchunks * 8;
	g->events_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->events_off + M * g->ewords * 4;
	g->hdrs_off = align_up(off, SHMK_CACHELINE_PAD);
	off = g->hdrs_off + (uint64_t)g->nchunks * MSG_HDR;
	g->chunks_off = align_up(off, 4096);
	g->total = g->chunks_off + (uint64_t)g->nchunks * g->stride;
	if (g->nchunks > (1U << 24) || g->total > (1ULL << 46))
		return -EINVAL;
	return 0;
}

static void view_fill(struct svc_view *v, struct shmk_region *r)
{
	unsigned char *b = shmk_region_base(r);

	v->r = r;
	v->sh = (struct svc_shared *)b;
	v->slots = (struct svc_slot *)(b + v->g.slots_off);
	v->prod = (struct svc_prod *)(b + v->g.prod_off);
	v->ring = (_Atomic uint64_t *)(b + v->g.ring_off);
	v->cursor = (_Atomic uint64_t *)(b + v->g.cursor_off);
	v->holders = (_Atomic uint64_t *)(b + v->g.holders_off);
	v->events = (_Atomic uint32_t *)(b + v->g.events_off);
	v->hdrs = (struct msg_hdr *)(b + v->g.hdrs_off);
	v->chunks = b + v->g.chunks_off;
}

/* Validate the header of a mapped service and fill @v (private copies). */
static int view_attach(struct svc_view *v, struct shmk_region *r)
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
	v->cfg = sh->cfg;
	if (v->cfg.size != sizeof(v->cfg) || cfg_geometry(&v->cfg, &g))
		return -EBADMSG;
	if (sh->nslots != g.nslots || sh->nchan != g.nchan || sh->cap != g.cap ||
	    sh->nchunks != g.nchunks || sh->ewords != g.ewords ||
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
	uint64_t i, n;

	memset(&v, 0, sizeof(v));
	v.cfg = *c;
	v.g = *g;
	view_fill(&v, r);
	v.sh->cfg = *c;
	v.sh->nslots = g->nslots;
	v.sh->nchan = g->nchan;
	v.sh->cap = g->cap;
	v.sh->nchunks = g->nchunks;
	v.sh->ewords = g->ewords;
	v.sh->stride = g->stride;
	v.sh->slots_off = g->slots_off;
	v.sh->prod_off = g->prod_off;
	v.sh->ring_off = g->ring_off;
	v.sh->cursor_off = g->cursor_off;
	v.sh->holders_off = g->holders_off;
	v.sh->events_off = g->events_off;
	v.sh->hdrs_off = g->hdrs_off;
	v.sh->chunks_off = g->chunks_off;
	/* Empty ring entries: chunk NIL (sequence 0). */
	n = (uint64_t)g->nchan * g->nslots * g->cap;
	for (i = 0; i < n; i++)
		atomic_store_explicit(&v.ring[i], NIL, memory_order_relaxed);
	v.sh->hdr.version = SHMK_LAYOUT_VERSION;
	v.sh->hdr.hdr_size = sizeof(struct svc_shared);
	v.sh->hdr.elem_size = (uint32_t)g->stride;
	v.sh->hdr.capacity = g->nchunks;
	v.sh->hdr.stride = (uint32_t)g->stride;
	v.sh->hdr.total_size = g->total;
	v.sh->hdr.data_offset = g->chunks_off;
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
#define M_(f) (want->f && want->f != have->f)
	if (M_(kind) || M_(payload_max) || M_(max_publishers) ||
	    M_(max_subscribers) || M_(buffer) || M_(history) || M_(overflow) ||
	    M_(max_loans) || M_(max_borrow) || M_(max_events))
		return -EPROTOTYPE;
#undef M_
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

SHMK_API int shmk_service_open(const char *name,
			       const struct shmk_svc_config *cfg,
			       unsigned int flags, struct shmk_service **out)
{
	struct shmk_svc_config full;
	struct shmk_service *s;
	struct shmk_region *r = NULL;
	struct svc_geo g;
	int64_t deadline;
	int ret;

	if (!out || (flags & ~(SHMK_SVC_CREATE | SHMK_SVC_EXCL)))
		return -EINVAL;
	if ((flags & SHMK_SVC_EXCL) && !(flags & SHMK_SVC_CREATE))
		return -EINVAL;
	if (cfg && (cfg->size != sizeof(*cfg) || cfg->reserved))
		return -EINVAL;
	if (!cfg && (flags & SHMK_SVC_CREATE))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = svc_rname(s->rname, name);
	if (ret)
		goto err;
	if (flags & SHMK_SVC_CREATE) {
		full = *cfg;
		cfg_defaults(&full);
		ret = cfg_geometry(&full, &g);
		if (ret)
			goto err;
		/* 0: created and initialised; 1: opened (EXCL not asked). */
		ret = shmk__region_create_init(s->rname, g.total, full.mode,
				(flags & SHMK_SVC_EXCL) ? 0 : SHMK__REGION_OPEN_OWN,
				svc_init_cb, &(struct svc_init_arg){ &full, &g }, &r);
		if (ret < 0)
			goto err;
	}
	if (!r || ret == 1) {
		if (!r)
			ret = shmk_region_open(s->rname, 0, &r);
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
				ret = -EAGAIN;
				goto err_r;
			}
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
		}
	}
	ret = view_attach(&s->v, r);
	if (ret)
		goto err_r;
	if (cfg) {
		ret = cfg_match(cfg, &s->v.cfg);
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

SHMK_API uint32_t shmk_service_chunks(const struct shmk_service *s)
{
	return s->v.g.nchunks;
}

SHMK_API uint32_t shmk_service_chunks_used(const struct shmk_service *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->v.g.nchunks; i++)
		/* Relaxed: a snapshot for statistics and tests. */
		if (atomic_load_explicit(holders_of(&s->v, i), memory_order_relaxed))
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
	if (c.kind == SHMK_SVC_EVENT)
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
			const struct svc_prod *pr = &v->prod[i];
			uint32_t tail, pos, d;
			uint64_t cv;

			if (ST_TAG(st) != ST_ALIVE)
				continue;
			tail = atomic_load_explicit(&pr->tail,
						    memory_order_relaxed);
			cv = atomic_load_explicit(cursor_at(v, 0, j, i),
						  memory_order_relaxed);
			/* A cursor of another generation: not read from it yet. */
			pos = (uint32_t)(cv >> 32) == ST_VAL(st) ? (uint32_t)cv :
			      atomic_load_explicit(&pr->start,
						   memory_order_relaxed);
			d = tail - pos;
			if ((int32_t)d > 0)
				sum += d < v->g.cap ? d : v->g.cap;
		}
		if (sum > worst)
			worst = sum;
	}
	return worst;
}

/* Death notices and liveness */

SHMK_API int shmk_region_on_release(const struct shmk_region *r,
				    const void *slot, uint32_t value,
				    const void *counter)
{
	struct shmk_on_release a;
	uintptr_t b;

	if (!r)
		return -EINVAL;
	if (r->backend != SHMK_BACKEND_DEVICE)
		return -EOPNOTSUPP;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	b = (uintptr_t)r->base;
	if (!slot) {
		a.flags = SHMK_ON_RELEASE_CLEAR;
	} else {
		if (!counter || (uintptr_t)slot < b || (uintptr_t)counter < b ||
		    (uintptr_t)slot - b > r->size - 4 ||
		    (uintptr_t)counter - b > r->size - 4)
			return -EINVAL;
		a.slot_offset = (uintptr_t)slot - b;
		a.slot_value = value;
		a.counter_offset = (uintptr_t)counter - b;
	}
	return ioctl(r->fd, SHMK_IOC_ON_RELEASE, &a) < 0 ? -errno : 0;
}

static int pid_dead(uint32_t pid)
{
	return pid == 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH);
}

/* memfd: an OFD write lock on the byte at the slot's offset. */
static int ofd_lock(int fd, uint64_t off, short type, int cmd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)off;
	fl.l_len = 1;
	if (fcntl(fd, cmd, &fl) < 0)
		return -errno;
	return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

static uint64_t slot_off(const struct svc_view *v, uint32_t k)
{
	return v->g.slots_off + (uint64_t)k * sizeof(struct svc_slot);
}

/* Is the holder of slot @k (in state @st) gone? */
static int slot_dead(const struct svc_view *v, uint32_t k, uint32_t st)
{
	struct svc_slot *s = &v->slots[k];

	switch (ST_TAG(st)) {
	case ST_DEAD:
		return 1;
	case ST_CLAIM:
	case ST_RECLAIM:
		return pid_dead(ST_VAL(st));
	case ST_ALIVE:
		/* Relaxed: written before the ALIVE store we acquired. */
		if (atomic_load_explicit(&s->flags, memory_order_relaxed) &
		    SLOT_PIDCHECK)
			return pid_dead(atomic_load_explicit(&s->pid,
						memory_order_relaxed));
		if (shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE)
			return 0;	/* the module will write ST_DEAD */
		return ofd_lock(shmk_region_fd(v->r), slot_off(v, k), F_WRLCK,
				F_OFD_GETLK) == 0;
	default:
		return 0;
	}
}

/* Wake every sleeper of the service if there may be one. */
static void svc_kick(const struct svc_view *v)
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
		/* Release: pairs with the sleeper's acquire load of epoch. */
		atomic_fetch_add_explicit(&v->sh->epoch, 1, memory_order_release);
		shmk_wake(v->r, (const void *)&v->sh->epoch, SHMK_WAKE_ALL);
	}
}

/* Clear bit @k on every chunk and event word: slot @k holds nothing. */
static void slot_sweep(const struct svc_view *v, uint32_t k)
{
	uint64_t bit = 1ULL << k;
	uint32_t i;

	for (i = 0; i < v->g.nchunks; i++)
		/*
		 * Release, after the slot's state left ALIVE: a consumer
		 * whose acquire fetch_or on this word comes later in its
		 * modification order then sees the new state on its re-load
		 * and gives the chunk back (see cons_try_one()).  Also pairs
		 * with the allocating CAS's acquire.
		 */
		if (atomic_load_explicit(holders_of(v, i), memory_order_relaxed) & bit)
			atomic_fetch_and_explicit(holders_of(v, i), ~bit,
						  memory_order_release);
	for (i = 0; i < v->g.ewords; i++)
		/* Relaxed: nobody reads a non-ALIVE listener's bits. */
		atomic_store_explicit(&v->events[(uint64_t)k * v->g.ewords + i],
				      0, memory_order_relaxed);
}

/* Take slot @k from state @expect, sweep it, free it.  1 when done. */
static int slot_reclaim(const struct svc_view *v, uint32_t k, uint32_t expect)
{
	struct svc_slot *s = &v->slots[k];
	uint32_t mine = ST_RECLAIM | ((uint32_t)getpid() & 0x0fffffffU);

	/*
	 * Seq_cst (acquire and release would do): the sweep's release
	 * RMWs below come after this state change, which consumers that
	 * acquire a later holders value see (cons_try_one()).
	 */
	if (!atomic_compare_exchange_strong_explicit(&s->state, &expect, mine,
			memory_order_seq_cst, memory_order_relaxed))
		return 0;
	slot_sweep(v, k);
	/* Relaxed: published by the release store of FREE. */
	atomic_store_explicit(&s->flags, 0, memory_order_relaxed);
	/* Release: pairs with the claimer's acquire CAS from FREE. */
	atomic_store_explicit(&s->state, ST_FREE, memory_order_release);
	svc_kick(v);
	return 1;
}

static int view_recover(const struct svc_view *v)
{
	uint32_t k, st;
	int n = 0;

	for (k = 0; k < v->g.nslots; k++) {
		/* Acquire: pairs with the claimer's release store of ALIVE. */
		st = atomic_load_explicit(&v->slots[k].state, memory_order_acquire);
		if (st != ST_FREE && slot_dead(v, k, st))
			n += slot_reclaim(v, k, st);
	}
	return n;
}

SHMK_API int shmk_service_recover(struct shmk_service *s)
{
	return s ? view_recover(&s->v) : -EINVAL;
}

/* Ports */

/*
 * A new consumer @k on channel @ch: for each live producer, start at its
 * history; cursor generation 0 (never a live generation) for the rest.
 */
static void cursors_init(const struct svc_view *v, uint32_t ch, uint32_t k,
			 uint32_t plo, uint32_t phi, int client)
{
	uint32_t M = v->g.nslots, i;

	for (i = 0; i < M; i++) {
		_Atomic uint64_t *cur = cursor_at(v, ch, k, i);
		struct svc_prod *pr = &v->prod[ch * M + (client ? k : i)];
		uint64_t cv = 0;
		/* Acquire: pairs with the producer's store of ALIVE. */
		uint32_t st = atomic_load_explicit(&v->slots[i].state,
						   memory_order_acquire);

		if (i >= plo && i < phi && ST_TAG(st) == ST_ALIVE) {
			/* Acquire: pairs with the producer's release of tail. */
			uint32_t tail = atomic_load_explicit(&pr->tail,
							     memory_order_acquire);
			/* Relaxed: published by the ALIVE store. */
			uint32_t start = atomic_load_explicit(&pr->start,
							      memory_order_relaxed);
			uint32_t pos = tail - v->cfg.history;

			if ((int32_t)(pos - start) < 0)
				pos = start;
			cv = (uint64_t)ST_VAL(st) << 32 | pos;
		}
		/* Release: pairs with bp_room()'s acquire. */
		atomic_store_explicit(cur, cv, memory_order_release);
	}
}

static int port_new(struct shmk_service *s, int role, unsigned int kind,
		    struct shmk_port **out)
{
	const struct shmk_svc_config *c = &s->v.cfg;
	uint32_t na = c->max_publishers, M = s->v.g.nslots;
	uint32_t lo, hi, k, g, pid = (uint32_t)getpid() & 0x0fffffffU;
	struct shmk_region *r;
	struct shmk_port *p;
	int ret, pass;

	if (!out)
		return -EINVAL;
	if (c->kind != kind)
		return -EPROTOTYPE;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->svc = s;
	p->role = role;
	p->prod_ch = p->cons_ch = -1;
	/* A-roles take slots [0, na), B-roles [na, M). */
	switch (role) {
	case ROLE_PUB:
		p->prod_ch = 0;
		break;
	case ROLE_SUB:
		p->cons_ch = 0;
		break;
	case ROLE_CLIENT:
		p->prod_ch = 0;
		p->cons_ch = 1;
		break;
	case ROLE_SERVER:
		p->prod_ch = 1;
		p->cons_ch = 0;
		break;
	}
	if (role == ROLE_PUB || role == ROLE_CLIENT || role == ROLE_NOTIFIER) {
		lo = 0, hi = na;
		p->plo = na, p->phi = M;
		p->clo = na, p->chi = M;
	} else {
		lo = na, hi = M;
		p->plo = 0, p->phi = na;
		p->clo = 0, p->chi = na;
	}
	p->loans = calloc(c->max_loans + c->max_borrow, sizeof(uint32_t));
	if (!p->loans) {
		free(p);
		return -ENOMEM;
	}
	p->held = p->loans + c->max_loans;
	ret = shmk_region_open(s->rname, 0, &r);
	if (ret)
		goto err;
	ret = view_attach(&p->v, r);
	if (ret) {
		shmk_region_close(r);
		goto err;
	}
	for (pass = 0; pass < 2; pass++) {
		for (k = lo; k < hi; k++) {
			struct svc_slot *sl = &p->v.slots[k];
			uint32_t free_st = ST_FREE, i;

			/* Relaxed: a guess; the CAS decides. */
			if (atomic_load_explicit(&sl->state, memory_order_relaxed))
				continue;
			/*
			 * Acquire: pairs with the release store of FREE by the
			 * last reclaimer: its sweep is complete.
			 */
			if (!atomic_compare_exchange_strong_explicit(&sl->state,
					&free_st, ST_CLAIM | pid,
					memory_order_acquire, memory_order_relaxed))
				continue;
			/* Relaxed: only the claimer writes these (CLAIM held). */
			g = (atomic_load_explicit(&sl->gen, memory_order_relaxed) + 1) &
			    0x0fffffffU;
			if (!g)
				g = 1;
			atomic_store_explicit(&sl->gen, g, memory_order_relaxed);
			atomic_store_explicit(&sl->pid, pid, memory_order_relaxed);
			atomic_store_explicit(&sl->flags, 0, memory_order_relaxed);
			if (shmk_region_backend(r) == SHMK_BACKEND_DEVICE) {
				if (shmk_region_on_release(r, &sl->state, ST_DEAD | g,
							   &p->v.sh->epoch))
					atomic_store_explicit(&sl->flags, SLOT_PIDCHECK,
							      memory_order_relaxed);
			} else if (ofd_lock(shmk_region_fd(r), slot_off(&p->v, k),
					    F_WRLCK, F_OFD_SETLK)) {
				/* Release: as the reclaimer's FREE. */
				atomic_store_explicit(&sl->state, ST_FREE,
						      memory_order_release);
				continue;
			}
			if (p->prod_ch >= 0) {
				struct svc_prod *pr = &p->v.prod[p->prod_ch * M + k];

				/* Relaxed: only this slot's producer writes them. */
				p->tail = atomic_load_explicit(&pr->tail,
							       memory_order_relaxed);
				p->start = p->tail;
				atomic_store_explicit(&pr->start, p->start,
						      memory_order_relaxed);
				for (i = 0; role == ROLE_SERVER && i < na; i++) {
					pr = &p->v.prod[M + i];
					/* Relaxed: as above (one server). */
					atomic_store_explicit(&pr->start,
						atomic_load_explicit(&pr->tail,
							memory_order_relaxed),
						memory_order_relaxed);
				}
			}
			if (p->cons_ch >= 0)
				cursors_init(&p->v, (uint32_t)p->cons_ch, k,
					     p->plo, p->phi, role == ROLE_CLIENT);
			/* Relaxed: published by the state store below. */
			for (i = 0; i < p->v.g.ewords; i++)
				atomic_store_explicit(&p->v.events[(uint64_t)k * p->v.g.ewords + i],
						      0, memory_order_relaxed);
			/*
			 * Seq_cst (a release at least): pairs with the acquire
			 * loads of the state by consumers and recoverers; start,
			 * gen, cursors above are visible first.
			 */
			atomic_store_explicit(&sl->state, ST_ALIVE | g,
					      memory_order_seq_cst);
			p->slot = k;
			p->gen = g;
			p->bit = 1ULL << k;
			p->hint = k * 7919U;
			*out = p;
			return 0;
		}
		if (pass == 0 && view_recover(&s->v) <= 0)
			break;
	}
	ret = -EBUSY;
	shmk_region_close(r);
err:
	free(p->loans);
	free(p);
	return ret;
}

SHMK_API int shmk_pub_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_PUB, SHMK_SVC_PUBSUB, out) : -EINVAL;
}

SHMK_API int shmk_sub_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_SUB, SHMK_SVC_PUBSUB, out) : -EINVAL;
}

SHMK_API int shmk_client_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_CLIENT, SHMK_SVC_REQRES, out) : -EINVAL;
}

SHMK_API int shmk_server_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_SERVER, SHMK_SVC_REQRES, out) : -EINVAL;
}

SHMK_API int shmk_notifier_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_NOTIFIER, SHMK_SVC_EVENT, out) : -EINVAL;
}

SHMK_API int shmk_listener_open(struct shmk_service *s, struct shmk_port **out)
{
	return s ? port_new(s, ROLE_LISTENER, SHMK_SVC_EVENT, out) : -EINVAL;
}

SHMK_API int shmk_port_slot(const struct shmk_port *p)
{
	return (int)p->slot;
}

static void chunk_put(const struct svc_view *v, uint32_t c, uint64_t bit)
{
	/*
	 * Release: pairs with the acquire CAS in shmk_pub_loan(): our reads
	 * and writes of the chunk happen before its next owner's.
	 */
	atomic_fetch_and_explicit(holders_of(v, c), ~bit, memory_order_release);
}

SHMK_API void shmk_port_close(struct shmk_port *p)
{
	struct svc_slot *sl;
	uint32_t i, st;

	if (!p)
		return;
	for (i = 0; i < p->nloans; i++)
		chunk_put(&p->v, p->loans[i], p->bit);
	for (i = 0; i < p->nheld; i++)
		chunk_put(&p->v, p->held[i], p->bit);
	if (p->watching)
		/* Relaxed: only a hint for wakers. */
		atomic_fetch_sub_explicit(&p->v.sh->sleepers, 1,
					  memory_order_relaxed);
	sl = &p->v.slots[p->slot];
	st = ST_ALIVE | p->gen;
	/* Leave: reclaim our own slot (drops our ring references too). */
	if (atomic_compare_exchange_strong_explicit(&sl->state, &st,
			ST_RECLAIM | ((uint32_t)getpid() & 0x0fffffffU),
			memory_order_seq_cst, memory_order_relaxed)) {
		slot_sweep(&p->v, p->slot);
		/* Before FREE: our death notice must not hit the next owner. */
		if (shmk_region_backend(p->v.r) == SHMK_BACKEND_DEVICE)
			shmk_region_on_release(p->v.r, NULL, 0, NULL);
		else
			ofd_lock(shmk_region_fd(p->v.r), slot_off(&p->v, p->slot),
				 F_UNLCK, F_OFD_SETLK);
		atomic_store_explicit(&sl->flags, 0, memory_order_relaxed);
		/* Release: pairs with the claimer's acquire CAS. */
		atomic_store_explicit(&sl->state, ST_FREE, memory_order_release);
		svc_kick(&p->v);
	}
	shmk_region_close(p->v.r);
	free(p->loans);
	free(p);
}

/* Sleeping: every blocking operation waits on the service's epoch. */
typedef int (*try_fn)(struct shmk_port *p, void *arg);

static int svc_block(struct shmk_port *p, try_fn fn, void *arg,
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
		/* Relaxed: a hint for wakers only. */
		atomic_fetch_sub_explicit(&sh->sleepers, 1, memory_order_relaxed);
		if (ret != -EAGAIN)
			return ret;
	}
}

/* Publish-subscribe: producers */

SHMK_API int shmk_pub_loan(struct shmk_port *p, void **payload)
{
	const struct svc_view *v;
	uint32_t n, c, pass;

	if (!p || !payload || p->prod_ch < 0)
		return -EINVAL;
	v = &p->v;
	if (p->nloans >= v->cfg.max_loans)
		return -ENOBUFS;
	for (pass = 0; pass < 2; pass++) {
		c = p->hint % v->g.nchunks;
		for (n = 0; n < v->g.nchunks; n++, c = c + 1 < v->g.nchunks ? c + 1 : 0) {
			uint64_t zero = 0;

			/* Relaxed: a guess; the CAS decides. */
			if (atomic_load_explicit(holders_of(v, c), memory_order_relaxed))
				continue;
			/*
			 * Acquire: pairs with the release fetch_and of the last
			 * holder (chunk_put(), the sweep): its uses are done.
			 */
			if (!atomic_compare_exchange_strong_explicit(holders_of(v, c),
					&zero, p->bit, memory_order_acquire,
					memory_order_relaxed))
				continue;
			p->hint = c + 1;
			p->loans[p->nloans++] = c;
			*payload = v->chunks + (uint64_t)c * v->g.stride;
			return 0;
		}
		if (view_recover(&p->svc->v) <= 0)
			break;
	}
	return -ENOMEM;
}

/*
 * Index in @arr (chunks this port holds, all below nchunks) of the chunk
 * whose payload is at @payload, or -1.  Compares addresses: no division
 * by the stride on the publish path.
 */
static int find_chunk(const struct svc_view *v, const uint32_t *arr,
		      uint32_t n, const void *payload)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (v->chunks + (uint64_t)arr[i] * v->g.stride == payload)
			return (int)i;
	return -1;
}

SHMK_API int shmk_pub_discard(struct shmk_port *p, void *payload)
{
	int i;

	if (!p)
		return -EINVAL;
	i = find_chunk(&p->v, p->loans, p->nloans, payload);
	if (i < 0)
		return -EINVAL;
	chunk_put(&p->v, p->loans[i], p->bit);
	p->loans[i] = p->loans[--p->nloans];
	return 0;
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
		/*
		 * Acquire: pairs with the consumer's release store of its
		 * cursor after it took its reference: it is done with the
		 * ring entry we are about to overwrite.
		 */
		cv = atomic_load_explicit(cursor_at(v, ch, j, p->slot),
					  memory_order_acquire);
		/* Not read from us yet: it will start at our first sample. */
		if ((uint32_t)(cv >> 32) != p->gen)
			cv = p->start;
		if (p->tail - (uint32_t)cv >= v->cfg.buffer)
			return -EAGAIN;
	}
	return 0;
}

static int prod_publish(struct shmk_port *p, void *payload, size_t len,
			uint64_t corr, uint32_t target, uint32_t tgen,
			int policy, int64_t timeout_ns)
{
	const struct svc_view *v = &p->v;
	uint32_t M = v->g.nslots, ch = (uint32_t)p->prod_ch, c, pos, oc, start;
	/* A server writes a response into its client's ring. */
	uint32_t ri = p->role == ROLE_SERVER ? target : p->slot;
	struct svc_prod *pr = &v->prod[ch * M + ri];
	_Atomic uint64_t *e;
	struct msg_hdr *h;
	uint64_t old;
	int i, ret;

	i = find_chunk(v, p->loans, p->nloans, payload);
	if (i < 0 || len > v->cfg.payload_max)
		return -EINVAL;
	if (policy == SHMK_OVERFLOW_BLOCK) {
		ret = svc_block(p, bp_room, NULL, timeout_ns);
		if (ret)
			return ret;
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
	}
	h = &v->hdrs[c];
	h->seq = pos;
	h->corr = corr;
	h->len = len;
	h->origin = p->slot;
	h->origin_gen = p->gen;
	h->target = target;
	h->target_gen = tgen;
	e = &ring_of(v, ch, ri)[pos % v->g.cap];
	/* Relaxed: only this producer writes its ring. */
	old = atomic_load_explicit(e, memory_order_relaxed);
	/*
	 * Release: the chunk's header and payload are written before the
	 * entry; pairs with the consumer's (seq_cst) load of the entry in
	 * cons_try_one().
	 */
	atomic_store_explicit(e, (uint64_t)pos << 32 | c, memory_order_release);
	/* Release: pairs with consumers' acquire loads of tail. */
	atomic_store_explicit(&pr->tail, pos + 1, memory_order_release);
	if (ri == p->slot)
		p->tail = pos + 1;
	p->loans[i] = p->loans[--p->nloans];
	oc = (uint32_t)old;
	/* Drop the ring's reference on the overwritten (oldest) sample. */
	if (oc != NIL && oc < v->g.nchunks &&
	    (int32_t)((uint32_t)(old >> 32) - start) >= 0) {
		/*
		 * Release, after the entry store above: a consumer whose
		 * acquire fetch_or on this word comes later in its
		 * modification order reads from the release sequence this
		 * RMW heads (every write to a holders word is an RMW), so the
		 * overwrite of the entry happens before its re-load of it,
		 * which then fails (see cons_try_one()).  Also a release as
		 * chunk_put().
		 */
		atomic_fetch_and_explicit(holders_of(v, oc), ~p->bit,
					  memory_order_release);
	}
	/* Its seq_cst fence orders the entry store before the sleepers peek. */
	svc_kick(v);
	return 0;
}

/* 0 when every live consumer has read all we published, else -EAGAIN. */
static int drained(struct shmk_port *p, void *arg)
{
	const struct svc_view *v = &p->v;
	uint32_t M = v->g.nslots, j, ch = (uint32_t)p->prod_ch;

	(void)arg;
	for (j = p->clo; j < p->chi; j++) {
		/* Acquire: as in bp_room(). */
		uint32_t st = atomic_load_explicit(&v->slots[j].state,
						   memory_order_acquire);
		uint64_t cv;

		if (ST_TAG(st) != ST_ALIVE)
			continue;
		uint32_t tail = p->tail, start = p->start;

		if (p->role == ROLE_SERVER) {
			/* Client j's own response ring; relaxed: ours. */
			tail = atomic_load_explicit(&v->prod[ch * M + j].tail,
						    memory_order_relaxed);
			start = atomic_load_explicit(&v->prod[ch * M + j].start,
						     memory_order_relaxed);
		}
		/* Acquire: as in bp_room(). */
		cv = atomic_load_explicit(cursor_at(v, ch, j, p->slot),
					  memory_order_acquire);
		if ((uint32_t)(cv >> 32) != p->gen)
			cv = start;
		if ((int32_t)(tail - (uint32_t)cv) > 0)
			return -EAGAIN;
	}
	return 0;
}

SHMK_API int shmk_pub_drain(struct shmk_port *p, int64_t timeout_ns)
{
	if (!p || p->prod_ch < 0)
		return -EINVAL;
	return svc_block(p, drained, NULL, timeout_ns);
}

SHMK_API int shmk_pub_publish(struct shmk_port *p, void *payload, size_t len,
			      int64_t timeout_ns)
{
	if (!p || p->role != ROLE_PUB)
		return -EINVAL;
	return prod_publish(p, payload, len, 0, NIL, 0, (int)p->v.cfg.overflow,
			    timeout_ns);
}

SHMK_API int shmk_pub_send_copy(struct shmk_port *p, const void *data,
				size_t len, int64_t timeout_ns)
{
	void *pl;
	int ret;

	if (!p || (len && !data))
		return -EINVAL;
	if (len > p->v.cfg.payload_max)
		return -EINVAL;
	ret = shmk_pub_loan(p, &pl);
	if (ret)
		return ret;
	memcpy(pl, data, len);
	ret = shmk_pub_publish(p, pl, len, timeout_ns);
	if (ret)
		shmk_pub_discard(p, pl);
	return ret;
}

/* Consumers */

/* Try to take the next sample of producer @i; -EAGAIN when none. */
static int cons_try_one(struct shmk_port *p, uint32_t i,
			struct shmk_sample *smp)
{
	const struct svc_view *v = &p->v;
	uint32_t ch = (uint32_t)p->cons_ch, cap = v->g.cap;
	_Atomic uint64_t *cur = cursor_at(v, ch, p->slot, i);
	/* Responses: the server writes client k's into ring k. */
	uint32_t ri = p->role == ROLE_CLIENT ? p->slot : i;
	struct svc_prod *pr = &v->prod[ch * v->g.nslots + ri];
	_Atomic uint64_t *ring = ring_of(v, ch, ri);
	uint32_t st, g, pos, tries;
	uint64_t cv;

	/*
	 * Acquire: pairs with the producer's store of ALIVE (its start and
	 * generation are visible).
	 */
	st = atomic_load_explicit(&v->slots[i].state, memory_order_acquire);
	if (ST_TAG(st) != ST_ALIVE)
		return -EAGAIN;
	g = ST_VAL(st);
	/* Relaxed: only this consumer writes its cursor. */
	cv = atomic_load_explicit(cur, memory_order_relaxed);
	if ((uint32_t)(cv >> 32) != g) {
		/*
		 * A producer generation that came after we subscribed (those
		 * before were set up by cursors_init()): start at its first
		 * sample.  Relaxed: start was published by the ALIVE store
		 * we loaded above.
		 */
		pos = atomic_load_explicit(&pr->start, memory_order_relaxed);
		cv = (uint64_t)g << 32 | pos;
		/* Release: pairs with bp_room()'s acquire. */
		atomic_store_explicit(cur, cv, memory_order_release);
	}
	pos = (uint32_t)cv;
	for (tries = 0; tries < 8; tries++) {
		_Atomic uint64_t *ep = &ring[pos % cap];
		uint64_t e, old;
		uint32_t seq, c;
		int32_t d;
		struct msg_hdr *h;

		/*
		 * Seq_cst: an acquire, pairing with the producer's release
		 * store of the entry (the chunk is written); seq_cst so that
		 * a sleeper's re-check, after its seq_cst increment of
		 * sleepers, follows svc_kick()'s fence in the total order
		 * (Dekker; a plain load on x86).
		 */
		e = atomic_load_explicit(ep, memory_order_seq_cst);
		seq = (uint32_t)(e >> 32);
		c = (uint32_t)e;
		d = (int32_t)(seq - pos);
		if (d < 0 || c == NIL)
			return -EAGAIN;
		if (d > 0) {
			/* Overwritten: we lagged more than the ring (safe overflow). */
			/* Acquire: as above. */
			uint32_t tail = atomic_load_explicit(&pr->tail,
							     memory_order_acquire);
			uint32_t np = tail - cap;

			if ((int32_t)(np - pos) <= 0)
				np = pos + 1;
			p->dropped += np - pos;
			pos = np;
			/* Release: pairs with bp_room()'s acquire. */
			atomic_store_explicit(cur, (uint64_t)g << 32 | pos,
					      memory_order_release);
			continue;
		}
		/* Never trust a shared index: the entry may be corrupt. */
		if (c >= v->g.nchunks)
			return -EBADMSG;
		if (p->nheld >= v->cfg.max_borrow)
			return -ENOBUFS;
		h = &v->hdrs[c];
		/*
		 * Acquire: take a reference, then re-read the entry and the
		 * producer's state.  Every write to a holders word is an RMW,
		 * so if this one comes after the producer's drop of its bit
		 * (prod_publish(), release, after its overwrite of the entry)
		 * or after the sweep of its slot (slot_sweep(), release,
		 * after the state left ALIVE) in the word's modification
		 * order, it reads from their release sequence: the overwrite
		 * or the state change happens before the re-loads below,
		 * which then see it.  If both are unchanged and the producer's
		 * bit was still set, this RMW came first: the chunk was still
		 * referenced for this sample, so it is ours now.
		 */
		old = atomic_fetch_or_explicit(holders_of(v, c), p->bit,
					       memory_order_acquire);
		/* Relaxed: ordered after the acquire RMW above (see there). */
		if (atomic_load_explicit(ep, memory_order_relaxed) != e ||
		    atomic_load_explicit(&v->slots[i].state,
					 memory_order_relaxed) != st ||
		    !(old & (1ULL << i))) {
			if (!(old & p->bit))
				chunk_put(v, c, p->bit);
			continue;
		}
		/* A corrupt header is as bad as a corrupt entry. */
		if (h->len > v->cfg.payload_max || h->seq != pos) {
			chunk_put(v, c, p->bit);
			return -EBADMSG;
		}
		p->held[p->nheld++] = c;
		/* Release: pairs with bp_room()'s acquire. */
		atomic_store_explicit(cur, (uint64_t)g << 32 | (pos + 1),
				      memory_order_release);
		smp->data = v->chunks + (uint64_t)c * v->g.stride;
		smp->len = (size_t)h->len;
		smp->seq = h->seq;
		smp->corr = h->corr;
		smp->origin = i;
		smp->chunk = c;
		smp->origin_gen = h->origin_gen;
		smp->reserved = h->target == NIL ? NIL :
			(h->target == p->slot && h->target_gen == p->gen);
		/*
		 * Producers may wait for room (back-pressure) or in
		 * shmk_pub_drain(); the relaxed peek keeps the fence off the
		 * safe-overflow fast path, where a missed wake only delays a
		 * drain by a sleep slice.
		 */
		if (v->cfg.overflow == SHMK_OVERFLOW_BLOCK ||
		    atomic_load_explicit(&v->sh->sleepers, memory_order_relaxed))
			svc_kick(v);
		return 0;
	}
	return -EAGAIN;
}

static int cons_try(struct shmk_port *p, void *arg)
{
	struct shmk_sample *smp = arg;
	uint32_t n = p->phi - p->plo, t, i;
	int ret;

	for (t = 0; t < n; t++) {
		i = p->plo + (p->rr + t) % n;
		ret = cons_try_one(p, i, smp);
		if (ret == -EAGAIN)
			continue;
		if (ret == 0)
			p->rr = (i - p->plo + 1) % n;
		return ret;
	}
	return -EAGAIN;
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
	uint32_t i;

	if (!p || !smp)
		return -EINVAL;
	for (i = 0; i < p->nheld; i++)
		if (p->held[i] == smp->chunk) {
			chunk_put(&p->v, smp->chunk, p->bit);
			p->held[i] = p->held[--p->nheld];
			smp->data = NULL;
			return 0;
		}
	return -EINVAL;
}

SHMK_API uint64_t shmk_sub_dropped(const struct shmk_port *p)
{
	return p->dropped;
}

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
		/*
		 * Release: pairs with the listener's acquire exchange: what
		 * we wrote before notifying is visible to it.
		 */
		atomic_fetch_or_explicit(&v->events[(uint64_t)j * v->g.ewords + id / 32],
					 1U << (id % 32), memory_order_release);
		n++;
	}
	svc_kick(v);
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
	_Atomic uint32_t *w = &v->events[(uint64_t)p->slot * v->g.ewords];
	unsigned int n = 0;
	uint32_t i, x, b;

	if (p->watching)
		ioctl(shmk_region_fd(v->r), SHMK_IOC_ACK);
	for (i = 0; i < v->g.ewords && n < a->max; i++) {
		/* Relaxed: a guess; the exchange decides. */
		if (!atomic_load_explicit(&w[i], memory_order_relaxed))
			continue;
		/* Acquire: pairs with the notifier's release fetch_or. */
		x = atomic_exchange_explicit(&w[i], 0, memory_order_acquire);
		for (b = 0; b < 32 && x; b++) {
			if (!(x & (1U << b)))
				continue;
			if (n == a->max)
				break;
			a->ids[n++] = i * 32 + b;
			x &= ~(1U << b);
		}
		if (x)
			/* Relaxed: our own bits back, for the next call. */
			atomic_fetch_or_explicit(&w[i], x, memory_order_relaxed);
	}
	return n ? (int)n : -EAGAIN;
}

SHMK_API int shmk_listener_wait(struct shmk_port *p, uint32_t *ids,
				unsigned int max, int64_t timeout_ns)
{
	struct ev_arg a = { ids, max };

	if (!p || !ids || !max || p->role != ROLE_LISTENER)
		return -EINVAL;
	return svc_block(p, listener_try, &a, timeout_ns);
}

SHMK_API int shmk_listener_fd(struct shmk_port *p)
{
	struct shmk_watch w;
	int fd;

	if (!p || p->role != ROLE_LISTENER)
		return -EINVAL;
	if (shmk_region_backend(p->v.r) != SHMK_BACKEND_DEVICE)
		return -EOPNOTSUPP;
	fd = shmk_region_fd(p->v.r);
	if (p->watching)
		return fd;
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.offset = (uint64_t)((unsigned char *)&p->v.sh->epoch -
			      (unsigned char *)p->v.sh);
	w.bitset = SHMK_BITSET_ANY;
	if (ioctl(fd, SHMK_IOC_WATCH, &w) < 0)
		return -errno;
	/* Seq_cst: as svc_block()'s increment; a watcher counts as asleep. */
	atomic_fetch_add_explicit(&p->v.sh->sleepers, 1, memory_order_seq_cst);
	p->watching = 1;
	return fd;
}
