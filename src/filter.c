/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's seccomp allowlist. The list was measured: the unit, integ
 * and crash suites and a guest e2e run under --seccomp=log, reading the
 * kernel's "audit: type=1326" lines (see tests/integ/sandbox.sh), plus the
 * calls of the xattr, lock and copy operations. A name this architecture
 * or libseccomp does not know is skipped.
 *
 * Limits: io_uring operations do not pass through seccomp, so a ring could
 * still close a reserved fd; the fd rules guard the plain syscalls.
 */
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
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
	"openat", "openat2", "open_by_handle_at", "name_to_handle_at",
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
	/* locks */
	"fcntl", "flock",
	/* fds; close, close_range, dup2, dup3 and shutdown have rules below */
	"dup", "pipe2", "eventfd2", "memfd_create", "poll", "ppoll",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "ioctl",
	/* the vhost-user socket */
	"accept4", "recvmsg", "sendmsg", "recvfrom", "sendto", "getsockopt",
	"setsockopt", "connect",
	/* io_uring (intent.c) */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* memory */
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "mincore",
	"msync", "membarrier",
	/* threads and time */
	"clone", "clone3", "futex", "futex_waitv", "set_robust_list",
	"get_robust_list", "rseq", "set_tid_address", "exit", "exit_group",
	"sched_yield", "sched_getaffinity", "getpid", "gettid", "getppid",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time", "getrandom", "restart_syscall",
	/* signals and the fault handler */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"tgkill", "tkill", "rt_sigtimedwait",
	/* credentials per thread (pt.c), limits */
	"setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getgroups", "capget", "prctl", "getrlimit", "prlimit64", "uname",
};

static unsigned n_allowed;

unsigned
filter_allowed_count(void)
{
	return n_allowed;
}

/* trap: log the number without stdio, then fail the call with ENOSYS. */
static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char buf[80] = "phoenixfsd: seccomp: forbidden syscall ";
	size_t n = strlen(buf);
	char digits[12];
	int i = 0, nr = si->si_syscall;

	(void)sig;
	if (nr < 0)
		nr = 0;
	do
		digits[i++] = (char)('0' + nr % 10);
	while ((nr /= 10) > 0 && i < (int)sizeof(digits));
	while (i > 0 && n < sizeof(buf) - 1)
		buf[n++] = digits[--i];
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
#if defined(__x86_64__)
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	((ucontext_t *)uc)->uc_mcontext.regs[0] = (unsigned long)-ENOSYS;
#else
	(void)uc;
#endif
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
	/* socket: only AF_UNIX (syslog) */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX));
	return r;
}

int
filter_install(enum config_seccomp mode)
{
	scmp_filter_ctx ctx;
	uint32_t def;
	int r;

	switch (mode) {
	case CONFIG_SECCOMP_NONE:
		return 0;
	case CONFIG_SECCOMP_LOG:
		def = SCMP_ACT_LOG;
		break;
	case CONFIG_SECCOMP_TRAP:
		def = SCMP_ACT_TRAP;
		if ((r = install_sigsys()) < 0)
			return r;
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
	if (ctx == NULL)
		return -ENOMEM;
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
	r = r ?: add_fd_rules(ctx);
	r = r ?: seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}
