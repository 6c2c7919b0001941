# SPDX-License-Identifier: LGPL-2.1-or-later
"""Request-response and events in one process."""

import errno
import select

import numpy as np
import pytest

import shmk


def test_request_response_correlation(name):
    with shmk.Service(name, "reqres", payload_max=64) as svc:
        server, c1, c2 = svc.server(), svc.client(), svc.client()
        ids = [c1.send_copy(b"one", timeout=0), c2.send_copy(b"two", 0),
               c1.send_copy(b"three", 0)]
        assert ids[0] != ids[2]         # ids are per client
        for _ in range(3):
            with server.receive(0) as req:
                with server.loan() as loan:
                    out = loan.array(np.uint8, len(req))
                    out[:] = req.array()[::-1]
                    loan.respond(req)
        r1 = [c1.receive(0), c1.receive(0)]
        r2 = c2.receive(0)
        assert c1.receive(0) is None and c2.receive(0) is None
        assert [(r.corr, r.bytes()) for r in r1] == [(ids[0], b"eno"),
                                                      (ids[2], b"eerht")]
        assert (r2.corr, r2.bytes()) == (ids[1], b"owt")


def test_client_loan_send_and_respond_copy(name):
    with shmk.Service(name, "reqres", payload_max=64) as svc:
        server, client = svc.server(), svc.client()
        loan = client.loan()
        loan.array(np.int64, 2)[:] = [20, 22]
        corr = loan.send(timeout=0)
        req = server.receive(0)
        assert req.corr == corr
        server.respond_copy(req, np.array([req.array(np.int64).sum()]))
        req.release()
        resp = client.receive(1.0)
        assert resp.corr == corr and resp.array(np.int64)[0] == 42


def test_send_without_server(name):
    with shmk.Service(name, "reqres") as svc:
        client = svc.client()
        loan = client.loan()
        with pytest.raises(shmk.Error) as e:
            loan.send(3, timeout=0)
        assert e.value.errno == errno.ENOTCONN
        assert e.value.detail           # shmk_last_error() says why
        with pytest.raises(TimeoutError) as e:
            loan.send(3, timeout=0.02)
        assert e.value.errno == errno.ETIMEDOUT
        assert isinstance(e.value, shmk.Error) and e.value.detail
        assert str(e.value).count("shmk_client_send_wait") == 1
        # The loan was kept: it goes once a server is there.
        server = svc.server()
        corr = loan.send(3, timeout=0)
        assert server.receive(0).corr == corr
        with pytest.raises(shmk.Error) as e:
            client.send_copy(b"x" * 5000, 0)        # > payload_max
        assert e.value.errno == errno.EINVAL


def test_respond_errors(name):
    with shmk.Service(name, "reqres") as svc:
        server, client = svc.server(), svc.client()
        client.send_copy(b"q", 0)
        req = server.receive(0)
        other = shmk.Service(name, "reqres", create=False)
        with pytest.raises(shmk.Error) as e:
            svc.server()                # one server at a time
        assert e.value.errno == errno.EBUSY
        req.release()
        with pytest.raises(shmk.ClosedError):
            server.respond_copy(req, b"a")
        client.send_copy(b"q2", 0)
        req2 = server.receive(0)
        # A Sample of another port is not a request of this server.
        sub_svc = shmk.Service(name + "p", "pubsub")
        pub, sub = sub_svc.publisher(), sub_svc.subscriber()
        pub.send_copy(b"s")
        foreign = sub.receive(0)
        with server.loan() as loan:
            with pytest.raises(shmk.Error) as e:
                loan.respond(foreign)
            assert e.value.errno == errno.EINVAL
            with pytest.raises(shmk.Error) as e:
                loan.respond(req2, 10 ** 6)         # > payload_max
            assert e.value.errno == errno.EINVAL
            with pytest.raises(shmk.Error) as e:
                loan.publish(1, timeout=0)  # a server does not publish
            assert e.value.errno == errno.EINVAL
        sub_svc.close()
        other.close()


def test_events(name):
    with shmk.Service(name, "event", max_events=16) as svc:
        notifier, l1, l2 = svc.notifier(), svc.listener(), svc.listener()
        assert l1.wait(0) == []
        assert notifier.notify(3) == 2
        notifier.notify(3)              # coalesces
        notifier.notify(15)
        assert sorted(l1.wait(0)) == [3, 15]
        assert sorted(l2.wait(1.0, max_ids=1) + l2.wait(0)) == [3, 15]
        assert l1.wait(0.02) == []
        with pytest.raises(shmk.Error) as e:
            notifier.notify(16)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(shmk.Error) as e:
            l1.wait(0, max_ids=0)
        assert e.value.errno == errno.EINVAL


def test_listener_fileno(name):
    with shmk.Service(name, "event") as svc:
        notifier, listener = svc.notifier(), svc.listener()
        try:
            fd = listener.fileno()
        except shmk.Error as e:
            # A libshmk older than LIBSHMK_0.4 has it on the device only.
            assert e.errno == errno.EOPNOTSUPP and not shmk.HAVE_WAITSET
            pytest.skip("no listener fd on the %s backend" % shmk.backend())
        notifier.notify(1)
        r, _, _ = select.select([fd], [], [], 1.0)
        assert r == [fd] and listener.wait(0) == [1]
