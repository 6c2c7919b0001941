# SPDX-License-Identifier: GPL-2.0
#
# shmk: make [all] | check | demo | kcheck | vm-shell | vm-run | bench | install |
#       debug-check | clean
#
#   all      shmk.ko (against the installed Debian headers), libshmk, the
#            selftests and the demo, all under build/ (shmk.ko at the top)
#   check    every test: kcheck, host unit tests, install-check, guest
#            selftests in QEMU, the debug-kernel lane; the last line is
#            "N passed, N failed"
#   demo     boot the guest with the module and run the region demo
#   kcheck   checkpatch --strict, W=1 and sparse (C=1) on the kernel code
#   vm-shell an interactive shell in the guest with the module loaded
#   vm-run   CMD='...' in the guest with the module loaded
#   rig-check tests of the QEMU rig itself (tools/vm/test-rig)
#   tools    shmkctl, shmk-bench, the drones demo and (dds) the Cyclone DDS
#            bridge shmk-dds with shmk-dds-bench (build/tools/)
#   bench    shmk-bench on this machine (BENCH_ARGS, e.g. "--quick wakeup");
#            bench-wakeup: its wakeup benchmark in the guest
#   install  module, libshmk, headers, pkg-config, tools, man pages, bash
#            completion, the Python package and the udev rule under
#            DESTDIR/PREFIX;
#            install-check: tools/install-test
#   ctl-check  shmkctl's service commands (tools/shmkctl/test-shmkctl)
#   drones-check  the drones demo's wait modes and placement, small jobs
#            (tools/drones/test-drones)
#   python-check  the Python package's tests (python/tests, pytest)
#   debug-check  the debug-kernel lane: every selftest on a KASAN, lockdep
#            and fault-injection guest kernel; debug-kernel builds that
#            kernel (cached in build/debug-kernel/), debug-module shmk.ko
#            against it (build/debug-module/)
#
# Guest targets (demo, vm-shell, vm-run, guest-check, bench-wakeup) take
# EXTRA="DIR..." (your own programs, dynamically linked ones too, copied to
# /extra in the guest) and TIMEOUT=SECONDS; SHMK_VM_ACCEL=kvm|tcg forces the
# accelerator. See Documentation/vm.rst.
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
KERNELDOC := $(BUILD)/third_party/scripts/kernel-doc
MAN3      := $(BUILD)/man/man3

KSRCS     := $(wildcard kernel/*.c kernel/*.h) include/uapi/linux/shmk.h
SELFTESTS := $(patsubst selftests/shmk/%.c,$(BUILD)/selftests/%,\
		$(wildcard selftests/shmk/*_test.c))
# The example programs the guest gets (tools/examples/NAME.c).
GUEST_EXAMPLES := pubsub reqres event blackboard waitset-epoll typed \
		  dynamic zerotrust crowd
GUEST_BINS := $(BUILD)/guest/shmk-demo $(BUILD)/guest/demo.sh \
	      $(BUILD)/guest/uring-watch
GUEST_BINS += $(BUILD)/guest/shmk-bench $(BUILD)/guest/shmkctl
GUEST_BINS += $(GUEST_EXAMPLES:%=$(BUILD)/guest/%)
GUEST_BINS += $(BUILD)/guest/drones

MAKEFLAGS += --no-print-directory

EXTRA     ?=
TIMEOUT   ?=
VM_ARGS   := $(foreach d,$(EXTRA),--extra $(d)) $(if $(TIMEOUT),--timeout $(TIMEOUT))
# The demo takes about 45 s under TCG on a busy 2-core machine.
DEMO_TIMEOUT := 300

.PHONY: FORCE all module lib selftests guest man check host-check guest-check kcheck \
	demo vm-shell vm-run rig-check bench bench-wakeup install clean deps tools dds install-lib \
	install-module install-tools install-udev install-dkms install-check ctl-check drones-check \
	install-all install-docs install-python \
	debug-kernel debug-module debug-check python-check

all: module lib selftests guest tools man

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
$(KSFT) $(CHECKPATCH) $(KERNELDOC) &:
	@test -n "$(LINUX_TAR)" || { echo "no /usr/src/linux-source-*.tar.xz: run tools/deps" >&2; exit 1; }
	mkdir -p $(BUILD)/third_party $(BUILD)/kselftest
	tar -xJf $(LINUX_TAR) -C $(BUILD)/third_party --strip-components=1 \
		--wildcards '*/tools/testing/selftests/kselftest.h' \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch' '*/scripts/kernel-doc'
	cp $(BUILD)/third_party/tools/testing/selftests/kselftest*.h $(BUILD)/kselftest/
	touch $(KSFT) $(CHECKPATCH) $(KERNELDOC)

selftests: $(SELFTESTS)

$(BUILD)/selftests/%: selftests/shmk/%.c selftests/shmk/shmk_util.h selftests/shmk/lib_util.h \
		include/uapi/linux/shmk.h $(KSFT) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(LIBA) -luring -lpthread

# The crash-point harness (lib/tests/test_crashpoints.c) as a guest
# selftest on the device backend (Documentation/messaging.rst, "Crash
# points"): static, against the static crash-point library (lib/Makefile's
# cp/libshmk_cp.a), with the minimal cmocka of selftests/shmk/crashpoints/
# (TAP output; Debian has no static libcmocka) and the source lines its
# allowlist matches built in (the guest has no sources).  Quick by
# default (SHMK_CP_QUICK=1: about 30 s under TCG instead of 170 s).
CP_LIBA     := $(BUILD)/lib/cp/libshmk_cp.a
CP_GUEST    := $(BUILD)/selftests/crashpoints_test
CP_EXCERPTS := $(BUILD)/guest-cp/cp_src_excerpts.h
CP_SRCS     := $(wildcard lib/*.c lib/*.h include/shmk/*.h)
SELFTESTS   += $(CP_GUEST)
# (The selftests rule above was read before this line: name it again.)
selftests: $(CP_GUEST)

$(CP_LIBA): FORCE
	$(MAKE) -C lib O=$(CURDIR)/$(BUILD)/lib $(CURDIR)/$(CP_LIBA)

$(CP_EXCERPTS): selftests/shmk/crashpoints/src-excerpts $(CP_SRCS)
	@mkdir -p $(dir $@)
	selftests/shmk/crashpoints/src-excerpts $(CP_SRCS) >$@.tmp
	mv -f $@.tmp $@

$(CP_GUEST): lib/tests/test_crashpoints.c lib/tests/cp_audit.c \
		lib/tests/cp_audit.h lib/tests/msgutil.h lib/tests/testutil.h \
		selftests/shmk/crashpoints/cmocka.h $(CP_EXCERPTS) $(CP_LIBA)
	@mkdir -p $(dir $@)
	$(CC) -static -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror \
		-Iselftests/shmk/crashpoints -Iinclude -Iinclude/uapi -Ilib -Ilib/tests \
		-DSHMK_CRASHPOINTS -DCP_BACKEND='"device"' -DCP_QUICK=1 \
		-DCP_SRC_EXCERPTS='"$(CURDIR)/$(CP_EXCERPTS)"' \
		-o $@ lib/tests/test_crashpoints.c lib/tests/cp_audit.c \
		-Wl,--whole-archive $(CP_LIBA) -Wl,--no-whole-archive -lpthread

guest: $(GUEST_BINS)

$(BUILD)/guest/shmk-demo: tools/demo/shmk-demo.c include/uapi/linux/shmk.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(LIBA) -lpthread

# The tools: dynamic for this machine (libshmk linked in statically, so
# an installed copy needs no library path), static for the guest.
TOOL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude -Iinclude/uapi
SHMKCTL_SRCS := tools/shmkctl/shmkctl.c tools/shmkctl/services.c tools/shmkctl/ports.c
BENCH_SRCS := tools/bench/shmk-bench.c $(wildcard tools/bench/shmk-bench-*.c)
BENCH_HDRS := tools/bench/shmk-bench.h
TOOL_HDRS := $(wildcard include/shmk/*.h) include/uapi/linux/shmk.h

DRONES_SRCS := tools/drones/drones.c tools/drones/png.c
DRONES_HDRS := tools/drones/png.h

tools: $(BUILD)/tools/shmkctl $(BUILD)/tools/shmk-bench $(BUILD)/tools/drones dds

$(BUILD)/tools/shmkctl $(BUILD)/guest/shmkctl: $(SHMKCTL_SRCS) tools/shmkctl/shmkctl.h $(TOOL_HDRS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) $(if $(findstring /guest/,$@),-static -DSHMKCTL_NUMERIC_IDS) \
		-o $@ $(SHMKCTL_SRCS) $(LIBA) -lpthread -lm

$(BUILD)/tools/shmk-bench $(BUILD)/guest/shmk-bench: $(BENCH_SRCS) $(BENCH_HDRS) $(TOOL_HDRS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) $(if $(findstring /guest/,$@),-static) -o $@ \
		$(BENCH_SRCS) $(LIBA) -lpthread -lrt

# The drones demo (Documentation/drones.rst): master/worker over
# request-response against Unix sockets.
$(BUILD)/tools/drones $(BUILD)/guest/drones: $(DRONES_SRCS) $(DRONES_HDRS) $(TOOL_HDRS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) $(if $(findstring /guest/,$@),-static) -o $@ \
		$(DRONES_SRCS) $(LIBA) -lpthread

# The Cyclone DDS bridge (Documentation/dds.rst): host only, against
# Debian's cyclonedds-dev and cyclonedds-tools (tools/deps); its type is
# compiled by idlc into the build folder.  shmk-dds-bench is its own
# program so that shmk-bench (also built static for the guest) does not
# need libddsc.
DDS_GEN   := $(BUILD)/tools/dds
DDS_BINS  := $(BUILD)/tools/shmk-dds $(BUILD)/tools/shmk-dds-bench $(DDS_GEN)/dds-peer

dds: $(DDS_BINS)

$(DDS_GEN)/shmk_bridge.c $(DDS_GEN)/shmk_bridge.h &: tools/dds/shmk_bridge.idl
	@echo '#include <dds/dds.h>' | $(CC) -E -x c - >/dev/null 2>&1 && command -v idlc >/dev/null || \
		{ echo "shmk-dds needs Cyclone DDS (<dds/dds.h>, idlc): run tools/deps (Debian: cyclonedds-dev, cyclonedds-tools)" >&2; exit 1; }
	@mkdir -p $(DDS_GEN)
	idlc -o $(DDS_GEN) $<

$(BUILD)/tools/shmk-dds $(BUILD)/tools/shmk-dds-bench: $(BUILD)/tools/%: tools/dds/%.c \
		$(DDS_GEN)/shmk_bridge.c $(DDS_GEN)/shmk_bridge.h $(TOOL_HDRS) $(LIBA)
	$(CC) $(TOOL_CFLAGS) -I$(DDS_GEN) -o $@ $< $(DDS_GEN)/shmk_bridge.c $(LIBA) -lddsc -lpthread

$(DDS_GEN)/dds-peer: tools/dds/dds-peer.c $(TOOL_HDRS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(LIBA) -lpthread

# The example programs, static for the guest (libshmk.a).
$(GUEST_EXAMPLES:%=$(BUILD)/guest/%): $(BUILD)/guest/%: tools/examples/%.c \
		$(TOOL_HDRS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(LIBA) -lpthread

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
	tools/vm/run --module shmk.ko --tests $(BUILD)/selftests $(VM_ARGS)

rig-check:
	tools/vm/test-rig

check: all $(CHECKPATCH)
	tools/check

demo: module guest
	tools/vm/run --module shmk.ko --timeout $(DEMO_TIMEOUT) --extra $(BUILD)/guest \
		$(VM_ARGS) -- /extra/demo.sh

vm-shell: module selftests guest
	tools/vm/run --module shmk.ko --extra $(BUILD)/guest $(VM_ARGS) --shell

# make vm-run CMD='prog args' [EXTRA=dir]: the command's status is make's.
vm-run: module selftests guest
	$(if $(CMD),,$(error vm-run: give the guest command as CMD='...'))
	tools/vm/run --module shmk.ko --extra $(BUILD)/guest $(VM_ARGS) -- "$$CMD"

bench: $(BUILD)/tools/shmk-bench
	$(BUILD)/tools/shmk-bench $(BENCH_ARGS)

# Wakeup latency needs the module, so it runs in the guest (TCG timings:
# compare the ratios, not the nanoseconds).
bench-wakeup: module guest
	tools/vm/run --module shmk.ko --extra $(BUILD)/guest $(VM_ARGS) -- \
		/extra/shmk-bench wakeup $(BENCH_ARGS)

# The debug-kernel lane (Documentation/vm.rst, "Debug-kernel lane"): a
# guest kernel with KASAN, lockdep and fault injection built from
# linux-source-6.1 and cached (minutes the first time, nothing afterwards),
# shmk.ko built against it, and every selftest run on it.
debug-kernel:
	tools/vm/debug-kernel kernel

debug-module:
	tools/vm/debug-kernel module

debug-check: selftests
	tools/vm/debug-kernel check

# make install [DESTDIR=...] [PREFIX=/usr/local]: library, headers, tools,
# man pages and docs, all under DESTDIR/PREFIX; make install-all also the
# module (/lib/modules/KVER/MODDIR, outside PREFIX as modules must; depmod
# runs only without DESTDIR) and the udev rule.  Documentation/tools.rst.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
MODDIR    ?= extra
UDEVDIR   ?= /etc/udev/rules.d
DKMS_SRC  ?= /usr/src/shmk-$(VERSION)
VERSION   := 0.1.0

install: install-lib install-tools install-docs install-python

# What goes outside PREFIX (the module under /lib/modules, the udev rule
# under /etc), only when asked: make install-all, or the parts.
install-all: install install-module install-udev

DOCDIR    ?= $(PREFIX)/share/doc/shmk
LIBDIR    ?= $(PREFIX)/lib
# The Python package (python/shmk), where Debian's python3 looks:
# PYTHONPATH=$(PYDIR) for another PREFIX than /usr or /usr/local.
# _install.py records PREFIX and LIBDIR, so the package loads the
# libshmk.so.0 installed with it (Documentation/python.rst).
PYDIR     ?= $(PREFIX)/lib/python3/dist-packages

install-python:
	install -d $(DESTDIR)$(PYDIR)/shmk
	install -m 644 python/shmk/*.py $(DESTDIR)$(PYDIR)/shmk/
	printf '%s\n' '# Written by make install: where libshmk was installed.' \
		'PREFIX = "$(PREFIX)"' 'LIBDIR = "$(LIBDIR)"' \
		> $(DESTDIR)$(PYDIR)/shmk/_install.py
	chmod 644 $(DESTDIR)$(PYDIR)/shmk/_install.py

install-docs:
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 644 README.md Documentation/*.rst $(DESTDIR)$(DOCDIR)/
	install -m 644 tools/examples/*.c tools/examples/*.cpp tools/examples/*.py $(DESTDIR)$(DOCDIR)/examples/

install-lib: man
	$(MAKE) -C lib O=$(CURDIR)/$(BUILD)/lib MAN_GEN=$(CURDIR)/$(MAN3) \
		LIBDIR=$(LIBDIR) install

# Section-3 pages for every public function, from the kernel-doc comments
# of include/shmk/*.h (tools/mkman; hand-written lib/man/*.3 pages win).
man: $(MAN3)/.list

$(MAN3)/.list: tools/mkman $(KERNELDOC) $(wildcard include/shmk/*.h lib/man/*.3)
	tools/mkman $(KERNELDOC) $(MAN3) lib/man $(wildcard include/shmk/*.h)

COMPDIR   ?= $(PREFIX)/share/bash-completion/completions

install-tools: tools
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BUILD)/tools/shmkctl $(BUILD)/tools/shmk-bench $(DESTDIR)$(BINDIR)/
	install -m 755 $(BUILD)/tools/shmk-dds $(BUILD)/tools/shmk-dds-bench $(DESTDIR)$(BINDIR)/
	install -m 644 tools/dds/shmk-dds.1 tools/dds/shmk-dds-bench.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 tools/shmkctl/shmkctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -D -m 644 tools/shmkctl/shmkctl.bash $(DESTDIR)$(COMPDIR)/shmkctl
	install -m 644 tools/bench/shmk-bench.1 $(DESTDIR)$(MANDIR)/man1/

install-module: module
	install -D -m 644 shmk.ko $(DESTDIR)/lib/modules/$(KVER)/$(MODDIR)/shmk.ko
	$(if $(DESTDIR),,depmod -a $(KVER))

install-udev:
	install -D -m 644 tools/udev/60-shmk.rules $(DESTDIR)$(UDEVDIR)/60-shmk.rules

# The module's sources where dkms looks for them; then
# `dkms install shmk/$(VERSION)` builds it for each installed kernel.
install-dkms:
	install -d $(DESTDIR)$(DKMS_SRC)/kernel $(DESTDIR)$(DKMS_SRC)/include/uapi/linux
	install -m 644 dkms.conf Kbuild $(DESTDIR)$(DKMS_SRC)/
	install -m 644 kernel/*.c kernel/*.h $(DESTDIR)$(DKMS_SRC)/kernel/
	install -m 644 include/uapi/linux/shmk.h $(DESTDIR)$(DKMS_SRC)/include/uapi/linux/

# shmkctl's service commands against services it creates (memfd backend);
# last line "ctl: N passed, N failed".
ctl-check: $(BUILD)/tools/shmkctl
	tools/shmkctl/test-shmkctl $(BUILD)/tools/shmkctl

# The drones demo: every wait mode, crews larger than the CPUs, auto
# beside a busy program (memfd backend); last line "drones: N passed, N
# failed".
drones-check: $(BUILD)/tools/drones
	tools/drones/test-drones $(BUILD)/tools/drones

# The Python package (python/shmk, Documentation/python.rst): its pytest
# tests against the memfd backend and build/lib/libshmk.so.0; last line
# "python: N passed, N failed".  Debian's python3, not one earlier on PATH.
PYTHON    ?= /usr/bin/python3

python-check: lib
	SHMK_BACKEND=memfd $(PYTHON) -m pytest -q -p no:cacheprovider python/tests

# Installs into a temporary DESTDIR, builds an outside program against it
# with pkg-config and runs it; last line "install: N passed, N failed".
install-check: lib tools module man
	tools/install-test

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)
