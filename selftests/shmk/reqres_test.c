// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk request-response on the device backend, in the QEMU guest with
 * shmk.ko: several servers in several processes, streams of responses
 * and their end, a server killed mid-stream (its death notice ends the
 * client's wait: -ECONNRESET, not a timeout), a client killed with a
 * stream pending (the server's wait for room ends with -ECANCELED),
 * cancel and fire-and-forget; a cancel that reaches a server process
 * asleep for room, a stale cancel of an earlier client generation, and a
 * dead client's request seen as cancelled; no chunk is leaked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "kselftest_harness.h"

#define LIB_UTIL_PREFIX "rr"
#include "lib_util.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A helper process kills @pid in 200 ms, while the caller sleeps. */
static void kill_later(pid_t pid)
{
	if (fork() == 0) {
		usleep(200000);
		kill(pid, SIGKILL);
		_exit(0);
	}
}

/* @n responses to @req (value * 1000 + i), the last flagged if @end. */
static int stream_n(struct shmk_port *sv, const struct shmk_sample *req,
		    uint32_t n, int end)
{
	uint32_t v, i, r;
	void *pl;
	int ret;

	memcpy(&v, req->data, 4);
	for (i = 0; i < n; i++) {
		ret = shmk_pub_loan(sv, &pl);
		if (ret)
			return ret;
		r = v * 1000 + i;
		memcpy(pl, &r, 4);
		ret = shmk_server_stream(sv, req, pl, 4,
					 end && i + 1 == n ? SHMK_RESP_LAST : 0,
					 SHMK_FOREVER);
		if (ret) {
			shmk_pub_discard(sv, pl);
			return ret;
		}
	}
	return 0;
}

static uint64_t request(struct shmk_port *cl, uint32_t v, unsigned int flags,
			uint32_t *servers)
{
	uint64_t corr = 0;
	void *pl;

	if (shmk_pub_loan(cl, &pl))
		return 0;
	memcpy(pl, &v, 4);
	if (shmk_client_request(cl, pl, 4, flags, &corr, servers,
				1000000000LL)) {
		shmk_pub_discard(cl, pl);
		return 0;
	}
	return corr;
}

/*
 * A server process: streams of @n responses with their end; a request
 * of value 0 (fire-and-forget) stops it; one of value 999 gets two
 * responses and no end, then the process waits to be killed.
 */
static void server_child(const char *name, int wfd, uint32_t n)
{
	struct shmk_service *cs;
	struct shmk_port *sv;
	struct shmk_sample req;
	uint32_t v;

	CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
	CHILD_CHECK(shmk_server_open(cs, &sv) == 0);
	CHILD_CHECK(write(wfd, "s", 1) == 1);
	for (;;) {
		CHILD_CHECK(shmk_server_receive(sv, &req, SHMK_FOREVER) == 0);
		memcpy(&v, req.data, 4);
		if (v == 0) {
			CHILD_CHECK(shmk_sample_flags(&req) & SHMK_REQ_NO_RESPONSE);
			CHILD_CHECK(shmk_server_end(sv, &req, 0) == -EINVAL);
			shmk_sub_release(sv, &req);
			break;
		}
		if (v == 999) {
			CHILD_CHECK(stream_n(sv, &req, 2, 0) == 0);
			CHILD_CHECK(write(wfd, "m", 1) == 1);
			pause();
		}
		CHILD_CHECK(stream_n(sv, &req, n, 1) == 0);
		shmk_sub_release(sv, &req);
	}
	CHILD_CHECK(shmk_pub_drain(sv, SHMK_FOREVER) == 0);
	shmk_port_close(sv);
	shmk_service_close(cs);
	_exit(0);
}

/* Two servers in two processes: every request, two streams, their end. */
TEST(several_servers_stream)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl;
	struct shmk_sample smp;
	uint32_t n = 7, nsv, seen[64], r, k, i;
	int fds[2];
	pid_t kid[2];

	NEED_DEVICE();
	uniq(name, sizeof(name), "multi");
	c.max_publishers = 1;
	c.max_subscribers = 2;
	c.buffer = 2;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, pipe(fds));
	for (k = 0; k < 2; k++) {
		kid[k] = fork();
		ASSERT_LE(0, kid[k]);
		if (kid[k] == 0)
			server_child(name, fds[1], n);
		ASSERT_EQ(1, read(fds[0], &ch, 1));
	}
	ASSERT_EQ(0, shmk_client_open(s, &cl));
	for (i = 1; i <= 100; i++) {
		uint64_t corr = request(cl, i, 0, &nsv);

		ASSERT_NE(0, corr);
		ASSERT_EQ(2, nsv);
		memset(seen, 0, sizeof(seen));
		for (k = 0; k < 2 * n; k++) {
			ASSERT_EQ(0, shmk_client_receive_for(cl, corr, &smp,
							     SHMK_FOREVER));
			ASSERT_LT(smp.origin, 64);
			memcpy(&r, smp.data, 4);
			ASSERT_EQ(i * 1000 + seen[smp.origin], r);
			seen[smp.origin]++;
			ASSERT_EQ(seen[smp.origin] == n,
				  !!(shmk_sample_flags(&smp) & SHMK_RESP_LAST));
			ASSERT_EQ(0, shmk_sub_release(cl, &smp));
		}
		ASSERT_EQ(-ENODATA, shmk_client_receive_for(cl, corr, &smp,
							    SHMK_FOREVER));
	}
	ASSERT_NE(0, request(cl, 0, SHMK_REQ_NO_RESPONSE, &nsv));
	ASSERT_EQ(2, nsv);
	for (k = 0; k < 2; k++)
		ASSERT_EQ(0, reap(kid[k]));
	shmk_port_close(cl);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	close(fds[0]);
	close(fds[1]);
	shmk_service_close(s);
}

/*
 * A server killed mid-stream: the client sleeping for the rest wakes on
 * the module's death notice and gets -ECONNRESET at once.
 */
TEST(server_killed_midstream)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl;
	struct shmk_sample smp;
	uint64_t corr;
	int64_t t0;
	int fds[2], i;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "kill");
	c.max_publishers = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, pipe(fds));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0)
		server_child(name, fds[1], 1);
	ASSERT_EQ(1, read(fds[0], &ch, 1));
	ASSERT_EQ(0, shmk_client_open(s, &cl));
	corr = request(cl, 999, 0, NULL);
	ASSERT_NE(0, corr);
	ASSERT_EQ(1, read(fds[0], &ch, 1));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, shmk_client_receive_for(cl, corr, &smp, SHMK_FOREVER));
		ASSERT_EQ(0, shmk_sub_release(cl, &smp));
	}
	ASSERT_EQ(1, shmk_client_pending(cl, corr));
	kill_later(kid);
	t0 = now_ns();
	ASSERT_EQ(-ECONNRESET, shmk_client_receive_for(cl, corr, &smp,
							10000000000LL));
	/* Woken by the death notice: well before a timeout. */
	EXPECT_LT(now_ns() - t0, 5000000000LL);
	ASSERT_EQ(128 + SIGKILL, reap(kid));
	while (wait(NULL) > 0)
		;
	shmk_service_recover(s);
	shmk_port_close(cl);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	close(fds[0]);
	close(fds[1]);
	shmk_service_close(s);
}

/*
 * A client killed with a stream pending: the server waiting for room
 * wakes on the death notice and gets -ECANCELED; cancel releases what
 * was kept; nothing leaks.
 */
TEST(client_gone_and_cancel)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *sv, *cl;
	struct shmk_sample req, smp;
	uint64_t a, b;
	int fds[2], ret;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "gone");
	c.max_publishers = 1;
	c.buffer = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_server_open(s, &sv));
	ASSERT_EQ(0, pipe(fds));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
		CHILD_CHECK(request(cl, 5, 0, NULL) != 0);
		CHILD_CHECK(write(fds[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(fds[0], &ch, 1));
	ASSERT_EQ(0, shmk_server_receive(sv, &req, SHMK_FOREVER));
	kill_later(kid);
	/* The first fills the client's buffer, the second waits for room. */
	ret = stream_n(sv, &req, 3, 1);
	ASSERT_EQ(-ECANCELED, ret);
	ASSERT_EQ(128 + SIGKILL, reap(kid));
	while (wait(NULL) > 0)
		;
	ASSERT_EQ(0, shmk_sub_release(sv, &req));

	/* Cancel: the kept response goes back at once. */
	ASSERT_EQ(0, shmk_client_open(s, &cl));
	/* Buffer 1: the server takes each request before the next. */
	a = request(cl, 1, 0, NULL);
	ASSERT_NE(0, a);
	ASSERT_EQ(0, shmk_server_receive(sv, &req, 0));
	ASSERT_EQ(a, req.corr);
	ASSERT_EQ(0, stream_n(sv, &req, 1, 1));
	ASSERT_EQ(0, shmk_sub_release(sv, &req));
	b = request(cl, 2, 0, NULL);
	ASSERT_EQ(-EAGAIN, shmk_client_receive_for(cl, b, &smp, 0));
	ASSERT_EQ(0, shmk_client_cancel(cl, a));
	ASSERT_EQ(-ENOENT, shmk_client_receive_for(cl, a, &smp, 0));
	ASSERT_EQ(0, shmk_server_receive(sv, &req, 0));
	ASSERT_EQ(0, stream_n(sv, &req, 1, 1));
	ASSERT_EQ(0, shmk_sub_release(sv, &req));
	ASSERT_EQ(0, shmk_client_receive_for(cl, b, &smp, SHMK_FOREVER));
	ASSERT_EQ(0, shmk_sub_release(cl, &smp));
	ASSERT_EQ(-ENODATA, shmk_client_receive_for(cl, b, &smp, 0));
	shmk_port_close(cl);
	shmk_port_close(sv);
	shmk_service_recover(s);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	close(fds[0]);
	close(fds[1]);
	shmk_service_close(s);
}

/*
 * A cancel reaches a server in another process asleep in
 * shmk_server_stream() for room (the device has no sleep slice: only the
 * cancel's wake ends that sleep): its stream ends with -ECANCELED at
 * once, shmk_server_cancelled() says 1, nothing more is delivered.
 */
TEST(cancel_wakes_server_process)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl;
	struct shmk_sample smp;
	int fds[2], i, st = -1;
	int64_t t0;
	uint64_t corr;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "cancel");
	c.max_publishers = 1;
	c.buffer = 2;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, pipe(fds));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *sv;
		struct shmk_sample req;
		void *pl;
		int ret, n = 0;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_server_open(cs, &sv) == 0);
		CHILD_CHECK(write(fds[1], "s", 1) == 1);
		CHILD_CHECK(shmk_server_receive(sv, &req, SHMK_FOREVER) == 0);
		CHILD_CHECK(shmk_server_cancelled(sv, &req) == 0);
		for (;;) {
			CHILD_CHECK(shmk_pub_loan(sv, &pl) == 0);
			ret = shmk_server_stream(sv, &req, pl, 4, 0, SHMK_FOREVER);
			if (ret) {
				CHILD_CHECK(shmk_pub_discard(sv, pl) == 0);
				break;
			}
			n++;
		}
		CHILD_CHECK(ret == -ECANCELED);
		CHILD_CHECK(shmk_server_cancelled(sv, &req) == 1);
		/* Buffer 2, one received: 3 sent, the 4th waited. */
		CHILD_CHECK(n == 3);
		CHILD_CHECK(write(fds[1], "c", 1) == 1);
		shmk_sub_release(sv, &req);
		shmk_port_close(sv);
		shmk_service_close(cs);
		_exit(0);
	}
	ASSERT_EQ(1, read(fds[0], &ch, 1));
	ASSERT_EQ(0, shmk_client_open(s, &cl));
	corr = request(cl, 7, 0, NULL);
	ASSERT_NE(0, corr);
	ASSERT_EQ(0, shmk_client_receive_for(cl, corr, &smp, SHMK_FOREVER));
	ASSERT_EQ(0, shmk_sub_release(cl, &smp));
	usleep(200000);		/* the server fills the ring and sleeps */
	t0 = now_ns();
	ASSERT_EQ(0, shmk_client_cancel(cl, corr));
	for (i = 0; i < 500 && waitpid(kid, &st, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 500) {
		kill(kid, SIGKILL);
		reap(kid);
	}
	ASSERT_GT(500, i) TH_LOG("the server slept on after the cancel");
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_EQ(1, read(fds[0], &ch, 1));
	ASSERT_EQ('c', ch);
	TH_LOG("cancel to server's -ECANCELED: %lld us",
	       (long long)(now_ns() - t0) / 1000);
	/* What it sent before the cancel is released, not delivered. */
	ASSERT_EQ(-EAGAIN, shmk_client_receive(cl, &smp, 0));
	shmk_port_close(cl);
	shmk_service_recover(s);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	close(fds[0]);
	close(fds[1]);
	shmk_service_close(s);
}

/*
 * A cancel, and a request, of an earlier generation of a client slot do
 * not touch the next client's request of the same id; a killed client's
 * request is cancelled as soon as the module marks its slot dead.
 */
TEST(cancel_stale_and_dead)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *sv, *cl;
	struct shmk_sample old, req, smp;
	int fds[2], i;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "stale");
	c.max_publishers = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_server_open(s, &sv));
	ASSERT_EQ(0, shmk_client_open(s, &cl));
	ASSERT_EQ(1, request(cl, 1, 0, NULL));
	ASSERT_EQ(0, shmk_server_receive(sv, &old, 0));
	ASSERT_EQ(0, shmk_client_cancel(cl, 1));
	ASSERT_EQ(1, shmk_server_cancelled(sv, &old));
	shmk_port_close(cl);
	ASSERT_EQ(0, shmk_client_open(s, &cl));
	ASSERT_EQ(1, request(cl, 2, 0, NULL));
	ASSERT_EQ(0, shmk_server_receive(sv, &req, 0));
	ASSERT_EQ(old.corr, req.corr);
	ASSERT_EQ(old.origin, req.origin);
	ASSERT_EQ(0, shmk_server_cancelled(sv, &req));
	ASSERT_EQ(1, shmk_server_cancelled(sv, &old));
	ASSERT_EQ(0, stream_n(sv, &req, 1, 1));
	ASSERT_EQ(0, shmk_client_receive_for(cl, 1, &smp, 0));
	ASSERT_EQ(0, shmk_sub_release(cl, &smp));
	ASSERT_EQ(-ENODATA, shmk_client_receive_for(cl, 1, &smp, 0));
	ASSERT_EQ(0, shmk_sub_release(sv, &old));
	ASSERT_EQ(0, shmk_sub_release(sv, &req));
	shmk_port_close(cl);

	/* A client killed with a request pending. */
	ASSERT_EQ(0, pipe(fds));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
		CHILD_CHECK(request(cl, 3, 0, NULL) != 0);
		CHILD_CHECK(write(fds[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(fds[0], &ch, 1));
	ASSERT_EQ(0, shmk_server_receive(sv, &req, SHMK_FOREVER));
	ASSERT_EQ(0, shmk_server_cancelled(sv, &req));
	kill(kid, SIGKILL);
	ASSERT_EQ(128 + SIGKILL, reap(kid));
	/* The module writes DEAD when the dead client's file goes. */
	for (i = 0; i < 100 && shmk_server_cancelled(sv, &req) != 1; i++)
		usleep(10000);
	ASSERT_EQ(1, shmk_server_cancelled(sv, &req));
	ASSERT_EQ(-ECANCELED, stream_n(sv, &req, 1, 1));
	ASSERT_EQ(0, shmk_sub_release(sv, &req));
	shmk_port_close(sv);
	shmk_service_recover(s);
	EXPECT_EQ(0, shmk_service_chunks_used(s));
	close(fds[0]);
	close(fds[1]);
	shmk_service_close(s);
}

TEST_HARNESS_MAIN
