// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dead peers: participants in child processes are killed with SIGKILL at
 * random points (claiming a slot, loaning, publishing, receiving,
 * holding samples, leaving), 1,000 times in the plain phase.  After each
 * kill the surviving participants must go on, a new participant must be
 * able to take the dead one's place, and once the dead are reclaimed no
 * chunk may be held beyond what the survivors hold.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include "msgutil.h"

static void usleep_ns(long ns)
{
	struct timespec ts = { 0, ns };

	if (ns)
		nanosleep(&ts, NULL);
}

/* A child that publishes and/or receives until killed. */
static void pubsub_child(const char *name, unsigned int seed)
{
	struct shmk_service *s;
	struct shmk_port *pub = NULL, *sub = NULL;
	struct shmk_sample smp[4];
	int nheld = 0, role = (int)(seed % 3);
	void *pl;

	if (shmk_service_open(name, NULL, 0, &s))
		_exit(2);
	if (role != 1 && shmk_pub_open(s, &pub))
		_exit(3);
	if (role != 0 && shmk_sub_open(s, &sub))
		_exit(4);
	for (;;) {
		seed = seed * 1103515245 + 12345;
		if (pub) {
			if (shmk_pub_loan(pub, &pl) == 0) {
				memset(pl, 0x5a, 64);
				if (seed & 0x100)
					shmk_pub_publish(pub, pl, 64, 0);
				else if (seed & 0x200)
					shmk_pub_discard(pub, pl);
			}
		}
		if (sub) {
			if (nheld < 4 && shmk_sub_receive(sub, &smp[nheld], 0) == 0)
				nheld++;
			if (nheld && (seed & 0x400))
				shmk_sub_release(sub, &smp[--nheld]);
		}
		if ((seed & 0xff000) == 0) {	/* now and then: leave, come back */
			shmk_port_close(pub);
			shmk_port_close(sub);
			nheld = 0;
			pub = sub = NULL;
			if (role != 1 && shmk_pub_open(s, &pub))
				pub = NULL;
			if (role != 0 && shmk_sub_open(s, &sub))
				sub = NULL;
		}
	}
}

/* Survivors exchange one sample: publisher 0 to subscriber 0. */
static void survivors_talk(struct shmk_port *pub, struct shmk_port *sub,
			   uint32_t tag)
{
	struct shmk_sample smp;
	int found = 0, guard = 0;

	assert_int_equal(shmk_pub_send_copy(pub, &tag, 4, 0), 0);
	while (!found) {
		uint32_t v = 0;

		assert_int_equal(shmk_sub_receive(sub, &smp, 1000000000LL), 0);
		if (smp.len == 4)
			memcpy(&v, smp.data, 4);
		found = smp.origin == (uint32_t)shmk_port_slot(pub) && v == tag;
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
		assert_true(++guard < 10000);
	}
}

static void test_pubsub_kills(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	unsigned long n = scaled(1000), i;
	unsigned int seed = 12345;

	(void)state;
	c.max_publishers = 2;
	c.max_subscribers = 2;
	c.buffer = 8;
	c.history = 2;
	c.max_borrow = 4;
	c.payload_max = 256;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	for (i = 0; i < n; i++) {
		pid_t kid;

		seed = seed * 1103515245 + 12345;
		kid = fork();
		assert_true(kid >= 0);
		if (kid == 0)
			pubsub_child(name, seed >> 8);
		/* Kill at once (claiming) or after up to ~1 ms of traffic. */
		usleep_ns((seed >> 4) % 4 == 0 ? 0 : (long)((seed >> 12) % 1000000));
		kill(kid, SIGKILL);
		assert_int_equal(reap(kid), 128 + SIGKILL);
		/* Others go on. */
		survivors_talk(pub, sub, (uint32_t)i);
		/*
		 * Reclaimed: only publisher 0's ring is held now, and its
		 * spare (lib/chan.c, keep_spare()).
		 */
		shmk_service_recover(s);
		assert_int_equal(shmk_service_participants(s), 2);
		assert_true(shmk_service_chunks_used(s) <= 8 + 1);
	}
	shmk_port_close(sub);
	shmk_port_close(pub);
	shmk_service_recover(s);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

/* A client or the server in a child, killed mid-request. */
static void reqres_child(const char *name, int server)
{
	struct shmk_service *s;
	struct shmk_port *p;
	struct shmk_sample smp;
	void *pl;

	if (shmk_service_open(name, NULL, 0, &s))
		_exit(2);
	if ((server ? shmk_server_open(s, &p) : shmk_client_open(s, &p)))
		_exit(3);
	for (;;) {
		if (server) {
			if (shmk_server_receive(p, &smp, 1000000) == 0) {
				if (shmk_pub_loan(p, &pl) == 0)
					shmk_server_respond(p, &smp, pl, 8);
				shmk_sub_release(p, &smp);
			}
		} else {
			if (shmk_pub_loan(p, &pl) == 0 &&
			    shmk_client_send(p, pl, 8, NULL))
				shmk_pub_discard(p, pl);
			if (shmk_client_receive(p, &smp, 1000000) == 0)
				shmk_sub_release(p, &smp);
		}
	}
}

static void test_reqres_kills(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv = NULL;
	struct shmk_sample smp;
	unsigned long n = scaled(200), i;
	unsigned int seed = 777;
	void *pl;

	(void)state;
	c.max_publishers = 2;	/* clients */
	c.buffer = 4;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	for (i = 0; i < n; i++) {
		int child_server = (int)(i & 1);
		uint64_t corr;
		pid_t kid;

		seed = seed * 1103515245 + 12345;
		if (!child_server)
			assert_int_equal(shmk_server_open(s, &sv), 0);
		kid = fork();
		assert_true(kid >= 0);
		if (kid == 0)
			reqres_child(name, child_server);
		usleep_ns((long)((seed >> 12) % 1000000));
		kill(kid, SIGKILL);
		assert_int_equal(reap(kid), 128 + SIGKILL);
		if (child_server)	/* the server's place is free again */
			assert_int_equal(shmk_server_open(s, &sv), 0);
		/* Our client is answered by the (new) server. */
		assert_int_equal(shmk_pub_loan(cl, &pl), 0);
		memcpy(pl, &i, sizeof(i));
		assert_int_equal(shmk_client_send(cl, pl, sizeof(i), &corr), 0);
		for (;;) {
			assert_int_equal(shmk_server_receive(sv, &smp, 1000000000LL), 0);
			if (smp.origin == (uint32_t)shmk_port_slot(cl) && smp.corr == corr)
				break;
			assert_int_equal(shmk_sub_release(sv, &smp), 0);
		}
		assert_int_equal(shmk_pub_loan(sv, &pl), 0);
		assert_int_equal(shmk_server_respond(sv, &smp, pl, 1), 0);
		assert_int_equal(shmk_sub_release(sv, &smp), 0);
		assert_int_equal(shmk_client_receive(cl, &smp, 1000000000LL), 0);
		assert_int_equal(smp.corr, corr);
		assert_int_equal(shmk_sub_release(cl, &smp), 0);
		shmk_port_close(sv);
		sv = NULL;
		shmk_service_recover(s);
		assert_int_equal(shmk_service_participants(s), 1);
		assert_true(shmk_service_chunks_used(s) <= 4);	/* cl's ring */
	}
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* A dead participant's slot is taken by a newcomer without recover(). */
static void test_takeover(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub, *pub;
	struct shmk_sample smp;
	pid_t kid;
	int pfd[2];
	char ch;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(pipe(pfd), 0);
	kid = fork();
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *cp;
		void *pl;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &cp) == 0);
		CHILD_CHECK(shmk_pub_loan(cp, &pl) == 0);	/* held when killed */
		CHILD_CHECK(shmk_pub_send_copy(cp, "x", 1, 0) == 0);
		CHILD_CHECK(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &ch, 1), 1);
	assert_int_equal(shmk_service_chunks_used(s), 2);
	kill(kid, SIGKILL);
	assert_int_equal(reap(kid), 128 + SIGKILL);
	assert_int_equal(shmk_pub_open(s, &pub), 0);	/* reclaims, takes it */
	assert_int_equal(shmk_service_chunks_used(s), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "y", 1, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_memory_equal(smp.data, "y", 1);
	shmk_sub_release(sub, &smp);
	shmk_port_close(sub);
	shmk_port_close(pub);
	close(pfd[0]);
	close(pfd[1]);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_takeover),
		cmocka_unit_test(test_pubsub_kills),
		cmocka_unit_test(test_reqres_kills),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
