/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives fdispatch_handle() with hand-built FUSE requests in heap buffers
 * (iovecs are plain memory here) against a real temporary directory and a
 * real state region: INIT, the passthrough operations, hostile names and
 * lengths, and the replay answers of non-idempotent operations.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "config.h"
#include "fault.h"
#include "fdispatch.h"
#include "handle.h"
#include "idmap.h"
#include "inode.h"
#include "redo.h"
#include "region.h"

static struct region r;
static struct config cfg;
static struct fuse_session *fs;
static char dir[] = "/tmp/phx-test-fdispatch-XXXXXX";
static uint64_t next_unique = 1;

/* ---- request building ------------------------------------------------ */

struct args {
	uint8_t b[70000]; /* room for a 64 KiB SETXATTR value */
	size_t len;
};

static void
add(struct args *a, const void *p, size_t n)
{
	memcpy(a->b + a->len, p, n);
	a->len += n;
}

static void
add_str(struct args *a, const char *s)
{
	add(a, s, strlen(s) + 1);
}

struct reply {
	uint8_t b[70000];
	size_t len; /* returned by fdispatch_handle */
	struct fuse_out_header oh;
	const uint8_t *body;
};

struct call {
	uint32_t uid, gid;
	bool replay;
	size_t out_size;   /* 0: sizeof(reply.b) */
	size_t in_trunc;   /* !0: in_len (copy) shorter than the request */
	int32_t len_delta; /* added to the header's len */
	struct journal_slot_rec *slot; /* step records (NULL: none) */
};

static struct fuse_session *cur_fs;

static size_t
send_ex(struct reply *rep, uint32_t opcode, uint64_t nodeid,
    const struct args *a, const struct call *cl)
{
	static uint8_t in[70000];
	struct fuse_in_header h;
	struct iovec iin[2], iout[2];
	struct redo_txn tx;
	struct fuse_req req;
	size_t alen = a ? a->len : 0, total = sizeof(h) + alen, osz, split;

	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)((int64_t)total + (cl ? cl->len_delta : 0));
	h.opcode = opcode;
	h.unique = next_unique++;
	h.nodeid = nodeid;
	h.uid = cl ? cl->uid : 0;
	h.gid = cl ? cl->gid : 0;
	h.pid = 1;
	memcpy(in, &h, sizeof(h));
	if (alen)
		memcpy(in + sizeof(h), a->b, alen);
	/* Two readable buffers, split inside the arguments. */
	split = total > 50 ? 50 : total;
	iin[0] = (struct iovec){in, split};
	iin[1] = (struct iovec){in + split, total - split};
	osz = cl && cl->out_size ? cl->out_size : sizeof(rep->b);
	memset(rep->b, 0xa5, sizeof(rep->b));
	/* Two writable buffers, split inside the header. */
	split = osz > 10 ? 10 : osz;
	iout[0] = (struct iovec){rep->b, split};
	iout[1] = (struct iovec){rep->b + split, osz - split};

	memset(&req, 0, sizeof(req));
	req.in = in;
	req.in_len = cl && cl->in_trunc ? cl->in_trunc : total;
	req.in_total = total;
	req.in_iov = iin;
	req.in_iovcnt = 2;
	req.out_iov = iout;
	req.out_iovcnt = 2;
	req.out_total = osz;
	req.txn = &tx;
	req.replay = cl ? cl->replay : false;
	req.slot = cl ? cl->slot : NULL;
	redo_begin(&tx, &r, &r.threads[0]);
	rep->len = fdispatch_handle(cur_fs, &req);
	redo_commit(&tx);
	/* As queue.c's run_request: the request's pins end after commit. */
	inode_put_temps();
	memset(&rep->oh, 0, sizeof(rep->oh));
	if (rep->len >= sizeof(rep->oh))
		memcpy(&rep->oh, rep->b, sizeof(rep->oh));
	rep->body = rep->b + sizeof(rep->oh);
	return rep->len;
}

static size_t
send(struct reply *rep, uint32_t opcode, uint64_t nodeid, const struct args *a)
{
	return send_ex(rep, opcode, nodeid, a, NULL);
}

/* The reply's error (0 on success), or 1 when there was no reply. */
static int
err_of(const struct reply *rep)
{
	return rep->len < sizeof(rep->oh) ? 1 : rep->oh.error;
}

static struct reply rep;

/* ---- operation helpers ------------------------------------------------ */

static int
lookup(uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	struct args a = {.len = 0};

	add_str(&a, name);
	send(&rep, FUSE_LOOKUP, parent, &a);
	if (err_of(&rep) == 0 && e)
		memcpy(e, rep.body, sizeof(*e));
	return err_of(&rep);
}

static int
mkdir_as(uint64_t parent, const char *name, uint32_t mode,
    const struct call *cl, struct fuse_entry_out *e)
{
	struct args a = {.len = 0};
	struct fuse_mkdir_in in = {.mode = mode, .umask = 022};

	add(&a, &in, sizeof(in));
	add_str(&a, name);
	send_ex(&rep, FUSE_MKDIR, parent, &a, cl);
	if (err_of(&rep) == 0 && e)
		memcpy(e, rep.body, sizeof(*e));
	return err_of(&rep);
}

static int
create(uint64_t parent, const char *name, uint32_t flags,
    struct fuse_entry_out *e, struct fuse_open_out *o)
{
	struct args a = {.len = 0};
	struct fuse_create_in in = {.flags = flags, .mode = 0666, .umask = 022};

	add(&a, &in, sizeof(in));
	add_str(&a, name);
	send(&rep, FUSE_CREATE, parent, &a);
	if (err_of(&rep) == 0) {
		if (e)
			memcpy(e, rep.body, sizeof(*e));
		if (o)
			memcpy(o, rep.body + sizeof(*e), sizeof(*o));
	}
	return err_of(&rep);
}

static int
write_at(uint64_t nodeid, uint64_t fh, uint64_t off, const char *data,
    uint32_t *ret_size)
{
	struct args a = {.len = 0};
	struct fuse_write_in in = {.fh = fh,
	    .offset = off,
	    .size = (uint32_t)strlen(data)};

	add(&a, &in, sizeof(in));
	add(&a, data, strlen(data));
	send(&rep, FUSE_WRITE, nodeid, &a);
	if (err_of(&rep) == 0 && ret_size) {
		struct fuse_write_out wo;

		memcpy(&wo, rep.body, sizeof(wo));
		*ret_size = wo.size;
	}
	return err_of(&rep);
}

static int
read_at(uint64_t nodeid, uint64_t fh, uint64_t off, uint32_t size,
    size_t out_size, char *buf, size_t *ret_len)
{
	struct args a = {.len = 0};
	struct fuse_read_in in = {.fh = fh, .offset = off, .size = size};
	struct call cl = {.out_size = out_size};

	add(&a, &in, sizeof(in));
	send_ex(&rep, FUSE_READ, nodeid, &a, &cl);
	if (err_of(&rep) == 0) {
		*ret_len = rep.oh.len - sizeof(rep.oh);
		memcpy(buf, rep.body, *ret_len);
	}
	return err_of(&rep);
}

static int
open_node(uint32_t op, uint64_t nodeid, uint32_t flags, uint64_t *ret_fh)
{
	struct args a = {.len = 0};
	struct fuse_open_in in = {.flags = flags};

	add(&a, &in, sizeof(in));
	send(&rep, op, nodeid, &a);
	if (err_of(&rep) == 0) {
		struct fuse_open_out o;

		memcpy(&o, rep.body, sizeof(o));
		*ret_fh = o.fh;
	}
	return err_of(&rep);
}

static int
release(uint32_t op, uint64_t nodeid, uint64_t fh)
{
	struct args a = {.len = 0};
	struct fuse_release_in in = {.fh = fh};

	add(&a, &in, sizeof(in));
	send(&rep, op, nodeid, &a);
	return err_of(&rep);
}

static int
getattr(uint64_t nodeid, struct fuse_attr *ret)
{
	struct args a = {.len = 0};
	struct fuse_getattr_in in = {0};
	struct fuse_attr_out out;

	add(&a, &in, sizeof(in));
	send(&rep, FUSE_GETATTR, nodeid, &a);
	if (err_of(&rep) == 0 && ret) {
		memcpy(&out, rep.body, sizeof(out));
		*ret = out.attr;
	}
	return err_of(&rep);
}

static int
name_op(uint32_t op, uint64_t parent, const char *name, bool replay)
{
	struct args a = {.len = 0};
	struct call cl = {.replay = replay};

	add_str(&a, name);
	send_ex(&rep, op, parent, &a, &cl);
	return err_of(&rep);
}

static int
rename2(uint64_t olddir, const char *o, uint64_t newdir, const char *n,
    uint32_t flags)
{
	struct args a = {.len = 0};
	struct fuse_rename2_in in = {.newdir = newdir, .flags = flags};

	add(&a, &in, sizeof(in));
	add_str(&a, o);
	add_str(&a, n);
	send(&rep, FUSE_RENAME2, olddir, &a);
	return err_of(&rep);
}

static bool
host_exists(const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static void
host_stat(const char *rel, struct stat *st)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	memset(st, 0, sizeof(*st));
	lstat(p, st);
}

/*
 * Lists a directory with READDIR or READDIRPLUS in chunks of size bytes;
 * returns how many entries were named name (and its nodeid for PLUS).
 */
static int
list_count(uint64_t nodeid, bool plus, uint32_t size, const char *name,
    uint64_t *ret_nodeid, int *ret_total)
{
	uint64_t fh, off = 0;
	int found = 0, total = 0, rounds = 0;

	if (open_node(FUSE_OPENDIR, nodeid, O_RDONLY, &fh) != 0)
		return -1;
	for (;;) {
		struct args a = {.len = 0};
		struct fuse_read_in in = {.fh = fh,
		    .offset = off,
		    .size = size};
		size_t pos = 0, blen;

		add(&a, &in, sizeof(in));
		send(&rep, plus ? FUSE_READDIRPLUS : FUSE_READDIR, nodeid, &a);
		if (err_of(&rep) != 0 || ++rounds > 1000)
			return -1;
		blen = rep.oh.len - sizeof(rep.oh);
		if (blen == 0)
			break;
		while (pos < blen) {
			const uint8_t *p = rep.body + pos;
			struct fuse_dirent d;
			struct fuse_entry_out e;
			size_t rec;

			if (plus) {
				memcpy(&e, p, sizeof(e));
				p += sizeof(e);
			}
			memcpy(&d, p, sizeof(d));
			rec = plus
				  ? FUSE_DIRENT_ALIGN(
					FUSE_NAME_OFFSET_DIRENTPLUS + d.namelen)
				  : FUSE_DIRENT_ALIGN(
					FUSE_NAME_OFFSET + d.namelen);
			if (d.namelen == strlen(name) &&
			    memcmp(p + FUSE_NAME_OFFSET, name, d.namelen) ==
				0) {
				found++;
				if (plus && ret_nodeid)
					*ret_nodeid = e.nodeid;
			}
			total++;
			off = d.off;
			pos += rec;
		}
	}
	release(FUSE_RELEASEDIR, nodeid, fh);
	if (ret_total)
		*ret_total = total;
	return found;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_init(void)
{
	struct args a = {.len = 0};
	struct fuse_init_in in;
	struct fuse_init_out out;
	struct call cl = {.in_trunc = 10};

	is_int(getattr(1, NULL), -EIO, "request before INIT: EIO");
	send_ex(&rep, FUSE_GETATTR, 1, NULL, &cl);
	is_int(rep.len, 0, "shorter than a header: no reply");

	memset(&in, 0, sizeof(in));
	in.major = 7;
	in.minor = 36;
	in.max_readahead = 131072;
	in.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS |
		   FUSE_WRITEBACK_CACHE | FUSE_MAX_PAGES | FUSE_INIT_EXT |
		   FUSE_POSIX_LOCKS | FUSE_BIG_WRITES;
	in.flags2 = (uint32_t)(FUSE_SECURITY_CTX >> 32);
	add(&a, &in, sizeof(in));
	send(&rep, FUSE_INIT, 0, &a);
	memcpy(&out, rep.body, sizeof(out));
	ok(err_of(&rep) == 0 && rep.len == 16 + sizeof(out), "INIT answered");
	ok(out.major == 7 && out.minor == 36, "minor = min(kernel, ours)");
	ok((out.flags & FUSE_ASYNC_READ) && (out.flags & FUSE_DO_READDIRPLUS) &&
		(out.flags & FUSE_MAX_PAGES) && (out.flags & FUSE_BIG_WRITES),
	    "supported flags negotiated");
	ok(!(out.flags & FUSE_WRITEBACK_CACHE) && out.flags2 == 0,
	    "unrequested/unsupported flags off");
	ok((out.flags & FUSE_POSIX_LOCKS) && !(out.flags & FUSE_FLOCK_LOCKS),
	    "POSIX locks negotiated (issue 3); flock not asked, not given");
	ok(out.max_write == 1u << 20 && out.max_pages == 256 &&
		out.time_gran == 1 && out.max_readahead == 131072,
	    "limits");
	ok(r.fuse->initialized == 1 && r.fuse->proto_minor == 36 &&
		r.fuse->flags == (uint64_t)out.flags,
	    "INIT result in the region");
	/* A hostile second INIT: no device stop ended the session. */
	send(&rep, FUSE_INIT, 0, &a);
	is_int(err_of(&rep), -EPROTO,
	    "second INIT on a live session (no device stop): EPROTO");
	ok(r.fuse->initialized == 1 && r.fuse->proto_minor == 36 &&
		r.fuse->sessions == 0,
	    "refused INIT: the session goes on unchanged");

	a.len = 0;
	in.major = 6;
	add(&a, &in, sizeof(in));
	r.fuse->initialized = 0;
	send(&rep, FUSE_INIT, 0, &a);
	is_int(err_of(&rep), -EPROTO, "major 6: EPROTO");
	r.fuse->initialized = 1;
}

static void
test_decode(void)
{
	struct args a = {.len = 0};
	struct call cl = {.len_delta = 8};
	struct fuse_mkdir_in mi = {.mode = 0755};
	char longname[300];

	send(&rep, 99, 1, NULL);
	is_int(err_of(&rep), -ENOSYS, "unknown opcode: ENOSYS");
	{
		struct fuse_getxattr_in gi = {.size = 0};

		add(&a, &gi, sizeof(gi));
		add_str(&a, "user.x");
		send(&rep, FUSE_GETXATTR, 1, &a);
		is_int(err_of(&rep), -ENOSYS, "GETXATTR without --xattr: ENOSYS");
		a.len = 0;
	}
	send(&rep, 5000, 1, NULL);
	is_int(err_of(&rep), -ENOSYS, "huge opcode: ENOSYS");
	send_ex(&rep, FUSE_STATFS, 1, NULL, &cl);
	is_int(err_of(&rep), -EINVAL, "header len beyond the request: EINVAL");
	send(&rep, FUSE_GETATTR, 1, NULL);
	is_int(err_of(&rep), -EINVAL, "GETATTR without arguments: EINVAL");
	add(&a, &mi, 4);
	send(&rep, FUSE_MKDIR, 1, &a);
	is_int(err_of(&rep), -EINVAL, "truncated MKDIR: EINVAL");
	a.len = 0;
	add(&a, "abc", 3);
	send(&rep, FUSE_LOOKUP, 1, &a);
	is_int(err_of(&rep), -EINVAL, "name without NUL: EINVAL");
	is_int(lookup(1, "a/b", NULL), -EINVAL, "name with '/': EINVAL");
	is_int(lookup(1, "", NULL), -EINVAL, "empty name: EINVAL");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	is_int(lookup(1, longname, NULL), -ENAMETOOLONG, "long name");
	is_int(lookup(1, "missing", NULL), -ENOENT, "missing: ENOENT");
	is_int(lookup(0x1234500000007ULL, "x", NULL) < 0, 1,
	    "stale parent nodeid refused");
	is_int(lookup(0, "x", NULL), -EINVAL, "nodeid 0 refused");
	is_int(getattr(~0ULL, NULL) < 0, 1, "garbage nodeid refused");
	{
		struct fuse_entry_out e;

		ok(lookup(1, "..", &e) == 0 && e.nodeid == 1,
		    "'..' at the root is the root");
		ok(lookup(1, ".", &e) == 0 && e.nodeid == 1, "'.' is itself");
	}
	ok(name_op(FUSE_UNLINK, 1, "..", false) == -EINVAL &&
		name_op(FUSE_RMDIR, 1, ".", false) == -EINVAL,
	    "'.' and '..' refused for removals");
	is_int(mkdir_as(1, "..", 0755, NULL, NULL), -EINVAL, "mkdir '..'");
}

static void
test_files(void)
{
	struct fuse_entry_out d, f, e2;
	struct fuse_open_out o;
	struct fuse_attr at;
	struct stat st;
	char buf[64];
	size_t len;
	uint32_t wsz = 0;
	uint64_t fh2;

	ok(getattr(1, &at) == 0 && S_ISDIR(at.mode), "GETATTR root");
	ok(mkdir_as(1, "d", 0777, NULL, &d) == 0 && d.nodeid > 1 &&
		S_ISDIR(d.attr.mode),
	    "MKDIR");
	host_stat("d", &st);
	ok(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755,
	    "directory on the host, guest umask applied");
	is_int(mkdir_as(1, "d", 0777, NULL, NULL), -EEXIST,
	    "MKDIR again: EEXIST");
	ok(lookup(1, "d", &e2) == 0 && e2.nodeid == d.nodeid,
	    "LOOKUP gives the same nodeid");

	ok(create(d.nodeid, "f", O_RDWR | O_CREAT | O_EXCL, &f, &o) == 0 &&
		S_ISREG(f.attr.mode) && o.fh != 0,
	    "CREATE with O_EXCL");
	is_int(create(d.nodeid, "f", O_RDWR | O_CREAT | O_EXCL, NULL, NULL),
	    -EEXIST, "CREATE O_EXCL again: EEXIST");
	ok(write_at(f.nodeid, o.fh, 0, "hello world", &wsz) == 0 && wsz == 11,
	    "WRITE from split readable buffers");
	ok(read_at(f.nodeid, o.fh, 0, 64, 0, buf, &len) == 0 && len == 11 &&
		memcmp(buf, "hello world", 11) == 0,
	    "READ into split buffers");
	ok(read_at(f.nodeid, o.fh, 6, 3, 0, buf, &len) == 0 && len == 3 &&
		memcmp(buf, "wor", 3) == 0,
	    "READ at an offset");
	ok(read_at(f.nodeid, o.fh, 0, 64, 20, buf, &len) == 0 && len == 4 &&
		memcmp(buf, "hell", 4) == 0,
	    "READ clamped to the reply buffer");
	ok(read_at(f.nodeid, o.fh, 100, 64, 0, buf, &len) == 0 && len == 0,
	    "READ past the end: empty");
	read_at(f.nodeid, o.fh, 0, 64, 12, buf, &len);
	is_int(rep.len, 0, "READ with a buffer below a header: no reply");
	is_int(read_at(f.nodeid, 0xdead00000001ULL, 0, 64, 0, buf, &len),
	    -EBADF, "READ with a bad fh: EBADF");
	{
		struct args a = {.len = 0};
		struct fuse_write_in in = {.fh = o.fh, .size = 1000};

		add(&a, &in, sizeof(in));
		add(&a, "abc", 3);
		send(&rep, FUSE_WRITE, f.nodeid, &a);
		is_int(err_of(&rep), -EINVAL,
		    "WRITE size beyond payload: EINVAL");
	}
	host_stat("d/f", &st);
	ok(st.st_size == 11 && (st.st_mode & 0777) == 0644,
	    "file on the host, mode with umask");
	{
		struct args a = {.len = 0};
		struct fuse_setattr_in in = {.valid = FATTR_SIZE | FATTR_MODE,
		    .size = 5,
		    .mode = 0600};
		struct fuse_attr_out ao;

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_SETATTR, f.nodeid, &a);
		memcpy(&ao, rep.body, sizeof(ao));
		ok(err_of(&rep) == 0 && ao.attr.size == 5 &&
			(ao.attr.mode & 0777) == 0600,
		    "SETATTR size and mode");
		a.len = 0;
		in.valid = FATTR_MTIME;
		in.mtime = 1000000;
		in.mtimensec = 5;
		add(&a, &in, sizeof(in));
		send(&rep, FUSE_SETATTR, f.nodeid, &a);
		memcpy(&ao, rep.body, sizeof(ao));
		ok(err_of(&rep) == 0 && ao.attr.mtime == 1000000 &&
			ao.attr.mtimensec == 5,
		    "SETATTR mtime");
		a.len = 0;
		in.valid = FATTR_SIZE | FATTR_FH;
		in.fh = o.fh;
		in.size = 3;
		add(&a, &in, sizeof(in));
		send(&rep, FUSE_SETATTR, f.nodeid, &a);
		host_stat("d/f", &st);
		ok(err_of(&rep) == 0 && st.st_size == 3, "SETATTR size via fh");
	}
	{
		struct args a = {.len = 0};
		struct fuse_lseek_in in = {.fh = o.fh, .whence = SEEK_END};
		struct fuse_lseek_out lo;

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_LSEEK, f.nodeid, &a);
		memcpy(&lo, rep.body, sizeof(lo));
		ok(err_of(&rep) == 0 && lo.offset == 3, "LSEEK SEEK_END");
		a.len = 0;
		in.whence = SEEK_DATA;
		add(&a, &in, sizeof(in));
		send(&rep, FUSE_LSEEK, f.nodeid, &a);
		memcpy(&lo, rep.body, sizeof(lo));
		ok(err_of(&rep) == 0 && lo.offset == 0, "LSEEK SEEK_DATA");
	}
	{
		struct args a = {.len = 0};
		struct fuse_fallocate_in in = {.fh = o.fh,
		    .length = 4096,
		    .mode = 0x08 /* COLLAPSE_RANGE */};

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_FALLOCATE, f.nodeid, &a);
		is_int(err_of(&rep), -EOPNOTSUPP,
		    "FALLOCATE collapse: EOPNOTSUPP");
		a.len = 0;
		in.mode = 0;
		add(&a, &in, sizeof(in));
		send(&rep, FUSE_FALLOCATE, f.nodeid, &a);
		host_stat("d/f", &st);
		ok(err_of(&rep) == 0 && st.st_size == 4096, "FALLOCATE mode 0");
	}
	{
		struct args a = {.len = 0};
		struct fuse_fsync_in in = {.fh = o.fh};
		struct fuse_flush_in fl = {.fh = o.fh};

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_FSYNC, f.nodeid, &a);
		is_int(err_of(&rep), 0, "FSYNC");
		a.len = 0;
		add(&a, &fl, sizeof(fl));
		send(&rep, FUSE_FLUSH, f.nodeid, &a);
		is_int(err_of(&rep), 0, "FLUSH");
	}
	is_int(release(FUSE_RELEASE, f.nodeid, o.fh), 0, "RELEASE");
	is_int(release(FUSE_RELEASE, f.nodeid, o.fh), -EBADF,
	    "RELEASE twice: EBADF");
	ok(open_node(FUSE_OPEN, f.nodeid, O_WRONLY | O_APPEND, &fh2) == 0,
	    "OPEN O_WRONLY|O_APPEND");
	ok(write_at(f.nodeid, fh2, 0, "XY", NULL) == 0, "positional write");
	host_stat("d/f", &st);
	{
		char p[256], c[2];
		int fd;

		snprintf(p, sizeof(p), "%s/d/f", dir);
		fd = open(p, O_RDONLY);
		ok(fd >= 0 && pread(fd, c, 2, 0) == 2 && c[0] == 'X' &&
			st.st_size == 4096,
		    "O_APPEND stripped on the host");
		close(fd);
	}
	release(FUSE_RELEASE, f.nodeid, fh2);
	is_int(open_node(FUSE_OPEN, d.nodeid, O_WRONLY, &fh2), -EISDIR,
	    "OPEN a directory for writing: EISDIR");
	{
		struct args a = {.len = 0};
		struct fuse_statfs_out sf;

		send(&rep, FUSE_STATFS, 1, &a);
		memcpy(&sf, rep.body, sizeof(sf));
		ok(err_of(&rep) == 0 && sf.st.bsize > 0 && sf.st.namelen > 0,
		    "STATFS");
	}
}

static void
test_names(void)
{
	struct fuse_entry_out d, l, p, h, f;
	struct args a = {.len = 0};
	uint64_t fh;
	struct stat st;
	char buf[64];
	int n, total;

	lookup(1, "d", &d);
	add_str(&a, "lnk");
	add_str(&a, "/etc/passwd");
	send(&rep, FUSE_SYMLINK, 1, &a);
	memcpy(&l, rep.body, sizeof(l));
	ok(err_of(&rep) == 0 && S_ISLNK(l.attr.mode), "SYMLINK");
	send(&rep, FUSE_READLINK, l.nodeid, NULL);
	ok(err_of(&rep) == 0 && rep.oh.len - 16 == 11 &&
		memcmp(rep.body, "/etc/passwd", 11) == 0,
	    "READLINK");
	is_int(open_node(FUSE_OPEN, l.nodeid, O_RDONLY, &fh), -EBADF,
	    "OPEN a symlink is refused (never followed on the host)");
	is_int(create(1, "lnk", O_RDWR | O_CREAT, NULL, NULL), -ELOOP,
	    "CREATE through a planted symlink is refused");
	a.len = 0;
	{
		struct fuse_mknod_in mi = {.mode = S_IFIFO | 0644};

		add(&a, &mi, sizeof(mi));
		add_str(&a, "fifo");
		send(&rep, FUSE_MKNOD, 1, &a);
		memcpy(&p, rep.body, sizeof(p));
		ok(err_of(&rep) == 0 && S_ISFIFO(p.attr.mode), "MKNOD fifo");
	}
	is_int(open_node(FUSE_OPEN, p.nodeid, O_RDONLY, &fh), -EBADF,
	    "OPEN a fifo: EBADF, never opened on the host");

	create(d.nodeid, "g", O_RDWR | O_CREAT, &f, NULL);
	a.len = 0;
	{
		struct fuse_link_in li = {.oldnodeid = f.nodeid};

		add(&a, &li, sizeof(li));
		add_str(&a, "hard");
		send(&rep, FUSE_LINK, 1, &a);
		memcpy(&h, rep.body, sizeof(h));
		ok(err_of(&rep) == 0 && h.nodeid == f.nodeid &&
			h.attr.nlink == 2,
		    "LINK: same nodeid, two links");
	}
	is_int(rename2(d.nodeid, "g", 1, "g2", 0), 0, "RENAME2 across dirs");
	ok(!host_exists("d/g") && host_exists("g2"), "renamed on the host");
	is_int(rename2(1, "g2", 1, "hard", RENAME_NOREPLACE), -EEXIST,
	    "RENAME2 NOREPLACE onto a name: EEXIST");
	is_int(rename2(1, "g2", 1, "x", RENAME_WHITEOUT), -EINVAL,
	    "RENAME2 WHITEOUT: EINVAL");
	is_int(rename2(1, "g2", 1, "a/b", 0), -EINVAL,
	    "rename to a path: EINVAL");
	is_int(rename2(1, "g2", 1, "fifo", RENAME_EXCHANGE), 0,
	    "RENAME2 EXCHANGE");
	host_stat("g2", &st);
	ok(S_ISFIFO(st.st_mode), "exchanged on the host");
	rename2(1, "g2", 1, "fifo", RENAME_EXCHANGE);

	n = list_count(1, false, 4096, "d", NULL, &total);
	ok(n == 1 && total >= 7, "READDIR lists d once");
	n = list_count(1, false, 40, "hard", NULL, &total);
	ok(n == 1 && total >= 7,
	    "READDIR in one-entry chunks continues by offset");
	{
		uint64_t nd = 0;

		n = list_count(1, true, 4096, "d", &nd, NULL);
		ok(n == 1 && nd == d.nodeid, "READDIRPLUS gives d's nodeid");
		n = list_count(1, true, 200, "fifo", &nd, NULL);
		ok(n == 1 && nd == p.nodeid, "READDIRPLUS in small chunks");
	}
	{
		struct args ra = {.len = 0};
		struct fuse_read_in in = {.fh = 12345, .size = 4096};

		add(&ra, &in, sizeof(in));
		send(&rep, FUSE_READDIR, 1, &ra);
		is_int(err_of(&rep), -EBADF, "READDIR with a bad fh: EBADF");
	}
	is_int(open_node(FUSE_OPENDIR, f.nodeid, O_RDONLY, &fh), -ENOTDIR,
	    "OPENDIR a file: ENOTDIR");

	is_int(name_op(FUSE_RMDIR, 1, "d", false), -ENOTEMPTY,
	    "RMDIR non-empty: ENOTEMPTY");
	is_int(name_op(FUSE_UNLINK, d.nodeid, "f", false), 0, "UNLINK");
	ok(!host_exists("d/f"), "unlinked on the host");
	is_int(name_op(FUSE_UNLINK, d.nodeid, "f", false), -ENOENT,
	    "UNLINK again: ENOENT");
	is_int(name_op(FUSE_RMDIR, 1, "d", false), 0, "RMDIR");
	is_int(name_op(FUSE_RMDIR, 1, "d", true), 0,
	    "RMDIR replayed after it happened: success");
	is_int(name_op(FUSE_UNLINK, 1, "nothing", true), 0,
	    "UNLINK replayed: ENOENT is success");
	{
		struct call cl = {.replay = true};

		ok(mkdir_as(1, "m", 0755, NULL, &d) == 0 &&
			mkdir_as(1, "m", 0755, &cl, &h) == 0 &&
			h.nodeid == d.nodeid,
		    "MKDIR replayed after it happened: success, same inode");
	}
	(void)buf;
}

/*
 * READDIRPLUS of a directory with more new entries than one transaction
 * holds: each reply stops early, the listing continues from the cookie,
 * every entry arrives once with a live nodeid holding one lookup.
 */
static void
test_readdirplus_room(void)
{
	struct fuse_entry_out big;
	uint64_t fh, off = 0;
	int seen = 0, rounds = 0, max_round = 0, bad = 0;
	uint64_t ids[200];
	char name[32];

	mkdir_as(1, "big", 0755, NULL, &big);
	for (int i = 0; i < 150; i++) {
		char p[300];
		int fd;

		snprintf(p, sizeof(p), "%s/big/file%03d", dir, i);
		fd = open(p, O_CREAT | O_WRONLY, 0644);
		close(fd);
	}
	open_node(FUSE_OPENDIR, big.nodeid, O_RDONLY, &fh);
	for (;;) {
		struct args a = {.len = 0};
		struct fuse_read_in in = {.fh = fh,
		    .offset = off,
		    .size = 65536};
		size_t pos = 0, blen;
		int n = 0;

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_READDIRPLUS, big.nodeid, &a);
		if (err_of(&rep) != 0 || ++rounds > 100)
			break;
		blen = rep.oh.len - sizeof(rep.oh);
		if (blen == 0)
			break;
		while (pos < blen) {
			struct fuse_entry_out e;
			struct fuse_dirent d;
			const uint8_t *p = rep.body + pos;

			memcpy(&e, p, sizeof(e));
			memcpy(&d, p + sizeof(e), sizeof(d));
			if (d.namelen == 7 &&
			    memcmp(p + sizeof(e) + FUSE_NAME_OFFSET, "file",
				4) == 0) {
				seen++;
				n++;
				if (seen <= 200)
					ids[seen - 1] = e.nodeid;
			}
			off = d.off;
			pos += FUSE_DIRENT_ALIGN(
			    FUSE_NAME_OFFSET_DIRENTPLUS + d.namelen);
		}
		if (n > max_round)
			max_round = n;
	}
	release(FUSE_RELEASEDIR, big.nodeid, fh);
	for (int i = 0; i < seen && i < 200; i++)
		if (ids[i] == 0 || getattr(ids[i], NULL) != 0)
			bad++;
	is_int(seen, 150, "READDIRPLUS: every entry once across replies");
	diag("%d rounds, at most %d new entries in one", rounds, max_round);
	ok(rounds > 2 && max_round < 150,
	    "READDIRPLUS: each reply stops within the redo capacity");
	is_int(bad, 0, "READDIRPLUS: every nodeid is live");
	snprintf(name, sizeof(name), "file%03d", 7);
	{
		struct fuse_entry_out e;
		uint64_t idx;

		lookup(big.nodeid, name, &e);
		idx = (e.nodeid & 0xffffffffULL) - 1;
		is_int(r.inodes[idx].nlookup, 2,
		    "READDIRPLUS took exactly one lookup (plus this one)");
	}
}

static void
test_creds(void)
{
	struct call cl = {.uid = 4321, .gid = 4322};
	struct fuse_entry_out e;
	struct stat st;

	if (geteuid() != 0) {
		ok(1, "# SKIP not root: creations keep the daemon's ids");
		return;
	}
	is_int(mkdir_as(1, "owned", 0755, &cl, &e), -EACCES,
	    "MKDIR as guest uid in a 0700 root dir: EACCES (host checks)");
	chmod(dir, 0777);
	ok(mkdir_as(1, "owned", 0755, &cl, &e) == 0, "MKDIR as guest uid");
	host_stat("owned", &st);
	ok(st.st_uid == 4321 && st.st_gid == 4322, "owner from the request");
	ok(geteuid() == 0 && getegid() == 0, "ids restored afterwards");
}

static void
test_forget_destroy(void)
{
	struct fuse_entry_out e;
	struct args a = {.len = 0};
	struct fuse_forget_in fi = {.nlookup = 1000};
	uint64_t live;

	lookup(1, "m", &e);
	live = r.ihdr->live;
	add(&a, &fi, sizeof(fi));
	ok(send(&rep, FUSE_FORGET, e.nodeid, &a) == 0, "FORGET: no reply");
	ok(r.ihdr->live == live - 1, "FORGET dropped the inode");
	is_int(getattr(e.nodeid, NULL), -ESTALE, "forgotten nodeid: ESTALE");
	{
		struct args b = {.len = 0};
		struct fuse_batch_forget_in bi = {.count = 1000};

		add(&b, &bi, sizeof(bi));
		ok(send(&rep, FUSE_BATCH_FORGET, 1, &b) == 0,
		    "BATCH_FORGET lying about its count: no reply, no crash");
	}
	ok(send(&rep, FUSE_INTERRUPT, 1, NULL) == 0, "INTERRUPT: no reply");
	send(&rep, FUSE_DESTROY, 1, NULL);
	ok(err_of(&rep) == 0 && r.fuse->initialized == 0, "DESTROY");
	is_int(getattr(1, NULL), -EIO, "after DESTROY: EIO until INIT");
}

static void
init_again(const char *what)
{
	struct args a = {.len = 0};
	struct fuse_init_in in = {.major = 7, .minor = 38};

	add(&a, &in, sizeof(in));
	send(&rep, FUSE_INIT, 0, &a);
	ok(err_of(&rep) == 0 && r.fuse->initialized == 1 &&
	    r.fuse->destroyed == 0, "%s", what);
}

/*
 * DESTROY (guest unmount) frees every inode but the root and every
 * handle, in chunks whose progress the journal slot's step records; a
 * replay resumes at the step. Then INIT mounts again on clean tables.
 */
static void
test_destroy(void)
{
	struct journal_slot_rec *slot = region_slot(&r, 1, 0);
	struct call cl = {.slot = slot};
	enum { N = 70 };
	int ifds[N], hfds[N], open_fds = 0, still = 0;
	struct fuse_entry_out d, e;
	struct fuse_open_out o;
	uint64_t k, dfh;
	char name[32];

	init_again("INIT after DESTROY: accepted, session state reset");
	ok(mkdir_as(1, "dz", 0755, NULL, &d) == 0, "MKDIR dz");
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (create(d.nodeid, name, O_RDWR | O_CREAT, &e, &o) != 0)
			break;
		ifds[i] = (int)r.inodes[(e.nodeid & 0xffffffff) - 1].fd;
		hfds[i] = (int)r.handles[(o.fh & 0xffffffff) - 1].fd;
		open_fds++;
	}
	is_int(open_fds, N, "CREATE 70 files, handles kept open");
	ok(open_node(FUSE_OPENDIR, d.nodeid, O_RDONLY, &dfh) == 0, "OPENDIR");
	/* A replay that finds the handles and half the inodes done. */
	for (k = r.ihdr->high; k > 0 && still < N / 2; k--)
		still += r.inodes[k - 1].used == 1;
	still = 0;
	memset(slot, 0, sizeof(*slot));
	slot->step = (1ULL << 62) + k;
	cl.replay = true;
	send_ex(&rep, FUSE_DESTROY, 1, NULL, &cl);
	ok(err_of(&rep) == 0 && r.fuse->initialized == 0, "replayed DESTROY");
	ok(r.hhdr->live >= (uint64_t)N + 1,
	    "replay from the inode step: handles (done before) not touched");
	for (uint64_t i = 1; i < r.ihdr->high; i++)
		if (r.inodes[i].used == 1)
			still += i < k ? 1 : 1000;
	ok(still > 0 && still < 1000,
	    "inodes below the step kept, every one from it freed");
	init_again("INIT again");
	/* A first run, chunked: step records its progress. */
	memset(slot, 0, sizeof(*slot));
	cl.replay = false;
	send_ex(&rep, FUSE_DESTROY, 1, NULL, &cl);
	ok(err_of(&rep) == 0, "DESTROY");
	ok(slot->step > 0, "committed in chunks (step recorded in the slot)");
	is_int((int)r.ihdr->live, 1, "only the root inode left");
	is_int((int)r.ihdr->fds, 1, "only the root holds an fd");
	is_int((int)r.hhdr->live, 0, "no handle left");
	is_int((int)r.inodes[0].nlookup, 1, "root back to one lookup");
	still = 0;
	for (int i = 0; i < open_fds; i++)
		still += fcntl(ifds[i], F_GETFD) >= 0 ||
		    fcntl(hfds[i], F_GETFD) >= 0;
	is_int(still, 0, "every inode and handle fd closed");
	init_again("INIT after DESTROY: mount again");
	ok(lookup(1, "dz", &e) == 0 && e.nodeid != d.nodeid,
	    "LOOKUP on the new mount: a new nodeid");
	is_int(getattr(d.nodeid, NULL), -ESTALE, "old nodeid: ESTALE");
	is_int(release(FUSE_RELEASEDIR, d.nodeid, dfh), -EBADF,
	    "old fh: EBADF");
}

static void
test_readonly(void)
{
	static struct config ro;
	/* static: fdispatch.h has no destructor yet (see the report). */
	static struct fuse_session *rs;
	uint64_t fh;
	struct args a = {.len = 0};
	struct fuse_init_in in = {.major = 7, .minor = 38};

	ro = cfg;
	ro.readonly = true;
	if (fdispatch_init(&rs, &r, &ro, REGION_FD_ROOT) < 0) {
		ok(0, "readonly session");
		return;
	}
	cur_fs = rs;
	add(&a, &in, sizeof(in));
	send(&rep, FUSE_INIT, 0, &a);
	is_int(mkdir_as(1, "ro", 0755, NULL, NULL), -EROFS, "readonly: MKDIR");
	is_int(create(1, "ro", O_RDWR | O_CREAT, NULL, NULL), -EROFS,
	    "readonly: CREATE");
	is_int(name_op(FUSE_UNLINK, 1, "hard", false), -EROFS,
	    "readonly: UNLINK");
	is_int(open_node(FUSE_OPEN, 1, O_RDONLY, &fh) == 0 ||
		   open_node(FUSE_OPENDIR, 1, O_RDONLY, &fh) == 0,
	    1, "readonly: reading still works");
	cur_fs = fs;
}

/* ==== issue 3: xattrs, locks, the rest of the protocol ================ */
/* (owner: the issue-3 engineer; helpers below are this block's own) */

static int
setxattr_ex(uint64_t nodeid, const char *name, const void *val, size_t size,
    uint32_t flags, const struct call *cl)
{
	static struct args a;
	struct fuse_setxattr_in in = {.size = (uint32_t)size, .flags = flags};

	a.len = 0;
	/* The session negotiated no FUSE_SETXATTR_EXT: the 8-byte form. */
	add(&a, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	add_str(&a, name);
	add(&a, val, size);
	send_ex(&rep, FUSE_SETXATTR, nodeid, &a, cl);
	return err_of(&rep);
}

static int
setxattr_(uint64_t nodeid, const char *name, const char *val, uint32_t flags)
{
	return setxattr_ex(nodeid, name, val, strlen(val), flags, NULL);
}

/* GETXATTR (name) or LISTXATTR (name NULL); *ret_len: body length. */
static int
getxattr_(uint64_t nodeid, const char *name, uint32_t size, char *buf,
    size_t *ret_len)
{
	struct args a = {.len = 0};
	struct fuse_getxattr_in in = {.size = size};

	add(&a, &in, sizeof(in));
	if (name != NULL)
		add_str(&a, name);
	send(&rep, name != NULL ? FUSE_GETXATTR : FUSE_LISTXATTR, nodeid, &a);
	if (err_of(&rep) == 0) {
		*ret_len = rep.oh.len - sizeof(rep.oh);
		if (size == 0) {
			struct fuse_getxattr_out o;

			memcpy(&o, rep.body, sizeof(o));
			*ret_len = o.size;
		} else if (buf != NULL) {
			memcpy(buf, rep.body, *ret_len);
		}
	}
	return err_of(&rep);
}

static bool
list_has(const char *list, size_t len, const char *name)
{
	for (size_t p = 0; p < len; p += strlen(list + p) + 1)
		if (strcmp(list + p, name) == 0)
			return true;
	return false;
}

static struct fuse_session *
ext_session_flags(struct config *c, uint32_t flags)
{
	struct fuse_session *s;
	struct args a = {.len = 0};
	struct fuse_init_in in = {.major = 7, .minor = 38, .flags = flags};

	if (fdispatch_init(&s, &r, c, REGION_FD_ROOT) < 0)
		return NULL;
	cur_fs = s;
	r.fuse->initialized = 0;
	add(&a, &in, sizeof(in));
	send(&rep, FUSE_INIT, 0, &a);
	return s;
}

static struct fuse_session *
ext_session(struct config *c)
{
	return ext_session_flags(c, 0);
}

static void
test_xattr(void)
{
	static struct config xc;
	static char big[70000];
	struct fuse_entry_out f, sl;
	struct fuse_open_out o;
	char buf[256], hp[300];
	size_t len = 0;
	struct call trunc = {.in_trunc = 200};

	xc = cfg;
	xc.xattr = true;
	if (ext_session(&xc) == NULL) {
		ok(0, "xattr session");
		return;
	}
	if (create(1, "xf", O_RDWR | O_CREAT, &f, &o) != 0) {
		ok(0, "xattr file");
		return;
	}
	is_int(setxattr_(f.nodeid, "user.a", "one", 0), 0, "SETXATTR");
	ok(getxattr_(f.nodeid, "user.a", 0, NULL, &len) == 0 && len == 3,
	    "GETXATTR size 0: the value's size");
	ok(getxattr_(f.nodeid, "user.a", 100, buf, &len) == 0 && len == 3 &&
		memcmp(buf, "one", 3) == 0,
	    "GETXATTR value");
	is_int(getxattr_(f.nodeid, "user.a", 2, buf, &len), -ERANGE,
	    "GETXATTR with a small size: ERANGE");
	is_int(getxattr_(f.nodeid, "user.none", 100, buf, &len), -ENODATA,
	    "GETXATTR missing: ENODATA");
	is_int(setxattr_(f.nodeid, "user.a", "two", XATTR_CREATE), -EEXIST,
	    "XATTR_CREATE on an existing name: EEXIST");
	is_int(setxattr_(f.nodeid, "user.b", "two", XATTR_REPLACE), -ENODATA,
	    "XATTR_REPLACE on a missing name: ENODATA");
	is_int(setxattr_(f.nodeid, "user.b", "bee", XATTR_CREATE), 0,
	    "XATTR_CREATE on a new name");
	is_int(setxattr_(f.nodeid, "user.b", "bee2", XATTR_REPLACE), 0,
	    "XATTR_REPLACE on an existing name");
	{
		struct call rp = {.replay = true};

		is_int(setxattr_ex(f.nodeid, "user.b", "bee2", 4, XATTR_CREATE,
			   &rp),
		    0, "replayed XATTR_CREATE finding its own value: success");
		is_int(setxattr_ex(f.nodeid, "user.b", "other", 5,
			   XATTR_CREATE, &rp),
		    -EEXIST, "replayed XATTR_CREATE, another value: EEXIST");
	}
	ok(getxattr_(f.nodeid, NULL, 0, NULL, &len) == 0 && len == 14,
	    "LISTXATTR size 0: 'user.a\\0user.b\\0'");
	ok(getxattr_(f.nodeid, NULL, 200, buf, &len) == 0 && len == 14 &&
		list_has(buf, len, "user.a") && list_has(buf, len, "user.b"),
	    "LISTXATTR names");
	is_int(getxattr_(f.nodeid, NULL, 5, buf, &len), -ERANGE,
	    "LISTXATTR with a small size: ERANGE");
	is_int(name_op(FUSE_REMOVEXATTR, f.nodeid, "user.b", false), 0,
	    "REMOVEXATTR");
	is_int(name_op(FUSE_REMOVEXATTR, f.nodeid, "user.b", false), -ENODATA,
	    "REMOVEXATTR again: ENODATA");
	is_int(name_op(FUSE_REMOVEXATTR, f.nodeid, "user.b", true), 0,
	    "replayed REMOVEXATTR finding it gone: success");
	memset(big, 'v', sizeof(big));
	is_int(setxattr_ex(f.nodeid, "user.big", big, 65537, 0, NULL), -E2BIG,
	    "value above 64 KiB: E2BIG");
	big[0] = 'B';
	big[2999] = 'E';
	/* ext4 caps a value at a block: 3000 bytes, the copy cut at 200. */
	is_int(setxattr_ex(f.nodeid, "user.big", big, 3000, 0, &trunc), 0,
	    "SETXATTR value beyond the journal copy (live buffers)");
	snprintf(hp, sizeof(hp), "%s/xf", dir);
	{
		char hv[3000];

		ok(getxattr(hp, "user.big", hv, sizeof(hv)) == 3000 &&
			hv[0] == 'B' && hv[2999] == 'E' && hv[1500] == 'v',
		    "the large value reached the host intact");
	}
	ok(getxattr_(f.nodeid, "user.big", 65536, NULL, &len) == 0 &&
		len == 3000,
	    "GETXATTR of the large value");
	/* A symlink's xattrs: the link itself, never its target. */
	{
		struct args a = {.len = 0};

		add_str(&a, "xl");
		add_str(&a, "xf");
		send(&rep, FUSE_SYMLINK, 1, &a);
		memcpy(&sl, rep.body, sizeof(sl));
		ok(err_of(&rep) == 0, "symlink for xattrs");
		is_int(setxattr_(sl.nodeid, "trusted.t", "L", 0), 0,
		    "SETXATTR on a symlink (trusted.*)");
		ok(getxattr_(sl.nodeid, "trusted.t", 10, buf, &len) == 0 &&
			len == 1 && lgetxattr(hp, "trusted.t", buf, 10) < 0,
		    "the symlink has it, its target not");
	}
	cur_fs = fs;
}

static void
test_xattrmap(void)
{
	static struct config mc;
	struct fuse_entry_out f;
	struct fuse_open_out o;
	char buf[256], hp[300];
	size_t len = 0;

	mc = cfg;
	mc.xattr = true;
	snprintf(mc.xattrmap, sizeof(mc.xattrmap), "%s",
	    /* virtiofsd.rst example 2, plus "unsupported" */
	    "/prefix/all/trusted./user.virtiofs./ /bad/server//trusted./\n"
	    " /bad/client/user.virtiofs.// "
	    "/unsupported/all/security.selinux/security.selinux/ /ok/all///");
	if (ext_session(&mc) == NULL) {
		ok(0, "xattrmap session");
		return;
	}
	if (create(1, "xm", O_RDWR | O_CREAT, &f, &o) != 0) {
		ok(0, "xattrmap file");
		return;
	}
	snprintf(hp, sizeof(hp), "%s/xm", dir);
	is_int(setxattr_(f.nodeid, "trusted.overlay", "o", 0), 0,
	    "mapped SETXATTR trusted.*");
	ok(getxattr(hp, "user.virtiofs.trusted.overlay", buf, sizeof(buf)) ==
		    1 &&
		getxattr(hp, "trusted.overlay", buf, sizeof(buf)) < 0,
	    "host stores it under user.virtiofs.trusted.");
	ok(getxattr_(f.nodeid, "trusted.overlay", 10, buf, &len) == 0 &&
		len == 1 && buf[0] == 'o',
	    "mapped GETXATTR");
	is_int(setxattr_(f.nodeid, "user.virtiofs.x", "x", 0), -EPERM,
	    "'bad' client rule: EPERM");
	is_int(getxattr_(f.nodeid, "user.virtiofs.x", 10, buf, &len),
	    -ENODATA, "'bad' client rule on GETXATTR: ENODATA");
	is_int(setxattr_(f.nodeid, "security.selinux", "s", 0), -ENOTSUP,
	    "'unsupported' rule: ENOTSUP");
	is_int(setxattr_(f.nodeid, "user.plain", "p", 0), 0, "'ok' rule");
	setxattr(hp, "trusted.hostonly", "h", 1, 0);
	ok(getxattr_(f.nodeid, NULL, 200, buf, &len) == 0 &&
		list_has(buf, len, "trusted.overlay") &&
		list_has(buf, len, "user.plain") &&
		!list_has(buf, len, "trusted.hostonly") &&
		!list_has(buf, len, "user.virtiofs.trusted.overlay"),
	    "LISTXATTR remaps and hides");
	is_int(name_op(FUSE_REMOVEXATTR, f.nodeid, "trusted.overlay", false),
	    0, "mapped REMOVEXATTR");
	ok(getxattr(hp, "user.virtiofs.trusted.overlay", buf, sizeof(buf)) < 0,
	    "gone from the host");
	cur_fs = fs;
}

/* A lock request with its own buffers and thread record: thread-safe. */
struct lkreq {
	unsigned thread; /* r.threads[] index for the redo log */
	uint32_t opcode;
	uint64_t nodeid, fh, owner;
	uint32_t type, pid, lk_flags;
	uint64_t start, end;
	bool may_park, replay;
	int wait_end;	/* fuse_req.wait_end */
	bool parked, unlocked; /* fuse_req's outputs */
	struct fuse_file_lock out; /* GETLK's answer */
};

static int
lk_send(struct lkreq *q)
{
	uint8_t in[sizeof(struct fuse_in_header) + sizeof(struct fuse_lk_in)];
	uint8_t out[256];
	struct fuse_in_header h = {.len = sizeof(in),
	    .opcode = q->opcode,
	    .unique = __atomic_fetch_add(&next_unique, 1, __ATOMIC_RELAXED),
	    .nodeid = q->nodeid,
	    .pid = q->pid};
	struct fuse_lk_in li = {.fh = q->fh,
	    .owner = q->owner,
	    .lk = {.start = q->start,
		.end = q->end,
		.type = q->type,
		.pid = q->pid},
	    .lk_flags = q->lk_flags};
	struct fuse_out_header oh;
	struct iovec iin = {in, sizeof(in)}, iout = {out, sizeof(out)};
	struct redo_txn tx;
	struct fuse_req req;
	size_t len;

	memcpy(in, &h, sizeof(h));
	memcpy(in + sizeof(h), &li, sizeof(li));
	memset(&req, 0, sizeof(req));
	req.in = in;
	req.in_len = req.in_total = sizeof(in);
	req.in_iov = &iin;
	req.in_iovcnt = 1;
	req.out_iov = &iout;
	req.out_iovcnt = 1;
	req.out_total = sizeof(out);
	req.txn = &tx;
	req.replay = q->replay;
	req.may_park = q->may_park;
	req.wait_end = q->wait_end;
	redo_begin(&tx, &r, &r.threads[q->thread]);
	len = fdispatch_handle(cur_fs, &req);
	redo_commit(&tx);
	inode_put_temps();
	q->parked = req.parked;
	q->unlocked = req.unlocked;
	if (len < sizeof(oh))
		return 1;
	memcpy(&oh, out, sizeof(oh));
	if (oh.error == 0 && q->opcode == FUSE_GETLK)
		memcpy(&q->out, out + sizeof(oh), sizeof(q->out));
	return oh.error;
}

static int
lk(uint32_t op, uint64_t nodeid, uint64_t fh, uint64_t owner, uint32_t type,
    uint64_t start, uint64_t end, uint32_t pid)
{
	struct lkreq q = {.opcode = op,
	    .nodeid = nodeid,
	    .fh = fh,
	    .owner = owner,
	    .type = type,
	    .start = start,
	    .end = end,
	    .pid = pid};
	int err = lk_send(&q);

	if (op == FUSE_GETLK && err == 0) {
		rep.oh.error = 0;
		memcpy((void *)rep.b, &q.out, sizeof(q.out)); /* for callers */
	}
	return err;
}

static struct fuse_file_lock
last_lk(void)
{
	struct fuse_file_lock l;

	memcpy(&l, rep.b, sizeof(l));
	return l;
}

static int
flush_owner(uint64_t nodeid, uint64_t fh, uint64_t owner)
{
	struct args a = {.len = 0};
	struct fuse_flush_in in = {.fh = fh, .lock_owner = owner};

	add(&a, &in, sizeof(in));
	send(&rep, FUSE_FLUSH, nodeid, &a);
	return err_of(&rep);
}

static void
test_locks(void)
{
	static struct config lc;
	const uint64_t A = 0xa1, B = 0xb2, EOFX = INT64_MAX;
	struct fuse_entry_out f;
	struct fuse_open_out o;
	struct fuse_file_lock l;
	uint64_t fh2, fhro;
	struct flock fl;
	char hp[300];
	int hfd, kinds = 0;

	lc = cfg;
	if (ext_session_flags(&lc, FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS) ==
	    NULL) {
		ok(0, "lock session");
		return;
	}
	ok(r.fuse->flags & FUSE_FLOCK_LOCKS, "FUSE_FLOCK_LOCKS negotiated");
	if (create(1, "lk", O_RDWR | O_CREAT, &f, &o) != 0) {
		ok(0, "lock file");
		return;
	}
	/* Two guest processes (owners) sharing one fh. */
	is_int(lk(FUSE_SETLK, f.nodeid, o.fh, A, F_WRLCK, 0, 99, 111), 0,
	    "owner A: write lock [0, 99]");
	is_int(lk(FUSE_SETLK, f.nodeid, o.fh, B, F_WRLCK, 50, 60, 222),
	    -EAGAIN, "owner B on the same fh: conflict (EAGAIN)");
	is_int(lk(FUSE_SETLK, f.nodeid, o.fh, A, F_WRLCK, 50, 60, 111), 0,
	    "owner A again: its own lock never conflicts");
	is_int(lk(FUSE_SETLK, f.nodeid, o.fh, B, F_RDLCK, 100, EOFX, 222), 0,
	    "owner B: read lock [100, EOF)");
	ok(lk(FUSE_GETLK, f.nodeid, o.fh, B, F_WRLCK, 0, 10, 222) == 0 &&
		(l = last_lk()).type == F_WRLCK && l.start == 0 &&
		l.end == 99 && l.pid == 111,
	    "GETLK by B: A's lock, range and guest pid");
	ok(lk(FUSE_GETLK, f.nodeid, o.fh, A, F_WRLCK, 200, 300, 111) == 0 &&
		(l = last_lk()).type == F_RDLCK && l.start == 100 &&
		l.end == (uint64_t)EOFX && l.pid == 222,
	    "GETLK by A: B's read lock to EOF, pid 222");
	ok(lk(FUSE_GETLK, f.nodeid, o.fh, A, F_WRLCK, 0, 10, 111) == 0 &&
		last_lk().type == F_UNLCK,
	    "GETLK by A over its own lock: F_UNLCK");
	snprintf(hp, sizeof(hp), "%s/lk", dir);
	hfd = open(hp, O_RDWR);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_start = 10;
	fl.l_len = 1;
	ok(hfd >= 0 && fcntl(hfd, F_OFD_GETLK, &fl) == 0 &&
		fl.l_type == F_WRLCK,
	    "the lock is real on the host (host OFD sees it)");
	close(hfd);
	for (uint64_t i = 0; i < r.hhdr->high; i++)
		if (r.handles[i].used == 1 && r.handles[i].dir == 2 &&
		    r.handles[i].nodeid == f.nodeid)
			kinds++;
	is_int(kinds, 2, "one committed lock-owner OFD per owner in the table");

	/*
	 * SETLKW: parks where the transport retries it (may_park), and its
	 * retry from the top takes the lock once it is free.
	 */
	{
		struct lkreq q = {.thread = 1,
		    .opcode = FUSE_SETLKW,
		    .nodeid = f.nodeid,
		    .fh = o.fh,
		    .owner = B,
		    .type = F_WRLCK,
		    .start = 0,
		    .end = 9,
		    .pid = 222,
		    .may_park = true};
		struct lkreq u = {.opcode = FUSE_SETLK,
		    .nodeid = f.nodeid,
		    .fh = o.fh,
		    .owner = A,
		    .type = F_UNLCK,
		    .start = 0,
		    .end = EOFX,
		    .pid = 111};

		ok(lk_send(&q) == 1 && q.parked,
		    "SETLKW on A's lock parks: no reply");
		ok(lk_send(&q) == 1 && q.parked, "its retry parks again");
		q.wait_end = -EINTR;
		ok(lk_send(&q) == -EINTR && !q.parked,
		    "a retry the transport ends (wait_end): EINTR");
		q.wait_end = 0;
		ok(lk(FUSE_GETLK, f.nodeid, o.fh, B, F_WRLCK, 0, 9, 222) == 0 &&
			(l = last_lk()).type == F_WRLCK && l.pid == 111,
		    "A still holds [0, 9]");
		ok(lk_send(&u) == 0 && u.unlocked,
		    "A unlocks: the request says it released locks");
		ok(lk_send(&q) == 0 && !q.parked,
		    "the retry after the unlock takes the lock");
		ok(lk_send(&q) == 0 && !q.parked,
		    "a retry after the lock was taken (a kill before the "
		    "commit) answers 0 again");
		ok(lk(FUSE_GETLK, f.nodeid, o.fh, A, F_RDLCK, 0, 0, 111) == 0 &&
			(l = last_lk()).type == F_WRLCK && l.pid == 222,
		    "GETLK by A now sees B's lock");
	}
	{
		struct lkreq q = {.opcode = FUSE_SETLKW,
		    .nodeid = f.nodeid,
		    .fh = o.fh,
		    .owner = A,
		    .type = F_WRLCK,
		    .start = 0,
		    .end = 9,
		    .pid = 111};

		is_int(lk_send(&q), -ENOLCK,
		    "SETLKW where nothing retries (no may_park): ENOLCK");
		q.replay = true;
		is_int(lk_send(&q), -EINTR, "SETLKW replayed in recovery: EINTR");
	}
	/* FLUSH with B's lock owner drops B's locks (any close does). */
	is_int(flush_owner(f.nodeid, o.fh, B), 0, "FLUSH with lock owner B");
	is_int(lk(FUSE_SETLK, f.nodeid, o.fh, A, F_WRLCK, 0, EOFX, 111), 0,
	    "A locks the whole file after B's FLUSH");
	kinds = 0;
	for (uint64_t i = 0; i < r.hhdr->high; i++)
		if (r.handles[i].used == 1 && r.handles[i].dir == 2 &&
		    r.handles[i].nodeid == f.nodeid)
			kinds++;
	is_int(kinds, 1, "B's lock OFD left the table");
	/* Access mode: a write lock needs a writable fd. */
	ok(open_node(FUSE_OPEN, f.nodeid, O_RDONLY, &fhro) == 0 &&
		lk(FUSE_SETLK, f.nodeid, fhro, B, F_WRLCK, 0, 1, 222) ==
		    -EBADF,
	    "write lock through an O_RDONLY fh: EBADF");
	is_int(lk(FUSE_SETLK, f.nodeid, o.fh, B, 77, 0, 1, 222), -EINVAL,
	    "bad lock type: EINVAL");
	is_int(lk(FUSE_SETLK, f.nodeid + 0x100000000ULL, o.fh, B, F_RDLCK, 0,
		   1, 222),
	    -EBADF, "fh of another nodeid: EBADF");
	/* flock: per open file (fh), released by RELEASE. */
	{
		struct lkreq q = {.opcode = FUSE_SETLK,
		    .nodeid = f.nodeid,
		    .fh = o.fh,
		    .owner = 1,
		    .type = F_WRLCK,
		    .lk_flags = FUSE_LK_FLOCK};
		struct args a = {.len = 0};
		struct fuse_release_in ri = {.release_flags =
						 FUSE_RELEASE_FLOCK_UNLOCK,
		    .lock_owner = 2};

		open_node(FUSE_OPEN, f.nodeid, O_RDWR, &fh2);
		is_int(lk_send(&q), 0, "flock LOCK_EX on fh 1");
		q.fh = fh2;
		q.owner = 2;
		is_int(lk_send(&q), -EAGAIN, "flock LOCK_EX on fh 2: EAGAIN");
		q.fh = o.fh;
		q.owner = 1;
		q.type = F_UNLCK;
		is_int(lk_send(&q), 0, "flock LOCK_UN on fh 1");
		q.fh = fh2;
		q.owner = 2;
		q.type = F_WRLCK;
		is_int(lk_send(&q), 0, "flock LOCK_EX on fh 2 now");
		ri.fh = fh2;
		add(&a, &ri, sizeof(ri));
		send(&rep, FUSE_RELEASE, f.nodeid, &a);
		is_int(err_of(&rep), 0, "RELEASE fh 2 with FLOCK_UNLOCK");
		q.fh = o.fh;
		q.owner = 1;
		is_int(lk_send(&q), 0, "flock on fh 1 after the release");
	}
	release(FUSE_RELEASE, f.nodeid, fhro);
	cur_fs = fs;
}

/* Open fds of this process (the unit test is the worker). */
static int
count_fds(void)
{
	char p[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n += access(p, F_OK) == 0;
	}
	return n;
}

/*
 * One guest boot's worth of state: a directory, files with their lookups
 * and handles kept, a POSIX lock and a flock held. *ret_fds: their fds.
 */
static int
boot_state(const char *dname, int n, int *ret_fds, uint64_t *ret_node,
    uint64_t *ret_fh)
{
	struct fuse_entry_out d, e;
	struct fuse_open_out o;
	char name[32];
	int k = 0;

	if (lookup(1, dname, &d) != 0 && mkdir_as(1, dname, 0755, NULL, &d))
		return -1;
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (create(d.nodeid, name, O_RDWR | O_CREAT, &e, &o) != 0)
			return -1;
		ret_fds[k++] = (int)r.inodes[(e.nodeid & 0xffffffff) - 1].fd;
		ret_fds[k++] = (int)r.handles[(o.fh & 0xffffffff) - 1].fd;
	}
	if (lk(FUSE_SETLK, e.nodeid, o.fh, 0xa1, F_WRLCK, 0, 99, 111) != 0)
		return -1;
	{
		struct lkreq q = {.opcode = FUSE_SETLK, .nodeid = e.nodeid,
		    .fh = o.fh, .owner = 0xb2, .type = F_WRLCK, .pid = 222,
		    .lk_flags = FUSE_LK_FLOCK, .end = INT64_MAX};

		if (lk_send(&q) != 0)
			return -1;
	}
	*ret_node = e.nodeid;
	*ret_fh = o.fh;
	return k;
}

/* The INIT of a new boot, on a stopped device (vu_dispatch.c's mark). */
static int
reboot_init(const struct call *cl, struct fuse_init_out *ret)
{
	struct args a = {.len = 0};
	struct fuse_init_in in = {.major = 7, .minor = 38,
	    .flags = FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS};

	add(&a, &in, sizeof(in));
	send_ex(&rep, FUSE_INIT, 0, &a, cl);
	if (ret != NULL && err_of(&rep) == 0)
		memcpy(ret, rep.body, sizeof(*ret));
	return err_of(&rep);
}

/*
 * Device reset (DESIGN 7, issue 11): the INIT of a new guest boot after a
 * device stop ends the old session (every inode but the root, every
 * handle, lock OFD and lock, the poison and degraded marks) and is
 * answered as the first; a replay after a kill resumes the sweep; 20
 * boots leave the fd table as one does. Without a stop a second INIT is
 * refused and changes nothing.
 */
static void
test_reset(void)
{
	static struct config lc;
	struct journal_slot_rec *slot = region_slot(&r, 1, 1);
	struct call cl = {.slot = slot};
	struct fuse_init_out first, again;
	struct fuse_session *s;
	enum { N = 12 };
	int fds[2 * N + 2], n, still = 0, one_boot = 0, fdn;
	uint64_t node, fh, live_i, live_h, k;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char hp[300];
	int hfd;

	lc = cfg;
	if ((s = ext_session_flags(&lc, FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS))
	    == NULL) {
		ok(0, "lock session");
		return;
	}
	memcpy(&first, rep.body, sizeof(first));
	ok(err_of(&rep) == 0, "first boot: INIT");
	n = boot_state("rz", N, fds, &node, &fh);
	ok(n == 2 * N, "first boot: %d files with lookups, handles, a POSIX "
	    "lock and a flock", N);
	snprintf(hp, sizeof(hp), "%s/rz/f%d", dir, N - 1);
	hfd = open(hp, O_RDWR);
	ok(hfd >= 0 && fcntl(hfd, F_OFD_GETLK, &fl) == 0 &&
	    fl.l_type == F_WRLCK, "the guest's POSIX lock is held on the host");
	live_i = r.ihdr->live;
	live_h = r.hhdr->live;
	r.health->poison[5].key = 0x1234;
	r.health->poison[5].crashes = 2;

	/* Hostile: a second INIT with no stop changes nothing. */
	is_int(reboot_init(NULL, NULL), -EPROTO,
	    "INIT on a live session, no device stop: EPROTO");
	ok(r.ihdr->live == live_i && r.hhdr->live == live_h &&
	    getattr(node, NULL) == 0, "refused INIT: tables and nodeids kept");

	/* A kill in the sweep: the replay resumes at the slot's step. */
	r.fuse->stopped = 1;
	for (k = r.ihdr->high, still = 0; k > 0 && still < N / 2; k--)
		still += r.inodes[k - 1].used == 1;
	memset(slot, 0, sizeof(*slot));
	slot->step = (1ULL << 62) + k;
	cl.replay = true;
	r.hdr->degraded = 1;
	ok(reboot_init(&cl, &again) == 0,
	    "degraded, device stopped: the new boot's INIT (a replay resuming "
	    "the sweep at an inode step) is answered");
	ok(r.fuse->initialized == 1 && r.fuse->stopped == 0 &&
	    r.fuse->sessions == 1 && r.hdr->degraded == 0,
	    "session ended: stop mark cleared, sessions 1, degraded mode left");
	ok(r.hhdr->live == live_h, "replay from the inode step: handles (done "
	    "before the kill) not touched");
	/* What a complete run would have done before the kill: */
	memset(slot, 0, sizeof(*slot));
	cl.replay = false;
	r.fuse->stopped = 1;
	ok(reboot_init(&cl, &again) == 0, "and a full reset after it");
	ok(slot->step > 0, "the sweep committed in chunks (slot step)");
	is_int((int)r.ihdr->live, 1, "only the root inode left");
	is_int((int)r.inodes[0].nlookup, 1, "root back to one lookup");
	is_int((int)r.hhdr->live, 0, "no handle, no lock OFD left");
	is_int((int)r.health->poison[5].key, 0, "poison marks of the old "
	    "boot gone");
	still = 0;
	for (int i = 0; i < n; i++)
		still += fcntl(fds[i], F_GETFD) >= 0;
	is_int(still, 0, "every inode and handle fd of the old boot closed");
	fl.l_type = F_WRLCK;
	fl.l_pid = 0;
	ok(hfd >= 0 && fcntl(hfd, F_OFD_GETLK, &fl) == 0 &&
	    fl.l_type == F_UNLCK, "the old boot's POSIX lock is gone");
	ok(hfd >= 0 && flock(hfd, LOCK_EX | LOCK_NB) == 0 &&
	    flock(hfd, LOCK_UN) == 0, "the old boot's flock is gone");
	if (hfd >= 0)
		close(hfd);
	ok(again.major == first.major && again.minor == first.minor &&
	    again.flags == first.flags && again.max_write == first.max_write &&
	    again.max_pages == first.max_pages,
	    "the new INIT is answered as the first was");
	is_int(getattr(node, NULL), -ESTALE, "old nodeid: ESTALE");
	is_int(release(FUSE_RELEASE, node, fh), -EBADF, "old fh: EBADF");

	/* 20 boots: the fd table ends as after one. */
	for (int b = 0; b < 20; b++) {
		if (boot_state("rz", N, fds, &node, &fh) != 2 * N)
			break;
		r.fuse->stopped = 1;
		memset(slot, 0, sizeof(*slot));
		if (reboot_init(&cl, NULL) != 0)
			break;
		fdn = count_fds();
		if (b == 0)
			one_boot = fdn;
		else if (fdn != one_boot)
			break;
		still = b + 1;
	}
	diag("fds after each boot: %d, as after the first", one_boot);
	is_int(still, 20, "20 boots, each ends its session, fd count as "
	    "after one");
	is_int((int)r.fuse->sessions, 22, "sessions counted");
	ok(r.ihdr->live == 1 && r.hhdr->live == 0, "tables as at start");
	cur_fs = fs;
}

static int
fallocate_(uint64_t nodeid, uint64_t fh, uint64_t off, uint64_t len,
    uint32_t mode)
{
	struct args a = {.len = 0};
	struct fuse_fallocate_in in = {.fh = fh,
	    .offset = off,
	    .length = len,
	    .mode = mode};

	add(&a, &in, sizeof(in));
	send(&rep, FUSE_FALLOCATE, nodeid, &a);
	return err_of(&rep);
}

static uint64_t
handle_flags(uint64_t fh)
{
	return r.handles[(fh & 0xffffffffu) - 1].flags;
}

static void
test_rest(void)
{
	static struct config wc;
	struct fuse_entry_out f, g, t;
	struct fuse_open_out o, og, ot;
	struct args a = {.len = 0};
	char buf[64], hp[300];
	size_t len = 0;
	uint64_t fh;
	struct stat st;

	ok(create(1, "cf", O_RDWR | O_CREAT, &f, &o) == 0 &&
		create(1, "cg", O_RDWR | O_CREAT, &g, &og) == 0 &&
		write_at(f.nodeid, o.fh, 0, "0123456789", NULL) == 0,
	    "files for copy_file_range");
	{
		struct fuse_copy_file_range_in in = {.fh_in = o.fh,
		    .off_in = 2,
		    .nodeid_out = g.nodeid,
		    .fh_out = og.fh,
		    .off_out = 1,
		    .len = 5};
		struct fuse_write_out wo;

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_COPY_FILE_RANGE, f.nodeid, &a);
		memcpy(&wo, rep.body, sizeof(wo));
		ok(err_of(&rep) == 0 && wo.size == 5, "COPY_FILE_RANGE: 5 bytes");
		ok(read_at(g.nodeid, og.fh, 0, 64, 0, buf, &len) == 0 &&
			len == 6 && memcmp(buf + 1, "23456", 5) == 0,
		    "copied at the right offsets");
		a.len = 0;
		in.nodeid_out = f.nodeid;
		add(&a, &in, sizeof(in));
		send(&rep, FUSE_COPY_FILE_RANGE, f.nodeid, &a);
		is_int(err_of(&rep), -EBADF,
		    "COPY_FILE_RANGE with fh_out of another nodeid: EBADF");
		a.len = 0;
	}
	{
		struct fuse_syncfs_in in = {0};

		add(&a, &in, sizeof(in));
		send(&rep, FUSE_SYNCFS, 1, &a);
		is_int(err_of(&rep), 0, "SYNCFS");
		a.len = 0;
	}
	{
		struct fuse_create_in in = {.flags = O_RDWR,
		    .mode = 0640,
		    .umask = 022};

		add(&a, &in, sizeof(in));
		add_str(&a, "/");
		send(&rep, FUSE_TMPFILE, 1, &a);
		memcpy(&t, rep.body, sizeof(t));
		memcpy(&ot, rep.body + sizeof(t), sizeof(ot));
		ok(err_of(&rep) == 0 && S_ISREG(t.attr.mode) &&
			t.attr.nlink == 0 && ot.fh != 0,
		    "TMPFILE: a nameless regular file with a handle");
		ok(write_at(t.nodeid, ot.fh, 0, "tmp", NULL) == 0 &&
			read_at(t.nodeid, ot.fh, 0, 64, 0, buf, &len) == 0 &&
			len == 3,
		    "TMPFILE handle reads and writes");
		{
			struct args l = {.len = 0};
			struct fuse_link_in li = {.oldnodeid = t.nodeid};

			add(&l, &li, sizeof(li));
			add_str(&l, "tmplinked");
			send(&rep, FUSE_LINK, 1, &l);
			ok(err_of(&rep) == 0 && host_exists("tmplinked"),
			    "LINK gives the tmpfile a name");
		}
		a.len = 0;
		in.flags = O_RDONLY;
		add(&a, &in, sizeof(in));
		add_str(&a, "/");
		send(&rep, FUSE_TMPFILE, 1, &a);
		is_int(err_of(&rep), -EINVAL, "TMPFILE read-only: EINVAL");
		a.len = 0;
	}
	send(&rep, FUSE_IOCTL, f.nodeid, NULL);
	is_int(err_of(&rep), -ENOTTY, "IOCTL: ENOTTY");
	send(&rep, FUSE_POLL, f.nodeid, NULL);
	is_int(err_of(&rep), -ENOSYS, "POLL: ENOSYS");
	send(&rep, FUSE_BMAP, f.nodeid, NULL);
	is_int(err_of(&rep), -ENOSYS, "BMAP: ENOSYS");
	send(&rep, FUSE_SETUPMAPPING, f.nodeid, NULL);
	is_int(err_of(&rep), -ENOSYS, "SETUPMAPPING: ENOSYS");
	send(&rep, FUSE_REMOVEMAPPING, f.nodeid, NULL);
	is_int(err_of(&rep), -ENOSYS, "REMOVEMAPPING: ENOSYS");

	/* FALLOCATE: every host mode; data-moving ones only with a ring. */
	is_int(fallocate_(f.nodeid, o.fh, 0, 4096, FALLOC_FL_ZERO_RANGE), 0,
	    "FALLOCATE ZERO_RANGE");
	snprintf(hp, sizeof(hp), "%s/cf", dir);
	ok(stat(hp, &st) == 0 && st.st_size == 4096,
	    "ZERO_RANGE without KEEP_SIZE grew the file");
	is_int(fallocate_(f.nodeid, o.fh, 0, 100,
		   FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE),
	    0, "FALLOCATE ZERO_RANGE|KEEP_SIZE");
	is_int(fallocate_(f.nodeid, o.fh, 0, 4096, FALLOC_FL_COLLAPSE_RANGE),
	    -EOPNOTSUPP, "COLLAPSE_RANGE without the io_uring record refused");
	is_int(fallocate_(f.nodeid, o.fh, 0, 4096, 0x8000), -EOPNOTSUPP,
	    "unknown FALLOCATE mode: EOPNOTSUPP");
	{
		struct args l = {.len = 0};
		struct fuse_lseek_in li = {.fh = o.fh,
		    .offset = 0,
		    .whence = SEEK_HOLE};
		struct fuse_lseek_out lo;

		add(&l, &li, sizeof(li));
		send(&rep, FUSE_LSEEK, f.nodeid, &l);
		memcpy(&lo, rep.body, sizeof(lo));
		ok(err_of(&rep) == 0 && lo.offset <= 4096, "LSEEK SEEK_HOLE");
	}

	/* --writeback, --preserve-noatime as the host open sees them. */
	ok(open_node(FUSE_OPEN, f.nodeid, O_WRONLY | O_NOATIME, &fh) == 0 &&
		(handle_flags(fh) & O_ACCMODE) == O_WRONLY &&
		!(handle_flags(fh) & O_NOATIME),
	    "default: O_WRONLY kept, O_NOATIME dropped");
	release(FUSE_RELEASE, f.nodeid, fh);
	wc = cfg;
	wc.writeback = true;
	wc.preserve_noatime = true;
	if (ext_session_flags(&wc, FUSE_WRITEBACK_CACHE) == NULL) {
		ok(0, "writeback session");
		return;
	}
	ok(r.fuse->flags & FUSE_WRITEBACK_CACHE, "FUSE_WRITEBACK_CACHE");
	ok(open_node(FUSE_OPEN, f.nodeid, O_WRONLY | O_NOATIME | O_APPEND,
	       &fh) == 0 &&
		(handle_flags(fh) & O_ACCMODE) == O_RDWR &&
		(handle_flags(fh) & O_NOATIME) &&
		!(handle_flags(fh) & O_APPEND),
	    "writeback: O_WRONLY opened O_RDWR, no O_APPEND; "
	    "--preserve-noatime keeps O_NOATIME");
	release(FUSE_RELEASE, f.nodeid, fh);
	cur_fs = fs;
}

static void
test_secctx(void)
{
	static struct config sc;
	struct args a = {.len = 0};
	struct fuse_mkdir_in mi = {.mode = 0755, .umask = 022};
	const char *label = "system_u:object_r:tmp_t:s0";
	struct fuse_secctx_header sh;
	struct fuse_secctx sx = {.size = (uint32_t)strlen(label) + 1};
	char hp[300], buf[100];

	sc = cfg;
	sc.xattr = true;
	sc.security_label = true;
	if (ext_session_flags(&sc, FUSE_INIT_EXT) == NULL) {
		ok(0, "secctx session");
		return;
	}
	/* The kernel asks with flags2; ext_session sent none: set it. */
	r.fuse->flags |= FUSE_SECURITY_CTX;
	sh.nr_secctx = 1;
	sh.size = (uint32_t)(sizeof(sh) + sizeof(sx) + 17 + sx.size);
	add(&a, &mi, sizeof(mi));
	add_str(&a, "labelled");
	add(&a, &sh, sizeof(sh));
	add(&a, &sx, sizeof(sx));
	add_str(&a, "security.selinux");
	add(&a, label, sx.size);
	send(&rep, FUSE_MKDIR, 1, &a);
	is_int(err_of(&rep), 0, "MKDIR with a security context");
	snprintf(hp, sizeof(hp), "%s/labelled", dir);
	ok(getxattr(hp, "security.selinux", buf, sizeof(buf)) ==
		    (ssize_t)sx.size &&
		strcmp(buf, label) == 0,
	    "the context is the new directory's security.selinux");
	r.fuse->flags &= ~FUSE_SECURITY_CTX;
	cur_fs = fs;
}

static void
test_acl_umask(void)
{
	static struct config ac;
	struct {
		uint32_t version;
		struct {
			uint16_t tag, perm;
			uint32_t id;
		} e[3];
	} dacl = {2, {{0x01, 7, ~0u}, {0x04, 5, ~0u}, {0x20, 5, ~0u}}};
	struct fuse_entry_out d;
	struct stat st;
	char hp[300];
	struct call cl = {0};

	ac = cfg;
	ac.xattr = true;
	ac.posix_acl = true;
	if (ext_session_flags(&ac, FUSE_POSIX_ACL) == NULL) {
		ok(0, "acl session");
		return;
	}
	ok(r.fuse->flags & FUSE_POSIX_ACL, "FUSE_POSIX_ACL negotiated");
	snprintf(hp, sizeof(hp), "%s/dacl", dir);
	mkdir(hp, 0755);
	if (setxattr(hp, "system.posix_acl_default", &dacl, sizeof(dacl), 0) <
	    0) {
		ok(1, "# SKIP no ACLs on the test file system");
		cur_fs = fs;
		return;
	}
	if (lookup(1, "dacl", &d) != 0) {
		ok(0, "lookup dacl");
		return;
	}
	{
		struct args a = {.len = 0};
		struct fuse_mkdir_in in = {.mode = 0777, .umask = 077};

		add(&a, &in, sizeof(in));
		add_str(&a, "sub");
		send_ex(&rep, FUSE_MKDIR, d.nodeid, &a, &cl);
		host_stat("dacl/sub", &st);
		ok(err_of(&rep) == 0 && (st.st_mode & 0777) == 0755,
		    "--posix-acl: a default ACL replaces the umask (0%o)",
		    st.st_mode & 0777);
		a.len = 0;
		add(&a, &in, sizeof(in));
		add_str(&a, "plain");
		send_ex(&rep, FUSE_MKDIR, 1, &a, &cl);
		host_stat("plain", &st);
		ok(err_of(&rep) == 0 && (st.st_mode & 0777) == 0700,
		    "without a default ACL the guest's umask applies (0%o)",
		    st.st_mode & 0777);
	}
	cur_fs = fs;
}

/* ==== end issue 3 block ================================================ */

/* ==== issue 9 (findings 2, 3, 6): guest ids, special files, sizes ======= */
/* (owner: the secreq helper; helpers below are this block's own) */

static int
sec_op(uint32_t op, const char *name, uint32_t flags, const struct call *cl)
{
	struct args a = {.len = 0};

	switch (op) {
	case FUSE_CREATE: {
		struct fuse_create_in in = {.flags = flags, .mode = 0755};

		add(&a, &in, sizeof(in));
		break;
	}
	case FUSE_MKDIR: {
		struct fuse_mkdir_in in = {.mode = 0755};

		add(&a, &in, sizeof(in));
		break;
	}
	case FUSE_MKNOD: {
		struct fuse_mknod_in in = {.mode = S_IFREG | 04755};

		add(&a, &in, sizeof(in));
		break;
	}
	}
	add_str(&a, name);
	if (op == FUSE_SYMLINK)
		add_str(&a, "target");
	send_ex(&rep, op, 1, &a, cl);
	return err_of(&rep);
}

/*
 * Finding 2: a caller uid or gid of -1 ("unchanged" to setresuid) ran the
 * request as the daemon (root) under every --translate-uid/-gid mode;
 * then SETATTR 04755 gave a setuid-root host file. Every creation with
 * -1 must be EPERM and leave nothing on the host.
 */
static void
test_sec_ids(void)
{
	static const char *const modes[] = {"", "map:0:100000:65536",
	    "guest:0:500:1", "host:500:0:1", "squash-guest:0:4242:4294967295",
	    "forbid-guest:0:1000 map:1000:1000:1", "map:1000:4294967295:1"};
	static const uint32_t ops[] = {FUSE_CREATE, FUSE_MKDIR, FUSE_MKNOD,
	    FUSE_SYMLINK};
	static struct config ic;
	struct fuse_entry_out e;
	char msg[200];
	int bad = 0, n = 0;

	if (geteuid() != 0) {
		ok(1, "# SKIP not root: creations keep the daemon's ids");
		return;
	}
	chmod(dir, 0777);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		ic = cfg;
		snprintf(ic.translate_uid, sizeof(ic.translate_uid), "%s",
		    modes[m]);
		snprintf(ic.translate_gid, sizeof(ic.translate_gid), "%s",
		    modes[m]);
		if (idmap_setup(&ic, msg, sizeof(msg)) < 0) {
			ok(0, "idmap_setup '%s': %s", modes[m], msg);
			continue;
		}
		for (int who = 0; who < 3; who++) {
			struct call cl = {.uid = who == 1 ? 1000 : UINT32_MAX,
			    .gid = who == 0 ? 1000 : UINT32_MAX};

			/* guest 1000 under the last mode maps to host -1 */
			if (who == 1 && m + 1 < sizeof(modes) / sizeof(*modes))
				cl.uid = 1001;
			for (size_t o = 0; o < sizeof(ops) / sizeof(*ops);
			     o++) {
				int got = sec_op(ops[o], "sec-neg1",
				    O_RDWR | O_CREAT, &cl);

				n++;
				if (got != -EPERM || host_exists("sec-neg1")) {
					if (bad++ < 4)
						diag("mode '%s' uid %d gid %d op %u: "
					    "%d, host file %s", modes[m],
					    (int)cl.uid, (int)cl.gid, ops[o],
					    got, host_exists("sec-neg1") ?
					    "made" : "none");
					name_op(FUSE_UNLINK, 1, "sec-neg1",
					    false);
					name_op(FUSE_RMDIR, 1, "sec-neg1",
					    false);
				}
			}
		}
	}
	ok(bad == 0, "id -1 (or mapped to -1): %d of %d creations refused "
	    "with EPERM under %zu translate modes, nothing made on the host",
	    n - bad, n, sizeof(modes) / sizeof(modes[0]));
	/* SETATTR owner -1 in a field the request sets: refused too. */
	ic = cfg;
	ic.translate_uid[0] = ic.translate_gid[0] = '\0';
	idmap_setup(&ic, msg, sizeof(msg));
	if (sec_op(FUSE_CREATE, "sec-own", O_RDWR | O_CREAT, NULL) == 0) {
		struct args a = {.len = 0};
		struct fuse_setattr_in in = {.valid = FATTR_UID,
		    .uid = UINT32_MAX};

		memcpy(&e, rep.body, sizeof(e));
		add(&a, &in, sizeof(in));
		send(&rep, FUSE_SETATTR, e.nodeid, &a);
		is_int(err_of(&rep), -EPERM, "SETATTR uid -1: EPERM");
	} else {
		ok(0, "CREATE sec-own");
	}
	ok(geteuid() == 0 && getegid() == 0, "ids restored afterwards");
}

struct sec_create_arg {
	const char *name;
	int err;
};

static void *
sec_create_main(void *arg)
{
	struct sec_create_arg *c = arg;

	c->err = sec_op(FUSE_CREATE, c->name, O_WRONLY | O_CREAT, NULL);
	return NULL;
}

/*
 * CREATE without O_EXCL of name; *ret_opened: the host opened the node
 * (inotify IN_OPEN; an O_PATH open is not one). A FIFO without a reader
 * blocked the request for good before the fix: after 5 s it is counted a
 * hang, and a reader set free.
 */
static int
sec_create_special(const char *name, bool *ret_opened, bool *ret_hung)
{
	struct sec_create_arg c = {.name = name, .err = 1};
	char p[256], ev[4096];
	struct timespec ts;
	pthread_t th;
	int in, w;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w = in >= 0 ? inotify_add_watch(in, p, IN_OPEN) : -1;
	*ret_hung = false;
	pthread_create(&th, NULL, sec_create_main, &c);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
		int fd = open(p, O_RDONLY | O_NONBLOCK);

		*ret_hung = true;
		pthread_join(th, NULL);
		if (fd >= 0)
			close(fd);
	}
	*ret_opened = w >= 0 && read(in, ev, sizeof(ev)) > 0;
	if (in >= 0)
		close(in);
	return c.err;
}

/*
 * Finding 3: CREATE without O_EXCL of an existing FIFO or device node
 * opened it on the host (a FIFO blocked the thread; a device's open has
 * side effects). Now: an error at once, the node never opened.
 */
static void
test_sec_special(void)
{
	struct fuse_entry_out e;
	char p[256];
	bool opened, hung;
	int err;

	snprintf(p, sizeof(p), "%s/sec-fifo", dir);
	if (mkfifo(p, 0666) < 0) {
		ok(0, "mkfifo: %s", strerror(errno));
		return;
	}
	err = sec_create_special("sec-fifo", &opened, &hung);
	ok(err < 0 && !hung && !opened,
	    "CREATE (no O_EXCL) of an existing FIFO: %s, %s, %s",
	    err < 0 ? strerror(-err) : "success",
	    hung ? "HUNG (5 s)" : "answered at once",
	    opened ? "the FIFO was opened" : "never opened");
	snprintf(p, sizeof(p), "%s/sec-chr", dir);
	if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) < 0) {
		ok(1, "# SKIP mknod c 1 3: %s", strerror(errno));
	} else {
		err = sec_create_special("sec-chr", &opened, &hung);
		ok(err < 0 && !hung && !opened,
		    "CREATE (no O_EXCL) of a char device 1:3: %s, %s",
		    err < 0 ? strerror(-err) : "success",
		    opened ? "the device was opened" : "never opened");
	}
	/* A regular file is still opened (and truncated) as before. */
	is_int(sec_op(FUSE_CREATE, "sec-reg", O_RDWR | O_CREAT, NULL), 0,
	    "CREATE of a new file");
	is_int(sec_op(FUSE_CREATE, "sec-reg", O_RDWR | O_CREAT | O_TRUNC,
		   NULL), 0, "CREATE (no O_EXCL) of an existing regular file");
	is_int(sec_op(FUSE_CREATE, "sec-reg", O_RDWR | O_CREAT | O_EXCL,
		   NULL), -EEXIST, "CREATE O_EXCL of it: EEXIST");
	is_int(sec_op(FUSE_CREATE, "sec-fifo", O_RDWR | O_CREAT | O_EXCL,
		   NULL), -EEXIST, "CREATE O_EXCL of the FIFO: EEXIST");
	is_int(sec_op(FUSE_CREATE, "m", O_RDWR | O_CREAT, NULL), -EISDIR,
	    "CREATE (no O_EXCL) of a directory: EISDIR");
	(void)e;
}

/*
 * Finding 6: GETXATTR/LISTXATTR sized by the guest: a size above the
 * reply room its buffers have answered EIO (a reply that did not fit)
 * and sized a host read beyond the 64 KiB buffer; now ERANGE, as for a
 * short size, and the value is never written past the room.
 */
static void
test_sec_sizes(void)
{
	static struct config xc;
	static char val[3000];
	struct fuse_entry_out e[2];
	struct fuse_getxattr_in gi;
	struct call small = {.out_size = 16 + 1024};
	struct call hdr_only = {.out_size = 16};
	struct args a;
	char name[300];
	int err;

	xc = cfg;
	xc.xattr = true;
	if (ext_session(&xc) == NULL) {
		ok(0, "xattr session");
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (sec_op(FUSE_CREATE, i ? "sec-y" : "sec-x",
			O_RDWR | O_CREAT, NULL) != 0) {
			ok(0, "xattr files");
			return;
		}
		memcpy(&e[i], rep.body, sizeof(e[i]));
	}
	/* sec-x: one 3000-byte value; sec-y: a 1.8 KiB list (ext4: 4 KiB). */
	memset(val, 'v', sizeof(val));
	err = setxattr_ex(e[0].nodeid, "user.sec", val, sizeof(val), 0, NULL);
	for (int i = 0; i < 12 && err == 0; i++) {
		snprintf(name, sizeof(name), "user.%0140d", i);
		err = setxattr_ex(e[1].nodeid, name, "x", 1, 0, NULL);
	}
	if (err != 0) {
		ok(1, "# SKIP host xattrs: %s", strerror(-err));
		return;
	}
	for (int op = 0; op < 2; op++) {
		const char *what = op == 0 ? "GETXATTR" : "LISTXATTR";

		a.len = 0;
		gi = (struct fuse_getxattr_in){.size = 65536};
		add(&a, &gi, sizeof(gi));
		if (op == 0)
			add_str(&a, "user.sec");
		send_ex(&rep, op == 0 ? FUSE_GETXATTR : FUSE_LISTXATTR,
		    e[op].nodeid, &a, &small);
		ok(err_of(&rep) == -ERANGE,
		    "%s size 65536, 1 KiB of reply room, %s: %s (want "
		    "ERANGE)", what, op == 0 ? "3000-byte value" :
		    "1.8 KiB list", strerror(-err_of(&rep)));
		a.len = 0;
		gi = (struct fuse_getxattr_in){.size = UINT32_MAX};
		add(&a, &gi, sizeof(gi));
		if (op == 0)
			add_str(&a, "user.sec");
		send_ex(&rep, op == 0 ? FUSE_GETXATTR : FUSE_LISTXATTR,
		    e[op].nodeid, &a, NULL);
		ok(err_of(&rep) == 0 && rep.oh.len > sizeof(rep.oh) &&
			rep.oh.len <= sizeof(rep.oh) + 65536,
		    "%s size 0xffffffff: clamped, %u bytes", what,
		    (unsigned)(rep.oh.len - sizeof(rep.oh)));
	}
	a.len = 0;
	gi = (struct fuse_getxattr_in){.size = 100};
	add(&a, &gi, sizeof(gi));
	add_str(&a, "user.sec");
	send_ex(&rep, FUSE_GETXATTR, e[0].nodeid, &a, &hdr_only);
	is_int(err_of(&rep), -ERANGE,
	    "GETXATTR size 100, room for the header only: ERANGE");
}
/* ==== end issue 9 ====================================================== */

int
main(void)
{
	struct region_params p = {.max_inodes = 1000, .max_handles = 100};
	struct stat st;
	int fd;

	if (mkdtemp(dir) == NULL || region_create(&r, &p) < 0)
		skip_all("cannot create a region");
	fd = open(dir, O_PATH | O_DIRECTORY);
	if (fd < 0 || dup2(fd, REGION_FD_ROOT) < 0 || fstat(fd, &st) < 0)
		skip_all("root fd");
	close(fd);
	/* The daemon reaches /proc only through REGION_FD_PROC (no path). */
	fd = open("/proc", O_PATH | O_DIRECTORY);
	if (fd < 0 || dup2(fd, REGION_FD_PROC) < 0)
		skip_all("proc fd");
	close(fd);
	inode_init_region(&r, REGION_FD_ROOT, st.st_dev, st.st_ino);
	handle_init_region(&r);
	memset(&cfg, 0, sizeof(cfg));
	cfg.cache = CONFIG_CACHE_AUTO;
	cfg.readdirplus = true;
	if (fdispatch_init(&fs, &r, &cfg, REGION_FD_ROOT) < 0)
		skip_all("fdispatch_init");
	cur_fs = fs;
	test_init();
	test_decode();
	test_files();
	test_names();
	test_readdirplus_room();
	test_creds();
	test_sec_ids();     /* issue 9 */
	test_sec_special(); /* issue 9 */
	test_forget_destroy();
	test_destroy();
	test_readonly();
	test_xattr();    /* issue 3 */
	test_xattrmap(); /* issue 3 */
	test_locks();    /* issue 3 */
	test_reset();    /* issue 11 */
	test_rest();     /* issue 3 */
	test_secctx();   /* issue 3 */
	test_acl_umask(); /* issue 3 */
	test_sec_sizes();   /* issue 9: its own session, so last */
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("cleanup of %s failed", dir);
	}
	return done_testing();
}
