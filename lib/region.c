// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk regions: name rules, backend selection, mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* Wrap a region fd into a mapped handle; consumes @fd. */
static int region_map(int backend, int fd, int writable,
		      struct shmk_region **out)
{
	const struct shmk_backend_ops *ops = backend_ops(backend);
	struct shmk_region *r;
	uint64_t bytes;
	void *base;
	int ret;

	ret = ops->size(fd, &bytes);
	if (ret < 0)
		goto err_fd;
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
		    PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto err_free;
	}
	/* Best effort: shmem honours it when shmem_enabled is "advise". */
	if (backend == SHMK_BACKEND_MEMFD)
		(void)madvise(base, (size_t)bytes, MADV_HUGEPAGE);
	r->ops = ops;
	r->base = base;
	r->size = bytes;
	r->fd = fd;
	r->backend = backend;
	r->writable = writable;
	*out = r;
	return 0;

err_free:
	free(r);
err_fd:
	close(fd);
	return ret;
}

SHMK_API int shmk_region_create(const char *name, uint64_t bytes,
				unsigned int mode, unsigned int flags,
				struct shmk_region **out)
{
	int backend, ret, fd;

	if (!out)
		return -EINVAL;
	ret = shmk_name_check(name);
	if (ret)
		return ret;
	if (flags & ~(SHMK_REGION_PERSIST | SHMK_REGION_RDONLY))
		return -EINVAL;
	if (mode & ~0777U)
		return -EINVAL;
	if (bytes == 0 || bytes > UINT64_MAX - (SHMK_PAGE_SIZE - 1))
		return -EINVAL;
	bytes = (bytes + SHMK_PAGE_SIZE - 1) & ~(SHMK_PAGE_SIZE - 1);
	if (bytes > SIZE_MAX / 2)
		return -EINVAL;
	backend = shmk_backend_select();
	if (backend < 0)
		return backend;
	fd = backend_ops(backend)->create(name, bytes, mode, flags);
	if (fd < 0)
		return fd;
	return region_map(backend, fd, !(flags & SHMK_REGION_RDONLY), out);
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
	fd = backend_ops(backend)->open(name, flags);
	if (fd < 0)
		return fd;
	return region_map(backend, fd, !(flags & SHMK_REGION_OPEN_RDONLY), out);
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
