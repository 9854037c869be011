/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's seccomp allowlist. The list was measured: the unit, integ
 * and crash suites and a guest e2e run under --seccomp=log, reading the
 * kernel's "audit: type=1326" lines (see tests/integ/sandbox.sh), plus the
 * calls of the xattr, lock and copy operations. A name this architecture
 * or libseccomp does not know is skipped. Calls that can reach outside
 * the worker carry argument rules (add_arg_rules): clone only with
 * glibc's thread flags, clone3 ENOSYS (glibc then falls back to clone,
 * whose flags seccomp can see), no ioctl at all (FUSE_IOCTL is answered
 * ENOSYS, nothing of ours calls one), prctl only to name a thread,
 * accept4 only on the listening socket, sendto only on a connected
 * socket, getsockopt only SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN, signals and
 * rlimits only to ourselves, getrusage only of the calling thread,
 * io_uring_register only what ring setup needs,
 * io_uring_setup only of a small ring, mmap without MAP_LOCKED or
 * MAP_HUGETLB and memfd_create without MFD_HUGETLB (the worker has
 * CAP_IPC_LOCK: caps.c; mlock, mlock2, mlockall, shmget and shmctl are not
 * in the list, and mremap only moves or resizes what mmap made, never
 * locked); socket(AF_UNIX) and connect fail with EACCES
 * (glibc's syslog reconnects after a syslogd restart: /dev/log is a path
 * in the share after pivot_root, never to be connected to).
 *
 * Limits: io_uring operations do not pass through seccomp, so a ring
 * could still close a reserved fd; the fd rules guard the plain syscalls.
 * Our rings are restricted (intent.c); a ring the worker would create for
 * itself is not, and only the namespaces bound what it can reach
 * (docs/sandbox.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "compiler.h"
#include "filter.h"
#include "region.h"

static const char *const allowed[] = {
	/* file data and metadata */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "lseek", "fsync", "fdatasync",
	"syncfs", "sync_file_range", "fallocate", "ftruncate",
	"copy_file_range", "sendfile", "splice",
	"openat", "openat2", "name_to_handle_at",
	"newfstatat", "fstat", "statx", "getdents64", "readlinkat",
	"mkdirat", "mknodat", "unlinkat", "renameat", "renameat2", "linkat",
	"symlinkat", "utimensat", "fchmod", "fchmodat", "fchmodat2", "fchown",
	"fchownat", "faccessat", "faccessat2", "statfs", "fstatfs", "fchdir",
	"getcwd", "umask",
	/* xattrs (pt_xattr.c), also through /proc/self/fd */
	"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr",
	"fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
	"lremovexattr", "fremovexattr", "getxattrat", "setxattrat",
	"listxattrat", "removexattrat",
	/* locks; fcntl has rules below */
	"flock",
	/* fds; close, close_range, dup2, dup3 and shutdown have rules below */
	"dup", "pipe2", "eventfd2", "poll", "ppoll",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2",
	/* the vhost-user socket (vu.c); accept4, sendto have rules below */
	"recvmsg", "recvfrom",
	/* io_uring (intent.c); io_uring_setup, _register have rules below */
	"io_uring_enter",
	/* memory; mmap and memfd_create have rules below */
	"munmap", "mremap", "mprotect", "madvise", "brk", "mincore",
	"msync", "membarrier",
	/* threads and time; clone, clone3, tgkill have rules below */
	"futex", "futex_waitv", "set_robust_list",
	"get_robust_list", "rseq", "set_tid_address", "exit", "exit_group",
	"sched_yield", "sched_getaffinity", "getpid", "gettid", "getppid",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time", "getrandom", "restart_syscall",
	/* signals and the fault handler */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"rt_sigtimedwait",
	/* credentials per thread (pt.c), limits; prctl, prlimit64 below */
	"setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getgroups", "capget", "getrlimit", "uname",
};

static unsigned n_allowed;

unsigned
filter_allowed_count(void)
{
	return n_allowed;
}

void
filter_report(const char *who, int nr)
{
	char buf[96];
	size_t n = 0, len = strlen(who);
	char digits[12];
	int i = 0;

	if (len > 40)
		len = 40;
	memcpy(buf, "phoenixfsd: ", 12);
	n = 12;
	memcpy(buf + n, who, len);
	n += len;
	memcpy(buf + n, ": seccomp: forbidden syscall ", 29);
	n += 29;
	if (nr < 0)
		nr = 0;
	do
		digits[i++] = (char)('0' + nr % 10);
	while ((nr /= 10) > 0 && i < (int)sizeof(digits));
	while (i > 0 && n < sizeof(buf) - 1)
		buf[n++] = digits[--i];
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
}

void
filter_fail_call(void *uc)
{
#if defined(__x86_64__)
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	((ucontext_t *)uc)->uc_mcontext.regs[0] = (unsigned long)-ENOSYS;
#else
	(void)uc;
#endif
}

/* trap: log the number without stdio, then fail the call with ENOSYS. */
static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	filter_report("worker", si->si_syscall);
	filter_fail_call(uc);
}

static int
install_sigsys(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

#define RSV_LO REGION_FD_BASE
#define RSV_HI REGION_FD_NEXT

/* The reserved fds (DESIGN 1): no close, dup onto, or shutdown. */
static int
add_fd_rules(scmp_filter_ctx ctx)
{
	int r = 0;

	/* close(fd): fd below or above the reserved range (an int: 32 bits) */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(close), 1,
	    SCMP_A0_32(SCMP_CMP_LT, RSV_LO));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(close), 1,
	    SCMP_A0_32(SCMP_CMP_GE, RSV_HI));
	/* close_range(first, last, flags): wholly below or above */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(close_range), 1,
	    SCMP_A1_32(SCMP_CMP_LT, RSV_LO));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(close_range), 1,
	    SCMP_A0_32(SCMP_CMP_GE, RSV_HI));
	/*
	 * dup2/dup3 onto a free number, or onto REGION_FD_CONN: the first
	 * worker moves the accepted connection there (worker.c connection()).
	 */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup2), 1,
	    SCMP_A1_32(SCMP_CMP_LT, RSV_LO));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup2), 1,
	    SCMP_A1_32(SCMP_CMP_GE, RSV_HI));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup2), 1,
	    SCMP_A1_32(SCMP_CMP_EQ, REGION_FD_CONN));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup3), 1,
	    SCMP_A1_32(SCMP_CMP_LT, RSV_LO));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup3), 1,
	    SCMP_A1_32(SCMP_CMP_GE, RSV_HI));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(dup3), 1,
	    SCMP_A1_32(SCMP_CMP_EQ, REGION_FD_CONN));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(shutdown), 1,
	    SCMP_A0_32(SCMP_CMP_NE, REGION_FD_CONN));
	return r;
}

/* The io_uring_register opcodes ring setup uses (intent.c, liburing). */
static const unsigned uring_register_ops[] = {
	IORING_REGISTER_PROBE, IORING_REGISTER_RESTRICTIONS,
	IORING_REGISTER_ENABLE_RINGS,
};

/*
 * The fcntl commands a worker may use: fd flags, (OFD) locks, seals, pipe
 * sizes, and the getters. Not F_SETOWN, F_SETOWN_EX, F_SETSIG, F_SETLEASE
 * or F_NOTIFY: each makes the kernel signal a process of our choosing
 * (SIGIO, or F_SETSIG's signal, SIGKILL included) on I/O, a lease break or
 * a directory change: a way to signal the keeper past the kill/tgkill
 * rules.
 */
static const int fcntl_cmds[] = {
	F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK,
	F_SETLKW, F_GETOWN, F_GETSIG, F_GETOWN_EX, F_OFD_GETLK, F_OFD_SETLK,
	F_OFD_SETLKW, F_GETLEASE, F_DUPFD_CLOEXEC, F_SETPIPE_SZ,
	F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS,
};

/*
 * mmap flags refused (the call is trapped): MAP_LOCKED would lock pages
 * past RLIMIT_MEMLOCK with the CAP_IPC_LOCK the worker has for its rings
 * (caps.c); MAP_HUGETLB (and MFD_HUGETLB of memfd_create) would take pages
 * of the host's huge page pool, which the guests' memory may come from.
 * Nothing of ours or of glibc's passes either (malloc only with the
 * glibc.malloc.hugetlb=2 tunable).
 */
#define MMAP_REFUSED (MAP_LOCKED | MAP_HUGETLB)

/*
 * io_uring_setup's SQ entries at most (intent.c asks 2 and 4): with
 * CAP_IPC_LOCK a ring's memory is charged to no RLIMIT_MEMLOCK (only to
 * the memory cgroup), and a ring of IORING_SETUP_NO_MMAP pins pages of
 * ours; this keeps the SQE array of a ring a worker would make for itself
 * at 2 KiB (the CQ size and the flags are in memory seccomp cannot read).
 */
#define URING_MAX_ENTRIES 16

/* The prctl options a worker uses once filtered (thread names). */
static const int prctl_options[] = {
	PR_SET_NAME, PR_GET_NAME,
};

/* getsockopt(SOL_SOCKET, ...) options the worker reads (worker.c). */
static const int sockopt_reads[] = {
	SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN,
};

/*
 * Where the worker's own pid goes in a filter compiled before it exists
 * (filter_prepare): no pid reaches it (pid_max <= 2^22), nor does any other
 * constant of the rules.
 */
#define PID_PLACEHOLDER 0x3ffffff1u

/* Calls allowed only with some arguments; see the file comment. */
static int
add_arg_rules(scmp_filter_ctx ctx, unsigned pid)
{
	int r = 0;

	/* clone: exactly glibc's pthread_create flags, no fork, no
	 * namespace, no exit signal. */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0_64(SCMP_CMP_EQ, FILTER_THREAD_CLONE_FLAGS));
	/* clone3 passes its flags in memory seccomp cannot read. */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
	    SCMP_SYS(clone3), 0);
	for (size_t i = 0; i < nitems(fcntl_cmds) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
		    SCMP_A1_32(SCMP_CMP_EQ, (unsigned)fcntl_cmds[i]));
	for (size_t i = 0; i < nitems(prctl_options) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0_32(SCMP_CMP_EQ, (unsigned)prctl_options[i]));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(io_uring_setup),
	    1, SCMP_A0_32(SCMP_CMP_LE, URING_MAX_ENTRIES));
	for (size_t i = 0; i < nitems(uring_register_ops) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(io_uring_register), 1,
		    SCMP_A1_32(SCMP_CMP_EQ, uring_register_ops[i]));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A3_32(SCMP_CMP_MASKED_EQ, MMAP_REFUSED, 0));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(memfd_create),
	    1, SCMP_A1_32(SCMP_CMP_MASKED_EQ, MFD_HUGETLB, 0));
	/* The first worker accepts the one connection (worker.c). */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(accept4), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, REGION_FD_LISTEN));
	/* worker.c is_conn(): what a socket an earlier worker accepted is. */
	for (size_t i = 0; i < nitems(sockopt_reads) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt),
		    2, SCMP_A1_32(SCMP_CMP_EQ, SOL_SOCKET),
		    SCMP_A2_32(SCMP_CMP_EQ, (unsigned)sockopt_reads[i]));
	/* send() on the connection or the syslog socket: no address. */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
	    SCMP_A4_64(SCMP_CMP_EQ, 0));
	/* Signals (raise, pthread_kill, fault.c) only to our own threads,
	 * rlimits only our own (the keeper's are not ours to lower). */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, pid));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, 0));
	/* A thread's own usage: slow mode's sleep count (queue_pool.c). */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getrusage), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, RUSAGE_THREAD));
	/* glibc's syslog reconnect: refused quietly, never a kill. */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket),
	    1, SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX));
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
	    SCMP_SYS(connect), 0);
	return r;
}

/*
 * The filter of mode, with handles, allowing tgkill to pid. NULL for
 * CONFIG_SECCOMP_NONE (and *ret_err 0) or on an error (*ret_err).
 */
static scmp_filter_ctx
build(enum config_seccomp mode, bool handles, unsigned pid, int *ret_err)
{
	scmp_filter_ctx ctx;
	uint32_t def;
	int r;

	*ret_err = 0;
	switch (mode) {
	case CONFIG_SECCOMP_NONE:
		return NULL;
	case CONFIG_SECCOMP_LOG:
		def = SCMP_ACT_LOG;
		break;
	case CONFIG_SECCOMP_TRAP:
		def = SCMP_ACT_TRAP;
		break;
	case CONFIG_SECCOMP_KILL:
	default:
#ifdef PHX_SECCOMP_FORCE_LOG
		/* A build to measure the list: kill becomes log. */
		def = SCMP_ACT_LOG;
#else
		/*
		 * TRAP, not KILL_PROCESS: the SIGSYS goes to the fault
		 * handler (fault.c), which logs the syscall, counts the crash
		 * against the request in flight (so a request that reaches a
		 * forbidden call is quarantined, and a loop of them degrades
		 * the service instead of respawning for ever), and dies of
		 * SIGSYS. The call never runs either way.
		 */
		def = SCMP_ACT_TRAP;
#endif
		break;
	}
	ctx = seccomp_init(def);
	if (ctx == NULL) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	n_allowed = 0;
	r = 0;
	for (size_t i = 0; i < nitems(allowed) && r == 0; i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown here (arch or libseccomp age) */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r == 0)
			n_allowed++;
	}
	/*
	 * With file handles only: a forged handle opens any inode of the
	 * share's file system, outside the share too (with the
	 * dac_read_search that caps.c then grants).
	 */
	if (r == 0 && handles) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(open_by_handle_at), 0);
		if (r == 0)
			n_allowed++;
	}
	r = r ?: add_fd_rules(ctx);
	r = r ?: add_arg_rules(ctx, pid);
#ifdef PHX_SECCOMP_FORCE_LOG
	/* Log the ERRNO answers too (clone3, socket, connect). */
	r = r ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
#endif
	if (r < 0) {
		seccomp_release(ctx);
		*ret_err = r;
		return NULL;
	}
	return ctx;
}

/*
 * The worker filter compiled by the keeper, before any worker: compiling
 * it takes 1.6-2 ms of libseccomp (measured), and every worker is a copy
 * of the keeper's memory, so a new worker only writes its pid into it and
 * loads it (filter_install). Never loaded by the keeper itself.
 */
static struct {
	struct sock_filter *insns;
	unsigned short len;
	enum config_seccomp mode;
	bool handles;
} prep;

bool
filter_prepare(enum config_seccomp mode, bool handles)
{
#ifndef PHX_SECCOMP_FORCE_LOG
	scmp_filter_ctx ctx;
	struct sock_filter *insns = NULL;
	size_t len = 0;
	ssize_t n;
	int err, p[2];

	free(prep.insns);
	prep.insns = NULL;
	ctx = build(mode, handles, PID_PLACEHOLDER, &err);
	if (ctx == NULL)
		return false;
	if (pipe2(p, O_CLOEXEC) == 0) {
		/* A filter is at most BPF_MAXINSNS x 8 bytes: 32 KiB, less
		 * than a pipe holds, so the export never blocks. */
		if (seccomp_export_bpf(ctx, p[1]) == 0 &&
		    (insns = malloc(BPF_MAXINSNS * sizeof(*insns))) != NULL &&
		    (n = read(p[0], insns, BPF_MAXINSNS * sizeof(*insns))) > 0 &&
		    n % sizeof(*insns) == 0)
			len = (size_t)n / sizeof(*insns);
		close(p[0]);
		close(p[1]);
	}
	seccomp_release(ctx);
	if (len == 0) {
		free(insns);
		return false;
	}
	prep.insns = insns;
	prep.len = (unsigned short)len;
	prep.mode = mode;
	prep.handles = handles;
	return true;
#else
	(void)mode;
	(void)handles;
	return false;
#endif
}

/* The prepared filter with our pid, loaded; -ENOENT if there is none. */
static int
load_prepared(enum config_seccomp mode, bool handles)
{
	struct sock_fprog prog;
	unsigned patched = 0;

	if (prep.insns == NULL || prep.mode != mode || prep.handles != handles)
		return -ENOENT;
	for (unsigned i = 0; i < prep.len; i++) {
		struct sock_filter *f = &prep.insns[i];

		if (f->code == (BPF_JMP | BPF_JEQ | BPF_K) &&
		    f->k == PID_PLACEHOLDER) {
			f->k = (uint32_t)getpid();
			patched++;
		}
	}
	if (patched == 0)
		return -ENOENT;
	prog.len = prep.len;
	prog.filter = prep.insns;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

int
filter_install(enum config_seccomp mode, bool handles)
{
	scmp_filter_ctx ctx;
	int r;

	/*
	 * The keeper's SIGSYS handler (kfilter.c) came with the clone: the
	 * worker's is fault.c's (fault_install takes a default one) or, in
	 * trap mode, ours.
	 */
	signal(SIGSYS, SIG_DFL);
	if (mode == CONFIG_SECCOMP_TRAP && (r = install_sigsys()) < 0)
		return r;
	r = load_prepared(mode, handles);
	if (r != -ENOENT)
		return r;
	ctx = build(mode, handles, (unsigned)getpid(), &r);
	if (ctx == NULL)
		return r;
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}
