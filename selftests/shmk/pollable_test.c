// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Port fds (shmk_port_fd()) and the WaitSet on the device backend, in
 * the QEMU guest with shmk.ko: a subscriber's, server's, client's and
 * listener's fd (the port's region file, watching its wake word) polls
 * readable after another process sends, and not after the port was
 * drained; a publisher storm received through poll() and receive(0)
 * only loses nothing; a killed watcher costs wakers one wake at most;
 * io_uring POLL_ADD on a port fd; a WaitSet with a deadline and an
 * interval.  The memfd backend's side is lib/tests/test_waitset.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "kselftest_harness.h"

#define LIB_UTIL_PREFIX "poll"
#include "lib_util.h"

/* The library's count of wake syscalls (lib/svc_wait.c; static link). */
extern _Atomic unsigned long shmk__svc_wakes;

static int readable(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1 && (pf.revents & POLLIN);
}

/* Receive with timeout 0 until -EAGAIN: how many, or -1 on an error. */
static int sub_drain(struct shmk_port *p)
{
	struct shmk_sample smp;
	int n = 0, ret;

	while ((ret = shmk_sub_receive(p, &smp, 0)) == 0) {
		shmk_sub_release(p, &smp);
		n++;
	}
	return ret == -EAGAIN ? n : -1;
}

/* A child publishing @n samples to @name after @ms, then draining. */
static pid_t publisher(const char *name, int ms, unsigned long n)
{
	pid_t kid = fork();

	if (kid == 0) {
		struct shmk_service *s;
		struct shmk_port *p;
		unsigned long i;

		alarm(60);
		CHILD_CHECK(shmk_service_open(name, NULL, 0, &s) == 0);
		CHILD_CHECK(shmk_pub_open(s, &p) == 0);
		usleep((useconds_t)ms * 1000);
		for (i = 0; i < n; i++)
			CHILD_CHECK(shmk_pub_send_copy(p, &i, sizeof(i),
						       SHMK_FOREVER) == 0);
		CHILD_CHECK(shmk_pub_drain(p, 10000000000LL) == 0);
		shmk_port_close(p);
		shmk_service_close(s);
		_exit(0);
	}
	return kid;
}

TEST(errors)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	int fd;

	NEED_DEVICE();
	uniq(name, sizeof(name), "err");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	EXPECT_EQ(-EINVAL, shmk_port_fd(NULL));
	EXPECT_EQ(-EINVAL, shmk_port_fd(pub));
	EXPECT_EQ(-EINVAL, shmk_listener_fd(sub));
	fd = shmk_port_fd(sub);
	ASSERT_LE(0, fd);
	EXPECT_EQ(fd, shmk_port_fd(sub));
	EXPECT_TRUE(readable(fd, 0));	/* readable at first */
	EXPECT_EQ(0, sub_drain(sub));
	EXPECT_FALSE(readable(fd, 0));
	shmk_port_close(sub);
	shmk_port_close(pub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST(sub_readable)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	int fd;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "sub");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	fd = shmk_port_fd(sub);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, sub_drain(sub));
	ASSERT_FALSE(readable(fd, 0));
	kid = publisher(name, 50, 1);
	ASSERT_TRUE(readable(fd, 5000));
	EXPECT_EQ(1, sub_drain(sub));
	EXPECT_FALSE(readable(fd, 0));
	ASSERT_EQ(0, reap(kid));
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

/* The server's fd on a request; the client's on the response. */
TEST(reqres_readable)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *srv;
	struct shmk_sample req;
	void *pl;
	int fd;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "rr");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_server_open(s, &srv));
	fd = shmk_port_fd(srv);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-EAGAIN, shmk_server_receive(srv, &req, 0));
	ASSERT_FALSE(readable(fd, 0));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *cl;
		struct shmk_sample smp;
		void *p;
		int cfd;

		alarm(30);
		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
		cfd = shmk_port_fd(cl);
		CHILD_CHECK(cfd >= 0);
		CHILD_CHECK(shmk_client_receive(cl, &smp, 0) == -EAGAIN);
		CHILD_CHECK(!readable(cfd, 0));
		usleep(50000);
		CHILD_CHECK(shmk_pub_loan(cl, &p) == 0);
		CHILD_CHECK(shmk_client_send(cl, p, 1, NULL) == 0);
		CHILD_CHECK(readable(cfd, 5000));
		CHILD_CHECK(shmk_client_receive(cl, &smp, 0) == 0);
		shmk_sub_release(cl, &smp);
		CHILD_CHECK(shmk_client_receive(cl, &smp, 0) == -EAGAIN);
		CHILD_CHECK(!readable(cfd, 0));
		shmk_port_close(cl);
		_exit(0);
	}
	ASSERT_TRUE(readable(fd, 5000));
	ASSERT_EQ(0, shmk_server_receive(srv, &req, 0));
	ASSERT_EQ(0, shmk_pub_loan(srv, &pl));
	ASSERT_EQ(0, shmk_server_respond(srv, &req, pl, 1));
	shmk_sub_release(srv, &req);
	EXPECT_EQ(-EAGAIN, shmk_server_receive(srv, &req, 0));
	EXPECT_FALSE(readable(fd, 0));
	ASSERT_EQ(0, shmk_pub_drain(srv, 5000000000LL));
	ASSERT_EQ(0, reap(kid));
	shmk_port_close(srv);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST(listener_readable)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *li;
	uint32_t ids[4];
	int fd;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "ev");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_listener_open(s, &li));
	fd = shmk_port_fd(li);
	ASSERT_LE(0, fd);
	EXPECT_EQ(fd, shmk_listener_fd(li));
	ASSERT_EQ(-EAGAIN, shmk_listener_wait(li, ids, 4, 0));
	ASSERT_FALSE(readable(fd, 0));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *no;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_notifier_open(cs, &no) == 0);
		usleep(50000);
		CHILD_CHECK(shmk_notifier_notify(no, 9) == 1);
		shmk_port_close(no);
		_exit(0);
	}
	ASSERT_TRUE(readable(fd, 5000));
	ASSERT_EQ(1, shmk_listener_wait(li, ids, 4, 0));
	EXPECT_EQ(9U, ids[0]);
	EXPECT_EQ(-EAGAIN, shmk_listener_wait(li, ids, 4, 0));
	EXPECT_FALSE(readable(fd, 0));
	ASSERT_EQ(0, reap(kid));
	shmk_port_close(li);
	shmk_service_remove(name);
	shmk_service_close(s);
}

/*
 * No lost wake-up: two publishers storm with back-pressure; the
 * subscriber sleeps only in poll() without a timeout (a missed wake-up
 * hangs until the alarm) and receives with timeout 0.
 */
TEST(storm)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	unsigned long next[SHMK_SVC_SLOTS_MAX] = { 0 }, got = 0, v, n = 5000;
	pid_t kid[2];
	int fd, i, ret;

	NEED_DEVICE();
	uniq(name, sizeof(name), "storm");
	c.overflow = SHMK_OVERFLOW_BLOCK;
	c.buffer = 4;
	c.max_publishers = 2;
	c.max_subscribers = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	fd = shmk_port_fd(sub);
	ASSERT_LE(0, fd);
	for (i = 0; i < 2; i++)
		kid[i] = publisher(name, 0, n);
	while (got < 2 * n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		ASSERT_EQ(1, poll(&pf, 1, 20000));	/* 20 s: a hang */
		while ((ret = shmk_sub_receive(sub, &smp, 0)) == 0) {
			ASSERT_LT(smp.origin, SHMK_SVC_SLOTS_MAX);
			memcpy(&v, smp.data, sizeof(v));
			ASSERT_EQ(next[smp.origin], v);
			next[smp.origin]++;
			got++;
			shmk_sub_release(sub, &smp);
		}
		ASSERT_EQ(-EAGAIN, ret);
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, reap(kid[i]));
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

/* A watcher killed with its fd armed: publishing wakes it once at most. */
TEST(killed_watcher)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	unsigned long before;
	int pfd[2], i;
	char b;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "kill");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	ASSERT_EQ(0, pipe(pfd));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *sub;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_sub_open(cs, &sub) == 0);
		CHILD_CHECK(shmk_port_fd(sub) >= 0);
		CHILD_CHECK(sub_drain(sub) == 0);
		CHILD_CHECK(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(pfd[0], &b, 1));
	kill(kid, SIGKILL);
	ASSERT_EQ(128 + SIGKILL, reap(kid));
	before = atomic_load(&shmk__svc_wakes);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, shmk_pub_send_copy(pub, "x", 1, 0));
	EXPECT_GE(1, atomic_load(&shmk__svc_wakes) - before);
	EXPECT_EQ(1, shmk_service_recover(s));
	close(pfd[0]);
	close(pfd[1]);
	shmk_port_close(pub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST(uring_poll_add)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 5 };
	int fd;
	pid_t kid;

	NEED_DEVICE();
	if (io_uring_queue_init(4, &ring, 0))
		SKIP(return, "io_uring unavailable");
	uniq(name, sizeof(name), "uring");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	fd = shmk_port_fd(sub);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, sub_drain(sub));
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, 42);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(-EAGAIN, io_uring_peek_cqe(&ring, &cqe));
	kid = publisher(name, 50, 1);
	ASSERT_EQ(0, io_uring_wait_cqe_timeout(&ring, &cqe, &ts));
	EXPECT_EQ(42U, io_uring_cqe_get_data64(cqe));
	EXPECT_TRUE(cqe->res & POLLIN);
	io_uring_cqe_seen(&ring, cqe);
	EXPECT_EQ(1, sub_drain(sub));
	ASSERT_EQ(0, reap(kid));
	io_uring_queue_exit(&ring);
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST(waitset)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_waitset *ws;
	struct shmk_waitset_event ev[4];
	int id, tid, n, ready = 0, ticks = 0, deadlines = 0, i;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "ws");
	c.buffer = 16;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	ASSERT_EQ(0, shmk_waitset_create(&ws));
	id = shmk_waitset_attach_port(ws, sub, 200000000LL, sub);
	ASSERT_LE(0, id);
	tid = shmk_waitset_attach_interval(ws, 50000000LL, NULL);
	ASSERT_LE(0, tid);
	ASSERT_EQ(0, sub_drain(sub));
	kid = publisher(name, 50, 3);
	/* About 500 ms: the samples, ~10 ticks, deadlines after them. */
	for (i = 0; i < 200 && (ready < 3 || ticks < 8 || !deadlines); i++) {
		n = shmk_waitset_wait(ws, ev, 4, 1000000000LL);
		ASSERT_LT(0, n);
		while (n-- > 0) {
			if (ev[n].what == SHMK_WS_READY) {
				ASSERT_EQ(id, ev[n].id);
				ready += sub_drain(sub);
			} else if (ev[n].what == SHMK_WS_TICK) {
				ASSERT_EQ(tid, ev[n].id);
				ticks++;
			} else {
				ASSERT_EQ(SHMK_WS_DEADLINE, ev[n].what);
				deadlines++;
			}
		}
	}
	EXPECT_EQ(3, ready);
	EXPECT_LE(8, ticks);
	EXPECT_LE(1, deadlines);
	ASSERT_EQ(0, reap(kid));
	shmk_waitset_destroy(ws);
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST_HARNESS_MAIN
