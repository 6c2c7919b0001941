# SPDX-License-Identifier: LGPL-2.1-or-later
"""shmk.Error: a failed libshmk call, as an OSError with its errno."""

import errno as _errno
import math
import os
import time

from ._ffi import ffi, lib


class Error(OSError):
    """A libshmk call failed.

    ``errno`` is the positive errno the call returned negated,
    ``detail`` the sentence of shmk_last_error() where the library gives
    one (else "") or the bindings' own explanation, ``operation`` the C
    function that failed.  Errors with
    a standard Python meaning are also instances of the matching builtin
    class (TimeoutError, BlockingIOError, FileNotFoundError,
    FileExistsError, PermissionError, InterruptedError).
    """

    def __init__(self, code, message, operation="", detail=""):
        super().__init__(code, message)
        self.operation = operation
        self.detail = detail


class ClosedError(Error, ValueError):
    """Use of a closed port or service, or of a released sample or a
    published loan (errno EBADF).  Also a ValueError, as for Python's
    closed files and released memoryviews."""

    def __init__(self, message):
        super().__init__(_errno.EBADF, message, "", "")


class _Timeout(Error, TimeoutError):
    pass


class _Blocking(Error, BlockingIOError):
    pass


class _NotFound(Error, FileNotFoundError):
    pass


class _Exists(Error, FileExistsError):
    pass


class _Permission(Error, PermissionError):
    pass


class _Interrupted(Error, InterruptedError):
    pass


_CLASSES = {
    _errno.ETIMEDOUT: _Timeout,
    _errno.EAGAIN: _Blocking,
    _errno.ENOENT: _NotFound,
    _errno.EEXIST: _Exists,
    _errno.EPERM: _Permission,
    _errno.EACCES: _Permission,
    _errno.EINTR: _Interrupted,
}


def error(ret, operation, explained=False, detail=""):
    """The Error for libshmk's return value ``ret`` (a negative errno).

    ``explained``: the function sets shmk_last_error() for this failure
    (service.h says which do), so its sentence is added; for others the
    thread's sentence may be stale and is not read.  ``detail``: the
    bindings' own sentence, for a check they make before calling C.
    """
    code = -ret
    if explained:
        detail = ffi.string(lib.shmk_last_error()).decode("utf-8", "replace")
    message = "%s: %s" % (operation, os.strerror(code))
    if detail:
        # Some sentences start with the function's name: not twice.
        text = detail
        if text.startswith(operation + ":"):
            text = text[len(operation) + 1:].strip()
        message += ": " + text
    return _CLASSES.get(code, Error)(code, message, operation, detail)


def check(ret, operation, explained=False):
    """Raise error(ret, ...) when ret < 0; else return ret."""
    if ret < 0:
        raise error(ret, operation, explained)
    return ret


def timeout_ns(timeout):
    """Seconds (float) to libshmk's nanoseconds: None or inf waits forever
    (SHMK_FOREVER), 0 tries once, a positive value waits at least 1 ns."""
    if timeout is None:
        return lib.SHMK_FOREVER
    t = float(timeout)
    if math.isnan(t) or t < 0:
        raise ValueError("timeout must be None or >= 0 seconds, not %r"
                         % (timeout,))
    if math.isinf(t):
        return lib.SHMK_FOREVER
    if t == 0:
        return 0
    return max(1, int(t * 1e9))


def retry_eintr(call, ns, timeout):
    """call(ns) again after -EINTR with the time left (PEP 475: Python's
    signal handlers run between the tries, and an exception they raise,
    KeyboardInterrupt for one, ends the wait)."""
    deadline = None
    if ns > 0:
        deadline = time.monotonic() + float(timeout)
    while True:
        ret = call(ns)
        if ret != -_errno.EINTR:
            return ret
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return -_errno.ETIMEDOUT
            ns = max(1, int(left * 1e9))
