// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * workload: a seeded random file system workload checked against an
 * in-memory model of the tree. Runs in the test guest (static, busybox-only
 * userland) on a virtio-fs share while the host kills the daemon, and also
 * on the host (--list) to print the same listing of a directory.
 *
 * The model holds every name (parent, name, inode), every inode (type,
 * size, contents, link count) and every open handle. Each operation
 * predicts the syscall's result from the model and checks it:
 *   error    = a syscall failed although the model predicted success, or
 *              failed with another errno than predicted;
 *   mismatch = a syscall succeeded but what it returned disagrees with the
 *              model (bytes read, size, type, link count, directory
 *              entries), or succeeded where the model predicted a failure.
 * A doubled operation shows up as EEXIST/ENOENT or doubled appended bytes,
 * a lost one as a mismatch later (or in the final walk / host listing).
 *
 * Operations: create (O_EXCL), create of an existing name (EEXIST), pwrite
 * at offsets (holes included), O_APPEND writes, truncate/O_TRUNC/ftruncate,
 * read back and verify, lstat, rename (to a new name, over a file, a
 * directory over an empty directory, hard links of one inode), unlink
 * (also of a missing name), mkdir (also of an existing name), rmdir (empty
 * and ENOTEMPTY), link, fsync, readdir, long-lived handles (kept open
 * across operations and across unlink of their last name), and
 * drop_caches every 2 s so reads and lookups reach the daemon.
 *
 * usage: workload [-s SEED] [-t SECONDS] [-f MAXFILES] [-d MAXDIRS] [-l LABEL] DIR
 *        workload --list DIR [LABEL]
 * DIR is created if missing and must then be empty. Prints progress lines
 * "PHX-WL ...", the final model listing as "PHX-MODEL <line>" and the
 * summary "PHX-WL result ops=N errors=N mismatches=N maxlat_ms=X ...".
 * With --list, prints "PHX-MODEL <line>" for the tree under DIR as found.
 * Listing line: "<path> f|d <size> <nlink> <fnv64> <first path of inode>",
 * paths relative to DIR, prefixed with "LABEL/" if -l LABEL is given (so
 * that several instances on sibling directories can share one console).
 * Exit status: 0 iff zero errors and zero mismatches; 2 on a setup failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* paths here are short; truncation of a PATH_MAX buffer cannot happen */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MAXENT 1024
#define MAXINO 1024
#define MAXDEPTH 4
#define MAXSIZE (48 * 1024)
#define MAXWRITE 8192
#define MAXH 6
#define MAXNLINK 6
#define MAXREPORT 40

enum { T_FILE = 1, T_DIR = 2 };

struct ino {
	int used;
	int type;
	size_t size;
	unsigned char *data; /* MAXSIZE bytes for files */
	int nlink;	     /* files: names pointing here */
	int handles;	     /* open handles */
};

struct ent {
	int used;
	int parent; /* entry index; -1 for the root */
	int ino;
	char name[24];
};

struct handle {
	int fd;
	int ino;
};

static struct ino inos[MAXINO];
static struct ent ents[MAXENT];
static struct handle hs[MAXH];
static int nh;
static char rootpath[PATH_MAX];
static unsigned maxfiles = 300, maxdirs = 60;
static unsigned namectr;
static const char *label = ""; /* listing paths are LABEL/path if set */

static unsigned long long nops, nerrors, nmismatches, nreported;
static unsigned long long nslow10, nslow100, nslow1000;
static double maxlat_ms;
static char maxlat_op[64];
static unsigned long long maxlat_opno;
static double t_start;

/* the op in progress, for the stall watchdog */
static volatile double cur_start;
static const char *volatile cur_name;
static volatile unsigned long long cur_no;

/* ---- helpers ------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rs;
static uint64_t rnd64(void)
{
	/* splitmix64 */
	uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static unsigned rnd(unsigned n)
{
	return n ? (unsigned)(rnd64() % n) : 0;
}
static void fill(unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if ((i & 7) == 0)
			v = rnd64();
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void report(int is_error, const char *fmt, ...)
{
	va_list ap;
	if (is_error)
		nerrors++;
	else
		nmismatches++;
	if (++nreported > MAXREPORT)
		return;
	printf("PHX-WL %s %s op#%llu t=%.3f: ", is_error ? "ERROR" : "MISMATCH",
	    rootpath, nops, now() - t_start);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- the model ---------------------------------------------------------- */

static int ino_new(int type)
{
	for (int i = 0; i < MAXINO; i++)
		if (!inos[i].used) {
			struct ino *n = &inos[i];
			n->used = 1;
			n->type = type;
			n->size = 0;
			n->nlink = 0;
			n->handles = 0;
			if (type == T_FILE && !n->data)
				n->data = calloc(1, MAXSIZE);
			if (type == T_FILE && !n->data) {
				fprintf(stderr, "workload: out of memory\n");
				exit(2);
			}
			return i;
		}
	return -1;
}

static void ino_put(int i)
{
	if (inos[i].type == T_FILE && (inos[i].nlink > 0 || inos[i].handles > 0))
		return;
	inos[i].used = 0;
}

static int ent_new(int parent, int ino, const char *name)
{
	for (int i = 1; i < MAXENT; i++)
		if (!ents[i].used) {
			ents[i].used = 1;
			ents[i].parent = parent;
			ents[i].ino = ino;
			snprintf(ents[i].name, sizeof ents[i].name, "%s", name);
			return i;
		}
	return -1;
}

static int etype(int e)
{
	return inos[ents[e].ino].type;
}

static void epath_rel(int e, char *buf, size_t len)
{
	if (e == 0) {
		snprintf(buf, len, ".");
		return;
	}
	char tmp[PATH_MAX];
	if (ents[e].parent == 0)
		snprintf(buf, len, "%s", ents[e].name);
	else {
		epath_rel(ents[e].parent, tmp, sizeof tmp);
		snprintf(buf, len, "%s/%s", tmp, ents[e].name);
	}
}

/* Absolute path of entry e (child name appended if name != NULL). */
static char *epath(int e, const char *name, char *buf)
{
	char rel[PATH_MAX];
	epath_rel(e, rel, sizeof rel);
	if (e == 0)
		snprintf(buf, PATH_MAX, "%s%s%s", rootpath, name ? "/" : "",
		    name ? name : "");
	else
		snprintf(buf, PATH_MAX, "%s/%s%s%s", rootpath, rel,
		    name ? "/" : "", name ? name : "");
	return buf;
}

static int child(int dir, const char *name)
{
	for (int i = 1; i < MAXENT; i++)
		if (ents[i].used && ents[i].parent == dir &&
		    strcmp(ents[i].name, name) == 0)
			return i;
	return -1;
}

static int nchildren(int dir, int dirs_only)
{
	int n = 0;
	for (int i = 1; i < MAXENT; i++)
		if (ents[i].used && ents[i].parent == dir &&
		    (!dirs_only || etype(i) == T_DIR))
			n++;
	return n;
}

static int enlink(int e)
{
	if (etype(e) == T_DIR)
		return 2 + nchildren(e, 1);
	return inos[ents[e].ino].nlink;
}

static int depth(int e)
{
	int d = 0;
	while (e != 0) {
		e = ents[e].parent;
		d++;
	}
	return d;
}

/* height of the subtree at e: 0 for a file or an empty directory */
static int height(int e)
{
	int h = 0;
	for (int i = 1; i < MAXENT; i++)
		if (ents[i].used && ents[i].parent == e) {
			int c = 1 + height(i);
			if (c > h)
				h = c;
		}
	return h;
}

/* is a inside the subtree rooted at b (a == b included)? */
static int is_under(int a, int b)
{
	for (; a > 0; a = ents[a].parent)
		if (a == b)
			return 1;
	return b == 0;
}

static int count(int type)
{
	int n = 0;
	for (int i = 1; i < MAXENT; i++)
		if (ents[i].used && etype(i) == type)
			n++;
	return n;
}

/* random entry of a type (T_DIR includes the root if with_root), or -1 */
static int pick(int type, int with_root)
{
	static int cand[MAXENT];
	int n = 0;
	if (type == T_DIR && with_root)
		cand[n++] = 0;
	for (int i = 1; i < MAXENT; i++)
		if (ents[i].used && (type == 0 || etype(i) == type))
			cand[n++] = i;
	return n ? cand[rnd(n)] : -1;
}

static void newname(char *buf, char prefix)
{
	snprintf(buf, 24, "%c%u", prefix, namectr++);
}

/* a name inside dir that the model says does not exist */
static void freshname(int dir, char *buf, char prefix)
{
	do
		newname(buf, prefix);
	while (child(dir, buf) >= 0);
}

static void ent_del(int e)
{
	int i = ents[e].ino;
	ents[e].used = 0;
	if (inos[i].type == T_FILE)
		inos[i].nlink--;
	ino_put(i);
}

static void model_write(int i, size_t off, const unsigned char *buf,
    size_t len)
{
	struct ino *n = &inos[i];
	if (off > n->size)
		memset(n->data + n->size, 0, off - n->size);
	memcpy(n->data + off, buf, len);
	if (off + len > n->size)
		n->size = off + len;
}

static void model_truncate(int i, size_t len)
{
	struct ino *n = &inos[i];
	if (len > n->size)
		memset(n->data + n->size, 0, len - n->size);
	n->size = len;
}

/* ---- checks --------------------------------------------------------------- */

static void expect_ok(long r, const char *what, const char *path)
{
	if (r < 0)
		report(1, "%s %s: %s, expected success", what, path,
		    strerror(errno));
}

static void expect_err(long r, int want, const char *what, const char *path)
{
	if (r >= 0)
		report(0, "%s %s: succeeded, expected %s", what, path,
		    strerror(want));
	else if (errno != want)
		report(1, "%s %s: %s, expected %s", what, path,
		    strerror(errno), strerror(want));
}

static void check_stat(const struct stat *st, int e, const char *path,
    const char *what)
{
	int t = etype(e);
	if (t == T_DIR && !S_ISDIR(st->st_mode))
		report(0, "%s %s: mode 0%o, expected a directory", what, path,
		    st->st_mode);
	if (t == T_FILE && !S_ISREG(st->st_mode))
		report(0, "%s %s: mode 0%o, expected a regular file", what,
		    path, st->st_mode);
	if (t == T_FILE && (size_t)st->st_size != inos[ents[e].ino].size)
		report(0, "%s %s: size %lld, expected %zu", what, path,
		    (long long)st->st_size, inos[ents[e].ino].size);
	/* btrfs counts no subdirectories: a directory's st_nlink is 1 */
	if ((int)st->st_nlink != enlink(e) &&
	    !(t == T_DIR && st->st_nlink == 1))
		report(0, "%s %s: nlink %lu, expected %d", what, path,
		    (unsigned long)st->st_nlink, enlink(e));
}

/* read fd to EOF from offset 0 and compare with inode i */
static void check_content(int fd, int i, const char *path, const char *what)
{
	static unsigned char buf[MAXSIZE + 4096];
	size_t got = 0;
	for (;;) {
		ssize_t r = pread(fd, buf + got, sizeof buf - got, got);
		if (r < 0) {
			report(1, "%s %s: pread at %zu: %s", what, path, got,
			    strerror(errno));
			return;
		}
		if (r == 0)
			break;
		got += r;
		if (got == sizeof buf)
			break;
	}
	struct ino *n = &inos[i];
	if (got != n->size) {
		report(0, "%s %s: read %zu bytes, expected %zu", what, path,
		    got, n->size);
		return;
	}
	if (memcmp(buf, n->data, got) != 0) {
		size_t k = 0;
		while (buf[k] == n->data[k])
			k++;
		report(0, "%s %s: content differs at offset %zu of %zu", what,
		    path, k, got);
	}
}

/* ---- operations ---------------------------------------------------------- */

static void op_create(void)
{
	char name[24], p[PATH_MAX];
	int d = pick(T_DIR, 1);
	freshname(d, name, 'f');
	epath(d, name, p);
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	expect_ok(fd, "create", p);
	if (fd < 0)
		return;
	int i = ino_new(T_FILE);
	inos[i].nlink = 1;
	ent_new(d, i, name);
	if (rnd(2)) {
		static unsigned char buf[MAXWRITE];
		size_t len = 1 + rnd(MAXWRITE);
		fill(buf, len);
		ssize_t r = write(fd, buf, len);
		expect_ok(r, "write(new)", p);
		if (r >= 0 && (size_t)r != len)
			report(0, "write(new) %s: %zd of %zu bytes", p, r, len);
		if (r > 0)
			model_write(i, 0, buf, r);
	}
	expect_ok(close(fd), "close", p);
}

static void op_create_exist(void)
{
	char p[PATH_MAX];
	int e = pick(0, 0);
	if (e < 0)
		return;
	epath(e, NULL, p);
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	expect_err(fd, EEXIST, "create(existing)", p);
	if (fd >= 0)
		close(fd);
}

static void op_write(int append)
{
	static unsigned char buf[MAXWRITE];
	char p[PATH_MAX];
	int e = pick(T_FILE, 0);
	if (e < 0)
		return;
	int i = ents[e].ino;
	size_t size = inos[i].size;
	size_t len = 1 + rnd(MAXWRITE);
	size_t off = append ? size : rnd(size + 4096);
	if (off + len > MAXSIZE) {
		if (off >= MAXSIZE)
			off = rnd(MAXSIZE / 2);
		if (off + len > MAXSIZE)
			len = MAXSIZE - off;
		if (append) /* no room: write in place instead */
			append = 0;
	}
	epath(e, NULL, p);
	fill(buf, len);
	int fd = open(p, O_WRONLY | (append ? O_APPEND : 0));
	expect_ok(fd, append ? "open(O_APPEND)" : "open(O_WRONLY)", p);
	if (fd < 0)
		return;
	ssize_t r = append ? write(fd, buf, len) : pwrite(fd, buf, len, off);
	expect_ok(r, append ? "append" : "pwrite", p);
	if (r >= 0 && (size_t)r != len)
		report(0, "%s %s: %zd of %zu bytes", append ? "append" : "pwrite",
		    p, r, len);
	if (r > 0)
		model_write(i, off, buf, r);
	struct stat st;
	if (fstat(fd, &st) < 0)
		report(1, "fstat %s: %s", p, strerror(errno));
	else if ((size_t)st.st_size != inos[i].size)
		report(0, "fstat after %s %s: size %lld, expected %zu",
		    append ? "append" : "pwrite", p, (long long)st.st_size,
		    inos[i].size);
	expect_ok(close(fd), "close", p);
}

static void op_truncate(void)
{
	char p[PATH_MAX];
	int e = pick(T_FILE, 0);
	if (e < 0)
		return;
	int i = ents[e].ino;
	epath(e, NULL, p);
	if (rnd(4) == 0) {
		int fd = open(p, O_WRONLY | O_TRUNC);
		expect_ok(fd, "open(O_TRUNC)", p);
		if (fd < 0)
			return;
		model_truncate(i, 0);
		expect_ok(close(fd), "close", p);
		return;
	}
	size_t max = inos[i].size * 2 + 2048;
	size_t len = rnd((max > MAXSIZE ? MAXSIZE : max) + 1);
	int r = truncate(p, len);
	expect_ok(r, "truncate", p);
	if (r == 0)
		model_truncate(i, len);
}

static void op_read(void)
{
	char p[PATH_MAX];
	int e = pick(T_FILE, 0);
	if (e < 0)
		return;
	epath(e, NULL, p);
	int fd = open(p, O_RDONLY);
	expect_ok(fd, "open(O_RDONLY)", p);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0)
		report(1, "fstat %s: %s", p, strerror(errno));
	else
		check_stat(&st, e, p, "fstat");
	check_content(fd, ents[e].ino, p, "read");
	expect_ok(close(fd), "close", p);
}

static void op_stat(void)
{
	char p[PATH_MAX];
	int e = pick(0, 0);
	if (e < 0)
		return;
	epath(e, NULL, p);
	struct stat st;
	if (lstat(p, &st) < 0)
		report(1, "lstat %s: %s, expected success", p, strerror(errno));
	else
		check_stat(&st, e, p, "lstat");
}

/* rename entry s to (dir d, name): apply to the model */
static void model_rename(int s, int d, const char *name)
{
	int t = child(d, name);
	if (t >= 0) {
		if (ents[t].ino == ents[s].ino)
			return; /* links to one inode: rename does nothing */
		ent_del(t);
	}
	ents[s].parent = d;
	snprintf(ents[s].name, sizeof ents[s].name, "%s", name);
}

static void op_rename(void)
{
	char name[24], sp[PATH_MAX], dp[PATH_MAX];
	int kind = rnd(10);
	int s, d;
	if (kind < 5) { /* any entry to a fresh name */
		s = pick(0, 0);
		if (s < 0)
			return;
		int tries = 0;
		do
			d = pick(T_DIR, 1);
		while ((is_under(d, s) ||
			   depth(d) + 1 + height(s) > MAXDEPTH) &&
		    ++tries < 20);
		if (is_under(d, s) || depth(d) + 1 + height(s) > MAXDEPTH)
			d = ents[s].parent;
		freshname(d, name, etype(s) == T_DIR ? 'd' : 'f');
	} else if (kind < 9) { /* a file over another file */
		s = pick(T_FILE, 0);
		int t = pick(T_FILE, 0);
		if (s < 0 || t < 0 || s == t)
			return;
		d = ents[t].parent;
		snprintf(name, sizeof name, "%s", ents[t].name);
	} else { /* a directory over an empty directory */
		s = pick(T_DIR, 0);
		int t = pick(T_DIR, 0);
		if (s < 0 || t < 0 || s == t || nchildren(t, 0) != 0 ||
		    is_under(t, s) || depth(t) + height(s) > MAXDEPTH)
			return;
		d = ents[t].parent;
		snprintf(name, sizeof name, "%s", ents[t].name);
	}
	epath(s, NULL, sp);
	epath(d, name, dp);
	int r = rename(sp, dp);
	expect_ok(r, "rename", sp);
	if (r == 0)
		model_rename(s, d, name);
}

static void op_unlink(void)
{
	char p[PATH_MAX];
	int e = pick(T_FILE, 0);
	if (e < 0)
		return;
	epath(e, NULL, p);
	int r = unlink(p);
	expect_ok(r, "unlink", p);
	if (r == 0)
		ent_del(e);
}

static void op_unlink_missing(void)
{
	char name[24], p[PATH_MAX];
	int d = pick(T_DIR, 1);
	freshname(d, name, 'f');
	epath(d, name, p);
	expect_err(unlink(p), ENOENT, "unlink(missing)", p);
}

static void op_mkdir(void)
{
	char name[24], p[PATH_MAX];
	int d = pick(T_DIR, 1);
	if (depth(d) >= MAXDEPTH)
		d = 0;
	if (rnd(8) == 0) {
		int e = pick(0, 0);
		if (e < 0)
			return;
		epath(e, NULL, p);
		expect_err(mkdir(p, 0755), EEXIST, "mkdir(existing)", p);
		return;
	}
	freshname(d, name, 'd');
	epath(d, name, p);
	int r = mkdir(p, 0755);
	expect_ok(r, "mkdir", p);
	if (r == 0)
		ent_new(d, ino_new(T_DIR), name);
}

static void op_rmdir(void)
{
	char p[PATH_MAX];
	int e = pick(T_DIR, 0);
	if (e < 0)
		return;
	epath(e, NULL, p);
	if (nchildren(e, 0) == 0) {
		int r = rmdir(p);
		expect_ok(r, "rmdir", p);
		if (r == 0)
			ent_del(e);
	} else {
		expect_err(rmdir(p), ENOTEMPTY, "rmdir(non-empty)", p);
	}
}

static void op_link(void)
{
	char name[24], sp[PATH_MAX], dp[PATH_MAX];
	int s = pick(T_FILE, 0);
	if (s < 0 || inos[ents[s].ino].nlink >= MAXNLINK)
		return;
	int d = pick(T_DIR, 1);
	epath(s, NULL, sp);
	if (rnd(8) == 0) {
		int t = pick(0, 0);
		epath(t, NULL, dp);
		expect_err(link(sp, dp), EEXIST, "link(existing)", dp);
		return;
	}
	freshname(d, name, 'f');
	epath(d, name, dp);
	int r = link(sp, dp);
	expect_ok(r, "link", dp);
	if (r == 0) {
		ent_new(d, ents[s].ino, name);
		inos[ents[s].ino].nlink++;
	}
}

static void op_fsync(void)
{
	char p[PATH_MAX];
	int e = pick(T_FILE, 0);
	if (e < 0)
		return;
	epath(e, NULL, p);
	int fd = open(p, O_WRONLY);
	expect_ok(fd, "open(O_WRONLY)", p);
	if (fd < 0)
		return;
	expect_ok(rnd(2) ? fsync(fd) : fdatasync(fd), "fsync", p);
	expect_ok(close(fd), "close", p);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* compare the directory's entries with the model; returns 0 if equal */
static int check_dir(int d, const char *what)
{
	char p[PATH_MAX];
	static char names[MAXENT][24];
	static char *got[MAXENT + 64], *want[MAXENT];
	int ng = 0, nw = 0, bad = 0;
	epath(d, NULL, p);
	DIR *dir = opendir(p);
	if (!dir) {
		report(1, "%s opendir %s: %s", what, p, strerror(errno));
		return -1;
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ng >= MAXENT) {
			bad = 1;
			break;
		}
		snprintf(names[ng], 24, "%s", de->d_name);
		got[ng] = names[ng];
		ng++;
		int c = child(d, de->d_name);
		if (c >= 0 && de->d_type != DT_UNKNOWN &&
		    (de->d_type == DT_DIR) != (etype(c) == T_DIR))
			report(0, "%s %s: %s has d_type %d", what, p,
			    de->d_name, de->d_type);
	}
	if (errno)
		report(1, "%s readdir %s: %s", what, p, strerror(errno));
	closedir(dir);
	for (int i = 1; i < MAXENT; i++)
		if (ents[i].used && ents[i].parent == d)
			want[nw++] = ents[i].name;
	qsort(got, ng, sizeof *got, cmpstr);
	qsort(want, nw, sizeof *want, cmpstr);
	if (bad || ng != nw)
		bad = 1;
	for (int i = 0; !bad && i < ng; i++)
		if (strcmp(got[i], want[i]))
			bad = 1;
	if (bad) {
		int a = 0, b = 0;
		char diff[512] = "";
		size_t dl = 0;
		while ((a < ng || b < nw) && dl < sizeof diff - 40) {
			int c = a >= ng ? 1 : b >= nw ? -1 : strcmp(got[a], want[b]);
			if (c == 0) {
				a++, b++;
			} else if (c < 0) {
				dl += snprintf(diff + dl, sizeof diff - dl,
				    " +%s", got[a++]);
			} else {
				dl += snprintf(diff + dl, sizeof diff - dl,
				    " -%s", want[b++]);
			}
		}
		report(0, "%s %s: %d entries, expected %d (+extra -missing):%s",
		    what, p, ng, nw, diff);
		return -1;
	}
	return 0;
}

static void op_readdir(void)
{
	check_dir(pick(T_DIR, 1), "readdir");
}

/* long-lived handles: open, write, read, truncate, fsync, close */
static void op_handle(void)
{
	static unsigned char buf[MAXWRITE];
	char p[PATH_MAX];
	int k = rnd(10);
	if (nh == 0 || (k < 2 && nh < MAXH)) {
		int e = pick(T_FILE, 0);
		if (e < 0)
			return;
		epath(e, NULL, p);
		int fd = open(p, O_RDWR);
		expect_ok(fd, "open(O_RDWR)", p);
		if (fd < 0)
			return;
		hs[nh].fd = fd;
		hs[nh].ino = ents[e].ino;
		inos[hs[nh].ino].handles++;
		nh++;
		return;
	}
	int h = rnd(nh);
	int i = hs[h].ino;
	snprintf(p, sizeof p, "handle %d (fd %d, nlink %d)", h, hs[h].fd,
	    inos[i].nlink);
	if (k < 3) {
		expect_ok(close(hs[h].fd), "close", p);
		inos[i].handles--;
		ino_put(i);
		hs[h] = hs[--nh];
	} else if (k < 6) {
		size_t len = 1 + rnd(MAXWRITE);
		size_t off = rnd(inos[i].size + 2048);
		if (off >= MAXSIZE)
			off = rnd(MAXSIZE / 2);
		if (off + len > MAXSIZE)
			len = MAXSIZE - off;
		fill(buf, len);
		ssize_t r = pwrite(hs[h].fd, buf, len, off);
		expect_ok(r, "pwrite", p);
		if (r >= 0 && (size_t)r != len)
			report(0, "pwrite %s: %zd of %zu bytes", p, r, len);
		if (r > 0)
			model_write(i, off, buf, r);
	} else if (k < 8) {
		struct stat st;
		if (fstat(hs[h].fd, &st) < 0)
			report(1, "fstat %s: %s", p, strerror(errno));
		else if ((size_t)st.st_size != inos[i].size)
			report(0, "fstat %s: size %lld, expected %zu", p,
			    (long long)st.st_size, inos[i].size);
		check_content(hs[h].fd, i, p, "pread");
	} else if (k < 9) {
		size_t len = rnd(inos[i].size + 1024);
		if (len > MAXSIZE)
			len = MAXSIZE;
		int r = ftruncate(hs[h].fd, len);
		expect_ok(r, "ftruncate", p);
		if (r == 0)
			model_truncate(i, len);
	} else {
		expect_ok(fsync(hs[h].fd), "fsync", p);
	}
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		return; /* not in the guest (or not root): fine */
	if (write(fd, "3\n", 2) < 0) {
		/* ignored: only a way to send reads/lookups to the daemon */
	}
	close(fd);
}

/* ---- the full walk and the listing ---------------------------------------- */

static void walk_check(int d)
{
	char p[PATH_MAX];
	check_dir(d, "walk");
	for (int e = 1; e < MAXENT; e++) {
		if (!ents[e].used || ents[e].parent != d)
			continue;
		epath(e, NULL, p);
		struct stat st;
		if (lstat(p, &st) < 0) {
			report(1, "walk lstat %s: %s", p, strerror(errno));
			continue;
		}
		check_stat(&st, e, p, "walk lstat");
		if (etype(e) == T_DIR) {
			walk_check(e);
		} else {
			int fd = open(p, O_RDONLY);
			if (fd < 0) {
				report(1, "walk open %s: %s", p,
				    strerror(errno));
				continue;
			}
			check_content(fd, ents[e].ino, p, "walk read");
			close(fd);
		}
	}
}

struct line {
	char path[PATH_MAX];
	char type;
	size_t size;
	unsigned long nlink;
	uint64_t hash;
	uint64_t key; /* inode identity, to find the first path of an inode */
	char first[PATH_MAX];
};
static struct line *lines;
static int nlines, caplines;

static struct line *line_add(void)
{
	if (nlines == caplines) {
		caplines = caplines ? caplines * 2 : 256;
		lines = realloc(lines, caplines * sizeof *lines);
		if (!lines) {
			fprintf(stderr, "workload: out of memory\n");
			exit(2);
		}
	}
	memset(&lines[nlines], 0, sizeof *lines);
	return &lines[nlines++];
}

static int cmpline(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->path,
	    ((const struct line *)b)->path);
}

static void lines_print(void)
{
	qsort(lines, nlines, sizeof *lines, cmpline);
	for (int i = 0; i < nlines; i++) {
		struct line *l = &lines[i];
		const char *first = "-";
		if (l->type == 'f') {
			for (int j = 0; j < nlines; j++)
				if (lines[j].type == 'f' && lines[j].key == l->key) {
					first = lines[j].path; /* sorted: first hit */
					break;
				}
		}
		const char *sep = *label ? "/" : "";
		printf("PHX-MODEL %s%s%s %c %zu %lu %016" PRIx64 " %s%s%s\n",
		    label, sep, l->path, l->type, l->size, l->nlink, l->hash,
		    *first != '-' ? label : "", *first != '-' ? sep : "", first);
	}
	fflush(stdout);
}

static void model_lines(void)
{
	for (int e = 1; e < MAXENT; e++) {
		if (!ents[e].used)
			continue;
		struct line *l = line_add();
		epath_rel(e, l->path, sizeof l->path);
		struct ino *n = &inos[ents[e].ino];
		l->type = n->type == T_DIR ? 'd' : 'f';
		l->size = n->type == T_DIR ? 0 : n->size;
		l->nlink = enlink(e);
		l->hash = n->type == T_DIR ? 0 : fnv(n->data, n->size);
		l->key = ents[e].ino;
	}
}

/* host side: the same lines for the tree as found on disk */
/*
 * Subdirectories of path: a directory's link count where the file system
 * reports 1 (btrfs counts no subdirectory links).
 */
static unsigned long subdirs(const char *path)
{
	unsigned long n = 0;
	struct dirent *de;
	DIR *d = opendir(path);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char a[PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(a, sizeof a, "%s/%s", path, de->d_name);
		if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode))
			n++;
	}
	closedir(d);
	return n;
}

static int fs_lines(const char *abs, const char *rel)
{
	DIR *dir = opendir(abs);
	if (!dir) {
		fprintf(stderr, "workload: %s: %s\n", abs, strerror(errno));
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(dir)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char a[PATH_MAX], r[PATH_MAX];
		snprintf(a, sizeof a, "%s/%s", abs, de->d_name);
		if (*rel)
			snprintf(r, sizeof r, "%s/%s", rel, de->d_name);
		else
			snprintf(r, sizeof r, "%s", de->d_name);
		struct stat st;
		if (lstat(a, &st) < 0) {
			fprintf(stderr, "workload: %s: %s\n", a, strerror(errno));
			rc = -1;
			continue;
		}
		struct line *l = line_add();
		snprintf(l->path, sizeof l->path, "%s", r);
		l->nlink = st.st_nlink;
		l->key = st.st_ino;
		if (S_ISDIR(st.st_mode)) {
			l->type = 'd';
			if (st.st_nlink == 1) /* btrfs: as the model counts */
				l->nlink = 2 + subdirs(a);
			if (fs_lines(a, r) < 0)
				rc = -1;
		} else {
			l->type = S_ISREG(st.st_mode) ? 'f' : '?';
			l->size = st.st_size;
			unsigned char *buf = malloc(st.st_size + 1);
			int fd = open(a, O_RDONLY);
			ssize_t n = fd < 0 || !buf ? -1 :
			    read(fd, buf, st.st_size + 1);
			if (n < 0) {
				fprintf(stderr, "workload: %s: %s\n", a,
				    strerror(errno));
				rc = -1;
			} else {
				l->size = n;
				l->hash = fnv(buf, n);
			}
			if (fd >= 0)
				close(fd);
			free(buf);
		}
	}
	closedir(dir);
	return rc;
}

/* ---- driver --------------------------------------------------------------- */

static void *watchdog(void *arg)
{
	(void)arg;
	double last_report = 0;
	for (;;) {
		sleep(1);
		double s = cur_start;
		if (s == 0)
			continue;
		double t = now();
		if (t - s >= 5 && t - last_report >= 5) {
			printf("PHX-WL STALL %s op#%llu %s blocked for %.1f s\n",
			    rootpath, cur_no, cur_name, t - s);
			fflush(stdout);
			last_report = t;
		}
	}
	return NULL;
}

struct opdef {
	const char *name;
	int weight;
	void (*fn)(void);
};

static void op_write0(void) { op_write(0); }
static void op_append(void) { op_write(1); }

static struct opdef ops[] = {
    {"create", 10, op_create},
    {"create-existing", 2, op_create_exist},
    {"pwrite", 14, op_write0},
    {"append", 10, op_append},
    {"truncate", 6, op_truncate},
    {"read", 14, op_read},
    {"lstat", 8, op_stat},
    {"rename", 8, op_rename},
    {"unlink", 8, op_unlink},
    {"unlink-missing", 1, op_unlink_missing},
    {"mkdir", 5, op_mkdir},
    {"rmdir", 4, op_rmdir},
    {"link", 4, op_link},
    {"fsync", 3, op_fsync},
    {"readdir", 3, op_readdir},
    {"handle", 10, op_handle},
};
#define NOPS (sizeof ops / sizeof ops[0])
static unsigned long long opcount[NOPS];

static struct opdef *choose(void)
{
	int total = 0;
	for (size_t i = 0; i < NOPS; i++)
		total += ops[i].weight;
	for (;;) {
		int r = rnd(total);
		size_t i = 0;
		while (r >= ops[i].weight)
			r -= ops[i++].weight;
		struct opdef *o = &ops[i];
		int nf = count(T_FILE), nd = count(T_DIR);
		/* keep the population near its bounds */
		if (o->fn == op_create && nf >= (int)maxfiles)
			continue;
		if (o->fn == op_link && nf >= (int)maxfiles)
			continue;
		if (o->fn == op_mkdir && nd >= (int)maxdirs)
			continue;
		if ((o->fn == op_unlink || o->fn == op_rmdir) &&
		    nf + nd < (int)(maxfiles + maxdirs) / 4)
			continue;
		return o;
	}
}

static void timed(const char *name, void (*fn)(void))
{
	cur_name = name;
	cur_no = nops + 1;
	double t0 = now();
	cur_start = t0;
	fn();
	double ms = (now() - t0) * 1000;
	cur_start = 0;
	nops++;
	if (ms > maxlat_ms) {
		maxlat_ms = ms;
		maxlat_opno = nops;
		snprintf(maxlat_op, sizeof maxlat_op, "%s", name);
	}
	if (ms >= 10)
		nslow10++;
	if (ms >= 100)
		nslow100++;
	if (ms >= 1000)
		nslow1000++;
}

static void summary(const char *tag)
{
	printf("PHX-WL %s dir=%s ops=%llu errors=%llu mismatches=%llu "
	       "maxlat_ms=%.1f maxlat_op=%s#%llu slow10ms=%llu slow100ms=%llu "
	       "slow1s=%llu files=%d dirs=%d handles=%d t=%.1f\n",
	    tag, rootpath, nops, nerrors, nmismatches, maxlat_ms,
	    maxlat_op[0] ? maxlat_op : "-", maxlat_opno, nslow10, nslow100,
	    nslow1000, count(T_FILE), count(T_DIR), nh, now() - t_start);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: workload [-s SEED] [-t SECONDS] [-f MAXFILES] "
			"[-d MAXDIRS] [-l LABEL] DIR\n"
			"       workload --list DIR [LABEL]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long seed = 1;
	double seconds = 30;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--list")) {
		if (argc == 4)
			label = argv[3];
		int rc = fs_lines(argv[2], "");
		lines_print();
		return rc < 0 ? 2 : 0;
	}
	int c;
	while ((c = getopt(argc, argv, "s:t:f:d:l:")) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'f': maxfiles = strtoul(optarg, NULL, 0); break;
		case 'd': maxdirs = strtoul(optarg, NULL, 0); break;
		case 'l': label = optarg; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if (maxfiles + maxdirs + 2 * MAXH > MAXENT / 2 ||
	    maxfiles + maxdirs > MAXINO / 2) {
		fprintf(stderr, "workload: at most %d files and directories\n",
		    MAXENT / 2);
		return 2;
	}
	snprintf(rootpath, sizeof rootpath, "%s", argv[optind]);
	if (mkdir(rootpath, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "workload: mkdir %s: %s\n", rootpath,
		    strerror(errno));
		return 2;
	}
	DIR *d = opendir(rootpath);
	if (!d) {
		fprintf(stderr, "workload: %s: %s\n", rootpath, strerror(errno));
		return 2;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			fprintf(stderr, "workload: %s is not empty\n", rootpath);
			return 2;
		}
	closedir(d);
	ents[0].used = 1;
	ents[0].parent = -1;
	ents[0].ino = ino_new(T_DIR);
	rs = seed;

	pthread_t wd;
	pthread_create(&wd, NULL, watchdog, NULL);

	t_start = now();
	printf("PHX-WL start seed=%llu seconds=%.0f maxfiles=%u maxdirs=%u "
	       "dir=%s\n", seed, seconds, maxfiles, maxdirs, rootpath);
	double next_drop = t_start + 2, next_progress = t_start + 5;
	for (;;) {
		double t = now();
		if (t - t_start >= seconds)
			break;
		if (t >= next_drop) {
			/* not an op: its time is not a user-visible stall */
			cur_name = "drop_caches";
			cur_start = t;
			drop_caches();
			cur_start = 0;
			next_drop = now() + 2;
		}
		if (t >= next_progress) {
			summary("progress");
			next_progress = t + 5;
		}
		struct opdef *o = choose();
		opcount[o - ops]++;
		timed(o->name, o->fn);
	}
	summary("ops-done");
	while (nh > 0) {
		struct handle *h = &hs[--nh];
		expect_ok(close(h->fd), "close", "handle");
		inos[h->ino].handles--;
		ino_put(h->ino);
	}
	cur_name = "final walk";
	cur_start = now();
	drop_caches();
	walk_check(0);
	drop_caches();
	cur_start = 0;
	printf("PHX-WL opcounts dir=%s", rootpath);
	for (size_t i = 0; i < NOPS; i++)
		printf(" %s=%llu", ops[i].name, opcount[i]);
	printf("\n");
	model_lines();
	lines_print();
	summary("result");
	return nerrors || nmismatches ? 1 : 0;
}
