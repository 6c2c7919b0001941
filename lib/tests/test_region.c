// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Regions: create, open, unlink, map, names, sizes, permissions, fork.
 */
#include <errno.h>
#include <sys/types.h>
#include "testutil.h"

static void test_create_open_roundtrip(void **state)
{
	struct shmk_region *a = NULL, *b = NULL;
	char name[SHMK_NAME_MAX];
	unsigned char *pa, *pb;

	(void)state;
	uniq_name(name, sizeof(name), "rt");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &a), 0);
	assert_int_equal(shmk_region_size(a), SHMK_PAGE_SIZE);
	assert_true(shmk_region_writable(a));
	assert_true(shmk_region_fd(a) >= 0);
	assert_int_equal(shmk_region_backend(a), shmk_backend_select());
	pa = shmk_region_base(a);
	assert_int_equal(pa[0], 0);
	assert_int_equal(pa[SHMK_PAGE_SIZE - 1], 0);
	memcpy(pa + 4096, "hello", 6);

	assert_int_equal(shmk_region_open(name, 0, &b), 0);
	pb = shmk_region_base(b);
	assert_ptr_not_equal(pa, pb);
	assert_string_equal((char *)pb + 4096, "hello");
	pb[8192] = 42;
	assert_int_equal(pa[8192], 42);
	assert_int_equal(shmk_region_size(b), SHMK_PAGE_SIZE);

	assert_int_equal(shmk_region_unlink(name), 0);
	/* Mappings survive unlink. */
	assert_int_equal(pb[8192], 42);
	assert_int_equal(shmk_region_open(name, 0, &b), -ENOENT);
	shmk_region_close(b);
	shmk_region_close(a);
	shmk_region_close(NULL);
}

static void test_size_rounding(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "sz");
	assert_int_equal(shmk_region_create(name, 3 << 20, 0600, 0, &r), 0);
	assert_int_equal(shmk_region_size(r), 4 << 20);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
	assert_int_equal(shmk_region_create(name, SHMK_PAGE_SIZE, 0600, 0, &r), 0);
	assert_int_equal(shmk_region_size(r), SHMK_PAGE_SIZE);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
}

static void test_bad_sizes_flags(void **state)
{
	struct shmk_region *r = NULL;

	(void)state;
	assert_int_equal(shmk_region_create("t.badsize", 0, 0600, 0, &r), -EINVAL);
	assert_int_equal(shmk_region_create("t.badsize", UINT64_MAX, 0600, 0, &r),
			 -EINVAL);
	assert_int_equal(shmk_region_create("t.badsize", UINT64_MAX - SHMK_PAGE_SIZE,
					    0600, 0, &r), -EINVAL);
	assert_int_equal(shmk_region_create("t.badsize", 1, 0600, 1U << 7, &r),
			 -EINVAL);
	assert_int_equal(shmk_region_create("t.badsize", 1, 01777, 0, &r), -EINVAL);
	assert_int_equal(shmk_region_create("t.badsize", 1, 0600, 0, NULL), -EINVAL);
	assert_int_equal(shmk_region_open("t.badsize", 1U << 5, &r), -EINVAL);
	assert_int_equal(shmk_region_open("t.badsize", 0, NULL), -EINVAL);
	assert_null(r);
}

static void test_names(void **state)
{
	char name[SHMK_NAME_MAX + 8];
	struct shmk_region *r = NULL;

	(void)state;
	assert_int_equal(shmk_name_check(NULL), -EINVAL);
	assert_int_equal(shmk_name_check(""), -EINVAL);
	assert_int_equal(shmk_name_check("a/b"), -EINVAL);
	assert_int_equal(shmk_name_check("a b"), -EINVAL);
	assert_int_equal(shmk_name_check("a\x7f"), -EINVAL);
	assert_int_equal(shmk_name_check("a\n"), -EINVAL);
	assert_int_equal(shmk_name_check("\xc3\xa9"), -EINVAL);
	assert_int_equal(shmk_name_check("ok.name-1_~!"), 0);
	memset(name, 'x', SHMK_NAME_MAX - 1);
	name[SHMK_NAME_MAX - 1] = 0;
	assert_int_equal(shmk_name_check(name), 0);
	name[SHMK_NAME_MAX - 1] = 'x';
	name[SHMK_NAME_MAX] = 0;
	assert_int_equal(shmk_name_check(name), -ENAMETOOLONG);

	/* Every entry point applies the same rules. */
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), -ENAMETOOLONG);
	assert_int_equal(shmk_region_open(name, 0, &r), -ENAMETOOLONG);
	assert_int_equal(shmk_region_unlink(name), -ENAMETOOLONG);
	assert_int_equal(shmk_region_create("a/b", 1, 0600, 0, &r), -EINVAL);
	assert_int_equal(shmk_region_open("", 0, &r), -EINVAL);
	assert_int_equal(shmk_region_unlink(NULL), -EINVAL);
	assert_null(r);

	/* The longest name works end to end. */
	snprintf(name, SHMK_NAME_MAX, "t.%d.", (int)getpid());
	memset(name + strlen(name), 'L', SHMK_NAME_MAX - 1 - strlen(name));
	name[SHMK_NAME_MAX - 1] = 0;
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), 0);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
}

static void test_exists_noent(void **state)
{
	struct shmk_region *a, *b = NULL;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "ex");
	assert_int_equal(shmk_region_open(name, 0, &b), -ENOENT);
	assert_int_equal(shmk_region_unlink(name), -ENOENT);
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &a), 0);
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &b), -EEXIST);
	assert_int_equal(shmk_region_unlink(name), 0);
	/* The name can be taken again while the old region is mapped. */
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &b), 0);
	*(int *)shmk_region_base(a) = 1;
	assert_int_equal(*(int *)shmk_region_base(b), 0);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(a);
	shmk_region_close(b);
}

static void test_rdonly(void **state)
{
	struct shmk_region *a, *b;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "ro");
	assert_int_equal(shmk_region_create(name, 1, 0644, SHMK_REGION_RDONLY, &a), 0);
	assert_false(shmk_region_writable(a));
	assert_int_equal(shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &b), 0);
	assert_false(shmk_region_writable(b));
	assert_int_equal(*(volatile int *)shmk_region_base(b), 0);
	shmk_region_close(b);
	assert_int_equal(shmk_region_open(name, 0, &b), 0);
	assert_true(shmk_region_writable(b));
	*(int *)shmk_region_base(b) = 7;
	assert_int_equal(*(volatile int *)shmk_region_base(a), 7);
	shmk_region_close(b);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(a);
}

/* Run the access checks as an unprivileged user in a child. */
static void test_eacces(void **state)
{
	struct shmk_region *rw, *ro;
	char n_rw[SHMK_NAME_MAX], n_ro[SHMK_NAME_MAX];
	pid_t pid;

	(void)state;
	uniq_name(n_rw, sizeof(n_rw), "acc644");
	uniq_name(n_ro, sizeof(n_ro), "acc400");
	assert_int_equal(shmk_region_create(n_rw, 1, 0644, 0, &rw), 0);
	assert_int_equal(shmk_region_create(n_ro, 1, 0400, 0, &ro), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_region *r = NULL;

		if (geteuid() == 0) {
			/* Drop to nobody: group first, then user. */
			CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
			CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
			/* 0644 owned by root: read yes, write no. */
			CHILD_CHECK(shmk_region_open(n_rw, 0, &r) == -EACCES);
			CHILD_CHECK(shmk_region_open(n_rw, SHMK_REGION_OPEN_RDONLY,
						     &r) == 0);
			CHILD_CHECK(!shmk_region_writable(r));
			shmk_region_close(r);
			/* 0400 owned by root: nothing. */
			CHILD_CHECK(shmk_region_open(n_ro, SHMK_REGION_OPEN_RDONLY,
						     &r) == -EACCES);
			/* Not the owner: may not unlink. */
			CHILD_CHECK(shmk_region_unlink(n_rw) == -EPERM);
		}
		/* 0400, even for its owner (non-root): no write access. */
		if (geteuid() != 0)
			CHILD_CHECK(shmk_region_open(n_ro, 0, &r) == -EACCES);
		_exit(0);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(shmk_region_unlink(n_rw), 0);
	assert_int_equal(shmk_region_unlink(n_ro), 0);
	shmk_region_close(rw);
	shmk_region_close(ro);
}

static void test_backend_env(void **state)
{
	struct shmk_region *r = NULL;
	char *saved = strdup(getenv("SHMK_BACKEND") ? getenv("SHMK_BACKEND") : "");

	(void)state;
	setenv("SHMK_BACKEND", "bogus", 1);
	assert_int_equal(shmk_backend_select(), -EINVAL);
	assert_int_equal(shmk_region_create("t.env", 1, 0600, 0, &r), -EINVAL);
	setenv("SHMK_BACKEND", "memfd", 1);
	assert_int_equal(shmk_backend_select(), SHMK_BACKEND_MEMFD);
	setenv("SHMK_BACKEND", "device", 1);
	assert_int_equal(shmk_backend_select(), SHMK_BACKEND_DEVICE);
	if (access(SHMK_DEVICE_PATH, F_OK) != 0) {
		assert_int_equal(shmk_region_create("t.env", 1, 0600, 0, &r), -ENODEV);
		assert_int_equal(shmk_region_open("t.env", 0, &r), -ENODEV);
		assert_int_equal(shmk_region_unlink("t.env"), -ENODEV);
		unsetenv("SHMK_BACKEND");
		assert_int_equal(shmk_backend_select(), SHMK_BACKEND_MEMFD);
	}
	if (*saved)
		setenv("SHMK_BACKEND", saved, 1);
	else
		unsetenv("SHMK_BACKEND");
	free(saved);
	assert_null(r);
}

static void test_fork(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];
	volatile uint32_t *p;
	pid_t pid;

	(void)state;
	uniq_name(name, sizeof(name), "fork");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), 0);
	p = shmk_region_base(r);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_region *c;

		/* The inherited handle works in the child... */
		p[0] = 1;
		/* ...and so does a fresh open by name. */
		CHILD_CHECK(shmk_region_open(name, 0, &c) == 0);
		((volatile uint32_t *)shmk_region_base(c))[1] = 2;
		shmk_region_close(c);
		shmk_region_close(r);
		_exit(0);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[1], 2);
	assert_int_equal(shmk_region_unlink(name), 0);
	shmk_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_open_roundtrip),
		cmocka_unit_test(test_size_rounding),
		cmocka_unit_test(test_bad_sizes_flags),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_exists_noent),
		cmocka_unit_test(test_rdonly),
		cmocka_unit_test(test_eacces),
		cmocka_unit_test(test_backend_env),
		cmocka_unit_test(test_fork),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("region", tests, NULL, NULL);
}
