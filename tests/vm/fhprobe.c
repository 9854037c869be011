// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fhprobe DIR: does the file system of DIR give file handles that decode
 * (name_to_handle_at of DIR, then open_by_handle_at through DIR)? Prints
 * "yes", or "no (encode: ERR)" / "no (decode: ERR)". Host-side helper of
 * tests/vm/fsmatrix.sh (which --inode-file-handles modes apply).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct {
		struct file_handle h;
		unsigned char b[MAX_HANDLE_SZ];
	} fh;
	int mnt, dfd, fd;

	if (argc != 2 || (dfd = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0) {
		fprintf(stderr, "usage: fhprobe DIR\n");
		return 2;
	}
	fh.h.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(dfd, "", &fh.h, &mnt, AT_EMPTY_PATH) < 0) {
		printf("no (encode: %s)\n", strerror(errno));
		return 0;
	}
	if ((fd = open_by_handle_at(dfd, &fh.h, O_PATH)) < 0) {
		printf("no (decode: %s)\n", strerror(errno));
		return 0;
	}
	close(fd);
	printf("yes\n");
	return 0;
}
