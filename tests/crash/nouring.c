/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nouring CMD [ARG...]: runs CMD where io_uring_setup fails with EPERM,
 * as under a container's seccomp profile (Docker's default refuses it):
 * recovery.sh checks that phoenixfsd then refuses to start, saying why.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	scmp_filter_ctx ctx;

	if (argc < 2) {
		fprintf(stderr, "usage: nouring CMD [ARG...]\n");
		return 2;
	}
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		SCMP_SYS(io_uring_setup), 0) < 0 ||
	    seccomp_load(ctx) < 0) {
		fprintf(stderr, "nouring: cannot install the filter\n");
		return 2;
	}
	seccomp_release(ctx);
	execvp(argv[1], argv + 1);
	perror("nouring: exec");
	return 127;
}
