// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-bench - shmk latency, throughput and wakeup benchmarks, each
 * against the usual alternatives measured in the same run.
 *
 *   shmk-bench [OPTIONS] [wakeup|latency|queues|pubsub|reqres|payload|fanout|drones|shm|mutex|all]...
 *
 * Subcommands live in shmk-bench-<topic>.c; this file parses the options,
 * keeps the results, and writes them as a table, JSON (--json FILE) and a
 * gnuplot PNG (--plot FILE).  See shmk-bench(1) and
 * Documentation/performance.rst.  A benchmark, not a test: nothing in it
 * passes or fails on speed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "shmk-bench.h"

#define VERSION "0.1.0"

struct sb_opts sb = {
	.rounds = 20000,
	.warmup = 2000,
	.cpu = { 0, 1 },
	.items = 10000000,
};

static struct sb_result *results;
static size_t nresults, room;
static double load_start;

/* Issue 12's goals measured in this run (sb_goal()). */
#define GOALS_MAX	32
static struct {
	char what[80], against[64];
	double ratio, goal;
} goals[GOALS_MAX];
static unsigned int ngoals;

/* Results */

int sb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double sb_last_median(void)
{
	size_t n;
	struct sb_result *r = sb_results(&n);

	return n ? r[n - 1].median : 0;
}

double sb_pct(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

struct sb_result *sb_add(const char *group, const char *name, uint64_t size,
			 double *samples, size_t n)
{
	struct sb_result *r;

	if (nresults == room) {
		room = room ? 2 * room : 64;
		results = realloc(results, room * sizeof(*results));
		if (!results) {
			perror("shmk-bench");
			exit(1);
		}
	}
	r = &results[nresults++];
	memset(r, 0, sizeof(*r));
	r->group = group;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->size = size;
	if (n) {
		qsort(samples, n, sizeof(*samples), sb_cmp_double);
		r->median = sb_pct(samples, n, 50);
		r->p90 = sb_pct(samples, n, 90);
		r->p99 = sb_pct(samples, n, 99);
	}
	return r;
}

void sb_ratios_of(const char *group, const char *name, const char *ref)
{
	size_t i, j;

	for (i = 0; i < nresults; i++) {
		if (strcmp(results[i].group, group) ||
		    (name && strcmp(results[i].name, name)))
			continue;
		for (j = 0; j < nresults; j++)
			if (!strcmp(results[j].group, group) &&
			    results[j].size == results[i].size &&
			    !strcmp(results[j].name, ref))
				break;
		if (j == nresults || !results[j].median)
			continue;
		results[i].ref = ref;
		results[i].ratio = results[i].median / results[j].median;
	}
}

void sb_ratios(const char *group, const char *ref)
{
	sb_ratios_of(group, NULL, ref);
}

struct sb_result *sb_results(size_t *n)
{
	*n = nresults;
	return results;
}

const char *sb_size_str(uint64_t b, char *buf, size_t len)
{
	if (b >= (1 << 20) && !(b & ((1 << 20) - 1)))
		snprintf(buf, len, "%lluM", (unsigned long long)(b >> 20));
	else if (b >= 1024 && !(b & 1023))
		snprintf(buf, len, "%lluK", (unsigned long long)(b >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)b);
	return buf;
}

void sb_print_table(const char *group, const char *title)
{
	int sized = 0, rated = 0;
	size_t i;

	for (i = 0; i < nresults; i++) {
		if (strcmp(results[i].group, group))
			continue;
		sized |= results[i].size != 0;
		rated |= results[i].rate != 0;
	}
	printf("-- %s\n", title);
	printf("%-26s %6s %11s %11s %11s %8s", "", sized ? "bytes" : "",
	       "median", "p90", "p99", "ratio");
	printf(rated ? " %12s\n" : "\n", "rate");
	for (i = 0; i < nresults; i++) {
		const struct sb_result *r = &results[i];
		char sz[16] = "";

		if (strcmp(r->group, group))
			continue;
		if (sized)
			sb_size_str(r->size, sz, sizeof(sz));
		printf("%-26s %6s %11.1f %11.1f %11.1f", r->name, sz, r->median,
		       r->p90, r->p99);
		if (r->ref)
			printf(" %7.2fx", r->ratio);
		else
			printf(" %8s", "");
		if (r->rate)
			printf(" %8.1f %s", r->rate, r->rate_unit);
		putchar('\n');
	}
	fflush(stdout);
}

/* Goals */

static void goal_print(FILE *f, unsigned int i)
{
	double r = goals[i].ratio, g = goals[i].goal;

	if (r <= 0) {
		fprintf(f, "%s: not measured in this run (goal: at most %.2fx %s)\n",
			goals[i].what, g, goals[i].against);
		return;
	}
	fprintf(f, "%s: %.2fx %s (goal: at most %.2fx): ", goals[i].what, r,
		goals[i].against, g);
	if (r <= g)
		fprintf(f, "met\n");
	else if (r / g - 1 < 0.01)	/* "1.00x ... missed by 0 %" misleads */
		fprintf(f, "missed by %.1f %% (%.4fx)\n", (r / g - 1) * 100, r);
	else
		fprintf(f, "missed by %.0f %%\n", (r / g - 1) * 100);
}

void sb_goal(const char *what, double ratio, const char *against, double goal)
{
	if (ngoals == GOALS_MAX)
		return;
	snprintf(goals[ngoals].what, sizeof(goals[ngoals].what), "%s", what);
	snprintf(goals[ngoals].against, sizeof(goals[ngoals].against), "%s", against);
	goals[ngoals].ratio = ratio;
	goals[ngoals].goal = goal;
	printf("goal: ");
	goal_print(stdout, ngoals++);
	fflush(stdout);
}

static void goals_summary(void)
{
	unsigned int i, met = 0;

	if (!ngoals)
		return;
	for (i = 0; i < ngoals; i++)
		met += goals[i].ratio > 0 && goals[i].ratio <= goals[i].goal;
	printf("== goals (issue 12), load average %.2f at the start: %u of %u met\n",
	       load_start, met, ngoals);
	for (i = 0; i < ngoals; i++) {
		printf("  ");
		goal_print(stdout, i);
	}
	if (load_start > 0.5)
		printf("  (other work was running: rerun on a quiet machine before believing a miss)\n");
}

/* Helpers */

uint64_t sb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The CPUs shmk-bench was started on, before any sb_pin(). */
static cpu_set_t sb_cpus_at_start;
static int sb_cpus_known;

void sb_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

const char *sb_backend_name(void)
{
	return shmk_backend_select() == SHMK_BACKEND_DEVICE ? "device" : "memfd";
}

struct shmk_region *sb_region(uint64_t bytes)
{
	struct shmk_region *r;
	char name[64];
	int ret;

	snprintf(name, sizeof(name), "shmk-bench.%d.%llu", (int)getpid(),
		 (unsigned long long)sb_now_ns());
	ret = shmk_region_create(name, bytes, 0600, 0, &r);
	if (ret) {
		fprintf(stderr, "shmk-bench: region create: %s\n", strerror(-ret));
		exit(1);
	}
	/* Unlinked at once: nothing is left behind if the run is killed. */
	shmk_region_unlink(name);
	return r;
}

/* --json FILE */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int write_json(const char *path)
{
	struct utsname u;
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f) {
		fprintf(stderr, "shmk-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uname(&u);
	fprintf(f, "{\n  \"tool\": \"shmk-bench " VERSION "\",\n  \"time\": %lld,\n",
		(long long)time(NULL));
	fprintf(f, "  \"kernel\": ");
	json_str(f, u.release);
	fprintf(f, ",\n  \"cpus_online\": %ld,\n  \"cpus\": [%d, %d],\n",
		sysconf(_SC_NPROCESSORS_ONLN), sb.cpu[0], sb.cpu[1]);
	fprintf(f, "  \"backend\": \"%s\",\n  \"load_average\": %.2f,\n",
		sb_backend_name(), load_start);
	fprintf(f, "  \"unit\": \"ns\",\n  \"results\": [\n");
	for (i = 0; i < nresults; i++) {
		const struct sb_result *r = &results[i];

		fprintf(f, "    {\"group\": \"%s\", \"name\": ", r->group);
		json_str(f, r->name);
		fprintf(f, ", \"size\": %llu, \"median_ns\": %.1f, \"p90_ns\": %.1f, \"p99_ns\": %.1f",
			(unsigned long long)r->size, r->median, r->p90, r->p99);
		if (r->ref)
			fprintf(f, ", \"ratio\": %.4f, \"ratio_to\": \"%s\"", r->ratio, r->ref);
		if (r->rate)
			fprintf(f, ", \"rate\": %.3f, \"rate_unit\": \"%s\"", r->rate, r->rate_unit);
		fprintf(f, "}%s\n", i + 1 < nresults ? "," : "");
	}
	fprintf(f, "  ],\n  \"goals\": [\n");
	for (i = 0; i < ngoals; i++) {
		fprintf(f, "    {\"goal\": ");
		json_str(f, goals[i].what);
		fprintf(f, ", \"against\": ");
		json_str(f, goals[i].against);
		fprintf(f, ", \"ratio\": %.4f, \"at_most\": %.2f, \"met\": %s}%s\n",
			goals[i].ratio, goals[i].goal,
			goals[i].ratio > 0 && goals[i].ratio <= goals[i].goal ?
			"true" : "false", i + 1 < ngoals ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fclose(f)) {
		fprintf(stderr, "shmk-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* --plot FILE.png: one panel per group that has sizes, a line per name. */

static int plot_group(FILE *g, const char *group, const char *ylabel, int *block)
{
	const char *names[32];
	size_t nnames = 0, i, j;

	for (i = 0; i < nresults; i++) {
		if (strcmp(results[i].group, group) || !results[i].size)
			continue;
		for (j = 0; j < nnames; j++)
			if (!strcmp(names[j], results[i].name))
				break;
		if (j == nnames && nnames < 32)
			names[nnames++] = results[i].name;
	}
	if (!nnames)
		return 0;
	for (j = 0; j < nnames; j++) {
		fprintf(g, "$d%d << EOD\n", *block + (int)j);
		for (i = 0; i < nresults; i++)
			if (!strcmp(results[i].group, group) && results[i].size &&
			    !strcmp(results[i].name, names[j]))
				fprintf(g, "%llu %.1f\n",
					(unsigned long long)results[i].size,
					results[i].median);
		fprintf(g, "EOD\n");
	}
	fprintf(g, "set title \"shmk-bench %s (median, %s backend)\"\n", group,
		sb_backend_name());
	fprintf(g, "set ylabel \"%s\"\nplot ", ylabel);
	for (j = 0; j < nnames; j++)
		fprintf(g, "%s$d%d using 1:2 with linespoints title \"%s\"",
			j ? ", " : "", *block + (int)j, names[j]);
	fprintf(g, "\n");
	*block += (int)nnames;
	return 1;
}

static int has_sized(const char *group)
{
	size_t i;

	for (i = 0; i < nresults; i++)
		if (!strcmp(results[i].group, group) && results[i].size)
			return 1;
	return 0;
}

static int write_plot(const char *path)
{
	int panels = has_sized("latency") + has_sized("pubsub") + has_sized("shm");
	int block = 0;
	FILE *g;

	if (!panels) {
		fprintf(stderr, "shmk-bench: --plot: no sized results (run latency, pubsub or shm)\n");
		return -1;
	}
	g = popen("gnuplot", "w");
	if (!g) {
		fprintf(stderr, "shmk-bench: gnuplot: %s\n", strerror(errno));
		return -1;
	}
	fprintf(g, "set terminal pngcairo size 1000,%d noenhanced\n", 520 * panels);
	fprintf(g, "set output \"%s\"\n", path);
	fprintf(g, "set logscale xy\nset grid\nset key outside right\n");
	fprintf(g, "set autoscale xfix\nset xlabel \"payload bytes\"\nset format x \"%%.0s%%cB\"\n");
	if (panels > 1)
		fprintf(g, "set multiplot layout %d,1\n", panels);
	plot_group(g, "latency", "round trip, ns", &block);
	plot_group(g, "pubsub", "round trip, ns", &block);
	plot_group(g, "shm", "ns per operation", &block);
	if (panels > 1)
		fprintf(g, "unset multiplot\n");
	if (pclose(g)) {
		fprintf(stderr, "shmk-bench: gnuplot failed (is gnuplot installed? tools/deps)\n");
		return -1;
	}
	printf("plot written to %s\n", path);
	return 0;
}

/*
 * drones: run the drones demo found next to this program (build/tools/,
 * build/guest/) on the a+b jobs with 1 and 2 drones, show its table and
 * take its goal line (Documentation/drones.rst).
 */
static int sb_drones(void)
{
	char self[4096], cmd[4400], line[512], *slash;
	double worst = 0;
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "shmk-bench: drones: where am I? %s\n", strerror(errno));
		return 1;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(cmd, sizeof(cmd), "%s/drones", self);
	if (access(cmd, X_OK)) {
		/* An installed shmk-bench: the demo stays in the build tree. */
		printf("== drones: skipped (no %s: it is built by make tools, not installed)\n",
		       cmd);
		sb_goal("drones, a+b 10 to 1,000,000 elements, 1 and 2 drones", 0,
			"the Unix-socket time, at worst", 0.5);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "'%s/drones' --drones 2 --mandel off --reps %d 2>&1",
		 self, sb.quick ? 5 : 21);
	/*
	 * The demo places its crews on the CPUs it may use: give it those
	 * shmk-bench was started with, not the one an earlier subcommand
	 * pinned this process to.
	 */
	if (sb_cpus_known)
		sched_setaffinity(0, sizeof(sb_cpus_at_start), &sb_cpus_at_start);
	printf("== drones: %s\n", cmd);
	fflush(stdout);
	f = popen(cmd, "r");
	if (!f) {
		fprintf(stderr, "shmk-bench: drones: %s\n", strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "goal: ", 6)) {
			char *at = strstr(line, "at worst ");

			if (at)
				worst = strtod(at + 9, NULL);
			continue;
		}
		fputs(line, stdout);
	}
	if (pclose(f)) {
		fprintf(stderr, "shmk-bench: drones failed (is %s/drones built? make tools)\n", self);
		return 1;
	}
	sb_goal("drones, a+b 10 to 1,000,000 elements, 1 and 2 drones", worst,
		"the Unix-socket time, at worst", 0.5);
	return 0;
}

/* Options */

static int parse_sizes(const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL, *end;

	sb.nsizes = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long v = strtoull(tok, &end, 0);

		if (*end == 'k' || *end == 'K')
			v <<= 10, end++;
		else if (*end == 'm' || *end == 'M')
			v <<= 20, end++;
		if (*end || !v || v > (64ULL << 20) || sb.nsizes == 32) {
			fprintf(stderr, "shmk-bench: bad size '%s' (1 to 64M, at most 32)\n", tok);
			free(copy);
			return -1;
		}
		sb.sizes[sb.nsizes++] = v;
	}
	free(copy);
	return sb.nsizes ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmk-bench [OPTIONS] [SUBCOMMAND...]\n"
		"\n"
		"subcommands (default: all):\n"
		"  wakeup   cross-process wakeup round trip: shm+spin (cache-line ping-pong),\n"
		"           futex, shmk wait/wake, eventfd, pipe, Unix socket, POSIX mq\n"
		"  latency  the same transports with payloads 64 B .. 1 MiB each way\n"
		"  queues   libshmk SPSC/MPMC latency and throughput vs cache-line ping-pong\n"
		"  pubsub   libshmk publish-subscribe ping-pong, 8 B .. 16 MiB, busy-poll and\n"
		"           blocking, vs cache-line and futex floors, Unix socket, pipe, POSIX mq\n"
		"  reqres   libshmk request-response round trip vs the same baselines\n"
		"  payload  pub-sub ping-pong whose payload (4K, 1M, 16M) is written and read\n"
		"           in full, vs a shared-memory ping-pong reusing one buffer\n"
		"  fanout   publish cost with 1 to 64 busy-polling subscribers\n"
		"  idle     libshmk publish + receive with 0 .. 1,022 idle subscribers open\n"
		"  drones   the drones demo next to this program: a+b jobs, 1 and 2 drones,\n"
		"           shmk against Unix sockets\n"
		"  shm      raw reads and writes of region memory, 1 KiB .. 1 MiB, vs memcpy\n"
		"  mutex    process-shared pthread mutex and futex lock in a region\n"
		"  wait     blocking receives: vs busy-poll, wake path vs raw futex, idle CPU\n"
		"  all      all of the above; the run ends with issue 12's goals, met or not\n"
		"\n"
		"options:\n"
		"  -n, --rounds N    timed round trips (samples) per figure (default 20000)\n"
		"  -w, --warmup N    untimed ones before them (default 2000)\n"
		"  -s, --sizes LIST  payload sizes, e.g. 64,1K,64K,1M (latency and shm stop\n"
		"                    at 1M; pubsub takes up to 64M)\n"
		"  -c, --cpus A,B    the two CPUs (default 0,1)\n"
		"  -m, --items N     queues: million items per throughput run (default 10)\n"
		"  -q, --quick       a short smoke run (fewer rounds and items)\n"
		"  -j, --json FILE   write every figure as JSON\n"
		"  -p, --plot FILE   write a PNG of latency, pubsub and shm against payload size\n"
		"  -h, --help        this text\n"
		"\n"
		"The backend is libshmk's: /dev/shmk when it opens, else memfd;\n"
		"SHMK_BACKEND=device|memfd forces one.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "sizes", required_argument, NULL, 's' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "items", required_argument, NULL, 'm' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const uint64_t default_sizes[] = {
		64, 1024, 4096, 16384, 65536, 262144, 1048576,
	};
	static const uint64_t msg_sizes[] = {
		8, 64, 512, 4096, 32768, 262144, 2097152, 16777216,
	};
	static const uint64_t quick_msg_sizes[] = { 8, 4096, 262144, 16777216 };
	static const struct {
		const char *name;
		int (*fn)(void);
	} cmds[] = {
		{ "wakeup", sb_wakeup }, { "latency", sb_latency },
		{ "shm", sb_shm }, { "mutex", sb_mutex }, { "queues", sb_queues },
		{ "pubsub", sb_pubsub }, { "reqres", sb_reqres },
		{ "payload", sb_payload }, { "fanout", sb_fanout },
		{ "idle", sb_idle }, { "drones", sb_drones },
		{ "wait", sb_wait },
	};
	const char *json = NULL, *plot = NULL;
	int c, i, k, rc = 0, sizes_given = 0, ncpu;
	long rounds_given = -1;
	char *end;
	FILE *f;

	while ((c = getopt_long(argc, argv, "n:w:s:c:m:qj:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			rounds_given = strtol(optarg, &end, 0);
			if (*end || rounds_given < 10 || rounds_given > 100000000)
				goto bad;
			break;
		case 'w':
			sb.warmup = (unsigned int)strtoul(optarg, &end, 0);
			if (*end)
				goto bad;
			break;
		case 's':
			if (parse_sizes(optarg))
				return 2;
			sizes_given = 1;
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &sb.cpu[0], &sb.cpu[1]) != 2)
				goto bad;
			break;
		case 'm':
			sb.items = strtoull(optarg, &end, 0) * 1000000ULL;
			if (*end || !sb.items)
				goto bad;
			break;
		case 'q':
			sb.quick = 1;
			break;
		case 'j':
			json = optarg;
			break;
		case 'p':
			plot = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (sb.quick) {
		sb.rounds = 1000;
		sb.warmup = 100;
		sb.items = 1000000;
	}
	if (rounds_given > 0)
		sb.rounds = (unsigned int)rounds_given;
	if (sizes_given) {
		memcpy(sb.msg_sizes, sb.sizes, sizeof(sb.sizes));
		sb.nmsg_sizes = sb.nsizes;
	} else {
		memcpy(sb.sizes, default_sizes, sizeof(default_sizes));
		sb.nsizes = sizeof(default_sizes) / sizeof(default_sizes[0]);
		if (sb.quick) {
			memcpy(sb.msg_sizes, quick_msg_sizes, sizeof(quick_msg_sizes));
			sb.nmsg_sizes = sizeof(quick_msg_sizes) / sizeof(quick_msg_sizes[0]);
		} else {
			memcpy(sb.msg_sizes, msg_sizes, sizeof(msg_sizes));
			sb.nmsg_sizes = sizeof(msg_sizes) / sizeof(msg_sizes[0]);
		}
	}
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	sb_cpus_known = !sched_getaffinity(0, sizeof(sb_cpus_at_start), &sb_cpus_at_start);
	for (k = 0; k < 2; k++)
		if (sb.cpu[k] < 0 || sb.cpu[k] >= CPU_SETSIZE) {
			fprintf(stderr, "shmk-bench: bad CPU %d\n", sb.cpu[k]);
			return 2;
		}
	if (ncpu < 2)
		sb.cpu[1] = sb.cpu[0];	/* one CPU: spinning baselines are skipped */
	for (i = optind; i < argc; i++) {
		for (k = 0; k < (int)(sizeof(cmds) / sizeof(cmds[0])); k++)
			if (!strcmp(argv[i], cmds[k].name))
				break;
		if (k == (int)(sizeof(cmds) / sizeof(cmds[0])) && strcmp(argv[i], "all")) {
			fprintf(stderr, "shmk-bench: unknown subcommand '%s' (try --help)\n", argv[i]);
			return 2;
		}
	}
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &load_start) != 1)
			load_start = -1;
		fclose(f);
	}
	printf("shmk-bench " VERSION ": backend %s, CPUs %d,%d of %d online, load average %.2f%s\n",
	       sb_backend_name(), sb.cpu[0], sb.cpu[1], ncpu, load_start,
	       load_start > 0.5 ? " (other work is running: figures are skewed)" : "");
	for (k = 0; k < (int)(sizeof(cmds) / sizeof(cmds[0])); k++) {
		int want = optind == argc;

		for (i = optind; i < argc; i++)
			if (!strcmp(argv[i], cmds[k].name) || !strcmp(argv[i], "all"))
				want = 1;
		if (want && cmds[k].fn())
			rc = 1;
	}
	goals_summary();
	if (json && write_json(json))
		rc = 1;
	else if (json)
		printf("JSON written to %s\n", json);
	if (plot && write_plot(plot))
		rc = 1;
	return rc;
bad:
	fprintf(stderr, "shmk-bench: bad value '%s' for -%c\n", optarg, c);
	return 2;
}
