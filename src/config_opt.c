/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The option tables: Rust virtiofsd's long options, QEMU C virtiofsd's
 * "-o key[=value],..." keys and the short options, each mapped onto one
 * option id, and the single setter that turns an id and its value into a
 * field of struct config, so every spelling of an option behaves alike.
 * Also the named choices (cache modes, log levels...) and their names for
 * config_print(). Values are checked by config_value.c; the argv walk is
 * config_parse() in config.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_int.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

enum opt_id {
	OPT_SOCKET_PATH,
	OPT_FD,
	OPT_SOCKET_GROUP,
	OPT_SHARED_DIR,
	OPT_TAG,
	OPT_CACHE,
	OPT_SANDBOX,
	OPT_SECCOMP,
	OPT_IFH,
	OPT_LOG_LEVEL,
	OPT_DEBUG,
	OPT_THREAD_POOL,
	OPT_POLL_MAX,
	OPT_RLIMIT_NOFILE,
	OPT_QUEUES,
	OPT_MAX_INODES,
	OPT_MAX_HANDLES,
	OPT_MAX_FDS,
	OPT_WATCHDOG,
	OPT_QUARANTINE,
	OPT_DEGRADE,
	OPT_SYSLOG,
	OPT_READONLY,
	OPT_ANNOUNCE,
	OPT_NO_ANNOUNCE,
	OPT_XATTR,
	OPT_NO_XATTR,
	OPT_POSIX_ACL,
	OPT_NO_POSIX_ACL,
	OPT_SECLABEL,
	OPT_NO_SECLABEL,
	OPT_POSIX_LOCK,
	OPT_NO_POSIX_LOCK,
	OPT_FLOCK,
	OPT_NO_FLOCK,
	OPT_WRITEBACK,
	OPT_NO_WRITEBACK,
	OPT_DIRECT_IO,
	OPT_NO_DIRECT_IO,
	OPT_KILLPRIV,
	OPT_NO_KILLPRIV,
	OPT_NOATIME,
	OPT_ALLOW_MMAP,
	OPT_READDIRPLUS,
	OPT_NO_READDIRPLUS,
	OPT_NO_JOURNAL,
	OPT_XATTRMAP,
	OPT_MODCAPS,
	OPT_TRANSLATE_UID,
	OPT_TRANSLATE_GID,
	OPT_UID_MAP,
	OPT_GID_MAP,
	OPT_PID_FILE,
	OPT_FOREGROUND,
	OPT_PRINT_CAPS,
	OPT_VERSION,
	OPT_HELP,
	OPT_MIGRATION_MODE,
	OPT_MIGRATION_ON_ERROR,
	OPT_IGNORED,
	OPT_IGNORED_UINT,
	OPT_IGNORED_NUMBER,
	OPT_UNSUPPORTED,
};

struct config_opt {
	const char *name;
	enum opt_id id;
	bool arg;
};

/* Rust virtiofsd's long options, then phoenixfsd's own. */
static const struct config_opt long_opts[] = {
    {"socket-path", OPT_SOCKET_PATH, true},
    {"socket", OPT_SOCKET_PATH, true}, /* deprecated in virtiofsd */
    {"fd", OPT_FD, true},
    {"socket-group", OPT_SOCKET_GROUP, true},
    {"shared-dir", OPT_SHARED_DIR, true},
    {"tag", OPT_TAG, true},
    {"cache", OPT_CACHE, true},
    {"sandbox", OPT_SANDBOX, true},
    {"seccomp", OPT_SECCOMP, true},
    {"inode-file-handles", OPT_IFH, true},
    {"log-level", OPT_LOG_LEVEL, true},
    {"debug", OPT_DEBUG, false},
    {"thread-pool-size", OPT_THREAD_POOL, true},
    {"rlimit-nofile", OPT_RLIMIT_NOFILE, true},
    {"syslog", OPT_SYSLOG, false},
    {"readonly", OPT_READONLY, false},
    {"announce-submounts", OPT_ANNOUNCE, false},
    {"no-announce-submounts", OPT_NO_ANNOUNCE, false},
    {"xattr", OPT_XATTR, false},
    {"no-xattr", OPT_NO_XATTR, false},
    {"xattrmap", OPT_XATTRMAP, true},
    {"posix-acl", OPT_POSIX_ACL, false},
    {"security-label", OPT_SECLABEL, false},
    {"writeback", OPT_WRITEBACK, false},
    {"allow-direct-io", OPT_DIRECT_IO, false},
    {"allow-mmap", OPT_ALLOW_MMAP, false},
    {"no-readdirplus", OPT_NO_READDIRPLUS, false},
    {"killpriv-v2", OPT_KILLPRIV, false},
    {"no-killpriv-v2", OPT_NO_KILLPRIV, false},
    {"preserve-noatime", OPT_NOATIME, false},
    {"translate-uid", OPT_TRANSLATE_UID, true},
    {"translate-gid", OPT_TRANSLATE_GID, true},
    {"uid-map", OPT_UID_MAP, true},
    {"gid-map", OPT_GID_MAP, true},
    {"modcaps", OPT_MODCAPS, true},
    {"print-capabilities", OPT_PRINT_CAPS, false},
    {"version", OPT_VERSION, false},
    {"help", OPT_HELP, false},
    /* Migration is not supported; these only affect migration. */
    {"migration-mode", OPT_MIGRATION_MODE, true},
    {"migration-on-error", OPT_MIGRATION_ON_ERROR, true},
    {"migration-verify-handles", OPT_IGNORED, false},
    {"migration-confirm-paths", OPT_IGNORED, false},
    {"daemonize", OPT_UNSUPPORTED, false},
    /* phoenixfsd */
    {"pid-file", OPT_PID_FILE, true},
    {"queues", OPT_QUEUES, true},
    {"max-inodes", OPT_MAX_INODES, true},
    {"max-handles", OPT_MAX_HANDLES, true},
    {"max-fds", OPT_MAX_FDS, true},
    {"watchdog-ms", OPT_WATCHDOG, true},
    {"quarantine-crashes", OPT_QUARANTINE, true},
    {"degrade-after", OPT_DEGRADE, true},
    {"no-journal", OPT_NO_JOURNAL, false},
    {"poll-max-us", OPT_POLL_MAX, true},
};

/* QEMU C virtiofsd's "-o" keys (passthrough_ll.c, fuse_lowlevel.c, helper.c).
 */
static const struct config_opt legacy_opts[] = {
    {"source", OPT_SHARED_DIR, true},
    {"vhost_user_socket", OPT_SOCKET_PATH, true},
    {"cache", OPT_CACHE, true},
    {"sandbox", OPT_SANDBOX, true},
    {"log_level", OPT_LOG_LEVEL, true},
    {"loglevel", OPT_LOG_LEVEL, true}, /* Rust virtiofsd's spelling */
    {"debug", OPT_DEBUG, false},
    {"xattr", OPT_XATTR, false},
    {"no_xattr", OPT_NO_XATTR, false},
    {"xattrmap", OPT_XATTRMAP, true},
    {"modcaps", OPT_MODCAPS, true},
    {"readonly", OPT_READONLY, false},
    {"announce_submounts", OPT_ANNOUNCE, false},
    {"writeback", OPT_WRITEBACK, false},
    {"no_writeback", OPT_NO_WRITEBACK, false},
    {"allow_direct_io", OPT_DIRECT_IO, false},
    {"no_allow_direct_io", OPT_NO_DIRECT_IO, false},
    {"killpriv_v2", OPT_KILLPRIV, false},
    {"no_killpriv_v2", OPT_NO_KILLPRIV, false},
    {"posix_acl", OPT_POSIX_ACL, false},
    {"no_posix_acl", OPT_NO_POSIX_ACL, false},
    {"security_label", OPT_SECLABEL, false},
    {"no_security_label", OPT_NO_SECLABEL, false},
    {"readdirplus", OPT_READDIRPLUS, false},
    {"no_readdirplus", OPT_NO_READDIRPLUS, false},
    {"posix_lock", OPT_POSIX_LOCK, false},
    {"no_posix_lock", OPT_NO_POSIX_LOCK, false},
    {"flock", OPT_FLOCK, false},
    {"no_flock", OPT_NO_FLOCK, false},
    {"norace", OPT_IGNORED, false},
    {"allow_root", OPT_IGNORED, false},
    {"timeout", OPT_IGNORED_NUMBER, true},
    {"max_idle_threads", OPT_IGNORED_UINT, true},
    {"max_write", OPT_IGNORED_UINT, true},
    {"max_readahead", OPT_IGNORED_UINT, true},
    {"max_background", OPT_IGNORED_UINT, true},
    {"congestion_threshold", OPT_IGNORED_UINT, true},
    {"time_gran", OPT_IGNORED_UINT, true},
};

struct choice {
	const char *name;
	int value;
	bool alias; /* accepted, but not listed in messages */
};

static const struct choice cache_choices[] = {
    {"auto", CONFIG_CACHE_AUTO, false}, {"always", CONFIG_CACHE_ALWAYS, false},
    {"metadata", CONFIG_CACHE_METADATA, false},
    {"never", CONFIG_CACHE_NEVER, false},
    {"none", CONFIG_CACHE_NEVER, true}, /* C virtiofsd */
};
static const struct choice sandbox_choices[] = {
    {"namespace", CONFIG_SANDBOX_NAMESPACE, false},
    {"chroot", CONFIG_SANDBOX_CHROOT, false},
    {"none", CONFIG_SANDBOX_NONE, false},
};
static const struct choice seccomp_choices[] = {
    {"none", CONFIG_SECCOMP_NONE, false},
    {"kill", CONFIG_SECCOMP_KILL, false},
    {"log", CONFIG_SECCOMP_LOG, false},
    {"trap", CONFIG_SECCOMP_TRAP, false},
};
static const struct choice ifh_choices[] = {
    {"never", CONFIG_IFH_NEVER, false}, {"prefer", CONFIG_IFH_PREFER, false},
    {"mandatory", CONFIG_IFH_MANDATORY, false},
    {"fallback", CONFIG_IFH_PREFER, true}, /* virtiofsd, deprecated */
};
static const struct choice log_choices[] = {
    {"error", LOG_LEVEL_ERR, false},
    {"warn", LOG_LEVEL_WARN, false},
    {"info", LOG_LEVEL_INFO, false},
    {"debug", LOG_LEVEL_DEBUG, false},
    {"err", LOG_LEVEL_ERR, true}, /* C virtiofsd */
    {"warning", LOG_LEVEL_WARN, true},
    {"trace", LOG_LEVEL_DEBUG, true}, /* Rust virtiofsd */
    {"off", LOG_LEVEL_ERR, true},
};
static const struct choice migration_mode_choices[] = {
    {"find-paths", 0, false},
    {"file-handles", 1, false},
};
static const struct choice migration_error_choices[] = {
    {"abort", 0, false},
    {"guest-error", 1, false},
};

static int
parse_choice(const char *what, const char *val, const struct choice *c,
    size_t n, int *ret)
{
	char expected[160] = "";
	size_t listed = 0, total = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(val, c[i].name) == 0) {
			*ret = c[i].value;
			return 0;
		}
		if (!c[i].alias)
			total++;
	}
	for (size_t i = 0; i < n; i++) {
		if (c[i].alias)
			continue;
		listed++;
		if (listed > 1)
			strcat(expected, listed == total ? " or " : ", ");
		strcat(expected, c[i].name);
	}
	return config_error("invalid value '%s' for %s (expected %s)", val,
	    what, expected);
}

static int
set_option(struct config *cfg, enum opt_id id, const char *what,
    const char *val)
{
	uint64_t v64;
	int r, v;

	switch (id) {
	case OPT_SOCKET_PATH:
		if (strlen(val) > SUN_PATH_MAX)
			return config_error("value for %s is too long (at most "
					    "%zu bytes)",
			    what, SUN_PATH_MAX);
		return config_value_copy(what, cfg->socket_path,
		    sizeof(cfg->socket_path), val);
	case OPT_FD:
		if ((r = config_value_range(what, val, 0, INT_MAX, &v64)) < 0)
			return r;
		cfg->socket_fd = (int)v64;
		return 0;
	case OPT_SOCKET_GROUP:
		return config_value_copy(what, cfg->socket_group,
		    sizeof(cfg->socket_group), val);
	case OPT_SHARED_DIR:
		return config_value_copy(what, cfg->shared_dir,
		    sizeof(cfg->shared_dir), val);
	case OPT_TAG:
		return config_value_copy(what, cfg->tag, sizeof(cfg->tag), val);
	case OPT_CACHE:
		r = parse_choice(what, val, cache_choices,
		    nitems(cache_choices), &v);
		cfg->cache = r < 0 ? cfg->cache : (enum config_cache)v;
		return r;
	case OPT_SANDBOX:
		r = parse_choice(what, val, sandbox_choices,
		    nitems(sandbox_choices), &v);
		cfg->sandbox = r < 0 ? cfg->sandbox : (enum config_sandbox)v;
		return r;
	case OPT_SECCOMP:
		r = parse_choice(what, val, seccomp_choices,
		    nitems(seccomp_choices), &v);
		cfg->seccomp = r < 0 ? cfg->seccomp : (enum config_seccomp)v;
		return r;
	case OPT_IFH:
		r = parse_choice(what, val, ifh_choices, nitems(ifh_choices),
		    &v);
		cfg->inode_file_handles =
		    r < 0 ? cfg->inode_file_handles : (enum config_ifh)v;
		return r;
	case OPT_LOG_LEVEL:
		r = parse_choice(what, val, log_choices, nitems(log_choices),
		    &v);
		cfg->log_level = r < 0 ? cfg->log_level : (enum log_level)v;
		return r;
	case OPT_MIGRATION_MODE:
		return parse_choice(what, val, migration_mode_choices,
		    nitems(migration_mode_choices), &v);
	case OPT_MIGRATION_ON_ERROR:
		return parse_choice(what, val, migration_error_choices,
		    nitems(migration_error_choices), &v);
	case OPT_DEBUG:
		cfg->log_level = LOG_LEVEL_DEBUG;
		return 0;
	case OPT_THREAD_POOL:
		return config_value_uint(what, val, 0, CONFIG_MAX_THREAD_POOL,
		    &cfg->thread_pool_size);
	case OPT_RLIMIT_NOFILE:
		/* fs.nr_open cannot exceed 2^30; setrlimit checks the rest. */
		return config_value_range(what, val, 0, 1ULL << 30,
		    &cfg->rlimit_nofile);
	case OPT_QUEUES:
		return config_value_uint(what, val, 1, CONFIG_MAX_QUEUES,
		    &cfg->num_request_queues);
	case OPT_MAX_INODES:
		return config_value_uint(what, val, 64, 1U << 26,
		    &cfg->max_inodes);
	case OPT_MAX_HANDLES:
		return config_value_uint(what, val, 16, 1U << 24,
		    &cfg->max_handles);
	case OPT_MAX_FDS:
		/* 0 = only the cap derived from RLIMIT_NOFILE (worker.c). */
		return config_value_uint(what, val, 0, 1U << 30, &cfg->max_fds);
	case OPT_WATCHDOG:
		if (config_value_u64(val, &v64) < 0 ||
		    (v64 != 0 && v64 < 100) || v64 > 3600000)
			return config_error("invalid value '%s' for %s "
					    "(expected 0 or an integer from "
					    "100 to 3600000)",
			    val, what);
		cfg->watchdog_ms = (unsigned)v64;
		return 0;
	case OPT_POLL_MAX:
		return config_value_uint(what, val, 0, 100000,
		    &cfg->poll_max_us);
	case OPT_QUARANTINE:
		return config_value_uint(what, val, 1, 100,
		    &cfg->quarantine_crashes);
	case OPT_DEGRADE:
		return config_value_uint(what, val, 1, 1000,
		    &cfg->degrade_after);
	case OPT_SYSLOG:
		cfg->use_syslog = true;
		return 0;
	case OPT_READONLY:
		cfg->readonly = true;
		return 0;
	case OPT_ANNOUNCE:
	case OPT_NO_ANNOUNCE:
		cfg->announce_submounts = id == OPT_ANNOUNCE;
		return 0;
	case OPT_XATTR:
	case OPT_NO_XATTR:
		cfg->xattr = id == OPT_XATTR;
		return 0;
	case OPT_POSIX_ACL:
	case OPT_NO_POSIX_ACL:
		cfg->posix_acl = id == OPT_POSIX_ACL;
		return 0;
	case OPT_SECLABEL:
	case OPT_NO_SECLABEL:
		cfg->security_label = id == OPT_SECLABEL;
		return 0;
	case OPT_POSIX_LOCK:
	case OPT_NO_POSIX_LOCK:
		cfg->no_posix_lock = id == OPT_NO_POSIX_LOCK;
		return 0;
	case OPT_FLOCK:
	case OPT_NO_FLOCK:
		cfg->no_flock = id == OPT_NO_FLOCK;
		return 0;
	case OPT_WRITEBACK:
	case OPT_NO_WRITEBACK:
		cfg->writeback = id == OPT_WRITEBACK;
		return 0;
	case OPT_DIRECT_IO:
	case OPT_NO_DIRECT_IO:
		cfg->allow_direct_io = id == OPT_DIRECT_IO;
		return 0;
	case OPT_KILLPRIV:
	case OPT_NO_KILLPRIV:
		cfg->killpriv_v2 = id == OPT_KILLPRIV;
		return 0;
	case OPT_READDIRPLUS:
	case OPT_NO_READDIRPLUS:
		cfg->readdirplus = id == OPT_READDIRPLUS;
		return 0;
	case OPT_NOATIME:
		cfg->preserve_noatime = true;
		return 0;
	case OPT_ALLOW_MMAP:
		cfg->allow_mmap = true;
		return 0;
	case OPT_NO_JOURNAL:
		cfg->journal = false;
		return 0;
	case OPT_XATTRMAP:
		if ((r = config_value_xattrmap(what, val)) < 0)
			return r;
		return config_value_copy(what, cfg->xattrmap,
		    sizeof(cfg->xattrmap), val);
	case OPT_MODCAPS:
		if ((r = config_value_modcaps(what, val)) < 0)
			return r;
		return config_value_copy(what, cfg->modcaps,
		    sizeof(cfg->modcaps), val);
	case OPT_TRANSLATE_UID:
		if ((r = config_value_translate(what, val)) < 0)
			return r;
		return config_value_append(what, cfg->translate_uid,
		    sizeof(cfg->translate_uid), val);
	case OPT_TRANSLATE_GID:
		if ((r = config_value_translate(what, val)) < 0)
			return r;
		return config_value_append(what, cfg->translate_gid,
		    sizeof(cfg->translate_gid), val);
	case OPT_UID_MAP:
		if ((r = config_value_idmap(what, val)) < 0)
			return r;
		return config_value_append(what, cfg->uid_map,
		    sizeof(cfg->uid_map), val);
	case OPT_GID_MAP:
		if ((r = config_value_idmap(what, val)) < 0)
			return r;
		return config_value_append(what, cfg->gid_map,
		    sizeof(cfg->gid_map), val);
	case OPT_PID_FILE:
		if (val[0] != '/' && val[0] != '\0') {
			char cwd[PATH_MAX], abs[PATH_MAX];

			/* The daemon pivots away from the cwd: store it whole.
			 */
			if (getcwd(cwd, sizeof(cwd)) == NULL ||
			    (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd,
				val) >= sizeof(abs))
				return config_error("value for %s is too long",
				    what);
			return config_value_copy(what, cfg->pid_file,
			    sizeof(cfg->pid_file), abs);
		}
		return config_value_copy(what, cfg->pid_file,
		    sizeof(cfg->pid_file), val);
	case OPT_FOREGROUND:
		cfg->foreground = true;
		return 0;
	case OPT_PRINT_CAPS:
		cfg->action = CONFIG_PRINT_CAPS;
		return 0;
	case OPT_VERSION:
		if (cfg->action != CONFIG_PRINT_CAPS)
			cfg->action = CONFIG_VERSION;
		return 0;
	case OPT_HELP:
		if (cfg->action == CONFIG_RUN)
			cfg->action = CONFIG_HELP;
		return 0;
	case OPT_IGNORED:
		return 0;
	case OPT_IGNORED_UINT:
		return config_value_range(what, val, 0, UINT32_MAX, &v64);
	case OPT_IGNORED_NUMBER: {
		char *end;

		errno = 0;
		if (*val == '\0' || strtod(val, &end) < 0 || *end != '\0' ||
		    errno != 0)
			return config_error("invalid value '%s' for %s "
					    "(expected a number of seconds)",
			    val, what);
		return 0;
	}
	case OPT_UNSUPPORTED:
		return config_error("%s is not supported by phoenixfsd", what);
	}
	return config_error("internal error: option %s", what);
}

static const struct config_opt *
find_opt(const struct config_opt *tab, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(tab[i].name) == len &&
		    strncmp(tab[i].name, name, len) == 0)
			return &tab[i];
	return NULL;
}

/*
 * One "-o" argument: comma-separated key[=value] items. A comma inside a
 * value is written ",," (libvirt's and QEMU's escape) or "\," (fuse_opt's).
 */
int
config_opt_legacy(struct config *cfg, const char *arg)
{
	char item[PATH_MAX + 64];
	const char *p = arg;

	if (*p == '\0')
		return config_error("option '-o' requires a value");
	for (;;) {
		const struct config_opt *o;
		char what[96];
		size_t n = 0;
		char *eq;
		int r;

		while (*p != '\0') {
			if ((p[0] == ',' && p[1] == ',') ||
			    (p[0] == '\\' && p[1] == ','))
				p++;
			else if (*p == ',')
				break;
			if (n + 1 >= sizeof(item))
				return config_error("-o item is too long");
			item[n++] = *p++;
		}
		item[n] = '\0';
		if (n > 0) {
			eq = strchr(item, '=');
			o = find_opt(legacy_opts, nitems(legacy_opts), item,
			    eq != NULL ? (size_t)(eq - item) : n);
			snprintf(what, sizeof(what), "-o %.*s",
			    eq != NULL ? (int)(eq - item) : (int)n, item);
			if (o == NULL)
				return config_error("unknown option '%s'",
				    what);
			if (o->arg && eq == NULL)
				return config_error("option '%s' requires a "
						    "value (%s=...)",
				    what, what);
			if (!o->arg && eq != NULL)
				return config_error(
				    "option '%s' takes no value", what);
			r = set_option(cfg, o->id, what,
			    eq != NULL ? eq + 1 : NULL);
			if (r < 0)
				return r;
		}
		if (*p == '\0')
			return 0;
		p++;
	}
}

const struct config_opt *
config_opt_long(const char *name, size_t len)
{
	return find_opt(long_opts, nitems(long_opts), name, len);
}

bool
config_opt_takes_value(const struct config_opt *o)
{
	return o->arg;
}

int
config_opt_set(struct config *cfg, const struct config_opt *o, const char *what,
    const char *val)
{
	return set_option(cfg, o->id, what, val);
}

int
config_opt_short(struct config *cfg, char c, const char *what)
{
	switch (c) {
	case 'h':
		return set_option(cfg, OPT_HELP, what, NULL);
	case 'V':
		return set_option(cfg, OPT_VERSION, what, NULL);
	case 'd':
		return set_option(cfg, OPT_DEBUG, what, NULL);
	case 'f':
		return set_option(cfg, OPT_FOREGROUND, what, NULL);
	}
	return config_error("unknown option '%s'", what);
}

static const char *
choice_name(const struct choice *c, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (!c[i].alias && c[i].value == value)
			return c[i].name;
	return "?";
}

const char *
config_opt_choice_name(const char *name, int value)
{
	const struct config_opt *o = config_opt_long(name, strlen(name));

	switch (o != NULL ? o->id : OPT_UNSUPPORTED) {
	case OPT_CACHE:
		return choice_name(cache_choices, nitems(cache_choices), value);
	case OPT_SANDBOX:
		return choice_name(sandbox_choices, nitems(sandbox_choices),
		    value);
	case OPT_SECCOMP:
		return choice_name(seccomp_choices, nitems(seccomp_choices),
		    value);
	case OPT_IFH:
		return choice_name(ifh_choices, nitems(ifh_choices), value);
	case OPT_LOG_LEVEL:
		return choice_name(log_choices, nitems(log_choices), value);
	default:
		return "?";
	}
}
