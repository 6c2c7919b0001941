# SPDX-License-Identifier: LGPL-2.1-or-later
"""The blackboard and shmk_service_inspect() from Python."""

import errno
import os

import pytest

import shmk


def test_blackboard_write_read_wait(name):
    with shmk.Service(name, "blackboard", keys=4, key_size=8,
                      value_size=32, max_readers=2) as svc:
        cfg = svc.config
        assert cfg["kind"] == "blackboard"
        assert (cfg["keys"], cfg["key_size"], cfg["value_size"],
                cfg["max_readers"]) == (4, 8, 32, 2)
        w, r = svc.writer(), svc.reader()
        w.add("speed", b"\x01\x02")
        w.add(b"mode", "auto".encode())
        assert r.keys() == [b"speed", b"mode"]
        assert r.keys(raw=True)[0] == b"speed\0\0\0"
        value, v1 = r.read("speed", version=True)
        assert value == b"\x01\x02" and v1 % 2 == 0
        assert not r.changed("speed")
        assert r.wait("speed", timeout=0) is False
        w.write("speed", b"\x05" * 32)
        assert r.changed("speed")
        assert r.wait("speed", timeout=1.0) is True
        value, v2 = r.read("speed", version=True)
        assert value == b"\x05" * 32 and v2 > v1
        assert w.read("mode") == b"auto"    # the writer reads too


def test_blackboard_errors(name):
    with shmk.Service(name, "blackboard", keys=1, key_size=4,
                      value_size=8) as svc:
        w, r = svc.writer(), svc.reader()
        w.add("a", b"1")
        with pytest.raises(FileExistsError):
            w.add("a", b"2")
        with pytest.raises(shmk.Error) as e:
            w.add("b", b"2")                # every key taken
        assert e.value.errno == errno.ENOSPC
        with pytest.raises(FileNotFoundError):
            w.write("zz", b"")
        with pytest.raises(FileNotFoundError):
            r.read("zz")
        with pytest.raises(shmk.Error) as e:
            r.read("toolong")               # more than key_size
        assert e.value.errno == errno.EINVAL and "key_size" in str(e.value)
        with pytest.raises(shmk.Error) as e:
            w.write("a", b"x" * 9)          # more than value_size
        assert e.value.errno == errno.EINVAL and e.value.detail
        with pytest.raises(shmk.Error) as e:
            svc.writer()                    # one writer
        assert e.value.errno == errno.EBUSY
        assert r.read("a") == b"1"          # nothing changed


def test_inspect(name):
    with shmk.Service(name, "pubsub", max_publishers=2,
                      max_subscribers=2) as svc:
        pub, sub = svc.publisher(), svc.subscriber()
        pub.send_copy(b"x")
        pub.send_copy(b"y")
        parts = {p.role: p for p in svc.inspect()}
        assert set(parts) == {"publisher", "subscriber"}
        p, s = parts["publisher"], parts["subscriber"]
        assert p.slot == pub.slot and s.slot == sub.slot
        assert p.state == s.state == "alive" and not p.gone
        assert p.pid == os.getpid()
        assert p.published == 2 and p.lag is None
        assert s.lag == 2 and s.drops == 0 and s.published is None
        with sub.receive(0):
            pass
        assert {p.role: p for p in svc.inspect()}["subscriber"].lag == 1
        sub.close()
        assert [p.role for p in svc.inspect()] == ["publisher"]


def test_inspect_blackboard_roles(name):
    with shmk.Service(name, "blackboard") as svc:
        w, r = svc.writer(), svc.reader()
        assert sorted(p.role for p in svc.inspect()) == ["reader", "writer"]
        w.close()
        r.close()
