/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Passthrough directory reading: OPENDIR registers a directory fd in the
 * handle table; READDIR and READDIRPLUS seek that fd to the guest's offset
 * cookie (a d_off the host gave earlier) and translate getdents64 records.
 * The listing's truth is the guest's cookie: the heap only caches the
 * rest of the last getdents64 buffer (a hit needs the same cookie), so a
 * new worker continues any listing from the cookie. READDIRPLUS takes one lookup
 * reference per entry (not "." or "..") through the request's transaction
 * and stops before the transaction runs out of room (DESIGN 5).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handle.h"
#include "pt_int.h"

/* Redo entries kept free for the caller (the slot's REPLIED state). */
#define PT_TXN_RESERVE 16
/* Entries one new inode reference may take (inode_ref: 12). */
#define PT_TXN_PER_REF 12

struct dirent64_rec {
	uint64_t d_ino;
	int64_t d_off;
	uint16_t d_reclen;
	uint8_t d_type;
	char d_name[];
};

int
pt_opendir(struct pt *pt, const struct pt_ctx *ctx, uint32_t flags,
    struct fuse_open_out *ret_o)
{
	uint64_t fh;
	mode_t mode;
	int ifd, fd, err;

	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	if (!S_ISDIR(mode))
		return -ENOTDIR;
	fd = pt_open_inode(pt, ifd, mode, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	err = handle_add(ctx->tx, fd, ctx->nodeid, O_RDONLY, true, &fh);
	if (err < 0) {
		pt_unregister_abort_fd(ctx->tx, fd);
		close(fd);
		return err;
	}
	memset(ret_o, 0, sizeof(*ret_o));
	ret_o->fh = fh;
	if (pt->cfg->cache == CONFIG_CACHE_ALWAYS)
		ret_o->open_flags = FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE;
	return 0;
}

static bool
is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* Room for one more READDIRPLUS reference in the transaction. */
static bool
txn_has_room(const struct redo_txn *tx)
{
	return redo_room(tx) >= PT_TXN_RESERVE + PT_TXN_PER_REF &&
	       tx->nabort + 2 < REDO_MAX_CLOSE &&
	       tx->nclose + 2 < REDO_MAX_CLOSE;
}

/*
 * Appends one record at buf + *pos if it fits in size; returns false when
 * it does not (the listing stops there, the guest asks again from the
 * previous record's offset).
 */
static int
emit(struct pt *pt, const struct pt_ctx *ctx, int dfd, dev_t ddev,
    const struct dirent64_rec *d, uint8_t *buf, size_t size, size_t *pos,
    bool plus)
{
	size_t namelen = strnlen(d->d_name,
	    d->d_reclen - offsetof(struct dirent64_rec, d_name));
	size_t rec =
	    plus ? FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + namelen)
		 : FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
	struct fuse_dirent *de;
	uint8_t *p = buf + *pos;
	int err;

	if (rec > size - *pos)
		return 0;
	memset(p, 0, rec);
	if (plus) {
		struct fuse_direntplus *dp = (struct fuse_direntplus *)p;

		de = &dp->dirent;
		if (!is_dot(d->d_name)) {
			if (!txn_has_room(ctx->tx))
				return 0;
			err = pt_entry_at(pt, ctx, dfd, d->d_name, ddev,
			    &dp->entry_out);
			if (err == -ENOENT || err == -ENFILE) {
				/*
				 * Gone since getdents, or beyond the inode or
				 * fd cap: nodeid 0, no ref. The name is still
				 * listed; a LOOKUP of it gets the ENFILE (an
				 * error here failed the whole listing, and
				 * the guest's find skipped the directory).
				 */
				memset(&dp->entry_out, 0,
				    sizeof(dp->entry_out));
			} else if (err < 0) {
				return err;
			}
		}
		if (dp->entry_out.nodeid == 0) {
			/* The guest instantiates nothing for nodeid 0. */
			dp->entry_out.attr.ino = d->d_ino;
			dp->entry_out.attr.mode = (uint32_t)d->d_type << 12;
		}
	} else {
		de = (struct fuse_dirent *)p;
	}
	de->ino = d->d_ino;
	de->off = (uint64_t)d->d_off;
	de->namelen = (uint32_t)namelen;
	de->type = d->d_type;
	memcpy(de->name, d->d_name, namelen);
	*pos += rec;
	return 1;
}

/*
 * One getdents64 buffer per directory lock, keyed by (pt, fh, fd): when
 * the guest asks for the cookie where the last reply stopped, the entries
 * left in the buffer and the fd's position continue the listing without a
 * seek (on ext4 an htree seek re-hashes a whole block, measured at 128 us
 * of CPU per 4 KiB READDIR). Any other cookie seeks as before. fh carries
 * the handle's generation, so a released handle never matches; the cache
 * is heap state only (a new worker starts cold, from the cookie).
 */
#define DIRCACHE_BUF 32768

struct dircache {
	const struct pt *pt;
	uint64_t fh;
	int fd;
	uint64_t next;	/* the cookie that continues from pos */
	size_t len, pos;
	uint8_t *buf;
};

static struct dircache dcache[PT_DIR_LOCKS]; /* under pt->dir_locks[i] */

int
pt_readdir(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    void *buf, size_t size, bool plus, size_t *ret_len)
{
	pthread_mutex_t *lock = &pt->dir_locks[fh % PT_DIR_LOCKS];
	struct dircache *dc = &dcache[fh % PT_DIR_LOCKS];
	size_t pos = 0;
	struct stat dst;
	dev_t ddev = 0;
	int fd, err = 0;

	if ((err = handle_get(pt->r, fh, true, &fd, NULL, NULL)) < 0)
		return err;
	if (off > INT64_MAX)
		return -EINVAL;
	if (plus && pt->cfg->announce_submounts) {
		if (fstat(fd, &dst) < 0)
			return -errno;
		ddev = dst.st_dev;
	}
	pthread_mutex_lock(lock);
	if (dc->buf == NULL && (dc->buf = malloc(DIRCACHE_BUF)) == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (dc->pt != pt || dc->fh != fh || dc->fd != fd || dc->next != off) {
		dc->pt = NULL;
		if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
			err = -errno;
			goto out;
		}
		dc->pt = pt;
		dc->fh = fh;
		dc->fd = fd;
		dc->next = off;
		dc->len = dc->pos = 0;
	}
	for (;;) {
		const struct dirent64_rec *d;
		int r;

		if (dc->pos >= dc->len) {
			long n = syscall(SYS_getdents64, fd, dc->buf,
			    DIRCACHE_BUF);

			if (n < 0) {
				err = pos == 0 ? -errno : 0;
				dc->pt = NULL;
				break;
			}
			if (n == 0)
				break;
			dc->len = (size_t)n;
			dc->pos = 0;
		}
		if (dc->pos + sizeof(struct dirent64_rec) > dc->len) {
			dc->pt = NULL; /* a torn record: seek next time */
			break;
		}
		d = (const void *)(dc->buf + dc->pos);
		if (d->d_reclen < sizeof(*d) ||
		    d->d_reclen > dc->len - dc->pos) {
			dc->pt = NULL;
			break;
		}
		r = emit(pt, ctx, fd, ddev, d, buf, size, &pos, plus);
		if (r < 0) {
			err = pos == 0 ? r : 0;
			break;
		}
		if (r == 0)
			break;
		dc->next = (uint64_t)d->d_off;
		dc->pos += d->d_reclen;
	}
out:
	pthread_mutex_unlock(lock);
	if (err < 0)
		return err;
	*ret_len = pos;
	return 0;
}
