// SPDX-License-Identifier: GPL-2.0
/*
 * shmk: the /dev/shmk misc device, its ioctls and the module's limits.
 *
 * /dev/shmk names regions (create, open, unlink, list); everything done
 * on a region goes through the region fd that create and open return.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compat.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>
#include "shmk.h"

/* The tracepoints are defined here, once (shmk_trace.h). */
#define CREATE_TRACE_POINTS
#include "shmk_trace.h"

/*
 * Byte parameters are at most SHMK_MAX_BYTES, a multiple of the page
 * size that no rounding or sum of two of them can overflow and that a
 * shmem file can have; larger values are refused with EINVAL.
 */
static int shmk_param_set_bytes(const char *val, const struct kernel_param *kp)
{
	unsigned long v;
	int err = kstrtoul(val, 0, &v);

	if (err)
		return err;
	if (v > SHMK_MAX_BYTES)
		return -EINVAL;
	WRITE_ONCE(*(unsigned long *)kp->arg, v);
	return 0;
}

static const struct kernel_param_ops shmk_param_bytes_ops = {
	.set	= shmk_param_set_bytes,
	.get	= param_get_ulong,
};

unsigned long shmk_max_region_bytes = SZ_1G;
module_param_cb(max_region_bytes, &shmk_param_bytes_ops,
		&shmk_max_region_bytes, 0644);
MODULE_PARM_DESC(max_region_bytes,
		 "Largest region, in bytes (default 1 GiB); larger creates fail with E2BIG");

unsigned long shmk_max_total_bytes;
module_param_cb(max_total_bytes, &shmk_param_bytes_ops,
		&shmk_max_total_bytes, 0644);
MODULE_PARM_DESC(max_total_bytes,
		 "Bytes all regions may take together (default 0: half of RAM at load); beyond, ENOSPC");

unsigned int shmk_max_regions = 1024;
module_param_named(max_regions, shmk_max_regions, uint, 0644);
MODULE_PARM_DESC(max_regions,
		 "Regions per IPC namespace, named or not (default 1024; a namespace's owner may set less); beyond, ENOSPC");

unsigned long shmk_max_user_bytes;
module_param_cb(max_user_bytes, &shmk_param_bytes_ops,
		&shmk_max_user_bytes, 0644);
MODULE_PARM_DESC(max_user_bytes,
		 "Bytes of regions one user may own in all namespaces together (default 0: half of max_total_bytes at load; a namespace's owner may set less); beyond, EDQUOT");

unsigned int shmk_max_user_regions = 512;
module_param_named(max_user_regions, shmk_max_user_regions, uint, 0644);
MODULE_PARM_DESC(max_user_regions,
		 "Regions one user may own in all namespaces together (default 512; a namespace's owner may set less); beyond, EDQUOT");

/**
 * shmk_copy_arg() - copy a size-prefixed ioctl argument from user space
 * @karg:	kernel copy, @ksize bytes
 * @ksize:	size of the struct the module knows
 * @minsize:	first published size of the struct
 * @uarg:	user pointer; its first __u32 is the caller's struct size
 *
 * Return: 0, -EFAULT for a bad pointer, -EINVAL for a size below
 * @minsize, -E2BIG for a larger struct whose unknown tail is not zero or
 * that is larger than a page.
 */
int shmk_copy_arg(void *karg, size_t ksize, size_t minsize,
		  const void __user *uarg)
{
	u32 usize;

	if (get_user(usize, (const u32 __user *)uarg))
		return -EFAULT;
	if (usize < minsize)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	return copy_struct_from_user(karg, ksize, uarg, usize);
}

/*
 * The first published size of the struct of @cmd, one of ours: the size
 * bits of its number, unless the struct has grown since.
 */
static unsigned int shmk_ioc_first_size(unsigned int cmd)
{
	if (SHMK_IOC_BASE(cmd) == SHMK_IOC_BASE(SHMK_IOC_ON_RELEASE))
		return SHMK_ON_RELEASE_SIZE_VER0;
	return _IOC_SIZE(cmd);
}

/**
 * shmk_ioc_size_ok() - whether the size bits of an ioctl number fit
 * @cmd:	the ioctl number
 *
 * The size field of the argument is the authority, so the size bits may
 * be anything a caller's struct could have: 0 (callers that build the
 * number without a size) or at least the command's first published
 * size.  A smaller nonzero size is another driver's ioctl that happens
 * to share our magic and number, never ours.
 *
 * Return: true if @cmd may be one of ours.
 */
bool shmk_ioc_size_ok(unsigned int cmd)
{
	static const unsigned int known[] = {
		SHMK_IOC_CREATE, SHMK_IOC_OPEN, SHMK_IOC_UNLINK, SHMK_IOC_LIST,
		SHMK_IOC_GET_LIMITS, SHMK_IOC_SET_LIMITS, SHMK_IOC_INFO,
		SHMK_IOC_WAIT, SHMK_IOC_WAKE, SHMK_IOC_WAITV, SHMK_IOC_WATCH,
		SHMK_IOC_ACK, SHMK_IOC_ON_RELEASE,
	};
	unsigned int size = _IOC_SIZE(cmd);
	size_t i;

	if (!size)
		return true;
	for (i = 0; i < ARRAY_SIZE(known); i++)
		if (SHMK_IOC_BASE(cmd) == SHMK_IOC_BASE(known[i]))
			return size >= shmk_ioc_first_size(known[i]);
	return true;
}

/**
 * shmk_user_ptr() - a user pointer carried in a __u64 field
 * @v:		the field
 * @p:		the pointer
 *
 * 32-bit callers' pointers go through compat_ptr() (which matters where
 * their address space is not the bottom of the 64-bit one, as on s390).
 *
 * Return: 0, or -EFAULT for a 32-bit caller's value above 4 GiB.
 */
int shmk_user_ptr(u64 v, void __user **p)
{
#ifdef CONFIG_COMPAT
	if (in_compat_syscall()) {
		if (upper_32_bits(v))
			return -EFAULT;
		*p = compat_ptr((compat_uptr_t)v);
		return 0;
	}
#endif
	*p = u64_to_user_ptr(v);
	return 0;
}

static long shmk_dev_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (!shmk_ioc_size_ok(cmd))
		return -ENOTTY;
	switch (SHMK_IOC_BASE(cmd)) {
	case SHMK_IOC_BASE(SHMK_IOC_CREATE):
		return shmk_ioctl_create(uarg);
	case SHMK_IOC_BASE(SHMK_IOC_OPEN):
		return shmk_ioctl_open(uarg);
	case SHMK_IOC_BASE(SHMK_IOC_UNLINK):
		return shmk_ioctl_unlink(uarg);
	case SHMK_IOC_BASE(SHMK_IOC_LIST):
		return shmk_ioctl_list(uarg);
	case SHMK_IOC_BASE(SHMK_IOC_GET_LIMITS):
		return shmk_ioctl_get_limits(uarg);
	case SHMK_IOC_BASE(SHMK_IOC_SET_LIMITS):
		return shmk_ioctl_set_limits(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations shmk_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= shmk_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice shmk_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "shmk",
	.fops	= &shmk_dev_fops,
	.mode	= 0666,
};

static int __init shmk_init(void)
{
	int err;

	if (!shmk_max_total_bytes)
		shmk_max_total_bytes = min_t(u64, SHMK_MAX_BYTES,
					     (totalram_pages() << PAGE_SHIFT) / 2);
	/* One user alone cannot take what all users share. */
	if (!shmk_max_user_bytes)
		shmk_max_user_bytes = round_down(shmk_max_total_bytes / 2,
						 SHMK_PAGE_SIZE);

	err = shmk_notify_init();
	if (err)
		return err;
	err = shmk_region_init();
	if (err)
		goto err_notify;
	err = misc_register(&shmk_miscdev);
	if (err)
		goto err_region;
	return 0;

err_region:
	shmk_region_exit();
err_notify:
	shmk_notify_exit();
	return err;
}

static void __exit shmk_exit(void)
{
	misc_deregister(&shmk_miscdev);
	shmk_region_exit();
	shmk_notify_exit();
}

module_init(shmk_init);
module_exit(shmk_exit);

MODULE_DESCRIPTION("Named hugepage-backed shared memory regions with wait/wake notifications");
MODULE_AUTHOR("The shmk authors");
MODULE_LICENSE("GPL");
