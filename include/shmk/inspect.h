/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: introspection of a service's participants, for tools
 * (shmkctl service info) and monitoring.  Read-only: nothing here writes
 * the service's shared memory, and every value read from it is checked,
 * since any participant may have written anything there.
 */
#ifndef SHMK_INSPECT_H
#define SHMK_INSPECT_H

#include <stddef.h>
#include <stdint.h>
#include <shmk/common.h>
#include <shmk/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sizeof(struct shmk_participant_info) in LIBSHMK_0.4, the smallest accepted */
#define SHMK_PARTICIPANT_INFO_SIZE_V0	56

/* struct shmk_participant_info.role */
enum shmk_participant_role {
	SHMK_ROLE_PUBLISHER = 1,
	SHMK_ROLE_SUBSCRIBER = 2,
	SHMK_ROLE_CLIENT = 3,
	SHMK_ROLE_SERVER = 4,
	SHMK_ROLE_NOTIFIER = 5,
	SHMK_ROLE_LISTENER = 6,
	SHMK_ROLE_WRITER = 7,	/* blackboard */
	SHMK_ROLE_READER = 8,	/* blackboard */
};

/* struct shmk_participant_info.state: what the slot's state word says */
enum shmk_participant_state {
	SHMK_PART_CLAIMING = 1,	/* a port is being opened in it */
	SHMK_PART_ALIVE = 2,	/* an open port */
	SHMK_PART_DEAD = 3,	/* the module wrote its holder's death notice */
	SHMK_PART_LEAVING = 4,	/* being closed or reclaimed */
	SHMK_PART_INVALID = 5,	/* a value no library writes (corrupt) */
};

/* struct shmk_participant_info.flags */
#define SHMK_PART_GONE		(1U << 0)	/* holder gone, not reclaimed */
#define SHMK_PART_PID		(1U << 1)	/* @pid is known */
#define SHMK_PART_PRODUCER	(1U << 2)	/* @published is meaningful */
#define SHMK_PART_CONSUMER	(1U << 3)	/* @lag, @drops are meaningful */

/**
 * struct shmk_participant_info - one occupied participant slot
 * @size:	in out[0]: sizeof(struct shmk_participant_info) of the
 *		caller's header, at least SHMK_PARTICIPANT_INFO_SIZE_V0, the
 *		stride of the caller's array; set in every entry written to
 *		the bytes the library filled
 * @slot:	the participant slot (shmk_port_slot())
 * @role:	SHMK_ROLE_*, from the slot's place and the service's kind
 * @state:	SHMK_PART_*
 * @flags:	SHMK_PART_GONE: the kernel says the holder is gone (as
 *		shmk_service_dead() judges), and nobody reclaimed the slot
 *		yet; SHMK_PART_PID, _PRODUCER, _CONSUMER: see the fields
 * @generation:	the slot's generation (a new port in the slot, a new value)
 * @pid:	the process id the port recorded when it claimed the slot, in
 *		its pid namespace; shown, never trusted (0 when unknown)
 * @published:	producers (publisher, client, server): samples (requests,
 *		responses) published since the port opened
 * @lag:	consumers (subscriber, server, client): samples (requests,
 *		responses) published and not yet received, at most the ring
 *		size per producer; listeners: event ids pending;
 *		publishers: the largest lag of any live subscriber
 * @drops:	consumers: samples it can no longer receive and has not yet
 *		counted (overwritten while it lagged more than the ring, or
 *		left by a producer that went away); the port's running count
 *		is private to its process (shmk_sub_dropped())
 */
struct shmk_participant_info {
	uint32_t size;
	uint32_t slot;
	uint32_t role;
	uint32_t state;
	uint32_t flags;
	uint32_t generation;
	uint32_t pid;
	uint32_t reserved;
	uint64_t published;
	uint64_t lag;
	uint64_t drops;
};

/**
 * shmk_service_inspect() - the participants of a service, slot by slot
 * @s:		service handle (shmk_service_open(), any configuration)
 * @out:	room for @max entries, out[0].size set; NULL when @max is 0
 * @max:	entries @out has room for
 *
 * Fills one entry per occupied slot (not FREE), in slot order, at most
 * @max of them.  A snapshot: nothing is locked, every shared value is
 * read once and checked, and nothing in the service is written (a dead
 * participant is reported, not reclaimed).  Values a hostile peer wrote
 * give odd numbers, never a crash or a long loop.
 *
 * Return: the number of occupied slots (may be more than @max); -EINVAL
 * (@s NULL, @out NULL with @max > 0, out[0].size smaller than
 * SHMK_PARTICIPANT_INFO_SIZE_V0 or larger than 4096; shmk_last_error()
 * says which).
 */
SHMK_API int shmk_service_inspect(const struct shmk_service *s,
				  struct shmk_participant_info *out,
				  size_t max);

/**
 * shmk_role_name() - "publisher", "subscriber", "client", "server",
 * "notifier", "listener", "writer", "reader" for SHMK_ROLE_*; "?" for
 * anything else
 */
SHMK_API const char *shmk_role_name(uint32_t role);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_INSPECT_H */
