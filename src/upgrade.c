/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plumbing of a live upgrade (DESIGN 8): the operator's tool, the
 * SIGUSR2 hand-over of the new binary's fd (sigqueue value = fd number in
 * the sender, taken with pidfd_getfd), the launcher's relay into the PID
 * namespace over a socketpair, and the probe of the state layout. The
 * exec itself is the keeper's (keeper.c). Signal handler: flags only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "region.h"
#include "upgrade.h"

static volatile sig_atomic_t req_pending;
static volatile pid_t req_pid;
static volatile int req_fd;

static void
on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_QUEUE)
		return;
	req_pid = si->si_pid;
	req_fd = si->si_value.sival_int;
	req_pending = 1;
}

void
upgrade_install_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}

/* The identity of the file behind fd number fd of process pid. */
static int
sender_id(pid_t pid, int fd, struct upgrade_id *ret_id)
{
	char path[64];
	struct stat st;
	int err;

	/*
	 * The keeper goes through its kept /proc root (no absolute path in
	 * a sandbox); the launcher, outside any sandbox, has a placeholder
	 * there and uses /proc.
	 */
	if (fstat(REGION_FD_PROC, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(path, sizeof(path), "%ld/fd/%d", (long)pid, fd);
		err = fstatat(REGION_FD_PROC, path, &st, 0);
	} else {
		snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
		err = stat(path, &st);
	}
	if (err < 0)
		return -errno;
	ret_id->dev = st.st_dev;
	ret_id->ino = st.st_ino;
	return 0;
}

int
upgrade_check(int fd, const struct upgrade_id *id)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_dev != id->dev || st.st_ino != id->ino)
		return -ESTALE;
	return 0;
}

bool
upgrade_pending(int sock)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};

	if (sock < 0)
		return req_pending != 0;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

int
upgrade_take_signalled(int *ret_fd, struct upgrade_id *ret_id)
{
	int pidfd, fd, err;
	pid_t pid;

	if (!req_pending)
		return 0;
	req_pending = 0;
	pid = req_pid;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	/* The sender's file, named in the sender's table (it keeps it open
	 * until we ran it or refused it); the pidfd pins the pid. */
	err = sender_id(pid, (int)req_fd, ret_id);
	if (err < 0) {
		close(pidfd);
		return err;
	}
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)req_fd, 0);
	close(pidfd);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 1;
}

/* The relay message: 'I' and the identity (a 1-byte 'U': none, old). */
struct relay_msg {
	char tag;
	struct upgrade_id id;
};

void
upgrade_forward(int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct relay_msg m;
	struct msghdr mh;
	struct iovec iov;
	int fd, err;

	memset(&m, 0, sizeof(m));
	m.tag = 'I';
	/* Our own table (the launcher's): nothing else can close it. */
	err = upgrade_take_signalled(&fd, &m.id);
	if (err <= 0) {
		if (err < 0)
			log_warnc(err, "upgrade: cannot take the new binary");
		return;
	}
	if (upgrade_check(fd, &m.id) < 0) {
		log_warnx("upgrade: the new binary is not a regular file");
		close(fd);
		return;
	}
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = &m;
	iov.iov_len = sizeof(m);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &fd, sizeof(int));
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		log_warn("upgrade: cannot pass the new binary to the keeper");
	close(fd);
}

int
upgrade_receive(int sock, int *ret_fd, struct upgrade_id *ret_id)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct relay_msg m;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	struct stat st;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &m;
	iov.iov_len = sizeof(m);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 0;
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	if (n == (ssize_t)sizeof(m) && m.tag == 'I') {
		*ret_id = m.id;
	} else {
		/* A launcher of an older version sends no identity: the
		 * file as it is now (the window is the caller's few
		 * instructions before it records the fd). */
		if (fstat(*ret_fd, &st) < 0)
			return -errno;
		ret_id->dev = st.st_dev;
		ret_id->ino = st.st_ino;
	}
	return 1;
}

int
upgrade_probe(void)
{
	struct region r;
	struct stat st;
	void *base;
	int err;

	if (fstat(REGION_FD_STATE, &st) < 0)
		return 3;
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
	    REGION_FD_STATE, 0);
	if (base == MAP_FAILED)
		return 3;
	err = region_attach(&r, base, (uint64_t)st.st_size);
	munmap(base, (size_t)st.st_size);
	return err == 0 ? 0 : 4;
}

/* The pid that takes the request: the keeper's parent if it is pid 1 of
 * a namespace of its own (the launcher relays), else the keeper. */
static pid_t
target_of(pid_t keeper)
{
	char path[64], line[256];
	pid_t ppid = 0;
	int nspids = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)keeper);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "PPid:", 5) == 0)
			ppid = (pid_t)atol(line + 5);
		if (strncmp(line, "NSpid:", 6) == 0) {
			char *p = line + 6, *end;

			for (;;) {
				strtol(p, &end, 10);
				if (end == p)
					break;
				nspids++;
				p = end;
			}
		}
	}
	fclose(f);
	return nspids > 1 ? ppid : keeper;
}

/* The keeper's upgrade counters, read from its state region. */
static int
region_counters(pid_t keeper, uint64_t *ret_done, uint64_t *ret_refused)
{
	char path[64];
	struct region r;
	struct stat st;
	void *base;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)keeper,
	    REGION_FD_STATE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return -errno;
	err = region_attach(&r, base, (uint64_t)st.st_size);
	if (err == 0) {
		*ret_done = __atomic_load_n(&r.health->upgrades,
		    __ATOMIC_ACQUIRE);
		*ret_refused = __atomic_load_n(&r.health->upgrades_refused,
		    __ATOMIC_ACQUIRE);
	}
	munmap(base, (size_t)st.st_size);
	return err;
}

static bool
same_file(const char *a, const struct stat *b)
{
	struct stat st;

	return stat(a, &st) == 0 && st.st_dev == b->st_dev &&
	    st.st_ino == b->st_ino;
}

int
upgrade_tool(int argc, char **argv)
{
	const char *bin = NULL, *pidfile = NULL;
	char buf[32], exe[64];
	union sigval v;
	struct stat st;
	pid_t keeper, target;
	uint64_t done0, refused0;
	FILE *f;
	int fd;

	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--pid-file=", 11) == 0)
			pidfile = argv[i] + 11;
		else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc)
			pidfile = argv[++i];
		else if (bin == NULL && argv[i][0] != '-')
			bin = argv[i];
	}
	if (bin == NULL || pidfile == NULL) {
		fprintf(stderr, "phoenixfsd: usage: phoenixfsd --upgrade NEWBINARY "
		    "--pid-file=FILE\n");
		return 2;
	}
	f = fopen(pidfile, "re");
	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
		fprintf(stderr, "phoenixfsd: cannot read %s\n", pidfile);
		return 1;
	}
	fclose(f);
	keeper = (pid_t)atol(buf);
	target = target_of(keeper);
	fd = open(bin, O_RDONLY | O_CLOEXEC);
	if (keeper <= 0 || target <= 0 || fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "phoenixfsd: cannot upgrade keeper %s with %s: "
		    "%s\n", buf, bin, strerror(errno));
		return 1;
	}
	if (region_counters(keeper, &done0, &refused0) < 0)
		done0 = refused0 = 0;
	v.sival_int = fd;
	if (sigqueue(target, SIGUSR2, v) < 0) {
		fprintf(stderr, "phoenixfsd: cannot signal %ld: %s\n",
		    (long)target, strerror(errno));
		return 1;
	}
	/*
	 * Keep the fd open until the keeper ran it or refused it (its
	 * counters in the state region say which), or 20 s.
	 */
	snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)keeper);
	for (int i = 0; i < 400; i++) {
		uint64_t done = 0, refused = 0;

		if (region_counters(keeper, &done, &refused) == 0) {
			if (done > done0 && same_file(exe, &st)) {
				printf("phoenixfsd: keeper %ld now runs %s\n",
				    (long)keeper, bin);
				return 0;
			}
			if (refused > refused0) {
				fprintf(stderr, "phoenixfsd: keeper %ld refused "
				    "%s: it does not accept the state layout\n",
				    (long)keeper, bin);
				return 1;
			}
		} else if (same_file(exe, &st)) {
			printf("phoenixfsd: keeper %ld now runs %s\n",
			    (long)keeper, bin);
			return 0;
		}
		usleep(50000);
	}
	fprintf(stderr, "phoenixfsd: keeper %ld did not take %s (refused: see "
	    "its log)\n", (long)keeper, bin);
	return 1;
}
