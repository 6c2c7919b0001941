/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: zero-copy messaging in the manner of Eclipse iceoryx2 -
 * services by name, publish-subscribe, request-response and events,
 * with recovery from participants that die at any point.
 *
 * A service is one region ("svc.<name>") holding a table of participant
 * slots, a chunk pool, one broadcast ring of chunk indices per producer
 * and channel, the consumers' read cursors, and (events) one bitset per
 * listener.  Who holds a chunk is recorded in one 64-bit word per chunk,
 * a bit per participant slot: a chunk is free exactly when its word is 0,
 * so a chunk can never be freed twice, and a dead participant's chunks
 * are reclaimed by clearing its bit everywhere.  Documentation/messaging.rst
 * describes the layout, the protocols and their memory ordering.
 *
 * Handles: a service handle (struct shmk_service) must outlive the ports
 * opened on it.  A port (publisher, subscriber, client, server, notifier,
 * listener) is one participant; it opens its own region file, and is used
 * by one thread at a time.  After fork() only one of the two processes may
 * go on using a port.  The only global state is the memfd backend's
 * table of the sealed regions this process holds and the thread that
 * hands them to other processes (Documentation/library.rst, "memfd").
 */
#ifndef SHMK_SERVICE_H
#define SHMK_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <shmk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* struct shmk_svc_shared.hdr.magic: "SHKV" little endian */
#define SHMK_MAGIC_SVC		0x564b4853U

/* Region names of services are this prefix and the service name. */
#define SHMK_SVC_PREFIX		"svc."
#define SHMK_SVC_NAME_MAX	(64 - 4)	/* SHMK_NAME_MAX - strlen(prefix) */

/* Limits */
#define SHMK_SVC_PAYLOAD_MAX	(1ULL << 30)	/* bytes per sample */
#define SHMK_SVC_SLOTS_MAX	1024		/* participants per service */
#define SHMK_SVC_SERVERS_MAX	64		/* servers per request-response service */
#define SHMK_SVC_RING_MAX	4096		/* buffer, history */
#define SHMK_SVC_EVENTS_MAX	4096		/* event ids, blackboard keys */
#define SHMK_SVC_BB_KEY_MAX	64		/* bytes per blackboard key */
#define SHMK_SVC_PENDING_MAX	16	/* a client's pending responses */

/* sizeof(struct shmk_svc_config) in LIBSHMK_0.2, the smallest accepted */
#define SHMK_SVC_CONFIG_SIZE_V0	56
/* ...in LIBSHMK_0.4: type_name, type_size, type_align, user_header_size */
#define SHMK_SVC_CONFIG_SIZE_V1	136
#define SHMK_SVC_TYPE_NAME_MAX	64	/* bytes of type_name, NUL included */
#define SHMK_SVC_USER_HEADER_MAX 4096	/* bytes of a sample's user header */

/* Service kinds (struct shmk_svc_config.kind) */
enum shmk_svc_kind {
	SHMK_SVC_PUBSUB = 1,
	SHMK_SVC_REQRES = 2,
	SHMK_SVC_EVENT = 3,
	SHMK_SVC_BLACKBOARD = 4,	/* <shmk/blackboard.h> */
};

/* Overflow policies (struct shmk_svc_config.overflow) */
enum shmk_svc_overflow {
	SHMK_OVERFLOW_SAFE = 1,	/* the oldest sample is dropped, reclaimed */
	SHMK_OVERFLOW_BLOCK = 2,	/* back-pressure: the publisher waits/fails */
};

/* shmk_service_open() flags */
#define SHMK_SVC_CREATE		(1U << 0)	/* create when missing */
#define SHMK_SVC_EXCL		(1U << 1)	/* with CREATE: fail if it exists */

/*
 * struct shmk_svc_config.mode: above the permission bits.  Zero-trust
 * payloads (LIBSHMK_0.5, publish-subscribe and request-response): each
 * producer's chunks live in a data region of its own that only it can
 * write; every other participant maps it read-only.  See
 * Documentation/messaging.rst, "Zero-trust payloads".
 */
#define SHMK_SVC_ZERO_TRUST	(1U << 16)
/*
 * struct shmk_svc_config.mode: dynamic payloads (LIBSHMK_0.5, implies
 * SHMK_SVC_ZERO_TRUST): a producer's chunks start at 4096 bytes (or
 * payload_max, if smaller) and grow, by powers of two up to payload_max,
 * when shmk_pub_loan_slice() asks for more.  See messaging.rst,
 * "Dynamic payloads".
 */
#define SHMK_SVC_DYNAMIC	(1U << 17)

/**
 * struct shmk_svc_config - a service's configuration
 * @size:	sizeof(struct shmk_svc_config) of the caller's header: at
 *		least SHMK_SVC_CONFIG_SIZE_V0; a larger struct (a newer
 *		header) is accepted when the fields this library does not
 *		know are 0 (else -E2BIG), a smaller one (an older header,
 *		once fields are added) has the missing fields 0
 * @kind:	SHMK_SVC_* (a blackboard, SHMK_SVC_BLACKBOARD, gives some fields
 *		meanings of its own: see <shmk/blackboard.h>)
 * @payload_max: bytes per sample (pubsub, reqres), 1 to SHMK_SVC_PAYLOAD_MAX
 * @max_publishers: publishers (pubsub), clients (reqres), notifiers (event)
 * @max_subscribers: subscribers (pubsub), servers (reqres; every live
 *		server receives each request; at most
 *		SHMK_SVC_SERVERS_MAX), listeners (event);
 *		publishers plus subscribers at most
 *		SHMK_SVC_SLOTS_MAX
 * @buffer:	samples each subscriber may lag behind a publisher before
 *		the overflow policy applies
 * @history:	samples a late subscriber receives on joining (<= ring size;
 *		a subscriber may ask for fewer: shmk_sub_open_opts())
 * @overflow:	SHMK_OVERFLOW_*
 * @max_loans:	samples a publisher (client, server) may hold loaned
 * @max_borrow:	samples a subscriber (client, server) may hold received
 * @max_events:	event ids 0 to max_events - 1 (event services)
 * @mode:	permission bits of the region (0: 0600), or'd with
 *		SHMK_SVC_ZERO_TRUST for zero-trust payloads: each producer
 *		(publisher, client, server) writes its samples into a data
 *		region of its own, which every other participant maps
 *		read-only, so that no consumer can change a sample another
 *		consumer reads.  Opt-in: a data region costs at least a
 *		2 MiB page per producer.  On open, SHMK_SVC_ZERO_TRUST in
 *		@mode asks for a zero-trust service (-EPROTOTYPE otherwise)
 * @reserved:	0
 * @type_name:	the payload's type (publish-subscribe, request-response),
 *		NUL-terminated, printable ASCII; "" on create: untyped
 *		(LIBSHMK_0.4, as the three fields below)
 * @type_size:	sizeof the payload's type, at most payload_max (0: not
 *		given); a multiple of @type_align
 * @type_align:	alignof the payload's type: 0 (not given) or a power of
 *		two up to SHMK_CACHELINE (a payload is that aligned)
 * @user_header_size: bytes of a user header next to each sample's payload
 *		(publish-subscribe, request-response), 0 to
 *		SHMK_SVC_USER_HEADER_MAX: shmk_pub_loan_header(),
 *		shmk_sample_header()
 *
 * On create, 0 in a field means its default (4096-byte payload, 4
 * publishers, 4 subscribers (1 server), buffer 8, history 0, safe overflow, 2 loans,
 * 4 borrowed, 64 event ids, untyped, no user header).  On open, 0 (and
 * "" for @type_name) means "any"; every other field must equal the
 * service's, else the open fails with -EPROTOTYPE and shmk_last_error()
 * names the field, for the type both types ("payload type: the service
 * has 'Pose' (32 bytes), not 'Pose2' (40 bytes)").
 */
struct shmk_svc_config {
	uint32_t size;
	uint32_t kind;
	uint64_t payload_max;
	uint32_t max_publishers;
	uint32_t max_subscribers;
	uint32_t buffer;
	uint32_t history;
	uint32_t overflow;
	uint32_t max_loans;
	uint32_t max_borrow;
	uint32_t max_events;
	uint32_t mode;
	uint32_t reserved;
	char type_name[SHMK_SVC_TYPE_NAME_MAX];
	uint64_t type_size;
	uint32_t type_align;
	uint32_t user_header_size;
};

/**
 * struct shmk_sample - a received sample (request, response)
 * @data:	the payload, in the service region (read-only for receivers)
 * @len:	payload bytes
 * @seq:	the producer's sequence number of the sample
 * @corr:	request-response correlation id (0 in pubsub)
 * @origin:	the producer's participant slot
 * @chunk:	internal: the chunk index
 * @origin_gen:	internal: the producer's slot generation
 * @reserved:	the message's flags: read them with shmk_sample_flags()
 */
struct shmk_sample {
	const void *data;
	size_t len;
	uint64_t seq;
	uint64_t corr;
	uint32_t origin;
	uint32_t chunk;
	uint32_t origin_gen;
	uint32_t reserved;
};

/* Request flags (shmk_client_request()), seen by servers */
#define SHMK_REQ_NO_RESPONSE	(1U << 0)	/* fire-and-forget */
/* Response flags (shmk_server_stream()), seen by clients */
#define SHMK_RESP_LAST		(1U << 1)	/* the server's stream ends */

/*
 * shmk_sample_flags() - SHMK_REQ_* of a received request, SHMK_RESP_* of
 * a received response (0 in publish-subscribe).  Other bits are the
 * library's: test for the ones you know.
 */
static inline uint32_t shmk_sample_flags(const struct shmk_sample *smp)
{
	return smp->reserved;
}

struct shmk_service;
struct shmk_port;

/**
 * shmk_service_open() - open a service by name, creating it if asked
 * @name:	1 to SHMK_SVC_NAME_MAX - 1 characters, as region names
 * @cfg:	the configuration (kind required); see struct shmk_svc_config
 * @flags:	SHMK_SVC_CREATE, SHMK_SVC_EXCL
 * @out:	receives the handle
 *
 * On failure shmk_last_error() says why where the library can tell (the
 * field of @cfg that is out of range or differs from the service's).
 *
 * Return: 0; -EINVAL (bad name, flags or configuration); -ENAMETOOLONG;
 * -E2BIG (@cfg->size is larger than this library's struct and a field it
 * does not know is not 0);
 * -ENOENT (missing, no SHMK_SVC_CREATE); -EEXIST (SHMK_SVC_EXCL);
 * -EPERM (memfd, SHMK_SVC_CREATE without SHMK_SVC_EXCL: the existing file
 * is another user's, or grants more than cfg->mode);
 * -EPROTOTYPE (the service exists with another kind or configuration);
 * -EBADMSG (the region is not a valid service); -EPROTO (another layout
 * version); -EAGAIN (its creator has not finished initialising it after
 * a second); -ENOLINK (memfd: the service is held, but no holder hands
 * it over; see shmk_region_open()); -ENOMEM (out of memory), -ENOSPC;
 * another negative errno from the backend.
 */
SHMK_API int shmk_service_open(const char *name,
			       const struct shmk_svc_config *cfg,
			       unsigned int flags, struct shmk_service **out);

/**
 * shmk_last_error() - why the last failed call of this thread failed
 *
 * Set by shmk_service_open() on every call (an empty string on success
 * or when it has nothing to add to the errno), and by shmk_client_send(),
 * shmk_client_send_wait() and shmk_client_request() when they fail with
 * -ENOTCONN or -ETIMEDOUT (and the last with -EBUSY, or -EINVAL for
 * unknown flags), by shmk_client_receive_for() on -ENOENT, by
 * shmk_server_respond(), shmk_server_stream() and shmk_server_end() on
 * -EINVAL for a fire-and-forget request or unknown flags and on
 * -ECANCELED, by shmk_pub_loan() and shmk_pub_send_copy() when the
 * pool has no free chunk (-EAGAIN), and by shmk_sub_open_opts() for bad
 * options (-EINVAL, -E2BIG).  For example "max_publishers: the
 * service has 4, not 2".
 *
 * Return: a NUL-terminated string owned by the library, valid in this
 * thread until its next call of those functions; never NULL.
 */
SHMK_API const char *shmk_last_error(void);

/**
 * shmk_service_close() - release a service handle
 * @s:		handle, may be NULL; every port on it must be closed first
 */
SHMK_API void shmk_service_close(struct shmk_service *s);

/**
 * shmk_service_remove() - remove a service's name
 * @name:	service name
 *
 * Open handles and ports go on working.  Otherwise a service goes away
 * with its last handle or port (memfd: or, after crashes, at the next
 * open or create of its name).
 *
 * Return: 0; -ENOENT; -EPERM; -EINVAL (not a valid name);
 * -ENAMETOOLONG; another negative errno from the backend.
 */
SHMK_API int shmk_service_remove(const char *name);

/**
 * shmk_service_list() - names of the services of the current backend
 * @names:	room for @max names (may be NULL when @max is 0)
 * @max:	entries in @names
 *
 * Return: how many services exist (may exceed @max; only @max names are
 * written); -EINVAL (@names NULL with @max > 0); -ENOMEM; another
 * negative errno from selecting the backend or reading /dev/shm or the
 * device.
 */
SHMK_API int shmk_service_list(char (*names)[SHMK_SVC_NAME_MAX], size_t max);

/**
 * shmk_service_config() - a service's configuration
 * @s:		handle
 * @cfg:	receives it, defaults filled in, its size set to this
 *		header's sizeof(struct shmk_svc_config)
 *
 * A binary built against the headers of LIBSHMK_0.2 or 0.3 uses the
 * shared library's shmk_service_config@LIBSHMK_0.2, which writes the
 * SHMK_SVC_CONFIG_SIZE_V0 bytes of that struct only.
 */
SHMK_API void shmk_service_config(const struct shmk_service *s,
				  struct shmk_svc_config *cfg);

/**
 * shmk_service_recover() - reclaim the slots and chunks of dead participants
 * @s:		handle
 *
 * Called by the library where it needs room (no free slot, no free chunk,
 * back-pressure); callable at any time.  On the device backend a death is
 * known from the module (SHMK_IOC_ON_RELEASE); on the memfd backend from
 * the participant's OFD lock on its slot.
 *
 * Return: how many slots were reclaimed (0 or more); -EINVAL (@s NULL).
 */
SHMK_API int shmk_service_recover(struct shmk_service *s);

/**
 * shmk_service_chunks_used() - chunks held by anyone (loaned, in a ring,
 * received, or kept by a publisher for its next loan)
 * @s:		handle
 *
 * A publish-subscribe publisher keeps at most one chunk whose sample its
 * ring dropped and nobody else held, its spare, which its next loan takes
 * (Documentation/messaging.rst, "The spare"); it goes back to the pool
 * when the publisher closes or is recovered.
 *
 * Return: the count; 0 means every chunk is back in the pool.
 */
SHMK_API uint32_t shmk_service_chunks_used(const struct shmk_service *s);

/**
 * shmk_service_chunks() - the pool's size in chunks
 * @s:		handle
 *
 * Return: the count.
 */
SHMK_API uint32_t shmk_service_chunks(const struct shmk_service *s);

/**
 * shmk_service_participants() - live (claimed) participant slots
 * @s:		handle
 *
 * Return: the count of slots not free.
 */
SHMK_API uint32_t shmk_service_participants(const struct shmk_service *s);

/**
 * shmk_service_roles() - live participants by side
 * @s:		handle
 * @producers:	set to the live publishers, clients or notifiers (may be NULL)
 * @consumers:	set to the live subscribers, servers or listeners (may be NULL)
 *
 * A snapshot, as shmk_service_participants(), split by role.
 */
SHMK_API void shmk_service_roles(const struct shmk_service *s,
				 uint32_t *producers, uint32_t *consumers);

/**
 * shmk_service_dead() - participants that are gone but not yet reclaimed
 * @s:		handle
 *
 * Slots whose holder the kernel says is gone: on the device backend the
 * module wrote its death notice (state DEAD); on the memfd backend
 * nobody holds the slot's OFD lock.  They still count in
 * shmk_service_participants() until shmk_service_recover() (or any
 * participant that needs room) reclaims them.  A snapshot.
 *
 * Return: the count.
 */
SHMK_API uint32_t shmk_service_dead(const struct shmk_service *s);

/**
 * shmk_service_backlog() - the deepest consumer queue
 * @s:		handle
 *
 * Samples (publish-subscribe) or requests (request-response) published
 * and not yet received, for the live subscriber or server that has the
 * most waiting.  A snapshot for monitoring.
 *
 * Return: the count; 0 for an event service.
 */
SHMK_API uint32_t shmk_service_backlog(const struct shmk_service *s);

/*
 * Publish-subscribe.  A publisher loans a chunk, writes the payload in
 * place and publishes it: only its index moves.  Subscribers receive a
 * struct shmk_sample pointing into the region and release it when done.
 */

/**
 * shmk_pub_open() - become a publisher of a pubsub service
 * @s:		service handle (kind SHMK_SVC_PUBSUB)
 * @out:	receives the port
 *
 * A port belongs to the process that opened it: after fork() only that
 * process may use it, and a shmk_port_close() in another process (a
 * child's atexit() handler or C++ destructor) only unmaps and frees that
 * process's copy, leaving the slot, loans and samples to the opener.
 *
 * Return: 0; -EINVAL (@s or @out NULL); -EPROTOTYPE (another kind);
 * -EBUSY (max_publishers live); -ESTALE (the name was removed and
 * created again since @s was opened: open the service again); -ENOMEM
 * (out of memory); another negative errno from opening the region or,
 * on the device backend, arming the port's death notice.
 */
SHMK_API int shmk_pub_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_sub_open() - become a subscriber of a pubsub service
 * @s:		service handle
 * @out:	receives the port
 *
 * The subscriber first receives up to @history samples each live
 * publisher published before.
 *
 * Return: as shmk_pub_open(), -EBUSY when max_subscribers are live.
 */
SHMK_API int shmk_sub_open(struct shmk_service *s, struct shmk_port **out);

/**
 * struct shmk_sub_opts - a subscriber's choices (shmk_sub_open_opts())
 * @size:	sizeof(struct shmk_sub_opts) of the caller's header; fields
 *		past it are taken as 0, and a larger struct is accepted when
 *		the bytes this library does not know are 0 (else -E2BIG)
 * @history:	samples of each live publisher's past to receive on joining:
 *		0 (none) to the service's history
 * @flags:	0
 */
struct shmk_sub_opts {
	uint32_t size;
	uint32_t history;
	uint32_t flags;
	uint32_t reserved;
};

/**
 * shmk_sub_open_opts() - become a subscriber, with choices of its own
 * @s:		service handle (kind SHMK_SVC_PUBSUB)
 * @opts:	the choices (NULL: as shmk_sub_open())
 * @out:	receives the port
 *
 * As shmk_sub_open(), but the subscriber receives up to @opts->history
 * samples each live publisher published before, instead of the service's
 * history: a subscriber that wants no past asks for 0, another on the
 * same service may ask for all of it.
 *
 * Return: as shmk_sub_open(); -EINVAL also for @opts->history larger
 * than the service's history, @opts->size smaller than 8, or flags or
 * reserved not 0 (shmk_last_error() says which); -E2BIG (a larger
 * struct with bytes this library does not know set).
 */
SHMK_API int shmk_sub_open_opts(struct shmk_service *s,
				const struct shmk_sub_opts *opts,
				struct shmk_port **out);

/**
 * shmk_port_close() - leave a service: release loans and received samples
 * @p:		port, may be NULL
 *
 * A publisher's samples not yet received are dropped (each subscriber
 * counts them in shmk_sub_dropped()): shmk_pub_close_linger() waits for
 * them to be received first.  The port's samples and loans
 * point into the port's own mapping: they are invalid after this call,
 * even while the service handle stays open.  Called in another process
 * than the one that opened @p (a fork() child), it only frees that
 * process's memory: the slot stays the opener's.
 */
SHMK_API void shmk_port_close(struct shmk_port *p);

/**
 * shmk_port_slot() - the participant slot a port holds
 * @p:		port
 *
 * Return: the slot index.
 */
SHMK_API int shmk_port_slot(const struct shmk_port *p);

/**
 * shmk_pub_loan() - take a free chunk to write a sample in
 * @p:		publisher (or client, server) port
 * @payload:	receives the address of payload_max writable bytes
 *
 * The chunk is one whose lines are likely still in the cache: the one
 * the port last gave back, or, after a publish of 64 KiB or more on a
 * publish-subscribe service without history, the one it just published
 * once every subscriber has received and released that sample (the
 * sample is then no longer in the ring: a subscriber that joins later
 * does not see it).  Its previous contents are not cleared.
 *
 * Return: 0; -ENOBUFS (max_loans outstanding: publish or discard one);
 * -EAGAIN (no free chunk in the pool even after reclaiming dead
 * participants: every chunk is held; try again when consumers release
 * samples; shmk_last_error() says so); -EINVAL (@p or @payload NULL, or
 * @p does not produce: a subscriber, notifier or listener).
 */
SHMK_API int shmk_pub_loan(struct shmk_port *p, void **payload);

/**
 * shmk_pub_loan_slice() - loan a chunk for @n elements
 * @p:		publisher (or client, server) port
 * @n:		elements, of the service's type_size bytes each (1 byte
 *		when untyped), at least 1
 * @payload:	receives the chunk's address
 *
 * As shmk_pub_loan(), for a payload of @n elements chosen now.  In a
 * service with SHMK_SVC_DYNAMIC, when @n elements do not fit this
 * producer's chunks, it moves to a new data segment whose chunks are the
 * next power of two (times 4096 bytes) that fits, at most payload_max:
 * subscribers map it on their first sample from it, and the old segment
 * goes once no chunk of it is held.  Loans and samples of the old
 * segment stay valid.  Elsewhere the chunks are payload_max bytes.
 *
 * Return: the bytes available at *@payload (>= @n elements; publish at
 * most that many); -EMSGSIZE (@n elements are more than payload_max);
 * -EINVAL (@n 0, @p, @payload NULL, or @p does not produce); the errors
 * of shmk_pub_loan(); -ENOMEM or another -errno when the new segment
 * cannot be created (the producer keeps its old one).
 */
SHMK_API int shmk_pub_loan_slice(struct shmk_port *p, size_t n,
				 void **payload);

/**
 * shmk_pub_publish() - publish a loaned chunk to every subscriber
 * @p:		publisher port
 * @payload:	an address from shmk_pub_loan() of this port
 * @len:	payload bytes, at most payload_max
 * @timeout_ns:	back-pressure only: 0 fails at once with -EAGAIN,
 *		SHMK_FOREVER waits, otherwise a relative timeout
 *
 * On success the loan is consumed.  On -EAGAIN and -ETIMEDOUT the caller
 * keeps the loan (publish again or discard it).  A subscriber that died
 * with its buffer full is reclaimed by the publish that sleeps, or, with
 * timeout 0, by every 16th publish in a row that finds no room.
 *
 * Return: 0; -EINVAL (@p NULL or not a publisher, @payload not a loan of
 * this port, @len too large); -EAGAIN or -ETIMEDOUT (a subscriber's
 * buffer is full, SHMK_OVERFLOW_BLOCK); -EINTR (a signal interrupted the
 * wait); another negative errno from a broken wait (shmk_wait()).
 */
SHMK_API int shmk_pub_publish(struct shmk_port *p, void *payload, size_t len,
			      int64_t timeout_ns);

/**
 * shmk_pub_drain() - wait until every live subscriber has received all
 * this publisher published
 * @p:		publisher (or client, server) port
 * @timeout_ns:	0: just check; SHMK_FOREVER; else relative
 *
 * Samples not yet received when a publisher closes are dropped; drain
 * first to deliver them.  A subscriber that lags more than the ring
 * under safe overflow counts as having received what it skipped.
 *
 * Return: 0; -EAGAIN (timeout 0); -ETIMEDOUT; -EINTR; -EINVAL (@p NULL
 * or not a producer); another negative errno from a broken wait.
 */
SHMK_API int shmk_pub_drain(struct shmk_port *p, int64_t timeout_ns);

/**
 * shmk_pub_close_linger() - close a publisher once its samples are received
 * @p:		publisher port, may be NULL
 * @timeout_ns:	how long to wait at most: 0 does not wait, SHMK_FOREVER
 *		waits as long as a live subscriber has not received
 *
 * Waits, as shmk_pub_drain(), until every live subscriber has received
 * every sample @p published (a subscriber that closes or dies meanwhile
 * is not waited for), then closes @p as shmk_port_close(): no published
 * sample is lost to a subscriber that stays.  After a timeout (or a
 * signal) the port is closed all the same and the samples not yet
 * received are dropped (shmk_sub_dropped()).  A publisher killed while
 * it lingers is a crash: its slot and chunks are recovered as any dead
 * participant's, and its samples not yet received count as dropped.
 * The port is invalid after the call, whatever it returns.
 *
 * Return: 0 (every sample received, or @p NULL); -ETIMEDOUT; -EINTR; -EINVAL
 * (@p is not a publisher: it is closed all the same); another negative
 * errno from a broken wait (shmk_wait()).
 */
SHMK_API int shmk_pub_close_linger(struct shmk_port *p, int64_t timeout_ns);

/**
 * shmk_pub_loan_header() - the user header of a loaned sample
 * @p:		publisher (client, server) port
 * @payload:	an address from shmk_pub_loan() of this port
 *
 * Each sample of a service with a user_header_size has that many bytes
 * of user header, written by the producer next to the payload and
 * received with it (shmk_sample_header()).  They hold what the last
 * user of the chunk wrote until the producer writes them.
 *
 * Return: the header (user_header_size writable bytes, aligned to
 * SHMK_CACHELINE); NULL when the service has no user header, or @p or
 * @payload is NULL or not a loan of @p.
 */
SHMK_API void *shmk_pub_loan_header(struct shmk_port *p, const void *payload);

/**
 * shmk_sample_header() - the user header of a received sample
 * @p:		the port that received @smp (subscriber, client, server)
 * @smp:	a sample received and not yet released
 *
 * Return: the header (user_header_size bytes, read-only, valid as
 * smp->data is); NULL when the service has no user header, or @p or
 * @smp is NULL or @smp is not held by @p.
 */
SHMK_API const void *shmk_sample_header(const struct shmk_port *p,
					const struct shmk_sample *smp);

/**
 * shmk_pub_discard() - give a loaned chunk back unpublished
 * @p:		producer port
 * @payload:	an address from shmk_pub_loan()
 *
 * Return: 0; -EINVAL (@p NULL, or @payload not a loan of this port).
 */
SHMK_API int shmk_pub_discard(struct shmk_port *p, void *payload);

/**
 * shmk_pub_send_copy() - loan, copy @len bytes in, publish
 * @p:		publisher port
 * @data:	the bytes
 * @len:	at most payload_max
 * @timeout_ns:	as shmk_pub_publish()
 *
 * On failure nothing is published and no loan is left.
 *
 * Return: as shmk_pub_loan() and shmk_pub_publish() (-EAGAIN: no free
 * chunk, or no room with timeout 0); -EINVAL also for @data NULL with
 * @len > 0, @len > payload_max, or @p not a publisher.
 */
SHMK_API int shmk_pub_send_copy(struct shmk_port *p, const void *data,
				size_t len, int64_t timeout_ns);

/**
 * shmk_sub_receive() - take the next sample from any publisher
 * @p:		subscriber port
 * @smp:	receives the sample; release it with shmk_sub_release()
 * @timeout_ns:	0: never sleeps (-EAGAIN when empty); SHMK_FOREVER:
 *		sleeps (shmk_wait()) until a sample comes; else relative
 *
 * Samples of one publisher come in order; publishers are served round
 * robin.  Under safe overflow a subscriber that lags more than the ring
 * skips the oldest samples (counted by shmk_sub_dropped()).
 *
 * Return: 0; -EAGAIN (nothing to receive, timeout 0); -ETIMEDOUT;
 * -EINTR (a signal interrupted the wait); -ENOBUFS (max_borrow samples
 * held); -EBADMSG (a corrupt ring entry, cursor or sample header, found
 * by a peer's bug or hostility; it may come again until the producer's
 * ring moves past it); -EINVAL (@p or @smp NULL, or
 * @p not a subscriber); another negative errno from a broken wait.
 */
SHMK_API int shmk_sub_receive(struct shmk_port *p, struct shmk_sample *smp,
			      int64_t timeout_ns);

/**
 * shmk_sub_release() - give a received sample back
 * @p:		the port that received it
 * @smp:	the sample
 *
 * The chunk returns to the pool when its last holder releases it.
 * smp->data points into the port's own mapping: it is valid until the
 * release or shmk_port_close(), whichever comes first.
 *
 * Return: 0; -EINVAL (@p or @smp NULL, or @smp not held by this port).
 */
SHMK_API int shmk_sub_release(struct shmk_port *p, struct shmk_sample *smp);

/**
 * shmk_sub_dropped() - samples this subscriber will never receive
 * @p:		subscriber port
 *
 * Samples skipped because the subscriber lagged more than the ring (safe
 * overflow), and samples of a publisher that closed or died before the
 * subscriber received them (counted when the subscriber next looks at
 * that publisher, in shmk_sub_receive()).  Every sample whose publish
 * returned 0 after the subscriber joined is received or counted here.
 *
 * Return: the count since the port was opened.
 */
SHMK_API uint64_t shmk_sub_dropped(const struct shmk_port *p);

/*
 * Request-response.  A client sends a loaned request (channel 0); every
 * live server (max_subscribers of them) receives it, and each may answer
 * with loaned responses addressed to that client (server s on channel
 * 1 + s), carrying the request's correlation id; smp->origin of a
 * response names its server.  A request sent with shmk_client_request()
 * is a pending response: each server live at the send answers with a
 * stream of responses that ends with one flagged SHMK_RESP_LAST
 * (shmk_server_respond(), shmk_server_stream(), shmk_server_end()), and
 * shmk_client_receive_for() reports the end of the streams, or their
 * abnormal end when a server leaves or dies first.  A request flagged
 * SHMK_REQ_NO_RESPONSE expects no answer (fire-and-forget).
 */

/**
 * shmk_client_open() - become a client of a reqres service
 * @s:		service handle (kind SHMK_SVC_REQRES)
 * @out:	receives the port
 *
 * Return: as shmk_pub_open() (-EBUSY: max_publishers clients live).
 */
SHMK_API int shmk_client_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_server_open() - become the server of a reqres service
 * @s:		service handle
 * @out:	receives the port
 *
 * Return: as shmk_pub_open() (-EBUSY: max_subscribers servers live).
 */
SHMK_API int shmk_server_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_client_send() - send a loaned request
 * @p:		client port
 * @payload:	from shmk_pub_loan() on @p
 * @len:	bytes
 * @corr:	receives the request's correlation id (may be NULL)
 *
 * Never waits.  With no live server the request would never be answered:
 * it is not sent, and the caller keeps the loan.
 *
 * Return: 0; -ENOTCONN (no live server); -EAGAIN (the server's buffer
 * is full, SHMK_OVERFLOW_BLOCK); -EINVAL (@p NULL or not a client,
 * @payload not a loan of @p, @len > payload_max).
 */
SHMK_API int shmk_client_send(struct shmk_port *p, void *payload, size_t len,
			      uint64_t *corr);

/**
 * shmk_client_send_wait() - send a loaned request, waiting for a server
 * and (SHMK_OVERFLOW_BLOCK) for room in its buffer
 * @p:		client port
 * @payload:	from shmk_pub_loan() on @p
 * @len:	bytes
 * @corr:	receives the request's correlation id (may be NULL)
 * @timeout_ns:	0: as shmk_client_send(); SHMK_FOREVER; else relative
 *
 * On any failure the request is not sent and the caller keeps the loan.
 *
 * Return: 0; -ENOTCONN (timeout 0, no live server); -EAGAIN (timeout 0,
 * no room); -ETIMEDOUT (shmk_last_error() says which was missing);
 * -EINTR; -EINVAL (as shmk_client_send()); another negative errno from
 * a broken wait.
 */
SHMK_API int shmk_client_send_wait(struct shmk_port *p, void *payload,
				   size_t len, uint64_t *corr,
				   int64_t timeout_ns);

/**
 * shmk_client_receive() - receive a response to one of this client's
 * requests
 * @p:		client port
 * @smp:	receives it; smp->corr is the request's id
 * @timeout_ns:	as shmk_sub_receive()
 *
 * Responses to other clients are skipped, and so are responses to
 * requests of shmk_client_request() that are no longer pending
 * (cancelled, or whose end shmk_client_receive_for() reported).
 * Responses kept by shmk_client_receive_for() for later come first.  A
 * response to a pending request is noted in it (a last one ends its
 * server's stream); shmk_sample_flags() has SHMK_RESP_LAST.
 *
 * Return: as shmk_sub_receive() (-EINVAL: @p not a client); release
 * with shmk_sub_release().
 */
SHMK_API int shmk_client_receive(struct shmk_port *p, struct shmk_sample *smp,
				 int64_t timeout_ns);

/**
 * shmk_server_receive() - receive the next request
 * @p:		server port
 * @req:	receives it; keep it to answer, then shmk_sub_release() it
 * @timeout_ns:	as shmk_sub_receive()
 *
 * Every live server receives every request sent after it opened (and
 * up to @history sent before).  shmk_sample_flags(@req) has
 * SHMK_REQ_NO_RESPONSE for a fire-and-forget request.
 *
 * Return: as shmk_sub_receive() (-EINVAL: @p not a server).
 */
SHMK_API int shmk_server_receive(struct shmk_port *p, struct shmk_sample *req,
				 int64_t timeout_ns);

/**
 * shmk_server_respond() - answer a request with a loaned response
 * @p:		server port
 * @req:	the request (still held)
 * @payload:	from shmk_pub_loan() on @p
 * @len:	bytes
 *
 * One response that is also the last: it ends this server's stream
 * (SHMK_RESP_LAST).  Never waits.  To a request of shmk_client_send()
 * it overwrites the client's oldest unread response when the client
 * lags a full ring (safe overflow); to a pending request
 * (shmk_client_request()) it fails with -EAGAIN instead, as
 * shmk_server_stream() with timeout 0.
 *
 * Return: 0; -EINVAL (@p or @req NULL, @p not a server, @req's origin
 * not a client slot, @req fire-and-forget (shmk_last_error() says so),
 * @payload not a loan of @p, @len > payload_max); for a pending
 * request also -EAGAIN (the client has buffer unread responses of ours)
 * and -ECANCELED (the client is gone, or no longer wants the responses:
 * shmk_server_cancelled(); nothing is published and the caller keeps the
 * loan, to give back with shmk_pub_discard()).
 */
SHMK_API int shmk_server_respond(struct shmk_port *p,
				 const struct shmk_sample *req, void *payload,
				 size_t len);

/**
 * shmk_client_request() - send a loaned request, as a pending response
 * or fire-and-forget
 * @p:		client port
 * @payload:	from shmk_pub_loan() on @p
 * @len:	bytes
 * @flags:	0, or SHMK_REQ_NO_RESPONSE (fire-and-forget: not tracked,
 *		and servers may not answer it)
 * @corr:	receives the request's correlation id (may be NULL)
 * @servers:	receives how many servers were live at the send, the
 *		streams the client waits for (may be NULL)
 * @timeout_ns:	0: never waits (as shmk_client_send()); SHMK_FOREVER or
 *		relative: waits for a server and, SHMK_OVERFLOW_BLOCK, room
 *		(as shmk_client_send_wait())
 *
 * Without SHMK_REQ_NO_RESPONSE the request is pending until
 * shmk_client_receive_for() reports the end of its streams, or
 * shmk_client_cancel(); a client has at most SHMK_SVC_PENDING_MAX.  On
 * any failure nothing is sent and the caller keeps the loan.
 *
 * Return: 0; -EBUSY (SHMK_SVC_PENDING_MAX requests pending); -EINVAL
 * (unknown @flags, or as shmk_client_send()); otherwise as
 * shmk_client_send_wait().
 */
SHMK_API int shmk_client_request(struct shmk_port *p, void *payload,
				 size_t len, unsigned int flags,
				 uint64_t *corr, uint32_t *servers,
				 int64_t timeout_ns);

/**
 * shmk_client_receive_for() - the next response of one pending request,
 * or the end of its streams
 * @p:		client port
 * @corr:	the id from shmk_client_request()
 * @smp:	receives a response; release it with shmk_sub_release()
 * @timeout_ns:	as shmk_sub_receive()
 *
 * Responses of one server come in the order it sent them.  Responses to
 * other requests met on the way are kept (held, counted in max_borrow)
 * for their own calls, and for shmk_client_receive().  The streams end
 * when every server live at the send has sent its last response
 * (-ENODATA), or has left or died first (-ECONNRESET, once the others
 * ended); the request is then no longer pending.  A server that dies is
 * noticed at once on the device backend, within 100 ms on memfd, as is
 * one that closes without ending its stream.
 *
 * Return: 0; -ENODATA (every stream ended with its last response);
 * -ECONNRESET (at least one server left or died before its last
 * response); -ENOENT (@corr is not pending); -EAGAIN (timeout 0);
 * -ETIMEDOUT; -EINTR; -ENOBUFS (max_borrow samples held, or
 * SHMK_SVC_PENDING_MAX responses kept); -EBADMSG (as shmk_sub_receive());
 * -EINVAL (@p or @smp NULL, @p not a client).
 */
SHMK_API int shmk_client_receive_for(struct shmk_port *p, uint64_t corr,
				     struct shmk_sample *smp,
				     int64_t timeout_ns);

/**
 * shmk_client_pending() - how many streams of a pending request are open
 * @p:		client port
 * @corr:	the id from shmk_client_request()
 *
 * A stream is open until its server's last response is received, or its
 * server is no longer live.  A snapshot; the request stays pending until
 * shmk_client_receive_for() reports the end.
 *
 * Return: the count (0 or more); -ENOENT (@corr is not pending);
 * -EINVAL (@p NULL or not a client).
 */
SHMK_API int shmk_client_pending(struct shmk_port *p, uint64_t corr);

/**
 * shmk_client_cancel() - drop interest in a pending response
 * @p:		client port
 * @corr:	the id from shmk_client_request()
 *
 * Responses kept for it are released now, and those that come later are
 * released as the client receives (shmk_client_receive(),
 * shmk_client_receive_for()): none is leaked.  The cancel reaches the
 * servers through the service's shared memory: from now on
 * shmk_server_cancelled() is 1 for the request, and shmk_server_stream()
 * and shmk_server_respond() fail with -ECANCELED without publishing; a
 * server asleep in shmk_server_stream() for room in this client's ring
 * is woken to see it.  A server that is not streaming is not woken (its
 * port fd does not become readable): it learns of the cancel when it
 * next asks or answers.  Responses already sent stay in the ring until
 * the client receives (and releases) them.
 *
 * Return: 0; -ENOENT (@corr is not pending); -EINVAL (@p NULL or not a
 * client).
 */
SHMK_API int shmk_client_cancel(struct shmk_port *p, uint64_t corr);

/**
 * shmk_server_cancelled() - does the client of a request no longer want
 * its responses?
 * @p:		server port
 * @req:	the request (still held)
 *
 * 1 when the client cancelled the request (shmk_client_cancel()), when
 * its pending response already ended (shmk_client_receive_for()
 * reported the end of its streams), or when the client that sent it is
 * gone: closed, died, or its slot was taken by a later client; else 0.
 * For a request of shmk_client_send() or a fire-and-forget one, only
 * the last.  A server that streams asks between responses and stops,
 * as iceoryx2's active request does when its pending response is
 * dropped.  The answer is the client's, read from shared memory the
 * client writes: a hostile client can only make its own requests look
 * cancelled or wanted.  A dead client is seen at once on the device;
 * on memfd this call asks the kernel (one fcntl()) whether the client
 * still holds its slot, so it sees a death before recovery does.  Never
 * waits, never wakes anybody.
 *
 * Return: 1 or 0; -EINVAL (@p or @req NULL, @p not a server, @req's
 * origin not a client slot).
 */
SHMK_API int shmk_server_cancelled(const struct shmk_port *p,
				   const struct shmk_sample *req);

/**
 * shmk_server_stream() - one response of a stream
 * @p:		server port
 * @req:	the request (still held)
 * @payload:	from shmk_pub_loan() on @p
 * @len:	bytes
 * @flags:	0, or SHMK_RESP_LAST to end the stream with this response
 * @timeout_ns:	0: never waits; SHMK_FOREVER; else relative
 *
 * A response never overwrites an unread one: with buffer responses of
 * this server unread by the client it waits for room.  On failure the
 * caller keeps the loan.  A pending response ends, for this server, with
 * SHMK_RESP_LAST (or shmk_server_respond(), shmk_server_end()); a server
 * that never ends it leaves the client waiting until it closes.
 *
 * Return: 0; -ECANCELED (the client is gone: left, died; or, for a
 * pending response, it no longer wants the responses: cancelled, or its
 * streams ended (shmk_server_cancelled()); nothing is published, the
 * caller keeps the loan; a wait for room ends with it); -EAGAIN
 * (timeout 0, no room); -ETIMEDOUT; -EINTR; -EINVAL (unknown @flags,
 * @req fire-and-forget (shmk_last_error() says which), or as
 * shmk_server_respond()); another negative errno from a broken wait.
 */
SHMK_API int shmk_server_stream(struct shmk_port *p,
				const struct shmk_sample *req, void *payload,
				size_t len, unsigned int flags,
				int64_t timeout_ns);

/**
 * shmk_server_end() - end a stream without a payload
 * @p:		server port
 * @req:	the request (still held)
 * @timeout_ns:	as shmk_server_stream()
 *
 * Sends an empty response flagged SHMK_RESP_LAST, from a chunk it loans
 * and, on failure, gives back.
 *
 * Return: as shmk_server_stream(), and as shmk_pub_loan() (-ENOBUFS:
 * max_loans outstanding; -EAGAIN: no free chunk).
 */
SHMK_API int shmk_server_end(struct shmk_port *p,
			     const struct shmk_sample *req, int64_t timeout_ns);

/*
 * Events.  A notifier signals event ids; each listener sees every id
 * signalled since its last wait (ids coalesce: an id signalled twice is
 * reported once).
 */

/**
 * shmk_notifier_open() - become a notifier of an event service
 * @s:		service handle (kind SHMK_SVC_EVENT)
 * @out:	receives the port
 *
 * Return: as shmk_pub_open().
 */
SHMK_API int shmk_notifier_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_listener_open() - become a listener of an event service
 * @s:		service handle
 * @out:	receives the port
 *
 * Return: as shmk_pub_open().
 */
SHMK_API int shmk_listener_open(struct shmk_service *s, struct shmk_port **out);

/**
 * shmk_notifier_notify() - signal an event id to every live listener
 * @p:		notifier port
 * @id:		0 to max_events - 1
 *
 * Return: the number of listeners signalled (0 or more); -EINVAL (@p
 * NULL or not a notifier, @id >= max_events).
 */
SHMK_API int shmk_notifier_notify(struct shmk_port *p, uint32_t id);

/**
 * shmk_listener_wait() - collect signalled event ids
 * @p:		listener port
 * @ids:	room for @max ids
 * @max:	at least 1
 * @timeout_ns:	0: never sleeps; SHMK_FOREVER; else relative
 *
 * Ids not returned (more than @max) stay pending for the next call.
 *
 * Return: how many ids were written (>= 1); -EAGAIN (none, timeout 0);
 * -ETIMEDOUT; -EINTR; -EINVAL (@p or @ids NULL, @max 0, @p not a
 * listener); another negative errno from a broken wait.
 */
SHMK_API int shmk_listener_wait(struct shmk_port *p, uint32_t *ids,
				unsigned int max, int64_t timeout_ns);

/**
 * shmk_port_fd() - a file descriptor that polls readable when the port
 * may have something to receive
 * @p:		subscriber, client, server or listener port
 *
 * For poll, select, epoll or io_uring (IORING_OP_POLL_ADD), with no
 * thread behind it.  The fd belongs to the port (do not close it; it goes
 * with shmk_port_close()) and is the same on every call.  It polls
 * readable at first; once it does, call the port's receive
 * (shmk_sub_receive(), shmk_client_receive(), shmk_server_receive(),
 * shmk_listener_wait()) with timeout 0 until it returns -EAGAIN, which
 * empties and re-arms the fd: anything sent after that makes it readable
 * again, so no wake-up is lost.  It may poll readable with nothing to
 * receive (a spurious wake-up): receive returns -EAGAIN at once.
 *
 * Device backend: the port's own region file, watching its wake word
 * (SHMK_IOC_WATCH).  memfd backend: a non-blocking abstract Unix
 * datagram socket; senders must be in the same network namespace.
 *
 * Return: the fd; -EINVAL (@p NULL, or a publisher or notifier:
 * shmk_last_error() says so); -EADDRINUSE (memfd: no free random
 * address); another negative errno from socket(), bind() or
 * SHMK_IOC_WATCH.
 */
SHMK_API int shmk_port_fd(struct shmk_port *p);

/**
 * shmk_listener_fd() - shmk_port_fd() of a listener
 * @p:		listener port
 *
 * Return: as shmk_port_fd(); -EINVAL (@p NULL or not a listener).
 */
SHMK_API int shmk_listener_fd(struct shmk_port *p);

struct shmk_region;

/**
 * shmk_region_on_release() - ask the module to write a death notice
 * when this region file is released (device backend)
 * @r:		region handle (its own region file)
 * @slot:	word set to @value; NULL to remove the action
 * @value:	the value
 * @counter:	word then incremented, and its waiters woken
 *
 * Return: 0; -EINVAL (@r NULL, @counter NULL with @slot, words outside
 * the region, misaligned); -EOPNOTSUPP on the memfd backend; -ENOTTY
 * from a module without SHMK_IOC_ON_RELEASE; another negative errno
 * from the ioctl.
 */
SHMK_API int shmk_region_on_release(const struct shmk_region *r,
				    const void *slot, uint32_t value,
				    const void *counter);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_SERVICE_H */
