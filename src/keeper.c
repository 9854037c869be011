/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Launcher and keeper (DESIGN 1). The keeper is single-threaded and small:
 * it owns the state region and the reserved fds, and supervises one worker
 * at a time. A worker shares the keeper's fd table (clone(CLONE_FILES), no
 * exec), so its death closes nothing: QEMU sees no disconnect. The keeper
 * learns of a death from the kernel clearing the worker's ctid word in the
 * region (CLONE_CHILD_CLEARTID wakes a futex as the main thread releases its
 * mm), waits until every task of the worker has released its mm (vsize 0),
 * and clones the next worker at once; the dead one is reaped later, its
 * page-table teardown off the stall. A worker that exits 0 after recording
 * the peer's close ends the daemon, as virtiofsd ends when QEMU goes away.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "caps.h"
#include "clock.h"
#include "crashpoint.h"
#include "filter.h"
#include "phase.h"
#include "fault.h"
#include "fdtab.h"
#include "handle.h"
#include "inode.h"
#include "keeper.h"
#include "kfilter.h"
#include "log.h"
#include "region.h"
#include "sandbox.h"
#include "stats.h"
#include "upgrade.h"
#include "worker.h"

#define WORKER_STACK (1 << 20)

static volatile sig_atomic_t got_term, got_chld;

struct keeper {
	const struct config *cfg;
	struct region r;
	pid_t worker;		/* current worker, 0 = none */
	void *stack;
	int oom_fd;		/* the cgroup's OOM kill counter file, -1 */
	uint64_t oom_kills;	/* its last value */
	uint64_t faults_seen;	/* faults + watchdog kills at the last spawn */
	int upgrade_fd;		/* a new binary to exec, -1; in the fdlist */
	struct upgrade_id upgrade_id; /* the file the operator sent */
	unsigned spawn_failures; /* clone() failures in a row */
	struct region_poison_rec poison_seen[REGION_POISON_MAX]; /* at spawn */
	uint64_t healthy_since;	/* the worker was first seen recovered, 0 */
	uint64_t degraded_since; /* degraded mode entered (clock), 0 */
	bool relayed;		/* upgrades arrive on REGION_FD_UPGRADE */
};

/*
 * Our command line, copied at process start into keeper memory (glibc
 * passes argc and argv to init_array functions): the argv of the re-exec
 * after a live upgrade. Never read back from a file: after sandbox_enter
 * every path leads into the guest's share, and even /proc/self/cmdline
 * through the kept proc root is ours to avoid (issue 9 finding 1).
 * argv_ok is false when the copy did not fit: upgrades are then refused.
 */
static char argv_buf[65536];
static char *argv_copy[512];
static bool argv_ok;

static void __attribute__((constructor))
save_argv(int argc, char **argv, char **envp)
{
	size_t used = 0, len;
	int n = 0;

	(void)envp;
	if (argc <= 0 || argv == NULL || argc >= (int)nitems(argv_copy))
		return;
	for (int i = 0; i < argc; i++) {
		if (argv[i] == NULL)
			return;
		len = strlen(argv[i]) + 1;
		if (len > sizeof(argv_buf) - used)
			return;
		memcpy(argv_buf + used, argv[i], len);
		argv_copy[n++] = argv_buf + used;
		used += len;
	}
	argv_copy[n] = NULL;
	argv_ok = true;
}

/*
 * True if the ELF at fd needs no program interpreter. In the sandbox the
 * kernel would look PT_INTERP up in the share (and ld.so its libraries):
 * a dynamically linked binary is never executed after sandbox_enter.
 */
static bool
elf_is_static(int fd)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph) || eh.e_phnum == 0)
		return false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff +
		    (uint64_t)i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return false;
		if (ph.p_type == PT_INTERP)
			return false;
	}
	return true;
}

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static int
clear_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* Creates (or adopts, for --fd) the listening socket at REGION_FD_LISTEN. */
static int
listen_socket(const struct config *cfg)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	if (cfg->socket_fd >= 0) {
		fd = cfg->socket_fd;
	} else {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(cfg->socket_path) >= sizeof(sun.sun_path)) {
			log_warnx("socket path too long: %s", cfg->socket_path);
			return -ENAMETOOLONG;
		}
		strcpy(sun.sun_path, cfg->socket_path);
		if (lstat(cfg->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(cfg->socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			log_warn("cannot bind %s", cfg->socket_path);
			return -errno;
		}
		if (cfg->socket_group[0] != '\0') {
			struct group *g = getgrnam(cfg->socket_group);

			if (g == NULL) {
				log_warnx("unknown group %s", cfg->socket_group);
				return -EINVAL;
			}
			if (chown(cfg->socket_path, (uid_t)-1, g->gr_gid) < 0 ||
			    chmod(cfg->socket_path, 0660) < 0)
				return -errno;
		} else if (chmod(cfg->socket_path, 0600) < 0) {
			return -errno;
		}
		if (listen(fd, 1) < 0)
			return -errno;
	}
	if (fd != REGION_FD_LISTEN) {
		if (dup2(fd, REGION_FD_LISTEN) < 0)
			return -errno;
		close(fd);
	}
	return clear_cloexec(REGION_FD_LISTEN);
}

/*
 * Holds every reserved fd number that is not in use yet (the connection,
 * before accept) with /dev/null, so no ordinary open takes it and a later
 * dup2 onto it replaces only the placeholder.
 */
static void
reserve_fds(void)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0)
		fatal("/dev/null");
	for (int fd = REGION_FD_BASE; fd < REGION_FD_NEXT; fd++)
		if (fcntl(fd, F_GETFD) < 0 && dup2(null, fd) < 0)
			fatal("cannot reserve fd %d", fd);
	close(null);
}

static void
raise_nofile(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (cfg->rlimit_nofile > 0) {
		rl.rlim_cur = cfg->rlimit_nofile;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
	} else {
		rl.rlim_cur = rl.rlim_max;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot set RLIMIT_NOFILE");
}

/*
 * The pid file is opened before the keeper builds its sandbox (which
 * changes the root the launcher shares with it) and written after.
 */
static int
open_pid_file(const char *path)
{
	int fd;

	if (path[0] == '\0')
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		log_warn("cannot write %s", path);
	return fd;
}

static int
write_pid_file(int fd, pid_t pid)
{
	char buf[32];
	int n;

	if (fd < 0)
		return 0;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (write(fd, buf, n) != n)
		return -EIO;
	return 0;
}

struct worker_arg {
	struct region *r;
	const struct config *cfg;
};

static int
worker_trampoline(void *p)
{
	struct worker_arg *a = p;

	_exit(worker_main(a->r, a->cfg));
}

static struct worker_arg warg;

static int
spawn(struct keeper *k)
{
	/*
	 * PARENT_SETTID fills the word before clone returns (CHILD_SETTID
	 * only when the child first runs), so watch() never sees a 0 that
	 * means "not started yet".
	 */
	int flags = CLONE_FILES | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
	    CLONE_CHILD_CLEARTID | SIGCHLD;
	pid_t pid;

	warg.r = &k->r;
	warg.cfg = k->cfg;
	k->faults_seen = region_load(&k->r.health->faults) +
	    region_load(&k->r.health->watchdog_kills);
	stats_spawned(&k->r);
	memcpy(k->poison_seen, k->r.health->poison, sizeof(k->poison_seen));
	k->healthy_since = 0;
	k->r.hdr->incarnation++; /* a failed clone wastes a number: harmless */
	k->r.hdr->worker_ctid = 0;
	k->r.hdr->recovered = 0;
#ifdef PHX_CRASHPOINTS
	{
		/* Test hook: PHX_CLONE_FAIL=N fails N respawns (EAGAIN). */
		static unsigned spawns, failed;
		const char *e = getenv("PHX_CLONE_FAIL");

		if (spawns++ > 0 && e != NULL && failed < strtoul(e, NULL,
		    10)) {
			failed++;
			return -EAGAIN;
		}
	}
#endif
	phase_mark(PHASE_K_CLONE);
	pid = clone(worker_trampoline, (char *)k->stack + WORKER_STACK, flags,
	    &warg, (pid_t *)&k->r.hdr->worker_ctid, NULL,
	    (pid_t *)&k->r.hdr->worker_ctid);
	if (pid < 0)
		return -errno;
	k->worker = pid;
	k->r.hdr->worker_pid = (uint64_t)pid;
	return 0;
}

/*
 * The cgroup's OOM-kill counter tells an OOM kill from an external SIGKILL
 * (both arrive as SIGKILL): memory.events (v2) or memory.oom_control (v1),
 * opened before the sandbox hides /sys.
 */
static int
open_oom_counter(void)
{
	char line[512], path[700];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int fd = -1;

	if (f == NULL)
		return -1;
	while (fd < 0 && fgets(line, sizeof(line), f) != NULL) {
		char *p = strrchr(line, ':');

		if (p == NULL)
			continue;
		p[strcspn(p, "\n")] = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/"
			    "memory.events", p + 1);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		} else if (strstr(line, ":memory:") != NULL) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/"
			    "memory.oom_control", p + 1);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	fclose(f);
	return fd;
}

static uint64_t
oom_kills(int fd)
{
	char buf[1024], *p;
	ssize_t n;

	if (fd < 0 || (n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "oom_kill ");
	return p != NULL ? strtoull(p + 9, NULL, 10) : 0;
}

/* vsize (field 23) of one /proc/PID/task/TID/stat; -1 if gone. */
static long long
task_vsize(int dirfd, const char *tid)
{
	char path[320], buf[1024], *p;
	long long vsize = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/stat", tid);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	/* After ")": state is field 3; vsize is field 23. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
	    "%*u %*d %*d %*d %*d %*d %*d %*u %lld", &vsize) != 1)
		return -1;
	return vsize;
}

/* True once every task of pid has dropped its mm (or is gone). */
static bool
mm_released(pid_t pid)
{
	char path[32];
	struct dirent *de;
	bool released = true;
	DIR *d;
	int fd;

	snprintf(path, sizeof(path), "%ld/task", (long)pid);
	fd = openat(REGION_FD_PROC, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return true;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return true;
	}
	while (released && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (task_vsize(dirfd(d), de->d_name) > 0)
			released = false;
	}
	closedir(d);
	return released;
}

static int
futex_wait(uint32_t *word, uint32_t val, long timeout_ms)
{
	struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000};

	return (int)syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

/* Reaps every exited child; returns the status of pid if it was reaped. */
static int
reap(struct keeper *k, pid_t pid, bool *ret_reaped)
{
	int status = 0, st;
	pid_t p;

	*ret_reaped = false;
	while ((p = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
		if (WIFSIGNALED(st))
			log_info("worker %ld ended (signal %d)", (long)p,
			    WTERMSIG(st));
		else if (WEXITSTATUS(st) != 0)
			log_info("worker %ld ended (status %d)", (long)p,
			    WEXITSTATUS(st));
		if (WIFSIGNALED(st)) {
			if (WTERMSIG(st) == SIGKILL)
				k->r.hdr->deaths_kill++;
			else
				k->r.hdr->deaths_fault++;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
			k->r.hdr->deaths_exit++;
		}
		if (p == pid) {
			*ret_reaped = true;
			status = st;
		}
	}
	return status;
}

static void
stop_worker(struct keeper *k)
{
	bool reaped;

	if (k->worker <= 0)
		return;
	kill(k->worker, SIGKILL);
	for (;;) {
		reap(k, k->worker, &reaped);
		if (reaped || errno == ECHILD)
			break;
		usleep(1000);
	}
	k->worker = 0;
}

/*
 * DESIGN 6, the keeper's half. A death that was ours (fault, fatal exit,
 * watchdog, OOM) is a failed recovery unless it counted against a request
 * while quarantine comes first (--quarantine-crashes <= --degrade-after):
 * that is progress, the request is quarantined at N crashes, so such
 * deaths are bounded and two poison requests never degrade the service. The count is reset only after the worker served for a healthy
 * window (2 x the watchdog period) without a death, not by recovery alone:
 * a crash that recurs outside any request (a vhost-user message, a ring
 * parse, a push) then reaches backoff and degraded mode. Degraded mode is
 * left at a new guest session (fdispatch.c session_end()) or, as a probe, after
 * 6 watchdog periods in it without a death: one more failure then
 * re-enters it at once.
 */
static uint64_t
period_ns(const struct keeper *k)
{
	return (k->cfg->watchdog_ms ? k->cfg->watchdog_ms : 5000) * 1000000ULL;
}

/* True if the last death counted a crash against a request. */
static bool
request_progress(const struct keeper *k)
{
	const struct region_poison_rec *p = k->r.health->poison;

	for (unsigned i = 0; i < REGION_POISON_MAX; i++) {
		uint64_t key = region_load(&p[i].key);
		uint64_t was = 0;

		if (key >> 56 != REGION_ACT_REQUEST)
			continue;
		for (unsigned j = 0; j < REGION_POISON_MAX; j++)
			if (k->poison_seen[j].key == key)
				was = k->poison_seen[j].crashes;
		if (region_load(&p[i].crashes) > was)
			return true;
	}
	return false;
}

static void
health(struct keeper *k)
{
	uint64_t now = clock_now_ns();
	struct region_hdr_rec *h = k->r.hdr;

	if (!__atomic_load_n(&h->recovered, __ATOMIC_ACQUIRE))
		return;
	if (k->healthy_since == 0)
		k->healthy_since = now;
	if (region_load(&h->degraded) == 0)
		k->degraded_since = 0;
	else if (k->degraded_since == 0)
		k->degraded_since = now;
	if (h->failed_recoveries > 0 && !h->degraded &&
	    now - k->healthy_since >= 2 * period_ns(k))
		h->failed_recoveries = 0;
	if (h->degraded && now - k->healthy_since >= 6 * period_ns(k) &&
	    now - k->degraded_since >= 6 * period_ns(k)) {
		log_warnx("no crash for %llu ms: leaving degraded mode",
		    (unsigned long long)((now - k->healthy_since) / 1000000));
		h->failed_recoveries = k->cfg->degrade_after > 0 ?
		    k->cfg->degrade_after - 1 : 0;
		region_store(&h->degraded, 0);
		k->degraded_since = 0;
	}
}

/*
 * The watchdog (DESIGN 6): a worker thread that stays in one activity
 * longer than --watchdog-ms gets the worker killed, and the crash counts
 * against every activity in progress.
 */
static void
watchdog(struct keeper *k)
{
	uint64_t now = clock_now_ns(), limit = k->cfg->watchdog_ms * 1000000ULL;

	if (limit == 0 || !__atomic_load_n(&k->r.hdr->recovered,
	    __ATOMIC_ACQUIRE))
		return;
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++) {
		struct region_thread_rec *t = &k->r.threads[i];
		uint64_t act = region_load(&t->act);

		uint64_t start = region_load(&t->act_start_ns);

		if (!region_load(&t->in_use) || act == REGION_ACT_IDLE ||
		    act == REGION_ACT_HOUSEKEEPING)
			continue;
		/* An activity that began after we read the clock is young. */
		if (start >= now || now - start < limit)
			continue;
		log_warnx("worker thread %u stuck in activity %llu for %llu ms: "
		    "killing the worker", i, (unsigned long long)act,
		    (unsigned long long)((now - start) / 1000000));
		fault_count_all_active(&k->r);
		k->r.health->watchdog_kills++;
		kill(k->worker, SIGKILL);
		return;
	}
}

/*
 * Lets go of the upgrade fd: closed only if it still is the operator's
 * file; otherwise its number now belongs to someone else (a worker's
 * table) and is left alone.
 */
static void
upgrade_release(struct keeper *k, int fd)
{
	fdtab_keeper_begin(&k->r);
	if (upgrade_check(fd, &k->upgrade_id) == 0)
		close(fd);
	fdtab_keeper_del(&k->r, fd);
	fdtab_keeper_end(&k->r);
}

static bool
upgrade_requested(struct keeper *k)
{
	int fd = -1, err;

	if (!upgrade_pending(k->relayed ? REGION_FD_UPGRADE : -1))
		return false;
	/* Its fds (a pidfd, the binary's) off our list: a snapshot waits. */
	fdtab_keeper_begin(&k->r);
	err = k->relayed ? upgrade_receive(REGION_FD_UPGRADE, &fd,
	    &k->upgrade_id) : upgrade_take_signalled(&fd, &k->upgrade_id);
	if (err > 0 && fdtab_keeper_add(&k->r, fd) < 0) {
		/* Unlisted, a worker's sweep could close it: never use it. */
		close(fd);
		err = -ENOSPC;
	}
	fdtab_keeper_end(&k->r);
	if (err < 0)
		log_warnc(err, "upgrade request dropped");
	if (err <= 0)
		return false;
	/* Recorded: from here on no sweep closes it (issue 9 finding 10). */
	DELAYPOINT("keeper.upgrade_fd");
#ifdef PHX_CRASHPOINTS
	/* Test hook: the number now names another file (a sweep closed it
	 * and something else took it): the keeper must refuse it. */
	if (getenv("PHX_TEST_UPGRADE_SWAP") != NULL)
		(void)dup2(REGION_FD_BINARY, fd);
#endif
	k->upgrade_fd = fd;
	return true;
}

static void
clear_cloexec_of_state(struct keeper *k)
{
	struct region *r = &k->r;

	for (int fd = REGION_FD_BASE; fd < REGION_FD_NEXT; fd++)
		(void)clear_cloexec(fd);
	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		if (r->dev->mem[i].fd >= 0)
			(void)clear_cloexec((int)r->dev->mem[i].fd);
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		(void)clear_cloexec((int)r->dev->queue[q].kick_fd);
		(void)clear_cloexec((int)r->dev->queue[q].call_fd);
		(void)clear_cloexec((int)r->dev->queue[q].err_fd);
	}
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++)
		(void)clear_cloexec((int)r->threads[i].ring_fd);
	for (uint64_t i = 0; i < r->ihdr->high && i < r->hdr->inode_cap; i++)
		if (r->inodes[i].used == 1)
			(void)clear_cloexec((int)r->inodes[i].fd);
	for (uint64_t i = 0; i < r->hhdr->high && i < r->hdr->handle_cap; i++)
		if (r->handles[i].used == 1)
			(void)clear_cloexec((int)r->handles[i].fd);
}

/*
 * True (and the upgrade refused) if fd no longer names the file the
 * operator sent: its number then belongs to someone else (a table's fd
 * after a sweep), so it leaves the keeper's list and is never closed.
 */
static bool
upgrade_swapped(struct keeper *k, int fd)
{
	if (upgrade_check(fd, &k->upgrade_id) == 0)
		return false;
	log_warnx("upgrade refused: fd %d is no longer the binary the "
	    "operator sent", fd);
	k->r.health->upgrades_refused++;
	fdtab_keeper_del(&k->r, fd);
	return true;
}

/*
 * DESIGN 8: probe the new binary against the region, stop the worker,
 * exec. Returns only if the upgrade did not happen.
 */
static void
do_upgrade(struct keeper *k)
{
	char *probe_argv[] = {"phoenixfsd", "--probe-layout", NULL};
	int fd = k->upgrade_fd, st;
	char oomfd[16];
	pid_t p;

	k->upgrade_fd = -1;
	/* Fail closed: only ever execute the file the operator sent. */
	if (upgrade_swapped(k, fd))
		return;
	if (!argv_ok || !elf_is_static(fd)) {
		log_warnx("upgrade refused: %s", !argv_ok ? "our command line "
		    "was not saved" : "the new binary is not statically linked "
		    "(its interpreter would be looked up in the shared "
		    "directory)");
		k->r.health->upgrades_refused++;
		/*
		 * Closed, then off the list (as upgrade_release): listed and
		 * open, a worker's snapshot never takes it for a leak.
		 */
		fdtab_keeper_begin(&k->r);
		close(fd); /* checked above: still the operator's file */
		fdtab_keeper_del(&k->r, fd);
		fdtab_keeper_end(&k->r);
		return;
	}
	p = fork();
	if (p == 0) {
		/* Our own table now: checked here, nothing can swap it. */
		if (upgrade_check(fd, &k->upgrade_id) < 0)
			_exit(126);
		syscall(SYS_execveat, fd, "", probe_argv, environ,
		    AT_EMPTY_PATH);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		log_warnx("upgrade refused: the new binary does not accept "
		    "this state layout (probe status %d)", p < 0 ? -1 : st);
		k->r.health->upgrades_refused++;
		upgrade_release(k, fd);
		return;
	}
	log_info("upgrade: stopping the worker and executing the new binary");
	stats_upgrading(&k->r);
	stop_worker(k);
	/* No worker shares the table any more: this check is final. */
	if (upgrade_swapped(k, fd))
		return;
	clear_cloexec_of_state(k);
	/* The OOM counter survives the exec (DESIGN 6 after an upgrade). */
	if (k->oom_fd >= 0 && clear_cloexec(k->oom_fd) == 0) {
		snprintf(oomfd, sizeof(oomfd), "%d", k->oom_fd);
		setenv("PHX_KEEPER_OOM_FD", oomfd, 1);
	}
	setenv("PHX_KEEPER_RESUME", "1", 1);
	setenv("PHX_KEEPER_SHARED_DIR", k->cfg->shared_dir, 1);
	syscall(SYS_execveat, fd, "", argv_copy, environ, AT_EMPTY_PATH);
	log_warn("upgrade: exec failed");
	unsetenv("PHX_KEEPER_RESUME");
	unsetenv("PHX_KEEPER_SHARED_DIR");
	unsetenv("PHX_KEEPER_OOM_FD");
	if (k->oom_fd >= 0)
		(void)fcntl(k->oom_fd, F_SETFD, FD_CLOEXEC);
	upgrade_release(k, fd);
}

/* True once QEMU hung up the connection (nothing is read from it). */
static bool
peer_gone(void)
{
	struct pollfd p = { .fd = REGION_FD_CONN, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP |
	    POLLNVAL)) != 0 && !(p.revents & POLLNVAL);
}

/*
 * clone() failed (EAGAIN or ENOMEM: pids.max while the dead worker's
 * threads are unreaped, memory pressure). Never give up while QEMU is
 * connected: reap what can be reaped, back off (10 ms doubling to 1 s),
 * and try again. Returns false when there is no one left to serve.
 */
static bool
spawn_backoff(struct keeper *k, int err)
{
	unsigned n = ++k->spawn_failures;
	bool reaped;

	if (n == 1 || (n & (n - 1)) == 0)
		log_warnc(err, "cannot start a worker (%u failures in a row): "
		    "retrying", n);
	(void)reap(k, -1, &reaped);
	if (region_load(&k->r.hdr->conn_state) == REGION_CONN_UP &&
	    peer_gone()) {
		log_info("vhost-user connection closed, exiting");
		return false;
	}
	usleep(MIN(1000000u, 10000u << MIN(n - 1, 7)));
	return got_term == 0;
}

/* Waits for the current worker's death; returns its wait status or -1. */
static int
watch(struct keeper *k)
{
	uint32_t tid;
	uint64_t t0, last_log = 0;
	bool reaped;
	int st;

	for (;;) {
		if (got_term)
			return -1;
		tid = __atomic_load_n(&k->r.hdr->worker_ctid, __ATOMIC_ACQUIRE);
		if (tid == 0)
			break;
		got_chld = 0;
		futex_wait(&k->r.hdr->worker_ctid, tid, 100);
		watchdog(k);
		health(k);
		if (upgrade_requested(k))
			return -2;
		st = reap(k, k->worker, &reaped);
		if (reaped)
			return st;
	}
	/* The main thread is gone: wait for every task's mm, not teardown. */
	phase_mark(PHASE_K_NOTICED);
	t0 = clock_now_ns();
	while (!mm_released(k->worker)) {
		st = reap(k, k->worker, &reaped);
		if (reaped)
			return st;
		if (clock_now_ns() - t0 > 1000000000ULL &&
		    clock_now_ns() - last_log > 1000000000ULL) {
			log_warnx("worker %ld still holds its memory after %llu ms "
			    "(a task in D state?)", (long)k->worker,
			    (unsigned long long)((clock_now_ns() - t0) / 1000000));
			last_log = clock_now_ns();
		}
		usleep(50);
	}
	phase_mark(PHASE_K_MM);
	st = reap(k, k->worker, &reaped);
	return reaped ? st : 0x7f00; /* "died, not yet reaped" */
}

static int
keeper_loop(struct keeper *k)
{
	uint64_t died;
	bool oom;
	int st, err;

	/* Every worker drops from this copy of our bounding set (caps.h). */
	caps_prepare();
	/* Every worker loads this copy, its pid written in (filter.c). */
	filter_prepare(k->cfg->seccomp,
	    k->cfg->inode_file_handles != CONFIG_IFH_NEVER);
	/* Sandbox and region are built: the keeper's own filter (kfilter.h). */
	err = kfilter_install(k->cfg->seccomp);
	if (err == -EACCES) { /* a container without CAP_SYS_ADMIN */
		log_warnx("no CAP_SYS_ADMIN: the keeper runs without its "
		    "seccomp filter (the workers keep theirs)");
	} else if (err < 0) {
		log_warnc(err, "cannot install the keeper's seccomp filter");
		return 1;
	}
	for (;;) {
		if (k->worker <= 0 && (err = spawn(k)) < 0) {
			if (spawn_backoff(k, err))
				continue;
			return got_term ? 0 : 1;
		}
		if (k->spawn_failures > 0) {
			log_info("worker started after %u failed attempts",
			    k->spawn_failures);
			k->spawn_failures = 0;
		}
		st = watch(k);
		if (st == -1) {
			log_info("terminating");
			stop_worker(k);
			return 0;
		}
		if (st == -2) {
			/* Returns if refused (the worker still serves) or if
			 * the exec failed after the stop (worker 0: respawn). */
			do_upgrade(k);
			continue;
		}
		died = clock_now_ns();
		oom = false;
		if (oom_kills(k->oom_fd) != k->oom_kills) {
			oom = true;
			/* DESIGN 6: an OOM kill counts against every activity. */
			k->oom_kills = oom_kills(k->oom_fd);
			fault_count_all_active(&k->r);
			log_warnx("worker %ld was killed by the OOM killer",
			    (long)k->worker);
		}
		if (region_load(&k->r.hdr->conn_state) == REGION_CONN_CLOSED) {
			/* The peer is gone: never respawn against it. */
			stop_worker(k);
			log_info("vhost-user connection closed, exiting");
			return 0;
		}
		stats_died(&k->r, oom, st == 0x7f00 ? -1 : st);
		k->r.hdr->kills++;
		k->r.hdr->last_death_ns = died;
		/*
		 * A death is a failed recovery only if it was ours (a fault,
		 * a fatal exit, the watchdog, the OOM killer): an operator's
		 * SIGKILL or SIGSEGV in the middle of a recovery is not the
		 * recovery's failure, and must never degrade the service.
		 */
		if ((oom || region_load(&k->r.health->faults) +
		    region_load(&k->r.health->watchdog_kills) !=
		    k->faults_seen) && !(k->cfg->quarantine_crashes <=
		    k->cfg->degrade_after && request_progress(k)))
			k->r.hdr->failed_recoveries++;
		if (k->r.hdr->failed_recoveries >= k->cfg->degrade_after &&
		    !k->r.hdr->degraded) {
			log_warnx("%llu failed recoveries in a row: degraded "
			    "mode, every request answers EIO",
			    (unsigned long long)k->r.hdr->failed_recoveries);
			k->r.hdr->degraded = 1;
			k->degraded_since = clock_now_ns();
		}
		log_debug("worker %ld died, respawning", (long)k->worker);
		/* A crash loop backs off, but never stops serving. */
		if (k->r.hdr->failed_recoveries > 2)
			usleep(MIN(1000000u,
			    10000u << MIN(k->r.hdr->failed_recoveries, 7)));
		k->r.hdr->last_respawn_ns = clock_now_ns() - died;
		k->worker = 0; /* reaped later by reap(): waitpid(-1) */
	}
}

static int
keeper_run(const struct config *cfg)
{
	struct region_params p = {0};
	struct keeper k;
	struct stat st;
	int err;

	memset(&k, 0, sizeof(k));
	k.cfg = cfg;
	k.upgrade_fd = -1;
	log_procinit("keeper");
	install_signals();
	prctl(PR_SET_NAME, "phx-keeper");
	k.oom_fd = open_oom_counter();
	k.oom_kills = oom_kills(k.oom_fd);
	k.relayed = fcntl(REGION_FD_UPGRADE, F_GETFL) >= 0 &&
	    cfg->sandbox == CONFIG_SANDBOX_NAMESPACE;
	if (!k.relayed)
		upgrade_install_signal();
	/* Before the sandbox: the host's /proc, not a path in the share. */
	{
		int fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);

		if (fd < 0 || dup2(fd, REGION_FD_BINARY) < 0)
			log_warn("cannot keep our binary: a refused upgrade "
			    "cannot fall back");
		if (fd >= 0)
			close(fd);
	}
	/* No supplementary group of whoever started us reaches a worker
	 * (issue 9 finding 4): requests run with the caller's ids only. */
	if (setgroups(0, NULL) < 0 && getgroups(0, NULL) != 0) {
		log_warn("cannot drop the supplementary groups");
		return 1;
	}
	err = sandbox_enter(cfg);
	if (err < 0) {
		log_warnc(err, "cannot build the sandbox");
		return 1;
	}
	p.max_inodes = cfg->max_inodes;
	p.max_handles = cfg->max_handles;
	p.config_digest = config_digest(cfg);
	err = region_create(&k.r, &p);
	if (err < 0) {
		log_warnc(err, "cannot create the state region");
		return 1;
	}
	if (fstat(REGION_FD_ROOT, &st) < 0)
		fatal("stat of the shared directory");
	inode_init_region(&k.r, REGION_FD_ROOT, st.st_dev, st.st_ino);
	handle_init_region(&k.r);
	/* The fds the keeper owns: the worker's fd sweep keeps them. */
	if (fdtab_keeper_snapshot(&k.r) < 0)
		log_warnx("cannot list the keeper's fds");
	k.r.hdr->keeper_pid = (uint64_t)getpid();
	k.r.hdr->conn_state = REGION_CONN_NONE;
	{
		/* Only through the kept proc root: "/proc" is in the share. */
		int fd = openat(REGION_FD_PROC, "self/oom_score_adj",
		    O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0) {
			log_warn("cannot protect the keeper from the OOM killer");
		} else {
			(void)!write(fd, "-1000", 5);
			close(fd);
		}
	}
	prctl(PR_SET_DUMPABLE, 0);
	k.stack = mmap(NULL, WORKER_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (k.stack == MAP_FAILED)
		fatal("worker stack");
	log_info("serving %s (state region %llu MiB virtual)", cfg->shared_dir,
	    (unsigned long long)(k.r.size >> 20));
	return keeper_loop(&k);
}

/*
 * A keeper re-executed for a live upgrade (DESIGN 8): same pid, sandbox,
 * fds and region. It validates the region and resumes supervising; if it
 * refuses the layout it re-executes the old binary kept at
 * REGION_FD_BINARY, which accepts it.
 */
static int
keeper_resume(const struct config *cfg)
{
	struct keeper k;
	struct stat st;
	void *base;
	int err, fd, n;

	memset(&k, 0, sizeof(k));
	k.cfg = cfg;
	k.upgrade_fd = -1;
	k.oom_fd = -1;
	log_procinit("keeper");
	install_signals();
	prctl(PR_SET_NAME, "phx-keeper");
	unsetenv("PHX_KEEPER_RESUME");
	unsetenv("PHX_KEEPER_SHARED_DIR");
	err = -EINVAL;
	base = MAP_FAILED;
	if (fstat(REGION_FD_STATE, &st) == 0)
		base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, REGION_FD_STATE, 0);
	if (base != MAP_FAILED)
		err = region_attach(&k.r, base, (uint64_t)st.st_size);
	if (err == 0 && k.r.hdr->config_digest != config_digest(cfg))
		err = -ESTALE;
	/*
	 * From a layout-5 binary: add the live index (one full read of the
	 * slot words, here, once) before any worker. Untouched if it fails,
	 * so the previous binary takes it back.
	 */
	if (err == 0 && k.r.live == NULL) {
		err = region_add_live(&k.r, REGION_FD_STATE);
		if (err == 0)
			log_info("upgrade: state layout 5 -> %u (live index "
			    "added)", REGION_LAYOUT_VERSION);
	}
	if (err < 0) {
		log_warnc(err, "upgrade: this binary refuses the state region; "
		    "going back to the previous binary");
		if (getenv("PHX_KEEPER_FALLBACK") != NULL)
			fatalx("the previous binary refuses it too");
		setenv("PHX_KEEPER_FALLBACK", "1", 1);
		setenv("PHX_KEEPER_RESUME", "1", 1);
		setenv("PHX_KEEPER_SHARED_DIR", cfg->shared_dir, 1);
		if (argv_ok && elf_is_static(REGION_FD_BINARY))
			syscall(SYS_execveat, REGION_FD_BINARY, "", argv_copy,
			    environ, AT_EMPTY_PATH);
		fatal("cannot re-execute the previous binary");
	}
	unsetenv("PHX_KEEPER_FALLBACK");
	k.relayed = cfg->sandbox == CONFIG_SANDBOX_NAMESPACE;
	if (!k.relayed)
		upgrade_install_signal();
	fd = openat(REGION_FD_PROC, "self/exe", O_PATH | O_CLOEXEC);
	if (fd >= 0 && dup2(fd, REGION_FD_BINARY) >= 0)
		close(fd);
	/*
	 * Never a new snapshot: our table holds the tables' and QEMU's fds
	 * now. The old list minus what exec closed; the OOM counter the old
	 * keeper passed (it was in the list).
	 */
	n = fdtab_keeper_resume(&k.r);
	if (getenv("PHX_KEEPER_OOM_FD") != NULL) {
		fd = atoi(getenv("PHX_KEEPER_OOM_FD"));
		if (fd > 2 && fcntl(fd, F_GETFD) >= 0 &&
		    fdtab_keeper_add(&k.r, fd) == 0) {
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
			k.oom_fd = fd;
			k.oom_kills = oom_kills(fd);
		}
		unsetenv("PHX_KEEPER_OOM_FD");
	}
	prctl(PR_SET_DUMPABLE, 0);
	k.r.health->upgrades++;
	k.r.hdr->keeper_pid = (uint64_t)getpid();
	k.stack = mmap(NULL, WORKER_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (k.stack == MAP_FAILED)
		fatal("worker stack");
	log_info("upgraded to phoenixfsd %s: resuming %s (upgrade %llu; "
	    "keeper fds %d, OOM detection %s)", PHX_VERSION, cfg->shared_dir,
	    (unsigned long long)k.r.health->upgrades, n,
	    k.oom_fd >= 0 ? "on" : "off");
	return keeper_loop(&k);
}

int
keeper_launch(const struct config *cfg)
{
	int err, st, pidfd, sv[2] = {-1, -1};
	pid_t pid;

	if (getenv("PHX_KEEPER_RESUME") != NULL)
		return keeper_resume(cfg);
	raise_nofile(cfg);
	err = listen_socket(cfg);
	if (err < 0) {
		log_warnc(err, "cannot listen on the vhost-user socket");
		return 1;
	}
	log_info("Waiting for vhost-user socket connection...");
	pidfd = open_pid_file(cfg->pid_file);
	reserve_fds();
	err = sandbox_unshare(cfg);
	if (err < 0) {
		log_warnc(err, "cannot create namespaces (try --sandbox=chroot "
		    "or --sandbox=none)");
		return 1;
	}
	if (cfg->sandbox != CONFIG_SANDBOX_NAMESPACE) {
		if (write_pid_file(pidfd, getpid()) < 0)
			log_warn("cannot write %s", cfg->pid_file);
		if (pidfd >= 0)
			close(pidfd);
		return keeper_run(cfg);
	}
	/* The launcher relays upgrade requests into the PID namespace. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		sv[0] = sv[1] = -1;
	pid = fork();
	if (pid < 0) {
		log_warn("fork");
		return 1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (pidfd >= 0)
			close(pidfd);
		if (sv[1] >= 0) {
			dup2(sv[1], REGION_FD_UPGRADE); /* CLOEXEC clear */
			close(sv[0]);
			close(sv[1]);
		}
		_exit(keeper_run(cfg));
	}
	if (sv[1] >= 0)
		close(sv[1]);
	upgrade_install_signal();
	/* The launcher: forward termination, wait, report. */
	log_procinit("launcher");
	if (write_pid_file(pidfd, pid) < 0)
		log_warn("cannot write %s", cfg->pid_file);
	if (pidfd >= 0)
		close(pidfd);
	install_signals();
	close(REGION_FD_LISTEN);
	for (;;) {
		pid_t p = waitpid(pid, &st, 0);

		if (p == pid)
			break;
		if (p < 0 && errno != EINTR)
			return 1;
		if (got_term) {
			kill(pid, SIGTERM);
			got_term = 0;
		}
		if (sv[0] >= 0)
			upgrade_forward(sv[0]);
	}
	if (cfg->socket_path[0])
		unlink(cfg->socket_path);
	if (cfg->pid_file[0])
		unlink(cfg->pid_file);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 1;
}
