// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk fallback backend: POSIX shared memory files and futex(2).
 *
 * A region named N is found through the tmpfs file /dev/shm/shmk.N, so
 * any process can open it by name.  Its memory is a sealed memfd that
 * the processes holding it hand to newcomers (broker.c); this file is
 * then only the rendezvous: name, permission, liveness (the locks below,
 * and the services' per-slot locks) and a header naming the memfd.  A
 * persistent region (PERSIST below) is the file itself, unsealed.
 * Wait and wake are shared (not PRIVATE) futexes on the word itself;
 * their key is the mapped file's page, so they meet across processes
 * and mappings.  Documentation/library.rst ("memfd (fallback)")
 * states the rules below for users; this comment argues them.
 *
 * Creation.  The file is made unnamed (O_TMPFILE in /dev/shm), given its
 * mode and size, locked (below), mapped and initialised by the creator,
 * and only then linked to its name through /proc/self/fd (linkat fails
 * with EEXIST atomically).  So a linked file is always complete, and a
 * creator that dies before the link leaves nothing: the kernel frees an
 * unnamed file with its last fd.  Without O_TMPFILE or /proc the file is
 * made under a temporary name (mkostemp) instead; a creator that dies
 * between mkostemp and its unlink then leaves "/dev/shm/.shmk-tmp.*".
 *
 * Liveness.  Every handle holds an OFD read lock on the byte at offset
 * LIVE_OFF (INT64_MAX, far beyond any region: locks need no room in the
 * file, and the services' per-slot OFD locks lie inside it).  The kernel
 * drops it when the handle's open file description goes, crash or not.
 * A non-persistent region (no S_ISVTX on the file, see PERSIST below)
 * whose file nobody holds a lock on is dead:
 *
 *  - close: the handle drops its read lock and tries (F_OFD_SETLK, no
 *    waiting) for a write lock.  It gets it only when no other open file
 *    description holds a lock: it is the last; it unlinks the name, then
 *    closes.  Two handles closing at once cannot both fail for each other:
 *    each drops its own lock before trying, so the later try sees the
 *    earlier one gone (or holding the write lock, then that one sweeps).
 *  - open: the opener takes the read lock, then checks st_nlink > 0.
 *    Whoever unlinks does so holding the write lock, so a read lock taken
 *    while the file is still linked keeps it linked until we let go; a
 *    read lock refused (EAGAIN) or a file found unlinked means a sweep is
 *    under way: open again (bounded, then -EAGAIN).  An opener whose
 *    upgrade to a write lock succeeds is alone on a linked file: every
 *    holder died without closing (the creator held its lock since before
 *    the link).  It unlinks the name and reports -ENOENT (open) or
 *    creates afresh (create).
 *  - create: link() failing with EEXIST opens the existing file the same
 *    way, which sweeps it when it is dead, and then tries the link again.
 *
 * Every sweep unlinks by name, so it first checks that the name still
 * leads to the file it holds the write lock on (same st_dev and st_ino,
 * st_nlink > 0): a name re-created after an explicit shmk_region_unlink()
 * is not touched.  The one window left is an explicit unlink and a new
 * create of the same name between that check and the unlink(2), a few
 * instructions wide; explicit unlink of a name in use is the caller's
 * choice.
 *
 * A write lock needs a read-write fd, so handles opened read-only hold
 * the region alive but never sweep it: when the last holder is read-only
 * the name stays until the next read-write open or create sweeps it.
 * Handles inherited through fork() share the parent's open file
 * description, hence its lock: a handle closed in another process than
 * the one that opened it only closes its fd.
 *
 * PERSIST.  A region created with SHMK_REGION_PERSIST has S_ISVTX set on
 * its file (shown as 'T' by ls -l): it is never swept and lives until
 * shmk_region_unlink(), as all regions did before.
 *
 * Squatting.  /dev/shm is world-writable and sticky, so another user
 * can put any file under a name first.  Opens use O_NOFOLLOW (a symlink
 * is -EBADMSG), O_NONBLOCK (a FIFO does not block; O_NONBLOCK is cleared
 * again) and O_NOCTTY, and whatever is not a regular file is -EBADMSG.
 * A creator that finds the name taken (CREATE without EXCL in the
 * services) opens it with shmk__region_open_own(): the file must belong
 * to the caller's euid and grant no permission bit beyond the mode it
 * asked for, else -EPERM.
 *
 * Sealing.  A file in /dev/shm cannot be sealed (tmpfs starts it with
 * F_SEAL_SEAL, so F_ADD_SEALS fails with EPERM) and a memfd_create() file
 * cannot be linked into /dev/shm (EXDEV): hence the rendezvous file and
 * the memfd behind it.  A persistent region must outlive every holder,
 * which a memfd cannot, so it stays unsealed: any read-write holder can
 * ftruncate it and make the others take SIGBUS; see library.rst.
 *
 * Holding the memfd.  A handle of a sealed region also read-locks
 * HOLD_OFF from before it has the memfd (the creator, before the link)
 * or right after (a newcomer, which then checks that the name still leads
 * to its file), and a closing handle drops it before its process may stop
 * serving.  A newcomer no server answers uses it to tell a dead end from
 * a slow one: shmk__memfd_husk().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SHM_DIR		"/dev/shm"
#define SHM_PREFIX	"shmk."
#define SHM_PATH_MAX	(sizeof(SHM_DIR) + sizeof(SHM_PREFIX) + SHMK_NAME_MAX)

/* The byte every handle read-locks; see "Liveness" above. */
#define LIVE_OFF	INT64_MAX
_Static_assert(sizeof(off_t) == 8, "OFD lock offsets need a 64-bit off_t");

/*
 * The byte every handle of a sealed region read-locks once it maps the
 * memfd (broker.c): a rendezvous file nobody locks there has no memfd
 * behind it any more; see shmk__memfd_husk().
 */
#define HOLD_OFF	(INT64_MAX - 1)

/* Opens retried while a sweep of the same name is under way. */
#define OPEN_TRIES	64

static void shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, SHM_DIR "/" SHM_PREFIX "%s", name);
}

/* F_OFD_SETLK (never waits) @type on the live byte: 0 or -errno. */
static int live_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = LIVE_OFF;
	fl.l_len = 1;
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/*
 * With the write lock held on @fd's file: unlink @path if it still leads
 * to that file.  Return 1 when unlinked, 0 when the name no longer leads
 * there, -errno when unlink(2) fails.
 */
static int sweep(int fd, const char *path)
{
	struct stat mine, named;

	if (fstat(fd, &mine) < 0 || mine.st_nlink == 0)
		return 0;
	if (lstat(path, &named) < 0 || named.st_dev != mine.st_dev ||
	    named.st_ino != mine.st_ino)
		return 0;
	return unlink(path) < 0 ? -errno : 1;
}

/*
 * Release a read-write holder's fd: drop the read lock, take the write
 * lock if nobody else holds one, and then sweep the name.  Return 1 when
 * the name was swept.  Consumes @fd.
 */
static int memfd_drop(int fd, const char *path)
{
	struct stat st;
	int swept = 0;

	if (fstat(fd, &st) == 0 && !(st.st_mode & S_ISVTX) &&
	    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR &&
	    live_lock(fd, F_UNLCK) == 0 && live_lock(fd, F_WRLCK) == 0)
		swept = sweep(fd, path) > 0;
	close(fd);
	return swept;
}

static void backoff(unsigned int attempt)
{
	struct timespec ts = { 0, 20000L * (attempt < 50 ? attempt + 1 : 50) };

	nanosleep(&ts, NULL);
}

/*
 * Open the file behind @name, take the live read lock, sweep it when it
 * is dead.  @own_mode < 0: a plain open; else the caller wanted to create
 * the region with that mode, and the file must be its own (see
 * "Squatting").  Return the fd or -errno.
 */
int shmk__memfd_open(const char *name, unsigned int flags, int own_mode)
{
	int acc = (flags & SHMK_OPEN_RDONLY) ? O_RDONLY : O_RDWR;
	char path[SHM_PATH_MAX];
	unsigned int attempt;
	struct stat st;
	int fd, ret;

	shm_path(path, sizeof(path), name);
	for (attempt = 0; attempt < OPEN_TRIES; attempt++) {
		fd = open(path, acc | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
			  O_NONBLOCK);
		if (fd < 0)
			return errno == ELOOP ? -EBADMSG : -errno;
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			goto err;
		}
		if (!S_ISREG(st.st_mode)) {
			ret = -EBADMSG;
			goto err;
		}
		if (fcntl(fd, F_SETFL, 0) < 0) {	/* O_NONBLOCK off */
			ret = -errno;
			goto err;
		}
		ret = live_lock(fd, F_RDLCK);
		if (ret == -EAGAIN || ret == -EACCES) {
			/* A sweeper holds the write lock: the file is going. */
			close(fd);
			backoff(attempt);
			continue;
		}
		if (ret)
			goto err;
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			goto err;
		}
		if (st.st_nlink == 0) {		/* swept before our lock */
			close(fd);
			continue;
		}
		/*
		 * Persistent, read-only (cannot sweep), or somebody else
		 * holds a lock (EAGAIN): alive, use it.
		 */
		if ((st.st_mode & S_ISVTX) || acc != O_RDWR ||
		    live_lock(fd, F_WRLCK))
			goto found;
		/* Alone on a linked file: every holder died; sweep it. */
		ret = sweep(fd, path);
		if (ret < 0) {
			/* Not ours to remove (sticky /dev/shm): use it as is. */
			ret = live_lock(fd, F_RDLCK);
			if (ret)
				goto err;
			goto found;
		}
		close(fd);
	}
	return -EAGAIN;
found:
	/* Checked last: a dead file of another user is swept, not refused. */
	if (own_mode >= 0 && (st.st_uid != geteuid() ||
			      (st.st_mode & 0777 & ~(unsigned int)own_mode))) {
		ret = -EPERM;
		goto err;
	}
	return fd;
err:
	close(fd);
	return ret;
}

static int memfd_open(const char *name, unsigned int flags)
{
	return shmk__memfd_open(name, flags, -1);
}

/*
 * Make the region's file without a name yet, sized, with its mode, and
 * holding the live read lock.  Fills @t; 0 or -errno.
 */
int shmk__memfd_prepare(uint64_t bytes, unsigned int mode, unsigned int flags,
			struct shmk_memfd_tmp *t)
{
	int fd = -1, ret;

	t->path[0] = 0;
	/* Unnamed, linked later through /proc/self/fd (no privilege needed). */
	if (access("/proc/self/fd", X_OK) == 0)
		fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(t->path, sizeof(t->path), SHM_DIR "/.shmk-tmp.XXXXXX");
		fd = mkostemp(t->path, O_CLOEXEC);
		if (fd < 0) {
			t->path[0] = 0;
			return -errno;
		}
	}
	/* fchmod, not the open mode: the umask must not apply. */
	if (fchmod(fd, mode | ((flags & SHMK_REGION_PERSIST) ? S_ISVTX : 0)) < 0 ||
	    ftruncate(fd, (off_t)bytes) < 0) {
		ret = errno == EFBIG ? -EINVAL : -errno;
		goto err;
	}
	ret = live_lock(fd, F_RDLCK);
	if (ret)
		goto err;
	t->fd = fd;
	return 0;
err:
	t->fd = fd;
	shmk__memfd_discard(t);
	return ret;
}

/* Remove what shmk__memfd_prepare() made; t->fd may already be -1. */
void shmk__memfd_discard(struct shmk_memfd_tmp *t)
{
	if (t->path[0])
		unlink(t->path);
	t->path[0] = 0;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/*
 * Give the prepared file its name.  A dead region under the name is
 * swept first (bounded).  0 or -errno (-EEXIST: the name is taken).
 */
int shmk__memfd_publish(const struct shmk_memfd_tmp *t, const char *name)
{
	char path[SHM_PATH_MAX], proc[32];
	unsigned int attempt;
	int ret, fd;

	shm_path(path, sizeof(path), name);
	for (attempt = 0; attempt < OPEN_TRIES; attempt++) {
		if (t->path[0]) {
			ret = link(t->path, path);
		} else {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
			ret = linkat(AT_FDCWD, proc, AT_FDCWD, path,
				     AT_SYMLINK_FOLLOW);
		}
		if (ret == 0) {
			if (t->path[0])
				unlink(t->path);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
		/* Taken: open it as a prober; that sweeps a dead one. */
		fd = shmk__memfd_open(name, 0, -1);
		if (fd == -ENOENT)
			continue;
		if (fd < 0 || !memfd_drop(fd, path))
			return -EEXIST;
	}
	return -EEXIST;
}

/*
 * Mark @fd's handle as one that holds (or is being handed, or creates)
 * the sealed memfd, @on; or not: 0 or -errno.
 */
int shmk__memfd_hold(int fd, int on)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = on ? F_RDLCK : F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = HOLD_OFF;
	fl.l_len = 1;
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/*
 * @fd, @name: a sealed region's rendezvous that no peer served.  When no
 * handle anywhere holds the memfd (we get the write lock on HOLD_OFF), it
 * never will again (a memfd is only ever handed on by a holder, and the
 * creator holds before it links; a handle handed the memfd takes its
 * hold afterwards, and gives up when that fails or finds the name gone,
 * see region.c): unlink the name if it still leads to @fd's file, even
 * though other openers hold it as we do (they are in the same dead end),
 * and return 1.  The write lock stays until @fd is closed, which the
 * caller does next.  Return 0 while some handle holds the memfd (it is
 * closing, or holds without serving).
 */
int shmk__memfd_husk(int fd, const char *name)
{
	char path[SHM_PATH_MAX];
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = HOLD_OFF;
	fl.l_len = 1;
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR ||
	    fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return 0;
	shm_path(path, sizeof(path), name);
	(void)sweep(fd, path);
	return 1;
}

/* Drop an opener's hold on @name's file @fd, sweeping it when last. */
void shmk__memfd_drop(int fd, const char *name)
{
	char path[SHM_PATH_MAX];

	shm_path(path, sizeof(path), name);
	memfd_drop(fd, path);
}

static void memfd_release(struct shmk_region *r)
{
	char path[SHM_PATH_MAX];

	/* A fork child shares the parent's lock: leave it alone. */
	if (r->pid != (int)getpid() || !r->name[0]) {
		close(r->fd);
		return;
	}
	shm_path(path, sizeof(path), r->name);
	memfd_drop(r->fd, path);
}

static int memfd_unlink(const char *name)
{
	char path[sizeof(SHM_DIR) + sizeof(SHM_PREFIX) + SHMK_NAME_MAX];

	shm_path(path, sizeof(path), name);
	if (unlink(path) < 0)
		return errno == EACCES ? -EPERM : -errno;
	return 0;
}

static int memfd_size(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

static int memfd_wait(const struct shmk_region *r, uint64_t off,
		      uint32_t expected, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	/* FUTEX_WAIT, not _PRIVATE: the word is shared between processes. */
	if (syscall(SYS_futex, r->base + off, FUTEX_WAIT, expected, tsp,
		    NULL, 0) < 0)
		return -errno;
	return 0;
}

static int memfd_wake(const struct shmk_region *r, uint64_t off,
		      uint32_t count)
{
	long ret;

	if (count > INT_MAX)
		count = INT_MAX;
	ret = syscall(SYS_futex, r->base + off, FUTEX_WAKE, (int)count, NULL,
		      NULL, 0);
	return ret < 0 ? -errno : (int)ret;
}

/*
 * No .create: region.c creates through shmk__memfd_prepare() and
 * shmk__memfd_publish(), with the creator's init step between them.
 */
const struct shmk_backend_ops shmk_memfd_ops = {
	.open	= memfd_open,
	.unlink	= memfd_unlink,
	.size	= memfd_size,
	.wait	= memfd_wait,
	.wake	= memfd_wake,
	.release = memfd_release,
};
