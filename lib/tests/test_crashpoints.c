// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every crash point (issue 10): each messaging operation runs in a forked
 * victim once per crash point k = 1, 2, ... (lib/crashpoint.h), the
 * victim killed with SIGKILL exactly before its k-th store to shared
 * memory, until the operation completes without reaching k.  After each
 * death the parent, which holds the surviving ports, checks:
 *
 *   leak       after recovery no chunk is held by a slot that is not
 *              live, and after everyone closes no chunk and no slot is
 *              in use;
 *   owned twice  survivors' loans are distinct, each holds exactly its
 *              owner's bit, and what each writer wrote there is intact;
 *   unpublished  no receiver ever gets a chunk that was only loaned (its
 *              writers mark them "UNPUB");
 *   twice      no receiver gets one sample twice;
 *   lost       every sample whose publish returned 0 before the crash
 *              (the writers log them in a shared test mapping) reaches
 *              each receiver that was there, or is counted dropped;
 *   stuck      the service goes on working: survivors and newcomers
 *              exchange samples, requests, responses and events.
 *
 * Phase 2 repeats every (op, k) with a recovering child killed at each
 * point j of its own recovery, then a final recovery and the checks.
 * A last test reports which SHMK_CP() sites were never hit and fails for
 * any in the messaging layer not in the allowlist below.
 *
 * To run one operation, or one point of it, by hand:
 *   SHMK_CP_OP=publish_safe SHMK_CP_K=7 [SHMK_CP_J=2] [SHMK_CP_PHASE=1]
 *   SHMK_CP_VERBOSE=1 build/lib/tests/test_crashpoints
 * (or the arguments OP [K [J]]).  SHMK_CP_LENIENT=lost,stuck,...
 * reports those classes without failing.  SHMK_CP_QUICK=1 kills the
 * recoverer at each of its points only in the recover_* operations, in
 * the others at its first point only (the guest build's default, for
 * time).  SHMK_BACKEND picks the backend (default memfd; the guest
 * build's: device).  Documentation/messaging.rst, "Crash points", has
 * more.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>

#include "msgutil.h"
#include <shmk/service.h>
#include "crashpoint.h"
#include "cp_audit.h"

/* Payloads: a tag, who wrote it, and a pattern derived from both. */
#define PLEN		64
#define RLEN		65536	/* F_REUSE: samples of this many bytes */
#define W_MAX		16
#define SEQS		64
#define MAXSITES	1024
#define MAXK		20000	/* a loop guard: no operation has this many */

#ifndef CP_BACKEND
#define CP_BACKEND	"memfd"	/* without SHMK_BACKEND */
#endif
#ifndef CP_QUICK
#define CP_QUICK	0	/* without SHMK_CP_QUICK */
#endif

enum { W_NONE, W_SP, W_VIC, W_NP, W_DEAD, W_SC, W_SV, W_NC, W_NSV, W_SN,
       W_NN };
static const char *const wname[W_MAX] = {
	"-", "survivor publisher", "victim", "new publisher", "dead peer",
	"survivor client", "survivor server", "new client", "new server",
	"survivor notifier", "new notifier",
};

struct pl {
	char tag[8];		/* "PUB" or "UNPUB" */
	uint32_t writer, seq, to, _r;
	unsigned char fill[PLEN - 24];
};

/* Receivers whose deliveries are tracked. */
enum { R_SS, R_NS, R_SRV, R_SC, R_NC, R_MAX };
static const char *const rname[R_MAX] = {
	"survivor subscriber", "new subscriber", "server", "survivor client",
	"new client",
};

/* Violation classes. */
enum { V_LEAK, V_OWNED2, V_UNPUB, V_TWICE, V_LOST, V_STUCK, V_CHILD, V_TORN,
       V_MAX };
static const char *const vname[V_MAX] = {
	"leak", "owned-twice", "unpublished-delivered", "delivered-twice",
	"lost", "stuck", "child", "torn",
};

/*
 * The shared test mapping: written by the victims and dead peers (after
 * each publish that returned 0) and by the parent.
 */
struct cp_log {
	uint8_t pub[W_MAX][SEQS];	/* 1: its publish returned 0 */
	uint8_t to[W_MAX][SEQS];	/* responses: the client's writer id */
	uint8_t ev[64];			/* event ids notified since collected */
	int dead_slot;			/* the dead peer's producer slot */
	unsigned long points;		/* the victim's points, when done */
	unsigned long hits[MAXSITES];	/* a finished child's site hits */
	char err[256];
};
static struct cp_log *LOG;

/* Configuration from the environment (or argv). */
static int backend;		/* SHMK_BACKEND_MEMFD or _DEVICE */
static const char *sel_op;
static unsigned long sel_k, sel_j;
static int sel_phase, verbose, lenient[V_MAX];
static int quick;		/* phase 2 in full for recover_* only */

/* Totals, for the report. */
static unsigned long tot_runs, tot_points, tot_ops;
static struct shmk_cp_site *sites;
static unsigned long nsites;

static unsigned int vcount[V_MAX];
static char where[96];

static void viol(int cls, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void viol(int cls, const char *fmt, ...)
{
	va_list ap;

	if (vcount[cls]++ >= 3 && !verbose)
		return;
	printf("  VIOLATION %s at %s: ", vname[cls], where);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void pl_put(void *p, const char *tag, uint32_t w, uint32_t seq,
		   uint32_t to)
{
	struct pl *x = p;
	size_t i;

	memset(x, 0, sizeof(*x));
	memcpy(x->tag, tag, strnlen(tag, sizeof(x->tag) - 1));
	x->writer = w;
	x->seq = seq;
	x->to = to;
	for (i = 0; i < sizeof(x->fill); i++)
		x->fill[i] = (unsigned char)(w * 37 + seq * 11 + to * 5 + i);
}

/* 0: intact "PUB"; 1: intact "UNPUB"; -1: anything else. */
static int pl_get(const void *p, size_t len, struct pl *out)
{
	struct pl want;

	if (len != PLEN && len != RLEN)	/* RLEN: F_REUSE */
		return -1;
	memcpy(out, p, sizeof(*out));
	out->tag[sizeof(out->tag) - 1] = 0;
	if (out->writer >= W_MAX || out->seq >= SEQS)
		return -1;
	pl_put(&want, out->tag, out->writer, out->seq, out->to);
	if (memcmp(&want, out, sizeof(want)))
		return -1;
	if (!strcmp(out->tag, "PUB"))
		return 0;
	return strcmp(out->tag, "UNPUB") ? -1 : 1;
}

static bool pl_is(const void *p, const char *tag, uint32_t w, uint32_t seq,
		  uint32_t to)
{
	struct pl want;

	pl_put(&want, tag, w, seq, to);
	return !memcmp(p, &want, sizeof(want));
}

static void log_pub(uint32_t w, uint32_t seq, uint32_t to)
{
	LOG->to[w][seq] = (uint8_t)to;
	/* A compiler barrier is enough: the reader waits for our exit. */
	__atomic_store_n(&LOG->pub[w][seq], 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* The world: a service, the survivors (parent), tracking */

enum { K_CREATE, K_PUBSUB, K_REQRES, K_EVENT, K_BB };

#define F_DEAD		(1U << 0)	/* a participant died before the victim */
#define F_HOG		(1U << 1)	/* ... holding every free chunk */
#define F_SYNC		(1U << 2)	/* parent acts between prep and prep2 */
#define F_NOSERVER	(1U << 3)	/* reqres: the victim is the server */
#define F_BLOCK		(1U << 4)	/* pubsub: SHMK_OVERFLOW_BLOCK */
#define F_CLOSES	(1U << 5)	/* the victim closes a producer: its
					 * samples may be dropped by contract */
#define F_SMALL		(1U << 6)	/* 2 publishers, 2 subscribers */
#define F_LOCKED	(1U << 7)	/* a free slot's lock is held (memfd
					 * only: OFD locks) */
#define F_WATCHED	(1U << 8)	/* the victim listener is watched by
					 * shmk_listener_fd() */
/* Blackboard: keys 1000 + i, i < BB_KEYS; the parent adds BB_BASE. */
#define BB_KEYS		6
#define BB_BASE		4
#define F_BBVW		(1U << 9)	/* blackboard: the victim is the
					 * writer (the parent holds none) */
#define F_SURVWATCH	(1U << 10)	/* the survivor consumer has an armed
					 * fd (shmk_port_fd()) */
#define F_TWOSRV	(1U << 11)	/* reqres: two servers, the survivor's
					 * and the victim's */
#define F_WIDE		(1U << 12)	/* pubsub: 70 slots (bitmaps of two
					 * words), the victim's slot in the
					 * second (the parent holds fillers) */
#define WIDE_FILL	61		/* filler subscribers (F_WIDE) */
#define F_ZT		(1U << 13)	/* zero-trust payloads: the victim
					 * producer creates its data region,
					 * the victim consumer maps others' */
#define F_DYN		(1U << 14)	/* dynamic payloads: the victim
					 * grows its chunks (payload_max 16 KiB) */
#define F_REUSE		(1U << 15)	/* pubsub without history, chunks of
					 * RLEN: a publisher's loan takes back
					 * its last chunk (chan.c) */

struct world;

struct vic {
	struct world *w;
	struct shmk_service *s;
	struct shmk_port *p;
	struct shmk_sample smp[4];
	int nsmp;
	uint32_t seq;
	uint64_t corr[2];	/* pending responses (shmk_client_request()) */
	void *last;		/* F_REUSE: the payload last published */
};

struct op {
	const char *name;
	int kind;
	unsigned int flags;
	void (*prep)(struct vic *v);		/* victim, unarmed */
	void (*between)(struct world *w);	/* parent (F_SYNC) */
	void (*prep2)(struct vic *v);		/* victim, unarmed */
	void (*act)(struct vic *v);		/* victim, armed */
};

struct world {
	const struct op *op;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_svc_config cfg;
	struct shmk_service *s;
	struct shmk_port *a, *b;	/* SP/SS, SC/SV, SN/SL */
	struct shmk_port *fill[WIDE_FILL];	/* F_WIDE: idle subscribers */
	void *a_loan;			/* a survivor's loan, "UNPUB" */
	struct shmk_region *lock;	/* F_LOCKED: holds slot 1's lock */
	struct shmk_sample held;	/* a sample a survivor keeps */
	int has_held;
	uint32_t nseq[W_MAX];		/* the parent's writers' next seq */
	uint8_t seen[R_MAX][W_MAX][SEQS];
	uint8_t evseen[64];		/* ids the survivor listener got */
	int wfd;			/* F_SURVWATCH: the survivor's fd */
	uint64_t pend[8];		/* the survivor client's pending requests */
	int npend;
	struct shmk_sample sreq;	/* a request the survivor server keeps */
	int has_sreq;
};

#define VCHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			snprintf(LOG->err, sizeof(LOG->err),		\
				 "%s failed (line %d)", #cond, __LINE__); \
			_exit(3);					\
		}							\
	} while (0)

static struct shmk_svc_config world_cfg(const struct op *op)
{
	struct shmk_svc_config c;

	switch (op->kind) {
	case K_CREATE:
		c = cfg_of(SHMK_SVC_PUBSUB);
		c.payload_max = PLEN;
		c.max_publishers = 1;
		c.max_subscribers = 1;
		c.buffer = 1;
		break;
	case K_PUBSUB:
		c = cfg_of(SHMK_SVC_PUBSUB);
		c.payload_max = PLEN;
		c.max_publishers = op->flags & F_SMALL ? 2 : 3;
		c.max_subscribers = op->flags & F_SMALL ? 2 :
				    op->flags & F_WIDE ? 67 : 3;
		c.buffer = 4;
		c.history = 2;
		c.max_loans = 2;
		c.max_borrow = 2;
		c.overflow = op->flags & F_BLOCK ? SHMK_OVERFLOW_BLOCK :
			     SHMK_OVERFLOW_SAFE;
		break;
	case K_REQRES:
		c = cfg_of(SHMK_SVC_REQRES);
		c.payload_max = PLEN;
		c.max_publishers = 3;
		c.max_subscribers = op->flags & F_TWOSRV ? 2 : 1;
		c.buffer = 4;
		c.max_loans = 2;
		c.max_borrow = 2;
		break;
	case K_BB:
		shmk_bb_config(&c, BB_KEYS, 8, PLEN, 3);
		break;
	default:
		c = cfg_of(SHMK_SVC_EVENT);
		c.max_publishers = 2;
		c.max_subscribers = 2;
		c.max_events = 64;
		break;
	}
	if (op->flags & F_ZT)
		c.mode |= SHMK_SVC_ZERO_TRUST;
	if (op->flags & F_DYN) {
		c.mode |= SHMK_SVC_DYNAMIC;
		c.payload_max = 16384;
	}
	if (op->flags & F_REUSE) {
		c.payload_max = RLEN;
		c.history = 0;
	}
	return c;
}

/*
 * Blackboard: keys 1000 + i; the value of key i at version n is a
 * payload of writer i, seq n (pl_put()), so that a copy mixing two
 * versions fails pl_get().  The parent adds keys 0 to 3 at version 0.
 */

static int bb_put(struct shmk_port *w, uint32_t i, uint32_t n, int add)
{
	unsigned char buf[PLEN];
	uint64_t k = 1000 + i;

	pl_put(buf, "PUB", i, n, 0);
	return add ? shmk_bb_add(w, &k, buf, PLEN) :
		     shmk_bb_write(w, &k, buf, PLEN);
}

/*
 * Read key @i: its version (>= 0), or the error; a value that is not
 * one whole version of key @i is "torn".
 */
static int bb_get(struct shmk_port *r, uint32_t i, const char *who)
{
	unsigned char buf[PLEN];
	uint64_t k = 1000 + i;
	struct pl x;
	int ret = shmk_bb_read(r, &k, buf, sizeof(buf), NULL);

	if (ret < 0)
		return ret;
	if (pl_get(buf, (size_t)ret, &x) || x.writer != i) {
		viol(V_TORN, "%s read a torn value of key %u (%d bytes)", who,
		     i, ret);
		return -EBADMSG;
	}
	return (int)x.seq;
}

/*
 * Every key a reader can see: a whole value, or -ENODATA (repaired
 * after a writer's death), or with @busy_ok (no writer has come since a
 * death) -EAGAIN; keys beyond the parent's may be missing.
 */
static void bb_read_all(struct shmk_port *r, const char *who, bool busy_ok)
{
	uint32_t i;
	int ret;

	for (i = 0; i < BB_KEYS; i++) {
		ret = bb_get(r, i, who);
		if (ret >= 0 || ret == -ENODATA || ret == -EBADMSG ||
		    (ret == -EAGAIN && busy_ok) ||
		    (ret == -ENOENT && i >= BB_BASE))
			continue;
		viol(V_STUCK, "%s: key %u: read returned %d", who, i, ret);
	}
}

/* A parent writer loans, writes and publishes (pubsub). */
static int par_publish(struct world *w, struct shmk_port *p, uint32_t wr)
{
	void *pl;
	uint32_t seq = w->nseq[wr];
	int ret;

	ret = shmk_pub_loan(p, &pl);
	if (ret)
		return ret;
	pl_put(pl, "PUB", wr, seq, 0);
	ret = shmk_pub_publish(p, pl, PLEN, 0);
	if (ret) {
		shmk_pub_discard(p, pl);
		return ret;
	}
	w->nseq[wr]++;
	log_pub(wr, seq, 0);
	return 0;
}

/* A parent client sends a request. */
static int par_request(struct world *w, struct shmk_port *p, uint32_t wr)
{
	void *pl;
	uint32_t seq = w->nseq[wr];
	int ret;

	ret = shmk_pub_loan(p, &pl);
	if (ret)
		return ret;
	pl_put(pl, "PUB", wr, seq, 0);
	ret = shmk_client_send(p, pl, PLEN, NULL);
	if (ret) {
		shmk_pub_discard(p, pl);
		return ret;
	}
	w->nseq[wr]++;
	log_pub(wr, seq, 0);
	return 0;
}

/* A parent client sends a request it tracks (a stream to wait for). */
static int par_request_tracked(struct world *w, struct shmk_port *p,
			       uint32_t wr)
{
	void *pl;
	uint32_t seq = w->nseq[wr];
	uint64_t corr;
	int ret;

	if (w->npend >= 8)
		return -ENOSPC;
	ret = shmk_pub_loan(p, &pl);
	if (ret)
		return ret;
	pl_put(pl, "PUB", wr, seq, 0);
	ret = shmk_client_request(p, pl, PLEN, 0, &corr, NULL, 0);
	if (ret) {
		shmk_pub_discard(p, pl);
		return ret;
	}
	w->pend[w->npend++] = corr;
	w->nseq[wr]++;
	log_pub(wr, seq, 0);
	return 0;
}

static int par_notify(struct shmk_port *p, uint32_t id)
{
	int ret = shmk_notifier_notify(p, id);

	if (ret > 0)
		LOG->ev[id] = 1;
	return ret;
}

/* Check one delivered sample; 0 when it is a valid new one. */
static int got(struct world *w, int r, const struct shmk_sample *smp,
	       struct pl *x)
{
	int t = pl_get(smp->data, smp->len, x);

	if (t < 0) {
		viol(V_OWNED2, "%s received a corrupt sample (chunk %u, len %zu, tag \"%.8s\", writer %u seq %u): written by two writers?",
		     rname[r], smp->chunk, smp->len, x->tag, x->writer, x->seq);
		return -1;
	}
	if (t == 1) {
		viol(V_UNPUB, "%s received a buffer never published: a loan of the %s (chunk %u, its seq %u)",
		     rname[r], wname[x->writer], smp->chunk, x->seq);
		return -1;
	}
	if (w->seen[r][x->writer][x->seq]) {
		viol(V_TWICE, "%s received seq %u of the %s twice (chunk %u)",
		     rname[r], x->seq, wname[x->writer], smp->chunk);
		return -1;
	}
	w->seen[r][x->writer][x->seq] = 1;
	return 0;
}

/* Receive (timeout 0) and release everything waiting for a subscriber. */
static void sub_drain(struct world *w, struct shmk_port *p, int r)
{
	struct shmk_sample smp;
	struct pl x;
	int i, ret;

	for (i = 0; i < 1000; i++) {
		ret = shmk_sub_receive(p, &smp, 0);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			viol(V_STUCK, "%s: receive returned %d", rname[r], ret);
			return;
		}
		got(w, r, &smp, &x);
		if (shmk_sub_release(p, &smp))
			viol(V_STUCK, "%s: release failed", rname[r]);
	}
	viol(V_STUCK, "%s: receives never end", rname[r]);
}

/* Client: receive and release every response waiting. */
static void client_drain(struct world *w, struct shmk_port *p, int r)
{
	struct shmk_sample smp;
	struct pl x;
	int i, ret;

	for (i = 0; i < 1000; i++) {
		ret = shmk_client_receive(p, &smp, 0);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			viol(V_STUCK, "%s: client receive returned %d",
			     rname[r], ret);
			return;
		}
		/* An empty last response (shmk_server_end()) carries no tag. */
		if (smp.len || !(shmk_sample_flags(&smp) & SHMK_RESP_LAST))
			got(w, r, &smp, &x);
		if (shmk_sub_release(p, &smp))
			viol(V_STUCK, "%s: release failed", rname[r]);
	}
	viol(V_STUCK, "%s: receives never end", rname[r]);
}

/* Server: receive every request waiting and answer each. */
static void server_serve(struct world *w, struct shmk_port *p, uint32_t wr)
{
	struct shmk_sample req;
	struct pl x;
	void *pl;
	int i, ret;

	for (i = 0; i < 1000; i++) {
		ret = shmk_server_receive(p, &req, 0);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			viol(V_STUCK, "server: receive returned %d", ret);
			return;
		}
		/* Fire-and-forget: no response may be sent. */
		if (got(w, R_SRV, &req, &x) == 0 &&
		    !(shmk_sample_flags(&req) & SHMK_REQ_NO_RESPONSE)) {
			uint32_t seq = w->nseq[wr];

			ret = shmk_pub_loan(p, &pl);
			if (ret) {
				viol(V_STUCK, "server: loan for a response returned %d",
				     ret);
			} else {
				pl_put(pl, "PUB", wr, seq, x.writer);
				ret = shmk_server_respond(p, &req, pl, PLEN);
				/* A tracked request of a client now gone. */
				if (ret == -ECANCELED &&
				    (x.writer == W_VIC || x.writer == W_DEAD)) {
					shmk_pub_discard(p, pl);
				} else if (ret) {
					viol(V_STUCK, "server: respond returned %d",
					     ret);
					shmk_pub_discard(p, pl);
				} else {
					w->nseq[wr]++;
					log_pub(wr, seq, x.writer);
				}
			}
		}
		if (shmk_sub_release(p, &req))
			viol(V_STUCK, "server: release failed");
	}
	viol(V_STUCK, "server: receives never end");
}

/*
 * Every sample logged as published to receiver @r (writer id @me for
 * responses, 0 for broadcast and requests) was received, or counted in
 * @dropped.
 */
static void lost_check(struct world *w, int r, uint32_t me, uint64_t dropped)
{
	unsigned int miss = 0, fw = 0, fs = 0, wr, s;

	for (wr = 1; wr < W_MAX; wr++) {
		if (wr == W_VIC && (w->op->flags & F_CLOSES))
			continue;
		for (s = 0; s < SEQS; s++) {
			if (!LOG->pub[wr][s] || LOG->to[wr][s] != me ||
			    w->seen[r][wr][s])
				continue;
			if (!miss++)
				fw = wr, fs = s;
		}
	}
	if (miss > dropped)
		viol(V_LOST, "%s: %u sample(s) whose publish returned 0 never delivered (first: seq %u of the %s), %llu counted dropped",
		     rname[r], miss, fs, wname[fw], (unsigned long long)dropped);
}

static void audit(struct world *w, const char *when)
{
	struct shmk_port *ports[] = { w->a, w->b };
	char msg[160];
	unsigned int i;

	if (cp_audit_holders(w->s, msg, sizeof(msg)))
		viol(V_LEAK, "%s: %s", when, msg);
	for (i = 0; i < 2; i++)
		if (ports[i] && cp_audit_port(ports[i], msg, sizeof(msg)))
			viol(V_OWNED2, "%s: %s", when, msg);
}

/* Distinct loans, each still holding what its writer wrote. */
struct loan {
	void *p;
	const char *tag;
	uint32_t wr, seq;
};

static void loans_check(struct loan *l, int n, const char *when)
{
	int i, j;

	for (i = 0; i < n; i++) {
		if (!l[i].p)
			continue;
		for (j = 0; j < i; j++)
			if (l[j].p == l[i].p)
				viol(V_OWNED2, "%s: one chunk loaned to the %s and the %s",
				     when, wname[l[j].wr], wname[l[i].wr]);
		if (!pl_is(l[i].p, l[i].tag, l[i].wr, l[i].seq, 0))
			viol(V_OWNED2, "%s: the %s's loan was overwritten",
			     when, wname[l[i].wr]);
	}
}

/* A dead peer: joins, publishes, loans, receives, dies without closing. */
static void dead_peer(struct world *w)
{
	struct shmk_service *s;
	struct shmk_port *p, *q;
	struct shmk_sample smp;
	void *pl;
	uint32_t i;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		VCHECK(shmk_service_open(w->name, NULL, 0, &s) == 0);
		if (w->op->kind == K_BB) {
			/*
			 * A reader, and a writer killed inside a write of key
			 * 1: before the store that makes its sequence even
			 * again (its third crash point).
			 */
			VCHECK(shmk_bb_reader_open(s, &q) == 0);
			VCHECK(shmk_bb_writer_open(s, &p) == 0);
			VCHECK(bb_put(p, 0, 1, 0) == 0);
			LOG->dead_slot = shmk_port_slot(p);
			shmk_cp_arm(3);
			bb_put(p, 1, 1, 0);
			_exit(5);
		}
		if (w->op->kind == K_PUBSUB) {
			struct shmk_port *hold = NULL;

			/*
			 * loan_recover: the dead publisher takes the last slot,
			 * so that the victim's open finds a free slot before it
			 * and the recovery happens inside the victim's loan (a
			 * claim that meets a dead slot reclaims it on the spot).
			 */
			if (w->op->flags & F_HOG)
				VCHECK(shmk_pub_open(s, &hold) == 0);
			VCHECK(shmk_pub_open(s, &p) == 0);
			shmk_port_close(hold);
			VCHECK(shmk_sub_open(s, &q) == 0);
			LOG->dead_slot = shmk_port_slot(p);
			for (i = 0; i < 3; i++) {
				VCHECK(shmk_pub_loan(p, &pl) == 0);
				pl_put(pl, "PUB", W_DEAD, i, 0);
				VCHECK(shmk_pub_publish(p, pl, PLEN, 0) == 0);
				log_pub(W_DEAD, i, 0);
			}
			VCHECK(shmk_pub_loan(p, &pl) == 0);
			pl_put(pl, "UNPUB", W_DEAD, 9, 0);
			VCHECK(shmk_sub_receive(q, &smp, 0) == 0);
			VCHECK(shmk_sub_receive(q, &smp, 0) == 0);
		} else if (w->op->kind == K_REQRES) {
			VCHECK(shmk_client_open(s, &p) == 0);
			VCHECK(shmk_pub_loan(p, &pl) == 0);
			pl_put(pl, "PUB", W_DEAD, 0, 0);
			VCHECK(shmk_client_send(p, pl, PLEN, NULL) == 0);
			log_pub(W_DEAD, 0, 0);
			VCHECK(shmk_pub_loan(p, &pl) == 0);
			pl_put(pl, "UNPUB", W_DEAD, 9, 0);
		} else {
			VCHECK(shmk_notifier_open(s, &p) == 0);
			VCHECK(shmk_listener_open(s, &q) == 0);
			VCHECK(shmk_notifier_notify(p, 2) >= 1);
			LOG->ev[2] = 1;
		}
		_exit(0);
	}
	i = (uint32_t)reap(pid);
	if (w->op->kind == K_BB ? i != 128 + SIGKILL : i != 0)
		viol(V_CHILD, "the dead peer failed (%u): %s", i, LOG->err);
}

static void world_setup(struct world *w, const struct op *op)
{
	struct shmk_sample smp;
	struct pl x;
	int ret;

	memset(w, 0, sizeof(*w));
	memset(LOG, 0, offsetof(struct cp_log, hits));
	LOG->err[0] = 0;
	w->op = op;
	w->cfg = world_cfg(op);
	uniq_name(w->name, sizeof(w->name), "cp");
	if (op->kind == K_CREATE)
		return;
	ret = shmk_service_open(w->name, &w->cfg, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
				&w->s);
	assert_int_equal(ret, 0);
	switch (op->kind) {
	case K_PUBSUB:
		assert_int_equal(shmk_sub_open(w->s, &w->b), 0);
		/* F_WIDE: slots 4 to 64 taken, the victim's in word 1. */
		for (ret = 0; op->flags & F_WIDE && ret < WIDE_FILL; ret++)
			assert_int_equal(shmk_sub_open(w->s, &w->fill[ret]), 0);
		assert_int_equal(shmk_pub_open(w->s, &w->a), 0);
		assert_int_equal(par_publish(w, w->a, W_SP), 0);
		assert_int_equal(par_publish(w, w->a, W_SP), 0);
		assert_int_equal(shmk_sub_receive(w->b, &smp, 0), 0);
		assert_int_equal(got(w, R_SS, &smp, &x), 0);
		assert_int_equal(shmk_sub_release(w->b, &smp), 0);
		assert_int_equal(shmk_sub_receive(w->b, &w->held, 0), 0);
		assert_int_equal(got(w, R_SS, &w->held, &x), 0);
		w->has_held = 1;
		assert_int_equal(shmk_pub_loan(w->a, &w->a_loan), 0);
		pl_put(w->a_loan, "UNPUB", W_SP, 60, 0);
		break;
	case K_REQRES:
		if (!(op->flags & F_NOSERVER))
			assert_int_equal(shmk_server_open(w->s, &w->b), 0);
		assert_int_equal(shmk_client_open(w->s, &w->a), 0);
		assert_int_equal(shmk_pub_loan(w->a, &w->a_loan), 0);
		pl_put(w->a_loan, "UNPUB", W_SC, 60, 0);
		/* Requests only to a live server (without one they may fail). */
		if (w->b) {
			assert_int_equal(par_request(w, w->a, W_SC), 0);
			server_serve(w, w->b, W_SV);
			assert_int_equal(shmk_client_receive(w->a, &w->held, 0), 0);
			assert_int_equal(got(w, R_SC, &w->held, &x), 0);
			w->has_held = 1;
		}
		break;
	case K_EVENT: {
		uint32_t ids[8];

		assert_int_equal(shmk_listener_open(w->s, &w->b), 0);
		assert_int_equal(shmk_notifier_open(w->s, &w->a), 0);
		assert_int_equal(par_notify(w->a, 1), 1);
		assert_int_equal(shmk_listener_wait(w->b, ids, 8, 0), 1);
		w->evseen[ids[0]] = 1;
		break;
	}
	case K_BB: {
		struct shmk_port *wr;
		uint32_t i;

		assert_int_equal(shmk_bb_writer_open(w->s, &wr), 0);
		for (i = 0; i < BB_BASE; i++)
			assert_int_equal(bb_put(wr, i, 0, 1), 0);
		if (op->flags & F_BBVW)
			shmk_port_close(wr);
		else
			w->a = wr;
		assert_int_equal(shmk_bb_reader_open(w->s, &w->b), 0);
		for (i = 0; i < BB_BASE; i++)
			assert_int_equal(bb_get(w->b, i, "survivor reader"), 0);
		break;
	}
	}
	if (op->flags & F_SURVWATCH) {
		uint32_t ids[8];

		w->wfd = shmk_port_fd(w->b);
		assert_true(w->wfd >= 0);
		/* Armed: nothing to receive now. */
		if (op->kind == K_PUBSUB)
			assert_int_equal(shmk_sub_receive(w->b, &smp, 0), -EAGAIN);
		else
			assert_int_equal(shmk_listener_wait(w->b, ids, 8, 0),
					 -EAGAIN);
		assert_int_equal(poll(&(struct pollfd){ .fd = w->wfd,
				      .events = POLLIN }, 1, 0), 0);
	}
	if (op->flags & F_DEAD)
		dead_peer(w);
	if (op->flags & F_HOG)
		cp_hog_chunks(w->s, LOG->dead_slot);
	if (op->flags & F_LOCKED) {
		w->lock = cp_lock_slot(w->s, 1);
		assert_non_null(w->lock);
	}
}

/* ------------------------------------------------------------------ */
/* Checks after the deaths, then the newcomers, then the teardown */

/*
 * A newcomer producer loans every free chunk in turn (the loan scan moves
 * on from the last chunk it took), marked "UNPUB", and lets the consumer
 * side look each time: a stale ring entry left by a dead producer must
 * never hand out what is only loaned.
 */
static void loan_sweep(struct world *w, struct shmk_port *prod, uint32_t wr,
		       struct shmk_port *cons, int r, uint32_t swr)
{
	uint32_t i, n = shmk_service_chunks(w->s);
	void *pl;

	for (i = 0; i <= n; i++) {
		if (shmk_pub_loan(prod, &pl))
			break;
		pl_put(pl, "UNPUB", wr, 50, 0);
		if (r == R_SS)
			sub_drain(w, cons, r);
		else if (r == R_SC)
			client_drain(w, cons, r);
		else
			server_serve(w, cons, swr);
		shmk_pub_discard(prod, pl);
	}
}

static void check_pubsub(struct world *w)
{
	struct shmk_port *np = NULL, *ns = NULL;
	void *u = NULL, *x = NULL, *y = NULL;
	char msg[160];
	struct pl px;
	int ret;

	audit(w, "after recovery");
	sub_drain(w, w->b, R_SS);
	/* Newcomers: a publisher (likely in the victim's slot) ... */
	ret = shmk_pub_open(w->s, &np);
	if (ret) {
		viol(V_STUCK, "a new publisher cannot join: %d", ret);
		np = NULL;
		goto out;
	}
	if (shmk_pub_loan(np, &u) == 0)
		pl_put(u, "UNPUB", W_NP, 61, 0);
	else
		viol(V_STUCK, "the new publisher cannot loan");
	/* ... whose loans nobody may receive ... */
	sub_drain(w, w->b, R_SS);
	loan_sweep(w, np, W_NP, w->b, R_SS, 0);
	if (par_publish(w, np, W_NP))
		viol(V_STUCK, "the new publisher cannot publish");
	/* ... and whose publish takes nothing from anybody. */
	if (shmk_pub_loan(w->a, &x) == 0)
		pl_put(x, "UNPUB", W_SP, 62, 0);
	else
		viol(V_STUCK, "the survivor publisher cannot loan");
	if (shmk_pub_loan(np, &y) == 0)
		pl_put(y, "UNPUB", W_NP, 63, 0);
	else
		viol(V_STUCK, "the new publisher cannot loan again");
	{
		struct loan l[] = {
			{ w->a_loan, "UNPUB", W_SP, 60 }, { u, "UNPUB", W_NP, 61 },
			{ x, "UNPUB", W_SP, 62 }, { y, "UNPUB", W_NP, 63 },
		};

		loans_check(l, 4, "after the new publisher's publish");
	}
	audit(w, "after the new publisher's publish");
	if (cp_audit_port(np, msg, sizeof(msg)))
		viol(V_OWNED2, "the new publisher's loans: %s", msg);
	ret = shmk_sub_open(w->s, &ns);
	if (ret) {
		viol(V_STUCK, "a new subscriber cannot join: %d", ret);
		ns = NULL;
	}
	if (x && !shmk_pub_discard(w->a, x) && par_publish(w, w->a, W_SP))
		viol(V_STUCK, "the survivor publisher cannot publish");
	if (y && !shmk_pub_discard(np, y) && par_publish(w, np, W_NP))
		viol(V_STUCK, "the new publisher cannot publish again");
	sub_drain(w, w->b, R_SS);
	if (ns) {
		sub_drain(w, ns, R_NS);
		if (!w->nseq[W_SP] || !w->nseq[W_NP] ||
		    !w->seen[R_NS][W_SP][w->nseq[W_SP] - 1] ||
		    !w->seen[R_NS][W_NP][w->nseq[W_NP] - 1])
			viol(V_STUCK, "the new subscriber did not receive the latest samples");
	}
	lost_check(w, R_SS, 0, shmk_sub_dropped(w->b));
	{
		struct loan l[] = {
			{ w->a_loan, "UNPUB", W_SP, 60 }, { u, "UNPUB", W_NP, 61 },
		};

		loans_check(l, 2, "at the end");
	}
	if (w->has_held && pl_get(w->held.data, w->held.len, &px) != 0)
		viol(V_OWNED2, "a received sample held by the survivor changed");
out:
	shmk_port_close(ns);
	shmk_port_close(np);
}

/* Did receiver @r get a response of server @swr addressed to @to? */
static bool seen_to(struct world *w, int r, uint32_t swr, uint32_t to)
{
	unsigned int s;

	for (s = 0; s < SEQS; s++)
		if (LOG->pub[swr][s] && LOG->to[swr][s] == to &&
		    w->seen[r][swr][s])
			return true;
	return false;
}

/*
 * Every pending request of the survivor client ends (all its servers sent
 * their last response, or are gone): never a hang; its responses are
 * checked as any (not twice, never an unpublished loan).
 */
static void pend_end(struct world *w)
{
	struct shmk_sample smp;
	struct pl x;
	int i, n, ret;

	for (i = 0; i < w->npend; i++) {
		for (n = 0; n < 100; n++) {
			ret = shmk_client_receive_for(w->a, w->pend[i], &smp,
						      3000000000LL);
			if (ret)
				break;
			if (smp.len || !(shmk_sample_flags(&smp) & SHMK_RESP_LAST))
				got(w, R_SC, &smp, &x);
			if (shmk_sub_release(w->a, &smp))
				viol(V_STUCK, "survivor client: release failed");
		}
		if (ret != -ENODATA && ret != -ECONNRESET)
			viol(V_STUCK, "survivor client: the end of pending request %llu never seen (%d)",
			     (unsigned long long)w->pend[i], ret);
	}
	w->npend = 0;
}

static void check_reqres(struct world *w)
{
	struct shmk_port *srv = w->b, *nc = NULL;
	uint32_t swr = W_SV;
	void *su = NULL, *cu = NULL;
	struct pl px;
	int ret;

	audit(w, "after recovery");
	if (!srv) {
		ret = shmk_server_open(w->s, &srv);
		if (ret) {
			viol(V_STUCK, "a new server cannot join: %d", ret);
			return;
		}
		swr = W_NSV;
		if (shmk_pub_loan(srv, &su) == 0)
			pl_put(su, "UNPUB", W_NSV, 61, 0);
		else
			viol(V_STUCK, "the new server cannot loan");
	}
	/*
	 * The victim client's request that the survivor server kept: the
	 * victim cancelled it or is gone (killed, or exited after the
	 * cancel): either way the server is told, and publishes nothing.
	 */
	if (w->has_sreq) {
		void *pl;

		ret = shmk_server_cancelled(w->b, &w->sreq);
		if (ret != 1)
			viol(V_STUCK, "the survivor server is not told of the cancel: %d",
			     ret);
		if (shmk_pub_loan(w->b, &pl)) {
			viol(V_STUCK, "the survivor server cannot loan");
		} else {
			ret = shmk_server_stream(w->b, &w->sreq, pl, PLEN, 0, 0);
			if (ret != -ECANCELED)
				viol(V_STUCK, "stream to a cancelled request: %d",
				     ret);
			if (ret && shmk_pub_discard(w->b, pl))
				viol(V_STUCK, "the survivor server cannot discard");
		}
		if (shmk_sub_release(w->b, &w->sreq))
			viol(V_STUCK, "the survivor server cannot release");
		w->has_sreq = 0;
	}
	client_drain(w, w->a, R_SC);
	pend_end(w);
	if (srv != w->b)
		loan_sweep(w, srv, W_NSV, w->a, R_SC, 0);
	server_serve(w, srv, swr);
	client_drain(w, w->a, R_SC);
	if (w->b)
		lost_check(w, R_SRV, 0, shmk_sub_dropped(srv));
	lost_check(w, R_SC, W_SC, shmk_sub_dropped(w->a));
	/* A newcomer client gets its answer; so does the survivor. */
	ret = shmk_client_open(w->s, &nc);
	if (ret) {
		viol(V_STUCK, "a new client cannot join: %d", ret);
		nc = NULL;
	} else {
		if (shmk_pub_loan(nc, &cu) == 0)
			pl_put(cu, "UNPUB", W_NC, 61, 0);
		loan_sweep(w, nc, W_NC, srv, R_SRV, swr);
		if (par_request(w, nc, W_NC))
			viol(V_STUCK, "the new client cannot send");
	}
	if (par_request(w, w->a, W_SC))
		viol(V_STUCK, "the survivor client cannot send");
	server_serve(w, srv, swr);
	if (nc) {
		client_drain(w, nc, R_NC);
		if (!seen_to(w, R_NC, swr, W_NC))
			viol(V_STUCK, "the new client got no response");
	}
	client_drain(w, w->a, R_SC);
	lost_check(w, R_SC, W_SC, shmk_sub_dropped(w->a));
	if (w->b)
		lost_check(w, R_SRV, 0, shmk_sub_dropped(srv));
	{
		struct loan l[] = {
			{ w->a_loan, "UNPUB", W_SC, 60 }, { su, "UNPUB", W_NSV, 61 },
			{ cu, "UNPUB", W_NC, 61 },
		};

		loans_check(l, 3, "at the end");
	}
	audit(w, "at the end");
	if (w->has_held && pl_get(w->held.data, w->held.len, &px) != 0)
		viol(V_OWNED2, "a response held by the survivor client changed");
	shmk_port_close(nc);
	if (srv != w->b)
		shmk_port_close(srv);
}

/* Collect a listener's pending ids into @seen. */
static void listener_drain(struct shmk_port *p, uint8_t *seen, const char *who)
{
	uint32_t ids[8];
	int i, n, ret;

	for (i = 0; i < 100; i++) {
		ret = shmk_listener_wait(p, ids, 8, 0);
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			viol(V_STUCK, "%s: wait returned %d", who, ret);
			return;
		}
		for (n = 0; n < ret; n++) {
			if (ids[n] >= 64) {
				viol(V_STUCK, "%s: event id %u out of range",
				     who, ids[n]);
				continue;
			}
			seen[ids[n]] = 1;
		}
	}
	viol(V_STUCK, "%s: waits never end", who);
}

static void check_event(struct world *w)
{
	struct shmk_port *nn = NULL, *nl = NULL;
	uint8_t seen[64] = { 0 }, nseen[64] = { 0 };
	unsigned int id, miss = 0, first = 0;
	int ret;

	listener_drain(w->b, w->evseen, "survivor listener");
	for (id = 0; id < 64; id++)
		if (LOG->ev[id] && !w->evseen[id] && !miss++)
			first = id;
	if (miss)
		viol(V_LOST, "survivor listener: %u event id(s) notified never reported (first: %u)",
		     miss, first);
	ret = shmk_notifier_open(w->s, &nn);
	if (ret)
		viol(V_STUCK, "a new notifier cannot join: %d", ret);
	ret = shmk_listener_open(w->s, &nl);
	if (ret)
		viol(V_STUCK, "a new listener cannot join: %d", ret);
	memset(seen, 0, sizeof(seen));
	if (nn && shmk_notifier_notify(nn, 9) < 1)
		viol(V_STUCK, "the new notifier reaches no listener");
	if (shmk_notifier_notify(w->a, 10) < 1)
		viol(V_STUCK, "the survivor notifier reaches no listener");
	listener_drain(w->b, seen, "survivor listener");
	if (nn && !seen[9])
		viol(V_STUCK, "the survivor listener missed the new notifier");
	if (!seen[10])
		viol(V_STUCK, "the survivor listener missed its notifier");
	if (nl) {
		listener_drain(nl, nseen, "new listener");
		if (!nseen[10] || (nn && !nseen[9]))
			viol(V_STUCK, "the new listener missed an event");
	}
	shmk_port_close(nl);
	shmk_port_close(nn);
}

/*
 * Blackboard: no torn value ever; the survivor reader reads every key;
 * a new writer (where the victim was the writer) takes over and repairs,
 * after which nothing is busy; its writes reach the survivor and a new
 * reader; the keys listed agree.
 */
static void check_bb(struct world *w)
{
	struct shmk_port *nw = NULL, *nr = NULL, *wr = w->a;
	uint64_t keys[BB_KEYS];
	uint32_t i;
	int ret, n;

	bb_read_all(w->b, "survivor reader", !wr);
	if (!wr) {
		ret = shmk_bb_writer_open(w->s, &nw);
		if (ret) {
			viol(V_STUCK, "a new writer cannot take over: %d", ret);
			return;
		}
		wr = nw;
		bb_read_all(w->b, "survivor reader after the new writer", false);
	}
	for (i = 0; i < BB_BASE; i++)
		if (bb_put(wr, i, 10, 0))
			viol(V_STUCK, "the writer cannot write key %u", i);
	ret = shmk_bb_reader_open(w->s, &nr);
	if (ret)
		viol(V_STUCK, "a new reader cannot join: %d", ret);
	for (i = 0; i < BB_BASE; i++) {
		if ((ret = bb_get(w->b, i, "survivor reader")) != 10)
			viol(V_STUCK, "survivor reader: key %u: %d, not version 10",
			     i, ret);
		if (nr && (ret = bb_get(nr, i, "new reader")) != 10)
			viol(V_STUCK, "new reader: key %u: %d, not version 10",
			     i, ret);
	}
	n = shmk_bb_keys(wr, keys, BB_KEYS);
	if (n < BB_BASE || n > BB_KEYS || shmk_bb_keys(w->b, NULL, 0) != n)
		viol(V_STUCK, "the writer lists %d keys, the reader %d", n,
		     shmk_bb_keys(w->b, NULL, 0));
	for (i = 0; n >= 0 && i < (uint32_t)n && i < BB_KEYS; i++)
		if (keys[i] != 1000 + i)
			viol(V_TORN, "key %u listed as %llu", i,
			     (unsigned long long)keys[i]);
	if (bb_put(wr, 0, 11, 0) || shmk_bb_changed(w->b, &(uint64_t){ 1000 }) != 1)
		viol(V_STUCK, "the survivor reader misses a change");
	shmk_port_close(nr);
	shmk_port_close(nw);
}

static void check_create(struct world *w)
{
	struct shmk_service *s;
	struct shmk_port *p = NULL, *q = NULL;
	struct shmk_sample smp;
	struct pl x;
	int ret;

	ret = shmk_service_open(w->name, &w->cfg, SHMK_SVC_CREATE, &s);
	if (ret) {
		viol(V_STUCK, "the service cannot be opened after its creator died: %d (%s)",
		     ret, strerror(-ret));
		shmk_service_remove(w->name);
		return;
	}
	w->s = s;
	if (shmk_sub_open(s, &q) || shmk_pub_open(s, &p)) {
		viol(V_STUCK, "no ports on the service after its creator died");
	} else {
		if (par_publish(w, p, W_NP))
			viol(V_STUCK, "no publish after the creator died");
		if (shmk_sub_receive(q, &smp, 0))
			viol(V_STUCK, "no receive after the creator died");
		else if (got(w, R_NS, &smp, &x) || shmk_sub_release(q, &smp))
			viol(V_STUCK, "a bad sample after the creator died");
	}
	shmk_port_close(p);
	shmk_port_close(q);
}

/*
 * Phase 2, before the recoverer: the survivors take what is waiting
 * while the dead are not yet reclaimed (their samples still readable,
 * an interrupted publish perhaps half visible).
 */
static void world_consume(struct world *w)
{
	switch (w->op->kind) {
	case K_PUBSUB:
		sub_drain(w, w->b, R_SS);
		break;
	case K_REQRES:
		if (w->b)
			server_serve(w, w->b, W_SV);
		client_drain(w, w->a, R_SC);
		break;
	case K_EVENT:
		listener_drain(w->b, w->evseen, "survivor listener");
		break;
	case K_BB:
		bb_read_all(w->b, "survivor reader", true);
		break;
	}
}

/*
 * Device backend, before any recovery by the parent: the module has
 * announced every death (cp_audit_announced()); only the survivors'
 * slots are still ALIVE.
 */
static void check_announced(struct world *w)
{
	uint64_t live[SHMK_SVC_SLOTS_MAX / 64] = { 0 };
	char msg[200];
	int i, k;

	/* The survivors, and (F_WIDE) the parent's idle subscribers. */
	for (i = -2; i < WIDE_FILL; i++) {
		const struct shmk_port *p = i == -2 ? w->a : i == -1 ? w->b :
					    w->fill[i];

		if (!p)
			continue;
		k = shmk_port_slot(p);
		live[k / 64] |= 1ULL << (k % 64);
	}
	if (cp_audit_announced(w->s, live, msg, sizeof(msg)))
		viol(V_LEAK, "%s", msg);
}

/*
 * Port fds: no watch bit of a slot that is not live after recovery; and
 * with F_SURVWATCH, whatever the victim's death left (an fd armed, or
 * made readable and not disarmed), the survivor publisher's or
 * notifier's next wake makes the survivor's armed fd readable.
 */
static void check_watch(struct world *w)
{
	struct pollfd pf = { .fd = w->wfd, .events = POLLIN };
	char msg[160];

	if (cp_audit_watch(w->s, msg, sizeof(msg)))
		viol(V_LEAK, "after recovery: %s", msg);
	if (!(w->op->flags & F_SURVWATCH))
		return;
	if ((w->op->kind == K_PUBSUB && par_publish(w, w->a, W_SP)) ||
	    (w->op->kind == K_EVENT && par_notify(w->a, 5) < 1)) {
		viol(V_STUCK, "the survivor cannot wake its watched peer");
		return;
	}
	if (poll(&pf, 1, 2000) != 1)
		viol(V_LOST, "the survivor's armed fd missed a wake-up");
}

static void world_check(struct world *w)
{
	int ret;

	if (w->op->kind == K_CREATE) {
		check_create(w);
	} else {
		if (backend == SHMK_BACKEND_DEVICE)
			check_announced(w);
		ret = shmk_service_recover(w->s);
		if (ret < 0)
			viol(V_STUCK, "recovery returned %d", ret);
		check_watch(w);
		if (w->op->kind == K_PUBSUB)
			check_pubsub(w);
		else if (w->op->kind == K_REQRES)
			check_reqres(w);
		else if (w->op->kind == K_BB)
			check_bb(w);
		else
			check_event(w);
	}
	if (!w->s)
		return;
	/* Teardown: everyone leaves; nothing may remain. */
	shmk_region_close(w->lock);
	w->lock = NULL;
	if (w->has_held && shmk_sub_release(w->op->kind == K_PUBSUB ? w->b : w->a,
					    &w->held))
		viol(V_STUCK, "a survivor cannot release its sample");
	if (w->a_loan && shmk_pub_discard(w->a, w->a_loan))
		viol(V_STUCK, "a survivor cannot discard its loan");
	shmk_port_close(w->a);
	shmk_port_close(w->b);
	w->a = w->b = NULL;
	for (ret = 0; ret < WIDE_FILL; ret++)
		shmk_port_close(w->fill[ret]);
	memset(w->fill, 0, sizeof(w->fill));
	ret = shmk_service_recover(w->s);
	if (ret < 0)
		viol(V_STUCK, "the last recovery returned %d", ret);
	if (shmk_service_chunks_used(w->s))
		viol(V_LEAK, "%u chunk(s) in use after everyone left",
		     shmk_service_chunks_used(w->s));
	if (shmk_service_participants(w->s))
		viol(V_LEAK, "%u slot(s) taken after everyone left",
		     shmk_service_participants(w->s));
	shmk_service_remove(w->name);
	shmk_service_close(w->s);
	w->s = NULL;
}

/* ------------------------------------------------------------------ */
/* Forked participants */

enum { R_DONE, R_KILLED, R_FAILED };

static void child_begin(void)
{
	unsigned long i;

	alarm(20);
	for (i = 0; i < nsites; i++)
		sites[i].hits = 0;
}

/* A finished child hands its site hits to the parent. */
static void child_done(void)
{
	unsigned long i;

	LOG->points = shmk_cp_count();
	shmk_cp_arm(0);
	for (i = 0; i < nsites && i < MAXSITES; i++)
		LOG->hits[i] = sites[i].hits;
	_exit(0);
}

static int child_result(pid_t pid, const char *who)
{
	unsigned long i;
	int st;

	if (waitpid(pid, &st, 0) != pid) {
		viol(V_CHILD, "%s: waitpid failed", who);
		return R_FAILED;
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return R_KILLED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		for (i = 0; i < nsites && i < MAXSITES; i++)
			sites[i].hits += LOG->hits[i];
		return R_DONE;
	}
	if (WIFSIGNALED(st))
		viol(V_CHILD, "%s died of signal %d%s", who, WTERMSIG(st),
		     WTERMSIG(st) == SIGALRM ? " (hung)" : "");
	else
		viol(V_CHILD, "%s exited %d: %s", who, WEXITSTATUS(st),
		     LOG->err);
	return R_FAILED;
}

static int run_victim(struct world *w, unsigned long k)
{
	const struct op *op = w->op;
	int up[2], down[2];
	struct vic v;
	pid_t pid;
	char c = 0;

	if (op->flags & F_SYNC)
		assert_int_equal(pipe(up) | pipe(down), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_begin();
		memset(&v, 0, sizeof(v));
		v.w = w;
		if (op->kind != K_CREATE)
			VCHECK(shmk_service_open(w->name, NULL, 0, &v.s) == 0);
		if (op->prep)
			op->prep(&v);
		if (op->flags & F_SYNC) {
			VCHECK(write(up[1], &c, 1) == 1);
			VCHECK(read(down[0], &c, 1) == 1);
		}
		if (op->prep2)
			op->prep2(&v);
		shmk_cp_arm(k);
		op->act(&v);
		child_done();
	}
	if (op->flags & F_SYNC) {
		close(up[1]);
		close(down[0]);
		if (read(up[0], &c, 1) == 1) {
			op->between(w);
			if (write(down[1], &c, 1) != 1)
				viol(V_CHILD, "the victim is gone");
		}
		close(up[0]);
		close(down[1]);
	}
	tot_runs++;
	return child_result(pid, "the victim");
}

static int run_recoverer(struct world *w, unsigned long j)
{
	struct shmk_service *s;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_begin();
		VCHECK(shmk_service_open(w->name, NULL, 0, &s) == 0);
		shmk_cp_arm(j);
		VCHECK(shmk_service_recover(s) >= 0);
		child_done();
	}
	tot_runs++;
	return child_result(pid, "the recoverer");
}

/* ------------------------------------------------------------------ */
/* The operations.  Victims write "UNPUB" into what they never publish. */

static void v_pub(struct vic *v)
{
	VCHECK(shmk_pub_open(v->s, &v->p) == 0);
}

static void v_sub(struct vic *v)
{
	VCHECK(shmk_sub_open(v->s, &v->p) == 0);
}

static void v_loan_unpub(struct vic *v)
{
	void *pl;

	VCHECK(shmk_pub_loan(v->p, &pl) == 0);
	pl_put(pl, "UNPUB", W_VIC, 59, 0);
}

static int v_publish(struct vic *v, int64_t timeout)
{
	void *pl;
	int ret;

	VCHECK(shmk_pub_loan(v->p, &pl) == 0);
	pl_put(pl, "PUB", W_VIC, v->seq, 0);
	ret = shmk_pub_publish(v->p, pl, PLEN, timeout);
	if (ret == 0)
		log_pub(W_VIC, v->seq++, 0);
	else
		shmk_pub_discard(v->p, pl);
	return ret;
}

static void v_receive(struct vic *v)
{
	VCHECK(v->nsmp < 4);
	VCHECK(shmk_sub_receive(v->p, &v->smp[v->nsmp], 0) == 0);
	v->nsmp++;
}

static void act_service_open(struct vic *v)
{
	struct shmk_service *s;

	VCHECK(shmk_service_open(v->w->name, &v->w->cfg, SHMK_SVC_CREATE, &s) == 0);
}

static void act_service_create(struct vic *v)
{
	VCHECK(shmk_service_open(v->w->name, &v->w->cfg,
				 SHMK_SVC_CREATE | SHMK_SVC_EXCL, &v->s) == 0);
}

static void act_recover(struct vic *v)
{
	VCHECK(shmk_service_recover(v->s) >= 0);
}

static void act_loan(struct vic *v)
{
	v_loan_unpub(v);
}

static void act_discard(struct vic *v)
{
	void *pl;

	VCHECK(shmk_pub_loan(v->p, &pl) == 0);
	pl_put(pl, "UNPUB", W_VIC, 58, 0);
	VCHECK(shmk_pub_discard(v->p, pl) == 0);
}

static void prep_publish(struct vic *v)
{
	v_pub(v);
	VCHECK(v_publish(v, 0) == 0);
	VCHECK(v_publish(v, 0) == 0);
	VCHECK(v_publish(v, 0) == 0);
	v_loan_unpub(v);
}

/* F_REUSE: the victim publishes RLEN bytes; @reuse: from its last chunk. */
static void v_publish_big(struct vic *v, int reuse)
{
	void *pl;

	VCHECK(shmk_pub_loan(v->p, &pl) == 0);
	VCHECK(!reuse || pl == v->last);
	pl_put(pl, "PUB", W_VIC, v->seq, 0);
	VCHECK(shmk_pub_publish(v->p, pl, RLEN, 0) == 0);
	log_pub(W_VIC, v->seq++, 0);
	v->last = pl;
}

static void prep_publish_big(struct vic *v)
{
	v_pub(v);
	v_publish_big(v, 0);
}

/*
 * Every subscriber took and released the victim's sample (the parent,
 * between_receive_all()): its loan takes that chunk back, turning the
 * ring's entry into a tombstone, and publishes it again.
 */
static void act_publish_reuse(struct vic *v)
{
	v_publish_big(v, 1);
}

/* The victim's first publish: its chunk is the first a newcomer loans. */
static void act_publish_first(struct vic *v)
{
	VCHECK(v_publish(v, 0) == 0);
}

/* The fifth publish overwrites the ring's oldest entry (buffer 4). */
static void act_publish_safe(struct vic *v)
{
	VCHECK(v_publish(v, 0) == 0);
	VCHECK(v_publish(v, 0) == 0);
}

/* shmk_pub_send_copy(): loan, copy into the loan, publish, in one call. */
static void act_send_copy(struct vic *v)
{
	unsigned char buf[PLEN];

	pl_put(buf, "PUB", W_VIC, v->seq, 0);
	VCHECK(shmk_pub_send_copy(v->p, buf, PLEN, 0) == 0);
	log_pub(W_VIC, v->seq++, 0);
}

/*
 * Dynamic payloads: a loan for 8000 bytes moves the victim to a segment
 * of 8 KiB chunks (killed while it creates it), one for 16000 to the
 * last; both published.
 */
static void act_grow(struct vic *v)
{
	size_t n[2] = { 8000, 16000 };
	int i, ret;
	void *pl;

	for (i = 0; i < 2; i++) {
		ret = shmk_pub_loan_slice(v->p, n[i], &pl);
		VCHECK(ret >= (int)n[i]);
		pl_put(pl, "PUB", W_VIC, v->seq, 0);
		VCHECK(shmk_pub_publish(v->p, pl, PLEN, 0) == 0);
		log_pub(W_VIC, v->seq++, 0);
	}
}

/* The fourth fills the buffer, the fifth waits for room and times out. */
static void act_publish_block(struct vic *v)
{
	VCHECK(v_publish(v, 0) == 0);
	VCHECK(v_publish(v, 1000000) == -ETIMEDOUT);
}

static void act_drain(struct vic *v)
{
	VCHECK(shmk_pub_drain(v->p, 0) == -EAGAIN);
	VCHECK(shmk_pub_drain(v->p, 1000000) == -ETIMEDOUT);
}

static void between_publish3(struct world *w)
{
	int i;

	for (i = 0; i < 3; i++)
		if (par_publish(w, w->a, W_SP))
			viol(V_STUCK, "the survivor cannot publish");
}

/* More than the ring: the victim subscriber is lapped. */
static void between_publish6(struct world *w)
{
	int i;

	for (i = 0; i < 6; i++)
		if (par_publish(w, w->a, W_SP))
			viol(V_STUCK, "the survivor cannot publish");
}

/* The parent's publisher grows, then publishes two (dynamic). */
static void between_grow(struct world *w)
{
	uint32_t seq = w->nseq[W_SP];
	void *pl;
	int i;

	for (i = 0; i < 2; i++, seq++) {
		if (shmk_pub_loan_slice(w->a, 9000, &pl) < 9000) {
			viol(V_STUCK, "survivor publisher: no grown loan");
			return;
		}
		pl_put(pl, "PUB", W_SP, seq, 0);
		if (shmk_pub_publish(w->a, pl, PLEN, 0)) {
			viol(V_STUCK, "survivor publisher: publish failed");
			shmk_pub_discard(w->a, pl);
			return;
		}
		w->nseq[W_SP] = seq + 1;
		log_pub(W_SP, seq, 0);
	}
}

/* Receive and release everything there is (history, then grown ones). */
static void act_receive_all(struct vic *v)
{
	struct shmk_sample smp;
	int i;

	for (i = 0; i < 8; i++) {
		if (shmk_sub_receive(v->p, &smp, 0))
			break;
		VCHECK(shmk_sub_release(v->p, &smp) == 0);
	}
}

static void act_receive2(struct vic *v)
{
	v_receive(v);
	v_receive(v);
}

static void prep2_receive2(struct vic *v)
{
	act_receive2(v);
}

static void act_release(struct vic *v)
{
	while (v->nsmp)
		VCHECK(shmk_sub_release(v->p, &v->smp[--v->nsmp]) == 0);
}

static void act_close(struct vic *v)
{
	shmk_port_close(v->p);
}

/* The survivor subscriber has received all: the linger returns at once. */
static void between_receive_all(struct world *w)
{
	sub_drain(w, w->b, R_SS);
}

static void act_close_linger(struct vic *v)
{
	VCHECK(shmk_pub_close_linger(v->p, SHMK_FOREVER) == 0);
}

/* Nobody receives: the linger sleeps, times out, then closes. */
static void act_close_linger_timeout(struct vic *v)
{
	VCHECK(shmk_pub_close_linger(v->p, 1000000) == -ETIMEDOUT);
}

/* Request-response */

static void v_client(struct vic *v)
{
	VCHECK(shmk_client_open(v->s, &v->p) == 0);
}

static void v_server(struct vic *v)
{
	VCHECK(shmk_server_open(v->s, &v->p) == 0);
}

static void v_send(struct vic *v)
{
	void *pl;

	VCHECK(shmk_pub_loan(v->p, &pl) == 0);
	pl_put(pl, "PUB", W_VIC, v->seq, 0);
	VCHECK(shmk_client_send(v->p, pl, PLEN, NULL) == 0);
	log_pub(W_VIC, v->seq++, 0);
}

static void prep_client_send(struct vic *v)
{
	v_client(v);
	v_loan_unpub(v);
}

static void act_client_send(struct vic *v)
{
	v_send(v);
	v_send(v);
}

static void between_request2(struct world *w)
{
	if (par_request(w, w->a, W_SC) || par_request(w, w->a, W_SC))
		viol(V_STUCK, "the survivor client cannot send");
}

static void act_server_receive(struct vic *v)
{
	VCHECK(shmk_server_receive(v->p, &v->smp[v->nsmp++], 0) == 0);
	VCHECK(shmk_server_receive(v->p, &v->smp[v->nsmp++], 0) == 0);
}

static void prep2_server_respond(struct vic *v)
{
	act_server_receive(v);
	v_loan_unpub(v);
}

static void act_server_respond(struct vic *v)
{
	struct pl x;
	void *pl;
	int i;

	for (i = 0; i < 2; i++) {
		VCHECK(pl_get(v->smp[i].data, v->smp[i].len, &x) == 0);
		VCHECK(shmk_pub_loan(v->p, &pl) == 0);
		pl_put(pl, "PUB", W_VIC, v->seq, x.writer);
		VCHECK(shmk_server_respond(v->p, &v->smp[i], pl, PLEN) == 0);
		log_pub(W_VIC, v->seq++, x.writer);
		VCHECK(shmk_sub_release(v->p, &v->smp[i]) == 0);
	}
}

static void prep_client_receive(struct vic *v)
{
	v_client(v);
	v_send(v);
}

static void between_serve(struct world *w)
{
	server_serve(w, w->b, W_SV);
}

static void act_client_receive(struct vic *v)
{
	VCHECK(shmk_client_receive(v->p, &v->smp[0], 0) == 0);
	VCHECK(shmk_sub_release(v->p, &v->smp[0]) == 0);
}

static void prep_close_client(struct vic *v)
{
	v_client(v);
	v_send(v);
	v_loan_unpub(v);
}

static void between_request1(struct world *w)
{
	if (par_request(w, w->a, W_SC))
		viol(V_STUCK, "the survivor client cannot send");
}

static void prep2_close_server(struct vic *v)
{
	VCHECK(shmk_server_receive(v->p, &v->smp[0], 0) == 0);
	v_loan_unpub(v);
}

/* Streams, fire-and-forget */

static void v_request(struct vic *v, unsigned int flags, uint64_t *corr)
{
	void *pl;

	VCHECK(shmk_pub_loan(v->p, &pl) == 0);
	pl_put(pl, "PUB", W_VIC, v->seq, 0);
	VCHECK(shmk_client_request(v->p, pl, PLEN, flags, corr, NULL, 0) == 0);
	log_pub(W_VIC, v->seq++, 0);
}

/* A pending request, then a fire-and-forget one. */
static void act_client_request(struct vic *v)
{
	v_request(v, 0, &v->corr[0]);
	v_request(v, SHMK_REQ_NO_RESPONSE, NULL);
}

static void prep_client_pending2(struct vic *v)
{
	v_client(v);
	v_request(v, 0, &v->corr[0]);
	v_request(v, 0, &v->corr[1]);
}

/* The second's response first (the first's is kept), then each end. */
static void act_client_receive_for(struct vic *v)
{
	VCHECK(shmk_client_receive_for(v->p, v->corr[1], &v->smp[0], 0) == 0);
	VCHECK(shmk_sub_release(v->p, &v->smp[0]) == 0);
	VCHECK(shmk_client_receive_for(v->p, v->corr[1], &v->smp[0], 0) ==
	       -ENODATA);
	VCHECK(shmk_client_receive_for(v->p, v->corr[0], &v->smp[0], 0) == 0);
	VCHECK(shmk_sub_release(v->p, &v->smp[0]) == 0);
	VCHECK(shmk_client_receive_for(v->p, v->corr[0], &v->smp[0], 0) ==
	       -ENODATA);
}

/* Cancel the first while its response is kept: it goes back. */
static void act_client_cancel(struct vic *v)
{
	VCHECK(shmk_client_receive_for(v->p, v->corr[1], &v->smp[0], 0) == 0);
	VCHECK(shmk_sub_release(v->p, &v->smp[0]) == 0);
	VCHECK(shmk_client_cancel(v->p, v->corr[0]) == 0);
	VCHECK(shmk_client_receive_for(v->p, v->corr[1], &v->smp[0], 0) ==
	       -ENODATA);
}

/*
 * The survivor server keeps the victim's first request unanswered, and
 * answers the second.
 */
static void between_keep_first(struct world *w)
{
	struct pl x;

	if (shmk_server_receive(w->b, &w->sreq, 0)) {
		viol(V_STUCK, "the survivor server got no request");
		return;
	}
	w->has_sreq = 1;
	got(w, R_SRV, &w->sreq, &x);
	server_serve(w, w->b, W_SV);
}

/* Cancel the request the server keeps: the word it reads is cleared. */
static void act_client_cancel_told(struct vic *v)
{
	VCHECK(shmk_client_cancel(v->p, v->corr[0]) == 0);
}

/* Two pending requests, which the survivor server answers too. */
static void between_request_tracked2(struct world *w)
{
	if (par_request_tracked(w, w->a, W_SC) ||
	    par_request_tracked(w, w->a, W_SC))
		viol(V_STUCK, "the survivor client cannot send");
	server_serve(w, w->b, W_SV);
}

/* Two responses and an end to the first, one last response to the second. */
static void act_server_stream(struct vic *v)
{
	struct pl x;
	void *pl;
	int i, n;

	for (i = 0; i < 2; i++) {
		VCHECK(pl_get(v->smp[i].data, v->smp[i].len, &x) == 0);
		for (n = 0; n < 2 - i; n++) {
			VCHECK(shmk_pub_loan(v->p, &pl) == 0);
			pl_put(pl, "PUB", W_VIC, v->seq, x.writer);
			VCHECK(shmk_server_stream(v->p, &v->smp[i], pl, PLEN,
						  i ? SHMK_RESP_LAST : 0,
						  0) == 0);
			log_pub(W_VIC, v->seq++, x.writer);
		}
	}
	VCHECK(shmk_server_end(v->p, &v->smp[0], 0) == 0);
	for (i = 0; i < 2; i++)
		VCHECK(shmk_sub_release(v->p, &v->smp[i]) == 0);
}

/* Events */

static void v_notifier(struct vic *v)
{
	VCHECK(shmk_notifier_open(v->s, &v->p) == 0);
}

static void v_listener(struct vic *v)
{
	VCHECK(shmk_listener_open(v->s, &v->p) == 0);
}

static void act_notify(struct vic *v)
{
	VCHECK(par_notify(v->p, 7) >= 1);
	VCHECK(par_notify(v->p, 40) >= 1);
}

static void between_notify3(struct world *w)
{
	if (par_notify(w->a, 3) < 1 || par_notify(w->a, 4) < 1 ||
	    par_notify(w->a, 33) < 1)
		viol(V_STUCK, "the survivor notifier reaches no listener");
}

/* Device only: a listener whose wake-ups come through a watched fd. */
static void prep_listener_fd(struct vic *v)
{
	v_listener(v);
	VCHECK(shmk_listener_fd(v->p) >= 0);
}

/* A subscriber makes its fd and arms it (receive(0) finds nothing). */
static void act_port_fd(struct vic *v)
{
	struct shmk_sample smp;

	int ret, i = 0;

	VCHECK(shmk_port_fd(v->p) >= 0);
	while ((ret = shmk_sub_receive(v->p, &smp, 0)) == 0 && i++ < 64)
		VCHECK(shmk_sub_release(v->p, &smp) == 0);
	VCHECK(ret == -EAGAIN);
}

static void act_listener_wait(struct vic *v)
{
	uint32_t ids[8];

	VCHECK(shmk_listener_wait(v->p, ids, 1, 0) == 1);
	VCHECK(shmk_listener_wait(v->p, ids, 8, 0) == 2);
	VCHECK(shmk_listener_wait(v->p, ids, 8, 1000000) == -ETIMEDOUT);
}

/* Blackboard */

static void v_bbw(struct vic *v)
{
	VCHECK(shmk_bb_writer_open(v->s, &v->p) == 0);
}

static void v_bbr(struct vic *v)
{
	VCHECK(shmk_bb_reader_open(v->s, &v->p) == 0);
}

static void act_bb_add(struct vic *v)
{
	VCHECK(bb_put(v->p, BB_BASE, 0, 1) == 0);
	VCHECK(bb_put(v->p, BB_BASE + 1, 0, 1) == 0);
}

static void act_bb_write(struct vic *v)
{
	uint32_t i;

	for (i = 0; i < BB_BASE; i++)
		VCHECK(bb_put(v->p, i, 2, 0) == 0);
}

static void act_bb_read(struct vic *v)
{
	uint32_t i;

	for (i = 0; i < BB_BASE; i++)
		VCHECK(bb_get(v->p, i, "victim reader") == 0);
	VCHECK(shmk_bb_keys(v->p, NULL, 0) == BB_BASE);
}

static void prep_bb_wait(struct vic *v)
{
	v_bbr(v);
	VCHECK(bb_get(v->p, 0, "victim reader") == 0);
	VCHECK(bb_get(v->p, 1, "victim reader") == 0);
}

static void between_bb_write(struct world *w)
{
	if (bb_put(w->a, 0, 3, 0))
		viol(V_STUCK, "the survivor writer cannot write");
}

static void act_bb_wait(struct vic *v)
{
	uint64_t k0 = 1000, k1 = 1001;

	VCHECK(shmk_bb_wait(v->p, &k0, 0) == 0);
	VCHECK(bb_get(v->p, 0, "victim reader") == 3);
	VCHECK(shmk_bb_wait(v->p, &k1, 1000000) == -ETIMEDOUT);
}

static const struct op ops[] = {
	{ "service_create", K_CREATE, 0, NULL, NULL, NULL, act_service_create },
	{ "service_open", K_PUBSUB, 0, NULL, NULL, NULL, act_service_open },
	{ "pub_open", K_PUBSUB, 0, NULL, NULL, NULL, v_pub },
	{ "sub_open", K_PUBSUB, 0, NULL, NULL, NULL, v_sub },
	{ "pub_open_locked", K_PUBSUB, F_LOCKED, NULL, NULL, NULL, v_pub },
	{ "pub_open_recover", K_PUBSUB, F_DEAD | F_SMALL, NULL, NULL, NULL, v_pub },
	{ "sub_open_recover", K_PUBSUB, F_DEAD | F_SMALL, NULL, NULL, NULL, v_sub },
	{ "loan", K_PUBSUB, 0, v_pub, NULL, NULL, act_loan },
	{ "discard", K_PUBSUB, 0, v_pub, NULL, NULL, act_discard },
	{ "loan_recover", K_PUBSUB, F_DEAD | F_HOG, v_pub, NULL, NULL, act_loan },
	{ "publish_first", K_PUBSUB, 0, v_pub, NULL, NULL, act_publish_first },
	{ "publish_safe", K_PUBSUB, 0, prep_publish, NULL, NULL, act_publish_safe },
	{ "send_copy", K_PUBSUB, 0, prep_publish, NULL, NULL, act_send_copy },
	{ "publish_block", K_PUBSUB, F_BLOCK, prep_publish, NULL, NULL,
	  act_publish_block },
	{ "drain", K_PUBSUB, 0, prep_publish, NULL, NULL, act_drain },
	{ "receive", K_PUBSUB, F_SYNC, v_sub, between_publish3, NULL,
	  act_receive2 },
	{ "receive_lapped", K_PUBSUB, F_SYNC, v_sub, between_publish6, NULL,
	  act_receive2 },
	{ "release", K_PUBSUB, F_SYNC, v_sub, between_publish3, prep2_receive2,
	  act_release },
	{ "close_pub", K_PUBSUB, F_CLOSES, prep_publish, NULL, NULL, act_close },
	/* Zero-trust: killed creating its data region, mapping another's. */
	{ "zt_pub_open", K_PUBSUB, F_ZT, NULL, NULL, NULL, v_pub },
	{ "zt_publish", K_PUBSUB, F_ZT, prep_publish, NULL, NULL,
	  act_publish_safe },
	{ "zt_receive", K_PUBSUB, F_ZT | F_SYNC, v_sub, between_publish3, NULL,
	  act_receive2 },
	{ "zt_release", K_PUBSUB, F_ZT | F_SYNC, v_sub, between_publish3,
	  prep2_receive2, act_release },
	{ "zt_close_pub", K_PUBSUB, F_ZT | F_CLOSES, prep_publish, NULL, NULL,
	  act_close },
	{ "dyn_grow", K_PUBSUB, F_DYN, prep_publish, NULL, NULL, act_grow },
	{ "dyn_receive", K_PUBSUB, F_DYN | F_SYNC, v_sub, between_grow, NULL,
	  act_receive_all },
	{ "zt_server_open", K_REQRES, F_ZT | F_NOSERVER, NULL, NULL, NULL,
	  v_server },
	{ "zt_client_receive", K_REQRES, F_ZT | F_SYNC, prep_client_receive,
	  between_serve, NULL, act_client_receive },
	{ "close_sub", K_PUBSUB, F_SYNC, v_sub, between_publish3, prep2_receive2,
	  act_close },
	{ "close_linger", K_PUBSUB, F_SYNC, prep_publish, between_receive_all,
	  NULL, act_close_linger },
	{ "publish_reuse", K_PUBSUB, F_SYNC | F_REUSE, prep_publish_big,
	  between_receive_all, NULL, act_publish_reuse },
	{ "close_linger_timeout", K_PUBSUB, F_CLOSES, prep_publish, NULL, NULL,
	  act_close_linger_timeout },
	{ "recover_pubsub", K_PUBSUB, F_DEAD, NULL, NULL, NULL, act_recover },
	/* Layout 6: bitmaps of two words (hold_claim()'s handshake). */
	{ "loan_wide", K_PUBSUB, F_WIDE, v_pub, NULL, NULL, act_loan },
	{ "publish_wide", K_PUBSUB, F_WIDE, prep_publish, NULL, NULL,
	  act_publish_safe },
	{ "receive_wide", K_PUBSUB, F_SYNC | F_WIDE, v_sub, between_publish3,
	  NULL, act_receive2 },
	{ "close_sub_wide", K_PUBSUB, F_SYNC | F_WIDE, v_sub, between_publish3,
	  prep2_receive2, act_close },
	{ "recover_wide", K_PUBSUB, F_DEAD | F_WIDE, NULL, NULL, NULL,
	  act_recover },
	{ "client_open", K_REQRES, 0, NULL, NULL, NULL, v_client },
	{ "server_open", K_REQRES, F_NOSERVER, NULL, NULL, NULL, v_server },
	{ "client_send", K_REQRES, 0, prep_client_send, NULL, NULL,
	  act_client_send },
	{ "server_receive", K_REQRES, F_NOSERVER | F_SYNC, v_server,
	  between_request2, NULL, act_server_receive },
	{ "server_respond", K_REQRES, F_NOSERVER | F_SYNC, v_server,
	  between_request2, prep2_server_respond, act_server_respond },
	{ "client_receive", K_REQRES, F_SYNC, prep_client_receive,
	  between_serve, NULL, act_client_receive },
	{ "close_client", K_REQRES, F_CLOSES, prep_close_client, NULL, NULL,
	  act_close },
	{ "close_server", K_REQRES, F_NOSERVER | F_SYNC, v_server,
	  between_request1, prep2_close_server, act_close },
	{ "recover_reqres", K_REQRES, F_DEAD, NULL, NULL, NULL, act_recover },
	{ "client_request", K_REQRES, 0, prep_client_send, NULL, NULL,
	  act_client_request },
	{ "client_receive_for", K_REQRES, F_SYNC, prep_client_pending2,
	  between_serve, NULL, act_client_receive_for },
	{ "client_cancel", K_REQRES, F_SYNC, prep_client_pending2,
	  between_serve, NULL, act_client_cancel },
	{ "client_cancel_told", K_REQRES, F_SYNC, prep_client_pending2,
	  between_keep_first, NULL, act_client_cancel_told },
	{ "server_stream", K_REQRES, F_TWOSRV | F_SYNC, v_server,
	  between_request_tracked2, prep2_server_respond, act_server_stream },
	{ "notifier_open", K_EVENT, 0, NULL, NULL, NULL, v_notifier },
	{ "listener_open", K_EVENT, 0, NULL, NULL, NULL, v_listener },
	{ "notify", K_EVENT, 0, v_notifier, NULL, NULL, act_notify },
	{ "listener_wait", K_EVENT, F_SYNC, v_listener, between_notify3, NULL,
	  act_listener_wait },
	{ "close_notifier", K_EVENT, 0, v_notifier, NULL, NULL, act_close },
	{ "close_listener", K_EVENT, F_SYNC, v_listener, between_notify3, NULL,
	  act_close },
	{ "close_listener_fd", K_EVENT, F_WATCHED, prep_listener_fd, NULL, NULL,
	  act_close },
	{ "port_fd", K_PUBSUB, 0, v_sub, NULL, NULL, act_port_fd },
	{ "publish_watched", K_PUBSUB, F_SURVWATCH, prep_publish, NULL, NULL,
	  act_publish_safe },
	{ "notify_watched", K_EVENT, F_SURVWATCH, v_notifier, NULL, NULL,
	  act_notify },
	{ "recover_event", K_EVENT, F_DEAD, NULL, NULL, NULL, act_recover },
	{ "bb_service_open", K_BB, 0, NULL, NULL, NULL, act_service_open },
	{ "bb_writer_open", K_BB, F_BBVW, NULL, NULL, NULL, v_bbw },
	{ "bb_writer_repair", K_BB, F_BBVW | F_DEAD, NULL, NULL, NULL, v_bbw },
	{ "bb_reader_open", K_BB, 0, NULL, NULL, NULL, v_bbr },
	{ "bb_add", K_BB, F_BBVW, v_bbw, NULL, NULL, act_bb_add },
	{ "bb_write", K_BB, F_BBVW, v_bbw, NULL, NULL, act_bb_write },
	{ "bb_read", K_BB, 0, v_bbr, NULL, NULL, act_bb_read },
	{ "bb_wait", K_BB, F_SYNC, prep_bb_wait, between_bb_write, NULL,
	  act_bb_wait },
	{ "bb_close_writer", K_BB, F_BBVW, v_bbw, NULL, NULL, act_close },
	{ "bb_close_reader", K_BB, 0, v_bbr, NULL, NULL, act_close },
	{ "recover_bb", K_BB, F_BBVW | F_DEAD, NULL, NULL, NULL, act_recover },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* ------------------------------------------------------------------ */
/* Driver */

static bool op_selected(const char *name)
{
	const char *p = sel_op;
	size_t n = strlen(name);

	if (!p || !*p)
		return true;
	while (*p) {
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

/* OFD locks are memfd's. */
static bool op_applies(const struct op *op)
{
	if (op->flags & F_LOCKED)
		return backend == SHMK_BACKEND_MEMFD;
	return true;
}

/* One (op, k[, j]) run: setup, deaths, checks. */
static int one_run(const struct op *op, int phase, unsigned long k,
		   unsigned long j, int *jres, unsigned long *kpoints)
{
	struct world w;
	int res;

	world_setup(&w, op);
	if (phase == 1)
		snprintf(where, sizeof(where), "%s k=%lu", op->name, k);
	else
		snprintf(where, sizeof(where), "%s k=%lu j=%lu", op->name, k, j);
	res = run_victim(&w, k);
	if (res == R_DONE)
		*kpoints = LOG->points;
	if (phase == 2) {
		world_consume(&w);
		*jres = run_recoverer(&w, j);
	}
	world_check(&w);
	if (verbose)
		printf("  run %s: victim %s%s\n", where,
		       res == R_DONE ? "finished" : res == R_KILLED ? "killed" : "failed",
		       phase == 1 ? "" : *jres == R_DONE ? ", recoverer finished" :
		       *jres == R_KILLED ? ", recoverer killed" : ", recoverer failed");
	return res;
}

static void run_op(void **state)
{
	const struct op *op = *state;
	unsigned long k, j, points = 0, p1 = 0, p2 = 0, r0 = tot_runs;
	int jonly;
	unsigned int i, strict = 0;
	int res = R_DONE, jres = R_DONE;

	memset(vcount, 0, sizeof(vcount));
	tot_ops++;
	if (!sel_phase || sel_phase == 1) {
		for (k = sel_k ? sel_k : 1; k < MAXK; k++) {
			res = one_run(op, 1, k, 0, &jres, &points);
			if (res == R_KILLED)
				p1++;
			if (res != R_KILLED || sel_k)
				break;
		}
		if (k == MAXK)
			viol(V_STUCK, "%s never finishes", op->name);
	}
	/*
	 * Quick: the recoverer is killed at each of its points only in the
	 * recover_* operations; in the others, at its first point only (the
	 * survivors still consume before recovery after every victim point).
	 */
	jonly = quick && op->act != act_recover && !sel_j;
	if ((!sel_phase || sel_phase == 2) && op->kind != K_CREATE) {
		for (k = sel_k ? sel_k : 1; k < MAXK; k++) {
			for (j = sel_j ? sel_j : 1; j < MAXK; j++) {
				res = one_run(op, 2, k, j, &jres, &points);
				if (jres == R_KILLED)
					p2++;
				if (jres != R_KILLED || sel_j || jonly)
					break;
			}
			if (res != R_KILLED || sel_k)
				break;
		}
	}
	tot_points += p1 + p2;
	printf("op %-17s %3lu points; recovery killed at %4lu more; %5lu runs",
	       op->name, points, p2, tot_runs - r0);
	for (i = 0; i < V_MAX; i++) {
		if (!vcount[i])
			continue;
		printf("%s %s: %u", strict++ ? "," : "; VIOLATIONS", vname[i],
		       vcount[i]);
	}
	printf("\n");
	fflush(stdout);
	for (i = 0, strict = 0; i < V_MAX; i++)
		if (vcount[i] && !lenient[i])
			strict++;
	if (strict)
		fail_msg("%s: invariants violated (rerun one point: SHMK_CP_OP=%s SHMK_CP_K=k [SHMK_CP_PHASE=2 SHMK_CP_J=j])",
			 op->name, op->name);
}

/* ------------------------------------------------------------------ */
/* The runtime itself: counting, dying at the armed point, the sites */

static int cp_three_stores(volatile int *x)
{
	SHMK_CP();
	x[0] = 1;
	SHMK_CP();
	x[1] = 1;
	SHMK_CP();
	x[2] = 1;
	return 3;
}

static void runtime(void **state)
{
	volatile int *x = (volatile int *)LOG->err;
	unsigned long i, n, mine = 0, before;
	struct shmk_cp_site *all = shmk_cp_site_table(&n);
	int k, st;
	pid_t pid;

	(void)state;
	memset(LOG->err, 0, 3 * sizeof(int));
	shmk_cp_arm(0);
	before = shmk_cp_count();
	cp_three_stores(x);
	assert_int_equal(shmk_cp_count() - before, 3);
	/* Armed at k: the k - 1 stores before it happen, the k-th does not. */
	for (k = 1; k <= 4; k++) {
		memset(LOG->err, 0, 3 * sizeof(int));
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			shmk_cp_arm((unsigned long)k);
			cp_three_stores(x);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (k <= 3) {
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		} else {
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		for (i = 0; i < 3; i++)
			assert_int_equal(x[i], (int)i < k - 1 ? 1 : 0);
	}
	/* This file's three sites are in the walk, each hit once here. */
	assert_ptr_equal(all, sites);
	for (i = 0; i < n; i++)
		if (strstr(all[i].file, "test_crashpoints.c")) {
			assert_int_equal(all[i].hits, 1);
			mine++;
		}
	assert_int_equal(mine, 3);
	memset(LOG->err, 0, sizeof(LOG->err));
}

/* ------------------------------------------------------------------ */
/* Static coverage */

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * Sites of the messaging layer that this harness cannot reach on one
 * backend: matched by the backend, the file and a text on one of the
 * three lines after the site.
 */
static const struct {
	int backend;
	const char *file, *text, *why;
} allow[] = {
	{ SHMK_BACKEND_MEMFD, "svc_port.c", "no death notice could be armed",
	  "allowed, device backend only: the module cannot register a death notice" },
	{ SHMK_BACKEND_DEVICE, "svc_port.c", "no death notice could be armed",
	  "allowed: only when the module refuses a death notice (out of memory)" },
	{ SHMK_BACKEND_MEMFD, "svc_port.c", "no data region could be created",
	  "allowed: only when a zero-trust producer cannot create its data region (no memory, a name squatted)" },
	{ SHMK_BACKEND_DEVICE, "svc_port.c", "no data region could be created",
	  "allowed: only when a zero-trust producer cannot create its data region (no memory, a name squatted)" },
	{ SHMK_BACKEND_MEMFD, "svc_wait.c", "the wake word is ours",
	  "allowed, device backend only: a port fd is a watch of the wake word" },
	{ SHMK_BACKEND_DEVICE, "svc_wait.c", "fetch_or of our watch bit after it",
	  "allowed, memfd only: the token of a port fd's datagram socket" },
	{ SHMK_BACKEND_MEMFD, "svc.h", "a back-off: only",
	  "allowed: hold_claim()'s back-off needs a holder racing its pass 2 (test_manyslots races them)" },
	{ SHMK_BACKEND_DEVICE, "svc.h", "a back-off: only",
	  "allowed: hold_claim()'s back-off needs a holder racing its pass 2 (test_manyslots races them)" },
	{ SHMK_BACKEND_DEVICE, "svc_wait.c", "the sleeper's acquire load of its wake",
	  "allowed: nobody here sleeps alive while another wakes it (on memfd a killed sleeper looks alive until recovered)" },
};
#define NALLOW (sizeof(allow) / sizeof(allow[0]))

#ifdef CP_SRC_EXCERPTS
/*
 * The guest build (the top-level Makefile's $(BUILD)/selftests/crashpoints)
 * runs where the sources are not: it carries, for each SHMK_CP() line of
 * the library, that line and the three after it (generated at build
 * time), and allowed() reads those instead of the file.
 */
struct cp_src_excerpt {
	const char *file;	/* base name */
	unsigned int line;
	const char *text;	/* lines line .. line + 3 */
};
#include CP_SRC_EXCERPTS

static const char *src_excerpt(const struct shmk_cp_site *s)
{
	size_t i;

	for (i = 0; i < sizeof(cp_src_excerpts) / sizeof(cp_src_excerpts[0]); i++)
		if (cp_src_excerpts[i].line == s->line &&
		    !strcmp(cp_src_excerpts[i].file, base(s->file)))
			return cp_src_excerpts[i].text;
	return NULL;
}
#endif

/* Building blocks and public headers: reported, not required here. */
static bool required(const char *path)
{
	const char *b = base(path);

	return strcmp(b, "spsc.c") && strcmp(b, "mpmc.c") &&
	       strcmp(b, "pool.c") && !strstr(path, "include/");
}

static const char *allowed(const struct shmk_cp_site *s)
{
	char line[256];
	unsigned int n = 0, i;
	const char *why = NULL;
	FILE *f;

	for (i = 0; i < NALLOW; i++)
		if (allow[i].backend == backend &&
		    !strcmp(base(s->file), allow[i].file))
			break;
	if (i == NALLOW)
		return NULL;
#ifdef CP_SRC_EXCERPTS
	{
		const char *t = src_excerpt(s);

		for (i = 0; t && i < NALLOW; i++)
			if (allow[i].backend == backend &&
			    !strcmp(base(s->file), allow[i].file) &&
			    strstr(t, allow[i].text))
				return allow[i].why;
		if (t)
			return NULL;
	}
#endif
	f = fopen(s->file, "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f) && ++n <= s->line + 3) {
		if (n < s->line)
			continue;
		for (i = 0; i < NALLOW; i++)
			if (allow[i].backend == backend &&
			    !strcmp(base(s->file), allow[i].file) &&
			    strstr(line, allow[i].text))
				why = allow[i].why;
	}
	fclose(f);
	return why;
}

static void coverage(void **state)
{
	unsigned long i, hit = 0, bad = 0, lib = 0;
	const char *why;

	(void)state;
	for (i = 0; i < nsites; i++)
		lib += !strstr(sites[i].file, "/tests/");
	for (i = 0; i < nsites; i++)
		hit += sites[i].hits && !strstr(sites[i].file, "/tests/");
	printf("crash points: %lu operations, %lu runs, %lu points killed at\n",
	       tot_ops, tot_runs, tot_points);
	printf("SHMK_CP sites in the library: %lu, hit %lu, never hit %lu\n",
	       lib, hit, lib - hit);
	for (i = 0; i < nsites; i++) {
		if (sites[i].hits || strstr(sites[i].file, "/tests/"))
			continue;
		why = allowed(&sites[i]);
		printf("  never hit: %s:%u (%s)\n", base(sites[i].file),
		       sites[i].line, why ? why : !required(sites[i].file) ?
		       "building block: not exercised here" :
		       "MESSAGING: not allowed");
		if (!why && required(sites[i].file))
			bad++;
	}
	fflush(stdout);
	if (sel_op || sel_k || sel_j || sel_phase) {
		printf("(a selection ran: coverage not enforced)\n");
		return;
	}
	if (bad)
		fail_msg("%lu messaging crash point site(s) never hit", bad);
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[NOPS + 2];
	const char *e;
	unsigned int i, n = 0;

	/*
	 * The backend: SHMK_BACKEND when set, else the build's (memfd; the
	 * guest build's CP_BACKEND is device).  The allowlist, the death
	 * checks and which operations run depend on it.
	 */
	e = getenv("SHMK_BACKEND");
	if (!e || !*e)
		setenv("SHMK_BACKEND", CP_BACKEND, 1);
	backend = shmk_backend_select();
	if (backend < 0) {
		fprintf(stderr, "SHMK_BACKEND=%s: not a backend\n",
			getenv("SHMK_BACKEND"));
		return 1;
	}
	sel_op = argc > 1 ? argv[1] : getenv("SHMK_CP_OP");
	e = argc > 2 ? argv[2] : getenv("SHMK_CP_K");
	sel_k = e ? strtoul(e, NULL, 10) : 0;
	e = argc > 3 ? argv[3] : getenv("SHMK_CP_J");
	sel_j = e ? strtoul(e, NULL, 10) : 0;
	e = getenv("SHMK_CP_PHASE");
	sel_phase = e ? atoi(e) : 0;
	e = getenv("SHMK_CP_QUICK");
	quick = e ? *e && *e != '0' : CP_QUICK;
	e = getenv("SHMK_CP_VERBOSE");
	verbose = e && *e && *e != '0';
	e = getenv("SHMK_CP_LENIENT");
	for (i = 0; e && i < V_MAX; i++)
		lenient[i] = strstr(e, vname[i]) != NULL;
	if (sel_op && !*sel_op)
		sel_op = NULL;

	LOG = mmap(NULL, sizeof(*LOG), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (LOG == MAP_FAILED)
		return 1;
	sites = shmk_cp_site_table(&nsites);
	if (nsites > MAXSITES) {
		fprintf(stderr, "more than %d crash point sites\n", MAXSITES);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&tests[n], 0, sizeof(tests[n]));
	tests[n].name = "runtime";
	tests[n].test_func = runtime;
	n++;
	printf("# crash points on the %s backend%s\n",
	       backend == SHMK_BACKEND_DEVICE ? "device" : "memfd",
	       quick ? "; quick (SHMK_CP_QUICK): the recoverer killed at each of its points only in recover_*, elsewhere at its first" : "");
	/* Only the selected operations are tests: nothing reads "skipped". */
	for (i = 0; i < NOPS; i++) {
		if (!op_selected(ops[i].name))
			continue;
		if (!op_applies(&ops[i])) {
			printf("# op %s: not on the %s backend\n", ops[i].name,
			       backend == SHMK_BACKEND_DEVICE ? "device" : "memfd");
			continue;
		}
		memset(&tests[n], 0, sizeof(tests[n]));
		tests[n].name = ops[i].name;
		tests[n].test_func = run_op;
		tests[n].initial_state = (void *)&ops[i];
		n++;
	}
	if (n == 1) {
		fprintf(stderr, "no operation named %s\n", sel_op);
		return 1;
	}
	memset(&tests[n], 0, sizeof(tests[n]));
	tests[n].name = "coverage";
	tests[n].test_func = coverage;
	n++;
	return _cmocka_run_group_tests("crashpoints", tests, n, NULL, NULL);
}
