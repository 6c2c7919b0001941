// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sealed memfd regions (lib/broker.c, library.rst "memfd (fallback)"):
 * the region is a sealed memfd no holder can resize, handed from process
 * to process over abstract Unix sockets named by the rendezvous file's
 * token.  Here: the seals, what a read-only opener can do with its fd,
 * handoff through a chain of processes and across fork(), squatters on
 * the socket addresses (bogus memfds, unserved sockets, another user
 * that could only read), and participants in another pid namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "testutil.h"
#include "../internal.h"

#define SEALS	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static const char *shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/dev/shm/shmk.%s", name);
	return buf;
}

static int name_exists(const char *name)
{
	char path[128];
	struct stat st;

	return lstat(shm_path(path, sizeof(path), name), &st) == 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This process's fd of the memfd behind @name (read-write first), or -1. */
static int find_memfd(const char *name, int want_rw)
{
	char want[128], link[256], path[64];
	int fd, any = -1;
	ssize_t n;

	snprintf(want, sizeof(want), "/memfd:shmk.%s (deleted)", name);
	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (strcmp(link, want))
			continue;
		if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR || !want_rw)
			return fd;
		any = fd;
	}
	return want_rw ? -1 : any;
}

/* Whether /proc/self/maps shows @needle. */
static int mapped(const char *needle)
{
	char line[600];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The token from @name's rendezvous header (lib/broker.c struct rdv). */
static void read_token(const char *name, unsigned char token[16])
{
	char path[128];
	int fd = open(shm_path(path, sizeof(path), name), O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, token, 16, 16), 16);
	close(fd);
}

static socklen_t addr_of(struct sockaddr_un *a, const unsigned char *token,
			 unsigned int idx)
{
	char *p;
	int i;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	p = a->sun_path + 1;
	p += sprintf(p, "shmk-");
	for (i = 0; i < 16; i++)
		p += sprintf(p, "%02x", token[i]);
	p += sprintf(p, "-%u", idx);
	return (socklen_t)(p - (char *)a);
}

/* Is somebody listening on index @idx of @token? */
static int served(const unsigned char *token, unsigned int idx)
{
	struct sockaddr_un a;
	socklen_t al = addr_of(&a, token, idx);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	assert_true(s >= 0);
	ret = connect(s, (struct sockaddr *)&a, al) == 0;
	close(s);
	return ret;
}

/*
 * Actors: children driven one command at a time over a pipe, each with
 * at most one region handle.  Replies are one byte: 0 or -errno.
 */
struct actor {
	pid_t pid;
	int to, from;
};

static void actor_loop(int in, int out, const char *name)
{
	struct shmk_region *r = NULL;
	volatile uint32_t *w;
	char cmd, rep;
	int ret;

	while (read(in, &cmd, 1) == 1) {
		ret = 0;
		switch (cmd) {
		case 'C':	/* create, 0644 */
			ret = shmk_region_create(name, 1, 0644, 0, &r);
			break;
		case 'O':
			ret = shmk_region_open(name, 0, &r);
			break;
		case 'R':
			ret = shmk_region_open(name, SHMK_REGION_OPEN_RDONLY,
					       &r);
			break;
		case 'X':
			shmk_region_close(r);
			r = NULL;
			break;
		case 'I':	/* the first word plus one; reply its value */
			w = shmk_region_base(r);
			ret = -(int)++*w;
			break;
		case 'V':
			w = shmk_region_base(r);
			ret = -(int)*w;
			break;
		case 'Q':	/* gone without closing, as a crash */
			_exit(0);
		}
		rep = (char)-ret;
		if (write(out, &rep, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static void actor_start(struct actor *a, const char *name)
{
	int to[2], from[2];

	assert_int_equal(pipe(to), 0);
	assert_int_equal(pipe(from), 0);
	fflush(NULL);
	a->pid = fork();
	assert_true(a->pid >= 0);
	if (a->pid == 0) {
		alarm(60);
		close(to[1]);
		close(from[0]);
		actor_loop(to[0], from[1], name);
	}
	close(to[0]);
	close(from[1]);
	a->to = to[1];
	a->from = from[0];
}

/* Send @cmd; return the reply (0, -errno, or minus a value). */
static int actor_do(struct actor *a, char cmd)
{
	char rep;

	assert_int_equal(write(a->to, &cmd, 1), 1);
	if (read(a->from, &rep, 1) != 1)
		return -9999;	/* it exited */
	return -(int)(unsigned char)rep;
}

static void actor_end(struct actor *a, char how)
{
	char cmd = how;

	assert_int_equal(write(a->to, &cmd, 1), 1);
	close(a->to);
	assert_int_equal(reap(a->pid), 0);
	close(a->from);
}

/* The region is a sealed memfd; the rendezvous file is not mapped. */
static void test_sealed(void **state)
{
	struct shmk_region *r, *o;
	char name[SHMK_NAME_MAX], needle[128];
	uint64_t bytes;
	int mfd;

	(void)state;
	uniq_name(name, sizeof(name), "seal");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), 0);
	mfd = find_memfd(name, 1);
	assert_true(mfd >= 0);
	assert_int_equal(fcntl(mfd, F_GET_SEALS) & SEALS, SEALS);
	assert_int_equal(ftruncate(mfd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(mfd, 64 << 20), -1);
	assert_int_equal(errno, EPERM);
	/* The rendezvous file: a /dev/shm file, never mapped. */
	assert_int_equal(fcntl(shmk_region_fd(r), F_ADD_SEALS, F_SEAL_SHRINK),
			 -1);
	assert_int_equal(errno, EPERM);
	snprintf(needle, sizeof(needle), "/dev/shm/shmk.%s", name);
	assert_false(mapped(needle));
	snprintf(needle, sizeof(needle), "/memfd:shmk.%s", name);
	assert_true(mapped(needle));
	assert_int_equal(shmk__rdv_read(shmk_region_fd(r), &bytes), 0);
	assert_int_equal(bytes, shmk_region_size(r));
	/* A second handle in this process shares the memfd, no socket. */
	assert_int_equal(shmk_region_open(name, 0, &o), 0);
	*(volatile uint32_t *)shmk_region_base(r) = 77;
	assert_int_equal(*(volatile uint32_t *)shmk_region_base(o), 77);
	shmk_region_close(r);
	assert_int_equal(*(volatile uint32_t *)shmk_region_base(o), 77);
	shmk_region_close(o);
	assert_false(name_exists(name));
}

/* A persistent region stays a plain /dev/shm file: unsealed. */
static void test_persist_unsealed(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX], needle[128];

	(void)state;
	uniq_name(name, sizeof(name), "pu");
	assert_int_equal(shmk_region_create(name, 1, 0600, SHMK_REGION_PERSIST,
					    &r), 0);
	snprintf(needle, sizeof(needle), "/memfd:shmk.%s", name);
	assert_false(mapped(needle));
	assert_int_equal(find_memfd(name, 0), -1);
	shmk_region_close(r);
	assert_int_equal(shmk_region_unlink(name), 0);
}

/*
 * Creator, then a second process, then the creator exits (its socket
 * goes with it), then a third process opens through the second.
 */
static void test_handoff_chain(void **state)
{
	struct actor a, b, c;
	char name[SHMK_NAME_MAX];
	unsigned char token[16];

	(void)state;
	uniq_name(name, sizeof(name), "chain");
	actor_start(&a, name);
	actor_start(&b, name);
	actor_start(&c, name);
	assert_int_equal(actor_do(&a, 'C'), 0);
	read_token(name, token);
	assert_true(served(token, 0));
	assert_int_equal(actor_do(&a, 'I'), -1);
	assert_int_equal(actor_do(&b, 'O'), 0);
	assert_int_equal(actor_do(&b, 'V'), -1);
	assert_int_equal(actor_do(&b, 'I'), -2);
	assert_true(served(token, 1));
	actor_end(&a, 'Q');		/* exits holding: a crash */
	assert_false(served(token, 0));
	assert_true(name_exists(name));
	assert_int_equal(actor_do(&c, 'O'), 0);
	assert_int_equal(actor_do(&c, 'V'), -2);
	assert_int_equal(actor_do(&c, 'I'), -3);
	assert_int_equal(actor_do(&b, 'V'), -3);
	/* Read-only through a read-write server. */
	assert_int_equal(actor_do(&b, 'X'), 0);
	assert_int_equal(actor_do(&b, 'R'), 0);
	assert_int_equal(actor_do(&b, 'V'), -3);
	assert_int_equal(actor_do(&c, 'X'), 0);
	actor_end(&c, 'Q');
	/* b is read-only: it holds the name but serves nobody. */
	assert_int_equal(actor_do(&b, 'X'), 0);
	actor_end(&b, 'Q');
	/* The last read-write holder swept it; else the next open does. */
	{
		struct shmk_region *r;

		if (name_exists(name))
			assert_int_equal(shmk_region_open(name, 0, &r),
					 -ENOENT);
	}
	assert_false(name_exists(name));
}

/*
 * fork(): the child closes the listening socket it inherits (else a
 * newcomer would wait on it for nothing) and serves again from its next
 * open.
 */
static void fork_parent(const char *name, int ready_fd, int go_fd)
{
	struct shmk_region *r, *again;
	volatile uint32_t *w;
	pid_t kid;
	char ch;

	CHILD_CHECK(shmk_region_create(name, 1, 0600, 0, &r) == 0);
	w = shmk_region_base(r);
	*w = 41;
	fflush(NULL);
	kid = fork();
	CHILD_CHECK(kid >= 0);
	if (kid == 0) {
		/* The child: told to open (and so to serve), then hold. */
		alarm(60);	/* (not inherited) */
		CHILD_CHECK(write(ready_fd, "f", 1) == 1);
		CHILD_CHECK(read(go_fd, &ch, 1) == 1);
		CHILD_CHECK(shmk_region_open(name, 0, &again) == 0);
		CHILD_CHECK(*(volatile uint32_t *)shmk_region_base(again)
			    == 41);
		CHILD_CHECK(write(ready_fd, "s", 1) == 1);
		CHILD_CHECK(read(go_fd, &ch, 1) == 1);
		shmk_region_close(again);
		_exit(0);
	}
	/* The parent goes without closing: the child holds its lock. */
	_exit(0);
}

static void test_fork_serving(void **state)
{
	char name[SHMK_NAME_MAX];
	struct shmk_region *r;
	int ready[2], go[2];
	int64_t t0, took;
	pid_t pid;
	char ch;

	(void)state;
	uniq_name(name, sizeof(name), "fork");
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		fork_parent(name, ready[1], go[0]);
	}
	assert_int_equal(read(ready[0], &ch, 1), 1);
	assert_int_equal(reap(pid), 0);		/* the parent is gone */
	/* Held (by the child), served by nobody: a clear error, soon. */
	t0 = now_ms();
	assert_int_equal(shmk_region_open(name, 0, &r), -ENOLINK);
	took = now_ms() - t0;
	print_message("open with no server: -ENOLINK after %lld ms\n",
		      (long long)took);
	assert_true(took < 3000);
	assert_true(name_exists(name));
	/* The child opens again: now it serves. */
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(ready[0], &ch, 1), 1);
	assert_int_equal(ch, 's');
	assert_int_equal(shmk_region_open(name, 0, &r), 0);
	assert_int_equal(*(volatile uint32_t *)shmk_region_base(r), 41);
	/* The orphan is not ours to reap: its end of the pipe tells. */
	close(ready[1]);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(ready[0], &ch, 1), 0);
	shmk_region_close(r);
	assert_false(name_exists(name));
	close(ready[0]);
	close(go[0]);
	close(go[1]);
}

/*
 * Squatters: a socket bound on a region's address by a process that does
 * not hold the region.  Each kind serves one connection (or none).
 */
enum squat { SQ_UNSEALED, SQ_SIZE, SQ_TOKEN, SQ_SILENT, SQ_NOBODY };

struct squatter {
	pid_t pid;
	int report;		/* what it saw: 'f' got an fd, 'n' none */
	int hold;		/* closed by squat_end(): a silent one exits */
};

/* Make a memfd for the squatter to hand out. */
static int bogus_memfd(enum squat kind, uint64_t size,
		       const unsigned char *token)
{
	struct {
		uint64_t magic, size;
		unsigned char token[16];
		uint64_t check;
	} t;
	int fd = memfd_create("bogus", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (kind == SQ_SIZE)	/* smaller: the mapping would SIGBUS */
		size /= 2;
	if (ftruncate(fd, (off_t)(size + SHMK_MEMFD_TRAILER)) < 0)
		return -1;
	/* A plausible trailer: the right token unless SQ_TOKEN. */
	memset(&t, 0, sizeof(t));
	t.magic = 0x314c5254484d4853ULL;
	t.size = size;
	memcpy(t.token, token, 16);
	if (kind == SQ_TOKEN)
		t.token[0] ^= 1;
	{
		/* rdv_check() of lib/broker.c: a trailer that checks out. */
		uint64_t x, y;

		memcpy(&x, t.token, 8);
		memcpy(&y, t.token + 8, 8);
		t.check = (t.magic ^ (t.size * 0x9e3779b97f4a7c15ULL) ^ x ^
			   (y << 1 | y >> 63)) + 0x5348;
	}
	if (pwrite(fd, &t, sizeof(t), (off_t)size) != (ssize_t)sizeof(t))
		return -1;
	if (kind != SQ_UNSEALED &&
	    fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		return -1;
	return fd;
}

static void squat_child(enum squat kind, const unsigned char *token,
			unsigned int idx, uint64_t size, int ready, int report)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} u;
	char buf[64], rep[32];
	struct sockaddr_un a;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr m;
	int ls, c, fd, got = 0;

	alarm(30);
	if (kind == SQ_NOBODY) {
		CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
		CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
	}
	ls = socket(AF_UNIX, SOCK_STREAM, 0);
	CHILD_CHECK(ls >= 0);
	CHILD_CHECK(bind(ls, (struct sockaddr *)&a,
			 addr_of(&a, token, idx)) == 0);
	CHILD_CHECK(listen(ls, 4) == 0);
	CHILD_CHECK(write(ready, "r", 1) == 1);
	if (kind == SQ_SILENT) {
		/* Never accepts: connections wait in the backlog. */
		CHILD_CHECK(read(report, buf, 1) >= 0);
		CHILD_CHECK(write(ready, "s", 1) == 1);
		_exit(0);
	}
	c = accept(ls, NULL, NULL);
	CHILD_CHECK(c >= 0);
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.b;
	m.msg_controllen = sizeof(u.b);
	if (recvmsg(c, &m, 0) > 0 && CMSG_FIRSTHDR(&m) &&
	    CMSG_FIRSTHDR(&m)->cmsg_type == SCM_RIGHTS)
		got = 1;
	/* Reply as a server would, with a bogus memfd. */
	fd = bogus_memfd(kind, size, token);
	memset(rep, 0, sizeof(rep));
	memcpy(rep, "SMHHREP1", 8);	/* REP_MAGIC, little-endian */
	rep[12] = 2;				/* nfds */
	memcpy(rep + 16, token, 16);
	if (fd >= 0) {
		int fds[2] = { fd, fd };

		memset(&m, 0, sizeof(m));
		iov.iov_base = rep;
		iov.iov_len = sizeof(rep);
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE(2 * sizeof(int));
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(2 * sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, sizeof(fds));
		(void)sendmsg(c, &m, MSG_NOSIGNAL);
	}
	CHILD_CHECK(write(ready, got ? "f" : "n", 1) == 1);
	_exit(0);
}

static void squat_start(struct squatter *s, enum squat kind,
			const unsigned char *token, unsigned int idx,
			uint64_t size)
{
	int ready[2], hold[2];
	char ch;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	fflush(NULL);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		close(ready[0]);
		close(hold[1]);
		squat_child(kind, token, idx, size, ready[1], hold[0]);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &ch, 1), 1);
	s->report = ready[0];
	s->hold = hold[1];
}

/* 'f' when the squatter received an fd, 'n' when not, 0 if it said nothing. */
static char squat_end(struct squatter *s)
{
	char ch = 0;

	close(s->hold);
	if (read(s->report, &ch, 1) != 1)
		ch = 0;
	reap(s->pid);
	close(s->report);
	return ch;
}

/*
 * A region held by b only, its index 0 (the creator's, a) taken by a
 * squatter; a newcomer (this process) must skip the squatter's memfd and
 * open through b, within the bounded reply timeout for a silent one.
 */
static void squat_case(enum squat kind)
{
	struct actor a, b;
	struct squatter sq;
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];
	unsigned char token[16];
	int64_t t0, took;
	char got;

	uniq_name(name, sizeof(name), "squat");
	actor_start(&a, name);
	actor_start(&b, name);
	assert_int_equal(actor_do(&a, 'C'), 0);
	assert_int_equal(actor_do(&a, 'I'), -1);
	assert_int_equal(actor_do(&b, 'O'), 0);
	read_token(name, token);
	assert_true(served(token, 0));
	assert_true(served(token, 1));
	/* a leaves: its index is free for the squatter. */
	assert_int_equal(actor_do(&a, 'X'), 0);
	actor_end(&a, 'Q');
	assert_false(served(token, 0));
	squat_start(&sq, kind, token, 0, 2 << 20);
	t0 = now_ms();
	assert_int_equal(shmk_region_open(name, 0, &r), 0);
	took = now_ms() - t0;
	assert_int_equal(*(volatile uint32_t *)shmk_region_base(r), 1);
	(*(volatile uint32_t *)shmk_region_base(r))++;
	assert_int_equal(actor_do(&b, 'V'), -2);
	shmk_region_close(r);
	got = squat_end(&sq);
	print_message("squatter %d: open took %lld ms, squatter %s\n", kind,
		      (long long)took, got == 'f' ? "was sent an fd" :
		      got == 'n' ? "got no fd" : "silent");
	if (kind == SQ_NOBODY)
		assert_int_equal(got, 'n');	/* never our rendezvous fd */
	else if (kind != SQ_SILENT)
		assert_int_equal(got, 'f');	/* asked, and refused */
	else
		assert_true(took >= 200 && took < 2000);
	assert_int_equal(actor_do(&b, 'X'), 0);
	actor_end(&b, 'Q');
	assert_false(name_exists(name));
}

static void test_squat_unsealed(void **state)
{
	(void)state;
	squat_case(SQ_UNSEALED);
}

static void test_squat_size(void **state)
{
	(void)state;
	squat_case(SQ_SIZE);
}

static void test_squat_token(void **state)
{
	(void)state;
	squat_case(SQ_TOKEN);
}

static void test_squat_silent(void **state)
{
	(void)state;
	squat_case(SQ_SILENT);
}

/* A user who can read the rendezvous file but not write it. */
static void test_squat_reader(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root (setresuid)\n");
		skip();
		return;
	}
	squat_case(SQ_NOBODY);
}

/*
 * A read-only opener (another user) gets a read-only fd: it cannot map it
 * writable, make its mapping writable, or reopen it read-write through
 * /proc/self/fd (the creator set the memfd's mode to 0; root, with
 * CAP_DAC_OVERRIDE, could).
 */
static void rdonly_child(const char *name)
{
	struct shmk_region *r;
	char path[64];
	void *p;
	int fd;

	CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
	CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
	/* Readable /proc/self/fd after the uid change. */
	CHILD_CHECK(prctl(PR_SET_DUMPABLE, 1) == 0);
	CHILD_CHECK(shmk_region_open(name, 0, &r) == -EACCES);
	CHILD_CHECK(shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &r) == 0);
	CHILD_CHECK(*(volatile uint32_t *)shmk_region_base(r) == 5);
	fd = find_memfd(name, 0);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	CHILD_CHECK(find_memfd(name, 1) == -1);
	p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHILD_CHECK(p == MAP_FAILED && errno == EACCES);
	CHILD_CHECK(mprotect(shmk_region_base(r), 2 << 20,
			     PROT_READ | PROT_WRITE) == -1 && errno == EACCES);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	CHILD_CHECK(open(path, O_RDWR) == -1 && errno == EACCES);
	CHILD_CHECK(ftruncate(fd, 0) == -1);
	CHILD_CHECK(write(fd, "x", 1) == -1);
	shmk_region_close(r);
	_exit(0);
}

static void test_rdonly_fd(void **state)
{
	char name[SHMK_NAME_MAX];
	struct actor a;
	pid_t pid;
	int i;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root (setresuid)\n");
		skip();
		return;
	}
	uniq_name(name, sizeof(name), "ro");
	actor_start(&a, name);
	assert_int_equal(actor_do(&a, 'C'), 0);	/* 0644, root's */
	for (i = 0; i < 5; i++)
		actor_do(&a, 'I');
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30);
		rdonly_child(name);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(actor_do(&a, 'X'), 0);
	actor_end(&a, 'Q');
	assert_false(name_exists(name));
}

/*
 * Participants in another pid namespace: the handoff knows no pids.
 * Abstract sockets are per network namespace: these share one.
 */
static void test_pidns(void **state)
{
	struct shmk_region *o;
	char name[SHMK_NAME_MAX], name2[SHMK_NAME_MAX];
	int ready[2], go[2];
	struct actor a;
	pid_t pid;
	char ch;

	(void)state;
	uniq_name(name, sizeof(name), "ns");
	uniq_name(name2, sizeof(name2), "ns2");
	actor_start(&a, name);
	assert_int_equal(actor_do(&a, 'C'), 0);
	assert_int_equal(actor_do(&a, 'I'), -1);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t in;

		alarm(30);
		if (unshare(CLONE_NEWPID) < 0) {
			CHILD_CHECK(write(ready[1], "u", 1) == 1);
			_exit(0);
		}
		in = fork();
		CHILD_CHECK(in >= 0);
		if (in == 0) {
			struct shmk_region *x, *y;

			CHILD_CHECK(getpid() == 1);
			CHILD_CHECK(shmk_region_open(name, 0, &x) == 0);
			CHILD_CHECK(*(volatile uint32_t *)shmk_region_base(x)
				    == 1);
			CHILD_CHECK(shmk_region_create(name2, 1, 0600, 0, &y)
				    == 0);
			*(volatile uint32_t *)shmk_region_base(y) = 10;
			CHILD_CHECK(write(ready[1], "k", 1) == 1);
			CHILD_CHECK(read(go[0], &ch, 1) == 1);
			shmk_region_close(y);
			shmk_region_close(x);
			_exit(0);
		}
		_exit(reap(in));
	}
	assert_int_equal(read(ready[0], &ch, 1), 1);
	if (ch == 'u') {
		reap(pid);
		assert_int_equal(actor_do(&a, 'X'), 0);
		actor_end(&a, 'Q');
		print_message("skipped: unshare(CLONE_NEWPID) not allowed\n");
		skip();
		return;
	}
	assert_int_equal(shmk_region_open(name2, 0, &o), 0);
	assert_int_equal(*(volatile uint32_t *)shmk_region_base(o), 10);
	assert_int_equal(write(go[1], "g", 1), 1);
	shmk_region_close(o);
	assert_int_equal(reap(pid), 0);
	assert_int_equal(actor_do(&a, 'V'), -1);
	assert_int_equal(actor_do(&a, 'X'), 0);
	actor_end(&a, 'Q');
	assert_false(name_exists(name));
	assert_false(name_exists(name2));
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

/* A newcomer while the broker serves others, from several threads. */
static void *open_close_many(void *arg)
{
	const char *name = arg;
	struct shmk_region *r;
	int i;

	for (i = 0; i < 50; i++) {
		if (shmk_region_open(name, 0, &r) != 0)
			return (void *)1;
		(*(volatile uint32_t *)shmk_region_base(r))++;
		shmk_region_close(r);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct actor a;
	char name[SHMK_NAME_MAX];
	pthread_t t[3];
	void *ret;
	int i;

	(void)state;
	uniq_name(name, sizeof(name), "thr");
	actor_start(&a, name);
	assert_int_equal(actor_do(&a, 'C'), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, open_close_many,
						name), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(actor_do(&a, 'X'), 0);
	actor_end(&a, 'Q');
	assert_false(name_exists(name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_persist_unsealed),
		cmocka_unit_test(test_handoff_chain),
		cmocka_unit_test(test_fork_serving),
		cmocka_unit_test(test_squat_unsealed),
		cmocka_unit_test(test_squat_size),
		cmocka_unit_test(test_squat_token),
		cmocka_unit_test(test_squat_silent),
		cmocka_unit_test(test_squat_reader),
		cmocka_unit_test(test_rdonly_fd),
		cmocka_unit_test(test_pidns),
		cmocka_unit_test(test_threads),
	};

	/* These are memfd rules: run on memfd whatever the environment says. */
	setenv("SHMK_BACKEND", "memfd", 1);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
