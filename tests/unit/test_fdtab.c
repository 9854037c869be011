/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the fd sweep (fdtab.c): the fds a snapshot found open and
 * unreferenced are closed by the sweep while creators run, none of the
 * creators' fds ever is, and a creator holding an fd it has not recorded
 * yet (a slow host call) delays the sweep not at all; a snapshot fd that
 * something references by the sweep's time is kept; no snapshot, no close.
 * The snapshot (in the recovery's stall) reads no table; a table fd the
 * incarnation drops and whose number is reused before the sweep reads the
 * tables is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "../tap.h"
#include "clock.h"
#include "fdtab.h"
#include "intent.h"
#include "journal.h"
#include "redo.h"
#include "region.h"

#define LEAK_FD 700

static struct region r;
static int stop;

struct creator {
	pthread_t th;
	unsigned hold_us; /* between creation and record (a slow request) */
	unsigned long rounds, lost; /* lost: an fd closed under it */
};

/*
 * Creates an fd, holds it hold_us unrecorded, records it (the registry),
 * checks it is still open, forgets and closes it.
 */
static void *
creator(void *p)
{
	struct creator *c = p;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (c->hold_us > 0)
			usleep(c->hold_us);
		if (fcntl(fd, F_GETFD) < 0)
			c->lost++;
		if (fdtab_register(fd) < 0) {
			close(fd);
			continue;
		}
		if (fcntl(fd, F_GETFD) < 0)
			c->lost++;
		fdtab_unregister(fd);
		if (close(fd) < 0)
			c->lost++;
		c->rounds++;
	}
	return NULL;
}

static void
start(struct creator *c, unsigned n)
{
	__atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_create(&c[i].th, NULL, creator, &c[i]);
}

static void
finish(struct creator *c, unsigned n, unsigned long *rounds,
    unsigned long *lost)
{
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(c[i].th, NULL);
		*rounds += c[i].rounds;
		*lost += c[i].lost;
		c[i].rounds = c[i].lost = 0;
	}
}

/*
 * Rounds of: a dead worker's leak at a number the creators never reach,
 * the snapshot (no creator running: a recovery, before it creates), then
 * creators (one holding each fd 300 ms unrecorded) racing the sweep.
 */
static void
test_race(void)
{
	struct creator c[5];
	unsigned long rounds = 0, lost = 0;
	uint64_t worst = 0;
	int leaked_closed = 0, n = 0, snap_ok = 0;

	memset(c, 0, sizeof(c));
	c[4].hold_us = 300000;
	for (uint64_t end = clock_now_ns() + 1500000000ULL;
	     clock_now_ns() < end; n++) {
		int leak = dup2(0, LEAK_FD);
		uint64_t t0;

		if (fdtab_snapshot(&r) >= 1)
			snap_ok++;
		start(c, 5);
		usleep(2000); /* the creators hold fds */
		t0 = clock_now_ns();
		if (fdtab_sweep(&r) < 0)
			break;
		if (clock_now_ns() - t0 > worst)
			worst = clock_now_ns() - t0;
		if (leak == LEAK_FD && fcntl(leak, F_GETFD) < 0)
			leaked_closed++;
		else
			close(LEAK_FD);
		usleep(20000);
		finish(c, 5, &rounds, &lost);
	}
	diag("%d sweeps (worst %.3f ms), %lu creations", n,
	    (double)worst / 1e6, rounds);
	ok(n >= 3 && rounds > 1000, "sweeps and creations both progress");
	ok(snap_ok == n, "each snapshot found the leak (%d of %d)", snap_ok,
	    n);
	ok(lost == 0, "no fd closed between its creation and its record "
	    "(%lu lost)", lost);
	ok(leaked_closed == n, "every sweep closed the leaked fd (%d of %d)",
	    leaked_closed, n);
	ok(worst < 50000000ULL, "no sweep waits for a creator holding an "
	    "unrecorded fd 300 ms (worst %.3f ms)", (double)worst / 1e6);
}

/* A snapshot fd referenced by the sweep's time is kept; one sweep each. */
static void
test_kept(void)
{
	int fd = dup2(0, LEAK_FD + 1);

	ok(fdtab_snapshot(&r) >= 1, "the snapshot lists an unreferenced fd");
	ok(fdtab_register(fd) == 0, "then something references it");
	ok(fdtab_sweep(&r) == 0 && fcntl(fd, F_GETFD) >= 0,
	    "the sweep keeps it");
	fdtab_unregister(fd);
	ok(fdtab_sweep(&r) == 0 && fcntl(fd, F_GETFD) >= 0,
	    "a second sweep without a snapshot closes nothing");
	close(fd);
}

static sigjmp_buf segv_jmp;

static void
on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

/* Whole pages inside [p, p + len): PROT_NONE (prot 0) or back. */
static void
protect(void *p, size_t len, int prot)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(pg - 1);

	if (b > a)
		mprotect((void *)a, b - a, prot);
}

/*
 * The snapshot runs in the stall: what it reads must not grow with the
 * tables (1M inodes are 64 MiB: 100-160 ms to scan on this host). Every
 * entry of a full table is live and holds no fd (file handles), and the
 * tables' pages are unreadable while it runs: a scan faults.
 */
static void
test_no_table_read(void)
{
	struct sigaction sa = {.sa_handler = on_segv}, old;
	uint64_t ihigh = r.ihdr->high, hhigh = r.hhdr->high;
	volatile int faulted = 0, n = -1;

	for (uint64_t i = 0; i < r.hdr->inode_cap; i++) {
		r.inodes[i].used = 1;
		r.inodes[i].fd = -1;
	}
	for (uint64_t i = 0; i < r.hdr->handle_cap; i++) {
		r.handles[i].used = 1;
		r.handles[i].fd = -1;
	}
	r.ihdr->high = r.hdr->inode_cap;
	r.hhdr->high = r.hdr->handle_cap;
	sigaction(SIGSEGV, &sa, &old);
	protect(r.inodes, r.hdr->inode_cap * sizeof(r.inodes[0]), PROT_NONE);
	protect(r.handles, r.hdr->handle_cap * sizeof(r.handles[0]),
	    PROT_NONE);
	if (sigsetjmp(segv_jmp, 1) == 0)
		n = fdtab_snapshot(&r);
	else
		faulted = 1;
	protect(r.inodes, r.hdr->inode_cap * sizeof(r.inodes[0]),
	    PROT_READ | PROT_WRITE);
	protect(r.handles, r.hdr->handle_cap * sizeof(r.handles[0]),
	    PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, &old, NULL);
	ok(!faulted && n >= 0, "the snapshot reads no table (%s, %d)",
	    faulted ? "faulted" : "no fault", n);
	(void)fdtab_sweep(&r);
	for (uint64_t i = 0; i < r.hdr->inode_cap; i++)
		r.inodes[i].used = 0;
	for (uint64_t i = 0; i < r.hdr->handle_cap; i++)
		r.handles[i].used = 0;
	r.ihdr->high = ihigh;
	r.hhdr->high = hhigh;
}

/*
 * A handle's fd at the snapshot, released (redo: dropped, then closed
 * after the commit) before the sweep reads the tables, and its number
 * taken at once by a new fd of the same file, not yet recorded (a slow
 * OPEN of the same file): the sweep must keep it.
 */
static void
test_dropped(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), fd2 = -1;
	struct redo_txn tx;
	uint64_t hhigh = r.hhdr->high;

	r.handles[0].fd = fd;
	r.handles[0].used = 1;
	r.hhdr->high = 1;
	ok(fdtab_snapshot(&r) >= 0, "a snapshot with a table fd (fd %d)", fd);
	redo_begin(&tx, &r, &r.threads[0]);
	ok(redo_set(&tx, &r.handles[0].used, 0) == 0 &&
	    redo_close_after(&tx, fd) == 0, "a RELEASE drops it");
	redo_commit(&tx);
	ok(fcntl(fd, F_GETFD) < 0, "closed after the commit");
	fd2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd2 != fd && fd2 >= 0) {
		dup2(fd2, fd);
		close(fd2);
	}
	fd2 = fd;
	ok(fdtab_sweep(&r) == 0 && fcntl(fd2, F_GETFD) >= 0,
	    "the sweep keeps the new fd at its number");
	close(fd2);
	r.hhdr->high = hhigh;
}

/* A dead worker's unrecorded O_PATH fd (an inode's) is a leak too. */
static void
test_opath(void)
{
	int fd = open("/", O_PATH | O_CLOEXEC), leak = LEAK_FD + 2;

	leak = fd >= 0 ? dup2(fd, leak) : -1;
	close(fd);
	ok(fdtab_snapshot(&r) >= 1 && fdtab_sweep(&r) >= 1 &&
	    fcntl(leak, F_GETFD) < 0, "an O_PATH leak is closed");
}

/*
 * A dead ring's OPENAT fd (an O_EXCL CREATE's), KNOWN in its EXECUTING
 * slot at the snapshot. mode 0: the slot is then dropped (quarantined)
 * without its replay: the fd is a leak; 1: the replay took it over
 * (intent_known: a table recorded it, or create_undo closed it): kept;
 * 2: the slot still executes at the sweep: kept.
 */
static int
slot_case(int mode)
{
	struct journal_slot_rec *s = region_slot(&r, 1, 5);
	uint8_t *live = region_live_byte(&r, 1, 5);
	int fd = dup2(0, LEAK_FD + 3), open_after;
	uint64_t w = journal_word(JOURNAL_EXECUTING, 7, 5, 0);

	s->intent[INTENT_W_OP] = IORING_OP_OPENAT;
	s->intent[INTENT_W_RESULT] = (uint64_t)fd;
	s->intent[INTENT_W_DIRFD] = (uint64_t)-1;
	s->intent[INTENT_W_STATE] = INTENT_KNOWN | 7 << 8;
	if (live != NULL)
		*live = 1;
	region_store(&s->word, w);
	(void)fdtab_snapshot(&r);
	if (mode == 1)
		fdtab_note(fd);
	if (mode != 2)
		region_store(&s->word, journal_word(JOURNAL_FREE, 8, 5, 0));
	(void)fdtab_sweep(&r);
	open_after = fcntl(fd, F_GETFD) >= 0;
	region_store(&s->word, journal_word(JOURNAL_FREE, 8, 5, 0));
	if (live != NULL)
		*live = 0;
	if (open_after)
		close(fd);
	return open_after;
}

static void
test_slot_fds(void)
{
	ok(slot_case(0) == 0, "a dropped slot's OPENAT fd is closed");
	ok(slot_case(1) == 1, "one its replay took over is kept");
	ok(slot_case(2) == 1, "one of a slot still executing is kept");
}

/*
 * A candidate its adopter closes (worker.c connection(): a connection a
 * dead worker accepted, moved to REGION_FD_CONN) before the sweep reads
 * the tables, its number retaken by a new fd not yet recorded: kept if
 * the adopter noted it (without the note the sweep, identifying it only
 * then, closed the new fd).
 */
static void
test_adopted(void)
{
	int fd = dup2(0, LEAK_FD + 4), fresh;

	ok(fdtab_snapshot(&r) >= 1, "the dead worker's fd is a candidate");
	fdtab_note(fd); /* as connection() does */
	close(fd);
	fresh = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fresh >= 0 && fresh != fd) {
		dup2(fresh, fd);
		close(fresh);
	}
	ok(fdtab_sweep(&r) == 0 && fcntl(fd, F_GETFD) >= 0,
	    "the new fd at its number is kept");
	close(fd);
}

/*
 * review rev8b: the keeper's pid and the proc root in different PID
 * namespaces (--sandbox=chroot|none run by "unshare --pid --fork" without
 * --mount-proc, or "nsenter --pid": REGION_FD_PROC is the outer /proc).
 * getppid() equals keeper_pid (both in the keeper's numbering), but
 * "<keeper_pid>/fd" of the outer /proc is another process's table (here
 * H, the outer namespace's pid 1, which holds FOREIGN_FD). A fd the
 * worker creates after the snapshot at that number, not yet recorded (a
 * request's), must be kept: it was not open at the snapshot.
 */
#define FOREIGN_FD (LEAK_FD + 9)
static char foreign_stack[256 * 1024];

static int
foreign_worker(void *p)
{
	int fresh;

	(void)p;
	fdtab_parent_shares((pid_t)r.hdr->keeper_pid);
	if (fdtab_snapshot(&r) < 0)
		_exit(3);
	/* A request's new fd, not yet recorded, at the free number. */
	fresh = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fresh < 0 || dup2(fresh, FOREIGN_FD) < 0)
		_exit(3);
	close(fresh);
	(void)fdtab_sweep(&r);
	_exit(fcntl(FOREIGN_FD, F_GETFD) >= 0 ? 0 : 1);
}

static int
wait_status(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, __WALL) != pid)
		return 4;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 5;
}

static void
test_foreign_pidns(void)
{
	pid_t c = fork();
	int st;

	if (c == 0) {
		pid_t h, k;

		if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(2);
		h = fork();
		if (h == 0) {
			/* H: pid 1 of namespace A, whose /proc is the root. */
			if (mount("proc", "/proc", "proc", 0, NULL) < 0 ||
			    dup2(open("/proc", O_PATH | O_DIRECTORY),
			    REGION_FD_PROC) < 0 || dup2(0, FOREIGN_FD) < 0 ||
			    unshare(CLONE_NEWPID) < 0)
				_exit(2);
			k = fork();
			if (k == 0) {
				/* K, the keeper: pid 1 of namespace B. */
				close(FOREIGN_FD);
				r.hdr->keeper_pid = (uint64_t)getpid();
				_exit(wait_status(clone(foreign_worker,
				    foreign_stack + sizeof(foreign_stack),
				    CLONE_FILES | SIGCHLD, NULL)));
			}
			_exit(wait_status(k));
		}
		_exit(wait_status(h));
	}
	st = wait_status(c);
	if (st == 2) {
		ok(1, "# SKIP no PID or mount namespace (not root?)");
		return;
	}
	ok(st == 0, "a worker whose keeper's pid names another table in "
	    "the proc root keeps its own new fd (status %d)", st);
}

/*
 * The snapshot finds the open fds by probing the free numbers below the
 * highest one (a few dups where the table is dense: the stall no longer
 * lists 15,000 fds), and the set it finds is the one a listing finds:
 * every fd of a dense block, one above a few holes, one past the
 * reserved range; where the free numbers are many it lists instead and
 * still finds them.
 */
#define DENSE 3000
static int dense = DENSE; /* fewer under a low RLIMIT_NOFILE (main) */

static void
test_probe(void)
{
	static int fds[DENSE];
	int n = 0, top, holes[3], above, got, closed, open_after = 0, fresh;
	int kept;

	for (int i = 0; i < dense; i++) {
		fds[i] = open("/", O_PATH | O_CLOEXEC);
		if (fds[i] >= 0)
			n++;
	}
	/* Three holes in the block (past the reserved range), a leak above. */
	for (int i = 0; i < 3; i++) {
		holes[i] = fds[100 + dense / 4 * i];
		close(holes[i]);
	}
	top = fds[dense - 1];
	above = dup2(0, top + 2);
	/* The keeper's fd far above (an inherited one): known, not probed. */
	kept = dup2(0, top + dense / 2);
	fdtab_keeper_add(&r, kept);
	got = fdtab_snapshot(&r);
	ok(fdtab_last_probed(), "a dense table is probed, not listed");
	ok(got >= n - 3 + 1, "every open fd is a candidate (%d of %d)", got,
	    n - 3 + 1);
	ok(fcntl(holes[0], F_GETFD) < 0 && fcntl(holes[2], F_GETFD) < 0,
	    "the probe's dups are closed");
	/* A request's new fd at a number free then: not the snapshot's. */
	fresh = open("/dev/null", O_RDONLY | O_CLOEXEC);
	closed = fdtab_sweep(&r);
	ok(fresh == holes[0] && fcntl(fresh, F_GETFD) >= 0,
	    "a new fd in a hole the probe found is kept (fd %d)", fresh);
	close(fresh);
	for (int i = 0; i < dense; i++)
		if (fds[i] >= 0 && fds[i] != fresh &&
		    fcntl(fds[i], F_GETFD) >= 0)
			open_after++;
	ok(closed >= n - 3 + 1 && open_after == 0 &&
	    fcntl(above, F_GETFD) < 0 && fcntl(top, F_GETFD) < 0,
	    "the sweep closes all of them (%d closed, %d left)", closed,
	    open_after);
	ok(fcntl(kept, F_GETFD) >= 0, "and keeps the keeper's");
	fdtab_keeper_del(&r, kept);
	close(kept);

	/* Sparse: 600 free numbers for 100 fds. */
	for (int i = 0; i < 100; i++)
		fds[i] = dup2(0, 100 + 7 * i);
	got = fdtab_snapshot(&r);
	ok(!fdtab_last_probed() && got >= 100,
	    "a sparse table is listed (%d candidates)", got);
	closed = fdtab_sweep(&r);
	ok(closed >= 100 && fcntl(fds[99], F_GETFD) < 0,
	    "and its fds are closed (%d)", closed);
}

/* Runs fn in a child (its own PHX_DELAY, rlimit, fds); its exit status. */
static int
in_child(void (*fn)(void))
{
	pid_t c = fork();
	int st = -1;

	if (c == 0) {
		fn();
		_exit(0);
	}
	if (c > 0)
		waitpid(c, &st, 0);
	return c > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * The count moves while the probe runs (the keeper opens an fd: it lists
 * its own): the snapshot lists instead, and finds the leak. A child, so
 * that PHX_DELAY holds the probe open (read once per process).
 */
static void *
late_opener(void *p)
{
	usleep(10000);
	*(int *)p = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return NULL;
}

static void
test_probe_race_child(void)
{
	pthread_t th;
	int late = -1, leak = dup2(0, 40), probed, n;

	setenv("PHX_DELAY", "fdtab.probe:50000", 1);
	pthread_create(&th, NULL, late_opener, &late);
	n = fdtab_snapshot(&r);
	probed = fdtab_last_probed();
	pthread_join(th, NULL);
	fdtab_register(late);
	if (probed || n < 1)
		_exit(1);
	if (fdtab_sweep(&r) < 1 || fcntl(leak, F_GETFD) >= 0 ||
	    fcntl(late, F_GETFD) < 0)
		_exit(2);
	_exit(0);
}

static void
test_probe_race(void)
{
	int st = in_child(test_probe_race_child);

	ok(st == 0,
	    "an fd created during the probe makes the snapshot list the "
	    "table, and the leak is closed (status %d)", st);
}

/*
 * Review rev9: an fd opened and closed again while the probe runs (the
 * keeper's refused upgrade, its pidfd_open and close: no net change, so
 * the re-count passes). It takes the free number the probe would have
 * dupped next, so the next dup lands above it and the count is met one
 * fd early: that number, free at the snapshot and after it, is marked a
 * candidate (a request's new fd there would be swept) and the leak above
 * is missed. Layout made exact in a child: 3..22 open but 8 and 13, the
 * leak at 25, the reserved fds; the probe dups 8 (200 ms), the churn
 * holds 13 while it dups 23 and stops.
 */
struct churn {
	int fd;
	unsigned open_us, hold_us;
};

static void *
churner(void *p)
{
	struct churn *c = p;

	usleep(c->open_us);
	c->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	usleep(c->hold_us);
	close(c->fd);
	return NULL;
}

static void
test_probe_churn_child(void)
{
	struct churn ch = {-1, 50000, 250000};
	pthread_t th;
	int leak, first, second, third;

	(void)syscall(SYS_close_range, 3, REGION_FD_BASE - 1, 0);
	(void)syscall(SYS_close_range, REGION_FD_NEXT, ~0U, 0);
	for (int i = 3; i <= 22; i++)
		if (open("/", O_PATH | O_CLOEXEC) != i)
			_exit(10);
	close(8);
	close(13);
	leak = dup2(0, 25);
	setenv("PHX_DELAY", "fdtab.probe:200000", 1);
	pthread_create(&th, NULL, churner, &ch);
	if (fdtab_snapshot(&r) < 0)
		_exit(11);
	pthread_join(th, NULL);
	if (ch.fd != 13)
		_exit(12); /* the layout was not the one meant */
	/* A recovered worker's first fds: the lowest free numbers. */
	first = open("/dev/null", O_RDONLY | O_CLOEXEC);
	second = open("/dev/null", O_RDONLY | O_CLOEXEC);
	third = open("/dev/null", O_RDONLY | O_CLOEXEC);
	(void)fdtab_sweep(&r);
	if (second != 13 || fcntl(second, F_GETFD) < 0)
		_exit(1); /* a request's fd closed by the sweep */
	if (fcntl(first, F_GETFD) < 0 || fcntl(third, F_GETFD) < 0)
		_exit(2);
	if (fcntl(leak, F_GETFD) >= 0)
		_exit(3); /* the leak missed */
	_exit(0);
}

static void
test_probe_churn(void)
{
	int st = in_child(test_probe_churn_child);

	ok(st == 0,
	    "an fd opened and closed during the probe: the number it held, "
	    "free at the snapshot, is never swept, and the leak above is "
	    "closed (status %d)", st);
}

/*
 * Review rev9: the probe holds a dup in each free number below the
 * highest open fd nothing references until it has them all; killed then
 * (DESIGN 1: any instant), it leaves that many fds open until the next
 * sweep, which runs only once a recovery completes. Where the free
 * numbers below the worker's limit all lie below such an fd (a table
 * filled to near the limit), it held every one of them: the next worker
 * could create no fd, fail its recovery, and never sweep. A child with
 * a soft limit of 1024, every number below it open but 60 (one at 1023),
 * the probe held 5 ms per dup; a thread meanwhile needs one free number.
 */
static volatile int margin_done;

static void *
margin_watch(void *p)
{
	int *exhausted = p;

	while (!margin_done) {
		int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

		if (fd < 0 && errno == EMFILE)
			(*exhausted)++;
		else if (fd >= 0)
			close(fd);
		usleep(500);
	}
	return NULL;
}

static void
test_probe_margin_child(void)
{
	struct rlimit rl;
	int o, exhausted = 0;
	pthread_t th;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < 1024)
		_exit(0); /* nothing to show under a lower limit */
	rl.rlim_cur = 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		_exit(10);
	(void)syscall(SYS_close_range, 3, REGION_FD_BASE - 1, 0);
	(void)syscall(SYS_close_range, REGION_FD_NEXT, ~0U, 0);
	o = open("/", O_PATH | O_CLOEXEC);
	for (int fd = 3; fd < 1024; fd++)
		if (!REGION_FD_RESERVED(fd) && fd != o &&
		    dup2(o, fd) != fd)
			_exit(11);
	for (int fd = 100; fd < 160; fd++)
		close(fd);
	setenv("PHX_DELAY", "fdtab.probe:5000", 1);
	pthread_create(&th, NULL, margin_watch, &exhausted);
	(void)fdtab_snapshot(&r);
	margin_done = 1;
	pthread_join(th, NULL);
	_exit(exhausted > 0 ? 1 : 0);
}

static void
test_probe_margin(void)
{
	int st = in_child(test_probe_margin_child);

	ok(st == 0,
	    "the probe never holds every free number below the limit "
	    "(status %d)", st);
}

/*
 * Review rev9: the keeper receives an fd while the snapshot runs (an
 * upgrade request), lists it at once, refuses it and closes it later
 * (close, then off its list). The snapshot read the keeper's list before
 * it found the open fds, so that fd was a candidate; once closed, its
 * number goes to a new fd of this incarnation, which the sweep closed (a
 * listing has the same window: not the probe's own). A dense table, the
 * probe held 200 ms, the "keeper" thread opening and listing its fd 50
 * ms in.
 */
struct kfd {
	int fd;
	volatile int go;
};

static void *
keeper_receiver(void *p)
{
	struct kfd *k = p;

	usleep(50000);
	k->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fdtab_keeper_add(&r, k->fd);
	while (!k->go)
		usleep(1000);
	close(k->fd);
	fdtab_keeper_del(&r, k->fd);
	return NULL;
}

/*
 * A dense table (3..22), the snapshot taken while keeper (a thread) makes
 * an fd, which it closes once the snapshot returned; then the child's
 * next two fds, one at that number, must outlive the sweep.
 */
static void
keeper_fd_case(void *(*keeper)(void *), const char *delay)
{
	struct kfd k = {-1, 0};
	pthread_t th;
	int a, b;

	(void)syscall(SYS_close_range, 3, REGION_FD_BASE - 1, 0);
	(void)syscall(SYS_close_range, REGION_FD_NEXT, ~0U, 0);
	for (int i = 3; i <= 22; i++)
		if (open("/", O_PATH | O_CLOEXEC) != i)
			_exit(10);
	setenv("PHX_DELAY", delay, 1);
	pthread_create(&th, NULL, keeper, &k);
	if (fdtab_snapshot(&r) < 0)
		_exit(11);
	k.go = 1;
	pthread_join(th, NULL);
	/* The new incarnation's fds: the lowest free numbers. */
	a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	b = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (a != k.fd && b != k.fd)
		_exit(12); /* the layout was not the one meant */
	(void)fdtab_sweep(&r);
	if (fcntl(a, F_GETFD) < 0 || fcntl(b, F_GETFD) < 0)
		_exit(1);
	_exit(0);
}

static void
test_keeper_fd_child(void)
{
	keeper_fd_case(keeper_receiver, "fdtab.probe:200000");
}

static void
test_keeper_fd(void)
{
	int st = in_child(test_keeper_fd_child);

	ok(st == 0, "an fd the keeper listed during the snapshot and closed "
	    "after it: a new fd at its number is never swept (status %d)", st);
}

/*
 * Review rev9: the keeper's pidfd for a signalled upgrade (pidfd_open,
 * pidfd_getfd, close) is never on its list. Found open by a snapshot,
 * then closed, its number went to a new fd of this incarnation, which
 * the sweep closed. The keeper brackets it (fdtab_keeper_begin/end): a
 * snapshot that overlaps the bracket is taken again, or none is taken.
 */
static void *
keeper_pidfd(void *p)
{
	struct kfd *k = p;

	usleep(20000);
	fdtab_keeper_begin(&r);
	k->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	while (!k->go)
		usleep(1000);
	close(k->fd);
	fdtab_keeper_end(&r);
	return NULL;
}

static void
test_keeper_pidfd_child(void)
{
	keeper_fd_case(keeper_pidfd, "fdtab.probe:50000");
}

static void
test_keeper_pidfd(void)
{
	int st = in_child(test_keeper_pidfd_child);

	ok(st == 0, "an fd the keeper never lists, open during the snapshot "
	    "and closed after it: a new fd at its number is never swept "
	    "(status %d)", st);
}

int
main(void)
{
	struct region_params p = {.max_inodes = 4096, .max_handles = 4096};
	struct rlimit rl;
	struct stat st;

	/* test_probe's table: DENSE fds and one DENSE / 2 above them. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * DENSE)
		dense = (int)(rl.rlim_cur - 100) / 2;

	if (region_create(&r, &p) < 0)
		skip_all("cannot create a region");
	stat("/", &st);
	if (dup2(open("/", O_PATH), REGION_FD_ROOT) < 0)
		skip_all("dup2");
	/* The worker's /proc (the snapshot's fd table size). */
	if (dup2(open("/proc", O_PATH | O_DIRECTORY), REGION_FD_PROC) < 0)
		skip_all("dup2");
	/* The keeper holds every reserved number (placeholders). */
	for (int fd = REGION_FD_BASE; fd < REGION_FD_NEXT; fd++)
		if (fcntl(fd, F_GETFD) < 0 && dup2(0, fd) < 0)
			skip_all("dup2");
	test_probe_race();
	test_probe_churn();
	test_probe_margin();
	test_keeper_fd();
	test_keeper_pidfd();
	test_race();
	test_kept();
	test_no_table_read();
	test_dropped();
	test_opath();
	test_slot_fds();
	test_adopted();
	test_foreign_pidns();
	test_probe();
	return done_testing();
}
