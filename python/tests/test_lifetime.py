# SPDX-License-Identifier: LGPL-2.1-or-later
"""Views that outlive their sample, loan, port or service; use after
release or close.  The bindings keep a payload's chunk, and its port's
mapping, until the last view of it is gone, so these never crash; using
the released or closed object raises shmk.ClosedError."""

import errno
import gc
import os

import numpy as np
import pytest

import shmk


def pubsub(name, **cfg):
    return shmk.Service(name, "pubsub", payload_max=64, **cfg)


def test_view_outlives_released_sample(name):
    with pubsub(name, max_borrow=1) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(np.arange(8, dtype=np.uint8))
        s = sub.receive(0)
        view = s.array()[2:]            # a view derived from a view
        s.release()
        assert s.released
        # The chunk is still held for the view: max_borrow (1) is reached.
        pub.send_copy(b"next")
        with pytest.raises(shmk.Error) as e:
            sub.receive(0)
        assert e.value.errno == errno.ENOBUFS
        assert view.tolist() == [2, 3, 4, 5, 6, 7]
        del view                        # the last view: the chunk goes back
        assert sub.receive(0).bytes() == b"next"


def test_use_after_release_raises(name):
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(b"abc")
        with sub.receive(0) as s:
            pass
        for use in (s.bytes, s.array, lambda: s.memoryview):
            with pytest.raises(shmk.ClosedError) as e:
                use()
            assert e.value.errno == errno.EBADF
            assert isinstance(e.value, ValueError)
        s.release()                     # twice: nothing


def test_view_outlives_port(name):
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(b"kept")
        s = sub.receive(0)
        mv = s.memoryview
        loan = pub.loan()
        wview = loan.array(np.uint8, 4)
        sub.close()
        pub.close()
        assert sub.closed and pub.closed
        # Closed for use at once ...
        with pytest.raises(shmk.ClosedError):
            sub.receive(0)
        with pytest.raises(shmk.ClosedError):
            s.bytes()
        with pytest.raises(shmk.ClosedError):
            pub.loan()
        with pytest.raises(shmk.ClosedError):
            loan.publish()
        # ... the mappings stay for the views, which still read and write.
        assert bytes(mv) == b"kept"
        wview[:] = 1
        assert svc.participants == 2
        del mv
        assert svc.participants == 1    # the subscriber's C port is gone
        del wview
        assert svc.participants == 0
        s.release()                     # after close: nothing
        loan.discard()


def test_view_outlives_service(name):
    svc = pubsub(name)
    pub, sub = svc.publisher(), svc.subscriber()
    pub.send_copy(b"still here")
    arr = sub.receive(0).array()        # the Sample object is dropped too
    svc.close()
    assert pub.closed and sub.closed and svc.closed
    with pytest.raises(shmk.ClosedError):
        svc.chunks_used
    with pytest.raises(shmk.ClosedError):
        svc.publisher()
    del svc, pub, sub
    gc.collect()
    assert arr.tobytes() == b"still here"
    del arr
    # Everything closed: the service went away with its last user.
    with pytest.raises(FileNotFoundError):
        shmk.Service(name, "pubsub", create=False)


def test_ports_closed_on_gc(name):
    with pubsub(name) as svc:
        p = svc.publisher()
        assert svc.participants == 1
        del p
        gc.collect()
        assert svc.participants == 0
        sub = svc.subscriber()
        sub2 = svc.subscriber()
        assert svc.participants == 2
        del sub, sub2
        assert svc.participants == 0


def test_port_outlives_dropped_service(name):
    pub = shmk.Service(name, "pubsub").publisher()
    sub = shmk.Service(name, "pubsub").subscriber()
    gc.collect()
    pub.send_copy(b"ok")
    assert sub.receive(0).bytes() == b"ok"
    pub.close()
    sub.close()
    with pytest.raises(FileNotFoundError):
        shmk.Service(name, "pubsub", create=False)


def test_unreleased_sample_and_loan_on_gc(name):
    with pubsub(name, max_borrow=1, max_loans=1) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(b"1")
        pub.send_copy(b"2")
        pub.loan()                      # dropped: discarded
        sub.receive(0)                  # dropped: released
        assert sub.receive(0).bytes() == b"2"
        pub.loan().discard()


def test_use_after_close_raises(name):
    with shmk.Service(name, "reqres") as rr, \
            shmk.Service(name + "e", "event") as ev:
        ports = [rr.client(), rr.server(), ev.notifier(), ev.listener()]
        for p in ports:
            p.close()
            p.close()                   # twice: nothing
            with pytest.raises(shmk.ClosedError):
                p.slot
        client, server, notifier, listener = ports
        for use in (client.loan, lambda: client.send_copy(b"x", 0),
                    lambda: client.receive(0), lambda: server.receive(0),
                    lambda: notifier.notify(0), lambda: listener.wait(0),
                    listener.fileno):
            with pytest.raises(shmk.ClosedError):
                use()


def test_port_after_fork_belongs_to_parent(name):
    with pubsub(name) as svc:
        pub = svc.publisher()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                pub.send_copy(b"child")
            except shmk.ClosedError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        pub.send_copy(b"parent")        # still the parent's


def test_signal_during_wait(name):
    import signal
    import time
    seen = []

    def handler(signum, frame):
        seen.append(signum)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with shmk.Service(name, "event") as svc:
            listener = svc.listener()
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            t = time.monotonic()
            # The wait goes on after the handler (PEP 475), to its timeout.
            assert listener.wait(0.15) == []
            assert seen == [signal.SIGALRM]
            assert time.monotonic() - t >= 0.14

            def boom(signum, frame):
                raise KeyboardInterrupt

            signal.signal(signal.SIGALRM, boom)
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            t = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                listener.wait(None)     # forever, ended by the handler
            assert time.monotonic() - t < 5
            assert listener.wait(0) == []   # the port still works
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_close_waits_for_a_blocking_receive(name):
    import threading
    import time
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        got = []
        t = threading.Thread(target=lambda: got.append(sub.receive(5.0)))
        t.start()
        time.sleep(0.05)
        closer = threading.Thread(target=sub.close)
        closer.start()
        time.sleep(0.05)
        # close() waits: the C port is still there for the receive.
        assert closer.is_alive() and not sub.closed
        pub.send_copy(b"last")
        t.join(5)
        closer.join(5)
        assert not closer.is_alive() and sub.closed
        # The sample was received before the close, which released it.
        assert len(got) == 1 and got[0].released
        with pytest.raises(shmk.ClosedError):
            got[0].bytes()
