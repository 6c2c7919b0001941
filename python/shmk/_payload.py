# SPDX-License-Identifier: LGPL-2.1-or-later
"""Loaned and received payloads and their zero-copy views."""

import errno
import weakref

from ._errors import ClosedError, Error, check, retry_eintr, timeout_ns
from ._ffi import ffi, lib


def _numpy():
    import numpy
    return numpy


def _array(np, mv, dtype, shape, offset, size):
    """np.frombuffer over mv for dtype/shape at byte offset (a shape of
    None: as many items as fit)."""
    dt = np.dtype(dtype)
    if offset < 0 or offset > size:
        raise ValueError("offset %d outside the payload (%d bytes)"
                         % (offset, size))
    if shape is None:
        count = (size - offset) // dt.itemsize if dt.itemsize else 0
        shape = (count,)
    elif isinstance(shape, int):
        shape = (shape,)
    else:
        shape = tuple(shape)
    count = 1
    for n in shape:
        if n < 0:
            raise ValueError("negative dimension in shape %r" % (shape,))
        count *= n
    if count * dt.itemsize > size - offset:
        raise ValueError("%s of shape %r needs %d bytes at offset %d; the "
                         "payload has %d" % (dt, shape, count * dt.itemsize,
                                             offset, size))
    return np.frombuffer(mv, dtype=dt, count=count,
                         offset=offset).reshape(shape)


class _Held:
    """What Loan and Sample share: the payload state and views."""

    _what = "payload"

    def __init__(self, payload):
        self._p = payload

    def __del__(self):
        # Collected unreleased: give the chunk back (after its views), from
        # a queue, as a finalizer must not block (see _handles.Guard).
        # (__del__ rather than weakref.finalize: a sample is made per
        # message, and a finalizer costs more than the rest of receive().)
        p = getattr(self, "_p", None)
        if p is not None and not p.done:
            _give_back_later(p, self._giver(p))

    def _enter(self):
        """Acquire the port for a call on this payload."""
        h = self._p.port
        h.__enter__()
        if self._p.done:
            h.__exit__()
            raise ClosedError("the %s was %s" % (self._what, self._gone))
        return h.ptr

    def _view(self, writable):
        self._enter()
        try:
            mv = memoryview(self._p.buffer())
        finally:
            self._p.port.__exit__()
        return mv if writable else mv.toreadonly()

    def _header_view(self, writable):
        """A view of the user header (user_header_size bytes), counted
        as a view of the payload; None when the service has none."""
        ptr = self._enter()
        try:
            size = self._p.port.uhdr
            if not size:
                return None
            h = self._header_ptr(ptr)
            if h == ffi.NULL:
                return None
            mv = memoryview(self._p.buffer(h, size))
        finally:
            self._p.port.__exit__()
        return mv if writable else mv.toreadonly()

    def _header_array(self, writable, dtype, shape, offset):
        mv = self._header_view(writable)
        if mv is None:
            raise ValueError("the service has no user header "
                             "(user_header_size 0)")
        return _array(_numpy(), mv, dtype, shape, offset, len(mv))

    @property
    def address(self):
        """The payload's address in this process (for checks of zero-copy:
        a view's __array_interface__['data'][0] is this)."""
        return self._p.address

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _give_back_later(payload, c_call):
    # A finalizer: never blocks (see _handles.Guard).
    def work():
        if not payload.done:
            payload.give_back(c_call)
    payload.port.guard.run(work)


class Sample(_Held):
    """A received sample, request or response: read-only views of the
    payload in shared memory.  release() it (or use ``with``) so that
    its chunk goes back to the pool; the chunk stays held while a view
    of it lives."""

    _what = "sample"
    _gone = "released"

    def __init__(self, payload):
        super().__init__(payload)
        smp = payload.smp
        self.seq = int(smp.seq)
        self.corr = int(smp.corr)
        self.origin = int(smp.origin)
        # shmk_sample_flags(): SHMK_REQ_* of a request, SHMK_RESP_* of a
        # response; other bits are the library's.
        self.flags = int(smp.reserved)

    @property
    def last(self):
        """A response that ends its server's stream (SHMK_RESP_LAST)."""
        return bool(self.flags & lib.SHMK_RESP_LAST)

    @property
    def no_response(self):
        """A fire-and-forget request (SHMK_REQ_NO_RESPONSE)."""
        return bool(self.flags & lib.SHMK_REQ_NO_RESPONSE)

    def _header_ptr(self, ptr):
        return lib.shmk_sample_header(ptr, self._p.smp)

    @property
    def header(self):
        """A read-only memoryview of the sample's user header (None when
        the service has none); it holds the chunk as a payload view."""
        return self._header_view(False)

    def header_array(self, dtype="u1", shape=None, offset=0):
        """A read-only numpy view of the user header."""
        return self._header_array(False, dtype, shape, offset)

    @staticmethod
    def _giver(payload):
        smp = payload.smp
        return lambda ptr: lib.shmk_sub_release(ptr, smp)

    def __len__(self):
        return self._p.size

    @property
    def nbytes(self):
        """Payload bytes."""
        return self._p.size

    @property
    def memoryview(self):
        """A read-only memoryview of the payload (no copy)."""
        return self._view(False)

    def array(self, dtype="u1", shape=None, offset=0):
        """A read-only numpy view of the payload (no copy): ``dtype`` and
        ``shape`` (None: as many items as fit after ``offset``)."""
        np = _numpy()
        mv = self._view(False)
        return _array(np, mv, dtype, shape, offset, self._p.size)

    def bytes(self):
        """A copy of the payload."""
        self._enter()
        try:
            return ffi.buffer(self._p.ptr, self._p.size)[:]
        finally:
            self._p.port.__exit__()

    def release(self):
        """Give the sample back; its views keep the chunk until they are
        gone.  Releasing twice does nothing."""
        h = self._p.port
        try:
            h.__enter__()
        except ClosedError:
            return          # the port's close released it
        try:
            if not self._p.done:
                self._p.give_back(self._giver(self._p))
        finally:
            h.__exit__()

    close = release

    @property
    def released(self):
        """Released, or its port closed (which released it)."""
        return self._p.done or self._p.port.closing

    def __repr__(self):
        return "<shmk.Sample %d bytes seq %d corr %d origin %d%s>" % (
            self._p.size, self.seq, self.corr, self.origin,
            " released" if self.released else "")


class Loan(_Held):
    """A loaned chunk to write a sample, request or response in place.

    Take writable views (``memoryview``, ``array()``), fill them, then
    publish() (publisher), send() (client) or respond() (server); or
    discard().  Leaving a ``with`` block without either discards it.
    After publishing, the arrays this loan handed out are made read-only
    and its memoryviews released where possible: a view kept past
    publishing points at a sample the subscribers are reading, so write
    nothing through it (views derived from them are not reached)."""

    _what = "loan"
    _gone = "published, sent or discarded"

    def __init__(self, payload):
        super().__init__(payload)
        self._extent = None
        self._handed = []

    @staticmethod
    def _giver(payload):
        return lambda ptr: lib.shmk_pub_discard(ptr, payload.ptr)

    def _header_ptr(self, ptr):
        return lib.shmk_pub_loan_header(ptr, self._p.ptr)

    @property
    def header(self):
        """A writable memoryview of the loan's user header
        (user_header_size bytes; None when the service has none): it
        travels with the sample (Sample.header).  It holds what the last
        user of the chunk wrote until written."""
        mv = self._header_view(True)
        if mv is not None:
            self._handed.append(weakref.ref(mv))
        return mv

    def header_array(self, dtype="u1", shape=None, offset=0):
        """A writable numpy view of the user header."""
        arr = self._header_array(True, dtype, shape, offset)
        self._handed.append(weakref.ref(arr))
        return arr

    def __len__(self):
        return self._p.size

    @property
    def nbytes(self):
        """The chunk's size (the service's payload_max)."""
        return self._p.size

    def _note(self, view, end):
        self._extent = max(self._extent or 0, end)
        self._handed.append(weakref.ref(view))

    @property
    def memoryview(self):
        """A writable memoryview of the whole chunk (no copy)."""
        mv = self._view(True)
        self._note(mv, self._p.size)
        return mv

    def array(self, dtype="u1", shape=None, offset=0):
        """A writable numpy view of the chunk (no copy): ``dtype`` and
        ``shape`` (None: as many items as fit after ``offset``)."""
        np = _numpy()
        arr = _array(np, self._view(True), dtype, shape, offset, self._p.size)
        self._note(arr, offset + arr.nbytes)
        return arr

    def _nbytes(self, nbytes):
        if nbytes is None:
            return self._p.size if self._extent is None else self._extent
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        return nbytes

    def _consumed(self):
        # under the port's guard: the chunk is no longer ours to write.
        self._p.done = True
        for ref in self._handed:
            view = ref()
            if view is None:
                continue
            try:
                if isinstance(view, memoryview):
                    view.release()
                else:
                    view.flags.writeable = False
            except (BufferError, ValueError):
                pass
        self._handed = []

    def publish(self, nbytes=None, timeout=None):
        """Publish ``nbytes`` (default: up to the end of the views taken,
        else the whole chunk) to every subscriber.  ``timeout`` (seconds;
        None: forever) applies to back-pressure only; on a timeout the
        loan is kept (Error with errno EAGAIN or ETIMEDOUT)."""
        n = self._nbytes(nbytes)
        ns = timeout_ns(timeout)
        ptr = self._enter()
        try:
            ret = retry_eintr(
                lambda t: lib.shmk_pub_publish(ptr, self._p.ptr, n, t), ns,
                timeout)
            check(ret, "shmk_pub_publish")
            self._consumed()
        finally:
            self._p.port.__exit__()

    def send(self, nbytes=None, timeout=None):
        """Send the loan as a request (client); returns its correlation
        id.  ``timeout``: how long to wait for a live server and for room
        (seconds; None: forever; 0: not at all, errno ENOTCONN or
        EAGAIN); on failure the loan is kept."""
        n = self._nbytes(nbytes)
        ns = timeout_ns(timeout)
        corr = ffi.new("uint64_t *")
        ptr = self._enter()
        try:
            ret = retry_eintr(
                lambda t: lib.shmk_client_send_wait(ptr, self._p.ptr, n, corr,
                                                    t), ns, timeout)
            check(ret, "shmk_client_send_wait",
                  explained=ret in (-errno.ENOTCONN, -errno.ETIMEDOUT))
            self._consumed()
        finally:
            self._p.port.__exit__()
        return int(corr[0])

    def request(self, nbytes=None, timeout=None, no_response=False):
        """Send the loan as a pending request (client,
        shmk_client_request()): each server live now answers with a
        stream (Client.receive_for(), Client.responses()); or, with
        ``no_response``, fire-and-forget.  Returns its correlation id;
        the number of servers that will answer is ``self.servers``
        after.  ``timeout`` as send(); errno EBUSY: SHMK_SVC_PENDING_MAX
        requests pending.  On failure the loan is kept."""
        n = self._nbytes(nbytes)
        ns = timeout_ns(timeout)
        corr = ffi.new("uint64_t *")
        servers = ffi.new("uint32_t *")
        flags = lib.SHMK_REQ_NO_RESPONSE if no_response else 0
        ptr = self._enter()
        try:
            ret = retry_eintr(
                lambda t: lib.shmk_client_request(ptr, self._p.ptr, n, flags,
                                                  corr, servers, t), ns,
                timeout)
            check(ret, "shmk_client_request",
                  explained=ret in (-errno.ENOTCONN, -errno.ETIMEDOUT,
                                    -errno.EBUSY, -errno.EINVAL))
            self._consumed()
        finally:
            self._p.port.__exit__()
        self.servers = int(servers[0])
        return int(corr[0])

    def stream(self, request, nbytes=None, last=False, timeout=None):
        """One response of a stream to ``request`` (server,
        shmk_server_stream()); ``last`` ends it.  Waits up to ``timeout``
        (None: forever) while the client has a buffer of this server's
        responses unread.  Error ECANCELED: the client cancelled the
        request, or is gone (nothing was sent, the loan is kept:
        discard() it).  On any failure the loan is kept."""
        if not isinstance(request, Sample):
            raise TypeError("stream() needs the request Sample")
        n = self._nbytes(nbytes)
        ns = timeout_ns(timeout)
        flags = lib.SHMK_RESP_LAST if last else 0
        ptr = self._enter()
        try:
            if request._p.port is not self._p.port:
                raise Error(errno.EINVAL, "shmk_server_stream: the request "
                            "was received by another port",
                            "shmk_server_stream")
            if request._p.done:
                raise ClosedError("the request was released")
            ret = retry_eintr(
                lambda t: lib.shmk_server_stream(ptr, request._p.smp,
                                                 self._p.ptr, n, flags, t),
                ns, timeout)
            check(ret, "shmk_server_stream",
                  explained=ret in (-errno.ECANCELED, -errno.EINVAL))
            self._consumed()
        finally:
            self._p.port.__exit__()

    def respond(self, request, nbytes=None):
        """Answer ``request`` (a Sample this server received and still
        holds) with the loan (server)."""
        if not isinstance(request, Sample):
            raise TypeError("respond() needs the request Sample")
        n = self._nbytes(nbytes)
        ptr = self._enter()
        try:
            if request._p.port is not self._p.port:
                raise Error(errno.EINVAL, "shmk_server_respond: the request "
                            "was received by another port",
                            "shmk_server_respond")
            if request._p.done:
                raise ClosedError("the request was released")
            ret = lib.shmk_server_respond(ptr, request._p.smp, self._p.ptr, n)
            check(ret, "shmk_server_respond",
                  explained=ret in (-errno.ECANCELED, -errno.EINVAL))
            self._consumed()
        finally:
            self._p.port.__exit__()

    def discard(self):
        """Give the chunk back unpublished (after its views are gone).
        Discarding twice, or after publishing, does nothing."""
        h = self._p.port
        try:
            h.__enter__()
        except ClosedError:
            return
        try:
            if not self._p.done:
                self._p.give_back(self._giver(self._p))
        finally:
            h.__exit__()

    close = discard

    @property
    def consumed(self):
        """Published, sent, responded or discarded (also by closing its
        port)."""
        return self._p.done or self._p.port.closing

    def __repr__(self):
        return "<shmk.Loan %d bytes%s>" % (
            self._p.size, " consumed" if self.consumed else "")
