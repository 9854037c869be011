// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fusec: FUSE requests over vuf virtqueues, shaped as the Linux virtio_fs
 * driver shapes them, with every reply checked. It owns the request
 * buffers (in guest RAM, freed with the request), the unique counter (step
 * 2 like the kernel, low bit left for interrupts), and a stash of requests
 * completed while a sync caller waited for another one. A reply that fails
 * a check sets req->proto, req->error = -EPROTO, counts in
 * fc->proto_errors and leaves its text in fc->err.
 */
#include "fusec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define VAR	  (-1) /* variable-size reply, at most the buffer */

static void
perr(struct fusec *fc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
perr(struct fusec *fc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fc->err, sizeof(fc->err), fmt, ap);
	va_end(ap);
	fc->proto_errors++;
}

const char *
fusec_opname(uint32_t op)
{
	static char buf[16];
	static const char *const names[] = {
		[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET",
		[FUSE_GETATTR] = "GETATTR", [FUSE_SETATTR] = "SETATTR",
		[FUSE_READLINK] = "READLINK", [FUSE_SYMLINK] = "SYMLINK",
		[FUSE_MKNOD] = "MKNOD", [FUSE_MKDIR] = "MKDIR",
		[FUSE_UNLINK] = "UNLINK", [FUSE_RMDIR] = "RMDIR",
		[FUSE_RENAME] = "RENAME", [FUSE_LINK] = "LINK",
		[FUSE_OPEN] = "OPEN", [FUSE_READ] = "READ",
		[FUSE_WRITE] = "WRITE", [FUSE_STATFS] = "STATFS",
		[FUSE_RELEASE] = "RELEASE", [FUSE_FSYNC] = "FSYNC",
		[FUSE_SETXATTR] = "SETXATTR", [FUSE_GETXATTR] = "GETXATTR",
		[FUSE_LISTXATTR] = "LISTXATTR",
		[FUSE_REMOVEXATTR] = "REMOVEXATTR", [FUSE_FLUSH] = "FLUSH",
		[FUSE_INIT] = "INIT", [FUSE_OPENDIR] = "OPENDIR",
		[FUSE_READDIR] = "READDIR", [FUSE_RELEASEDIR] = "RELEASEDIR",
		[FUSE_FSYNCDIR] = "FSYNCDIR", [FUSE_ACCESS] = "ACCESS",
		[FUSE_CREATE] = "CREATE", [FUSE_DESTROY] = "DESTROY",
		[FUSE_BATCH_FORGET] = "BATCH_FORGET",
		[FUSE_FALLOCATE] = "FALLOCATE",
		[FUSE_READDIRPLUS] = "READDIRPLUS", [FUSE_RENAME2] = "RENAME2",
		[FUSE_LSEEK] = "LSEEK",
	};

	if (op < sizeof(names) / sizeof(names[0]) && names[op])
		return names[op];
	snprintf(buf, sizeof(buf), "OP%u", op);
	return buf;
}

/* Exact reply-args size when the opcode fixes it, else VAR. */
static long
reply_size(uint32_t op)
{
	switch (op) {
	case FUSE_LOOKUP:
	case FUSE_MKDIR:
	case FUSE_MKNOD:
	case FUSE_SYMLINK:
	case FUSE_LINK:
		return sizeof(struct fuse_entry_out);
	case FUSE_GETATTR:
	case FUSE_SETATTR:
		return sizeof(struct fuse_attr_out);
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		return sizeof(struct fuse_open_out);
	case FUSE_CREATE:
		return sizeof(struct fuse_entry_out) +
		    sizeof(struct fuse_open_out);
	case FUSE_WRITE:
		return sizeof(struct fuse_write_out);
	case FUSE_STATFS:
		return sizeof(struct fuse_statfs_out);
	case FUSE_LSEEK:
		return sizeof(struct fuse_lseek_out);
	case FUSE_INIT:
		return sizeof(struct fuse_init_out);
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_SETXATTR:
	case FUSE_REMOVEXATTR:
	case FUSE_ACCESS:
	case FUSE_FALLOCATE:
	case FUSE_DESTROY:
		return 0;
	default:
		return VAR;
	}
}

int
fusec_new(struct vuf_dev *d, struct fusec **ret)
{
	struct fusec *fc = calloc(1, sizeof(*fc));

	if (fc == NULL)
		return -ENOMEM;
	fc->dev = d;
	fc->qidx = d->nvq > 1 ? 1 : 0;
	fc->next_unique = 2;
	fc->timeout_ms = 5000;
	fc->indirect = d->o.indirect;
	*ret = fc;
	return 0;
}

void
fusec_free(struct fusec *fc)
{
	struct fusec_req *r, *n;

	if (fc == NULL)
		return;
	for (r = fc->stash_head; r; r = n) {
		n = r->next;
		fusec_req_free(r);
	}
	free(fc);
}

struct fusec_req *
fusec_req_new(struct fusec *fc, uint32_t opcode, uint64_t nodeid,
    const struct iovec *args, unsigned nargs, size_t wlen, size_t out_cap,
    size_t rlen)
{
	struct fusec_req *req = calloc(1, sizeof(*req));
	size_t in_len = sizeof(struct fuse_in_header), off;

	if (req == NULL)
		return NULL;
	for (unsigned i = 0; i < nargs; i++)
		in_len += args[i].iov_len;
	req->fc = fc;
	req->opcode = opcode;
	req->nodeid = nodeid;
	req->qidx = fc->qidx;
	req->in_len = in_len;
	req->out_cap = out_cap;
	req->wlen = wlen;
	req->rlen = rlen;
	off = (in_len + 63) & ~(size_t)63;
	req->blk_len = off + sizeof(struct fuse_out_header) + out_cap;
	req->blk = vuf_alloc(fc->dev, req->blk_len);
	if (req->blk == NULL)
		goto fail;
	if (wlen && (req->wdata = vuf_alloc(fc->dev, wlen)) == NULL)
		goto fail;
	if (rlen && (req->rdata = vuf_alloc(fc->dev, rlen)) == NULL)
		goto fail;
	req->ih = (struct fuse_in_header *)req->blk;
	req->oh = (struct fuse_out_header *)(req->blk + off);
	req->unique = fc->next_unique;
	fc->next_unique += 2;
	req->ih->len = (uint32_t)(in_len + wlen);
	req->ih->opcode = opcode;
	req->ih->unique = req->unique;
	req->ih->nodeid = nodeid;
	req->ih->uid = 0;
	req->ih->gid = 0;
	req->ih->pid = 1;
	off = sizeof(struct fuse_in_header);
	for (unsigned i = 0; i < nargs; i++) {
		memcpy(req->blk + off, args[i].iov_base, args[i].iov_len);
		off += args[i].iov_len;
	}
	return req;
fail:
	fusec_req_free(req);
	return NULL;
}

void
fusec_req_free(struct fusec_req *req)
{
	struct vuf_dev *d;

	if (req == NULL)
		return;
	d = req->fc->dev;
	vuf_free(d, req->blk, req->blk_len);
	vuf_free(d, req->wdata, req->wlen);
	vuf_free(d, req->rdata, req->rlen);
	free(req);
}

/* Append [p, p+len) as one buffer, or as 4 KiB pieces like page arrays. */
static unsigned
add_bufs(struct vuf_buf *b, unsigned n, unsigned max, uint8_t *p, size_t len,
    bool split)
{
	while (len > 0 && n < max) {
		size_t k = split ? MIN(len, (size_t)4096) : len;

		if (n + 1 == max)
			k = len;
		b[n].p = p;
		b[n].len = (uint32_t)k;
		n++;
		p += k;
		len -= k;
	}
	return n;
}

int
fusec_submit(struct fusec *fc, struct fusec_req *req)
{
	struct vuf_vq *vq = &fc->dev->vq[req->qidx];
	struct vuf_buf b[64];
	unsigned nout, n = 0;
	size_t args = req->in_len - sizeof(struct fuse_in_header);
	int r;

	if (fc->dev->closed)
		return -EPIPE;
	b[n++] = (struct vuf_buf){req->blk, sizeof(struct fuse_in_header)};
	if (args)
		b[n++] = (struct vuf_buf){req->blk +
		    sizeof(struct fuse_in_header), (uint32_t)args};
	n = add_bufs(b, n, 32, req->wdata, req->wlen, fc->split_pages);
	nout = n;
	if (!req->noreply) {
		b[n++] = (struct vuf_buf){(uint8_t *)req->oh,
		    sizeof(struct fuse_out_header)};
		if (req->out_cap)
			b[n++] = (struct vuf_buf){(uint8_t *)(req->oh + 1),
			    (uint32_t)req->out_cap};
		n = add_bufs(b, n, 64, req->rdata, req->rlen,
		    fc->split_pages);
	}
	r = vuf_vq_add(vq, b, nout, n - nout, req, fc->indirect);
	if (r < 0)
		return r;
	req->done = false;
	fc->inflight++;
	r = vuf_vq_kick(vq);
	return r < 0 ? r : 0;
}

static void
check_reply(struct fusec *fc, struct fusec_req *req, uint32_t used_len)
{
	const struct fuse_out_header *oh = req->oh;
	size_t cap = req->out_cap + req->rlen;
	long want;

	req->done = true;
	req->used_len = used_len;
	req->error = 0;
	req->proto = false;
	req->reply = req->out_cap ? (void *)(req->oh + 1) : (void *)req->rdata;
	if (req->noreply) {
		if (used_len != 0) {
			perr(fc, "%s unique %llu: no-reply request completed "
			    "with used len %u", fusec_opname(req->opcode),
			    (unsigned long long)req->unique, used_len);
			goto bad;
		}
		return;
	}
	if (used_len < sizeof(*oh)) {
		perr(fc, "%s unique %llu: used len %u < out header",
		    fusec_opname(req->opcode), (unsigned long long)req->unique,
		    used_len);
		goto bad;
	}
	if (used_len > sizeof(*oh) + cap) {
		perr(fc, "%s: used len %u beyond the writable %zu bytes",
		    fusec_opname(req->opcode), used_len, sizeof(*oh) + cap);
		goto bad;
	}
	if (oh->len != used_len) {
		perr(fc, "%s unique %llu: out_header.len %u != used len %u",
		    fusec_opname(req->opcode), (unsigned long long)req->unique,
		    oh->len, used_len);
		goto bad;
	}
	if (oh->unique != req->unique) {
		perr(fc, "%s: unique %llu, want %llu",
		    fusec_opname(req->opcode), (unsigned long long)oh->unique,
		    (unsigned long long)req->unique);
		goto bad;
	}
	if (oh->error > 0 || oh->error < -4095) {
		perr(fc, "%s: error field %d", fusec_opname(req->opcode),
		    oh->error);
		goto bad;
	}
	req->reply_len = oh->len - sizeof(*oh);
	if (oh->error) {
		if (req->reply_len) {
			perr(fc, "%s: error %d with %zu payload bytes",
			    fusec_opname(req->opcode), oh->error,
			    req->reply_len);
			goto bad;
		}
		req->error = oh->error;
		return;
	}
	want = reply_size(req->opcode);
	if (want != VAR && req->reply_len != (size_t)want) {
		perr(fc, "%s: reply of %zu bytes, want %ld",
		    fusec_opname(req->opcode), req->reply_len, want);
		goto bad;
	}
	return;
bad:
	req->proto = true;
	req->error = -EPROTO;
}

/* Harvest every queue; completed requests go to the stash. */
static int
harvest(struct fusec *fc)
{
	struct vuf_used u[64];
	int total = 0;

	for (unsigned q = 0; q < fc->dev->nvq; q++) {
		struct vuf_vq *vq = &fc->dev->vq[q];
		int n;

		do {
			n = vuf_vq_harvest(vq, u, 64);
			for (int i = 0; i < n; i++) {
				struct fusec_req *req = u[i].cookie;

				if (u[i].bad) {
					perr(fc, "%s", fc->dev->err);
					continue;
				}
				if (req == NULL)
					continue; /* raw chain from a test */
				fc->inflight--;
				fc->completed++;
				check_reply(fc, req, u[i].len);
				req->lat_ns = u[i].lat_ns;
				if (req->abandoned) {
					fusec_req_free(req);
					continue;
				}
				req->next = NULL;
				if (fc->stash_tail)
					fc->stash_tail->next = req;
				else
					fc->stash_head = req;
				fc->stash_tail = req;
				total++;
			}
		} while (n == 64);
	}
	return total;
}

static unsigned
stash_take(struct fusec *fc, struct fusec_req **out, unsigned max)
{
	unsigned n = 0;

	while (fc->stash_head && n < max) {
		out[n++] = fc->stash_head;
		fc->stash_head = fc->stash_head->next;
	}
	if (fc->stash_head == NULL)
		fc->stash_tail = NULL;
	return n;
}

int
fusec_poll(struct fusec *fc, int timeout_ms, struct fusec_req **out,
    unsigned max)
{
	int r;

	harvest(fc);
	if (fc->stash_head)
		return (int)stash_take(fc, out, max);
	r = vuf_wait_any(fc->dev, timeout_ms);
	if (r < 0 && !fc->stash_head) {
		harvest(fc);
		if (!fc->stash_head)
			return r;
	}
	harvest(fc);
	return (int)stash_take(fc, out, max);
}

int
fusec_call(struct fusec *fc, struct fusec_req *req)
{
	int r;

	r = fusec_submit(fc, req);
	if (r < 0)
		return r;
	return fusec_wait(fc, req, fc->timeout_ms);
}

int
fusec_wait(struct fusec *fc, struct fusec_req *req, int timeout_ms)
{
	uint64_t deadline;
	int r;

	deadline = vuf_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t now;

		harvest(fc);
		if (req->done) {
			/* Unlink it from the stash. */
			struct fusec_req **pp = &fc->stash_head, *prev = NULL;

			while (*pp && *pp != req) {
				prev = *pp;
				pp = &(*pp)->next;
			}
			if (*pp) {
				*pp = req->next;
				if (fc->stash_tail == req)
					fc->stash_tail = prev;
			}
			return req->error;
		}
		now = vuf_now_ns();
		if (now >= deadline) {
			req->abandoned = true;
			return -ETIMEDOUT;
		}
		r = vuf_wait_any(fc->dev,
		    (int)((deadline - now) / 1000000 + 1));
		if (r < 0) {
			harvest(fc);
			if (req->done)
				continue;
			req->abandoned = true;
			return r;
		}
	}
}

/* Sync call; on success copy min(reply, len) into ret. Frees req unless
 * it was abandoned. Returns error or the reply length. */
static int
call_copy(struct fusec *fc, struct fusec_req *req, void *ret, size_t len)
{
	int r;

	if (req == NULL)
		return -ENOMEM;
	r = fusec_call(fc, req);
	if (r == -ETIMEDOUT || (r == -EPIPE && req->abandoned))
		return r;
	if (r == 0) {
		r = (int)req->reply_len;
		if (ret && len)
			memcpy(ret, req->reply, MIN(len, req->reply_len));
	}
	fusec_req_free(req);
	return r;
}

#define IOV(p, l) ((struct iovec){.iov_base = (void *)(uintptr_t)(p), \
	.iov_len = (l)})

/* ---- builders ---- */

struct fusec_req *
fusec_req_init(struct fusec *fc)
{
	/* What fuse_send_init() asks for on a virtio_fs mount, minus the
	 * flags that change request layouts we do not build (SECURITY_CTX,
	 * CREATE_SUPP_GROUP) and DAX. */
	uint64_t flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS |
	    FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES |
	    FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE |
	    FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR |
	    FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |
	    FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE |
	    FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS |
	    FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL | FUSE_ABORT_ERROR |
	    FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT |
	    FUSE_EXPLICIT_INVAL_DATA | FUSE_HANDLE_KILLPRIV_V2 |
	    FUSE_SETXATTR_EXT | FUSE_INIT_EXT | FUSE_SUBMOUNTS;
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = 128 * 1024,
		.flags = (uint32_t)flags,
		.flags2 = (uint32_t)(flags >> 32),
	};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, FUSE_INIT, 0, &a, 1, 0,
	    sizeof(struct fuse_init_out), 0);
}

struct fusec_req *
fusec_req_getattr(struct fusec *fc, uint64_t nodeid)
{
	struct fuse_getattr_in in = {0};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, FUSE_GETATTR, nodeid, &a, 1, 0,
	    sizeof(struct fuse_attr_out), 0);
}

struct fusec_req *
fusec_req_lookup(struct fusec *fc, uint64_t parent, const char *name)
{
	struct iovec a = IOV(name, strlen(name) + 1);

	return fusec_req_new(fc, FUSE_LOOKUP, parent, &a, 1, 0,
	    sizeof(struct fuse_entry_out), 0);
}

struct fusec_req *
fusec_req_forget(struct fusec *fc, uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_forget_in in = {.nlookup = nlookup};
	struct iovec a = IOV(&in, sizeof(in));
	struct fusec_req *req;

	req = fusec_req_new(fc, FUSE_FORGET, nodeid, &a, 1, 0, 0, 0);
	if (req) {
		req->noreply = true;
		req->qidx = 0;
	}
	return req;
}

struct fusec_req *
fusec_req_read(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    uint32_t size)
{
	struct fuse_read_in in = {.fh = fh, .offset = off, .size = size};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, FUSE_READ, nodeid, &a, 1, 0, 0, size);
}

struct fusec_req *
fusec_req_write(struct fusec *fc, uint64_t nodeid, uint64_t fh,
    uint64_t off, uint32_t size)
{
	struct fuse_write_in in = {.fh = fh, .offset = off, .size = size};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, FUSE_WRITE, nodeid, &a, 1, size,
	    sizeof(struct fuse_write_out), 0);
}

struct fusec_req *
fusec_req_create(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t flags, uint32_t mode)
{
	struct fuse_create_in in = {.flags = flags, .mode = mode,
	    .umask = 022};
	struct iovec a[2] = {IOV(&in, sizeof(in)),
	    IOV(name, strlen(name) + 1)};

	return fusec_req_new(fc, FUSE_CREATE, parent, a, 2, 0,
	    sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out), 0);
}

struct fusec_req *
fusec_req_mknod(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t mode, uint32_t rdev)
{
	struct fuse_mknod_in in = {.mode = mode, .rdev = rdev, .umask = 022};
	struct iovec a[2] = {IOV(&in, sizeof(in)),
	    IOV(name, strlen(name) + 1)};

	return fusec_req_new(fc, FUSE_MKNOD, parent, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0);
}

struct fusec_req *
fusec_req_unlink(struct fusec *fc, uint64_t parent, const char *name)
{
	struct iovec a = IOV(name, strlen(name) + 1);

	return fusec_req_new(fc, FUSE_UNLINK, parent, &a, 1, 0, 0, 0);
}

struct fusec_req *
fusec_req_release(struct fusec *fc, uint64_t nodeid, uint64_t fh, bool dir)
{
	struct fuse_release_in in = {.fh = fh};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, nodeid,
	    &a, 1, 0, 0, 0);
}

struct fusec_req *
fusec_req_open(struct fusec *fc, uint64_t nodeid, uint32_t flags, bool dir)
{
	struct fuse_open_in in = {.flags = flags};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, dir ? FUSE_OPENDIR : FUSE_OPEN, nodeid, &a,
	    1, 0, sizeof(struct fuse_open_out), 0);
}

struct fusec_req *
fusec_req_readdir(struct fusec *fc, uint64_t nodeid, uint64_t fh,
    uint64_t off, uint32_t size, bool plus)
{
	struct fuse_read_in in = {.fh = fh, .offset = off, .size = size};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, plus ? FUSE_READDIRPLUS : FUSE_READDIR,
	    nodeid, &a, 1, 0, 0, size);
}

/* ---- sync helpers ---- */

int
fusec_init(struct fusec *fc)
{
	struct fuse_init_out out = {0};
	int r;

	r = call_copy(fc, fusec_req_init(fc), &out, sizeof(out));
	if (r < 0)
		return r;
	if (out.major != FUSE_KERNEL_VERSION) {
		snprintf(fc->err, sizeof(fc->err), "INIT: major %u",
		    out.major);
		return -EPROTO;
	}
	fc->init = out;
	fc->inited = true;
	return 0;
}

int
fusec_lookup(struct fusec *fc, uint64_t parent, const char *name,
    struct fuse_entry_out *ret)
{
	int r = call_copy(fc, fusec_req_lookup(fc, parent, name), ret,
	    sizeof(*ret));

	return r < 0 ? r : 0;
}

int
fusec_forget(struct fusec *fc, uint64_t nodeid, uint64_t nlookup)
{
	int r = call_copy(fc, fusec_req_forget(fc, nodeid, nlookup), NULL, 0);

	return r < 0 ? r : 0;
}

int
fusec_batch_forget(struct fusec *fc, const struct fuse_forget_one *v,
    unsigned n)
{
	struct fuse_batch_forget_in in = {.count = n};
	struct iovec a[2] = {IOV(&in, sizeof(in)), IOV(v, sizeof(*v) * n)};
	struct fusec_req *req;
	int r;

	req = fusec_req_new(fc, FUSE_BATCH_FORGET, 0, a, 2, 0, 0, 0);
	if (req) {
		req->noreply = true;
		req->qidx = 0;
	}
	r = call_copy(fc, req, NULL, 0);
	return r < 0 ? r : 0;
}

int
fusec_getattr(struct fusec *fc, uint64_t nodeid, struct fuse_attr_out *ret)
{
	int r = call_copy(fc, fusec_req_getattr(fc, nodeid), ret,
	    sizeof(*ret));

	return r < 0 ? r : 0;
}

int
fusec_setattr(struct fusec *fc, uint64_t nodeid,
    const struct fuse_setattr_in *in, struct fuse_attr_out *ret)
{
	struct iovec a = IOV(in, sizeof(*in));
	int r = call_copy(fc, fusec_req_new(fc, FUSE_SETATTR, nodeid, &a, 1,
	    0, sizeof(struct fuse_attr_out), 0), ret, ret ? sizeof(*ret) : 0);

	return r < 0 ? r : 0;
}

static int
entry_op(struct fusec *fc, uint32_t op, uint64_t parent, const void *arg,
    size_t arglen, const char *name, const char *name2,
    struct fuse_entry_out *ret)
{
	struct iovec a[3];
	unsigned n = 0;
	int r;

	if (arglen)
		a[n++] = IOV(arg, arglen);
	a[n++] = IOV(name, strlen(name) + 1);
	if (name2)
		a[n++] = IOV(name2, strlen(name2) + 1);
	r = call_copy(fc, fusec_req_new(fc, op, parent, a, n, 0,
	    sizeof(struct fuse_entry_out), 0), ret, ret ? sizeof(*ret) : 0);
	return r < 0 ? r : 0;
}

int
fusec_mkdir(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t mode, struct fuse_entry_out *ret)
{
	struct fuse_mkdir_in in = {.mode = mode, .umask = 022};

	return entry_op(fc, FUSE_MKDIR, parent, &in, sizeof(in), name, NULL,
	    ret);
}

int
fusec_mknod(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t mode, uint32_t rdev, struct fuse_entry_out *ret)
{
	int r = call_copy(fc, fusec_req_mknod(fc, parent, name, mode, rdev),
	    ret, ret ? sizeof(*ret) : 0);

	return r < 0 ? r : 0;
}

int
fusec_symlink(struct fusec *fc, uint64_t parent, const char *name,
    const char *target, struct fuse_entry_out *ret)
{
	return entry_op(fc, FUSE_SYMLINK, parent, NULL, 0, name, target, ret);
}

int
fusec_link(struct fusec *fc, uint64_t nodeid, uint64_t newparent,
    const char *newname, struct fuse_entry_out *ret)
{
	struct fuse_link_in in = {.oldnodeid = nodeid};

	return entry_op(fc, FUSE_LINK, newparent, &in, sizeof(in), newname,
	    NULL, ret);
}

int
fusec_readlink(struct fusec *fc, uint64_t nodeid, char *buf, size_t size)
{
	int r = call_copy(fc, fusec_req_new(fc, FUSE_READLINK, nodeid, NULL,
	    0, 0, 0, size), buf, size);

	if (r >= 0 && (size_t)r < size)
		buf[r] = '\0';
	return r;
}

static int
name_op(struct fusec *fc, uint32_t op, uint64_t nodeid, const void *arg,
    size_t arglen, const char *name, const char *name2)
{
	struct iovec a[3];
	unsigned n = 0;
	int r;

	if (arglen)
		a[n++] = IOV(arg, arglen);
	if (name)
		a[n++] = IOV(name, strlen(name) + 1);
	if (name2)
		a[n++] = IOV(name2, strlen(name2) + 1);
	r = call_copy(fc, fusec_req_new(fc, op, nodeid, a, n, 0, 0, 0), NULL,
	    0);
	return r < 0 ? r : 0;
}

int
fusec_unlink(struct fusec *fc, uint64_t parent, const char *name)
{
	return name_op(fc, FUSE_UNLINK, parent, NULL, 0, name, NULL);
}

int
fusec_rmdir(struct fusec *fc, uint64_t parent, const char *name)
{
	return name_op(fc, FUSE_RMDIR, parent, NULL, 0, name, NULL);
}

int
fusec_rename(struct fusec *fc, uint64_t olddir, const char *oldname,
    uint64_t newdir, const char *newname)
{
	struct fuse_rename_in in = {.newdir = newdir};

	return name_op(fc, FUSE_RENAME, olddir, &in, sizeof(in), oldname,
	    newname);
}

int
fusec_rename2(struct fusec *fc, uint64_t olddir, const char *oldname,
    uint64_t newdir, const char *newname, uint32_t flags)
{
	struct fuse_rename2_in in = {.newdir = newdir, .flags = flags};

	return name_op(fc, FUSE_RENAME2, olddir, &in, sizeof(in), oldname,
	    newname);
}

int
fusec_open(struct fusec *fc, uint64_t nodeid, uint32_t flags,
    struct fuse_open_out *ret)
{
	int r = call_copy(fc, fusec_req_open(fc, nodeid, flags, false), ret,
	    ret ? sizeof(*ret) : 0);

	return r < 0 ? r : 0;
}

int
fusec_opendir(struct fusec *fc, uint64_t nodeid, struct fuse_open_out *ret)
{
	int r = call_copy(fc, fusec_req_open(fc, nodeid, 0, true), ret,
	    ret ? sizeof(*ret) : 0);

	return r < 0 ? r : 0;
}

int
fusec_create(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t flags, uint32_t mode, struct fuse_entry_out *ret_entry,
    struct fuse_open_out *ret_open)
{
	uint8_t buf[sizeof(struct fuse_entry_out) +
	    sizeof(struct fuse_open_out)];
	int r = call_copy(fc, fusec_req_create(fc, parent, name, flags, mode),
	    buf, sizeof(buf));

	if (r < 0)
		return r;
	if (ret_entry)
		memcpy(ret_entry, buf, sizeof(*ret_entry));
	if (ret_open)
		memcpy(ret_open, buf + sizeof(struct fuse_entry_out),
		    sizeof(*ret_open));
	return 0;
}

int
fusec_read(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    void *buf, uint32_t size)
{
	return call_copy(fc, fusec_req_read(fc, nodeid, fh, off, size), buf,
	    size);
}

int
fusec_write(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    const void *buf, uint32_t size)
{
	struct fuse_write_out out = {0};
	struct fusec_req *req = fusec_req_write(fc, nodeid, fh, off, size);
	int r;

	if (req == NULL)
		return -ENOMEM;
	memcpy(req->wdata, buf, size);
	r = call_copy(fc, req, &out, sizeof(out));
	return r < 0 ? r : (int)out.size;
}

int
fusec_release(struct fusec *fc, uint64_t nodeid, uint64_t fh)
{
	int r = call_copy(fc, fusec_req_release(fc, nodeid, fh, false), NULL,
	    0);

	return r < 0 ? r : 0;
}

int
fusec_releasedir(struct fusec *fc, uint64_t nodeid, uint64_t fh)
{
	int r = call_copy(fc, fusec_req_release(fc, nodeid, fh, true), NULL,
	    0);

	return r < 0 ? r : 0;
}

int
fusec_flush(struct fusec *fc, uint64_t nodeid, uint64_t fh)
{
	struct fuse_flush_in in = {.fh = fh};

	return name_op(fc, FUSE_FLUSH, nodeid, &in, sizeof(in), NULL, NULL);
}

int
fusec_fsync(struct fusec *fc, uint64_t nodeid, uint64_t fh, bool datasync)
{
	struct fuse_fsync_in in = {.fh = fh,
	    .fsync_flags = datasync ? FUSE_FSYNC_FDATASYNC : 0};

	return name_op(fc, FUSE_FSYNC, nodeid, &in, sizeof(in), NULL, NULL);
}

int
fusec_readdir(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    void *buf, uint32_t size, bool plus)
{
	return call_copy(fc, fusec_req_readdir(fc, nodeid, fh, off, size,
	    plus), buf, size);
}

int
fusec_statfs(struct fusec *fc, uint64_t nodeid, struct fuse_statfs_out *ret)
{
	int r = call_copy(fc, fusec_req_new(fc, FUSE_STATFS, nodeid, NULL, 0,
	    0, sizeof(struct fuse_statfs_out), 0), ret, ret ? sizeof(*ret) : 0);

	return r < 0 ? r : 0;
}

int
fusec_access(struct fusec *fc, uint64_t nodeid, uint32_t mask)
{
	struct fuse_access_in in = {.mask = mask};

	return name_op(fc, FUSE_ACCESS, nodeid, &in, sizeof(in), NULL, NULL);
}

int
fusec_fallocate(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    uint64_t len, uint32_t mode)
{
	struct fuse_fallocate_in in = {.fh = fh, .offset = off,
	    .length = len, .mode = mode};

	return name_op(fc, FUSE_FALLOCATE, nodeid, &in, sizeof(in), NULL,
	    NULL);
}

int
fusec_lseek(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    uint32_t whence, uint64_t *ret_off)
{
	struct fuse_lseek_in in = {.fh = fh, .offset = off, .whence = whence};
	struct fuse_lseek_out out = {0};
	struct iovec a = IOV(&in, sizeof(in));
	int r = call_copy(fc, fusec_req_new(fc, FUSE_LSEEK, nodeid, &a, 1, 0,
	    sizeof(out), 0), &out, sizeof(out));

	if (r < 0)
		return r;
	if (ret_off)
		*ret_off = out.offset;
	return 0;
}

int
fusec_getxattr(struct fusec *fc, uint64_t nodeid, const char *name,
    void *buf, uint32_t size)
{
	struct fuse_getxattr_in in = {.size = size};
	struct iovec a[2] = {IOV(&in, sizeof(in)),
	    IOV(name, strlen(name) + 1)};
	struct fuse_getxattr_out out = {0};
	int r;

	if (size == 0) {
		r = call_copy(fc, fusec_req_new(fc, FUSE_GETXATTR, nodeid, a, 2,
		    0, sizeof(out), 0), &out, sizeof(out));
		return r < 0 ? r : (int)out.size;
	}
	return call_copy(fc, fusec_req_new(fc, FUSE_GETXATTR, nodeid, a, 2, 0,
	    0, size), buf, size);
}

int
fusec_listxattr(struct fusec *fc, uint64_t nodeid, void *buf, uint32_t size)
{
	struct fuse_getxattr_in in = {.size = size};
	struct iovec a = IOV(&in, sizeof(in));
	struct fuse_getxattr_out out = {0};
	int r;

	if (size == 0) {
		r = call_copy(fc, fusec_req_new(fc, FUSE_LISTXATTR, nodeid, &a,
		    1, 0, sizeof(out), 0), &out, sizeof(out));
		return r < 0 ? r : (int)out.size;
	}
	return call_copy(fc, fusec_req_new(fc, FUSE_LISTXATTR, nodeid, &a, 1,
	    0, 0, size), buf, size);
}

int
fusec_setxattr(struct fusec *fc, uint64_t nodeid, const char *name,
    const void *val, uint32_t size, uint32_t flags)
{
	struct fuse_setxattr_in in = {.size = size, .flags = flags};
	bool ext = fc->init.flags & FUSE_SETXATTR_EXT;
	struct iovec a[3] = {IOV(&in, ext ? sizeof(in) :
	    FUSE_COMPAT_SETXATTR_IN_SIZE), IOV(name, strlen(name) + 1),
	    IOV(val, size)};
	int r = call_copy(fc, fusec_req_new(fc, FUSE_SETXATTR, nodeid, a, 3,
	    0, 0, 0), NULL, 0);

	return r < 0 ? r : 0;
}

int
fusec_removexattr(struct fusec *fc, uint64_t nodeid, const char *name)
{
	return name_op(fc, FUSE_REMOVEXATTR, nodeid, NULL, 0, name, NULL);
}

int
fusec_destroy(struct fusec *fc)
{
	int r = call_copy(fc, fusec_req_new(fc, FUSE_DESTROY, 0, NULL, 0, 0,
	    0, 0), NULL, 0);

	if (r >= 0)
		fc->inited = false;
	return r < 0 ? r : 0;
}
