/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Namespaces, pivot_root and the worker's own restrictions. After
 * sandbox_enter() "/" is the guest's share: no process of ours opens an
 * absolute path again; the proc root is REGION_FD_PROC. The keeper
 * keeps every capability and no no_new_privs (both survive exec and
 * would freeze every later version, DESIGN 1); each worker restricts
 * itself right after clone. The reserved fds it produces (REGION_FD_PROC,
 * REGION_FD_ROOT) have FD_CLOEXEC clear so a live upgrade keeps them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "fdtab.h"
#include "filter.h"
#include "idmap.h"
#include "log.h"
#include "region.h"
#include "phase.h"
#include "sandbox.h"

static int
open_at_fixed(const char *path, int flags, int target)
{
	int fd = open(path, flags);

	if (fd < 0)
		return -errno;
	if (fd != target) {
		if (dup2(fd, target) < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		close(fd);
	}
	return target;
}

int
sandbox_unshare(const struct config *cfg)
{
	if (cfg->sandbox != CONFIG_SANDBOX_NAMESPACE)
		return 0;
	/* Mount and network namespaces are the keeper's own (enter_namespace):
	 * the launcher keeps the host's root, to remove the socket and pid
	 * file at exit. */
	if (unshare(CLONE_NEWPID) < 0)
		return -errno;
	return 0;
}

/*
 * <linux/mount.h> clashes with <sys/mount.h> on glibc 2.36: the few names
 * of mount_setattr(2) (Linux 5.12) we use.
 */
struct phx_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define PHX_MOUNT_ATTR_NOSUID 0x2
#define PHX_MOUNT_ATTR_NODEV  0x4
#define PHX_AT_RECURSIVE      0x8000

/*
 * Our private copy of the share, and every mount below it, nodev and
 * nosuid: a device node the guest made (MKNOD, the worker has CAP_MKNOD)
 * can never be opened as a device by any process of ours, whatever path
 * reaches it (issue 9 finding 1). Only our mount namespace's view
 * changes; the host's mounts keep their flags. Fails closed.
 */
static int
share_nodev(const char *dir)
{
	struct phx_mount_attr a = {
		.attr_set = PHX_MOUNT_ATTR_NODEV | PHX_MOUNT_ATTR_NOSUID,
	};

	if (syscall(SYS_mount_setattr, AT_FDCWD, dir, PHX_AT_RECURSIVE, &a,
	    sizeof(a)) < 0)
		return -errno;
	return 0;
}

static int
enter_namespace(const struct config *cfg)
{
	int err;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0)
		return -errno;
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	/*
	 * A /proc of our own PID namespace, so /proc/self is the worker;
	 * subset=pid (Linux 5.8): the pid directories only, which is all
	 * REGION_FD_PROC serves (self/fd, self/exe, self/oom_score_adj,
	 * PID/task, PID/fd). Without it a worker holding REGION_FD_PROC
	 * could write the host-wide sysctls as any root process may (a
	 * kernel/core_pattern "|program" runs as full root in the host's
	 * namespaces at the next core dump) and sysrq-trigger. Fails
	 * closed, as share_nodev().
	 */
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "subset=pid") < 0)
		return -errno;
	if (open_at_fixed("/proc", O_PATH | O_DIRECTORY, REGION_FD_PROC) < 0)
		return -errno;
	if (mount(cfg->shared_dir, cfg->shared_dir, NULL, MS_BIND | MS_REC,
	    NULL) < 0)
		return -errno;
	err = share_nodev(cfg->shared_dir);
	if (err < 0)
		return err;
	if (chdir(cfg->shared_dir) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	if (umount2(".", MNT_DETACH) < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	return 0;
}

/*
 * Modes chroot and none keep the host's /proc: it must number processes
 * as our PID namespace does (its "self" is our getpid()). Started in a
 * PID namespace of which it is not (unshare --pid without a /proc of its
 * own), the keeper's wait for a dead worker's memory would read another
 * process's tasks (and end at once: a worker's threads still running
 * when the next one replays), and the fd snapshot another process's
 * table (review rev8b). -ESRCH then.
 */
static int
proc_numbers_ours(void)
{
	if (fdtab_proc_ours())
		return 0;
	log_warnx("/proc belongs to another PID namespace (its self is not "
	    "pid %ld): mount this namespace's own /proc, or use "
	    "--sandbox=namespace", (long)getpid());
	return -ESRCH;
}

int
sandbox_enter(const struct config *cfg)
{
	int err;

	switch (cfg->sandbox) {
	case CONFIG_SANDBOX_NAMESPACE:
		err = enter_namespace(cfg);
		if (err < 0)
			return err;
		break;
	case CONFIG_SANDBOX_CHROOT:
		err = open_at_fixed("/proc", O_PATH | O_DIRECTORY,
		    REGION_FD_PROC);
		if (err < 0 || (err = proc_numbers_ours()) < 0)
			return err;
		if (chroot(cfg->shared_dir) < 0 || chdir("/") < 0)
			return -errno;
		break;
	case CONFIG_SANDBOX_NONE:
		err = open_at_fixed("/proc", O_PATH | O_DIRECTORY,
		    REGION_FD_PROC);
		if (err < 0 || (err = proc_numbers_ours()) < 0)
			return err;
		if (chdir(cfg->shared_dir) < 0)
			return -errno;
		break;
	}
	err = open_at_fixed(".", O_PATH | O_DIRECTORY, REGION_FD_ROOT);
	return err < 0 ? err : 0;
}

int
sandbox_worker(const struct config *cfg)
{
	char msg[256];
	uint64_t caps;
	int err;

	/* Both were checked by config validation: these cannot fail. */
	if ((err = idmap_setup(cfg, msg, sizeof(msg))) < 0 ||
	    (err = caps_worker_set(cfg, &caps, msg, sizeof(msg))) < 0)
		return err;
	/* Capabilities first: the bounding set needs CAP_SETPCAP. */
	if ((err = caps_apply(caps)) < 0)
		return err;
	phase_mark(PHASE_W_CAPS);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return filter_install(cfg->seccomp,
	    cfg->inode_file_handles != CONFIG_IFH_NEVER);
}
