# SPDX-License-Identifier: LGPL-2.1-or-later
"""shmk: zero-copy IPC over shared memory, the Python binding of libshmk.

    import numpy as np, shmk

    with shmk.Service("cam", "pubsub", payload_max=640 * 480) as svc:
        pub = svc.publisher()
        with pub.loan() as loan:
            frame = loan.array(np.uint8, (480, 640))  # in shared memory
            frame[:] = 7
            loan.publish()

Documentation/python.rst is the guide.  Timeouts are seconds (float):
None waits forever, 0 tries once.  Failures raise shmk.Error (an
OSError) with the errno of the C call.
"""

from ._errors import ClosedError, Error
from ._ffi import ffi, lib, library_path
from ._payload import Loan, Sample
from ._waitset import HAVE_WAITSET, Attachment, Event, WaitSet
from ._service import (BLACKBOARD, DYNAMIC, EVENT, HAVE_V04, HAVE_V05,
                       OVERFLOW_BLOCK, ZERO_TRUST,
                       OVERFLOW_SAFE, PUBSUB, REQRES, BlackboardReader,
                       BlackboardWriter, Client, Listener, Notifier,
                       Participant, Port, Publisher, Server, Service,
                       Subscriber, backend, list_services, remove)

__all__ = [
    "Error", "ClosedError", "Service", "Port", "Publisher", "Subscriber",
    "Client", "Server", "Notifier", "Listener", "Loan", "Sample",
    "BlackboardWriter", "BlackboardReader", "Participant",
    "WaitSet", "Attachment", "Event", "HAVE_WAITSET", "HAVE_V04", "HAVE_V05",
    "backend", "remove", "list_services", "library_path",
    "PUBSUB", "REQRES", "EVENT", "BLACKBOARD", "OVERFLOW_SAFE",
    "OVERFLOW_BLOCK", "ZERO_TRUST", "DYNAMIC",
    "ffi", "lib",
]
