// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_msg: messaging latency, against the usual alternatives measured
 * in the same run.
 *
 * Two processes play ping-pong; every round trip is timed and the
 * medians and 99th percentiles are printed, one-way latency being half a
 * round trip.  Baselines: a cache-line ping-pong (the floor for any
 * shared-memory transport), a futex ping-pong (the floor for a blocking
 * one), a Unix socket pair, a pipe pair and a POSIX message queue.
 * Publish-subscribe runs for payloads from 8 B to 16 MiB, busy-polling
 * (receive with timeout 0) and blocking (SHMK_FOREVER: a short spin,
 * then shmk_wait()).  Zero copy: the publisher writes 8 bytes of its
 * payload and publishes; the size only changes which chunk size the
 * service has, which is the point.
 *
 * usage: bench_msg [ROUND_TRIPS]   (default 20000; SHMK_BACKEND as usual)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

static long N = 20000;

struct result {
	double med, p99;	/* one-way, ns */
};

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct result stats(uint64_t *rt, long n)
{
	struct result r;

	qsort(rt, (size_t)n, sizeof(*rt), cmp);
	r.med = rt[n / 2] / 2.0;
	r.p99 = rt[n * 99 / 100] / 2.0;
	return r;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_msg: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void print(const char *what, struct result r, double base)
{
	printf("%-34s %10.0f %10.0f", what, r.med, r.p99);
	if (base > 0)
		printf("   %6.2fx", r.med / base);
	printf("\n");
}

/* Cache-line ping-pong: the floor for shared memory. */
static struct result bench_cacheline(uint64_t *rt)
{
	_Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kid;
	long i;

	atomic_store(&w[0], 0);
	atomic_store(&w[32], 0);
	kid = fork();
	if (kid == 0) {
		for (i = 1; i <= N + 100; i++) {
			while (atomic_load_explicit(&w[0], memory_order_acquire) != (uint32_t)i)
				;
			atomic_store_explicit(&w[32], (uint32_t)i, memory_order_release);
		}
		_exit(0);
	}
	for (i = 1; i <= N + 100; i++) {
		uint64_t t = now();

		atomic_store_explicit(&w[0], (uint32_t)i, memory_order_release);
		while (atomic_load_explicit(&w[32], memory_order_acquire) != (uint32_t)i)
			;
		if (i > 100)
			rt[i - 101] = now() - t;
	}
	waitpid(kid, NULL, 0);
	munmap((void *)w, 4096);
	return stats(rt, N);
}

static void fwait(_Atomic uint32_t *w, uint32_t v)
{
	while (atomic_load_explicit(w, memory_order_acquire) == v)
		syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void fwake(_Atomic uint32_t *w)
{
	atomic_fetch_add_explicit(w, 1, memory_order_release);
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Futex ping-pong: the floor for a blocking transport. */
static struct result bench_futex(uint64_t *rt)
{
	_Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t kid;
	long i;

	kid = fork();
	if (kid == 0) {
		for (i = 0; i < N + 100; i++) {
			fwait(&w[0], (uint32_t)i);
			fwake(&w[32]);
		}
		_exit(0);
	}
	for (i = 0; i < N + 100; i++) {
		uint64_t t = now();

		fwake(&w[0]);
		fwait(&w[32], (uint32_t)i);
		if (i >= 100)
			rt[i - 100] = now() - t;
	}
	waitpid(kid, NULL, 0);
	munmap((void *)w, 4096);
	return stats(rt, N);
}

static void rw_full(int fd, void *buf, size_t n, int wr)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = wr ? write(fd, (char *)buf + done, n - done)
			       : read(fd, (char *)buf + done, n - done);

		if (r <= 0)
			die(wr ? "write" : "read", errno);
		done += (size_t)r;
	}
}

/* Two fd pairs (socket or pipe); @size bytes copied each way. */
static struct result bench_fd(uint64_t *rt, int sock, size_t size)
{
	int a[2], b[2];
	char *buf = calloc(1, size);
	pid_t kid;
	long i;

	if (sock) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) ||
		    socketpair(AF_UNIX, SOCK_STREAM, 0, b))
			die("socketpair", errno);
	} else if (pipe(a) || pipe(b)) {
		die("pipe", errno);
	}
	kid = fork();
	if (kid == 0) {
		for (i = 0; i < N + 100; i++) {
			rw_full(a[0], buf, size, 0);
			rw_full(b[1], buf, size, 1);
		}
		_exit(0);
	}
	for (i = 0; i < N + 100; i++) {
		uint64_t t = now();

		rw_full(a[1], buf, size, 1);
		rw_full(b[0], buf, size, 0);
		if (i >= 100)
			rt[i - 100] = now() - t;
	}
	waitpid(kid, NULL, 0);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	free(buf);
	return stats(rt, N);
}

static struct result bench_mq(uint64_t *rt, size_t size)
{
	struct mq_attr at = { .mq_maxmsg = 4, .mq_msgsize = (long)size };
	char na[64], nb[64], *buf = calloc(1, size);
	mqd_t a, b;
	pid_t kid;
	long i;

	snprintf(na, sizeof(na), "/bench_msg.%d.a", (int)getpid());
	snprintf(nb, sizeof(nb), "/bench_msg.%d.b", (int)getpid());
	a = mq_open(na, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	b = mq_open(nb, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	if (a == (mqd_t)-1 || b == (mqd_t)-1)
		die("mq_open", errno);
	mq_unlink(na);
	mq_unlink(nb);
	kid = fork();
	if (kid == 0) {
		for (i = 0; i < N + 100; i++) {
			if (mq_receive(a, buf, size, NULL) < 0 ||
			    mq_send(b, buf, size, 0))
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i < N + 100; i++) {
		uint64_t t = now();

		if (mq_send(a, buf, size, 0) || mq_receive(b, buf, size, NULL) < 0)
			die("mq", errno);
		if (i >= 100)
			rt[i - 100] = now() - t;
	}
	waitpid(kid, NULL, 0);
	mq_close(a);
	mq_close(b);
	free(buf);
	return stats(rt, N);
}

static void unsvc(struct shmk_service *s, const char *tag)
{
	char name[SHMK_SVC_NAME_MAX];

	snprintf(name, sizeof(name), "bench.%d.%s", (int)getpid(), tag);
	shmk_service_remove(name);	/* memfd: no leftovers */
	shmk_service_close(s);
}

static struct shmk_service *svc(const char *tag, uint32_t kind, size_t payload)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = kind,
				     .payload_max = payload, .max_publishers = 1,
				     .max_subscribers = 1, .buffer = 2,
				     .max_loans = 1, .max_borrow = 1 };
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	int ret;

	snprintf(name, sizeof(name), "bench.%d.%s", (int)getpid(), tag);
	ret = shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s);
	if (ret)
		die("shmk_service_open", ret);
	return s;
}

static void send_one(struct shmk_port *p, uint64_t v)
{
	void *pl;
	int ret = shmk_pub_loan(p, &pl);

	if (!ret) {
		memcpy(pl, &v, 8);
		ret = shmk_pub_publish(p, pl, 8, 0);
	}
	if (ret)
		die("publish", ret);
}

static void recv_one(struct shmk_port *p, int64_t timeout)
{
	struct shmk_sample smp;
	int ret;

	do
		ret = shmk_sub_receive(p, &smp, timeout);
	while (ret == -EAGAIN);
	if (ret)
		die("receive", ret);
	shmk_sub_release(p, &smp);
}

/*
 * Publish-subscribe ping-pong over two services.  Ports are opened in
 * each process after fork (a port belongs to one process).
 */
static struct result bench_pubsub(uint64_t *rt, size_t payload, int64_t timeout)
{
	struct shmk_service *ping = svc("ping", SHMK_SVC_PUBSUB, payload);
	struct shmk_service *pong = svc("pong", SHMK_SVC_PUBSUB, payload);
	struct shmk_port *pub, *sub;
	int ready[2];
	pid_t kid;
	long i;
	char c;

	if (pipe(ready))
		die("pipe", errno);
	kid = fork();
	if (kid == 0) {
		if (shmk_sub_open(ping, &sub) || shmk_pub_open(pong, &pub))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < N + 100; i++) {
			recv_one(sub, timeout);
			send_one(pub, (uint64_t)i);
		}
		shmk_port_close(sub);
		shmk_port_close(pub);
		_exit(0);
	}
	if (shmk_sub_open(pong, &sub) || shmk_pub_open(ping, &pub))
		die("ports", EBUSY);
	if (read(ready[0], &c, 1) != 1)
		die("child", EIO);
	for (i = 0; i < N + 100; i++) {
		uint64_t t = now();

		send_one(pub, (uint64_t)i);
		recv_one(sub, timeout);
		if (i >= 100)
			rt[i - 100] = now() - t;
	}
	waitpid(kid, NULL, 0);
	shmk_port_close(sub);
	shmk_port_close(pub);
	unsvc(ping, "ping");
	unsvc(pong, "pong");
	close(ready[0]);
	close(ready[1]);
	return stats(rt, N);
}

static struct result bench_reqres(uint64_t *rt, int64_t timeout)
{
	struct shmk_service *s = svc("rr", SHMK_SVC_REQRES, 64);
	struct shmk_port *p;
	struct shmk_sample smp;
	int ready[2], ret;
	pid_t kid;
	long i;
	void *pl;
	char c;

	if (pipe(ready))
		die("pipe", errno);
	kid = fork();
	if (kid == 0) {
		if (shmk_server_open(s, &p) || write(ready[1], "r", 1) != 1)
			_exit(1);
		for (i = 0; i < N + 100; i++) {
			do
				ret = shmk_server_receive(p, &smp, timeout);
			while (ret == -EAGAIN);
			if (ret || shmk_pub_loan(p, &pl) ||
			    shmk_server_respond(p, &smp, pl, 8))
				_exit(1);
			shmk_sub_release(p, &smp);
		}
		shmk_pub_drain(p, 1000000000LL);
		shmk_port_close(p);
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1 || shmk_client_open(s, &p))
		die("client", EIO);
	for (i = 0; i < N + 100; i++) {
		uint64_t t = now();

		if (shmk_pub_loan(p, &pl) || shmk_client_send(p, pl, 8, NULL))
			die("send", EIO);
		do
			ret = shmk_client_receive(p, &smp, timeout);
		while (ret == -EAGAIN);
		if (ret)
			die("client receive", ret);
		shmk_sub_release(p, &smp);
		if (i >= 100)
			rt[i - 100] = now() - t;
	}
	waitpid(kid, NULL, 0);
	shmk_port_close(p);
	unsvc(s, "rr");
	close(ready[0]);
	close(ready[1]);
	return stats(rt, N);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 8, 64, 512, 4096, 32768, 262144,
					2097152, 16777216 };
	struct result floor, fut, r, busy[8], blk[8];
	double lo = 1e30, hi = 0;
	uint64_t *rt;
	char what[64];
	unsigned int i;

	if (argc > 1)
		N = atol(argv[1]);
	if (N < 100)
		N = 100;
	rt = calloc((size_t)N, sizeof(*rt));
	printf("bench_msg: %ld round trips each, backend %s, %ld CPUs online\n",
	       N, shmk_backend_select() == SHMK_BACKEND_DEVICE ? "device" : "memfd",
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-34s %10s %10s   %s\n", "one-way latency (ns)", "median", "p99",
	       "ratio");
	floor = bench_cacheline(rt);
	print("cache-line ping-pong (floor)", floor, 0);
	fut = bench_futex(rt);
	print("futex ping-pong (blocking floor)", fut, 0);
	print("unix socket 8 B", bench_fd(rt, 1, 8), floor.med);
	print("pipe 8 B", bench_fd(rt, 0, 8), floor.med);
	print("posix mq 8 B", bench_mq(rt, 8), floor.med);
	print("unix socket 64 KiB", bench_fd(rt, 1, 65536), floor.med);
	print("pipe 64 KiB", bench_fd(rt, 0, 65536), floor.med);
	for (i = 0; i < 8; i++) {
		busy[i] = bench_pubsub(rt, sizes[i], 0);
		snprintf(what, sizeof(what), "pubsub busy-poll %zu B", sizes[i]);
		print(what, busy[i], floor.med);
		if (busy[i].med < lo)
			lo = busy[i].med;
		if (busy[i].med > hi)
			hi = busy[i].med;
	}
	for (i = 0; i < 8; i += 3) {
		blk[i] = bench_pubsub(rt, sizes[i], SHMK_FOREVER);
		snprintf(what, sizeof(what), "pubsub blocking %zu B", sizes[i]);
		print(what, blk[i], fut.med);
	}
	r = bench_reqres(rt, 0);
	print("reqres busy-poll (one-way = rt/2)", r, floor.med);
	r = bench_reqres(rt, SHMK_FOREVER);
	print("reqres blocking (one-way = rt/2)", r, fut.med);
	printf("\nratios: pubsub busy-poll 8 B / floor = %.2f (target <= 1.5); "
	       "flatness max/min over 8 B..16 MiB = %.2f (target <= 1.10); "
	       "pubsub blocking 8 B / futex = %.2f (target <= 1.3)\n",
	       busy[0].med / floor.med, hi / lo, blk[0].med / fut.med);
	free(rt);
	return 0;
}
