/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * phoenixfsd's entry point: parse the command line (config.c), answer
 * --help, --version and --print-capabilities, set up logging, then hand the
 * read-only configuration to the keeper (keeper.c), whose return value is
 * the exit status. Exit 2 means a bad command line, as with virtiofsd's
 * argument parser; nothing else is decided here.
 */
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "intent.h"
#include "keeper.h"
#include "log.h"
#include "status.h"
#include "upgrade.h"

#ifndef PHX_VERSION
#error "PHX_VERSION must be defined by the build"
#endif

/*
 * glibc's malloc computes its arena limit the first time a process needs
 * a ninth arena (a ninth thread that allocates), from get_nprocs(), which
 * opens /sys/devices/system/cpu/online (then /proc/stat) by name: after
 * pivot_root a path in the guest's share, where a FIFO would hang the
 * thread inside malloc (paths.sh's strace check caught it once slow mode
 * grew the pool to 16 threads; --thread-pool-size had the same hole). The
 * same limit (8 per CPU) from the affinity mask, a syscall, set first:
 * the worker inherits it, and a live upgrade's main() sets it again
 * without a path.
 */
static void
arena_limit(void)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		n = CPU_COUNT(&set);
	(void)mallopt(M_ARENA_MAX, 8 * n);
}

int
main(int argc, char **argv)
{
	static struct config cfg; /* large: not on the stack */
	int err;

	arena_limit();

	/* Live upgrade: the operator's tool, and the keeper's layout probe. */
	if (argc > 1 && strcmp(argv[1], "--upgrade") == 0)
		return upgrade_tool(argc - 2, argv + 2);
	/* The operator's status: read only, from the state region. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--status") == 0) {
			memmove(argv + i, argv + i + 1,
			    (size_t)(argc - i) * sizeof(*argv));
			return status_tool(argc - 2, argv + 1);
		}
	if (argc > 1 && strcmp(argv[1], "--probe-layout") == 0)
		return upgrade_probe();
	if (config_parse(&cfg, argc, argv) < 0)
		return 2;
	switch (cfg.action) {
	case CONFIG_PRINT_CAPS:
		config_print_capabilities();
		return fflush(stdout) == 0 ? 0 : 1;
	case CONFIG_VERSION:
		printf("phoenixfsd %s\n", PHX_VERSION);
		return fflush(stdout) == 0 ? 0 : 1;
	case CONFIG_HELP:
		config_print_help();
		return fflush(stdout) == 0 ? 0 : 1;
	case CONFIG_RUN:
		break;
	}

	log_init(cfg.log_level, cfg.use_syslog);
	log_procinit("launcher");
	/* No crash safety without io_uring (intent.h): refuse, say why. */
	if (getenv("PHX_KEEPER_RESUME") == NULL &&
	    (err = intent_probe()) < 0) {
		log_warnx("io_uring is not available (%s; a seccomp profile "
		    "or kernel.io_uring_disabled): without it a worker crash "
		    "can send a vhost-user reply twice and requests lose "
		    "exactly-once; not starting", strerror(-err));
		return 1;
	}
	if (getenv("PHX_KEEPER_RESUME") != NULL)
		; /* a keeper re-executing itself: it logs its own line */
	else if (cfg.socket_fd >= 0)
		log_info("phoenixfsd %s: sharing %s on inherited fd %d",
		    PHX_VERSION, cfg.shared_dir, cfg.socket_fd);
	else
		log_info("phoenixfsd %s: sharing %s on %s", PHX_VERSION,
		    cfg.shared_dir, cfg.socket_path);
	return keeper_launch(&cfg);
}
