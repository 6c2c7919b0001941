/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the messaging tests (service.h).
 */
#ifndef SHMK_MSGUTIL_H
#define SHMK_MSGUTIL_H

#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include "testutil.h"

static inline struct shmk_svc_config cfg_of(uint32_t kind)
{
	struct shmk_svc_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.kind = kind;
	return c;
}

/* Create a fresh service; its name goes to @name (SHMK_SVC_NAME_MAX). */
static inline struct shmk_service *new_service(struct shmk_svc_config *c,
					       char *name)
{
	struct shmk_service *s = NULL;

	uniq_name(name, SHMK_SVC_NAME_MAX, "s");
	assert_int_equal(shmk_service_open(name, c, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &s), 0);
	assert_non_null(s);
	return s;
}

static inline void drop_service(struct shmk_service *s, const char *name)
{
	shmk_service_remove(name);
	shmk_service_close(s);
}

static inline void msg_on_alarm(int sig)
{
	(void)sig;
}

/*
 * Interrupt the caller's next sleep: SIGALRM every @ms milliseconds (one
 * that comes before the call sleeps is not lost: the next one comes),
 * until alarm_off().
 */
static inline void alarm_in(int ms)
{
	struct itimerval it = { .it_value = { 0, ms * 1000 },
				.it_interval = { 0, ms * 1000 } };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = msg_on_alarm;	/* no SA_RESTART */
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static inline void alarm_off(void)
{
	struct itimerval it = { { 0, 0 }, { 0, 0 } };

	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	signal(SIGALRM, SIG_DFL);
}

#endif /* SHMK_MSGUTIL_H */
