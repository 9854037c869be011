/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rest of the FUSE protocol's passthrough side (issue 3): COPY_FILE_RANGE
 * between two handles, SYNCFS of the shared directory, and TMPFILE (an
 * O_TMPFILE file in a directory, answered like CREATE: an entry and an
 * open handle). A copy repeats harmlessly (positional, like WRITE); a
 * replayed TMPFILE makes another nameless file (the first is unreferenced
 * and goes with its fd), so none needs an intent record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "handle.h"
#include "inode.h"
#include "pt_int.h"

int
pt_copy_file_range(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh_in,
    uint64_t off_in, uint64_t nodeid_out, uint64_t fh_out, uint64_t off_out,
    uint64_t len, uint64_t flags, size_t *ret_len)
{
	uint64_t nin, nout;
	int fin, fout, fl_in, fl_out, err;
	loff_t oi, oo;
	ssize_t n;

	if (flags != 0)
		return -EINVAL;
	if ((err = handle_get(pt->r, fh_in, false, &fin, &nin, &fl_in)) < 0 ||
	    (err = handle_get(pt->r, fh_out, false, &fout, &nout, &fl_out)) <
		0)
		return err;
	if (nin != ctx->nodeid || nout != nodeid_out)
		return -EBADF;
	if ((fl_in & O_ACCMODE) == O_WRONLY || (fl_out & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (off_in > INT64_MAX || off_out > INT64_MAX)
		return -EINVAL;
	/* The reply's size is 32 bits (fuse_write_out). */
	if (len > UINT32_MAX)
		len = UINT32_MAX & ~4095u;
	oi = (loff_t)off_in;
	oo = (loff_t)off_out;
	fault_host_begin();
	n = copy_file_range(fin, &oi, fout, &oo, (size_t)len, 0);
	err = errno;
	fault_host_end();
	if (n < 0)
		return -err;
	if (n > 0)
		pt_guard_sxid(pt, fout);
	*ret_len = (size_t)n;
	return 0;
}

int
pt_syncfs(struct pt *pt, const struct pt_ctx *ctx)
{
	mode_t mode;
	int ifd, fd, err;

	/* syncfs() refuses an O_PATH fd: a directory fd of the root. */
	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	if (!S_ISDIR(mode) && !S_ISREG(mode))
		ifd = pt->root_fd, mode = S_IFDIR;
	fd = pt_open_inode(pt, ifd, mode, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fd;
	fault_host_begin();
	err = syncfs(fd) < 0 ? -errno : 0;
	fault_host_end();
	close(fd);
	return err;
}

int
pt_tmpfile(struct pt *pt, const struct pt_ctx *ctx, uint32_t flags,
    uint32_t mode, uint32_t umask, struct fuse_entry_out *ret_e,
    struct fuse_open_out *ret_o)
{
	struct pt_creds c;
	struct stat st;
	uint64_t nodeid, fh;
	char pname[16];
	mode_t dmode;
	int dfd, fd, ofd, f, err;

	if ((err = pt_inode(pt, ctx->nodeid, &dfd, &dmode)) < 0)
		return err;
	if (!S_ISDIR(dmode))
		return -ENOTDIR;
	if (pt->proc_fd < 0)
		return -EOPNOTSUPP;
	/* As CREATE's host flags; never O_APPEND (DESIGN 5). */
	f = (int)flags & (O_ACCMODE | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC |
			     O_LARGEFILE);
	if ((f & O_ACCMODE) == O_RDONLY)
		return -EINVAL; /* O_TMPFILE needs write access */
	if (pt->cfg->writeback && (f & O_ACCMODE) == O_WRONLY)
		f = (f & ~O_ACCMODE) | O_RDWR;
	if (!pt->cfg->allow_direct_io)
		f &= ~O_DIRECT;
	if (!pt->cfg->preserve_noatime)
		f &= ~O_NOATIME;
	if ((err = pt_creds_enter(pt, ctx, &c)) < 0)
		return err;
	/* FD_CLOEXEC clear: a table fd survives the keeper's exec. */
	umask = pt_create_umask(pt, dfd, umask);
	fd = openat(dfd, ".", f | O_TMPFILE, (mode_t)(mode & 07777 & ~umask));
	err = fd < 0 ? -errno : 0;
	pt_creds_leave(pt, &c);
	if (fd < 0)
		return err;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	snprintf(pname, sizeof(pname), "%d", fd);
	ofd = openat(pt->proc_fd, pname, O_PATH);
	if (ofd < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((err = pt_ref_fd(pt, ctx, ofd, &st, &nodeid)) < 0) {
		close(fd);
		return err;
	}
	if ((err = handle_add(ctx->tx, fd, nodeid, f, false, &fh)) < 0) {
		pt_unregister_abort_fd(ctx->tx, fd);
		close(fd);
		(void)inode_forget(ctx->tx, nodeid, 1);
		return err;
	}
	pt_fill_entry(pt, nodeid, &st, ret_e);
	memset(ret_o, 0, sizeof(*ret_o));
	ret_o->fh = fh;
	switch (pt->cfg->cache) {
	case CONFIG_CACHE_NEVER:
	case CONFIG_CACHE_METADATA:
		ret_o->open_flags = FOPEN_DIRECT_IO;
		break;
	case CONFIG_CACHE_ALWAYS:
		ret_o->open_flags = FOPEN_KEEP_CACHE;
		break;
	case CONFIG_CACHE_AUTO:
		break;
	}
	return 0;
}
