/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fusec: a FUSE client over a vuf device, building requests the way the
 * Linux virtio_fs driver does (one chain per request: in header, args,
 * write data readable; out header, reply args or read data writable) and
 * checking every reply (used length = out_header.len, unique matches,
 * error sane, reply size as the opcode demands).
 *
 * Requests: fusec_req_X() builds one (buffers in guest RAM), fusec_submit()
 * publishes it, fusec_poll() returns completed ones (async, any depth), or
 * fusec_call() does submit+wait (sync). The fusec_X() helpers are sync.
 * One thread per fusec; no locks.
 */
#ifndef PHX_FUSEC_H
#define PHX_FUSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/fuse.h>

#include "vuf.h"

struct fusec;

struct fusec_req {
	struct fusec *fc;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	unsigned qidx;	    /* queue it goes to (0 hiprio) */
	bool noreply;	    /* FORGET/BATCH_FORGET: no writable buffers */
	/* guest RAM, owned by the request */
	uint8_t *blk;	    /* in header + args, then out header + args */
	size_t blk_len;
	struct fuse_in_header *ih;
	size_t in_len;	    /* header + args */
	uint8_t *wdata;	    /* write payload (caller fills), or NULL */
	size_t wlen;
	struct fuse_out_header *oh;
	size_t out_cap;	    /* reply-args capacity after out header */
	uint8_t *rdata;	    /* read/readdir/... payload buffer, or NULL */
	size_t rlen;
	/* results, valid once done */
	bool done;
	bool proto;	    /* a reply check failed (see fusec.err) */
	int error;	    /* 0, daemon's -errno, or -EPROTO/-EPIPE */
	uint32_t used_len;
	size_t reply_len;   /* bytes after the out header */
	void *reply;	    /* reply args or read data */
	uint64_t lat_ns;
	bool abandoned;	    /* sync caller gave up; fusec frees on completion */
	/* free for the caller */
	void *user;
	uint64_t u[4];
	struct fusec_req *next;
};

struct fusec {
	struct vuf_dev *dev;
	unsigned qidx;	     /* request queue used by default, >= 1 */
	uint64_t next_unique;
	struct fuse_init_out init;
	bool inited;
	bool indirect;	     /* chains through indirect tables */
	bool split_pages;    /* one descriptor per 4 KiB of data, as pages */
	int timeout_ms;	     /* fusec_call timeout; default 5000 */
	unsigned inflight;
	uint64_t proto_errors; /* bad replies + bad completions */
	uint64_t completed;
	struct fusec_req *stash_head, *stash_tail; /* done, not yet polled */
	char err[256];
};

/* Create a client on d using request queue 1. -ENOMEM. */
int fusec_new(struct vuf_dev *d, struct fusec **ret);
void fusec_free(struct fusec *fc);

/*
 * Build a request: in args are copied after the in header; wlen bytes of
 * write data (fill req->wdata), out_cap bytes of reply args, rlen bytes of
 * reply data. NULL when guest RAM is exhausted.
 */
struct fusec_req *fusec_req_new(struct fusec *fc, uint32_t opcode,
    uint64_t nodeid, const struct iovec *args, unsigned nargs, size_t wlen,
    size_t out_cap, size_t rlen);
void fusec_req_free(struct fusec_req *req);

/* Publish and kick. -ENOSPC when the ring is full, -EPIPE if closed. */
int fusec_submit(struct fusec *fc, struct fusec_req *req);

/*
 * Collect up to max completed requests (checked; see req->error and
 * req->proto). 0 on timeout; -EPIPE when the backend is gone. The caller
 * frees what it gets.
 */
int fusec_poll(struct fusec *fc, int timeout_ms, struct fusec_req **out,
    unsigned max);

/*
 * Submit and wait for this request; others completing meanwhile are kept
 * for fusec_poll. Returns req->error, or -ETIMEDOUT (then fc owns req and
 * frees it if it ever completes) or -EPIPE.
 */
int fusec_call(struct fusec *fc, struct fusec_req *req);

/* Wait for a submitted request, as fusec_call does after submitting. */
int fusec_wait(struct fusec *fc, struct fusec_req *req, int timeout_ms);

/* Builders (async). Names are copied with their NUL. */
struct fusec_req *fusec_req_init(struct fusec *fc);
struct fusec_req *fusec_req_getattr(struct fusec *fc, uint64_t nodeid);
struct fusec_req *fusec_req_lookup(struct fusec *fc, uint64_t parent,
    const char *name);
struct fusec_req *fusec_req_forget(struct fusec *fc, uint64_t nodeid,
    uint64_t nlookup);
struct fusec_req *fusec_req_read(struct fusec *fc, uint64_t nodeid,
    uint64_t fh, uint64_t off, uint32_t size);
struct fusec_req *fusec_req_write(struct fusec *fc, uint64_t nodeid,
    uint64_t fh, uint64_t off, uint32_t size);
struct fusec_req *fusec_req_create(struct fusec *fc, uint64_t parent,
    const char *name, uint32_t flags, uint32_t mode);
struct fusec_req *fusec_req_mknod(struct fusec *fc, uint64_t parent,
    const char *name, uint32_t mode, uint32_t rdev);
struct fusec_req *fusec_req_unlink(struct fusec *fc, uint64_t parent,
    const char *name);
struct fusec_req *fusec_req_release(struct fusec *fc, uint64_t nodeid,
    uint64_t fh, bool dir);
struct fusec_req *fusec_req_open(struct fusec *fc, uint64_t nodeid,
    uint32_t flags, bool dir);
struct fusec_req *fusec_req_readdir(struct fusec *fc, uint64_t nodeid,
    uint64_t fh, uint64_t off, uint32_t size, bool plus);

/* Sync helpers: >= 0 or -errno. INIT must come first. */
int fusec_init(struct fusec *fc);
int fusec_lookup(struct fusec *fc, uint64_t parent, const char *name,
    struct fuse_entry_out *ret);
int fusec_forget(struct fusec *fc, uint64_t nodeid, uint64_t nlookup);
int fusec_batch_forget(struct fusec *fc, const struct fuse_forget_one *v,
    unsigned n);
int fusec_getattr(struct fusec *fc, uint64_t nodeid,
    struct fuse_attr_out *ret);
int fusec_setattr(struct fusec *fc, uint64_t nodeid,
    const struct fuse_setattr_in *in, struct fuse_attr_out *ret);
int fusec_mkdir(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t mode, struct fuse_entry_out *ret);
int fusec_mknod(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t mode, uint32_t rdev, struct fuse_entry_out *ret);
int fusec_symlink(struct fusec *fc, uint64_t parent, const char *name,
    const char *target, struct fuse_entry_out *ret);
int fusec_readlink(struct fusec *fc, uint64_t nodeid, char *buf,
    size_t size);
int fusec_unlink(struct fusec *fc, uint64_t parent, const char *name);
int fusec_rmdir(struct fusec *fc, uint64_t parent, const char *name);
int fusec_rename(struct fusec *fc, uint64_t olddir, const char *oldname,
    uint64_t newdir, const char *newname);
int fusec_rename2(struct fusec *fc, uint64_t olddir, const char *oldname,
    uint64_t newdir, const char *newname, uint32_t flags);
int fusec_link(struct fusec *fc, uint64_t nodeid, uint64_t newparent,
    const char *newname, struct fuse_entry_out *ret);
int fusec_open(struct fusec *fc, uint64_t nodeid, uint32_t flags,
    struct fuse_open_out *ret);
int fusec_opendir(struct fusec *fc, uint64_t nodeid,
    struct fuse_open_out *ret);
int fusec_create(struct fusec *fc, uint64_t parent, const char *name,
    uint32_t flags, uint32_t mode, struct fuse_entry_out *ret_entry,
    struct fuse_open_out *ret_open);
int fusec_read(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    void *buf, uint32_t size);
int fusec_write(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    const void *buf, uint32_t size);
int fusec_release(struct fusec *fc, uint64_t nodeid, uint64_t fh);
int fusec_releasedir(struct fusec *fc, uint64_t nodeid, uint64_t fh);
int fusec_flush(struct fusec *fc, uint64_t nodeid, uint64_t fh);
int fusec_fsync(struct fusec *fc, uint64_t nodeid, uint64_t fh,
    bool datasync);
int fusec_readdir(struct fusec *fc, uint64_t nodeid, uint64_t fh,
    uint64_t off, void *buf, uint32_t size, bool plus);
int fusec_statfs(struct fusec *fc, uint64_t nodeid,
    struct fuse_statfs_out *ret);
int fusec_access(struct fusec *fc, uint64_t nodeid, uint32_t mask);
int fusec_fallocate(struct fusec *fc, uint64_t nodeid, uint64_t fh,
    uint64_t off, uint64_t len, uint32_t mode);
int fusec_lseek(struct fusec *fc, uint64_t nodeid, uint64_t fh, uint64_t off,
    uint32_t whence, uint64_t *ret_off);
int fusec_getxattr(struct fusec *fc, uint64_t nodeid, const char *name,
    void *buf, uint32_t size);
int fusec_listxattr(struct fusec *fc, uint64_t nodeid, void *buf,
    uint32_t size);
int fusec_setxattr(struct fusec *fc, uint64_t nodeid, const char *name,
    const void *val, uint32_t size, uint32_t flags);
int fusec_removexattr(struct fusec *fc, uint64_t nodeid, const char *name);
int fusec_destroy(struct fusec *fc);

/* Name of a FUSE opcode, "OP<n>" style for unknown ones (static buffer). */
const char *fusec_opname(uint32_t opcode);

#endif
