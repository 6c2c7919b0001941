// SPDX-License-Identifier: GPL-2.0
/*
 * shmk death-notice selftests: SHMK_IOC_ON_RELEASE writes a slot and
 * bumps a counter (waking its waiters) when a region file is released,
 * by close, exit or SIGKILL.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

#define REGION (2ULL << 20)
#define SLOT 64
#define COUNTER 128
#define NSEC 1000000000ULL

FIXTURE(release) {
	int dev;
	int fd;
	char name[32];
	_Atomic uint32_t *mem;
};

FIXTURE_SETUP(release)
{
	self->dev = shmk_dev();
	ASSERT_GE(self->dev, 0);
	snprintf(self->name, sizeof(self->name), "release-%d", getpid());
	self->fd = shmk_create(self->dev, self->name, REGION);
	ASSERT_GE(self->fd, 0);
	self->mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
}

FIXTURE_TEARDOWN(release)
{
	munmap((void *)self->mem, REGION);
	close(self->fd);
	close(self->dev);
}

static int on_release(int fd, uint64_t slot, uint32_t value, uint64_t counter,
		      uint32_t flags)
{
	struct shmk_on_release r = {
		.size = sizeof(r), .flags = flags, .slot_offset = slot,
		.slot_value = value, .counter_offset = counter,
	};

	return shmk_ioctl(fd, SHMK_IOC_ON_RELEASE, &r);
}

TEST_F(release, close_writes_the_slot_and_bumps_the_counter)
{
	int peer = shmk_open_flags(self->dev, self->name, 0);

	ASSERT_GE(peer, 0);
	self->mem[COUNTER / 4] = 41;
	ASSERT_EQ(0, on_release(peer, SLOT, 0xdead, COUNTER, 0));
	EXPECT_EQ(0, self->mem[SLOT / 4]);
	ASSERT_EQ(0, close(peer));
	EXPECT_EQ(0xdead, self->mem[SLOT / 4]);
	EXPECT_EQ(42, self->mem[COUNTER / 4]);
}

TEST_F(release, sigkill_wakes_the_survivor)
{
	int ready[2], status;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	if (pid == 0) {
		int dev = shmk_dev();
		int mine = shmk_open_flags(dev, self->name, 0);

		/* The inherited fd is the parent's file: drop it. */
		close(self->fd);
		if (mine < 0 || on_release(mine, SLOT, getpid(), COUNTER, 0))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	/* Sleep on the counter: the death must wake us. */
	while (self->mem[COUNTER / 4] == 0) {
		int r = shmk_wait(self->fd, COUNTER, 0, SHMK_WAIT_TIMEOUT,
				  30 * NSEC);

		ASSERT_TRUE(r == 0 || r == -EAGAIN) TH_LOG("wait: %d", r);
	}
	EXPECT_EQ(1, self->mem[COUNTER / 4]);
	EXPECT_EQ(pid, self->mem[SLOT / 4]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(release, a_forked_child_shares_the_file)
{
	int peer = shmk_open_flags(self->dev, self->name, 0);
	pid_t pid;

	ASSERT_GE(peer, 0);
	ASSERT_EQ(0, on_release(peer, SLOT, 7, COUNTER, 0));
	pid = fork();
	if (pid == 0)
		_exit(0);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	/* The parent still holds the file: nothing happened. */
	EXPECT_EQ(0, self->mem[COUNTER / 4]);
	close(peer);
	EXPECT_EQ(1, self->mem[COUNTER / 4]);
	EXPECT_EQ(7, self->mem[SLOT / 4]);
}

TEST_F(release, replace_and_clear)
{
	int peer = shmk_open_flags(self->dev, self->name, 0);

	ASSERT_GE(peer, 0);
	ASSERT_EQ(0, on_release(peer, SLOT, 1, COUNTER, 0));
	ASSERT_EQ(0, on_release(peer, SLOT + 4, 2, COUNTER + 4, 0));
	ASSERT_EQ(0, close(peer));
	EXPECT_EQ(0, self->mem[SLOT / 4]);
	EXPECT_EQ(2, self->mem[SLOT / 4 + 1]);
	EXPECT_EQ(0, self->mem[COUNTER / 4]);
	EXPECT_EQ(1, self->mem[COUNTER / 4 + 1]);

	peer = shmk_open_flags(self->dev, self->name, 0);
	ASSERT_GE(peer, 0);
	ASSERT_EQ(0, on_release(peer, SLOT, 3, COUNTER, 0));
	ASSERT_EQ(0, on_release(peer, 0, 0, 0, SHMK_ON_RELEASE_CLEAR));
	ASSERT_EQ(0, close(peer));
	EXPECT_EQ(0, self->mem[SLOT / 4]);
	EXPECT_EQ(0, self->mem[COUNTER / 4]);
}

TEST_F(release, bad_arguments)
{
	struct shmk_on_release r = { .size = sizeof(r), .slot_offset = SLOT,
				     .counter_offset = COUNTER };
	int ro;

	EXPECT_EQ(-EINVAL, on_release(self->fd, 2, 0, COUNTER, 0));
	EXPECT_EQ(-EINVAL, on_release(self->fd, SLOT, 0, REGION, 0));
	EXPECT_EQ(-EINVAL, on_release(self->fd, SLOT, 0, COUNTER, 1U << 9));
	r.reserved = 1;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_ON_RELEASE, &r));
	r.reserved = 0;
	r.size = 8;
	EXPECT_EQ(-EINVAL, shmk_ioctl(self->fd, SHMK_IOC_ON_RELEASE, &r));
	EXPECT_EQ(-EFAULT, shmk_ioctl(self->fd, SHMK_IOC_ON_RELEASE, (void *)8));
	/* A read-only file may not have the module write for it. */
	ro = shmk_open_flags(self->dev, self->name, SHMK_OPEN_RDONLY);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(-EACCES, on_release(ro, SLOT, 1, COUNTER, 0));
	close(ro);
	EXPECT_EQ(0, self->mem[SLOT / 4]);
	EXPECT_EQ(0, self->mem[COUNTER / 4]);
}

TEST_HARNESS_MAIN
