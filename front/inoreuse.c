// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * phx-front inoreuse: a held nodeid whose file is removed while a new file
 * takes its inode number (ext4 and xfs reuse a freed number at once). The
 * guest keeps a LOOKUP of "a" (as a process holding it open would), then
 * UNLINKs it and MKNODs "b": when b got a's inode number, its nodeid must
 * still be b's own: GETATTR of it answers b's attributes, never ESTALE,
 * and a's nodeid never names b. With --inode-file-handles=prefer a table
 * entry kept as a file handle pins no inode, so (dev, ino) alone does not
 * say which file it is. Rounds until --rounds, prints how many reused a
 * number. TAP.
 *
 * usage: inoreuse [--rounds N]
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
inoreuse_main(const struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{"rounds", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	unsigned rounds = 50, reused = 0, bad = 0, i;
	struct fuse_entry_out a, b;
	struct fuse_attr_out at;
	struct vuf_dev *d;
	struct fusec *fc;
	char extra[80];
	int ch, r, last = 0;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch != 'n')
			return 2;
		rounds = (unsigned)strtoul(optarg, NULL, 0);
	}
	if ((r = cli_connect(c, &d, &fc)) < 0) {
		printf("not ok 1 - connect + INIT (%s)\nBail out!\n",
		    strerror(-r));
		return 1;
	}
	for (i = 0; i < rounds; i++) {
		if ((r = fusec_mknod(fc, 1, "a", S_IFREG | 0644, 0, &a)) < 0 ||
		    (r = fusec_unlink(fc, 1, "a")) < 0 ||
		    (r = fusec_mknod(fc, 1, "b", S_IFREG | 0600, 0, &b)) < 0) {
			bad++;
			last = r;
			break;
		}
		if (b.attr.ino == a.attr.ino) {
			reused++;
			r = fusec_getattr(fc, b.nodeid, &at);
			if (b.nodeid == a.nodeid || r < 0 ||
			    at.attr.ino != b.attr.ino ||
			    (at.attr.mode & 0777) != 0600) {
				bad++;
				last = r;
			}
		}
		(void)fusec_forget(fc, a.nodeid, 1);
		(void)fusec_unlink(fc, 1, "b");
		(void)fusec_forget(fc, b.nodeid, 1);
	}
	printf("inoreuse: %u rounds, %u reused a's inode number, %u wrong\n",
	    i, reused, bad);
	snprintf(extra, sizeof(extra), "%u of %u rounds reused the number",
	    reused, i);
	cli_tap(bad == 0, "inoreuse: a new file on a reused inode number gets "
	    "its own nodeid and attributes", last, extra);
	cli_disconnect(d, fc);
	return cli_tap_end();
}
