// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * escape: in-guest attempts to read host files outside the shared
 * directory. Run by tests/vm/escape.sh as root with cwd = the share (/mnt).
 * The host planted a secret token in files OUTSIDE the share (a separate
 * /tmp/phx-secret-* directory, the share's parent, a sibling directory) and
 * made symlinks in the share pointing out of it (absolute, relative, into
 * /proc). Every probe must resolve in the guest's namespace and never
 * return the token or the host's /etc/passwd.
 *
 * Prints TAP lines "ok N - ..." / "not ok N - ... # why" (not ok = the
 * guest reached a host file outside the share, or a guard failed), "# INFO"
 * lines for behaviour worth knowing that is not an escape, and a summary.
 *
 * usage: escape TOKEN SECRETDIR HOSTPASSWD LATETOKEN
 *   TOKEN       the secret's content (host files outside the share)
 *   SECRETDIR   host directory holding the secret (absolute, outside)
 *   HOSTPASSWD  a copy of the host's /etc/passwd (added to the initramfs)
 *   LATETOKEN   content the host puts in the moved-away directory
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int tnum, npass, nfail;
static const char *TOKEN, *SECRETDIR, *LATE;
static char hostpw[65536];
static ssize_t hostpw_len = -1;

static void result(int pass, const char *desc, const char *why)
{
	tnum++;
	if (pass)
		npass++;
	else
		nfail++;
	printf("%sok %d - %s", pass ? "" : "not ", tnum, desc);
	if (!pass && why)
		printf(" # %s", why);
	printf("\n");
	fflush(stdout);
}

static ssize_t slurp_at(int dirfd, const char *p, char *buf, size_t n, int *err)
{
	int fd = openat(dirfd, p, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	ssize_t r = 0, k;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*err = 0;
		return -2; /* not a regular file: nothing to leak by reading */
	}
	while ((size_t)r < n - 1 && (k = read(fd, buf + r, n - 1 - r)) > 0)
		r += k;
	close(fd);
	buf[r] = 0;
	*err = 0;
	return r;
}

/* The probe: opening and reading `p` must not give a host secret. */
static void probe_at(int dirfd, const char *p, const char *how)
{
	char buf[65536], desc[PATH_MAX + 200], why[200];
	int err;
	ssize_t n = slurp_at(dirfd, p, buf, sizeof(buf), &err);
	int leak = 0;

	if (n >= 0) {
		leak = strstr(buf, TOKEN) != NULL ||
		    (hostpw_len > 0 && n == hostpw_len &&
			memcmp(buf, hostpw, (size_t)n) == 0);
		if (LATE && strstr(buf, LATE))
			printf("# INFO %s: read the file the host put into the "
			    "moved-away directory\n", p);
	}
	snprintf(desc, sizeof(desc), "%s %s: no host secret (%s)", how, p,
	    n == -1 ? strerrorname_np(err) : n == -2 ? "not a regular file" :
	    "read, content is the guest's own");
	snprintf(why, sizeof(why), "read %zd bytes of a HOST file outside the "
	    "share", n);
	result(!leak, desc, why);
}

static void probe(const char *p, const char *how)
{
	probe_at(AT_FDCWD, p, how);
}

/* readdir of `dir` must not list the host's names around the share. */
static void no_host_names(const char *dir, const char *how)
{
	static const char *bad[] = {"share", "outside", "secret"};
	char desc[PATH_MAX + 100], why[300] = "";
	DIR *d = opendir(dir);
	struct dirent *e;
	int leak = 0, n = 0;

	if (d) {
		while ((e = readdir(d))) {
			n++;
			for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
				if (strcmp(e->d_name, bad[i]) == 0) {
					leak = 1;
					snprintf(why, sizeof(why), "lists host "
					    "entry '%s'", e->d_name);
				}
		}
		closedir(d);
	}
	snprintf(desc, sizeof(desc), "%s: readdir %s lists no host entry "
	    "outside the share (%d entries%s)", how, dir, n,
	    d ? "" : ", opendir failed");
	result(!leak, desc, why);
}

static void same_inode(const char *a, const char *b, const char *desc)
{
	struct stat sa, sb;
	char why[200];

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0) {
		snprintf(why, sizeof(why), "stat failed: %s", strerror(errno));
		result(0, desc, why);
		return;
	}
	snprintf(why, sizeof(why), "%s is %lu:%lu, %s is %lu:%lu", a,
	    (unsigned long)sa.st_dev, (unsigned long)sa.st_ino, b,
	    (unsigned long)sb.st_dev, (unsigned long)sb.st_ino);
	result(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino, desc, why);
}

static void secret_paths(const char *prefix, const char *how)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s/secret", prefix, SECRETDIR);
	probe(p, how);
}

static void t_root_dotdot(void)
{
	int fd;
	char cwd[PATH_MAX];

	same_inode("/mnt/..", "/", "'..' of the mount root is the guest's /");
	same_inode("/mnt/../..", "/", "'../..' of the mount root is /");
	no_host_names("/mnt/..", "root '..'");
	no_host_names("/mnt", "share root");
	fd = open("/mnt", O_RDONLY | O_DIRECTORY);
	probe_at(fd, "../secret", "openat(share fd)");
	probe_at(fd, "../outside/secret", "openat(share fd)");
	probe_at(fd, "../../../../../../../../../../etc/passwd",
	    "openat(share fd)");
	close(fd);
	chdir("/mnt");
	chdir("..");
	getcwd(cwd, sizeof(cwd));
	result(strcmp(cwd, "/") == 0, "chdir('..') from the share lands in "
	    "the guest's /", cwd);
	chdir("/mnt");
	probe("../secret", "relative");
	probe("../outside/secret", "relative");
	probe("../share/../secret", "relative");
	secret_paths("", "absolute (guest namespace)");
	secret_paths("../../../../../../../../..", "relative dotdot");
	secret_paths("/mnt/../../../..", "absolute dotdot");
}

static void t_host_symlinks(void)
{
	char p[PATH_MAX];

	probe("h_abs_passwd", "host symlink -> /etc/passwd");
	probe("h_abs_secret", "host symlink -> secret (absolute)");
	probe("h_rel_secret", "host symlink -> secret (relative ../..)");
	probe("h_rel_sibling", "host symlink -> ../secret");
	probe("h_rel_outside", "host symlink -> ../outside/secret");
	probe("sub/h_deep", "host symlink sub/ -> ../../secret");
	snprintf(p, sizeof(p), "h_rel_up%s/secret", SECRETDIR);
	probe(p, "host symlink ../../.. then path");
	snprintf(p, sizeof(p), "h_proc_root%s/secret", SECRETDIR);
	probe(p, "host symlink /proc/self/root then path");
	probe("h_proc_root/etc/passwd", "host symlink /proc/self/root");
	probe("h_proc_cwd/../secret", "host symlink /proc/self/cwd then ..");
	probe("h_proc_cwd/../outside/secret", "host symlink /proc/self/cwd");
	snprintf(p, sizeof(p), "h_proc_1_root%s/secret", SECRETDIR);
	probe(p, "host symlink /proc/1/root then path");
	probe("h_proc_fd/0", "host symlink /proc/self/fd then 0");
	no_host_names("h_rel_up", "host symlink ../../..");
	no_host_names("h_proc_cwd/..", "host symlink /proc/self/cwd/..");
	/* the link targets must come back verbatim (they are data) */
	char t[PATH_MAX];
	ssize_t n = readlink("h_abs_secret", t, sizeof(t) - 1);
	if (n >= 0)
		t[n] = 0;
	snprintf(p, sizeof(p), "%s/secret", SECRETDIR);
	result(n >= 0 && strcmp(t, p) == 0, "readlink of a host symlink "
	    "returns its target as data", n < 0 ? strerror(errno) : t);
}

static void t_guest_symlinks(void)
{
	char p[PATH_MAX], t[PATH_MAX];

	snprintf(t, sizeof(t), "%s/secret", SECRETDIR);
	result(symlink(t, "g_abs") == 0, "guest symlink -> absolute secret "
	    "made", strerror(errno));
	probe("g_abs", "guest symlink -> absolute secret");
	symlink("../secret", "g_rel");
	probe("g_rel", "guest symlink -> ../secret");
	symlink("../outside/secret", "g_rel2");
	probe("g_rel2", "guest symlink -> ../outside/secret");
	snprintf(t, sizeof(t), "../../../../../../../..%s/secret", SECRETDIR);
	symlink(t, "g_rel3");
	probe("g_rel3", "guest symlink -> ../../../..secret");
	symlink("/proc/self/root", "g_proc_root");
	snprintf(p, sizeof(p), "g_proc_root%s/secret", SECRETDIR);
	probe(p, "guest symlink -> /proc/self/root then path");
	symlink("/proc/self/cwd", "g_proc_cwd");
	probe("g_proc_cwd/../secret", "guest symlink -> /proc/self/cwd, ..");
	mkdir("gdir", 0755);
	symlink("../..", "gdir/up");
	probe("gdir/up/secret", "guest symlink gdir/up -> ../..");
	no_host_names("gdir/up", "guest symlink gdir/up -> ../..");
}

static int read_dev(const char *p, off_t off, char *buf, size_t n)
{
	int fd = open(p, O_RDONLY | O_NONBLOCK);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = pread(fd, buf, n, off);
	close(fd);
	return r < 0 ? -errno : (int)r;
}

static void t_devices(void)
{
	char a[64], b[64], why[200];
	int ra, rb, fd;

	result(mknod("g_null", S_IFCHR | 0666, makedev(1, 3)) == 0,
	    "guest mknod c 1 3", strerror(errno));
	result(mknod("g_mem", S_IFCHR | 0600, makedev(1, 1)) == 0,
	    "guest mknod c 1 1 (mem)", strerror(errno));
	result(mknod("g_zero", S_IFCHR | 0666, makedev(1, 5)) == 0,
	    "guest mknod c 1 5 (zero)", strerror(errno));
	result(mkfifo("g_fifo", 0666) == 0, "guest mkfifo", strerror(errno));
	fd = open("g_null", O_WRONLY);
	result(fd >= 0 && write(fd, "x", 1) == 1, "guest c 1:3 opens and "
	    "swallows a write (the guest's null)", strerror(errno));
	if (fd >= 0)
		close(fd);
	memset(a, 1, sizeof(a));
	ra = read_dev("g_zero", 0, a, sizeof(a));
	result(ra == (int)sizeof(a) && a[0] == 0 && a[63] == 0,
	    "guest c 1:5 reads zeros (the guest's zero)", "not zeros");
	/* /dev/mem: whatever the guest-made node returns must equal the
	 * guest's own /dev/mem (BIOS area, allowed by STRICT_DEVMEM) */
	ra = read_dev("g_mem", 0xf0000, a, sizeof(a));
	rb = read_dev("/dev/mem", 0xf0000, b, sizeof(b));
	snprintf(why, sizeof(why), "g_mem %d, /dev/mem %d, bytes %s", ra, rb,
	    ra == rb && ra > 0 && memcmp(a, b, (size_t)ra) == 0 ? "equal" :
	    "differ");
	result(ra == rb && (ra <= 0 || memcmp(a, b, (size_t)ra) == 0),
	    "guest c 1:1 reads the guest's own memory, not the host's", why);
	printf("# INFO g_mem read: %s\n", why);
	/* host-made nodes in the share are also the guest's devices */
	ra = read_dev("h_mem", 0xf0000, a, sizeof(a));
	snprintf(why, sizeof(why), "h_mem %d, /dev/mem %d", ra, rb);
	result(ra == rb && (ra <= 0 || memcmp(a, b, (size_t)ra) == 0),
	    "host-made c 1:1 in the share reads the guest's memory", why);
	/* a FIFO made by the guest is a guest pipe */
	pid_t p = fork();
	if (p == 0) {
		int w = open("g_fifo", O_WRONLY);

		write(w, "through-the-fifo", 16);
		_exit(0);
	}
	fd = open("g_fifo", O_RDONLY);
	memset(a, 0, sizeof(a));
	ra = fd >= 0 ? (int)read(fd, a, 16) : -1;
	if (fd >= 0)
		close(fd);
	waitpid(p, NULL, 0);
	result(ra == 16 && memcmp(a, "through-the-fifo", 16) == 0,
	    "guest FIFO carries data between two guest processes", "no data");
	probe("h_fifo", "host-made FIFO");
}

/* The guest writes the names a careless daemon opens after entering its
 * sandbox (issue 9 finding 1), and file capabilities (finding 9); the
 * host restarts the daemon on this share and checks them
 * (tests/vm/escape.sh). */
static void write_file(const char *p, const char *s, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	result(fd >= 0 && write(fd, s, n) == (ssize_t)n, p, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void t_plant(void)
{
	static const char cmd[] = "phoenixfsd\0--seccomp=none\0"
	    "--modcaps=+sys_admin\0PLANTED-ARGV";
	static const char cap[20] = {1, 0, 0, 2, (char)0x80}; /* cap_setuid+ep */
	char p[64];
	int r;

	mkdir("proc", 0755);
	mkdir("proc/self", 0755);
	mkdir("proc/self/task", 0755);
	write_file("proc/self/oom_score_adj", "original", 8);
	write_file("proc/self/cmdline", cmd, sizeof(cmd));
	for (int i = 1; i <= 12; i++) {
		snprintf(p, sizeof(p), "proc/self/task/%d", i);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "proc/self/task/%d/comm", i);
		write_file(p, "planted", 7);
	}
	mkdir("dev", 0755);
	result(mkfifo("dev/null", 0666) == 0, "guest mkfifo dev/null",
	    strerror(errno));
	write_file("g_cap", "x", 1);
	r = setxattr("g_cap", "security.capability", cap, sizeof(cap), 0);
	printf("# INFO guest setxattr security.capability: %s\n",
	    r == 0 ? "accepted" : strerror(errno));
}

static void t_hardlinks(void)
{
	char buf[256];
	int err;
	ssize_t n;

	n = slurp_at(AT_FDCWD, "h_hardlink", buf, sizeof(buf), &err);
	printf("# INFO host-made hard link inside the share to a file whose "
	    "other name is outside: %s\n", n >= 0 ? buf : strerrorname_np(err));
	probe("h_hardlink", "host-made hard link");
	result(link("h_hardlink", "g_hl2") == 0, "guest link() to the "
	    "host-made hard link (inside the share)", strerror(errno));
	char t[PATH_MAX];
	snprintf(t, sizeof(t), "%s/secret", SECRETDIR);
	errno = 0;
	result(link(t, "g_hl_out") < 0, "guest link() naming the secret's "
	    "host path fails (guest namespace)", "link succeeded");
	probe("g_hl_out", "guest hard link attempt");
}

static int wait_for(const char *p, int secs)
{
	struct stat st;

	for (int i = 0; i < secs * 5; i++) {
		if (stat(p, &st) == 0)
			return 0;
		struct timespec t = {0, 200000000};

		nanosleep(&t, NULL);
	}
	return -1;
}

static void t_moved_cwd(void)
{
	int dfd, fd;
	char cwd[PATH_MAX], buf[256];
	int err;
	ssize_t n;

	if (chdir("/mnt/movable") < 0) {
		result(0, "chdir into movable/", strerror(errno));
		return;
	}
	dfd = open(".", O_RDONLY | O_DIRECTORY);
	fd = open("/mnt/sync-ready", O_WRONLY | O_CREAT, 0644);
	close(fd);
	if (wait_for("/mnt/moved-done", 120) < 0) {
		result(0, "host moved movable/ out of the share", "timeout");
		return;
	}
	result(1, "host moved movable/ out of the share (guest cwd inside)",
	    NULL);
	probe("../secret", "moved cwd");
	probe("../../secret", "moved cwd");
	probe("../outside/secret", "moved cwd");
	probe("../../outside/secret", "moved cwd");
	probe("../../../../../../../../etc/passwd", "moved cwd");
	probe_at(dfd, "../secret", "openat(moved dir fd)");
	probe_at(dfd, "../../secret", "openat(moved dir fd)");
	no_host_names("..", "moved cwd '..'");
	no_host_names("../..", "moved cwd '../..'");
	symlink("../secret", "up_link");
	probe("up_link", "moved cwd: guest symlink -> ../secret");
	/* what the guest can still do inside the moved directory (the
	 * directory's own content; not an escape through '..') */
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "getcwd: %s", strerrorname_np(errno));
	printf("# INFO moved cwd: getcwd = %s\n", cwd);
	n = slurp_at(AT_FDCWD, "inner", buf, sizeof(buf), &err);
	printf("# INFO moved cwd: read inner -> %s\n",
	    n >= 0 ? "ok (the moved dir's own file)" : strerrorname_np(err));
	probe("late", "moved cwd: file the host added after the move");
	fd = open("made-after-move", O_WRONLY | O_CREAT, 0644);
	printf("# INFO moved cwd: create made-after-move -> %s\n",
	    fd >= 0 ? "ok" : strerrorname_np(errno));
	if (fd >= 0)
		close(fd);
	close(dfd);
	chdir("/mnt");
}

static void walk(const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;
	char p[PATH_MAX], buf[65536];
	struct stat st;
	int err;

	if (depth > 12 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", strcmp(dir, "/") ? dir : "",
		    e->d_name);
		if (!strcmp(p, "/proc") || !strcmp(p, "/sys") ||
		    !strcmp(p, "/dev") || !strcmp(p, "/phx"))
			continue;
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk(p, depth + 1);
		else if (S_ISREG(st.st_mode) &&
		    slurp_at(AT_FDCWD, p, buf, sizeof(buf), &err) >= 0 &&
		    strstr(buf, TOKEN)) {
			char why[PATH_MAX + 50];

			snprintf(why, sizeof(why), "%s holds the secret", p);
			result(0, "walk of the guest's tree", why);
		}
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: escape TOKEN SECRETDIR HOSTPASSWD "
		    "LATETOKEN\n");
		return 2;
	}
	TOKEN = argv[1];
	SECRETDIR = argv[2];
	LATE = argv[4];
	fd = open(argv[3], O_RDONLY);
	if (fd >= 0) {
		hostpw_len = read(fd, hostpw, sizeof(hostpw));
		close(fd);
	}
	if (chdir("/mnt") < 0)
		return 2;
	t_root_dotdot();
	t_host_symlinks();
	t_guest_symlinks();
	t_devices();
	t_plant();
	t_hardlinks();
	t_moved_cwd();
	int before = nfail;
	walk("/", 0);
	result(nfail == before, "walk of the whole guest tree (no /proc, /sys, "
	    "/dev): no file holds the secret", "see above");
	printf("# escape: %d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
