// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk blackboard on the device backend, in the QEMU guest with
 * shmk.ko: keys and values across processes, readers in other processes
 * that never see a torn value while the writer rewrites, a reader asleep
 * in shmk_bb_wait() woken by a write, and writers killed with SIGKILL at
 * random points of a write storm: the module's death notice frees the
 * writer's slot, the next writer takes over and repairs, and no reader
 * ever returns a torn value.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "kselftest_harness.h"

#define LIB_UTIL_PREFIX "bb"
#include "lib_util.h"

#define NKEYS	4
#define VWORDS	16

/* Version n of key k: every word derived from both, a length from n. */
static size_t val_put(uint64_t *w, uint64_t k, uint64_t n)
{
	size_t j;

	for (j = 0; j < VWORDS; j++)
		w[j] = n * 1000003 + k * 131 + j;
	return 8 * (1 + (n * 5 + k) % VWORDS);
}

/* 0 when @w (@len bytes) is one whole version of key @k. */
static int val_check(const uint64_t *w, int len, uint64_t k)
{
	uint64_t want[VWORDS], n;

	if (len < 8 || len > 8 * VWORDS || len % 8)
		return -1;
	n = (w[0] - k * 131) / 1000003;
	if ((size_t)len != val_put(want, k, n))
		return -1;
	return memcmp(w, want, (size_t)len) ? -1 : 0;
}

static struct shmk_service *bb_new(struct __test_metadata *_metadata,
				   char *name, const char *tag)
{
	struct shmk_svc_config c;
	struct shmk_service *s;

	shmk_bb_config(&c, NKEYS, 8, 8 * VWORDS, 4);
	uniq(name, SHMK_SVC_NAME_MAX, tag);
	EXPECT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
				       &s));
	return s;
}

/*
 * A reader process: reads every key until *stop; exits 0 when every
 * value was whole, 2 when one was torn.  Busy (-EAGAIN) and repaired
 * (-ENODATA) entries are allowed.
 */
static void reader_child(const char *name, volatile int *stop,
			 volatile int *ready)
{
	struct shmk_service *s;
	struct shmk_port *r;
	uint64_t buf[VWORDS], k;
	unsigned long reads = 0;
	int ret;

	CHILD_CHECK(shmk_service_open(name, NULL, 0, &s) == 0);
	CHILD_CHECK(shmk_bb_reader_open(s, &r) == 0);
	__atomic_fetch_add(ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(stop, __ATOMIC_SEQ_CST)) {
		for (k = 0; k < NKEYS; k++) {
			ret = shmk_bb_read(r, &k, buf, sizeof(buf), NULL);
			if (ret == -EAGAIN || ret == -ENODATA || ret == -ENOENT)
				continue;
			if (ret < 0 || val_check(buf, ret, k)) {
				fprintf(stderr, "torn: key %llu ret %d\n",
					(unsigned long long)k, ret);
				_exit(2);
			}
			reads++;
		}
	}
	CHILD_CHECK(reads > 0);
	shmk_port_close(r);
	_exit(0);
}

TEST(keys_and_values)
{
	char name[SHMK_SVC_NAME_MAX], buf[16];
	struct shmk_service *s;
	struct shmk_port *w, *x;
	uint64_t k = 42, keys[NKEYS];
	pid_t kid;

	NEED_DEVICE();
	s = bb_new(_metadata, name, "kv");
	ASSERT_EQ(SHMK_BACKEND_DEVICE, shmk_backend_select());
	ASSERT_EQ(0, shmk_bb_writer_open(s, &w));
	ASSERT_EQ(-EBUSY, shmk_bb_writer_open(s, &x));
	ASSERT_EQ(0, shmk_bb_add(w, &k, "hello", 5));
	ASSERT_EQ(-EEXIST, shmk_bb_add(w, &k, "x", 1));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		struct shmk_service *cs;
		struct shmk_port *r;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_bb_reader_open(cs, &r) == 0);
		CHILD_CHECK(shmk_bb_keys(r, keys, NKEYS) == 1 && keys[0] == 42);
		CHILD_CHECK(shmk_bb_read(r, &k, buf, sizeof(buf), NULL) == 5);
		CHILD_CHECK(!memcmp(buf, "hello", 5));
		CHILD_CHECK(shmk_bb_changed(r, &k) == 0);
		_exit(0);
	}
	ASSERT_EQ(0, reap(kid));
	shmk_port_close(w);
	/* The child left without closing: its reader is dead, reclaimed. */
	ASSERT_EQ(1, shmk_service_recover(s));
	ASSERT_EQ(0, shmk_service_participants(s));
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST(wait_woken)
{
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *w;
	uint64_t k = 1;
	int i;
	pid_t kid;

	NEED_DEVICE();
	s = bb_new(_metadata, name, "wait");
	ASSERT_EQ(0, shmk_bb_writer_open(s, &w));
	ASSERT_EQ(0, shmk_bb_add(w, &k, "0", 1));
	for (i = 0; i < 5; i++) {
		kid = fork();
		ASSERT_LE(0, kid);
		if (kid == 0) {
			struct shmk_service *cs;
			struct shmk_port *r;
			char c;

			alarm(20);
			CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
			CHILD_CHECK(shmk_bb_reader_open(cs, &r) == 0);
			CHILD_CHECK(shmk_bb_read(r, &k, &c, 1, NULL) == 1);
			CHILD_CHECK(shmk_bb_wait(r, &k, SHMK_FOREVER) == 0);
			CHILD_CHECK(shmk_bb_read(r, &k, &c, 1, NULL) == 1);
			CHILD_CHECK(c == 'x');
			_exit(0);
		}
		/* Let the child read and fall asleep. */
		usleep(100000);
		ASSERT_EQ(0, shmk_bb_write(w, &k, "x", 1));
		ASSERT_EQ(0, reap(kid));
		ASSERT_EQ(0, shmk_bb_write(w, &k, "0", 1));
	}
	shmk_port_close(w);
	shmk_service_remove(name);
	shmk_service_close(s);
}

/*
 * Writers killed at random points of a write storm, two readers reading
 * all along.  After each kill a new writer must take over (its open
 * reclaims the dead one's slot, announced by the module) and leave no
 * entry busy.
 */
TEST(writer_killed_in_storm)
{
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *w, *r;
	uint64_t buf[VWORDS], k;
	volatile int *shm;
	pid_t rd[2], wr;
	int i, round, ret, repaired = 0;

	NEED_DEVICE();
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, shm);
	s = bb_new(_metadata, name, "kill");
	ASSERT_EQ(0, shmk_bb_writer_open(s, &w));
	for (k = 0; k < NKEYS; k++)
		ASSERT_EQ(0, shmk_bb_add(w, &k, buf, val_put(buf, k, 0)));
	shmk_port_close(w);
	ASSERT_EQ(0, shmk_bb_reader_open(s, &r));
	for (i = 0; i < 2; i++) {
		rd[i] = fork();
		ASSERT_LE(0, rd[i]);
		if (rd[i] == 0)
			reader_child(name, &shm[0], &shm[1]);
	}
	while (__atomic_load_n(&shm[1], __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	srand(1);
	for (round = 0; round < 30; round++) {
		wr = fork();
		ASSERT_LE(0, wr);
		if (wr == 0) {
			struct shmk_service *cs;
			struct shmk_port *cw;
			uint64_t n;

			CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
			CHILD_CHECK(shmk_bb_writer_open(cs, &cw) == 0);
			for (n = 1;; n++)
				for (k = 0; k < NKEYS; k++)
					CHILD_CHECK(shmk_bb_write(cw, &k, buf,
						val_put(buf, k, n)) == 0);
		}
		usleep(1000 + rand() % 20000);
		kill(wr, SIGKILL);
		ASSERT_EQ(128 + SIGKILL, reap(wr));
		/* The next writer takes over and repairs. */
		ASSERT_EQ(0, shmk_bb_writer_open(s, &w));
		for (k = 0; k < NKEYS; k++) {
			ret = shmk_bb_read(r, &k, buf, sizeof(buf), NULL);
			EXPECT_TRUE(ret == -ENODATA || (ret > 0 &&
				    !val_check(buf, ret, k)));
			repaired += ret == -ENODATA;
		}
		shmk_port_close(w);
	}
	/* How many kills landed inside a write (repaired entries). */
	TH_LOG("%d of 30 writers killed inside a write", repaired);
	__atomic_store_n(&shm[0], 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, reap(rd[i]));
	shmk_port_close(r);
	ASSERT_EQ(0, shmk_service_recover(s) < 0);
	ASSERT_EQ(0, shmk_service_participants(s));
	shmk_service_remove(name);
	shmk_service_close(s);
	munmap((void *)shm, 4096);
}

TEST_HARNESS_MAIN
