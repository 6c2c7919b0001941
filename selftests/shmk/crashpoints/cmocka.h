/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal cmocka for the static guest build of the crash-point harness
 * (lib/tests/test_crashpoints.c; the top-level Makefile's
 * $(BUILD)/selftests/crashpoints).  Debian ships cmocka as a shared
 * library only, and the guest runs static programs; the harness uses
 * cmocka's runner and a few assertions, nothing else.  This header gives
 * those, with the same meaning, and reports in kselftest's TAP (as
 * tools/vm/run counts it):
 *
 *   TAP version 13
 *   1..N
 *   ok 1 runtime
 *   not ok 2 publish_first
 *
 * A failed assertion prints "# file:line: what" and ends the test (a
 * longjmp back to the runner, as cmocka does).  Unlike cmocka, an
 * assertion that fails in a forked child ends the child (exit 1): the
 * child must not go on running the rest of the group and print results
 * of its own.  The runner returns 1 when a test failed (KSFT_FAIL), not
 * cmocka's count: a count of 4 would read as KSFT_SKIP.
 *
 * Add what a test starts to use; anything missing fails to compile, in
 * the guest build only.
 */
#ifndef SHMK_CMOCKA_SHIM_H
#define SHMK_CMOCKA_SHIM_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
	const char *name;
	CMUnitTestFunction test_func;
	CMFixtureFunction setup_func;
	CMFixtureFunction teardown_func;
	void *initial_state;
};

#define cmocka_unit_test(f) { #f, f, NULL, NULL, NULL }
#define cmocka_unit_test_setup_teardown(f, s, t) { #f, f, s, t, NULL }
#define cmocka_unit_test_prestate(f, st) { #f, f, NULL, NULL, st }

/* The runner's state, one per program (the header is used by one file). */
static jmp_buf cm__jmp;
static pid_t cm__runner;
static int cm__in_test, cm__skipped;

static void cm__fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4), unused));
static void cm__fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cm__in_test || getpid() != cm__runner)
		_exit(1);
	longjmp(cm__jmp, 1);
}

#define fail_msg(...)	cm__fail(__FILE__, __LINE__, __VA_ARGS__)
#define fail()		cm__fail(__FILE__, __LINE__, "fail()")
#define skip()								\
	do {								\
		cm__skipped = 1;					\
		longjmp(cm__jmp, 1);					\
	} while (0)
#define print_message(...)	printf(__VA_ARGS__)
#define print_error(...)	printf(__VA_ARGS__)

#define assert_true(c)							\
	do {								\
		if (!(c))						\
			fail_msg("%s is false", #c);			\
	} while (0)
#define assert_false(c)							\
	do {								\
		if (c)							\
			fail_msg("%s is true", #c);			\
	} while (0)
#define cm__cmp_int(a, b, op, what)					\
	do {								\
		intmax_t cm__a = (intmax_t)(a), cm__b = (intmax_t)(b);	\
		if (!(cm__a op cm__b))					\
			fail_msg("%s (%jd) " what " %s (%jd)", #a, cm__a, \
				 #b, cm__b);				\
	} while (0)
#define assert_int_equal(a, b)		cm__cmp_int(a, b, ==, "!=")
#define assert_int_not_equal(a, b)	cm__cmp_int(a, b, !=, "==")
#define assert_in_range(v, lo, hi)					\
	do {								\
		cm__cmp_int(v, lo, >=, "<");				\
		cm__cmp_int(v, hi, <=, ">");				\
	} while (0)
#define assert_return_code(rc, err)	cm__cmp_int(rc, 0, >=, "<")
#define assert_ptr_equal(a, b)						\
	do {								\
		const void *cm__p = (a), *cm__q = (b);			\
		if (cm__p != cm__q)					\
			fail_msg("%s (%p) != %s (%p)", #a, cm__p, #b,	\
				 cm__q);				\
	} while (0)
#define assert_ptr_not_equal(a, b)					\
	do {								\
		if ((const void *)(a) == (const void *)(b))		\
			fail_msg("%s == %s", #a, #b);			\
	} while (0)
#define assert_non_null(p)						\
	do {								\
		if (!(p))						\
			fail_msg("%s is NULL", #p);			\
	} while (0)
#define assert_null(p)							\
	do {								\
		if (p)							\
			fail_msg("%s is not NULL", #p);			\
	} while (0)
#define assert_string_equal(a, b)					\
	do {								\
		const char *cm__s = (a), *cm__t = (b);			\
		if (strcmp(cm__s, cm__t))				\
			fail_msg("\"%s\" != \"%s\"", cm__s, cm__t);	\
	} while (0)

static int _cmocka_run_group_tests(const char *group,
				   const struct CMUnitTest *tests, size_t n,
				   CMFixtureFunction setup,
				   CMFixtureFunction teardown)
	__attribute__((unused));
static int _cmocka_run_group_tests(const char *group,
				   const struct CMUnitTest *tests, size_t n,
				   CMFixtureFunction setup,
				   CMFixtureFunction teardown)
{
	void *gstate = NULL;
	volatile size_t i, failed = 0, skipped = 0;

	cm__runner = getpid();
	printf("TAP version 13\n# %s\n1..%zu\n", group, n);
	fflush(stdout);
	if (setup && setup(&gstate)) {
		for (i = 0; i < n; i++)
			printf("not ok %zu %s # group setup failed\n", i + 1,
			       tests[i].name);
		return 1;
	}
	for (i = 0; i < n; i++) {
		void *state = tests[i].initial_state ? tests[i].initial_state :
			      gstate;
		volatile int bad = 0;

		cm__skipped = 0;
		cm__in_test = 1;
		if (setjmp(cm__jmp) == 0) {
			if (tests[i].setup_func && tests[i].setup_func(&state))
				cm__fail(__FILE__, __LINE__, "setup failed");
			tests[i].test_func(&state);
		} else {
			bad = !cm__skipped;
		}
		cm__in_test = 0;
		if (tests[i].teardown_func && tests[i].teardown_func(&state))
			bad = 1;
		fflush(stdout);
		if (cm__skipped && !bad)
			printf("ok %zu %s # SKIP\n", i + 1, tests[i].name);
		else
			printf("%sok %zu %s\n", bad ? "not " : "", i + 1,
			       tests[i].name);
		fflush(stdout);
		failed += bad;
		skipped += cm__skipped && !bad;
	}
	if (teardown)
		teardown(&gstate);
	printf("# %s: %zu passed, %zu failed, %zu skipped\n", group,
	       n - failed - skipped, failed, skipped);
	return failed ? 1 : 0;
}

#define cmocka_run_group_tests(t, s, d)					\
	_cmocka_run_group_tests(#t, t, sizeof(t) / sizeof((t)[0]), s, d)
#define cmocka_run_group_tests_name(name, t, s, d)			\
	_cmocka_run_group_tests(name, t, sizeof(t) / sizeof((t)[0]), s, d)

#endif /* SHMK_CMOCKA_SHIM_H */
