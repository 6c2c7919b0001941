// SPDX-License-Identifier: GPL-2.0
/*
 * shmk notifications: futex-like wait and wake on 32-bit words of a
 * region, a vectored wait, and poll() on a watched word.
 *
 * Waiters are queued in a hash of buckets keyed by (region, offset); a
 * bucket's spinlock is the only lock WAIT and WAKE take, and neither
 * allocates.  No wakeup is lost for the reason futex loses none: the
 * waiter queues itself and reads the word under the bucket lock, and a
 * waker, which changed the word before calling WAKE, takes the same
 * lock before looking for waiters.  Either the waker's lock comes after
 * the waiter's unlock, and it finds the waiter queued, or it comes
 * before the waiter's lock, and the lock's ordering makes the new value
 * visible to the waiter's read, which then returns -EAGAIN.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fdtable.h>
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "shmk.h"

/**
 * struct shmk_wait_task - a task sleeping in WAIT or WAITV
 * @node:	link in the handle's task list
 * @task:	the task
 * @owner:	its files table, to recognise a close() of its fd
 * @woken:	index of the word whose wake ended the wait, or -1
 * @closed:	the fd waited through was closed
 */
struct shmk_wait_task {
	struct list_head node;
	struct task_struct *task;
	fl_owner_t owner;
	atomic_t woken;
	bool closed;
};

struct shmk_bucket {
	spinlock_t lock;		/* protects waiters */
	struct list_head waiters;
} ____cacheline_aligned_in_smp;

static struct shmk_bucket *shmk_buckets;
static unsigned int shmk_bucket_bits;

static struct shmk_bucket *shmk_bucket_of(const struct shmk_region *r,
					  u64 offset)
{
	return &shmk_buckets[hash_64((unsigned long)r + (offset >> 2),
				     shmk_bucket_bits)];
}

static int shmk_check_offset(const struct shmk_region *r, u64 offset)
{
	if ((offset & 3) || offset > r->bytes - sizeof(u32))
		return -EINVAL;
	return 0;
}

/* The page holding a word, with a reference; read it with shmk_word(). */
static struct page *shmk_word_page(const struct shmk_region *r, u64 offset)
{
	struct address_space *mapping = r->shmem->f_mapping;

	return shmem_read_mapping_page_gfp(mapping, offset >> PAGE_SHIFT,
					   mapping_gfp_mask(mapping));
}

static u32 shmk_word(struct page *page, u64 offset)
{
	void *kaddr = kmap_local_page(page);
	u32 val = READ_ONCE(*(u32 *)(kaddr + offset_in_page(offset)));

	kunmap_local(kaddr);
	return val;
}

/* Wake up to @count waiters on (@r, @offset) whose bitset meets @bitset. */
static int shmk_wake(struct shmk_region *r, u64 offset, u32 count, u32 bitset)
{
	struct shmk_bucket *b = shmk_bucket_of(r, offset);
	struct shmk_waiter *w, *tmp;
	struct shmk_watch_state *watch;
	u32 woke = 0;

	spin_lock(&b->lock);
	list_for_each_entry_safe(w, tmp, &b->waiters, node) {
		if (woke >= count)
			break;
		if (w->region != r || w->offset != offset ||
		    !(w->bitset & bitset))
			continue;
		if (!w->task) {
			watch = container_of(w, struct shmk_watch_state, waiter);
			/* Paired with the poll side by the waitqueue lock. */
			WRITE_ONCE(watch->pending, 1);
			wake_up_interruptible_poll(&watch->wq,
						   EPOLLIN | EPOLLRDNORM);
			woke++;
			continue;
		}
		/*
		 * A vectored waiter already woken through another word is
		 * left for the next one.  The cmpxchg is a full barrier: the
		 * waiter that sees @woken set also sees it dequeued.
		 */
		if (atomic_cmpxchg(&w->task->woken, -1, w->index) != -1)
			continue;
		list_del_init(&w->node);
		/*
		 * The task cannot go away: it leaves only after taking this
		 * lock to dequeue its words.
		 */
		wake_up_process(w->task->task);
		woke++;
	}
	spin_unlock(&b->lock);
	return min_t(u32, woke, INT_MAX);
}

/*
 * Queue @w and compare its word with @expected under the bucket lock.
 * Returns 0 when queued, -EAGAIN when the word differs, or an errno
 * from reading the page.
 */
static int shmk_queue(struct shmk_waiter *w, u32 expected)
{
	struct shmk_bucket *b = shmk_bucket_of(w->region, w->offset);
	struct page *page;
	int ret = 0;

	page = shmk_word_page(w->region, w->offset);
	if (IS_ERR(page))
		return PTR_ERR(page);
	spin_lock(&b->lock);
	if (shmk_word(page, w->offset) == expected)
		list_add_tail(&w->node, &b->waiters);
	else
		ret = -EAGAIN;
	spin_unlock(&b->lock);
	put_page(page);
	return ret;
}

static void shmk_unqueue(struct shmk_waiter *w)
{
	struct shmk_bucket *b = shmk_bucket_of(w->region, w->offset);

	spin_lock(&b->lock);
	if (!list_empty(&w->node))
		list_del_init(&w->node);
	spin_unlock(&b->lock);
}

/*
 * Wait until one of @ws (already validated) is woken.  Returns the index
 * of the woken word, -EAGAIN, -ETIMEDOUT, -EBADF, -EINTR or
 * -ERESTARTSYS.
 */
static int shmk_wait_words(struct shmk_handle *h, struct shmk_waiter *ws,
			   const u32 *expected, u32 nr, u32 flags,
			   u64 timeout_ns)
{
	struct shmk_wait_task wt = {
		.task = current,
		.owner = current->files,
		.woken = ATOMIC_INIT(-1),
	};
	ktime_t expires = KTIME_MAX;
	bool timeout = flags & SHMK_WAIT_TIMEOUT;
	u32 queued, i;
	int ret = 0, woken;

	if (timeout) {
		expires = ns_to_ktime(min_t(u64, timeout_ns, KTIME_MAX));
		if (!(flags & SHMK_WAIT_ABSTIME))
			expires = ktime_add_safe(ktime_get(), expires);
	}

	spin_lock(&h->lock);
	list_add(&wt.node, &h->tasks);
	spin_unlock(&h->lock);

	for (queued = 0; queued < nr; queued++) {
		ws[queued].task = &wt;
		ws[queued].index = queued;
		INIT_LIST_HEAD(&ws[queued].node);
		ret = shmk_queue(&ws[queued], expected[queued]);
		if (ret)
			break;
	}

	while (!ret) {
		set_current_state(TASK_INTERRUPTIBLE);
		/* Pairs with the cmpxchg in shmk_wake() (and its wakeup). */
		if (atomic_read(&wt.woken) >= 0)
			break;
		if (READ_ONCE(wt.closed))
			ret = -EBADF;
		else if (signal_pending(current))
			ret = (timeout && !(flags & SHMK_WAIT_ABSTIME)) ?
			      -EINTR : -ERESTARTSYS;
		else if (timeout && ktime_compare(ktime_get(), expires) >= 0)
			ret = -ETIMEDOUT;
		else if (timeout)
			schedule_hrtimeout_range_clock(&expires,
						       current->timer_slack_ns,
						       HRTIMER_MODE_ABS,
						       CLOCK_MONOTONIC);
		else
			schedule();
	}
	__set_current_state(TASK_RUNNING);

	for (i = 0; i < queued; i++)
		shmk_unqueue(&ws[i]);

	spin_lock(&h->lock);
	list_del(&wt.node);
	spin_unlock(&h->lock);

	/* After unqueueing, no waker can set it any more. */
	woken = atomic_read(&wt.woken);
	return woken >= 0 ? woken : ret;
}

/* Known flags only, and an absolute time only with a timeout. */
static bool shmk_wait_flags_valid(u32 flags)
{
	if (flags & ~(SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME))
		return false;
	return !(flags & SHMK_WAIT_ABSTIME) || (flags & SHMK_WAIT_TIMEOUT);
}

static long shmk_ioctl_wait(struct shmk_handle *h, const void __user *uarg)
{
	struct shmk_waiter w = { .region = h->region };
	struct shmk_wait arg;
	int ret;

	ret = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (ret)
		return ret;
	if (!shmk_wait_flags_valid(arg.flags))
		return -EINVAL;
	if (!arg.bitset || shmk_check_offset(h->region, arg.offset))
		return -EINVAL;
	w.offset = arg.offset;
	w.bitset = arg.bitset;
	ret = shmk_wait_words(h, &w, &arg.expected, 1, arg.flags,
			      arg.timeout_ns);
	return ret > 0 ? 0 : ret;
}

static long shmk_ioctl_waitv(struct shmk_handle *h, const void __user *uarg)
{
	struct shmk_waitv_entry *entries;
	struct shmk_waiter *ws;
	struct shmk_waitv arg;
	u32 *expected;
	long ret;
	u32 i;

	ret = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (ret)
		return ret;
	if (!shmk_wait_flags_valid(arg.flags))
		return -EINVAL;
	if (arg.reserved || !arg.nr || arg.nr > SHMK_WAITV_MAX)
		return -EINVAL;

	entries = memdup_user(u64_to_user_ptr(arg.entries),
			      arg.nr * sizeof(*entries));
	if (IS_ERR(entries))
		return PTR_ERR(entries);
	ws = kcalloc(arg.nr, sizeof(*ws) + sizeof(*expected), GFP_KERNEL);
	if (!ws) {
		ret = -ENOMEM;
		goto out;
	}
	expected = (u32 *)(ws + arg.nr);
	for (i = 0; i < arg.nr; i++) {
		if (!entries[i].bitset ||
		    shmk_check_offset(h->region, entries[i].offset)) {
			ret = -EINVAL;
			goto out;
		}
		ws[i].region = h->region;
		ws[i].offset = entries[i].offset;
		ws[i].bitset = entries[i].bitset;
		expected[i] = entries[i].expected;
	}
	ret = shmk_wait_words(h, ws, expected, arg.nr, arg.flags,
			      arg.timeout_ns);
out:
	kfree(ws);
	kfree(entries);
	return ret;
}

static long shmk_ioctl_wake(struct shmk_handle *h, const void __user *uarg)
{
	struct shmk_wake arg;
	int ret;

	ret = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (ret)
		return ret;
	if (arg.flags || !arg.bitset || shmk_check_offset(h->region, arg.offset))
		return -EINVAL;
	return shmk_wake(h->region, arg.offset, arg.count, arg.bitset);
}

static void shmk_watch_disarm(struct shmk_handle *h)
{
	lockdep_assert_held(&h->lock);
	if (h->watch.armed) {
		shmk_unqueue(&h->watch.waiter);
		h->watch.armed = false;
	}
}

static long shmk_ioctl_watch(struct shmk_handle *h, const void __user *uarg)
{
	struct shmk_waiter *w = &h->watch.waiter;
	struct shmk_bucket *b;
	struct shmk_watch arg;
	int ret;

	ret = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (ret)
		return ret;
	if (arg.flags || arg.reserved || !arg.bitset ||
	    shmk_check_offset(h->region, arg.offset))
		return -EINVAL;

	spin_lock(&h->lock);
	shmk_watch_disarm(h);
	w->offset = arg.offset;
	w->bitset = arg.bitset;
	WRITE_ONCE(h->watch.pending, 0);
	b = shmk_bucket_of(w->region, w->offset);
	spin_lock(&b->lock);
	list_add_tail(&w->node, &b->waiters);
	spin_unlock(&b->lock);
	h->watch.armed = true;
	spin_unlock(&h->lock);
	return 0;
}

static long shmk_ioctl_on_release(struct file *file, struct shmk_handle *h,
				  const void __user *uarg)
{
	struct shmk_release_action act = { .armed = true };
	struct shmk_on_release arg;
	int ret;

	ret = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (ret)
		return ret;
	if ((arg.flags & ~SHMK_ON_RELEASE_CLEAR) || arg.reserved)
		return -EINVAL;
	if (arg.flags & SHMK_ON_RELEASE_CLEAR) {
		act.armed = false;
	} else {
		if (shmk_check_offset(h->region, arg.slot_offset) ||
		    shmk_check_offset(h->region, arg.counter_offset))
			return -EINVAL;
		/* The module writes for the caller: only a writer may ask. */
		if (!(file->f_mode & FMODE_WRITE))
			return -EACCES;
		act.slot_offset = arg.slot_offset;
		act.slot_value = arg.slot_value;
		act.counter_offset = arg.counter_offset;
	}
	spin_lock(&h->lock);
	h->on_release = act;
	spin_unlock(&h->lock);
	return 0;
}

/*
 * The region file is being released: carry out its death notice, if any.
 * The slot is written before the counter moves (the cmpxchg is a full
 * barrier), so whoever sees the new count also sees the slot.
 */
static void shmk_run_release_action(struct shmk_handle *h)
{
	struct shmk_release_action *act = &h->on_release;
	struct page *page;
	u32 *word, old;

	if (!act->armed)
		return;
	page = shmk_word_page(h->region, act->slot_offset);
	if (!IS_ERR(page)) {
		word = kmap_local_page(page) + offset_in_page(act->slot_offset);
		WRITE_ONCE(*word, act->slot_value);
		kunmap_local(word);
		set_page_dirty(page);
		put_page(page);
	}
	page = shmk_word_page(h->region, act->counter_offset);
	if (!IS_ERR(page)) {
		word = kmap_local_page(page) +
		       offset_in_page(act->counter_offset);
		old = READ_ONCE(*word);
		while (!try_cmpxchg(word, &old, old + 1))
			;
		kunmap_local(word);
		set_page_dirty(page);
		put_page(page);
	}
	shmk_wake(h->region, act->counter_offset, INT_MAX, SHMK_BITSET_ANY);
}

long shmk_notify_ioctl(struct file *file, struct shmk_handle *h,
		       unsigned int cmd, void __user *uarg)
{
	switch (SHMK_IOC_BASE(cmd)) {
	case SHMK_IOC_BASE(SHMK_IOC_WAIT):
		return shmk_ioctl_wait(h, uarg);
	case SHMK_IOC_BASE(SHMK_IOC_WAKE):
		return shmk_ioctl_wake(h, uarg);
	case SHMK_IOC_BASE(SHMK_IOC_WAITV):
		return shmk_ioctl_waitv(h, uarg);
	case SHMK_IOC_BASE(SHMK_IOC_WATCH):
		return shmk_ioctl_watch(h, uarg);
	case SHMK_IOC_ACK:
		/* Returns whether a wake was pending. */
		return xchg(&h->watch.pending, 0);
	case SHMK_IOC_BASE(SHMK_IOC_ON_RELEASE):
		return shmk_ioctl_on_release(file, h, uarg);
	default:
		return -ENOTTY;
	}
}

__poll_t shmk_notify_poll(struct file *file, struct shmk_handle *h,
			  poll_table *pt)
{
	poll_wait(file, &h->watch.wq, pt);
	/* Set before the wakeup, whose waitqueue lock orders it for us. */
	return READ_ONCE(h->watch.pending) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int shmk_same_file(const void *file, struct file *f, unsigned int fd)
{
	return f == file;
}

/*
 * A descriptor of @file is being closed by the files table @owner.  If
 * the table keeps no other descriptor of it, the waits that the table's
 * tasks started through it end with -EBADF.  (A wait that starts while
 * the close runs is not seen, as with any blocking call on a descriptor
 * another thread closes.)
 */
void shmk_notify_flush(struct file *file, fl_owner_t owner)
{
	struct shmk_handle *h = file->private_data;
	struct shmk_wait_task *wt;

	/* Most closes find nobody waiting: skip the descriptor scan. */
	if (list_empty_careful(&h->tasks))
		return;
	if (iterate_fd(owner, 0, shmk_same_file, file))
		return;
	spin_lock(&h->lock);
	list_for_each_entry(wt, &h->tasks, node) {
		if (wt->owner != owner)
			continue;
		WRITE_ONCE(wt->closed, true);
		/* The task leaves only after removing itself under h->lock. */
		wake_up_process(wt->task);
	}
	spin_unlock(&h->lock);
}

void shmk_handle_notify_init(struct shmk_handle *h)
{
	spin_lock_init(&h->lock);
	INIT_LIST_HEAD(&h->tasks);
	INIT_LIST_HEAD(&h->watch.waiter.node);
	h->watch.waiter.region = h->region;
	init_waitqueue_head(&h->watch.wq);
}

void shmk_handle_notify_release(struct shmk_handle *h)
{
	spin_lock(&h->lock);
	shmk_watch_disarm(h);
	spin_unlock(&h->lock);
	/* The last reference is gone: nobody can change the action now. */
	shmk_run_release_action(h);
}

int __init shmk_notify_init(void)
{
	unsigned long n = roundup_pow_of_two(256 * num_possible_cpus());
	unsigned long i;

	shmk_bucket_bits = ilog2(n);
	shmk_buckets = kvmalloc_array(n, sizeof(*shmk_buckets), GFP_KERNEL);
	if (!shmk_buckets)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		spin_lock_init(&shmk_buckets[i].lock);
		INIT_LIST_HEAD(&shmk_buckets[i].waiters);
	}
	return 0;
}

void shmk_notify_exit(void)
{
	kvfree(shmk_buckets);
}
