/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Passthrough core: per-incarnation state, the checked ways from guest
 * names and nodeids to host fds (pt_check_name, pt_inode, pt_open_inode),
 * lookups and their table references, attributes, and the name-changing
 * operations. Host paths never leave the shared directory: every call is
 * relative to a table fd and takes one validated component (no '/'), ".."
 * at the root answers the root, and nothing follows a symlink on the host.
 *
 * The non-idempotent host syscalls themselves are in pt_once.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fdispatch.h"
#include "handle.h"
#include "idmap.h"
#include "inode.h"
#include "log.h"
#include "fdtab.h"
#include "pt_int.h"

/* ---- state ------------------------------------------------------------ */

static int
open_proc_self_fd(void)
{
	/*
	 * Only through the keeper's proc root: inside the sandbox "/proc" is
	 * a path in the guest's share. No fallback: fail closed.
	 */
	int fd = openat(REGION_FD_PROC, "self/fd",
	    O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	return fd < 0 ? -errno : fd;
}

int
pt_init(struct pt **ret, struct region *r, const struct config *cfg,
    int root_fd)
{
	struct pt *pt;
	int fd;

	fd = open_proc_self_fd();
	if (fd < 0)
		return fd;
	pt = calloc(1, sizeof(*pt));
	if (pt == NULL) {
		close(fd);
		return -ENOMEM;
	}
	pt->r = r;
	pt->cfg = cfg;
	pt->root_fd = root_fd;
	pt->proc_fd = fd;
	/* This incarnation's own: the sweep keeps it, a later one closes it. */
	(void)fdtab_register(fd);
	pt->euid = geteuid();
	pt->egid = getegid();
	pt->switch_creds = pt->euid == 0;
	switch (cfg->cache) {
	case CONFIG_CACHE_NEVER:
		pt->entry_sec = pt->attr_sec = 0;
		break;
	case CONFIG_CACHE_AUTO:
		pt->entry_sec = pt->attr_sec = 1;
		break;
	case CONFIG_CACHE_METADATA:
	case CONFIG_CACHE_ALWAYS:
		pt->entry_sec = pt->attr_sec = 86400;
		break;
	}
	for (unsigned i = 0; i < PT_DIR_LOCKS; i++)
		pthread_mutex_init(&pt->dir_locks[i], NULL);
	if (pt_xattr_init(pt) < 0) {
		pt_free(pt);
		return -EINVAL;
	}
	/* Creations apply the guest's umask themselves. */
	umask(0);
	*ret = pt;
	return 0;
}

void
pt_free(struct pt *pt)
{
	if (pt == NULL)
		return;
	close(pt->proc_fd);
	pt_xattr_free(pt);
	for (unsigned i = 0; i < PT_DIR_LOCKS; i++)
		pthread_mutex_destroy(&pt->dir_locks[i]);
	free(pt);
}

/* ---- checked access ------------------------------------------------- */

int
pt_inode(struct pt *pt, uint64_t nodeid, int *ret_fd, mode_t *ret_mode)
{
	return inode_get(pt->r, nodeid, ret_fd, ret_mode);
}

int
pt_check_name(const char *name, bool creating)
{
	size_t n = strnlen(name, NAME_MAX + 1);

	if (n == 0)
		return -EINVAL;
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	if (strchr(name, '/') != NULL)
		return -EINVAL;
	if (creating && (strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
		return -EINVAL;
	return 0;
}

static void
fdname(char buf[16], int fd)
{
	snprintf(buf, 16, "%d", fd);
}

int
pt_open_inode(struct pt *pt, int ofd, mode_t mode, int flags)
{
	char name[16];
	int fd;

	if (!S_ISREG(mode) && !S_ISDIR(mode))
		return -EBADF;
	flags &= ~(O_APPEND | O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);
	if (pt->proc_fd < 0) {
		if (!S_ISDIR(mode))
			return -EBADF;
		fd = openat(ofd, ".", flags | O_DIRECTORY);
		return fd < 0 ? -errno : fd;
	}
	fdname(name, ofd);
	fd = openat(pt->proc_fd, name, flags);
	return fd < 0 ? -errno : fd;
}

void
pt_unregister_abort_fd(struct redo_txn *tx, int fd)
{
	for (unsigned i = tx->nabort; i-- > 0;) {
		if (tx->abort_fds[i] == fd) {
			tx->abort_fds[i] = tx->abort_fds[--tx->nabort];
			return;
		}
	}
}

void
pt_fill_attr(const struct stat *st, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	idmap_attr_to_guest(&a->uid, &a->gid); /* --translate-uid/-gid */
	a->rdev = (uint32_t)st->st_rdev;
	a->blksize = (uint32_t)st->st_blksize;
}

void
pt_fill_entry(struct pt *pt, uint64_t nodeid, const struct stat *st,
    struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = nodeid;
	e->generation = 0; /* nodeid carries the table generation */
	e->entry_valid = pt->entry_sec;
	e->attr_valid = pt->attr_sec;
	pt_fill_attr(st, &e->attr);
}

int
pt_ref_fd(struct pt *pt, const struct pt_ctx *ctx, int fd,
    const struct stat *st, uint64_t *ret_nodeid)
{
	struct redo_txn *tx = ctx->tx;
	uint64_t id;
	int err;

	/*
	 * Known: the table keeps its own fd; ours goes now. Not when the
	 * table may keep a file handle, which pins nothing: inode_ref()
	 * then compares handles (the number may be another file's now).
	 */
	err = pt->cfg->inode_file_handles != CONFIG_IFH_NEVER ? -ENOENT :
	    inode_find(tx, st->st_dev, st->st_ino, &id);
	if (err == 0) {
		close(fd);
		return inode_ref(tx, st->st_dev, st->st_ino, st->st_mode, -1,
		    ret_nodeid);
	}
	if (err != -ENOENT) {
		close(fd);
		return err;
	}
	err =
	    inode_ref(tx, st->st_dev, st->st_ino, st->st_mode, fd, ret_nodeid);
	if (err < 0) {
		pt_unregister_abort_fd(tx, fd);
		close(fd);
	}
	return err;
}

/*
 * A name whose inode the table already holds by fd needs one fstatat, not
 * openat + fstat + close: the table's O_PATH fd pins that inode, so no
 * other file can carry its (dev, ino) meanwhile. (A table entry kept as a
 * file handle pins nothing: those take the open path.) 1: done, 0: take
 * the open path, < 0: the lookup's error.
 */
static int
entry_known(struct pt *pt, const struct pt_ctx *ctx, int dirfd,
    const char *name, struct stat *st, uint64_t *ret_nodeid)
{
	uint64_t id;
	int err;

	if (pt->cfg->inode_file_handles != CONFIG_IFH_NEVER)
		return 0;
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	err = inode_find(ctx->tx, st->st_dev, st->st_ino, &id);
	if (err == -ENOENT)
		return 0;
	if (err < 0)
		return err;
	err = inode_ref(ctx->tx, st->st_dev, st->st_ino, st->st_mode, -1,
	    ret_nodeid);
	return err < 0 ? err : 1;
}

int
pt_entry_at(struct pt *pt, const struct pt_ctx *ctx, int dirfd,
    const char *name, dev_t parent_dev, struct fuse_entry_out *ret_e)
{
	struct stat st;
	uint64_t nodeid;
	int fd, err;

	err = entry_known(pt, ctx, dirfd, name, &st, &nodeid);
	if (err < 0)
		return err;
	if (err == 0) {
		/* FD_CLOEXEC clear: the table's fds survive the keeper's exec. */
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW);
		if (fd < 0)
			return -errno;
		if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			err = -errno;
			close(fd);
			return err;
		}
		err = pt_ref_fd(pt, ctx, fd, &st, &nodeid);
		if (err < 0)
			return err;
	}
	pt_fill_entry(pt, nodeid, &st, ret_e);
	if (parent_dev != 0 && st.st_dev != parent_dev &&
	    pt->cfg->announce_submounts)
		ret_e->attr.flags |= FUSE_ATTR_SUBMOUNT;
	return 0;
}

/* ---- credentials ---------------------------------------------------- */

/*
 * glibc's setresuid() changes every thread of the process (it signals
 * them all); the raw syscalls change the calling thread only, which is
 * what a creation on behalf of one guest caller needs (as virtiofsd).
 * Only the effective ids change, so the way back stays open.
 *
 * The one checked choke point for a caller's ids (issue 9 finding 2): an
 * id the maps cannot give (-1, a forbid-guest id, a rule giving -1) is
 * refused with EPERM before anything runs, so no request runs with the
 * daemon's ids for want of a mapping; the switch is read back; and the
 * creation hooks (pt_once.c) refuse to run on a thread that did not pass
 * here (pt_creds_checked), so a new creation path cannot skip it.
 */
static __thread bool creds_checked;

bool
pt_creds_checked(void)
{
	return creds_checked;
}

int
pt_creds_enter(struct pt *pt, const struct pt_ctx *ctx, struct pt_creds *c)
{
	uint32_t uid = ctx->uid, gid = ctx->gid;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int err;

	c->on = false;
	/* --translate-uid/-gid: the caller's host ids (idmap.h). */
	if ((err = idmap_creds_to_host(&uid, &gid)) < 0)
		return err;
	if (!pt->switch_creds || (uid == pt->euid && gid == pt->egid)) {
		creds_checked = true;
		return 0;
	}
	if (syscall(SYS_setresgid, -1, (gid_t)gid, -1) < 0)
		return -errno;
	if (syscall(SYS_setresuid, -1, (uid_t)uid, -1) < 0) {
		err = -errno;
		if (syscall(SYS_setresgid, -1, pt->egid, -1) < 0)
			fatal("restoring the effective gid");
		return err;
	}
	c->on = true;
	if (syscall(SYS_getresuid, &ru, &eu, &su) < 0 ||
	    syscall(SYS_getresgid, &rg, &eg, &sg) < 0 || eu != uid ||
	    eg != gid)
		fatal("the caller's ids did not take");
	creds_checked = true;
	return 0;
}

void
pt_creds_leave(struct pt *pt, struct pt_creds *c)
{
	int saved = errno;

	creds_checked = false;
	if (!c->on)
		return;
	/* A thread left with a guest's ids would be a hole: die instead. */
	if (syscall(SYS_setresuid, -1, pt->euid, -1) < 0)
		fatal("restoring the effective uid");
	if (syscall(SYS_setresgid, -1, pt->egid, -1) < 0)
		fatal("restoring the effective gid");
	c->on = false;
	errno = saved;
}

int
pt_kill_suidgid(struct pt *pt, int fd)
{
	struct stat st;
	mode_t m;
	char name[16];

	if (fstat(fd, &st) < 0)
		return -errno;
	m = st.st_mode & 07777;
	m &= ~(mode_t)S_ISUID;
	if (st.st_mode & S_IXGRP)
		m &= ~(mode_t)S_ISGID;
	if (m == (st.st_mode & 07777))
		return 0;
	fdname(name, fd);
	if (pt->proc_fd >= 0 ? fchmodat(pt->proc_fd, name, m, 0) < 0
			     : fchmod(fd, m) < 0)
		return -errno;
	return 0;
}

void
pt_guard_sxid(struct pt *pt, int fd)
{
	struct stat st;
	mode_t m;
	char name[16];

	if (!idmap_active() || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	m = st.st_mode & 07777;
	if ((m & S_ISUID) && !idmap_uid_reachable(st.st_uid))
		m &= ~(mode_t)S_ISUID;
	if ((m & S_ISGID) && (m & S_IXGRP) && !idmap_gid_reachable(st.st_gid))
		m &= ~(mode_t)S_ISGID;
	if (m == (st.st_mode & 07777))
		return;
	fdname(name, fd);
	if (pt->proc_fd >= 0 ? fchmodat(pt->proc_fd, name, m, 0) < 0
			     : fchmod(fd, m) < 0)
		log_warn("clearing the setuid bits of a host-owned file");
}

/*
 * The mode bits a SETATTR may set on the inode of ifd (issue 9, the
 * setuid class of finding 2): S_ISUID newly set on a file whose owner no
 * guest id maps to is refused, as chmod by a non-owner; S_ISGID newly
 * set for a group no guest id maps to is dropped, as for a caller outside
 * the group. The worker has CAP_FOWNER and CAP_FSETID, and a map that
 * sends guest root elsewhere (map:0:100000:65536) is the operator saying
 * host root's files are not the guest's: before, such a guest made a
 * root-owned file of the share setuid. Every id is reachable without a
 * map: nothing changes there.
 */
static int
setattr_mode(int ifd, mode_t *m)
{
	struct stat st;

	if (!idmap_active() || !(*m & (S_ISUID | S_ISGID)))
		return 0;
	if (fstatat(ifd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if ((*m & S_ISUID) && !(st.st_mode & S_ISUID) &&
	    !idmap_uid_reachable(st.st_uid))
		return -EPERM;
	if ((*m & S_ISGID) && !(st.st_mode & S_ISGID) &&
	    !idmap_gid_reachable(st.st_gid))
		*m &= ~(mode_t)S_ISGID;
	return 0;
}

/* ---- lookups and attributes ----------------------------------------- */

static int
parent_dir(struct pt *pt, uint64_t nodeid, int *ret_fd)
{
	mode_t mode;
	int err;

	err = pt_inode(pt, nodeid, ret_fd, &mode);
	if (err < 0)
		return err;
	return S_ISDIR(mode) ? 0 : -ENOTDIR;
}

int
pt_lookup(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    struct fuse_entry_out *ret_e)
{
	uint64_t pdev = 0;
	int dfd, err;

	if ((err = pt_check_name(name, false)) < 0)
		return err;
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0)
		return err;
	/* Never above the shared directory. */
	if (ctx->nodeid == INODE_ROOT_ID && strcmp(name, "..") == 0)
		name = ".";
	/* The parent's device from the table: no fstat. */
	if (pt->cfg->announce_submounts &&
	    (err = inode_dev(pt->r, ctx->nodeid, &pdev)) < 0)
		return err;
	return pt_entry_at(pt, ctx, dfd, name, (dev_t)pdev, ret_e);
}

uint64_t
pt_forget_start(const struct pt_ctx *ctx)
{
	if (!ctx->replay || ctx->req == NULL || ctx->req->slot == NULL)
		return 0;
	return region_load(&ctx->req->slot->step);
}

/*
 * DESIGN 5: a request of many table changes commits in chunks. Before
 * the work of step (everything below it done), once the transaction
 * holds PT_CHUNK_ENTRIES changes, records step in the journal slot and
 * commits. Short chunks are cheaper: every redo_get/redo_set scans the
 * transaction (DESTROY of 19k inodes: 7 us an inode in chunks of ~500
 * entries, 1.3 us in chunks of 32, so about 1.3 s for 1M inodes).
 */
#define PT_CHUNK_ENTRIES 32

static void
chunk_commit(const struct pt_ctx *ctx, uint64_t step)
{
	if (ctx->req != NULL && ctx->req->slot != NULL)
		(void)redo_set(ctx->tx, &ctx->req->slot->step, step);
	redo_commit(ctx->tx);
}

static void
chunk(const struct pt_ctx *ctx, uint64_t step)
{
	struct redo_txn *tx = ctx->tx;

	if (REGION_REDO_MAX - redo_room(tx) < PT_CHUNK_ENTRIES &&
	    tx->nclose + 2 < REDO_MAX_CLOSE)
		return;
	chunk_commit(ctx, step);
}

void
pt_forget(struct pt *pt, const struct pt_ctx *ctx, uint64_t index,
    uint64_t nodeid, uint64_t n)
{
	int err;

	/* BATCH_FORGET: step = the first entry not yet done. */
	chunk(ctx, index);
	err = inode_forget(ctx->tx, nodeid, n);
	if (err < 0)
		log_debug("forget %llu: %s", (unsigned long long)nodeid,
		    strerror(-err));
}

/* DESTROY's steps: handles 0.., then inodes from PT_DESTROY_INODES. */
#define PT_DESTROY_INODES (1ULL << 62)

void
pt_destroy(struct pt *pt, const struct pt_ctx *ctx)
{
	uint64_t step = pt_forget_start(ctx), i;
	int err;

	/*
	 * The session is closed (the caller committed initialized = 0): a
	 * handle or inode added from now on is refused (region.h). One added
	 * before may still be uncommitted under the table lock, at an index
	 * not yet in handle_high() (the table empty before it): wait for it.
	 * (The inode loop takes its lock at its first entry, the root, before
	 * it reads its bound again; a replay resumed further runs alone, in
	 * recovery.)
	 */
	if ((err = handle_hold(ctx->tx)) < 0)
		log_debug("destroy: handle table: %s", strerror(-err));
	for (i = step < PT_DESTROY_INODES ? step : UINT64_MAX;
	     i < handle_high(pt->r); i++) {
		chunk(ctx, i);
		CRASHPOINT("pt.destroy_chunk");
		DELAYPOINT("pt.destroy_chunk"); /* tests: requests between */
		if ((err = handle_release_at(ctx->tx, i)) < 0)
			log_debug("destroy: handle %llu: %s",
			    (unsigned long long)i, strerror(-err));
	}
	for (i = step < PT_DESTROY_INODES ? 0 : step - PT_DESTROY_INODES;
	     i < inode_high(pt->r); i++) {
		chunk(ctx, PT_DESTROY_INODES + i);
		CRASHPOINT("pt.destroy_chunk");
		DELAYPOINT("pt.destroy_chunk"); /* tests: requests between */
		if ((err = inode_forget_at(ctx->tx, i)) < 0)
			log_debug("destroy: inode %llu: %s",
			    (unsigned long long)i, strerror(-err));
	}
	/*
	 * Committed whatever its size: room for the caller's own changes and
	 * the slot's commit, and the table locks released before hint_lock,
	 * which pt_lock.c takes first (a new owner's OFD: hint_lock, then the
	 * handle table's; the other order here deadlocked with a SETLK that
	 * passed the session check before the DESTROY, until the watchdog).
	 */
	chunk_commit(ctx, PT_DESTROY_INODES + i);
	/* The owners' OFDs are gone: their heap hints go too (no leak). */
	pt_lock_hints_drop();
}

int
pt_getattr(struct pt *pt, const struct pt_ctx *ctx, struct fuse_attr_out *ret_a)
{
	struct stat st;
	int fd, err;

	if ((err = pt_inode(pt, ctx->nodeid, &fd, NULL)) < 0)
		return err;
	/* Tests: a FORGET racing this request (phx-front forgetrace). */
	DELAYPOINT("pt.getattr_fd");
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	memset(ret_a, 0, sizeof(*ret_a));
	ret_a->attr_valid = pt->attr_sec;
	pt_fill_attr(&st, &ret_a->attr);
	return 0;
}

static int
set_times(struct pt *pt, const struct fuse_setattr_in *in, int hfd, int ifd,
    mode_t mode)
{
	struct timespec ts[2];
	char name[16];

	ts[0].tv_sec = 0;
	ts[1].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	if (in->valid & FATTR_ATIME_NOW) {
		ts[0].tv_nsec = UTIME_NOW;
	} else if (in->valid & FATTR_ATIME) {
		ts[0].tv_sec = (time_t)in->atime;
		ts[0].tv_nsec = in->atimensec;
	}
	if (in->valid & FATTR_MTIME_NOW) {
		ts[1].tv_nsec = UTIME_NOW;
	} else if (in->valid & FATTR_MTIME) {
		ts[1].tv_sec = (time_t)in->mtime;
		ts[1].tv_nsec = in->mtimensec;
	}
	if (hfd >= 0)
		return futimens(hfd, ts) < 0 ? -errno : 0;
	if (S_ISLNK(mode) || pt->proc_fd < 0) {
		if (utimensat(ifd, "", ts, AT_EMPTY_PATH) == 0)
			return 0;
		/* No race-free way to set a symlink's times here. */
		return errno == EINVAL ? -EPERM : -errno;
	}
	fdname(name, ifd);
	return utimensat(pt->proc_fd, name, ts, 0) < 0 ? -errno : 0;
}

int
pt_setattr(struct pt *pt, const struct pt_ctx *ctx,
    const struct fuse_setattr_in *in, struct fuse_attr_out *ret_a)
{
	uint32_t valid = in->valid;
	uint64_t hnode;
	int ifd, hfd = -1, hflags = 0, err;
	mode_t mode;
	char name[16];

	if ((err = pt_inode(pt, ctx->nodeid, &ifd, &mode)) < 0)
		return err;
	if (valid & FATTR_FH) {
		if (handle_get(pt->r, in->fh, false, &hfd, &hnode, &hflags) <
			0 ||
		    hnode != ctx->nodeid)
			return -EBADF;
	}
	fdname(name, ifd);
	if (valid & FATTR_MODE) {
		mode_t m = in->mode & 07777;

		if ((err = setattr_mode(ifd, &m)) < 0)
			return err;
		if (hfd >= 0)
			err = fchmod(hfd, m);
		else if (pt->proc_fd >= 0)
			err = fchmodat(pt->proc_fd, name, m, 0);
		else
			err = fchmodat(ifd, "", m, AT_EMPTY_PATH);
		if (err < 0)
			return -errno;
	}
	if (valid & (FATTR_UID | FATTR_GID)) {
		uint32_t u = in->uid, g = in->gid;

		/* -1 in a field the request sets is refused (idmap.h). */
		if ((valid & FATTR_UID) && (err = idmap_uid_to_host(&u)) < 0)
			return err;
		if ((valid & FATTR_GID) && (err = idmap_gid_to_host(&g)) < 0)
			return err;
		if (!(valid & FATTR_UID))
			u = (uint32_t)-1; /* unchanged */
		if (!(valid & FATTR_GID))
			g = (uint32_t)-1;
		if (fchownat(ifd, "", u, g,
			AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (valid & FATTR_SIZE) {
		int fd = hfd, tmp = -1;

		if (in->size > INT64_MAX)
			return -EFBIG;
		if (S_ISDIR(mode))
			return -EISDIR;
		if (fd < 0 || (hflags & O_ACCMODE) == O_RDONLY) {
			tmp =
			    pt_open_inode(pt, ifd, mode, O_WRONLY | O_CLOEXEC);
			if (tmp < 0)
				return tmp == -EBADF ? -EINVAL : tmp;
			fd = tmp;
		}
		err = pt_do_ftruncate(ctx, fd, (off_t)in->size);
		if (err == 0)
			pt_guard_sxid(pt, fd);
		if (tmp >= 0)
			close(tmp);
		if (err < 0)
			return err;
	}
	if ((valid & FATTR_KILL_SUIDGID) && !(valid & FATTR_MODE) &&
	    S_ISREG(mode) && (err = pt_kill_suidgid(pt, ifd)) < 0)
		return err;
	if (valid &
	    (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) {
		if ((err = set_times(pt, in, hfd, ifd, mode)) < 0)
			return err;
	}
	/* FATTR_CTIME, FATTR_LOCKOWNER: nothing to do on the host. */
	return pt_getattr(pt, ctx, ret_a);
}

int
pt_readlink(struct pt *pt, const struct pt_ctx *ctx, char *buf, size_t size,
    size_t *ret_len)
{
	ssize_t n;
	mode_t mode;
	int fd, err;

	if ((err = pt_inode(pt, ctx->nodeid, &fd, &mode)) < 0)
		return err;
	if (!S_ISLNK(mode))
		return -EINVAL;
	n = readlinkat(fd, "", buf, size);
	if (n < 0)
		return -errno;
	*ret_len = (size_t)n;
	return 0;
}

int
pt_statfs(struct pt *pt, const struct pt_ctx *ctx, struct fuse_kstatfs *st)
{
	struct statvfs sv;
	int fd, err;

	if ((err = pt_inode(pt, ctx->nodeid, &fd, NULL)) < 0)
		return err;
	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->blocks = sv.f_blocks;
	st->bfree = sv.f_bfree;
	st->bavail = sv.f_bavail;
	st->files = sv.f_files;
	st->ffree = sv.f_ffree;
	st->bsize = (uint32_t)sv.f_bsize;
	st->namelen = (uint32_t)sv.f_namemax;
	st->frsize = (uint32_t)sv.f_frsize;
	return 0;
}

int
pt_access(struct pt *pt, const struct pt_ctx *ctx, uint32_t mask)
{
	struct pt_creds c;
	char name[16];
	int fd, err;

	if (mask & ~(uint32_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	if ((err = pt_inode(pt, ctx->nodeid, &fd, NULL)) < 0)
		return err;
	if ((mask & W_OK) && pt->cfg->readonly)
		return -EROFS;
	if (pt->proc_fd < 0)
		return -ENOSYS;
	fdname(name, fd);
	if ((err = pt_creds_enter(pt, ctx, &c)) < 0)
		return err;
	err = faccessat(pt->proc_fd, name, (int)mask, AT_EACCESS) < 0 ? -errno
								      : 0;
	pt_creds_leave(pt, &c);
	return err;
}

/* ---- creations and removals ----------------------------------------- */

int
pt_mknod(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    uint32_t mode, uint32_t rdev, uint32_t umask, struct fuse_entry_out *ret_e)
{
	struct pt_creds c;
	mode_t m;
	int dfd, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	default:
		return -EINVAL;
	}
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0)
		return err;
	umask = pt_create_umask(pt, dfd, umask);
	m = (mode & S_IFMT) | (mode & 07777 & ~umask);
	if ((err = pt_creds_enter(pt, ctx, &c)) < 0)
		return err;
	err = pt_do_mknodat(ctx, dfd, name, m, rdev);
	pt_creds_leave(pt, &c);
	if (err < 0)
		return err;
	return pt_entry_at(pt, ctx, dfd, name, 0, ret_e);
}

int
pt_mkdir(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    uint32_t mode, uint32_t umask, struct fuse_entry_out *ret_e)
{
	struct pt_creds c;
	int dfd, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0 &&
	    (err = pt_once_parent(pt, ctx, err, &dfd)) < 0)
		return err;
	if ((err = pt_creds_enter(pt, ctx, &c)) < 0)
		return err;
	umask = pt_create_umask(pt, dfd, umask);
	err = pt_do_mkdirat(ctx, dfd, name, mode & 07777 & ~umask);
	pt_creds_leave(pt, &c);
	if (err < 0)
		return err;
	return pt_entry_at(pt, ctx, dfd, name, 0, ret_e);
}

int
pt_symlink(struct pt *pt, const struct pt_ctx *ctx, const char *name,
    const char *target, struct fuse_entry_out *ret_e)
{
	struct pt_creds c;
	size_t tl = strnlen(target, PATH_MAX);
	int dfd, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	if (tl == 0)
		return -ENOENT;
	if (tl >= PATH_MAX)
		return -ENAMETOOLONG;
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0 &&
	    (err = pt_once_parent(pt, ctx, err, &dfd)) < 0)
		return err;
	if ((err = pt_creds_enter(pt, ctx, &c)) < 0)
		return err;
	err = pt_do_symlinkat(ctx, target, dfd, name);
	pt_creds_leave(pt, &c);
	if (err < 0)
		return err;
	return pt_entry_at(pt, ctx, dfd, name, 0, ret_e);
}

int
pt_link(struct pt *pt, const struct pt_ctx *ctx, uint64_t oldnodeid,
    const char *name, struct fuse_entry_out *ret_e)
{
	mode_t mode;
	int ofd, dfd, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0 &&
	    (err = pt_once_parent(pt, ctx, err, &dfd)) < 0)
		return err;
	if ((err = pt_inode(pt, oldnodeid, &ofd, &mode)) < 0) {
		/* Forgotten, but the link was made: the entry is in dfd. */
		if ((err = pt_once_known(ctx, err)) < 0)
			return err;
		return pt_entry_at(pt, ctx, dfd, name, 0, ret_e);
	}
	if (S_ISDIR(mode))
		return -EPERM;
	if ((err = pt_do_linkat(pt, ctx, ofd, dfd, name)) < 0)
		return err;
	DELAYPOINT("pt.link_done"); /* tests: a FORGET of dir and file */
	return pt_entry_at(pt, ctx, dfd, name, 0, ret_e);
}

int
pt_unlink(struct pt *pt, const struct pt_ctx *ctx, const char *name)
{
	int dfd, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0)
		return pt_once_known(ctx, err);
	return pt_do_unlinkat(ctx, dfd, name, 0);
}

int
pt_rmdir(struct pt *pt, const struct pt_ctx *ctx, const char *name)
{
	int dfd, err;

	if ((err = pt_check_name(name, true)) < 0)
		return err;
	if ((err = parent_dir(pt, ctx->nodeid, &dfd)) < 0)
		return pt_once_known(ctx, err);
	return pt_do_unlinkat(ctx, dfd, name, AT_REMOVEDIR);
}

int
pt_rename(struct pt *pt, const struct pt_ctx *ctx, const char *oldname,
    uint64_t newdir, const char *newname, uint32_t flags)
{
	int ofd, nfd, err;

	/* RENAME_WHITEOUT (overlayfs on the guest) is refused. */
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	if ((err = pt_check_name(oldname, true)) < 0 ||
	    (err = pt_check_name(newname, true)) < 0)
		return err;
	if ((err = parent_dir(pt, ctx->nodeid, &ofd)) < 0 ||
	    (err = parent_dir(pt, newdir, &nfd)) < 0)
		return pt_once_known(ctx, err);
	return pt_do_renameat2(ctx, ofd, oldname, nfd, newname, flags);
}
