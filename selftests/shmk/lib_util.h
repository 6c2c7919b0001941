/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the selftests that drive libshmk on the device backend.
 * Define LIB_UTIL_PREFIX (a string) before including: uniq()'s names
 * start with it, so each test's regions and services are its own.
 */
#ifndef SHMK_SELFTEST_LIB_UTIL_H
#define SHMK_SELFTEST_LIB_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.h>

#ifndef LIB_UTIL_PREFIX
#error "define LIB_UTIL_PREFIX before including lib_util.h"
#endif

/* A name unique to this process and call: PREFIX.PID.N.TAG */
static inline void uniq(char *buf, size_t len, const char *tag)
{
	static unsigned int n;

	snprintf(buf, len, LIB_UTIL_PREFIX ".%d.%u.%s", (int)getpid(), n++,
		 tag);
}

/* The exit status of @pid, 128 + the signal that killed it, or -1. */
static inline int reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In a forked child: say what failed and where, and exit 1. */
#define CHILD_CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "child: %s failed at %d\n", #c,	\
				__LINE__);				\
			_exit(1);					\
		}							\
	} while (0)

/* A zeroed configuration of @kind, its size set. */
static inline struct shmk_svc_config cfg_of(uint32_t kind)
{
	struct shmk_svc_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.kind = kind;
	return c;
}

/* Skip without /dev/shmk; otherwise make the library use it. */
#define NEED_DEVICE()							\
	do {								\
		if (access(SHMK_DEVICE_PATH, R_OK | W_OK))		\
			SKIP(return, SHMK_DEVICE_PATH " not available");	\
		setenv("SHMK_BACKEND", "device", 1);			\
	} while (0)

#endif /* SHMK_SELFTEST_LIB_UTIL_H */
