// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hostile: the phx-front "hostile" subcommand, a TAP list of malformed
 * inputs. Order: FUSE-level cases, then descriptor-level cases, then
 * vhost-user message cases. A case is ok when the daemon answers with an
 * error (or safely ignores the input) AND a GETATTR still succeeds
 * afterwards on the same queue or, if that queue was shut as broken, on
 * another request queue. For vhost-user message cases a dropped
 * connection is also ok (a front-end protocol error may end the session).
 * Before each case the connection is checked and, if dead, re-made:
 * first by reconnecting, then by running --restart-cmd.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vhost_types.h>

enum outcome {
	O_ERROR,    /* error reply */
	O_IGNORED,  /* no reply within the wait, or completion with no data */
	O_SUCCESS,  /* the daemon said yes */
	O_BAD,	    /* reply broke the protocol, or an unsafe success */
	O_DROPPED,  /* backend closed the socket */
	O_REFUSED,  /* vhost-user: non-zero ack or error reply */
	O_ACCEPTED, /* vhost-user: zero ack / sane reply */
};

struct hctx {
	struct cli c;
	const char *restart_cmd;
	struct vuf_dev *d;
	struct fusec *fc;
	bool tainted; /* next case needs a fresh connection */
	int n, pass, fail, skip;
	uint64_t root_ino;
	char note[200];
};

#define CASE_WAIT_MS 1500
#define nitems_(a)   (sizeof(a) / sizeof((a)[0]))

static void
note(struct hctx *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(struct hctx *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->note, sizeof(h->note), fmt, ap);
	va_end(ap);
}

static void
drop(struct hctx *h)
{
	cli_disconnect(h->d, h->fc);
	h->d = NULL;
	h->fc = NULL;
}

static int
check_getattr(struct hctx *h, unsigned q)
{
	struct fuse_attr_out a;
	unsigned saved = h->fc->qidx;
	int timeout = h->fc->timeout_ms, r;

	h->fc->qidx = q;
	h->fc->timeout_ms = 2000;
	r = fusec_getattr(h->fc, 1, &a);
	h->fc->qidx = saved;
	h->fc->timeout_ms = timeout;
	if (r == 0)
		h->root_ino = a.attr.ino;
	return r;
}

/* Make sure a live, INITed connection exists. -1 if no daemon. */
static int
ensure(struct hctx *h, bool init)
{
	struct cli c = h->c;

	if (h->d && !h->tainted && vuf_alive(h->d) && !h->d->vq[1].broken &&
	    check_getattr(h, 1) == 0)
		return 0;
	if (h->d)
		drop(h);
	h->tainted = false;
	c.no_init = !init;
	c.wait_s = 1;
	if (cli_connect(&c, &h->d, &h->fc) == 0)
		goto ok;
	if (h->restart_cmd == NULL)
		return -1;
	fprintf(stderr, "hostile: restarting daemon: %s\n", h->restart_cmd);
	if (system(h->restart_cmd) != 0)
		fprintf(stderr, "hostile: restart command failed\n");
	c.wait_s = 10;
	if (cli_connect(&c, &h->d, &h->fc) < 0)
		return -1;
ok:
	h->fc->timeout_ms = 3000;
	return 0;
}

/* ---- raw FUSE chains ---- */

struct rd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;	  /* NEXT is added for all but the last */
	bool raw_next;	  /* use next as given instead of the chain */
	uint16_t next;
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static uint64_t
gpa(struct hctx *h, const void *p)
{
	return vuf_gpa(h->d, p);
}

/* Publish a hand-made chain carrying req as cookie; wait for it. */
static enum outcome
raw_chain(struct hctx *h, struct fusec_req *req, const struct rd *v,
    unsigned n, unsigned q)
{
	struct vuf_vq *vq = &h->d->vq[q];
	uint16_t idx[64];
	int r;

	if (n > 64 || vuf_vq_get_desc(vq, n, idx) < 0) {
		note(h, "front-end: no descriptors");
		return O_BAD;
	}
	for (unsigned i = 0; i < n; i++) {
		uint16_t fl = v[i].flags;
		uint16_t nx = 0;

		if (v[i].raw_next) {
			nx = v[i].next;
		} else if (i + 1 < n) {
			fl |= VRING_DESC_F_NEXT;
			nx = idx[i + 1];
		}
		vuf_vq_set_desc(vq, idx[i], v[i].addr, v[i].len, fl, nx);
	}
	req->qidx = q;
	vuf_vq_publish(vq, idx[0], n, req, NULL);
	h->fc->inflight++;
	vuf_vq_kick(vq);
	r = fusec_wait(h->fc, req, CASE_WAIT_MS);
	if (r == -ETIMEDOUT) {
		note(h, "no reply");
		return O_IGNORED; /* req now owned by fc */
	}
	if (r == -EPIPE && !req->done) {
		note(h, "connection closed");
		return O_DROPPED;
	}
	return O_SUCCESS; /* caller inspects req */
}

/* Judge a finished request: error reply good, success per want_ok. */
static enum outcome
judge(struct hctx *h, struct fusec_req *req, enum outcome o)
{
	if (o != O_SUCCESS)
		return o;
	if (req->proto) {
		note(h, "bad reply: %s", h->fc->err);
		o = req->used_len == 0 ? O_IGNORED : O_BAD;
	} else if (req->error) {
		note(h, "error %d (%s)", req->error, strerror(-req->error));
		o = O_ERROR;
	} else {
		note(h, "success, %zu reply bytes", req->reply_len);
		o = O_SUCCESS;
	}
	fusec_req_free(req);
	return o;
}

/* Standard chain: [in header][args] readable, [out header][out] writable */
static enum outcome
std_chain(struct hctx *h, struct fusec_req *req)
{
	struct rd v[4];
	unsigned n = 0;
	size_t args = req->in_len - sizeof(struct fuse_in_header);

	v[n++] = (struct rd){gpa(h, req->ih), sizeof(struct fuse_in_header)};
	if (args)
		v[n++] = (struct rd){gpa(h, req->ih + 1), (uint32_t)args};
	v[n++] = (struct rd){gpa(h, req->oh), 16, VRING_DESC_F_WRITE};
	if (req->out_cap)
		v[n++] = (struct rd){gpa(h, req->oh + 1),
		    (uint32_t)req->out_cap, VRING_DESC_F_WRITE};
	return judge(h, req, raw_chain(h, req, v, n, 1));
}

static enum outcome
send_req(struct hctx *h, struct fusec_req *req)
{
	if (req == NULL) {
		note(h, "front-end: out of memory");
		return O_BAD;
	}
	return std_chain(h, req);
}

/* ---- FUSE-level cases ---- */

static enum outcome
c_before_init(struct hctx *h)
{
	return send_req(h, fusec_req_getattr(h->fc, 1));
}

static enum outcome
c_unknown_opcode(struct hctx *h)
{
	enum outcome o = send_req(h, fusec_req_new(h->fc, 9999, 1, NULL, 0, 0,
	    64, 0));

	if (o == O_ERROR && strstr(h->note, "error -38") == NULL)
		o = O_BAD; /* must be ENOSYS */
	return o;
}

static enum outcome
c_short_header(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	struct rd v[2] = {
		{gpa(h, req->ih), 20},
		{gpa(h, req->oh), 16 + 128, VRING_DESC_F_WRITE},
	};

	req->ih->len = 20;
	return judge(h, req, raw_chain(h, req, v, 2, 1));
}

static enum outcome
c_len_too_big(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);

	req->ih->len += 4096;
	return std_chain(h, req);
}

static enum outcome
c_len_too_small(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);

	req->ih->len = 20;
	return std_chain(h, req);
}

static enum outcome
c_len_cuts_args(struct hctx *h)
{
	struct fusec_req *req = fusec_req_lookup(h->fc, 1, "phx-hostile");

	req->ih->len = sizeof(struct fuse_in_header) + 3;
	return std_chain(h, req);
}

static enum outcome
c_name_no_nul(struct hctx *h)
{
	struct iovec a = {.iov_base = (void *)(uintptr_t)"phx-hostileXXXX",
	    .iov_len = 11};
	struct fusec_req *req = fusec_req_new(h->fc, FUSE_LOOKUP, 1, &a, 1, 0,
	    sizeof(struct fuse_entry_out), 0);

	/* Bytes after the name are not NUL either. */
	memset(req->blk + req->in_len, 'X', 8);
	return send_req(h, req);
}

static enum outcome
expect_error(struct hctx *h, enum outcome o)
{
	return o == O_SUCCESS ? O_BAD : o;
}

static enum outcome
c_lookup_slash(struct hctx *h)
{
	return expect_error(h, send_req(h, fusec_req_lookup(h->fc, 1,
	    "phx-hostile/inner")));
}

static enum outcome
c_lookup_dotdot(struct hctx *h)
{
	struct fusec_req *req = fusec_req_lookup(h->fc, 1, "..");
	enum outcome o;
	struct fuse_entry_out e;

	o = raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), sizeof(struct fuse_in_header)},
		{gpa(h, req->ih + 1), 3},
		{gpa(h, req->oh), 16, VRING_DESC_F_WRITE},
		{gpa(h, req->oh + 1), sizeof(e), VRING_DESC_F_WRITE}}, 4, 1);
	if (o != O_SUCCESS)
		return o;
	if (req->error == 0 && !req->proto) {
		memcpy(&e, req->reply, sizeof(e));
		if (e.nodeid != 1 && e.attr.ino != h->root_ino) {
			note(h, "'..' of root gave nodeid %llu ino %llu, root "
			    "ino %llu: escaped the share",
			    (unsigned long long)e.nodeid,
			    (unsigned long long)e.attr.ino,
			    (unsigned long long)h->root_ino);
			fusec_req_free(req);
			return O_BAD;
		}
		note(h, "'..' resolves to the root itself");
		fusec_req_free(req);
		return O_ERROR; /* safe answer */
	}
	return judge(h, req, o);
}

static enum outcome
c_mkdir_slash(struct hctx *h)
{
	struct fuse_mkdir_in in = {.mode = 0755};
	struct iovec a[2] = {{&in, sizeof(in)},
	    {(void *)(uintptr_t)"phx-hostile/made", 17}};

	return expect_error(h, send_req(h, fusec_req_new(h->fc, FUSE_MKDIR, 1,
	    a, 2, 0, sizeof(struct fuse_entry_out), 0)));
}

static enum outcome
c_create_dotdot(struct hctx *h)
{
	return expect_error(h, send_req(h, fusec_req_create(h->fc, 1, "..",
	    O_RDWR | O_CREAT, 0644)));
}

static enum outcome
c_create_existing(struct hctx *h)
{
	struct fuse_entry_out e;
	enum outcome o;

	if (fusec_lookup(h->fc, 1, "phx-hostile", &e) < 0) {
		note(h, "setup failed");
		return O_BAD;
	}
	/* Legal FUSE (atomic_open on a stale negative dentry): the file
	 * exists and O_EXCL is not set; any answer is fine, dying is not. */
	o = send_req(h, fusec_req_create(h->fc, e.nodeid, "file",
	    O_RDWR | O_CREAT, 0644));
	return o == O_SUCCESS ? O_IGNORED : o;
}

static enum outcome
c_rename_escape(struct hctx *h)
{
	struct fuse_rename_in in = {.newdir = 1};
	struct iovec a[3] = {{&in, sizeof(in)},
	    {(void *)(uintptr_t)"phx-hostile", 12},
	    {(void *)(uintptr_t)"../phx-escaped", 15}};

	return expect_error(h, send_req(h, fusec_req_new(h->fc, FUSE_RENAME,
	    1, a, 3, 0, 0, 0)));
}

static enum outcome
c_small_reply(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	enum outcome o = raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), sizeof(struct fuse_in_header) +
		    sizeof(struct fuse_getattr_in)},
		{gpa(h, req->oh), 24, VRING_DESC_F_WRITE}}, 2, 1);

	if (o == O_SUCCESS && req->used_len > 24) {
		note(h, "wrote %u bytes into a 24-byte buffer", req->used_len);
		fusec_req_free(req);
		return O_BAD;
	}
	return judge(h, req, o);
}

static enum outcome
c_no_reply_buf(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	enum outcome o = raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), sizeof(struct fuse_in_header) +
		    sizeof(struct fuse_getattr_in)}}, 1, 1);

	if (o == O_SUCCESS && req->used_len == 0) {
		note(h, "completed with used len 0");
		fusec_req_free(req);
		return O_IGNORED;
	}
	return judge(h, req, o);
}

static enum outcome
c_read_beyond_buf(struct hctx *h)
{
	struct fuse_entry_out e;
	struct fuse_open_out oo;
	struct fusec_req *req;
	enum outcome o;

	if (fusec_lookup(h->fc, 1, "phx-hostile", &e) < 0 ||
	    fusec_lookup(h->fc, e.nodeid, "file", &e) < 0 ||
	    fusec_open(h->fc, e.nodeid, O_RDWR, &oo) < 0) {
		note(h, "setup failed");
		return O_BAD;
	}
	req = fusec_req_read(h->fc, e.nodeid, oo.fh, 0, 65536);
	o = raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), sizeof(struct fuse_in_header) +
		    sizeof(struct fuse_read_in)},
		{gpa(h, req->oh), 16, VRING_DESC_F_WRITE},
		{gpa(h, req->rdata), 4096, VRING_DESC_F_WRITE}}, 3, 1);
	if (o == O_SUCCESS && !req->proto && req->used_len > 16 + 4096) {
		note(h, "wrote %u bytes into 4112", req->used_len);
		o = O_BAD;
		fusec_req_free(req);
	} else {
		o = judge(h, req, o);
		if (o == O_SUCCESS)
			o = O_IGNORED; /* short read within the buffer */
	}
	fusec_release(h->fc, e.nodeid, oo.fh);
	return o;
}

static enum outcome
c_write_short_data(struct hctx *h)
{
	struct fuse_entry_out e;
	struct fuse_open_out oo;
	struct fusec_req *req;
	struct fuse_write_in *wi;
	enum outcome o;

	if (fusec_lookup(h->fc, 1, "phx-hostile", &e) < 0 ||
	    fusec_lookup(h->fc, e.nodeid, "file", &e) < 0 ||
	    fusec_open(h->fc, e.nodeid, O_RDWR, &oo) < 0) {
		note(h, "setup failed");
		return O_BAD;
	}
	req = fusec_req_write(h->fc, e.nodeid, oo.fh, 0, 4096);
	wi = (struct fuse_write_in *)(req->ih + 1);
	wi->size = 65536;
	o = raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), sizeof(struct fuse_in_header) + sizeof(*wi)},
		{gpa(h, req->wdata), 4096},
		{gpa(h, req->oh), 16 + sizeof(struct fuse_write_out),
		    VRING_DESC_F_WRITE}}, 3, 1);
	if (o == O_SUCCESS && req->error == 0 && !req->proto) {
		const struct fuse_write_out *wo = req->reply;

		note(h, "wrote %u bytes", wo->size);
		o = wo->size <= 4096 ? O_IGNORED : O_BAD;
		fusec_req_free(req);
	} else {
		o = judge(h, req, o);
	}
	fusec_release(h->fc, e.nodeid, oo.fh);
	return o;
}

static enum outcome
c_bad_nodeid(struct hctx *h)
{
	return expect_error(h, send_req(h, fusec_req_getattr(h->fc,
	    0xdeadbeef000ull)));
}

static enum outcome
c_forget_too_many(struct hctx *h)
{
	struct fuse_entry_out e;
	struct fusec_req *req;

	if (fusec_lookup(h->fc, 1, "phx-hostile", &e) < 0) {
		note(h, "setup failed");
		return O_BAD;
	}
	req = fusec_req_forget(h->fc, e.nodeid, 1000000);
	fusec_call(h->fc, req);
	note(h, "FORGET nlookup 1000000 for a node looked up a few times");
	return O_IGNORED;
}

static enum outcome
c_forget_unknown(struct hctx *h)
{
	fusec_forget(h->fc, 0xdeadbeef000ull, 1);
	note(h, "FORGET of nodeid 0xdeadbeef000");
	return O_IGNORED;
}

static enum outcome
c_batch_forget_count(struct hctx *h)
{
	struct fuse_batch_forget_in in = {.count = 100000};
	struct fuse_forget_one one = {.nodeid = 0xdeadbeef000ull,
	    .nlookup = 1};
	struct iovec a[2] = {{&in, sizeof(in)}, {&one, sizeof(one)}};
	struct fusec_req *req = fusec_req_new(h->fc, FUSE_BATCH_FORGET, 0, a,
	    2, 0, 0, 0);

	req->noreply = true;
	req->qidx = 0;
	fusec_call(h->fc, req);
	note(h, "count 100000 with one entry");
	return O_IGNORED;
}

/* ---- descriptor-level cases ---- */

static enum outcome
desc_case(struct hctx *h, uint64_t in_addr, uint32_t in_len)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	enum outcome o = raw_chain(h, req, (struct rd[]){
		{in_addr, in_len},
		{gpa(h, req->oh), 16 + sizeof(struct fuse_attr_out),
		    VRING_DESC_F_WRITE}}, 2, 1);

	if (o == O_SUCCESS && req->used_len == 0) {
		note(h, "completed with used len 0");
		fusec_req_free(req);
		return O_IGNORED;
	}
	return expect_error(h, judge(h, req, o));
}

static enum outcome
c_desc_outside(struct hctx *h)
{
	return desc_case(h, vuf_gpa_end(h->d) + (1ull << 20), 64);
}

static enum outcome
c_desc_straddle(struct hctx *h)
{
	const struct vuf_region_rec *r = &h->d->regions[0];

	return desc_case(h, r->gpa + r->size - 16, 64);
}

static enum outcome
c_desc_low(struct hctx *h)
{
	return desc_case(h, 0x1000, 64);
}

static enum outcome
c_desc_huge_len(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);

	return desc_case(h, gpa(h, req->ih), 0xfffffff0u);
}

static enum outcome
c_desc_loop(struct hctx *h)
{
	struct vuf_vq *vq = &h->d->vq[1];
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	uint16_t idx[2];
	int r;

	/* d0 -> d1 -> d0 ... */
	vuf_vq_get_desc(vq, 2, idx);
	vuf_vq_set_desc(vq, idx[0], gpa(h, req->ih), 56, VRING_DESC_F_NEXT,
	    idx[1]);
	vuf_vq_set_desc(vq, idx[1], gpa(h, req->oh), 16,
	    VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, idx[0]);
	vuf_vq_publish(vq, idx[0], 2, req, NULL);
	h->fc->inflight++;
	vuf_vq_kick(vq);
	r = fusec_wait(h->fc, req, CASE_WAIT_MS);
	if (r == -ETIMEDOUT) {
		note(h, "no reply");
		return O_IGNORED;
	}
	if (r == -EPIPE && !req->done)
		return O_DROPPED;
	return expect_error(h, judge(h, req, O_SUCCESS));
}

static enum outcome
c_desc_next_range(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);

	return expect_error(h, judge(h, req, raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), 56, VRING_DESC_F_NEXT, true,
		    (uint16_t)(h->d->vq[1].num + 7)}}, 1, 1)));
}

static enum outcome
c_desc_order(struct hctx *h)
{
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);

	return expect_error(h, judge(h, req, raw_chain(h, req, (struct rd[]){
		{gpa(h, req->oh), 16 + sizeof(struct fuse_attr_out),
		    VRING_DESC_F_WRITE},
		{gpa(h, req->ih), 56}}, 2, 1)));
}

static enum outcome
c_split_header(struct hctx *h)
{
	/* Valid: a header split across descriptors must work. */
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	enum outcome o = judge(h, req, raw_chain(h, req, (struct rd[]){
		{gpa(h, req->ih), 20}, {gpa(h, req->ih) + 20, 20},
		{gpa(h, req->ih) + 40, 16},
		{gpa(h, req->oh), 8, VRING_DESC_F_WRITE},
		{gpa(h, req->oh) + 8, 8 + sizeof(struct fuse_attr_out),
		    VRING_DESC_F_WRITE}}, 5, 1));

	return o == O_SUCCESS ? O_IGNORED /* = fine */ : O_BAD;
}

static enum outcome
indirect_case(struct hctx *h, unsigned n, uint32_t tlen_adj, bool nested,
    bool outside)
{
	struct vuf_vq *vq = &h->d->vq[1];
	struct fusec_req *req = fusec_req_getattr(h->fc, 1);
	struct vring_desc *t = vuf_alloc(h->d, 16u * (n + 1));
	uint16_t idx;
	enum outcome o;
	int r;

	for (unsigned i = 0; i < n; i++) {
		bool w = i + 1 == n;

		t[i].addr = w ? gpa(h, req->oh) : gpa(h, req->ih);
		t[i].len = w ? 16 + sizeof(struct fuse_attr_out) :
		    (i == 0 ? 56 : 0);
		t[i].flags = (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
		    (w ? VRING_DESC_F_WRITE : 0));
		t[i].next = (uint16_t)(i + 1);
	}
	if (nested) {
		t[0].flags |= VRING_DESC_F_INDIRECT;
		t[0].addr = gpa(h, t);
		t[0].len = 16u * n;
	}
	vuf_vq_get_desc(vq, 1, &idx);
	vuf_vq_set_desc(vq, idx, outside ? vuf_gpa_end(h->d) + 4096 :
	    gpa(h, t), 16u * n + tlen_adj, VRING_DESC_F_INDIRECT, 0);
	vuf_vq_publish(vq, idx, 1, req, NULL); /* table leaks on purpose */
	h->fc->inflight++;
	vuf_vq_kick(vq);
	r = fusec_wait(h->fc, req, CASE_WAIT_MS);
	if (r == -ETIMEDOUT) {
		note(h, "no reply");
		return O_IGNORED;
	}
	if (r == -EPIPE && !req->done)
		return O_DROPPED;
	o = judge(h, req, O_SUCCESS);
	return o;
}

static enum outcome
c_ind_long(struct hctx *h)
{
	return expect_error(h, indirect_case(h, h->d->vq[1].num + 1, 0, false,
	    false));
}

static enum outcome
c_ind_badlen(struct hctx *h)
{
	return expect_error(h, indirect_case(h, 2, 8, false, false));
}

static enum outcome
c_ind_nested(struct hctx *h)
{
	return expect_error(h, indirect_case(h, 2, 0, true, false));
}

static enum outcome
c_ind_outside(struct hctx *h)
{
	return expect_error(h, indirect_case(h, 2, 0, false, true));
}

static enum outcome
c_head_range(struct hctx *h)
{
	struct vuf_vq *vq = &h->d->vq[1];
	uint64_t bad = vq->proto_errors;

	vuf_vq_publish_raw(vq, (uint16_t)(vq->num + 3));
	vuf_vq_kick(vq);
	vuf_vq_wait(vq, CASE_WAIT_MS);
	fusec_poll(h->fc, 0, NULL, 0);
	if (vq->proto_errors != bad) {
		note(h, "daemon completed an out-of-range head: %s",
		    h->d->err);
		return O_BAD;
	}
	note(h, "no completion for the bogus head");
	h->tainted = true; /* avail ring now has an entry we never reap */
	return O_IGNORED;
}

/* ---- vhost-user message cases ---- */

static enum outcome
vu_msg(struct hctx *h, uint32_t req, const void *p, uint32_t size,
    const int *fds, int nfds, bool has_reply)
{
	bool ack = h->d->packed & (1ull << VUF_PF_REPLY_ACK);
	uint64_t v = 0;
	int r;

	r = vuf_msg_send(h->d, req, (ack && !has_reply) ?
	    VUF_FLAG_NEED_REPLY : 0, p, size, fds, nfds);
	if (r < 0) {
		note(h, "send: %s", strerror(-r));
		return O_DROPPED;
	}
	if (!ack && !has_reply) {
		usleep(200000);
		if (!vuf_alive(h->d)) {
			note(h, "connection closed");
			return O_DROPPED;
		}
		note(h, "no ack negotiated; no visible effect");
		return O_IGNORED;
	}
	r = vuf_msg_recv(h->d, req, &v, sizeof(v), CASE_WAIT_MS);
	if (r == -EPIPE || (r < 0 && !vuf_alive(h->d))) {
		note(h, "connection closed");
		return O_DROPPED;
	}
	if (r == -ETIMEDOUT) {
		note(h, "no reply");
		h->tainted = true;
		return O_IGNORED;
	}
	if (r < 0) {
		note(h, "bad reply: %s", strerror(-r));
		h->tainted = true;
		return O_BAD;
	}
	note(h, "reply 0x%llx", (unsigned long long)v);
	if (has_reply)
		return O_ACCEPTED;
	return v ? O_REFUSED : O_ACCEPTED;
}

static enum outcome
c_vu_unknown(struct hctx *h)
{
	uint64_t v = 0;

	return vu_msg(h, 999, &v, sizeof(v), NULL, 0, false);
}

static enum outcome
vring_state(struct hctx *h, uint32_t req, unsigned index, unsigned num)
{
	struct vhost_vring_state st = {.index = index, .num = num};

	return vu_msg(h, req, &st, sizeof(st), NULL, 0,
	    req == VUF_GET_VRING_BASE);
}

static enum outcome
c_vu_num_idx(struct hctx *h)
{
	return vring_state(h, VUF_SET_VRING_NUM, 1000, 128);
}

static enum outcome
c_vu_base_idx(struct hctx *h)
{
	return vring_state(h, VUF_SET_VRING_BASE, 1000, 0);
}

static enum outcome
c_vu_getbase_idx(struct hctx *h)
{
	return vring_state(h, VUF_GET_VRING_BASE, 1000, 0);
}

static enum outcome
c_vu_enable_idx(struct hctx *h)
{
	return vring_state(h, VUF_SET_VRING_ENABLE, 1000, 1);
}

static enum outcome
c_vu_addr_idx(struct hctx *h)
{
	struct vhost_vring_addr a = {.index = 1000,
	    .desc_user_addr = (uint64_t)(uintptr_t)h->d->vq[1].desc,
	    .used_user_addr = (uint64_t)(uintptr_t)h->d->vq[1].used,
	    .avail_user_addr = (uint64_t)(uintptr_t)h->d->vq[1].avail};

	return vu_msg(h, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, false);
}

static enum outcome
vring_fd(struct hctx *h, uint32_t req, uint64_t u, bool with_fd)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	enum outcome o = vu_msg(h, req, &u, sizeof(u), &fd, with_fd ? 1 : 0,
	    false);

	close(fd);
	return o;
}

static enum outcome
c_vu_kick_idx(struct hctx *h)
{
	return vring_fd(h, VUF_SET_VRING_KICK, 200, true);
}

static enum outcome
c_vu_call_idx(struct hctx *h)
{
	return vring_fd(h, VUF_SET_VRING_CALL, 200, true);
}

static enum outcome
c_vu_kick_nofd(struct hctx *h)
{
	return vring_fd(h, VUF_SET_VRING_KICK, 1, false);
}

static enum outcome
c_vu_num_huge(struct hctx *h)
{
	return vring_state(h, VUF_SET_VRING_NUM, 0, 65536 + 3);
}

static enum outcome
mem_table(struct hctx *h, unsigned nregions, unsigned nfds, uint64_t size)
{
	struct {
		uint32_t n, pad;
		struct vuf_region_rec r[9];
	} mt = {.n = nregions};
	int fds[9];

	for (unsigned i = 0; i < 9; i++) {
		mt.r[i].gpa = (8ull << 32) + i * (64ull << 20);
		mt.r[i].size = size;
		mt.r[i].uaddr = (1ull << 46) + i * (64ull << 20);
		mt.r[i].mmap_offset = 0;
		fds[i] = h->d->memfd;
	}
	return vu_msg(h, VUF_SET_MEM_TABLE, &mt, 8 + 32 * (nregions > 9 ? 9 :
	    nregions), fds, (int)nfds, false);
}

static enum outcome
c_vu_mem_many(struct hctx *h)
{
	return mem_table(h, 9, 8, 1 << 20);
}

static enum outcome
c_vu_mem_size(struct hctx *h)
{
	return mem_table(h, 1, 1, 1ull << 40);
}

static enum outcome
c_vu_mem_fds(struct hctx *h)
{
	return mem_table(h, 2, 1, 1 << 20);
}

static enum outcome
c_vu_extra_fds(struct hctx *h)
{
	int fds[4] = {h->d->memfd, h->d->memfd, h->d->memfd, h->d->memfd};

	return vu_msg(h, VUF_GET_FEATURES, NULL, 0, fds, 4, true);
}

static enum outcome
c_vu_size_gt_payload(struct hctx *h)
{
	uint32_t m[5] = {VUF_SET_FEATURES, VUF_FLAG_VERSION, 64, 0, 0};

	vuf_raw_send(h->d, m, sizeof(m), NULL, 0);
	usleep(300000);
	h->tainted = true; /* the stream is out of step from here on */
	if (!vuf_alive(h->d)) {
		note(h, "connection closed");
		return O_DROPPED;
	}
	note(h, "backend waits for the rest of the payload");
	return O_IGNORED;
}

static enum outcome
c_vu_size_huge(struct hctx *h)
{
	uint32_t m[3] = {VUF_GET_FEATURES, VUF_FLAG_VERSION, 0x7fffffff};

	vuf_raw_send(h->d, m, sizeof(m), NULL, 0);
	usleep(300000);
	h->tainted = true;
	if (!vuf_alive(h->d)) {
		note(h, "connection closed");
		return O_DROPPED;
	}
	note(h, "no reaction");
	return O_IGNORED;
}

/* ---- driver ---- */

struct hcase {
	const char *desc;
	enum outcome (*fn)(struct hctx *);
	bool vu;	/* vhost-user message: dropping the socket is fine */
	bool pre_init;	/* runs on a connection without FUSE_INIT */
	bool accept_ok; /* vhost-user: a zero ack is a fine answer too */
};

static const struct hcase cases[] = {
	{"GETATTR before INIT is refused", c_before_init, false, true},
	{"unknown opcode 9999 -> ENOSYS", c_unknown_opcode, false, false},
	{"short FUSE header (20 bytes)", c_short_header, false, false},
	{"in_header.len larger than the request", c_len_too_big, false, false},
	{"in_header.len smaller than the header", c_len_too_small, false,
	    false},
	{"in_header.len cuts the LOOKUP name short", c_len_cuts_args, false,
	    false},
	{"LOOKUP name not NUL-terminated", c_name_no_nul, false, false},
	{"LOOKUP name containing '/'", c_lookup_slash, false, false},
	{"LOOKUP '..' at the root stays in the share", c_lookup_dotdot, false,
	    false},
	{"MKDIR name containing '/'", c_mkdir_slash, false, false},
	{"CREATE named '..' at the root", c_create_dotdot, false, false},
	{"RENAME to '../name' (escape)", c_rename_escape, false, false},
	{"CREATE without O_EXCL of an existing file (legal)",
	    c_create_existing, false, false},
	{"reply buffer too small for GETATTR (24 bytes)", c_small_reply, false,
	    false},
	{"no writable buffer for GETATTR", c_no_reply_buf, false, false},
	{"READ 64 KiB into a 4 KiB buffer", c_read_beyond_buf, false, false},
	{"WRITE size field beyond the data supplied", c_write_short_data,
	    false, false},
	{"GETATTR on an unknown nodeid", c_bad_nodeid, false, false},
	{"FORGET of an unknown nodeid", c_forget_unknown, false, false},
	{"BATCH_FORGET count beyond the payload", c_batch_forget_count, false,
	    false},
	{"FORGET nlookup larger than held", c_forget_too_many, false, false},
	{"header split across descriptors (valid, must work)",
	    c_split_header, false, false},
	{"descriptor outside guest memory", c_desc_outside, false, false},
	{"descriptor straddling a region end into the gpa hole",
	    c_desc_straddle, false, false},
	{"descriptor below guest memory (gpa 0x1000)", c_desc_low, false,
	    false},
	{"descriptor length 0xfffffff0", c_desc_huge_len, false, false},
	{"descriptor loop", c_desc_loop, false, false},
	{"descriptor next index out of range", c_desc_next_range, false,
	    false},
	{"writable descriptor before a readable one", c_desc_order, false,
	    false},
	{"indirect chain longer than the queue size", c_ind_long, false,
	    false},
	{"indirect table length not a multiple of 16", c_ind_badlen, false,
	    false},
	{"nested indirect table", c_ind_nested, false, false},
	{"indirect table outside guest memory", c_ind_outside, false, false},
	{"avail ring head index out of range", c_head_range, false, false},
	{"unknown vhost-user request 999", c_vu_unknown, true, false},
	{"SET_VRING_NUM index 1000", c_vu_num_idx, true, false},
	{"SET_VRING_ADDR index 1000", c_vu_addr_idx, true, false},
	{"SET_VRING_BASE index 1000", c_vu_base_idx, true, false},
	{"GET_VRING_BASE index 1000", c_vu_getbase_idx, true, false},
	{"SET_VRING_KICK index 200", c_vu_kick_idx, true, false},
	{"SET_VRING_CALL index 200", c_vu_call_idx, true, false},
	{"SET_VRING_ENABLE index 1000", c_vu_enable_idx, true, false},
	{"SET_VRING_KICK without fd or no-fd flag", c_vu_kick_nofd, true,
	    false},
	{"SET_VRING_NUM 65539 (not a power of two, > 32768)", c_vu_num_huge,
	    true, false},
	{"SET_MEM_TABLE with 9 regions", c_vu_mem_many, true, false},
	{"SET_MEM_TABLE region of 1 TiB on a 64 MiB memfd", c_vu_mem_size,
	    true, false},
	{"SET_MEM_TABLE 2 regions, 1 fd", c_vu_mem_fds, true, false},
	{"GET_FEATURES carrying 4 unexpected fds", c_vu_extra_fds, true,
	    false, true},
	{"message size field larger than the payload", c_vu_size_gt_payload,
	    true, false},
	{"message size field 0x7fffffff", c_vu_size_huge, true, false},
};

static const char *const oname[] = {
	[O_ERROR] = "error reply", [O_IGNORED] = "ignored",
	[O_SUCCESS] = "accepted", [O_BAD] = "bad",
	[O_DROPPED] = "dropped connection", [O_REFUSED] = "refused",
	[O_ACCEPTED] = "accepted",
};

static int
setup_share(struct hctx *h)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	int r;

	r = fusec_lookup(h->fc, 1, "phx-hostile", &e);
	if (r == -ENOENT || (r == 0 && e.nodeid == 0))
		r = fusec_mkdir(h->fc, 1, "phx-hostile", 0755, &e);
	if (r < 0)
		return r;
	r = fusec_lookup(h->fc, e.nodeid, "inner", NULL);
	if (r == -ENOENT)
		fusec_mkdir(h->fc, e.nodeid, "inner", 0755, NULL);
	if (fusec_lookup(h->fc, e.nodeid, "file", NULL) == 0)
		return 0;
	r = fusec_create(h->fc, e.nodeid, "file", O_RDWR | O_CREAT | O_EXCL,
	    0644, &e, &o);
	if (r < 0)
		return r;
	fusec_write(h->fc, e.nodeid, o.fh, 0, "0123456789abcdef", 16);
	return fusec_release(h->fc, e.nodeid, o.fh);
}

int
hostile_main(const struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"restart-cmd", required_argument, NULL, 'r'},
		{"only", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	struct hctx h = {.c = *c};
	int ch, only = 0;

	while ((ch = getopt_long(argc, argv, "r:o:", lo, NULL)) != -1) {
		switch (ch) {
		case 'r':
			h.restart_cmd = optarg;
			break;
		case 'o':
			only = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	/* A second request queue lets the check go around a queue the
	 * daemon shut as broken. */
	if (h.c.vo.nreq_queues < 2)
		h.c.vo.nreq_queues = 2;
	printf("1..%zu\n", nitems_(cases));
	for (size_t i = 0; i < nitems_(cases); i++) {
		const struct hcase *hc = &cases[i];
		enum outcome o;
		bool ok, alive;
		const char *how = "";
		int r;

		if (only && (int)i + 1 != only)
			continue;
		h.n++;
		h.note[0] = '\0';
		if (hc->pre_init && h.d)
			drop(&h);
		if (ensure(&h, !hc->pre_init) < 0) {
			printf("ok %zu - %s # SKIP no daemon (give "
			    "--restart-cmd)\n", i + 1, hc->desc);
			h.skip++;
			continue;
		}
		if (!hc->pre_init && h.root_ino == 0)
			check_getattr(&h, 1);
		if (!hc->pre_init && setup_share(&h) < 0)
			fprintf(stderr, "hostile: share setup failed\n");
		o = hc->fn(&h);
		if (hc->pre_init && o != O_DROPPED) {
			if (fusec_init(h.fc) < 0)
				h.tainted = true;
		}
		alive = false;
		if (o != O_DROPPED && vuf_alive(h.d)) {
			r = check_getattr(&h, 1);
			if (r == 0) {
				alive = true;
			} else if (h.d->nvq > 2 && vuf_alive(h.d) &&
			    check_getattr(&h, 2) == 0) {
				alive = true;
				how = "; queue 1 stopped, queue 2 answers";
				h.tainted = true;
			}
		}
		if (!alive && o != O_DROPPED && !vuf_alive(h.d))
			o = O_DROPPED;
		if (hc->vu)
			ok = o == O_DROPPED || (alive && (o == O_REFUSED ||
			    o == O_IGNORED || (o == O_ACCEPTED &&
			    hc->accept_ok)));
		else
			ok = alive && (o == O_ERROR || o == O_IGNORED);
		if (hc->vu && o == O_ACCEPTED && alive)
			h.tainted = true;
		printf("%sok %zu - %s # %s%s%s%s%s\n", ok ? "" : "not ", i + 1,
		    hc->desc, oname[o], h.note[0] ? ": " : "", h.note,
		    alive ? "" : "; GETATTR afterwards failed", how);
		if (ok)
			h.pass++;
		else
			h.fail++;
		if (o == O_DROPPED || !alive)
			h.tainted = true;
	}
	if (h.d)
		drop(&h);
	printf("%d passed, %d failed, %d skipped\n", h.pass, h.fail, h.skip);
	return h.fail ? 1 : 0;
}
