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
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
