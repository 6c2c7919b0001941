// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmkctl: services.  The messaging layer's public API only
 * (<shmk/service.h>, <shmk/inspect.h>), never its layout.  A service is
 * opened without a configuration (any kind) to read its configuration,
 * occupancy and participants, then closed; that takes no participant
 * slot, and nothing here reclaims a dead participant.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <shmk/shmk.h>

#include "shmkctl.h"

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case SHMK_SVC_PUBSUB: return "pubsub";
	case SHMK_SVC_REQRES: return "reqres";
	case SHMK_SVC_EVENT: return "event";
	case SHMK_SVC_BLACKBOARD: return "bboard";
	default: return "?";
	}
}

/* What a command needing @kind says of another kind. */
static const char *kind_needed(unsigned int kind)
{
	switch (kind) {
	case SHMK_SVC_PUBSUB: return "a publish-subscribe (pubsub) service";
	case SHMK_SVC_EVENT: return "an event service";
	default: return "a request-response service";
	}
}

int create_opt(int c, const char *arg, struct create_opts *o)
{
	uint64_t v;
	char *end;

	switch (c) {
	case OPT_CREATE:
		o->create = true;
		return EXIT_OK;
	case OPT_PAYLOAD:
		if (!parse_u64("payload", arg, 1, SHMK_SVC_PAYLOAD_MAX, &v))
			return EXIT_USAGE;
		o->payload_max = (uint32_t)v;
		break;
	case OPT_PUBLISHERS:
		if (!parse_u64("publishers", arg, 1, SHMK_SVC_SLOTS_MAX - 1, &v))
			return EXIT_USAGE;
		o->publishers = (uint32_t)v;
		break;
	case OPT_SUBSCRIBERS:
		if (!parse_u64("subscribers", arg, 1, SHMK_SVC_SLOTS_MAX - 1, &v))
			return EXIT_USAGE;
		o->subscribers = (uint32_t)v;
		break;
	case OPT_BUFFER:
		if (!parse_u64("buffer", arg, 1, SHMK_SVC_RING_MAX, &v))
			return EXIT_USAGE;
		o->buffer = (uint32_t)v;
		break;
	case OPT_HISTORY:
		if (!parse_u64("history", arg, 0, SHMK_SVC_RING_MAX, &v))
			return EXIT_USAGE;
		o->history = (uint32_t)v;
		break;
	case OPT_OVERFLOW:
		if (!strcmp(arg, "safe")) {
			o->overflow = SHMK_OVERFLOW_SAFE;
		} else if (!strcmp(arg, "block")) {
			o->overflow = SHMK_OVERFLOW_BLOCK;
		} else {
			fprintf(stderr, PROG ": bad overflow '%s' (safe or block)\n", arg);
			return EXIT_USAGE;
		}
		break;
	case OPT_EVENTS:
		if (!parse_u64("events", arg, 1, SHMK_SVC_EVENTS_MAX, &v))
			return EXIT_USAGE;
		o->events = (uint32_t)v;
		break;
	case OPT_MODE:
		errno = 0;
		v = strtoul(arg, &end, 8);
		if (errno || *end || !*arg || v > 0777 || !v) {
			fprintf(stderr, PROG ": bad mode '%s' (octal, 1 to 0777)\n", arg);
			return EXIT_USAGE;
		}
		o->mode = (uint32_t)v;
		break;
	case OPT_ZERO_TRUST:
		o->mode_flags |= SHMK_SVC_ZERO_TRUST;
		break;
	case OPT_DYNAMIC:
		/* Dynamic payloads are zero-trust ones that grow. */
		o->mode_flags |= SHMK_SVC_ZERO_TRUST | SHMK_SVC_DYNAMIC;
		break;
	default:
		return EXIT_USAGE;	/* getopt printed the reason */
	}
	o->configured = true;
	return EXIT_OK;
}

int svc_open(const char *name, unsigned int kind, const char *cmd,
	     const struct create_opts *o, struct shmk_service **out)
{
	struct shmk_svc_config c = { .size = sizeof(c) }, want = c;
	int ret;

	if (o && o->configured && !o->create) {
		fprintf(stderr, PROG ": %s: the configuration options (--payload, "
			"--buffer, ...) go with --create\n", cmd);
		return EXIT_USAGE;
	}
	if (o && o->create) {
		want.kind = kind;
		want.payload_max = o->payload_max;
		want.max_publishers = o->publishers;
		want.max_subscribers = o->subscribers;
		if (kind == SHMK_SVC_REQRES && !want.max_subscribers)
			want.max_subscribers = 1;
		want.buffer = o->buffer;
		want.history = o->history;
		want.overflow = o->overflow;
		want.max_events = o->events;
		want.mode = o->mode | o->mode_flags;
		ret = shmk_service_open(name, &want, SHMK_SVC_CREATE, out);
	} else {
		ret = shmk_service_open(name, NULL, 0, out);
	}
	if (ret == -ENOENT) {
		fprintf(stderr, PROG ": %s: no such service (--create makes it)\n", name);
		return EXIT_NOENT;
	}
	if (ret == -EPROTOTYPE) {
		fprintf(stderr, PROG ": %s: the service exists with another "
			"configuration: %s\n", name, shmk_last_error());
		return EXIT_KIND;
	}
	if (ret == -EINVAL || ret == -ENAMETOOLONG) {
		const char *why = shmk_last_error();

		fprintf(stderr, PROG ": %s: %s\n", name, *why ? why :
			"bad service name (1 to 59 printable characters, no '/')");
		return EXIT_USAGE;
	}
	if (ret) {
		const char *why = shmk_last_error();

		fprintf(stderr, PROG ": %s: %s%s%s\n", name, strerror(-ret),
			*why ? ": " : "", why);
		return exit_code(-ret);
	}
	shmk_service_config(*out, &c);
	if (kind && c.kind != kind) {
		fprintf(stderr, PROG ": %s is a %s service; %s needs %s\n", name,
			kind_name(c.kind), cmd, kind_needed(kind));
		shmk_service_close(*out);
		return EXIT_KIND;
	}
	return EXIT_OK;
}

/* All service names; NULL (message printed) on failure. */
static char (*service_names(int *n))[SHMK_SVC_NAME_MAX]
{
	char (*names)[SHMK_SVC_NAME_MAX];
	int m, room;

	*n = shmk_service_list(NULL, 0);
	if (*n < 0) {
		fail(-*n, "services");
		return NULL;
	}
	/* Room for some that appear meanwhile. */
	room = *n + 8;
	names = calloc((size_t)room, sizeof(*names));
	if (!names) {
		fail(ENOMEM, "services");
		return NULL;
	}
	m = shmk_service_list(names, (size_t)room);
	if (m < 0) {
		free(names);
		fail(-m, "services");
		return NULL;
	}
	*n = m < room ? m : room;
	qsort(names, (size_t)*n, sizeof(*names),
	      (int (*)(const void *, const void *))strcmp);
	return names;
}

/* One service's summary, from the public API. */
struct summary {
	struct shmk_svc_config c;
	uint32_t used, total, parts, prods, cons, queued, dead;
};

static void summarize(struct shmk_service *svc, struct summary *m)
{
	memset(m, 0, sizeof(*m));
	m->c.size = sizeof(m->c);
	shmk_service_config(svc, &m->c);
	m->used = shmk_service_chunks_used(svc);
	m->total = shmk_service_chunks(svc);
	m->parts = shmk_service_participants(svc);
	shmk_service_roles(svc, &m->prods, &m->cons);
	m->queued = shmk_service_backlog(svc);
	m->dead = shmk_service_dead(svc);
}

static void json_config(const struct shmk_svc_config *c)
{
	printf(",\"kind\":\"%s\",\"payload_max\":%llu,\"max_publishers\":%u,"
	       "\"max_subscribers\":%u,\"buffer\":%u,\"history\":%u,"
	       "\"overflow\":\"%s\",\"max_loans\":%u,\"max_borrow\":%u,"
	       "\"max_events\":%u,\"mode\":\"%04o\",\"zero_trust\":%s,"
	       "\"dynamic\":%s",
	       kind_name(c->kind), (unsigned long long)c->payload_max,
	       c->max_publishers, c->max_subscribers, c->buffer, c->history,
	       c->overflow == SHMK_OVERFLOW_BLOCK ? "block" : "safe",
	       c->max_loans, c->max_borrow, c->max_events, c->mode & 0777,
	       (c->mode & SHMK_SVC_ZERO_TRUST) ? "true" : "false",
	       (c->mode & SHMK_SVC_DYNAMIC) ? "true" : "false");
}

static void json_summary(const struct summary *m)
{
	json_config(&m->c);
	printf(",\"participants\":%u,\"producers\":%u,\"consumers\":%u,"
	       "\"dead\":%u,\"backlog\":%u,\"chunks\":%u,\"chunks_used\":%u",
	       m->parts, m->prods, m->cons, m->dead, m->queued, m->total,
	       m->used);
}

static void json_error(const char *name, int err)
{
	printf("{\"name\":");
	json_str(name);
	printf(",\"error\":");
	json_str(strerror(err));
	putchar('}');
}

int cmd_services(void)
{
	char (*names)[SHMK_SVC_NAME_MAX];
	int n, i, shown = 0;

	names = service_names(&n);
	if (!names)
		return EXIT_FAIL;
	if (opt_json)
		printf("{\"backend\":\"%s\",\"services\":[", backend_name());
	else
		printf("%-24s %-6s %8s %6s %6s %6s %7s %7s %5s %6s %11s %s\n",
		       "SERVICE", "KIND", "PAYLOAD", "MAXPUB", "MAXSUB", "BUFFER",
		       "PRODS", "CONS", "DEAD", "QUEUED", "CHUNKS", "OVERFLOW");
	for (i = 0; i < n; i++) {
		struct shmk_service *svc;
		struct summary m;
		int ret = shmk_service_open(names[i], NULL, 0, &svc);

		if (ret == -ENOENT)
			continue;	/* gone since the listing */
		if (ret) {
			if (opt_json) {
				if (shown++)
					putchar(',');
				json_error(names[i], -ret);
			} else {
				printf("%-24s (%s)\n", names[i], strerror(-ret));
			}
			continue;
		}
		summarize(svc, &m);
		shmk_service_close(svc);
		if (opt_json) {
			printf("%s{\"name\":", shown++ ? "," : "");
			json_str(names[i]);
			json_summary(&m);
			putchar('}');
		} else {
			char pb[16], cb[24];

			snprintf(cb, sizeof(cb), "%u/%u", m.used, m.total);
			printf("%-24s %-6s %8s %6u %6u %6u %7u %7u %5u %6u %11s %s\n",
			       names[i], kind_name(m.c.kind),
			       m.c.kind == SHMK_SVC_EVENT ? "-" :
			       human(m.c.payload_max, pb, sizeof(pb)),
			       m.c.max_publishers, m.c.max_subscribers, m.c.buffer,
			       m.prods, m.cons, m.dead, m.queued, cb,
			       m.c.overflow == SHMK_OVERFLOW_BLOCK ? "block" : "safe");
		}
	}
	if (opt_json)
		printf("]}\n");
	free(names);
	return EXIT_OK;
}

void top_services(bool json)
{
	char (*names)[SHMK_SVC_NAME_MAX];
	int n, i, shown = 0;

	names = service_names(&n);
	if (json)
		printf(",\"services\":[");
	else if (names && n)
		printf("\n%-24s %-6s %6s %5s %6s %11s\n", "SERVICE", "KIND",
		       "PARTS", "DEAD", "QUEUED", "CHUNKS");
	for (i = 0; names && i < n; i++) {
		struct shmk_service *svc;
		struct summary m;
		char cb[24];
		int ret = shmk_service_open(names[i], NULL, 0, &svc);

		if (ret == -ENOENT)
			continue;	/* gone since the listing */
		if (ret) {
			if (json) {
				if (shown++)
					putchar(',');
				json_error(names[i], -ret);
			} else {
				printf("%-24s (%s)\n", names[i], strerror(-ret));
			}
			continue;
		}
		summarize(svc, &m);
		shmk_service_close(svc);
		if (json) {
			printf("%s{\"name\":", shown++ ? "," : "");
			json_str(names[i]);
			json_summary(&m);
			putchar('}');
		} else {
			snprintf(cb, sizeof(cb), "%u/%u", m.used, m.total);
			printf("%-24s %-6s %6u %5u %6u %11s\n", names[i],
			       kind_name(m.c.kind), m.parts, m.dead, m.queued, cb);
		}
	}
	if (json)
		putchar(']');
	free(names);
}

/* service info */

static const char *state_word(const struct shmk_participant_info *e)
{
	if (e->flags & SHMK_PART_GONE)
		return "dead";
	switch (e->state) {
	case SHMK_PART_CLAIMING: return "joining";
	case SHMK_PART_ALIVE: return "alive";
	case SHMK_PART_DEAD: return "dead";
	case SHMK_PART_LEAVING: return "leaving";
	default: return "invalid";
	}
}

static void json_participant(const struct shmk_participant_info *e)
{
	printf("{\"slot\":%u,\"role\":\"%s\",\"pid\":", e->slot,
	       shmk_role_name(e->role));
	if (e->flags & SHMK_PART_PID)
		printf("%u", e->pid);
	else
		printf("null");
	printf(",\"state\":\"%s\",\"alive\":%s,\"generation\":%u,\"published\":",
	       state_word(e), (e->flags & SHMK_PART_GONE) ? "false" : "true",
	       e->generation);
	if (e->flags & SHMK_PART_PRODUCER)
		printf("%" PRIu64, e->published);
	else
		printf("null");
	if (e->flags & (SHMK_PART_CONSUMER | SHMK_PART_PRODUCER))
		printf(",\"lag\":%" PRIu64, e->lag);
	else
		printf(",\"lag\":null");
	if (e->flags & SHMK_PART_CONSUMER)
		printf(",\"drops\":%" PRIu64 "}", e->drops);
	else
		printf(",\"drops\":null}");
}

static void text_participant(const struct shmk_participant_info *e)
{
	char pid[16], pub[24], lag[24], drops[24];

	snprintf(pid, sizeof(pid), (e->flags & SHMK_PART_PID) ? "%u" : "-", e->pid);
	snprintf(pub, sizeof(pub), (e->flags & SHMK_PART_PRODUCER) ? "%" PRIu64 : "-",
		 e->published);
	snprintf(lag, sizeof(lag), (e->flags & (SHMK_PART_CONSUMER |
			SHMK_PART_PRODUCER)) ? "%" PRIu64 : "-", e->lag);
	snprintf(drops, sizeof(drops), (e->flags & SHMK_PART_CONSUMER) ?
		 "%" PRIu64 : "-", e->drops);
	printf("  %4u %-10s %8s %-8s %10s %8s %10s\n", e->slot,
	       shmk_role_name(e->role), pid, state_word(e), lag, drops, pub);
}

static int info_one(const char *name, bool *shown)
{
	static struct shmk_participant_info e[SHMK_SVC_SLOTS_MAX];	/* 56 KiB */
	struct shmk_service *svc;
	struct summary m;
	int n, i, rc;

	rc = svc_open(name, 0, "service info", NULL, &svc);
	if (rc)
		return rc;
	summarize(svc, &m);
	e[0].size = sizeof(e[0]);
	n = shmk_service_inspect(svc, e, SHMK_SVC_SLOTS_MAX);
	shmk_service_close(svc);
	if (n < 0)
		return fail(-n, name);
	if (n > SHMK_SVC_SLOTS_MAX)
		n = SHMK_SVC_SLOTS_MAX;
	if (opt_json) {
		printf("%s{\"name\":", *shown ? "," : "");
		json_str(name);
		json_summary(&m);
		printf(",\"ports\":[");
		for (i = 0; i < n; i++) {
			if (i)
				putchar(',');
			json_participant(&e[i]);
		}
		printf("]}");
	} else {
		const char *a = "publishers:", *b = "subscribers:";
		char pb[16];

		if (m.c.kind == SHMK_SVC_REQRES)
			a = "clients:", b = "servers:";
		else if (m.c.kind == SHMK_SVC_EVENT)
			a = "notifiers:", b = "listeners:";
		else if (m.c.kind == SHMK_SVC_BLACKBOARD)
			a = "writers:", b = "readers:";
		if (*shown)
			putchar('\n');
		printf("service:     %s\n", name);
		printf("kind:        %s\n", kind_name(m.c.kind));
		if (m.c.kind == SHMK_SVC_EVENT)
			printf("event ids:   0 to %u\n", m.c.max_events - 1);
		else if (m.c.kind == SHMK_SVC_BLACKBOARD)
			printf("keys:        up to %u, of %u bytes; values up to %llu bytes\n",
			       m.c.max_events, m.c.buffer,
			       (unsigned long long)m.c.payload_max);
		else
			printf("payload:     %llu bytes (%s)\n",
			       (unsigned long long)m.c.payload_max,
			       human(m.c.payload_max, pb, sizeof(pb)));
		printf("%-13s%u of at most %u\n", a, m.prods, m.c.max_publishers);
		printf("%-13s%u of at most %u\n", b, m.cons, m.c.max_subscribers);
		if (m.c.kind == SHMK_SVC_PUBSUB || m.c.kind == SHMK_SVC_REQRES) {
			printf("buffer:      %u, history %u, overflow %s\n",
			       m.c.buffer, m.c.history,
			       m.c.overflow == SHMK_OVERFLOW_BLOCK ? "block" : "safe");
			printf("chunks:      %u of %u in use\n", m.used, m.total);
			printf("payloads:    %s\n",
			       (m.c.mode & SHMK_SVC_DYNAMIC) ?
			       "zero-trust, dynamic (each producer's own region, growing)" :
			       (m.c.mode & SHMK_SVC_ZERO_TRUST) ?
			       "zero-trust (each producer's own region)" :
			       "shared (one region for all)");
		}
		printf("mode:        %04o\n", m.c.mode & 0777);
		printf("dead:        %u (not yet reclaimed)\n", m.dead);
		printf("participants:\n");
		printf("  %4s %-10s %8s %-8s %10s %8s %10s\n", "SLOT", "ROLE",
		       "PID", "STATE", "LAG", "DROPS", "PUBLISHED");
		for (i = 0; i < n; i++)
			text_participant(&e[i]);
	}
	*shown = true;
	return EXIT_OK;
}

static int service_info(int argc, char **argv)
{
	bool shown = false;
	int k, rc = EXIT_OK, r;

	if (argc < 1) {
		fprintf(stderr, PROG ": service info needs a service name\n");
		return EXIT_USAGE;
	}
	if (opt_json)
		printf("{\"backend\":\"%s\",\"services\":[", backend_name());
	for (k = 0; k < argc; k++) {
		r = info_one(argv[k], &shown);
		if (r)
			rc = r;
	}
	if (opt_json)
		printf("]}\n");
	return rc;
}

static int service_remove(int argc, char **argv)
{
	int k, ret, rc = EXIT_OK;

	if (argc < 1) {
		fprintf(stderr, PROG ": service remove needs a service name\n");
		return EXIT_USAGE;
	}
	for (k = 0; k < argc; k++) {
		ret = shmk_service_remove(argv[k]);
		if (ret == -ENOENT) {
			fprintf(stderr, PROG ": %s: no such service\n", argv[k]);
			rc = EXIT_NOENT;
		} else if (ret == -EINVAL || ret == -ENAMETOOLONG) {
			fprintf(stderr, PROG ": bad service name '%s'\n", argv[k]);
			rc = EXIT_USAGE;
		} else if (ret) {
			rc = fail(-ret, argv[k]);
		}
	}
	return rc;
}

/* shmkctl service SUBCOMMAND ...: argv[0] is "service". */
int cmd_service(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		fprintf(stderr, PROG ": service needs a subcommand: list, info, remove\n");
		return EXIT_USAGE;
	}
	if (!strcmp(sub, "list") || !strcmp(sub, "ls")) {
		if (argc > 2) {
			fprintf(stderr, PROG ": service list takes no arguments\n");
			return EXIT_USAGE;
		}
		return cmd_services();
	}
	if (!strcmp(sub, "info") || !strcmp(sub, "details") || !strcmp(sub, "show"))
		return service_info(argc - 2, argv + 2);
	if (!strcmp(sub, "remove") || !strcmp(sub, "rm"))
		return service_remove(argc - 2, argv + 2);
	fprintf(stderr, PROG ": unknown service subcommand '%s' (list, info, remove)\n",
		sub);
	return EXIT_USAGE;
}
