// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exact wake-ups (lib-audit #6, #11, #13, #18): a subscriber killed while
 * asleep costs no wake syscall once swept, a response to one client wakes
 * no other, blocked receivers and blocked publishers never miss a wake-up
 * (the memfd slice is raised to an hour, so a missed one hangs and the
 * alarm fails the test), and a wait that keeps failing is returned, not
 * spun on.  White-box: it reads lib/svc.h state and the library's count
 * of wake syscalls.
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include "msgutil.h"
#include "../svc.h"

/*
 * Failure injection: while fail_futex_wait is set, FUTEX_WAIT fails with
 * ENOSYS (the memfd backend's shmk_wait() calls syscall(2)).
 */
static volatile int fail_futex_wait;

/* FUTEX_WAKE system calls made by this thread. */
static _Thread_local unsigned long futex_wakes;

long syscall(long n, ...)
{
	static long (*real)(long, ...);
	long (*fn)(long, ...);
	va_list ap;
	long a[6];
	int i;

	va_start(ap, n);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_futex && fail_futex_wait &&
	    (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT) {
		errno = ENOSYS;
		return -1;
	}
	if (n == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAKE)
		futex_wakes++;
	/* Relaxed: every thread resolves the same address. */
	fn = __atomic_load_n(&real, __ATOMIC_RELAXED);
	if (!fn) {
		*(void **)&fn = dlsym(RTLD_NEXT, "syscall");
		__atomic_store_n(&real, fn, __ATOMIC_RELAXED);
	}
	return fn(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static unsigned long wakes(void)
{
	return atomic_load(&shmk__svc_wakes);
}

static uint64_t sleep_data(struct shmk_service *s)
{
	return atomic_load(&mask_of(&s->v, MASK_DATA)[0]);
}

/* Wait (up to 10 s) until slot @k's bit is set in the data mask. */
static void until_asleep(struct shmk_service *s, uint32_t k)
{
	int i;

	for (i = 0; i < 10000 && !(sleep_data(s) & (1ULL << k)); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(sleep_data(s) & (1ULL << k));
}

/*
 * The audit's t5: a subscriber killed while asleep.  Once it is swept,
 * its bit is gone, and a publish makes no wake syscall.
 */
static void test_killed_sleeper_costs_nothing(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	unsigned long w0, i;
	uint32_t k;
	pid_t kid;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	k = (uint32_t)shmk_port_slot(sub);
	shmk_port_close(sub);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_sample smp;

		CHILD_CHECK(shmk_sub_open(s, &sub) == 0);
		CHILD_CHECK((uint32_t)shmk_port_slot(sub) == k);
		shmk_sub_receive(sub, &smp, SHMK_FOREVER);
		_exit(1);
	}
	until_asleep(s, k);
	kill(kid, SIGKILL);
	assert_int_equal(reap(kid), 128 + SIGKILL);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(sleep_data(s), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	w0 = wakes();
	for (i = 0; i < 1000; i++)
		assert_int_equal(shmk_pub_send_copy(pub, &i, sizeof(i), 0), 0);
	assert_int_equal(wakes(), w0);
	shmk_port_close(pub);
	drop_service(s, name);
}

struct client_arg {
	struct shmk_port *cl;
	int got;
	uint64_t corr;
};

static void *client_wait(void *p)
{
	struct client_arg *a = p;
	struct shmk_sample smp;

	if (shmk_client_receive(a->cl, &smp, 10000000000LL) == 0) {
		a->corr = smp.corr;
		shmk_sub_release(a->cl, &smp);
		/* Seq_cst: read by the main thread. */
		__atomic_store_n(&a->got, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* A response to client k wakes neither client j nor anybody else. */
static void test_wake_reaches_only_target(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *clk, *srv;
	struct shmk_sample rj, rk, resp;
	struct client_arg a = { 0 };
	uint32_t j, wj;
	unsigned long w0;
	uint64_t corr;
	pthread_t t;
	void *pl;

	(void)state;
	c.max_publishers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &srv), 0);
	assert_int_equal(shmk_client_open(s, &a.cl), 0);
	assert_int_equal(shmk_client_open(s, &clk), 0);
	j = (uint32_t)shmk_port_slot(a.cl);
	/* Client j sends, then sleeps for its answer. */
	assert_int_equal(shmk_pub_loan(a.cl, &pl), 0);
	assert_int_equal(shmk_client_send(a.cl, pl, 1, &corr), 0);
	assert_int_equal(pthread_create(&t, NULL, client_wait, &a), 0);
	until_asleep(s, j);
	assert_int_equal(shmk_server_receive(srv, &rj, 0), 0);
	/* A whole round trip of client k. */
	wj = atomic_load(&s->v.slots[j].wake);
	w0 = wakes();
	assert_int_equal(shmk_pub_loan(clk, &pl), 0);
	assert_int_equal(shmk_client_send(clk, pl, 1, NULL), 0);
	assert_int_equal(shmk_server_receive(srv, &rk, 0), 0);
	assert_int_equal(shmk_pub_loan(srv, &pl), 0);
	assert_int_equal(shmk_server_respond(srv, &rk, pl, 1), 0);
	assert_int_equal(shmk_sub_release(srv, &rk), 0);
	assert_int_equal(shmk_client_receive(clk, &resp, 0), 0);
	assert_int_equal(shmk_sub_release(clk, &resp), 0);
	assert_int_equal(atomic_load(&s->v.slots[j].wake), wj);
	assert_int_equal(wakes(), w0);
	assert_int_equal(__atomic_load_n(&a.got, __ATOMIC_SEQ_CST), 0);
	/* Now j's answer: one wake, j's. */
	assert_int_equal(shmk_pub_loan(srv, &pl), 0);
	assert_int_equal(shmk_server_respond(srv, &rj, pl, 1), 0);
	assert_int_equal(shmk_sub_release(srv, &rj), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.got, 1);
	assert_true(a.corr == corr);
	assert_true(wakes() - w0 <= 1);
	shmk_port_close(clk);
	shmk_port_close(a.cl);
	shmk_port_close(srv);
	drop_service(s, name);
}

/* Stress: nothing but wake-ups gets anybody out of a sleep. */
#define NSUB 2

struct stress {
	struct shmk_port *sub;	/* opened before any publish */
	unsigned long n;
	int fail;
};

static void *stress_sub(void *p)
{
	struct stress *st = p;
	struct shmk_port *sub = st->sub;
	struct shmk_sample smp;
	unsigned long i, v;

	for (i = 0; i < st->n; i++) {
		if (shmk_sub_receive(sub, &smp, SHMK_FOREVER)) {
			st->fail = 1;
			break;
		}
		memcpy(&v, smp.data, sizeof(v));
		if (v != i)
			st->fail = 2;
		shmk_sub_release(sub, &smp);
	}
	return NULL;
}

static void test_no_missed_wakeup(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct stress arg[NSUB];
	struct shmk_port *pub;
	pthread_t t[NSUB];
	unsigned long n = scaled(20000), i;
	int64_t slice = shmk__svc_slice_ns;
	struct shmk_service *s;

	(void)state;
	/* A missed wake-up would now sleep for an hour: the alarm fires. */
	shmk__svc_slice_ns = 3600LL * 1000000000LL;
	alarm(300);
	c.max_publishers = 1;
	c.max_subscribers = NSUB;
	c.buffer = 2;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < NSUB; i++) {
		arg[i].n = n;
		arg[i].fail = 0;
		assert_int_equal(shmk_sub_open(s, &arg[i].sub), 0);
		assert_int_equal(pthread_create(&t[i], NULL, stress_sub, &arg[i]), 0);
	}
	for (i = 0; i < n; i++) {
		void *pl;

		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		memcpy(pl, &i, sizeof(i));
		/* Blocks for room: consumers' wakes get us out. */
		assert_int_equal(shmk_pub_publish(pub, pl, sizeof(i), SHMK_FOREVER), 0);
	}
	assert_int_equal(shmk_pub_drain(pub, SHMK_FOREVER), 0);
	for (i = 0; i < NSUB; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(arg[i].fail, 0);
		shmk_port_close(arg[i].sub);
	}
	shmk_port_close(pub);
	drop_service(s, name);
	alarm(0);
	shmk__svc_slice_ns = slice;
}

/* Request-response ping-pong, both sides blocking. */
static void *pong(void *p)
{
	struct shmk_port *srv = p;
	struct shmk_sample req;
	void *pl;

	for (;;) {
		if (shmk_server_receive(srv, &req, SHMK_FOREVER))
			break;
		if (req.len == 0) {
			shmk_sub_release(srv, &req);
			break;
		}
		if (shmk_pub_loan(srv, &pl) == 0) {
			memcpy(pl, req.data, req.len);
			shmk_server_respond(srv, &req, pl, req.len);
		}
		shmk_sub_release(srv, &req);
	}
	return NULL;
}

static void test_no_missed_wakeup_reqres(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *srv, *cl;
	struct shmk_sample resp;
	unsigned long n = scaled(20000), i, v;
	int64_t slice = shmk__svc_slice_ns;
	pthread_t t;
	void *pl;

	(void)state;
	shmk__svc_slice_ns = 3600LL * 1000000000LL;
	alarm(300);
	c.max_publishers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &srv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(pthread_create(&t, NULL, pong, srv), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(shmk_pub_loan(cl, &pl), 0);
		memcpy(pl, &i, sizeof(i));
		assert_int_equal(shmk_client_send(cl, pl, sizeof(i), NULL), 0);
		assert_int_equal(shmk_client_receive(cl, &resp, SHMK_FOREVER), 0);
		memcpy(&v, resp.data, sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(shmk_sub_release(cl, &resp), 0);
	}
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_send(cl, pl, 0, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	shmk_port_close(cl);
	shmk_port_close(srv);
	drop_service(s, name);
	alarm(0);
	shmk__svc_slice_ns = slice;
}

struct send_wait {
	struct shmk_port *cl;
	int ret;
};

static void *send_waiting(void *arg)
{
	struct send_wait *w = arg;
	void *pl;

	if (shmk_pub_loan(w->cl, &pl)) {
		w->ret = -1000;
		return NULL;
	}
	/* Longer than the alarm: a missed wake-up fails the test there. */
	w->ret = shmk_client_send_wait(w->cl, pl, 1, NULL,
				       600LL * 1000000000LL);
	return NULL;
}

/*
 * A client waiting in shmk_client_send_wait() for a server sleeps on its
 * room bit; the server's arrival must wake it (with the memfd slice
 * raised to an hour, nothing else would: the alarm fails the test).
 */
static void test_send_wait_woken_by_server(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *srv;
	struct send_wait w = { NULL, 1 };
	int64_t slice = shmk__svc_slice_ns;
	pthread_t t;
	int i;

	(void)state;
	shmk__svc_slice_ns = 3600LL * 1000000000LL;
	alarm(30);
	c.max_publishers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_client_open(s, &w.cl), 0);
	assert_int_equal(pthread_create(&t, NULL, send_waiting, &w), 0);
	/* Until the client (slot 0) sleeps on its room bit. */
	for (i = 0; i < 10000 &&
	     !(atomic_load(&mask_of(&s->v, MASK_ROOM)[0]) & 1ULL); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(atomic_load(&mask_of(&s->v, MASK_ROOM)[0]) & 1ULL);
	assert_int_equal(shmk_server_open(s, &srv), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.ret, 0);
	shmk_port_close(w.cl);
	shmk_port_close(srv);
	drop_service(s, name);
	alarm(0);
	shmk__svc_slice_ns = slice;
}

/* #18: a wait that keeps failing is returned, not spun on. */
static void test_failing_wait_returns(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	pid_t kid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_sample smp;

		alarm(10);	/* a spin ends here, as a failure */
		fail_futex_wait = 1;
		CHILD_CHECK(shmk_sub_receive(sub, &smp, SHMK_FOREVER) == -ENOSYS);
		_exit(0);
	}
	assert_int_equal(reap(kid), 0);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * Issue 12: waking N sleeping subscribers costs no more than N futex
 * wakes.  N threads sleep in a blocking receive (spinning off, so each
 * is surely on its way to sleep once its bit is set); one publish makes
 * exactly N wake system calls, one per sleeper, counted in the
 * publishing thread by the syscall() interposer above, and the
 * library's own count agrees.
 */
#define NSLEEP 8

struct sleeper {
	struct shmk_port *sub;
	int ret;
};

static void *sleeper_run(void *p)
{
	struct sleeper *a = p;
	struct shmk_sample smp;

	a->ret = shmk_sub_receive(a->sub, &smp, 10000000000LL);
	if (a->ret == 0)
		a->ret = shmk_sub_release(a->sub, &smp);
	return NULL;
}

static void test_n_sleepers_n_wakes(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct sleeper a[NSLEEP];
	pthread_t t[NSLEEP];
	struct shmk_service *s;
	struct shmk_port *pub;
	unsigned long w0, f0;
	int64_t spin = shmk_spin_ns(0);
	uint64_t v = 7;
	int i;

	(void)state;
	c.max_publishers = 1;
	c.max_subscribers = NSLEEP;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < NSLEEP; i++) {
		assert_int_equal(shmk_sub_open(s, &a[i].sub), 0);
		assert_int_equal(pthread_create(&t[i], NULL, sleeper_run, &a[i]), 0);
	}
	for (i = 0; i < NSLEEP; i++)
		until_asleep(s, (uint32_t)shmk_port_slot(a[i].sub));
	w0 = wakes();
	f0 = futex_wakes;
	assert_int_equal(shmk_pub_send_copy(pub, &v, sizeof(v), 0), 0);
	assert_int_equal(futex_wakes - f0, NSLEEP);
	assert_int_equal(wakes() - w0, NSLEEP);
	for (i = 0; i < NSLEEP; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].ret, 0);
		shmk_port_close(a[i].sub);
	}
	/* Nobody sleeps now: a publish makes no system call at all. */
	f0 = futex_wakes;
	assert_int_equal(shmk_pub_send_copy(pub, &v, sizeof(v), 0), 0);
	assert_int_equal(futex_wakes, f0);
	shmk_port_close(pub);
	drop_service(s, name);
	shmk_spin_ns(spin);
}

static int64_t thread_cpu_ns(void)
{
	struct rusage u;

	assert_int_equal(getrusage(RUSAGE_THREAD, &u), 0);
	return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000;
}

/*
 * Issue 12: a receiver whose waits are long sleeps; it does not spin its
 * budget away on every wait.  With a 20 ms ceiling, 20 receives that
 * each time out after 25 ms would burn 400 ms of CPU if every wait spun
 * its full budget; the learnt budget (ceiling, /4, /16, /64, then none,
 * with one probe in 8) comes to about 70 ms.  The bound, 200 ms, leaves
 * room for a loaded machine and for valgrind.
 */
static void test_long_waits_sleep(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	int64_t spin = shmk_spin_ns(20000000), cpu;
	int i;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	cpu = thread_cpu_ns();
	for (i = 0; i < 20; i++)
		assert_int_equal(shmk_sub_receive(sub, &smp, 25000000), -ETIMEDOUT);
	cpu = thread_cpu_ns() - cpu;
	print_message("20 waits of 25 ms: %lld us of CPU\n", (long long)cpu / 1000);
	assert_true(cpu < 200000000);
	shmk_port_close(sub);
	drop_service(s, name);
	shmk_spin_ns(spin);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_sleeper_costs_nothing),
		cmocka_unit_test(test_wake_reaches_only_target),
		cmocka_unit_test(test_no_missed_wakeup),
		cmocka_unit_test(test_no_missed_wakeup_reqres),
		cmocka_unit_test(test_send_wait_woken_by_server),
		cmocka_unit_test(test_failing_wait_returns),
		cmocka_unit_test(test_n_sleepers_n_wakes),
		cmocka_unit_test(test_long_waits_sleep),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
