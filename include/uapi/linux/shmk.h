/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * shmk: named hugepage-backed shared memory regions and wait/wake
 * notifications on words inside them.
 *
 * This header is the whole contract between shmk.ko and user space.
 * Documentation/abi.rst describes every command, field and error.
 *
 * Conventions, shared by every command:
 *  - Each argument struct starts with __u32 size (the caller's
 *    sizeof of the struct) and __u32 flags.  A size below the first
 *    published size is -EINVAL; a larger size is accepted when the
 *    bytes the kernel does not know are zero (-E2BIG otherwise), so
 *    that the structs can grow, as with openat2() and clone3().
 *  - The size bits of the ioctl number must be 0 or at least the first
 *    published size of the command's struct (-ENOTTY otherwise, so that
 *    another driver's ioctl is never taken for ours); beyond that, the
 *    size field is the authority.
 *  - Unknown flags, and reserved fields that are not zero, are -EINVAL.
 */
#ifndef _UAPI_LINUX_SHMK_H
#define _UAPI_LINUX_SHMK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SHMK_DEVICE_PATH	"/dev/shmk"

/* Regions are made of, and mapped in, 2 MiB pages. */
#define SHMK_PAGE_SHIFT		21
#define SHMK_PAGE_SIZE		(1ULL << SHMK_PAGE_SHIFT)

/*
 * A region name is 1 to SHMK_NAME_MAX - 1 printable ASCII characters
 * other than '/' and space (0x21..0x7e except 0x2f), NUL-terminated
 * inside the SHMK_NAME_MAX bytes of the name field.  A name without
 * NUL in the field is -ENAMETOOLONG; an empty name or one with another
 * character is -EINVAL.
 */
#define SHMK_NAME_MAX		64

/* struct shmk_create.flags */
#define SHMK_CREATE_PERSIST	(1U << 0)	/* live on until unlinked */
#define SHMK_CREATE_RDONLY	(1U << 1)	/* the fd maps read-only */

/* struct shmk_open.flags */
#define SHMK_OPEN_RDONLY	(1U << 0)	/* ask only for read access */

/* struct shmk_region_info.flags */
#define SHMK_INFO_PERSIST	(1U << 0)	/* created with SHMK_CREATE_PERSIST */
#define SHMK_INFO_UNLINKED	(1U << 1)	/* name removed, users remain */
/* LIST: the caller may not open it; resident, huge bytes, handles are 0 */
#define SHMK_INFO_RESTRICTED	(1U << 2)

/**
 * struct shmk_create - SHMK_IOC_CREATE: create a region, return its fd
 * @size:	sizeof(struct shmk_create)
 * @flags:	SHMK_CREATE_*
 * @bytes:	wanted size in bytes, rounded up to SHMK_PAGE_SIZE; not 0
 * @mode:	permission bits (0777 mask) checked on SHMK_IOC_OPEN, as
 *		for a file; the owner and group are the caller's fsuid
 *		and fsgid.  The umask is not applied.
 * @reserved:	zero
 * @name:	see SHMK_NAME_MAX
 *
 * Fails with -EEXIST when the name is taken in the caller's IPC
 * namespace.  The returned fd is O_CLOEXEC and read-write unless
 * SHMK_CREATE_RDONLY.
 */
struct shmk_create {
	__u32 size;
	__u32 flags;
	__u64 bytes;
	__u32 mode;
	__u32 reserved;
	char name[SHMK_NAME_MAX];
};

/**
 * struct shmk_open - SHMK_IOC_OPEN: open a region by name, return its fd
 * @size:	sizeof(struct shmk_open)
 * @flags:	SHMK_OPEN_*
 * @name:	see SHMK_NAME_MAX
 *
 * Needs read and write permission (read alone with SHMK_OPEN_RDONLY),
 * else -EACCES.  -ENOENT when no region has the name in the caller's
 * IPC namespace.
 */
struct shmk_open {
	__u32 size;
	__u32 flags;
	char name[SHMK_NAME_MAX];
};

/**
 * struct shmk_unlink - SHMK_IOC_UNLINK: remove a region's name
 * @size:	sizeof(struct shmk_unlink)
 * @flags:	zero
 * @name:	see SHMK_NAME_MAX
 *
 * The region lives on while fds or mappings remain, but can no longer
 * be opened.  Allowed to the owner and to CAP_IPC_OWNER, else -EPERM.
 */
struct shmk_unlink {
	__u32 size;
	__u32 flags;
	char name[SHMK_NAME_MAX];
};

/**
 * struct shmk_region_info - what SHMK_IOC_LIST and SHMK_IOC_INFO report
 * @size:	sizeof(struct shmk_region_info), set by the caller
 * @flags:	SHMK_INFO_*, set by the kernel
 * @bytes:	region size in bytes
 * @resident_bytes: bytes of the region in memory
 * @huge_bytes:	bytes of the region in memory as 2 MiB pages
 * @id:		region id, unique in its IPC namespace (never reused
 *		while the namespace lives and the module is loaded)
 * @uid:	owner, in the caller's user namespace
 * @gid:	group, in the caller's user namespace
 * @mode:	permission bits
 * @handles:	open region fds (each open file, not each descriptor)
 * @name:	the name, NUL-terminated
 */
struct shmk_region_info {
	__u32 size;
	__u32 flags;
	__u64 bytes;
	__u64 resident_bytes;
	__u64 huge_bytes;
	__u64 id;
	__u32 uid;
	__u32 gid;
	__u32 mode;
	__u32 handles;
	char name[SHMK_NAME_MAX];
};

/* struct shmk_limits.flags (SHMK_IOC_SET_LIMITS) */
#define SHMK_LIMITS_DEFAULT	(1U << 0)	/* back to the module's limits */

/**
 * struct shmk_limits - SHMK_IOC_GET_LIMITS and SHMK_IOC_SET_LIMITS: the
 * limits of the caller's IPC namespace
 * @size:	sizeof(struct shmk_limits)
 * @flags:	GET: zero.  SET: 0, or SHMK_LIMITS_DEFAULT (the four limits
 *		must then be zero) to follow the module parameters again
 * @region_bytes: largest region, after rounding up (-E2BIG beyond)
 * @user_bytes:	bytes of regions one user (the owner's uid, in every
 *		namespace together) may own (-EDQUOT beyond)
 * @user_regions: regions one user may own, in every namespace together
 *		(-EDQUOT beyond)
 * @regions:	regions in this namespace (-ENOSPC beyond)
 * @used_bytes:	GET: bytes the caller's fsuid owns; SET: zero
 * @used_regions: GET: regions the caller's fsuid owns; SET: zero
 * @ns_regions:	GET: regions of this namespace that exist; SET: zero
 *
 * GET returns the limits in force: the namespace's own, never above the
 * module parameters.  SET needs CAP_SYS_RESOURCE in the user namespace
 * that owns the IPC namespace (-EPERM); a limit above the module
 * parameter is -EINVAL.  Lowering a limit removes nothing.
 */
struct shmk_limits {
	__u32 size;
	__u32 flags;
	__u64 region_bytes;
	__u64 user_bytes;
	__u32 user_regions;
	__u32 regions;
	__u64 used_bytes;
	__u32 used_regions;
	__u32 ns_regions;
};

/**
 * struct shmk_list - SHMK_IOC_LIST: describe the regions of the caller's
 * IPC namespace that still have a name
 * @size:	sizeof(struct shmk_list)
 * @flags:	zero
 * @count:	in: room in @entries; out: how many regions there are.
 *		Only min(in, out) entries are written.  A region the caller
 *		may not open is listed with SHMK_INFO_RESTRICTED.
 * @entry_size:	sizeof(struct shmk_region_info) as the caller knows it
 * @entries:	user pointer to @count entries of @entry_size bytes
 */
struct shmk_list {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 entry_size;
	__u64 entries;
};

/* Notifications (on a region fd) */

/* A bitset with every bit set matches every waiter. */
#define SHMK_BITSET_ANY		0xffffffffU

/* struct shmk_wait.flags and struct shmk_waitv.flags */
#define SHMK_WAIT_TIMEOUT	(1U << 0)	/* timeout_ns is used */
#define SHMK_WAIT_ABSTIME	(1U << 1)	/* ... as CLOCK_MONOTONIC time */

/* The most words one SHMK_IOC_WAITV waits on. */
#define SHMK_WAITV_MAX		64

/**
 * struct shmk_wait - SHMK_IOC_WAIT: sleep while a word equals @expected
 * @size:	sizeof(struct shmk_wait)
 * @flags:	SHMK_WAIT_*
 * @offset:	offset of a 32-bit word in the region, 4-byte aligned
 * @expected:	sleep only while the word holds this value, else -EAGAIN
 * @bitset:	non-zero; woken only by a wake whose bitset intersects
 * @timeout_ns:	with SHMK_WAIT_TIMEOUT: nanoseconds, relative, or an
 *		absolute CLOCK_MONOTONIC time with SHMK_WAIT_ABSTIME
 *
 * Returns 0 when woken, -EAGAIN when the word differs, -ETIMEDOUT,
 * -EINTR on a signal whose handler runs (restarted by SA_RESTART
 * handlers unless the timeout is relative), -EBADF when, during a wait
 * already in progress, the caller's process closes its last descriptor
 * of this region fd.  A signal that runs no handler (a stop and
 * continue, ptrace, the freezer) restarts the wait.  When a signal
 * interrupts a relative wait, @timeout_ns is first overwritten with the
 * time that remained, as select() does with its timeout, so a restart
 * sleeps only for the rest (-EINTR if the struct cannot be written):
 * set @timeout_ns afresh for each call.  The word's page is brought into
 * memory if it is not (charged to the caller), as a read fault would.
 */
struct shmk_wait {
	__u32 size;
	__u32 flags;
	__u64 offset;
	__u32 expected;
	__u32 bitset;
	__u64 timeout_ns;
};

/**
 * struct shmk_wake - SHMK_IOC_WAKE: wake waiters on a word
 * @size:	sizeof(struct shmk_wake)
 * @flags:	zero
 * @offset:	offset of a 32-bit word in the region, 4-byte aligned
 * @count:	wake at most this many waiting tasks (0 wakes none and
 *		signals no watch; INT_MAX-like values wake all)
 * @bitset:	non-zero; only waiters whose bitset intersects wake
 *
 * Returns how many waiting tasks woke, oldest first.  Unless @count is
 * 0, every watch (SHMK_IOC_WATCH) on the word whose bitset intersects is
 * signalled as well; watches are observers, counted neither against
 * @count nor in the result.  Any region fd may wake, a read-only one
 * too, as futex needs no write access.
 */
struct shmk_wake {
	__u32 size;
	__u32 flags;
	__u64 offset;
	__u32 count;
	__u32 bitset;
};

/**
 * struct shmk_waitv_entry - one word of a vectored wait
 * @offset:	as in struct shmk_wait
 * @expected:	as in struct shmk_wait
 * @bitset:	as in struct shmk_wait
 */
struct shmk_waitv_entry {
	__u64 offset;
	__u32 expected;
	__u32 bitset;
};

/**
 * struct shmk_waitv - SHMK_IOC_WAITV: sleep until any of several words
 * is woken
 * @size:	sizeof(struct shmk_waitv)
 * @flags:	SHMK_WAIT_*
 * @entries:	user pointer to @nr struct shmk_waitv_entry
 * @nr:		1 to SHMK_WAITV_MAX
 * @reserved:	zero
 * @timeout_ns:	as in struct shmk_wait
 *
 * Returns the index of an entry that was woken; -EAGAIN (nothing
 * slept) when some word did not hold its expected value; otherwise
 * as SHMK_IOC_WAIT.
 */
struct shmk_waitv {
	__u32 size;
	__u32 flags;
	__u64 entries;
	__u32 nr;
	__u32 reserved;
	__u64 timeout_ns;
};

/**
 * struct shmk_watch - SHMK_IOC_WATCH: make poll() on this region fd
 * report wakes of a word
 * @size:	sizeof(struct shmk_watch)
 * @flags:	zero
 * @offset:	as in struct shmk_wait
 * @bitset:	as in struct shmk_wait
 * @reserved:	zero
 *
 * After a wake on the word (whose bitset intersects), poll() reports
 * EPOLLIN until SHMK_IOC_ACK (which takes no argument, and ignores one).
 * Watches are observers: every wake of the word signals every matching
 * watch, and none counts toward the wake's count or result, so a watch
 * never takes a wake from a waiting task.  One watch per open file; a
 * new watch replaces the old.
 */
struct shmk_watch {
	__u32 size;
	__u32 flags;
	__u64 offset;
	__u32 bitset;
	__u32 reserved;
};

/* struct shmk_on_release.flags */
#define SHMK_ON_RELEASE_CLEAR	(1U << 0)	/* remove this file's action */
#define SHMK_ON_RELEASE_CMPXCHG	(1U << 1)	/* write the slot only if it matches */

/* The first published struct shmk_on_release, without @mask, @reserved. */
#define SHMK_ON_RELEASE_SIZE_VER0	32
/* With @mask and @reserved: SHMK_ON_RELEASE_CMPXCHG needs at least this. */
#define SHMK_ON_RELEASE_SIZE_VER1	40

/**
 * struct shmk_on_release - SHMK_IOC_ON_RELEASE: what the module writes
 * into the region when this region file is released
 * @size:	sizeof(struct shmk_on_release); SHMK_ON_RELEASE_SIZE_VER0
 *		still works without the new fields
 * @flags:	0, SHMK_ON_RELEASE_CMPXCHG, or SHMK_ON_RELEASE_CLEAR (then
 *		every other field must be 0, else -EINVAL)
 * @slot_offset: a 32-bit word set to @slot_value
 * @slot_value:	the value
 * @expected:	with SHMK_ON_RELEASE_CMPXCHG, the slot is set only if
 *		(word & @mask) == @expected, in one atomic compare-and-
 *		exchange; no bit outside @mask.  Without the flag: zero.
 *		(The @reserved field of SHMK_ON_RELEASE_SIZE_VER0.)
 * @counter_offset: a 32-bit word then incremented (wrapping), after
 *		which every waiter and watch on it is woken, whether or not
 *		the slot was written
 * @mask:	with SHMK_ON_RELEASE_CMPXCHG, the bits of the slot
 *		compared, not 0.  Without the flag: zero.
 * @reserved:	zero
 *
 * A region file is released when its last descriptor goes: close(),
 * exit, or SIGKILL, which user space cannot observe reliably itself.
 * Give each participant its own region file (SHMK_IOC_OPEN makes a new
 * one; dup() and fork() share one), register its slot here, and the
 * survivors learn of its death by waiting on the counter.  A file can
 * outlive the participant's tenure of its slot (a forked child, an fd
 * passed on): SHMK_ON_RELEASE_CMPXCHG with the slot's generation in
 * @expected keeps a late release off a newer occupant's slot.  Offsets
 * are 4-byte aligned words inside the region, else -EINVAL.  One action
 * per region file; a new call replaces the previous one atomically.
 * The pages of both words are brought in (charged to the caller) and
 * held until the action is cleared, replaced or carried out, so the
 * release needs no memory: a shortage is -ENOMEM (or -EIO) here, and the
 * previous action stays.
 */
struct shmk_on_release {
	__u32 size;
	__u32 flags;
	__u64 slot_offset;
	__u32 slot_value;
	__u32 expected;
	__u64 counter_offset;
	__u32 mask;
	__u32 reserved;
};

/*
 * 0xBD: no driver uses it (Documentation/userspace-api/ioctl/
 * ioctl-number.rst); shmk 0.x used 0xB5, which belongs to rpmsg.
 */
#define SHMK_IOC_MAGIC		0xBD

/* On /dev/shmk */
#define SHMK_IOC_CREATE		_IOW(SHMK_IOC_MAGIC, 0x01, struct shmk_create)
#define SHMK_IOC_OPEN		_IOW(SHMK_IOC_MAGIC, 0x02, struct shmk_open)
#define SHMK_IOC_UNLINK		_IOW(SHMK_IOC_MAGIC, 0x03, struct shmk_unlink)
#define SHMK_IOC_LIST		_IOWR(SHMK_IOC_MAGIC, 0x04, struct shmk_list)
#define SHMK_IOC_GET_LIMITS	_IOWR(SHMK_IOC_MAGIC, 0x05, struct shmk_limits)
#define SHMK_IOC_SET_LIMITS	_IOW(SHMK_IOC_MAGIC, 0x06, struct shmk_limits)

/* On a region fd */
#define SHMK_IOC_INFO		_IOWR(SHMK_IOC_MAGIC, 0x10, struct shmk_region_info)
#define SHMK_IOC_WAIT		_IOWR(SHMK_IOC_MAGIC, 0x20, struct shmk_wait)
#define SHMK_IOC_WAKE		_IOW(SHMK_IOC_MAGIC, 0x21, struct shmk_wake)
#define SHMK_IOC_WAITV		_IOWR(SHMK_IOC_MAGIC, 0x22, struct shmk_waitv)
#define SHMK_IOC_WATCH		_IOW(SHMK_IOC_MAGIC, 0x23, struct shmk_watch)
#define SHMK_IOC_ACK		_IO(SHMK_IOC_MAGIC, 0x24)
#define SHMK_IOC_ON_RELEASE	_IOW(SHMK_IOC_MAGIC, 0x30, struct shmk_on_release)

#endif /* _UAPI_LINUX_SHMK_H */
