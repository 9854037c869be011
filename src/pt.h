/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Passthrough file system operations on the shared directory. Every host
 * path is resolved relative to an O_PATH fd of the inode table (*at()
 * calls, one name component at a time), every open of an inode goes
 * through pt_open_inode() (regular files and directories only, reopened
 * through this incarnation's /proc/self/fd), and creations run under the
 * guest's uid/gid. Knows no descriptors: it gets decoded arguments, plain
 * iovecs for data, and the request's redo transaction for table changes.
 *
 * Every function returns 0 (or a byte count through ret_) or -errno for
 * the guest. Thread-safe: any worker thread may call any function; each
 * request's table changes go into its own transaction (ctx->tx).
 */
#ifndef PHX_PT_H
#define PHX_PT_H

#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config.h"
#include "redo.h"
#include "region.h"

struct pt;
struct fuse_req;

/* A request as the passthrough layer sees it. */
struct pt_ctx {
	struct fuse_req *req;   /* slot, replay flag, iovecs */
	struct redo_txn *tx;    /* the request's open transaction */
	uint64_t nodeid;        /* fuse_in_header.nodeid */
	uint32_t uid, gid, pid; /* the guest caller */
	bool replay;            /* re-run by recovery: see "exactly-once" */
};

/*
 * Creates the per-incarnation passthrough state: opens this process's
 * /proc/self/fd (through the keeper's proc root at REGION_FD_PROC if
 * there is one, else /proc), computes the cache timeouts, and sets the
 * process umask to 0 (the guest's umask is applied per request).
 * root_fd is the shared directory's O_PATH fd (the table's root).
 * -errno if /proc cannot be opened.
 */
int pt_init(struct pt **ret, struct region *r, const struct config *cfg,
    int root_fd);
/* Frees the state (closes the /proc fd). Takes NULL. */
void pt_free(struct pt *pt);

/* Names and inodes (pt.c). ctx->nodeid is the parent or the inode. */
int pt_lookup(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    struct fuse_entry_out *ret_e);
/*
 * Drops n lookups of nodeid. Commits the transaction early (recording
 * index, the first entry not yet done, in the journal slot's step) when
 * it runs out of room, so a BATCH_FORGET of any length fits; on replay,
 * entries below the recorded step are skipped. Never fails (a FORGET has no
 * reply).
 */
void pt_forget(struct pt *pt, const struct pt_ctx *ctx, uint64_t index,
    uint64_t nodeid, uint64_t n);
/* The journal's step: the first BATCH_FORGET entry still to do. */
uint64_t pt_forget_start(const struct pt_ctx *ctx);
/*
 * DESTROY: frees every handle (closing its fd: locks held through it go)
 * and every inode but the root, whose lookup count goes back to 1, as a
 * new mount finds it. Commits in chunks like pt_forget (the slot's step
 * names the next handle, or PT_DESTROY_INODES + the next inode), so a
 * replay after a crash resumes where the last chunk committed; entries
 * already free are skipped, so no fd is closed twice. Never fails; leaves
 * room in ctx->tx for the caller's commit.
 */
void pt_destroy(struct pt *pt, const struct pt_ctx *ctx);
int pt_getattr(struct pt *pt, const struct pt_ctx *ctx,
    struct fuse_attr_out *ret_a);
int pt_setattr(struct pt *pt, const struct pt_ctx *ctx,
    const struct fuse_setattr_in *in, struct fuse_attr_out *ret_a);
int pt_readlink(struct pt *pt, const struct pt_ctx *ctx, char *buf, size_t size,
    size_t *ret_len);
int pt_statfs(struct pt *pt, const struct pt_ctx *ctx,
    struct fuse_kstatfs *ret_st);
int pt_access(struct pt *pt, const struct pt_ctx *ctx, uint32_t mask);

/* Creations and removals (pt.c, through the hooks of pt_once.c). */
int pt_mknod(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    uint32_t mode, uint32_t rdev, uint32_t umask, struct fuse_entry_out *ret_e);
int pt_mkdir(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    uint32_t mode, uint32_t umask, struct fuse_entry_out *ret_e);
int pt_symlink(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    const char *target, struct fuse_entry_out *ret_e);
int pt_link(struct pt *pt, const struct pt_ctx *ctx, uint64_t oldnodeid,
    const char *name, struct fuse_entry_out *ret_e);
int pt_unlink(struct pt *pt, const struct pt_ctx *ctx, const char *name);
int pt_rmdir(struct pt *pt, const struct pt_ctx *ctx, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE; anything else -EINVAL. */
int pt_rename(struct pt *pt, const struct pt_ctx *ctx, const char *oldname,
    uint64_t newdir, const char *newname, uint32_t flags);

/* Files (pt_file.c). */
int pt_open(struct pt *pt, const struct pt_ctx *ctx, uint32_t flags,
    uint32_t open_flags, struct fuse_open_out *ret_o);
int pt_create(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    uint32_t flags, uint32_t mode, uint32_t umask, uint32_t open_flags,
    struct fuse_entry_out *ret_e, struct fuse_open_out *ret_o);
/* Reads into dst (guest memory) until full or end of file. */
int pt_read(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    const struct iovec *dst, unsigned cnt, size_t *ret_len);
/* Writes src (guest memory) at off; returns the bytes written. */
int pt_write(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    uint32_t write_flags, const struct iovec *src, unsigned cnt,
    size_t *ret_len);
int pt_release(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, bool dir);
int pt_flush(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh);
int pt_fsync(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    bool datasync, bool dir);
/*
 * mode: any fallocate(2) mode the host takes; COLLAPSE_RANGE and
 * INSERT_RANGE only with the io_uring record (else -EOPNOTSUPP).
 */
int pt_fallocate(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    uint64_t off, uint64_t len, uint32_t mode);
int pt_lseek(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh, uint64_t off,
    uint32_t whence, uint64_t *ret_off);

/*
 * Extended attributes (pt_xattr.c); -ENOSYS without --xattr. Names are
 * the guest's (mapped by --xattrmap here). pt_getxattr and pt_listxattr
 * with size 0 return the size needed in *ret_len; with a smaller size
 * -ERANGE. pt_setxattr: -E2BIG above 64 KiB; setxattr_flags are
 * fuse_setxattr_in's (FUSE_SETXATTR_ACL_KILL_SGID).
 */
int pt_setxattr(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    const void *value, size_t size, uint32_t flags, uint32_t setxattr_flags);
int pt_getxattr(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    void *buf, size_t size, size_t *ret_len);
int pt_listxattr(struct pt *pt, const struct pt_ctx *ctx, void *buf,
    size_t size, size_t *ret_len);
int pt_removexattr(struct pt *pt, const struct pt_ctx *ctx, const char *name);
/*
 * FUSE_SECURITY_CTX: sets xattr name (a security.* label) on child, just
 * created in directory ctx->nodeid (plain set: a replay repeats it).
 */
int pt_secctx(struct pt *pt, const struct pt_ctx *ctx, const char *child,
    const char *name, const void *value, size_t size);

/*
 * Locks (pt_lock.c). POSIX record locks per (nodeid, lock owner) on an
 * OFD of their own; flock (FUSE_LK_FLOCK) on the handle's fd. pt_setlk
 * with wait (SETLKW) whose lock is taken answers -EINPROGRESS if
 * ctx->req->may_park (parked: the transport retries it), else -ENOLCK
 * (-EINTR on replay); -EAGAIN for a conflict without wait; -EBADF when
 * the handle's access mode forbids the lock type. pt_getlk fills ret_lk
 * with the conflicting lock and its owner's guest pid, or type F_UNLCK.
 * pt_lock_flush drops owner's POSIX locks on fh's file (FLUSH);
 * pt_flock_release drops fh's flock (RELEASE_FLOCK_UNLOCK).
 */
int pt_getlk(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    uint64_t owner, const struct fuse_file_lock *lk,
    struct fuse_file_lock *ret_lk);
int pt_setlk(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    uint64_t owner, const struct fuse_file_lock *lk, uint32_t lk_flags,
    bool wait);
int pt_lock_flush(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    uint64_t owner);
int pt_flock_release(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh);
/* Drops the heap hints of lock owners (the session ended: pt_destroy). */
void pt_lock_hints_drop(void);

/*
 * The rest of the protocol (pt_ext.c). pt_copy_file_range: ctx->nodeid
 * owns fh_in, nodeid_out owns fh_out; *ret_len the bytes copied.
 * pt_syncfs: syncfs() of the file system holding ctx->nodeid. pt_tmpfile:
 * an O_TMPFILE file in directory ctx->nodeid, with an entry and a handle
 * as pt_create gives (-EINVAL for a read-only open).
 */
int pt_copy_file_range(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh_in,
    uint64_t off_in, uint64_t nodeid_out, uint64_t fh_out, uint64_t off_out,
    uint64_t len, uint64_t flags, size_t *ret_len);
int pt_syncfs(struct pt *pt, const struct pt_ctx *ctx);
int pt_tmpfile(struct pt *pt, const struct pt_ctx *ctx, uint32_t flags,
    uint32_t mode, uint32_t umask, struct fuse_entry_out *ret_e,
    struct fuse_open_out *ret_o);

/* Directories (pt_dir.c). */
int pt_opendir(struct pt *pt, const struct pt_ctx *ctx, uint32_t flags,
    struct fuse_open_out *ret_o);
/*
 * Fills buf with fuse_dirent (or fuse_direntplus when plus) records from
 * the guest's offset cookie off; *ret_len is the bytes used (0 at the
 * end). With plus, every entry but "." and ".." takes a lookup reference
 * through ctx->tx, and entries stop when the transaction runs low.
 */
int pt_readdir(struct pt *pt, const struct pt_ctx *ctx, uint64_t fh,
    uint64_t off, void *buf, size_t size, bool plus, size_t *ret_len);

#endif
