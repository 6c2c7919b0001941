/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmkctl: what its files share.
 *
 *   shmkctl.c    regions (list, info, create, remove, top), main
 *   services.c   services (service list, info, create, remove), the
 *                services part of top
 *   ports.c      commands that take part in a service: echo, publish,
 *                notify, listen, hz, record, replay (and the record file)
 */
#ifndef SHMKCTL_H
#define SHMKCTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROG		"shmkctl"

/* Exit codes; shmkctl(8) lists them. */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* any other failure */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_NODEV = 3,		/* backend unavailable: no /dev/shmk */
	EXIT_NOENT = 4,		/* no such region or service */
	EXIT_PERM = 5,		/* permission denied */
	EXIT_EXIST = 6,		/* region or service already exists */
	EXIT_KIND = 7,		/* the service's kind or size does not fit */
	EXIT_TIMEOUT = 8,	/* --timeout passed before --count was reached */
	EXIT_BADFILE = 9,	/* not a record file, or a corrupt one */
};

extern bool opt_json;
extern int backend;		/* SHMK_BACKEND_DEVICE or _MEMFD */
extern volatile sig_atomic_t stop;	/* SIGINT or SIGTERM came */

int exit_code(int err);
int fail(int err, const char *what);
const char *backend_name(void);
void json_str(const char *s);
void json_bytes(const void *p, size_t n);
const char *human(uint64_t b, char *buf, size_t len);
void catch_signals(void);

/* Option parsing helpers: print the error and return false. */
bool parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi,
	       uint64_t *out);
bool parse_seconds(const char *opt, const char *s, double lo, double hi,
		   double *out);

/* services.c */
int cmd_service(int argc, char **argv);
int cmd_services(void);
/* top: one compact table, or a ,"services":[...] member. */
void top_services(bool json);

/* ports.c */
int cmd_echo(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_notify(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_hz(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);

/*
 * --create and the configuration options of the commands that take part
 * in a service (services.c parses them): the service is created when it
 * is missing, and lives as long as some process has it open.
 */
enum {
	OPT_CREATE = 1000, OPT_PAYLOAD, OPT_PUBLISHERS, OPT_SUBSCRIBERS,
	OPT_BUFFER, OPT_HISTORY, OPT_OVERFLOW, OPT_EVENTS, OPT_MODE,
	OPT_ZERO_TRUST, OPT_DYNAMIC,
};

#define CREATE_OPTIONS							\
	{ "create", no_argument, NULL, OPT_CREATE },			\
	{ "payload", required_argument, NULL, OPT_PAYLOAD },		\
	{ "publishers", required_argument, NULL, OPT_PUBLISHERS },	\
	{ "subscribers", required_argument, NULL, OPT_SUBSCRIBERS },	\
	{ "buffer", required_argument, NULL, OPT_BUFFER },		\
	{ "history", required_argument, NULL, OPT_HISTORY },		\
	{ "overflow", required_argument, NULL, OPT_OVERFLOW },		\
	{ "events", required_argument, NULL, OPT_EVENTS },		\
	{ "mode", required_argument, NULL, OPT_MODE },			\
	{ "zero-trust", no_argument, NULL, OPT_ZERO_TRUST },		\
	{ "dynamic", no_argument, NULL, OPT_DYNAMIC }

struct create_opts {
	bool create;		/* --create */
	bool configured;	/* a configuration option was given */
	uint32_t payload_max, publishers, subscribers, buffer, history,
		 overflow, events, mode;
	uint32_t mode_flags;	/* SHMK_SVC_ZERO_TRUST, SHMK_SVC_DYNAMIC */
};

/* One of CREATE_OPTIONS: EXIT_OK, or EXIT_USAGE (message printed). */
int create_opt(int c, const char *arg, struct create_opts *o);

/*
 * Open service @name for command @cmd, which needs @kind (0: any);
 * with @o->create, create it when missing.  Prints the error, returns
 * the exit code.
 */
struct shmk_service;
int svc_open(const char *name, unsigned int kind, const char *cmd,
	     const struct create_opts *o, struct shmk_service **out);

#endif /* SHMKCTL_H */
