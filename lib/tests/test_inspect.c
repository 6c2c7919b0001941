// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk_service_inspect() (lib/inspect.c): each participant's role, state,
 * pid, lag and drops for the three patterns; a killed participant shown
 * gone and left for recovery; the size rule of its struct; bad
 * arguments; and a hostile layout: random values in every shared word
 * inspect reads never crash it, never make it loop, never give a figure
 * out of its documented bounds, and inspect writes nothing.
 *
 * Reads the private layout (lib/svc.h) to corrupt it: built with -Ilib.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include "msgutil.h"
#include "svc.h"

#define NINFO	SHMK_SVC_SLOTS_MAX

static int inspect(struct shmk_service *s, struct shmk_participant_info *e,
		   size_t max)
{
	memset(e, 0xa5, max * sizeof(*e));
	if (max)
		e[0].size = sizeof(*e);
	return shmk_service_inspect(s, e, max);
}

static void test_empty_and_args(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_participant_info e[2];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s = new_service(&c, name);

	(void)state;
	assert_int_equal(shmk_service_inspect(s, NULL, 0), 0);
	assert_int_equal(inspect(s, e, 2), 0);
	assert_int_equal(shmk_service_inspect(NULL, e, 2), -EINVAL);
	assert_string_equal(shmk_last_error(), "s: NULL");
	assert_int_equal(shmk_service_inspect(s, NULL, 1), -EINVAL);
	assert_string_equal(shmk_last_error(), "out: NULL with max > 0");
	e[0].size = SHMK_PARTICIPANT_INFO_SIZE_V0 - 1;
	assert_int_equal(shmk_service_inspect(s, e, 2), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "out[0].size"));
	e[0].size = 4097;
	assert_int_equal(shmk_service_inspect(s, e, 2), -EINVAL);
	e[0].size = 0;
	assert_int_equal(shmk_service_inspect(s, e, 2), -EINVAL);
	assert_string_equal(shmk_role_name(SHMK_ROLE_LISTENER), "listener");
	assert_string_equal(shmk_role_name(0), "?");
	assert_string_equal(shmk_role_name(9), "?");
	drop_service(s, name);
}

static void test_pubsub(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_participant_info e[NINFO];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub1, *sub2;
	struct shmk_sample smp;
	int i, n;

	(void)state;
	c.buffer = 4;
	c.max_publishers = 2;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub1), 0);
	assert_int_equal(shmk_sub_open(s, &sub2), 0);
	n = inspect(s, e, NINFO);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].slot, (uint32_t)shmk_port_slot(pub));
	assert_int_equal(e[0].role, SHMK_ROLE_PUBLISHER);
	assert_int_equal(e[1].role, SHMK_ROLE_SUBSCRIBER);
	assert_int_equal(e[2].role, SHMK_ROLE_SUBSCRIBER);
	assert_int_equal(e[1].slot, (uint32_t)shmk_port_slot(sub1));
	for (i = 0; i < n; i++) {
		assert_int_equal(e[i].size, sizeof(e[i]));
		assert_int_equal(e[i].state, SHMK_PART_ALIVE);
		assert_int_equal(e[i].pid, (uint32_t)getpid());
		assert_true(e[i].flags & SHMK_PART_PID);
		assert_false(e[i].flags & SHMK_PART_GONE);
		assert_int_not_equal(e[i].generation, 0);
		assert_int_equal(e[i].lag, 0);
		assert_int_equal(e[i].drops, 0);
	}
	assert_true(e[0].flags & SHMK_PART_PRODUCER);
	assert_true(e[1].flags & SHMK_PART_CONSUMER);

	/* Three published: everybody lags 3. */
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_pub_send_copy(pub, "abc", 3, 0), 0);
	assert_int_equal(inspect(s, e, NINFO), 3);
	assert_int_equal(e[0].published, 3);
	assert_int_equal(e[0].lag, 3);
	assert_int_equal(e[1].lag, 3);
	assert_int_equal(e[2].lag, 3);

	/* sub1 takes one: it lags 2, the publisher still 3 (sub2). */
	assert_int_equal(shmk_sub_receive(sub1, &smp, 0), 0);
	assert_int_equal(shmk_sub_release(sub1, &smp), 0);
	assert_int_equal(inspect(s, e, NINFO), 3);
	assert_int_equal(e[1].lag, 2);
	assert_int_equal(e[2].lag, 3);
	assert_int_equal(e[0].lag, 3);

	/* Seven more (10 in all, ring of 4): sub2 lost 6, lags 4. */
	for (i = 0; i < 7; i++)
		assert_int_equal(shmk_pub_send_copy(pub, "abc", 3, 0), 0);
	assert_int_equal(inspect(s, e, NINFO), 3);
	assert_int_equal(e[0].published, 10);
	assert_int_equal(e[2].lag, 4);
	assert_int_equal(e[2].drops, 6);
	assert_int_equal(e[1].lag, 4);
	assert_int_equal(e[1].drops, 5);
	/* ...which it counts when it next receives. */
	assert_int_equal(shmk_sub_receive(sub2, &smp, 0), 0);
	assert_int_equal(shmk_sub_release(sub2, &smp), 0);
	assert_int_equal(shmk_sub_dropped(sub2), 6);
	assert_int_equal(inspect(s, e, NINFO), 3);
	assert_int_equal(e[2].drops, 0);
	assert_int_equal(e[2].lag, 3);

	/* Room for one: the count is still all of them; e[1] untouched. */
	memset(e, 0x5a, sizeof(e));
	e[0].size = sizeof(e[0]);
	assert_int_equal(shmk_service_inspect(s, e, 1), 3);
	assert_int_equal(e[0].role, SHMK_ROLE_PUBLISHER);
	assert_int_equal(e[1].slot, 0x5a5a5a5aU);

	/* The publisher leaves: what sub2 did not take is lost to it. */
	shmk_port_close(pub);
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(e[1].role, SHMK_ROLE_SUBSCRIBER);
	assert_int_equal(e[1].lag, 0);
	assert_int_equal(e[1].drops, 3);
	shmk_port_close(sub1);
	shmk_port_close(sub2);
	assert_int_equal(inspect(s, e, NINFO), 0);
	drop_service(s, name);
}

/* A newer header's larger struct: the stride is its size, the rest 0. */
static void test_size_rule(void **state)
{
	struct big {
		struct shmk_participant_info i;
		uint64_t future[3];
	} b[3];
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s = new_service(&c, name);
	struct shmk_port *n1, *l1;

	(void)state;
	assert_int_equal(shmk_notifier_open(s, &n1), 0);
	assert_int_equal(shmk_listener_open(s, &l1), 0);
	memset(b, 0xee, sizeof(b));
	b[0].i.size = sizeof(b[0]);
	assert_int_equal(shmk_service_inspect(s, &b[0].i, 3), 2);
	assert_int_equal(b[0].i.size, sizeof(struct shmk_participant_info));
	assert_int_equal(b[1].i.size, sizeof(struct shmk_participant_info));
	assert_int_equal(b[0].i.role, SHMK_ROLE_NOTIFIER);
	assert_int_equal(b[1].i.role, SHMK_ROLE_LISTENER);
	assert_int_equal(b[0].future[0], 0);
	assert_int_equal(b[1].future[2], 0);
	assert_int_equal(b[2].future[0], 0xeeeeeeeeeeeeeeeeULL);

	/* Listener lag: event ids pending. */
	assert_int_equal(shmk_notifier_notify(n1, 3), 1);
	assert_int_equal(shmk_notifier_notify(n1, 40), 1);
	assert_int_equal(shmk_notifier_notify(n1, 3), 1);
	b[0].i.size = sizeof(b[0]);
	assert_int_equal(shmk_service_inspect(s, &b[0].i, 3), 2);
	assert_int_equal(b[1].i.lag, 2);
	assert_int_equal(b[0].i.lag, 0);
	shmk_port_close(n1);
	shmk_port_close(l1);
	drop_service(s, name);
}

static void test_reqres(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	struct shmk_participant_info e[NINFO];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s = new_service(&c, name);
	struct shmk_port *cl, *sv;
	struct shmk_sample req;
	uint64_t corr;
	void *pl;

	(void)state;
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 1, &corr), 0);
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(e[0].role, SHMK_ROLE_CLIENT);
	assert_int_equal(e[1].role, SHMK_ROLE_SERVER);
	assert_int_equal(e[0].published, 1);
	assert_int_equal(e[1].lag, 1);
	assert_int_equal(e[0].lag, 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(shmk_pub_loan(sv, &pl), 0);
	assert_int_equal(shmk_server_respond(sv, &req, pl, 1), 0);
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(e[1].lag, 0);
	assert_int_equal(e[1].published, 1);
	assert_int_equal(e[0].lag, 1);
	shmk_port_close(cl);
	shmk_port_close(sv);
	drop_service(s, name);
}

/* A blackboard: a writer and readers, no figures. */
static void test_blackboard(void **state)
{
	struct shmk_svc_config c;
	struct shmk_participant_info e[NINFO];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *w, *r;

	(void)state;
	shmk_bb_config(&c, 4, 8, 64, 2);
	s = new_service(&c, name);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(shmk_bb_reader_open(s, &r), 0);
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(e[0].role, SHMK_ROLE_WRITER);
	assert_int_equal(e[1].role, SHMK_ROLE_READER);
	assert_string_equal(shmk_role_name(e[0].role), "writer");
	assert_string_equal(shmk_role_name(e[1].role), "reader");
	assert_int_equal(e[1].state, SHMK_PART_ALIVE);
	assert_int_equal(e[1].flags & (SHMK_PART_PRODUCER | SHMK_PART_CONSUMER), 0);
	shmk_port_close(w);
	shmk_port_close(r);
	drop_service(s, name);
}

/* A subscriber killed in a child: gone, counted by shmk_service_dead(). */
static void test_killed(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_participant_info e[NINFO];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s = new_service(&c, name);
	struct shmk_port *pub;
	int fds[2], st;
	pid_t pid;
	char b;

	(void)state;
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_service *cs;
		struct shmk_port *sub;

		if (shmk_service_open(name, NULL, 0, &cs) ||
		    shmk_sub_open(cs, &sub))
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(fds[0], &b, 1), 1);
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(e[1].pid, (uint32_t)pid);
	assert_false(e[1].flags & SHMK_PART_GONE);
	assert_int_equal(shmk_service_dead(s), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(e[1].role, SHMK_ROLE_SUBSCRIBER);
	assert_int_equal(e[1].pid, (uint32_t)pid);
	assert_true(e[1].flags & SHMK_PART_GONE);
	assert_false(e[0].flags & SHMK_PART_GONE);
	assert_int_equal(shmk_service_dead(s), 1);
	/* Reported, not reclaimed: still there until recovery. */
	assert_int_equal(inspect(s, e, NINFO), 2);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(inspect(s, e, NINFO), 1);
	close(fds[0]);
	close(fds[1]);
	shmk_port_close(pub);
	drop_service(s, name);
}

/* xorshift64: reproducible corruption. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint64_t nasty(uint64_t *x)
{
	static const uint64_t v[] = { 0, 1, 2, 3, 7, 8, 0xffffffffULL,
		0x100000000ULL, ~0ULL, ~0ULL - 1, 1ULL << 63, (1ULL << 63) - 1,
		ST_ALIVE, ST_ALIVE | 1, ST_DEAD | 5, ST_CLAIM | 3,
		ST_RECLAIM | 9, 0xf0000000ULL, 1U << 22, (1U << 22) + 1 };
	uint64_t r = rnd(x);

	return r & 1 ? v[(r >> 1) % (sizeof(v) / sizeof(v[0]))] : rnd(x);
}

/*
 * Corrupt one random shared word inspect reads: a slot's state, pid or
 * gen, a ring's tail or start, a cursor, an event word.
 */
static void corrupt_one(const struct svc_view *v, uint64_t *x)
{
	uint32_t M = v->g.nslots, k = (uint32_t)(rnd(x) % M);
	uint32_t ch = v->g.nchan ? (uint32_t)(rnd(x) % v->g.nchan) : 0;
	uint32_t j = (uint32_t)(rnd(x) % M);
	uint64_t val = nasty(x);

	switch (rnd(x) % (v->g.nchan ? 6 : 3)) {
	case 0:
		atomic_store(&v->slots[k].state, (uint32_t)val);
		break;
	case 1:
		atomic_store(&v->slots[k].pid, (uint32_t)val);
		break;
	case 2:
		if (v->g.ewords)
			atomic_store(&events_of(v, k)[rnd(x) % v->g.ewords],
				     (uint32_t)val);
		else
			atomic_store(&v->slots[k].gen, (uint32_t)val);
		break;
	case 3:
		atomic_store(&prod_of(v, ch, k)->tail, val);
		break;
	case 4:
		atomic_store(&prod_of(v, ch, k)->start, val);
		break;
	default:
		atomic_store(cursor_at(v, ch, j, k), val);
		break;
	}
}

static void hostile_kind(uint32_t kind, uint64_t seed)
{
	struct shmk_svc_config c = cfg_of(kind);
	struct shmk_participant_info e[NINFO + 1];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *a, *b;
	const struct svc_view *v;
	unsigned long it, iters = scaled(3000);
	unsigned char *copy;
	uint64_t x = seed;
	size_t bytes;
	int n, i;

	c.buffer = 4;
	s = new_service(&c, name);
	v = &s->v;
	/* Live ports in slots, so the figures take every branch. */
	if (kind == SHMK_SVC_PUBSUB) {
		assert_int_equal(shmk_pub_open(s, &a), 0);
		assert_int_equal(shmk_sub_open(s, &b), 0);
	} else if (kind == SHMK_SVC_REQRES) {
		assert_int_equal(shmk_client_open(s, &a), 0);
		assert_int_equal(shmk_server_open(s, &b), 0);
	} else if (kind == SHMK_SVC_EVENT) {
		assert_int_equal(shmk_notifier_open(s, &a), 0);
		assert_int_equal(shmk_listener_open(s, &b), 0);
	} else {
		assert_int_equal(shmk_bb_writer_open(s, &a), 0);
		assert_int_equal(shmk_bb_reader_open(s, &b), 0);
	}
	bytes = (size_t)v->g.chunks_off;	/* everything but the payloads */
	copy = malloc(bytes);
	assert_non_null(copy);
	for (it = 0; it < iters; it++) {
		corrupt_one(v, &x);
		if (rnd(&x) % 4 == 0)
			corrupt_one(v, &x);
		memcpy(copy, shmk_region_base(v->r), bytes);
		n = inspect(s, e, NINFO + 1);
		/* Inspect wrote nothing. */
		if (memcmp(copy, shmk_region_base(v->r), bytes))
			fail_msg("seed %llu iteration %lu: inspect wrote the region",
				 (unsigned long long)seed, it);
		if (n < 0 || n > (int)v->g.nslots)
			fail_msg("seed %llu iteration %lu: %d entries",
				 (unsigned long long)seed, it, n);
		for (i = 0; i < n; i++) {
			uint64_t lmax = (uint64_t)v->g.cap * v->g.nslots;

			if (kind == SHMK_SVC_EVENT)
				lmax = 32ULL * v->g.ewords;
			if (kind == SHMK_SVC_BLACKBOARD)
				lmax = 0;
			if (e[i].slot >= v->g.nslots ||
			    e[i].role < SHMK_ROLE_PUBLISHER ||
			    e[i].role > SHMK_ROLE_READER ||
			    e[i].state < SHMK_PART_CLAIMING ||
			    e[i].state > SHMK_PART_INVALID ||
			    e[i].pid > (1U << 22) ||
			    (!e[i].pid != !(e[i].flags & SHMK_PART_PID)) ||
			    e[i].lag > lmax ||
			    (i && e[i].slot <= e[i - 1].slot))
				fail_msg("seed %llu iteration %lu entry %d: slot %u "
					 "role %u state %u pid %u lag %llu",
					 (unsigned long long)seed, it, i,
					 e[i].slot, e[i].role, e[i].state,
					 e[i].pid, (unsigned long long)e[i].lag);
		}
		/* Now and then, start from a clean slate of positions. */
		if (rnd(&x) % 200 == 0)
			memset(shmk_region_base(v->r) + v->g.prod_off, 0,
			       v->g.holders_off - v->g.prod_off);
	}
	free(copy);
	/* The slots are garbage now: the ports may not leave cleanly. */
	memset(shmk_region_base(v->r) + v->g.slots_off, 0,
	       v->g.nslots * sizeof(struct svc_slot));
	shmk_port_close(a);
	shmk_port_close(b);
	drop_service(s, name);
}

static void test_hostile(void **state)
{
	const char *e = getenv("SHMK_INSPECT_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) : 0x9e3779b97f4a7c15ULL;

	(void)state;
	hostile_kind(SHMK_SVC_PUBSUB, seed);
	hostile_kind(SHMK_SVC_REQRES, seed + 1);
	hostile_kind(SHMK_SVC_EVENT, seed + 2);
	hostile_kind(SHMK_SVC_BLACKBOARD, seed + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_args),
		cmocka_unit_test(test_pubsub),
		cmocka_unit_test(test_size_rule),
		cmocka_unit_test(test_reqres),
		cmocka_unit_test(test_blackboard),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_hostile),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
