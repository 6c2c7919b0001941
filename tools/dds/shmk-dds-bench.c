// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-dds-bench: the shmk-dds bridge against Cyclone DDS alone, on this
 * machine, in one run (Documentation/dds.rst, "Benchmark").
 *
 *   shmk-dds-bench [--quick] [--sizes B,B,...] [--count N] [--burst N]
 *                  [--domain N] [--bridge PATH]
 *
 * For each payload size, two paths carry the same samples:
 *   dds:    a Cyclone DDS writer in a child process -> a reader in this
 *           one (shmk_bridge::Sample, reliable, keep-last 64, as the
 *           bridge uses), taken with dds_take() as an application would;
 *   bridge: a shmk publisher (this process) -> service A -> shmk-dds
 *           --out A -> DDS -> shmk-dds --in B -> service B -> a shmk
 *           subscriber (a thread of this process).
 * Latency: --count samples one every 500 us (plus 10 ns a byte), each
 * stamped with CLOCK_MONOTONIC when written; one-way latency is the
 * receive time less the stamp (p50, p99).  Throughput: --burst samples back to back;
 * samples delivered per second from the first write to the last receive,
 * and how many a keep-last history dropped on the way.
 *
 * Unless CYCLONEDDS_URI is set, both paths use loopback only (unicast
 * discovery to 127.0.0.1, no multicast).  A benchmark, never a test: it
 * fails only when it cannot run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !__has_include(<dds/dds.h>)
#error "shmk-dds-bench needs Cyclone DDS: <dds/dds.h> is missing (run tools/deps, Debian package cyclonedds-dev)"
#endif
#include <dds/dds.h>

#include <shmk/shmk.h>

#include "shmk_bridge.h"

#define END_MARK	UINT64_MAX
/* Latency samples: one per 500 us plus 10 ns a byte (1.8 ms at 128 KiB),
 * so that they measure the path, not a queue. */
#define PACE_NS(size)	(500000LL + 10 * (long long)(size))
#define DEPTH		64

static const char *prog = "shmk-dds-bench";
static unsigned int count = 2000, burst = 20000;
static dds_domainid_t domain;
static char bridge_path[PATH_MAX];
static pid_t main_pid;

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void pace_until(int64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000LL), (long)(t % 1000000000LL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Payload: the send stamp (ns), the index, then zeros. */
static void stamp(void *p, uint64_t idx)
{
	uint64_t t = (uint64_t)now_ns();

	memcpy(p, &t, 8);
	memcpy((char *)p + 8, &idx, 8);
}

/* What a receiver records. */
struct sink {
	double *lat;		/* count one-way latencies, ns */
	unsigned int nlat;
	uint64_t tput;		/* burst samples received */
	int64_t first_sent;	/* stamp of the first burst sample received */
	int64_t last_recv;
	bool ended;
};

/* One received payload; returns true at the end mark. */
static bool sink_take(struct sink *s, const void *p, int64_t t)
{
	uint64_t sent, idx;

	memcpy(&sent, p, 8);
	memcpy(&idx, (const char *)p + 8, 8);
	if (idx == END_MARK)
		return s->ended = true;
	if (idx < count) {
		if (s->nlat < count)
			s->lat[s->nlat++] = (double)(t - (int64_t)sent);
	} else {
		if (!s->tput || (int64_t)sent < s->first_sent)
			s->first_sent = (int64_t)sent;
		s->tput++;
		s->last_recv = t;
	}
	return false;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *path, size_t size, struct sink *s)
{
	double p50 = 0, p99 = 0, rate = 0;

	if (s->nlat) {
		qsort(s->lat, s->nlat, sizeof(double), cmp_d);
		p50 = s->lat[s->nlat / 2];
		p99 = s->lat[(size_t)((s->nlat - 1) * 0.99)];
	}
	if (s->tput && s->last_recv > s->first_sent)
		rate = (double)s->tput * 1e9 / (double)(s->last_recv - s->first_sent);
	printf("%8zu  %-8s %9.1f %9.1f %10.0f %9.1f %8u %8" PRIu64 "\n", size, path, p50 / 1e3,
	       p99 / 1e3, rate, rate * (double)size / 1e6, count - s->nlat, burst - s->tput);
	fflush(stdout);
}

static void qos_like_bridge(dds_qos_t *q)
{
	dds_qset_reliability(q, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
	dds_qset_history(q, DDS_HISTORY_KEEP_LAST, DEPTH);
	dds_qset_durability(q, DDS_DURABILITY_VOLATILE);
}

/* ---- Cyclone DDS alone ---------------------------------------------- */

static void __attribute__((noreturn)) dds_writer_child(const char *topic, size_t size)
{
	dds_entity_t pp, tp, wr;
	dds_publication_matched_status_t st = { 0 };
	shmk_bridge_Sample m = { 0 };
	uint8_t *buf = calloc(1, size);
	dds_qos_t *q = dds_create_qos();
	int64_t t, until = now_ns() + 10000000000LL;
	unsigned int i;

	pp = dds_create_participant(domain, NULL, NULL);
	tp = dds_create_topic(pp, &shmk_bridge_Sample_desc, topic, NULL, NULL);
	qos_like_bridge(q);
	wr = dds_create_writer(pp, tp, q, NULL);
	if (pp < 0 || tp < 0 || wr < 0 || !buf)
		_exit(1);
	while (st.current_count == 0 && now_ns() < until) {
		dds_get_publication_matched_status(wr, &st);
		usleep(10000);
	}
	usleep(200000);	/* the reader matches the writer too */
	m.payload._buffer = buf;
	m.payload._length = m.payload._maximum = (uint32_t)size;
	t = now_ns();
	for (i = 0; i < count; i++) {
		pace_until(t += PACE_NS(size));
		m.seq = i;
		stamp(buf, i);
		dds_write(wr, &m);
	}
	usleep(100000);
	for (i = 0; i < burst; i++) {
		stamp(buf, count + i);
		dds_write(wr, &m);
	}
	for (i = 0; i < 3; i++) {
		usleep(100000);
		stamp(buf, END_MARK);
		dds_write(wr, &m);
	}
	dds_wait_for_acks(wr, DDS_SECS(5));
	dds_delete(pp);
	_exit(0);
}

static int run_dds(size_t size, struct sink *s)
{
	char topic[64];
	dds_entity_t pp, tp, rd, ws, rc;
	dds_qos_t *q = dds_create_qos();
	int64_t until;
	pid_t pid;
	int st;

	snprintf(topic, sizeof(topic), "shmk_dds_bench_%d_%zu", (int)getpid(), size);
	pp = dds_create_participant(domain, NULL, NULL);
	if (pp < 0) {
		fprintf(stderr, "%s: dds_create_participant: %s\n", prog, dds_strretcode(pp));
		return -1;
	}
	tp = dds_create_topic(pp, &shmk_bridge_Sample_desc, topic, NULL, NULL);
	qos_like_bridge(q);
	rd = dds_create_reader(pp, tp, q, NULL);
	dds_delete_qos(q);
	ws = dds_create_waitset(pp);
	rc = dds_create_readcondition(rd, DDS_ANY_STATE);
	dds_waitset_attach(ws, rc, 0);
	/* The writer: this program again, exec'd (a fork of a process
	 * running Cyclone's threads could not use Cyclone). */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char sz[24], cnt[16], bu[16], dom[16];

		snprintf(sz, sizeof(sz), "%zu", size);
		snprintf(cnt, sizeof(cnt), "%u", count);
		snprintf(bu, sizeof(bu), "%u", burst);
		snprintf(dom, sizeof(dom), "%u", (unsigned int)domain);
		execl("/proc/self/exe", prog, "--writer-child", topic, sz, cnt, bu, dom,
		      (char *)NULL);
		_exit(127);
	}
	until = now_ns() + 60000000000LL;
	while (!s->ended && now_ns() < until) {
		void *buf[16] = { 0 };
		dds_sample_info_t si[16];
		dds_return_t n, i;

		dds_waitset_wait(ws, NULL, 0, DDS_SECS(1));
		n = dds_take(rd, buf, si, 16, 16);
		for (i = 0; i < n; i++) {
			const shmk_bridge_Sample *m = buf[i];

			if (si[i].valid_data && m->payload._length >= 16)
				sink_take(s, m->payload._buffer, now_ns());
		}
		if (n > 0)
			dds_return_loan(rd, buf, n);
	}
	waitpid(pid, &st, 0);
	dds_delete(pp);
	return s->ended ? 0 : -1;
}

/* ---- through the bridge --------------------------------------------- */

struct bridge_rx {
	struct shmk_port *sub;
	struct sink *s;
	atomic_bool probe_seen, stop;
};

static void *bridge_rx_thread(void *arg)
{
	struct bridge_rx *b = arg;

	while (!atomic_load(&b->stop) && !b->s->ended) {
		struct shmk_sample smp;
		uint64_t idx;
		int64_t t;

		if (shmk_sub_receive(b->sub, &smp, 100000000LL))
			continue;
		t = now_ns();
		memcpy(&idx, (const char *)smp.data + 8, 8);
		if (idx == END_MARK - 1)
			atomic_store(&b->probe_seen, true);
		else if (atomic_load(&b->probe_seen))
			sink_take(b->s, smp.data, t);
		shmk_sub_release(b->sub, &smp);
	}
	return NULL;
}

/* The bridge's log: a temporary file, read back for its counts. */
static void bridge_log(char *buf, size_t n, const char *dir)
{
	snprintf(buf, n, "/tmp/shmk-dds-bench.%d%s.log", (int)main_pid, dir + 1);
}

/* Print the bridge's closing count lines ("... forwarded, ... dropped"). */
static void bridge_counts(const char *dir)
{
	char path[96], line[512];
	FILE *f;

	bridge_log(path, sizeof(path), dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " forwarded, "))
			fprintf(stderr, "          %s", line);
	if (f)
		fclose(f);
	unlink(path);
}

static pid_t spawn_bridge(const char *dir, const char *svc, const char *topic, size_t pmax)
{
	char log[96];

	char dom[16], pm[24];
	pid_t pid;

	snprintf(dom, sizeof(dom), "%u", (unsigned int)domain);
	snprintf(pm, sizeof(pm), "%zu", pmax);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		bridge_log(log, sizeof(log), dir);
		if (!freopen(log, "w", stderr))
			_exit(126);
		execl(bridge_path, bridge_path, "--domain", dom, "--payload-max", pm,
		      "--buffer", "64", dir, svc, "--topic", topic, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int publish(struct shmk_port *p, size_t size, uint64_t idx)
{
	void *pl;
	int ret = shmk_pub_loan(p, &pl);

	if (ret)
		return ret;
	memset((char *)pl + 16, 0, size - 16);
	stamp(pl, idx);
	ret = shmk_pub_publish(p, pl, size, 5000000000LL);
	if (ret)
		shmk_pub_discard(p, pl);
	return ret;
}

static int run_bridge(size_t size, struct sink *s)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .payload_max = size, .buffer = DEPTH,
				     .overflow = SHMK_OVERFLOW_BLOCK };
	char a[48], b[48], topic[64];
	struct shmk_service *sa = NULL, *sb = NULL;
	struct shmk_port *pub = NULL, *sub = NULL;
	struct bridge_rx rx = { .s = s };
	pthread_t thr;
	pid_t ba, bb;
	int64_t t, until;
	unsigned int i;
	int ret = -1;

	snprintf(a, sizeof(a), "dds-bench-a.%d", (int)getpid());
	snprintf(b, sizeof(b), "dds-bench-b.%d", (int)getpid());
	snprintf(topic, sizeof(topic), "shmk_dds_bench_bridge_%d_%zu", (int)getpid(), size);
	if (shmk_service_open(a, &c, SHMK_SVC_CREATE, &sa) ||
	    shmk_service_open(b, &c, SHMK_SVC_CREATE, &sb) ||
	    shmk_pub_open(sa, &pub) || shmk_sub_open(sb, &sub)) {
		fprintf(stderr, "%s: shmk services: %s\n", prog, shmk_last_error());
		goto out_svc;
	}
	ba = spawn_bridge("--out", a, topic, size);
	bb = spawn_bridge("--in", b, topic, size);
	rx.sub = sub;
	pthread_create(&thr, NULL, bridge_rx_thread, &rx);
	/* Probes until the path is up (discovery), then a pause. */
	until = now_ns() + 15000000000LL;
	while (!atomic_load(&rx.probe_seen) && now_ns() < until) {
		publish(pub, size, END_MARK - 1);
		usleep(20000);
	}
	if (!atomic_load(&rx.probe_seen)) {
		fprintf(stderr, "%s: nothing came through the bridges (%s) in 15 s\n", prog,
			bridge_path);
		goto out;
	}
	usleep(200000);
	t = now_ns();
	for (i = 0; i < count; i++) {
		pace_until(t += PACE_NS(size));
		publish(pub, size, i);
	}
	usleep(100000);
	for (i = 0; i < burst; i++)
		publish(pub, size, count + i);
	for (i = 0; i < 3; i++) {
		usleep(100000);
		publish(pub, size, END_MARK);
	}
	until = now_ns() + 30000000000LL;
	while (!s->ended && now_ns() < until)
		usleep(10000);
	ret = s->ended ? 0 : -1;
out:
	atomic_store(&rx.stop, true);
	pthread_join(thr, NULL);
	kill(ba, SIGTERM);
	kill(bb, SIGTERM);
	waitpid(ba, NULL, 0);
	waitpid(bb, NULL, 0);
out_svc:
	shmk_port_close(pub);
	shmk_port_close(sub);
	shmk_service_close(sa);
	shmk_service_close(sb);
	return ret;
}

int main(int argc, char **argv)
{
	size_t sizes[16] = { 64, 1024, 16384, 131072 };
	unsigned int nsizes = 4, k;
	char *self;
	int i;

	main_pid = getpid();
	if (argc == 7 && !strcmp(argv[1], "--writer-child")) {
		count = (unsigned int)atoi(argv[4]);
		burst = (unsigned int)atoi(argv[5]);
		domain = (dds_domainid_t)atoi(argv[6]);
		dds_writer_child(argv[2], strtoull(argv[3], NULL, 0));
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(a, "--quick")) {
			count = 500;
			burst = 2000;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: %s [--quick] [--sizes B,B,...] [--count N] [--burst N]"
			       " [--domain N] [--bridge PATH]\n", prog);
			return 0;
		}
		i++;
		if (!strcmp(a, "--sizes")) {
			char *dup = strdup(v), *tok, *save;

			nsizes = 0;
			for (tok = strtok_r(dup, ",", &save); tok && nsizes < 16;
			     tok = strtok_r(NULL, ",", &save)) {
				sizes[nsizes] = strtoull(tok, NULL, 0);
				if (sizes[nsizes] < 16 || sizes[nsizes] > (64u << 20)) {
					fprintf(stderr, "%s: --sizes: 16 to 64 MiB: '%s'\n", prog, tok);
					return 2;
				}
				nsizes++;
			}
			free(dup);
		} else if (!strcmp(a, "--count") && atoi(v) > 0) {
			count = (unsigned int)atoi(v);
		} else if (!strcmp(a, "--burst") && atoi(v) > 0) {
			burst = (unsigned int)atoi(v);
		} else if (!strcmp(a, "--domain") && *v) {
			domain = (dds_domainid_t)atoi(v);
		} else if (!strcmp(a, "--bridge") && *v) {
			snprintf(bridge_path, sizeof(bridge_path), "%s", v);
		} else {
			fprintf(stderr, "%s: bad argument '%s %s' (--help)\n", prog, a, v);
			return 2;
		}
	}
	if (!nsizes)
		return 2;
	if (!bridge_path[0]) {
		/* shmk-dds next to this program (build/tools/, BINDIR). */
		self = realpath("/proc/self/exe", NULL);
		snprintf(bridge_path, sizeof(bridge_path), "%.*s/shmk-dds",
			 self ? (int)(strrchr(self, '/') - self) : 1, self ? self : ".");
		free(self);
	}
	if (access(bridge_path, X_OK)) {
		fprintf(stderr, "%s: %s: %s (--bridge PATH)\n", prog, bridge_path, strerror(errno));
		return 1;
	}
	if (!domain)
		domain = (dds_domainid_t)(getpid() % 200 + 1);
	setenv("SHMK_BACKEND", getenv("SHMK_BACKEND") ? getenv("SHMK_BACKEND") : "memfd", 1);
	if (!getenv("CYCLONEDDS_URI"))
		setenv("CYCLONEDDS_URI",
		       "<General><Interfaces><NetworkInterface name=\"lo\"/></Interfaces>"
		       "<AllowMulticast>false</AllowMulticast></General>"
		       "<Discovery><ParticipantIndex>auto</ParticipantIndex>"
		       "<Peers><Peer address=\"127.0.0.1\"/></Peers></Discovery>", 1);

	printf("shmk-dds-bench: domain %u, %u paced samples (one per 500 us + 10 ns/byte),"
	       " burst %u; latency one-way\n", (unsigned int)domain, count, burst);
	printf("%8s  %-8s %9s %9s %10s %9s %8s %8s\n", "bytes", "path", "p50 us", "p99 us",
	       "msgs/s", "MB/s", "lat lost", "tput lost");
	for (k = 0; k < nsizes; k++) {
		struct sink s;

		memset(&s, 0, sizeof(s));
		s.lat = calloc(count, sizeof(double));
		if (run_dds(sizes[k], &s))
			fprintf(stderr, "%s: dds, %zu bytes: the end mark never came\n", prog,
				sizes[k]);
		report("dds", sizes[k], &s);
		memset(s.lat, 0, count * sizeof(double));
		s = (struct sink){ .lat = s.lat };
		if (run_bridge(sizes[k], &s))
			fprintf(stderr, "%s: bridge, %zu bytes: the end mark never came\n", prog,
				sizes[k]);
		report("bridge", sizes[k], &s);
		/* Where the bridge path lost samples: the bridges' own counts. */
		bridge_counts("--out");
		bridge_counts("--in");
		free(s.lat);
	}
	return 0;
}
