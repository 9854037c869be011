/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's seccomp filter and capability set (filter.c, caps.c): a
 * worker-like child with the filter in kill mode survives the allowed set
 * (files, io_uring, threads, credentials, xattrs, locks) and dies of
 * SIGSYS on ptrace, mount and a close of a reserved fd; trap mode fails a
 * forbidden call with ENOSYS and goes on; --modcaps parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "caps.h"
#include "filter.h"
#include "region.h"
#include "tap.h"

static char dir[] = "/tmp/phx-filter.XXXXXX";

static void *
thread_fn(void *p)
{
	return p;
}

/* What a worker does, in small: every call must be allowed. */
static int
allowed_workload(void)
{
	char path[256], buf[64];
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct stat st;
	pthread_t th;
	int d, fd, fd2;

	d = open(dir, O_PATH | O_DIRECTORY);
	if (d < 0)
		return 1;
	fd = openat(d, "f", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0 || pwrite(fd, "hello", 5, 0) != 5 || fsync(fd) < 0)
		return 2;
	if (fstatat(d, "f", &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_size != 5)
		return 3;
	if (flock(fd, LOCK_EX) < 0 || flock(fd, LOCK_UN) < 0)
		return 4;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return 5;
	/* xattrs may be unsupported (tmpfs user.*: yes since 6.6) */
	if (fsetxattr(fd, "user.t", "v", 1, 0) < 0 && errno != ENOTSUP)
		return 6;
	(void)fgetxattr(fd, "user.t", buf, sizeof(buf));
	fd2 = openat(d, ".", O_TMPFILE | O_RDWR, 0600);
	if (fd2 >= 0)
		close(fd2);
	if (renameat2(d, "f", d, "g", RENAME_NOREPLACE) < 0 ||
	    symlinkat("g", d, "l") < 0 || linkat(d, "g", d, "h", 0) < 0 ||
	    unlinkat(d, "h", 0) < 0 || unlinkat(d, "l", 0) < 0)
		return 7;
	if (io_uring_queue_init(4, &ring, 0) < 0)
		return 8;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, buf, 5, 0);
	if (io_uring_submit_and_wait(&ring, 1) < 0 ||
	    io_uring_wait_cqe(&ring, &cqe) < 0 || cqe->res != 5)
		return 9;
	io_uring_queue_exit(&ring);
	if (pthread_create(&th, NULL, thread_fn, NULL) != 0 ||
	    pthread_join(th, NULL) != 0)
		return 10;
	if (syscall(SYS_setresgid, -1, 65534, -1) < 0 ||
	    syscall(SYS_setresuid, -1, 65534, -1) < 0 ||
	    syscall(SYS_setresuid, -1, 0, -1) < 0 ||
	    syscall(SYS_setresgid, -1, 0, -1) < 0)
		return 11;
	snprintf(path, sizeof(path), "%s", "g");
	if (dup2(fd, 100) < 0 || close(100) < 0 || close(fd) < 0)
		return 12;
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || madvise(m, 4096, MADV_DONTNEED) < 0 ||
	    munmap(m, 4096) < 0)
		return 13;
	unlinkat(d, path, 0);
	return 0;
}

enum what { ALLOWED, PTRACE, MOUNT, CLOSE_RESERVED, DUP_RESERVED };

/* Runs what in a child with the filter of mode; returns its wait status. */
static int
child(enum config_seccomp mode, enum what what, int *ret_errno)
{
	int pfd[2], st = 0;
	pid_t p;

	if (pipe(pfd) < 0)
		return -1;
	p = fork();
	if (p == 0) {
		struct rlimit no_core = {0, 0};
		int rc = 0, e = 0;

		setrlimit(RLIMIT_CORE, &no_core);
		close(pfd[0]);
		if (filter_install(mode) < 0)
			_exit(100);
		switch (what) {
		case ALLOWED:
			rc = allowed_workload();
			break;
		case PTRACE:
			rc = (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
			break;
		case MOUNT:
			rc = mount("none", dir, "tmpfs", 0, NULL);
			break;
		case CLOSE_RESERVED:
			rc = close(REGION_FD_STATE);
			break;
		case DUP_RESERVED:
			rc = dup2(0, REGION_FD_LISTEN);
			break;
		}
		e = rc < 0 ? errno : 0;
		(void)!write(pfd[1], &e, sizeof(e));
		_exit(rc < 0 ? 0 : rc);
	}
	close(pfd[1]);
	*ret_errno = -1;
	(void)!read(pfd[0], ret_errno, sizeof(*ret_errno));
	close(pfd[0]);
	waitpid(p, &st, 0);
	return st;
}

static bool
died_of_sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

int
main(void)
{
	char msg[256];
	uint64_t set;
	int st, e;

	if (mkdtemp(dir) == NULL)
		return 1;
	st = child(CONFIG_SECCOMP_KILL, ALLOWED, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "kill: the worker's calls are allowed (status 0x%x)", st);
	ok(filter_allowed_count() == 0, "the parent has no filter");
	st = child(CONFIG_SECCOMP_KILL, PTRACE, &e);
	ok(died_of_sigsys(st), "kill: ptrace dies of SIGSYS (0x%x)", st);
	st = child(CONFIG_SECCOMP_KILL, MOUNT, &e);
	ok(died_of_sigsys(st), "kill: mount dies of SIGSYS (0x%x)", st);
	st = child(CONFIG_SECCOMP_KILL, CLOSE_RESERVED, &e);
	ok(died_of_sigsys(st), "kill: close of a reserved fd dies (0x%x)", st);
	st = child(CONFIG_SECCOMP_KILL, DUP_RESERVED, &e);
	ok(died_of_sigsys(st), "kill: dup2 onto a reserved fd dies (0x%x)",
	    st);
	st = child(CONFIG_SECCOMP_TRAP, PTRACE, &e);
	ok(WIFEXITED(st) && e == ENOSYS,
	    "trap: ptrace fails with ENOSYS and the process goes on (%d)", e);
	st = child(CONFIG_SECCOMP_LOG, PTRACE, &e);
	ok(WIFEXITED(st) && e != ENOSYS, "log: ptrace runs (errno %d)", e);
	st = child(CONFIG_SECCOMP_NONE, ALLOWED, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "none: no filter");

	/* capabilities: --modcaps */
	set = caps_worker_default();
	ok((set & (1ULL << CAP_SYS_ADMIN)) == 0 &&
	    (set & (1ULL << CAP_DAC_READ_SEARCH)) != 0 &&
	    (set & (1ULL << CAP_MKNOD)) != 0, "the default worker set");
	is_int(caps_modify("+sys_admin:-mknod", &set, msg, sizeof(msg)), 0, "+sys_admin:-mknod");
	ok((set & (1ULL << CAP_SYS_ADMIN)) && !(set & (1ULL << CAP_MKNOD)),
	    "sys_admin added, mknod dropped");
	is_int(caps_modify("-CAP_SETFCAP", &set, msg, sizeof(msg)), 0, "-CAP_SETFCAP");
	ok(!(set & (1ULL << CAP_SETFCAP)), "setfcap dropped");
	is_int(caps_modify("+nosuch", &set, msg, sizeof(msg)), -EINVAL, "unknown name refused");
	is_int(caps_from_name("checkpoint_restore"), 40, "cap 40 by name");
	rmdir(dir);
	return done_testing();
}
