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

/**
 * shmk_spin_ns() - the process's spin budget before a blocking call sleeps
 * @ns:		the new ceiling in nanoseconds, 0 (never spin) to 1000000000;
 *		negative: change nothing, only read it
 *
 * Every blocking call of libshmk (the *_wait() queue operations, blocking
 * receives, drains, back-pressure, listeners) that finds nothing first
 * spins for a while, trying again, and only then sleeps.  The time it
 * spins is learnt per waiting handle from its recent waits, below this
 * ceiling: waits that the spin satisfied keep it, waits that had to sleep
 * cut it down, so a receiver that waits long sleeps almost at once
 * (Documentation/library.rst, "Waiting").  The ceiling starts as the
 * environment variable SHMK_SPIN_NS read at load (default 20000).  When
 * the process could use only one CPU at load (sched_getaffinity(2)), no
 * call ever spins, whatever the ceiling: a spinner would only keep the
 * CPU from the thread it waits for.  The setting is the process's,
 * inherited by fork(); it takes effect at the next wait.
 *
 * Return: the ceiling in effect before the call (0 on one CPU);
 * -EINVAL when @ns is above 1000000000 (nothing changes).
 */
SHMK_API int64_t shmk_spin_ns(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_NOTIFY_H */
