// SPDX-License-Identifier: GPL-2.0
/*
 * shmk hostile-caller selftest: a seeded, bounded random-ioctl fuzzer.
 *
 * Every command number of the magic (nr 0..255, not only the known ones),
 * every direction and size bit, random and valid-looking arguments (names
 * from a small pool, offsets near region ends, huge counts, short
 * timeouts, absolute times in the past), bad pointers (NULL, unmapped,
 * kernel addresses, PROT_NONE and read-only pages, structs straddling
 * into a guard page), on /dev/shmk and on read-write and read-only
 * region fds, interleaved with mmap, munmap, mprotect, madvise
 * (MADV_REMOVE among others), close, dup, dup2, poll, a thread waiting
 * while its fd is closed, and forked children, some in new IPC (and
 * user+IPC) namespaces, killed at random.
 *
 * The run is a series of bursts; each burst runs in a fresh child of the
 * test, in the test's own IPC namespace or in a new one, and after each
 * a sanity check (create, open, info, wait, wake, watch, unlink) runs in
 * a fresh IPC namespace: the device still works.  At the end, no name is
 * listed, the module's refcnt is back where it was and Shmem in
 * /proc/meminfo is back at its baseline.
 *
 * Nothing blocks for long: every ioctl runs under a 20 ms one-shot
 * SIGALRM (no SA_RESTART), so even a wait without a timeout returns
 * EINTR, and every child is reaped with a bounded wait; one that does
 * not exit in time is a hang, reported with the seed.
 *
 * Environment: SHMK_FUZZ_SEED (default: from the clock, printed),
 * SHMK_FUZZ_CALLS (ioctls in all; default 20000, or 100000 on a kernel
 * with fault injection, which is the debug lane's: see
 * Documentation/hostile-callers.rst), SHMK_FUZZ_BURST (ioctls per
 * burst, default 1000).  The rig passes them with --append
 * "SHMK_FUZZ_CALLS=N": the kernel hands name=value words of its command
 * line to init as environment.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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
#define PAGE 4096
#define ARENA (4 * PAGE)
#define MAX_FDS 16
#define MAX_MAPS 16
#define MAX_KIDS 4
#define ALARM_US 20000
/* A whole burst, and the sanity check, get this long (TCG, debug kernel). */
#define BURST_DEADLINE_MS 120000
#define KID_DEADLINE_MS 30000
#define SHMEM_SLACK_KB 512

enum { FD_DEV, FD_RW, FD_RO };

struct fz_fd {
	int fd;
	int kind;
	uint64_t bytes;		/* region size, for offsets near the end */
};

struct fz_map {
	char *addr;
	size_t len;
	int prot;
	uint64_t bytes;
};

/* Counters shared by a burst and its children (MAP_SHARED). */
struct fz_shared {
	_Atomic unsigned long ioctls;
	_Atomic unsigned long ops;
	_Atomic unsigned long bad;	/* impossible results seen */
	_Atomic unsigned long kills;
	_Atomic unsigned long forks;
	_Atomic unsigned long created;
	_Atomic unsigned long races;		/* fz_race() runs */
	_Atomic unsigned long race_unlinks;	/* not counted as ioctls */
	_Atomic unsigned long results[16];	/* see fz_errnos */
	/*
	 * Set by a burst's main thread when it is done: a thread an oops
	 * killed leaves the others running, and the process may still exit 0.
	 */
	_Atomic int finished;
};

/* What the ioctls returned, for the summary: >= 0, then these errnos. */
static const int fz_errnos[] = {
	EINVAL, EFAULT, ENOTTY, E2BIG, ENAMETOOLONG, EEXIST, ENOENT, EACCES,
	EPERM, ENOSPC, EAGAIN, ETIMEDOUT, EINTR, EBADF,
};

static const char * const fz_errno_names[] = {
	"ok", "EINVAL", "EFAULT", "ENOTTY", "E2BIG", "ENAMETOOLONG", "EEXIST",
	"ENOENT", "EACCES", "EPERM", "ENOSPC", "EAGAIN", "ETIMEDOUT", "EINTR",
	"EBADF", "other",
};

static void fz_count(struct fz_shared *sh, long ret)
{
	unsigned int i;

	if (ret >= 0) {
		atomic_fetch_add(&sh->results[0], 1);
		return;
	}
	for (i = 0; i < sizeof(fz_errnos) / sizeof(fz_errnos[0]); i++)
		if (-ret == fz_errnos[i])
			break;
	atomic_fetch_add(&sh->results[1 + i], 1);
}

struct fz {
	unsigned long long rng;
	struct fz_shared *sh;
	struct fz_fd fds[MAX_FDS];
	int nfds;
	struct fz_map maps[MAX_MAPS];
	int nmaps;
	pid_t kids[MAX_KIDS];
	int nkids;
	int is_kid;
	char *arena;		/* ARENA bytes read-write, then a PROT_NONE page */
	char *guard;
	char *hole;		/* an unmapped page */
	char *ronly;		/* a read-only page holding plausible sizes */
	unsigned int sweep;
};

static const char * const fz_names[] = {
	"fz0", "fz1", "fz2", "fz3", "a",
	/* 63 characters: the longest valid name */
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_",
	/* 64 characters: no NUL in the field */
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_!",
	"", "a/b", "a b", "\x7f", "\x80x", "~!@#$%^&*()",
};

#define R(n) shmk_rand_below(&z->rng, (n))
#define COIN(n) (R(n) == 0)

static unsigned long long fz_pick(struct fz *z, const unsigned long long *v,
				  size_t n)
{
	return v[R(n)];
}

#define PICK(...) ({ \
	static const unsigned long long _v[] = { __VA_ARGS__ }; \
	fz_pick(z, _v, sizeof(_v) / sizeof(_v[0])); })

static uint64_t fz_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

static void fz_alarm(int sig)
{
	(void)sig;
}

static void fz_timer(long us)
{
	struct itimerval it = { .it_value = { 0, us } };

	setitimer(ITIMER_REAL, &it, NULL);
}

static void fz_bad(struct fz *z, const char *what, unsigned long cmd, long ret)
{
	atomic_fetch_add(&z->sh->bad, 1);
	fprintf(stderr, "# fuzz: %s: cmd %#lx returned %ld\n", what, cmd, ret);
}

static int fz_tracked(struct fz *z, int fd)
{
	int i;

	for (i = 0; i < z->nfds; i++)
		if (z->fds[i].fd == fd)
			return 1;
	return 0;
}

static void fz_forget(struct fz *z, int i)
{
	z->fds[i] = z->fds[--z->nfds];
}

/* Track a new fd: a region fd when INFO works on it, else /dev/shmk-like. */
static void fz_track(struct fz *z, int fd)
{
	struct shmk_region_info info;
	struct fz_fd *f;
	int fl;

	if (z->nfds == MAX_FDS) {
		close(fd);
		return;
	}
	f = &z->fds[z->nfds++];
	f->fd = fd;
	f->kind = FD_DEV;
	f->bytes = 2 * MiB;
	if (!shmk_info(fd, &info)) {
		fl = fcntl(fd, F_GETFL);
		f->kind = (fl >= 0 && (fl & O_ACCMODE) == O_RDONLY) ? FD_RO : FD_RW;
		f->bytes = info.bytes;
		if (info.bytes % SHMK_PAGE_SIZE || !info.bytes ||
		    info.resident_bytes > info.bytes ||
		    info.huge_bytes > info.resident_bytes || info.mode & ~0777 ||
		    strnlen(info.name, SHMK_NAME_MAX) == SHMK_NAME_MAX)
			fz_bad(z, "INFO record", SHMK_IOC_INFO, info.bytes);
	}
}

/*
 * Every ioctl goes through here: a 20 ms alarm ends any wait, and an
 * errno only the kernel may see (ERESTARTSYS, ENOIOCTLCMD: 512 and up)
 * must never come out.  A new fd an ioctl returns is tracked.
 */
static long fz_ioctl(struct fz *z, int fd, unsigned long cmd, void *arg)
{
	long ret;

	fz_timer(ALARM_US);
	ret = ioctl(fd, cmd, arg);
	ret = ret < 0 ? -errno : ret;
	fz_timer(0);
	atomic_fetch_add(&z->sh->ioctls, 1);
	fz_count(z->sh, ret);
	if (ret <= -512)
		fz_bad(z, "kernel-internal errno", cmd, ret);
	if (ret >= 3 && !fz_tracked(z, ret) && fcntl(ret, F_GETFD) >= 0) {
		atomic_fetch_add(&z->sh->created, 1);
		fz_track(z, ret);
	}
	return ret;
}

static struct fz_fd *fz_any_fd(struct fz *z)
{
	return z->nfds ? &z->fds[R(z->nfds)] : NULL;
}

static struct fz_fd *fz_region_fd(struct fz *z)
{
	int i, start;

	if (!z->nfds)
		return NULL;
	start = R(z->nfds);
	for (i = 0; i < z->nfds; i++) {
		struct fz_fd *f = &z->fds[(start + i) % z->nfds];

		if (f->kind != FD_DEV)
			return f;
	}
	return NULL;
}

static struct fz_fd *fz_dev_fd(struct fz *z)
{
	int i, start;

	if (!z->nfds)
		return NULL;
	start = R(z->nfds);
	for (i = 0; i < z->nfds; i++) {
		struct fz_fd *f = &z->fds[(start + i) % z->nfds];

		if (f->kind == FD_DEV)
			return f;
	}
	return NULL;
}

/* Offsets: valid ones near both ends, misaligned, past the end, huge. */
static uint64_t fz_offset(struct fz *z, uint64_t bytes)
{
	switch (R(16)) {
	case 0: return 0;
	case 1: return 4;
	case 2: return bytes - 4;
	case 3: return bytes - 8;
	case 4: return bytes;
	case 5: return bytes + 4;
	case 6: return bytes - 2;
	case 7: return 2 * MiB - 4;
	case 8: return 2 * MiB;
	case 9: return R(bytes / 4) * 4;
	case 10: return shmk_rand(&z->rng);
	case 11: return PICK(~0ULL, ~3ULL, 1ULL << 63, 1ULL << 32, ~0ULL - 3);
	case 12: return 64;
	case 13: return 1 + R(3);
	default: return R(64) * 4;
	}
}

static uint32_t fz_bitset(struct fz *z)
{
	if (!COIN(4))
		return SHMK_BITSET_ANY;
	return COIN(5) ? (uint32_t)shmk_rand(&z->rng) :
			 (uint32_t)PICK(0, 1, 0x80000000, 0x55555555);
}

/* Word values: those the fuzzer writes (likely), or anything. */
static uint32_t fz_expected(struct fz *z)
{
	return COIN(4) ? (uint32_t)shmk_rand(&z->rng) : (uint32_t)R(3);
}

static uint32_t fz_wait_flags(struct fz *z)
{
	switch (R(10)) {
	case 0: return 0;			/* no timeout: the alarm ends it */
	case 1: return SHMK_WAIT_ABSTIME;	/* EINVAL */
	case 2: return SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME;
	case 3: return (uint32_t)shmk_rand(&z->rng);
	case 4: return SHMK_WAIT_TIMEOUT | (4U << R(29));
	default: return SHMK_WAIT_TIMEOUT;
	}
}

static uint64_t fz_timeout(struct fz *z, uint32_t flags)
{
	uint64_t now = fz_now_ns();

	if (flags & SHMK_WAIT_ABSTIME)
		return PICK(0, 1, 2, 3) == 0 ? 0 :
		       COIN(2) ? now - R(NSEC) :
		       COIN(2) ? now + R(2000000) : (uint64_t)PICK(1, ~0ULL);
	return COIN(8) ? (uint64_t)PICK(~0ULL, 1ULL << 63, NSEC) :
			 (uint64_t)PICK(0, 1, 1000, 100000, 1000000, 3000000);
}

/* A size field: mostly right, sometimes every kind of wrong. */
static uint32_t fz_size(struct fz *z, uint32_t right)
{
	if (!COIN(4))
		return right;
	switch (R(9)) {
	case 0: return 0;
	case 1: return 4;
	case 2: return 8;
	case 3: return right - 4;
	case 4: return right + 8;	/* the tail may or may not be zero */
	case 5: return PAGE;
	case 6: return PAGE + 4;
	case 7: return 0xffffffff;
	default: return (uint32_t)shmk_rand(&z->rng);
	}
}

/* Bad pointers of every kind, or NULL when the caller should use its own. */
static void *fz_bad_ptr(struct fz *z)
{
	switch (R(12)) {
	case 0: return NULL;
	case 1: return (void *)8;
	case 2: return (void *)0xffffffff81000000ULL;	/* kernel text */
	case 3: return (void *)0xffff888000000000ULL;	/* direct map */
	case 4: return (void *)~0ULL;
	case 5: return (void *)0x8000000000000000ULL;	/* non-canonical */
	case 6: return (void *)0x7ffffffff000ULL;	/* top of user space */
	case 7: return z->guard;			/* PROT_NONE */
	case 8: return z->hole;				/* unmapped */
	case 9: return z->ronly;			/* read-only */
	case 10: return z->guard - 4;		/* size readable, rest not */
	default:
		/*
		 * Region memory: the kernel may write there (INFO), never
		 * past a page of it, so never into our own data.
		 */
		if (z->nmaps) {
			struct fz_map *m = &z->maps[R(z->nmaps)];

			return m->addr + (m->len >= 2 * PAGE ? R(2) * PAGE : 0);
		}
		return (void *)1;
	}
}

/*
 * Where to put a struct of @len bytes: inside the arena, flush against
 * its guard page, straddling into it, or misaligned.  Returns a pointer
 * into the arena (part of the struct may lie in the guard page).
 */
static char *fz_place(struct fz *z, size_t len)
{
	if (len >= ARENA)
		len = ARENA - 8;
	switch (R(10)) {
	case 0: return z->arena + ARENA - len;
	case 1: return z->arena + ARENA - 1 - R(len);
	case 2: return z->arena + 1 + R(ARENA - len - 1);
	default: return z->arena + (R(ARENA - len) & ~7UL);
	}
}

/* Copy @len bytes to @dst, dropping what falls into the guard page. */
static void fz_put(struct fz *z, char *dst, const void *src, size_t len)
{
	char *end = z->arena + ARENA;

	if (dst >= end)
		return;
	memcpy(dst, src, dst + len > end ? (size_t)(end - dst) : len);
}

/* Write @size bytes of struct @s (of @ssize) with the tail past it. */
static void *fz_emit(struct fz *z, const void *s, size_t ssize, uint32_t size)
{
	size_t len = size < ssize ? ssize : size;
	char *p;

	if (len > 2 * PAGE)
		len = ssize + 8;
	p = fz_place(z, len);
	fz_put(z, p, s, ssize);
	if (len > ssize) {
		char tail[2 * PAGE];

		memset(tail, 0, len - ssize);
		if (COIN(3))
			tail[R(len - ssize)] = 1 + R(255);
		fz_put(z, p + ssize, tail, len - ssize);
	}
	return p;
}

static void fz_name(struct fz *z, char *field)
{
	size_t i;

	memset(field, 0, SHMK_NAME_MAX);
	if (COIN(16)) {
		for (i = 0; i < 1 + R(SHMK_NAME_MAX); i++)
			field[i] = COIN(3) ? (char)R(256) : (char)(0x21 + R(94));
		return;
	}
	shmk_set_name(field, fz_names[R(sizeof(fz_names) / sizeof(fz_names[0]))]);
}

static uint64_t fz_bytes(struct fz *z)
{
	switch (R(20)) {
	case 0: return 0;
	case 1: return PICK(~0ULL, 1ULL << 63, (1ULL << 30) + 1, 1ULL << 31,
			    ~0ULL - SHMK_PAGE_SIZE + 2);
	case 2: return 1ULL << 30;	/* the default max_region_bytes */
	case 3: return 8 * MiB + R(8 * MiB);
	default: return 1 + R(4 * MiB);
	}
}

/* A WAITV entry array: valid-looking, random, or a bad pointer. */
static uint64_t fz_waitv_entries(struct fz *z, uint32_t nr, uint64_t bytes)
{
	struct shmk_waitv_entry e[SHMK_WAITV_MAX + 1];
	uint32_t n = nr > SHMK_WAITV_MAX + 1 ? SHMK_WAITV_MAX + 1 : nr;
	uint32_t i;

	if (COIN(6))
		return (uintptr_t)fz_bad_ptr(z);
	for (i = 0; i < n; i++) {
		e[i].offset = COIN(8) ? fz_offset(z, bytes) : R(16) * 4;
		e[i].expected = fz_expected(z);
		e[i].bitset = fz_bitset(z);
	}
	if (!n)
		return (uintptr_t)z->arena;
	return (uintptr_t)fz_emit(z, e, n * sizeof(e[0]), n * sizeof(e[0]));
}

/*
 * The argument of command number @nr: a valid-looking struct of the
 * command it is (perturbed), zeros with a size, or random bytes; placed
 * in the arena, or a bad pointer.
 */
static void *fz_arg(struct fz *z, unsigned int nr, unsigned int iocsize,
		    uint64_t bytes)
{
	union {
		struct shmk_create c;
		struct shmk_open o;
		struct shmk_unlink u;
		struct shmk_list l;
		struct shmk_region_info i;
		struct shmk_wait w;
		struct shmk_wake k;
		struct shmk_waitv v;
		struct shmk_watch t;
		struct shmk_on_release r;
		uint32_t words[64];
	} a;
	size_t ssize = sizeof(a);
	size_t i;

	if (COIN(8))
		return fz_bad_ptr(z);
	memset(&a, 0, sizeof(a));
	if (COIN(10)) {
		for (i = 0; i < 64; i++)
			a.words[i] = COIN(2) ? 0 : (uint32_t)shmk_rand(&z->rng);
		if (COIN(2))
			a.words[0] = iocsize;
		return fz_emit(z, &a, sizeof(a), sizeof(a));
	}
	if (nr == _IOC_NR(SHMK_IOC_CREATE)) {
		ssize = sizeof(a.c);
		a.c.size = fz_size(z, ssize);
		a.c.flags = COIN(8) ? (uint32_t)shmk_rand(&z->rng) : R(4);
		a.c.bytes = fz_bytes(z);
		a.c.mode = PICK(0600, 0666, 0400, 0, 0777, 01777, 0644);
		a.c.reserved = COIN(16);
		fz_name(z, a.c.name);
	} else if (nr == _IOC_NR(SHMK_IOC_OPEN)) {
		ssize = sizeof(a.o);
		a.o.size = fz_size(z, ssize);
		a.o.flags = COIN(8) ? (uint32_t)shmk_rand(&z->rng) : R(2);
		fz_name(z, a.o.name);
	} else if (nr == _IOC_NR(SHMK_IOC_UNLINK)) {
		ssize = sizeof(a.u);
		a.u.size = fz_size(z, ssize);
		a.u.flags = COIN(8);
		fz_name(z, a.u.name);
	} else if (nr == _IOC_NR(SHMK_IOC_LIST)) {
		ssize = sizeof(a.l);
		a.l.size = fz_size(z, ssize);
		a.l.flags = COIN(16);
		a.l.count = PICK(0, 1, 2, 3, 16, 1000, UINT_MAX, 0x80000000);
		a.l.entry_size = COIN(3) ? (uint32_t)PICK(0, 8, sizeof(a.i) - 8,
			sizeof(a.i) + 8, PAGE, PAGE + 1, UINT_MAX) : sizeof(a.i);
		/*
		 * Entries land in the arena (or fault at its guard page), or
		 * at a pointer that faults: never in region mappings, where
		 * many large entries could run on into our own memory.
		 */
		switch (R(9)) {
		case 0: a.l.entries = (uintptr_t)z->guard; break;
		case 1: a.l.entries = (uintptr_t)z->hole; break;
		case 2: a.l.entries = (uintptr_t)z->ronly; break;
		case 3: a.l.entries = PICK(0, 8, ~0ULL, 0xffff888000000000ULL,
					   0x8000000000000000ULL); break;
		default: a.l.entries = (uintptr_t)z->arena + R(ARENA);
		}
	} else if (nr == _IOC_NR(SHMK_IOC_INFO)) {
		ssize = sizeof(a.i);
		a.i.size = fz_size(z, ssize);
	} else if (nr == _IOC_NR(SHMK_IOC_WAIT)) {
		ssize = sizeof(a.w);
		a.w.size = fz_size(z, ssize);
		a.w.flags = fz_wait_flags(z);
		a.w.offset = COIN(3) ? fz_offset(z, bytes) : R(16) * 4;
		a.w.expected = fz_expected(z);
		a.w.bitset = fz_bitset(z);
		a.w.timeout_ns = fz_timeout(z, a.w.flags);
	} else if (nr == _IOC_NR(SHMK_IOC_WAKE)) {
		ssize = sizeof(a.k);
		a.k.size = fz_size(z, ssize);
		a.k.flags = COIN(16);
		a.k.offset = COIN(3) ? fz_offset(z, bytes) : R(16) * 4;
		a.k.count = PICK(0, 1, 2, INT_MAX, UINT_MAX, 0x80000000);
		a.k.bitset = fz_bitset(z);
	} else if (nr == _IOC_NR(SHMK_IOC_WAITV)) {
		ssize = sizeof(a.v);
		a.v.size = fz_size(z, ssize);
		a.v.flags = fz_wait_flags(z);
		a.v.nr = PICK(0, 1, 2, 3, 8, SHMK_WAITV_MAX, SHMK_WAITV_MAX + 1,
			      UINT_MAX, 0x10000001);
		a.v.entries = fz_waitv_entries(z, a.v.nr, bytes);
		a.v.reserved = COIN(16);
		a.v.timeout_ns = fz_timeout(z, a.v.flags);
	} else if (nr == _IOC_NR(SHMK_IOC_WATCH)) {
		ssize = sizeof(a.t);
		a.t.size = fz_size(z, ssize);
		a.t.flags = COIN(16);
		a.t.offset = COIN(3) ? fz_offset(z, bytes) : R(16) * 4;
		a.t.bitset = fz_bitset(z);
		a.t.reserved = COIN(16);
	} else if (nr == _IOC_NR(SHMK_IOC_ON_RELEASE)) {
		/* Also as a program built before the struct grew. */
		ssize = COIN(8) ? SHMK_ON_RELEASE_SIZE_VER0 : sizeof(a.r);
		a.r.size = fz_size(z, ssize);
		a.r.flags = COIN(8) ? (uint32_t)shmk_rand(&z->rng) : R(4);
		a.r.slot_offset = COIN(3) ? fz_offset(z, bytes) : R(16) * 4;
		a.r.slot_value = (uint32_t)shmk_rand(&z->rng);
		a.r.counter_offset = COIN(3) ? fz_offset(z, bytes) : R(16) * 4;
		/* Conditional notices: a mask, and mostly an expected under it. */
		a.r.mask = COIN(3) ? 0 : COIN(4) ? (uint32_t)shmk_rand(&z->rng) :
			   (uint32_t)PICK(0x0fffffff, 0xffffffff, 0xf,
					  0x80000000, 1);
		a.r.expected = COIN(3) ? 0 : (uint32_t)shmk_rand(&z->rng) &
			       (COIN(8) ? ~0U : a.r.mask);
		a.r.reserved = COIN(16);
	} else {
		/* A command this test does not know: zeros with a size. */
		ssize = iocsize && iocsize <= 256 ? iocsize : 8 * (1 + R(16));
		a.words[0] = fz_size(z, ssize);
		if (COIN(2))
			for (i = 1; i < ssize / 4; i++)
				a.words[i] = COIN(2) ? 0 : R(4);
	}
	return fz_emit(z, &a, ssize, ((uint32_t *)&a)[0]);
}

/* The command numbers the header defines; the rest come from 0..255. */
static const unsigned long fz_known[] = {
	SHMK_IOC_CREATE, SHMK_IOC_OPEN, SHMK_IOC_UNLINK, SHMK_IOC_LIST,
	SHMK_IOC_INFO, SHMK_IOC_WAIT, SHMK_IOC_WAKE, SHMK_IOC_WAITV,
	SHMK_IOC_WATCH, SHMK_IOC_ACK, SHMK_IOC_ON_RELEASE,
#ifdef SHMK_IOC_GET_LIMITS
	SHMK_IOC_GET_LIMITS,
#endif
#ifdef SHMK_IOC_SET_LIMITS
	SHMK_IOC_SET_LIMITS,
#endif
};

/* Whether a known command belongs on a region fd (else on /dev/shmk). */
static int fz_region_cmd(unsigned long cmd)
{
	unsigned int nr = _IOC_NR(cmd);

	return nr == _IOC_NR(SHMK_IOC_INFO) || nr == _IOC_NR(SHMK_IOC_WAIT) ||
	       nr == _IOC_NR(SHMK_IOC_WAKE) || nr == _IOC_NR(SHMK_IOC_WAITV) ||
	       nr == _IOC_NR(SHMK_IOC_WATCH) || nr == _IOC_NR(SHMK_IOC_ACK) ||
	       nr == _IOC_NR(SHMK_IOC_ON_RELEASE);
}

/*
 * A command for an fd of @kind: mostly a known one meant for that kind
 * of fd, also with other direction and size bits; otherwise any known
 * one, every number in turn, or a random number.
 */
static unsigned long fz_cmd(struct fz *z, int kind)
{
	size_t nknown = sizeof(fz_known) / sizeof(fz_known[0]);
	unsigned long known = fz_known[R(nknown)];
	unsigned int dir = R(4), size = R(1 << _IOC_SIZEBITS), i;

	if (R(10) < 7)
		for (i = 0; i < 64; i++) {
			known = fz_known[R(nknown)];
			if (fz_region_cmd(known) == (kind != FD_DEV))
				break;
		}
	switch (R(10)) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		return known;
	case 6:		/* known number, any direction and size bits */
		return _IOC(dir, SHMK_IOC_MAGIC, _IOC_NR(known), size);
	case 7:		/* every number in turn */
		return _IOC(dir, SHMK_IOC_MAGIC, z->sweep++ & 0xff,
			    COIN(2) ? size : R(33) * 8);
	case 8:
		return fz_known[R(nknown)];
	default:
		return _IOC(dir, SHMK_IOC_MAGIC, R(256),
			    COIN(2) ? size : (unsigned int)PICK(0, 4, 8, 16, 24,
				32, 72, 88, 120, PAGE));
	}
}

static void fz_do_ioctl(struct fz *z)
{
	struct fz_fd *f = fz_any_fd(z);
	unsigned long cmd;
	long ret;
	void *arg;

	if (!f)
		return;
	cmd = fz_cmd(z, f->kind);
	arg = fz_arg(z, _IOC_NR(cmd), _IOC_SIZE(cmd), f->bytes);
	ret = fz_ioctl(z, f->fd, cmd, arg);
	/* Results the ABI pins down even for hostile arguments. */
	if (ret > 0 && _IOC_NR(cmd) == _IOC_NR(SHMK_IOC_ACK) &&
	    f->kind != FD_DEV && ret != 1)
		fz_bad(z, "ACK returned neither 0 nor 1", cmd, ret);
	if (ret > 0 && f->kind != FD_DEV &&
	    _IOC_NR(cmd) == _IOC_NR(SHMK_IOC_WAITV) &&
	    ret >= SHMK_WAITV_MAX)
		fz_bad(z, "WAITV index out of range", cmd, ret);
}

/* Valid operations keep the state populated. */
static void fz_create(struct fz *z)
{
	struct fz_fd *d = fz_dev_fd(z);
	int fd;

	if (!d)
		return;
	fz_timer(ALARM_US);
	fd = shmk_create_flags(d->fd, fz_names[R(5)], 2 * MiB * (1 + R(3)),
			       PICK(0600, 0644, 0400), COIN(3) ?
			       SHMK_CREATE_PERSIST : COIN(4) ?
			       SHMK_CREATE_RDONLY : 0);
	fz_timer(0);
	atomic_fetch_add(&z->sh->ioctls, 1);
	if (fd >= 0 && !fz_tracked(z, fd))
		fz_track(z, fd);
}

static void fz_open(struct fz *z)
{
	struct fz_fd *d = fz_dev_fd(z);
	int fd;

	if (!d)
		return;
	fd = shmk_open_flags(d->fd, fz_names[R(5)], COIN(3) ? SHMK_OPEN_RDONLY : 0);
	atomic_fetch_add(&z->sh->ioctls, 1);
	if (fd >= 0 && !fz_tracked(z, fd))
		fz_track(z, fd);
}

static void fz_unlink(struct fz *z)
{
	struct fz_fd *d = fz_dev_fd(z);

	if (!d)
		return;
	shmk_unlink(d->fd, fz_names[R(5)]);
	atomic_fetch_add(&z->sh->ioctls, 1);
}

static void fz_mmap(struct fz *z)
{
	struct fz_fd *f = COIN(8) ? fz_any_fd(z) : fz_region_fd(z);
	struct fz_map *m;
	uint64_t off, len;
	int prot, flags;
	void *p;

	if (!f || z->nmaps == MAX_MAPS)
		return;
	switch (R(6)) {
	case 0: off = f->bytes - 2 * MiB; break;
	case 1: off = f->bytes; break;
	case 2: off = R(f->bytes / PAGE) * PAGE; break;
	case 3: off = COIN(2) ? 1 : 2 * MiB; break;
	default: off = 0;
	}
	switch (R(6)) {
	case 0: len = f->bytes; break;
	case 1: len = f->bytes + PAGE; break;
	case 2: len = PAGE * (1 + R(16)); break;
	case 3: len = f->bytes - off; break;
	default: len = 2 * MiB;
	}
	if (len > 64 * MiB)
		len = 64 * MiB;
	prot = PICK(PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,
		    PROT_READ | PROT_EXEC, PROT_NONE, PROT_WRITE,
		    PROT_READ | PROT_WRITE | PROT_EXEC);
	flags = COIN(10) ? MAP_PRIVATE : MAP_SHARED;
	p = mmap(NULL, len, prot, flags, f->fd, off);
	atomic_fetch_add(&z->sh->ops, 1);
	if (p == MAP_FAILED)
		return;
	if (flags == MAP_PRIVATE || off >= f->bytes || len > f->bytes - off) {
		/* The region fd must refuse these: a private or oversized map. */
		if (f->kind != FD_DEV)
			fz_bad(z, "mmap accepted a private or oversized map",
			       0, (long)off);
		munmap(p, len);
		return;
	}
	m = &z->maps[z->nmaps++];
	m->addr = p;
	m->len = len;
	m->prot = prot;
	m->bytes = f->bytes;
}

static void fz_munmap(struct fz *z)
{
	struct fz_map *m;
	int i;

	if (!z->nmaps)
		return;
	i = R(z->nmaps);
	m = &z->maps[i];
	atomic_fetch_add(&z->sh->ops, 1);
	if (m->len > PAGE && COIN(3)) {
		/* Unmap the second half: the VMA splits. */
		size_t half = (m->len / 2) & ~(size_t)(PAGE - 1);

		munmap(m->addr + half, m->len - half);
		m->len = half;
		return;
	}
	munmap(m->addr, m->len);
	z->maps[i] = z->maps[--z->nmaps];
}

static void fz_mprotect(struct fz *z)
{
	struct fz_map *m;
	int prot;

	if (!z->nmaps)
		return;
	m = &z->maps[R(z->nmaps)];
	prot = PICK(PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
		    PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC);
	atomic_fetch_add(&z->sh->ops, 1);
	if (!mprotect(m->addr, m->len, prot))
		m->prot = prot;
}

static void fz_touch(struct fz *z)
{
	volatile uint32_t *w;
	struct fz_map *m;
	size_t at;

	if (!z->nmaps)
		return;
	m = &z->maps[R(z->nmaps)];
	at = COIN(2) ? R(16) * 4 : m->len - 4 - R(16) * 4;
	w = (volatile uint32_t *)(m->addr + at);
	atomic_fetch_add(&z->sh->ops, 1);
	if (m->prot & PROT_WRITE)
		*w = R(3);
	else if (m->prot & PROT_READ)
		(void)*w;
}

static void fz_madvise(struct fz *z)
{
	struct fz_map *m;

	if (!z->nmaps)
		return;
	m = &z->maps[R(z->nmaps)];
	atomic_fetch_add(&z->sh->ops, 1);
	madvise(m->addr, COIN(2) ? m->len : PAGE,
		PICK(MADV_REMOVE, MADV_REMOVE, MADV_DONTNEED, MADV_HUGEPAGE,
		     MADV_NOHUGEPAGE, MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED,
		     25 /* MADV_COLLAPSE, 6.1 */, MADV_RANDOM));
}

static void fz_close(struct fz *z)
{
	int i;

	if (!z->nfds)
		return;
	i = R(z->nfds);
	/* Keep one /dev/shmk fd most of the time. */
	if (z->fds[i].kind == FD_DEV && !COIN(4))
		return;
	close(z->fds[i].fd);
	fz_forget(z, i);
	atomic_fetch_add(&z->sh->ops, 1);
}

static void fz_dup(struct fz *z)
{
	struct fz_fd *f = fz_any_fd(z), *t;
	int fd;

	if (!f)
		return;
	atomic_fetch_add(&z->sh->ops, 1);
	if (COIN(3) && z->nfds > 1) {
		/* dup2 over another tracked fd: its file may be released. */
		t = fz_any_fd(z);
		if (t == f)
			return;
		if (dup2(f->fd, t->fd) >= 0) {
			t->kind = f->kind;
			t->bytes = f->bytes;
		}
		return;
	}
	if (z->nfds == MAX_FDS)
		return;
	fd = fcntl(f->fd, COIN(2) ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
	if (fd < 0)
		return;
	z->fds[z->nfds] = *f;
	z->fds[z->nfds++].fd = fd;
}

static void fz_poll(struct fz *z)
{
	struct pollfd p[3];
	int n = 0, i;

	for (i = 0; i < 3 && i < z->nfds; i++) {
		p[n].fd = z->fds[R(z->nfds)].fd;
		p[n++].events = POLLIN | POLLOUT | POLLPRI;
	}
	if (!n)
		return;
	atomic_fetch_add(&z->sh->ops, 1);
	if (poll(p, n, R(2)) <= 0)
		return;
	for (i = 0; i < n; i++)
		if ((p[i].revents & POLLIN) && COIN(2))
			fz_ioctl(z, p[i].fd, SHMK_IOC_ACK, NULL);
}

struct fz_waiter {
	int fd;
	uint64_t offset;
	uint32_t expected;
	long ret;
};

static void *fz_waiter_main(void *p)
{
	struct fz_waiter *w = p;

	w->ret = shmk_wait(w->fd, w->offset, w->expected, SHMK_WAIT_TIMEOUT,
			   5000000);
	return NULL;
}

/* A thread waits (5 ms at most) while this one closes, wakes or not. */
static void fz_thread(struct fz *z)
{
	struct fz_fd *f = fz_region_fd(z);
	struct fz_waiter w;
	pthread_t t;
	int i;

	if (!f)
		return;
	w.fd = f->fd;
	w.offset = R(16) * 4;
	w.expected = fz_expected(z);
	if (pthread_create(&t, NULL, fz_waiter_main, &w))
		return;
	atomic_fetch_add(&z->sh->ops, 1);
	usleep(R(2000));
	switch (R(3)) {
	case 0:
		for (i = 0; i < z->nfds; i++)
			if (&z->fds[i] == f) {
				close(f->fd);
				fz_forget(z, i);
				break;
			}
		break;
	case 1:
		shmk_wake(f->fd, w.offset, PICK(1, INT_MAX));
		break;
	}
	pthread_join(t, NULL);
	atomic_fetch_add(&z->sh->ioctls, 1);
	if (w.ret > 0 || w.ret <= -512)
		fz_bad(z, "WAIT from a thread", SHMK_IOC_WAIT, w.ret);
}

/*
 * Two threads race on one name: one creates it persistent, checks INFO,
 * maps, writes, unmaps and closes; the other unlinks it, over and over.
 * A region freed under its fd shows as a garbled INFO record (or as a
 * KASAN or slub_debug report).
 */
struct fz_race {
	struct fz_shared *sh;
	int dev;
	int rounds;
	const char *name;
	_Atomic int stop;
};

static void *fz_race_unlink(void *p)
{
	struct fz_race *r = p;
	int n = 0;

	/* As many as it takes: these do not count against the budget. */
	while (!atomic_load(&r->stop) && n++ < 20 * r->rounds)
		shmk_unlink(r->dev, r->name);
	atomic_fetch_add(&r->sh->race_unlinks, n);
	return NULL;
}

static void fz_race(struct fz *z)
{
	struct fz_fd *d = fz_dev_fd(z);
	struct shmk_region_info info;
	struct fz_race r;
	sigset_t set, old;
	pthread_t t;
	int i, fd;
	void *m;

	if (!d)
		return;
	r.sh = z->sh;
	r.dev = d->fd;
	r.rounds = 10 + R(40);
	r.name = fz_names[R(5)];
	atomic_store(&r.stop, 0);
	/* The alarms are for this thread's waits: the racer blocks them. */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	i = pthread_create(&t, NULL, fz_race_unlink, &r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i)
		return;
	atomic_fetch_add(&z->sh->races, 1);
	for (i = 0; i < r.rounds; i++) {
		fd = shmk_create_flags(d->fd, r.name, SHMK_PAGE_SIZE, 0600,
				       SHMK_CREATE_PERSIST);
		atomic_fetch_add(&z->sh->ioctls, 2);
		if (fd < 0)
			continue;
		if (shmk_info(fd, &info) || info.bytes != SHMK_PAGE_SIZE ||
		    info.mode != 0600 || info.handles < 1 ||
		    strncmp(info.name, r.name, SHMK_NAME_MAX) ||
		    (info.flags & ~(SHMK_INFO_PERSIST | SHMK_INFO_UNLINKED)))
			fz_bad(z, "INFO of a region raced by UNLINK",
			       SHMK_IOC_INFO, (long)info.bytes);
		/* A first touch zeroes 2 MiB: slow under TCG, so not always. */
		m = mmap(NULL, SHMK_PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			if (!(i & 7))
				*(volatile uint32_t *)m = i;
			munmap(m, SHMK_PAGE_SIZE);
		}
		close(fd);
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
}

static void fz_step(struct fz *z);

/* Reap the children; kill those past @deadline (a hang: reported). */
static int fz_reap(struct fz *z, int block)
{
	uint64_t deadline = fz_now_ns() + KID_DEADLINE_MS * 1000000ULL;
	int i, status, hung = 0;
	pid_t p;

	for (i = 0; i < z->nkids;) {
		p = waitpid(z->kids[i], &status, WNOHANG);
		if (p == z->kids[i] || (p < 0 && errno == ECHILD)) {
			if (p > 0 && WIFEXITED(status) && WEXITSTATUS(status))
				fz_bad(z, "child failed", 0, WEXITSTATUS(status));
			if (p > 0 && WIFSIGNALED(status) &&
			    WTERMSIG(status) != SIGKILL)
				fz_bad(z, "child crashed", 0, WTERMSIG(status));
			z->kids[i] = z->kids[--z->nkids];
			continue;
		}
		if (!block) {
			i++;
			continue;
		}
		if (fz_now_ns() > deadline && !hung) {
			fprintf(stderr, "# fuzz: child %d hung, killing it\n",
				z->kids[i]);
			hung = 1;
			atomic_fetch_add(&z->sh->bad, 1);
			kill(z->kids[i], SIGKILL);
			deadline = fz_now_ns() + 5 * NSEC;
		} else if (fz_now_ns() > deadline) {
			fprintf(stderr, "# fuzz: child %d unkillable\n",
				z->kids[i]);
			return -1;
		}
		usleep(1000);
	}
	return 0;
}

/* Kill one child (a random moment of its life) and reap it. */
static void fz_kill_one(struct fz *z)
{
	int i = R(z->nkids), waited, status;
	pid_t pid = z->kids[i];

	kill(pid, SIGKILL);
	atomic_fetch_add(&z->sh->kills, 1);
	for (waited = 0; waited < KID_DEADLINE_MS; waited++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			z->kids[i] = z->kids[--z->nkids];
			return;
		}
		usleep(1000);
	}
	fprintf(stderr, "# fuzz: child %d survives SIGKILL\n", pid);
	atomic_fetch_add(&z->sh->bad, 1);
	z->kids[i] = z->kids[--z->nkids];
}

static void fz_fork(struct fz *z)
{
	unsigned long long seed = shmk_rand(&z->rng);
	int steps = R(40), ns = R(6), i;
	pid_t pid;

	if (z->is_kid)
		return;
	if (z->nkids == MAX_KIDS)
		fz_kill_one(z);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		z->rng = seed;
		z->is_kid = 1;
		z->nkids = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (ns == 0)
			unshare(CLONE_NEWIPC);
		else if (ns == 1)
			unshare(CLONE_NEWUSER | CLONE_NEWIPC);
		for (i = 0; i < steps; i++)
			fz_step(z);
		/* Some leave their persistent regions for the reaper. */
		_exit(atomic_load(&z->sh->bad) ? 1 : 0);
	}
	atomic_fetch_add(&z->sh->forks, 1);
	z->kids[z->nkids++] = pid;
	if (COIN(3)) {
		usleep(R(3000));
		fz_kill_one(z);
	}
}

static void fz_step(struct fz *z)
{
	switch (R(40)) {
	case 0: case 1: fz_create(z); break;
	case 2: fz_open(z); break;
	case 3: fz_unlink(z); break;
	case 4: case 5: fz_mmap(z); break;
	case 6: fz_munmap(z); break;
	case 7: fz_mprotect(z); break;
	case 8: case 9: fz_touch(z); break;
	case 10: fz_madvise(z); break;
	case 11: fz_close(z); break;
	case 12: fz_dup(z); break;
	case 13: fz_poll(z); break;
	case 14:
		if (COIN(8))
			fz_race(z);
		else
			fz_thread(z);
		break;
	case 15: fz_fork(z); break;
	case 16:
		if (z->nfds < MAX_FDS) {
			int d = shmk_dev();

			if (d >= 0)
				fz_track(z, d);
		}
		break;
	default: fz_do_ioctl(z); break;
	}
	if (!z->is_kid)
		fz_reap(z, 0);
}

static int fz_setup(struct fz *z)
{
	char *m;

	/* ARENA read-write, a PROT_NONE guard, a hole, a read-only page. */
	m = mmap(NULL, ARENA + 3 * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	z->arena = m;
	z->guard = m + ARENA;
	z->hole = m + ARENA + PAGE;
	z->ronly = m + ARENA + 2 * PAGE;
	*(uint32_t *)z->ronly = sizeof(struct shmk_region_info);
	if (mprotect(z->guard, PAGE, PROT_NONE) ||
	    munmap(z->hole, PAGE) || mprotect(z->ronly, PAGE, PROT_READ))
		return -1;
	return 0;
}

/*
 * One burst, in a child of the test: @calls ioctls (counted across its
 * children too), then everything closed, unmapped and reaped.  In the
 * test's namespace, the names are then unlinked and LIST must show none;
 * in a new namespace, half the time they are left to die with it.
 */
static int fz_burst(unsigned long long seed, unsigned long calls,
		    struct fz_shared *sh)
{
	struct fz zz = { .rng = seed, .sh = sh }, *z = &zz;
	unsigned long start = atomic_load(&sh->ioctls);
	struct sigaction sa = { .sa_handler = fz_alarm };
	int own_ns = 0, dev, n;

	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fz_setup(z))
		return 10;
	switch (R(4)) {
	case 0:
		own_ns = !unshare(CLONE_NEWIPC);
		break;
	case 1:
		own_ns = !unshare(CLONE_NEWUSER | CLONE_NEWIPC);
		break;
	}
	dev = shmk_dev();
	if (dev < 0)
		return 11;
	fz_track(z, dev);
	while (atomic_load(&sh->ioctls) - start < calls)
		fz_step(z);
	/* The children end by themselves; one that does not is a hang. */
	if (fz_reap(z, 1))
		return 12;
	for (; z->nmaps; z->nmaps--)
		munmap(z->maps[z->nmaps - 1].addr, z->maps[z->nmaps - 1].len);
	for (; z->nfds; z->nfds--)
		close(z->fds[z->nfds - 1].fd);
	atomic_store(&sh->finished, 1);
	if (own_ns && COIN(2))
		return atomic_load(&sh->bad) ? 1 : 0;
	dev = shmk_dev();
	if (dev < 0)
		return 13;
	shmk_unlink_all(dev);
	n = shmk_count(dev);
	if (n) {
		fprintf(stderr, "# fuzz: %d names left after unlinking\n", n);
		return 14;
	}
	close(dev);
	return atomic_load(&sh->bad) ? 1 : 0;
}

/*
 * The device still works: in a fresh IPC namespace, create, open, info,
 * wait (EAGAIN, ETIMEDOUT, woken by a wake from a child), watch and poll,
 * unlink, and LIST shows nothing.  Returns 0 or the failing step.
 */
static int fz_sanity(void)
{
	struct shmk_region_info info;
	struct shmk_watch wt = { .size = sizeof(wt), .offset = 64,
				 .bitset = SHMK_BITSET_ANY };
	struct pollfd pfd;
	volatile uint32_t *mem;
	int dev, fd, fd2, i, status;
	pid_t pid;

	if (unshare(CLONE_NEWIPC))
		return 1;
	dev = shmk_dev();
	if (dev < 0)
		return 2;
	if (shmk_count(dev) != 0)
		return 3;
	fd = shmk_create(dev, "sanity", 1);
	if (fd < 0)
		return 4;
	if (shmk_info(fd, &info) || info.bytes != SHMK_PAGE_SIZE ||
	    info.handles != 1 || info.flags || strcmp(info.name, "sanity"))
		return 5;
	fd2 = shmk_open_flags(dev, "sanity", 0);
	if (fd2 < 0 || shmk_info(fd2, &info) || info.handles != 2)
		return 6;
	mem = mmap(NULL, SHMK_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (mem == MAP_FAILED)
		return 7;
	mem[0] = 5;
	if (shmk_wait(fd2, 0, 4, SHMK_WAIT_TIMEOUT, 1000000) != -EAGAIN)
		return 8;
	if (shmk_wait(fd2, 0, 5, SHMK_WAIT_TIMEOUT, 1000000) != -ETIMEDOUT)
		return 9;
	pid = fork();
	if (pid < 0)
		return 10;
	if (pid == 0)
		_exit(shmk_wait(fd2, 0, 5, SHMK_WAIT_TIMEOUT, 20 * NSEC) ? 1 : 0);
	for (i = 0; i < 20000 && shmk_wake(fd, 0, 1) != 1; i++)
		usleep(1000);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return 11;
	if (shmk_ioctl(fd2, SHMK_IOC_WATCH, &wt))
		return 12;
	if (shmk_wake(fd, 64, INT_MAX) < 0)
		return 13;
	pfd.fd = fd2;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 1000) != 1 || !(pfd.revents & POLLIN))
		return 14;
	if (shmk_ioctl(fd2, SHMK_IOC_ACK, NULL) != 1)
		return 15;
	if (shmk_unlink(dev, "sanity") || shmk_count(dev) != 0)
		return 16;
	munmap((void *)mem, SHMK_PAGE_SIZE);
	close(fd2);
	close(fd);
	close(dev);
	return 0;
}

/* Wait for @pid up to @ms; SIGKILL past it.  Returns its status, or -1. */
static int fz_wait_child(pid_t pid, int ms, int *hung)
{
	int status, waited;

	*hung = 0;
	for (waited = 0; waited < ms; waited++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(1000);
	}
	*hung = 1;
	kill(pid, SIGKILL);
	for (waited = 0; waited < 10000; waited++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(1000);
	}
	return -1;
}

FIXTURE(fuzz) {
	long shmem_kb;
	long refcnt;
};

FIXTURE_SETUP(fuzz)
{
	if (access(SHMK_DEVICE_PATH, R_OK | W_OK))
		SKIP(return, "no %s (module not loaded)", SHMK_DEVICE_PATH);
	/* Our own IPC namespace: LIST there must end empty. */
	ASSERT_EQ(0, unshare(CLONE_NEWIPC));
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	self->shmem_kb = meminfo_kb("Shmem:");
	self->refcnt = shmk_refcnt();
	ASSERT_LE(0, self->shmem_kb);
	ASSERT_LE(0, self->refcnt);
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* The debug lane runs >= 100000 calls: the harness limit is generous. */
TEST_F_TIMEOUT(fuzz, random_ioctls, 7200)
{
	unsigned long long seed = shmk_env_ull("SHMK_FUZZ_SEED", 0);
	/* The debug lane's kernel (fault injection): 100000 calls at least. */
	unsigned long calls = shmk_env_ull("SHMK_FUZZ_CALLS",
		access("/sys/kernel/debug/failslab", F_OK) ? 20000 : 100000);
	unsigned long burst = shmk_env_ull("SHMK_FUZZ_BURST", 1000);
	unsigned long b = 0, done;
	struct fz_shared *sh;
	uint64_t t0 = fz_now_ns();
	long shmem_kb, refcnt;
	int dev, status, hung;
	pid_t pid;

	if (!seed)
		seed = (fz_now_ns() ^ getpid()) | 1;
	if (!burst)
		burst = 1000;
	TH_LOG("seed %llu, %lu calls, bursts of %lu (SHMK_FUZZ_SEED, SHMK_FUZZ_CALLS, SHMK_FUZZ_BURST)",
	       seed, calls, burst);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);

	for (b = 0; (done = atomic_load(&sh->ioctls)) < calls; b++) {
		unsigned long long bs = seed + b * 0x9e3779b97f4a7c15ULL;
		unsigned long n = calls - done < burst ? calls - done : burst;

		atomic_store(&sh->finished, 0);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(fz_burst(bs, n, sh));
		status = fz_wait_child(pid, BURST_DEADLINE_MS, &hung);
		ASSERT_FALSE(hung) TH_LOG("seed %llu: burst %lu hung", seed, b);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("seed %llu: burst %lu ended with status %#x, %lu impossible results",
			       seed, b, status, atomic_load(&sh->bad));
		ASSERT_TRUE(atomic_load(&sh->finished))
			TH_LOG("seed %llu: burst %lu lost its main thread (an oops? see the kernel log)",
			       seed, b);
		/* Grandchildren orphaned by the burst come to us: reap them. */
		while (waitpid(-1, &status, WNOHANG) > 0)
			;

		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(fz_sanity());
		status = fz_wait_child(pid, BURST_DEADLINE_MS, &hung);
		ASSERT_FALSE(hung) TH_LOG("seed %llu: sanity check hung after burst %lu",
					  seed, b);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("seed %llu: sanity check failed at step %d after burst %lu",
			       seed, WIFEXITED(status) ? WEXITSTATUS(status) : -1, b);
		/* Long runs (the debug lane) show that they move. */
		if (b % 20 == 19)
			TH_LOG("seed %llu: %lu bursts, %lu ioctls, %.1f s", seed,
			       b + 1, atomic_load(&sh->ioctls),
			       (fz_now_ns() - t0) / 1e9);
	}
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
	TH_LOG("seed %llu: %lu ioctls, %lu other calls, %lu bursts, %lu forks, %lu kills, %lu fds from ioctls, %lu CREATE/UNLINK races (%lu more UNLINKs), %.1f s",
	       seed, atomic_load(&sh->ioctls), atomic_load(&sh->ops), b,
	       atomic_load(&sh->forks), atomic_load(&sh->kills),
	       atomic_load(&sh->created), atomic_load(&sh->races),
	       atomic_load(&sh->race_unlinks), (fz_now_ns() - t0) / 1e9);

	{
		char line[512];
		int i, n = 0;

		for (i = 0; i < 16; i++)
			n += snprintf(line + n, sizeof(line) - n, " %s %lu",
				      fz_errno_names[i],
				      atomic_load(&sh->results[i]));
		TH_LOG("results of the random ioctls:%s", line);
	}

	/* The cleanup pass; its LIST also reaps dead namespaces' names. */
	dev = shmk_dev();
	ASSERT_LE(0, dev);
	shmk_unlink_all(dev);
	EXPECT_EQ(0, shmk_count(dev));
	close(dev);
	EXPECT_EQ(0, shmk_settle(self->shmem_kb, SHMEM_SLACK_KB, self->refcnt,
				 10000, &shmem_kb, &refcnt))
		TH_LOG("seed %llu: Shmem %ld kB (baseline %ld), refcnt %ld (baseline %ld)",
		       seed, shmem_kb, self->shmem_kb, refcnt, self->refcnt);
}

TEST_HARNESS_MAIN
