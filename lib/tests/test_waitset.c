// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Port fds (shmk_port_fd()) and the WaitSet, memfd backend: an fd polls
 * readable after a publish, request, response or notify from another
 * process, and not after the port was drained; a publisher storm
 * received through poll() and receive(0) only loses nothing; a killed
 * watcher costs wakers one datagram at most and its watch bit is swept;
 * io_uring POLL_ADD on a port fd; WaitSet readiness, deadlines,
 * intervals, its fd, and every bad input.  White-box where it counts the
 * library's datagrams and reads the watch mask (lib/svc.h).
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include "msgutil.h"
#include "../svc.h"

/* Does @fd poll readable within @ms? */
static int readable(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1 && (pf.revents & POLLIN);
}

static unsigned long sends(void)
{
	return atomic_load(&shmk__svc_watch_sends);
}

static uint64_t watch_mask(struct shmk_service *s)
{
	return atomic_load(&mask_of(&s->v, MASK_WATCH)[0]);
}

/* Receive from a subscriber with timeout 0 until -EAGAIN; how many. */
static int sub_drain(struct shmk_port *p)
{
	struct shmk_sample smp;
	int n = 0, ret;

	while ((ret = shmk_sub_receive(p, &smp, 0)) == 0) {
		shmk_sub_release(p, &smp);
		n++;
	}
	assert_int_equal(ret, -EAGAIN);
	return n;
}

static void test_port_fd_errors(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_svc_config e = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX], en[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *es;
	struct shmk_port *pub, *sub, *no, *li;
	int fd;

	(void)state;
	s = new_service(&c, name);
	es = new_service(&e, en);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_notifier_open(es, &no), 0);
	assert_int_equal(shmk_listener_open(es, &li), 0);
	assert_int_equal(shmk_port_fd(NULL), -EINVAL);
	assert_int_equal(shmk_port_fd(pub), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "publisher"));
	assert_int_equal(shmk_port_fd(no), -EINVAL);
	assert_int_equal(shmk_listener_fd(sub), -EINVAL);
	assert_int_equal(shmk_listener_fd(NULL), -EINVAL);
	/* Nothing changed: no watch, no sockets. */
	assert_int_equal(watch_mask(s), 0);
	assert_int_equal(pub->wfd, -1);
	fd = shmk_port_fd(sub);
	assert_true(fd >= 0);
	assert_int_equal(shmk_port_fd(sub), fd);	/* the same fd */
	/* Readable at first; drained by receive(0) until -EAGAIN. */
	assert_true(readable(fd, 0));
	assert_int_equal(sub_drain(sub), 0);
	assert_false(readable(fd, 0));
	assert_int_equal(watch_mask(s), 1ULL << shmk_port_slot(sub));
	assert_int_equal(shmk_listener_fd(li), shmk_port_fd(li));
	shmk_port_close(sub);
	assert_int_equal(watch_mask(s), 0);	/* the sweep took it */
	shmk_port_close(pub);
	shmk_port_close(no);
	shmk_port_close(li);
	drop_service(s, name);
	drop_service(es, en);
}

/*
 * shmk_waitset_wait() for @ns, taking a -EINTR (documented: the wait was
 * interrupted) as a reason to wait again for what is left.  Under
 * ThreadSanitizer a 1 ms wait with nothing attached ended in -EINTR in 7
 * of 40 runs of this program (never without it); anything else ends the
 * loop and is returned.
 */
static int wait_until_timeout(struct shmk_waitset *ws,
			      struct shmk_waitset_event *ev, unsigned int max,
			      int64_t ns)
{
	int64_t end = shmk_now_ns() + ns, left = ns;
	int ret;

	for (;;) {
		ret = shmk_waitset_wait(ws, ev, max, left);
		if (ret != -EINTR)
			return ret;
		left = end - shmk_now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
	}
}

/* A child that opens @name and runs @fn on it, after @ms. */
static pid_t child_run(const char *name, uint32_t kind, int ms,
		       void (*fn)(struct shmk_service *))
{
	pid_t kid = fork();

	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_svc_config c = cfg_of(kind);
		struct shmk_service *s;

		alarm(20);
		CHILD_CHECK(shmk_service_open(name, &c, 0, &s) == 0);
		usleep((useconds_t)ms * 1000);
		fn(s);
		shmk_service_close(s);
		_exit(0);
	}
	return kid;
}

static void kid_publish(struct shmk_service *s)
{
	struct shmk_port *p;

	CHILD_CHECK(shmk_pub_open(s, &p) == 0);
	CHILD_CHECK(shmk_pub_send_copy(p, "x", 1, 0) == 0);
	CHILD_CHECK(shmk_pub_drain(p, 5000000000LL) == 0);
	shmk_port_close(p);
}

static void kid_notify(struct shmk_service *s)
{
	struct shmk_port *p;

	CHILD_CHECK(shmk_notifier_open(s, &p) == 0);
	CHILD_CHECK(shmk_notifier_notify(p, 9) == 1);
	shmk_port_close(p);
}

/* A client: send a request, wait for the response. */
static void kid_request(struct shmk_service *s)
{
	struct shmk_port *p;
	struct shmk_sample smp;
	void *pl;

	CHILD_CHECK(shmk_client_open(s, &p) == 0);
	CHILD_CHECK(shmk_pub_loan(p, &pl) == 0);
	CHILD_CHECK(shmk_client_send_wait(p, pl, 1, NULL, 5000000000LL) == 0);
	CHILD_CHECK(shmk_client_receive(p, &smp, 5000000000LL) == 0);
	shmk_sub_release(p, &smp);
	shmk_port_close(p);
}

static void test_fd_readable_pubsub(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	int fd;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	fd = shmk_port_fd(sub);
	assert_true(fd >= 0);
	sub_drain(sub);
	assert_false(readable(fd, 0));
	kid = child_run(name, SHMK_SVC_PUBSUB, 50, kid_publish);
	assert_true(readable(fd, 5000));
	assert_int_equal(sub_drain(sub), 1);
	assert_false(readable(fd, 0));
	assert_int_equal(reap(kid), 0);
	shmk_port_close(sub);
	drop_service(s, name);
}

static void test_fd_readable_event(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *li;
	uint32_t ids[4];
	int fd;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_listener_open(s, &li), 0);
	fd = shmk_listener_fd(li);
	assert_true(fd >= 0);
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	kid = child_run(name, SHMK_SVC_EVENT, 50, kid_notify);
	assert_true(readable(fd, 5000));
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), 1);
	assert_int_equal(ids[0], 9);
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	assert_int_equal(reap(kid), 0);
	shmk_port_close(li);
	drop_service(s, name);
}

/* The server's fd on a request, then the client's (in the child) on the
 * response: the child's receive waits, so it is the blocking path. */
static void test_fd_readable_reqres(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *srv;
	struct shmk_sample req;
	void *pl;
	int fd;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &srv), 0);
	fd = shmk_port_fd(srv);
	assert_true(fd >= 0);
	assert_int_equal(shmk_server_receive(srv, &req, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	kid = child_run(name, SHMK_SVC_REQRES, 50, kid_request);
	assert_true(readable(fd, 5000));
	assert_int_equal(shmk_server_receive(srv, &req, 0), 0);
	assert_int_equal(shmk_pub_loan(srv, &pl), 0);
	assert_int_equal(shmk_server_respond(srv, &req, pl, 1), 0);
	shmk_sub_release(srv, &req);
	assert_int_equal(shmk_server_receive(srv, &req, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	assert_int_equal(reap(kid), 0);
	shmk_port_close(srv);
	drop_service(s, name);
}

/* A client's fd polls readable on the response from a server process. */
static void kid_serve(struct shmk_service *s)
{
	struct shmk_port *p;
	struct shmk_sample req;
	void *pl;

	CHILD_CHECK(shmk_server_open(s, &p) == 0);
	CHILD_CHECK(shmk_server_receive(p, &req, 5000000000LL) == 0);
	CHILD_CHECK(shmk_pub_loan(p, &pl) == 0);
	CHILD_CHECK(shmk_server_respond(p, &req, pl, 1) == 0);
	shmk_sub_release(p, &req);
	/* A closing server drops what was not received yet. */
	CHILD_CHECK(shmk_pub_drain(p, 5000000000LL) == 0);
	shmk_port_close(p);
}

static void test_fd_readable_client(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl;
	struct shmk_sample smp;
	void *pl;
	int fd;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	fd = shmk_port_fd(cl);
	assert_true(fd >= 0);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	kid = child_run(name, SHMK_SVC_REQRES, 0, kid_serve);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send_wait(cl, pl, 1, NULL, 5000000000LL), 0);
	assert_true(readable(fd, 5000));
	assert_int_equal(shmk_client_receive(cl, &smp, 0), 0);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	assert_false(readable(fd, 0));
	assert_int_equal(reap(kid), 0);
	shmk_port_close(cl);
	drop_service(s, name);
}

#define STORM_PUBS	2

static unsigned long storm_n;

static void kid_storm(struct shmk_service *s)
{
	struct shmk_port *p;
	unsigned long i;

	CHILD_CHECK(shmk_pub_open(s, &p) == 0);
	for (i = 0; i < storm_n; i++)
		CHILD_CHECK(shmk_pub_send_copy(p, &i, sizeof(i),
					       SHMK_FOREVER) == 0);
	CHILD_CHECK(shmk_pub_drain(p, SHMK_FOREVER) == 0);
	shmk_port_close(p);
}

/*
 * No lost wake-up: publishers storm (back-pressure, so nothing is
 * dropped), the subscriber sleeps only in poll() (no timeout: a missed
 * wake-up hangs, and the alarm fails the test) and receives with
 * timeout 0.  Every sample arrives, in order per publisher.
 */
static void test_storm(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	unsigned long next[SHMK_SVC_SLOTS_MAX] = { 0 }, got = 0, v, polls = 0;
	pid_t kid[STORM_PUBS];
	int fd, i, ret;

	(void)state;
	storm_n = scaled(20000);
	c.overflow = SHMK_OVERFLOW_BLOCK;
	c.buffer = 4;
	c.max_publishers = STORM_PUBS;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	fd = shmk_port_fd(sub);
	assert_true(fd >= 0);
	for (i = 0; i < STORM_PUBS; i++)
		kid[i] = child_run(name, SHMK_SVC_PUBSUB, 0, kid_storm);
	alarm(60);
	while (got < STORM_PUBS * storm_n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		assert_int_equal(poll(&pf, 1, -1), 1);
		polls++;
		while ((ret = shmk_sub_receive(sub, &smp, 0)) == 0) {
			assert_int_equal(smp.len, sizeof(v));
			memcpy(&v, smp.data, sizeof(v));
			assert_true(smp.origin < SHMK_SVC_SLOTS_MAX);
			assert_int_equal(v, next[smp.origin]);
			next[smp.origin]++;
			got++;
			shmk_sub_release(sub, &smp);
		}
		assert_int_equal(ret, -EAGAIN);
	}
	alarm(0);
	for (i = 0; i < STORM_PUBS; i++)
		assert_int_equal(reap(kid[i]), 0);
	assert_int_equal(shmk_sub_dropped(sub), 0);
	print_message("%lu samples in %lu polls\n", got, polls);
	shmk_port_close(sub);
	drop_service(s, name);
}

/* A child subscribes, arms its fd and is killed. */
static void armed_watcher_killed(const char *name, struct shmk_svc_config *c)
{
	int pfd[2], st;
	char b;
	pid_t kid;

	assert_int_equal(pipe(pfd), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *sub;
		struct shmk_sample smp;

		CHILD_CHECK(shmk_service_open(name, c, 0, &cs) == 0);
		CHILD_CHECK(shmk_sub_open(cs, &sub) == 0);
		CHILD_CHECK(shmk_port_fd(sub) >= 0);
		CHILD_CHECK(shmk_sub_receive(sub, &smp, 0) == -EAGAIN);
		CHILD_CHECK(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &b, 1), 1);
	kill(kid, SIGKILL);
	assert_int_equal(waitpid(kid, &st, 0), kid);
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * A watcher killed with its fd armed: the recovery sweep clears its
 * watch bit; before any recovery, publishing sends its socket one
 * datagram at most (the first waker disarms it), not one per publish.
 */
static void test_killed_watcher(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	unsigned long before;
	int i;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	armed_watcher_killed(name, &c);
	assert_int_not_equal(watch_mask(s), 0);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(watch_mask(s), 0);
	armed_watcher_killed(name, &c);
	assert_int_not_equal(watch_mask(s), 0);
	before = sends();
	for (i = 0; i < 100; i++)
		assert_int_equal(shmk_pub_send_copy(pub, "x", 1, 0), 0);
	assert_true(sends() - before <= 1);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(watch_mask(s), 0);
	shmk_port_close(pub);
	drop_service(s, name);
}

/* A live watcher that does not re-arm costs one datagram, not one each. */
static void test_one_send_per_arm(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	unsigned long before;
	int fd, i;

	(void)state;
	c.buffer = 64;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	fd = shmk_port_fd(sub);
	sub_drain(sub);
	before = sends();
	for (i = 0; i < 50; i++)
		assert_int_equal(shmk_pub_send_copy(pub, "x", 1, 0), 0);
	assert_int_equal(sends() - before, 1);
	assert_true(readable(fd, 0));
	assert_int_equal(sub_drain(sub), 50);
	assert_false(readable(fd, 0));
	assert_int_equal(shmk_pub_send_copy(pub, "x", 1, 0), 0);
	assert_int_equal(sends() - before, 2);
	assert_true(readable(fd, 0));
	shmk_port_close(sub);
	shmk_port_close(pub);
	drop_service(s, name);
}

/* io_uring: IORING_OP_POLL_ADD on a subscriber's fd completes on a publish. */
static void test_uring_poll(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 5 };
	int fd, ret;
	pid_t kid;

	(void)state;
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM) {
		print_message("io_uring unavailable (%d): skipped\n", ret);
		skip();
	}
	assert_int_equal(ret, 0);
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	fd = shmk_port_fd(sub);
	sub_drain(sub);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, 42);
	assert_int_equal(io_uring_submit(&ring), 1);
	/* Nothing yet. */
	assert_int_equal(io_uring_peek_cqe(&ring, &cqe), -EAGAIN);
	kid = child_run(name, SHMK_SVC_PUBSUB, 50, kid_publish);
	assert_int_equal(io_uring_wait_cqe_timeout(&ring, &cqe, &ts), 0);
	assert_int_equal(io_uring_cqe_get_data64(cqe), 42);
	assert_true(cqe->res & POLLIN);
	io_uring_cqe_seen(&ring, cqe);
	assert_int_equal(sub_drain(sub), 1);
	assert_int_equal(reap(kid), 0);
	io_uring_queue_exit(&ring);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * The WaitSet is quiet, but for spurious readiness: a sender slower than
 * our receive (valgrind) makes the fd readable after we took its sample.
 * Each port it reports must then have nothing.
 */
static void ws_quiet(struct shmk_waitset *ws)
{
	struct shmk_waitset_event ev[4];
	int i, n, tries;

	for (tries = 0; tries < 10; tries++) {
		n = shmk_waitset_wait(ws, ev, 4, 0);
		if (n == -EAGAIN)
			return;
		assert_true(n > 0);
		for (i = 0; i < n; i++) {
			assert_int_equal(ev[i].what, SHMK_WS_READY);
			assert_int_equal(sub_drain(*(struct shmk_port **)ev[i].user), 0);
		}
	}
	fail_msg("the WaitSet stays ready with nothing to receive");
}

static void test_waitset_errors(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_waitset *ws;
	struct shmk_waitset_event ev[4];
	int id;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_waitset_create(NULL), -EINVAL);
	assert_int_equal(shmk_waitset_create(&ws), 0);
	assert_int_equal(shmk_waitset_fd(NULL), -EINVAL);
	assert_true(shmk_waitset_fd(ws) >= 0);
	assert_int_equal(shmk_waitset_attach_port(NULL, sub, 0, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_attach_port(ws, NULL, 0, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_attach_port(ws, sub, -1, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_attach_port(ws, pub, 0, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_attach_interval(NULL, 1000, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_attach_interval(ws, 0, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_attach_interval(ws, -5, NULL), -EINVAL);
	assert_int_equal(shmk_waitset_detach(NULL, 0), -EINVAL);
	assert_int_equal(shmk_waitset_detach(ws, 0), -ENOENT);
	assert_int_equal(shmk_waitset_detach(ws, -1), -ENOENT);
	assert_int_equal(shmk_waitset_wait(NULL, ev, 4, 0), -EINVAL);
	assert_int_equal(shmk_waitset_wait(ws, NULL, 4, 0), -EINVAL);
	assert_int_equal(shmk_waitset_wait(ws, ev, 0, 0), -EINVAL);
	/* Nothing attached yet: nothing changed by the failures. */
	assert_int_equal(shmk_waitset_wait(ws, ev, 4, 0), -EAGAIN);
	assert_int_equal(wait_until_timeout(ws, ev, 4, 1000000), -ETIMEDOUT);
	id = shmk_waitset_attach_port(ws, sub, 0, NULL);
	assert_true(id >= 0);
	assert_int_equal(shmk_waitset_attach_port(ws, sub, 0, NULL), -EEXIST);
	assert_int_equal(shmk_waitset_detach(ws, id), 0);
	assert_int_equal(shmk_waitset_detach(ws, id), -ENOENT);
	assert_int_equal(shmk_waitset_detach(ws, id + 100), -ENOENT);
	shmk_waitset_destroy(ws);
	shmk_waitset_destroy(NULL);
	shmk_port_close(sub);
	shmk_port_close(pub);
	drop_service(s, name);
}

static void test_waitset_ready(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub[2];
	struct shmk_waitset *ws;
	struct shmk_waitset_event ev[4];
	int id[2], k, n;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_waitset_create(&ws), 0);
	for (k = 0; k < 2; k++) {
		assert_int_equal(shmk_sub_open(s, &sub[k]), 0);
		id[k] = shmk_waitset_attach_port(ws, sub[k], 0, &sub[k]);
		assert_true(id[k] >= 0);
	}
	assert_int_not_equal(id[0], id[1]);
	/* Both ready at first (their fds start readable). */
	n = shmk_waitset_wait(ws, ev, 4, 0);
	assert_int_equal(n, 2);
	for (k = 0; k < 2; k++)
		sub_drain(sub[k]);
	assert_int_equal(shmk_waitset_wait(ws, ev, 4, 0), -EAGAIN);
	assert_false(readable(shmk_waitset_fd(ws), 0));
	kid = child_run(name, SHMK_SVC_PUBSUB, 50, kid_publish);
	assert_true(readable(shmk_waitset_fd(ws), 5000));
	n = shmk_waitset_wait(ws, ev, 1, SHMK_FOREVER);	/* room for one */
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].what, SHMK_WS_READY);
	k = ev[0].id == id[0] ? 0 : 1;
	assert_int_equal(ev[0].id, id[k]);
	assert_ptr_equal(ev[0].user, &sub[k]);
	/* The other is ready too (the sample went to both). */
	n = shmk_waitset_wait(ws, ev, 4, 5000000000LL);
	assert_true(n >= 1);
	for (k = 0; k < 2; k++)
		assert_int_equal(sub_drain(sub[k]), 1);
	assert_int_equal(reap(kid), 0);
	ws_quiet(ws);
	/* Detached: no longer reported. */
	assert_int_equal(shmk_waitset_detach(ws, id[0]), 0);
	kid = child_run(name, SHMK_SVC_PUBSUB, 0, kid_publish);
	n = shmk_waitset_wait(ws, ev, 4, 5000000000LL);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].id, id[1]);
	for (k = 0; k < 2; k++)	/* the publisher drains both */
		assert_int_equal(sub_drain(sub[k]), 1);
	assert_int_equal(reap(kid), 0);
	shmk_waitset_destroy(ws);
	for (k = 0; k < 2; k++)
		shmk_port_close(sub[k]);
	drop_service(s, name);
}

/* Deadlines fire while silent, not while fed; intervals tick. */
static void test_waitset_deadline_interval(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_waitset *ws;
	struct shmk_waitset_event ev[4];
	int id, tid, i, n, j, ticks = 0, deadlines = 0;
	int64_t t0;

	(void)state;
	c.buffer = 64;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_waitset_create(&ws), 0);
	id = shmk_waitset_attach_port(ws, sub, 100000000LL, NULL);	/* 100 ms */
	assert_true(id >= 0);
	sub_drain(sub);
	/* Fed every 10 ms for 400 ms: never late. */
	for (i = 0; i < 40; i++) {
		assert_int_equal(shmk_pub_send_copy(pub, "x", 1, 0), 0);
		n = shmk_waitset_wait(ws, ev, 4, 10000000LL);
		for (j = 0; j < (n > 0 ? n : 0); j++) {
			assert_int_not_equal(ev[j].what, SHMK_WS_DEADLINE);
			sub_drain(sub);
		}
		usleep(10000);
	}
	/* Silent: the deadline fires after 100 ms, and again. */
	t0 = shmk_now_ns();
	n = shmk_waitset_wait(ws, ev, 4, 1000000000LL);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].what, SHMK_WS_DEADLINE);
	assert_int_equal(ev[0].id, id);
	assert_true(shmk_now_ns() - t0 >= 80000000LL);
	n = shmk_waitset_wait(ws, ev, 4, 1000000000LL);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].what, SHMK_WS_DEADLINE);
	/* An interval of 20 ms ticks about 10 times in 200 ms. */
	tid = shmk_waitset_attach_interval(ws, 20000000LL, &ticks);
	assert_true(tid >= 0);
	assert_int_not_equal(tid, id);
	assert_int_equal(shmk_waitset_detach(ws, id), 0);
	t0 = shmk_now_ns();
	while (shmk_now_ns() - t0 < 200000000LL) {
		n = shmk_waitset_wait(ws, ev, 4, 50000000LL);
		for (j = 0; j < (n > 0 ? n : 0); j++) {
			assert_int_equal(ev[j].id, tid);
			assert_ptr_equal(ev[j].user, &ticks);
			if (ev[j].what == SHMK_WS_TICK)
				ticks++;
			else
				deadlines++;
		}
	}
	assert_true(ticks >= 5 && ticks <= 11);
	assert_int_equal(deadlines, 0);
	shmk_waitset_destroy(ws);
	shmk_port_close(sub);
	shmk_port_close(pub);
	drop_service(s, name);
}

/* The WaitSet's fd inside another epoll set. */
static void test_waitset_fd_in_epoll(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *li;
	struct shmk_waitset *ws;
	struct shmk_waitset_event ev[4];
	struct epoll_event e = { .events = EPOLLIN }, out;
	uint32_t ids[4];
	int ep;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_listener_open(s, &li), 0);
	assert_int_equal(shmk_waitset_create(&ws), 0);
	assert_true(shmk_waitset_attach_port(ws, li, 0, NULL) >= 0);
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), -EAGAIN);
	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, shmk_waitset_fd(ws), &e), 0);
	assert_int_equal(epoll_wait(ep, &out, 1, 0), 0);
	kid = child_run(name, SHMK_SVC_EVENT, 50, kid_notify);
	assert_int_equal(epoll_wait(ep, &out, 1, 5000), 1);
	assert_int_equal(shmk_waitset_wait(ws, ev, 4, 0), 1);
	assert_int_equal(ev[0].what, SHMK_WS_READY);
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), 1);
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), -EAGAIN);
	assert_int_equal(reap(kid), 0);
	/* Quiet, but for one spurious readiness (a slow notifier). */
	if (epoll_wait(ep, &out, 1, 0) == 1) {
		assert_int_equal(shmk_waitset_wait(ws, ev, 4, 0), 1);
		assert_int_equal(shmk_listener_wait(li, ids, 4, 0), -EAGAIN);
	}
	assert_int_equal(epoll_wait(ep, &out, 1, 0), 0);
	close(ep);
	shmk_waitset_destroy(ws);
	shmk_port_close(li);
	drop_service(s, name);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_fd_errors),
		cmocka_unit_test(test_fd_readable_pubsub),
		cmocka_unit_test(test_fd_readable_event),
		cmocka_unit_test(test_fd_readable_reqres),
		cmocka_unit_test(test_fd_readable_client),
		cmocka_unit_test(test_storm),
		cmocka_unit_test(test_killed_watcher),
		cmocka_unit_test(test_one_send_per_arm),
		cmocka_unit_test(test_uring_poll),
		cmocka_unit_test(test_waitset_errors),
		cmocka_unit_test(test_waitset_ready),
		cmocka_unit_test(test_waitset_deadline_interval),
		cmocka_unit_test(test_waitset_fd_in_epoll),
	};

	use_memfd_backend();
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
