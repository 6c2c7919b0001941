/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: wait and wake on 32-bit words inside a region.
 *
 * The same futex-like contract on both backends: shmk_wait() sleeps only
 * while the word still holds the expected value, checked atomically with
 * respect to shmk_wake(), so no wakeup is lost between the caller's check
 * and its sleep.  Words are keyed by their place in the region, so waiters
 * and wakers in different processes, at different addresses, meet.
 */
#ifndef SHMK_NOTIFY_H
#define SHMK_NOTIFY_H

#include <stdint.h>
#include <shmk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmk_region;

/* shmk_wait() timeout meaning "forever" */
#define SHMK_FOREVER	(-1LL)

/* shmk_wake() count meaning "all" */
#define SHMK_WAKE_ALL	0x7fffffffU

/**
 * shmk_wait() - sleep while a word in a region holds a value
 * @r:		region holding @word
 * @word:	4-byte aligned word inside @r's mapping
 * @expected:	sleep only while *@word == @expected
 * @timeout_ns:	relative timeout in nanoseconds; negative: no timeout
 *
 * May return 0 spuriously (as futex(2)); callers re-check their
 * condition in a loop.
 *
 * Return: 0 when woken; -EAGAIN when *@word != @expected at the time of
 * the call; -ETIMEDOUT; -EINTR on a signal; -EINVAL when @word is not an
 * aligned word inside the region; another negative errno from the
 * backend.
 */
SHMK_API int shmk_wait(const struct shmk_region *r, const void *word,
		       uint32_t expected, int64_t timeout_ns);

/**
 * shmk_wake() - wake waiters sleeping on a word
 * @r:		region holding @word
 * @word:	4-byte aligned word inside @r's mapping
 * @count:	wake at most this many (SHMK_WAKE_ALL for all)
 *
 * Return: the number of waiters woken (>= 0); -EINVAL when @word is not
 * an aligned word inside the region; another negative errno.
 */
SHMK_API int shmk_wake(const struct shmk_region *r, const void *word,
		       uint32_t count);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_NOTIFY_H */
