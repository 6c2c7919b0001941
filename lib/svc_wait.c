// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk services: sleeping and waking.
 *
 * A blocked port sleeps on its own slot's wake word, with its bit set in
 * one of the two sleeping masks of the service (data or room).  A waker
 * wakes exactly the slots it has something for whose bit is set and
 * which are alive, so a dead sleeper costs nothing once swept, and a
 * response to one client wakes no other.  The no-lost-wake-up argument
 * is in Documentation/messaging.rst ("Sleeping and waking").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "svc.h"

/* Wake syscalls this process made (a statistic for the tests). */
_Atomic unsigned long shmk__svc_wakes;

/*
 * memfd's sleep slice; a test that must see every missed wake-up hang
 * raises it.
 */
int64_t shmk__svc_slice_ns = SLEEP_SLICE_NS;

/* Datagrams sent to memfd watch sockets (a statistic for the tests). */
_Atomic unsigned long shmk__svc_watch_sends;

/*
 * memfd: the abstract address of slot @k's watch socket with token @tok,
 * "\0shmk-<slot>-<token>"; returns the address's length.  Abstract
 * addresses belong to the network namespace: watcher and wakers must
 * share one (Documentation/messaging.rst, "Waiting in an event loop").
 */
static socklen_t watch_addr(struct sockaddr_un *a, uint32_t k, uint32_t tok)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1,
		     "shmk-%u-%08x", k, tok);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (socklen_t)n);
}

/*
 * memfd: make slot @k's watch socket readable, from @p's sending socket
 * (made on first use).  0, or -1 when no socket could be made (the
 * caller then leaves the fd armed, for the next waker).  A missing
 * socket (ECONNREFUSED) belongs to a watcher that left: fine.  EAGAIN
 * has two causes: the watcher's queue is full (it is readable already:
 * fine), or our own send buffer is, because a Unix datagram counts
 * against its sender until its receiver reads it, and a publisher with
 * a few hundred watchers that have not read yet fills it (about 280 on
 * Linux 6.x's default 208 KiB).  The second would lose the wake-up:
 * then a fresh socket, whose buffer is empty, sends it again (the old
 * one's datagrams stay queued at their watchers), and an EAGAIN from
 * that one is the watcher's full queue.
 */
static int watch_send(struct shmk_port *p, uint32_t k)
{
	struct sockaddr_un a;
	socklen_t len;
	/*
	 * Relaxed: after our acquire load of the watch mask, which saw the
	 * bit its port set after its release store of wtok.
	 */
	uint32_t tok = atomic_load_explicit(&p->v.slots[k].wtok,
					    memory_order_relaxed);
	int tries;

	len = watch_addr(&a, k, tok);
	for (tries = 0; tries < 2; tries++) {
		if (p->sfd < 0) {
			p->sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
					SOCK_CLOEXEC, 0);
			if (p->sfd < 0)
				return -1;
		}
		if (sendto(p->sfd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&a, len) >= 0 ||
		    errno != EAGAIN)
			break;
		close(p->sfd);
		p->sfd = -1;
	}
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&shmk__svc_watch_sends, 1,
				  memory_order_relaxed);
	return 0;
}

/*
 * Wake the live slots of [@lo, @hi) whose bit is set in mask @which; with
 * a data wake (@p the waker's port, not NULL), also the armed fds of the
 * slots of the range that have one (the watch mask): make the fd
 * readable, then disarm it by a CAS from the value seen.  A waker killed
 * before the CAS leaves the fd armed for the next waker (a spurious
 * wake-up at worst); a stale CAS fails on a newer arm; and a dead watcher
 * costs one datagram (or wake), as the first waker disarms it.  Cost:
 * the words of the masks that cover the range (ceil(slots / 64) loads
 * each), then one wake per sleeper found: an idle participant costs
 * nothing but its bit.
 */
static void wake_mask(struct shmk_port *p, const struct svc_view *v,
		      int which, uint32_t lo, uint32_t hi)
{
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	_Atomic uint64_t *mask = mask_of(v, which), *watch = mask_of(v, MASK_WATCH);
	uint64_t m, sl_m, w, bit, want;
	uint32_t k, a, wd;

	if (hi > v->g.nslots)	/* our own ranges, but be safe */
		hi = v->g.nslots;
	if (lo >= hi)
		return;
	/*
	 * Seq_cst fence: the waker's half of the Dekker pairing with
	 * svc_block_on() (sleeper: set bit, fence, re-check) and with
	 * watch_arm() (watcher: arm, fence, re-check).  Our store of what
	 * the sleeper waits for precedes this fence; the fences are totally
	 * ordered, so either the sleeper's re-check sees our store, or our
	 * loads below see its bit (its arm).
	 */
	atomic_thread_fence(memory_order_seq_cst);
	for (wd = SLOT_WORD(lo); wd <= SLOT_WORD(hi - 1); wd++) {
		want = ~0ULL;
		if (wd == SLOT_WORD(lo))
			want &= ~0ULL << (lo & 63);
		if (wd == SLOT_WORD(hi - 1) && (hi & 63))
			want &= ~0ULL >> (64 - (hi & 63));
		/*
		 * Acquire: pairs with the sleeper's seq_cst fetch_or of its
		 * bit, which follows its store of ALIVE: the state check
		 * below sees it.
		 */
		sl_m = atomic_load_explicit(&mask[wd], memory_order_acquire) &
		       want;
		w = 0;
		if (p)
			/*
			 * Acquire: pairs with the watcher's seq_cst fetch_or
			 * of its watch bit, after its release store of wtok.
			 */
			w = atomic_load_explicit(&watch[wd],
						 memory_order_acquire) & want;
		m = sl_m | w;
		while (m) {
			struct svc_slot *sl;
			int armed = 0;

			bit = m & -m;
			m &= m - 1;
			k = wd * 64 + (uint32_t)__builtin_ctzll(bit);
			sl = &v->slots[k];
			/* Relaxed: ordered by the acquire above; a dead slot sleeps not. */
			if (ST_TAG(atomic_load_explicit(&sl->state,
					memory_order_relaxed)) != ST_ALIVE)
				continue;
			a = 0;
			if (w & bit) {
				/*
				 * Relaxed: after our fence, which is what
				 * pairs with the watcher's fence after its
				 * seq_cst arm.
				 */
				a = atomic_load_explicit(&sl->armed,
							 memory_order_relaxed);
				armed = a & 1;
			}
			/* No socket (out of fds): left armed for the next waker. */
			if (armed && !dev && watch_send(p, k) < 0)
				armed = 0;
			/* The device's watch is signalled by a wake of the word. */
			if (sl_m & bit || (armed && dev)) {
				SHMK_CP();
				/*
				 * Release: pairs with the sleeper's acquire
				 * load of its wake word: if it reads this
				 * increment, our store is visible to its
				 * re-check; if not, its wait returns at once
				 * (-EAGAIN) or is woken by the wake below.
				 */
				atomic_fetch_add_explicit(&sl->wake, 1,
							  memory_order_release);
				shmk_wake(v->r, (const void *)&sl->wake,
					  SHMK_WAKE_ALL);
				/* Relaxed: a statistic. */
				atomic_fetch_add_explicit(&shmk__svc_wakes, 1,
							  memory_order_relaxed);
			}
			if (armed) {
				SHMK_CP();
				/*
				 * Relaxed: disarming publishes nothing (the
				 * fd being readable is what the watcher acts
				 * on); from the exact value seen, so a newer
				 * arm stays.
				 */
				atomic_compare_exchange_strong_explicit(
					&sl->armed, &a, a & ~1U,
					memory_order_relaxed,
					memory_order_relaxed);
			}
		}
	}
}

/*
 * After a producer published into ring @ri: wake its consumers (the
 * server wakes the one client whose ring it wrote).
 */
void svc_wake_cons(struct shmk_port *p, uint32_t ri)
{
	if (p->role == ROLE_SERVER)
		wake_mask(p, &p->v, MASK_DATA, ri, ri + 1);
	else
		wake_mask(p, &p->v, MASK_DATA, p->clo, p->chi);
}

/* After a consumer advanced its cursor on producer @i: wake @i if it waits. */
void svc_wake_prod(const struct svc_view *v, uint32_t i)
{
	wake_mask(NULL, v, MASK_ROOM, i, i + 1);
}

/*
 * After a notifier set the event bits of the listeners [@lo, @hi): their
 * sleepers and their armed port fds.
 */
void svc_wake_events(struct shmk_port *p, uint32_t lo, uint32_t hi)
{
	wake_mask(p, &p->v, MASK_DATA, lo, hi);
}

/* The sleepers only (no port fds: a blackboard reader has none). */
void svc_wake_listeners(const struct svc_view *v, uint32_t lo, uint32_t hi)
{
	wake_mask(NULL, v, MASK_DATA, lo, hi);
}

/* A consumer left or was reclaimed: every producer waiting for room. */
void svc_wake_room(const struct svc_view *v)
{
	wake_mask(NULL, v, MASK_ROOM, 0, v->g.nslots);
}

/* Device: sleep until our wake word or the death counter moves. */
static int sleep_device(const struct svc_view *v, const struct svc_slot *sl,
			uint32_t e, uint32_t d, int64_t left)
{
	struct shmk_waitv_entry ent[2];
	struct shmk_waitv w;
	const unsigned char *b = shmk_region_base(v->r);

	memset(ent, 0, sizeof(ent));
	ent[0].offset = (uint64_t)((const unsigned char *)&sl->wake - b);
	ent[0].expected = e;
	ent[0].bitset = SHMK_BITSET_ANY;
	ent[1].offset = (uint64_t)((const unsigned char *)&v->sh->deaths - b);
	ent[1].expected = d;
	ent[1].bitset = SHMK_BITSET_ANY;
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.entries = (uint64_t)(uintptr_t)ent;
	w.nr = 2;
	if (left >= 0) {
		w.flags = SHMK_WAIT_TIMEOUT;
		w.timeout_ns = (uint64_t)left;
	}
	return ioctl(shmk_region_fd(v->r), SHMK_IOC_WAITV, &w) < 0 ? -errno : 0;
}

/*
 * memfd: nothing announces a death, so a sleeper wakes every slice; one
 * recovery per slice per service handle (so per process, normally), not
 * one per sleeper.
 */
static void slice_recover(struct shmk_service *s)
{
	int64_t now = shmk_now_ns();
	/* Relaxed: a rate limit; the CAS picks one thread per slice. */
	int64_t last = atomic_load_explicit(&s->recover_ns, memory_order_relaxed);

	if (now - last < shmk__svc_slice_ns ||
	    !atomic_compare_exchange_strong_explicit(&s->recover_ns, &last, now,
			memory_order_relaxed, memory_order_relaxed))
		return;
	view_recover(&s->v);
}

/*
 * Port fds (shmk_port_fd()).  A port with an fd has its bit in the
 * service's watch mask.  Its fd polls readable when a data waker found
 * it armed (slots[k].armed): the waker, on the device, wakes the port's
 * wake word (the module's watch on it, SHMK_IOC_WATCH, makes the port's
 * region file readable); on memfd, sends one byte to the port's
 * abstract datagram socket; then disarms it.  The port re-arms when its
 * receive finds nothing: it empties the fd (SHMK_IOC_ACK; reading the
 * socket), arms (seq_cst), fences and looks again.
 * Documentation/messaging.rst, "Waiting in an event loop", has the
 * argument that no wake-up is lost.
 */

/* Spurious datagrams read per re-arm at most: a flood cannot hold us. */
#define WATCH_DRAIN_MAX	64

static void watch_arm(struct shmk_port *p)
{
	struct svc_slot *sl = &p->v.slots[p->slot];
	char b[16];
	uint32_t a;
	int i;

	if (p->wfd < 0) {
		(void)ioctl(shmk_region_fd(p->v.r), SHMK_IOC_ACK);
	} else {
		for (i = 0; i < WATCH_DRAIN_MAX; i++)
			if (recv(p->wfd, b, sizeof(b), MSG_DONTWAIT) < 0)
				break;
	}
	/* Relaxed: only we arm it; a waker only clears bit 0. */
	a = atomic_load_explicit(&sl->armed, memory_order_relaxed);
	SHMK_CP();
	/*
	 * Seq_cst, and the fence: the watcher's half of the Dekker pairing
	 * with wake_mask()'s fence: either our re-check after the fence
	 * sees the waker's store, or the waker's load sees this arm.  A new
	 * count each time: a waker's CAS from an older arm fails.
	 */
	atomic_store_explicit(&sl->armed, ((a >> 1) + 1) << 1 | 1,
			      memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

/* memfd: bind the port's watch socket at a fresh random address. */
static int watch_bind(struct shmk_port *p)
{
	struct sockaddr_un a;
	socklen_t len;
	uint32_t tok = 0;
	int fd, i, ret = -EADDRINUSE;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (i = 0; i < 16 && ret == -EADDRINUSE; i++) {
		if (getrandom(&tok, sizeof(tok), 0) != sizeof(tok)) {
			ret = errno ? -errno : -EIO;
			break;
		}
		len = watch_addr(&a, p->slot, tok);
		ret = bind(fd, (const struct sockaddr *)&a, len) ? -errno : 0;
	}
	if (ret) {
		if (ret == -EADDRINUSE)
			svc_err("shmk_port_fd: 16 random watch addresses were "
				"all taken in this network namespace");
		close(fd);
		return ret;
	}
	SHMK_CP();
	/*
	 * Release: with the seq_cst fetch_or of our watch bit after it,
	 * pairs with the waker's acquire load of the mask.
	 */
	atomic_store_explicit(&p->v.slots[p->slot].wtok, tok,
			      memory_order_release);
	p->wfd = fd;
	/* Readable at once: the caller's first receive arms the watch. */
	(void)sendto(fd, "", 1, MSG_DONTWAIT, (const struct sockaddr *)&a, len);
	return 0;
}

/* Device: watch the port's wake word through its own region file. */
static int watch_device(struct shmk_port *p)
{
	struct svc_slot *sl = &p->v.slots[p->slot];
	struct shmk_watch w;
	int ret;

	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.offset = slot_off(&p->v, p->slot) + offsetof(struct svc_slot, wake);
	w.bitset = SHMK_BITSET_ANY;
	if (ioctl(shmk_region_fd(p->v.r), SHMK_IOC_WATCH, &w) < 0)
		return -errno;
	/* Readable at once: the caller's first receive arms the watch. */
	SHMK_CP();
	/* Relaxed: the wake word is ours; the wake below is what counts. */
	atomic_fetch_add_explicit(&sl->wake, 1, memory_order_relaxed);
	ret = shmk_wake(p->v.r, (const void *)&sl->wake, SHMK_WAKE_ALL);
	return ret < 0 ? ret : 0;
}

SHMK_API int shmk_port_fd(struct shmk_port *p)
{
	int ret;

	if (!p)
		return -EINVAL;
	if (p->role != ROLE_SUB && p->role != ROLE_CLIENT &&
	    p->role != ROLE_SERVER && p->role != ROLE_LISTENER) {
		svc_err("shmk_port_fd: a publisher or notifier receives "
			"nothing to wait for");
		return -EINVAL;
	}
	if (!p->watching) {
		ret = shmk_region_backend(p->v.r) == SHMK_BACKEND_DEVICE ?
		      watch_device(p) : watch_bind(p);
		if (ret)
			return ret;
		SHMK_CP();
		/*
		 * Seq_cst (a release at least): pairs with the waker's
		 * acquire load of the mask: our wtok is visible to it.
		 */
		atomic_fetch_or_explicit(&mask_of(&p->v, MASK_WATCH)
					 [SLOT_WORD(p->slot)],
					 SLOT_BIT(p->slot), memory_order_seq_cst);
		p->watching = 1;
	}
	return p->wfd >= 0 ? p->wfd : shmk_region_fd(p->v.r);
}

/*
 * Leaving, or a fork() child's copy: close our sockets.  The watch bit
 * is the slot's: the sweep of the slot clears it.
 */
void svc_watch_close(struct shmk_port *p)
{
	if (p->wfd >= 0)
		close(p->wfd);
	if (p->sfd >= 0)
		close(p->sfd);
	p->wfd = p->sfd = -1;
}

/*
 * Call @fn until it returns something other than -EAGAIN, sleeping on the
 * port's wake word with its bit set in the @which mask in between; up to
 * @timeout_ns (0: one try; negative: forever).  A wait that fails with
 * anything but a wake, a timeout or a signal is returned: never a spin.
 */
int svc_block_on(struct shmk_port *p, try_fn fn, void *arg,
		 int64_t timeout_ns, int which)
{
	const struct svc_view *v = &p->v;
	struct svc_slot *sl = &v->slots[p->slot];
	_Atomic uint64_t *mask = &mask_of(v, which == SLEEP_DATA ? MASK_DATA :
					  MASK_ROOM)[SLOT_WORD(p->slot)];
	uint64_t bit = SLOT_BIT(p->slot);
	int dev = shmk_region_backend(v->r) == SHMK_BACKEND_DEVICE;
	int64_t deadline, left;
	uint32_t *spin = &p->spin[which == SLEEP_DATA ? 0 : 1];
	struct shmk_spin_run run;
	uint32_t e, d;
	int ret, w;

	ret = fn(p, arg);
	if (ret != -EAGAIN)
		return ret;
	/* Nothing: re-arm the port's fd, then look again (watch_arm()). */
	if (which == SLEEP_DATA && p->watching) {
		watch_arm(p);
		ret = fn(p, arg);
		if (ret != -EAGAIN)
			return ret;
	}
	if (timeout_ns == 0)
		return ret;
	/*
	 * The clock only now: a busy-poll (timeout 0) never reads it, and
	 * the first try costs what a poll does.  The timeout counts from
	 * here, after the tries above.
	 */
	deadline = shmk_deadline(timeout_ns);
	/*
	 * Spin first (notify.c, "Waiting"): only before the first sleep of
	 * the call, so a sleeper woken by its memfd slice, or spuriously,
	 * goes back to sleep at once.  The spin only tries: it changes
	 * nothing that the protocol below relies on.
	 */
	shmk_spin_begin(spin, &run, deadline);
	while (shmk_spin_more(&run)) {
		ret = fn(p, arg);
		if (ret != -EAGAIN) {
			shmk_spin_end(spin, &run, 1);
			return ret;
		}
	}
	shmk_spin_end(spin, &run, 0);
	for (;;) {
		ret = fn(p, arg);
		if (ret != -EAGAIN)
			return ret;
		/* Acquire: pairs with the waker's release increment. */
		e = atomic_load_explicit(&sl->wake, memory_order_acquire);
		/* Acquire: pairs with the module's increment after its store. */
		d = atomic_load_explicit(&v->sh->deaths, memory_order_acquire);
		SHMK_CP();
		/* Seq_cst: with the fence below, the sleeper's half of the Dekker. */
		atomic_fetch_or_explicit(mask, bit, memory_order_seq_cst);
		/*
		 * Seq_cst fence before the re-check, whatever orders @fn's
		 * loads have: pairs with wake_mask()'s fence (lib-audit #13).
		 */
		atomic_thread_fence(memory_order_seq_cst);
		ret = fn(p, arg);
		if (ret == -EAGAIN) {
			left = shmk_remaining(deadline);
			if (left == 0) {
				ret = -ETIMEDOUT;
			} else if (dev) {
				w = sleep_device(v, sl, e, d, left);
				if (w == -EINTR || (w && w != -EAGAIN &&
						    w != -ETIMEDOUT))
					ret = w;
				/* Relaxed: did someone die? Sweep them now. */
				else if (atomic_load_explicit(&v->sh->deaths,
						memory_order_relaxed) != d)
					view_recover(&p->svc->v);
			} else {
				w = shmk_wait(v->r, (const void *)&sl->wake, e,
					      left < 0 || left > shmk__svc_slice_ns ?
					      shmk__svc_slice_ns : left);
				if (w == -ETIMEDOUT)
					slice_recover(p->svc);
				else if (w && w != -EAGAIN)
					ret = w;	/* -EINTR, or a broken wait */
			}
		}
		SHMK_CP();
		/* Relaxed: only we set it; a late wake is spurious only. */
		atomic_fetch_and_explicit(mask, ~bit, memory_order_relaxed);
		if (ret != -EAGAIN)
			return ret;
	}
}

/* Consumers wait for data; a drain (and back-pressure, see chan.c) for room. */
int svc_block(struct shmk_port *p, try_fn fn, void *arg, int64_t timeout_ns)
{
	return svc_block_on(p, fn, arg, timeout_ns,
			    fn == drained ? SLEEP_ROOM : SLEEP_DATA);
}
