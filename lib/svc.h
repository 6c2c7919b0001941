/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk services layer, private: the shared layout of a service, the
 * per-process handles, and what the files of the messaging layer share.
 *
 *   svc_core.c   configuration, layout, create and open, discovery, statistics
 *   svc_live.c   participant slots: liveness, death notices, recovery
 *   svc_wait.c   sleeping and waking
 *   svc_port.c   ports: claiming a slot, closing it
 *   chan.c       channels: loans, broadcast rings, cursors (the machinery
 *                publish-subscribe and request-response share)
 *   pubsub.c, reqres.c, event.c, blackboard.c: one file per messaging
 *                pattern
 *
 * Ownership of a chunk is one 64-bit word per chunk, a bit per
 * participant slot ("holders"): a producer allocates by CAS 0 -> its bit,
 * a consumer adds its bit, everyone removes only its own.  The word is 0
 * exactly when the chunk is free, so no chunk is freed twice, and the
 * chunks of a dead participant come back when its bit is cleared
 * everywhere (the "sweep").  Documentation/messaging.rst is the guide.
 */
#ifndef SHMK_LIB_SVC_H
#define SHMK_LIB_SVC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include <shmk/service.h>

/*
 * Slot states: a 4-bit tag and a 28-bit value.  The value of CLAIM,
 * ALIVE and DEAD is the occupant's generation, of RECLAIM the
 * reclaimer's token; both come from the slot's ticket counter
 * (struct svc_slot.gen, slot_ticket()), so no two attempts on a slot
 * carry the same value until 2^28 more have been handed out.  Liveness is
 * judged only by what the kernel knows (svc_live.c): on memfd an OFD
 * write lock that every holder of a non-FREE state holds from before its
 * CAS until after it leaves the state; on the device a death notice that
 * turns CLAIM|g, ALIVE|g (and RECLAIM|u) into DEAD when its file goes.
 */
#define ST_FREE		0x00000000U
#define ST_CLAIM	0x10000000U	/* | gen: being claimed */
#define ST_ALIVE	0x20000000U	/* | gen */
#define ST_DEAD		0x30000000U	/* | gen: written by the module */
#define ST_RECLAIM	0x40000000U	/* | token: being reclaimed */
#define ST_TAG(s)	((s) & 0xf0000000U)
#define ST_VAL(s)	((s) & 0x0fffffffU)
#define ST_VMASK	0x0fffffffU

#define NIL		0xffffffffU	/* no target (msg_hdr.target) */
#define MSG_HDR		64	/* bytes of struct msg_hdr, one per chunk */
/* memfd only (nothing announces a death there): look for the dead this often. */
#define SLEEP_SLICE_NS	100000000LL

enum { ROLE_PUB, ROLE_SUB, ROLE_CLIENT, ROLE_SERVER, ROLE_NOTIFIER,
       ROLE_LISTENER, ROLE_BB_WRITER, ROLE_BB_READER };

/*
 * Blackboard (lib/blackboard.c): at chunks_off a SHMK_CACHELINE_PAD
 * header (the key count), then max_events entries of g.stride bytes:
 * seq and len (8 bytes each), the key (buffer bytes, rounded up to 8),
 * the value (payload_max bytes, rounded up to 8); the stride is rounded
 * up to SHMK_CACHELINE.
 */
#define BB_ENTRY_HDR	16

static inline uint64_t bb_stride(uint64_t key_size, uint64_t value_size)
{
	return (BB_ENTRY_HDR + ((key_size + 7) & ~7ULL) +
		((value_size + 7) & ~7ULL) + SHMK_CACHELINE - 1) &
	       ~(uint64_t)(SHMK_CACHELINE - 1);
}

/*
 * One participant slot (SHMK_CACHELINE_PAD bytes, so that the wake words
 * of two slots, written on the data path by whoever wakes them, never
 * share a pair of cache lines: lib-audit #17).  @wake is the only word
 * the slot's port sleeps on: whoever has something for it (a producer
 * for a consumer, a consumer for a producer waiting for room or a drain,
 * a notifier for a listener) increments it and wakes it.
 */
struct svc_slot {
	_Atomic uint32_t state;
	_Atomic uint32_t gen;	/* ticket counter: the last value handed out */
	/* The claimer's pid in its namespace: shown, never trusted. */
	_Atomic uint32_t pid;
	_Atomic uint32_t flags;
	_Atomic uint32_t wake;
	/*
	 * memfd: the random token in the abstract address of the slot's
	 * watch socket (svc_wait.c, "\0shmk-<slot>-<token>"); written by
	 * the slot's port before it sets its bit in the watch mask.
	 */
	_Atomic uint32_t wtok;
	/*
	 * The slot's port fd (shmk_port_fd()): bit 0 set while armed (the
	 * next data waker makes the fd readable), the rest an arm count.
	 * Armed by the slot's port (a store of count + 1, armed); disarmed
	 * by a waker after it made the fd readable, by a CAS from the exact
	 * value it saw, so a stale waker never disarms a newer arm.
	 */
	_Atomic uint32_t armed;
	char _pad[SHMK_CACHELINE_PAD - 28];
};

/*
 * A ring's positions, written by its producer only.  Positions are 64-bit
 * and monotonic per ring across generations: a new claimer of the slot
 * continues from the old tail, so a position names one sample for the
 * life of the service and a consumer's cursor needs no generation.  At
 * 2^30 samples a second a position wraps after 544 years.
 *
 * Each ring is one block of g.rstride bytes (a multiple of
 * SHMK_CACHELINE_PAD): this header, then its cap entries.  Everything in
 * the block is written by the ring's producer only, so a consumer finds
 * the tail and the first entries in one line, and no other participant
 * writes into the block (lib-audit #17).
 */
struct svc_prod {
	_Atomic uint64_t tail;	/* next position */
	_Atomic uint64_t start;	/* first position of the current generation */
};

/*
 * A ring entry: the low 40 bits of the sample's position, then its 24-bit
 * chunk index (nchunks < 2^24; ENT_NIL: empty).  The entry at index
 * pos % cap is overwritten every cap positions, and a consumer reads it
 * only for a position pos with tail - cap <= pos < tail, tail loaded just
 * before: the entry then holds pos or pos + k * cap with k >= 1, a later
 * sample (it lagged).  The low 40 bits tell those apart unless 2^40
 * samples (hours at full speed) are published between the consumer's
 * two loads, and even then the full 64-bit position in the sample's
 * header, checked after the consumer holds the chunk, catches it.
 */
#define ENT_CBITS	24
#define ENT_NIL		((1U << ENT_CBITS) - 1)	/* chunk of an empty entry */
#define ENT_PMASK	((1ULL << 40) - 1)
/*
 * svc_shared.layout: this file's layout.  2: 64-bit positions.  3: slots,
 * ring blocks (positions, then entries), cursor rows and event rows each
 * on SHMK_CACHELINE_PAD bytes of their own; ring_off is the offset of
 * the first block's entries.  4: the port-fd words (the watch mask, each
 * slot's wtok and armed), the request flags, a channel per server, and
 * the blackboard kind.  A library that knows only 3 would join such a
 * service and never wake a port fd nor see a stream end: -EPROTO instead.
 * 5: the payload type (name, size, alignment) and the user header size
 * after the geometry, in what was padding, and each chunk's user header
 * after its payload.  A library of layout 4 would join a typed service
 * without checking the type, and read samples of one with user headers
 * at the wrong stride: -EPROTO (or -EBADMSG: its geometry differs).
 */
#define SVC_LAYOUT	5

static inline uint64_t ent_make(uint64_t pos, uint32_t c)
{
	return (pos & ENT_PMASK) << ENT_CBITS | c;
}

static inline uint32_t ent_chunk(uint64_t e)
{
	return (uint32_t)(e & ENT_NIL);
}

/* Does entry @e hold position @pos (low 40 bits)? */
static inline int ent_is(uint64_t e, uint64_t pos)
{
	return (e >> ENT_CBITS) == (pos & ENT_PMASK);
}

/* One per chunk, in a dense array apart from the payloads. */
struct msg_hdr {
	uint64_t seq;		/* the sample's position in its ring */
	uint64_t corr;
	uint64_t len;
	uint32_t origin;
	uint32_t origin_gen;
	uint32_t target;
	uint32_t target_gen;
	/*
	 * Request-response: SHMK_REQ_* of a request, SHMK_RESP_* of a
	 * response, and MSG_TRACKED (0 in publish-subscribe, and in a file
	 * written by a library before LIBSHMK_0.4: that was padding).
	 */
	uint32_t flags;
	char _pad[MSG_HDR - 44];
};

/*
 * msg_hdr.flags, library-private: a request the client tracks as a
 * pending response (shmk_client_request()), and every response to one.
 */
#define MSG_TRACKED	(1U << 15)

/* A client's pending response (shmk_client_request()): private memory. */
struct rr_pend {
	uint64_t corr;		/* 0: entry unused */
	uint64_t live;		/* server slots live at the send */
	uint64_t ended;		/* ...that sent their last response */
	uint64_t aborted;	/* ...that left or died before it */
	uint32_t gen[SHMK_SVC_SLOTS_MAX];	/* their generations, by slot */
};

/*
 * The configuration as layout 4 stored it (struct shmk_svc_config of
 * LIBSHMK_0.2, SHMK_SVC_CONFIG_SIZE_V0 bytes, size 56): the fields that
 * came later are stored after the geometry (struct svc_shared).
 */
struct svc_cfg0 {
	uint32_t size;
	uint32_t kind;
	uint64_t payload_max;
	uint32_t max_publishers;
	uint32_t max_subscribers;
	uint32_t buffer;
	uint32_t history;
	uint32_t overflow;
	uint32_t max_loans;
	uint32_t max_borrow;
	uint32_t max_events;
	uint32_t mode;
	uint32_t reserved;
};

/* The service header, at offset 0 of the region. */
struct svc_shared {
	union {
		struct shmk_obj_hdr hdr;
		char _pad_hdr[SHMK_CACHELINE_PAD];
	};
	union {
		struct {
			struct svc_cfg0 cfg;
			uint32_t nslots, nchan, cap, nchunks, ewords, layout;
			uint32_t rstride, crow, erow, _res;
			uint64_t stride, slots_off, prod_off, ring_off,
				 cursor_off, holders_off, events_off, hdrs_off,
				 chunks_off;
			/*
			 * Layout 5: the configuration's fields of
			 * LIBSHMK_0.4 (struct shmk_svc_config), in what was
			 * the padding of this union.
			 */
			char type_name[SHMK_SVC_TYPE_NAME_MAX];
			uint64_t type_size;
			uint32_t type_align, uhdr;
		};
		char _pad_geo[2 * SHMK_CACHELINE_PAD];
	};
	union {
		/*
		 * Bit k of a mask: slot k may be asleep on its wake word
		 * waiting for data or events (@sleep_data) or for room or a
		 * drain (@sleep_room).  Set and cleared by slot k's port only,
		 * and cleared by the sweep of a dead slot k.
		 */
		struct {
			_Atomic uint64_t sleep_data;
			_Atomic uint64_t sleep_room;
			_Atomic uint32_t deaths;	/* death notices' counter */
			/*
			 * Bit k: slot k's port has an fd (shmk_port_fd()):
			 * data wakers look at slots[k].armed.  Set by slot
			 * k's port only; cleared by the sweep and the claim.
			 */
			_Atomic uint64_t watch;
		};
		char _pad_wait[SHMK_CACHELINE_PAD];
	};
};

/*
 * Geometry, computed from a configuration.  What different participants
 * write on the data path is kept SHMK_CACHELINE_PAD bytes apart
 * (lib-audit #17): each ring takes a block of @rstride bytes (its
 * positions and cap entries, rounded up), each consumer's cursor row
 * @crow cursors (nslots rounded up), each listener's event row @erow
 * words (ewords rounded up), and a slot a whole SHMK_CACHELINE_PAD.  The
 * holders words and message headers, one per chunk, are not padded
 * (Documentation/messaging.rst says why).
 */
struct svc_geo {
	/* uoff: a chunk's user header, this many bytes after its payload */
	uint64_t uoff;
	uint32_t nslots, nchan, cap, nchunks, ewords;
	uint32_t rstride, crow, erow;
	uint64_t stride, slots_off, prod_off, ring_off, cursor_off,
		 holders_off, events_off, hdrs_off, chunks_off, total;
};

/* One process's view of one mapping of a service. */
struct svc_view {
	struct shmk_region *r;
	struct svc_shared *sh;
	struct svc_slot *slots;
	unsigned char *rings;		/* ring ch * M + i at * rstride */
	_Atomic uint64_t *cursor;	/* [(ch * M + j) * crow + i]: next position */
	_Atomic uint64_t *holders;	/* [chunk] */
	_Atomic uint32_t *events;	/* [j * erow + w] */
	struct msg_hdr *hdrs;		/* [chunk] */
	unsigned char *chunks;
	struct shmk_svc_config cfg;	/* private copies, validated */
	struct svc_geo g;
};

struct shmk_service {
	struct svc_view v;
	char rname[SHMK_NAME_MAX];
	_Atomic int recovering;		/* a thread of ours is in view_recover() */
	_Atomic int64_t recover_ns;	/* memfd: when our last slice recovery ran */
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
	uint64_t tail, start;		/* producer: its own ring's */
	uint32_t nloans, nheld, rr, hint;
	uint32_t history;		/* subscriber: samples replayed on joining */
	uint32_t bp_fails;		/* back-pressure failures in a row */
	uint32_t spin[2];		/* SLEEP_DATA, SLEEP_ROOM: shmk_spin_begin() */
	uint32_t *loans, *held;
	uint64_t dropped, corr_next;
	int watching;			/* shmk_port_fd() made an fd */
	int wfd;			/* memfd: the watch socket, or -1 */
	int sfd;			/* memfd: a socket to wake others' watches */
	int notice;			/* NOTICE_*: the death notice we armed */
	int pid;			/* getpid() at open: close elsewhere only frees */
	/* Client: pending responses, and responses received for later. */
	uint32_t nstash;
	struct rr_pend pend[SHMK_SVC_PENDING_MAX];
	struct shmk_sample stash[SHMK_SVC_PENDING_MAX];
};

/* struct shmk_port.notice: how the module learns of the port's death. */
enum { NOTICE_NONE, NOTICE_COND, NOTICE_PLAIN };

/* svc_block_on(): which mask a sleeper sets its bit in. */
enum { SLEEP_DATA, SLEEP_ROOM };

static inline uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Chunk @c's holders word (@c checked against nchunks by the caller). */
static inline _Atomic uint64_t *holders_of(const struct svc_view *v, uint32_t c)
{
	return &v->holders[c];
}

/* The positions of ring @ri of channel @ch. */
static inline struct svc_prod *prod_of(const struct svc_view *v, uint32_t ch,
				       uint32_t ri)
{
	return (struct svc_prod *)(v->rings + ((uint64_t)ch * v->g.nslots + ri) *
				   v->g.rstride);
}

/* Ring @ri of channel @ch: its entries, position pos at [pos % cap]. */
static inline _Atomic uint64_t *ring_of(const struct svc_view *v, uint32_t ch,
				 uint32_t ri)
{
	return (_Atomic uint64_t *)(prod_of(v, ch, ri) + 1);
}

/* Consumer @j's cursor on producer @i's ring of channel @ch. */
static inline _Atomic uint64_t *cursor_at(const struct svc_view *v, uint32_t ch,
				   uint32_t j, uint32_t i)
{
	return &v->cursor[((uint64_t)ch * v->g.nslots + j) * v->g.crow + i];
}

/* Listener @j's event words: ewords of them. */
static inline _Atomic uint32_t *events_of(const struct svc_view *v, uint32_t j)
{
	return &v->events[(uint64_t)j * v->g.erow];
}

static inline void chunk_put(const struct svc_view *v, uint32_t c, uint64_t bit)
{
	/*
	 * Release: pairs with the acquire CAS in shmk_pub_loan(): our reads
	 * and writes of the chunk happen before its next owner's.
	 */
	SHMK_CP();
	atomic_fetch_and_explicit(holders_of(v, c), ~bit, memory_order_release);
}

/*
 * Functions shared between the files of the messaging layer.  Their link
 * names carry the library's private prefix, so that a program linked
 * with libshmk.a may use the short names itself.
 */
#define view_attach    shmk__view_attach
#define ofd_lock       shmk__ofd_lock
#define slot_off       shmk__slot_off
#define slot_ticket    shmk__slot_ticket
#define slot_sweep     shmk__slot_sweep
#define slot_reclaim   shmk__slot_reclaim
#define view_recover   shmk__view_recover
#define svc_wake_cons  shmk__svc_wake_cons
#define svc_wake_prod  shmk__svc_wake_prod
#define svc_wake_room  shmk__svc_wake_room
#define svc_wake_listeners shmk__svc_wake_listeners
#define svc_wake_events shmk__svc_wake_events
#define svc_watch_close shmk__svc_watch_close
#define svc_block      shmk__svc_block
#define svc_block_on   shmk__svc_block_on
#define port_new       shmk__port_new
#define port_new_h     shmk__port_new_h
#define chan_claim     shmk__chan_claim
#define find_chunk     shmk__find_chunk
#define prod_publish   shmk__prod_publish
#define prod_publish_f shmk__prod_publish_f
#define drained        shmk__drained
#define cons_try       shmk__cons_try
#define chan_release   shmk__chan_release
#define chan_room      shmk__chan_room
#define chan_room_to   shmk__chan_room_to
#define chan_consumers shmk__chan_consumers
#define svc_err        shmk__svc_err

/* svc_core.c */
int view_attach(struct svc_view *v, struct shmk_region *r);
/* Set this thread's shmk_last_error() text. */
void svc_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* svc_live.c */
int ofd_lock(int fd, uint64_t off, short type, int cmd);
uint32_t slot_ticket(struct svc_slot *s);
uint64_t slot_off(const struct svc_view *v, uint32_t k);
void slot_sweep(const struct svc_view *v, uint32_t k);
int slot_reclaim(const struct svc_view *v, uint32_t k, uint32_t st);
int view_recover(const struct svc_view *v);

/* svc_wait.c */
typedef int (*try_fn)(struct shmk_port *p, void *arg);
void svc_wake_cons(struct shmk_port *p, uint32_t ri);
void svc_wake_prod(const struct svc_view *v, uint32_t i);
void svc_wake_room(const struct svc_view *v);
void svc_wake_listeners(const struct svc_view *v, uint64_t want);
void svc_wake_events(struct shmk_port *p, uint64_t want);
void svc_watch_close(struct shmk_port *p);
int svc_block_on(struct shmk_port *p, try_fn fn, void *arg,
		 int64_t timeout_ns, int which);
int svc_block(struct shmk_port *p, try_fn fn, void *arg, int64_t timeout_ns);
extern _Atomic unsigned long shmk__svc_wakes;	/* wake syscalls made (tests) */
extern _Atomic unsigned long shmk__svc_watch_sends; /* watch datagrams (tests) */
extern int64_t shmk__svc_slice_ns;		/* memfd sleep slice (tests) */

/* svc_port.c */
int port_new(struct shmk_service *s, int role, unsigned int kind,
	     struct shmk_port **out);
/* port_new() with a subscriber's history (-1: the service's) */
int port_new_h(struct shmk_service *s, int role, unsigned int kind,
	       int64_t history, struct shmk_port **out);

/* chan.c */
void chan_claim(struct shmk_port *p, uint32_t k);
int find_chunk(const struct svc_view *v, const uint32_t *arr, uint32_t n,
	       const void *payload);
int prod_publish(struct shmk_port *p, void *payload, size_t len,
		 uint64_t corr, uint32_t target, uint32_t tgen, int policy,
		 int64_t timeout_ns);
int prod_publish_f(struct shmk_port *p, void *payload, size_t len,
		   uint64_t corr, uint32_t target, uint32_t tgen, int policy,
		   int64_t timeout_ns, uint32_t flags);
int drained(struct shmk_port *p, void *arg);
int cons_try(struct shmk_port *p, void *arg);
int chan_release(struct shmk_port *p, struct shmk_sample *smp);
int chan_room(struct shmk_port *p);
int chan_room_to(struct shmk_port *p, uint32_t k);
int chan_consumers(const struct shmk_port *p);

#endif /* SHMK_LIB_SVC_H */
