// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-bench wait: what a blocking call costs (issue 12, "Waiting" in
 * Documentation/library.rst).  Measured in one run, against baselines of
 * the same run:
 *  - a blocking ping-pong (publish-subscribe and SPSC, the receives
 *    blocking, the spin at its default) against the same ping-pong
 *    busy-polling: goal at most 2.0x;
 *  - the wake path: the same blocking ping-pong with spinning off
 *    (shmk_spin_ns(0)), so that every message is a sleep and a wake,
 *    against a raw futex ping-pong (shm+futex): goal at most 1.05x;
 *  - the CPU a blocked receiver uses (getrusage(RUSAGE_THREAD)): idle for
 *    a second, and woken every 2 ms; goal: near zero.
 * Round trips between two processes pinned to the two CPUs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/service.h>

#include "shmk-bench.h"

#define GROUP		"wait"
#define F_SPIN		"cache-line floor"
#define F_FUTEX		"futex floor"
#define F_FUTEX2	"futex floor, again"
#define PS_BUSY		"pubsub busy-poll"
#define PS_BLOCK	"pubsub blocking"
#define PS_NOSPIN	"pubsub blocking, no spin"
#define Q_BUSY		"spsc busy-poll"
#define Q_BLOCK		"spsc blocking"
#define Q_NOSPIN	"spsc blocking, no spin"

/* One ping-pong: side 0 pings and times, side 1 echoes. */
struct pp {
	const char *group;		/* NULL: GROUP */
	const char *label;
	int64_t timeout;		/* receives: 0 busy-poll, else blocking */
	int spsc;
	/* pubsub */
	struct shmk_service *svc[2];	/* ping (0 -> 1), pong (1 -> 0) */
	char name[2][SHMK_SVC_NAME_MAX];
	struct shmk_port *pub, *sub;
	/* spsc */
	struct shmk_region *r;
	struct shmk_spsc q[2];		/* 0 -> 1, 1 -> 0 */
};

static int ps_send(struct shmk_port *p, uint64_t v)
{
	return shmk_pub_send_copy(p, &v, sizeof(v), 0);
}

static int ps_recv(struct shmk_port *p, int64_t timeout)
{
	struct shmk_sample smp;
	int ret;

	while ((ret = shmk_sub_receive(p, &smp, timeout)) == -EAGAIN)
		sb_relax();
	return ret ? ret : shmk_sub_release(p, &smp);
}

static int q_send(struct shmk_spsc *q, uint64_t v)
{
	int ret;

	while ((ret = shmk_spsc_push_burst(q, &v, 1)) == 0)
		sb_relax();
	return ret < 0 ? ret : 0;
}

static int q_recv(struct shmk_spsc *q, int64_t timeout)
{
	uint64_t v;
	int ret;

	if (timeout)
		ret = shmk_spsc_pop_wait(q, &v, 1, timeout);
	else
		while ((ret = shmk_spsc_pop_burst(q, &v, 1)) == 0)
			sb_relax();
	return ret < 0 ? ret : 0;
}

/* Side @side's ports (pubsub: opened in the process that uses them). */
static int pp_open(struct pp *pp, int side)
{
	if (pp->spsc)
		return 0;
	if (shmk_sub_open(pp->svc[side], &pp->sub) ||
	    shmk_pub_open(pp->svc[!side], &pp->pub))
		return -1;
	return 0;
}

static void pp_close(struct pp *pp)
{
	shmk_port_close(pp->sub);
	shmk_port_close(pp->pub);
	pp->sub = pp->pub = NULL;
}

static int pp_send(struct pp *pp, int side, uint64_t v)
{
	return pp->spsc ? q_send(&pp->q[side], v) : ps_send(pp->pub, v);
}

static int pp_recv(struct pp *pp, int side)
{
	return pp->spsc ? q_recv(&pp->q[!side], pp->timeout) :
			  ps_recv(pp->sub, pp->timeout);
}

static int pp_setup(struct pp *pp)
{
	struct shmk_svc_config c = {
		.size = sizeof(c), .kind = SHMK_SVC_PUBSUB, .payload_max = 8,
		.max_publishers = 1, .max_subscribers = 1, .buffer = 2,
		.max_loans = 1, .max_borrow = 1,
	};
	int k, ret;

	if (pp->spsc) {
		for (k = 0; k < 2; k++)
			if (shmk_spsc_init(&pp->q[k], pp->r, (uint64_t)k << 20, 8,
					   1024, SHMK_QUEUE_NOTIFY))
				return -1;
		return 0;
	}
	for (k = 0; k < 2; k++) {
		snprintf(pp->name[k], sizeof(pp->name[k]), "shmk-bench.%d.wait%d",
			 (int)getpid(), k);
		ret = shmk_service_open(pp->name[k], &c,
					SHMK_SVC_CREATE | SHMK_SVC_EXCL, &pp->svc[k]);
		if (ret) {
			fprintf(stderr, "shmk-bench: service %s: %s\n", pp->name[k],
				strerror(-ret));
			return -1;
		}
	}
	return 0;
}

static void pp_teardown(struct pp *pp)
{
	int k;

	for (k = 0; k < 2 && !pp->spsc; k++) {
		if (!pp->svc[k])
			continue;
		shmk_service_remove(pp->name[k]);
		shmk_service_close(pp->svc[k]);
		pp->svc[k] = NULL;
	}
}

/* Time sb.rounds round trips of @pp, with the spin ceiling @spin_ns. */
static int pp_run(struct pp *pp, int64_t spin_ns)
{
	unsigned int total = sb.rounds + sb.warmup, i;
	int64_t spin = shmk_spin_ns(spin_ns);
	int ready[2], failed = 1, status;
	double *s = calloc(sb.rounds, sizeof(double));
	pid_t pid = -1;
	char c;

	if (!s || pp_setup(pp) || pipe(ready))
		goto out;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		goto out_pipe;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sb_pin(sb.cpu[1]);
		if (pp_open(pp, 1) || write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < total; i++)
			if (pp_recv(pp, 1) || pp_send(pp, 1, i))
				_exit(1);
		/* The last pong must reach side 0 before the port goes. */
		if (!pp->spsc && shmk_pub_drain(pp->pub, 1000000000LL))
			_exit(1);
		pp_close(pp);
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	if (pp_open(pp, 0) || read(ready[0], &c, 1) != 1)
		goto out_child;
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		if (pp_send(pp, 0, i) || pp_recv(pp, 0)) {
			fprintf(stderr, "shmk-bench: %s failed\n", pp->label);
			goto out_child;
		}
		if (i >= sb.warmup)
			s[i - sb.warmup] = (double)(sb_now_ns() - t0);
	}
	failed = 0;
out_child:
	if (failed)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		failed = 1;
	if (!failed)
		sb_add(pp->group ? pp->group : GROUP, pp->label, 0, s,
		       sb.rounds);
out_pipe:
	close(ready[0]);
	close(ready[1]);
out:
	pp_close(pp);
	pp_teardown(pp);
	free(s);
	shmk_spin_ns(spin);
	return failed ? -1 : 0;
}

/* CPU time of the calling thread, ns. */
static int64_t thread_cpu_ns(void)
{
	struct rusage u;

	if (getrusage(RUSAGE_THREAD, &u))
		return 0;
	return ((int64_t)u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000;
}

struct ticker {
	struct shmk_port *pub;
	int64_t period_ns;
	unsigned int n;
};

static void *ticker_run(void *arg)
{
	struct ticker *t = arg;
	struct timespec ts = { 0, t->period_ns };
	unsigned int i;

	sb_pin(sb.cpu[1]);
	for (i = 0; i < t->n; i++) {
		nanosleep(&ts, NULL);
		if (ps_send(t->pub, i))
			break;
	}
	return NULL;
}

/*
 * A blocked receiver's CPU use over @n messages @period_ns apart (@n 0:
 * one receive that times out after a second): percent of one CPU.
 */
static double idle_cpu(int64_t period_ns, unsigned int n, int64_t *wall)
{
	struct shmk_svc_config c = {
		.size = sizeof(c), .kind = SHMK_SVC_PUBSUB, .payload_max = 8,
		.max_publishers = 1, .max_subscribers = 1, .buffer = 4,
	};
	struct ticker t = { NULL, period_ns, n };
	struct shmk_service *s = NULL;
	struct shmk_port *sub = NULL;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_sample smp;
	int64_t cpu = -1, t0 = 0;
	pthread_t th;
	unsigned int i;

	snprintf(name, sizeof(name), "shmk-bench.%d.idle", (int)getpid());
	if (shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s) ||
	    shmk_sub_open(s, &sub) || shmk_pub_open(s, &t.pub))
		goto out;
	sb_pin(sb.cpu[0]);
	if (n && pthread_create(&th, NULL, ticker_run, &t))
		goto out;
	t0 = sb_now_ns();
	cpu = thread_cpu_ns();
	if (!n) {
		shmk_sub_receive(sub, &smp, 1000000000LL);
	} else {
		for (i = 0; i < n; i++) {
			if (shmk_sub_receive(sub, &smp, 1000000000LL))
				break;
			shmk_sub_release(sub, &smp);
		}
	}
	cpu = thread_cpu_ns() - cpu;
	*wall = (int64_t)(sb_now_ns() - (uint64_t)t0);
	if (n)
		pthread_join(th, NULL);
out:
	shmk_port_close(t.pub);
	shmk_port_close(sub);
	if (s) {
		shmk_service_remove(name);
		shmk_service_close(s);
	}
	return cpu < 0 || *wall <= 0 ? -1 : 100.0 * (double)cpu / (double)*wall;
}

static double median_of(const char *name)
{
	size_t n, i;
	struct sb_result *r = sb_results(&n);

	for (i = 0; i < n; i++)
		if (!strcmp(r[i].group, GROUP) && !strcmp(r[i].name, name))
			return r[i].median;
	return 0;
}

/* One goal line: @what = @a / @b (medians of this run), beside its goal. */
static void goal(const char *what, const char *a, const char *b, double max)
{
	double x = median_of(a), y = median_of(b);

	/* Also in the run's summary of goals (shmk-bench.c). */
	sb_goal(what, x > 0 && y > 0 ? x / y : 0, b, max);
}

/*
 * The wake-path goals, measured in pairs: a block of raw futex round
 * trips, then the same number through pub-sub and through SPSC with the
 * spin off, several times over; each subject's ratio to the floor of
 * its own pair, and the median of those ratios.  A futex round trip
 * moves by a tenth from one second to the next on a VM (20 to 23 us
 * here), more than the 5 % the goal allows, so only a floor taken next
 * to its subject scales it (as the 8-byte goal's pairs, shmk-bench-msg.c).
 * @ps and @q: the median ratios; 0 on failure.
 */
static void wake_pairs(double *ps, double *q)
{
	unsigned int pairs = sb.quick ? 5 : 9, k, rounds = sb.rounds,
		     warm = sb.warmup;
	double rp[16], rq[16], fl;
	struct pp pp;

	*ps = *q = 0;
	sb.rounds = sb.quick ? 500 : 2000;
	sb.warmup = sb.rounds / 10;
	fprintf(stderr, "  wait: %u pairs of raw futex and the wake paths ...\n",
		pairs);
	for (k = 0; k < pairs; k++) {
		if (sb_ipc_roundtrip(GROUP " pairs", F_FUTEX, "shm+futex", 0, 0) < 0)
			break;
		fl = sb_last_median();
		memset(&pp, 0, sizeof(pp));
		pp.group = GROUP " pairs";
		pp.label = PS_NOSPIN;
		pp.timeout = SHMK_FOREVER;
		if (pp_run(&pp, 0))
			break;
		rp[k] = fl > 0 ? sb_last_median() / fl : 0;
		pp.spsc = 1;
		pp.r = sb_region(4 << 20);
		pp.label = Q_NOSPIN;
		if (pp_run(&pp, 0)) {
			shmk_region_close(pp.r);
			break;
		}
		shmk_region_close(pp.r);
		rq[k] = fl > 0 ? sb_last_median() / fl : 0;
	}
	sb.rounds = rounds;
	sb.warmup = warm;
	if (k < pairs)
		return;
	qsort(rp, pairs, sizeof(rp[0]), sb_cmp_double);
	qsort(rq, pairs, sizeof(rq[0]), sb_cmp_double);
	printf("wake path / raw futex, in %u pairs measured side by side: "
	       "pubsub %.2fx to %.2fx, median %.2fx; spsc %.2fx to %.2fx, median %.2fx\n",
	       pairs, rp[0], rp[pairs - 1], rp[pairs / 2], rq[0],
	       rq[pairs - 1], rq[pairs / 2]);
	*ps = rp[pairs / 2];
	*q = rq[pairs / 2];
}

int sb_wait(void)
{
	double wps, wq, fl;
	struct pp pp;
	double idle, tick;
	int64_t wall_idle = 0, wall_tick = 0, spin = shmk_spin_ns(-1);

	if (sb.cpu[0] == sb.cpu[1]) {
		printf("== wait: skipped (a ping-pong between two CPUs needs two)\n");
		return 0;
	}
	printf("== wait: blocking receives vs busy-poll and raw futex; backend %s; "
	       "spin ceiling %lld ns (SHMK_SPIN_NS)\n", sb_backend_name(),
	       (long long)spin);
	if (sb_ipc_roundtrip(GROUP, F_SPIN, "shm+spin", 0, 0) < 0 ||
	    sb_ipc_roundtrip(GROUP, F_FUTEX, "shm+futex", 0, 0) < 0)
		return 1;
	memset(&pp, 0, sizeof(pp));
	pp.label = PS_BUSY;
	pp_run(&pp, spin);
	pp.label = PS_BLOCK;
	pp.timeout = SHMK_FOREVER;
	pp_run(&pp, spin);
	pp.label = PS_NOSPIN;
	pp_run(&pp, 0);
	memset(&pp, 0, sizeof(pp));
	pp.spsc = 1;
	pp.r = sb_region(4 << 20);
	pp.label = Q_BUSY;
	pp_run(&pp, spin);
	pp.label = Q_BLOCK;
	pp.timeout = SHMK_FOREVER;
	pp_run(&pp, spin);
	pp.label = Q_NOSPIN;
	pp_run(&pp, 0);
	shmk_region_close(pp.r);
	if (sb_ipc_roundtrip(GROUP, F_FUTEX2, "shm+futex", 0, 0) < 0)
		return 1;
	sb_ratios(GROUP, F_FUTEX);
	sb_print_table(GROUP, "round trip (ns); ratio: median / futex floor median");
	printf("goals (issue 12), medians of this run:\n");
	goal("pubsub blocking / pubsub busy-poll", PS_BLOCK, PS_BUSY, 2.0);
	goal("spsc blocking / spsc busy-poll", Q_BLOCK, Q_BUSY, 2.0);
	fl = (median_of(F_FUTEX) + median_of(F_FUTEX2)) / 2;
	if (fl > 0)
		printf("  (the table's wake paths / the mean of its two futex "
		       "floors: pubsub %.2fx, spsc %.2fx)\n",
		       median_of(PS_NOSPIN) / fl, median_of(Q_NOSPIN) / fl);
	wake_pairs(&wps, &wq);
	sb_goal("pubsub wake path (no spin) / raw futex", wps,
		"futex floor (median of pairs)", 1.05);
	sb_goal("spsc wake path (no spin) / raw futex", wq,
		"futex floor (median of pairs)", 1.05);
	idle = idle_cpu(0, 0, &wall_idle);
	tick = idle_cpu(2000000, sb.quick ? 100 : 500, &wall_tick);
	printf("  %-44s %6.3f%% of a CPU over %.2f s (goal: near zero)\n",
	       "idle blocked receiver", idle, (double)wall_idle / 1e9);
	printf("  %-44s %6.3f%% of a CPU over %.2f s (busy-poll: 100%%)\n",
	       "receiver woken every 2 ms", tick, (double)wall_tick / 1e9);
	return 0;
}
