// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmk's USDT probes (lib/probes.h) fire, with the right arguments:
 * gdb (break -probe-stap) runs this program's --child mode, which loans,
 * publishes, receives and releases one sample on the memfd backend, and
 * prints each probe's arguments; the test checks that every probe fired
 * once, for the same chunk, slot and service.
 *
 * Plain phase only (run.sh, after "--"): gdb drives a plain child.  When
 * the library was built without <sys/sdt.h> (the same __has_include as
 * lib/probes.h decides it), or gdb is missing or may not trace (no
 * ptrace), the test says so and skips; otherwise a probe that does not
 * fire, or fires with other arguments, fails it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "probes.h"

static char self_path[4096];

/* One sample through a fresh service; prints its name for the parent. */
static int child(void)
{
	struct shmk_svc_config c = {
		.size = sizeof(c), .kind = SHMK_SVC_PUBSUB, .payload_max = 64,
	};
	struct shmk_service *s;
	struct shmk_port *pub, *sub;
	struct shmk_sample smp;
	char name[SHMK_SVC_NAME_MAX];
	void *buf;

	snprintf(name, sizeof(name), "usdt.%d", (int)getpid());
	if (shmk_service_open(name, &c, SHMK_SVC_CREATE | SHMK_SVC_EXCL, &s) ||
	    shmk_pub_open(s, &pub) || shmk_sub_open(s, &sub) ||
	    shmk_pub_loan(pub, &buf))
		return 1;
	memcpy(buf, "probe", 6);
	if (shmk_pub_publish(pub, buf, 6, 0) || shmk_sub_receive(sub, &smp, 0) ||
	    shmk_sub_release(sub, &smp))
		return 1;
	printf("child service svc.%s\n", name);
	shmk_port_close(sub);
	shmk_port_close(pub);
	shmk_service_close(s);
	return 0;
}

/* Run gdb on the child with a printing breakpoint per probe. */
static int run_gdb(char *out, size_t len)
{
	static const char script[] =
		"set pagination off\n"
		"set confirm off\n"
		"set startup-with-shell off\n"
		"set breakpoint pending on\n"
		"break -probe-stap libshmk:loan\n"
		"commands\nsilent\n"
		"printf \"probe loan svc=%s slot=%d chunk=%d\\n\", $_probe_arg0, $_probe_arg1, $_probe_arg2\n"
		"continue\nend\n"
		"break -probe-stap libshmk:publish\n"
		"commands\nsilent\n"
		"printf \"probe publish svc=%s slot=%d pos=%llu len=%llu chunk=%d\\n\", $_probe_arg0, $_probe_arg1, $_probe_arg2, $_probe_arg3, $_probe_arg4\n"
		"continue\nend\n"
		"break -probe-stap libshmk:receive\n"
		"commands\nsilent\n"
		"printf \"probe receive svc=%s slot=%d origin=%d pos=%llu len=%llu chunk=%d\\n\", $_probe_arg0, $_probe_arg1, $_probe_arg2, $_probe_arg3, $_probe_arg4, $_probe_arg5\n"
		"continue\nend\n"
		"break -probe-stap libshmk:release\n"
		"commands\nsilent\n"
		"printf \"probe release svc=%s slot=%d chunk=%d\\n\", $_probe_arg0, $_probe_arg1, $_probe_arg2\n"
		"continue\nend\n"
		"run\n";
	char tmpl[] = "/tmp/shmk-usdt.XXXXXX", cmd[8192];
	FILE *f, *p;
	size_t n = 0;
	int fd;

	fd = mkstemp(tmpl);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	fputs(script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "SHMK_BACKEND=memfd gdb -nx -batch -x %s --args %s --child 2>&1",
		 tmpl, self_path);
	p = popen(cmd, "r");
	if (!p) {
		unlink(tmpl);
		return -errno;
	}
	while (n + 1 < len && fgets(out + n, (int)(len - n), p))
		n += strlen(out + n);
	out[n] = 0;
	pclose(p);
	unlink(tmpl);
	return 0;
}

static void every_probe_fires(void **state)
{
	static char out[1 << 16];
	char svc[128], *line;
	unsigned int sl, sp, sr, sre, origin, cl, cp, cr, cre;
	unsigned long long pos, pos2, len, len2;
	char s1[128], s2[128], s3[128], s4[128];

	(void)state;
	if (system("command -v gdb >/dev/null 2>&1")) {
		print_message("test_usdt: no gdb: skipped\n");
		skip();
	}
	assert_int_equal(run_gdb(out, sizeof(out)), 0);
	if (strstr(out, "ptrace:") || strstr(out, "Operation not permitted")) {
		print_message("test_usdt: gdb may not trace here: skipped\n%s", out);
		skip();
	}
	/*
	 * The library was built with the same test as lib/probes.h: with
	 * <sys/sdt.h> there, a probe gdb cannot find is a failure.
	 */
#ifndef SHMK_HAVE_USDT
	print_message("test_usdt: built without <sys/sdt.h>: skipped\n");
	skip();
#endif
	line = strstr(out, "child service ");
	if (!line)
		fail_msg("the child did not finish:\n%s", out);
	assert_int_equal(sscanf(line, "child service %127s", svc), 1);
	line = strstr(out, "probe loan ");
	if (!line || sscanf(line, "probe loan svc=%127s slot=%u chunk=%u", s1, &sl, &cl) != 3)
		fail_msg("no loan probe:\n%s", out);
	line = strstr(out, "probe publish ");
	if (!line || sscanf(line, "probe publish svc=%127s slot=%u pos=%llu len=%llu chunk=%u",
			    s2, &sp, &pos, &len, &cp) != 5)
		fail_msg("no publish probe:\n%s", out);
	line = strstr(out, "probe receive ");
	if (!line || sscanf(line, "probe receive svc=%127s slot=%u origin=%u pos=%llu len=%llu chunk=%u",
			    s3, &sr, &origin, &pos2, &len2, &cr) != 6)
		fail_msg("no receive probe:\n%s", out);
	line = strstr(out, "probe release ");
	if (!line || sscanf(line, "probe release svc=%127s slot=%u chunk=%u", s4, &sre, &cre) != 3)
		fail_msg("no release probe:\n%s", out);
	/* Each fired once, for the one sample. */
	assert_null(strstr(strstr(out, "probe loan ") + 1, "probe loan "));
	assert_null(strstr(strstr(out, "probe publish ") + 1, "probe publish "));
	assert_string_equal(s1, svc);
	assert_string_equal(s2, svc);
	assert_string_equal(s3, svc);
	assert_string_equal(s4, svc);
	assert_int_equal(sl, sp);		/* the publisher's slot */
	assert_int_equal(origin, sp);
	assert_int_equal(sr, sre);		/* the subscriber's slot */
	assert_int_not_equal(sr, sp);
	assert_int_equal(cl, cp);
	assert_int_equal(cp, cr);
	assert_int_equal(cr, cre);
	assert_int_equal(pos, pos2);
	assert_int_equal(len, 6);
	assert_int_equal(len2, 6);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_probe_fires),
	};
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child();
	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = 0;
	return cmocka_run_group_tests_name("usdt", tests, NULL, NULL);
}
