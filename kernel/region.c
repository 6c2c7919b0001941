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
 * again, so they are dropped, persistent or not (shmk_reap()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
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
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/stringhash.h>
#include <linux/uaccess.h>
#include "shmk.h"

#ifndef CONFIG_POSIX_MQUEUE
#error "shmk keys IPC namespaces by their mqueue mount: CONFIG_POSIX_MQUEUE is needed"
#endif

/**
 * struct shmk_ns - the regions of one IPC namespace
 * @node:	link in shmk_namespaces
 * @key:	the namespace's mqueue mount, pinned
 * @nr_regions:	regions created in it that still exist
 * @reaped:	the namespace died and its names were dropped
 */
struct shmk_ns {
	struct list_head node;
	struct vfsmount *key;
	unsigned int nr_regions;
	bool reaped;
};

/* Protects the name hash, the namespaces and the accounting below. */
static DEFINE_MUTEX(shmk_lock);
static LIST_HEAD(shmk_namespaces);
static DEFINE_HASHTABLE(shmk_names, 8);
static u64 shmk_total_bytes;
static u64 shmk_next_id = 1;

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
	r->named = false;
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
 * a persistent region does not outlive its namespace.  Called before
 * each name operation; the common case is one short list walk.
 */
static void shmk_reap(void)
{
	struct shmk_region *r;
	struct hlist_node *tmp;
	struct shmk_ns *ns;
	struct file *put;
	int bkt;

	do {
		put = NULL;
		mutex_lock(&shmk_lock);
		list_for_each_entry(ns, &shmk_namespaces, node) {
			if (ns->reaped || !shmk_ns_dead(ns))
				continue;
			hash_for_each_safe(shmk_names, bkt, tmp, r, hnode) {
				if (r->ns != ns)
					continue;
				shmk_unname(r);
				if (r->persist) {
					r->persist = false;
					put = r->shmem;
					goto unlock;
				}
			}
			ns->reaped = true;
		}
unlock:
		mutex_unlock(&shmk_lock);
		if (put)
			fput(put);
	} while (put);
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

	if (ns) {
		mutex_lock(&shmk_lock);
		if (r->named)
			shmk_unname(r);
		shmk_total_bytes -= r->bytes;
		if (!--ns->nr_regions) {
			list_del(&ns->node);
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
	atomic_dec(&r->handles);
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

/* Fill @info from @r; the caller holds a reference on r->shmem. */
static void shmk_region_info(struct shmk_region *r,
			     struct shmk_region_info *info)
{
	struct user_namespace *user_ns = current_user_ns();

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	mutex_lock(&shmk_lock);
	if (r->persist)
		info->flags |= SHMK_INFO_PERSIST;
	if (!r->named)
		info->flags |= SHMK_INFO_UNLINKED;
	mutex_unlock(&shmk_lock);
	info->bytes = r->bytes;
	info->id = r->id;
	info->uid = from_kuid_munged(user_ns, r->uid);
	info->gid = from_kgid_munged(user_ns, r->gid);
	info->mode = r->mode;
	info->handles = atomic_read(&r->handles);
	strscpy(info->name, r->name, sizeof(info->name));
	shmk_region_usage(r, &info->resident_bytes, &info->huge_bytes);
}

/*
 * Copy @info out as a struct of @usize bytes: the part both sides know,
 * with its size field saying how much that is, and zeros after it.
 */
static int shmk_info_to_user(void __user *uinfo, u32 usize,
			     struct shmk_region_info *info)
{
	size_t n = min_t(size_t, usize, sizeof(*info));

	info->size = n;
	if (copy_to_user(uinfo, info, n))
		return -EFAULT;
	if (usize > n && clear_user(uinfo + n, usize - n))
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
	shmk_region_info(h->region, &info);
	return shmk_info_to_user(uarg, usize, &info);
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
	.unlocked_ioctl		= shmk_region_ioctl,
	.compat_ioctl		= compat_ptr_ioctl,
	.llseek			= noop_llseek,
};

/*
 * Give @r a name in the caller's namespace.  @spare is a namespace
 * struct allocated beforehand, used if the namespace has none yet;
 * returns whether it was used through @used.
 */
static int shmk_insert_locked(struct shmk_region *r, struct shmk_ns *spare,
			      bool *used)
{
	struct shmk_ns *ns = shmk_ns_find();
	struct shmk_region *other = ns ? shmk_lookup(ns, r->name) : NULL;

	lockdep_assert_held(&shmk_lock);
	if (other) {
		/* A region whose last reference is gone is being freed. */
		if (file_count(other->shmem))
			return -EEXIST;
		shmk_unname(other);
	}
	if ((ns ? ns->nr_regions : 0) >= READ_ONCE(shmk_max_regions))
		return -ENOSPC;
	if (shmk_total_bytes + r->bytes > READ_ONCE(shmk_max_total_bytes))
		return -ENOSPC;
	if (!ns) {
		ns = spare;
		ns->key = mntget(shmk_current_ns_key());
		list_add(&ns->node, &shmk_namespaces);
		*used = true;
	}
	ns->nr_regions++;
	shmk_total_bytes += r->bytes;
	r->ns = ns;
	r->id = shmk_next_id++;
	r->named = true;
	hash_add(shmk_names, &r->hnode, shmk_name_hash(ns, r->name));
	return 0;
}

static long shmk_region_create(const struct shmk_create *arg, u64 bytes)
{
	struct shmk_region *r;
	struct shmk_ns *spare;
	struct file *shmem, *file;
	/* Decided once: the name owns the creation reference. */
	bool persist = arg->flags & SHMK_CREATE_PERSIST;
	bool used = false;
	int fd, err;

	spare = kzalloc(sizeof(*spare), GFP_KERNEL);
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!spare || !r) {
		err = -ENOMEM;
		goto err_free;
	}
	strscpy(r->name, arg->name, sizeof(r->name));
	r->bytes = bytes;
	r->uid = current_fsuid();
	r->gid = current_fsgid();
	r->mode = arg->mode;
	r->persist = persist;
	atomic_set(&r->handles, 0);

	shmem = shmem_file_setup_with_mnt(shmk_mnt, r->name, bytes,
					  VM_NORESERVE);
	if (IS_ERR(shmem)) {
		err = PTR_ERR(shmem);
		goto err_free;
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
	err = shmk_insert_locked(r, spare, &used);
	mutex_unlock(&shmk_lock);
	if (err)
		goto err_file;
	if (!used)
		kfree(spare);
	/*
	 * A persistent region's name keeps the creation reference.  The
	 * name is public now: an UNLINK may already have dropped it and
	 * cleared r->persist, so decide from our own copy, never from r.
	 */
	if (!persist)
		fput(shmem);
	fd_install(fd, file);
	return fd;

err_file:
	fput(file);
err_fd:
	put_unused_fd(fd);
err_shmem:
	fput(shmem);
	kfree(spare);
	return err;
err_free:
	kfree(r);
	kfree(spare);
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
			r->persist = false;
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

long shmk_ioctl_list(void __user *uarg)
{
	struct shmk_region_info info;
	struct shmk_region **snap = NULL;
	struct shmk_region *r;
	struct shmk_list arg;
	struct shmk_ns *ns;
	u32 total = 0, n = 0, i;
	int err, bkt;

	err = shmk_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags)
		return -EINVAL;
	if (arg.count && (arg.entry_size < sizeof(info) ||
			  arg.entry_size > PAGE_SIZE))
		return -EINVAL;

	shmk_reap();
	mutex_lock(&shmk_lock);
	ns = shmk_ns_find();
	if (ns)
		total = ns->nr_regions;
	if (arg.count && total) {
		snap = kvmalloc_array(min(arg.count, total), sizeof(*snap),
				      GFP_KERNEL);
		if (!snap) {
			mutex_unlock(&shmk_lock);
			return -ENOMEM;
		}
	}
	total = 0;
	if (ns) {
		hash_for_each(shmk_names, bkt, r, hnode) {
			if (r->ns != ns || !file_count(r->shmem))
				continue;
			if (n < arg.count && get_file_rcu(r->shmem))
				snap[n++] = r;
			total++;
		}
	}
	mutex_unlock(&shmk_lock);

	/* Fill and copy without the lock: the snapshot holds references. */
	err = 0;
	for (i = 0; i < n; i++) {
		void __user *dst = u64_to_user_ptr(arg.entries) +
				   (u64)i * arg.entry_size;

		if (!err) {
			shmk_region_info(snap[i], &info);
			err = shmk_info_to_user(dst, arg.entry_size, &info);
		}
		fput(snap[i]->shmem);
	}
	kvfree(snap);
	if (err)
		return err;
	if (put_user(total, &((struct shmk_list __user *)uarg)->count))
		return -EFAULT;
	return 0;
}

int __init shmk_region_init(void)
{
	struct file_system_type *tmpfs;
	struct file *probe;
	char opts[] = "huge=always";

	tmpfs = get_fs_type("tmpfs");
	if (!tmpfs)
		return -ENODEV;
	/* tmpfs is built in: get_fs_type() took no module reference. */
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

void shmk_region_exit(void)
{
	kern_unmount(shmk_mnt);
}
