// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Request-response: loaned requests and responses, correlation ids,
 * several clients each answered alone, timeouts, errors, and clients in
 * other processes.
 */
#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_processes),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
