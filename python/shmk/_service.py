# SPDX-License-Identifier: LGPL-2.1-or-later
"""Services and their ports."""

import errno
import weakref

from ._errors import check, error, retry_eintr, timeout_ns
from ._ffi import ffi, lib
from ._handles import PortHandle, Payload, ServiceHandle
from ._payload import Loan, Sample

try:
    lib.shmk_port_fd
    _HAVE_PORT_FD = True
except AttributeError:      # a libshmk older than LIBSHMK_0.4
    _HAVE_PORT_FD = False

PUBSUB = lib.SHMK_SVC_PUBSUB
REQRES = lib.SHMK_SVC_REQRES
EVENT = lib.SHMK_SVC_EVENT
OVERFLOW_SAFE = lib.SHMK_OVERFLOW_SAFE
OVERFLOW_BLOCK = lib.SHMK_OVERFLOW_BLOCK
FOREVER = None

_KINDS = {"pubsub": PUBSUB, "reqres": REQRES, "event": EVENT}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}
_OVERFLOWS = {"safe": OVERFLOW_SAFE, "block": OVERFLOW_BLOCK}
_OVERFLOW_NAMES = {v: k for k, v in _OVERFLOWS.items()}
# struct shmk_svc_config's settable fields, in order
_FIELDS = ("payload_max", "max_publishers", "max_subscribers", "buffer",
           "history", "overflow", "max_loans", "max_borrow", "max_events",
           "mode")


def _name(name):
    if isinstance(name, str):
        name = name.encode()
    if not isinstance(name, bytes):
        raise TypeError("a service name is str or bytes, not %s"
                        % type(name).__name__)
    return name


def backend():
    """The backend libshmk will use: "device" or "memfd"
    ($SHMK_BACKEND, else /dev/shmk when it opens)."""
    ret = check(lib.shmk_backend_select(), "shmk_backend_select")
    return {lib.SHMK_BACKEND_DEVICE: "device",
            lib.SHMK_BACKEND_MEMFD: "memfd"}.get(ret, str(ret))


def remove(name):
    """Remove a service's name (open handles go on working)."""
    check(lib.shmk_service_remove(_name(name)), "shmk_service_remove")


def list_services():
    """Names of the services of the current backend."""
    max_ = 64
    while True:
        names = ffi.new("char[%d][%d]" % (max_, lib.SHMK_SVC_NAME_MAX))
        n = check(lib.shmk_service_list(names, max_), "shmk_service_list")
        if n <= max_:
            return sorted(ffi.string(names[i]).decode("utf-8", "replace")
                          for i in range(n))
        max_ = n + 16


class Service:
    """A service by name: ``Service("cam", "pubsub", payload_max=1 << 20)``.

    ``kind``: "pubsub", "reqres" or "event" (or PUBSUB, REQRES, EVENT).
    ``create`` (default True) creates a missing service, ``exclusive``
    fails if it exists (FileExistsError).  The keyword arguments are the
    fields of struct shmk_svc_config (0 or absent: the default on create,
    "any" on open; "safe" or "block" for ``overflow``).  A Service is a
    context manager; close() closes its ports too.  Its ports keep
    working when the Service object is dropped: the C handle goes with
    its last port.
    """

    def __init__(self, name, kind, *, create=True, exclusive=False, **config):
        self.name = name if isinstance(name, str) else name.decode()
        cfg = ffi.new("struct shmk_svc_config *")
        cfg.size = ffi.sizeof("struct shmk_svc_config")
        if isinstance(kind, str):
            if kind not in _KINDS:
                raise ValueError("kind is one of %s, not %r"
                                 % (", ".join(_KINDS), kind))
            kind = _KINDS[kind]
        cfg.kind = kind
        for key, value in config.items():
            if key not in _FIELDS:
                raise TypeError("Service() got an unexpected keyword "
                                "argument %r" % key)
            if key == "overflow" and isinstance(value, str):
                if value not in _OVERFLOWS:
                    raise ValueError("overflow is 'safe' or 'block', not %r"
                                     % value)
                value = _OVERFLOWS[value]
            setattr(cfg, key, value)
        flags = 0
        if create:
            flags |= lib.SHMK_SVC_CREATE
        if exclusive:
            flags |= lib.SHMK_SVC_EXCL
        out = ffi.new("struct shmk_service **")
        check(lib.shmk_service_open(_name(name), cfg, flags, out),
              "shmk_service_open", explained=True)
        self._h = ServiceHandle(out[0], self.name)
        weakref.finalize(self, self._h.disown)

    # -- the service -----------------------------------------------------

    def close(self):
        """Close every port opened on this Service, then the service (each
        C handle once the views of its payloads are gone)."""
        self._h.close()

    @property
    def closed(self):
        return self._h.closing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "<shmk.Service %r%s>" % (self.name,
                                        " closed" if self.closed else "")

    @property
    def config(self):
        """The configuration, defaults filled in, as a dict (kind and
        overflow as names)."""
        cfg = ffi.new("struct shmk_svc_config *")
        with self._h as ptr:
            lib.shmk_service_config(ptr, cfg)
        d = {"kind": _KIND_NAMES.get(cfg.kind, cfg.kind)}
        for f in _FIELDS:
            d[f] = int(getattr(cfg, f))
        d["overflow"] = _OVERFLOW_NAMES.get(d["overflow"], d["overflow"])
        return d

    def _u32(self, fn):
        with self._h as ptr:
            return int(fn(ptr))

    @property
    def chunks(self):
        """The pool's size in chunks."""
        return self._u32(lib.shmk_service_chunks)

    @property
    def chunks_used(self):
        """Chunks held by anyone; 0: every chunk is in the pool."""
        return self._u32(lib.shmk_service_chunks_used)

    @property
    def participants(self):
        """Participant slots not free (live or dead unreclaimed)."""
        return self._u32(lib.shmk_service_participants)

    @property
    def dead(self):
        """Participants gone but not yet reclaimed."""
        return self._u32(lib.shmk_service_dead)

    @property
    def backlog(self):
        """The deepest consumer queue (samples or requests waiting)."""
        return self._u32(lib.shmk_service_backlog)

    @property
    def roles(self):
        """(producers, consumers) live."""
        prod = ffi.new("uint32_t *")
        cons = ffi.new("uint32_t *")
        with self._h as ptr:
            lib.shmk_service_roles(ptr, prod, cons)
        return int(prod[0]), int(cons[0])

    def recover(self):
        """Reclaim dead participants' slots and chunks; returns how many
        slots were reclaimed."""
        with self._h as ptr:
            return check(lib.shmk_service_recover(ptr),
                         "shmk_service_recover")

    # -- ports -------------------------------------------------------------

    def _open(self, cls, role, opener, opener_name):
        out = ffi.new("struct shmk_port **")
        cfg = ffi.new("struct shmk_svc_config *")
        with self._h as ptr:
            check(opener(ptr, out), opener_name)
            lib.shmk_service_config(ptr, cfg)
            h = PortHandle(self._h, out[0], role, int(cfg.payload_max))
        return cls(h)

    def publisher(self):
        """A Publisher (pubsub)."""
        return self._open(Publisher, "publisher", lib.shmk_pub_open,
                          "shmk_pub_open")

    def subscriber(self):
        """A Subscriber (pubsub); it first receives the history."""
        return self._open(Subscriber, "subscriber", lib.shmk_sub_open,
                          "shmk_sub_open")

    def client(self):
        """A Client (reqres)."""
        return self._open(Client, "client", lib.shmk_client_open,
                          "shmk_client_open")

    def server(self):
        """The Server (reqres; one at a time)."""
        return self._open(Server, "server", lib.shmk_server_open,
                          "shmk_server_open")

    def notifier(self):
        """A Notifier (event)."""
        return self._open(Notifier, "notifier", lib.shmk_notifier_open,
                          "shmk_notifier_open")

    def listener(self):
        """A Listener (event)."""
        return self._open(Listener, "listener", lib.shmk_listener_open,
                          "shmk_listener_open")


class Port:
    """One participant of a service.  Closed by close(), at the end of a
    ``with`` block or when collected; the C port itself once the views of
    its payloads are gone.  Used by one thread at a time (calls from
    several threads are serialised; close() waits for a blocking call in
    progress).  After fork() only the opening process may use it."""

    def __init__(self, handle):
        self._h = handle
        weakref.finalize(self, handle.close_later)

    def close(self):
        """Leave the service (loans and samples not given back are given
        back).  Closing twice does nothing."""
        self._h.close()

    @property
    def closed(self):
        return self._h.closing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def slot(self):
        """The participant slot this port holds."""
        with self._h as ptr:
            return lib.shmk_port_slot(ptr)

    def fileno(self):
        """A file descriptor that polls readable when the port may have
        something to receive (subscribers, clients, servers, listeners;
        shmk_port_fd()): for select, poll, asyncio's add_reader.  Once
        it does, receive (or wait) with timeout 0 until nothing comes,
        which re-arms it.  Owned by the port."""
        with self._h as ptr:
            if _HAVE_PORT_FD:
                ret = lib.shmk_port_fd(ptr)
                return check(ret, "shmk_port_fd",
                             explained=ret == -errno.EINVAL)
            if self._h.role != "listener":
                raise error(-errno.EOPNOTSUPP, "shmk_port_fd",
                            detail="this libshmk has no port fds")
            return check(lib.shmk_listener_fd(ptr), "shmk_listener_fd")

    def __repr__(self):
        return "<shmk.%s%s>" % (type(self).__name__,
                                " closed" if self.closed else "")

    # -- shared by the ports that produce and consume ---------------------

    def _loan(self):
        payload = ffi.new("void **")
        with self._h as ptr:
            ret = lib.shmk_pub_loan(ptr, payload)
            check(ret, "shmk_pub_loan", explained=ret == -errno.EAGAIN)
            return Loan(Payload(self._h, payload[0], self._h.payload_max))

    def _receive(self, fn, fn_name, timeout):
        ns = timeout_ns(timeout)
        smp = ffi.new("struct shmk_sample *")
        with self._h as ptr:
            ret = retry_eintr(lambda t: fn(ptr, smp, t), ns, timeout)
            if ret in (-errno.EAGAIN, -errno.ETIMEDOUT):
                return None
            check(ret, fn_name)
            return Sample(Payload(self._h, smp.data, int(smp.len), smp))

    def _send_copy(self, data, timeout, send):
        """Loan, copy data in, send(loan, n, timeout); discard on
        failure."""
        src = ffi.from_buffer(data)
        n = len(src)
        loan = self._loan()
        try:
            if n > loan.nbytes:
                raise error(-errno.EINVAL, "send_copy", detail="%d bytes, "
                            "more than payload_max (%d)" % (n, loan.nbytes))
            with self._h:
                ffi.memmove(loan._p.ptr, src, n)
            return send(loan, n, timeout)
        finally:
            loan.discard()


class _Producer(Port):
    """Ports that loan chunks: publishers, clients, servers."""

    def loan(self):
        """A Loan of a free chunk to write in place (Error ENOBUFS:
        max_loans outstanding; EAGAIN: no free chunk in the pool)."""
        return self._loan()

    def drain(self, timeout=None):
        """Wait until every live consumer received all this port sent
        (samples, requests, responses); True when so, False on timeout
        (0: just check).  What a closing port sent and was not received is
        dropped: drain first to deliver it."""
        ns = timeout_ns(timeout)
        with self._h as ptr:
            ret = retry_eintr(lambda t: lib.shmk_pub_drain(ptr, t), ns,
                              timeout)
        if ret in (-errno.EAGAIN, -errno.ETIMEDOUT):
            return False
        check(ret, "shmk_pub_drain")
        return True


class Publisher(_Producer):
    """Publishes samples: loan(), write, Loan.publish(); or send_copy()."""

    def send_copy(self, data, timeout=None):
        """Publish a copy of ``data`` (any contiguous buffer: bytes, a
        numpy array).  ``timeout`` as Loan.publish()."""
        src = ffi.from_buffer(data)
        ns = timeout_ns(timeout)
        with self._h as ptr:
            ret = retry_eintr(
                lambda t: lib.shmk_pub_send_copy(ptr, src, len(src), t), ns,
                timeout)
            check(ret, "shmk_pub_send_copy", explained=ret == -errno.EAGAIN)

class Subscriber(Port):
    """Receives samples."""

    def receive(self, timeout=None):
        """The next Sample, or None when none came within ``timeout``
        seconds (None: wait forever; 0: do not wait).  Error ENOBUFS:
        max_borrow samples held (a released sample's chunk stays held
        while a view of it lives)."""
        return self._receive(lib.shmk_sub_receive, "shmk_sub_receive",
                             timeout)

    @property
    def dropped(self):
        """Samples this subscriber will never receive (lagged, or their
        publisher left)."""
        with self._h as ptr:
            return int(lib.shmk_sub_dropped(ptr))


class Client(_Producer):
    """Sends requests and receives the responses to them."""

    def send_copy(self, data, timeout=None):
        """Send a copy of ``data`` as a request; returns its correlation
        id.  ``timeout`` as Loan.send()."""
        return self._send_copy(data, timeout,
                               lambda loan, n, t: loan.send(n, t))

    def receive(self, timeout=None):
        """The next response to one of this client's requests (its
        ``corr`` is the request's id), or None on timeout."""
        return self._receive(lib.shmk_client_receive,
                             "shmk_client_receive", timeout)


class Server(_Producer):
    """Receives requests and responds to them."""

    def receive(self, timeout=None):
        """The next request, or None on timeout.  Keep it until responded
        to, then release it."""
        return self._receive(lib.shmk_server_receive,
                             "shmk_server_receive", timeout)

    def respond_copy(self, request, data):
        """Respond to ``request`` with a copy of ``data``."""
        self._send_copy(data, None,
                        lambda loan, n, t: loan.respond(request, n))


class Notifier(Port):
    """Signals event ids."""

    def notify(self, event_id):
        """Signal ``event_id`` to every live listener; returns how many."""
        with self._h as ptr:
            return check(lib.shmk_notifier_notify(ptr, event_id),
                         "shmk_notifier_notify")


class Listener(Port):
    """Collects signalled event ids."""

    def wait(self, timeout=None, max_ids=64):
        """The ids signalled since the last wait (each once), waiting up
        to ``timeout`` seconds (None: forever; 0: not at all); [] on
        timeout."""
        if max_ids < 1:
            raise error(-errno.EINVAL, "shmk_listener_wait",
                        detail="max_ids must be at least 1")
        ns = timeout_ns(timeout)
        ids = ffi.new("uint32_t[]", max_ids)
        with self._h as ptr:
            ret = retry_eintr(
                lambda t: lib.shmk_listener_wait(ptr, ids, max_ids, t), ns,
                timeout)
        if ret in (-errno.EAGAIN, -errno.ETIMEDOUT):
            return []
        check(ret, "shmk_listener_wait")
        return [int(ids[i]) for i in range(ret)]
