/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The keeper's filter. Default allow, and a list of calls refused with the
 * mode's action: no phoenixfsd version will ever need them after its
 * sandbox is built, and each is a known way out of a process or into the
 * kernel's rarely used surface. A deny-list and not an allow-list because
 * a filter cannot be removed: it survives the live-upgrade exec (DESIGN
 * 8) and every worker inherits it under its own allowlist, so an
 * allow-list here would freeze the syscalls of every later keeper and
 * worker; this list is instead a promise of what they will never use
 * (docs/sandbox.md). The worker's filter (filter.c) is the strict one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compiler.h"
#include "filter.h"
#include "kfilter.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static const char *const refused[] = {
	/* other processes' memory and execution */
	"ptrace", "process_vm_readv", "process_vm_writev",
	"process_madvise", "kcmp",
	/* the kernel's attack surface nothing of ours uses */
	"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
	"request_key", "fanotify_init", "lookup_dcookie", "personality",
	"uselib", "vhangup", "nfsservctl", "modify_ldt", "iopl", "ioperm",
	/* the machine */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "reboot", "swapon", "swapoff", "acct", "syslog",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"quotactl", "quotactl_fd", "sethostname", "setdomainname",
	/* the sandbox, once built (sandbox.c) */
	"mount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "unshare", "setns",
	/* listening or binding anywhere: the listening socket predates it */
	"bind", "listen",
	/* exec of a path: after pivot_root every path is in the share */
	"execve",
};

/* clone flags that make a namespace: never after the sandbox. */
static const unsigned long ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* Terminal ioctls that inject input or reach the console. */
static const unsigned long tty_ioctls[] = {
	TIOCSTI, TIOCLINUX,
};

static enum config_seccomp kf_mode;

static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	filter_report("keeper", si->si_syscall);
	if (kf_mode == CONFIG_SECCOMP_TRAP) {
		filter_fail_call(uc);
		return;
	}
	/* kill: SA_RESETHAND restored the default; die of SIGSYS. */
	syscall(SYS_tgkill, getpid(), gettid(), SIGSYS);
}

static int
install_sigsys(enum config_seccomp mode)
{
	struct sigaction sa;

	kf_mode = mode;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER |
	    (mode == CONFIG_SECCOMP_TRAP ? 0 : SA_RESETHAND);
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

static int
add_rules(scmp_filter_ctx ctx, uint32_t act)
{
	int r = 0;

	for (size_t i = 0; i < nitems(refused) && r == 0; i++) {
		int nr = seccomp_syscall_resolve_name(refused[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown here (arch or libseccomp age) */
		r = seccomp_rule_add(ctx, act, nr, 0);
	}
	for (size_t i = 0; i < nitems(ns_flags) && r == 0; i++)
		r = seccomp_rule_add(ctx, act, SCMP_SYS(clone), 1,
		    SCMP_A0_64(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	/* clone3's flags are in memory: glibc falls back to clone. */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
	    0);
	for (size_t i = 0; i < nitems(tty_ioctls) && r == 0; i++)
		r = seccomp_rule_add(ctx, act, SCMP_SYS(ioctl), 1,
		    SCMP_A1_32(SCMP_CMP_EQ, (unsigned)tty_ioctls[i]));
	/* No network: only AF_UNIX (socketpair, syslog). */
	r = r ?: seccomp_rule_add(ctx, act, SCMP_SYS(socket), 1,
	    SCMP_A0_32(SCMP_CMP_NE, AF_UNIX));
	/* Every path is in the share: syslog's reconnect fails quietly. */
	r = r ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
	    SCMP_SYS(connect), 0);
	/* execveat only of an fd itself (the upgrade binary, DESIGN 8). */
	r = r ?: seccomp_rule_add(ctx, act, SCMP_SYS(execveat), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, (unsigned)AT_FDCWD));
	r = r ?: seccomp_rule_add(ctx, act, SCMP_SYS(execveat), 1,
	    SCMP_A4_32(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0));
	/* The process may not undo what keeps it apart. */
	r = r ?: seccomp_rule_add(ctx, act, SCMP_SYS(prctl), 2,
	    SCMP_A0_32(SCMP_CMP_EQ, PR_SET_DUMPABLE),
	    SCMP_A1_64(SCMP_CMP_NE, 0));
	r = r ?: seccomp_rule_add(ctx, act, SCMP_SYS(prctl), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, PR_SET_PTRACER));
	return r;
}

int
kfilter_install(enum config_seccomp mode)
{
	scmp_filter_ctx ctx;
	uint32_t act;
	int r, have;

	switch (mode) {
	case CONFIG_SECCOMP_NONE:
		return 0;
	case CONFIG_SECCOMP_LOG:
		act = SCMP_ACT_LOG;
		break;
	case CONFIG_SECCOMP_TRAP:
	case CONFIG_SECCOMP_KILL:
	default:
#ifdef PHX_SECCOMP_FORCE_LOG
		act = SCMP_ACT_LOG;
#else
		/* TRAP, not KILL_PROCESS: see docs/sandbox.md. */
		act = SCMP_ACT_TRAP;
#endif
		break;
	}
	if ((r = install_sigsys(mode)) < 0)
		return r;
	have = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	if (have == 2)
		return 0; /* resumed after an upgrade: the first one stays */
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return -ENOMEM;
	/* no_new_privs is the keeper's choice, not libseccomp's. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* The kernel's errno, not ECANCELED: EACCES means no CAP_SYS_ADMIN. */
	r = r ?: seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	r = r ?: add_rules(ctx, act);
#ifdef PHX_SECCOMP_FORCE_LOG
	r = r ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
#endif
	r = r ?: seccomp_load(ctx);
	seccomp_release(ctx);
	return r < 0 ? r : 1;
}
