/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash points: every store to shared memory in the messaging layer, the
 * queues and the pool is preceded by SHMK_CP().  In a normal build the
 * macro is empty.  In the crash-point build (-DSHMK_CRASHPOINTS, see
 * lib/Makefile's libshmk_cp.a) each use is one site, recorded in the
 * "shmk_cp_sites" section, and each execution of a site is one dynamic
 * crash point: the harness (lib/tests/test_crashpoints.c) arms point k
 * and the process kills itself with SIGKILL just before the k-th store,
 * so every interleaving "participant dies here" is enumerated, not
 * sampled (the way SQLite tests a crash at every write).
 *
 * Rule for authors: put SHMK_CP(); immediately before every atomic store
 * or read-modify-write, and every plain store or memset/memcpy, to shared
 * memory.  A run of plain stores to memory that no other participant
 * reads until a later release store (a chunk's header before its ring
 * entry is published) may share one point: a crash inside the run
 * leaves the same state for the others as a crash before it.
 */
#ifndef SHMK_LIB_CRASHPOINT_H
#define SHMK_LIB_CRASHPOINT_H

#include <shmk/common.h>

/*
 * One definition for the library and the inline hot paths of the public
 * headers: struct shmk_cp_site, shmk__cp() and SHMK__CP() are in
 * <shmk/common.h>, empty unless SHMK_CRASHPOINTS is defined.
 */
#define SHMK_CP()	SHMK__CP()

#endif /* SHMK_LIB_CRASHPOINT_H */
