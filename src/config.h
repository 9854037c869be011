/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's configuration: parsed once by config_parse() in the launcher
 * from a virtiofsd-compatible command line, then read-only. It is copied
 * into every worker by clone and its digest is stored in the state region
 * header, so a respawned or upgraded worker serves exactly what the first
 * one did.
 */
#ifndef PHX_CONFIG_H
#define PHX_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"

enum config_cache {
	CONFIG_CACHE_AUTO,
	CONFIG_CACHE_ALWAYS,
	CONFIG_CACHE_METADATA,
	CONFIG_CACHE_NEVER
};
enum config_sandbox {
	CONFIG_SANDBOX_NAMESPACE,
	CONFIG_SANDBOX_CHROOT,
	CONFIG_SANDBOX_NONE
};
enum config_seccomp {
	CONFIG_SECCOMP_KILL,
	CONFIG_SECCOMP_LOG,
	CONFIG_SECCOMP_TRAP,
	CONFIG_SECCOMP_NONE
};
enum config_ifh { CONFIG_IFH_NEVER, CONFIG_IFH_PREFER, CONFIG_IFH_MANDATORY };

enum config_action {
	CONFIG_RUN,
	CONFIG_PRINT_CAPS,
	CONFIG_VERSION,
	CONFIG_HELP
};

/*
 * Bounds that must agree with region.h: request queues + hiprio <=
 * REGION_MAX_QUEUES, and pool + queue threads + hiprio <= REGION_MAX_THREADS
 * (every serving thread owns a redo log).
 */
#define CONFIG_MAX_QUEUES      8  /* --queues */
#define CONFIG_MAX_THREAD_POOL 48 /* --thread-pool-size */
#define CONFIG_POLL_MAX_US_DEF 200 /* --poll-max-us; KVM's halt_poll_ns too */
#define CONFIG_TAG_MAX         36 /* --tag, as virtiofsd's MAX_TAG_LEN */

struct config {
	enum config_action action;
	char socket_path[PATH_MAX]; /* "" when fd >= 0 */
	int socket_fd;              /* --fd: inherited listening socket, -1 */
	char socket_group[64];      /* "" = none */
	char shared_dir[PATH_MAX];  /* absolute, canonical */
	enum config_cache cache;
	enum config_sandbox sandbox;
	enum config_seccomp seccomp;
	enum config_ifh inode_file_handles;
	unsigned thread_pool_size;   /* 0 = requests served on queue threads */
	unsigned num_request_queues; /* request queues, >= 1 */
	enum log_level log_level;
	bool use_syslog;
	bool readonly;
	bool announce_submounts;
	bool xattr;
	bool posix_acl;
	bool writeback;
	bool allow_direct_io;
	bool killpriv_v2;
	bool preserve_noatime;
	bool security_label;
	/*
	 * -o no_posix_lock / -o no_flock: do not offer FUSE_POSIX_LOCKS /
	 * FUSE_FLOCK_LOCKS at INIT (pt_lock.c serves both otherwise), so the
	 * guest kernel keeps those locks to itself. Negative so that a zeroed
	 * config offers locks, as the default does.
	 */
	bool no_posix_lock;
	bool no_flock;
	/*
	 * --poll-max-us: longest spin of a queue thread waiting for the next
	 * request (pollwin.h); 0 = never spin, always sleep on the kick.
	 */
	unsigned poll_max_us;
	bool foreground;         /* always true; -f accepted */
	uint64_t rlimit_nofile;  /* 0 = keep */
	char pid_file[PATH_MAX]; /* "" = none */
	char xattrmap[4096];     /* "" = none */
	char translate_uid[256]; /* "" = identity */
	char translate_gid[256];
	char modcaps[256];
	/*
	 * Options that may be given more than once (--translate-uid/-gid,
	 * --uid-map/--gid-map) keep every occurrence, in order, separated by
	 * one space; each was checked for syntax by config_parse().
	 */
	char uid_map[256]; /* --uid-map ":ns:host:count:" ... */
	char gid_map[256];
	char tag[CONFIG_TAG_MAX + 1]; /* --tag; "" = none */
	bool readdirplus;             /* default true; false with cache=never */
	bool allow_mmap;              /* --allow-mmap */
	unsigned max_inodes;          /* table capacity */
	unsigned max_handles;
	unsigned max_fds;             /* --max-fds: table fds, 0 = rlimit's */
	unsigned watchdog_ms;        /* 0 = off; default 5000 */
	unsigned quarantine_crashes; /* N: default 3 */
	unsigned degrade_after;      /* K: default 5 */
	bool journal;                /* false only for benchmarks */
};

/*
 * Parses argv into *cfg (defaults first). On a bad option or value prints
 * one line "phoenixfsd: <what>" to stderr and returns -EINVAL; the caller
 * exits with status 2. Accepts virtiofsd's long options and the legacy
 * "-o source=DIR,cache=...,..." form of QEMU's C virtiofsd.
 */
int config_parse(struct config *cfg, int argc, char **argv);
/* Writes the --print-capabilities JSON that libvirt reads to stdout. */
void config_print_capabilities(void);
/* Writes --help text to stdout. */
void config_print_help(void);
/*
 * Writes every field as "name value" lines (enums by their option names),
 * for debug logs and the golden tests in tests/config/.
 */
void config_print(const struct config *cfg, FILE *f);
/* A digest of the fields that change what the guest sees (for the region). */
uint64_t config_digest(const struct config *cfg);

#endif
