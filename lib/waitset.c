// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk WaitSet: an epoll fd over the attached ports' fds
 * (shmk_port_fd()) and timerfds (deadlines, intervals).  Private to the
 * process: nothing here is shared memory.  Each epoll entry carries
 * (id << 1) | timer, so an event names its attachment and whether it came
 * from the port or from the attachment's timer.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <shmk/waitset.h>
#include "svc.h"

#define WS_MAX_EVENTS	64	/* epoll events fetched per call */
#define WS_MAX_ATT	(INT_MAX / 2)

enum { ATT_FREE, ATT_PORT, ATT_INTERVAL };

struct ws_att {
	int kind;
	int pfd;		/* the port's fd (the port's), or -1 */
	int tfd;		/* our timerfd, or -1 */
	struct shmk_port *port;
	int64_t period;		/* deadline or interval, ns */
	void *user;
};

struct shmk_waitset {
	int ep;
	int n, cap;		/* attachments in use up to n, room for cap */
	struct ws_att *a;
};

static int timer_arm(int tfd, int64_t ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ns / 1000000000;
	its.it_value.tv_nsec = ns % 1000000000;
	its.it_interval = its.it_value;
	return timerfd_settime(tfd, 0, &its, NULL) ? -errno : 0;
}

SHMK_API int shmk_waitset_create(struct shmk_waitset **out)
{
	struct shmk_waitset *ws;

	if (!out)
		return -EINVAL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->ep = epoll_create1(EPOLL_CLOEXEC);
	if (ws->ep < 0) {
		int ret = -errno;

		free(ws);
		return ret;
	}
	*out = ws;
	return 0;
}

static void att_free(struct shmk_waitset *ws, struct ws_att *a)
{
	if (a->pfd >= 0)
		(void)epoll_ctl(ws->ep, EPOLL_CTL_DEL, a->pfd, NULL);
	if (a->tfd >= 0)
		close(a->tfd);	/* leaves the epoll set with its last fd */
	memset(a, 0, sizeof(*a));
	a->kind = ATT_FREE;
	a->pfd = a->tfd = -1;
}

SHMK_API void shmk_waitset_destroy(struct shmk_waitset *ws)
{
	int i;

	if (!ws)
		return;
	for (i = 0; i < ws->n; i++)
		if (ws->a[i].tfd >= 0)
			close(ws->a[i].tfd);
	close(ws->ep);
	free(ws->a);
	free(ws);
}

/* A free attachment's id (growing the table), or -ENOMEM. */
static int att_new(struct shmk_waitset *ws)
{
	struct ws_att *na;
	int i, cap;

	for (i = 0; i < ws->n; i++)
		if (ws->a[i].kind == ATT_FREE)
			return i;
	if (ws->n == ws->cap) {
		if (ws->cap >= WS_MAX_ATT / 2)
			return -ENOMEM;
		cap = ws->cap ? ws->cap * 2 : 8;
		na = realloc(ws->a, (size_t)cap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		ws->a = na;
		ws->cap = cap;
	}
	i = ws->n++;
	memset(&ws->a[i], 0, sizeof(ws->a[i]));
	ws->a[i].kind = ATT_FREE;
	ws->a[i].pfd = ws->a[i].tfd = -1;
	return i;
}

static int ep_add(struct shmk_waitset *ws, int fd, int id, int timer)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.u64 = (uint64_t)id << 1 | (uint64_t)timer;
	return epoll_ctl(ws->ep, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

/* Attachment @id's timer, armed with @ns, in the set. */
static int att_timer(struct shmk_waitset *ws, int id, int64_t ns)
{
	struct ws_att *a = &ws->a[id];
	int ret;

	a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->tfd < 0)
		return -errno;
	ret = timer_arm(a->tfd, ns);
	if (!ret)
		ret = ep_add(ws, a->tfd, id, 1);
	return ret;
}

SHMK_API int shmk_waitset_attach_port(struct shmk_waitset *ws,
				      struct shmk_port *p,
				      int64_t deadline_ns, void *user)
{
	struct ws_att *a;
	int id, fd, ret, i;

	if (!ws || !p || deadline_ns < 0)
		return -EINVAL;
	for (i = 0; i < ws->n; i++)
		if (ws->a[i].kind == ATT_PORT && ws->a[i].port == p)
			return -EEXIST;
	fd = shmk_port_fd(p);
	if (fd < 0)
		return fd;
	id = att_new(ws);
	if (id < 0)
		return id;
	a = &ws->a[id];
	a->kind = ATT_PORT;
	a->port = p;
	a->period = deadline_ns;
	a->user = user;
	ret = ep_add(ws, fd, id, 0);
	if (ret) {
		att_free(ws, a);
		return ret;
	}
	a->pfd = fd;
	if (deadline_ns > 0) {
		ret = att_timer(ws, id, deadline_ns);
		if (ret) {
			att_free(ws, a);
			return ret;
		}
	}
	return id;
}

SHMK_API int shmk_waitset_attach_interval(struct shmk_waitset *ws,
					  int64_t interval_ns, void *user)
{
	struct ws_att *a;
	int id, ret;

	if (!ws || interval_ns <= 0)
		return -EINVAL;
	id = att_new(ws);
	if (id < 0)
		return id;
	a = &ws->a[id];
	a->kind = ATT_INTERVAL;
	a->period = interval_ns;
	a->user = user;
	ret = att_timer(ws, id, interval_ns);
	if (ret) {
		att_free(ws, a);
		return ret;
	}
	return id;
}

SHMK_API int shmk_waitset_detach(struct shmk_waitset *ws, int id)
{
	if (!ws)
		return -EINVAL;
	if (id < 0 || id >= ws->n || ws->a[id].kind == ATT_FREE)
		return -ENOENT;
	att_free(ws, &ws->a[id]);
	return 0;
}

SHMK_API int shmk_waitset_fd(const struct shmk_waitset *ws)
{
	return ws ? ws->ep : -EINVAL;
}

/* One epoll event: fill @out and return 1, or 0 when it is nothing now. */
static int ws_event(struct shmk_waitset *ws, uint64_t data,
		    struct shmk_waitset_event *out)
{
	uint64_t id = data >> 1, x;
	struct ws_att *a;

	if (id >= (uint64_t)ws->n || ws->a[id].kind == ATT_FREE)
		return 0;
	a = &ws->a[id];
	if (!(data & 1)) {
		if (a->kind != ATT_PORT)
			return 0;
		/* Readiness restarts the deadline (and clears a pending one). */
		if (a->tfd >= 0)
			(void)timer_arm(a->tfd, a->period);
		out->what = SHMK_WS_READY;
	} else {
		/* -EAGAIN: the deadline was restarted since epoll saw it. */
		if (a->tfd < 0 || read(a->tfd, &x, sizeof(x)) != sizeof(x))
			return 0;
		out->what = a->kind == ATT_PORT ? SHMK_WS_DEADLINE : SHMK_WS_TICK;
	}
	out->id = (int)id;
	out->user = a->user;
	return 1;
}

SHMK_API int shmk_waitset_wait(struct shmk_waitset *ws,
			       struct shmk_waitset_event *ev,
			       unsigned int max, int64_t timeout_ns)
{
	struct epoll_event e[WS_MAX_EVENTS];
	int64_t deadline = shmk_deadline(timeout_ns), left;
	int n, i, ms, out;

	if (!ws || !ev || !max)
		return -EINVAL;
	for (;;) {
		left = shmk_remaining(deadline);
		if (left < 0)
			ms = -1;
		else if (left > (int64_t)INT_MAX * 1000000)
			ms = INT_MAX;
		else	/* rounded up: never before the deadline */
			ms = (int)((left + 999999) / 1000000);
		n = epoll_wait(ws->ep, e, max < WS_MAX_EVENTS ? (int)max :
			       WS_MAX_EVENTS, ms);
		if (n < 0)
			return -errno;
		for (i = 0, out = 0; i < n; i++)
			out += ws_event(ws, e[i].data.u64, &ev[out]);
		if (out)
			return out;
		if (timeout_ns == 0)
			return -EAGAIN;
		if (n == 0 && shmk_remaining(deadline) == 0)
			return -ETIMEDOUT;
	}
}
