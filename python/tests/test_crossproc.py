# SPDX-License-Identifier: LGPL-2.1-or-later
"""Between processes (multiprocessing, fork): publish-subscribe with numpy
views on both sides, request-response, events."""

import multiprocessing
import os
import subprocess
import sys

import numpy as np

import shmk
from conftest import TOP

ctx = multiprocessing.get_context("fork")


def run(target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def joined(p):
    p.join(20)
    assert p.exitcode == 0
    return True


def publisher_proc(name, n, ready):
    with shmk.Service(name, "pubsub", payload_max=4096) as svc:
        pub = svc.publisher()
        ready.wait(10)
        for i in range(n):
            with pub.loan() as loan:
                frame = loan.array(np.float32, (16, 16))
                frame[:] = i
                frame[0, 0] = os.getpid()
                loan.publish()
        assert pub.drain(10)


def test_pubsub_between_processes(name):
    ready = ctx.Event()
    with shmk.Service(name, "pubsub", payload_max=4096) as svc:
        sub = svc.subscriber()
        p = run(publisher_proc, name, 5, ready)
        ready.set()
        for i in range(5):
            with sub.receive(10.0) as s:
                frame = s.array(np.float32, (16, 16))
                # Zero copy: the array is the chunk the child wrote in.
                assert frame.__array_interface__["data"][0] == s.address
                assert not frame.flags.writeable
                assert frame[0, 0] == p.pid and (frame[1:] == i).all()
                del frame
        assert joined(p)


def server_proc(name, n):
    with shmk.Service(name, "reqres", payload_max=64) as svc:
        server = svc.server()
        for _ in range(n):
            with server.receive(10.0) as req:
                with server.loan() as loan:
                    out = loan.array(np.int64, 1)
                    out[0] = req.array(np.int64).sum()
                    loan.respond(req)
        # Stay until the responses are read: they are the server's.
        server.drain(10)


def test_reqres_between_processes(name):
    with shmk.Service(name, "reqres", payload_max=64) as svc:
        client = svc.client()
        p = run(server_proc, name, 3)
        corrs = {}
        for k in range(3):
            # Waits for the server to come up (timeout: live server).
            corr = client.send_copy(np.arange(k + 2, dtype=np.int64),
                                    timeout=10.0)
            corrs[corr] = sum(range(k + 2))
        for _ in range(3):
            with client.receive(10.0) as r:
                assert r.array(np.int64)[0] == corrs.pop(r.corr)
        assert joined(p)


def notifier_proc(name, ids, go):
    with shmk.Service(name, "event") as svc:
        notifier = svc.notifier()
        go.wait(10)
        for i in ids:
            notifier.notify(i)


def test_events_between_processes(name):
    go = ctx.Event()
    with shmk.Service(name, "event") as svc:
        listener = svc.listener()
        p = run(notifier_proc, name, [5, 9], go)
        go.set()
        got = set()
        while got != {5, 9}:
            ids = listener.wait(10.0)
            assert ids
            got.update(ids)
        assert joined(p)


def test_example_pubsub(name):
    """tools/examples/pubsub.py, its two sides as two programs."""
    ex = os.path.join(TOP, "tools", "examples", "pubsub.py")
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "python"))
    sub = subprocess.Popen([sys.executable, ex, "sub", name, "3"], env=env,
                           stdout=subprocess.PIPE, text=True)
    # Once the subscriber is up, no frame can be missed.
    assert sub.stdout.readline() == "waiting for frames\n"
    pub = subprocess.run([sys.executable, ex, "pub", name, "3"], env=env,
                         capture_output=True, text=True, timeout=30)
    out, _ = sub.communicate(timeout=30)
    assert pub.stdout.count("published") == 3
    assert pub.returncode == 0, pub.stderr
    assert sub.returncode == 0
    assert out.count("received") == 3
    assert "frame 2" in out
