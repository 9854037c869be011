/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The checks a run needs after every option is read: rules that span
 * options, and the host (the shared directory exists and is canonicalized,
 * the inherited socket is a socket, the group exists, the id maps and
 * --modcaps apply as the worker will apply them). Then the derived
 * settings virtiofsd also derives. Not run for --help, --version or
 * --print-capabilities.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caps.h"
#include "config_int.h"
#include "idmap.h"

/* Cross-option rules and host checks, for a run only. */
int
config_validate(struct config *cfg)
{
	char canon[PATH_MAX];
	struct stat st;

	if (cfg->shared_dir[0] == '\0')
		return config_error("missing --shared-dir (or -o source=DIR)");
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
		return config_error("shared directory '%s': %s",
		    cfg->shared_dir, strerror(errno));
	if (stat(canon, &st) < 0)
		return config_error("shared directory '%s': %s",
		    cfg->shared_dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return config_error("shared directory '%s' is not a directory",
		    cfg->shared_dir);
	memcpy(cfg->shared_dir, canon, strlen(canon) + 1);

	if (cfg->socket_path[0] != '\0' && cfg->socket_fd >= 0)
		return config_error(
		    "--socket-path and --fd are mutually exclusive");
	if (cfg->socket_path[0] == '\0' && cfg->socket_fd < 0)
		return config_error("missing --socket-path or --fd");
	if (cfg->socket_fd >= 0) {
		int type;
		socklen_t len = sizeof(type);

		if (fcntl(cfg->socket_fd, F_GETFD) < 0 ||
		    getsockopt(cfg->socket_fd, SOL_SOCKET, SO_TYPE, &type,
			&len) < 0)
			return config_error("--fd %d is not an open socket",
			    cfg->socket_fd);
		if (cfg->socket_group[0] != '\0')
			return config_error(
			    "--socket-group cannot be used with --fd");
	}
	if (cfg->socket_group[0] != '\0' && getgrnam(cfg->socket_group) == NULL)
		return config_error("unknown group '%s' for --socket-group",
		    cfg->socket_group);
	if (cfg->posix_acl &&
	    (cfg->translate_uid[0] != '\0' || cfg->translate_gid[0] != '\0'))
		return config_error(
		    "--translate-uid and --translate-gid cannot be used "
		    "with --posix-acl");
	{ /* the maps and --modcaps, as the worker will apply them */
		char msg[256];
		uint64_t caps;

		if (idmap_setup(cfg, msg, sizeof(msg)) < 0 ||
		    caps_worker_set(cfg, &caps, msg, sizeof(msg)) < 0)
			return config_error("%s", msg);
	}

	/* As virtiofsd: these need xattrs, and cache=never no readdirplus. */
	if (cfg->xattrmap[0] != '\0' || cfg->posix_acl || cfg->security_label)
		cfg->xattr = true;
	if (cfg->cache == CONFIG_CACHE_NEVER)
		cfg->readdirplus = false;
	return 0;
}
