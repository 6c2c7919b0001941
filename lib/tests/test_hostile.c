// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Hostile peers: every participant can write anything into a service's
 * region.  For each messaging pattern a victim (ports in this process,
 * used through the public API only) runs random operations on a live
 * service while a "hostile peer" (a second, raw mapping of the same
 * region, opened by its region name) writes random values into random
 * words of the shared state between the operations: the header, slot
 * states, producer tails and starts, ring entries, cursors, holders words,
 * event words, chunk headers.  Meant for AddressSanitizer (lib/Makefile:
 * ASAN_TESTS; it also runs plain, under TSan and under valgrind).  The
 * victim must
 *   - never touch memory outside its mapping (ASan; guard zones around
 *     the library's mappings in the ASan build; and every pointer the
 *     library hands out is checked against the mappings of the service
 *     file in /proc/self/maps before the test uses it),
 *   - never crash (SEGV, FPE, BUS: reported with the history),
 *   - never spin forever (a watchdog: every operation has a short
 *     timeout, and one that runs past WATCHDOG_S seconds is a hang),
 *   - get 0 or a documented error code from every call.
 * Every so often the service is rebuilt from scratch, so the run goes deep
 * rather than staying stuck in one broken state.  A last test has a peer
 * resize the service's memfd and its rendezvous file (memfd backend): the
 * first is refused (sealed), the second changes nothing for the others.
 *
 * Reproduce: the seed, pattern and iteration of a failure are printed,
 * with the corruptions and operations since the last rebuild.
 *   SHMK_HOSTILE_SEED=N     the seed (default 1)
 *   SHMK_HOSTILE_ITERS=N    iterations per pattern (default 2000, divided
 *                           by SHMK_TEST_SCALE)
 *   SHMK_HOSTILE_PATTERN=P  only pattern P: safe, block, reqres, event,
 *                           truncate (a peer resizes the files: memfd)
 *   SHMK_HOSTILE_KEEPGOING=1  on a problem: report it, rebuild, go on
 *                           (to collect several; crashes still stop)
 *   SHMK_HOSTILE_VERBOSE=1  print every step
 *   SHMK_HOSTILE_RACE=1     also run a racing peer: a thread that keeps
 *                           rewriting the chunk headers' len while the
 *                           victim is inside its calls, to catch values
 *                           checked and then read again (not reproducible
 *                           by seed; not part of the default run)
 *   SHMK_HOSTILE_RACE=2     the racing peer writes random words, as between
 *                           operations, every 20 us, during the calls too
 *
 * The layout of the shared state (lib/svc.h) is used only to choose
 * which words to corrupt: the library's own view of the peer's mapping
 * (view_attach(), then its accessors) and the field tables below.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "msgutil.h"
#include "svc.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

/*
 * Functions other branches of issue 10 add (request sending with a wait,
 * dead participants, error texts): used when the library has them, so
 * that the test covers them as soon as they are merged.
 */
extern int shmk_client_send_wait(struct shmk_port *p, void *payload,
				 size_t len, uint64_t *corr,
				 int64_t timeout_ns) __attribute__((weak));
extern uint32_t shmk_service_dead(const struct shmk_service *s)
	__attribute__((weak));
extern const char *shmk_last_error(void) __attribute__((weak));

#define WATCHDOG_S	5		/* an operation longer than this hangs */
#define TMO_NS		1000000LL	/* "a short timeout": 1 ms */
#define HIST		64		/* steps kept for the report */
#define NSIDE		2		/* ports per side */
#define MAXL		8		/* loans / held samples the test tracks */
#define REBUILD_ONE_IN	120		/* rebuild the service this often */

enum pattern { P_SAFE, P_BLOCK, P_REQRES, P_EVENT, P_TRUNC, P_BB, NPAT };
static const char *const pat_name[NPAT] = { "safe", "block", "reqres", "event",
					    "truncate", "blackboard" };

/* Value returned by a check that is not an errno (see ok_rc()). */
#define END	1

/*
 * Where the shared state lies: the library's own view of the hostile
 * peer's mapping (view_attach() on the pristine service), so that every
 * target is found with the library's accessors (slots, prod_of(),
 * ring_of(), cursor_at(), holders_of(), events_of(), hdrs) and follows
 * any change of the layout.
 */
struct lay {
	struct svc_view hv;
	uint64_t hdr_sz, slot_sz, mhdr_sz, chunks_off, total, wait_off,
		 wait_sz;
	uint32_t nslots, nchan, cap, nchunks, ewords;
	uint32_t npend;		/* reqres: words of the pending rows */
};

struct field {
	const char *name;
	uint32_t off, size;
};

#define SF(f) { #f, offsetof(struct svc_shared, f), \
		sizeof(((struct svc_shared *)0)->f) }
static const struct field hdr_fields[] = {
	SF(hdr.magic), SF(hdr.version), SF(hdr.hdr_size), SF(hdr.flags),
	SF(hdr.elem_size), SF(hdr.capacity), SF(hdr.stride),
	SF(hdr.total_size), SF(hdr.data_offset), SF(hdr.reserved[0]),
	SF(cfg.size), SF(cfg.kind), SF(cfg.payload_max),
	SF(cfg.max_publishers), SF(cfg.max_subscribers), SF(cfg.buffer),
	SF(cfg.history), SF(cfg.overflow), SF(cfg.max_loans),
	SF(cfg.max_borrow), SF(cfg.max_events), SF(cfg.mode),
	SF(cfg.reserved), SF(nslots), SF(nchan), SF(cap), SF(nchunks),
	SF(ewords), SF(layout), SF(rstride), SF(crow), SF(erow), SF(mwords),
	SF(stride), SF(slots_off), SF(prod_off), SF(ring_off),
	SF(cursor_off), SF(holders_off), SF(events_off), SF(hdrs_off),
	SF(chunks_off),
	/* Layout 5: the payload type (words of its name) and user header. */
	{ "type_name+0", offsetof(struct svc_shared, type_name), 8 },
	{ "type_name+24", offsetof(struct svc_shared, type_name) + 24, 8 },
	{ "type_name+56", offsetof(struct svc_shared, type_name) + 56, 8 },
	SF(type_size), SF(type_align), SF(uhdr),
};
#define SLF(f) { "slot." #f, offsetof(struct svc_slot, f), \
		 sizeof(((struct svc_slot *)0)->f) }
static const struct field slot_fields[] = {
	SLF(state), SLF(gen), SLF(pid), SLF(flags), SLF(wake), SLF(wtok),
	SLF(armed),
};
#define PF(f) { "prod." #f, offsetof(struct svc_prod, f), \
		sizeof(((struct svc_prod *)0)->f) }
static const struct field prod_fields[] = { PF(tail), PF(start) };
#define MF(f) { "chunkhdr." #f, offsetof(struct msg_hdr, f), \
		sizeof(((struct msg_hdr *)0)->f) }
static const struct field mhdr_fields[] = {
	MF(seq), MF(corr), MF(len), MF(origin), MF(origin_gen), MF(target),
	MF(target_gen), MF(flags),
};
#define NF(a) (sizeof(a) / sizeof((a)[0]))

/* The library's view of the pristine (just created) service in @raw. */
static void layout_read(struct lay *L, struct shmk_region *raw)
{
	memset(L, 0, sizeof(*L));
	assert_int_equal(view_attach(&L->hv, raw), 0);
	L->hdr_sz = sizeof(struct svc_shared);
	L->slot_sz = sizeof(struct svc_slot);
	L->mhdr_sz = sizeof(struct msg_hdr);
	L->wait_off = offsetof(struct svc_shared, _pad_wait);
	L->wait_sz = sizeof(L->hv.sh->_pad_wait);
	L->nslots = L->hv.g.nslots;
	L->nchan = L->hv.g.nchan;
	L->cap = L->hv.g.cap;
	L->nchunks = L->hv.g.nchunks;
	L->ewords = L->hv.g.ewords;
	if (L->hv.cfg.kind == SHMK_SVC_REQRES)
		L->npend = L->hv.cfg.max_publishers * SHMK_SVC_PENDING_MAX;
	L->chunks_off = L->hv.g.chunks_off;
	L->total = L->hv.g.total;
}

/* The offset in the region of @p, a pointer into the peer's mapping. */
static uint64_t off_of(const struct lay *L, const volatile void *p)
{
	return (uint64_t)((const unsigned char *)p -
			  (const unsigned char *)L->hv.sh);
}

/* The victim's view of one of its ports. */
struct vport {
	struct shmk_port *p;
	void *loans[MAXL];
	uint64_t lcap[MAXL];	/* each loan's bytes (dynamic payloads) */
	unsigned int nloans;
	struct shmk_sample held[MAXL];
	unsigned int nheld;
	uint64_t pend;		/* reqres client: a pending request, or 0 */
};

struct world {
	enum pattern pat;
	char base_name[SHMK_SVC_NAME_MAX - 12];
	char name[SHMK_SVC_NAME_MAX];
	unsigned int gen;		/* rebuilds */
	struct shmk_svc_config want;	/* as asked for on create */
	struct shmk_svc_config cfg;	/* as created, defaults filled in */
	struct shmk_service *s;
	struct shmk_region *raw;	/* the hostile peer's mapping */
	unsigned char *base;
	uint64_t size;
	struct lay L;
	struct vport prod[NSIDE], cons[NSIDE];
	unsigned int ncons;
	/* Header words the peer wrote, to write back later. */
	struct undo { uint64_t off, old; uint32_t size; } undo[16];
	unsigned int nundo;
	unsigned int refused;	/* opens refused for a bad header */
	unsigned int rebuild_one_in;	/* this service's lifetime, roughly */
};

/* Everything a report needs; global for the signal handlers. */
static struct {
	uint64_t seed;
	unsigned long iters, iter;
	enum pattern pat;
	const char *op;
	char hist[HIST][200];
	unsigned long nhist;
	int keepgoing, verbose;
	unsigned long problems, corruptions, ops;
	unsigned long loaned, published, received, events;	/* depth */
	unsigned long ebadmsg_undoc;
	jmp_buf jb;
	struct world *w;
} H;

/*
 * xorshift64*: deterministic from the seed.  Per thread: the racing
 * peer (SHMK_HOSTILE_RACE=2) draws from a stream of its own.
 */
static _Thread_local uint64_t rng;
static _Thread_local int in_racer;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint32_t rndn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static void hist_add(const char *fmt, ...)
{
	va_list ap;
	char *b = H.hist[H.nhist % HIST];
	int n;

	n = snprintf(b, sizeof(H.hist[0]), "#%lu ", H.iter);
	va_start(ap, fmt);
	vsnprintf(b + n, sizeof(H.hist[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	H.nhist++;
	if (H.verbose)
		fprintf(stderr, "  %s\n", b);
}

static void hist_dump(void)
{
	unsigned long i = H.nhist > HIST ? H.nhist - HIST : 0;

	fprintf(stderr, "  steps since the last rebuild (%lu, last %d shown):\n",
		H.nhist, HIST);
	for (; i < H.nhist; i++)
		fprintf(stderr, "    %s\n", H.hist[i % HIST]);
	if (H.pat == P_TRUNC)
		fprintf(stderr, "  reproduce: SHMK_HOSTILE_PATTERN=truncate\n");
	else
		fprintf(stderr, "  reproduce: SHMK_HOSTILE_SEED=%" PRIu64
			" SHMK_HOSTILE_PATTERN=%s SHMK_HOSTILE_ITERS=%lu%s\n",
			H.seed, pat_name[H.pat], H.iter + 1,
			H.keepgoing ? " SHMK_HOSTILE_KEEPGOING=1" : "");
}

static void report_header(const char *what)
{
	fprintf(stderr, "HOSTILE %s: pattern %s seed %" PRIu64
		" iteration %lu operation %s\n", what, pat_name[H.pat], H.seed,
		H.iter, H.op ? H.op : "(none)");
}

/* A problem: the victim got something it must never get. */
static void problem(const char *fmt, ...)
{
	va_list ap;

	alarm(0);
	report_header("PROBLEM");
	fprintf(stderr, "  ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	hist_dump();
	H.problems++;
	longjmp(H.jb, 1);
}

static void on_alarm(int sig)
{
	(void)sig;
	report_header("HANG");
	fprintf(stderr, "  operation still running after %d s\n", WATCHDOG_S);
	hist_dump();
	_exit(3);
}


/*
 * SIGSEGV, SIGBUS, SIGFPE: print the history, then hand the signal to
 * the handler that was there before cmocka's (the sanitizer's, which
 * reports where it happened), or die of it.
 */
static const int fatal_sigs[] = { SIGSEGV, SIGBUS, SIGFPE };
static struct sigaction fatal_old[NF(fatal_sigs)];
static int dumped;

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	unsigned int i;

	if (!dumped) {
		dumped = 1;
		report_header("CRASH");
		fprintf(stderr, "  signal %d (%s)\n", sig, strsignal(sig));
		hist_dump();
	}
	for (i = 0; i < NF(fatal_sigs); i++) {
		if (fatal_sigs[i] != sig)
			continue;
		if ((fatal_old[i].sa_flags & SA_SIGINFO) &&
		    fatal_old[i].sa_sigaction) {
			fatal_old[i].sa_sigaction(sig, si, uc);
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

#ifdef __SANITIZE_ADDRESS__
static void on_asan_death(void)
{
	if (dumped)
		return;
	dumped = 1;
	report_header("SANITIZER REPORT (above)");
	hist_dump();
}
#endif

static void fatal_save(void)
{
	unsigned int i;

	for (i = 0; i < NF(fatal_sigs); i++)
		sigaction(fatal_sigs[i], NULL, &fatal_old[i]);
}

/* cmocka installs its own handlers around each test: ours go on top. */
static void fatal_install(void)
{
	struct sigaction sa;
	unsigned int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	for (i = 0; i < NF(fatal_sigs); i++)
		sigaction(fatal_sigs[i], &sa, NULL);
}

static void watchdog_arm(const char *op)
{
	H.op = op;
	H.ops++;
	alarm(WATCHDOG_S);
}

static void watchdog_disarm(void)
{
	alarm(0);
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

static int64_t shmk_now_ns_test(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *last_error(void)
{
	const char *e = shmk_last_error ? shmk_last_error() : NULL;

	return e ? e : "";
}

/* Is @rc 0 or one of the codes in @ok (terminated by END)? */
static int ok_rc(int rc, const int *ok)
{
	if (rc == 0)
		return 1;
	for (; *ok != END; ok++)
		if (rc == *ok)
			return 1;
	return 0;
}

/*
 * A call returned @rc; @doc lists the documented codes besides 0.
 * -EBADMSG (corrupt shared state detected) is accepted everywhere, but
 * counted when not documented for the call.
 */
#define CHECK_RC(rc, ...)						\
	do {								\
		static const int ok_[] = { __VA_ARGS__ };		\
		if (!ok_rc((rc), ok_)) {				\
			if ((rc) == -EBADMSG) {				\
				H.ebadmsg_undoc++;			\
				hist_add("  (-EBADMSG from %s: not in its documented codes)", H.op); \
			} else {					\
				problem("%s returned %d (%s): not 0 nor a documented error%s%s", \
					H.op, (rc), strerror(-(rc)),	\
					last_error()[0] ? "; shmk_last_error(): " : "", \
					last_error());			\
			}						\
		}							\
	} while (0)

/* Mappings of the service's file in this process, from /proc/self/maps. */
static struct { uintptr_t lo, hi; } maps[64];
static unsigned int nmaps;
/*
 * Zero-trust runs (SHMK_SVC_ZERO_TRUST): payloads are in the producers'
 * data regions, "zt.*", which count as the service's mappings too.
 * 2: dynamic payloads (SHMK_SVC_DYNAMIC), loans of random sizes
 * (shmk_pub_loan_slice()) that grow the producers' segments.
 */
static int zt_mode;

static void maps_refresh(const struct world *w)
{
	char want[128], sealed[128], line[600];
	FILE *f;

	nmaps = 0;
	snprintf(want, sizeof(want), "/dev/shm/shmk." SHMK_SVC_PREFIX "%s",
		 w->name);
	/* A sealed memfd service (lib/broker.c) is named so. */
	snprintf(sealed, sizeof(sealed), "/memfd:shmk." SHMK_SVC_PREFIX "%s",
		 w->name);
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && nmaps < NF(maps)) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');
		size_t n = strlen(want);

		if (!path || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		path[strcspn(path, "\n")] = 0;
		if (zt_mode && (!strncmp(path, "/memfd:shmk.zt.", 15) ||
				!strncmp(path, "/dev/shm/shmk.zt.", 17))) {
			maps[nmaps].lo = lo;
			maps[nmaps].hi = hi;
			nmaps++;
			continue;
		}
		if (!strncmp(path, sealed, strlen(sealed)))
			n = strlen(sealed);
		else if (strncmp(path, want, n))
			continue;
		if (path[n] && strcmp(path + n, " (deleted)"))
			continue;
		/* Not the hostile peer's own mapping. */
		if (lo == (uintptr_t)w->base)
			continue;
		maps[nmaps].lo = lo;
		maps[nmaps].hi = hi;
		nmaps++;
	}
	fclose(f);
}

/* Does [p, p + len) lie inside one of the victim's mappings? */
static int in_mapping(const struct world *w, const void *p, uint64_t len)
{
	uintptr_t a = (uintptr_t)p;
	unsigned int i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < nmaps; i++)
			if (a >= maps[i].lo && a < maps[i].hi &&
			    len <= maps[i].hi - a)
				return 1;
		maps_refresh(w);
	}
	return 0;
}

/*
 * The racing peer (SHMK_HOSTILE_RACE=1): flips the len and seq of every
 * chunk header between a plausible and an impossible value, all the time.
 * race_lock keeps it off a mapping that is being rebuilt.
 */
static pthread_mutex_t race_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t race_thread;
static _Atomic int race_stop;
static _Atomic int race_on;

static void corrupt(struct world *w);

/* SHMK_HOSTILE_RACE=2: random corruptions (as between operations), every 20 us. */
static void race_random(struct world *w)
{
	in_racer = 1;
	rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)shmk_now_ns_test();
	while (!atomic_load(&race_stop)) {
		pthread_mutex_lock(&race_lock);
		if (w->raw)
			corrupt(w);
		pthread_mutex_unlock(&race_lock);
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
}

static void *racer(void *arg)
{
	struct world *w = arg;
	uint64_t x = 0x9E3779B97F4A7C15ULL, n;

	if (env_ul("SHMK_HOSTILE_RACE", 0) == 2) {
		race_random(w);
		return NULL;
	}
	while (!atomic_load(&race_stop)) {
		pthread_mutex_lock(&race_lock);
		if (w->raw && w->L.nchunks) {
			/* One chunk at a time, many flips: a short window. */
			uint32_t c = (uint32_t)(x % w->L.nchunks);
			uint64_t *len = &w->L.hv.hdrs[c].len;
			uint64_t good = __atomic_load_n(len, __ATOMIC_RELAXED);
			uint64_t bad = (x & 1) ? UINT64_MAX - (x >> 48) :
						 w->size * 4 + (x >> 52);

			if (good > w->cfg.payload_max)
				good = 1;
			for (n = 0; n < 4096; n++)
				__atomic_store_n(len, n & 1 ? bad : good,
						 __ATOMIC_RELAXED);
			__atomic_store_n(len, good, __ATOMIC_RELAXED);
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		pthread_mutex_unlock(&race_lock);
		sched_yield();	/* let a rebuild take the lock */
	}
	return NULL;
}

static void race_start(struct world *w)
{
	if (!env_ul("SHMK_HOSTILE_RACE", 0))
		return;
	atomic_store(&race_stop, 0);
	assert_int_equal(pthread_create(&race_thread, NULL, racer, w), 0);
	atomic_store(&race_on, 1);
}

static void race_end(void)
{
	if (!atomic_load(&race_on))
		return;
	atomic_store(&race_stop, 1);
	pthread_join(race_thread, NULL);
	atomic_store(&race_on, 0);
}

/*
 * Guard zones (the ASan build: -DSHMK_HOSTILE_GUARDS, linked with
 * -Wl,--wrap=mmap,--wrap=munmap; see lib/Makefile):
 * every shared file mapping the library makes gets GUARD bytes of
 * PROT_NONE on each side, so that an access just outside a mapping faults
 * (and the sanitizer reports where) instead of landing in a neighbour.
 */
#ifdef SHMK_HOSTILE_GUARDS
#define GUARD	(1UL << 20)

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __real_munmap(void *addr, size_t len);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __wrap_munmap(void *addr, size_t len);

/* The guarded mappings, to take their guards away on munmap. */
static struct { unsigned char *p; size_t len; } guarded[1024];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	unsigned char *res, *p;
	unsigned int i;

	if (addr || fd < 0 || !(flags & MAP_SHARED) || len > (1UL << 40))
		return __real_mmap(addr, len, prot, flags, fd, off);
	pthread_mutex_lock(&guard_lock);
	for (i = 0; i < NF(guarded) && guarded[i].p; i++)
		;
	if (i == NF(guarded)) {
		pthread_mutex_unlock(&guard_lock);
		return __real_mmap(addr, len, prot, flags, fd, off);
	}
	res = __real_mmap(NULL, len + 2 * GUARD, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	p = res == MAP_FAILED ? MAP_FAILED :
	    __real_mmap(res + GUARD, len, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		if (res != MAP_FAILED)
			__real_munmap(res, len + 2 * GUARD);
		pthread_mutex_unlock(&guard_lock);
		return __real_mmap(addr, len, prot, flags, fd, off);
	}
	guarded[i].p = p;
	guarded[i].len = len;
	pthread_mutex_unlock(&guard_lock);
	return p;
}

/* The library unmaps what it mapped: the guards go with it. */
int __wrap_munmap(void *addr, size_t len)
{
	unsigned int i;
	int ret;

	pthread_mutex_lock(&guard_lock);
	for (i = 0; i < NF(guarded); i++)
		if (guarded[i].p == addr && guarded[i].len == len)
			break;
	if (i == NF(guarded)) {
		pthread_mutex_unlock(&guard_lock);
		return __real_munmap(addr, len);
	}
	ret = __real_munmap(guarded[i].p - GUARD, len + 2 * GUARD);
	guarded[i].p = NULL;
	pthread_mutex_unlock(&guard_lock);
	return ret;
}
#endif /* SHMK_HOSTILE_GUARDS */

/* Service setup */

static struct shmk_svc_config pattern_cfg(enum pattern pat)
{
	struct shmk_svc_config c;

	switch (pat) {
	case P_REQRES:
		c = cfg_of(SHMK_SVC_REQRES);
		c.payload_max = 100;
		c.max_publishers = NSIDE;
		c.max_subscribers = NSIDE;	/* several servers, streams */
		c.buffer = 4;
		c.max_loans = 2;
		c.max_borrow = 3;
		break;
	case P_EVENT:
		c = cfg_of(SHMK_SVC_EVENT);
		c.max_publishers = NSIDE;
		c.max_subscribers = NSIDE;
		c.max_events = 37;	/* padding bits in the last word */
		break;
	default:
		c = cfg_of(SHMK_SVC_PUBSUB);
		c.payload_max = 200;
		c.max_publishers = NSIDE;
		c.max_subscribers = NSIDE;
		c.buffer = 4;
		c.history = 2;
		c.overflow = pat == P_BLOCK ? SHMK_OVERFLOW_BLOCK :
					      SHMK_OVERFLOW_SAFE;
		c.max_loans = 2;
		c.max_borrow = 3;
		break;
	}
	return c;
}

static int port_open(struct world *w, struct shmk_service *s, int cons,
		     struct shmk_port **out)
{
	switch (w->pat) {
	case P_REQRES:
		return cons ? shmk_server_open(s, out) : shmk_client_open(s, out);
	case P_EVENT:
		return cons ? shmk_listener_open(s, out) :
			      shmk_notifier_open(s, out);
	default:
		return cons ? shmk_sub_open(s, out) : shmk_pub_open(s, out);
	}
}

/*
 * Rebuilds after the first vary the configuration (ring sizes, history
 * beyond the buffer, one loan, one borrow, 1-byte payloads, event counts
 * on and off a word boundary), from a stream of their own: the main
 * stream, and so a reproduction, does not depend on them.
 */
static void vary_cfg(struct shmk_svc_config *c, enum pattern pat,
		     unsigned int gen)
{
	uint64_t x = (H.seed + 1) * 0x9E3779B97F4A7C15ULL ^
		     (uint64_t)gen * 0xBF58476D1CE4E5B9ULL ^ (uint64_t)pat;
	static const uint32_t bufs[] = { 1, 2, 4, 8, 16 };
	static const uint32_t evs[] = { 1, 31, 32, 37, 64, 100 };
	static const uint64_t pls[] = { 1, 64, 200, 4096 };

	if (!gen)
		return;
	x ^= x >> 31;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 29;
	if (pat == P_EVENT) {
		c->max_events = evs[x % NF(evs)];
		c->max_publishers = NSIDE + (uint32_t)(x >> 8 & 1);
		c->max_subscribers = NSIDE + (uint32_t)(x >> 9 & 1);
		/* Sometimes bitmaps of two words, listeners in the second. */
		if ((x >> 10 & 3) == 3)
			c->max_publishers = 64 + NSIDE;
		return;
	}
	c->buffer = bufs[x % NF(bufs)];
	c->payload_max = pls[(x >> 8) % NF(pls)];
	c->max_loans = 1 + (uint32_t)(x >> 16 & 1);
	c->max_borrow = 1 + (uint32_t)(x >> 17 & 3);
	c->max_publishers = NSIDE + (uint32_t)(x >> 19 & 1);
	/*
	 * Sometimes bitmaps of two words (layout 6): producers in the
	 * first, consumers in the second (hold_claim(), hold_add()).
	 */
	if ((x >> 24 & 3) == 3)
		c->max_publishers = 64 + NSIDE;
	/* Sometimes a typed service with user headers (layout 5). */
	if (x >> 30 & 1) {
		strcpy(c->type_name, "hostile.T");
		c->type_size = c->payload_max;
		c->user_header_size = (uint32_t)(x >> 31 & 1) ? 8 : 100;
	}
	if (zt_mode)
		c->mode |= SHMK_SVC_ZERO_TRUST;
	if (zt_mode == 2) {
		c->mode |= SHMK_SVC_DYNAMIC;
		c->payload_max = 4096 * (1 + (x >> 24) % 9) + 17;
		if (c->type_size)
			c->type_size = c->payload_max;
	}
	if (pat != P_REQRES) {
		c->max_subscribers = NSIDE + (uint32_t)(x >> 20 & 1);
		/* Sometimes a history longer than the buffer (cap = history). */
		c->history = (uint32_t)(x >> 21 & 3) == 3 ? c->buffer + 3 :
			     (uint32_t)(x >> 23) % (c->buffer + 1);
	}
}

static void world_create(struct world *w)
{
	struct shmk_svc_config c = pattern_cfg(w->pat);
	char rname[SHMK_NAME_MAX];
	unsigned int i;
	int ret;

	pthread_mutex_lock(&race_lock);
	vary_cfg(&c, w->pat, w->gen);
	w->want = c;
	snprintf(w->name, sizeof(w->name), "%s.%u", w->base_name,
		 w->gen++ % 100000);
	ret = shmk_service_open(w->name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
				&w->s);
	assert_int_equal(ret, 0);
	w->cfg = c;
	shmk_service_config(w->s, &w->cfg);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", w->name);
	assert_int_equal(shmk_region_open(rname, 0, &w->raw), 0);
	w->base = shmk_region_base(w->raw);
	w->size = shmk_region_size(w->raw);
	layout_read(&w->L, w->raw);
	assert_true(w->L.total <= w->size);
	w->ncons = NSIDE;
	memset(w->prod, 0, sizeof(w->prod));
	memset(w->cons, 0, sizeof(w->cons));
	for (i = 0; i < NSIDE; i++)
		assert_int_equal(port_open(w, w->s, 0, &w->prod[i].p), 0);
	for (i = 0; i < w->ncons; i++)
		assert_int_equal(port_open(w, w->s, 1, &w->cons[i].p), 0);
	maps_refresh(w);
	w->nundo = 0;
	w->refused = 0;
	/* Mostly short lives; now and then a long one, to go deep. */
	w->rebuild_one_in = rndn(8) ? REBUILD_ONE_IN : 1000;
	pthread_mutex_unlock(&race_lock);
	H.nhist = 0;
	hist_add("service %s created (%u chunks, %u slots, ring %u, buffer %u, "
		 "history %u, loans %u, borrow %u, payload %" PRIu64 ", events %u,"
		 " region %" PRIu64 " bytes)", w->name, w->L.nchunks, w->L.nslots,
		 w->L.cap, w->cfg.buffer, w->cfg.history, w->cfg.max_loans,
		 w->cfg.max_borrow, w->cfg.payload_max, w->cfg.max_events,
		 w->size);
}

static void world_destroy(struct world *w)
{
	unsigned int i;

	pthread_mutex_lock(&race_lock);
	for (i = 0; i < NSIDE; i++) {
		watchdog_arm("shmk_port_close");
		shmk_port_close(w->prod[i].p);
		shmk_port_close(w->cons[i].p);
		watchdog_disarm();
		w->prod[i].p = w->cons[i].p = NULL;
	}
	shmk_service_close(w->s);
	w->s = NULL;
	shmk_region_close(w->raw);
	w->raw = NULL;
	shmk_service_remove(w->name);
	pthread_mutex_unlock(&race_lock);
}

/* The hostile peer */

static uint32_t val32(const struct world *w, uint32_t old, const char *what)
{
	const struct lay *L = &w->L;

	/* Slot states: the tags the library knows, with odd values. */
	if (what && !strcmp(what, "slot.state") && rndn(2)) {
		static const uint32_t tags[] = { ST_FREE, ST_CLAIM, ST_ALIVE,
						 ST_DEAD, ST_RECLAIM, 0x50000000U,
						 0xf0000000U };
		uint32_t t = tags[rndn(NF(tags))];

		switch (rndn(4)) {
		case 0:
			return t | ST_VAL(old);
		case 1:
			return t | (ST_VAL(old) + 1);
		case 2:
			return t | 1;	/* pid 1 exists; gen 1 */
		default:
			return t | rndn(0x10000000U);
		}
	}
	switch (rndn(16)) {
	case 0:
		return 0;
	case 1:
		return UINT32_MAX;
	case 2:
		return (uint32_t)rnd();
	case 3:
		return 1 + rndn(8);
	case 4:
		return old + 1;
	case 5:
		return old - 1;
	case 6:
		return old ^ (1U << rndn(32));
	case 7:
		return L->nchunks + rndn(3) - 1;
	case 8:
		return L->nslots + rndn(3) - 1;
	case 9:
		return L->cap + rndn(3) - 1;
	case 10:
		return (uint32_t)w->cfg.payload_max + rndn(3) - 1;
	case 11:
		return 0x80000000U + rndn(3) - 1;
	case 12:
		return old + L->cap * (1 + rndn(3));
	case 13:
		return old - L->cap;
	case 14:
		return (uint32_t)w->size + rndn(3) - 1;
	default:
		return w->cfg.max_events + rndn(3) - 1;
	}
}

static uint64_t val64(const struct world *w, uint64_t old, const char *what)
{
	static const uint64_t edges[] = { 1ULL << 31, 1ULL << 32, 1ULL << 40,
					  1ULL << 63, 1ULL << 24 };

	switch (rndn(10)) {
	case 9:
		/* Next to a wrap point of 32-, 40- or 64-bit positions. */
		return edges[rndn(NF(edges))] + rndn(5) - 2;
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	case 2:
		return rnd();
	case 3:
		return old + 1 + rndn(4);
	case 4:
		return old ^ (1ULL << rndn(64));
	case 5:
		return w->size + rndn(3) - 1;
	case 6:
		/* Position and chunk, 40/24 bits; a position a ring away. */
		switch (rndn(4)) {
		case 0:
			return old + w->L.cap;
		case 1:
			return old - w->L.cap;
		default:
			return ((old >> 24) + rndn(3) - 1) << 24 |
			       (val32(w, (uint32_t)old & 0xffffffU, what) &
				0xffffffU);
		}
	default:
		/* The two halves: sequence/generation and index/position. */
		return (uint64_t)val32(w, (uint32_t)(old >> 32), what) << 32 |
		       val32(w, (uint32_t)old, what);
	}
}

/* A chunk index currently in some ring entry, or a random one. */
static uint32_t some_chunk(const struct world *w)
{
	const struct lay *L = &w->L;
	uint32_t n = L->nchan * L->nslots;

	if (!L->nchunks)
		return 0;
	if (n && L->cap && rndn(2)) {
		uint32_t i = rndn(n);
		_Atomic uint64_t *e = &ring_of(&L->hv, i / L->nslots,
					       i % L->nslots)[rndn(L->cap)];
		/* Relaxed: the hostile peer reads whatever is there. */
		uint32_t c = ent_chunk(atomic_load_explicit(e,
						memory_order_relaxed));

		if (c < L->nchunks)
			return c;
	}
	return rndn(L->nchunks);
}

/* Write one random value into one random word of the shared state. */
static void corrupt(struct world *w)
{
	const struct lay *L = &w->L;
	const struct field *f = NULL;
	char desc[96];
	uint64_t off = 0, old, nv;
	uint32_t size = 8, i, k;

	for (;;) {
		switch (rndn(12)) {
		case 0:
			f = &hdr_fields[rndn(NF(hdr_fields))];
			off = f->off;
			size = f->size;
			snprintf(desc, sizeof(desc), "header %s", f->name);
			break;
		case 2:
			k = rndn(L->nslots);
			if (rndn(4)) {
				f = &slot_fields[rndn(NF(slot_fields))];
				off = off_of(L, &L->hv.slots[k]) + f->off;
				size = f->size;
				snprintf(desc, sizeof(desc), "slot[%u] %s", k,
					 f->name);
				break;
			}
			/* Any word of the slot (its wake word, if any). */
			size = 4;
			i = rndn((uint32_t)(L->slot_sz / 4)) * 4;
			off = off_of(L, &L->hv.slots[k]) + i;
			snprintf(desc, sizeof(desc), "slot[%u] word +%u", k, i);
			break;
		case 10:
			if (rndn(2)) {
				/* The header's wait words (deaths). */
				size = rndn(2) ? 8 : 4;
				i = rndn((uint32_t)(L->wait_sz / size)) * size;
				off = L->wait_off + i;
				snprintf(desc, sizeof(desc),
					 "header wait word +%u", i);
				break;
			}
			/* A word of a per-slot mask (sleepers, watchers). */
			k = rndn(MASK_N);
			i = rndn(L->hv.g.mwords);
			off = off_of(L, &mask_of(&L->hv, (int)k)[i]);
			snprintf(desc, sizeof(desc), "mask %u word %u", k, i);
			break;
		case 3:
			if (!L->nchan)
				continue;
			f = &prod_fields[rndn(NF(prod_fields))];
			i = rndn(L->nchan * L->nslots);
			off = off_of(L, prod_of(&L->hv, i / L->nslots,
						    i % L->nslots)) + f->off;
			size = f->size;
			snprintf(desc, sizeof(desc), "producer[ch %u, slot %u] %s",
				 i / L->nslots, i % L->nslots, f->name);
			break;
		case 4:
			if (!L->nchan)
				continue;
			i = rndn(L->nchan * L->nslots * L->cap);
			off = off_of(L, &ring_of(&L->hv, i / (L->nslots * L->cap),
					 i / L->cap % L->nslots)[i % L->cap]);
			snprintf(desc, sizeof(desc), "ring[ch %u, ring %u][%u]",
				 i / (L->nslots * L->cap),
				 i / L->cap % L->nslots, i % L->cap);
			break;
		case 5: {
			/* Consumers x producers (cursor_at()). */
			uint32_t na = L->hv.g.na, ch, j;

			if (!L->nchan)
				continue;
			ch = rndn(L->nchan);
			j = ch ? rndn(na) : na + rndn(L->nslots - na);
			i = ch ? na + ch - 1 : rndn(na);
			off = off_of(L, cursor_at(&L->hv, ch, j, i));
			snprintf(desc, sizeof(desc),
				 "cursor[ch %u, consumer %u, producer %u]",
				 ch, j, i);
			break;
		}
		case 6:
			if (!L->nchunks)
				continue;
			/* Any word of the chunk's holders bitmap. */
			i = some_chunk(w);
			k = rndn(L->hv.g.mwords);
			off = off_of(L, &holders_of(&L->hv, i)[k]);
			snprintf(desc, sizeof(desc), "holders[chunk %u] word %u",
				 i, k);
			break;
		case 7:
			if (!L->ewords)
				continue;
			i = rndn(L->nslots * L->ewords);
			off = off_of(L, &events_of(&L->hv, i / L->ewords)[i % L->ewords]);
			size = 4;
			snprintf(desc, sizeof(desc), "events[slot %u][word %u]",
				 i / L->ewords, i % L->ewords);
			break;
		case 8:
			if (!L->nchunks)
				continue;
			f = &mhdr_fields[rndn(NF(mhdr_fields))];
			i = some_chunk(w);
			off = off_of(L, &L->hv.hdrs[i]) + f->off;
			size = f->size;
			snprintf(desc, sizeof(desc), "chunk[%u] %s", i, f->name);
			break;
		case 11:
			/* Layout 6: a word of a client's pending row. */
			if (!L->npend)
				continue;
			i = rndn(L->npend);
			k = i / SHMK_SVC_PENDING_MAX;
			off = off_of(L, &pend_of(&L->hv, k)
					    [i % SHMK_SVC_PENDING_MAX]);
			snprintf(desc, sizeof(desc), "pending[client %u][%u]",
				 i / SHMK_SVC_PENDING_MAX,
				 i % SHMK_SVC_PENDING_MAX);
			break;
		case 1:
		case 9:
			/* Any word of the shared state, payloads excepted. */
			size = rndn(2) ? 8 : 4;
			off = rnd() % (L->chunks_off / size) * size;
			snprintf(desc, sizeof(desc), "word at offset %#" PRIx64,
				 off);
			break;
		default:
			continue;
		}
		break;
	}
	assert_true(off + size <= w->size && off % size == 0);
	/* Relaxed atomics: the peer's stores are untorn, nothing more. */
	switch (size) {
	case 2:
		old = __atomic_load_n((uint16_t *)(w->base + off), __ATOMIC_RELAXED);
		nv = (uint16_t)val32(w, (uint32_t)old, NULL);
		__atomic_store_n((uint16_t *)(w->base + off), (uint16_t)nv,
				 __ATOMIC_RELAXED);
		break;
	case 4:
		old = __atomic_load_n((uint32_t *)(w->base + off), __ATOMIC_RELAXED);
		nv = val32(w, (uint32_t)old, f ? f->name : NULL);
		__atomic_store_n((uint32_t *)(w->base + off), (uint32_t)nv,
				 __ATOMIC_RELAXED);
		break;
	default:
		old = __atomic_load_n((uint64_t *)(w->base + off), __ATOMIC_RELAXED);
		nv = val64(w, old, f ? f->name : NULL);
		__atomic_store_n((uint64_t *)(w->base + off), nv,
				 __ATOMIC_RELAXED);
		break;
	}
	if (in_racer)
		return;		/* no history, no undo: not reproducible anyway */
	if (off < L->hdr_sz && w->nundo < NF(w->undo)) {
		w->undo[w->nundo].off = off;
		w->undo[w->nundo].old = old;
		w->undo[w->nundo].size = size;
		w->nundo++;
	}
	H.corruptions++;
	hist_add("corrupt %s (offset %#" PRIx64 ", %u bytes): %#" PRIx64
		 " -> %#" PRIx64, desc, off, size, old, nv);
}

/*
 * The peer writes its header corruptions back (newest first), so that
 * the victim meets a header that was bad and is good again, and does not
 * stay refused until the next rebuild.
 */
static void heal_header(struct world *w)
{
	while (w->nundo) {
		struct undo *u = &w->undo[--w->nundo];

		switch (u->size) {
		case 2:
			__atomic_store_n((uint16_t *)(w->base + u->off),
					 (uint16_t)u->old, __ATOMIC_RELAXED);
			break;
		case 4:
			__atomic_store_n((uint32_t *)(w->base + u->off),
					 (uint32_t)u->old, __ATOMIC_RELAXED);
			break;
		default:
			__atomic_store_n((uint64_t *)(w->base + u->off), u->old,
					 __ATOMIC_RELAXED);
			break;
		}
		hist_add("heal header word at offset %#" PRIx64 " back to %#"
			 PRIx64, u->off, u->old);
	}
	w->refused = 0;
}

/* The victim */

static struct vport *pick(struct world *w, int cons)
{
	unsigned int n = cons ? w->ncons : NSIDE;

	return cons ? &w->cons[rndn(n)] : &w->prod[rndn(n)];
}

static int64_t tmo(void)
{
	return rndn(3) ? 0 : TMO_NS;
}

/* Check a loaned payload, then write into it as a user would. */
static void check_loan(struct world *w, struct vport *v, void *pl,
		       uint64_t cap)
{
	if (!in_mapping(w, pl, cap))
		problem("%s gave payload %p (+%" PRIu64 " bytes) outside the "
			"service mapping", H.op, pl, cap);
	if (v->nloans >= w->cfg.max_loans)
		problem("%s succeeded with %u loans held (max_loans %u)", H.op,
			v->nloans, w->cfg.max_loans);
	memset(pl, 0x5a, cap);
	H.loaned++;
	v->lcap[v->nloans] = cap;
	v->loans[v->nloans++] = pl;
}

/* Check a received sample, then read it as a user would. */
static void check_sample(struct world *w, struct vport *v,
			 const struct shmk_sample *smp)
{
	const volatile unsigned char *d = smp->data;
	unsigned char sum = 0;
	size_t i;

	if (!smp->data || !in_mapping(w, smp->data, smp->len))
		problem("%s gave sample data %p len %zu outside the service "
			"mapping", H.op, smp->data, smp->len);
	if (smp->len > w->cfg.payload_max)
		problem("%s gave sample len %zu > payload_max %" PRIu64, H.op,
			smp->len, w->cfg.payload_max);
	if (smp->origin >= w->L.nslots)
		problem("%s gave sample origin %u >= %u slots", H.op,
			smp->origin, w->L.nslots);
	if (v->nheld >= w->cfg.max_borrow)
		problem("%s succeeded with %u samples held (max_borrow %u)",
			H.op, v->nheld, w->cfg.max_borrow);
	for (i = 0; i < smp->len; i++)
		sum += d[i];
	(void)sum;
	v->held[v->nheld++] = *smp;
	H.received++;
}

static void op_loan(struct world *w, struct vport *v)
{
	void *pl = NULL;
	int rc;

	uint64_t cap = w->cfg.payload_max;

	watchdog_arm("shmk_pub_loan");
	if (zt_mode == 2) {
		size_t n = 1 + rndn((uint32_t)w->cfg.payload_max /
				    (w->cfg.type_size ? (uint32_t)w->cfg.type_size : 1));

		rc = shmk_pub_loan_slice(v->p, n, &pl);
		if (rc > 0) {
			if ((uint64_t)rc < n || (uint64_t)rc > cap)
				problem("%s(%zu) returned %d bytes (payload_max "
					"%" PRIu64 ")", H.op, n, rc, cap);
			cap = (uint64_t)rc;
			rc = 0;
		}
	} else {
		rc = shmk_pub_loan(v->p, &pl);
	}
	watchdog_disarm();
	hist_add("  %s = %d", H.op, rc);
	if (v->nloans >= w->cfg.max_loans && rc != -ENOBUFS && rc != -EBADMSG)
		problem("%s with max_loans held returned %d, not -ENOBUFS",
			H.op, rc);
	/* -EAGAIN: every chunk is held (the pool is empty). */
	CHECK_RC(rc, -ENOBUFS, -EAGAIN, END);
	if (rc == 0)
		check_loan(w, v, pl, cap);
}

static void op_publish(struct world *w, struct vport *v)
{
	unsigned int i;
	size_t len;
	int64_t t = tmo();
	int rc;

	if (!v->nloans)
		{ op_loan(w, v); return; }
	i = rndn(v->nloans);
	len = rndn((uint32_t)v->lcap[i] + 1);
	if (w->pat == P_REQRES && shmk_client_send_wait && !rndn(3)) {
		uint64_t corr = 0;

		watchdog_arm("shmk_client_send_wait");
		rc = shmk_client_send_wait(v->p, v->loans[i], len, &corr, t);
		watchdog_disarm();
		hist_add("  %s(len %zu, timeout %" PRId64 ") = %d", H.op, len,
			 t, rc);
		CHECK_RC(rc, -ENOTCONN, -EAGAIN, -ETIMEDOUT, END);
	} else if (w->pat == P_REQRES && !rndn(2)) {
		/* A pending request (a stream to wait for) or fire-and-forget. */
		unsigned int fl = rndn(4) ? 0 : SHMK_REQ_NO_RESPONSE;
		uint64_t corr = 0;
		uint32_t nsv = 0;

		watchdog_arm("shmk_client_request");
		rc = shmk_client_request(v->p, v->loans[i], len, fl, &corr,
					 &nsv, t);
		watchdog_disarm();
		hist_add("  %s(len %zu, flags %u, timeout %" PRId64 ") = %d",
			 H.op, len, fl, t, rc);
		CHECK_RC(rc, -ENOTCONN, -EAGAIN, -ETIMEDOUT, -EBUSY, END);
		if (rc == 0 && !fl)
			v->pend = corr;
		if (rc == 0 && nsv > NSIDE)
			problem("%s: %u servers live, more than %u", H.op, nsv,
				NSIDE);
	} else if (w->pat == P_REQRES) {
		uint64_t corr = 0;

		watchdog_arm("shmk_client_send");
		rc = shmk_client_send(v->p, v->loans[i], len, &corr);
		watchdog_disarm();
		hist_add("  %s(len %zu) = %d", H.op, len, rc);
		/* -ENOTCONN: no live server (the request is not sent). */
		CHECK_RC(rc, -ENOTCONN, END);
	} else {
		watchdog_arm("shmk_pub_publish");
		rc = shmk_pub_publish(v->p, v->loans[i], len, t);
		watchdog_disarm();
		hist_add("  %s(len %zu, timeout %" PRId64 ") = %d", H.op, len,
			 t, rc);
		if (w->pat == P_BLOCK)
			CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, END);
		else
			CHECK_RC(rc, END);
	}
	if (rc == 0) {
		v->lcap[i] = v->lcap[v->nloans - 1];
		v->loans[i] = v->loans[--v->nloans];
		H.published++;
	}
}

static void op_discard(struct world *w, struct vport *v)
{
	unsigned int i;
	int rc;

	if (!v->nloans)
		{ op_loan(w, v); return; }
	i = rndn(v->nloans);
	watchdog_arm("shmk_pub_discard");
	rc = shmk_pub_discard(v->p, v->loans[i]);
	watchdog_disarm();
	hist_add("  %s = %d", H.op, rc);
	CHECK_RC(rc, END);
	if (rc == 0) {
		v->lcap[i] = v->lcap[v->nloans - 1];
		v->loans[i] = v->loans[--v->nloans];
	}
}

static void op_send_copy(struct world *w, struct vport *v)
{
	static char buf[65536];	/* the largest payload_max used */
	size_t len = rndn((uint32_t)w->cfg.payload_max + 1);
	int64_t t = tmo();
	int rc;

	assert_true(len <= sizeof(buf));
	memset(buf, 0x33, sizeof(buf));
	watchdog_arm("shmk_pub_send_copy");
	rc = shmk_pub_send_copy(v->p, buf, len, t);
	watchdog_disarm();
	hist_add("  %s(len %zu, timeout %" PRId64 ") = %d", H.op, len, t, rc);
	if (v->nloans >= w->cfg.max_loans) {
		CHECK_RC(rc, -ENOBUFS, END);
	} else if (w->pat == P_BLOCK) {
		CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, END);
	} else {
		/* -EAGAIN: no free chunk. */
		CHECK_RC(rc, -EAGAIN, END);
	}
}

static void op_drain(struct world *w, struct vport *v)
{
	int64_t t = tmo();
	int rc;

	(void)w;
	watchdog_arm("shmk_pub_drain");
	rc = shmk_pub_drain(v->p, t);
	watchdog_disarm();
	hist_add("  %s(timeout %" PRId64 ") = %d", H.op, t, rc);
	CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, END);
}

static void op_receive(struct world *w, struct vport *v, int client)
{
	struct shmk_sample smp;
	int64_t t = tmo();
	int rc;

	memset(&smp, 0, sizeof(smp));
	if (w->pat == P_REQRES && client && v->pend && !rndn(8)) {
		/* Cancel it: a store to our own pending row. */
		watchdog_arm("shmk_client_cancel");
		rc = shmk_client_cancel(v->p, v->pend);
		watchdog_disarm();
		hist_add("  %s = %d", H.op, rc);
		v->pend = 0;
		CHECK_RC(rc, -ENOENT, END);
		return;
	}
	if (w->pat == P_REQRES && client && v->pend && rndn(2)) {
		watchdog_arm("shmk_client_receive_for");
		rc = shmk_client_receive_for(v->p, v->pend, &smp, t);
		watchdog_disarm();
		hist_add("  %s(timeout %" PRId64 ") = %d", H.op, t, rc);
		/* The end of the streams: no longer pending. */
		if (rc == -ENODATA || rc == -ECONNRESET || rc == -ENOENT)
			v->pend = 0, rc = -EAGAIN;
		CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, -ENOBUFS, -EBADMSG, END);
		if (rc == 0)
			check_sample(w, v, &smp);
		return;
	} else if (w->pat == P_REQRES && client) {
		watchdog_arm("shmk_client_receive");
		rc = shmk_client_receive(v->p, &smp, t);
	} else if (w->pat == P_REQRES) {
		watchdog_arm("shmk_server_receive");
		rc = shmk_server_receive(v->p, &smp, t);
	} else {
		watchdog_arm("shmk_sub_receive");
		rc = shmk_sub_receive(v->p, &smp, t);
	}
	watchdog_disarm();
	hist_add("  %s(timeout %" PRId64 ") = %d%s", H.op, t, rc,
		 rc ? "" : " (sample taken)");
	CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, -ENOBUFS, -EBADMSG, END);
	if (rc == 0)
		check_sample(w, v, &smp);
}

static void op_release(struct world *w, struct vport *v)
{
	unsigned int i;
	int rc;

	(void)w;
	if (!v->nheld)
		return;
	i = rndn(v->nheld);
	watchdog_arm("shmk_sub_release");
	rc = shmk_sub_release(v->p, &v->held[i]);
	watchdog_disarm();
	hist_add("  %s(chunk %u) = %d", H.op, v->held[i].chunk, rc);
	CHECK_RC(rc, END);
	v->held[i] = v->held[--v->nheld];
}

static void op_respond(struct world *w, struct vport *v)
{
	unsigned int i, j, k;
	size_t len;
	int rc;

	if (!v->nheld)
		{ op_receive(w, v, 0); return; }
	if (!v->nloans)
		{ op_loan(w, v); return; }
	i = rndn(v->nheld);
	j = rndn(v->nloans);
	len = rndn((uint32_t)v->lcap[j] + 1);
	k = rndn(4);
	if (k == 3) {
		/* Its client's pending row, read once, index masked. */
		watchdog_arm("shmk_server_cancelled");
		rc = shmk_server_cancelled(v->p, &v->held[i]);
		watchdog_disarm();
		hist_add("  %s(to slot %u) = %d", H.op, v->held[i].origin, rc);
		if (rc != 0 && rc != 1)
			problem("%s returned %d, not 0 or 1", H.op, rc);
		return;
	}
	if (k == 0) {
		watchdog_arm("shmk_server_respond");
		rc = shmk_server_respond(v->p, &v->held[i], v->loans[j], len);
	} else if (k == 1) {
		watchdog_arm("shmk_server_stream");
		rc = shmk_server_stream(v->p, &v->held[i], v->loans[j], len,
					rndn(2) ? SHMK_RESP_LAST : 0, tmo());
	} else {
		watchdog_arm("shmk_server_end");
		rc = shmk_server_end(v->p, &v->held[i], tmo());
	}
	watchdog_disarm();
	hist_add("  %s(kind %u, to slot %u, len %zu) = %d", H.op, k,
		 v->held[i].origin, len, rc);
	/* Fire-and-forget: its flag, possibly the peer's, says no response. */
	if (rc == -EINVAL &&
	    (shmk_sample_flags(&v->held[i]) & SHMK_REQ_NO_RESPONSE))
		rc = 0, k = 3;
	/*
	 * A pending request (its flag possibly the peer's): no room
	 * (-EAGAIN, -ETIMEDOUT), the client gone (-ECANCELED); end loans a
	 * chunk of its own (-ENOBUFS, -EAGAIN).
	 */
	CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, -ECANCELED, -ENOBUFS, END);
	if (rc == 0 && k < 2) {
		v->lcap[j] = v->lcap[v->nloans - 1];
		v->loans[j] = v->loans[--v->nloans];
	}
}

static void op_notify(struct world *w, struct vport *v)
{
	/* Now and then an id out of range, which must be refused. */
	uint32_t id = rndn(8) ? rndn(w->cfg.max_events) :
				w->cfg.max_events + rndn(40);
	int rc;

	watchdog_arm("shmk_notifier_notify");
	rc = shmk_notifier_notify(v->p, id);
	watchdog_disarm();
	hist_add("  %s(id %u) = %d", H.op, id, rc);
	if (id >= w->cfg.max_events) {
		if (rc != -EINVAL)
			problem("%s(id %u >= max_events %u) returned %d, not "
				"-EINVAL", H.op, id, w->cfg.max_events, rc);
		return;
	}
	if (rc > (int)w->cfg.max_subscribers)
		problem("%s returned %d > max_subscribers %u", H.op, rc,
			w->cfg.max_subscribers);
	if (rc < 0)
		CHECK_RC(rc, END);
}

static void op_listen(struct world *w, struct vport *v)
{
	uint32_t ids[8];
	unsigned int max = 1 + rndn(8);
	int64_t t = tmo();
	int rc, i;

	watchdog_arm("shmk_listener_wait");
	rc = shmk_listener_wait(v->p, ids, max, t);
	watchdog_disarm();
	hist_add("  %s(max %u, timeout %" PRId64 ") = %d", H.op, max, t, rc);
	if (rc > (int)max)
		problem("%s returned %d ids, more than max %u", H.op, rc, max);
	for (i = 0; i < rc; i++)
		if (ids[i] >= w->cfg.max_events)
			problem("%s returned id %u >= max_events %u", H.op,
				ids[i], w->cfg.max_events);
	if (rc <= 0)
		CHECK_RC(rc, -EAGAIN, -ETIMEDOUT, END);
	else
		H.events += (unsigned long)rc;
}

/* Close a port (with or without giving back first), or reopen it. */
/*
 * A consumer's port fd (shmk_port_fd()): made once, then polled.  Wakers
 * read the watch mask, slots' armed words and tokens, all corruptible:
 * spurious wake-ups or datagrams to nobody, never a crash or a hang.
 */
static void op_port_fd(struct world *w, struct vport *v)
{
	struct pollfd pf = { .events = POLLIN };
	int rc;

	(void)w;
	watchdog_arm("shmk_port_fd");
	rc = shmk_port_fd(v->p);
	watchdog_disarm();
	hist_add("  %s = %d", H.op, rc);
	if (rc < 0) {
		CHECK_RC(rc, -EADDRINUSE, -EMFILE, -ENFILE, -ENOMEM, END);
		return;
	}
	pf.fd = rc;
	if (poll(&pf, 1, 0) < 0)
		problem("%s: poll of fd %d failed: %s", H.op, rc,
			strerror(errno));
}

static void op_close_open(struct world *w, int cons)
{
	struct vport *v = pick(w, cons);
	int rc;

	if (v->p) {
		if (rndn(2)) {
			while (v->nheld)
				op_release(w, v);
			while (v->nloans)
				op_discard(w, v);
		}
		watchdog_arm("shmk_port_close");
		shmk_port_close(v->p);
		watchdog_disarm();
		hist_add("  %s(%s)", H.op, cons ? "consumer" : "producer");
		memset(v, 0, sizeof(*v));
		return;
	}
	watchdog_arm(cons ? "port open (consumer side)" :
			    "port open (producer side)");
	rc = port_open(w, w->s, cons, &v->p);
	watchdog_disarm();
	hist_add("  %s = %d (slot %d)", H.op, rc,
		 rc ? -1 : shmk_port_slot(v->p));
	CHECK_RC(rc, -EBUSY, -ENOMEM, -EBADMSG, -EPROTO, -ESTALE, END);
	if (rc) {
		if (rc == -EBADMSG || rc == -EPROTO || rc == -ESTALE)
			w->refused++;
		v->p = NULL;
		return;
	}
	rc = shmk_port_slot(v->p);
	if (rc < 0 || (uint32_t)rc >= w->L.nslots)
		problem("%s: slot %d out of range", H.op, rc);
}

static void op_recover(struct world *w)
{
	int rc;

	watchdog_arm("shmk_service_recover");
	rc = shmk_service_recover(w->s);
	watchdog_disarm();
	hist_add("  %s = %d", H.op, rc);
	if (rc > (int)w->L.nslots)
		problem("%s reclaimed %d slots of %u", H.op, rc, w->L.nslots);
	if (rc < 0)
		CHECK_RC(rc, END);
}

/* Statistics on a handle: any values, but bounded, and no crash. */
static void op_stats(struct world *w, struct shmk_service *s)
{
	uint32_t a, b, n;

	watchdog_arm("shmk_service_chunks_used");
	n = shmk_service_chunks_used(s);
	if (n > shmk_service_chunks(s))
		problem("%s = %u > chunks %u", H.op, n, shmk_service_chunks(s));
	watchdog_arm("shmk_service_participants");
	n = shmk_service_participants(s);
	if (n > w->L.nslots)
		problem("%s = %u > slots %u", H.op, n, w->L.nslots);
	watchdog_arm("shmk_service_roles");
	shmk_service_roles(s, &a, &b);
	if (a + b > w->L.nslots)
		problem("%s = %u + %u > slots %u", H.op, a, b, w->L.nslots);
	watchdog_arm("shmk_service_backlog");
	shmk_service_backlog(s);
	if (shmk_service_dead) {
		watchdog_arm("shmk_service_dead");
		n = shmk_service_dead(s);
		if (n > w->L.nslots)
			problem("%s = %u > slots %u", H.op, n, w->L.nslots);
	}
	watchdog_disarm();
}

/* A fresh handle on the name, as a newcomer would open it. */
static void op_fresh(struct world *w)
{
	struct shmk_svc_config c = w->want;
	struct shmk_service *s = NULL;
	struct shmk_port *p = NULL;
	const struct shmk_obj_hdr *h = (const void *)w->base;
	int rc, which = rndn(3);

	/* With no magic an open waits a second: not too often. */
	if (!atomic_load_explicit(&h->magic, memory_order_relaxed) && rndn(8))
		return;
	watchdog_arm("shmk_service_open (fresh handle)");
	rc = shmk_service_open(w->name, which == 0 ? NULL : &c,
			       which == 2 ? SHMK_SVC_CREATE : 0, &s);
	watchdog_disarm();
	hist_add("  %s = %d", H.op, rc);
	CHECK_RC(rc, -EPROTOTYPE, -EBADMSG, -EPROTO, -EAGAIN, -ENOMEM, END);
	if (rc)
		return;
	op_stats(w, s);
	if (rndn(2)) {
		int cons = (int)rndn(2);

		watchdog_arm("port open on a fresh handle");
		rc = port_open(w, s, cons, &p);
		watchdog_disarm();
		hist_add("  %s = %d", H.op, rc);
		CHECK_RC(rc, -EBUSY, -ENOMEM, -EBADMSG, -EPROTO, -ESTALE, END);
		watchdog_arm("shmk_port_close");
		shmk_port_close(p);
		watchdog_disarm();
	}
	shmk_service_close(s);
}

/* One random victim operation. */
static void victim_op(struct world *w)
{
	unsigned int r = rndn(100);
	struct vport *v;
	int cons;

	if (r < 4)
		{ op_close_open(w, (int)rndn(2)); return; }
	if (r < 8)
		{ op_recover(w); return; }
	if (r < 11)
		{ op_fresh(w); return; }
	if (r < 13)
		{ op_stats(w, w->s); return; }
	cons = r & 1;
	v = pick(w, cons);
	if (!v->p)
		{ op_close_open(w, cons); return; }
	r = rndn(100);
	if (cons && r < 5)
		{ op_port_fd(w, v); return; }
	if (w->pat == P_EVENT) {
		cons ? op_listen(w, v) : op_notify(w, v);
		return;
	}
	if (!cons) {
		/* Producer side: publishers, clients. */
		if (r < 30)
			{ op_loan(w, v); return; }
		if (r < 70)
			{ op_publish(w, v); return; }
		if (r < 76)
			{ op_discard(w, v); return; }
		if (r < 84 && w->pat != P_REQRES)
			{ op_send_copy(w, v); return; }
		if (r < 90 && w->pat != P_REQRES)
			{ op_drain(w, v); return; }
		if (w->pat == P_REQRES)
			{ rndn(2) ? op_receive(w, v, 1) : op_release(w, v); return; }
		{ op_publish(w, v); return; }
	}
	/* Consumer side: subscribers, the server. */
	if (w->pat == P_REQRES && r > 50)
		{ r > 90 ? op_drain(w, v) : op_respond(w, v); return; }
	if (r < 60)
		{ op_receive(w, v, 0); return; }
	{ op_release(w, v); return; }
}

static void run_pattern(enum pattern pat)
{
	static struct world w;
	const char *only = getenv("SHMK_HOSTILE_PATTERN");
	volatile unsigned long it;
	unsigned long problems_before = H.problems;

	if (only && *only && strcmp(only, pat_name[pat])) {
		skip();
		return;
	}
	use_memfd_backend();
	/* The mapping check reads /proc/self/maps for the memfd file. */
	if (shmk_backend_select() != SHMK_BACKEND_MEMFD) {
		skip();
		return;
	}
	fatal_install();
	memset(&w, 0, sizeof(w));
	w.pat = pat;
	H.w = &w;
	H.pat = pat;
	H.seed = env_ul("SHMK_HOSTILE_SEED", 1);
	H.iters = scaled(env_ul("SHMK_HOSTILE_ITERS", 2000));
	H.keepgoing = env_ul("SHMK_HOSTILE_KEEPGOING", 0) != 0;
	H.verbose = env_ul("SHMK_HOSTILE_VERBOSE", 0) != 0;
	/* One stream per pattern: a pattern alone repeats its run. */
	rng = (H.seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(pat + 1) << 56;
	if (!rng)
		rng = 1;
	uniq_name(w.base_name, sizeof(w.base_name), "hostile");
	printf("hostile %s: seed %" PRIu64 ", %lu iterations "
	       "(SHMK_HOSTILE_SEED, SHMK_HOSTILE_ITERS)\n", pat_name[pat],
	       H.seed, H.iters);
	world_create(&w);
	race_start(&w);
	for (it = 0; it < H.iters; it++) {
		H.iter = it;
		H.op = NULL;
		if (setjmp(H.jb)) {
			/* problem() came back here. */
			if (!H.keepgoing) {
				race_end();
				world_destroy(&w);
				fail_msg("hostile %s: problem at seed %" PRIu64
					 " iteration %lu (see above)",
					 pat_name[pat], H.seed, H.iter);
			}
			world_destroy(&w);
			world_create(&w);
			continue;
		}
		if (w.nundo && (rndn(10) == 0 || w.refused > 3))
			heal_header(&w);
		if (it && rndn(w.rebuild_one_in) == 0) {
			world_destroy(&w);
			world_create(&w);
		}
		/* A long life with fewer corruptions, a short one with more. */
		if (rndn(w.rebuild_one_in > REBUILD_ONE_IN ? 8 : 2) == 0)
			corrupt(&w);
		for (unsigned int n = 1 + rndn(3); n; n--)
			victim_op(&w);
	}
	H.op = NULL;
	race_end();
	world_destroy(&w);
	printf("hostile %s: %lu corruptions, %lu operations (%lu loans, %lu "
	       "published, %lu received, %lu event ids), %lu problems, %lu "
	       "undocumented -EBADMSG\n", pat_name[pat], H.corruptions, H.ops,
	       H.loaned, H.published, H.received, H.events,
	       H.problems - problems_before, H.ebadmsg_undoc);
	H.corruptions = H.ops = H.ebadmsg_undoc = 0;
	H.loaned = H.published = H.received = H.events = 0;
	if (H.problems != problems_before)
		fail_msg("hostile %s: %lu problems (keep-going mode)",
			 pat_name[pat], H.problems - problems_before);
}

static void hostile_pubsub_safe(void **state)
{
	(void)state;
	run_pattern(P_SAFE);
}

static void hostile_pubsub_block(void **state)
{
	(void)state;
	run_pattern(P_BLOCK);
}

static void hostile_reqres(void **state)
{
	(void)state;
	run_pattern(P_REQRES);
}

/*
 * Zero-trust: the same runs with the payloads in the producers' data
 * regions; the peer still rewrites everything in the service region
 * (holders, cursors, wake words, ring entries naming any chunk, chunk
 * headers), and no sample may point outside a data region's mapping.
 */
static void hostile_pubsub_zt(void **state)
{
	(void)state;
	zt_mode = 1;
	run_pattern(P_SAFE);
	zt_mode = 0;
}

static void hostile_reqres_zt(void **state)
{
	(void)state;
	zt_mode = 1;
	run_pattern(P_REQRES);
	zt_mode = 0;
}

static void hostile_pubsub_dyn(void **state)
{
	(void)state;
	zt_mode = 2;
	run_pattern(P_SAFE);
	zt_mode = 0;
}

static void hostile_reqres_dyn(void **state)
{
	(void)state;
	zt_mode = 2;
	run_pattern(P_REQRES);
	zt_mode = 0;
}

static void hostile_event(void **state)
{
	(void)state;
	run_pattern(P_EVENT);
}

/*
 * A peer resizes the service's memory (memfd backend).  A service is a
 * sealed memfd (lib/broker.c) behind the rendezvous file /dev/shm/shmk.N:
 *  - ftruncate() of the memfd, smaller or bigger, by a holder of its
 *    read-write fd fails with EPERM (F_SEAL_SHRINK, F_SEAL_GROW);
 *  - the rendezvous file is never mapped: truncating it, or rewriting its
 *    header, changes nothing for those already in (a newcomer gets
 *    -EBADMSG, a clear error, and no signal).
 * The victim (ports and a raw handle in a child) must then go on working,
 * every call succeeding as before, with no SIGBUS; under ASan too.  With
 * the seals taken out of shmk__brk_create() the first truncate succeeds
 * and the victim dies of SIGBUS (seen when this test was written).  The
 * device backend refuses every resize: selftests/shmk/region_test.c,
 * no_holder_can_resize.
 */

/* This process's read-write fd of the memfd behind region @rname, or -1. */
static int find_memfd(const char *rname)
{
	char want[128], link[256], path[64];
	int fd, found = -1;
	ssize_t n;

	snprintf(want, sizeof(want), "/memfd:shmk.%s (deleted)", rname);
	for (fd = 0; fd < 1024 && found < 0; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, want) &&
		    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR)
			found = fd;
	}
	return found;
}

/* The victim's every operation once more: each must succeed. */
static void victim_works(struct shmk_port *pub, struct shmk_port *sub,
			 struct shmk_service *s, const char *when)
{
	struct shmk_sample smp;
	void *pl;
	int rc;

	watchdog_arm("shmk_pub_loan after truncate");
	rc = shmk_pub_loan(pub, &pl);
	hist_add("  %s %s = %d", when, H.op, rc);
	CHILD_CHECK(rc == 0);
	memset(pl, 0x5a, 1);
	watchdog_arm("shmk_pub_publish after truncate");
	rc = shmk_pub_publish(pub, pl, 1, 0);
	hist_add("  %s %s = %d", when, H.op, rc);
	CHILD_CHECK(rc == 0);
	watchdog_arm("shmk_sub_receive after truncate");
	do {
		rc = shmk_sub_receive(sub, &smp, 0);
		if (rc == 0) {
			CHILD_CHECK(smp.len == 1);
			shmk_sub_release(sub, &smp);
		}
	} while (rc == 0);
	hist_add("  %s %s = %d", when, H.op, rc);
	CHILD_CHECK(rc == -EAGAIN);
	watchdog_arm("shmk_service_recover after truncate");
	rc = shmk_service_recover(s);
	hist_add("  %s %s = %d", when, H.op, rc);
	CHILD_CHECK(rc >= 0);
	watchdog_disarm();
}

static void victim_after_truncate(const char *name)
{
	struct shmk_svc_config c = pattern_cfg(P_SAFE);
	struct shmk_service *s = NULL;
	struct shmk_port *pub = NULL, *sub = NULL;
	struct shmk_region *raw = NULL, *late = NULL;
	char rname[SHMK_NAME_MAX], junk[64];
	uint64_t size;
	int mfd, rfd, t, t0, e, e0;

	fatal_install();
	H.pat = P_TRUNC;
	H.iter = 0;
	H.nhist = 0;
	CHILD_CHECK(shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
				      &s) == 0);
	CHILD_CHECK(shmk_pub_open(s, &pub) == 0);
	CHILD_CHECK(shmk_sub_open(s, &sub) == 0);
	CHILD_CHECK(shmk_pub_send_copy(pub, "x", 1, 0) == 0);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	CHILD_CHECK(shmk_region_open(rname, 0, &raw) == 0);
	size = shmk_region_size(raw);

	/* The memfd: a peer holding it read-write cannot resize it. */
	mfd = find_memfd(rname);
	CHILD_CHECK(mfd >= 0);
	/* Bigger first, then 0: unsealed, the victim would die next. */
	t = ftruncate(mfd, (off_t)size * 2);
	e = errno;
	hist_add("peer ftruncate(memfd, %llu) = %d", 2ULL * size, t);
	t0 = ftruncate(mfd, 0);
	e0 = errno;
	fprintf(stderr, "hostile truncate: peer's ftruncate(memfd, 0) = %d%s%s\n",
		t0, t0 ? ": " : "", t0 ? strerror(e0) : "");
	hist_add("peer ftruncate(memfd, 0) = %d", t0);
	victim_works(pub, sub, s, "memfd truncated:");
	CHILD_CHECK(t == -1 && e == EPERM);
	CHILD_CHECK(t0 == -1 && e0 == EPERM);
	CHILD_CHECK(fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE) == -1 &&
		    errno == EPERM);

	/* The rendezvous file: shrunk, then rewritten, then grown. */
	rfd = shmk_region_fd(raw);
	t = ftruncate(rfd, 0);
	fprintf(stderr, "hostile truncate: peer's ftruncate(rendezvous, 0) = %d\n",
		t);
	hist_add("peer ftruncate(rendezvous, 0) = %d", t);
	CHILD_CHECK(t == 0);
	victim_works(pub, sub, s, "rendezvous truncated:");
	/* A newcomer finds no header: a clear error, no signal. */
	CHILD_CHECK(shmk_region_open(rname, 0, &late) == -EBADMSG);
	memset(junk, 0xa5, sizeof(junk));
	CHILD_CHECK(pwrite(rfd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
	CHILD_CHECK(ftruncate(rfd, (off_t)size * 4) == 0);
	hist_add("peer rewrote and grew the rendezvous file");
	victim_works(pub, sub, s, "rendezvous rewritten:");
	CHILD_CHECK(shmk_region_open(rname, 0, &late) == -EBADMSG);

	watchdog_arm("shmk_port_close after truncate");
	shmk_port_close(pub);
	shmk_port_close(sub);
	watchdog_disarm();
	shmk_service_close(s);
	shmk_region_close(raw);
	shmk_service_remove(name);
	_exit(0);
}

static void hostile_truncate(void **state)
{
	const char *only = getenv("SHMK_HOSTILE_PATTERN");
	char name[SHMK_SVC_NAME_MAX];
	pid_t pid;
	int st;

	(void)state;
	if (only && *only && strcmp(only, "truncate")) {
		skip();
		return;
	}
	use_memfd_backend();
	if (shmk_backend_select() != SHMK_BACKEND_MEMFD) {
		skip();
		return;
	}
	uniq_name(name, sizeof(name), "trunc");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		victim_after_truncate(name);
	st = reap(pid);
	shmk_service_remove(name);
	if (st != 0)
		fail_msg("hostile truncate: the victim did not survive a "
			 "peer's ftruncate() (status %d; %d is SIGBUS): the "
			 "memfd backend must refuse it (sealed memfd)", st,
			 128 + SIGBUS);
}

/*
 * Blackboard (include/shmk/blackboard.h), self-contained: a writer and
 * two readers in this process, a hostile peer's raw mapping that writes
 * random values into the key count, the entries (sequences, lengths,
 * keys, values) and now and then the slots and the header, between
 * random victim operations.  Every return code must be documented, no
 * read may return more than its buffer or value_size (the buffers are
 * exactly their size, so AddressSanitizer sees a byte more), no key list
 * more than the keys, and nothing may hang (the watchdog).
 */
#define BB_NK	6	/* keys of the service */
#define BB_VS	40	/* value_size */

struct bbw {
	char name[SHMK_SVC_NAME_MAX];
	struct shmk_service *s;
	struct shmk_region *raw;
	unsigned char *base;
	uint64_t lo, hi;	/* the blackboard area: header, entries */
	struct shmk_port *w, *r[2];
};

static void bb_world_create(struct bbw *b)
{
	struct shmk_svc_config c;
	char rname[SHMK_NAME_MAX];
	int i;

	shmk_bb_config(&c, BB_NK, 8, BB_VS, 3);
	uniq_name(b->name, sizeof(b->name), "hbb");
	assert_int_equal(shmk_service_open(b->name, &c, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &b->s), 0);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", b->name);
	assert_int_equal(shmk_region_open(rname, 0, &b->raw), 0);
	b->base = shmk_region_base(b->raw);
	b->lo = b->s->v.g.chunks_off;
	b->hi = b->s->v.g.total;
	assert_int_equal(shmk_bb_writer_open(b->s, &b->w), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(shmk_bb_reader_open(b->s, &b->r[i]), 0);
	H.nhist = 0;
}

static void bb_world_destroy(struct bbw *b)
{
	int i;

	for (i = 0; i < 2; i++)
		shmk_port_close(b->r[i]);
	shmk_port_close(b->w);
	shmk_region_close(b->raw);
	shmk_service_remove(b->name);
	shmk_service_close(b->s);
	memset(b, 0, sizeof(*b));
}

static uint64_t bb_val(void)
{
	static const uint64_t v[] = { 0, 1, 2, 3, BB_NK - 1, BB_NK, BB_NK + 1,
		BB_VS - 1, BB_VS, BB_VS + 1, 0xffffffffULL, 0x100000000ULL,
		UINT64_MAX, UINT64_MAX - 1, 1ULL << 63, 1ULL << 40 };

	return rndn(4) ? v[rndn(NF(v))] : rnd();
}

static void bb_corrupt(struct bbw *b)
{
	uint64_t off, x = bb_val();
	unsigned int which = rndn(10);

	if (which < 8) {		/* the blackboard area */
		off = b->lo + 8 * (uint64_t)rndn((uint32_t)((b->hi - b->lo) / 8));
		if (off == b->lo && rndn(2))	/* the key count */
			x = rndn(2) ? BB_NK + rndn(3) : rndn(BB_NK + 1);
	} else if (which == 8) {	/* a slot's state */
		off = b->s->v.g.slots_off + (uint64_t)rndn(b->s->v.g.nslots) *
		      sizeof(struct svc_slot);
		x = rndn(2) ? ST_ALIVE | rndn(8) : rndn(2) ? ST_FREE : rnd();
		__atomic_store_n((uint32_t *)(void *)(b->base + off),
				 (uint32_t)x, __ATOMIC_RELAXED);
		hist_add("peer: slot word at %" PRIu64 " = %#" PRIx64, off, x);
		H.corruptions++;
		return;
	} else {			/* a header word */
		off = 8 * (uint64_t)rndn(sizeof(struct svc_shared) / 8);
	}
	__atomic_store_n((uint64_t *)(void *)(b->base + off), x,
			 __ATOMIC_RELAXED);
	hist_add("peer: word at %" PRIu64 " = %#" PRIx64, off, x);
	H.corruptions++;
}

static void bb_victim_op(struct bbw *b)
{
	uint64_t k = rndn(BB_NK + 2), v;
	struct shmk_port *r = b->r[rndn(2)], **pp;
	size_t size = rndn(BB_VS + 2);
	unsigned char *buf, val[BB_VS];
	uint64_t *keys;
	int ret, i;

	memset(val, (int)k, sizeof(val));
	switch (rndn(12)) {
	case 0:
		if (!b->w)
			break;
		watchdog_arm("shmk_bb_add");
		ret = shmk_bb_add(b->w, &k, val, rndn(BB_VS + 1));
		CHECK_RC(ret, -EEXIST, -ENOSPC, END);
		break;
	case 1:
	case 2:
		if (!b->w)
			break;
		watchdog_arm("shmk_bb_write");
		ret = shmk_bb_write(b->w, &k, val, rndn(BB_VS + 1));
		CHECK_RC(ret, -ENOENT, END);
		break;
	case 3:
	case 4:
	case 5:
		if (!r)
			break;
		buf = malloc(size ? size : 1);
		assert_non_null(buf);
		watchdog_arm("shmk_bb_read");
		ret = shmk_bb_read(r, &k, size ? buf : NULL, size, &v);
		if (ret > (int)size || ret > BB_VS)
			problem("shmk_bb_read returned %d for a buffer of %zu", ret,
				size);
		if (ret >= 0 && (v & 1))
			problem("shmk_bb_read returned an odd version %" PRIu64, v);
		free(buf);
		if (ret > 0)
			ret = 0;
		CHECK_RC(ret, -ENOENT, -EAGAIN, -ENODATA, -EMSGSIZE, -EBADMSG,
			 END);
		break;
	case 6:
		if (!r)
			break;
		watchdog_arm("shmk_bb_changed");
		ret = shmk_bb_changed(r, &k);
		CHECK_RC(ret == 1 ? 0 : ret, -ENOENT, END);
		watchdog_arm("shmk_bb_wait");
		ret = shmk_bb_wait(r, &k, rndn(2) ? 0 : TMO_NS);
		CHECK_RC(ret, -ENOENT, -EAGAIN, -ETIMEDOUT, END);
		break;
	case 7:
		pp = rndn(2) ? &b->w : &b->r[rndn(2)];
		if (!*pp)
			break;
		keys = malloc(BB_NK * 8);
		assert_non_null(keys);
		i = (int)rndn(BB_NK + 1);
		watchdog_arm("shmk_bb_keys");
		ret = shmk_bb_keys(*pp, i ? keys : NULL, (size_t)i);
		free(keys);
		if (ret > BB_NK)
			problem("shmk_bb_keys listed %d keys of %d", ret, BB_NK);
		CHECK_RC(ret > 0 ? 0 : ret, END);
		break;
	case 8:
	case 9:
		i = (int)rndn(3);
		pp = i == 2 ? &b->w : &b->r[i];
		watchdog_arm(*pp ? "shmk_port_close" : "shmk_bb_*_open");
		if (*pp) {
			shmk_port_close(*pp);
			*pp = NULL;
			break;
		}
		ret = i == 2 ? shmk_bb_writer_open(b->s, pp) :
			       shmk_bb_reader_open(b->s, pp);
		if (ret)
			*pp = NULL;
		CHECK_RC(ret, -EBUSY, -EBADMSG, -ESTALE, -EPROTO, END);
		break;
	default:
		watchdog_arm("shmk_service_recover");
		ret = shmk_service_recover(b->s);
		CHECK_RC(ret > 0 ? 0 : ret, END);
		break;
	}
	watchdog_disarm();
	hist_add("victim: %s", H.op ? H.op : "-");
}

static void hostile_blackboard(void **state)
{
	static struct bbw b;
	const char *only = getenv("SHMK_HOSTILE_PATTERN");
	volatile unsigned long it;
	unsigned long problems_before = H.problems;

	(void)state;
	if (only && *only && strcmp(only, pat_name[P_BB])) {
		skip();
		return;
	}
	use_memfd_backend();
	fatal_install();
	H.pat = P_BB;
	H.w = NULL;
	H.seed = env_ul("SHMK_HOSTILE_SEED", 1);
	H.iters = scaled(env_ul("SHMK_HOSTILE_ITERS", 2000));
	H.keepgoing = env_ul("SHMK_HOSTILE_KEEPGOING", 0) != 0;
	H.verbose = env_ul("SHMK_HOSTILE_VERBOSE", 0) != 0;
	rng = (H.seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(P_BB + 1) << 56;
	if (!rng)
		rng = 1;
	printf("hostile blackboard: seed %" PRIu64 ", %lu iterations\n",
	       H.seed, H.iters);
	bb_world_create(&b);
	for (it = 0; it < H.iters; it++) {
		H.iter = it;
		H.op = NULL;
		if (setjmp(H.jb)) {
			bb_world_destroy(&b);
			if (!H.keepgoing)
				fail_msg("hostile blackboard: problem at seed %"
					 PRIu64 " iteration %lu (see above)",
					 H.seed, H.iter);
			bb_world_create(&b);
			continue;
		}
		if (it && rndn(150) == 0) {
			bb_world_destroy(&b);
			bb_world_create(&b);
		}
		if (rndn(3) == 0)
			bb_corrupt(&b);
		for (unsigned int n = 1 + rndn(3); n; n--)
			bb_victim_op(&b);
	}
	H.op = NULL;
	bb_world_destroy(&b);
	printf("hostile blackboard: %lu corruptions, %lu operations, %lu "
	       "problems, %lu undocumented -EBADMSG\n", H.corruptions, H.ops,
	       H.problems - problems_before, H.ebadmsg_undoc);
	H.corruptions = H.ops = H.ebadmsg_undoc = 0;
	if (H.problems != problems_before)
		fail_msg("hostile blackboard: %lu problems (keep-going mode)",
			 H.problems - problems_before);
}

/*
 * A service written by a library of layout 3 (before port fds, request
 * flags, a channel per server and the blackboard) is refused with
 * -EPROTO: this library would not wake its port fds, nor it ours.
 * Fails with SVC_LAYOUT left at 3.
 */
static void layout_3_is_refused(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB);
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX];
	struct shmk_service *s, *s2 = NULL;
	struct shmk_region *raw;
	struct svc_shared *sh;

	(void)state;
	uniq_name(name, sizeof(name), "layout");
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
					   &s), 0);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_region_open(rname, 0, &raw), 0);
	sh = shmk_region_base(raw);
	assert_int_equal(SHMK_READ_ONCE(sh->layout), SVC_LAYOUT);
	__atomic_store_n(&sh->layout, 3, __ATOMIC_RELAXED);
	assert_int_equal(shmk_service_open(name, &c, 0, &s2), -EPROTO);
	assert_null(s2);
	__atomic_store_n(&sh->layout, SVC_LAYOUT, __ATOMIC_RELAXED);
	assert_int_equal(shmk_service_open(name, &c, 0, &s2), 0);
	shmk_service_close(s2);
	shmk_region_close(raw);
	shmk_service_close(s);
	shmk_service_remove(name);
}

/*
 * Layout 5's header fields, written by a hostile peer: the type name is
 * read once into a private copy and checked there (NUL within 64 bytes,
 * printable), the sizes against their limits and the geometry; anything
 * else is -EBADMSG, and the pristine header opens again.
 */
static void type_fields_checked(void **state)
{
	struct shmk_svc_config c = cfg_of(SHMK_SVC_PUBSUB), got;
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX], saved[64];
	struct shmk_service *s, *s2 = NULL;
	struct shmk_region *raw;
	struct svc_shared *sh;
	uint64_t tsize;
	uint32_t tal, uh;

	(void)state;
	strcpy(c.type_name, "Pose");
	c.type_size = 32;
	c.type_align = 8;
	c.user_header_size = 64;
	uniq_name(name, sizeof(name), "typed");
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL,
					   &s), 0);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_region_open(rname, 0, &raw), 0);
	sh = shmk_region_base(raw);
	memcpy(saved, sh->type_name, sizeof(saved));
	tsize = sh->type_size;
	tal = sh->type_align;
	uh = sh->uhdr;
#define REFUSED()							\
	do {								\
		assert_int_equal(shmk_service_open(name, NULL, 0, &s2),	\
				 -EBADMSG);				\
		assert_null(s2);					\
	} while (0)
	memset(sh->type_name, 'A', sizeof(saved));	/* no NUL */
	REFUSED();
	memcpy(sh->type_name, saved, sizeof(saved));
	sh->type_name[2] = '\n';			/* not printable */
	REFUSED();
	memcpy(sh->type_name, saved, sizeof(saved));
	sh->type_name[40] = 'x';			/* after the NUL */
	REFUSED();
	memcpy(sh->type_name, saved, sizeof(saved));
	sh->type_size = 1ULL << 40;			/* > payload_max */
	REFUSED();
	sh->type_size = 36;				/* not a multiple of 8 */
	REFUSED();
	sh->type_size = tsize;
	sh->type_align = 3;
	REFUSED();
	sh->type_align = 1U << 31;
	REFUSED();
	sh->type_align = tal;
	sh->uhdr = 1U << 31;				/* > the maximum */
	REFUSED();
	sh->uhdr = 128;					/* another geometry */
	REFUSED();
	sh->uhdr = uh;
#undef REFUSED
	assert_int_equal(shmk_service_open(name, NULL, 0, &s2), 0);
	shmk_service_config(s2, &got);
	assert_string_equal(got.type_name, "Pose");
	assert_int_equal(got.user_header_size, 64);
	shmk_service_close(s2);
	shmk_region_close(raw);
	shmk_service_close(s);
	shmk_service_remove(name);
}

/*
 * Layout 6's pending rows and a request's row index, written by a hostile
 * peer: whatever the words and the index bits hold, shmk_server_cancelled()
 * answers 0 or 1 and shmk_server_stream() 0 or -ECANCELED, reading only
 * the request's client's row (ASan: the row of the last client is the
 * last thing before the message headers); the pristine words give the
 * right answer back.
 */
static void pend_rows_hostile(void **state)
{
	static const uint64_t vals[] = { 0, 1, 2, ~0ULL, 1ULL << 63,
					 0x8000000000000001ULL };
	struct shmk_svc_config c = cfg_of(SHMK_SVC_REQRES);
	char name[SHMK_SVC_NAME_MAX], rname[SHMK_NAME_MAX];
	struct shmk_service *s;
	struct shmk_port *cl, *sv;
	struct shmk_region *raw;
	struct shmk_sample req, bad;
	struct svc_view hv;
	_Atomic uint64_t *row;
	uint32_t k, f, i;
	uint64_t corr;
	void *pl;
	int rc;

	(void)state;
	use_memfd_backend();
	c.max_publishers = 2;
	c.buffer = 64;
	uniq_name(name, sizeof(name), "pend");
	assert_int_equal(shmk_service_open(name, &c, SHMK_SVC_CREATE |
					   SHMK_SVC_EXCL, &s), 0);
	assert_int_equal(shmk_server_open(s, &sv), 0);
	assert_int_equal(shmk_client_open(s, &cl), 0);
	snprintf(rname, sizeof(rname), SHMK_SVC_PREFIX "%s", name);
	assert_int_equal(shmk_region_open(rname, 0, &raw), 0);
	assert_int_equal(view_attach(&hv, raw), 0);
	assert_int_equal(shmk_pub_loan(cl, &pl), 0);
	assert_int_equal(shmk_client_request(cl, pl, 4, 0, &corr, NULL, 0), 0);
	assert_int_equal(shmk_server_receive(sv, &req, 0), 0);
	row = pend_of(&hv, req.origin);
	assert_int_equal(atomic_load(&row[MSG_PEND(req.reserved)]), corr);
	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		for (i = 0; i < SHMK_SVC_PENDING_MAX; i++)
			atomic_store(&row[i], vals[k] ? vals[k] : corr);
		/* Every index a peer can write in the flags' 16 high bits. */
		for (f = 0; f < 0x10000; f += 0x111) {
			bad = req;
			bad.reserved = (req.reserved & 0xffff) | f << 16;
			rc = shmk_server_cancelled(sv, &bad);
			assert_true(rc == 0 || rc == 1);
			assert_int_equal(rc, vals[k] ? vals[k] != corr : 0);
			assert_int_equal(shmk_pub_loan(sv, &pl), 0);
			rc = shmk_server_stream(sv, &bad, pl, 4, 0, 0);
			if (rc)
				shmk_pub_discard(sv, pl);
			assert_true(rc == 0 || rc == -ECANCELED);
			assert_int_equal(rc == -ECANCELED,
					 vals[k] ? vals[k] != corr : 0);
			while (shmk_client_receive(cl, &bad, 0) == 0)
				shmk_sub_release(cl, &bad);
		}
	}
	/* Pristine again: wanted; cleared: cancelled. */
	for (i = 0; i < SHMK_SVC_PENDING_MAX; i++)
		atomic_store(&row[i], 0);
	atomic_store(&row[MSG_PEND(req.reserved)], corr);
	assert_int_equal(shmk_server_cancelled(sv, &req), 0);
	assert_int_equal(shmk_client_cancel(cl, corr), 0);
	assert_int_equal(shmk_server_cancelled(sv, &req), 1);
	shmk_sub_release(sv, &req);
	shmk_region_close(raw);
	shmk_port_close(sv);
	shmk_port_close(cl);
	assert_int_equal(shmk_service_chunks_used(s), 0);
	shmk_service_close(s);
	shmk_service_remove(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostile_pubsub_safe),
		cmocka_unit_test(hostile_pubsub_block),
		cmocka_unit_test(hostile_reqres),
		cmocka_unit_test(hostile_pubsub_zt),
		cmocka_unit_test(hostile_reqres_zt),
		cmocka_unit_test(hostile_pubsub_dyn),
		cmocka_unit_test(hostile_reqres_dyn),
		cmocka_unit_test(hostile_event),
		cmocka_unit_test(hostile_truncate),
		cmocka_unit_test(hostile_blackboard),
		cmocka_unit_test(layout_3_is_refused),
		cmocka_unit_test(type_fields_checked),
		cmocka_unit_test(pend_rows_hostile),
	};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_set_death_callback(on_asan_death);
#endif
	fatal_save();
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
