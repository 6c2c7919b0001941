// SPDX-License-Identifier: GPL-2.0
/*
 * shmk hostile-caller selftest: a kill storm.
 *
 * Each round forks participants (children, some with grandchildren) that
 * open a shared "board" region, register death notices on it
 * (SHMK_IOC_ON_RELEASE), create regions of their own (some persistent,
 * some in a new IPC namespace), map and write them, WATCH and poll, and
 * block in WAIT or WAITV (some forever), and SIGKILLs them at random
 * moments (seeded delays in microseconds): the child first, its process
 * group (the grandchildren) a little later.  The test is a subreaper, so
 * every participant is reaped, within a bounded time: a participant that
 * SIGKILL cannot end is a hang, reported with the seed.
 *
 * The death notices are checked exactly, every round.  Participant p
 * registers "write TAG(round, p) into slot p, then increment the
 * counter" on a board file of its own, and records in memory shared with
 * the test where it stands: about to register, registered (the ioctl
 * returned), about to clear, cleared.  Half the notices are conditional
 * (SHMK_ON_RELEASE_CMPXCHG, expecting the 0 the slot holds all round),
 * and must land just as the unconditional ones do.  Once all are reaped:
 *  - a slot holds 0 or its own tag, nothing else;
 *  - a participant that had registered (and not started clearing) has
 *    its tag in its slot; one that never registered, or had cleared,
 *    has 0;
 *  - the counter moved by exactly the number of slots written, no
 *    more, no less (the test, which registered nothing, sees it by
 *    waiting on the counter);
 *  - the test's WATCH on the counter fired if and only if it moved.
 *
 * Afterwards no name is listed, Shmem is back at its baseline and the
 * module's refcnt is 0, so that rmmod (unload_test, which runs after
 * this test) can succeed.
 *
 * Environment: SHMK_KILLSTORM_SEED (default: from the clock, printed),
 * SHMK_KILLSTORM_ROUNDS (default 1000), SHMK_KILLSTORM_WAIT_MS (how long
 * to wait for a participant to reach the stage it is to be killed at,
 * default 15; a slower kernel needs more for its kills to land late).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

#define MiB (1024ULL * 1024)
#define NSEC 1000000000ULL
#define BOARD (2 * MiB)
#define COUNTER 0		/* the death-notice counter */
#define SCRATCH 256		/* 64 words the participants wait on and write */
#define SLOTS 4096		/* one word per participant */
#define NCHILD 2		/* children per round, at most */
#define NGRAND 2		/* grandchildren per child, at most */
#define NPART (NCHILD * (1 + NGRAND))
#define REAP_DEADLINE_MS 20000
#define SETTLE_MS 5000
#define SHMEM_SLACK_KB 512

/* Where a participant stands, in memory shared with the test. */
enum { ST_NONE, ST_REGISTERING, ST_REGISTERED, ST_CLEARING, ST_CLEARED };

struct ks_shared {
	_Atomic uint32_t state[NPART];
	_Atomic uint32_t stage[NPART];	/* how far it got, 0..STAGES */
	_Atomic unsigned long registered, cleared, blocked, created, grand;
};

static uint32_t ks_tag(unsigned long round, int p)
{
	return 0x80000000U | (uint32_t)(round << 4) | (uint32_t)p;
}

static uint64_t ks_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

/*
 * With @mask, a conditional notice expecting the 0 the slot holds all
 * round long: it must land exactly as an unconditional one does.
 */
static int ks_on_release(int fd, uint64_t slot, uint32_t value,
			 uint64_t counter, uint32_t flags, uint32_t mask)
{
	struct shmk_on_release r = {
		.size = sizeof(r), .flags = flags, .slot_offset = slot,
		.slot_value = value, .counter_offset = counter, .mask = mask,
	};

	if (mask)
		r.flags |= SHMK_ON_RELEASE_CMPXCHG;

	return shmk_ioctl(fd, SHMK_IOC_ON_RELEASE, &r);
}

#define R(n) shmk_rand_below(&rng, (n))
#define COIN(n) (R(n) == 0)

#define STAGES 6

/* A participant reached its next stage; maybe it dawdles a little. */
static void ks_stage(unsigned long long *state, struct ks_shared *sh, int p)
{
	unsigned long long rng = *state;

	atomic_fetch_add(&sh->stage[p], 1);
	if (COIN(4))
		usleep(R(200));
	*state = rng;
}

/*
 * A participant's life, until it is killed (or, now and then, exits).
 * @p is its index, @grand its grandchildren's first index (0: none).
 */
static void ks_participant(unsigned long long rng, struct ks_shared *sh,
			   unsigned long round, int p, int grand)
{
	struct shmk_waitv_entry ents[4];
	struct shmk_waitv wv = { .size = sizeof(wv), .nr = 4,
				 .entries = (uintptr_t)ents };
	struct shmk_watch wt = { .size = sizeof(wt),
				 .bitset = SHMK_BITSET_ANY };
	volatile uint32_t *board, *own;
	char name[SHMK_NAME_MAX];
	struct pollfd pfd;
	int dev, b, fd, i, g;
	pid_t pid;

again:	/* a grandchild starts over here, as participant @p */
	board = MAP_FAILED;
	own = MAP_FAILED;
	fd = -1;
	/* Children die with the test; grandchildren may outlive a child. */
	if (grand)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	dev = shmk_dev();
	if (dev < 0)
		_exit(0);
	/* Its own board file: a death notice belongs to one open file. */
	b = shmk_open_flags(dev, "board", 0);
	ks_stage(&rng, sh, p);
	if (b >= 0 && !COIN(4)) {
		atomic_store(&sh->state[p], ST_REGISTERING);
		if (!ks_on_release(b, SLOTS + 4 * p, ks_tag(round, p), COUNTER, 0,
				   COIN(2) ? 0xffffffffU : 0)) {
			atomic_store(&sh->state[p], ST_REGISTERED);
			atomic_fetch_add(&sh->registered, 1);
		}
		ks_stage(&rng, sh, p);
		if (COIN(4))	/* the same again: it replaces itself */
			ks_on_release(b, SLOTS + 4 * p, ks_tag(round, p),
				      COUNTER, 0, COIN(2) ? 0xffffffffU : 0);
		if (COIN(8)) {
			atomic_store(&sh->state[p], ST_CLEARING);
			if (!ks_on_release(b, 0, 0, 0, SHMK_ON_RELEASE_CLEAR, 0)) {
				atomic_store(&sh->state[p], ST_CLEARED);
				atomic_fetch_add(&sh->cleared, 1);
			}
		}
	}
	if (b >= 0)
		board = mmap(NULL, BOARD, PROT_READ | PROT_WRITE, MAP_SHARED,
			     b, 0);
	ks_stage(&rng, sh, p);

	/* A region of its own; persistent ones are unlinked by the test. */
	snprintf(name, sizeof(name), "ks-%lu-%d", round, p);
	fd = shmk_create_flags(dev, name, 2 * MiB * (1 + R(2)), 0600,
			       COIN(3) ? SHMK_CREATE_PERSIST : 0);
	if (fd >= 0) {
		atomic_fetch_add(&sh->created, 1);
		own = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			   fd, 0);
		/* Each first touch zeroes a 2 MiB page: slow under TCG. */
		if (own != MAP_FAILED && COIN(4))
			own[R(512)] = round;
		if (COIN(6))
			ks_on_release(fd, 64, p, 128, 0, 0);
	}
	ks_stage(&rng, sh, p);

	/* Grandchildren share its files (and so delay their release). */
	for (g = 0; grand && g < NGRAND; g++) {
		if (!COIN(3))
			continue;
		unsigned long long seed = shmk_rand(&rng);

		pid = fork();
		if (pid == 0) {
			if (COIN(2) && b >= 0)
				close(b);
			rng = seed;
			p = grand + g;
			grand = 0;
			goto again;
		}
		if (pid > 0)
			atomic_fetch_add(&sh->grand, 1);
	}

	/* Persistent regions in a namespace that dies with us. */
	if (COIN(5) && !unshare(CLONE_NEWIPC)) {
		int nfd = shmk_create_flags(dev, "ks-ns", 2 * MiB, 0600,
					    SHMK_CREATE_PERSIST);

		if (nfd >= 0) {
			volatile uint32_t *m = mmap(NULL, 2 * MiB,
						    PROT_READ | PROT_WRITE,
						    MAP_SHARED, nfd, 0);

			if (m != MAP_FAILED)
				m[0] = 1;
			if (COIN(2))
				close(nfd);
		}
	}
	ks_stage(&rng, sh, p);

	if (board != MAP_FAILED) {
		/* Wake a sibling now and then (never the counter). */
		i = R(64);
		board[SCRATCH / 4 + i]++;
		shmk_wake(b, SCRATCH + 4 * i, COIN(2) ? 1 : INT_MAX);
	}
	if (COIN(10))
		_exit(0);

	atomic_fetch_add(&sh->stage[p], 1);
	atomic_fetch_add(&sh->blocked, 1);
	i = R(64);
	switch (b < 0 ? 5 : R(6)) {
	case 0:		/* WAIT forever */
		for (;;)
			shmk_wait(b, SCRATCH + 4 * i, board == MAP_FAILED ? 0 :
				  board[SCRATCH / 4 + i], 0, 0);
	case 1:		/* WAITV forever, on scratch words and the counter */
		for (;;) {
			for (g = 0; g < 4; g++) {
				ents[g].offset = g == 3 ? COUNTER :
						 SCRATCH + 4 * ((i + g) % 64);
				ents[g].expected = board == MAP_FAILED ? 0 :
						   board[ents[g].offset / 4];
				ents[g].bitset = SHMK_BITSET_ANY;
			}
			shmk_ioctl(b, SHMK_IOC_WAITV, &wv);
		}
	case 2:		/* short timed waits, over and over */
		for (;;)
			shmk_wait(b, SCRATCH + 4 * i, 0, SHMK_WAIT_TIMEOUT,
				  R(2000000));
	case 3:		/* WATCH and poll forever */
		wt.offset = SCRATCH + 4 * i;
		shmk_ioctl(b, SHMK_IOC_WATCH, &wt);
		pfd.fd = b;
		pfd.events = POLLIN;
		for (;;) {
			poll(&pfd, 1, -1);
			shmk_ioctl(b, SHMK_IOC_ACK, NULL);
		}
	case 4:		/* WAIT forever on its own region */
		if (fd >= 0)
			for (;;)
				shmk_wait(fd, 4, own == MAP_FAILED ? 0 : own[1],
					  0, 0);
		/* fall through */
	default:
		for (;;)
			pause();
	}
}

/* Print what the tasks whose parent is us are doing, and kill them. */
static void ks_dump_and_kill(void)
{
	char path[64], buf[512], wchan[64];
	struct dirent *d;
	DIR *dir = opendir("/proc");
	FILE *f;
	int n;

	while (dir && (d = readdir(dir))) {
		int pid = atoi(d->d_name), ppid = 0;
		char state = '?';

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			char *e = strrchr(buf, ')');

			if (e)
				sscanf(e + 2, "%c %d", &state, &ppid);
		}
		fclose(f);
		if (ppid != getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
		wchan[0] = 0;
		f = fopen(path, "r");
		if (f) {
			n = fread(wchan, 1, sizeof(wchan) - 1, f);
			wchan[n > 0 ? n : 0] = 0;
			fclose(f);
		}
		fprintf(stderr, "# killstorm: pid %d state %c wchan %s\n",
			pid, state, wchan);
		kill(pid, SIGKILL);
	}
	if (dir)
		closedir(dir);
}

static void ks_alarm(int sig)
{
	(void)sig;
}

/*
 * Reap every descendant (we are their subreaper); -1 when some remain
 * past the deadline.  waitpid() blocks; an alarm without SA_RESTART
 * ends it at the deadline.
 */
static int ks_reap_all(int *crashed)
{
	struct itimerval it = {
		.it_value = { REAP_DEADLINE_MS / 1000, 0 },
	};
	struct sigaction sa = { .sa_handler = ks_alarm };
	int status, ret = 0;
	pid_t p;

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (;;) {
		p = waitpid(-1, &status, 0);
		if (p > 0) {
			if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
				(*crashed)++;
			if (WIFEXITED(status) && WEXITSTATUS(status))
				(*crashed)++;
			continue;
		}
		if (errno != ECHILD)
			ret = -1;
		break;
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	return ret;
}

FIXTURE(killstorm) {
	long shmem_kb;
	long refcnt;
	int dev;
	int board;
	int watch;
	_Atomic uint32_t *mem;
	struct ks_shared *sh;
};

FIXTURE_SETUP(killstorm)
{
	struct shmk_watch wt = { .size = sizeof(wt), .offset = COUNTER,
				 .bitset = SHMK_BITSET_ANY };

	if (access(SHMK_DEVICE_PATH, R_OK | W_OK))
		SKIP(return, "no %s (module not loaded)", SHMK_DEVICE_PATH);
	self->board = self->watch = -1;
	self->mem = MAP_FAILED;
	/* Our own IPC namespace, so that LIST shows only what we made. */
	ASSERT_EQ(0, unshare(CLONE_NEWIPC));
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	self->refcnt = shmk_refcnt();
	self->shmem_kb = meminfo_kb("Shmem:");
	ASSERT_LE(0, self->shmem_kb);
	self->dev = shmk_dev();
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, shmk_count(self->dev));
	self->board = shmk_create(self->dev, "board", BOARD);
	ASSERT_LE(0, self->board);
	self->watch = shmk_open_flags(self->dev, "board", SHMK_OPEN_RDONLY);
	ASSERT_LE(0, self->watch);
	ASSERT_EQ(0, shmk_ioctl(self->watch, SHMK_IOC_WATCH, &wt));
	self->mem = mmap(NULL, BOARD, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->board, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	self->sh = mmap(NULL, sizeof(*self->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
}

FIXTURE_TEARDOWN(killstorm)
{
	if (self->mem != MAP_FAILED)
		munmap((void *)self->mem, BOARD);
	if (self->watch >= 0)
		close(self->watch);
	if (self->board >= 0)
		close(self->board);
}

/*
 * Check round @round's death notices once every participant is reaped:
 * returns 0, or -1 after SETTLE_MS with the mismatch in @why.
 */
static int ks_check_round(struct __test_metadata *_metadata,
			  FIXTURE_DATA(killstorm) *self, unsigned long round,
			  const int *used, uint32_t c0, char *why, size_t len)
{
	uint64_t deadline = ks_now_ns() + SETTLE_MS * 1000000ULL;
	uint32_t c, s, nset;
	int p, st, bad;

	for (;;) {
		c = self->mem[COUNTER / 4];
		nset = 0;
		bad = 0;
		for (p = 0; p < NPART; p++) {
			s = self->mem[SLOTS / 4 + p];
			st = atomic_load(&self->sh->state[p]);
			if (s && s != ks_tag(round, p)) {
				snprintf(why, len, "slot %d holds %#x, not 0 or %#x",
					 p, s, ks_tag(round, p));
				return -1;
			}
			if (s && (!used[p] || st == ST_NONE || st == ST_CLEARED)) {
				snprintf(why, len, "slot %d written, state %d, used %d",
					 p, st, used[p]);
				return -1;
			}
			if (!s && st == ST_REGISTERED)
				bad = 1;	/* not (yet) written */
			nset += !!s;
		}
		if (!bad && c - c0 == nset)
			return 0;
		/*
		 * A release writes the slot before the counter, and the
		 * counter is read first: more increments than written slots
		 * is never a transient state.
		 */
		if (c - c0 > nset) {
			snprintf(why, len, "counter moved %u, %u slots written",
				 c - c0, nset);
			return -1;
		}
		if (ks_now_ns() > deadline) {
			snprintf(why, len,
				 "after %d ms: counter moved %u, %u slots written%s",
				 SETTLE_MS, c - c0, nset,
				 bad ? ", a registered participant's slot is empty" : "");
			return -1;
		}
		/* The survivor's view: sleep on the counter until it moves. */
		shmk_wait(self->board, COUNTER, c, SHMK_WAIT_TIMEOUT, 50000000);
	}
}

TEST_F_TIMEOUT(killstorm, random_kills, 7200)
{
	unsigned long long seed = shmk_env_ull("SHMK_KILLSTORM_SEED", 0);
	unsigned long rounds = shmk_env_ull("SHMK_KILLSTORM_ROUNDS", 1000);
	uint64_t wait_ns = shmk_env_ull("SHMK_KILLSTORM_WAIT_MS", 15) * 1000000;
	unsigned long long rng;
	unsigned long round, kills = 0, moved = 0;
	uint64_t t0 = ks_now_ns(), t, tf = 0, tk = 0, tr = 0, tc = 0;
	long shmem_kb, refcnt;
	int crashed = 0, used[NPART], i, g, n, fired;
	unsigned long at_stage[STAGES + 1] = { 0 };
	char why[160];
	pid_t kids[NCHILD];
	uint32_t c0;

	if (!seed)
		seed = (ks_now_ns() ^ getpid()) | 1;
	rng = seed;
	TH_LOG("seed %llu, %lu rounds, stages waited for up to %llu ms (SHMK_KILLSTORM_SEED, SHMK_KILLSTORM_ROUNDS, SHMK_KILLSTORM_WAIT_MS)",
	       seed, rounds, (unsigned long long)(wait_ns / 1000000));

	for (round = 0; round < rounds; round++) {
		memset(used, 0, sizeof(used));
		for (i = 0; i < NPART; i++) {
			self->mem[SLOTS / 4 + i] = 0;
			atomic_store(&self->sh->state[i], ST_NONE);
			atomic_store(&self->sh->stage[i], 0);
		}
		c0 = self->mem[COUNTER / 4];
		n = 1 + R(NCHILD);
		t = ks_now_ns();
		for (i = 0; i < n; i++) {
			unsigned long long ps = shmk_rand(&rng);
			int grand = NCHILD + i * NGRAND;

			used[i] = 1;
			for (g = 0; g < NGRAND; g++)
				used[grand + g] = 1;
			kids[i] = fork();
			ASSERT_LE(0, kids[i]);
			if (kids[i] == 0) {
				setpgid(0, 0);
				ks_participant(ps, self->sh, round, i, grand);
			}
			setpgid(kids[i], kids[i]);
		}
		tf += ks_now_ns() - t;
		t = ks_now_ns();
		/*
		 * Random moments: a child is killed after a random delay in
		 * microseconds, or once it reached a random stage of its life
		 * (waiting SHMK_KILLSTORM_WAIT_MS at most) plus such a delay;
		 * its group (the
		 * grandchildren) a little later.
		 */
		for (i = 0; i < n; i++) {
			uint32_t target = COIN(2) ? 0 : 1 + R(STAGES);
			uint64_t until = ks_now_ns() + wait_ns;

			while (atomic_load(&self->sh->stage[i]) < target &&
			       ks_now_ns() < until)
				usleep(100);
			usleep(target ? R(500) : R(3000));
			kill(kids[i], SIGKILL);
			at_stage[atomic_load(&self->sh->stage[i]) % (STAGES + 1)]++;
			kills++;
			if (COIN(2))
				usleep(R(1000));
			kill(-kids[i], SIGKILL);
		}
		tk += ks_now_ns() - t;
		t = ks_now_ns();
		if (ks_reap_all(&crashed)) {
			ks_dump_and_kill();
			ASSERT_EQ(0, ks_reap_all(&crashed))
				TH_LOG("seed %llu round %lu: a participant outlived SIGKILL",
				       seed, round);
			ASSERT_TRUE(0)
				TH_LOG("seed %llu round %lu: participants took over %d ms to die after SIGKILL",
				       seed, round, REAP_DEADLINE_MS);
		}
		tr += ks_now_ns() - t;
		t = ks_now_ns();
		ASSERT_EQ(0, crashed)
			TH_LOG("seed %llu round %lu: a participant crashed", seed,
			       round);
		ASSERT_EQ(0, ks_check_round(_metadata, self, round, used, c0,
					    why, sizeof(why)))
			TH_LOG("seed %llu round %lu: %s", seed, round, why);
		/* The watch fired if and only if the counter moved. */
		fired = shmk_ioctl(self->watch, SHMK_IOC_ACK, NULL);
		ASSERT_EQ(self->mem[COUNTER / 4] != c0, fired)
			TH_LOG("seed %llu round %lu: counter %u -> %u, watch pending %d",
			       seed, round, c0, self->mem[COUNTER / 4], fired);
		moved += self->mem[COUNTER / 4] - c0;
		/* Persistent names the participants left: unlink them. */
		ASSERT_LE(0, shmk_unlink_all_but(self->dev, "board"));
		ASSERT_EQ(1, shmk_count(self->dev))
			TH_LOG("seed %llu round %lu", seed, round);
		tc += ks_now_ns() - t;
		/* Long runs (the debug lane) show that they move. */
		if (round % 250 == 249)
			TH_LOG("seed %llu: %lu rounds, %.1f s", seed, round + 1,
			       (ks_now_ns() - t0) / 1e9);
	}
	TH_LOG("time: %.1f s forking, %.1f s until the kills, %.1f s reaping, %.1f s checking; children killed at stage 0..%d: %lu %lu %lu %lu %lu %lu %lu",
	       tf / 1e9, tk / 1e9, tr / 1e9, tc / 1e9, STAGES, at_stage[0],
	       at_stage[1], at_stage[2], at_stage[3], at_stage[4],
	       at_stage[5], at_stage[6]);
	TH_LOG("seed %llu: %lu rounds, %lu children and %lu grandchildren killed, %lu notices registered (%lu cleared), %lu fired, %lu blocked, %lu regions created, %.1f s",
	       seed, rounds, kills, atomic_load(&self->sh->grand),
	       atomic_load(&self->sh->registered),
	       atomic_load(&self->sh->cleared), moved,
	       atomic_load(&self->sh->blocked),
	       atomic_load(&self->sh->created), (ks_now_ns() - t0) / 1e9);

	ASSERT_EQ(0, shmk_unlink(self->dev, "board"));
	munmap((void *)self->mem, BOARD);
	self->mem = MAP_FAILED;
	close(self->watch);
	self->watch = -1;
	close(self->board);
	self->board = -1;
	EXPECT_EQ(0, shmk_count(self->dev));
	close(self->dev);
	/* Nothing holds the module: rmmod (unload_test, later) can work. */
	EXPECT_EQ(0, shmk_settle(self->shmem_kb, SHMEM_SLACK_KB, 0, 10000,
				 &shmem_kb, &refcnt))
		TH_LOG("Shmem %ld kB (baseline %ld), refcnt %ld (0 wanted, %ld at the start)",
		       shmem_kb, self->shmem_kb, refcnt, self->refcnt);
}

TEST_HARNESS_MAIN
