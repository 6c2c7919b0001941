// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk device backend: /dev/shmk ioctls, see <linux/shmk.h>.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

/* The control device, opened per call: no global fd to leak across fork. */
static int dev_open(void)
{
	int fd = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENXIO ? -ENODEV : -errno;
	return fd;
}

static int dev_ioctl(unsigned long cmd, void *arg)
{
	int dfd = dev_open(), ret;

	if (dfd < 0)
		return dfd;
	ret = ioctl(dfd, cmd, arg);
	if (ret < 0)
		ret = -errno;
	close(dfd);
	return ret;
}

static int dev_create(const char *name, uint64_t bytes, unsigned int mode,
		      unsigned int flags)
{
	struct shmk_create c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = flags;
	c.bytes = bytes;
	c.mode = mode;
	strncpy(c.name, name, sizeof(c.name) - 1);
	return dev_ioctl(SHMK_IOC_CREATE, &c);
}

static int dev_open_region(const char *name, unsigned int flags)
{
	struct shmk_open o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = flags & SHMK_OPEN_RDONLY;
	strncpy(o.name, name, sizeof(o.name) - 1);
	return dev_ioctl(SHMK_IOC_OPEN, &o);
}

static int dev_unlink(const char *name)
{
	struct shmk_unlink u;

	memset(&u, 0, sizeof(u));
	u.size = sizeof(u);
	strncpy(u.name, name, sizeof(u.name) - 1);
	return dev_ioctl(SHMK_IOC_UNLINK, &u);
}

static int dev_size(int fd, uint64_t *bytes)
{
	struct shmk_region_info info;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	if (ioctl(fd, SHMK_IOC_INFO, &info) < 0)
		return -errno;
	*bytes = info.bytes;
	return 0;
}

static int dev_wait(const struct shmk_region *r, uint64_t off,
		    uint32_t expected, int64_t timeout_ns)
{
	struct shmk_wait w;

	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.offset = off;
	w.expected = expected;
	w.bitset = SHMK_BITSET_ANY;
	if (timeout_ns >= 0) {
		w.flags = SHMK_WAIT_TIMEOUT;
		w.timeout_ns = (uint64_t)timeout_ns;
	}
	return ioctl(r->fd, SHMK_IOC_WAIT, &w) < 0 ? -errno : 0;
}

static int dev_wake(const struct shmk_region *r, uint64_t off, uint32_t count)
{
	struct shmk_wake w;
	int ret;

	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.offset = off;
	w.count = count;
	w.bitset = SHMK_BITSET_ANY;
	ret = ioctl(r->fd, SHMK_IOC_WAKE, &w);
	return ret < 0 ? -errno : ret;
}

/*
 * The offset of the 32-bit word @p inside @r, or -1 when it is not one:
 * outside the mapping, or not 4-byte aligned.
 */
static int64_t dev_word_offset(const struct shmk_region *r, const void *p)
{
	uintptr_t b = (uintptr_t)r->base, a = (uintptr_t)p;

	if (a < b || a - b > r->size - 4 || ((a - b) & 3))
		return -1;
	return (int64_t)(a - b);
}

/*
 * A conditional death notice (SHMK_ON_RELEASE_CMPXCHG, see
 * Documentation/abi.rst): when @r's region file is released, the module
 * sets *@slot to @value if (*@slot & @mask) == @expected, then
 * increments *@counter and wakes its waiters whether or not it did.  It
 * replaces the file's previous notice atomically; shmk_region_on_release()
 * with a NULL slot clears it.  Returns 0; -EOPNOTSUPP on the memfd
 * backend and with a module older than the flag (which refuses the
 * mask it does not know with E2BIG; one without death notices at all
 * says ENOTTY); -EINVAL for a word outside the region or unaligned, a
 * zero @mask, or an @expected bit outside @mask; else the ioctl's errno
 * (-EACCES on a read-only region, -ENOMEM).  No shared memory is
 * written here: the module writes, at the release.
 */
int shmk__on_release_cmpxchg(const struct shmk_region *r, const void *slot,
			     uint32_t expected, uint32_t mask, uint32_t value,
			     const void *counter)
{
	struct shmk_on_release a;
	int64_t so, co;

	if (!r || !slot || !counter)
		return -EINVAL;
	if (r->backend != SHMK_BACKEND_DEVICE)
		return -EOPNOTSUPP;
	so = dev_word_offset(r, slot);
	co = dev_word_offset(r, counter);
	if (so < 0 || co < 0 || !mask || (expected & ~mask))
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = SHMK_ON_RELEASE_CMPXCHG;
	a.slot_offset = (uint64_t)so;
	a.slot_value = value;
	a.expected = expected;
	a.counter_offset = (uint64_t)co;
	a.mask = mask;
	if (ioctl(r->fd, SHMK_IOC_ON_RELEASE, &a) == 0)
		return 0;
	/*
	 * The arguments were checked above as the module checks them, so
	 * these two can only mean a module that predates the flag.
	 */
	if (errno == E2BIG || errno == ENOTTY)
		return -EOPNOTSUPP;
	return -errno;
}

const struct shmk_backend_ops shmk_device_ops = {
	.create	= dev_create,
	.open	= dev_open_region,
	.unlink	= dev_unlink,
	.size	= dev_size,
	.wait	= dev_wait,
	.wake	= dev_wake,
};
