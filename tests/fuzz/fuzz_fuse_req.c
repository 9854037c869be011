/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for FUSE request decoding and the passthrough
 * operations behind it (fdispatch.c, fmsg.c, pt*.c, inode.c, handle.c):
 * an input is up to MAX_REQS requests, each handed to fdispatch_handle()
 * with a readable buffer of exactly its bytes and a writable reply buffer
 * of a fuzzer-chosen size (heap, exact size: ASan sees any overrun),
 * against a real shared directory and a real state region. The session is
 * INIT-ed once at setup; the inode and handle tables, their fds and the
 * session record are put back after every input, so nodeids are the same
 * from one input to the next (the first LOOKUP gets 2, then 3, ...; the
 * first OPEN gets fh 1).
 *
 * The shared directory is a 16 MiB tmpfs in a private mount namespace
 * (/dev/shm/phx-fuzz-<pid>/root, the tmpfs mounted on its parent so that
 * a one-level ".." escape lands in our tmpfs and is detected), refilled
 * every REFILL inputs. Creating opcodes run by default; with
 * PHX_FUZZ_READONLY=1 (or when the namespace cannot be made, not root)
 * the session is read-only and they answer EROFS.
 *
 * Request record (repeated):
 *   u16 LE request length, u16 LE reply buffer size, u8 flags (F_*),
 *   then the request bytes (fuse_in_header + arguments; not rewritten).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fdispatch.h"
#include "handle.h"
#include "inode.h"
#include "log.h"
#include "redo.h"
#include "region.h"

#define MAX_REQS 4
#define REFILL	 256
#define FD_LIMIT 4096

#define F_REPLAY 0x01
#define F_TRUNC	 0x02	/* copy shorter than the request (in_len < total) */
#define F_SPLIT	 0x04	/* reply buffer in two iovecs, split at 1 byte */
#define F_INSPLIT 0x08	/* request in two iovecs, split at 40 bytes */

static struct region r;
static struct config cfg;
static struct fuse_session *fs;
static char top[64], dir[80];
static struct stat root_st;
static struct region_fuse_rec fuse_snap;
static bool init_fd[FD_LIMIT];
static unsigned long runs;

static void
mark_open_fds(bool *set)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd < FD_LIMIT &&
		    fd != dirfd(d))
			set[fd] = true;
	}
	closedir(d);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		(void)remove(path);
	return 0;
}

static void
put_file(const char *name, size_t len)
{
	char path[160], buf[8192];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)('a' + i % 26);
	if (write(fd, buf, MIN(len, sizeof(buf))) < 0)
		(void)0;
	close(fd);
}

/* The directory's contents, as at setup. */
static void
refill(void)
{
	char path[160];

	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	put_file("f", 8192);
	put_file("e", 0);
	snprintf(path, sizeof(path), "%s/d", dir);
	(void)mkdir(path, 0755);
	put_file("d/g", 100);
	snprintf(path, sizeof(path), "%s/l", dir);
	(void)symlink("f", path);
	snprintf(path, sizeof(path), "%s/out", dir);
	(void)symlink("../..", path);
}

/* A private mount namespace with a small tmpfs; false if not possible. */
static bool
make_tmpfs(void)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	if (mount("phx-fuzz", top, "tmpfs", MS_NOSUID | MS_NODEV,
	    "size=16m,mode=0755") < 0)
		return false;
	return true;
}

static size_t
call(const uint8_t *in, size_t total, size_t out_size, unsigned flags)
{
	struct iovec iin[2], iout[2];
	struct redo_txn tx;
	struct fuse_req req;
	uint8_t *out = malloc(out_size > 0 ? out_size : 1);
	size_t len, split;

	if (out == NULL)
		abort();
	memset(&req, 0, sizeof(req));
	req.in = in;
	req.in_total = total;
	req.in_len = MIN(total, (size_t)REGION_SLOT_REQ_MAX);
	if ((flags & F_TRUNC) && req.in_len > sizeof(struct fuse_in_header))
		req.in_len = sizeof(struct fuse_in_header) +
		    (req.in_len - sizeof(struct fuse_in_header)) / 2;
	split = (flags & F_INSPLIT) ? MIN(total, (size_t)40) : total;
	iin[0] = (struct iovec){ (void *)(uintptr_t)in, split };
	iin[1] = (struct iovec){ (void *)(uintptr_t)(in + split),
		total - split };
	req.in_iov = iin;
	req.in_iovcnt = split < total ? 2 : 1;
	split = (flags & F_SPLIT) ? MIN(out_size, (size_t)1) : out_size;
	iout[0] = (struct iovec){ out, split };
	iout[1] = (struct iovec){ out + split, out_size - split };
	req.out_iov = iout;
	req.out_iovcnt = split < out_size ? 2 : 1;
	req.out_total = out_size;
	req.slot = region_slot(&r, 1, 0);
	memset(req.slot, 0, sizeof(*req.slot));
	req.txn = &tx;
	req.replay = flags & F_REPLAY;
	redo_begin(&tx, &r, &r.threads[0]);
	len = fdispatch_handle(fs, &req);
	redo_commit(&tx);
	inode_put_temps(); /* as queue.c does after the commit */
	if (len > out_size)
		abort();
	if (len >= sizeof(struct fuse_out_header)) {
		struct fuse_out_header oh;

		memcpy(&oh, out, sizeof(oh));
		if (oh.len != len || oh.error > 0 || oh.error < -4095)
			abort(); /* a malformed reply */
	}
	free(out);
	return len;
}

static void
setup(void)
{
	struct region_params p = { .max_inodes = 64, .max_handles = 32 };
	struct fuse_init_in ii;
	uint8_t buf[sizeof(struct fuse_in_header) + sizeof(ii)];
	struct fuse_in_header h;
	const char *ro = getenv("PHX_FUZZ_READONLY");
	bool ns;
	int fd;

	snprintf(top, sizeof(top), "/dev/shm/phx-fuzz-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/root", top);
	if (mkdir(top, 0755) < 0 && errno != EEXIST)
		abort();
	ns = make_tmpfs();
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		abort();
	refill();
	log_init(getenv("PHX_FUZZ_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR, false);
	if (region_create(&r, &p) < 0)
		abort();
	fd = open(dir, O_PATH | O_DIRECTORY);
	if (fd < 0 || dup2(fd, REGION_FD_ROOT) < 0 || fstat(fd, &root_st) < 0)
		abort();
	close(fd);
	/* The daemon reaches /proc only through REGION_FD_PROC (no path). */
	fd = open("/proc", O_PATH | O_DIRECTORY);
	if (fd < 0 || dup2(fd, REGION_FD_PROC) < 0)
		abort();
	close(fd);
	memset(&cfg, 0, sizeof(cfg)); /* config_defaults() is private */
	cfg.cache = CONFIG_CACHE_AUTO;
	cfg.readdirplus = true;
	cfg.num_request_queues = 1;
	cfg.quarantine_crashes = 3;
	cfg.journal = true;
	cfg.readonly = !ns || (ro != NULL && *ro == '1');
	fprintf(stderr, "fuzz_fuse_req: shared dir %s (%s, %s)\n", dir,
	    ns ? "private tmpfs" : "no namespace",
	    cfg.readonly ? "read-only" : "read-write");
	if (fdispatch_init(&fs, &r, &cfg, REGION_FD_ROOT) < 0)
		abort();
	inode_init_region(&r, REGION_FD_ROOT, root_st.st_dev, root_st.st_ino);
	handle_init_region(&r);

	memset(&h, 0, sizeof(h));
	memset(&ii, 0, sizeof(ii));
	h.len = sizeof(buf);
	h.opcode = FUSE_INIT;
	h.unique = 1;
	ii.major = FUSE_KERNEL_VERSION;
	ii.minor = FUSE_KERNEL_MINOR_VERSION;
	ii.max_readahead = 65536;
	ii.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS |
	    FUSE_MAX_PAGES;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &ii, sizeof(ii));
	(void)call(buf, sizeof(buf), 4096, 0);
	if (r.fuse->initialized == 0)
		abort();
	fuse_snap = *r.fuse;
	mark_open_fds(init_fd);
}

/* Inode and handle tables, their fds, and the session record as at setup. */
static void
reset(void)
{
	bool now[FD_LIMIT];
	DIR *d;
	struct dirent *e;

	for (uint64_t i = 1; i < r.hdr->inode_cap; i++)
		if (r.inodes[i].used == 1 && r.inodes[i].fd >= 0 &&
		    !REGION_FD_RESERVED(r.inodes[i].fd))
			close((int)r.inodes[i].fd);
	for (uint64_t i = 0; i < r.hdr->handle_cap; i++)
		if (r.handles[i].used == 1 && r.handles[i].fd >= 0 &&
		    !REGION_FD_RESERVED(r.handles[i].fd))
			close((int)r.handles[i].fd);
	memset(r.inodes, 0, sizeof(*r.inodes) * r.hdr->inode_cap);
	memset(r.ihash, 0, sizeof(*r.ihash) * r.hdr->ihash_cap);
	memset(r.handles, 0, sizeof(*r.handles) * r.hdr->handle_cap);
	inode_init_region(&r, REGION_FD_ROOT, root_st.st_dev, root_st.st_ino);
	handle_init_region(&r);
	*r.fuse = fuse_snap;
	r.hdr->degraded = 0;

	/* Every fd is in a table: anything else is a leak. */
	memset(now, 0, sizeof(now));
	mark_open_fds(now);
	for (int fd = 0; fd < FD_LIMIT; fd++) {
		if (now[fd] && !init_fd[fd]) {
			char l[64], t[256] = "?";

			snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
			if (readlink(l, t, sizeof(t) - 1) < 0)
				t[0] = '?';
			if (strncmp(t, "pipe:", 5) == 0) {
				/* libFuzzer's symbolizer (NEW_FUNC lines). */
				init_fd[fd] = true;
				continue;
			}
			fprintf(stderr, "fd %d (%s) leaked by the input\n", fd,
			    t);
			abort();
		}
	}
	/* Nothing may appear beside the shared directory. */
	d = opendir(top);
	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "root") != 0) {
			fprintf(stderr, "%s/%s: escape from the shared dir\n",
			    top, e->d_name);
			abort();
		}
	}
	closedir(d);
	if (++runs % REFILL == 0)
		refill();
}

static uint16_t
le16at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	if (fs == NULL)
		setup();
	for (unsigned n = 0; n < MAX_REQS && size - pos >= 5; n++) {
		size_t len = le16at(data + pos), out = le16at(data + pos + 2);
		unsigned flags = data[pos + 4];
		uint8_t *copy;

		pos += 5;
		len = MIN(len, size - pos);
		/* Exactly len bytes on the heap: ASan sees an over-read. */
		copy = malloc(len > 0 ? len : 1);
		if (copy == NULL)
			abort();
		memcpy(copy, data + pos, len);
		pos += len;
		(void)call(copy, len, out, flags);
		free(copy);
	}
	reset();
	return 0;
}
