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

#ifdef SHMK_CRASHPOINTS
/*
 * The test API of the crash-point build (lib/crashpoint.c), for the
 * harness only; not exported from the shared library.  Counts are per
 * process: a forked child starts with its parent's and goes on alone.
 *
 * shmk_cp_arm(k): count points from zero again; with k > 0 the process
 *	raises SIGKILL just before the k-th point from now (the store
 *	after it never happens); k == 0 disarms.
 * shmk_cp_count(): points executed since the last shmk_cp_arm().
 * shmk_cp_site_table(&n): every site linked into the program (the linker's
 *	__start_/__stop_shmk_cp_sites), n of them; their hits may be reset
 *	or added to by the caller.
 */
void shmk_cp_arm(unsigned long k);
unsigned long shmk_cp_count(void);
/* (Not named after the section: as(1) would take the name for it.) */
struct shmk_cp_site *shmk_cp_site_table(unsigned long *n);
#endif

#endif /* SHMK_LIB_CRASHPOINT_H */
