// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The memfd backend's own rules (backend_memfd.c, library.rst "memfd
 * (fallback)"): odd files and squatters under a name, no residue in
 * /dev/shm (the last handle sweeps, the next open sweeps after a crash),
 * persistent regions, and a creator that dies while initialising.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include "testutil.h"
#include "../internal.h"

static const char *shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/dev/shm/shmk.%s", name);
	return buf;
}

/* Whether /dev/shm holds the name (any file type). */
static int name_exists(const char *name)
{
	char path[128];
	struct stat st;

	return lstat(shm_path(path, sizeof(path), name), &st) == 0;
}

/* The name leads to the very file @r holds. */
static int name_is(const char *name, const struct shmk_region *r)
{
	char path[128];
	struct stat a, b;

	if (fstat(shmk_region_fd(r), &a) || lstat(shm_path(path, sizeof(path),
							     name), &b))
		return 0;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_nlink > 0;
}

/* Fork a child that runs @fn(@name) and then SIGKILLs itself. */
static void die_holding(void (*fn)(const char *name), const char *name)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fn(name);
		raise(SIGKILL);
		_exit(1);
	}
	assert_int_equal(reap(pid), 128 + SIGKILL);
}

static void create_and_scribble(const char *name)
{
	struct shmk_region *r;

	CHILD_CHECK(shmk_region_create(name, 1, 0600, 0, &r) == 0);
	memset(shmk_region_base(r), 0xab, 4096);
}

/* Open and close, in every order: nothing is left in /dev/shm. */
static void test_no_residue(void **state)
{
	struct shmk_region *a, *b;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "res");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &a), 0);
	assert_true(name_exists(name));
	assert_int_equal(shmk_region_open(name, 0, &b), 0);
	shmk_region_close(a);
	/* b still holds it: still there, still the same file. */
	assert_true(name_is(name, b));
	shmk_region_close(b);
	assert_false(name_exists(name));
	assert_int_equal(shmk_region_open(name, 0, &b), -ENOENT);

	/* Creator last. */
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &a), 0);
	assert_int_equal(shmk_region_open(name, 0, &b), 0);
	shmk_region_close(b);
	assert_true(name_is(name, a));
	shmk_region_close(a);
	assert_false(name_exists(name));
}

/* A whole service: create, ports, close: no residue either. */
static void test_service_no_residue(void **state)
{
	struct shmk_svc_config c = { .size = sizeof(c) };
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX];
	struct shmk_service *s, *s2;
	struct shmk_port *pub, *sub;

	(void)state;
	c.kind = SHMK_SVC_PUBSUB;
	c.payload_max = 64;
	uniq_name(name, sizeof(name), "svc");
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), 0);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s2, &sub), 0);
	shmk_service_close(s);
	shmk_service_close(s2);
	assert_true(name_exists(rname));	/* the ports hold it */
	shmk_port_close(pub);
	shmk_port_close(sub);
	assert_false(name_exists(rname));
	assert_int_equal(shmk_service_open(name, NULL, 0, &s), -ENOENT);
}

/* SHMK_REGION_PERSIST keeps the name until shmk_region_unlink(). */
static void test_persist(void **state)
{
	struct shmk_region *a, *b;
	char name[SHMK_NAME_MAX], path[128];
	struct stat st;

	(void)state;
	uniq_name(name, sizeof(name), "pers");
	assert_int_equal(shmk_region_create(name, 1, 0640, SHMK_REGION_PERSIST,
					    &a), 0);
	((unsigned char *)shmk_region_base(a))[0] = 7;
	shmk_region_close(a);
	assert_int_equal(lstat(shm_path(path, sizeof(path), name), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640 | S_ISVTX);
	assert_int_equal(shmk_region_open(name, 0, &b), 0);
	assert_int_equal(((unsigned char *)shmk_region_base(b))[0], 7);
	shmk_region_close(b);
	assert_true(name_exists(name));
	assert_int_equal(shmk_region_unlink(name), 0);
	assert_false(name_exists(name));
}

/* A SIGKILLed sole holder's file is swept by the next open... */
static void test_sweep_on_open(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "swo");
	die_holding(create_and_scribble, name);
	assert_true(name_exists(name));
	assert_int_equal(shmk_region_open(name, 0, &r), -ENOENT);
	assert_false(name_exists(name));
}

/* ...or by the next create, which then makes a fresh region. */
static void test_sweep_on_create(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "swc");
	die_holding(create_and_scribble, name);
	assert_true(name_exists(name));
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), 0);
	assert_int_equal(((unsigned char *)shmk_region_base(r))[0], 0);
	assert_true(name_is(name, r));
	shmk_region_close(r);
	assert_false(name_exists(name));
}

/* A live holder in another process keeps the name across our close. */
static void test_live_holder_kept(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];
	int go[2], ready[2];
	char ch = 0;
	pid_t pid;

	(void)state;
	uniq_name(name, sizeof(name), "live");
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_region *c;

		alarm(30);	/* not left behind if the test fails */
		CHILD_CHECK(shmk_region_create(name, 1, 0600, 0, &c) == 0);
		((unsigned char *)shmk_region_base(c))[0] = 9;
		CHILD_CHECK(write(ready[1], "x", 1) == 1);
		CHILD_CHECK(read(go[0], &ch, 1) == 1);
		shmk_region_close(c);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &ch, 1), 1);
	assert_int_equal(shmk_region_open(name, 0, &r), 0);
	assert_int_equal(((unsigned char *)shmk_region_base(r))[0], 9);
	shmk_region_close(r);
	assert_true(name_exists(name));
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(reap(pid), 0);
	assert_false(name_exists(name));
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

/* Read-only handles hold a region alive but cannot sweep it. */
static void test_rdonly_holder(void **state)
{
	struct shmk_region *a, *b;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "ro");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &a), 0);
	assert_int_equal(shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &b), 0);
	shmk_region_close(a);
	assert_true(name_is(name, b));	/* held by b */
	shmk_region_close(b);
	assert_true(name_exists(name));	/* b could not sweep */
	/* The next read-write open sees it dead and sweeps it. */
	assert_int_equal(shmk_region_open(name, 0, &a), -ENOENT);
	assert_false(name_exists(name));
}

/* Closing a handle of an unlinked region never touches a new one. */
static void test_recreated_name(void **state)
{
	struct shmk_region *old, *cur;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "re");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &old), 0);
	assert_int_equal(shmk_region_unlink(name), 0);
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &cur), 0);
	shmk_region_close(old);
	assert_true(name_is(name, cur));
	shmk_region_close(cur);
	assert_false(name_exists(name));
}

/* A handle closed in a fork child does not sweep its parent's region. */
static void test_fork_child_close(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];
	pid_t pid;

	(void)state;
	uniq_name(name, sizeof(name), "fk");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmk_region_close(r);
		_exit(0);
	}
	assert_int_equal(reap(pid), 0);
	assert_true(name_is(name, r));
	shmk_region_close(r);
	assert_false(name_exists(name));
}

/*
 * Four processes create-or-open and close one name in a loop: a region is
 * never unlinked while somebody holds it (the name always leads to the
 * holder's file), and nothing is left at the end.
 */
static int stress_child(const char *name, unsigned long iters)
{
	unsigned long i;

	for (i = 0; i < iters; i++) {
		struct shmk_region *r = NULL;
		_Atomic uint32_t *w;
		int ret;

		ret = shmk_region_create(name, 1, 0600, 0, &r);
		if (ret == -EEXIST)
			ret = shmk_region_open(name, 0, &r);
		if (ret == -ENOENT)	/* swept between the two: go again */
			continue;
		if (ret) {
			fprintf(stderr, "iteration %lu: %d\n", i, ret);
			return 1;
		}
		w = shmk_region_base(r);
		atomic_fetch_add(w, 1);
		if (!name_is(name, r)) {
			fprintf(stderr, "iteration %lu: held region lost its name\n",
				i);
			return 2;
		}
		shmk_region_close(r);
	}
	return 0;
}

static void test_open_close_stress(void **state)
{
	unsigned long iters = scaled(2000);
	char name[SHMK_NAME_MAX];
	pid_t pid[4];
	int i;

	(void)state;
	uniq_name(name, sizeof(name), "st");
	for (i = 0; i < 4; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(stress_child(name, iters));
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(reap(pid[i]), 0);
	assert_false(name_exists(name));
}

/*
 * The last two holders close at the same moment, again and again: one of
 * them always sweeps (each drops its own lock before trying for the
 * write lock, so they cannot both see the other).
 */
struct closer {
	pthread_barrier_t *bar;
	struct shmk_region *r;
};

static void *close_at_barrier(void *arg)
{
	struct closer *c = arg;

	pthread_barrier_wait(c->bar);
	shmk_region_close(c->r);
	return NULL;
}

static void test_concurrent_close(void **state)
{
	unsigned long i, iters = scaled(5000);
	char name[SHMK_NAME_MAX];
	pthread_barrier_t bar;
	struct closer c[2];
	pthread_t t[2];
	int k;

	(void)state;
	uniq_name(name, sizeof(name), "cc");
	assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
	for (i = 0; i < iters; i++) {
		assert_int_equal(shmk_region_create(name, 1, 0600, 0, &c[0].r), 0);
		assert_int_equal(shmk_region_open(name, 0, &c[1].r), 0);
		for (k = 0; k < 2; k++) {
			c[k].bar = &bar;
			assert_int_equal(pthread_create(&t[k], NULL,
							close_at_barrier, &c[k]), 0);
		}
		for (k = 0; k < 2; k++)
			assert_int_equal(pthread_join(t[k], NULL), 0);
		if (name_exists(name))
			fail_msg("iteration %lu: both closers left the name", i);
	}
	pthread_barrier_destroy(&bar);
}

/* Init callbacks for shmk__region_create_init(). */
static int init_mark(struct shmk_region *r, void *arg)
{
	((unsigned char *)shmk_region_base(r))[0] = *(unsigned char *)arg;
	return 0;
}

/* Fails with -EEXIST when the name (@arg) is visible during init. */
static int init_hidden(struct shmk_region *r, void *arg)
{
	(void)r;
	return name_exists(arg) ? -EEXIST : 0;
}

static int init_die(struct shmk_region *r, void *arg)
{
	(void)arg;
	memset(shmk_region_base(r), 0xee, 4096);
	raise(SIGKILL);
	return 0;
}

static int init_fail(struct shmk_region *r, void *arg)
{
	(void)r;
	(void)arg;
	return -ENOTRECOVERABLE;
}

static void die_in_init(const char *name)
{
	struct shmk_region *r;

	shmk__region_create_init(name, 1, 0600, 0, init_die, NULL, &r);
}

/*
 * Audit #8: a creator killed inside init leaves no name and no file, and
 * the next create succeeds; an opener never sees a half-made region.
 */
static void test_creator_dies_in_init(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];
	unsigned char mark = 0x5a;

	(void)state;
	uniq_name(name, sizeof(name), "init");
	die_holding(die_in_init, name);
	assert_false(name_exists(name));
	assert_int_equal(shmk_region_open(name, 0, &r), -ENOENT);
	assert_int_equal(shmk__region_create_init(name, 1, 0600, 0, init_mark,
						  &mark, &r), 0);
	assert_int_equal(((unsigned char *)shmk_region_base(r))[0], 0x5a);
	assert_int_equal(((unsigned char *)shmk_region_base(r))[1], 0);
	shmk_region_close(r);
	assert_false(name_exists(name));
	/* While init runs, the name does not exist yet. */
	assert_int_equal(shmk__region_create_init(name, 1, 0600, 0, init_hidden,
						  name, &r), 0);
	assert_true(name_is(name, r));
	shmk_region_close(r);
}

/* An init that fails: its error, and nothing under the name. */
static void test_init_fails(void **state)
{
	struct shmk_region *r = NULL;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "if");
	assert_int_equal(shmk__region_create_init(name, 1, 0600, 0, init_fail,
						  NULL, &r), -ENOTRECOVERABLE);
	assert_null(r);
	assert_false(name_exists(name));
	/* RDONLY mapping and an init that must write: refused. */
	assert_int_equal(shmk__region_create_init(name, 1, 0600,
						  SHMK_REGION_RDONLY, init_mark,
						  NULL, &r), -EINVAL);
	/* The internal flag is not part of the public API. */
	assert_int_equal(shmk_region_create(name, 1, 0600, SHMK__REGION_OPEN_OWN,
					    &r), -EINVAL);
	assert_false(name_exists(name));
}

static void create_service_and_die(const char *name)
{
	struct shmk_svc_config c = { .size = sizeof(c) };
	struct shmk_service *s;

	c.kind = SHMK_SVC_PUBSUB;
	c.payload_max = 64;
	CHILD_CHECK(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s) == 0);
}

/* Audit #8 at the service level: a dead creator does not block the name. */
static void test_service_creator_dies(void **state)
{
	struct shmk_svc_config c = { .size = sizeof(c) };
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub;

	(void)state;
	c.kind = SHMK_SVC_PUBSUB;
	c.payload_max = 64;
	uniq_name(name, sizeof(name), "sd");
	die_holding(create_service_and_die, name);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s), -ENOENT);
	die_holding(create_service_and_die, name);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	shmk_port_close(pub);
	shmk_service_close(s);
}

/* Odd files under a name: refused at once, never blocking. */
static void test_fifo_symlink(void **state)
{
	char name[SHMK_NAME_MAX], path[128];
	struct shmk_region *r;
	pid_t pid;

	(void)state;
	uniq_name(name, sizeof(name), "fifo");
	shm_path(path, sizeof(path), name);
	assert_int_equal(mkfifo(path, 0666), 0);
	/* In a child with an alarm: a blocking open would hang the test. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(5);
		CHILD_CHECK(shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &r) ==
			    -EBADMSG);
		CHILD_CHECK(shmk_region_open(name, 0, &r) == -EBADMSG);
		CHILD_CHECK(shmk__region_open_own(name, 0600, &r) == -EBADMSG);
		CHILD_CHECK(shmk_region_create(name, 1, 0600, 0, &r) == -EEXIST);
		_exit(0);
	}
	assert_int_equal(reap(pid), 0);
	assert_true(name_exists(name));	/* left alone */
	assert_int_equal(unlink(path), 0);

	assert_int_equal(symlink("/dev/null", path), 0);
	assert_int_equal(shmk_region_open(name, 0, &r), -EBADMSG);
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), -EEXIST);
	assert_int_equal(unlink(path), 0);
}

/* The region a helper child holds until told to go. */
static struct shmk_region *child_r;

/*
 * Run @fn(@name) in a child (as uid/gid 65534 when @nobody) that holds
 * child_r until child_done().
 */
static pid_t child_holding(void (*fn)(const char *name), const char *name,
			   int nobody, int ready[2], int go[2])
{
	pid_t pid;
	char ch;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30);	/* not left behind if the test fails */
		if (nobody) {
			CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
			CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
		}
		fn(name);
		CHILD_CHECK(write(ready[1], "x", 1) == 1);
		CHILD_CHECK(read(go[0], &ch, 1) == 1);
		shmk_region_close(child_r);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &ch, 1), 1);
	return pid;
}

static void child_done(pid_t pid, int ready[2], int go[2])
{
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(reap(pid), 0);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void hold_0666(const char *name)
{
	/* Held, so alive; 0666 so that anybody could attach to it. */
	CHILD_CHECK(shmk_region_create(name, 1, 0666, 0, &child_r) == 0);
}

static void persist_0666(const char *name)
{
	struct shmk_region *r;

	CHILD_CHECK(shmk_region_create(name, 1, 0666, SHMK_REGION_PERSIST,
				       &r) == 0);
	shmk_region_close(r);
}

static void nobody_hold_0666(const char *name)
{
	CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
	CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
	hold_0666(name);
}

static int skip_unless_root(void)
{
	if (geteuid() == 0)
		return 0;
	print_message("skipped: creating a squatter's file needs root (setresuid)\n");
	skip();
	return 1;
}

/* Audit #9: another user's file under a service name is not adopted. */
static void test_squatter(void **state)
{
	struct shmk_svc_config c = { .size = sizeof(c) };
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX], path[128];
	struct shmk_service *s;
	struct shmk_region *r;
	int ready[2], go[2];
	struct stat st;
	pid_t pid;

	(void)state;
	if (skip_unless_root())
		return;
	c.kind = SHMK_SVC_PUBSUB;
	c.payload_max = 64;
	c.mode = 0666;
	uniq_name(name, sizeof(name), "sq");
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);

	/* A live squatter: CREATE refuses, CREATE|EXCL says taken. */
	pid = child_holding(hold_0666, rname, 1, ready, go);
	assert_int_equal(lstat(shm_path(path, sizeof(path), rname), &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EPERM);
	assert_int_equal(shmk_service_open(name, &c,
					   SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s),
			 -EEXIST);
	assert_int_equal(shmk__region_open_own(rname, 0666, &r), -EPERM);
	/* A plain open is not a creator's: no owner rule. */
	assert_int_equal(shmk_region_open(rname, 0, &r), 0);
	shmk_region_close(r);
	child_done(pid, ready, go);
	assert_false(name_exists(rname));

	/* A persistent squatter's file, nobody holding it: refused too. */
	pid = child_holding(persist_0666, rname, 1, ready, go);
	child_done(pid, ready, go);
	assert_true(name_exists(rname));
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), -EPERM);
	assert_int_equal(shmk_region_unlink(rname), 0);

	/* A dead squatter's transient file is swept (we are root), then ours. */
	die_holding(nobody_hold_0666, rname);
	assert_true(name_exists(rname));
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	shmk_service_close(s);
	assert_false(name_exists(rname));
}

/* A file of ours wider than the mode asked for: not adopted. */
static void test_own_mode(void **state)
{
	struct shmk_region *r, *o;
	char name[SHMK_NAME_MAX];
	int ready[2], go[2];
	pid_t pid;

	(void)state;
	uniq_name(name, sizeof(name), "md");
	/* Same user (a plain child), alive, mode 0666. */
	pid = child_holding(hold_0666, name, 0, ready, go);
	assert_int_equal(shmk__region_open_own(name, 0600, &r), -EPERM);
	assert_int_equal(shmk__region_open_own(name, 0644, &r), -EPERM);
	assert_int_equal(shmk__region_create_init(name, 1, 0600,
						  SHMK__REGION_OPEN_OWN, NULL,
						  NULL, &r), -EPERM);
	assert_int_equal(shmk__region_create_init(name, 1, 0666,
						  SHMK__REGION_OPEN_OWN, NULL,
						  NULL, &r), 1);
	shmk_region_close(r);
	child_done(pid, ready, go);
	assert_false(name_exists(name));
	/* Narrower than asked is fine. */
	assert_int_equal(shmk_region_create(name, 1, 0640, 0, &r), 0);
	assert_int_equal(shmk__region_open_own(name, 0660, &o), 0);
	shmk_region_close(o);
	shmk_region_close(r);
	assert_false(name_exists(name));
}

/*
 * Sealing is not available for files in /dev/shm (library.rst says so):
 * the kernel starts them with F_SEAL_SEAL.  That is why the region's
 * memory is a separate, sealed memfd and the file in /dev/shm only its
 * rendezvous (shmk_region_fd()); test_seal.c tests the memfd's seals.
 */
static void test_no_seals(void **state)
{
	struct shmk_region *r;
	char name[SHMK_NAME_MAX];

	(void)state;
	uniq_name(name, sizeof(name), "seal");
	assert_int_equal(shmk_region_create(name, 1, 0600, 0, &r), 0);
	assert_int_equal(fcntl(shmk_region_fd(r), F_ADD_SEALS,
			       F_SEAL_SHRINK | F_SEAL_GROW), -1);
	assert_int_equal(errno, EPERM);
	shmk_region_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_residue),
		cmocka_unit_test(test_service_no_residue),
		cmocka_unit_test(test_persist),
		cmocka_unit_test(test_sweep_on_open),
		cmocka_unit_test(test_sweep_on_create),
		cmocka_unit_test(test_live_holder_kept),
		cmocka_unit_test(test_rdonly_holder),
		cmocka_unit_test(test_recreated_name),
		cmocka_unit_test(test_fork_child_close),
		cmocka_unit_test(test_open_close_stress),
		cmocka_unit_test(test_concurrent_close),
		cmocka_unit_test(test_creator_dies_in_init),
		cmocka_unit_test(test_init_fails),
		cmocka_unit_test(test_service_creator_dies),
		cmocka_unit_test(test_fifo_symlink),
		cmocka_unit_test(test_squatter),
		cmocka_unit_test(test_own_mode),
		cmocka_unit_test(test_no_seals),
	};

	/* These are memfd rules: run on memfd whatever the environment says. */
	setenv("SHMK_BACKEND", "memfd", 1);
	return cmocka_run_group_tests_name("memfd", tests, NULL, NULL);
}
