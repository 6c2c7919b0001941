// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * drones: a master process hands work to N worker processes (the drones)
 * through request-response, zero-copy, and compares it with the same
 * work sent through Unix sockets.  Documentation/drones.rst.
 *
 *   shmk    The master creates one data region ("drones.<pid>") holding
 *           the input arrays and the outputs, and one request-response
 *           service per drone ("drones.<pid>.<i>": a reqres service has
 *           one server, so each drone serves its own).  The master is the
 *           client of every service; a request is a 64-byte struct task
 *           in a loaned chunk naming byte offsets in the data region, a
 *           response a struct reply (status, compute time).  The drones
 *           read their inputs and write their results in the region in
 *           place: no byte of data is copied.
 *   socket  One socketpair per drone.  A request is the same struct task
 *           followed by the input slices; the reply is a struct reply
 *           followed by the output slice, read into the master's arrays.
 *
 * Both transports split a job the same way and keep one request in flight
 * per drone: task t goes to drone t % D, results are taken in task order.
 *
 * Workloads: c = a + b over doubles (verified bit for bit against the
 * master's own sum) and a Mandelbrot image, row by row (verified bit for
 * bit against a single-process computation, written as a PNG by --out).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmk/shmk.h>

#include "png.h"

#define PROG		"drones"
#define DRONES_MAX	48		/* services, processes */
#define SIZES_MAX	16
#define RECV_SLICE_NS	1000000000LL	/* check for dead peers this often */
#define START_TIMEOUT_S	30		/* a drone has this long to open its port */
#define SPIN_YIELD_NS	20000		/* --wait spin: then sched_yield() between polls */
#define SPIN_BLOCK_NS	50000		/* --wait adaptive: then a blocking receive */
#define AUTO_SAMPLE_NS	50000000	/* --wait auto: how long cpus_busy() looks */
#define AUTO_BUSY_MAX	0.25		/* --wait auto: CPUs busy, at most, to poll */
#define DRONES_GOAL	0.5		/* issue 12: shmk / socket at every a+b size */

enum op {
	OP_ADD = 1,
	OP_MANDEL = 2,
	OP_QUIT = 3,
};

/*
 * How the shmk master and drones wait for a request or a response.
 * WAIT_SPIN busy-polls (timeout 0 in a loop), yielding the CPU between
 * polls once it has polled for SPIN_YIELD_NS; WAIT_BLOCK is a blocking
 * receive (libshmk's short spin, then a sleep in the kernel);
 * WAIT_ADAPTIVE busy-polls for SPIN_BLOCK_NS, about two cross-CPU
 * wakeups of a virtual machine, then blocks: an answer that comes soon
 * is taken without a wakeup, and a drone without work sleeps.
 *
 * A crew that spins is pinned (crew_start()): the master and the drones
 * are dealt round the CPUs this process may use, one each while they
 * last.  A process that shares its CPU with another of the crew yields
 * it (sched_yield()) after every poll that found nothing, from the
 * first: the one with work then runs after one context switch, where a
 * sleeper would need a wakeup, and a spinner would keep it waiting
 * until its time slice ends.
 *
 * WAIT_AUTO (the default) is WAIT_ADAPTIVE when the CPUs this program
 * may use were idle just before the crew starts (cpus_busy() below
 * AUTO_BUSY_MAX), else WAIT_BLOCK: a pinned poller that shares its CPU
 * with another program waits for that program's time slice at every
 * hand-over, a sleeper is let in when it is woken.
 * Documentation/drones.rst has the figures of each.
 */
enum wait_mode {
	WAIT_ADAPTIVE = 0,
	WAIT_SPIN = 1,
	WAIT_BLOCK = 2,
	WAIT_AUTO = 3,
};

static enum wait_mode wait_mode = WAIT_BLOCK;	/* this crew's */
static enum wait_mode wait_opt = WAIT_AUTO;	/* --wait */
static int cpu_shared;		/* this process shares its pinned CPU */
static const char *const wait_name[] = { "adaptive", "spin", "block", "auto" };

enum transport {
	T_SHMK = 0,
	T_SOCK = 1,
	T_COUNT,
};

static const char *const tname[T_COUNT] = { "shmk", "socket" };

/*
 * struct task - one request: where the work is, never the data itself
 * @op:		OP_*
 * @maxiter:	OP_MANDEL: iteration limit
 * @first:	OP_ADD: first element; OP_MANDEL: first row
 * @count:	OP_ADD: elements; OP_MANDEL: rows
 * @width:	OP_MANDEL: image width
 * @height:	OP_MANDEL: image height
 * @in_off:	shmk, OP_ADD: byte offsets of a[first] and b[first] in the
 *		data region
 * @out_off:	shmk: byte offset of c[first] (OP_ADD) or of row @first
 *		(OP_MANDEL) in the data region
 *
 * Over a socket the input slices follow the struct (OP_ADD: a, then b)
 * and the offsets are unused.
 */
struct task {
	uint32_t op;
	uint32_t maxiter;
	uint64_t first;
	uint64_t count;
	uint32_t width;
	uint32_t height;
	uint64_t in_off[2];
	uint64_t out_off;
	uint64_t reserved;
};

/*
 * struct reply - one response
 * @status:	0, or a negative errno (a request out of bounds)
 * @compute_ns:	time the drone spent computing this task (the loop only)
 *
 * Over a socket the output slice follows the struct when status is 0.
 */
struct reply {
	int32_t status;
	uint32_t reserved;
	uint64_t compute_ns;
};

/* The command line. */
struct opts {
	unsigned int drones;
	uint64_t sizes[SIZES_MAX];
	unsigned int nsizes;
	uint32_t width, height, maxiter, rows;
	uint64_t grain;
	unsigned int reps;
	const char *out;
	unsigned int transports;	/* bit per enum transport */
};

/* The drones of one run: one transport, D processes. */
struct crew {
	enum transport t;
	unsigned int n;
	pid_t pid[DRONES_MAX];
	char svc_name[DRONES_MAX][SHMK_SVC_NAME_MAX];
	struct shmk_service *svc[DRONES_MAX];
	struct shmk_port *client[DRONES_MAX];
	int fd[DRONES_MAX];
	uint64_t compute_ns[DRONES_MAX];	/* this job's, per drone */
};

/*
 * The master's arrays.  For shmk the inputs and outputs are in the data
 * region; for the socket runs in private memory (the same layout).
 */
struct arrays {
	double *a, *b, *c;
	uint8_t *img;
};

/* The data region and the layout both transports use. */
static struct shmk_region *data_reg;
static char data_name[SHMK_NAME_MAX];
static uint64_t a_off, b_off, c_off, img_off, data_bytes;
static pid_t master_pid;

/* Names to remove when the master exits early. */
static struct crew *live_crew;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Receive with @recv (shmk_server_receive or shmk_client_receive) as
 * wait_mode says: 0, or what @recv returned; -ETIMEDOUT after
 * RECV_SLICE_NS without one, so that the caller checks its peer.
 */
static int recv_as_told(int (*recv)(struct shmk_port *, struct shmk_sample *,
				    int64_t),
			struct shmk_port *p, struct shmk_sample *smp)
{
	uint64_t t0;
	int ret;

	if (wait_mode == WAIT_BLOCK)
		return recv(p, smp, RECV_SLICE_NS);
	ret = recv(p, smp, 0);
	if (ret != -EAGAIN)
		return ret;
	t0 = now_ns();
	for (;;) {
		uint64_t dt;

		ret = recv(p, smp, 0);
		if (ret != -EAGAIN)
			return ret;
		dt = now_ns() - t0;
		if (dt > (uint64_t)RECV_SLICE_NS)
			return -ETIMEDOUT;
		if (wait_mode == WAIT_ADAPTIVE && dt > SPIN_BLOCK_NS)
			return recv(p, smp, RECV_SLICE_NS);
		if (cpu_shared || dt > SPIN_YIELD_NS)
			sched_yield();
#if defined(__x86_64__) || defined(__i386__)
		else
			__builtin_ia32_pause();
#endif
	}
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* The work itself: the same code in the drones and in the master's check. */

static void add_slice(double *c, const double *a, const double *b, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		c[i] = a[i] + b[i];
}

/*
 * Rows [y0, y0 + rows) of a width x height view of [-2.25, 1] x
 * [-1.25i, 1.25i].  A pixel is 0 inside the set (maxiter reached), else
 * 1 + (iterations * 7) % 254: a palette index, never 255.
 */
static void mandel_rows(uint8_t *out, uint32_t width, uint32_t height,
			uint64_t y0, uint64_t rows, uint32_t maxiter)
{
	uint64_t y;
	uint32_t x, it;

	for (y = y0; y < y0 + rows; y++) {
		double ci = 1.25 - 2.5 * (double)y / (double)height;

		for (x = 0; x < width; x++) {
			double cr = -2.25 + 3.25 * (double)x / (double)width;
			double zr = 0, zi = 0, zr2 = 0, zi2 = 0;

			for (it = 0; it < maxiter && zr2 + zi2 <= 4.0; it++) {
				zi = 2.0 * zr * zi + ci;
				zr = zr2 - zi2 + cr;
				zr2 = zr * zr;
				zi2 = zi * zi;
			}
			*out++ = it >= maxiter ? 0 : (uint8_t)(1 + (it * 7U) % 254);
		}
	}
}

/* Input values: exact in binary, different in every element. */
static void fill_inputs(double *a, double *b, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		a[i] = (double)i * 1.25;
		b[i] = 1.0 / (double)(i + 1);
	}
}

/* Sockets: whole reads and writes. */

static int write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt) {
		ssize_t n = writev(fd, iov, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (cnt && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;	/* the other side is gone */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Drones */

/* Whether [off, off + len) lies in the data region, @align-aligned. */
static int in_region(uint64_t off, uint64_t len, uint64_t align, uint64_t size)
{
	return off % align == 0 && off <= size && len <= size - off;
}

/* Run one task against the data region; the result lands in place. */
static int drone_task_shmk(unsigned char *base, uint64_t size,
			   const struct task *t, uint64_t *compute_ns)
{
	uint64_t t0;

	switch (t->op) {
	case OP_ADD:
		if (t->count > size / sizeof(double) ||
		    !in_region(t->in_off[0], t->count * sizeof(double), 8, size) ||
		    !in_region(t->in_off[1], t->count * sizeof(double), 8, size) ||
		    !in_region(t->out_off, t->count * sizeof(double), 8, size))
			return -ERANGE;
		t0 = now_ns();
		add_slice((double *)(base + t->out_off),
			  (const double *)(base + t->in_off[0]),
			  (const double *)(base + t->in_off[1]), t->count);
		*compute_ns = now_ns() - t0;
		return 0;
	case OP_MANDEL:
		if (!t->width || !t->height || t->first > t->height ||
		    t->count > t->height - t->first ||
		    !in_region(t->out_off, t->count * t->width, 1, size))
			return -ERANGE;
		t0 = now_ns();
		mandel_rows(base + t->out_off, t->width, t->height, t->first,
			    t->count, t->maxiter);
		*compute_ns = now_ns() - t0;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * A shmk drone: the server of its own service.  It opens the data region
 * and the service by name, as an unrelated process would.
 */
static int drone_shmk(const char *svc_name)
{
	struct shmk_svc_config cfg = { .size = sizeof(cfg), .kind = SHMK_SVC_REQRES };
	struct shmk_region *reg = NULL;
	struct shmk_service *svc = NULL;
	struct shmk_port *srv = NULL;
	struct shmk_sample req;
	struct reply *rep;
	struct task t;
	int ret;

	ret = shmk_region_open(data_name, 0, &reg);
	if (ret) {
		fprintf(stderr, PROG ": drone: open region %s: %s\n", data_name, strerror(-ret));
		return 1;
	}
	ret = shmk_service_open(svc_name, &cfg, 0, &svc);
	if (!ret)
		ret = shmk_server_open(svc, &srv);
	if (ret) {
		fprintf(stderr, PROG ": drone: service %s: %s\n", svc_name, strerror(-ret));
		goto out;
	}
	for (;;) {
		ret = recv_as_told(shmk_server_receive, srv, &req);
		if (ret == -ETIMEDOUT || ret == -EINTR) {
			if (getppid() != master_pid) {
				ret = -EPIPE;	/* orphaned */
				break;
			}
			continue;
		}
		if (ret)
			break;
		if (req.len != sizeof(t)) {
			shmk_sub_release(srv, &req);
			ret = -EBADMSG;
			break;
		}
		/* One copy of the 64-byte descriptor: the master may not change it, but we validate it. */
		memcpy(&t, req.data, sizeof(t));
		if (t.op == OP_QUIT) {
			shmk_sub_release(srv, &req);
			ret = 0;
			break;
		}
		ret = shmk_pub_loan(srv, (void **)&rep);
		if (ret) {
			shmk_sub_release(srv, &req);
			break;
		}
		memset(rep, 0, sizeof(*rep));
		rep->status = drone_task_shmk(shmk_region_base(reg), shmk_region_size(reg),
					      &t, &rep->compute_ns);
		ret = shmk_server_respond(srv, &req, rep, sizeof(*rep));
		if (ret)
			shmk_pub_discard(srv, rep);
		shmk_sub_release(srv, &req);
		if (ret)
			break;
	}
	if (ret)
		fprintf(stderr, PROG ": drone %s: %s\n", svc_name, strerror(-ret));
out:
	shmk_port_close(srv);
	shmk_service_close(svc);
	shmk_region_close(reg);
	return ret ? 1 : 0;
}

/* Grow a private buffer to @bytes. */
static int grow(void **buf, size_t *cap, size_t bytes)
{
	void *p;

	if (bytes <= *cap)
		return 0;
	p = realloc(*buf, bytes);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = bytes;
	return 0;
}

/* A socket drone: inputs come in, the result goes out, both copied. */
static int drone_sock(int fd)
{
	void *a = NULL, *b = NULL, *c = NULL;
	size_t acap = 0, bcap = 0, ccap = 0;
	struct reply rep;
	struct iovec iov[2];
	struct task t;
	size_t in, out;
	uint64_t t0;
	int ret;

	for (;;) {
		ret = read_all(fd, &t, sizeof(t));
		if (ret || t.op == OP_QUIT)
			break;
		memset(&rep, 0, sizeof(rep));
		in = 0;
		out = 0;
		if (t.op == OP_ADD && t.count <= (1ULL << 27)) {
			in = out = t.count * sizeof(double);
		} else if (t.op == OP_MANDEL && t.width && t.height &&
			   t.first <= t.height && t.count <= t.height - t.first) {
			out = t.count * t.width;
		} else {
			ret = -ERANGE;
			break;	/* the stream is out of step: give up */
		}
		if (grow(&a, &acap, in) || grow(&b, &bcap, in) || grow(&c, &ccap, out)) {
			ret = -ENOMEM;
			break;
		}
		if (in && ((ret = read_all(fd, a, in)) || (ret = read_all(fd, b, in))))
			break;
		t0 = now_ns();
		if (t.op == OP_ADD)
			add_slice(c, a, b, t.count);
		else
			mandel_rows(c, t.width, t.height, t.first, t.count, t.maxiter);
		rep.compute_ns = now_ns() - t0;
		iov[0] = (struct iovec){ &rep, sizeof(rep) };
		iov[1] = (struct iovec){ c, out };
		ret = write_all(fd, iov, out ? 2 : 1);
		if (ret)
			break;
	}
	if (ret && ret != -EPIPE)
		fprintf(stderr, PROG ": socket drone: %s\n", strerror(-ret));
	free(a);
	free(b);
	free(c);
	return ret && ret != -EPIPE ? 1 : 0;
}

/* The master: crews */

static void crew_remove_names(struct crew *cr)
{
	unsigned int d;

	for (d = 0; d < cr->n; d++)
		if (cr->svc_name[d][0])
			shmk_service_remove(cr->svc_name[d]);
}

static void remove_names(void)
{
	if (getpid() != master_pid)
		return;
	if (live_crew)
		crew_remove_names(live_crew);
	if (data_name[0])
		shmk_region_unlink(data_name);
}

static void on_signal(int sig)
{
	remove_names();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Whether drone @d is still running; reaps it when not. */
static int drone_alive(struct crew *cr, unsigned int d)
{
	int st;

	if (cr->pid[d] <= 0)
		return 0;
	if (waitpid(cr->pid[d], &st, WNOHANG) == cr->pid[d]) {
		fprintf(stderr, PROG ": drone %u (pid %d) %s %d\n", d, (int)cr->pid[d],
			WIFSIGNALED(st) ? "killed by signal" : "exited with status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		cr->pid[d] = 0;
		return 0;
	}
	return 1;
}

static void crew_stop(struct crew *cr)
{
	struct task quit = { .op = OP_QUIT };
	struct iovec iov;
	unsigned int d;
	void *p;
	int st;

	for (d = 0; d < cr->n; d++) {
		if (cr->t == T_SHMK && cr->client[d]) {
			if (!shmk_pub_loan(cr->client[d], &p)) {
				memcpy(p, &quit, sizeof(quit));
				if (shmk_client_send(cr->client[d], p, sizeof(quit), NULL))
					shmk_pub_discard(cr->client[d], p);
			}
		} else if (cr->t == T_SOCK && cr->fd[d] >= 0) {
			iov = (struct iovec){ &quit, sizeof(quit) };
			write_all(cr->fd[d], &iov, 1);
			close(cr->fd[d]);
			cr->fd[d] = -1;
		}
	}
	for (d = 0; d < cr->n; d++) {
		if (cr->pid[d] > 0 && waitpid(cr->pid[d], &st, 0) == cr->pid[d] &&
		    (!WIFEXITED(st) || WEXITSTATUS(st)))
			fprintf(stderr, PROG ": drone %u did not exit cleanly\n", d);
		cr->pid[d] = 0;
		shmk_port_close(cr->client[d]);
		cr->client[d] = NULL;
		shmk_service_close(cr->svc[d]);
		cr->svc[d] = NULL;
	}
	crew_remove_names(cr);
	live_crew = NULL;
}

static cpu_set_t cpus_allowed;	/* where this program may run */
static unsigned int ncpu;	/* CPU_COUNT(&cpus_allowed), at least 1 */
static int pin_crew;

/*
 * Pin the calling process, crew member @i (0 the master, d + 1 drone d),
 * to the (@i mod ncpu)th CPU of cpus_allowed, and say in cpu_shared
 * whether another of the @n + 1 members is dealt the same CPU; @i < 0:
 * let it run on any CPU of cpus_allowed.  A failed pin leaves the
 * process where it was: the crew still works, only slower.
 */
static void pin_to(int i, unsigned int n)
{
	unsigned int k = 0, want;
	cpu_set_t set;
	int cpu;

	cpu_shared = 0;
	if (i < 0) {
		sched_setaffinity(0, sizeof(cpus_allowed), &cpus_allowed);
		return;
	}
	want = (unsigned int)i % ncpu;
	/* members want, want + ncpu, ... <= n share it */
	cpu_shared = want + ncpu <= n;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &cpus_allowed) || k++ != want)
			continue;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
		return;
	}
}

/* Read the busy and total jiffies of the CPUs in cpus_allowed. */
static int read_cpu_times(uint64_t *busy, uint64_t *total)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "re");
	int n = 0;

	*busy = *total = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[8] = { 0 };
		int cpu;

		/* cpuN user nice system idle iowait irq softirq steal ... */
		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu",
			   &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]) != 9 || cpu < 0 || cpu >= CPU_SETSIZE ||
		    !CPU_ISSET(cpu, &cpus_allowed))
			continue;
		/* Stolen time is time this CPU was not ours either. */
		*busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		*total += v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
		n++;
	}
	fclose(f);
	return n ? 0 : -1;
}

/*
 * How many of the CPUs in cpus_allowed other programs kept busy while
 * this one slept AUTO_SAMPLE_NS (no crew runs then); 0 where /proc/stat
 * cannot tell.
 */
static double cpus_busy(void)
{
	struct timespec ts = { 0, AUTO_SAMPLE_NS };
	uint64_t b0, t0, b1, t1;

	if (read_cpu_times(&b0, &t0))
		return 0;
	nanosleep(&ts, NULL);
	if (read_cpu_times(&b1, &t1) || t1 <= t0 || b1 < b0)
		return 0;
	return (double)(b1 - b0) / (double)(t1 - t0) * ncpu;
}

/* Start @n drones on transport @t. */
static int crew_start(struct crew *cr, enum transport t, unsigned int n)
{
	struct shmk_svc_config cfg = {
		.size = sizeof(cfg),
		.kind = SHMK_SVC_REQRES,
		.payload_max = sizeof(struct task),
		.max_publishers = 1,		/* the master */
		.max_subscribers = 1,		/* the drone */
		.buffer = 4,
		/*
		 * A server that joins after a request was sent starts at its
		 * client's tail less the history: with one request in flight
		 * per drone, a history of one would do.
		 */
		.history = 4,
		.overflow = SHMK_OVERFLOW_BLOCK,	/* never drop a request */
	};
	int sv[2], ret = 0;
	uint64_t t0;
	unsigned int d, e;

	memset(cr, 0, sizeof(*cr));
	cr->t = t;
	cr->n = n;
	for (d = 0; d < n; d++)
		cr->fd[d] = -1;
	live_crew = cr;
	/*
	 * A crew that spins is pinned, with either transport (the same
	 * placement for both): the master on the first CPU, drone d
	 * (from 0) on the (d + 2)th, round the CPUs again when the crew
	 * outnumbers them (pin_to()).  Two busy-pollers left to the
	 * scheduler may share a CPU without knowing it, and a hand-over
	 * between them then waits for a yield.  A blocking crew is left to
	 * the scheduler.
	 */
	pin_crew = wait_mode != WAIT_BLOCK;
	pin_to(pin_crew ? 0 : -1, n);
	fflush(stdout);
	for (d = 0; d < n; d++) {
		if (t == T_SHMK) {
			snprintf(cr->svc_name[d], sizeof(cr->svc_name[d]), "drones.%d.%u",
				 (int)master_pid, d);
			ret = shmk_service_open(cr->svc_name[d], &cfg,
						SHMK_SVC_CREATE | SHMK_SVC_EXCL, &cr->svc[d]);
			if (ret) {
				fprintf(stderr, PROG ": create service %s: %s\n",
					cr->svc_name[d], strerror(-ret));
				cr->svc_name[d][0] = 0;
				goto fail;
			}
		} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			ret = -errno;
			fprintf(stderr, PROG ": socketpair: %s\n", strerror(errno));
			goto fail;
		}
		cr->pid[d] = fork();
		if (cr->pid[d] < 0) {
			ret = -errno;
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			cr->pid[d] = 0;
			if (t == T_SOCK) {
				close(sv[0]);
				close(sv[1]);
			}
			goto fail;
		}
		if (cr->pid[d] == 0) {
			/*
			 * The drone leaves the master's handles alone (closing
			 * a port would release the master's loans) and ends
			 * with _exit: no atexit handler of the master runs.
			 */
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			if (pin_crew)
				pin_to((int)d + 1, n);
			if (t == T_SOCK) {
				close(sv[0]);
				for (e = 0; e < d; e++)
					close(cr->fd[e]);
				_exit(drone_sock(sv[1]));
			}
			_exit(drone_shmk(cr->svc_name[d]));
		}
		if (t == T_SOCK) {
			close(sv[1]);
			cr->fd[d] = sv[0];
		}
	}
	if (t == T_SOCK)
		return 0;
	/*
	 * A request waits for its server (crew_send()); still, wait for
	 * every drone so that no job times a start-up.  (A slot being
	 * claimed counts as a participant.)
	 */
	for (d = 0; d < n; d++) {
		ret = shmk_client_open(cr->svc[d], &cr->client[d]);
		if (ret) {
			fprintf(stderr, PROG ": client of %s: %s\n", cr->svc_name[d], strerror(-ret));
			goto fail;
		}
	}
	t0 = now_ns();
	for (d = 0; d < n; d++) {
		while (shmk_service_participants(cr->svc[d]) < 2) {
			if (!drone_alive(cr, d) ||
			    now_ns() - t0 > START_TIMEOUT_S * 1000000000ULL) {
				fprintf(stderr, PROG ": drone %u did not start\n", d);
				ret = -ETIMEDOUT;
				goto fail;
			}
			usleep(1000);
		}
	}
	return 0;
fail:
	for (d = 0; d < n; d++)
		if (cr->pid[d] > 0)
			kill(cr->pid[d], SIGTERM);
	crew_stop(cr);
	return ret;
}

/* Hand task @tk to drone @d. */
static int crew_send(struct crew *cr, unsigned int d, const struct task *tk,
		     const struct arrays *ar)
{
	struct iovec iov[3];
	void *p;
	int ret;

	if (cr->t == T_SHMK) {
		ret = shmk_pub_loan(cr->client[d], &p);
		if (ret)
			return ret;
		memcpy(p, tk, sizeof(*tk));
		/* A drone's server may still be claiming its slot. */
		ret = shmk_client_send_wait(cr->client[d], p, sizeof(*tk), NULL,
					    START_TIMEOUT_S * 1000000000LL);
		if (ret)
			shmk_pub_discard(cr->client[d], p);
		return ret;
	}
	iov[0] = (struct iovec){ (void *)tk, sizeof(*tk) };
	if (tk->op == OP_ADD) {
		iov[1] = (struct iovec){ ar->a + tk->first, tk->count * sizeof(double) };
		iov[2] = (struct iovec){ ar->b + tk->first, tk->count * sizeof(double) };
		return write_all(cr->fd[d], iov, 3);
	}
	return write_all(cr->fd[d], iov, 1);
}

/* Take drone @d's answer to task @tk. */
static int crew_recv(struct crew *cr, unsigned int d, const struct task *tk,
		     const struct arrays *ar)
{
	struct shmk_sample smp;
	struct reply rep;
	int ret;

	if (cr->t == T_SHMK) {
		for (;;) {
			ret = recv_as_told(shmk_client_receive, cr->client[d], &smp);
			if (ret != -ETIMEDOUT && ret != -EINTR)
				break;
			if (!drone_alive(cr, d))
				return -EPIPE;
		}
		if (ret)
			return ret;
		if (smp.len != sizeof(rep)) {
			shmk_sub_release(cr->client[d], &smp);
			return -EBADMSG;
		}
		memcpy(&rep, smp.data, sizeof(rep));
		shmk_sub_release(cr->client[d], &smp);
	} else {
		ret = read_all(cr->fd[d], &rep, sizeof(rep));
		if (ret)
			return ret;
		if (!rep.status) {
			if (tk->op == OP_ADD)
				ret = read_all(cr->fd[d], ar->c + tk->first,
					       tk->count * sizeof(double));
			else
				ret = read_all(cr->fd[d], ar->img + tk->first * tk->width,
					       tk->count * tk->width);
			if (ret)
				return ret;
		}
	}
	if (rep.status)
		return rep.status;
	cr->compute_ns[d] += rep.compute_ns;
	return 0;
}

/* A job: its tasks, in order. */
struct job {
	enum op op;
	uint64_t n;		/* OP_ADD: elements; OP_MANDEL: rows */
	uint64_t per_task;	/* elements or rows per task */
	uint32_t width, height, maxiter;
};

static void job_task(const struct job *j, uint64_t i, struct task *tk)
{
	uint64_t first = i * j->per_task;

	memset(tk, 0, sizeof(*tk));
	tk->op = j->op;
	tk->first = first;
	tk->count = j->n - first < j->per_task ? j->n - first : j->per_task;
	if (j->op == OP_ADD) {
		tk->in_off[0] = a_off + first * sizeof(double);
		tk->in_off[1] = b_off + first * sizeof(double);
		tk->out_off = c_off + first * sizeof(double);
	} else {
		tk->width = j->width;
		tk->height = j->height;
		tk->maxiter = j->maxiter;
		tk->out_off = img_off + first * j->width;
	}
}

/*
 * Run a job once: task i goes to drone i % D, one task in flight per
 * drone, answers taken in task order.
 * @elapsed:	the master's time from the first request to the last answer
 * @compute:	the critical path of computation: the largest sum of
 *		compute times of one drone
 */
static int job_run(struct crew *cr, const struct job *j, const struct arrays *ar,
		   uint64_t *elapsed, uint64_t *compute)
{
	uint64_t ntasks = (j->n + j->per_task - 1) / j->per_task, i, t0;
	struct task tk[DRONES_MAX];
	unsigned int d;
	int ret = 0;

	memset(cr->compute_ns, 0, sizeof(cr->compute_ns));
	t0 = now_ns();
	for (i = 0; i < ntasks && i < cr->n; i++) {
		job_task(j, i, &tk[i]);
		ret = crew_send(cr, (unsigned int)i, &tk[i], ar);
		if (ret)
			goto fail;
	}
	for (i = 0; i < ntasks; i++) {
		d = (unsigned int)(i % cr->n);
		ret = crew_recv(cr, d, &tk[d], ar);
		if (ret)
			goto fail;
		if (i + cr->n < ntasks) {
			job_task(j, i + cr->n, &tk[d]);
			ret = crew_send(cr, d, &tk[d], ar);
			if (ret)
				goto fail;
		}
	}
	*elapsed = now_ns() - t0;
	*compute = 0;
	for (d = 0; d < cr->n; d++)
		if (cr->compute_ns[d] > *compute)
			*compute = cr->compute_ns[d];
	return 0;
fail:
	fprintf(stderr, PROG ": %s, drone %u: %s\n", tname[cr->t], (unsigned int)(i % cr->n),
		strerror(-ret));
	return ret;
}

/* Tables */

struct result {
	uint64_t elapsed, compute;	/* medians over the repetitions */
	int ok;
};

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static uint64_t median(uint64_t *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 10000000000ULL)
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
	return buf;
}

static void print_cell(const struct result *r)
{
	char e[32], x[32];
	uint64_t ex;

	if (!r->ok) {
		printf(" | %10s %10s %6s", "-", "-", "-");
		return;
	}
	ex = r->elapsed > r->compute ? r->elapsed - r->compute : 0;
	printf(" | %10s %10s %5.1f%%", fmt_ns(e, sizeof(e), r->elapsed),
	       fmt_ns(x, sizeof(x), ex), r->elapsed ? 100.0 * ex / r->elapsed : 0.0);
}

/* Options */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [options]\n"
"\n"
"A master hands work to drone processes through shmk request-response,\n"
"the data staying in shared memory, then does the same with the data sent\n"
"through Unix sockets, and prints elapsed time and the time and share\n"
"spent in data exchange for 1, 2 and N drones.\n"
"\n"
"  --drones N        N drones at most (default: the CPUs it may use; 1 to %d)\n"
"  --sizes LIST      array sizes for c = a + b (default 10,1000,100000,1000000)\n"
"  --grain N         elements per request at most (default 65536)\n"
"  --mandel WxH      Mandelbrot image size (default 1024x768; \"off\": none)\n"
"  --iter N          Mandelbrot iteration limit (default 256)\n"
"  --rows N          image rows per request (default 1)\n"
"  --reps N          timed repetitions of each job, after a warm-up (default 5)\n"
"  --transport T     shmk, socket or both (default both)\n"
"  --out FILE        write the image as a PNG\n"
"  --wait MODE       how shmk's master and drones wait: adaptive (busy-poll\n"
"                    50 us, then block), spin (busy-poll, yielding the CPU\n"
"                    after 20 us), block, or auto (the default: adaptive\n"
"                    where the CPUs were idle just before, else block);\n"
"                    a crew that polls is pinned, round the CPUs, and\n"
"                    processes sharing a CPU yield it after each empty poll\n"
"  -h, --help        this text\n"
"\n"
"Exit status: 0 when every result was verified, 1 when one was wrong,\n"
"2 on usage or setup errors.\n", DRONES_MAX);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "drones", required_argument, NULL, 'd' },
		{ "sizes", required_argument, NULL, 's' },
		{ "grain", required_argument, NULL, 'g' },
		{ "mandel", required_argument, NULL, 'm' },
		{ "iter", required_argument, NULL, 'i' },
		{ "rows", required_argument, NULL, 'r' },
		{ "reps", required_argument, NULL, 'R' },
		{ "transport", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "wait", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int cpus = ncpu;
	uint64_t v, w, h;
	char *tok, *save, *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->drones = cpus > DRONES_MAX ? DRONES_MAX : cpus;
	o->sizes[0] = 10;
	o->sizes[1] = 1000;
	o->sizes[2] = 100000;
	o->sizes[3] = 1000000;
	o->nsizes = 4;
	o->grain = 65536;
	o->width = 1024;
	o->height = 768;
	o->maxiter = 256;
	o->rows = 1;
	o->reps = 5;
	o->transports = (1U << T_SHMK) | (1U << T_SOCK);

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_u64(optarg, 1, DRONES_MAX, &v))
				goto bad;
			o->drones = (unsigned int)v;
			break;
		case 's':
			o->nsizes = 0;
			for (tok = strtok_r(optarg, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (o->nsizes == SIZES_MAX ||
				    parse_u64(tok, 1, 100000000, &o->sizes[o->nsizes]))
					goto bad;
				o->nsizes++;
			}
			break;
		case 'g':
			if (parse_u64(optarg, 1, 1ULL << 26, &o->grain))
				goto bad;
			break;
		case 'm':
			if (!strcmp(optarg, "off")) {
				o->width = o->height = 0;
				break;
			}
			end = strchr(optarg, 'x');
			if (!end)
				goto bad;
			*end = 0;
			if (parse_u64(optarg, 1, 16384, &w) || parse_u64(end + 1, 1, 16384, &h))
				goto bad;
			o->width = (uint32_t)w;
			o->height = (uint32_t)h;
			break;
		case 'i':
			if (parse_u64(optarg, 1, 1U << 20, &v))
				goto bad;
			o->maxiter = (uint32_t)v;
			break;
		case 'r':
			if (parse_u64(optarg, 1, 16384, &v))
				goto bad;
			o->rows = (uint32_t)v;
			break;
		case 'R':
			if (parse_u64(optarg, 1, 1000, &v))
				goto bad;
			o->reps = (unsigned int)v;
			break;
		case 't':
			if (!strcmp(optarg, "shmk"))
				o->transports = 1U << T_SHMK;
			else if (!strcmp(optarg, "socket"))
				o->transports = 1U << T_SOCK;
			else if (!strcmp(optarg, "both"))
				o->transports = (1U << T_SHMK) | (1U << T_SOCK);
			else
				goto bad;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'W':
			for (c = 0; c < 4 && strcmp(optarg, wait_name[c]); c++)
				;
			if (c == 4) {
				c = 'W';
				goto bad;
			}
			wait_opt = (enum wait_mode)c;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	if (o->out && !o->width) {
		fprintf(stderr, PROG ": --out needs an image (--mandel WxH)\n");
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, PROG ": bad value for --%s: %s\n", lo[c == 'd' ? 0 : c == 's' ? 1 :
		c == 'g' ? 2 : c == 'm' ? 3 : c == 'i' ? 4 : c == 'r' ? 5 : c == 'R' ? 6 :
		c == 't' ? 7 : 9].name, optarg);
	return -1;
}

/* The palette: 0 black (inside the set); 1..254 from deep blue to white to orange. */
static void make_palette(uint8_t pal[256][3])
{
	int i;

	memset(pal, 0, 256 * 3);
	for (i = 1; i < 256; i++) {
		double t = (i - 1) / 253.0, u = 1.0 - t;

		/* Bernstein-like ramps: r rises late, g in the middle, b early. */
		pal[i][0] = (uint8_t)(9.0 * u * t * t * t * 255.0 + 0.5 > 255 ? 255 :
				      9.0 * u * t * t * t * 255.0 + 0.5);
		pal[i][1] = (uint8_t)(15.0 * u * u * t * t * 255.0 + 0.5 > 255 ? 255 :
				      15.0 * u * u * t * t * 255.0 + 0.5);
		pal[i][2] = (uint8_t)(8.5 * u * u * u * t * 255.0 + 0.5 > 255 ? 255 :
				      8.5 * u * u * u * t * 255.0 + 0.5);
	}
}

/* The jobs of one table, in row order. */
struct row {
	struct job job;
	const char *name;
	uint64_t size;
	const void *expect;	/* the master's own result */
	size_t expect_bytes;
};

int main(int argc, char **argv)
{
	struct result res[SIZES_MAX + 1][3][T_COUNT];
	unsigned int nd = 0, dlist[3], nrows = 0, ri, di, rep, t;
	struct row rows[SIZES_MAX + 1];
	struct arrays sh_ar, priv_ar, *ar;
	uint64_t nmax = 0, *el, *co, single_ns = 0;
	double *expect_c[SIZES_MAX];
	uint8_t *expect_img = NULL;
	int failed = 0, ret;
	double worst = 0;		/* the largest shmk / socket of the goal */
	enum wait_mode crew_wait[3] = { WAIT_AUTO, WAIT_AUTO, WAIT_AUTO };
	double crew_busy[3] = { 0, 0, 0 };
	unsigned int ngoal = 0;
	struct opts o;
	struct crew cr;
	const char *backend;
	char buf[32];

	/* The CPUs this program may use: cpuset and taskset count. */
	if (sched_getaffinity(0, sizeof(cpus_allowed), &cpus_allowed) ||
	    !CPU_COUNT(&cpus_allowed)) {
		CPU_ZERO(&cpus_allowed);
		CPU_SET(0, &cpus_allowed);
	}
	ncpu = (unsigned int)CPU_COUNT(&cpus_allowed);
	if (parse_opts(argc, argv, &o))
		return 2;
	master_pid = getpid();
	for (ri = 0; ri < o.nsizes; ri++)
		if (o.sizes[ri] > nmax)
			nmax = o.sizes[ri];

	/* 1, 2 and N drones */
	dlist[nd++] = 1;
	if (o.drones >= 2)
		dlist[nd++] = 2;
	if (o.drones > 2)
		dlist[nd++] = o.drones;

	/* The data region: a, b, c, then the image, page-aligned each. */
	a_off = 0;
	b_off = align_up(a_off + nmax * sizeof(double), 4096);
	c_off = align_up(b_off + nmax * sizeof(double), 4096);
	img_off = align_up(c_off + nmax * sizeof(double), 4096);
	data_bytes = img_off + (uint64_t)o.width * o.height;
	snprintf(data_name, sizeof(data_name), "drones.%d", (int)master_pid);
	atexit(remove_names);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ret = shmk_region_create(data_name, data_bytes, 0600, 0, &data_reg);
	if (ret) {
		fprintf(stderr, PROG ": create region %s (%" PRIu64 " bytes): %s\n",
			data_name, data_bytes, strerror(-ret));
		data_name[0] = 0;
		return 2;
	}
	{
		unsigned char *base = shmk_region_base(data_reg);

		sh_ar = (struct arrays){ (double *)(base + a_off), (double *)(base + b_off),
					 (double *)(base + c_off), base + img_off };
	}
	priv_ar.a = malloc(nmax * sizeof(double));
	priv_ar.b = malloc(nmax * sizeof(double));
	priv_ar.c = malloc(nmax * sizeof(double));
	priv_ar.img = malloc((size_t)o.width * o.height + 1);
	el = calloc(o.reps, sizeof(*el));
	co = calloc(o.reps, sizeof(*co));
	if (!priv_ar.a || !priv_ar.b || !priv_ar.c || !priv_ar.img || !el || !co) {
		fprintf(stderr, PROG ": out of memory\n");
		return 2;
	}
	/* The inputs are the same in both places; only c and img are results. */
	fill_inputs(priv_ar.a, priv_ar.b, nmax);
	fill_inputs(sh_ar.a, sh_ar.b, nmax);

	/* The jobs and their expected results, computed here. */
	for (ri = 0; ri < o.nsizes; ri++) {
		uint64_t n = o.sizes[ri], per = (n + o.drones - 1) / o.drones;

		expect_c[ri] = malloc(n * sizeof(double));
		if (!expect_c[ri]) {
			fprintf(stderr, PROG ": out of memory\n");
			return 2;
		}
		add_slice(expect_c[ri], priv_ar.a, priv_ar.b, n);
		rows[nrows++] = (struct row){
			.job = { .op = OP_ADD, .n = n,
				 .per_task = per < o.grain ? per : o.grain },
			.name = "a+b", .size = n,
			.expect = expect_c[ri], .expect_bytes = n * sizeof(double),
		};
	}
	if (o.width) {
		expect_img = malloc((size_t)o.width * o.height);
		if (!expect_img) {
			fprintf(stderr, PROG ": out of memory\n");
			return 2;
		}
		single_ns = now_ns();
		mandel_rows(expect_img, o.width, o.height, 0, o.height, o.maxiter);
		single_ns = now_ns() - single_ns;
		rows[nrows++] = (struct row){
			.job = { .op = OP_MANDEL, .n = o.height, .per_task = o.rows,
				 .width = o.width, .height = o.height, .maxiter = o.maxiter },
			.name = "mandel", .size = (uint64_t)o.width * o.height,
			.expect = expect_img, .expect_bytes = (size_t)o.width * o.height,
		};
	}

	memset(res, 0, sizeof(res));
	for (t = 0; t < T_COUNT; t++) {
		if (!(o.transports & (1U << t)))
			continue;
		ar = t == T_SHMK ? &sh_ar : &priv_ar;
		for (di = 0; di < nd; di++) {
			/*
			 * Decided once per crew size, before its first run, so
			 * that its socket run is placed as its shmk run; the
			 * drones inherit wait_mode when they are forked.
			 */
			if (crew_wait[di] == WAIT_AUTO) {
				crew_wait[di] = wait_opt;
				if (wait_opt == WAIT_AUTO) {
					crew_busy[di] = cpus_busy();
					crew_wait[di] = crew_busy[di] <= AUTO_BUSY_MAX ?
							WAIT_ADAPTIVE : WAIT_BLOCK;
				}
			}
			wait_mode = crew_wait[di];
			if (crew_start(&cr, t, dlist[di]))
				return 2;
			for (ri = 0; ri < nrows; ri++) {
				struct result *r = &res[ri][di][t];
				void *out = rows[ri].job.op == OP_ADD ? (void *)ar->c : ar->img;

				/* Rep 0 is the warm-up: page faults, caches. */
				for (rep = 0; rep <= o.reps; rep++) {
					uint64_t e, c;

					/* All ones: no result bit pattern (NaN; index 255). */
					memset(out, 0xff, rows[ri].expect_bytes);
					if (job_run(&cr, &rows[ri].job, ar, &e, &c)) {
						crew_stop(&cr);
						return 2;
					}
					if (memcmp(out, rows[ri].expect, rows[ri].expect_bytes)) {
						fprintf(stderr, PROG ": %s, %s %" PRIu64 ", %u drones: "
							"WRONG RESULT\n", tname[t], rows[ri].name,
							rows[ri].size, dlist[di]);
						failed = 1;
						break;
					}
					if (rep) {
						el[rep - 1] = e;
						co[rep - 1] = c;
					}
				}
				if (rep > o.reps) {
					r->ok = 1;
					r->elapsed = median(el, o.reps);
					r->compute = median(co, o.reps);
				}
			}
			crew_stop(&cr);
		}
	}

	backend = shmk_region_backend(data_reg) == SHMK_BACKEND_DEVICE ? "device" : "memfd";
	printf("drones: %u CPUs, shmk backend %s, median of %u runs after a warm-up\n",
	       ncpu, backend, o.reps);
	printf("exchange = elapsed - the busiest drone's compute time; share = exchange / elapsed\n");
	if (o.width)
		printf("mandel %ux%u, %u iterations, %u row(s) per request; one process alone: %s\n",
		       o.width, o.height, o.maxiter, o.rows, fmt_ns(buf, sizeof(buf), single_ns));
	printf("shmk waits (--wait %s):", wait_name[wait_opt]);
	for (di = 0; di < nd; di++) {
		printf(" %s%s with %u drone%s", wait_name[crew_wait[di]],
		       crew_wait[di] == WAIT_BLOCK ? "" :
		       dlist[di] + 1 <= ncpu ? " pinned" : " pinned, sharing CPUs",
		       dlist[di], dlist[di] > 1 ? "s" : "");
		if (wait_opt == WAIT_AUTO)
			printf(" (%.2f CPUs busy)", crew_busy[di]);
		printf("%s", di + 1 < nd ? "," : "\n");
	}
	printf("(adaptive: busy-poll 50 us, then a blocking receive; spin: busy-poll; "
	       "block: blocking receives;\n pinned: the master and drone d on the 1st "
	       "and (d+2)th CPU, round again when\n there are more, socket runs too; "
	       "processes sharing a CPU yield it after each empty poll)\n");
	printf("\n%-6s %9s %6s | %-30s | %-30s | %s\n", "work", "size", "drones",
	       "shmk: elapsed  exchange  share", "socket: elapsed exchange share",
	       "shmk/socket");
	for (ri = 0; ri < nrows; ri++) {
		for (di = 0; di < nd; di++) {
			const struct result *rs = &res[ri][di][T_SHMK], *ro = &res[ri][di][T_SOCK];

			printf("%-6s %9" PRIu64 " %6u", rows[ri].name, rows[ri].size, dlist[di]);
			for (t = 0; t < T_COUNT; t++)
				print_cell(&res[ri][di][t]);
			if (rs->ok && ro->ok && ro->elapsed) {
				double q = (double)rs->elapsed / (double)ro->elapsed;

				printf(" | %6.2fx", q);
				/* Issue 12's goal: the a+b jobs, 1 and 2 drones. */
				if (rows[ri].job.op == OP_ADD && dlist[di] <= 2) {
					worst = q > worst ? q : worst;
					ngoal++;
				}
			}
			printf("\n");
		}
	}
	if (ngoal)
		printf("\ngoal: a+b with 1 and 2 drones, every size: at worst %.2fx the Unix-socket "
		       "time (goal: at most %.2fx): %s\n", worst, DRONES_GOAL,
		       worst <= DRONES_GOAL ? "met" : "missed");

	if (o.out && !failed) {
		uint8_t pal[256][3];

		make_palette(pal);
		/* The drones' image, identical to expect_img (verified). */
		ret = png_write_indexed(o.out, o.width, o.height,
					o.transports & (1U << T_SHMK) ? sh_ar.img : priv_ar.img,
					pal);
		if (ret) {
			fprintf(stderr, PROG ": write %s: %s\n", o.out, strerror(-ret));
			return 2;
		}
		printf("\nimage: %s (%ux%u)\n", o.out, o.width, o.height);
	}
	printf("%s\n", failed ? "verification FAILED" : "all results verified");

	shmk_region_close(data_reg);
	for (ri = 0; ri < o.nsizes; ri++)
		free(expect_c[ri]);
	free(expect_img);
	free(priv_ar.a);
	free(priv_ar.b);
	free(priv_ar.c);
	free(priv_ar.img);
	free(el);
	free(co);
	return failed;
}
