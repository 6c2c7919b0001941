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
 * Ownership of a chunk is a bitmap of ceil(nslots / 64) words per chunk,
 * a bit per participant slot ("holders"): a producer allocates by CAS of
 * its own word 0 -> its bit (then checks the other words: hold_claim()),
 * a consumer adds its bit, everyone removes only its own.  The bitmap is
 * 0 exactly when the chunk is free, so no chunk is freed twice, and the
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
 * 6: request-response's table of wanted requests (a row per client
 * after the event rows, struct svc_geo.pend_off) and a tracked request's
 * entry index in its flags (MSG_PEND), so that a cancel reaches the
 * servers.  A library of layout 5 would never clear a row, and its
 * servers would never see a cancel: -EPROTO (and -EBADMSG: the headers
 * moved).  Also up to 1,024 slots (SHMK_SVC_SLOTS_MAX): the holders
 * of a chunk, and the sleeping and watch masks, are bitmaps of mwords =
 * ceil(nslots / 64) words (the masks after the slots, each on
 * SHMK_CACHELINE_PAD bytes of its own; what was _res is mwords); cursor
 * rows are consumers x producers, not slots x slots.  A library of
 * layout 5 would read one word of holders and masks where there are
 * several: -EPROTO.  Also zero-trust payloads (SHMK_SVC_ZERO_TRUST in cfg.mode): the service
 * region has no chunks (chunks_off == total); producer slot k's chunks,
 * a range of the chunk indices (zt_range()), live in a data region of
 * its own (svc_zt.c).  A library of 5 would look for payloads at
 * chunks_off: -EPROTO.
 */
#define SVC_LAYOUT	6

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
	/*
	 * Zero-trust (layout 6): the producer's data segment the payload is
	 * in (0 unless SHMK_SVC_DYNAMIC); was padding.
	 */
	uint32_t seg;
	char _pad[MSG_HDR - 48];
};

/*
 * msg_hdr.flags, library-private: a request the client tracks as a
 * pending response (shmk_client_request()), and every response to one.
 */
#define MSG_TRACKED	(1U << 15)
/*
 * A tracked request's index in its client's pending table (bits 16-19),
 * so a server finds the word that says whether the client still wants
 * its responses (pend_of()).  Masked on use: a hostile value names
 * another word of the same client's row, never one outside it.
 */
#define MSG_PEND_SHIFT	16
#define MSG_PEND(f)	\
	(((f) >> MSG_PEND_SHIFT) & (SHMK_SVC_PENDING_MAX - 1))

/*
 * Request-response, layout 6: one row of SHMK_SVC_PENDING_MAX words per
 * client slot (PEND_ROW bytes, so that no two clients write one line).
 * Word i of client k's row is the correlation id of the request pending
 * in entry i of the client's struct shmk_port.pend, 0 when none: stored
 * before the request is published (left as it is when the publish fails:
 * no server has a request of that id and entry), cleared by
 * shmk_client_cancel() and when shmk_client_receive_for() reports the
 * end of the streams.  Written
 * by client k only; a server reads the word its request names (MSG_PEND)
 * and checks that the client's generation is still live: a word stays
 * meaningful only for the generation whose request it is (reqres.c,
 * req_wanted(), has the ordering argument).
 */
#define PEND_ROW	SHMK_CACHELINE_PAD
_Static_assert(SHMK_SVC_PENDING_MAX * 8 <= PEND_ROW &&
	       (SHMK_SVC_PENDING_MAX & (SHMK_SVC_PENDING_MAX - 1)) == 0,
	       "a client's pending row is one SHMK_CACHELINE_PAD, "
	       "indexed by a mask");

/*
 * A client's pending response (shmk_client_request()): private memory.
 * The masks are by server index s (slot max_publishers + s), fewer than
 * SHMK_SVC_SERVERS_MAX.
 */
struct rr_pend {
	uint64_t corr;		/* 0: entry unused */
	uint64_t live;		/* servers live at the send */
	uint64_t ended;		/* ...that sent their last response */
	uint64_t aborted;	/* ...that left or died before it */
	uint32_t gen[SHMK_SVC_SERVERS_MAX];	/* their generations */
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
			uint32_t rstride, crow, erow, mwords;
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
		struct {
			_Atomic uint32_t deaths;	/* death notices' counter */
		};
		char _pad_wait[SHMK_CACHELINE_PAD];
	};
};

/*
 * The per-slot masks (layout 6: bitmaps of g.mwords words, slot k bit
 * k % 64 of word k / 64, each mask on g.mstride bytes of its own, right
 * after the slots).  Bit k of MASK_DATA: slot k may be asleep on its wake
 * word waiting for data or events; of MASK_ROOM: waiting for room or a
 * drain.  Set and cleared by slot k's port only, and cleared by the sweep
 * of a dead slot k.  Bit k of MASK_WATCH: slot k's port has an fd
 * (shmk_port_fd()): data wakers look at slots[k].armed; set by slot k's
 * port only, cleared by the sweep and the claim.  A waker reads the
 * words covering the slots it has something for: a publish costs
 * ceil(consumers / 64) loads and one wake per actual sleeper, never work
 * per idle participant.
 */
enum { MASK_DATA, MASK_ROOM, MASK_WATCH, MASK_N };

/*
 * Geometry, computed from a configuration.  What different participants
 * write on the data path is kept SHMK_CACHELINE_PAD bytes apart
 * (lib-audit #17): each ring takes a block of @rstride bytes (its
 * positions and cap entries, rounded up), each consumer's cursor row
 * @crow cursors (on channel 0, one per producer, na rounded up; on a
 * response channel, one, rounded up), each listener's event row @erow
 * words (ewords rounded up), a slot a whole SHMK_CACHELINE_PAD, and each
 * per-slot mask @mstride bytes.  The holders bitmaps (@mwords words) and
 * message headers, one per chunk, are not padded
 * (Documentation/messaging.rst says why).
 */
struct svc_geo {
	/* uoff: a chunk's user header, this many bytes after its payload */
	uint64_t uoff;
	/* request-response: the clients' pending rows (PEND_ROW each) */
	uint64_t pend_off;
	uint32_t nslots, nchan, cap, nchunks, ewords;
	uint32_t rstride, crow, erow, mwords, mstride, na;
	uint64_t stride, slots_off, masks_off, prod_off, ring_off, cursor_off,
		 holders_off, events_off, hdrs_off, chunks_off, total;
	/*
	 * Zero-trust (layout 6): chunks per producer slot, of an A-role
	 * slot (below max_publishers) and of a B-role one; 0, 0 otherwise.
	 */
	uint32_t zta, ztb;
};

/*
 * Zero-trust data regions (svc_zt.c).  Producer slot k of generation g
 * writes its chunks into the region named zt_name(service, k, g, seg):
 * at offset 0 this header (SHMK_CACHELINE_PAD bytes, written by the
 * producer before its slot goes ALIVE), at ZT_DOFF its chunks, chunk c
 * at (c - base) * stride.  Nobody else can write it (Documentation/
 * messaging.rst, "Zero-trust payloads"), so it is trusted once checked
 * against what the reader computed itself.
 */
#define ZT_MAGIC	0x3144545a4b4d4853ULL	/* "SHMKZTD1" */
#define ZT_DOFF		4096ULL
/* Dynamic payloads: segment s holds ZT_INIT << s bytes (<= payload_max) */
#define ZT_INIT		4096ULL
#define ZT_SEGS		20	/* ZT_INIT << 19 > SHMK_SVC_PAYLOAD_MAX */

struct zt_hdr {
	_Atomic uint64_t magic;
	uint64_t svc_id;
	uint32_t slot, gen, seg, nchunks;
	uint64_t stride, base;
};

/* A consumer's mapping of a producer's data region (private memory). */
struct zt_map {
	struct shmk_region *r;	/* NULL: entry unused */
	unsigned char *chunks;	/* the mapping + ZT_DOFF */
	uint64_t size;		/* the mapping's size, read once */
	uint32_t slot, gen, seg, held;
};

/* One process's view of one mapping of a service. */
struct svc_view {
	struct shmk_region *r;
	struct svc_shared *sh;
	struct svc_slot *slots;
	_Atomic uint64_t *masks;	/* mask m word w at [m * mstride / 8 + w] */
	unsigned char *rings;		/* ring ch * M + i at * rstride */
	_Atomic uint64_t *cursor;	/* cursor_at(): next position */
	_Atomic uint64_t *holders;	/* [chunk * mwords + k / 64] */
	_Atomic uint32_t *events;	/* [j * erow + w] */
	_Atomic uint64_t *pend;		/* reqres: pend_of() */
	struct msg_hdr *hdrs;		/* [chunk] */
	unsigned char *chunks;
	struct shmk_svc_config cfg;	/* private copies, validated */
	struct svc_geo g;
	/* Zero-trust: the service object's identity (zt_name()), ours */
	uint64_t zt_id;
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
	int prod_ch, cons_ch;		/* -1: none */
	uint32_t plo, phi;		/* slots that produce to us */
	uint32_t clo, chi;		/* slots that consume from us */
	uint64_t tail, start;		/* producer: its own ring's */
	uint32_t nloans, nheld, rr, hint;
	/*
	 * Publisher: the chunk of our last publish, at position tail - 1,
	 * that the next loan may take back (chan.c, loan_reuse()), or NIL.
	 */
	uint32_t last;
	/*
	 * Publisher: a chunk whose ring reference a publish kept as ours
	 * because nobody else held it (chan.c, prod_publish_f()); the next
	 * loan takes it without touching its holders line.  NIL: none.
	 */
	uint32_t spare;
	uint32_t history;		/* subscriber: samples replayed on joining */
	uint32_t bp_fails;		/* back-pressure failures in a row */
	uint32_t spin[2];		/* SLEEP_DATA, SLEEP_ROOM: shmk_spin_begin() */
	uint32_t *loans, *held;
	/* held[i]'s payload, and (zero-trust) its zmaps[] entry */
	unsigned char **hptr;
	uint32_t *hmap;
	/*
	 * Zero-trust producer: our data segments (one unless dynamic), the
	 * current one, our chunks [zlo, zlo + zn) and each one's segment.
	 */
	struct {
		struct shmk_region *r;
		unsigned char *chunks;
	} zseg[ZT_SEGS];
	uint32_t zcur, zlo, zn;
	uint8_t *cseg;
	/* Zero-trust consumer: producers' data regions we map, zmax of them */
	struct zt_map *zmaps;
	uint32_t zmax;
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

/* Slot @k's word in a per-slot bitmap, and its bit in that word. */
#define SLOT_WORD(k)	((k) >> 6)
#define SLOT_BIT(k)	(1ULL << ((k) & 63))

/* Mask @m (MASK_*): g.mwords words. */
static inline _Atomic uint64_t *mask_of(const struct svc_view *v, int m)
{
	return v->masks + (uint64_t)m * (v->g.mstride / 8);
}

/*
 * Set or clear slot @k's bit in mask @m.  Relaxed: the callers that need
 * an order (svc_block_on(), shmk_port_fd()) use their own RMW; these are
 * the sweep's and the claim's clears, which publish nothing.
 */
static inline void mask_clear(const struct svc_view *v, int m, uint32_t k)
{
	SHMK_CP();
	atomic_fetch_and_explicit(&mask_of(v, m)[SLOT_WORD(k)], ~SLOT_BIT(k),
				  memory_order_relaxed);
}

/* Chunk @c's holders bitmap (@c checked against nchunks by the caller). */
static inline _Atomic uint64_t *holders_of(const struct svc_view *v, uint32_t c)
{
	return &v->holders[(uint64_t)c * v->g.mwords];
}

/* Slot @k's word of chunk @c's holders. */
static inline _Atomic uint64_t *hold_word(const struct svc_view *v, uint32_t c,
					  uint32_t k)
{
	return &holders_of(v, c)[SLOT_WORD(k)];
}

/* Is chunk @c held by anyone?  Relaxed: a guess or a snapshot. */
static inline int hold_busy(const struct svc_view *v, uint32_t c)
{
	_Atomic uint64_t *h = holders_of(v, c);
	uint32_t w;

	for (w = 0; w < v->g.mwords; w++)
		if (atomic_load_explicit(&h[w], memory_order_relaxed))
			return 1;
	return 0;
}

/*
 * Producer slot @k allocates chunk @c: 1 when it is now its only holder.
 *
 * One word (nslots <= 64): the CAS 0 -> bit decides, as it always did.
 *
 * Several words: nobody can swap them all at once, so this is a Dekker
 * handshake with the consumers (cons_try_one()) and other allocators,
 * every access seq_cst (one total order S):
 *   1. every word is 0 (a seq_cst load each: pass 1);
 *   2. CAS our own word 0 -> our bit;
 *   3. every other word is still 0 (pass 2); else drop our bit, fail.
 * Two allocators: each CASes its word, then loads the other's; in S one
 * of the loads comes after the other's CAS, so at least one fails.  A
 * consumer j that took the chunk legitimately set its bit (A) and then
 * saw producer i's ring bit still set (L), before the producer's release
 * of that bit (Y): A < L < Y in S.  Our pass 1 read i's word at or after
 * Y, so our pass 2 read of j's word comes after A in S and sees j's bit
 * (unless j let go meanwhile, which is a release and fine).  A consumer
 * whose bit came later sees, by its re-reads after L (L reads from Y's
 * release sequence, every write to a holders word being an RMW), the
 * overwritten entry or the changed state, and drops its bit: the chunk
 * was no longer referenced by the ring it read.
 * Acquire (in seq_cst): pairs with the release of the last holder: its
 * uses of the chunk are done before ours.
 */
static inline int hold_claim(const struct svc_view *v, uint32_t c, uint32_t k)
{
	_Atomic uint64_t *h = holders_of(v, c);
	uint32_t n = v->g.mwords, w;
	uint64_t zero = 0;

	if (n == 1) {
		/* Relaxed: a guess; the CAS decides. */
		if (atomic_load_explicit(h, memory_order_relaxed))
			return 0;
		SHMK_CP();
		/*
		 * Acquire: pairs with the release fetch_and of the last
		 * holder (hold_drop(), the sweep): its uses are done.
		 */
		return atomic_compare_exchange_strong_explicit(h, &zero,
				SLOT_BIT(k), memory_order_acquire,
				memory_order_relaxed);
	}
	for (w = 0; w < n; w++)
		/* Seq_cst: pass 1 of the handshake above. */
		if (atomic_load_explicit(&h[w], memory_order_seq_cst))
			return 0;
	SHMK_CP();
	/* Seq_cst: step 2 of the handshake above. */
	if (!atomic_compare_exchange_strong_explicit(&h[SLOT_WORD(k)], &zero,
			SLOT_BIT(k), memory_order_seq_cst, memory_order_relaxed))
		return 0;
	for (w = 0; w < n; w++) {
		if (w == SLOT_WORD(k))
			continue;
		/* Seq_cst: pass 2 of the handshake above. */
		if (atomic_load_explicit(&h[w], memory_order_seq_cst)) {
			SHMK_CP();
			/*
			 * Relaxed: we never used the chunk (a back-off: only
			 * a racing holder gets here).
			 */
			atomic_fetch_and_explicit(&h[SLOT_WORD(k)], ~SLOT_BIT(k),
						  memory_order_relaxed);
			return 0;
		}
	}
	return 1;
}

/*
 * Consumer slot @k takes a reference on chunk @c, read from producer
 * @i's ring: returns whether @i's bit was set after ours was (the chunk
 * was still referenced by that ring), and in *@had whether ours was set
 * already.  Seq_cst, both: the consumer's half of hold_claim()'s
 * handshake; acquire, so that if the value read comes after the
 * producer's release of its bit (prod_publish()) or the sweep of its
 * slot in the word's modification order, the overwrite of the entry or
 * the change of the state happens before the caller's re-reads.
 */
static inline int hold_add(const struct svc_view *v, uint32_t c, uint32_t k,
			   uint32_t i, int *had)
{
	uint64_t old;

	SHMK_CP();
	old = atomic_fetch_or_explicit(hold_word(v, c, k), SLOT_BIT(k),
				       memory_order_seq_cst);
	*had = !!(old & SLOT_BIT(k));
	if (SLOT_WORD(i) != SLOT_WORD(k))
		old = atomic_load_explicit(hold_word(v, c, i),
					   memory_order_seq_cst);
	return !!(old & SLOT_BIT(i));
}

/*
 * Slot @k drops its reference on chunk @c.  Release (seq_cst, for
 * hold_claim()'s handshake on several words; the same instruction on
 * x86): pairs with the acquire of the chunk's next allocator: our reads
 * and writes of the chunk happen before its.
 */
static inline void hold_drop(const struct svc_view *v, uint32_t c, uint32_t k)
{
	SHMK_CP();
	atomic_fetch_and_explicit(hold_word(v, c, k), ~SLOT_BIT(k),
				  memory_order_seq_cst);
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

/*
 * Consumer @j's cursor on producer @i's ring of channel @ch.  Channel 0
 * (publish-subscribe, requests): a row per consumer slot j in [na, M), a
 * cursor per producer slot i in [0, na).  Channel 1 + s (server s's
 * responses): a row per client j in [0, na), one cursor (on server s).
 */
static inline _Atomic uint64_t *cursor_at(const struct svc_view *v, uint32_t ch,
					  uint32_t j, uint32_t i)
{
	uint64_t na = v->g.na, rows0 = v->g.nslots - na;

	if (ch == 0)
		return &v->cursor[(j - na) * v->g.crow + i];
	return &v->cursor[rows0 * v->g.crow + ((ch - 1) * na + j) *
			  (SHMK_CACHELINE_PAD / 8)];
}

/* Listener @j's event words: ewords of them. */
static inline _Atomic uint32_t *events_of(const struct svc_view *v, uint32_t j)
{
	return &v->events[(uint64_t)j * v->g.erow];
}

/* Client @k's pending row (@k < max_publishers, checked by the caller). */
static inline _Atomic uint64_t *pend_of(const struct svc_view *v, uint32_t k)
{
	return &v->pend[(uint64_t)k * (PEND_ROW / 8)];
}

/* Slot @k gives chunk @c back (a loan or a received sample). */
static inline void chunk_put(const struct svc_view *v, uint32_t c, uint32_t k)
{
	hold_drop(v, c, k);
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
#define zt_range       shmk__zt_range
#define zt_name        shmk__zt_name
#define zt_service_id  shmk__zt_service_id
#define zt_create      shmk__zt_create
#define zt_get         shmk__zt_get
#define zt_put         shmk__zt_put
#define zt_close       shmk__zt_close
#define zt_trim        shmk__zt_trim
#define zt_unlink_slot shmk__zt_unlink_slot
#define chunk_ptr      shmk__chunk_ptr
#define loan_bytes     shmk__loan_bytes

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
void svc_wake_listeners(const struct svc_view *v, uint32_t lo, uint32_t hi);
void svc_wake_events(struct shmk_port *p, uint32_t lo, uint32_t hi);
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
int find_chunk(const struct shmk_port *p, const uint32_t *arr, uint32_t n,
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
int loan_bytes(struct shmk_port *p, uint64_t bytes, void **payload);
/* The payload of chunk @c, which this port holds as a loan. */
unsigned char *chunk_ptr(const struct shmk_port *p, uint32_t c);

/* svc_zt.c */
static inline int svc_zt(const struct svc_view *v)
{
	return v->g.zta || v->g.ztb;
}

void zt_range(const struct svc_view *v, uint32_t k, uint32_t *lo, uint32_t *n);

/* Segment @s's payload bytes, user header offset and chunk stride. */
static inline uint64_t zt_cap(const struct svc_view *v, uint32_t s)
{
	uint64_t c = v->cfg.payload_max;

	if ((v->cfg.mode & SHMK_SVC_DYNAMIC) && s < 32 && (ZT_INIT << s) < c)
		c = ZT_INIT << s;
	return c;
}

static inline uint64_t zt_uoff(const struct svc_view *v, uint32_t s)
{
	return align_up(zt_cap(v, s), SHMK_CACHELINE);
}

static inline uint64_t zt_stride(const struct svc_view *v, uint32_t s)
{
	return zt_uoff(v, s) + align_up(v->cfg.user_header_size,
					SHMK_CACHELINE);
}

/* The last segment (its chunks hold payload_max): 0 unless dynamic. */
static inline uint32_t zt_last(const struct svc_view *v)
{
	uint32_t s = 0;

	while (zt_cap(v, s) < v->cfg.payload_max)
		s++;
	return s;
}
int zt_name(char *buf, uint64_t id, uint32_t slot, uint32_t gen,
	    uint32_t seg);
int zt_service_id(const struct shmk_region *r, const char *name,
		  uint64_t *id);
int zt_create(struct shmk_port *p, uint32_t k, uint32_t gen, uint32_t seg);
void zt_trim(struct shmk_port *p);
int zt_get(struct shmk_port *p, uint32_t i, uint32_t gen, uint32_t seg,
	   uint32_t c, unsigned char **data, uint32_t *mi);
void zt_put(struct shmk_port *p, uint32_t mi);
void zt_close(struct shmk_port *p, int unlink);
void zt_unlink_slot(const struct svc_view *v, uint32_t k);

#endif /* SHMK_LIB_SVC_H */
