/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk private definitions: the region handle and the backend ops.
 */
#ifndef SHMK_LIB_INTERNAL_H
#define SHMK_LIB_INTERNAL_H

#include <stdint.h>
#include <shmk/shmk.h>
#include "crashpoint.h"

/**
 * struct shmk_backend_ops - what differs between the device and memfd
 * @create:	create a region; return its fd (O_CLOEXEC) or -errno
 * @open:	open a region by name; return its fd or -errno
 * @unlink:	remove a name; 0 or -errno
 * @size:	the region's size in bytes from its fd; 0 or -errno
 * @wait:	futex-like wait on the word at @off
 * @wake:	wake on the word at @off; the number woken or -errno
 * @release:	optional; closes r->fd for shmk_region_close() after the
 *		munmap (memfd: drops the handle's hold and sweeps the name
 *		when it was the last holder); without it, close(r->fd)
 */
struct shmk_backend_ops {
	int (*create)(const char *name, uint64_t bytes, unsigned int mode,
		      unsigned int flags);
	int (*open)(const char *name, unsigned int flags);
	int (*unlink)(const char *name);
	int (*size)(int fd, uint64_t *bytes);
	int (*wait)(const struct shmk_region *r, uint64_t off, uint32_t expected,
		    int64_t timeout_ns);
	int (*wake)(const struct shmk_region *r, uint64_t off, uint32_t count);
	void (*release)(struct shmk_region *r);
};

extern const struct shmk_backend_ops shmk_device_ops;
extern const struct shmk_backend_ops shmk_memfd_ops;

/* Immutable after create/open: safe to share between threads. */
struct shmk_region {
	const struct shmk_backend_ops *ops;
	unsigned char *base;
	uint64_t size;
	int fd;
	int backend;
	int writable;
	/* memfd: the process that opened @fd (a fork child's close is plain). */
	int pid;
	/* memfd: the region's name, for the sweep on close. */
	char name[SHMK_NAME_MAX];
	/*
	 * memfd: the sealed memfd's entry in this process's broker (broker.c)
	 * when the region is one, NULL when the file behind @fd is itself
	 * mapped (SHMK_REGION_PERSIST).  @fd is the rendezvous file either way:
	 * the liveness and per-slot OFD locks live on it.
	 */
	struct shmk_brk *brk;
};

/* Internal flag of shmk__region_create_init(), never public. */
#define SHMK__REGION_OPEN_OWN	(1U << 31)
/*
 * Internal flag of shmk__region_create_init(): nobody but this handle
 * may ever write the region (zero-trust data regions).  memfd: sealed
 * F_SEAL_FUTURE_WRITE once mapped; the device needs nothing (the mode
 * decides), nor does a persistent memfd region (-EINVAL with it).
 */
#define SHMK__REGION_SEAL_WRITE	(1U << 30)

/*
 * Create a region and initialise it before anyone can open it: on memfd
 * the file is built unnamed, mapped, handed to @init, and only then
 * linked to its name, so a creator that dies in @init leaves nothing
 * behind and an opener never sees a half-made region.  On the device
 * the region is created, then @init runs (a creator that dies takes a
 * non-persistent region with it).  @init may be NULL; its negative
 * return fails the create (the region is discarded).  Flags and errors
 * as shmk_region_create(); SHMK_REGION_RDONLY with @init is -EINVAL.
 *
 * With SHMK__REGION_OPEN_OWN in @flags, a name already taken is opened
 * read-write instead, as shmk__region_open_own() does (memfd: the file
 * must be the caller's and no wider than @mode, else -EPERM), and the
 * call returns 1; a region that goes away between the two is created
 * after all (bounded retries).  @init did not run on an opened region.
 *
 * Return: 0 created, 1 opened (SHMK__REGION_OPEN_OWN), or -errno.
 */
int shmk__region_create_init(const char *name, uint64_t size,
			     unsigned int mode, unsigned int flags,
			     int (*init)(struct shmk_region *r, void *arg),
			     void *arg, struct shmk_region **out);

/*
 * Open a region read-write that the caller meant to create (CREATE
 * without EXCL found the name taken): on memfd the file must belong to
 * the caller's euid (else -EPERM) and grant nothing beyond @mode (else
 * -EPERM), so a file another user put there first is refused.  On the
 * device it is shmk_region_open(name, 0, out).
 */
int shmk__region_open_own(const char *name, unsigned int mode,
			  struct shmk_region **out);

/* The memfd backend beyond its ops (backend_memfd.c, used by region.c). */
struct shmk_memfd_tmp {
	int fd;			/* read-write, holding the live lock */
	char path[64];		/* temporary name, "" for an O_TMPFILE */
};
int shmk__memfd_prepare(uint64_t bytes, unsigned int mode, unsigned int flags,
			struct shmk_memfd_tmp *t);
int shmk__memfd_publish(const struct shmk_memfd_tmp *t, const char *name);
void shmk__memfd_discard(struct shmk_memfd_tmp *t);
int shmk__memfd_open(const char *name, unsigned int flags, int own_mode);
void shmk__memfd_drop(int fd, const char *name);
int shmk__memfd_hold(int fd, int on);
int shmk__memfd_husk(int fd, const char *name);

/*
 * Sealed memfd regions (broker.c).  The memfd is the region plus one
 * trailer page (not mapped) that names it by its token.
 *
 * shmk__brk_create(): make the sealed memfd (named "shmk.@name" in
 *	/proc/PID/maps) for a region of @bytes behind
 *	the unlinked rendezvous file @rfd, write @rfd's header, and serve it;
 *	*@mapfd a read-write fd to map (the caller's), *@out the entry.
 * shmk__brk_attach(): the memfd behind the linked rendezvous @rfd, from
 *	this process's entries or from a serving peer; *@mapfd read-write
 *	when @writable (then @rfd must be O_RDWR), *@bytes the region's size.
 *	-EBADMSG: the header is bad; -ENOLINK: no peer handed over a good
 *	memfd; -EACCES: one refused us.
 * shmk__brk_put(): drop a reference from create or attach (NULL: none).
 * shmk__rdv_read(): the region size from a rendezvous header, or -EBADMSG.
 */
#define SHMK_MEMFD_TRAILER	4096ULL
struct shmk_brk;
int shmk__brk_create(int rfd, const char *name, uint64_t bytes, int *mapfd,
		     struct shmk_brk **out);
/* ...with @seal_later: F_SEAL_SEAL left for shmk__brk_seal_write(). */
int shmk__brk_create_f(int rfd, const char *name, uint64_t bytes,
		       int seal_later, int *mapfd, struct shmk_brk **out);
int shmk__brk_seal_write(struct shmk_brk *e);
int shmk__brk_attach(int rfd, int writable, int *mapfd, uint64_t *bytes,
		     struct shmk_brk **out);
void shmk__brk_put(struct shmk_brk *e);
int shmk__rdv_read(int fd, uint64_t *bytes);

/*
 * A private copy of the geometry fields of a struct shmk_obj_hdr, read
 * once from shared memory by shmk_obj_check().  Attach validates this
 * copy and fills its handle only from it: a peer that rewrites the shared
 * header meanwhile cannot make attach use a value it never checked.
 */
struct shmk_obj_geom {
	uint32_t flags;
	uint32_t elem_size;
	uint32_t capacity;
	uint32_t stride;
	uint64_t total_size;
	uint64_t data_offset;
};

/*
 * Read a plain field of a shared header exactly once: a relaxed atomic
 * load, so the compiler can neither tear it nor load it again later.
 * Relaxed suffices: the header is ordered after its initialisation by the
 * acquire load of the magic in shmk_obj_check(), and a value a peer
 * changes afterwards is only ever validated, never trusted.
 */
#define SHMK_READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/*
 * Register a conditional death notice on @r's region file (device
 * backend; backend_device.c): 0, -EOPNOTSUPP (memfd, or an older
 * module) or -errno.
 */
int shmk__on_release_cmpxchg(const struct shmk_region *r, const void *slot,
			     uint32_t expected, uint32_t mask, uint32_t value,
			     const void *counter);

/* Validate an object header at @offset in @r (obj.c). */
int shmk_obj_place(const struct shmk_region *r, uint64_t offset,
		   uint64_t size, void **out);
int shmk_obj_check(const struct shmk_region *r, uint64_t offset,
		   uint32_t magic, uint64_t shared_size, void **out,
		   struct shmk_obj_geom *geom);
void shmk_obj_publish(struct shmk_obj_hdr *h, uint32_t magic);

/* Monotonic deadline helpers (notify.c). */
int64_t shmk_now_ns(void);
int64_t shmk_deadline(int64_t timeout_ns);
int64_t shmk_remaining(int64_t deadline);

static inline void shmk_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Waiting (Documentation/library.rst, "Waiting"): every blocking call
 * spins for a time budget, then sleeps.  The budget's ceiling is the
 * process's (SHMK_SPIN_NS, shmk_spin_ns(); 0 when only one CPU is
 * usable); each waiter learns its own budget below that ceiling from its
 * recent waits, in a process-local word (@state: 0 for a new waiter):
 * bits 0-7 the level (budget = ceiling / 4^level; level SHMK_SPIN_OFF
 * spins not at all), bits 8-31 a count of its waits, for the probes.
 *
 *	struct shmk_spin_run run;
 *
 *	shmk_spin_begin(&state, &run, deadline);
 *	while (shmk_spin_more(&run))
 *		if (try() succeeded) { shmk_spin_end(&state, &run, 1); return; }
 *	shmk_spin_end(&state, &run, 0);
 *	... sleep, with the usual protocol ...
 */
struct shmk_spin_run {
	int64_t until;		/* CLOCK_MONOTONIC ns: stop spinning */
	uint32_t limit;		/* this wait's budget, ns (0: no spin) */
	uint32_t n;		/* tries so far */
	uint32_t every;		/* look at the clock every this many tries */
	int probe;		/* a full-budget try of a waiter that had stopped */
};

#define SHMK_SPIN_OFF		4	/* levels: ceiling, /4, /16, /64, none */
#define SHMK_SPIN_PROBE		8	/* a stopped waiter probes one wait in 8 */
#define SHMK_SPIN_DEFAULT_NS	20000	/* the ceiling unless told otherwise */
#define SHMK_SPIN_MAX_NS	1000000000LL

void shmk_spin_begin(uint32_t *state, struct shmk_spin_run *run,
		     int64_t deadline);
void shmk_spin_end(uint32_t *state, const struct shmk_spin_run *run, int won);

static inline int shmk_spin_more(struct shmk_spin_run *run)
{
	if (!run->limit)
		return 0;
	if (++run->n % run->every == 0 && shmk_now_ns() >= run->until)
		return 0;
	shmk_cpu_relax();
	return 1;
}

/*
 * Tests: set the process's spin configuration as if at load, with @cpus
 * usable CPUs and SHMK_SPIN_NS = @env (NULL: unset).  Returns the ceiling.
 */
int64_t shmk__spin_setup(int cpus, const char *env);
/* The calibrated tries per clock look (tests and the docs' claims). */
uint32_t shmk__spin_every(void);

#endif /* SHMK_LIB_INTERNAL_H */
