/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exactly-once hooks of the passthrough layer (DESIGN 5): one function
 * per non-idempotent host syscall kind, called by pt.c and pt_file.c with
 * names already validated and the guest's ids already applied. This is the
 * one place where intent.c will record what recovery needs and submit the
 * syscall through the thread's io_uring; until then the syscall runs
 * directly, and a replayed request (ctx->replay) is answered as its first
 * run would have been.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "crashpoint.h"
#include "inode.h"
#include "intent.h"
#include "pt_int.h"

/* ==== exactly-once hooks (DESIGN 5) =====================================
 *
 * One function per non-idempotent host syscall kind, so that the intent
 * record and the io_uring submission (intent.c) replace the direct call in
 * one place. Creations run with the guest's ids already applied, so the
 * thread's effective uid is the owner a creation would have given.
 *
 * When ctx->replay is set the request may already have happened before a
 * crash. Until intent.c decides from the kernel's record, these functions
 * accept the outcome the first run would have left:
 *   mkdir/mknod/symlink EEXIST: the name has the expected type and owner
 *     (and symlink target, device number) -> success;
 *   link EEXIST: the name is the same inode -> success;
 *   unlink/rmdir ENOENT -> success;
 *   rename ENOENT without EXCHANGE: the new name exists -> success
 *     (EXCHANGE replayed is ambiguous without identity records: it runs
 *     again);
 *   create O_EXCL EEXIST: a regular file with our owner -> opened
 *     without O_EXCL and O_TRUNC (never a FIFO or device: open_existing);
 *   ftruncate, fallocate: repeating them gives the same result (but
 *     COLLAPSE_RANGE and INSERT_RANGE, which run only with a ring);
 *   fsetxattr XATTR_CREATE EEXIST: the value is ours -> success.
 */

/*
 * With a ring (the normal case) the kernel's record decides: intent.c runs
 * the syscall through the thread's io_uring and a replay gets the first
 * run's exact result. The identity rules above are the fallback for hosts
 * where io_uring is disabled, for requests without a journal slot, and
 * for a pop whose run (first or any) was on a thread without a ring: its
 * slot says INTENT_DIRECT (via_ring), and every replay of it, on a ring
 * or not, is decided by identity, since no ring holds its result.
 */
static bool
once(const struct pt_ctx *ctx)
{
	return intent_available() && ctx->req != NULL &&
	    ctx->req->slot != NULL;
}

/*
 * once(), for the hooks that make the host call: also false when the
 * first run of this pop called the host directly (its thread had no
 * ring), and records that before a direct call (intent_route).
 */
static bool
via_ring(const struct pt_ctx *ctx)
{
	return ctx->req != NULL && intent_route(ctx->req);
}

/*
 * Whether a direct call may find its own request's earlier effect: a
 * replay, unless its ring run is recorded as failed (fuse_req.once_failed:
 * nothing of it happened). The identity rules apply only then.
 */
static bool
maybe_done(const struct pt_ctx *ctx)
{
	return ctx->replay && !(ctx->req != NULL && ctx->req->once_failed);
}

/*
 * slot->step of an identity-decided request (MKNOD, REMOVEXATTR): its
 * target was checked absent (present) and the host call is being made.
 */
#define PT_STEP_CALLED 1

bool
pt_once_maybe_ran(const struct pt_ctx *ctx)
{
	const struct journal_slot_rec *slot = ctx->req != NULL ?
	    ctx->req->slot : NULL;

	return ctx->replay && (slot == NULL ||
	    region_load(&slot->step) == PT_STEP_CALLED);
}

int
pt_once_known(const struct pt_ctx *ctx, int err)
{
	int64_t res;

	/* Only a success is final: a recorded failure runs again. */
	if (once(ctx) && intent_known(ctx->req, &res))
		return (int)res;
	return err;
}

int
pt_once_parent(struct pt *pt, const struct pt_ctx *ctx, int err, int *ret_fd)
{
	uint64_t dev, ino;
	struct stat st;
	int64_t res;
	int fd;

	if (!once(ctx) || !intent_known(ctx->req, &res))
		return err;
	fd = (int)(int64_t)region_load(&ctx->req->slot->intent[INTENT_W_DIRFD]);
	/*
	 * The freed entry's fd waited for its last user (pin.c), which the
	 * crash took: nothing closed it before the fd sweep, which runs
	 * after recovery. An open fd keeps its inode, so the same (dev, ino)
	 * on it is the same directory.
	 */
	if (fd < 0 || REGION_FD_RESERVED(fd) ||
	    inode_freed_identity(pt->r, ctx->nodeid, &dev, &ino) < 0 ||
	    fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino)
		return err;
	*ret_fd = fd;
	return 0;
}

bool
pt_once_journaled(const struct pt_ctx *ctx)
{
	return ctx->req != NULL && ctx->req->slot != NULL;
}

void
pt_once_calling(const struct pt_ctx *ctx)
{
	if (ctx->req != NULL && ctx->req->slot != NULL)
		region_store(&ctx->req->slot->step, PT_STEP_CALLED);
}

static bool
replay_owner_ok(const struct stat *st)
{
	return st->st_uid == geteuid();
}

int
pt_do_mkdirat(const struct pt_ctx *ctx, int dirfd, const char *name,
    mode_t mode)
{
	struct stat st;

	int e;

	if (!pt_creds_checked())
		return -EPERM;
	/* Tests: a slow host mkdir (a hung mount), its request in flight. */
	if (!ctx->replay)
		DELAYPOINT("pt.mkdir");
	if (via_ring(ctx))
		return intent_mkdirat(ctx->req, dirfd, name, mode);
	if (mkdirat(dirfd, name, mode) == 0)
		return 0;
	e = errno;
	if (e == EEXIST && maybe_done(ctx) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && replay_owner_ok(&st))
		return 0;
	return -e;
}

int
pt_do_mknodat(const struct pt_ctx *ctx, int dirfd, const char *name,
    mode_t mode, dev_t rdev)
{
	bool journaled = pt_once_journaled(ctx);
	/* The first run may have created it: a replay past the record. */
	bool maybe_ran = pt_once_maybe_ran(ctx);
	struct stat st;

	int e;

	if (!pt_creds_checked())
		return -EPERM;
	/* Tests: a kill when EXECUTING, before any host call (recovery.sh). */
	CRASHPOINT("pt.before_mknod");
	/*
	 * No io_uring op for mknodat: the identity rules decide a replay. A
	 * slot is EXECUTING from before its first host call, so a kill
	 * before mknodat also leaves a replay, which would take a name that
	 * existed before (the guest's second MKNOD of a fifo) for its own.
	 * So the slot records that the name was absent just before the
	 * call (step PT_STEP_CALLED); a replay that never got there runs as
	 * new and answers the EEXIST of a name that exists.
	 */
	if (journaled && !maybe_ran) {
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return -EEXIST;
		pt_once_calling(ctx);
	}
	if (mknodat(dirfd, name, mode, rdev) == 0)
		return 0;
	e = errno;
	if (e == EEXIST && maybe_ran &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_mode & S_IFMT) == (mode & S_IFMT) && replay_owner_ok(&st) &&
	    (!(S_ISCHR(mode) || S_ISBLK(mode)) || st.st_rdev == rdev))
		return 0;
	return -e;
}

int
pt_do_symlinkat(const struct pt_ctx *ctx, const char *target, int dirfd,
    const char *name)
{
	struct stat st;
	char buf[PATH_MAX];
	size_t tl = strlen(target);
	ssize_t n;

	if (!pt_creds_checked())
		return -EPERM;
	if (via_ring(ctx))
		return intent_symlinkat(ctx->req, target, dirfd, name);
	if (symlinkat(target, dirfd, name) == 0)
		return 0;
	if (errno != EEXIST || !maybe_done(ctx))
		return -errno;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode) && replay_owner_ok(&st) &&
	    (n = readlinkat(dirfd, name, buf, sizeof(buf))) >= 0 &&
	    (size_t)n == tl && memcmp(buf, target, tl) == 0)
		return 0;
	return -EEXIST;
}

int
pt_do_linkat(struct pt *pt, const struct pt_ctx *ctx, int oldfd, int newdirfd,
    const char *name)
{
	struct stat a, b;
	char pname[16];
	int rc, e;

	if (pt->proc_fd >= 0 && via_ring(ctx)) {
		snprintf(pname, sizeof(pname), "%d", oldfd);
		return intent_linkat(ctx->req, pt->proc_fd, pname, newdirfd,
		    name, AT_SYMLINK_FOLLOW);
	}
	if (pt->proc_fd >= 0) {
		snprintf(pname, sizeof(pname), "%d", oldfd);
		rc = linkat(pt->proc_fd, pname, newdirfd, name,
		    AT_SYMLINK_FOLLOW);
	} else {
		rc = linkat(oldfd, "", newdirfd, name, AT_EMPTY_PATH);
	}
	if (rc == 0)
		return 0;
	e = errno;
	if (e == EEXIST && maybe_done(ctx) &&
	    fstatat(oldfd, "", &a, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(newdirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return 0;
	return -e;
}

int
pt_do_unlinkat(const struct pt_ctx *ctx, int dirfd, const char *name, int flags)
{
	if (via_ring(ctx))
		return intent_unlinkat(ctx->req, dirfd, name, flags);
	if (unlinkat(dirfd, name, flags) == 0)
		return 0;
	if (errno == ENOENT && maybe_done(ctx))
		return 0;
	return -errno;
}

int
pt_do_renameat2(const struct pt_ctx *ctx, int olddirfd, const char *oldname,
    int newdirfd, const char *newname, unsigned flags)
{
	struct stat st;
	int e;

	if (via_ring(ctx))
		return intent_renameat2(ctx->req, olddirfd, oldname, newdirfd,
		    newname, flags);
	if (renameat2(olddirfd, oldname, newdirfd, newname, flags) == 0)
		return 0;
	e = errno;
	if (e == ENOENT && maybe_done(ctx) && !(flags & RENAME_EXCHANGE) &&
	    fstatat(newdirfd, newname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return -e;
}

/*
 * An existing name a CREATE without O_EXCL (or a replayed one) may open:
 * O_PATH first, the type checked on that inode, then reopened through
 * /proc/self/fd (pt_open_inode), so a FIFO or device node under the name
 * is never opened on the host (a FIFO blocks, a device open has side
 * effects; issue 9 finding 3). Directory -EISDIR, symlink -ELOOP (what
 * the open by name answered), any other non-regular file -EEXIST.
 */
static int
open_existing(struct pt *pt, int dirfd, const char *name, int flags,
    bool replay)
{
	struct stat st, st2;
	int ofd, fd;

	ofd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (ofd < 0)
		return -errno;
	if (fstat(ofd, &st) < 0) {
		fd = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		fd = -EISDIR;
	} else if (S_ISLNK(st.st_mode)) {
		fd = -ELOOP;
	} else if (!S_ISREG(st.st_mode) || (replay && !replay_owner_ok(&st))) {
		fd = -EEXIST;
	} else if (pt->proc_fd >= 0) {
		fd = pt_open_inode(pt, ofd, st.st_mode,
		    flags & ~(O_CREAT | O_EXCL));
	} else {
		/*
		 * No /proc: by name, never blocking, and only if the name is
		 * still the regular file just checked.
		 */
		fd = openat(dirfd, name,
		    (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0) {
			fd = -errno;
		} else if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev ||
		    st2.st_ino != st.st_ino ||
		    (!(flags & O_NONBLOCK) &&
			fcntl(fd, F_SETFL, flags & ~O_ACCMODE) < 0)) {
			close(fd);
			fd = -EEXIST;
		}
	}
	close(ofd);
	return fd;
}

int
pt_do_create(struct pt *pt, const struct pt_ctx *ctx, int dirfd,
    const char *name, int flags, mode_t mode)
{
	int fd, tries;

	/* Creations run with the caller's checked ids (pt.c) or not at all. */
	if (!pt_creds_checked())
		return -EPERM;
	CRASHPOINT("pt.do_create"); /* tests: a kill in a CREATE, replayed */
	/* O_NOFOLLOW: a symlink planted under the name is never followed. */
	if (via_ring(ctx) && (flags & O_EXCL))
		return intent_openat(ctx->req, dirfd, name,
		    flags | O_CREAT | O_NOFOLLOW, mode);
	/*
	 * O_EXCL always on the host: the open by name only ever makes a new
	 * file; an existing name goes through open_existing.
	 */
	for (tries = 0; tries < 4; tries++) {
		fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW,
		    mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
		if (flags & O_EXCL) {
			/* A replay finding its own regular file (above). */
			if (!maybe_done(ctx))
				return -EEXIST;
			return open_existing(pt, dirfd, name,
			    flags & ~O_TRUNC, true);
		}
		fd = open_existing(pt, dirfd, name, flags, false);
		if (fd != -ENOENT)
			return fd;
		/* Unlinked between the two opens: create again. */
	}
	return -EEXIST;
}

int
pt_do_ftruncate(const struct pt_ctx *ctx, int fd, off_t size)
{
	if (via_ring(ctx))
		return intent_ftruncate(ctx->req, fd, size);
	return ftruncate(fd, size) < 0 ? -errno : 0;
}

int
pt_do_fallocate(const struct pt_ctx *ctx, int fd, int mode, off_t off,
    off_t len)
{
	if (via_ring(ctx))
		return intent_fallocate(ctx->req, fd, mode, off, len);
	/* Moving data twice is not the same result: kernel record only. */
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		return -EOPNOTSUPP;
	return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

int
pt_do_fsetxattr(const struct pt_ctx *ctx, int fd, const char *name,
    const void *value, size_t size, int flags)
{
	char *buf;
	ssize_t n;
	int e;

	if (via_ring(ctx))
		return intent_fsetxattr(ctx->req, fd, name, value, size,
		    flags);
	if (fsetxattr(fd, name, value, size, flags) == 0)
		return 0;
	e = errno;
	/* A replayed CREATE that finds our value made it (identity). */
	if (e == EEXIST && maybe_done(ctx) && (flags & XATTR_CREATE) &&
	    (buf = malloc(size + 1)) != NULL) {
		n = fgetxattr(fd, name, buf, size + 1);
		if (n >= 0 && (size_t)n == size && memcmp(buf, value, size) == 0)
			e = 0;
		free(buf);
	}
	return -e;
}
