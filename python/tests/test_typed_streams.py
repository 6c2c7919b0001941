# SPDX-License-Identifier: LGPL-2.1-or-later
"""Typed services and user headers, a subscriber's history, the
lingering close, pending requests, streams and a cancel that reaches the
server."""

import errno
import threading
import time

import numpy as np
import pytest

import shmk


def test_typed_service_and_user_header(name):
    with shmk.Service(name, "pubsub", payload_max=64, type_name="Pose",
                      type_size=24, type_align=8,
                      user_header_size=16) as svc:
        cfg = svc.config
        assert (cfg["type_name"], cfg["type_size"], cfg["type_align"],
                cfg["user_header_size"]) == ("Pose", 24, 8, 16)
        # Another program that disagrees on the type: an error naming both.
        with pytest.raises(shmk.Error) as e:
            shmk.Service(name, "pubsub", create=False, type_name="Twist",
                         type_size=48)
        assert e.value.errno == errno.EPROTOTYPE
        assert "Pose" in str(e.value) and "Twist" in str(e.value)
        pub, sub = svc.publisher(), svc.subscriber()
        with pub.loan() as loan:
            hdr = loan.header_array(np.uint64, 2)
            hdr[:] = [7, 1234567]
            assert len(loan.header) == 16
            loan.array(np.float64, 3)[:] = [1.0, 2.0, 3.0]
            loan.publish()
        with sub.receive(0) as s:
            assert list(s.header_array(np.uint64)) == [7, 1234567]
            assert s.header.readonly and len(s.header) == 16
            assert not s.header_array().flags.writeable
            assert list(s.array(np.float64, 3)) == [1.0, 2.0, 3.0]


def test_no_user_header(name):
    with shmk.Service(name, "pubsub") as svc:
        pub = svc.publisher()
        with pub.loan() as loan:
            assert loan.header is None
            with pytest.raises(ValueError):
                loan.header_array()


def test_bad_type_name(name):
    with pytest.raises(ValueError):
        shmk.Service(name, "pubsub", type_name="x" * 64)
    with pytest.raises(shmk.Error) as e:
        shmk.Service(name, "pubsub", type_name="bad\nname", type_size=8)
    assert e.value.errno == errno.EINVAL and e.value.detail


def test_subscriber_history(name):
    with shmk.Service(name, "pubsub", history=3) as svc:
        pub = svc.publisher()
        for i in range(5):
            pub.send_copy(bytes([i]))
        full, one, none = (svc.subscriber(), svc.subscriber(history=1),
                           svc.subscriber(history=0))

        def got(sub):
            out = []
            while (s := sub.receive(0)) is not None:
                with s:
                    out.append(s.bytes()[0])
            return out

        assert got(full) == [2, 3, 4]
        assert got(one) == [4]
        assert got(none) == []
        with pytest.raises(shmk.Error) as e:
            svc.subscriber(history=4)       # more than the service's
        assert e.value.errno == errno.EINVAL and "history" in str(e.value)
        with pytest.raises(ValueError):
            svc.subscriber(history=-1)


def test_close_linger(name):
    with shmk.Service(name, "pubsub", buffer=4) as svc:
        sub = svc.subscriber()
        pub = svc.publisher()
        pub.send_copy(b"a")
        pub.send_copy(b"b")
        # Nobody receives: the wait times out, the port closes anyway.
        assert pub.close_linger(timeout=0.05) is False
        assert pub.closed
        with pytest.raises(shmk.ClosedError):
            pub.loan()
        # Counted when the subscriber next looks at that publisher.
        assert sub.receive(0) is None and sub.dropped == 2

        pub = svc.publisher()
        pub.send_copy(b"c")
        got = []

        def drain():
            s = sub.receive(2.0)
            got.append(s.bytes())
            s.release()

        t = threading.Thread(target=drain)
        t.start()
        assert pub.close_linger(timeout=5.0) is True
        t.join()
        assert got == [b"c"] and sub.dropped == 2
        assert svc.roles == (0, 1)


def test_stream_and_end(name):
    with shmk.Service(name, "reqres", buffer=4) as svc:
        server, client = svc.server(), svc.client()
        corr = client.request_copy(b"abc", timeout=0)
        assert client.pending(corr) == 1
        with server.receive(0) as req:
            assert req.corr == corr and not req.no_response
            for i in range(3):
                server.stream_copy(req, bytes([i]), timeout=0)
            server.end(req, timeout=0)
        got = [(s.bytes(), s.last) for s in client.responses(corr, 1.0)]
        assert got == [(b"\0", False), (b"\1", False), (b"\2", False),
                       (b"", True)]
        with pytest.raises(FileNotFoundError):
            client.receive_for(corr, 0)     # no longer pending
        # A loan sent as a request; respond() ends the stream.
        loan = client.loan()
        loan.array(np.int32, 1)[0] = 5
        corr = loan.request(timeout=0)
        assert loan.servers == 1
        with server.receive(0) as req:
            with server.loan() as out:
                out.array(np.int32, 1)[0] = 50
                out.stream(req, last=True, timeout=0)
        with client.receive_for(corr, 1.0) as s:
            assert s.array(np.int32, 1)[0] == 50 and s.last
        with pytest.raises(shmk.Error) as e:
            client.receive_for(corr, 0)
        assert e.value.errno == errno.ENODATA


def test_fire_and_forget(name):
    with shmk.Service(name, "reqres") as svc:
        server, client = svc.server(), svc.client()
        corr = client.request_copy(b"x", timeout=0, no_response=True)
        with pytest.raises(FileNotFoundError):
            client.pending(corr)
        with server.receive(0) as req:
            assert req.no_response
            with pytest.raises(shmk.Error) as e:
                server.stream_copy(req, b"y", timeout=0)
            assert e.value.errno == errno.EINVAL
            assert "no response" in e.value.detail


def test_cancel_reaches_the_server(name):
    with shmk.Service(name, "reqres", buffer=2) as svc:
        server, client = svc.server(), svc.client()
        corr = client.request_copy(b"long", timeout=0)
        req = server.receive(0)
        assert server.cancelled(req) is False
        server.stream_copy(req, b"1", timeout=0)
        client.cancel(corr)
        assert server.cancelled(req) is True
        loan = server.loan()
        with pytest.raises(shmk.Error) as e:
            loan.stream(req, nbytes=1, timeout=0)
        assert e.value.errno == errno.ECANCELED
        assert "cancelled" in e.value.detail
        assert not loan.consumed            # the loan is kept
        loan.discard()
        with pytest.raises(shmk.Error) as e:
            server.end(req, 0)
        assert e.value.errno == errno.ECANCELED
        req.release()
        assert client.receive(0) is None    # released, never delivered
        with pytest.raises(FileNotFoundError):
            client.cancel(corr)
        client.close()
        server.close()
        assert svc.chunks_used == 0


def test_cancel_wakes_a_blocked_stream(name):
    with shmk.Service(name, "reqres", buffer=2) as svc:
        server, client = svc.server(), svc.client()
        corr = client.request_copy(b"x", timeout=0)
        req = server.receive(0)
        sent, result = [], []

        def stream():
            try:
                for i in range(100):
                    if server.cancelled(req):
                        result.append("asked")
                        return
                    server.stream_copy(req, bytes([i]), timeout=10.0)
                    sent.append(i)
            except shmk.Error as e:
                result.append(errno.errorcode[e.errno])

        t = threading.Thread(target=stream)
        t.start()
        while len(sent) < 2:                # the ring (buffer 2) is full
            time.sleep(0.01)
        time.sleep(0.2)                     # the third waits for room
        t0 = time.monotonic()
        client.cancel(corr)
        t.join(5.0)
        assert not t.is_alive()
        assert sent == [0, 1]
        # Asleep in stream() (the usual case): woken, ECANCELED; a
        # thread the scheduler held back asks first.
        assert result in (["ECANCELED"], ["asked"])
        assert time.monotonic() - t0 < 2.0
        req.release()


def test_server_cancelled_bad_input(name):
    with shmk.Service(name, "reqres", max_subscribers=2) as svc:
        s1, client = svc.server(), svc.client()
        s2 = svc.server()
        client.send_copy(b"q", timeout=0)
        req = s1.receive(0)
        with pytest.raises(shmk.Error) as e:
            s2.cancelled(req)               # received by another port
        assert e.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            s1.cancelled(b"not a sample")
        assert s1.cancelled(req) is False   # shmk_client_send(): wanted
        client.close()
        assert s1.cancelled(req) is True    # the client is gone
        req.release()
        with pytest.raises(shmk.ClosedError):
            s1.cancelled(req)


@pytest.mark.skipif(not shmk.HAVE_V05, reason="libshmk before 0.5")
def test_dynamic_loan_slice(name):
    """loan_slice(n) in a DYNAMIC service: the chunks grow past 4 KiB
    and the subscriber follows; zero-trust samples stay read-only."""
    with shmk.Service(name, "pubsub", payload_max=256 * 1024,
                      mode=0o600 | shmk.DYNAMIC) as svc:
        assert svc.config["mode"] & shmk.DYNAMIC
        pub, sub = svc.publisher(), svc.subscriber()
        for n in (100, 10000, 200000):
            with pub.loan_slice(n) as loan:
                assert loan.nbytes >= n
                loan.array(np.uint8, n)[:] = np.arange(n) % 251
                loan.publish(nbytes=n)
            with sub.receive(1) as s:
                a = s.array(np.uint8, n)
                assert len(s) == n and not a.flags.writeable
                assert (a == np.arange(n) % 251).all()
        with pytest.raises(shmk.Error) as e:
            pub.loan_slice(256 * 1024 + 1)
        assert e.value.errno == errno.EMSGSIZE
