/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: named shared memory regions.
 *
 * A region is a named, 2 MiB-granular block of shared memory.  It lives
 * in one of two backends, chosen per call:
 *
 *  - device: /dev/shmk (shmk.ko), hugepage-backed, see <linux/shmk.h>;
 *  - memfd:  a sealed memfd found through the file /dev/shm/shmk.<name>
 *            and handed over by the processes that hold it (the file
 *            itself for SHMK_REGION_PERSIST), advised MADV_HUGEPAGE,
 *            futex(2) for wait and wake.
 *
 * The environment variable SHMK_BACKEND=device|memfd forces one; without
 * it the device is used when /dev/shmk opens, the fallback otherwise.
 *
 * Handles are plain process-local objects: a handle may be used by any
 * number of threads at once (nothing in it changes after create or open)
 * and stays valid in a child after fork().  The library's one global
 * state is the memfd backend's table of the sealed regions a process
 * holds, and the thread that hands them to other processes.
 */
#ifndef SHMK_REGION_H
#define SHMK_REGION_H

#include <stdint.h>
#include <linux/shmk.h>
#include <shmk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmk_region;

/* Backends, as returned by shmk_backend_select() and shmk_region_backend(). */
enum shmk_backend {
	SHMK_BACKEND_DEVICE = 1,
	SHMK_BACKEND_MEMFD = 2,
};

/* shmk_region_create() flags: the uapi's SHMK_CREATE_* */
#define SHMK_REGION_PERSIST	SHMK_CREATE_PERSIST
#define SHMK_REGION_RDONLY	SHMK_CREATE_RDONLY
/* shmk_region_open() flags: the uapi's SHMK_OPEN_* */
#define SHMK_REGION_OPEN_RDONLY	SHMK_OPEN_RDONLY

/**
 * shmk_backend_select() - the backend the next create/open/unlink will use
 *
 * Reads SHMK_BACKEND ("device" or "memfd"); when unset or empty, tries to
 * open /dev/shmk.
 *
 * Return: SHMK_BACKEND_DEVICE or SHMK_BACKEND_MEMFD; -EINVAL when
 * SHMK_BACKEND holds another value.
 */
SHMK_API int shmk_backend_select(void);

/**
 * shmk_name_check() - check a region name against the uapi rules
 * @name:	candidate name
 *
 * A name is 1 to SHMK_NAME_MAX - 1 characters in 0x21..0x7e except '/'.
 *
 * Return: 0 when valid; -ENAMETOOLONG when too long; -EINVAL when NULL,
 * empty or containing another character.
 */
SHMK_API int shmk_name_check(const char *name);

/**
 * shmk_region_create() - create a named region and map it
 * @name:	region name (see shmk_name_check())
 * @bytes:	size; rounded up to a multiple of SHMK_PAGE_SIZE (2 MiB)
 * @mode:	permission bits (0777 mask); the umask is not applied
 * @flags:	SHMK_REGION_PERSIST, SHMK_REGION_RDONLY
 * @out:	receives the handle
 *
 * The region is mapped shared, read-write unless SHMK_REGION_RDONLY, and
 * zero-filled.  On both backends it vanishes with its last handle unless
 * SHMK_REGION_PERSIST; on memfd a region whose holders all died is swept
 * by the next open or create (see Documentation/library.rst).  On memfd
 * a region is a sealed memfd that no holder can resize, unless
 * SHMK_REGION_PERSIST (then it is the file in /dev/shm, unsealed).
 *
 * Return: 0; -EINVAL (bad name, flags or size, size 0 or overflowing),
 * -ENAMETOOLONG, -EEXIST (name taken), -ENOSPC/-ENOMEM (no memory),
 * -EOPNOTSUPP (memfd, not persistent: no sealable memfd_create() or no
 * /proc), -EDQUOT (the device backend's per-user budget, see
 * Documentation/abi.rst), -ENODEV (SHMK_BACKEND=device without
 * /dev/shmk), or another negative errno from the backend.
 */
SHMK_API int shmk_region_create(const char *name, uint64_t bytes,
				unsigned int mode, unsigned int flags,
				struct shmk_region **out);

/**
 * shmk_region_open() - open an existing region by name and map it
 * @name:	region name
 * @flags:	SHMK_REGION_OPEN_RDONLY to ask for read access only
 * @out:	receives the handle
 *
 * Return: 0; -ENOENT (no such region, or memfd: one whose holders all
 * died, now swept), -EACCES (permission), -EINVAL, -ENAMETOOLONG,
 * -EBADMSG (memfd backend: the file is not a regular file, its size
 * not a multiple of 2 MiB, or its rendezvous header bad), -EAGAIN
 * (memfd: the name kept being swept and re-created under us), -ENOLINK
 * (memfd: the region is held, but no holder hands its memory over: they
 * are read-only, fork children that have not called the library since,
 * or in another network namespace), -ENODEV, or another negative errno.
 */
SHMK_API int shmk_region_open(const char *name, unsigned int flags,
			      struct shmk_region **out);

/**
 * shmk_region_unlink() - remove a region's name
 * @name:	region name
 *
 * Mappings and handles remain valid; the name can be created again.
 *
 * Return: 0; -ENOENT, -EPERM (not the owner), -EINVAL, -ENAMETOOLONG,
 * -ENODEV, or another negative errno.
 */
SHMK_API int shmk_region_unlink(const char *name);

/**
 * shmk_region_close() - unmap a region and release the handle
 * @r:		handle, may be NULL
 *
 * Pointers into the region become invalid.  Other handles, in this or
 * other processes, are unaffected.
 */
SHMK_API void shmk_region_close(struct shmk_region *r);

/**
 * shmk_region_base() - start of the region's mapping in this process
 * @r:		handle
 *
 * Return: the address; 2 MiB aligned where the backend allows.
 */
SHMK_API void *shmk_region_base(const struct shmk_region *r);

/**
 * shmk_region_size() - size of the region in bytes
 * @r:		handle
 *
 * Return: the mapped size, a multiple of SHMK_PAGE_SIZE.
 */
SHMK_API uint64_t shmk_region_size(const struct shmk_region *r);

/**
 * shmk_region_fd() - the region's file descriptor
 * @r:		handle
 *
 * A region fd (device backend) or the file /dev/shm/shmk.<name> (memfd
 * backend: the rendezvous file, not the mapped memfd, unless the region
 * is persistent); owned by the handle, closed by shmk_region_close().
 * O_CLOEXEC.
 *
 * Return: the fd.
 */
SHMK_API int shmk_region_fd(const struct shmk_region *r);

/**
 * shmk_region_backend() - the backend a handle lives in
 * @r:		handle
 *
 * Return: SHMK_BACKEND_DEVICE or SHMK_BACKEND_MEMFD.
 */
SHMK_API int shmk_region_backend(const struct shmk_region *r);

/**
 * shmk_region_writable() - whether the mapping is writable
 * @r:		handle
 *
 * Return: 1 when mapped read-write, 0 when read-only.
 */
SHMK_API int shmk_region_writable(const struct shmk_region *r);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_REGION_H */
