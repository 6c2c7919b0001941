// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-demo: two processes share a hugepage-backed region.
 *
 *   shmk-demo write NAME TEXT   create NAME, write TEXT, wake the reader,
 *                               wait until it acknowledges, exit
 *   shmk-demo read NAME         open NAME, sleep until TEXT is there,
 *                               print it and the region's facts, ack
 *   shmk-demo list              print the regions of this IPC namespace
 *
 * Layout of the region: word 0 is the state (0 empty, 1 written,
 * 2 read); the text starts at byte 64.  Both sides sleep with
 * SHMK_IOC_WAIT on word 0 and wake each other with SHMK_IOC_WAKE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/shmk.h>

#define REGION_BYTES	(4ULL << 20)
#define TEXT_OFFSET	64

enum { EMPTY, WRITTEN, READ };

static int fail(const char *what)
{
	fprintf(stderr, "shmk-demo: %s: %s\n", what, strerror(errno));
	return 1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sleep until word 0 leaves @from; no wakeup can be lost (see abi.rst). */
static int wait_state(int fd, _Atomic uint32_t *state, uint32_t from)
{
	struct shmk_wait w = {
		.size = sizeof(w), .offset = 0, .expected = from,
		.bitset = SHMK_BITSET_ANY, .flags = SHMK_WAIT_TIMEOUT,
		.timeout_ns = 30ULL * 1000000000,
	};

	/* Acquire: pairs with the other side's release store of the state. */
	while (atomic_load_explicit(state, memory_order_acquire) == from)
		if (ioctl(fd, SHMK_IOC_WAIT, &w) && errno != EAGAIN &&
		    errno != EINTR)
			return -1;
	return 0;
}

static int set_state(int fd, _Atomic uint32_t *state, uint32_t to)
{
	struct shmk_wake k = { .size = sizeof(k), .offset = 0, .count = 1,
			       .bitset = SHMK_BITSET_ANY };

	/* Release: the text written before is visible to who sees @to. */
	atomic_store_explicit(state, to, memory_order_release);
	return ioctl(fd, SHMK_IOC_WAKE, &k);
}

static int writer(int dev, const char *name, const char *text)
{
	struct shmk_create c = { .size = sizeof(c), .bytes = REGION_BYTES,
				 .mode = 0600 };
	_Atomic uint32_t *state;
	char *mem;
	int fd;

	snprintf(c.name, sizeof(c.name), "%s", name);
	fd = ioctl(dev, SHMK_IOC_CREATE, &c);
	if (fd < 0)
		return fail("create");
	mem = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	state = (_Atomic uint32_t *)mem;
	printf("writer %d: created region \"%s\" (%llu MiB), mapped at %p\n",
	       getpid(), name, REGION_BYTES >> 20, (void *)mem);
	snprintf(mem + TEXT_OFFSET, REGION_BYTES - TEXT_OFFSET, "%s", text);
	if (set_state(fd, state, WRITTEN) < 0)
		return fail("wake");
	printf("writer %d: wrote %zu bytes in place, woke the reader\n",
	       getpid(), strlen(text) + 1);
	fflush(stdout);
	if (wait_state(fd, state, WRITTEN))
		return fail("wait");
	printf("writer %d: the reader acknowledged; exiting, which frees the region\n",
	       getpid());
	return 0;
}

static int reader(int dev, const char *name)
{
	struct shmk_region_info info = { .size = sizeof(info) };
	struct shmk_open o = { .size = sizeof(o) };
	_Atomic uint32_t *state;
	double t0 = now_ms();
	char *mem;
	int fd;

	snprintf(o.name, sizeof(o.name), "%s", name);
	/* The writer may not have created it yet. */
	while ((fd = ioctl(dev, SHMK_IOC_OPEN, &o)) < 0 && errno == ENOENT &&
	       now_ms() - t0 < 30000)
		usleep(1000);
	if (fd < 0)
		return fail("open");
	mem = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	state = (_Atomic uint32_t *)mem;
	if (wait_state(fd, state, EMPTY))
		return fail("wait");
	printf("reader %d: read \"%s\" from region \"%s\"\n", getpid(),
	       mem + TEXT_OFFSET, name);
	if (ioctl(fd, SHMK_IOC_INFO, &info))
		return fail("info");
	printf("reader %d: region id %llu, %llu MiB, %llu KiB resident of which %llu KiB in 2 MiB pages, %u open handles, owner %u mode %03o\n",
	       getpid(), (unsigned long long)info.id,
	       (unsigned long long)info.bytes >> 20,
	       (unsigned long long)info.resident_bytes >> 10,
	       (unsigned long long)info.huge_bytes >> 10, info.handles,
	       info.uid, info.mode);
	fflush(stdout);
	if (set_state(fd, state, READ) < 0)
		return fail("wake");
	return 0;
}

static int list(int dev)
{
	struct shmk_region_info info[64];
	struct shmk_list l = { .size = sizeof(l), .count = 64,
			       .entry_size = sizeof(info[0]),
			       .entries = (uintptr_t)info };
	unsigned int i;

	if (ioctl(dev, SHMK_IOC_LIST, &l))
		return fail("list");
	printf("%u region(s)\n", l.count);
	for (i = 0; i < l.count && i < 64; i++)
		printf("  %-20s %6llu MiB  %u handle(s)\n", info[i].name,
		       (unsigned long long)info[i].bytes >> 20,
		       info[i].handles);
	return 0;
}

int main(int argc, char **argv)
{
	int dev;

	if (argc == 2 && !strcmp(argv[1], "list")) {
		dev = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		return dev < 0 ? fail(SHMK_DEVICE_PATH) : list(dev);
	}

	if (argc < 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "read")) ||
	    (!strcmp(argv[1], "write") && argc < 4)) {
		fprintf(stderr, "usage: shmk-demo write NAME TEXT | read NAME | list\n");
		return 2;
	}
	dev = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail(SHMK_DEVICE_PATH);
	if (!strcmp(argv[1], "write"))
		return writer(dev, argv[2], argv[3]);
	return reader(dev, argv[2]);
}
