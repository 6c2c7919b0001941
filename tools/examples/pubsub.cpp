// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pubsub.cpp: typed zero-copy publish-subscribe with <shmk/shmk.hpp>.
 *
 *   pubsub-cpp [COUNT]    a publisher and a subscriber process (fork):
 *                         COUNT poses (default 5), then a batch of 16
 *
 * The publisher loans a Pose in place, fills it and publishes it; the
 * subscriber gets a sample pointing at the same chunk.  Then a batch of
 * poses in one chunk, loaned as a span (a slice).  Ports, loans and samples clean up after
 * themselves; errors are exceptions (shmk::error) that name the call
 * and, where the library can, the reason.
 *
 * Build: g++ -std=c++17 pubsub.cpp $(pkg-config --cflags --libs libshmk)
 */
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <shmk/shmk.hpp>

struct Pose {
	double x, y, z;
	uint64_t frame;
};

static int subscribe(const shmk::service &svc, int count)
{
	shmk::subscriber<Pose> sub(svc);

	for (int i = 0; i < count; i++) {
		auto pose = sub.receive(std::chrono::seconds(5));

		if (!pose) {
			std::fprintf(stderr, "subscriber: nothing after 5 s\n");
			return 1;
		}
		std::printf("subscriber: frame %llu at (%.1f, %.1f, %.1f)\n",
			    (unsigned long long)pose->get()->frame, (*pose)->x,
			    (*pose)->y, (*pose)->z);
	}	/* each sample is released at the end of its iteration */
	auto slice = sub.receive_slice(std::chrono::seconds(5));
	if (!slice)
		return 1;
	uint64_t frames = 0;
	for (const Pose &p : *slice)
		frames += p.frame;
	std::printf("subscriber: a batch of %zu poses, frames summing to %llu\n",
		    slice->size(), (unsigned long long)frames);
	return 0;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? std::atoi(argv[1]) : 5;
	std::string name = "cxx-example." + std::to_string(getpid());

	try {
		shmk::config cfg(SHMK_SVC_PUBSUB);
		cfg.payload_max = 4096;
		cfg.buffer = 16;
		auto svc = shmk::service::open(name, cfg, SHMK_SVC_CREATE | SHMK_SVC_EXCL);
		shmk::publisher<Pose> pub(svc);

		std::fflush(nullptr);
		pid_t child = fork();
		if (child < 0)
			return 1;
		if (child == 0) {
			/* The child opens its own handle, as another program would. */
			auto mine = shmk::service::open(name, cfg, 0);
			int ret = subscribe(mine, count);

			std::fflush(nullptr);
			_exit(ret);
		}
		while (svc.participants() < 2)		/* the subscriber is up */
			usleep(1000);
		for (int i = 0; i < count; i++) {
			auto pose = pub.loan();		/* a chunk, in place */
			*pose = Pose{0.5 * i, 1.0 * i, 2.0 * i, (uint64_t)i};
			pub.publish(std::move(pose), shmk::forever);
		}
		auto batch = pub.loan_slice(16);	/* 16 poses, a span */
		for (size_t i = 0; i < batch.size(); i++)
			batch[i] = Pose{0, 0, 0, (uint64_t)i};
		pub.publish(std::move(batch), shmk::forever);
		pub.drain(std::chrono::seconds(5));

		int st;
		if (waitpid(child, &st, 0) != child || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			return 1;
		std::printf("publisher: %d poses and a batch delivered\n", count);
	} catch (const shmk::error &e) {
		std::fprintf(stderr, "pubsub-cpp: %s\n", e.what());
		return 1;
	}
	return 0;
}
