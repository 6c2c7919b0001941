// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shared library's compatibility symbols: a binary built against
 * the headers of LIBSHMK_0.2 or 0.3 binds shmk_service_config to
 * shmk_service_config@LIBSHMK_0.2, whose struct has 56 bytes; it must
 * get exactly those, not the 136 of LIBSHMK_0.4's struct.  Linked with
 * libshmk.so (the static archive has no versions), plain phase only.
 */
#include <errno.h>
#include "msgutil.h"

/* What an old binary's reference is: the symbol of LIBSHMK_0.2. */
__asm__(".symver shmk_service_config, shmk_service_config@LIBSHMK_0.2");

static void config_v0_writes_56_bytes(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX];
	unsigned char buf[256];
	struct shmk_service *s;
	unsigned int i;

	(void)state;
	strcpy(c.type_name, "Pose");
	c.payload_max = 100;
	s = new_service(&c, name);
	memset(buf, 0xee, sizeof(buf));
	shmk_service_config(s, (struct shmk_svc_config *)buf);
	assert_int_equal(((struct shmk_svc_config *)buf)->size,
			 SHMK_SVC_CONFIG_SIZE_V0);
	assert_int_equal(((struct shmk_svc_config *)buf)->payload_max, 100);
	for (i = SHMK_SVC_CONFIG_SIZE_V0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);
	drop_service(s, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_v0_writes_56_bytes),
	};

	use_memfd_backend();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
