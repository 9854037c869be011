/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lockwait FILE posix|flock: in-guest half of tests/vm/pause.sh. Opens
 * FILE, says "PHX-LW MODE waiting", blocks in fcntl(F_SETLKW) of a write
 * lock on the whole file or in flock(LOCK_EX), and prints
 * "PHX-LW MODE rc RC errno E" (E 512 is ERESTARTSYS leaking out of the
 * guest kernel: a lock wait the daemon answered EINTR with no signal
 * pending). Exit 0 iff the call returned 0 the first time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd, rc, e;

	if (argc != 3 || (strcmp(argv[2], "posix") && strcmp(argv[2], "flock"))) {
		fprintf(stderr, "usage: lockwait FILE posix|flock\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		printf("PHX-LW %s open errno %d\n", argv[2], errno);
		return 1;
	}
	printf("PHX-LW %s waiting\n", argv[2]);
	fflush(stdout);
	if (strcmp(argv[2], "posix") == 0)
		rc = fcntl(fd, F_SETLKW, &fl);
	else
		rc = flock(fd, LOCK_EX);
	e = rc < 0 ? errno : 0;
	printf("PHX-LW %s rc %d errno %d\n", argv[2], rc, e);
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}
