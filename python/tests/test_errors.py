# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every failure is a shmk.Error (an OSError) with the C call's errno."""

import errno

import pytest

import shmk


def raises(code, fn, *args, **kw):
    with pytest.raises(shmk.Error) as e:
        fn(*args, **kw)
    assert e.value.errno == code, e.value
    assert isinstance(e.value, OSError)
    return e.value


def test_service_open_errors(name):
    e = raises(errno.ENOENT, shmk.Service, name, "pubsub", create=False)
    assert isinstance(e, FileNotFoundError)
    assert e.operation == "shmk_service_open"
    svc = shmk.Service(name, "pubsub", payload_max=64)
    e = raises(errno.EEXIST, shmk.Service, name, "pubsub", exclusive=True)
    assert isinstance(e, FileExistsError)
    # Another kind, another field: shmk_last_error() names the field.
    e = raises(errno.EPROTOTYPE, shmk.Service, name, "event")
    e = raises(errno.EPROTOTYPE, shmk.Service, name, "pubsub",
               payload_max=128)
    assert "payload_max" in e.detail and "payload_max" in str(e)
    svc.close()


def test_bad_configuration(name):
    e = raises(errno.EINVAL, shmk.Service, name, "pubsub",
               payload_max=(1 << 30) + 1)
    assert "payload_max" in e.detail
    raises(errno.EINVAL, shmk.Service, name, "pubsub", history=5000)
    raises(errno.EINVAL, shmk.Service, name, 7)
    raises(errno.EINVAL, shmk.Service, "", "pubsub")
    raises(errno.EINVAL, shmk.Service, "a/b", "pubsub")
    raises(errno.ENAMETOOLONG, shmk.Service, "n" * 100, "pubsub")
    with pytest.raises(ValueError):
        shmk.Service(name, "pubsubx")
    with pytest.raises(ValueError):
        shmk.Service(name, "pubsub", overflow="sometimes")
    with pytest.raises(TypeError):
        shmk.Service(name, "pubsub", colour=3)


def test_remove_missing(name):
    raises(errno.ENOENT, shmk.remove, name)


def test_port_limits(name):
    with shmk.Service(name, "pubsub", max_publishers=1,
                      max_subscribers=1, max_borrow=1) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        raises(errno.EBUSY, svc.publisher)
        raises(errno.EBUSY, svc.subscriber)
        pub.send_copy(b"1")
        pub.send_copy(b"2")
        s = sub.receive(0)
        raises(errno.ENOBUFS, sub.receive, 0)       # max_borrow held
        s.release()
        assert sub.receive(0).bytes() == b"2"
        # Wrong port kind for the service.
        raises(errno.EPROTOTYPE, svc.client)
        raises(errno.EPROTOTYPE, svc.listener)


def test_publish_errors(name):
    with shmk.Service(name, "pubsub", payload_max=16) as svc:
        pub = svc.publisher()
        loan = pub.loan()
        raises(errno.EINVAL, loan.publish, 17)
        raises(errno.EINVAL, pub.send_copy, b"x" * 17)
        # A publisher does not send requests.
        raises(errno.EINVAL, loan.send, 1, timeout=0)
        loan.publish(16)                # the loan was kept


def test_back_pressure(name):
    with shmk.Service(name, "pubsub", overflow="block", buffer=1) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(b"1", timeout=0)
        e = raises(errno.EAGAIN, pub.send_copy, b"2", timeout=0)
        assert isinstance(e, BlockingIOError)
        loan = pub.loan()
        e = raises(errno.ETIMEDOUT, loan.publish, 1, timeout=0.02)
        assert isinstance(e, TimeoutError)
        sub.receive(0).release()
        loan.publish(1, timeout=0)      # kept, and now there is room
        assert sub.receive(0) is not None


def test_timeouts_are_checked(name):
    with shmk.Service(name, "event") as svc:
        listener = svc.listener()
        for bad in (-0.5, float("nan"), "soon"):
            with pytest.raises((ValueError, TypeError)):
                listener.wait(bad)
        assert listener.wait(0) == []


def test_error_str_and_attributes():
    e = shmk.lib  # the module's C library is loaded
    assert e is not None
    from shmk._errors import error
    err = error(-errno.EINVAL, "shmk_pub_publish", detail="why")
    assert str(err) == "[Errno %d] shmk_pub_publish: %s: why" % (
        errno.EINVAL, __import__("os").strerror(errno.EINVAL))
    assert err.operation == "shmk_pub_publish" and err.detail == "why"
    assert type(err) is shmk.Error


def test_stale_service_handle(name):
    old = shmk.Service(name, "pubsub")
    shmk.remove(name)
    new = shmk.Service(name, "pubsub", exclusive=True)  # a new service
    raises(errno.ESTALE, old.publisher)
    new.publisher().send_copy(b"fine")
    old.close()
    new.close()

