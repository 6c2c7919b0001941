// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Liveness from what the kernel knows, never from pids (lib-audit #5):
 * participants in different pid namespaces, a claimer held in its CLAIM
 * window while a recoverer in another pid namespace runs recovery, a
 * claimer or reclaimer that dies in its window (left a zombie, which a
 * pid test takes for alive), a late close that must not touch a newer
 * occupant (#15), and ports on a service handle whose name now holds
 * another service (#4).  White-box: it reads and pokes lib/svc.h state.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include "msgutil.h"
#include "../svc.h"

#ifndef ST_VMASK	/* lets this test build against older trees */
#define ST_VMASK 0x0fffffffU
#endif

/*
 * Handles a child leaves open on purpose (it "dies" with them): kept
 * reachable, so that valgrind's leak check in the child stays quiet.
 */
void *volatile kept[4];

/*
 * Run @fn(@arg) in a grandchild that lives in a new pid namespace (and a
 * new user namespace when unprivileged); its exit status, or 77 when no
 * pid namespace can be made here.
 */
static int in_pidns(int (*fn)(void *), void *arg)
{
	pid_t kid = fork();

	assert_true(kid >= 0);
	if (kid == 0) {
		pid_t g;

		if (unshare(CLONE_NEWUSER | CLONE_NEWPID) &&
		    unshare(CLONE_NEWPID))
			_exit(77);
		g = fork();
		if (g < 0)
			_exit(78);
		if (g == 0) {
			/* We are pid 1 of the new namespace. */
			CHILD_CHECK(getpid() == 1);
			_exit(fn(arg));
		}
		_exit(reap(g));
	}
	return reap(kid);
}

static struct shmk_svc_config small_pubsub(void)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);

	c.max_publishers = 2;
	c.max_subscribers = 2;
	c.buffer = 4;
	c.payload_max = 64;
	return c;
}

static uint32_t slot_state(struct shmk_service *s, uint32_t k)
{
	return atomic_load(&s->v.slots[k].state);
}

/* Recover once from another pid namespace; exit 0 when nothing was taken. */
static int ns_recover(void *arg)
{
	struct shmk_service *s;
	int n;

	if (shmk_service_open(arg, NULL, 0, &s))
		return 2;
	n = shmk_service_recover(s);
	shmk_service_close(s);
	return n == 0 ? 0 : 10 + n;
}

/*
 * Enter slot @k's CLAIM window as port_new() does (lock, then CAS),
 * through a file of our own, and stay there.  The state holds our pid,
 * as a pid-based library would write it.
 */
static struct shmk_region *hold_slot(struct shmk_service *s, uint32_t k,
				      uint32_t tag)
{
	struct shmk_region *r;
	uint32_t free_st = ST_FREE;

	assert_int_equal(shmk_region_open(s->rname, 0, &r), 0);
	kept[0] = r;
	assert_int_equal(ofd_lock(shmk_region_fd(r), slot_off(&s->v, k),
				  F_WRLCK, F_OFD_SETLK), 0);
	assert_true(atomic_compare_exchange_strong(&s->v.slots[k].state,
			&free_st, tag | ((uint32_t)getpid() & ST_VMASK)));
	return r;
}

/* The audit's t10: a live claimer in its window is not reclaimed. */
static void test_claim_window_other_pidns(void **state)
{
	struct shmk_svc_config c = small_pubsub();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_region *r;
	struct shmk_port *pub;
	uint32_t held;
	int ret;

	(void)state;
	s = new_service(&c, name);
	r = hold_slot(s, 0, ST_CLAIM);
	held = slot_state(s, 0);
	assert_int_equal(shmk_service_dead(s), 0);
	ret = in_pidns(ns_recover, name);
	if (ret == 77) {
		shmk_region_close(r);
		drop_service(s, name);
		skip();
	}
	assert_int_equal(ret, 0);
	assert_int_equal(slot_state(s, 0), held);
	/* Nor does a claim take it. */
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_port_slot(pub), 1);
	shmk_port_close(pub);
	assert_int_equal(slot_state(s, 0), held);
	/* The claimer leaves its window: the slot is claimable again. */
	atomic_store(&s->v.slots[0].state, ST_FREE);
	shmk_region_close(r);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_port_slot(pub), 0);
	shmk_port_close(pub);
	drop_service(s, name);
}

/*
 * A claimer (tag ST_CLAIM) or reclaimer (ST_RECLAIM, mid-sweep: it left
 * its bit on chunk 0) killed in its window is reclaimed, even while it is
 * still a zombie, which kill(pid, 0) reports alive.
 */
static void dies_in_window(uint32_t tag)
{
	struct shmk_svc_config c = small_pubsub();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	siginfo_t si;
	pid_t kid;

	s = new_service(&c, name);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		hold_slot(s, 0, tag);
		atomic_fetch_or(&s->v.holders[0], 1);
		raise(SIGKILL);
		_exit(1);
	}
	/* Dead, but not reaped: a zombie. */
	assert_int_equal(waitid(P_PID, (id_t)kid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(ST_TAG(slot_state(s, 0)), tag);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(slot_state(s, 0), ST_FREE);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	assert_int_equal(reap(kid), 128 + SIGKILL);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_port_slot(pub), 0);
	shmk_port_close(pub);
	drop_service(s, name);
}

static void test_claimer_dies_in_window(void **state)
{
	(void)state;
	dies_in_window(ST_CLAIM);
}

static void test_reclaimer_dies_mid_sweep(void **state)
{
	(void)state;
	dies_in_window(ST_RECLAIM);
}

/* The same, found by a claim instead of a recovery: taken over on the spot. */
static void test_claim_takes_over_dead_claimer(void **state)
{
	struct shmk_svc_config c = small_pubsub();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	pid_t kid;

	(void)state;
	c.max_publishers = 1;
	s = new_service(&c, name);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		hold_slot(s, 0, ST_CLAIM);
		raise(SIGKILL);
		_exit(1);
	}
	assert_int_equal(reap(kid), 128 + SIGKILL);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_port_slot(pub), 0);
	assert_int_equal(ST_TAG(slot_state(s, 0)), ST_ALIVE);
	shmk_port_close(pub);
	drop_service(s, name);
}

/* A publisher in another pid namespace: talks, dies, is reclaimed. */
static int ns_publisher(void *arg)
{
	struct shmk_service *s;
	struct shmk_port *pub;
	uint32_t i;

	if (shmk_service_open(arg, NULL, 0, &s))
		return 2;
	kept[1] = s;
	/* The host's live subscriber is not taken for dead from here. */
	if (shmk_service_recover(s) != 0)
		return 3;
	if (shmk_pub_open(s, &pub))
		return 4;
	kept[2] = pub;
	for (i = 0; i < 3; i++)
		if (shmk_pub_send_copy(pub, &i, sizeof(i), 0))
			return 5;
	/* Die without closing: the kernel drops our lock. */
	return 0;
}

static void test_participants_other_pidns(void **state)
{
	struct shmk_svc_config c = small_pubsub();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	uint32_t i, v;
	int ret;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	ret = in_pidns(ns_publisher, name);
	if (ret == 77) {
		shmk_port_close(sub);
		drop_service(s, name);
		skip();
	}
	assert_int_equal(ret, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		memcpy(&v, smp.data, sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
	}
	assert_int_equal(shmk_service_participants(s), 2);
	/* Dead, shown as dead until reclaimed. */
	assert_int_equal(shmk_service_dead(s), 1);
	assert_int_equal(shmk_service_recover(s), 1);
	assert_int_equal(shmk_service_participants(s), 1);
	assert_int_equal(shmk_service_dead(s), 0);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	/* And the other way round: our live subscriber stays ours. */
	assert_int_equal(in_pidns(ns_recover, name), 0);
	assert_int_equal(ST_TAG(slot_state(s, (uint32_t)shmk_port_slot(sub))),
			 ST_ALIVE);
	shmk_port_close(sub);
	drop_service(s, name);
}

/* #15: closing a port whose slot now holds a newer occupant leaves it be. */
static void test_close_spares_newer_occupant(void **state)
{
	struct shmk_svc_config c = small_pubsub();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;
	uint32_t k, newer;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	k = (uint32_t)shmk_port_slot(pub);
	newer = ST_ALIVE | ((ST_VAL(slot_state(s, k)) + 1) & ST_VMASK);
	atomic_store(&s->v.slots[k].state, newer);
	atomic_fetch_or(&s->v.holders[0], 1ULL << k);
	shmk_port_close(pub);
	assert_int_equal(slot_state(s, k), newer);
	/* Not swept either: the newer occupant's references stay. */
	assert_int_equal(shmk_service_chunks_used(s), 1);
	/* The old port's lock is gone with its file. */
	assert_int_equal(ofd_lock(shmk_region_fd(s->v.r), slot_off(&s->v, k),
				  F_WRLCK, F_OFD_GETLK), 0);
	atomic_store(&s->v.slots[k].state, ST_FREE);
	atomic_store(&s->v.holders[0], 0);
	drop_service(s, name);
}

/*
 * #4, the audit's t1 and t1b: a handle whose name was removed and created
 * again (as another kind, or with larger arrays): no port on the new
 * region with the old sizes (SIGFPE, heap overflow), but -ESTALE.
 */
static void test_port_on_replaced_service(void **state)
{
	struct shmk_svc_config c = small_pubsub(), e = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *old, *s;
	struct shmk_port *p = NULL;

	(void)state;
	old = new_service(&c, name);
	assert_int_equal(shmk_service_remove(name), 0);
	assert_int_equal(shmk_service_open(name, &e, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &s), 0);
	assert_int_equal(shmk_pub_open(old, &p), -ESTALE);
	assert_null(p);
	assert_int_equal(shmk_service_participants(s), 0);
	assert_int_equal(shmk_service_remove(name), 0);
	shmk_service_close(s);
	/* t1b: same kind, larger max_borrow. */
	c.max_borrow = 64;
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &s), 0);
	assert_int_equal(shmk_sub_open(old, &p), -ESTALE);
	assert_int_equal(shmk_pub_open(old, &p), -ESTALE);
	assert_int_equal(shmk_service_participants(s), 0);
	/* A fresh handle works. */
	assert_int_equal(shmk_sub_open(s, &p), 0);
	shmk_port_close(p);
	drop_service(s, name);
	shmk_service_close(old);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_window_other_pidns),
		cmocka_unit_test(test_claimer_dies_in_window),
		cmocka_unit_test(test_reclaimer_dies_mid_sweep),
		cmocka_unit_test(test_claim_takes_over_dead_claimer),
		cmocka_unit_test(test_participants_other_pidns),
		cmocka_unit_test(test_close_spares_newer_occupant),
		cmocka_unit_test(test_port_on_replaced_service),
	};

	/* An argument: run only the tests whose names match it. */
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
