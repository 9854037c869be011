/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests config.c: defaults, every option in both spellings, the legacy -o
 * form, every rejection (its exact one line on stderr and -EINVAL), the
 * --print-capabilities JSON, config_digest() stability, and the golden
 * command lines in tests/config/ (NAME.conf: one argument per line; NAME.ok:
 * config_print() output, or the error line). Usage: test_config [GOLDEN_DIR].
 * PHX_GOLDEN_REGEN=1 rewrites the .ok files (review the diff!).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../tap.h"
#include "config.h"

#define MAX_ARGS 64

static struct config cfg;

/* Runs fn with fd (1 or 2) going to a temp file; returns what it wrote. */
static char *
capture(int fd, int (*fn)(void *), void *arg, int *ret)
{
	static char buf[16384];
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	fflush(stdout);
	fflush(stderr);
	saved = dup(fd);
	dup2(fileno(tmp), fd);
	*ret = fn(arg);
	fflush(stdout);
	fflush(stderr);
	dup2(saved, fd);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

struct argv_buf {
	int argc;
	char *argv[MAX_ARGS];
	char store[8192];
};

/* Splits a command line at spaces ("phoenixfsd" is prepended). */
static void
split(struct argv_buf *a, const char *line)
{
	char *save = NULL;

	snprintf(a->store, sizeof(a->store), "%s", line);
	a->argc = 0;
	a->argv[a->argc++] = "phoenixfsd";
	for (char *t = strtok_r(a->store, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		a->argv[a->argc++] = t;
	a->argv[a->argc] = NULL;
}

static int
do_parse(void *arg)
{
	struct argv_buf *a = arg;

	return config_parse(&cfg, a->argc, a->argv);
}

/* Parses line; returns config_parse's value and sets *err to stderr. */
static int
parse(const char *line, const char **err)
{
	static struct argv_buf a;
	int r;

	split(&a, line);
	*err = capture(2, do_parse, &a, &r);
	return r;
}

static void
valid(const char *line)
{
	const char *err;
	int r = parse(line, &err);

	if (!ok(r == 0 && err[0] == '\0', "accepts: %s", line))
		diag("returned %d, stderr: %s", r, err);
}

static void
invalid(const char *line, const char *msg)
{
	char want[600];
	const char *err;
	int r = parse(line, &err);

	snprintf(want, sizeof(want), "phoenixfsd: %s\n", msg);
	if (!ok(r == -EINVAL && strcmp(err, want) == 0, "rejects: %s", line))
		diag("returned %d, stderr '%s', want '%s'", r, err, want);
}

static void
test_defaults(void)
{
	valid("--shared-dir / --socket-path /run/s");
	is_int(cfg.action, CONFIG_RUN, "default action run");
	is_str(cfg.shared_dir, "/", "shared dir");
	is_str(cfg.socket_path, "/run/s", "socket path");
	is_int(cfg.socket_fd, -1, "no fd");
	is_int(cfg.cache, CONFIG_CACHE_AUTO, "cache auto");
	is_int(cfg.sandbox, CONFIG_SANDBOX_NAMESPACE, "sandbox namespace");
	is_int(cfg.seccomp, CONFIG_SECCOMP_KILL, "seccomp kill");
	is_int(cfg.inode_file_handles, CONFIG_IFH_NEVER, "ifh never");
	is_int(cfg.thread_pool_size, 0, "thread pool 0");
	is_int(cfg.num_request_queues, 1, "1 queue");
	is_int(cfg.log_level, LOG_LEVEL_INFO, "log info");
	ok(!cfg.xattr && !cfg.readonly && !cfg.writeback && !cfg.use_syslog,
	    "xattr, readonly, writeback, syslog off");
	ok(cfg.announce_submounts && cfg.readdirplus && cfg.journal,
	    "announce_submounts, readdirplus, journal on");
	ok(!cfg.no_posix_lock && !cfg.no_flock, "posix locks and flock on");
	is_int(cfg.max_inodes, 1 << 20, "max_inodes");
	is_int(cfg.max_handles, 1 << 16, "max_handles");
	is_int(cfg.watchdog_ms, 5000, "watchdog_ms");
	is_int(cfg.poll_max_us, 200, "poll_max_us");
	is_int(cfg.quarantine_crashes, 3, "quarantine_crashes");
	is_int(cfg.degrade_after, 5, "degrade_after");
	is_int(cfg.rlimit_nofile, 0, "rlimit_nofile");
}

static void
test_spellings(void)
{
	valid("--shared-dir=/ --socket-path=/run/s --cache=always");
	is_int(cfg.cache, CONFIG_CACHE_ALWAYS, "--cache=always");
	valid("--shared-dir / --socket-path /run/s --cache metadata");
	is_int(cfg.cache, CONFIG_CACHE_METADATA, "--cache metadata");
	valid("--shared-dir / --socket-path /run/s --cache NEVER");
	ok(cfg.cache == CONFIG_CACHE_NEVER && !cfg.readdirplus,
	    "--cache NEVER (case-insensitive), no readdirplus");
	valid("--shared-dir /usr/../ --socket-path x");
	is_str(cfg.shared_dir, "/", "shared dir canonicalised");
	valid("--shared-dir / --socket-path x --inode-file-handles=fallback");
	is_int(cfg.inode_file_handles, CONFIG_IFH_PREFER, "fallback = prefer");
	valid("--shared-dir / --socket-path x --log-level warn -d");
	is_int(cfg.log_level, LOG_LEVEL_DEBUG, "-d = debug");
	valid("--shared-dir / --socket-path x --debug --log-level=error");
	is_int(cfg.log_level, LOG_LEVEL_ERR, "last of --debug/--log-level");
	valid("--shared-dir / --socket-path x --xattr --no-xattr");
	ok(!cfg.xattr, "--no-xattr after --xattr");
	valid("--shared-dir / --socket-path x --posix-acl");
	ok(cfg.xattr && cfg.posix_acl, "--posix-acl implies xattr");
	valid("--shared-dir / --socket-path x --security-label");
	ok(cfg.xattr && cfg.security_label, "--security-label implies xattr");
	valid("--shared-dir / --socket-path x --xattrmap "
	      ":prefix:all::user.virtiofs.::bad:all:::");
	ok(cfg.xattr, "--xattrmap implies xattr");
	valid("--shared-dir / --socket-path x --no-announce-submounts");
	ok(!cfg.announce_submounts, "--no-announce-submounts");
	valid("--shared-dir / --socket-path x --translate-uid guest:0:1000:1 "
	      "--translate-uid=forbid-guest:5:10");
	is_str(cfg.translate_uid, "guest:0:1000:1 forbid-guest:5:10",
	    "--translate-uid repeats");
	valid("--shared-dir / --socket x --seccomp none --sandbox none -f");
	ok(cfg.seccomp == CONFIG_SECCOMP_NONE &&
		cfg.sandbox == CONFIG_SANDBOX_NONE && cfg.foreground,
	    "--seccomp none --sandbox none -f");
	is_str(cfg.socket_path, "x", "--socket (deprecated) = --socket-path");
	valid("--shared-dir / --socket-path x --pid-file rel.pid");
	ok(cfg.pid_file[0] == '/' &&
		strcmp(cfg.pid_file + strlen(cfg.pid_file) - 8, "/rel.pid") ==
		    0,
	    "relative --pid-file made absolute");
	valid("--shared-dir / --socket-path x --migration-mode file-handles "
	      "--migration-verify-handles");
	valid("--shared-dir / --socket-path x -- ");
}

static void
test_legacy(void)
{
	valid("-o source=/,cache=none,xattr,no_flock,no_posix_lock "
	      "--socket-path=x");
	ok(strcmp(cfg.shared_dir, "/") == 0 &&
		cfg.cache == CONFIG_CACHE_NEVER && cfg.xattr,
	    "-o source,cache=none,xattr");
	valid("-osource=/ -o log_level=debug -o writeback,readonly "
	      "-o sandbox=chroot,announce_submounts,killpriv_v2 "
	      "--socket-path x");
	ok(cfg.log_level == LOG_LEVEL_DEBUG && cfg.writeback && cfg.readonly &&
		cfg.sandbox == CONFIG_SANDBOX_CHROOT && cfg.killpriv_v2,
	    "several -o, -oVALUE");
	valid("-o source=/,timeout=0.5,max_idle_threads=10,norace,allow_root "
	      "-o vhost_user_socket=/run/v.sock");
	is_str(cfg.socket_path, "/run/v.sock", "-o vhost_user_socket");
	valid("-o source=/,modcaps=+sys_admin:-chown,xattrmap=:map::u.: "
	      "--socket-path x");
	is_str(cfg.modcaps, "+sys_admin:-chown", "-o modcaps");
	is_str(cfg.xattrmap, ":map::u.:", "-o xattrmap");
	valid("-o source=/,xattrmap=:map::a,,b:,xattr --socket-path x");
	is_str(cfg.xattrmap, ":map::a,b:", "',,' escapes a comma in -o");
	valid("-o source=/,xattrmap=:map::a\\,b: --socket-path x");
	is_str(cfg.xattrmap, ":map::a,b:", "'\\,' escapes a comma in -o");
}

/* QEMU C virtiofsd's lock options, as libvirt and older tools pass them. */
static void
test_locks(void)
{
	valid("-o source=/,posix_lock,flock --socket-path x");
	ok(!cfg.no_posix_lock && !cfg.no_flock,
	    "-o posix_lock,flock accepted, locks on");
	valid("-o source=/,no_posix_lock --socket-path x");
	ok(cfg.no_posix_lock && !cfg.no_flock, "-o no_posix_lock");
	valid("-o source=/,no_flock --socket-path x");
	ok(!cfg.no_posix_lock && cfg.no_flock, "-o no_flock");
	valid("-o source=/,no_posix_lock,no_flock -o posix_lock "
	      "--socket-path x");
	ok(!cfg.no_posix_lock && cfg.no_flock, "the last of a pair wins");
	invalid("-o source=/,flock=1 --socket-path x",
	    "option '-o flock' takes no value");
	invalid("--shared-dir / --socket-path x --posix-lock",
	    "unknown option '--posix-lock'");
}

static void
test_invalid(void)
{
	static const struct {
		const char *line, *msg;
	} cases[] = {
	    {"--bogus", "unknown option '--bogus'"},
	    {"--bogus=1", "unknown option '--bogus'"},
	    {"-x", "unknown option '-x'"},
	    {"-fd", "unknown option '-fd'"},
	    {"stray", "unexpected argument 'stray'"},
	    {"-", "unexpected argument '-'"},
	    {"--cache", "option '--cache' requires a value"},
	    {"--xattr=yes", "option '--xattr' takes no value"},
	    {"--cache bogus", "invalid value 'bogus' for --cache (expected "
			      "auto, always, metadata or never)"},
	    {"--sandbox=jail", "invalid value 'jail' for --sandbox "
			       "(expected namespace, chroot or none)"},
	    {"--seccomp=on", "invalid value 'on' for --seccomp (expected "
			     "none, kill, log or trap)"},
	    {"--inode-file-handles=always",
		"invalid value 'always' for --inode-file-handles "
		"(expected never, prefer or mandatory)"},
	    {"--log-level=loud", "invalid value 'loud' for --log-level "
				 "(expected error, warn, info or debug)"},
	    {"--thread-pool-size=-1",
		"invalid value '-1' for "
		"--thread-pool-size (expected an integer from 0 to 48)"},
	    {"--thread-pool-size=4x",
		"invalid value '4x' for "
		"--thread-pool-size (expected an integer from 0 to 48)"},
	    {"--thread-pool-size=",
		"invalid value '' for "
		"--thread-pool-size (expected an integer from 0 to 48)"},
	    {"--queues 0", "invalid value '0' for --queues (expected an "
			   "integer from 1 to 8)"},
	    {"--queues 9", "invalid value '9' for --queues (expected an "
			   "integer from 1 to 8)"},
	    {"--max-inodes 99999999999999999999999",
		"invalid value '99999999999999999999999' for --max-inodes "
		"(expected an integer from 64 to 67108864)"},
	    {"--max-handles 8", "invalid value '8' for --max-handles "
				"(expected an integer from 16 to 16777216)"},
	    {"--poll-max-us 100001",
		"invalid value '100001' for --poll-max-us "
		"(expected an integer from 0 to 100000)"},
	    {"--watchdog-ms 99",
		"invalid value '99' for --watchdog-ms "
		"(expected 0 or an integer from 100 to 3600000)"},
	    {"--rlimit-nofile=0x10",
		"invalid value '0x10' for "
		"--rlimit-nofile (expected an integer from 0 to "
		"1073741824)"},
	    {"--fd=-3", "invalid value '-3' for --fd (expected an integer "
			"from 0 to 2147483647)"},
	    {"--quarantine-crashes 0",
		"invalid value '0' for "
		"--quarantine-crashes (expected an integer from 1 to 100)"},
	    {"--degrade-after 1001",
		"invalid value '1001' for "
		"--degrade-after (expected an integer from 1 to 1000)"},
	    {"--tag 0123456789012345678901234567890123456",
		"value for --tag is too long (at most 36 bytes)"},
	    {"--socket-path /0123456789012345678901234567890123456789"
	     "01234567890123456789012345678901234567890123456789"
	     "012345678901234567890",
		"value for --socket-path is too long (at most 107 bytes)"},
	    {"--shared-dir=", "empty value for --shared-dir"},
	    {"--translate-uid guest:1:2",
		"invalid value 'guest:1:2' for --translate-uid (expected "
		"TYPE:FROM:TO:COUNT or forbid-guest:FROM:COUNT)"},
	    {"--translate-gid host:1:2:0",
		"invalid value 'host:1:2:0' for --translate-gid (expected "
		"TYPE:FROM:TO:COUNT or forbid-guest:FROM:COUNT)"},
	    {"--uid-map :0:1:1", "invalid value ':0:1:1' for --uid-map "
				 "(expected :NAMESPACE_ID:HOST_ID:COUNT:)"},
	    {"--gid-map :0::1:", "invalid value ':0::1:' for --gid-map "
				 "(expected :NAMESPACE_ID:HOST_ID:COUNT:)"},
	    {"--modcaps +sys_admin:chown",
		"invalid value "
		"'+sys_admin:chown' for --modcaps (expected +cap or -cap, "
		"separated by ':')"},
	    {"--xattrmap :ok:client:a",
		"invalid value ':ok:client:a' for "
		"--xattrmap (expected rules like :prefix:all::user.virtiofs.: "
		"or :map::user.virtiofs.:)"},
	    {"--migration-mode=x", "invalid value 'x' for --migration-mode "
				   "(expected find-paths or file-handles)"},
	    {"--daemonize", "--daemonize is not supported by phoenixfsd"},
	    {"-o", "option '-o' requires a value"},
	    {"-o bogus", "unknown option '-o bogus'"},
	    {"-o source", "option '-o source' requires a value "
			  "(-o source=...)"},
	    {"-o xattr=1", "option '-o xattr' takes no value"},
	    {"-o cache=sometimes",
		"invalid value 'sometimes' for -o cache "
		"(expected auto, always, metadata or never)"},
	    {"-o timeout=soon", "invalid value 'soon' for -o timeout "
				"(expected a number of seconds)"},
	    {"--socket-path x", "missing --shared-dir (or -o source=DIR)"},
	    {"--shared-dir /", "missing --socket-path or --fd"},
	    {"--shared-dir / --socket-path x --fd 0",
		"--socket-path and --fd are mutually exclusive"},
	    {"--shared-dir / --fd 1000", "--fd 1000 is not an open socket"},
	    {"--shared-dir /nonexistent/dir --socket-path x",
		"shared directory '/nonexistent/dir': No such file or "
		"directory"},
	    {"--shared-dir /dev/null --socket-path x",
		"shared directory '/dev/null' is not a directory"},
	    {"--shared-dir / --socket-path x --socket-group nosuchgroupzz",
		"unknown group 'nosuchgroupzz' for --socket-group"},
	    {"--shared-dir / --socket-path x --posix-acl "
	     "--translate-uid map:0:0:1",
		"--translate-uid and --translate-gid cannot be used with "
		"--posix-acl"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		invalid(cases[i].line, cases[i].msg);
}

static void
test_fd(void)
{
	char line[128];
	const char *err;
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		ok(false, "socketpair");
		return;
	}
	snprintf(line, sizeof(line), "--shared-dir / --fd=%d", sv[0]);
	valid(line);
	is_int(cfg.socket_fd, sv[0], "--fd=N");
	is_str(cfg.socket_path, "", "no socket path with --fd");
	snprintf(line, sizeof(line),
	    "--shared-dir / --fd %d --socket-group "
	    "root",
	    sv[0]);
	r = parse(line, &err);
	ok(r == -EINVAL && strcmp(err, "phoenixfsd: --socket-group cannot be "
				       "used with --fd\n") == 0,
	    "--socket-group with --fd rejected");
	close(sv[0]);
	close(sv[1]);
}

static int
do_caps(void *arg)
{
	(void)arg;
	config_print_capabilities();
	return 0;
}

static int
do_help(void *arg)
{
	(void)arg;
	config_print_help();
	return 0;
}

static void
test_actions(void)
{
	const char *out;
	int r;

	valid("--print-capabilities");
	is_int(cfg.action, CONFIG_PRINT_CAPS,
	    "--print-capabilities "
	    "needs no --shared-dir");
	valid("--version");
	is_int(cfg.action, CONFIG_VERSION, "--version");
	valid("-V");
	is_int(cfg.action, CONFIG_VERSION, "-V");
	valid("-h");
	is_int(cfg.action, CONFIG_HELP, "-h");
	valid("--help --shared-dir /nonexistent");
	is_int(cfg.action, CONFIG_HELP, "--help skips host checks");
	valid("--help --print-capabilities");
	is_int(cfg.action, CONFIG_PRINT_CAPS, "--print-capabilities wins");
	invalid("--print-capabilities --bogus", "unknown option '--bogus'");

	out = capture(1, do_caps, NULL, &r);
	is_str(out,
	    "{\n  \"type\": \"fs\",\n  \"features\": [\n"
	    "    \"separate-options\"\n  ]\n}\n",
	    "capabilities JSON: type fs, separate-options, no migration");
	out = capture(1, do_help, NULL, &r);
	ok(strncmp(out, "Usage: phoenixfsd", 17) == 0 &&
		strstr(out, "--shared-dir") != NULL &&
		strstr(out, "--print-capabilities") != NULL,
	    "help text");
}

static uint64_t
digest_of(const char *line)
{
	const char *err;

	if (parse(line, &err) < 0)
		return 0;
	return config_digest(&cfg);
}

static void
test_digest(void)
{
	uint64_t base = digest_of("--shared-dir / --socket-path x");

	/* Frozen: a change here breaks live upgrade of running daemons. */
	ok(base == 0xcdbf6911b2fae1f6ULL,
	    "digest of the defaults is frozen "
	    "(%#llx)",
	    (unsigned long long)base);
	ok(base == digest_of("-o source=/ --socket-path /elsewhere --syslog "
			     "--log-level debug --thread-pool-size 8 "
			     "--watchdog-ms 0 --sandbox chroot --poll-max-us 0"),
	    "digest ignores socket, logging, threads, watchdog, sandbox, "
	    "polling");
	ok(base != digest_of("--shared-dir /usr --socket-path x"),
	    "digest covers shared_dir");
	ok(base != digest_of("--shared-dir / --socket-path x --cache never"),
	    "digest covers cache");
	ok(base != digest_of("--shared-dir / --socket-path x --readonly"),
	    "digest covers readonly");
	ok(base != digest_of("--shared-dir / --socket-path x --queues 2"),
	    "digest covers queues");
	ok(digest_of("--shared-dir / --socket-path x --translate-uid "
		     "map:0:1:1") !=
		digest_of("--shared-dir / --socket-path x --translate-gid "
			  "map:0:1:1"),
	    "digest tells uid from gid maps");
	ok(base == digest_of("-o source=/,posix_lock,flock --socket-path x"),
	    "digest unchanged by -o posix_lock,flock (the defaults)");
	ok(base != digest_of("-o source=/,no_posix_lock --socket-path x") &&
		base != digest_of("-o source=/,no_flock --socket-path x"),
	    "digest covers no_posix_lock and no_flock");
}

static int
conf_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static int
do_golden(void *arg)
{
	int r = do_parse(arg);

	if (r == 0)
		config_print(&cfg, stdout);
	return r;
}

/* Each NAME.conf against NAME.ok. */
static void
test_golden(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, conf_filter, alphasort);
	bool regen = getenv("PHX_GOLDEN_REGEN") != NULL;

	if (!ok(n > 0, "golden files in %s", dir))
		return;
	for (int i = 0; i < n; i++) {
		static struct argv_buf a;
		char path[4096], want[16384], got[16384], line[1024];
		const char *err, *out;
		size_t len;
		FILE *f;
		int r;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		a.argc = 0;
		a.argv[a.argc++] = "phoenixfsd";
		len = 0;
		if ((f = fopen(path, "r")) == NULL) {
			ok(false, "open %s", path);
			continue;
		}
		while (fgets(line, sizeof(line), f) != NULL &&
		       a.argc < MAX_ARGS - 1) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] == '#' || line[0] == '\0')
				continue;
			a.argv[a.argc++] = strcpy(a.store + len, line);
			len += strlen(line) + 1;
		}
		a.argv[a.argc] = NULL;
		fclose(f);

		err = capture(2, do_parse, &a, &r);
		snprintf(got, sizeof(got), "%s", err);
		if (r == 0) {
			out = capture(1, do_golden, &a, &r);
			snprintf(got, sizeof(got), "%s", out);
		}
		strcpy(path + strlen(path) - 5, ".ok");
		if (regen) {
			f = fopen(path, "w");
			fputs(got, f);
			fclose(f);
		}
		want[0] = '\0';
		if ((f = fopen(path, "r")) != NULL) {
			want[fread(want, 1, sizeof(want) - 1, f)] = '\0';
			fclose(f);
		}
		if (!ok(strcmp(got, want) == 0, "golden %s", names[i]->d_name))
			diag("got:\n%s", got);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	test_defaults();
	test_spellings();
	test_legacy();
	test_locks();
	test_invalid();
	test_fd();
	test_actions();
	test_digest();
	test_golden(argc > 1 ? argv[1] : "tests/config");
	return done_testing();
}
