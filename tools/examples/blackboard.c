// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * blackboard: a shared key-value store between terminals (one writer,
 * lock-free readers; include/shmk/blackboard.h).
 *
 *   blackboard write NAME KEY=VALUE...  set each key (added if new)
 *   blackboard read NAME                list every key and its value
 *   blackboard watch NAME KEY [COUNT]   print KEY's value each time it
 *                                       changes, COUNT times (default 3)
 *
 * Keys are up to 15 characters (16-byte keys, NUL-padded), values up to
 * 63.  A service goes away with its last user, so keep a watcher (or a
 * reader) running while writers come and go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmk/shmk.h>

#define KEY	16
#define VAL	64

static void key_of(char *k, const char *s, size_t n)
{
	memset(k, 0, KEY);
	memcpy(k, s, n < KEY - 1 ? n : KEY - 1);
}

/* Print KEY's value; 0 or a negative errno. */
static int show(struct shmk_port *p, const char *k)
{
	char v[VAL + 1];
	uint64_t ver;
	int n = shmk_bb_read(p, k, v, VAL, &ver);

	if (n == -EAGAIN || n == -ENODATA) {
		/* Being written, or its writer died while writing it. */
		printf("%-15s (no value now: %s)\n", k, strerror(-n));
		return 0;
	}
	if (n < 0)
		return n;
	v[n] = 0;
	printf("%-15s = %s (version %llu)\n", k, v, (unsigned long long)ver);
	return 0;
}

static int do_write(struct shmk_service *s, int argc, char **argv)
{
	struct shmk_port *w;
	char k[KEY];
	int i, ret = shmk_bb_writer_open(s, &w);

	if (ret)
		return ret;
	for (i = 3; !ret && i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (!eq) {
			fprintf(stderr, "%s: not KEY=VALUE\n", argv[i]);
			ret = -EINVAL;
			break;
		}
		key_of(k, argv[i], (size_t)(eq - argv[i]));
		ret = shmk_bb_write(w, k, eq + 1, strlen(eq + 1));
		if (ret == -ENOENT)
			ret = shmk_bb_add(w, k, eq + 1, strlen(eq + 1));
		if (!ret)
			printf("%s = %s\n", k, eq + 1);
	}
	shmk_port_close(w);
	return ret;
}

static int do_read(struct shmk_service *s)
{
	char keys[64][KEY];
	struct shmk_port *r;
	int i, n, ret = shmk_bb_reader_open(s, &r);

	if (ret)
		return ret;
	n = shmk_bb_keys(r, keys, 64);
	for (i = 0; i < n && i < 64 && ret == 0; i++)
		ret = show(r, keys[i]);
	if (n == 0)
		printf("(no keys yet)\n");
	shmk_port_close(r);
	return ret;
}

static int do_watch(struct shmk_service *s, const char *key, int count)
{
	struct shmk_port *r;
	char k[KEY];
	int got = 0, ret = shmk_bb_reader_open(s, &r);

	if (ret)
		return ret;
	key_of(k, key, strlen(key));
	while (!ret && got < count) {
		ret = shmk_bb_wait(r, k, SHMK_FOREVER);
		if (ret == -ENOENT) {	/* not added yet: look again soon */
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
			ret = 0;
			continue;
		}
		if (ret == -EINTR) {
			ret = 0;
			continue;
		}
		if (!ret && !(ret = show(r, k)))
			got++;
	}
	shmk_port_close(r);
	return ret;
}

int main(int argc, char **argv)
{
	struct shmk_svc_config c;
	struct shmk_service *s;
	int ret;

	if (argc < 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "read") &&
			 strcmp(argv[1], "watch")) ||
	    (argv[1][0] == 'w' && argc < 4)) {
		fprintf(stderr, "usage: %s write NAME KEY=VALUE... | read NAME | "
			"watch NAME KEY [COUNT]\n", argv[0]);
		return 2;
	}
	/* 64 keys of 16 bytes, values of up to 64 bytes, 8 readers. */
	shmk_bb_config(&c, 64, KEY, VAL, 8);
	ret = shmk_service_open(argv[2], &c, SHMK_SVC_CREATE, &s);
	if (ret) {
		/* shmk_last_error() names the field that differs. */
		fprintf(stderr, "service %s: %s%s%s\n", argv[2], strerror(-ret),
			*shmk_last_error() ? ": " : "", shmk_last_error());
		return 1;
	}
	if (argv[1][0] == 'w' && argv[1][1] == 'r')
		ret = do_write(s, argc, argv);
	else if (argv[1][0] == 'r')
		ret = do_read(s);
	else
		ret = do_watch(s, argv[3], argc > 4 ? atoi(argv[4]) : 3);
	if (ret)
		fprintf(stderr, "%s: %s%s%s\n", argv[1], strerror(-ret),
			*shmk_last_error() ? ": " : "", shmk_last_error());
	shmk_service_close(s);
	return ret ? 1 : 0;
}
