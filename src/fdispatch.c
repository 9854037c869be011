/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE request decode and dispatch (DESIGN 9: between the transport and
 * the passthrough layer). fdispatch_handle() reads the in header from the
 * request copy, looks the opcode up in ops[] ({handler, name, minimum
 * argument bytes, flags}), decodes the arguments with fmsg_get*() only,
 * calls pt_*() and writes a zero-filled reply. It never fails: a bad
 * request gets an error reply and a rate-limited log_debug.
 *
 * The session state that outlives a worker (the INIT result) is r->fuse,
 * changed only through the request's transaction; INIT's reply and its
 * record therefore commit together with the slot (DESIGN 3 step 4).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fdispatch.h"
#include "fmsg.h"
#include "intent.h"
#include "log.h"
#include "pt.h"

#define FD_MAX_WRITE   (1u << 20) /* max_write announced at INIT */
#define FD_MAX_READDIR (1u << 20) /* largest READDIR buffer we fill */
#define FD_MIN_MINOR   13         /* no compat struct sizes below */
#define FD_DESTROYING  2          /* fuse->destroyed: DESTROY sweeping */

struct fuse_session {
	struct region *r;
	const struct config *cfg;
	struct pt *pt;
};

struct op;

struct op_args {
	const struct op *op; /* NULL for an unknown opcode */
	struct fuse_session *s;
	struct fuse_req *req;
	struct fuse_in_header h;
	struct fmsg_in c; /* the arguments after the in header */
	struct pt_ctx ctx;
};

typedef size_t op_fn(struct op_args *a);

enum {
	OP_MUT = 1 << 0,     /* mutation: EROFS with --readonly */
	OP_NOREPLY = 1 << 1, /* FORGET, BATCH_FORGET, INTERRUPT */
	OP_PREINIT = 1 << 2, /* allowed before INIT */
};

struct op {
	op_fn *fn;
	const char *name;
	size_t min_len;
	unsigned flags;
};

/* ---- helpers ---------------------------------------------------------- */

/* At most 10 lines a second, whatever the guest sends. */
static void
note_bad(const struct op_args *a, const char *what)
{
	static _Atomic int64_t window;
	static _Atomic unsigned count;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (atomic_exchange(&window, (int64_t)ts.tv_sec) != ts.tv_sec)
		atomic_store(&count, 0);
	if (atomic_fetch_add(&count, 1) < 10)
		log_debug("bad FUSE request %s (%u) unique %llu: %s",
		    a->op != NULL ? a->op->name : "?", a->h.opcode,
		    (unsigned long long)a->h.unique, what);
}

static size_t
reply_err(struct op_args *a, int err)
{
	return fmsg_reply_err(a->req->out_iov, a->req->out_iovcnt, a->h.unique,
	    err);
}

static size_t
reply_bad(struct op_args *a, const char *what, int err)
{
	note_bad(a, what);
	return reply_err(a, err);
}

static size_t
reply(struct op_args *a, const void *body, size_t len)
{
	return fmsg_reply_one(a->req->out_iov, a->req->out_iovcnt, a->h.unique,
	    body, len);
}

/* A reply of body, or of the error if err < 0. */
static size_t
reply_or(struct op_args *a, int err, const void *body, size_t len)
{
	return err < 0 ? reply_err(a, err) : reply(a, body, len);
}

static int
get_name(struct op_args *a, const char **ret)
{
	if (fmsg_get_str(&a->c, ret, NULL) < 0) {
		note_bad(a, "name not NUL-terminated in the arguments");
		return -EINVAL;
	}
	return 0;
}

#define GET(a, var)                                                            \
	do {                                                                   \
		if (fmsg_get(&(a)->c, &(var), sizeof(var)) < 0)                \
			return reply_bad((a), "short arguments", -EINVAL);     \
	} while (0)

#define GET_NAME(a, var)                                                       \
	do {                                                                   \
		if (get_name((a), &(var)) < 0)                                 \
			return reply_err((a), -EINVAL);                        \
	} while (0)

/*
 * FUSE_SECURITY_CTX (--security-label): a creation's security context
 * follows its names (an extra argument before 7.38, an extension after:
 * the same bytes, fuse_secctx_header first). Sets it on the new child,
 * best effort: the creation and its lookup reference stand either way,
 * as the label of a file created without the LSM's help would.
 */
static int
secctx_apply(struct op_args *a, int err, const char *child)
{
	struct fuse_secctx_header h;
	struct fuse_secctx c;
	const char *name;

	if (err < 0 || !(region_load(&a->s->r->fuse->flags) &
			   FUSE_SECURITY_CTX))
		return err;
	if (fmsg_get(&a->c, &h, sizeof(h)) < 0 || h.nr_secctx == 0 ||
	    h.nr_secctx > FUSE_MAX_NR_SECCTX)
		return err;
	if (fmsg_get(&a->c, &c, sizeof(c)) < 0 ||
	    fmsg_get_str(&a->c, &name, NULL) < 0 || c.size > fmsg_left(&a->c)) {
		note_bad(a, "malformed security context");
		return err;
	}
	if (pt_secctx(a->s->pt, &a->ctx, child, name, a->c.buf + a->c.pos,
		c.size) < 0)
		note_bad(a, "security context not set");
	return err;
}

/* ---- session ---------------------------------------------------------- */

/*
 * A new guest boot on a stopped device (DESIGN 7): the INIT that starts
 * it ends the old session first, as a DESTROY would (pt_destroy(): every
 * handle, lock OFD with its locks, and inode but the root go, in chunks
 * recorded in the slot's step, so a replay after a kill resumes the
 * sweep), then drops the crash marks of the old boot (poison keys,
 * degraded mode). The caller commits the INIT result with the last
 * chunk. Its first commit, before the sweep, is initialized = 0 with
 * stopped = 1 (a state nothing else makes: a session end under way), so
 * a request using the old session's ids while the sweep runs (only a
 * hostile guest sends one: the new kernel waits for this INIT) answers
 * EIO as before an INIT, and leaves nothing the sweep already passed
 * (before: an OPEN there made a handle that outlived the session). A
 * kill at any point leaves that state until the last commit: the replay
 * of this INIT finishes the same sweep.
 * The worker's in-memory poison flag (fault.c poison_any) needs no reset
 * of its own: the fault_end() of this INIT, after the commit, clears its
 * key and so rescans the now empty table. A plain clear of the table
 * after the commit (not logged) would also drop a key the keeper's
 * watchdog counted in between.
 *
 * What QEMU 7.2.22 sends (logged with --debug by tests/vm/reboot.sh; a
 * guest reset reaches vhost-user-fs as virtio_set_status(0)), per queue
 * q = hiprio, request queues:
 *   reboot (-action reboot=reset + sysrq b):
 *     stop: SET_VRING_ENABLE(q, 0) each, GET_VRING_BASE(q) each,
 *     SET_VRING_CALL(q) twice each (notifiers masked, then released);
 *     the new kernel's probe: SET_FEATURES, per queue SET_VRING_NUM,
 *     SET_VRING_BASE(0), SET_VRING_ADDR, SET_VRING_KICK, then
 *     SET_VRING_ENABLE(q, 1) and SET_VRING_CALL(q) each; then its
 *     FUSE_INIT. No SET_MEM_TABLE/ADD_MEM_REG again (memory unchanged),
 *     no RESET_OWNER or RESET_DEVICE, no DESTROY.
 *   system_reset over the monitor, and a panic with panic=1: the same.
 *   rmmod virtiofs + insmod (driver reload): the umount sends DESTROY
 *     (virtio-fs mounts with destroy = 1), the remove the same stop, the
 *     probe the same set-up; its INIT is a first INIT (not ended here).
 * So GET_VRING_BASE is the mark (vu_dispatch.c's mark_stopped()); RESET_*
 * mark it too where a front end sends them (phx-front reboot does).
 */
#ifdef PHX_CRASHPOINTS
/* Tests: set by a session end, taken by the next request (a kill there). */
static atomic_int after_reset;
#endif

static int
session_end(struct op_args *a)
{
	struct region *r = a->s->r;
	struct redo_txn *tx = a->req->txn;
	int err;

	if (pt_forget_start(&a->ctx) == 0)
		log_info("FUSE INIT after a device reset: a new guest boot; "
		    "ending the old session (%llu inodes, %llu handles)",
		    (unsigned long long)region_load(&r->ihdr->live),
		    (unsigned long long)region_load(&r->hhdr->live));
	/* The session is closed to requests before the sweep starts. */
	if (redo_get(tx, &r->fuse->initialized) != 0) {
		if ((err = redo_set(tx, &r->fuse->initialized, 0)) < 0)
			return err;
		redo_commit(tx);
	}
	/* Tests: a kill as the sweep starts (tests/crash/crashpoints.sh). */
	CRASHPOINT("fdispatch.session_end");
	pt_destroy(a->s->pt, &a->ctx);
	for (unsigned i = 0; i < REGION_POISON_MAX; i++) {
		struct region_poison_rec *p = &r->health->poison[i];

		if (redo_get(tx, &p->key) == 0)
			continue;
		if ((err = redo_set(tx, &p->key, 0)) < 0 ||
		    (err = redo_set(tx, &p->crashes, 0)) < 0)
			return err;
	}
	if ((err = redo_set(tx, &r->hdr->degraded, 0)) < 0 ||
	    (err = redo_set(tx, &r->hdr->failed_recoveries, 0)) < 0 ||
	    (err = redo_set(tx, &r->fuse->stopped, 0)) < 0 ||
	    (err = redo_set(tx, &r->fuse->sessions,
		redo_get(tx, &r->fuse->sessions) + 1)) < 0)
		return err;
#ifdef PHX_CRASHPOINTS
	atomic_store(&after_reset, 1);
#endif
	return 0;
}

static size_t
do_init(struct op_args *a)
{
	struct region_fuse_rec *f = a->s->r->fuse;
	const struct config *cfg = a->s->cfg;
	struct redo_txn *tx = a->req->txn;
	struct fuse_init_in in;
	struct fuse_init_out out;
	uint64_t kflags, want, neg;
	int err = 0;

	if (fmsg_get_compat(&a->c, &in, 16, sizeof(in)) < 0)
		return reply_bad(a, "short INIT", -EINVAL);
	/*
	 * A second INIT on a live session that no device stop ended: the
	 * Linux driver sends INIT once per connection, and a new connection
	 * (reboot, panic, kexec, driver reload) always follows a virtio
	 * reset, which QEMU passes on as GET_VRING_BASE (session_end()).
	 * Only a confused or hostile guest gets here: refused, the session
	 * and its requests in flight go on.
	 */
	if (region_load(&f->initialized) != 0 &&
	    region_load(&f->stopped) == 0)
		return reply_bad(a, "second INIT on a live session", -EPROTO);
	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major < 7 || (in.major == 7 && in.minor < FD_MIN_MINOR))
		return reply_bad(a, "unsupported protocol version", -EPROTO);
	if (in.major > 7) {
		/* The kernel answers with a new INIT of our major. */
		return reply(a, &out, FUSE_COMPAT_INIT_OUT_SIZE);
	}
	kflags = in.flags;
	if (in.flags & FUSE_INIT_EXT)
		kflags |= (uint64_t)in.flags2 << 32;
	want = FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_BIG_WRITES |
	       FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_MAX_PAGES |
	       FUSE_CACHE_SYMLINKS | FUSE_INIT_EXT | FUSE_AUTO_INVAL_DATA;
	if (cfg->readdirplus && cfg->cache != CONFIG_CACHE_NEVER)
		want |= FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO;
	if (cfg->announce_submounts)
		want |= FUSE_SUBMOUNTS;
	if (cfg->writeback)
		want |= FUSE_WRITEBACK_CACHE;
	if (cfg->killpriv_v2)
		want |= FUSE_HANDLE_KILLPRIV_V2;
	/*
	 * OFD locks per lock owner (pt_lock.c). Without them the guest kernel
	 * keeps its locks local, as with virtiofsd's no_posix_lock/no_flock.
	 */
	if (!cfg->no_posix_lock)
		want |= FUSE_POSIX_LOCKS;
	if (!cfg->no_flock)
		want |= FUSE_FLOCK_LOCKS;
	if (cfg->xattr && cfg->posix_acl)
		want |= FUSE_POSIX_ACL | FUSE_SETXATTR_EXT | FUSE_DONT_MASK;
	if (cfg->xattr && cfg->security_label)
		want |= FUSE_SECURITY_CTX;
	neg = kflags & want;
	if (in.minor < out.minor)
		out.minor = in.minor;
	out.max_readahead = in.max_readahead;
	out.flags = (uint32_t)neg;
	if (neg & FUSE_INIT_EXT)
		out.flags2 = (uint32_t)(neg >> 32);
	out.max_write = FD_MAX_WRITE;
	out.time_gran = 1;
	if (neg & FUSE_MAX_PAGES)
		out.max_pages = (uint16_t)(FD_MAX_WRITE / 4096);
	if (tx == NULL)
		return reply_err(a, -EIO);
	/* A session to end, or the end of one a kill cut (see above). */
	if ((region_load(&f->initialized) != 0 ||
	    region_load(&f->stopped) != 0 ||
	    region_load(&f->destroyed) == FD_DESTROYING) &&
	    session_end(a) < 0)
		return reply_err(a, -EIO);
	if ((err = redo_set(tx, &f->proto_minor, out.minor)) < 0 ||
	    (err = redo_set(tx, &f->flags, neg)) < 0 ||
	    (err = redo_set(tx, &f->max_write, out.max_write)) < 0 ||
	    (err = redo_set(tx, &f->max_readahead, out.max_readahead)) < 0 ||
	    (err = redo_set(tx, &f->destroyed, 0)) < 0 ||
	    (err = redo_set(tx, &f->stopped, 0)) < 0 ||
	    (err = redo_set(tx, &f->initialized, 1)) < 0)
		return reply_err(a, -EIO);
	return reply(a, &out,
	    out.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(out));
}

static size_t
do_destroy(struct op_args *a)
{
	struct region_fuse_rec *f = a->s->r->fuse;
	struct redo_txn *tx = a->req->txn;

	if (tx == NULL)
		return reply_err(a, -EIO);
	/*
	 * The guest unmounted: its nodeids and fhs die with the mount
	 * (a new INIT may follow, which must find the tables as at start).
	 * As at a session end (session_end()), the session is closed to
	 * requests before the sweep: initialized = 0 with destroyed =
	 * FD_DESTROYING, committed first, so that a request using the old
	 * ids while the sweep runs (only a hostile guest sends one: the
	 * kernel waits for this DESTROY) answers EIO as before an INIT
	 * instead of making a handle behind the sweep that outlives the
	 * mount. A kill leaves that state: the replay of this DESTROY (let
	 * through in it) finishes the sweep, and an INIT in it sweeps too.
	 */
	if (redo_get(tx, &f->initialized) != 0) {
		if (redo_set(tx, &f->initialized, 0) < 0 ||
		    redo_set(tx, &f->destroyed, FD_DESTROYING) < 0)
			return reply_err(a, -EIO);
		redo_commit(tx);
	}
	/* Tests: the session closed, its sweep not begun (a kill there). */
	CRASHPOINT("fdispatch.destroy_closed");
	DELAYPOINT("fdispatch.destroy_closed");
	pt_destroy(a->s->pt, &a->ctx);
	if (redo_set(tx, &f->initialized, 0) < 0 ||
	    redo_set(tx, &f->stopped, 0) < 0 ||
	    redo_set(tx, &f->destroyed, 1) < 0)
		return reply_err(a, -EIO);
	return reply(a, NULL, 0);
}

static size_t
do_interrupt(struct op_args *a)
{
	struct fuse_interrupt_in in;

	/*
	 * Requests run to completion but for a parked SETLKW, which the
	 * transport ends EINTR (fuse_req.interrupt). No reply.
	 */
	if (fmsg_get(&a->c, &in, sizeof(in)) == 0)
		a->req->interrupt = in.unique;
	return 0;
}

/* ---- names and attributes ------------------------------------------- */

static size_t
do_lookup(struct op_args *a)
{
	struct fuse_entry_out e;
	const char *name;

	GET_NAME(a, name);
	return reply_or(a, pt_lookup(a->s->pt, &a->ctx, name, &e), &e,
	    sizeof(e));
}

static size_t
do_forget(struct op_args *a)
{
	struct fuse_forget_in in;

	if (fmsg_get(&a->c, &in, sizeof(in)) < 0) {
		note_bad(a, "short FORGET");
		return 0;
	}
	pt_forget(a->s->pt, &a->ctx, 0, a->h.nodeid, in.nlookup);
	return 0;
}

static size_t
do_batch_forget(struct op_args *a)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;
	uint64_t count, start;

	if (fmsg_get(&a->c, &in, sizeof(in)) < 0) {
		note_bad(a, "short BATCH_FORGET");
		return 0;
	}
	count = in.count;
	if (count > fmsg_left(&a->c) / sizeof(one)) {
		note_bad(a, "BATCH_FORGET count beyond its arguments");
		count = fmsg_left(&a->c) / sizeof(one);
	}
	start = pt_forget_start(&a->ctx);
	if (start > count)
		start = count;
	a->c.pos += start * sizeof(one);
	for (uint64_t i = start; i < count; i++) {
		if (fmsg_get(&a->c, &one, sizeof(one)) < 0)
			break;
		pt_forget(a->s->pt, &a->ctx, i, one.nodeid, one.nlookup);
	}
	return 0;
}

static size_t
do_getattr(struct op_args *a)
{
	struct fuse_getattr_in in;
	struct fuse_attr_out out;

	GET(a, in);
	return reply_or(a, pt_getattr(a->s->pt, &a->ctx, &out), &out,
	    sizeof(out));
}

static size_t
do_setattr(struct op_args *a)
{
	struct fuse_setattr_in in;
	struct fuse_attr_out out;

	GET(a, in);
	return reply_or(a, pt_setattr(a->s->pt, &a->ctx, &in, &out), &out,
	    sizeof(out));
}

static size_t
do_readlink(struct op_args *a)
{
	char buf[PATH_MAX];
	size_t len = 0;
	int err;

	err = pt_readlink(a->s->pt, &a->ctx, buf, sizeof(buf), &len);
	return reply_or(a, err, buf, len);
}

static size_t
do_statfs(struct op_args *a)
{
	struct fuse_statfs_out out;

	return reply_or(a, pt_statfs(a->s->pt, &a->ctx, &out.st), &out,
	    sizeof(out));
}

static size_t
do_access(struct op_args *a)
{
	struct fuse_access_in in;

	GET(a, in);
	return reply_or(a, pt_access(a->s->pt, &a->ctx, in.mask), NULL, 0);
}

/* ---- creations and removals ----------------------------------------- */

static size_t
do_mknod(struct op_args *a)
{
	struct fuse_mknod_in in;
	struct fuse_entry_out e;
	int err;
	const char *name;

	GET(a, in);
	GET_NAME(a, name);
	err = pt_mknod(a->s->pt, &a->ctx, name, in.mode, in.rdev, in.umask,
	    &e);
	return reply_or(a, secctx_apply(a, err, name), &e, sizeof(e));
}

static size_t
do_mkdir(struct op_args *a)
{
	struct fuse_mkdir_in in;
	struct fuse_entry_out e;
	int err;
	const char *name;

	GET(a, in);
	GET_NAME(a, name);
	err = pt_mkdir(a->s->pt, &a->ctx, name, in.mode, in.umask, &e);
	return reply_or(a, secctx_apply(a, err, name), &e, sizeof(e));
}

static size_t
do_symlink(struct op_args *a)
{
	struct fuse_entry_out e;
	int err;
	const char *name, *target;

	GET_NAME(a, name);
	GET_NAME(a, target);
	err = pt_symlink(a->s->pt, &a->ctx, name, target, &e);
	return reply_or(a, secctx_apply(a, err, name), &e, sizeof(e));
}

static size_t
do_link(struct op_args *a)
{
	struct fuse_link_in in;
	struct fuse_entry_out e;
	const char *name;

	GET(a, in);
	GET_NAME(a, name);
	return reply_or(a, pt_link(a->s->pt, &a->ctx, in.oldnodeid, name, &e),
	    &e, sizeof(e));
}

static size_t
do_unlink(struct op_args *a)
{
	const char *name;

	GET_NAME(a, name);
	return reply_or(a, pt_unlink(a->s->pt, &a->ctx, name), NULL, 0);
}

static size_t
do_rmdir(struct op_args *a)
{
	const char *name;

	GET_NAME(a, name);
	return reply_or(a, pt_rmdir(a->s->pt, &a->ctx, name), NULL, 0);
}

static size_t
do_rename(struct op_args *a)
{
	struct fuse_rename_in in;
	const char *oldname, *newname;

	GET(a, in);
	GET_NAME(a, oldname);
	GET_NAME(a, newname);
	return reply_or(a,
	    pt_rename(a->s->pt, &a->ctx, oldname, in.newdir, newname, 0), NULL,
	    0);
}

static size_t
do_rename2(struct op_args *a)
{
	struct fuse_rename2_in in;
	const char *oldname, *newname;

	GET(a, in);
	GET_NAME(a, oldname);
	GET_NAME(a, newname);
	return reply_or(a,
	    pt_rename(a->s->pt, &a->ctx, oldname, in.newdir, newname, in.flags),
	    NULL, 0);
}

/* ---- files ------------------------------------------------------------ */

static size_t
do_open(struct op_args *a)
{
	struct fuse_open_in in;
	struct fuse_open_out out;

	GET(a, in);
	return reply_or(a,
	    pt_open(a->s->pt, &a->ctx, in.flags, in.open_flags, &out), &out,
	    sizeof(out));
}

static size_t
do_create(struct op_args *a)
{
	struct fuse_create_in in;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct iovec parts[2];
	const char *name;
	int err;

	GET(a, in);
	GET_NAME(a, name);
	err = pt_create(a->s->pt, &a->ctx, name, in.flags, in.mode, in.umask,
	    in.open_flags, &e, &o);
	err = secctx_apply(a, err, name);
	if (err < 0)
		return reply_err(a, err);
	parts[0] = (struct iovec){.iov_base = &e, .iov_len = sizeof(e)};
	parts[1] = (struct iovec){.iov_base = &o, .iov_len = sizeof(o)};
	return fmsg_reply(a->req->out_iov, a->req->out_iovcnt, a->h.unique,
	    parts, 2);
}

/*
 * The data iovecs of a READ or WRITE: one array per thread, not a zeroed
 * 16 KiB heap block per request (memset was 6% of a 4 KiB randread).
 */
static __thread struct iovec data_iov[FMSG_IOV_MAX];

static size_t
do_read(struct op_args *a)
{
	struct fuse_read_in in;
	struct iovec *v;
	unsigned n;
	size_t len, got = 0;
	int err;

	GET(a, in);
	v = data_iov;
	err = fmsg_out_data(a->req->out_iov, a->req->out_iovcnt, in.size, v,
	    FMSG_IOV_MAX, &n, &len);
	if (err < 0)
		return reply_bad(a, "READ reply buffer", -EINVAL);
	/* Zero-copy: preadv straight into the guest's buffers. */
	err = pt_read(a->s->pt, &a->ctx, in.fh, in.offset, v, n, &got);
	if (err < 0)
		return reply_err(a, err);
	return fmsg_reply_hdr(a->req->out_iov, a->req->out_iovcnt, a->h.unique,
	    got);
}

static size_t
do_write(struct op_args *a)
{
	struct fuse_write_in in;
	struct fuse_write_out out;
	struct iovec *v;
	size_t off = sizeof(struct fuse_in_header) + sizeof(in), got = 0;
	unsigned n;
	int err;

	GET(a, in);
	if (in.size > a->h.len - off || in.size > a->req->in_total - off)
		return reply_bad(a, "WRITE size beyond the request", -EINVAL);
	v = data_iov;
	/* Zero-copy: pwritev straight from the guest's buffers. */
	err = fmsg_iov_range(a->req->in_iov, a->req->in_iovcnt, off, in.size, v,
	    FMSG_IOV_MAX, &n);
	if (err < 0)
		return reply_bad(a, "WRITE payload outside the buffers",
		    -EINVAL);
	err = pt_write(a->s->pt, &a->ctx, in.fh, in.offset, in.write_flags, v,
	    n, &got);
	memset(&out, 0, sizeof(out));
	out.size = (uint32_t)got;
	return reply_or(a, err, &out, sizeof(out));
}

static size_t
do_release(struct op_args *a)
{
	struct fuse_release_in in;

	GET(a, in);
	if (in.release_flags & FUSE_RELEASE_FLOCK_UNLOCK)
		(void)pt_flock_release(a->s->pt, &a->ctx, in.fh);
	/* Its fd's flock goes with the close (after the commit). */
	a->req->unlocked = true;
	return reply_or(a, pt_release(a->s->pt, &a->ctx, in.fh, false), NULL,
	    0);
}

static size_t
do_releasedir(struct op_args *a)
{
	struct fuse_release_in in;

	GET(a, in);
	return reply_or(a, pt_release(a->s->pt, &a->ctx, in.fh, true), NULL, 0);
}

static size_t
do_flush(struct op_args *a)
{
	struct fuse_flush_in in;
	int err;

	GET(a, in);
	err = pt_flush(a->s->pt, &a->ctx, in.fh);
	/* POSIX: any close drops the process's locks on the file. */
	if (region_load(&a->s->r->fuse->flags) & FUSE_POSIX_LOCKS) {
		(void)pt_lock_flush(a->s->pt, &a->ctx, in.fh, in.lock_owner);
		a->req->unlocked = true;
	}
	return reply_or(a, err, NULL, 0);
}

static size_t
do_fsync(struct op_args *a)
{
	struct fuse_fsync_in in;
	bool dir = a->h.opcode == FUSE_FSYNCDIR;

	GET(a, in);
	return reply_or(a,
	    pt_fsync(a->s->pt, &a->ctx, in.fh,
		in.fsync_flags & FUSE_FSYNC_FDATASYNC, dir),
	    NULL, 0);
}

static size_t
do_fallocate(struct op_args *a)
{
	struct fuse_fallocate_in in;

	GET(a, in);
	return reply_or(a,
	    pt_fallocate(a->s->pt, &a->ctx, in.fh, in.offset, in.length,
		in.mode),
	    NULL, 0);
}

static size_t
do_lseek(struct op_args *a)
{
	struct fuse_lseek_in in;
	struct fuse_lseek_out out;
	uint64_t off = 0;
	int err;

	GET(a, in);
	err = pt_lseek(a->s->pt, &a->ctx, in.fh, in.offset, in.whence, &off);
	memset(&out, 0, sizeof(out));
	out.offset = off;
	return reply_or(a, err, &out, sizeof(out));
}

/* ---- the rest of the protocol (pt_ext.c) ----------------------------- */

static size_t
do_copy_file_range(struct op_args *a)
{
	struct fuse_copy_file_range_in in;
	struct fuse_write_out out;
	size_t got = 0;
	int err;

	GET(a, in);
	err = pt_copy_file_range(a->s->pt, &a->ctx, in.fh_in, in.off_in,
	    in.nodeid_out, in.fh_out, in.off_out, in.len, in.flags, &got);
	memset(&out, 0, sizeof(out));
	out.size = (uint32_t)got;
	return reply_or(a, err, &out, sizeof(out));
}

static size_t
do_syncfs(struct op_args *a)
{
	struct fuse_syncfs_in in;

	GET(a, in);
	return reply_or(a, pt_syncfs(a->s->pt, &a->ctx), NULL, 0);
}

static size_t
do_tmpfile(struct op_args *a)
{
	struct fuse_create_in in;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct iovec parts[2];
	int err;

	/* The name that follows ("/" from the VFS) is not used. */
	GET(a, in);
	err = pt_tmpfile(a->s->pt, &a->ctx, in.flags, in.mode, in.umask, &e,
	    &o);
	if (err < 0)
		return reply_err(a, err);
	parts[0] = (struct iovec){.iov_base = &e, .iov_len = sizeof(e)};
	parts[1] = (struct iovec){.iov_base = &o, .iov_len = sizeof(o)};
	return fmsg_reply(a->req->out_iov, a->req->out_iovcnt, a->h.unique,
	    parts, 2);
}

/* IOCTL: no ioctl passes to the host (as virtiofsd). */
static size_t
do_ioctl(struct op_args *a)
{
	return reply_err(a, -ENOTTY);
}

/* POLL, BMAP, SETUPMAPPING, REMOVEMAPPING (no DAX): the guest stops. */
static size_t
do_enosys(struct op_args *a)
{
	return reply_err(a, -ENOSYS);
}

/* ---- locks (pt_lock.c) ------------------------------------------------ */

static size_t
do_getlk(struct op_args *a)
{
	struct fuse_lk_in in;
	struct fuse_lk_out out;

	GET(a, in);
	memset(&out, 0, sizeof(out));
	return reply_or(a,
	    pt_getlk(a->s->pt, &a->ctx, in.fh, in.owner, &in.lk, &out.lk),
	    &out, sizeof(out));
}

static size_t
do_setlk(struct op_args *a)
{
	struct fuse_lk_in in;

	int err;

	GET(a, in);
	/* A parked SETLKW ended by the transport (fuse_req.wait_end). */
	if (a->h.opcode == FUSE_SETLKW && a->req->wait_end < 0)
		return reply_err(a, a->req->wait_end);
	err = pt_setlk(a->s->pt, &a->ctx, in.fh, in.owner, &in.lk,
	    in.lk_flags, a->h.opcode == FUSE_SETLKW);
	if (err == -EINPROGRESS) {
		/* Parked (pt.h): nothing written, the transport retries. */
		a->req->parked = true;
		return 0;
	}
	/* An unlock, or a downgrade, may let a waiter through. */
	if (err == 0 && in.lk.type != F_WRLCK)
		a->req->unlocked = true;
	return reply_or(a, err, NULL, 0);
}

/* ---- extended attributes (pt_xattr.c) ------------------------------ */

static size_t
do_setxattr(struct op_args *a)
{
	struct fuse_setxattr_in in;
	const char *name;
	const void *value;
	void *heap = NULL;
	size_t isz = FUSE_COMPAT_SETXATTR_IN_SIZE, off;
	int err;

	/* FUSE_SETXATTR_EXT (negotiated) is the longer struct. */
	if (region_load(&a->s->r->fuse->flags) & FUSE_SETXATTR_EXT)
		isz = sizeof(in);
	memset(&in, 0, sizeof(in));
	if (fmsg_get(&a->c, &in, isz) < 0)
		return reply_bad(a, "short SETXATTR", -EINVAL);
	GET_NAME(a, name);
	if (!a->s->cfg->xattr)
		return reply_err(a, -ENOSYS);
	if (in.size > 65536)
		return reply_err(a, -E2BIG);
	off = sizeof(struct fuse_in_header) + a->c.pos;
	if (in.size > a->h.len - off || in.size > a->req->in_total - off)
		return reply_bad(a, "SETXATTR value beyond the request", -EINVAL);
	if (off + in.size <= a->req->in_len) {
		value = a->req->in + off;
	} else {
		/* Longer than the journal copy: from the live buffers. */
		heap = malloc(in.size);
		if (heap == NULL)
			return reply_err(a, -ENOMEM);
		if (fmsg_iov_copy(heap, a->req->in_iov, a->req->in_iovcnt, off,
			in.size) < 0) {
			free(heap);
			return reply_bad(a, "SETXATTR value outside the buffers",
			    -EINVAL);
		}
		value = heap;
	}
	err = pt_setxattr(a->s->pt, &a->ctx, name, value, in.size, in.flags,
	    in.setxattr_flags);
	free(heap);
	return reply_or(a, err, NULL, 0);
}

/* The most a GETXATTR or LISTXATTR answers: the kernel's own limit. */
#define FD_MAX_XATTR 65536u

/*
 * GETXATTR and LISTXATTR: size 0 asks for the length only. The guest's
 * size is clamped to the host buffer and to the reply room its writable
 * descriptors have (issue 9 finding 6): a value longer than that is
 * ERANGE, as for a short size, never a write past the buffer.
 */
static size_t
do_getxattr(struct op_args *a)
{
	struct fuse_getxattr_in in;
	struct fuse_getxattr_out out;
	const char *name = NULL;
	size_t len = 0, ret, size, hl = sizeof(struct fuse_out_header);
	size_t room = a->req->out_total;
	void *buf;
	int err;

	GET(a, in);
	if (a->h.opcode == FUSE_GETXATTR)
		GET_NAME(a, name);
	size = MIN((size_t)in.size, (size_t)FD_MAX_XATTR);
	size = MIN(size, room > hl ? room - hl : 0);
	if (in.size > 0 && size == 0)
		return reply_err(a, -ERANGE);
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return reply_err(a, -ENOMEM);
	if (name == NULL)
		err = pt_listxattr(a->s->pt, &a->ctx, buf, size, &len);
	else
		err = pt_getxattr(a->s->pt, &a->ctx, name, buf, size, &len);
	if (err == 0 && size > 0 && len > size)
		err = -ERANGE; /* never past buf, whatever pt answered */
	if (err == 0 && size == 0) {
		memset(&out, 0, sizeof(out));
		out.size = (uint32_t)len;
		ret = reply(a, &out, sizeof(out));
	} else {
		ret = reply_or(a, err, buf, len);
	}
	free(buf);
	return ret;
}

static size_t
do_removexattr(struct op_args *a)
{
	const char *name;

	GET_NAME(a, name);
	return reply_or(a, pt_removexattr(a->s->pt, &a->ctx, name), NULL, 0);
}

/* ---- directories ------------------------------------------------------ */

static size_t
do_opendir(struct op_args *a)
{
	struct fuse_open_in in;
	struct fuse_open_out out;

	GET(a, in);
	return reply_or(a, pt_opendir(a->s->pt, &a->ctx, in.flags, &out), &out,
	    sizeof(out));
}

static size_t
do_readdir(struct op_args *a)
{
	struct fuse_read_in in;
	size_t size, len = 0, hl = sizeof(struct fuse_out_header);
	size_t room = a->req->out_total;
	void *buf;
	size_t ret;
	int err;

	GET(a, in);
	if (room < hl)
		return 0;
	size = MIN((size_t)in.size, room - hl);
	size = MIN(size, (size_t)FD_MAX_READDIR);
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return reply_err(a, -ENOMEM);
	err = pt_readdir(a->s->pt, &a->ctx, in.fh, in.offset, buf, size,
	    a->h.opcode == FUSE_READDIRPLUS, &len);
	ret = reply_or(a, err, buf, len);
	free(buf);
	return ret;
}

/* ---- the opcode table ------------------------------------------------- */

#define OP(code, fn, min, fl) [FUSE_##code] = {fn, #code, min, fl}
#define SZ(t)                 sizeof(struct t)

/* min_len: the fixed argument struct, plus 2 per name ("x" and its NUL). */
static const struct op ops[] = {
    OP(LOOKUP, do_lookup, 2, 0),
    OP(FORGET, do_forget, SZ(fuse_forget_in), OP_NOREPLY),
    OP(GETATTR, do_getattr, SZ(fuse_getattr_in), 0),
    OP(SETATTR, do_setattr, SZ(fuse_setattr_in), OP_MUT),
    OP(READLINK, do_readlink, 0, 0),
    OP(SYMLINK, do_symlink, 4, OP_MUT),
    OP(MKNOD, do_mknod, SZ(fuse_mknod_in) + 2, OP_MUT),
    OP(MKDIR, do_mkdir, SZ(fuse_mkdir_in) + 2, OP_MUT),
    OP(UNLINK, do_unlink, 2, OP_MUT),
    OP(RMDIR, do_rmdir, 2, OP_MUT),
    OP(RENAME, do_rename, SZ(fuse_rename_in) + 4, OP_MUT),
    OP(LINK, do_link, SZ(fuse_link_in) + 2, OP_MUT),
    OP(OPEN, do_open, SZ(fuse_open_in), 0),
    OP(READ, do_read, SZ(fuse_read_in), 0),
    OP(WRITE, do_write, SZ(fuse_write_in), OP_MUT),
    OP(STATFS, do_statfs, 0, 0),
    OP(RELEASE, do_release, SZ(fuse_release_in), 0),
    OP(FSYNC, do_fsync, SZ(fuse_fsync_in), 0),
    OP(SETXATTR, do_setxattr, FUSE_COMPAT_SETXATTR_IN_SIZE + 2, OP_MUT),
    OP(GETXATTR, do_getxattr, SZ(fuse_getxattr_in) + 2, 0),
    OP(LISTXATTR, do_getxattr, SZ(fuse_getxattr_in), 0),
    OP(REMOVEXATTR, do_removexattr, 2, OP_MUT),
    OP(FLUSH, do_flush, SZ(fuse_flush_in), 0),
    OP(INIT, do_init, 16, OP_PREINIT),
    OP(OPENDIR, do_opendir, SZ(fuse_open_in), 0),
    OP(READDIR, do_readdir, SZ(fuse_read_in), 0),
    OP(RELEASEDIR, do_releasedir, SZ(fuse_release_in), 0),
    OP(FSYNCDIR, do_fsync, SZ(fuse_fsync_in), 0),
    OP(GETLK, do_getlk, SZ(fuse_lk_in), 0),
    OP(SETLK, do_setlk, SZ(fuse_lk_in), 0),
    OP(SETLKW, do_setlk, SZ(fuse_lk_in), 0),
    OP(ACCESS, do_access, SZ(fuse_access_in), 0),
    OP(CREATE, do_create, SZ(fuse_create_in) + 2, OP_MUT),
    OP(INTERRUPT, do_interrupt, 0, OP_NOREPLY | OP_PREINIT),
    OP(DESTROY, do_destroy, 0, 0),
    OP(BATCH_FORGET, do_batch_forget, SZ(fuse_batch_forget_in), OP_NOREPLY),
    OP(FALLOCATE, do_fallocate, SZ(fuse_fallocate_in), OP_MUT),
    OP(READDIRPLUS, do_readdir, SZ(fuse_read_in), 0),
    OP(RENAME2, do_rename2, SZ(fuse_rename2_in) + 4, OP_MUT),
    OP(LSEEK, do_lseek, SZ(fuse_lseek_in), 0),
    OP(BMAP, do_enosys, 0, 0),
    OP(IOCTL, do_ioctl, 0, 0),
    OP(POLL, do_enosys, 0, 0),
    OP(COPY_FILE_RANGE, do_copy_file_range, SZ(fuse_copy_file_range_in),
	OP_MUT),
    OP(SETUPMAPPING, do_enosys, 0, 0),
    OP(REMOVEMAPPING, do_enosys, 0, 0),
    OP(SYNCFS, do_syncfs, SZ(fuse_syncfs_in), 0),
    OP(TMPFILE, do_tmpfile, SZ(fuse_create_in), OP_MUT),
};

int
fdispatch_init(struct fuse_session **ret, struct region *r,
    const struct config *cfg, int root_fd)
{
	struct fuse_session *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->r = r;
	s->cfg = cfg;
	err = pt_init(&s->pt, r, cfg, root_fd);
	if (err < 0) {
		free(s);
		return err;
	}
	*ret = s;
	return 0;
}

size_t
fdispatch_handle(struct fuse_session *s, struct fuse_req *req)
{
	struct op_args a;
	const struct op *op = NULL;
	size_t args_len;
	int64_t known;

	memset(&a, 0, sizeof(a));
	a.s = s;
	a.req = req;
	if (req->in == NULL || req->in_len < sizeof(a.h)) {
		log_debug("FUSE request shorter than its header (%zu bytes)",
		    req->in_len);
		return 0;
	}
	memcpy(&a.h, req->in, sizeof(a.h));
	if (a.h.len < sizeof(a.h) || a.h.len > req->in_total)
		return reply_bad(&a, "header length", -EINVAL);
	args_len = MIN((size_t)a.h.len, req->in_len) - sizeof(a.h);
	fmsg_in_init(&a.c, req->in + sizeof(a.h), args_len);
	a.ctx.req = req;
	a.ctx.tx = req->txn;
	a.ctx.nodeid = a.h.nodeid;
	a.ctx.uid = a.h.uid;
	a.ctx.gid = a.h.gid;
	a.ctx.pid = a.h.pid;
	a.ctx.replay = req->replay;

	if (a.h.opcode < nitems(ops) && ops[a.h.opcode].fn != NULL)
		op = &ops[a.h.opcode];
	a.op = op;
	/*
	 * Degraded mode (DESIGN 6): every request answers EIO, but for the
	 * INIT of a new guest boot, which ends it with the old session, for a
	 * DESTROY (an unmount: refused, it left the session live, and every
	 * INIT of the next mount was refused as a second one, EPROTO, until
	 * a device reset; it runs no host call the guest names, and its
	 * sweep crashing is the quarantine's business), and
	 * for a request whose op is done (its success KNOWN in the slot, a
	 * dead worker's): EIO would tell the guest that a done op failed
	 * (DESIGN 10). Its run answers the recorded result; it crashing
	 * again is the quarantine's business.
	 */
	if (region_load(&s->r->hdr->degraded) != 0 &&
	    !(op != NULL && op->fn == do_init &&
		region_load(&s->r->fuse->stopped) != 0) &&
	    !(op != NULL && op->fn == do_destroy) &&
	    !(op != NULL && intent_known(req, &known)))
		return op != NULL && (op->flags & OP_NOREPLY)
			   ? 0
			   : reply_err(&a, -EIO);
#ifdef PHX_CRASHPOINTS
	/* Right after the INIT that ended a session: the next request. */
	if (op != NULL && op->fn != do_init && atomic_load(&after_reset) &&
	    atomic_exchange(&after_reset, 0))
		CRASHPOINT("fdispatch.after_reset");
#endif
	if (op == NULL) {
		note_bad(&a, "unknown or unsupported opcode");
		return reply_err(&a, -ENOSYS);
	}
	if (!(op->flags & OP_PREINIT) &&
	    region_load(&s->r->fuse->initialized) == 0 &&
	    !(op->fn == do_destroy &&
		region_load(&s->r->fuse->destroyed) == FD_DESTROYING)) {
		note_bad(&a, "request before INIT");
		return (op->flags & OP_NOREPLY) ? 0 : reply_err(&a, -EIO);
	}
	if (fmsg_left(&a.c) < op->min_len) {
		note_bad(&a, "arguments shorter than the opcode needs");
		return (op->flags & OP_NOREPLY) ? 0 : reply_err(&a, -EINVAL);
	}
	if ((op->flags & OP_MUT) && s->cfg->readonly)
		return reply_err(&a, -EROFS);
	return op->fn(&a);
}
