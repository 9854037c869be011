// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * phx-front secprobe: what a guest request may do with the daemon's own
 * identity (issue 9 findings 4 and 9). TAP.
 *
 * secprobe groups --uid U --gid G: the share holds `sgid/` (mode 02777,
 * group X) and `grp/` (mode 0770, group X), X one of the daemon's
 * starting supplementary groups, neither U nor G in X. As U:G it creates
 * sgid/f and mkdirs nothing else: the new file must not keep S_ISGID (the
 * host kernel clears it for a caller outside X, CVE-2022-0358 class), and
 * CREATE and MKDIR in grp/ must be refused (EACCES): a request never runs
 * with a group its caller does not have.
 *
 * secprobe xattr: as guest root, SETXATTR of security.capability on file x
 * and REMOVEXATTR of it on file y (which the host gave capabilities) are
 * refused (EPERM; the shell script checks the host files with getfattr);
 * a user.* name still works (the refusal is by name, not a broken
 * --xattr).
 *
 * secprobe secctx (daemon with --security-label): INIT asks for
 * FUSE_SECURITY_CTX; MKNOD of regular files s1 and s2 carry a security
 * context named user.phx (not security.*) and security.capability: both
 * creations succeed, neither context may be stored (the shell script
 * checks the host files).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* CREATE (or MKDIR with mkdir) of name in parent as uid:gid. */
static int
create_as(struct fusec *fc, uint64_t parent, const char *name, bool mkdir,
    uint32_t mode, uint32_t uid, uint32_t gid, struct fuse_entry_out *ret)
{
	struct fuse_mkdir_in mi = {.mode = mode, .umask = 0};
	struct iovec a[2] = {
		{.iov_base = &mi, .iov_len = sizeof(mi)},
		{.iov_base = (void *)(uintptr_t)name, .iov_len = strlen(name) + 1},
	};
	struct fusec_req *req;
	int r;

	req = mkdir ? fusec_req_new(fc, FUSE_MKDIR, parent, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0) :
	    fusec_req_create(fc, parent, name, 0101 /* O_WRONLY|O_CREAT */,
	    S_IFREG | mode);
	if (req == NULL)
		return -ENOMEM;
	req->ih->uid = uid;
	req->ih->gid = gid;
	r = fusec_call(fc, req);
	if (r == -ETIMEDOUT || (r == -EPIPE && req->abandoned))
		return r;
	if (r == 0 && ret != NULL)
		memcpy(ret, req->reply, req->reply_len < sizeof(*ret) ?
		    req->reply_len : sizeof(*ret));
	fusec_req_free(req);
	return r;
}

static int
groups_main(struct fusec *fc, uint32_t uid, uint32_t gid)
{
	struct fuse_entry_out sg, g, e;
	int r;

	r = fusec_lookup(fc, FUSE_ROOT_ID, "sgid", &sg);
	cli_tap(r == 0, "LOOKUP sgid", r, NULL);
	r = fusec_lookup(fc, FUSE_ROOT_ID, "grp", &g);
	cli_tap(r == 0, "LOOKUP grp", r, NULL);
	r = create_as(fc, sg.nodeid, "f", false, 02755, uid, gid, &e);
	printf("# CREATE sgid/f 02755 as %u:%u: %d, mode %o gid %u\n", uid,
	    gid, r, r == 0 ? e.attr.mode : 0, r == 0 ? e.attr.gid : 0);
	cli_tap(r == 0 && !(e.attr.mode & S_ISGID),
	    "CREATE 02755 in a setgid dir of a group the caller lacks: "
	    "S_ISGID cleared", r, NULL);
	r = create_as(fc, sg.nodeid, "d", true, 02755, uid, gid, &e);
	printf("# MKDIR sgid/d 02755 as %u:%u: %d, mode %o\n", uid, gid, r,
	    r == 0 ? e.attr.mode : 0);
	r = create_as(fc, g.nodeid, "f", false, 0644, uid, gid, NULL);
	printf("# CREATE grp/f as %u:%u: %d\n", uid, gid, r);
	cli_tap(r == -EACCES, "CREATE in a dir only the daemon's extra group "
	    "may write: EACCES", r, NULL);
	r = create_as(fc, g.nodeid, "d", true, 0755, uid, gid, NULL);
	printf("# MKDIR grp/d as %u:%u: %d\n", uid, gid, r);
	cli_tap(r == -EACCES, "MKDIR there: EACCES", r, NULL);
	return 0;
}

static int
xattr_main(struct fusec *fc)
{
	static const char cap[] = {
		/* VFS_CAP_REVISION_2, effective; permitted = CAP_SETUID */
		0x01, 0x00, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00,
	};
	struct fuse_entry_out x, y;
	int r;

	r = fusec_lookup(fc, FUSE_ROOT_ID, "x", &x);
	cli_tap(r == 0, "LOOKUP x", r, NULL);
	r = fusec_lookup(fc, FUSE_ROOT_ID, "y", &y);
	cli_tap(r == 0, "LOOKUP y", r, NULL);
	r = fusec_setxattr(fc, x.nodeid, "security.capability", cap,
	    sizeof(cap), 0);
	printf("# SETXATTR security.capability: %d\n", r);
	cli_tap(r == -EPERM, "SETXATTR security.capability refused", r, NULL);
	r = fusec_removexattr(fc, y.nodeid, "security.capability");
	printf("# REMOVEXATTR security.capability: %d\n", r);
	cli_tap(r == -EPERM, "REMOVEXATTR security.capability refused", r,
	    NULL);
	r = fusec_setxattr(fc, x.nodeid, "user.phx", "ok", 2, 0);
	cli_tap(r == 0, "SETXATTR user.phx still works", r, NULL);
	return 0;
}

/* MKNOD S_IFREG name in the root with one security context. */
static int
mknod_secctx(struct fusec *fc, const char *name, const char *ctx,
    const void *val, uint32_t vlen)
{
	struct fuse_mknod_in mi = {.mode = S_IFREG | 0755, .umask = 0};
	struct fuse_secctx sc = {.size = vlen};
	struct fuse_secctx_header h = {.nr_secctx = 1};
	struct iovec a[6] = {
		{.iov_base = &mi, .iov_len = sizeof(mi)},
		{.iov_base = (void *)(uintptr_t)name, .iov_len = strlen(name) + 1},
		{.iov_base = &h, .iov_len = sizeof(h)},
		{.iov_base = &sc, .iov_len = sizeof(sc)},
		{.iov_base = (void *)(uintptr_t)ctx, .iov_len = strlen(ctx) + 1},
		{.iov_base = (void *)(uintptr_t)val, .iov_len = vlen},
	};
	struct fusec_req *req;
	int r;

	h.size = (uint32_t)(sizeof(h) + sizeof(sc) + a[4].iov_len + vlen);
	req = fusec_req_new(fc, FUSE_MKNOD, FUSE_ROOT_ID, a, 6, 0,
	    sizeof(struct fuse_entry_out), 0);
	if (req == NULL)
		return -ENOMEM;
	r = fusec_call(fc, req);
	if (r == -ETIMEDOUT || (r == -EPIPE && req->abandoned))
		return r;
	fusec_req_free(req);
	return r;
}

static int
secctx_main(struct fusec *fc)
{
	static const char cap[20] = {1, 0, 0, 2, (char)0x80};
	struct fuse_init_in *in;
	struct fusec_req *req;
	int r;

	req = fusec_req_init(fc);
	if (req == NULL)
		return -ENOMEM;
	in = (struct fuse_init_in *)(req->ih + 1);
	in->flags2 |= (uint32_t)(FUSE_SECURITY_CTX >> 32);
	r = fusec_call(fc, req);
	if (r == 0) {
		memcpy(&fc->init, req->reply, req->reply_len < sizeof(fc->init) ?
		    req->reply_len : sizeof(fc->init));
		fc->inited = true;
	}
	if (r != -ETIMEDOUT)
		fusec_req_free(req);
	cli_tap(r == 0 && (fc->init.flags2 & (FUSE_SECURITY_CTX >> 32)),
	    "INIT with FUSE_SECURITY_CTX granted", r, NULL);
	r = mknod_secctx(fc, "s1", "user.phx", "planted", 7);
	cli_tap(r == 0, "MKNOD s1 with a user.phx context succeeds", r, NULL);
	r = mknod_secctx(fc, "s2", "security.capability", cap, sizeof(cap));
	cli_tap(r == 0, "MKNOD s2 with a security.capability context succeeds",
	    r, NULL);
	return 0;
}

int
secprobe_main(const struct cli *c, int argc, char **argv)
{
	uint32_t uid = 1000, gid = 1000;
	struct cli c2 = *c;
	struct vuf_dev *d;
	struct fusec *fc;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: secprobe groups|xattr|secctx [--uid U] "
		    "[--gid G]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--uid") == 0)
			uid = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (strcmp(argv[i], "--gid") == 0)
			gid = (uint32_t)strtoul(argv[i + 1], NULL, 0);
	}
	c2.no_init = strcmp(argv[1], "secctx") == 0;
	r = cli_connect(&c2, &d, &fc);
	if (r < 0)
		return 1;
	if (strcmp(argv[1], "groups") == 0)
		groups_main(fc, uid, gid);
	else if (strcmp(argv[1], "xattr") == 0)
		xattr_main(fc);
	else if (strcmp(argv[1], "secctx") == 0)
		secctx_main(fc);
	else
		cli_tap(false, "unknown secprobe case", -EINVAL, argv[1]);
	cli_tap(fc->proto_errors == 0, "no protocol errors", 0, fc->err);
	cli_disconnect(d, fc);
	return cli_tap_end();
}
