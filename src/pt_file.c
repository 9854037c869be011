/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Passthrough file operations: OPEN and CREATE register a host fd in the
 * handle table through the request's transaction; READ and WRITE move
 * data straight between the host file and guest memory (preadv/pwritev on
 * the guest's iovecs, DESIGN 3 step 3). Host fds are never opened with
 * O_APPEND (a Linux guest sends appends as positional writes, DESIGN 5).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fault.h"
#include "fmsg.h"
#include "handle.h"
#include "inode.h"
#include "pt_int.h"

/* open_out.open_flags for a file, from --cache (as virtiofsd). */
static uint32_t
file_open_flags(const struct pt *pt)
{
	switch (pt->cfg->cache) {
	case CONFIG_CACHE_NEVER:
	case CONFIG_CACHE_METADATA:
		return FOPEN_DIRECT_IO;
	case CONFIG_CACHE_ALWAYS:
		return FOPEN_KEEP_CACHE;
	case CONFIG_CACHE_AUTO:
		break;
	}
	return 0;
}

/* The guest's open flags as the host open gets them. */
static int
host_flags(const struct pt *pt, uint32_t flags)
{
	int f = (int)flags;

	/*
	 * Never O_APPEND (DESIGN 5); never O_CLOEXEC (a table fd must
	 * survive the keeper's exec, DESIGN 8); never O_PATH or O_TMPFILE
	 * from a guest.
	 */
	f &= ~(O_APPEND | O_NOCTTY | O_CREAT | O_EXCL | O_CLOEXEC | O_PATH |
	       (O_TMPFILE & ~O_DIRECTORY));
	/* The writeback cache reads pages around partial writes. */
	if (pt->cfg->writeback && (f & O_ACCMODE) == O_WRONLY)
		f = (f & ~O_ACCMODE) | O_RDWR;
	if (!pt->cfg->allow_direct_io)
		f &= ~O_DIRECT;
	/* As virtiofsd: O_NOATIME fails for files we do not own. */
	if (!pt->cfg->preserve_noatime)
		f &= ~O_NOATIME;
	return f;
}

/* Registers fd in the handle table; closes it on failure. */
static int
add_handle(const struct pt_ctx *ctx, int fd, uint64_t nodeid, int flags,
    bool dir, uint64_t *ret_fh)
{
	int err;

	err = handle_add(ctx->tx, fd, nodeid, flags, dir, ret_fh);
	if (err < 0) {
		pt_unregister_abort_fd(ctx->tx, fd);
		close(fd);
	}
	return err;
}

int
pt_open(struct pt *pt, const struct pt_ctx *ctx, uint32_t flags,
    uint32_t open_flags, struct fuse_open_out *ret_o)
{
	uint64_t fh;
	mode_t mode;
	int ifd, fd, f, err;

	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	f = host_flags(pt, flags);
	if (pt->cfg->readonly && ((f & O_ACCMODE) != O_RDONLY || (f & O_TRUNC)))
		return -EROFS;
	if (S_ISDIR(mode) && (f & O_ACCMODE) != O_RDONLY)
		return -EISDIR;
	/* O_TRUNC: the size change of the open itself (DESIGN 5). */
	fd = pt_open_inode(pt, ifd, mode, f);
	if (fd < 0)
		return fd;
	if ((f & O_TRUNC) && (open_flags & FUSE_OPEN_KILL_SUIDGID))
		(void)pt_kill_suidgid(pt, fd);
	if (f & O_TRUNC)
		pt_guard_sxid(pt, fd);
	if ((err = add_handle(ctx, fd, ctx->nodeid, f & ~O_TRUNC, false, &fh)) <
	    0)
		return err;
	memset(ret_o, 0, sizeof(*ret_o));
	ret_o->fh = fh;
	ret_o->open_flags = file_open_flags(pt);
	return 0;
}

/*
 * A created fd given up on an error path: closed after the commit, never
 * before. With O_EXCL its number is in the slot's io_uring record, and a
 * kill between a close and the commit made the replay adopt a closed (or
 * reused) number (issue 11 defect 8). Returns err.
 */
static int
create_undo(const struct pt_ctx *ctx, int fd, int err)
{
	pt_unregister_abort_fd(ctx->tx, fd);
	if (redo_close_after(ctx->tx, fd) < 0)
		close(fd); /* no room: cannot happen (one close per CREATE) */
	CRASHPOINT("pt.create_undo");
	return err;
}

int
pt_create(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    uint32_t flags, uint32_t mode, uint32_t umask, uint32_t open_flags,
    struct fuse_entry_out *ret_e, struct fuse_open_out *ret_o)
{
	struct pt_creds c;
	struct stat st;
	uint64_t nodeid, fh;
	char pname[16];
	mode_t dmode;
	int dfd, fd, ofd, f, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	if ((err = pt_inode(pt, ctx->nodeid, &dfd, &dmode)) < 0) {
		if ((err = pt_once_parent(pt, ctx, err, &dfd)) < 0)
			return err;
		dmode = S_IFDIR;
	}
	if (!S_ISDIR(dmode))
		return -ENOTDIR;
	f = host_flags(pt, flags) | ((int)flags & O_EXCL);
	if ((err = pt_creds_enter(pt, ctx, &c)) < 0)
		return err;
	umask = pt_create_umask(pt, dfd, umask);
	fd = pt_do_create(pt, ctx, dfd, name, f,
	    (mode_t)(mode & 07777 & ~umask));
	pt_creds_leave(pt, &c);
	if (fd < 0)
		return fd;
	if (FAILPOINT("pt.create_fstat"))
		return create_undo(ctx, fd, -EIO); /* tests: an error path */
	if (fstat(fd, &st) < 0)
		return create_undo(ctx, fd, -errno);
	/* Only a replay can find an existing name; O_EXCL is off. */
	if (!S_ISREG(st.st_mode))
		return create_undo(ctx, fd, -EEXIST);
	/* The table's O_PATH fd: the same inode, not the name again. */
	snprintf(pname, sizeof(pname), "%d", fd);
	ofd = pt->proc_fd >= 0 ? openat(pt->proc_fd, pname, O_PATH)
			       : openat(dfd, name, O_PATH | O_NOFOLLOW);
	if (ofd < 0)
		return create_undo(ctx, fd, -errno);
	if ((err = pt_ref_fd(pt, ctx, ofd, &st, &nodeid)) < 0)
		return create_undo(ctx, fd, err);
	if ((err = handle_add(ctx->tx, fd, nodeid,
		 f & ~(O_CREAT | O_EXCL | O_TRUNC), false, &fh)) < 0) {
		(void)inode_forget(ctx->tx, nodeid, 1);
		return create_undo(ctx, fd, err);
	}
	/* HANDLE_KILLPRIV_V2: an O_TRUNC of an existing file. */
	if ((f & O_TRUNC) && (open_flags & FUSE_OPEN_KILL_SUIDGID))
		(void)pt_kill_suidgid(pt, fd);
	if (f & O_TRUNC)
		pt_guard_sxid(pt, fd);
	pt_fill_entry(pt, nodeid, &st, ret_e);
	memset(ret_o, 0, sizeof(*ret_o));
	ret_o->fh = fh;
	ret_o->open_flags = file_open_flags(pt);
	return 0;
}

/* The iovecs of src after done bytes (a short transfer); heap, or NULL. */
static struct iovec *
iov_rest(const struct iovec *src, unsigned cnt, size_t done, size_t total,
    unsigned *ret_cnt)
{
	struct iovec *v = calloc(cnt, sizeof(*v));

	if (v == NULL)
		return NULL;
	if (fmsg_iov_range(src, cnt, done, total - done, v, cnt, ret_cnt) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

int
pt_read(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    const struct iovec *dst, unsigned cnt, size_t *ret_len)
{
	size_t total = fmsg_iov_total(dst, cnt), done = 0;
	int fd, err;

	if ((err = handle_get(pt->r, fh, false, &fd, NULL, NULL)) < 0)
		return err;
	DELAYPOINT("pt.read_fd"); /* tests: a RELEASE of fh races this */
	if (off > INT64_MAX || total > INT64_MAX - off)
		return -EINVAL;
	while (done < total) {
		const struct iovec *v = dst;
		struct iovec *rest = NULL;
		unsigned n = cnt;
		ssize_t got;

		if (done > 0) {
			rest = iov_rest(dst, cnt, done, total, &n);
			if (rest == NULL)
				break;
			v = rest;
		}
		fault_host_begin();
		got = preadv(fd, v, (int)n, (off_t)(off + done));
		err = errno;
		fault_host_end();
		free(rest);
		if (got < 0) {
			if (err == EINTR)
				continue;
			if (done > 0)
				break;
			return -err;
		}
		if (got == 0)
			break;
		done += (size_t)got;
	}
	*ret_len = done;
	return 0;
}

int
pt_write(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    uint32_t write_flags, const struct iovec *src, unsigned cnt,
    size_t *ret_len)
{
	size_t total = fmsg_iov_total(src, cnt), done = 0;
	int fd, err;

	if ((err = handle_get(pt->r, fh, false, &fd, NULL, NULL)) < 0)
		return err;
	if (off > INT64_MAX || total > INT64_MAX - off)
		return -EFBIG;
	while (done < total) {
		const struct iovec *v = src;
		struct iovec *rest = NULL;
		unsigned n = cnt;
		ssize_t put;

		if (done > 0) {
			rest = iov_rest(src, cnt, done, total, &n);
			if (rest == NULL)
				break;
			v = rest;
		}
		fault_host_begin();
		put = pwritev(fd, v, (int)n, (off_t)(off + done));
		err = errno;
		fault_host_end();
		free(rest);
		if (put < 0) {
			if (err == EINTR)
				continue;
			if (done > 0)
				break;
			return -err;
		}
		if (put == 0)
			break;
		done += (size_t)put;
	}
	/* HANDLE_KILLPRIV_V2: we write with CAP_FSETID, so clear here. */
	if (done > 0 && (write_flags & FUSE_WRITE_KILL_SUIDGID))
		(void)pt_kill_suidgid(pt, fd);
	if (done > 0)
		pt_guard_sxid(pt, fd);
	*ret_len = done;
	return 0;
}

int
pt_release(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, bool dir)
{
	return handle_release(ctx->tx, fh, dir);
}

int
pt_flush(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh)
{
	int fd, dup_fd, err;

	if ((err = handle_get(pt->r, fh, false, &fd, NULL, NULL)) < 0)
		return err;
	/* close() of a duplicate reports delayed write errors (NFS). */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return -errno;
	return close(dup_fd) < 0 ? -errno : 0;
}

int
pt_fsync(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, bool datasync,
    bool dir)
{
	int fd, err;

	if ((err = handle_get(pt->r, fh, dir, &fd, NULL, NULL)) < 0)
		return err;
	fault_host_begin();
	DELAYPOINT("pt.fsync"); /* a slow disk (tests) */
	err = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	fault_host_end();
	return err;
}

int
pt_fallocate(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    uint64_t len, uint32_t mode)
{
	int fd, err;

	/*
	 * Every mode the host takes (issue 3); the data-moving ones
	 * (COLLAPSE_RANGE, INSERT_RANGE) only exactly-once through the
	 * thread's io_uring (pt_do_fallocate refuses them without).
	 */
	if (mode & ~(uint32_t)(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
			       FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
			       FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE))
		return -EOPNOTSUPP;
	if (off > INT64_MAX || len > INT64_MAX || len == 0)
		return -EINVAL;
	if ((err = handle_get(pt->r, fh, false, &fd, NULL, NULL)) < 0)
		return err;
	err = pt_do_fallocate(ctx, fd, (int)mode, (off_t)off, (off_t)len);
	if (err == 0)
		pt_guard_sxid(pt, fd);
	return err;
}

int
pt_lseek(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    uint32_t whence, uint64_t *ret_off)
{
	off_t r;
	int fd, err;

	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END &&
	    whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if ((err = handle_get(pt->r, fh, false, &fd, NULL, NULL)) < 0)
		return err;
	r = lseek(fd, (off_t)off, (int)whence);
	if (r < 0)
		return -errno;
	*ret_off = (uint64_t)r;
	return 0;
}
