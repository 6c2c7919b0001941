# SPDX-License-Identifier: LGPL-2.1-or-later
"""Lifetimes of the C handles behind services, ports and payload views.

The rule the bindings keep: no view (memoryview or numpy array) of a
payload can outlive the mapping it points into.  A payload's views hold
the payload (through the cffi pointer their buffer was made from, whose
ffi.gc callback counts them down), so:

- a port's shmk_port_close() (explicit close, context exit or GC) waits
  until the last view of any of its payloads is gone: the port is closed
  for use at once, its C handle when the views are gone;
- a sample's shmk_sub_release() and a loan's shmk_pub_discard() wait
  the same way for the views of that payload, so a view never shows a
  chunk that went back to the pool;
- a service's shmk_service_close() waits for the C close of its ports.

Every change of this state happens under the handle's Guard.  The
ffi.gc callbacks and the finalizers can run in any thread, at any point
where a reference is dropped (also inside an operation on the same port,
when the cyclic GC runs), so they never block: they queue their work and
run it only if they can take the lock; whoever holds it runs the queue
after releasing it.
"""

import collections
import os
import threading

from ._errors import ClosedError
from ._ffi import ffi, lib

# Bumped in a fork() child: a port belongs to the process that opened it
# (service.h), so the child may only close its copy.
_fork_generation = 0


def _after_fork():
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork)



class Guard:
    """A lock with a queue of work for those who must not wait for it.

    acquire()/release() bracket a user's operation (blocking; a nested
    call from the same thread, which can only come from a finalizer or a
    __del__ run inside the operation, is refused instead of deadlocking).
    run() queues work and runs it now if the lock is free.  release()
    runs what was queued meanwhile.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._owner = None
        self._pending = collections.deque()

    def acquire(self):
        me = threading.get_ident()
        if self._owner == me:
            raise RuntimeError("shmk: a port or service used from a "
                               "finalizer inside its own operation")
        self._lock.acquire()
        self._owner = me

    def release(self):
        self._owner = None
        self._lock.release()
        self.drain()

    def run(self, work):
        """Run work() under the lock: now if it is free, else queued for
        the holder (never blocks)."""
        self._pending.append(work)
        self.drain()

    def run_sync(self, work):
        """Run work() under the lock, waiting for another thread's
        operation; queued if this thread holds the lock already."""
        if self._owner == threading.get_ident():
            self._pending.append(work)
            return
        self._lock.acquire()
        self._owner = threading.get_ident()
        try:
            work()
        finally:
            self.release()

    def drain(self):
        # Whoever holds the lock drains after releasing it, so work queued
        # while it was held is never left behind.
        while self._pending:
            if not self._lock.acquire(blocking=False):
                return
            self._owner = threading.get_ident()
            try:
                while self._pending:
                    self._pending.popleft()()
            finally:
                self._owner = None
                self._lock.release()


class ServiceHandle:
    """struct shmk_service *: C-closed once closed (Service.close()) or
    unowned (the Service object collected) and no port of it is C-open."""

    def __init__(self, ptr, name):
        self.ptr = ptr
        self.name = name
        self.guard = Guard()
        self.ports = set()
        self.closing = False
        self.unowned = False

    def _maybe_c_close(self):
        if (self.closing or self.unowned) and not self.ports \
                and self.ptr is not None:
            lib.shmk_service_close(self.ptr)
            self.ptr = None

    def __enter__(self):
        """``with handle as ptr:`` a call on the service."""
        self.guard.acquire()
        if self.closing or self.ptr is None:
            self.guard.release()
            raise ClosedError("the service %r is closed" % self.name)
        return self.ptr

    def __exit__(self, *exc):
        self.guard.release()
        return False

    def port_c_closed(self, port):
        def work():
            self.ports.discard(port)
            self._maybe_c_close()
        self.guard.run(work)

    def close(self):
        """Service.close(): close its ports, then the service."""
        snapshot = []

        def start():
            self.closing = True
            snapshot.extend(self.ports)
        self.guard.run_sync(start)
        for p in snapshot:
            p.close()
        self.guard.run_sync(self._maybe_c_close)

    def disown(self):
        """The Service object was collected: its ports go on working."""
        def work():
            self.unowned = True
            self._maybe_c_close()
        self.guard.run(work)


class PortHandle:
    """struct shmk_port *, its Guard and the count of live payload views."""

    def __init__(self, svc, ptr, role, payload_max):
        # under svc's guard (the port was opened on it)
        self.svc = svc
        self.ptr = ptr
        self.role = role
        self.payload_max = payload_max
        self.uhdr = 0           # the service's user_header_size
        self.key_size = 0       # a blackboard's key size
        self.keys = 0
        self.guard = Guard()
        self.closing = False
        self.views = 0
        self.generation = _fork_generation
        svc.ports.add(self)

    def __enter__(self):
        """``with handle as ptr:`` one operation on the port."""
        self.guard.acquire()
        if self.closing or self.ptr is None:
            self.guard.release()
            raise ClosedError("the %s port is closed" % self.role)
        if self.generation != _fork_generation:
            self.guard.release()
            raise ClosedError("the %s port was opened by the parent "
                              "process; after fork() only it may use the "
                              "port" % self.role)
        return self.ptr

    def __exit__(self, *exc):
        self.guard.release()
        return False

    # -- closing (work run under the guard) ---------------------------------

    def _c_close(self):
        if self.ptr is None:
            return
        lib.shmk_port_close(self.ptr)
        self.ptr = None
        self.svc.port_c_closed(self)

    def _request_close(self):
        self.closing = True
        if self.views == 0:
            self._c_close()

    def close(self):
        """Explicit close: waits for an operation in progress in another
        thread (a blocking receive returns first)."""
        self.guard.run_sync(self._request_close)

    def close_later(self):
        """Close from a finalizer, which must not block."""
        self.guard.run(self._request_close)

    def view_gone(self, payload):
        payload.views -= 1
        if payload.views == 0 and payload.deferred is not None:
            work, payload.deferred = payload.deferred, None
            work()
        self.user_gone()

    def user_gone(self):
        """A view or a WaitSet attachment, which kept the C port, is gone."""
        self.views -= 1
        if self.views == 0 and self.closing:
            self._c_close()


class Payload:
    """A chunk held by a port: a loan or a received sample.

    ``ptr`` is a plain (non-owning) cdata; each view gets its own ffi.gc
    pointer whose collection counts it down.  ``deferred`` is the C call
    that gives the chunk back, postponed until the last view is gone.
    """

    def __init__(self, port, ptr, size, smp=None):
        self.port = port
        self.ptr = ptr
        self.address = int(ffi.cast("uintptr_t", ptr))
        self.size = size
        self.smp = smp
        self.done = False       # published, sent, discarded or released
        self.views = 0
        self.deferred = None

    def buffer(self, ptr=None, size=None):
        """A cffi buffer over the payload (or over ``size`` bytes at
        ``ptr``, its user header), counted as a view of the payload
        (under the port's guard)."""
        keeper = ffi.gc(ffi.cast("char *", self.ptr if ptr is None else ptr),
                        self._keeper_gone)
        self.views += 1
        self.port.views += 1
        return ffi.buffer(keeper, self.size if size is None else size)

    def _keeper_gone(self, _cdata):
        self.port.guard.run(lambda: self.port.view_gone(self))

    def give_back(self, c_call):
        """Release or discard (under the port's guard): now if no view is
        left, else when the last one goes; nothing once the port is
        C-closed (shmk_port_close() gave every chunk back), nor in a
        fork() child (the chunk is the parent's)."""
        self.done = True

        def work():
            if self.port.ptr is not None and \
                    self.port.generation == _fork_generation:
                c_call(self.port.ptr)

        if self.views == 0:
            work()
        else:
            self.deferred = work
