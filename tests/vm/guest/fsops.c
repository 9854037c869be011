// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsops: in-guest syscall-level checks of a virtio-fs share. Runs inside the
 * test guest (static, busybox-only userland) against a fresh directory on
 * the share and prints TAP lines "ok N - desc" / "not ok N - desc # ..."
 * plus a "# fsops: P passed, F failed" summary. Each check calls the syscall
 * directly and compares the result and errno with what a local Linux file
 * system returns, so it runs unchanged against any daemon.
 *
 * usage: fsops [-n FIRST] DIR   (DIR must not exist; it is created)
 * Exit status: 0 if every check passed, 1 otherwise, 2 on a setup failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#define FUSE_SUPER_MAGIC 0x65735546

static int tnum, npass, nfail;

static void report(int pass, const char *fmt, va_list ap)
{
	tnum++;
	if (pass)
		npass++;
	else
		nfail++;
	printf("%sok %d - ", pass ? "" : "not ", tnum);
	vprintf(fmt, ap);
}

/* check(cond, extra-on-failure, fmt...): one TAP line. */
__attribute__((format(printf, 3, 4)))
static int check(int pass, const char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(pass, fmt, ap);
	va_end(ap);
	if (!pass && why)
		printf(" # %s", why);
	printf("\n");
	fflush(stdout);
	return pass;
}

static char whybuf[256];

static const char *errwhy(long r, int err)
{
	snprintf(whybuf, sizeof(whybuf), "returned %ld errno %d (%s)", r, err,
	    strerror(err));
	return whybuf;
}

/* Expect success (r >= 0). */
#define T_OK(expr, ...) ({						\
	errno = 0;							\
	long r_ = (long)(expr);						\
	int e_ = errno;							\
	check(r_ >= 0, errwhy(r_, e_), __VA_ARGS__);			\
	r_;								\
})

/* Expect failure with errno E. */
#define T_ERR(expr, E, ...) ({						\
	errno = 0;							\
	long r_ = (long)(expr);						\
	int e_ = errno;							\
	char w_[300];							\
	snprintf(w_, sizeof(w_), "want errno %d (%s), %s", (E),		\
	    strerror(E), errwhy(r_, e_));				\
	check(r_ == -1 && e_ == (E), w_, __VA_ARGS__);			\
})

#define T_EQ(a, b, ...) ({						\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	char w_[120];							\
	snprintf(w_, sizeof(w_), "got %lld want %lld", a_, b_);	\
	check(a_ == b_, w_, __VA_ARGS__);				\
})

#define T_TRUE(c, ...) check(!!(c), NULL, __VA_ARGS__)

static int ren2(const char *a, const char *b, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

static int write_file(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	if (close(fd) < 0 || n != (ssize_t)strlen(s))
		return -1;
	return 0;
}

static int file_is(const char *p, const char *s)
{
	char buf[4096];
	int fd = open(p, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return 0;
	buf[n] = 0;
	return strcmp(buf, s) == 0;
}

static off_t fsize(const char *p)
{
	struct stat st;

	return stat(p, &st) < 0 ? -1 : st.st_size;
}

static int all_zero(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Run fn in a child with uid/gid 1000; returns the child's exit status. */
static int as_user(int (*fn)(void *), void *arg)
{
	int st;
	pid_t p = fork();

	if (p == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 ||
		    setresuid(1000, 1000, 1000) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int u_open_rd(void *p)
{
	int fd = open(p, O_RDONLY);

	if (fd >= 0)
		return 0;
	return errno;
}

static int u_create(void *p)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);

	if (fd < 0)
		return errno;
	return close(fd) < 0 ? errno : 0;
}

static int u_access_r(void *p)
{
	return access(p, R_OK) < 0 ? errno : 0;
}

static int u_chmod(void *p)
{
	return chmod(p, 0777) < 0 ? errno : 0;
}

/* ---- the checks, one function per operation group ------------------- */

static void t_lookup_getattr(void)
{
	struct stat st, st2;
	int fd;

	fd = T_OK(open("f", O_RDWR | O_CREAT, 0644), "create f");
	T_OK(stat("f", &st), "lookup/stat f");
	T_TRUE(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644,
	    "stat: regular file, mode 0644 (got 0%o)", st.st_mode);
	T_EQ(st.st_size, 0, "stat: size 0");
	T_EQ(st.st_nlink, 1, "stat: nlink 1");
	T_EQ(st.st_uid, 0, "stat: uid 0 (created by root)");
	T_OK(fstat(fd, &st2), "getattr: fstat on open fd");
	T_TRUE(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev,
	    "getattr: fstat and stat agree on dev/ino");
	T_OK(fstatat(AT_FDCWD, "f", &st2, AT_SYMLINK_NOFOLLOW), "fstatat f");
	T_OK(stat(".", &st), "stat .");
	T_TRUE(S_ISDIR(st.st_mode), "stat .: is a directory");
	T_TRUE(st.st_nlink >= 2, "stat .: nlink >= 2");
	T_ERR(stat("nonexistent", &st), ENOENT, "stat missing: ENOENT");
	T_ERR(stat("nodir/x", &st), ENOENT, "stat missing/x: ENOENT");
	T_ERR(stat("f/x", &st), ENOTDIR, "stat file/x: ENOTDIR");
	close(fd);
}

static void t_setattr(void)
{
	struct stat st;
	struct timespec ts[2];
	struct timeval now;
	int fd;

	T_OK(write_file("sa", "0123456789"), "setattr: create sa");
	T_OK(chmod("sa", 0600), "chmod 0600");
	stat("sa", &st);
	T_EQ(st.st_mode & 07777, 0600, "chmod: mode is 0600");
	T_OK(chmod("sa", 04755), "chmod 04755 (setuid bit)");
	stat("sa", &st);
	T_EQ(st.st_mode & 07777, 04755, "chmod: mode is 04755");
	fd = open("sa", O_RDWR);
	T_OK(fchmod(fd, 0640), "fchmod 0640");
	fstat(fd, &st);
	T_EQ(st.st_mode & 07777, 0640, "fchmod: mode is 0640");
	T_OK(chown("sa", 1234, 5678), "chown 1234:5678");
	stat("sa", &st);
	T_TRUE(st.st_uid == 1234 && st.st_gid == 5678,
	    "chown: owner is 1234:5678 (got %u:%u)", st.st_uid, st.st_gid);
	T_OK(chown("sa", -1, 42), "chown -1:42 (group only)");
	stat("sa", &st);
	T_TRUE(st.st_uid == 1234 && st.st_gid == 42, "chown: owner 1234:42");
	T_OK(fchown(fd, 0, 0), "fchown 0:0");
	fstat(fd, &st);
	T_TRUE(st.st_uid == 0 && st.st_gid == 0, "fchown: owner 0:0");

	T_OK(truncate("sa", 4), "truncate to 4");
	T_EQ(fsize("sa"), 4, "truncate: size 4");
	T_TRUE(file_is("sa", "0123"), "truncate: content kept");
	T_OK(ftruncate(fd, 8192), "ftruncate up to 8192");
	{
		char b[8192];

		T_EQ(pread(fd, b, sizeof(b), 0), 8192, "pread extended file");
		T_TRUE(memcmp(b, "0123", 4) == 0 && all_zero(b + 4, 8188),
		    "ftruncate: extension reads as zeros");
	}
	T_OK(ftruncate(fd, 0), "ftruncate to 0");
	fstat(fd, &st);
	T_EQ(st.st_size, 0, "ftruncate: size 0");
	T_ERR(truncate("sa", -1), EINVAL, "truncate -1: EINVAL");
	T_ERR(truncate(".", 0), EISDIR, "truncate dir: EISDIR");

	ts[0].tv_sec = 1000000000; ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1200000000; ts[1].tv_nsec = 987654321;
	T_OK(utimensat(AT_FDCWD, "sa", ts, 0), "utimensat explicit times");
	stat("sa", &st);
	T_TRUE(st.st_atim.tv_sec == 1000000000 &&
	    st.st_atim.tv_nsec == 123456789, "utimensat: atime set (ns)");
	T_TRUE(st.st_mtim.tv_sec == 1200000000 &&
	    st.st_mtim.tv_nsec == 987654321, "utimensat: mtime set (ns)");
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	T_OK(utimensat(AT_FDCWD, "sa", ts, 0), "utimensat UTIME_NOW/UTIME_OMIT");
	stat("sa", &st);
	gettimeofday(&now, NULL);
	/* host and guest clocks differ a little; allow a wide window */
	T_TRUE(labs((long)(st.st_atim.tv_sec - now.tv_sec)) < 300,
	    "UTIME_NOW: atime is now (atime %ld, now %ld)",
	    (long)st.st_atim.tv_sec, (long)now.tv_sec);
	T_TRUE(st.st_mtim.tv_sec == 1200000000 &&
	    st.st_mtim.tv_nsec == 987654321, "UTIME_OMIT: mtime unchanged");
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1300000000; ts[1].tv_nsec = 0;
	T_OK(futimens(fd, ts), "futimens UTIME_OMIT/explicit");
	{
		struct stat st2;

		fstat(fd, &st2);
		T_TRUE(st2.st_atim.tv_sec == st.st_atim.tv_sec &&
		    st2.st_mtim.tv_sec == 1300000000,
		    "futimens: atime kept, mtime set");
	}
	T_OK(utimes("sa", NULL), "utimes(NULL): both now");
	stat("sa", &st);
	T_TRUE(labs((long)(st.st_mtim.tv_sec - now.tv_sec)) < 300,
	    "utimes(NULL): mtime is now");
	close(fd);
}

static void t_symlink(void)
{
	char buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	T_OK(symlink("target/x", "lnk"), "symlink lnk -> target/x");
	T_OK(lstat("lnk", &st), "lstat symlink");
	T_TRUE(S_ISLNK(st.st_mode), "lstat: is a symlink");
	T_EQ(st.st_size, 8, "lstat: symlink size is target length");
	n = T_OK(readlink("lnk", buf, sizeof(buf)), "readlink");
	T_TRUE(n == 8 && memcmp(buf, "target/x", 8) == 0,
	    "readlink: target (got %zd bytes '%.*s')", n, n > 0 ? (int)n : 0, buf);
	T_ERR(stat("lnk", &st), ENOENT, "stat dangling symlink: ENOENT");
	T_ERR(symlink("other", "lnk"), EEXIST, "symlink over existing: EEXIST");
	T_ERR(readlink("f", buf, sizeof(buf)), EINVAL,
	    "readlink regular file: EINVAL");
	T_OK(symlink("f", "lnk2"), "symlink lnk2 -> f");
	T_OK(stat("lnk2", &st), "stat follows symlink");
	T_TRUE(S_ISREG(st.st_mode), "stat via symlink: regular file");
	T_OK(symlink("loop2", "loop1"), "symlink loop1 -> loop2");
	T_OK(symlink("loop1", "loop2"), "symlink loop2 -> loop1");
	T_ERR(open("loop1", O_RDONLY), ELOOP, "open symlink loop: ELOOP");
	T_ERR(stat("loop1", &st), ELOOP, "stat symlink loop: ELOOP");
	T_ERR(open("lnk2", O_RDONLY | O_NOFOLLOW), ELOOP,
	    "open O_NOFOLLOW on symlink: ELOOP");
	T_OK(unlink("lnk2"), "unlink symlink");
	T_OK(stat("f", &st), "unlink symlink: target still there");
}

static void t_mknod(void)
{
	struct stat st;
	int fd;

	T_OK(mkfifo("fifo", 0640), "mkfifo");
	T_OK(lstat("fifo", &st), "stat fifo");
	T_TRUE(S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0640,
	    "fifo: S_IFIFO mode 0640");
	fd = T_OK(open("fifo", O_RDWR | O_NONBLOCK), "open fifo (guest-side pipe)");
	if (fd >= 0) {
		char c = 0;

		T_TRUE(write(fd, "x", 1) == 1 && read(fd, &c, 1) == 1 && c == 'x',
		    "fifo: data passes through");
		close(fd);
	}
	T_OK(mknod("nod", S_IFREG | 0600, 0), "mknod S_IFREG");
	T_OK(lstat("nod", &st), "stat mknod'd file");
	T_TRUE(S_ISREG(st.st_mode), "mknod S_IFREG: regular file");
	T_OK(mknod("chr", S_IFCHR | 0666, makedev(1, 3)), "mknod char 1:3 as root");
	T_OK(lstat("chr", &st), "stat char device");
	T_TRUE(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
	    minor(st.st_rdev) == 3, "char device: S_IFCHR rdev 1:3");
	fd = T_OK(open("chr", O_WRONLY), "open char device 1:3 (null)");
	if (fd >= 0) {
		T_EQ(write(fd, "abc", 3), 3, "write to null device node");
		close(fd);
	}
	T_OK(mknod("blk", S_IFBLK | 0600, makedev(7, 0)), "mknod block 7:0");
	T_OK(lstat("blk", &st), "stat block device");
	T_TRUE(S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 0),
	    "block device: S_IFBLK rdev 7:0");
	T_ERR(mknod("fifo", S_IFIFO | 0600, 0), EEXIST, "mknod existing: EEXIST");
}

static void t_dirs(void)
{
	struct stat st;

	T_OK(mkdir("d", 0750), "mkdir d 0750");
	T_OK(stat("d", &st), "stat new dir");
	T_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750,
	    "mkdir: S_IFDIR mode 0750");
	T_EQ(st.st_nlink, 2, "mkdir: new dir nlink 2");
	T_ERR(mkdir("d", 0755), EEXIST, "mkdir existing: EEXIST");
	T_ERR(mkdir("f", 0755), EEXIST, "mkdir over file: EEXIST");
	T_ERR(mkdir("f/sub", 0755), ENOTDIR, "mkdir file/sub: ENOTDIR");
	T_ERR(mkdir("nodir/sub", 0755), ENOENT, "mkdir missing/sub: ENOENT");
	T_OK(mkdir("d/sub", 0755), "mkdir d/sub");
	stat("d", &st);
	T_EQ(st.st_nlink, 3, "parent nlink 3 after subdir");
	T_OK(write_file("d/file", "x"), "create d/file");
	T_ERR(rmdir("d"), ENOTEMPTY, "rmdir non-empty: ENOTEMPTY");
	T_ERR(rmdir("d/file"), ENOTDIR, "rmdir file: ENOTDIR");
	T_ERR(rmdir("d/none"), ENOENT, "rmdir missing: ENOENT");
	T_ERR(unlink("d/sub"), EISDIR, "unlink dir: EISDIR");
	T_OK(unlink("d/file"), "unlink d/file");
	T_ERR(stat("d/file", &st), ENOENT, "unlink: file gone");
	T_ERR(unlink("d/file"), ENOENT, "unlink missing: ENOENT");
	T_OK(rmdir("d/sub"), "rmdir d/sub");
	T_ERR(stat("d/sub", &st), ENOENT, "rmdir: dir gone");
	T_OK(rmdir("d"), "rmdir d (now empty)");
}

static void t_rename(void)
{
	struct stat st, st2;

	T_OK(write_file("ra", "A"), "rename: create ra");
	T_OK(write_file("rb", "B"), "rename: create rb");
	stat("ra", &st);
	T_OK(rename("ra", "rc"), "rename ra -> rc");
	T_ERR(stat("ra", &st2), ENOENT, "rename: old name gone");
	T_OK(stat("rc", &st2), "rename: new name exists");
	T_EQ(st2.st_ino, st.st_ino, "rename: inode number kept");
	T_OK(rename("rc", "rb"), "rename over existing file");
	T_TRUE(file_is("rb", "A"), "rename over: target replaced");
	T_ERR(stat("rc", &st2), ENOENT, "rename over: source gone");
	mkdir("rd1", 0755);
	mkdir("rd2", 0755);
	write_file("rd2/x", "x");
	T_ERR(rename("rd1", "rd2"), ENOTEMPTY, "rename dir over non-empty dir: ENOTEMPTY");
	T_ERR(rename("rb", "rd1"), EISDIR, "rename file over dir: EISDIR");
	T_ERR(rename("rd1", "rb"), ENOTDIR, "rename dir over file: ENOTDIR");
	T_ERR(rename("rnone", "rx"), ENOENT, "rename missing: ENOENT");
	T_OK(rename("rb", "rd1/moved"), "rename into subdirectory");
	T_TRUE(file_is("rd1/moved", "A"), "rename across dirs: content");
	T_ERR(rename("rd1", "rd1/moved/in"), ENOTDIR,
	    "rename dir under a file: ENOTDIR");
	T_ERR(rename("rd2", "rd2/sub"), EINVAL, "rename dir into itself: EINVAL");

	/* renameat2 */
	write_file("n1", "one");
	write_file("n2", "two");
	T_ERR(ren2("n1", "n2", RENAME_NOREPLACE), EEXIST,
	    "renameat2 NOREPLACE onto existing: EEXIST");
	T_TRUE(file_is("n1", "one") && file_is("n2", "two"),
	    "NOREPLACE failure: nothing changed");
	T_OK(ren2("n1", "n3", RENAME_NOREPLACE), "renameat2 NOREPLACE to new name");
	T_TRUE(file_is("n3", "one") && access("n1", F_OK) < 0,
	    "NOREPLACE: moved");
	T_OK(ren2("n2", "n3", RENAME_EXCHANGE), "renameat2 EXCHANGE files");
	T_TRUE(file_is("n2", "one") && file_is("n3", "two"),
	    "EXCHANGE: contents swapped");
	T_OK(ren2("n2", "rd2", RENAME_EXCHANGE), "renameat2 EXCHANGE file and dir");
	T_TRUE(stat("n2", &st) == 0 && S_ISDIR(st.st_mode) &&
	    file_is("n2/x", "x") && file_is("rd2", "one"),
	    "EXCHANGE file/dir: swapped");
	T_ERR(ren2("n3", "nmissing", RENAME_EXCHANGE), ENOENT,
	    "renameat2 EXCHANGE with missing target: ENOENT");
	T_ERR(ren2("n3", "n2", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL,
	    "renameat2 EXCHANGE|NOREPLACE: EINVAL");
}

static void t_link(void)
{
	struct stat st, st2;

	T_OK(write_file("l1", "linked"), "link: create l1");
	T_OK(link("l1", "l2"), "link l1 l2");
	stat("l1", &st);
	stat("l2", &st2);
	T_EQ(st.st_nlink, 2, "link: nlink 2 on l1");
	T_EQ(st2.st_nlink, 2, "link: nlink 2 on l2");
	T_TRUE(st.st_ino == st2.st_ino, "link: same inode");
	T_TRUE(file_is("l2", "linked"), "link: same content");
	T_OK(link("l1", "l3"), "link l1 l3");
	stat("l2", &st2);
	T_EQ(st2.st_nlink, 3, "link: nlink 3");
	T_OK(unlink("l1"), "unlink one link");
	stat("l3", &st2);
	T_EQ(st2.st_nlink, 2, "unlink: nlink back to 2");
	T_ERR(link("l2", "l3"), EEXIST, "link onto existing: EEXIST");
	T_ERR(link("lnone", "l4"), ENOENT, "link missing: ENOENT");
	mkdir("ldir", 0755);
	T_ERR(link("ldir", "ldir2"), EPERM, "link a directory: EPERM");
}

static void t_io(void)
{
	char buf[8192];
	struct stat st;
	int fd;

	fd = T_OK(open("io", O_RDWR | O_CREAT | O_TRUNC, 0644), "io: create");
	T_EQ(write(fd, "hello world", 11), 11, "write 11 bytes");
	T_EQ(lseek(fd, 0, SEEK_CUR), 11, "write: file offset 11");
	T_EQ(pread(fd, buf, 5, 6), 5, "pread 5 at offset 6");
	T_TRUE(memcmp(buf, "world", 5) == 0, "pread: data 'world'");
	T_EQ(pwrite(fd, "WORLD", 5, 6), 5, "pwrite 5 at offset 6");
	T_EQ(lseek(fd, 0, SEEK_CUR), 11, "pwrite: offset unchanged");
	T_EQ(lseek(fd, 0, SEEK_SET), 0, "lseek SEEK_SET 0");
	memset(buf, 0, sizeof(buf));
	T_EQ(read(fd, buf, sizeof(buf)), 11, "read whole file");
	T_TRUE(memcmp(buf, "hello WORLD", 11) == 0, "read: 'hello WORLD'");
	T_EQ(read(fd, buf, sizeof(buf)), 0, "read at EOF: 0");
	T_EQ(pwrite(fd, "tail", 4, 1 << 20), 4, "pwrite at 1 MiB");
	fstat(fd, &st);
	T_EQ(st.st_size, (1 << 20) + 4, "pwrite past EOF extends file");
	T_EQ(pread(fd, buf, 4096, 65536), 4096, "pread inside the gap");
	T_TRUE(all_zero(buf, 4096), "gap reads as zeros");
	T_EQ(pread(fd, buf, 100, (1 << 20) + 2), 2, "short pread at EOF");
	T_TRUE(memcmp(buf, "il", 2) == 0, "short pread: data");
	T_EQ(pread(fd, buf, 100, 10 << 20), 0, "pread past EOF: 0");
	T_EQ(lseek(fd, -4, SEEK_END), 1 << 20, "lseek SEEK_END -4");
	/* a large write crossing many pages, unaligned */
	{
		static char big[300000], back[300000];

		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)(i * 7 + 3);
		T_EQ(pwrite(fd, big, sizeof(big), 12345), (long)sizeof(big),
		    "pwrite 300000 bytes at offset 12345");
		T_EQ(pread(fd, back, sizeof(back), 12345), (long)sizeof(back),
		    "pread them back");
		T_TRUE(memcmp(big, back, sizeof(big)) == 0,
		    "large unaligned write/read: data intact");
	}
	T_OK(fsync(fd), "fsync");
	T_OK(fdatasync(fd), "fdatasync");
	{
		int d = open(".", O_RDONLY | O_DIRECTORY);

		T_OK(fsync(d), "fsync on a directory (fsyncdir)");
		close(d);
	}
	{
		int fd2 = dup(fd);

		T_OK(close(fd2), "flush: close a dup'ed fd");
		T_EQ(pwrite(fd, "Z", 1, 0), 1, "original fd still works after flush of dup");
	}
	T_OK(close(fd), "flush: close");
	fd = open("io", O_RDONLY);
	T_TRUE(fd >= 0 && pread(fd, buf, 5, 0) == 5 && memcmp(buf, "Zello", 5) == 0,
	    "data visible after close/reopen");
	T_ERR(write(fd, "x", 1), EBADF, "write on O_RDONLY fd: EBADF");
	close(fd);
	fd = open("io", O_WRONLY);
	T_ERR(read(fd, buf, 1), EBADF, "read on O_WRONLY fd: EBADF");
	close(fd);

	/* O_APPEND */
	T_OK(write_file("ap", "abc"), "append: create");
	fd = T_OK(open("ap", O_WRONLY | O_APPEND), "open O_APPEND");
	lseek(fd, 0, SEEK_SET);
	T_EQ(write(fd, "def", 3), 3, "O_APPEND write");
	T_EQ(lseek(fd, 0, SEEK_CUR), 6, "O_APPEND: offset at new EOF");
	T_EQ(pwrite(fd, "gh", 2, 0), 2, "O_APPEND pwrite (appends on Linux)");
	close(fd);
	T_TRUE(file_is("ap", "abcdefgh"), "O_APPEND: 'abcdefgh'");

	/* O_TRUNC, unlinked-but-open file */
	fd = T_OK(open("ap", O_RDWR | O_TRUNC), "open O_TRUNC");
	fstat(fd, &st);
	T_EQ(st.st_size, 0, "O_TRUNC: size 0");
	T_OK(unlink("ap"), "unlink an open file");
	T_EQ(pwrite(fd, "still", 5, 0), 5, "write to unlinked open file");
	T_TRUE(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "still", 5) == 0,
	    "read unlinked open file");
	fstat(fd, &st);
	T_EQ(st.st_nlink, 0, "unlinked open file: nlink 0");
	close(fd);
}

static void t_create(void)
{
	struct stat st;
	int fd;

	fd = T_OK(open("cx", O_RDWR | O_CREAT | O_EXCL, 0604), "create O_EXCL new");
	close(fd);
	stat("cx", &st);
	T_EQ(st.st_mode & 0777, 0604, "create: mode 0604 (umask 0)");
	T_ERR(open("cx", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST,
	    "create O_EXCL existing: EEXIST");
	T_ERR(open("lnk", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST,
	    "create O_EXCL on dangling symlink: EEXIST");
	fd = T_OK(open("cx", O_RDWR | O_CREAT, 0644), "open O_CREAT existing (no EXCL)");
	close(fd);
	T_ERR(open("nofile", O_RDONLY), ENOENT, "open missing: ENOENT");
	T_ERR(open(".", O_WRONLY), EISDIR, "open dir O_WRONLY: EISDIR");
	T_ERR(open(".", O_RDWR), EISDIR, "open dir O_RDWR: EISDIR");
	T_ERR(open("cx", O_RDONLY | O_DIRECTORY), ENOTDIR,
	    "open file O_DIRECTORY: ENOTDIR");
	T_ERR(open("cx/x", O_RDONLY | O_CREAT, 0644), ENOTDIR,
	    "create under a file: ENOTDIR");
}

static void t_readdir(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0, seen = 0, types_ok = 1, n2 = 0;

	mkdir("rdir", 0755);
	write_file("rdir/a", "a");
	mkdir("rdir/b", 0755);
	symlink("a", "rdir/c");
	d = opendir("rdir");
	T_TRUE(d != NULL, "opendir");
	if (!d)
		return;
	while ((e = readdir(d))) {
		n++;
		if (!strcmp(e->d_name, "a")) {
			seen |= 1;
			types_ok &= e->d_type == DT_REG || e->d_type == DT_UNKNOWN;
		} else if (!strcmp(e->d_name, "b")) {
			seen |= 2;
			types_ok &= e->d_type == DT_DIR || e->d_type == DT_UNKNOWN;
		} else if (!strcmp(e->d_name, "c")) {
			seen |= 4;
			types_ok &= e->d_type == DT_LNK || e->d_type == DT_UNKNOWN;
		} else if (!strcmp(e->d_name, ".")) {
			seen |= 8;
		} else if (!strcmp(e->d_name, "..")) {
			seen |= 16;
		}
	}
	T_EQ(n, 5, "readdir: 5 entries (., .., a, b, c)");
	T_EQ(seen, 31, "readdir: every name seen once");
	T_TRUE(types_ok, "readdir: d_type matches");
	rewinddir(d);
	while (readdir(d))
		n2++;
	T_EQ(n2, 5, "rewinddir + readdir again: 5 entries");
	T_OK(closedir(d), "closedir (releasedir)");
	errno = 0;
	d = opendir("rdir/a");
	T_TRUE(!d && errno == ENOTDIR, "opendir on a file: ENOTDIR");
	errno = 0;
	d = opendir("rdir/zz");
	T_TRUE(!d && errno == ENOENT, "opendir missing: ENOENT");
	/* an entry added while the directory is open shows after rewind */
	d = opendir("rdir");
	readdir(d);
	write_file("rdir/late", "x");
	rewinddir(d);
	n2 = 0;
	while ((e = readdir(d)))
		n2 += !strcmp(e->d_name, "late");
	T_EQ(n2, 1, "readdir after rewind sees an entry created meanwhile");
	closedir(d);
}

static void t_access(void)
{
	write_file("acc", "secret");
	chmod("acc", 0600);
	T_OK(access("acc", R_OK | W_OK), "access R_OK|W_OK as owner");
	T_OK(access("acc", F_OK), "access F_OK");
	T_ERR(access("acc", X_OK), EACCES, "access X_OK on 0600 file (root): EACCES");
	T_ERR(access("accnone", F_OK), ENOENT, "access missing: ENOENT");
	T_EQ(as_user(u_access_r, "acc"), EACCES, "access R_OK as uid 1000 on 0600: EACCES");
	T_EQ(as_user(u_open_rd, "acc"), EACCES, "open as uid 1000 on 0600 root file: EACCES");
	chmod("acc", 0644);
	T_EQ(as_user(u_open_rd, "acc"), 0, "open as uid 1000 on 0644: ok");
	T_EQ(as_user(u_chmod, "acc"), EPERM, "chmod as non-owner: EPERM");
	mkdir("pub", 0777);
	T_EQ(as_user(u_create, "pub/ufile"), 0, "create as uid 1000 in 0777 dir");
	{
		struct stat st;

		stat("pub/ufile", &st);
		T_TRUE(st.st_uid == 1000 && st.st_gid == 1000,
		    "file created by uid 1000 is owned by 1000:1000 (got %u:%u)",
		    st.st_uid, st.st_gid);
	}
	mkdir("priv", 0755);
	T_EQ(as_user(u_create, "priv/ufile"), EACCES,
	    "create as uid 1000 in 0755 root dir: EACCES");
}

static void t_statfs(void)
{
	struct statfs s;
	int fd;

	T_OK(statfs(".", &s), "statfs");
	T_EQ(s.f_type, FUSE_SUPER_MAGIC, "statfs: f_type FUSE_SUPER_MAGIC");
	T_TRUE(s.f_bsize > 0 && s.f_blocks > 0, "statfs: bsize and blocks > 0");
	T_TRUE(s.f_bfree <= s.f_blocks && s.f_bavail <= s.f_blocks,
	    "statfs: free <= total");
	T_TRUE(s.f_namelen >= 255, "statfs: namelen >= 255 (got %ld)",
	    (long)s.f_namelen);
	fd = open("f", O_RDONLY);
	T_OK(fstatfs(fd, &s), "fstatfs");
	close(fd);
}

static void t_fallocate(void)
{
	struct stat st, st2;
	char buf[65536];
	int fd;

	fd = T_OK(open("fa", O_RDWR | O_CREAT | O_TRUNC, 0644), "fallocate: create");
	T_OK(fallocate(fd, 0, 0, 1 << 20), "fallocate mode 0, 1 MiB");
	fstat(fd, &st);
	T_EQ(st.st_size, 1 << 20, "fallocate 0: size 1 MiB");
	T_TRUE(st.st_blocks >= 2048, "fallocate 0: blocks allocated (%ld)",
	    (long)st.st_blocks);
	T_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20),
	    "fallocate KEEP_SIZE beyond EOF");
	fstat(fd, &st2);
	T_EQ(st2.st_size, 1 << 20, "KEEP_SIZE: size unchanged");
	T_TRUE(st2.st_blocks >= 4096, "KEEP_SIZE: blocks allocated (%ld)",
	    (long)st2.st_blocks);
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < 4; i++)
		pwrite(fd, buf, sizeof(buf), i * 65536);
	T_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 65536),
	    "fallocate PUNCH_HOLE|KEEP_SIZE");
	fstat(fd, &st);
	T_EQ(st.st_size, 1 << 20, "PUNCH_HOLE: size unchanged");
	T_TRUE(pread(fd, buf, 65536, 65536) == 65536 && all_zero(buf, 65536),
	    "PUNCH_HOLE: range reads as zeros");
	T_TRUE(pread(fd, buf, 65536, 0) == 65536 && buf[0] == 'x' &&
	    buf[65535] == 'x', "PUNCH_HOLE: data before hole intact");
	T_TRUE(pread(fd, buf, 65536, 131072) == 65536 && buf[0] == 'x',
	    "PUNCH_HOLE: data after hole intact");
	T_TRUE(st.st_blocks < st2.st_blocks, "PUNCH_HOLE: blocks freed");
	T_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP,
	    "PUNCH_HOLE without KEEP_SIZE: EOPNOTSUPP");
	T_ERR(fallocate(fd, 0, 0, 0), EINVAL, "fallocate len 0: EINVAL");
	close(fd);
	fd = open(".", O_RDONLY | O_DIRECTORY);
	T_ERR(fallocate(fd, 0, 0, 4096), EBADF, "fallocate on a directory fd: EBADF");
	close(fd);
}

static void t_seek(void)
{
	char buf[65536];
	int fd;

	memset(buf, 'd', sizeof(buf));
	fd = T_OK(open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0644), "sparse: create");
	pwrite(fd, buf, sizeof(buf), 0);
	pwrite(fd, buf, sizeof(buf), 1 << 20);
	T_OK(ftruncate(fd, 4 << 20), "sparse: extend to 4 MiB");
	fsync(fd);
	T_EQ(lseek(fd, 0, SEEK_DATA), 0, "SEEK_DATA from 0: 0");
	T_EQ(lseek(fd, 0, SEEK_HOLE), 65536, "SEEK_HOLE from 0: 64 KiB");
	T_EQ(lseek(fd, 65536, SEEK_DATA), 1 << 20, "SEEK_DATA from 64 KiB: 1 MiB");
	T_EQ(lseek(fd, 1 << 20, SEEK_HOLE), (1 << 20) + 65536,
	    "SEEK_HOLE from 1 MiB: 1 MiB + 64 KiB");
	T_ERR(lseek(fd, (1 << 20) + 65536, SEEK_DATA), ENXIO,
	    "SEEK_DATA in trailing hole: ENXIO");
	T_EQ(lseek(fd, 3 << 20, SEEK_HOLE), 3 << 20, "SEEK_HOLE inside hole: same offset");
	T_ERR(lseek(fd, 5 << 20, SEEK_HOLE), ENXIO, "SEEK_HOLE past EOF: ENXIO");
	T_ERR(lseek(fd, -1, SEEK_SET), EINVAL, "lseek negative: EINVAL");
	close(fd);
}

static void t_names(void)
{
	char name[1200];
	struct stat st;

	memset(name, 'n', 255);
	name[255] = 0;
	T_OK(write_file(name, "x"), "create 255-char name");
	T_OK(stat(name, &st), "stat 255-char name");
	T_OK(unlink(name), "unlink 255-char name");
	memset(name, 'n', 256);
	name[256] = 0;
	T_ERR(open(name, O_RDWR | O_CREAT, 0644), ENAMETOOLONG,
	    "create 256-char name: ENAMETOOLONG");
	T_ERR(stat(name, &st), ENAMETOOLONG, "stat 256-char name: ENAMETOOLONG");
	T_ERR(mkdir(name, 0755), ENAMETOOLONG, "mkdir 256-char name: ENAMETOOLONG");
	memset(name, 'n', 1100);
	name[1100] = 0;
	T_ERR(stat(name, &st), ENAMETOOLONG, "stat 1100-char name: ENAMETOOLONG");
	T_ERR(symlink("x", name), ENAMETOOLONG, "symlink 1100-char name: ENAMETOOLONG");
}

int main(int argc, char **argv)
{
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n')
			tnum = atoi(optarg) - 1;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: fsops [-n FIRST] DIR\n");
		return 2;
	}
	umask(0);
	if (mkdir(argv[optind], 0755) < 0 || chdir(argv[optind]) < 0) {
		perror(argv[optind]);
		return 2;
	}
	t_lookup_getattr();
	t_setattr();
	t_symlink();
	t_mknod();
	t_dirs();
	t_rename();
	t_link();
	t_io();
	t_create();
	t_readdir();
	t_access();
	t_statfs();
	t_fallocate();
	t_seek();
	t_names();
	printf("# fsops: %d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
