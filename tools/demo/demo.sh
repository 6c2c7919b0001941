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
echo "== drones (tools/drones): a master hands work to 2 drone processes through"
echo "   request-response, data in shared memory; the same through Unix sockets:"
drones --drones 2 --sizes 10,100000 --mandel 256x192 --reps 3 --out /tmp/m.png
echo "== zero-copy publish-subscribe (tools/examples/pubsub.c), two processes:"
pubsub sub demo.news 3 &
sub=$!
sleep 0.3
pubsub pub demo.news 3
wait "$sub"
echo "== request-response (tools/examples/reqres.c):"
reqres server demo.upper 2 &
server=$!
sleep 0.3
reqres client demo.upper 2
wait "$server"
echo "== events through epoll on the listener fd (tools/examples/event.c):"
event listen demo.bell 2 &
listener=$!
sleep 0.3
event notify demo.bell 4 7
wait "$listener"
echo "== a blackboard: one writer, lock-free readers (tools/examples/blackboard.c):"
blackboard watch demo.board speed 2 &
watcher=$!
sleep 0.3
blackboard write demo.board speed=10 mode=auto
blackboard read demo.board
blackboard write demo.board speed=20
wait "$watcher"
echo "== zero-trust payloads: a subscriber's write into a sample faults (tools/examples/zerotrust.c):"
zerotrust demo
echo "== dynamic payloads: chunks that grow with the samples (tools/examples/dynamic.c):"
dynamic demo
echo "== 1,024 participants in one service, WaitSets in 8 processes (tools/examples/crowd.c):"
crowd 8 100
rmmod shmk
echo "== rmmod shmk: done, nothing was left in use"
