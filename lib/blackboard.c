// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk blackboard: one writer, many readers, a fixed table of entries
 * each under a sequence lock (Documentation/messaging.rst, "Blackboard").
 *
 * Layout (in the service's chunks area, svc.h): a SHMK_CACHELINE_PAD
 * header holding the key count, then max_events entries of g.stride
 * bytes: seq, len, the key (key_size bytes, rounded up to 8), the value
 * (value_size bytes, rounded up to 8, as 64-bit words).  Only the writer
 * stores into any of it.
 *
 * Keys.  Entry i < nkeys holds a key; the writer fills entry nkeys
 * completely (key, len, value, an even seq) and then stores nkeys + 1
 * with release; a reader loads nkeys with acquire and copies the keys
 * below it into its private table, once.  A key is never written again,
 * so every lookup after that is private: no key read from the region is
 * trusted twice.  A writer that dies before its nkeys store leaves an
 * entry nobody reads; the next add overwrites it.
 *
 * Values: the sequence lock (Boehm, "Can seqlocks get along with
 * programming language memory models?", MSPC 2012):
 *
 *   writer:  s = seq | 1;  store(seq, s, relaxed);  fence(release);
 *            store(len), store(value words)  (relaxed atomics);
 *            store(seq, s + 1, release)
 *   reader:  s1 = load(seq, acquire);  (odd: retry)
 *            load(len), load(value words)  (relaxed atomics);
 *            fence(acquire);  s2 = load(seq, relaxed);  s1 == s2: done
 *
 * If any data load read a value stored by a write that began after s1
 * (its odd store is later than s1 in seq's modification order), that
 * store follows the writer's release fence, so the reader's acquire
 * fence synchronizes with it and the odd store happens before the load
 * of s2: s2 is that odd value or later, never s1.  If s2 == s1 (even),
 * no write started between the loads: each data load read the value of
 * the write that ended with s1 (the release store of s1 and the acquire
 * load of it order those before the loads).  The data are relaxed
 * atomics, so racing with the writer is no data race in C11 (nor for
 * ThreadSanitizer, which does not model the fences but reports no race
 * between atomics).  64-bit sequences never repeat in practice; the
 * test starts one just below 2^64 to show that wrapping to 0 is harmless
 * (versions are compared for equality only).
 *
 * A writer killed inside a write leaves the sequence odd: readers give up
 * after SHMK_BB_READ_TRIES with -EAGAIN (never a torn value, never a
 * spin), and the next writer, on open, rewrites such an entry with the
 * length BB_TORN and an even sequence, which readers report as -ENODATA
 * until the entry is written again.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"
#include <shmk/blackboard.h>

/* The length of an entry whose writer died mid-write (repaired). */
#define BB_TORN		UINT64_MAX
/* Reads that spin before they yield the CPU between tries. */
#define BB_SPIN_TRIES	16
/* A sequence no value ever has (odd): "never read" in a port's table. */
#define BB_NEVER	1ULL

struct bb_shared {
	_Atomic uint32_t nkeys;		/* written by the writer only */
	char _pad[SHMK_CACHELINE_PAD - 4];
};

struct bb_entry {
	_Atomic uint64_t seq;
	_Atomic uint64_t len;
	unsigned char key[];	/* key words, then value words */
};

/*
 * A port's private state, in the block shmk_port_close() frees (the
 * port's loans array, which a blackboard port does not use).
 */
struct bb_priv {
	uint32_t known;		/* keys copied into @keys */
	uint32_t max;		/* max_events */
	uint32_t ksize, kwords;	/* key bytes, 8-byte words */
	uint32_t hmask;		/* @htab size - 1 */
	uint64_t vmax;		/* value_size */
	uint64_t *last;		/* [max] version last read, BB_NEVER */
	uint32_t *htab;		/* entry + 1 by key hash; 0: empty */
	unsigned char *keys;	/* [max * ksize] */
};

static struct bb_priv *priv_of(const struct shmk_port *p)
{
	return (struct bb_priv *)(void *)p->loans;
}

static struct bb_shared *bb_hdr(const struct svc_view *v)
{
	return (struct bb_shared *)(void *)v->chunks;
}

static struct bb_entry *bb_entry(const struct svc_view *v, uint32_t i)
{
	return (struct bb_entry *)(void *)(v->chunks + SHMK_CACHELINE_PAD +
					   (uint64_t)i * v->g.stride);
}

static _Atomic uint64_t *bb_value(const struct svc_view *v,
				  const struct bb_entry *e)
{
	return (_Atomic uint64_t *)(void *)(e->key + 8ULL *
		((v->cfg.buffer + 7) / 8));
}

static int is_bb(const struct shmk_port *p)
{
	return p && (p->role == ROLE_BB_WRITER || p->role == ROLE_BB_READER);
}

/* Private lookups: FNV-1a over the key, open addressing. */
static uint32_t key_hash(const struct bb_priv *b, const void *key)
{
	const unsigned char *k = key;
	uint32_t h = 2166136261U, i;

	for (i = 0; i < b->ksize; i++)
		h = (h ^ k[i]) * 16777619U;
	return h;
}

static int priv_find(const struct bb_priv *b, const void *key)
{
	uint32_t h = key_hash(b, key), n, x;

	for (n = 0; n <= b->hmask; n++) {
		x = b->htab[(h + n) & b->hmask];
		if (!x)
			return -ENOENT;
		if (!memcmp(b->keys + (uint64_t)(x - 1) * b->ksize, key, b->ksize))
			return (int)(x - 1);
	}
	return -ENOENT;
}

/* Remember entry b->known's key (already in b->keys). */
static void priv_insert(struct bb_priv *b)
{
	const unsigned char *k = b->keys + (uint64_t)b->known * b->ksize;
	uint32_t h = key_hash(b, k), n;

	/* A duplicate (a peer's forgery) keeps the first entry. */
	if (priv_find(b, k) < 0)
		for (n = 0; n <= b->hmask; n++)
			if (!b->htab[(h + n) & b->hmask]) {
				b->htab[(h + n) & b->hmask] = b->known + 1;
				break;
			}
	b->last[b->known] = BB_NEVER;
	b->known++;
}

/* Copy the keys of entries [known, @n), @n <= max (checked). */
static void priv_load(struct bb_priv *b, const struct svc_view *v, uint32_t n)
{
	while (b->known < n) {
		memcpy(b->keys + (uint64_t)b->known * b->ksize,
		       bb_entry(v, b->known)->key, b->ksize);
		priv_insert(b);
	}
}

/*
 * Copy the keys the writer published since our last look.  Acquire:
 * pairs with the writer's release store of nkeys in shmk_bb_add(): the
 * entry's key is complete.  A count beyond max_events (a peer's) is cut
 * to it; one below what we know changes nothing.
 */
static void priv_refresh(struct bb_priv *b, const struct svc_view *v)
{
	uint32_t n = atomic_load_explicit(&bb_hdr(v)->nkeys,
					  memory_order_acquire);

	priv_load(b, v, n < b->max ? n : b->max);
}

/* Entry of @key: the writer knows them all; a reader looks again. */
static int lookup(const struct shmk_port *p, const void *key)
{
	struct bb_priv *b = priv_of(p);
	int i = priv_find(b, key);

	if (i < 0 && p->role == ROLE_BB_READER) {
		priv_refresh(b, &p->v);
		i = priv_find(b, key);
	}
	return i;
}

/*
 * One write of entry @e under its sequence lock: @value, @len (or the
 * repair's BB_TORN with no value).
 */
static void entry_write(const struct svc_view *v, struct bb_entry *e,
			const void *value, uint64_t len)
{
	_Atomic uint64_t *w = bb_value(v, e);
	/* Relaxed: only the writer stores seq (read once, any value works). */
	uint64_t s = atomic_load_explicit(&e->seq, memory_order_relaxed) | 1;
	uint64_t i, n = len == BB_TORN ? 0 : (len + 7) / 8, x;

	SHMK_CP();
	/* Relaxed, then the release fence: odd before any data store. */
	atomic_store_explicit(&e->seq, s, memory_order_relaxed);
	/*
	 * Release fence: pairs with the reader's acquire fence: a reader
	 * whose data loads see a store below sees this odd seq (or later)
	 * in its second seq load.
	 */
	atomic_thread_fence(memory_order_release);
	/*
	 * One crash point for the run of data stores: with seq odd a crash
	 * anywhere in it leaves the same state for readers (busy, then
	 * repaired), as does a crash before it.
	 */
	SHMK_CP();
	/* Relaxed: ordered by the fence above and the seq release below. */
	atomic_store_explicit(&e->len, len, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		x = 0;
		memcpy(&x, (const unsigned char *)value + i * 8,
		       len - i * 8 < 8 ? len - i * 8 : 8);
		/* Relaxed: as len. */
		atomic_store_explicit(&w[i], x, memory_order_relaxed);
	}
	SHMK_CP();
	/*
	 * Release: pairs with the reader's acquire load of seq: a reader
	 * that sees s + 1 sees the data above.
	 */
	atomic_store_explicit(&e->seq, s + 1, memory_order_release);
}

/* Wake the readers asleep in shmk_bb_wait() (all but us). */
static void wake_readers(const struct shmk_port *p)
{
	/* Its seq_cst fence orders our seq store before the mask load. */
	svc_wake_listeners(&p->v, p->clo, p->chi);
}

static int bb_open(struct shmk_service *s, int role, struct shmk_port **out)
{
	struct shmk_port *p;
	struct bb_priv *b;
	uint64_t hsize = 1, max, ksize;
	uint32_t n;
	size_t sz;
	int ret;

	if (!s || !out)
		return -EINVAL;
	/*
	 * Writers take the A-role slot (max_publishers is 1), readers the
	 * B-role slots: port_new() knows them as notifier and listener.
	 */
	ret = port_new(s, role == ROLE_BB_WRITER ? ROLE_NOTIFIER : ROLE_LISTENER,
		       SHMK_SVC_BLACKBOARD, &p);
	if (ret)
		return ret;
	max = p->v.cfg.max_events;
	ksize = p->v.cfg.buffer;
	while (hsize < 2 * max)
		hsize <<= 1;
	sz = sizeof(*b) + max * 8 + hsize * 4 + max * ksize;
	b = calloc(1, sz);
	if (!b) {
		shmk_port_close(p);
		return -ENOMEM;
	}
	b->max = (uint32_t)max;
	b->ksize = (uint32_t)ksize;
	b->kwords = (uint32_t)((ksize + 7) / 8);
	b->hmask = (uint32_t)(hsize - 1);
	b->vmax = p->v.cfg.payload_max;
	b->last = (uint64_t *)(void *)(b + 1);
	b->htab = (uint32_t *)(void *)(b->last + max);
	b->keys = (unsigned char *)(b->htab + hsize);
	free(p->loans);
	p->loans = (uint32_t *)(void *)b;
	p->held = NULL;
	p->role = role;
	if (role == ROLE_BB_READER) {
		priv_refresh(b, &p->v);
	} else {
		uint32_t i, fixed = 0;

		/*
		 * Acquire: pairs with the last writer's release of nkeys.
		 * Read once; the writer never reads it again (its own copy,
		 * b->known, is what it stores from now on).
		 */
		n = atomic_load_explicit(&bb_hdr(&p->v)->nkeys,
					 memory_order_acquire);
		if (n > b->max) {
			svc_err("the blackboard's key count %u is more than "
				"its %u keys: corrupt", n, b->max);
			shmk_port_close(p);
			return -EBADMSG;
		}
		priv_load(b, &p->v, n);

		/* Repair what a writer killed mid-write left (odd seq). */
		for (i = 0; i < b->known; i++) {
			struct bb_entry *e = bb_entry(&p->v, i);

			/* Relaxed: only writers store seq; we are the one. */
			if (atomic_load_explicit(&e->seq, memory_order_relaxed) & 1) {
				entry_write(&p->v, e, NULL, BB_TORN);
				fixed++;
			}
		}
		if (fixed)
			wake_readers(p);
	}
	*out = p;
	return 0;
}

SHMK_API int shmk_bb_writer_open(struct shmk_service *s, struct shmk_port **out)
{
	return bb_open(s, ROLE_BB_WRITER, out);
}

SHMK_API int shmk_bb_reader_open(struct shmk_service *s, struct shmk_port **out)
{
	return bb_open(s, ROLE_BB_READER, out);
}

static int write_args(const struct shmk_port *w, const void *key,
		      const void *value, size_t len)
{
	if (!w || w->role != ROLE_BB_WRITER) {
		svc_err("%s", w ? "the port is not a blackboard writer" :
			"w: NULL");
		return -EINVAL;
	}
	if (!key || (len && !value)) {
		svc_err("%s: NULL", key ? "value" : "key");
		return -EINVAL;
	}
	if (len > priv_of(w)->vmax) {
		svc_err("len: %zu is more than the value_size %llu", len,
			(unsigned long long)priv_of(w)->vmax);
		return -EINVAL;
	}
	return 0;
}

SHMK_API int shmk_bb_add(struct shmk_port *w, const void *key,
			 const void *value, size_t len)
{
	struct bb_priv *b;
	struct bb_entry *e;
	int ret = write_args(w, key, value, len);

	if (ret)
		return ret;
	b = priv_of(w);
	if (priv_find(b, key) >= 0)
		return -EEXIST;
	if (b->known == b->max) {
		svc_err("all %u keys are taken", b->max);
		return -ENOSPC;
	}
	e = bb_entry(&w->v, b->known);
	/*
	 * Nobody reads the entry before nkeys covers it: the key is plain
	 * bytes (a run that shares the crash point of the write's first
	 * store below); the value goes in as every write does.
	 */
	SHMK_CP();
	memcpy(e->key, key, b->ksize);
	entry_write(&w->v, e, value, len);
	memcpy(b->keys + (uint64_t)b->known * b->ksize, key, b->ksize);
	priv_insert(b);
	SHMK_CP();
	/*
	 * Release: pairs with the readers' acquire load in priv_refresh():
	 * the key and the first value are visible with the count.
	 */
	atomic_store_explicit(&bb_hdr(&w->v)->nkeys, b->known,
			      memory_order_release);
	wake_readers(w);
	return 0;
}

SHMK_API int shmk_bb_write(struct shmk_port *w, const void *key,
			   const void *value, size_t len)
{
	int ret = write_args(w, key, value, len), i;

	if (ret)
		return ret;
	i = priv_find(priv_of(w), key);
	if (i < 0)
		return -ENOENT;
	entry_write(&w->v, bb_entry(&w->v, (uint32_t)i), value, len);
	wake_readers(w);
	return 0;
}

/* One consistent copy of entry @i, or an error; @tries bounds it. */
static int entry_read(const struct shmk_port *p, uint32_t i, void *buf,
		      size_t size, uint64_t *version)
{
	struct bb_priv *b = priv_of(p);
	const struct bb_entry *e = bb_entry(&p->v, i);
	const _Atomic uint64_t *w = bb_value(&p->v, e);
	uint64_t s1, s2, len, k, n, x;
	unsigned int t;

	for (t = 0; t < SHMK_BB_READ_TRIES; t++) {
		if (t >= BB_SPIN_TRIES)
			sched_yield();
		else if (t)
			shmk_cpu_relax();
		/* Acquire: pairs with the writer's release store of seq. */
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		/* Relaxed, as the words: the fence below orders them. */
		len = atomic_load_explicit(&e->len, memory_order_relaxed);
		if (len <= b->vmax && len <= size) {
			n = (len + 7) / 8;
			for (k = 0; k < n; k++) {
				/* Relaxed: a copy the seq check validates. */
				x = atomic_load_explicit(&w[k], memory_order_relaxed);
				memcpy((unsigned char *)buf + k * 8, &x,
				       len - k * 8 < 8 ? len - k * 8 : 8);
			}
		}
		/*
		 * Acquire fence: pairs with the writer's release fence after
		 * its odd store: if a load above saw a later write's data,
		 * the load below sees its odd seq.
		 */
		atomic_thread_fence(memory_order_acquire);
		/* Relaxed: ordered by the fence. */
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 != s2)
			continue;
		if (len == BB_TORN) {
			b->last[i] = s1;
			svc_err("the writer died while writing this entry; it "
				"has no value until the next write");
			return -ENODATA;
		}
		if (len > b->vmax) {
			svc_err("the entry's length %llu is more than the "
				"value_size %llu: corrupt",
				(unsigned long long)len,
				(unsigned long long)b->vmax);
			return -EBADMSG;
		}
		if (len > size)
			return -EMSGSIZE;
		b->last[i] = s1;
		if (version)
			*version = s1;
		return (int)len;
	}
	svc_err("the entry was being written at each of %d tries",
		SHMK_BB_READ_TRIES);
	return -EAGAIN;
}

SHMK_API int shmk_bb_read(struct shmk_port *p, const void *key, void *buf,
			  size_t size, uint64_t *version)
{
	int i;

	if (!is_bb(p) || !key || (size && !buf)) {
		svc_err("%s", !is_bb(p) ? "the port is not a blackboard port" :
			!key ? "key: NULL" : "buf: NULL");
		return -EINVAL;
	}
	i = lookup(p, key);
	if (i < 0)
		return i;
	return entry_read(p, (uint32_t)i, buf, size, version);
}

/* 1 when entry @i's seq differs from our last read of it, else -EAGAIN. */
static int entry_changed(const struct shmk_port *p, uint32_t i)
{
	/*
	 * Acquire: pairs with the writer's release store of seq (a caller
	 * that reads next sees at least that write).
	 */
	uint64_t s = atomic_load_explicit(&bb_entry(&p->v, i)->seq,
					  memory_order_acquire);

	return s != priv_of(p)->last[i] ? 1 : -EAGAIN;
}

SHMK_API int shmk_bb_changed(struct shmk_port *p, const void *key)
{
	int i, ret;

	if (!is_bb(p) || !key)
		return -EINVAL;
	i = lookup(p, key);
	if (i < 0)
		return i;
	ret = entry_changed(p, (uint32_t)i);
	return ret == 1 ? 1 : 0;
}

static int changed_try(struct shmk_port *p, void *arg)
{
	int ret = entry_changed(p, *(const uint32_t *)arg);

	return ret == 1 ? 0 : ret;
}

SHMK_API int shmk_bb_wait(struct shmk_port *r, const void *key,
			  int64_t timeout_ns)
{
	uint32_t idx;
	int i;

	if (!r || r->role != ROLE_BB_READER || !key)
		return -EINVAL;
	i = lookup(r, key);
	if (i < 0)
		return i;
	idx = (uint32_t)i;
	return svc_block_on(r, changed_try, &idx, timeout_ns, SLEEP_DATA);
}

SHMK_API int shmk_bb_keys(struct shmk_port *p, void *keys, size_t max)
{
	struct bb_priv *b;

	if (!is_bb(p) || (max && !keys))
		return -EINVAL;
	b = priv_of(p);
	if (p->role == ROLE_BB_READER)
		priv_refresh(b, &p->v);
	if (max > b->known)
		max = b->known;
	if (max)
		memcpy(keys, b->keys, max * b->ksize);
	return (int)b->known;
}
