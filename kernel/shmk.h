/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmk internals shared by the files of the module.
 */
#ifndef SHMK_INTERNAL_H
#define SHMK_INTERNAL_H

#include <linux/fs.h>
#include <linux/list.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/shmk.h>

struct shmk_ns;
struct shmk_wait_task;

/**
 * struct shmk_region_watches - the armed watches on a region's words
 * @lock:	protects @root and @nr
 * @root:	struct shmk_watch_state by offset (equal offsets in arming order)
 * @nr:		armed watches; WAKE reads it without @lock to skip the tree
 *
 * Kept per region, out of the global wait hash, so that watches (which
 * cost an fd, not a task) lengthen no one else's bucket walks.
 */
struct shmk_region_watches {
	spinlock_t lock;		/* protects root, nr */
	struct rb_root root;
	unsigned int nr;
};

/**
 * struct shmk_region - one shared memory region
 * @hnode:	link in the name hash while @named
 * @ns:		the IPC namespace it was created in; NULL until inserted
 * @shmem:	the backing shmem file; the region is freed by its release
 * @id:		unique in its namespace
 * @bytes:	size, a multiple of SHMK_PAGE_SIZE
 * @uid:	owner
 * @gid:	group
 * @mode:	permission bits
 * @named:	reachable by name (written under shmk_lock)
 * @persist:	the name holds a reference on @shmem (written under
 *		shmk_lock)
 * @handles:	open region files
 * @watches:	armed watches (notify.c)
 * @name:	the name, NUL-terminated
 *
 * Lifetime: every region file and every mapping holds a reference on
 * @shmem, and so does the name of a persistent region.  When the last
 * goes, the shmem file's release (shmk_shmem_release) frees the region.
 */
struct shmk_region {
	struct hlist_node hnode;
	struct shmk_ns *ns;
	struct file *shmem;
	u64 id;
	u64 bytes;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	bool named;
	bool persist;
	atomic_t handles;
	struct shmk_region_watches watches;
	char name[SHMK_NAME_MAX];
};

/**
 * struct shmk_waiter - one word waited on, queued in a notify hash bucket
 * @node:	link in the bucket; empty once woken
 * @region:	the region of the word
 * @offset:	the word's offset
 * @bitset:	wakes that match
 * @task:	the sleeping task's state
 * @index:	this word's index in a vectored wait
 */
struct shmk_waiter {
	struct list_head node;
	struct shmk_region *region;
	u64 offset;
	u32 bitset;
	struct shmk_wait_task *task;
	u32 index;
};

/**
 * struct shmk_watch_state - what poll() on a region file watches
 * @node:	in the region's watches while @armed
 * @offset:	the word watched
 * @bitset:	wakes that match
 * @armed:	a watch is set (protected by the handle's lock)
 * @pending:	a wake arrived and was not acknowledged yet
 * @wq:		poll waiters
 */
struct shmk_watch_state {
	struct rb_node node;
	u64 offset;
	u32 bitset;
	bool armed;
	int pending;
	wait_queue_head_t wq;
};

/**
 * struct shmk_release_action - what SHMK_IOC_ON_RELEASE asked for
 * @armed:	there is an action
 * @slot_offset: word set to @slot_value on release ...
 * @slot_value:	the value
 * @expected:	... if (word & @mask) == @expected
 * @mask:	the bits compared; 0 for an unconditional action, which
 *		therefore always matches
 * @counter_offset: word incremented, then woken, on release
 * @slot_page:	the page of @slot_offset, held from registration on
 * @counter_page: the page of @counter_offset, likewise
 */
struct shmk_release_action {
	bool armed;
	u64 slot_offset;
	u32 slot_value;
	u32 expected;
	u32 mask;
	u64 counter_offset;
	struct page *slot_page;
	struct page *counter_page;
};

/**
 * struct shmk_handle - private data of an open region file
 * @region:	the region
 * @lock:	protects @tasks, the watch's setup and @on_release
 * @tasks:	tasks waiting through this file (struct shmk_wait_task)
 * @watch:	poll() state
 * @on_release:	the death notice to write when the file is released
 */
struct shmk_handle {
	struct shmk_region *region;
	spinlock_t lock;		/* protects tasks, watch setup, on_release */
	struct list_head tasks;
	struct shmk_watch_state watch;
	struct shmk_release_action on_release;
};

/* The largest byte count a limit may name: a multiple of SHMK_PAGE_SIZE. */
#define SHMK_MAX_BYTES	(MAX_LFS_FILESIZE & ~(SHMK_PAGE_SIZE - 1))

/* main.c */
int shmk_copy_arg(void *karg, size_t ksize, size_t minsize,
		  const void __user *uarg);
bool shmk_ioc_size_ok(unsigned int cmd);
int shmk_user_ptr(u64 v, void __user **p);
extern unsigned long shmk_max_region_bytes;
extern unsigned long shmk_max_total_bytes;
extern unsigned int shmk_max_regions;
extern unsigned long shmk_max_user_bytes;
extern unsigned int shmk_max_user_regions;

/* region.c */
int __init shmk_region_init(void);
void shmk_region_exit(void);
long shmk_ioctl_create(const void __user *uarg);
long shmk_ioctl_open(const void __user *uarg);
long shmk_ioctl_unlink(const void __user *uarg);
long shmk_ioctl_list(void __user *uarg);
long shmk_ioctl_get_limits(void __user *uarg);
long shmk_ioctl_set_limits(const void __user *uarg);

/* notify.c */
int __init shmk_notify_init(void);
void shmk_notify_exit(void);
void shmk_region_notify_init(struct shmk_region *r);
void shmk_handle_notify_init(struct shmk_handle *h);
void shmk_handle_notify_release(struct shmk_handle *h);
void shmk_notify_flush(struct file *file, fl_owner_t owner);
__poll_t shmk_notify_poll(struct file *file, struct shmk_handle *h,
			  poll_table *pt);
long shmk_notify_ioctl(struct file *file, struct shmk_handle *h,
		       unsigned int cmd, void __user *uarg);

/* The ioctl number without its size bits: the size field is authoritative. */
#define SHMK_IOC_BASE(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

#endif /* SHMK_INTERNAL_H */
