#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""pubsub.py: zero-copy publish-subscribe of numpy frames between two
terminals, the Python twin of pubsub.c.

    pubsub.py sub NAME [COUNT]     receive COUNT frames (default 10)
    pubsub.py pub NAME [COUNT]     publish COUNT frames, one every 100 ms

Either side may start first; whoever comes first creates the service
(history 4: a late subscriber gets the last four frames).  The publisher
loans a chunk, fills a 4 x 8 float32 array that *is* the chunk and
publishes it: only the chunk's index moves.  The subscriber's array is a
read-only view of the same chunk in its own mapping.

From the source tree: make lib, then
    SHMK_BACKEND=memfd PYTHONPATH=python tools/examples/pubsub.py sub demo
"""

import os
import sys
import time

try:
    import shmk
except ImportError:     # run from the source tree without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), os.pardir, os.pardir, "python"))
    import shmk
import numpy as np

SHAPE = (4, 8)


def publish(svc, count):
    with svc.publisher() as pub:
        for i in range(count):
            with pub.loan() as loan:
                frame = loan.array(np.float32, SHAPE)   # in shared memory
                frame[:] = np.arange(frame.size).reshape(SHAPE) + i
                loan.publish()                          # 128 bytes
            print("published frame %d from pid %d" % (i, os.getpid()),
                  flush=True)
            time.sleep(0.1)
        pub.drain(1.0)          # deliver before leaving


def subscribe(svc, count):
    with svc.subscriber() as sub:
        print("waiting for frames", flush=True)
        for _ in range(count):
            with sub.receive() as sample:               # waits (Ctrl-C ends)
                frame = sample.array(np.float32, SHAPE)  # read-only view
                print("received frame %d (publisher slot %d, seq %d): "
                      "sum %.0f" % (frame[0, 0], sample.origin, sample.seq,
                                    frame.sum()), flush=True)
                del frame       # the view would keep the chunk held


def main(argv):
    if len(argv) < 3 or argv[1] not in ("pub", "sub"):
        print("usage: %s pub|sub NAME [COUNT]" % argv[0], file=sys.stderr)
        return 2
    count = int(argv[3]) if len(argv) > 3 else 10
    try:
        with shmk.Service(argv[2], "pubsub", payload_max=256,
                          history=4) as svc:
            (publish if argv[1] == "pub" else subscribe)(svc, count)
    except shmk.Error as e:     # e.errno, and the library's sentence
        print("%s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
