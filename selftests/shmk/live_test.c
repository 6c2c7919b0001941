// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk liveness and wake-ups on the device backend, in the QEMU guest
 * with shmk.ko: a death is announced (the module's notice moves the
 * service's death counter), so a publisher blocked on a consumer that is
 * killed gets out at once, with no polling slice; a killed participant is
 * shown dead until it is reclaimed; a port on a handle whose name now
 * holds another service is -ESTALE; and with the module's conditional
 * notice, a late release cannot mark a newer occupant of the slot dead
 * (lib-audit #15).
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

#define LIB_UTIL_PREFIX "live"
#include "lib_util.h"

/* White-box, for the late-release test: the slot states of lib/svc.h. */
#include "../../lib/svc.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A subscriber that never reads, in a child; returns its pid when ready. */
static pid_t lazy_subscriber(const char *name)
{
	int pfd[2];
	char ch;
	pid_t kid;

	if (pipe(pfd))
		return -1;
	kid = fork();
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *sub;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_sub_open(cs, &sub) == 0);
		CHILD_CHECK(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	if (kid > 0 && read(pfd[0], &ch, 1) != 1)
		kid = -1;
	close(pfd[0]);
	close(pfd[1]);
	return kid;
}

/*
 * A publisher blocked forever on a full consumer that is then killed: the
 * module's notice wakes it (WAITV on its wake word and the death counter).
 */
TEST(blocked_publisher_woken_by_death)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	int64_t t0, dt;
	pid_t sub, killer;
	uint32_t v = 1;

	NEED_DEVICE();
	uniq(name, sizeof(name), "bp");
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.buffer = 1;
	c.overflow = SHMK_OVERFLOW_BLOCK;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ASSERT_EQ(0, shmk_pub_open(s, &pub));
	sub = lazy_subscriber(name);
	ASSERT_LT(0, sub);
	ASSERT_EQ(0, shmk_pub_send_copy(pub, &v, sizeof(v), 0));
	EXPECT_EQ(-EAGAIN, shmk_pub_send_copy(pub, &v, sizeof(v), 0));
	killer = fork();
	ASSERT_LE(0, killer);
	if (killer == 0) {
		usleep(200000);
		kill(sub, SIGKILL);
		_exit(0);
	}
	alarm(20);	/* never woken: the test fails here */
	t0 = now_ns();
	EXPECT_EQ(0, shmk_pub_send_copy(pub, &v, sizeof(v), SHMK_FOREVER));
	dt = now_ns() - t0;
	alarm(0);
	TH_LOG("woken %lld us after the wait began (kill at 200000 us)",
	       (long long)(dt / 1000));
	EXPECT_LT(dt, 2000000000LL);
	ASSERT_EQ(0, reap(killer));
	ASSERT_EQ(128 + SIGKILL, reap(sub));
	shmk_port_close(pub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

/* A killed participant is dead (the module's DEAD) until reclaimed. */
TEST(dead_until_reclaimed)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	pid_t sub;

	NEED_DEVICE();
	uniq(name, sizeof(name), "dd");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	sub = lazy_subscriber(name);
	ASSERT_LT(0, sub);
	EXPECT_EQ(0, shmk_service_dead(s));
	kill(sub, SIGKILL);
	ASSERT_EQ(128 + SIGKILL, reap(sub));
	EXPECT_EQ(1, shmk_service_participants(s));
	EXPECT_EQ(1, shmk_service_dead(s));
	EXPECT_EQ(1, shmk_service_recover(s));
	EXPECT_EQ(0, shmk_service_dead(s));
	EXPECT_EQ(0, shmk_service_participants(s));
	shmk_service_remove(name);
	shmk_service_close(s);
}

/* lib-audit #4 on the device: the name now holds another region. */
TEST(port_on_replaced_service)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_svc_config e = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *old, *s;
	struct shmk_port *p;

	NEED_DEVICE();
	uniq(name, sizeof(name), "rp");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &old));
	ASSERT_EQ(0, shmk_service_remove(name));
	ASSERT_EQ(0, shmk_service_open(name, &e, SHMK_SVC_CREATE, &s));
	EXPECT_EQ(-ESTALE, shmk_pub_open(old, &p));
	EXPECT_EQ(0, shmk_service_participants(s));
	shmk_service_remove(name);
	shmk_service_close(s);
	shmk_service_close(old);
}

/*
 * #15: a port's file released after its slot has passed to a newer
 * generation (as when a fork() child kept the file): the conditional
 * notice matches only the port's own generation, so the newer occupant
 * is left alone.  Skipped with a module that lacks the conditional notice
 * (then the library's fallback never lets a plain notice outlive FREE).
 */
TEST(late_release_spares_newer_occupant)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	_Atomic uint32_t *st;
	uint32_t newer;
	int pfd[2], ret;
	char ch;
	pid_t kid;

	NEED_DEVICE();
	uniq(name, sizeof(name), "lr");
	c.max_publishers = 1;
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE, &s));
	ret = shmk__on_release_cmpxchg(s->v.r, &s->v.sh->deaths, 0, 1, 0,
				       &s->v.sh->deaths);
	shmk_region_on_release(s->v.r, NULL, 0, NULL);
	if (ret == -EOPNOTSUPP) {
		shmk_service_remove(name);
		shmk_service_close(s);
		SKIP(return, "the module has no conditional death notice");
	}
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, pipe(pfd));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *pub;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_pub_open(cs, &pub) == 0);
		CHILD_CHECK(write(pfd[1], "r", 1) == 1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(pfd[0], &ch, 1));
	st = &s->v.slots[0].state;	/* the only publisher slot */
	ASSERT_EQ(ST_ALIVE, ST_TAG(atomic_load(st)));
	/* The slot now belongs to a newer generation. */
	newer = ST_ALIVE | ((ST_VAL(atomic_load(st)) + 1) & ST_VMASK);
	atomic_store(st, newer);
	kill(kid, SIGKILL);
	ASSERT_EQ(128 + SIGKILL, reap(kid));
	EXPECT_EQ(newer, atomic_load(st));
	EXPECT_EQ(0, shmk_service_dead(s));
	atomic_store(st, ST_FREE);
	close(pfd[0]);
	close(pfd[1]);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST_HARNESS_MAIN
