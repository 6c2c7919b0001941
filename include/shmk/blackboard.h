/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk blackboard: a shared key-value store with one writer and many
 * readers, in the manner of iceoryx2's blackboard pattern.
 *
 * A blackboard is a service of kind SHMK_SVC_BLACKBOARD.  The writer adds
 * keys (fixed-size byte strings, key_size bytes each, compared byte by
 * byte: a uint64_t key is key_size 8) and updates their values in place;
 * readers copy values out without taking any lock.  Each entry carries a
 * 64-bit sequence number, odd while the writer writes it: a reader that
 * sees it change, or odd, during its copy tries again, a bounded number
 * of times.  Keys are never removed.  Documentation/messaging.rst,
 * "Blackboard", is the guide.
 *
 * The configuration (struct shmk_svc_config) reuses these fields:
 *
 *   payload_max	value_size: the most bytes a value may have (each
 *			write gives its own length, 0 to value_size)
 *   buffer		key_size: bytes per key, 1 to SHMK_SVC_BB_KEY_MAX
 *   max_events		keys: how many keys the writer may add, 1 to
 *			SHMK_SVC_EVENTS_MAX
 *   max_publishers	writers: must be 1 (0 on create: 1)
 *   max_subscribers	max_readers: 1 to SHMK_SVC_SLOTS_MAX - 1
 *
 * and leaves history, overflow, max_loans and max_borrow unused (leave
 * them 0).  On open, as for every service, a non-zero field that differs
 * from the service's is -EPROTOTYPE, and shmk_last_error() names it under
 * both names, e.g. "key_size (buffer): the service has 8, not 16".
 * shmk_bb_config() fills a configuration.
 *
 * A port (writer or reader) is used by one thread at a time, as every
 * port; its lookups are private (a copy of the keys it has seen).
 */
#ifndef SHMK_BLACKBOARD_H
#define SHMK_BLACKBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <shmk/common.h>
#include <shmk/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults on create (0 in the field): 64 keys, 8-byte keys, 4096-byte values. */

/**
 * shmk_bb_config() - a blackboard's configuration
 * @c:		filled (every other field 0: defaults on create, "any" on open)
 * @keys:	keys the writer may add (max_events)
 * @key_size:	bytes per key (buffer)
 * @value_size:	most bytes per value (payload_max)
 * @max_readers: readers (max_subscribers)
 */
static inline void shmk_bb_config(struct shmk_svc_config *c, uint32_t keys,
				  uint32_t key_size, uint64_t value_size,
				  uint32_t max_readers)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->kind = SHMK_SVC_BLACKBOARD;
	c->max_events = keys;
	c->buffer = key_size;
	c->payload_max = value_size;
	c->max_subscribers = max_readers;
}

/**
 * shmk_bb_writer_open() - become the writer of a blackboard
 * @s:		service handle (kind SHMK_SVC_BLACKBOARD)
 * @out:	receives the port
 *
 * One writer at a time.  A writer that died is replaced as every dead
 * participant is (its slot is reclaimed, by this call if need be).  The
 * new writer repairs each entry its predecessor left in the middle of a
 * write (an odd sequence): the entry then has no value (shmk_bb_read()
 * returns -ENODATA) until the writer writes it again.
 *
 * Return: 0; -EINVAL (@s or @out NULL); -EPROTOTYPE (not a blackboard);
 * -EBUSY (a writer is live); -EBADMSG (the key count in the region is
 * corrupt); -ESTALE, -ENOMEM, or another errno as shmk_pub_open().
 */
SHMK_API int shmk_bb_writer_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_bb_reader_open() - become a reader of a blackboard
 * @s:		service handle
 * @out:	receives the port
 *
 * Return: as shmk_bb_writer_open() (-EBUSY: max_readers live).
 */
SHMK_API int shmk_bb_reader_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_bb_add() - add a key with its first value
 * @w:		writer port
 * @key:	key_size bytes
 * @value:	@len bytes (may be NULL when @len is 0)
 * @len:	0 to value_size
 *
 * Readers see the key (shmk_bb_keys(), lookups) only once it is complete.
 *
 * Return: 0; -EEXIST (the key exists); -ENOSPC (keys are all taken);
 * -EINVAL (@w or @key NULL, @value NULL with @len > 0, @w not the
 * writer, @len > value_size; shmk_last_error() says which).
 */
SHMK_API int shmk_bb_add(struct shmk_port *w, const void *key,
			 const void *value, size_t len);

/**
 * shmk_bb_write() - update the value of a key
 * @w:		writer port
 * @key:	key_size bytes
 * @value:	@len bytes (may be NULL when @len is 0)
 * @len:	0 to value_size
 *
 * The value is written in place under the entry's sequence lock, then
 * readers waiting in shmk_bb_wait() are woken.
 *
 * Return: 0; -ENOENT (no such key: shmk_bb_add() it); -EINVAL (as
 * shmk_bb_add()).
 */
SHMK_API int shmk_bb_write(struct shmk_port *w, const void *key,
			   const void *value, size_t len);

/**
 * shmk_bb_read() - copy a key's value out
 * @p:		reader (or writer) port
 * @key:	key_size bytes
 * @buf:	room for @size bytes (may be NULL when @size is 0)
 * @size:	bytes of @buf
 * @version:	receives the entry's sequence number (even) of the value
 *		read (may be NULL)
 *
 * Lock-free: the copy is retried while the writer writes the entry, at
 * most SHMK_BB_READ_TRIES times.  A value is returned only if no write
 * overlapped its copy.  After a success the port remembers @version for
 * shmk_bb_changed() and shmk_bb_wait().  On failure @buf may have been
 * written to.
 *
 * Return: the value's length (0 to value_size); -ENOENT (no such key);
 * -EAGAIN (the entry was being written at every try: a writer busy with
 * it, or one that died in the middle of it and that no new writer has
 * repaired yet); -ENODATA (a writer died while writing this entry; it has
 * no value until the next write); -EMSGSIZE (the value is longer than
 * @size); -EBADMSG (the entry's length is corrupt); -EINVAL (@p or @key
 * NULL, @buf NULL with @size > 0, @p not a blackboard port).
 */
SHMK_API int shmk_bb_read(struct shmk_port *p, const void *key, void *buf,
			  size_t size, uint64_t *version);

/* Tries of shmk_bb_read() before -EAGAIN (the later ones yield the CPU). */
#define SHMK_BB_READ_TRIES	256

/**
 * shmk_bb_changed() - has a key's entry changed since this port read it?
 * @p:		reader (or writer) port
 * @key:	key_size bytes
 *
 * Compares the entry's sequence with the version of this port's last
 * successful shmk_bb_read() of the key (a key never read counts as
 * changed).  A write in progress counts as a change.
 *
 * Return: 1 (changed), 0 (not); -ENOENT; -EINVAL (@p or @key NULL, @p
 * not a blackboard port).
 */
SHMK_API int shmk_bb_changed(struct shmk_port *p, const void *key);

/**
 * shmk_bb_wait() - wait until a key's entry changes
 * @r:		reader port
 * @key:	key_size bytes
 * @timeout_ns:	0: just check; SHMK_FOREVER; else relative
 *
 * Returns when shmk_bb_changed() would return 1; then shmk_bb_read() it.
 *
 * Return: 0; -EAGAIN (timeout 0, unchanged); -ETIMEDOUT; -EINTR; -ENOENT;
 * -EINVAL (@r or @key NULL, @r not a reader); another negative errno
 * from a broken wait.
 */
SHMK_API int shmk_bb_wait(struct shmk_port *r, const void *key,
			  int64_t timeout_ns);

/**
 * shmk_bb_keys() - list the keys
 * @p:		reader or writer port
 * @keys:	room for @max keys of key_size bytes (may be NULL when @max
 *		is 0)
 * @max:	keys that fit in @keys
 *
 * In the order they were added.
 *
 * Return: how many keys there are (may exceed @max; only @max are
 * written); -EINVAL (@p NULL, @keys NULL with @max > 0, @p not a
 * blackboard port).
 */
SHMK_API int shmk_bb_keys(struct shmk_port *p, void *keys, size_t max);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_BLACKBOARD_H */
