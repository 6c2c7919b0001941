/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmk for C++17 and later: a thin, header-only layer over the C API
 * of <shmk/service.h>.  Nothing here adds a system call, a copy or a
 * lock to the C calls it wraps.
 *
 *  - shmk::service, and every port, close themselves (RAII, move-only);
 *    a port keeps its service open, so ports may outlive the service
 *    object they were opened from.
 *  - shmk::publisher<T> loans a T in place (shmk::loan<T>), or a slice
 *    of n Ts (shmk::slice_loan<T>, a span); a loan dropped unpublished
 *    goes back to the pool.  shmk::subscriber<T> receives
 *    shmk::sample<T> (or slice_sample<T>), released when dropped.
 *  - shmk::client<Req, Resp>, shmk::server<Req, Resp>,
 *    shmk::notifier, shmk::listener; consumers give fd() for an event
 *    loop (shmk_port_fd()).
 *  - Errors are thrown as shmk::error (a std::system_error whose what()
 *    also carries shmk_last_error()'s sentence); "nothing yet" (-EAGAIN,
 *    -ETIMEDOUT) is an empty std::optional, not an exception.
 *
 * T must be trivially copyable (it crosses processes as bytes) and need
 * no more than 64-byte alignment (chunks are 64-byte aligned).  A loan or
 * sample points into its port's mapping: it must not outlive its port
 * (as an iterator must not outlive its container).  A received T is
 * what the sender wrote: a sample shorter than sizeof(T) is refused
 * (shmk::error, EBADMSG), but the bytes of a T sent by a buggy or hostile
 * peer are its bytes: validate what you rely on.
 *
 * Documentation/cxx.rst is the guide; tools/examples/pubsub.cpp an example.
 */
#ifndef SHMK_SHMK_HPP
#define SHMK_SHMK_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "<shmk/shmk.hpp> needs C++17 or later (C uses <shmk/shmk.h>)"
#endif

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <shmk/shmk.h>

namespace shmk {

/* A C errno and the library's sentence on it, as an exception. */
class error : public std::system_error {
public:
	error(int err, const std::string &what)
		: std::system_error(err, std::generic_category(), what)
	{
	}
};

namespace detail {

/* Throw for a negative errno, with @what and shmk_last_error(). */
inline int check(int ret, const char *what)
{
	if (ret >= 0)
		return ret;
	std::string msg(what);
	const char *more = shmk_last_error();

	if (more && *more)
		msg += std::string(": ") + more;
	throw error(-ret, msg);
}

template <class T>
constexpr void check_payload_type()
{
	static_assert(std::is_trivially_copyable_v<T>,
		      "shmk payloads cross processes as bytes: T must be trivially copyable");
	static_assert(alignof(T) <= SHMK_CACHELINE,
		      "shmk chunks are 64-byte aligned: T may need no more");
}

} /* namespace detail */

/* Timeouts: shmk::forever, 0 (try once), or any std::chrono duration. */
using timeout = std::chrono::nanoseconds;
inline constexpr timeout forever{SHMK_FOREVER};

namespace detail {

inline int64_t ns(timeout t)
{
	if (t == forever)
		return SHMK_FOREVER;
	return t.count() < 0 ? 0 : static_cast<int64_t>(t.count());
}

} /* namespace detail */

/* struct shmk_svc_config, zeroed, its size and kind set. */
struct config : shmk_svc_config {
	explicit config(shmk_svc_kind k) : shmk_svc_config()
	{
		size = sizeof(shmk_svc_config);
		kind = static_cast<uint32_t>(k);
	}

	/*
	 * The payload type, checked on open (struct shmk_svc_config):
	 * @name (at most SHMK_SVC_TYPE_NAME_MAX - 1 characters, truncated),
	 * sizeof(T) and alignof(T).
	 */
	template <class T>
	config &payload_type(const char *name)
	{
		static_assert(alignof(T) <= SHMK_CACHELINE,
			      "a payload is SHMK_CACHELINE aligned at most");
		size_t i = 0;

		for (; name[i] && i < sizeof(type_name) - 1; i++)
			type_name[i] = name[i];
		for (; i < sizeof(type_name); i++)
			type_name[i] = 0;
		type_size = sizeof(T);
		type_align = static_cast<uint32_t>(alignof(T));
		return *this;
	}
};

/* A service handle; ports opened on it keep it open. */
class service {
public:
	/* shmk_service_open(); flags SHMK_SVC_CREATE, SHMK_SVC_EXCL. */
	static service open(const std::string &name, const shmk_svc_config &cfg,
			    unsigned int flags = SHMK_SVC_CREATE)
	{
		shmk_service *s = nullptr;

		detail::check(shmk_service_open(name.c_str(), &cfg, flags, &s),
			      ("shmk_service_open " + name).c_str());
		return service(s);
	}

	/* shmk_service_remove(); false when there was no such service. */
	static bool remove(const std::string &name)
	{
		int ret = shmk_service_remove(name.c_str());

		if (ret == -ENOENT)
			return false;
		detail::check(ret, "shmk_service_remove");
		return true;
	}

	shmk_service *get() const noexcept { return s_.get(); }

	shmk_svc_config config() const
	{
		shmk_svc_config c;

		shmk_service_config(s_.get(), &c);
		return c;
	}

	uint32_t participants() const { return shmk_service_participants(s_.get()); }
	uint32_t dead() const { return shmk_service_dead(s_.get()); }
	uint32_t chunks() const { return shmk_service_chunks(s_.get()); }
	uint32_t chunks_used() const { return shmk_service_chunks_used(s_.get()); }
	uint32_t backlog() const { return shmk_service_backlog(s_.get()); }

	/* The shared handle, for ports (internal). */
	const std::shared_ptr<shmk_service> &shared() const noexcept { return s_; }

private:
	explicit service(shmk_service *s) : s_(s, shmk_service_close) {}
	std::shared_ptr<shmk_service> s_;
};

namespace detail {

/* A port and the service it keeps open; closed first, then the service. */
class port {
public:
	port(const service &s, int (*open)(shmk_service *, shmk_port **),
	     const char *what)
		: svc_(s.shared())
	{
		shmk_port *p = nullptr;

		check(open(svc_.get(), &p), what);
		p_.reset(p);
	}

	shmk_port *get() const noexcept { return p_.get(); }
	int slot() const { return shmk_port_slot(p_.get()); }
	/* shmk_port_fd(): owned by the port, for poll/epoll/io_uring. */
	int fd() const { return check(shmk_port_fd(p_.get()), "shmk_port_fd"); }
	uint64_t payload_max() const { return config().payload_max; }
	shmk_svc_config config() const
	{
		shmk_svc_config c;

		shmk_service_config(svc_.get(), &c);
		return c;
	}

private:
	struct closer {
		void operator()(shmk_port *p) const noexcept { shmk_port_close(p); }
	};
	std::shared_ptr<shmk_service> svc_;	/* destroyed after p_ */
	std::unique_ptr<shmk_port, closer> p_;
};

/* Check that the service's chunks hold @bytes. */
inline void check_fits(const port &p, uint64_t bytes, const char *what)
{
	if (p.payload_max() < bytes)
		throw error(EMSGSIZE, std::string(what) + ": the service's payload_max (" +
			    std::to_string(p.payload_max()) + ") is smaller than " +
			    std::to_string(bytes) + " bytes");
}

/* A loaned chunk: discarded unless published. */
class raw_loan {
public:
	raw_loan(shmk_port *p, void *buf) noexcept : p_(p), buf_(buf) {}
	raw_loan(raw_loan &&o) noexcept
		: p_(std::exchange(o.p_, nullptr)), buf_(std::exchange(o.buf_, nullptr))
	{
	}
	raw_loan &operator=(raw_loan &&o) noexcept
	{
		if (this != &o) {
			reset();
			p_ = std::exchange(o.p_, nullptr);
			buf_ = std::exchange(o.buf_, nullptr);
		}
		return *this;
	}
	raw_loan(const raw_loan &) = delete;
	raw_loan &operator=(const raw_loan &) = delete;
	~raw_loan() { reset(); }

	void *data() const noexcept { return buf_; }
	explicit operator bool() const noexcept { return buf_ != nullptr; }
	/* The chunk leaves the loan (published or discarded by the caller). */
	void *release() noexcept
	{
		p_ = nullptr;
		return std::exchange(buf_, nullptr);
	}

private:
	void reset() noexcept
	{
		if (buf_)
			shmk_pub_discard(p_, buf_);
		buf_ = nullptr;
	}
	shmk_port *p_;
	void *buf_;
};

/* A received sample: released when dropped. */
class raw_sample {
public:
	raw_sample() noexcept : p_(nullptr), s_() {}
	raw_sample(shmk_port *p, const shmk_sample &s) noexcept : p_(p), s_(s) {}
	raw_sample(raw_sample &&o) noexcept
		: p_(std::exchange(o.p_, nullptr)), s_(o.s_)
	{
	}
	raw_sample &operator=(raw_sample &&o) noexcept
	{
		if (this != &o) {
			reset();
			p_ = std::exchange(o.p_, nullptr);
			s_ = o.s_;
		}
		return *this;
	}
	raw_sample(const raw_sample &) = delete;
	raw_sample &operator=(const raw_sample &) = delete;
	~raw_sample() { reset(); }

	const shmk_sample &raw() const noexcept { return s_; }
	const void *data() const noexcept { return s_.data; }
	size_t size() const noexcept { return s_.len; }
	uint64_t seq() const noexcept { return s_.seq; }
	uint64_t corr() const noexcept { return s_.corr; }
	uint32_t origin() const noexcept { return s_.origin; }

private:
	void reset() noexcept
	{
		if (p_)
			shmk_sub_release(p_, &s_);
		p_ = nullptr;
	}
	shmk_port *p_;
	shmk_sample s_;
};

/* Receive through @fn; nullopt for "nothing yet", throw otherwise. */
template <class Fn>
std::optional<raw_sample> receive(shmk_port *p, Fn fn, timeout t,
				  const char *what)
{
	shmk_sample s;
	int ret = fn(p, &s, ns(t));

	if (ret == -EAGAIN || ret == -ETIMEDOUT)
		return std::nullopt;
	check(ret, what);
	return raw_sample(p, s);
}

inline raw_loan loan(shmk_port *p)
{
	void *buf = nullptr;

	check(shmk_pub_loan(p, &buf), "shmk_pub_loan");
	return raw_loan(p, buf);
}

/*
 * A chunk for @bytes in a service with SHMK_SVC_DYNAMIC
 * (shmk_pub_loan_slice(): its chunks grow to fit): elements of the
 * service's type size, or bytes when it is untyped.
 */
inline raw_loan loan_bytes(shmk_port *p, const shmk_svc_config &c,
			   uint64_t bytes)
{
	uint64_t el = c.type_size ? c.type_size : 1;
	void *buf = nullptr;

	check(shmk_pub_loan_slice(p, bytes ? (bytes + el - 1) / el : 1, &buf),
	      "shmk_pub_loan_slice");
	return raw_loan(p, buf);
}

} /* namespace detail */

/* A T loaned in place; write it, then publish (or send) it. */
template <class T>
class loan {
public:
	T &operator*() const noexcept { return *get(); }
	T *operator->() const noexcept { return get(); }
	/* The chunk's memory; a T is not constructed in it (T is trivial). */
	T *get() const noexcept { return static_cast<T *>(l_.data()); }

private:
	template <class> friend class publisher;
	template <class, class> friend class client;
	template <class, class> friend class server;
	explicit loan(detail::raw_loan &&l) : l_(std::move(l)) {}
	detail::raw_loan l_;
};

/* A slice of n Ts loaned in place: a span over the chunk. */
template <class T>
class slice_loan {
public:
	T *data() const noexcept { return static_cast<T *>(l_.data()); }
	size_t size() const noexcept { return n_; }
	T &operator[](size_t i) const noexcept { return data()[i]; }
	T *begin() const noexcept { return data(); }
	T *end() const noexcept { return data() + n_; }

private:
	template <class> friend class publisher;
	slice_loan(detail::raw_loan &&l, size_t n) : l_(std::move(l)), n_(n) {}
	detail::raw_loan l_;
	size_t n_;
};

/* A received T, released when dropped. */
template <class T>
class sample {
public:
	const T &operator*() const noexcept { return *get(); }
	const T *operator->() const noexcept { return get(); }
	const T *get() const noexcept { return static_cast<const T *>(s_.data()); }
	uint64_t seq() const noexcept { return s_.seq(); }
	/* The request's correlation id (request-response). */
	uint64_t corr() const noexcept { return s_.corr(); }
	uint32_t origin() const noexcept { return s_.origin(); }
	const shmk_sample &raw() const noexcept { return s_.raw(); }

private:
	template <class> friend class subscriber;
	template <class, class> friend class client;
	template <class, class> friend class server;
	explicit sample(detail::raw_sample &&s) : s_(std::move(s)) {}
	detail::raw_sample s_;
};

/* A received slice of Ts: a read-only span, released when dropped. */
template <class T>
class slice_sample {
public:
	const T *data() const noexcept { return static_cast<const T *>(s_.data()); }
	size_t size() const noexcept { return s_.size() / sizeof(T); }
	const T &operator[](size_t i) const noexcept { return data()[i]; }
	const T *begin() const noexcept { return data(); }
	const T *end() const noexcept { return data() + size(); }
	uint64_t seq() const noexcept { return s_.seq(); }
	uint32_t origin() const noexcept { return s_.origin(); }

private:
	template <class> friend class subscriber;
	explicit slice_sample(detail::raw_sample &&s) : s_(std::move(s)) {}
	detail::raw_sample s_;
};

namespace detail {

/* A sample of at least sizeof(T) bytes, or an EBADMSG error. */
template <class T>
raw_sample &&typed(raw_sample &&s, const char *what)
{
	if (s.size() < sizeof(T))
		throw error(EBADMSG, std::string(what) + ": a sample of " +
			    std::to_string(s.size()) + " bytes, smaller than T (" +
			    std::to_string(sizeof(T)) + ")");
	return std::move(s);
}

} /* namespace detail */

/* Publisher of Ts (or of slices of Ts). */
template <class T>
class publisher {
public:
	explicit publisher(const service &s)
		: p_(s, shmk_pub_open, "shmk_pub_open")
	{
		detail::check_payload_type<T>();
		detail::check_fits(p_, sizeof(T), "shmk::publisher<T>");
	}

	/* A chunk for one T (not constructed: write every field you send). */
	shmk::loan<T> loan() { return shmk::loan<T>(detail::loan(p_.get())); }

	/*
	 * A chunk for @n Ts; EMSGSIZE when they do not fit payload_max.  In
	 * a service with SHMK_SVC_DYNAMIC the publisher's chunks grow to fit
	 * (shmk_pub_loan_slice()); else every chunk has payload_max bytes.
	 */
	slice_loan<T> loan_slice(size_t n)
	{
		shmk_svc_config c = p_.config();

		if (n > c.payload_max / sizeof(T))
			throw error(EMSGSIZE, "shmk::publisher<T>::loan_slice: " +
				    std::to_string(n) + " elements do not fit in payload_max");
		if (c.mode & SHMK_SVC_DYNAMIC)
			return slice_loan<T>(detail::loan_bytes(p_.get(), c, n * sizeof(T)), n);
		return slice_loan<T>(detail::loan(p_.get()), n);
	}

	/* shmk_pub_publish(); the loan is consumed. */
	void publish(shmk::loan<T> &&l, timeout t = timeout::zero())
	{
		publish_raw(l.l_, sizeof(T), t);
	}

	void publish(slice_loan<T> &&l, timeout t = timeout::zero())
	{
		publish_raw(l.l_, l.size() * sizeof(T), t);
	}

	/* Loan, copy @v in, publish. */
	void send_copy(const T &v, timeout t = timeout::zero())
	{
		detail::check(shmk_pub_send_copy(p_.get(), &v, sizeof(T), detail::ns(t)),
			      "shmk_pub_send_copy");
	}

	/* shmk_pub_drain(): true when every subscriber has received all. */
	bool drain(timeout t)
	{
		int ret = shmk_pub_drain(p_.get(), detail::ns(t));

		if (ret == -EAGAIN || ret == -ETIMEDOUT)
			return false;
		detail::check(ret, "shmk_pub_drain");
		return true;
	}

	shmk_port *get() const noexcept { return p_.get(); }

private:
	void publish_raw(detail::raw_loan &l, size_t len, timeout t)
	{
		if (!l)
			throw error(EINVAL, "shmk::publisher<T>::publish: an empty loan");
		/*
		 * On failure the chunk is still this port's loan (the C
		 * contract): it stays in @l, discarded when @l goes.
		 */
		detail::check(shmk_pub_publish(p_.get(), l.data(), len, detail::ns(t)),
			      "shmk_pub_publish");
		l.release();
	}
	detail::port p_;
};

/* Subscriber of Ts (or of slices of Ts). */
template <class T>
class subscriber {
public:
	explicit subscriber(const service &s)
		: p_(s, shmk_sub_open, "shmk_sub_open")
	{
		detail::check_payload_type<T>();
		detail::check_fits(p_, sizeof(T), "shmk::subscriber<T>");
	}

	/* The next sample; nullopt when none came within @t. */
	std::optional<sample<T>> receive(timeout t = timeout::zero())
	{
		auto s = detail::receive(p_.get(), shmk_sub_receive, t, "shmk_sub_receive");

		if (!s)
			return std::nullopt;
		return sample<T>(detail::typed<T>(std::move(*s), "shmk_sub_receive"));
	}

	/* The next sample as a slice of Ts (trailing bytes ignored). */
	std::optional<slice_sample<T>> receive_slice(timeout t = timeout::zero())
	{
		auto s = detail::receive(p_.get(), shmk_sub_receive, t, "shmk_sub_receive");

		if (!s)
			return std::nullopt;
		return slice_sample<T>(std::move(*s));
	}

	uint64_t dropped() const { return shmk_sub_dropped(p_.get()); }
	/*
	 * An fd that polls readable when a sample may be there; receive
	 * until nullopt to re-arm it (shmk_port_fd()).
	 */
	int fd() const { return p_.fd(); }
	shmk_port *get() const noexcept { return p_.get(); }

private:
	detail::port p_;
};

/* Client: sends Req, receives Resp. */
template <class Req, class Resp>
class client {
public:
	explicit client(const service &s)
		: p_(s, shmk_client_open, "shmk_client_open")
	{
		detail::check_payload_type<Req>();
		detail::check_payload_type<Resp>();
		detail::check_fits(p_, sizeof(Req) > sizeof(Resp) ? sizeof(Req) : sizeof(Resp),
				   "shmk::client<Req, Resp>");
	}

	shmk::loan<Req> loan() { return shmk::loan<Req>(detail::loan(p_.get())); }

	/*
	 * Send the request; returns its correlation id.  @t 0: fail
	 * (ENOTCONN) when no server is live; else wait for one that long.
	 */
	uint64_t send(shmk::loan<Req> &&l, timeout t = timeout::zero())
	{
		uint64_t corr = 0;

		if (!l.l_)
			throw error(EINVAL, "shmk::client::send: an empty loan");
		detail::check(shmk_client_send_wait(p_.get(), l.l_.data(), sizeof(Req),
						    &corr, detail::ns(t)),
			      "shmk_client_send");
		l.l_.release();
		return corr;
	}

	/* The next response to one of our requests (corr() says which). */
	std::optional<sample<Resp>> receive(timeout t = timeout::zero())
	{
		auto s = detail::receive(p_.get(), shmk_client_receive, t,
					 "shmk_client_receive");

		if (!s)
			return std::nullopt;
		return sample<Resp>(detail::typed<Resp>(std::move(*s), "shmk_client_receive"));
	}

	int fd() const { return p_.fd(); }
	shmk_port *get() const noexcept { return p_.get(); }

private:
	detail::port p_;
};

/* Server: receives Req, answers with Resp. */
template <class Req, class Resp>
class server {
public:
	explicit server(const service &s)
		: p_(s, shmk_server_open, "shmk_server_open")
	{
		detail::check_payload_type<Req>();
		detail::check_payload_type<Resp>();
		detail::check_fits(p_, sizeof(Req) > sizeof(Resp) ? sizeof(Req) : sizeof(Resp),
				   "shmk::server<Req, Resp>");
	}

	std::optional<sample<Req>> receive(timeout t = timeout::zero())
	{
		auto s = detail::receive(p_.get(), shmk_server_receive, t,
					 "shmk_server_receive");

		if (!s)
			return std::nullopt;
		return sample<Req>(detail::typed<Req>(std::move(*s), "shmk_server_receive"));
	}

	shmk::loan<Resp> loan() { return shmk::loan<Resp>(detail::loan(p_.get())); }

	/* Answer @req (still held) with the loaned response. */
	void respond(const sample<Req> &req, shmk::loan<Resp> &&l)
	{
		if (!l.l_)
			throw error(EINVAL, "shmk::server::respond: an empty loan");
		detail::check(shmk_server_respond(p_.get(), &req.raw(), l.l_.data(),
						  sizeof(Resp)),
			      "shmk_server_respond");
		l.l_.release();
	}

	/*
	 * shmk_server_cancelled(): the client of @req cancelled it, or left:
	 * its answers would go nowhere.
	 */
	bool cancelled(const sample<Req> &req) const
	{
		return detail::check(shmk_server_cancelled(p_.get(), &req.raw()),
				     "shmk_server_cancelled") == 1;
	}

	int fd() const { return p_.fd(); }
	shmk_port *get() const noexcept { return p_.get(); }

private:
	detail::port p_;
};

class notifier {
public:
	explicit notifier(const service &s)
		: p_(s, shmk_notifier_open, "shmk_notifier_open")
	{
	}

	/* Signal @id; returns the number of listeners signalled. */
	int notify(uint32_t id)
	{
		return detail::check(shmk_notifier_notify(p_.get(), id),
				     "shmk_notifier_notify");
	}

	shmk_port *get() const noexcept { return p_.get(); }

private:
	detail::port p_;
};

class listener {
public:
	explicit listener(const service &s)
		: p_(s, shmk_listener_open, "shmk_listener_open")
	{
	}

	/* The ids signalled (at most @max); empty when none came within @t. */
	std::vector<uint32_t> wait(timeout t = timeout::zero(), unsigned int max = 64)
	{
		std::vector<uint32_t> ids(max ? max : 1);
		int n = shmk_listener_wait(p_.get(), ids.data(),
					   static_cast<unsigned int>(ids.size()), detail::ns(t));

		if (n == -EAGAIN || n == -ETIMEDOUT)
			n = 0;
		detail::check(n, "shmk_listener_wait");
		ids.resize(static_cast<size_t>(n));
		return ids;
	}

	int fd() const { return p_.fd(); }
	shmk_port *get() const noexcept { return p_.get(); }

private:
	detail::port p_;
};

} /* namespace shmk */

#endif /* SHMK_SHMK_HPP */
