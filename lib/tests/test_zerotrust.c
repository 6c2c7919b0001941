// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Zero-trust payloads (SHMK_SVC_ZERO_TRUST, lib/svc_zt.c): each
 * producer's chunks live in a data region only it can write.  On the
 * memfd backend: a subscriber's write into a received sample faults
 * (SIGSEGV in a forked child), mprotect() cannot make it writable, a
 * same-user process that makes the data region's rendezvous file
 * writable again still cannot map it writable (F_SEAL_FUTURE_WRITE), a
 * hostile peer that rewrites ring entries and headers in the service
 * region gets -EBADMSG, never a pointer outside a data region, and a
 * consumer unmaps a gone producer's region once it holds nothing of it.
 * The random hostile-peer runs are in test_hostile.c (hostile_*_zt).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msgutil.h"
#include <shmk/service.h>
#include "svc.h"

#define PLEN	64

static struct shmk_svc_config zt_cfg(uint32_t kind)
{
	struct shmk_svc_config c = cfg_of(kind);

	c.payload_max = PLEN;
	c.mode = 0600 | SHMK_SVC_ZERO_TRUST;
	return c;
}

/*
 * The /proc/self/maps line of the mapping that holds @p: its permissions
 * into @perm (5 bytes) and its path into @path; 0 or -1.
 */
static int map_of(const void *p, char *perm, char *path, size_t plen)
{
	char line[600];
	FILE *f = fopen("/proc/self/maps", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char pm[8];
		char *s;

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pm) != 3)
			continue;
		if ((uintptr_t)p < lo || (uintptr_t)p >= hi)
			continue;
		memcpy(perm, pm, 5);
		s = strchr(line, '/');
		snprintf(path, plen, "%s", s ? s : "");
		path[strcspn(path, "\n")] = 0;
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

/* The region name behind a data region mapping's path. */
static int zt_region_name(const char *path, char *name, size_t len)
{
	const char *m = strstr(path, "shmk.zt.");
	size_t n;

	if (!m)
		return -1;
	m += 5;
	n = strcspn(m, " ");
	if (n >= len)
		return -1;
	memcpy(name, m, n);
	name[n] = 0;
	return 0;
}

static void publish_one(struct shmk_port *pub, unsigned char fill)
{
	void *pl;

	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	memset(pl, fill, PLEN);
	assert_int_equal(shmk_pub_publish(pub, pl, PLEN, 0), 0);
}

static void zt_config_checked(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_EVENT), want;
	struct shmk_service *s = NULL, *t = NULL;
	char name[SHMK_SVC_NAME_MAX];
	uint32_t cap, na = 4, ns = 4;

	(void)state;
	uniq_name(name, sizeof(name), "zt");
	/* Events have no payloads; unknown mode bits are refused. */
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s),
			 -EINVAL);
	c = zt_cfg(SHMK_SVC_PUBSUB);
	c.mode |= 1U << 18;
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s),
			 -EINVAL);
	/* The pool: per publisher cap + loans + ns * borrow + 1. */
	c = zt_cfg(SHMK_SVC_PUBSUB);
	s = new_service(&c, name);
	cap = 8;
	assert_int_equal(shmk_service_chunks(s), na * (cap + 2 + ns * 4 + 1));
	shmk_service_config(s, &want);
	assert_true(want.mode & SHMK_SVC_ZERO_TRUST);
	drop_service(s, name);
	/* Asking for zero-trust from a plain service: -EPROTOTYPE. */
	c = cfg_of(SHMK_SVC_PUBSUB);
	s = new_service(&c, name);
	want = cfg_of(0);
	want.mode = SHMK_SVC_ZERO_TRUST;
	assert_int_equal(shmk_service_open(name, &want, 0, &t), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "zero-trust"));
	drop_service(s, name);
}

static void zt_roundtrip_readonly(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], perm[8], path[300], rn[SHMK_NAME_MAX];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_sample smp;
	unsigned char want[PLEN];
	void *pl;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	/* The publisher's loan is in its own data region, writable. */
	assert_int_equal(shmk_pub_loan(pub, &pl), 0);
	assert_int_equal(map_of(pl, perm, path, sizeof(path)), 0);
	assert_non_null(strstr(path, "shmk.zt."));
	assert_int_equal(perm[1], 'w');
	memset(pl, 0x42, PLEN);
	assert_int_equal(shmk_pub_publish(pub, pl, PLEN, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	memset(want, 0x42, PLEN);
	assert_int_equal(smp.len, PLEN);
	assert_memory_equal(smp.data, want, PLEN);
	/* The subscriber's mapping of it: read-only, another mapping. */
	assert_int_equal(map_of(smp.data, perm, path, sizeof(path)), 0);
	assert_int_equal(perm[0], 'r');
	assert_int_equal(perm[1], '-');
	assert_ptr_not_equal(smp.data, pl);
	assert_int_equal(zt_region_name(path, rn, sizeof(rn)), 0);
	/* mprotect() cannot upgrade it: the fd was read-only. */
	assert_int_equal(mprotect((void *)((uintptr_t)smp.data & ~4095UL),
				  4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	/*
	 * A child (a subscriber's process) that writes into the sample:
	 * SIGSEGV, and the sample is unchanged.
	 */
	{
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			signal(SIGSEGV, SIG_DFL);
			*(volatile unsigned char *)smp.data = 0x13;
			_exit(0);
		}
		assert_int_equal(reap(pid), 128 + SIGSEGV);
	}
	assert_memory_equal(smp.data, want, PLEN);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	shmk_port_close(pub);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * A same-user process makes the data region's rendezvous file writable
 * again and asks for it read-write: the memfd is sealed
 * F_SEAL_FUTURE_WRITE, so the writable mapping is refused (EPERM).
 */
static void zt_sealed_against_same_user(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], perm[8], path[300], rn[SHMK_NAME_MAX];
	char file[400];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_sample smp;
	pid_t pid;

	(void)state;
	if (shmk_backend_select() != SHMK_BACKEND_MEMFD) {
		skip();
		return;
	}
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	publish_one(pub, 7);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(map_of(smp.data, perm, path, sizeof(path)), 0);
	assert_int_equal(zt_region_name(path, rn, sizeof(rn)), 0);
	snprintf(file, sizeof(file), "/dev/shm/shmk.%s", rn);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_region *r = NULL;
		int ret;

		/* The mode alone refuses a read-write open (r--------). */
		ret = shmk_region_open(rn, 0, &r);
		CHILD_CHECK(ret == -EACCES || ret == -EPERM);
		CHILD_CHECK(chmod(file, 0600) == 0);
		ret = shmk_region_open(rn, 0, &r);
		CHILD_CHECK(ret == -EPERM);
		/* Read-only still works, and cannot be upgraded. */
		CHILD_CHECK(shmk_region_open(rn, SHMK_REGION_OPEN_RDONLY,
					     &r) == 0);
		CHILD_CHECK(mprotect(shmk_region_base(r), 4096,
				     PROT_READ | PROT_WRITE) == -1);
		shmk_region_close(r);
		_exit(0);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	shmk_port_close(pub);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * A hostile peer rewrites the service region: a ring entry naming
 * another producer's chunk, a huge length, a huge chunk index.  The
 * subscriber gets -EBADMSG; the next honest sample still arrives.
 */
static void zt_hostile_headers(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_region *raw;
	struct shmk_sample smp;
	struct svc_view v;
	_Atomic uint64_t *e;
	uint64_t ent;
	uint32_t c0;
	int i, slot;

	(void)state;
	s = new_service(&c, name);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_region_open(rname, 0, &raw), 0);
	memset(&v, 0, sizeof(v));
	assert_int_equal(view_attach(&v, raw), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	slot = shmk_port_slot(pub);
	assert_true(slot >= 0 && slot < (int)c.max_publishers + 4);
	for (i = 0; i < 3; i++) {
		publish_one(pub, (unsigned char)i);
		e = &ring_of(&v, 0, (uint32_t)slot)[i % v.g.cap];
		ent = atomic_load(e);
		c0 = ent_chunk(ent);
		switch (i) {
		case 0:	/* a chunk of the next producer's range */
			atomic_store(e, ent_make((uint64_t)i,
				     (c0 + v.g.zta) % v.g.nchunks));
			break;
		case 1:	/* a length beyond payload_max */
			v.hdrs[c0].len = 1ULL << 40;
			break;
		default:	/* no such chunk */
			atomic_store(e, ent_make((uint64_t)i, ENT_NIL - 1));
			break;
		}
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EBADMSG);
		/* Repair, as an honest peer would find it. */
		atomic_store(e, ent);
		v.hdrs[c0].len = PLEN;
		assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
		assert_int_equal(((const unsigned char *)smp.data)[0], i);
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
	}
	/*
	 * Holders, cursors and wake words are the service region's: a peer
	 * may write them (a subscriber must), and the data regions hold
	 * none.  A data region is smaller than the holders would need.
	 */
	assert_true(v.g.total == v.g.chunks_off);
	shmk_port_close(pub);
	shmk_port_close(sub);
	shmk_region_close(raw);
	drop_service(s, name);
}

/* Request-response: requests in the client's region, responses the server's. */
static void zt_reqres(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], perm[8], path[300];
	struct shmk_port *cl, *sv;
	struct shmk_service *s;
	struct shmk_sample req, resp;
	void *pl;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	strcpy(pl, "ping");
	assert_int_equal(shmk_client_send(cl, pl, 5, NULL), 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_string_equal(req.data, "ping");
	assert_int_equal(map_of(req.data, perm, path, sizeof(path)), 0);
	assert_int_equal(perm[1], '-');
	assert_int_equal(shmk_pub_loan(sv, &pl), 0);
	strcpy(pl, "pong");
	assert_int_equal(shmk_server_respond(sv, &req, pl, 5), 0);
	assert_int_equal(shmk_sub_release(sv, &req), 0);
	assert_int_equal(shmk_client_receive(cl, &resp, 0), 0);
	assert_string_equal(resp.data, "pong");
	assert_int_equal(map_of(resp.data, perm, path, sizeof(path)), 0);
	assert_int_equal(perm[1], '-');
	assert_int_equal(shmk_sub_release(cl, &resp), 0);
	shmk_port_close(cl);
	shmk_port_close(sv);
	drop_service(s, name);
}

/*
 * A producer that left: its sample stays readable while held, and the
 * consumer unmaps the region once it released the last one; a new
 * producer in the same slot has a region of its own generation.
 */
static void zt_unmap_when_unused(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], perm[8], path[300], p1[300];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_sample smp;
	const void *data;

	(void)state;
	c.max_publishers = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	publish_one(pub, 9);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	data = smp.data;
	assert_int_equal(map_of(data, perm, p1, sizeof(p1)), 0);
	shmk_port_close(pub);
	/* Still mapped and intact while we hold it. */
	assert_int_equal(((const unsigned char *)data)[PLEN - 1], 9);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	/* Gone: nothing maps that region's path any more. */
	assert_true(map_of(data, perm, path, sizeof(path)) != 0 ||
		    strcmp(path, p1));
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	publish_one(pub, 10);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(map_of(smp.data, perm, path, sizeof(path)), 0);
	assert_string_not_equal(path, p1);
	assert_int_equal(((const unsigned char *)smp.data)[0], 10);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	shmk_port_close(pub);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * The producer in another process (a fork child that creates its data
 * region after the fork): the subscriber gets the region's memfd from
 * the child's broker, read-only, although it is sealed against writes.
 */
static void zt_cross_process(void **state)
{
	struct shmk_svc_config c = zt_cfg(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], ch = 0;
	struct shmk_port *sub;
	struct shmk_service *s;
	struct shmk_sample smp;
	int up[2], down[2];
	pid_t pid;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(pipe(up) | pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_port *pub;
		void *pl;

		alarm(30);	/* should the parent fail and never answer */
		CHILD_CHECK(shmk_pub_open(s, &pub) == 0);
		CHILD_CHECK(shmk_pub_loan(pub, &pl) == 0);
		strcpy(pl, "from the child");
		CHILD_CHECK(shmk_pub_publish(pub, pl, 15, 0) == 0);
		CHILD_CHECK(write(up[1], &ch, 1) == 1);
		CHILD_CHECK(read(down[0], &ch, 1) == 1);
		shmk_port_close(pub);
		_exit(0);
	}
	assert_int_equal(read(up[0], &ch, 1), 1);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_string_equal(smp.data, "from the child");
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	assert_int_equal(write(down[1], &ch, 1), 1);
	assert_int_equal(reap(pid), 0);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	shmk_port_close(sub);
	drop_service(s, name);
}

/* Dynamic payloads (SHMK_SVC_DYNAMIC): shmk_pub_loan_slice() */

static struct shmk_svc_config dyn_cfg(void)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);

	c.payload_max = 1 << 20;
	c.mode = 0600 | SHMK_SVC_DYNAMIC;
	c.user_header_size = 16;
	return c;
}

/* The path of the mapping holding @p ("" if none). */
static void path_of(const void *p, char *path, size_t len)
{
	char perm[8];

	if (map_of(p, perm, path, len))
		path[0] = 0;
}

static void dyn_grows(void **state)
{
	struct shmk_svc_config c = dyn_cfg();
	char name[SHMK_SVC_NAME_MAX], p0[300], p1[300], p2[300];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_sample a, b;
	unsigned char *x, *y, *h;
	void *pl;
	int i;

	(void)state;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	/* Bad input changes nothing. */
	assert_int_equal(shmk_pub_loan_slice(pub, 0, &pl), -EINVAL);
	assert_int_equal(shmk_pub_loan_slice(pub, (1 << 20) + 1, &pl),
			 -EMSGSIZE);
	assert_int_equal(shmk_pub_loan_slice(sub, 1, &pl), -EINVAL);
	/* 100 bytes: the first segment's 4096-byte chunks. */
	assert_int_equal(shmk_pub_loan_slice(pub, 100, &pl), 4096);
	x = pl;
	memset(x, 1, 100);
	path_of(x, p0, sizeof(p0));
	/* 10000 bytes: a new segment of 16 KiB chunks; the old loan stays. */
	assert_int_equal(shmk_pub_loan_slice(pub, 10000, &pl), 16384);
	y = pl;
	memset(y, 2, 10000);
	path_of(y, p1, sizeof(p1));
	assert_string_not_equal(p0, p1);
	h = shmk_pub_loan_header(pub, y);
	assert_non_null(h);
	assert_ptr_equal(h, y + 16384);
	memcpy(h, "user header 16b", 16);
	/* A publish longer than its chunk's segment: -EINVAL. */
	assert_int_equal(shmk_pub_publish(pub, x, 4097, 0), -EINVAL);
	assert_int_equal(shmk_pub_publish(pub, x, 100, 0), 0);
	assert_int_equal(shmk_pub_publish(pub, y, 10000, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &a, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &b, 0), 0);
	assert_int_equal(a.len, 100);
	assert_int_equal(b.len, 10000);
	for (i = 0; i < 100; i++)
		assert_int_equal(((const unsigned char *)a.data)[i], 1);
	for (i = 0; i < 10000; i++)
		assert_int_equal(((const unsigned char *)b.data)[i], 2);
	assert_memory_equal(shmk_sample_header(sub, &b), "user header 16b", 16);
	path_of(a.data, p2, sizeof(p2));
	path_of(b.data, p0, sizeof(p0));
	assert_string_not_equal(p0, p2);
	assert_int_equal(shmk_sub_release(sub, &a), 0);
	assert_int_equal(shmk_sub_release(sub, &b), 0);
	/* The largest: payload_max. */
	assert_int_equal(shmk_pub_loan_slice(pub, 1 << 20, &pl), 1 << 20);
	memset(pl, 3, 1 << 20);
	assert_int_equal(shmk_pub_publish(pub, pl, 1 << 20, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &a, 0), 0);
	assert_int_equal(a.len, 1 << 20);
	assert_int_equal(((const unsigned char *)a.data)[(1 << 20) - 1], 3);
	assert_int_equal(shmk_sub_release(sub, &a), 0);
	shmk_port_close(pub);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * The old segment goes when nothing of it is held: once the ring has
 * moved past its samples and the subscriber released them, the
 * publisher's next loan unlinks it (memfd: its name leaves /dev/shm) and
 * the subscriber unmaps it.
 */
static void dyn_old_segment_released(void **state)
{
	struct shmk_svc_config c = dyn_cfg();
	char name[SHMK_SVC_NAME_MAX], old[300], perm[8], path[300];
	char rn[SHMK_NAME_MAX], file[400];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_sample smp;
	struct stat st;
	const void *old_data;
	void *pl;
	int i;

	(void)state;
	c.buffer = 2;
	s = new_service(&c, name);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 10, &pl), 4096);
	assert_int_equal(shmk_pub_publish(pub, pl, 10, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	old_data = smp.data;
	assert_int_equal(map_of(old_data, perm, old, sizeof(old)), 0);
	assert_int_equal(zt_region_name(old, rn, sizeof(rn)), 0);
	snprintf(file, sizeof(file), "/dev/shm/shmk.%s", rn);
	assert_int_equal(stat(file, &st), 0);
	/* Grow, and push the old sample out of the ring (cap 2). */
	for (i = 0; i < 3; i++) {
		assert_int_equal(shmk_pub_loan_slice(pub, 5000, &pl), 8192);
		assert_int_equal(shmk_pub_publish(pub, pl, 5000, 0), 0);
	}
	/* Still held by the subscriber: still there, still readable. */
	assert_int_equal(shmk_pub_loan_slice(pub, 5000, &pl), 8192);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	while (shmk_sub_receive(sub, &smp, 0) == 0) {
		assert_int_equal(smp.len, 5000);
		assert_int_equal(shmk_sub_release(sub, &smp), 0);
	}
	/* Nothing of segment 0 is held: the next loan lets it go. */
	assert_int_equal(shmk_pub_loan_slice(pub, 5000, &pl), 8192);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(stat(file, &st), -1);
	assert_true(map_of(old_data, perm, path, sizeof(path)) != 0 ||
		    strcmp(path, old));
	shmk_port_close(pub);
	shmk_port_close(sub);
	drop_service(s, name);
}

/*
 * Hostile: a header naming a segment beyond the last possible one is
 * -EBADMSG; one naming a segment the producer never made is skipped
 * (the sample counts as dropped); a length beyond the segment's chunks
 * is -EBADMSG.  The next honest sample arrives.
 */
static void dyn_hostile_segments(void **state)
{
	struct shmk_svc_config c = dyn_cfg();
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_region *raw;
	struct shmk_sample smp;
	struct svc_view v;
	uint32_t ch;
	int i, slot;
	void *pl;

	(void)state;
	s = new_service(&c, name);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_region_open(rname, 0, &raw), 0);
	memset(&v, 0, sizeof(v));
	assert_int_equal(view_attach(&v, raw), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	slot = shmk_port_slot(pub);
	for (i = 0; i < 4; i++) {
		assert_int_equal(shmk_pub_loan_slice(pub, 64, &pl), 4096);
		memset(pl, i, 64);
		assert_int_equal(shmk_pub_publish(pub, pl, 64, 0), 0);
		ch = ent_chunk(atomic_load(&ring_of(&v, 0, (uint32_t)slot)[i]));
		switch (i) {
		case 0:
			v.hdrs[ch].seg = 1000000;
			assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EBADMSG);
			break;
		case 1:
			v.hdrs[ch].seg = ZT_SEGS + 1;
			assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EBADMSG);
			break;
		case 2:	/* exists in principle, never created */
			v.hdrs[ch].seg = 3;
			assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EAGAIN);
			assert_true(shmk_sub_dropped(sub) >= 1);
			break;
		default:	/* longer than segment 0's chunks */
			v.hdrs[ch].len = 4097;
			assert_int_equal(shmk_sub_receive(sub, &smp, 0), -EBADMSG);
			v.hdrs[ch].len = 64;
			break;
		}
		v.hdrs[ch].seg = 0;
		if (i != 2) {
			assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
			assert_int_equal(((const unsigned char *)smp.data)[63], i);
			assert_int_equal(shmk_sub_release(sub, &smp), 0);
		}
	}
	shmk_port_close(pub);
	shmk_port_close(sub);
	shmk_region_close(raw);
	drop_service(s, name);
}

/* Typed: @n elements of type_size; elsewhere chunks are payload_max. */
static void dyn_typed_and_plain(void **state)
{
	struct shmk_svc_config c = dyn_cfg();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_port *pub;
	struct shmk_service *s;
	void *pl;

	(void)state;
	strcpy(c.type_name, "test.Vec3");
	c.type_size = 24;
	c.type_align = 8;
	c.payload_max = 24 * 10000;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 100, &pl), 4096);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 1000, &pl), 32768);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 10000, &pl), 240000);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 10001, &pl), -EMSGSIZE);
	shmk_port_close(pub);
	drop_service(s, name);
	/* A plain service: one size, payload_max. */
	c = cfg_of(SHMK_SVC_PUBSUB);
	c.payload_max = 1000;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 1000, &pl), 1000);
	assert_int_equal(shmk_pub_discard(pub, pl), 0);
	assert_int_equal(shmk_pub_loan_slice(pub, 1001, &pl), -EMSGSIZE);
	shmk_port_close(pub);
	drop_service(s, name);
}

/* Request-response: clients and servers grow their chunks alike. */
static void dyn_reqres(void **state)
{
	struct shmk_svc_config c = dyn_cfg();
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_port *cl, *sv;
	struct shmk_service *s;
	struct shmk_sample req, resp;
	void *pl;

	(void)state;
	c.kind = SHMK_SVC_REQRES;
	s = new_service(&c, name);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	assert_int_equal(shmk_pub_loan_slice(cl, 10000, &pl), 16384);
	memset(pl, 7, 10000);
	assert_int_equal(shmk_client_send(cl, pl, 10000, NULL), 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	assert_int_equal(req.len, 10000);
	assert_int_equal(((const unsigned char *)req.data)[9999], 7);
	assert_int_equal(shmk_pub_loan_slice(sv, 100000, &pl), 131072);
	memset(pl, 8, 100000);
	assert_int_equal(shmk_server_respond(sv, &req, pl, 100000), 0);
	assert_int_equal(shmk_sub_release(sv, &req), 0);
	assert_int_equal(shmk_client_receive(cl, &resp, 0), 0);
	assert_int_equal(resp.len, 100000);
	assert_int_equal(((const unsigned char *)resp.data)[99999], 8);
	assert_int_equal(shmk_sub_release(cl, &resp), 0);
	shmk_port_close(cl);
	shmk_port_close(sv);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zt_config_checked),
		cmocka_unit_test(zt_roundtrip_readonly),
		cmocka_unit_test(zt_sealed_against_same_user),
		cmocka_unit_test(zt_hostile_headers),
		cmocka_unit_test(zt_reqres),
		cmocka_unit_test(zt_unmap_when_unused),
		cmocka_unit_test(zt_cross_process),
		cmocka_unit_test(dyn_grows),
		cmocka_unit_test(dyn_old_segment_released),
		cmocka_unit_test(dyn_hostile_segments),
		cmocka_unit_test(dyn_typed_and_plain),
		cmocka_unit_test(dyn_reqres),
	};

	use_memfd_backend();
	return cmocka_run_group_tests_name("zerotrust", tests, NULL, NULL);
}
