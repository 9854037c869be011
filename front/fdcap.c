// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * phx-front fdcap: a guest that looks up more files than the daemon lets
 * one guest hold (--max-fds, --max-inodes, or the fd budget below
 * RLIMIT_NOFILE). The share holds DIR/f0 .. DIR/f<N-1> (made on the
 * host). fdcap looks each up until the first refusal, then checks:
 *   - the refusal is ENFILE, and the next lookups of new names too
 *     (never EMFILE, never a crash: the daemon answers every request);
 *   - the daemon keeps serving: GETATTR of the root and of a held file,
 *     a LOOKUP of an already-held name (no new entry), READDIR;
 *   - with --open-reserve (an fd cap, not an inode cap): at the lookup
 *     cap, OPENs of a held file still succeed (the quarter of the fd
 *     budget kept for handles) until their own refusal, ENFILE; all are
 *     released after;
 *   - FORGET of K held files gives their entries back: K lookups of names
 *     refused before then succeed (retried for up to 5 s, FORGET travels
 *     on another queue and has no reply);
 *   - READDIRPLUS of DIR at the cap lists every name: an entry the cap
 *     leaves without a table entry comes with nodeid 0 (the guest then
 *     instantiates nothing and looks it up when used), never an ENFILE
 *     for the whole listing (which made the guest's find skip the rest
 *     of the directory). The nodeids it returns are forgotten again.
 * With --expect-all (no cap below N: --inode-file-handles=prefer under a
 * low RLIMIT_NOFILE), every lookup must succeed instead.
 * With --kill-cmd CMD, CMD (which kills the worker) runs once the cap is
 * reached, before the checks above: the new worker must take over the
 * full tables with the fds they record, and serve within the budget
 *   - GETATTR of every held entry succeeds (no recorded fd lost, no
 *     entry the recovery could not keep);
 *   - then the checks above, unchanged (the cap still answers ENFILE,
 *     never EMFILE, and no crash loop: the worker's own fds fit beside
 *     the full tables).
 * Prints "fdcap: held H entries, first refusal ..." and TAP.
 *
 * usage: fdcap --dir NAME --files N [--forget K] [--open-reserve]
 *              [--expect-all] [--kill-cmd CMD]
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fdcap_args {
	const char *dir, *kill_cmd;
	unsigned files, forget;
	bool open_reserve, expect_all;
};

static int
fdcap_parse(int argc, char **argv, struct fdcap_args *a)
{
	static const struct option lo[] = {
		{"dir", required_argument, NULL, 'd'},
		{"files", required_argument, NULL, 'n'},
		{"forget", required_argument, NULL, 'k'},
		{"open-reserve", no_argument, NULL, 'o'},
		{"expect-all", no_argument, NULL, 'a'},
		{"kill-cmd", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	*a = (struct fdcap_args){.dir = "capdir", .files = 2000, .forget = 10};
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			a->dir = optarg;
			break;
		case 'n':
			a->files = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			a->forget = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			a->open_reserve = true;
			break;
		case 'a':
			a->expect_all = true;
			break;
		case 'K':
			a->kill_cmd = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	return a->files > 0 ? 0 : -EINVAL;
}

static int
lookup_name(struct fusec *fc, uint64_t dir, unsigned i,
    struct fuse_entry_out *e)
{
	char name[32];

	snprintf(name, sizeof(name), "f%u", i);
	return fusec_lookup(fc, dir, name, e);
}

/* A lookup of a refused name, retried while FORGETs are still in flight. */
static int
lookup_retry(struct fusec *fc, uint64_t dir, unsigned i, uint64_t *ret)
{
	struct fuse_entry_out e;
	int r = -ENFILE;

	for (int t = 0; t < 100 && r == -ENFILE; t++) {
		if ((r = lookup_name(fc, dir, i, &e)) == -ENFILE)
			usleep(50000);
	}
	if (r == 0)
		*ret = e.nodeid;
	return r;
}

/* OPENs of nodeid at the lookup cap: some succeed, then ENFILE. */
static void
open_reserve(struct fusec *fc, uint64_t nodeid)
{
	uint64_t fh[4096];
	struct fuse_open_out oo;
	unsigned n = 0;
	char extra[64];
	int r;

	while (n < 4096 && (r = fusec_open(fc, nodeid, O_RDONLY, &oo)) == 0)
		fh[n++] = oo.fh;
	snprintf(extra, sizeof(extra), "%u handles before the refusal", n);
	printf("fdcap: %s\n", extra);
	cli_tap(n > 0, "fdcap: OPEN of a held file at the lookup cap succeeds "
	    "(the handles' reserve)", n ? 0 : r, extra);
	cli_tap(r == -ENFILE, "fdcap: OPENs beyond the fd cap answer ENFILE",
	    r, extra);
	for (unsigned i = 0; i < n; i++)
		(void)fusec_release(fc, nodeid, fh[i]);
}

/* READDIRPLUS of dir at the cap: every name, nodeid 0 where no entry. */
static void
readdirplus_at_cap(struct fusec *fc, const struct fdcap_args *a, uint64_t dir)
{
	static uint8_t buf[32768];
	struct fuse_open_out oo;
	unsigned names = 0, with = 0, without = 0, calls = 0;
	uint64_t off = 0;
	char extra[96];
	int r, n = 0;

	if ((r = fusec_opendir(fc, dir, &oo)) == 0) {
		while (calls++ < a->files + 100 &&
		    (n = fusec_readdir(fc, dir, oo.fh, off, buf, sizeof(buf),
		    true)) > 0) {
			size_t p = 0;

			while (p + FUSE_NAME_OFFSET_DIRENTPLUS <= (size_t)n) {
				struct fuse_direntplus *dp = (void *)(buf + p);
				uint32_t nl = dp->dirent.namelen;
				bool dot = (nl == 1 && dp->dirent.name[0] == '.') ||
				    (nl == 2 && memcmp(dp->dirent.name, "..", 2) == 0);

				if (p + FUSE_NAME_OFFSET_DIRENTPLUS + nl > (size_t)n)
					break;
				if (!dot) {
					names++;
					if (dp->entry_out.nodeid != 0)
						with++;
					else
						without++;
				}
				if (dp->entry_out.nodeid != 0)
					(void)fusec_forget(fc,
					    dp->entry_out.nodeid, 1);
				off = dp->dirent.off;
				p += FUSE_DIRENT_ALIGN(
				    FUSE_NAME_OFFSET_DIRENTPLUS + nl);
			}
		}
		if (n < 0)
			r = n;
		(void)fusec_releasedir(fc, dir, oo.fh);
	}
	snprintf(extra, sizeof(extra), "%u of %u names, %u with a nodeid, "
	    "%u with nodeid 0", names, a->files, with, without);
	printf("fdcap: READDIRPLUS at the cap: %s%s%s\n", extra,
	    r < 0 ? ", error " : "", r < 0 ? strerror(-r) : "");
	cli_tap(r == 0 && names == a->files, "fdcap: READDIRPLUS of the "
	    "directory at the cap lists every name (nodeid 0 beyond it)", r,
	    extra);
}

static void
fdcap_checks(struct fusec *fc, const struct fdcap_args *a, uint64_t dir,
    uint64_t *held, unsigned nheld, unsigned next)
{
	struct fuse_entry_out e;
	struct fuse_attr_out at;
	struct fuse_open_out oo;
	uint8_t buf[4096];
	char extra[96];
	unsigned bad = 0, k, ok = 0;
	int r, last = 0;

	/* The next new names: refused the same way, the daemon alive. */
	for (unsigned i = next; i < next + 3 && i < a->files; i++) {
		if ((r = lookup_name(fc, dir, i, &e)) != -ENFILE) {
			bad++;
			last = r;
		}
		if (r == 0)
			(void)fusec_forget(fc, e.nodeid, 1);
	}
	cli_tap(bad == 0, "fdcap: further lookups of new names answer ENFILE",
	    last, NULL);
	cli_tap(fusec_getattr(fc, 1, &at) == 0, "fdcap: GETATTR of the root "
	    "at the cap", 0, NULL);
	r = fusec_getattr(fc, held[0], &at);
	cli_tap(r == 0, "fdcap: GETATTR of a held file at the cap", r, NULL);
	r = lookup_name(fc, dir, 0, &e);
	cli_tap(r == 0 && e.nodeid == held[0], "fdcap: LOOKUP of a held name "
	    "at the cap (no new entry)", r, NULL);
	if (r == 0)
		(void)fusec_forget(fc, e.nodeid, 1);
	r = fusec_opendir(fc, 1, &oo);
	if (r == 0) {
		int n = fusec_readdir(fc, 1, oo.fh, 0, buf, sizeof(buf), false);

		(void)fusec_releasedir(fc, 1, oo.fh);
		r = n < 0 ? n : 0;
	}
	/* OPENDIR needs a handle fd too: ENFILE is an answer, not a failure. */
	cli_tap(r == 0 || r == -ENFILE, "fdcap: OPENDIR + READDIR of the root "
	    "at the cap (ok or ENFILE)", r, NULL);
	if (a->open_reserve)
		open_reserve(fc, held[0]);
	/* FORGET gives entries back. */
	k = a->forget < nheld ? a->forget : nheld - 1;
	for (unsigned i = 0; i < k; i++)
		(void)fusec_forget(fc, held[nheld - 1 - i], 1);
	last = 0;
	for (unsigned i = 0; i < k && next + 3 + i < a->files; i++) {
		uint64_t id;

		if ((r = lookup_retry(fc, dir, next + 3 + i, &id)) == 0)
			ok++;
		else
			last = r;
	}
	snprintf(extra, sizeof(extra), "%u of %u", ok, k);
	cli_tap(k > 0 && ok == k, "fdcap: after FORGET of K held files, K "
	    "new lookups succeed", last, extra);
	readdirplus_at_cap(fc, a, dir);
}

/* The worker killed at the cap: every held entry still answers. */
static void
kill_at_cap(struct fusec *fc, const char *cmd, const uint64_t *held,
    unsigned nheld)
{
	struct fuse_attr_out at;
	char extra[64];
	unsigned ok = 0;
	int r, st, last = 0;

	st = system(cmd);
	cli_tap(st == 0, "fdcap: the kill command ran at the cap", st, cmd);
	for (unsigned i = 0; i < nheld; i++) {
		if ((r = fusec_getattr(fc, held[i], &at)) == 0)
			ok++;
		else
			last = r;
	}
	snprintf(extra, sizeof(extra), "%u of %u", ok, nheld);
	printf("fdcap: after the kill, GETATTR of held entries: %s\n", extra);
	cli_tap(ok == nheld, "fdcap: after the worker's kill at the cap, "
	    "GETATTR of every held entry succeeds", last, extra);
}

int
fdcap_main(const struct cli *c, int argc, char **argv)
{
	struct fdcap_args a;
	struct fuse_entry_out e;
	struct vuf_dev *d;
	struct fusec *fc;
	uint64_t dir, *held;
	unsigned nheld = 0, i;
	int r, first = 0;

	if (fdcap_parse(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: fdcap --dir NAME --files N "
		    "[--forget K] [--open-reserve] [--expect-all] "
		    "[--kill-cmd CMD]\n");
		return 2;
	}
	if ((r = cli_connect(c, &d, &fc)) < 0) {
		printf("not ok 1 - connect + INIT (%s)\nBail out!\n",
		    strerror(-r));
		return 1;
	}
	held = calloc(a.files, sizeof(*held));
	r = held ? fusec_lookup(fc, 1, a.dir, &e) : -ENOMEM;
	cli_tap(r == 0, "fdcap: LOOKUP of the directory", r, a.dir);
	if (r < 0) {
		free(held);
		cli_disconnect(d, fc);
		return cli_tap_end();
	}
	dir = e.nodeid;
	for (i = 0; i < a.files; i++) {
		if ((r = lookup_name(fc, dir, i, &e)) < 0) {
			first = r;
			break;
		}
		held[nheld++] = e.nodeid;
	}
	printf("fdcap: held %u entries, first refusal at f%u: %s\n", nheld,
	    i, first ? strerror(-first) : "none");
	if (a.expect_all) {
		cli_tap(nheld == a.files, "fdcap: every lookup succeeds (no cap "
		    "below --files)", first, NULL);
		r = fusec_getattr(fc, held[0], &(struct fuse_attr_out){0});
		cli_tap(r == 0, "fdcap: GETATTR of the first file", r, NULL);
	} else {
		cli_tap(first == -ENFILE, "fdcap: the first lookup beyond the "
		    "cap answers ENFILE", first, NULL);
	}
	if (a.kill_cmd != NULL && nheld > 0)
		kill_at_cap(fc, a.kill_cmd, held, nheld);
	if (!a.expect_all && first == -ENFILE && nheld > 1)
		fdcap_checks(fc, &a, dir, held, nheld, i + 1);
	free(held);
	cli_disconnect(d, fc);
	return cli_tap_end();
}
