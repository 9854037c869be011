/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's capabilities: raw capget/capset and prctl (caps.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "compiler.h"

#define CAP_BIT(c) (UINT64_C(1) << (c))

static const char *const names[] = {
	[CAP_CHOWN] = "chown",
	[CAP_DAC_OVERRIDE] = "dac_override",
	[CAP_DAC_READ_SEARCH] = "dac_read_search",
	[CAP_FOWNER] = "fowner",
	[CAP_FSETID] = "fsetid",
	[CAP_KILL] = "kill",
	[CAP_SETGID] = "setgid",
	[CAP_SETUID] = "setuid",
	[CAP_SETPCAP] = "setpcap",
	[CAP_LINUX_IMMUTABLE] = "linux_immutable",
	[CAP_NET_BIND_SERVICE] = "net_bind_service",
	[CAP_NET_BROADCAST] = "net_broadcast",
	[CAP_NET_ADMIN] = "net_admin",
	[CAP_NET_RAW] = "net_raw",
	[CAP_IPC_LOCK] = "ipc_lock",
	[CAP_IPC_OWNER] = "ipc_owner",
	[CAP_SYS_MODULE] = "sys_module",
	[CAP_SYS_RAWIO] = "sys_rawio",
	[CAP_SYS_CHROOT] = "sys_chroot",
	[CAP_SYS_PTRACE] = "sys_ptrace",
	[CAP_SYS_PACCT] = "sys_pacct",
	[CAP_SYS_ADMIN] = "sys_admin",
	[CAP_SYS_BOOT] = "sys_boot",
	[CAP_SYS_NICE] = "sys_nice",
	[CAP_SYS_RESOURCE] = "sys_resource",
	[CAP_SYS_TIME] = "sys_time",
	[CAP_SYS_TTY_CONFIG] = "sys_tty_config",
	[CAP_MKNOD] = "mknod",
	[CAP_LEASE] = "lease",
	[CAP_AUDIT_WRITE] = "audit_write",
	[CAP_AUDIT_CONTROL] = "audit_control",
	[CAP_SETFCAP] = "setfcap",
	[CAP_MAC_OVERRIDE] = "mac_override",
	[CAP_MAC_ADMIN] = "mac_admin",
	[CAP_SYSLOG] = "syslog",
	[CAP_WAKE_ALARM] = "wake_alarm",
	[CAP_BLOCK_SUSPEND] = "block_suspend",
	[CAP_AUDIT_READ] = "audit_read",
	[38] = "perfmon",
	[39] = "bpf",
	[40] = "checkpoint_restore",
};

/*
 * virtiofsd's set, plus ipc_lock: without it every io_uring ring a worker
 * thread sets up (intent.c) is charged to the uid's locked_vm, which every
 * process of that uid on the host shares, and io_uring_setup answers ENOMEM
 * once the total reaches our RLIMIT_MEMLOCK (8 MiB: ~146 daemons of ~7
 * rings as root on one host), so later threads run without a ring. What
 * the capability would give a compromised worker beyond that (mlock*,
 * MAP_LOCKED, SHM_LOCK, SHM_HUGETLB, io_uring buffer registration) the
 * seccomp allow-list refuses (filter.c, docs/sandbox.md).
 */
uint64_t
caps_worker_default(void)
{
	return CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) |
	    CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_FSETID) | CAP_BIT(CAP_SETGID) |
	    CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_SETFCAP) |
	    CAP_BIT(CAP_IPC_LOCK);
}

int
caps_from_name(const char *name)
{
	if (strncasecmp(name, "cap_", 4) == 0)
		name += 4;
	for (size_t i = 0; i < nitems(names); i++)
		if (names[i] != NULL && strcasecmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

int
caps_modify(const char *modcaps, uint64_t *set, char *err, size_t errlen)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(modcaps) >= sizeof(buf)) {
		snprintf(err, errlen, "--modcaps: too long");
		return -EINVAL;
	}
	memcpy(buf, modcaps, strlen(modcaps) + 1);
	for (tok = strtok_r(buf, ":", &save); tok != NULL;
	     tok = strtok_r(NULL, ":", &save)) {
		int c = caps_from_name(tok + 1);

		if ((tok[0] != '+' && tok[0] != '-') || c < 0) {
			snprintf(err, errlen, "invalid capability '%s' for "
			    "--modcaps", tok);
			return -EINVAL;
		}
		if (tok[0] == '+')
			*set |= CAP_BIT(c);
		else
			*set &= ~CAP_BIT(c);
	}
	return 0;
}

int
caps_worker_set(const struct config *cfg, uint64_t *ret_set, char *errbuf,
    size_t errlen)
{
	uint64_t set = caps_worker_default();
	int err;

	if (cfg->inode_file_handles != CONFIG_IFH_NEVER)
		set |= CAP_BIT(CAP_DAC_READ_SEARCH);
	err = caps_modify(cfg->modcaps, &set, errbuf, errlen);

	if (err < 0)
		return err;
	*ret_set = set;
	return 0;
}

/* The keeper's bounding set (caps_prepare), inherited by its workers. */
static uint64_t bset;
static bool bset_known;

/* The bounding set: CAPBSET_READ of each capability the kernel knows. */
static uint64_t
read_bset(void)
{
	uint64_t b = 0;

	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) > 0)
			b |= CAP_BIT(c);
	return b;
}

void
caps_prepare(void)
{
	bset = read_bset();
	bset_known = true;
}

int
caps_apply(uint64_t set)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	uint64_t have;

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	have = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
	set &= have;
	/*
	 * Bounding set first: dropping needs CAP_SETPCAP, still effective.
	 * Only what is in it: the keeper's, read once (64 calls less in
	 * every stall, about 0.3 ms on a paravirtualised host, measured).
	 */
	have = bset_known ? bset : read_bset();
	for (int c = 0; c < 64; c++) {
		if ((set & CAP_BIT(c)) || !(have & CAP_BIT(c)))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EPERM)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)set;
	d[1].effective = d[1].permitted = (uint32_t)(set >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}
