/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Extended attributes (--xattr): GETXATTR, SETXATTR, LISTXATTR and
 * REMOVEXATTR on any inode of the table, names translated by --xattrmap
 * (xattrmap.c). The host call reaches the inode as virtiofsd does, by the
 * name of its table fd under /proc/self/fd (the magic link leads to the
 * inode itself, a symlink included): a regular file or directory is opened
 * read-only through pt_open_inode() and anything else is reached after
 * fchdir() to /proc/self/fd (cwd changes serialized); the *xattrat()
 * syscalls relative to our /proc/self/fd (Linux 6.13) would need neither,
 * but wait for the seccomp list (no_at).
 *
 * Exactly-once (DESIGN 5): SETXATTR with XATTR_CREATE or XATTR_REPLACE
 * goes through pt_do_fsetxattr() (the thread's io_uring); a plain SETXATTR
 * repeats harmlessly; REMOVEXATTR decides by identity (ENODATA on replay is
 * the first run's success).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "crashpoint.h"
#include "pt_int.h"
#include "xattrmap.h"

#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef XATTR_LIST_MAX
#define XATTR_LIST_MAX 65536
#endif
#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX 255
#endif

/* The *xattrat() syscalls (same number on every architecture). */
#define PHX_SYS_setxattrat    463
#define PHX_SYS_getxattrat    464
#define PHX_SYS_listxattrat   465
#define PHX_SYS_removexattrat 466

struct phx_xattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

enum xop { X_GET, X_SET, X_LIST, X_REMOVE };

/*
 * Set once the kernel says ENOSYS to an *xattrat() call. Starts set: the
 * seccomp allowlist names its syscalls, and libseccomp 2.5 does not know
 * the *xattrat() names (they are skipped, and the call would be SIGSYS);
 * clear it once filter.c allows numbers 463-466.
 */
static atomic_bool no_at = true;
/* The /proc/self/fd fallback changes the process's cwd. */
static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Relative to /proc/self/fd, following the magic link to the inode (an
 * empty path with AT_EMPTY_PATH would refuse the O_PATH fd).
 */
static ssize_t
at_call(int fd, const char *path, enum xop op, const char *name, void *buf,
    size_t size, int flags)
{
	struct phx_xattr_args xa = {.value = (uintptr_t)buf,
	    .size = (uint32_t)size,
	    .flags = (uint32_t)flags};
	const int at = 0;

	switch (op) {
	case X_GET:
		return syscall(PHX_SYS_getxattrat, fd, path, at, name, &xa,
		    sizeof(xa));
	case X_SET:
		return syscall(PHX_SYS_setxattrat, fd, path, at, name, &xa,
		    sizeof(xa));
	case X_LIST:
		return syscall(PHX_SYS_listxattrat, fd, path, at, buf, size);
	case X_REMOVE:
		return syscall(PHX_SYS_removexattrat, fd, path, at, name);
	}
	errno = EINVAL;
	return -1;
}

static ssize_t
fd_call(int fd, enum xop op, const char *name, void *buf, size_t size,
    int flags)
{
	switch (op) {
	case X_GET:
		return fgetxattr(fd, name, buf, size);
	case X_SET:
		return fsetxattr(fd, name, buf, size, flags);
	case X_LIST:
		return flistxattr(fd, buf, size);
	case X_REMOVE:
		return fremovexattr(fd, name);
	}
	errno = EINVAL;
	return -1;
}

/* Path calls follow the /proc magic link to the inode itself. */
static ssize_t
path_call(const char *path, enum xop op, const char *name, void *buf,
    size_t size, int flags)
{
	switch (op) {
	case X_GET:
		return getxattr(path, name, buf, size);
	case X_SET:
		return setxattr(path, name, buf, size, flags);
	case X_LIST:
		return listxattr(path, buf, size);
	case X_REMOVE:
		return removexattr(path, name);
	}
	errno = EINVAL;
	return -1;
}

/* One host xattr call on table fd ifd; >= 0 or -errno. */
static ssize_t
host_xattr(struct pt *pt, int ifd, mode_t mode, enum xop op, const char *name,
    void *buf, size_t size, int flags)
{
	char pname[16];
	ssize_t n;
	int fd, e;

	snprintf(pname, sizeof(pname), "%d", ifd);
	if (!atomic_load(&no_at) && pt->proc_fd >= 0) {
		n = at_call(pt->proc_fd, pname, op, name, buf, size, flags);
		if (n >= 0)
			return n;
		if (errno != ENOSYS)
			return -errno;
		atomic_store(&no_at, true);
	}
	if (S_ISREG(mode) || S_ISDIR(mode)) {
		fd = pt_open_inode(pt, ifd, mode,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return fd;
		n = fd_call(fd, op, name, buf, size, flags);
		e = errno;
		close(fd);
		return n < 0 ? -e : n;
	}
	if (pt->proc_fd < 0)
		return -ENOTSUP;
	pthread_mutex_lock(&cwd_lock);
	if (fchdir(pt->proc_fd) < 0) {
		e = errno;
		pthread_mutex_unlock(&cwd_lock);
		return -e;
	}
	n = path_call(pname, op, name, buf, size, flags);
	e = errno;
	if (fchdir(pt->root_fd) < 0)
		fatal("fchdir back to the shared directory");
	pthread_mutex_unlock(&cwd_lock);
	return n < 0 ? -e : n;
}

int
pt_xattr_init(struct pt *pt)
{
	pt->xmap = NULL;
	if (pt->cfg->xattrmap[0] == '\0')
		return 0;
	return xattrmap_parse(pt->cfg->xattrmap, &pt->xmap);
}

void
pt_xattr_free(struct pt *pt)
{
	xattrmap_free(pt->xmap);
	pt->xmap = NULL;
}

/* The host name of a guest name into buf (XATTR_NAME_MAX + 1 bytes). */
static int
host_name(struct pt *pt, const char *name, char *buf, size_t size)
{
	size_t n = strnlen(name, XATTR_NAME_MAX + 1);

	if (n == 0)
		return -EINVAL;
	if (n > XATTR_NAME_MAX)
		return -ERANGE;
	if (pt->xmap == NULL) {
		memcpy(buf, name, n + 1);
		return 0;
	}
	return xattrmap_to_host(pt->xmap, name, buf, size);
}

/*
 * May the guest set or remove host name hname (issue 9 finding 9)? The
 * worker has CAP_SETFCAP: a guest writing security.capability would give
 * a host binary file capabilities. Without --xattrmap it is refused
 * (EPERM); with one, the operator's rules decide (virtiofsd's documented
 * remedy maps it to a user.* name). trusted.* and the other security.*
 * names need CAP_SYS_ADMIN, which the worker lacks unless --modcaps adds
 * it: the host kernel refuses them.
 */
static int
guest_may_write(const struct pt *pt, const char *hname)
{
	if (pt->xmap == NULL && strcmp(hname, "security.capability") == 0)
		return -EPERM;
	return 0;
}

/* Clears S_ISGID (FUSE_SETXATTR_ACL_KILL_SGID: the guest decided). */
static int
kill_sgid(struct pt *pt, int ifd, mode_t mode)
{
	struct stat st;
	char pname[16];

	if (fstatat(ifd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!(st.st_mode & S_ISGID) || S_ISLNK(mode) || pt->proc_fd < 0)
		return 0;
	snprintf(pname, sizeof(pname), "%d", ifd);
	if (fchmodat(pt->proc_fd, pname, st.st_mode & 07777 & ~S_ISGID, 0) <
	    0)
		return -errno;
	return 0;
}

/* A replayed XATTR_CREATE found the name: ours if the value is ours. */
static bool
same_value(struct pt *pt, int ifd, mode_t mode, const char *name,
    const void *value, size_t size)
{
	char *buf = malloc(size + 1);
	ssize_t n;
	bool same;

	if (buf == NULL)
		return false;
	n = host_xattr(pt, ifd, mode, X_GET, name, buf, size + 1, 0);
	same = n >= 0 && (size_t)n == size && memcmp(buf, value, size) == 0;
	free(buf);
	return same;
}

int
pt_setxattr(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    const void *value, size_t size, uint32_t flags, uint32_t setxattr_flags)
{
	char hname[XATTR_NAME_MAX + 1];
	mode_t mode;
	ssize_t n;
	int ifd, fd, err;

	if (!pt->cfg->xattr)
		return -ENOSYS;
	if (size > XATTR_SIZE_MAX)
		return -E2BIG;
	if (flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if ((err = host_name(pt, name, hname, sizeof(hname))) < 0 ||
	    (err = guest_may_write(pt, hname)) < 0)
		return err;
	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	if (flags == 0) {
		/* Setting the same value again is harmless: no intent. */
		n = host_xattr(pt, ifd, mode, X_SET, hname, (void *)(uintptr_t)value, size,
		    0);
	} else if (S_ISREG(mode) || S_ISDIR(mode)) {
		fd = pt_open_inode(pt, ifd, mode,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return fd;
		n = pt_do_fsetxattr(ctx, fd, hname, value, size, (int)flags);
		close(fd);
	} else {
		/* No fd io_uring accepts: identity decides on replay. */
		n = host_xattr(pt, ifd, mode, X_SET, hname, (void *)(uintptr_t)value, size,
		    (int)flags);
		if (n == -EEXIST && ctx->replay &&
		    same_value(pt, ifd, mode, hname, value, size))
			n = 0;
	}
	if (n < 0)
		return (int)n;
	if (pt->cfg->posix_acl &&
	    (setxattr_flags & FUSE_SETXATTR_ACL_KILL_SGID) &&
	    strcmp(hname, "system.posix_acl_access") == 0)
		return kill_sgid(pt, ifd, mode);
	return 0;
}

int
pt_getxattr(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    void *buf, size_t size, size_t *ret_len)
{
	char hname[XATTR_NAME_MAX + 1];
	mode_t mode;
	ssize_t n;
	int ifd, err;

	if (!pt->cfg->xattr)
		return -ENOSYS;
	if ((err = host_name(pt, name, hname, sizeof(hname))) < 0)
		return err == -EPERM ? -ENODATA : err;
	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	if (size > XATTR_SIZE_MAX)
		size = XATTR_SIZE_MAX;
	n = host_xattr(pt, ifd, mode, X_GET, hname, size ? buf : NULL, size,
	    0);
	if (n < 0)
		return (int)n;
	*ret_len = (size_t)n;
	return 0;
}

/* The host's whole list (heap, *ret_len bytes), retried while it grows. */
static int
host_list(struct pt *pt, int ifd, mode_t mode, char **ret, size_t *ret_len)
{
	for (int tries = 0; tries < 8; tries++) {
		ssize_t want, n;
		char *buf;

		want = host_xattr(pt, ifd, mode, X_LIST, NULL, NULL, 0, 0);
		if (want < 0)
			return (int)want;
		if (want > XATTR_LIST_MAX)
			want = XATTR_LIST_MAX;
		buf = malloc((size_t)want + 1);
		if (buf == NULL)
			return -ENOMEM;
		n = host_xattr(pt, ifd, mode, X_LIST, NULL, buf, (size_t)want,
		    0);
		if (n >= 0) {
			*ret = buf;
			*ret_len = (size_t)n;
			return 0;
		}
		free(buf);
		if (n != -ERANGE)
			return (int)n;
	}
	return -ERANGE;
}

int
pt_listxattr(struct pt *pt, const struct pt_ctx *ctx, void *buf, size_t size,
    size_t *ret_len)
{
	char *list = NULL, *out = buf;
	size_t len = 0, total = 0;
	mode_t mode;
	int ifd, err;

	if (!pt->cfg->xattr)
		return -ENOSYS;
	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	if ((err = host_list(pt, ifd, mode, &list, &len)) < 0)
		return err;
	for (size_t pos = 0; pos < len;) {
		const char *h = list + pos, *g = h;
		size_t hl = strnlen(h, len - pos), gl;

		pos += hl + 1;
		if (hl == 0 || pos > len)
			continue;
		if (pt->xmap != NULL && xattrmap_to_guest(pt->xmap, h, &g) < 0)
			continue;
		gl = strlen(g);
		if (gl == 0)
			continue;
		if (size != 0 && total + gl + 1 <= size)
			memcpy(out + total, g, gl + 1);
		total += gl + 1;
	}
	free(list);
	if (size != 0 && total > size)
		return -ERANGE;
	if (total > XATTR_LIST_MAX)
		return -E2BIG;
	*ret_len = total;
	return 0;
}

int
pt_removexattr(struct pt *pt, const struct pt_ctx *ctx, const char *name)
{
	char hname[XATTR_NAME_MAX + 1];
	bool maybe_ran;
	mode_t mode;
	ssize_t n;
	int ifd, err;

	if (!pt->cfg->xattr)
		return -ENOSYS;
	if ((err = host_name(pt, name, hname, sizeof(hname))) < 0 ||
	    (err = guest_may_write(pt, hname)) < 0)
		return err;
	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	/* Tests: a kill when EXECUTING, before any host call. */
	CRASHPOINT("pt.before_removexattr");
	/*
	 * DESIGN 5 identity: a replay that finds it gone removed it, if its
	 * first run got to the call; one killed before it (EXECUTING from
	 * before the first host call) runs as new: ENODATA is the guest's.
	 */
	maybe_ran = pt_once_maybe_ran(ctx);
	if (!maybe_ran && pt_once_journaled(ctx)) {
		n = host_xattr(pt, ifd, mode, X_GET, hname, NULL, 0, 0);
		if (n == -ENODATA)
			return -ENODATA;
		pt_once_calling(ctx);
	}
	n = host_xattr(pt, ifd, mode, X_REMOVE, hname, NULL, 0, 0);
	if (n == -ENODATA && maybe_ran)
		return 0;
	return n < 0 ? (int)n : 0;
}

int
pt_secctx(struct pt *pt, const struct pt_ctx *ctx, const char *child,
    const char *name, const void *value, size_t size)
{
	char hname[XATTR_NAME_MAX + 1];
	struct stat st;
	ssize_t n;
	int dfd, fd, err;

	if (!pt->cfg->xattr)
		return -ENOSYS;
	if (size > XATTR_SIZE_MAX)
		return -E2BIG;
	/* A security context is an LSM label: a security.* name, and never
	 * file capabilities, whatever --xattrmap says. */
	if (strncmp(name, "security.", 9) != 0 ||
	    strcmp(name, "security.capability") == 0)
		return -EPERM;
	if ((err = host_name(pt, name, hname, sizeof(hname))) < 0)
		return err;
	if (strcmp(hname, "security.capability") == 0)
		return -EPERM;
	/* The new inode's table fd is not committed yet: its name is. */
	if ((err = pt_inode(pt, ctx->nodeid, &dfd, NULL)) < 0)
		return err;
	fd = openat(dfd, child, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	n = host_xattr(pt, fd, st.st_mode, X_SET, hname,
	    (void *)(uintptr_t)value, size, 0);
	close(fd);
	return n < 0 ? (int)n : 0;
}

uint32_t
pt_create_umask(struct pt *pt, int dfd, uint32_t umask)
{
	/*
	 * FUSE_POSIX_ACL leaves the umask to us: POSIX ignores it under a
	 * default ACL, which the host applies itself (our umask is 0).
	 */
	if (!pt->cfg->posix_acl || umask == 0)
		return umask;
	return host_xattr(pt, dfd, S_IFDIR, X_GET, "system.posix_acl_default",
		   NULL, 0, 0) > 0
		   ? 0
		   : umask;
}
