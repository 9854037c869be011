// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guestsec: the phx-front "guestsec" subcommand, issue 9's request-level
 * attacks of a hostile guest kernel (TAP; tests/integ/guestsec.sh drives
 * it and checks the host side):
 *
 *   guestsec ids            creations with caller uid or gid -1 (EPERM
 *                           wanted), and SETATTR 04755 of any that was
 *                           made anyway (the setuid-root attack)
 *   guestsec special NAME.. CREATE without O_EXCL of each existing NAME in
 *                           the root (a FIFO, a device node): an error,
 *                           in time, and the daemon still serving
 *   guestsec owner PLAIN SUID1 SUID2
 *                           under a --translate-uid/-gid map that
 *                           sends guest root elsewhere: PLAIN (0755) and
 *                           SUIDn (04755) are host files of an owner no
 *                           guest id maps to. SETATTR 04755 of PLAIN is
 *                           refused, 02755 keeps no S_ISGID; a WRITE
 *                           (no KILL_SUIDGID flag) to SUID1 and a
 *                           truncating SETATTR of SUID2 clear S_ISUID,
 *                           as for a host writer without CAP_FSETID;
 *                           a file the guest made may still get 04755
 *   guestsec variants FIFO CHR
 *                           the attacker review's variants of findings
 *                           1-3 (each must answer an error, in time,
 *                           the daemon serving on): OPEN, OPENDIR,
 *                           truncating SETATTR, READLINK of the FIFO and
 *                           the device node, OPEN through a hard link
 *                           of the FIFO, CREATE O_TRUNC of the FIFO's
 *                           name; "..", "." and "a/b" as the name of
 *                           each creation, LINK and RENAME2 (and
 *                           RENAME_WHITEOUT); SYMLINK and TMPFILE with
 *                           caller uid -1, SETATTR to owner or group -1;
 *                           LOOKUP ".." of the root is the root
 *   guestsec ringgone       a slow request held in the pool (PHX_DELAY
 *                           queue.pool_job on the daemon) while a memory
 *                           table without the rings arrives, then the
 *                           real table again: the held request and one
 *                           sent meanwhile complete, the queue serves on
 *
 * Options: --timeout MS (default 5000) for each request's answer.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A creation named name in the root as caller uid:gid; -errno or 0. */
static int
create_as(struct fusec *fc, uint32_t op, const char *name, uint32_t uid,
    uint32_t gid, uint64_t *ret_nodeid)
{
	struct fusec_req *req;
	struct fuse_entry_out e;
	int r;

	switch (op) {
	case FUSE_CREATE:
		req = fusec_req_create(fc, 1, name, O_RDWR | O_CREAT, 0755);
		break;
	case FUSE_MKNOD:
		req = fusec_req_mknod(fc, 1, name, S_IFREG | 0755, 0);
		break;
	default: {
		struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
		struct iovec a[2] = {{&in, sizeof(in)},
		    {(void *)(uintptr_t)name, strlen(name) + 1}};

		req = fusec_req_new(fc, FUSE_MKDIR, 1, a, 2, 0, sizeof(e), 0);
	}
	}
	if (req == NULL)
		return -ENOMEM;
	req->ih->uid = uid;
	req->ih->gid = gid;
	r = fusec_call(fc, req);
	if (r == -ETIMEDOUT || r == -EPIPE)
		return r;
	if (r == 0 && req->reply_len >= sizeof(e)) {
		memcpy(&e, req->reply, sizeof(e));
		*ret_nodeid = e.nodeid;
	}
	fusec_req_free(req);
	return r;
}

static int
c_ids(struct fusec *fc)
{
	static const struct {
		uint32_t uid, gid;
	} who[] = {{UINT32_MAX, 0}, {0, UINT32_MAX}, {UINT32_MAX, UINT32_MAX},
	    {UINT32_MAX, 1000}};
	static const uint32_t ops[] = {FUSE_CREATE, FUSE_MKNOD, FUSE_MKDIR};
	char desc[160], name[64], extra[96];

	for (size_t w = 0; w < sizeof(who) / sizeof(who[0]); w++) {
		for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
			uint64_t nodeid = 0;
			int r;

			snprintf(name, sizeof(name), "gs-neg1-%zu-%zu", w, o);
			r = create_as(fc, ops[o], name, who[w].uid, who[w].gid,
			    &nodeid);
			extra[0] = '\0';
			if (r == 0 && nodeid != 0) {
				/* Made anyway: the attack's second step. */
				struct fuse_setattr_in in = {
				    .valid = FATTR_MODE, .mode = 04755};
				struct fuse_attr_out a;

				if (fusec_setattr(fc, nodeid, &in, &a) == 0)
					snprintf(extra, sizeof(extra),
					    "made, then SETATTR -> mode %o "
					    "uid %u", a.attr.mode & 07777,
					    a.attr.uid);
			}
			snprintf(desc, sizeof(desc),
			    "%s as uid %d gid %d: EPERM",
			    ops[o] == FUSE_CREATE ? "CREATE" :
			    ops[o] == FUSE_MKNOD ? "MKNOD" : "MKDIR",
			    (int)who[w].uid, (int)who[w].gid);
			cli_tap(r == -EPERM, desc, r, extra);
		}
	}
	cli_tap(fusec_getattr(fc, 1, NULL) == 0, "GETATTR root afterwards", 0,
	    NULL);
	return cli_tap_end();
}

static int
c_special(struct fusec *fc, int argc, char **argv)
{
	char desc[200], extra[64];

	for (int i = 0; i < argc; i++) {
		uint64_t t0 = now_ms();
		int r = fusec_create(fc, 1, argv[i], O_WRONLY | O_CREAT, 0644,
		    NULL, NULL);

		snprintf(desc, sizeof(desc),
		    "CREATE without O_EXCL of existing '%s': an error, in time",
		    argv[i]);
		snprintf(extra, sizeof(extra), "%llu ms",
		    (unsigned long long)(now_ms() - t0));
		cli_tap(r < 0 && r != -ETIMEDOUT && r != -EPIPE, desc,
		    r < 0 ? r : 0, extra);
		if (r == -ETIMEDOUT || r == -EPIPE)
			break;
	}
	cli_tap(fusec_getattr(fc, 1, NULL) == 0,
	    "GETATTR root afterwards (still serving)", 0, NULL);
	return cli_tap_end();
}

/* One request of op with args as caller uid:gid; its answer. */
static int
call_as(struct fusec *fc, uint32_t op, uint64_t nodeid,
    const struct iovec *a, unsigned n, size_t out, uint32_t uid,
    uint32_t gid)
{
	struct fusec_req *req = fusec_req_new(fc, op, nodeid, a, n, 0, out, 0);
	int r;

	if (req == NULL)
		return -ENOMEM;
	req->ih->uid = uid;
	req->ih->gid = gid;
	r = fusec_call(fc, req);
	if (r != -ETIMEDOUT && !(r == -EPIPE && req->abandoned))
		fusec_req_free(req);
	return r;
}

/* An error answer, in time: r < 0 but no timeout or lost connection. */
static void
tap_err(int r, int want, const char *what, const char *name)
{
	char desc[200];

	snprintf(desc, sizeof(desc), "%s: %s", what,
	    want != 0 ? strerror(-want) : "an error");
	cli_tap(r < 0 && r != -ETIMEDOUT && r != -EPIPE &&
	    (want == 0 || r == want), desc, r < 0 ? r : 0, name);
}

static int
c_variants(struct fusec *fc, int argc, char **argv)
{
	static const char *const bad[] = {"..", ".", "a/b"};
	struct fuse_entry_out e[2], l, root;
	struct fuse_setattr_in in;
	struct fuse_open_out o;
	char buf[64];
	int r;

	if (argc != 2)
		return 2;
	for (int i = 0; i < 2; i++) {
		r = fusec_lookup(fc, 1, argv[i], &e[i]);
		cli_tap(r == 0, "LOOKUP of a special file", r, argv[i]);
		if (r < 0)
			return cli_tap_end();
	}
	for (int i = 0; i < 2; i++) {
		tap_err(fusec_open(fc, e[i].nodeid, O_RDWR, &o), 0,
		    "OPEN O_RDWR of a special file", argv[i]);
		tap_err(fusec_opendir(fc, e[i].nodeid, &o), -ENOTDIR,
		    "OPENDIR of a special file", argv[i]);
		memset(&in, 0, sizeof(in));
		in.valid = FATTR_SIZE;
		tap_err(fusec_setattr(fc, e[i].nodeid, &in, NULL), 0,
		    "SETATTR size 0 of a special file", argv[i]);
		tap_err(fusec_readlink(fc, e[i].nodeid, buf, sizeof(buf)),
		    -EINVAL, "READLINK of a special file", argv[i]);
	}
	r = fusec_link(fc, e[0].nodeid, 1, "gs-fifo-link", &l);
	cli_tap(r == 0, "LINK of the FIFO (allowed: it opens nothing)", r,
	    NULL);
	if (r == 0)
		tap_err(fusec_open(fc, l.nodeid, O_WRONLY, &o), 0,
		    "OPEN through the hard link of the FIFO", "gs-fifo-link");
	tap_err(fusec_create(fc, 1, argv[0], O_WRONLY | O_TRUNC, 0644, NULL,
	    NULL), 0, "CREATE O_TRUNC (no O_EXCL) of the FIFO's name",
	    argv[0]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tap_err(fusec_mkdir(fc, 1, bad[i], 0755, NULL), 0,
		    "MKDIR of a name that is not one component", bad[i]);
		tap_err(fusec_symlink(fc, 1, bad[i], "/etc/shadow", NULL), 0,
		    "SYMLINK named that", bad[i]);
		tap_err(fusec_link(fc, e[0].nodeid, 1, bad[i], NULL), 0,
		    "LINK to that name", bad[i]);
		tap_err(fusec_rename2(fc, 1, bad[i], 1, "gs-x", 0), 0,
		    "RENAME2 from that name", bad[i]);
		tap_err(fusec_rename2(fc, 1, "gs-fifo-link", 1, bad[i],
		    RENAME_EXCHANGE), 0, "RENAME2 EXCHANGE to that name",
		    bad[i]);
	}
	tap_err(fusec_rename2(fc, 1, "gs-fifo-link", 1, "gs-x",
	    RENAME_WHITEOUT), -EINVAL, "RENAME2 with RENAME_WHITEOUT", NULL);
	r = fusec_lookup(fc, 1, "..", &root);
	cli_tap(r == 0 && root.nodeid == 1, "LOOKUP .. of the root is the "
	    "root", r, NULL);
	{
		const char *nm = "gs-neg1-sym", *tg = "target";
		struct iovec a[2] = {{(void *)(uintptr_t)nm, strlen(nm) + 1},
		    {(void *)(uintptr_t)tg, strlen(tg) + 1}};
		struct fuse_create_in ci = {.flags = O_RDWR, .mode = 0755};
		struct iovec t[2] = {{&ci, sizeof(ci)}, {"/", 2}};

		tap_err(call_as(fc, FUSE_SYMLINK, 1, a, 2,
		    sizeof(struct fuse_entry_out), UINT32_MAX, 0), -EPERM,
		    "SYMLINK as uid -1", nm);
		tap_err(call_as(fc, FUSE_TMPFILE, 1, t, 2,
		    sizeof(struct fuse_entry_out) + sizeof(o), UINT32_MAX,
		    UINT32_MAX), -EPERM, "TMPFILE as uid -1 gid -1", NULL);
	}
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_UID;
	in.uid = UINT32_MAX;
	tap_err(fusec_setattr(fc, l.nodeid, &in, NULL), -EPERM,
	    "SETATTR owner -1", NULL);
	in.valid = FATTR_GID;
	in.gid = UINT32_MAX;
	tap_err(fusec_setattr(fc, l.nodeid, &in, NULL), -EPERM,
	    "SETATTR group -1", NULL);
	(void)fusec_unlink(fc, 1, "gs-fifo-link");
	cli_tap(fusec_getattr(fc, 1, NULL) == 0,
	    "GETATTR root afterwards (still serving)", 0, NULL);
	return cli_tap_end();
}

/* The mode bits of nodeid now (07777), or a negative errno. */
static int
mode_of(struct fusec *fc, uint64_t nodeid)
{
	struct fuse_attr_out a;
	int r = fusec_getattr(fc, nodeid, &a);

	return r < 0 ? r : (int)(a.attr.mode & 07777);
}

static int
c_owner(struct fusec *fc, int argc, char **argv)
{
	struct fuse_setattr_in in;
	struct fuse_attr_out a;
	struct fuse_entry_out e[3];
	struct fuse_open_out o;
	char extra[96];
	uint64_t mine = 0;
	int r, m;

	if (argc != 3)
		return 2;
	for (int i = 0; i < 3; i++) {
		r = fusec_lookup(fc, 1, argv[i], &e[i]);
		cli_tap(r == 0, "LOOKUP of a host-owned file", r, argv[i]);
		if (r < 0)
			return cli_tap_end();
	}
	/* chmod u+s of a file whose owner the guest cannot be. */
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE;
	in.mode = 04755;
	r = fusec_setattr(fc, e[0].nodeid, &in, &a);
	m = mode_of(fc, e[0].nodeid);
	snprintf(extra, sizeof(extra), "answer %d, mode now %o", r, m);
	cli_tap(r == -EPERM && m == 0755,
	    "SETATTR 04755 of a host file no guest id owns: EPERM", r, extra);
	in.mode = 02755;
	r = fusec_setattr(fc, e[0].nodeid, &in, &a);
	m = mode_of(fc, e[0].nodeid);
	snprintf(extra, sizeof(extra), "answer %d, mode now %o", r, m);
	cli_tap(m >= 0 && !(m & 06000),
	    "SETATTR 02755 of it: no S_ISGID for a group no guest id has", r,
	    extra);
	/* A write without FUSE_WRITE_KILL_SUIDGID to a setuid file. */
	r = fusec_open(fc, e[1].nodeid, O_WRONLY, &o);
	if (r == 0) {
		r = fusec_write(fc, e[1].nodeid, o.fh, 0, "evil", 4);
		(void)fusec_release(fc, e[1].nodeid, o.fh);
	}
	m = mode_of(fc, e[1].nodeid);
	snprintf(extra, sizeof(extra), "write %d, mode now %o", r, m);
	cli_tap(r == 4 && m >= 0 && !(m & S_ISUID),
	    "WRITE (no KILL_SUIDGID) to a host setuid file: S_ISUID cleared",
	    r < 0 ? r : 0, extra);
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_SIZE;
	in.size = 0;
	r = fusec_setattr(fc, e[2].nodeid, &in, &a);
	m = mode_of(fc, e[2].nodeid);
	snprintf(extra, sizeof(extra), "answer %d, mode now %o", r, m);
	cli_tap(r == 0 && m >= 0 && !(m & S_ISUID),
	    "SETATTR size 0 of a host setuid file: S_ISUID cleared", r, extra);
	/* The guest's own file: its setuid bit is its own business. */
	r = create_as(fc, FUSE_CREATE, "gs-own", 0, 0, &mine);
	if (r == 0) {
		memset(&in, 0, sizeof(in));
		in.valid = FATTR_MODE;
		in.mode = 04755;
		r = fusec_setattr(fc, mine, &in, &a);
	}
	m = r == 0 ? mode_of(fc, mine) : r;
	snprintf(extra, sizeof(extra), "answer %d, mode now %o", r, m);
	cli_tap(r == 0 && m == 04755,
	    "SETATTR 04755 of a file the guest made: allowed", r, extra);
	return cli_tap_end();
}

/* SET_MEM_TABLE of d's own regions (real) or of one 1 MiB region elsewhere. */
static int
mem_table(struct vuf_dev *d, bool real)
{
	struct {
		uint32_t n, pad;
		struct vuf_region_rec r[2];
	} mt;
	int fds[2] = {d->memfd, d->memfd};

	memset(&mt, 0, sizeof(mt));
	if (real) {
		mt.n = d->nregions;
		memcpy(mt.r, d->regions, sizeof(mt.r[0]) * d->nregions);
	} else {
		mt.n = 1;
		mt.r[0].gpa = 8ull << 32;
		mt.r[0].size = 1 << 20;
		mt.r[0].uaddr = 1ull << 46;
	}
	return vuf_msg_ack(d, VUF_SET_MEM_TABLE, &mt, 8 + 32 * mt.n, fds,
	    (int)mt.n);
}

static int
c_ringgone(struct vuf_dev *d, struct fusec *fc, int hold_ms)
{
	char name[64], extra[96];
	struct fusec_req *held, *later;
	uint64_t t0;
	int r;

	snprintf(name, sizeof(name), "gs-held-%d", (int)getpid());
	/*
	 * A CREATE without O_EXCL is slow (queue_slow) and not one the
	 * queue thread leaves in flight (queue_async.c): it goes to the
	 * pool and is held there.
	 */
	held = fusec_req_create(fc, 1, name, O_RDWR | O_CREAT, 0644);
	later = fusec_req_getattr(fc, 1);
	if (held == NULL || later == NULL)
		return 2;
	r = fusec_submit(fc, held);
	cli_tap(r == 0, "CREATE submitted (held in the pool)", r, NULL);
	usleep(300000);
	r = mem_table(d, false);
	snprintf(extra, sizeof(extra), "ack %d", r);
	cli_tap(vuf_alive(d), "SET_MEM_TABLE without the rings: connection "
	    "kept", 0, extra);
	/* A request posted while the rings are unmapped. */
	r = fusec_submit(fc, later);
	cli_tap(r == 0, "GETATTR submitted while the rings are unmapped", r,
	    NULL);
	/* The held CREATE completes now, with its ring detached. */
	usleep((useconds_t)(hold_ms + 700) * 1000);
	r = mem_table(d, true);
	snprintf(extra, sizeof(extra), "ack %d", r);
	cli_tap(r == 0, "SET_MEM_TABLE with the rings again", r, extra);
	t0 = now_ms();
	r = fusec_wait(fc, held, 10000);
	snprintf(extra, sizeof(extra), "%llu ms after the table",
	    (unsigned long long)(now_ms() - t0));
	cli_tap(r == 0, "held CREATE completed (its deferred "
	    "completion not lost)", r, extra);
	r = fusec_wait(fc, later, 10000);
	cli_tap(r == 0, "GETATTR posted meanwhile answered", r, NULL);
	cli_tap(fusec_getattr(fc, 1, NULL) == 0, "new GETATTR answered", 0,
	    NULL);
	return cli_tap_end();
}

int
guestsec_main(const struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"timeout", required_argument, NULL, 't'},
		{"hold-ms", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	struct vuf_dev *d;
	struct fusec *fc;
	int ch, timeout = 5000, hold_ms = 1500, rc;

	while ((ch = getopt_long(argc, argv, "+t:H:", lo, NULL)) != -1) {
		switch (ch) {
		case 't':
			timeout = atoi(optarg);
			break;
		case 'H':
			hold_ms = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		fprintf(stderr, "guestsec: ids | special NAME... | variants FIFO CHR | "
		    "owner PLAIN SUID1 SUID2 | "
		    "ringgone\n");
		return 2;
	}
	if (cli_connect(c, &d, &fc) < 0)
		return 2;
	fc->timeout_ms = timeout;
	if (strcmp(argv[0], "ids") == 0)
		rc = c_ids(fc);
	else if (strcmp(argv[0], "special") == 0)
		rc = c_special(fc, argc - 1, argv + 1);
	else if (strcmp(argv[0], "variants") == 0)
		rc = c_variants(fc, argc - 1, argv + 1);
	else if (strcmp(argv[0], "owner") == 0)
		rc = c_owner(fc, argc - 1, argv + 1);
	else if (strcmp(argv[0], "ringgone") == 0)
		rc = c_ringgone(d, fc, hold_ms);
	else
		rc = 2;
	cli_disconnect(d, fc);
	return rc;
}
