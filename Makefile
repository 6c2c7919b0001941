# SPDX-License-Identifier: GPL-2.0
# shmk top-level Makefile: the module (through Kbuild), the library, the
# selftests and the QEMU guest that runs them.

KVER ?= $(shell tools/kver)
KDIR ?= /lib/modules/$(KVER)/build
BUILD := build

.PHONY: all module clean
all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)
