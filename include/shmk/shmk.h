/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: the umbrella header.
 *
 * Named hugepage-backed shared memory regions (region.h), wait and wake on
 * words inside them (notify.h), and lock-free structures that live in
 * region memory: an SPSC ring (spsc.h), an MPMC queue (mpmc.h) and a chunk
 * pool (pool.h).  Every function returns a negative errno on failure.
 * Documentation/library.rst is the guide.  Needs C11 (<stdatomic.h>) or
 * C++11 (<atomic>).
 */
#ifndef SHMK_SHMK_H
#define SHMK_SHMK_H

#include <shmk/common.h>
#include <shmk/region.h>
#include <shmk/notify.h>
#include <shmk/spsc.h>
#include <shmk/mpmc.h>
#include <shmk/pool.h>
#include <shmk/service.h>
#include <shmk/blackboard.h>
#include <shmk/inspect.h>

#define SHMK_VERSION_MAJOR	0
#define SHMK_VERSION_MINOR	1

#endif /* SHMK_SHMK_H */
