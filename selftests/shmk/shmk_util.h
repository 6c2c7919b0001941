/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by the shmk selftests: thin wrappers that turn
 * the ioctls into calls returning a value or -errno.
 */
#ifndef SHMK_SELFTEST_UTIL_H
#define SHMK_SELFTEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/shmk.h>

static inline int shmk_dev(void)
{
	return open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/* Copy a name into a name field; longer names fill it without a NUL. */
static inline void shmk_set_name(char *field, const char *name)
{
	size_t n;

	for (n = 0; n < SHMK_NAME_MAX && name[n]; n++)
		field[n] = name[n];
}

static inline int shmk_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline int shmk_create_flags(int dev, const char *name,
				    unsigned long long bytes,
				    unsigned int mode, unsigned int flags)
{
	struct shmk_create c = {
		.size = sizeof(c), .flags = flags, .bytes = bytes, .mode = mode,
	};

	shmk_set_name(c.name, name);
	return shmk_ioctl(dev, SHMK_IOC_CREATE, &c);
}

static inline int shmk_create(int dev, const char *name,
			      unsigned long long bytes)
{
	return shmk_create_flags(dev, name, bytes, 0600, 0);
}

static inline int shmk_open_flags(int dev, const char *name,
				  unsigned int flags)
{
	struct shmk_open o = { .size = sizeof(o), .flags = flags };

	shmk_set_name(o.name, name);
	return shmk_ioctl(dev, SHMK_IOC_OPEN, &o);
}

static inline int shmk_unlink(int dev, const char *name)
{
	struct shmk_unlink u = { .size = sizeof(u) };

	shmk_set_name(u.name, name);
	return shmk_ioctl(dev, SHMK_IOC_UNLINK, &u);
}

static inline int shmk_info(int fd, struct shmk_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return shmk_ioctl(fd, SHMK_IOC_INFO, info);
}

/* Number of named regions in the caller's IPC namespace, or -errno. */
static inline int shmk_count(int dev)
{
	struct shmk_list l = { .size = sizeof(l) };
	int ret = shmk_ioctl(dev, SHMK_IOC_LIST, &l);

	return ret < 0 ? ret : (int)l.count;
}

static inline int shmk_wait(int fd, unsigned long long offset,
			    unsigned int expected, unsigned int flags,
			    unsigned long long timeout_ns)
{
	struct shmk_wait w = {
		.size = sizeof(w), .flags = flags, .offset = offset,
		.expected = expected, .bitset = SHMK_BITSET_ANY,
		.timeout_ns = timeout_ns,
	};

	return shmk_ioctl(fd, SHMK_IOC_WAIT, &w);
}

static inline int shmk_wake(int fd, unsigned long long offset,
			    unsigned int count)
{
	struct shmk_wake w = {
		.size = sizeof(w), .offset = offset, .count = count,
		.bitset = SHMK_BITSET_ANY,
	};

	return shmk_ioctl(fd, SHMK_IOC_WAKE, &w);
}

/* Read an integer field ("Shmem:" etc.) of /proc/meminfo, in kB. */
static inline long meminfo_kb(const char *field)
{
	char line[256];
	long val = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n)) {
			val = strtol(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/* Write a module parameter; returns 0 or -errno. */
static inline int shmk_param_set(const char *param, const char *value)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/module/shmk/parameters/%s", param);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static inline int shmk_param_get(const char *param, char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/shmk/parameters/%s", param);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/*
 * Helpers of the hostile-caller tests (fuzz_test.c, killstorm_test.c).
 */

/* An unsigned number from the environment, or @def when unset or bad. */
static inline unsigned long long shmk_env_ull(const char *name,
					      unsigned long long def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 0);
	return (errno || *end) ? def : v;
}

/* The module's reference count (/sys/module/shmk/refcnt), or -errno. */
static inline long shmk_refcnt(void)
{
	char buf[32];
	ssize_t n;
	int fd = open("/sys/module/shmk/refcnt", O_RDONLY);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/* splitmix64: a seeded generator whose sequence only the seed decides. */
static inline unsigned long long shmk_rand(unsigned long long *state)
{
	unsigned long long z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0). */
static inline unsigned long long shmk_rand_below(unsigned long long *state,
						 unsigned long long n)
{
	return shmk_rand(state) % n;
}

/*
 * Unlink every name LIST shows in the caller's IPC namespace but @keep
 * (NULL: none).  Returns how many names were unlinked, or -errno.  Up
 * to 256 names per pass; it repeats while LIST reports more.
 */
static inline int shmk_unlink_all_but(int dev, const char *keep)
{
	struct shmk_region_info *e;
	struct shmk_list l;
	int done = 0, pass, ret = 0;
	unsigned int i, n;

	e = calloc(256, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (pass = 0; pass < 64; pass++) {
		memset(&l, 0, sizeof(l));
		l.size = sizeof(l);
		l.count = 256;
		l.entry_size = sizeof(*e);
		l.entries = (unsigned long)e;
		ret = shmk_ioctl(dev, SHMK_IOC_LIST, &l);
		if (ret < 0 || !l.count)
			break;
		n = l.count < 256 ? l.count : 256;
		for (i = 0; i < n; i++) {
			e[i].name[SHMK_NAME_MAX - 1] = 0;
			if (keep && !strcmp(e[i].name, keep))
				continue;
			if (!shmk_unlink(dev, e[i].name))
				done++;
		}
		if (keep && l.count == 1)
			break;
	}
	free(e);
	return ret < 0 ? ret : done;
}

static inline int shmk_unlink_all(int dev)
{
	return shmk_unlink_all_but(dev, NULL);
}

/*
 * Wait until Shmem in /proc/meminfo is at most @base_kb + @slack_kb and
 * the module's refcnt is @refcnt (when @refcnt >= 0), for up to @ms
 * milliseconds: the last fput() of a region is deferred to task work or
 * a workqueue.  Returns 0, or -1 with the last values in @shmem_kb and
 * @refcnt_now.
 */
static inline int shmk_settle(long base_kb, long slack_kb, long refcnt,
			      int ms, long *shmem_kb, long *refcnt_now)
{
	int waited;

	for (waited = 0;; waited += 10) {
		*shmem_kb = meminfo_kb("Shmem:");
		*refcnt_now = shmk_refcnt();
		if (*shmem_kb >= 0 && *shmem_kb <= base_kb + slack_kb &&
		    (refcnt < 0 || *refcnt_now == refcnt))
			return 0;
		if (waited >= ms)
			return -1;
		usleep(10000);
	}
}

#endif /* SHMK_SELFTEST_UTIL_H */
