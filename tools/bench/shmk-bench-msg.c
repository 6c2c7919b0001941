// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-bench pubsub | reqres: libshmk messaging round trips, against the
 * floors and the usual alternatives measured in the same run (formerly
 * tools/bench/bench_msg.c).
 *
 * Two processes, pinned to the two CPUs, play ping-pong; side 0 times
 * each round trip (one-way latency is half of it).
 *
 *   pubsub   two publish-subscribe services, ping and pong, for each
 *            payload size (8 B to 16 MiB): the service's payload_max is
 *            the size, the publisher loans a chunk, writes 8 bytes of it
 *            in place and publishes; only an index moves (zero copy), so
 *            the size only changes the chunk the service has.  Receives
 *            busy-poll (timeout 0 in a loop) or block (SHMK_FOREVER: a
 *            short spin, then shmk_wait()).
 *   reqres   a request-response service: the client sends an 8-byte
 *            loaned request, the server answers it with an 8-byte loaned
 *            response; busy-poll and blocking as above.
 *
 *   payload  the pubsub ping-pong with 4 KiB, 1 MiB and 16 MiB that the
 *            sender writes in full and the receiver reads in full, against
 *            the same done through two plain buffers of a region, one per
 *            direction, reused every round: what loans cost beyond the
 *            bytes themselves (the chunks a publisher cycles through).
 *   fanout   the cost of a publish (loan, write 8 B, publish) with 1 to
 *            64 subscribers that busy-poll on the other CPU.
 *
 * At each size, around the subject, sb_ipc_roundtrip() measures the
 * baselines: the one-cache-line ping-pong (shm+line: one word in one
 * line, a plain store and an acquire load per hop; the floor for
 * anything through shared memory, and for busy-poll), the
 * futex ping-pong (shm+futex with no payload: the floor for a blocking
 * transport), and a Unix socket, a pipe and a POSIX mq, each carrying the
 * payload's every byte, which is what they would have to do.  Ratios:
 * busy-poll against the cache-line floor; blocking and the others against
 * the futex floor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/service.h>

#include "shmk-bench.h"

#define FLOOR_SPIN	"one-line floor"
#define FLOOR_FUTEX	"futex floor"
#define REQRES_BYTES	8

/* The transports that carry the payload, as named by shmk-bench-ipc.c. */
static const char *const copying[] = { "unix", "pipe", "mq" };

/* A service of @kind named shmk-bench.PID.TAG, one producer, one consumer. */
static struct shmk_service *svc_create_n(const char *tag, uint32_t kind,
					 uint64_t payload, uint32_t buffer,
					 uint32_t nsub, char *name, size_t len)
{
	struct shmk_svc_config c = {
		.size = sizeof(c), .kind = kind, .payload_max = payload,
		.max_publishers = 1, .max_subscribers = nsub, .buffer = buffer,
		.max_loans = 1, .max_borrow = 1,
	};
	struct shmk_service *s;
	int ret;

	snprintf(name, len, "shmk-bench.%d.%s", (int)getpid(), tag);
	ret = shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s);
	if (ret) {
		fprintf(stderr, "shmk-bench: service %s: %s\n", name, strerror(-ret));
		return NULL;
	}
	return s;
}

static struct shmk_service *svc_create(const char *tag, uint32_t kind,
				       uint64_t payload, char *name, size_t len)
{
	return svc_create_n(tag, kind, payload, 2, 1, name, len);
}

/* Side 1 (the echo): pinned, and killed with side 0. */
static void child_start(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sb_pin(sb.cpu[1]);
}

static int child_wait(pid_t pid, int failed)
{
	int status;

	if (failed)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return !failed && WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* Rounds to time and to warm up with; the same for every size. */
static unsigned int total_rounds(void)
{
	return sb.rounds + sb.warmup;
}

/* Publish-subscribe */

/* What a receiver does with a payload it reads in full: sums its words. */
static volatile uint64_t sink;

static void read_all_words(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len / 8; i++)
		sum += w[i];
	sink = sum;
}

/*
 * Loan, write and publish one sample of @len bytes: its first 8 bytes
 * (@full 0: zero copy, only an index moves) or all @len (@full 1).
 */
static int send_one(struct shmk_port *p, uint64_t v, size_t len, int full)
{
	void *pl;
	int ret = shmk_pub_loan(p, &pl);

	if (ret)
		return ret;
	if (full) {
		memset(pl, (int)(v & 0xff), len);
		return shmk_pub_publish(p, pl, len, 0);
	}
	memcpy(pl, &v, len < sizeof(v) ? len : sizeof(v));
	return shmk_pub_publish(p, pl, len < sizeof(v) ? len : sizeof(v), 0);
}

/* Receive one sample (@full: read all of it) and release it. */
static int recv_one(struct shmk_port *p, int64_t timeout, int full)
{
	struct shmk_sample smp;
	int ret;

	while ((ret = shmk_sub_receive(p, &smp, timeout)) == -EAGAIN)
		sb_relax();	/* busy-poll: as the cache-line floor spins */
	if (ret)
		return ret;
	if (full)
		read_all_words(smp.data, smp.len);
	return shmk_sub_release(p, &smp);
}

/*
 * Ping-pong over two services, @size bytes of payload_max each, receives
 * with @timeout (0: busy-poll); recorded as @label.  Ports are opened in
 * each process after fork (a port belongs to one process); the services'
 * names are removed once both sides hold their ports.
 */
static int pubsub_run_x(const char *group, const char *label, uint64_t size,
			int64_t timeout, int full, uint32_t buffer,
			unsigned int rounds, unsigned int warmup)
{
	char nping[SHMK_SVC_NAME_MAX], npong[SHMK_SVC_NAME_MAX];
	struct shmk_service *ping, *pong;
	struct shmk_port *pub = NULL, *sub = NULL;
	unsigned int total = rounds + warmup, i;
	int ready[2], failed = 1, ret;
	double *s = NULL;
	pid_t pid = -1;
	char c;

	ping = svc_create_n("ping", SHMK_SVC_PUBSUB, size, buffer, 1, nping,
			    sizeof(nping));
	pong = svc_create_n("pong", SHMK_SVC_PUBSUB, size, buffer, 1, npong,
			    sizeof(npong));
	if (!ping || !pong || pipe(ready))
		goto out;
	s = calloc(rounds, sizeof(*s));
	fflush(NULL);
	pid = s ? fork() : -1;
	if (pid < 0)
		goto out_pipe;
	if (pid == 0) {
		child_start();
		if (shmk_sub_open(ping, &sub) || shmk_pub_open(pong, &pub) ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < total; i++)
			if (recv_one(sub, timeout, full) ||
			    send_one(pub, i, size, full))
				_exit(1);
		/* The last pong must reach side 0 before the port goes. */
		if (shmk_pub_drain(pub, 1000000000LL))
			_exit(1);
		shmk_port_close(sub);
		shmk_port_close(pub);
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	if (shmk_sub_open(pong, &sub) || shmk_pub_open(ping, &pub) ||
	    read(ready[0], &c, 1) != 1)
		goto out_child;
	shmk_service_remove(nping);	/* nothing is left if the run is killed */
	shmk_service_remove(npong);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		ret = send_one(pub, i, size, full);
		if (!ret)
			ret = recv_one(sub, timeout, full);
		if (ret) {
			fprintf(stderr, "shmk-bench: %s: %s\n", label, strerror(-ret));
			goto out_child;
		}
		if (i >= warmup)
			s[i - warmup] = (double)(sb_now_ns() - t0);
	}
	failed = 0;
out_child:
	if (child_wait(pid, failed))
		failed = 1;
	if (!failed)
		sb_add(group, label, size, s, rounds);
out_pipe:
	close(ready[0]);
	close(ready[1]);
out:
	shmk_port_close(sub);
	shmk_port_close(pub);
	if (ping)
		shmk_service_remove(nping);
	if (pong)
		shmk_service_remove(npong);
	shmk_service_close(ping);
	shmk_service_close(pong);
	free(s);
	return failed ? -1 : 0;
}

static int pubsub_run(const char *label, uint64_t size, int64_t timeout)
{
	return pubsub_run_x("pubsub", label, size, timeout, 0, 2, sb.rounds,
			    sb.warmup);
}

/* Request-response */

static int client_call(struct shmk_port *p, int64_t timeout)
{
	struct shmk_sample smp;
	void *pl;
	int ret = shmk_pub_loan(p, &pl);

	if (!ret) {
		memset(pl, 1, REQRES_BYTES);
		ret = shmk_client_send(p, pl, REQRES_BYTES, NULL);
	}
	if (ret)
		return ret;
	while ((ret = shmk_client_receive(p, &smp, timeout)) == -EAGAIN)
		sb_relax();
	return ret ? ret : shmk_sub_release(p, &smp);
}

static int server_answer(struct shmk_port *p, int64_t timeout)
{
	struct shmk_sample req;
	void *pl;
	int ret;

	while ((ret = shmk_server_receive(p, &req, timeout)) == -EAGAIN)
		sb_relax();
	if (ret)
		return ret;
	ret = shmk_pub_loan(p, &pl);
	if (!ret) {
		memcpy(pl, req.data, REQRES_BYTES);
		ret = shmk_server_respond(p, &req, pl, REQRES_BYTES);
	}
	shmk_sub_release(p, &req);
	return ret;
}

static int reqres_run(const char *label, int64_t timeout)
{
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *svc;
	struct shmk_port *p = NULL;
	unsigned int total = total_rounds(), i;
	int ready[2], failed = 1, ret;
	double *s = NULL;
	pid_t pid = -1;
	char c;

	svc = svc_create("rr", SHMK_SVC_REQRES, REQRES_BYTES, name, sizeof(name));
	if (!svc || pipe(ready))
		goto out;
	s = calloc(sb.rounds, sizeof(*s));
	fflush(NULL);
	pid = s ? fork() : -1;
	if (pid < 0)
		goto out_pipe;
	if (pid == 0) {
		child_start();
		if (shmk_server_open(svc, &p) || write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < total; i++)
			if (server_answer(p, timeout))
				_exit(1);
		if (shmk_pub_drain(p, 1000000000LL))
			_exit(1);
		shmk_port_close(p);
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	if (read(ready[0], &c, 1) != 1 || shmk_client_open(svc, &p))
		goto out_child;
	shmk_service_remove(name);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		ret = client_call(p, timeout);
		if (ret) {
			fprintf(stderr, "shmk-bench: %s: %s\n", label, strerror(-ret));
			goto out_child;
		}
		if (i >= sb.warmup)
			s[i - sb.warmup] = (double)(sb_now_ns() - t0);
	}
	failed = 0;
out_child:
	if (child_wait(pid, failed))
		failed = 1;
	if (!failed)
		sb_add("reqres", label, REQRES_BYTES, s, sb.rounds);
out_pipe:
	close(ready[0]);
	close(ready[1]);
out:
	shmk_port_close(p);
	if (svc)
		shmk_service_remove(name);
	shmk_service_close(svc);
	free(s);
	return failed ? -1 : 0;
}

/*
 * The two floors at @size, recorded in @group: they carry nothing, and
 * are measured just before the subject, which they are there to scale
 * (a shared virtual machine changes speed from one second to the next).
 */
static int floors(const char *group, uint64_t size)
{
	fprintf(stderr, "  %s: floors, then %llu B ...\n", group, (unsigned long long)size);
	if (sb_ipc_roundtrip(group, FLOOR_SPIN, "shm+line", 0, size) < 0 ||
	    sb_ipc_roundtrip(group, FLOOR_FUTEX, "shm+futex", 0, size) < 0)
		return -1;
	return 0;
}

/* The transports that copy @size bytes each way, recorded in @group. */
static int copiers(const char *group, uint64_t size)
{
	size_t i;

	for (i = 0; i < sizeof(copying) / sizeof(copying[0]); i++)
		if (sb_ipc_roundtrip(group, copying[i], copying[i], size, size) < 0)
			return -1;
	return 0;
}

/* Min and max median of @name in @group; returns how many there were. */
static size_t spread(const char *group, const char *name, double *lo, double *hi)
{
	struct sb_result *r;
	size_t n, i, k = 0;

	r = sb_results(&n);
	*lo = 0;
	*hi = 0;
	for (i = 0; i < n; i++) {
		if (strcmp(r[i].group, group) || strcmp(r[i].name, name))
			continue;
		if (!k++ || r[i].median < *lo)
			*lo = r[i].median;
		if (r[i].median > *hi)
			*hi = r[i].median;
	}
	return k;
}

/* The smallest and largest ratio of @name in @group. */
static void ratio_span(const char *group, const char *name, double *lo, double *hi)
{
	struct sb_result *r;
	size_t n, i, k = 0;

	r = sb_results(&n);
	*lo = 0;
	*hi = 0;
	for (i = 0; i < n; i++) {
		if (strcmp(r[i].group, group) || strcmp(r[i].name, name) || !r[i].ref)
			continue;
		if (!k++ || r[i].ratio < *lo)
			*lo = r[i].ratio;
		if (r[i].ratio > *hi)
			*hi = r[i].ratio;
	}
}

/*
 * Issue 12's 8-byte goal, measured in pairs: the one-line floor, then
 * pub-sub busy-poll, each for a block of rounds, several times over; the
 * ratio of each pair's medians, and their median.  On a virtual machine
 * the two vCPUs move between host cores from one second to the next
 * (the floor jumps between ~120 and ~450 ns here), so only a floor taken
 * next to its subject scales it.  Returns the median ratio, 0 on failure.
 */
static double paired_ratio(void)
{
	unsigned int pairs = sb.quick ? 5 : 11, k, rounds = sb.rounds, warm = sb.warmup;
	double r[16], floor_ns, sub_ns;

	sb.rounds = sb.quick ? 1000 : 5000;
	sb.warmup = sb.rounds / 10;
	fprintf(stderr, "  pubsub: %u pairs of one-line floor and busy-poll at 8 B ...\n", pairs);
	for (k = 0; k < pairs; k++) {
		if (sb_ipc_roundtrip("pubsub pairs", FLOOR_SPIN, "shm+line", 0, 8) < 0)
			break;
		floor_ns = sb_last_median();
		if (pubsub_run_x("pubsub pairs", "pubsub busy-poll", 8, 0, 0, 2,
				 sb.rounds, sb.warmup))
			break;
		sub_ns = sb_last_median();
		r[k] = floor_ns ? sub_ns / floor_ns : 0;
	}
	sb.rounds = rounds;
	sb.warmup = warm;
	if (k < pairs)
		return 0;
	qsort(r, pairs, sizeof(r[0]), sb_cmp_double);
	printf("busy-poll / one-line floor at 8 B, in %u pairs measured side by side: "
	       "%.2fx to %.2fx, median %.2fx\n", pairs, r[0], r[pairs - 1], r[pairs / 2]);
	return r[pairs / 2];
}

int sb_pubsub(void)
{
	int spin = sb.cpu[0] != sb.cpu[1];
	double lo, hi, rlo, rhi;
	unsigned int k;

	printf("== pubsub: publish-subscribe ping-pong, zero copy; backend %s; %u timed (+%u warm-up) per line\n",
	       sb_backend_name(), sb.rounds, sb.warmup);
	if (!spin)
		printf("   (one CPU: busy-poll and the cache-line floor are skipped)\n");
	for (k = 0; k < sb.nmsg_sizes; k++) {
		uint64_t size = sb.msg_sizes[k];

		if (floors("pubsub", size))
			goto fail;
		if (spin && pubsub_run("pubsub busy-poll", size, 0))
			goto fail;
		if (pubsub_run("pubsub blocking", size, SHMK_FOREVER) ||
		    copiers("pubsub", size))
			goto fail;
	}
	sb_ratios("pubsub", FLOOR_FUTEX);
	sb_ratios_of("pubsub", "pubsub busy-poll", FLOOR_SPIN);
	sb_print_table("pubsub", "round trip (ns; one way is half); ratio: busy-poll / "
		       FLOOR_SPIN ", the others / " FLOOR_FUTEX ", at that size");
	if (spin && spread("pubsub", "pubsub busy-poll", &lo, &hi)) {
		ratio_span("pubsub", "pubsub busy-poll", &rlo, &rhi);
		printf("busy-poll / one-line floor: %.2fx to %.2fx (issue 5's target: 1.5x); "
		       "slowest / fastest size: %.2f (target: 1.10)\n", rlo, rhi, hi / lo);
	}
	if (spin)
		sb_goal("pub-sub busy-poll, 8 B one way", paired_ratio(),
			"the one-cache-line floor", 2.0);
	ratio_span("pubsub", "pubsub blocking", &rlo, &rhi);
	printf("blocking / futex floor: %.2fx to %.2fx (target: 1.3x)\n", rlo, rhi);
	return 0;
fail:
	fprintf(stderr, "shmk-bench: pubsub failed\n");
	return 1;
}

int sb_reqres(void)
{
	int spin = sb.cpu[0] != sb.cpu[1];

	printf("== reqres: request-response round trips, %d-byte request and response; backend %s; %u timed (+%u warm-up)\n",
	       REQRES_BYTES, sb_backend_name(), sb.rounds, sb.warmup);
	if (floors("reqres", REQRES_BYTES))
		goto fail;
	if (spin && reqres_run("reqres busy-poll", 0))
		goto fail;
	if (reqres_run("reqres blocking", SHMK_FOREVER) ||
	    copiers("reqres", REQRES_BYTES))
		goto fail;
	sb_ratios("reqres", FLOOR_FUTEX);
	sb_ratios_of("reqres", "reqres busy-poll", FLOOR_SPIN);
	sb_print_table("reqres", "round trip (ns); ratio: busy-poll / " FLOOR_SPIN
		       ", the others / " FLOOR_FUTEX);
	return 0;
fail:
	fprintf(stderr, "shmk-bench: reqres failed\n");
	return 1;
}

/* Payload written and read in full */

/* Rounds at @len bytes: fewer for big payloads, at least 50. */
static unsigned int payload_rounds(uint64_t len)
{
	uint64_t r = (uint64_t)sb.rounds * 65536 / len;

	if (r > sb.rounds)
		r = sb.rounds;
	return r < 50 ? 50 : (unsigned int)r;
}

/*
 * The baseline of "payload": the same ping-pong without libshmk.  Two
 * buffers of @len bytes in a region, buffer d towards side d, each reused
 * every round, and one flag word in a cache line of its own (as the
 * one-line floor): side 0 writes buffer 1 in full, stores the flag, waits
 * for side 1's value of the flag and reads buffer 0 in full; side 1 the
 * other way round.  What a pub-sub ping-pong of the same payload cannot
 * beat.
 */
static int plain_payload_run(const char *label, uint64_t len,
			     unsigned int rounds, unsigned int warmup)
{
	uint64_t stride = (len + 4095) & ~4095ULL;
	struct shmk_region *r = sb_region(4096 + 2 * stride);
	unsigned char *base = shmk_region_base(r), *buf[2];
	_Atomic uint32_t *w = (_Atomic uint32_t *)base;
	unsigned int total = rounds + warmup, i;
	double *s = calloc(rounds, sizeof(*s));
	int status = 1;
	pid_t pid;

	buf[0] = base + 4096;
	buf[1] = base + 4096 + stride;
	memset(buf[0], 0, 2 * stride);	/* fault it in before the timing */
	atomic_store(w, 0);		/* seq_cst, before fork() */
	fflush(NULL);
	pid = s ? fork() : -1;
	if (pid < 0)
		goto out;
	if (pid == 0) {
		child_start();
		for (i = 0; i < total; i++) {
			/* Acquire: pairs with side 0's release store. */
			while (atomic_load_explicit(w, memory_order_acquire) != 2 * i + 1)
				sb_relax();
			read_all_words(buf[1], len);
			memset(buf[0], (int)(i & 0xff), len);
			/* Release: the buffer is written; pairs with side 0's acquire. */
			atomic_store_explicit(w, 2 * i + 2, memory_order_release);
		}
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		memset(buf[1], (int)(i & 0xff), len);
		/* Release: the buffer is written; pairs with side 1's acquire. */
		atomic_store_explicit(w, 2 * i + 1, memory_order_release);
		/* Acquire: pairs with side 1's release store. */
		while (atomic_load_explicit(w, memory_order_acquire) != 2 * i + 2)
			sb_relax();
		read_all_words(buf[0], len);
		if (i >= warmup)
			s[i - warmup] = (double)(sb_now_ns() - t0);
	}
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    !WEXITSTATUS(status)) {
		sb_add("payload", label, len, s, rounds);
		status = 0;
	}
out:
	free(s);
	shmk_region_close(r);
	return status ? -1 : 0;
}

#define PLAIN_PAYLOAD	"plain shm, one buffer"

int sb_payload(void)
{
	static const uint64_t sizes[] = { 4096, 1 << 20, 16 << 20 };
	unsigned int pairs = sb.quick ? 3 : 7, k, j;
	double r[16], pn[16], sn[16];
	char what[80], sz[32];

	if (sb.cpu[0] == sb.cpu[1]) {
		printf("== payload: skipped (one CPU: it busy-polls)\n");
		return 0;
	}
	printf("== payload: pub-sub ping-pong whose payload the sender writes and the receiver reads in full; "
	       "backend %s; busy-poll, services with buffer 1;\n"
	       "   against " PLAIN_PAYLOAD " (two region buffers, one per direction, reused), "
	       "in %u pairs side by side\n", sb_backend_name(), pairs);
	printf("%-8s %14s %14s %22s\n", "payload", "plain (ns)", "pub-sub (ns)",
	       "ratio: pairs, median");
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned int n = payload_rounds(sizes[k]), w = n / 10 + 5;

		if (sizes[k] < (1 << 20))
			snprintf(sz, sizeof(sz), "%llu KiB",
				 (unsigned long long)(sizes[k] >> 10));
		else
			snprintf(sz, sizeof(sz), "%llu MiB",
				 (unsigned long long)(sizes[k] >> 20));
		fprintf(stderr, "  payload: %s, %u pairs of %u rounds ...\n", sz, pairs, n);
		for (j = 0; j < pairs; j++) {
			if (plain_payload_run(PLAIN_PAYLOAD, sizes[k], n, w))
				goto fail;
			pn[j] = sb_last_median();
			if (pubsub_run_x("payload", "pubsub busy-poll, written", sizes[k],
					 0, 1, 1, n, w))
				goto fail;
			sn[j] = sb_last_median();
			r[j] = pn[j] ? sn[j] / pn[j] : 0;
		}
		qsort(r, pairs, sizeof(r[0]), sb_cmp_double);
		qsort(pn, pairs, sizeof(pn[0]), sb_cmp_double);
		qsort(sn, pairs, sizeof(sn[0]), sb_cmp_double);
		printf("%-8s %14.0f %14.0f %7.2fx to %.2fx, %.2fx\n", sz, pn[pairs / 2],
		       sn[pairs / 2], r[0], r[pairs - 1], r[pairs / 2]);
		snprintf(what, sizeof(what), "pub-sub %s written and read", sz);
		sb_goal(what, r[pairs / 2],
			"a plain shared-memory ping-pong reusing one buffer", 1.1);
	}
	sb_ratios("payload", PLAIN_PAYLOAD);
	return 0;
fail:
	fprintf(stderr, "shmk-bench: payload failed\n");
	return 1;
}

/* Fan-out */

/*
 * Publish cost with @nsub subscribers: a child on the other CPU opens
 * @nsub subscriber ports and busy-polls them in turn; after each sample
 * has reached all of them it stores the count in a flag word, and only
 * then does side 0 time its next loan + 8-byte write + publish.  So each
 * publish meets every subscriber's cursor freshly moved, as it would in
 * a steady stream; the time of the publish alone is recorded.
 */
static int fanout_run(const char *group, uint32_t nsub)
{
	char name[SHMK_SVC_NAME_MAX], tag[16];
	struct shmk_region *r = sb_region(4096);
	_Atomic uint32_t *done = shmk_region_base(r);
	struct shmk_port **subs = calloc(nsub, sizeof(*subs)), *pub = NULL;
	struct shmk_service *svc;
	unsigned int total = sb.rounds + sb.warmup, i, k;
	int ready[2] = { -1, -1 }, failed = 1, ret;
	double *s = calloc(sb.rounds, sizeof(*s));
	pid_t pid = -1;
	char c;

	snprintf(tag, sizeof(tag), "fan%u", nsub);
	svc = svc_create_n(tag, SHMK_SVC_PUBSUB, 8, 2, nsub, name, sizeof(name));
	atomic_store(done, 0);	/* seq_cst, before fork() */
	if (!svc || !subs || !s || pipe(ready))
		goto out;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		struct shmk_sample smp;

		child_start();
		for (k = 0; k < nsub; k++)
			if (shmk_sub_open(svc, &subs[k]))
				_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < total; i++) {
			for (k = 0; k < nsub; k++) {
				while ((ret = shmk_sub_receive(subs[k], &smp, 0)) == -EAGAIN)
					sb_relax();
				if (ret || shmk_sub_release(subs[k], &smp))
					_exit(1);
			}
			/* Release: pairs with side 0's acquire load. */
			atomic_store_explicit(done, i + 1, memory_order_release);
		}
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	if (shmk_pub_open(svc, &pub) || read(ready[0], &c, 1) != 1)
		goto out_child;
	shmk_service_remove(name);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns(), t1;

		ret = send_one(pub, i, 8, 0);
		t1 = sb_now_ns();
		if (ret) {
			fprintf(stderr, "shmk-bench: fanout: %s\n", strerror(-ret));
			goto out_child;
		}
		if (i >= sb.warmup)
			s[i - sb.warmup] = (double)(t1 - t0);
		/* Acquire: pairs with the child's release store. */
		while (atomic_load_explicit(done, memory_order_acquire) != i + 1)
			sb_relax();
	}
	failed = 0;
out_child:
	if (child_wait(pid, failed))
		failed = 1;
	if (!failed) {
		char label[40];

		snprintf(label, sizeof(label), "publish, %u subscriber%s", nsub,
			 nsub > 1 ? "s" : "");
		/* The size column carries the number of subscribers. */
		sb_add(group, label, nsub, s, sb.rounds);
	}
out:
	if (ready[0] >= 0) {
		close(ready[0]);
		close(ready[1]);
	}
	shmk_port_close(pub);
	if (svc)
		shmk_service_remove(name);
	shmk_service_close(svc);
	shmk_region_close(r);
	free(subs);
	free(s);
	return failed ? -1 : 0;
}

/*
 * Issue 12's fan-out goal, measured in pairs: a run with 1 subscriber,
 * then one with 64, several times over; the ratio of each pair's
 * medians, and their median.  One run's median is bimodal on a 2-vCPU
 * machine: on 2 December 2026 a publish took either ~130 or ~215 ns,
 * whatever the number of subscribers (the table of one run went 214,
 * 137, 130, 130, 217, 136, 228 ns from 1 to 64), so the ratio of two
 * single runs came out at 0.46x, 1.07x or 1.78x.  Returns the median
 * ratio, 0 on failure.
 */
static double fanout_pairs(void)
{
	unsigned int pairs = sb.quick ? 5 : 9, k, rounds = sb.rounds, warm = sb.warmup;
	double r[16], one;

	sb.rounds = sb.quick ? 1000 : 5000;
	sb.warmup = sb.rounds / 10;
	fprintf(stderr, "  fanout: %u pairs of 1 and 64 subscribers ...\n", pairs);
	for (k = 0; k < pairs; k++) {
		if (fanout_run("fanout pairs", 1))
			break;
		one = sb_last_median();
		if (fanout_run("fanout pairs", 64))
			break;
		r[k] = one ? sb_last_median() / one : 0;
	}
	sb.rounds = rounds;
	sb.warmup = warm;
	if (k < pairs)
		return 0;
	qsort(r, pairs, sizeof(r[0]), sb_cmp_double);
	printf("publish with 64 subscribers / with 1, in %u pairs measured side by side: "
	       "%.2fx to %.2fx, median %.2fx\n", pairs, r[0], r[pairs - 1], r[pairs / 2]);
	return r[pairs / 2];
}

int sb_fanout(void)
{
	static const uint32_t counts[] = { 1, 2, 4, 8, 16, 32, 64 };
	struct sb_result *r;
	double one = 0;
	size_t n, i;
	unsigned int k;

	if (sb.cpu[0] == sb.cpu[1]) {
		printf("== fanout: skipped (one CPU: the subscribers busy-poll)\n");
		return 0;
	}
	printf("== fanout: one publisher, 1 to 64 busy-polling subscribers on the other CPU; backend %s; "
	       "%u timed (+%u warm-up) publishes each\n", sb_backend_name(), sb.rounds, sb.warmup);
	for (k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		fprintf(stderr, "  fanout: %u subscribers ...\n", counts[k]);
		if (fanout_run("fanout", counts[k])) {
			fprintf(stderr, "shmk-bench: fanout failed\n");
			return 1;
		}
	}
	r = sb_results(&n);
	for (i = 0; i < n; i++) {
		if (strcmp(r[i].group, "fanout"))
			continue;
		if (r[i].size == 1)
			one = r[i].median;
	}
	for (i = 0; i < n && one; i++)
		if (!strcmp(r[i].group, "fanout")) {
			r[i].ref = "publish, 1 subscriber";
			r[i].ratio = r[i].median / one;
		}
	sb_print_table("fanout", "one loan + 8-byte write + publish (ns; the bytes column is the "
		       "number of subscribers); ratio: / 1 subscriber");
	sb_goal("publish cost with 64 subscribers", fanout_pairs(),
		"its cost with 1 (median of pairs)", 1.2);
	return 0;
}
