// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * White-box tests of the channel machinery (lib/chan.c): the state a
 * producer leaves when it dies between its ring-entry store and its tail
 * store (lib-audit #1), and positions started just below every wrap
 * point (lib-audit #2).  They include lib/svc.h to build or read that
 * state exactly.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "msgutil.h"
#include "../svc.h"

/* Chunk index of a payload address of port @p. */
static uint32_t chunk_of(const struct shmk_port *p, const void *pl)
{
	return (uint32_t)(((const unsigned char *)pl - p->v.chunks) /
			  p->v.g.stride);
}

static uint64_t holders(const struct shmk_service *s, uint32_t c)
{
	return atomic_load(holders_of(&s->v, c));
}

/*
 * Every loan of every port in @ps carries its owner's bit, and no chunk
 * is loaned by two ports.
 */
static void check_loans(const struct shmk_service *s, struct shmk_port **ps,
			int n)
{
	int a, b;
	uint32_t i, j;

	for (a = 0; a < n; a++) {
		for (i = 0; i < ps[a]->nloans; i++) {
			uint32_t c = ps[a]->loans[i];

			assert_true(c < s->v.g.nchunks);
			assert_true(holders(s, c) & SLOT_BIT(ps[a]->slot));
			for (b = 0; b < n; b++)
				for (j = 0; j < ps[b]->nloans; j++)
					if (a != b || i != j)
						assert_int_not_equal(c, ps[b]->loans[j]);
		}
	}
}

/*
 * In a child: open a publisher, loan a chunk, write a header and the
 * ring entry for the next position as prod_publish() does, and die
 * before the tail store.
 */
static void die_mid_publish(const char *name, int reqres)
{
	struct shmk_service *cs;
	struct shmk_port *p;
	struct msg_hdr *h;
	uint32_t c, ri = 0;
	void *pl;

	CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
	if (reqres)
		CHILD_CHECK(shmk_server_open(cs, &p) == 0);
	else
		CHILD_CHECK(shmk_pub_open(cs, &p) == 0);
	CHILD_CHECK(shmk_pub_loan(p, &pl) == 0);
	strcpy(pl, "NEVER PUBLISHED");
	c = chunk_of(p, pl);
	if (!reqres)
		ri = p->slot;	/* else client 0's response ring */
	{
		struct svc_prod *pr = prod_of(&p->v, (uint32_t)p->prod_ch, ri);
		uint64_t pos = atomic_load(&pr->tail);

		h = &p->v.hdrs[c];
		h->seq = pos;
		h->corr = 1;
		h->len = 16;
		h->origin = p->slot;
		h->origin_gen = p->gen;
		h->target = reqres ? 0 : NIL;
		h->target_gen = 1;
		atomic_store_explicit(&ring_of(&p->v, (uint32_t)p->prod_ch, ri)
				      [pos % p->v.g.cap], ent_make(pos, c),
				      memory_order_release);
	}
	raise(SIGKILL);
	_exit(3);
}

/* lib-audit #1 in publish-subscribe: a new generation in the slot. */
static void test_stale_entry(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub, *late, *p2, *b, *ps[2];
	struct shmk_sample smp;
	void *pa, *pb, *pl;
	uint32_t ca, cb, i;
	pid_t pid;

	(void)state;
	c.max_publishers = 2;
	c.max_subscribers = 2;
	c.buffer = 4;
	c.history = 4;
	c.payload_max = 64;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		die_mid_publish(name, 0);
	assert_int_equal(reap(pid), 128 + SIGKILL);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(shmk_service_chunks_used(s), 0);

	/* The new generation in slot 0, before it publishes anything. */
	assert_int_equal(shmk_pub_open(s, &p2), 0);
	assert_int_equal(shmk_port_slot(p2), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_pub_loan(p2, &pa), 0);
	ca = chunk_of(p2, pa);
	strcpy(pa, "loaned, not published");
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	/* A late subscriber (history 4) sees nothing either. */
	assert_int_equal(shmk_sub_open(s, &late), 0);
	assert_int_equal(shmk_sub_receive(late, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_sub_dropped(sub), 0);
	assert_int_equal(shmk_sub_dropped(late), 0);

	/* It publishes another chunk: its loan keeps its bit. */
	assert_int_equal(shmk_pub_loan(p2, &pb), 0);
	cb = chunk_of(p2, pb);
	strcpy(pb, "published");
	assert_int_equal(shmk_pub_publish(p2, pb, 10, 0), 0);
	assert_true(holders(s, ca) & SLOT_BIT(p2->slot));
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(smp.chunk, cb);
	assert_string_equal(smp.data, "published");
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_sub_receive(late, &smp, 0), 0);
	assert_int_equal(smp.chunk, cb);
	assert_int_equal(shmk_sub_release(late, &smp), 0);

	/* A second publisher: no chunk is loaned twice. */
	assert_int_equal(shmk_pub_open(s, &b), 0);
	ps[0] = p2;
	ps[1] = b;
	for (i = 0; i < 20; i++) {
		assert_int_equal(shmk_pub_loan(b, &pl), 0);
		check_loans(s, ps, 2);
		assert_int_equal(shmk_pub_publish(b, pl, 1, 0), 0);
		assert_int_equal(shmk_pub_loan(b, &pl), 0);
		check_loans(s, ps, 2);
		assert_int_equal(shmk_pub_discard(b, pl), 0);
		while (shmk_sub_receive(sub, &smp, 0) == 0)
			shmk_sub_release(sub, &smp);
		while (shmk_sub_receive(late, &smp, 0) == 0)
			shmk_sub_release(late, &smp);
		assert_true(holders(s, ca) & SLOT_BIT(p2->slot));
	}
	assert_int_equal(shmk_pub_publish(p2, pa, 5, 0), 0);
	shmk_port_close(b);
	shmk_port_close(p2);
	shmk_port_close(late);
	shmk_port_close(sub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* lib-audit #1 in request-response: the server dies mid-respond. */
static void test_stale_response(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv, *ps[2];
	struct shmk_sample smp;
	void *pa, *pb;
	uint32_t ca;
	uint64_t corr;
	pid_t pid;

	(void)state;
	c.max_publishers = 1;
	c.buffer = 4;
	c.payload_max = 64;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_port_slot(cl), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		die_mid_publish(name, 1);
	assert_int_equal(reap(pid), 128 + SIGKILL);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(shmk_service_chunks_used(s), 0);

	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_pub_loan(sv, &pa), 0);
	ca = chunk_of(sv, pa);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	/* A request, answered with another chunk: the loan keeps its bit. */
	assert_int_equal(shmk_pub_loan(cl, &pb), 0);
	assert_int_equal(shmk_client_send(cl, pb, 1, &corr), 0);
	assert_int_equal(shmk_server_receive(sv, &smp, 0), 0);
	assert_int_equal(shmk_pub_loan(sv, &pb), 0);
	assert_int_equal(shmk_server_respond(sv, &smp, pb, 2), 0);
	assert_int_equal(shmk_sub_release(sv, &smp), 0);
	assert_true(holders(s, ca) & SLOT_BIT(sv->slot));
	ps[0] = sv;
	ps[1] = cl;
	assert_int_equal(shmk_pub_loan(cl, &pb), 0);
	check_loans(s, ps, 2);
	assert_int_equal(shmk_pub_discard(cl, pb), 0);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), 0);
	assert_int_equal(smp.corr, corr);
	assert_int_equal(smp.len, 2);
	assert_int_equal(shmk_sub_release(cl, &smp), 0);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_pub_discard(sv, pa), 0);
	shmk_port_close(sv);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * Positions from @base (set white-box while every slot is free: a new
 * claimer continues from the ring's tail): publish, receive, a late
 * joiner, the backlog, through the wrap points near @base.
 */
static void run_from(uint64_t base, uint32_t overflow)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub, *late;
	struct shmk_sample smp;
	uint32_t i, n, used_max = 0;
	void *pl;

	c.max_publishers = 1;
	c.max_subscribers = 2;
	c.buffer = 4;
	c.history = 3;
	c.overflow = overflow;
	c.payload_max = 64;
	s = new_service(&c, name);
	atomic_store(&prod_of(&s->v, 0, 0)->tail, base);
	atomic_store(&prod_of(&s->v, 0, 0)->start, base);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	n = 3 * s->v.g.nchunks + 40;
	for (i = 0; i < n; i++) {
		uint32_t used;

		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		memcpy(pl, &i, 4);
		assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		assert_int_equal(smp.seq, base + i);
		assert_memory_equal(smp.data, &i, 4);
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
		used = shmk_service_chunks_used(s);
		if (used > used_max)
			used_max = used;
	}
	assert_int_equal(shmk_sub_dropped(sub), 0);
	/* The ring's references and nothing else. */
	assert_true(used_max <= s->v.g.cap + 1);
	/* A late joiner gets the last `history` samples. */
	assert_int_equal(shmk_sub_open(s, &late), 0);
	for (i = n - 3; i < n; i++) {
		assert_int_equal(shmk_sub_receive(late, &smp, 0), 0);
		assert_int_equal(smp.seq, base + i);
		assert_memory_equal(smp.data, &i, 4);
		assert_int_equal(shmk_sub_release(late, &smp), 0);
	}
	assert_int_equal(shmk_sub_receive(late, &smp, 0), -EAGAIN);
	/* Backlog: samples published, not yet received. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		assert_int_equal(shmk_pub_publish(pub, pl, 1, 0), 0);
	}
	assert_int_equal(shmk_service_backlog(s), 3);
	assert_int_equal(shmk_pub_drain(pub, 0), -EAGAIN);
	while (shmk_sub_receive(sub, &smp, 0) == 0)
		shmk_sub_release(sub, &smp);
	while (shmk_sub_receive(late, &smp, 0) == 0)
		shmk_sub_release(late, &smp);
	assert_int_equal(shmk_service_backlog(s), 0);
	assert_int_equal(shmk_pub_drain(pub, 0), 0);
	/* A new generation continues from the old tail. */
	shmk_port_close(pub);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(pub->start, base + n + 3);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(shmk_pub_publish(pub, pl, 1, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(smp.seq, base + n + 3);
	shmk_sub_release(sub, &smp);
	assert_int_equal(shmk_sub_dropped(sub), 0);
	shmk_port_close(late);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static void test_wrap_points(void **state)
{
	static const uint64_t bases[] = {
		(1ULL << 31) - 20, (1ULL << 32) - 20, (1ULL << 40) - 20,
		(3ULL << 40) - 7, (1ULL << 63) - 20,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		run_from(bases[i], SHMK_OVERFLOW_SAFE);
		run_from(bases[i], SHMK_OVERFLOW_BLOCK);
	}
}

/*
 * As if publisher @p had published @j more samples (a multiple of cap):
 * its tail, its ring's entries and their headers move on by @j.
 */
static void jump(struct shmk_service *s, struct shmk_port *p, uint64_t j)
{
	_Atomic uint64_t *ring = ring_of(&s->v, 0, p->slot);
	uint32_t cap = s->v.g.cap;
	uint64_t q;

	for (q = p->tail - cap; q < p->tail; q++) {
		uint64_t e = atomic_load(&ring[q % cap]);
		uint32_t c = ent_chunk(e);

		assert_true(ent_is(e, q));
		assert_true(c < s->v.g.nchunks);
		s->v.hdrs[c].seq = q + j;
		atomic_store(&ring[q % cap], ent_make(q + j, c));
	}
	p->tail += j;
	atomic_store(&prod_of(&s->v, 0, 0)->tail, p->tail);
}

/*
 * The audit's 2^31 publishes by one generation: its tail moved 2^31 past
 * its start (white-box), every publish still drops the oldest reference
 * (no leak, no -ENOMEM), and a late subscriber gets samples.
 */
static void test_long_generation(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *late;
	struct shmk_sample smp;
	uint64_t skip[] = { (1ULL << 31) - 10, 1ULL << 32, 1ULL << 40 };
	uint32_t i, k, n;
	void *pl;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.buffer = 4;
	c.history = 2;
	c.payload_max = 64;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	n = 3 * s->v.g.nchunks;
	for (k = 0; k < sizeof(skip) / sizeof(skip[0]); k++) {
		/* Publish a full ring first, so that its references move on. */
		for (i = 0; i < 2 * s->v.g.cap; i++) {
			assert_int_equal(shmk_pub_loan(pub, &pl), 0);
			assert_int_equal(shmk_pub_publish(pub, pl, 1, 0), 0);
		}
		jump(s, pub, skip[k] - skip[k] % s->v.g.cap);
		for (i = 0; i < n; i++) {
			assert_int_equal(shmk_pub_loan(pub, &pl), 0);
			memcpy(pl, &i, 4);
			assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
			/* The ring's references and the spare (keep_spare()). */
			assert_true(shmk_service_chunks_used(s) <= s->v.g.cap + 1);
		}
		assert_int_equal(shmk_sub_open(s, &late), 0);
		for (i = n - 2; i < n; i++) {
			assert_int_equal(shmk_sub_receive(late, &smp, 0), 0);
			assert_memory_equal(smp.data, &i, 4);
			assert_int_equal(smp.seq, pub->tail - n + i);
			shmk_sub_release(late, &smp);
		}
		assert_int_equal(shmk_sub_receive(late, &smp, 0), -EAGAIN);
		shmk_port_close(late);
	}
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * lib-audit #20: a pool with every chunk held by a live participant is
 * -EAGAIN (not -ENOMEM, which is malloc's), changes nothing, and the
 * loan succeeds once a chunk comes back.
 */
static void test_pool_empty(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	uint32_t i;
	void *pl;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	for (i = 0; i < s->v.g.nchunks; i++)
		atomic_store(holders_of(&s->v, i), SLOT_BIT(sub->slot));
	pl = &pl;
	assert_int_equal(shmk_pub_loan(pub, &pl), -EAGAIN);
	assert_ptr_equal(pl, &pl);
	assert_int_equal(pub->nloans, 0);
	assert_true(shmk_last_error()[0] != 0);
	for (i = 0; i < s->v.g.nchunks; i++)
		assert_int_equal(holders(s, i), SLOT_BIT(sub->slot));
	assert_int_equal(shmk_client_send(pub, pl, 1, NULL), -EINVAL);
	atomic_store(holders_of(&s->v, 3), 0);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(chunk_of(pub, pl), 3);
	assert_int_equal(shmk_pub_publish(pub, pl, 1, 0), 0);
	for (i = 0; i < s->v.g.nchunks; i++)
		atomic_fetch_and(holders_of(&s->v, i), ~SLOT_BIT(sub->slot));
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * lib-audit #17: mark the SHMK_CACHELINE_PAD-byte blocks of [@a, @a + @n)
 * as written by @who; fail if another writer has one of them.
 */
static void mark(const struct shmk_service *s, uint32_t *owner, const void *a,
		 size_t n, uint32_t who)
{
	const unsigned char *base = (const unsigned char *)s->v.sh;
	uint64_t lo = (uint64_t)((const unsigned char *)a - base), b;

	assert_true(n > 0 && lo + n <= s->v.g.hdrs_off);
	for (b = lo / SHMK_CACHELINE_PAD; b <= (lo + n - 1) / SHMK_CACHELINE_PAD;
	     b++) {
		if (owner[b] && owner[b] != who)
			fail_msg("block at %llu written by %u and %u",
				 (unsigned long long)b * SHMK_CACHELINE_PAD,
				 owner[b], who);
		owner[b] = who;
	}
}

/*
 * lib-audit #17: what different participants write on the data path
 * (wake words of different slots, rings and tails of different producers,
 * cursor rows of different consumers, event rows of different listeners,
 * pending rows of different clients) never shares a
 * SHMK_CACHELINE_PAD-byte block, for several geometries.
 */
static void test_no_false_sharing(void **state)
{
	static const struct {
		uint32_t kind, na, ns, buffer, history, events;
	} cf[] = {
		{ SHMK_SVC_PUBSUB, 0, 0, 0, 0, 0 },	/* defaults: 4 + 4, 8 */
		{ SHMK_SVC_PUBSUB, 1, 1, 1, 0, 0 },
		{ SHMK_SVC_PUBSUB, 3, 5, 17, 20, 0 },
		{ SHMK_SVC_PUBSUB, 30, 34, 2, 0, 0 },
		{ SHMK_SVC_PUBSUB, 7, 1, 16, 0, 0 },
		{ SHMK_SVC_REQRES, 4, 1, 0, 0, 0 },
		{ SHMK_SVC_REQRES, 9, 1, 3, 0, 0 },
		{ SHMK_SVC_REQRES, 5, 3, 4, 0, 0 },	/* several servers */
		{ SHMK_SVC_PUBSUB, 3, 200, 2, 0, 0 },	/* masks of 4 words */
		{ SHMK_SVC_REQRES, 130, 9, 2, 0, 0 },	/* 3 words, 9 servers */
		{ SHMK_SVC_EVENT, 0, 0, 0, 0, 0 },	/* 64 ids: 2 words */
		{ SHMK_SVC_EVENT, 7, 9, 0, 0, 100 },
		{ SHMK_SVC_EVENT, 2, 2, 0, 0, 1 },
	};
	char name[SHMK_SVC_NAME_MAX];
	size_t t;

	(void)state;
	for (t = 0; t < sizeof(cf) / sizeof(cf[0]); t++) {
		struct shmk_svc_config c = cfg_of(cf[t].kind);
		struct shmk_service *s;
		const struct svc_view *v;
		uint32_t *owner, M, ch, i, j, slots;

		c.max_publishers = cf[t].na;
		c.max_subscribers = cf[t].ns;
		c.buffer = cf[t].buffer;
		c.history = cf[t].history;
		c.max_events = cf[t].events;
		s = new_service(&c, name);
		v = &s->v;
		M = v->g.nslots;
		owner = calloc(v->g.hdrs_off / SHMK_CACHELINE_PAD + 1,
			       sizeof(*owner));
		assert_non_null(owner);
		slots = 1;
		for (i = 0; i < M; i++)
			mark(s, owner, &v->slots[i].wake, 4, slots + i);
		/* Each per-slot mask on lines of its own (layout 6). */
		for (i = 0; i < MASK_N; i++)
			mark(s, owner, mask_of(v, (int)i),
			     (size_t)v->g.mwords * 8, 300000 + i);
		for (ch = 0; ch < v->g.nchan; ch++)
			for (i = 0; i < M; i++) {
				uint32_t who = 1000 + ch * M + i;

				mark(s, owner, prod_of(v, ch, i),
				     sizeof(struct svc_prod), who);
				mark(s, owner, ring_of(v, ch, i),
				     (size_t)v->g.cap * 8, who);
			}
		/* Cursors: consumers x producers (svc.h, cursor_at()). */
		for (ch = 0; ch < v->g.nchan; ch++)
			for (j = ch ? 0 : c.max_publishers;
			     j < (ch ? c.max_publishers : M); j++)
				for (i = ch ? c.max_publishers + ch - 1 : 0;
				     i < (ch ? c.max_publishers + ch :
					  c.max_publishers); i++)
					mark(s, owner, cursor_at(v, ch, j, i), 8,
					     100000 + ch * M + j);
		for (j = 0; j < M && cf[t].kind == SHMK_SVC_EVENT; j++)
			mark(s, owner, events_of(v, j), (size_t)v->g.ewords * 4,
			     200000 + j);
		/* Layout 6: each client's pending row, written by it alone. */
		for (j = 0; cf[t].kind == SHMK_SVC_REQRES &&
			    j < v->cfg.max_publishers; j++)
			mark(s, owner, pend_of(v, j), PEND_ROW, 300000 + j);
		free(owner);
		drop_service(s, name);
	}
}

/*
 * Warm loans (issue 12): a publisher gets back the chunk it last gave
 * back, not the next one round the pool.  With buffer 1 its ring keeps
 * the last sample, so a publisher whose subscriber keeps up alternates
 * between two chunks: the one its ring references and the spare, the
 * ring's reference the last publish kept because nobody else held that
 * chunk (keep_spare()).  A discarded loan comes back at once.  What the
 * subscriber receives is unchanged.
 */
static void test_warm_loans(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	uint32_t got[8], i;
	void *pl, *again;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.buffer = 1;
	c.max_loans = 1;
	c.max_borrow = 1;
	s = new_service(&c, name);
	assert_true(s->v.g.nchunks > 3);	/* round robin would move on */
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		got[i] = chunk_of(pub, pl);
		memcpy(pl, &i, sizeof(i));
		assert_int_equal(shmk_pub_publish(pub, pl, sizeof(i), 0), 0);
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		assert_int_equal(smp.chunk, got[i]);
		assert_int_equal(smp.seq, i);
		assert_memory_equal(smp.data, &i, sizeof(i));
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
		/* The ring's reference on the last sample, and the spare. */
		assert_int_equal(holders(s, got[i]), SLOT_BIT(pub->slot));
		if (i) {
			assert_int_equal(holders(s, got[i - 1]),
					 SLOT_BIT(pub->slot));
			assert_int_equal(pub->spare, got[i - 1]);
		}
	}
	assert_int_not_equal(got[0], got[1]);
	for (i = 2; i < 8; i++)
		assert_int_equal(got[i], got[i - 2]);
	assert_int_equal(shmk_service_chunks_used(s), 2);
	/* A discarded loan is the next one. */
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(chunk_of(pub, pl), got[6]);
	assert_int_equal(pub->spare, NIL);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(holders(s, got[6]), 0);
	assert_int_equal(shmk_pub_loan(pub, &again), 0);
	assert_ptr_equal(again, pl);
	assert_int_equal(shmk_pub_discard(pub, again), 0);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* Publish @len bytes of @v from a fresh loan of @pub: the chunk. */
static uint32_t pub_one(struct shmk_port *pub, size_t len, unsigned char v)
{
	void *pl;
	uint32_t c;

	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	c = chunk_of(pub, pl);
	memset(pl, v, len);
	assert_int_equal(shmk_pub_publish(pub, pl, len, 0), 0);
	return c;
}

/* Receive one sample of @len bytes of @v, and release it. */
static void sub_one(struct shmk_port *sub, size_t len, unsigned char v)
{
	struct shmk_sample smp;

	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(smp.len, len);
	assert_int_equal(((unsigned char *)smp.data)[0], v);
	assert_int_equal(((unsigned char *)smp.data)[len - 1], v);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
}

/*
 * The spare (issue 12, keep_spare()): a publish that overwrites a sample
 * nobody else holds keeps the ring's reference on its chunk as the
 * publisher's, and the next loan takes that chunk without touching its
 * holders word.  Also when the sample was never taken (the subscriber
 * skips it); not while a subscriber holds it (the sample stays intact);
 * not a second spare while one is kept; not after a publish of 64 KiB or
 * more (loan_reuse() takes back that chunk instead).  A discarded spare
 * is free, and closing the port frees a spare it kept.
 */
static void test_spare_loans(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	uint32_t c0, c1, c2, c3;
	uint64_t pb;
	void *pl, *pl2;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.buffer = 1;
	c.max_loans = 2;
	c.max_borrow = 1;
	c.payload_max = 65536;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	pb = SLOT_BIT(pub->slot);
	/* The ring not yet full: nothing overwritten, no spare. */
	c0 = pub_one(pub, 8, 1);
	assert_int_equal(pub->spare, NIL);
	sub_one(sub, 8, 1);
	/* Overwritten, taken and released: kept, and the next loan. */
	c1 = pub_one(pub, 8, 2);
	assert_int_equal(pub->spare, c0);
	assert_int_equal(holders(s, c0), pb);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(chunk_of(pub, pl), c0);
	assert_int_equal(pub->spare, NIL);
	assert_int_equal(holders(s, c0), pb);
	/* A second loan comes from the pool. */
	assert_int_equal(shmk_pub_loan(pub, &pl2), 0);
	c2 = chunk_of(pub, pl2);
	assert_int_not_equal(c2, c0);
	assert_int_not_equal(c2, c1);
	/* Overwritten but never taken: kept too. */
	memset(pl, 3, 8);
	assert_int_equal(shmk_pub_publish(pub, pl, 8, 0), 0);
	assert_int_equal(pub->spare, c1);
	/* A spare is kept already: the next overwritten one is dropped. */
	memset(pl2, 4, 8);
	assert_int_equal(shmk_pub_publish(pub, pl2, 8, 0), 0);
	assert_int_equal(pub->spare, c1);
	assert_int_equal(holders(s, c0), 0);
	sub_one(sub, 8, 4);		/* skips the samples of 2 and 3 */
	/* A discarded spare is free. */
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(chunk_of(pub, pl), c1);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(holders(s, c1), 0);
	assert_int_equal(pub->spare, NIL);
	/* Held by the subscriber when overwritten: dropped, not kept. */
	c0 = pub_one(pub, 8, 6);
	assert_int_equal(pub->spare, c2);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(smp.chunk, c0);
	assert_int_equal(pub_one(pub, 8, 7), c2);
	assert_int_equal(pub->spare, NIL);
	assert_int_equal(holders(s, c0), SLOT_BIT(sub->slot));
	assert_int_not_equal(pub_one(pub, 8, 8), c0);
	assert_int_equal(pub->spare, c2);
	assert_int_equal(((unsigned char *)smp.data)[7], 6);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_int_equal(holders(s, c0), 0);
	sub_one(sub, 8, 8);
	/* After 64 KiB: no spare; loan_reuse() takes back that chunk. */
	c3 = pub_one(pub, 65536, 9);
	assert_int_equal(c3, c2);
	assert_int_equal(pub->spare, NIL);
	sub_one(sub, 65536, 9);
	assert_int_equal(pub_one(pub, 65536, 10), c3);
	assert_int_equal(pub->spare, NIL);
	sub_one(sub, 65536, 10);
	/* A spare at close goes with the port. */
	assert_int_equal(pub_one(pub, 8, 11), c3);
	sub_one(sub, 8, 11);
	pub_one(pub, 8, 12);
	assert_int_equal(pub->spare, c3);
	sub_one(sub, 8, 12);
	assert_int_equal(shmk_service_chunks_used(s), 2);
	shmk_port_close(pub);
	shmk_port_close(sub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * Issue 12: after a publish of 64 KiB or more, a loan takes back the
 * chunk just published once every subscriber has taken and released it
 * (loan_reuse()), so a publisher whose subscribers keep up writes one
 * chunk, as a plain ping-pong reuses one buffer.  Not while a subscriber
 * holds it or has yet to take it, not after a small publish, not with
 * history; the ring entry it leaves is a tombstone that no publish drops
 * again and that a late reader skips as dropped.
 */
static void test_reuse_loans(void **state)
{
	static const size_t big = 65536;
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	uint32_t c0, c1, i;
	uint64_t d;
	void *pl;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.buffer = 1;
	c.max_loans = 1;
	c.max_borrow = 1;
	c.payload_max = big;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	/* Taken and released each time: one chunk, over and over. */
	c0 = pub_one(pub, big, 1);
	sub_one(sub, big, 1);
	for (i = 2; i < 10; i++) {
		assert_int_equal(pub_one(pub, big, (unsigned char)i), c0);
		/* The ring's reference again (the tombstone was not dropped). */
		assert_int_equal(holders(s, c0), SLOT_BIT(pub->slot));
		sub_one(sub, big, (unsigned char)i);
	}
	assert_int_equal(shmk_service_chunks_used(s), 1);
	/* Held by the subscriber: another chunk; the sample stays intact. */
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	c1 = pub_one(pub, big, 20);
	assert_int_equal(c1, c0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_not_equal(pub_one(pub, big, 21), c0);
	assert_int_equal(((unsigned char *)smp.data)[big - 1], 20);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	sub_one(sub, big, 21);
	/* Not yet taken: another chunk, and the subscriber gets both. */
	c0 = pub_one(pub, big, 22);
	assert_int_not_equal(pub_one(pub, big, 23), c0);
	d = sub->dropped;
	sub_one(sub, big, 23);
	assert_int_equal(sub->dropped, d + 1);
	/* A small publish: the warm scan, which alternates (cap 1). */
	c0 = pub_one(pub, 64, 30);
	sub_one(sub, 64, 30);
	c1 = pub_one(pub, big, 31);
	assert_int_not_equal(c1, c0);
	sub_one(sub, big, 31);
	/* A reader left behind the tombstone skips position q as dropped. */
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(chunk_of(pub, pl), c1);
	d = sub->dropped;
	atomic_store(cursor_at(&s->v, 0, sub->slot, pub->slot), pub->tail - 1);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	assert_int_equal(sub->dropped, d + 1);
	/* A discarded reused loan is free; nothing is dropped twice. */
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(holders(s, c1), 0);
	c0 = pub_one(pub, 64, 40);
	assert_int_equal(holders(s, c0), SLOT_BIT(pub->slot));
	sub_one(sub, 64, 40);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
	/* With history, the ring keeps its samples for late joiners. */
	c.history = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	c0 = pub_one(pub, big, 50);
	sub_one(sub, big, 50);
	assert_int_not_equal(pub_one(pub, big, 51), c0);
	sub_one(sub, big, 51);
	shmk_port_close(sub);
	shmk_port_close(pub);
	drop_service(s, name);
}

/*
 * loan_reuse() and the spare against subscribers in other threads: a
 * publisher of 64 KiB samples (loan_reuse()) or 4 KiB ones (the spare,
 * keep_spare()), every 4 KiB word and the last one stamped with the
 * sample's number, and two subscribers that sometimes keep a sample a
 * while.  A chunk taken back while a subscriber still held it, or before
 * one took it, shows as a torn sample (and to ThreadSanitizer as a data
 * race); every sample is received or counted as dropped.
 */
struct reuse_arg {
	struct shmk_service *s;
	uint32_t n;
	size_t len;
	_Atomic int joined, done;
	_Atomic uint64_t got, dropped;
	_Atomic uint64_t rel[2];	/* each subscriber's last released */
};

#define REUSE_LEN	65536

static void *reuse_sub(void *arg)
{
	struct reuse_arg *a = arg;
	struct shmk_port *sub = NULL;
	struct shmk_sample smp;
	uint64_t last = 0, seen = 0;
	size_t w;
	int me;

	if (shmk_sub_open(a->s, &sub))
		return (void *)1;
	me = atomic_fetch_add(&a->joined, 1);
	for (;;) {
		int r = shmk_sub_receive(sub, &smp, 1000000);
		const uint64_t *d;

		if (r == -ETIMEDOUT || r == -EAGAIN) {
			/* Acquire: the publisher's last publish is visible. */
			if (atomic_load_explicit(&a->done, memory_order_acquire) &&
			    shmk_sub_receive(sub, &smp, 0) == -EAGAIN)
				break;
			continue;
		}
		if (r || smp.len != a->len)
			return (void *)2;
		d = smp.data;	/* only now: set by a successful receive */
		for (w = 0; w < a->len / 8; w += 512)
			if (d[w] != d[0])
				return (void *)3;
		if (d[a->len / 8 - 1] != d[0] || d[0] <= last)
			return (void *)4;
		last = d[0];
		seen++;
		if (seen % 7 == 0)
			sched_yield();	/* keep it while the publisher goes on */
		if (d[0] != last || d[a->len / 8 - 1] != last)
			return (void *)5;
		shmk_sub_release(sub, &smp);
		/* Release: pairs with the publisher's acquire load. */
		atomic_store_explicit(&a->rel[me], last, memory_order_release);
	}
	atomic_fetch_add(&a->got, seen);
	atomic_fetch_add(&a->dropped, shmk_sub_dropped(sub));
	shmk_port_close(sub);
	return NULL;
}

static void reuse_race(size_t len)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct reuse_arg a = { .n = (uint32_t)scaled(4000), .len = len };
	pthread_t t[2];
	struct shmk_port *pub;
	uint64_t i, w, reused = 0, spared = 0, prev = NIL;
	void *ret, *pl;
	int k;

	c.max_publishers = 1;
	c.max_subscribers = 2;
	c.buffer = 2;
	c.max_loans = 1;
	c.max_borrow = 1;
	c.payload_max = len;
	a.s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(a.s, &pub), 0);
	for (k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&t[k], NULL, reuse_sub, &a), 0);
	/* Both subscribers joined: they get every sample from here. */
	while (atomic_load(&a.joined) < 2)
		sched_yield();
	for (i = 1; i <= a.n; i++) {
		uint64_t *d;
		uint32_t ch;

		spared += pub->spare != NIL;
		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		ch = chunk_of(pub, pl);
		reused += ch == prev;
		d = pl;
		for (w = 0; w < len / 8; w += 512)
			d[w] = i;
		d[len / 8 - 1] = i;
		assert_int_equal(shmk_pub_publish(pub, pl, len, 0), 0);
		prev = ch;
		if (i % 3 == 0)
			sched_yield();
		/*
		 * Every 8th sample, wait until both subscribers have released
		 * it: the next loan must take its chunk back (64 KiB), or the
		 * publish that overwrites it keep it as the spare (4 KiB),
		 * whatever the scheduling (the others race).  Acquire: pairs
		 * with the subscribers' release stores.
		 */
		while (i % 8 == 0 &&
		       (atomic_load_explicit(&a.rel[0], memory_order_acquire) < i ||
			atomic_load_explicit(&a.rel[1], memory_order_acquire) < i))
			sched_yield();
	}
	/* Release: pairs with the subscribers' acquire of done. */
	atomic_store_explicit(&a.done, 1, memory_order_release);
	for (k = 0; k < 2; k++) {
		assert_int_equal(pthread_join(t[k], &ret), 0);
		assert_ptr_equal(ret, NULL);
	}
	shmk_port_close(pub);
	print_message("    %zu B: %llu of %u loans took back the last chunk, "
		      "%llu took the spare; received %llu, dropped %llu\n",
		      len, (unsigned long long)reused, a.n,
		      (unsigned long long)spared,
		      (unsigned long long)atomic_load(&a.got),
		      (unsigned long long)atomic_load(&a.dropped));
	assert_int_equal(atomic_load(&a.got) + atomic_load(&a.dropped),
			 2ULL * a.n);
	/*
	 * The loans after samples 8, 16, ... below n take their chunk back
	 * whatever the scheduling: (n - 1) / 8 of them (the loan after
	 * sample n never comes; this said n / 8, and failed once under
	 * TSan with exactly 249 of 2,000).  Any more are the races'.
	 */
	if (len >= 65536) {
		assert_true(reused >= (a.n - 1) / 8);
		assert_int_equal(spared, 0);
	} else {
		/*
		 * Sample 8k, released by both, is overwritten by the publish
		 * of 8k + 2 (buffer 2), which keeps its chunk; the loan of
		 * 8k + 3 takes it: (n - 3) / 8 of them at least.
		 */
		assert_true(spared >= (a.n - 3) / 8);
	}
	assert_int_equal(shmk_service_chunks_used(a.s), 0);
	drop_service(a.s, name);
}

static void test_reuse_race(void **state)
{
	(void)state;
	reuse_race(REUSE_LEN);
}

static void test_spare_race(void **state)
{
	(void)state;
	reuse_race(4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_entry),
		cmocka_unit_test(test_stale_response),
		cmocka_unit_test(test_wrap_points),
		cmocka_unit_test(test_long_generation),
		cmocka_unit_test(test_no_false_sharing),
		cmocka_unit_test(test_pool_empty),
		cmocka_unit_test(test_warm_loans),
		cmocka_unit_test(test_spare_loans),
		cmocka_unit_test(test_reuse_loans),
		cmocka_unit_test(test_reuse_race),
		cmocka_unit_test(test_spare_race),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("chan", tests, NULL, NULL);
}
