// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chaos: the phx-front "chaos" subcommand. One connection, never
 * re-made: --depth requests stay in flight (pattern writes and checked
 * reads, GETATTR, CREATE of fresh names then UNLINK of them) while
 * --kill-cmd runs every --every-ms. Every request must get exactly one
 * correct reply: reads return the pattern, new-name creates answer 0,
 * unlinks of names we created answer 0. It reports the longest stall
 * (time with requests in flight and no completion) and ends, instead of
 * hanging, when the socket closes or nothing completes for --stall-timeout.
 */
#include "cli.h"
#include "pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_SIZE (4u << 20)
#define BS	  4096u

enum { K_READ, K_WRITE, K_GETATTR, K_CREATE, K_RELEASE, K_UNLINK, K_FORGET };

struct cslot {
	bool busy;
	int next;	  /* K_RELEASE/K_UNLINK pending, or -1 */
	uint64_t nodeid, fh;
	unsigned seq;
	char name[64];
};

struct chaos {
	struct fusec *fc;
	uint64_t dir, file, fh;
	uint64_t rng;
	uint64_t ops, ok, bad, kills;
	char first_bad[200];
};

#define PAT_SEED 0x43484f53ull /* pattern.h */

static uint64_t
rnd(struct chaos *ch)
{
	ch->rng ^= ch->rng >> 12;
	ch->rng ^= ch->rng << 25;
	ch->rng ^= ch->rng >> 27;
	return ch->rng * 0x2545F4914F6CDD1Dull;
}

static void
bad(struct chaos *ch, struct fusec_req *req, const char *what)
{
	ch->bad++;
	if (ch->first_bad[0] == '\0')
		snprintf(ch->first_bad, sizeof(ch->first_bad),
		    "%s unique %llu: %s (error %d%s)",
		    fusec_opname(req->opcode),
		    (unsigned long long)req->unique, what, req->error,
		    req->proto ? ", protocol" : "");
}

static int
prepare(struct chaos *ch)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	uint8_t *buf = malloc(65536);
	int r;

	r = fusec_lookup(ch->fc, 1, "phx-chaos", &e);
	if (r == -ENOENT || (r == 0 && e.nodeid == 0))
		r = fusec_mkdir(ch->fc, 1, "phx-chaos", 0755, &e);
	if (r < 0)
		goto out;
	ch->dir = e.nodeid;
	/* Look up first: virtiofsd 7.2 aborts on CREATE of an existing
	 * name without O_EXCL (see hostile). */
	r = fusec_lookup(ch->fc, ch->dir, "data", &e);
	if (r == 0 && e.nodeid)
		r = fusec_open(ch->fc, e.nodeid, O_RDWR, &o);
	else
		r = fusec_create(ch->fc, ch->dir, "data",
		    O_RDWR | O_CREAT | O_EXCL, 0644, &e, &o);
	if (r < 0)
		goto out;
	ch->file = e.nodeid;
	ch->fh = o.fh;
	for (uint64_t off = 0; off < FILE_SIZE && r >= 0; off += 65536) {
		pat_fill(PAT_SEED, buf, off, 65536);
		r = fusec_write(ch->fc, ch->file, ch->fh, off, buf, 65536);
	}
out:
	free(buf);
	return r < 0 ? r : 0;
}

static struct fusec_req *
next_req(struct chaos *ch, struct cslot *s, unsigned slotno)
{
	struct fusec_req *req = NULL;
	uint64_t off = (rnd(ch) % (FILE_SIZE / BS)) * BS;
	int k = s->next;

	if (k < 0) {
		unsigned x = (unsigned)(rnd(ch) % 10);

		k = x < 3 ? K_READ : x < 6 ? K_WRITE : x < 8 ? K_GETATTR :
		    K_CREATE;
	}
	switch (k) {
	case K_READ:
		req = fusec_req_read(ch->fc, ch->file, ch->fh, off, BS);
		break;
	case K_WRITE:
		req = fusec_req_write(ch->fc, ch->file, ch->fh, off, BS);
		if (req)
			pat_fill(PAT_SEED, req->wdata, off, BS);
		break;
	case K_GETATTR:
		req = fusec_req_getattr(ch->fc, ch->file);
		break;
	case K_CREATE:
		snprintf(s->name, sizeof(s->name), "c.%d.%u.%u", getpid(),
		    slotno, s->seq++);
		req = fusec_req_create(ch->fc, ch->dir, s->name,
		    O_RDWR | O_CREAT | O_EXCL, 0644);
		break;
	case K_RELEASE:
		req = fusec_req_release(ch->fc, s->nodeid, s->fh, false);
		break;
	case K_UNLINK:
		req = fusec_req_unlink(ch->fc, ch->dir, s->name);
		break;
	case K_FORGET:
		/* As the kernel does once the dentry goes: the daemon may
		 * then drop the inode and its fd. */
		req = fusec_req_forget(ch->fc, s->nodeid, 1);
		break;
	default:
		break;
	}
	if (req) {
		req->u[0] = (uint64_t)k;
		req->u[1] = off;
		req->user = s;
	}
	return req;
}

static void
complete(struct chaos *ch, struct fusec_req *req)
{
	struct cslot *s = req->user;
	int k = (int)req->u[0];
	bool good = !req->proto && req->error == 0;

	ch->ops++;
	s->next = -1;
	switch (k) {
	case K_READ:
		if (good && (req->reply_len != BS ||
		    !pat_check(PAT_SEED, req->rdata, req->u[1], BS))) {
			bad(ch, req, "read data differs from what was written");
			return;
		}
		break;
	case K_WRITE:
		if (good && ((const struct fuse_write_out *)req->reply)->size !=
		    BS) {
			bad(ch, req, "short write");
			return;
		}
		break;
	case K_CREATE:
		if (good) {
			const struct fuse_entry_out *e = req->reply;
			const struct fuse_open_out *o = (const void *)(e + 1);

			s->nodeid = e->nodeid;
			s->fh = o->fh;
			s->next = K_RELEASE;
		}
		break;
	case K_RELEASE:
		s->next = K_UNLINK;
		break;
	case K_UNLINK:
		s->next = K_FORGET;
		break;
	default:
		break;
	}
	if (!good) {
		bad(ch, req, "unexpected answer");
		return;
	}
	ch->ok++;
}

static pid_t
run_cmd(const char *cmd)
{
	pid_t p = fork();

	if (p == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

int
chaos_main(const struct cli *c0, int argc, char **argv)
{
	static const struct option lo[] = {
		{"kill-cmd", required_argument, NULL, 'k'},
		{"every-ms", required_argument, NULL, 'e'},
		{"seconds", required_argument, NULL, 's'},
		{"depth", required_argument, NULL, 'd'},
		{"stall-timeout", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	struct cli c = *c0;
	const char *kill_cmd = NULL;
	unsigned every_ms = 1000, depth = 32, inflight = 0;
	double seconds = 10, stall_timeout = 10;
	struct chaos ch = {0};
	struct cslot *slots;
	struct vuf_dev *d;
	uint64_t t0, t_end, next_kill, last_progress, longest = 0;
	const char *reason = "completed";
	bool stopping = false, closed = false, hung = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "k:e:s:d:t:", lo, NULL)) != -1) {
		switch (opt) {
		case 'k':
			kill_cmd = optarg;
			break;
		case 'e':
			every_ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'd':
			depth = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 't':
			stall_timeout = strtod(optarg, NULL);
			break;
		default:
			return 2;
		}
	}
	if (depth == 0 || depth > 256)
		depth = 32;
	while (c.vo.queue_size < 1024 && c.vo.queue_size < depth * 5)
		c.vo.queue_size *= 2;
	if (cli_connect(&c, &d, &ch.fc) < 0)
		return 1;
	ch.rng = 0x1234567ull ^ (uint64_t)getpid();
	if ((r = prepare(&ch)) < 0) {
		fprintf(stderr, "chaos: prepare: %s\n", strerror(-r));
		cli_disconnect(d, ch.fc);
		return 1;
	}
	slots = calloc(depth, sizeof(*slots));
	for (unsigned i = 0; i < depth; i++)
		slots[i].next = -1;
	t0 = vuf_now_ns();
	t_end = t0 + (uint64_t)(seconds * 1e9);
	next_kill = kill_cmd ? t0 + (uint64_t)every_ms * 1000000ull :
	    UINT64_MAX;
	last_progress = t0;
	for (;;) {
		struct fusec_req *done[64];
		uint64_t now = vuf_now_ns();
		int k;

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (now >= t_end)
			stopping = true;
		if (!stopping && now >= next_kill) {
			run_cmd(kill_cmd);
			ch.kills++;
			next_kill = now + (uint64_t)every_ms * 1000000ull;
		}
		for (unsigned i = 0; !stopping && i < depth; i++) {
			struct fusec_req *req;

			if (slots[i].busy)
				continue;
			req = next_req(&ch, &slots[i], i);
			if (req == NULL)
				break;
			if ((r = fusec_submit(ch.fc, req)) < 0) {
				fusec_req_free(req);
				if (r == -EPIPE) {
					closed = true;
					stopping = true;
				}
				break;
			}
			if (inflight == 0)
				last_progress = vuf_now_ns();
			slots[i].busy = true;
			inflight++;
		}
		if (inflight == 0 && (stopping || closed))
			break;
		k = fusec_poll(ch.fc, 100, done, 64);
		now = vuf_now_ns();
		if (k < 0) {
			closed = true;
			stopping = true;
			break;
		}
		if (k == 0) {
			if (inflight && now - last_progress > longest)
				longest = now - last_progress;
			if (inflight && (double)(now - last_progress) / 1e9 >
			    stall_timeout) {
				hung = true;
				break;
			}
			continue;
		}
		if (inflight && now - last_progress > longest)
			longest = now - last_progress;
		last_progress = now;
		for (int i = 0; i < k; i++) {
			struct cslot *s = done[i]->user;

			s->busy = false;
			inflight--;
			complete(&ch, done[i]);
			fusec_req_free(done[i]);
		}
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (closed)
		reason = "backend closed the socket";
	else if (hung)
		reason = "no progress (stall timeout)";
	printf("chaos daemon=%s seconds=%.1f kills=%llu depth=%u ops=%llu "
	    "ok=%llu bad=%llu lost=%u proto_errors=%llu "
	    "longest_stall_ms=%.1f result=%s reason=\"%s\"\n",
	    c.label, (double)(vuf_now_ns() - t0) / 1e9,
	    (unsigned long long)ch.kills, depth, (unsigned long long)ch.ops,
	    (unsigned long long)ch.ok, (unsigned long long)ch.bad, inflight,
	    (unsigned long long)ch.fc->proto_errors, (double)longest / 1e6,
	    (!closed && !hung && ch.bad == 0 && inflight == 0 &&
	    ch.fc->proto_errors == 0) ? "PASS" : "FAIL", reason);
	if (ch.first_bad[0])
		printf("chaos first_bad=\"%s\"\n", ch.first_bad);
	if (ch.fc->proto_errors)
		printf("chaos last_proto_error=\"%s\"\n", ch.fc->err);
	r = (!closed && !hung && ch.bad == 0 && inflight == 0 &&
	    ch.fc->proto_errors == 0) ? 0 : 1;
	if (!closed && !hung) {
		/* Tidy: finish open create cycles. */
		for (unsigned i = 0; i < depth; i++) {
			if (slots[i].next == K_RELEASE)
				fusec_release(ch.fc, slots[i].nodeid,
				    slots[i].fh);
			if (slots[i].next == K_RELEASE ||
			    slots[i].next == K_UNLINK)
				fusec_unlink(ch.fc, ch.dir, slots[i].name);
		}
		fusec_release(ch.fc, ch.file, ch.fh);
	}
	free(slots);
	cli_disconnect(d, ch.fc);
	return r;
}
