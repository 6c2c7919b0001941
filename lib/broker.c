// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk memfd backend, part two: sealed regions and their handoff.
 *
 * A non-persistent memfd region is a sealed memfd (memfd_create(2) with
 * F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), which no holder can resize:
 * a peer's ftruncate(2) fails with EPERM instead of making everyone else
 * take SIGBUS.  A memfd has no name, so /dev/shm/shmk.N becomes a small
 * rendezvous file (backend_memfd.c): discovery, permission, liveness
 * locks, and a header (struct rdv below) naming the memfd by a random
 * 128-bit token.  The memfd itself is handed from process to process:
 *
 * Serving.  Every process that holds a sealed region read-write listens
 * on an abstract Unix socket "\0shmk-<token in hex>-<i>", i the first
 * index in [0, BRK_MAX_IDX) nobody has bound.  Only those who could read
 * the rendezvous file know the token, so only they can find (or squat)
 * the address.  One thread per process serves every region the process
 * holds (started lazily, all signals blocked, joined when the last
 * region goes); it holds the table lock only to look up and dup, never
 * across a blocking call, and every reply is bounded by SO_SNDTIMEO and
 * SO_RCVTIMEO, so a stuck client delays others by at most BRK_IO_MS.
 *
 * Asking.  A newcomer has opened the rendezvous file by name (that is
 * the permission check) and read its header.  A process that already
 * holds the region (every port opens its service region again) takes the
 * memfd from its own table, no socket.  Otherwise it connects to each
 * index in turn (refused or full backlog: next), checks that the peer
 * (SO_PEERCRED, SO_PEERGROUPS) could write the rendezvous file, and only
 * then sends its rendezvous fd (SCM_RIGHTS) as proof of access.  The
 * server compares dev/ino with its own and sends the read-write memfd to
 * an O_RDWR opener, a read-only fd (made once by the creator through
 * /proc/self/fd) to anyone else; O_PATH fds prove nothing and are
 * refused.  The newcomer waits BRK_IO_MS at most for the reply (an
 * inherited but unserved socket after fork, or a squatter that never
 * answers, costs that and no more), then checks the memfd: seals
 * SHRINK|GROW|SEAL present, size the header's plus one trailer page, and
 * the trailer (struct rdv at the region's end, not mapped) carries the
 * same token.  Anything else is refused and the next index tried.
 *
 * Read-only fds.  The creator makes the read-only fd first, then
 * fchmod()s the memfd to 0: reopening a read-only fd read-write through
 * /proc/self/fd checks the inode's mode, so only a process with
 * CAP_DAC_OVERRIDE (root) could.  F_SEAL_FUTURE_WRITE would stop writers
 * too, so it is not used, except on a zero-trust data region, which only
 * its creator writes: it seals the memfd once it has mapped it
 * (shmk__brk_seal_write()), and readers accept that seal.
 *
 * fork().  A child shares its parent's fds but not its thread: a
 * pthread_atfork() child handler closes the inherited listening sockets
 * (an unserved socket under the parent's address would make newcomers
 * wait for nothing) and forgets the thread; the child serves again from
 * its next open or create of a region.
 *
 * Crashes.  Nothing here stores to memory another process reads: the
 * header is written to the rendezvous file before it is linked, the
 * trailer before the memfd is sealed and handed out.  A server killed
 * mid-reply gives its client EOF (next index); a creator killed before
 * the link leaves an unnamed file and a memfd that die with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define RDV_MAGIC	0x31564452484d4853ULL	/* "SHMHRDV1" */
#define TRL_MAGIC	0x314c5254484d4853ULL	/* "SHMHTRL1" */
#define REQ_MAGIC	0x3151455248484d53ULL
#define REP_MAGIC	0x3150455248484d53ULL

/* Serving processes per region; more hold it without serving. */
#define BRK_MAX_IDX	128
/* Bound on every exchange, each way (milliseconds). */
#define BRK_IO_MS	250
#define SEALS_NEEDED	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* The rendezvous header (offset 0) and the memfd's trailer (at size). */
struct rdv {
	uint64_t magic;
	uint64_t size;
	unsigned char token[16];
	uint64_t check;
};

struct brk_req {
	uint64_t magic;
	unsigned char token[16];
};

struct brk_rep {
	uint64_t magic;
	int32_t status;		/* 0, or -errno: no fd follows */
	uint32_t nfds;		/* 2: rw, ro; 1: ro */
	unsigned char token[16];
};

/* A region this process holds: what it serves and shares between handles. */
struct shmk_brk {
	struct shmk_brk *next;
	unsigned char token[16];
	dev_t dev;		/* the rendezvous file */
	ino_t ino;
	uint64_t size;
	int rw, ro;		/* the memfd; rw -1 when held read-only */
	int lsock;		/* listening socket or -1 */
	unsigned int refs;
};

struct brk_ctx {
	pthread_t thr;
	int wake[2];
	int stop;		/* under brk_lock */
	void *stack;		/* ours: see brk_start_locked() */
	struct pollfd *pf;	/* the thread's poll set, under brk_lock */
};

/* The server's stack; it only makes system calls. */
#define BRK_STACK	(1UL << 20)

static pthread_mutex_t brk_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t brk_once = PTHREAD_ONCE_INIT;
static struct shmk_brk *brk_list;	/* under brk_lock */
static struct brk_ctx *brk_cur;		/* the running server, or NULL */
static int brk_rebind;			/* fork child: bind again */

static uint64_t rdv_check(const struct rdv *h)
{
	uint64_t a, b;

	memcpy(&a, h->token, 8);
	memcpy(&b, h->token + 8, 8);
	return (h->magic ^ (h->size * 0x9e3779b97f4a7c15ULL) ^ a ^
		(b << 1 | b >> 63)) + 0x5348;
}

static void rdv_fill(struct rdv *h, uint64_t magic, uint64_t size,
		     const unsigned char *token)
{
	memset(h, 0, sizeof(*h));
	h->magic = magic;
	h->size = size;
	memcpy(h->token, token, 16);
	h->check = rdv_check(h);
}

/* Read and check a header at @off of @fd: 0, or -EBADMSG. */
static int rdv_read(int fd, off_t off, uint64_t magic, struct rdv *h)
{
	ssize_t n = pread(fd, h, sizeof(*h), off);

	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(*h) || h->magic != magic ||
	    h->check != rdv_check(h) || h->size == 0 ||
	    h->size % SHMK_PAGE_SIZE || h->size > SIZE_MAX / 2)
		return -EBADMSG;
	return 0;
}

int shmk__rdv_read(int fd, uint64_t *bytes)
{
	struct rdv h;
	int ret = rdv_read(fd, 0, RDV_MAGIC, &h);

	if (ret == 0)
		*bytes = h.size;
	return ret;
}

static socklen_t brk_addr(struct sockaddr_un *a, const unsigned char *token,
			  unsigned int idx)
{
	static const char hex[] = "0123456789abcdef";
	char *p;
	int i;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	p = a->sun_path + 1;		/* abstract: sun_path[0] = 0 */
	p += sprintf(p, "shmk-");
	for (i = 0; i < 16; i++) {
		*p++ = hex[token[i] >> 4];
		*p++ = hex[token[i] & 15];
	}
	p += sprintf(p, "-%u", idx);
	return (socklen_t)(p - (char *)a);
}

static void set_timeouts(int s)
{
	struct timeval tv = { 0, BRK_IO_MS * 1000 };

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Send @len bytes and @nfds fds (may be 0) on @s: 0 or -errno. */
static int send_fds(int s, const void *buf, size_t len, const int *fds,
		    unsigned int nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (nfds) {
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(s, &m, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EPROTO;
}

/*
 * Receive exactly @len bytes and up to 2 fds on @s; fds[] gets them (-1
 * for none, all closed on error).  Return the number of fds or -errno.
 */
static int recv_fds(int s, void *buf, size_t len, int fds[2])
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { buf, len };
	struct msghdr m;
	struct cmsghdr *c;
	int nf = 0, ret = 0, i;
	ssize_t n;

	fds[0] = fds[1] = -1;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.b;
	m.msg_controllen = sizeof(u.b);
	n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < (int)k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
			if (nf < 2)
				fds[nf++] = fd;
			else
				close(fd);
		}
	}
	if ((size_t)n != len || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		ret = -EPROTO;
	if (ret) {
		for (i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		fds[0] = fds[1] = -1;
		return ret;
	}
	return nf;
}

/*
 * Could a process with @uid, @gid and supplementary @groups write a file
 * with the mode and owner in @st?  The classic owner/group/other check,
 * root always.
 */
static int could_write(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		       const struct stat *st)
{
	int i, in_group = gid == st->st_gid;

	if (uid == 0)
		return 1;
	if (uid == st->st_uid)
		return !!(st->st_mode & S_IWUSR);
	for (i = 0; i < ngroups && !in_group; i++)
		in_group = groups[i] == st->st_gid;
	if (in_group)
		return !!(st->st_mode & S_IWGRP);
	return !!(st->st_mode & S_IWOTH);
}

/* The peer of connected @s could write the rendezvous file @st. */
static int peer_could_write(int s, const struct stat *st)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	gid_t groups[64];
	int ng = 0;

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return 0;
#ifdef SO_PEERGROUPS
	len = sizeof(groups);
	if (getsockopt(s, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		ng = (int)(len / sizeof(gid_t));
#endif
	return could_write(cr.uid, cr.gid, groups, ng, st);
}

/* Check a memfd received for @h: 0, or -EBADMSG. */
static int memfd_check(int fd, const struct rdv *h, int need_rw)
{
	struct rdv t;
	struct stat st;
	int seals, fl;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != h->size + SHMK_MEMFD_TRAILER)
		return -EBADMSG;
	seals = fcntl(fd, F_GET_SEALS);
	/*
	 * A write seal would make a writer's region read-only under it; a
	 * reader needs no writes (zero-trust data regions are sealed
	 * F_SEAL_FUTURE_WRITE: shmk__brk_seal_write()).
	 */
	if (seals < 0 || (seals & SEALS_NEEDED) != SEALS_NEEDED ||
	    (need_rw && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))))
		return -EBADMSG;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_PATH) ||
	    (need_rw && (fl & O_ACCMODE) != O_RDWR))
		return -EBADMSG;
	if (rdv_read(fd, (off_t)h->size, TRL_MAGIC, &t) ||
	    t.size != h->size || memcmp(t.token, h->token, 16))
		return -EBADMSG;
	return 0;
}

/*
 * Ask the servers of @h (rendezvous @rfd, @rst) for the memfd: rw and ro
 * when @rfd is read-write, ro alone otherwise.  0, or -ENOLINK when no
 * server gave a good one (-EACCES seen last: a server refused us).
 */
static int brk_fetch(int rfd, const struct stat *rst, const struct rdv *h,
		     int want_rw, int *rw, int *ro)
{
	struct sockaddr_un a;
	struct brk_req q;
	struct brk_rep p;
	unsigned int i;
	int ret = -ENOLINK, s = -1;

	*rw = *ro = -1;
	memset(&q, 0, sizeof(q));
	q.magic = REQ_MAGIC;
	memcpy(q.token, h->token, 16);
	for (i = 0; i < BRK_MAX_IDX; i++) {
		socklen_t al = brk_addr(&a, h->token, i);
		struct pollfd pf;
		int fds[2], n;

		if (s < 0) {
			s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				   SOCK_NONBLOCK, 0);
			if (s < 0)
				return -errno;
		}
		/*
		 * Refused: nobody there (the socket stays unconnected and is
		 * used again); EAGAIN: backlog full (a stuck server).
		 */
		if (connect(s, (struct sockaddr *)&a, al) < 0) {
			if (errno == ECONNREFUSED || errno == ENOENT)
				continue;
			goto next;
		}
		/* Our rendezvous fd goes only to a peer that could write it. */
		if (!peer_could_write(s, rst))
			goto next;
		if (send_fds(s, &q, sizeof(q), &rfd, 1))
			goto next;
		pf.fd = s;
		pf.events = POLLIN;
		if (poll(&pf, 1, BRK_IO_MS) != 1)
			goto next;	/* an unserved socket: bounded */
		n = recv_fds(s, &p, sizeof(p), fds);
		if (n < 0)
			goto next;
		if (p.magic != REP_MAGIC || memcmp(p.token, h->token, 16) ||
		    p.status || n != (want_rw ? 2 : 1) ||
		    (uint32_t)n != p.nfds) {
			if (p.magic == REP_MAGIC && p.status == -EACCES)
				ret = -EACCES;
			goto drop;
		}
		if (want_rw && memfd_check(fds[0], h, 1))
			goto drop;
		if (memfd_check(fds[n - 1], h, 0))
			goto drop;
		close(s);
		if (want_rw)
			*rw = fds[0];
		*ro = fds[n - 1];
		return 0;
drop:
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
next:
		close(s);
		s = -1;
	}
	if (s >= 0)
		close(s);
	return ret;
}

/* Serve one connection: the memfd fds are dups owned by the caller. */
static void brk_answer(int c, const struct shmk_brk *e, int rw, int ro)
{
	struct brk_req q;
	struct brk_rep p;
	struct stat st;
	int fds[2], n, fl, out[2];
	unsigned int nout = 0;

	set_timeouts(c);
	memset(&p, 0, sizeof(p));
	p.magic = REP_MAGIC;
	memcpy(p.token, e->token, 16);
	n = recv_fds(c, &q, sizeof(q), fds);
	if (n < 0)
		return;
	p.status = -EACCES;
	if (n != 1 || q.magic != REQ_MAGIC || memcmp(q.token, e->token, 16) ||
	    fstat(fds[0], &st) < 0 || st.st_dev != e->dev ||
	    st.st_ino != e->ino)
		goto reply;
	fl = fcntl(fds[0], F_GETFL);
	if (fl < 0 || (fl & O_PATH))
		goto reply;
	if ((fl & O_ACCMODE) == O_RDWR) {
		if (rw < 0)
			goto reply;	/* we have none: ask the next one */
		out[nout++] = rw;
	}
	if (ro < 0)
		goto reply;
	out[nout++] = ro;
	p.status = 0;
	p.nfds = nout;
reply:
	if (p.status)
		nout = 0;
	(void)send_fds(c, &p, sizeof(p), out, nout);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

/* Accept on @ls if it is still a region's socket, and answer. */
static void brk_serve_one(struct brk_ctx *ctx, int ls)
{
	struct shmk_brk *e, copy;
	int c = -1, rw = -1, ro = -1;

	pthread_mutex_lock(&brk_lock);
	for (e = brk_list; e; e = e->next)
		if (e->lsock == ls)
			break;
	if (e && !ctx->stop) {
		/* Non-blocking listener: accept under the lock is bounded. */
		c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			copy = *e;
			rw = e->rw >= 0 ? fcntl(e->rw, F_DUPFD_CLOEXEC, 0) : -1;
			ro = e->ro >= 0 ? fcntl(e->ro, F_DUPFD_CLOEXEC, 0) : -1;
		}
	}
	pthread_mutex_unlock(&brk_lock);
	if (c < 0)
		return;
	brk_answer(c, &copy, rw, ro);
	close(c);
	if (rw >= 0)
		close(rw);
	if (ro >= 0)
		close(ro);
}

static void *brk_thread(void *arg)
{
	struct brk_ctx *ctx = arg;
	struct pollfd *pf = NULL;
	size_t cap = 0, n, i;
	struct shmk_brk *e;
	char buf[64];

	for (;;) {
		pthread_mutex_lock(&brk_lock);
		if (ctx->stop) {
			pthread_mutex_unlock(&brk_lock);
			break;
		}
		n = 1;
		for (e = brk_list; e; e = e->next)
			n += e->lsock >= 0;
		if (n > cap) {
			struct pollfd *np = realloc(pf, n * sizeof(*pf));

			if (np) {
				/* In ctx too: a fork child frees its copy. */
				ctx->pf = pf = np;
				cap = n;
			}
		}
		n = 0;
		if (cap) {
			pf[n].fd = ctx->wake[0];
			pf[n++].events = POLLIN;
			for (e = brk_list; e && n < cap; e = e->next) {
				if (e->lsock < 0)
					continue;
				pf[n].fd = e->lsock;
				pf[n++].events = POLLIN;
			}
		}
		pthread_mutex_unlock(&brk_lock);
		if (!n) {		/* out of memory: try again later */
			struct timespec ts = { 0, 10000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		if (poll(pf, n, -1) < 0)
			continue;
		if (pf[0].revents)
			while (read(ctx->wake[0], buf, sizeof(buf)) > 0)
				;
		for (i = 1; i < n; i++)
			if (pf[i].revents & POLLIN)
				brk_serve_one(ctx, pf[i].fd);
	}
	pthread_mutex_lock(&brk_lock);
	ctx->pf = NULL;
	pthread_mutex_unlock(&brk_lock);
	free(pf);
	return NULL;
}

static void brk_kick(struct brk_ctx *ctx)
{
	char b = 1;

	if (ctx)
		(void)!write(ctx->wake[1], &b, 1);
}

/* Under brk_lock: make sure a server thread runs.  0 or -errno. */
static int brk_start_locked(void)
{
	struct brk_ctx *ctx;
	pthread_attr_t attr;
	sigset_t all, old;
	int ret;

	if (brk_cur)
		return 0;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (pipe2(ctx->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		free(ctx);
		return ret;
	}
	/*
	 * A stack of our own, not one from glibc's cache: a fork child that
	 * starts its server would otherwise get the stack, and so the thread
	 * id, of its parent's server, which ThreadSanitizer (that sees the
	 * parent's thread still alive) refuses.  The lowest page guards.
	 */
	ctx->stack = mmap(NULL, BRK_STACK, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (ctx->stack == MAP_FAILED) {
		ret = -errno;
		goto err_pipe;
	}
	(void)mprotect(ctx->stack, 4096, PROT_NONE);
	ret = -pthread_attr_init(&attr);
	if (ret)
		goto err_stack;
	ret = -pthread_attr_setstack(&attr, ctx->stack, BRK_STACK);
	/* The thread takes no signal: they stay the application's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (!ret)
		ret = -pthread_create(&ctx->thr, &attr, brk_thread, ctx);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		goto err_stack;
	brk_cur = ctx;
	return 0;

err_stack:
	munmap(ctx->stack, BRK_STACK);
err_pipe:
	close(ctx->wake[0]);
	close(ctx->wake[1]);
	free(ctx);
	return ret;
}

/* Under brk_lock: bind @e's socket at the first free index (best effort). */
static void brk_listen_locked(struct shmk_brk *e)
{
	struct sockaddr_un a;
	unsigned int i;
	int s;

	if (e->lsock >= 0 || e->rw < 0)
		return;		/* only read-write holders serve */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return;
	for (i = 0; i < BRK_MAX_IDX; i++) {
		socklen_t al = brk_addr(&a, e->token, i);

		if (bind(s, (struct sockaddr *)&a, al) == 0) {
			if (listen(s, 16) == 0) {
				e->lsock = s;
				return;
			}
			break;
		}
		if (errno != EADDRINUSE)
			break;
	}
	close(s);
}

/* fork(): see "fork()" above.  The prepare handler holds the lock. */
static void brk_atfork_prepare(void)
{
	pthread_mutex_lock(&brk_lock);
}

static void brk_atfork_parent(void)
{
	pthread_mutex_unlock(&brk_lock);
}

static void brk_atfork_child(void)
{
	struct shmk_brk *e;

	for (e = brk_list; e; e = e->next) {
		if (e->lsock >= 0)
			close(e->lsock);
		e->lsock = -1;
	}
	if (brk_cur) {
		/*
		 * The parent's server: not here.  Its stack, a copy, stays
		 * mapped: our own server's stack must lie elsewhere (the same
		 * address would give it the same thread id), and glibc's
		 * record of that thread, which lives in it, stays reachable.
		 */
		close(brk_cur->wake[0]);
		close(brk_cur->wake[1]);
		free(brk_cur->pf);
		free(brk_cur);
		brk_cur = NULL;
	}
	brk_rebind = brk_list != NULL;
	pthread_mutex_unlock(&brk_lock);
}

static void brk_init(void)
{
	pthread_atfork(brk_atfork_prepare, brk_atfork_parent, brk_atfork_child);
}

/* Under brk_lock: a fork child serves again what it inherited. */
static void brk_resume_locked(void)
{
	struct shmk_brk *e;

	if (brk_rebind && !brk_list)
		brk_rebind = 0;
	if (!brk_rebind || brk_start_locked())
		return;	/* (no memory: the next call tries again) */
	brk_rebind = 0;
	for (e = brk_list; e; e = e->next)
		brk_listen_locked(e);
	brk_kick(brk_cur);
}

/* Under brk_lock: insert @e (refs 1), serve it.  0 or -errno. */
static int brk_add_locked(struct shmk_brk *e)
{
	int ret;

	brk_resume_locked();
	ret = brk_start_locked();
	if (ret)
		return ret;
	brk_listen_locked(e);
	e->next = brk_list;
	brk_list = e;
	brk_kick(brk_cur);
	return 0;
}

static struct shmk_brk *brk_find_locked(const struct stat *rst,
					 const struct rdv *h)
{
	struct shmk_brk *e;

	for (e = brk_list; e; e = e->next)
		if (e->dev == rst->st_dev && e->ino == rst->st_ino &&
		    e->size == h->size && !memcmp(e->token, h->token, 16))
			return e;
	return NULL;
}

int shmk__brk_create(int rfd, const char *name, uint64_t bytes, int *mapfd,
		     struct shmk_brk **out)
{
	return shmk__brk_create_f(rfd, name, bytes, 0, mapfd, out);
}

int shmk__brk_create_f(int rfd, const char *name, uint64_t bytes,
		       int seal_later, int *mapfd, struct shmk_brk **out)
{
	char mname[8 + SHMK_NAME_MAX];
	unsigned char token[16];
	struct shmk_brk *e;
	struct rdv h, t;
	struct stat st;
	char proc[32];
	int mfd, ro = -1, ret;
	size_t got = 0;

	pthread_once(&brk_once, brk_init);
	while (got < sizeof(token)) {
		ssize_t n = getrandom(token + got, sizeof(token) - got, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	if (fstat(rfd, &st) < 0)
		return -errno;
	/* Shown as "/memfd:shmk.NAME (deleted)" in /proc/PID/maps. */
	snprintf(mname, sizeof(mname), "shmk.%s", name);
	mfd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)	/* no memfd or no sealing (before Linux 3.17) */
		return errno == ENOSYS || errno == EINVAL ? -EOPNOTSUPP
							  : -errno;
	rdv_fill(&t, TRL_MAGIC, bytes, token);
	if (ftruncate(mfd, (off_t)(bytes + SHMK_MEMFD_TRAILER)) < 0 ||
	    pwrite(mfd, &t, sizeof(t), (off_t)bytes) != (ssize_t)sizeof(t)) {
		ret = errno == EFBIG ? -EINVAL : errno ? -errno : -EIO;
		goto err;
	}
	/* The read-only fd, then nobody may reopen through /proc. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mfd);
	ro = open(proc, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {	/* no /proc: no read-only fd to hand out */
		ret = errno == ENOENT ? -EOPNOTSUPP : -errno;
		goto err;
	}
	if (fchmod(mfd, 0) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, seal_later ? SEALS_NEEDED & ~F_SEAL_SEAL :
		  SEALS_NEEDED) < 0) {
		ret = -errno;
		goto err;
	}
	/* The header last: the file is not linked yet, nobody reads it. */
	rdv_fill(&h, RDV_MAGIC, bytes, token);
	if (pwrite(rfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		ret = errno ? -errno : -EIO;
		goto err;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		ret = -ENOMEM;
		goto err;
	}
	memcpy(e->token, token, 16);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = bytes;
	e->rw = mfd;
	e->ro = ro;
	e->lsock = -1;
	e->refs = 1;
	*mapfd = fcntl(mfd, F_DUPFD_CLOEXEC, 0);
	if (*mapfd < 0) {
		ret = -errno;
		free(e);
		goto err;
	}
	pthread_mutex_lock(&brk_lock);
	ret = brk_add_locked(e);
	pthread_mutex_unlock(&brk_lock);
	if (ret) {
		close(*mapfd);
		free(e);
		goto err;
	}
	*out = e;
	return 0;
err:
	if (ro >= 0)
		close(ro);
	close(mfd);
	return ret;
}

int shmk__brk_attach(int rfd, int writable, int *mapfd, uint64_t *bytes,
		     struct shmk_brk **out)
{
	struct shmk_brk *e;
	struct rdv h;
	struct stat st;
	int rw = -1, ro = -1, ret, fl;
	int want_rw;

	pthread_once(&brk_once, brk_init);
	fl = fcntl(rfd, F_GETFL);
	if (fl < 0 || fstat(rfd, &st) < 0)
		return -errno;
	want_rw = (fl & O_ACCMODE) == O_RDWR;
	if (writable && !want_rw)
		return -EBADF;
	ret = rdv_read(rfd, 0, RDV_MAGIC, &h);
	if (ret)
		return ret;
	pthread_mutex_lock(&brk_lock);
	brk_resume_locked();
	e = brk_find_locked(&st, &h);
	if (e && (!writable || e->rw >= 0))
		goto found;
	pthread_mutex_unlock(&brk_lock);

	ret = brk_fetch(rfd, &st, &h, want_rw, &rw, &ro);
	if (ret)
		return ret;
	pthread_mutex_lock(&brk_lock);
	e = brk_find_locked(&st, &h);
	if (e) {
		/* Held meanwhile (or read-only so far): complete it. */
		if (e->rw < 0 && rw >= 0) {
			e->rw = rw;
			rw = -1;
			brk_listen_locked(e);
			brk_kick(brk_cur);
		}
		goto found;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		ret = -ENOMEM;
		goto unlock;
	}
	memcpy(e->token, h.token, 16);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = h.size;
	e->rw = rw;
	e->ro = ro;
	e->lsock = -1;
	e->refs = 1;
	*mapfd = fcntl(writable ? rw : ro, F_DUPFD_CLOEXEC, 0);
	ret = *mapfd < 0 ? -errno : brk_add_locked(e);
	if (ret) {
		if (*mapfd >= 0)
			close(*mapfd);
		free(e);		/* rw and ro closed below */
		goto unlock;
	}
	rw = ro = -1;
	goto done;
found:
	*mapfd = fcntl(writable ? e->rw : e->ro, F_DUPFD_CLOEXEC, 0);
	if (*mapfd < 0) {
		ret = -errno;
		goto unlock;
	}
	e->refs++;
done:
	*bytes = e->size;
	*out = e;
	ret = 0;
unlock:
	pthread_mutex_unlock(&brk_lock);
	if (rw >= 0)
		close(rw);
	if (ro >= 0)
		close(ro);
	return ret;
}

/*
 * Zero-trust data regions: after the creator mapped the memfd writable,
 * no new writable mapping of it, nor write(2), nor another seal: then
 * even a holder of the read-write memfd (a same-user process that made
 * the rendezvous file writable again and asked for it) cannot write.
 */
int shmk__brk_seal_write(struct shmk_brk *e)
{
	if (fcntl(e->rw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		return errno == EINVAL ? -EOPNOTSUPP : -errno;
	return 0;
}

void shmk__brk_put(struct shmk_brk *e)
{
	struct shmk_brk **pp;
	struct brk_ctx *stop = NULL;

	if (!e)
		return;
	pthread_mutex_lock(&brk_lock);
	if (--e->refs) {
		pthread_mutex_unlock(&brk_lock);
		return;
	}
	for (pp = &brk_list; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	/* Closed under the lock: the server accepts only under it too. */
	if (e->lsock >= 0)
		close(e->lsock);
	if (e->rw >= 0)
		close(e->rw);
	if (e->ro >= 0)
		close(e->ro);
	free(e);
	if (!brk_list && brk_cur) {
		stop = brk_cur;
		stop->stop = 1;
		brk_cur = NULL;
	}
	brk_kick(stop ? stop : brk_cur);
	pthread_mutex_unlock(&brk_lock);
	if (stop) {
		pthread_join(stop->thr, NULL);
		close(stop->wake[0]);
		close(stop->wake[1]);
		munmap(stop->stack, BRK_STACK);
		free(stop);
	}
}
