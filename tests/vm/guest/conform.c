// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * conform: POSIX/Linux conformance checks of one directory tree, meant to be
 * run three times (on a local host directory as the reference, in a guest
 * through QEMU's C virtiofsd, in a guest through phoenixfsd) and compared
 * line by line by tests/vm/conform.sh. Static; run as root. Non-root cases
 * fork and drop to uid 1000 (groups 1000, 2000) or uid 1001 (group 1001):
 * numeric ids, no passwd entries needed.
 *
 * Output: one line per check, "CHECK <id> <result>", where result is "ok"
 * (the syscall behaved as a local Linux file system does) or the errno name
 * / a short mismatch description without spaces. Ids are unique and stable
 * so that runs can be joined on them. Then "# conform: P ok, F other".
 *
 * usage: conform DIR OTHERDIR
 *   DIR       must not exist; created (on the file system under test)
 *   OTHERDIR  must not exist; created on a DIFFERENT mount (EXDEV checks)
 * Exit status: 0 when it ran to the end (whatever the results), 2 on a
 * setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

static int nok, nother;
static const char *OTHER;

static void emit(const char *id, const char *res)
{
	if (strcmp(res, "ok") == 0)
		nok++;
	else
		nother++;
	printf("CHECK %s %s\n", id, res);
	fflush(stdout);
}

static const char *en(int e)
{
	const char *s = strerrorname_np(e);
	static char b[32];

	if (s)
		return s;
	snprintf(b, sizeof(b), "errno%d", e);
	return b;
}

/* Expect success. */
#define OK(id, expr) ({							\
	errno = 0;							\
	long r_ = (long)(expr);						\
	int e_ = errno;							\
	emit(id, r_ >= 0 ? "ok" : en(e_));				\
	r_;								\
})

/* Expect failure with errno E. */
#define ERR(id, expr, E) ({						\
	errno = 0;							\
	long r_ = (long)(expr);						\
	int e_ = errno;							\
	char b_[64];							\
	if (r_ == -1 && e_ == (E))					\
		emit(id, "ok");						\
	else if (r_ == -1)						\
		emit(id, en(e_));					\
	else {								\
		snprintf(b_, sizeof(b_), "succeeded(want_%s)", en(E));	\
		emit(id, b_);						\
	}								\
	r_;								\
})

#define EQ(id, got, want) do {						\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	char b_[80];							\
	if (g_ == w_)							\
		emit(id, "ok");						\
	else {								\
		snprintf(b_, sizeof(b_), "got_%lld_want_%lld", g_, w_);	\
		emit(id, b_);						\
	}								\
} while (0)

#define EQO(id, got, want) do {						\
	unsigned g_ = (unsigned)(got), w_ = (unsigned)(want);		\
	char b_[80];							\
	if (g_ == w_)							\
		emit(id, "ok");						\
	else {								\
		snprintf(b_, sizeof(b_), "got_0%o_want_0%o", g_, w_);	\
		emit(id, b_);						\
	}								\
} while (0)

#define TRUE(id, cond, why) emit(id, (cond) ? "ok" : (why))

/*
 * AS(uid, body...): run body in a child as uid 1000 (gid 1000, groups
 * 1000 and 2000) or 1001 (gid 1001, group 1001). The child's CHECK lines
 * go to the same stdout.
 */
static void become(uid_t u)
{
	gid_t g1000[2] = {1000, 2000}, g1001[1] = {1001};
	gid_t g = u == 1000 ? 1000 : 1001;

	if (setgroups(u == 1000 ? 2 : 1, u == 1000 ? g1000 : g1001) < 0 ||
	    setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0) {
		printf("CHECK setuid-%u %s\n", (unsigned)u, en(errno));
		fflush(stdout);
		_exit(3);
	}
}

#define AS(uid, ...) do {						\
	fflush(stdout);							\
	pid_t p_ = fork();						\
	if (p_ == 0) {							\
		become(uid);						\
		__VA_ARGS__;						\
		fflush(stdout);						\
		_exit(nother ? 1 : 0);					\
	}								\
	int st_;							\
	if (p_ > 0)							\
		waitpid(p_, &st_, 0);					\
} while (0)

/* Children's counts are not seen by the parent; conform.sh counts lines. */

static int mkfile(const char *p, mode_t mode, const char *s)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	if (s)
		n = write(fd, s, strlen(s));
	if (fchmod(fd, mode) < 0 || close(fd) < 0 ||
	    (s && n != (ssize_t)strlen(s)))
		return -1;
	return 0;
}

static struct stat S(const char *p)
{
	struct stat st;

	if (stat(p, &st) < 0)
		memset(&st, 0, sizeof(st));
	return st;
}

static struct stat LS(const char *p)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		memset(&st, 0, sizeof(st));
	return st;
}

static int tsgt(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec ||
	    (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int tseq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void msleep(int ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

/* Set atime and mtime to 2001-09-09 (1e9 s). */
static int oldtimes(const char *p)
{
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};

	return utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
}

static int is_new(struct timespec t)
{
	return t.tv_sec > 1000000000 + 86400;
}

static int open_close(const char *p, int flags, mode_t mode)
{
	int fd = open(p, flags, mode);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int append(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_APPEND);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int ren2(const char *a, const char *b, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

static int file_is(const char *p, const char *s)
{
	char buf[8192];
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

/* ---- permissions as non-root users -------------------------------------- */

static void t_perm(void)
{
	struct timespec ts[2] = {{1200000000, 0}, {1200000000, 0}};

	mkdir("perm", 0755);
	chdir("perm");
	mkdir("ro", 0755);
	mkfile("ro/f", 0644, "x");
	chmod("ro", 0555);
	mkdir("nox", 0755);
	mkfile("nox/f", 0644, "x");
	chmod("nox", 0666);
	mkdir("pub", 0777);
	chmod("pub", 0777);
	mkfile("root600", 0600, "secret");
	mkfile("root644", 0644, "r");
	mkfile("root666", 0666, "w");
	mkfile("u1000_600", 0600, "u");
	chown("u1000_600", 1000, 1000);
	mkfile("mine", 0644, "m");
	chown("mine", 1000, 1000);
	mkfile("mine_g1001", 0644, "m");
	chown("mine_g1001", 1000, 1001);
	mkfile("g2000_640", 0640, "g");
	chown("g2000_640", 0, 2000);

	AS(1000,
	    ERR("perm.create_in_ro_dir",
		open_close("ro/new", O_WRONLY | O_CREAT, 0644), EACCES);
	    ERR("perm.mkdir_in_ro_dir", mkdir("ro/newd", 0755), EACCES);
	    ERR("perm.unlink_in_ro_dir", unlink("ro/f"), EACCES);
	    ERR("perm.symlink_in_ro_dir", symlink("x", "ro/l"), EACCES);
	    ERR("perm.rename_out_of_ro_dir", rename("ro/f", "pub/f"), EACCES);
	    ERR("perm.open_through_nox_dir", open_close("nox/f", O_RDONLY, 0),
		EACCES);
	    struct stat st;
	    ERR("perm.stat_through_nox_dir", stat("nox/f", &st), EACCES);
	    OK("perm.opendir_nox_dir",
		open_close("nox", O_RDONLY | O_DIRECTORY, 0));
	    ERR("perm.read_root600", open_close("root600", O_RDONLY, 0),
		EACCES);
	    ERR("perm.write_root644", open_close("root644", O_WRONLY, 0),
		EACCES);
	    OK("perm.read_root644", open_close("root644", O_RDONLY, 0));
	    ERR("perm.access_x_root644", access("root644", X_OK), EACCES);
	    ERR("perm.access_w_root644", access("root644", W_OK), EACCES);
	    OK("perm.access_r_root644", access("root644", R_OK));
	    ERR("perm.truncate_root644", truncate("root644", 0), EACCES);
	    ERR("perm.chmod_other", chmod("root644", 0666), EPERM);
	    ERR("perm.chown_other", chown("root644", 1000, -1), EPERM);
	    ERR("perm.chown_own_to_other_uid", chown("mine", 1001, -1), EPERM);
	    ERR("perm.chgrp_own_to_nonmember", chown("mine", -1, 1001), EPERM);
	    OK("perm.chgrp_own_to_member", chown("mine", -1, 2000));
	    EQ("perm.chgrp_own_to_member_gid", S("mine").st_gid, 2000);
	    OK("perm.chmod_own", chmod("mine", 0640));
	    EQO("perm.chmod_own_mode", S("mine").st_mode & 07777, 0640);
	    OK("perm.chmod_own_sgid_nonmember", chmod("mine_g1001", 02755));
	    EQO("perm.chmod_own_sgid_nonmember_cleared",
		S("mine_g1001").st_mode & 07777, 0755);
	    ERR("perm.utimes_other_explicit",
		utimensat(AT_FDCWD, "root666", ts, 0), EPERM);
	    OK("perm.utimes_other_now_writable",
		utimensat(AT_FDCWD, "root666", NULL, 0));
	    ERR("perm.utimes_other_now_readonly",
		utimensat(AT_FDCWD, "root644", NULL, 0), EACCES);
	    OK("perm.utimes_own_explicit", utimensat(AT_FDCWD, "mine", ts, 0));
	    EQ("perm.utimes_own_explicit_mtime", S("mine").st_mtime,
		1200000000);
	    OK("perm.read_group_member", open_close("g2000_640", O_RDONLY, 0));
	    OK("perm.create_in_pub",
		open_close("pub/c1000", O_WRONLY | O_CREAT | O_EXCL, 0644));
	    EQ("perm.create_owner_uid", S("pub/c1000").st_uid, 1000);
	    EQ("perm.create_owner_gid", S("pub/c1000").st_gid, 1000);
	    OK("perm.mkdir_in_pub", mkdir("pub/d1000", 0755));
	    EQ("perm.mkdir_owner_uid", S("pub/d1000").st_uid, 1000);
	    OK("perm.symlink_in_pub", symlink("target", "pub/l1000"));
	    EQ("perm.symlink_owner_uid", LS("pub/l1000").st_uid, 1000);
	    OK("perm.mkfifo_in_pub", mkfifo("pub/p1000", 0644));
	    EQ("perm.mkfifo_owner_uid", LS("pub/p1000").st_uid, 1000);
	    ERR("perm.mknod_chr_nonroot", mknod("pub/c", S_IFCHR | 0644,
		makedev(1, 3)), EPERM);
	);
	AS(1001,
	    ERR("perm.read_group_nonmember",
		open_close("g2000_640", O_RDONLY, 0), EACCES);
	    ERR("perm.read_other_600", open_close("u1000_600", O_RDONLY, 0),
		EACCES);
	    OK("perm.unlink_other_in_pub", unlink("pub/c1000"));
	);
	/* root: CAP_DAC_OVERRIDE reads another user's 0600 file */
	OK("perm.root_read_other_600", open_close("u1000_600", O_RDWR, 0));
	ERR("perm.root_access_x_noexec", access("root644", X_OK), EACCES);
	OK("perm.root_create_in_ro_dir",
	    open_close("ro/rootnew", O_WRONLY | O_CREAT, 0644));
	chdir("..");
}

/* ---- sticky directories ------------------------------------------------- */

static void t_sticky(void)
{
	mkdir("sticky", 0777);
	chmod("sticky", 01777);
	mkdir("sticky1001", 0777);
	chmod("sticky1001", 01777);
	chown("sticky1001", 1001, 1001);
	EQO("sticky.mode", S("sticky").st_mode & 07777, 01777);
	AS(1000,
	    OK("sticky.create_1000", mkfile("sticky/a", 0666, "a"));
	    OK("sticky.create_1000_b", mkfile("sticky/b", 0666, "b"));
	    OK("sticky.mkdir_1000", mkdir("sticky/d", 0777));
	    OK("sticky.create_1000_in_1001_dir",
		mkfile("sticky1001/a", 0666, "a"));
	);
	AS(1001,
	    ERR("sticky.unlink_other", unlink("sticky/a"), EPERM);
	    ERR("sticky.rename_other", rename("sticky/a", "sticky/z"), EPERM);
	    ERR("sticky.rmdir_other", rmdir("sticky/d"), EPERM);
	    ERR("sticky.rename_over_other",
		(mkfile("sticky/mine1001", 0644, "x"),
		 rename("sticky/mine1001", "sticky/b")), EPERM);
	    OK("sticky.write_other_writable", append("sticky/a", "more"));
	    OK("sticky.unlink_own", unlink("sticky/mine1001"));
	    OK("sticky.dir_owner_unlinks_other",
		unlink("sticky1001/a"));
	);
	AS(1000,
	    OK("sticky.unlink_own_1000", unlink("sticky/a"));
	);
	OK("sticky.root_unlink_other", unlink("sticky/b"));
	OK("sticky.root_rmdir_other", rmdir("sticky/d"));
}

/* ---- setgid directories ------------------------------------------------- */

static void t_setgid(void)
{
	mkdir("sgid", 0777);
	chown("sgid", 0, 2000);
	chmod("sgid", 02777);
	mkdir("nosgid", 0777);
	chown("nosgid", 0, 2000);
	EQO("setgid.dir_mode", S("sgid").st_mode & 07777, 02777);
	OK("setgid.root_create", mkfile("sgid/f", 0644, "f"));
	EQ("setgid.root_create_gid", S("sgid/f").st_gid, 2000);
	OK("setgid.root_mkdir", mkdir("sgid/sub", 0755));
	EQ("setgid.root_mkdir_gid", S("sgid/sub").st_gid, 2000);
	TRUE("setgid.root_mkdir_inherits_bit",
	    S("sgid/sub").st_mode & S_ISGID, "no_S_ISGID");
	OK("setgid.nested_mkdir", mkdir("sgid/sub/sub2", 0755));
	EQ("setgid.nested_mkdir_gid", S("sgid/sub/sub2").st_gid, 2000);
	TRUE("setgid.nested_mkdir_inherits_bit",
	    S("sgid/sub/sub2").st_mode & S_ISGID, "no_S_ISGID");
	OK("setgid.nested_create", mkfile("sgid/sub/sub2/f", 0644, "f"));
	EQ("setgid.nested_create_gid", S("sgid/sub/sub2/f").st_gid, 2000);
	OK("setgid.root_mknod_fifo", mkfifo("sgid/fifo", 0644));
	EQ("setgid.root_mknod_fifo_gid", LS("sgid/fifo").st_gid, 2000);
	OK("setgid.root_symlink", symlink("f", "sgid/lnk"));
	EQ("setgid.root_symlink_gid", LS("sgid/lnk").st_gid, 2000);
	OK("setgid.nosgid_create", mkfile("nosgid/f", 0644, "f"));
	EQ("setgid.nosgid_create_gid", S("nosgid/f").st_gid, 0);
	AS(1001,
	    OK("setgid.nonmember_create",
		open_close("sgid/u1001", O_WRONLY | O_CREAT, 0644));
	    EQ("setgid.nonmember_create_gid", S("sgid/u1001").st_gid, 2000);
	    EQ("setgid.nonmember_create_uid", S("sgid/u1001").st_uid, 1001);
	    OK("setgid.nonmember_create_sgid_file",
		open_close("sgid/u1001s", O_WRONLY | O_CREAT, 02755));
	    EQO("setgid.nonmember_create_sgid_file_stripped",
		S("sgid/u1001s").st_mode & 07777, 0755);
	    OK("setgid.nonmember_mkdir", mkdir("sgid/d1001", 0755));
	    TRUE("setgid.nonmember_mkdir_inherits_bit",
		S("sgid/d1001").st_mode & S_ISGID, "no_S_ISGID");
	    EQ("setgid.nonmember_mkdir_gid", S("sgid/d1001").st_gid, 2000);
	);
	AS(1000,
	    OK("setgid.member_create_sgid_file",
		open_close("sgid/u1000s", O_WRONLY | O_CREAT, 02755));
	    EQO("setgid.member_create_sgid_file_kept",
		S("sgid/u1000s").st_mode & 07777, 02755);
	);
}

/* ---- suid/sgid cleared on write and chown ------------------------------- */

static void t_suid(void)
{
	mkdir("suid", 0777);
	const char *names[] = {"w1001", "w1000", "wroot", "sgnox", "tr1001",
	    "otr1001", "chg1000", "chroot", "wr1001u"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[64];

		snprintf(p, sizeof(p), "suid/%s", names[i]);
		mkfile(p, 0644, "data");
		chown(p, 1000, 1000);
		chmod(p, strcmp(names[i], "sgnox") ? 06777 : 02666);
	}
	chmod("suid/wr1001u", 04777);
	EQO("suid.setup_mode", S("suid/w1001").st_mode & 07777, 06777);
	AS(1001,
	    OK("suid.write_nonowner", append("suid/w1001", "x"));
	    EQO("suid.write_nonowner_cleared",
		S("suid/w1001").st_mode & 07777, 0777);
	    OK("suid.write_nonowner_sgid_no_gx", append("suid/sgnox", "x"));
	    /* Linux >= 6.2 drops S_ISGID without S_IXGRP for a non-member
	     * writer too (setattr_should_drop_sgid); 6.1 kept it. */
	    EQO("suid.write_nonmember_sgid_no_gx_mode",
		S("suid/sgnox").st_mode & 07777, 0666);
	    OK("suid.write_nonowner_suid_only", append("suid/wr1001u", "x"));
	    EQO("suid.write_nonowner_suid_only_cleared",
		S("suid/wr1001u").st_mode & 07777, 0777);
	    OK("suid.truncate_nonowner", truncate("suid/tr1001", 1));
	    EQO("suid.truncate_nonowner_cleared",
		S("suid/tr1001").st_mode & 07777, 0777);
	    OK("suid.otrunc_nonowner",
		open_close("suid/otr1001", O_WRONLY | O_TRUNC, 0));
	    EQO("suid.otrunc_nonowner_cleared",
		S("suid/otr1001").st_mode & 07777, 0777);
	);
	AS(1000,
	    OK("suid.write_owner", append("suid/w1000", "x"));
	    EQO("suid.write_owner_cleared",
		S("suid/w1000").st_mode & 07777, 0777);
	    OK("suid.chgrp_owner", chown("suid/chg1000", -1, 2000));
	    EQO("suid.chgrp_owner_cleared",
		S("suid/chg1000").st_mode & 07777, 0777);
	);
	OK("suid.write_root", append("suid/wroot", "x"));
	EQO("suid.write_root_kept", S("suid/wroot").st_mode & 07777, 06777);
	OK("suid.chown_root", chown("suid/chroot", 1001, -1));
	EQO("suid.chown_root_cleared", S("suid/chroot").st_mode & 07777, 0777);
	OK("suid.chmod_root_sets", chmod("suid/chroot", 06755));
	EQO("suid.chmod_root_sets_mode", S("suid/chroot").st_mode & 07777,
	    06755);
}

/* ---- O_EXCL, O_TRUNC ---------------------------------------------------- */

static void t_open(void)
{
	struct stat st;
	int fd;

	mkdir("open", 0755);
	chdir("open");
	mkfile("exists", 0644, "hello");
	mkdir("dir", 0755);
	symlink("dangling-target", "dangling");
	symlink("exists", "goodlink");
	OK("open.excl_new", open_close("new", O_WRONLY | O_CREAT | O_EXCL,
	    0640));
	EQO("open.excl_new_mode", S("new").st_mode & 07777, 0640);
	ERR("open.excl_existing", open_close("exists", O_WRONLY | O_CREAT |
	    O_EXCL, 0644), EEXIST);
	ERR("open.excl_dir", open_close("dir", O_RDONLY | O_CREAT | O_EXCL,
	    0644), EEXIST);
	ERR("open.excl_dangling_symlink", open_close("dangling", O_WRONLY |
	    O_CREAT | O_EXCL, 0644), EEXIST);
	ERR("open.excl_good_symlink", open_close("goodlink", O_WRONLY |
	    O_CREAT | O_EXCL, 0644), EEXIST);
	OK("open.creat_via_dangling_symlink", open_close("dangling", O_WRONLY |
	    O_CREAT, 0644));
	TRUE("open.creat_via_dangling_symlink_made_target",
	    S("dangling-target").st_nlink == 1, "target_missing");
	ERR("open.creat_dir_trailing_slash", open_close("newdir/", O_WRONLY |
	    O_CREAT, 0644), EISDIR);
	ERR("open.wronly_dir", open_close("dir", O_WRONLY, 0), EISDIR);
	ERR("open.directory_on_file", open_close("exists", O_RDONLY |
	    O_DIRECTORY, 0), ENOTDIR);
	ERR("open.missing", open_close("missing", O_RDONLY, 0), ENOENT);
	ERR("open.file_as_dir", open_close("exists/x", O_RDONLY, 0), ENOTDIR);
	oldtimes("exists");
	OK("open.trunc", open_close("exists", O_WRONLY | O_TRUNC, 0));
	EQ("open.trunc_size", S("exists").st_size, 0);
	TRUE("open.trunc_mtime", is_new(S("exists").st_mtim), "mtime_old");
	oldtimes("exists");
	OK("open.trunc_empty", open_close("exists", O_WRONLY | O_TRUNC, 0));
	TRUE("open.trunc_empty_mtime", is_new(S("exists").st_mtim),
	    "mtime_old");
	mkfile("rdtrunc", 0644, "abc");
	OK("open.rdonly_trunc", open_close("rdtrunc", O_RDONLY | O_TRUNC, 0));
	EQ("open.rdonly_trunc_size", S("rdtrunc").st_size, 0);
	mkfile("keep", 0644, "abc");
	OK("open.creat_existing_no_trunc", open_close("keep", O_WRONLY |
	    O_CREAT, 0600));
	EQ("open.creat_existing_size_kept", S("keep").st_size, 3);
	EQO("open.creat_existing_mode_kept", S("keep").st_mode & 07777, 0644);
	mkfile("ro444", 0444, "abc");
	OK("open.root_write_0444", open_close("ro444", O_WRONLY, 0));
	OK("open.truncate_grow", truncate("keep", 10000));
	EQ("open.truncate_grow_size", S("keep").st_size, 10000);
	fd = open("keep", O_RDONLY);
	{
		char b[16] = {1};

		pread(fd, b, 16, 5000);
		TRUE("open.truncate_grow_zeros", b[0] == 0 && b[15] == 0,
		    "nonzero");
	}
	close(fd);
	fd = open("tmpunl", O_RDWR | O_CREAT, 0644);
	unlink("tmpunl");
	fstat(fd, &st);
	EQ("open.unlinked_open_nlink", st.st_nlink, 0);
	OK("open.unlinked_open_write", write(fd, "abc", 3));
	{
		char b[4] = {0};

		EQ("open.unlinked_open_read", pread(fd, b, 3, 0), 3);
	}
	close(fd);
	chdir("..");
}

/* ---- rename, rmdir, unlink ---------------------------------------------- */

static void t_rename(void)
{
	char p[PATH_MAX];
	struct stat a, b;

	mkdir("ren", 0755);
	chdir("ren");
	mkfile("src", 0644, "source");
	mkfile("dst", 0644, "dest");
	a = S("src");
	OK("rename.file_over_file", rename("src", "dst"));
	b = S("dst");
	TRUE("rename.file_over_file_inode", a.st_ino == b.st_ino, "wrong_ino");
	TRUE("rename.file_over_file_content", file_is("dst", "source"),
	    "wrong_content");
	ERR("rename.file_over_file_src_gone", access("src", F_OK), ENOENT);
	mkdir("d1", 0755);
	mkdir("d2", 0755);
	mkfile("d1/inner", 0644, "i");
	OK("rename.dir_over_empty_dir", rename("d1", "d2"));
	TRUE("rename.dir_over_empty_dir_content", file_is("d2/inner", "i"),
	    "missing");
	mkdir("d3", 0755);
	ERR("rename.dir_over_nonempty_dir", rename("d3", "d2"), ENOTEMPTY);
	ERR("rename.file_over_dir", rename("dst", "d3"), EISDIR);
	ERR("rename.dir_over_file", rename("d3", "dst"), ENOTDIR);
	mkdir("d3/sub", 0755);
	ERR("rename.dir_into_own_subdir", rename("d3", "d3/sub/x"), EINVAL);
	ERR("rename.dir_into_itself", rename("d3", "d3/x"), EINVAL);
	OK("rename.dir_to_itself", rename("d3", "d3"));
	ERR("rename.missing", rename("nothere", "x"), ENOENT);
	ERR("rename.into_missing_dir", rename("dst", "nodir/x"), ENOENT);
	ERR("rename.over_dot", rename("d3/sub", "d3/."), EBUSY);
	link("dst", "hl");
	OK("rename.over_own_hardlink", rename("dst", "hl"));
	TRUE("rename.over_own_hardlink_both_stay",
	    access("dst", F_OK) == 0 && access("hl", F_OK) == 0, "one_gone");
	snprintf(p, sizeof(p), "%s/xdev", OTHER);
	ERR("rename.exdev_file", rename("dst", p), EXDEV);
	ERR("rename.exdev_dir", rename("d3", p), EXDEV);
	ERR("rename.exdev_link", link("dst", p), EXDEV);
	mkfile(p, 0644, "other");
	ERR("rename.exdev_into_share", rename(p, "fromother"), EXDEV);
	mkfile("n1", 0644, "1");
	mkfile("n2", 0644, "2");
	ERR("rename.noreplace_existing", ren2("n1", "n2", RENAME_NOREPLACE),
	    EEXIST);
	OK("rename.noreplace_new", ren2("n1", "n3", RENAME_NOREPLACE));
	OK("rename.exchange", ren2("n3", "n2", RENAME_EXCHANGE));
	TRUE("rename.exchange_content", file_is("n2", "1") &&
	    file_is("n3", "2"), "not_swapped");
	ERR("rename.exchange_missing", ren2("n3", "n9", RENAME_EXCHANGE),
	    ENOENT);
	OK("rename.exchange_file_dir", ren2("n3", "d3", RENAME_EXCHANGE));
	TRUE("rename.exchange_file_dir_types", S("n3").st_mode & S_IFDIR &&
	    S_ISREG(S("d3").st_mode), "types_wrong");
	mkdir("ne", 0755);
	mkfile("ne/f", 0644, "f");
	ERR("rmdir.nonempty", rmdir("ne"), ENOTEMPTY);
	ERR("rmdir.file", rmdir("ne/f"), ENOTDIR);
	ERR("rmdir.dot", rmdir("ne/."), EINVAL);
	ERR("rmdir.missing", rmdir("nothere"), ENOENT);
	ERR("unlink.dir", unlink("ne"), EISDIR);
	ERR("unlink.missing", unlink("nothere"), ENOENT);
	ERR("mkdir.existing", mkdir("ne", 0755), EEXIST);
	ERR("mkdir.existing_file", mkdir("ne/f", 0755), EEXIST);
	ERR("symlink.existing", symlink("x", "ne/f"), EEXIST);
	ERR("link.existing", link("n2", "ne/f"), EEXIST);
	ERR("link.dir", link("ne", "ne2"), EPERM);
	OK("unlink.file", unlink("ne/f"));
	OK("rmdir.emptied", rmdir("ne"));
	chdir("..");
}

/* ---- ELOOP, ENAMETOOLONG ------------------------------------------------ */

static void t_loop_names(void)
{
	char name[300], path[PATH_MAX + 16], tgt[4100], got[4100];
	struct stat st;
	int i;

	mkdir("loop", 0755);
	chdir("loop");
	mkfile("target", 0644, "t");
	symlink("target", "lnk");
	symlink("b", "a");
	symlink("a", "b");
	symlink("self", "self");
	ERR("loop.onofollow_symlink", open_close("lnk", O_RDONLY | O_NOFOLLOW,
	    0), ELOOP);
	OK("loop.opath_nofollow_symlink", open_close("lnk", O_PATH |
	    O_NOFOLLOW, 0));
	OK("loop.follow_symlink", open_close("lnk", O_RDONLY, 0));
	ERR("loop.cycle_open", open_close("a", O_RDONLY, 0), ELOOP);
	ERR("loop.cycle_stat", stat("a", &st), ELOOP);
	OK("loop.cycle_lstat", lstat("a", &st));
	ERR("loop.self_open", open_close("self", O_RDONLY, 0), ELOOP);
	ERR("loop.cycle_in_path", stat("a/x", &st), ELOOP);
	ERR("loop.cycle_creat", open_close("a", O_WRONLY | O_CREAT, 0644),
	    ELOOP);
	/* a chain of 40 links resolves, 41 does not (MAXSYMLINKS = 40) */
	snprintf(name, sizeof(name), "c0");
	symlink("target", "c0");
	for (i = 1; i <= 41; i++) {
		char prev[16];

		snprintf(prev, sizeof(prev), "c%d", i - 1);
		snprintf(name, sizeof(name), "c%d", i);
		symlink(prev, name);
	}
	OK("loop.chain_40", stat("c39", &st));
	ERR("loop.chain_41", stat("c40", &st), ELOOP);
	chdir("..");

	mkdir("names", 0755);
	chdir("names");
	memset(name, 'n', 255);
	name[255] = 0;
	OK("name.create_255", open_close(name, O_WRONLY | O_CREAT, 0644));
	OK("name.stat_255", stat(name, &st));
	name[255] = 'n';
	name[256] = 0;
	ERR("name.create_256", open_close(name, O_WRONLY | O_CREAT, 0644),
	    ENAMETOOLONG);
	ERR("name.mkdir_256", mkdir(name, 0755), ENAMETOOLONG);
	ERR("name.stat_256", stat(name, &st), ENAMETOOLONG);
	ERR("name.symlink_256", symlink("x", name), ENAMETOOLONG);
	mkfile("short", 0644, "s");
	ERR("name.rename_to_256", rename("short", name), ENAMETOOLONG);
	ERR("name.link_to_256", link("short", name), ENAMETOOLONG);
	for (i = 0; i < PATH_MAX + 8; i += 2) {
		path[i] = 'a';
		path[i + 1] = '/';
	}
	path[PATH_MAX + 8] = 0;
	ERR("name.path_too_long", stat(path, &st), ENAMETOOLONG);
	memset(tgt, 't', 4095);
	tgt[4095] = 0;
	OK("name.symlink_target_4095", symlink(tgt, "long4095"));
	EQ("name.readlink_4095", readlink("long4095", got, sizeof(got)), 4095);
	EQ("name.lstat_size_4095", LS("long4095").st_size, 4095);
	tgt[4095] = 't';
	tgt[4096] = 0;
	ERR("name.symlink_target_4096", symlink(tgt, "long4096"),
	    ENAMETOOLONG);
	ERR("name.empty", open_close("", O_RDONLY, 0), ENOENT);
	chdir("..");
}

/* ---- link counts -------------------------------------------------------- */

static void t_nlink(void)
{
	mkdir("nl", 0755);
	chdir("nl");
	mkfile("f", 0644, "f");
	EQ("nlink.file_1", S("f").st_nlink, 1);
	OK("nlink.link", link("f", "f2"));
	EQ("nlink.file_2", S("f").st_nlink, 2);
	EQ("nlink.file_2_other_name", S("f2").st_nlink, 2);
	link("f", "f3");
	EQ("nlink.file_3", S("f2").st_nlink, 3);
	unlink("f3");
	EQ("nlink.file_unlink_2", S("f").st_nlink, 2);
	unlink("f");
	EQ("nlink.file_unlink_1", S("f2").st_nlink, 1);
	mkdir("d", 0755);
	EQ("nlink.dir_2", S("d").st_nlink, 2);
	mkdir("d/s1", 0755);
	EQ("nlink.dir_mkdir_3", S("d").st_nlink, 3);
	mkdir("d/s2", 0755);
	EQ("nlink.dir_mkdir_4", S("d").st_nlink, 4);
	EQ("nlink.subdir_2", S("d/s1").st_nlink, 2);
	mkfile("d/file", 0644, "x");
	EQ("nlink.dir_file_no_change", S("d").st_nlink, 4);
	rmdir("d/s1");
	EQ("nlink.dir_rmdir_3", S("d").st_nlink, 3);
	mkdir("e", 0755);
	rename("d/s2", "e/s2");
	EQ("nlink.dir_rename_out_2", S("d").st_nlink, 2);
	EQ("nlink.dir_rename_in_3", S("e").st_nlink, 3);
	EQ("nlink.cwd_dot_eq_dir", S("e/.").st_nlink, 3);
	EQ("nlink.dotdot_eq_parent", S("e/s2/..").st_nlink, 3);
	chdir("..");
}

/* ---- timestamps --------------------------------------------------------- */

static void t_times(void)
{
	struct stat a, b;
	struct timespec ts[2];
	char buf[8];
	int fd;

	mkdir("tm", 0755);
	chdir("tm");
	mkfile("f", 0644, "f");
	oldtimes("f");
	a = S("f");
	msleep(30);
	OK("time.write", append("f", "more"));
	b = S("f");
	TRUE("time.write_mtime", is_new(b.st_mtim), "mtime_not_updated");
	TRUE("time.write_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	a = b;
	msleep(30);
	fd = open("f", O_RDONLY);
	read(fd, buf, sizeof(buf));
	close(fd);
	b = S("f");
	TRUE("time.read_no_mtime", tseq(b.st_mtim, a.st_mtim), "mtime_changed");
	TRUE("time.read_no_ctime", tseq(b.st_ctim, a.st_ctim), "ctime_changed");
	oldtimes("f");
	a = S("f");
	msleep(30);
	OK("time.chmod", chmod("f", 0600));
	b = S("f");
	TRUE("time.chmod_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	TRUE("time.chmod_no_mtime", tseq(b.st_mtim, a.st_mtim),
	    "mtime_changed");
	a = b;
	msleep(30);
	OK("time.chown", chown("f", 0, 0));
	b = S("f");
	TRUE("time.chown_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	a = b;
	msleep(30);
	OK("time.link", link("f", "f2"));
	b = S("f");
	TRUE("time.link_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	TRUE("time.link_no_mtime", tseq(b.st_mtim, a.st_mtim),
	    "mtime_changed");
	a = b;
	msleep(30);
	OK("time.unlink_other_name", unlink("f2"));
	b = S("f");
	TRUE("time.unlink_other_name_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	a = b;
	msleep(30);
	OK("time.rename", rename("f", "g"));
	b = S("g");
	TRUE("time.rename_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	TRUE("time.rename_no_mtime", tseq(b.st_mtim, a.st_mtim),
	    "mtime_changed");
	a = b;
	msleep(30);
	OK("time.truncate", truncate("g", 1));
	b = S("g");
	TRUE("time.truncate_mtime", is_new(b.st_mtim), "mtime_not_updated");
	TRUE("time.truncate_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	ts[0].tv_sec = 1234567890;
	ts[0].tv_nsec = 500000000;
	ts[1].tv_sec = 1111111111;
	ts[1].tv_nsec = 250000000;
	a = S("g");
	msleep(30);
	OK("time.utimes_explicit", utimensat(AT_FDCWD, "g", ts, 0));
	b = S("g");
	TRUE("time.utimes_atime", tseq(b.st_atim, ts[0]), "atime_wrong");
	TRUE("time.utimes_mtime", tseq(b.st_mtim, ts[1]), "mtime_wrong");
	TRUE("time.utimes_ctime", tsgt(b.st_ctim, a.st_ctim),
	    "ctime_not_updated");
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1300000000;
	ts[1].tv_nsec = 0;
	OK("time.utimes_omit_atime", utimensat(AT_FDCWD, "g", ts, 0));
	b = S("g");
	TRUE("time.utimes_omit_atime_kept", b.st_atim.tv_sec == 1234567890 &&
	    b.st_atim.tv_nsec == 500000000, "atime_changed");
	EQ("time.utimes_omit_atime_mtime", b.st_mtime, 1300000000);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	OK("time.utimes_now_atime", utimensat(AT_FDCWD, "g", ts, 0));
	b = S("g");
	TRUE("time.utimes_now_atime_new", is_new(b.st_atim), "atime_old");
	EQ("time.utimes_now_atime_mtime_kept", b.st_mtime, 1300000000);
	/* the parent directory's mtime and ctime on entry changes */
	mkdir("p", 0755);
#define PARENT(id, expr) do {						\
	oldtimes("p");							\
	a = S("p");							\
	msleep(30);							\
	OK(id, expr);							\
	b = S("p");							\
	TRUE(id "_dir_mtime", is_new(b.st_mtim), "dir_mtime_not_updated"); \
	TRUE(id "_dir_ctime", tsgt(b.st_ctim, a.st_ctim),		\
	    "dir_ctime_not_updated");					\
} while (0)
	PARENT("time.parent_create", mkfile("p/x", 0644, "x"));
	PARENT("time.parent_unlink", unlink("p/x"));
	PARENT("time.parent_mkdir", mkdir("p/d", 0755));
	PARENT("time.parent_rmdir", rmdir("p/d"));
	PARENT("time.parent_symlink", symlink("t", "p/l"));
	PARENT("time.parent_link", link("g", "p/g"));
	PARENT("time.parent_rename_within", rename("p/g", "p/h"));
	PARENT("time.parent_rename_out", rename("p/h", "h"));
	PARENT("time.parent_rename_in", rename("h", "p/h"));
	PARENT("time.parent_mkfifo", mkfifo("p/fifo", 0644));
#undef PARENT
	mkfile("p/x", 0644, "x");
	oldtimes("p");
	a = S("p");
	OK("time.child_write", append("p/x", "y"));
	b = S("p");
	TRUE("time.child_write_no_dir_mtime", tseq(b.st_mtim, a.st_mtim),
	    "dir_mtime_changed");
	chdir("..");
}

/* ---- locks between two processes ---------------------------------------- */

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET,
	    .l_start = start, .l_len = len};

	return fcntl(fd, cmd, &fl);
}

/* The child takes `what`, says so on `up`, then waits on `down` for a
 * byte: 'c' close the fd and report, 'u' unlock and report, 'x' exit. */
static pid_t holder(const char *path, int what, int up[2], int down[2])
{
	pid_t p;

	pipe(up);
	pipe(down);
	fflush(stdout);
	p = fork();
	if (p == 0) {
		char c = 'E';
		int fd = open(path, O_RDWR);

		close(up[0]);
		close(down[1]);
		if (fd >= 0) {
			if (what == 'p')
				c = lk(fd, F_SETLK, F_WRLCK, 0, 0) == 0 ? 'L' : 'E';
			else if (what == 'r')
				c = lk(fd, F_SETLK, F_WRLCK, 0, 10) == 0 ? 'L' : 'E';
			else if (what == 'R')
				c = lk(fd, F_SETLK, F_RDLCK, 0, 0) == 0 ? 'L' : 'E';
			else
				c = flock(fd, LOCK_EX) == 0 ? 'L' : 'E';
		}
		write(up[1], &c, 1);
		while (read(down[0], &c, 1) == 1) {
			if (c == 'c')
				close(fd);
			else if (c == 'u') {
				if (what == 'f')
					flock(fd, LOCK_UN);
				else
					lk(fd, F_SETLK, F_UNLCK, 0, 0);
			} else if (c == 'd') {
				/* delayed unlock for the blocking case */
				msleep(300);
				if (what == 'f')
					flock(fd, LOCK_UN);
				else
					lk(fd, F_SETLK, F_UNLCK, 0, 0);
			} else
				_exit(0);
			write(up[1], &c, 1);
		}
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	return p;
}

static int tell(int up[2], int down[2], char c)
{
	char r = 0;

	write(down[1], &c, 1);
	if (c == 'd')
		return 0;
	return read(up[0], &r, 1) == 1 && r == c ? 0 : -1;
}

static void reap(pid_t p, int up[2], int down[2])
{
	char c = 'x';

	write(down[1], &c, 1);
	close(down[1]);
	close(up[0]);
	waitpid(p, NULL, 0);
}

static void t_locks(void)
{
	int up[2], down[2], fd;
	char c = 0;
	pid_t p;
	struct flock fl;

	mkdir("lk", 0755);
	mkfile("lk/f", 0644, "0123456789abcdefghij");
	/* POSIX record locks */
	p = holder("lk/f", 'p', up, down);
	read(up[0], &c, 1);
	EQ("lock.posix_child_locked", c, 'L');
	fd = open("lk/f", O_RDWR);
	ERR("lock.posix_wrlck_conflict", lk(fd, F_SETLK, F_WRLCK, 0, 0),
	    EAGAIN);
	ERR("lock.posix_rdlck_conflict", lk(fd, F_SETLK, F_RDLCK, 0, 1),
	    EAGAIN);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	OK("lock.posix_getlk", fcntl(fd, F_GETLK, &fl));
	EQ("lock.posix_getlk_type", fl.l_type, F_WRLCK);
	EQ("lock.posix_getlk_pid", fl.l_pid, p);
	EQ("lock.posix_getlk_start", fl.l_start, 0);
	EQ("lock.posix_getlk_len", fl.l_len, 0);
	OK("lock.posix_child_close", tell(up, down, 'c'));
	OK("lock.posix_released_on_close", lk(fd, F_SETLK, F_WRLCK, 0, 0));
	lk(fd, F_SETLK, F_UNLCK, 0, 0);
	reap(p, up, down);
	/* byte ranges */
	p = holder("lk/f", 'r', up, down);
	read(up[0], &c, 1);
	OK("lock.posix_range_disjoint", lk(fd, F_SETLK, F_WRLCK, 10, 10));
	ERR("lock.posix_range_overlap", lk(fd, F_SETLK, F_WRLCK, 5, 10),
	    EAGAIN);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 8;
	fl.l_len = 1;
	fcntl(fd, F_GETLK, &fl);
	EQ("lock.posix_range_getlk_start", fl.l_start, 0);
	EQ("lock.posix_range_getlk_len", fl.l_len, 10);
	lk(fd, F_SETLK, F_UNLCK, 0, 0);
	OK("lock.posix_child_unlock", tell(up, down, 'u'));
	OK("lock.posix_released_on_unlock", lk(fd, F_SETLK, F_WRLCK, 0, 0));
	lk(fd, F_SETLK, F_UNLCK, 0, 0);
	reap(p, up, down);
	OK("lock.posix_free_after_exit", lk(fd, F_SETLK, F_WRLCK, 0, 0));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fcntl(fd, F_GETLK, &fl);
	EQ("lock.posix_getlk_own_lock_unlck", fl.l_type, F_UNLCK);
	lk(fd, F_SETLK, F_UNLCK, 0, 0);
	/* shared read locks coexist */
	p = holder("lk/f", 'R', up, down);
	read(up[0], &c, 1);
	OK("lock.posix_rdlck_shared", lk(fd, F_SETLK, F_RDLCK, 0, 0));
	lk(fd, F_SETLK, F_UNLCK, 0, 0);
	reap(p, up, down);
	/* blocking F_SETLKW: the holder unlocks after 300 ms */
	p = holder("lk/f", 'p', up, down);
	read(up[0], &c, 1);
	tell(up, down, 'd');
	alarm(20);
	OK("lock.posix_setlkw_waits", lk(fd, F_SETLKW, F_WRLCK, 0, 0));
	alarm(0);
	lk(fd, F_SETLK, F_UNLCK, 0, 0);
	reap(p, up, down);
	close(fd);

	/* flock */
	p = holder("lk/f", 'f', up, down);
	read(up[0], &c, 1);
	EQ("lock.flock_child_locked", c, 'L');
	fd = open("lk/f", O_RDWR);
	ERR("lock.flock_ex_conflict", flock(fd, LOCK_EX | LOCK_NB),
	    EWOULDBLOCK);
	ERR("lock.flock_sh_conflict", flock(fd, LOCK_SH | LOCK_NB),
	    EWOULDBLOCK);
	OK("lock.flock_child_unlock", tell(up, down, 'u'));
	OK("lock.flock_released_on_unlock", flock(fd, LOCK_EX | LOCK_NB));
	flock(fd, LOCK_UN);
	reap(p, up, down);
	p = holder("lk/f", 'f', up, down);
	read(up[0], &c, 1);
	OK("lock.flock_child_close", tell(up, down, 'c'));
	OK("lock.flock_released_on_close", flock(fd, LOCK_EX | LOCK_NB));
	flock(fd, LOCK_UN);
	reap(p, up, down);
	p = holder("lk/f", 'f', up, down);
	read(up[0], &c, 1);
	tell(up, down, 'd');
	alarm(20);
	OK("lock.flock_blocking_waits", flock(fd, LOCK_EX));
	alarm(0);
	flock(fd, LOCK_UN);
	reap(p, up, down);
	close(fd);
}

/* ---- extended attributes ------------------------------------------------ */

static void t_xattr(void)
{
	char buf[8192], big[2000], name[300];
	ssize_t n;
	int fd;

	mkdir("xa", 0755);
	chdir("xa");
	mkfile("f", 0644, "f");
	mkdir("d", 0755);
	symlink("f", "l");
	mkfifo("fifo", 0644);
	OK("xattr.set", setxattr("f", "user.test", "value", 5, 0));
	n = getxattr("f", "user.test", buf, sizeof(buf));
	EQ("xattr.get_size", n, 5);
	TRUE("xattr.get_value", n == 5 && memcmp(buf, "value", 5) == 0,
	    "wrong_value");
	EQ("xattr.get_size_query", getxattr("f", "user.test", NULL, 0), 5);
	ERR("xattr.get_erange", getxattr("f", "user.test", buf, 2), ERANGE);
	setxattr("f", "user.second", "2", 1, 0);
	n = listxattr("f", buf, sizeof(buf));
	{
		int found = 0, found2 = 0;

		for (ssize_t i = 0; n > 0 && i < n; i += strlen(buf + i) + 1) {
			found |= strcmp(buf + i, "user.test") == 0;
			found2 |= strcmp(buf + i, "user.second") == 0;
		}
		TRUE("xattr.list", found && found2, "names_missing");
	}
	TRUE("xattr.list_size_query", listxattr("f", NULL, 0) == n && n >= 22,
	    "size_mismatch");
	ERR("xattr.list_erange", listxattr("f", buf, 3), ERANGE);
	ERR("xattr.get_missing", getxattr("f", "user.missing", buf,
	    sizeof(buf)), ENODATA);
	ERR("xattr.create_existing", setxattr("f", "user.test", "v2", 2,
	    XATTR_CREATE), EEXIST);
	ERR("xattr.replace_missing", setxattr("f", "user.nope", "v2", 2,
	    XATTR_REPLACE), ENODATA);
	OK("xattr.create_new", setxattr("f", "user.created", "c", 1,
	    XATTR_CREATE));
	OK("xattr.replace_existing", setxattr("f", "user.test", "v2", 2,
	    XATTR_REPLACE));
	n = getxattr("f", "user.test", buf, sizeof(buf));
	TRUE("xattr.replace_value", n == 2 && memcmp(buf, "v2", 2) == 0,
	    "wrong_value");
	OK("xattr.remove", removexattr("f", "user.test"));
	ERR("xattr.get_removed", getxattr("f", "user.test", buf, sizeof(buf)),
	    ENODATA);
	ERR("xattr.remove_missing", removexattr("f", "user.test"), ENODATA);
	OK("xattr.empty_value", setxattr("f", "user.empty", "", 0, 0));
	EQ("xattr.empty_value_size", getxattr("f", "user.empty", buf,
	    sizeof(buf)), 0);
	memset(big, 'B', sizeof(big));
	OK("xattr.big_value", setxattr("f", "user.big", big, sizeof(big), 0));
	n = getxattr("f", "user.big", buf, sizeof(buf));
	TRUE("xattr.big_value_back", n == (ssize_t)sizeof(big) &&
	    memcmp(buf, big, sizeof(big)) == 0, "wrong_value");
	removexattr("f", "user.big");
	memset(name, 'x', sizeof(name));
	memcpy(name, "user.", 5);
	name[256] = 0;
	ERR("xattr.name_too_long", setxattr("f", name, "v", 1, 0), ERANGE);
	ERR("xattr.unknown_namespace", setxattr("f", "bogus.name", "v", 1, 0),
	    EOPNOTSUPP);
	OK("xattr.dir", setxattr("d", "user.d", "dv", 2, 0));
	EQ("xattr.dir_get", getxattr("d", "user.d", buf, sizeof(buf)), 2);
	ERR("xattr.user_on_symlink", lsetxattr("l", "user.l", "v", 1, 0),
	    EPERM);
	OK("xattr.follow_symlink", setxattr("l", "user.vial", "v", 1, 0));
	EQ("xattr.follow_symlink_target", getxattr("f", "user.vial", buf,
	    sizeof(buf)), 1);
	ERR("xattr.lget_symlink_missing", lgetxattr("l", "user.vial", buf,
	    sizeof(buf)), ENODATA);
	ERR("xattr.user_on_fifo", setxattr("fifo", "user.p", "v", 1, 0),
	    EPERM);
	fd = open("f", O_RDONLY);
	OK("xattr.fset", fsetxattr(fd, "user.fd", "fdv", 3, 0));
	EQ("xattr.fget", fgetxattr(fd, "user.fd", buf, sizeof(buf)), 3);
	OK("xattr.fremove", fremovexattr(fd, "user.fd"));
	close(fd);
	int trusted_ok = OK("xattr.trusted_root", setxattr("f", "trusted.t",
	    "t", 1, 0)) == 0;
	EQ("xattr.trusted_root_get", getxattr("f", "trusted.t", buf,
	    sizeof(buf)), 1);
	ERR("xattr.get_missing_file", getxattr("nothere", "user.x", buf,
	    sizeof(buf)), ENOENT);
	AS(1000,
	    ERR("xattr.nonowner_set_readonly", setxattr("f", "user.u", "v", 1,
		0), EACCES);
	    EQ("xattr.nonowner_get_readable", getxattr("f", "user.second",
		buf, sizeof(buf)), 1);
	    char b2[512];
	    /* meaningful only if root could set trusted.t (virtiofsd cannot:
	     * it drops CAP_SYS_ADMIN) */
	    if (!trusted_ok) {
		    emit("xattr.nonroot_trusted_hidden", "skip_no_trusted_xattr");
		    emit("xattr.nonroot_list_hides_trusted",
			"skip_no_trusted_xattr");
		    fflush(stdout);
		    _exit(0);
	    }
	    ERR("xattr.nonroot_trusted_hidden", getxattr("f", "trusted.t", b2,
		sizeof(b2)), ENODATA);
	    ssize_t m = listxattr("f", b2, sizeof(b2));
	    int hidden = 1;
	    for (ssize_t i = 0; m > 0 && i < m; i += strlen(b2 + i) + 1)
		    if (strncmp(b2 + i, "trusted.", 8) == 0)
			    hidden = 0;
	    TRUE("xattr.nonroot_list_hides_trusted", m > 0 && hidden,
		"trusted_listed");
	);
	chdir("..");
}

/* ---- POSIX ACLs through system.posix_acl_access ------------------------- */

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

#define ACL_UNDEF 0xffffffffu
enum { A_USER_OBJ = 1, A_USER = 2, A_GROUP_OBJ = 4, A_GROUP = 8,
	A_MASK = 0x10, A_OTHER = 0x20 };

static size_t acl_build(char *buf, const struct acl_ent *e, int n)
{
	uint32_t v = 2;

	memcpy(buf, &v, 4);
	memcpy(buf + 4, e, (size_t)n * sizeof(*e));
	return 4 + (size_t)n * sizeof(*e);
}

static void t_acl(void)
{
	char buf[256], got[256];
	size_t n;

	mkdir("acl", 0755);
	chdir("acl");
	mkfile("f", 0600, "acl");
	{
		struct acl_ent e[] = {{A_USER_OBJ, 6, ACL_UNDEF},
		    {A_USER, 4, 1000}, {A_GROUP_OBJ, 0, ACL_UNDEF},
		    {A_MASK, 4, ACL_UNDEF}, {A_OTHER, 0, ACL_UNDEF}};

		n = acl_build(buf, e, 5);
	}
	OK("acl.set_access", setxattr("f", "system.posix_acl_access", buf, n,
	    0));
	EQ("acl.get_access_size", getxattr("f", "system.posix_acl_access", got,
	    sizeof(got)), (long long)n);
	TRUE("acl.get_access_same", memcmp(got, buf, n) == 0, "differs");
	EQO("acl.mode_group_is_mask", S("f").st_mode & 0777, 0640);
	AS(1000,
	    OK("acl.user_granted_read", open_close("f", O_RDONLY, 0));
	    ERR("acl.user_granted_no_write", open_close("f", O_WRONLY, 0),
		EACCES);
	    OK("acl.user_granted_access_r", access("f", R_OK));
	    ERR("acl.nonowner_set", setxattr("f", "system.posix_acl_access",
		buf, n, 0), EPERM);
	);
	AS(1001,
	    ERR("acl.other_user_denied", open_close("f", O_RDONLY, 0), EACCES);
	);
	OK("acl.chmod_updates_mask", chmod("f", 0600));
	AS(1000,
	    ERR("acl.masked_user_denied", open_close("f", O_RDONLY, 0), EACCES);
	);
	chmod("f", 0640);
	OK("acl.remove_access", removexattr("f", "system.posix_acl_access"));
	AS(1000,
	    ERR("acl.removed_user_denied", open_close("f", O_RDONLY, 0),
		EACCES);
	);
	/* an ACL equivalent to the mode is not stored */
	mkfile("g", 0644, "g");
	{
		struct acl_ent e[] = {{A_USER_OBJ, 6, ACL_UNDEF},
		    {A_GROUP_OBJ, 4, ACL_UNDEF}, {A_OTHER, 0, ACL_UNDEF}};

		n = acl_build(buf, e, 3);
	}
	OK("acl.set_minimal", setxattr("g", "system.posix_acl_access", buf, n,
	    0));
	EQO("acl.set_minimal_mode", S("g").st_mode & 0777, 0640);
	ERR("acl.set_minimal_not_stored", getxattr("g",
	    "system.posix_acl_access", got, sizeof(got)), ENODATA);
	ERR("acl.get_none", getxattr("g", "system.posix_acl_default", got,
	    sizeof(got)), ENODATA);
	{
		struct acl_ent e[] = {{A_USER_OBJ, 6, ACL_UNDEF},
		    {A_USER, 4, 1000}, {A_GROUP_OBJ, 0, ACL_UNDEF},
		    {A_OTHER, 0, ACL_UNDEF}};

		n = acl_build(buf, e, 4);
	}
	ERR("acl.invalid_no_mask", setxattr("g", "system.posix_acl_access",
	    buf, n, 0), EINVAL);
	/* default ACL on a directory is inherited */
	mkdir("d", 0755);
	chmod("d", 0777);
	{
		struct acl_ent e[] = {{A_USER_OBJ, 7, ACL_UNDEF},
		    {A_USER, 7, 1000}, {A_GROUP_OBJ, 5, ACL_UNDEF},
		    {A_MASK, 7, ACL_UNDEF}, {A_OTHER, 0, ACL_UNDEF}};

		n = acl_build(buf, e, 5);
	}
	OK("acl.set_default", setxattr("d", "system.posix_acl_default", buf, n,
	    0));
	ERR("acl.default_on_file", setxattr("g", "system.posix_acl_default",
	    buf, n, 0), EACCES);
	OK("acl.default_create", open_close("d/new", O_WRONLY | O_CREAT,
	    0660));
	TRUE("acl.default_inherited_access", getxattr("d/new",
	    "system.posix_acl_access", got, sizeof(got)) > 0, "no_acl");
	EQO("acl.default_create_mode", S("d/new").st_mode & 0777, 0660);
	OK("acl.default_mkdir", mkdir("d/sub", 0777));
	TRUE("acl.default_inherited_default", getxattr("d/sub",
	    "system.posix_acl_default", got, sizeof(got)) == (ssize_t)n,
	    "no_default_acl");
	EQO("acl.default_mkdir_mode", S("d/sub").st_mode & 0777, 0770);
	AS(1000,
	    OK("acl.default_user_rw", open_close("d/new", O_RDWR, 0));
	    OK("acl.default_user_create", open_close("d/u", O_WRONLY |
		O_CREAT, 0600));
	);
	AS(1001,
	    ERR("acl.default_other_denied", open_close("d/new", O_RDONLY, 0),
		EACCES);
	);
	chdir("..");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: conform DIR OTHERDIR\n");
		return 2;
	}
	OTHER = argv[2];
	umask(022);
	signal(SIGALRM, SIG_DFL);
	if (mkdir(argv[1], 0755) < 0 || chdir(argv[1]) < 0 ||
	    mkdir(OTHER, 0755) < 0) {
		perror("conform: setup");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "conform: must run as root\n");
		return 2;
	}
	t_perm();
	t_sticky();
	t_setgid();
	t_suid();
	t_open();
	t_rename();
	t_loop_names();
	t_nlink();
	t_times();
	t_locks();
	t_xattr();
	t_acl();
	printf("# conform: %d ok, %d other (root process only)\n", nok,
	    nother);
	return 0;
}
