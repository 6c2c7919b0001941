// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TEMPORARY stand-in for the conditional death notice, until the kernel
 * side (SHMK_IOC_ON_RELEASE with an expected value and a mask) is merged:
 * it reports "not supported", so the library takes its documented
 * fallback (the unconditional notice, armed after the claim; see
 * Documentation/messaging.rst, "Dead peers").  The integrator deletes
 * this file, and its line in lib/Makefile, at the merge.
 */
#include <errno.h>

#include "svc.h"

int shmk__on_release_cmpxchg(const struct shmk_region *r, const void *slot,
			     uint32_t expected, uint32_t mask, uint32_t value,
			     const void *counter)
{
	(void)r;
	(void)slot;
	(void)expected;
	(void)mask;
	(void)value;
	(void)counter;
	return -EOPNOTSUPP;
}
