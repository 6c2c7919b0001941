// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public headers from C++: the same layouts as in C (compared with
 * cxx_layout.c, compiled as C, entry by entry), and the inline hot paths
 * (SPSC, MPMC, pool), compiled as C++ with std::atomic, working with the
 * C library across processes.  Also built with ThreadSanitizer and run
 * under valgrind by run.sh.
 */
#include <cerrno>
#include <chrono>
#include <optional>
#include <memory>
#include <string>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <csetjmp>
#include <cstdarg>
#include <cstddef>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka.h declares print_error() and others without C linkage. */
extern "C" {
#include <cmocka.h>
}

#include <shmk/shmk.h>
#include <shmk/shmk.hpp>

#include "cxx_layout.h"

#define OFF(s, m)	{ #s "." #m, offsetof(struct s, m) }
#define SIZE(s)		{ "sizeof " #s, sizeof(struct s) }

/* The same list as cxx_layout.c, as C++ sees it. */
static const struct cxx_layout_entry cxx_layout_cxx[] = {
	SIZE(shmk_obj_hdr),
	OFF(shmk_obj_hdr, magic),
	OFF(shmk_obj_hdr, total_size),
	OFF(shmk_obj_hdr, reserved),
	SIZE(shmk_spsc_shared),
	OFF(shmk_spsc_shared, tail),
	OFF(shmk_spsc_shared, head),
	OFF(shmk_spsc_shared, cons_waiting),
	OFF(shmk_spsc_shared, prod_waiting),
	SIZE(shmk_spsc),
	SIZE(shmk_mpmc_shared),
	OFF(shmk_mpmc_shared, enq_pos),
	OFF(shmk_mpmc_shared, deq_pos),
	OFF(shmk_mpmc_shared, cons_waiters),
	OFF(shmk_mpmc_shared, prod_seen),
	SIZE(shmk_mpmc),
	SIZE(shmk_pool_shared),
	OFF(shmk_pool_shared, free_head),
	SIZE(shmk_pool),
	SIZE(shmk_svc_config),
	SIZE(shmk_sample),
};

static struct shmk_region *new_region(uint64_t bytes)
{
	static unsigned int n;
	struct shmk_region *r = nullptr;
	char name[SHMK_NAME_MAX];

	snprintf(name, sizeof(name), "t.%d.%u.cxx", (int)getpid(), n++);
	assert_int_equal(shmk_region_create(name, bytes, 0600, 0, &r), 0);
	assert_int_equal(shmk_region_unlink(name), 0);
	return r;
}

static int reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static unsigned long scaled(unsigned long n)
{
	const char *s = getenv("SHMK_TEST_SCALE");
	unsigned long div = s ? strtoul(s, nullptr, 10) : 1;

	n /= div ? div : 1;
	return n ? n : 1;
}

static void layouts_match_c(void **state)
{
	unsigned int i;

	(void)state;
	assert_int_equal(cxx_layout_c_n,
			 sizeof(cxx_layout_cxx) / sizeof(cxx_layout_cxx[0]));
	for (i = 0; i < cxx_layout_c_n; i++) {
		assert_string_equal(cxx_layout_c[i].what, cxx_layout_cxx[i].what);
		if (cxx_layout_c[i].value != cxx_layout_cxx[i].value)
			fail_msg("%s: %zu in C, %zu in C++", cxx_layout_c[i].what,
				 cxx_layout_c[i].value, cxx_layout_cxx[i].value);
	}
}

/* A C++ child pushes with the inline path; the C library pops, waiting. */
static void spsc_cxx_producer_c_consumer(void **state)
{
	struct shmk_region *r = new_region(1 << 20);
	struct shmk_spsc q;
	unsigned long n = scaled(200000), i;
	uint64_t v;
	pid_t pid;

	(void)state;
	assert_int_equal(shmk_spsc_init(&q, r, 0, sizeof(v), 64,
					SHMK_QUEUE_NOTIFY), 0);
	fflush(nullptr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shmk_spsc c;

		if (shmk_spsc_attach(&c, r, 0))
			_exit(2);
		for (i = 0; i < n; i++) {
			v = i;
			while (shmk_spsc_push(&c, &v) == -EAGAIN)
				if (shmk_spsc_push_wait(&c, &v, 1, SHMK_FOREVER) == 1)
					break;
		}
		_exit(0);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(shmk_spsc_pop_wait(&q, &v, 1, 5000000000LL), 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(shmk_spsc_pop(&q, &v), -EAGAIN);
	shmk_region_close(r);
}

/* Two C++ producers, the inline consumer too; every item once. */
static void mpmc_cxx_both_sides(void **state)
{
	struct shmk_region *r = new_region(1 << 20);
	struct shmk_mpmc q;
	unsigned long n = scaled(100000), i, got = 0;
	static unsigned char seen[2][100000];
	pid_t pid[2];
	uint64_t v;
	int k;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(shmk_mpmc_init(&q, r, 0, sizeof(v), 256,
					SHMK_QUEUE_NOTIFY), 0);
	fflush(nullptr);
	for (k = 0; k < 2; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			struct shmk_mpmc c;

			if (shmk_mpmc_attach(&c, r, 0))
				_exit(2);
			for (i = 0; i < n; i++) {
				v = ((uint64_t)k << 32) | i;
				if (shmk_mpmc_push_wait(&c, &v, SHMK_FOREVER))
					_exit(3);
			}
			_exit(0);
		}
	}
	while (got < 2 * n) {
		int ret = shmk_mpmc_pop(&q, &v);

		if (ret == -EAGAIN)
			ret = shmk_mpmc_pop_wait(&q, &v, 5000000000LL);
		assert_int_equal(ret, 0);
		k = (int)(v >> 32);
		i = (unsigned long)(v & 0xffffffffU);
		assert_true(k < 2 && i < n);
		assert_int_equal(seen[k][i], 0);
		seen[k][i] = 1;
		got++;
	}
	for (k = 0; k < 2; k++)
		assert_int_equal(reap(pid[k]), 0);
	assert_int_equal(shmk_mpmc_pop(&q, &v), -EAGAIN);
	shmk_region_close(r);
}

/* Alloc every chunk, exhaust, free, alloc again: the inline pool ops. */
static void pool_cxx(void **state)
{
	struct shmk_region *r = new_region(1 << 20);
	struct shmk_pool p;
	static int64_t idx[64];
	unsigned char used[64] = { 0 };
	int i;

	(void)state;
	assert_int_equal(shmk_pool_init(&p, r, 0, 128, 64), 0);
	for (i = 0; i < 64; i++) {
		idx[i] = shmk_pool_alloc(&p);
		assert_true(idx[i] >= 0 && idx[i] < 64);
		assert_int_equal(used[idx[i]], 0);
		used[idx[i]] = 1;
		memset(shmk_pool_ptr(&p, (uint32_t)idx[i]), i, 128);
	}
	assert_int_equal(shmk_pool_alloc(&p), -ENOMEM);
	for (i = 0; i < 64; i++) {
		assert_int_equal(((unsigned char *)shmk_pool_ptr(&p,
						(uint32_t)idx[i]))[127], i);
		assert_int_equal(shmk_pool_free(&p, (uint32_t)idx[i]), 0);
	}
	assert_true(shmk_pool_alloc(&p) >= 0);
	shmk_region_close(r);
}

/* A service from C++: publish, receive, release. */
static void pubsub_cxx(void **state)
{
	struct shmk_svc_config c;
	struct shmk_service *s = nullptr;
	struct shmk_port *pub = nullptr, *sub = nullptr;
	struct shmk_sample smp;
	char name[SHMK_SVC_NAME_MAX];
	void *buf = nullptr;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.kind = SHMK_SVC_PUBSUB;
	c.payload_max = 64;
	snprintf(name, sizeof(name), "t.%d.cxxsvc", (int)getpid());
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s), 0);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_loan(pub, &buf), 0);
	strcpy(static_cast<char *>(buf), "from C++");
	assert_int_equal(shmk_pub_publish(pub, buf, 9, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_string_equal(static_cast<const char *>(smp.data), "from C++");
	assert_int_equal(shmk_sub_release(sub, &smp), 0);
	shmk_port_close(sub);
	shmk_port_close(pub);
	shmk_service_close(s);
}

/* ---- <shmk/shmk.hpp> ---- */

struct pose {
	double x, y, z;
	uint64_t stamp;
};

static std::string svc_name(const char *tag)
{
	static unsigned int n;

	return "t." + std::to_string(getpid()) + "." + std::to_string(n++) + "." + tag;
}

static shmk::config pubsub_config(uint64_t payload_max)
{
	shmk::config c(SHMK_SVC_PUBSUB);

	c.payload_max = payload_max;
	c.buffer = 8;
	return c;
}

/* Typed loan, publish, receive; the sample is released when dropped. */
static void hpp_typed_pubsub(void **state)
{
	auto svc = shmk::service::open(svc_name("hpp"), pubsub_config(sizeof(pose)));
	shmk::publisher<pose> pub(svc);
	shmk::subscriber<pose> sub(svc);
	uint32_t base = svc.chunks_used();

	(void)state;
	assert_false(sub.receive().has_value());
	{
		auto l = pub.loan();
		*l = pose{1.5, 2.5, 3.5, 42};
		pub.publish(std::move(l));
	}
	pub.send_copy(pose{4, 5, 6, 43});
	{
		auto smp = sub.receive(std::chrono::seconds(1));
		assert_true(smp.has_value());
		assert_true((*smp)->x == 1.5 && (*smp)->z == 3.5);
		assert_int_equal((*smp)->stamp, 42);
		auto second = sub.receive();
		assert_true(second.has_value());
		assert_int_equal((**second).stamp, 43);
		assert_true(second->seq() > smp->seq());
	}
	/*
	 * Both samples were released at the end of the block: more samples
	 * than max_borrow (4) come one after another without -ENOBUFS.
	 */
	for (int k = 0; k < 12; k++) {
		pub.send_copy(pose{0, 0, 0, (uint64_t)k});
		auto smp = sub.receive(std::chrono::seconds(1));
		assert_true(smp.has_value());
		assert_int_equal(smp->get()->stamp, k);
	}
	assert_true(pub.drain(shmk::timeout::zero()));
	(void)base;
}

/* config::payload_type<T>(): another type is refused, naming both. */
static void hpp_payload_type(void **state)
{
	std::string name = svc_name("ptype");
	auto svc = shmk::service::open(name, pubsub_config(64).payload_type<pose>("pose"));
	bool threw = false;

	(void)state;
	assert_int_equal(svc.config().type_size, sizeof(pose));
	assert_int_equal(svc.config().type_align, alignof(pose));
	auto same = shmk::service::open(name, shmk::config(SHMK_SVC_PUBSUB).payload_type<pose>("pose"), 0);
	try {
		shmk::service::open(name, shmk::config(SHMK_SVC_PUBSUB).payload_type<uint32_t>("u32"), 0);
	} catch (const shmk::error &e) {
		threw = e.code().value() == EPROTOTYPE &&
			std::string(e.what()).find("not 'u32' (4 bytes)") != std::string::npos;
	}
	assert_true(threw);
	shmk::service::remove(name);
}

/* A loan dropped unpublished goes back; a moved-from loan does nothing. */
static void hpp_loan_discarded(void **state)
{
	auto svc = shmk::service::open(svc_name("hpp"), pubsub_config(64));
	shmk::publisher<uint64_t> pub(svc);
	shmk::subscriber<uint64_t> sub(svc);
	uint32_t base = svc.chunks_used();

	(void)state;
	{
		auto a = pub.loan();
		auto b = std::move(a);
		assert_int_equal(svc.chunks_used(), base + 1);
	}
	assert_int_equal(svc.chunks_used(), base);
	assert_false(sub.receive().has_value());
	/* Publishing a moved-from loan is an error, not a crash. */
	auto a = pub.loan();
	auto b = std::move(a);
	try {
		pub.publish(std::move(a));
		fail_msg("published an empty loan");
	} catch (const shmk::error &e) {
		assert_int_equal(e.code().value(), EINVAL);
	}
	pub.publish(std::move(b));
	assert_true(sub.receive().has_value());
}

/* Slices: a span of n elements, received as a span. */
static void hpp_slices(void **state)
{
	auto svc = shmk::service::open(svc_name("hpp"), pubsub_config(1024));
	shmk::publisher<float> pub(svc);
	shmk::subscriber<float> sub(svc);
	size_t i;

	(void)state;
	auto l = pub.loan_slice(100);
	assert_int_equal(l.size(), 100);
	for (i = 0; i < l.size(); i++)
		l[i] = (float)i * 0.5f;
	pub.publish(std::move(l));
	auto smp = sub.receive_slice(std::chrono::seconds(1));
	assert_true(smp.has_value());
	assert_int_equal(smp->size(), 100);
	float sum = 0;
	for (float v : *smp)
		sum += v;
	assert_true(sum == 0.5f * 4950);
	try {
		pub.loan_slice(257);
		fail_msg("257 floats fit in 1024 bytes");
	} catch (const shmk::error &e) {
		assert_int_equal(e.code().value(), EMSGSIZE);
	}
}

/*
 * Dynamic payloads: loan_slice() asks shmk_pub_loan_slice(), so the
 * publisher's chunks grow past their first 4 KiB without reconnecting.
 */
static void hpp_dynamic_slices(void **state)
{
	shmk::config c = pubsub_config(64 * 1024);
	size_t n, i;

	(void)state;
	c.mode |= SHMK_SVC_DYNAMIC;
	auto svc = shmk::service::open(svc_name("hpp"), c);
	shmk::publisher<float> pub(svc);
	shmk::subscriber<float> sub(svc);
	for (n = 100; n <= 16000; n *= 4) {
		auto l = pub.loan_slice(n);
		assert_int_equal(l.size(), n);
		for (i = 0; i < n; i++)
			l[i] = (float)i;
		pub.publish(std::move(l));
		auto smp = sub.receive_slice(std::chrono::seconds(1));
		assert_true(smp.has_value());
		assert_int_equal(smp->size(), n);
		assert_true((*smp)[n - 1] == (float)(n - 1));
	}
}

/* server::cancelled(): false while the client is there, true once gone. */
static void hpp_server_cancelled(void **state)
{
	shmk::config rc(SHMK_SVC_REQRES);

	(void)state;
	rc.payload_max = 64;
	auto rs = shmk::service::open(svc_name("rr"), rc);
	shmk::server<uint64_t, uint64_t> srv(rs);
	auto cl = std::make_unique<shmk::client<uint64_t, uint64_t>>(rs);
	auto l = cl->loan();
	*l = 5;
	cl->send(std::move(l));
	auto req = srv.receive(std::chrono::seconds(1));
	assert_true(req.has_value());
	assert_false(srv.cancelled(*req));
	cl.reset();
	assert_true(srv.cancelled(*req));
}

/* Errors carry the errno and the library's sentence. */
static void hpp_errors(void **state)
{
	std::string name = svc_name("hpp");
	auto svc = shmk::service::open(name, pubsub_config(64));

	(void)state;
	/* T larger than the chunks. */
	try {
		shmk::publisher<pose[4]> big(svc);
		fail_msg("a 128-byte T on 64-byte chunks");
	} catch (const shmk::error &e) {
		assert_int_equal(e.code().value(), EMSGSIZE);
		assert_non_null(strstr(e.what(), "payload_max (64)"));
	}
	/* A configuration that differs names the field. */
	try {
		shmk::service::open(name, pubsub_config(128), 0);
		fail_msg("opened with another payload_max");
	} catch (const shmk::error &e) {
		assert_int_equal(e.code().value(), EPROTOTYPE);
		assert_non_null(strstr(e.what(), "payload_max"));
	}
	/* The wrong kind of port. */
	try {
		shmk::notifier n(svc);
		fail_msg("a notifier on a pubsub service");
	} catch (const shmk::error &e) {
		assert_int_equal(e.code().value(), EPROTOTYPE);
	}
	/* A sample shorter than T is refused (and released). */
	shmk::publisher<uint8_t> small(svc);
	shmk::subscriber<uint64_t> sub(svc);
	uint32_t base = svc.chunks_used();
	small.send_copy(7);
	try {
		sub.receive(std::chrono::seconds(1));
		fail_msg("received 1 byte as a uint64_t");
	} catch (const shmk::error &e) {
		assert_int_equal(e.code().value(), EBADMSG);
	}
	/* The refused sample was released: 4 more fit in max_borrow. */
	shmk::publisher<uint64_t> wide(svc);
	for (int k = 0; k < 4; k++)
		wide.send_copy((uint64_t)k);
	std::optional<shmk::sample<uint64_t>> held[4];
	for (int k = 0; k < 4; k++) {
		held[k] = sub.receive(std::chrono::seconds(1));
		assert_true(held[k].has_value());
	}
	(void)base;
	assert_false(shmk::service::remove(svc_name("none")));
}

/* Ports keep their service open after the service object is gone. */
static void hpp_port_outlives_service(void **state)
{
	std::optional<shmk::publisher<uint32_t>> pub;
	std::optional<shmk::subscriber<uint32_t>> sub;

	(void)state;
	{
		auto svc = shmk::service::open(svc_name("hpp"), pubsub_config(64));
		pub.emplace(svc);
		sub.emplace(svc);
	}
	pub->send_copy(99);
	auto smp = sub->receive(std::chrono::seconds(1));
	assert_true(smp.has_value());
	assert_int_equal(**smp, 99);
}

/* Request-response and events across processes. */
static void hpp_reqres_events(void **state)
{
	shmk::config rc(SHMK_SVC_REQRES);
	shmk::config ec(SHMK_SVC_EVENT);
	std::string rname = svc_name("rr"), ename = svc_name("ev");
	int k;

	(void)state;
	rc.payload_max = 64;
	auto rs = shmk::service::open(rname, rc);
	auto es = shmk::service::open(ename, ec);
	shmk::server<uint64_t, uint64_t> srv(rs);
	shmk::listener lis(es);
	fflush(nullptr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		try {
			auto s = shmk::service::open(rname, rc, 0);
			auto e = shmk::service::open(ename, ec, 0);
			shmk::client<uint64_t, uint64_t> cl(s);
			shmk::notifier no(e);

			for (k = 0; k < 100; k++) {
				auto l = cl.loan();
				*l = (uint64_t)k;
				uint64_t corr = cl.send(std::move(l), shmk::forever);
				auto r = cl.receive(std::chrono::seconds(5));
				if (!r || r->corr() != corr || **r != (uint64_t)k * k)
					_exit(3);
			}
			no.notify(7);
		} catch (const shmk::error &e) {
			fprintf(stderr, "child: %s\n", e.what());
			_exit(2);
		}
		_exit(0);
	}
	for (k = 0; k < 100; k++) {
		auto req = srv.receive(std::chrono::seconds(5));
		assert_true(req.has_value());
		auto l = srv.loan();
		*l = **req * **req;
		srv.respond(*req, std::move(l));
	}
	auto ids = lis.wait(std::chrono::seconds(5));
	assert_int_equal(ids.size(), 1);
	assert_int_equal(ids[0], 7);
	assert_int_equal(reap(pid), 0);
}

/* fd(): readable after a publish, empty again after receiving it all. */
static void hpp_port_fd(void **state)
{
	auto svc = shmk::service::open(svc_name("hpp"), pubsub_config(64));
	shmk::publisher<uint64_t> pub(svc);
	shmk::subscriber<uint64_t> sub(svc);
	struct pollfd pfd;

	(void)state;
	pfd.fd = sub.fd();
	pfd.events = POLLIN;
	assert_false(sub.receive().has_value());	/* drains and re-arms */
	assert_int_equal(poll(&pfd, 1, 0), 0);
	pub.send_copy(5);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	auto smp = sub.receive();
	assert_true(smp.has_value());
	assert_int_equal(**smp, 5);
	assert_false(sub.receive().has_value());
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(sub.fd(), pfd.fd);		/* the same fd */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layouts_match_c),
		cmocka_unit_test(spsc_cxx_producer_c_consumer),
		cmocka_unit_test(mpmc_cxx_both_sides),
		cmocka_unit_test(pool_cxx),
		cmocka_unit_test(pubsub_cxx),
		cmocka_unit_test(hpp_typed_pubsub),
		cmocka_unit_test(hpp_loan_discarded),
		cmocka_unit_test(hpp_slices),
		cmocka_unit_test(hpp_dynamic_slices),
		cmocka_unit_test(hpp_server_cancelled),
		cmocka_unit_test(hpp_errors),
		cmocka_unit_test(hpp_payload_type),
		cmocka_unit_test(hpp_port_outlives_service),
		cmocka_unit_test(hpp_reqres_events),
		cmocka_unit_test(hpp_port_fd),
	};

	/* The memfd backend: the host has no /dev/shmk. */
	setenv("SHMK_BACKEND", "memfd", 0);
	return cmocka_run_group_tests_name("cxx", tests, nullptr, nullptr);
}
