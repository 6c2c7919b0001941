// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Blackboard (include/shmk/blackboard.h): configuration and its errors,
 * one writer and many readers, keys added and listed, every bad-input
 * errno, change detection and waits, readers (threads and processes)
 * that never see a torn value during a writer storm, a sequence that
 * wraps past 2^64, a writer killed in the middle of a write (readers
 * bounded, the next writer repairs), a corrupt length or key count
 * (white-box: it includes lib/svc.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include "msgutil.h"
#include "../svc.h"

#define VSIZE	200	/* value_size of most tests */

static struct shmk_service *new_bb(char *name, uint32_t keys, uint32_t ksize,
				   uint64_t vsize, uint32_t readers)
{
	struct shmk_svc_config c;

	shmk_bb_config(&c, keys, ksize, vsize, readers);
	return new_service(&c, name);
}

/* White-box: entry @i of the service's view (svc.h, blackboard.c). */
static _Atomic uint64_t *ent_seq(struct shmk_service *s, uint32_t i)
{
	return (_Atomic uint64_t *)(void *)(s->v.chunks + SHMK_CACHELINE_PAD +
					    (uint64_t)i * s->v.g.stride);
}

static _Atomic uint32_t *nkeys_of(struct shmk_service *s)
{
	return (_Atomic uint32_t *)(void *)s->v.chunks;
}

static uint64_t key8(uint64_t k)
{
	return k;
}

static void test_config(void **state)
{
	struct shmk_svc_config c, o;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *t;
	struct shmk_port *p;

	(void)state;
	/* Defaults: 64 keys of 8 bytes, 4096-byte values, one writer. */
	shmk_bb_config(&c, 0, 0, 0, 0);
	s = new_service(&c, name);
	shmk_service_config(s, &o);
	assert_int_equal(o.kind, SHMK_SVC_BLACKBOARD);
	assert_int_equal(o.max_events, 64);
	assert_int_equal(o.buffer, 8);
	assert_int_equal(o.payload_max, 4096);
	assert_int_equal(o.max_publishers, 1);
	assert_int_equal(shmk_service_chunks(s), 0);
	assert_int_equal(shmk_service_backlog(s), 0);
	/* Open: a differing key size, value size, key count is named. */
	shmk_bb_config(&o, 0, 16, 0, 0);
	assert_int_equal(shmk_service_open(name, &o, 0, &t), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "key_size (buffer)"));
	assert_non_null(strstr(shmk_last_error(), "has 8, not 16"));
	shmk_bb_config(&o, 0, 0, 100, 0);
	assert_int_equal(shmk_service_open(name, &o, 0, &t), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "value_size (payload_max)"));
	shmk_bb_config(&o, 10, 0, 0, 0);
	assert_int_equal(shmk_service_open(name, &o, 0, &t), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "keys (max_events)"));
	o = cfg_of(SHMK_SVC_PUBSUB);
	assert_int_equal(shmk_service_open(name, &o, 0, &t), -EPROTOTYPE);
	shmk_bb_config(&o, 64, 8, 4096, 0);
	assert_int_equal(shmk_service_open(name, &o, 0, &t), 0);
	/* Ports of another kind, and blackboard ports on another kind. */
	assert_int_equal(shmk_pub_open(t, &p), -EPROTOTYPE);
	assert_int_equal(shmk_listener_open(t, &p), -EPROTOTYPE);
	assert_int_equal(shmk_notifier_open(t, &p), -EPROTOTYPE);
	shmk_service_close(t);
	drop_service(s, name);
	o = cfg_of(SHMK_SVC_EVENT);
	s = new_service(&o, name);
	assert_int_equal(shmk_bb_writer_open(s, &p), -EPROTOTYPE);
	assert_int_equal(shmk_bb_reader_open(s, &p), -EPROTOTYPE);
	drop_service(s, name);
	/* Bad configurations on create. */
	uniq_name(name, sizeof(name), "bad");
	shmk_bb_config(&c, 0, SHMK_SVC_BB_KEY_MAX + 1, 0, 0);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "key_size (buffer): 65 is not in 1..64"));
	shmk_bb_config(&c, SHMK_SVC_EVENTS_MAX + 1, 0, 0, 0);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "keys (max_events)"));
	shmk_bb_config(&c, 0, 0, SHMK_SVC_PAYLOAD_MAX + 1, 0);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "value_size (payload_max)"));
	shmk_bb_config(&c, 0, 0, 0, SHMK_SVC_SLOTS_MAX);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "max_readers (max_subscribers)"));
	shmk_bb_config(&c, 0, 0, 0, 0);
	c.max_publishers = 2;
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "writers (max_publishers): 2 is not in 1..1"));
	assert_int_equal(shmk_service_open(name, NULL, 0, &s), -ENOENT);
}

static void test_basic(void **state)
{
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *w, *r[3], *x;
	uint64_t k, keys[8], v1, v2;
	char buf[VSIZE + 8], big[VSIZE + 1];
	int i;

	(void)state;
	s = new_bb(name, 4, 8, VSIZE, 3);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(shmk_bb_writer_open(s, &x), -EBUSY);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_bb_reader_open(s, &r[i]), 0);
	assert_int_equal(shmk_bb_reader_open(s, &x), -EBUSY);
	assert_int_equal(shmk_bb_keys(r[0], NULL, 0), 0);
	k = key8(7);
	assert_int_equal(shmk_bb_read(r[0], &k, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(shmk_bb_changed(r[0], &k), -ENOENT);
	assert_int_equal(shmk_bb_wait(r[0], &k, 0), -ENOENT);
	assert_int_equal(shmk_bb_write(w, &k, "x", 1), -ENOENT);
	/* Add four keys, the fifth does not fit, a duplicate is refused. */
	for (i = 0; i < 4; i++) {
		k = key8(100 + (uint64_t)i);
		snprintf(buf, sizeof(buf), "value %d", i);
		assert_int_equal(shmk_bb_add(w, &k, buf, strlen(buf)), 0);
	}
	k = key8(100);
	assert_int_equal(shmk_bb_add(w, &k, "y", 1), -EEXIST);
	k = key8(200);
	assert_int_equal(shmk_bb_add(w, &k, "y", 1), -ENOSPC);
	assert_non_null(strstr(shmk_last_error(), "all 4 keys are taken"));
	/* Listed, in order, by readers and the writer; short buffers. */
	assert_int_equal(shmk_bb_keys(r[1], keys, 8), 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(keys[i], 100 + i);
	memset(keys, 0, sizeof(keys));
	assert_int_equal(shmk_bb_keys(w, keys, 2), 4);
	assert_int_equal(keys[1], 101);
	assert_int_equal(keys[2], 0);
	/* Read, change detection. */
	k = key8(102);
	assert_int_equal(shmk_bb_changed(r[0], &k), 1);	/* never read */
	assert_int_equal(shmk_bb_read(r[0], &k, buf, sizeof(buf), &v1), 7);
	assert_memory_equal(buf, "value 2", 7);
	assert_int_equal(v1 & 1, 0);
	assert_int_equal(shmk_bb_changed(r[0], &k), 0);
	assert_int_equal(shmk_bb_wait(r[0], &k, 0), -EAGAIN);
	assert_int_equal(shmk_bb_wait(r[0], &k, 1000000), -ETIMEDOUT);
	memset(big, 'z', sizeof(big));
	assert_int_equal(shmk_bb_write(w, &k, big, VSIZE), 0);
	assert_int_equal(shmk_bb_changed(r[0], &k), 1);
	assert_int_equal(shmk_bb_wait(r[0], &k, 0), 0);
	assert_int_equal(shmk_bb_read(r[0], &k, buf, VSIZE - 1, NULL), -EMSGSIZE);
	assert_int_equal(shmk_bb_changed(r[0], &k), 1);	/* not read */
	assert_int_equal(shmk_bb_read(r[0], &k, buf, VSIZE, &v2), VSIZE);
	assert_memory_equal(buf, big, VSIZE);
	assert_int_equal(v2, v1 + 2);
	assert_int_equal(shmk_bb_changed(r[0], &k), 0);
	assert_int_equal(shmk_bb_changed(r[1], &k), 1);
	/* A value of length 0, read with no buffer. */
	assert_int_equal(shmk_bb_write(w, &k, NULL, 0), 0);
	assert_int_equal(shmk_bb_read(r[1], &k, NULL, 0, NULL), 0);
	assert_int_equal(shmk_bb_read(w, &k, NULL, 0, NULL), 0);
	/* Bad input: each errno, nothing changed. */
	assert_int_equal(shmk_bb_writer_open(NULL, &x), -EINVAL);
	assert_int_equal(shmk_bb_writer_open(s, NULL), -EINVAL);
	assert_int_equal(shmk_bb_reader_open(NULL, &x), -EINVAL);
	assert_int_equal(shmk_bb_reader_open(s, NULL), -EINVAL);
	assert_int_equal(shmk_bb_add(NULL, &k, "a", 1), -EINVAL);
	assert_int_equal(shmk_bb_add(r[0], &k, "a", 1), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "not a blackboard writer"));
	assert_int_equal(shmk_bb_add(w, NULL, "a", 1), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "key: NULL"));
	assert_int_equal(shmk_bb_add(w, &k, NULL, 1), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "value: NULL"));
	assert_int_equal(shmk_bb_write(w, &k, big, VSIZE + 1), -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "more than the value_size 200"));
	assert_int_equal(shmk_bb_write(r[0], &k, "a", 1), -EINVAL);
	assert_int_equal(shmk_bb_write(NULL, &k, "a", 1), -EINVAL);
	assert_int_equal(shmk_bb_read(NULL, &k, buf, 1, NULL), -EINVAL);
	assert_int_equal(shmk_bb_read(r[0], NULL, buf, 1, NULL), -EINVAL);
	assert_int_equal(shmk_bb_read(r[0], &k, NULL, 1, NULL), -EINVAL);
	assert_int_equal(shmk_bb_changed(NULL, &k), -EINVAL);
	assert_int_equal(shmk_bb_changed(r[0], NULL), -EINVAL);
	assert_int_equal(shmk_bb_wait(NULL, &k, 0), -EINVAL);
	assert_int_equal(shmk_bb_wait(r[0], NULL, 0), -EINVAL);
	assert_int_equal(shmk_bb_wait(w, &k, 0), -EINVAL);	/* not a reader */
	assert_int_equal(shmk_bb_keys(NULL, keys, 1), -EINVAL);
	assert_int_equal(shmk_bb_keys(r[0], NULL, 1), -EINVAL);
	assert_int_equal(shmk_bb_read(r[1], &k, buf, sizeof(buf), NULL), 0);
	/* Blackboard ports refuse the other patterns' calls, and vice versa. */
	{
		struct shmk_sample smp;
		uint32_t ids[2];
		void *pl;

		assert_int_equal(shmk_pub_loan(w, &pl), -EINVAL);
		assert_int_equal(shmk_pub_drain(w, 0), -EINVAL);
		assert_int_equal(shmk_sub_receive(r[0], &smp, 0), -EINVAL);
		assert_int_equal(shmk_notifier_notify(w, 0), -EINVAL);
		assert_int_equal(shmk_listener_wait(r[0], ids, 2, 0), -EINVAL);
		assert_int_equal(shmk_listener_fd(r[0]), -EINVAL);
	}
	/* A new writer after the first leaves sees its keys. */
	shmk_port_close(w);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	k = key8(103);
	assert_int_equal(shmk_bb_write(w, &k, "new", 3), 0);
	assert_int_equal(shmk_bb_read(r[2], &k, buf, sizeof(buf), NULL), 3);
	assert_memory_equal(buf, "new", 3);
	assert_int_equal(shmk_bb_keys(w, NULL, 0), 4);
	for (i = 0; i < 3; i++)
		shmk_port_close(r[i]);
	shmk_port_close(w);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

/* Byte keys of an odd size; a key added after a reader looked. */
static void test_byte_keys(void **state)
{
	char name[SHMK_SVC_NAME_MAX], buf[16], keys[3][13];
	struct shmk_service *s;
	struct shmk_port *w, *r;

	(void)state;
	s = new_bb(name, 3, 13, 16, 1);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(shmk_bb_reader_open(s, &r), 0);
	assert_int_equal(shmk_bb_add(w, "temperature!!", "21.5", 4), 0);
	assert_int_equal(shmk_bb_read(r, "pressure.....", buf, 16, NULL), -ENOENT);
	assert_int_equal(shmk_bb_add(w, "pressure.....", "1013", 4), 0);
	assert_int_equal(shmk_bb_read(r, "pressure.....", buf, 16, NULL), 4);
	assert_memory_equal(buf, "1013", 4);
	assert_int_equal(shmk_bb_keys(r, keys, 3), 2);
	assert_memory_equal(keys[0], "temperature!!", 13);
	assert_memory_equal(keys[1], "pressure.....", 13);
	shmk_port_close(r);
	shmk_port_close(w);
	drop_service(s, name);
}

/*
 * Values of the storm: word j of version n of key k is n * 1000003 +
 * k * 131 + j, and the length varies with n; a torn copy mixes versions.
 */
#define SKEYS	4
#define SWORDS	(VSIZE / 8)

static size_t storm_put(uint64_t *w, uint64_t k, uint64_t n)
{
	size_t j, len = 8 * (1 + (n * 7 + k) % SWORDS);

	for (j = 0; j < SWORDS; j++)
		w[j] = n * 1000003 + k * 131 + j;
	return len;
}

/* 0 when @w (@len bytes) is one whole version of key @k. */
static int storm_check(const uint64_t *w, int len, uint64_t k)
{
	uint64_t n, want[SWORDS];

	if (len < 8 || len > VSIZE || len % 8)
		return -1;
	n = (w[0] - k * 131) / 1000003;
	if ((size_t)len != storm_put(want, k, n))
		return -1;
	return memcmp(w, want, (size_t)len) ? -1 : 0;
}

struct storm {
	struct shmk_service *s;
	_Atomic int *stop;
	unsigned long reads, torn, again;
};

static void storm_read(struct storm *st, struct shmk_port *r)
{
	uint64_t buf[SWORDS], k, v, last[SKEYS] = { 0 };
	int ret;

	while (!atomic_load_explicit(st->stop, memory_order_relaxed)) {
		for (k = 0; k < SKEYS; k++) {
			ret = shmk_bb_read(r, &k, buf, sizeof(buf), &v);
			if (ret == -EAGAIN) {
				st->again++;
				continue;
			}
			if (ret < 0 || storm_check(buf, ret, k) ||
			    (v & 1) || (last[k] && (int64_t)(v - last[k]) < 0))
				st->torn++;
			last[k] = v;
			st->reads++;
		}
	}
}

static void *storm_thread(void *arg)
{
	struct storm *st = arg;
	struct shmk_port *r;

	if (shmk_bb_reader_open(st->s, &r)) {
		st->torn = 1000000;
		return NULL;
	}
	storm_read(st, r);
	shmk_port_close(r);
	return NULL;
}

/*
 * Readers in two threads (ThreadSanitizer sees them) and two processes
 * read while the writer rewrites every key as fast as it can; the
 * sequences start just below 2^64, so they wrap during the storm.
 */
static void test_storm(void **state)
{
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *w;
	struct storm th[2];
	pthread_t t[2];
	pid_t pid[2];
	_Atomic int *stop;
	uint64_t buf[SWORDS], k, n, writes = scaled(300000);
	unsigned long *res;
	int i;

	(void)state;
	stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	assert_true(stop != MAP_FAILED);
	res = (unsigned long *)(void *)((char *)stop + 64);
	s = new_bb(name, SKEYS, 8, VSIZE, 4);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	for (k = 0; k < SKEYS; k++)
		assert_int_equal(shmk_bb_add(w, &k, buf, storm_put(buf, k, 0)), 0);
	/* White-box: 2^64 - 2 * (writes / SKEYS / 2), even. */
	for (k = 0; k < SKEYS; k++)
		atomic_store(ent_seq(s, (uint32_t)k),
			     0 - 2 * (writes / SKEYS / 2) - 2 * k);
	for (i = 0; i < 2; i++) {
		fflush(NULL);
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			struct shmk_service *cs;
			struct shmk_port *r;
			struct storm st = { .stop = stop };

			CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
			CHILD_CHECK(shmk_bb_reader_open(cs, &r) == 0);
			atomic_fetch_add(stop + 1, 1);
			storm_read(&st, r);
			res[i * 3] = st.reads;
			res[i * 3 + 1] = st.torn;
			res[i * 3 + 2] = st.again;
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].s = s;
		th[i].stop = stop;
		assert_int_equal(pthread_create(&t[i], NULL, storm_thread, &th[i]), 0);
	}
	while (atomic_load(stop + 1) < 2)
		sched_yield();
	for (n = 1; n <= writes / SKEYS; n++)
		for (k = 0; k < SKEYS; k++)
			assert_int_equal(shmk_bb_write(w, &k, buf,
						       storm_put(buf, k, n)), 0);
	atomic_store(stop, 1);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(reap(pid[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		print_message("storm reader thread %d: %lu reads, %lu -EAGAIN\n",
			      i, th[i].reads, th[i].again);
		print_message("storm reader process %d: %lu reads, %lu -EAGAIN\n",
			      i, res[i * 3], res[i * 3 + 2]);
		assert_int_equal(th[i].torn, 0);
		assert_int_equal(res[i * 3 + 1], 0);
		assert_true(th[i].reads > 0 && res[i * 3] > 0);
	}
	/* Every sequence wrapped past 2^64 and stayed even. */
	for (k = 0; k < SKEYS; k++)
		assert_true(atomic_load(ent_seq(s, (uint32_t)k)) < (1ULL << 32));
	shmk_port_close(w);
	drop_service(s, name);
	munmap(stop, 4096);
}

/* Versions across the wrap, change detection at it. */
static void test_wrap(void **state)
{
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *w, *r;
	uint64_t k = 1, v, want;
	char buf[8];
	int i;

	(void)state;
	s = new_bb(name, 1, 8, 8, 1);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(shmk_bb_reader_open(s, &r), 0);
	assert_int_equal(shmk_bb_add(w, &k, "a", 1), 0);
	atomic_store(ent_seq(s, 0), UINT64_MAX - 5);	/* even */
	want = UINT64_MAX - 5;
	for (i = 0; i < 5; i++) {
		assert_int_equal(shmk_bb_read(r, &k, buf, 8, &v), 1);
		assert_true(v == want);
		assert_int_equal(shmk_bb_changed(r, &k), 0);
		buf[0] = (char)('b' + i);
		assert_int_equal(shmk_bb_write(w, &k, buf, 1), 0);
		assert_int_equal(shmk_bb_changed(r, &k), 1);
		want += 2;
	}
	assert_int_equal(shmk_bb_read(r, &k, buf, 8, &v), 1);
	assert_int_equal(v, 4);		/* ...fa, fc, fe, 0, 2, 4 */
	assert_int_equal(buf[0], 'f');
	shmk_port_close(r);
	shmk_port_close(w);
	drop_service(s, name);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A writer killed in the middle of a write (white-box: its odd seq):
 * readers get -EAGAIN within a bounded time, never the torn value; the
 * next writer (after the dead one's slot is reclaimed) repairs the entry
 * to -ENODATA, and its next write is read as usual.
 */
static void test_dead_writer(void **state)
{
	char name[SHMK_SVC_NAME_MAX], buf[16];
	struct shmk_service *s;
	struct shmk_port *w, *r;
	uint64_t k = 5, seq;
	int64_t t0;
	pid_t pid;
	int st;

	(void)state;
	s = new_bb(name, 2, 8, 16, 2);
	assert_int_equal(shmk_bb_reader_open(s, &r), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_service *cs;
		struct shmk_port *cw;

		CHILD_CHECK(shmk_service_open(name, NULL, 0, &cs) == 0);
		CHILD_CHECK(shmk_bb_writer_open(cs, &cw) == 0);
		CHILD_CHECK(shmk_bb_add(cw, &k, "old", 3) == 0);
		/* "Killed mid-write": seq odd, half the new value stored. */
		seq = atomic_load(ent_seq(cs, 0));
		atomic_store(ent_seq(cs, 0), seq + 1);
		memcpy((char *)(ent_seq(cs, 0) + 2) + 8, "ne", 2);
		raise(SIGKILL);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	t0 = now_ms();
	assert_int_equal(shmk_bb_read(r, &k, buf, sizeof(buf), NULL), -EAGAIN);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(shmk_last_error(), "being written"));
	assert_int_equal(shmk_bb_changed(r, &k), 1);
	assert_int_equal(shmk_bb_wait(r, &k, 0), 0);
	/* The next writer takes the dead one's slot and repairs. */
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(atomic_load(ent_seq(s, 0)) & 1, 0);
	assert_int_equal(shmk_bb_read(r, &k, buf, sizeof(buf), NULL), -ENODATA);
	assert_non_null(strstr(shmk_last_error(), "writer died"));
	assert_int_equal(shmk_bb_changed(r, &k), 0);
	assert_int_equal(shmk_bb_write(w, &k, "fresh", 5), 0);
	assert_int_equal(shmk_bb_changed(r, &k), 1);
	assert_int_equal(shmk_bb_read(r, &k, buf, sizeof(buf), NULL), 5);
	assert_memory_equal(buf, "fresh", 5);
	shmk_port_close(w);
	shmk_port_close(r);
	assert_int_equal(shmk_service_recover(s), 0);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

/* A peer's length beyond value_size, a key count beyond the keys. */
static void test_corrupt(void **state)
{
	char name[SHMK_SVC_NAME_MAX], buf[16];
	struct shmk_service *s;
	struct shmk_port *w, *r, *x;
	uint64_t k = 9, keys[4];

	(void)state;
	s = new_bb(name, 2, 8, 16, 2);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(shmk_bb_reader_open(s, &r), 0);
	assert_int_equal(shmk_bb_add(w, &k, "v", 1), 0);
	atomic_store(ent_seq(s, 0) + 1, 17);	/* len */
	assert_int_equal(shmk_bb_read(r, &k, buf, sizeof(buf), NULL), -EBADMSG);
	atomic_store(ent_seq(s, 0) + 1, 1ULL << 40);
	assert_int_equal(shmk_bb_read(r, &k, buf, sizeof(buf), NULL), -EBADMSG);
	assert_int_equal(shmk_bb_write(w, &k, "v", 1), 0);
	assert_int_equal(shmk_bb_read(r, &k, buf, sizeof(buf), NULL), 1);
	/* A key count beyond the keys: readers cut it, writers refuse it. */
	atomic_store(nkeys_of(s), 1000);
	assert_int_equal(shmk_bb_keys(r, keys, 4), 2);
	shmk_port_close(w);
	assert_int_equal(shmk_bb_writer_open(s, &x), -EBADMSG);
	assert_non_null(strstr(shmk_last_error(), "corrupt"));
	atomic_store(nkeys_of(s), 1);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	shmk_port_close(w);
	shmk_port_close(r);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

struct waiter {
	struct shmk_port *r;
	uint64_t k;
	_Atomic int ret, started;
};

static void *wait_thread(void *arg)
{
	struct waiter *wt = arg;

	atomic_store(&wt->started, 1);
	atomic_store(&wt->ret, shmk_bb_wait(wt->r, &wt->k, SHMK_FOREVER));
	return NULL;
}

/*
 * A reader asleep in shmk_bb_wait() is woken by the write (the memfd
 * slice raised to an hour: a lost wake-up hangs into the alarm); a
 * signal interrupts the wait with -EINTR.
 */
static void test_wait(void **state)
{
	char name[SHMK_SVC_NAME_MAX], buf[8];
	struct shmk_service *s;
	struct shmk_port *w, *r;
	struct waiter wt;
	pthread_t t;
	int i;

	(void)state;
	shmk__svc_slice_ns = 3600LL * 1000000000LL;
	s = new_bb(name, 1, 8, 8, 1);
	assert_int_equal(shmk_bb_writer_open(s, &w), 0);
	assert_int_equal(shmk_bb_reader_open(s, &r), 0);
	memset(&wt, 0, sizeof(wt));
	wt.r = r;
	wt.k = 3;
	assert_int_equal(shmk_bb_add(w, &wt.k, "0", 1), 0);
	assert_int_equal(shmk_bb_read(r, &wt.k, buf, 8, NULL), 1);
	alarm(20);
	for (i = 0; i < 20; i++) {
		atomic_store(&wt.started, 0);
		atomic_store(&wt.ret, 1);
		assert_int_equal(pthread_create(&t, NULL, wait_thread, &wt), 0);
		while (!atomic_load(&wt.started))
			sched_yield();
		if (i & 1)
			usleep(2000);	/* asleep, most likely */
		buf[0] = (char)('a' + i);
		assert_int_equal(shmk_bb_write(w, &wt.k, buf, 1), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(atomic_load(&wt.ret), 0);
		assert_int_equal(shmk_bb_read(r, &wt.k, buf, 8, NULL), 1);
		assert_int_equal(buf[0], 'a' + i);
	}
	alarm(0);
	alarm_in(20);
	assert_int_equal(shmk_bb_wait(r, &wt.k, SHMK_FOREVER), -EINTR);
	alarm_off();
	shmk__svc_slice_ns = SLEEP_SLICE_NS;
	shmk_port_close(r);
	shmk_port_close(w);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_byte_keys),
		cmocka_unit_test(test_storm),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_dead_writer),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_wait),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
