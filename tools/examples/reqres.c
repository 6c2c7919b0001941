// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * reqres: zero-copy request-response between two terminals.
 *
 *   reqres server NAME [COUNT]  answer COUNT requests (default 5): upper case
 *   reqres client NAME [COUNT]  send COUNT requests, print each answer
 *
 * The server must be there first (the client waits up to a second for
 * each answer and says so when none comes).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmk/shmk.h>

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_REQRES,
				     .payload_max = 256 };
	struct shmk_service *s;
	struct shmk_port *p;
	struct shmk_sample smp;
	int n, i, ret;
	char *pl;

	if (argc < 3 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
		fprintf(stderr, "usage: %s server|client NAME [COUNT]\n", argv[0]);
		return 2;
	}
	n = argc > 3 ? atoi(argv[3]) : 5;
	ret = shmk_service_open(argv[2], &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		/* shmk_last_error() says which field differs, when it can. */
		fprintf(stderr, "service %s: %s%s%s\n", argv[2], strerror(-ret),
			*shmk_last_error() ? ": " : "", shmk_last_error());
		return 1;
	}
	if (argv[1][0] == 's') {
		ret = shmk_server_open(s, &p);
		for (i = 0; !ret && i < n; i++) {
			size_t k;

			/* A signal (even stop and continue) ends the wait: retry. */
			do
				ret = shmk_server_receive(p, &smp, SHMK_FOREVER);
			while (ret == -EINTR);
			if (ret)
				break;
			ret = shmk_pub_loan(p, (void **)&pl);
			if (!ret) {
				for (k = 0; k < smp.len; k++)
					pl[k] = (char)toupper(((const char *)smp.data)[k]);
				printf("request %llu from client slot %u: %.*s\n",
				       (unsigned long long)smp.corr, smp.origin,
				       (int)smp.len, (const char *)smp.data);
				ret = shmk_server_respond(p, &smp, pl, smp.len);
			}
			shmk_sub_release(p, &smp);
		}
		if (!ret)
			shmk_pub_drain(p, 1000000000LL);
	} else {
		ret = shmk_client_open(s, &p);
		for (i = 0; !ret && i < n; i++) {
			uint64_t corr;

			ret = shmk_pub_loan(p, (void **)&pl);
			if (ret)
				break;
			snprintf(pl, 256, "hello number %d", i);
			ret = shmk_client_send(p, pl, strlen(pl) + 1, &corr);
			if (ret)
				break;
			ret = shmk_client_receive(p, &smp, 1000000000LL);
			if (ret)
				break;
			printf("response to %llu: %.*s\n", (unsigned long long)smp.corr,
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
