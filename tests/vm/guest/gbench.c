// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gbench: in-guest virtio-fs figures for bench/guest.sh. Runs in the test
 * guest (static, busybox userland) in the mounted share; each figure runs
 * for -t seconds (wall clock) and prints one line "GBENCH name value unit".
 *
 *   stat        ops/s: stat() of existing files (NFILES names, round robin)
 *   create      ops/s: open(O_CREAT|O_EXCL) + close + unlink of a new name
 *   seqwrite    MB/s:  1 MiB write()s of a DATA_MB file, then fsync
 *   seqread     MB/s:  1 MiB read()s of that file after drop_caches
 *   randread    IOPS:  4 KiB pread() at random aligned offsets, O_DIRECT
 *                      (plain reads after drop_caches if O_DIRECT fails)
 *   randread_qd IOPS:  the same from QD threads at once
 *
 * usage: gbench [-t SECONDS] [-q QD] DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NFILES	 1000
#define DATA_MB	 64
#define CHUNK	 (1 << 20)

static double secs = 3.0;
static int qd = 8;
static const char *dir;
static char data_path[4096];
static volatile int stop_flag;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		(void)!write(fd, "3\n", 2);
		close(fd);
	}
}

static void
die(const char *what)
{
	fprintf(stderr, "gbench: %s: %s\n", what, strerror(errno));
	printf("GBENCH-FAIL %s\n", what);
	exit(1);
}

static void
report(const char *name, double v, const char *unit)
{
	printf("GBENCH %s %.1f %s\n", name, v, unit);
	fflush(stdout);
}

static void
bench_stat(void)
{
	char p[4096];
	struct stat st;
	double t0, t;
	long n = 0;

	for (int i = 0; i < NFILES; i++) {
		int fd;

		snprintf(p, sizeof(p), "%s/m/f%d", dir, i);
		fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die("create meta files");
		close(fd);
	}
	t0 = now();
	do {
		for (int k = 0; k < 256; k++, n++) {
			snprintf(p, sizeof(p), "%s/m/f%ld", dir, n % NFILES);
			if (stat(p, &st) < 0)
				die("stat");
		}
		t = now() - t0;
	} while (t < secs);
	report("stat", n / t, "ops/s");
}

static void
bench_create(void)
{
	char p[4096];
	double t0, t;
	long n = 0;

	t0 = now();
	do {
		for (int k = 0; k < 32; k++, n++) {
			int fd;

			snprintf(p, sizeof(p), "%s/c/n%ld", dir, n);
			fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0)
				die("create");
			close(fd);
			if (unlink(p) < 0)
				die("unlink");
		}
		t = now() - t0;
	} while (t < secs);
	report("create_unlink", n / t, "ops/s");
}

static void
bench_seq(void)
{
	char *buf = aligned_alloc(4096, CHUNK);
	double t0, t;
	int fd;

	if (buf == NULL)
		die("malloc");
	memset(buf, 0xa5, CHUNK);
	fd = open(data_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		die("open data for write");
	t0 = now();
	for (int i = 0; i < DATA_MB; i++)
		if (write(fd, buf, CHUNK) != CHUNK)
			die("write");
	if (fsync(fd) < 0)
		die("fsync");
	t = now() - t0;
	close(fd);
	report("seqwrite", DATA_MB / t, "MB/s");

	drop_caches();
	fd = open(data_path, O_RDONLY);
	if (fd < 0)
		die("open data for read");
	t0 = now();
	for (int i = 0; i < DATA_MB; i++)
		if (read(fd, buf, CHUNK) != CHUNK)
			die("read");
	t = now() - t0;
	close(fd);
	report("seqread", DATA_MB / t, "MB/s");
	free(buf);
}

struct rr {
	int fd;
	unsigned seed;
	long n;
};

static void *
rr_thread(void *arg)
{
	struct rr *r = arg;
	char *buf = aligned_alloc(4096, 4096);
	long blocks = (long)DATA_MB * CHUNK / 4096;

	if (buf == NULL)
		return NULL;
	while (!stop_flag) {
		off_t off = (off_t)(rand_r(&r->seed) % blocks) * 4096;

		if (pread(r->fd, buf, 4096, off) != 4096)
			break;
		r->n++;
	}
	free(buf);
	return NULL;
}

static void
bench_randread(int threads, const char *name, int *direct)
{
	pthread_t th[64];
	struct rr r[64];
	double t0, t;
	long n = 0;
	int fd;

	fd = open(data_path, O_RDONLY | O_DIRECT);
	*direct = fd >= 0;
	if (fd < 0) {
		fd = open(data_path, O_RDONLY);
		if (fd < 0)
			die("open data");
	}
	drop_caches();
	stop_flag = 0;
	t0 = now();
	for (int i = 0; i < threads; i++) {
		r[i] = (struct rr){ .fd = fd, .seed = 1234u + (unsigned)i };
		pthread_create(&th[i], NULL, rr_thread, &r[i]);
	}
	while (now() - t0 < secs)
		usleep(10000);
	stop_flag = 1;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		n += r[i].n;
	}
	t = now() - t0;
	close(fd);
	report(name, n / t, "IOPS");
}

int
main(int argc, char **argv)
{
	char p[4096];
	int c, direct = 0;

	while ((c = getopt(argc, argv, "t:q:")) != -1) {
		switch (c) {
		case 't': secs = atof(optarg); break;
		case 'q': qd = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: gbench [-t S] [-q QD] DIR\n");
			return 2;
		}
	}
	if (optind >= argc || qd < 1 || qd > 64)
		return 2;
	dir = argv[optind];
	snprintf(p, sizeof(p), "%s/m", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/c", dir);
	mkdir(p, 0755);
	snprintf(data_path, sizeof(data_path), "%s/data", dir);
	bench_stat();
	bench_create();
	bench_seq();
	bench_randread(1, "randread", &direct);
	bench_randread(qd, "randread_qd", &direct);
	printf("GBENCH-DONE o_direct=%d qd=%d\n", direct, qd);
	return 0;
}
