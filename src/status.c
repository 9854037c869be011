/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The --status tool (status.h). It finds the keeper from the pid file (the
 * pid there, or its child: the launcher writes the keeper's pid, libvirt
 * writes the launcher's), opens the keeper's region memfd through
 * /proc/KEEPER/fd/900 with O_RDONLY (a new read-only open file description:
 * nothing the daemon holds changes) and reads it with pread: a read of a
 * hole of a memfd allocates nothing, where a read fault in a mapping would
 * allocate the page in the daemon's memfd. Nothing is locked: every figure
 * is a 64-bit word the daemon stores whole (region.h, "status counters"),
 * and a figure read while it moves is at worst one request stale. What the
 * region does not hold (fds in use and their limit, the worker's run
 * state) comes from /proc, read only as well.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "region.h"
#include "stats.h"
#include "status.h"

static const char *const op_names[STATS_OPCODES] = {
	[1] = "LOOKUP", [2] = "FORGET", [3] = "GETATTR", [4] = "SETATTR",
	[5] = "READLINK", [6] = "SYMLINK", [8] = "MKNOD", [9] = "MKDIR",
	[10] = "UNLINK", [11] = "RMDIR", [12] = "RENAME", [13] = "LINK",
	[14] = "OPEN", [15] = "READ", [16] = "WRITE", [17] = "STATFS",
	[18] = "RELEASE", [20] = "FSYNC", [21] = "SETXATTR",
	[22] = "GETXATTR", [23] = "LISTXATTR", [24] = "REMOVEXATTR",
	[25] = "FLUSH", [26] = "INIT", [27] = "OPENDIR", [28] = "READDIR",
	[29] = "RELEASEDIR", [30] = "FSYNCDIR", [31] = "GETLK", [32] = "SETLK",
	[33] = "SETLKW", [34] = "ACCESS", [35] = "CREATE", [36] = "INTERRUPT",
	[37] = "BMAP", [38] = "DESTROY", [39] = "IOCTL", [40] = "POLL",
	[41] = "NOTIFY_REPLY", [42] = "BATCH_FORGET", [43] = "FALLOCATE",
	[44] = "READDIRPLUS", [45] = "RENAME2", [46] = "LSEEK",
	[47] = "COPY_FILE_RANGE", [48] = "SETUPMAPPING",
	[49] = "REMOVEMAPPING", [50] = "SYNCFS", [51] = "TMPFILE",
	[52] = "STATX", [STATS_OP_OTHER] = "OTHER",
};

struct snap {
	pid_t keeper, worker;
	char worker_state;	/* /proc stat state, 0 = no worker */
	struct region_hdr_rec hdr;
	struct region_health_rec health;
	struct inode_hdr_rec ihdr;
	struct handle_hdr_rec hhdr;
	struct region_stats_rec *stats;	/* heap copy */
	uint64_t hist[STATS_OPCODES][STATS_BUCKETS]; /* summed over threads */
	uint64_t region_bytes;	/* memory the memfd holds */
	long fds, fd_limit;
};

static int
pread_all(int fd, void *buf, size_t len, uint64_t off, uint64_t size)
{
	ssize_t n;

	if (off > size || len > size - off)
		return -EPROTO;
	n = pread(fd, buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static long
read_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	return strtol(buf, NULL, 10) > 0 ? strtol(buf, NULL, 10) : -EINVAL;
}

/* The region memfd of pid, opened read only, or -errno. */
static int
open_region(pid_t pid)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid,
	    REGION_FD_STATE);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	if (strncmp(link, "/memfd:phoenixfsd-state", 23) != 0)
		return -ENOENT;
	return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

/* The first child of pid (the keeper's only child is its worker). */
static pid_t
first_child(pid_t pid)
{
	char path[80];
	long c = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid,
	    (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &c) != 1)
		c = 0;
	fclose(f);
	return (pid_t)c;
}

static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p[2] : 0;
}

static void
proc_fds(struct snap *s)
{
	char path[64], line[256];
	struct dirent *de;
	DIR *d;
	FILE *f;

	s->fds = -1;
	s->fd_limit = -1;
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)s->keeper);
	if ((d = opendir(path)) != NULL) {
		s->fds = 0;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				s->fds++;
		closedir(d);
	}
	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)s->keeper);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Max open files", 14) == 0)
			s->fd_limit = strtol(line + 14, NULL, 10);
	fclose(f);
}

static int
snapshot(struct snap *s, pid_t pid)
{
	const struct region_hdr_rec *h = &s->hdr;
	struct stat st;
	int fd, err;

	fd = open_region(pid);
	s->keeper = pid;
	if (fd < 0) {
		/* The launcher (ours, or libvirt's pid file): its child. */
		s->keeper = first_child(pid);
		if (s->keeper <= 0)
			return fd;
		fd = open_region(s->keeper);
		if (fd < 0)
			return fd;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	err = pread_all(fd, &s->hdr, sizeof(s->hdr), 0, (uint64_t)st.st_size);
	if (err < 0)
		goto out;
	if (h->magic != REGION_MAGIC || h->version != REGION_LAYOUT_VERSION ||
	    h->hdr_size != sizeof(*h) || h->size != (uint64_t)st.st_size) {
		err = -EPROTO;
		goto out;
	}
	s->stats = malloc(sizeof(*s->stats));
	if (s->stats == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if ((err = pread_all(fd, &s->health, sizeof(s->health), h->health_off,
	    h->size)) < 0 ||
	    (err = pread_all(fd, &s->ihdr, sizeof(s->ihdr), h->inode_off,
	    h->size)) < 0 ||
	    (err = pread_all(fd, &s->hhdr, sizeof(s->hhdr), h->handle_off,
	    h->size)) < 0 ||
	    (err = pread_all(fd, s->stats, sizeof(*s->stats), h->stats_off,
	    h->size)) < 0)
		goto out;
	for (unsigned t = 0; t < REGION_MAX_THREADS; t++)
		for (unsigned o = 0; o < STATS_OPCODES; o++)
			for (unsigned b = 0; b < STATS_BUCKETS; b++)
				s->hist[o][b] += s->stats->thread[t].hist[o][b];
	s->region_bytes = (uint64_t)st.st_blocks * 512;
	s->worker = first_child(s->keeper);
	s->worker_state = s->worker > 0 ? proc_state(s->worker) : 0;
	proc_fds(s);
out:
	close(fd);
	return err;
}

/* Upper bound (ns) of the bucket holding the q-quantile of h[n]. */
static uint64_t
quantile(const uint64_t *h, unsigned n, double q)
{
	uint64_t total = 0, acc = 0, want;

	for (unsigned b = 0; b < n; b++)
		total += h[b];
	if (total == 0)
		return 0;
	want = (uint64_t)((double)total * q + 0.999999);
	if (want == 0)
		want = 1;
	for (unsigned b = 0; b < n; b++) {
		acc += h[b];
		if (acc >= want)
			return 2ULL << b;
	}
	return 2ULL << (n - 1);
}

static uint64_t
sum(const uint64_t *h, unsigned n)
{
	uint64_t t = 0;

	for (unsigned b = 0; b < n; b++)
		t += h[b];
	return t;
}

static const char *
dur(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000000)
		snprintf(buf, len, "%llu us", (unsigned long long)(ns + 999) / 1000);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else if (ns < 100000000000ULL)
		snprintf(buf, len, "%.0f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.0f s", (double)ns / 1e9);
	return buf;
}

static const char *
op_name(unsigned o, char *buf, size_t len)
{
	if (op_names[o] != NULL)
		return op_names[o];
	snprintf(buf, len, "OP%u", o);
	return buf;
}

static const char *
worker_state(const struct snap *s)
{
	switch (s->worker_state) {
	case 0: return "dead";
	case 'T': case 't': return "stopped";
	case 'Z': case 'X': return "dead";
	case 'D': return "waiting (D)";
	default: return "running";
	}
}

static void
print_text(const struct snap *s, pid_t pid)
{
	const struct region_stats_rec *st = s->stats;
	uint64_t now = clock_now_ns(), up = now - st->start_ns, crashes = 0;
	uint64_t q;
	char b1[32], b2[32], b3[32], b4[32], nb[16];

	for (unsigned c = STATS_CAUSE_SIGNAL; c < STATS_CAUSE_UPGRADE; c++)
		crashes += st->crashes[c];
	printf("phoenixfsd status (pid %ld, keeper %ld, layout %u)\n",
	    (long)pid, (long)s->keeper, s->hdr.version);
	printf("uptime        %llud %02lluh %02llum %02llus\n",
	    (unsigned long long)(up / 86400000000000ULL),
	    (unsigned long long)(up / 3600000000000ULL % 24),
	    (unsigned long long)(up / 60000000000ULL % 60),
	    (unsigned long long)(up / 1000000000ULL % 60));
	printf("worker        incarnation %llu, pid %ld, %s%s\n",
	    (unsigned long long)s->hdr.incarnation, (long)s->worker,
	    worker_state(s), s->hdr.recovered ? ", serving" :
	    ", not serving (recovering)");
	printf("crashes       %llu: signal %llu, watchdog %llu, oom %llu, "
	    "kill %llu, exit %llu\n", (unsigned long long)crashes,
	    (unsigned long long)st->crashes[STATS_CAUSE_SIGNAL],
	    (unsigned long long)st->crashes[STATS_CAUSE_WATCHDOG],
	    (unsigned long long)st->crashes[STATS_CAUSE_OOM],
	    (unsigned long long)st->crashes[STATS_CAUSE_KILL],
	    (unsigned long long)st->crashes[STATS_CAUSE_EXIT]);
	if (st->recoveries == 0)
		printf("recoveries    0\n");
	else
		printf("recoveries    %llu: last stall %s, p99 stall < %s\n",
		    (unsigned long long)st->recoveries, dur(b1, sizeof(b1),
		    st->last_stall_ns), dur(b2, sizeof(b2),
		    quantile(st->stall_hist, STATS_BUCKETS, 0.99)));
	printf("replayed      %llu requests\n",
	    (unsigned long long)st->replayed);
	printf("quarantined   %llu requests\n",
	    (unsigned long long)s->health.quarantined);
	q = st->quar_total;
	for (uint64_t i = q > STATS_QUAR_MAX ? q - STATS_QUAR_MAX : 0; i < q;
	    i++) {
		const struct stats_quar_rec *r = &st->quar[i % STATS_QUAR_MAX];

		printf("  %s nodeid %llu (queue %llu head %llu), %s ago\n",
		    op_name(r->opcode < STATS_OPCODES ? (unsigned)r->opcode :
		    STATS_OP_OTHER, nb, sizeof(nb)),
		    (unsigned long long)r->nodeid,
		    (unsigned long long)(r->where >> 16),
		    (unsigned long long)(r->where & 0xffff),
		    dur(b1, sizeof(b1), now - r->when_ns));
	}
	printf("degraded      %s (failed recoveries in a row: %llu)\n",
	    s->hdr.degraded ? "YES: every request answers EIO" : "no",
	    (unsigned long long)s->hdr.failed_recoveries);
	printf("upgrades      %llu (refused %llu)\n",
	    (unsigned long long)s->health.upgrades,
	    (unsigned long long)s->health.upgrades_refused);
	printf("inodes        %llu of %llu (%llu holding an fd)\n",
	    (unsigned long long)s->ihdr.live,
	    (unsigned long long)s->hdr.inode_cap,
	    (unsigned long long)s->ihdr.fds);
	printf("handles       %llu of %llu\n", (unsigned long long)s->hhdr.live,
	    (unsigned long long)s->hdr.handle_cap);
	printf("fds           %ld of %ld\n", s->fds, s->fd_limit);
	printf("region        %.1f MiB in memory of %.1f MiB\n",
	    (double)s->region_bytes / 1048576.0,
	    (double)s->hdr.size / 1048576.0);
	printf("requests      %-16s %10s %9s %9s %9s %9s\n", "opcode", "count",
	    "p50 <", "p90 <", "p99 <", "max <");
	for (unsigned o = 0; o < STATS_OPCODES; o++) {
		uint64_t n = sum(s->hist[o], STATS_BUCKETS);

		if (n == 0)
			continue;
		printf("              %-16s %10llu %9s %9s %9s %9s\n",
		    op_name(o, nb, sizeof(nb)), (unsigned long long)n,
		    dur(b1, sizeof(b1), quantile(s->hist[o], STATS_BUCKETS, .5)),
		    dur(b2, sizeof(b2), quantile(s->hist[o], STATS_BUCKETS, .9)),
		    dur(b3, sizeof(b3), quantile(s->hist[o], STATS_BUCKETS, .99)),
		    dur(b4, sizeof(b4), quantile(s->hist[o], STATS_BUCKETS, 1)));
	}
}

static void
print_json(const struct snap *s, pid_t pid)
{
	const struct region_stats_rec *st = s->stats;
	uint64_t now = clock_now_ns(), q = st->quar_total;
	char nb[16];
	bool first = true;

	printf("{\"pid\":%ld,\"keeper\":%ld,\"layout\":%u,"
	    "\"uptime_s\":%.3f,\"started_unix\":%llu,\n", (long)pid,
	    (long)s->keeper, s->hdr.version,
	    (double)(now - st->start_ns) / 1e9,
	    (unsigned long long)st->start_real_s);
	printf(" \"worker\":{\"incarnation\":%llu,\"pid\":%ld,\"state\":\"%s\","
	    "\"serving\":%s},\n", (unsigned long long)s->hdr.incarnation,
	    (long)s->worker, worker_state(s),
	    s->hdr.recovered ? "true" : "false");
	printf(" \"crashes\":{");
	for (unsigned c = STATS_CAUSE_SIGNAL; c < STATS_CAUSE_UPGRADE; c++)
		printf("%s\"%s\":%llu", c == STATS_CAUSE_SIGNAL ? "" : ",",
		    stats_cause_name(c), (unsigned long long)st->crashes[c]);
	printf("},\n \"recoveries\":{\"count\":%llu,\"last_stall_ns\":%llu,"
	    "\"p99_stall_ns\":%llu},\n", (unsigned long long)st->recoveries,
	    (unsigned long long)st->last_stall_ns, (unsigned long long)
	    quantile(st->stall_hist, STATS_BUCKETS, 0.99));
	printf(" \"replayed\":%llu,\"quarantined\":%llu,\"quarantine\":[",
	    (unsigned long long)st->replayed,
	    (unsigned long long)s->health.quarantined);
	for (uint64_t i = q > STATS_QUAR_MAX ? q - STATS_QUAR_MAX : 0; i < q;
	    i++) {
		const struct stats_quar_rec *r = &st->quar[i % STATS_QUAR_MAX];

		printf("%s{\"opcode\":\"%s\",\"nodeid\":%llu,\"queue\":%llu,"
		    "\"head\":%llu,\"age_ns\":%llu}", i == (q > STATS_QUAR_MAX ?
		    q - STATS_QUAR_MAX : 0) ? "" : ",",
		    op_name(r->opcode < STATS_OPCODES ? (unsigned)r->opcode :
		    STATS_OP_OTHER, nb, sizeof(nb)),
		    (unsigned long long)r->nodeid,
		    (unsigned long long)(r->where >> 16),
		    (unsigned long long)(r->where & 0xffff),
		    (unsigned long long)(now - r->when_ns));
	}
	printf("],\n \"degraded\":%s,\"failed_recoveries\":%llu,"
	    "\"upgrades\":%llu,\"upgrades_refused\":%llu,\n",
	    s->hdr.degraded ? "true" : "false",
	    (unsigned long long)s->hdr.failed_recoveries,
	    (unsigned long long)s->health.upgrades,
	    (unsigned long long)s->health.upgrades_refused);
	printf(" \"inodes\":{\"used\":%llu,\"capacity\":%llu,\"with_fd\":%llu},"
	    "\"handles\":{\"used\":%llu,\"capacity\":%llu},"
	    "\"fds\":{\"used\":%ld,\"capacity\":%ld},\n",
	    (unsigned long long)s->ihdr.live,
	    (unsigned long long)s->hdr.inode_cap,
	    (unsigned long long)s->ihdr.fds, (unsigned long long)s->hhdr.live,
	    (unsigned long long)s->hdr.handle_cap, s->fds, s->fd_limit);
	printf(" \"region\":{\"resident_bytes\":%llu,\"size_bytes\":%llu},\n",
	    (unsigned long long)s->region_bytes,
	    (unsigned long long)s->hdr.size);
	printf(" \"requests\":{");
	for (unsigned o = 0; o < STATS_OPCODES; o++) {
		uint64_t n = sum(s->hist[o], STATS_BUCKETS);

		if (n == 0)
			continue;
		printf("%s\n  \"%s\":{\"count\":%llu,\"p50_ns\":%llu,"
		    "\"p90_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu}",
		    first ? "" : ",", op_name(o, nb, sizeof(nb)),
		    (unsigned long long)n,
		    (unsigned long long)quantile(s->hist[o], STATS_BUCKETS, .5),
		    (unsigned long long)quantile(s->hist[o], STATS_BUCKETS, .9),
		    (unsigned long long)quantile(s->hist[o], STATS_BUCKETS, .99),
		    (unsigned long long)quantile(s->hist[o], STATS_BUCKETS, 1));
		first = false;
	}
	printf("}}\n");
}

int
status_tool(int argc, char **argv)
{
	static struct snap s;
	const char *pid_file = NULL;
	bool json = false;
	long pid = 0;
	int err;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc)
			pid_file = argv[++i];
		else if (strncmp(argv[i], "--pid-file=", 11) == 0)
			pid_file = argv[i] + 11;
		else if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc)
			pid = strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: phoenixfsd --status [--json] "
			    "--pid-file PATH | --pid PID\n");
			return 2;
		}
	}
	if (pid_file != NULL)
		pid = read_pid(pid_file);
	if (pid <= 0) {
		fprintf(stderr, "phoenixfsd --status: %s\n", pid_file == NULL ?
		    "give --pid-file PATH or --pid PID" :
		    "no pid in the pid file");
		return 2;
	}
	err = snapshot(&s, (pid_t)pid);
	if (err < 0) {
		fprintf(stderr, "phoenixfsd --status: pid %ld: %s\n", pid,
		    err == -EPROTO ? "not a state region of this layout "
		    "version" : err == -ENOENT ? "no phoenixfsd state region" :
		    strerror(-err));
		return 1;
	}
	if (json)
		print_json(&s, (pid_t)pid);
	else
		print_text(&s, (pid_t)pid);
	free(s.stats);
	return fflush(stdout) == 0 ? 0 : 1;
}
