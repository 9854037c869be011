// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsops_ext: in-guest checks of the FUSE operations of issue 3 (xattrs,
 * POSIX ACLs, fcntl record locks and flock between two guest processes,
 * copy_file_range, O_TMPFILE, syncfs, fallocate modes, ioctl). Static,
 * busybox-only userland, run as root inside the test guest; prints TAP
 * lines "ok N - desc" / "not ok N - desc # why" and "# fsops_ext: P
 * passed, F failed, S skipped". A check the guest kernel or the host file
 * system cannot do (EOPNOTSUPP from a 6.1 guest for O_TMPFILE, say) is
 * "ok N - desc # SKIP why", so the same binary runs against any daemon.
 *
 * usage: fsops_ext DIR   (DIR must not exist; it is created)
 * Exit status: 0 if nothing failed, 1 otherwise, 2 on a setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif

static int tnum, npass, nfail, nskip;

__attribute__((format(printf, 3, 4))) static int
check(int pass, const char *why, const char *fmt, ...)
{
	va_list ap;

	tnum++;
	pass ? npass++ : nfail++;
	printf("%sok %d - ", pass ? "" : "not ", tnum);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!pass && why != NULL)
		printf(" # %s", why);
	printf("\n");
	fflush(stdout);
	return pass;
}

__attribute__((format(printf, 2, 3))) static void
skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	tnum++;
	nskip++;
	printf("ok %d - ", tnum);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
}

static char whybuf[256];

static const char *
errwhy(long r, int err)
{
	snprintf(whybuf, sizeof(whybuf), "returned %ld errno %d (%s)", r, err,
	    strerror(err));
	return whybuf;
}

#define T_OK(expr, ...)                                                        \
	({                                                                     \
		errno = 0;                                                     \
		long r_ = (long)(expr);                                        \
		int e_ = errno;                                                \
		check(r_ >= 0, errwhy(r_, e_), __VA_ARGS__);                   \
		r_;                                                            \
	})
#define T_ERR(expr, E, ...)                                                    \
	({                                                                     \
		errno = 0;                                                     \
		long r_ = (long)(expr);                                        \
		int e_ = errno;                                                \
		check(r_ == -1 && e_ == (E), errwhy(r_, e_), __VA_ARGS__);     \
	})
#define T_TRUE(c, ...) check(!!(c), NULL, __VA_ARGS__)

static void
msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int
put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return -1;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* ---- xattrs ---------------------------------------------------------- */

static void
xattrs(void)
{
	static char big[65537], bigr[60000];
	char buf[256];
	ssize_t n;

	put("x", "x");
	T_OK(setxattr("x", "user.a", "value", 5, 0), "setxattr user.a");
	n = getxattr("x", "user.a", NULL, 0);
	T_TRUE(n == 5, "getxattr size query: 5 (got %zd)", n);
	n = getxattr("x", "user.a", buf, sizeof(buf));
	T_TRUE(n == 5 && memcmp(buf, "value", 5) == 0, "getxattr value");
	T_ERR(getxattr("x", "user.a", buf, 2), ERANGE,
	    "getxattr small buffer: ERANGE");
	T_ERR(getxattr("x", "user.none", buf, sizeof(buf)), ENODATA,
	    "getxattr missing: ENODATA");
	T_ERR(setxattr("x", "user.a", "v", 1, XATTR_CREATE), EEXIST,
	    "XATTR_CREATE existing: EEXIST");
	T_ERR(setxattr("x", "user.b", "v", 1, XATTR_REPLACE), ENODATA,
	    "XATTR_REPLACE missing: ENODATA");
	T_OK(setxattr("x", "user.b", "bee", 3, XATTR_CREATE),
	    "XATTR_CREATE new");
	n = listxattr("x", buf, sizeof(buf));
	T_TRUE(n > 0 && memmem(buf, (size_t)n, "user.a", 7) != NULL &&
		   memmem(buf, (size_t)n, "user.b", 7) != NULL,
	    "listxattr has user.a and user.b");
	T_ERR(listxattr("x", buf, 3), ERANGE, "listxattr small buffer: ERANGE");
	T_OK(removexattr("x", "user.b"), "removexattr");
	T_ERR(removexattr("x", "user.b"), ENODATA, "removexattr again: ENODATA");
	memset(big, 'q', sizeof(big));
	big[0] = 'S';
	big[59999] = 'E';
	errno = 0;
	if (setxattr("x", "user.big", big, 60000, 0) < 0 &&
	    (errno == ENOSPC || errno == E2BIG)) {
		skip(strerror(errno), "60000-byte xattr value (host fs limit)");
	} else {
		n = getxattr("x", "user.big", bigr, sizeof(bigr));
		T_TRUE(n == 60000 &&
			   memcmp(big, bigr, 60000) == 0,
		    "60000-byte xattr value round trip (beyond the journal "
		    "copy)");
	}
	T_ERR(setxattr("x", "user.huge", big, 65537, 0), E2BIG,
	    "value above 64 KiB: E2BIG");
	/* Special files: reached without opening them on the host. */
	if (symlink("x", "sl") == 0) {
		T_ERR(lsetxattr("sl", "user.s", "s", 1, 0), EPERM,
		    "user.* on a symlink: EPERM (kernel rule)");
		T_TRUE(llistxattr("sl", buf, sizeof(buf)) >= 0,
		    "llistxattr on a symlink");
		T_ERR(lgetxattr("sl", "security.none", buf, sizeof(buf)),
		    ENODATA, "lgetxattr on a symlink: ENODATA");
		errno = 0;
		if (lsetxattr("sl", "trusted.s", "s", 1, 0) < 0 &&
		    errno == EPERM) {
			skip("daemon without CAP_SYS_ADMIN",
			    "trusted.* on a symlink");
		} else {
			check(1, NULL, "trusted.* on a symlink");
			T_TRUE(lgetxattr("sl", "trusted.s", buf, sizeof(buf)) ==
				       1 &&
				   getxattr("x", "trusted.s", buf,
				       sizeof(buf)) < 0,
			    "the symlink's xattr is its own, not its "
			    "target's");
		}
	}
	if (mkfifo("fifo", 0644) == 0) {
		T_ERR(getxattr("fifo", "security.none", buf, sizeof(buf)),
		    ENODATA, "getxattr on a FIFO: ENODATA (not opened)");
		T_TRUE(listxattr("fifo", buf, sizeof(buf)) >= 0,
		    "listxattr on a FIFO");
	}
}

/* ---- POSIX ACLs ------------------------------------------------------ */

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static void
acls(void)
{
	struct {
		uint32_t version;
		struct acl_ent e[5];
	} acl = {2,
	    {{0x01, 6, ~0u}, {0x02, 4, 1000}, {0x04, 4, ~0u}, {0x10, 4, ~0u},
		{0x20, 0, ~0u}}};
	struct stat st;
	pid_t pid;
	int status = -1;
	char buf[128];

	put("acl", "secret");
	chmod("acl", 0600);
	errno = 0;
	if (setxattr("acl", "system.posix_acl_access", &acl, sizeof(acl), 0) <
	    0) {
		if (errno == EOPNOTSUPP)
			skip("no POSIX ACLs", "ACL checks");
		else
			check(0, errwhy(-1, errno), "set an access ACL");
		return;
	}
	check(1, NULL, "set an access ACL (user 1000: r)");
	T_TRUE(getxattr("acl", "system.posix_acl_access", buf, sizeof(buf)) ==
		   (ssize_t)sizeof(acl),
	    "get it back");
	memset(&st, 0, sizeof(st));
	stat("acl", &st);
	T_TRUE((st.st_mode & 0777) == 0640,
	    "mode's group bits follow the ACL mask (0%o)", st.st_mode & 0777);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(2000) < 0 ||
		    setuid(1000) < 0)
			_exit(3);
		_exit(open("acl", O_RDONLY) >= 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "uid 1000 reads through the ACL entry (ACL-aware permission)");
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(2000) < 0 ||
		    setuid(1001) < 0)
			_exit(3);
		_exit(open("acl", O_RDONLY) < 0 && errno == EACCES ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "uid 1001 (no entry): EACCES");
	/* Under a default ACL the umask does not apply (POSIX). */
	{
		struct {
			uint32_t version;
			struct acl_ent e[3];
		} dacl = {2, {{0x01, 7, ~0u}, {0x04, 5, ~0u}, {0x20, 5, ~0u}}};
		mode_t old;

		mkdir("dacl", 0755);
		T_OK(setxattr("dacl", "system.posix_acl_default", &dacl,
			 sizeof(dacl), 0),
		    "set a default ACL");
		old = umask(077);
		mkdir("dacl/sub", 0777);
		mkdir("noacl", 0777);
		umask(old);
		memset(&st, 0, sizeof(st));
		stat("dacl/sub", &st);
		T_TRUE((st.st_mode & 0777) == 0755,
		    "mkdir under a default ACL ignores the umask (0%o)",
		    st.st_mode & 0777);
		memset(&st, 0, sizeof(st));
		stat("noacl", &st);
		T_TRUE((st.st_mode & 0777) == 0700,
		    "mkdir without one applies it (0%o)", st.st_mode & 0777);
	}
	/* Setgid cleared when a non-member owner sets an access ACL. */
	put("sgid", "s");
	chown("sgid", 1000, 1234);
	chmod("sgid", 02770);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(2000) < 0 ||
		    setuid(1000) < 0)
			_exit(3);
		_exit(setxattr("sgid", "system.posix_acl_access", &acl,
			  sizeof(acl), 0) == 0
			  ? 0
			  : 1);
	}
	waitpid(pid, &status, 0);
	memset(&st, 0, sizeof(st));
	stat("sgid", &st);
	T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		   !(st.st_mode & S_ISGID),
	    "S_ISGID cleared by a non-member's ACL change (mode 0%o)",
	    st.st_mode & 07777);
}

/* ---- fcntl locks and flock between two processes ---------------------- */

static int
lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type,
	    .l_whence = SEEK_SET,
	    .l_start = start,
	    .l_len = len};

	return fcntl(fd, cmd, &fl);
}

static void
locks(void)
{
	struct flock fl;
	pid_t parent = getpid(), pid;
	int fd, fd2, status = -1, p[2];
	struct stat st;
	char c;

	put("lk", "0123456789abcdef");
	fd = open("lk", O_RDWR);
	T_OK(lock(fd, F_SETLK, F_WRLCK, 0, 10), "parent: F_SETLK write [0,10)");
	pid = fork();
	if (pid == 0) {
		int cfd = open("lk", O_RDWR), r = 0;

		if (lock(cfd, F_SETLK, F_WRLCK, 5, 2) == 0 ||
		    (errno != EAGAIN && errno != EACCES))
			r |= 1;
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_start = 0;
		fl.l_len = 1;
		if (fcntl(cfd, F_GETLK, &fl) < 0 || fl.l_type != F_WRLCK ||
		    fl.l_start != 0 || fl.l_len != 10)
			r |= 2;
		if (fl.l_pid != parent)
			r |= 4;
		if (lock(cfd, F_SETLK, F_RDLCK, 10, 5) < 0)
			r |= 8;
		_exit(r);
	}
	waitpid(pid, &status, 0);
	T_TRUE(WIFEXITED(status) && !(WEXITSTATUS(status) & 1),
	    "child: conflicting F_SETLK fails (EAGAIN)");
	T_TRUE(WIFEXITED(status) && !(WEXITSTATUS(status) & 2),
	    "child: F_GETLK reports the parent's range");
	T_TRUE(WIFEXITED(status) && !(WEXITSTATUS(status) & 4),
	    "child: F_GETLK reports the parent's pid");
	T_TRUE(WIFEXITED(status) && !(WEXITSTATUS(status) & 8),
	    "child: non-overlapping lock granted");

	/* F_SETLKW waits; the share keeps serving meanwhile. */
	if (pipe(p) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		int cfd = open("lk", O_RDWR);

		close(p[0]);
		if (write(p[1], "s", 1) != 1)
			_exit(5);
		if (lock(cfd, F_SETLKW, F_WRLCK, 0, 10) < 0)
			_exit(errno == EOPNOTSUPP ? 4 : 1);
		if (write(p[1], "g", 1) != 1)
			_exit(5);
		_exit(0);
	}
	close(p[1]);
	(void)!read(p[0], &c, 1);
	msleep(500);
	T_TRUE(waitpid(pid, &status, WNOHANG) == 0,
	    "child's F_SETLKW waits for the parent's lock");
	put("other", "served while a SETLKW waits");
	T_TRUE(stat("other", &st) == 0 && st.st_size == 27,
	    "other requests go on while it waits");
	T_OK(lock(fd, F_SETLK, F_UNLCK, 0, 0), "parent unlocks");
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
		skip("EOPNOTSUPP (daemon has no blocking locks)",
		    "child's F_SETLKW granted after the unlock");
	else
		T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child's F_SETLKW granted after the unlock (status %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(p[0]);

	/* POSIX: closing any fd of the file drops the process's locks. */
	T_OK(lock(fd, F_SETLK, F_WRLCK, 0, 0), "parent locks the whole file");
	fd2 = open("lk", O_RDONLY);
	close(fd2);
	pid = fork();
	if (pid == 0) {
		int cfd = open("lk", O_RDWR);

		_exit(lock(cfd, F_SETLK, F_WRLCK, 0, 0) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "closing another fd of the file released the parent's lock");
	close(fd);

	/* flock: per open file. */
	fd = open("lk", O_RDWR);
	T_OK(flock(fd, LOCK_EX), "flock LOCK_EX");
	pid = fork();
	if (pid == 0) {
		int cfd = open("lk", O_RDWR);

		_exit(flock(cfd, LOCK_EX | LOCK_NB) < 0 &&
			      errno == EWOULDBLOCK
			  ? 0
			  : 1);
	}
	waitpid(pid, &status, 0);
	T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "another open file: LOCK_NB fails (EWOULDBLOCK)");
	close(fd);
	pid = fork();
	if (pid == 0) {
		int cfd = open("lk", O_RDWR);

		_exit(flock(cfd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "after close (RELEASE): the flock is free");
}

/* ---- the rest -------------------------------------------------------- */

static void
rest(void)
{
	char buf[64];
	loff_t oi = 2, oo = 0;
	struct stat st;
	ssize_t n;
	int a, b, fd, e;
	unsigned flags;

	put("cfa", "0123456789");
	a = open("cfa", O_RDONLY);
	b = open("cfb", O_RDWR | O_CREAT | O_TRUNC, 0644);
	n = copy_file_range(a, &oi, b, &oo, 5, 0);
	T_TRUE(n == 5 && pread(b, buf, sizeof(buf), 0) == 5 &&
		   memcmp(buf, "23456", 5) == 0,
	    "copy_file_range (%zd)", n);
	close(a);
	T_OK(syncfs(b), "syncfs");
	errno = 0;
	if (fallocate(b, FALLOC_FL_ZERO_RANGE, 0, 8192) < 0 &&
	    errno == EOPNOTSUPP)
		skip("host fs", "fallocate ZERO_RANGE");
	else
		T_TRUE(fstat(b, &st) == 0 && st.st_size == 8192,
		    "fallocate ZERO_RANGE grows the file");
	errno = 0;
	n = ioctl(b, FS_IOC_GETFLAGS, &flags);
	e = errno;
	T_TRUE(n < 0 && (e == ENOTTY || e == ENOSYS || e == EINVAL),
	    "ioctl FS_IOC_GETFLAGS refused (%s)", n < 0 ? strerror(e) : "ok");
	T_TRUE(lseek(b, 0, SEEK_HOLE) >= 0, "lseek SEEK_HOLE");
	close(b);
	errno = 0;
	fd = open(".", O_TMPFILE | O_RDWR, 0600);
	if (fd < 0 && errno == EOPNOTSUPP) {
		skip("EOPNOTSUPP: no FUSE_TMPFILE in the guest or the daemon",
		    "O_TMPFILE");
	} else if (check(fd >= 0, errwhy(fd, errno), "O_TMPFILE")) {
		char p[64];

		T_TRUE(write(fd, "t", 1) == 1 && fstat(fd, &st) == 0 &&
			   st.st_nlink == 0,
		    "tmpfile written, no name");
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		T_OK(linkat(AT_FDCWD, p, AT_FDCWD, "tmpnamed",
			 AT_SYMLINK_FOLLOW),
		    "linkat gives it a name");
		close(fd);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 2 || mkdir(argv[1], 0755) < 0 || chdir(argv[1]) < 0) {
		fprintf(stderr, "usage: fsops_ext NEWDIR\n");
		return 2;
	}
	xattrs();
	acls();
	locks();
	rest();
	printf("# fsops_ext: %d passed, %d failed, %d skipped\n", npass,
	    nfail, nskip);
	return nfail ? 1 : 0;
}
