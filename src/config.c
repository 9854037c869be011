/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line. config_parse() accepts every option of the Rust
 * virtiofsd (long options, "--opt=value" and "--opt value") and the legacy
 * "-o key[=value],..." form of QEMU's C virtiofsd, mapped through one option
 * table each onto a single setter, so both spellings behave alike. Errors
 * are reported as exactly one "phoenixfsd: ..." line on stderr and -EINVAL,
 * and nothing else is written. The result is read-only afterwards;
 * config_digest() hashes the fields the guest can observe, for the state
 * region header (DESIGN.md sections 2 and 8).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "caps.h"
#include "config.h"
#include "idmap.h"

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
	OPT_RLIMIT_NOFILE,
	OPT_QUEUES,
	OPT_MAX_INODES,
	OPT_MAX_HANDLES,
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

struct opt {
	const char *name;
	enum opt_id id;
	bool arg;
};

/* Rust virtiofsd's long options, then phoenixfsd's own. */
static const struct opt long_opts[] = {
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
    {"watchdog-ms", OPT_WATCHDOG, true},
    {"quarantine-crashes", OPT_QUARANTINE, true},
    {"degrade-after", OPT_DEGRADE, true},
    {"no-journal", OPT_NO_JOURNAL, false},
};

/* QEMU C virtiofsd's "-o" keys (passthrough_ll.c, fuse_lowlevel.c, helper.c).
 */
static const struct opt legacy_opts[] = {
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
    {"no_flock", OPT_IGNORED, false},
    {"no_posix_lock", OPT_IGNORED, false},
    {"norace", OPT_IGNORED, false},
    {"allow_root", OPT_IGNORED, false},
    {"flock", OPT_UNSUPPORTED, false},
    {"posix_lock", OPT_UNSUPPORTED, false},
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

static int bad(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* The one error line. Always returns -EINVAL for "return bad(...)". */
static int
bad(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A newline inside a user value must not make a second line. */
	for (char *p = line; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "phoenixfsd: %s\n", line);
	return -EINVAL;
}

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
	return bad("invalid value '%s' for %s (expected %s)", val, what,
	    expected);
}

/* Decimal digits only: no sign, no spaces, no hex, no trailing junk. */
static int
parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

static int
parse_range(const char *what, const char *val, uint64_t min, uint64_t max,
    uint64_t *ret)
{
	uint64_t v;

	if (parse_u64(val, &v) < 0 || v < min || v > max)
		return bad("invalid value '%s' for %s (expected an integer "
			   "from %llu to %llu)",
		    val, what, (unsigned long long)min,
		    (unsigned long long)max);
	*ret = v;
	return 0;
}

static int
parse_uint(const char *what, const char *val, unsigned min, unsigned max,
    unsigned *ret)
{
	uint64_t v;
	int r;

	if ((r = parse_range(what, val, min, max, &v)) < 0)
		return r;
	*ret = (unsigned)v;
	return 0;
}

static int
copy_str(const char *what, char *dst, size_t size, const char *val)
{
	size_t len = strlen(val);

	if (len == 0)
		return bad("empty value for %s", what);
	if (len >= size)
		return bad("value for %s is too long (at most %zu bytes)", what,
		    size - 1);
	memcpy(dst, val, len + 1);
	return 0;
}

/* Appends one more occurrence of a repeatable option, space-separated. */
static int
append_str(const char *what, char *dst, size_t size, const char *val)
{
	size_t used = strlen(dst);

	if (used + (used > 0) + strlen(val) >= size)
		return bad("too many %s values (at most %zu bytes in all)",
		    what, size - 1);
	if (used > 0)
		dst[used++] = ' ';
	memcpy(dst + used, val, strlen(val) + 1);
	return 0;
}

/*
 * Splits "<prefix><sep>n<sep>n..." as virtiofsd's soft_idmap does: the
 * prefix is letters, digits, '-' and '_', the separator the first other
 * character. Returns the number of fields (all u32), or -EINVAL.
 */
static int
split_ids(const char *s, char *prefix, size_t prefix_size, uint32_t *ids,
    int max_ids, bool trailing_sep)
{
	size_t plen = strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
	char sep, buf[256], *save = NULL, *tok;
	int n = 0;
	size_t len;

	if (plen >= prefix_size || s[plen] == '\0')
		return -EINVAL;
	memcpy(prefix, s, plen);
	prefix[plen] = '\0';
	sep = s[plen];
	len = strlen(s + plen + 1);
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s + plen + 1, len + 1);
	if (trailing_sep) {
		if (len == 0 || buf[len - 1] != sep)
			return -EINVAL;
		buf[--len] = '\0';
	}
	/* Empty fields are errors, so strtok's merging of seps is checked. */
	for (size_t i = 0; i + 1 < len; i++)
		if (buf[i] == sep && buf[i + 1] == sep)
			return -EINVAL;
	if (len == 0 || buf[0] == sep || buf[len - 1] == sep)
		return -EINVAL;
	for (tok = strtok_r(buf, (char[]){sep, '\0'}, &save); tok != NULL;
	     tok = strtok_r(NULL, (char[]){sep, '\0'}, &save)) {
		uint64_t v;

		if (n == max_ids || parse_u64(tok, &v) < 0 || v > UINT32_MAX)
			return -EINVAL;
		ids[n++] = (uint32_t)v;
	}
	return n;
}

/* --translate-uid/-gid: "<type>:<a>:<b>:<count>" (virtiofsd's soft_idmap). */
static int
check_translate(const char *what, const char *val)
{
	static const char *const three[] = {"guest", "host", "squash-guest",
	    "squash-host", "map"};
	char prefix[16];
	uint32_t ids[4];
	int n, want = -1;

	n = split_ids(val, prefix, sizeof(prefix), ids, 4, false);
	if (n >= 0) {
		for (size_t i = 0; i < nitems(three); i++)
			if (strcasecmp(prefix, three[i]) == 0)
				want = 3;
		if (strcasecmp(prefix, "forbid-guest") == 0)
			want = 2;
	}
	if (n < 0 || n != want || ids[n - 1] == 0)
		return bad("invalid value '%s' for %s (expected "
			   "TYPE:FROM:TO:COUNT or forbid-guest:FROM:COUNT)",
		    val, what);
	return 0;
}

/* --uid-map/--gid-map: ":<namespace id>:<host id>:<count>:". */
static int
check_idmap(const char *what, const char *val)
{
	char prefix[2];
	uint32_t ids[3];

	if (split_ids(val, prefix, sizeof(prefix), ids, 3, true) != 3 ||
	    prefix[0] != '\0' || ids[2] == 0)
		return bad("invalid value '%s' for %s (expected "
			   ":NAMESPACE_ID:HOST_ID:COUNT:)",
		    val, what);
	return 0;
}

/* "+cap:-cap:..." with capability names as libcap-ng spells them. */
static int
check_modcaps(const char *what, const char *val)
{
	const char *p = val;

	for (;;) {
		size_t n;

		if (*p != '+' && *p != '-')
			break;
		p++;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (n == 0)
			break;
		p += n;
		if (*p == '\0')
			return 0;
		if (*p++ != ':')
			break;
	}
	return bad("invalid value '%s' for %s (expected +cap or -cap, "
		   "separated by ':')",
	    val, what);
}

/*
 * --xattrmap: rules "<sep>TYPE<sep>SCOPE<sep>KEY<sep>PREPEND<sep>" with TYPE
 * prefix, ok, bad or unsupported and SCOPE client, server or all, or the
 * shorthand "<sep>map<sep>KEY<sep>PREPEND<sep>"; rules may be separated by white
 * space (C virtiofsd's docs/tools/virtiofsd.rst). Checks the shape only;
 * the passthrough layer builds the map.
 */
static bool
xattr_field(const char **p, char sep, const char *const *allowed)
{
	const char *end = strchr(*p, sep);
	size_t len;

	if (end == NULL)
		return false;
	len = (size_t)(end - *p);
	for (; allowed != NULL && *allowed != NULL; allowed++)
		if (strlen(*allowed) == len && strncmp(*p, *allowed, len) == 0)
			break;
	if (allowed != NULL && *allowed == NULL)
		return false;
	*p = end + 1;
	return true;
}

static int
check_xattrmap(const char *what, const char *val)
{
	static const char *const map[] = {"map", NULL};
	static const char *const types[] = {"prefix", "ok", "bad",
	    "unsupported", NULL};
	static const char *const scopes[] = {"client", "server", "all", NULL};
	const char *p = val;
	int rules = 0;

	for (;;) {
		char sep;

		p += strspn(p, " \t\n");
		if (*p == '\0')
			break;
		sep = *p++;
		if (xattr_field(&p, sep, map)) {
			/* KEY and PREPEND */
			if (!xattr_field(&p, sep, NULL) ||
			    !xattr_field(&p, sep, NULL))
				goto fail;
		} else if (!xattr_field(&p, sep, types) ||
			   !xattr_field(&p, sep, scopes) ||
			   !xattr_field(&p, sep, NULL) ||
			   !xattr_field(&p, sep, NULL)) {
			goto fail;
		}
		rules++;
	}
	if (rules > 0)
		return 0;
fail:
	return bad("invalid value '%s' for %s (expected rules like "
		   ":prefix:all::user.virtiofs.: or :map::user.virtiofs.:)",
	    val, what);
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
			return bad("value for %s is too long (at most %zu "
				   "bytes)",
			    what, SUN_PATH_MAX);
		return copy_str(what, cfg->socket_path,
		    sizeof(cfg->socket_path), val);
	case OPT_FD:
		if ((r = parse_range(what, val, 0, INT_MAX, &v64)) < 0)
			return r;
		cfg->socket_fd = (int)v64;
		return 0;
	case OPT_SOCKET_GROUP:
		return copy_str(what, cfg->socket_group,
		    sizeof(cfg->socket_group), val);
	case OPT_SHARED_DIR:
		return copy_str(what, cfg->shared_dir, sizeof(cfg->shared_dir),
		    val);
	case OPT_TAG:
		return copy_str(what, cfg->tag, sizeof(cfg->tag), val);
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
		return parse_uint(what, val, 0, CONFIG_MAX_THREAD_POOL,
		    &cfg->thread_pool_size);
	case OPT_RLIMIT_NOFILE:
		/* fs.nr_open cannot exceed 2^30; setrlimit checks the rest. */
		return parse_range(what, val, 0, 1ULL << 30,
		    &cfg->rlimit_nofile);
	case OPT_QUEUES:
		return parse_uint(what, val, 1, CONFIG_MAX_QUEUES,
		    &cfg->num_request_queues);
	case OPT_MAX_INODES:
		return parse_uint(what, val, 64, 1U << 26, &cfg->max_inodes);
	case OPT_MAX_HANDLES:
		return parse_uint(what, val, 16, 1U << 24, &cfg->max_handles);
	case OPT_WATCHDOG:
		if (parse_u64(val, &v64) < 0 || (v64 != 0 && v64 < 100) ||
		    v64 > 3600000)
			return bad("invalid value '%s' for %s (expected 0 or "
				   "an integer from 100 to 3600000)",
			    val, what);
		cfg->watchdog_ms = (unsigned)v64;
		return 0;
	case OPT_QUARANTINE:
		return parse_uint(what, val, 1, 100, &cfg->quarantine_crashes);
	case OPT_DEGRADE:
		return parse_uint(what, val, 1, 1000, &cfg->degrade_after);
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
		if ((r = check_xattrmap(what, val)) < 0)
			return r;
		return copy_str(what, cfg->xattrmap, sizeof(cfg->xattrmap),
		    val);
	case OPT_MODCAPS:
		if ((r = check_modcaps(what, val)) < 0)
			return r;
		return copy_str(what, cfg->modcaps, sizeof(cfg->modcaps), val);
	case OPT_TRANSLATE_UID:
		if ((r = check_translate(what, val)) < 0)
			return r;
		return append_str(what, cfg->translate_uid,
		    sizeof(cfg->translate_uid), val);
	case OPT_TRANSLATE_GID:
		if ((r = check_translate(what, val)) < 0)
			return r;
		return append_str(what, cfg->translate_gid,
		    sizeof(cfg->translate_gid), val);
	case OPT_UID_MAP:
		if ((r = check_idmap(what, val)) < 0)
			return r;
		return append_str(what, cfg->uid_map, sizeof(cfg->uid_map),
		    val);
	case OPT_GID_MAP:
		if ((r = check_idmap(what, val)) < 0)
			return r;
		return append_str(what, cfg->gid_map, sizeof(cfg->gid_map),
		    val);
	case OPT_PID_FILE:
		if (val[0] != '/' && val[0] != '\0') {
			char cwd[PATH_MAX], abs[PATH_MAX];

			/* The daemon pivots away from the cwd: store it whole.
			 */
			if (getcwd(cwd, sizeof(cwd)) == NULL ||
			    (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd,
				val) >= sizeof(abs))
				return bad("value for %s is too long", what);
			return copy_str(what, cfg->pid_file,
			    sizeof(cfg->pid_file), abs);
		}
		return copy_str(what, cfg->pid_file, sizeof(cfg->pid_file),
		    val);
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
		return parse_range(what, val, 0, UINT32_MAX, &v64);
	case OPT_IGNORED_NUMBER: {
		char *end;

		errno = 0;
		if (*val == '\0' || strtod(val, &end) < 0 || *end != '\0' ||
		    errno != 0)
			return bad("invalid value '%s' for %s (expected a "
				   "number of seconds)",
			    val, what);
		return 0;
	}
	case OPT_UNSUPPORTED:
		return bad("%s is not supported by phoenixfsd", what);
	}
	return bad("internal error: option %s", what);
}

static const struct opt *
find_opt(const struct opt *tab, size_t n, const char *name, size_t len)
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
static int
parse_legacy(struct config *cfg, const char *arg)
{
	char item[PATH_MAX + 64];
	const char *p = arg;

	if (*p == '\0')
		return bad("option '-o' requires a value");
	for (;;) {
		const struct opt *o;
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
				return bad("-o item is too long");
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
				return bad("unknown option '%s'", what);
			if (o->arg && eq == NULL)
				return bad("option '%s' requires a value "
					   "(%s=...)",
				    what, what);
			if (!o->arg && eq != NULL)
				return bad("option '%s' takes no value", what);
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

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->action = CONFIG_RUN;
	cfg->socket_fd = -1;
	cfg->cache = CONFIG_CACHE_AUTO;
	cfg->sandbox = CONFIG_SANDBOX_NAMESPACE;
	cfg->seccomp = CONFIG_SECCOMP_KILL;
	cfg->inode_file_handles = CONFIG_IFH_NEVER;
	cfg->thread_pool_size = 0;
	cfg->num_request_queues = 1;
	cfg->log_level = LOG_LEVEL_INFO;
	/* Rust virtiofsd >= 1.11 announces submounts unless told not to. */
	cfg->announce_submounts = true;
	cfg->readdirplus = true;
	cfg->foreground = true;
	cfg->max_inodes = 1U << 20;
	cfg->max_handles = 1U << 16;
	cfg->watchdog_ms = 5000;
	cfg->quarantine_crashes = 3;
	cfg->degrade_after = 5;
	cfg->journal = true;
}

/* Cross-option rules and host checks, for a run only. */
static int
validate(struct config *cfg)
{
	char canon[PATH_MAX];
	struct stat st;

	if (cfg->shared_dir[0] == '\0')
		return bad("missing --shared-dir (or -o source=DIR)");
	if (getenv("PHX_KEEPER_RESUME") != NULL) {
		/*
		 * A keeper re-executing itself for a live upgrade, inside its
		 * sandbox: the host paths are out of reach and were checked
		 * by the first keeper, which passes its canonical directory.
		 */
		const char *d = getenv("PHX_KEEPER_SHARED_DIR");

		if (d != NULL && strlen(d) < sizeof(cfg->shared_dir))
			memcpy(cfg->shared_dir, d, strlen(d) + 1);
		return 0;
	}
	if (realpath(cfg->shared_dir, canon) == NULL)
		return bad("shared directory '%s': %s", cfg->shared_dir,
		    strerror(errno));
	if (stat(canon, &st) < 0)
		return bad("shared directory '%s': %s", cfg->shared_dir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return bad("shared directory '%s' is not a directory",
		    cfg->shared_dir);
	memcpy(cfg->shared_dir, canon, strlen(canon) + 1);

	if (cfg->socket_path[0] != '\0' && cfg->socket_fd >= 0)
		return bad("--socket-path and --fd are mutually exclusive");
	if (cfg->socket_path[0] == '\0' && cfg->socket_fd < 0)
		return bad("missing --socket-path or --fd");
	if (cfg->socket_fd >= 0) {
		int type;
		socklen_t len = sizeof(type);

		if (fcntl(cfg->socket_fd, F_GETFD) < 0 ||
		    getsockopt(cfg->socket_fd, SOL_SOCKET, SO_TYPE, &type,
			&len) < 0)
			return bad("--fd %d is not an open socket",
			    cfg->socket_fd);
		if (cfg->socket_group[0] != '\0')
			return bad("--socket-group cannot be used with --fd");
	}
	if (cfg->socket_group[0] != '\0' && getgrnam(cfg->socket_group) == NULL)
		return bad("unknown group '%s' for --socket-group",
		    cfg->socket_group);
	if (cfg->posix_acl &&
	    (cfg->translate_uid[0] != '\0' || cfg->translate_gid[0] != '\0'))
		return bad("--translate-uid and --translate-gid cannot be used "
			   "with --posix-acl");
	{ /* the maps and --modcaps, as the worker will apply them */
		char msg[256];
		uint64_t caps;

		if (idmap_setup(cfg, msg, sizeof(msg)) < 0 ||
		    caps_worker_set(cfg, &caps, msg, sizeof(msg)) < 0)
			return bad("%s", msg);
	}

	/* As virtiofsd: these need xattrs, and cache=never no readdirplus. */
	if (cfg->xattrmap[0] != '\0' || cfg->posix_acl || cfg->security_label)
		cfg->xattr = true;
	if (cfg->cache == CONFIG_CACHE_NEVER)
		cfg->readdirplus = false;
	return 0;
}

int
config_parse(struct config *cfg, int argc, char **argv)
{
	bool options_done = false;
	int r;

	config_defaults(cfg);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		const struct opt *o;
		char what[96];

		if (options_done || arg[0] != '-' || arg[1] == '\0')
			return bad("unexpected argument '%s'", arg);
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (arg[1] != '-') {
			/* Short options, one per argument (-o takes -oVAL). */
			if (arg[1] == 'o') {
				if (arg[2] != '\0')
					r = parse_legacy(cfg, arg + 2);
				else if (i + 1 < argc)
					r = parse_legacy(cfg, argv[++i]);
				else
					r = bad("option '-o' requires a value");
			} else if (arg[2] != '\0') {
				r = bad("unknown option '%s'", arg);
			} else if (arg[1] == 'h') {
				r = set_option(cfg, OPT_HELP, arg, NULL);
			} else if (arg[1] == 'V') {
				r = set_option(cfg, OPT_VERSION, arg, NULL);
			} else if (arg[1] == 'd') {
				r = set_option(cfg, OPT_DEBUG, arg, NULL);
			} else if (arg[1] == 'f') {
				r = set_option(cfg, OPT_FOREGROUND, arg, NULL);
			} else {
				r = bad("unknown option '%s'", arg);
			}
			if (r < 0)
				return r;
			continue;
		}
		{
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq != NULL ? (size_t)(eq - arg - 2)
						: strlen(arg + 2);

			o = find_opt(long_opts, nitems(long_opts), arg + 2,
			    len);
			snprintf(what, sizeof(what), "--%.*s", (int)len,
			    arg + 2);
			if (o == NULL)
				return bad("unknown option '%s'", what);
			if (eq != NULL && !o->arg)
				return bad("option '%s' takes no value", what);
			if (eq != NULL)
				val = eq + 1;
			else if (o->arg && i + 1 < argc)
				val = argv[++i];
			else if (o->arg)
				return bad("option '%s' requires a value",
				    what);
		}
		if ((r = set_option(cfg, o->id, what, val)) < 0)
			return r;
	}
	if (cfg->action != CONFIG_RUN)
		return 0;
	return validate(cfg);
}

/*
 * The vhost-user backend capabilities (QEMU docs/interop/vhost-user.json,
 * VHostUserBackendCapabilitiesFS). Two fs features exist:
 *  - "separate-options": libvirt then passes --shared-dir, --cache,
 *    --sandbox, --xattr, --log-level, --uid-map... as separate options
 *    instead of one "-o source=...,..." string. We accept both, so we
 *    claim it: it is also the only form that gives --log-level and the id
 *    maps an unprivileged libvirt needs.
 *  - "migrate-precopy": libvirt then allows migrating the VM with the
 *    device. phoenixfsd implements no vhost-user device state transfer
 *    (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE), so it is not claimed.
 * Claims must be true (STYLE.md 2.4): print nothing we do not do.
 */
void
config_print_capabilities(void)
{
	fputs("{\n"
	      "  \"type\": \"fs\",\n"
	      "  \"features\": [\n"
	      "    \"separate-options\"\n"
	      "  ]\n"
	      "}\n",
	    stdout);
}

void
config_print_help(void)
{
	fputs(
	    "Usage: phoenixfsd --shared-dir DIR (--socket-path PATH | --fd N) "
	    "[OPTIONS]\n"
	    "       phoenixfsd -o source=DIR[,OPTION...] --socket-path=PATH "
	    "[OPTIONS]\n"
	    "\n"
	    "A virtio-fs vhost-user backend that survives its own crashes and "
	    "upgrades.\n"
	    "\n"
	    "  --shared-dir DIR             directory to share with the guest\n"
	    "  --socket-path PATH           vhost-user socket to create and "
	    "listen on\n"
	    "  --fd N                       inherited listening socket "
	    "instead\n"
	    "  --socket-group GROUP         group owning the socket (mode "
	    "0660)\n"
	    "  --tag TAG                    tag the device advertises "
	    "(VHOST_USER CONFIG)\n"
	    "  --cache MODE                 auto, always, metadata or never "
	    "[auto]\n"
	    "  --sandbox MODE               namespace, chroot or none "
	    "[namespace]\n"
	    "  --seccomp ACTION             kill, log, trap or none [kill]\n"
	    "  --inode-file-handles MODE    never, prefer or mandatory "
	    "[never]\n"
	    "  --thread-pool-size N         request threads, 0 = none [0]\n"
	    "  --log-level LEVEL            error, warn, info or debug [info]\n"
	    "  --syslog                     log to syslog instead of stderr\n"
	    "  --readonly                   refuse every change to the shared "
	    "tree\n"
	    "  --announce-submounts         tell the guest about submounts "
	    "[default]\n"
	    "  --no-announce-submounts      do not\n"
	    "  --xattr, --no-xattr          extended attributes [off]\n"
	    "  --xattrmap RULES             translate xattr names (implies "
	    "--xattr)\n"
	    "  --posix-acl                  POSIX ACLs (implies --xattr)\n"
	    "  --security-label             security labels (implies --xattr)\n"
	    "  --writeback                  writeback cache in the guest\n"
	    "  --allow-direct-io            honour OPT_DIRECT from the guest\n"
	    "  --allow-mmap                 allow shared mmap with "
	    "cache=never|metadata\n"
	    "  --no-readdirplus             disable READDIRPLUS\n"
	    "  --killpriv-v2                enable FUSE_HANDLE_KILLPRIV_V2\n"
	    "  --preserve-noatime           keep OPT_NOATIME from the guest\n"
	    "  --translate-uid MAP          TYPE:FROM:TO:COUNT, repeatable\n"
	    "  --translate-gid MAP          same for group ids\n"
	    "  --uid-map :NS:HOST:COUNT:    user namespace uid map, "
	    "repeatable\n"
	    "  --gid-map :NS:HOST:COUNT:    user namespace gid map, "
	    "repeatable\n"
	    "  --modcaps +CAP:-CAP          change the capability set\n"
	    "  --rlimit-nofile N            RLIMIT_NOFILE to set, 0 = default\n"
	    "  --pid-file PATH              write the daemon's pid to PATH\n"
	    "  --queues N                   request queues, 1 to 8 [1]\n"
	    "  --max-inodes N               inode table capacity [1048576]\n"
	    "  --max-handles N              open handle capacity [65536]\n"
	    "  --watchdog-ms N              stuck worker timeout, 0 = off "
	    "[5000]\n"
	    "  --quarantine-crashes N       crashes before a request is "
	    "refused [3]\n"
	    "  --degrade-after N            crashes before degraded service "
	    "[5]\n"
	    "  --no-journal                 no crash journal (benchmarks "
	    "only)\n"
	    "  --print-capabilities         print the vhost-user JSON and "
	    "exit\n"
	    "  -o OPT[,OPT...]              QEMU C virtiofsd options (source=, "
	    "cache=...)\n"
	    "  -d, --debug                  same as --log-level debug\n"
	    "  -f                           foreground (always; accepted)\n"
	    "  -V, --version                print the version and exit\n"
	    "  -h, --help                   print this help and exit\n"
	    "\n"
	    "See phoenixfsd(1).\n",
	    stdout);
}

static const char *
choice_name(const struct choice *c, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (!c[i].alias && c[i].value == value)
			return c[i].name;
	return "?";
}

#define CHOICE(tab, v) choice_name(tab, nitems(tab), (int)(v))
#define STR(s)         ((s)[0] != '\0' ? (s) : "-")

void
config_print(const struct config *cfg, FILE *f)
{
	static const char *const actions[] = {"run", "print-capabilities",
	    "version", "help"};

	fprintf(f, "action %s\n", actions[cfg->action]);
	fprintf(f, "socket_path %s\nsocket_fd %d\nsocket_group %s\n",
	    STR(cfg->socket_path), cfg->socket_fd, STR(cfg->socket_group));
	fprintf(f, "shared_dir %s\ntag %s\n", STR(cfg->shared_dir),
	    STR(cfg->tag));
	fprintf(f, "cache %s\nsandbox %s\nseccomp %s\n",
	    CHOICE(cache_choices, cfg->cache),
	    CHOICE(sandbox_choices, cfg->sandbox),
	    CHOICE(seccomp_choices, cfg->seccomp));
	fprintf(f, "inode_file_handles %s\nlog_level %s\n",
	    CHOICE(ifh_choices, cfg->inode_file_handles),
	    CHOICE(log_choices, cfg->log_level));
	fprintf(f, "thread_pool_size %u\nqueues %u\nrlimit_nofile %llu\n",
	    cfg->thread_pool_size, cfg->num_request_queues,
	    (unsigned long long)cfg->rlimit_nofile);
	fprintf(f, "syslog %d\nreadonly %d\nannounce_submounts %d\n",
	    cfg->use_syslog, cfg->readonly, cfg->announce_submounts);
	fprintf(f, "xattr %d\nposix_acl %d\nsecurity_label %d\n", cfg->xattr,
	    cfg->posix_acl, cfg->security_label);
	fprintf(f, "writeback %d\nallow_direct_io %d\nallow_mmap %d\n",
	    cfg->writeback, cfg->allow_direct_io, cfg->allow_mmap);
	fprintf(f, "readdirplus %d\nkillpriv_v2 %d\npreserve_noatime %d\n",
	    cfg->readdirplus, cfg->killpriv_v2, cfg->preserve_noatime);
	fprintf(f, "xattrmap %s\nmodcaps %s\n", STR(cfg->xattrmap),
	    STR(cfg->modcaps));
	fprintf(f, "translate_uid %s\ntranslate_gid %s\n",
	    STR(cfg->translate_uid), STR(cfg->translate_gid));
	fprintf(f, "uid_map %s\ngid_map %s\npid_file %s\n", STR(cfg->uid_map),
	    STR(cfg->gid_map), STR(cfg->pid_file));
	fprintf(f, "max_inodes %u\nmax_handles %u\nwatchdog_ms %u\n",
	    cfg->max_inodes, cfg->max_handles, cfg->watchdog_ms);
	fprintf(f, "quarantine_crashes %u\ndegrade_after %u\njournal %d\n",
	    cfg->quarantine_crashes, cfg->degrade_after, cfg->journal);
}

/*
 * FNV-1a 64 over "name=value\n" of each guest-visible field whose value
 * differs from the baseline frozen below. Omitting baseline values keeps
 * the digest of existing configurations unchanged when a later version
 * adds a field, so a live upgrade is not refused for a field nobody set;
 * the baseline is a constant, not the current default, so a changed
 * default does change the digest. Never edit a baseline value.
 */
struct digest {
	uint64_t h;
};

static void
digest_field(struct digest *d, const char *name, const char *val,
    const char *baseline)
{
	if (strcmp(val, baseline) == 0)
		return;
	for (const char *s = name; *s != '\0'; s++)
		d->h = (d->h ^ (unsigned char)*s) * 0x100000001b3ULL;
	d->h = (d->h ^ '=') * 0x100000001b3ULL;
	for (const char *s = val; *s != '\0'; s++)
		d->h = (d->h ^ (unsigned char)*s) * 0x100000001b3ULL;
	d->h = (d->h ^ '\n') * 0x100000001b3ULL;
}

static void
digest_uint(struct digest *d, const char *name, uint64_t v, uint64_t baseline)
{
	char buf[24], base[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	snprintf(base, sizeof(base), "%llu", (unsigned long long)baseline);
	digest_field(d, name, buf, base);
}

uint64_t
config_digest(const struct config *cfg)
{
	struct digest d = {0xcbf29ce484222325ULL};

	digest_field(&d, "shared_dir", cfg->shared_dir, "");
	digest_field(&d, "tag", cfg->tag, "");
	digest_uint(&d, "cache", cfg->cache, CONFIG_CACHE_AUTO);
	digest_uint(&d, "inode_file_handles", cfg->inode_file_handles,
	    CONFIG_IFH_NEVER);
	digest_uint(&d, "queues", cfg->num_request_queues, 1);
	digest_uint(&d, "readonly", cfg->readonly, 0);
	digest_uint(&d, "announce_submounts", cfg->announce_submounts, 1);
	digest_uint(&d, "xattr", cfg->xattr, 0);
	digest_uint(&d, "posix_acl", cfg->posix_acl, 0);
	digest_uint(&d, "security_label", cfg->security_label, 0);
	digest_uint(&d, "writeback", cfg->writeback, 0);
	digest_uint(&d, "allow_direct_io", cfg->allow_direct_io, 0);
	digest_uint(&d, "allow_mmap", cfg->allow_mmap, 0);
	digest_uint(&d, "readdirplus", cfg->readdirplus, 1);
	digest_uint(&d, "killpriv_v2", cfg->killpriv_v2, 0);
	digest_uint(&d, "preserve_noatime", cfg->preserve_noatime, 0);
	digest_field(&d, "xattrmap", cfg->xattrmap, "");
	digest_field(&d, "translate_uid", cfg->translate_uid, "");
	digest_field(&d, "translate_gid", cfg->translate_gid, "");
	digest_field(&d, "uid_map", cfg->uid_map, "");
	digest_field(&d, "gid_map", cfg->gid_map, "");
	digest_uint(&d, "max_inodes", cfg->max_inodes, 1U << 20);
	digest_uint(&d, "max_handles", cfg->max_handles, 1U << 16);
	digest_uint(&d, "journal", cfg->journal, 1);
	return d.h;
}
