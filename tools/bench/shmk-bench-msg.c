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
 * At each size, around the subject, sb_ipc_roundtrip() measures the
 * baselines: the cache-line ping-pong (shm+spin with no payload: the
 * floor for anything through shared memory, and for busy-poll), the
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

#define FLOOR_SPIN	"cache-line floor"
#define FLOOR_FUTEX	"futex floor"
#define REQRES_BYTES	8

/* The transports that carry the payload, as named by shmk-bench-ipc.c. */
static const char *const copying[] = { "unix", "pipe", "mq" };

/* A service of @kind named shmk-bench.PID.TAG, one producer, one consumer. */
static struct shmk_service *svc_create(const char *tag, uint32_t kind,
				       uint64_t payload, char *name, size_t len)
{
	struct shmk_svc_config c = {
		.size = sizeof(c), .kind = kind, .payload_max = payload,
		.max_publishers = 1, .max_subscribers = 1, .buffer = 2,
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

static int send_one(struct shmk_port *p, uint64_t v, size_t len)
{
	void *pl;
	int ret = shmk_pub_loan(p, &pl);

	if (ret)
		return ret;
	memcpy(pl, &v, len < sizeof(v) ? len : sizeof(v));
	return shmk_pub_publish(p, pl, len < sizeof(v) ? len : sizeof(v), 0);
}

static int recv_one(struct shmk_port *p, int64_t timeout)
{
	struct shmk_sample smp;
	int ret;

	while ((ret = shmk_sub_receive(p, &smp, timeout)) == -EAGAIN)
		sb_relax();	/* busy-poll: as the cache-line floor spins */
	if (ret)
		return ret;
	return shmk_sub_release(p, &smp);
}

/*
 * Ping-pong over two services, @size bytes of payload_max each, receives
 * with @timeout (0: busy-poll); recorded as @label.  Ports are opened in
 * each process after fork (a port belongs to one process); the services'
 * names are removed once both sides hold their ports.
 */
static int pubsub_run(const char *label, uint64_t size, int64_t timeout)
{
	char nping[SHMK_SVC_NAME_MAX], npong[SHMK_SVC_NAME_MAX];
	struct shmk_service *ping, *pong;
	struct shmk_port *pub = NULL, *sub = NULL;
	unsigned int total = total_rounds(), i;
	int ready[2], failed = 1, ret;
	double *s = NULL;
	pid_t pid = -1;
	char c;

	ping = svc_create("ping", SHMK_SVC_PUBSUB, size, nping, sizeof(nping));
	pong = svc_create("pong", SHMK_SVC_PUBSUB, size, npong, sizeof(npong));
	if (!ping || !pong || pipe(ready))
		goto out;
	s = calloc(sb.rounds, sizeof(*s));
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
			if (recv_one(sub, timeout) || send_one(pub, i, size))
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

		ret = send_one(pub, i, size);
		if (!ret)
			ret = recv_one(sub, timeout);
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
		sb_add("pubsub", label, size, s, sb.rounds);
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
	if (sb_ipc_roundtrip(group, FLOOR_SPIN, "shm+spin", 0, size) < 0 ||
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
		printf("busy-poll / cache-line floor: %.2fx to %.2fx (issue 5's target: 1.5x); "
		       "slowest / fastest size: %.2f (target: 1.10)\n", rlo, rhi, hi / lo);
	}
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
