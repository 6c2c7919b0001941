// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk messaging on the device backend, in the QEMU guest with
 * shmk.ko: publish-subscribe, request-response and events across
 * processes, the listener fd under epoll, death notices from the module
 * (SHMK_IOC_ON_RELEASE), and participants killed at random points.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "kselftest_harness.h"

#define LIB_UTIL_PREFIX "msg"
#include "lib_util.h"

TEST(pubsub_processes)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	uint32_t i, v, n = 2000;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "ps");
	c.overflow = SHMK_OVERFLOW_BLOCK;
	c.history = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(SHMK_BACKEND_DEVICE, shmk_backend_select());
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *pub;

		CHILD_CHECK(shmk_service_open(name, &c, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &pub) == 0);
		for (i = 0; i < n; i++)
			CHILD_CHECK(shmk_pub_send_copy(pub, &i, 4, SHMK_FOREVER) == 0);
		CHILD_CHECK(shmk_pub_drain(pub, SHMK_FOREVER) == 0);
		shmk_port_close(pub);
		_exit(0);
	}
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, shmk_sub_receive(sub, &smp, SHMK_FOREVER));
		memcpy(&v, smp.data, 4);
		ASSERT_EQ(i, v);
		ASSERT_EQ(0, shmk_sub_release(sub, &smp));
	}
	ASSERT_EQ(0, reap(kid));
	shmk_port_close(sub);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	shmk_service_close(s);
}

TEST(service_list_and_mismatch)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT), d;
	char name[SHMK_SVC_NAME_MAX], names[64][SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *s2;
	int n, i, found = 0;

	NEED_DEVICE();
	uniq(name, sizeof(name), "ls");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	n = shmk_service_list(names, 64);
	ASSERT_LE(1, n);
	for (i = 0; i < n && i < 64; i++)
		found += !strcmp(names[i], name);
	EXPECT_EQ(1, found);
	d = cfg_of(SHMK_SVC_PUBSUB);
	EXPECT_EQ(-EPROTOTYPE, shmk_service_open(name, &d, 0, &s2));
	EXPECT_EQ(-EEXIST, shmk_service_open(name, &c, SHMK_SVC_CREATE |
					     SHMK_SVC_EXCL, &s2));
	shmk_service_close(s);
	/* Not persistent on the device: gone with its last handle. */
	EXPECT_EQ(-ENOENT, shmk_service_open(name, NULL, 0, &s2));
}

TEST(reqres_processes)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sv;
	struct shmk_sample req;
	int k, served = 0, n = 300;
	pid_t kid[2];
	void *pl;

	NEED_DEVICE();
	uniq(name, sizeof(name), "rr");
	c.max_publishers = 2;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_server_open(s, &sv));
	for (k = 0; k < 2; k++) {
		kid[k] = fork();
		ASSERT_LE(0, kid[k]);
		if (kid[k] == 0) {
			struct shmk_service *cs;
			struct shmk_port *cl;
			struct shmk_sample smp;
			uint64_t corr;
			int i;

			CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
			CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
			for (i = 0; i < n; i++) {
				CHILD_CHECK(shmk_pub_loan(cl, &pl) == 0);
				memcpy(pl, &i, 4);
				CHILD_CHECK(shmk_client_send(cl, pl, 4, &corr) == 0);
				CHILD_CHECK(shmk_client_receive(cl, &smp, SHMK_FOREVER) == 0);
				CHILD_CHECK(smp.corr == corr);
				CHILD_CHECK(!memcmp(smp.data, &i, 4));
				shmk_sub_release(cl, &smp);
			}
			shmk_port_close(cl);
			_exit(0);
		}
	}
	while (served < 2 * n) {
		if (shmk_server_receive(sv, &req, 100000000) != 0)
			continue;
		ASSERT_EQ(0, shmk_pub_loan(sv, &pl));
		memcpy(pl, req.data, 4);
		ASSERT_EQ(0, shmk_server_respond(sv, &req, pl, 4));
		ASSERT_EQ(0, shmk_sub_release(sv, &req));
		served++;
	}
	for (k = 0; k < 2; k++)
		ASSERT_EQ(0, reap(kid[k]));
	shmk_port_close(sv);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	shmk_service_close(s);
}

TEST(event_epoll)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *li;
	struct epoll_event ev = { .events = EPOLLIN };
	uint32_t ids[4];
	int fd, ep, got = 0;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "ev");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_listener_open(s, &li));
	fd = shmk_listener_fd(li);
	ASSERT_LE(0, fd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	EXPECT_EQ(-EAGAIN, shmk_listener_wait(li, ids, 4, 0));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *no;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_notifier_open(cs, &no) == 0);
		usleep(20000);
		CHILD_CHECK(shmk_notifier_notify(no, 7) == 1);
		usleep(20000);
		CHILD_CHECK(shmk_notifier_notify(no, 9) == 1);
		shmk_port_close(no);
		_exit(0);
	}
	while (got < 2) {
		int n = epoll_wait(ep, &ev, 1, 5000), r;

		ASSERT_EQ(1, n);
		r = shmk_listener_wait(li, ids, 4, 0);
		if (r == -EAGAIN)
			continue;	/* a wake without our bit (a peer's) */
		ASSERT_LE(1, r);
		EXPECT_EQ(got ? 9U : 7U, ids[0]);
		got += r;
	}
	ASSERT_EQ(0, reap(kid));
	close(ep);
	shmk_port_close(li);
	shmk_service_close(s);
}

/* The module's death notice frees a killed publisher's slot at once. */
TEST(death_notice)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	int pfd[2];
	char ch;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "dn");
	c.max_publishers = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, pipe(pfd));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *cp;
		void *pl;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &cp) == 0);
		CHILD_CHECK(shmk_pub_loan(cp, &pl) == 0);
		CHILD_CHECK(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(pfd[0], &ch, 1));
	EXPECT_EQ(-EBUSY, shmk_pub_open(s, &pub));
	EXPECT_EQ(1, shmk_service_chunks_used(s));
	kill(kid, SIGKILL);
	ASSERT_EQ(128 + SIGKILL, reap(kid));
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	shmk_port_close(pub);
	close(pfd[0]);
	close(pfd[1]);
	shmk_service_close(s);
}

static void busy_child(const char *name, unsigned int seed)
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
		if (pub && shmk_pub_loan(pub, &pl) == 0) {
			if (seed & 0x100)
				shmk_pub_publish(pub, pl, 16, 0);
			else if (seed & 0x200)
				shmk_pub_discard(pub, pl);
		}
		if (sub) {
			if (nheld < 4 && shmk_sub_receive(sub, &smp[nheld], 0) == 0)
				nheld++;
			if (nheld && (seed & 0x400))
				shmk_sub_release(sub, &smp[--nheld]);
		}
	}
}

/* Participants killed at random points; survivors go on; no leak. */
TEST(random_kills)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	unsigned int seed = 99, i, n = 500;

	NEED_DEVICE();
	uniq(name, sizeof(name), "rk");
	c.max_publishers = 2;
	c.max_subscribers = 2;
	c.buffer = 8;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	for (i = 0; i < n; i++) {
		struct timespec ts = { 0, 0 };
		int found = 0;
		pid_t kid;

		seed = seed * 1103515245 + 12345;
		kid = fork();
		ASSERT_LE(0, kid);
		if (kid == 0)
			busy_child(name, seed >> 8);
		ts.tv_nsec = (long)((seed >> 12) % 3000000);
		nanosleep(&ts, NULL);
		kill(kid, SIGKILL);
		ASSERT_EQ(128 + SIGKILL, reap(kid));
		ASSERT_EQ(0, shmk_pub_send_copy(pub, &i, 4, 0));
		while (!found) {
			ASSERT_EQ(0, shmk_sub_receive(sub, &smp, 2000000000LL));
			found = smp.origin == (uint32_t)shmk_port_slot(pub) &&
				!memcmp(smp.data, &i, 4);
			ASSERT_EQ(0, shmk_sub_release(sub, &smp));
		}
		shmk_service_recover(s);
		ASSERT_EQ(2, shmk_service_participants(s));
		/* Our ring's 8 and our spare (lib/chan.c, keep_spare()). */
		ASSERT_GE(9, shmk_service_chunks_used(s));
	}
	shmk_port_close(sub);
	shmk_port_close(pub);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	shmk_service_close(s);
}

/*
 * Issue 11 on the device: a typed service refuses another type, naming
 * both; user headers cross processes; one subscriber asks for no history
 * and another for all; a child publisher lingers at close until the
 * slow subscriber received every sample.
 */
TEST(typed_headers_history_linger)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB), w;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *s2;
	struct shmk_port *pub, *none, *all;
	struct shmk_sub_opts o = { .size = sizeof(o) };
	struct shmk_sample smp;
	const uint32_t *h;
	uint32_t i, v, n = 64;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "typed");
	strcpy(c.type_name, "Pose");
	c.type_size = 32;
	c.user_header_size = 8;
	c.history = 2;
	c.buffer = 64;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	w = cfg_of(SHMK_SVC_PUBSUB);
	strcpy(w.type_name, "Pose2");
	w.type_size = 40;
	ASSERT_EQ(-EPROTOTYPE, shmk_service_open(name, &w, 0, &s2));
	ASSERT_STREQ("payload type: the service has 'Pose' (32 bytes), "
		     "not 'Pose2' (40 bytes)", shmk_last_error());
	/* Two past samples, then one subscriber without them, one with. */
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, shmk_pub_send_copy(pub, &i, 4, 0));
	ASSERT_EQ(0, shmk_sub_open_opts(s, &o, &none));
	o.history = 2;
	ASSERT_EQ(0, shmk_sub_open_opts(s, &o, &all));
	EXPECT_EQ(-EAGAIN, shmk_sub_receive(none, &smp, 0));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, shmk_sub_receive(all, &smp, 0));
		ASSERT_EQ(0, shmk_sub_release(all, &smp));
	}
	shmk_port_close(pub);
	shmk_port_close(all);	/* a live subscriber is waited for */
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *cp;
		void *pl;

		CHILD_CHECK(shmk_service_open(name, &c, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &cp) == 0);
		for (i = 0; i < n; i++) {
			uint32_t *ph;

			CHILD_CHECK(shmk_pub_loan(cp, &pl) == 0);
			memcpy(pl, &i, 4);
			ph = shmk_pub_loan_header(cp, pl);
			CHILD_CHECK(ph != NULL);
			ph[0] = i ^ 0x5a5a5a5aU;
			CHILD_CHECK(shmk_pub_publish(cp, pl, 4, 0) == 0);
		}
		CHILD_CHECK(shmk_pub_close_linger(cp, SHMK_FOREVER) == 0);
		_exit(0);
	}
	/* Slowly, while the child lingers: nothing lost. */
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, shmk_sub_receive(none, &smp, SHMK_FOREVER));
		memcpy(&v, smp.data, 4);
		ASSERT_EQ(i, v);
		h = shmk_sample_header(none, &smp);
		ASSERT_NE(NULL, h);
		ASSERT_EQ(i ^ 0x5a5a5a5aU, h[0]);
		ASSERT_EQ(0, shmk_sub_release(none, &smp));
		usleep(500);
	}
	ASSERT_EQ(0, reap(kid));
	EXPECT_EQ(0, shmk_sub_dropped(none));
	shmk_port_close(none);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	shmk_service_close(s);
}

/*
 * 1,024 participants (layout 6): four children of ~256 subscribers each
 * (their slots span all 16 words of the bitmaps) block in receive; one
 * publisher here sends 8 samples, which every subscriber gets, woken
 * across words.  The second child is killed holding a sample on each of
 * its ports: the module announces its 256 deaths, recovery frees their
 * slots and bits, and once the publisher leaves no chunk is held.
 */
#define MANY_KIDS	4
#define MANY_SUBS	(SHMK_SVC_SLOTS_MAX - 1)
#define MANY_PER	((MANY_SUBS + MANY_KIDS - 1) / MANY_KIDS)
#define MANY_N		8

static void many_child(struct shmk_service *parent, const char *name, int fd,
		       uint32_t per, int victim)
{
	static struct shmk_port *sub[MANY_PER];
	static struct shmk_sample smp[MANY_PER];
	struct shmk_service *s;
	uint32_t i, n, x;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	shmk_service_close(parent);
	CHILD_CHECK(shmk_service_open(name, NULL, 0, &s) == 0);
	for (i = 0; i < per; i++)
		CHILD_CHECK(shmk_sub_open(s, &sub[i]) == 0);
	CHILD_CHECK(write(fd, "r", 1) == 1);
	for (n = 0; n < MANY_N; n++)
		for (i = 0; i < per; i++) {
			CHILD_CHECK(shmk_sub_receive(sub[i], &smp[i],
						     20000000000LL) == 0);
			memcpy(&x, smp[i].data, 4);
			CHILD_CHECK(x == n && smp[i].seq == n);
			if (!victim || n + 1 < MANY_N)
				CHILD_CHECK(shmk_sub_release(sub[i], &smp[i]) == 0);
		}
	if (victim) {
		CHILD_CHECK(write(fd, "h", 1) == 1);
		for (;;)
			pause();
	}
	for (i = 0; i < per; i++)
		shmk_port_close(sub[i]);
	shmk_service_close(s);
	_exit(0);
}

TEST(participants_1024)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], b;
	struct shmk_service *s;
	struct shmk_port *pub;
	pid_t kid[MANY_KIDS];
	struct rlimit rl;
	int fds[2], i, ready = 0, held = 0;
	uint32_t n;
	void *pl;

	NEED_DEVICE();
	/* A region fd per port: raise the soft limit of open files. */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 2 * SHMK_SVC_SLOTS_MAX && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	}
	if (rl.rlim_cur < MANY_PER + 64)
		SKIP(return, "too few open files allowed");
	uniq(name, sizeof(name), "many");
	c.payload_max = 64;
	c.max_publishers = 1;
	c.max_subscribers = MANY_SUBS;
	c.buffer = 16;
	c.max_borrow = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, pipe(fds));
	for (i = 0; i < MANY_KIDS; i++) {
		kid[i] = fork();
		ASSERT_LE(0, kid[i]);
		if (!kid[i]) {
			close(fds[0]);
			many_child(s, name, fds[1], i + 1 < MANY_KIDS ? MANY_PER :
				   MANY_SUBS - (MANY_KIDS - 1) * MANY_PER, i == 1);
		}
	}
	close(fds[1]);
	while (ready < MANY_KIDS && read(fds[0], &b, 1) == 1)
		ready += b == 'r';
	ASSERT_EQ(MANY_KIDS, ready);
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	ASSERT_EQ(SHMK_SVC_SLOTS_MAX, shmk_service_participants(s));
	for (n = 0; n < MANY_N; n++) {
		ASSERT_EQ(0, shmk_pub_loan(pub, &pl));
		memcpy(pl, &n, 4);
		ASSERT_EQ(0, shmk_pub_publish(pub, pl, 4, 0));
	}
	while (!held && read(fds[0], &b, 1) == 1)
		held = b == 'h';
	ASSERT_TRUE(held);
	/*
	 * The others first: one still receiving would see the deaths and
	 * reclaim the victim's slots itself (a CI run saw 0 dead here).
	 */
	for (i = 0; i < MANY_KIDS; i++)
		if (i != 1)
			ASSERT_EQ(0, reap(kid[i]));
	kill(kid[1], SIGKILL);
	ASSERT_EQ(128 + SIGKILL, reap(kid[1]));
	close(fds[0]);
	/* Announced by the module: DEAD slots, no lock to probe. */
	ASSERT_EQ(MANY_PER, shmk_service_dead(s));
	ASSERT_EQ(MANY_PER, shmk_service_recover(s));
	ASSERT_EQ(1, shmk_service_participants(s));
	shmk_port_close(pub);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	shmk_service_close(s);
}

TEST_HARNESS_MAIN
