// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk regions: name rules, backend selection, mapping, and the
 * create-with-init path that memfd needs to publish a region only once it
 * is complete (see backend_memfd.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

SHMK_API int shmk_name_check(const char *name)
{
	size_t len, i;

	if (!name)
		return -EINVAL;
	len = strnlen(name, SHMK_NAME_MAX);
	if (len == SHMK_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x21 || c > 0x7e || c == '/')
			return -EINVAL;
	}
	return 0;
}

SHMK_API int shmk_backend_select(void)
{
	const char *env = getenv("SHMK_BACKEND");
	int fd;

	if (env && *env) {
		if (!strcmp(env, "device"))
			return SHMK_BACKEND_DEVICE;
		if (!strcmp(env, "memfd"))
			return SHMK_BACKEND_MEMFD;
		return -EINVAL;
	}
	/* Probe per call: no cached global to go stale across fork. */
	fd = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return SHMK_BACKEND_MEMFD;
	close(fd);
	return SHMK_BACKEND_DEVICE;
}

static const struct shmk_backend_ops *backend_ops(int backend)
{
	return backend == SHMK_BACKEND_DEVICE ? &shmk_device_ops : &shmk_memfd_ops;
}

/*
 * Wrap a region fd into a mapped handle; consumes @fd and @brk's
 * reference.  @mapfd >= 0 (memfd, sealed): map it, @bytes long, and close
 * it; else map @fd itself, its size from the backend.
 */
static int region_map_fd(int backend, int fd, int mapfd, uint64_t bytes,
			 struct shmk_brk *brk, int writable,
			 struct shmk_region **out)
{
	const struct shmk_backend_ops *ops = backend_ops(backend);
	struct shmk_region *r;
	void *base;
	int ret;

	if (mapfd < 0) {
		ret = ops->size(fd, &bytes);
		if (ret < 0)
			goto err_fd;
	}
	if (bytes == 0 || bytes % SHMK_PAGE_SIZE || bytes > SIZE_MAX) {
		ret = -EBADMSG;
		goto err_fd;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto err_fd;
	}
	base = mmap(NULL, (size_t)bytes,
		    PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
		    mapfd >= 0 ? mapfd : fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto err_free;
	}
	if (mapfd >= 0)
		close(mapfd);	/* the mapping holds the memfd */
	/* Best effort: shmem honours it when shmem_enabled is "advise". */
	if (backend == SHMK_BACKEND_MEMFD)
		(void)madvise(base, (size_t)bytes, MADV_HUGEPAGE);
	r->ops = ops;
	r->base = base;
	r->size = bytes;
	r->fd = fd;
	r->backend = backend;
	r->writable = writable;
	r->pid = (int)getpid();
	r->brk = brk;
	*out = r;
	return 0;

err_free:
	free(r);
err_fd:
	if (mapfd >= 0)
		close(mapfd);
	shmk__brk_put(brk);
	close(fd);
	return ret;
}

/*
 * Map the file @fd itself (device, or a persistent memfd region);
 * consumes @fd.  Sealed memfd regions go through memfd_open_map() or
 * create_once().
 */
static int region_map(int backend, int fd, int writable,
		      struct shmk_region **out)
{
	return region_map_fd(backend, fd, -1, 0, NULL, writable, out);
}

/* Rounds of open when the rendezvous is held but nobody serves it. */
#define HUSK_TRIES	64

/*
 * memfd: open @name (shmk__memfd_open(), @own_mode as there) and map it.
 * A rendezvous file whose holders all stopped serving (the last memfd
 * holder is closing, or died, while we took our lock) is a husk: drop
 * our hold, which sweeps it when we were the last, and open again; the
 * next round finds the name gone (-ENOENT) or a live region.  -ENOLINK
 * when it stays a husk (its holders live but none serves: fork children
 * that have not opened anything since, or read-only holders only).
 */
static int memfd_open_map(const char *name, unsigned int flags, int own_mode,
			  int writable, struct shmk_region **out)
{
	struct shmk_brk *brk = NULL;
	unsigned int attempt;
	struct stat st;
	uint64_t bytes;
	int fd, mapfd, ret;

	for (attempt = 0;; attempt++) {
		fd = shmk__memfd_open(name, flags, own_mode);
		if (fd < 0)
			return fd;
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		if (st.st_mode & S_ISVTX)	/* persistent: the file */
			return region_map_fd(SHMK_BACKEND_MEMFD, fd, -1, 0,
					     NULL, writable, out);
		ret = shmk__brk_attach(fd, writable, &mapfd, &bytes, &brk);
		if (ret == 0) {
			/*
			 * Hold it, then check the name still leads here: a
			 * husk sweep (below, in another opener) holds the
			 * write lock from before its unlink.
			 */
			if (shmk__memfd_hold(fd, 1) == 0 &&
			    fstat(fd, &st) == 0 && st.st_nlink > 0)
				return region_map_fd(SHMK_BACKEND_MEMFD, fd,
						     mapfd, bytes, brk,
						     writable, out);
			close(mapfd);
			shmk__brk_put(brk);
			brk = NULL;
			ret = -ENOLINK;	/* it died as we joined */
		}
		if (ret != -ENOLINK || attempt + 1 >= HUSK_TRIES) {
			close(fd);
			return ret;
		}
		if (shmk__memfd_husk(fd, name)) {
			close(fd);	/* dead: swept, open again */
			continue;
		}
		shmk__memfd_drop(fd, name);
		{
			struct timespec ts = { 0, 20000L * (attempt + 1) };

			nanosleep(&ts, NULL);
		}
	}
}

/* Check create's arguments and round @bytes up: 0 or -errno. */
static int create_check(const char *name, uint64_t *bytes, unsigned int mode,
			unsigned int flags, struct shmk_region **out)
{
	int ret;

	if (!out)
		return -EINVAL;
	ret = shmk_name_check(name);
	if (ret)
		return ret;
	if (flags & ~(SHMK_REGION_PERSIST | SHMK_REGION_RDONLY))
		return -EINVAL;
	if (mode & ~0777U)
		return -EINVAL;
	if (*bytes == 0 || *bytes > UINT64_MAX - (SHMK_PAGE_SIZE - 1))
		return -EINVAL;
	*bytes = (*bytes + SHMK_PAGE_SIZE - 1) & ~(SHMK_PAGE_SIZE - 1);
	if (*bytes > SIZE_MAX / 2)
		return -EINVAL;
	return 0;
}

/*
 * One attempt to create @name and run @init on it.  memfd: the file is
 * made unnamed, mapped, initialised, then linked; device: created (so
 * already visible), then initialised.  0 or -errno (-EEXIST: taken).
 */
static int create_once(int backend, const char *name, uint64_t bytes,
		       unsigned int mode, unsigned int flags, int seal_write,
		       int (*init)(struct shmk_region *r, void *arg),
		       void *arg, struct shmk_region **out)
{
	const struct shmk_backend_ops *ops = backend_ops(backend);
	int memfd = backend == SHMK_BACKEND_MEMFD;
	struct shmk_memfd_tmp t = { .fd = -1 };
	struct shmk_region *r;
	int fd, ret;

	if (memfd) {
		ret = shmk__memfd_prepare(bytes, mode, flags, &t);
		if (ret)
			return ret;
		fd = t.fd;
	} else {
		fd = ops->create(name, bytes, mode, flags);
		if (fd < 0)
			return fd;
	}
	/* region_map*() consume fd; r->name stays "" until published. */
	if (memfd && !(flags & SHMK_REGION_PERSIST)) {
		struct shmk_brk *brk;
		int mapfd;

		/* Sealed: the memfd is the region, t.fd its rendezvous. */
		ret = shmk__memfd_hold(fd, 1);
		if (!ret)
			ret = shmk__brk_create_f(fd, name, bytes, seal_write,
						 &mapfd, &brk);
		if (ret) {
			shmk__memfd_discard(&t);
			return ret;
		}
		ret = region_map_fd(backend, fd, mapfd, bytes, brk,
				    !(flags & SHMK_REGION_RDONLY), &r);
		/* Mapped writable: now nobody else ever can (internal.h). */
		if (!ret && seal_write) {
			ret = shmk__brk_seal_write(r->brk);
			if (ret)
				goto err;
		}
	} else {
		ret = region_map(backend, fd, !(flags & SHMK_REGION_RDONLY),
				 &r);
	}
	if (ret) {
		r = NULL;
		goto err;
	}
	if (init) {
		ret = init(r, arg);
		if (ret > 0)
			ret = -EINVAL;
	}
	if (!ret && memfd)
		ret = shmk__memfd_publish(&t, name);
	if (ret)
		goto err;
	snprintf(r->name, sizeof(r->name), "%s", name);
	*out = r;
	return 0;
err:
	if (memfd) {
		t.fd = -1;	/* r owns it, or region_map() closed it */
		shmk__memfd_discard(&t);
	} else {
		ops->unlink(name);
	}
	shmk_region_close(r);
	return ret;
}

/* Open @name read-write as a would-be creator with @mode (see internal.h). */
static int open_own(int backend, const char *name, unsigned int mode,
		    struct shmk_region **out)
{
	int fd, ret;

	if (backend == SHMK_BACKEND_MEMFD) {
		ret = memfd_open_map(name, 0, (int)mode, 1, out);
	} else {
		fd = backend_ops(backend)->open(name, 0);
		if (fd < 0)
			return fd;
		ret = region_map(backend, fd, 1, out);
	}
	if (ret == 0)
		snprintf((*out)->name, sizeof((*out)->name), "%s", name);
	return ret;
}

/* Rounds of "open, else create" before SHMK__REGION_OPEN_OWN gives up. */
#define OPEN_OWN_TRIES	64

int shmk__region_create_init(const char *name, uint64_t bytes,
			     unsigned int mode, unsigned int flags,
			     int (*init)(struct shmk_region *r, void *arg),
			     void *arg, struct shmk_region **out)
{
	unsigned int own = flags & SHMK__REGION_OPEN_OWN, attempt;
	int seal_write = !!(flags & SHMK__REGION_SEAL_WRITE);
	int backend, ret;

	flags &= ~(SHMK__REGION_OPEN_OWN | SHMK__REGION_SEAL_WRITE);
	if (seal_write && (own || (flags & SHMK_REGION_PERSIST)))
		return -EINVAL;
	ret = create_check(name, &bytes, mode, flags, out);
	if (ret)
		return ret;
	if (init && (flags & SHMK_REGION_RDONLY))
		return -EINVAL;
	backend = shmk_backend_select();
	if (backend < 0)
		return backend;
	for (attempt = 0; attempt < OPEN_OWN_TRIES; attempt++) {
		/*
		 * Open first: most would-be creators find the region there,
		 * and need not build one to throw away.
		 */
		if (own) {
			ret = open_own(backend, name, mode, out);
			if (ret != -ENOENT)
				return ret ? ret : 1;
		}
		ret = create_once(backend, name, bytes, mode, flags, seal_write,
				  init, arg, out);
		/* -EEXIST with OPEN_OWN: created meanwhile; open that one. */
		if (ret != -EEXIST || !own)
			return ret;
	}
	return -EAGAIN;
}

int shmk__region_open_own(const char *name, unsigned int mode,
			  struct shmk_region **out)
{
	int backend, ret;

	if (!out || (mode & ~0777U))
		return -EINVAL;
	ret = shmk_name_check(name);
	if (ret)
		return ret;
	backend = shmk_backend_select();
	if (backend < 0)
		return backend;
	return open_own(backend, name, mode, out);
}

SHMK_API int shmk_region_create(const char *name, uint64_t bytes,
				unsigned int mode, unsigned int flags,
				struct shmk_region **out)
{
	if (flags & SHMK__REGION_OPEN_OWN)
		return -EINVAL;
	return shmk__region_create_init(name, bytes, mode, flags, NULL, NULL,
					out);
}

SHMK_API int shmk_region_open(const char *name, unsigned int flags,
			      struct shmk_region **out)
{
	int backend, ret, fd;

	if (!out)
		return -EINVAL;
	ret = shmk_name_check(name);
	if (ret)
		return ret;
	if (flags & ~SHMK_REGION_OPEN_RDONLY)
		return -EINVAL;
	backend = shmk_backend_select();
	if (backend < 0)
		return backend;
	if (backend == SHMK_BACKEND_MEMFD) {
		ret = memfd_open_map(name, flags, -1,
				     !(flags & SHMK_REGION_OPEN_RDONLY), out);
	} else {
		fd = backend_ops(backend)->open(name, flags);
		if (fd < 0)
			return fd;
		ret = region_map(backend, fd,
				 !(flags & SHMK_REGION_OPEN_RDONLY), out);
	}
	if (ret == 0)
		snprintf((*out)->name, sizeof((*out)->name), "%s", name);
	return ret;
}

SHMK_API int shmk_region_unlink(const char *name)
{
	int backend, ret;

	ret = shmk_name_check(name);
	if (ret)
		return ret;
	backend = shmk_backend_select();
	if (backend < 0)
		return backend;
	return backend_ops(backend)->unlink(name);
}

SHMK_API void shmk_region_close(struct shmk_region *r)
{
	if (!r)
		return;
	munmap(r->base, (size_t)r->size);
	/*
	 * Sealed memfd: give up the hold before we stop serving, so that a
	 * newcomer no server answers never waits on our hold (see
	 * shmk__memfd_husk()).  A fork child's handle shares the parent's
	 * open file description: its locks are the parent's.
	 */
	if (r->brk && r->pid == (int)getpid())
		shmk__memfd_hold(r->fd, 0);
	shmk__brk_put(r->brk);
	if (r->ops->release)
		r->ops->release(r);	/* closes r->fd */
	else
		close(r->fd);
	free(r);
}

SHMK_API void *shmk_region_base(const struct shmk_region *r)
{
	return r->base;
}

SHMK_API uint64_t shmk_region_size(const struct shmk_region *r)
{
	return r->size;
}

SHMK_API int shmk_region_fd(const struct shmk_region *r)
{
	return r->fd;
}

SHMK_API int shmk_region_backend(const struct shmk_region *r)
{
	return r->backend;
}

SHMK_API int shmk_region_writable(const struct shmk_region *r)
{
	return r->writable;
}
