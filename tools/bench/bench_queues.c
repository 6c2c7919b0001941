// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_queues: libshmk queue latency and throughput, against a
 * cache-line ping-pong baseline measured in the same run.
 *
 *   bench_queues [-n SAMPLES] [-i ROUNDTRIPS_PER_SAMPLE] [-m MILLION_ITEMS]
 *                [-r RUNS] [-c CPU0,CPU1]
 *
 * Latency: two threads pinned to two CPUs bounce a value back and forth;
 * one-way latency is half a round trip.  Each sample is the mean of -i
 * round trips; medians and percentiles are over the samples.
 * Throughput: a producer thread pushes -m million 8-byte items to a
 * consumer thread, in bursts; the median of -r runs is printed.
 * A program, not a test: nothing here passes or fails.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

static int cpu_a = 0, cpu_b = 1;
static unsigned int nsamples = 200, per_sample = 2000, runs = 5;
static uint64_t items = 20000000;

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, unsigned int n, double p)
{
	unsigned int i = (unsigned int)(p / 100.0 * (n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

/* A ping-pong: side(0) is the timed initiator, side(1) the echo. */
struct pingpong {
	const char *name;
	void (*init)(struct pingpong *pp);
	void (*ping)(struct pingpong *pp, uint64_t v);	/* send, wait reply */
	void (*echo)(struct pingpong *pp, uint64_t v);	/* wait, reply */
	struct shmk_region *r;
	struct shmk_spsc ab, ba;
	struct shmk_mpmc mab, mba;
	uint32_t qflags;
	double *samples;
};

/* Baseline: one cache line, written alternately by the two threads. */
static struct {
	_Alignas(128) _Atomic uint64_t word;
	char pad[120];
} line;

static void cl_init(struct pingpong *pp)
{
	(void)pp;
	atomic_store(&line.word, 0);
}

static void cl_ping(struct pingpong *pp, uint64_t v)
{
	(void)pp;
	atomic_store_explicit(&line.word, 2 * v + 1, memory_order_release);
	while (atomic_load_explicit(&line.word, memory_order_acquire) != 2 * v + 2)
		relax();
}

static void cl_echo(struct pingpong *pp, uint64_t v)
{
	(void)pp;
	while (atomic_load_explicit(&line.word, memory_order_acquire) != 2 * v + 1)
		relax();
	atomic_store_explicit(&line.word, 2 * v + 2, memory_order_release);
}

static void spsc_init_pp(struct pingpong *pp)
{
	if (shmk_spsc_init(&pp->ab, pp->r, 0, 8, 1024, pp->qflags) ||
	    shmk_spsc_init(&pp->ba, pp->r, 1 << 20, 8, 1024, pp->qflags)) {
		fprintf(stderr, "spsc init failed\n");
		exit(1);
	}
}

static void spsc_ping(struct pingpong *pp, uint64_t v)
{
	uint64_t back;

	shmk_spsc_push(&pp->ab, &v);
	while (shmk_spsc_pop(&pp->ba, &back))
		relax();
}

static void spsc_echo(struct pingpong *pp, uint64_t v)
{
	uint64_t got;

	(void)v;
	while (shmk_spsc_pop(&pp->ab, &got))
		relax();
	shmk_spsc_push(&pp->ba, &got);
}

static void mpmc_init_pp(struct pingpong *pp)
{
	if (shmk_mpmc_init(&pp->mab, pp->r, 0, 8, 1024, pp->qflags) ||
	    shmk_mpmc_init(&pp->mba, pp->r, 1 << 20, 8, 1024, pp->qflags)) {
		fprintf(stderr, "mpmc init failed\n");
		exit(1);
	}
}

static void mpmc_ping(struct pingpong *pp, uint64_t v)
{
	uint64_t back;

	shmk_mpmc_push(&pp->mab, &v);
	while (shmk_mpmc_pop(&pp->mba, &back))
		relax();
}

static void mpmc_echo(struct pingpong *pp, uint64_t v)
{
	uint64_t got;

	(void)v;
	while (shmk_mpmc_pop(&pp->mab, &got))
		relax();
	shmk_mpmc_push(&pp->mba, &got);
}

static void *echo_thread(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t v, total = (uint64_t)(nsamples + 1) * per_sample;

	pin(cpu_b);
	for (v = 0; v < total; v++)
		pp->echo(pp, v);
	return NULL;
}

/* Returns the median one-way latency in ns; prints the distribution. */
static double run_pingpong(struct pingpong *pp)
{
	pthread_t t;
	uint64_t v = 0;
	unsigned int s, i;
	double med;

	pp->init(pp);
	pin(cpu_a);
	pthread_create(&t, NULL, echo_thread, pp);
	for (i = 0; i < per_sample; i++)	/* warm-up sample */
		pp->ping(pp, v++);
	for (s = 0; s < nsamples; s++) {
		uint64_t t0 = now_ns();

		for (i = 0; i < per_sample; i++)
			pp->ping(pp, v++);
		pp->samples[s] = (double)(now_ns() - t0) / per_sample / 2.0;
	}
	pthread_join(t, NULL);
	qsort(pp->samples, nsamples, sizeof(double), cmp_double);
	med = pct(pp->samples, nsamples, 50);
	printf("%-28s one-way ns: median %7.1f  p10 %7.1f  p90 %7.1f  p99 %7.1f",
	       pp->name, med, pct(pp->samples, nsamples, 10),
	       pct(pp->samples, nsamples, 90), pct(pp->samples, nsamples, 99));
	return med;
}

/* Throughput */
struct tput {
	struct shmk_spsc q;
	struct shmk_mpmc mq;
	int mpmc;
	unsigned int burst;
	uint64_t sum;
};

static void *tput_producer(void *arg)
{
	struct tput *tp = arg;
	uint64_t buf[1024], next = 0;
	unsigned int k;

	pin(cpu_a);
	if (tp->mpmc) {
		while (next < items) {
			if (shmk_mpmc_push(&tp->mq, &next) == 0)
				next++;
			else
				relax();
		}
		return NULL;
	}
	while (next < items) {
		unsigned int n = tp->burst;
		int got;

		if (n > items - next)
			n = (unsigned int)(items - next);
		for (k = 0; k < n; k++)
			buf[k] = next + k;
		got = shmk_spsc_push_burst(&tp->q, buf, n);
		if (got > 0)
			next += (unsigned int)got;
		else
			relax();
	}
	return NULL;
}

static double run_tput(struct shmk_region *r, int mpmc, unsigned int burst)
{
	double rates[32];
	unsigned int run;

	for (run = 0; run < runs && run < 32; run++) {
		struct tput tp;
		uint64_t buf[1024], got = 0, sum = 0, t0;
		pthread_t t;

		memset(&tp, 0, sizeof(tp));
		tp.mpmc = mpmc;
		tp.burst = burst;
		if (mpmc ? shmk_mpmc_init(&tp.mq, r, 0, 8, 4096, 0)
			 : shmk_spsc_init(&tp.q, r, 0, 8, 4096, 0)) {
			fprintf(stderr, "queue init failed\n");
			exit(1);
		}
		pin(cpu_b);
		t0 = now_ns();
		pthread_create(&t, NULL, tput_producer, &tp);
		while (got < items) {
			int n, k;

			if (mpmc) {
				n = shmk_mpmc_pop(&tp.mq, buf) == 0;
			} else {
				n = shmk_spsc_pop_burst(&tp.q, buf, burst);
			}
			if (n <= 0) {
				relax();
				continue;
			}
			for (k = 0; k < n; k++)
				sum += buf[k];
			got += (unsigned int)n;
		}
		rates[run] = (double)items / ((double)(now_ns() - t0) / 1e9);
		pthread_join(t, NULL);
		if (sum != items * (items - 1) / 2) {
			fprintf(stderr, "checksum mismatch\n");
			exit(1);
		}
	}
	qsort(rates, run, sizeof(double), cmp_double);
	printf("%s burst %4u: median %8.1f M items/s  (min %.1f, max %.1f, %u runs)\n",
	       mpmc ? "mpmc 1P1C  " : "spsc       ", burst, rates[run / 2] / 1e6,
	       rates[0] / 1e6, rates[run - 1] / 1e6, run);
	return rates[run / 2];
}

int main(int argc, char **argv)
{
	struct shmk_region *r;
	char name[64];
	double floor_ns, lat;
	int opt, ret;

	while ((opt = getopt(argc, argv, "n:i:m:r:c:")) != -1) {
		switch (opt) {
		case 'n': nsamples = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'i': per_sample = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'm': items = strtoull(optarg, NULL, 0) * 1000000ULL; break;
		case 'r': runs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) != 2)
				goto usage;
			break;
		default:
usage:
			fprintf(stderr, "usage: %s [-n samples] [-i roundtrips] "
				"[-m Mitems] [-r runs] [-c cpu0,cpu1]\n", argv[0]);
			return 2;
		}
	}
	if (nsamples < 1 || per_sample < 1 || items < 1 || runs < 1)
		goto usage;

	snprintf(name, sizeof(name), "bench.%d", (int)getpid());
	ret = shmk_region_create(name, 4 << 20, 0600, 0, &r);
	if (ret) {
		fprintf(stderr, "region create: %s\n", strerror(-ret));
		return 1;
	}
	shmk_region_unlink(name);
	printf("libshmk bench_queues: backend %s, CPUs %d,%d, %ld online\n",
	       shmk_region_backend(r) == SHMK_BACKEND_DEVICE ? "device" : "memfd",
	       cpu_a, cpu_b, sysconf(_SC_NPROCESSORS_ONLN));
	{
		/* Other load skews everything: say how busy the machine was. */
		double l1 = 0;
		FILE *f = fopen("/proc/loadavg", "r");

		if (f) {
			if (fscanf(f, "%lf", &l1) != 1)
				l1 = -1;
			fclose(f);
		}
		printf("load average (1 min) at start: %.2f%s\n", l1,
		       l1 > 0.5 ? "  -- other work is running; numbers are skewed" : "");
	}
	printf("latency: %u samples x %u round trips (sample = mean one-way)\n",
	       nsamples, per_sample);

	{
		double *samples = calloc(nsamples, sizeof(double));
		struct pingpong pp = {
			.name = "cache-line ping-pong", .init = cl_init,
			.ping = cl_ping, .echo = cl_echo, .r = r, .samples = samples,
		};

		floor_ns = run_pingpong(&pp);
		printf("  (floor)\n");

		pp = (struct pingpong){ .name = "spsc push/pop", .init = spsc_init_pp,
			.ping = spsc_ping, .echo = spsc_echo, .r = r, .samples = samples };
		lat = run_pingpong(&pp);
		printf("  %.2fx floor\n", lat / floor_ns);

		pp.name = "spsc push/pop (NOTIFY)";
		pp.qflags = SHMK_QUEUE_NOTIFY;
		lat = run_pingpong(&pp);
		printf("  %.2fx floor\n", lat / floor_ns);

		pp = (struct pingpong){ .name = "mpmc push/pop", .init = mpmc_init_pp,
			.ping = mpmc_ping, .echo = mpmc_echo, .r = r, .samples = samples };
		lat = run_pingpong(&pp);
		printf("  %.2fx floor\n", lat / floor_ns);
		free(samples);
	}

	printf("throughput: %llu items of 8 bytes per run, capacity 4096\n",
	       (unsigned long long)items);
	run_tput(r, 0, 1);
	run_tput(r, 0, 16);
	run_tput(r, 0, 64);
	run_tput(r, 0, 256);
	run_tput(r, 1, 1);
	shmk_region_close(r);
	return 0;
}
