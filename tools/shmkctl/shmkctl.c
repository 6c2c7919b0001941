// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmkctl - inspect and manage shmk regions and services.
 *
 *   shmkctl [--json] list | info NAME... | create NAME SIZE [-m MODE] [-r]
 *           | remove NAME... | top [-i SECONDS] [-n COUNT]
 *           | service list|info|create|remove ...
 *           | echo | publish | notify | listen | hz | record | replay ...
 *
 * On the device backend (/dev/shmk) the regions come from SHMK_IOC_LIST,
 * which needs no permission on the regions themselves and does not count
 * as a handle.  On the memfd backend (no module, or SHMK_BACKEND=memfd)
 * they are the files /dev/shm/shmk.NAME; what the kernel alone knows
 * (open handles, 2 MiB page share) is then unknown and shown as "-".
 * The backend is chosen as libshmk chooses it.  See shmkctl(8).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/shmk.h>
#include <shmk/shmk.h>
#include <shmk/service.h>

#include "shmkctl.h"

#define VERSION		"0.1.0"
#define MEMFD_DIR	"/dev/shm"
#define MEMFD_PREFIX	"shmk."

bool opt_json;
int backend;			/* SHMK_BACKEND_DEVICE or _MEMFD */

/* One region, whichever backend it comes from. */
struct region {
	struct shmk_region_info info;
	bool have_handles;	/* info.handles is known */
	bool have_huge;		/* info.huge_bytes is known */
};

int exit_code(int err)
{
	switch (err) {
	case ENODEV: case ENXIO: return EXIT_NODEV;
	case ENOENT: return EXIT_NOENT;
	case EACCES: case EPERM: return EXIT_PERM;
	case EEXIST: return EXIT_EXIST;
	case EPROTOTYPE: return EXIT_KIND;
	case ETIMEDOUT: return EXIT_TIMEOUT;
	case EINVAL: case ENAMETOOLONG: return EXIT_USAGE;
	default: return EXIT_FAIL;
	}
}

/* Prints "shmkctl: WHAT: strerror" with a hint; returns the exit code. */
int fail(int err, const char *what)
{
	const char *hint = "";

	if (err == ENOENT && backend == SHMK_BACKEND_DEVICE && !strcmp(what, SHMK_DEVICE_PATH))
		err = ENODEV;
	if (err == ENODEV || err == ENXIO)
		hint = " (is shmk.ko loaded? SHMK_BACKEND=memfd uses the fallback)";
	else if (err == EACCES || err == EPERM)
		hint = " (not the owner, or the mode forbids it)";
	fprintf(stderr, PROG ": %s: %s%s\n", what, strerror(err), hint);
	return exit_code(err);
}

const char *backend_name(void)
{
	return backend == SHMK_BACKEND_DEVICE ? "device" : "memfd";
}

/* Listing */

static int device_list(struct region **out, size_t *n)
{
	struct shmk_list l = { .size = sizeof(l),
			       .entry_size = sizeof(struct shmk_region_info) };
	struct shmk_region_info *e = NULL;
	struct region *r;
	uint32_t room = 16, i;
	int fd, err;

	fd = open(SHMK_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	/* The count can grow between calls: retry until everything fits. */
	for (;;) {
		free(e);
		e = calloc(room, sizeof(*e));
		if (!e) {
			close(fd);
			return -ENOMEM;
		}
		for (i = 0; i < room; i++)
			e[i].size = sizeof(*e);
		l.count = room;
		l.entries = (uintptr_t)e;
		if (ioctl(fd, SHMK_IOC_LIST, &l) < 0) {
			err = -errno;
			free(e);
			close(fd);
			return err;
		}
		if (l.count <= room)
			break;
		room = l.count + 16;
	}
	close(fd);
	r = calloc(l.count ? l.count : 1, sizeof(*r));
	if (!r) {
		free(e);
		return -ENOMEM;
	}
	for (i = 0; i < l.count; i++) {
		r[i].info = e[i];
		r[i].have_handles = r[i].have_huge = true;
	}
	free(e);
	*out = r;
	*n = l.count;
	return 0;
}

static int memfd_list(struct region **out, size_t *n)
{
	struct region *r = NULL, *nr;
	size_t cnt = 0, room = 0;
	struct dirent *d;
	DIR *dir;

	dir = opendir(MEMFD_DIR);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		struct stat st;
		const char *name = d->d_name + strlen(MEMFD_PREFIX);

		if (strncmp(d->d_name, MEMFD_PREFIX, strlen(MEMFD_PREFIX)) ||
		    shmk_name_check(name) ||
		    fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (cnt == room) {
			room = room ? 2 * room : 16;
			nr = realloc(r, room * sizeof(*r));
			if (!nr) {
				free(r);
				closedir(dir);
				return -ENOMEM;
			}
			r = nr;
		}
		memset(&r[cnt], 0, sizeof(r[cnt]));
		r[cnt].info.size = sizeof(r[cnt].info);
		/* The memfd backend marks persistent regions with the sticky bit. */
		r[cnt].info.flags = (st.st_mode & S_ISVTX) ? SHMK_INFO_PERSIST : 0;
		r[cnt].info.bytes = (uint64_t)st.st_size;
		r[cnt].info.resident_bytes = (uint64_t)st.st_blocks * 512;
		r[cnt].info.id = (uint64_t)st.st_ino;
		r[cnt].info.uid = st.st_uid;
		r[cnt].info.gid = st.st_gid;
		r[cnt].info.mode = st.st_mode & 0777;
		snprintf(r[cnt].info.name, sizeof(r[cnt].info.name), "%s", name);
		cnt++;
	}
	closedir(dir);
	*out = r;
	*n = cnt;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct region *)a)->info.name,
		      ((const struct region *)b)->info.name);
}

static int list_regions(struct region **out, size_t *n)
{
	int ret;

	*out = NULL;
	*n = 0;
	ret = backend == SHMK_BACKEND_DEVICE ? device_list(out, n)
					     : memfd_list(out, n);
	if (!ret && *n)
		qsort(*out, *n, sizeof(**out), cmp_name);
	return ret;
}

/* Output */

/* @n bytes as a JSON string: bytes above 0x7e and controls as \u00XX. */
void json_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	putchar('"');
	for (i = 0; i < n; i++) {
		if (b[i] == '"' || b[i] == '\\')
			printf("\\%c", b[i]);
		else if (b[i] == '\n')
			fputs("\\n", stdout);
		else if (b[i] < 0x20 || b[i] > 0x7e)
			printf("\\u%04x", b[i]);
		else
			putchar(b[i]);
	}
	putchar('"');
}

void json_str(const char *s)
{
	json_bytes(s, strlen(s));
}

bool parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi,
	       uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
		fprintf(stderr, PROG ": bad %s '%s' (a whole number, %llu to %llu)\n",
			opt, s, (unsigned long long)lo, (unsigned long long)hi);
		return false;
	}
	*out = v;
	return true;
}

bool parse_seconds(const char *opt, const char *s, double lo, double hi,
		   double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, PROG ": bad %s '%s' (%g to %g)\n", opt, s, lo, hi);
		return false;
	}
	*out = v;
	return true;
}

/*
 * SHMKCTL_NUMERIC_IDS: the static build for the guest, where glibc's NSS
 * cannot be loaded; ids are shown as numbers.
 */
static const char *user_name(uint32_t uid, char *buf, size_t len)
{
#ifndef SHMKCTL_NUMERIC_IDS
	struct passwd *pw = getpwuid(uid);

	if (pw)
		return pw->pw_name;
#endif
	snprintf(buf, len, "%u", uid);
	return buf;
}

static const char *group_name(uint32_t gid, char *buf, size_t len)
{
#ifndef SHMKCTL_NUMERIC_IDS
	struct group *gr = getgrgid(gid);

	if (gr)
		return gr->gr_name;
#endif
	snprintf(buf, len, "%u", gid);
	return buf;
}

/* "64M", "2G", "512K", "123" */
const char *human(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 "B", b);
	else
		snprintf(buf, len, v < 10 && v != (int)v ? "%.1f%c" : "%.0f%c",
			 v, units[u]);
	return buf;
}

/* The share of resident memory in 2 MiB pages, as a percentage string. */
static const char *huge_share(const struct region *r, char *buf, size_t len)
{
	if (!r->have_huge)
		snprintf(buf, len, "-");
	else if (!r->info.resident_bytes)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%.0f%%", 100.0 * (double)r->info.huge_bytes /
			 (double)r->info.resident_bytes);
	return buf;
}

static void json_region(const struct region *r)
{
	const struct shmk_region_info *i = &r->info;
	char ub[16], gb[16];

	printf("{\"name\":");
	json_str(i->name);
	printf(",\"id\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"resident_bytes\":%" PRIu64,
	       (uint64_t)i->id, (uint64_t)i->bytes, (uint64_t)i->resident_bytes);
	if (r->have_huge) {
		printf(",\"huge_bytes\":%" PRIu64, (uint64_t)i->huge_bytes);
		if (i->resident_bytes)
			printf(",\"huge_share\":%.4f", (double)i->huge_bytes /
			       (double)i->resident_bytes);
		else
			printf(",\"huge_share\":null");
	} else {
		printf(",\"huge_bytes\":null,\"huge_share\":null");
	}
	printf(",\"uid\":%u,\"user\":", i->uid);
	json_str(user_name(i->uid, ub, sizeof(ub)));
	printf(",\"gid\":%u,\"group\":", i->gid);
	json_str(group_name(i->gid, gb, sizeof(gb)));
	printf(",\"mode\":\"%04o\"", i->mode);
	if (r->have_handles)
		printf(",\"handles\":%u", i->handles);
	else
		printf(",\"handles\":null");
	printf(",\"persistent\":%s,\"unlinked\":%s}",
	       (i->flags & SHMK_INFO_PERSIST) ? "true" : "false",
	       (i->flags & SHMK_INFO_UNLINKED) ? "true" : "false");
}

/* @with_services: top's refresh, with the services too. */
static void json_list(const struct region *r, size_t n, bool with_services)
{
	size_t i;

	printf("{\"backend\":\"%s\",\"time\":%lld,\"regions\":[", backend_name(),
	       (long long)time(NULL));
	for (i = 0; i < n; i++) {
		if (i)
			putchar(',');
		json_region(&r[i]);
	}
	putchar(']');
	if (with_services)
		top_services(true);
	printf("}\n");
}

static void table_header(void)
{
	printf("%-24s %8s %8s %6s %-10s %-10s %4s %7s %s\n", "NAME", "SIZE",
	       "RSS", "HUGE", "OWNER", "GROUP", "MODE", "HANDLES", "PERSIST");
}

static void table_row(const struct region *r)
{
	const struct shmk_region_info *i = &r->info;
	char sb[16], rb[16], hb[16], ub[16], gb[16], hd[16];

	if (r->have_handles)
		snprintf(hd, sizeof(hd), "%u", i->handles);
	else
		snprintf(hd, sizeof(hd), "-");
	printf("%-24s %8s %8s %6s %-10.10s %-10.10s %04o %7s %s\n", i->name,
	       human(i->bytes, sb, sizeof(sb)),
	       human(i->resident_bytes, rb, sizeof(rb)),
	       huge_share(r, hb, sizeof(hb)),
	       user_name(i->uid, ub, sizeof(ub)),
	       group_name(i->gid, gb, sizeof(gb)), i->mode, hd,
	       (i->flags & SHMK_INFO_PERSIST) ? "yes" : "no");
}

/* Commands */

static int cmd_list(void)
{
	struct region *r;
	size_t n, i;
	int ret;

	ret = list_regions(&r, &n);
	if (ret)
		return fail(-ret, backend == SHMK_BACKEND_DEVICE ?
			    SHMK_DEVICE_PATH : MEMFD_DIR);
	if (opt_json) {
		json_list(r, n, false);
	} else {
		table_header();
		for (i = 0; i < n; i++)
			table_row(&r[i]);
	}
	free(r);
	return EXIT_OK;
}

static void info_text(const struct region *r)
{
	const struct shmk_region_info *i = &r->info;
	char b[16], ub[16], gb[16];

	printf("name:       %s\n", i->name);
	printf("backend:    %s\n", backend_name());
	printf("id:         %" PRIu64 "\n", (uint64_t)i->id);
	printf("size:       %" PRIu64 " bytes (%s, %" PRIu64 " x 2 MiB)\n",
	       (uint64_t)i->bytes, human(i->bytes, b, sizeof(b)),
	       (uint64_t)(i->bytes >> SHMK_PAGE_SHIFT));
	printf("resident:   %" PRIu64 " bytes\n", (uint64_t)i->resident_bytes);
	if (r->have_huge)
		printf("huge:       %" PRIu64 " bytes in 2 MiB pages (%s of resident)\n",
		       (uint64_t)i->huge_bytes, huge_share(r, b, sizeof(b)));
	else
		printf("huge:       unknown on this backend\n");
	printf("owner:      %s (%u)\n", user_name(i->uid, ub, sizeof(ub)), i->uid);
	printf("group:      %s (%u)\n", group_name(i->gid, gb, sizeof(gb)), i->gid);
	printf("mode:       %04o\n", i->mode);
	if (r->have_handles)
		printf("handles:    %u\n", i->handles);
	else
		printf("handles:    unknown on this backend\n");
	printf("persistent: %s\n", (i->flags & SHMK_INFO_PERSIST) ? "yes" :
	       "no (freed with its last handle and mapping)");
}

static int cmd_info(int argc, char **argv)
{
	struct region *r;
	size_t n, i;
	int ret, k, rc = EXIT_OK, shown = 0;

	if (argc < 1) {
		fprintf(stderr, PROG ": info needs a region name\n");
		return EXIT_USAGE;
	}
	ret = list_regions(&r, &n);
	if (ret)
		return fail(-ret, backend == SHMK_BACKEND_DEVICE ?
			    SHMK_DEVICE_PATH : MEMFD_DIR);
	if (opt_json)
		printf("{\"backend\":\"%s\",\"regions\":[", backend_name());
	for (k = 0; k < argc; k++) {
		for (i = 0; i < n; i++)
			if (!strcmp(r[i].info.name, argv[k]))
				break;
		if (i == n) {
			fprintf(stderr, PROG ": %s: no such region\n", argv[k]);
			rc = EXIT_NOENT;
			continue;
		}
		if (opt_json) {
			if (shown)
				putchar(',');
			json_region(&r[i]);
		} else {
			if (shown)
				putchar('\n');
			info_text(&r[i]);
		}
		shown++;
	}
	if (opt_json)
		printf("]}\n");
	free(r);
	return rc;
}

/* "64M", "2MiB", "1G", "4096", "2097152" -> bytes; 0 on error */
static uint64_t parse_size(const char *s)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	}
	if (shift) {
		if (v > (~0ULL >> shift))
			return 0;
		v <<= shift;
		end++;
		if (*end == 'i')
			end++;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	return *end ? 0 : v;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "rdonly", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int mode = 0600, flags = SHMK_REGION_PERSIST;
	struct shmk_region *reg;
	struct region *r;
	uint64_t bytes;
	size_t n, i;
	char *end;
	int c, ret;

	optind = 0;	/* 0: glibc re-reads the option string */
	while ((c = getopt_long(argc, argv, "m:r", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mode = (unsigned int)strtoul(optarg, &end, 8);
			if (*end || !*optarg || mode > 0777) {
				fprintf(stderr, PROG ": bad mode '%s' (octal, at most 0777)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'r':
			flags |= SHMK_REGION_RDONLY;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, PROG ": usage: create NAME SIZE [--mode MODE] [--rdonly]\n");
		return EXIT_USAGE;
	}
	bytes = parse_size(argv[optind + 1]);
	if (!bytes) {
		fprintf(stderr, PROG ": bad size '%s' (bytes, or with K, M, G)\n",
			argv[optind + 1]);
		return EXIT_USAGE;
	}
	ret = shmk_name_check(argv[optind]);
	if (ret) {
		fprintf(stderr, PROG ": bad name '%s': 1 to %d printable characters, no '/' or space\n",
			argv[optind], SHMK_NAME_MAX - 1);
		return EXIT_USAGE;
	}
	/*
	 * Persistent: a region that died with this process would be of no
	 * use to anybody.  `shmkctl remove` ends it.
	 */
	ret = shmk_region_create(argv[optind], bytes, mode, flags, &reg);
	if (ret)
		return fail(-ret, argv[optind]);
	shmk_region_close(reg);
	if (list_regions(&r, &n))
		return EXIT_OK;
	for (i = 0; i < n; i++)
		if (!strcmp(r[i].info.name, argv[optind]))
			break;
	if (i < n) {
		if (opt_json) {
			json_region(&r[i]);
			putchar('\n');
		} else {
			info_text(&r[i]);
		}
	}
	free(r);
	return EXIT_OK;
}

static int cmd_remove(int argc, char **argv)
{
	int k, ret, rc = EXIT_OK;

	if (argc < 1) {
		fprintf(stderr, PROG ": remove needs a region name\n");
		return EXIT_USAGE;
	}
	for (k = 0; k < argc; k++) {
		ret = shmk_region_unlink(argv[k]);
		if (ret)
			rc = fail(-ret, argv[k]);
	}
	return rc;
}

volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* SIGINT, SIGTERM: set stop, and cut a sleep short (no SA_RESTART). */
void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * A refreshing table: regions sorted by name with their resident size and
 * its change since the previous refresh.  With --json, one JSON object per
 * line per refresh.
 */
static int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct region *prev = NULL, *cur;
	size_t nprev = 0, ncur, i, j;
	double interval = 1.0;
	long count = -1, done = 0;
	bool tty = isatty(STDOUT_FILENO);
	char *end;
	int c, ret;

	optind = 0;	/* 0: glibc re-reads the option string */
	while ((c = getopt_long(argc, argv, "+i:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || interval < 0.05 || interval > 3600) {
				fprintf(stderr, PROG ": bad interval '%s' (seconds, 0.05 to 3600)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, PROG ": bad count '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": top takes no arguments\n");
		return EXIT_USAGE;
	}
	catch_signals();
	while (!stop) {
		uint64_t total = 0, rss = 0, huge = 0;
		struct timespec ts;
		char b1[16], b2[16], b3[16], tbuf[32];
		time_t now = time(NULL);

		ret = list_regions(&cur, &ncur);
		if (ret) {
			free(prev);
			return fail(-ret, backend == SHMK_BACKEND_DEVICE ?
				    SHMK_DEVICE_PATH : MEMFD_DIR);
		}
		if (opt_json) {
			json_list(cur, ncur, true);
		} else {
			if (tty)
				printf("\033[H\033[J");
			for (i = 0; i < ncur; i++) {
				total += cur[i].info.bytes;
				rss += cur[i].info.resident_bytes;
				huge += cur[i].info.huge_bytes;
			}
			strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&now));
			printf("shmkctl top - %s  backend %s  %zu regions  size %s  resident %s  huge %s  (every %.2gs%s)\n\n",
			       tbuf, backend_name(), ncur, human(total, b1, sizeof(b1)),
			       human(rss, b2, sizeof(b2)),
			       backend == SHMK_BACKEND_DEVICE ? human(huge, b3, sizeof(b3)) : "-",
			       interval, tty ? ", q: Ctrl-C" : "");
			printf("%-24s %8s %8s %9s %6s %-10s %4s %7s %s\n", "NAME", "SIZE",
			       "RSS", "dRSS", "HUGE", "OWNER", "MODE", "HANDLES", "PERSIST");
			for (i = 0; i < ncur; i++) {
				const struct region *r = &cur[i];
				char sb[16], rb[16], hb[16], ub[16], hd[16], db[24];
				int64_t d;

				for (j = 0; j < nprev; j++)
					if (prev[j].info.id == r->info.id)
						break;
				if (j == nprev) {
					/* Not there at the previous refresh. */
					snprintf(db, sizeof(db), "%s", done ? "new" : "");
				} else {
					d = (int64_t)(r->info.resident_bytes -
						      prev[j].info.resident_bytes);
					snprintf(db, sizeof(db), "%s%s", d < 0 ? "-" : "+",
						 human((uint64_t)(d < 0 ? -d : d), hb, sizeof(hb)));
				}
				if (r->have_handles)
					snprintf(hd, sizeof(hd), "%u", r->info.handles);
				else
					snprintf(hd, sizeof(hd), "-");
				printf("%-24s %8s %8s %9s %6s %-10.10s %04o %7s %s\n",
				       r->info.name, human(r->info.bytes, sb, sizeof(sb)),
				       human(r->info.resident_bytes, rb, sizeof(rb)), db,
				       huge_share(r, hb, sizeof(hb)),
				       user_name(r->info.uid, ub, sizeof(ub)), r->info.mode, hd,
				       (r->info.flags & SHMK_INFO_PERSIST) ? "yes" : "no");
			}
			for (j = 0; j < nprev; j++) {
				for (i = 0; i < ncur; i++)
					if (prev[j].info.id == cur[i].info.id)
						break;
				if (i == ncur)
					printf("%-24s (gone)\n", prev[j].info.name);
			}
			top_services(false);
		}
		fflush(stdout);
		free(prev);
		prev = cur;
		nprev = ncur;
		if (count > 0 && ++done >= count)
			break;
		ts.tv_sec = (time_t)interval;
		ts.tv_nsec = (long)((interval - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);	/* a signal cuts it short: stop is set */
	}
	free(prev);
	return EXIT_OK;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--json] COMMAND [ARGS]\n"
		"\n"
		"Regions:\n"
		"  list                         regions: size, resident, share in 2 MiB pages,\n"
		"                               owner, group, mode, open handles, persistence\n"
		"  info NAME...                 one region in detail\n"
		"  create NAME SIZE [-m MODE] [-r]  a persistent region (SIZE: bytes or K/M/G;\n"
		"                               MODE octal, default 0600; -r: read-only fds)\n"
		"  remove NAME...               remove regions' names (alias: rm, unlink)\n"
		"  top [-i SECONDS] [-n COUNT]  refreshing view of regions and services\n"
		"                               (alias: watch)\n"
		"\n"
		"Services:\n"
		"  service list                 kind, limits, live and dead participants,\n"
		"                               queue depth, chunks in use (alias: services)\n"
		"  service info NAME...         configuration and each participant: slot,\n"
		"                               role, pid, state (alive or dead), lag, drops\n"
		"  service remove NAME...\n"
		"  echo NAME [--hex|--text] [--count N] [--timeout S]   print samples\n"
		"  publish NAME [DATA|--file F] [--hex] [--repeat N] [--rate HZ] [--stamp]\n"
		"        [--drain S]            publish DATA (text, or hex with --hex)\n"
		"  notify NAME ID [--repeat N]  signal an event id\n"
		"  listen NAME [--count N] [--timeout S]   print event ids as they come\n"
		"  hz NAME [--window S] [--count N]   rate, inter-arrival and latency\n"
		"  record NAME FILE [--count N] [--duration S] [--timeout S]\n"
		"  replay FILE NAME [--rate HZ|--as-recorded] [--drain S]\n"
		"  (publish and replay: --wait S waits for a subscriber, notify for a\n"
		"  listener.  Each of these may --create the service when it is missing,\n"
		"  with [--payload BYTES] [--publishers N] [--subscribers N] [--buffer N]\n"
		"  [--history N] [--overflow safe|block] [--events N] [--mode MODE]\n"
		"  [--zero-trust] [--dynamic];\n"
		"  a service lives while some process has it open.)\n"
		"\n"
		"  -j, --json     JSON on stdout (streams: one object per line)\n"
		"  -V, --version  print the version\n"
		"  -h, --help     this text\n"
		"\n"
		"Backend: /dev/shmk when it opens, else memfd (/dev/shm/shmk.*);\n"
		"SHMK_BACKEND=device|memfd forces one.\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 3 no /dev/shmk, 4 no such region\n"
		"or service, 5 permission denied, 6 exists, 7 the service's kind or size\n"
		"does not fit, 8 timed out, 9 bad record file.  See shmkctl(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} port_cmds[] = {
		{ "echo", cmd_echo }, { "publish", cmd_publish },
		{ "notify", cmd_notify }, { "listen", cmd_listen },
		{ "hz", cmd_hz }, { "record", cmd_record },
		{ "replay", cmd_replay }, { "service", cmd_service },
	};
	const char *cmd;
	char *prefix;
	size_t k;
	int c;

	/* '+': stop at the command; its own options come after it. */
	while ((c = getopt_long(argc, argv, "+jhV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			opt_json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf(PROG " " VERSION "\n");
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	/* getopt's messages in the commands: "shmkctl: CMD: ...". */
	if (asprintf(&prefix, PROG ": %s", cmd) > 0)
		argv[0] = prefix;
	/* A --json after the command name is accepted too. */
	for (c = 1; c < argc; c++)
		if (!strcmp(argv[c], "--json") || !strcmp(argv[c], "-j")) {
			opt_json = true;
			memmove(&argv[c], &argv[c + 1], (size_t)(argc - c) * sizeof(*argv));
			argc--;
			c--;
		}
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	backend = shmk_backend_select();
	if (backend < 0) {
		fprintf(stderr, PROG ": SHMK_BACKEND must be 'device' or 'memfd'\n");
		return EXIT_USAGE;
	}
	/* Stream commands: each line out as it comes, also into a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "list") || !strcmp(cmd, "ls")) {
		if (argc > 1) {
			fprintf(stderr, PROG ": list takes no arguments\n");
			return EXIT_USAGE;
		}
		return cmd_list();
	}
	if (!strcmp(cmd, "info") || !strcmp(cmd, "show"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(cmd, "create"))
		return cmd_create(argc, argv);
	if (!strcmp(cmd, "remove") || !strcmp(cmd, "rm") || !strcmp(cmd, "unlink"))
		return cmd_remove(argc - 1, argv + 1);
	if (!strcmp(cmd, "services") || !strcmp(cmd, "svc")) {
		if (argc > 1) {
			fprintf(stderr, PROG ": services takes no arguments\n");
			return EXIT_USAGE;
		}
		return cmd_services();
	}
	if (!strcmp(cmd, "top") || !strcmp(cmd, "watch"))
		return cmd_top(argc, argv);
	for (k = 0; k < sizeof(port_cmds) / sizeof(port_cmds[0]); k++)
		if (!strcmp(cmd, port_cmds[k].name))
			return port_cmds[k].fn(argc, argv);
	fprintf(stderr, PROG ": unknown command '%s' (try '" PROG " --help')\n", cmd);
	return EXIT_USAGE;
}
