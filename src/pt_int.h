/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared by pt.c, pt_file.c, pt_dir.c and pt_once.c; not for other
 * modules. struct pt is per worker incarnation (heap), read-only after
 * pt_init() except the readdir locks.
 */
#ifndef PHX_PT_INT_H
#define PHX_PT_INT_H

#include <pthread.h>
#include <sys/stat.h>

#include "pt.h"

#define PT_DIR_LOCKS 64

struct pt {
	struct region *r;
	const struct config *cfg;
	int root_fd;       /* the table's root O_PATH fd (not owned) */
	int proc_fd;       /* this incarnation's /proc/self/fd, owned */
	bool switch_creds; /* running as root: creations take guest ids */
	uid_t euid;        /* ids restored after a creation */
	gid_t egid;
	uint64_t entry_sec; /* fuse_entry_out.entry_valid */
	uint64_t attr_sec;  /* attr_valid */
	struct xattrmap *xmap; /* --xattrmap, NULL = names pass (pt_xattr.c) */
	/* Serialize lseek + getdents64 on one directory handle. */
	pthread_mutex_t dir_locks[PT_DIR_LOCKS];
};

/* The guest's ids applied to the calling thread only (raw syscalls). */
struct pt_creds {
	bool on;
};

/* ctx->nodeid (or another nodeid) -> table fd and S_IFMT. */
int pt_inode(struct pt *pt, uint64_t nodeid, int *ret_fd, mode_t *ret_mode);
/*
 * Checks a guest name: NUL-terminated by the decoder already; not empty,
 * no '/', at most NAME_MAX bytes, and, if creating, not "." or "..".
 */
int pt_check_name(const char *name, bool creating);
/*
 * The one checked open path for an inode (STYLE "choke points"): refuses
 * anything but regular files and directories (-EBADF, as virtiofsd: a
 * FIFO or device is never opened on the host), strips O_APPEND, O_CREAT,
 * O_EXCL, O_NOCTTY and O_NOFOLLOW, and reopens the O_PATH fd through
 * /proc/self/fd. The fd has FD_CLOEXEC clear unless flags ask for it.
 */
int pt_open_inode(struct pt *pt, int ofd, mode_t mode, int flags);
/*
 * Looks up name under dirfd (an O_PATH or directory fd) and takes one
 * lookup reference through ctx->tx. parent_dev is the parent's st_dev
 * (for the submount flag), or 0 to skip that check.
 */
int pt_entry_at(struct pt *pt, const struct pt_ctx *ctx, int dirfd,
    const char *name, dev_t parent_dev, struct fuse_entry_out *ret_e);
/* Takes a reference for an O_PATH fd (owned: handed over or closed). */
int pt_ref_fd(struct pt *pt, const struct pt_ctx *ctx, int fd,
    const struct stat *st, uint64_t *ret_nodeid);
void pt_fill_attr(const struct stat *st, struct fuse_attr *ret_a);
void pt_fill_entry(struct pt *pt, uint64_t nodeid, const struct stat *st,
    struct fuse_entry_out *ret_e);
/*
 * After a table call that failed with an fd it had registered for
 * closing on abort: unregisters it, so the caller can close it itself
 * whatever happens to the transaction. (See the report: redo.h lacks it.)
 */
void pt_unregister_abort_fd(struct redo_txn *tx, int fd);
/*
 * The caller's mapped ids on the calling thread (-EPERM for an id the
 * maps cannot give: never the daemon's ids instead). Every successful
 * enter is followed by a leave; pt_creds_checked() is true in between,
 * and the creation hooks of pt_once.c refuse to run otherwise.
 */
int pt_creds_enter(struct pt *pt, const struct pt_ctx *ctx, struct pt_creds *c);
void pt_creds_leave(struct pt *pt, struct pt_creds *c);
bool pt_creds_checked(void);
/* Clears S_ISUID, and S_ISGID if group-executable (kernel killpriv). */
int pt_kill_suidgid(struct pt *pt, int fd);
/*
 * After a change of fd's data (WRITE, truncation, FALLOCATE, a copy's
 * destination): clears S_ISUID if no guest id maps to the file's owner,
 * S_ISGID (group-executable) if none maps to its group, whatever the
 * guest's KILL_SUIDGID flags said. The worker writes with CAP_FSETID,
 * which would keep a host setuid-root binary setuid under content the
 * guest wrote; a host writer without that capability loses the bits.
 * Nothing to do without --translate-uid/-gid (every id is reachable).
 */
void pt_guard_sxid(struct pt *pt, int fd);

/* Exactly-once hooks (pt_once.c): one function per non-idempotent op. */
int pt_do_mkdirat(const struct pt_ctx *ctx, int dirfd, const char *name,
    mode_t mode);
/*
 * The identity-decided requests (MKNOD, REMOVEXATTR; DESIGN 5 with no
 * io_uring op): a replay may have made its host call only past
 * pt_once_calling(), which records in the slot that the target was checked
 * and the call is being made; before it, the replay runs as new.
 */
bool pt_once_maybe_ran(const struct pt_ctx *ctx);
/*
 * For an UNLINK, RMDIR or RENAME whose directory no longer resolves
 * (err, ESTALE: a hostile FORGET or DESTROY committed after its op ran):
 * the op's success if its slot records one (KNOWN, a replay after a
 * crash), since its reply carries nothing but the result; else err.
 */
int pt_once_known(const struct pt_ctx *ctx, int err);
/*
 * For a MKDIR, SYMLINK, LINK or CREATE whose directory no longer resolves (err)
 * but whose op is done (a success KNOWN in its slot, a replay after a
 * crash): the directory fd its op named, if that fd is still open on the
 * same directory (the (dev, ino) its freed, not reused, entry held), so
 * that the reply's entry can be built; else err.
 */
int pt_once_parent(struct pt *pt, const struct pt_ctx *ctx, int err,
    int *ret_fd);
/* The request has a journal slot (the record above is possible). */
bool pt_once_journaled(const struct pt_ctx *ctx);
void pt_once_calling(const struct pt_ctx *ctx);
int pt_do_mknodat(const struct pt_ctx *ctx, int dirfd, const char *name,
    mode_t mode, dev_t rdev);
int pt_do_symlinkat(const struct pt_ctx *ctx, const char *target, int dirfd,
    const char *name);
int pt_do_linkat(struct pt *pt, const struct pt_ctx *ctx, int oldfd,
    int newdirfd, const char *name);
int pt_do_unlinkat(const struct pt_ctx *ctx, int dirfd, const char *name,
    int flags);
int pt_do_renameat2(const struct pt_ctx *ctx, int olddirfd, const char *oldname,
    int newdirfd, const char *newname, unsigned flags);
/*
 * openat(dirfd, name, flags | O_CREAT, mode); O_EXCL as the guest asks.
 * An existing name is opened only if it is a regular file, never by name
 * (a FIFO or device node is never opened: pt_once.c open_existing).
 */
int pt_do_create(struct pt *pt, const struct pt_ctx *ctx, int dirfd,
    const char *name, int flags, mode_t mode);
int pt_do_ftruncate(const struct pt_ctx *ctx, int fd, off_t size);
int pt_do_fallocate(const struct pt_ctx *ctx, int fd, int mode, off_t off,
    off_t len);
/* fsetxattr with XATTR_CREATE or XATTR_REPLACE on an open fd. */
int pt_do_fsetxattr(const struct pt_ctx *ctx, int fd, const char *name,
    const void *value, size_t size, int flags);

/* pt_xattr.c: builds pt->xmap from --xattrmap (-EINVAL if malformed). */
int pt_xattr_init(struct pt *pt);
void pt_xattr_free(struct pt *pt);
/*
 * The umask a creation in directory dfd applies: the guest's, or 0 with
 * --posix-acl when the directory has a default ACL (POSIX).
 */
uint32_t pt_create_umask(struct pt *pt, int dfd, uint32_t umask);

#endif
