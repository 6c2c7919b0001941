/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmk-bench: what the subcommands share.
 *
 * Each subcommand (shmk-bench-<name>.c) measures its subject and its
 * baselines in the same run, records one struct sb_result per figure
 * with sb_add(), and prints its own table.  shmk-bench.c collects the
 * results for --json and --plot.  Timings never pass or fail anything.
 */
#ifndef SHMK_BENCH_H
#define SHMK_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <shmk/shmk.h>

/* The options every subcommand reads (set by shmk-bench.c). */
struct sb_opts {
	unsigned int rounds;	/* timed round trips / samples per figure */
	unsigned int warmup;	/* untimed ones before them */
	int cpu[2];		/* the two CPUs the two sides run on */
	int quick;		/* fewer rounds and sizes: a smoke run */
	uint64_t sizes[32];	/* latency, shm: payload sizes in bytes, ascending */
	unsigned int nsizes;
	uint64_t msg_sizes[32];	/* pubsub: payload sizes (8 B .. 16 MiB) */
	unsigned int nmsg_sizes;
	uint64_t items;		/* queues: items per throughput run */
};

extern struct sb_opts sb;

/**
 * struct sb_result - one measured figure
 * @group:	the subcommand's table ("wakeup", "latency", "shm", ...)
 * @name:	what was measured ("futex", "pipe", "spsc push/pop", ...)
 * @size:	payload bytes (0 when the figure has no payload)
 * @median, @p90, @p99: nanoseconds (per round trip or per operation)
 * @ref:	name of the figure in the same group and size that @ratio
 *		compares with, or NULL
 * @ratio:	@median / the median of @ref
 * @rate:	a throughput (unit in @rate_unit), 0 when none
 */
struct sb_result {
	const char *group;
	char name[40];
	uint64_t size;
	double median, p90, p99;
	const char *ref;
	double ratio;
	double rate;
	const char *rate_unit;
};

/* Sort @n samples (ns) and record their median, p90 and p99. */
struct sb_result *sb_add(const char *group, const char *name, uint64_t size,
			 double *samples, size_t n);
/* Fill in ratio against @ref (same group and size) for every result of @group. */
void sb_ratios(const char *group, const char *ref);
/* The same for the results of @group named @name only. */
void sb_ratios_of(const char *group, const char *name, const char *ref);
/* The results recorded so far. */
struct sb_result *sb_results(size_t *n);

uint64_t sb_now_ns(void);
void sb_pin(int cpu);
double sb_pct(const double *sorted, size_t n, double p);

/* qsort() order of doubles, ascending. */
int sb_cmp_double(const void *a, const void *b);

/* The median of the figure sb_add() recorded last; 0 when none. */
double sb_last_median(void);
/* A 4 MiB libshmk region for the run, already unlinked; exits on failure. */
struct shmk_region *sb_region(uint64_t bytes);
const char *sb_backend_name(void);
const char *sb_size_str(uint64_t bytes, char *buf, size_t len);
void sb_print_table(const char *group, const char *title);

static inline void sb_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Time round trips of @len bytes each way over the wakeup/latency
 * transport named @transport ("shm+spin", "shm+futex", "pipe", "unix",
 * "mq", ...; shmk-bench-ipc.c) and record them in @group as @label, at
 * size @at.
 * With @len 0 the shm+ transports move no payload: shm+spin is then the
 * cache-line ping-pong (a line each way), shm+futex the futex ping-pong.
 * "shm+line" (no payload) is the one-cache-line floor: one word in one
 * line that the two sides store in turn, a plain store and an acquire
 * load per hop.
 * Return: 0; 1 when the transport cannot run here (one CPU for shm+spin,
 * a message larger than POSIX mq allows); -1 on failure.
 */
int sb_ipc_roundtrip(const char *group, const char *label,
		     const char *transport, uint64_t len, uint64_t at);

/*
 * A goal of issue 12: @what (e.g. "pub-sub busy-poll, 8 B one way")
 * measured at @ratio times @against (e.g. "the one-cache-line floor"),
 * the goal being at most @goal times.  Printed at once as
 * "WHAT: 1.80x AGAINST (goal: at most 2.00x): met" (or "missed by N %"),
 * again in the summary at the end of the run, and written to --json.
 * @ratio <= 0: could not be measured in this run.
 */
void sb_goal(const char *what, double ratio, const char *against, double goal);

/* The subcommands; each returns 0, or 1 when it could not run. */
int sb_wakeup(void);
int sb_latency(void);
int sb_queues(void);
int sb_shm(void);
int sb_mutex(void);
int sb_pubsub(void);
int sb_reqres(void);
int sb_payload(void);
int sb_fanout(void);
int sb_idle(void);
int sb_wait(void);

#endif /* SHMK_BENCH_H */
