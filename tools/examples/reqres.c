// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * reqres: zero-copy request-response between terminals, with streams.
 *
 *   reqres server NAME [COUNT]  answer COUNT requests (default 5): each
 *                               word upper case, one response per word,
 *                               the last one flagged as the stream's end
 *   reqres client NAME [COUNT]  send COUNT requests, print every response
 *                               and the end of the streams
 *   reqres cancel NAME          send one request of 40 words, take the
 *                               first response, then cancel: the server
 *                               is told and stops its stream
 *
 * Up to two servers may run at once: each receives every request and
 * answers with a stream of its own; the client tells them apart by
 * origin.  A server must be there first (the client waits up to a second
 * for it, and for each response).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmk/shmk.h>

/*
 * Answer one request: one response per word, the last flagged.  Stops
 * with -ECANCELED when the client no longer wants the rest (it cancelled,
 * or left).
 */
static int serve(struct shmk_port *p, const struct shmk_sample *req)
{
	const char *in = req->data;
	size_t len = req->len, i = 0, k;
	char *pl;
	int ret;

	while (i < len && in[i]) {
		size_t start = i, end;

		while (i < len && in[i] && in[i] != ' ')
			i++;
		end = i;
		while (i < len && in[i] == ' ')
			i++;
		/* Asked between responses: no loan for a cancelled request. */
		if (shmk_server_cancelled(p, req) == 1)
			return -ECANCELED;
		ret = shmk_pub_loan(p, (void **)&pl);
		if (ret)
			return ret;
		for (k = start; k < end; k++)
			pl[k - start] = (char)toupper(in[k]);
		/*
		 * Waits while the client has a buffer of our responses
		 * unread; a cancel ends the wait with -ECANCELED, and
		 * nothing is published.
		 */
		ret = shmk_server_stream(p, req, pl, end - start,
					 i < len && in[i] ? 0 : SHMK_RESP_LAST,
					 1000000000LL);
		if (ret) {
			shmk_pub_discard(p, pl);
			return ret;
		}
	}
	/* An empty request: end the stream without a payload. */
	return len && in[0] ? 0 : shmk_server_end(p, req, 1000000000LL);
}

int main(int argc, char **argv)
{
	struct shmk_svc_config c = { .size = sizeof(c), .kind = SHMK_SVC_REQRES,
				     .payload_max = 256, .max_subscribers = 2 };
	struct shmk_service *s;
	struct shmk_port *p;
	struct shmk_sample smp;
	int n, i, ret;
	char *pl;

	if (argc < 3 || (strcmp(argv[1], "server") &&
			 strcmp(argv[1], "client") &&
			 strcmp(argv[1], "cancel"))) {
		fprintf(stderr, "usage: %s server|client|cancel NAME [COUNT]\n",
			argv[0]);
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
			/* A signal (even stop and continue) ends the wait: retry. */
			do
				ret = shmk_server_receive(p, &smp, SHMK_FOREVER);
			while (ret == -EINTR);
			if (ret)
				break;
			printf("request %llu from client slot %u: %.*s\n",
			       (unsigned long long)smp.corr, smp.origin,
			       (int)smp.len, (const char *)smp.data);
			/* Fire-and-forget requests get no answer. */
			if (!(shmk_sample_flags(&smp) & SHMK_REQ_NO_RESPONSE))
				ret = serve(p, &smp);
			if (ret == -ECANCELED) {
				printf("  the client cancelled: "
				       "stream stopped\n");
				ret = 0;
			}
			shmk_sub_release(p, &smp);
		}
		/* Responses not yet received when a server leaves are lost. */
		if (!ret)
			shmk_pub_drain(p, 1000000000LL);
	} else if (argv[1][1] == 'a') {
		/* cancel: take one response of a long stream, then stop it. */
		uint64_t corr;
		size_t off = 0;

		ret = shmk_client_open(s, &p);
		if (!ret)
			ret = shmk_pub_loan(p, (void **)&pl);
		for (i = 0; !ret && i < 40; i++)
			off += (size_t)snprintf(pl + off, 256 - off, "%sw%d",
						i ? " " : "", i);
		if (!ret)
			ret = shmk_client_request(p, pl, off + 1, 0, &corr,
						  NULL, 1000000000LL);
		if (!ret)
			ret = shmk_client_receive_for(p, corr, &smp,
						      1000000000LL);
		if (!ret) {
			printf("first response: %.*s\n", (int)smp.len,
			       (const char *)smp.data);
			shmk_sub_release(p, &smp);
			/* The server is told: its stream stops. */
			ret = shmk_client_cancel(p, corr);
			printf("cancelled request %llu\n",
			       (unsigned long long)corr);
		}
	} else {
		ret = shmk_client_open(s, &p);
		for (i = 0; !ret && i < n; i++) {
			uint32_t servers;
			uint64_t corr;

			ret = shmk_pub_loan(p, (void **)&pl);
			if (ret)
				break;
			snprintf(pl, 256, "hello number %d", i);
			ret = shmk_client_request(p, pl, strlen(pl) + 1, 0, &corr,
						  &servers, 1000000000LL);
			if (ret) {
				shmk_pub_discard(p, pl);
				break;
			}
			printf("request %llu sent to %u server(s)\n",
			       (unsigned long long)corr, servers);
			while ((ret = shmk_client_receive_for(p, corr, &smp,
							      1000000000LL)) == 0) {
				printf("  from server slot %u: %.*s%s\n", smp.origin,
				       (int)smp.len, (const char *)smp.data,
				       shmk_sample_flags(&smp) & SHMK_RESP_LAST ?
				       " (end)" : "");
				shmk_sub_release(p, &smp);
			}
			if (ret == -ENODATA) {
				ret = 0;	/* every stream ended */
			} else if (ret == -ECONNRESET) {
				printf("  a server went away mid-stream\n");
				ret = 0;
			} else if (ret == -ETIMEDOUT) {
				shmk_client_cancel(p, corr);
			}
		}
	}
	if (ret)
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-ret));
	else
		shmk_port_close(p);
	shmk_service_close(s);
	return ret ? 1 : 0;
}
