// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * waitset-epoll: a WaitSet inside an existing epoll loop, next to a
 * timerfd and a socket.
 *
 * The program makes a publish-subscribe service and a socket pair, then
 * forks a publisher that sends COUNT samples, one every 20 ms, with a
 * pause of 300 ms in the middle, and finally writes "bye" to the socket.
 * The parent subscribes and puts into one epoll set:
 *
 *   - the WaitSet's fd (shmk_waitset_fd()), the WaitSet holding the
 *     subscriber with a 150 ms deadline and a 100 ms interval;
 *   - a timerfd of its own (a status line every 250 ms);
 *   - its end of the socket pair.
 *
 * When epoll says the WaitSet is readable, shmk_waitset_wait() with
 * timeout 0 tells which attachment fired; a ready subscriber is received
 * from with timeout 0 until -EAGAIN.  The pause makes the deadline fire.
 * The program exits 0 once every sample arrived, in order, and the
 * socket said "bye".  Runs on either backend (SHMK_BACKEND=memfd on a
 * machine without /dev/shmk).
 *
 * usage: waitset-epoll [COUNT]      (default 20)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.h>

enum { TAG_WAITSET = 1, TAG_TIMER = 2, TAG_SOCKET = 3 };

static int fail(const char *what, int err)
{
	fprintf(stderr, "waitset-epoll: %s: %s%s%s\n", what, strerror(err),
		*shmk_last_error() ? ": " : "", shmk_last_error());
	return 1;
}

static void publisher(const char *name, unsigned int count, int sock)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB };
	struct shmk_service *s;
	struct shmk_port *p;
	unsigned int i;

	if (shmk_service_open(name, &c, 0, &s) || shmk_pub_open(s, &p))
		_exit(1);
	for (i = 0; i < count; i++) {
		usleep(i == count / 2 ? 300000 : 20000);
		if (shmk_pub_send_copy(p, &i, sizeof(i), SHMK_FOREVER))
			_exit(2);
	}
	/* Deliver everything before leaving: a closing publisher drops. */
	if (shmk_pub_drain(p, 5000000000LL))
		_exit(3);
	shmk_port_close(p);
	shmk_service_close(s);
	_exit(write(sock, "bye", 3) == 3 ? 0 : 4);
}

/* Add @fd to @ep with @tag. */
static int watch(int ep, int fd, uint64_t tag)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .overflow = SHMK_OVERFLOW_BLOCK };
	struct itimerspec its = { .it_value = { 0, 250000000 },
				  .it_interval = { 0, 250000000 } };
	unsigned int count = argc > 1 ? (unsigned int)atoi(argv[1]) : 20;
	unsigned int next = 0, ticks = 0, deadlines = 0, v;
	struct shmk_waitset_event wev[8];
	struct shmk_waitset *ws;
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	struct epoll_event ev[4];
	int ep, tfd, sv[2], ret, n, i, k, bye = 0, status;
	char name[48], buf[8];
	pid_t pid;

	snprintf(name, sizeof(name), "waitset-epoll-%d", (int)getpid());
	ret = shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s);
	if (ret)
		return fail("service", -ret);
	ret = shmk_sub_open(s, &sub);
	if (ret)
		return fail("subscriber", -ret);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return fail("socketpair", errno);
	pid = fork();
	if (pid < 0)
		return fail("fork", errno);
	if (pid == 0)
		publisher(name, count, sv[1]);
	close(sv[1]);

	/* The WaitSet: the subscriber (deadline 150 ms) and a 100 ms tick. */
	ret = shmk_waitset_create(&ws);
	if (!ret)
		ret = shmk_waitset_attach_port(ws, sub, 150000000LL, sub);
	if (ret >= 0)
		ret = shmk_waitset_attach_interval(ws, 100000000LL, NULL);
	if (ret < 0)
		return fail("waitset", -ret);

	/* The application's own loop: the WaitSet is one fd among others. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL))
		return fail("epoll/timerfd", errno);
	if ((ret = watch(ep, shmk_waitset_fd(ws), TAG_WAITSET)) ||
	    (ret = watch(ep, tfd, TAG_TIMER)) ||
	    (ret = watch(ep, sv[0], TAG_SOCKET)))
		return fail("epoll_ctl", -ret);

	while (next < count || !bye) {
		n = epoll_wait(ep, ev, 4, 10000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail("epoll_wait", n ? errno : ETIMEDOUT);
		for (i = 0; i < n; i++) {
			switch (ev[i].data.u64) {
			case TAG_TIMER: {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) == sizeof(x))
					printf("status: %u/%u samples, %u ticks, %u deadlines missed\n",
					       next, count, ticks, deadlines);
				break;
			}
			case TAG_SOCKET:
				ret = (int)read(sv[0], buf, sizeof(buf));
				if (ret == 3 && !memcmp(buf, "bye", 3))
					bye = 1;
				else if (ret == 0)	/* closed without "bye" */
					return fail("publisher", EPIPE);
				break;
			case TAG_WAITSET:
				k = shmk_waitset_wait(ws, wev, 8, 0);
				if (k == -EAGAIN)	/* a deadline was just restarted */
					break;
				if (k < 0)
					return fail("shmk_waitset_wait", -k);
				while (k-- > 0) {
					if (wev[k].what == SHMK_WS_TICK) {
						ticks++;
						continue;
					}
					if (wev[k].what == SHMK_WS_DEADLINE) {
						deadlines++;
						printf("deadline: no sample for 150 ms\n");
						continue;
					}
					/* Ready: receive until -EAGAIN (re-arms). */
					while ((ret = shmk_sub_receive(sub, &smp, 0)) == 0) {
						memcpy(&v, smp.data, sizeof(v));
						if (v != next)
							return fail("order", EBADMSG);
						next++;
						shmk_sub_release(sub, &smp);
					}
					if (ret != -EAGAIN)
						return fail("receive", -ret);
				}
				break;
			}
		}
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return fail("publisher exit", ECHILD);
	printf("waitset-epoll: %u samples in order, %u ticks, %u deadline(s) missed\n",
	       next, ticks, deadlines);
	shmk_waitset_destroy(ws);
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
	close(ep);
	close(tfd);
	close(sv[0]);
	return deadlines ? 0 : fail("no deadline during the pause", ETIME);
}
