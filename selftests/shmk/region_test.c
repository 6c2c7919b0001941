// SPDX-License-Identifier: GPL-2.0
/*
 * shmk region selftests: create, open, unlink, list, info, mmap, THP
 * mappings, permissions, IPC namespaces, lifetime and limits.  Run as
 * root inside the guest with shmk.ko loaded.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

#define MiB (1024ULL * 1024)

FIXTURE(region) {
	int dev;
};

FIXTURE_SETUP(region)
{
	self->dev = shmk_dev();
	ASSERT_GE(self->dev, 0) TH_LOG("open %s: %s", SHMK_DEVICE_PATH,
				      strerror(errno));
}

FIXTURE_TEARDOWN(region)
{
	close(self->dev);
}

/* Run @fn in a child as uid/gid 65534 and return its exit status. */
static int as_nobody(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(200);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST_F(region, create_basic)
{
	struct shmk_region_info info;
	int fd = shmk_create(self->dev, "basic", 1);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	ASSERT_EQ(0, shmk_info(fd, &info));
	EXPECT_EQ(sizeof(info), info.size);
	EXPECT_EQ(2 * MiB, info.bytes);
	EXPECT_EQ(0600, info.mode);
	EXPECT_EQ(getuid(), info.uid);
	EXPECT_EQ(getgid(), info.gid);
	EXPECT_EQ(1, info.handles);
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(0, info.resident_bytes);
	EXPECT_STREQ("basic", info.name);
	EXPECT_NE(0, info.id);
	EXPECT_EQ(1, shmk_count(self->dev));
	close(fd);
}

TEST_F(region, size_rounds_up_to_2mib)
{
	struct shmk_region_info info;
	int fd = shmk_create(self->dev, "round", 3 * MiB);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_info(fd, &info));
	EXPECT_EQ(4 * MiB, info.bytes);
	close(fd);
	fd = shmk_create(self->dev, "exact", 4 * MiB);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_info(fd, &info));
	EXPECT_EQ(4 * MiB, info.bytes);
	close(fd);
}

TEST_F(region, create_existing_is_eexist)
{
	struct shmk_region_info a, b;
	int fd = shmk_create(self->dev, "dup", 2 * MiB);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_info(fd, &a));
	EXPECT_EQ(-EEXIST, shmk_create(self->dev, "dup", 4 * MiB));
	ASSERT_EQ(0, shmk_info(fd, &b));
	EXPECT_EQ(a.id, b.id);
	EXPECT_EQ(2 * MiB, b.bytes);
	EXPECT_EQ(1, shmk_count(self->dev));
	close(fd);
}

TEST_F(region, bad_sizes)
{
	char buf[32];

	EXPECT_EQ(-EINVAL, shmk_create(self->dev, "zero", 0));
	ASSERT_EQ(0, shmk_param_get("max_region_bytes", buf, sizeof(buf)));
	EXPECT_EQ(-E2BIG, shmk_create(self->dev, "huge",
				      strtoull(buf, NULL, 0) + 1));
	EXPECT_EQ(-E2BIG, shmk_create(self->dev, "huger", ~0ULL));
	EXPECT_EQ(0, shmk_count(self->dev));
}

TEST_F(region, names)
{
	char name[SHMK_NAME_MAX + 1];
	struct shmk_create c = { .size = sizeof(c), .bytes = 1, .mode = 0600 };
	int fd;

	memset(name, 'n', sizeof(name));
	/* No NUL inside the field: too long. */
	memcpy(c.name, name, sizeof(c.name));
	EXPECT_EQ(-ENAMETOOLONG, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &c));
	/* The longest name fits. */
	name[SHMK_NAME_MAX - 1] = 0;
	fd = shmk_create(self->dev, name, 1);
	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(-EINVAL, shmk_create(self->dev, "", 1));
	EXPECT_EQ(-EINVAL, shmk_create(self->dev, "a/b", 1));
	EXPECT_EQ(-EINVAL, shmk_create(self->dev, "a b", 1));
	EXPECT_EQ(-EINVAL, shmk_create(self->dev, "tab\t", 1));
	EXPECT_EQ(-EINVAL, shmk_create(self->dev, "\x7f", 1));
	EXPECT_EQ(-ENAMETOOLONG, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &c));
	EXPECT_EQ(-EINVAL, shmk_open_flags(self->dev, "", 0));
	EXPECT_EQ(-EINVAL, shmk_unlink(self->dev, "x/y"));
	EXPECT_EQ(0, shmk_count(self->dev));
}

TEST_F(region, bad_flags_mode_reserved)
{
	struct shmk_create c = { .size = sizeof(c), .bytes = 1, .mode = 0600 };
	struct shmk_open o = { .size = sizeof(o), .flags = 1U << 31 };
	struct shmk_unlink u = { .size = sizeof(u), .flags = 1 };
	struct shmk_list l = { .size = sizeof(l), .flags = 1 };

	strcpy(c.name, "flags");
	strcpy(o.name, "flags");
	strcpy(u.name, "flags");
	c.flags = 1U << 31;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &c));
	c.flags = 0;
	c.mode = 01777;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &c));
	c.mode = 0600;
	c.reserved = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &c));
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_OPEN, &o));
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_UNLINK, &u));
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_LIST, &l));
	EXPECT_EQ(0, shmk_count(self->dev));
}

TEST_F(region, struct_sizes)
{
	struct {
		struct shmk_create c;
		char tail[16];
	} big = { .c = { .bytes = 1, .mode = 0600 } };
	static char page[8192];
	struct shmk_create *pc = (void *)page;
	int fd;

	strcpy(big.c.name, "sizes");
	big.c.size = 4;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &big.c));
	big.c.size = sizeof(big.c) - 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &big.c));
	/* A larger struct with a non-zero tail asks for what we lack. */
	big.c.size = sizeof(big);
	big.tail[3] = 1;
	EXPECT_EQ(-E2BIG, shmk_ioctl(self->dev, SHMK_IOC_CREATE, &big.c));
	EXPECT_EQ(0, shmk_count(self->dev));
	/* ... and with a zero tail it is fine. */
	big.tail[3] = 0;
	fd = shmk_ioctl(self->dev, SHMK_IOC_CREATE, &big.c);
	ASSERT_GE(fd, 0);
	/* More than a page is refused. */
	memcpy(pc, &big.c, sizeof(big.c));
	strcpy(pc->name, "sizes2");
	pc->size = sizeof(page);
	EXPECT_EQ(-E2BIG, shmk_ioctl(self->dev, SHMK_IOC_CREATE, pc));
	EXPECT_EQ(1, shmk_count(self->dev));
	close(fd);
}

TEST_F(region, bad_pointers)
{
	struct shmk_list l = { .size = sizeof(l), .count = 4,
			       .entry_size = sizeof(struct shmk_region_info),
			       .entries = 8 };
	int fd;

	EXPECT_EQ(-EFAULT, shmk_ioctl(self->dev, SHMK_IOC_CREATE, (void *)8));
	EXPECT_EQ(-EFAULT, shmk_ioctl(self->dev, SHMK_IOC_OPEN, (void *)8));
	EXPECT_EQ(-EFAULT, shmk_ioctl(self->dev, SHMK_IOC_UNLINK, (void *)8));
	EXPECT_EQ(-EFAULT, shmk_ioctl(self->dev, SHMK_IOC_LIST, (void *)8));
	fd = shmk_create(self->dev, "ptr", 1);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EFAULT, shmk_ioctl(self->dev, SHMK_IOC_LIST, &l));
	EXPECT_EQ(-EFAULT, shmk_ioctl(fd, SHMK_IOC_INFO, (void *)8));
	EXPECT_EQ(-EFAULT, shmk_ioctl(fd, SHMK_IOC_WAIT, (void *)8));
	EXPECT_EQ(1, shmk_count(self->dev));
	close(fd);
}

TEST_F(region, unknown_ioctls)
{
	int fd = shmk_create(self->dev, "ioctl", 1);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev, _IO(SHMK_IOC_MAGIC, 0x7f), NULL));
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev, SHMK_IOC_INFO, NULL));
	EXPECT_EQ(-ENOTTY, shmk_ioctl(fd, SHMK_IOC_CREATE, NULL));
	EXPECT_EQ(-ENOTTY, shmk_ioctl(fd, _IO('x', 1), NULL));
	close(fd);
}

/* rpmsg's uapi (magic 0xB5, the magic shmk once used), defined here. */
struct rpmsg_endpoint_info {
	char name[32];
	__u32 src;
	__u32 dst;
};
#define RPMSG_CREATE_EPT_IOCTL	_IOW(0xb5, 0x1, struct rpmsg_endpoint_info)
#define RPMSG_CREATE_DEV_IOCTL	_IOW(0xb5, 0x3, struct rpmsg_endpoint_info)

/* Another driver's ioctl sent to /dev/shmk is ENOTTY and creates nothing. */
TEST_F(region, rpmsg_ioctls_are_enotty)
{
	struct rpmsg_endpoint_info ept = { .name = "rpmsg", .src = 1, .dst = 2 };
	struct shmk_create c = { .size = sizeof(c), .bytes = 1, .mode = 0600 };

	ASSERT_EQ(40, sizeof(ept));
	shmk_set_name(c.name, "rpmsg");
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev, RPMSG_CREATE_EPT_IOCTL, &ept));
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev, RPMSG_CREATE_DEV_IOCTL, &ept));
	/* Even with a struct that would be a valid CREATE. */
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev, RPMSG_CREATE_EPT_IOCTL, &c));
	EXPECT_EQ(0, shmk_count(self->dev));
	EXPECT_EQ(-ENOENT, shmk_unlink(self->dev, "rpmsg"));
}

/*
 * The size bits of the number may be 0 or any size from the published
 * one up; a smaller nonzero size is ENOTTY.
 */
TEST_F(region, ioctl_size_bits)
{
	struct shmk_create c = { .size = sizeof(c), .bytes = 1, .mode = 0600 };
	struct shmk_region_info info;
	int fd;

	shmk_set_name(c.name, "sizebits");
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev,
				      _IOC(_IOC_WRITE, SHMK_IOC_MAGIC, 0x01, 40), &c));
	EXPECT_EQ(-ENOTTY, shmk_ioctl(self->dev,
				      _IOC(_IOC_WRITE, SHMK_IOC_MAGIC, 0x01,
					   sizeof(c) - 1), &c));
	EXPECT_EQ(0, shmk_count(self->dev));
	fd = shmk_ioctl(self->dev, _IOC(_IOC_WRITE, SHMK_IOC_MAGIC, 0x01, 0), &c);
	ASSERT_GE(fd, 0);
	close(fd);
	fd = shmk_ioctl(self->dev, _IOC(_IOC_WRITE, SHMK_IOC_MAGIC, 0x01, 200), &c);
	ASSERT_GE(fd, 0);
	/* On a region fd too. */
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	EXPECT_EQ(-ENOTTY, shmk_ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE,
					       SHMK_IOC_MAGIC, 0x10, 8), &info));
	EXPECT_EQ(-ENOTTY, shmk_ioctl(fd, _IOC(_IOC_WRITE, SHMK_IOC_MAGIC,
					       0x21, 8), &info));
	EXPECT_EQ(0, shmk_ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE,
					 SHMK_IOC_MAGIC, 0x10, 0), &info));
	EXPECT_EQ(2 * MiB, info.bytes);
	close(fd);
}

TEST_F(region, open_shares_memory_across_processes)
{
	int fd = shmk_create(self->dev, "share", 2 * MiB);
	uint32_t *p;
	int status;
	pid_t pid;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[1000] = 0xabcd1234;
	pid = fork();
	if (pid == 0) {
		int dev = shmk_dev();
		int rfd = shmk_open_flags(dev, "share", 0);
		uint32_t *q;

		if (rfd < 0)
			_exit(1);
		q = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			 rfd, 0);
		if (q == MAP_FAILED || q[1000] != 0xabcd1234)
			_exit(2);
		q[2000] = 42;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	EXPECT_EQ(42, p[2000]);
	munmap(p, 2 * MiB);
	close(fd);
}

TEST_F(region, open_missing_is_enoent)
{
	EXPECT_EQ(-ENOENT, shmk_open_flags(self->dev, "missing", 0));
	EXPECT_EQ(-ENOENT, shmk_unlink(self->dev, "missing"));
}

static int nobody_open(void *name)
{
	int dev = shmk_dev();
	int fd;
	void *p;

	if (dev < 0)
		return 10;
	if (shmk_open_flags(dev, name, 0) != -EACCES)
		return 11;
	if (shmk_unlink(dev, name) != -EPERM)
		return 12;
	fd = shmk_open_flags(dev, name, SHMK_OPEN_RDONLY);
	if (!strcmp(name, "perm-none"))
		return fd == -EACCES ? 0 : 13;
	if (fd < 0)
		return 14;
	if (mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) !=
	    MAP_FAILED || errno != EACCES)
		return 15;
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || *(volatile int *)p != 7)
		return 16;
	if (mprotect(p, 2 * MiB, PROT_READ | PROT_WRITE) == 0)
		return 17;
	return 0;
}

TEST_F(region, permissions_checked_on_open)
{
	int none = shmk_create_flags(self->dev, "perm-none", 1, 0600, 0);
	int ro = shmk_create_flags(self->dev, "perm-ro", 1, 0604, 0);
	int *p;

	ASSERT_GE(none, 0);
	ASSERT_GE(ro, 0);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	ASSERT_NE(MAP_FAILED, p);
	*p = 7;
	EXPECT_EQ(0, as_nobody(nobody_open, "perm-none"));
	EXPECT_EQ(0, as_nobody(nobody_open, "perm-ro"));
	/* Root (CAP_IPC_OWNER) may open anything. */
	EXPECT_LE(0, shmk_open_flags(self->dev, "perm-none", 0));
	munmap(p, 2 * MiB);
}

TEST_F(region, rdonly_fd_cannot_map_writable)
{
	int fd = shmk_create_flags(self->dev, "rdonly", 1, 0600,
				   SHMK_CREATE_RDONLY);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(O_RDONLY, fcntl(fd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0));
	EXPECT_EQ(EACCES, errno);
	EXPECT_NE(MAP_FAILED, mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0));
	close(fd);
}

/*
 * No holder can resize a region: the messaging layer's peers trust that
 * their mapping stays valid (on the memfd backend a peer's ftruncate()
 * gives everyone SIGBUS; lib-audit #9).  Checked from a second handle
 * opened by name, as a peer would.
 */
TEST_F(region, no_holder_can_resize)
{
	int fd = shmk_create(self->dev, "noresize", 4 * MiB);
	int peer;
	char *p;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 'a';
	p[4 * MiB - 1] = 'z';
	peer = shmk_open_flags(self->dev, "noresize", 0);
	ASSERT_GE(peer, 0);
	EXPECT_NE(0, ftruncate(peer, 0));
	EXPECT_NE(0, ftruncate(peer, 2 * MiB));
	EXPECT_NE(0, ftruncate(peer, 64 * MiB));
	EXPECT_NE(0, fallocate(peer, 0, 0, 8 * MiB));
	EXPECT_NE(0, fallocate(peer, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, 4 * MiB));
	/* Still mapped, still there: no SIGBUS, no hole. */
	EXPECT_EQ('a', p[0]);
	EXPECT_EQ('z', p[4 * MiB - 1]);
	munmap(p, 4 * MiB);
	close(peer);
	close(fd);
}

TEST_F(region, mmap_limits)
{
	int fd = shmk_create(self->dev, "mmap", 4 * MiB);
	void *p;

	ASSERT_GE(fd, 0);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 6 * MiB, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd,
				   4 * MiB));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * MiB + 4096, PROT_READ, MAP_SHARED,
				   fd, 2 * MiB));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Whole, and a part at an offset, are fine; the start is 2 MiB aligned. */
	p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, (uintptr_t)p % (2 * MiB));
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 2 * MiB);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, (uintptr_t)p % (2 * MiB));
	/* The mapping cannot grow past the region. */
	EXPECT_EQ(MAP_FAILED, mremap(p, 2 * MiB, 4 * MiB, MREMAP_MAYMOVE));
	close(fd);
}

/* Regions are data: no PROT_EXEC mapping, no mprotect to executable. */
TEST_F(region, no_exec_mappings)
{
	int fd = shmk_create(self->dev, "noexec", 2 * MiB);
	int ro = shmk_open_flags(self->dev, "noexec", SHMK_OPEN_RDONLY);
	void *p;

	ASSERT_GE(fd, 0);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * MiB, PROT_READ | PROT_EXEC,
				   MAP_SHARED, fd, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * MiB,
				   PROT_READ | PROT_WRITE | PROT_EXEC,
				   MAP_SHARED, fd, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * MiB, PROT_READ | PROT_EXEC,
				   MAP_SHARED, ro, 0));
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, ro, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, 2 * MiB, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, 2 * MiB);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, 2 * MiB, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, 2 * MiB);
	close(ro);
	close(fd);
}

/* Sum a field of the smaps entry that covers @addr, in kB. */
static long smaps_kb(void *addr, const char *field)
{
	char line[512];
	unsigned long start, end, a = (unsigned long)addr;
	size_t n = strlen(field);
	int in = 0;
	long val = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = a >= start && a < end;
			continue;
		}
		if (in && !strncmp(line, field, n)) {
			val = strtol(line + n, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

TEST_F(region, pmd_mapped_hugepages)
{
	struct shmk_region_info info;
	const size_t len = 64 * MiB;
	int fd = shmk_create(self->dev, "thp", len);
	volatile char *p;
	long pmd_kb;
	size_t i;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < len; i += 4096)
		p[i] = (char)i;
	pmd_kb = smaps_kb((void *)p, "ShmemPmdMapped:");
	TH_LOG("ShmemPmdMapped: %ld kB of %zu kB", pmd_kb, len / 1024);
	EXPECT_GE(pmd_kb * 1024 * 100, (long)len * 99);
	ASSERT_EQ(0, shmk_info(fd, &info));
	EXPECT_EQ(len, info.resident_bytes);
	EXPECT_GE(info.huge_bytes * 100, len * 99);
	close(fd);
}

static int send_fd(int sock, int fd)
{
	char c = 'x', cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	return sendmsg(sock, &mh, 0);
}

TEST_F(region, fd_passes_over_unix_socket)
{
	int sv[2], fd, status;
	uint32_t *p;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	if (pid == 0) {
		char c, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = &c, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		uint32_t *q;
		int rfd;

		close(sv[0]);
		if (recvmsg(sv[1], &mh, 0) != 1)
			_exit(1);
		cm = CMSG_FIRSTHDR(&mh);
		if (!cm || cm->cmsg_type != SCM_RIGHTS)
			_exit(2);
		memcpy(&rfd, CMSG_DATA(cm), sizeof(rfd));
		q = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			 rfd, 0);
		if (q == MAP_FAILED)
			_exit(3);
		q[7] = 0x5eed;
		_exit(0);
	}
	close(sv[1]);
	/* An unnamed region: only the fd reaches it. */
	fd = shmk_create(self->dev, "passed", 1);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_unlink(self->dev, "passed"));
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(1, send_fd(sv[0], fd));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	EXPECT_EQ(0x5eed, p[7]);
	close(fd);
}

TEST_F(region, unlink_keeps_users)
{
	struct shmk_region_info info;
	int fd = shmk_create(self->dev, "unl", 1);
	int *p;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, shmk_unlink(self->dev, "unl"));
	EXPECT_EQ(-ENOENT, shmk_unlink(self->dev, "unl"));
	EXPECT_EQ(-ENOENT, shmk_open_flags(self->dev, "unl", 0));
	EXPECT_EQ(0, shmk_count(self->dev));
	ASSERT_EQ(0, shmk_info(fd, &info));
	EXPECT_EQ(SHMK_INFO_UNLINKED, info.flags);
	*p = 1;
	EXPECT_EQ(1, *p);
	/* The name is free again. */
	close(shmk_create(self->dev, "unl", 1));
	munmap(p, 2 * MiB);
	close(fd);
}

TEST_F(region, lifetime_follows_fds_and_mappings)
{
	int fd = shmk_create(self->dev, "life", 1);
	void *p;

	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(0, shmk_count(self->dev));
	EXPECT_EQ(-ENOENT, shmk_open_flags(self->dev, "life", 0));

	fd = shmk_create(self->dev, "life", 1);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	/* The mapping keeps it alive and reachable. */
	EXPECT_EQ(1, shmk_count(self->dev));
	fd = shmk_open_flags(self->dev, "life", 0);
	ASSERT_GE(fd, 0);
	close(fd);
	munmap(p, 2 * MiB);
	EXPECT_EQ(0, shmk_count(self->dev));
}

TEST_F(region, persistent_until_unlinked)
{
	struct shmk_region_info info;
	int fd = shmk_create_flags(self->dev, "persist", 1, 0600,
				   SHMK_CREATE_PERSIST);

	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(1, shmk_count(self->dev));
	fd = shmk_open_flags(self->dev, "persist", 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_info(fd, &info));
	EXPECT_EQ(SHMK_INFO_PERSIST, info.flags);
	ASSERT_EQ(0, shmk_unlink(self->dev, "persist"));
	EXPECT_EQ(0, shmk_count(self->dev));
	close(fd);
}

TEST_F(region, sigkill_leaves_nothing)
{
	long base, during = -1, after = -1;
	int pipefd[2], i;
	char c;
	pid_t pid;

	base = meminfo_kb("Shmem:");
	ASSERT_GE(base, 0);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	if (pid == 0) {
		int dev = shmk_dev();
		char name[16];

		for (i = 0; i < 4; i++) {
			int fd;
			char *p;

			snprintf(name, sizeof(name), "kill%d", i);
			fd = shmk_create(dev, name, 8 * MiB);
			if (fd < 0)
				_exit(1);
			p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				_exit(2);
			memset(p, 1, 8 * MiB);
			if (i & 1)
				close(fd);
		}
		if (write(pipefd[1], "r", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	EXPECT_EQ(4, shmk_count(self->dev));
	during = meminfo_kb("Shmem:");
	EXPECT_GE(during, base + 4 * 8 * 1024 - 1024);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	/* The last fput may run a moment after the exit. */
	for (i = 0; i < 100; i++) {
		after = meminfo_kb("Shmem:");
		if (!shmk_count(self->dev) && after <= base + 1024)
			break;
		usleep(10000);
	}
	TH_LOG("Shmem: %ld kB before, %ld kB with regions, %ld kB after",
	       base, during, after);
	EXPECT_EQ(0, shmk_count(self->dev));
	EXPECT_LE(after, base + 1024);
}

TEST_F(region, list_reports_regions)
{
	struct shmk_region_info info[4];
	struct shmk_list l = { .size = sizeof(l), .count = 2,
			       .entry_size = sizeof(info[0]),
			       .entries = (uintptr_t)info };
	int fds[3], i, seen = 0;

	for (i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "list%d", i);
		fds[i] = shmk_create(self->dev, name, (i + 1) * 2 * MiB);
		ASSERT_GE(fds[i], 0);
	}
	memset(info, 0xff, sizeof(info));
	ASSERT_EQ(0, shmk_ioctl(self->dev, SHMK_IOC_LIST, &l));
	EXPECT_EQ(3, l.count);
	EXPECT_EQ(sizeof(info[0]), info[0].size);
	EXPECT_EQ(sizeof(info[0]), info[1].size);
	EXPECT_EQ(0xffffffff, info[2].size);
	l.count = 4;
	ASSERT_EQ(0, shmk_ioctl(self->dev, SHMK_IOC_LIST, &l));
	EXPECT_EQ(3, l.count);
	for (i = 0; i < 3; i++) {
		int k = info[i].name[4] - '0';

		ASSERT_TRUE(k >= 0 && k < 3);
		seen |= 1 << k;
		EXPECT_EQ((k + 1) * 2 * MiB, info[i].bytes);
		EXPECT_EQ(1, info[i].handles);
	}
	EXPECT_EQ(7, seen);
	l.entry_size = 8;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->dev, SHMK_IOC_LIST, &l));
	for (i = 0; i < 3; i++)
		close(fds[i]);
}

TEST_F(region, ipc_namespaces_are_separate)
{
	int fd = shmk_create(self->dev, "nsname", 1);
	int status;
	pid_t pid;

	ASSERT_GE(fd, 0);
	pid = fork();
	if (pid == 0) {
		int dev, mine;

		if (unshare(CLONE_NEWIPC))
			_exit(1);
		dev = shmk_dev();
		if (shmk_count(dev) != 0)
			_exit(2);
		if (shmk_open_flags(dev, "nsname", 0) != -ENOENT)
			_exit(3);
		mine = shmk_create(dev, "nsname", 1);
		if (mine < 0 || shmk_count(dev) != 1)
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(1, shmk_count(self->dev));
	close(fd);
}

TEST_F(region, persistent_region_dies_with_its_namespace)
{
	long base = meminfo_kb("Shmem:"), after = -1;
	int status, i;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		int dev, fd;
		char *p;

		if (unshare(CLONE_NEWIPC))
			_exit(1);
		dev = shmk_dev();
		fd = shmk_create_flags(dev, "ghost", 8 * MiB, 0600,
				       SHMK_CREATE_PERSIST);
		if (fd < 0)
			_exit(2);
		p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED)
			_exit(3);
		memset(p, 1, 8 * MiB);
		/* Exit with the region persistent: only its name holds it. */
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	/* The next name operation drops the dead namespace's names. */
	for (i = 0; i < 100; i++) {
		EXPECT_EQ(0, shmk_count(self->dev));
		after = meminfo_kb("Shmem:");
		if (after <= base + 1024)
			break;
		usleep(10000);
	}
	TH_LOG("Shmem: %ld kB before, %ld kB after", base, after);
	EXPECT_LE(after, base + 1024);
}

/*
 * Without any name operation, the reaper notices the dead namespace
 * within about a second and drops its persistent region.
 */
TEST_F(region, persistent_region_reaped_without_name_op)
{
	long base = meminfo_kb("Shmem:"), during, after = -1;
	int pipefd[2], status, i;
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	if (pid == 0) {
		int dev, fd;
		char *p;

		if (unshare(CLONE_NEWIPC))
			_exit(1);
		dev = shmk_dev();
		fd = shmk_create_flags(dev, "ghost2", 8 * MiB, 0600,
				       SHMK_CREATE_PERSIST);
		if (fd < 0)
			_exit(2);
		p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED)
			_exit(3);
		memset(p, 1, 8 * MiB);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	during = meminfo_kb("Shmem:");
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	/* No shmk call at all here: only /proc/meminfo. */
	for (i = 0; i < 50; i++) {
		after = meminfo_kb("Shmem:");
		if (after <= base + 1024)
			break;
		usleep(100000);
	}
	TH_LOG("Shmem: %ld kB before, %ld kB with the region, %ld kB %d ms after exit",
	       base, during, after, i * 100);
	EXPECT_GE(during, base + 8 * 1024 - 1024);
	EXPECT_LE(after, base + 1024);
}

static int nobody_lists(void *arg)
{
	struct shmk_region_info info[4];
	struct shmk_list l = { .size = sizeof(l), .count = 4,
			       .entry_size = sizeof(info[0]),
			       .entries = (uintptr_t)info };
	int dev = shmk_dev(), i, seen = 0;

	if (shmk_ioctl(dev, SHMK_IOC_LIST, &l) || l.count != 2)
		return 1;
	for (i = 0; i < 2; i++) {
		struct shmk_region_info *e = &info[i];

		if (e->uid != 0 || e->bytes != 2 * MiB)
			return 2;
		if (!strcmp(e->name, "secret")) {
			/* Name, owner, mode and size, as ls shows: no use. */
			if (e->flags != SHMK_INFO_RESTRICTED || e->mode != 0600 ||
			    e->handles || e->resident_bytes || e->huge_bytes)
				return 3;
			seen |= 1;
		} else if (!strcmp(e->name, "public")) {
			if (e->flags || e->mode != 0644 || e->handles != 1 ||
			    e->resident_bytes != 2 * MiB)
				return 4;
			seen |= 2;
		}
	}
	return seen == 3 ? 0 : 5;
}

/* LIST shows no use of a region the caller may not open. */
TEST_F(region, list_hides_use_of_what_caller_cannot_open)
{
	int secret = shmk_create_flags(self->dev, "secret", 2 * MiB, 0600, 0);
	int public = shmk_create_flags(self->dev, "public", 2 * MiB, 0644, 0);
	char *p, *q;

	ASSERT_GE(secret, 0);
	ASSERT_GE(public, 0);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, secret, 0);
	q = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, public, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	p[0] = 1;
	q[0] = 1;
	EXPECT_EQ(0, as_nobody(nobody_lists, NULL));
	munmap(p, 2 * MiB);
	munmap(q, 2 * MiB);
	close(secret);
	close(public);
}

/* Ids count per IPC namespace: a new namespace starts at 1. */
TEST_F(region, ids_are_per_namespace)
{
	int fd = shmk_create(self->dev, "idhost", 1), status;
	pid_t pid;

	ASSERT_GE(fd, 0);
	pid = fork();
	if (pid == 0) {
		struct shmk_region_info a, b;
		int dev, x, y;

		if (unshare(CLONE_NEWIPC))
			_exit(1);
		dev = shmk_dev();
		x = shmk_create(dev, "id1", 1);
		y = shmk_create(dev, "id2", 1);
		if (x < 0 || y < 0 || shmk_info(x, &a) || shmk_info(y, &b))
			_exit(2);
		_exit(a.id == 1 && b.id == 2 ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(fd);
}

struct list_call {
	int dev;
	void *buf;
	int ret;
};

static void *list_into(void *arg)
{
	struct list_call *lc = arg;
	struct shmk_list l = { .size = sizeof(l), .count = 1,
			       .entry_size = sizeof(struct shmk_region_info),
			       .entries = (uintptr_t)lc->buf };

	lc->ret = shmk_ioctl(lc->dev, SHMK_IOC_LIST, &l);
	return NULL;
}

/*
 * LIST holds no reference while it copies out: with its copy stalled on
 * a userfaultfd page, the listed region is still freed by its last
 * close at once.
 */
TEST_F(region, list_holds_no_reference_while_copying)
{
	long page = sysconf(_SC_PAGESIZE), base, after = -1;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { 0 };
	struct list_call lc = { .dev = self->dev };
	struct pollfd pfd;
	pthread_t t;
	int uffd, fd, i;
	char *p;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "no userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	lc.buf = mmap(NULL, page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, lc.buf);
	reg.range.start = (uintptr_t)lc.buf;
	reg.range.len = page;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));

	base = meminfo_kb("Shmem:");
	fd = shmk_create(self->dev, "copied", 8 * MiB);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 1, 8 * MiB);
	munmap(p, 8 * MiB);

	ASSERT_EQ(0, pthread_create(&t, NULL, list_into, &lc));
	pfd.fd = uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 10000)) TH_LOG("LIST never reached its copy");
	/* LIST is stalled in copy_to_user: the last close frees the region. */
	close(fd);
	for (i = 0; i < 50; i++) {
		after = meminfo_kb("Shmem:");
		if (after <= base + 1024)
			break;
		usleep(20000);
	}
	TH_LOG("Shmem %ld kB before, %ld kB after the close, LIST stalled",
	       base, after);
	EXPECT_LE(after, base + 1024);
	zero.range.start = (uintptr_t)lc.buf;
	zero.range.len = page;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero));
	pthread_join(t, NULL);
	EXPECT_EQ(0, lc.ret);
	close(uffd);
	munmap(lc.buf, page);
}

/* /proc/self/fdinfo names the region of a region fd. */
TEST_F(region, fdinfo_names_the_region)
{
	int fd = shmk_create_flags(self->dev, "fdinfo", 3 * MiB, 0600,
				   SHMK_CREATE_PERSIST);
	struct shmk_region_info info;
	char path[64], buf[1024], want[64];
	ssize_t n;
	int f;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, shmk_info(fd, &info));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	ASSERT_GE(f, 0);
	n = read(f, buf, sizeof(buf) - 1);
	ASSERT_GT(n, 0);
	buf[n] = 0;
	close(f);
	snprintf(want, sizeof(want), "shmk-id:\t%llu\n",
		 (unsigned long long)info.id);
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "shmk-name:\tfdinfo\n"));
	EXPECT_NE(NULL, strstr(buf, "shmk-bytes:\t4194304\n"));
	EXPECT_NE(NULL, strstr(buf, "shmk-persist:\t1\n"));
	EXPECT_NE(NULL, strstr(buf, "shmk-unlinked:\t0\n"));
	EXPECT_EQ(0, shmk_unlink(self->dev, "fdinfo"));
	close(fd);
}

TEST_F(region, limits_are_enforced)
{
	char regions[32], total[32], maxsz[32];
	int a, b;

	ASSERT_EQ(0, shmk_param_get("max_regions", regions, sizeof(regions)));
	ASSERT_EQ(0, shmk_param_get("max_total_bytes", total, sizeof(total)));
	ASSERT_EQ(0, shmk_param_get("max_region_bytes", maxsz, sizeof(maxsz)));

	ASSERT_EQ(0, shmk_param_set("max_regions", "2"));
	a = shmk_create(self->dev, "lim-a", 1);
	b = shmk_create(self->dev, "lim-b", 1);
	EXPECT_GE(a, 0);
	EXPECT_GE(b, 0);
	EXPECT_EQ(-ENOSPC, shmk_create(self->dev, "lim-c", 1));
	EXPECT_EQ(2, shmk_count(self->dev));
	ASSERT_EQ(0, shmk_param_set("max_regions", regions));
	close(a);
	close(b);

	ASSERT_EQ(0, shmk_param_set("max_total_bytes", "8388608"));
	a = shmk_create(self->dev, "lim-d", 6 * MiB);
	EXPECT_GE(a, 0);
	EXPECT_EQ(-ENOSPC, shmk_create(self->dev, "lim-e", 4 * MiB));
	b = shmk_create(self->dev, "lim-f", 2 * MiB);
	EXPECT_GE(b, 0);
	ASSERT_EQ(0, shmk_param_set("max_total_bytes", total));
	close(a);
	close(b);

	ASSERT_EQ(0, shmk_param_set("max_region_bytes", "4194304"));
	EXPECT_EQ(-E2BIG, shmk_create(self->dev, "lim-g", 4 * MiB + 1));
	a = shmk_create(self->dev, "lim-h", 4 * MiB);
	EXPECT_GE(a, 0);
	ASSERT_EQ(0, shmk_param_set("max_region_bytes", maxsz));
	close(a);
	EXPECT_EQ(0, shmk_count(self->dev));
}

/*
 * Byte parameters are refused above the largest size a shmem file can
 * have, so that rounding a size up to 2 MiB can never wrap to 0.
 */
TEST_F(region, byte_params_are_bounded)
{
	char maxsz[32], total[32], now[32];
	int fd;

	ASSERT_EQ(0, shmk_param_get("max_region_bytes", maxsz, sizeof(maxsz)));
	ASSERT_EQ(0, shmk_param_get("max_total_bytes", total, sizeof(total)));
	EXPECT_EQ(-EINVAL, shmk_param_set("max_region_bytes",
					  "18446744073709551615"));
	/* Had the write gone through: a size that rounds up to 2^64. */
	fd = shmk_create(self->dev, "wrap", ~0ULL - 1);
	EXPECT_EQ(-E2BIG, fd);
	if (fd >= 0)
		close(fd);
	EXPECT_EQ(-EINVAL, shmk_param_set("max_total_bytes",
					  "18446744073709551615"));
	EXPECT_EQ(-EINVAL, shmk_param_set("max_region_bytes",
					  "9223372036854775807"));
	ASSERT_EQ(0, shmk_param_get("max_region_bytes", now, sizeof(now)));
	EXPECT_STREQ(maxsz, now);
	shmk_param_set("max_region_bytes", maxsz);
	shmk_param_set("max_total_bytes", total);
	EXPECT_EQ(0, shmk_count(self->dev));
}

static int delete_shmk(void)
{
	return syscall(SYS_delete_module, "shmk", O_NONBLOCK) ? -errno : 0;
}

TEST_F(region, rmmod_refused_while_in_use)
{
	int fd = shmk_create(self->dev, "busy", 1);
	void *p;

	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(self->dev);
	self->dev = -1;
	EXPECT_EQ(-EWOULDBLOCK, delete_shmk());
	close(fd);
	/* A mapping alone still holds the module. */
	EXPECT_EQ(-EWOULDBLOCK, delete_shmk());
	munmap(p, 2 * MiB);
	self->dev = shmk_dev();
	ASSERT_GE(self->dev, 0);
}

TEST_HARNESS_MAIN
