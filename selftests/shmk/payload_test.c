// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Zero-trust and dynamic payloads (SHMK_SVC_ZERO_TRUST, SHMK_SVC_DYNAMIC)
 * on the device backend, in the QEMU guest with shmk.ko.  (Named so that
 * it runs before unload_test.)  As an unprivileged user (root has
 * CAP_IPC_OWNER, which opens any region read-write): a subscriber's
 * write into a received sample is SIGSEGV, mprotect() cannot make it
 * writable, and a second opener of the publisher's data region (same
 * user, or another) gets only a read-only handle; the publisher's own
 * handle is the only writable one.  Request-response samples likewise.
 * Dynamic payloads: a publisher in another process grows its chunks
 * from 4 KiB to 64 KiB; the subscriber maps each new segment on sight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "kselftest_harness.h"

#define LIB_UTIL_PREFIX "zt"
#include "lib_util.h"

#define NOBODY	65534

/* The first region named "zt.*" of uid @uid: its name into @out. */
static int zt_region_of(uid_t uid, char *out)
{
	struct shmk_region_info e[256];
	struct shmk_list l;
	unsigned int i;
	int dev = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC), ret = -ENOENT;

	if (dev < 0)
		return -errno;
	memset(&l, 0, sizeof(l));
	memset(e, 0, sizeof(e));
	for (i = 0; i < 256; i++)
		e[i].size = sizeof(e[i]);
	l.size = sizeof(l);
	l.count = 256;
	l.entry_size = sizeof(e[0]);
	l.entries = (unsigned long)e;
	if (ioctl(dev, SHMK_IOC_LIST, &l) == 0)
		for (i = 0; i < l.count && i < 256; i++) {
			e[i].name[SHMK_NAME_MAX - 1] = 0;
			if (e[i].uid == uid && !strncmp(e[i].name, "zt.", 3)) {
				strcpy(out, e[i].name);
				ret = 0;
				break;
			}
		}
	close(dev);
	return ret;
}

/*
 * In a child as @uid: a zero-trust service, a publisher, a subscriber,
 * one sample; the checks; then the data region's name goes to @tell,
 * and the child waits on @wait while another user tries it.  Exit 0
 * when everything held.
 */
static int zt_child(uid_t uid, int tell, int wait)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], rn[SHMK_NAME_MAX];
	struct shmk_port *pub, *sub;
	struct shmk_service *s;
	struct shmk_region *r;
	struct shmk_sample smp;
	void *pl;
	pid_t pid;

	CHILD_CHECK(setresgid(uid, uid, uid) == 0);
	CHILD_CHECK(setresuid(uid, uid, uid) == 0);
	c.payload_max = 64;
	c.mode = 0644 | SHMK_SVC_ZERO_TRUST;
	uniq(name, sizeof(name), "svc");
	CHILD_CHECK(shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
				      &s) == 0);
	CHILD_CHECK(shmk_sub_open(s, &sub) == 0);
	CHILD_CHECK(shmk_pub_open(s, &pub) == 0);
	CHILD_CHECK(shmk_pub_loan(pub, &pl) == 0);
	strcpy(pl, "zero trust");
	CHILD_CHECK(shmk_pub_publish(pub, pl, 11, 0) == 0);
	CHILD_CHECK(shmk_sub_receive(sub, &smp, 0) == 0);
	CHILD_CHECK(!strcmp(smp.data, "zero trust"));
	CHILD_CHECK(smp.data != pl);
	/* A write into the received sample: SIGSEGV. */
	pid = fork();
	CHILD_CHECK(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)smp.data = 'X';
		_exit(0);
	}
	CHILD_CHECK(reap(pid) == 128 + SIGSEGV);
	CHILD_CHECK(!strcmp(smp.data, "zero trust"));
	CHILD_CHECK(mprotect((void *)((uintptr_t)smp.data & ~4095UL), 4096,
			     PROT_READ | PROT_WRITE) == -1);
	/* A second opener, same user: read-only only. */
	CHILD_CHECK(zt_region_of(uid, rn) == 0);
	CHILD_CHECK(shmk_region_open(rn, 0, &r) == -EACCES);
	CHILD_CHECK(shmk_region_open(rn, SHMK_REGION_OPEN_RDONLY, &r) == 0);
	CHILD_CHECK(mprotect(shmk_region_base(r), 4096,
			     PROT_READ | PROT_WRITE) == -1);
	shmk_region_close(r);
	/* Another user (our parent forks it): the same. */
	CHILD_CHECK(write(tell, rn, sizeof(rn)) == (ssize_t)sizeof(rn));
	CHILD_CHECK(read(wait, rn, 1) == 1);
	CHILD_CHECK(shmk_sub_release(sub, &smp) == 0);
	shmk_port_close(pub);
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
	return 0;
}

TEST(write_into_sample_faults)
{
	char rn[SHMK_NAME_MAX], ch = 0;
	int up[2], down[2];
	pid_t pid, other;

	NEED_DEVICE();
	ASSERT_EQ(0, pipe(up) | pipe(down));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(zt_child(NOBODY, up[1], down[0]));
	close(up[1]);
	ASSERT_EQ((ssize_t)sizeof(rn), read(up[0], rn, sizeof(rn)));
	other = fork();
	ASSERT_LE(0, other);
	if (other == 0) {
		struct shmk_region *r;

		CHILD_CHECK(setresgid(NOBODY - 1, NOBODY - 1, NOBODY - 1) == 0);
		CHILD_CHECK(setresuid(NOBODY - 1, NOBODY - 1, NOBODY - 1) == 0);
		CHILD_CHECK(shmk_region_open(rn, 0, &r) == -EACCES);
		CHILD_CHECK(shmk_region_open(rn, SHMK_REGION_OPEN_RDONLY,
					     &r) == 0);
		CHILD_CHECK(mprotect(shmk_region_base(r), 4096,
				     PROT_READ | PROT_WRITE) == -1);
		shmk_region_close(r);
		_exit(0);
	}
	EXPECT_EQ(0, reap(other));
	ASSERT_EQ(1, write(down[1], &ch, 1));
	ASSERT_EQ(0, reap(pid));
	close(up[0]);
	close(down[0]);
	close(down[1]);
}

/* Requests live in the client's region, responses in the server's. */
TEST(reqres_read_only)
{
	pid_t pid;

	NEED_DEVICE();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
		char name[SHMK_SVC_NAME_MAX];
		struct shmk_port *cl, *sv;
		struct shmk_sample req, resp;
		struct shmk_service *s;
		void *pl;

		CHILD_CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0);
		CHILD_CHECK(setresuid(NOBODY, NOBODY, NOBODY) == 0);
		c.payload_max = 64;
		c.mode = 0600 | SHMK_SVC_ZERO_TRUST;
		uniq(name, sizeof(name), "rr");
		CHILD_CHECK(shmk_service_open(name, &c, SHMK_SVC_CREATE |
					      SHMK_SVC_EXCL, &s) == 0);
		CHILD_CHECK(shmk_server_open(s, &sv) == 0);
		CHILD_CHECK(shmk_client_open(s, &cl) == 0);
		CHILD_CHECK(shmk_pub_loan(cl, &pl) == 0);
		strcpy(pl, "ping");
		CHILD_CHECK(shmk_client_send(cl, pl, 5, NULL) == 0);
		CHILD_CHECK(shmk_server_receive(sv, &req, 0) == 0);
		CHILD_CHECK(!strcmp(req.data, "ping"));
		CHILD_CHECK(mprotect((void *)((uintptr_t)req.data & ~4095UL),
				     4096, PROT_READ | PROT_WRITE) == -1);
		CHILD_CHECK(shmk_pub_loan(sv, &pl) == 0);
		strcpy(pl, "pong");
		CHILD_CHECK(shmk_server_respond(sv, &req, pl, 5) == 0);
		CHILD_CHECK(shmk_sub_release(sv, &req) == 0);
		CHILD_CHECK(shmk_client_receive(cl, &resp, 0) == 0);
		CHILD_CHECK(!strcmp(resp.data, "pong"));
		CHILD_CHECK(mprotect((void *)((uintptr_t)resp.data & ~4095UL),
				     4096, PROT_READ | PROT_WRITE) == -1);
		CHILD_CHECK(shmk_sub_release(cl, &resp) == 0);
		shmk_port_close(cl);
		shmk_port_close(sv);
		shmk_service_remove(name);
		shmk_service_close(s);
		_exit(0);
	}
	ASSERT_EQ(0, reap(pid));
}

/* A publisher (a child) grows; the subscriber (here) follows. */
TEST(dynamic_grows_across_processes)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], ch = 0;
	static const size_t sizes[] = { 100, 5000, 60000, 3000 };
	struct shmk_service *s;
	struct shmk_port *sub;
	struct shmk_sample smp;
	int up[2], down[2];
	unsigned int i;
	size_t j;
	pid_t pid;

	NEED_DEVICE();
	c.payload_max = 65536;
	c.buffer = 4;
	c.mode = 0600 | SHMK_SVC_DYNAMIC;
	uniq(name, sizeof(name), "dyn");
	ASSERT_EQ(0, shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
				       &s));
	ASSERT_EQ(0, shmk_sub_open(s, &sub));
	ASSERT_EQ(0, pipe(up) | pipe(down));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmk_port *pub;
		void *pl;
		int got;

		CHILD_CHECK(shmk_pub_open(s, &pub) == 0);
		for (i = 0; i < 4; i++) {
			got = shmk_pub_loan_slice(pub, sizes[i], &pl);
			CHILD_CHECK(got >= (int)sizes[i]);
			memset(pl, 'a' + (int)i, sizes[i]);
			CHILD_CHECK(shmk_pub_publish(pub, pl, sizes[i], 0) == 0);
		}
		CHILD_CHECK(write(up[1], &ch, 1) == 1);
		CHILD_CHECK(read(down[0], &ch, 1) == 1);
		shmk_port_close(pub);
		_exit(0);
	}
	ASSERT_EQ(1, read(up[0], &ch, 1));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, shmk_sub_receive(sub, &smp, 0));
		ASSERT_EQ(sizes[i], smp.len);
		for (j = 0; j < smp.len; j++)
			if (((const char *)smp.data)[j] != 'a' + (int)i)
				break;
		ASSERT_EQ(smp.len, j);
		/* Read-only here too. */
		ASSERT_EQ(-1, mprotect((void *)((uintptr_t)smp.data & ~4095UL),
				       4096, PROT_READ | PROT_WRITE));
		ASSERT_EQ(0, shmk_sub_release(sub, &smp));
	}
	ASSERT_EQ(1, write(down[1], &ch, 1));
	ASSERT_EQ(0, reap(pid));
	shmk_port_close(sub);
	shmk_service_remove(name);
	shmk_service_close(s);
}

TEST_HARNESS_MAIN
