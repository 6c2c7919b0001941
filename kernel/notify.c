// SPDX-License-Identifier: GPL-2.0
/*
 * shmk notifications: futex-like wait and wake on 32-bit words of a
 * region, a vectored wait, and poll() on a watched word.
 *
 * Waiting tasks are queued in a hash of buckets keyed by (region,
 * offset); a bucket's spinlock is the only lock WAIT and WAKE take for
 * them, and neither allocates.  No wakeup is lost for the reason futex
 * loses none: the waiter queues itself and reads the word under the
 * bucket lock, and a waker, which changed the word before calling WAKE,
 * takes the same lock before looking for waiters.  Either the waker's
 * lock comes after the waiter's unlock, and it finds the waiter queued,
 * or it comes before the waiter's lock, and the lock's ordering makes
 * the new value visible to the waiter's read, which then returns
 * -EAGAIN.  The read is of the page the page cache holds for the word at
 * that moment: it is checked again under the bucket lock, so a hole
 * punched meanwhile cannot leave the waiter reading a stale copy.
 *
 * Watches are not in that hash: they live in their region's tree
 * (struct shmk_region_watches), are observers that WAKE signals besides
 * the tasks it wakes, and never count toward WAKE's count.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fdtable.h>
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/pagemap.h>
#include <linux/rbtree.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "shmk.h"
#include "shmk_trace.h"

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

/*
 * The page holding a word, with a reference; read it with shmk_word().
 * A resident page is found without the folio lock and without
 * allocating; only a word not in memory (never touched, punched out or
 * swapped out) takes shmem's path, which may allocate or read swap.
 */
static struct page *shmk_word_page(const struct shmk_region *r, u64 offset)
{
	struct address_space *mapping = r->shmem->f_mapping;
	pgoff_t index = offset >> PAGE_SHIFT;
	struct folio *folio;
	struct page *page;

	folio = filemap_get_folio(mapping, index);
	if (folio) {
		page = folio_file_page(folio, index);
		if (folio_test_uptodate(folio) && !PageHWPoison(page))
			return page;
		folio_put(folio);
	}
	return shmem_read_mapping_page_gfp(mapping, index,
					   mapping_gfp_mask(mapping));
}

/* Whether @page is still the page cache's page for the word at @offset. */
static bool shmk_page_current(const struct shmk_region *r, struct page *page,
			      u64 offset)
{
	return xa_load(&r->shmem->f_mapping->i_pages, offset >> PAGE_SHIFT) ==
	       page_folio(page);
}

static u32 shmk_word(struct page *page, u64 offset)
{
	void *kaddr = kmap_local_page(page);
	u32 val = READ_ONCE(*(u32 *)(kaddr + offset_in_page(offset)));

	kunmap_local(kaddr);
	return val;
}

static int shmk_watch_cmp(const void *key, const struct rb_node *n)
{
	u64 offset = *(const u64 *)key;
	u64 other = rb_entry(n, struct shmk_watch_state, node)->offset;

	return offset < other ? -1 : offset > other;
}

static bool shmk_watch_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct shmk_watch_state, node)->offset <
	       rb_entry(b, struct shmk_watch_state, node)->offset;
}

/* Signal every armed watch on (@r, @offset) whose bitset meets @bitset. */
static u32 shmk_wake_watches(struct shmk_region *r, u64 offset, u32 bitset)
{
	struct shmk_region_watches *rw = &r->watches;
	struct shmk_watch_state *ws;
	struct rb_node *n;
	u32 signalled = 0;

	/*
	 * Pairs with the barrier after arming in shmk_ioctl_watch(): the
	 * caller changed the word before WAKE, the watcher reads it after
	 * WATCH, so either this sees the watch or the watcher sees the word.
	 */
	smp_mb();
	if (!READ_ONCE(rw->nr))
		return 0;
	spin_lock(&rw->lock);
	for (n = rb_find_first(&offset, &rw->root, shmk_watch_cmp); n;
	     n = rb_next(n)) {
		ws = rb_entry(n, struct shmk_watch_state, node);
		if (ws->offset != offset)
			break;
		if (!(ws->bitset & bitset))
			continue;
		/* Paired with the poll side by the waitqueue lock. */
		WRITE_ONCE(ws->pending, 1);
		wake_up_interruptible_poll(&ws->wq, EPOLLIN | EPOLLRDNORM);
		signalled++;
	}
	spin_unlock(&rw->lock);
	return signalled;
}

/*
 * Wake up to @count tasks waiting on (@r, @offset) whose bitset meets
 * @bitset, oldest first, and return how many woke.  Unless @count is 0,
 * every matching watch is signalled too; watches are not counted.
 */
static int shmk_wake(struct shmk_region *r, u64 offset, u32 count, u32 bitset)
{
	struct shmk_bucket *b = shmk_bucket_of(r, offset);
	struct shmk_waiter *w, *tmp;
	u32 woke = 0, watches;

	if (!count)
		return 0;
	spin_lock(&b->lock);
	list_for_each_entry_safe(w, tmp, &b->waiters, node) {
		if (w->region != r || w->offset != offset ||
		    !(w->bitset & bitset))
			continue;
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
		if (++woke >= count)
			break;
	}
	spin_unlock(&b->lock);
	watches = shmk_wake_watches(r, offset, bitset);
	trace_shmk_wake(r, offset, count, bitset, woke, watches);
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

	for (;;) {
		page = shmk_word_page(w->region, w->offset);
		if (IS_ERR(page))
			return PTR_ERR(page);
		spin_lock(&b->lock);
		/*
		 * A hole punched since the lookup moved the word to a new
		 * page, which a waker may already have written and woken:
		 * look again.  The removal and the waker's store are ordered
		 * before the waker's unlock of this lock, hence before here.
		 */
		if (shmk_page_current(w->region, page, w->offset))
			break;
		spin_unlock(&b->lock);
		put_page(page);
		cond_resched();
	}
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
 * Wait until one of @ws (already validated) is woken, at the latest at
 * @expires (KTIME_MAX: never).  Returns the index of the woken word,
 * -EAGAIN, -ETIMEDOUT, -EBADF, or on a signal -ERESTARTNOHAND for a
 * relative timeout (@relative) and -ERESTARTSYS otherwise.
 */
static int shmk_wait_words(struct shmk_handle *h, struct shmk_waiter *ws,
			   const u32 *expected, u32 nr, ktime_t expires,
			   bool relative)
{
	struct shmk_wait_task wt = {
		.task = current,
		.owner = current->files,
		.woken = ATOMIC_INIT(-1),
	};
	bool timeout = expires != KTIME_MAX;
	u32 queued, i;
	int ret = 0, woken;

	trace_shmk_wait(h->region, ws[0].offset, expected[0], nr, timeout);
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
			ret = relative ? -ERESTARTNOHAND : -ERESTARTSYS;
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
	ret = woken >= 0 ? woken : ret;
	trace_shmk_wait_done(h->region, ret);
	return ret;
}

/* Known flags only, and an absolute time only with a timeout. */
static bool shmk_wait_flags_valid(u32 flags)
{
	if (flags & ~(SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME))
		return false;
	return !(flags & SHMK_WAIT_ABSTIME) || (flags & SHMK_WAIT_TIMEOUT);
}

/* The deadline of a wait: KTIME_MAX for none. */
static ktime_t shmk_wait_deadline(u32 flags, u64 timeout_ns)
{
	ktime_t t;

	if (!(flags & SHMK_WAIT_TIMEOUT))
		return KTIME_MAX;
	t = ns_to_ktime(min_t(u64, timeout_ns, KTIME_MAX));
	if (!(flags & SHMK_WAIT_ABSTIME))
		t = ktime_add_safe(ktime_get(), t);
	return t;
}

/*
 * A signal interrupted a wait with a relative timeout.  Leave the time
 * that remained in the caller's @utimeout, as select() does with its
 * timeout, and return -ERESTARTNOHAND: a signal that runs no handler (a
 * stop and continue, ptrace, the freezer) restarts the ioctl, which reads
 * the remaining time and so does not sleep a fresh full timeout; one
 * that runs a handler turns it into -EINTR.  No restart_block: its
 * function would point into module text, which a task can keep pending
 * (and call through restart_syscall()) after the module is unloaded.
 */
static int shmk_wait_interrupted(u64 __user *utimeout, ktime_t expires)
{
	s64 left = ktime_to_ns(ktime_sub(expires, ktime_get()));

	if (put_user((u64)max_t(s64, left, 0), utimeout))
		return -EINTR;
	return -ERESTARTNOHAND;
}

static long shmk_ioctl_wait(struct shmk_handle *h, void __user *uarg)
{
	struct shmk_wait __user *u = uarg;
	struct shmk_waiter w = { .region = h->region };
	struct shmk_wait arg;
	ktime_t expires;
	bool relative;
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
	expires = shmk_wait_deadline(arg.flags, arg.timeout_ns);
	relative = (arg.flags & (SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME)) ==
		   SHMK_WAIT_TIMEOUT;
	ret = shmk_wait_words(h, &w, &arg.expected, 1, expires, relative);
	if (ret == -ERESTARTNOHAND)
		return shmk_wait_interrupted(&u->timeout_ns, expires);
	return ret > 0 ? 0 : ret;
}

static long shmk_ioctl_waitv(struct shmk_handle *h, void __user *uarg)
{
	struct shmk_waitv __user *u = uarg;
	struct shmk_waitv_entry *entries;
	void __user *uentries;
	struct shmk_waiter *ws;
	struct shmk_waitv arg;
	ktime_t expires;
	bool relative;
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

	ret = shmk_user_ptr(arg.entries, &uentries);
	if (ret)
		return ret;
	entries = memdup_user(uentries, arg.nr * sizeof(*entries));
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
	expires = shmk_wait_deadline(arg.flags, arg.timeout_ns);
	relative = (arg.flags & (SHMK_WAIT_TIMEOUT | SHMK_WAIT_ABSTIME)) ==
		   SHMK_WAIT_TIMEOUT;
	ret = shmk_wait_words(h, ws, expected, arg.nr, expires, relative);
	if (ret == -ERESTARTNOHAND)
		ret = shmk_wait_interrupted(&u->timeout_ns, expires);
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
	struct shmk_region_watches *rw = &h->region->watches;

	lockdep_assert_held(&h->lock);
	if (!h->watch.armed)
		return;
	spin_lock(&rw->lock);
	rb_erase(&h->watch.node, &rw->root);
	WRITE_ONCE(rw->nr, rw->nr - 1);
	spin_unlock(&rw->lock);
	h->watch.armed = false;
}

static long shmk_ioctl_watch(struct shmk_handle *h, const void __user *uarg)
{
	struct shmk_region_watches *rw = &h->region->watches;
	struct shmk_watch_state *ws = &h->watch;
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
	ws->offset = arg.offset;
	ws->bitset = arg.bitset;
	WRITE_ONCE(ws->pending, 0);
	spin_lock(&rw->lock);
	rb_add(&ws->node, &rw->root, shmk_watch_less);
	WRITE_ONCE(rw->nr, rw->nr + 1);
	spin_unlock(&rw->lock);
	ws->armed = true;
	spin_unlock(&h->lock);
	/* Pairs with the barrier in shmk_wake_watches(). */
	smp_mb();
	trace_shmk_watch(h->region, arg.offset, arg.bitset);
	return 0;
}

static void shmk_release_action_put(struct shmk_release_action *act)
{
	if (!act->armed)
		return;
	put_page(act->slot_page);
	put_page(act->counter_page);
}

/*
 * The checks of an ON_RELEASE argument that need no region: flags, and
 * the fields each flag allows.  Every field the caller does not use must
 * be 0, so that it can be given a meaning later.
 */
static bool shmk_on_release_valid(const struct shmk_on_release *arg)
{
	const u32 known = SHMK_ON_RELEASE_CLEAR | SHMK_ON_RELEASE_CMPXCHG;

	if ((arg->flags & ~known) || arg->reserved)
		return false;
	if (arg->flags & SHMK_ON_RELEASE_CLEAR)
		return arg->flags == SHMK_ON_RELEASE_CLEAR && !arg->slot_offset &&
		       !arg->slot_value && !arg->counter_offset &&
		       !arg->expected && !arg->mask;
	if (!(arg->flags & SHMK_ON_RELEASE_CMPXCHG))
		return !arg->expected && !arg->mask;
	/*
	 * A mask that compares nothing would be an unconditional action in
	 * disguise, and an expected bit outside the mask one that can never
	 * be compared: both are caller mistakes.
	 */
	return arg->mask && !(arg->expected & ~arg->mask);
}

static long shmk_ioctl_on_release(struct file *file, struct shmk_handle *h,
				  const void __user *uarg)
{
	struct shmk_release_action act = { .armed = true }, old;
	struct shmk_on_release arg;
	struct page *page;
	int ret;

	/*
	 * A SHMK_ON_RELEASE_SIZE_VER0 caller's struct ends before @mask,
	 * which copy_struct_from_user() leaves zero, as it must be then.
	 */
	ret = shmk_copy_arg(&arg, sizeof(arg), SHMK_ON_RELEASE_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (!shmk_on_release_valid(&arg))
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
		/* Both 0 without SHMK_ON_RELEASE_CMPXCHG: always matches. */
		act.expected = arg.expected;
		act.mask = arg.mask;
		act.counter_offset = arg.counter_offset;
		/*
		 * Hold both pages now, charged to the caller, so that the
		 * release need not allocate, read swap, or fail.
		 */
		page = shmk_word_page(h->region, arg.slot_offset);
		if (IS_ERR(page))
			return PTR_ERR(page);
		act.slot_page = page;
		page = shmk_word_page(h->region, arg.counter_offset);
		if (IS_ERR(page)) {
			put_page(act.slot_page);
			return PTR_ERR(page);
		}
		act.counter_page = page;
	}
	/* The whole action changes at once: a release sees old or new. */
	spin_lock(&h->lock);
	old = h->on_release;
	h->on_release = act;
	spin_unlock(&h->lock);
	shmk_release_action_put(&old);
	return 0;
}

/*
 * Lock the page that holds the word at @offset of @r, starting from
 * @page, held since registration, and return it with a reference of
 * its own (or an ERR_PTR).  The folio lock, under which a hole punch
 * removes folios, keeps the page in the page cache between the check and
 * the caller's store; a page punched out since the registration is
 * replaced by a fresh lookup.
 */
static struct page *shmk_release_lock(struct shmk_region *r,
				      struct page *page, u64 offset)
{
	struct folio *folio;

	get_page(page);
	for (;;) {
		folio = page_folio(page);
		folio_lock(folio);
		if (shmk_page_current(r, page, offset))
			return page;
		folio_unlock(folio);
		put_page(page);
		page = shmk_word_page(r, offset);
		if (IS_ERR(page))
			return page;
	}
}

static void shmk_release_unlock(struct page *page, bool written)
{
	if (written)
		set_page_dirty(page);
	folio_unlock(page_folio(page));
	put_page(page);
}

/*
 * Set the slot of @act to its value if (word & mask) == expected (always
 * for an unconditional action, whose mask is 0).  Returns 1 when written,
 * 0 when the word did not match, or an errno.
 */
static int shmk_release_slot(struct shmk_region *r,
			     const struct shmk_release_action *act)
{
	struct page *page;
	u32 *word, old;
	bool match;

	page = shmk_release_lock(r, act->slot_page, act->slot_offset);
	if (IS_ERR(page))
		return PTR_ERR(page);
	word = kmap_local_page(page) + offset_in_page(act->slot_offset);
	/*
	 * Compare and store in one step against the participants' atomics
	 * on the same word.  A failed try_cmpxchg() reloads @old, which is
	 * compared again: the loop ends at the first value that does not
	 * match, or with the store.  It goes round only when another
	 * writer's store landed in between, as the counter's loop does.
	 * A successful try_cmpxchg() is a full barrier, which orders the
	 * slot before the counter (see shmk_run_release_action()).
	 */
	old = READ_ONCE(*word);
	do {
		match = !((old ^ act->expected) & act->mask);
	} while (match && !try_cmpxchg(word, &old, act->slot_value));
	kunmap_local(word);
	shmk_release_unlock(page, match);
	return match;
}

/* Increment the counter of @act, wrapping. */
static int shmk_release_count(struct shmk_region *r,
			      const struct shmk_release_action *act)
{
	struct page *page;
	u32 *word, old;

	page = shmk_release_lock(r, act->counter_page, act->counter_offset);
	if (IS_ERR(page))
		return PTR_ERR(page);
	word = kmap_local_page(page) + offset_in_page(act->counter_offset);
	/*
	 * An atomic increment against participants' atomics on the word;
	 * the successful try_cmpxchg() is a full barrier: the slot written
	 * before it is visible to whoever sees the new count.
	 */
	old = READ_ONCE(*word);
	while (!try_cmpxchg(word, &old, old + 1))
		;
	kunmap_local(word);
	shmk_release_unlock(page, true);
	return 0;
}

/*
 * The region file is being released: carry out its death notice, if
 * any.  The slot is written (when it matches) before the counter moves,
 * so whoever sees the new count also sees the slot.  The counter moves
 * and its waiters wake whether or not the slot matched: a slot that no
 * longer matches belongs to a newer occupant, and a wake that finds
 * nothing to reclaim costs a survivor one look, while one withheld could
 * strand a waiter counting releases.  Both pages are held since
 * registration, so this fails only if a writer punched a hole over a
 * word and its new page cannot be had; then the failure is logged, and
 * the counter still moves and its waiters still wake, so that the death
 * is not lost.
 */
static void shmk_run_release_action(struct shmk_handle *h)
{
	struct shmk_release_action *act = &h->on_release;
	struct shmk_region *r = h->region;
	int slot, err;

	if (!act->armed)
		return;
	slot = shmk_release_slot(r, act);
	if (slot < 0)
		pr_warn_ratelimited("region %llu: death notice slot %llu not written: %d\n",
				    r->id, act->slot_offset, slot);
	err = shmk_release_count(r, act);
	if (err)
		pr_warn_ratelimited("region %llu: death notice counter %llu not incremented: %d\n",
				    r->id, act->counter_offset, err);
	trace_shmk_death_notice(r, act, slot, err);
	shmk_release_action_put(act);
	act->armed = false;
	shmk_wake(r, act->counter_offset, INT_MAX, SHMK_BITSET_ANY);
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
	case SHMK_IOC_BASE(SHMK_IOC_ACK):
		/* Whether a wake was pending; the argument is ignored. */
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
 * another thread closes.)  The descriptor scan runs only when a task of
 * @owner waits through @file at that moment.
 */
void shmk_notify_flush(struct file *file, fl_owner_t owner)
{
	struct shmk_handle *h = file->private_data;
	struct shmk_wait_task *wt;
	bool waiting = false;

	/* Most closes find nobody waiting; a racing wait is not seen anyway. */
	if (data_race(list_empty_careful(&h->tasks)))
		return;
	spin_lock(&h->lock);
	list_for_each_entry(wt, &h->tasks, node)
		if (wt->owner == owner) {
			waiting = true;
			break;
		}
	spin_unlock(&h->lock);
	if (!waiting || iterate_fd(owner, 0, shmk_same_file, file))
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

void shmk_region_notify_init(struct shmk_region *r)
{
	spin_lock_init(&r->watches.lock);
	r->watches.root = RB_ROOT;
	r->watches.nr = 0;
}

void shmk_handle_notify_init(struct shmk_handle *h)
{
	spin_lock_init(&h->lock);
	INIT_LIST_HEAD(&h->tasks);
	RB_CLEAR_NODE(&h->watch.node);
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
