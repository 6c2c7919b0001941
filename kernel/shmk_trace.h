/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmk tracepoints: /sys/kernel/tracing/events/shmk/.
 *
 * Each event names its region by id (unique in its IPC namespace, as
 * SHMK_IOC_LIST reports it) and is recorded where the module has already
 * decided, never after a file descriptor was installed: what a trace
 * shows is what happened.  Documentation/kernel.rst ("Tracepoints") lists
 * them with perf and bpftrace commands; selftests/shmk/trace_test.c
 * checks that each fires.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM shmk

#if !defined(_SHMK_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SHMK_TRACE_H

#include <linux/tracepoint.h>

#include "shmk.h"

TRACE_EVENT(shmk_region_create,
	    TP_PROTO(const struct shmk_region *r, bool persist, bool rdonly),
	    TP_ARGS(r, persist, rdonly),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, bytes)
			     __field(u32, uid)
			     __field(u16, mode)
			     __field(bool, persist)
			     __field(bool, rdonly)
			     __string(name, r->name)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->bytes = r->bytes;
			   __entry->uid = from_kuid(&init_user_ns, r->uid);
			   __entry->mode = r->mode;
			   __entry->persist = persist;
			   __entry->rdonly = rdonly;
			   __assign_str(name, r->name);),
	    TP_printk("id=%llu name=%s bytes=%llu uid=%u mode=%04o persist=%d rdonly=%d",
		      __entry->id, __get_str(name), __entry->bytes,
		      __entry->uid, __entry->mode, __entry->persist,
		      __entry->rdonly)
);

TRACE_EVENT(shmk_region_open,
	    TP_PROTO(const struct shmk_region *r, bool rdonly),
	    TP_ARGS(r, rdonly),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(bool, rdonly)
			     __string(name, r->name)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->rdonly = rdonly;
			   __assign_str(name, r->name);),
	    TP_printk("id=%llu name=%s rdonly=%d", __entry->id,
		      __get_str(name), __entry->rdonly)
);

TRACE_EVENT(shmk_region_release,
	    TP_PROTO(const struct shmk_region *r, int handles),
	    TP_ARGS(r, handles),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(int, handles)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->handles = handles;),
	    TP_printk("id=%llu handles=%d", __entry->id, __entry->handles)
);

TRACE_EVENT(shmk_region_free,
	    TP_PROTO(const struct shmk_region *r),
	    TP_ARGS(r),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, bytes)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->bytes = r->bytes;),
	    TP_printk("id=%llu bytes=%llu", __entry->id, __entry->bytes)
);

TRACE_EVENT(shmk_wait,
	    TP_PROTO(const struct shmk_region *r, u64 offset, u32 expected,
		     u32 nr, bool timeout),
	    TP_ARGS(r, offset, expected, nr, timeout),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, offset)
			     __field(u32, expected)
			     __field(u32, nr)
			     __field(bool, timeout)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->offset = offset;
			   __entry->expected = expected;
			   __entry->nr = nr;
			   __entry->timeout = timeout;),
	    TP_printk("id=%llu offset=%llu expected=%u words=%u timeout=%d",
		      __entry->id, __entry->offset, __entry->expected,
		      __entry->nr, __entry->timeout)
);

TRACE_EVENT(shmk_wait_done,
	    TP_PROTO(const struct shmk_region *r, int ret),
	    TP_ARGS(r, ret),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(int, ret)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->ret = ret;),
	    TP_printk("id=%llu ret=%d", __entry->id, __entry->ret)
);

TRACE_EVENT(shmk_wake,
	    TP_PROTO(const struct shmk_region *r, u64 offset, u32 count,
		     u32 bitset, u32 woken, u32 watches),
	    TP_ARGS(r, offset, count, bitset, woken, watches),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, offset)
			     __field(u32, count)
			     __field(u32, bitset)
			     __field(u32, woken)
			     __field(u32, watches)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->offset = offset;
			   __entry->count = count;
			   __entry->bitset = bitset;
			   __entry->woken = woken;
			   __entry->watches = watches;),
	    TP_printk("id=%llu offset=%llu count=%u bitset=%#x woken=%u watches=%u",
		      __entry->id, __entry->offset, __entry->count,
		      __entry->bitset, __entry->woken, __entry->watches)
);

TRACE_EVENT(shmk_watch,
	    TP_PROTO(const struct shmk_region *r, u64 offset, u32 bitset),
	    TP_ARGS(r, offset, bitset),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, offset)
			     __field(u32, bitset)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->offset = offset;
			   __entry->bitset = bitset;),
	    TP_printk("id=%llu offset=%llu bitset=%#x", __entry->id,
		      __entry->offset, __entry->bitset)
);

TRACE_EVENT(shmk_death_notice,
	    TP_PROTO(const struct shmk_region *r,
		     const struct shmk_release_action *act, int slot,
		     int counter),
	    TP_ARGS(r, act, slot, counter),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u64, slot_offset)
			     __field(u64, counter_offset)
			     __field(u32, value)
			     __field(int, slot)
			     __field(int, counter)),
	    TP_fast_assign(__entry->id = r->id;
			   __entry->slot_offset = act->slot_offset;
			   __entry->counter_offset = act->counter_offset;
			   __entry->value = act->slot_value;
			   __entry->slot = slot;
			   __entry->counter = counter;),
	    TP_printk("id=%llu slot=%llu value=%u written=%d counter=%llu ret=%d",
		      __entry->id, __entry->slot_offset, __entry->value,
		      __entry->slot, __entry->counter_offset, __entry->counter)
);

#endif /* _SHMK_TRACE_H */

/* Out of the kernel tree: define_trace.h finds this file through -I. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE shmk_trace
#include <trace/define_trace.h>
