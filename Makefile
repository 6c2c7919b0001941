# SPDX-License-Identifier: GPL-2.0
#
# shmk: make [all] | check | demo | kcheck | vm-shell | bench | install | clean
#
#   all      shmk.ko (against the installed Debian headers), libshmk, the
#            selftests and the demo, all under build/ (shmk.ko at the top)
#   check    every test: kcheck, host unit tests, guest selftests in QEMU;
#            the last line is "N passed, N failed"
#   demo     boot the guest with the module and run the region demo
#   kcheck   checkpatch --strict, W=1 and sparse (C=1) on the kernel code
#   vm-shell an interactive shell in the guest with the module loaded
#   bench    the queue benchmark; bench-wakeup: wakeups, in the guest
#
# KVER (default: tools/kver) picks the kernel; nothing here looks at the
# running kernel.  Third-party files (kselftest headers, checkpatch.pl)
# are extracted from Debian's linux-source tarball into build/.

KVER      ?= $(shell tools/kver)
KDIR      ?= /lib/modules/$(KVER)/build
BUILD     := build
LINUX_TAR ?= $(lastword $(sort $(wildcard /usr/src/linux-source-*.tar.xz)))

CC        ?= cc
ST_CFLAGS := -static -std=gnu11 -O2 -g -Wall -Werror \
	     -Iinclude -Iinclude/uapi -I$(BUILD)/kselftest
LIBA      := $(BUILD)/lib/libshmk.a
KSFT      := $(BUILD)/kselftest/kselftest_harness.h
CHECKPATCH := $(BUILD)/third_party/scripts/checkpatch.pl

KSRCS     := $(wildcard kernel/*.c kernel/*.h) include/uapi/linux/shmk.h
SELFTESTS := $(patsubst selftests/shmk/%.c,$(BUILD)/selftests/%,\
		$(wildcard selftests/shmk/*_test.c))
GUEST_BINS := $(BUILD)/guest/shmk-demo $(BUILD)/guest/demo.sh \
	      $(BUILD)/guest/bench_wakeup $(BUILD)/guest/uring-watch

MAKEFLAGS += --no-print-directory

.PHONY: FORCE all module lib selftests guest check host-check guest-check kcheck \
	demo vm-shell bench bench-wakeup install clean deps

all: module lib selftests guest

deps:
	tools/deps

module: shmk.ko

shmk.ko: $(KSRCS) Kbuild
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

lib: $(LIBA)

# lib/Makefile knows when libshmk is out of date; make re-reads the
# archive's time afterwards, so its users relink only when it changed.
$(LIBA): FORCE
	$(MAKE) -C lib O=$(CURDIR)/$(BUILD)/lib

FORCE:

# kselftest.h, kselftest_harness.h and checkpatch.pl (with the two data
# files it reads) come from one pass over the tarball.
$(KSFT) $(CHECKPATCH) &:
	@test -n "$(LINUX_TAR)" || { echo "no /usr/src/linux-source-*.tar.xz: run tools/deps" >&2; exit 1; }
	mkdir -p $(BUILD)/third_party $(BUILD)/kselftest
	tar -xJf $(LINUX_TAR) -C $(BUILD)/third_party --strip-components=1 \
		--wildcards '*/tools/testing/selftests/kselftest.h' \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	cp $(BUILD)/third_party/tools/testing/selftests/kselftest*.h $(BUILD)/kselftest/
	touch $(KSFT) $(CHECKPATCH)

selftests: $(SELFTESTS)

$(BUILD)/selftests/%: selftests/shmk/%.c selftests/shmk/shmk_util.h \
		include/uapi/linux/shmk.h $(KSFT) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(LIBA) -luring -lpthread

guest: $(GUEST_BINS)

$(BUILD)/guest/shmk-demo: tools/demo/shmk-demo.c include/uapi/linux/shmk.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(LIBA) -lpthread

$(BUILD)/guest/bench_wakeup: tools/bench/bench_wakeup.c include/uapi/linux/shmk.h
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $<

$(BUILD)/guest/uring-watch: tools/examples/uring-watch.c include/uapi/linux/shmk.h
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< -luring

$(BUILD)/guest/demo.sh: tools/demo/demo.sh
	@mkdir -p $(dir $@)
	install -m 755 $< $@

kcheck: $(CHECKPATCH)
	tools/kcheck $(CHECKPATCH) $(KDIR)

host-check: lib
	$(MAKE) -C lib O=$(CURDIR)/$(BUILD)/lib check

guest-check: module selftests
	tools/vm/run --module shmk.ko --tests $(BUILD)/selftests

check: all $(CHECKPATCH)
	tools/check

demo: module guest
	tools/vm/run --module shmk.ko --extra $(BUILD)/guest -- /extra/demo.sh

vm-shell: module selftests guest
	tools/vm/run --module shmk.ko --extra $(BUILD)/guest --shell

bench:
	$(MAKE) -C lib O=$(CURDIR)/$(BUILD)/lib bench

# Wakeup latency needs the module, so it runs in the guest (TCG timings:
# compare the ratios, not the nanoseconds).
bench-wakeup: module guest
	tools/vm/run --module shmk.ko --extra $(BUILD)/guest -- /extra/bench_wakeup $(BENCH_ARGS)

install:
	$(MAKE) -C lib O=$(CURDIR)/$(BUILD)/lib install

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)
