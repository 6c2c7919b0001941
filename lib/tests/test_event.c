// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Events: ids reach every listener, coalesce, stay pending past a short
 * buffer; non-blocking, timed and blocking waits across processes;
 * errors; ids a peer sets beyond max_events
 * never come out (lib-audit #14, white-box); a notify wakes only the
 * listeners that sleep.
 */
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include "msgutil.h"
#include "../svc.h"

static void test_basic(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *no, *li[2], *x;
	uint32_t ids[8];
	int k;

	(void)state;
	c.max_events = 100;
	c.max_subscribers = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_notifier_open(s, &no), 0);
	assert_int_equal(shmk_notifier_notify(no, 3), 0);	/* nobody yet */
	for (k = 0; k < 2; k++)
		assert_int_equal(shmk_listener_open(s, &li[k]), 0);
	assert_int_equal(shmk_listener_open(s, &x), -EBUSY);
	assert_int_equal(shmk_pub_open(s, &x), -EPROTOTYPE);
	assert_int_equal(shmk_listener_wait(li[0], ids, 8, 0), -EAGAIN);
	assert_int_equal(shmk_listener_wait(li[0], ids, 8, 1000000), -ETIMEDOUT);
	assert_int_equal(shmk_notifier_notify(no, 5), 2);
	assert_int_equal(shmk_notifier_notify(no, 5), 2);
	assert_int_equal(shmk_notifier_notify(no, 99), 2);
	assert_int_equal(shmk_notifier_notify(no, 100), -EINVAL);
	for (k = 0; k < 2; k++) {
		assert_int_equal(shmk_listener_wait(li[k], ids, 8, 0), 2);
		assert_int_equal(ids[0], 5);
		assert_int_equal(ids[1], 99);
		assert_int_equal(shmk_listener_wait(li[k], ids, 8, 0), -EAGAIN);
	}
	/* More pending than room: the rest stays for the next call. */
	assert_int_equal(shmk_notifier_notify(no, 1), 2);
	assert_int_equal(shmk_notifier_notify(no, 2), 2);
	assert_int_equal(shmk_notifier_notify(no, 40), 2);
	assert_int_equal(shmk_listener_wait(li[0], ids, 1, 0), 1);
	assert_int_equal(ids[0], 1);
	assert_int_equal(shmk_listener_wait(li[0], ids, 8, 0), 2);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 40);
	/* Errors */
	assert_int_equal(shmk_listener_wait(li[0], ids, 0, 0), -EINVAL);
	assert_int_equal(shmk_listener_wait(no, ids, 8, 0), -EINVAL);
	assert_int_equal(shmk_notifier_notify(li[0], 1), -EINVAL);
	assert_true(shmk_listener_fd(li[0]) >= 0);	/* memfd: a socket */
	assert_int_equal(shmk_listener_fd(no), -EINVAL);
	for (k = 0; k < 2; k++)
		shmk_port_close(li[k]);
	shmk_port_close(no);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

/* #14: garbage in the padding bits of the last event word is no id. */
static void test_ids_below_max(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *no, *li;
	_Atomic uint32_t *w;
	uint32_t ids[8];
	unsigned long w0;

	(void)state;
	c.max_events = 36;	/* two words, 4 ids in the last */
	c.max_subscribers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_notifier_open(s, &no), 0);
	assert_int_equal(shmk_listener_open(s, &li), 0);
	w = events_of(&s->v, shmk_port_slot(li));
	/* A peer sets ids 36..63, which do not exist. */
	atomic_fetch_or(&w[1], 0xfffffff0U);
	assert_int_equal(shmk_listener_wait(li, ids, 8, 0), -EAGAIN);
	assert_int_equal(shmk_listener_wait(li, ids, 8, 1000000), -ETIMEDOUT);
	atomic_fetch_or(&w[1], 0xfffffff0U);
	assert_int_equal(shmk_notifier_notify(no, 35), 1);
	assert_int_equal(shmk_listener_wait(li, ids, 8, 0), 1);
	assert_int_equal(ids[0], 35);
	/* Nobody asleep: a notify makes no wake syscall. */
	w0 = atomic_load(&shmk__svc_wakes);
	assert_int_equal(shmk_notifier_notify(no, 1), 1);
	assert_int_equal(atomic_load(&shmk__svc_wakes), w0);
	shmk_port_close(li);
	shmk_port_close(no);
	drop_service(s, name);
}

/* Ping-pong of events between processes with blocking waits. */
static void test_processes(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char a[SHMK_SVC_NAME_MAX], b[SHMK_SVC_NAME_MAX];
	struct shmk_service *sa, *sb;
	struct shmk_port *no, *li;
	unsigned long n = scaled(5000), i;
	uint32_t id;
	pid_t kid;

	(void)state;
	sa = new_service(&c, a);
	sb = new_service(&c, b);
	assert_int_equal(shmk_listener_open(sb, &li), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		struct shmk_service *ca, *cb;
		struct shmk_port *cl, *cn;

		CHILD_CHECK(shmk_service_open(a, NULL, 0, &ca) == 0);
		CHILD_CHECK(shmk_service_open(b, NULL, 0, &cb) == 0);
		CHILD_CHECK(shmk_listener_open(ca, &cl) == 0);
		CHILD_CHECK(shmk_notifier_open(cb, &cn) == 0);
		CHILD_CHECK(shmk_notifier_notify(cn, 63) == 1);	/* ready */
		for (i = 0; i < n; i++) {
			CHILD_CHECK(shmk_listener_wait(cl, &id, 1, SHMK_FOREVER) == 1);
			CHILD_CHECK(id == i % 60);
			CHILD_CHECK(shmk_notifier_notify(cn, id) == 1);
		}
		shmk_port_close(cl);
		shmk_port_close(cn);
		_exit(0);
	}
	assert_int_equal(shmk_notifier_open(sa, &no), 0);
	assert_int_equal(shmk_listener_wait(li, &id, 1, SHMK_FOREVER), 1);
	assert_int_equal(id, 63);
	for (i = 0; i < n; i++) {
		assert_int_equal(shmk_notifier_notify(no, (uint32_t)(i % 60)), 1);
		assert_int_equal(shmk_listener_wait(li, &id, 1, SHMK_FOREVER), 1);
		assert_int_equal(id, i % 60);
	}
	assert_int_equal(reap(kid), 0);
	shmk_port_close(no);
	shmk_port_close(li);
	drop_service(sa, a);
	drop_service(sb, b);
}

/*
 * lib-audit #20: the errnos service.h documents for events that
 * test_basic() does not reach: NULL arguments, -EINTR from a sleeping
 * wait, shmk_region_on_release() on no region and on memfd.
 */
static void test_errnos(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *no, *li;
	uint32_t ids[4];

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_notifier_open(s, &no), 0);
	assert_int_equal(shmk_listener_open(s, &li), 0);
	assert_int_equal(shmk_notifier_notify(NULL, 0), -EINVAL);
	assert_int_equal(shmk_notifier_notify(li, 0), -EINVAL);
	assert_int_equal(shmk_notifier_notify(no, 64), -EINVAL);
	assert_int_equal(shmk_listener_wait(NULL, ids, 4, 0), -EINVAL);
	assert_int_equal(shmk_listener_wait(li, NULL, 4, 0), -EINVAL);
	assert_int_equal(shmk_listener_fd(NULL), -EINVAL);
	assert_int_equal(shmk_region_on_release(NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(shmk_region_on_release(s->v.r, &s->v.sh->deaths, 1,
						&s->v.sh->deaths), -EOPNOTSUPP);
	alarm_in(20);
	assert_int_equal(shmk_listener_wait(li, ids, 4, SHMK_FOREVER), -EINTR);
	alarm_off();
	assert_int_equal(shmk_notifier_notify(no, 3), 1);
	assert_int_equal(shmk_listener_wait(li, ids, 4, 0), 1);
	assert_int_equal(ids[0], 3);
	shmk_port_close(li);
	shmk_port_close(no);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_processes),
		cmocka_unit_test(test_ids_below_max),
		cmocka_unit_test(test_errnos),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
