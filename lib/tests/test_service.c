// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Services: open-or-create, configuration defaults and mismatches, bad
 * configurations and names, listing, removal, corrupt headers, and a
 * 64 MiB payload.
 */
#include <errno.h>
#include "msgutil.h"

static void test_open_create(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB), got, want;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *s2;

	(void)state;
	c.payload_max = 1000;
	c.history = 2;
	s = new_service(&c, name);
	shmk_service_config(s, &got);
	assert_int_equal(got.kind, SHMK_SVC_PUBSUB);
	assert_int_equal(got.payload_max, 1000);
	assert_int_equal(got.max_publishers, 4);
	assert_int_equal(got.max_subscribers, 4);
	assert_int_equal(got.buffer, 8);
	assert_int_equal(got.history, 2);
	assert_int_equal(got.overflow, SHMK_OVERFLOW_SAFE);
	assert_true(shmk_service_chunks(s) > 0);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	/* Open-or-create finds it; open without a configuration too. */
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s2), 0);
	shmk_service_close(s2);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), 0);
	shmk_service_close(s2);
	want = cfg_of(0);
	want.payload_max = 1000;
	assert_int_equal(shmk_service_open(name, &want, 0, &s2), 0);
	shmk_service_close(s2);
	/* Mismatches. */
	want = cfg_of(SHMK_SVC_EVENT);
	assert_int_equal(shmk_service_open(name, &want, 0, &s2), -EPROTOTYPE);
	assert_string_equal(shmk_last_error(), "kind: the service has 1, not 3");
	want = cfg_of(SHMK_SVC_PUBSUB);
	want.payload_max = 1001;
	assert_int_equal(shmk_service_open(name, &want, SHMK_SVC_CREATE, &s2),
			 -EPROTOTYPE);
	assert_string_equal(shmk_last_error(),
			    "payload_max: the service has 1000, not 1001");
	want = cfg_of(SHMK_SVC_PUBSUB);
	want.overflow = SHMK_OVERFLOW_BLOCK;
	assert_int_equal(shmk_service_open(name, &want, 0, &s2), -EPROTOTYPE);
	assert_non_null(strstr(shmk_last_error(), "overflow"));
	want = cfg_of(SHMK_SVC_PUBSUB);
	want.history = 3;
	assert_int_equal(shmk_service_open(name, &want, 0, &s2), -EPROTOTYPE);
	assert_string_equal(shmk_last_error(), "history: the service has 2, not 3");
	want = cfg_of(SHMK_SVC_PUBSUB);
	want.max_publishers = 2;
	assert_int_equal(shmk_service_open(name, &want, 0, &s2), -EPROTOTYPE);
	assert_string_equal(shmk_last_error(),
			    "max_publishers: the service has 4, not 2");
	/* Success clears it. */
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), 0);
	assert_string_equal(shmk_last_error(), "");
	shmk_service_close(s2);
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &s2), -EEXIST);
	drop_service(s, name);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), -ENOENT);
	assert_int_equal(shmk_service_remove(name), -ENOENT);
}

static void test_bad_args(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB), b;
	char longname[80];
	struct shmk_service *s;

	(void)state;
	memset(longname, 'a', sizeof(longname));
	longname[SHMK_SVC_NAME_MAX] = 0;
	assert_int_equal(shmk_service_open(longname, &c, SHMK_SVC_CREATE, &s),
			 -ENAMETOOLONG);
	assert_int_equal(shmk_service_open("a/b", &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_int_equal(shmk_service_open("", &c, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_int_equal(shmk_service_open("x", NULL, SHMK_SVC_CREATE, &s), -EINVAL);
	assert_int_equal(shmk_service_open("x", &c, SHMK_SVC_EXCL, &s), -EINVAL);
	assert_int_equal(shmk_service_open("x", &c, 0x80, &s), -EINVAL);
	assert_int_equal(shmk_service_open("x", &c, SHMK_SVC_CREATE, NULL), -EINVAL);
#define BAD(field, val) do {						\
		b = c;							\
		b.field = val;						\
		assert_int_equal(shmk_service_open("x", &b, SHMK_SVC_CREATE, &s), \
				 -EINVAL);				\
		assert_non_null(strstr(shmk_last_error(), #field));	\
	} while (0)
	BAD(size, 8);
	BAD(kind, 9);
	BAD(payload_max, SHMK_SVC_PAYLOAD_MAX + 1);
	BAD(max_publishers, SHMK_SVC_SLOTS_MAX - 3);
	BAD(max_subscribers, SHMK_SVC_SLOTS_MAX - 3);
	BAD(max_publishers, SHMK_SVC_SLOTS_MAX);
	BAD(buffer, SHMK_SVC_RING_MAX + 1);
	BAD(history, SHMK_SVC_RING_MAX + 1);
	BAD(overflow, 3);
	BAD(max_events, SHMK_SVC_EVENTS_MAX + 1);
	BAD(mode, 01000);
	BAD(reserved, 1);
#undef BAD
}

static void test_list_remove(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_EVENT);
	char name[SHMK_SVC_NAME_MAX], (*names)[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	int n, i, found = 0;

	(void)state;
	s = new_service(&c, name);
	n = shmk_service_list(NULL, 0);
	assert_true(n >= 1);
	names = calloc((size_t)n + 8, sizeof(*names));
	assert_non_null(names);
	n = shmk_service_list(names, (size_t)n + 8);
	for (i = 0; i < n; i++)
		found += !strcmp(names[i], name);
	assert_int_equal(found, 1);
	assert_int_equal(shmk_service_list(NULL, 1), -EINVAL);
	assert_int_equal(shmk_service_remove(name), 0);
	n = shmk_service_list(names, (size_t)n + 8);
	for (i = 0, found = 0; i < n; i++)
		found += !strcmp(names[i], name);
	assert_int_equal(found, 0);
	free(names);
	shmk_service_close(s);
}

/* Corrupt headers are errors on attach, never crashes. */
static void test_corrupt(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX];
	struct shmk_service *s, *s2;
	struct shmk_region *r;
	struct shmk_obj_hdr *h;
	uint64_t saved;
	uint32_t w;
	unsigned char *b;
	size_t off;

	(void)state;
	s = new_service(&c, name);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_region_open(rname, 0, &r), 0);
	h = shmk_region_base(r);
	b = shmk_region_base(r);
	h->version = 99;
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), -EPROTO);
	h->version = SHMK_LAYOUT_VERSION;
	atomic_store(&h->magic, 0x12345678);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), -EBADMSG);
	atomic_store(&h->magic, SHMK_MAGIC_SVC);
	saved = h->total_size;
	h->total_size = 1ULL << 50;
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), -EBADMSG);
	h->total_size = saved;
	/* Every 32-bit word of the geometry block, flipped in turn. */
	for (off = 128; off < 384; off += 4) {
		memcpy(&w, b + off, 4);
		b[off] ^= 0x40;
		assert_true(shmk_service_open(name, NULL, 0, &s2) < 0 || (shmk_service_close(s2), 1));
		memcpy(b + off, &w, 4);
	}
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), 0);
	shmk_service_close(s2);
	/* A plain region under a service name is not a service. */
	shmk_region_close(r);
	drop_service(s, name);
	assert_int_equal(shmk_region_create(rname, 1, 0600, 0, &r), 0);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), -EAGAIN);
	shmk_region_unlink(rname);
	shmk_region_close(r);
}

/* 64 MiB samples: loaned, written at both ends, received in place. */
static void test_big_payload(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	size_t big = 64ULL << 20;
	unsigned char *pl;

	(void)state;
	c.payload_max = big;
	c.max_publishers = 1;
	c.max_subscribers = 1;
	c.buffer = 1;
	c.max_loans = 1;
	c.max_borrow = 1;
	s = new_service(&c, name);
	assert_int_equal(shmk_pub_open(s, &pub), 0);
	assert_int_equal(shmk_sub_open(s, &sub), 0);
	assert_int_equal(shmk_pub_loan(pub, (void **)&pl), 0);
	pl[0] = 1;
	pl[big - 1] = 2;
	assert_int_equal(shmk_pub_publish(pub, pl, big, 0), 0);
	assert_int_equal(shmk_sub_receive(sub, &smp, 0), 0);
	assert_int_equal(smp.len, big);
	assert_int_equal(((const unsigned char *)smp.data)[0], 1);
	assert_int_equal(((const unsigned char *)smp.data)[big - 1], 2);
	shmk_sub_release(sub, &smp);
	shmk_port_close(sub);
	shmk_port_close(pub);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	drop_service(s, name);
}

/*
 * cfg->size: a larger struct (a newer header) with its unknown tail 0 is
 * accepted; a non-zero byte there is -E2BIG; smaller than the first
 * version is -EINVAL.  A refused configuration creates nothing.
 */
static void test_cfg_size(void **state)
{
	struct {
		struct shmk_svc_config c;
		uint32_t newer[6];
	} big;
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s, *s2;
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB), got;

	(void)state;
	uniq_name(name, sizeof(name), "sz");
	memset(&big, 0, sizeof(big));
	big.c = cfg_of(SHMK_SVC_PUBSUB);
	big.c.size = sizeof(big);
	big.c.buffer = 5;
	big.newer[5] = 1;
	assert_int_equal(shmk_service_open(name, &big.c, SHMK_SVC_CREATE, &s),
			 -E2BIG);
	assert_non_null(strstr(shmk_last_error(), "cfg->size"));
	assert_int_equal(shmk_service_open(name, NULL, 0, &s), -ENOENT);
	c.size = SHMK_SVC_CONFIG_SIZE_V0 - 4;
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s),
			 -EINVAL);
	assert_non_null(strstr(shmk_last_error(), "cfg->size"));
	c.size = 1u << 20;
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE, &s),
			 -EINVAL);
	assert_int_equal(shmk_service_open(name, NULL, 0, &s), -ENOENT);
	big.newer[5] = 0;
	assert_int_equal(shmk_service_open(name, &big.c, SHMK_SVC_CREATE, &s), 0);
	shmk_service_config(s, &got);
	assert_int_equal(got.size, sizeof(got));
	assert_int_equal(got.buffer, 5);
	/*
	 * Opening with the larger struct compares the known fields (s stays
	 * open: on memfd too a service goes with its last handle).
	 */
	assert_int_equal(shmk_service_open(name, &big.c, 0, &s2), 0);
	shmk_service_close(s2);
	big.c.buffer = 6;
	assert_int_equal(shmk_service_open(name, &big.c, 0, &s2), -EPROTOTYPE);
	assert_string_equal(shmk_last_error(), "buffer: the service has 5, not 6");
	assert_int_equal(shmk_service_remove(name), 0);
	shmk_service_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_create),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_cfg_size),
		cmocka_unit_test(test_list_remove),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_big_payload),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
