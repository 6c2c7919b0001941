// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-bench shm | mutex: region memory itself.
 *
 *   shm    raw writes (memset), raw reads (a sum over 64-bit words) and
 *          copies in and out of a region mapping, 1 KiB to 1 MiB, against
 *          memcpy between two private buffers.  Each sample times enough
 *          operations to last a few microseconds; ns are per operation.
 *   mutex  locks that live in a region: lock+unlock with no contention,
 *          and a cross-process round trip (a turn word guarded by the
 *          lock, handed to the other process and back), for a
 *          process-shared pthread mutex, a futex lock and a process-shared
 *          mutex + condition variable, against a lock-free cache-line
 *          ping-pong on the same turn word.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmk-bench.h"

#define MAX_BYTES	(1ULL << 20)

/* shm */

static unsigned char *src, *dst, *region_mem;
static volatile uint64_t sink;	/* keeps the read loop from being optimised away */

enum op { OP_MEMCPY, OP_WRITE, OP_READ, OP_COPY_IN, OP_COPY_OUT };

static const char *const op_names[] = {
	[OP_MEMCPY] = "memcpy private->private",
	[OP_WRITE] = "write region (memset)",
	[OP_READ] = "read region (sum)",
	[OP_COPY_IN] = "memcpy private->region",
	[OP_COPY_OUT] = "memcpy region->private",
};

static void do_op(enum op op, size_t len)
{
	const uint64_t *p;
	uint64_t sum = 0;
	size_t i;

	switch (op) {
	case OP_MEMCPY:
		memcpy(dst, src, len);
		break;
	case OP_WRITE:
		memset(region_mem, (int)(len & 0xff), len);
		break;
	case OP_READ:
		p = (const uint64_t *)region_mem;
		for (i = 0; i < len / 8; i++)
			sum += p[i];
		sink = sum;
		break;
	case OP_COPY_IN:
		memcpy(region_mem, src, len);
		break;
	case OP_COPY_OUT:
		memcpy(dst, region_mem, len);
		break;
	}
	/* The compiler must not drop or merge the copies. */
	__asm__ __volatile__("" : : "r"(dst), "r"(region_mem) : "memory");
}

int sb_shm(void)
{
	unsigned int nsamples = sb.quick ? 50 : 500, s;
	struct shmk_region *r = sb_region(4ULL << 20);
	double *samples = calloc(nsamples, sizeof(double));
	size_t k;
	int op;

	region_mem = shmk_region_base(r);
	if (posix_memalign((void **)&src, 4096, MAX_BYTES) ||
	    posix_memalign((void **)&dst, 4096, MAX_BYTES) || !samples) {
		fprintf(stderr, "shmk-bench: out of memory\n");
		return 1;
	}
	memset(src, 1, MAX_BYTES);
	memset(dst, 2, MAX_BYTES);
	memset(region_mem, 3, MAX_BYTES);	/* fault everything in first */
	sb_pin(sb.cpu[0]);
	printf("== shm: raw region memory vs private memcpy; backend %s; %u samples per figure\n",
	       sb_backend_name(), nsamples);
	for (k = 0; k < sb.nsizes; k++) {
		size_t len = sb.sizes[k];
		unsigned int reps = len >= 65536 ? 1 : (unsigned int)(65536 / len);

		if (len > MAX_BYTES)
			continue;	/* --sizes above 1 MiB are for pubsub */
		for (op = OP_MEMCPY; op <= OP_COPY_OUT; op++) {
			struct sb_result *res;
			unsigned int i;

			for (i = 0; i < reps * 4; i++)	/* warm the caches */
				do_op(op, len);
			for (s = 0; s < nsamples; s++) {
				uint64_t t0 = sb_now_ns();

				for (i = 0; i < reps; i++)
					do_op(op, len);
				samples[s] = (double)(sb_now_ns() - t0) / reps;
			}
			res = sb_add("shm", op_names[op], len, samples, nsamples);
			res->rate = (double)len / res->median;	/* bytes/ns = GB/s */
			res->rate_unit = "GB/s";
		}
	}
	sb_ratios("shm", op_names[OP_MEMCPY]);
	sb_print_table("shm", "ns per operation; ratio: median / private memcpy median at that size");
	free(samples);
	free(src);
	free(dst);
	shmk_region_close(r);
	return 0;
}

/* mutex */

/* The shared part, at the start of the region. */
struct lockzone {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	_Alignas(128) _Atomic uint32_t futex_lock;	/* 0 free, 1 locked, 2 contended */
	_Alignas(128) _Atomic uint32_t turn;
};

static struct lockzone *z;

/* A futex lock after Drepper, "Futexes Are Tricky", mutex #2. */
static void flock_lock(void)
{
	uint32_t c = 0;

	/* Acquire on success: the critical section stays after the lock. */
	if (atomic_compare_exchange_strong_explicit(&z->futex_lock, &c, 1,
			memory_order_acquire, memory_order_relaxed))
		return;
	if (c != 2)
		c = atomic_exchange_explicit(&z->futex_lock, 2, memory_order_acquire);
	while (c != 0) {
		syscall(SYS_futex, &z->futex_lock, FUTEX_WAIT, 2, NULL, NULL, 0);
		c = atomic_exchange_explicit(&z->futex_lock, 2, memory_order_acquire);
	}
}

static void flock_unlock(void)
{
	/* Release: the critical section's writes happen before the unlock. */
	if (atomic_fetch_sub_explicit(&z->futex_lock, 1, memory_order_release) != 1) {
		atomic_store_explicit(&z->futex_lock, 0, memory_order_release);
		syscall(SYS_futex, &z->futex_lock, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}

static void pm_lock(void)
{
	pthread_mutex_lock(&z->mutex);
}

static void pm_unlock(void)
{
	pthread_mutex_unlock(&z->mutex);
}

struct lockkind {
	const char *name;
	void (*lock)(void);
	void (*unlock)(void);
};

/*
 * The turn protocol: pass(me, other) waits until the turn is @me's and
 * gives it to @other; wait(me) only waits until it is @me's.
 */
enum style { SPIN, LOCKED, COND };

static void wait_turn(enum style st, const struct lockkind *k, uint32_t me,
		      int give, uint32_t other)
{
	switch (st) {
	case SPIN:
		/* Acquire: pairs with the release store of the other side. */
		while (atomic_load_explicit(&z->turn, memory_order_acquire) != me)
			sb_relax();
		if (give)
			atomic_store_explicit(&z->turn, other, memory_order_release);
		break;
	case LOCKED:
		k->lock();
		/* The lock orders these accesses: relaxed is enough inside it. */
		while (atomic_load_explicit(&z->turn, memory_order_relaxed) != me) {
			k->unlock();
			sb_relax();
			k->lock();
		}
		if (give)
			atomic_store_explicit(&z->turn, other, memory_order_relaxed);
		k->unlock();
		break;
	case COND:
		pthread_mutex_lock(&z->mutex);
		while (atomic_load_explicit(&z->turn, memory_order_relaxed) != me)
			pthread_cond_wait(&z->cond, &z->mutex);
		if (give) {
			atomic_store_explicit(&z->turn, other, memory_order_relaxed);
			pthread_cond_signal(&z->cond);
		}
		pthread_mutex_unlock(&z->mutex);
		break;
	}
}

/* Side 0 times each round trip: turn to side 1, and back to side 0. */
static int roundtrip(const char *name, enum style st, const struct lockkind *k,
		     unsigned int rounds, double *s)
{
	unsigned int total = rounds + sb.warmup, i;
	int status;
	pid_t pid;

	/* Seq_cst, before fork(): the child starts from turn 0. */
	atomic_store(&z->turn, 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		sb_pin(sb.cpu[1]);
		for (i = 0; i < total; i++)
			wait_turn(st, k, 1, 1, 0);
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		wait_turn(st, k, 0, 1, 1);	/* ours already: hand it over */
		wait_turn(st, k, 0, 0, 0);	/* and wait for it to come back */
		if (i >= sb.warmup)
			s[i - sb.warmup] = (double)(sb_now_ns() - t0);
	}
	waitpid(pid, &status, 0);
	sb_add("mutex", name, 0, s, rounds);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

int sb_mutex(void)
{
	static const struct lockkind kinds[] = {
		{ "pthread mutex (pshared)", pm_lock, pm_unlock },
		{ "futex lock", flock_lock, flock_unlock },
	};
	unsigned int rounds = sb.rounds, nsamples = sb.quick ? 50 : 500, s, i;
	pthread_mutex_t private_mutex = PTHREAD_MUTEX_INITIALIZER;
	struct shmk_region *r = sb_region(2ULL << 20);
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	double *samples;
	size_t k;

	z = shmk_region_base(r);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&z->mutex, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&z->cond, &ca);
	samples = calloc(rounds > nsamples ? rounds : nsamples, sizeof(double));
	if (!samples)
		return 1;
	printf("== mutex: locks in a region; backend %s\n", sb_backend_name());

	/* Uncontended: 1000 lock+unlock pairs per sample. */
	sb_pin(sb.cpu[0]);
	for (s = 0; s < nsamples; s++) {
		uint64_t t0 = sb_now_ns();

		for (i = 0; i < 1000; i++) {
			pthread_mutex_lock(&private_mutex);
			pthread_mutex_unlock(&private_mutex);
		}
		samples[s] = (double)(sb_now_ns() - t0) / 1000;
	}
	sb_add("mutex-uncontended", "pthread mutex (private)", 0, samples, nsamples);
	for (k = 0; k < 2; k++) {
		for (s = 0; s < nsamples; s++) {
			uint64_t t0 = sb_now_ns();

			for (i = 0; i < 1000; i++) {
				kinds[k].lock();
				kinds[k].unlock();
			}
			samples[s] = (double)(sb_now_ns() - t0) / 1000;
		}
		sb_add("mutex-uncontended", kinds[k].name, 0, samples, nsamples);
	}
	sb_ratios("mutex-uncontended", "pthread mutex (private)");
	sb_print_table("mutex-uncontended", "lock+unlock, one process, no contention (ns); ratio: / private pthread mutex");

	/* Round trips between two processes. */
	/* Spinning needs two CPUs; the condition variable sleeps. */
	if (sb.cpu[0] != sb.cpu[1] && roundtrip("shm+spin (no lock)", SPIN, NULL, rounds, samples))
		goto fail;
	for (k = 0; k < 2; k++)
		if (sb.cpu[0] != sb.cpu[1] &&
		    roundtrip(kinds[k].name, LOCKED, &kinds[k], rounds, samples))
			goto fail;
	if (roundtrip("pthread mutex+cond (pshared)", COND, NULL, rounds, samples))
		goto fail;
	sb_ratios("mutex", sb.cpu[0] != sb.cpu[1] ? "shm+spin (no lock)"
						   : "pthread mutex+cond (pshared)");
	sb_print_table("mutex", "cross-process round trip: turn handed over and back under the lock (ns)");
	free(samples);
	shmk_region_close(r);
	return 0;
fail:
	fprintf(stderr, "shmk-bench: mutex round trip failed\n");
	return 1;
}
