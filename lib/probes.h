/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk's USDT probes (provider "libshmk"), for perf, bpftrace, gdb and
 * SystemTap.  Each is one NOP in the code until a tracer attaches (no
 * semaphore: no load or branch either), and its arguments are values the
 * code has in registers at that point.  Built in when <sys/sdt.h>
 * (Debian's systemtap-sdt-dev, in tools/deps) is there at build time,
 * and compiled to nothing otherwise.  Documentation/library.rst
 * ("Probes") lists them; lib/tests/test_usdt.c checks that each fires.
 *
 *   loan     (service, slot, chunk)
 *   publish  (service, slot, position, len, chunk)
 *   receive  (service, slot, origin, position, len, chunk)
 *   release  (service, slot, chunk)
 *
 * service is the service's region name ("svc.NAME"), slot the port's
 * participant slot, chunk the chunk index, position the sample's 64-bit
 * position in its producer's ring (its sequence number), origin the
 * producer's slot.
 */
#ifndef SHMK_PROBES_H
#define SHMK_PROBES_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#define SHMK_HAVE_USDT	1
#endif
#endif

#ifdef SHMK_HAVE_USDT
#include <sys/sdt.h>
#define SHMK_PROBE3(n, a, b, c)		STAP_PROBE3(libshmk, n, a, b, c)
#define SHMK_PROBE5(n, a, b, c, d, e)	STAP_PROBE5(libshmk, n, a, b, c, d, e)
#define SHMK_PROBE6(n, a, b, c, d, e, f) \
	STAP_PROBE6(libshmk, n, a, b, c, d, e, f)
#else
#define SHMK_PROBE3(n, a, b, c)		do { } while (0)
#define SHMK_PROBE5(n, a, b, c, d, e)	do { } while (0)
#define SHMK_PROBE6(n, a, b, c, d, e, f) do { } while (0)
#endif

#endif /* SHMK_PROBES_H */
