// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench: the phx-front "bench" subcommand. It prepares its files through
 * the daemon itself (a directory under the share root: a data file filled
 * with a position-derived pattern, and a 10,000-entry directory), then
 * keeps --depth requests in flight for --seconds and prints one
 * machine-readable "bench ..." line. With phx-front --queues N the depth
 * is the total: request slot i always uses request queue 1 + i % N (the
 * queues the daemon granted), so N queues share the same offered load
 * and each has its own in-flight set of about depth / N requests, as a
 * guest's per-CPU queues do. Workload "idle" sends nothing after INIT
 * for --seconds (a freshly started daemon's memory). Every read is checked against the
 * pattern; writes write the same pattern, so read checks stay valid after
 * any write workload. Requests are the unit: ops counts FUSE requests
 * completed inside the measured window.
 */
#include "cli.h"
#include "pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum workload {
	W_GETATTR,
	W_LOOKUP,
	W_RANDREAD,
	W_RANDWRITE,
	W_SEQREAD,
	W_SEQWRITE,
	W_CREATE_UNLINK,
	W_READDIR,
	W_MIXED,
	W_IDLE,
	_W_MAX
};

static const char *const wnames[_W_MAX] = {
	"getattr", "lookup", "randread", "randwrite", "seqread", "seqwrite",
	"create_unlink", "readdir", "mixed", "idle",
};

#define NENTRIES 10000
#define MINU(a, b) ((a) < (b) ? (a) : (b))

struct slot {
	int state;
	uint64_t fh;	   /* readdir/create */
	uint64_t nodeid;   /* created file */
	uint64_t off;	   /* readdir cursor */
	unsigned entries;  /* readdir: entries seen in this listing */
	unsigned seq;
	bool busy;	   /* a request of this slot is in flight */
	char name[64];
};

struct bench {
	struct fusec *fc;
	enum workload w;
	unsigned depth;
	unsigned nq;	    /* request queues used: slot i -> queue 1 + i % nq */
	uint64_t dir;	    /* bench directory nodeid */
	uint64_t file;	    /* data file nodeid */
	uint64_t fh;	    /* data file handle, O_RDWR */
	uint64_t bigdir;    /* 10k-entry directory */
	uint64_t file_size;
	uint32_t bs;
	uint64_t seq_off;
	uint64_t rng;
	bool measuring, stopping;
	uint64_t ops, bytes, entries, errors;
	uint64_t lookups[NENTRIES]; /* nlookup we hold, to FORGET at end */
	uint64_t lookup_ids[NENTRIES];
	struct cli_hist hist;
	struct slot *slots;
	char first_err[200];
};

static uint64_t
rnd(struct bench *b)
{
	/* xorshift64* */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545F4914F6CDD1Dull;
}

#define PAT_SEED 0x5048584650484658ull /* pattern.h */

static void
bench_err(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bench_err(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	b->errors++;
	if (b->first_err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(b->first_err, sizeof(b->first_err), fmt, ap);
	va_end(ap);
}

/* ---- preparation through the daemon ---- */

static int
lookup_or_mkdir(struct fusec *fc, uint64_t parent, const char *name,
    uint64_t *ret)
{
	struct fuse_entry_out e;
	int r;

	r = fusec_lookup(fc, parent, name, &e);
	if (r == -ENOENT || (r == 0 && e.nodeid == 0))
		r = fusec_mkdir(fc, parent, name, 0755, &e);
	if (r < 0)
		return r;
	*ret = e.nodeid;
	return 0;
}

/* Run reqs built by mk(i) for i in [0, n) with up to 32 in flight. */
static int
pipeline(struct fusec *fc, unsigned n,
    struct fusec_req *(*mk)(struct bench *, unsigned), struct bench *b)
{
	unsigned next = 0, inflight = 0;
	int err = 0;

	while (next < n || inflight > 0) {
		struct fusec_req *done[64];
		int k;

		while (next < n && inflight < 32) {
			struct fusec_req *req = mk(b, next);
			int r;

			if (req == NULL)
				return -ENOMEM;
			if ((r = fusec_submit(fc, req)) < 0) {
				fusec_req_free(req);
				if (r == -ENOSPC && inflight > 0)
					break; /* ring full: reap first */
				return r;
			}
			next++;
			inflight++;
		}
		k = fusec_poll(fc, 10000, done, 64);
		if (k <= 0)
			return k == 0 ? -ETIMEDOUT : k;
		for (int i = 0; i < k; i++) {
			if (done[i]->error && done[i]->error != -EEXIST &&
			    !err)
				err = done[i]->error;
			fusec_req_free(done[i]);
			inflight--;
		}
	}
	return err;
}

static struct fusec_req *
mk_fill(struct bench *b, unsigned i)
{
	uint64_t off = (uint64_t)i * b->bs;
	struct fusec_req *req = fusec_req_write(b->fc, b->file, b->fh, off,
	    b->bs);

	if (req)
		pat_fill(PAT_SEED, req->wdata, off, b->bs);
	return req;
}

static struct fusec_req *
mk_entry(struct bench *b, unsigned i)
{
	char name[16];

	snprintf(name, sizeof(name), "f%05u", i);
	return fusec_req_mknod(b->fc, b->bigdir, name, S_IFREG | 0644, 0);
}

static int
prepare(struct bench *b, const char *dirname, uint64_t file_mb)
{
	struct fusec *fc = b->fc;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	uint8_t *buf;
	int r;

	if ((r = lookup_or_mkdir(fc, 1, dirname, &b->dir)) < 0) {
		fprintf(stderr, "bench: %s: %s\n", dirname, strerror(-r));
		return r;
	}
	b->file_size = file_mb << 20;
	if (b->w == W_RANDREAD || b->w == W_RANDWRITE || b->w == W_SEQREAD ||
	    b->w == W_SEQWRITE || b->w == W_MIXED) {
		bool fill = true;

		r = fusec_lookup(fc, b->dir, "data", &e);
		if (r == -ENOENT || (r == 0 && e.nodeid == 0)) {
			r = fusec_create(fc, b->dir, "data", O_RDWR | O_CREAT,
			    0644, &e, &o);
			if (r == 0)
				fusec_release(fc, e.nodeid, o.fh);
		}
		if (r < 0) {
			fprintf(stderr, "bench: data: %s\n", strerror(-r));
			return r;
		}
		b->file = e.nodeid;
		if ((r = fusec_open(fc, b->file, O_RDWR, &o)) < 0) {
			fprintf(stderr, "bench: open data: %s\n",
			    strerror(-r));
			return r;
		}
		b->fh = o.fh;
		buf = malloc(4096);
		if (buf && e.attr.size == b->file_size &&
		    fusec_read(fc, b->file, b->fh, 0, buf, 4096) == 4096 &&
		    pat_check(PAT_SEED, buf, 0, 4096) &&
		    fusec_read(fc, b->file, b->fh, b->file_size - 4096, buf,
		    4096) == 4096 &&
		    pat_check(PAT_SEED, buf, b->file_size - 4096, 4096))
			fill = false;
		free(buf);
		if (fill) {
			uint32_t saved = b->bs;

			b->bs = 128 * 1024;
			if (fc->init.max_write && b->bs > fc->init.max_write)
				b->bs = fc->init.max_write & ~4095u;
			fprintf(stderr, "bench: writing %llu MiB pattern\n",
			    (unsigned long long)file_mb);
			r = pipeline(fc, (unsigned)(b->file_size / b->bs),
			    mk_fill, b);
			b->bs = saved;
			if (r < 0) {
				fprintf(stderr, "bench: fill: %s\n",
				    strerror(-r));
				return r;
			}
		}
	}
	if (b->w == W_READDIR || b->w == W_LOOKUP || b->w == W_MIXED) {
		if ((r = lookup_or_mkdir(fc, b->dir, "dir10k", &b->bigdir)) < 0)
			return r;
		r = fusec_lookup(fc, b->bigdir, "f09999", &e);
		if (r == 0 && e.nodeid) {
			fusec_forget(fc, e.nodeid, 1);
		} else {
			fprintf(stderr, "bench: creating %u entries\n",
			    NENTRIES);
			r = pipeline(fc, NENTRIES, mk_entry, b);
			if (r < 0) {
				fprintf(stderr, "bench: dir10k: %s\n",
				    strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

/* ---- the measured loop ---- */

static struct fusec_req *
next_req(struct bench *b, struct slot *s)
{
	struct fusec *fc = b->fc;
	struct fusec_req *req = NULL;
	enum workload w = b->w;
	uint64_t off;
	char name[16];

	if (w == W_MIXED) {
		unsigned x = (unsigned)(rnd(b) % 10);

		w = x < 4 ? W_GETATTR : x < 6 ? W_LOOKUP : x < 8 ? W_RANDREAD :
		    W_RANDWRITE;
	}
	switch (w) {
	case W_GETATTR:
		req = fusec_req_getattr(fc, b->dir);
		break;
	case W_LOOKUP: {
		unsigned i = (unsigned)(rnd(b) % NENTRIES);

		snprintf(name, sizeof(name), "f%05u", i);
		req = fusec_req_lookup(fc, b->bigdir, name);
		if (req)
			req->u[0] = i;
		break;
	}
	case W_RANDREAD:
	case W_RANDWRITE:
		off = (rnd(b) % (b->file_size / b->bs)) * b->bs;
		goto io;
	case W_SEQREAD:
	case W_SEQWRITE:
		off = b->seq_off;
		b->seq_off += b->bs;
		if (b->seq_off + b->bs > b->file_size)
			b->seq_off = 0;
io:
		if (w == W_RANDREAD || w == W_SEQREAD) {
			req = fusec_req_read(fc, b->file, b->fh, off, b->bs);
		} else {
			req = fusec_req_write(fc, b->file, b->fh, off, b->bs);
			if (req)
				pat_fill(PAT_SEED, req->wdata, off, b->bs);
		}
		if (req)
			req->u[0] = off;
		break;
	case W_CREATE_UNLINK:
		if (s->state == 0) {
			snprintf(s->name, sizeof(s->name), "cu.%d.%u.%u",
			    getpid(), (unsigned)(s - b->slots), s->seq++);
			req = fusec_req_create(fc, b->dir, s->name,
			    O_RDWR | O_CREAT | O_EXCL, 0644);
		} else if (s->state == 1) {
			req = fusec_req_release(fc, s->nodeid, s->fh, false);
		} else if (s->state == 2) {
			req = fusec_req_unlink(fc, b->dir, s->name);
		} else {
			struct fusec_req *f = fusec_req_forget(fc, s->nodeid,
			    1);

			req = f;
		}
		break;
	case W_READDIR:
		if (s->state == 0)
			req = fusec_req_open(fc, b->bigdir, O_RDONLY, true);
		else if (s->state == 1)
			req = fusec_req_readdir(fc, b->bigdir, s->fh, s->off,
			    4096, false);
		else
			req = fusec_req_release(fc, b->bigdir, s->fh, true);
		break;
	default:
		break;
	}
	if (req) {
		req->user = s;
		req->u[1] = w;
		/* FORGET stays on the hiprio queue the builder chose. */
		if (req->qidx != 0)
			req->qidx = 1 + (unsigned)(s - b->slots) % b->nq;
	}
	return req;
}

static unsigned
dirents(struct slot *s, const uint8_t *p, size_t len)
{
	unsigned n = 0;
	size_t off = 0;

	while (len - off >= FUSE_NAME_OFFSET) {
		const struct fuse_dirent *de = (const void *)(p + off);
		size_t sz = FUSE_DIRENT_SIZE(de);

		if (de->namelen == 0 || off + sz > len)
			break;
		s->off = de->off;
		n++;
		off += sz;
	}
	return n;
}

/* Check one completion and advance its slot's state machine. */
static void
complete(struct bench *b, struct fusec_req *req)
{
	struct slot *s = req->user;
	enum workload w = (enum workload)req->u[1];

	if (req->proto) {
		bench_err(b, "%s: protocol error: %s",
		    fusec_opname(req->opcode), b->fc->err);
		s->state = 0;
		return;
	}
	switch (w) {
	case W_GETATTR:
		if (req->error)
			bench_err(b, "GETATTR: %s", strerror(-req->error));
		break;
	case W_LOOKUP:
		if (req->error == 0) {
			const struct fuse_entry_out *e = req->reply;

			b->lookups[req->u[0]]++;
			b->lookup_ids[req->u[0]] = e->nodeid;
		} else {
			bench_err(b, "LOOKUP: %s", strerror(-req->error));
		}
		break;
	case W_RANDREAD:
	case W_SEQREAD:
		if (req->error)
			bench_err(b, "READ: %s", strerror(-req->error));
		else if (req->reply_len != b->bs)
			bench_err(b, "READ at %llu: %zu bytes, want %u",
			    (unsigned long long)req->u[0], req->reply_len,
			    b->bs);
		else if (!pat_check(PAT_SEED, req->rdata, req->u[0], b->bs))
			bench_err(b, "READ at %llu: data mismatch",
			    (unsigned long long)req->u[0]);
		else if (b->measuring)
			b->bytes += b->bs;
		break;
	case W_RANDWRITE:
	case W_SEQWRITE: {
		const struct fuse_write_out *o = req->reply;

		if (req->error)
			bench_err(b, "WRITE: %s", strerror(-req->error));
		else if (o->size != b->bs)
			bench_err(b, "WRITE: %u bytes, want %u", o->size,
			    b->bs);
		else if (b->measuring)
			b->bytes += b->bs;
		break;
	}
	case W_CREATE_UNLINK:
		if (req->error) {
			bench_err(b, "%s %s: %s", fusec_opname(req->opcode),
			    s->name, strerror(-req->error));
			s->state = 0;
			break;
		}
		if (s->state == 0) {
			const struct fuse_entry_out *e = req->reply;
			const struct fuse_open_out *o = (const void *)(e + 1);

			s->nodeid = e->nodeid;
			s->fh = o->fh;
		}
		s->state = (s->state + 1) % 4;
		break;
	case W_READDIR:
		if (req->error) {
			bench_err(b, "%s: %s", fusec_opname(req->opcode),
			    strerror(-req->error));
			s->state = 0;
			break;
		}
		if (s->state == 0) {
			const struct fuse_open_out *o = req->reply;

			s->fh = o->fh;
			s->off = 0;
			s->entries = 0;
			s->state = 1;
		} else if (s->state == 1) {
			unsigned n = dirents(s, req->reply, req->reply_len);

			s->entries += n;
			if (b->measuring)
				b->entries += n;
			if (n == 0) {
				if (s->entries != NENTRIES + 2)
					bench_err(b, "READDIR: listing had %u "
					    "entries, want %u", s->entries,
					    NENTRIES + 2);
				s->state = 2;
			}
		} else {
			s->state = 0;
		}
		break;
	default:
		break;
	}
}

static int
forget_lookups(struct bench *b)
{
	struct fuse_forget_one v[256];
	unsigned n = 0;
	int r = 0;

	for (unsigned i = 0; i < NENTRIES && r == 0; i++) {
		if (b->lookups[i] == 0)
			continue;
		v[n].nodeid = b->lookup_ids[i];
		v[n].nlookup = b->lookups[i];
		if (++n == 256) {
			r = fusec_batch_forget(b->fc, v, n);
			n = 0;
		}
	}
	if (n && r == 0)
		r = fusec_batch_forget(b->fc, v, n);
	return r;
}

int
bench_main(const struct cli *c0, int argc, char **argv)
{
	static const struct option lo[] = {
		{"workload", required_argument, NULL, 'w'},
		{"depth", required_argument, NULL, 'd'},
		{"seconds", required_argument, NULL, 's'},
		{"dir", required_argument, NULL, 'D'},
		{"file-mb", required_argument, NULL, 'f'},
		{"bs", required_argument, NULL, 'b'},
		{"prepare-only", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	struct cli c = *c0;
	const char *wname = "getattr", *dirname = "phx-bench";
	unsigned depth = 1;
	double seconds = 5;
	uint64_t file_mb = 64;
	uint32_t bs = 0;
	bool prep_only = false;
	struct vuf_dev *d;
	struct bench *b;
	uint64_t t0, t_end, t_meas = 0;
	unsigned inflight = 0;
	int ch, r, rc = 0;

	while ((ch = getopt_long(argc, argv, "w:d:s:D:f:b:p", lo, NULL)) !=
	    -1) {
		switch (ch) {
		case 'w':
			wname = optarg;
			break;
		case 'd':
			depth = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'D':
			dirname = optarg;
			break;
		case 'f':
			file_mb = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			bs = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'p':
			prep_only = true;
			break;
		default:
			fprintf(stderr, "bench: bad option\n");
			return 2;
		}
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return 1;
	b->w = _W_MAX;
	for (int i = 0; i < _W_MAX; i++)
		if (strcmp(wname, wnames[i]) == 0)
			b->w = (enum workload)i;
	if (b->w == _W_MAX || depth == 0 || depth > 1024 || file_mb == 0) {
		fprintf(stderr, "bench: bad workload/depth/file size\n");
		free(b);
		return 2;
	}
	if (bs == 0)
		bs = (b->w == W_SEQREAD || b->w == W_SEQWRITE) ? 131072 : 4096;
	b->bs = bs & ~7u;
	b->depth = depth;
	b->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	/* Up to 5 descriptors a request; grow the ring for deep queues,
	 * and guest RAM for the buffers. */
	while (c.vo.queue_size < 1024 && c.vo.queue_size < depth * 5)
		c.vo.queue_size *= 2;
	if (c.vo.mem_size < (size_t)depth * (bs + 16384) * 2 + (32u << 20))
		c.vo.mem_size = (size_t)depth * (bs + 16384) * 2 + (32u << 20);
	if (cli_connect(&c, &d, &b->fc) < 0) {
		free(b);
		return 1;
	}
	if (cli_hist_init(&b->hist) < 0 ||
	    (b->w != W_IDLE && prepare(b, dirname, file_mb) < 0)) {
		rc = 1;
		goto out;
	}
	if (prep_only)
		goto out;
	b->nq = b->fc->dev->nvq > 1 ? b->fc->dev->nvq - 1 : 1;
	if (b->w == W_IDLE) {
		struct timespec ts = {(time_t)seconds,
		    (long)((seconds - (double)(time_t)seconds) * 1e9)};

		nanosleep(&ts, NULL);
		printf("bench daemon=%s workload=idle depth=%u queues=%u "
		    "seconds=%.1f ops=0 errors=0 proto_errors=0\n", c.label,
		    depth, b->nq, seconds);
		goto out;
	}
	b->slots = calloc(depth, sizeof(*b->slots));
	if (b->slots == NULL) {
		rc = 1;
		goto out;
	}
	/* 10% of the time (at most 1 s) warms up unmeasured. */
	t0 = vuf_now_ns();
	t_end = t0 + (uint64_t)(seconds * 1e9);
	{
		uint64_t warm = (uint64_t)(seconds * 1e8);

		if (warm > 1000000000ull)
			warm = 1000000000ull;
		t_meas = t0 + warm;
		t_end += warm;
	}
	for (;;) {
		struct fusec_req *done[64];
		uint64_t now = vuf_now_ns();
		int k;

		if (!b->measuring && now >= t_meas) {
			b->measuring = true;
			t_meas = now;
		}
		if (now >= t_end)
			b->stopping = true;
		for (unsigned i = 0; !b->stopping && i < depth; i++) {
			struct slot *s = &b->slots[i];
			struct fusec_req *req;

			if (s->busy)
				continue;
			req = next_req(b, s);
			if (req == NULL) {
				bench_err(b, "out of guest memory");
				b->stopping = true;
				break;
			}
			if ((r = fusec_submit(b->fc, req)) < 0) {
				fusec_req_free(req);
				if (r == -ENOSPC && inflight > 0) {
					/* ring full: the slot retries */
					if (b->w == W_CREATE_UNLINK &&
					    s->state == 0)
						s->seq--;
					break;
				}
				bench_err(b, "submit: %s", strerror(-r));
				b->stopping = true;
				break;
			}
			s->busy = true;
			inflight++;
		}
		if (inflight == 0)
			break;
		k = fusec_poll(b->fc, 10000, done, 64);
		if (k <= 0) {
			bench_err(b, "%s with %u requests in flight",
			    k == 0 ? "no completion for 10 s" :
			    strerror(-k), inflight);
			rc = 1;
			break;
		}
		now = vuf_now_ns();
		for (int i = 0; i < k; i++) {
			struct slot *s = done[i]->user;

			s->busy = false;
			inflight--;
			complete(b, done[i]);
			if (b->measuring && now <= t_end) {
				b->ops++;
				cli_hist_add(&b->hist, done[i]->lat_ns);
			}
			fusec_req_free(done[i]);
		}
	}
	{
		double el = (double)(MINU(vuf_now_ns(), t_end) - t_meas) / 1e9;

		if (el <= 0)
			el = 1e-9;
		printf("bench daemon=%s workload=%s depth=%u queues=%u "
		    "seconds=%.1f "
		    "ops=%llu ops_s=%.0f mb_s=%.1f p50_us=%.1f p99_us=%.1f "
		    "max_us=%.1f",
		    c.label, wnames[b->w], depth, b->nq, el,
		    (unsigned long long)b->ops, (double)b->ops / el,
		    (double)b->bytes / el / 1048576.0,
		    cli_hist_pct(&b->hist, 50), cli_hist_pct(&b->hist, 99),
		    (double)b->hist.max_ns / 1e3);
		if (b->w == W_READDIR)
			printf(" entries_s=%.0f", (double)b->entries / el);
		printf(" errors=%llu proto_errors=%llu\n",
		    (unsigned long long)b->errors,
		    (unsigned long long)b->fc->proto_errors);
	}
	if (b->errors || b->fc->proto_errors) {
		fprintf(stderr, "bench: first error: %s %s\n", b->first_err,
		    b->fc->err);
		rc = 1;
	}
	/* Finish create_unlink cycles cut short, so no names are left. */
	for (unsigned i = 0; b->w == W_CREATE_UNLINK && rc == 0 && i < depth;
	    i++) {
		struct slot *s = &b->slots[i];

		if (s->state == 1)
			fusec_release(b->fc, s->nodeid, s->fh);
		if (s->state == 1 || s->state == 2)
			fusec_unlink(b->fc, b->dir, s->name);
		if (s->state >= 1)
			fusec_forget(b->fc, s->nodeid, 1);
	}
	if (rc == 0) {
		forget_lookups(b);
		if (b->fh)
			fusec_release(b->fc, b->file, b->fh);
	}
out:
	if (b->fh && prep_only)
		fusec_release(b->fc, b->file, b->fh);
	cli_hist_free(&b->hist);
	cli_disconnect(d, b->fc);
	free(b->slots);
	free(b);
	return rc;
}
