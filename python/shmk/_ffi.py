# SPDX-License-Identifier: LGPL-2.1-or-later
"""The cffi declarations of libshmk and the loaded library.

ABI mode: ``ffi.dlopen()`` of the shared library, no C compiler at build or
import time (see Documentation/python.rst, "Why cffi's ABI mode").  The
declarations below are a copy of include/shmk/*.h; python/tests/test_cdef.py
compiles them against the real headers (each function redeclared, each
struct's size and field offsets and each constant in a _Static_assert), so a
header change that is not made here fails the tests instead of drifting.

Only what the bindings use is declared.  TYPES and FUNCS are kept apart
because the check redeclares FUNCS verbatim but can only assert on TYPES.
"""

import os

import cffi

# Constants, enums and structs: checked by _Static_assert against the headers.
TYPES = """
#define SHMK_FOREVER -1
#define SHMK_SVC_NAME_MAX 60
#define SHMK_SVC_PAYLOAD_MAX 1073741824
#define SHMK_SVC_SLOTS_MAX 1024
#define SHMK_SVC_RING_MAX 4096
#define SHMK_SVC_EVENTS_MAX 4096
#define SHMK_SVC_CREATE 1
#define SHMK_SVC_EXCL 2
#define SHMK_SVC_ZERO_TRUST 65536
#define SHMK_SVC_DYNAMIC 131072

enum shmk_backend {
	SHMK_BACKEND_DEVICE = 1,
	SHMK_BACKEND_MEMFD = 2,
};

enum shmk_svc_kind {
	SHMK_SVC_PUBSUB = 1,
	SHMK_SVC_REQRES = 2,
	SHMK_SVC_EVENT = 3,
};

enum shmk_svc_overflow {
	SHMK_OVERFLOW_SAFE = 1,
	SHMK_OVERFLOW_BLOCK = 2,
};

struct shmk_svc_config {
	uint32_t size;
	uint32_t kind;
	uint64_t payload_max;
	uint32_t max_publishers;
	uint32_t max_subscribers;
	uint32_t buffer;
	uint32_t history;
	uint32_t overflow;
	uint32_t max_loans;
	uint32_t max_borrow;
	uint32_t max_events;
	uint32_t mode;
	uint32_t reserved;
	char type_name[64];
	uint64_t type_size;
	uint32_t type_align;
	uint32_t user_header_size;
};

struct shmk_sample {
	const void *data;
	size_t len;
	uint64_t seq;
	uint64_t corr;
	uint32_t origin;
	uint32_t chunk;
	uint32_t origin_gen;
	uint32_t reserved;
};

struct shmk_service;
struct shmk_port;
"""

# Functions: redeclared verbatim after #include <shmk/shmk.h> by the check,
# so that any difference in a parameter or return type is a C error.
FUNCS = """
int shmk_backend_select(void);
int shmk_service_open(const char *name, const struct shmk_svc_config *cfg,
		      unsigned int flags, struct shmk_service **out);
const char *shmk_last_error(void);
void shmk_service_close(struct shmk_service *s);
int shmk_service_remove(const char *name);
int shmk_service_list(char (*names)[60], size_t max);
void shmk_service_config(const struct shmk_service *s,
			 struct shmk_svc_config *cfg);
int shmk_service_recover(struct shmk_service *s);
uint32_t shmk_service_chunks_used(const struct shmk_service *s);
uint32_t shmk_service_chunks(const struct shmk_service *s);
uint32_t shmk_service_participants(const struct shmk_service *s);
void shmk_service_roles(const struct shmk_service *s, uint32_t *producers,
			uint32_t *consumers);
uint32_t shmk_service_dead(const struct shmk_service *s);
uint32_t shmk_service_backlog(const struct shmk_service *s);

int shmk_pub_open(struct shmk_service *s, struct shmk_port **out);
int shmk_sub_open(struct shmk_service *s, struct shmk_port **out);
void shmk_port_close(struct shmk_port *p);
int shmk_port_slot(const struct shmk_port *p);
int shmk_pub_loan(struct shmk_port *p, void **payload);
int shmk_pub_publish(struct shmk_port *p, void *payload, size_t len,
		     int64_t timeout_ns);
int shmk_pub_drain(struct shmk_port *p, int64_t timeout_ns);
int shmk_pub_discard(struct shmk_port *p, void *payload);
int shmk_pub_send_copy(struct shmk_port *p, const void *data, size_t len,
		       int64_t timeout_ns);
int shmk_sub_receive(struct shmk_port *p, struct shmk_sample *smp,
		     int64_t timeout_ns);
int shmk_sub_release(struct shmk_port *p, struct shmk_sample *smp);
uint64_t shmk_sub_dropped(const struct shmk_port *p);

int shmk_client_open(struct shmk_service *s, struct shmk_port **out);
int shmk_server_open(struct shmk_service *s, struct shmk_port **out);
int shmk_client_send(struct shmk_port *p, void *payload, size_t len,
		     uint64_t *corr);
int shmk_client_send_wait(struct shmk_port *p, void *payload, size_t len,
			  uint64_t *corr, int64_t timeout_ns);
int shmk_client_receive(struct shmk_port *p, struct shmk_sample *smp,
			int64_t timeout_ns);
int shmk_server_receive(struct shmk_port *p, struct shmk_sample *req,
			int64_t timeout_ns);
int shmk_server_respond(struct shmk_port *p, const struct shmk_sample *req,
			void *payload, size_t len);

int shmk_notifier_open(struct shmk_service *s, struct shmk_port **out);
int shmk_listener_open(struct shmk_service *s, struct shmk_port **out);
int shmk_notifier_notify(struct shmk_port *p, uint32_t id);
int shmk_listener_wait(struct shmk_port *p, uint32_t *ids, unsigned int max,
		       int64_t timeout_ns);
int shmk_listener_fd(struct shmk_port *p);
"""

# LIBSHMK_0.4: port fds and the WaitSet (include/shmk/waitset.h).  An
# older installed library lacks them: whether the loaded one has them is
# found at import (shmk.HAVE_WAITSET).
WAITSET_TYPES = """
#define SHMK_WS_READY 1
#define SHMK_WS_DEADLINE 2
#define SHMK_WS_TICK 4

struct shmk_waitset;

struct shmk_waitset_event {
	int id;
	uint32_t what;
	void *user;
};
"""

WAITSET_FUNCS = """
int shmk_port_fd(struct shmk_port *p);
int shmk_waitset_create(struct shmk_waitset **out);
void shmk_waitset_destroy(struct shmk_waitset *ws);
int shmk_waitset_attach_port(struct shmk_waitset *ws, struct shmk_port *p,
			     int64_t deadline_ns, void *user);
int shmk_waitset_attach_interval(struct shmk_waitset *ws,
				 int64_t interval_ns, void *user);
int shmk_waitset_detach(struct shmk_waitset *ws, int id);
int shmk_waitset_wait(struct shmk_waitset *ws, struct shmk_waitset_event *ev,
		      unsigned int max, int64_t timeout_ns);
int shmk_waitset_fd(const struct shmk_waitset *ws);
"""

# LIBSHMK_0.4 too: the blackboard (include/shmk/blackboard.h), the
# participants (include/shmk/inspect.h), typed services and user headers,
# a subscriber's history, the lingering close, pending requests and
# streams.  Found at import as the WaitSet is (shmk.HAVE_V04).
V04_TYPES = """
#define SHMK_SVC_BLACKBOARD 4
#define SHMK_SVC_BB_KEY_MAX 64
#define SHMK_SVC_PENDING_MAX 16
#define SHMK_SVC_TYPE_NAME_MAX 64
#define SHMK_SVC_USER_HEADER_MAX 4096
#define SHMK_REQ_NO_RESPONSE 1
#define SHMK_RESP_LAST 2
#define SHMK_PART_GONE 1
#define SHMK_PART_PID 2
#define SHMK_PART_PRODUCER 4
#define SHMK_PART_CONSUMER 8

struct shmk_sub_opts {
	uint32_t size;
	uint32_t history;
	uint32_t flags;
	uint32_t reserved;
};

enum shmk_participant_role {
	SHMK_ROLE_PUBLISHER = 1,
	SHMK_ROLE_SUBSCRIBER = 2,
	SHMK_ROLE_CLIENT = 3,
	SHMK_ROLE_SERVER = 4,
	SHMK_ROLE_NOTIFIER = 5,
	SHMK_ROLE_LISTENER = 6,
	SHMK_ROLE_WRITER = 7,
	SHMK_ROLE_READER = 8,
};

enum shmk_participant_state {
	SHMK_PART_CLAIMING = 1,
	SHMK_PART_ALIVE = 2,
	SHMK_PART_DEAD = 3,
	SHMK_PART_LEAVING = 4,
	SHMK_PART_INVALID = 5,
};

struct shmk_participant_info {
	uint32_t size;
	uint32_t slot;
	uint32_t role;
	uint32_t state;
	uint32_t flags;
	uint32_t generation;
	uint32_t pid;
	uint32_t reserved;
	uint64_t published;
	uint64_t lag;
	uint64_t drops;
};
"""

V04_FUNCS = """
int shmk_bb_writer_open(struct shmk_service *s, struct shmk_port **out);
int shmk_bb_reader_open(struct shmk_service *s, struct shmk_port **out);
int shmk_bb_add(struct shmk_port *w, const void *key, const void *value,
		size_t len);
int shmk_bb_write(struct shmk_port *w, const void *key, const void *value,
		  size_t len);
int shmk_bb_read(struct shmk_port *p, const void *key, void *buf, size_t size,
		 uint64_t *version);
int shmk_bb_changed(struct shmk_port *p, const void *key);
int shmk_bb_wait(struct shmk_port *r, const void *key, int64_t timeout_ns);
int shmk_bb_keys(struct shmk_port *p, void *keys, size_t max);

int shmk_service_inspect(const struct shmk_service *s,
			 struct shmk_participant_info *out, size_t max);
const char *shmk_role_name(uint32_t role);

int shmk_sub_open_opts(struct shmk_service *s,
		       const struct shmk_sub_opts *opts,
		       struct shmk_port **out);
int shmk_pub_close_linger(struct shmk_port *p, int64_t timeout_ns);
void *shmk_pub_loan_header(struct shmk_port *p, const void *payload);
const void *shmk_sample_header(const struct shmk_port *p,
			       const struct shmk_sample *smp);

int shmk_client_request(struct shmk_port *p, void *payload, size_t len,
			unsigned int flags, uint64_t *corr, uint32_t *servers,
			int64_t timeout_ns);
int shmk_client_receive_for(struct shmk_port *p, uint64_t corr,
			    struct shmk_sample *smp, int64_t timeout_ns);
int shmk_client_pending(struct shmk_port *p, uint64_t corr);
int shmk_client_cancel(struct shmk_port *p, uint64_t corr);
int shmk_server_stream(struct shmk_port *p, const struct shmk_sample *req,
		       void *payload, size_t len, unsigned int flags,
		       int64_t timeout_ns);
int shmk_server_end(struct shmk_port *p, const struct shmk_sample *req,
		    int64_t timeout_ns);
"""

# LIBSHMK_0.5: a client's cancel reaches the servers (shmk.HAVE_V05).
V05_FUNCS = """
int shmk_server_cancelled(const struct shmk_port *p,
			  const struct shmk_sample *req);
int shmk_pub_loan_slice(struct shmk_port *p, size_t n, void **payload);
"""

ffi = cffi.FFI()
ffi.cdef(TYPES + FUNCS + WAITSET_TYPES + WAITSET_FUNCS + V04_TYPES +
         V04_FUNCS + V05_FUNCS)

_HERE = os.path.dirname(os.path.abspath(__file__))
# python/shmk/ -> the source tree's build/lib/ (make lib)
_TREE_LIB = os.path.join(_HERE, os.pardir, os.pardir, "build", "lib",
                         "libshmk.so.0")

try:
    # Written by `make install`: where PREFIX and LIBDIR were.
    from ._install import LIBDIR as _INSTALL_LIBDIR, PREFIX as _INSTALL_PREFIX
except ImportError:
    _INSTALL_LIBDIR = _INSTALL_PREFIX = None


def _installed_lib():
    """The library installed with this package: LIBDIR relative to this
    package's prefix (<prefix>/lib/python3/dist-packages/shmk), which is
    also right in a tree staged under a DESTDIR (as install-test does),
    else LIBDIR as `make install` recorded it."""
    if _INSTALL_LIBDIR is None:
        return None
    prefix = os.path.normpath(os.path.join(_HERE, *[os.pardir] * 4))
    for d in (os.path.join(prefix, os.path.relpath(_INSTALL_LIBDIR,
                                                   _INSTALL_PREFIX)),
              _INSTALL_LIBDIR):
        c = os.path.join(d, "libshmk.so.0")
        if os.path.exists(c):
            return os.path.normpath(c)
    return None


def library_path():
    """The library to load: $SHMK_LIBRARY, else the source tree's build
    (when this package runs from the tree and it was built), else the
    library installed with this package (make install), else
    libshmk.so.0 through the dynamic loader's search."""
    env = os.environ.get("SHMK_LIBRARY")
    if env:
        return env
    if os.path.exists(_TREE_LIB):
        return os.path.normpath(_TREE_LIB)
    return _installed_lib() or "libshmk.so.0"


lib = ffi.dlopen(library_path())
