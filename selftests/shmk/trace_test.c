// SPDX-License-Identifier: GPL-2.0
/*
 * shmk's tracepoints (kernel/shmk_trace.h): each fires, with the region's
 * id and the arguments of the operation that made it, read back from
 * tracefs.  A kernel without tracefs or event tracing (the debug lane's
 * minimal kernel) skips.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "shmk_util.h"

#define TRACING		"/sys/kernel/tracing"
#define EVENTS		TRACING "/events/shmk"

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* The whole trace buffer, NUL-terminated (malloc'd), or NULL. */
static char *read_trace(void)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = open(TRACING "/trace", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *more = realloc(buf, cap *= 2);

			if (!more)
				break;
			buf = more;
		}
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

/* The trace has a line of @event containing every string of @needles. */
static int has_event(const char *trace, const char *event,
		     const char *const *needles)
{
	char key[64];
	const char *line = trace;

	snprintf(key, sizeof(key), " %s: ", event);
	while ((line = strstr(line, key))) {
		const char *end = strchrnul(line, '\n');
		int i, all = 1;

		for (i = 0; needles[i]; i++) {
			const char *hit = memmem(line, end - line, needles[i],
						 strlen(needles[i]));

			if (!hit) {
				all = 0;
				break;
			}
		}
		if (all)
			return 1;
		line = end;
	}
	return 0;
}

FIXTURE(trace) {
	int dev;
};

FIXTURE_SETUP(trace)
{
	struct stat st;

	if (stat(EVENTS, &st)) {
		/* /init mounts tracefs; try once more for a bare guest. */
		mount("tracefs", TRACING, "tracefs", 0, NULL);
		if (stat(EVENTS, &st)) {
			self->dev = -1;
			SKIP(return, "no %s (kernel without event tracing?)",
			     EVENTS);
		}
	}
	self->dev = shmk_dev();
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, write_file(TRACING "/tracing_on", "1"));
	ASSERT_EQ(0, write_file(TRACING "/trace", ""));	/* clear */
	ASSERT_EQ(0, write_file(EVENTS "/enable", "1"));
}

FIXTURE_TEARDOWN(trace)
{
	write_file(EVENTS "/enable", "0");
	if (self->dev >= 0)
		close(self->dev);
}

/* Every event, from one life of one region. */
TEST_F(trace, every_event_fires)
{
	char name[64], id[32];
	struct shmk_region_info info;
	struct shmk_on_release rel = {
		.size = sizeof(rel), .slot_offset = 64, .slot_value = 7,
		.counter_offset = 128,
	};
	struct shmk_watch watch = {
		.size = sizeof(watch), .offset = 256,
		.bitset = SHMK_BITSET_ANY,
	};
	struct pollfd pfd;
	char *trace;
	int fd, fd2;

	snprintf(name, sizeof(name), "trace.%d", (int)getpid());
	fd = shmk_create_flags(self->dev, name, 1, 0640, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, shmk_info(fd, &info));
	snprintf(id, sizeof(id), "id=%llu ", (unsigned long long)info.id);
	fd2 = shmk_open_flags(self->dev, name, SHMK_OPEN_RDONLY);
	ASSERT_LE(0, fd2);
	/* A wait that times out (the word is 0, expected 0: it sleeps). */
	ASSERT_EQ(-ETIMEDOUT, shmk_wait(fd, 0, 0, SHMK_WAIT_TIMEOUT, 1000000));
	/* A wait that does not sleep: the word is not 5. */
	ASSERT_EQ(-EAGAIN, shmk_wait(fd, 0, 5, SHMK_WAIT_TIMEOUT, 1000000));
	ASSERT_EQ(0, shmk_ioctl(fd2, SHMK_IOC_WATCH, &watch));
	ASSERT_EQ(0, shmk_wake(fd, 256, 3));
	pfd.fd = fd2;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 1000));
	ASSERT_EQ(0, shmk_ioctl(fd, SHMK_IOC_ON_RELEASE, &rel));
	ASSERT_EQ(0, shmk_unlink(self->dev, name));
	close(fd);	/* the death notice: slot 64 <- 7, counter 128 */
	close(fd2);	/* the last handle: the region is freed */
	ASSERT_EQ(0, write_file(EVENTS "/enable", "0"));

	trace = read_trace();
	ASSERT_NE(NULL, trace);
	char nm[80];
	const char *create[] = { id, nm, "bytes=2097152", "mode=0640",
				 "persist=0", "rdonly=0", NULL };
	const char *open_ro[] = { id, nm, "rdonly=1", NULL };
	const char *wait_sleeps[] = { id, "offset=0 expected=0 words=1 timeout=1", NULL };
	const char *timed_out[] = { id, "ret=-110", NULL };
	const char *differs[] = { id, "ret=-11", NULL };
	const char *watch_armed[] = { id, "offset=256", NULL };
	const char *wake[] = { id, "offset=256 count=3", "woken=0 watches=1", NULL };
	const char *notice[] = { id, "slot=64 value=7 written=1 counter=128 ret=0", NULL };
	const char *counter_wake[] = { id, "offset=128", NULL };
	const char *release[] = { id, "handles=1", NULL };
	const char *last[] = { id, "handles=0", NULL };
	const char *freed[] = { id, "bytes=2097152", NULL };

	snprintf(nm, sizeof(nm), "name=%s ", name);
	EXPECT_TRUE(has_event(trace, "shmk_region_create", create));
	EXPECT_TRUE(has_event(trace, "shmk_region_open", open_ro));
	EXPECT_TRUE(has_event(trace, "shmk_wait", wait_sleeps));
	EXPECT_TRUE(has_event(trace, "shmk_wait_done", timed_out));
	EXPECT_TRUE(has_event(trace, "shmk_wait_done", differs));
	EXPECT_TRUE(has_event(trace, "shmk_watch", watch_armed));
	EXPECT_TRUE(has_event(trace, "shmk_wake", wake));
	EXPECT_TRUE(has_event(trace, "shmk_death_notice", notice));
	EXPECT_TRUE(has_event(trace, "shmk_wake", counter_wake));
	EXPECT_TRUE(has_event(trace, "shmk_region_release", release));
	EXPECT_TRUE(has_event(trace, "shmk_region_release", last));
	EXPECT_TRUE(has_event(trace, "shmk_region_free", freed));
	if (_metadata->passed == 0)
		fprintf(stderr, "%s", trace);
	free(trace);
}

/* Disabled events record nothing. */
TEST_F(trace, disabled_events_are_silent)
{
	char name[64];
	char *trace;
	int fd;

	ASSERT_EQ(0, write_file(EVENTS "/enable", "0"));
	ASSERT_EQ(0, write_file(TRACING "/trace", ""));
	snprintf(name, sizeof(name), "trace.off.%d", (int)getpid());
	fd = shmk_create(self->dev, name, 1);
	ASSERT_LE(0, fd);
	shmk_unlink(self->dev, name);
	close(fd);
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	EXPECT_EQ(NULL, strstr(trace, " shmk_"));
	free(trace);
}

TEST_HARNESS_MAIN
