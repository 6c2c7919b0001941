// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * event: event ids between two terminals.
 *
 *   event listen NAME [COUNT]   wait for COUNT ids (default 3); on the
 *                               device backend through epoll on the
 *                               listener's fd, else a blocking wait
 *   event notify NAME ID...     signal each ID (0..63) to every listener
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <shmk/shmk.h>

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_EVENT,
				     .max_events = 64 };
	struct shmk_service *s;
	struct shmk_port *p;
	int i, ret, got = 0, n, fd, ep = -1;
	uint32_t ids[64];

	if (argc < 3 || (strcmp(argv[1], "listen") && strcmp(argv[1], "notify"))) {
		fprintf(stderr, "usage: %s listen NAME [COUNT] | notify NAME ID...\n",
			argv[0]);
		return 2;
	}
	ret = shmk_service_open(argv[2], &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		/* shmk_last_error() says which field differs, when it can. */
		fprintf(stderr, "service %s: %s%s%s\n", argv[2], strerror(-ret),
			*shmk_last_error() ? ": " : "", shmk_last_error());
		return 1;
	}
	if (argv[1][0] == 'n') {
		ret = shmk_notifier_open(s, &p);
		for (i = 3; !ret && i < argc; i++) {
			ret = shmk_notifier_notify(p, (uint32_t)atoi(argv[i]));
			if (ret >= 0) {
				printf("event %s: %d listener(s)\n", argv[i], ret);
				ret = 0;
			}
		}
	} else {
		n = argc > 3 ? atoi(argv[3]) : 3;
		ret = shmk_listener_open(s, &p);
		fd = ret ? -1 : shmk_listener_fd(p);
		if (fd >= 0) {
			struct epoll_event ev = { .events = EPOLLIN };

			ep = epoll_create1(EPOLL_CLOEXEC);
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			printf("waiting with epoll on the listener fd %d\n", fd);
		}
		while (!ret && got < n) {
			int k;

			if (ep >= 0) {
				struct epoll_event ev;

				if (epoll_wait(ep, &ev, 1, -1) != 1)
					continue;
				k = shmk_listener_wait(p, ids, 64, 0);
				if (k == -EAGAIN)
					continue;
			} else {
				k = shmk_listener_wait(p, ids, 64, SHMK_FOREVER);
			}
			if (k == -EINTR)	/* a signal, even stop and continue */
				continue;
			if (k < 0) {
				ret = k;
				break;
			}
			for (i = 0; i < k; i++)
				printf("event id %u\n", ids[i]);
			got += k;
		}
		if (ep >= 0)
			close(ep);
	}
	if (ret)
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-ret));
	else
		shmk_port_close(p);
	shmk_service_close(s);
	return ret ? 1 : 0;
}
