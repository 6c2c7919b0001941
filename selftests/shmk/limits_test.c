// SPDX-License-Identifier: GPL-2.0
/*
 * shmk limits selftests (audit finding M1): a budget of bytes and regions
 * per user (per kuid, all namespaces together), limits per IPC namespace
 * set by the namespace's owner (SHMK_IOC_GET_LIMITS/SET_LIMITS), never
 * above the module parameters.  Run as root inside the guest with
 * shmk.ko loaded; some tests switch to uid 65534 or make namespaces.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "shmk_util.h"

#define MiB (1024ULL * 1024)
#define NOBODY 65534

FIXTURE(limits) {
	int dev;
};

FIXTURE_SETUP(limits)
{
	self->dev = shmk_dev();
	ASSERT_GE(self->dev, 0);
}

FIXTURE_TEARDOWN(limits)
{
	close(self->dev);
}

static int get_limits(int dev, struct shmk_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->size = sizeof(*l);
	return shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, l);
}

static int set_limits(int dev, unsigned long long region_bytes,
		      unsigned long long user_bytes, unsigned int user_regions,
		      unsigned int regions)
{
	struct shmk_limits l = {
		.size = sizeof(l), .region_bytes = region_bytes,
		.user_bytes = user_bytes, .user_regions = user_regions,
		.regions = regions,
	};

	return shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l);
}

static unsigned long long param_ull(const char *name)
{
	char buf[32];

	if (shmk_param_get(name, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 0);
}

static void become_nobody(void)
{
	if (setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		_exit(200);
}

/* Exit status of a child, or -1. */
static int wait_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Can uid 65534 make a user namespace here?  (Debian allows it.) */
static int nobody_userns_ok(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		become_nobody();
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWIPC) ? 1 : 0);
	}
	return wait_status(pid) == 0;
}

TEST_F(limits, get_reports_limits_and_usage)
{
	struct shmk_limits a, b;
	int fd;

	ASSERT_EQ(0, get_limits(self->dev, &a));
	EXPECT_EQ(sizeof(a), a.size);
	EXPECT_EQ(0, a.flags);
	EXPECT_EQ(param_ull("max_region_bytes"), a.region_bytes);
	EXPECT_EQ(param_ull("max_user_bytes"), a.user_bytes);
	EXPECT_EQ(param_ull("max_user_regions"), a.user_regions);
	EXPECT_EQ(param_ull("max_regions"), a.regions);
	/* One user alone cannot reach the host-wide total by default. */
	EXPECT_LE(a.user_bytes, param_ull("max_total_bytes") / 2);
	EXPECT_LT(a.user_regions, a.regions);

	fd = shmk_create(self->dev, "usage", 3 * MiB);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, get_limits(self->dev, &b));
	EXPECT_EQ(a.used_bytes + 4 * MiB, b.used_bytes);
	EXPECT_EQ(a.used_regions + 1, b.used_regions);
	EXPECT_EQ(a.ns_regions + 1, b.ns_regions);
	close(fd);
	ASSERT_EQ(0, get_limits(self->dev, &b));
	EXPECT_EQ(a.used_bytes, b.used_bytes);
	EXPECT_EQ(a.used_regions, b.used_regions);
}

/*
 * The audit's scenario: one user fills what it may with untouched
 * PERSIST regions (no memory used) and logs out; another user can still
 * create.  Before per-user budgets, the first user took the whole
 * host-wide max_total_bytes and everyone else got ENOSPC.
 */
TEST_F(limits, one_user_cannot_starve_another)
{
	unsigned long long total = param_ull("max_total_bytes");
	unsigned long long chunk = (total / 8) & ~(2 * MiB - 1);
	long base = meminfo_kb("Shmem:");
	int status, victim, i;
	pid_t pid;

	ASSERT_GE(chunk, 2 * MiB);
	pid = fork();
	if (pid == 0) {
		int dev = shmk_dev(), n, err = 0;
		char name[32];

		become_nobody();
		for (n = 0; n < 64; n++) {
			snprintf(name, sizeof(name), "hog%d", n);
			err = shmk_create_flags(dev, name, chunk, 0600,
						SHMK_CREATE_PERSIST);
			if (err < 0)
				break;
			close(err);
		}
		/* 0: stopped by its own budget, 1: by the host total. */
		_exit(err == -EDQUOT ? 0 : err == -ENOSPC ? 1 : 2);
	}
	status = wait_status(pid);
	TH_LOG("Shmem %ld kB before, %ld kB with the hog's regions",
	       base, meminfo_kb("Shmem:"));
	EXPECT_LE(meminfo_kb("Shmem:"), base + 4096);
	EXPECT_EQ(0, status);
	victim = shmk_create(self->dev, "victim", chunk);
	EXPECT_GE(victim, 0);
	if (victim >= 0)
		close(victim);
	for (i = 0; i < 64; i++) {
		char name[32];

		snprintf(name, sizeof(name), "hog%d", i);
		shmk_unlink(self->dev, name);
	}
	EXPECT_EQ(0, shmk_count(self->dev));
}

/*
 * unshare(CLONE_NEWUSER | CLONE_NEWIPC) gives a fresh namespace, but not
 * a fresh budget: the user's count is per kuid across namespaces.
 */
TEST_F(limits, new_namespaces_do_not_multiply_the_budget)
{
	char regions[32], user_regions[32] = "";
	int pipefd[2], status;
	pid_t holder, second;
	char c;

	if (!nobody_userns_ok())
		SKIP(return, "uid 65534 cannot unshare a user namespace");
	ASSERT_EQ(0, shmk_param_get("max_regions", regions, sizeof(regions)));
	/* Per namespace, and (without it the test shows the bypass) per user. */
	ASSERT_EQ(0, shmk_param_set("max_regions", "4"));
	if (shmk_param_get("max_user_regions", user_regions,
			   sizeof(user_regions)) ||
	    shmk_param_set("max_user_regions", "4"))
		TH_LOG("no max_user_regions parameter");
	ASSERT_EQ(0, pipe(pipefd));

	holder = fork();
	if (holder == 0) {
		int dev = shmk_dev(), i;

		become_nobody();
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(1);
		for (i = 0; i < 4; i++) {
			char name[16];

			snprintf(name, sizeof(name), "mine%d", i);
			if (shmk_create(dev, name, 1) < 0)
				_exit(2);
		}
		if (write(pipefd[1], "k", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(pipefd[0], &c, 1));

	second = fork();
	if (second == 0) {
		int dev = shmk_dev(), fd;

		become_nobody();
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(1);
		fd = shmk_create(dev, "more", 1);
		_exit(fd == -EDQUOT ? 0 : fd >= 0 ? 2 : 3);
	}
	status = wait_status(second);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	shmk_param_set("max_regions", regions);
	if (*user_regions)
		shmk_param_set("max_user_regions", user_regions);
	/* 2: the fifth region was created in a fresh namespace. */
	EXPECT_EQ(0, status);
	/* Another user is not affected: root can create. */
	status = shmk_create(self->dev, "root-ok", 1);
	EXPECT_GE(status, 0);
	if (status >= 0)
		close(status);
}

/* Setting limits is for the namespace's owner: EPERM for others. */
TEST_F(limits, set_needs_cap_sys_resource)
{
	pid_t pid = fork();

	if (pid == 0) {
		int dev = shmk_dev();

		become_nobody();
		_exit(set_limits(dev, 2 * MiB, 2 * MiB, 1, 1) == -EPERM ? 0 : 1);
	}
	EXPECT_EQ(0, wait_status(pid));
}

/* Run @fn in a child in a new IPC namespace (as root); its exit status. */
static int in_new_ipc_ns(int (*fn)(int dev))
{
	pid_t pid = fork();

	if (pid == 0) {
		if (unshare(CLONE_NEWIPC))
			_exit(100);
		_exit(fn(shmk_dev()));
	}
	return wait_status(pid);
}

static int owner_sets_limits(int dev)
{
	struct shmk_limits l;
	int a, b;

	if (set_limits(dev, 4 * MiB, 8 * MiB, 3, 2))
		return 1;
	if (get_limits(dev, &l) || l.region_bytes != 4 * MiB ||
	    l.user_bytes != 8 * MiB || l.user_regions != 3 || l.regions != 2)
		return 2;
	if (shmk_create(dev, "big", 4 * MiB + 1) != -E2BIG)
		return 3;
	a = shmk_create(dev, "a", 2 * MiB);
	b = shmk_create(dev, "b", 2 * MiB);
	if (a < 0 || b < 0)
		return 4;
	/* The namespace is full ... */
	if (shmk_create(dev, "c", 2 * MiB) != -ENOSPC)
		return 5;
	/* ... then the user's region count ... */
	if (set_limits(dev, 4 * MiB, 8 * MiB, 2, 10) ||
	    shmk_create(dev, "c", 2 * MiB) != -EDQUOT)
		return 6;
	/* ... then the user's bytes: 4 MiB used, 4 more fit, not 6. */
	if (set_limits(dev, 4 * MiB, 8 * MiB, 10, 10) ||
	    shmk_create(dev, "c", 6 * MiB) != -E2BIG)
		return 7;
	if (set_limits(dev, 8 * MiB, 8 * MiB, 10, 10) ||
	    shmk_create(dev, "c", 6 * MiB) != -EDQUOT)
		return 8;
	if (get_limits(dev, &l) || l.used_regions < 2 || l.ns_regions != 2)
		return 9;
	/* Back to the module's limits. */
	l = (struct shmk_limits){ .size = sizeof(l),
				  .flags = SHMK_LIMITS_DEFAULT };
	if (shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l))
		return 10;
	if (get_limits(dev, &l) ||
	    l.region_bytes != param_ull("max_region_bytes") ||
	    l.regions != param_ull("max_regions"))
		return 11;
	if (shmk_create(dev, "c", 6 * MiB) < 0)
		return 12;
	return 0;
}

TEST_F(limits, namespace_owner_sets_limits)
{
	EXPECT_EQ(0, in_new_ipc_ns(owner_sets_limits));
	/* The initial namespace kept the module's limits. */
	struct shmk_limits l;

	ASSERT_EQ(0, get_limits(self->dev, &l));
	EXPECT_EQ(param_ull("max_regions"), l.regions);
}

/* An unprivileged user owns its own namespaces, within the module's caps. */
TEST_F(limits, unprivileged_owner_within_module_caps)
{
	pid_t pid;

	if (!nobody_userns_ok())
		SKIP(return, "uid 65534 cannot unshare a user namespace");
	pid = fork();
	if (pid == 0) {
		int dev = shmk_dev();

		become_nobody();
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(1);
		if (set_limits(dev, 2 * MiB, 2 * MiB, 1, 1))
			_exit(2);
		if (set_limits(dev, param_ull("max_region_bytes") + 2 * MiB,
			       2 * MiB, 1, 1) != -EINVAL)
			_exit(3);
		if (set_limits(dev, 2 * MiB, 2 * MiB,
			       param_ull("max_user_regions") + 1, 1) != -EINVAL)
			_exit(4);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
}

static int bad_set_input(int dev)
{
	struct {
		struct shmk_limits l;
		char tail[8];
	} big;
	struct shmk_limits l, before, after;
	static char page[8192];
	unsigned long long maxr = param_ull("max_region_bytes");
	unsigned long long maxu = param_ull("max_user_bytes");
	int step = 0;

#define BAD(expr, err) do { step++; if ((expr) != (err)) return step; } while (0)
#define FRESH() (l = (struct shmk_limits){ .size = sizeof(l), \
	.region_bytes = 2 * MiB, .user_bytes = 2 * MiB, .user_regions = 1, \
	.regions = 1 })
	if (get_limits(dev, &before))
		return 99;
	FRESH(); l.flags = 2;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.used_bytes = 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.used_regions = 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.ns_regions = 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.flags = SHMK_LIMITS_DEFAULT;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.region_bytes = maxr + 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.user_bytes = maxu + 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.user_regions = param_ull("max_user_regions") + 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.regions = param_ull("max_regions") + 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.size = 8;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); l.size = sizeof(l) - 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &l), -EINVAL);
	FRESH(); big.l = l; big.l.size = sizeof(big);
	memset(big.tail, 0, sizeof(big.tail)); big.tail[5] = 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, &big), -E2BIG);
	FRESH(); memcpy(page, &l, sizeof(l));
	((struct shmk_limits *)page)->size = sizeof(page);
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, page), -E2BIG);
	BAD(shmk_ioctl(dev, SHMK_IOC_SET_LIMITS, (void *)8), -EFAULT);
	BAD(shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, (void *)8), -EFAULT);
	l = (struct shmk_limits){ .size = sizeof(l), .flags = 1 };
	BAD(shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, &l), -EINVAL);
	l = (struct shmk_limits){ .size = 8 };
	BAD(shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, &l), -EINVAL);
	memset(page, 0, sizeof(page));
	((struct shmk_limits *)page)->size = sizeof(page);
	BAD(shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, page), -E2BIG);
	memset(&big, 0, sizeof(big));
	big.l.size = sizeof(big);
	big.tail[0] = 1;
	BAD(shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, &big), -E2BIG);
	/* Nothing changed. */
	if (get_limits(dev, &after) || memcmp(&before, &after, sizeof(after)))
		return 98;
	/* A larger struct with a zero tail works, and is filled to our size. */
	memset(&big, 0xff, sizeof(big));
	memset(&big.l, 0, sizeof(big.l));
	big.l.size = sizeof(big);
	memset(big.tail, 0, sizeof(big.tail));
	if (shmk_ioctl(dev, SHMK_IOC_GET_LIMITS, &big) ||
	    big.l.size != sizeof(big.l) || big.l.regions != before.regions)
		return 97;
	return 0;
#undef BAD
#undef FRESH
}

/* Each bad input has its errno and changes nothing. */
TEST_F(limits, bad_input)
{
	EXPECT_EQ(0, in_new_ipc_ns(bad_set_input));
}

/* A limit above the module's is refused; lowering the module's caps a namespace. */
static int module_caps_namespace(int dev)
{
	struct shmk_limits l;

	if (set_limits(dev, 8 * MiB, 8 * MiB, 8, 8))
		return 1;
	if (shmk_param_set("max_regions", "3"))
		return 2;
	if (get_limits(dev, &l) || l.regions != 3 || l.user_regions != 8)
		return 3;
	return 0;
}

TEST_F(limits, module_parameters_cap_namespaces)
{
	char regions[32];

	ASSERT_EQ(0, shmk_param_get("max_regions", regions, sizeof(regions)));
	EXPECT_EQ(0, in_new_ipc_ns(module_caps_namespace));
	shmk_param_set("max_regions", regions);
}

TEST_HARNESS_MAIN
