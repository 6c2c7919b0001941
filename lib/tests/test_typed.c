// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Typed services (the payload type checked on open), user headers,
 * history chosen per subscriber, and a publisher that lingers at close
 * until its samples are received (issue 11): every bad input, and the
 * linger across processes, killed or not.
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include "msgutil.h"

static struct shmk_svc_config typed(const char *tn, uint64_t size,
				    uint32_t align)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);

	strncpy(c.type_name, tn, sizeof(c.type_name) - 1);
	c.type_size = size;
	c.type_align = align;
	return c;
}

static int open_cfg(const char *name, const struct shmk_svc_config *c)
{
	struct shmk_service *s = NULL;
	int ret = shmk_service_open(name, c, 0, &s);

	if (!ret)
		shmk_service_close(s);
	return ret;
}

static void test_type_check(void **state)
{
	struct shmk_svc_config c = typed("Pose", 32, 8), w, got;
	char name[SHMK_SVC_NAME_MAX], plain[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *u;

	(void)state;
	s = new_service(&c, name);
	shmk_service_config(s, &got);
	assert_string_equal(got.type_name, "Pose");
	assert_int_equal(got.type_size, 32);
	assert_int_equal(got.type_align, 8);
	assert_int_equal(got.size, sizeof(got));

	w = typed("Pose", 32, 8);
	assert_int_equal(open_cfg(name, &w), 0);
	w = typed("", 0, 0);	/* any */
	assert_int_equal(open_cfg(name, &w), 0);
	w = typed("Pose", 0, 0);
	assert_int_equal(open_cfg(name, &w), 0);
	w = typed("Pose2", 40, 8);
	assert_int_equal(open_cfg(name, &w), -EPROTOTYPE);
	assert_string_equal(shmk_last_error(), "payload type: the service has "
			    "'Pose' (32 bytes), not 'Pose2' (40 bytes)");
	w = typed("", 40, 0);
	assert_int_equal(open_cfg(name, &w), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "'Pose' (32 bytes)"));
	w = typed("Pose", 32, 16);
	assert_int_equal(open_cfg(name, &w), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "aligned to 8, not 16"));
	/* The same disagreement through SHMK_SVC_CREATE of an existing one. */
	w = typed("Pose2", 40, 8);
	assert_int_equal(shmk_service_open(name, &w, SHMK_SVC_CREATE, &u),
			 -EPROTOTYPE);
	/* A caller of LIBSHMK_0.2's struct: no type, any. */
	w = typed("", 0, 0);
	w.size = SHMK_SVC_CONFIG_SIZE_V0;
	memset(w.type_name, 'x', sizeof(w.type_name));	/* beyond its size */
	assert_int_equal(open_cfg(name, &w), 0);

	/* An untyped service is not 'Pose'. */
	w = typed("", 0, 0);
	u = new_service(&w, plain);
	w = typed("Pose", 32, 0);
	assert_int_equal(open_cfg(plain, &w), -EPROTOTYPE);
	assert_string_equal(shmk_last_error(), "payload type: the service has "
			    "'' (0 bytes), not 'Pose' (32 bytes)");
	drop_service(u, plain);
	drop_service(s, name);
}

static void test_type_bad(void **state)
{
	struct shmk_svc_config c;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s = NULL;

	(void)state;
	uniq_name(name, sizeof(name), "s");
#define BAD(err, what)							\
	do {								\
		assert_int_equal(shmk_service_open(name, &c,		\
				SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s), err); \
		assert_non_null(strstr(shmk_last_error(), what));	\
		assert_int_equal(shmk_service_open(name, NULL, 0, &s),	\
				 -ENOENT);				\
	} while (0)
	c = typed("", 0, 0);
	memset(c.type_name, 'a', sizeof(c.type_name));
	BAD(-EINVAL, "not NUL-terminated");
	c = typed("Po\tse", 0, 0);
	BAD(-EINVAL, "not printable");
	c = typed("Pose", 0, 0);
	c.type_name[10] = 'x';
	BAD(-EINVAL, "not 0 after the NUL");
	c = typed("Pose", 0, 3);
	BAD(-EINVAL, "type_align: 3");
	c = typed("Pose", 0, 128);
	BAD(-EINVAL, "type_align: 128");
	c = typed("Pose", 4097, 0);
	BAD(-EINVAL, "type_size: 4097 is not in 0..4096");
	c = typed("Pose", 36, 8);
	BAD(-EINVAL, "not a multiple of type_align 8");
	c = typed("", 0, 0);
	c.user_header_size = SHMK_SVC_USER_HEADER_MAX + 1;
	BAD(-EINVAL, "user_header_size: 4097");
	c = cfg_of(SHMK_SVC_EVENT);
	c.user_header_size = 8;
	BAD(-EINVAL, "only publish-subscribe and request-response");
	c = cfg_of(SHMK_SVC_BLACKBOARD);
	c.user_header_size = 8;
	BAD(-EINVAL, "only publish-subscribe and request-response");
	/* On open too (no create): the same checks, nothing opened. */
	c = typed("Po\x01se", 0, 0);
	assert_int_equal(shmk_service_open(name, &c, 0, &s), -EINVAL);
	assert_null(s);
#undef BAD
}

static void test_user_header(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB), w;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *s2;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp, fake;
	const unsigned char *rh;
	unsigned char *h;
	void *pl, *pl2;

	(void)state;
	c.payload_max = 100;
	c.user_header_size = 24;
	s = new_service(&c, name);
	w = cfg_of(SHMK_SVC_PUBSUB);
	w.user_header_size = 16;
	assert_int_equal(open_cfg(name, &w), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "user_header_size"));
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	h = shmk_pub_loan_header(pub, pl);
	assert_non_null(h);
	assert_int_equal((uintptr_t)h % SHMK_CACHELINE, 0);
	/* Apart from the whole payload. */
	assert_true(h >= (unsigned char *)pl + 100);
	memset(pl, 0xaa, 100);
	memset(h, 0x5c, 24);
	assert_null(shmk_pub_loan_header(NULL, pl));
	assert_null(shmk_pub_loan_header(pub, NULL));
	assert_null(shmk_pub_loan_header(pub, (char *)pl + 1));
	assert_null(shmk_pub_loan_header(sub, pl));
	assert_int_equal(shmk_pub_loan(pub, &pl2), 0);
	assert_ptr_not_equal(shmk_pub_loan_header(pub, pl2), h);
	/* Two chunks' payloads and headers, all apart. */
	memset(pl2, 0x11, 100);
	memset(shmk_pub_loan_header(pub, pl2), 0x22, 24);
	assert_int_equal(((unsigned char *)pl)[0], 0xaa);
	assert_int_equal(((unsigned char *)pl)[99], 0xaa);
	assert_int_equal(h[0], 0x5c);
	assert_int_equal(h[23], 0x5c);
	assert_int_equal(((unsigned char *)pl2)[0], 0x11);
	assert_int_equal(((unsigned char *)pl2)[99], 0x11);
	assert_int_equal(shmk_pub_discard(pub, pl2), 0);
	assert_null(shmk_pub_loan_header(pub, pl2));
	assert_int_equal(shmk_pub_publish(pub, pl, 100, 0), 0);
	assert_null(shmk_pub_loan_header(pub, pl));	/* no longer a loan */
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	rh = shmk_sample_header(sub, &smp);
	assert_non_null(rh);
	assert_int_equal(rh[0], 0x5c);
	assert_int_equal(rh[23], 0x5c);
	assert_int_equal(((const unsigned char *)smp.data)[99], 0xaa);
	assert_null(shmk_sample_header(NULL, &smp));
	assert_null(shmk_sample_header(sub, NULL));
	assert_null(shmk_sample_header(pub, &smp));
	fake = smp;
	fake.chunk = 0xffffffu;
	assert_null(shmk_sample_header(sub, &fake));
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_null(shmk_sample_header(sub, &smp));
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);

	/* A service without user headers has none. */
	c = cfg_of(SHMK_SVC_PUBSUB);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), 0);
	shmk_service_close(s2);
	drop_service(s, name);
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_null(shmk_pub_loan_header(pub, pl));
	shmk_port_close(pub);
	drop_service(s, name);
}

static void test_user_header_reqres(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_sample req, resp;
	char *h;
	void *pl;

	(void)state;
	c.user_header_size = 8;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	h = shmk_pub_loan_header(cl, pl);
	assert_non_null(h);
	memcpy(h, "req-hdr", 8);
	assert_int_equal(shmk_client_send(cl, pl, 1, 0), 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_string_equal(shmk_sample_header(sv, &req), "req-hdr");
	assert_int_equal(shmk_pub_loan(sv, &pl), 0);
	h = shmk_pub_loan_header(sv, pl);
	memcpy(h, "rsp-hdr", 8);
	assert_int_equal(shmk_server_respond(sv, &req, pl, 1), 0);
	assert_int_equal(shmk_sub_release(sv, &req), 0);
	assert_int_equal(shmk_client_receive(cl, &resp, 0), 0);
	assert_string_equal(shmk_sample_header(cl, &resp), "rsp-hdr");
	assert_int_equal(shmk_sub_release(cl, &resp), 0);
	shmk_port_close(cl);
	shmk_port_close(sv);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/* Receive everything waiting; the sequence numbers go to @seqs. */
static int drain_seqs(struct shmk_port *sub, uint64_t *seqs, int max)
{
	struct shmk_sample smp;
	int n = 0;

	while (shmk_sub_receive(sub, &smp, 0) == 0) {
		if (n < max)
			seqs[n] = smp.seq;
		n++;
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
	}
	return n;
}

static void test_sub_history(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *a, *b, *d, *e, *x = NULL;
	struct shmk_sub_opts o;
	struct { struct shmk_sub_opts o; uint32_t more[2]; } big;
	uint64_t seqs[8];
	int i;

	(void)state;
	c.history = 4;
	c.max_subscribers = 4;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	assert_int_equal(shmk_sub_open_opts(s, &o, &a), 0);	/* none */
	o.history = 2;
	assert_int_equal(shmk_sub_open_opts(s, &o, &b), 0);
	assert_int_equal(shmk_sub_open_opts(s, NULL, &d), 0);	/* service's */
	o.history = 4;
	o.size = 8;	/* an older caller's struct without flags */
	assert_int_equal(shmk_sub_open_opts(s, &o, &e), 0);
	assert_int_equal(drain_seqs(a, seqs, 8), 0);
	assert_int_equal(drain_seqs(b, seqs, 8), 2);
	assert_int_equal(seqs[0], 4);
	assert_int_equal(seqs[1], 5);
	assert_int_equal(drain_seqs(d, seqs, 8), 4);
	assert_int_equal(seqs[0], 2);
	assert_int_equal(drain_seqs(e, seqs, 8), 4);
	/* Later samples reach them all alike. */
	assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	assert_int_equal(drain_seqs(a, seqs, 8), 1);
	assert_int_equal(seqs[0], 6);
	assert_int_equal(drain_seqs(b, seqs, 8), 1);
	assert_int_equal(shmk_sub_dropped(a), 0);
	assert_int_equal(shmk_sub_dropped(b), 0);

	/* Bad input: nothing opened. */
	o.size = sizeof(o);
	o.history = 5;
	assert_int_equal(shmk_sub_open_opts(s, &o, &x), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "more than the service's"));
	o.history = 0;
	o.flags = 1;
	assert_int_equal(shmk_sub_open_opts(s, &o, &x), -EINVAL);
	o.flags = 0;
	o.reserved = 1;
	assert_int_equal(shmk_sub_open_opts(s, &o, &x), -EINVAL);
	o.reserved = 0;
	o.size = 4;
	assert_int_equal(shmk_sub_open_opts(s, &o, &x), -EINVAL);
	o.size = 8192;
	assert_int_equal(shmk_sub_open_opts(s, &o, &x), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	assert_int_equal(shmk_sub_open_opts(s, &big.o, &x), -EBUSY);
	big.more[1] = 1;
	assert_int_equal(shmk_sub_open_opts(s, &big.o, &x), -E2BIG);
	o.size = sizeof(o);
	assert_int_equal(shmk_sub_open_opts(NULL, &o, &x), -EINVAL);
	assert_int_equal(shmk_sub_open_opts(s, &o, NULL), -EINVAL);
	assert_null(x);
	assert_int_equal(shmk_service_participants(s), 5);
	shmk_port_close(a);
	shmk_port_close(b);
	shmk_port_close(d);
	shmk_port_close(e);
	/* A larger struct whose extra bytes are 0 is accepted. */
	big.more[1] = 0;
	assert_int_equal(shmk_sub_open_opts(s, &big.o, &x), 0);
	shmk_port_close(x);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);

	/* Another kind: as shmk_sub_open(). */
	c = cfg_of(SHMK_SVC_EVENT);
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open_opts(s, &o, &x), -EPROTOTYPE);
	drop_service(s, name);
}

#define LN	64

/*
 * A child publishes LN samples into a subscriber's buffer of LN, then
 * closes: lingering (@linger), or plainly.  The parent's subscriber
 * receives slowly, after the child has begun to close.  @kill_it: the
 * child is killed while it lingers.
 */
static void run_linger(int linger, int kill_it)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	int fds[2], i, got = 0, st;
	pid_t pid;
	char ch;

	c.buffer = LN;
	c.max_publishers = 1;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_service *cs;
		struct shmk_port *pub;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &pub) == 0);
		for (i = 0; i < LN; i++)
			CHILD_CHECK(shmk_pub_send_copy(pub, &i, 4, 0) == 0);
		CHILD_CHECK(write(fds[1], "p", 1) == 1);
		if (linger)
			CHILD_CHECK(shmk_pub_close_linger(pub, SHMK_FOREVER) == 0);
		else
			shmk_port_close(pub);
		shmk_service_close(cs);
		_exit(0);
	}
	assert_int_equal(read(fds[0], &ch, 1), 1);
	/* The child is closing (or lingering) now. */
	usleep(20000);
	for (i = 0; i < LN; i++) {
		if (kill_it && i == LN / 2) {
			kill(pid, SIGKILL);
			assert_int_equal(waitpid(pid, &st, 0), pid);
			assert_true(WIFSIGNALED(st));
			assert_int_equal(shmk_service_recover(s), 1);
		}
		if (shmk_sub_receive(sub, &smp, 0))
			break;
		assert_memory_equal(smp.data, &i, 4);
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
		got++;
		usleep(200);
	}
	if (!kill_it)
		assert_int_equal(reap(pid), 0);
	/* Nothing more, each sample received or counted as dropped. */
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
	assert_int_equal(got + (int)shmk_sub_dropped(sub), LN);
	if (linger && !kill_it)
		assert_int_equal(got, LN);
	else if (kill_it)
		assert_int_equal(got, LN / 2);
	else
		assert_true(got < LN);	/* the plain close dropped some */
	close(fds[0]);
	close(fds[1]);
	shmk_port_close(sub);
	assert_int_equal(shmk_service_participants(s), 0);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static void test_linger(void **state)
{
	(void)state;
	run_linger(1, 0);
	run_linger(0, 0);
	run_linger(1, 1);
}

static void test_linger_errors(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub, *idle;
	struct shmk_sample smp;
	int i;

	(void)state;
	c.buffer = 4;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_close_linger(NULL, 0), 0);
	/* Not a publisher: -EINVAL, closed all the same. */
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_close_linger(sub, 0), -EINVAL);
	assert_int_equal(shmk_service_participants(s), 0);
	/* Nobody to wait for: at once. */
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "a", 1, 0), 0);
	assert_int_equal(shmk_pub_close_linger(pub, SHMK_FOREVER), 0);
	/* A subscriber that never receives: the timeout, then dropped. */
	assert_int_equal(shmk_sub_open(s, &idle), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, 4, 0), 0);
	assert_int_equal(shmk_pub_close_linger(pub, 0), -ETIMEDOUT);
	assert_int_equal(shmk_sub_receive(idle, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_sub_dropped(idle), 3);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "b", 1, 0), 0);
	assert_int_equal(shmk_pub_close_linger(pub, 10000000), -ETIMEDOUT);
	assert_int_equal(shmk_sub_receive(idle, &smp, 0), -EAGAIN);
	assert_int_equal(shmk_sub_dropped(idle), 4);
	/* A signal ends the wait: -EINTR, closed. */
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_send_copy(pub, "c", 1, 0), 0);
	alarm_in(20);
	assert_int_equal(shmk_pub_close_linger(pub, SHMK_FOREVER), -EINTR);
	alarm_off();
	shmk_port_close(idle);
	assert_int_equal(shmk_service_participants(s), 0);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_check),
		cmocka_unit_test(test_type_bad),
		cmocka_unit_test(test_user_header),
		cmocka_unit_test(test_user_header_reqres),
		cmocka_unit_test(test_sub_history),
		cmocka_unit_test(test_linger),
		cmocka_unit_test(test_linger_errors),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
