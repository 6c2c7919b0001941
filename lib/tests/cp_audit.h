/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * White-box checks for the crash-point harness (test_crashpoints.c): the
 * only place where the harness reads or writes the service layout of
 * lib/svc.h.  Everything else in the harness uses the public API.
 */
#ifndef SHMK_CP_AUDIT_H
#define SHMK_CP_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <shmk/service.h>

/*
 * Chunks whose holders word names a slot that is not a live (ALIVE)
 * participant: after recovery, a leak.  Returns how many; describes the
 * first in @msg.
 */
int cp_audit_holders(const struct shmk_service *s, char *msg, size_t len);

/*
 * Chunks a port says it holds that the shared state does not give it:
 * a loan whose holders word is not exactly the port's bit (owned twice,
 * or freed under it), a received sample without the port's bit.
 */
int cp_audit_port(const struct shmk_port *p, char *msg, size_t len);

/*
 * Bits of the watch mask (port fds) whose slot is not a live
 * participant: after recovery, a leak (wakers would keep looking).
 */
int cp_audit_watch(const struct shmk_service *s, char *msg, size_t len);

/* Give every free chunk to slot @slot (a dead participant): 0 left free. */
int cp_hog_chunks(const struct shmk_service *s, int slot);

/*
 * Hold the memfd OFD lock of free slot @slot from a new open file of the
 * service, as a participant that is still alive would: a claimer must
 * skip the slot.  Returns the region holding the lock (close it to
 * release), or NULL (always on the device backend, which has no locks).
 */
struct shmk_region *cp_lock_slot(const struct shmk_service *s, int slot);

/*
 * Device backend only: slots still ALIVE that are not in @live (a
 * bitmap of mwords words: the slots of the participants known to be
 * alive).  The module writes DEAD
 * into a participant's slot when its region file is released, before
 * the parent of a killed process learns of the exit, so after a death
 * and before any recovery each such slot is a death notice that never
 * came.  Returns how many; describes the first in @msg.  (On memfd a
 * dead participant's slot stays ALIVE until a recoverer finds its OFD
 * lock gone: do not call it there.)
 */
int cp_audit_announced(const struct shmk_service *s, const uint64_t *live,
		       char *msg, size_t len);

#endif /* SHMK_CP_AUDIT_H */
