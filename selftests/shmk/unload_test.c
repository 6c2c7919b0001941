// SPDX-License-Identifier: GPL-2.0
/*
 * shmk unload selftest: once every region fd and mapping of the earlier
 * tests is gone, rmmod succeeds and takes /dev/shmk with it.
 *
 * The rig runs the tests in name order, so this one runs last; the
 * module stays unloaded afterwards.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/syscall.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

TEST(rmmod_succeeds_when_unused)
{
	struct stat st;
	int i, dev, fd, ret = -1;

	/* A last region, created and closed: nothing may stay behind. */
	dev = shmk_dev();
	ASSERT_GE(dev, 0);
	fd = shmk_create(dev, "last", 1);
	ASSERT_GE(fd, 0);
	close(fd);
	close(dev);
	/* The final fput of a killed test's files may still be running. */
	for (i = 0; i < 100 && ret; i++) {
		ret = syscall(SYS_delete_module, "shmk", O_NONBLOCK) ? -errno : 0;
		if (ret)
			usleep(50000);
	}
	ASSERT_EQ(0, ret);
	EXPECT_NE(0, stat(SHMK_DEVICE_PATH, &st));
	EXPECT_NE(0, stat("/sys/module/shmk", &st));
}

TEST_HARNESS_MAIN
