/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the libshmk cmocka tests.
 */
#ifndef SHMK_TESTUTIL_H
#define SHMK_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <shmk/shmk.h>

/* SHMK_TEST_SCALE=N divides stress iteration counts (tsan, valgrind). */
static inline unsigned long scaled(unsigned long n)
{
	const char *s = getenv("SHMK_TEST_SCALE");
	unsigned long div = s ? strtoul(s, NULL, 10) : 1;

	if (div < 1)
		div = 1;
	n /= div;
	return n ? n : 1;
}

/* A region name unique to this process and call. */
static inline const char *uniq_name(char *buf, size_t len, const char *tag)
{
	static unsigned int counter;

	snprintf(buf, len, "t.%d.%u.%s", (int)getpid(), counter++, tag);
	return buf;
}

/* Create a fresh region (name unlinked right away unless @keep). */
static inline struct shmk_region *new_region(uint64_t bytes, char *name,
					     size_t len, int keep)
{
	struct shmk_region *r = NULL;
	char local[SHMK_NAME_MAX];

	if (!name) {
		name = local;
		len = sizeof(local);
	}
	uniq_name(name, len, "r");
	assert_int_equal(shmk_region_create(name, bytes, 0600, 0, &r), 0);
	assert_non_null(r);
	if (!keep)
		assert_int_equal(shmk_region_unlink(name), 0);
	return r;
}

/*
 * A cmocka group fixture for a test file whose tests share one region:
 * defines R (a fresh unlinked region of @bytes) and setup()/teardown()
 * for cmocka_run_group_tests_name().
 */
#define REGION_GROUP_FIXTURE(bytes)					\
	static struct shmk_region *R;					\
									\
	static int setup(void **state)					\
	{								\
		(void)state;						\
		R = new_region((bytes), NULL, 0, 0);			\
		return 0;						\
	}								\
									\
	static int teardown(void **state)				\
	{								\
		(void)state;						\
		shmk_region_close(R);					\
		return 0;						\
	}

/* Wait for a child; return 0 when it exited with status 0. */
static inline int reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In a forked child: check or exit with the line number. */
#define CHILD_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "child check failed: %s (%s:%d)\n", \
				#cond, __FILE__, __LINE__);		\
			_exit(1);					\
		}							\
	} while (0)

static inline void use_memfd_backend(void)
{
	if (!getenv("SHMK_BACKEND"))
		setenv("SHMK_BACKEND", "memfd", 1);
}

#endif /* SHMK_TESTUTIL_H */
