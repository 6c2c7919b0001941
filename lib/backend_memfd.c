// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk fallback backend: POSIX shared memory files and futex(2).
 *
 * A region named N is the tmpfs file /dev/shm/shmk.N, so any process can
 * open it by name.  It is created under a temporary name, sized and given
 * its mode, then link()ed to its real name: link() fails with EEXIST
 * atomically, and nobody can open a half-made region.  Wait and wake are
 * shared (not PRIVATE) futexes on the word itself; their key is the
 * file's page, so they meet across processes and mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SHM_DIR		"/dev/shm"
#define SHM_PREFIX	"shmk."

static void shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, SHM_DIR "/" SHM_PREFIX "%s", name);
}

static int memfd_create_region(const char *name, uint64_t bytes,
			       unsigned int mode, unsigned int flags)
{
	char path[sizeof(SHM_DIR) + sizeof(SHM_PREFIX) + SHMK_NAME_MAX];
	char tmp[] = SHM_DIR "/.shmk-tmp.XXXXXX";
	int fd, ret;

	(void)flags;	/* every memfd region persists until unlinked */
	shm_path(path, sizeof(path), name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* fchmod, not the open mode: the umask must not apply. */
	if (fchmod(fd, mode) < 0 || ftruncate(fd, (off_t)bytes) < 0) {
		ret = errno == EFBIG ? -EINVAL : -errno;
		goto err;
	}
	if (link(tmp, path) < 0) {
		ret = -errno;
		goto err;
	}
	unlink(tmp);
	return fd;
err:
	unlink(tmp);
	close(fd);
	return ret;
}

static int memfd_open(const char *name, unsigned int flags)
{
	char path[sizeof(SHM_DIR) + sizeof(SHM_PREFIX) + SHMK_NAME_MAX];
	int fd;

	shm_path(path, sizeof(path), name);
	fd = open(path, ((flags & SHMK_OPEN_RDONLY) ? O_RDONLY : O_RDWR) |
		  O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	return fd;
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

const struct shmk_backend_ops shmk_memfd_ops = {
	.create	= memfd_create_region,
	.open	= memfd_open,
	.unlink	= memfd_unlink,
	.size	= memfd_size,
	.wait	= memfd_wait,
	.wake	= memfd_wake,
};
