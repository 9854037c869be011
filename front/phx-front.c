// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * phx-front: drives a vhost-user-fs backend (phoenixfsd, virtiofsd) with no
 * guest. This file owns option parsing, the connect+INIT helper, the
 * latency histogram and the "smoke" subcommand (one pass over every FUSE
 * opcode fusec speaks, as TAP). bench, hostile, chaos, remount, reboot, forgetrace
 * and releaserace live in their own files.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HIST_BUCKETS 100000

int
cli_hist_init(struct cli_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->b = calloc(HIST_BUCKETS, sizeof(*h->b));
	return h->b ? 0 : -ENOMEM;
}

void
cli_hist_add(struct cli_hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000;

	h->n++;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->b[us < HIST_BUCKETS ? us : HIST_BUCKETS - 1]++;
}

double
cli_hist_pct(const struct cli_hist *h, double p)
{
	uint64_t want, acc = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)((double)h->n * p / 100.0);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		acc += h->b[i];
		if (acc >= want)
			return i == HIST_BUCKETS - 1 ? (double)h->max_ns / 1e3 :
			    i + 0.5;
	}
	return (double)h->max_ns / 1e3;
}

void
cli_hist_free(struct cli_hist *h)
{
	free(h->b);
	h->b = NULL;
}

int
cli_connect(const struct cli *c, struct vuf_dev **ret_dev,
    struct fusec **ret_fc)
{
	uint64_t deadline = vuf_now_ns() + (uint64_t)c->wait_s * 1000000000ull;
	struct vuf_dev *d = NULL;
	struct fusec *fc = NULL;
	int r;

	for (;;) {
		r = vuf_open(c->sock, &c->vo, &d);
		if (r == 0 || (r != -ENOENT && r != -ECONNREFUSED) ||
		    vuf_now_ns() > deadline)
			break;
		usleep(20000);
	}
	if (r < 0) {
		fprintf(stderr, "phx-front: connect %s: %s\n", c->sock,
		    strerror(-r));
		return r;
	}
	r = vuf_handshake(d);
	if (r < 0) {
		fprintf(stderr, "phx-front: vhost-user handshake: %s (%s)\n",
		    strerror(-r), d->err);
		vuf_close(d);
		return r;
	}
	if ((r = fusec_new(d, &fc)) < 0 ||
	    (!c->no_init && (r = fusec_init(fc)) < 0)) {
		fprintf(stderr, "phx-front: FUSE_INIT: %s %s\n", strerror(-r),
		    fc ? fc->err : "");
		fusec_free(fc);
		vuf_close(d);
		return r;
	}
	if (c->verbose)
		fprintf(stderr,
		    "phx-front: features 0x%llx acked 0x%llx proto 0x%llx "
		    "queues %u (backend %llu) fuse 7.%u max_write %u\n",
		    (unsigned long long)d->features,
		    (unsigned long long)d->acked,
		    (unsigned long long)d->packed, d->nvq,
		    (unsigned long long)d->backend_queues, fc->init.minor,
		    fc->init.max_write);
	*ret_dev = d;
	*ret_fc = fc;
	return 0;
}

void
cli_disconnect(struct vuf_dev *d, struct fusec *fc)
{
	fusec_free(fc);
	vuf_close(d);
}

/* ---- smoke: every opcode once ---- */

static int tap_n, tap_fail;

void
cli_tap(bool ok, const char *desc, int r, const char *extra)
{
	tap_n++;
	if (!ok)
		tap_fail++;
	printf("%sok %d - %s", ok ? "" : "not ", tap_n, desc);
	if (r < 0)
		printf(" (%s)", strerror(-r));
	if (extra && *extra)
		printf(" [%s]", extra);
	printf("\n");
	fflush(stdout);
}

int
cli_tap_end(void)
{
	printf("1..%d\n%d passed, %d failed\n", tap_n, tap_n - tap_fail,
	    tap_fail);
	return tap_fail ? 1 : 0;
}

static void
tap(bool ok, const char *desc, int r, const char *extra)
{
	cli_tap(ok, desc, r, extra);
}

static unsigned
count_dirents(const uint8_t *buf, int len, bool plus)
{
	unsigned n = 0;
	int off = 0;

	while (len - off >= (int)(plus ? FUSE_NAME_OFFSET_DIRENTPLUS :
	    FUSE_NAME_OFFSET)) {
		const struct fuse_dirent *de = plus ?
		    &((const struct fuse_direntplus *)(buf + off))->dirent :
		    (const struct fuse_dirent *)(buf + off);
		size_t sz = plus ? FUSE_DIRENTPLUS_SIZE(
		    (const struct fuse_direntplus *)(buf + off)) :
		    FUSE_DIRENT_SIZE(de);

		if (de->namelen == 0 || off + (int)sz > len)
			break;
		n++;
		off += (int)sz;
	}
	return n;
}

static int
smoke_main(const struct cli *c)
{
	struct fuse_entry_out d, f, e;
	struct fuse_open_out o;
	struct fuse_attr_out a;
	struct fuse_statfs_out sf;
	struct vuf_dev *dev;
	struct fusec *fc;
	char dname[64], buf[8192], rbuf[8192];
	uint64_t off;
	int r;

	if ((r = cli_connect(c, &dev, &fc)) < 0) {
		printf("not ok 1 - connect + INIT (%s)\nBail out!\n",
		    strerror(-r));
		return 1;
	}
	snprintf(buf, sizeof(buf), "7.%u max_write=%u flags=0x%x",
	    fc->init.minor, fc->init.max_write, fc->init.flags);
	tap(fc->init.minor >= 31 || fc->init.minor > 0, "INIT", 0, buf);
	r = fusec_getattr(fc, 1, &a);
	tap(r == 0 && S_ISDIR(a.attr.mode), "GETATTR root", r, NULL);
	r = fusec_statfs(fc, 1, &sf);
	tap(r == 0 && sf.st.bsize > 0, "STATFS", r, NULL);
	snprintf(dname, sizeof(dname), "smoke.%d.%ld", getpid(),
	    (long)time(NULL));
	r = fusec_mkdir(fc, 1, dname, 0755, &d);
	tap(r == 0 && d.nodeid && S_ISDIR(d.attr.mode), "MKDIR", r, NULL);
	r = fusec_mkdir(fc, 1, dname, 0755, NULL);
	tap(r == -EEXIST, "MKDIR existing -> EEXIST", r, NULL);
	r = fusec_create(fc, d.nodeid, "f", O_RDWR | O_CREAT | O_EXCL, 0644,
	    &f, &o);
	tap(r == 0 && f.nodeid && S_ISREG(f.attr.mode), "CREATE", r, NULL);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	r = fusec_write(fc, f.nodeid, o.fh, 0, buf, sizeof(buf));
	tap(r == (int)sizeof(buf), "WRITE 8 KiB", r, NULL);
	r = fusec_read(fc, f.nodeid, o.fh, 0, rbuf, sizeof(rbuf));
	tap(r == (int)sizeof(rbuf) && memcmp(buf, rbuf, sizeof(buf)) == 0,
	    "READ back matches", r, NULL);
	r = fusec_read(fc, f.nodeid, o.fh, 8192, rbuf, 4096);
	tap(r == 0, "READ at EOF -> 0 bytes", r, NULL);
	r = fusec_flush(fc, f.nodeid, o.fh);
	tap(r == 0, "FLUSH", r, NULL);
	r = fusec_fsync(fc, f.nodeid, o.fh, false);
	tap(r == 0, "FSYNC", r, NULL);
	r = fusec_fallocate(fc, f.nodeid, o.fh, 0, 65536, 0);
	tap(r == 0 || r == -EOPNOTSUPP, "FALLOCATE", r, NULL);
	r = fusec_lseek(fc, f.nodeid, o.fh, 0, SEEK_DATA, &off);
	tap(r == 0 || r == -ENOSYS, "LSEEK SEEK_DATA", r, NULL);
	r = fusec_getattr(fc, f.nodeid, &a);
	tap(r == 0 && a.attr.size >= 8192, "GETATTR file size", r, NULL);
	{
		struct fuse_setattr_in sa = {.valid = FATTR_SIZE,
		    .size = 100};

		r = fusec_setattr(fc, f.nodeid, &sa, &a);
		tap(r == 0 && a.attr.size == 100, "SETATTR truncate", r,
		    NULL);
	}
	r = fusec_release(fc, f.nodeid, o.fh);
	tap(r == 0, "RELEASE", r, NULL);
	r = fusec_lookup(fc, d.nodeid, "f", &e);
	tap(r == 0 && e.nodeid == f.nodeid, "LOOKUP same nodeid", r, NULL);
	r = fusec_lookup(fc, d.nodeid, "nope", &e);
	tap(r == -ENOENT || (r == 0 && e.nodeid == 0), "LOOKUP missing", r,
	    NULL);
	r = fusec_open(fc, f.nodeid, O_RDONLY, &o);
	tap(r == 0, "OPEN", r, NULL);
	if (r == 0)
		fusec_release(fc, f.nodeid, o.fh);
	r = fusec_access(fc, f.nodeid, R_OK);
	tap(r == 0 || r == -ENOSYS, "ACCESS", r, NULL);
	r = fusec_symlink(fc, d.nodeid, "s", "f", &e);
	tap(r == 0 && S_ISLNK(e.attr.mode), "SYMLINK", r, NULL);
	r = fusec_readlink(fc, e.nodeid, rbuf, sizeof(rbuf));
	tap(r == 1 && rbuf[0] == 'f', "READLINK", r, NULL);
	r = fusec_link(fc, f.nodeid, d.nodeid, "h", &e);
	tap(r == 0 && e.attr.nlink == 2, "LINK", r, NULL);
	r = fusec_rename(fc, d.nodeid, "h", d.nodeid, "h2");
	tap(r == 0, "RENAME", r, NULL);
	r = fusec_rename2(fc, d.nodeid, "h2", d.nodeid, "f", 1);
	tap(r == -EEXIST, "RENAME2 NOREPLACE onto existing -> EEXIST", r,
	    NULL);
	r = fusec_mknod(fc, d.nodeid, "p", S_IFIFO | 0644, 0, &e);
	tap(r == 0 && S_ISFIFO(e.attr.mode), "MKNOD fifo", r, NULL);
	r = fusec_setxattr(fc, f.nodeid, "user.phx", "v", 1, 0);
	tap(r == 0 || r == -ENOSYS || r == -EOPNOTSUPP, "SETXATTR", r, NULL);
	if (r == 0) {
		r = fusec_getxattr(fc, f.nodeid, "user.phx", rbuf, 64);
		tap(r == 1 && rbuf[0] == 'v', "GETXATTR", r, NULL);
		r = fusec_listxattr(fc, f.nodeid, NULL, 0);
		tap(r > 0, "LISTXATTR size", r, NULL);
		r = fusec_removexattr(fc, f.nodeid, "user.phx");
		tap(r == 0, "REMOVEXATTR", r, NULL);
	} else {
		r = fusec_getxattr(fc, f.nodeid, "user.phx", rbuf, 64);
		tap(r < 0 && r != -EPROTO, "GETXATTR (xattr off)", r, NULL);
	}
	r = fusec_opendir(fc, d.nodeid, &o);
	tap(r == 0, "OPENDIR", r, NULL);
	if (r == 0) {
		int n = fusec_readdir(fc, d.nodeid, o.fh, 0, rbuf,
		    sizeof(rbuf), false);
		unsigned cnt = n > 0 ? count_dirents((uint8_t *)rbuf, n,
		    false) : 0;

		/* . .. f s h2 p */
		tap(cnt == 6, "READDIR 6 entries", n < 0 ? n : 0, NULL);
		n = fusec_readdir(fc, d.nodeid, o.fh, 0, rbuf, sizeof(rbuf),
		    true);
		cnt = n > 0 ? count_dirents((uint8_t *)rbuf, n, true) : 0;
		tap(cnt == 6 || n == -ENOSYS, "READDIRPLUS 6 entries",
		    n < 0 ? n : 0, NULL);
		r = fusec_releasedir(fc, d.nodeid, o.fh);
		tap(r == 0, "RELEASEDIR", r, NULL);
	}
	tap(fusec_unlink(fc, d.nodeid, "p") == 0 &&
	    fusec_unlink(fc, d.nodeid, "s") == 0 &&
	    fusec_unlink(fc, d.nodeid, "h2") == 0 &&
	    fusec_unlink(fc, d.nodeid, "f") == 0, "UNLINK x4", 0, NULL);
	r = fusec_unlink(fc, d.nodeid, "f");
	/* virtiofsd 7.2 answers EIO (lookup_name fails in lo_unlink). */
	tap(r == -ENOENT || r == -EIO, "UNLINK missing -> ENOENT (or EIO)", r,
	    NULL);
	r = fusec_rmdir(fc, 1, dname);
	tap(r == 0, "RMDIR", r, NULL);
	/* f: CREATE + LOOKUP + LINK; d: MKDIR; e: the fifo. */
	r = fusec_forget(fc, f.nodeid, 3);
	tap(r == 0, "FORGET (hiprio, no reply)", r, NULL);
	{
		struct fuse_forget_one v[2] = {{d.nodeid, 1}, {e.nodeid, 1}};

		r = fusec_batch_forget(fc, v, 2);
		tap(r == 0, "BATCH_FORGET", r, NULL);
	}
	r = fusec_getattr(fc, 1, &a);
	tap(r == 0, "GETATTR root after forgets", r, NULL);
	tap(fc->proto_errors == 0, "no protocol errors", 0, fc->err);
	r = fusec_destroy(fc);
	tap(r == 0, "DESTROY", r, NULL);
	r = vuf_stop(dev);
	tap(r == 0, "GET_VRING_BASE all queues", r, dev->err);
	cli_disconnect(dev, fc);
	return cli_tap_end();
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: phx-front --socket SOCK [--label L] [--mem-mb N] "
	    "[--queue-size N]\n"
	    "                 [--queues N] [--regions 1|2] [--indirect] "
	    "[--no-event-idx]\n"
	    "                 [--wait S] [-v] COMMAND [args]\n"
	    "commands:\n"
	    "  smoke      every FUSE opcode once, TAP\n"
	    "  bench      --workload W --depth N --seconds S [--dir NAME]: depth in\n"
	    "             total, slot i on queue 1 + i mod queues; W idle: INIT only\n"
	    "  hostile    [--restart-cmd CMD] malformed inputs, TAP\n"
	    "  guestsec   [--timeout MS] ids | special NAME... | ringgone: "
	    "issue 9 attacks, TAP\n"
	    "  chaos      --kill-cmd CMD --every-ms K --seconds S\n"
	    "  remount    --pid WORKER [--files N] [--slack K]: DESTROY frees "
	    "the tables, TAP\n"
	    "  reboot     --pid WORKER [--boots B] [--files N] [--slack K]\n"
	    "             [--status-cmd CMD]: device resets end the session, "
	    "TAP\n"
	    "  forgetrace [--seconds S] FORGET racing GETATTR, TAP\n"
	    "  releaserace [--seconds S] RELEASE racing READ, TAP\n"
	    "  secprobe   groups|xattr|secctx [--uid U --gid G]: identity checks, TAP\n"
	    "  fdcap      --dir NAME --files N [--forget K] [--open-reserve]: "
	    "ENFILE\n"
	    "             [--kill-cmd CMD] beyond the inode/fd cap, FORGET "
	    "frees,\n             a worker killed at the cap, TAP\n"
	    "  inoreuse   [--rounds N] a reused inode number is a new nodeid, "
	    "TAP\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"socket", required_argument, NULL, 's'},
		{"label", required_argument, NULL, 'l'},
		{"mem-mb", required_argument, NULL, 'm'},
		{"queue-size", required_argument, NULL, 'q'},
		{"queues", required_argument, NULL, 'Q'},
		{"regions", required_argument, NULL, 'r'},
		{"indirect", no_argument, NULL, 'i'},
		{"no-event-idx", no_argument, NULL, 'E'},
		{"wait", required_argument, NULL, 'w'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli c = {.label = "unknown", .wait_s = 5};
	int ch;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	vuf_opts_default(&c.vo);
	while ((ch = getopt_long(argc, argv, "+s:l:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			c.sock = optarg;
			break;
		case 'l':
			c.label = optarg;
			break;
		case 'm':
			c.vo.mem_size = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'q':
			c.vo.queue_size = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'Q':
			c.vo.nreq_queues = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			c.vo.nregions = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'i':
			c.vo.indirect = true;
			break;
		case 'E':
			c.vo.no_event_idx = true;
			break;
		case 'w':
			c.wait_s = atoi(optarg);
			break;
		case 'v':
			c.verbose = true;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (c.sock == NULL || argc < 1)
		usage();
	optind = 1;
	if (strcmp(argv[0], "smoke") == 0)
		return smoke_main(&c);
	if (strcmp(argv[0], "bench") == 0)
		return bench_main(&c, argc, argv);
	if (strcmp(argv[0], "hostile") == 0)
		return hostile_main(&c, argc, argv);
	if (strcmp(argv[0], "guestsec") == 0)
		return guestsec_main(&c, argc, argv);
	if (strcmp(argv[0], "chaos") == 0)
		return chaos_main(&c, argc, argv);
	if (strcmp(argv[0], "remount") == 0)
		return remount_main(&c, argc, argv);
	if (strcmp(argv[0], "reboot") == 0)
		return reboot_main(&c, argc, argv);
	if (strcmp(argv[0], "forgetrace") == 0)
		return forgetrace_main(&c, argc, argv);
	if (strcmp(argv[0], "releaserace") == 0)
		return releaserace_main(&c, argc, argv);
	if (strcmp(argv[0], "secprobe") == 0)
		return secprobe_main(&c, argc, argv);
	if (strcmp(argv[0], "fdcap") == 0)
		return fdcap_main(&c, argc, argv);
	if (strcmp(argv[0], "inoreuse") == 0)
		return inoreuse_main(&c, argc, argv);
	usage();
}
