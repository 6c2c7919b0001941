// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmkctl: commands that take part in a service as a port of their own,
 * through the public API: echo, hz and record subscribe; publish and
 * replay publish; notify and listen use an event service.
 *
 * Timestamps in payloads (hz's latency, publish --stamp): a payload that
 * begins with the 8 bytes "shmk-ts\0" and then a little-endian uint64 of
 * CLOCK_MONOTONIC nanoseconds carries the time it was published.  The
 * latency is the receiver's CLOCK_MONOTONIC minus that stamp (one clock
 * on one machine, the only place a shared-memory service reaches).
 *
 * The record file (record, replay; Documentation/tools.rst): all integers
 * little-endian.
 *   header, 128 bytes:
 *     0   char[8]   magic "shmkrec\0"
 *     8   u32       version, 1
 *     12  u32       header size, 128
 *     16  u64       payload_max: no record is longer (1 to 2^30)
 *     24  u64       CLOCK_REALTIME ns when the recording started
 *     32  char[64]  the service's name, NUL-padded
 *     96  byte[32]  reserved, 0
 *   then each sample:
 *     0   u64       ns since the start (CLOCK_MONOTONIC), never decreasing
 *     8   u32       payload bytes, at most payload_max
 *     12  u32       CRC-32 (IEEE, as zlib's crc32()) of the payload
 *     16  payload
 *   and nothing after the last sample.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "shmkctl.h"

#define STAMP_MAGIC	"shmk-ts"	/* with its NUL: 8 bytes */
#define STAMP_BYTES	16
#define REC_MAGIC	"shmkrec"	/* with its NUL: 8 bytes */
#define REC_VERSION	1
#define REC_HDR		128
#define REC_SAMPLE_HDR	16
#define SLICE_NS	200000000LL	/* waits look at the signals this often */

/* Time */

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Sleep until CLOCK_MONOTONIC @t; false when a signal asked us to stop. */
static bool sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000LL,
			       .tv_nsec = t % 1000000000LL };

	while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
		;
	return !stop;
}

static int64_t seconds_ns(double s)
{
	return (int64_t)(s * 1e9);
}

/* Ports */

static const char *role_of_cmd(unsigned int kind, bool produce)
{
	if (kind == SHMK_SVC_EVENT)
		return produce ? "notifier" : "listener";
	return produce ? "publisher" : "subscriber";
}

/* Open a port; prints the error, returns the exit code. */
static int port_open(struct shmk_service *svc, const char *name,
		     unsigned int kind, bool produce, struct shmk_port **p)
{
	int ret;

	if (kind == SHMK_SVC_EVENT)
		ret = produce ? shmk_notifier_open(svc, p) : shmk_listener_open(svc, p);
	else
		ret = produce ? shmk_pub_open(svc, p) : shmk_sub_open(svc, p);
	if (ret == -EBUSY) {
		struct shmk_svc_config c = { .size = sizeof(c) };

		shmk_service_config(svc, &c);
		fprintf(stderr, PROG ": %s: no free %s slot (all %u taken)\n", name,
			role_of_cmd(kind, produce),
			produce ? c.max_publishers : c.max_subscribers);
		return EXIT_FAIL;
	}
	if (ret) {
		fprintf(stderr, PROG ": %s: cannot open a %s: %s\n", name,
			role_of_cmd(kind, produce), strerror(-ret));
		return exit_code(-ret);
	}
	return EXIT_OK;
}

/*
 * --wait S: wait until the service has a consumer (subscriber, listener),
 * so that what we send is not lost.  Polls the public counters.
 */
static int wait_consumer(struct shmk_service *svc, const char *name, double s)
{
	int64_t end = mono_ns() + seconds_ns(s);
	uint32_t cons;

	for (;;) {
		shmk_service_roles(svc, NULL, &cons);
		/* A signal: the caller sees stop and ends cleanly. */
		if (cons > shmk_service_dead(svc) || stop)
			return EXIT_OK;
		if (mono_ns() >= end) {
			fprintf(stderr, PROG ": %s: no consumer came in %g s\n", name, s);
			return EXIT_TIMEOUT;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
	}
}

enum { GOT, STOPPED, TIMED_OUT };

/*
 * Wait for the next sample until CLOCK_MONOTONIC @deadline (-1: none):
 * GOT, STOPPED (a signal), TIMED_OUT, or -errno.
 */
static int next_sample(struct shmk_port *p, struct shmk_sample *smp,
		       int64_t deadline, bool *warned)
{
	for (;;) {
		int64_t t = SLICE_NS, now;
		int ret;

		if (stop)
			return STOPPED;
		if (deadline >= 0) {
			now = mono_ns();
			if (now >= deadline)
				return TIMED_OUT;
			if (deadline - now < t)
				t = deadline - now;
		}
		ret = shmk_sub_receive(p, smp, t);
		if (ret == 0)
			return GOT;
		if (ret == -ETIMEDOUT || ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret == -EBADMSG) {
			/* A peer's corrupt entry: it goes when the ring moves. */
			if (!*warned)
				fprintf(stderr, PROG ": warning: a corrupt sample "
					"was skipped (a peer's bug?)\n");
			*warned = true;
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
			continue;
		}
		return ret;
	}
}

/* echo */

enum { FMT_AUTO, FMT_TEXT, FMT_HEX };

static bool printable(const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((b[i] < 0x20 && b[i] != '\n' && b[i] != '\t' && b[i] != '\r') ||
		    b[i] > 0x7e)
			return false;
	return true;
}

static void print_hex(const unsigned char *b, size_t n, const char *sep)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%s%02x", i ? sep : "", b[i]);
}

/* One line: escapes for what is not printable, so a sample is a line. */
static void print_text(const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] == '\\')
			fputs("\\\\", stdout);
		else if (b[i] == '\n')
			fputs("\\n", stdout);
		else if (b[i] == '\t')
			fputs("\\t", stdout);
		else if (b[i] == '\r')
			fputs("\\r", stdout);
		else if (b[i] < 0x20 || b[i] > 0x7e)
			printf("\\x%02x", b[i]);
		else
			putchar(b[i]);
	}
}

/* --count, --timeout, or one of CREATE_OPTIONS. */
static int count_timeout_opts(int c, uint64_t *count, double *timeout,
			      struct create_opts *co)
{
	if (c >= OPT_CREATE)
		return create_opt(c, optarg, co);
	if (c == 'n')
		return parse_u64("count", optarg, 1, UINT64_MAX, count) ? 0 : EXIT_USAGE;
	if (c == 't')
		return parse_seconds("timeout", optarg, 0.001, 1e6, timeout) ? 0 : EXIT_USAGE;
	return EXIT_USAGE;
}

int cmd_echo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hex", no_argument, NULL, 'x' },
		{ "text", no_argument, NULL, 'T' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	int fmt = FMT_AUTO, c, rc, ret;
	uint64_t count = 0, got = 0;
	double timeout = 0;
	struct shmk_service *svc;
	struct shmk_port *p;
	struct shmk_sample smp;
	int64_t deadline = -1;
	bool warned = false;

	optind = 0;
	while ((c = getopt_long(argc, argv, "xTn:t:", opts, NULL)) != -1) {
		if (c == 'x' || c == 'T') {
			fmt = c == 'x' ? FMT_HEX : FMT_TEXT;
			continue;
		}
		rc = count_timeout_opts(c, &count, &timeout, &co);
		if (rc)
			return rc;
	}
	if (argc - optind != 1) {
		fprintf(stderr, PROG ": usage: echo NAME [--hex|--text] [--count N] [--timeout S]\n");
		return EXIT_USAGE;
	}
	rc = svc_open(argv[optind], SHMK_SVC_PUBSUB, "echo", &co, &svc);
	if (rc)
		return rc;
	rc = port_open(svc, argv[optind], SHMK_SVC_PUBSUB, false, &p);
	if (rc)
		goto out_svc;
	catch_signals();
	if (timeout > 0)
		deadline = mono_ns() + seconds_ns(timeout);
	while (!count || got < count) {
		const unsigned char *b;
		int f = fmt;

		ret = next_sample(p, &smp, deadline, &warned);
		if (ret == STOPPED)
			break;
		if (ret == TIMED_OUT) {
			fprintf(stderr, PROG ": %s: %" PRIu64 " of %" PRIu64
				" samples in %g s\n", argv[optind], got, count, timeout);
			rc = EXIT_TIMEOUT;
			break;
		}
		if (ret < 0) {
			rc = fail(-ret, argv[optind]);
			break;
		}
		b = smp.data;
		if (f == FMT_AUTO)
			f = printable(b, smp.len) ? FMT_TEXT : FMT_HEX;
		if (opt_json) {
			printf("{\"seq\":%" PRIu64 ",\"origin\":%u,\"len\":%zu,"
			       "\"time_ns\":%" PRId64 ",", smp.seq, smp.origin,
			       smp.len, clock_ns(CLOCK_REALTIME));
			if (f == FMT_HEX) {
				printf("\"hex\":\"");
				print_hex(b, smp.len, "");
				printf("\"}\n");
			} else {
				printf("\"text\":");
				json_bytes(b, smp.len);
				printf("}\n");
			}
		} else {
			if (f == FMT_HEX)
				print_hex(b, smp.len, " ");
			else
				print_text(b, smp.len);
			putchar('\n');
		}
		shmk_sub_release(p, &smp);
		got++;
	}
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
	return rc;
}

/* publish */

/* "68 65 6c" or "68656c" -> bytes; false (message printed) when not hex. */
static bool parse_hex(const char *s, unsigned char **out, size_t *len)
{
	size_t n = 0, room = strlen(s) / 2 + 1;
	unsigned char *b = malloc(room);
	int hi = -1;

	if (!b)
		return false;
	for (; *s; s++) {
		int v;

		if (*s == ' ' || *s == ':' || *s == '\n' || *s == '\t') {
			if (hi >= 0)
				break;
			continue;
		}
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			break;
		if (hi < 0) {
			hi = v;
		} else {
			b[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (*s || hi >= 0) {
		fprintf(stderr, PROG ": bad hex data (pairs of hex digits, spaces or ':' between bytes allowed)\n");
		free(b);
		return false;
	}
	*out = b;
	*len = n;
	return true;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
	unsigned char *b = NULL, *nb;
	size_t n = 0, room = 0;
	ssize_t r;
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		if (n == room) {
			room = room ? 2 * room : 65536;
			nb = realloc(b, room);
			if (!nb) {
				free(b);
				if (fd)
					close(fd);
				return -ENOMEM;
			}
			b = nb;
		}
		r = read(fd, b + n, room - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;

			free(b);
			if (fd)
				close(fd);
			return err;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	if (fd)
		close(fd);
	*out = b;
	*len = n;
	return 0;
}

static void put_stamp(unsigned char *b)
{
	uint64_t t = htole64((uint64_t)mono_ns());

	memcpy(b, STAMP_MAGIC, 8);
	memcpy(b + 8, &t, 8);
}

/* Publish @len bytes, waiting while the pool or (block) a subscriber is full. */
static int publish_one(struct shmk_port *p, const void *data, size_t len)
{
	int ret;

	for (;;) {
		ret = shmk_pub_send_copy(p, data, len, SLICE_NS);
		if (ret == -ETIMEDOUT || ret == -EINTR || ret == -EAGAIN) {
			if (stop)
				return -EINTR;
			if (ret == -EAGAIN)	/* no free chunk: readers hold them */
				nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
			continue;
		}
		return ret;
	}
}

/* After publishing: let live subscribers take it all before we leave. */
static void drain(struct shmk_port *p, const char *name, double s)
{
	int ret;

	if (s <= 0)
		return;
	ret = shmk_pub_drain(p, seconds_ns(s));
	if (ret && ret != -EINTR)
		fprintf(stderr, PROG ": %s: warning: not every subscriber received "
			"everything within %g s (--drain)\n", name, s);
}

int cmd_publish(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "hex", no_argument, NULL, 'x' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "rate", required_argument, NULL, 'R' },
		{ "stamp", no_argument, NULL, 's' },
		{ "drain", required_argument, NULL, 'd' },
		{ "wait", required_argument, NULL, 'w' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	const char *file = NULL, *name;
	unsigned char *data = NULL, *buf = NULL;
	size_t len = 0, total;
	uint64_t repeat = 1, i, sent = 0;
	double rate = 0, drain_s = 1, wait_s = 0;
	bool hex = false, stamp = false;
	struct shmk_svc_config cfg = { .size = sizeof(cfg) };
	struct shmk_service *svc;
	struct shmk_port *p;
	int64_t t0, period = 0;
	int c, rc, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "f:xr:R:sd:w:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'x':
			hex = true;
			break;
		case 'r':
			if (!parse_u64("repeat", optarg, 1, UINT64_MAX, &repeat))
				return EXIT_USAGE;
			break;
		case 'R':
			if (!parse_seconds("rate", optarg, 0.001, 1e9, &rate))
				return EXIT_USAGE;
			break;
		case 's':
			stamp = true;
			break;
		case 'd':
			if (!parse_seconds("drain", optarg, 0, 3600, &drain_s))
				return EXIT_USAGE;
			break;
		case 'w':
			if (!parse_seconds("wait", optarg, 0, 3600, &wait_s))
				return EXIT_USAGE;
			break;
		default:
			if (create_opt(c, optarg, &co))
				return EXIT_USAGE;
		}
	}
	if (argc - optind != (file ? 1 : 2) || (file && hex)) {
		fprintf(stderr, PROG ": usage: publish NAME DATA [--hex] | publish NAME --file F  "
			"[--repeat N] [--rate HZ] [--stamp] [--drain S] [--wait S]\n");
		return EXIT_USAGE;
	}
	name = argv[optind];
	if (file) {
		ret = read_file(file, &data, &len);
		if (ret)
			return fail(-ret, file);
	} else if (hex) {
		if (!parse_hex(argv[optind + 1], &data, &len))
			return EXIT_USAGE;
	} else {
		len = strlen(argv[optind + 1]);
		data = (unsigned char *)strdup(argv[optind + 1]);
		if (!data)
			return fail(ENOMEM, "publish");
	}
	rc = svc_open(name, SHMK_SVC_PUBSUB, "publish", &co, &svc);
	if (rc)
		goto out_data;
	shmk_service_config(svc, &cfg);
	total = len + (stamp ? STAMP_BYTES : 0);
	if (total > cfg.payload_max) {
		fprintf(stderr, PROG ": %s: %zu bytes to publish, the service takes at most %llu\n",
			name, total, (unsigned long long)cfg.payload_max);
		rc = EXIT_KIND;
		goto out_svc;
	}
	buf = malloc(total ? total : 1);
	if (!buf) {
		rc = fail(ENOMEM, "publish");
		goto out_svc;
	}
	memcpy(buf + (stamp ? STAMP_BYTES : 0), data, len);
	rc = port_open(svc, name, SHMK_SVC_PUBSUB, true, &p);
	if (rc)
		goto out_svc;
	catch_signals();
	if (wait_s > 0) {
		rc = wait_consumer(svc, name, wait_s);
		if (rc)
			goto out_port;
	}
	if (rate > 0)
		period = (int64_t)(1e9 / rate);
	t0 = mono_ns();
	for (i = 0; i < repeat && !stop; i++) {
		if (period && i && !sleep_until(t0 + (int64_t)i * period))
			break;
		if (stamp)
			put_stamp(buf);
		ret = publish_one(p, buf, total);
		if (ret == -EINTR)
			break;
		if (ret) {
			rc = fail(-ret, name);
			break;
		}
		sent++;
	}
	drain(p, name, drain_s);
	if (opt_json) {
		printf("{\"service\":");
		json_str(name);
		printf(",\"published\":%" PRIu64 ",\"bytes\":%zu}\n", sent, total);
	} else {
		printf("published %" PRIu64 " sample%s of %zu bytes to %s\n", sent,
		       sent == 1 ? "" : "s", total, name);
	}
out_port:
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
	free(buf);
out_data:
	free(data);
	return rc;
}

/* notify, listen */

int cmd_notify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repeat", required_argument, NULL, 'r' },
		{ "wait", required_argument, NULL, 'w' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	struct shmk_svc_config cfg = { .size = sizeof(cfg) };
	struct shmk_service *svc;
	struct shmk_port *p;
	uint64_t repeat = 1, id, i;
	double wait_s = 0;
	int c, rc, ret = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "r:w:", opts, NULL)) != -1) {
		if (c == 'r') {
			if (!parse_u64("repeat", optarg, 1, UINT64_MAX, &repeat))
				return EXIT_USAGE;
		} else if (c == 'w') {
			if (!parse_seconds("wait", optarg, 0, 3600, &wait_s))
				return EXIT_USAGE;
		} else if (create_opt(c, optarg, &co)) {
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, PROG ": usage: notify NAME ID [--repeat N] [--wait S]\n");
		return EXIT_USAGE;
	}
	if (!parse_u64("event id", argv[optind + 1], 0, SHMK_SVC_EVENTS_MAX - 1, &id))
		return EXIT_USAGE;
	rc = svc_open(argv[optind], SHMK_SVC_EVENT, "notify", &co, &svc);
	if (rc)
		return rc;
	shmk_service_config(svc, &cfg);
	if (id >= cfg.max_events) {
		fprintf(stderr, PROG ": %s: event id %" PRIu64 " is not in 0..%u\n",
			argv[optind], id, cfg.max_events - 1);
		rc = EXIT_KIND;
		goto out_svc;
	}
	rc = port_open(svc, argv[optind], SHMK_SVC_EVENT, true, &p);
	if (rc)
		goto out_svc;
	catch_signals();
	if (wait_s > 0)
		rc = wait_consumer(svc, argv[optind], wait_s);
	for (i = 0; !rc && i < repeat && !stop; i++) {
		ret = shmk_notifier_notify(p, (uint32_t)id);
		if (ret < 0)
			rc = fail(-ret, argv[optind]);
	}
	if (!rc) {
		if (opt_json)
			printf("{\"id\":%" PRIu64 ",\"listeners\":%d}\n", id, ret);
		else
			printf("event %" PRIu64 ": %d listener%s signalled\n", id, ret,
			       ret == 1 ? "" : "s");
	}
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
	return rc;
}

int cmd_listen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	struct shmk_service *svc;
	struct shmk_port *p;
	uint64_t count = 0, got = 0;
	double timeout = 0;
	int64_t deadline = -1;
	uint32_t ids[64];
	int c, rc, n, k;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:t:", opts, NULL)) != -1) {
		rc = count_timeout_opts(c, &count, &timeout, &co);
		if (rc)
			return rc;
	}
	if (argc - optind != 1) {
		fprintf(stderr, PROG ": usage: listen NAME [--count N] [--timeout S]\n");
		return EXIT_USAGE;
	}
	rc = svc_open(argv[optind], SHMK_SVC_EVENT, "listen", &co, &svc);
	if (rc)
		return rc;
	rc = port_open(svc, argv[optind], SHMK_SVC_EVENT, false, &p);
	if (rc)
		goto out_svc;
	catch_signals();
	if (timeout > 0)
		deadline = mono_ns() + seconds_ns(timeout);
	while (!stop && (!count || got < count)) {
		int64_t t = SLICE_NS, now = mono_ns();
		unsigned int room = 64;

		if (deadline >= 0) {
			if (now >= deadline) {
				fprintf(stderr, PROG ": %s: %" PRIu64 " of %" PRIu64
					" events in %g s\n", argv[optind], got, count,
					timeout);
				rc = EXIT_TIMEOUT;
				break;
			}
			if (deadline - now < t)
				t = deadline - now;
		}
		if (count && count - got < room)
			room = (unsigned int)(count - got);
		n = shmk_listener_wait(p, ids, room, t);
		if (n == -ETIMEDOUT || n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0) {
			rc = fail(-n, argv[optind]);
			break;
		}
		for (k = 0; k < n; k++) {
			if (opt_json)
				printf("{\"id\":%u,\"time_ns\":%" PRId64 "}\n", ids[k],
				       clock_ns(CLOCK_REALTIME));
			else
				printf("%u\n", ids[k]);
		}
		got += (uint64_t)n;
	}
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
	return rc;
}

/* hz */

struct stat_acc {
	uint64_t n;
	double min, max, sum, sumsq;
};

static void acc_add(struct stat_acc *a, double v)
{
	if (!a->n || v < a->min)
		a->min = v;
	if (!a->n || v > a->max)
		a->max = v;
	a->sum += v;
	a->sumsq += v * v;
	a->n++;
}

static double acc_mean(const struct stat_acc *a)
{
	return a->n ? a->sum / (double)a->n : 0;
}

static double acc_std(const struct stat_acc *a)
{
	double m = acc_mean(a), v;

	if (a->n < 2)
		return 0;
	v = a->sumsq / (double)a->n - m * m;
	return v > 0 ? sqrt(v) : 0;
}

static void json_acc(const char *key, const struct stat_acc *a)
{
	if (!a->n) {
		printf(",\"%s\":null", key);
		return;
	}
	printf(",\"%s\":{\"min\":%.0f,\"mean\":%.0f,\"max\":%.0f,\"stddev\":%.0f}",
	       key, a->min, acc_mean(a), a->max, acc_std(a));
}

static void text_acc(const char *what, const struct stat_acc *a)
{
	if (!a->n)
		return;
	printf("  %s min %.3f ms, mean %.3f ms, max %.3f ms, stddev %.3f ms", what,
	       a->min / 1e6, acc_mean(a) / 1e6, a->max / 1e6, acc_std(a) / 1e6);
}

int cmd_hz(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	struct shmk_service *svc;
	struct shmk_port *p;
	struct shmk_sample smp;
	double window = 1;
	uint64_t count = 0, done = 0, dropped = 0;
	int64_t last = -1;
	bool warned = false;
	int c, rc = EXIT_OK, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "w:n:", opts, NULL)) != -1) {
		if (c == 'w') {
			if (!parse_seconds("window", optarg, 0.01, 3600, &window))
				return EXIT_USAGE;
		} else if (c == 'n') {
			if (!parse_u64("count", optarg, 1, UINT64_MAX, &count))
				return EXIT_USAGE;
		} else if (create_opt(c, optarg, &co)) {
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, PROG ": usage: hz NAME [--window S] [--count N]\n");
		return EXIT_USAGE;
	}
	rc = svc_open(argv[optind], SHMK_SVC_PUBSUB, "hz", &co, &svc);
	if (rc)
		return rc;
	rc = port_open(svc, argv[optind], SHMK_SVC_PUBSUB, false, &p);
	if (rc)
		goto out_svc;
	catch_signals();
	while (!stop && (!count || done < count)) {
		struct stat_acc gap = { 0 }, lat = { 0 };
		int64_t start = mono_ns(), end = start + seconds_ns(window), now;
		uint64_t n = 0, d;
		double secs;

		for (;;) {
			ret = next_sample(p, &smp, end, &warned);
			if (ret != GOT)
				break;
			now = mono_ns();
			n++;
			if (last >= 0)
				acc_add(&gap, (double)(now - last));
			last = now;
			if (smp.len >= STAMP_BYTES &&
			    !memcmp(smp.data, STAMP_MAGIC, 8)) {
				uint64_t t;

				memcpy(&t, (const unsigned char *)smp.data + 8, 8);
				t = le64toh(t);
				if (t <= (uint64_t)now)
					acc_add(&lat, (double)((uint64_t)now - t));
			}
			shmk_sub_release(p, &smp);
		}
		if (ret < 0) {
			rc = fail(-ret, argv[optind]);
			break;
		}
		now = mono_ns();
		secs = (double)(now - start) / 1e9;
		d = shmk_sub_dropped(p) - dropped;
		dropped += d;
		if (ret == STOPPED && secs < window / 2)
			break;	/* a stub of a window says nothing */
		if (opt_json) {
			printf("{\"service\":");
			json_str(argv[optind]);
			printf(",\"window_s\":%.3f,\"samples\":%" PRIu64 ",\"rate_hz\":%.3f,"
			       "\"dropped\":%" PRIu64, secs, n, secs > 0 ? (double)n / secs : 0, d);
			json_acc("interval_ns", &gap);
			json_acc("latency_ns", &lat);
			printf(",\"stamped\":%" PRIu64 "}\n", lat.n);
		} else {
			printf("%s: %.2f Hz (%" PRIu64 " samples in %.2f s, %" PRIu64
			       " dropped)\n", argv[optind], secs > 0 ? (double)n / secs : 0,
			       n, secs, d);
			if (gap.n) {
				text_acc("interval:", &gap);
				putchar('\n');
			}
			if (lat.n) {
				text_acc("latency: ", &lat);
				printf(" (%" PRIu64 " stamped)\n", lat.n);
			} else if (n) {
				printf("  latency:  - (no stamped samples; publish --stamp)\n");
			}
		}
		done++;
	}
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
	return rc;
}

/* The record file */

static uint32_t crc32_ieee(const unsigned char *b, size_t n)
{
	uint32_t c = 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= b[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320U & (0U - (c & 1)));
	}
	return ~c;
}

static uint32_t get32(const unsigned char *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return le32toh(v);
}

static uint64_t get64(const unsigned char *b)
{
	uint64_t v;

	memcpy(&v, b, 8);
	return le64toh(v);
}

static void put32(unsigned char *b, uint32_t v)
{
	v = htole32(v);
	memcpy(b, &v, 4);
}

static void put64(unsigned char *b, uint64_t v)
{
	v = htole64(v);
	memcpy(b, &v, 8);
}

struct rec_info {
	uint64_t payload_max, start_ns, samples, largest, bytes, span_ns;
	char name[64];
};

/*
 * Check a whole record file in memory; 0, or -1 with the reason in @err.
 * Every length is checked against what is left before it is used.
 */
static int rec_check(const unsigned char *b, size_t n, struct rec_info *ri,
		     char *err, size_t errlen)
{
	uint64_t last = 0;
	size_t off = REC_HDR, i;

	memset(ri, 0, sizeof(*ri));
	if (n < REC_HDR || memcmp(b, REC_MAGIC, 8)) {
		snprintf(err, errlen, "not a shmkctl record file (no \"shmkrec\" header)");
		return -1;
	}
	if (get32(b + 8) != REC_VERSION || get32(b + 12) != REC_HDR) {
		snprintf(err, errlen, "record file version %u, header %u bytes: "
			 "this shmkctl reads version %u, %u bytes", get32(b + 8),
			 get32(b + 12), REC_VERSION, REC_HDR);
		return -1;
	}
	ri->payload_max = get64(b + 16);
	ri->start_ns = get64(b + 24);
	if (!ri->payload_max || ri->payload_max > SHMK_SVC_PAYLOAD_MAX) {
		snprintf(err, errlen, "corrupt header: payload_max %" PRIu64, ri->payload_max);
		return -1;
	}
	if (!memchr(b + 32, 0, 64)) {
		snprintf(err, errlen, "corrupt header: service name not terminated");
		return -1;
	}
	memcpy(ri->name, b + 32, 64);
	for (i = 96; i < REC_HDR; i++)
		if (b[i]) {
			snprintf(err, errlen, "corrupt header: reserved byte %zu is not 0", i);
			return -1;
		}
	while (off < n) {
		uint64_t t;
		uint32_t len, crc;

		if (n - off < REC_SAMPLE_HDR) {
			snprintf(err, errlen, "sample %" PRIu64 " at byte %zu: truncated "
				 "header (%zu of %d bytes)", ri->samples, off, n - off,
				 REC_SAMPLE_HDR);
			return -1;
		}
		t = get64(b + off);
		len = get32(b + off + 8);
		crc = get32(b + off + 12);
		if (t < last) {
			snprintf(err, errlen, "sample %" PRIu64 " at byte %zu: time goes "
				 "back (%" PRIu64 " ns after %" PRIu64 ")", ri->samples,
				 off, t, last);
			return -1;
		}
		if (len > ri->payload_max) {
			snprintf(err, errlen, "sample %" PRIu64 " at byte %zu: %u bytes, "
				 "more than the header's payload_max %" PRIu64,
				 ri->samples, off, len, ri->payload_max);
			return -1;
		}
		if (n - off - REC_SAMPLE_HDR < len) {
			snprintf(err, errlen, "sample %" PRIu64 " at byte %zu: truncated "
				 "payload (%zu of %u bytes)", ri->samples, off,
				 n - off - REC_SAMPLE_HDR, len);
			return -1;
		}
		if (crc32_ieee(b + off + REC_SAMPLE_HDR, len) != crc) {
			snprintf(err, errlen, "sample %" PRIu64 " at byte %zu: CRC "
				 "mismatch (corrupt payload)", ri->samples, off);
			return -1;
		}
		last = t;
		if (len > ri->largest)
			ri->largest = len;
		ri->bytes += len;
		ri->samples++;
		off += REC_SAMPLE_HDR + len;
	}
	ri->span_ns = last;
	return 0;
}

static bool write_all(FILE *f, const void *b, size_t n)
{
	return fwrite(b, 1, n, f) == n;
}

int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'D' },
		{ "timeout", required_argument, NULL, 't' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	struct shmk_svc_config cfg = { .size = sizeof(cfg) };
	unsigned char hdr[REC_HDR], sh[REC_SAMPLE_HDR];
	struct shmk_service *svc;
	struct shmk_port *p;
	struct shmk_sample smp;
	const char *name, *path;
	uint64_t count = 0, got = 0, bytes = 0;
	double duration = 0, timeout = 0;
	int64_t t0, deadline = -1, end = -1;
	bool warned = false;
	FILE *f;
	int c, rc, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n:D:t:", opts, NULL)) != -1) {
		if (c == 'D') {
			if (!parse_seconds("duration", optarg, 0.001, 1e6, &duration))
				return EXIT_USAGE;
			continue;
		}
		rc = count_timeout_opts(c, &count, &timeout, &co);
		if (rc)
			return rc;
	}
	if (argc - optind != 2) {
		fprintf(stderr, PROG ": usage: record NAME FILE [--count N] [--duration S] [--timeout S]\n");
		return EXIT_USAGE;
	}
	name = argv[optind];
	path = argv[optind + 1];
	rc = svc_open(name, SHMK_SVC_PUBSUB, "record", &co, &svc);
	if (rc)
		return rc;
	shmk_service_config(svc, &cfg);
	rc = port_open(svc, name, SHMK_SVC_PUBSUB, false, &p);
	if (rc)
		goto out_svc;
	f = fopen(path, "wb");
	if (!f) {
		rc = fail(errno, path);
		goto out_port;
	}
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, REC_MAGIC, 8);
	put32(hdr + 8, REC_VERSION);
	put32(hdr + 12, REC_HDR);
	put64(hdr + 16, cfg.payload_max);
	put64(hdr + 24, (uint64_t)clock_ns(CLOCK_REALTIME));
	snprintf((char *)hdr + 32, 64, "%s", name);
	if (!write_all(f, hdr, sizeof(hdr))) {
		rc = fail(errno, path);
		goto out_file;
	}
	catch_signals();
	t0 = mono_ns();
	if (timeout > 0)
		deadline = t0 + seconds_ns(timeout);
	if (duration > 0)
		end = t0 + seconds_ns(duration);
	while (!count || got < count) {
		int64_t until = deadline;

		if (end >= 0 && (until < 0 || end < until))
			until = end;
		ret = next_sample(p, &smp, until, &warned);
		if (ret == STOPPED)
			break;
		if (ret == TIMED_OUT) {
			if (end >= 0 && mono_ns() >= end && (deadline < 0 || end <= deadline))
				break;	/* --duration: done */
			fprintf(stderr, PROG ": %s: %" PRIu64 " of %" PRIu64
				" samples in %g s\n", name, got, count, timeout);
			rc = EXIT_TIMEOUT;
			break;
		}
		if (ret < 0) {
			rc = fail(-ret, name);
			break;
		}
		put64(sh, (uint64_t)(mono_ns() - t0));
		put32(sh + 8, (uint32_t)smp.len);
		put32(sh + 12, crc32_ieee(smp.data, smp.len));
		if (!write_all(f, sh, sizeof(sh)) || !write_all(f, smp.data, smp.len)) {
			rc = fail(errno, path);
			shmk_sub_release(p, &smp);
			break;
		}
		bytes += smp.len;
		shmk_sub_release(p, &smp);
		got++;
	}
out_file:
	if (fclose(f) && !rc)
		rc = fail(errno, path);
	if (!rc || rc == EXIT_TIMEOUT) {
		if (opt_json) {
			printf("{\"service\":");
			json_str(name);
			printf(",\"file\":");
			json_str(path);
			printf(",\"samples\":%" PRIu64 ",\"bytes\":%" PRIu64
			       ",\"dropped\":%" PRIu64 "}\n", got, bytes,
			       shmk_sub_dropped(p));
		} else {
			printf("recorded %" PRIu64 " samples (%" PRIu64
				" bytes) of %s into %s\n", got, bytes, name, path);
		}
	}
out_port:
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
	return rc;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'R' },
		{ "as-recorded", no_argument, NULL, 'a' },
		{ "drain", required_argument, NULL, 'd' },
		{ "wait", required_argument, NULL, 'w' },
		CREATE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts co = { 0 };
	struct shmk_svc_config cfg = { .size = sizeof(cfg) };
	struct shmk_service *svc;
	struct shmk_port *p;
	struct rec_info ri;
	const char *path, *name;
	unsigned char *b;
	size_t n, off = REC_HDR;
	uint64_t sent = 0;
	double rate = 0, drain_s = 1, wait_s = 0;
	bool as_recorded = false;
	int64_t t0, period = 0;
	char err[200];
	int c, rc, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "R:ad:w:", opts, NULL)) != -1) {
		switch (c) {
		case 'R':
			if (!parse_seconds("rate", optarg, 0.001, 1e9, &rate))
				return EXIT_USAGE;
			break;
		case 'a':
			as_recorded = true;
			break;
		case 'd':
			if (!parse_seconds("drain", optarg, 0, 3600, &drain_s))
				return EXIT_USAGE;
			break;
		case 'w':
			if (!parse_seconds("wait", optarg, 0, 3600, &wait_s))
				return EXIT_USAGE;
			break;
		default:
			if (create_opt(c, optarg, &co))
				return EXIT_USAGE;
		}
	}
	if (argc - optind != 2 || (rate > 0 && as_recorded)) {
		fprintf(stderr, PROG ": usage: replay FILE NAME [--rate HZ|--as-recorded] "
			"[--drain S] [--wait S]\n");
		return EXIT_USAGE;
	}
	path = argv[optind];
	name = argv[optind + 1];
	/* The whole file is checked before anything is published. */
	ret = read_file(path, &b, &n);
	if (ret)
		return fail(-ret, path);
	if (rec_check(b, n, &ri, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s: %s\n", path, err);
		free(b);
		return EXIT_BADFILE;
	}
	rc = svc_open(name, SHMK_SVC_PUBSUB, "replay", &co, &svc);
	if (rc)
		goto out_b;
	shmk_service_config(svc, &cfg);
	if (ri.largest > cfg.payload_max) {
		fprintf(stderr, PROG ": %s: the recording has a %" PRIu64 "-byte sample, "
			"the service takes at most %llu\n", name, ri.largest,
			(unsigned long long)cfg.payload_max);
		rc = EXIT_KIND;
		goto out_svc;
	}
	rc = port_open(svc, name, SHMK_SVC_PUBSUB, true, &p);
	if (rc)
		goto out_svc;
	catch_signals();
	if (wait_s > 0) {
		rc = wait_consumer(svc, name, wait_s);
		if (rc)
			goto out_port;
	}
	if (rate > 0)
		period = (int64_t)(1e9 / rate);
	else
		as_recorded = true;	/* the default */
	t0 = mono_ns();
	while (off < n && !stop) {
		uint64_t t = get64(b + off);
		uint32_t len = get32(b + off + 8);
		int64_t when = period ? t0 + (int64_t)sent * period :
			       t0 + (int64_t)t;

		if ((period || as_recorded) && !sleep_until(when))
			break;
		ret = publish_one(p, b + off + REC_SAMPLE_HDR, len);
		if (ret == -EINTR)
			break;
		if (ret) {
			rc = fail(-ret, name);
			break;
		}
		sent++;
		off += REC_SAMPLE_HDR + len;
	}
	drain(p, name, drain_s);
	if (opt_json) {
		printf("{\"service\":");
		json_str(name);
		printf(",\"file\":");
		json_str(path);
		printf(",\"published\":%" PRIu64 ",\"samples\":%" PRIu64 "}\n", sent,
		       ri.samples);
	} else {
		printf("replayed %" PRIu64 " of %" PRIu64 " samples from %s to %s\n",
		       sent, ri.samples, path, name);
	}
out_port:
	shmk_port_close(p);
out_svc:
	shmk_service_close(svc);
out_b:
	free(b);
	return rc;
}
