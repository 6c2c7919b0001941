/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the messaging tests (service.h).
 */
#ifndef SHMK_MSGUTIL_H
#define SHMK_MSGUTIL_H

#include "testutil.h"

static inline struct shmk_svc_config cfg_of(uint32_t kind)
{
	struct shmk_svc_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.kind = kind;
	return c;
}

/* Create a fresh service; its name goes to @name (SHMK_SVC_NAME_MAX). */
static inline struct shmk_service *new_service(struct shmk_svc_config *c,
					       char *name)
{
	struct shmk_service *s = NULL;

	uniq_name(name, SHMK_SVC_NAME_MAX, "s");
	assert_int_equal(shmk_service_open(name, c, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &s), 0);
	assert_non_null(s);
	return s;
}

static inline void drop_service(struct shmk_service *s, const char *name)
{
	shmk_service_remove(name);
	shmk_service_close(s);
}

#endif /* SHMK_MSGUTIL_H */
