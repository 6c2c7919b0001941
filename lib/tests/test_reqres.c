// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Request-response: loaned requests and responses, correlation ids,
 * several clients each answered alone, timeouts, errors, and clients in
 * other processes.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include "msgutil.h"
#include <shmk/inspect.h>

static int serve_one(struct shmk_port *sv, int64_t timeout)
{
	struct shmk_sample req;
	uint32_t v;
	void *pl;
	int ret = shmk_server_receive(sv, &req, timeout);

	if (ret)
		return ret;
	memcpy(&v, req.data, 4);
	v *= 2;
	ret = shmk_pub_loan(sv, &pl);
	if (ret == 0) {
		memcpy(pl, &v, 4);
		ret = shmk_server_respond(sv, &req, pl, 4);
	}
	shmk_sub_release(sv, &req);
	return ret;
}

static void test_basic(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl[2], *sv, *x;
	struct shmk_sample smp;
	uint64_t corr[2][3];
	uint32_t v;
	void *pl;
	int i, k;

	(void)state;
	c.max_publishers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_server_open(s, &x), -EBUSY);
	assert_int_equal(shmk_sub_open(s, &x), -EPROTOTYPE);
	for (k = 0; k < 2; k++)
		assert_int_equal(shmk_client_open(s, &cl[k]), 0);
	assert_int_equal(shmk_client_open(s, &x), -EBUSY);
	assert_int_equal(shmk_client_receive(cl[0], &smp, 0), -EAGAIN);
	assert_int_equal(shmk_client_receive(cl[0], &smp, 1000000), -ETIMEDOUT);
	assert_int_equal(shmk_server_receive(sv, &smp, 1000000), -ETIMEDOUT);
	for (i = 0; i < 3; i++)
		for (k = 0; k < 2; k++) {
			v = (uint32_t)(100 * k + i);
			assert_int_equal(shmk_pub_loan(cl[k], &pl), 0);
			memcpy(pl, &v, 4);
			assert_int_equal(shmk_client_send(cl[k], pl, 4, &corr[k][i]), 0);
			assert_int_equal(serve_one(sv, 0), 0);
		}
	assert_true(corr[0][0] != corr[0][1]);
	/* Each client gets its own three answers, in order. */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 3; i++) {
			assert_int_equal(shmk_client_receive(cl[k], &smp, 0), 0);
			assert_int_equal(smp.corr, corr[k][i]);
			memcpy(&v, smp.data, 4);
			assert_int_equal(v, 2 * (100 * k + i));
			assert_int_equal(shmk_sub_release(cl[k], &smp), 0);
		}
		assert_int_equal(shmk_client_receive(cl[k], &smp, 0), -EAGAIN);
	}
	/* Errors */
	assert_int_equal(shmk_client_send(sv, pl, 4, NULL), -EINVAL);
	assert_int_equal(shmk_server_respond(cl[0], &smp, pl, 4), -EINVAL);
	assert_int_equal(shmk_server_receive(cl[0], &smp, 0), -EINVAL);
	assert_int_equal(shmk_client_receive(sv, &smp, 0), -EINVAL);
	assert_int_equal(shmk_client_send(cl[0], (char *)pl + 1, 4, NULL), -EINVAL);
	shmk_port_close(sv);
	for (k = 0; k < 2; k++)
		shmk_port_close(cl[k]);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* A request nobody answers: the client times out and goes on. */
static void test_timeout(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample smp;
	void *pl;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 1, NULL), 0);
	assert_int_equal(shmk_client_receive(cl, &smp, 5000000), -ETIMEDOUT);
	shmk_port_close(cl);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* Clients in child processes, blocking; the server in the parent. */
static void test_processes(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sv;
	unsigned long n = scaled(3000), served = 0;
	pid_t kid[3];
	int k;

	(void)state;
	c.max_publishers = 3;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	for (k = 0; k < 3; k++) {
		kid[k] = fork();
		assert_true(kid[k] >= 0);
		if (kid[k] == 0) {
			struct shmk_service *cs;
			struct shmk_port *cl;
			struct shmk_sample smp;
			unsigned long i;

			CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
			CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
			for (i = 0; i < n; i++) {
				uint32_t v = (uint32_t)(i + 1000 * k), r;
				uint64_t corr;
				void *pl;

				CHILD_CHECK(shmk_pub_loan(cl, &pl) == 0);
				memcpy(pl, &v, 4);
				CHILD_CHECK(shmk_client_send(cl, pl, 4, &corr) == 0);
				CHILD_CHECK(shmk_client_receive(cl, &smp, SHMK_FOREVER) == 0);
				CHILD_CHECK(smp.corr == corr);
				memcpy(&r, smp.data, 4);
				CHILD_CHECK(r == 2 * v);
				shmk_sub_release(cl, &smp);
			}
			shmk_port_close(cl);
			shmk_service_close(cs);
			_exit(0);
		}
	}
	while (served < 3 * n)
		if (serve_one(sv, 100000000) == 0)
			served++;
	for (k = 0; k < 3; k++)
		assert_int_equal(reap(kid[k]), 0);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * @nc clients, each with one request in flight, @rounds times: every
 * loan, send, receive and response succeeds, and the chunks in use stay
 * within the rings' references (lib-audit #3).
 */
static void round_trips(uint32_t nc, uint32_t buffer, unsigned long rounds)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sv, *cl[SHMK_SVC_SLOTS_MAX];
	uint64_t corr[SHMK_SVC_SLOTS_MAX];
	struct shmk_sample smp;
	uint32_t k, used, used_max = 0, bound;
	unsigned long r;
	void *pl;

	c.max_publishers = nc;
	c.buffer = buffer;
	c.payload_max = 64;
	s = new_service(&c, name);
	/* Request rings and response rings, full, and nothing else. */
	bound = 2 * nc * (buffer ? buffer : 8);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	for (k = 0; k < nc; k++)
		assert_int_equal(shmk_client_open(s, &cl[k]), 0);
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < nc; k++) {
			uint32_t v = (uint32_t)(r * nc + k);

			assert_int_equal(shmk_pub_loan(cl[k], &pl), 0);
			memcpy(pl, &v, 4);
			assert_int_equal(shmk_client_send(cl[k], pl, 4, &corr[k]), 0);
		}
		for (k = 0; k < nc; k++)
			assert_int_equal(serve_one(sv, 0), 0);
		for (k = 0; k < nc; k++) {
			uint32_t v;

			assert_int_equal(shmk_client_receive(cl[k], &smp, 0), 0);
			assert_int_equal(smp.corr, corr[k]);
			memcpy(&v, smp.data, 4);
			assert_int_equal(v, 2 * (uint32_t)(r * nc + k));
			assert_int_equal(shmk_sub_release(cl[k], &smp), 0);
		}
		if (r % 64 == 0 || r + 1 == rounds) {
			used = shmk_service_chunks_used(s);
			if (used > used_max)
				used_max = used;
		}
	}
	assert_true(used_max <= bound);
	for (k = 0; k < nc; k++)
		shmk_port_close(cl[k]);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* The audit's cases: 2 clients with buffer 64, 15 with the defaults. */
static void test_pool_audit(void **state)
{
	(void)state;
	round_trips(2, 64, 500);
	round_trips(15, 0, 200);
	round_trips(32, 8, 50);
}

struct rt_client {
	struct shmk_port *cl;
	unsigned long n;
	uint32_t id;
	int bad;
};

static void *rt_client_run(void *arg)
{
	struct rt_client *a = arg;
	struct shmk_sample smp;
	unsigned long i;

	for (i = 0; i < a->n && !a->bad; i++) {
		uint32_t v = (uint32_t)i ^ (a->id << 24), r;
		uint64_t corr;
		void *pl;

		if (shmk_pub_loan(a->cl, &pl)) {
			a->bad = 1;
			break;
		}
		memcpy(pl, &v, 4);
		if (shmk_client_send(a->cl, pl, 4, &corr) ||
		    shmk_client_receive(a->cl, &smp, SHMK_FOREVER) ||
		    smp.corr != corr) {
			a->bad = 2;
			break;
		}
		memcpy(&r, smp.data, 4);
		if (r != 2 * v)
			a->bad = 3;
		shmk_sub_release(a->cl, &smp);
	}
	return NULL;
}

/*
 * 16 clients, 1,000,000 round trips in all (plain phase): first one
 * thread driving all of them, one request in flight each, then each
 * client in a thread of its own against a server thread, blocking.
 */
static void test_million(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct rt_client a[16];
	pthread_t t[16];
	struct shmk_service *s;
	struct shmk_port *sv;
	struct timespec t0, t1;
	unsigned long per = scaled(1000000) / 16, served = 0;
	uint32_t k, used, used_max = 0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	round_trips(16, 0, per);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "%lu round trips, 16 clients, one thread: %.2f s\n",
		per * 16, (double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	/* Sanitizer phases: TSan (scale 2) 25,000, valgrind (10) 1,000. */
	per = 1000000 / 16;
	if (scaled(1000) < 1000)
		per = scaled(scaled(100000)) / 16;
	c.max_publishers = 16;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 0; k < 16; k++) {
		a[k] = (struct rt_client){ .n = per, .id = k };
		assert_int_equal(shmk_client_open(s, &a[k].cl), 0);
		assert_int_equal(pthread_create(&t[k], NULL, rt_client_run, &a[k]), 0);
	}
	while (served < 16 * per) {
		int ret = serve_one(sv, 100000000);

		assert_true(ret == 0 || ret == -ETIMEDOUT);
		if (ret == 0 && ++served % 256 == 0) {
			used = shmk_service_chunks_used(s);
			if (used > used_max)
				used_max = used;
		}
	}
	for (k = 0; k < 16; k++) {
		assert_int_equal(pthread_join(t[k], NULL), 0);
		assert_int_equal(a[k].bad, 0);
		shmk_port_close(a[k].cl);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "%lu round trips, 16 client threads, blocking: %.2f s, "
		"at most %u of %u chunks used\n", per * 16,
		(double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9, used_max,
		shmk_service_chunks(s));
	assert_true(used_max <= 2 * 16 * 8 + 16 * 4 + 2);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

struct late_server {
	const char *name;
	struct shmk_port *sv;
};

static void *open_server_later(void *arg)
{
	struct late_server *ls = arg;
	struct shmk_service *s;

	nanosleep(&(struct timespec){ .tv_nsec = 30000000 }, NULL);
	if (shmk_service_open(ls->name, NULL, 0, &s) == 0 &&
	    shmk_server_open(s, &ls->sv) == 0)
		return s;
	return NULL;
}

/*
 * No live server: shmk_client_send() fails with -ENOTCONN and changes
 * nothing (the caller keeps its loan); shmk_client_send_wait() times out,
 * or succeeds once a server comes.
 */
static void test_no_server(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *s2;
	struct shmk_port *cl, *sv;
	struct late_server ls;
	struct shmk_sample smp;
	pthread_t t;
	uint64_t corr = 77;
	void *pl, *ret;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 4, &corr), -ENOTCONN);
	assert_non_null(strstr(shmk_last_error(), "no live server"));
	assert_int_equal(corr, 77);
	assert_int_equal(shmk_service_chunks_used(s), 1);
	assert_int_equal(shmk_service_backlog(s), 0);
	assert_int_equal(shmk_client_send_wait(cl, pl, 4, &corr, 0), -ENOTCONN);
	assert_int_equal(shmk_client_send_wait(cl, pl, 4, &corr, 20000000),
			 -ETIMEDOUT);
	assert_non_null(strstr(shmk_last_error(), "no live server"));
	assert_int_equal(shmk_client_send_wait(cl, (char *)pl + 1, 4, &corr,
					       20000000), -EINVAL);
	/* A server that was live and left: the same. */
	assert_int_equal(shmk_server_open(s, &sv), 0);
	shmk_port_close(sv);
	assert_int_equal(shmk_client_send(cl, pl, 4, &corr), -ENOTCONN);
	/* A server that comes while we wait. */
	ls.name = name;
	ls.sv = NULL;
	assert_int_equal(pthread_create(&t, NULL, open_server_later, &ls), 0);
	assert_int_equal(shmk_client_send_wait(cl, pl, 4, &corr,
					       5000000000LL), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_non_null(ret);
	s2 = ret;
	assert_int_equal(shmk_server_receive(ls.sv, &smp, 1000000000LL), 0);
	assert_int_equal(smp.corr, corr);
	shmk_sub_release(ls.sv, &smp);
	shmk_port_close(ls.sv);
	shmk_service_close(s2);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* Blocking overflow: a full server buffer; send_wait waits for room. */
static void *drain_later(void *arg)
{
	struct shmk_port *sv = arg;
	struct shmk_sample smp;

	nanosleep(&(struct timespec){ .tv_nsec = 30000000 }, NULL);
	if (shmk_server_receive(sv, &smp, 1000000000LL))
		return NULL;
	shmk_sub_release(sv, &smp);
	return sv;
}

static void test_send_wait_room(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample smp;
	pthread_t t;
	void *pl, *ret;

	(void)state;
	c.buffer = 1;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 1, NULL), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 1, NULL), -EAGAIN);
	assert_int_equal(shmk_client_send_wait(cl, pl, 1, NULL, 10000000),
			 -ETIMEDOUT);
	assert_non_null(strstr(shmk_last_error(), "buffer"));
	/* lib-audit #20: the documented -EINTR and -EINVALs. */
	alarm_in(20);
	assert_int_equal(shmk_client_send_wait(cl, pl, 1, NULL, SHMK_FOREVER),
			 -EINTR);
	alarm_off();
	assert_int_equal(shmk_client_send_wait(NULL, pl, 1, NULL, 1), -EINVAL);
	assert_int_equal(shmk_client_send_wait(sv, pl, 1, NULL, 1), -EINVAL);
	assert_int_equal(shmk_client_receive(cl, NULL, 0), -EINVAL);
	assert_int_equal(shmk_server_receive(NULL, &smp, 0), -EINVAL);
	assert_int_equal(shmk_server_respond(sv, NULL, pl, 1), -EINVAL);
	assert_int_equal(pthread_create(&t, NULL, drain_later, sv), 0);
	assert_int_equal(shmk_client_send_wait(cl, pl, 1, NULL, SHMK_FOREVER), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_non_null(ret);
	assert_int_equal(shmk_server_receive(sv, &smp, 0), 0);
	shmk_sub_release(sv, &smp);
	shmk_port_close(cl);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * Blocking overflow, buffer 1, the server SIGKILLed with a request
 * unread: shmk_client_send() finds it dead within a bounded number of
 * tries (-ENOTCONN, not -EAGAIN forever; lib-audit #10), keeps the loan,
 * and sends to the next server.
 */
static void test_dead_server_block(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample smp;
	int fds[2], i, ret = 0;
	uint64_t corr;
	void *pl;
	pid_t pid;
	char ch;

	(void)state;
	c.buffer = 1;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	c.max_publishers = 1;
	s = new_service(&c, name);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_service *cs;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_server_open(cs, &sv) == 0);
		CHILD_CHECK(write(fds[1], "s", 1) == 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(fds[0], &ch, 1), 1);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 1, NULL), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 1, NULL), -EAGAIN);
	kill(pid, SIGKILL);
	assert_int_equal(reap(pid), 128 + SIGKILL);
	close(fds[0]);
	close(fds[1]);
	for (i = 0; i < 100; i++) {
		ret = shmk_client_send(cl, pl, 1, NULL);
		if (ret != -EAGAIN)
			break;
	}
	assert_int_equal(ret, -ENOTCONN);
	assert_true(i < 100);
	assert_int_equal(shmk_client_send(cl, pl, 1, NULL), -ENOTCONN);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_send(cl, pl, 3, &corr), 0);
	assert_int_equal(shmk_server_receive(sv, &smp, 0), 0);
	assert_int_equal(smp.corr, corr);
	assert_int_equal(smp.len, 3);
	shmk_sub_release(sv, &smp);
	shmk_port_close(sv);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}


/* Streams (shmk_client_request(), shmk_server_stream()) */

/* Answer @req with @n responses (value * 1000 + i), the last flagged. */
static int stream_n(struct shmk_port *sv, const struct shmk_sample *req,
		    uint32_t n, int end, int64_t timeout)
{
	uint32_t v, i;
	void *pl;
	int ret;

	memcpy(&v, req->data, 4);
	for (i = 0; i < n; i++) {
		uint32_t r = v * 1000 + i;

		ret = shmk_pub_loan(sv, &pl);
		if (ret)
			return ret;
		memcpy(pl, &r, 4);
		ret = shmk_server_stream(sv, req, pl, 4,
					 end && i + 1 == n ? SHMK_RESP_LAST : 0,
					 timeout);
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

	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	memcpy(pl, &v, 4);
	assert_int_equal(shmk_client_request(cl, pl, 4, flags, &corr, servers,
					     0), 0);
	return corr;
}

/*
 * One server, one client: a stream of 3 * buffer responses with its end;
 * a response never overwrites an unread one (-EAGAIN at timeout 0).
 */
static void test_stream(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample req, smp;
	uint32_t n = 0, got = 0, v, nsv;
	uint64_t corr;
	void *pl;
	int ret;

	(void)state;
	c.buffer = 4;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	corr = request(cl, 7, 0, &nsv);
	assert_int_equal(nsv, 1);
	assert_int_equal(shmk_client_pending(cl, corr), 1);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(shmk_sample_flags(&req) & SHMK_REQ_NO_RESPONSE, 0);
	while (got < 12) {
		if (n < 12) {
			assert_int_equal(shmk_pub_loan(sv, &pl), 0);
			v = 7000 + n;
			memcpy(pl, &v, 4);
			ret = shmk_server_stream(sv, &req, pl, 4, 0, 0);
			if (ret == 0) {
				n++;
				/* Never more than buffer unread. */
				assert_true(n - got <= 4);
				continue;
			}
			assert_int_equal(ret, -EAGAIN);
			assert_int_equal(n - got, 4);
			assert_int_equal(shmk_pub_discard(sv, pl), 0);
		}
		assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
		assert_int_equal(smp.corr, corr);
		assert_int_equal(smp.origin, (uint32_t)shmk_port_slot(sv));
		assert_int_equal(shmk_sample_flags(&smp), 0);
		memcpy(&v, smp.data, 4);
		assert_int_equal(v, 7000 + got);
		got++;
		assert_int_equal(shmk_sub_release(cl, &smp), 0);
	}
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_client_pending(cl, corr), 1);
	assert_int_equal(shmk_server_end(sv, &req, 0), 0);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
	assert_int_equal(smp.len, 0);
	assert_true(shmk_sample_flags(&smp) & SHMK_RESP_LAST);
	assert_int_equal(shmk_client_pending(cl, corr), 0);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -ENODATA);
	/* Reported once: no longer pending. */
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -ENOENT);
	assert_int_equal(shmk_client_pending(cl, corr), -ENOENT);
	/* After the end the client wants no more: the server is told. */
	assert_int_equal(shmk_server_cancelled(sv, &req), 1);
	assert_int_equal(stream_n(sv, &req, 1, 1, 0), -ECANCELED);
	assert_non_null(strstr(shmk_last_error(), "cancelled the request"));
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	shmk_sub_release(sv, &req);
	shmk_port_close(sv);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * Two requests pending at once: the responses of the one not asked for
 * are kept, in order, for its own call and for shmk_client_receive();
 * shmk_server_respond() ends a stream; responses to shmk_client_send()
 * come through shmk_client_receive() as before.
 */
static void test_stream_interleaved(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample ra, rb, rc, smp;
	uint64_t a, b, cc;
	uint32_t v, i;
	void *pl;

	(void)state;
	c.buffer = 8;
	c.max_borrow = 8;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	a = request(cl, 1, 0, NULL);
	b = request(cl, 2, 0, NULL);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	v = 3;
	memcpy(pl, &v, 4);
	assert_int_equal(shmk_client_send(cl, pl, 4, &cc), 0);
	assert_int_equal(shmk_server_receive(sv, &ra, 0), 0);
	assert_int_equal(shmk_server_receive(sv, &rb, 0), 0);
	assert_int_equal(shmk_server_receive(sv, &rc, 0), 0);
	assert_int_equal(ra.corr, a);
	assert_int_equal(rc.corr, cc);
	assert_int_equal(stream_n(sv, &ra, 2, 0, 0), 0);	/* a: 1000, 1001 */
	assert_int_equal(stream_n(sv, &rc, 1, 0, 0), 0);	/* untracked */
	assert_int_equal(stream_n(sv, &rb, 2, 1, 0), 0);	/* b: 2000, 2001. */
	/* b first: a's two and c's one are kept. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(shmk_client_receive_for(cl, b, &smp, 0), 0);
		memcpy(&v, smp.data, 4);
		assert_int_equal(v, 2000 + i);
		assert_int_equal(!!(shmk_sample_flags(&smp) & SHMK_RESP_LAST),
				 i == 1);
		shmk_sub_release(cl, &smp);
	}
	assert_int_equal(shmk_client_receive_for(cl, b, &smp, 0), -ENODATA);
	/* a's first through shmk_client_receive(), in order. */
	assert_int_equal(shmk_client_receive(cl, &smp, 0), 0);
	memcpy(&v, smp.data, 4);
	assert_int_equal(v, 1000);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive_for(cl, a, &smp, 0), 0);
	memcpy(&v, smp.data, 4);
	assert_int_equal(v, 1001);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive_for(cl, a, &smp, 0), -EAGAIN);
	/* The one-shot answer ends a's stream. */
	assert_int_equal(shmk_pub_loan(sv, &pl), 0);
	assert_int_equal(shmk_server_respond(sv, &ra, pl, 0), 0);
	assert_int_equal(shmk_client_receive_for(cl, a, &smp, 0), 0);
	assert_true(shmk_sample_flags(&smp) & SHMK_RESP_LAST);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive_for(cl, a, &smp, 0), -ENODATA);
	/* c's answer was kept for shmk_client_receive(). */
	assert_int_equal(shmk_client_receive(cl, &smp, 0), 0);
	assert_int_equal(smp.corr, cc);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	shmk_sub_release(sv, &ra);
	shmk_sub_release(sv, &rb);
	shmk_sub_release(sv, &rc);
	shmk_port_close(sv);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * A server process: answers every request with a stream of @n responses
 * and its end, until a fire-and-forget request tells it to stop (value 0).
 */
static void stream_server_child(const char *name, int wfd, uint32_t n)
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
			void *pl;

			CHILD_CHECK(shmk_sample_flags(&req) &
				    SHMK_REQ_NO_RESPONSE);
			CHILD_CHECK(shmk_pub_loan(sv, &pl) == 0);
			CHILD_CHECK(shmk_server_stream(sv, &req, pl, 0, 0, 0) ==
				    -EINVAL);
			CHILD_CHECK(shmk_server_respond(sv, &req, pl, 0) ==
				    -EINVAL);
			CHILD_CHECK(shmk_server_end(sv, &req, 0) == -EINVAL);
			CHILD_CHECK(strstr(shmk_last_error(), "no response"));
			shmk_pub_discard(sv, pl);
			shmk_sub_release(sv, &req);
			break;
		}
		if (v >= 1000000) {	/* stream, never end, wait for the kill */
			CHILD_CHECK(stream_n(sv, &req, 3, 0, SHMK_FOREVER) == 0);
			CHILD_CHECK(write(wfd, "m", 1) == 1);
			pause();
		}
		CHILD_CHECK(stream_n(sv, &req, n, 1, SHMK_FOREVER) == 0);
		shmk_sub_release(sv, &req);
	}
	CHILD_CHECK(shmk_pub_drain(sv, SHMK_FOREVER) == 0);
	shmk_port_close(sv);
	shmk_service_close(cs);
	_exit(0);
}

/*
 * Three servers in three processes: each receives every request and
 * answers with its own stream; the client sees each server's responses
 * in order, tells them apart by origin, and sees the end.  Then a
 * fire-and-forget request stops them.
 */
static void test_several_servers(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl;
	struct shmk_sample smp;
	uint32_t N = 5, nsv, seen[64], v, r, k, slot0 = 0;
	unsigned long i, rounds = scaled(200);
	int fds[2], ret;
	pid_t kid[3];

	(void)state;
	c.max_publishers = 2;
	c.max_subscribers = 3;
	c.buffer = 2;	/* streams longer than the buffer */
	s = new_service(&c, name);
	assert_int_equal(pipe(fds), 0);
	for (k = 0; k < 3; k++) {
		kid[k] = fork();
		assert_true(kid[k] >= 0);
		if (kid[k] == 0)
			stream_server_child(name, fds[1], N);
		assert_int_equal(read(fds[0], &ch, 1), 1);
	}
	assert_int_equal(shmk_client_open(s, &cl), 0);
	slot0 = c.max_publishers;
	for (i = 0; i < rounds; i++) {
		uint64_t corr = request(cl, (uint32_t)(i + 1), 0, &nsv);

		assert_int_equal(nsv, 3);
		memset(seen, 0, sizeof(seen));
		for (k = 0; k < 3 * N; k++) {
			/* A bounded wait: a lost response fails, never hangs. */
			assert_int_equal(shmk_client_receive_for(cl, corr, &smp,
								 10000000000LL), 0);
			assert_int_equal(smp.corr, corr);
			assert_true(smp.origin >= slot0 && smp.origin < slot0 + 3);
			memcpy(&r, smp.data, 4);
			/* Each server's stream in order. */
			assert_int_equal(r, (i + 1) * 1000 + seen[smp.origin]);
			seen[smp.origin]++;
			assert_int_equal(!!(shmk_sample_flags(&smp) & SHMK_RESP_LAST),
					 seen[smp.origin] == N);
			shmk_sub_release(cl, &smp);
		}
		ret = shmk_client_receive_for(cl, corr, &smp, 10000000000LL);
		assert_int_equal(ret, -ENODATA);
	}
	request(cl, 0, SHMK_REQ_NO_RESPONSE, &nsv);
	assert_int_equal(nsv, 3);
	for (k = 0; k < 3; k++)
		assert_int_equal(reap(kid[k]), 0);
	close(fds[0]);
	close(fds[1]);
	(void)v;
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * Two servers; one is killed mid-stream: the client still receives the
 * other's whole stream, then the abnormal end (-ECONNRESET), never a
 * hang, and every chunk comes back.
 */
static void test_server_killed_midstream(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample smp, req;
	uint32_t nsv, got = 0, last = 0;
	uint64_t corr;
	int fds[2], ret;
	pid_t kid;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	assert_int_equal(pipe(fds), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0)
		stream_server_child(name, fds[1], 1);
	assert_int_equal(read(fds[0], &ch, 1), 1);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	corr = request(cl, 1000000, 0, &nsv);
	assert_int_equal(nsv, 2);
	assert_int_equal(read(fds[0], &ch, 1), 1);	/* 3 sent, no end */
	assert_int_equal(ch, 'm');
	/* The child's three, at least one before the kill. */
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
	assert_int_not_equal(smp.origin, (uint32_t)shmk_port_slot(sv));
	shmk_sub_release(cl, &smp);
	kill(kid, SIGKILL);
	assert_int_equal(reap(kid), 128 + SIGKILL);
	/* Our own server streams and ends. */
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(stream_n(sv, &req, 2, 1, 0), 0);
	shmk_sub_release(sv, &req);
	for (;;) {
		ret = shmk_client_receive_for(cl, corr, &smp, 5000000000LL);
		if (ret)
			break;
		if (smp.origin == (uint32_t)shmk_port_slot(sv)) {
			got++;
			last = shmk_sample_flags(&smp) & SHMK_RESP_LAST;
		}
		shmk_sub_release(cl, &smp);
	}
	assert_int_equal(ret, -ECONNRESET);
	assert_int_equal(got, 2);
	assert_true(last);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -ENOENT);
	shmk_service_recover(s);
	/*
	 * Left: our server's two references in the client's ring, and the
	 * client's own on its request.
	 */
	assert_int_equal(shmk_service_chunks_used(s), 3);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 1);	/* the request */
	/* A server that closes without ending its stream: the same. */
	assert_int_equal(shmk_server_open(s, &sv), 0);
	corr = request(cl, 5, 0, &nsv);
	assert_int_equal(nsv, 1);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(stream_n(sv, &req, 1, 0, 0), 0);
	shmk_sub_release(sv, &req);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
	shmk_sub_release(cl, &smp);
	shmk_port_close(sv);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, SHMK_FOREVER),
			 -ECONNRESET);
	close(fds[0]);
	close(fds[1]);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * A client killed with a stream pending: the server learns it
 * (-ECANCELED) instead of waiting for room for good, and nothing leaks.
 * A client that cancels: its responses are released, none delivered.
 */
static void test_client_gone(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample req, smp;
	uint64_t corr;
	int fds[2], ret, i;
	void *pl;
	pid_t kid;

	(void)state;
	c.max_publishers = 1;
	c.buffer = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(pipe(fds), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_service *cs;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
		CHILD_CHECK(shmk_pub_loan(cl, &pl) == 0);
		CHILD_CHECK(shmk_client_request(cl, pl, 4, 0, NULL, NULL, 0) == 0);
		CHILD_CHECK(shmk_client_receive_for(cl, 1, &smp,
						    SHMK_FOREVER) == 0);
		CHILD_CHECK(write(fds[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	assert_int_equal(shmk_server_receive(sv, &req, SHMK_FOREVER), 0);
	assert_int_equal(stream_n(sv, &req, 1, 0, 0), 0);
	assert_int_equal(read(fds[0], &ch, 1), 1);	/* it holds one */
	kill(kid, SIGKILL);
	assert_int_equal(reap(kid), 128 + SIGKILL);
	for (i = 0; i < 10; i++) {
		assert_int_equal(shmk_pub_loan(sv, &pl), 0);
		ret = shmk_server_stream(sv, &req, pl, 4, 0, 2000000000LL);
		if (ret) {
			shmk_pub_discard(sv, pl);
			break;
		}
	}
	assert_int_equal(ret, -ECANCELED);
	assert_non_null(strstr(shmk_last_error(), "client is gone"));
	assert_int_equal(shmk_server_end(sv, &req, 0), -ECANCELED);
	assert_int_equal(shmk_server_respond(sv, &req, pl, 0) , -EINVAL);
	shmk_sub_release(sv, &req);
	shmk_service_recover(s);
	/* Only our ring's references to the dead client's ring remain. */
	assert_true(shmk_service_chunks_used(s) <= 3);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);

	/* Cancel */
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	corr = request(cl, 4, 0, NULL);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(stream_n(sv, &req, 2, 0, 0), 0);
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(shmk_client_cancel(cl, corr), -ENOENT);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -ENOENT);
	/* Received and released, never delivered; the server is told. */
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	assert_int_equal(stream_n(sv, &req, 2, 1, 0), -ECANCELED);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	shmk_sub_release(sv, &req);
	shmk_port_close(sv);
	/* Only the client's ring's reference on its request. */
	assert_int_equal(shmk_service_chunks_used(s), 1);
	/* Cancel with responses kept for it: released at once. */
	assert_int_equal(shmk_server_open(s, &sv), 0);
	corr = request(cl, 5, 0, NULL);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(stream_n(sv, &req, 2, 1, 0), 0);
	{
		uint64_t other = request(cl, 6, 0, NULL);
		struct shmk_sample r2;

		assert_int_equal(shmk_server_receive(sv, &r2, 0), 0);
		shmk_sub_release(sv, &req);
		/* Reads corr's two on the way, keeps them. */
		assert_int_equal(shmk_client_receive_for(cl, other, &smp, 0),
				 -EAGAIN);
		shmk_port_close(sv);	/* other's stream never ends */
		assert_int_equal(shmk_client_receive_for(cl, other, &smp, 0),
				 -ECONNRESET);
		(void)r2;
	}
	i = (int)shmk_service_chunks_used(s);	/* 2 kept, 2 requests */
	assert_int_equal(i, 4);
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(shmk_service_chunks_used(s), 2);
	close(fds[0]);
	close(fds[1]);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* Fire-and-forget, and every bad input of the new calls. */
static void test_stream_errors(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample req, bad, smp;
	uint64_t corr, ids[SHMK_SVC_PENDING_MAX];
	uint32_t nsv = 99;
	void *pl, *spl;
	int i;

	(void)state;
	c.max_publishers = 1;
	c.buffer = 1;
	c.max_loans = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	/* No server */
	assert_int_equal(shmk_client_request(cl, pl, 4, 0, &corr, &nsv, 0),
			 -ENOTCONN);
	assert_int_equal(nsv, 99);
	assert_int_equal(shmk_client_request(cl, pl, 4, 0, &corr, &nsv,
					     1000000), -ETIMEDOUT);
	assert_non_null(strstr(shmk_last_error(), "no live server"));
	assert_int_equal(shmk_server_open(s, &sv), 0);
	/* Bad client input */
	assert_int_equal(shmk_client_request(NULL, pl, 4, 0, NULL, NULL, 0), -EINVAL);
	assert_int_equal(shmk_client_request(sv, pl, 4, 0, NULL, NULL, 0), -EINVAL);
	assert_int_equal(shmk_client_request(cl, pl, 4, 4, NULL, NULL, 0), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "unknown flags"));
	assert_int_equal(shmk_client_request(cl, (char *)pl + 1, 4, 0, NULL,
					     NULL, 0), -EINVAL);
	assert_int_equal(shmk_client_request(cl, pl, 4097, 0,
					     NULL, NULL, 0), -EINVAL);
	assert_int_equal(shmk_client_receive_for(NULL, 1, &smp, 0), -EINVAL);
	assert_int_equal(shmk_client_receive_for(cl, 1, NULL, 0), -EINVAL);
	assert_int_equal(shmk_client_receive_for(sv, 1, &smp, 0), -EINVAL);
	assert_int_equal(shmk_client_receive_for(cl, 0, &smp, 0), -ENOENT);
	assert_int_equal(shmk_client_receive_for(cl, 1, &smp, 0), -ENOENT);
	assert_non_null(strstr(shmk_last_error(), "not pending"));
	assert_int_equal(shmk_client_pending(NULL, 1), -EINVAL);
	assert_int_equal(shmk_client_pending(sv, 1), -EINVAL);
	assert_int_equal(shmk_client_pending(cl, 0), -ENOENT);
	assert_int_equal(shmk_client_cancel(NULL, 1), -EINVAL);
	assert_int_equal(shmk_client_cancel(sv, 1), -EINVAL);
	assert_int_equal(shmk_client_cancel(cl, 0), -ENOENT);
	/* Fire-and-forget: not pending; the server may not answer. */
	assert_int_equal(shmk_client_request(cl, pl, 4, SHMK_REQ_NO_RESPONSE,
					     &corr, &nsv, 0), 0);
	assert_int_equal(nsv, 1);
	assert_int_equal(shmk_client_pending(cl, corr), -ENOENT);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -ENOENT);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(req.corr, corr);
	assert_true(shmk_sample_flags(&req) & SHMK_REQ_NO_RESPONSE);
	assert_int_equal(shmk_pub_loan(sv, &spl), 0);
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4, 0, 0), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "no response"));
	assert_int_equal(shmk_server_respond(sv, &req, spl, 4), -EINVAL);
	assert_int_equal(shmk_server_end(sv, &req, 0), -EINVAL);
	shmk_sub_release(sv, &req);
	/* Bad server input */
	corr = request(cl, 1, 0, NULL);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(shmk_server_stream(NULL, &req, spl, 4, 0, 0), -EINVAL);
	assert_int_equal(shmk_server_stream(sv, NULL, spl, 4, 0, 0), -EINVAL);
	assert_int_equal(shmk_server_stream(cl, &req, spl, 4, 0, 0), -EINVAL);
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4, 1, 0), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "unknown flags"));
	assert_int_equal(shmk_server_stream(sv, &req, (char *)spl + 1, 4, 0, 0),
			 -EINVAL);
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4097,
					    0, 0), -EINVAL);
	bad = req;
	bad.origin = 1;	/* not a client slot */
	assert_int_equal(shmk_server_stream(sv, &bad, spl, 4, 0, 0), -EINVAL);
	assert_int_equal(shmk_server_end(NULL, &req, 0), -EINVAL);
	assert_int_equal(shmk_server_end(sv, &bad, 0), -EINVAL);
	/* No room (buffer 1): -EAGAIN, -ETIMEDOUT; the loan stays ours. */
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4, 0, 0), 0);
	assert_int_equal(shmk_pub_loan(sv, &spl), 0);
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4, 0, 0), -EAGAIN);
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4, 0, 1000000),
			 -ETIMEDOUT);
	assert_int_equal(shmk_server_respond(sv, &req, spl, 4), -EAGAIN);
	assert_int_equal(shmk_server_end(sv, &req, 0), -EAGAIN);
	assert_int_equal(shmk_pub_discard(sv, spl), 0);
	/* max_loans: end cannot loan. */
	{
		void *l1, *l2;

		assert_int_equal(shmk_pub_loan(sv, &l1), 0);
		assert_int_equal(shmk_pub_loan(sv, &l2), 0);
		assert_int_equal(shmk_server_end(sv, &req, 0), -ENOBUFS);
		shmk_pub_discard(sv, l1);
		shmk_pub_discard(sv, l2);
	}
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_server_end(sv, &req, 0), 0);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), -ENODATA);
	shmk_sub_release(sv, &req);
	/* SHMK_SVC_PENDING_MAX pending, then -EBUSY, and the loan stays. */
	for (i = 0; i < SHMK_SVC_PENDING_MAX; i++) {
		ids[i] = request(cl, 1, 0, NULL);
		assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
		shmk_sub_release(sv, &req);
	}
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_request(cl, pl, 4, 0, NULL, NULL, 0), -EBUSY);
	assert_non_null(strstr(shmk_last_error(), "pending"));
	assert_int_equal(shmk_client_request(cl, pl, 4, SHMK_REQ_NO_RESPONSE,
					     NULL, NULL, 0), 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	shmk_sub_release(sv, &req);
	for (i = 0; i < SHMK_SVC_PENDING_MAX; i++)
		assert_int_equal(shmk_client_cancel(cl, ids[i]), 0);
	/* A client gone by close: -ECANCELED at once. */
	corr = request(cl, 1, 0, NULL);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	shmk_port_close(cl);
	assert_int_equal(shmk_pub_loan(sv, &spl), 0);
	assert_int_equal(shmk_server_stream(sv, &req, spl, 4, 0, 0), -ECANCELED);
	shmk_pub_discard(sv, spl);
	shmk_sub_release(sv, &req);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* A server thread that streams until its stream fails. */
struct cancel_arg {
	struct shmk_port *sv;
	struct shmk_sample req;
	int ret;
	_Atomic int sent;
};

static void *stream_until_fail(void *arg)
{
	struct cancel_arg *a = arg;
	void *pl;
	int ret;

	for (;;) {
		ret = shmk_pub_loan(a->sv, &pl);
		if (ret)
			break;
		ret = shmk_server_stream(a->sv, &a->req, pl, 4, 0,
					 10000000000LL);
		if (ret) {
			shmk_pub_discard(a->sv, pl);
			break;
		}
		a->sent++;
	}
	a->ret = ret;
	return NULL;
}

/*
 * shmk_client_cancel() reaches the servers: before the first response,
 * mid-stream (two servers, each told), and after the end; a server asleep
 * in shmk_server_stream() for room wakes with -ECANCELED; nothing is
 * published after a cancel, the loan stays the server's, nothing leaks.
 */
static void test_cancel_reaches_server(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv, *sv2;
	struct shmk_sample req, req2, smp, bad;
	struct cancel_arg a;
	pthread_t t;
	uint64_t corr, other;
	uint32_t nsv;
	void *pl;

	(void)state;
	c.buffer = 2;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);

	/* Before the first response. */
	corr = request(cl, 1, 0, NULL);
	other = request(cl, 2, 0, NULL);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(shmk_server_receive(sv, &req2, 0), 0);
	assert_int_equal(req.corr, corr);
	assert_int_equal(shmk_server_cancelled(sv, &req), 0);
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req), 1);
	/* The other request of the same client is untouched. */
	assert_int_equal(shmk_server_cancelled(sv, &req2), 0);
	assert_int_equal(shmk_pub_loan(sv, &pl), 0);
	assert_int_equal(shmk_server_stream(sv, &req, pl, 4, 0, 0), -ECANCELED);
	assert_non_null(strstr(shmk_last_error(), "cancelled the request"));
	assert_int_equal(shmk_server_respond(sv, &req, pl, 4), -ECANCELED);
	assert_non_null(strstr(shmk_last_error(), "shmk_server_respond"));
	/* Not published: the loan is still ours. */
	assert_int_equal(shmk_pub_discard(sv, pl), 0);
	assert_int_equal(shmk_server_end(sv, &req, 0), -ECANCELED);
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	shmk_sub_release(sv, &req);
	/* Bad input */
	assert_int_equal(shmk_server_cancelled(NULL, &req2), -EINVAL);
	assert_int_equal(shmk_server_cancelled(sv, NULL), -EINVAL);
	assert_int_equal(shmk_server_cancelled(cl, &req2), -EINVAL);
	bad = req2;
	bad.origin = c.max_publishers ? c.max_publishers : 4;
	assert_int_equal(shmk_server_cancelled(sv, &bad), -EINVAL);
	/* After the end: the server's last response received, reported. */
	assert_int_equal(stream_n(sv, &req2, 1, 1, 0), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 0);
	assert_int_equal(shmk_client_receive_for(cl, other, &smp, 0), 0);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 0);
	assert_int_equal(shmk_client_receive_for(cl, other, &smp, 0), -ENODATA);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 1);
	assert_int_equal(shmk_client_cancel(cl, other), -ENOENT);
	shmk_sub_release(sv, &req2);

	/* Mid-stream, two servers: each is told. */
	assert_int_equal(shmk_server_open(s, &sv2), 0);
	corr = request(cl, 3, 0, &nsv);
	assert_int_equal(nsv, 2);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(shmk_server_receive(sv2, &req2, 0), 0);
	assert_int_equal(stream_n(sv, &req, 2, 0, 0), 0);
	assert_int_equal(stream_n(sv2, &req2, 1, 0, 0), 0);
	assert_int_equal(shmk_client_receive_for(cl, corr, &smp, 0), 0);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req), 1);
	assert_int_equal(shmk_server_cancelled(sv2, &req2), 1);
	assert_int_equal(stream_n(sv, &req, 1, 0, 0), -ECANCELED);
	assert_int_equal(stream_n(sv2, &req2, 1, 1, 0), -ECANCELED);
	/* The responses sent before the cancel: released as received. */
	assert_int_equal(shmk_client_receive(cl, &smp, 0), -EAGAIN);
	shmk_sub_release(sv, &req);
	shmk_sub_release(sv2, &req2);
	shmk_port_close(sv2);

	/* A server asleep for room (buffer 2, nobody receives) wakes. */
	corr = request(cl, 4, 0, NULL);
	memset(&a, 0, sizeof(a));
	a.sv = sv;
	assert_int_equal(shmk_server_receive(sv, &a.req, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, stream_until_fail, &a), 0);
	while (a.sent < 2)
		usleep(1000);
	usleep(50000);		/* let it fall asleep for room */
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.ret, -ECANCELED);
	assert_int_equal(a.sent, 2);
	shmk_sub_release(sv, &a.req);

	/* shmk_client_send() and fire-and-forget: only a gone client. */
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 4, &corr), 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req), 0);
	corr = request(cl, 5, SHMK_REQ_NO_RESPONSE, NULL);
	assert_int_equal(shmk_server_receive(sv, &req2, 0), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 0);
	shmk_port_close(cl);
	assert_int_equal(shmk_server_cancelled(sv, &req), 1);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 1);
	shmk_sub_release(sv, &req);
	shmk_sub_release(sv, &req2);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * A cancel, and a request, of an earlier generation of a client slot:
 * the next client in the slot starts its ids over (corr 1 again, in the
 * same entry of the same row), yet its request is not cancelled by the
 * old cancel, and the old request stays cancelled although the row's
 * word holds its id again.
 */
static void test_cancel_stale_generation(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample old, old2, req, smp;
	uint64_t corr;

	(void)state;
	c.max_publishers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	corr = request(cl, 1, 0, NULL);
	assert_int_equal(shmk_server_receive(sv, &old, 0), 0);
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(shmk_server_cancelled(sv, &old), 1);
	/* Another request, pending when the client leaves. */
	assert_int_equal(request(cl, 2, 0, NULL), 2);
	assert_int_equal(shmk_server_receive(sv, &old2, 0), 0);
	shmk_port_close(cl);
	assert_int_equal(shmk_server_cancelled(sv, &old2), 1);

	/* The next generation: ids 1 and 2 again, same entries. */
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(request(cl, 3, 0, NULL), 1);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(req.corr, 1);
	assert_int_equal(req.origin, old.origin);
	assert_true(req.origin_gen != old.origin_gen);
	assert_int_equal(shmk_server_cancelled(sv, &req), 0);
	assert_int_equal(stream_n(sv, &req, 1, 1, 0), 0);
	/* The old requests, same slot, same ids: still cancelled. */
	assert_int_equal(shmk_server_cancelled(sv, &old), 1);
	assert_int_equal(stream_n(sv, &old, 1, 1, 0), -ECANCELED);
	assert_non_null(strstr(shmk_last_error(), "client is gone"));
	assert_int_equal(request(cl, 4, 0, NULL), 2);
	assert_int_equal(shmk_server_cancelled(sv, &old2), 1);
	assert_int_equal(shmk_client_receive_for(cl, 1, &smp, 0), 0);
	assert_int_equal(smp.corr, 1);
	shmk_sub_release(cl, &smp);
	assert_int_equal(shmk_client_receive_for(cl, 1, &smp, 0), -ENODATA);
	shmk_sub_release(sv, &old);
	shmk_sub_release(sv, &old2);
	shmk_sub_release(sv, &req);
	shmk_port_close(cl);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * A client killed with requests pending (memfd: nothing announces the
 * death): shmk_server_cancelled() says 1 at once, before any recovery,
 * and shmk_server_stream() gives up with -ECANCELED.
 */
static void test_cancel_dead_client(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], ch;
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample req, req2;
	int fds[2], ret;
	void *pl;
	pid_t kid;

	(void)state;
	c.max_publishers = 1;
	c.buffer = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(pipe(fds), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_service *cs;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_client_open(cs, &cl) == 0);
		CHILD_CHECK(shmk_pub_loan(cl, &pl) == 0);
		CHILD_CHECK(shmk_client_request(cl, pl, 4, 0, NULL, NULL, 0) == 0);
		CHILD_CHECK(shmk_pub_loan(cl, &pl) == 0);
		CHILD_CHECK(shmk_client_send(cl, pl, 4, NULL) == 0);
		CHILD_CHECK(write(fds[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(fds[0], &ch, 1), 1);
	assert_int_equal(shmk_server_receive(sv, &req, SHMK_FOREVER), 0);
	assert_int_equal(shmk_server_receive(sv, &req2, SHMK_FOREVER), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 0);
	kill(kid, SIGKILL);
	assert_int_equal(reap(kid), 128 + SIGKILL);
	assert_int_equal(shmk_service_dead(s), 1);
	/* Before recovery: the kernel says the slot's lock is free. */
	assert_int_equal(shmk_server_cancelled(sv, &req), 1);
	assert_int_equal(shmk_server_cancelled(sv, &req2), 1);
	assert_int_equal(shmk_service_dead(s), 1);
	ret = stream_n(sv, &req, 10, 0, 2000000000LL);
	assert_int_equal(ret, -ECANCELED);
	shmk_sub_release(sv, &req);
	shmk_sub_release(sv, &req2);
	shmk_service_recover(s);
	shmk_port_close(sv);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * shmk_service_inspect() with two servers: a client's lag counts the
 * responses of both (each on its own channel), each server's count its
 * own.
 */
static void test_inspect_servers(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	struct shmk_participant_info e[4];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv[2];
	struct shmk_sample req[2];
	int k;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	for (k = 0; k < 2; k++)
		assert_int_equal(shmk_server_open(s, &sv[k]), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	request(cl, 3, 0, NULL);
	for (k = 0; k < 2; k++) {
		assert_int_equal(shmk_server_receive(sv[k], &req[k], 0), 0);
		assert_int_equal(stream_n(sv[k], &req[k], k ? 1 : 3, 0, 0), 0);
	}
	memset(e, 0, sizeof(e));
	e[0].size = sizeof(e[0]);
	assert_int_equal(shmk_service_inspect(s, e, 4), 3);
	assert_int_equal(e[0].role, SHMK_ROLE_CLIENT);
	assert_int_equal(e[0].lag, 4);
	assert_int_equal(e[1].published, 3);
	assert_int_equal(e[2].published, 1);
	for (k = 0; k < 2; k++) {
		shmk_sub_release(sv[k], &req[k]);
		shmk_port_close(sv[k]);
	}
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_processes),
		cmocka_unit_test(test_pool_audit),
		cmocka_unit_test(test_million),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_send_wait_room),
		cmocka_unit_test(test_dead_server_block),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_interleaved),
		cmocka_unit_test(test_several_servers),
		cmocka_unit_test(test_server_killed_midstream),
		cmocka_unit_test(test_client_gone),
		cmocka_unit_test(test_stream_errors),
		cmocka_unit_test(test_inspect_servers),
		cmocka_unit_test(test_cancel_reaches_server),
		cmocka_unit_test(test_cancel_stale_generation),
		cmocka_unit_test(test_cancel_dead_client),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
