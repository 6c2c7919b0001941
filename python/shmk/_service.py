# SPDX-License-Identifier: LGPL-2.1-or-later
"""Services and their ports."""

import collections
import errno
import weakref

from ._errors import Error, check, error, retry_eintr, timeout_ns
from ._ffi import ffi, lib, library_path
from ._handles import PortHandle, Payload, ServiceHandle
from ._payload import Loan, Sample

try:
    lib.shmk_port_fd
    _HAVE_PORT_FD = True
except AttributeError:      # a libshmk older than LIBSHMK_0.4
    _HAVE_PORT_FD = False


def _has(fn):
    try:
        getattr(lib, fn)
        return True
    except AttributeError:
        return False


# LIBSHMK_0.4's blackboard, inspect, typed services, history, linger,
# pending requests and streams; LIBSHMK_0.5's shmk_server_cancelled().
HAVE_V04 = _has("shmk_service_inspect")
HAVE_V05 = _has("shmk_server_cancelled")


def need(fn, node):
    """Raise Error ENOSYS when the loaded library lacks ``fn``."""
    if not _has(fn):
        raise error(-errno.ENOSYS, fn, detail="the loaded libshmk (%s) is "
                    "older than %s" % (library_path(), node))

PUBSUB = lib.SHMK_SVC_PUBSUB
REQRES = lib.SHMK_SVC_REQRES
EVENT = lib.SHMK_SVC_EVENT
BLACKBOARD = lib.SHMK_SVC_BLACKBOARD
OVERFLOW_SAFE = lib.SHMK_OVERFLOW_SAFE
OVERFLOW_BLOCK = lib.SHMK_OVERFLOW_BLOCK
# mode bits (LIBSHMK_0.5): payloads only their producer can write; and
# chunks that grow with the samples (loan_slice())
ZERO_TRUST = lib.SHMK_SVC_ZERO_TRUST
DYNAMIC = lib.SHMK_SVC_DYNAMIC
FOREVER = None

_KINDS = {"pubsub": PUBSUB, "reqres": REQRES, "event": EVENT,
          "blackboard": BLACKBOARD}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}
_OVERFLOWS = {"safe": OVERFLOW_SAFE, "block": OVERFLOW_BLOCK}
_OVERFLOW_NAMES = {v: k for k, v in _OVERFLOWS.items()}
# struct shmk_svc_config's settable fields, in order
_FIELDS = ("payload_max", "max_publishers", "max_subscribers", "buffer",
           "history", "overflow", "max_loans", "max_borrow", "max_events",
           "mode")
# LIBSHMK_0.4: the payload type and the user header (typed services)
_TYPED = ("type_size", "type_align", "user_header_size")
# A blackboard's names for its fields (shmk_bb_config())
_BB_ALIASES = {"keys": "max_events", "key_size": "buffer",
               "value_size": "payload_max", "max_readers": "max_subscribers"}

# shmk_service_inspect()'s answer, one per participant slot in use
Participant = collections.namedtuple(
    "Participant", "slot role state generation pid gone published lag drops")
_STATES = {1: "claiming", 2: "alive", 3: "dead", 4: "leaving", 5: "invalid"}


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
        if kind == BLACKBOARD:
            # One writer: the only value a blackboard accepts.
            cfg.max_publishers = 1
        for key, value in config.items():
            if kind == BLACKBOARD and key in _BB_ALIASES:
                key = _BB_ALIASES[key]
            if key == "type_name":
                value = value.encode() if isinstance(value, str) else value
                if len(value) >= lib.SHMK_SVC_TYPE_NAME_MAX:
                    raise ValueError("type_name: at most %d bytes"
                                     % (lib.SHMK_SVC_TYPE_NAME_MAX - 1))
                cfg.type_name = value
                continue
            if key not in _FIELDS and key not in _TYPED:
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
        for f in _FIELDS + _TYPED:
            d[f] = int(getattr(cfg, f))
        d["type_name"] = ffi.string(cfg.type_name).decode("ascii", "replace")
        d["overflow"] = _OVERFLOW_NAMES.get(d["overflow"], d["overflow"])
        if cfg.kind == BLACKBOARD:
            for alias, f in _BB_ALIASES.items():
                d[alias] = d[f]
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

    def inspect(self):
        """The participants (shmk_service_inspect()): a list of
        Participant(slot, role, state, generation, pid, gone, published,
        lag, drops), one per slot in use; role and state are names
        ("publisher", ...; "alive", "dead", ...), pid None when unknown,
        published None for a consumer, lag and drops None for a
        producer."""
        need("shmk_service_inspect", "LIBSHMK_0.4")
        n = lib.SHMK_SVC_SLOTS_MAX
        out = ffi.new("struct shmk_participant_info[]", n)
        for i in range(n):
            out[i].size = ffi.sizeof("struct shmk_participant_info")
        with self._h as ptr:
            got = check(lib.shmk_service_inspect(ptr, out, n),
                        "shmk_service_inspect")
        res = []
        for i in range(min(got, n)):
            e = out[i]
            f = int(e.flags)
            res.append(Participant(
                int(e.slot),
                ffi.string(lib.shmk_role_name(e.role)).decode(),
                _STATES.get(int(e.state), str(int(e.state))),
                int(e.generation),
                int(e.pid) if f & lib.SHMK_PART_PID else None,
                bool(f & lib.SHMK_PART_GONE),
                int(e.published) if f & lib.SHMK_PART_PRODUCER else None,
                int(e.lag) if f & lib.SHMK_PART_CONSUMER else None,
                int(e.drops) if f & lib.SHMK_PART_CONSUMER else None))
        return res

    def recover(self):
        """Reclaim dead participants' slots and chunks; returns how many
        slots were reclaimed."""
        with self._h as ptr:
            return check(lib.shmk_service_recover(ptr),
                         "shmk_service_recover")

    # -- ports -------------------------------------------------------------

    def _open(self, cls, role, opener, opener_name, explained=False):
        out = ffi.new("struct shmk_port **")
        cfg = ffi.new("struct shmk_svc_config *")
        with self._h as ptr:
            ret = opener(ptr, out)
            check(ret, opener_name, explained=explained and ret < 0)
            lib.shmk_service_config(ptr, cfg)
            h = PortHandle(self._h, out[0], role, int(cfg.payload_max))
            h.uhdr = int(cfg.user_header_size)
            if cfg.kind == BLACKBOARD:
                h.key_size = int(cfg.buffer)
                h.keys = int(cfg.max_events)
        return cls(h)

    def publisher(self):
        """A Publisher (pubsub)."""
        return self._open(Publisher, "publisher", lib.shmk_pub_open,
                          "shmk_pub_open")

    def subscriber(self, history=None):
        """A Subscriber (pubsub); it first receives the history: the
        service's, or ``history`` samples of each live publisher's past
        (0 to the service's history; shmk_sub_open_opts())."""
        if history is None:
            return self._open(Subscriber, "subscriber", lib.shmk_sub_open,
                              "shmk_sub_open")
        need("shmk_sub_open_opts", "LIBSHMK_0.4")
        if history < 0:
            raise ValueError("history must be >= 0")
        opts = ffi.new("struct shmk_sub_opts *")
        opts.size = ffi.sizeof("struct shmk_sub_opts")
        opts.history = history
        return self._open(Subscriber, "subscriber",
                          lambda s, out: lib.shmk_sub_open_opts(s, opts, out),
                          "shmk_sub_open_opts", explained=True)

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

    def writer(self):
        """The blackboard's BlackboardWriter (one at a time)."""
        need("shmk_bb_writer_open", "LIBSHMK_0.4")
        return self._open(BlackboardWriter, "writer",
                          lib.shmk_bb_writer_open, "shmk_bb_writer_open")

    def reader(self):
        """A BlackboardReader."""
        need("shmk_bb_reader_open", "LIBSHMK_0.4")
        return self._open(BlackboardReader, "reader",
                          lib.shmk_bb_reader_open, "shmk_bb_reader_open")


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

    def loan_slice(self, n):
        """A Loan for ``n`` elements of the service's type size (bytes
        when it is untyped), chosen now (shmk_pub_loan_slice()): in a
        service made with DYNAMIC the port's chunks grow to fit, without
        the consumers reconnecting.  The Loan's nbytes is what the chunk
        holds, at least what was asked.  Error EMSGSIZE past
        payload_max."""
        need("shmk_pub_loan_slice", "LIBSHMK_0.5")
        payload = ffi.new("void **")
        with self._h as ptr:
            ret = lib.shmk_pub_loan_slice(ptr, n, payload)
            check(ret, "shmk_pub_loan_slice", explained=ret in
                  (-errno.EAGAIN, -errno.EMSGSIZE))
            return Loan(Payload(self._h, payload[0], ret))

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

    def close_linger(self, timeout=None):
        """Close once every live subscriber received what this publisher
        published (shmk_pub_close_linger()), waiting up to ``timeout``
        seconds (None: as long as a live subscriber has not received; 0:
        not at all).  True when all was received; False when the wait
        ended first (timeout or a signal): the port is closed all the
        same and what was not received is dropped.  With views of its
        loans alive, the C port cannot close yet: it drains for
        ``timeout`` instead, and closes when the views are gone."""
        need("shmk_pub_close_linger", "LIBSHMK_0.4")
        ns = timeout_ns(timeout)
        h = self._h
        ptr = h.__enter__()
        try:
            if h.views:
                ret = lib.shmk_pub_drain(ptr, ns)
                h.closing = True
            else:
                ret = lib.shmk_pub_close_linger(ptr, ns)
                h.closing = True
                h.ptr = None
                h.svc.port_c_closed(h)
        finally:
            h.__exit__()
        if ret in (-errno.ETIMEDOUT, -errno.EAGAIN, -errno.EINTR):
            return False
        check(ret, "shmk_pub_close_linger")
        return True


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

    def request_copy(self, data, timeout=None, no_response=False):
        """Send a copy of ``data`` as a pending request (a stream of
        responses from each live server, shmk_client_request()), or,
        ``no_response``, fire-and-forget; returns its correlation id.
        ``timeout`` as Loan.request()."""
        return self._send_copy(
            data, timeout,
            lambda loan, n, t: loan.request(n, t, no_response=no_response))

    def receive_for(self, corr, timeout=None):
        """The next response of pending request ``corr``, or None on
        timeout.  When its streams have ended it raises Error: errno
        ENODATA (every server sent its last response) or ECONNRESET (a
        server left or died first); the request is then no longer
        pending (ENOENT, a FileNotFoundError, after)."""
        need("shmk_client_receive_for", "LIBSHMK_0.4")
        return self._receive(
            lambda p, smp, t: lib.shmk_client_receive_for(p, corr, smp, t),
            "shmk_client_receive_for", timeout)

    def responses(self, corr, timeout=None):
        """Iterate over the responses of pending request ``corr`` until
        its streams end normally (ECONNRESET is raised; a wait longer
        than ``timeout`` for the next one raises TimeoutError).  Release
        each sample (``with``)."""
        while True:
            try:
                s = self.receive_for(corr, timeout)
            except Error as e:
                if e.errno == errno.ENODATA:
                    return
                raise
            if s is None:
                raise error(-errno.ETIMEDOUT, "shmk_client_receive_for")
            yield s

    def pending(self, corr):
        """How many streams of pending request ``corr`` are open."""
        need("shmk_client_pending", "LIBSHMK_0.4")
        with self._h as ptr:
            return check(lib.shmk_client_pending(ptr, corr),
                         "shmk_client_pending")

    def cancel(self, corr):
        """Drop pending request ``corr``: its responses are released as
        they come, and the servers are told (Server.cancelled(), and
        their stream() fails with errno ECANCELED)."""
        need("shmk_client_cancel", "LIBSHMK_0.4")
        with self._h as ptr:
            check(lib.shmk_client_cancel(ptr, corr), "shmk_client_cancel")


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

    def _mine(self, request, fn):
        if not isinstance(request, Sample):
            raise TypeError("%s needs the request Sample" % fn)
        if request._p.port is not self._h:
            raise Error(errno.EINVAL, "%s: the request was received by "
                        "another port" % fn, fn)

    def stream_copy(self, request, data, last=False, timeout=None):
        """One response of a stream to ``request``, a copy of ``data``;
        ``last`` ends the stream.  As Loan.stream()."""
        self._send_copy(data, timeout, lambda loan, n, t: loan.stream(
            request, n, last=last, timeout=t))

    def end(self, request, timeout=None):
        """End the stream to ``request`` without a payload
        (shmk_server_end())."""
        need("shmk_server_end", "LIBSHMK_0.4")
        ns = timeout_ns(timeout)
        self._mine(request, "shmk_server_end")
        ptr = request._enter()
        try:
            ret = retry_eintr(
                lambda t: lib.shmk_server_end(ptr, request._p.smp, t), ns,
                timeout)
            check(ret, "shmk_server_end",
                  explained=ret in (-errno.ECANCELED, -errno.EINVAL))
        finally:
            self._h.__exit__()

    def cancelled(self, request):
        """True when the client of ``request`` no longer wants responses
        to it (shmk_server_cancelled(): it cancelled the request, its
        pending response ended, or the client is gone).  A streaming
        server asks between responses and stops."""
        need("shmk_server_cancelled", "LIBSHMK_0.5")
        self._mine(request, "shmk_server_cancelled")
        ptr = request._enter()
        try:
            return check(lib.shmk_server_cancelled(ptr, request._p.smp),
                         "shmk_server_cancelled") == 1
        finally:
            self._h.__exit__()


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


def _key(h, key):
    """A blackboard key: str or bytes, zero-padded to key_size."""
    if isinstance(key, str):
        key = key.encode()
    key = bytes(key)
    if len(key) > h.key_size:
        raise error(-errno.EINVAL, "blackboard key", detail="%d bytes, more "
                    "than key_size (%d)" % (len(key), h.key_size))
    return key.ljust(h.key_size, b"\0")


class _BlackboardPort(Port):
    """What a blackboard's writer and readers share: read(), changed(),
    keys()."""

    def read(self, key, version=False):
        """The value of ``key`` (bytes, a copy: FileNotFoundError when
        there is no such key); with ``version``, (value, version), the
        entry's sequence number, even, which grows with each write."""
        k = _key(self._h, key)
        buf = ffi.new("char[]", max(1, self._h.payload_max))
        ver = ffi.new("uint64_t *")
        with self._h as ptr:
            n = check(lib.shmk_bb_read(ptr, k, buf, self._h.payload_max, ver),
                      "shmk_bb_read")
        value = ffi.buffer(buf, n)[:]
        return (value, int(ver[0])) if version else value

    def changed(self, key):
        """True when ``key`` was written since this port last read it."""
        k = _key(self._h, key)
        with self._h as ptr:
            return check(lib.shmk_bb_changed(ptr, k), "shmk_bb_changed") == 1

    def keys(self, raw=False):
        """The keys added so far, in the order they were added (zero
        padding stripped; ``raw``: each key_size bytes as stored)."""
        ks = self._h.key_size
        with self._h as ptr:
            n = check(lib.shmk_bb_keys(ptr, ffi.NULL, 0), "shmk_bb_keys")
            while True:
                buf = ffi.new("char[]", max(1, n * ks))
                m = check(lib.shmk_bb_keys(ptr, buf, n), "shmk_bb_keys")
                if m <= n:
                    break
                n = m
        raw_keys = [ffi.buffer(buf, m * ks)[i * ks:(i + 1) * ks]
                    for i in range(m)]
        return raw_keys if raw else [k.rstrip(b"\0") for k in raw_keys]


class BlackboardWriter(_BlackboardPort):
    """The blackboard's one writer: add() keys, write() values."""

    def add(self, key, value=b""):
        """Add ``key`` with its first ``value`` (any buffer;
        FileExistsError when it exists; Error ENOSPC when every key is
        taken)."""
        self._put(lib.shmk_bb_add, "shmk_bb_add", key, value)

    def write(self, key, value):
        """Write ``value`` to ``key`` (FileNotFoundError: add() it)."""
        self._put(lib.shmk_bb_write, "shmk_bb_write", key, value)

    def _put(self, fn, name, key, value):
        k = _key(self._h, key)
        src = ffi.from_buffer(value)
        with self._h as ptr:
            ret = fn(ptr, k, src if len(src) else ffi.NULL, len(src))
            check(ret, name, explained=ret == -errno.EINVAL)


class BlackboardReader(_BlackboardPort):
    """A reader: read() without locks, wait() for a change."""

    def wait(self, key, timeout=None):
        """Wait until ``key`` changes after this port last read it; True
        then (read() it), False on timeout."""
        k = _key(self._h, key)
        ns = timeout_ns(timeout)
        with self._h as ptr:
            ret = retry_eintr(lambda t: lib.shmk_bb_wait(ptr, k, t), ns,
                              timeout)
        if ret in (-errno.EAGAIN, -errno.ETIMEDOUT):
            return False
        check(ret, "shmk_bb_wait")
        return True
