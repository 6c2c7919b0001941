// SPDX-License-Identifier: GPL-2.0
/*
 * shmk race selftests: CREATE(PERSIST) against UNLINK of the same name
 * (audit finding C1).  Before the fix, CREATE re-read r->persist after
 * publishing the name; an UNLINK in that window dropped the name's
 * reference and CREATE dropped it a second time, freeing the region
 * under the new fd (use-after-free).
 *
 * The tests are bounded in time (SHMK_RACE_SECONDS, default 4) and look
 * for the damage three ways: INFO reporting garbage, the kernel log
 * gaining a report (KASAN, slub_debug poison, BUG, general protection
 * fault), and Shmem not returning to its baseline.  Boot the guest with
 * slub_debug=FZPU (or use the debug-kernel lane) to catch the free at
 * once; preempt=full makes the second test deterministic.  Run as root
 * inside the guest with shmk.ko loaded.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <time.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

#define MiB (1024ULL * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double race_seconds(void)
{
	const char *s = getenv("SHMK_RACE_SECONDS");

	return s ? atof(s) : 4.0;
}

/* A /dev/kmsg reader positioned at the end of the log. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Count kernel log records since kmsg_open() that report memory damage. */
static int kmsg_reports(int fd, struct __test_metadata *_metadata)
{
	static const char *const bad[] = {
		"BUG", "KASAN", "KFENCE", "Poison overwritten",
		"Object already free", "general protection fault", "Oops",
		"refcount_t", "WARNING:",
	};
	char rec[8192];
	int found = 0;
	ssize_t n;
	size_t i;

	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		rec[n] = 0;
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strstr(rec, bad[i])) {
				TH_LOG("kernel: %s", strchr(rec, ';') ?
				       strchr(rec, ';') + 1 : rec);
				found++;
				break;
			}
	}
	return found;
}

struct race {
	int dev;
	double until;
	int cpu;		/* pin both threads here when >= 0 */
	int fifo;		/* the unlinker runs SCHED_FIFO */
	atomic_long created, unlinked, bad_info, bad_mmap;
	char bad[256];
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Thread A: create(PERSIST), INFO, mmap, write, munmap, close. */
static void *creator(void *arg)
{
	struct race *rc = arg;
	struct shmk_region_info info;

	unsigned long n = 0;

	pin(rc->cpu);
	while (now_s() < rc->until) {
		int fd = shmk_create_flags(rc->dev, "race", 1, 0600,
					   SHMK_CREATE_PERSIST);
		char *p;

		if (fd < 0)
			continue;	/* EEXIST until the unlinker runs */
		atomic_fetch_add(&rc->created, 1);
		if (shmk_info(fd, &info) || info.bytes != 2 * MiB ||
		    info.mode != 0600 || strcmp(info.name, "race") ||
		    (info.flags & ~(SHMK_INFO_PERSIST | SHMK_INFO_UNLINKED))) {
			if (!atomic_fetch_add(&rc->bad_info, 1))
				snprintf(rc->bad, sizeof(rc->bad),
					 "INFO: bytes %llu mode %o flags %#x name %.16s",
					 (unsigned long long)info.bytes,
					 info.mode, info.flags, info.name);
		}
		/* Touching 2 MiB is slow under TCG: map one round in 8. */
		if (n++ % 8) {
			close(fd);
			continue;
		}
		p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED) {
			atomic_fetch_add(&rc->bad_mmap, 1);
		} else {
			p[0] = 1;
			p[2 * MiB - 1] = 2;
			munmap(p, 2 * MiB);
		}
		close(fd);
	}
	return NULL;
}

/* Thread B: unlink the name as fast as it can (or every few us). */
static void *unlinker(void *arg)
{
	struct race *rc = arg;
	struct timespec nap = { 0, 20000 };

	pin(rc->cpu);
	if (rc->fifo) {
		struct sched_param sp = { .sched_priority = 1 };

		pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	}
	while (now_s() < rc->until) {
		if (!shmk_unlink(rc->dev, "race"))
			atomic_fetch_add(&rc->unlinked, 1);
		if (rc->fifo)
			nanosleep(&nap, NULL);
	}
	return NULL;
}

static void run_race(struct __test_metadata *_metadata, int cpu, int fifo)
{
	struct race rc = { .cpu = cpu, .fifo = fifo };
	long base = meminfo_kb("Shmem:"), after = -1;
	int kmsg = kmsg_open(), reports, i;
	pthread_t a, b;

	rc.dev = shmk_dev();
	ASSERT_GE(rc.dev, 0);
	rc.until = now_s() + race_seconds();
	ASSERT_EQ(0, pthread_create(&a, NULL, creator, &rc));
	ASSERT_EQ(0, pthread_create(&b, NULL, unlinker, &rc));
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	shmk_unlink(rc.dev, "race");

	/* Deferred fputs run a moment later. */
	for (i = 0; i < 100; i++) {
		after = meminfo_kb("Shmem:");
		if (after <= base + 1024 && !shmk_count(rc.dev))
			break;
		usleep(10000);
	}
	reports = kmsg_reports(kmsg, _metadata);
	TH_LOG("%ld creates, %ld unlinks; Shmem %ld kB before, %ld kB after%s",
	       (long)rc.created, (long)rc.unlinked, base, after,
	       kmsg < 0 ? "; /dev/kmsg not readable" : "");
	if (rc.bad_info)
		TH_LOG("%s", rc.bad);
	EXPECT_LT(0, rc.created);
	EXPECT_LT(0, rc.unlinked);
	EXPECT_EQ(0, rc.bad_info);
	EXPECT_EQ(0, rc.bad_mmap);
	EXPECT_EQ(0, reports);
	EXPECT_EQ(0, shmk_count(rc.dev));
	EXPECT_LE(after, base + 1024);
	close(rc.dev);
	if (kmsg >= 0)
		close(kmsg);
}

/* Two CPUs, both threads flat out. */
TEST(create_persist_races_unlink)
{
	run_race(_metadata, -1, 0);
}

#define PREEMPT_CTL "/sys/kernel/debug/sched/preempt"

/*
 * Switch a PREEMPT_DYNAMIC kernel to full preemption; returns the mode
 * to restore ("" when nothing was changed).
 */
static const char *preempt_full(struct __test_metadata *_metadata)
{
	static char old[32];
	char buf[128], *l, *r;
	int fd;

	old[0] = 0;
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	fd = open(PREEMPT_CTL, O_RDWR);
	if (fd < 0) {
		TH_LOG("no %s: only a stress run", PREEMPT_CTL);
		return old;
	}
	memset(buf, 0, sizeof(buf));
	if (read(fd, buf, sizeof(buf) - 1) > 0) {
		l = strchr(buf, '(');
		r = l ? strchr(l, ')') : NULL;
		if (r && r - l - 1 < (long)sizeof(old)) {
			memcpy(old, l + 1, r - l - 1);
			old[r - l - 1] = 0;
		}
	}
	if (write(fd, "full", 4) != 4) {
		TH_LOG("cannot set full preemption: only a stress run");
		old[0] = 0;
	}
	close(fd);
	return old;
}

static void preempt_restore(const char *mode)
{
	int fd;

	if (!*mode)
		return;
	fd = open(PREEMPT_CTL, O_WRONLY);
	if (fd < 0)
		return;
	if (write(fd, mode, strlen(mode)) < 0)
		perror("restore preemption mode");
	close(fd);
}

/*
 * One CPU, full preemption, the unlinker SCHED_FIFO and waking every
 * 20 us.  When it wakes while the creator holds the name lock, it
 * preempts the creator and blocks on the lock, and the creator's unlock
 * hands the CPU straight back to it, so the whole UNLINK runs inside
 * the creator's window between publishing the name and deciding about
 * the creation reference.  Before the fix this crashed within a second.
 */
TEST(create_persist_races_unlink_one_cpu_fifo)
{
	const char *mode = preempt_full(_metadata);

	run_race(_metadata, 0, 1);
	preempt_restore(mode);
}

TEST_HARNESS_MAIN
