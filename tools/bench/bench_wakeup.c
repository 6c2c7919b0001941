// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_wakeup: cross-process wakeup round trips, shmk WAIT/WAKE against
 * the usual alternatives, measured in the same run:
 *
 *   shmk    SHMK_IOC_WAIT/WAKE on a word of a shmk region
 *   futex   FUTEX_WAIT/WAKE (shared) on a word of the same region
 *   eventfd two eventfds, read/write
 *   pipe    two pipes, one byte each way
 *
 * Two processes hand a turn back and forth; each round trip is timed on
 * the initiating side.  Prints median, p90, p99 and the ratio of each
 * transport to futex.  A benchmark, not a test: it never fails on speed.
 *
 * usage: bench_wakeup [-n ROUND_TRIPS] [-w WARMUP]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/shmk.h>

#define REGION (2ULL << 20)

struct result {
	const char *name;
	double median, p90, p99;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *s, size_t n, double p)
{
	return s[(size_t)(p * (n - 1) + 0.5)];
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* A transport: signal(side) wakes that side; wait(side) is its sleep. */
struct ops {
	const char *name;
	void (*signal)(int side, uint32_t val);
	void (*wait)(int side, uint32_t val);
};

static _Atomic uint32_t *turn;	/* in the shmk region */
static int region_fd;
static int efd[2], pfd[2][2];

static void shmk_signal(int side, uint32_t val)
{
	struct shmk_wake k = { .size = sizeof(k), .count = 1,
			       .bitset = SHMK_BITSET_ANY };

	/* Release: pairs with the acquire load in shmk_wait_turn(). */
	atomic_store_explicit(turn, val, memory_order_release);
	ioctl(region_fd, SHMK_IOC_WAKE, &k);
}

/* Sleep until the turn is @val. */
static void shmk_wait_turn(int side, uint32_t val)
{
	struct shmk_wait w = { .size = sizeof(w), .bitset = SHMK_BITSET_ANY };
	uint32_t cur;

	while ((cur = atomic_load_explicit(turn, memory_order_acquire)) != val) {
		w.expected = cur;
		ioctl(region_fd, SHMK_IOC_WAIT, &w);
	}
}

static void futex_signal(int side, uint32_t val)
{
	/* Release: pairs with the acquire load in futex_wait_turn(). */
	atomic_store_explicit(turn, val, memory_order_release);
	syscall(SYS_futex, turn, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void futex_wait_turn(int side, uint32_t val)
{
	uint32_t cur;

	while ((cur = atomic_load_explicit(turn, memory_order_acquire)) != val)
		syscall(SYS_futex, turn, FUTEX_WAIT, cur, NULL, NULL, 0);
}

static void eventfd_signal(int side, uint32_t val)
{
	uint64_t one = 1;

	if (write(efd[side], &one, sizeof(one)) != sizeof(one))
		abort();
}

static void eventfd_wait(int side, uint32_t val)
{
	uint64_t v;

	if (read(efd[side], &v, sizeof(v)) != sizeof(v))
		abort();
}

static void pipe_signal(int side, uint32_t val)
{
	if (write(pfd[side][1], "x", 1) != 1)
		abort();
}

static void pipe_wait(int side, uint32_t val)
{
	char c;

	if (read(pfd[side][0], &c, 1) != 1)
		abort();
}

static const struct ops transports[] = {
	{ "futex", futex_signal, futex_wait_turn },
	{ "shmk", shmk_signal, shmk_wait_turn },
	{ "eventfd", eventfd_signal, eventfd_wait },
	{ "pipe", pipe_signal, pipe_wait },
};

/*
 * Side 0 times @n round trips after @warm untimed ones: signal side 1
 * (turn 1), wait for the answer (turn 0).  Side 1 answers each.
 */
static int run(const struct ops *o, size_t n, size_t warm, struct result *r)
{
	uint64_t *s = calloc(n, sizeof(*s));
	size_t i, total = n + warm;
	int status;
	pid_t pid;

	if (!s)
		return -1;
	atomic_store(turn, 0);
	pid = fork();
	if (pid == 0) {
		pin(1);
		for (i = 0; i < total; i++) {
			o->wait(1, 1);
			o->signal(0, 0);
		}
		_exit(0);
	}
	pin(0);
	for (i = 0; i < total; i++) {
		uint64_t t0 = now_ns();

		o->signal(1, 1);
		o->wait(0, 0);
		if (i >= warm)
			s[i - warm] = now_ns() - t0;
	}
	waitpid(pid, &status, 0);
	qsort(s, n, sizeof(*s), cmp_u64);
	r->name = o->name;
	r->median = pct(s, n, 0.5);
	r->p90 = pct(s, n, 0.9);
	r->p99 = pct(s, n, 0.99);
	free(s);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct shmk_create c = { .size = sizeof(c), .bytes = REGION,
				 .mode = 0600 };
	struct result res[4];
	size_t n = 20000, warm = 2000, i;
	int opt, dev;

	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		if (opt == 'n')
			n = strtoul(optarg, NULL, 0);
		else if (opt == 'w')
			warm = strtoul(optarg, NULL, 0);
		else {
			fprintf(stderr, "usage: %s [-n ROUND_TRIPS] [-w WARMUP]\n", argv[0]);
			return 2;
		}
	}
	if (!n) {
		fprintf(stderr, "bench_wakeup: -n must be at least 1\n");
		return 2;
	}
	dev = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror(SHMK_DEVICE_PATH);
		return 1;
	}
	snprintf(c.name, sizeof(c.name), "bench-wakeup-%d", getpid());
	region_fd = ioctl(dev, SHMK_IOC_CREATE, &c);
	if (region_fd < 0) {
		perror("SHMK_IOC_CREATE");
		return 1;
	}
	turn = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, region_fd, 0);
	if (turn == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	efd[0] = eventfd(0, 0);
	efd[1] = eventfd(0, 0);
	if (efd[0] < 0 || efd[1] < 0 || pipe(pfd[0]) || pipe(pfd[1])) {
		perror("eventfd/pipe");
		return 1;
	}

	printf("wakeup round trips between two processes, %zu timed (+%zu warm-up) each, %ld CPUs\n",
	       n, warm, sysconf(_SC_NPROCESSORS_ONLN));
	for (i = 0; i < 4; i++) {
		fprintf(stderr, "  running %s ...\n", transports[i].name);
		if (run(&transports[i], n, warm, &res[i])) {
			fprintf(stderr, "bench_wakeup: %s run failed\n",
				transports[i].name);
			return 1;
		}
	}
	printf("%-8s %12s %12s %12s %10s %10s\n", "", "median ns", "p90 ns",
	       "p99 ns", "median/fx", "p99/fx");
	for (i = 0; i < 4; i++)
		printf("%-8s %12.0f %12.0f %12.0f %9.2fx %9.2fx\n",
		       res[i].name, res[i].median, res[i].p90, res[i].p99,
		       res[i].median / res[0].median, res[i].p99 / res[0].p99);
	printf("shmk WAIT/WAKE vs raw futex: %.2fx median, %.2fx p99 (target: within 1.2x)\n",
	       res[1].median / res[0].median, res[1].p99 / res[0].p99);
	return 0;
}
