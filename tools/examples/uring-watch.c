// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uring-watch: one io_uring waits on a shmk word and a socket at once.
 *
 * The program makes an unnamed region and a socket pair, arms a watch
 * on word 0 (SHMK_IOC_WATCH), and submits IORING_OP_POLL_ADD for the
 * region fd and for the socket.  A child process then bumps word 0 and
 * wakes it, and later writes to the socket; the parent reaps both
 * completions from the ring, in whatever order they come, and prints
 * them.  No thread and no timeout is involved: the ring is the one
 * place the parent sleeps.
 *
 * usage: uring-watch          (needs /dev/shmk)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/shmk.h>

enum { TAG_SHMK = 1, TAG_SOCKET = 2 };

static int die(const char *what, int err)
{
	fprintf(stderr, "uring-watch: %s: %s\n", what, strerror(err));
	return 1;
}

static void child(int fd, _Atomic uint32_t *word, int sock)
{
	struct shmk_wake k = { .size = sizeof(k), .count = 1,
			       .bitset = SHMK_BITSET_ANY };

	usleep(100000);
	/* Release: the parent's acquire load after the wake sees 1. */
	atomic_store_explicit(word, 1, memory_order_release);
	/* The watch is signalled; watches are not counted: 0 tasks woke. */
	if (ioctl(fd, SHMK_IOC_WAKE, &k) != 0)
		_exit(1);
	usleep(100000);
	_exit(write(sock, "ping", 4) == 4 ? 0 : 2);
}

int main(void)
{
	struct shmk_create c = { .size = sizeof(c), .bytes = 1, .mode = 0600 };
	struct shmk_unlink u = { .size = sizeof(u) };
	struct shmk_watch w = { .size = sizeof(w), .offset = 0,
				.bitset = SHMK_BITSET_ANY };
	_Atomic uint32_t *word;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int dev, fd, sv[2], i, ret, status;
	char buf[8];
	pid_t pid;

	dev = open(SHMK_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return die(SHMK_DEVICE_PATH, errno);
	snprintf(c.name, sizeof(c.name), "uring-watch-%d", getpid());
	memcpy(u.name, c.name, sizeof(u.name));
	fd = ioctl(dev, SHMK_IOC_CREATE, &c);
	if (fd < 0)
		return die("create", errno);
	/* Only this process and its child need it: drop the name. */
	ioctl(dev, SHMK_IOC_UNLINK, &u);
	word = mmap(NULL, SHMK_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	if (word == MAP_FAILED)
		return die("mmap", errno);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return die("socketpair", errno);
	if (ioctl(fd, SHMK_IOC_WATCH, &w))
		return die("watch", errno);

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret < 0)
		return die("io_uring_queue_init", -ret);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG_SHMK);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, sv[0], POLLIN);
	io_uring_sqe_set_data64(sqe, TAG_SOCKET);
	ret = io_uring_submit(&ring);
	if (ret != 2)
		return die("io_uring_submit", ret < 0 ? -ret : EIO);
	printf("waiting in io_uring on shmk word 0 and on a socket\n");

	pid = fork();
	if (pid == 0)
		child(fd, word, sv[1]);

	for (i = 0; i < 2; i++) {
		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret < 0)
			return die("io_uring_wait_cqe", -ret);
		if (io_uring_cqe_get_data64(cqe) == TAG_SHMK) {
			/* ACK re-arms the watch; then read the word. */
			ret = ioctl(fd, SHMK_IOC_ACK);
			printf("completion: shmk watch, revents 0x%x, word 0 = %u, ack %d\n",
			       cqe->res, atomic_load_explicit(word,
							      memory_order_acquire),
			       ret);
		} else {
			ssize_t n = read(sv[0], buf, sizeof(buf) - 1);

			buf[n > 0 ? n : 0] = 0;
			printf("completion: socket, revents 0x%x, read \"%s\"\n",
			       cqe->res, buf);
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : 1;
}
