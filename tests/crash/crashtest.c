// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * crashtest: the crash-test driver (tests/crash) and recovery benchmark
 * (bench/recovery.sh). It plays the guest over one vhost-user connection
 * that is never re-made, keeps --depth requests in flight and checks
 * DESIGN.md section 10 while the worker dies (crash points in the daemon,
 * or kills sent here to the keeper's only child).
 *
 *   crashtest work  --socket S --share DIR [--keeper PID] [--depth 64]
 *       [--seconds N] [--kill-min-ms A --kill-max-ms B] [--kill-sig SIG]
 *       [--max-kills N] [--ctl-every-ms N] [--poison-unique U]
 *       [--expect-respawn] [--bs N (data READ/WRITE size, 4096)]
 *     Mixed workload: every slot runs a cycle on names of its own (CREATE
 *     new, WRITE at an offset, READ back, SETATTR size, GETATTR, RELEASE,
 *     RENAME, LOOKUP (same nodeid), MKDIR new, RMDIR, UNLINK, FORGET,
 *     LOOKUP -> ENOENT); between steps, shared operations on objects
 *     obtained before any crash: pattern writes and reads through an fh
 *     opened at the start, GETATTR/READ/LOOKUP of pinned files, UNLINK,
 *     RMDIR and RENAME of names created on the host beforehand. Every
 *     reply must be the one a crash-free run gives, so a doubled or lost
 *     operation shows as a wrong answer. At the end: host-side listing and
 *     contents, the pre-crash nodeids and fhs, the keeper's fd count.
 *     Output is TAP, ending with "N passed, N failed".
 *
 *   crashtest bench --socket S --share DIR --keeper PID [--inodes N]
 *       [--kills N] [--depth 64] [--seconds N (throughput, no kills)]
 *       [--mem-mb M] [--sweep-each]
 *     Looks up N files, then kills the worker --kills times with --depth
 *     requests in flight and prints the time from kill() to the first
 *     reply published after the old worker's mm is gone. --mem-mb: guest
 *     RAM (default 128 MiB); before the kills, 128 KiB READs land in every
 *     128 KiB of it, so the worker's page tables map all of it (as a
 *     guest's I/O buffers do over time), and the workload's buffers are
 *     placed at random over all of it; --sweep-each: again before
 *     every kill, so every dead worker has all of it mapped.
 *
 * Never hangs: every wait is bounded and a SIGALRM watchdog ends the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "crashtest.h"
#include "fusec.h"
#include "vuf.h"

#define DATA_SIZE (1u << 20)
#define BS	  4096u
#define NPIN	  16
#define MAXDEPTH  256
#define MAXQ	  16	/* queue indices counted (hiprio + request queues) */

#define IOV(p, l) ((struct iovec){(void *)(uintptr_t)(p), (l)})

/* ---- options and reporting ---- */

struct opts {
	const char *sock, *share;
	pid_t keeper;
	unsigned depth;
	double seconds;
	unsigned kill_min_ms, kill_max_ms;
	int kill_sig;
	unsigned max_kills;
	unsigned ctl_every_ms;
	uint64_t poison;
	bool expect_respawn;
	unsigned pool;
	unsigned inodes;
	unsigned bench_kills;
	double stall_timeout;
	unsigned watchdog_s;
	unsigned fd_settle_ms;
	uint64_t seed;
	bool verbose;
	const char *scenario;	/* scenario mode: its name (scenario.c) */
	unsigned queues;	/* request queues: slot i uses 1 + i % queues */
	unsigned count;		/* scenario held: GETATTRs past the hold */
	unsigned mem_mb;	/* bench: guest RAM, MiB (0: 128) */
	bool sweep_each;	/* bench: the RAM sweep before every kill */
};

/* Guest RAM of the next ct_connect() (bench --mem-mb); 0: 128 MiB. */
static size_t ct_mem_bytes;
/*
 * work: the size of the data file's WRITEs and READs (--bs; BS). 256 KiB
 * puts them on the daemon's pool threads (queue_large_io) at each kill.
 */
static uint32_t ct_bs = BS;

static int tap_n, tap_pass, tap_fail;

static void
tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (ok)
		tap_pass++;
	else
		tap_fail++;
	printf("%sok %d - ", ok ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void
on_alarm(int sig)
{
	static const char m[] = "Bail out! crashtest watchdog expired\n";

	(void)sig;
	(void)!write(1, m, sizeof(m) - 1);
	_exit(3);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned
rnd_between(unsigned a, unsigned b)
{
	return b <= a ? a : a + (unsigned)(rnd() % (b - a + 1));
}

/* ---- patterns ---- */

static uint8_t
pat_byte(uint64_t tag, uint64_t off)
{
	uint64_t x = (off >> 3) ^ tag;

	x *= 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> (8 * (off & 7)));
}

static void
pat_fill(uint8_t *p, uint64_t tag, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat_byte(tag, off + i);
}

static bool
pat_check(const uint8_t *p, uint64_t tag, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat_byte(tag, off + i))
			return false;
	return true;
}

#define TAG_DATA 0x44415441ull
#define TAG_PIN	 0x50494e00ull

/* ---- the keeper's worker ---- */

/* Reads state and ppid of /proc/pid/stat; false when gone. */
static bool
proc_stat(pid_t pid, char *ret_state, pid_t *ret_ppid, uint64_t *ret_vsize)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return false;
	p += 2;
	if (ret_state)
		*ret_state = *p;
	if (ret_ppid)
		*ret_ppid = (pid_t)strtol(p + 2, NULL, 10);
	if (ret_vsize) {
		/* field 23; p points at field 3 */
		for (int f = 3; f < 23 && p; f++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		*ret_vsize = p ? strtoull(p, NULL, 10) : 0;
	}
	return true;
}

static bool
worker_live(pid_t pid, pid_t keeper)
{
	char st;
	pid_t pp;
	uint64_t vs;

	return pid > 0 && proc_stat(pid, &st, &pp, &vs) && pp == keeper &&
	    st != 'Z' && st != 'X' && vs != 0;
}

pid_t
ct_find_worker(pid_t keeper)
{
	static pid_t cached;
	struct dirent *de;
	pid_t found = 0;
	DIR *d;

	if (worker_live(cached, keeper))
		return cached;
	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t p = (pid_t)atoi(de->d_name);

		if (p > 0 && worker_live(p, keeper)) {
			found = p;
			break;
		}
	}
	closedir(d);
	cached = found;
	return found;
}

bool
ct_wait_mm_gone(pid_t pid, unsigned timeout_ms)
{
	uint64_t end = vuf_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	while (vuf_now_ns() < end) {
		DIR *d = opendir(path);
		struct dirent *de;
		bool live = false;

		if (d == NULL)
			return true;
		while ((de = readdir(d)) != NULL) {
			pid_t t = (pid_t)atoi(de->d_name);
			uint64_t vs = 0;
			char st = 0;

			if (t <= 0)
				continue;
			if (proc_stat(t, &st, NULL, &vs) && vs != 0 &&
			    st != 'Z' && st != 'X')
				live = true;
		}
		closedir(d);
		if (!live)
			return true;
		/* Not a spin: a busy loop here took one of a 2-CPU host's
		 * CPUs from the recovery it waits for. */
		usleep(20);
	}
	return false;
}

/*
 * The fds of pid's table, less (rings true: only) its io_uring rings: one
 * per worker thread, and slow mode (src/queue_int.h) grows the pool by 12
 * threads, so the ring count follows the threads, not a leak.
 */
static int
count_fds_of(pid_t pid, bool rings)
{
	char path[300], link[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		ssize_t l;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
		    de->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		link[l > 0 ? l : 0] = '\0';
		n += (strcmp(link, "anon_inode:[io_uring]") == 0) == rings;
	}
	closedir(d);
	return n;
}

static int
count_fds(pid_t pid)
{
	return count_fds_of(pid, false);
}

/* Tasks of pid (its threads). */
static int
count_tasks(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- connection ---- */

static int
connect_dev(const struct opts *o, unsigned depth, struct vuf_dev **ret_d,
    struct fusec **ret_fc)
{
	return ct_connect(o->sock, depth, ret_d, ret_fc);
}

/* Request queues asked for at connect (crashtest --queues). */
static unsigned ct_queues = 1;

int
ct_connect(const char *sock, unsigned depth, struct vuf_dev **ret_d,
    struct fusec **ret_fc)
{
	struct vuf_opts vo;
	struct vuf_dev *d = NULL;
	struct fusec *fc = NULL;
	uint64_t end = vuf_now_ns() + 10000000000ull;
	int r;

	vuf_opts_default(&vo);
	vo.mem_size = ct_mem_bytes ? ct_mem_bytes : 128u << 20;
	vo.queue_size = 128;
	while (vo.queue_size < 1024 && vo.queue_size < depth * 6)
		vo.queue_size *= 2;
	vo.timeout_ms = 10000;
	vo.nreq_queues = ct_queues;
	for (;;) {
		r = vuf_open(sock, &vo, &d);
		if (r == 0 || (r != -ENOENT && r != -ECONNREFUSED) ||
		    vuf_now_ns() > end)
			break;
		usleep(20000);
	}
	if (r < 0) {
		fprintf(stderr, "crashtest: connect %s: %s\n", sock,
		    strerror(-r));
		return r;
	}
	if ((r = vuf_handshake(d)) < 0) {
		fprintf(stderr, "crashtest: handshake: %s (%s)\n",
		    strerror(-r), d->err);
		vuf_close(d);
		return r;
	}
	if ((r = fusec_new(d, &fc)) < 0)
		goto fail;
	fc->timeout_ms = 10000;
	if ((r = fusec_init(fc)) < 0) {
		fprintf(stderr, "crashtest: INIT: %s %s\n", strerror(-r),
		    fc->err);
		goto fail;
	}
	*ret_d = d;
	*ret_fc = fc;
	return 0;
fail:
	fusec_free(fc);
	vuf_close(d);
	return r < 0 ? r : -EIO;
}

/* ---- request builders fusec lacks in async form ---- */

static struct fusec_req *
req_name(struct fusec *fc, uint32_t op, uint64_t parent, const char *name,
    size_t out_cap)
{
	struct iovec a = IOV(name, strlen(name) + 1);

	return fusec_req_new(fc, op, parent, &a, 1, 0, out_cap, 0);
}

static struct fusec_req *
req_mkdir(struct fusec *fc, uint64_t parent, const char *name)
{
	struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
	struct iovec a[2] = {IOV(&in, sizeof(in)),
	    IOV(name, strlen(name) + 1)};

	return fusec_req_new(fc, FUSE_MKDIR, parent, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0);
}

static struct fusec_req *
req_rename(struct fusec *fc, uint64_t dir, const char *from, const char *to)
{
	struct fuse_rename_in in = {.newdir = dir};
	struct iovec a[3] = {IOV(&in, sizeof(in)),
	    IOV(from, strlen(from) + 1), IOV(to, strlen(to) + 1)};

	return fusec_req_new(fc, FUSE_RENAME, dir, a, 3, 0, 0, 0);
}

static struct fusec_req *
req_setsize(struct fusec *fc, uint64_t nodeid, uint64_t size)
{
	struct fuse_setattr_in in = {.valid = FATTR_SIZE, .size = size};
	struct iovec a = IOV(&in, sizeof(in));

	return fusec_req_new(fc, FUSE_SETATTR, nodeid, &a, 1, 0,
	    sizeof(struct fuse_attr_out), 0);
}

/* ---- the checked workload ---- */

enum step {
	S_CREATE,
	S_WRITE,
	S_READ,
	S_SETSIZE,
	S_GETATTR,
	S_RELEASE,
	S_RENAME,
	S_LOOKUP,
	S_MKDIR,
	S_RMDIR,
	S_UNLINK,
	S_FORGET_FILE,
	S_FORGET_DIR,
	S_LOOKUP_GONE,
	S_NSTEPS
};

enum side {
	X_DATA_WRITE = 100,
	X_DATA_READ,
	X_PIN_GETATTR,
	X_PIN_READ,
	X_PIN_LOOKUP,
	X_POOL_UNLINK,
	X_POOL_RMDIR,
	X_POOL_RENAME,
	X_DIR_GETATTR,
	X_POISON,
};

static const char *const step_names[] = {"CREATE new", "WRITE private",
    "READ back", "SETATTR size", "GETATTR size", "RELEASE", "RENAME",
    "LOOKUP renamed", "MKDIR new", "RMDIR", "UNLINK", "FORGET file",
    "FORGET dir", "LOOKUP unlinked"};

static const char *
kind_name(int k)
{
	static const char *const side[] = {"WRITE data", "READ data",
	    "GETATTR pinned", "READ pinned", "LOOKUP pinned",
	    "UNLINK existing", "RMDIR existing", "RENAME existing",
	    "GETATTR dir", "poison"};

	if (k >= 0 && k < S_NSTEPS)
		return step_names[k];
	if (k >= X_DATA_WRITE && k <= X_POISON)
		return side[k - X_DATA_WRITE];
	return "?";
}

struct slot {
	bool busy, finished, derailed;
	int step;
	unsigned cycle;
	uint64_t nodeid, ino, fh, dirnode;
	uint64_t woff, size;
	uint32_t wlen;
	unsigned nlookup;
	char n[48], m[48], dn[48];
};

struct work {
	const struct opts *o;
	struct vuf_dev *d;
	struct fusec *fc;
	uint64_t dir, dir_ino;
	char dirname[64];
	uint64_t data, data_fh;
	uint64_t pin[NPIN], pin_ino[NPIN], pin_fh[NPIN];
	uint32_t pin_size[NPIN];
	unsigned pin_nlookup[NPIN];
	unsigned pool, pool_unlink, pool_rmdir, pool_rename;
	struct slot *slots;
	unsigned inflight;
	uint64_t ops, ok, bad, kills, ctl_msgs, ctl_bad, respawns;
	uint64_t by_kind_bad[X_POISON + 1];
	bool poison_sent, poison_done;
	int poison_error;
	char first_bad[512];
	unsigned nbad_logged;
};

static void
mark_bad(struct work *w, struct fusec_req *req, int kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A hang: which requests never got their reply (queue, head, opcode). */
static void
dump_inflight(struct vuf_dev *d)
{
	for (unsigned q = 0; q < d->nvq; q++) {
		struct vuf_vq *vq = &d->vq[q];

		printf("# queue %u: avail_idx %u last_used %u used->idx %u\n", q,
		    vq->avail_idx, vq->last_used,
		    __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
		for (unsigned h = 0; h < vq->num; h++) {
			struct fusec_req *r = vq->heads[h].cookie;

			if (!vq->heads[h].inflight || r == NULL)
				continue;
			printf("#   lost: queue %u head %u opcode %u unique %llu "
			    "nodeid %llu age %.1f ms\n", q, h, r->opcode,
			    (unsigned long long)r->unique,
			    (unsigned long long)r->nodeid,
			    (double)(vuf_now_ns() - vq->heads[h].t_pub) / 1e6);
		}
	}
}

static void
mark_bad(struct work *w, struct fusec_req *req, int kind, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->bad++;
	if (kind >= 0 && kind <= X_POISON)
		w->by_kind_bad[kind]++;
	if (w->nbad_logged < 10) {
		w->nbad_logged++;
		printf("# bad: %s (%s unique %llu): %s; error %d%s%s%s\n",
		    kind_name(kind), fusec_opname(req->opcode),
		    (unsigned long long)req->unique, msg, req->error,
		    req->proto ? " protocol: " : "",
		    req->proto ? req->fc->err : "", "");
	}
	if (w->first_bad[0] == '\0')
		snprintf(w->first_bad, sizeof(w->first_bad), "%s: %s (error %d)",
		    kind_name(kind), msg, req->error);
}

static int
host_path(const struct work *w, char *buf, size_t len, const char *name)
{
	return snprintf(buf, len, "%s/%s/%s", w->o->share, w->dirname, name);
}

static int
prepare(struct work *w)
{
	struct fuse_entry_out e;
	struct fuse_open_out op;
	char path[4096], name[64];
	uint8_t *buf = malloc(65536);
	int r, fd;

	snprintf(w->dirname, sizeof(w->dirname), "ct.%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/%s", w->o->share, w->dirname);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	/* Host-made objects: pinned files, then pools consumed by name. */
	for (unsigned i = 0; i < NPIN; i++) {
		snprintf(name, sizeof(name), "pin.%u", i);
		host_path(w, path, sizeof(path), name);
		w->pin_size[i] = 100 + 250 * i;
		pat_fill(buf, TAG_PIN + i, 0, w->pin_size[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, w->pin_size[i]) !=
		    (ssize_t)w->pin_size[i]) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	for (unsigned i = 0; i < w->pool; i++) {
		snprintf(name, sizeof(name), "old.%u", i);
		host_path(w, path, sizeof(path), name);
		if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) < 0) {
			r = -errno;
			goto out;
		}
		close(fd);
		snprintf(name, sizeof(name), "olddir.%u", i);
		host_path(w, path, sizeof(path), name);
		if (mkdir(path, 0755) < 0) {
			r = -errno;
			goto out;
		}
		snprintf(name, sizeof(name), "ren.%u", i);
		host_path(w, path, sizeof(path), name);
		if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) < 0) {
			r = -errno;
			goto out;
		}
		close(fd);
	}
	if ((r = fusec_lookup(w->fc, 1, w->dirname, &e)) < 0)
		goto out;
	w->dir = e.nodeid;
	w->dir_ino = e.attr.ino;
	r = fusec_create(w->fc, w->dir, "data", O_RDWR | O_CREAT | O_EXCL, 0644,
	    &e, &op);
	if (r < 0)
		goto out;
	w->data = e.nodeid;
	w->data_fh = op.fh;
	for (uint64_t off = 0; off < DATA_SIZE && r >= 0; off += 65536) {
		pat_fill(buf, TAG_DATA, off, 65536);
		r = fusec_write(w->fc, w->data, w->data_fh, off, buf, 65536);
	}
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < NPIN; i++) {
		snprintf(name, sizeof(name), "pin.%u", i);
		if ((r = fusec_lookup(w->fc, w->dir, name, &e)) < 0)
			goto out;
		w->pin[i] = e.nodeid;
		w->pin_ino[i] = e.attr.ino;
		w->pin_nlookup[i] = 1;
		if ((r = fusec_open(w->fc, e.nodeid, O_RDONLY, &op)) < 0)
			goto out;
		w->pin_fh[i] = op.fh;
	}
	r = 0;
out:
	free(buf);
	return r;
}

static struct fusec_req *
side_req(struct work *w, int *ret_kind, uint64_t *ret_arg)
{
	struct fusec *fc = w->fc;
	struct fusec_req *req = NULL;
	char a[64], b[64];
	unsigned x = (unsigned)(rnd() % 100);
	unsigned k = (unsigned)(rnd() % NPIN);
	uint64_t off = (rnd() % (DATA_SIZE / ct_bs)) * ct_bs;

	if (x < 20) {
		req = fusec_req_write(fc, w->data, w->data_fh, off, ct_bs);
		if (req)
			pat_fill(req->wdata, TAG_DATA, off, ct_bs);
		*ret_kind = X_DATA_WRITE;
		*ret_arg = off;
	} else if (x < 40) {
		req = fusec_req_read(fc, w->data, w->data_fh, off, ct_bs);
		*ret_kind = X_DATA_READ;
		*ret_arg = off;
	} else if (x < 52) {
		req = fusec_req_getattr(fc, w->pin[k]);
		*ret_kind = X_PIN_GETATTR;
		*ret_arg = k;
	} else if (x < 64) {
		req = fusec_req_read(fc, w->pin[k], w->pin_fh[k], 0, 8192);
		*ret_kind = X_PIN_READ;
		*ret_arg = k;
	} else if (x < 72) {
		snprintf(a, sizeof(a), "pin.%u", k);
		req = fusec_req_lookup(fc, w->dir, a);
		*ret_kind = X_PIN_LOOKUP;
		*ret_arg = k;
	} else if (x < 75 && w->pool_unlink < w->pool) {
		snprintf(a, sizeof(a), "old.%u", w->pool_unlink);
		req = req_name(fc, FUSE_UNLINK, w->dir, a, 0);
		*ret_kind = X_POOL_UNLINK;
		*ret_arg = w->pool_unlink++;
	} else if (x < 78 && w->pool_rmdir < w->pool) {
		snprintf(a, sizeof(a), "olddir.%u", w->pool_rmdir);
		req = req_name(fc, FUSE_RMDIR, w->dir, a, 0);
		*ret_kind = X_POOL_RMDIR;
		*ret_arg = w->pool_rmdir++;
	} else if (x < 81 && w->pool_rename < w->pool) {
		snprintf(a, sizeof(a), "ren.%u", w->pool_rename);
		snprintf(b, sizeof(b), "ren2.%u", w->pool_rename);
		req = req_rename(fc, w->dir, a, b);
		*ret_kind = X_POOL_RENAME;
		*ret_arg = w->pool_rename++;
	} else if (x < 90) {
		req = fusec_req_getattr(fc, w->dir);
		*ret_kind = X_DIR_GETATTR;
		*ret_arg = 0;
	} else {
		req = fusec_req_read(fc, w->data, w->data_fh, off, ct_bs);
		*ret_kind = X_DATA_READ;
		*ret_arg = off;
	}
	return req;
}

static struct fusec_req *
step_req(struct work *w, struct slot *s, unsigned idx)
{
	struct fusec *fc = w->fc;
	struct fusec_req *req = NULL;

	switch (s->step) {
	case S_CREATE:
		snprintf(s->n, sizeof(s->n), "n.%u.%u", idx, s->cycle);
		snprintf(s->m, sizeof(s->m), "m.%u.%u", idx, s->cycle);
		snprintf(s->dn, sizeof(s->dn), "d.%u.%u", idx, s->cycle);
		req = fusec_req_create(fc, w->dir, s->n,
		    O_RDWR | O_CREAT | O_EXCL, 0644);
		break;
	case S_WRITE:
		s->woff = (rnd() % 64) * 512 + rnd() % 100;
		s->wlen = 1 + (uint32_t)(rnd() % 8000);
		req = fusec_req_write(fc, s->nodeid, s->fh, s->woff, s->wlen);
		if (req)
			pat_fill(req->wdata, ((uint64_t)idx << 32) | s->cycle,
			    s->woff, s->wlen);
		break;
	case S_READ:
		req = fusec_req_read(fc, s->nodeid, s->fh, s->woff, s->wlen);
		break;
	case S_SETSIZE:
		s->size = s->woff + s->wlen / 2 + (rnd() % 2) * 100000;
		req = req_setsize(fc, s->nodeid, s->size);
		break;
	case S_GETATTR:
		req = fusec_req_getattr(fc, s->nodeid);
		break;
	case S_RELEASE:
		req = fusec_req_release(fc, s->nodeid, s->fh, false);
		break;
	case S_RENAME:
		req = req_rename(fc, w->dir, s->n, s->m);
		break;
	case S_LOOKUP:
		req = fusec_req_lookup(fc, w->dir, s->m);
		break;
	case S_MKDIR:
		req = req_mkdir(fc, w->dir, s->dn);
		break;
	case S_RMDIR:
		req = req_name(fc, FUSE_RMDIR, w->dir, s->dn, 0);
		break;
	case S_UNLINK:
		req = req_name(fc, FUSE_UNLINK, w->dir, s->m, 0);
		break;
	case S_FORGET_FILE:
		req = fusec_req_forget(fc, s->nodeid, s->nlookup);
		break;
	case S_FORGET_DIR:
		req = fusec_req_forget(fc, s->dirnode, 1);
		break;
	case S_LOOKUP_GONE:
		req = fusec_req_lookup(fc, w->dir, s->m);
		break;
	default:
		break;
	}
	return req;
}

static void
complete_step(struct work *w, struct slot *s, struct fusec_req *req,
    unsigned idx)
{
	const struct fuse_entry_out *e = req->reply;
	const struct fuse_attr_out *ao = req->reply;
	int k = s->step;
	bool good = !req->proto && req->error == 0;

	if (k == S_LOOKUP_GONE) {
		if (req->proto || req->error != -ENOENT) {
			mark_bad(w, req, k, "%s: want ENOENT", s->m);
			goto derail;
		}
		goto next;
	}
	if (!good) {
		mark_bad(w, req, k, "%s/%s: want success", s->n, s->m);
		goto derail;
	}
	switch (k) {
	case S_CREATE:
		if (e->nodeid == 0 || !S_ISREG(e->attr.mode) ||
		    e->attr.size != 0) {
			mark_bad(w, req, k, "bad entry");
			goto derail;
		}
		s->nodeid = e->nodeid;
		s->ino = e->attr.ino;
		s->fh = ((const struct fuse_open_out *)(e + 1))->fh;
		s->nlookup = 1;
		break;
	case S_WRITE:
		if (((const struct fuse_write_out *)req->reply)->size !=
		    s->wlen) {
			mark_bad(w, req, k, "short write");
			goto derail;
		}
		break;
	case S_READ:
		if (req->reply_len != s->wlen ||
		    !pat_check(req->rdata, ((uint64_t)idx << 32) | s->cycle,
		    s->woff, s->wlen)) {
			mark_bad(w, req, k, "read %zu bytes, want %u of the "
			    "pattern", req->reply_len, s->wlen);
			goto derail;
		}
		break;
	case S_SETSIZE:
	case S_GETATTR:
		if (ao->attr.size != s->size || ao->attr.ino != s->ino) {
			mark_bad(w, req, k, "size %llu ino %llu, want %llu %llu",
			    (unsigned long long)ao->attr.size,
			    (unsigned long long)ao->attr.ino,
			    (unsigned long long)s->size,
			    (unsigned long long)s->ino);
			goto derail;
		}
		break;
	case S_LOOKUP:
		if (e->nodeid != s->nodeid || e->attr.ino != s->ino) {
			mark_bad(w, req, k, "nodeid %llu, want %llu",
			    (unsigned long long)e->nodeid,
			    (unsigned long long)s->nodeid);
			goto derail;
		}
		s->nlookup++;
		break;
	case S_MKDIR:
		if (e->nodeid == 0 || !S_ISDIR(e->attr.mode)) {
			mark_bad(w, req, k, "bad entry");
			goto derail;
		}
		s->dirnode = e->nodeid;
		break;
	default:
		break;
	}
next:
	w->ok++;
	if (++s->step == S_NSTEPS) {
		s->step = S_CREATE;
		s->cycle++;
	}
	return;
derail:
	s->derailed = true;
	s->finished = true;
}

static void
complete_side(struct work *w, struct fusec_req *req, int kind, uint64_t arg)
{
	const struct fuse_entry_out *e = req->reply;
	const struct fuse_attr_out *ao = req->reply;
	bool good = !req->proto && req->error == 0;

	if (kind == X_POISON) {
		w->poison_done = true;
		w->poison_error = req->proto ? -EPROTO : req->error;
		return;
	}
	if (!good) {
		mark_bad(w, req, kind, "arg %llu: want success",
		    (unsigned long long)arg);
		return;
	}
	switch (kind) {
	case X_DATA_WRITE:
		if (((const struct fuse_write_out *)req->reply)->size !=
		    ct_bs) {
			mark_bad(w, req, kind, "short write");
			return;
		}
		break;
	case X_DATA_READ:
		if (req->reply_len != ct_bs ||
		    !pat_check(req->rdata, TAG_DATA, arg, ct_bs)) {
			mark_bad(w, req, kind, "data differs at %llu",
			    (unsigned long long)arg);
			return;
		}
		break;
	case X_PIN_GETATTR:
		if (ao->attr.ino != w->pin_ino[arg] ||
		    ao->attr.size != w->pin_size[arg]) {
			mark_bad(w, req, kind, "pin %llu attr differs",
			    (unsigned long long)arg);
			return;
		}
		break;
	case X_PIN_READ:
		if (req->reply_len != w->pin_size[arg] ||
		    !pat_check(req->rdata, TAG_PIN + arg, 0,
		    w->pin_size[arg])) {
			mark_bad(w, req, kind, "pin %llu content differs",
			    (unsigned long long)arg);
			return;
		}
		break;
	case X_PIN_LOOKUP:
		if (e->nodeid != w->pin[arg] || e->attr.ino != w->pin_ino[arg]) {
			mark_bad(w, req, kind, "pin %llu: nodeid %llu, want %llu",
			    (unsigned long long)arg,
			    (unsigned long long)e->nodeid,
			    (unsigned long long)w->pin[arg]);
			return;
		}
		w->pin_nlookup[arg]++;
		break;
	case X_DIR_GETATTR:
		if (!S_ISDIR(ao->attr.mode) || ao->attr.ino != w->dir_ino) {
			mark_bad(w, req, kind, "dir attr differs");
			return;
		}
		break;
	default:
		break;
	}
	w->ok++;
}

/* One vhost-user control round trip at run time; false if it failed. */
static bool
control_message(struct work *w)
{
	struct vuf_dev *d = w->d;
	uint64_t v = 0;
	int r;

	w->ctl_msgs++;
	switch (w->ctl_msgs % 3) {
	case 0:
		r = vuf_get_u64(d, VUF_GET_FEATURES, &v);
		if (r < 0 || v != d->features) {
			printf("# control: GET_FEATURES %d 0x%llx\n", r,
			    (unsigned long long)v);
			return false;
		}
		return true;
	case 1:
		r = vuf_get_u64(d, VUF_GET_PROTOCOL_FEATURES, &v);
		if (r < 0 || v != d->pfeatures) {
			printf("# control: GET_PROTOCOL_FEATURES %d 0x%llx\n",
			    r, (unsigned long long)v);
			return false;
		}
		return true;
	default: {
		/* A new call eventfd for the request queue, as a guest
		 * re-routing its MSI vector makes QEMU send. */
		struct vuf_vq *vq = &d->vq[w->fc->qidx];
		struct {
			uint64_t u64;
		} msg = {.u64 = vq->idx};
		int nfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (nfd < 0)
			return false;
		r = vuf_msg_ack(d, VUF_SET_VRING_CALL, &msg, sizeof(msg), &nfd,
		    1);
		if (r < 0) {
			printf("# control: SET_VRING_CALL %s (%s)\n",
			    strerror(-r), d->err);
			close(nfd);
			return false;
		}
		close(vq->callfd);
		vq->callfd = nfd;
		return true;
	}
	}
}

static bool
host_exists(const struct work *w, const char *name)
{
	char path[4096];
	struct stat st;

	host_path(w, path, sizeof(path), name);
	return lstat(path, &st) == 0;
}

/* Every name in the directory must be expected; every expected one there. */
static unsigned
host_listing_check(struct work *w)
{
	char path[4096];
	struct dirent *de;
	unsigned errs = 0, nexp = 0, n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", w->o->share, w->dirname);
	if ((d = opendir(path)) == NULL)
		return 1;
	while ((de = readdir(d)) != NULL) {
		unsigned a = 0, b = 0;
		bool ok = false;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (strcmp(de->d_name, "data") == 0)
			ok = true;
		else if (sscanf(de->d_name, "pin.%u", &a) == 1)
			ok = a < NPIN;
		else if (sscanf(de->d_name, "olddir.%u", &a) == 1)
			ok = a >= w->pool_rmdir && a < w->pool;
		else if (sscanf(de->d_name, "old.%u", &a) == 1)
			ok = a >= w->pool_unlink && a < w->pool;
		else if (sscanf(de->d_name, "ren2.%u", &a) == 1)
			ok = a < w->pool_rename;
		else if (sscanf(de->d_name, "ren.%u", &a) == 1)
			ok = a >= w->pool_rename && a < w->pool;
		else if (sscanf(de->d_name, "%*[nmd].%u.%u", &a, &b) == 2)
			ok = a < w->o->depth && w->slots[a].derailed;
		if (!ok) {
			if (errs < 5)
				printf("# host: unexpected name %s\n",
				    de->d_name);
			errs++;
		}
	}
	closedir(d);
	nexp = 1 + NPIN + 2 * w->pool - w->pool_unlink - w->pool_rmdir +
	    w->pool;
	for (unsigned i = 0; i < w->o->depth; i++) {
		struct slot *s = &w->slots[i];

		if (!s->derailed)
			continue;
		/* A derailed slot left whatever it left: count it. */
		nexp += host_exists(w, s->n) + host_exists(w, s->m) +
		    host_exists(w, s->dn);
	}
	if (n != nexp) {
		printf("# host: %u names, want %u\n", n, nexp);
		errs++;
	}
	return errs;
}

static bool
host_file_check(const struct work *w, const char *name, uint64_t tag,
    size_t size)
{
	char path[4096];
	uint8_t *buf = malloc(size + 1);
	ssize_t n;
	int fd;
	bool ok;

	host_path(w, path, sizeof(path), name);
	if ((fd = open(path, O_RDONLY)) < 0) {
		free(buf);
		return false;
	}
	n = read(fd, buf, size + 1);
	close(fd);
	ok = n == (ssize_t)size && pat_check(buf, tag, 0, size);
	free(buf);
	return ok;
}

static int
fd_settle(pid_t keeper, int want, unsigned timeout_ms)
{
	uint64_t end = vuf_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int n;

	for (;;) {
		n = count_fds(keeper);
		if (n == want || vuf_now_ns() > end)
			return n;
		usleep(50000);
	}
}

static int
work_main(const struct opts *o)
{
	struct work w = {.o = o, .pool = o->pool};
	struct fusec_req *done[64];
	uint64_t t0, t_end, next_kill = UINT64_MAX, next_ctl = UINT64_MAX;
	uint64_t last_progress, longest = 0, t_poison = UINT64_MAX;
	uint64_t next_sample = 0;
	pid_t worker0 = 0, worker = 0, last_worker = 0;
	int fds_before = -1, fds_after = -1, r;
	bool stopping = false, closed = false, hung = false;
	unsigned npoison_inflight = 0, nq;
	uint64_t per_q[MAXQ] = {0};

	/*
	 * The socket exists before the keeper forks its first worker (the
	 * launcher listens, the keeper then builds its sandbox, region and
	 * seccomp filter): wait for the worker rather than take 0 for it.
	 */
	for (unsigned i = 0; o->keeper && worker0 == 0 && i < 500; i++) {
		last_worker = worker0 = ct_find_worker(o->keeper);
		if (worker0 == 0)
			usleep(10000);
	}
	if ((r = connect_dev(o, o->depth, &w.d, &w.fc)) < 0) {
		printf("not ok 1 - connect, vhost-user handshake and INIT "
		       "(%s)\n1..1\n0 passed, 1 failed\n", strerror(-r));
		return 1;
	}
	tap(true, "connect, vhost-user handshake and INIT");
	nq = w.d->nvq > 1 ? w.d->nvq - 1 : 1;
	r = prepare(&w);
	tap(r == 0, "prepare: directory, data file, %u pinned files, "
	    "pools of %u (%s)", NPIN, w.pool, r < 0 ? strerror(-r) : "ok");
	if (r < 0)
		goto summary;
	if (o->keeper) {
		/*
		 * A crash during the handshake (vu.* points) leaves fds that
		 * the new worker's background sweep closes shortly after its
		 * recovery: count once the number stopped moving.
		 */
		int prev = -1, still = 0;

		while (still < 6) {
			fds_before = count_fds(o->keeper);
			still = fds_before == prev ? still + 1 : 0;
			prev = fds_before;
			usleep(50000);
		}
		printf("# keeper %d fds before the workload: %d\n",
		    (int)o->keeper, fds_before);
	}
	w.slots = calloc(o->depth, sizeof(*w.slots));
	t0 = vuf_now_ns();
	t_end = t0 + (uint64_t)(o->seconds * 1e9);
	if (o->kill_max_ms && o->keeper)
		next_kill = t0 + (uint64_t)rnd_between(o->kill_min_ms,
		    o->kill_max_ms) * 1000000ull;
	if (o->ctl_every_ms)
		next_ctl = t0 + (uint64_t)o->ctl_every_ms * 1000000ull;
	if (o->poison)
		t_poison = t0 + 200000000ull;
	last_progress = t0;
	for (;;) {
		uint64_t now = vuf_now_ns();
		int k;

		if (now >= t_end && !stopping)
			stopping = true;
		if (o->keeper && now >= next_sample) {
			pid_t p = ct_find_worker(o->keeper);

			if (p && last_worker && p != last_worker) {
				w.respawns++;
				last_worker = p;
			}
			next_sample = now + 5000000ull;
		}
		if (!stopping && now >= next_kill) {
			if (o->max_kills && w.kills >= o->max_kills) {
				next_kill = UINT64_MAX;
			} else if ((worker = ct_find_worker(o->keeper)) > 0 &&
			    kill(worker, o->kill_sig) == 0) {
				w.kills++;
				next_kill = now + (uint64_t)rnd_between(
				    o->kill_min_ms, o->kill_max_ms) * 1000000ull;
			} else {
				next_kill = now + 1000000ull;
			}
		}
		if (!stopping && now >= next_ctl) {
			if (!control_message(&w))
				w.ctl_bad++;
			next_ctl = vuf_now_ns() +
			    (uint64_t)o->ctl_every_ms * 1000000ull;
		}
		if (!w.poison_sent && now >= t_poison) {
			uint64_t save = w.fc->next_unique;
			struct fusec_req *req;

			w.fc->next_unique = o->poison;
			req = fusec_req_getattr(w.fc, w.data);
			w.fc->next_unique = save;
			if (req) {
				req->u[0] = (uint64_t)X_POISON;
				req->user = NULL;
				if (fusec_submit(w.fc, req) == 0) {
					w.poison_sent = true;
					npoison_inflight = 1;
					w.inflight++;
				} else {
					fusec_req_free(req);
				}
			}
		}
		for (unsigned i = 0; i < o->depth; i++) {
			struct slot *s = &w.slots[i];
			struct fusec_req *req;
			int kind;
			uint64_t arg = 0;

			if (s->busy || s->finished)
				continue;
			if (stopping && s->step == S_CREATE) {
				s->finished = true;
				continue;
			}
			if (!stopping && s->step != S_CREATE &&
			    s->step != S_FORGET_FILE &&
			    s->step != S_FORGET_DIR && rnd() % 100 < 40) {
				req = side_req(&w, &kind, &arg);
			} else {
				kind = s->step;
				req = step_req(&w, s, i);
			}
			if (req == NULL)
				break;
			req->u[0] = (uint64_t)kind;
			req->u[1] = arg;
			req->u[2] = i;
			req->user = s;
			/* FORGETs stay on hiprio; the rest spread. */
			if (req->qidx != 0)
				req->qidx = 1 + i % nq;
			if ((r = fusec_submit(w.fc, req)) < 0) {
				fusec_req_free(req);
				if (kind == X_POOL_UNLINK)
					w.pool_unlink--;
				else if (kind == X_POOL_RMDIR)
					w.pool_rmdir--;
				else if (kind == X_POOL_RENAME)
					w.pool_rename--;
				if (r == -EPIPE) {
					closed = true;
					stopping = true;
				}
				break;
			}
			if (w.inflight == 0)
				last_progress = vuf_now_ns();
			s->busy = true;
			w.inflight++;
		}
		if (w.inflight == 0 && stopping)
			break;
		if (closed)
			break;
		k = fusec_poll(w.fc, 20, done, 64);
		now = vuf_now_ns();
		if (k < 0) {
			closed = true;
			break;
		}
		if (k == 0) {
			if (w.inflight && now - last_progress > longest)
				longest = now - last_progress;
			if (w.inflight && (double)(now - last_progress) / 1e9 >
			    o->stall_timeout) {
				hung = true;
				break;
			}
			continue;
		}
		if (w.inflight && now - last_progress > longest)
			longest = now - last_progress;
		last_progress = now;
		for (int i = 0; i < k; i++) {
			struct fusec_req *req = done[i];
			struct slot *s = req->user;
			int kind = (int)req->u[0];

			w.inflight--;
			w.ops++;
			if (req->qidx < MAXQ)
				per_q[req->qidx]++;
			if (kind == X_POISON) {
				npoison_inflight = 0;
				complete_side(&w, req, kind, 0);
			} else {
				s->busy = false;
				if (kind < S_NSTEPS)
					complete_step(&w, s, req,
					    (unsigned)req->u[2]);
				else
					complete_side(&w, req, kind, req->u[1]);
			}
			fusec_req_free(req);
		}
	}
	(void)npoison_inflight;
	if (hung)
		dump_inflight(w.d);
	printf("# ops=%llu ok=%llu bad=%llu kills=%llu respawns_seen=%llu "
	       "control=%llu longest_stall_ms=%.1f seconds=%.1f\n",
	    (unsigned long long)w.ops, (unsigned long long)w.ok,
	    (unsigned long long)w.bad, (unsigned long long)w.kills,
	    (unsigned long long)w.respawns, (unsigned long long)w.ctl_msgs,
	    (double)longest / 1e6, (double)(vuf_now_ns() - t0) / 1e9);
	if (nq > 1) {
		bool all = true;

		for (unsigned q = 1; q <= nq && q < MAXQ; q++) {
			printf("# queue %u: %llu replies\n", q,
			    (unsigned long long)per_q[q]);
			all &= per_q[q] > 0;
		}
		tap(all, "requests answered on each of the %u request queues",
		    nq);
	}
	tap(!closed, "the connection stayed open (never reconnected)");
	tap(!hung && w.inflight == 0, "every request got a reply (%u lost, "
	    "longest stall %.1f ms)", w.inflight, (double)longest / 1e6);
	tap(w.fc->proto_errors == 0, "no protocol errors: no doubled, "
	    "foreign or malformed reply (%llu)%s%s",
	    (unsigned long long)w.fc->proto_errors,
	    w.fc->proto_errors ? ": " : "", w.fc->proto_errors ? w.fc->err : "");
	tap(w.bad == 0 && w.ok > 0, "every reply is the crash-free one: %llu "
	    "ok, %llu wrong%s%s", (unsigned long long)w.ok,
	    (unsigned long long)w.bad, w.bad ? "; first: " : "", w.first_bad);
	if (o->ctl_every_ms)
		tap(w.ctl_bad == 0, "%llu run-time vhost-user messages "
		    "answered correctly (%llu failed)",
		    (unsigned long long)w.ctl_msgs,
		    (unsigned long long)w.ctl_bad);
	if (o->poison)
		tap(w.poison_sent && w.poison_done && w.poison_error == -EIO,
		    "poison request (unique %llu) answered EIO (got %d%s)",
		    (unsigned long long)o->poison, w.poison_error,
		    w.poison_done ? "" : ", no reply");
	if (o->kill_max_ms)
		tap(w.kills > 0, "%llu kills (signal %d) sent",
		    (unsigned long long)w.kills, o->kill_sig);
	if (o->expect_respawn && o->keeper) {
		pid_t now_w = ct_find_worker(o->keeper);

		if (now_w && last_worker && now_w != last_worker)
			w.respawns++;
		tap(w.respawns > 0 || (worker0 && now_w && now_w != worker0),
		    "the worker was respawned (pid %d -> %d)", (int)worker0,
		    (int)now_w);
	}
	if (closed || hung)
		goto summary;

	/* Post-run: handles from before the crashes, and the host's view. */
	{
		struct fuse_attr_out a;
		struct fuse_entry_out e;
		uint8_t *buf = malloc(65536);
		unsigned errs = 0;

		r = fusec_getattr(w.fc, w.dir, &a);
		errs += r < 0 || a.attr.ino != w.dir_ino;
		for (unsigned i = 0; i < NPIN; i++) {
			r = fusec_getattr(w.fc, w.pin[i], &a);
			errs += r < 0 || a.attr.ino != w.pin_ino[i];
			r = fusec_read(w.fc, w.pin[i], w.pin_fh[i], 0, buf, 8192);
			errs += r != (int)w.pin_size[i] ||
			    !pat_check(buf, TAG_PIN + i, 0, w.pin_size[i]);
		}
		for (uint64_t off = 0; off < DATA_SIZE; off += 65536) {
			r = fusec_read(w.fc, w.data, w.data_fh, off, buf, 65536);
			errs += r != 65536 || !pat_check(buf, TAG_DATA, off, 65536);
		}
		r = fusec_lookup(w.fc, w.dir, "data", &e);
		errs += r < 0 || e.nodeid != w.data;
		if (r == 0)
			fusec_forget(w.fc, w.data, 1);
		tap(errs == 0, "nodeids and fhs from before the crashes still "
		    "work: dir, data file, %u pinned (%u errors)", NPIN, errs);
		free(buf);
	}
	tap(host_file_check(&w, "data", TAG_DATA, DATA_SIZE),
	    "host: data file holds the pattern");
	{
		unsigned errs = host_listing_check(&w);

		tap(errs == 0, "host: directory holds exactly the expected names "
		    "(unlinked %u, rmdir'ed %u, renamed %u of %u; %u errors)",
		    w.pool_unlink, w.pool_rmdir, w.pool_rename, w.pool, errs);
	}
	if (o->keeper) {
		fds_after = fd_settle(o->keeper, fds_before, o->fd_settle_ms);
		tap(fds_after == fds_before, "keeper fd count after the run "
		    "equals the count before (%d before, %d after; io_uring "
		    "rings apart)", fds_before, fds_after);
		{
			pid_t wk = ct_find_worker(o->keeper);
			int rings = count_fds_of(o->keeper, true);
			int tasks = wk > 0 ? count_tasks(wk) : -1;

			tap(rings >= 0 && tasks > 0 && rings <= tasks,
			    "keeper's io_uring rings no more than the worker's "
			    "threads (%d rings, %d threads)", rings, tasks);
		}
		/* Release everything; the daemon's table must drop back. */
		for (unsigned i = 0; i < NPIN; i++) {
			fusec_release(w.fc, w.pin[i], w.pin_fh[i]);
			fusec_forget(w.fc, w.pin[i], w.pin_nlookup[i]);
		}
		fusec_release(w.fc, w.data, w.data_fh);
		fusec_forget(w.fc, w.data, 1);
		printf("# keeper fds after releasing everything: %d\n",
		    fd_settle(o->keeper, -1, 300));
	}
summary:
	printf("1..%d\n%d passed, %d failed\n", tap_n, tap_pass, tap_fail);
	fflush(stdout);
	if (!closed) {
		fusec_free(w.fc);
		vuf_close(w.d);
	}
	free(w.slots);
	return tap_fail ? 1 : 0;
}

/* ---- benchmark: recovery time and throughput ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * 128 KiB READs whose buffers land on every 128 KiB of guest RAM in turn:
 * the worker writes all of it, so its page tables map all of it. Harvests
 * whatever else completes (*inflight, *errors). 0, or -1 if stalled.
 */
static int
bench_sweep(struct fusec *fc, struct vuf_dev *d, uint64_t node, uint64_t fh,
    unsigned depth, unsigned *inflight, uint64_t *errors)
{
	const size_t chunk = 128u << 10;
	size_t next = 0, n = d->mem_size / chunk;
	struct fusec_req *done[64];

	while (next < n || *inflight > 0) {
		while (next < n && *inflight < depth) {
			struct fusec_req *req;

			d->page_hint = next * (chunk / 4096);
			req = fusec_req_read(fc, node, fh,
			    (next * chunk) % DATA_SIZE, (uint32_t)chunk);
			if (req == NULL) {
				next++; /* the hint's pages are taken */
				continue;
			}
			if (fusec_submit(fc, req) < 0) {
				fusec_req_free(req);
				break;
			}
			next++;
			(*inflight)++;
		}
		int k = fusec_poll(fc, 5000, done, 64);

		if (k <= 0)
			return -1;
		for (int i = 0; i < k; i++) {
			(*inflight)--;
			if (done[i]->error || done[i]->proto)
				(*errors)++;
			fusec_req_free(done[i]);
		}
	}
	return 0;
}

static int
bench_main(const struct opts *o)
{
	struct vuf_dev *d;
	struct fusec *fc;
	struct fuse_entry_out e;
	struct fuse_open_out op;
	struct fusec_req *done[64];
	char path[4096], name[64], dirname[64];
	uint64_t *nodes = NULL, *lat = NULL, nodes_n = 0, errors = 0;
	uint64_t dir, data, data_fh, ops = 0, t0, lookup_errors = 0;
	unsigned inflight = 0, nlat = 0, lookups_sent = 0, lookups_failed = 0;
	int r, fd;

	ct_mem_bytes = (size_t)o->mem_mb << 20;
	snprintf(dirname, sizeof(dirname), "rb.%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/%s", o->share, dirname);
	if (mkdir(path, 0755) < 0)
		return 1;
	for (unsigned i = 0; i < o->inodes; i++) {
		snprintf(path, sizeof(path), "%s/%s/f%u", o->share, dirname, i);
		if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) < 0) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	if ((r = connect_dev(o, o->depth, &d, &fc)) < 0)
		return 1;
	if ((r = fusec_lookup(fc, 1, dirname, &e)) < 0)
		goto fail;
	dir = e.nodeid;
	if ((r = fusec_create(fc, dir, "data", O_RDWR | O_CREAT | O_EXCL, 0644,
	    &e, &op)) < 0)
		goto fail;
	data = e.nodeid;
	data_fh = op.fh;
	{
		uint8_t *buf = malloc(65536);

		for (uint64_t off = 0; off < DATA_SIZE && r >= 0; off += 65536) {
			pat_fill(buf, TAG_DATA, off, 65536);
			r = fusec_write(fc, data, data_fh, off, buf, 65536);
		}
		free(buf);
		if (r < 0)
			goto fail;
	}
	/* Make the daemon know o->inodes inodes: pipelined lookups. */
	nodes = calloc(o->inodes + 1, sizeof(*nodes));
	t0 = vuf_now_ns();
	while (nodes_n + lookups_failed < o->inodes) {
		while (lookups_sent < o->inodes && inflight < o->depth) {
			struct fusec_req *req;

			snprintf(name, sizeof(name), "f%u", lookups_sent);
			req = fusec_req_lookup(fc, dir, name);
			if (req == NULL || fusec_submit(fc, req) < 0) {
				fusec_req_free(req);
				break;
			}
			lookups_sent++;
			inflight++;
		}
		int k = fusec_poll(fc, 5000, done, 64);

		if (k <= 0) {
			fprintf(stderr, "bench: lookups stalled\n");
			goto fail;
		}
		for (int i = 0; i < k; i++) {
			const struct fuse_entry_out *re = done[i]->reply;

			inflight--;
			if (done[i]->error == 0 && re->nodeid) {
				nodes[nodes_n++] = re->nodeid;
			} else {
				/* Not a stall error: ENFILE once the fd cap
				 * is reached without file handles. */
				if (lookup_errors < 5)
					fprintf(stderr, "bench: LOOKUP unique "
					    "%llu: error %d\n",
					    (unsigned long long)done[i]->unique,
					    done[i]->error);
				lookup_errors++;
				lookups_failed++;
			}
			fusec_req_free(done[i]);
		}
	}
	{
		/* Every nodeid just looked up must answer GETATTR (the
		 * first 20,000: the workload's; the others stay known). */
		unsigned stale = 0;

		uint64_t keep = 0;

		if (nodes_n > 20000)
			nodes_n = 20000;
		for (uint64_t i = 0; i < nodes_n; i++) {
			struct fuse_attr_out a;

			r = fusec_getattr(fc, nodes[i], &a);
			if (r < 0) {
				if (stale++ < 5)
					fprintf(stderr, "bench: GETATTR of "
					    "looked-up nodeid %llu: %d\n",
					    (unsigned long long)nodes[i], r);
				continue;
			}
			nodes[keep++] = nodes[i];
		}
		/* Reported, then left out of the workload: the figures
		 * below count only what the kills cause. */
		if (stale)
			printf("# bench: %u of %llu looked-up nodeids fail "
			       "GETATTR before any kill (left out)\n", stale,
			    (unsigned long long)nodes_n);
		nodes_n = keep;
	}
	fprintf(stderr, "bench: %u lookups in %.1f ms, keeper fds %d\n",
	    o->inodes, (double)(vuf_now_ns() - t0) / 1e6,
	    o->keeper ? count_fds(o->keeper) : -1);
	if (lookup_errors)
		printf("# bench: %llu of %u lookups failed (not counted as "
		       "errors)\n", (unsigned long long)lookup_errors,
		    o->inodes);
	t0 = vuf_now_ns();
	if (bench_sweep(fc, d, data, data_fh, o->depth, &inflight,
	    &errors) < 0) {
		fprintf(stderr, "bench: sweep stalled\n");
		goto fail;
	}
	fprintf(stderr, "bench: %zu MiB of guest RAM written by the worker "
	    "in %.1f ms\n", d->mem_size >> 20,
	    (double)(vuf_now_ns() - t0) / 1e6);

	lat = calloc(o->bench_kills + 1, sizeof(*lat));
	{
		uint64_t t_end = o->seconds > 0 && !o->bench_kills ?
		    vuf_now_ns() +
		    (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
		uint64_t next_kill = o->bench_kills ? vuf_now_ns() + 100000000ull :
		    UINT64_MAX;
		uint64_t t_kill = 0, last_progress = vuf_now_ns();
		uint16_t used_mark = 0;
		bool measuring = false, mark_set = false;
		struct vuf_vq *vq = &d->vq[fc->qidx];
		pid_t victim = 0;
		/* CT_STALL_TRACE=FILE: "kill NS reply NS" per kill, to join
		 * with the daemon's debug "stall phases" lines. */
		const char *tpath = getenv("CT_STALL_TRACE");
		FILE *trace = tpath ? fopen(tpath, "w") : NULL;

		t0 = vuf_now_ns();
		for (;;) {
			uint64_t now = vuf_now_ns();
			bool stop = now >= t_end ||
			    (o->bench_kills && nlat >= o->bench_kills);

			if (stop && inflight == 0)
				break;
			if (!stop && !measuring && now >= next_kill) {
				if (o->sweep_each && bench_sweep(fc, d, data,
				    data_fh, o->depth, &inflight, &errors) < 0) {
					fprintf(stderr, "bench: sweep stalled\n");
					goto fail;
				}
				victim = ct_find_worker(o->keeper);
				if (victim > 0) {
					t_kill = vuf_now_ns();
					kill(victim, SIGKILL);
					measuring = true;
					mark_set = false;
				}
			}
			if (measuring && !mark_set) {
				/* Nothing the old worker publishes can come
				 * after its mm is gone. */
				ct_wait_mm_gone(victim, 2000);
				used_mark = __atomic_load_n(&vq->used->idx,
				    __ATOMIC_ACQUIRE);
				mark_set = true;
			}
			while (!stop && inflight < o->depth) {
				struct fusec_req *req;
				unsigned x = (unsigned)(rnd() % 10);
				uint64_t off = (rnd() % (DATA_SIZE / BS)) * BS;

				/* Buffers anywhere in guest RAM. */
				d->page_hint = (size_t)(rnd() % d->npages);
				if (x < 4 && nodes_n)
					req = fusec_req_getattr(fc,
					    nodes[rnd() % nodes_n]);
				else if (x < 7)
					req = fusec_req_read(fc, data, data_fh,
					    off, BS);
				else {
					req = fusec_req_write(fc, data, data_fh,
					    off, BS);
					if (req)
						pat_fill(req->wdata, TAG_DATA,
						    off, BS);
				}
				if (req == NULL || fusec_submit(fc, req) < 0) {
					fusec_req_free(req);
					break;
				}
				inflight++;
			}
			int k = fusec_poll(fc, 10, done, 64);

			now = vuf_now_ns();
			if (k < 0) {
				fprintf(stderr, "bench: connection closed\n");
				goto fail;
			}
			if (k == 0 && inflight &&
			    now - last_progress > 10000000000ull) {
				fprintf(stderr, "bench: stalled 10 s\n");
				goto fail;
			}
			if (k > 0)
				last_progress = now;
			for (int i = 0; i < k; i++) {
				inflight--;
				ops++;
				if (done[i]->error || done[i]->proto) {
					if (errors < 5)
						fprintf(stderr, "bench: %s "
						    "unique %llu: error %d%s\n",
						    fusec_opname(done[i]->opcode),
						    (unsigned long long)
						    done[i]->unique,
						    done[i]->error,
						    done[i]->proto ? " (protocol)" :
						    "");
					errors++;
				}
				fusec_req_free(done[i]);
			}
			if (measuring && mark_set &&
			    (int16_t)(vq->last_used - used_mark) > 0) {
				lat[nlat++] = now - t_kill;
				if (trace)
					fprintf(trace, "kill %llu reply %llu\n",
					    (unsigned long long)t_kill,
					    (unsigned long long)now);
				measuring = false;
				next_kill = now + (uint64_t)rnd_between(10, 30) *
				    1000000ull;
			}
		}
		if (trace)
			fclose(trace);
		if (o->bench_kills) {
			qsort(lat, nlat, sizeof(*lat), cmp_u64);
			printf("recovery mem_mb=%zu inodes=%u kills=%u depth=%u "
			       "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
			       "min_ms=%.3f errors=%llu proto_errors=%llu\n",
			    d->mem_size >> 20, o->inodes, nlat, o->depth,
			    nlat ? (double)lat[nlat / 2] / 1e6 : 0,
			    nlat ? (double)lat[(nlat * 99) / 100 < nlat ?
			    (nlat * 99) / 100 : nlat - 1] / 1e6 : 0,
			    nlat ? (double)lat[nlat - 1] / 1e6 : 0,
			    nlat ? (double)lat[0] / 1e6 : 0,
			    (unsigned long long)errors,
			    (unsigned long long)fc->proto_errors);
		} else {
			double secs = (double)(vuf_now_ns() - t0) / 1e9;

			printf("throughput inodes=%u depth=%u seconds=%.1f "
			       "ops=%llu ops_per_s=%.0f errors=%llu\n",
			    o->inodes, o->depth, secs,
			    (unsigned long long)ops, (double)ops / secs,
			    (unsigned long long)errors);
		}
	}
	fflush(stdout);
	fusec_free(fc);
	vuf_close(d);
	free(nodes);
	free(lat);
	return errors || nlat < o->bench_kills ? 1 : 0;
fail:
	fflush(stdout);
	fusec_free(fc);
	vuf_close(d);
	free(nodes);
	free(lat);
	return 1;
}

/* ---- main ---- */

static int
parse_sig(const char *s)
{
	if (strcmp(s, "KILL") == 0 || strcmp(s, "9") == 0)
		return SIGKILL;
	if (strcmp(s, "SEGV") == 0 || strcmp(s, "11") == 0)
		return SIGSEGV;
	if (strcmp(s, "ABRT") == 0)
		return SIGABRT;
	if (strcmp(s, "BUS") == 0)
		return SIGBUS;
	return atoi(s);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"socket", required_argument, NULL, 'S'},
		{"share", required_argument, NULL, 'D'},
		{"keeper", required_argument, NULL, 'K'},
		{"depth", required_argument, NULL, 'd'},
		{"seconds", required_argument, NULL, 's'},
		{"kill-min-ms", required_argument, NULL, 'a'},
		{"kill-max-ms", required_argument, NULL, 'b'},
		{"kill-sig", required_argument, NULL, 'g'},
		{"max-kills", required_argument, NULL, 'm'},
		{"ctl-every-ms", required_argument, NULL, 'c'},
		{"poison-unique", required_argument, NULL, 'p'},
		{"expect-respawn", no_argument, NULL, 'r'},
		{"pool", required_argument, NULL, 'P'},
		{"inodes", required_argument, NULL, 'i'},
		{"kills", required_argument, NULL, 'k'},
		{"stall-timeout", required_argument, NULL, 't'},
		{"watchdog", required_argument, NULL, 'w'},
		{"seed", required_argument, NULL, 'x'},
		{"fd-settle-ms", required_argument, NULL, 'F'},
		{"name", required_argument, NULL, 'n'},
		{"count", required_argument, NULL, 'C'},
		{"queues", required_argument, NULL, 'Q'},
		{"mem-mb", required_argument, NULL, 'M'},
		{"sweep-each", no_argument, NULL, 'E'},
		{"bs", required_argument, NULL, 'B'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {
		.depth = 64,
		.seconds = 3,
		.kill_sig = SIGKILL,
		.pool = 400,
		.inodes = 1000,
		.stall_timeout = 10,
		.watchdog_s = 300,
		.fd_settle_ms = 2000,
	};
	const char *mode;
	int opt;

	if (argc < 2) {
		fprintf(stderr, "usage: crashtest work|bench|scenario "
				"--socket S --share DIR [options]\n");
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'S': o.sock = optarg; break;
		case 'D': o.share = optarg; break;
		case 'K': o.keeper = (pid_t)atoi(optarg); break;
		case 'd': o.depth = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': o.seconds = strtod(optarg, NULL); break;
		case 'a': o.kill_min_ms = (unsigned)atoi(optarg); break;
		case 'b': o.kill_max_ms = (unsigned)atoi(optarg); break;
		case 'g': o.kill_sig = parse_sig(optarg); break;
		case 'm': o.max_kills = (unsigned)atoi(optarg); break;
		case 'c': o.ctl_every_ms = (unsigned)atoi(optarg); break;
		case 'p': o.poison = strtoull(optarg, NULL, 0); break;
		case 'r': o.expect_respawn = true; break;
		case 'P': o.pool = (unsigned)atoi(optarg); break;
		case 'i': o.inodes = (unsigned)atoi(optarg); break;
		case 'k': o.bench_kills = (unsigned)atoi(optarg); break;
		case 't': o.stall_timeout = strtod(optarg, NULL); break;
		case 'w': o.watchdog_s = (unsigned)atoi(optarg); break;
		case 'x': o.seed = strtoull(optarg, NULL, 0); break;
		case 'F': o.fd_settle_ms = (unsigned)atoi(optarg); break;
		case 'n': o.scenario = optarg; break;
		case 'C': o.count = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'Q': ct_queues = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'M': o.mem_mb = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'E': o.sweep_each = true; break;
		case 'B': ct_bs = (uint32_t)strtoul(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (o.sock == NULL || o.share == NULL) {
		fprintf(stderr, "crashtest: --socket and --share are needed\n");
		return 2;
	}
	if (o.depth == 0 || o.depth > MAXDEPTH)
		o.depth = 64;
	if (o.kill_max_ms < o.kill_min_ms)
		o.kill_max_ms = o.kill_min_ms;
	if (ct_bs == 0 || ct_bs % 4096 != 0 || ct_bs > DATA_SIZE) {
		fprintf(stderr, "crashtest: --bs: a multiple of 4096 up to "
		    "%u\n", DATA_SIZE);
		return 2;
	}
	rng_state ^= o.seed ? o.seed : (uint64_t)getpid() * 0x100000001b3ull;
	printf("# seed %llu\n", (unsigned long long)rng_state);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(o.watchdog_s);
	if (strcmp(mode, "work") == 0)
		return work_main(&o);
	if (strcmp(mode, "bench") == 0)
		return bench_main(&o);
	if (strcmp(mode, "scenario") == 0 && o.scenario != NULL)
		return scenario_main(o.scenario, o.sock, o.share, o.keeper,
		    o.count ? o.count : 65535);
	fprintf(stderr, "crashtest: unknown mode %s\n", mode);
	return 2;
}
