/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's seccomp filter, the keeper's (filter.c, kfilter.c) and the
 * capability set (caps.c): a worker-like child with the filter in kill
 * mode survives the allowed set (files, io_uring, threads, credentials,
 * xattrs, locks, a thread name, accept4 on the listening slot, send on a
 * connected socket) and dies of SIGSYS on ptrace, mount, a close of a
 * reserved fd, any ioctl, fork-style or namespace clone, prctl escapes,
 * seccomp, socket(AF_INET), sendto with an address, signals or rlimits of
 * another process, io_uring_register beyond ring setup; clone3 answers
 * ENOSYS and socket(AF_UNIX)/connect EACCES; trap mode fails a forbidden
 * call with ENOSYS and goes on. The keeper's filter refuses the
 * deny-list, reports the call on stderr, allows what the keeper does
 * (fork, a worker-style clone, execveat of an fd, kill, wait) and the
 * worker's filter stacked on it; a second install does not stack.
 * --modcaps parsing.
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
#include <sys/shm.h>
#include <sys/stat.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/seccomp.h>
#include <sys/xattr.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "filter.h"
#include "intent.h"
#include "kfilter.h"
#include "region.h"
#include "tap.h"

static char dir[] = "/tmp/phx-filter.XXXXXX";

static void *
thread_fn(void *p)
{
	return p;
}

static int
thread_fn_int(void *p)
{
	(void)p;
	return 0;
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
	/* the mappings a worker makes: populated, shared memfd, grown */
	m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_POPULATE | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED ||
	    (m = mremap(m, 8192, 65536, MREMAP_MAYMOVE)) == MAP_FAILED ||
	    munmap(m, 65536) < 0)
		return 18;
	fd2 = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd2 < 0 || ftruncate(fd2, 4096) < 0 ||
	    (m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2,
	    0)) == MAP_FAILED || munmap(m, 4096) < 0 || close(fd2) < 0)
		return 19;
	unlinkat(d, path, 0);
	if (prctl(PR_SET_NAME, "phx-test") < 0)
		return 14;
	/* the connection slot: accept4 on REGION_FD_LISTEN, send on it */
	fd = accept4(REGION_FD_LISTEN, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0 || send(fd, "x", 1, MSG_NOSIGNAL) != 1)
		return 15;
	/* worker.c is_conn(): the type of a socket a dead worker accepted */
	int v;
	socklen_t vl = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &vl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) < 0)
		return 17;
	close(fd);
	/* rlimits and signals of our own */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || setrlimit(RLIMIT_NOFILE,
	    &rl) < 0 || pthread_kill(pthread_self(), 0) != 0)
		return 16;
	return 0;
}

/* A listening socket at REGION_FD_LISTEN with one client queued on it. */
static int
listen_slot(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int l, c;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", dir);
	unlink(sun.sun_path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sun,
	    sizeof(sun)) < 0 || listen(l, 4) < 0 ||
	    connect(c, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    dup2(l, REGION_FD_LISTEN) < 0)
		return -1;
	close(l);
	return c;
}

enum what {
	ALLOWED, PTRACE, MOUNT, CLOSE_RESERVED, DUP_RESERVED,
	IOCTL_FIONREAD, IOCTL_TIOCSTI, CLONE_FORK, CLONE_NEWUSER_, CLONE_THREAD_NS,
	CLONE3, PRCTL_SECCOMP, PRCTL_DUMPABLE, SECCOMP_SYSCALL, SOCKET_INET,
	SOCKET_UNIX, CONNECT, SENDTO_ADDR, KILL_PARENT, TGKILL_PARENT, TGKILL_SELF,
	PRLIMIT_PARENT, ACCEPT_OTHER,
	URING_REGISTER_BUFFERS, UNSHARE, EXECVE,
	SETNS, BPF, USERFAULTFD, PERF, KEYCTL, PROCESS_VM, PERSONALITY,
	OPEN_BY_HANDLE, FCNTL_SETOWN, FCNTL_SETSIG, FCNTL_GETFD,
	/* what CAP_IPC_LOCK (caps.c) would add: locked or huge pages */
	MMAP_LOCKED, MMAP_HUGETLB, MEMFD_HUGETLB, MLOCK, MLOCK2, MLOCKALL,
	SHMGET_HUGETLB, SHMCTL_LOCK, URING_REGISTER_PBUF_RING,
	URING_REGISTER_MEM_REGION, URING_SETUP_BIG,
	/* the keeper's own calls, under its filter */
	GETSOCKOPT_TYPE, GETSOCKOPT_PEERCRED, GETRUSAGE_THREAD, GETRUSAGE_SELF,
	KEEPER_ALLOWED, KEEPER_THEN_WORKER, KEEPER_TWICE, EXECVEAT_PATH,
	EXECVEAT_FD,
};

/* The worker filter's --inode-file-handles side (open_by_handle_at). */
static bool with_handles;

/* Seccomp_filters of /proc/self/status, -1 if unknown. */
static int
filters_of_self(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "Seccomp_filters:");
	return p != NULL ? atoi(p + 16) : -1;
}

/* A fork-style clone; the child exits at once, nobody waits (wait4 is
 * not the worker's either). */
static long
raw_clone(unsigned long flags)
{
	long r = syscall(SYS_clone, flags, NULL, NULL, NULL, 0);

	if (r == 0)
		_exit(0);
	return r;
}

static int
exit_thread(void *p)
{
	(void)p;
	syscall(SYS_exit, 0);
	return 0;
}

/* A thread-style clone with extra flags, on a stack of its own. */
static int
thread_clone(unsigned long flags)
{
	static char stack[16384] __attribute__((aligned(16)));

	return clone(exit_thread, stack + sizeof(stack), (int)flags, NULL);
}

static char true_bin[] = "/bin/true";

/* What the keeper does for the whole life of the daemon. */
static int
keeper_workload(void)
{
	char *argv[] = {true_bin, NULL};
	char stack[16384] __attribute__((aligned(16)));
	int st, fd;
	pid_t p;

	p = fork(); /* the probe of an upgrade */
	if (p == 0)
		_exit(7);
	if (p < 0 || waitpid(p, &st, 0) != p || WEXITSTATUS(st) != 7)
		return 20;
	/* a worker: clone(CLONE_FILES | ... | SIGCHLD) on its own stack */
	p = clone(thread_fn_int, stack + sizeof(stack), CLONE_FILES |
	    CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID |
	    SIGCHLD, NULL, &st, NULL, &st);
	if (p < 0 || waitpid(p, &st, __WALL) != p)
		return 21;
	p = fork(); /* kill and reap */
	if (p == 0) {
		pause();
		_exit(0);
	}
	if (p < 0 || kill(p, SIGKILL) < 0 || waitpid(p, &st, 0) != p)
		return 22;
	/* the upgrade: execveat(fd, "", AT_EMPTY_PATH) in a child */
	fd = open(true_bin, O_PATH | O_CLOEXEC);
	p = fork();
	if (p == 0) {
		syscall(SYS_execveat, fd, "", argv, NULL, AT_EMPTY_PATH);
		_exit(99);
	}
	if (fd < 0 || p < 0 || waitpid(p, &st, 0) != p ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 23;
	close(fd);
	if (prctl(PR_SET_DUMPABLE, 0) < 0 || prctl(PR_SET_NAME, "k") < 0)
		return 24;
	return 0;
}

/*
 * Runs what in a child with the filter of mode (the keeper's if keeper or
 * what is a KEEPER_ case, else the worker's), stderr to errfd if >= 0;
 * returns its wait status and the call's errno.
 */
static int
child_full(enum config_seccomp mode, enum what what, bool keeper, int errfd,
    int *ret_errno)
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
		if (errfd >= 0)
			dup2(errfd, STDERR_FILENO);
		if (listen_slot() < 0)
			_exit(101);
		if (what >= KEEPER_ALLOWED) {
			if (kfilter_install(mode) != 1)
				_exit(102);
		} else if (keeper) {
			if (kfilter_install(mode) != 1)
				_exit(102);
		} else if (filter_install(mode, with_handles) < 0) {
			_exit(100);
		}
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
		case IOCTL_FIONREAD: {
			int n;
			rc = ioctl(0, FIONREAD, &n);
			break;
		}
		case IOCTL_TIOCSTI:
			rc = ioctl(0, TIOCSTI, "x");
			break;
		case CLONE_FORK: /* what glibc's fork() passes */
			rc = (int)raw_clone(CLONE_CHILD_SETTID |
			    CLONE_CHILD_CLEARTID | SIGCHLD);
			break;
		case CLONE_NEWUSER_:
			rc = (int)raw_clone(CLONE_NEWUSER | SIGCHLD);
			break;
		case CLONE_THREAD_NS: /* thread flags plus a namespace */
			rc = thread_clone(CLONE_VM | CLONE_FS | CLONE_FILES |
			    CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
			    CLONE_NEWNET);
			break;
		case CLONE3: {
			struct clone_args ca = { .exit_signal = SIGCHLD };
			rc = (int)syscall(SYS_clone3, &ca, sizeof(ca));
			if (rc == 0)
				_exit(0);
			break;
		}
		case PRCTL_SECCOMP:
			rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
			break;
		case PRCTL_DUMPABLE:
			rc = prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
			break;
		case SECCOMP_SYSCALL:
			rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT,
			    0, NULL);
			break;
		case SOCKET_INET:
			rc = socket(AF_INET, SOCK_STREAM, 0);
			break;
		case SOCKET_UNIX:
			rc = socket(AF_UNIX, SOCK_DGRAM, 0);
			break;
		case CONNECT: {
			struct sockaddr_un sun = { .sun_family = AF_UNIX,
			    .sun_path = "/dev/log" };
			rc = connect(0, (struct sockaddr *)&sun, sizeof(sun));
			break;
		}
		case SENDTO_ADDR: {
			struct sockaddr_un sun = { .sun_family = AF_UNIX,
			    .sun_path = "/dev/log" };
			rc = (int)sendto(0, "x", 1, 0,
			    (struct sockaddr *)&sun, sizeof(sun));
			break;
		}
		case GETRUSAGE_THREAD:
		case GETRUSAGE_SELF: {
			struct rusage ru;

			rc = getrusage(what == GETRUSAGE_THREAD ? RUSAGE_THREAD :
			    RUSAGE_SELF, &ru);
			break;
		}
		case GETSOCKOPT_TYPE:
		case GETSOCKOPT_PEERCRED: {
			/* fd 0: ENOTSOCK unless a socket; the filter decides
			 * before the kernel looks at the fd. */
			int v;
			struct ucred uc;
			socklen_t len = sizeof(v);

			if (what == GETSOCKOPT_PEERCRED) {
				len = sizeof(uc);
				rc = getsockopt(0, SOL_SOCKET, SO_PEERCRED, &uc,
				    &len);
				break;
			}
			rc = getsockopt(0, SOL_SOCKET, SO_TYPE, &v, &len);
			len = sizeof(v);
			(void)getsockopt(0, SOL_SOCKET, SO_DOMAIN, &v, &len);
			len = sizeof(v);
			(void)getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &v,
			    &len);
			break;
		}
		case KILL_PARENT:
			rc = kill(getppid(), 0);
			break;
		case TGKILL_PARENT:
			rc = (int)syscall(SYS_tgkill, getppid(), getppid(), 0);
			break;
		case TGKILL_SELF:
			rc = (int)syscall(SYS_tgkill, getpid(), gettid(), 0);
			break;
		case PRLIMIT_PARENT: {
			struct rlimit rl;
			rc = prlimit(getppid(), RLIMIT_NOFILE, NULL, &rl);
			break;
		}
		case ACCEPT_OTHER:
			rc = accept4(0, NULL, NULL, 0);
			break;
		case URING_REGISTER_BUFFERS:
			rc = (int)syscall(SYS_io_uring_register, 0, 0, NULL, 0);
			break;
		case UNSHARE:
			rc = unshare(CLONE_NEWNS);
			break;
		case EXECVE: {
			char *argv[] = {true_bin, NULL};
			rc = execve(true_bin, argv, NULL);
			break;
		}
		case SETNS:
			rc = setns(0, 0);
			break;
		case BPF:
			rc = (int)syscall(SYS_bpf, 0, NULL, 0);
			break;
		case USERFAULTFD:
			rc = (int)syscall(SYS_userfaultfd, 0);
			break;
		case PERF:
			rc = (int)syscall(SYS_perf_event_open, NULL, 0, -1, -1,
			    0);
			break;
		case KEYCTL:
			rc = (int)syscall(SYS_keyctl, 0, 0, 0, 0, 0);
			break;
		case PROCESS_VM:
			rc = (int)syscall(SYS_process_vm_readv, getppid(), NULL,
			    0, NULL, 0, 0);
			break;
		case PERSONALITY:
			rc = (int)syscall(SYS_personality, 0xffffffff);
			break;
		case KEEPER_ALLOWED:
			rc = keeper_workload();
			break;
		case KEEPER_THEN_WORKER: /* a worker under both filters */
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
			    filter_install(mode, with_handles) < 0)
				_exit(103);
			rc = allowed_workload();
			break;
		case KEEPER_TWICE: /* a resumed keeper: no second filter */
			rc = kfilter_install(mode);
			if (rc == 0 && filters_of_self() != 1)
				rc = 50 + filters_of_self();
			break;
		case EXECVEAT_PATH: {
			char *argv[] = {true_bin, NULL};
			rc = (int)syscall(SYS_execveat, AT_FDCWD, true_bin,
			    argv, NULL, 0);
			break;
		}
		case FCNTL_SETOWN: /* SIGIO to the keeper on I/O */
			rc = fcntl(0, F_SETOWN, (int)getppid());
			break;
		case FCNTL_SETSIG: /* and that signal SIGKILL */
			rc = fcntl(0, F_SETSIG, SIGKILL);
			break;
		case FCNTL_GETFD:
			rc = fcntl(0, F_GETFD) < 0 ? -1 : 0;
			break;
		case OPEN_BY_HANDLE: { /* a forged handle: "shocker" */
			struct {
				struct file_handle h;
				uint32_t f[2];
			} fh = {.h = {.handle_bytes = 8, .handle_type = 1},
			    .f = {2, 0}};
			int m = open("/", O_RDONLY | O_DIRECTORY);
			rc = open_by_handle_at(m, &fh.h, O_RDONLY);
			break;
		}
		case MMAP_LOCKED:
		case MMAP_HUGETLB: {
			void *m = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | (what == MMAP_LOCKED ?
			    MAP_LOCKED : MAP_HUGETLB), -1, 0);
			rc = m == MAP_FAILED ? -1 : 0;
			break;
		}
		case MEMFD_HUGETLB:
			rc = memfd_create("h", MFD_HUGETLB);
			break;
		case MLOCK: {
			static char page[4096] __attribute__((aligned(4096)));
			rc = mlock(page, sizeof(page));
			break;
		}
		case MLOCK2:
			rc = (int)syscall(SYS_mlock2, &rc, 1, 0);
			break;
		case MLOCKALL:
			rc = mlockall(MCL_CURRENT | MCL_FUTURE);
			break;
		case SHMGET_HUGETLB:
			rc = shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB |
			    0600);
			break;
		case SHMCTL_LOCK:
			rc = shmctl(0, SHM_LOCK, NULL);
			break;
		case URING_REGISTER_PBUF_RING:
			rc = (int)syscall(SYS_io_uring_register, 0,
			    IORING_REGISTER_PBUF_RING, NULL, 1);
			break;
		case URING_REGISTER_MEM_REGION: /* 34 since Linux 6.13 */
			rc = (int)syscall(SYS_io_uring_register, 0, 34, NULL, 1);
			break;
		case URING_SETUP_BIG: { /* 32768 SQEs of 64 bytes: 2 MiB */
			struct io_uring_params up;
			memset(&up, 0, sizeof(up));
			rc = (int)syscall(SYS_io_uring_setup, 32768, &up);
			break;
		}
		case EXECVEAT_FD: { /* a path from a dirfd, not the fd itself */
			char *argv[] = {true_bin, NULL};
			int d = open("/bin", O_PATH | O_DIRECTORY);
			rc = (int)syscall(SYS_execveat, d, "true", argv, NULL,
			    0);
			break;
		}
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

static int
child(enum config_seccomp mode, enum what what, int *ret_errno)
{
	return child_full(mode, what, false, -1, ret_errno);
}

static int
kchild(enum config_seccomp mode, enum what what, int *ret_errno)
{
	return child_full(mode, what, true, -1, ret_errno);
}

static bool
died_of_sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

/* what, under the keeper's or the worker's filter in kill mode, dies. */
static void
expect_sigsys(bool keeper, enum what what, const char *name)
{
	int e, st = child_full(CONFIG_SECCOMP_KILL, what, keeper, -1, &e);

	ok(died_of_sigsys(st), "%s: %s dies of SIGSYS (0x%x)",
	    keeper ? "keeper" : "worker", name, st);
}

/*
 * A ring as intent.c sets one up (restricted, then enabled) refuses every
 * register operation, the ones that pin memory first: with CAP_IPC_LOCK
 * nothing would charge them to RLIMIT_MEMLOCK. No filter here: the ring's
 * own restrictions answer.
 */
static void
test_ring_registers(void)
{
	static char page[4096] __attribute__((aligned(4096)));
	struct region_params rp = {.max_inodes = 16, .max_handles = 16};
	struct io_uring_buf_reg br = {.ring_addr = (uintptr_t)page,
	    .ring_entries = 1, .bgid = 7};
	struct iovec iov = {page, sizeof(page)};
	static struct region reg;
	int fd, rc, e;

	if (region_create(&reg, &rp) < 0 ||
	    intent_thread_init(&reg, &reg.threads[0]) < 0 ||
	    (fd = intent_ring_fd()) < 0) {
		ok(true, "# SKIP no region or no io_uring here");
		return;
	}
	rc = (int)syscall(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS,
	    &iov, 1);
	e = errno;
	ok(rc < 0 && e == EACCES, "our ring: REGISTER_BUFFERS refused by its "
	    "restrictions (%d, errno %d)", rc, e);
	rc = (int)syscall(SYS_io_uring_register, fd, IORING_REGISTER_PBUF_RING,
	    &br, 1);
	e = errno;
	ok(rc < 0 && e == EACCES, "our ring: REGISTER_PBUF_RING refused by "
	    "its restrictions (%d, errno %d)", rc, e);
	intent_thread_fini(&reg.threads[0]);
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
	{
		/* the figure docs/sandbox.md gives: names resolved here */
		int pp[2];
		unsigned n = 0;

		if (pipe(pp) == 0) {
			pid_t p = fork();

			if (p == 0) {
				n = filter_install(CONFIG_SECCOMP_LOG,
				    false) == 0 ?
				    filter_allowed_count() : 0;
				(void)!write(pp[1], &n, sizeof(n));
				_exit(0);
			}
			close(pp[1]);
			(void)!read(pp[0], &n, sizeof(n));
			close(pp[0]);
			waitpid(p, NULL, 0);
		}
		diag("worker allow-list: %u names resolved on this system", n);
	}
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
	/* issue 9 finding 8: what the worker's filter now refuses */
	static const struct { enum what w; const char *name; } worker_kills[] = {
		{IOCTL_FIONREAD, "ioctl(FIONREAD)"},
		{IOCTL_TIOCSTI, "ioctl(TIOCSTI)"},
		{CLONE_FORK, "clone with fork's flags"},
		{CLONE_NEWUSER_, "clone(CLONE_NEWUSER)"},
		{CLONE_THREAD_NS, "clone(thread flags | CLONE_NEWNET)"},
		{PRCTL_SECCOMP, "prctl(PR_SET_SECCOMP)"},
		{PRCTL_DUMPABLE, "prctl(PR_SET_DUMPABLE, 1)"},
		{SECCOMP_SYSCALL, "seccomp()"},
		{SOCKET_INET, "socket(AF_INET)"},
		{SENDTO_ADDR, "sendto with an address"},
		{GETSOCKOPT_PEERCRED, "getsockopt(SO_PEERCRED)"},
		{GETRUSAGE_SELF, "getrusage(RUSAGE_SELF)"},
		{KILL_PARENT, "kill of the keeper"},
		{TGKILL_PARENT, "tgkill of the keeper"},
		{PRLIMIT_PARENT, "prlimit of the keeper"},
		{ACCEPT_OTHER, "accept4 on another fd"},
		{URING_REGISTER_BUFFERS, "io_uring_register(REGISTER_BUFFERS)"},
		{UNSHARE, "unshare"}, {SETNS, "setns"}, {EXECVE, "execve"},
		{BPF, "bpf"}, {USERFAULTFD, "userfaultfd"},
		{PERF, "perf_event_open"}, {KEYCTL, "keyctl"},
		{PROCESS_VM, "process_vm_readv"}, {PERSONALITY, "personality"},
		{FCNTL_SETOWN, "fcntl(F_SETOWN, the keeper)"},
		{FCNTL_SETSIG, "fcntl(F_SETSIG, SIGKILL)"},
		{MMAP_LOCKED, "mmap(MAP_LOCKED)"},
		{MMAP_HUGETLB, "mmap(MAP_HUGETLB)"},
		{MEMFD_HUGETLB, "memfd_create(MFD_HUGETLB)"},
		{MLOCK, "mlock"}, {MLOCK2, "mlock2"}, {MLOCKALL, "mlockall"},
		{SHMGET_HUGETLB, "shmget(SHM_HUGETLB)"},
		{SHMCTL_LOCK, "shmctl(SHM_LOCK)"},
		{URING_REGISTER_PBUF_RING,
		    "io_uring_register(REGISTER_PBUF_RING)"},
		{URING_REGISTER_MEM_REGION,
		    "io_uring_register(REGISTER_MEM_REGION)"},
		{URING_SETUP_BIG, "io_uring_setup of 32768 entries"},
	};
	st = child(CONFIG_SECCOMP_KILL, FCNTL_GETFD, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "worker: fcntl(F_GETFD) allowed (0x%x)", st);
	for (size_t i = 0; i < sizeof(worker_kills) / sizeof(worker_kills[0]);
	    i++)
		expect_sigsys(false, worker_kills[i].w, worker_kills[i].name);
	/* open_by_handle_at only with --inode-file-handles (shocker) */
	st = child(CONFIG_SECCOMP_KILL, OPEN_BY_HANDLE, &e);
	ok(died_of_sigsys(st), "worker without file handles: "
	    "open_by_handle_at dies of SIGSYS (0x%x)", st);
	with_handles = true;
	st = child(CONFIG_SECCOMP_KILL, OPEN_BY_HANDLE, &e);
	ok(WIFEXITED(st), "worker with file handles: open_by_handle_at "
	    "runs (status 0x%x, errno %d)", st, e);
	with_handles = false;
	st = child(CONFIG_SECCOMP_KILL, CLONE3, &e);
	ok(WIFEXITED(st) && e == ENOSYS,
	    "worker: clone3 answers ENOSYS (glibc falls back to clone) (%d)", e);
	/* worker.c is_conn(): the first worker's orphan connection check */
	st = child(CONFIG_SECCOMP_KILL, GETSOCKOPT_TYPE, &e);
	ok(WIFEXITED(st), "worker: getsockopt SO_TYPE, SO_DOMAIN, "
	    "SO_ACCEPTCONN allowed (0x%x, %d)", st, e);
	/* queue_pool.c slow mode: the calling thread's sleeps */
	st = child(CONFIG_SECCOMP_KILL, GETRUSAGE_THREAD, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "worker: getrusage(RUSAGE_THREAD) allowed (0x%x, %d)", st, e);
	st = child(CONFIG_SECCOMP_KILL, SOCKET_UNIX, &e);
	ok(WIFEXITED(st) && e == EACCES,
	    "worker: socket(AF_UNIX) answers EACCES (%d)", e);
	st = child(CONFIG_SECCOMP_KILL, CONNECT, &e);
	ok(WIFEXITED(st) && e == EACCES, "worker: connect answers EACCES (%d)",
	    e);

	/*
	 * The filter the keeper compiles once (filter_prepare) and each
	 * worker loads with its own pid written in: the same answers.
	 */
	ok(filter_prepare(CONFIG_SECCOMP_KILL, false),
	    "prepared: the keeper compiled the worker filter");
	st = child(CONFIG_SECCOMP_KILL, TGKILL_SELF, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && e == 0,
	    "prepared: tgkill of the worker's own pid allowed (0x%x, %d)", st,
	    e);
	expect_sigsys(false, TGKILL_PARENT, "prepared: tgkill of the keeper");
	expect_sigsys(false, PTRACE, "prepared: ptrace");
	st = child(CONFIG_SECCOMP_KILL, ALLOWED, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "prepared: the allowed workload runs (0x%x)", st);
	st = child(CONFIG_SECCOMP_KILL, OPEN_BY_HANDLE, &e);
	ok(died_of_sigsys(st), "prepared without file handles: "
	    "open_by_handle_at dies of SIGSYS (0x%x)", st);
	with_handles = true; /* not the prepared mode: compiled as before */
	st = child(CONFIG_SECCOMP_KILL, OPEN_BY_HANDLE, &e);
	ok(WIFEXITED(st), "prepared for another mode: with file handles "
	    "open_by_handle_at runs (0x%x)", st);
	with_handles = false;

	/* the keeper's filter */
	static const struct { enum what w; const char *name; } keeper_kills[] = {
		{PTRACE, "ptrace"}, {MOUNT, "mount"}, {UNSHARE, "unshare"},
		{SETNS, "setns"}, {CLONE_NEWUSER_, "clone(CLONE_NEWUSER)"},
		{SOCKET_INET, "socket(AF_INET)"}, {EXECVE, "execve of a path"},
		{EXECVEAT_PATH, "execveat(AT_FDCWD, path)"},
		{EXECVEAT_FD, "execveat(dirfd, name) without AT_EMPTY_PATH"},
		{IOCTL_TIOCSTI, "ioctl(TIOCSTI)"}, {BPF, "bpf"},
		{USERFAULTFD, "userfaultfd"}, {PERF, "perf_event_open"},
		{KEYCTL, "keyctl"}, {PROCESS_VM, "process_vm_readv"},
		{PERSONALITY, "personality"},
		{PRCTL_DUMPABLE, "prctl(PR_SET_DUMPABLE, 1)"},
	};
	for (size_t i = 0; i < sizeof(keeper_kills) / sizeof(keeper_kills[0]);
	    i++)
		expect_sigsys(true, keeper_kills[i].w, keeper_kills[i].name);
	st = kchild(CONFIG_SECCOMP_KILL, CLONE3, &e);
	ok(WIFEXITED(st) && e == ENOSYS, "keeper: clone3 answers ENOSYS (%d)",
	    e);
	st = kchild(CONFIG_SECCOMP_KILL, CONNECT, &e);
	ok(WIFEXITED(st) && e == EACCES, "keeper: connect answers EACCES (%d)",
	    e);
	st = kchild(CONFIG_SECCOMP_KILL, KEEPER_ALLOWED, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "keeper: fork, worker clone, kill, wait, execveat of an fd, "
	    "prctl allowed (status 0x%x)", st);
	st = kchild(CONFIG_SECCOMP_KILL, KEEPER_THEN_WORKER, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "keeper + worker filters stacked: the worker's calls run "
	    "(status 0x%x)", st);
	st = kchild(CONFIG_SECCOMP_KILL, KEEPER_TWICE, &e);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "keeper: a second install (a resumed keeper) stacks nothing "
	    "(status 0x%x)", st);
	st = kchild(CONFIG_SECCOMP_TRAP, PTRACE, &e);
	ok(WIFEXITED(st) && e == ENOSYS,
	    "keeper trap: ptrace fails with ENOSYS and goes on (%d)", e);
	{
		char out[256] = "";
		int pp[2];
		ssize_t n;

		if (pipe(pp) == 0) {
			st = child_full(CONFIG_SECCOMP_KILL, PTRACE, true, pp[1],
			    &e);
			close(pp[1]);
			n = read(pp[0], out, sizeof(out) - 1);
			out[n > 0 ? n : 0] = '\0';
			close(pp[0]);
		}
		ok(died_of_sigsys(st) && strstr(out, "phoenixfsd: keeper: "
		    "seccomp: forbidden syscall 101") != NULL,
		    "keeper: a refused call is reported on stderr (%s)",
		    strtok(out, "\n") ? out : "nothing");
	}

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
	    (set & (1ULL << CAP_DAC_READ_SEARCH)) == 0 &&
	    (set & (1ULL << CAP_MKNOD)) != 0, "the default worker set "
	    "(no dac_read_search)");
	{
		struct config cfg;

		memset(&cfg, 0, sizeof(cfg)); /* no --modcaps */
		cfg.inode_file_handles = CONFIG_IFH_NEVER;
		ok(caps_worker_set(&cfg, &set, msg, sizeof(msg)) == 0 &&
		    !(set & (1ULL << CAP_DAC_READ_SEARCH)),
		    "--inode-file-handles=never: no dac_read_search");
		cfg.inode_file_handles = CONFIG_IFH_PREFER;
		ok(caps_worker_set(&cfg, &set, msg, sizeof(msg)) == 0 &&
		    (set & (1ULL << CAP_DAC_READ_SEARCH)),
		    "--inode-file-handles=prefer: dac_read_search");
		set = caps_worker_default();
	}
	is_int(caps_modify("+sys_admin:-mknod", &set, msg, sizeof(msg)), 0, "+sys_admin:-mknod");
	ok((set & (1ULL << CAP_SYS_ADMIN)) && !(set & (1ULL << CAP_MKNOD)),
	    "sys_admin added, mknod dropped");
	is_int(caps_modify("-CAP_SETFCAP", &set, msg, sizeof(msg)), 0, "-CAP_SETFCAP");
	ok(!(set & (1ULL << CAP_SETFCAP)), "setfcap dropped");
	is_int(caps_modify("+nosuch", &set, msg, sizeof(msg)), -EINVAL, "unknown name refused");
	is_int(caps_from_name("checkpoint_restore"), 40, "cap 40 by name");
	ok(caps_worker_default() & (1ULL << CAP_IPC_LOCK), "the default worker "
	    "set has ipc_lock (rings not charged to the uid's locked_vm)");
	test_ring_registers();
	rmdir(dir);
	return done_testing();
}
