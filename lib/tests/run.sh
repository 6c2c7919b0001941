#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run the libshmk cmocka tests in three phases: plain (and the
# AddressSanitizer builds, asan_*, where they exist), ThreadSanitizer,
# valgrind.  Usage: run.sh TESTDIR TEST... [-- PLAIN_ONLY_TEST...]
# Tests after "--" (the crash-point harness, linked against the
# crash-point build; the USDT test, which drives a plain child under gdb)
# run once, in a phase of their own after the plain one, and count in
# the same totals.
# Prints each binary's cmocka output; the last line is
#   host: N passed, N failed
# summed over every phase.  Exits 1 when anything failed.

dir=$1
shift
# Split the arguments at "--".  Test names are plain words, so word
# splitting of the two lists is safe.
tests=""
plain_only=""
seen=0
for a in "$@"; do
	if [ "$a" = "--" ]; then
		seen=1
	elif [ "$seen" -eq 1 ]; then
		plain_only="$plain_only $a"
	else
		tests="$tests $a"
	fi
done
# shellcheck disable=SC2086
set -- $tests
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run LABEL CMD...: run one binary, add its cmocka counts to the totals.
run() {
	label=$1
	shift
	echo "== $label: $*"
	start=$(date +%s)
	"$@" >"$out" 2>&1
	rc=$?
	end=$(date +%s)
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$out" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	# A crash, a sanitizer or valgrind report, or a missing summary.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "== $label: exit status $rc with no failed test reported: counted as 1 failure"
		f=$((f + 1))
	fi
	echo "== $label: $p passed, $f failed in $((end - start)) s"
	passed=$((passed + p))
	failed=$((failed + f))
}

export SHMK_BACKEND=memfd

echo "=== $(date +%T) phase 1: plain"
for t in "$@"; do
	SHMK_TEST_SCALE=1 run plain "$dir/$t"
done

# The tests that also have an AddressSanitizer build (lib/Makefile's
# ASAN_TESTS) run it here, in the plain phase.
for t in "$@"; do
	if [ -x "$dir/asan_$t" ]; then
		SHMK_TEST_SCALE=1 ASAN_OPTIONS="abort_on_error=0 detect_leaks=1" \
			run asan "$dir/asan_$t"
	fi
done

echo "=== $(date +%T) phase 1b: plain only (the crash points, the USDT probes)"
for t in $plain_only; do
	SHMK_TEST_SCALE=1 run plain-only "$dir/$t"
done

echo "=== $(date +%T) phase 2: ThreadSanitizer"
# Old TSan runtimes fail to map their shadow with high-entropy ASLR;
# setarch -R disables randomisation for the child when available.
norand=""
if setarch "$(uname -m)" -R true 2>/dev/null; then
	norand="setarch $(uname -m) -R"
fi
# die_after_fork=0: on memfd a process holding a region runs the thread
# that hands it to others (lib/broker.c), and a fork child that opens a
# region starts its own; TSan refuses new threads after a multi-threaded
# fork unless told so.
for t in "$@"; do
	SHMK_TEST_SCALE=2 TSAN_OPTIONS="halt_on_error=1 exitcode=66 die_after_fork=0" \
		run tsan $norand "$dir/tsan_$t"
done

echo "=== $(date +%T) phase 3: valgrind"
if command -v valgrind >/dev/null 2>&1; then
	for t in "$@"; do
		SHMK_TEST_SCALE=10 run valgrind valgrind -q --error-exitcode=1 \
			--leak-check=full --errors-for-leak-kinds=definite \
			"$dir/$t"
	done
else
	echo "valgrind not installed: counted as 1 failure"
	failed=$((failed + 1))
fi

echo "=== $(date +%T) done"
echo "host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
