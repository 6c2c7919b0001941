/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk: definitions shared by every structure placed in region memory.
 *
 * Every lock-free structure that libshmk places in a region starts with a
 * struct shmk_obj_hdr.  The header is position independent (sizes and
 * offsets only, never pointers) and is validated whenever a process
 * attaches, so that a corrupt or foreign header is an error, not a crash.
 * Documentation/library.rst describes the layouts byte by byte.
 */
#ifndef SHMK_COMMON_H
#define SHMK_COMMON_H

#include <stddef.h>
#include <stdint.h>

/*
 * Shared words are C11 atomics in C and std::atomic in C++, so that the
 * public headers, whose hot paths are inline, also compile as C++ (C++23
 * has <stdatomic.h> for this; earlier standards do not).  Both are the
 * same lock-free object of the plain type's size and alignment (checked
 * below), so a C and a C++ participant share a ring.
 *
 * SHMK_ATOMIC(T) declares a shared word.  SHMK__USE_ATOMICS (no
 * semicolon after it), at the start of an inline function's body, brings
 * the C11 names the body uses (atomic_load_explicit(),
 * memory_order_acquire, ...) into that block's scope in C++ (std::), and
 * is empty in C, where it adds no statement before the declarations: the
 * bodies read the same in both languages and nothing is added to the
 * user's namespace.
 */
#ifdef __cplusplus
#include <atomic>
#define SHMK_ATOMIC(T)	std::atomic<T>
#define SHMK__USE_ATOMICS						\
	using std::atomic_load_explicit;				\
	using std::atomic_store_explicit;				\
	using std::atomic_fetch_add_explicit;				\
	using std::atomic_compare_exchange_weak_explicit;		\
	using std::atomic_compare_exchange_strong_explicit;		\
	using std::atomic_thread_fence;					\
	using std::memory_order_relaxed;				\
	using std::memory_order_acquire;				\
	using std::memory_order_release;				\
	using std::memory_order_acq_rel;				\
	using std::memory_order_seq_cst;
#else
#include <stdatomic.h>
#define SHMK_ATOMIC(T)	_Atomic T
#define SHMK__USE_ATOMICS
#endif

#if defined(__GNUC__)
#define SHMK_API	__attribute__((visibility("default")))
#define SHMK_INLINE	static inline __attribute__((always_inline))
#define SHMK_LIKELY(x)	__builtin_expect(!!(x), 1)
#define SHMK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SHMK_API
#define SHMK_INLINE	static inline
#define SHMK_LIKELY(x)	(x)
#define SHMK_UNLIKELY(x) (x)
#endif

/*
 * Every structure here is shared between processes through plain atomics
 * in region memory, so the atomics must be lock-free.  Where an
 * atomic type is not, the compiler falls back to libatomic's lock table,
 * which is private to each process: two processes would then each take
 * their own lock and update the same word without any mutual exclusion,
 * torn and unordered.  Refuse such targets at compile time (32- and
 * 64-bit words; lib-audit #16).  <atomic> defines the same macros as
 * <stdatomic.h>; in C++ the shared word must also be exactly the plain
 * word, as in C, for the layouts to agree.
 */
#ifdef __cplusplus
#define SHMK__STATIC_ASSERT(c, m)	static_assert(c, m)
#define SHMK__ALIGNOF(t)		alignof(t)
#else
#define SHMK__STATIC_ASSERT(c, m)	_Static_assert(c, m)
#define SHMK__ALIGNOF(t)		_Alignof(t)
#endif
SHMK__STATIC_ASSERT(ATOMIC_INT_LOCK_FREE == 2,
		    "libshmk needs always-lock-free 32-bit atomics (cross-process)");
SHMK__STATIC_ASSERT(ATOMIC_LLONG_LOCK_FREE == 2,
		    "libshmk needs always-lock-free 64-bit atomics (cross-process)");
SHMK__STATIC_ASSERT(sizeof(SHMK_ATOMIC(uint32_t)) == 4 &&
		    SHMK__ALIGNOF(SHMK_ATOMIC(uint32_t)) == 4 &&
		    sizeof(SHMK_ATOMIC(uint64_t)) == 8 &&
		    SHMK__ALIGNOF(SHMK_ATOMIC(uint64_t)) == 8,
		    "shared words must have the plain words' size and alignment");

/*
 * Crash points (lib/crashpoint.h has the rule and the harness).  The
 * inline hot paths in these public headers cannot include lib/
 * crashpoint.h, so the macro lives here, and lib/crashpoint.h uses this
 * one definition (SHMK_CP() is SHMK__CP()).  In a normal build it is
 * empty, and nothing below is declared.  With SHMK_CRASHPOINTS defined
 * (the crash-point build of the library and of its harness) each use is
 * one static site in the section "shmk_cp_sites", and each execution
 * calls shmk__cp(), which may kill the process there.
 */
#ifdef SHMK_CRASHPOINTS
#ifdef __cplusplus
extern "C" {
#endif
/**
 * struct shmk_cp_site - one crash point in the source
 * @file:	__FILE__ of the SHMK__CP() use
 * @line:	__LINE__ of the SHMK__CP() use
 * @hits:	executions in this process
 */
struct shmk_cp_site {
	const char *file;
	unsigned int line;
	unsigned long hits;
};

void shmk__cp(struct shmk_cp_site *site);
#ifdef __cplusplus
}
#endif

#define SHMK__CP()							\
	do {								\
		static struct shmk_cp_site shmk_cp_site_		\
		__attribute__((section("shmk_cp_sites"), used,		\
			       aligned(sizeof(void *)))) =		\
			{ __FILE__, __LINE__, 0 };			\
		shmk__cp(&shmk_cp_site_);				\
	} while (0)
#else
#define SHMK__CP()	do { } while (0)
#endif

/*
 * Internal: the most times a lock-free retry loop (a compare-and-swap
 * that lost, a position that moved) runs in one call.  Honest contention
 * never comes near it: each retry means another participant completed an
 * operation meanwhile.  It bounds the loop when a hostile or broken peer
 * rewrites the shared word without end; the call then returns -EAGAIN.
 */
#define SHMK__RETRY_MAX		(1U << 20)

/*
 * Indices written by different sides are kept SHMK_CACHELINE_PAD bytes
 * apart: two 64-byte lines, because the adjacent-line prefetchers of
 * common x86 parts pull lines in pairs.
 */
#define SHMK_CACHELINE		64
#define SHMK_CACHELINE_PAD	128

/* Objects must be placed at offsets aligned to this many bytes. */
#define SHMK_OBJ_ALIGN		SHMK_CACHELINE_PAD

/* struct shmk_obj_hdr.magic values ("SHKS", "SHKM", "SHKP" little endian) */
#define SHMK_MAGIC_SPSC		0x534b4853U
#define SHMK_MAGIC_MPMC		0x4d4b4853U
#define SHMK_MAGIC_POOL		0x504b4853U

/*
 * The layout version of every object kind; bumped on any layout change.
 * 2: the pool's free_head packs a 28-bit index and a 36-bit generation;
 * the MPMC waiter words count announcements (with cons_seen, prod_seen).
 */
#define SHMK_LAYOUT_VERSION	2

/* struct shmk_obj_hdr.flags */
#define SHMK_QUEUE_NOTIFY	(1U << 0)	/* blocking ops allowed; writers check for sleepers */
#define SHMK_OBJ_FLAGS_KNOWN	SHMK_QUEUE_NOTIFY

/**
 * struct shmk_obj_hdr - header at the start of every libshmk object
 * @magic:	SHMK_MAGIC_*, stored last (release) by init, so an attacher
 *		that sees it (acquire) sees a complete header
 * @version:	SHMK_LAYOUT_VERSION
 * @hdr_size:	bytes from the object start to its data (@data_offset)
 * @flags:	SHMK_QUEUE_NOTIFY or 0
 * @elem_size:	bytes per element (chunk size for a pool)
 * @capacity:	number of elements (a power of two for queues)
 * @stride:	bytes between consecutive elements in the data area
 * @total_size:	bytes of the whole object, header included
 * @data_offset: offset of the data area from the object start
 * @reserved:	zero
 *
 * All fields but @magic are written before @magic and never change.
 */
struct shmk_obj_hdr {
	SHMK_ATOMIC(uint32_t) magic;
	uint16_t version;
	uint16_t hdr_size;
	uint32_t flags;
	uint32_t elem_size;
	uint32_t capacity;
	uint32_t stride;
	uint64_t total_size;
	uint64_t data_offset;
	uint64_t reserved[3];
};

#endif /* SHMK_COMMON_H */
