// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk wait and wake: argument checks above the backends, and the
 * monotonic-clock helpers the blocking queue operations use.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "internal.h"

static int word_offset(const struct shmk_region *r, const void *word,
		       uint64_t *off)
{
	uintptr_t a = (uintptr_t)word, b;

	if (!r || !word)
		return -EINVAL;
	b = (uintptr_t)r->base;
	if (a < b || a - b > r->size - 4 || (a & 3))
		return -EINVAL;
	*off = a - b;
	return 0;
}

SHMK_API int shmk_wait(const struct shmk_region *r, const void *word,
		       uint32_t expected, int64_t timeout_ns)
{
	uint64_t off;
	int ret = word_offset(r, word, &off);

	if (ret)
		return ret;
	return r->ops->wait(r, off, expected, timeout_ns);
}

SHMK_API int shmk_wake(const struct shmk_region *r, const void *word,
		       uint32_t count)
{
	uint64_t off;
	int ret = word_offset(r, word, &off);

	if (ret)
		return ret;
	return r->ops->wake(r, off, count);
}

int64_t shmk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A deadline for @timeout_ns from now; -1 (none) when it is negative.  A
 * timeout so long that now + @timeout_ns would overflow saturates at
 * INT64_MAX (292 years of CLOCK_MONOTONIC), instead of the signed
 * overflow, which is undefined behaviour (lib-audit #18).
 */
int64_t shmk_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return -1;
	now = shmk_now_ns();
	if (timeout_ns > INT64_MAX - now)
		return INT64_MAX;
	return now + timeout_ns;
}

/* Nanoseconds left until @deadline (0 when past); -1 when none. */
int64_t shmk_remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - shmk_now_ns();
	return left > 0 ? left : 0;
}
