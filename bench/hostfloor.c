/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench/hostfloor: what a process start costs on this host, the floor
 * under a stall (a new worker is a new process with a new mm, DESIGN 1).
 * Prints one line, medians of 5 rounds:
 *   hostfloor syscall_us=X fault_us=X touch_us=X fork_us=X
 * syscall: getppid; fault: first write to a fresh anonymous page;
 * touch: first write to a shared page already populated into the page
 * tables (MADV_POPULATE_WRITE): near 0 where the CPU walks the guest's
 * tables itself, several us under shadow paging, where every page a new
 * mm touches first costs a hypervisor exit whatever the guest kernel did;
 * fork: fork, _exit, waitpid of a small process. Figures only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "median.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define ROUNDS 5
#define PAGES  2048
#define PAGE   4096

static double
syscall_us(void)
{
	uint64_t t0 = clock_now_ns();

	for (int i = 0; i < 20000; i++)
		(void)syscall(SYS_getppid);
	return (double)(clock_now_ns() - t0) / 1000.0 / 20000;
}

/* First writes to PAGES pages: fresh anonymous, or shared and populated. */
static double
touch_us(int memfd)
{
	size_t len = (size_t)PAGES * PAGE;
	int flags = memfd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, memfd, 0);
	uint64_t t0;
	double us;

	if (p == MAP_FAILED)
		exit(1);
	if (memfd >= 0 && madvise(p, len, MADV_POPULATE_WRITE) != 0)
		exit(1);
	t0 = clock_now_ns();
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
	us = (double)(clock_now_ns() - t0) / 1000.0 / PAGES;
	munmap(p, len);
	return us;
}

static double
fork_us(void)
{
	uint64_t t0 = clock_now_ns();

	for (int i = 0; i < 50; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			exit(1);
	}
	return (double)(clock_now_ns() - t0) / 1000.0 / 50;
}

int
main(void)
{
	double sc[ROUNDS], fa[ROUNDS], to[ROUNDS], fo[ROUNDS];
	int memfd = memfd_create("hostfloor", MFD_CLOEXEC);

	if (memfd < 0 || ftruncate(memfd, (off_t)PAGES * PAGE) != 0)
		return 1;
	for (int r = 0; r < ROUNDS; r++) {
		sc[r] = syscall_us();
		fa[r] = touch_us(-1);
		to[r] = touch_us(memfd);
		fo[r] = fork_us();
	}
	printf("hostfloor syscall_us=%.2f fault_us=%.2f touch_us=%.2f "
	    "fork_us=%.0f\n", median(sc, ROUNDS), median(fa, ROUNDS),
	    median(to, ROUNDS), median(fo, ROUNDS));
	return 0;
}
