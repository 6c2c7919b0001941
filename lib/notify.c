// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk wait and wake: argument checks above the backends, the
 * monotonic-clock helpers the blocking queue operations use, and the one
 * spin-then-sleep policy every blocking call follows (Waiting, below).
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

static int word_offset(const struct shmk_region *r, const void *word,
		       uint64_t *off)
{
	uintptr_t a = (uintptr_t)word, b;

	if (!r || !word)
		return -EINVAL;
	b = (uintptr_t)r->base;
	if (a < b || a - b > r->size - 4 || (a & 3))
		return -EINVAL;
	*off = a - b;
	return 0;
}

SHMK_API int shmk_wait(const struct shmk_region *r, const void *word,
		       uint32_t expected, int64_t timeout_ns)
{
	uint64_t off;
	int ret = word_offset(r, word, &off);

	if (ret)
		return ret;
	return r->ops->wait(r, off, expected, timeout_ns);
}

SHMK_API int shmk_wake(const struct shmk_region *r, const void *word,
		       uint32_t count)
{
	uint64_t off;
	int ret = word_offset(r, word, &off);

	if (ret)
		return ret;
	return r->ops->wake(r, off, count);
}

int64_t shmk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A deadline for @timeout_ns from now; -1 (none) when it is negative.  A
 * timeout so long that now + @timeout_ns would overflow saturates at
 * INT64_MAX (292 years of CLOCK_MONOTONIC), instead of the signed
 * overflow, which is undefined behaviour (lib-audit #18).
 */
int64_t shmk_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return -1;
	now = shmk_now_ns();
	if (timeout_ns > INT64_MAX - now)
		return INT64_MAX;
	return now + timeout_ns;
}

/* Nanoseconds left until @deadline (0 when past); -1 when none. */
int64_t shmk_remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - shmk_now_ns();
	return left > 0 ? left : 0;
}

/*
 * Waiting.  A blocking call that finds nothing spins (tries, then a
 * PAUSE) for a budget of time before it sleeps, because a futex sleep and
 * wake costs microseconds and the awaited store often lands sooner.  The
 * process has one ceiling for that budget (SHMK_SPIN_NS at load, or
 * shmk_spin_ns()), 0 when only one CPU is usable: a spinner would then
 * only keep the CPU from the thread it waits for.  Below the ceiling,
 * each waiter learns its own budget (internal.h): a wait that the spin
 * satisfied keeps (or, one level at a time, regains) the budget; a wait
 * that had to sleep quarters it, so a receiver whose waits are long soon
 * sleeps at once, and then spends a full budget on one wait in
 * SHMK_SPIN_PROBE only, to notice that waits have become short again.
 *
 * The budget is time, read from CLOCK_MONOTONIC (the vDSO: no system
 * call) every spin_every tries, a count calibrated at load so that it
 * comes to about SPIN_LOOK_NS of PAUSEs on this CPU (PAUSE costs 10 to
 * 150 cycles depending on the model).
 *
 * The configuration is a few words set once at load (the constructor)
 * and read relaxed: a fork() child inherits them as they are, and they
 * stay true in it (same CPU, same affinity); nothing is locked.
 */
#define SPIN_LOOK_NS	250

static _Atomic int64_t spin_asked = -1;	/* shmk_spin_ns(), or -1: env */
static _Atomic int64_t spin_env;		/* SHMK_SPIN_NS or the default */
static _Atomic int spin_cpus;			/* usable at load; 0: not set up */
static _Atomic uint32_t spin_every = 1;

static int64_t spin_parse(const char *env)
{
	char *end;
	long long v;

	if (!env || !*env)
		return SHMK_SPIN_DEFAULT_NS;
	errno = 0;
	v = strtoll(env, &end, 10);
	if (errno || *end || v < 0 || v > SHMK_SPIN_MAX_NS)
		return SHMK_SPIN_DEFAULT_NS;
	return v;
}

/* Nanoseconds of @n PAUSEs, the least of two tries. */
static int64_t pause_cost(unsigned int n)
{
	int64_t best = INT64_MAX, t;
	unsigned int i, k;

	for (k = 0; k < 2; k++) {
		t = shmk_now_ns();
		for (i = 0; i < n; i++)
			shmk_cpu_relax();
		t = shmk_now_ns() - t;
		if (t < best)
			best = t;
	}
	return best;
}

int64_t shmk__spin_setup(int cpus, const char *env)
{
	int64_t c = pause_cost(32);
	uint32_t every = c > 0 ? (uint32_t)(SPIN_LOOK_NS * 32 / c) : 64;

	if (every < 1)
		every = 1;
	if (every > 4096)
		every = 4096;
	/* Relaxed, all: independent words, each valid alone (see above). */
	atomic_store_explicit(&spin_every, every, memory_order_relaxed);
	atomic_store_explicit(&spin_env, spin_parse(env), memory_order_relaxed);
	atomic_store_explicit(&spin_asked, -1, memory_order_relaxed);
	atomic_store_explicit(&spin_cpus, cpus < 1 ? 1 : cpus,
			      memory_order_relaxed);
	return shmk_spin_ns(-1);
}

uint32_t shmk__spin_every(void)
{
	/* Relaxed: a calibration constant. */
	return atomic_load_explicit(&spin_every, memory_order_relaxed);
}

/*
 * At load, before main() pins any thread: the CPUs the process may use
 * then (a thread pinned later to one CPU may well wait for one on
 * another).
 */
__attribute__((constructor)) static void spin_load(void)
{
	cpu_set_t set;
	int cpus = 2;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = CPU_COUNT(&set);
	shmk__spin_setup(cpus, getenv("SHMK_SPIN_NS"));
}

SHMK_API int64_t shmk_spin_ns(int64_t ns)
{
	int64_t prev;

	if (ns > SHMK_SPIN_MAX_NS)
		return -EINVAL;
	/*
	 * Relaxed, every access below: independent words, each valid
	 * alone; no other memory is published through them ("Waiting").
	 */
	if (atomic_load_explicit(&spin_cpus, memory_order_relaxed) == 0)
		spin_load();	/* called before our constructor ran */
	prev = atomic_load_explicit(&spin_asked, memory_order_relaxed);
	if (prev < 0)	/* Relaxed: as above. */
		prev = atomic_load_explicit(&spin_env, memory_order_relaxed);
	/* Relaxed: as above. */
	if (atomic_load_explicit(&spin_cpus, memory_order_relaxed) < 2)
		prev = 0;
	if (ns >= 0)	/* Relaxed: as above; the next wait reads it. */
		atomic_store_explicit(&spin_asked, ns, memory_order_relaxed);
	return prev;
}

void shmk_spin_begin(uint32_t *state, struct shmk_spin_run *run,
		     int64_t deadline)
{
	uint32_t level = *state & 0xff, waits = *state >> 8;
	int64_t ceil = shmk_spin_ns(-1), limit, now;

	run->n = 0;
	run->probe = 0;
	run->limit = 0;
	if (!ceil)
		return;
	if (level >= SHMK_SPIN_OFF) {
		waits = (waits + 1) & 0xffffff;
		*state = waits << 8 | level;
		if (waits % SHMK_SPIN_PROBE)
			return;
		run->probe = 1;
		limit = ceil;
	} else {
		limit = ceil >> (2 * level);
	}
	if (!limit)
		return;
	now = shmk_now_ns();
	if (deadline >= 0 && deadline <= now)
		return;		/* out of time already */
	/* Relaxed: a calibration constant. */
	run->every = atomic_load_explicit(&spin_every, memory_order_relaxed);
	run->until = deadline >= 0 && deadline < now + limit ? deadline :
		     now + limit;
	run->limit = (uint32_t)limit;
}

void shmk_spin_end(uint32_t *state, const struct shmk_spin_run *run, int won)
{
	uint32_t level = *state & 0xff, waits = *state >> 8;

	if (!run->limit)
		return;		/* no spin, nothing learnt */
	if (won)
		level = run->probe ? 0 : level ? level - 1 : 0;
	else if (level < SHMK_SPIN_OFF)
		level++;
	*state = waits << 8 | level;
}
