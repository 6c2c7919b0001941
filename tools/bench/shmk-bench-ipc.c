// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-bench wakeup | latency: cross-process round trips.
 *
 * Two processes, pinned to two CPUs, hand a message back and forth; side 0
 * times each round trip.  A transport either carries the payload itself
 * (pipe, Unix socket, POSIX mq) or the payload goes through the region and
 * only a signal goes through the transport (shared memory + spin, futex,
 * shmk wait/wake, eventfd).  Shared-memory transports copy the payload in
 * and out (memcpy into the region, memcpy out of it), as read() and
 * write() copy it, so every line moves the same bytes.
 *
 *   wakeup   no payload (the socket-like transports send one byte):
 *            the cost of waking the other process; ratios against futex.
 *   latency  payloads from 64 B to 1 MiB: round-trip time against payload
 *            size for every transport; ratios against shm + shmk
 *            wait/wake; --plot draws it.
 *
 * sb_ipc_roundtrip() lends these transports to pubsub and reqres
 * (shmk-bench-msg.c) as their baselines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmk-bench.h"

#define REGION_BYTES	(4ULL << 20)
#define BUF_OFFSET	(1ULL << 20)	/* direction d's payload at (d + 1) MiB */
#define MAX_PAYLOAD	(1ULL << 20)

/* State shared by both sides (set up before fork). */
static struct shmk_region *reg;
static _Atomic uint32_t *seq[2];	/* message count towards side d */
static unsigned char *shbuf[2];		/* payload towards side d */
static int efd[2], pfd[2][2], sfd[2];
static mqd_t mq[2];
static long mq_msgmax;
static unsigned char *priv;		/* this side's private payload */
static size_t priv_len;
static int set_up;

/* Per-side: the last sequence number seen on seq[side]. */
static uint32_t seen;

struct transport {
	const char *name;
	int shm;			/* payload goes through the region */
	int (*usable)(uint64_t size);	/* NULL: always */
	void (*signal)(int to);		/* shm transports: after seq[to]++ */
	void (*wait)(int me);		/* shm transports: until seq[me] moves */
	void (*send)(int to, size_t len);	/* others */
	void (*recv)(int me, size_t len);
};

static void die(const char *what)
{
	perror(what);
	_exit(1);
}

/* Signals over shared memory */

static void spin_signal(int to)
{
	(void)to;	/* the seq increment is the signal */
}

static void spin_wait(int me)
{
	/* Acquire: pairs with the release store in send_msg(). */
	while (atomic_load_explicit(seq[me], memory_order_acquire) == seen)
		sb_relax();
}

static void futex_signal(int to)
{
	syscall(SYS_futex, seq[to], FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void futex_wait(int me)
{
	uint32_t cur;

	/* Acquire: pairs with the release store in send_msg(). */
	while ((cur = atomic_load_explicit(seq[me], memory_order_acquire)) == seen)
		syscall(SYS_futex, seq[me], FUTEX_WAIT, cur, NULL, NULL, 0);
}

static void shmk_signal(int to)
{
	shmk_wake(reg, (const void *)seq[to], 1);
}

static void shmk_wait_seq(int me)
{
	uint32_t cur;

	/* Acquire: pairs with the release store in send_msg(). */
	while ((cur = atomic_load_explicit(seq[me], memory_order_acquire)) == seen)
		shmk_wait(reg, (const void *)seq[me], cur, SHMK_FOREVER);
}

static void eventfd_signal(int to)
{
	uint64_t one = 1;

	if (write(efd[to], &one, sizeof(one)) != sizeof(one))
		die("eventfd write");
}

static void eventfd_wait(int me)
{
	uint64_t v;

	if (read(efd[me], &v, sizeof(v)) != sizeof(v))
		die("eventfd read");
}

/* Transports that carry the payload */

static void write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			die("write");
		}
		p += n;
		len -= (size_t)n;
	}
}

static void read_all(int fd, unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			die(n ? "read" : "read: end of file");
		}
		p += n;
		len -= (size_t)n;
	}
}

static void pipe_send(int to, size_t len)
{
	write_all(pfd[to][1], priv, len ? len : 1);
}

static void pipe_recv(int me, size_t len)
{
	read_all(pfd[me][0], priv, len ? len : 1);
}

static void unix_send(int to, size_t len)
{
	write_all(sfd[1 - to], priv, len ? len : 1);
}

static void unix_recv(int me, size_t len)
{
	read_all(sfd[me], priv, len ? len : 1);
}

static int mq_usable(uint64_t size)
{
	return (long)size <= mq_msgmax;
}

static void mq_send_(int to, size_t len)
{
	while (mq_send(mq[to], (const char *)priv, len ? len : 1, 0))
		if (errno != EINTR)
			die("mq_send");
}

static void mq_recv(int me, size_t len)
{
	(void)len;
	while (mq_receive(mq[me], (char *)priv, (size_t)mq_msgmax, NULL) < 0)
		if (errno != EINTR)
			die("mq_receive");
}

static const struct transport transports[] = {
	{ .name = "shm+spin", .shm = 1, .signal = spin_signal, .wait = spin_wait },
	{ .name = "shm+futex", .shm = 1, .signal = futex_signal, .wait = futex_wait },
	{ .name = "shm+shmk", .shm = 1, .signal = shmk_signal, .wait = shmk_wait_seq },
	{ .name = "shm+eventfd", .shm = 1, .signal = eventfd_signal, .wait = eventfd_wait },
	{ .name = "pipe", .send = pipe_send, .recv = pipe_recv },
	{ .name = "unix", .send = unix_send, .recv = unix_recv },
	{ .name = "mq", .usable = mq_usable, .send = mq_send_, .recv = mq_recv },
};

#define NTRANSPORTS (sizeof(transports) / sizeof(transports[0]))

static void send_msg(const struct transport *t, int to, size_t len)
{
	if (!t->shm) {
		t->send(to, len);
		return;
	}
	if (len)
		memcpy(shbuf[to], priv, len);
	/*
	 * seq[to] has one writer, us, so a plain store does (no locked
	 * read-modify-write: the floor is the cheapest signal there is).
	 * Relaxed load: our own last store.  Release store: publishes the
	 * payload; pairs with the acquire load in the wait functions.
	 */
	atomic_store_explicit(seq[to],
			      atomic_load_explicit(seq[to], memory_order_relaxed) + 1,
			      memory_order_release);
	t->signal(to);
}

static void recv_msg(const struct transport *t, int me, size_t len)
{
	if (!t->shm) {
		t->recv(me, len);
		return;
	}
	t->wait(me);
	seen++;
	if (len)
		memcpy(priv, shbuf[me], len);
}

static int setup(void)
{
	struct mq_attr attr = { .mq_maxmsg = 1 };
	char name[64];
	FILE *f;
	int d;

	/* Once per run: what it makes lasts until the process exits. */
	if (set_up)
		return 0;
	priv_len = MAX_PAYLOAD;
	priv = calloc(1, priv_len);
	if (!priv) {
		perror("shmk-bench");
		return -1;
	}
	reg = sb_region(REGION_BYTES);
	for (d = 0; d < 2; d++) {
		unsigned char *base = shmk_region_base(reg);

		seq[d] = (_Atomic uint32_t *)(base + (uint64_t)d * 128);
		shbuf[d] = base + BUF_OFFSET * (uint64_t)(d + 1);
		memset(shbuf[d], 0, MAX_PAYLOAD);	/* fault it in */
	}
	if ((efd[0] = eventfd(0, 0)) < 0 || (efd[1] = eventfd(0, 0)) < 0 ||
	    pipe(pfd[0]) || pipe(pfd[1]) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sfd)) {
		perror("shmk-bench: eventfd/pipe/socketpair");
		return -1;
	}
	/* As large a message as this system allows (fs.mqueue.msgsize_max). */
	mq_msgmax = 8192;
	f = fopen("/proc/sys/fs/mqueue/msgsize_max", "r");
	if (f) {
		if (fscanf(f, "%ld", &mq_msgmax) != 1)
			mq_msgmax = 8192;
		fclose(f);
	}
	if (mq_msgmax > (long)MAX_PAYLOAD)
		mq_msgmax = (long)MAX_PAYLOAD;
	attr.mq_msgsize = mq_msgmax;
	for (d = 0; d < 2; d++) {
		snprintf(name, sizeof(name), "/shmk-bench.%d.%d", (int)getpid(), d);
		mq[d] = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
		if (mq[d] == (mqd_t)-1) {
			fprintf(stderr, "shmk-bench: mq_open: %s (POSIX mq left out)\n",
				strerror(errno));
			mq_msgmax = -1;
			break;
		}
		mq_unlink(name);
	}
	set_up = 1;
	return 0;
}

/* Time sb.rounds round trips of @len bytes over @t; record them as @label at @at. */
static int run(const char *group, const char *label, const struct transport *t,
	       uint64_t len, uint64_t at)
{
	unsigned int rounds = sb.rounds, i, total;
	double *s;
	int status;
	pid_t pid;

	/* Big payloads: fewer rounds, so that each size takes similar time. */
	if (len > 4096)
		rounds = (unsigned int)(rounds * 4096 / len);
	if (rounds < 50)
		rounds = 50;
	total = rounds + sb.warmup / (len > 4096 ? 16 : 1);
	s = calloc(rounds, sizeof(*s));
	if (!s)
		return -1;
	/* Seq_cst, before fork(): both sides start from zero. */
	atomic_store(seq[0], 0);
	atomic_store(seq[1], 0);
	seen = 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		free(s);
		return -1;
	}
	if (pid == 0) {
		sb_pin(sb.cpu[1]);
		for (i = 0; i < total; i++) {
			recv_msg(t, 1, len);
			send_msg(t, 0, len);
		}
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		send_msg(t, 1, len);
		recv_msg(t, 0, len);
		if (i >= total - rounds)
			s[i - (total - rounds)] = (double)(sb_now_ns() - t0);
	}
	waitpid(pid, &status, 0);
	sb_add(group, label, at, s, rounds);
	free(s);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

static int usable(const struct transport *t, uint64_t size)
{
	if (t->signal == spin_signal && sb.cpu[0] == sb.cpu[1])
		return 0;	/* spinning against yourself on one CPU */
	if (t->send == mq_send_ && mq_msgmax < 0)
		return 0;
	if (t->shm && size > MAX_PAYLOAD)
		return 0;
	return !t->usable || t->usable(size);
}

int sb_wakeup(void)
{
	size_t i;

	if (setup())
		return 1;
	printf("== wakeup: cross-process round trips, no payload; backend %s; %u timed (+%u warm-up)\n",
	       sb_backend_name(), sb.rounds, sb.warmup);
	for (i = 0; i < NTRANSPORTS; i++) {
		if (!usable(&transports[i], 0))
			continue;
		fprintf(stderr, "  wakeup: %s ...\n", transports[i].name);
		if (run("wakeup", transports[i].name, &transports[i], 0, 0)) {
			fprintf(stderr, "shmk-bench: wakeup %s failed\n", transports[i].name);
			return 1;
		}
	}
	sb_ratios("wakeup", "shm+futex");
	sb_print_table("wakeup", "round trip (ns); ratio: median / shm+futex median");
	return 0;
}

int sb_latency(void)
{
	size_t i, k;

	if (setup())
		return 1;
	printf("== latency: cross-process round trips with a payload each way; backend %s; up to %u timed per size\n",
	       sb_backend_name(), sb.rounds);
	for (k = 0; k < sb.nsizes; k++) {
		uint64_t len = sb.sizes[k];

		if (len > MAX_PAYLOAD)
			continue;
		for (i = 0; i < NTRANSPORTS; i++) {
			if (!usable(&transports[i], len))
				continue;
			fprintf(stderr, "  latency: %s %llu B ...\n",
				transports[i].name, (unsigned long long)len);
			if (run("latency", transports[i].name, &transports[i], len, len)) {
				fprintf(stderr, "shmk-bench: latency %s failed\n",
					transports[i].name);
				return 1;
			}
		}
	}
	sb_ratios("latency", "shm+shmk");
	sb_print_table("latency", "round trip (ns); ratio: median / shm+shmk median at that size");
	return 0;
}

/*
 * The one-cache-line floor: one word in a cache line of its own that the
 * two sides take turns to store (side 0 odd values, side 1 even ones),
 * each spinning with an acquire load until the other's value is there.
 * One line goes from one core to the other and back per round trip, with
 * one plain store (a release store is a plain MOV on x86) and one
 * acquire load per one-way hop: nothing through shared memory can be
 * cheaper, so it is the floor a busy-polling messaging layer is held to.
 */
static int run_line(const char *group, const char *label, uint64_t at)
{
	/* Its own SHMK_CACHELINE_PAD block: seq[] are at 0 and 128. */
	_Atomic uint32_t *w = (_Atomic uint32_t *)
		((unsigned char *)shmk_region_base(reg) + 256);
	unsigned int total = sb.rounds + sb.warmup, i;
	double *s = calloc(sb.rounds, sizeof(*s));
	int status;
	pid_t pid;

	if (!s)
		return -1;
	atomic_store(w, 0);	/* seq_cst, before fork(): both start at 0 */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		free(s);
		return -1;
	}
	if (pid == 0) {
		sb_pin(sb.cpu[1]);
		for (i = 0; i < total; i++) {
			/* Acquire: pairs with side 0's release store. */
			while (atomic_load_explicit(w, memory_order_acquire) != 2 * i + 1)
				sb_relax();
			/* Release: pairs with side 0's acquire load. */
			atomic_store_explicit(w, 2 * i + 2, memory_order_release);
		}
		_exit(0);
	}
	sb_pin(sb.cpu[0]);
	for (i = 0; i < total; i++) {
		uint64_t t0 = sb_now_ns();

		/* Release: pairs with side 1's acquire load. */
		atomic_store_explicit(w, 2 * i + 1, memory_order_release);
		/* Acquire: pairs with side 1's release store. */
		while (atomic_load_explicit(w, memory_order_acquire) != 2 * i + 2)
			sb_relax();
		if (i >= sb.warmup)
			s[i - sb.warmup] = (double)(sb_now_ns() - t0);
	}
	waitpid(pid, &status, 0);
	sb_add(group, label, at, s, sb.rounds);
	free(s);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

int sb_ipc_roundtrip(const char *group, const char *label,
		     const char *transport, uint64_t len, uint64_t at)
{
	const struct transport *t = NULL;
	size_t i;

	if (!strcmp(transport, "shm+line")) {
		if (setup())
			return -1;
		if (sb.cpu[0] == sb.cpu[1])
			return 1;
		return run_line(group, label, at) ? -1 : 0;
	}
	for (i = 0; i < NTRANSPORTS; i++)
		if (!strcmp(transports[i].name, transport))
			t = &transports[i];
	if (!t || setup())
		return -1;
	if (!usable(t, len))
		return 1;
	if (len > priv_len) {
		unsigned char *p = realloc(priv, len);

		if (!p)
			return -1;
		memset(p, 0, len);	/* fault it in before the timing */
		priv = p;
		priv_len = len;
	}
	return run(group, label, t, len, at) ? -1 : 0;
}
