# SPDX-License-Identifier: LGPL-2.1-or-later
"""Publish-subscribe in one process: loans, zero-copy views, timeouts."""

import errno
import time

import numpy as np
import pytest

import shmk


def pubsub(name, **cfg):
    cfg.setdefault("payload_max", 256)
    return shmk.Service(name, "pubsub", **cfg)


def data_ptr(arr):
    return arr.__array_interface__["data"][0]


def test_loan_array_publish_receive_zero_copy(name):
    with pubsub(name) as svc, svc.publisher() as pub, \
            svc.subscriber() as sub:
        loan = pub.loan()
        arr = loan.array(np.float64, (4, 2))
        assert arr.flags.writeable and arr.shape == (4, 2)
        # The loan's view is the chunk itself, not a copy.
        assert data_ptr(arr) == loan.address
        arr[:] = np.arange(8).reshape(4, 2)
        loan.publish()                  # 64 bytes: the extent of the view
        with sub.receive(timeout=1.0) as s:
            assert len(s) == 64 and s.seq == 0 and s.corr == 0
            got = s.array(np.float64, (4, 2))
            # The subscriber's view is the sample's bytes in its mapping.
            assert data_ptr(got) == s.address
            assert np.shares_memory(got, s.array(np.float64, (4, 2)))
            assert (got == np.arange(8).reshape(4, 2)).all()
            assert s.bytes() == np.arange(8, dtype=np.float64).tobytes()


def test_subscriber_view_is_read_only(name):
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(b"\x01\x02\x03\x04")
        s = sub.receive(0)
        arr = s.array()
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr.flags.writeable = True
        with pytest.raises(ValueError):
            arr[0] = 9
        mv = s.memoryview
        assert mv.readonly
        with pytest.raises(TypeError):
            mv[0] = 9
        with pytest.raises(ValueError):
            np.frombuffer(mv, np.uint8).flags.writeable = True
        assert s.bytes() == b"\x01\x02\x03\x04"


def test_loan_memoryview_and_explicit_length(name):
    with pubsub(name, payload_max=100) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        with pub.loan() as loan:
            mv = loan.memoryview
            assert not mv.readonly and len(mv) == 100 == loan.nbytes
            mv[:5] = b"hello"
            loan.publish(5)
        s = sub.receive(0)
        assert s.bytes() == b"hello"
        # The memoryview the loan handed out is released on publish.
        with pytest.raises(ValueError):
            mv[0]


def test_published_loan_cannot_be_used(name):
    with pubsub(name) as svc:
        pub = svc.publisher()
        loan = pub.loan()
        arr = loan.array(np.uint8, 8)
        loan.publish()
        assert loan.consumed
        assert not arr.flags.writeable
        for use in (loan.publish, loan.array, lambda: loan.memoryview,
                    lambda: loan.send(), lambda: loan.respond(None)):
            with pytest.raises((shmk.ClosedError, TypeError)):
                use()
        with pytest.raises(shmk.ClosedError) as e:
            loan.publish()
        assert e.value.errno == errno.EBADF
        loan.discard()                  # nothing: it was published


def test_send_copy_numpy_and_bytes(name):
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(np.arange(10, dtype=np.int32))
        pub.send_copy(bytearray(b"xyz"))
        pub.send_copy(b"")
        a = sub.receive(0)
        assert (a.array(np.int32) == np.arange(10)).all()
        assert sub.receive(0).bytes() == b"xyz"
        empty = sub.receive(0)
        assert len(empty) == 0 and empty.bytes() == b""
        assert empty.array().size == 0


def test_array_shapes_and_offsets(name):
    with pubsub(name, payload_max=64) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        loan = pub.loan()
        head = loan.array(np.uint32, 2)
        body = loan.array(np.uint16, (2, 3), offset=8)
        head[:] = [7, 8]
        body[:] = [[1, 2, 3], [4, 5, 6]]
        assert data_ptr(body) == loan.address + 8
        with pytest.raises(ValueError):
            loan.array(np.uint64, 9)    # 72 bytes > 64
        with pytest.raises(ValueError):
            loan.array(np.uint8, offset=65)
        loan.publish()                  # up to the end of body: 20 bytes
        s = sub.receive(0)
        assert len(s) == 20
        assert list(s.array(np.uint32, 2)) == [7, 8]
        assert s.array(np.uint16, (2, 3), offset=8).tolist() == \
            [[1, 2, 3], [4, 5, 6]]
        with pytest.raises(ValueError):
            s.array(np.uint32, 6)


def test_receive_timeouts(name):
    with pubsub(name) as svc:
        sub = svc.subscriber()
        assert sub.receive(0) is None
        t = time.monotonic()
        assert sub.receive(0.05) is None
        assert time.monotonic() - t >= 0.045
        with pytest.raises(ValueError):
            sub.receive(-1)


def test_history_and_dropped(name):
    with pubsub(name, history=2, buffer=2) as svc:
        pub = svc.publisher()
        for i in range(3):
            pub.send_copy(bytes([i]))
        sub = svc.subscriber()          # the last two, from history
        assert [sub.receive(0).bytes() for _ in range(2)] == [b"\x01",
                                                              b"\x02"]
        for i in range(5):
            pub.send_copy(bytes([i]))   # the ring holds 2: 3 dropped
        got = []
        while True:
            s = sub.receive(0)
            if s is None:
                break
            got.append(s.bytes())
            s.release()
        assert got == [b"\x03", b"\x04"]
        assert sub.dropped == 3


def test_loan_context_discards(name):
    with pubsub(name, max_loans=2) as svc:
        pub = svc.publisher()
        with pub.loan(), pub.loan():
            with pytest.raises(shmk.Error) as e:
                pub.loan()
            assert e.value.errno == errno.ENOBUFS
        with pub.loan() as a, pub.loan() as b:
            a.discard()
            b.discard()
            b.discard()                 # twice: nothing


def test_drain(name):
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        assert pub.drain(0)
        pub.send_copy(b"x")
        assert not pub.drain(0)
        assert not pub.drain(0.02)
        sub.receive(0).release()
        assert pub.drain(0.5)


def test_service_facts(name):
    with pubsub(name, payload_max=128, max_publishers=2,
                max_subscribers=3) as svc:
        c = svc.config
        assert c["kind"] == "pubsub" and c["payload_max"] == 128
        assert c["max_publishers"] == 2 and c["overflow"] == "safe"
        pub, sub = svc.publisher(), svc.subscriber()
        assert svc.participants == 2 and svc.roles == (1, 1)
        assert svc.dead == 0 and svc.recover() == 0
        assert pub.slot != sub.slot
        pub.send_copy(b"a")
        assert svc.backlog == 1
        assert svc.chunks > 0 and svc.chunks_used == 1
        assert name in shmk.list_services()
        # Opening it again with "any" (0) fields works.
        with shmk.Service(name, shmk.PUBSUB, create=False) as again:
            assert again.config == c
    assert shmk.backend() == "memfd"


def test_thread_blocked_in_receive_is_woken(name):
    import threading
    with pubsub(name) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        got = []
        t = threading.Thread(target=lambda: got.append(
            sub.receive(5.0).bytes()))
        t.start()
        time.sleep(0.05)
        pub.send_copy(b"wake")
        t.join(5)
        assert got == [b"wake"]
