// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pubsub: zero-copy publish-subscribe between two terminals.
 *
 *   pubsub sub NAME [COUNT]     receive COUNT samples (default 10), blocking
 *   pubsub pub NAME [COUNT]     publish COUNT samples, one every 100 ms
 *
 * Either side may start first; the service is created by whoever comes
 * first (history 4: a late subscriber sees the last four samples).  The
 * publisher loans a chunk, writes its text in place and publishes: only
 * the chunk's index moves.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_PUBSUB,
				     .payload_max = 256, .history = 4 };
	struct shmk_service *s;
	struct shmk_port *p;
	int n, i, ret;

	if (argc < 3 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub"))) {
		fprintf(stderr, "usage: %s pub|sub NAME [COUNT]\n", argv[0]);
		return 2;
	}
	n = argc > 3 ? atoi(argv[3]) : 10;
	ret = shmk_service_open(argv[2], &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		/* shmk_last_error() says which field differs, when it can. */
		fprintf(stderr, "service %s: %s%s%s\n", argv[2], strerror(-ret),
			*shmk_last_error() ? ": " : "", shmk_last_error());
		return 1;
	}
	if (argv[1][0] == 'p') {
		ret = shmk_pub_open(s, &p);
		for (i = 0; !ret && i < n; i++) {
			char *pl;

			ret = shmk_pub_loan(p, (void **)&pl);
			if (ret)
				break;
			snprintf(pl, 256, "sample %d from pid %d", i, (int)getpid());
			ret = shmk_pub_publish(p, pl, strlen(pl) + 1, 0);
			if (!ret)
				printf("published: %s\n", pl);
			nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		}
		if (!ret)
			shmk_pub_drain(p, 1000000000LL);	/* deliver before leaving */
	} else {
		ret = shmk_sub_open(s, &p);
		for (i = 0; !ret && i < n; i++) {
			struct shmk_sample smp;

			/* A signal (even stop and continue) ends the wait: retry. */
			do
				ret = shmk_sub_receive(p, &smp, SHMK_FOREVER);
			while (ret == -EINTR);
			if (ret)
				break;
			printf("received (publisher slot %u, seq %llu): %.*s\n",
			       smp.origin, (unsigned long long)smp.seq,
			       (int)smp.len, (const char *)smp.data);
			shmk_sub_release(p, &smp);
		}
	}
	if (ret)
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-ret));
	else
		shmk_port_close(p);
	shmk_service_close(s);
	return ret ? 1 : 0;
}
