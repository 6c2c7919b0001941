// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmk-dds: forward shmk publish-subscribe services to Cyclone DDS topics
 * and back (Documentation/dds.rst, shmk-dds(1)).
 *
 *   shmk-dds [--domain N] [--partition P] [--payload-max B] [--buffer N]
 *            (--out SVC [--topic T] | --in SVC [--topic T])...
 *
 * --out SVC: a shmk subscriber of SVC; each sample is written to the DDS
 *   topic as a shmk_bridge::Sample (tools/dds/shmk_bridge.idl).  The
 *   payload pointer handed to dds_write() is the sample in the service
 *   region: the only copy is Cyclone's serialization.
 * --in SVC: a DDS reader of the topic; each sample is taken in its
 *   serialized form (dds_takecdr) and its payload bytes copied once,
 *   straight from Cyclone's receive buffer into a chunk loaned with
 *   shmk_pub_loan(), then published.
 *
 * Loop prevention: every DDS sample carries the exporting bridge's random
 * id; a bridge drops DDS samples with its own id (and ignores its own
 * participant's writers), and its --out subscriber drops the samples its
 * own --in publisher put into the same service, so a bridge never
 * re-exports what it imported.
 *
 * One thread per route; the main thread waits for SIGINT or SIGTERM,
 * stops the routes, closes every port (no loan or received sample stays
 * held) and deletes the DDS participant.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#if !__has_include(<dds/dds.h>)
#error "shmk-dds needs Cyclone DDS: <dds/dds.h> is missing (run tools/deps, Debian package cyclonedds-dev)"
#endif
#include <dds/dds.h>
#include <dds/ddsi/ddsi_serdata.h>

#include <shmk/shmk.h>

#include "shmk_bridge.h"

#define ROUTES_MAX	32
#define TOPIC_MAX	128
/* CDR: the 4-byte encapsulation header, origin, seq, the payload length */
#define CDR_HDR		4
#define CDR_PAYLOAD	(CDR_HDR + 8 + 8 + 4)
#define POLL_NS		(200 * 1000 * 1000LL)

struct route {
	bool out;			/* --out (shmk -> DDS), else --in */
	const char *svc;
	char topic[TOPIC_MAX];
	struct shmk_svc_config cfg;	/* asked for: 0 is "any" / default */
	uint32_t depth;			/* keep-last depth: the service's buffer */
	uint64_t payload_max;		/* the service's */
	struct shmk_service *s;
	struct shmk_port *port;
	int skip_slot;			/* --out: our own --in publisher's slot, or -1 */
	dds_entity_t topic_e, ep;	/* topic, writer or reader */
	dds_entity_t ws, rdcond;	/* --in: waitset, read condition */
	pthread_t thr;
	bool started;
	int err;			/* the thread's failure, 0 when none */
	uint64_t moved, skipped, dropped;
};

static struct route routes[ROUTES_MAX];
static unsigned int nroutes;
static uint64_t bridge_id;
static atomic_bool stopping;		/* only this process's threads read it */
static dds_entity_t guard;		/* wakes the --in threads on stop */
static const char *prog = "shmk-dds";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--domain N] [--partition P] [--payload-max BYTES] [--buffer N]\n"
		"          (--out SVC [--topic T] | --in SVC [--topic T])...\n"
		"  --out SVC     forward the shmk pubsub service SVC to a DDS topic\n"
		"  --in SVC      publish the DDS topic's samples into the shmk service SVC\n"
		"  --topic T     the DDS topic of the route before it (default shmk_SVC)\n"
		"  --domain N    DDS domain id (default: CYCLONEDDS_URI's, else 0)\n"
		"  --partition P DDS partition of every route (default: none)\n"
		"  --payload-max BYTES, --buffer N: for the routes after them, the\n"
		"                service's configuration when shmk-dds creates it\n"
		"                (and must match when it exists; default: any)\n"
		"SIGINT or SIGTERM stops it: every port is closed.  See shmk-dds(1).\n",
		prog);
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per line: lines of several threads do not mix. */
	fprintf(stderr, "%s: %s\n", prog, buf);
}

/* Count a dropped sample; log the first and every 1000th. */
#define DROP(r, fmt, ...)							\
	do {									\
		if (++(r)->dropped == 1 || (r)->dropped % 1000 == 0)		\
			log_msg(fmt " (%" PRIu64 " dropped)", __VA_ARGS__,	\
				(r)->dropped);					\
	} while (0)

static uint64_t get_le_or_be(const unsigned char *p, int n, bool le)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[le ? i : n - 1 - i] << (8 * i);
	return v;
}

/* --out: shmk subscriber -> DDS writer. */
static void *out_thread(void *arg)
{
	struct route *r = arg;

	while (!atomic_load(&stopping)) {
		struct shmk_sample smp;
		shmk_bridge_Sample m;
		dds_return_t rc;
		int ret;

		ret = shmk_sub_receive(r->port, &smp, POLL_NS);
		if (ret == -ETIMEDOUT || ret == -EAGAIN || ret == -EINTR)
			continue;
		if (ret == -EBADMSG) {
			/* A peer wrote garbage: the library skipped it. */
			DROP(r, "--out %s: receive: %s", r->svc, strerror(-ret));
			continue;
		}
		if (ret) {
			log_msg("--out %s: receive: %s", r->svc, strerror(-ret));
			r->err = ret;
			kill(getpid(), SIGTERM);	/* the whole bridge stops, status 1 */
			break;
		}
		if ((int)smp.origin == r->skip_slot) {
			/* Our own --in put it there: never re-export. */
			r->skipped++;
			shmk_sub_release(r->port, &smp);
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.origin = bridge_id;
		m.seq = smp.seq;
		/*
		 * The sample in the region, not a copy: dds_write()
		 * serializes from this pointer (the one copy on this side),
		 * and never frees it (_release false).
		 */
		m.payload._buffer = (uint8_t *)(uintptr_t)smp.data;
		m.payload._length = (uint32_t)smp.len;
		m.payload._maximum = (uint32_t)smp.len;
		m.payload._release = false;
		rc = dds_write(r->ep, &m);
		shmk_sub_release(r->port, &smp);
		if (rc < 0) {
			/* Reliable back-pressure beyond max_blocking_time. */
			DROP(r, "--out %s: dds_write: %s", r->svc, dds_strretcode(rc));
			continue;
		}
		r->moved++;
	}
	return NULL;
}

/*
 * One serialized sample into the service: check the CDR header, loan a
 * chunk, copy the payload from Cyclone's buffer into it, publish.
 */
static void in_one(struct route *r, struct ddsi_serdata *sd)
{
	unsigned char hdr[CDR_PAYLOAD];
	uint32_t size = ddsi_serdata_size(sd);
	uint64_t origin, len;
	unsigned int enc;
	void *pl;
	bool le;
	int ret;

	if (size < CDR_PAYLOAD) {
		DROP(r, "--in %s: a %" PRIu32 "-byte sample is too short", r->svc, size);
		return;
	}
	ddsi_serdata_to_ser(sd, 0, CDR_PAYLOAD, hdr);
	/* Encapsulation id, big endian: CDR_BE 0, CDR_LE 1, PLAIN_CDR2 6/7. */
	enc = (unsigned int)hdr[0] << 8 | hdr[1];
	if (enc != 0 && enc != 1 && enc != 6 && enc != 7) {
		DROP(r, "--in %s: unknown CDR encapsulation %#x", r->svc, enc);
		return;
	}
	le = enc & 1;
	origin = get_le_or_be(hdr + CDR_HDR, 8, le);
	len = get_le_or_be(hdr + CDR_HDR + 16, 4, le);
	if (origin == bridge_id) {
		r->skipped++;
		return;
	}
	if (len > size - CDR_PAYLOAD || len > r->payload_max) {
		DROP(r, "--in %s: a %" PRIu64 "-byte sample does not fit (payload_max %" PRIu64 ")",
		     r->svc, len, r->payload_max);
		return;
	}
	/* No free chunk: subscribers hold them all; wait a little. */
	for (int tries = 0;; tries++) {
		ret = shmk_pub_loan(r->port, &pl);
		if (ret != -EAGAIN || tries >= 100 || atomic_load(&stopping))
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	if (ret) {
		DROP(r, "--in %s: loan: %s%s%s", r->svc, strerror(-ret),
		     *shmk_last_error() ? ": " : "", shmk_last_error());
		return;
	}
	/* The one copy: Cyclone's receive buffer -> the loaned chunk. */
	ddsi_serdata_to_ser(sd, CDR_PAYLOAD, (size_t)len, pl);
	/* Back-pressure (SHMK_OVERFLOW_BLOCK): wait up to a second. */
	do
		ret = shmk_pub_publish(r->port, pl, (size_t)len, 1000000000LL);
	while (ret == -EINTR && !atomic_load(&stopping));
	if (ret) {
		shmk_pub_discard(r->port, pl);
		DROP(r, "--in %s: publish: %s", r->svc, strerror(-ret));
		return;
	}
	r->moved++;
}

/* --in: DDS reader -> shmk publisher. */
static void *in_thread(void *arg)
{
	struct route *r = arg;
	struct ddsi_serdata *sds[16];
	dds_sample_info_t info[16];

	while (!atomic_load(&stopping)) {
		dds_return_t n;

		n = dds_waitset_wait(r->ws, NULL, 0, DDS_SECS(1));
		if (n < 0) {
			log_msg("--in %s: dds_waitset_wait: %s", r->svc, dds_strretcode(n));
			r->err = -EIO;
			kill(getpid(), SIGTERM);	/* the whole bridge stops, status 1 */
			break;
		}
		for (;;) {
			memset(sds, 0, sizeof(sds));
			n = dds_takecdr(r->ep, sds, 16, info, DDS_ANY_STATE);
			if (n <= 0) {
				if (n < 0) {
					log_msg("--in %s: dds_takecdr: %s", r->svc,
						dds_strretcode(n));
					r->err = -EIO;
				}
				break;
			}
			for (dds_return_t i = 0; i < n; i++) {
				if (info[i].valid_data && !atomic_load(&stopping))
					in_one(r, sds[i]);
				ddsi_serdata_unref(sds[i]);
			}
		}
		if (r->err) {
			kill(getpid(), SIGTERM);	/* the whole bridge stops, status 1 */
			break;
		}
	}
	return NULL;
}

static void on_pub_matched(dds_entity_t wr, const dds_publication_matched_status_t st, void *arg)
{
	struct route *r = arg;

	(void)wr;
	log_msg("--out %s: topic %s: %" PRIu32 " reader(s) matched", r->svc, r->topic,
		st.current_count);
}

static void on_sub_matched(dds_entity_t rd, const dds_subscription_matched_status_t st, void *arg)
{
	struct route *r = arg;

	(void)rd;
	log_msg("--in %s: topic %s: %" PRIu32 " writer(s) matched", r->svc, r->topic,
		st.current_count);
}

static int parse_u(const char *opt, const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (!*s || *end || errno || x > max || *s == '-') {
		fprintf(stderr, "%s: %s: not a number from 0 to %" PRIu64 ": '%s'\n", prog, opt,
			max, s);
		return -1;
	}
	*v = x;
	return 0;
}

static int open_route(struct route *r)
{
	struct shmk_svc_config got;
	int ret;

	ret = shmk_service_open(r->svc, &r->cfg, SHMK_SVC_CREATE, &r->s);
	if (ret) {
		log_msg("service %s: %s%s%s", r->svc, strerror(-ret),
			*shmk_last_error() ? ": " : "", shmk_last_error());
		return ret;
	}
	ret = r->out ? shmk_sub_open(r->s, &r->port) : shmk_pub_open(r->s, &r->port);
	if (ret) {
		log_msg("service %s: opening a %s: %s%s", r->svc,
			r->out ? "subscriber" : "publisher", strerror(-ret),
			ret == -EBUSY ? " (every such participant slot is taken)" : "");
		return ret;
	}
	shmk_service_config(r->s, &got);
	r->depth = got.buffer;
	r->payload_max = got.payload_max;
	return 0;
}

static int open_dds(struct route *r, dds_entity_t pp, const char *partition)
{
	dds_listener_t *l;
	dds_qos_t *q;
	dds_return_t rc;

	r->topic_e = dds_create_topic(pp, &shmk_bridge_Sample_desc, r->topic, NULL, NULL);
	if (r->topic_e < 0) {
		log_msg("topic %s: %s", r->topic, dds_strretcode(r->topic_e));
		return -EINVAL;
	}
	q = dds_create_qos();
	/* Reliable, keep-last as deep as the service's buffer: a DDS
	 * reader that lags more drops the oldest, as a shmk subscriber
	 * under safe overflow does. */
	dds_qset_reliability(q, DDS_RELIABILITY_RELIABLE, DDS_SECS(1));
	dds_qset_history(q, DDS_HISTORY_KEEP_LAST, (int32_t)r->depth);
	dds_qset_durability(q, DDS_DURABILITY_VOLATILE);
	dds_qset_ignorelocal(q, DDS_IGNORELOCAL_PARTICIPANT);
	if (partition)
		dds_qset_partition1(q, partition);
	l = dds_create_listener(r);
	if (r->out) {
		dds_lset_publication_matched(l, on_pub_matched);
		r->ep = dds_create_writer(pp, r->topic_e, q, l);
	} else {
		dds_lset_subscription_matched(l, on_sub_matched);
		r->ep = dds_create_reader(pp, r->topic_e, q, l);
	}
	dds_delete_listener(l);
	dds_delete_qos(q);
	if (r->ep < 0) {
		log_msg("topic %s: creating the %s: %s", r->topic, r->out ? "writer" : "reader",
			dds_strretcode(r->ep));
		return -EINVAL;
	}
	if (r->out)
		return 0;
	r->ws = dds_create_waitset(pp);
	r->rdcond = dds_create_readcondition(r->ep, DDS_ANY_STATE);
	if (r->ws < 0 || r->rdcond < 0)
		return -ENOMEM;
	rc = dds_waitset_attach(r->ws, r->rdcond, 0);
	if (rc >= 0)
		rc = dds_waitset_attach(r->ws, guard, 1);
	return rc < 0 ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	struct shmk_svc_config cur = { .size = sizeof(cur), .kind = SHMK_SVC_PUBSUB };
	dds_domainid_t domain = DDS_DOMAIN_DEFAULT;
	const char *partition = NULL;
	dds_entity_t pp = 0;
	sigset_t set;
	int i, sig, status = 0;
	unsigned int k, j;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--out") && strcmp(a, "--in") && strcmp(a, "--topic") &&
		    strcmp(a, "--domain") && strcmp(a, "--partition") &&
		    strcmp(a, "--payload-max") && strcmp(a, "--buffer")) {
			fprintf(stderr, "%s: unknown argument '%s'\n", prog, a);
			usage(stderr);
			return 2;
		}
		if (!v) {
			fprintf(stderr, "%s: %s needs a value\n", prog, a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--out") || !strcmp(a, "--in")) {
			struct route *r = &routes[nroutes];
			size_t n = strlen(v);

			if (nroutes == ROUTES_MAX) {
				fprintf(stderr, "%s: at most %d routes\n", prog, ROUTES_MAX);
				return 2;
			}
			if (n == 0 || n >= SHMK_SVC_NAME_MAX) {
				fprintf(stderr, "%s: %s: a service name has 1 to %d characters: '%s'\n",
					prog, a, SHMK_SVC_NAME_MAX - 1, v);
				return 2;
			}
			r->out = a[2] == 'o';
			r->svc = v;
			r->cfg = cur;
			r->skip_slot = -1;
			/* DDS topic names: letters, digits, '_' and '/' are safe. */
			snprintf(r->topic, sizeof(r->topic), "shmk_%s", v);
			for (char *c = r->topic; *c; c++)
				if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') &&
				    !(*c >= '0' && *c <= '9') && *c != '_')
					*c = '_';
			for (j = 0; j < nroutes; j++)
				if (routes[j].out == r->out && !strcmp(routes[j].svc, v)) {
					fprintf(stderr, "%s: %s %s given twice\n", prog, a, v);
					return 2;
				}
			nroutes++;
		} else if (!strcmp(a, "--topic")) {
			if (!nroutes) {
				fprintf(stderr, "%s: --topic names the topic of the --out or --in before it\n",
					prog);
				return 2;
			}
			if (!*v || strlen(v) >= TOPIC_MAX) {
				fprintf(stderr, "%s: --topic: 1 to %d characters: '%s'\n", prog,
					TOPIC_MAX - 1, v);
				return 2;
			}
			snprintf(routes[nroutes - 1].topic, TOPIC_MAX, "%s", v);
		} else if (!strcmp(a, "--domain")) {
			if (parse_u(a, v, 230, &x))
				return 2;
			domain = (dds_domainid_t)x;
		} else if (!strcmp(a, "--partition")) {
			partition = v;
		} else if (!strcmp(a, "--payload-max")) {
			if (parse_u(a, v, SHMK_SVC_PAYLOAD_MAX, &x))
				return 2;
			cur.payload_max = x;
		} else {
			if (parse_u(a, v, SHMK_SVC_RING_MAX, &x))
				return 2;
			cur.buffer = (uint32_t)x;
		}
	}
	if (!nroutes) {
		fprintf(stderr, "%s: nothing to forward: give --out SVC or --in SVC\n", prog);
		usage(stderr);
		return 2;
	}

	/* Signals go to the main thread's sigwait() only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (getrandom(&bridge_id, sizeof(bridge_id), 0) != sizeof(bridge_id))
		bridge_id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);

	for (k = 0; k < nroutes; k++)
		if (open_route(&routes[k])) {
			status = 1;
			goto out;
		}
	/* Never re-export: --out SVC skips what --in SVC published there. */
	for (k = 0; k < nroutes; k++)
		for (j = 0; j < nroutes; j++)
			if (routes[k].out && !routes[j].out &&
			    !strcmp(routes[k].svc, routes[j].svc))
				routes[k].skip_slot = shmk_port_slot(routes[j].port);

	pp = dds_create_participant(domain, NULL, NULL);
	if (pp < 0) {
		log_msg("dds_create_participant (domain %s): %s (is CYCLONEDDS_URI valid?)",
			domain == DDS_DOMAIN_DEFAULT ? "default" : "given", dds_strretcode(pp));
		status = 1;
		goto out;
	}
	guard = dds_create_guardcondition(pp);
	for (k = 0; k < nroutes; k++)
		if (open_dds(&routes[k], pp, partition)) {
			status = 1;
			goto out;
		}
	for (k = 0; k < nroutes; k++) {
		struct route *r = &routes[k];

		if (pthread_create(&r->thr, NULL, r->out ? out_thread : in_thread, r)) {
			log_msg("pthread_create failed");
			status = 1;
			goto out;
		}
		r->started = true;
		log_msg("%s %s %s topic %s (depth %" PRIu32 ", payload_max %" PRIu64 ", id %016" PRIx64 ")",
			r->out ? "--out" : "--in", r->svc, r->out ? "->" : "<-", r->topic,
			r->depth, r->payload_max, bridge_id);
	}
	log_msg("running");

	while (sigwait(&set, &sig))
		;
	log_msg("%s: stopping", strsignal(sig));
	/* A route that failed sent the SIGTERM: say so in the status. */
out:
	atomic_store(&stopping, true);
	if (guard > 0)
		dds_set_guardcondition(guard, true);
	for (k = 0; k < nroutes; k++) {
		struct route *r = &routes[k];

		if (r->started) {
			pthread_join(r->thr, NULL);
			if (r->err)
				status = 1;
			log_msg("%s %s: %" PRIu64 " forwarded, %" PRIu64 " skipped (own), %" PRIu64
				" dropped", r->out ? "--out" : "--in", r->svc, r->moved,
				r->skipped, r->dropped);
		}
	}
	/* Writers and readers go first: nothing calls back into a route. */
	if (pp > 0)
		dds_delete(pp);
	for (k = 0; k < nroutes; k++) {
		shmk_port_close(routes[k].port);
		shmk_service_close(routes[k].s);
	}
	return status;
}
