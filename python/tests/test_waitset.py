# SPDX-License-Identifier: LGPL-2.1-or-later
"""Port fds and the WaitSet (a libshmk with LIBSHMK_0.4)."""

import errno
import multiprocessing
import select
import time

import pytest

import shmk

pytestmark = pytest.mark.skipif(not shmk.HAVE_WAITSET,
                                reason="this libshmk has no WaitSet")


def drain(port):
    """Receive until nothing comes, which re-arms the port's fd."""
    got = []
    while True:
        if isinstance(port, shmk.Listener):
            ids = port.wait(0)
            if not ids:
                return got
            got.extend(ids)
            continue
        s = port.receive(0)
        if s is None:
            return got
        got.append(s.bytes())
        s.release()


def test_port_fileno_polls_readable(name):
    with shmk.Service(name, "pubsub") as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        fd = sub.fileno()
        assert sub.fileno() == fd
        drain(sub)                      # empties and re-arms the fd
        assert select.select([fd], [], [], 0)[0] == []
        pub.send_copy(b"a")
        assert select.select([fd], [], [], 1.0)[0] == [fd]
        assert drain(sub) == [b"a"]
        assert select.select([fd], [], [], 0)[0] == []
        with pytest.raises(shmk.Error) as e:
            pub.fileno()                # a publisher receives nothing
        assert e.value.errno == errno.EINVAL and e.value.detail


def test_waitset_ports_and_interval(name):
    with shmk.Service(name, "pubsub") as ps, \
            shmk.Service(name + "e", "event") as ev, shmk.WaitSet() as ws:
        pub, sub = ps.publisher(), ps.subscriber()
        notifier, listener = ev.notifier(), ev.listener()
        a_sub = ws.attach(sub)
        a_lis = ws.attach(listener)
        assert len(ws) == 2
        for e in ws.wait(0):            # fds start readable: empty them
            drain(e.port)
        assert ws.wait(0) == []
        pub.send_copy(b"x")
        notifier.notify(4)
        fired, got = set(), {sub: [], listener: []}
        t = time.monotonic()
        while len(fired) < 2 and time.monotonic() - t < 5:
            for e in ws.wait(1.0):      # (a port may come twice: spurious)
                assert e.ready and not e.tick
                fired.add(e.attachment.id)
                got[e.port] += drain(e.port)
        assert fired == {a_sub.id, a_lis.id}
        assert got == {sub: [b"x"], listener: [4]}
        tick = ws.attach_interval(0.02)
        evs = ws.wait(1.0)
        assert [(e.attachment, e.tick) for e in evs] == [(tick, True)]
        tick.detach()
        tick.detach()                   # twice: nothing
        assert len(ws) == 2


def test_waitset_deadline(name):
    with shmk.Service(name, "pubsub") as svc, shmk.WaitSet() as ws:
        sub = svc.subscriber()
        a = ws.attach(sub, deadline=0.03)
        drain(sub)
        evs = []
        t = time.monotonic()
        while not any(e.deadline for e in evs) and time.monotonic() - t < 5:
            evs = ws.wait(1.0)
            drain(sub)
        assert any(e.deadline and e.attachment is a for e in evs)


def test_waitset_errors_and_lifetime(name):
    with shmk.Service(name, "pubsub") as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        ws = shmk.WaitSet()
        with pytest.raises(shmk.Error) as e:
            ws.attach(pub)              # no fd
        assert e.value.errno == errno.EINVAL
        ws.attach(sub)
        with pytest.raises(shmk.Error) as e:
            ws.attach(sub)
        assert e.value.errno == errno.EEXIST
        with pytest.raises(ValueError):
            ws.attach_interval(0)
        with pytest.raises(shmk.Error) as e:
            ws.wait(0, max_events=0)
        assert e.value.errno == errno.EINVAL
        # A port closed while attached: unusable at once, its C port kept
        # until the WaitSet lets go (the next wait() detaches it).
        sub.close()
        assert svc.participants == 2
        ws.wait(0)
        assert len(ws) == 0 and svc.participants == 1
        fd = ws.fileno()
        assert fd >= 0
        ws.close()
        ws.close()
        with pytest.raises(shmk.ClosedError):
            ws.wait(0)
        # Closing the WaitSet lets go of its ports too.
        ws2 = shmk.WaitSet()
        sub2 = svc.subscriber()
        ws2.attach(sub2)
        sub2.close()
        assert svc.participants == 2
        del ws2
        assert svc.participants == 1


def notifier_proc(name):
    with shmk.Service(name, "event") as svc:
        time.sleep(0.1)
        svc.notifier().notify(2)


def test_waitset_fd_across_processes(name):
    with shmk.Service(name, "event") as svc, shmk.WaitSet() as ws:
        listener = svc.listener()
        ws.attach(listener)
        for _ in ws.wait(0):
            drain(listener)
        p = multiprocessing.get_context("fork").Process(
            target=notifier_proc, args=(name,))
        p.start()
        r, _, _ = select.select([ws.fileno()], [], [], 10)
        assert r
        evs = ws.wait(0)
        assert evs and evs[0].port is listener and drain(listener) == [2]
        p.join(10)
        assert p.exitcode == 0


def test_waitset_after_fork_belongs_to_parent(name):
    import os
    with shmk.Service(name, "pubsub") as svc, shmk.WaitSet() as ws:
        pub, sub = svc.publisher(), svc.subscriber()
        ws.attach(sub)
        drain(sub)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ws.wait(0)
            except shmk.ClosedError:
                ws.close()              # must not touch the shared set
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        pub.send_copy(b"after")
        evs = ws.wait(1.0)
        assert evs and evs[0].port is sub and drain(sub) == [b"after"]
