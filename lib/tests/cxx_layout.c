// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shared layouts as the C compiler sees them, for test_cxx.cc to
 * compare with what the C++ compiler sees in the same public headers.
 */
#include <stddef.h>

#include <shmk/shmk.h>

#include "cxx_layout.h"

#define OFF(s, m)	{ #s "." #m, offsetof(struct s, m) }
#define SIZE(s)		{ "sizeof " #s, sizeof(struct s) }

const struct cxx_layout_entry cxx_layout_c[] = {
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

const unsigned int cxx_layout_c_n = sizeof(cxx_layout_c) /
				    sizeof(cxx_layout_c[0]);
