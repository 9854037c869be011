/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli: what the phx-front subcommands share: parsed global options, the
 * connect+INIT helper and TAP/latency utilities. The subcommands live in
 * bench.c, hostile.c, chaos.c and remount.c; main() and smoke are in
 * phx-front.c.
 */
#ifndef PHX_FRONT_CLI_H
#define PHX_FRONT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "fusec.h"
#include "vuf.h"

struct cli {
	const char *sock;
	const char *label;    /* daemon=<label> in result lines */
	struct vuf_opts vo;
	int wait_s;	      /* how long to retry connecting */
	bool verbose;
	bool no_init;	      /* cli_connect skips FUSE_INIT */
};

/* Connect (retrying up to c->wait_s), handshake and INIT. -errno; the
 * reason is printed to stderr. */
int cli_connect(const struct cli *c, struct vuf_dev **ret_dev,
    struct fusec **ret_fc);
void cli_disconnect(struct vuf_dev *d, struct fusec *fc);

/* Latency histogram: 1 us buckets to 100 ms, then max only. */
struct cli_hist {
	uint64_t n;
	uint64_t max_ns;
	uint32_t *b; /* 100000 buckets */
};
int cli_hist_init(struct cli_hist *h);
void cli_hist_add(struct cli_hist *h, uint64_t ns);
/* Percentile in microseconds (0 < p <= 100). */
double cli_hist_pct(const struct cli_hist *h, double p);
void cli_hist_free(struct cli_hist *h);

/* TAP: one numbered line (r < 0 adds strerror, extra in brackets). */
void cli_tap(bool ok, const char *desc, int r, const char *extra);
/* The plan and the totals; exit status 1 if any line failed. */
int cli_tap_end(void);

/* Subcommands: argv[0] is the subcommand name. Exit status. */
int bench_main(const struct cli *c, int argc, char **argv);
int hostile_main(const struct cli *c, int argc, char **argv);
/* guestsec.c: issue 9's request-level attacks (ids, special, ringgone). */
int guestsec_main(const struct cli *c, int argc, char **argv);
int chaos_main(const struct cli *c, int argc, char **argv);
/* remount.c: DESTROY + INIT table lifetime, FORGET racing requests. */
int remount_main(const struct cli *c, int argc, char **argv);
int reboot_main(const struct cli *c, int argc, char **argv);
int forgetrace_main(const struct cli *c, int argc, char **argv);
int releaserace_main(const struct cli *c, int argc, char **argv);
int secprobe_main(const struct cli *c, int argc, char **argv);
/* fdcap.c: ENFILE beyond the daemon's inode and fd caps. */
int fdcap_main(const struct cli *c, int argc, char **argv);
/* inoreuse.c: a reused inode number under a held nodeid. */
int inoreuse_main(const struct cli *c, int argc, char **argv);

#endif
