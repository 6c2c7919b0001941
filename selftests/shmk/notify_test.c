// SPDX-License-Identifier: GPL-2.0
/*
 * shmk notification selftests: WAIT, WAKE, WAITV, WATCH with poll,
 * epoll and io_uring; exact wake counts, no lost wakeups, timeouts,
 * and waiters whose fd is closed.  Run as root in the guest.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <liburing.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

#define MiB (1024ULL * 1024)
#define REGION (2 * MiB)
#define NSEC 1000000000ULL

FIXTURE(notify) {
	int dev;
	int fd;
	_Atomic uint32_t *mem;
};

FIXTURE_SETUP(notify)
{
	self->dev = shmk_dev();
	ASSERT_GE(self->dev, 0);
	/* Unnamed, so tests that fork do not meet each other's regions. */
	self->fd = shmk_create(self->dev, "notify", REGION);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, shmk_unlink(self->dev, "notify"));
	self->mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
}

FIXTURE_TEARDOWN(notify)
{
	munmap((void *)self->mem, REGION);
	close(self->fd);
	close(self->dev);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

/* Whether task @pid is asleep ('S' in /proc/PID/stat). */
static int sleeping(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		ret = p && p[1] == ' ' && p[2] == 'S';
	}
	fclose(f);
	return ret;
}

/* Wait until @n tasks in @pids sleep; returns 0, or -1 after 60 s. */
static int all_sleeping(const pid_t *pids, int n)
{
	uint64_t end = now_ns() + 60 * NSEC;
	int i;

	while (now_ns() < end) {
		for (i = 0; i < n && sleeping(pids[i]); i++)
			;
		if (i == n)
			return 0;
		usleep(1000);
	}
	return -1;
}

TEST_F(notify, wait_returns_eagain_when_word_differs)
{
	self->mem[0] = 5;
	EXPECT_EQ(-EAGAIN, shmk_wait(self->fd, 0, 4, 0, 0));
	self->mem[REGION / 4 - 1] = 1;
	EXPECT_EQ(-EAGAIN, shmk_wait(self->fd, REGION - 4, 0, 0, 0));
}

TEST_F(notify, bad_arguments)
{
	struct shmk_wait w = { .size = sizeof(w), .bitset = 1 };
	struct shmk_wake k = { .size = sizeof(k), .bitset = 1, .count = 1 };
	struct shmk_watch wt = { .size = sizeof(wt), .bitset = 1 };
	struct shmk_waitv_entry e[SHMK_WAITV_MAX + 1] = { 0 };
	struct shmk_waitv v = { .size = sizeof(v), .entries = (uintptr_t)e };

	EXPECT_EQ(-EINVAL, shmk_wait(self->fd, 2, 0, 0, 0));
	EXPECT_EQ(-EINVAL, shmk_wait(self->fd, REGION, 0, 0, 0));
	EXPECT_EQ(-EINVAL, shmk_wait(self->fd, ~0ULL - 1, 0, 0, 0));
	EXPECT_EQ(-EINVAL, shmk_wake(self->fd, 6, 1));
	EXPECT_EQ(-EINVAL, shmk_wake(self->fd, REGION, 1));
	w.bitset = 0;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAIT, &w));
	w.bitset = 1;
	w.flags = SHMK_WAIT_ABSTIME;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAIT, &w));
	w.flags = 1U << 7;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAIT, &w));
	w.flags = 0;
	w.size = 8;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAIT, &w));
	k.bitset = 0;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAKE, &k));
	k.bitset = 1;
	k.flags = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAKE, &k));
	wt.offset = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WATCH, &wt));
	wt.offset = 0;
	wt.reserved = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WATCH, &wt));
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	v.nr = SHMK_WAITV_MAX + 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	v.nr = 2;
	e[0].bitset = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	e[1].bitset = 1;
	e[1].offset = 3;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	e[1].offset = 4;
	v.reserved = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	v.reserved = 0;
	v.entries = 8;
	EXPECT_EQ(-EFAULT, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	/* Nothing was queued by any of them. */
	EXPECT_EQ(0, shmk_wake(self->fd, 0, INT_MAX));
	EXPECT_EQ(0, shmk_wake(self->fd, 4, INT_MAX));
}

TEST_F(notify, relative_and_absolute_timeouts)
{
	uint64_t t0 = now_ns(), dt;

	EXPECT_EQ(-ETIMEDOUT, shmk_wait(self->fd, 0, 0, SHMK_WAIT_TIMEOUT,
					50 * 1000 * 1000));
	dt = now_ns() - t0;
	EXPECT_GE(dt, 50 * 1000 * 1000);
	EXPECT_LT(dt, 10 * NSEC);

	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, shmk_wait(self->fd, 0, 0,
					SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME,
					t0 + 50 * 1000 * 1000));
	dt = now_ns() - t0;
	EXPECT_GE(dt, 50 * 1000 * 1000);
	EXPECT_LT(dt, 10 * NSEC);

	/* A deadline in the past, and a zero timeout, return at once. */
	EXPECT_EQ(-ETIMEDOUT, shmk_wait(self->fd, 0, 0,
					SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME, 1));
	EXPECT_EQ(-ETIMEDOUT, shmk_wait(self->fd, 0, 0, SHMK_WAIT_TIMEOUT, 0));
}

TEST_F(notify, wake_without_waiters_wakes_none)
{
	EXPECT_EQ(0, shmk_wake(self->fd, 0, 1));
	EXPECT_EQ(0, shmk_wake(self->fd, 0, INT_MAX));
}

/* Fork @n children that each wait on word @off (bitset @bits). */
static int spawn_waiters(int fd, uint64_t off, uint32_t bits, pid_t *pids,
			 int n)
{
	int i;

	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (pids[i] == 0) {
			struct shmk_wait w = {
				.size = sizeof(w), .offset = off,
				.bitset = bits, .flags = SHMK_WAIT_TIMEOUT,
				.timeout_ns = 120 * NSEC,
			};

			_exit(shmk_ioctl(fd, SHMK_IOC_WAIT, &w) ? 1 : 0);
		}
	}
	return 0;
}

static int reap(const pid_t *pids, int n)
{
	int i, status, bad = 0;

	for (i = 0; i < n; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	return bad;
}

TEST_F_TIMEOUT(notify, wake_one_and_wake_all_are_exact, 300)
{
	pid_t pids[64];
	int i;

	ASSERT_EQ(0, spawn_waiters(self->fd, 0, SHMK_BITSET_ANY, pids, 64));
	ASSERT_EQ(0, all_sleeping(pids, 64));
	for (i = 0; i < 64; i++)
		ASSERT_EQ(1, shmk_wake(self->fd, 0, 1));
	EXPECT_EQ(0, shmk_wake(self->fd, 0, 1));
	EXPECT_EQ(0, reap(pids, 64));

	ASSERT_EQ(0, spawn_waiters(self->fd, 0, SHMK_BITSET_ANY, pids, 64));
	ASSERT_EQ(0, all_sleeping(pids, 64));
	EXPECT_EQ(0, shmk_wake(self->fd, 4, INT_MAX));
	EXPECT_EQ(64, shmk_wake(self->fd, 0, INT_MAX));
	EXPECT_EQ(0, shmk_wake(self->fd, 0, INT_MAX));
	EXPECT_EQ(0, reap(pids, 64));

	ASSERT_EQ(0, spawn_waiters(self->fd, 0, SHMK_BITSET_ANY, pids, 64));
	ASSERT_EQ(0, all_sleeping(pids, 64));
	EXPECT_EQ(10, shmk_wake(self->fd, 0, 10));
	EXPECT_EQ(54, shmk_wake(self->fd, 0, 100));
	EXPECT_EQ(0, reap(pids, 64));
}

TEST_F(notify, bitsets_select_waiters)
{
	struct shmk_wake k = { .size = sizeof(k), .count = INT_MAX };
	pid_t odd[1], even[1];

	ASSERT_EQ(0, spawn_waiters(self->fd, 8, 0x1, odd, 1));
	ASSERT_EQ(0, spawn_waiters(self->fd, 8, 0x2, even, 1));
	ASSERT_EQ(0, all_sleeping(odd, 1));
	ASSERT_EQ(0, all_sleeping(even, 1));
	k.offset = 8;
	k.bitset = 0x4;
	EXPECT_EQ(0, shmk_ioctl(self->fd, SHMK_IOC_WAKE, &k));
	k.bitset = 0x2;
	EXPECT_EQ(1, shmk_ioctl(self->fd, SHMK_IOC_WAKE, &k));
	EXPECT_EQ(0, reap(even, 1));
	EXPECT_TRUE(sleeping(odd[0]));
	k.bitset = 0x3;
	EXPECT_EQ(1, shmk_ioctl(self->fd, SHMK_IOC_WAKE, &k));
	EXPECT_EQ(0, reap(odd, 1));
}

/*
 * Two processes hand a turn back and forth through word 0: any lost
 * wakeup leaves one asleep until its timeout, and the test fails.
 * 200,000 round trips, or as many as 120 s allow on a slow or loaded
 * TCG guest, but at least 20,000: the bound is on time, not on the
 * check.  The stock kernel under TCG does 200,000 in ~36 s; the debug
 * lane's kernel (KASAN, lockdep) under TCG 700 to 1,600 a second, so
 * 120 s still give it 80,000 or more, and a guest slowed to a quarter of
 * that still passes the floor of 20,000.  Turn 2 tells the child to stop.
 */
TEST_F_TIMEOUT(notify, ping_pong_200k_round_trips, 600)
{
	const uint32_t rounds = 200000, at_least = 20000;
	const uint64_t budget = 120 * NSEC;
	_Atomic uint32_t *turn = self->mem;
	uint64_t t0 = now_ns();
	uint32_t i, t;
	int status;
	pid_t pid;

	*turn = 0;
	pid = fork();
	if (pid == 0) {
		for (;;) {
			while ((t = atomic_load(turn)) != 1) {
				int r;

				if (t == 2)
					_exit(0);
				r = shmk_wait(self->fd, 0, t, SHMK_WAIT_TIMEOUT,
					      30 * NSEC);
				if (r && r != -EAGAIN)
					_exit(1);
			}
			atomic_store(turn, 0);
			if (shmk_wake(self->fd, 0, 1) < 0)
				_exit(2);
		}
	}
	for (i = 0; i < rounds && now_ns() - t0 < budget; i++) {
		atomic_store(turn, 1);
		ASSERT_LE(0, shmk_wake(self->fd, 0, 1));
		while (atomic_load(turn) != 0) {
			int r = shmk_wait(self->fd, 0, 1, SHMK_WAIT_TIMEOUT,
					  30 * NSEC);
			ASSERT_TRUE(!r || r == -EAGAIN) TH_LOG("round %u: %d", i, r);
		}
	}
	atomic_store(turn, 2);
	ASSERT_LE(0, shmk_wake(self->fd, 0, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	TH_LOG("%u round trips in %.2f s", i, (now_ns() - t0) / 1e9);
	EXPECT_LE(at_least, i) TH_LOG("too slow to say anything");
}

/*
 * A waker races the waiter's 1 ms timeout: whenever WAKE reports a
 * waiter woken, that waiter must have returned 0, never -ETIMEDOUT.
 */
TEST_F_TIMEOUT(notify, waker_races_timeout, 300)
{
	_Atomic uint32_t *seq = &self->mem[16], *zeros = &self->mem[17];
	_Atomic uint32_t *done = &self->mem[18];
	const uint32_t rounds = 2000;
	uint32_t woke = 0, i;
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		for (i = 0; i < rounds; i++) {
			int r;

			/* Announce round i, then wait on word 0 briefly. */
			atomic_store(seq, i + 1);
			r = shmk_wait(self->fd, 0, 0, SHMK_WAIT_TIMEOUT,
				      1000 * 1000);
			if (r == 0)
				atomic_fetch_add(zeros, 1);
			else if (r != -ETIMEDOUT)
				_exit(1);
		}
		atomic_store(done, 1);
		_exit(0);
	}
	for (i = 0; i < rounds; i++) {
		while (atomic_load(seq) < i + 1 && !atomic_load(done))
			;
		/* Vary the delay so the wake lands around the timeout. */
		if (i % 4)
			usleep((i * 37) % 1500);
		woke += shmk_wake(self->fd, 0, 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	EXPECT_EQ(woke, atomic_load(zeros));
	TH_LOG("%u of %u waits were woken, the rest timed out", woke, rounds);
}

/*
 * Eight waiters (WAIT on one of four words, or WAITV on all four) and
 * two wakers hammer the same words: every wake WAKE reports must match
 * exactly one wait that returned woken.
 */
TEST_F_TIMEOUT(notify, exact_accounting_under_contention, 300)
{
	_Atomic uint32_t *woken = &self->mem[32], *reported = &self->mem[33];
	_Atomic uint32_t *running = &self->mem[34];
	const int waiters = 8, wakers = 2, rounds = 300;
	pid_t pids[10];
	int i, bad = 0, status;

	*running = waiters;
	for (i = 0; i < waiters + wakers; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i])
			continue;
		srand(getpid());
		if (i < waiters) {
			struct shmk_waitv_entry e[4];
			struct shmk_waitv v = {
				.size = sizeof(v), .entries = (uintptr_t)e,
				.nr = 4, .flags = SHMK_WAIT_TIMEOUT,
				.timeout_ns = 2000 * 1000,
			};
			int k, r;

			for (k = 0; k < 4; k++)
				e[k] = (struct shmk_waitv_entry){
					.offset = 4 * k, .bitset = SHMK_BITSET_ANY };
			for (k = 0; k < rounds; k++) {
				if (k & 1)
					r = shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v);
				else
					r = shmk_wait(self->fd, 4 * (k % 4), 0,
						      SHMK_WAIT_TIMEOUT, 2000 * 1000);
				if (r >= 0)
					atomic_fetch_add(woken, 1);
				else if (r != -ETIMEDOUT)
					_exit(1);
			}
			atomic_fetch_sub(running, 1);
			_exit(0);
		}
		while (atomic_load(running)) {
			int r = shmk_wake(self->fd, 4 * (rand() % 4),
					  1 + rand() % 3);

			if (r < 0)
				_exit(2);
			atomic_fetch_add(reported, r);
			if (rand() % 4 == 0)
				usleep(rand() % 500);
		}
		_exit(0);
	}
	for (i = 0; i < waiters + wakers; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] || status)
			bad++;
	EXPECT_EQ(0, bad);
	EXPECT_EQ(atomic_load(reported), atomic_load(woken));
	TH_LOG("%u wakes reported, %u waits woken, of %d",
	       atomic_load(reported), atomic_load(woken), waiters * rounds);
}

TEST_F(notify, waitv_reports_the_woken_word)
{
	struct shmk_waitv_entry e[SHMK_WAITV_MAX];
	struct shmk_waitv v = { .size = sizeof(v), .entries = (uintptr_t)e,
				.nr = SHMK_WAITV_MAX };
	int i, status;
	pid_t pid;

	for (i = 0; i < SHMK_WAITV_MAX; i++) {
		e[i].offset = 4096 * i + 4;
		e[i].expected = 0;
		e[i].bitset = SHMK_BITSET_ANY;
	}
	/* One word differs: nothing sleeps. */
	self->mem[(4096 * 9 + 4) / 4] = 1;
	EXPECT_EQ(-EAGAIN, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	self->mem[(4096 * 9 + 4) / 4] = 0;

	pid = fork();
	if (pid == 0)
		_exit(shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
	ASSERT_EQ(0, all_sleeping(&pid, 1));
	EXPECT_EQ(0, shmk_wake(self->fd, 4096 * 63, 1));
	EXPECT_EQ(1, shmk_wake(self->fd, 4096 * 41 + 4, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(41, WEXITSTATUS(status));
	/* The other 63 words were dequeued. */
	EXPECT_EQ(0, shmk_wake(self->fd, 4096 * 2 + 4, INT_MAX));

	v.flags = SHMK_WAIT_TIMEOUT;
	v.timeout_ns = 20 * 1000 * 1000;
	EXPECT_EQ(-ETIMEDOUT, shmk_ioctl(self->fd, SHMK_IOC_WAITV, &v));
}

struct closer {
	int fd;
	int ret;
	_Atomic pid_t tid;
};

static void *wait_thread(void *arg)
{
	struct closer *c = arg;

	atomic_store(&c->tid, gettid());
	c->ret = shmk_wait(c->fd, 0, 0, SHMK_WAIT_TIMEOUT, 60 * NSEC);
	return NULL;
}

/* Start a thread waiting on word 0 through c->fd, once it sleeps. */
static int start_waiter(pthread_t *t, struct closer *c)
{
	pid_t tid;

	if (pthread_create(t, NULL, wait_thread, c))
		return -1;
	while (!(tid = atomic_load(&c->tid)))
		usleep(1000);
	return all_sleeping(&tid, 1);
}

TEST_F(notify, close_by_another_thread_ends_the_wait)
{
	struct closer c = { 0 };
	pthread_t t;
	int other;

	/* A file of its own: the fixture's fd is another one. */
	c.fd = shmk_create(self->dev, "closeme", 1);
	ASSERT_GE(c.fd, 0);
	ASSERT_EQ(0, start_waiter(&t, &c));
	/* A second descriptor of the same file keeps the wait going... */
	other = dup(c.fd);
	ASSERT_EQ(0, close(c.fd));
	usleep(100000);
	EXPECT_TRUE(sleeping(c.tid));
	/* ... until it goes too. */
	ASSERT_EQ(0, close(other));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-EBADF, c.ret);
}

TEST_F(notify, child_exit_does_not_end_the_wait)
{
	struct closer c = { .fd = self->fd };
	pthread_t t;
	pid_t pid;

	ASSERT_EQ(0, start_waiter(&t, &c));
	/* A child closing its inherited copy is another files table. */
	pid = fork();
	if (pid == 0) {
		close(self->fd);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	usleep(100000);
	EXPECT_TRUE(sleeping(c.tid));
	EXPECT_EQ(1, shmk_wake(self->fd, 0, 1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, c.ret);
}

static void signal_handler(int sig)
{
}

TEST_F(notify, signal_interrupts_and_restarts)
{
	struct sigaction sa = { .sa_handler = signal_handler };
	struct closer c = { .fd = self->fd };
	pthread_t t;

	/* Without SA_RESTART and with a relative timeout: -EINTR. */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, start_waiter(&t, &c));
	ASSERT_EQ(0, pthread_kill(t, SIGUSR1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-EINTR, c.ret);
}

static void *wait_forever_thread(void *arg)
{
	struct closer *c = arg;

	atomic_store(&c->tid, gettid());
	c->ret = shmk_wait(c->fd, 0, 0, 0, 0);
	return NULL;
}

TEST_F(notify, sa_restart_resumes_an_unbounded_wait)
{
	struct sigaction sa = { .sa_handler = signal_handler,
				.sa_flags = SA_RESTART };
	struct closer c = { .fd = self->fd, .ret = 1 };
	pthread_t t;
	pid_t tid;

	ASSERT_EQ(0, sigaction(SIGUSR2, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, wait_forever_thread, &c));
	while (!(tid = atomic_load(&c.tid)))
		usleep(1000);
	ASSERT_EQ(0, all_sleeping(&tid, 1));
	ASSERT_EQ(0, pthread_kill(t, SIGUSR2));
	/* The handler ran and the wait went back to sleep. */
	usleep(100000);
	ASSERT_EQ(0, all_sleeping(&tid, 1));
	EXPECT_EQ(1, c.ret);
	EXPECT_EQ(1, shmk_wake(self->fd, 0, 1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, c.ret);
}

TEST_F(notify, watch_poll_and_ack)
{
	struct shmk_watch w = { .size = sizeof(w), .offset = 64,
				.bitset = SHMK_BITSET_ANY };
	struct pollfd p = { .fd = self->fd, .events = POLLIN };

	EXPECT_EQ(0, poll(&p, 1, 0));
	ASSERT_EQ(0, shmk_ioctl(self->fd, SHMK_IOC_WATCH, &w));
	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(0, shmk_wake(self->fd, 68, 1));
	EXPECT_EQ(0, poll(&p, 1, 0));
	/* A wake of count 0 signals nothing, watches included. */
	EXPECT_EQ(0, shmk_wake(self->fd, 64, 0));
	EXPECT_EQ(0, poll(&p, 1, 0));
	/* A watch is signalled but not counted: no task woke. */
	EXPECT_EQ(0, shmk_wake(self->fd, 64, 1));
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLIN, p.revents);
	/* It stays readable until acknowledged. */
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(1, shmk_ioctl(self->fd, SHMK_IOC_ACK, NULL));
	EXPECT_EQ(0, shmk_ioctl(self->fd, SHMK_IOC_ACK, NULL));
	EXPECT_EQ(0, poll(&p, 1, 0));
	/* A new watch replaces the old one. */
	w.offset = 128;
	ASSERT_EQ(0, shmk_ioctl(self->fd, SHMK_IOC_WATCH, &w));
	EXPECT_EQ(0, shmk_wake(self->fd, 64, INT_MAX));
	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(0, shmk_wake(self->fd, 128, INT_MAX));
	EXPECT_EQ(1, poll(&p, 1, 0));
}

TEST_F(notify, epoll_sees_a_wake_from_another_process)
{
	struct shmk_watch w = { .size = sizeof(w), .offset = 0,
				.bitset = SHMK_BITSET_ANY };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 };
	int ep = epoll_create1(EPOLL_CLOEXEC), status;
	pid_t pid;

	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, shmk_ioctl(self->fd, SHMK_IOC_WATCH, &w));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->fd, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		self->mem[0] = 1;
		/* The watch is signalled; it is not a task, so 0 woke. */
		_exit(shmk_wake(self->fd, 0, 1) == 0 ? 0 : 1);
	}
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 30000));
	EXPECT_EQ(7, ev.data.u32);
	EXPECT_EQ(EPOLLIN, ev.events);
	EXPECT_EQ(1, self->mem[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	close(ep);
}

TEST_F(notify, io_uring_waits_on_a_watch_and_a_socket)
{
	struct shmk_watch w = { .size = sizeof(w), .offset = 0,
				.bitset = SHMK_BITSET_ANY };
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int sv[2], seen = 0, i;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, shmk_ioctl(self->fd, SHMK_IOC_WATCH, &w));
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, self->fd, POLLIN);
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, sv[0], POLLIN);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(2, io_uring_submit(&ring));

	pid = fork();
	if (pid == 0) {
		usleep(20000);
		if (shmk_wake(self->fd, 0, 1) != 0)
			_exit(1);
		usleep(20000);
		_exit(write(sv[1], "x", 1) == 1 ? 0 : 2);
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		EXPECT_TRUE(cqe->res & POLLIN);
		seen |= 1 << io_uring_cqe_get_data64(cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
	EXPECT_EQ(6, seen);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	io_uring_queue_exit(&ring);
}

/* A file of its own on the fixture's region (which has no name). */
static int second_file(int dev, int *fd, const char *name)
{
	int a = shmk_create(dev, name, REGION);

	if (a < 0)
		return a;
	*fd = shmk_open_flags(dev, name, 0);
	shmk_unlink(dev, name);
	return a;
}

/*
 * Audit H1: a watch armed before a task waits must not take the task's
 * WAKE(1).  Watch through file A, wait through file B, WAKE(1): the task
 * wakes, WAKE says one task woke, and the watch is signalled as well.
 */
TEST_F(notify, watch_does_not_swallow_a_wake_of_one)
{
	struct shmk_watch w = { .size = sizeof(w), .offset = 0,
				.bitset = SHMK_BITSET_ANY };
	struct closer c = { 0 };
	int a, b;
	struct pollfd p;
	pthread_t t;

	a = second_file(self->dev, &b, "h1");
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	ASSERT_EQ(0, shmk_ioctl(a, SHMK_IOC_WATCH, &w));
	c.fd = b;
	ASSERT_EQ(0, start_waiter(&t, &c));
	/* The watch is queued ahead of the task. */
	EXPECT_EQ(1, shmk_wake(a, 0, 1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, c.ret);
	p = (struct pollfd){ .fd = a, .events = POLLIN };
	EXPECT_EQ(1, poll(&p, 1, 0));
	/* And again with the watch still pending: the next task wakes. */
	c = (struct closer){ .fd = b };
	ASSERT_EQ(0, start_waiter(&t, &c));
	EXPECT_EQ(1, shmk_wake(a, 0, 1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, c.ret);
	close(a);
	close(b);
}

#define NWATCH 64

struct timed {
	int fd;
	int ret;
	struct shmk_wait *w;
	_Atomic pid_t tid;
};

static void *timed_wait_thread(void *arg)
{
	struct timed *c = arg;

	atomic_store(&c->tid, gettid());
	c->ret = shmk_ioctl(c->fd, SHMK_IOC_WAIT, c->w);
	return NULL;
}

/* Start c->w in a thread and return once it sleeps. */
static int start_timed(pthread_t *t, struct timed *c)
{
	pid_t tid;

	if (pthread_create(t, NULL, timed_wait_thread, c))
		return -1;
	while (!(tid = atomic_load(&c->tid)))
		usleep(1000);
	return all_sleeping(&tid, 1);
}

/*
 * Audit M3 and H1: many watches on one word (one more with a bitset
 * that does not match, one on the next word) all see one WAKE(1), which
 * still wakes the one task queued after them, and reports that task.
 */
TEST_F(notify, one_wake_signals_every_watch_and_one_task)
{
	struct shmk_watch w = { .size = sizeof(w) };
	struct shmk_wake k = { .size = sizeof(k), .offset = 8, .count = 1,
			       .bitset = 0x1 };
	struct shmk_wait wt = { .size = sizeof(wt), .offset = 8,
				.bitset = 0x1, .flags = SHMK_WAIT_TIMEOUT,
				.timeout_ns = 60 * NSEC };
	struct pollfd p[NWATCH + 2];
	struct timed c = { .w = &wt };
	pthread_t t;
	int i, fd;

	fd = shmk_create(self->dev, "many", REGION);
	ASSERT_GE(fd, 0);
	for (i = 0; i < NWATCH + 2; i++) {
		p[i].fd = shmk_open_flags(self->dev, "many", SHMK_OPEN_RDONLY);
		ASSERT_GE(p[i].fd, 0);
		p[i].events = POLLIN;
		w.offset = i == NWATCH ? 12 : 8;
		w.bitset = i == NWATCH + 1 ? 0x2 : 0x1;
		ASSERT_EQ(0, shmk_ioctl(p[i].fd, SHMK_IOC_WATCH, &w));
	}
	ASSERT_EQ(0, shmk_unlink(self->dev, "many"));
	c.fd = fd;
	ASSERT_EQ(0, start_timed(&t, &c));
	EXPECT_EQ(1, shmk_ioctl(fd, SHMK_IOC_WAKE, &k));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, c.ret);
	EXPECT_EQ(NWATCH, poll(p, NWATCH + 2, 0));
	for (i = 0; i < NWATCH + 2; i++)
		EXPECT_EQ(i < NWATCH ? POLLIN : 0, p[i].revents);
	/* No task left: the next wake signals the watches, counts none. */
	EXPECT_EQ(0, shmk_ioctl(fd, SHMK_IOC_WAKE, &k));
	k.offset = 12;
	EXPECT_EQ(0, shmk_ioctl(fd, SHMK_IOC_WAKE, &k));
	EXPECT_EQ(NWATCH + 1, poll(p, NWATCH + 2, 0));
	EXPECT_EQ(0, p[NWATCH + 1].revents);
	for (i = 0; i < NWATCH + 2; i++)
		close(p[i].fd);
	close(fd);
}

/*
 * Watches on many words of a region, armed in a scrambled order, some
 * words watched twice: a wake of each word signals exactly its watches,
 * and closing or re-arming a watch takes it out.
 */
TEST_F(notify, watches_on_many_words_are_exact)
{
	enum { N = 96 };
	struct shmk_watch w = { .size = sizeof(w), .bitset = SHMK_BITSET_ANY };
	struct pollfd p[N];
	uint64_t off[N];
	int i, j, fd;

	fd = shmk_create(self->dev, "words", REGION);
	ASSERT_GE(fd, 0);
	for (i = 0; i < N; i++) {
		/* 37 is prime to N/2: a scrambled order of 48 words, twice. */
		off[i] = 4096 * ((i * 37) % (N / 2)) + 4 * (i % 3 == 0);
		p[i].fd = shmk_open_flags(self->dev, "words", 0);
		ASSERT_GE(p[i].fd, 0);
		p[i].events = POLLIN;
		w.offset = off[i];
		ASSERT_EQ(0, shmk_ioctl(p[i].fd, SHMK_IOC_WATCH, &w));
	}
	ASSERT_EQ(0, shmk_unlink(self->dev, "words"));
	for (i = 0; i < N; i++) {
		int want = 0;

		for (j = 0; j < N; j++) {
			if (off[j] == off[i])
				want++;
			ASSERT_EQ(0, shmk_ioctl(p[j].fd, SHMK_IOC_ACK, NULL) < 0);
		}
		EXPECT_EQ(0, shmk_wake(fd, off[i], INT_MAX));
		EXPECT_EQ(want, poll(p, N, 0)) TH_LOG("word %llu",
						      (unsigned long long)off[i]);
		for (j = 0; j < N; j++)
			EXPECT_EQ(off[j] == off[i] ? POLLIN : 0, p[j].revents);
	}
	/* Re-armed elsewhere, and closed: neither is signalled any more. */
	for (j = 0; j < N; j++)
		shmk_ioctl(p[j].fd, SHMK_IOC_ACK, NULL);
	w.offset = REGION - 4;
	ASSERT_EQ(0, shmk_ioctl(p[0].fd, SHMK_IOC_WATCH, &w));
	close(p[1].fd);
	p[1].fd = -1;
	EXPECT_EQ(0, shmk_wake(fd, off[0], INT_MAX));
	EXPECT_EQ(0, shmk_wake(fd, off[1], INT_MAX));
	/* Only the other watch of each of the two words. */
	EXPECT_EQ(2, poll(p, N, 0));
	EXPECT_EQ(POLLIN, p[N / 2].revents);
	EXPECT_EQ(POLLIN, p[N / 2 + 1].revents);
	EXPECT_EQ(0, shmk_wake(fd, REGION - 4, 1));
	EXPECT_EQ(3, poll(p, N, 0));
	EXPECT_EQ(POLLIN, p[0].revents);
	for (i = 0; i < N; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	close(fd);
}

/* Run c->w in a thread until it sleeps, send it @sig, collect it. */
static int interrupt_wait(struct timed *c, int sig)
{
	pthread_t t;

	if (start_timed(&t, c) || pthread_kill(t, sig))
		return -1;
	return pthread_join(t, NULL);
}

/*
 * Audit L2: a relative wait across SIGSTOP and SIGCONT (no handler
 * runs) is restarted, not failed with EINTR, and each restart sleeps
 * only for the time that remained: it times out after about 3 s, not
 * after 3 s more per stop.
 */
TEST_F_TIMEOUT(notify, relative_wait_survives_stop_and_continue, 120)
{
	struct { int ret; uint64_t ns; } res = { 1, 0 };
	int pfd[2], status, i;
	pid_t pid;

	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		uint64_t t0 = now_ns();

		res.ret = shmk_wait(self->fd, 0, 0, SHMK_WAIT_TIMEOUT,
				    3 * NSEC);
		res.ns = now_ns() - t0;
		_exit(write(pfd[1], &res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, all_sleeping(&pid, 1));
		usleep(800 * 1000);
		ASSERT_EQ(0, kill(pid, SIGSTOP));
		ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
		ASSERT_TRUE(WIFSTOPPED(status));
		usleep(100 * 1000);
		ASSERT_EQ(0, kill(pid, SIGCONT));
		ASSERT_EQ(pid, waitpid(pid, &status, WCONTINUED));
		ASSERT_TRUE(WIFCONTINUED(status));
	}
	ASSERT_EQ(sizeof(res), read(pfd[0], &res, sizeof(res)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	EXPECT_EQ(-ETIMEDOUT, res.ret);
	EXPECT_GE(res.ns, 3 * NSEC);
	/* A fresh 3 s per restart would end after 5 s at the earliest. */
	EXPECT_LT(res.ns, 4 * NSEC + NSEC / 2);
	TH_LOG("timed out after %.2f s", res.ns / 1e9);
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * A signal whose handler runs still ends a relative wait with EINTR,
 * and leaves the time that remained in timeout_ns (as select() does).
 */
TEST_F(notify, handler_signal_leaves_the_remaining_time)
{
	struct sigaction sa = { .sa_handler = signal_handler,
				.sa_flags = SA_RESTART };
	struct shmk_wait w = { .size = sizeof(w), .flags = SHMK_WAIT_TIMEOUT,
			       .bitset = SHMK_BITSET_ANY,
			       .timeout_ns = 60 * NSEC };
	struct timed c = { .fd = self->fd, .w = &w };

	/* Even SA_RESTART does not restart a relative wait. */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, interrupt_wait(&c, SIGUSR1));
	EXPECT_EQ(-EINTR, c.ret);
	EXPECT_EQ(SHMK_WAIT_TIMEOUT, w.flags);
	EXPECT_GT(w.timeout_ns, 0);
	EXPECT_LT(w.timeout_ns, 60 * NSEC);
	TH_LOG("%.3f s of 60 s left", w.timeout_ns / 1e9);
}

/* An absolute or unbounded wait's struct is never written. */
TEST_F(notify, handler_signal_leaves_an_absolute_wait_alone)
{
	struct sigaction sa = { .sa_handler = signal_handler };
	uint64_t deadline = now_ns() + 60 * NSEC;
	struct shmk_wait w = { .size = sizeof(w),
			       .flags = SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME,
			       .bitset = SHMK_BITSET_ANY,
			       .timeout_ns = deadline };
	struct timed c = { .fd = self->fd, .w = &w };

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, interrupt_wait(&c, SIGUSR1));
	EXPECT_EQ(-EINTR, c.ret);
	EXPECT_EQ(deadline, w.timeout_ns);
	EXPECT_EQ(SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME, w.flags);
}

/* A relative wait whose struct cannot be written falls back to EINTR. */
TEST_F(notify, read_only_struct_gives_eintr)
{
	struct sigaction sa = { .sa_handler = signal_handler };
	struct shmk_wait *w;
	struct timed c = { .fd = self->fd };

	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, w);
	*w = (struct shmk_wait){ .size = sizeof(*w), .flags = SHMK_WAIT_TIMEOUT,
				 .bitset = SHMK_BITSET_ANY,
				 .timeout_ns = 60 * NSEC };
	ASSERT_EQ(0, mprotect(w, 4096, PROT_READ));
	c.w = w;
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, interrupt_wait(&c, SIGUSR1));
	EXPECT_EQ(-EINTR, c.ret);
	EXPECT_EQ(60 * NSEC, w->timeout_ns);
	munmap(w, 4096);
}

static void *timed_waitv_thread(void *arg)
{
	struct timed *c = arg;

	atomic_store(&c->tid, gettid());
	c->ret = shmk_ioctl(c->fd, SHMK_IOC_WAITV, c->w);
	return NULL;
}

/* WAITV leaves the remaining time too. */
TEST_F(notify, waitv_handler_signal_leaves_the_remaining_time)
{
	struct sigaction sa = { .sa_handler = signal_handler };
	struct shmk_waitv_entry e[2] = {
		{ .offset = 0, .bitset = SHMK_BITSET_ANY },
		{ .offset = 4, .bitset = SHMK_BITSET_ANY },
	};
	struct shmk_waitv v = { .size = sizeof(v), .flags = SHMK_WAIT_TIMEOUT,
				.entries = (uintptr_t)e, .nr = 2,
				.timeout_ns = 60 * NSEC };
	struct timed c = { .fd = self->fd, .w = (struct shmk_wait *)&v };
	pthread_t t;
	pid_t tid;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, timed_waitv_thread, &c));
	while (!(tid = atomic_load(&c.tid)))
		usleep(1000);
	ASSERT_EQ(0, all_sleeping(&tid, 1));
	ASSERT_EQ(0, pthread_kill(t, SIGUSR1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-EINTR, c.ret);
	EXPECT_GT(v.timeout_ns, 0);
	EXPECT_LT(v.timeout_ns, 60 * NSEC);
}

/*
 * Audit L1: the waker punches the word's page out (MADV_REMOVE) before
 * each store, so a waiter that read the word in the old page would
 * sleep through the wake.  A lost wakeup shows as a 10 s timeout.  The
 * window is a few instructions wide, so this is a bounded stress test.
 */
TEST_F_TIMEOUT(notify, hole_punch_races_wait_and_wake, 300)
{
	const uint64_t region = 2 * REGION, word = REGION + 64;
	_Atomic uint32_t *mem, *turn;
	uint64_t end = now_ns() + 3 * NSEC;
	uint32_t rounds = 0;
	int fd, status;
	pid_t pid;

	fd = shmk_create(self->dev, "punch", region);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_unlink(self->dev, "punch"));
	mem = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	turn = mem + word / 4;
	*turn = 2;
	mem[0] = 0;
	mem[1] = 0;
	pid = fork();
	ASSERT_GE(pid, 0);
	/* The child plays 1s, the parent 2s; each punches, then passes. */
	for (;;) {
		uint32_t me = pid ? 2 : 1, v;
		int r;

		while ((v = atomic_load(turn)) != me && !mem[0]) {
			r = shmk_wait(fd, word, v, SHMK_WAIT_TIMEOUT,
				      10 * NSEC);
			if (r && r != -EAGAIN) {
				mem[1] = -r;
				mem[0] = 2;
				if (!pid)
					_exit(1);
			}
		}
		if (mem[0])
			break;
		if (pid && now_ns() > end) {
			mem[0] = 1;
			shmk_wake(fd, word, INT_MAX);
			break;
		}
		rounds++;
		if (madvise((char *)mem + REGION, REGION, MADV_REMOVE))
			mem[0] = 3;
		atomic_store(turn, 3 - me);
		shmk_wake(fd, word, 1);
	}
	if (!pid)
		_exit(mem[0] == 1 ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	EXPECT_EQ(1, mem[0]);
	/* A lost wakeup is a WAIT that timed out: ETIMEDOUT. */
	EXPECT_EQ(0, mem[1]);
	TH_LOG("%u hand-overs, each after a hole punch", rounds);
	munmap((void *)mem, region);
	close(fd);
}

TEST_HARNESS_MAIN
