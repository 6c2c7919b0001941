# SPDX-License-Identifier: LGPL-2.1-or-later
"""The WaitSet (include/shmk/waitset.h): many ports, deadlines and
intervals in one blocking wait, or one fd for an event loop."""

import errno
import weakref

from ._errors import ClosedError, check, error, retry_eintr, timeout_ns
from ._ffi import ffi, lib
from . import _handles
from ._handles import Guard

try:
    lib.shmk_waitset_create
    HAVE_WAITSET = True
except AttributeError:      # a libshmk older than LIBSHMK_0.4
    HAVE_WAITSET = False


def _ns(seconds, what):
    if seconds is None:
        return 0
    t = float(seconds)
    if not t > 0:
        raise ValueError("%s must be > 0 seconds, not %r" % (what, seconds))
    return max(1, int(t * 1e9))


class Attachment:
    """A port or interval attached to a WaitSet; ``port`` is None for an
    interval."""

    def __init__(self, ws, aid, port):
        self._ws = weakref.ref(ws)     # the WaitSet holds its attachments
        self.id = aid
        self.port = port

    def detach(self):
        """Remove it from its WaitSet; twice does nothing."""
        ws = self._ws()
        if ws is not None and not ws.closed:
            ws.detach(self)

    def __repr__(self):
        return "<shmk.Attachment %d %s>" % (
            self.id, type(self.port).__name__ if self.port else "interval")


class Event:
    """One attachment that fired: ``ready`` (its port may have data:
    receive with timeout 0 until None), ``deadline`` (nothing came for
    longer than its deadline), ``tick`` (an interval elapsed)."""

    def __init__(self, attachment, what):
        self.attachment = attachment
        self.port = attachment.port
        self.ready = bool(what & lib.SHMK_WS_READY)
        self.deadline = bool(what & lib.SHMK_WS_DEADLINE)
        self.tick = bool(what & lib.SHMK_WS_TICK)

    def __repr__(self):
        what = [w for w in ("ready", "deadline", "tick") if getattr(self, w)]
        return "<shmk.Event %r %s>" % (self.attachment, "|".join(what))


class WaitSet:
    """Waits for ports (subscribers, clients, servers, listeners), with
    optional deadlines, and intervals.  A context manager; close()
    detaches everything.  An attached port stays open in C until it is
    detached (a closed port is detached by the next wait())."""

    def __init__(self):
        if not HAVE_WAITSET:
            raise error(-errno.ENOSYS, "shmk_waitset_create",
                        detail="this libshmk has no WaitSet")
        out = ffi.new("struct shmk_waitset **")
        check(lib.shmk_waitset_create(out), "shmk_waitset_create")
        self._ptr = out[0]
        self._guard = Guard()
        self._att = {}
        self._closed = False
        self._generation = _handles._fork_generation

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_guard", None) is not None and not self._closed:
            self._guard.run(self._close)

    def _acquire(self):
        self._guard.acquire()
        if self._closed:
            self._guard.release()
            raise ClosedError("the WaitSet is closed")
        if self._generation != _handles._fork_generation:
            self._guard.release()
            raise ClosedError("the WaitSet was made by the parent process "
                              "(its epoll set is shared with the child)")
        return self._ptr

    def attach(self, port, deadline=None):
        """Wait for ``port``; with ``deadline`` (seconds), also report it
        each time nothing made it ready for that long."""
        ns = _ns(deadline, "deadline")
        ws = self._acquire()
        try:
            h = port._h
            with h as pptr:
                aid = check(lib.shmk_waitset_attach_port(ws, pptr, ns,
                                                         ffi.NULL),
                            "shmk_waitset_attach_port")
                h.views += 1    # the C port stays until detached
            a = Attachment(self, aid, port)
            self._att[aid] = a
            return a
        finally:
            self._guard.release()

    def attach_interval(self, interval):
        """A tick every ``interval`` seconds."""
        ns = _ns(interval, "interval")
        ws = self._acquire()
        try:
            aid = check(lib.shmk_waitset_attach_interval(ws, ns, ffi.NULL),
                        "shmk_waitset_attach_interval")
            a = Attachment(self, aid, None)
            self._att[aid] = a
            return a
        finally:
            self._guard.release()

    def _detach(self, a):
        # under the guard
        if self._att.get(a.id) is not a:
            return False
        check(lib.shmk_waitset_detach(self._ptr, a.id),
              "shmk_waitset_detach")
        del self._att[a.id]
        if a.port is not None:
            h = a.port._h
            h.guard.run(h.user_gone)
        return True

    def detach(self, attachment):
        """Remove an attachment; detaching twice does nothing."""
        self._acquire()
        try:
            self._detach(attachment)
        finally:
            self._guard.release()

    def wait(self, timeout=None, max_events=64):
        """The Events of the attachments that fired, waiting up to
        ``timeout`` seconds (None: forever; 0: not at all); [] on
        timeout."""
        if max_events < 1:
            raise error(-errno.EINVAL, "shmk_waitset_wait",
                        detail="max_events must be at least 1")
        ns = timeout_ns(timeout)
        ev = ffi.new("struct shmk_waitset_event[]", max_events)
        ws = self._acquire()
        try:
            for a in [a for a in self._att.values()
                      if a.port is not None and a.port.closed]:
                self._detach(a)
            ret = retry_eintr(
                lambda t: lib.shmk_waitset_wait(ws, ev, max_events, t), ns,
                timeout)
            if ret in (-errno.EAGAIN, -errno.ETIMEDOUT):
                return []
            check(ret, "shmk_waitset_wait")
            return [Event(self._att[ev[i].id], ev[i].what)
                    for i in range(ret) if ev[i].id in self._att]
        finally:
            self._guard.release()

    def fileno(self):
        """An fd that polls readable when wait(0) would report something
        (for select, poll, asyncio's add_reader); owned by the WaitSet."""
        ws = self._acquire()
        try:
            return check(lib.shmk_waitset_fd(ws), "shmk_waitset_fd")
        finally:
            self._guard.release()

    def _close(self):
        if self._closed:
            return
        self._closed = True
        if self._generation != _handles._fork_generation:
            return      # a fork() child: the epoll set is the parent's too
        for a in list(self._att.values()):
            try:
                self._detach(a)
            except Exception:
                pass
        lib.shmk_waitset_destroy(self._ptr)
        self._ptr = None

    def close(self):
        """Detach everything and free the WaitSet; twice does nothing."""
        self._guard.run_sync(self._close)

    @property
    def closed(self):
        return self._closed

    def __len__(self):
        return len(self._att)
