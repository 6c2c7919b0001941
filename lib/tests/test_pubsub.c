// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Publish-subscribe: loans, zero copy, several publishers and subscribers,
 * history, safe overflow, back-pressure, blocking and non-blocking
 * receive, every error, and a cross-process stress that checks every
 * chunk comes back.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include "msgutil.h"

static void test_basic(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s = new_service(&c, name);
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	void *pl;

	(void)state;
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_service_backlog(s), 0);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	strcpy(pl, "hello");
	assert_int_equal(shmk_service_chunks_used(s), 1);
	assert_int_equal(shmk_pub_publish(pub, pl, 6, 0), 0);
	assert_int_equal(shmk_service_backlog(s), 1);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(shmk_service_backlog(s), 0);
	assert_int_equal(smp.len, 6);
	assert_string_equal(smp.data, "hello");
	assert_int_equal(smp.seq, 0);
	/* Zero copy: same offset in the subscriber's own mapping. */
	assert_int_equal(shmk_sub_receive(sub, &smp, 0) == -EAGAIN, 0 == 0);
	assert_int_equal(shmk_pub_send_copy(pub, "x", 1, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(smp.seq, 1);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_int_equal(shmk_sub_release(sub, &smp), -EINVAL);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

static void test_errors(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub, *p2;
	struct shmk_sample smp[3];
	void *a, *b, *x;
	int i;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.max_loans = 2;
	c.max_borrow = 2;
	c.payload_max = 100;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_open(s, &p2), -EBUSY);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_sub_open(s, &p2), -EBUSY);
	assert_int_equal(shmk_notifier_open(s, &p2), -EPROTOTYPE);
	assert_int_equal(shmk_client_open(s, &p2), -EPROTOTYPE);
	assert_int_equal(shmk_pub_loan(pub, &a), 0);
	assert_int_equal(shmk_pub_loan(pub, &b), 0);
	assert_int_equal(shmk_pub_loan(pub, &x), -ENOBUFS);
	assert_int_equal(shmk_pub_publish(pub, a, 101, 0), -EINVAL);
	assert_int_equal(shmk_pub_publish(pub, (char *)a + 1, 1, 0), -EINVAL);
	assert_int_equal(shmk_pub_discard(pub, (char *)a + 8), -EINVAL);
	assert_int_equal(shmk_pub_discard(pub, b), 0);
	assert_int_equal(shmk_pub_discard(pub, b), -EINVAL);
	assert_int_equal(shmk_pub_publish(pub, a, 100, 0), 0);
	assert_int_equal(shmk_pub_publish(pub, a, 1, 0), -EINVAL);	/* consumed */
	assert_int_equal(shmk_sub_receive(pub, &smp[0], 0), -EINVAL);
	assert_int_equal(shmk_pub_publish(sub, a, 1, 0), -EINVAL);
	assert_int_equal(shmk_pub_loan(sub, &x), -EINVAL);
	assert_int_equal(shmk_pub_send_copy(pub, "abc", 101, 0), -EINVAL);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_pub_send_copy(pub, "abc", 3, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp[0], 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp[1], 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp[2], 0), -ENOBUFS);
	assert_int_equal(shmk_sub_release(sub, &smp[0]), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp[2], 0), 0);
	assert_int_equal(shmk_sub_release(sub, &smp[1]), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp[0], 0), 0);	/* the 4th */
	assert_int_equal(shmk_sub_release(sub, &smp[0]), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp[0], 1000000), -ETIMEDOUT);
	assert_int_equal(shmk_sub_receive(NULL, &smp[0], 0), -EINVAL);
	shmk_port_close(sub);	/* releases what it holds */
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static void test_many(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub[3], *sub[4];
	struct shmk_sample smp;
	uint32_t last[4][3];
	int i, j, n, got;

	(void)state;
	c.max_publishers = 3;
	c.max_subscribers = 4;
	c.buffer = 16;
	s = new_service(&c, name);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_pub_open(s, &pub[i]), 0);
	for (j = 0; j < 4; j++)
		assert_int_equal(shmk_sub_open(s, &sub[j]), 0);
	memset(last, 0, sizeof(last));
	for (n = 1; n <= 200; n++) {
		for (i = 0; i < 3; i++) {
			uint32_t v = (uint32_t)(n * 10 + i);

			assert_int_equal(shmk_pub_send_copy(pub[i], &v, 4, 0), 0);
		}
		for (j = 0; j < 4; j++) {
			for (got = 0; got < 3; got++) {
				uint32_t v;

				assert_int_equal(shmk_sub_receive(sub[j], &smp, 0), 0);
				memcpy(&v, smp.data, 4);
				i = (int)(v % 10);
				assert_int_equal(v / 10, last[j][i] + 1);
				last[j][i] = v / 10;
				assert_int_equal(shmk_sub_release(sub[j], &smp), 0);
			}
			assert_int_equal(shmk_sub_receive(sub[j], &smp, 0), -EAGAIN);
		}
	}
	/*
	 * Rings hold the last buffer samples of each publisher, and each
	 * publisher may keep a spare (chan.c, keep_spare()).
	 */
	assert_true(shmk_service_chunks_used(s) <= 3 * 16 + 3);
	for (i = 0; i < 3; i++)
		shmk_port_close(pub[i]);
	for (j = 0; j < 4; j++)
		shmk_port_close(sub[j]);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static void test_history(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	uint32_t v, i;

	(void)state;
	c.buffer = 4;
	c.history = 3;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	for (i = 7; i < 10; i++) {
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		memcpy(&v, smp.data, 4);
		assert_int_equal(v, i);
		shmk_sub_release(sub, &smp);
	}
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static void test_safe_overflow(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	uint32_t v, i;

	(void)state;
	c.buffer = 4;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	/*
	 * Oldest dropped and reclaimed: only the ring's 4 are held, and the
	 * last one dropped, which the publisher kept as its spare.
	 */
	assert_int_equal(shmk_service_chunks_used(s), 5);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	memcpy(&v, smp.data, 4);
	assert_true(v >= 996);
	assert_true(shmk_sub_dropped(sub) >= 996);
	shmk_sub_release(sub, &smp);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

struct bp_arg {
	struct shmk_port *sub;
	int n;
};

static void *bp_reader(void *arg)
{
	struct bp_arg *a = arg;
	struct shmk_sample smp;

	while (a->n > 0) {
		if (shmk_sub_receive(a->sub, &smp, SHMK_FOREVER))
			break;
		shmk_sub_release(a->sub, &smp);
		a->n--;
	}
	return NULL;
}

static void test_backpressure(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	struct bp_arg a;
	pthread_t t;
	uint32_t i, v;
	void *pl;

	(void)state;
	c.buffer = 4;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), -EAGAIN);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(shmk_pub_publish(pub, pl, 4, 2000000), -ETIMEDOUT);
	/* The loan stays ours after a failed publish. */
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	memcpy(&v, smp.data, 4);
	assert_int_equal(v, 0);
	shmk_sub_release(sub, &smp);
	assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	/* Nothing was lost: 1..4 follow. */
	for (i = 1; i <= 4; i++) {
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		memcpy(&v, smp.data, 4);
		assert_int_equal(v, i);
		shmk_sub_release(sub, &smp);
	}
	/* A blocking publisher is woken by the reader thread. */
	a.sub = sub;
	a.n = (int)scaled(2000);
	assert_int_equal(pthread_create(&t, NULL, bp_reader, &a), 0);
	for (i = 0; i < scaled(2000); i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, SHMK_FOREVER), 0);
	pthread_join(t, NULL);
	assert_int_equal(a.n, 0);
	assert_int_equal(shmk_sub_dropped(sub), 0);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* Publishers in child processes, blocking subscribers in the parent. */
static void test_processes(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub[2];
	struct shmk_sample smp;
	uint32_t n = (uint32_t)scaled(20000), last[2][2] = { { 0 } }, i, got;
	pid_t kid[2];
	int j, k;

	(void)state;
	c.max_publishers = 2;
	c.max_subscribers = 2;
	c.buffer = 16;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	s = new_service(&c, name);
	for (j = 0; j < 2; j++)
		assert_int_equal(shmk_sub_open(s, &sub[j]), 0);
	for (k = 0; k < 2; k++) {
		kid[k] = fork();
		assert_true(kid[k] >= 0);
		if (kid[k] == 0) {
			struct shmk_service *cs;
			struct shmk_port *pub;

			CHILD_CHECK(shmk_service_open(name, &c, 0, &cs) == 0);
			CHILD_CHECK(shmk_pub_open(cs, &pub) == 0);
			for (i = 1; i <= n; i++) {
				uint32_t v[2] = { (uint32_t)k, i };
				int r = shmk_pub_send_copy(pub, v, 8,
							   SHMK_FOREVER);

				if (r) {
					fprintf(stderr, "publisher %d, sample %u: "
						"%d (%s)\n", k, i, r,
						shmk_last_error());
					_exit(1);
				}
			}
			CHILD_CHECK(shmk_pub_drain(pub, SHMK_FOREVER) == 0);
			shmk_port_close(pub);
			shmk_service_close(cs);
			_exit(0);
		}
	}
	/* Two subscribers in turn; each sees every sample of each publisher. */
	for (got = 0; got < 4 * n; ) {
		for (j = 0; j < 2; j++) {
			uint32_t v[2];
			int r = shmk_sub_receive(sub[j], &smp, 50000000);

			if (r == -ETIMEDOUT) {
				/* A publisher that failed never publishes. */
				for (k = 0; k < 2; k++) {
					int st;

					if (kid[k] > 0 &&
					    waitpid(kid[k], &st, WNOHANG) == kid[k]) {
						if (!WIFEXITED(st) || WEXITSTATUS(st))
							fail_msg("publisher %d failed "
								 "(status %#x)", k, st);
						kid[k] = 0;
					}
				}
				continue;
			}
			assert_int_equal(r, 0);
			memcpy(v, smp.data, 8);
			assert_int_equal(v[1], last[j][v[0]] + 1);
			last[j][v[0]] = v[1];
			shmk_sub_release(sub[j], &smp);
			got++;
			if (last[0][0] == n && last[0][1] == n &&
			    last[1][0] == n && last[1][1] == n)
				got = 4 * n;
		}
	}
	for (k = 0; k < 2; k++)
		if (kid[k] > 0)
			assert_int_equal(reap(kid[k]), 0);
	for (j = 0; j < 2; j++)
		shmk_port_close(sub[j]);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * Delivery accounting: every sample whose publish returned 0 is received
 * or counted in shmk_sub_dropped(), when its publisher is SIGKILLed (@kill)
 * or closes without draining, and when the slot gets a new generation.
 */
static void run_accounting(int kill_it)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	uint32_t i, got = 0;
	int fds[2], back[2];
	pid_t pid;
	char ch;

	c.buffer = 8;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pipe(back), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_service *cs;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &pub) == 0);
		for (i = 0; i < 6; i++)
			CHILD_CHECK(shmk_pub_send_copy(pub, &i, 4, 0) == 0);
		CHILD_CHECK(write(fds[1], "p", 1) == 1);
		CHILD_CHECK(read(back[0], &ch, 1) == 1);
		if (kill_it)
			raise(SIGKILL);
		shmk_port_close(pub);
		_exit(0);
	}
	assert_int_equal(read(fds[0], &ch, 1), 1);
	for (i = 0; i < 2; i++) {
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		assert_memory_equal(smp.data, &i, 4);
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
		got++;
	}
	assert_int_equal(write(back[1], "g", 1), 1);
	assert_int_equal(reap(pid), kill_it ? 128 + SIGKILL : 0);
	close(fds[0]);
	close(fds[1]);
	close(back[0]);
	close(back[1]);
	assert_int_equal(shmk_service_recover(s), kill_it ? 1 : 0);
	while (shmk_sub_receive(sub, &smp, 0) == 0) {
		shmk_sub_release(sub, &smp);
		got++;
	}
	assert_int_equal(got + shmk_sub_dropped(sub), 6);
	/* A new generation in the slot: its samples all arrive. */
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		assert_memory_equal(smp.data, &i, 4);
		shmk_sub_release(sub, &smp);
	}
	assert_int_equal(got + shmk_sub_dropped(sub), 6);
	shmk_port_close(pub);
	shmk_port_close(sub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static void test_accounting(void **state)
{
	(void)state;
	run_accounting(1);
	run_accounting(0);
}

/*
 * lib-audit #10: buffer 1, SHMK_OVERFLOW_BLOCK, the subscriber SIGKILLed
 * with the buffer full.  publish(timeout 0) must get through within a
 * bounded number of tries, with no explicit shmk_service_recover().
 */
static void test_block_dead_sub(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	int fds[2], i, ret = -1;
	void *pl;
	pid_t pid;
	char ch;

	(void)state;
	c.buffer = 1;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_service *cs;
		struct shmk_port *sub;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_sub_open(cs, &sub) == 0);
		CHILD_CHECK(write(fds[1], "s", 1) == 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(fds[0], &ch, 1), 1);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "a", 1, 0), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "b", 1, 0), -EAGAIN);
	kill(pid, SIGKILL);
	assert_int_equal(reap(pid), 128 + SIGKILL);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	for (i = 0; i < 100; i++) {
		ret = shmk_pub_publish(pub, pl, 1, 0);
		if (ret != -EAGAIN)
			break;
	}
	assert_int_equal(ret, 0);
	assert_true(i < 100);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * lib-audit #20: every errno service.h documents for the pubsub calls
 * that test_errors() does not reach: NULL arguments, a drain that times
 * out, and -EINTR from a receive and a drain that sleep.
 */
static void test_errnos(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub, *x = NULL;
	struct shmk_sample smp;
	void *pl;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(NULL, &x), -EINVAL);
	assert_int_equal(shmk_pub_open(s, NULL), -EINVAL);
	assert_int_equal(shmk_sub_open(NULL, &x), -EINVAL);
	assert_int_equal(shmk_sub_open(s, NULL), -EINVAL);
	assert_null(x);
	assert_int_equal(shmk_service_recover(NULL), -EINVAL);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_loan(NULL, &pl), -EINVAL);
	assert_int_equal(shmk_pub_loan(pub, NULL), -EINVAL);
	assert_int_equal(shmk_pub_publish(NULL, &pl, 1, 0), -EINVAL);
	assert_int_equal(shmk_pub_discard(NULL, &pl), -EINVAL);
	assert_int_equal(shmk_pub_send_copy(NULL, "a", 1, 0), -EINVAL);
	assert_int_equal(shmk_pub_send_copy(pub, NULL, 1, 0), -EINVAL);
	assert_int_equal(shmk_pub_send_copy(sub, "a", 1, 0), -EINVAL);
	assert_int_equal(shmk_pub_drain(NULL, 0), -EINVAL);
	assert_int_equal(shmk_pub_drain(sub, 0), -EINVAL);
	assert_int_equal(shmk_sub_receive(sub, NULL, 0), -EINVAL);
	assert_int_equal(shmk_sub_release(NULL, &smp), -EINVAL);
	assert_int_equal(shmk_sub_release(sub, NULL), -EINVAL);
	assert_int_equal(shmk_service_chunks_used(s), 0);

	/* A sample nobody receives: the drain times out, or is interrupted. */
	assert_int_equal(shmk_pub_send_copy(pub, "a", 1, 0), 0);
	assert_int_equal(shmk_pub_drain(pub, 0), -EAGAIN);
	assert_int_equal(shmk_pub_drain(pub, 2000000), -ETIMEDOUT);
	alarm_in(20);
	assert_int_equal(shmk_pub_drain(pub, 5000000000LL), -EINTR);
	alarm_off();
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_int_equal(shmk_pub_drain(pub, 0), 0);
	/* Nothing to receive: interrupted. */
	alarm_in(20);
	assert_int_equal(shmk_sub_receive(sub, &smp, SHMK_FOREVER), -EINTR);
	alarm_off();
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * lib-audit #20: a fork() child that closes its copies of the ports
 * (atexit(), a C++ destructor) leaves the parent's slots, loans and held
 * samples alone: the slot stays claimed (-EBUSY for a newcomer), nothing
 * is recovered, and the parent goes on publishing and receiving.
 */
static void test_fork_close(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub, *x;
	struct shmk_sample smp, smp2;
	uint32_t used;
	void *pl;
	pid_t pid;
	int st;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "a", 2, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	used = shmk_service_chunks_used(s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmk_port_close(pub);
		shmk_port_close(sub);
		shmk_service_close(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(shmk_service_participants(s), 2);
	assert_int_equal(shmk_service_recover(s), 0);
	assert_int_equal(shmk_service_chunks_used(s), used);
	assert_int_equal(shmk_pub_open(s, &x), -EBUSY);
	assert_int_equal(shmk_sub_open(s, &x), -EBUSY);
	memcpy(pl, "b", 2);
	assert_int_equal(shmk_pub_publish(pub, pl, 2, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp2, 0), 0);
	assert_string_equal(smp2.data, "b");
	assert_string_equal(smp.data, "a");
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_int_equal(shmk_sub_release(sub, &smp2), 0);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_safe_overflow),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_processes),
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_block_dead_sub),
		cmocka_unit_test(test_fork_close),
		cmocka_unit_test(test_errnos),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
