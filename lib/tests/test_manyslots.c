// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * 1,024 participants in one service (layout 6: per-slot bitmaps of
 * ceil(nslots / 64) words for the holders of each chunk and the sleeping
 * and watch masks; cursors consumers x producers).  Every subscriber
 * receives every sample, in one process and spread over processes; a
 * process holding many ports is killed mid-stream and its chunks come
 * back; a publish wakes exactly the subscribers that sleep, in every
 * word of the masks, and no idle one; request-response keeps its server
 * masks by server index.  White-box: it reads lib/svc.h state and the
 * library's count of wake syscalls.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "msgutil.h"
#include "../svc.h"

#ifndef SHMK_CRASHPOINTS
#error "build with -DSHMK_CRASHPOINTS (lib/Makefile): the hook below"
#endif

#define NSUB	(SHMK_SVC_SLOTS_MAX - 1)

/*
 * The crash points of the inline code of lib/svc.h compiled into this
 * file call this (the library linked is the normal one): a test may
 * inject another participant's step there, deterministically.
 */
static void (*cp_hook)(void);
static unsigned long cp_hits;

void shmk__cp(struct shmk_cp_site *site)
{
	void (*fn)(void) = cp_hook;

	(void)site;
	cp_hits++;
	cp_hook = NULL;
	if (fn)
		fn();
}

/* A port fd each, and then some: raise the soft limit to the hard one. */
static void enough_fds(void)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 4096 && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < 2 * SHMK_SVC_SLOTS_MAX)
		skip();
}

static struct shmk_svc_config wide_cfg(uint32_t buffer)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);

	c.payload_max = 64;
	c.max_publishers = 1;
	c.max_subscribers = NSUB;
	c.buffer = buffer;
	c.max_borrow = 1;
	return c;
}

/* Is any bit of a non-ALIVE slot set in a holders bitmap? */
static int dead_bits(const struct svc_view *v)
{
	uint32_t c, k;

	for (c = 0; c < v->g.nchunks; c++)
		for (k = 0; k < v->g.nslots; k++)
			if ((atomic_load(hold_word(v, c, k)) & SLOT_BIT(k)) &&
			    ST_TAG(atomic_load(&v->slots[k].state)) != ST_ALIVE)
				return 1;
	return 0;
}

/*
 * 1 publisher and 1,023 subscribers in one process: the geometry has 16
 * words per bitmap and stays small, every subscriber receives every
 * sample, and once all is released and the publisher gone, no chunk is
 * held (every word of every bitmap came back to 0).
 */
static void test_1024_in_one_process(void **state)
{
	struct shmk_svc_config c = wide_cfg(4);
	static struct shmk_port *sub[NSUB];
	struct shmk_port *pub, *extra = NULL;
	struct shmk_service *s;
	char name[SHMK_SVC_NAME_MAX];
	uint32_t i, n, x;
	void *pl;

	(void)state;
	enough_fds();
	s = new_service(&c, name);
	assert_int_equal(s->v.g.nslots, SHMK_SVC_SLOTS_MAX);
	assert_int_equal(s->v.g.mwords, SHMK_SVC_SLOTS_MAX / 64);
	/* Cursors consumers x producers: not nslots^2 (8 MiB). */
	assert_true(s->v.g.total < (4ULL << 20));
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < NSUB; i++)
		assert_int_equal(shmk_sub_open(s, &sub[i]), 0);
	assert_int_equal(shmk_service_participants(s), SHMK_SVC_SLOTS_MAX);
	/* A 1,025th participant finds no slot. */
	assert_int_equal(shmk_sub_open(s, &extra), -EBUSY);
	for (n = 0; n < 6; n++) {
		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		memcpy(pl, &n, 4);
		assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
		for (i = 0; i < NSUB; i++) {
			struct shmk_sample smp;

			assert_int_equal(shmk_sub_receive(sub[i], &smp, 0), 0);
			memcpy(&x, smp.data, 4);
			assert_int_equal(x, n);
			assert_int_equal(smp.seq, n);
			assert_int_equal(shmk_sub_release(sub[i], &smp), 0);
			assert_int_equal(shmk_sub_receive(sub[i], &smp, 0),
					 -EAGAIN);
		}
	}
	for (i = 0; i < NSUB; i++)
		assert_int_equal(shmk_sub_dropped(sub[i]), 0);
	/* Subscribers hold samples of the same chunk in every word. */
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
	{
		static struct shmk_sample held[NSUB];
		uint32_t c;

		for (i = 0; i < NSUB; i++)
			assert_int_equal(shmk_sub_receive(sub[i], &held[i], 0), 0);
		c = held[0].chunk;
		for (i = 0; i < s->v.g.mwords; i++)
			assert_int_equal(atomic_load(&holders_of(&s->v, c)[i]),
					 ~0ULL);
		for (i = 0; i < NSUB; i++)
			assert_int_equal(shmk_sub_release(sub[i], &held[i]), 0);
	}
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	for (i = 0; i < NSUB; i++)
		shmk_port_close(sub[i]);
	assert_int_equal(shmk_service_participants(s), 0);
	drop_service(s, name);
}

#define NCHILD	4
#define PER	((NSUB + NCHILD - 1) / NCHILD)
#define NSAMP	8

/*
 * A child: @per subscribers; receives NSAMP samples on each and checks
 * them; the victim then holds the last sample on every port, says so on
 * @fd and waits to be killed.  Exit 0 when all was right.
 */
static void child(struct shmk_service *parent, const char *name, int fd,
		  uint32_t per, int victim)
{
	static struct shmk_port *sub[PER];
	static struct shmk_sample smp[PER];
	struct shmk_service *s;
	uint32_t i, n, x;

	/* Never outlive a failed parent; its handle: only our copy goes. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	shmk_service_close(parent);
	if (shmk_service_open(name, NULL, 0, &s))
		_exit(2);
	for (i = 0; i < per; i++)
		if (shmk_sub_open(s, &sub[i]))
			_exit(3);
	if (write(fd, "r", 1) != 1)
		_exit(4);
	for (n = 0; n < NSAMP; n++)
		for (i = 0; i < per; i++) {
			if (shmk_sub_receive(sub[i], &smp[i], 10000000000LL))
				_exit(5);
			memcpy(&x, smp[i].data, 4);
			if (x != n || smp[i].seq != n)
				_exit(6);
			if ((!victim || n + 1 < NSAMP) &&
			    shmk_sub_release(sub[i], &smp[i]))
				_exit(7);
		}
	if (victim) {
		if (write(fd, "h", 1) != 1)
			_exit(8);
		for (;;)
			pause();
	}
	for (i = 0; i < per; i++)
		shmk_port_close(sub[i]);
	shmk_service_close(s);
	_exit(0);
}

/*
 * NCHILD processes with ~256 subscribers each (their slots span every
 * word of the bitmaps), one publisher here: every subscriber receives
 * every sample.  One child is killed while it holds a sample on each of
 * its ports: recovery clears its bits in every word, and once the
 * publisher leaves no chunk is held.
 */
static void test_1024_forked_and_killed(void **state)
{
	struct shmk_svc_config c = wide_cfg(16);
	struct shmk_service *s;
	struct shmk_port *pub;
	char name[SHMK_SVC_NAME_MAX], b;
	pid_t pid[NCHILD];
	int fds[2], st, i, ready = 0, held = 0;
	uint32_t n;
	void *pl;

	(void)state;
	enough_fds();
	s = new_service(&c, name);
	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < NCHILD; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (!pid[i]) {
			close(fds[0]);
			child(s, name, fds[1], i + 1 < NCHILD ? PER :
			      NSUB - (NCHILD - 1) * PER, i == 1);
		}
	}
	close(fds[1]);
	while (ready < NCHILD && read(fds[0], &b, 1) == 1)
		ready += b == 'r';
	assert_int_equal(ready, NCHILD);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_service_participants(s), SHMK_SVC_SLOTS_MAX);
	for (n = 0; n < NSAMP; n++) {
		assert_int_equal(shmk_pub_loan(pub, &pl), 0);
		memcpy(pl, &n, 4);
		assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
	}
	while (!held && read(fds[0], &b, 1) == 1)
		held = b == 'h';
	/* Killed at once, whatever happened: it would wait forever. */
	kill(pid[1], SIGKILL);
	assert_int_equal(waitpid(pid[1], &st, 0), pid[1]);
	assert_true(held);
	for (i = 0; i < NCHILD; i++) {
		if (i == 1)
			continue;
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	close(fds[0]);
	assert_int_equal(shmk_service_dead(s), PER);
	assert_int_equal(shmk_service_recover(s), PER);
	assert_int_equal(shmk_service_dead(s), 0);
	assert_int_equal(shmk_service_participants(s), 1);
	assert_false(dead_bits(&s->v));
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

struct sleeper {
	struct shmk_port *sub;
	int ret;
	uint32_t x;
};

static void *sleep_recv(void *arg)
{
	struct sleeper *z = arg;
	struct shmk_sample smp;

	z->ret = shmk_sub_receive(z->sub, &smp, 20000000000LL);
	if (!z->ret) {
		memcpy(&z->x, smp.data, 4);
		shmk_sub_release(z->sub, &smp);
	}
	return NULL;
}

/* Wait (up to 10 s) until slot @k's bit is set in the data mask. */
static void until_asleep(struct shmk_service *s, uint32_t k)
{
	int i;

	for (i = 0; i < 10000 && !(atomic_load(&mask_of(&s->v, MASK_DATA)
					       [SLOT_WORD(k)]) & SLOT_BIT(k));
	     i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(atomic_load(&mask_of(&s->v, MASK_DATA)[SLOT_WORD(k)]) &
		    SLOT_BIT(k));
}

/*
 * The cost of a publish does not depend on idle participants: with 1,023
 * subscribers awake and idle, a publish makes no wake syscall; with
 * three of them asleep, in the first, a middle and the last word of the
 * mask, exactly three, and each of them gets the sample (the memfd
 * slice is raised, so a missed wake-up fails the 20 s receive).
 */
/*
 * Every one of 1,023 watched subscribers' port fds turns readable on one
 * publish, although nobody reads them meanwhile.  On memfd each wake is a
 * datagram from the publisher's one socket, and a Unix datagram counts
 * against its sender's send buffer until its receiver reads it: about 280
 * unread ones fill it, and sendto() then fails with EAGAIN although the
 * watcher's own queue is empty.  watch_send() took EAGAIN for "readable
 * already", and the watchers beyond lost their wake-up (found by
 * tools/examples/crowd.c, whose WaitSets waited forever).
 */
static void test_1024_port_fds(void **state)
{
	struct shmk_svc_config c = wide_cfg(4);
	static struct shmk_port *sub[NSUB];
	struct shmk_port *pub;
	struct shmk_service *s;
	char name[SHMK_SVC_NAME_MAX];
	uint32_t i, ready = 0;
	void *pl;

	(void)state;
	enough_fds();
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < NSUB; i++) {
		struct shmk_sample smp;

		assert_int_equal(shmk_sub_open(s, &sub[i]), 0);
		assert_true(shmk_port_fd(sub[i]) >= 0);
		/* Arms the fd: nothing to receive. */
		assert_int_equal(shmk_sub_receive(sub[i], &smp, 0), -EAGAIN);
	}
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	memset(pl, 7, 4);
	assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
	for (i = 0; i < NSUB; i++) {
		struct pollfd pfd = { .fd = shmk_port_fd(sub[i]),
				      .events = POLLIN };

		ready += poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
	}
	assert_int_equal(ready, NSUB);
	for (i = 0; i < NSUB; i++)
		shmk_port_close(sub[i]);
	shmk_port_close(pub);
	drop_service(s, name);
}

static void test_wakes_only_sleepers(void **state)
{
	struct shmk_svc_config c = wide_cfg(8);
	static struct shmk_port *sub[NSUB];
	const uint32_t pick[3] = { 0, 500, NSUB - 1 };
	struct sleeper z[3];
	pthread_t t[3];
	struct shmk_port *pub;
	struct shmk_service *s;
	char name[SHMK_SVC_NAME_MAX];
	int64_t slice = shmk__svc_slice_ns;
	unsigned long w0;
	uint32_t i, n = 7;
	void *pl;

	(void)state;
	enough_fds();
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	for (i = 0; i < NSUB; i++)
		assert_int_equal(shmk_sub_open(s, &sub[i]), 0);
	/* Idle (nobody sleeps): no wake syscall. */
	w0 = atomic_load(&shmk__svc_wakes);
	assert_int_equal(shmk_pub_send_copy(pub, &n, 4, 0), 0);
	assert_int_equal(atomic_load(&shmk__svc_wakes), w0);
	for (i = 0; i < NSUB; i++) {
		struct shmk_sample smp;

		assert_int_equal(shmk_sub_receive(sub[i], &smp, 0), 0);
		assert_int_equal(shmk_sub_release(sub[i], &smp), 0);
	}
	shmk__svc_slice_ns = 3600LL * 1000000000LL;
	for (i = 0; i < 3; i++) {
		z[i].sub = sub[pick[i]];
		z[i].ret = 1;
		assert_int_equal(pthread_create(&t[i], NULL, sleep_recv, &z[i]), 0);
	}
	for (i = 0; i < 3; i++)
		until_asleep(s, (uint32_t)shmk_port_slot(sub[pick[i]]));
	assert_true(shmk_port_slot(sub[pick[2]]) >= 64 * 15);
	w0 = atomic_load(&shmk__svc_wakes);
	n = 8;
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	memcpy(pl, &n, 4);
	assert_int_equal(shmk_pub_publish(pub, pl, 4, 0), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(z[i].ret, 0);
		assert_int_equal(z[i].x, 8);
	}
	assert_int_equal(atomic_load(&shmk__svc_wakes) - w0, 3);
	shmk__svc_slice_ns = slice;
	shmk_port_close(pub);
	for (i = 0; i < NSUB; i++)
		shmk_port_close(sub[i]);
	drop_service(s, name);
}

/*
 * Request-response: servers at most SHMK_SVC_SERVERS_MAX (a client's
 * pending responses keep a mask by server index), many clients: a
 * tracked request reaches the servers, whose streams end by index.
 */
static void test_reqres_many_clients(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	struct shmk_service *s;
	struct shmk_port *cl[200], *sv[3];
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_sample req, rsp;
	uint64_t corr;
	uint32_t servers, i, j;
	void *pl;

	(void)state;
	c.payload_max = 16;
	c.max_publishers = SHMK_SVC_SLOTS_MAX - SHMK_SVC_SERVERS_MAX - 1;
	c.max_subscribers = SHMK_SVC_SERVERS_MAX + 1;
	assert_int_equal(shmk_service_open("x", &c, SHMK_SVC_CREATE, &s),
			 -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "max_subscribers"));
	c.max_publishers = 200;
	c.max_subscribers = 3;
	c.buffer = 2;
	s = new_service(&c, name);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmk_server_open(s, &sv[i]), 0);
	for (i = 0; i < 200; i++)
		assert_int_equal(shmk_client_open(s, &cl[i]), 0);
	/* The last client (slot 199, word 3) asks; every server answers. */
	assert_int_equal(shmk_pub_loan(cl[199], &pl), 0);
	assert_int_equal(shmk_client_request(cl[199], pl, 1, 0, &corr,
					     &servers, 0), 0);
	assert_int_equal(servers, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(shmk_server_receive(sv[i], &req, 0), 0);
		assert_int_equal(req.origin, 199);
		assert_int_equal(shmk_pub_loan(sv[i], &pl), 0);
		assert_int_equal(shmk_server_respond(sv[i], &req, pl, 1), 0);
		assert_int_equal(shmk_sub_release(sv[i], &req), 0);
	}
	for (j = 0; j < 3; j++) {
		assert_int_equal(shmk_client_receive_for(cl[199], corr, &rsp, 0), 0);
		assert_int_equal(shmk_sub_release(cl[199], &rsp), 0);
	}
	assert_int_equal(shmk_client_receive_for(cl[199], corr, &rsp, 0),
			 -ENODATA);
	for (i = 0; i < 200; i++)
		shmk_port_close(cl[i]);
	for (i = 0; i < 3; i++)
		shmk_port_close(sv[i]);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

#define RACE_N		4000
#define RACE_W		32	/* 64-bit words of payload */

struct racer {
	struct shmk_port *p;
	uint64_t id;
	int bad;
	uint64_t got;
};

/* Loan from chunk 0 every time, so that both publishers race for chunks. */
static void *race_pub(void *arg)
{
	struct racer *r = arg;
	uint64_t n, *pl, i;
	int ret;

	for (n = 0; n < scaled(RACE_N); n++) {
		r->p->hint = 0;
		ret = shmk_pub_loan(r->p, (void **)&pl);
		if (ret == -EAGAIN) {
			n--;
			continue;
		}
		if (ret) {
			r->bad = 1;
			break;
		}
		for (i = 0; i < RACE_W; i++)
			pl[i] = r->id << 32 | n;
		/* Still ours after a while: nobody else loaned it. */
		sched_yield();
		for (i = 0; i < RACE_W; i++)
			if (pl[i] != (r->id << 32 | n))
				r->bad = 1;
		if (shmk_pub_publish(r->p, pl, RACE_W * 8, 0)) {
			r->bad = 1;
			break;
		}
	}
	return NULL;
}

/* Every sample received is whole: nobody else had its chunk meanwhile. */
static void *race_sub(void *arg)
{
	struct racer *r = arg;
	struct shmk_sample smp;
	uint64_t x[RACE_W], i, idle = 0;

	while (idle < 300) {
		if (shmk_sub_receive(r->p, &smp, 1000000) != 0) {
			idle++;
			continue;
		}
		idle = 0;
		memcpy(x, smp.data, sizeof(x));
		for (i = 1; i < RACE_W; i++)
			if (x[i] != x[0])
				r->bad = 1;
		if ((x[0] & 0xffffffffU) != smp.seq)
			r->bad = 1;
		/* Still the same after a while: nobody loaned it meanwhile. */
		sched_yield();
		if (memcmp(x, smp.data, sizeof(x)))
			r->bad = 1;
		r->got++;
		if (shmk_sub_release(r->p, &smp))
			r->bad = 1;
	}
	return NULL;
}

/*
 * hold_claim()'s handshake raced: two publishers (slots 0 and 64) loan
 * from the same chunks at once, while two subscribers (slots 66 and 128)
 * take references on them, the four in three different words.  No
 * sample is ever torn (a chunk held twice would be), and nothing stays
 * held once all have left.
 */
static void test_wide_claims_race(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_port *fill[64];
	struct shmk_service *s;
	struct racer r[4];
	pthread_t t[4];
	char name[SHMK_SVC_NAME_MAX];
	int i;

	(void)state;
	c.payload_max = RACE_W * 8;
	c.max_publishers = 66;
	c.max_subscribers = 70;
	c.buffer = 2;
	c.max_borrow = 2;
	s = new_service(&c, name);
	assert_int_equal(s->v.g.mwords, 3);
	memset(r, 0, sizeof(r));
	assert_int_equal(shmk_pub_open(s, &r[0].p), 0);
	for (i = 0; i < 63; i++)
		assert_int_equal(shmk_pub_open(s, &fill[i]), 0);
	assert_int_equal(shmk_pub_open(s, &r[1].p), 0);
	assert_int_equal(shmk_port_slot(r[1].p), 64);
	for (i = 0; i < 63; i++)
		shmk_port_close(fill[i]);
	assert_int_equal(shmk_sub_open(s, &r[2].p), 0);
	assert_int_equal(shmk_port_slot(r[2].p), 66);
	for (i = 0; i < 61; i++)
		assert_int_equal(shmk_sub_open(s, &fill[i]), 0);
	assert_int_equal(shmk_sub_open(s, &r[3].p), 0);
	assert_int_equal(shmk_port_slot(r[3].p), 128);
	for (i = 0; i < 61; i++)
		shmk_port_close(fill[i]);
	for (i = 0; i < 4; i++) {
		r[i].id = (uint64_t)i + 1;
		assert_int_equal(pthread_create(&t[i], NULL, i < 2 ? race_pub :
						race_sub, &r[i]), 0);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (i = 0; i < 4; i++)
		assert_false(r[i].bad);
	assert_true(r[2].got > 0 && r[3].got > 0);
	for (i = 0; i < 4; i++)
		shmk_port_close(r[i].p);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

static struct svc_view *hk_v;

/* Allocator B (slot 70) CASes its word after A's pass 1, before A's CAS. */
static void race_b_cas(void)
{
	atomic_fetch_or(hold_word(hk_v, 0, 70), SLOT_BIT(70));
}

/*
 * hold_claim()'s handshake, interleaved by hand (3 words): allocator A
 * (slot 0) passed pass 1 when B (slot 70) took its word; A's CAS works
 * on its own word, its pass 2 sees B and backs off, leaving its word 0.
 * A consumer's bit in another word keeps an allocator off; a consumer
 * (slot 100) sees the producer's bit (slot 1) across words.
 */
static void test_claim_interleaved(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	struct shmk_service *s;
	char name[SHMK_SVC_NAME_MAX];
	int had;

	(void)state;
	c.payload_max = 8;
	c.max_publishers = 66;
	c.max_subscribers = 64;
	s = new_service(&c, name);
	hk_v = &s->v;
	assert_int_equal(s->v.g.mwords, 3);
	/* Free: A claims it, alone. */
	assert_int_equal(hold_claim(&s->v, 0, 0), 1);
	hold_drop(&s->v, 0, 0);
	assert_false(hold_busy(&s->v, 0));
	/* B's CAS between A's pass 1 and A's CAS: A backs off. */
	cp_hook = race_b_cas;
	cp_hits = 0;
	assert_int_equal(hold_claim(&s->v, 0, 0), 0);
	assert_int_equal(cp_hits, 2);	/* the CAS's and the back-off's */
	assert_int_equal(atomic_load(hold_word(&s->v, 0, 0)), 0);
	assert_int_equal(atomic_load(hold_word(&s->v, 0, 70)), SLOT_BIT(70));
	hold_drop(&s->v, 0, 70);
	/* A holder in word 2: pass 1 refuses, nothing is written. */
	assert_int_equal(hold_claim(&s->v, 1, 129), 1);
	cp_hits = 0;
	assert_int_equal(hold_claim(&s->v, 1, 0), 0);
	assert_int_equal(cp_hits, 0);
	/* A consumer in word 1 sees the producer's ring bit in word 0. */
	assert_int_equal(hold_add(&s->v, 1, 100, 129, &had), 1);
	assert_false(had);
	assert_int_equal(hold_add(&s->v, 1, 100, 1, &had), 0);
	assert_true(had);
	hold_drop(&s->v, 1, 100);
	hold_drop(&s->v, 1, 129);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1024_in_one_process),
		cmocka_unit_test(test_1024_forked_and_killed),
		cmocka_unit_test(test_1024_port_fds),
		cmocka_unit_test(test_wakes_only_sleepers),
		cmocka_unit_test(test_reqres_many_clients),
		cmocka_unit_test(test_wide_claims_race),
		cmocka_unit_test(test_claim_interleaved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
