// SPDX-License-Identifier: GPL-2.0
/*
 * shmk regions: named shared memory backed by 2 MiB shmem pages.
 *
 * A region is a shmem file on the module's own tmpfs mount, mounted with
 * huge=always so that its pages are 2 MiB whatever the system-wide shmem
 * THP setting.  Users never see that file directly: create and open
 * return a region file (an anon inode) whose mmap hands the VMA over to
 * the shmem file, so faults, THP and reclaim are shmem's own.
 *
 * Lifetime: the shmem file is reference counted by the VFS.  Region
 * files, mappings and the name of a persistent region each hold a
 * reference; our copy of the shmem file operations adds a ->release that
 * frees the region when the last reference goes, whichever it is (also
 * when a process is killed).  The copy's .owner pins the module while
 * any region, fd or mapping exists.
 *
 * Names are kept per IPC namespace.  put_ipc_ns() is not exported, so
 * the module cannot hold an IPC namespace; it pins the namespace's
 * mqueue mount instead, which is unique to it and cannot be reused for
 * another namespace while pinned: that mount is the namespace's key.
 * When the namespace dies, the kernel clears that mount's s_fs_info
 * (mq_clear_sbinfo()); the names of a dead namespace can never be used
 * again, so they are dropped, persistent or not (shmk_reap(), run before
 * each name operation and every second from a work item while any
 * namespace other than the initial one is known).
 *
 * Accounting: each region is charged to its owner (the creator's fsuid,
 * one account per kuid across all namespaces) and to its namespace; the
 * limits are per namespace, set by the namespace's owner, and never above
 * the module parameters (shmk_ns_limits()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/ipc_namespace.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/stringhash.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include "shmk.h"
#include "shmk_trace.h"

#ifndef CONFIG_POSIX_MQUEUE
#error "shmk keys IPC namespaces by their mqueue mount: CONFIG_POSIX_MQUEUE is needed"
#endif

/**
 * struct shmk_ns - the regions and limits of one IPC namespace
 * @node:	link in shmk_namespaces
 * @key:	the namespace's mqueue mount, pinned
 * @nr_regions:	regions created in it that still exist
 * @next_id:	the id of its next region
 * @limits_set:	its owner set the limits below (else the module's apply)
 * @region_bytes: largest region
 * @user_bytes:	bytes one user may own (all namespaces together)
 * @user_regions: regions one user may own (all namespaces together)
 * @regions:	regions in this namespace
 * @reaped:	the namespace died and its names were dropped
 *
 * Created by the first CREATE or SET_LIMITS in the namespace, it lives
 * as long as the namespace (so that ids are never reused in it and its
 * limits stay), and goes with the namespace's last region once the
 * namespace has died, or at module unload.
 */
struct shmk_ns {
	struct list_head node;
	struct vfsmount *key;
	unsigned int nr_regions;
	u64 next_id;
	bool limits_set;
	u64 region_bytes;
	u64 user_bytes;
	u32 user_regions;
	u32 regions;
	bool reaped;
};

/**
 * struct shmk_user - what one user (kuid) owns, in all namespaces
 * @node:	link in shmk_users
 * @uid:	the user
 * @bytes:	bytes of its regions
 * @regions:	its regions; the struct goes when this reaches 0
 */
struct shmk_user {
	struct hlist_node node;
	kuid_t uid;
	u64 bytes;
	unsigned int regions;
};

/* Protects the name hash, the namespaces, the users and the accounting. */
static DEFINE_MUTEX(shmk_lock);
static LIST_HEAD(shmk_namespaces);
static DEFINE_HASHTABLE(shmk_names, 8);
static DEFINE_HASHTABLE(shmk_users, 6);
static u64 shmk_total_bytes;
/* Known namespaces other than the initial one, which cannot die. */
static unsigned int shmk_nr_other_ns;

static void shmk_reap_workfn(struct work_struct *work);
static DECLARE_DELAYED_WORK(shmk_reap_work, shmk_reap_workfn);
#define SHMK_REAP_INTERVAL	HZ

static struct vfsmount *shmk_mnt;
/* shmem's file operations plus ours: copied once at load time. */
static struct file_operations shmk_shmem_fops __ro_after_init;
static const struct file_operations shmk_region_fops;

static struct vfsmount *shmk_current_ns_key(void)
{
	return current->nsproxy->ipc_ns->mq_mnt;
}

static struct user_namespace *shmk_current_ns_user_ns(void)
{
	return current->nsproxy->ipc_ns->user_ns;
}

static struct shmk_ns *shmk_ns_find(void)
{
	struct vfsmount *key = shmk_current_ns_key();
	struct shmk_ns *ns;

	lockdep_assert_held(&shmk_lock);
	list_for_each_entry(ns, &shmk_namespaces, node)
		if (ns->key == key)
			return ns;
	return NULL;
}

static bool shmk_ns_is_initial(const struct shmk_ns *ns)
{
	return ns->key == init_task.nsproxy->ipc_ns->mq_mnt;
}

/* Make @ns the caller's namespace's struct. */
static void shmk_ns_add_locked(struct shmk_ns *ns)
{
	lockdep_assert_held(&shmk_lock);
	ns->key = mntget(shmk_current_ns_key());
	ns->next_id = 1;
	list_add(&ns->node, &shmk_namespaces);
	if (!shmk_ns_is_initial(ns)) {
		/* Another namespace: it may die, so look out for that. */
		if (!shmk_nr_other_ns++)
			schedule_delayed_work(&shmk_reap_work, SHMK_REAP_INTERVAL);
	}
}

/* Unlist @ns; the caller frees it and drops the pin on its key. */
static void shmk_ns_del_locked(struct shmk_ns *ns)
{
	lockdep_assert_held(&shmk_lock);
	list_del(&ns->node);
	if (!shmk_ns_is_initial(ns))
		shmk_nr_other_ns--;
}

static struct shmk_user *shmk_user_find(kuid_t uid)
{
	struct shmk_user *user;

	lockdep_assert_held(&shmk_lock);
	hash_for_each_possible(shmk_users, user, node, __kuid_val(uid))
		if (uid_eq(user->uid, uid))
			return user;
	return NULL;
}

/*
 * With shmk_lock held, find the caller's namespace and, if @userp is
 * set, @uid's account, creating what is missing.  Allocations (charged
 * to the caller's memory cgroup) run with the lock dropped, and only
 * when something is missing.
 */
static int shmk_get_ns_user_locked(kuid_t uid, struct shmk_ns **nsp,
				   struct shmk_user **userp)
{
	struct shmk_user *user = NULL, *new_user = NULL;
	struct shmk_ns *ns, *new_ns = NULL;
	bool need_ns, need_user, failed = false;
	int err = 0;

	lockdep_assert_held(&shmk_lock);
	for (;;) {
		ns = shmk_ns_find();
		if (userp)
			user = shmk_user_find(uid);
		need_ns = !ns && !new_ns;
		need_user = userp && !user && !new_user;
		if (!need_ns && !need_user)
			break;
		if (failed) {
			err = -ENOMEM;
			goto out;
		}
		mutex_unlock(&shmk_lock);
		if (need_ns)
			new_ns = kzalloc(sizeof(*new_ns), GFP_KERNEL_ACCOUNT);
		if (need_user)
			new_user = kzalloc(sizeof(*new_user), GFP_KERNEL_ACCOUNT);
		mutex_lock(&shmk_lock);
		failed = (need_ns && !new_ns) || (need_user && !new_user);
	}
	if (!ns) {
		ns = new_ns;
		new_ns = NULL;
		shmk_ns_add_locked(ns);
	}
	if (userp && !user) {
		user = new_user;
		new_user = NULL;
		user->uid = uid;
		hash_add(shmk_users, &user->node, __kuid_val(uid));
	}
	*nsp = ns;
	if (userp)
		*userp = user;
out:
	kfree(new_ns);
	kfree(new_user);
	return err;
}

/* A user account without regions goes. */
static void shmk_user_put_locked(struct shmk_user *user)
{
	lockdep_assert_held(&shmk_lock);
	if (!user->regions) {
		hash_del(&user->node);
		kfree(user);
	}
}

/*
 * The limits in force in @ns (NULL: a namespace that set none): its
 * owner's settings, never above the module parameters.
 */
static void shmk_ns_limits(const struct shmk_ns *ns, struct shmk_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->size = sizeof(*lim);
	lim->region_bytes = min_t(u64, READ_ONCE(shmk_max_region_bytes),
				  SHMK_MAX_BYTES);
	lim->user_bytes = min_t(u64, READ_ONCE(shmk_max_user_bytes),
				SHMK_MAX_BYTES);
	lim->user_regions = READ_ONCE(shmk_max_user_regions);
	lim->regions = READ_ONCE(shmk_max_regions);
	if (ns && ns->limits_set) {
		lim->region_bytes = min(lim->region_bytes, ns->region_bytes);
		lim->user_bytes = min(lim->user_bytes, ns->user_bytes);
		lim->user_regions = min(lim->user_regions, ns->user_regions);
		lim->regions = min(lim->regions, ns->regions);
	}
}

/* Returns the length of a valid name, or a negative errno. */
static int shmk_name_check(const char *name)
{
	size_t i, len = strnlen(name, SHMK_NAME_MAX);

	if (len == SHMK_NAME_MAX)
		return -ENAMETOOLONG;
	if (!len)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '/')
			return -EINVAL;
	return len;
}

static u32 shmk_name_hash(const struct shmk_ns *ns, const char *name)
{
	return full_name_hash(ns, name, strlen(name));
}

static struct shmk_region *shmk_lookup(struct shmk_ns *ns, const char *name)
{
	struct shmk_region *r;

	lockdep_assert_held(&shmk_lock);
	hash_for_each_possible(shmk_names, r, hnode, shmk_name_hash(ns, name))
		if (r->ns == ns && !strcmp(r->name, name))
			return r;
	return NULL;
}

static void shmk_unname(struct shmk_region *r)
{
	lockdep_assert_held(&shmk_lock);
	hash_del(&r->hnode);
	WRITE_ONCE(r->named, false);
}

/*
 * Find a region by name and take a reference on its shmem file.  A
 * region whose last reference is already gone is being freed: it loses
 * its name now and counts as absent.
 */
static struct shmk_region *shmk_lookup_get(struct shmk_ns *ns,
					   const char *name)
{
	struct shmk_region *r = ns ? shmk_lookup(ns, name) : NULL;

	if (r && !get_file_rcu(r->shmem)) {
		shmk_unname(r);
		r = NULL;
	}
	return r;
}

static bool shmk_ns_dead(const struct shmk_ns *ns)
{
	return !READ_ONCE(ns->key->mnt_sb->s_fs_info);
}

/*
 * Drop the names of regions whose IPC namespace has died, and with them
 * the references that persistent names hold: like SysV shared memory,
 * a persistent region does not outlive its namespace.  One pass over the
 * namespaces and, only when one died, one over the names; the references
 * are dropped after unlocking.  The struct of a dead namespace goes now
 * if it has no region left, else with its last region.
 */
static void shmk_reap(void)
{
	struct shmk_ns *ns, *ns_tmp;
	struct shmk_region *r;
	struct hlist_node *tmp;
	HLIST_HEAD(puts);
	LIST_HEAD(dead);
	bool died = false;
	int bkt;

	mutex_lock(&shmk_lock);
	list_for_each_entry(ns, &shmk_namespaces, node) {
		if (!ns->reaped && shmk_ns_dead(ns)) {
			ns->reaped = true;
			died = true;
		}
	}
	if (died) {
		/* Only the namespaces that died now still have names. */
		hash_for_each_safe(shmk_names, bkt, tmp, r, hnode) {
			if (!r->ns->reaped)
				continue;
			shmk_unname(r);
			if (r->persist) {
				/* The name's reference, put below. */
				WRITE_ONCE(r->persist, false);
				hlist_add_head(&r->hnode, &puts);
			}
		}
		list_for_each_entry_safe(ns, ns_tmp, &shmk_namespaces, node) {
			if (ns->reaped && !ns->nr_regions) {
				shmk_ns_del_locked(ns);
				list_add(&ns->node, &dead);
			}
		}
	}
	mutex_unlock(&shmk_lock);

	hlist_for_each_entry_safe(r, tmp, &puts, hnode)
		fput(r->shmem);
	list_for_each_entry_safe(ns, ns_tmp, &dead, node) {
		mntput(ns->key);
		kfree(ns);
	}
}

/*
 * Every second while a namespace other than the initial one is known:
 * its death is not signalled to modules, so look for it.
 */
static void shmk_reap_workfn(struct work_struct *work)
{
	bool again;

	shmk_reap();
	mutex_lock(&shmk_lock);
	again = shmk_nr_other_ns;
	mutex_unlock(&shmk_lock);
	if (again)
		schedule_delayed_work(&shmk_reap_work, SHMK_REAP_INTERVAL);
}

/* File-like permission check; @mask holds MAY_READ and MAY_WRITE. */
static int shmk_permission(const struct shmk_region *r, int mask)
{
	umode_t granted = r->mode;

	if (uid_eq(current_fsuid(), r->uid))
		granted >>= 6;
	else if (in_group_p(r->gid))
		granted >>= 3;
	if (!(mask & ~granted & (MAY_READ | MAY_WRITE)))
		return 0;
	if (ns_capable(shmk_current_ns_user_ns(), CAP_IPC_OWNER))
		return 0;
	return -EACCES;
}

/*
 * ->release of the region's shmem file: its last reference is gone, so
 * no fd, mapping or name can reach the region any more.
 */
static int shmk_shmem_release(struct inode *inode, struct file *file)
{
	struct shmk_region *r = file->private_data;
	struct vfsmount *key = NULL;
	struct shmk_ns *ns = r->ns;
	struct shmk_user *user;

	trace_shmk_region_free(r);
	if (ns) {
		mutex_lock(&shmk_lock);
		if (r->named)
			shmk_unname(r);
		shmk_total_bytes -= r->bytes;
		user = shmk_user_find(r->uid);
		if (!WARN_ON_ONCE(!user)) {
			user->bytes -= r->bytes;
			user->regions--;
			shmk_user_put_locked(user);
		}
		if (!--ns->nr_regions && ns->reaped) {
			shmk_ns_del_locked(ns);
			key = ns->key;
			kfree(ns);
		}
		mutex_unlock(&shmk_lock);
		if (key)
			mntput(key);
	}
	kfree(r);
	return 0;
}

/* Open a region file on @r; consumes a reference on r->shmem. */
static struct file *shmk_handle_open(struct shmk_region *r, int flags)
{
	struct shmk_handle *h;
	struct file *file;

	h = kzalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);
	if (!h) {
		file = ERR_PTR(-ENOMEM);
		goto err;
	}
	h->region = r;
	shmk_handle_notify_init(h);
	file = anon_inode_getfile("[shmk]", &shmk_region_fops, h,
				  flags | O_CLOEXEC);
	if (IS_ERR(file)) {
		kfree(h);
		goto err;
	}
	atomic_inc(&r->handles);
	return file;
err:
	fput(r->shmem);
	return file;
}

static int shmk_region_release(struct inode *inode, struct file *file)
{
	struct shmk_handle *h = file->private_data;
	struct shmk_region *r = h->region;

	shmk_handle_notify_release(h);
	trace_shmk_region_release(r, atomic_dec_return(&r->handles));
	kfree(h);
	fput(r->shmem);
	return 0;
}

static int shmk_region_flush(struct file *file, fl_owner_t id)
{
	shmk_notify_flush(file, id);
	return 0;
}

static int shmk_region_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmk_handle *h = file->private_data;
	struct shmk_region *r = h->region;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;

	/* VM_MAYSHARE: a read-only shared mapping has no VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (off >= r->bytes || len > r->bytes - off)
		return -EINVAL;
	/*
	 * Data, never code: a writer must not be able to supply code that
	 * another process runs.  EPERM as for a noexec mount; without
	 * VM_MAYEXEC, mprotect(PROT_EXEC) fails with EACCES.
	 */
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;

	vma->vm_flags &= ~VM_MAYEXEC;
	vma->vm_flags |= VM_DONTEXPAND;
	vma_set_file(vma, r->shmem);
	return call_mmap(r->shmem, vma);
}

/* /proc/PID/fdinfo: which region, for debugging and checkpointing. */
static void shmk_region_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct shmk_handle *h = file->private_data;
	struct shmk_region *r = h->region;

	seq_printf(m, "shmk-id:\t%llu\n", r->id);
	seq_printf(m, "shmk-name:\t%s\n", r->name);
	seq_printf(m, "shmk-bytes:\t%llu\n", r->bytes);
	seq_printf(m, "shmk-persist:\t%d\n", READ_ONCE(r->persist));
	seq_printf(m, "shmk-unlinked:\t%d\n", !READ_ONCE(r->named));
}

static __poll_t shmk_region_poll(struct file *file, poll_table *pt)
{
	return shmk_notify_poll(file, file->private_data, pt);
}

/* Bytes of @r in memory, and how many of them sit in 2 MiB pages. */
static void shmk_region_usage(struct shmk_region *r, u64 *resident, u64 *huge)
{
	struct address_space *mapping = r->shmem->f_mapping;
	pgoff_t start = 0, end = (r->bytes >> PAGE_SHIFT) - 1;
	struct folio_batch fbatch;
	unsigned int i;

	*resident = 0;
	*huge = 0;
	folio_batch_init(&fbatch);
	while (filemap_get_folios(mapping, &start, end, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			*resident += folio_size(folio);
			if (folio_size(folio) >= SHMK_PAGE_SIZE)
				*huge += folio_size(folio);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
}

/*
 * Fill @info from @r; the caller holds a reference on r->shmem.  With
 * @restricted (LIST, a region the caller may not open), what tells about
 * its use - resident and huge bytes, handles - stays zero.
 */
static void shmk_region_info(struct shmk_region *r,
			     struct shmk_region_info *info, bool restricted)
{
	struct user_namespace *user_ns = current_user_ns();

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	/* Written under shmk_lock; a snapshot is all INFO promises. */
	if (READ_ONCE(r->persist))
		info->flags |= SHMK_INFO_PERSIST;
	if (!READ_ONCE(r->named))
		info->flags |= SHMK_INFO_UNLINKED;
	info->bytes = r->bytes;
	info->id = r->id;
	info->uid = from_kuid_munged(user_ns, r->uid);
	info->gid = from_kgid_munged(user_ns, r->gid);
	info->mode = r->mode;
	strscpy(info->name, r->name, sizeof(info->name));
	if (restricted) {
		info->flags |= SHMK_INFO_RESTRICTED;
		return;
	}
	info->handles = atomic_read(&r->handles);
	shmk_region_usage(r, &info->resident_bytes, &info->huge_bytes);
}

/*
 * Copy a size-prefixed struct @k of @ksize bytes out as one of @usize
 * bytes: the part both sides know, with its size field saying how much
 * that is, and zeros after it.
 */
static int shmk_struct_to_user(void __user *u, u32 usize, void *k,
			       size_t ksize)
{
	size_t n = min_t(size_t, usize, ksize);

	*(u32 *)k = n;
	if (copy_to_user(u, k, n))
		return -EFAULT;
	if (usize > n && clear_user(u + n, usize - n))
		return -EFAULT;
	return 0;
}

static long shmk_ioctl_info(struct shmk_handle *h, void __user *uarg)
{
	struct shmk_region_info info;
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < sizeof(info))
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	/* An fd is a capability: its holder sees everything. */
	shmk_region_info(h->region, &info, false);
	return shmk_struct_to_user(uarg, usize, &info, sizeof(info));
}

static long shmk_region_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct shmk_handle *h = file->private_data;
	void __user *uarg = (void __user *)arg;

	if (!shmk_ioc_size_ok(cmd))
		return -ENOTTY;
	switch (SHMK_IOC_BASE(cmd)) {
	case SHMK_IOC_BASE(SHMK_IOC_INFO):
		return shmk_ioctl_info(h, uarg);
	default:
		return shmk_notify_ioctl(file, h, cmd, uarg);
	}
}

static const struct file_operations shmk_region_fops = {
	.owner			= THIS_MODULE,
	.release		= shmk_region_release,
	.flush			= shmk_region_flush,
	.mmap			= shmk_region_mmap,
	.get_unmapped_area	= thp_get_unmapped_area,
	.poll			= shmk_region_poll,
	.show_fdinfo		= shmk_region_show_fdinfo,
	.unlocked_ioctl		= shmk_region_ioctl,
	.compat_ioctl		= compat_ptr_ioctl,
	.llseek			= noop_llseek,
};

/*
 * Give @r a name in @ns and charge it to @ns, to @user and to the module
 * total, if the limits allow it.
 */
static int shmk_insert_locked(struct shmk_region *r, struct shmk_ns *ns,
			      struct shmk_user *user)
{
	struct shmk_region *other = shmk_lookup(ns, r->name);
	struct shmk_limits lim;

	lockdep_assert_held(&shmk_lock);
	if (other) {
		/* A region whose last reference is gone is being freed. */
		if (file_count(other->shmem))
			return -EEXIST;
		shmk_unname(other);
	}
	shmk_ns_limits(ns, &lim);
	if (r->bytes > lim.region_bytes)
		return -E2BIG;
	if (ns->nr_regions >= lim.regions)
		return -ENOSPC;
	if (user->regions >= lim.user_regions ||
	    user->bytes + r->bytes > lim.user_bytes)
		return -EDQUOT;
	if (shmk_total_bytes + r->bytes > READ_ONCE(shmk_max_total_bytes))
		return -ENOSPC;
	ns->nr_regions++;
	user->regions++;
	user->bytes += r->bytes;
	shmk_total_bytes += r->bytes;
	r->ns = ns;
	r->id = ns->next_id++;
	r->named = true;
	hash_add(shmk_names, &r->hnode, shmk_name_hash(ns, r->name));
	return 0;
}

static long shmk_region_create(const struct shmk_create *arg, u64 bytes)
{
	struct shmk_region *r;
	struct shmk_user *user;
	struct shmk_ns *ns;
	struct file *shmem, *file;
	/* Decided once: the name owns the creation reference. */
	bool persist = arg->flags & SHMK_CREATE_PERSIST;
	int fd, err;

	/* Accounted to the creator's memory cgroup, as the handle is. */
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	strscpy(r->name, arg->name, sizeof(r->name));
	r->bytes = bytes;
	r->uid = current_fsuid();
	r->gid = current_fsgid();
	r->mode = arg->mode;
	r->persist = persist;
	atomic_set(&r->handles, 0);
	shmk_region_notify_init(r);

	shmem = shmem_file_setup_with_mnt(shmk_mnt, r->name, bytes,
					  VM_NORESERVE);
	if (IS_ERR(shmem)) {
		kfree(r);
		return PTR_ERR(shmem);
	}
	/* From here on, the last fput(shmem) frees r. */
	shmem->private_data = r;
	r->shmem = shmem;
	__module_get(THIS_MODULE);
	replace_fops(shmem, &shmk_shmem_fops);

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto err_shmem;
	}
	get_file(shmem);
	file = shmk_handle_open(r, (arg->flags & SHMK_CREATE_RDONLY) ?
				O_RDONLY : O_RDWR);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto err_fd;
	}

	mutex_lock(&shmk_lock);
	err = shmk_get_ns_user_locked(r->uid, &ns, &user);
	if (!err) {
		err = shmk_insert_locked(r, ns, user);
		if (err)
			shmk_user_put_locked(user);
	}
	mutex_unlock(&shmk_lock);
	if (err)
		goto err_file;
	/*
	 * A persistent region's name keeps the creation reference.  The
	 * name is public now: an UNLINK may already have dropped it and
	 * cleared r->persist, so decide from our own copy, never from r.
	 */
	if (!persist)
		fput(shmem);
	/* Before fd_install(): a close() could free r right after it. */
	trace_shmk_region_create(r, persist, arg->flags & SHMK_CREATE_RDONLY);
	fd_install(fd, file);
	return fd;

err_file:
	fput(file);
err_fd:
	put_unused_fd(fd);
err_shmem:
	fput(shmem);
	return err;
}

long shmk_ioctl_create(const void __user *uarg)
{
	struct shmk_create arg;
	u64 max = min_t(u64, READ_ONCE(shmk_max_region_bytes), SHMK_MAX_BYTES);
	u64 bytes;
	int err;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags & ~(SHMK_CREATE_PERSIST | SHMK_CREATE_RDONLY))
		return -EINVAL;
	if (arg.reserved || (arg.mode & ~0777))
		return -EINVAL;
	err = shmk_name_check(arg.name);
	if (err < 0)
		return err;
	if (!arg.bytes)
		return -EINVAL;
	/* Round up without wrapping: max is at most SHMK_MAX_BYTES. */
	if (arg.bytes > max)
		return -E2BIG;
	bytes = round_up(arg.bytes, SHMK_PAGE_SIZE);
	if (!bytes || bytes > max)
		return -E2BIG;
	shmk_reap();
	return shmk_region_create(&arg, bytes);
}

long shmk_ioctl_open(const void __user *uarg)
{
	struct shmk_region *r;
	struct shmk_open arg;
	struct file *file;
	int fd, err, mask;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags & ~SHMK_OPEN_RDONLY)
		return -EINVAL;
	err = shmk_name_check(arg.name);
	if (err < 0)
		return err;
	mask = MAY_READ;
	if (!(arg.flags & SHMK_OPEN_RDONLY))
		mask |= MAY_WRITE;
	shmk_reap();

	mutex_lock(&shmk_lock);
	r = shmk_lookup_get(shmk_ns_find(), arg.name);
	err = r ? shmk_permission(r, mask) : -ENOENT;
	mutex_unlock(&shmk_lock);
	if (err) {
		if (r)
			fput(r->shmem);
		return err;
	}

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		fput(r->shmem);
		return fd;
	}
	file = shmk_handle_open(r, (mask & MAY_WRITE) ? O_RDWR : O_RDONLY);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	trace_shmk_region_open(r, !(mask & MAY_WRITE));
	fd_install(fd, file);
	return fd;
}

long shmk_ioctl_unlink(const void __user *uarg)
{
	struct shmk_unlink arg;
	struct shmk_region *r;
	struct file *put2 = NULL;
	int err;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags)
		return -EINVAL;
	err = shmk_name_check(arg.name);
	if (err < 0)
		return err;

	err = 0;
	shmk_reap();
	mutex_lock(&shmk_lock);
	r = shmk_lookup_get(shmk_ns_find(), arg.name);
	if (!r) {
		err = -ENOENT;
	} else if (!uid_eq(current_fsuid(), r->uid) &&
		   !ns_capable(shmk_current_ns_user_ns(), CAP_IPC_OWNER)) {
		err = -EPERM;
	} else {
		shmk_unname(r);
		if (r->persist) {
			/* The name's reference goes with the name. */
			WRITE_ONCE(r->persist, false);
			put2 = r->shmem;
		}
	}
	mutex_unlock(&shmk_lock);
	if (r)
		fput(r->shmem);
	if (put2)
		fput(put2);
	return err;
}

/*
 * Take a reference on every region of the caller's namespace that has a
 * name and is not being freed; returns how many, or -ENOMEM.  The array
 * is allocated without the lock, sized by the namespace's region count.
 */
static int shmk_list_snapshot(struct shmk_region ***snapp)
{
	struct shmk_region **snap = NULL, *r;
	unsigned int room = 0, n = 0;
	struct shmk_ns *ns;
	int bkt;

	for (;;) {
		mutex_lock(&shmk_lock);
		ns = shmk_ns_find();
		if (!ns || ns->nr_regions <= room)
			break;
		room = ns->nr_regions;
		mutex_unlock(&shmk_lock);
		kvfree(snap);
		snap = kvmalloc_array(room, sizeof(*snap), GFP_KERNEL);
		if (!snap)
			return -ENOMEM;
	}
	if (ns) {
		/* Named regions of @ns are among its nr_regions: they fit. */
		hash_for_each(shmk_names, bkt, r, hnode)
			if (r->ns == ns && get_file_rcu(r->shmem))
				snap[n++] = r;
	}
	mutex_unlock(&shmk_lock);
	*snapp = snap;
	return n;
}

long shmk_ioctl_list(void __user *uarg)
{
	struct shmk_region_info *infos = NULL;
	struct shmk_region **snap = NULL;
	void __user *entries;
	struct shmk_list arg;
	u32 n, written, i;
	int err;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags)
		return -EINVAL;
	if (arg.count && (arg.entry_size < sizeof(*infos) ||
			  arg.entry_size > PAGE_SIZE))
		return -EINVAL;
	err = shmk_user_ptr(arg.entries, &entries);
	if (err)
		return err;

	shmk_reap();
	err = shmk_list_snapshot(&snap);
	if (err < 0)
		return err;
	n = err;
	err = 0;
	written = min(n, arg.count);
	if (written) {
		infos = kvmalloc_array(written, sizeof(*infos), GFP_KERNEL);
		if (!infos)
			err = -ENOMEM;
	}
	/*
	 * Fill the records while the references keep the regions, then drop
	 * them before any user copy: a slow copy (a FUSE-backed page) must
	 * not hold other users' regions.
	 */
	for (i = 0; i < n; i++) {
		struct shmk_region *r = snap[i];

		if (infos && i < written)
			shmk_region_info(r, &infos[i],
					 shmk_permission(r, MAY_READ) != 0);
		fput(r->shmem);
	}
	kvfree(snap);
	if (err < 0)
		return err;

	for (i = 0; i < written && !err; i++)
		err = shmk_struct_to_user(entries + (u64)i * arg.entry_size,
					  arg.entry_size, &infos[i],
					  sizeof(infos[i]));
	kvfree(infos);
	if (err)
		return err;
	if (put_user(n, &((struct shmk_list __user *)uarg)->count))
		return -EFAULT;
	return 0;
}

long shmk_ioctl_get_limits(void __user *uarg)
{
	struct shmk_limits arg, out;
	struct shmk_user *user;
	struct shmk_ns *ns;
	int err;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags)
		return -EINVAL;
	shmk_reap();
	mutex_lock(&shmk_lock);
	ns = shmk_ns_find();
	shmk_ns_limits(ns, &out);
	user = shmk_user_find(current_fsuid());
	if (user) {
		out.used_bytes = user->bytes;
		out.used_regions = user->regions;
	}
	if (ns)
		out.ns_regions = ns->nr_regions;
	mutex_unlock(&shmk_lock);
	return shmk_struct_to_user(uarg, arg.size, &out, sizeof(out));
}

long shmk_ioctl_set_limits(const void __user *uarg)
{
	struct shmk_limits arg, max;
	struct shmk_ns *ns;
	int err;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags & ~SHMK_LIMITS_DEFAULT)
		return -EINVAL;
	if (arg.used_bytes || arg.used_regions || arg.ns_regions)
		return -EINVAL;
	shmk_ns_limits(NULL, &max);
	if (arg.flags & SHMK_LIMITS_DEFAULT) {
		if (arg.region_bytes || arg.user_bytes || arg.user_regions ||
		    arg.regions)
			return -EINVAL;
	} else if (arg.region_bytes > max.region_bytes ||
		   arg.user_bytes > max.user_bytes ||
		   arg.user_regions > max.user_regions ||
		   arg.regions > max.regions) {
		return -EINVAL;
	}
	/* As for SysV limits: the namespace's owner. */
	if (!ns_capable(shmk_current_ns_user_ns(), CAP_SYS_RESOURCE))
		return -EPERM;

	mutex_lock(&shmk_lock);
	err = shmk_get_ns_user_locked(INVALID_UID, &ns, NULL);
	if (!err) {
		ns->limits_set = !(arg.flags & SHMK_LIMITS_DEFAULT);
		ns->region_bytes = arg.region_bytes;
		ns->user_bytes = arg.user_bytes;
		ns->user_regions = arg.user_regions;
		ns->regions = arg.regions;
	}
	mutex_unlock(&shmk_lock);
	return err;
}

int __init shmk_region_init(void)
{
	struct file_system_type *tmpfs;
	struct file *probe;
	char opts[] = "huge=always";

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	/* Regions promise PMD mappings: a PMD must map SHMK_PAGE_SIZE. */
	BUILD_BUG_ON(HPAGE_PMD_SIZE != SHMK_PAGE_SIZE);
#endif
	/*
	 * tmpfs is built in: get_fs_type() took no module reference, so
	 * there is none to give back (put_filesystem() is not exported).
	 */
	tmpfs = get_fs_type("tmpfs");
	if (!tmpfs)
		return -ENODEV;
	shmk_mnt = vfs_kern_mount(tmpfs, SB_KERNMOUNT, "shmk", opts);
	if (IS_ERR(shmk_mnt))
		return PTR_ERR(shmk_mnt);

	/* Our shmem file operations: shmem's own plus release and owner. */
	probe = shmem_file_setup_with_mnt(shmk_mnt, "probe", 0, VM_NORESERVE);
	if (IS_ERR(probe)) {
		kern_unmount(shmk_mnt);
		return PTR_ERR(probe);
	}
	shmk_shmem_fops = *probe->f_op;
	fput(probe);
	shmk_shmem_fops.owner = THIS_MODULE;
	shmk_shmem_fops.release = shmk_shmem_release;
	return 0;
}

/*
 * No region, fd or mapping exists (each pins the module), so every
 * namespace struct left is empty and every user account gone.
 */
void shmk_region_exit(void)
{
	struct shmk_ns *ns, *tmp;

	cancel_delayed_work_sync(&shmk_reap_work);
	list_for_each_entry_safe(ns, tmp, &shmk_namespaces, node) {
		WARN_ON_ONCE(ns->nr_regions);
		list_del(&ns->node);
		mntput(ns->key);
		kfree(ns);
	}
	WARN_ON_ONCE(!hash_empty(shmk_users));
	kern_unmount(shmk_mnt);
}
