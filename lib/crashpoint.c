// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk crash points, the runtime of the crash-point build
 * (-DSHMK_CRASHPOINTS, lib/Makefile's libshmk_cp.a): counts every
 * execution of a SHMK_CP() site and kills the process at the armed one.
 * See lib/crashpoint.h.  Without the define this file is empty: a normal
 * build has no state and no code for crash points.
 */
#ifdef SHMK_CRASHPOINTS
#include <signal.h>

#include "crashpoint.h"

/*
 * Process-private counters (a forked child has its own copies).  The
 * atomics are relaxed: only this process's threads touch them, and only
 * a count is wanted, no ordering with other memory.
 */
static unsigned long cp_count;	/* points since the last arm */
static unsigned long cp_armed;	/* die at this point; 0: never */

/* Both bound the section's contents; weak: no site linked, no section. */
extern struct shmk_cp_site __start_shmk_cp_sites[] __attribute__((weak));
extern struct shmk_cp_site __stop_shmk_cp_sites[] __attribute__((weak));

void shmk__cp(struct shmk_cp_site *site)
{
	unsigned long n, k;

	__atomic_fetch_add(&site->hits, 1, __ATOMIC_RELAXED);
	n = __atomic_add_fetch(&cp_count, 1, __ATOMIC_RELAXED);
	k = __atomic_load_n(&cp_armed, __ATOMIC_RELAXED);
	if (k && n == k)
		raise(SIGKILL);	/* does not return */
}

void shmk_cp_arm(unsigned long k)
{
	__atomic_store_n(&cp_armed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cp_count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cp_armed, k, __ATOMIC_RELAXED);
}

unsigned long shmk_cp_count(void)
{
	return __atomic_load_n(&cp_count, __ATOMIC_RELAXED);
}

struct shmk_cp_site *shmk_cp_site_table(unsigned long *n)
{
	struct shmk_cp_site *a = __start_shmk_cp_sites;

	*n = a ? (unsigned long)(__stop_shmk_cp_sites - a) : 0;
	return a;
}
#endif /* SHMK_CRASHPOINTS */
