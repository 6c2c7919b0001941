// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: zero-trust payloads (SHMK_SVC_ZERO_TRUST).  Each
 * producer slot owns a range of the chunk indices (zt_range()); while a
 * producer holds the slot, those chunks' payloads live in a data region
 * that it alone created and can write.  Holders words, message headers,
 * rings and cursors stay in the service region, which every participant
 * writes; the data regions are what a consumer reads payloads from, and
 * it maps each one read-only, lazily, on the first sample from it.
 *
 * Names: "zt.<id>.<slot>.<gen>.<seg>", id a hash of the service's name
 * and of the identity of the object behind it (the device's region id,
 * the memfd rendezvous file's inode), computed by every participant from
 * its own handle, never read from shared memory.  A data region's header
 * is checked against what the reader computed itself.
 * Documentation/messaging.rst, "Zero-trust payloads", is the guide.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "svc.h"

/* Producer slot @k's chunks: [*lo, *lo + *n). */
void zt_range(const struct svc_view *v, uint32_t k, uint32_t *lo, uint32_t *n)
{
	uint32_t na = v->cfg.max_publishers;

	if (k < na) {
		*lo = k * v->g.zta;
		*n = v->g.zta;
	} else {
		*lo = na * v->g.zta + (k - na) * v->g.ztb;
		*n = v->g.ztb;
	}
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int zt_service_id(const struct shmk_region *r, const char *name, uint64_t *id)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, name, strlen(name));

	if (shmk_region_backend(r) == SHMK_BACKEND_DEVICE) {
		struct shmk_region_info info;

		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		if (ioctl(shmk_region_fd(r), SHMK_IOC_INFO, &info) < 0)
			return -errno;
		h = fnv1a(h, &info.id, sizeof(info.id));
	} else {
		struct stat st;
		uint64_t d[2];

		if (fstat(shmk_region_fd(r), &st) < 0)
			return -errno;
		d[0] = (uint64_t)st.st_dev;
		d[1] = (uint64_t)st.st_ino;
		h = fnv1a(h, d, sizeof(d));
	}
	*id = h;
	return 0;
}

/* The data region's name into @buf (SHMK_NAME_MAX): 0 or -EINVAL. */
int zt_name(char *buf, uint64_t id, uint32_t slot, uint32_t gen,
	    uint32_t seg)
{
	int n;

	if (slot >= SHMK_SVC_SLOTS_MAX || gen > ST_VMASK)
		return -EINVAL;
	n = snprintf(buf, SHMK_NAME_MAX, "zt.%016llx.%u.%x.%u",
		     (unsigned long long)id, slot, gen, seg);
	return n > 0 && n < SHMK_NAME_MAX ? 0 : -EINVAL;
}

/*
 * memfd: unlink every data region named for slot @k of this service
 * (slot_reclaim(): the slot is the reclaimer's, so none is live).
 */
void zt_unlink_slot(const struct svc_view *v, uint32_t k)
{
	char prefix[SHMK_NAME_MAX + 8];
	struct dirent *e;
	size_t n;
	DIR *d;

	n = (size_t)snprintf(prefix, sizeof(prefix), "shmk.zt.%016llx.%u.",
			     (unsigned long long)v->zt_id, k);
	d = opendir("/dev/shm");
	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, n))
			(void)shmk_region_unlink(e->d_name + 5);
	closedir(d);
}

struct zt_init_arg {
	const struct zt_hdr *h;
};

/* Runs before anyone can see the region (memfd) or use it (device). */
static int zt_init_cb(struct shmk_region *r, void *arg)
{
	const struct zt_init_arg *a = arg;
	struct zt_hdr *h = shmk_region_base(r);

	SHMK_CP();
	h->svc_id = a->h->svc_id;
	h->slot = a->h->slot;
	h->gen = a->h->gen;
	h->seg = a->h->seg;
	h->nchunks = a->h->nchunks;
	h->stride = a->h->stride;
	h->base = a->h->base;
	SHMK_CP();
	/*
	 * Release: pairs with zt_get()'s acquire load of the magic; the
	 * fields above come first.  (Consumers look only once our slot is
	 * ALIVE, a seq_cst store after this one, too.)
	 */
	atomic_store_explicit(&h->magic, ZT_MAGIC, memory_order_release);
	return 0;
}

/*
 * Producer port @p claiming slot @k with generation @gen (state CLAIM):
 * create its data region, writable by us only.  Device: mode r--r--r--
 * at most (the service's read bits), so the module gives every other
 * opener a read-only handle; memfd: the same mode on the rendezvous
 * file, and F_SEAL_FUTURE_WRITE once we have mapped it.
 */
int zt_create(struct shmk_port *p, uint32_t k, uint32_t gen, uint32_t seg)
{
	const struct svc_view *v = &p->v;
	char name[SHMK_NAME_MAX];
	struct shmk_region *r;
	struct zt_hdr h;
	uint32_t lo, n;
	int ret;

	zt_range(v, k, &lo, &n);
	if (!n)
		return 0;
	if (seg >= ZT_SEGS)
		return -EINVAL;
	if (!p->cseg) {
		/* Each chunk's segment: private, set at its loan. */
		p->cseg = calloc(n, 1);
		if (!p->cseg)
			return -ENOMEM;
	}
	ret = zt_name(name, v->zt_id, k, gen, seg);
	if (ret)
		return ret;
	memset(&h, 0, sizeof(h));
	h.svc_id = v->zt_id;
	h.slot = k;
	h.gen = gen;
	h.seg = seg;
	h.nchunks = n;
	h.stride = zt_stride(v, seg);
	h.base = lo;
	ret = shmk__region_create_init(name, ZT_DOFF + (uint64_t)n * h.stride,
				       v->cfg.mode & 0444,
				       SHMK__REGION_SEAL_WRITE, zt_init_cb,
				       &(struct zt_init_arg){ &h }, &r);
	if (ret < 0) {
		svc_err("zero-trust: cannot create the data region %s (%s)",
			name, strerror(-ret));
		return ret;
	}
	p->zseg[seg].r = r;
	p->zseg[seg].chunks = (unsigned char *)shmk_region_base(r) + ZT_DOFF;
	p->zcur = seg;
	p->zlo = lo;
	p->zn = n;
	return 0;
}

/* memfd: unlink segment @seg's name (see zt_close()). */
static void zt_unlink_seg(struct shmk_port *p, uint32_t seg)
{
	char name[SHMK_NAME_MAX];

	if (p->zseg[seg].r &&
	    shmk_region_backend(p->zseg[seg].r) == SHMK_BACKEND_MEMFD &&
	    !zt_name(name, p->v.zt_id, p->slot, p->gen, seg))
		(void)shmk_region_unlink(name);
}

/*
 * Dynamic payloads: let go of older segments none of whose chunks is
 * held any more.  A chunk keeps the segment of its last loan (cseg) until
 * we loan it again, which needs its holders word 0 first; so a word of
 * 0 on every chunk of segment s means that no ring entry, loan or
 * consumer references a sample in s, and none can again (a consumer
 * keeps a sample only if our bit was still set: cons_try_one()).
 * Consumers keep their own mappings.
 */
void zt_trim(struct shmk_port *p)
{
	uint32_t s, j;

	for (s = 0; s < p->zcur; s++) {
		if (!p->zseg[s].r)
			continue;
		for (j = 0; j < p->zn; j++)
			/*
			 * Relaxed (in hold_busy(), every word of the
			 * bitmap): see above; only our own mapping is at
			 * stake.
			 */
			if (p->cseg[j] == s && hold_busy(&p->v, p->zlo + j))
				break;
		if (j < p->zn)
			continue;
		zt_unlink_seg(p, s);
		shmk_region_close(p->zseg[s].r);
		p->zseg[s].r = NULL;
		p->zseg[s].chunks = NULL;
	}
}

static void zmap_drop(struct zt_map *m)
{
	shmk_region_close(m->r);
	memset(m, 0, sizeof(*m));
}

/*
 * Map producer @i's data region of generation @gen (read-only), checked:
 * 0 and the entry's index in *@mi, or -errno.
 */
static int zt_map_open(struct shmk_port *p, uint32_t i, uint32_t gen,
		       uint32_t seg, uint32_t *mi)
{
	const struct svc_view *v = &p->v;
	char name[SHMK_NAME_MAX];
	struct shmk_region *r;
	const struct zt_hdr *h;
	struct zt_map *m = NULL;
	uint64_t size;
	uint32_t lo, n, j;
	int ret;

	if (!p->zmaps) {
		/* Held samples pin max_borrow maps; one more per slot. */
		p->zmax = v->cfg.max_borrow + v->g.nslots;
		p->zmaps = calloc(p->zmax, sizeof(*p->zmaps));
		if (!p->zmaps)
			return -ENOMEM;
	}
	/* A free entry; maps of slot @i we hold nothing from go. */
	for (j = 0; j < p->zmax; j++) {
		struct zt_map *e = &p->zmaps[j];

		if (e->r && !e->held && e->slot == i)
			zmap_drop(e);
		if (!e->r && !m)
			m = e;
	}
	for (j = 0; !m && j < p->zmax; j++)
		if (!p->zmaps[j].held) {
			m = &p->zmaps[j];
			zmap_drop(m);
		}
	if (!m)
		return -ENOBUFS;
	zt_range(v, i, &lo, &n);
	ret = zt_name(name, v->zt_id, i, gen, seg);
	if (ret)
		return ret;
	SHMK_CP();	/* a crash point: killed while mapping (no store) */
	ret = shmk_region_open(name, SHMK_REGION_OPEN_RDONLY, &r);
	if (ret)
		return ret;
	/* The mapping's size, from our handle: read once. */
	size = shmk_region_size(r);
	h = shmk_region_base(r);
	/*
	 * Acquire: pairs with zt_init_cb()'s release.  Every field must be
	 * what we computed ourselves: nothing in it is taken on trust.
	 */
	if (size < ZT_DOFF + (uint64_t)n * zt_stride(v, seg) ||
	    atomic_load_explicit(&h->magic, memory_order_acquire) != ZT_MAGIC ||
	    h->svc_id != v->zt_id || h->slot != i || h->gen != gen ||
	    h->seg != seg || h->nchunks != n ||
	    h->stride != zt_stride(v, seg) || h->base != lo) {
		shmk_region_close(r);
		svc_err("zero-trust: the data region %s is not slot %u's", name,
			i);
		return -EBADMSG;
	}
	m->r = r;
	m->chunks = (unsigned char *)shmk_region_base(r) + ZT_DOFF;
	m->size = size;
	m->slot = i;
	m->gen = gen;
	m->seg = seg;
	m->held = 0;
	*mi = (uint32_t)(m - p->zmaps);
	return 0;
}

/*
 * Consumer @p takes chunk @c of producer @i, generation @gen: its payload
 * in *@data and its map in *@mi (for zt_put()).  -EBADMSG when @c is not
 * the producer's (a corrupt ring entry) or its region is not what it
 * should be; -ENOENT or -ENOLINK when the region is gone (its producer
 * left); another -errno.
 */
int zt_get(struct shmk_port *p, uint32_t i, uint32_t gen, uint32_t seg,
	   uint32_t c, unsigned char **data, uint32_t *mi)
{
	const struct svc_view *v = &p->v;
	struct zt_map *m = NULL;
	uint32_t lo, n, j;
	uint64_t off;
	int ret;

	zt_range(v, i, &lo, &n);
	/* A segment the producer cannot have (hostile header): refused. */
	if (c < lo || c - lo >= n || seg > zt_last(v))
		return -EBADMSG;
	for (j = 0; p->zmaps && j < p->zmax; j++)
		if (p->zmaps[j].r && p->zmaps[j].slot == i &&
		    p->zmaps[j].gen == gen && p->zmaps[j].seg == seg) {
			m = &p->zmaps[j];
			break;
		}
	if (!m) {
		ret = zt_map_open(p, i, gen, seg, &j);
		if (ret)
			return ret;
		m = &p->zmaps[j];
	}
	off = (uint64_t)(c - lo) * zt_stride(v, seg);
	/* Inside the mapping, by its size read once (zt_map_open()). */
	if (off + zt_stride(v, seg) > m->size - ZT_DOFF)
		return -EBADMSG;
	m->held++;
	*data = m->chunks + off;
	*mi = j;
	return 0;
}

/* A sample of map @mi released: unmap an old generation's when unused. */
void zt_put(struct shmk_port *p, uint32_t mi)
{
	struct zt_map *m;
	uint32_t st, j;

	if (!p->zmaps || mi >= p->zmax || !p->zmaps[mi].r)
		return;
	m = &p->zmaps[mi];
	if (m->held)
		m->held--;
	if (m->held)
		return;
	/* Relaxed: a hint; a producer still there is mapped again. */
	st = atomic_load_explicit(&p->v.slots[m->slot].state,
				  memory_order_relaxed);
	if (st != (ST_ALIVE | m->gen)) {
		zmap_drop(m);
		return;
	}
	/* Dynamic: a segment the producer has moved on from. */
	for (j = 0; j < p->zmax; j++)
		if (p->zmaps[j].r && p->zmaps[j].slot == m->slot &&
		    p->zmaps[j].gen == m->gen && p->zmaps[j].seg > m->seg) {
			zmap_drop(m);
			return;
		}
}

/*
 * Unmap everything (port close).  @unlink: the producer leaves for good
 * (its slot is FREE): on memfd its data region's name goes too, else it
 * would stay in /dev/shm when a consumer (a read-only holder, which
 * cannot sweep it) closes last.  A consumer that has not mapped it yet
 * counts the samples it had not taken as dropped, as for any producer
 * that left (chan.c).  The device forgets the name with the last handle.
 */
void zt_close(struct shmk_port *p, int unlink)
{
	uint32_t j;

	for (j = 0; p->zmaps && j < p->zmax; j++)
		if (p->zmaps[j].r)
			zmap_drop(&p->zmaps[j]);
	free(p->zmaps);
	p->zmaps = NULL;
	for (j = 0; j < ZT_SEGS; j++) {
		if (unlink)
			zt_unlink_seg(p, j);
		shmk_region_close(p->zseg[j].r);
		p->zseg[j].r = NULL;
		p->zseg[j].chunks = NULL;
	}
	free(p->cseg);
	p->cseg = NULL;
}
