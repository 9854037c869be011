/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line. config_parse() walks argv the way virtiofsd does: long
 * options as "--opt=value" or "--opt value", one short option per
 * argument, "-o key[=value],..." in QEMU C virtiofsd's form, then runs
 * config_validate(). Which options exist and what they set is
 * config_opt.c's. Errors are reported as exactly one "phoenixfsd: ..."
 * line on stderr (config_error()) and -EINVAL, and nothing else is
 * written. The result is read-only afterwards; config_digest() hashes the
 * fields the guest can observe, for the state region header (DESIGN.md
 * sections 2 and 8).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int
config_error(const char *fmt, ...)
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
	cfg->poll_max_us = CONFIG_POLL_MAX_US_DEF;
	cfg->quarantine_crashes = 3;
	cfg->degrade_after = 5;
	cfg->journal = true;
}

int
config_parse(struct config *cfg, int argc, char **argv)
{
	bool options_done = false;
	int r;

	config_defaults(cfg);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		const struct config_opt *o;
		char what[96];

		if (options_done || arg[0] != '-' || arg[1] == '\0')
			return config_error("unexpected argument '%s'", arg);
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (arg[1] != '-') {
			/* Short options, one per argument (-o takes -oVAL). */
			if (arg[1] == 'o') {
				if (arg[2] != '\0')
					r = config_opt_legacy(cfg, arg + 2);
				else if (i + 1 < argc)
					r = config_opt_legacy(cfg, argv[++i]);
				else
					r = config_error(
					    "option '-o' requires a value");
			} else if (arg[2] != '\0') {
				r = config_error("unknown option '%s'", arg);
			} else {
				r = config_opt_short(cfg, arg[1], arg);
			}
			if (r < 0)
				return r;
			continue;
		}
		{
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq != NULL ? (size_t)(eq - arg - 2)
						: strlen(arg + 2);

			o = config_opt_long(arg + 2, len);
			snprintf(what, sizeof(what), "--%.*s", (int)len,
			    arg + 2);
			if (o == NULL)
				return config_error("unknown option '%s'",
				    what);
			if (eq != NULL && !config_opt_takes_value(o))
				return config_error(
				    "option '%s' takes no value", what);
			if (eq != NULL)
				val = eq + 1;
			else if (config_opt_takes_value(o) && i + 1 < argc)
				val = argv[++i];
			else if (config_opt_takes_value(o))
				return config_error(
				    "option '%s' requires a value", what);
		}
		if ((r = config_opt_set(cfg, o, what, val)) < 0)
			return r;
	}
	if (cfg->action != CONFIG_RUN)
		return 0;
	return config_validate(cfg);
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
	digest_uint(&d, "no_posix_lock", cfg->no_posix_lock, 0);
	digest_uint(&d, "no_flock", cfg->no_flock, 0);
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
