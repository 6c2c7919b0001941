/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: a WaitSet - wait for many ports, deadlines and intervals at
 * once, in one blocking call or as one fd in an existing event loop.
 *
 * Attach ports (each with an optional deadline: the port is reported when
 * nothing arrived for longer than it) and intervals (a tick every period).
 * shmk_waitset_wait() returns which attachments fired; the caller then
 * receives from each ready port with timeout 0 until -EAGAIN (which
 * re-arms its fd, see shmk_port_fd()).  Internally an epoll fd over the
 * ports' fds and timerfds: shmk_waitset_fd() gives it, to put into
 * another epoll set, poll or io_uring.  No thread behind it.  A WaitSet
 * is used by one thread at a time.  Documentation/messaging.rst,
 * "Waiting in an event loop", is the guide.
 */
#ifndef SHMK_WAITSET_H
#define SHMK_WAITSET_H

#include <stdint.h>
#include <shmk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct shmk_port;
struct shmk_waitset;

/* struct shmk_waitset_event.what */
#define SHMK_WS_READY		(1U << 0)	/* the port may have data */
#define SHMK_WS_DEADLINE	(1U << 1)	/* nothing for longer than its deadline */
#define SHMK_WS_TICK		(1U << 2)	/* an interval elapsed */

/**
 * struct shmk_waitset_event - one attachment that fired
 * @id:		the attachment's id (from shmk_waitset_attach_port() or
 *		shmk_waitset_attach_interval())
 * @what:	SHMK_WS_READY, SHMK_WS_DEADLINE or SHMK_WS_TICK
 * @user:	the pointer given when attaching
 */
struct shmk_waitset_event {
	int id;
	uint32_t what;
	void *user;
};

/**
 * shmk_waitset_create() - make an empty WaitSet
 * @out:	receives it
 *
 * Return: 0; -EINVAL (@out NULL); -ENOMEM; -EMFILE or another negative
 * errno from epoll_create1().
 */
SHMK_API int shmk_waitset_create(struct shmk_waitset **out);

/**
 * shmk_waitset_destroy() - free a WaitSet and its timers
 * @ws:		may be NULL
 *
 * The ports stay open (their fds are theirs).
 */
SHMK_API void shmk_waitset_destroy(struct shmk_waitset *ws);

/**
 * shmk_waitset_attach_port() - wait for a port
 * @ws:		WaitSet
 * @p:		subscriber, client, server or listener port (shmk_port_fd());
 *		it must stay open until detached
 * @deadline_ns: 0: none; else report SHMK_WS_DEADLINE each time nothing
 *		made the port ready for this long
 * @user:	returned in its events
 *
 * The port is reported ready at first (its fd starts readable): receive
 * from it until -EAGAIN, which arms it.
 *
 * Return: the attachment's id (>= 0); -EINVAL (@ws or @p NULL, a port
 * that has no fd, @deadline_ns negative); -EEXIST (@p is attached
 * already); -ENOMEM; another negative errno from shmk_port_fd(),
 * timerfd_create() or epoll_ctl().
 */
SHMK_API int shmk_waitset_attach_port(struct shmk_waitset *ws,
				      struct shmk_port *p,
				      int64_t deadline_ns, void *user);

/**
 * shmk_waitset_attach_interval() - a tick every @interval_ns
 * @ws:		WaitSet
 * @interval_ns: the period, > 0
 * @user:	returned in its events
 *
 * Ticks missed while nobody waited are reported once.
 *
 * Return: the attachment's id (>= 0); -EINVAL (@ws NULL, @interval_ns
 * not > 0); -ENOMEM; another negative errno from timerfd_create() or
 * epoll_ctl().
 */
SHMK_API int shmk_waitset_attach_interval(struct shmk_waitset *ws,
					  int64_t interval_ns, void *user);

/**
 * shmk_waitset_detach() - remove an attachment
 * @ws:		WaitSet
 * @id:		its id; ids are reused by later attachments
 *
 * Return: 0; -EINVAL (@ws NULL); -ENOENT (no such attachment).
 */
SHMK_API int shmk_waitset_detach(struct shmk_waitset *ws, int id);

/**
 * shmk_waitset_wait() - wait until attachments fire
 * @ws:		WaitSet
 * @ev:		room for @max events
 * @max:	at least 1; attachments that fired beyond it are reported
 *		by the next call
 * @timeout_ns:	0: never sleeps; SHMK_FOREVER; else relative
 *
 * A ready port stays ready (is reported again) until it is received from
 * until -EAGAIN.  An attachment may be reported for nothing (a spurious
 * wake-up of its port).  A port's readiness restarts its deadline.
 *
 * Return: how many events were written (>= 1); -EAGAIN (none, timeout
 * 0); -ETIMEDOUT; -EINTR; -EINVAL (@ws or @ev NULL, @max 0); another
 * negative errno from epoll_wait().
 */
SHMK_API int shmk_waitset_wait(struct shmk_waitset *ws,
			       struct shmk_waitset_event *ev,
			       unsigned int max, int64_t timeout_ns);

/**
 * shmk_waitset_fd() - one fd for an existing event loop
 * @ws:		WaitSet
 *
 * Polls readable when shmk_waitset_wait() with timeout 0 would report
 * something (or, rarely, would find that a deadline was just restarted:
 * -EAGAIN).  Belongs to the WaitSet.
 *
 * Return: the fd; -EINVAL (@ws NULL).
 */
SHMK_API int shmk_waitset_fd(const struct shmk_waitset *ws);

#ifdef __cplusplus
}
#endif

#endif /* SHMK_WAITSET_H */
