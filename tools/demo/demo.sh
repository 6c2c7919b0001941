#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The README's demo, run inside the guest by `make demo`: a writer and a
# reader process share a region through /dev/shmk.
set -e
echo "== shmk.ko loaded; $(ls -l /dev/shmk | cut -c1-10) /dev/shmk"
shmk-demo write greeting "Hello through 2 MiB pages, zero-copy" &
writer=$!
shmk-demo read greeting
wait "$writer"
echo "== both processes have exited:"
shmk-demo list
echo "== io_uring waits on a shmk word and a socket at once (tools/examples/uring-watch.c):"
uring-watch
rmmod shmk
echo "== rmmod shmk: done, nothing was left in use"
