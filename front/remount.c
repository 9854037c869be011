// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * phx-front remount, forgetrace and releaserace: the table lifetime checks.
 *
 * (reboot: a guest reboot, see reboot_main.)
 *
 * remount --pid PID [--files N] [--slack K] [--settle-ms MS]: what a guest
 * unmount + mount on the same device does to the daemon. After a warm-up
 * it counts the fds of /proc/PID/fd (the worker's table, which the keeper
 * shares), creates N files and keeps two handles and a lookup of each plus
 * an open directory, sends DESTROY, and checks that the count is back at
 * the baseline (K more allowed; a respawned worker may hold a few more
 * fds of its own); then INIT again: the old nodeid and fh are stale, the
 * new mount creates, writes, reads and looks up correctly (a wrongly
 * closed daemon fd would show here), and a second DESTROY frees it all.
 * The DESTROY may crash the worker (crash-points test): the reply then
 * comes from the replay, within the request timeout.
 *
 * forgetrace --seconds S: a hostile guest's FORGET racing requests on the
 * same nodeid. Each round looks a fresh file up, sends GETATTRs of it on
 * the request queue and its FORGET on the hiprio queue together with
 * LOOKUPs of other fresh files (each opens an fd, the lowest free number:
 * the one a FORGET just closed). Every GETATTR must answer the file's own
 * inode or ESTALE: EBADF means a request used a closed fd, another inode
 * means it used a number reused by another file. TAP.
 *
 * releaserace --seconds S: the same for file handles. Each round opens a
 * raced file, sends READs of its fh with its RELEASE among them, and
 * OPENs of other files (each takes the lowest free fd number: the one
 * the RELEASE just closed), whose handles it releases as they answer.
 * Every READ must answer the raced file's own bytes or EBADF (the fh was
 * released before the READ resolved it; a READ that used a closed fd
 * answers EBADF too, so that count is reported, not checked); another
 * file's bytes mean a READ used a number reused by an OPEN. TAP.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Open fds of pid (the worker's table), or -errno. */
static int
count_fds(int pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The count, waiting up to ms for it to fall to want (background sweep). */
static int
settle_fds(int pid, int want, int ms)
{
	int n = count_fds(pid);

	for (int waited = 0; n > want && waited < ms; waited += 50) {
		usleep(50000);
		n = count_fds(pid);
	}
	return n;
}

/*
 * The daemon's table sizes from CMD's output (phoenixfsd --status --json):
 * inodes in use, those holding an fd, handles in use. 0 or -1.
 */
static int
status_tables(const char *cmd, unsigned long long t[3])
{
	static const char *const key[3] = {"\"inodes\":{\"used\":",
		"\"with_fd\":", "\"handles\":{\"used\":"};
	char out[8192], *p;
	size_t n;
	FILE *f = popen(cmd, "r");

	memset(t, 0, 3 * sizeof(*t));
	if (f == NULL)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	if (pclose(f) != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if ((p = strstr(out, key[i])) == NULL)
			return -1;
		t[i] = strtoull(p + strlen(key[i]), NULL, 10);
	}
	return 0;
}

/* Creates (or reuses) dir/name, keeps its handle; 0 or -errno. */
static int
make_file(struct fusec *fc, uint64_t dir, const char *name,
    struct fuse_entry_out *e, struct fuse_open_out *o)
{
	return fusec_create(fc, dir, name, O_RDWR | O_CREAT, 0644, e, o);
}

/*
 * Creates (or reuses) dir/f0..f<n-1>, keeping a lookup and two handles of
 * each: f0's entry and first handle in *ret_e, *ret_o. 0 or -errno.
 */
static int
hold_files(struct fusec *fc, uint64_t dir, int n, struct fuse_entry_out *ret_e,
    struct fuse_open_out *ret_o)
{
	struct fuse_entry_out e;
	struct fuse_open_out o, o2;
	char name[32];
	int r = 0;

	for (int i = 0; i < n && r == 0; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if ((r = make_file(fc, dir, name, &e, &o)) < 0 ||
		    (r = fusec_lookup(fc, dir, name, &e)) < 0 ||
		    (r = fusec_open(fc, e.nodeid, O_RDONLY, &o2)) < 0)
			break;
		if (i == 0) {
			*ret_e = e;
			*ret_o = o;
		}
	}
	return r;
}

/* Warm-up: every kind of request once, then all of it forgotten. */
static int
warm_up(struct fusec *fc, const char *dname)
{
	struct fuse_entry_out d, e;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	char name[32];
	int r;

	if ((r = fusec_mkdir(fc, 1, dname, 0755, &d)) < 0)
		return r;
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		if ((r = make_file(fc, d.nodeid, name, &e, &o)) < 0 ||
		    (r = fusec_write(fc, e.nodeid, o.fh, 0, "x", 1)) < 0 ||
		    (r = fusec_release(fc, e.nodeid, o.fh)) < 0 ||
		    (r = fusec_getattr(fc, e.nodeid, &a)) < 0 ||
		    (r = fusec_unlink(fc, d.nodeid, name)) < 0 ||
		    (r = fusec_forget(fc, e.nodeid, 1)) < 0)
			return r;
	}
	if ((r = fusec_opendir(fc, d.nodeid, &o)) < 0 ||
	    (r = fusec_releasedir(fc, d.nodeid, o.fh)) < 0)
		return r;
	return fusec_forget(fc, d.nodeid, 1);
}

/* The new mount: create, write, read back, look up, all on fresh ids. */
static int
new_mount_works(struct fusec *fc, uint64_t dir, char *why, size_t len)
{
	struct fuse_entry_out e, l;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	char buf[64] = {0};
	int r;

	if ((r = make_file(fc, dir, "after", &e, &o)) < 0) {
		snprintf(why, len, "CREATE");
		return r;
	}
	if ((r = fusec_write(fc, e.nodeid, o.fh, 0, "remounted", 9)) != 9 ||
	    (r = fusec_read(fc, e.nodeid, o.fh, 0, buf, sizeof(buf))) != 9 ||
	    memcmp(buf, "remounted", 9) != 0) {
		snprintf(why, len, "WRITE/READ back (%d)", r);
		return r < 0 ? r : -EIO;
	}
	if ((r = fusec_lookup(fc, dir, "after", &l)) < 0 ||
	    l.nodeid != e.nodeid || (r = fusec_getattr(fc, e.nodeid, &a)) < 0 ||
	    a.attr.ino != e.attr.ino) {
		snprintf(why, len, "LOOKUP/GETATTR identity");
		return r < 0 ? r : -EIO;
	}
	(void)fusec_release(fc, e.nodeid, o.fh);
	return fusec_open(fc, e.nodeid, O_RDONLY, &o) < 0 ? -EIO :
	    fusec_release(fc, e.nodeid, o.fh);
}

int
remount_main(const struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"pid", required_argument, NULL, 'p'},
		{"files", required_argument, NULL, 'n'},
		{"slack", required_argument, NULL, 'k'},
		{"settle-ms", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	int pid = 0, nfiles = 200, slack = 0, settle = 3000, ch, r, base, n;
	struct fuse_entry_out d, first = {0};
	struct fuse_open_out od, ofirst = {0};
	struct vuf_dev *dev;
	struct fusec *fc;
	char dname[64], wname[64], name[32], buf[160];

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': pid = atoi(optarg); break;
		case 'n': nfiles = atoi(optarg); break;
		case 'k': slack = atoi(optarg); break;
		case 's': settle = atoi(optarg); break;
		default: return 2;
		}
	}
	if (pid <= 0 || count_fds(pid) < 0) {
		fprintf(stderr, "remount: --pid of the worker (or keeper)\n");
		return 2;
	}
	if ((r = cli_connect(c, &dev, &fc)) < 0) {
		printf("not ok 1 - connect + INIT (%s)\nBail out!\n",
		    strerror(-r));
		return 1;
	}
	fc->timeout_ms = 30000; /* a DESTROY may wait for a respawn */
	snprintf(dname, sizeof(dname), "remount.%d", getpid());
	snprintf(wname, sizeof(wname), "warm.%d", getpid());
	r = warm_up(fc, wname);
	cli_tap(r == 0, "warm-up (every kind of request once, all forgotten)",
	    r, NULL);
	base = count_fds(pid);
	r = fusec_mkdir(fc, 1, dname, 0755, &d);
	cli_tap(r == 0, "MKDIR", r, NULL);
	if (r == 0)
		r = hold_files(fc, d.nodeid, nfiles, &first, &ofirst);
	snprintf(buf, sizeof(buf), "%d files", nfiles);
	cli_tap(r == 0, "CREATE + LOOKUP + OPEN each file, handles kept", r,
	    buf);
	r = fusec_opendir(fc, d.nodeid, &od);
	cli_tap(r == 0, "OPENDIR kept", r, NULL);
	n = count_fds(pid);
	snprintf(buf, sizeof(buf), "baseline %d, now %d", base, n);
	cli_tap(n >= base + 3 * nfiles, "the mount holds an inode fd and two "
	    "handle fds a file", 0, buf);
	r = fusec_destroy(fc);
	cli_tap(r == 0, "DESTROY", r, fc->err);
	n = settle_fds(pid, base + slack, settle);
	snprintf(buf, sizeof(buf), "baseline %d, after DESTROY %d, slack %d",
	    base, n, slack);
	cli_tap(n <= base + slack, "DESTROY closed every inode and handle fd",
	    0, buf);
	r = fusec_init(fc);
	cli_tap(r == 0, "INIT again (remount)", r, fc->err);
	r = fusec_getattr(fc, first.nodeid, NULL);
	cli_tap(r == -ESTALE, "old nodeid: ESTALE", r, NULL);
	r = fusec_read(fc, first.nodeid, ofirst.fh, 0, buf, 16);
	cli_tap(r == -EBADF, "old fh: EBADF", r, NULL);
	r = fusec_lookup(fc, 1, dname, &d);
	cli_tap(r == 0, "LOOKUP the directory on the new mount", r, NULL);
	buf[0] = 0;
	r = new_mount_works(fc, d.nodeid, buf, sizeof(buf));
	cli_tap(r == 0, "new mount: CREATE, WRITE, READ, LOOKUP, OPEN", r, buf);
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		(void)fusec_unlink(fc, d.nodeid, name);
	}
	(void)fusec_unlink(fc, d.nodeid, "after");
	r = fusec_rmdir(fc, 1, dname);
	if (r == 0)
		r = fusec_rmdir(fc, 1, wname);
	cli_tap(r == 0, "clean up", r, NULL);
	r = fusec_destroy(fc);
	n = settle_fds(pid, base + slack, settle);
	snprintf(buf, sizeof(buf), "baseline %d, now %d", base, n);
	cli_tap(r == 0 && n <= base + slack, "second DESTROY: back to baseline",
	    r, buf);
	cli_tap(fc->proto_errors == 0, "no protocol errors", 0, fc->err);
	(void)vuf_stop(dev);
	cli_disconnect(dev, fc);
	return cli_tap_end();
}

/* ---- reboot ---- */

/*
 * reboot --pid PID [--boots B] [--files N] [--slack K] [--settle-ms MS]:
 * what a guest reboot does to the daemon (DESIGN 7): B times, create N
 * files keeping a lookup and two handles of each and an open directory,
 * then stop the device and set it up again as QEMU 7.2 does
 * (vuf_restart: GET_VRING_BASE per queue, RESET_DEVICE, the start
 * sequence) and INIT with no DESTROY. The INIT must be answered as the
 * first, the old nodeid and fh be stale, the new session work, and the
 * fd count of PID after each boot equal the one after the first (K more
 * allowed, for a respawned worker's own fds). With --status-cmd CMD (a
 * shell command printing phoenixfsd --status --json) the table sizes
 * after each boot (inodes, inodes holding an fd, handles) must equal
 * those after the first reset too. The worker may be killed anywhere
 * (crash-points test): replies then come from the replay.
 */
int
reboot_main(const struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"pid", required_argument, NULL, 'p'},
		{"boots", required_argument, NULL, 'b'},
		{"files", required_argument, NULL, 'n'},
		{"slack", required_argument, NULL, 'k'},
		{"settle-ms", required_argument, NULL, 's'},
		{"status-cmd", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	const char *status_cmd = NULL;
	unsigned long long tab[3], tab1[3] = {0};
	int tbad = 0;
	int pid = 0, boots = 3, nfiles = 50, slack = 0, settle = 3000, ch, r;
	int one = -1, n, bad = 0, b;
	struct fuse_entry_out d, first = {0};
	struct fuse_open_out od, ofirst = {0};
	struct fuse_init_out init1;
	struct vuf_dev *dev;
	struct fusec *fc;
	char dname[64], name[32], buf[200], why[64];

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': pid = atoi(optarg); break;
		case 'b': boots = atoi(optarg); break;
		case 'n': nfiles = atoi(optarg); break;
		case 'k': slack = atoi(optarg); break;
		case 's': settle = atoi(optarg); break;
		case 'c': status_cmd = optarg; break;
		default: return 2;
		}
	}
	if (pid <= 0 || count_fds(pid) < 0) {
		fprintf(stderr, "reboot: --pid of the worker (or keeper)\n");
		return 2;
	}
	if ((r = cli_connect(c, &dev, &fc)) < 0) {
		printf("not ok 1 - connect + INIT (%s)\nBail out!\n",
		    strerror(-r));
		return 1;
	}
	fc->timeout_ms = 30000; /* a reset may wait for a respawn */
	init1 = fc->init;
	snprintf(dname, sizeof(dname), "reboot.%d", getpid());
	for (b = 1; b <= boots; b++) {
		r = fusec_lookup(fc, 1, dname, &d);
		if (r == -ENOENT)
			r = fusec_mkdir(fc, 1, dname, 0755, &d);
		if (r == 0)
			r = hold_files(fc, d.nodeid, nfiles, &first, &ofirst);
		if (r == 0)
			r = fusec_opendir(fc, d.nodeid, &od);
		snprintf(buf, sizeof(buf), "boot %d: %d files, handles and a "
		    "directory kept (fds %d)", b, nfiles, count_fds(pid));
		cli_tap(r == 0, buf, r, NULL);
		r = vuf_restart(dev);
		snprintf(buf, sizeof(buf), "boot %d: device stop + set-up "
		    "(GET_VRING_BASE, RESET_DEVICE, rings again)", b);
		cli_tap(r == 0, buf, r, dev->err);
		if (r < 0)
			break;
		r = fusec_init(fc);
		snprintf(buf, sizeof(buf), "boot %d: INIT of the new boot, no "
		    "DESTROY before it: answered", b + 1);
		cli_tap(r == 0, buf, r, fc->err);
		cli_tap(r == 0 && fc->init.minor == init1.minor &&
		    fc->init.flags == init1.flags &&
		    fc->init.max_write == init1.max_write,
		    "  as the first INIT was", 0, NULL);
		r = fusec_getattr(fc, first.nodeid, NULL);
		cli_tap(r == -ESTALE, "  old nodeid: ESTALE", r, NULL);
		r = fusec_read(fc, first.nodeid, ofirst.fh, 0, buf, 16);
		cli_tap(r == -EBADF, "  old fh: EBADF", r, NULL);
		r = fusec_lookup(fc, 1, dname, &d);
		why[0] = 0;
		if (r == 0)
			r = new_mount_works(fc, d.nodeid, why, sizeof(why));
		cli_tap(r == 0, "  new session: LOOKUP, CREATE, WRITE, READ, "
		    "OPEN", r, why);
		n = settle_fds(pid, one < 0 ? 0 : one + slack, settle);
		if (one < 0)
			one = n;
		snprintf(buf, sizeof(buf), "  fds after boot %d: %d (after "
		    "the first reset: %d, slack %d)", b + 1, n, one, slack);
		cli_tap(n <= one + slack, buf, 0, NULL);
		bad += n > one + slack;
		if (status_cmd == NULL)
			continue;
		r = status_tables(status_cmd, tab);
		if (r == 0 && b == 1)
			memcpy(tab1, tab, sizeof(tab));
		snprintf(buf, sizeof(buf), "  tables after boot %d: inodes "
		    "%llu (%llu with an fd), handles %llu (after the first "
		    "reset: %llu %llu %llu)", b + 1, tab[0], tab[1], tab[2], tab1[0],
		    tab1[1], tab1[2]);
		cli_tap(r == 0 && memcmp(tab, tab1, sizeof(tab)) == 0, buf, r,
		    r < 0 ? "--status-cmd failed" : NULL);
		tbad += r < 0 || memcmp(tab, tab1, sizeof(tab)) != 0;
	}
	printf("# boots %d, fds after the first reset %d, mismatches %d", b,
	    one, bad);
	if (status_cmd != NULL)
		printf("; tables after it: inodes %llu (%llu with an fd), "
		    "handles %llu, mismatches %d", tab1[0], tab1[1], tab1[2],
		    tbad);
	printf("\n");
	(void)fusec_lookup(fc, 1, dname, &d);
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		(void)fusec_unlink(fc, d.nodeid, name);
	}
	(void)fusec_unlink(fc, d.nodeid, "after");
	r = fusec_rmdir(fc, 1, dname);
	cli_tap(r == 0, "clean up", r, NULL);
	cli_tap(fc->proto_errors == 0, "no protocol errors", 0, fc->err);
	(void)vuf_stop(dev);
	cli_disconnect(dev, fc);
	return cli_tap_end();
}

/* ---- forgetrace ---- */

/*
 * The start of forgetrace and releaserace: --seconds S (default 3), then
 * connect + INIT. 0, or the exit status to return (2 usage, 1 no
 * connection, with TAP's bail-out line).
 */
static int
race_start(const struct cli *c, int argc, char **argv, double *ret_secs,
    struct vuf_dev **ret_dev, struct fusec **ret_fc)
{
	static const struct option lo[] = {
		{"seconds", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	int ch, r;

	*ret_secs = 3;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch != 's')
			return 2;
		*ret_secs = atof(optarg);
	}
	if ((r = cli_connect(c, ret_dev, ret_fc)) < 0) {
		printf("not ok 1 - connect + INIT (%s)\nBail out!\n",
		    strerror(-r));
		return 1;
	}
	return 0;
}

/*
 * Submits reqs[0..n) and waits for every answer, handing each to fn (which
 * returns how many follow-up requests it submitted, or -errno) before
 * freeing it; the follow-ups are waited for too. 0, or -errno when the
 * client itself fails.
 */
static int
race_drain(struct fusec *fc, struct fusec_req **reqs, unsigned n,
    int (*fn)(struct fusec *fc, struct fusec_req *q, void *arg), void *arg)
{
	struct fusec_req *done[64];
	unsigned left;
	int r;

	for (unsigned i = 0; i < n; i++) {
		if (reqs[i] == NULL)
			return -ENOMEM;
		if ((r = fusec_submit(fc, reqs[i])) < 0)
			return r;
	}
	for (left = n; left > 0;) {
		int k = fusec_poll(fc, 10000, done, 64);

		if (k <= 0)
			return k == 0 ? -ETIMEDOUT : k;
		for (int i = 0; i < k; i++, left--) {
			r = fn(fc, done[i], arg);
			fusec_req_free(done[i]);
			if (r < 0)
				return r;
			left += (unsigned)r;
		}
	}
	return 0;
}

struct race_stats {
	unsigned long getattrs, ok, stale, ebadf, wrong, other, rounds;
};

/* A forgetrace answer: LOOKUPs are forgotten, GETATTRs checked. */
static int
race_answer(struct fusec *fc, struct fusec_req *q, void *arg)
{
	struct race_stats *st = arg;

	if (q->opcode == FUSE_LOOKUP && q->error == 0) {
		/* Forget it: its fd closes, number free. */
		struct fuse_entry_out le;

		memcpy(&le, q->reply, sizeof(le));
		(void)fusec_submit(fc, fusec_req_forget(fc, le.nodeid, 1));
		return 1;
	}
	if (q->opcode == FUSE_GETATTR) {
		const struct fuse_attr_out *a = q->reply;

		st->getattrs++;
		if (q->error == -ESTALE)
			st->stale++;
		else if (q->error == -EBADF)
			st->ebadf++;
		else if (q->error != 0)
			st->other++;
		else if (a->attr.ino != q->u[0])
			st->wrong++;
		else
			st->ok++;
	}
	return 0;
}

/* One round; -errno only when the client itself fails. */
static int
race_round(struct fusec *fc, uint64_t dir, unsigned round,
    struct race_stats *st)
{
	enum { GETATTRS = 24, OTHERS = 4 };
	struct fusec_req *reqs[GETATTRS + 2 * OTHERS + 1];
	struct fuse_entry_out e;
	unsigned n = 0;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "t%u", round % 64);
	if ((r = fusec_lookup(fc, dir, name, &e)) < 0)
		return r;
	for (unsigned i = 0; i < GETATTRS; i++) {
		reqs[n++] = fusec_req_getattr(fc, e.nodeid);
		if (i == GETATTRS / 3)
			reqs[n++] = fusec_req_forget(fc, e.nodeid, 1);
		if (i % (GETATTRS / OTHERS) == GETATTRS / OTHERS - 1) {
			snprintf(name, sizeof(name), "o%u",
			    (round * OTHERS + i) % 192);
			reqs[n++] = fusec_req_lookup(fc, dir, name);
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (reqs[i] != NULL)
			reqs[i]->u[0] = e.attr.ino;
	if ((r = race_drain(fc, reqs, n, race_answer, st)) < 0)
		return r;
	st->rounds++;
	return 0;
}

int
forgetrace_main(const struct cli *c, int argc, char **argv)
{
	struct race_stats st = {0};
	struct fuse_entry_out d, e;
	struct fuse_open_out o;
	struct vuf_dev *dev;
	struct fusec *fc;
	char dname[64], name[32], buf[200];
	double secs;
	time_t end;
	int r;

	if ((r = race_start(c, argc, argv, &secs, &dev, &fc)) != 0)
		return r;
	snprintf(dname, sizeof(dname), "race.%d", getpid());
	r = fusec_mkdir(fc, 1, dname, 0755, &d);
	for (int i = 0; r == 0 && i < 256; i++) {
		if (i < 64)
			snprintf(name, sizeof(name), "t%d", i);
		else
			snprintf(name, sizeof(name), "o%d", i - 64);
		if ((r = make_file(fc, d.nodeid, name, &e, &o)) == 0)
			r = fusec_release(fc, e.nodeid, o.fh);
		if (r == 0)
			r = fusec_forget(fc, e.nodeid, 1);
	}
	cli_tap(r == 0, "setup: 64 raced files, 192 others", r, NULL);
	end = time(NULL) + (time_t)secs;
	while (r == 0 && time(NULL) < end)
		r = race_round(fc, d.nodeid, (unsigned)st.rounds, &st);
	cli_tap(r == 0, "every request answered", r, fc->err);
	snprintf(buf, sizeof(buf), "%lu rounds, %lu GETATTRs: %lu ok, %lu "
	    "ESTALE, %lu EBADF, %lu another inode, %lu other errors",
	    st.rounds, st.getattrs, st.ok, st.stale, st.ebadf, st.wrong,
	    st.other);
	cli_tap(st.ebadf == 0, "no GETATTR used a closed fd (EBADF)", 0, buf);
	cli_tap(st.wrong == 0, "no GETATTR used a reused fd (another inode)", 0,
	    NULL);
	cli_tap(st.other == 0, "no other error", 0, NULL);
	cli_tap(st.stale > 0 && st.ok > 0, "the race happened (both outcomes)",
	    0, NULL);
	cli_tap(fc->proto_errors == 0, "no protocol errors", 0, fc->err);
	(void)vuf_stop(dev);
	cli_disconnect(dev, fc);
	return cli_tap_end();
}

/* ---- releaserace ---- */

enum { RR_RACED = 16, RR_OTHERS = 64, RR_LEN = 64 };

struct rr_stats {
	unsigned long reads, ok, ebadf, wrong, other, rounds;
};

/* The bytes of file name: distinct for every file of the test. */
static void
rr_content(const char *name, char *buf)
{
	memset(buf, '.', RR_LEN);
	memcpy(buf, name, strlen(name));
	buf[RR_LEN - 1] = '\n';
}

struct rr_arg {
	struct rr_stats *st;
	const char *want;	/* the raced file's bytes */
};

/* A releaserace answer: OPENs are released, READs checked. */
static int
rr_answer(struct fusec *fc, struct fusec_req *q, void *arg)
{
	const struct rr_arg *a = arg;
	struct fuse_open_out o;

	if (q->opcode == FUSE_OPEN && q->error == 0) {
		/* Release it: its fd closes, number free. */
		memcpy(&o, q->reply, sizeof(o));
		(void)fusec_submit(fc, fusec_req_release(fc, q->nodeid, o.fh,
		    false));
		return 1;
	}
	if (q->opcode == FUSE_READ) {
		a->st->reads++;
		if (q->error == -EBADF)
			a->st->ebadf++;
		else if (q->error != 0)
			a->st->other++;
		else if (q->reply_len != RR_LEN ||
		    memcmp(q->reply, a->want, RR_LEN) != 0)
			a->st->wrong++;
		else
			a->st->ok++;
	} else if (q->error != 0) {
		a->st->other++;
	}
	return 0;
}

/* One round; -errno only when the client itself fails. */
static int
rr_round(struct fusec *fc, const uint64_t *raced, const uint64_t *others,
    unsigned round, struct rr_stats *st)
{
	enum { READS = 24, OPENS = 4 };
	struct fusec_req *reqs[READS + OPENS + 1];
	unsigned k = round % RR_RACED, n = 0;
	struct fuse_open_out o;
	char want[RR_LEN], name[32];
	struct rr_arg a = {st, want};
	int r;

	snprintf(name, sizeof(name), "t%u", k);
	rr_content(name, want);
	if ((r = fusec_open(fc, raced[k], O_RDONLY, &o)) < 0)
		return r;
	for (unsigned i = 0; i < READS; i++) {
		reqs[n++] = fusec_req_read(fc, raced[k], o.fh, 0, RR_LEN);
		if (i == READS / 3)
			reqs[n++] = fusec_req_release(fc, raced[k], o.fh,
			    false);
		if (i >= READS / 3 && i % (READS / OPENS) == 0)
			reqs[n++] = fusec_req_open(fc,
			    others[(round * OPENS + i) % RR_OTHERS], O_RDONLY,
			    false);
	}
	if ((r = race_drain(fc, reqs, n, rr_answer, &a)) < 0)
		return r;
	st->rounds++;
	return 0;
}

/* A file of the test, written with its bytes and looked up (kept). */
static int
rr_make(struct fusec *fc, uint64_t dir, const char *name, uint64_t *ret)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	char buf[RR_LEN];
	int r;

	rr_content(name, buf);
	if ((r = make_file(fc, dir, name, &e, &o)) < 0)
		return r;
	if ((r = fusec_write(fc, e.nodeid, o.fh, 0, buf, RR_LEN)) >= 0)
		r = fusec_release(fc, e.nodeid, o.fh);
	*ret = e.nodeid;
	return r < 0 ? r : 0;
}

int
releaserace_main(const struct cli *c, int argc, char **argv)
{
	uint64_t raced[RR_RACED], others[RR_OTHERS];
	struct rr_stats st = {0};
	struct fuse_entry_out d;
	struct vuf_dev *dev;
	struct fusec *fc;
	char dname[64], name[32], buf[200];
	double secs;
	time_t end;
	int r;

	if ((r = race_start(c, argc, argv, &secs, &dev, &fc)) != 0)
		return r;
	snprintf(dname, sizeof(dname), "rrace.%d", getpid());
	r = fusec_mkdir(fc, 1, dname, 0755, &d);
	for (int i = 0; r == 0 && i < RR_RACED + RR_OTHERS; i++) {
		if (i < RR_RACED) {
			snprintf(name, sizeof(name), "t%d", i);
			r = rr_make(fc, d.nodeid, name, &raced[i]);
		} else {
			snprintf(name, sizeof(name), "o%d", i - RR_RACED);
			r = rr_make(fc, d.nodeid, name, &others[i - RR_RACED]);
		}
	}
	cli_tap(r == 0, "setup: 16 raced files, 64 others", r, NULL);
	end = time(NULL) + (time_t)secs;
	while (r == 0 && time(NULL) < end)
		r = rr_round(fc, raced, others, (unsigned)st.rounds, &st);
	cli_tap(r == 0, "every request answered", r, fc->err);
	snprintf(buf, sizeof(buf), "%lu rounds, %lu READs: %lu ok, %lu "
	    "EBADF, %lu another file's bytes, %lu other errors", st.rounds,
	    st.reads, st.ok, st.ebadf, st.wrong, st.other);
	cli_tap(st.wrong == 0, "no READ used a reused fd (another file)", 0,
	    buf);
	cli_tap(st.other == 0, "no other error", 0, NULL);
	cli_tap(st.ebadf > 0 && st.ok > 0, "the race happened (both outcomes)",
	    0, NULL);
	cli_tap(fc->proto_errors == 0, "no protocol errors", 0, fc->err);
	(void)vuf_stop(dev);
	cli_disconnect(dev, fc);
	return cli_tap_end();
}
