/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crashtest scenario NAME: one recovery window each, held open by a delay
 * hook or a crash point in the daemon's environment (set by recovery.sh)
 * and killed inside it; the checks are what the guest must see (issue 11
 * part 2). Each prints its figures and TAP lines.
 *
 *   sweep     (PHX_DELAY=queue.before_commit) OPENs committing while the
 *             post-crash fd sweep runs keep their fds (defect 1)
 *   sweepcreate (PHX_DELAY=queue.async_rerun) the same for O_EXCL CREATEs
 *             whose op completed while they were out (queue_async.c);
 *             --count 1 (PHX_DELAY=queue.async_gap): held between the
 *             first run that left the op out and the queue's bracket
 *   sweepslow (PHX_DELAY=pt.mkdir) MKDIRs always in flight in a slow host
 *             call across --count kills: each sweep finishes (keeper fds
 *             flat), an idle queue's GET_VRING_BASE is not held, fhs
 *             read their own files
 *   poolfirst an FSYNC alone, the first request after a kill: the pool
 *             that runs it starts though the batch answered nothing
 *   held      (PHX_DELAY=queue.pool_job:..:2) an FSYNC held in the pool
 *             while --count GETATTRs pass it, then a kill: answered once
 *             (defect 2)
 *   bigio     (PHX_DELAY=queue.before_commit,queue.pool_job) a 256 KiB
 *             READ and WRITE with a GETATTR behind them run on pool
 *             threads (the GETATTR answers first), then a kill: each
 *             answers once, bytes checked (issue 10); --count 1: a
 *             new memory table instead of the kill, --count 2: a pause,
 *             --count 3: none of these, the daemon on one CPU: both run
 *             on the queue thread, answered before the GETATTR
 *   lockwait  a SETLKW and a flock waiting at a kill get their locks when
 *             the holder unlocks, never EINTR (defect 3)
 *   lockleak  (PHX_CRASH=redo.before_close) the holder's FLUSH commits,
 *             its OFD close is lost: the sweep frees the lock, the waiter
 *             gets it (defect 4)
 *   notifyearly (PHX_DELAY=pt.getattr_fd) 16 GETATTRs posted at once:
 *             the first call comes with 4 still in the ring (issue 10)
 *   sweepprobe (PHX_DELAY=fdtab.probe) a worker killed while its fd
 *             snapshot holds dups in the table's free numbers: the next
 *             sweep closes them and nothing else
 *   waitfree  (PHX_DELAY=fdtab.sweep_start) a SETLKW whose owner's OFD
 *             a FLUSH freed and a flock whose fh a RELEASE freed, both
 *             waiting while the post-crash sweep runs: the SETLKW gets
 *             its lock, the flock EBADF, every new fh reads its file
 *   lockcopy  (review rev8) a POSIX lock held across a kill, its owner's
 *             FLUSH before the fd sweep starts (--count 1: held): the
 *             lock goes at once (the same owner and then another take it)
 *   lockmany  (--count K) K lock waits on one file, then the convoy;
 *             lockcrash: the same with kills (sc_lockmany)
 *   lockintr  FUSE_INTERRUPT ends a waiting SETLKW and flock EINTR
 *   destroyrace a hostile guest on the DESTROY's closed session: an
 *             INIT racing it, a LINK held across its sweep, a kill before
 *             its sweep (--count 1..3; sc_destroyrace)
 *   waithead  a head a granted wait freed, re-posted with a SETLKW that
 *             parks, then a VM pause: answered once
 *   lockintrcrash an interrupt after a grant a kill left uncommitted
 *   lockstorm a storm of unlocks on one file starves no wait on another
 *   mknod     (PHX_CRASH=queue.after_pop:3) a second MKNOD of a fifo,
 *             popped at the kill, answers EEXIST (defect 5)
 *   rmxattr   (PHX_CRASH=pt.before_removexattr) a REMOVEXATTR of an
 *             absent attribute, killed EXECUTING before its first host
 *             call, answers ENODATA (MKNOD: recovery.sh mknodexec)
 *   excl      (PHX_FAIL=pt.create_fstat PHX_CRASH=pt.create_undo) a
 *             CREATE O_EXCL killed on its error path: the replay's fh
 *             works (defect 8)
 *   eintr     (PHX_FAIL=intent.eintr) a MKDIR whose io_uring completion
 *             says EINTR at the kill is run again, not answered EINTR
 *             (defect 12)
 *   heldop    a MKDIR's mkdirat held in the kernel (a host thread holds
 *             the parent's lock: getdents64 into a userfaultfd page) at
 *             the kill: no recovery until it completes; its completion
 *             is drained, the MKDIR answers 0, not run again
 *   ringless  (PHX_FAIL=intent.ring_enomem PHX_CRASH=queue.after_handler:2)
 *             a MKDIR run directly by a thread without an io_uring,
 *             killed after it: the replay (on a ring) answers 0
 *   ringlater (PHX_FAIL=intent.ring_enomem_later
 *             PHX_CRASH=queue.after_handler:3) a ring's EEXIST, replayed
 *             without a ring: EEXIST, not the identity rule's 0
 *   linkdead  (PHX_FAIL=intent.enoent:2) a LINK whose LINKAT the dying
 *             worker's io-wq failed ENOENT (/proc/self/fd gone) runs
 *             again (the soak's LINK ENOENT)
 *   notify    (PHX_CRASH=queue.after_commit:2, PHX_DELAY=queue.thread_start)
 *             a completion recovery pushes is signalled even when the
 *             queue stops before its thread's first sleep (defect 14)
 *   pause     a SETLKW and a flock waiting for a host process's locks
 *             while the VM pauses (vuf_pause: QEMU's stop) and the host
 *             unlocks: nothing answers while paused, both answer 0 once
 *             after the cont (vuf_resume); --count 1: the worker killed
 *             while paused; --count 2: a reset instead of the cont (new
 *             rings): nothing answers into them, the new INIT ends the
 *             session, no fd of the file and no lock is left; --count 3
 *             (PHX_CRASH=vu.reset_stopped): the same after a RESET_DEVICE
 *             on running rings whose handler is killed after it dropped
 *             the waits; --count 4: the cont, then an INIT (hostile)
 *             ends the session while the waits still wait: they end
 *             EINTR, and their fds go
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <linux/vhost_types.h>

#include "crashtest.h"

static int sc_n, sc_fail;

static void
ok(bool good, const char *what, int got)
{
	sc_n++;
	if (!good)
		sc_fail++;
	printf("%sok %d - %s (got %d%s%s)\n", good ? "" : "not ", sc_n, what,
	    got, got < 0 ? " " : "", got < 0 ? strerror(-got) : "");
}

/*
 * Kills the live worker and waits for the next one; false on timeout.
 * PHX_SCENARIO_KILL_CMD: a command that ends the worker instead (a live
 * upgrade: the keeper kills it and executes another binary, recovery.sh
 * upgrade5).
 */
static bool
kill_worker(pid_t keeper)
{
	const char *cmd = getenv("PHX_SCENARIO_KILL_CMD");
	pid_t w = ct_find_worker(keeper), n = 0;

	if (w <= 0)
		return false;
	if (cmd != NULL && cmd[0] != '\0') {
		if (system(cmd) != 0)
			return false;
	} else {
		kill(w, SIGKILL);
	}
	(void)ct_wait_mm_gone(w, 5000);
	for (int i = 0; i < 500; i++) {
		n = ct_find_worker(keeper);
		if (n > 0 && n != w)
			return true;
		usleep(10000);
	}
	return false;
}

/* Waits until the worker pid changes (a crash point killed it). */
static bool
await_respawn(pid_t keeper, pid_t old)
{
	for (int i = 0; i < 1000; i++) {
		pid_t n = ct_find_worker(keeper);

		if (n > 0 && n != old)
			return true;
		usleep(10000);
	}
	return false;
}

static int keeper_fds(pid_t keeper);

static struct fusec_req *
req_lk(struct fusec *fc, uint32_t op, uint64_t nodeid, uint64_t fh,
    uint64_t owner, uint32_t type, bool flock)
{
	struct fuse_lk_in in;
	struct iovec a = { &in, sizeof(in) };

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.owner = owner;
	in.lk.type = type;
	in.lk.end = INT64_MAX;
	in.lk.pid = (uint32_t)owner;
	in.lk_flags = flock ? FUSE_LK_FLOCK : 0;
	return fusec_req_new(fc, op, nodeid, &a, 1, 0,
	    op == FUSE_GETLK ? sizeof(struct fuse_lk_out) : 0, 0);
}

static int
call(struct fusec *fc, struct fusec_req *r)
{
	int e;

	if (r == NULL)
		return -ENOMEM;
	e = fusec_call(fc, r);
	if (e != -ETIMEDOUT)
		fusec_req_free(r);
	return e;
}

/* Waits for r (submitted earlier) up to ms; its error or -ETIMEDOUT. */
static int
await(struct fusec *fc, struct fusec_req *r, int ms)
{
	int e = fusec_wait(fc, r, ms);

	if (e != -ETIMEDOUT)
		fusec_req_free(r);
	return e;
}

static int
make_file(struct fusec *fc, const char *name, char fill, uint64_t *ret_node)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	char buf[4096];
	int err;

	err = fusec_create(fc, 1, name, O_RDWR | O_EXCL, 0644, &e, &o);
	if (err < 0)
		return err;
	memset(buf, fill, sizeof(buf));
	err = fusec_write(fc, e.nodeid, o.fh, 0, buf, sizeof(buf));
	(void)fusec_release(fc, e.nodeid, o.fh);
	*ret_node = e.nodeid;
	return err < 0 ? err : 0;
}

/* Files PREFIX0.. filled with 'a' + i; false (and a TAP line) on error. */
static bool
make_files(struct fusec *fc, const char *prefix, int n, uint64_t *node)
{
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		if (make_file(fc, name, (char)('a' + i), &node[i]) < 0) {
			ok(false, "files made", -EIO);
			return false;
		}
	}
	return true;
}

/* How many of the n fhs read their own file's bytes ('a' + i). */
static unsigned
read_own(struct fusec *fc, int n, const uint64_t *node, const uint64_t *fh)
{
	char buf[4096];
	unsigned good = 0;

	for (int i = 0; i < n; i++) {
		int got = fh[i] ? fusec_read(fc, node[i], fh[i], 0, buf,
		    sizeof(buf)) : -EBADF;
		bool same = got == (int)sizeof(buf);

		for (int k = 0; same && k < got; k++)
			same = buf[k] == (char)('a' + i);
		good += same;
		if (!same)
			printf("# fh %d: READ: %d %s\n", i, got, got < 0 ?
			    strerror(-got) : "bytes of another file");
	}
	return good;
}

/*
 * defect 1: an OPEN whose commit is held (PHX_DELAY queue.before_commit
 * 1.5 s) while the fd sweep starts (held 500 ms after recovery by
 * fdtab.sweep_start): it notes its fd before the sweep starts noting and
 * commits after the sweep's scan passed its entry.
 */
static void
sc_sweep(struct fusec *fc, pid_t keeper)
{
	enum { N = 3 };
	struct fusec_req *r[N];
	uint64_t node[N], fh[N];
	unsigned good;

	if (!make_files(fc, "sweep", N, node))
		return;
	ok(kill_worker(keeper), "sweep: worker killed and respawned", 0);
	for (int i = 0; i < N; i++) {
		struct fuse_open_in in = { .flags = O_RDWR };
		struct iovec a = { &in, sizeof(in) };

		r[i] = fusec_req_new(fc, FUSE_OPEN, node[i], &a, 1, 0,
		    sizeof(struct fuse_open_out), 0);
		if (r[i] == NULL || fusec_submit(fc, r[i]) < 0) {
			ok(false, "sweep: OPEN submitted", -EIO);
			return;
		}
	}
	for (int i = 0; i < N; i++) {
		int e = fusec_wait(fc, r[i], 20000);

		fh[i] = e == 0 ? ((struct fuse_open_out *)r[i]->reply)->fh : 0;
		if (e != -ETIMEDOUT)
			fusec_req_free(r[i]);
	}
	sleep(1); /* the sweep is done */
	good = read_own(fc, N, node, fh);
	printf("# sweep: %u of %d fhs opened across the sweep read their "
	    "own file\n", good, N);
	ok(good == N, "sweep: no fd committed during the sweep was closed",
	    (int)good);
}

/*
 * An O_EXCL CREATE left in flight by the queue thread (queue_async.c):
 * its op installs the fd, and its second run, which commits it, is held
 * 1.5 s (PHX_DELAY queue.async_rerun) while the fd sweep starts (500 ms
 * after recovery, fdtab.sweep_start). The fd must survive the sweep:
 * each fh then writes and reads back its own file.
 */
static void
sc_sweepcreate(struct fusec *fc, pid_t keeper)
{
	enum { N = 3 };
	struct fusec_req *r[N];
	uint64_t node[N], fh[N];
	char buf[4096];
	unsigned good;

	ok(kill_worker(keeper), "sweepcreate: worker killed and respawned",
	    0);
	for (int i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "swc%d", i);
		r[i] = fusec_req_create(fc, 1, name, O_RDWR | O_CREAT | O_EXCL,
		    0644);
		if (r[i] == NULL || fusec_submit(fc, r[i]) < 0) {
			ok(false, "sweepcreate: CREATE submitted", -EIO);
			return;
		}
	}
	for (int i = 0; i < N; i++) {
		int e = fusec_wait(fc, r[i], 20000);

		node[i] = fh[i] = 0;
		if (e == 0) {
			const struct fuse_entry_out *en = r[i]->reply;
			const struct fuse_open_out *o =
			    (const void *)(en + 1);

			node[i] = en->nodeid;
			fh[i] = o->fh;
		} else {
			printf("# CREATE %d: %d\n", i, e);
		}
		if (e != -ETIMEDOUT)
			fusec_req_free(r[i]);
	}
	for (int i = 0; i < N; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		if (fh[i] && fusec_write(fc, node[i], fh[i], 0, buf,
		    sizeof(buf)) < 0)
			printf("# fh %d: WRITE failed\n", i);
	}
	sleep(1); /* the sweep is done */
	good = read_own(fc, N, node, fh);
	printf("# sweepcreate: %u of %d fhs created across the sweep read "
	    "their own file\n", good, N);
	ok(good == N, "sweepcreate: no fd a CREATE left in flight installed "
	    "was closed by the sweep", (int)good);
}

/*
 * After a kill, the new worker's first request on the queue is a slow
 * one (an FSYNC, handed to the pool) and the guest sends nothing else
 * until it answers: the pool threads start after the queue thread's
 * first batch, and must start even when that batch answered nothing
 * itself (everything handed over).
 */
static void
sc_poolfirst(struct fusec *fc, pid_t keeper)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fusec_req *r;
	struct fuse_fsync_in in;
	struct iovec a = { &in, sizeof(in) };
	int err;

	err = fusec_create(fc, 1, "pf", O_RDWR | O_CREAT, 0644, &e, &o);
	if (err < 0) {
		ok(false, "poolfirst: file created", err);
		return;
	}
	ok(kill_worker(keeper), "poolfirst: worker killed and respawned", 0);
	memset(&in, 0, sizeof(in));
	in.fh = o.fh;
	r = fusec_req_new(fc, FUSE_FSYNC, e.nodeid, &a, 1, 0, 0, 0);
	if (r == NULL || fusec_submit(fc, r) < 0) {
		ok(false, "poolfirst: FSYNC submitted", -EIO);
		return;
	}
	err = await(fc, r, 5000);
	ok(err == 0, "poolfirst: the first request after the kill, a pool "
	    "one alone, answers within 5 s", err);
	(void)fusec_release(fc, e.nodeid, o.fh);
}

/*
 * A hostile FORGET of the parent while an exactly-once op is out
 * (queue_async.c): UNLINK, MKDIR, RENAME (across two directories) and an
 * O_EXCL CREATE, each in a directory made on the host and looked up once;
 * the queue thread's second run of each is held 1 s after its op
 * completed (PHX_DELAY=queue.async_rerun), and meanwhile the guest
 * forgets the directory (both, for the RENAME). The op was done on the
 * host, so the answer is its result, not ESTALE. With kill (count 1) the
 * worker is killed in that second, after the FORGETs: recovery's replay
 * must answer the recorded result too (UNLINK and RENAME from the slot;
 * MKDIR and CREATE build their entry in the directory fd their op named).
 */
static void
sc_forgetparent(struct fusec *fc, pid_t keeper, const char *share, bool kill)
{
	enum { UNLINK, MKDIR, RENAME, CREATE, NOPS };
	static const char *const what[NOPS] = {"UNLINK", "MKDIR", "RENAME",
	    "CREATE"};
	static const char *const after[NOPS] = {"fp.u/f", "fp.m/d",
	    "fp.r2/g", "fp.c/n"};
	struct fusec_req *r[NOPS];
	uint64_t dir[NOPS + 1];
	const char *pre = kill ? "forgetparent kill" : "forgetparent";
	char path[4096], name[128];
	struct fuse_entry_out e;
	struct stat st;
	int err, fd;

	for (int i = 0; i <= NOPS; i++) {
		static const char *const d[NOPS + 1] = {"fp.u", "fp.m",
		    "fp.r", "fp.c", "fp.r2"};

		snprintf(path, sizeof(path), "%s/%s", share, d[i]);
		(void)mkdir(path, 0755);
		err = fusec_lookup(fc, 1, d[i], &e);
		if (err < 0) {
			ok(false, "forgetparent: LOOKUP of the directories",
			    err);
			return;
		}
		dir[i] = e.nodeid;
	}
	snprintf(path, sizeof(path), "%s/fp.u/f", share);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	snprintf(path, sizeof(path), "%s/fp.r/g", share);
	if (fd >= 0)
		close(fd);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	r[UNLINK] = fusec_req_unlink(fc, dir[UNLINK], "f");
	{
		struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
		struct iovec a[2] = {{&in, sizeof(in)}, {"d", 2}};

		r[MKDIR] = fusec_req_new(fc, FUSE_MKDIR, dir[MKDIR], a, 2, 0,
		    sizeof(struct fuse_entry_out), 0);
	}
	{
		struct fuse_rename_in in = {.newdir = dir[NOPS]};
		struct iovec a[3] = {{&in, sizeof(in)}, {"g", 2}, {"g", 2}};

		r[RENAME] = fusec_req_new(fc, FUSE_RENAME, dir[RENAME], a, 3,
		    0, 0, 0);
	}
	r[CREATE] = fusec_req_create(fc, dir[CREATE], "n",
	    O_RDWR | O_CREAT | O_EXCL, 0644);
	for (int i = 0; i < NOPS; i++) {
		if (r[i] == NULL || fusec_submit(fc, r[i]) < 0) {
			ok(false, "forgetparent: requests submitted", -EIO);
			return;
		}
	}
	usleep(300000); /* the ops are done; their second runs are held */
	for (int i = 0; i <= NOPS; i++)
		(void)fusec_forget(fc, dir[i], 1);
	/* Hiprio: not behind the held runs (a request queue's GETATTR is). */
	usleep(300000);
	if (kill)
		ok(kill_worker(keeper), "forgetparent kill: worker killed "
		    "after the FORGETs, the ops out", 0);
	for (int i = 0; i < NOPS; i++) {
		bool done;

		err = await(fc, r[i], 20000);
		snprintf(path, sizeof(path), "%s/%s", share, after[i]);
		done = i == UNLINK ? stat(path, &st) < 0 : stat(path, &st) == 0;
		snprintf(name, sizeof(name), "%s: %s in a forgotten directory "
		    "%s and answers 0", pre, what[i], done ? "was done" :
		    "was NOT done");
		ok(done && err == 0, name, err);
	}
	ok(fc->proto_errors == 0, "forgetparent: no protocol error",
	    (int)fc->proto_errors);
}

/*
 * The same for a LINK (which waits for its op): held after its op by
 * PHX_DELAY=pt.link_done, while the guest forgets the new directory and
 * the file linked; with kill (count 1) the worker dies then, and the
 * replay must build the entry in the directory fd the op named, not
 * answer ESTALE for a link that exists.
 */
static void
sc_forgetlink(struct fusec *fc, pid_t keeper, const char *share, bool kill)
{
	const char *pre = kill ? "forgetlink kill" : "forgetlink";
	struct fuse_link_in in = {0};
	struct iovec a[2] = {{&in, sizeof(in)}, {"h", 2}};
	uint64_t dir, odir;
	struct fuse_entry_out e;
	struct fusec_req *r;
	char path[4096], name[160];
	struct stat st;
	int err, fd;

	snprintf(path, sizeof(path), "%s/fl.new", share);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fl.old", share);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fl.old/k", share);
	if ((fd = open(path, O_CREAT | O_WRONLY, 0644)) >= 0)
		close(fd);
	if ((err = fusec_lookup(fc, 1, "fl.new", &e)) < 0 ||
	    (dir = e.nodeid, err = fusec_lookup(fc, 1, "fl.old", &e)) < 0 ||
	    (odir = e.nodeid, err = fusec_lookup(fc, odir, "k", &e)) < 0) {
		ok(false, "forgetlink: LOOKUP of the directories and file",
		    err);
		return;
	}
	in.oldnodeid = e.nodeid;
	r = fusec_req_new(fc, FUSE_LINK, dir, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0);
	if (r == NULL || fusec_submit(fc, r) < 0) {
		ok(false, "forgetlink: LINK submitted", -EIO);
		return;
	}
	usleep(300000); /* the link is made; the request is held */
	(void)fusec_forget(fc, dir, 1);
	(void)fusec_forget(fc, in.oldnodeid, 1);
	(void)fusec_forget(fc, odir, 1);
	usleep(300000);
	if (kill)
		ok(kill_worker(keeper), "forgetlink kill: worker killed after "
		    "the FORGETs, the LINK out", 0);
	err = await(fc, r, 20000);
	snprintf(path, sizeof(path), "%s/fl.new/h", share);
	snprintf(name, sizeof(name), "%s: LINK into a forgotten directory "
	    "of a forgotten file %s and answers 0", pre,
	    stat(path, &st) == 0 && st.st_nlink == 2 ? "was done" :
	    "was NOT done");
	ok(stat(path, &st) == 0 && st.st_nlink == 2 && err == 0, name, err);
	ok(fc->proto_errors == 0, "forgetlink: no protocol error",
	    (int)fc->proto_errors);
}

/*
 * DESIGN 6's degraded mode answers EIO, but not for an op the dead worker
 * completed (its result KNOWN in the slot): a MKDIR whose op completed
 * while its second run was held (PHX_DELAY=queue.async_rerun), the worker
 * killed then; the next two recoveries die before their first replay
 * (PHX_CRASH_RECUR=queue.recover_replay:2, SIGSEGV) and the daemon, with
 * --degrade-after=2, is degraded when the third replays the MKDIR. It
 * must answer 0 (the directory exists), while a new GETATTR answers EIO.
 */
/*
 * The degraded-mode set-up: a MKDIR of name (3 bytes with its NUL) held
 * in its second run, the worker killed; the MKDIR's answer, or -EIO (and
 * a TAP line) if it could not be sent.
 */
static int
degrade(struct fusec *fc, pid_t keeper, const char *pre, const char *name)
{
	struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
	char nm[3] = { name[0], name[1], '\0' };
	struct iovec a[2] = {{&in, sizeof(in)}, {nm, 3}};
	struct fusec_req *r;
	char what[120];

	r = fusec_req_new(fc, FUSE_MKDIR, 1, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0);
	if (r == NULL || fusec_submit(fc, r) < 0) {
		snprintf(what, sizeof(what), "%s: MKDIR submitted", pre);
		ok(false, what, -EIO);
		return -EIO;
	}
	usleep(300000); /* its op is done, its second run held */
	snprintf(what, sizeof(what), "%s: worker killed, the MKDIR's result "
	    "KNOWN in its slot", pre);
	ok(kill_worker(keeper), what, 0);
	return await(fc, r, 30000);
}

static void
sc_degradedknown(struct fusec *fc, pid_t keeper, const char *share)
{
	char path[4096];
	struct stat st;
	int err;

	err = degrade(fc, keeper, "degradedknown", "dk");
	snprintf(path, sizeof(path), "%s/dk", share);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "degradedknown: the "
	    "directory exists", 0);
	ok(err == 0, "degradedknown: in degraded mode the done MKDIR answers "
	    "its result", err);
	err = fusec_getattr(fc, 1, NULL);
	ok(err == -EIO, "degradedknown: a new request answers EIO (degraded)",
	    err);
}

/*
 * An unmount in degraded mode (entered as in degradedknown): its DESTROY
 * must end the session, or the next mount's INIT, once the keeper leaves
 * degraded mode (--watchdog-ms=2000: 12 s), finds the old session live
 * and is refused as a second INIT (EPROTO) until a device reset.
 */
static void
sc_degradeddestroy(struct fusec *fc, pid_t keeper)
{
	struct fusec_req *r;
	int err, tries = 0;

	(void)degrade(fc, keeper, "degradeddestroy", "dd");
	err = fusec_getattr(fc, 1, NULL);
	ok(err == -EIO, "degradeddestroy: degraded (a GETATTR answers EIO)",
	    err);
	r = fusec_req_new(fc, FUSE_DESTROY, 0, NULL, 0, 0, 0, 0);
	err = call(fc, r);
	printf("# degradeddestroy: the DESTROY in degraded mode answered %d\n",
	    err);
	do {
		if (tries++ > 0)
			usleep(500000);
		r = fusec_req_init(fc);
		err = call(fc, r);
	} while (err == -EIO && tries < 80);
	printf("# degradeddestroy: INITs tried %d, the last answered %d\n",
	    tries, err);
	ok(err == 0, "degradeddestroy: the next mount's INIT answers 0 once "
	    "degraded mode ends", err);
	err = fusec_getattr(fc, 1, NULL);
	ok(err == 0, "degradeddestroy: the new session works", err);
}

/*
 * A queue stopped as broken must not be written to: a MKDIR left in
 * flight by the queue thread (held 300 ms after its submit,
 * PHX_DELAY=intent.async_submitted), and meanwhile the guest posts an
 * out-of-range head behind it. The queue thread then marks the ring
 * broken and drains its ops in flight: the MKDIR's completion must not
 * reach the used ring (used->idx unchanged) though its op ran.
 */
static void
sc_brokenpush(struct fusec *fc, const char *share)
{
	struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
	struct iovec a[2] = {{&in, sizeof(in)}, {"bp", 3}};
	struct fusec_req *r;
	struct vuf_vq *vq;
	char path[4096];
	struct stat st;
	uint16_t used0, used1;

	r = fusec_req_new(fc, FUSE_MKDIR, 1, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0);
	if (r == NULL) {
		ok(false, "brokenpush: MKDIR built", -ENOMEM);
		return;
	}
	vq = &fc->dev->vq[r->qidx];
	used0 = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	if (fusec_submit(fc, r) < 0) {
		ok(false, "brokenpush: MKDIR submitted", -EIO);
		return;
	}
	usleep(100000); /* popped, its op submitted, the thread held */
	vuf_vq_publish_raw(vq, (uint16_t)(vq->num + 3));
	(void)vuf_vq_kick(vq);
	snprintf(path, sizeof(path), "%s/bp", share);
	for (int i = 0; i < 100 && stat(path, &st) < 0; i++)
		usleep(20000);
	usleep(800000); /* the hold is over, the queue stopped */
	used1 = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	ok(stat(path, &st) == 0, "brokenpush: the MKDIR's op ran", 0);
	ok(used1 == used0, "brokenpush: nothing written to the used ring "
	    "of the broken queue", (int)(uint16_t)(used1 - used0));
}

/* defect 2: an FSYNC held in the pool while count GETATTRs pass. */
static void
sc_held(struct fusec *fc, pid_t keeper, unsigned count)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fuse_fsync_in in;
	struct iovec a = { &in, sizeof(in) };
	struct fusec_req *held, *done[64];
	unsigned sent = 0, got = 0, inflight = 0;
	int err;

	/*
	 * pool pass 1: the CREATE (not held); pass 2: the FSYNC. Without
	 * O_EXCL: a CREATE with it runs on the queue thread (queue_async.c).
	 */
	err = fusec_create(fc, 1, "held", O_RDWR, 0644, &e, &o);
	ok(err == 0, "held: CREATE", err);
	memset(&in, 0, sizeof(in));
	in.fh = o.fh;
	held = fusec_req_new(fc, FUSE_FSYNC, e.nodeid, &a, 1, 0, 0, 0);
	if (held == NULL || fusec_submit(fc, held) < 0) {
		ok(false, "held: FSYNC submitted", -EIO);
		return;
	}
	usleep(200000);
	while (got < count) {
		while (sent < count && inflight < 48) {
			struct fusec_req *g = fusec_req_getattr(fc, 1);

			if (g == NULL || fusec_submit(fc, g) < 0)
				break;
			sent++;
			inflight++;
		}
		int n = fusec_poll(fc, 5000, done, 64);

		if (n <= 0) {
			ok(false, "held: GETATTRs answered", n);
			return;
		}
		for (int i = 0; i < n; i++) {
			if (done[i] == held) {
				printf("# held: FSYNC answered before the kill "
				    "(hold too short)\n");
				continue;
			}
			got++;
			inflight--;
			fusec_req_free(done[i]);
		}
	}
	printf("# held: %u GETATTRs popped past the held FSYNC\n", got);
	ok(held->done == false, "held: FSYNC still held at the kill", 0);
	ok(kill_worker(keeper), "held: worker killed and respawned", 0);
	err = await(fc, held, 20000);
	ok(err == 0, "held: the held FSYNC answered (once: fusec checks)",
	    err);
	ok(fc->proto_errors == 0, "held: no doubled or foreign completion",
	    (int)fc->proto_errors);
}

/*
 * Issue 10: a 256 KiB READ and WRITE with a GETATTR behind them go to pool
 * threads (queue_large_io), so the GETATTR, run on the queue thread,
 * answers first; then a kill while both are held there
 * (PHX_DELAY=queue.pool_job; every request is also held 300 ms before
 * its commit, queue.before_commit, so that all three are in the ring
 * together): each answers once, the READ with the file's bytes, the
 * WRITE's bytes are in the file. Before: the READ and WRITE ran on the
 * queue thread, in ring order, before the GETATTR. mode 1: instead of the
 * kill, a new memory table (the same memfd, as QEMU sends at a hot-plug)
 * while they copy: the old mapping stays until their jobs let it go, no
 * fault, no death; mode 2: a VM pause (vuf_pause: the ring stop waits
 * for them) and the cont.
 */
#define BIGIO_FILE (1u << 20)
#define BIGIO_BS   (256u * 1024)

static uint8_t
bigio_byte(unsigned tag, uint64_t off)
{
	return (uint8_t)((off * 131 + (off >> 12) * 7 + tag * 29) & 0xff);
}

static void
sc_bigio(struct vuf_dev *d, struct fusec *fc, pid_t keeper,
    const char *share, unsigned mode)
{
	static const char *const what[] = {"the kill", "a new memory table",
	    "a pause and cont", "an inline run"};
	uint8_t mt[8 + sizeof(d->regions)];
	uint32_t nreg = d->nregions;
	int fds[2] = {d->memfd, d->memfd};
	pid_t w0 = ct_find_worker(keeper);
	char t[160];
	static uint8_t buf[BIGIO_FILE];
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fusec_req *g1, *r, *w, *g2;
	char path[4096];
	bool same = true;
	int fd, err;

	snprintf(path, sizeof(path), "%s/bigio", share);
	for (uint64_t i = 0; i < BIGIO_FILE; i++)
		buf[i] = bigio_byte(1, i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, BIGIO_FILE) != (ssize_t)BIGIO_FILE) {
		ok(false, "bigio: file made on the host", -errno);
		return;
	}
	close(fd);
	err = fusec_lookup(fc, 1, "bigio", &e);
	if (err == 0)
		err = fusec_open(fc, e.nodeid, O_RDWR, &o);
	if (err < 0) {
		ok(false, "bigio: LOOKUP and OPEN", err);
		return;
	}
	g1 = fusec_req_getattr(fc, 1);
	r = fusec_req_read(fc, e.nodeid, o.fh, 0, BIGIO_BS);
	w = fusec_req_write(fc, e.nodeid, o.fh, 2 * BIGIO_BS, BIGIO_BS);
	g2 = fusec_req_getattr(fc, 1);
	if (g1 == NULL || r == NULL || w == NULL || g2 == NULL) {
		ok(false, "bigio: requests built", -ENOMEM);
		return;
	}
	for (uint64_t i = 0; i < BIGIO_BS; i++)
		w->wdata[i] = bigio_byte(2, 2 * BIGIO_BS + i);
	/* The queue thread holds g1 (300 ms) while the rest are posted. */
	if (fusec_submit(fc, g1) < 0 || fusec_submit(fc, r) < 0 ||
	    fusec_submit(fc, w) < 0 || fusec_submit(fc, g2) < 0) {
		ok(false, "bigio: requests submitted", -EIO);
		return;
	}
	err = await(fc, g1, 10000);
	ok(err == 0, "bigio: first GETATTR", err);
	err = fusec_wait(fc, g2, 10000);
	if (mode == 3)
		ok(err == 0 && r->done && w->done, "bigio: on as many CPUs as "
		    "queues + 1, the 256 KiB READ and WRITE ran on the queue "
		    "thread (answered before the GETATTR behind them)",
		    err < 0 ? err : (int)r->done * 2 + (int)w->done);
	else
		ok(err == 0 && !r->done && !w->done, "bigio: the GETATTR behind "
		    "a 256 KiB READ and WRITE answered while both are on pool "
		    "threads", err < 0 ? err : (int)r->done * 2 + (int)w->done);
	if (err != -ETIMEDOUT)
		fusec_req_free(g2);
	if (mode == 3) {
		/* Nothing held: answered in order. */
	} else if (mode == 0) {
		ok(kill_worker(keeper), "bigio: worker killed and respawned",
		    0);
	} else if (mode == 1) {
		memset(mt, 0, sizeof(mt));
		memcpy(mt, &nreg, sizeof(nreg));
		memcpy(mt + 8, d->regions, sizeof(d->regions[0]) * nreg);
		err = vuf_msg_ack(d, VUF_SET_MEM_TABLE, mt,
		    (uint32_t)(8 + sizeof(d->regions[0]) * nreg), fds,
		    (int)nreg);
		ok(err == 0 && !r->done && !w->done, "bigio: SET_MEM_TABLE "
		    "answered while both copies are held", err);
	} else {
		err = vuf_pause(d);
		/* Answered in the used ring by now: harvested without a wait. */
		if (err == 0 && (err = fusec_wait(fc, r, 0)) == 0)
			err = fusec_wait(fc, w, 0);
		ok(err == 0, "bigio: the pause (ring stop) returned after both "
		    "copies were answered", err);
		err = vuf_resume(d);
		ok(err == 0, "bigio: cont", err);
	}
	err = fusec_wait(fc, r, 20000);
	snprintf(t, sizeof(t), "bigio: the READ answered once after %s",
	    what[mode]);
	ok(err == 0 && r->reply_len == BIGIO_BS, t, err);
	for (uint64_t i = 0; err == 0 && i < BIGIO_BS && same; i++)
		same = ((const uint8_t *)r->reply)[i] == bigio_byte(1, i);
	ok(err == 0 && same, "bigio: the READ's bytes are the file's", 0);
	if (err != -ETIMEDOUT)
		fusec_req_free(r);
	err = fusec_wait(fc, w, 20000);
	snprintf(t, sizeof(t), "bigio: the WRITE answered once after %s",
	    what[mode]);
	ok(err == 0 && ((const struct fuse_write_out *)w->reply)->size ==
	    BIGIO_BS, t, err);
	if (err != -ETIMEDOUT)
		fusec_req_free(w);
	fd = open(path, O_RDONLY);
	same = fd >= 0 && pread(fd, buf, BIGIO_FILE, 0) ==
	    (ssize_t)BIGIO_FILE;
	for (uint64_t i = 0; same && i < BIGIO_FILE; i++)
		same = buf[i] == bigio_byte(i >= 2 * BIGIO_BS &&
		    i < 3 * BIGIO_BS ? 2 : 1, i);
	if (fd >= 0)
		close(fd);
	ok(same, "bigio: the file holds the WRITE's bytes and no others", 0);
	ok(fc->proto_errors == 0, "bigio: no doubled or foreign completion",
	    (int)fc->proto_errors);
	if (mode != 0)
		ok(ct_find_worker(keeper) == w0, "bigio: the worker lived", 0);
	(void)fusec_release(fc, e.nodeid, o.fh);
}

/* defects 3, 4: lock waits across a kill. */
static void
sc_lock(struct fusec *fc, pid_t keeper, bool leak)
{
	struct fuse_entry_out e;
	struct fuse_open_out o1, o2;
	struct fusec_req *wp, *wf = NULL;
	int err;

	err = fusec_create(fc, 1, leak ? "lockleak" : "lockwait",
	    O_RDWR | O_EXCL, 0644, &e, &o1);
	ok(err == 0, "lock: CREATE", err);
	err = fusec_open(fc, e.nodeid, O_RDWR, &o2);
	ok(err == 0, "lock: second OPEN", err);
	/* Owner 1 holds a POSIX write lock; owner 2 waits for it. */
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_WRLCK,
	    false));
	ok(err == 0, "lock: owner 1 SETLK F_WRLCK", err);
	wp = req_lk(fc, FUSE_SETLKW, e.nodeid, o2.fh, 2, F_WRLCK, false);
	if (wp == NULL || fusec_submit(fc, wp) < 0)
		return;
	if (!leak) {
		/* flock: fh 1 holds LOCK_EX, fh 2 waits. */
		err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1,
		    F_WRLCK, true));
		ok(err == 0, "lock: fh 1 flock LOCK_EX", err);
		wf = req_lk(fc, FUSE_SETLKW, e.nodeid, o2.fh, 2, F_WRLCK, true);
		if (wf == NULL || fusec_submit(fc, wf) < 0)
			return;
	}
	usleep(300000);
	ok(!wp->done && (wf == NULL || !wf->done), "lock: waits in flight",
	    0);
	if (!leak) {
		ok(kill_worker(keeper), "lockwait: worker killed and respawned",
		    0);
		int ep = fusec_wait(fc, wp, 500), ef = fusec_wait(fc, wf, 1);

		/* Still ours after a timed-out wait (fusec would free them). */
		wp->abandoned = wf->abandoned = false;

		ok(ep == -ETIMEDOUT && ef == -ETIMEDOUT, "lockwait: still "
		    "waiting after recovery", ep != -ETIMEDOUT ? ep : ef);
		err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1,
		    F_UNLCK, false));
		ok(err == 0, "lockwait: owner 1 unlocks", err);
		err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1,
		    F_UNLCK, true));
		ok(err == 0, "lockwait: fh 1 flock LOCK_UN", err);
		if (ep == -ETIMEDOUT)
			ep = await(fc, wp, 10000);
		else
			fusec_req_free(wp);
		ok(ep == 0, "lockwait: the SETLKW waiting at the kill got "
		    "its lock", ep);
		if (ef == -ETIMEDOUT)
			ef = await(fc, wf, 10000);
		else
			fusec_req_free(wf);
		ok(ef == 0, "lockwait: the flock waiting at the kill got "
		    "its lock", ef);
		return;
	}
	{
		/* FLUSH of owner 1: committed, the worker dies before the
		 * close of its OFD (PHX_CRASH=redo.before_close). */
		struct fuse_flush_in in = { .fh = o1.fh, .lock_owner = 1 };
		struct iovec a = { &in, sizeof(in) };
		struct fusec_req *f = fusec_req_new(fc, FUSE_FLUSH, e.nodeid,
		    &a, 1, 0, 0, 0);
		pid_t w = ct_find_worker(keeper);

		if (f == NULL || fusec_submit(fc, f) < 0)
			return;
		ok(await_respawn(keeper, w), "lockleak: FLUSH killed the "
		    "worker after its commit", 0);
		err = await(fc, f, 10000);
		ok(err == 0, "lockleak: FLUSH answered", err);
		err = await(fc, wp, 15000);
		ok(err == 0, "lockleak: the waiter got the lock the leaked "
		    "OFD held (sweep not blocked by the wait)", err);
	}
}

/*
 * The snapshot's probe (fdtab.c probe_open): a recovering worker holds a
 * dup in each free number of the fd table below its highest fd (each
 * held 100 ms by PHX_DELAY=fdtab.probe), and is killed while it holds
 * them. The next worker's sweep must close those dups and nothing else:
 * the keeper's fd count after it settles is the one after a plain kill,
 * and every file still reads its own bytes.
 */
static void
sc_sweepprobe(struct fusec *fc, pid_t keeper)
{
	enum { N = 12 };
	struct fuse_open_out o;
	uint64_t node[N];
	int fds_a, fds = -1, held = -1, n = 0;
	unsigned good = 0;
	pid_t w;

	if (!make_files(fc, "probe", N, node))
		return;
	/* Free numbers among the inodes' fds: more dups, a longer probe. */
	for (int i = 0; i < N; i++) {
		if (i % 3 == 2)
			(void)fusec_forget(fc, node[i], 1);
		else
			n++;
	}
	ok(kill_worker(keeper), "sweepprobe: worker killed and respawned", 0);
	sleep(3); /* its probe, recovery and sweep */
	fds_a = keeper_fds(keeper);
	ok(kill_worker(keeper), "sweepprobe: killed again", 0);
	w = ct_find_worker(keeper);
	/* Inside its probe: the dups it holds show in the shared table. */
	for (int i = 0; i < 400 && held <= fds_a; i++) {
		held = keeper_fds(keeper);
		if (held <= fds_a)
			usleep(5000);
	}
	ok(held > fds_a, "sweepprobe: the new worker holds its probe's dups",
	    held - fds_a);
	kill(w, SIGKILL);
	(void)ct_wait_mm_gone(w, 5000);
	ok(await_respawn(keeper, w), "sweepprobe: killed inside its probe, "
	    "respawned", 0);
	for (int i = 0; i < 100 && fds != fds_a; i++) {
		usleep(100000);
		fds = keeper_fds(keeper);
	}
	ok(fds == fds_a, "sweepprobe: the next sweep closed the dead probe's "
	    "dups, nothing else (keeper fds as after a plain kill)",
	    fds - fds_a);
	for (int i = 0; i < N; i++) {
		char buf[4096];
		int got = -EBADF;
		bool same;

		if (i % 3 == 2)
			continue;
		if (fusec_open(fc, node[i], O_RDONLY, &o) == 0) {
			got = fusec_read(fc, node[i], o.fh, 0, buf,
			    sizeof(buf));
			(void)fusec_release(fc, node[i], o.fh);
		}
		same = got == (int)sizeof(buf);
		for (int k = 0; same && k < got; k++)
			same = buf[k] == (char)('a' + i);
		good += same;
	}
	ok(good == (unsigned)n, "sweepprobe: every file reads its own bytes",
	    (int)good);
}

/*
 * A lock wait whose fd a commit freed (the owner's OFD by a FLUSH of
 * that owner: another thread of the waiting process closes an fd of the
 * file; the flock's fh by a hostile RELEASE) while the post-crash fd
 * sweep runs (PHX_DELAY=fdtab.sweep_start holds it until both are
 * freed): the freed fds wait, closed only when the waits end (pin.c), so
 * the sweep must not close them. Before: the sweep closed both, the
 * numbers went to the next OPENs, the waits locked those files and
 * their ends closed the OPENs' fds.
 */
static void
sc_waitfree(struct fusec *fc, pid_t keeper)
{
	enum { N = 6 };
	struct fuse_entry_out e;
	struct fuse_open_out o1, o2, o3;
	struct fusec_req *wp, *wf;
	uint64_t node[N], fh[N];
	unsigned good;
	int err, ep, ef;

	err = fusec_create(fc, 1, "waitfree", O_RDWR | O_EXCL, 0644, &e, &o1);
	ok(err == 0, "waitfree: CREATE", err);
	err = fusec_open(fc, e.nodeid, O_RDWR, &o2);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o3);
	ok(err == 0, "waitfree: two more OPENs", err);
	if (!make_files(fc, "wf", N, node))
		return;
	/* The sweep runs only in a worker that recovered. */
	ok(kill_worker(keeper), "waitfree: worker killed and respawned", 0);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_WRLCK,
	    false));
	ok(err == 0, "waitfree: owner 1 SETLK F_WRLCK", err);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_WRLCK,
	    true));
	ok(err == 0, "waitfree: fh 1 flock LOCK_EX", err);
	wp = req_lk(fc, FUSE_SETLKW, e.nodeid, o2.fh, 2, F_WRLCK, false);
	wf = req_lk(fc, FUSE_SETLKW, e.nodeid, o3.fh, 3, F_WRLCK, true);
	if (wp == NULL || wf == NULL || fusec_submit(fc, wp) < 0 ||
	    fusec_submit(fc, wf) < 0)
		return;
	usleep(200000);
	ok(!wp->done && !wf->done, "waitfree: SETLKW and flock waiting", 0);
	{
		/* Owner 2's FLUSH frees its OFD; fh 3's RELEASE its fd. */
		struct fuse_flush_in in = { .fh = o2.fh, .lock_owner = 2 };
		struct iovec a = { &in, sizeof(in) };

		err = call(fc, fusec_req_new(fc, FUSE_FLUSH, e.nodeid, &a, 1,
		    0, 0, 0));
		ok(err == 0, "waitfree: FLUSH of the waiting owner", err);
		err = fusec_release(fc, e.nodeid, o3.fh);
		ok(err == 0, "waitfree: RELEASE of the waiting flock's fh",
		    err);
	}
	sleep(3); /* the sweep (held 1.5 s after recovery) ran */
	for (int i = 0; i < N; i++) {
		struct fuse_open_out o;

		fh[i] = fusec_open(fc, node[i], O_RDWR, &o) == 0 ? o.fh : 0;
	}
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_UNLCK,
	    false));
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1,
	    F_UNLCK, true));
	ok(err == 0, "waitfree: owner 1 unlocks both", err);
	ep = await(fc, wp, 10000);
	ef = await(fc, wf, 10000);
	ok(ep == 0, "waitfree: the SETLKW whose OFD was freed answers 0", ep);
	/* Hostile (a guest's flock holds its file): the fh is gone. */
	ok(ef == -EBADF, "waitfree: the flock whose fh was freed answers "
	    "EBADF", ef);
	good = read_own(fc, N, node, fh);
	ok(good == N, "waitfree: every fh opened after the sweep reads its "
	    "own file", (int)good);
	ok(fc->proto_errors == 0, "waitfree: no protocol error",
	    (int)fc->proto_errors);
}

/*
 * Review rev8: a POSIX lock held across a kill, then its owner's FLUSH
 * (the owner's OFD closed: POSIX drops the process's locks on the file)
 * while the post-crash fd sweep has not yet started (--count 1: held by
 * PHX_DELAY=fdtab.sweep_start; --count 0: no delay, the requests right
 * after the respawn). The lock must be gone at once: the same owner
 * locks again, and after its unlock a second owner takes it with a
 * non-blocking SETLK. A private copy of the fd table that still holds
 * the closed OFD keeps the lock until the copy's thread ends.
 */
static void
sc_lockcopy(struct fusec *fc, pid_t keeper)
{
	struct fuse_entry_out e;
	struct fuse_open_out o1, o2;
	int err;

	err = fusec_create(fc, 1, "lockcopy", O_RDWR | O_EXCL, 0644, &e, &o1);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o2);
	ok(err == 0, "lockcopy: CREATE and OPEN", err);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_WRLCK,
	    false));
	ok(err == 0, "lockcopy: owner 1 SETLK F_WRLCK", err);
	ok(kill_worker(keeper), "lockcopy: worker killed and respawned", 0);
	{
		struct fuse_flush_in in = { .fh = o1.fh, .lock_owner = 1 };
		struct iovec a = { &in, sizeof(in) };

		err = call(fc, fusec_req_new(fc, FUSE_FLUSH, e.nodeid, &a, 1,
		    0, 0, 0));
		ok(err == 0, "lockcopy: FLUSH of owner 1 (its OFD closed)",
		    err);
	}
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_WRLCK,
	    false));
	ok(err == 0, "lockcopy: owner 1 locks again after its FLUSH (never "
	    "conflicts with its own closed OFD)", err);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_UNLCK,
	    false));
	ok(err == 0, "lockcopy: owner 1 unlocks", err);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o2.fh, 2, F_WRLCK,
	    false));
	ok(err == 0, "lockcopy: owner 2 non-blocking SETLK gets the lock at "
	    "once", err);
	ok(fc->proto_errors == 0, "lockcopy: no protocol error",
	    (int)fc->proto_errors);
}

/* utime + stime of pid, in ms; -1 if unknown. */
static long
cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After the comm's closing parenthesis: fields 3.. (utime is 14). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		&ut, &st) != 2)
		return -1;
	return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lock waits answered before their unlock (none should be): how many. */
static unsigned
harvest_early(struct fusec *fc, bool *answered, const char *when)
{
	unsigned early = 0;

	for (;;) {
		struct fusec_req *r[64];
		int n = fusec_poll(fc, 0, r, 64);

		if (n <= 0)
			return early;
		for (int j = 0; j < n; j++) {
			printf("# lockmany: wait %llu answered %s: %d\n",
			    (unsigned long long)r[j]->u[0], when,
			    r[j]->error);
			answered[r[j]->u[0]] = true;
			fusec_req_free(r[j]);
			early++;
		}
	}
}

/*
 * count lock waits on one file (default 1000; before, past ~57 they
 * answered ENOLCK: a thread and a thread record each): half SETLKW
 * F_WRLCK of owners 100.., half flock LOCK_EX each on an fh of its own,
 * while owner 1 holds a write lock and fh 0 a flock. None answers while
 * held. Then the convoy: owner 1 and fh 0 unlock, each grant is released
 * by its holder (SETLK F_UNLCK), and the next one comes: every wait
 * answered 0 exactly once, never two holders of one kind at once, GETLK
 * names each granted owner. Prints the worker's CPU for the idle waits
 * (utime + stime over 2 s), and the latency from an unlock's answer to
 * the next grant. crash: the worker is killed (SIGKILL) while they all
 * wait, and (PHX_CRASH=pt.lock_taken:N) again in the convoy, between a
 * grant's lock call and its commit: that wait answers once, 0.
 */
static void
sc_lockmany(struct fusec *fc, pid_t keeper, unsigned count, bool crash)
{
	const unsigned K = count ? count : 1000;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fusec_req **w = calloc(K, sizeof(*w));
	uint64_t *fh = calloc(K, sizeof(*fh)), *lat = calloc(K, sizeof(*lat));
	bool *answered = calloc(K, sizeof(*answered));
	unsigned waiting = 0, early = 0, got = 0, bad = 0, twice = 0;
	unsigned doubles = 0, wrong_pid = 0, inversions = 0, nlat = 0;
	int holder[2] = { -1, -1 }, last[2] = { -1, -1 };
	uint64_t unlocked_at[2], end;
	long c0, c1;
	pid_t wk;
	int err;

	if (w == NULL || fh == NULL || lat == NULL || answered == NULL) {
		ok(false, "lockmany: memory", -ENOMEM);
		return;
	}
	/* A descriptor per request, as a Linux guest posts them: a
	 * thousand in flight fit the 1024-entry ring. */
	fc->indirect = true;
	err = fusec_create(fc, 1, crash ? "lockcrash" : "lockmany",
	    O_RDWR | O_EXCL, 0644, &e, &o);
	ok(err == 0, "lockmany: CREATE", err);
	fh[0] = o.fh;
	/* The flock waits: an fh (an open file) each. */
	for (unsigned i = 1; i < K && err == 0; i += 2)
		err = fusec_open(fc, e.nodeid, O_RDWR, &o) ?: (fh[i] = o.fh, 0);
	ok(err == 0, "lockmany: an OPEN for each flock wait", err);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, fh[0], 1, F_WRLCK,
	    false));
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, fh[0], 1,
	    F_WRLCK, true));
	ok(err == 0, "lockmany: owner 1 SETLK F_WRLCK and fh 0 flock", err);
	/* Even i: SETLKW of owner 100 + i; odd i: flock on fh[i]. */
	for (unsigned i = 0; i < K; i++) {
		bool fl = i % 2 == 1;

		w[i] = req_lk(fc, FUSE_SETLKW, e.nodeid, fl ? fh[i] : fh[0],
		    100 + i, F_WRLCK, fl);
		if (w[i] == NULL || fusec_submit(fc, w[i]) < 0) {
			ok(false, "lockmany: SETLKW submitted", -EIO);
			return;
		}
		w[i]->u[0] = i;
	}
	usleep(500000);
	wk = ct_find_worker(keeper);
	c0 = cpu_ms(wk);
	usleep(2000000);
	c1 = cpu_ms(wk);
	early = harvest_early(fc, answered, "while held");
	waiting = K - early;
	printf("# lockmany: %u waits (%u SETLKW, %u flock) waiting, %u "
	    "answered; idle waits cost the worker %ld ms CPU in 2 s\n",
	    waiting, (K + 1) / 2, K / 2, early, c1 - c0);
	ok(early == 0, "lockmany: every wait waits while the locks are held "
	    "(none ENOLCK)", (int)early);
	if (crash) {
		ok(kill_worker(keeper), "lockmany: worker killed and respawned "
		    "while they wait", 0);
		usleep(300000);
		early = harvest_early(fc, answered, "by the recovery");
		waiting -= early;
		ok(early == 0, "lockmany: none answered by the recovery",
		    (int)early);
	}
	wk = ct_find_worker(keeper);
	end = vuf_now_ns() + 120000000000ull;
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, fh[0], 1, F_UNLCK,
	    false));
	unlocked_at[0] = vuf_now_ns();
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, fh[0], 1,
	    F_UNLCK, true));
	unlocked_at[1] = vuf_now_ns();
	ok(err == 0, "lockmany: owner 1 and fh 0 unlock", err);
	while (got + bad < waiting && vuf_now_ns() < end) {
		struct fusec_req *r[64];
		int n = fusec_poll(fc, 200, r, 64);

		if (n < 0)
			break;
		for (int j = 0; j < n; j++) {
			unsigned i = (unsigned)r[j]->u[0];
			int k = (int)(i % 2);

			if (answered[i])
				twice++;
			answered[i] = true;
			if (r[j]->error != 0) {
				bad++;
				printf("# lockmany: wait %u answered %d\n", i,
				    r[j]->error);
				fusec_req_free(r[j]);
				continue;
			}
			got++;
			if (holder[k] >= 0)
				doubles++;
			if (last[k] > (int)i)
				inversions++;
			last[k] = (int)i;
			holder[k] = (int)i;
			lat[nlat++] = vuf_now_ns() - unlocked_at[k];
			fusec_req_free(r[j]);
		}
		for (int k = 0; k < 2; k++) {
			int i = holder[k];
			struct fusec_req *g;

			if (i < 0)
				continue;
			if (k == 0) {
				/* GETLK by owner 1 names the holder. */
				g = req_lk(fc, FUSE_GETLK, e.nodeid, fh[0], 1,
				    F_WRLCK, false);
				if (g != NULL && fusec_call(fc, g) == 0) {
					struct fuse_lk_out *lo = g->reply;

					if (lo->lk.type != F_WRLCK ||
					    lo->lk.pid != 100u + (unsigned)i) {
						if (wrong_pid++ < 3)
							printf("# lockmany: "
							    "GETLK: type %u pid "
							    "%u, holder %d\n",
							    lo->lk.type,
							    lo->lk.pid, 100 + i);
					}
				} else {
					wrong_pid++;
				}
				if (g != NULL && !g->abandoned)
					fusec_req_free(g);
			}
			err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid,
			    k ? fh[i] : fh[0], 100 + (unsigned)i, F_UNLCK,
			    k == 1));
			if (err != 0)
				bad++;
			unlocked_at[k] = vuf_now_ns();
			holder[k] = -1;
		}
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	printf("# lockmany: of %u waits %u got their locks, %u answered "
	    "otherwise, %u twice, %u double grants, %u GETLK mismatches, "
	    "%u grants out of park order\n", waiting, got, bad, twice,
	    doubles, wrong_pid, inversions);
	if (nlat > 0)
		printf("# lockmany: unlock to next grant: median %.2f ms, "
		    "p90 %.2f ms, max %.2f ms\n", lat[nlat / 2] / 1e6,
		    lat[nlat * 9 / 10] / 1e6, lat[nlat - 1] / 1e6);
	if (crash)
		ok(ct_find_worker(keeper) != wk, "lockmany: the worker was "
		    "killed in the convoy (PHX_CRASH=pt.lock_taken)", 0);
	ok(got == waiting && bad == 0, "lockmany: every wait answered 0 as "
	    "the holders unlock", (int)got);
	ok(twice == 0 && doubles == 0, "lockmany: each answered once, one "
	    "holder at a time", (int)(twice + doubles));
	ok(wrong_pid == 0, "lockmany: GETLK names each granted owner",
	    (int)wrong_pid);
	{
		struct fusec_req *g = req_lk(fc, FUSE_GETLK, e.nodeid, fh[0],
		    1, F_WRLCK, false);

		err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, fh[0], 7,
		    F_WRLCK, false));
		err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, fh[0],
		    7, F_UNLCK, false));
		ok(err == 0 && g != NULL && fusec_call(fc, g) == 0 &&
			((struct fuse_lk_out *)g->reply)->lk.type == F_UNLCK,
		    "lockmany: no lock left after the convoy", err);
		if (g != NULL && !g->abandoned)
			fusec_req_free(g);
	}
	ok(fc->proto_errors == 0, "lockmany: no protocol error",
	    (int)fc->proto_errors);
	free(w);
	free(fh);
	free(lat);
	free(answered);
}

/*
 * count SETLKW F_RDLCK (default 1000) of owners 100.. waiting for owner
 * 1's write lock: after its unlock every one answers 0 (shared locks,
 * all at once). Prints the time from the unlock to the last grant and
 * the worker's CPU for it: a grant must not restart the retry pass (N
 * passes over N waits).
 */
static void
sc_lockread(struct fusec *fc, pid_t keeper, unsigned count)
{
	const unsigned K = count ? count : 1000;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	bool *answered = calloc(K, sizeof(*answered));
	unsigned got = 0, bad = 0, early;
	uint64_t t0, end;
	long c0, c1;
	pid_t wk;
	int err;

	fc->indirect = true;
	err = fusec_create(fc, 1, "lockread", O_RDWR | O_EXCL, 0644, &e, &o);
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 1,
	    F_WRLCK, false));
	ok(err == 0 && answered != NULL, "lockread: owner 1 write-locks",
	    err);
	for (unsigned i = 0; i < K && err == 0; i++) {
		struct fusec_req *r = req_lk(fc, FUSE_SETLKW, e.nodeid, o.fh,
		    100 + i, F_RDLCK, false);

		if (r == NULL || fusec_submit(fc, r) < 0)
			err = -EIO;
		else
			r->u[0] = i;
	}
	ok(err == 0, "lockread: read waits submitted", err);
	if (err != 0)
		return;
	usleep(500000);
	early = harvest_early(fc, answered, "while held");
	ok(early == 0, "lockread: every read wait waits", (int)early);
	wk = ct_find_worker(keeper);
	c0 = cpu_ms(wk);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 1, F_UNLCK,
	    false));
	t0 = vuf_now_ns();
	end = t0 + 60000000000ull;
	while (got + bad < K && vuf_now_ns() < end) {
		struct fusec_req *r[64];
		int n = fusec_poll(fc, 200, r, 64);

		for (int j = 0; j < n; j++) {
			got += r[j]->error == 0;
			bad += r[j]->error != 0;
			fusec_req_free(r[j]);
		}
	}
	c1 = cpu_ms(wk);
	printf("# lockread: %u of %u read waits granted in %.1f ms after the "
	    "unlock, worker CPU %ld ms\n", got, K,
	    (double)(vuf_now_ns() - t0) / 1e6, c1 - c0);
	ok(err == 0 && got == K && bad == 0, "lockread: every read wait "
	    "answered 0 after the unlock", (int)got);
	ok(fc->proto_errors == 0, "lockread: no protocol error",
	    (int)fc->proto_errors);
	free(answered);
}

/*
 * A storm of unlocks must not starve a wait whose lock is free: count
 * (default 300) read-lock SETLKWs wait on file a behind owner 1's write
 * lock, then one SETLKW on file b behind owner 2's, parked last. Owner 3
 * sends SETLK F_UNLCK on a in a loop (16 in flight, count + 18 fit the
 * ring of 1024 for count 1000; each answers 0 and
 * may have freed a lock: every one restarts the retry pass), and owner
 * 2 unlocks b: b's wait must get its lock within 1 s while the storm
 * goes on. Prints the latency and the worker's CPU for the storm.
 */
static void
sc_lockstorm(struct fusec *fc, pid_t keeper, unsigned count)
{
	const unsigned K = count ? count : 300;
	enum { TAG_A = 1, TAG_SPAM, TAG_B, TAG_BUNLOCK };
	struct fuse_entry_out ea, eb;
	struct fuse_open_out oa, ob;
	struct fusec_req *r;
	unsigned inflight = 0, spams = 0, agot = 0, abad = 0, early = 0;
	int bres = 1, err;
	uint64_t t0 = 0, tb = 0, end;
	long c0, c1;
	pid_t wk;

	fc->indirect = true;
	err = fusec_create(fc, 1, "stormA", O_RDWR | O_EXCL, 0644, &ea, &oa);
	err = err ?: fusec_create(fc, 1, "stormB", O_RDWR | O_EXCL, 0644, &eb,
	    &ob);
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, ea.nodeid, oa.fh, 1,
	    F_WRLCK, false));
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, eb.nodeid, ob.fh, 2,
	    F_WRLCK, false));
	ok(err == 0, "lockstorm: owner 1 locks a, owner 2 locks b", err);
	for (unsigned i = 0; i < K && err == 0; i++) {
		r = req_lk(fc, FUSE_SETLKW, ea.nodeid, oa.fh, 100 + i, F_RDLCK,
		    false);
		if (r == NULL || fusec_submit(fc, r) < 0)
			err = -EIO;
		else
			r->u[0] = TAG_A;
	}
	usleep(300000);
	r = req_lk(fc, FUSE_SETLKW, eb.nodeid, ob.fh, 99, F_WRLCK, false);
	if (err == 0 && (r == NULL || fusec_submit(fc, r) < 0))
		err = -EIO;
	else if (r != NULL)
		r->u[0] = TAG_B;
	ok(err == 0, "lockstorm: waits submitted", err);
	if (err != 0)
		return;
	usleep(300000);
	wk = ct_find_worker(keeper);
	c0 = cpu_ms(wk);
	end = vuf_now_ns() + 5000000000ull;
	while (vuf_now_ns() < end && bres > 0) {
		struct fusec_req *d[64];
		int n;

		while (inflight < 16) {
			r = req_lk(fc, FUSE_SETLK, ea.nodeid, oa.fh, 3, F_UNLCK,
			    false);
			if (r == NULL || fusec_submit(fc, r) < 0) {
				fusec_req_free(r);
				break;
			}
			r->u[0] = TAG_SPAM;
			inflight++;
			spams++;
		}
		if (t0 == 0 && spams > 2000) {
			/* Room for it: the storm keeps one free head. */
			r = req_lk(fc, FUSE_SETLK, eb.nodeid, ob.fh, 2, F_UNLCK,
			    false);
			if (r == NULL || fusec_submit(fc, r) < 0) {
				ok(false, "lockstorm: owner 2's unlock sent",
				    -EIO);
				fusec_req_free(r);
				break;
			}
			r->u[0] = TAG_BUNLOCK;
			t0 = vuf_now_ns();
		}
		n = fusec_poll(fc, 0, d, 64);
		for (int j = 0; j < n; j++) {
			switch (d[j]->u[0]) {
			case TAG_SPAM:
				inflight--;
				break;
			case TAG_B:
				bres = d[j]->error;
				tb = vuf_now_ns();
				break;
			case TAG_BUNLOCK:
				if (d[j]->error != 0)
					bres = d[j]->error;
				break;
			default:
				early++;
			}
			fusec_req_free(d[j]);
		}
	}
	c1 = cpu_ms(wk);
	printf("# lockstorm: %u unlocks sent; b's wait answered %d %.1f ms "
	    "after b's unlock; worker CPU %ld ms\n", spams, bres,
	    tb ? (double)(tb - t0) / 1e6 : -1.0, c1 - c0);
	ok(early == 0, "lockstorm: no read wait on a answered while held",
	    (int)early);
	ok(bres == 0 && tb - t0 < 1000000000ull, "lockstorm: b's wait gets "
	    "b's lock within 1 s of its unlock during the storm", bres);
	/* Drain the storm, then a's readers all get theirs. */
	end = vuf_now_ns() + 10000000000ull;
	while (inflight > 0 && vuf_now_ns() < end) {
		struct fusec_req *d[64];
		int n = fusec_poll(fc, 100, d, 64);

		for (int j = 0; j < n; j++) {
			if (d[j]->u[0] == TAG_SPAM)
				inflight--;
			else if (d[j]->u[0] == TAG_A)
				abad++;
			fusec_req_free(d[j]);
		}
	}
	err = call(fc, req_lk(fc, FUSE_SETLK, ea.nodeid, oa.fh, 1, F_UNLCK,
	    false));
	end = vuf_now_ns() + 30000000000ull;
	while (agot + abad < K && vuf_now_ns() < end) {
		struct fusec_req *d[64];
		int n = fusec_poll(fc, 100, d, 64);

		for (int j = 0; j < n; j++) {
			if (d[j]->u[0] == TAG_A) {
				agot += d[j]->error == 0;
				abad += d[j]->error != 0;
			}
			fusec_req_free(d[j]);
		}
	}
	ok(err == 0 && agot == K, "lockstorm: then every read wait on a "
	    "answers 0", (int)agot);
	ok(fc->proto_errors == 0, "lockstorm: no protocol error",
	    (int)fc->proto_errors);
}

/* A FUSE_INTERRUPT of unique, on the hiprio queue (no reply); 0 sent. */
static int
interrupt(struct fusec *fc, uint64_t unique)
{
	struct fuse_interrupt_in in = { .unique = unique };
	struct iovec a = { &in, sizeof(in) };
	struct fusec_req *r = fusec_req_new(fc, FUSE_INTERRUPT, 0, &a, 1, 0,
	    0, 0);

	if (r == NULL)
		return -ENOMEM;
	r->noreply = true;
	r->qidx = 0;
	return call(fc, r);
}

/*
 * FUSE_INTERRUPT ends a lock wait (a signal to the waiting guest
 * process): of three SETLKWs and a flock waiting on owner 1's locks, the
 * second SETLKW and the flock are interrupted and answer EINTR at once;
 * an interrupt of a unique nobody waits with changes nothing; the other
 * two get the lock in turn after the unlock. Before: INTERRUPT was
 * ignored, the interrupted waits went on waiting.
 */
static void
sc_lockintr(struct fusec *fc)
{
	struct fuse_entry_out e;
	struct fuse_open_out o1, o2;
	struct fusec_req *w[4];
	int err, r[4];

	err = fusec_create(fc, 1, "lockintr", O_RDWR | O_EXCL, 0644, &e, &o1);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o2);
	ok(err == 0, "lockintr: CREATE and OPEN", err);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_WRLCK,
	    false));
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1,
	    F_WRLCK, true));
	ok(err == 0, "lockintr: owner 1 SETLK F_WRLCK and fh 1 flock", err);
	for (int i = 0; i < 4; i++) {
		w[i] = req_lk(fc, FUSE_SETLKW, e.nodeid, i == 3 ? o2.fh : o1.fh,
		    2 + (unsigned)i, F_WRLCK, i == 3);
		if (w[i] == NULL || fusec_submit(fc, w[i]) < 0) {
			ok(false, "lockintr: SETLKW submitted", -EIO);
			return;
		}
	}
	usleep(200000);
	err = interrupt(fc, w[1]->unique);
	err = err ?: interrupt(fc, w[3]->unique);
	err = err ?: interrupt(fc, w[3]->unique + 1000);
	ok(err == 0, "lockintr: three INTERRUPTs (one of a unique nobody "
	    "waits with)", err);
	r[1] = await(fc, w[1], 2000);
	r[3] = await(fc, w[3], 2000);
	ok(r[1] == -EINTR && r[3] == -EINTR, "lockintr: the interrupted "
	    "SETLKW and flock answer EINTR", r[1] != -EINTR ? r[1] : r[3]);
	ok(!w[0]->done && !w[2]->done, "lockintr: the others still wait", 0);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1, F_UNLCK,
	    false));
	r[0] = await(fc, w[0], 5000);
	ok(err == 0 && r[0] == 0 && !w[2]->done, "lockintr: after the unlock "
	    "the oldest wait gets the lock, the next waits", r[0]);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 2, F_UNLCK,
	    false));
	r[2] = await(fc, w[2], 5000);
	ok(err == 0 && r[2] == 0, "lockintr: then the next", r[2]);
	ok(fc->proto_errors == 0, "lockintr: no protocol error",
	    (int)fc->proto_errors);
}

/*
 * An interrupted wait answers EINTR only if it holds no lock: owner 2's
 * SETLKW waits on owner 1's lock; owner 1 unlocks, the retry takes the
 * lock and the worker is killed before its commit
 * (PHX_CRASH=pt.lock_taken); the guest interrupts the SETLKW while the
 * new worker's first retry is held (PHX_DELAY=queue.wait_retry). Either
 * it answers 0 and owner 2 holds the lock, or EINTR and nobody does
 * (owner 3's SETLK takes it).
 */
static void
sc_lockintrcrash(struct fusec *fc, pid_t keeper)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fusec_req *w;
	pid_t old;
	int err, r, e3;

	err = fusec_create(fc, 1, "lockintrcrash", O_RDWR | O_EXCL, 0644, &e,
	    &o);
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 1,
	    F_WRLCK, false));
	ok(err == 0, "lockintrcrash: owner 1 locks", err);
	w = req_lk(fc, FUSE_SETLKW, e.nodeid, o.fh, 2, F_WRLCK, false);
	if (w == NULL || fusec_submit(fc, w) < 0) {
		ok(false, "lockintrcrash: SETLKW submitted", -EIO);
		return;
	}
	usleep(200000);
	old = ct_find_worker(keeper);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 1, F_UNLCK,
	    false));
	ok(err == 0, "lockintrcrash: owner 1 unlocks", err);
	ok(await_respawn(keeper, old), "lockintrcrash: the worker was killed "
	    "between the grant's lock call and its commit", 0);
	err = interrupt(fc, w->unique);
	ok(err == 0, "lockintrcrash: INTERRUPT sent", err);
	r = await(fc, w, 10000);
	e3 = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 3, F_WRLCK,
	    false));
	printf("# lockintrcrash: the SETLKW answered %d, owner 3's SETLK %d\n",
	    r, e3);
	ok((r == 0 && e3 == -EAGAIN) || (r == -EINTR && e3 == 0),
	    "lockintrcrash: EINTR only without the lock, 0 only with it", r);
	ok(fc->proto_errors == 0, "lockintrcrash: no protocol error",
	    (int)fc->proto_errors);
}

/* Submits r on the hiprio queue (a hostile guest may use any queue). */
static struct fusec_req *
on_hiprio(struct fusec *fc, struct fusec_req *r)
{
	if (r == NULL)
		return NULL;
	r->qidx = 0;
	if (fusec_submit(fc, r) < 0) {
		fusec_req_free(r);
		return NULL;
	}
	return r;
}

/*
 * A guest reboot (vuf_restart: GET_VRING_BASE, RESET_DEVICE, new rings)
 * whose INIT ends the old session in chunks held open
 * (PHX_DELAY=pt.destroy_chunk) and killed inside
 * (PHX_CRASH=pt.destroy_chunk:K), while a hostile guest sends requests
 * with the old session's nodeids and fhs on the other queue (GETATTR,
 * OPEN, SETLK, LOOKUP): whatever they answer, after the INIT the old ids
 * are stale, nothing the old session or those requests opened survives
 * (no handle, no lock on the file), and the new session works.
 * destroy (destroymix): the same for an unmount (or a driver reload),
 * whose DESTROY ends the session in the same held chunks and is killed
 * inside; then the next mount's INIT.
 */
static void
sc_resetmix(struct vuf_dev *d, struct fusec *fc, pid_t keeper, bool destroy)
{
	enum { N = 4, H = 4 * N };
	const char *pre = destroy ? "destroymix" : "resetmix";
	struct fusec_req *init, *end, *h[H];
	uint64_t node[N], fh[N], newnode[N];
	unsigned nh = 0, answered = 0, survived = 0, zero = 0;
	struct fuse_open_out o;
	struct fuse_entry_out e;
	char buf[64];
	pid_t w;
	int err;

	if (!make_files(fc, "mix", N, node))
		return;
	for (int i = 0; i < N; i++) {
		err = fusec_open(fc, node[i], O_RDWR, &o);
		fh[i] = err == 0 ? o.fh : 0;
	}
	err = call(fc, req_lk(fc, FUSE_SETLK, node[0], fh[0], 1, F_WRLCK,
	    false));
	ok(err == 0, "resetmix: old session: OPENs and a lock held", err);
	w = ct_find_worker(keeper);
	if (destroy) {
		end = fusec_req_new(fc, FUSE_DESTROY, 0, NULL, 0, 0, 0, 0);
	} else {
		err = vuf_restart(d);
		ok(err == 0, "resetmix: device stop and set-up (a reboot)",
		    err);
		end = fusec_req_init(fc);
	}
	if (end == NULL || fusec_submit(fc, end) < 0) {
		ok(false, destroy ? "destroymix: DESTROY submitted" :
		    "resetmix: INIT submitted", -EIO);
		return;
	}
	usleep(150000); /* the session end sweeps, a chunk at a time */
	for (int i = 0; i < N; i++) {
		struct fuse_open_in in = { .flags = O_RDWR };
		struct iovec a = { &in, sizeof(in) };

		h[nh++] = on_hiprio(fc, fusec_req_getattr(fc, node[i]));
		h[nh++] = on_hiprio(fc, fusec_req_new(fc, FUSE_OPEN, node[i],
		    &a, 1, 0, sizeof(struct fuse_open_out), 0));
		h[nh++] = on_hiprio(fc, req_lk(fc, FUSE_SETLK, node[i], fh[i],
		    7, F_RDLCK, false));
		h[nh++] = on_hiprio(fc, fusec_req_lookup(fc, 1, "mix1"));
		usleep(30000);
	}
	err = await(fc, end, 30000);
	ok(err == 0, destroy ? "destroymix: the DESTROY answered" :
	    "resetmix: the new boot's INIT answered", err);
	ok(await_respawn(keeper, w), destroy ? "destroymix: the worker died "
	    "in the session's sweep" : "resetmix: the worker died in the "
	    "session's sweep", 0);
	if (destroy) {
		/* The next mount (answers arriving meanwhile are kept). */
		init = fusec_req_init(fc);
		err = init == NULL ? -ENOMEM : fusec_submit(fc, init);
		err = err ?: await(fc, init, 30000);
		ok(err == 0, "destroymix: the next mount's INIT answered",
		    err);
	}
	for (int i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "mix%d", i);
		newnode[i] = fusec_lookup(fc, 1, name, &e) == 0 ? e.nodeid : 0;
	}
	for (unsigned i = 0; i < nh; i++) {
		int e2;

		if (h[i] == NULL)
			continue;
		e2 = fusec_wait(fc, h[i], 10000);
		answered += e2 != -ETIMEDOUT;
		zero += e2 == 0;
		/*
		 * An OPEN that slipped in before its entry was swept: its fh
		 * must not work in the new session, with the old nodeid or
		 * the file's new one.
		 */
		if (e2 == 0 && h[i]->opcode == FUSE_OPEN) {
			uint64_t hfh = ((struct fuse_open_out *)
			    h[i]->reply)->fh;

			if (fusec_read(fc, h[i]->nodeid, hfh, 0, buf, 1) >= 0)
				survived++;
			for (int k = 0; k < N; k++)
				if (newnode[k] != 0 && fusec_read(fc,
				    newnode[k], hfh, 0, buf, 1) >= 0)
					survived++;
		}
		if (e2 != -ETIMEDOUT)
			fusec_req_free(h[i]);
	}
	printf("# %s: %u hostile requests, %u answered (%u with 0: "
	    "they reached old entries mid-sweep), %u handles they opened "
	    "still work in the new session\n", pre, nh, answered, zero,
	    survived);
	ok(answered == nh, "resetmix: every hostile request answered", 
	    (int)answered);
	err = fusec_getattr(fc, node[2], NULL);
	ok(err == -ESTALE, "resetmix: an old nodeid is stale", err);
	err = fusec_read(fc, node[2], fh[2], 0, buf, 1);
	ok(err == -EBADF, "resetmix: an old fh is stale", err);
	ok(survived == 0, "resetmix: no handle opened during the sweep "
	    "survives it", (int)survived);
	err = fusec_lookup(fc, 1, "mix0", &e);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o);
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 9,
	    F_WRLCK, false));
	ok(err == 0, "resetmix: new session: LOOKUP, OPEN and a write lock "
	    "on the file the old session locked", err);
	ok(fc->proto_errors == 0, "resetmix: no protocol error",
	    (int)fc->proto_errors);
}

/* How many threads of process pid sleep in (clock_)nanosleep now. */
static unsigned
threads_sleeping(pid_t pid)
{
	char path[320], buf[64];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		long nr = -1;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall",
		    (int)pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL)
			nr = strtol(buf, NULL, 10);
		fclose(f);
		n += nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
	}
	closedir(d);
	return n;
}

/*
 * A slow host file system (queue_int.h slow mode): every GETATTR takes
 * 200 ms on the host (PHX_DELAY=pt.getattr_fd:200000); 16 at once on one
 * queue. After the first few, run on the queue thread, the rest must wait
 * on the host side by side on pool threads (seen as worker threads asleep
 * in the delay at once), not each behind the one before; all answer 0.
 */
static void
sc_slowfs(struct fusec *fc, pid_t keeper)
{
	enum { N = 16 };
	struct fusec_req *r[N];
	uint64_t node[N];
	unsigned most = 0, answered = 0;
	pid_t w = ct_find_worker(keeper);
	int err;

	if (!make_files(fc, "slow", N, node))
		return;
	for (int i = 0; i < N; i++) {
		r[i] = fusec_req_getattr(fc, node[i]);
		if (r[i] == NULL || fusec_submit(fc, r[i]) < 0) {
			ok(false, "slowfs: GETATTRs submitted", -EIO);
			return;
		}
	}
	/* Serially they take 3.2 s; sample while they run. */
	for (int k = 0; k < 200; k++) {
		unsigned n = threads_sleeping(w);

		most = n > most ? n : most;
		usleep(10000);
	}
	for (int i = 0; i < N; i++) {
		err = await(fc, r[i], 30000);
		answered += err == 0;
	}
	printf("# slowfs: at most %u worker threads waited on the host at "
	    "once\n", most);
	ok(answered == N, "slowfs: every GETATTR answered 0", (int)answered);
	ok(most >= 4, "slowfs: the slow GETATTRs waited side by side (at "
	    "least 4 at once)", (int)most);
	ok(fc->proto_errors == 0, "slowfs: no protocol error",
	    (int)fc->proto_errors);
}

/*
 * A hostile guest against the DESTROY's closed session (fdispatch.c's
 * FD_DESTROYING), on two queues:
 *   count 1 (PHX_DELAY=fdispatch.destroy_closed): an INIT sent while the
 *     DESTROY holds the session closed, its sweep not begun: both answer,
 *     and the session the INIT opened (the guest's last word) works; the
 *     DESTROY's sweep must not run over it nor close it after it.
 *   count 2 (PHX_DELAY=pt.link_done): a LINK that passed the session check
 *     before the DESTROY, held after its op while the DESTROY sweeps every
 *     inode: the entry it then makes must not outlive the sweep into the
 *     next mount (a nodeid the new session never looked up).
 *   count 3 (PHX_CRASH=fdispatch.destroy_closed): the worker killed
 *     between the DESTROY's first commit and its sweep: the replay sweeps,
 *     the old ids are stale after the next INIT, which works.
 *   count 4 (PHX_DELAY=pt.owner_new): a SETLK past the session check
 *     before the DESTROY, held making its owner's OFD (under pt_lock.c's
 *     hint_lock) while the DESTROY sweeps (one file: the sweep is one
 *     chunk): both answer, the worker lives (no deadlock between the
 *     sweep's table lock and hint_lock).
 */
static void
sc_destroyrace(struct fusec *fc, pid_t keeper, const char *share,
    unsigned count)
{
	static const char *const pres[] = { "destroyinit", "destroylink",
		"destroykill", "destroylock" };
	const char *pre;
	struct fuse_link_in lin = {0};
	struct iovec la[2] = {{&lin, sizeof(lin)}, {"g", 2}};
	struct fusec_req *end, *init, *link = NULL, *lk = NULL;
	struct fuse_entry_out e;
	struct fuse_open_out o;
	uint64_t node[2], fh[2], dir = 0, linked = 0;
	char what[160], path[4096], buf[8];
	pid_t w = ct_find_worker(keeper);
	int err, fd, lerr = 0;

	count = count >= 1 && count <= 4 ? count - 1 : 0;
	pre = pres[count];
	if (!make_files(fc, pre, count == 3 ? 1 : 2, node))
		return;
	for (int i = 0; i < (count == 3 ? 1 : 2); i++) {
		err = fusec_open(fc, node[i], O_RDWR, &o);
		fh[i] = err == 0 ? o.fh : 0;
	}
	if (count == 1) {
		snprintf(path, sizeof(path), "%s/dl.dir", share);
		(void)mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/dl.dir/f", share);
		if ((fd = open(path, O_CREAT | O_WRONLY, 0644)) >= 0)
			close(fd);
		err = fusec_lookup(fc, 1, "dl.dir", &e);
		dir = e.nodeid;
		err = err ?: fusec_lookup(fc, dir, "f", &e);
		lin.oldnodeid = e.nodeid;
		link = err ? NULL : fusec_req_new(fc, FUSE_LINK, dir, la, 2, 0,
		    sizeof(struct fuse_entry_out), 0);
		if (link == NULL || fusec_submit(fc, link) < 0) {
			ok(false, "destroylink: LINK submitted", err ?: -EIO);
			return;
		}
		usleep(300000); /* its op done, the LINK held */
	}
	if (count == 3) {
		lk = req_lk(fc, FUSE_SETLK, node[0], fh[0], 1, F_WRLCK, false);
		if (lk == NULL || fusec_submit(fc, lk) < 0) {
			ok(false, "destroylock: SETLK submitted", -EIO);
			return;
		}
		usleep(300000); /* held making its OFD, under hint_lock */
	}
	end = on_hiprio(fc, fusec_req_new(fc, FUSE_DESTROY, 0, NULL, 0, 0,
	    0, 0));
	if (end == NULL) {
		ok(false, "destroyrace: DESTROY submitted", -EIO);
		return;
	}
	if (count == 0) {
		usleep(200000); /* the session closed, the sweep held */
		init = fusec_req_init(fc);
		err = init == NULL ? -ENOMEM : fusec_submit(fc, init);
		err = err ?: await(fc, init, 30000);
		ok(err == 0, "destroyinit: an INIT sent during the DESTROY "
		    "answered", err);
	}
	err = await(fc, end, count == 3 ? 8000 : 30000);
	snprintf(what, sizeof(what), "%s: the DESTROY answered", pre);
	ok(err == 0, what, err);
	if (count == 3) {
		err = await(fc, lk, 8000);
		ok(err != -ETIMEDOUT, "destroylock: the held SETLK answered",
		    err);
		ok(ct_find_worker(keeper) == w, "destroylock: no worker death "
		    "(no deadlock for the watchdog to end)",
		    (int)ct_find_worker(keeper));
	}
	if (count == 1) {
		lerr = fusec_wait(fc, link, 30000);
		if (lerr == 0)
			linked = ((struct fuse_entry_out *)link->reply)->nodeid;
		if (lerr != -ETIMEDOUT)
			fusec_req_free(link);
		printf("# destroylink: the held LINK answered %d (nodeid "
		    "%#llx)\n", lerr, (unsigned long long)linked);
		ok(lerr != -ETIMEDOUT, "destroylink: the held LINK answered",
		    lerr);
	}
	if (count == 2)
		ok(await_respawn(keeper, w), "destroykill: the worker died "
		    "between the DESTROY's first commit and its sweep", 0);
	if (count != 0) {
		init = fusec_req_init(fc);
		err = init == NULL ? -ENOMEM : fusec_submit(fc, init);
		err = err ?: await(fc, init, 30000);
		snprintf(what, sizeof(what), "%s: the next mount's INIT "
		    "answered", pre);
		ok(err == 0, what, err);
	}
	err = fusec_getattr(fc, 1, NULL);
	snprintf(what, sizeof(what), "%s: the session the last INIT opened "
	    "works (GETATTR of the root)", pre);
	ok(err == 0, what, err);
	if (count == 1) {
		err = linked != 0 ? fusec_getattr(fc, linked, NULL) : -ESTALE;
		ok(err == -ESTALE, "destroylink: the entry the held LINK made "
		    "after the sweep is stale in the next session", err);
		err = fusec_getattr(fc, dir, NULL);
		ok(err == -ESTALE, "destroylink: the old directory is stale",
		    err);
	}
	for (int i = 0; i < (count == 3 ? 1 : 2); i++) {
		err = fusec_read(fc, node[i], fh[i], 0, buf, 1);
		snprintf(what, sizeof(what), "%s: old fh %d is stale", pre, i);
		ok(err == -EBADF || err == -ESTALE, what, err);
	}
	snprintf(path, sizeof(path), "%s0", pre);
	err = fusec_lookup(fc, 1, path, &e);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o);
	err = err ?: (fusec_read(fc, e.nodeid, o.fh, 0, buf, 1) == 1 ? 0 :
	    -EIO);
	snprintf(what, sizeof(what), "%s: new session: LOOKUP, OPEN, READ",
	    pre);
	ok(err == 0, what, err);
	ok(fc->proto_errors == 0, "destroyrace: no protocol error",
	    (int)fc->proto_errors);
}

/* defect 5: a second MKNOD popped at the kill. */
static void
sc_mknod(struct fusec *fc, pid_t keeper)
{
	struct fuse_entry_out e;
	pid_t w = ct_find_worker(keeper);
	int err;

	err = fusec_mknod(fc, 1, "fifo", S_IFIFO | 0644, 0, &e);
	ok(err == 0, "mknod: first MKNOD of the fifo", err);
	err = fusec_mknod(fc, 1, "fifo", S_IFIFO | 0644, 0, &e);
	ok(await_respawn(keeper, w), "mknod: the worker died in the second "
	    "MKNOD, before its mknodat", 0);
	ok(err == -EEXIST, "mknod: second MKNOD (never executed) answers "
	    "EEXIST", err);
}

/*
 * The same for REMOVEXATTR (identity-decided too): a REMOVEXATTR of an
 * attribute that does not exist, killed EXECUTING before its first host
 * call (PHX_CRASH=pt.before_removexattr), answers ENODATA, not 0.
 */
static void
sc_rmxattr(struct fusec *fc, pid_t keeper)
{
	uint64_t node;
	pid_t w;
	int err;

	err = make_file(fc, "rmx", 'r', &node);
	ok(err == 0, "rmxattr: file made", err);
	w = ct_find_worker(keeper);
	err = fusec_removexattr(fc, node, "user.never");
	ok(await_respawn(keeper, w), "rmxattr: the worker died in the "
	    "REMOVEXATTR, before its host call", 0);
	ok(err == -ENODATA, "rmxattr: REMOVEXATTR of an attribute that "
	    "never existed answers ENODATA", err);
}

/* defect 8: CREATE O_EXCL killed on its error path. */
static void
sc_excl(struct fusec *fc, pid_t keeper, const char *share)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;
	char buf[64], path[4096];
	pid_t w = ct_find_worker(keeper);
	struct stat st;
	int err, n = 0;

	err = fusec_create(fc, 1, "excl", O_RDWR | O_EXCL, 0644, &e, &o);
	ok(await_respawn(keeper, w), "excl: the worker died on the error "
	    "path", 0);
	ok(err == 0 || err == -EIO, "excl: CREATE O_EXCL answered (0 or "
	    "the injected EIO)", err);
	if (err == 0) {
		memset(buf, 'x', sizeof(buf));
		n = fusec_write(fc, e.nodeid, o.fh, 0, buf, sizeof(buf));
		ok(n == (int)sizeof(buf), "excl: WRITE through the replay's fh",
		    n);
		snprintf(path, sizeof(path), "%s/excl", share);
		if (stat(path, &st) < 0)
			st.st_size = -errno;
		ok(st.st_size == (off_t)sizeof(buf), "excl: the bytes reached "
		    "the created file", (int)st.st_size);
	}
}

/*
 * A MKDIR of name in the root whose first run the worker died in (the
 * scenario's crash point or fault): the worker respawned, the replay
 * answered 0, the directory exists. died and answers: the first two
 * checks' descriptions.
 */
static void
mkdir_killed(struct fusec *fc, pid_t keeper, const char *share,
    const char *name, const char *died, const char *answers)
{
	struct fuse_entry_out e;
	char path[4096], what[256];
	pid_t w = ct_find_worker(keeper);
	struct stat st;
	int err;

	err = fusec_mkdir(fc, 1, name, 0755, &e);
	snprintf(what, sizeof(what), "%s: %s", name, died);
	ok(await_respawn(keeper, w), what, 0);
	snprintf(what, sizeof(what), "%s: %s", name, answers);
	ok(err == 0, what, err);
	snprintf(path, sizeof(path), "%s/%s", share, name);
	snprintf(what, sizeof(what), "%s: the directory exists", name);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), what, 0);
}

/* defect 12: an EINTR completion in the dead worker's ring. */
static void
sc_eintr(struct fusec *fc, pid_t keeper, const char *share)
{
	mkdir_killed(fc, keeper, share, "eintr", "the worker died with an "
	    "EINTR completion", "MKDIR interrupted by the kill runs again, "
	    "answers 0");
}

/*
 * A MKDIR run on a thread whose io_uring set-up failed (PHX_FAIL=
 * intent.ring_enomem: every ring of the first incarnation refused, as
 * ENOMEM once RLIMIT_MEMLOCK is spent), so by a direct mkdirat, and
 * killed after it (PHX_CRASH=queue.after_handler:2): the replay runs on
 * the next incarnation's ring, which must not answer the first run's
 * EEXIST (kills.sh's pool run once its dead rings were left open: they
 * spent the budget). A second MKDIR, new, answers EEXIST.
 */
static void
sc_ringless(struct fusec *fc, pid_t keeper, const char *share)
{
	struct fuse_entry_out e;
	int err;

	mkdir_killed(fc, keeper, share, "ringless", "the worker died after "
	    "its direct mkdirat", "the replayed MKDIR answers 0, not EEXIST");
	err = fusec_mkdir(fc, 1, "ringless", 0755, &e);
	ok(err == -EEXIST, "ringless: a second MKDIR (new) answers EEXIST",
	    err);
}

/*
 * A MKDIR of a directory that exists, run on a ring (the kernel's record:
 * EEXIST), killed before its commit (PHX_CRASH=queue.after_handler:3),
 * and replayed by a recovery whose io_uring set-up fails
 * (PHX_FAIL=intent.ring_enomem_later): the replay calls mkdirat
 * directly, but the first run is known to have failed, so the EEXIST is
 * the answer, not the identity rule's 0 ("the directory is there, made
 * by the first run").
 */
static void
sc_ringlater(struct fusec *fc, pid_t keeper)
{
	struct fuse_entry_out e;
	pid_t w;
	int err;

	err = fusec_mkdir(fc, 1, "ringlater", 0755, &e);
	ok(err == 0, "ringlater: MKDIR", err);
	w = ct_find_worker(keeper);
	err = fusec_mkdir(fc, 1, "ringlater", 0755, &e);
	ok(await_respawn(keeper, w), "ringlater: the worker died after the "
	    "second MKDIR's ring answered EEXIST", 0);
	ok(err == -EEXIST, "ringlater: the replay without a ring answers "
	    "EEXIST, as the first run did", err);
}

/* heldop: the host thread holding a directory's lock (getdents64). */
struct dirlock {
	int dfd, uffd;
	void *page;
	pthread_t th;
};

static void *
dirlock_main(void *arg)
{
	struct dirlock *l = arg;

	/* Blocks in the copy to the missing page, the lock held. */
	(void)syscall(SYS_getdents64, l->dfd, l->page, 4096);
	return NULL;
}

/*
 * Holds the i_rwsem of directory path (shared) until dirlock_release():
 * getdents64 into a page registered with userfaultfd faults while
 * iterate_dir holds it, and waits for the page. -errno if it cannot.
 */
static int
dirlock_take(struct dirlock *l, const char *path)
{
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg;
	struct pollfd pfd;

	l->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	l->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (l->dfd < 0 || l->uffd < 0 || ioctl(l->uffd, UFFDIO_API, &api) < 0)
		return -errno;
	l->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l->page == MAP_FAILED)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)l->page;
	reg.range.len = 4096;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(l->uffd, UFFDIO_REGISTER, &reg) < 0 ||
	    pthread_create(&l->th, NULL, dirlock_main, l) != 0)
		return -errno;
	/* The fault is pending: the lock is held. */
	pfd.fd = l->uffd;
	pfd.events = POLLIN;
	return poll(&pfd, 1, 5000) == 1 ? 0 : -ETIMEDOUT;
}

static void
dirlock_release(struct dirlock *l)
{
	struct uffdio_zeropage z;

	memset(&z, 0, sizeof(z));
	z.range.start = (uintptr_t)l->page;
	z.range.len = 4096;
	(void)ioctl(l->uffd, UFFDIO_ZEROPAGE, &z);
	pthread_join(l->th, NULL);
	munmap(l->page, 4096);
	close(l->uffd);
	close(l->dfd);
}

/* True once a task of pid named iou-wrk-* sleeps uninterruptibly. */
static bool
iowq_blocked(pid_t pid, unsigned timeout_ms)
{
	char path[64], buf[512];

	for (unsigned ms = 0; ms < timeout_ms; ms += 10) {
		struct dirent *de;
		bool found = false;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		if ((d = opendir(path)) == NULL)
			return false;
		while (!found && (de = readdir(d)) != NULL) {
			char sp[384], *p;
			FILE *f;

			if (de->d_name[0] == '.')
				continue;
			snprintf(sp, sizeof(sp), "%s/%s/stat", path,
			    de->d_name);
			if ((f = fopen(sp, "r")) == NULL)
				continue;
			if (fgets(buf, sizeof(buf), f) != NULL &&
			    strstr(buf, "(iou-wrk-") != NULL &&
			    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
			    p[2] == 'D')
				found = true;
			fclose(f);
		}
		closedir(d);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * Session 6's question: can a dead worker's ring post an op's completion
 * after recovery drained it, so that the replay runs the op a second
 * time? A MKDIR's mkdirat is held inside the kernel, on an io-wq worker
 * of the thread that submitted it, by a host thread holding the parent's
 * lock (dirlock_take), and the worker is killed. The killed thread's
 * exit waits for its io-wq workers (io_uring_files_cancel, before
 * exit_mm), so its mm stays, and the keeper starts no recovery: checked
 * for 1 s. Then the lock goes, the mkdirat runs and posts its CQE in the
 * dying ring, the worker's mm goes, and recovery drains the CQE: the
 * MKDIR answers 0, the replay did not run it again (no EEXIST).
 */
static void
sc_heldop(struct fusec *fc, pid_t keeper, const char *share)
{
	struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
	struct iovec a[2] = {{&in, sizeof(in)}, {"x", 2}};
	struct fuse_entry_out e;
	struct dirlock l;
	struct fusec_req *r;
	char path[4096];
	struct stat st;
	pid_t w, n;
	int err;

	err = fusec_mkdir(fc, 1, "heldop", 0755, &e);
	ok(err == 0, "heldop: MKDIR of the parent", err);
	snprintf(path, sizeof(path), "%s/heldop", share);
	err = dirlock_take(&l, path);
	if (err < 0) {
		/* No userfaultfd here: nothing can hold the window. */
		printf("ok %d - heldop: parent's lock held # SKIP %s\n", ++sc_n,
		    strerror(-err));
		return;
	}
	ok(true, "heldop: a host thread holds the parent's lock", 0);
	w = ct_find_worker(keeper);
	r = fusec_req_new(fc, FUSE_MKDIR, e.nodeid, a, 2, 0,
	    sizeof(struct fuse_entry_out), 0);
	if (r == NULL || fusec_submit(fc, r) < 0) {
		ok(false, "heldop: MKDIR submitted", -EIO);
		dirlock_release(&l);
		return;
	}
	ok(iowq_blocked(w, 5000), "heldop: the MKDIR's mkdirat waits on an "
	    "io-wq worker", 0);
	kill(w, SIGKILL);
	n = ct_find_worker(keeper);
	ok(!ct_wait_mm_gone(w, 1000) && (n == 0 || n == w) &&
	    ((n = ct_find_worker(keeper)) == 0 || n == w),
	    "heldop: killed, the worker keeps its mm and no recovery starts "
	    "while its op waits (1 s)", 0);
	dirlock_release(&l);
	ok(await_respawn(keeper, w), "heldop: the lock released, the worker "
	    "is gone and the next one serves", 0);
	err = await(fc, r, 20000);
	ok(err == 0, "heldop: the MKDIR answers 0 (its completion drained, "
	    "not run again)", err);
	snprintf(path, sizeof(path), "%s/heldop/x", share);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "heldop: the "
	    "directory exists", 0);
	err = fusec_mkdir(fc, e.nodeid, "x", 0755, &e);
	ok(err == -EEXIST, "heldop: a second MKDIR (new) answers EEXIST",
	    err);
}

/*
 * A MKDIR the queue thread meant to leave in flight whose io_uring_enter
 * failed (PHX_FAIL=intent.async_nosubmit: its SQE stays in the SQ): it
 * waits for its completion as usual, and its op must run once. The
 * MKDIRs after it, left in flight, must all be answered.
 */
static void
sc_nosubmit(struct fusec *fc, const char *share)
{
	struct fuse_entry_out e;
	char path[4096];
	struct stat st;
	int err;

	err = fusec_mkdir(fc, 1, "nosub0", 0755, &e);
	ok(err == 0, "nosubmit: the MKDIR whose submit failed answers 0",
	    err);
	snprintf(path, sizeof(path), "%s/nosub0", share);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "nosubmit: the "
	    "directory exists", 0);
	usleep(200000); /* a second run of its op, if any, completed */
	for (int i = 1; i <= 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "nosub%d", i);
		err = fusec_mkdir(fc, 1, name, 0755, &e);
		ok(err == 0, "nosubmit: a MKDIR left in flight after it "
		    "answers 0", err);
	}
}

/*
 * A LINK (a waited-for op) whose io_uring_enter failed once
 * (PHX_FAIL=intent.submit_eagain: its SQE stays in the SQ): it must not
 * answer an error for an op the next enter runs anyway.
 */
static void
sc_submiteagain(struct fusec *fc, const char *share)
{
	struct fuse_entry_out e, l;
	char path[4096];
	struct stat st;
	int fd, err;

	snprintf(path, sizeof(path), "%s/sea", share);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	err = fusec_lookup(fc, 1, "sea", &l);
	ok(err == 0, "submiteagain: LOOKUP", err);
	err = fusec_link(fc, l.nodeid, 1, "sea.link", &e);
	(void)fusec_mkdir(fc, 1, "sea.next", 0755, &e); /* the next enter */
	usleep(200000); /* its ops done */
	snprintf(path, sizeof(path), "%s/sea.link", share);
	ok((err == 0) == (stat(path, &st) == 0), "submiteagain: the LINK "
	    "answers what it did", err);
	ok(err == 0, "submiteagain: the LINK whose enter failed once "
	    "answers 0", err);
}

/*
 * defect 14: a completion recovery pushed, on a queue stopped before its
 * thread's first sleep (PHX_CRASH=queue.after_commit:2: the GETATTR is
 * committed, not pushed; PHX_DELAY=queue.thread_start holds the new queue
 * thread): the guest must still get an interrupt.
 */
static void
sc_notify(struct vuf_dev *d, struct fusec *fc, pid_t keeper)
{
	struct vuf_vq *vq = &d->vq[fc->qidx];
	struct pollfd p = { .fd = vq->callfd, .events = POLLIN };
	struct fusec_req *g = fusec_req_getattr(fc, 1);
	pid_t w = ct_find_worker(keeper);
	uint64_t junk;
	int n, err;

	while (read(vq->callfd, &junk, sizeof(junk)) > 0)
		;
	if (g == NULL || fusec_submit(fc, g) < 0)
		return;
	ok(await_respawn(keeper, w), "notify: GETATTR killed the worker "
	    "after its commit", 0);
	usleep(100000); /* recovery done; the queue thread is held */
	{
		/* This queue first: each stop waits for its held thread. */
		struct vhost_vring_state st = { .index = fc->qidx };

		err = vuf_msg_send(d, VUF_GET_VRING_BASE, 0, &st, sizeof(st),
		    NULL, 0);
		if (err >= 0)
			err = vuf_msg_recv(d, VUF_GET_VRING_BASE, &st,
			    sizeof(st), 10000);
	}
	ok(err >= 0, "notify: queue stopped (GET_VRING_BASE)", err);
	n = poll(&p, 1, 3000);
	printf("# notify: used->idx %u, call fd %s\n",
	    (unsigned)__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE),
	    n > 0 ? "signalled" : "silent");
	ok(n > 0, "notify: the completion recovery pushed was signalled", n);
}

/*
 * Issue 10: the driver is called before the queue thread runs dry, not
 * only every QUEUE_NOTIFY_EVERY completions and at the batch end, so it
 * refills while the last requests run. 16 GETATTRs posted at once, each
 * held 20 ms (PHX_DELAY=pt.getattr_fd, slow mode off): the first call
 * comes with 12 answered and 4 still in the ring. Before: with 16.
 */
static void
sc_notifyearly(struct vuf_dev *d, struct fusec *fc)
{
	enum { N = 16 };
	struct vuf_vq *vq = &d->vq[fc->qidx];
	struct pollfd p = { .fd = vq->callfd, .events = POLLIN };
	struct fusec_req *g[N];
	unsigned at_call = 0, answered = 0;
	uint64_t junk;
	int n;

	for (int i = 0; i < N; i++) {
		g[i] = fusec_req_getattr(fc, 1);
		if (g[i] == NULL || fusec_submit(fc, g[i]) < 0) {
			ok(false, "notifyearly: GETATTRs posted", -EIO);
			return;
		}
	}
	n = poll(&p, 1, 5000);
	if (n > 0) {
		at_call = (uint16_t)(__atomic_load_n(&vq->used->idx,
		    __ATOMIC_ACQUIRE) - vq->last_used);
		while (read(vq->callfd, &junk, sizeof(junk)) > 0)
			;
	}
	for (int i = 0; i < N; i++) {
		if (fusec_wait(fc, g[i], 10000) == 0)
			answered++;
		fusec_req_free(g[i]);
	}
	printf("# notifyearly: first call with %u of %d answered\n",
	    at_call, N);
	ok(answered == N, "notifyearly: every GETATTR answered",
	    (int)answered);
	ok(n > 0 && at_call >= 4 && at_call <= 12, "notifyearly: the first "
	    "call comes while 4 requests still wait", (int)at_call);
}

/*
 * The soak's LINK ENOENT: the dead worker's io-wq ran the LINKAT through
 * /proc/self/fd after the worker's files went (PHX_FAIL=intent.enoent:2
 * writes that completion: pass 1 is the CREATE).
 */
static void
sc_linkdead(struct fusec *fc, pid_t keeper, const char *share)
{
	struct fuse_entry_out e, l;
	struct fuse_open_out o;
	char path[4096];
	pid_t w = ct_find_worker(keeper);
	struct stat st;
	int err;

	err = fusec_create(fc, 1, "src", O_RDWR | O_EXCL, 0644, &e, &o);
	ok(err == 0, "linkdead: CREATE", err);
	err = fusec_link(fc, e.nodeid, 1, "dst", &l);
	ok(await_respawn(keeper, w), "linkdead: the worker died with an "
	    "ENOENT completion", 0);
	ok(err == 0, "linkdead: LINK failed by the dying worker runs again, "
	    "answers 0", err);
	snprintf(path, sizeof(path), "%s/dst", share);
	if (stat(path, &st) < 0)
		st.st_nlink = 0;
	ok(st.st_nlink == 2, "linkdead: the link exists", (int)st.st_nlink);
}

/* How many of pid's fds name a file called name (its /proc fd links). */
static unsigned
fds_naming(pid_t pid, const char *name)
{
	char dir[64], path[512], link[512];
	unsigned n = 0;
	DIR *dp;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((dp = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		ssize_t k;
		const char *base;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = 0;
		base = strrchr(link, '/');
		n += base != NULL && strcmp(base + 1, name) == 0;
	}
	closedir(dp);
	return n;
}

/* fds_naming() of the worker, polled up to 2 s until it is 0. */
static unsigned
fds_left(pid_t keeper, const char *name)
{
	pid_t pid = ct_find_worker(keeper);
	unsigned left = 0;

	for (int i = 0; i < 200 && (left = fds_naming(pid, name)) > 0; i++)
		usleep(10000);
	return left;
}

/*
 * A head a granted wait frees, re-posted at once with another SETLKW
 * that parks (a Linux guest's free list is LIFO), while the first wait
 * is not yet dropped (PHX_DELAY=queue.wait_pushed holds it): after a VM
 * pause and cont, which parks again every live SETLKW slot not parked
 * (queue_resume_waits), the second wait must be answered once. Before,
 * the first wait's drop cleared the head's bit that the second had set,
 * the cont parked it a second time, and the head completed twice.
 */
static void
sc_waithead(struct vuf_dev *d, struct fusec *fc, const char *share)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct fuse_entry_out e;
	struct fuse_open_out o;
	struct fusec_req *w1, *w2;
	struct fusec_req *r[8];
	unsigned extra = 0;
	char path[512];
	int err, r1, r2, hp;

	/* One descriptor a request: the next one takes the freed head. */
	fc->indirect = true;
	err = fusec_create(fc, 1, "waithead", O_RDWR | O_EXCL, 0644, &e, &o);
	snprintf(path, sizeof(path), "%s/waithead", share);
	hp = open(path, O_RDWR);
	ok(err == 0 && hp >= 0 && fcntl(hp, F_OFD_SETLK, &fl) == 0,
	    "waithead: a host process locks the file", err);
	w1 = req_lk(fc, FUSE_SETLKW, e.nodeid, o.fh, 2, F_WRLCK, false);
	if (w1 == NULL || fusec_submit(fc, w1) < 0) {
		ok(false, "waithead: SETLKW submitted", -EIO);
		return;
	}
	usleep(200000);
	/* Its retry (50 ms apart at most) takes the lock, nothing else. */
	close(hp);
	r1 = await(fc, w1, 5000);
	/* At once, on the head w1 freed: owner 3 waits for owner 2. */
	w2 = req_lk(fc, FUSE_SETLKW, e.nodeid, o.fh, 3, F_WRLCK, false);
	if (w2 == NULL || fusec_submit(fc, w2) < 0) {
		ok(false, "waithead: second SETLKW submitted", -EIO);
		return;
	}
	ok(r1 == 0, "waithead: the host unlocks, owner 2's wait gets the "
	    "lock", r1);
	/* The first wait dropped (its hold is 500 ms), then pause, cont. */
	usleep(800000);
	err = vuf_pause(d);
	err = err ?: vuf_resume(d);
	ok(err == 0, "waithead: pause and cont", err);
	usleep(200000);
	ok(!w2->done, "waithead: the second wait still waits", 0);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o.fh, 2, F_UNLCK,
	    false));
	r2 = await(fc, w2, 5000);
	ok(err == 0 && r2 == 0, "waithead: owner 2 unlocks, owner 3's wait "
	    "gets the lock", r2);
	/* A second completion of its head: after the hold of the first. */
	usleep(1000000);
	for (int n; (n = fusec_poll(fc, 0, r, 8)) > 0;)
		for (int j = 0; j < n; j++) {
			extra++;
			fusec_req_free(r[j]);
		}
	ok(fc->proto_errors == 0 && extra == 0, "waithead: each head "
	    "completed once, no protocol error", (int)fc->proto_errors);
	if (fc->proto_errors != 0)
		printf("# waithead: %s\n", fc->err);
}

/*
 * A VM pause must be invisible to the guest: lock waits go on across it
 * (before, GET_VRING_BASE ended them with EINTR, which the guest kernel
 * turns into errno 512). mode 0: pause, the host process unlocks, cont:
 * both waits answer 0, once. 1: the worker is killed while paused. 2: a
 * reset (new rings at base 0) instead of the cont. 3: no pause, but a
 * RESET_DEVICE whose handler is killed after it dropped the waits, then
 * new rings: the replayed reset drops them again, nothing is answered.
 * 4: the cont with the host's locks still held, then an INIT that ends
 * the session: the waits end (EINTR), their fds go.
 */
static void
sc_pause(struct vuf_dev *d, struct fusec *fc, pid_t keeper,
    const char *share, unsigned mode)
{
	static const char *const what[] = {"pause", "pausekill", "pausereset",
	    "resetrun", "pauseinit"};
	const char *w = what[mode];
	struct fuse_entry_out e;
	struct fuse_open_out o1, o2;
	struct fusec_req *wp, *wf;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char path[512];
	uint16_t used;
	int hp, hf, err, ep, ef;
	unsigned left = 0;

	err = fusec_create(fc, 1, "pausefile", O_RDWR | O_EXCL, 0644, &e, &o1);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o2);
	ok(err == 0, "pause: CREATE and a second OPEN", err);
	/* A host process holds a POSIX (OFD) lock and a flock. */
	snprintf(path, sizeof(path), "%s/pausefile", share);
	hp = open(path, O_RDWR);
	hf = open(path, O_RDWR);
	ok(hp >= 0 && hf >= 0 && fcntl(hp, F_OFD_SETLK, &fl) == 0 &&
	    flock(hf, LOCK_EX | LOCK_NB) == 0, "pause: the host holds a "
	    "POSIX lock and a flock", 0);
	wp = req_lk(fc, FUSE_SETLKW, e.nodeid, o1.fh, 2, F_WRLCK, false);
	wf = req_lk(fc, FUSE_SETLKW, e.nodeid, o2.fh, 3, F_WRLCK, true);
	if (wp == NULL || wf == NULL || fusec_submit(fc, wp) < 0 ||
	    fusec_submit(fc, wf) < 0) {
		ok(false, "pause: SETLKWs submitted", -EIO);
		return;
	}
	ep = fusec_wait(fc, wp, 300);
	ef = fusec_wait(fc, wf, 1);
	wp->abandoned = wf->abandoned = false;
	ok(ep == -ETIMEDOUT && ef == -ETIMEDOUT, "pause: SETLKW and flock "
	    "waiting", ep != -ETIMEDOUT ? ep : ef);
	/* The used index before the stop: the stop answers nothing either. */
	used = __atomic_load_n(&d->vq[fc->qidx].used->idx, __ATOMIC_ACQUIRE);
	if (mode == 3) {
		pid_t pid = ct_find_worker(keeper);

		/* RESET_DEVICE on running rings, the worker killed in it
		 * after the waits were dropped (PHX_CRASH=vu.reset_stopped). */
		err = vuf_msg_ack(d, VUF_RESET_DEVICE, NULL, 0, NULL, 0);
		ok(err == 0 && await_respawn(keeper, pid), "resetrun: "
		    "RESET_DEVICE on running rings, the worker killed in it, "
		    "answered by the next", err);
	} else {
		err = vuf_pause(d);
		ok(err == 0, "pause: every queue stopped (ENABLE 0, "
		    "GET_VRING_BASE)", err);
	}
	if (mode == 1)
		ok(kill_worker(keeper), "pausekill: worker killed while paused "
		    "and respawned", 0);
	if (mode == 4) {
		/*
		 * The ring goes on, the waits still wait; then an INIT (a
		 * hostile guest: the stop allows one) ends the session, whose
		 * waits must end with it (their OFD and fh are swept).
		 */
		usleep(200000);
		ok(__atomic_load_n(&d->vq[fc->qidx].used->idx,
		    __ATOMIC_ACQUIRE) == used, "pauseinit: nothing answered by "
		    "the stop", 0);
		err = vuf_resume(d);
		ok(err == 0, "pauseinit: cont, the host keeps its locks", err);
		err = fusec_init(fc);
		ok(err == 0, "pauseinit: an INIT on the ring that went on ends "
		    "the session", err);
		ep = await(fc, wp, 10000);
		ef = await(fc, wf, 10000);
		ok(ep == -EINTR && ef == -EINTR, "pauseinit: the waits of the "
		    "ended session answer EINTR", ep != -EINTR ? ep : ef);
		left = fds_left(keeper, "pausefile");
		ok(left == 0, "pauseinit: the daemon holds no fd of the file",
		    (int)left);
		ok(fc->proto_errors == 0, "pauseinit: no protocol error",
		    (int)fc->proto_errors);
		close(hp);
		close(hf);
		return;
	}
	close(hp);
	close(hf);
	/* Long enough for a wait's retry (at most 50 ms) to take the lock. */
	usleep(400000);
	ep = __atomic_load_n(&d->vq[fc->qidx].used->idx, __ATOMIC_ACQUIRE);
	ok(ep == used && !wp->done && !wf->done, "pause: nothing answered "
	    "by the stop or while paused", wp->done ? wp->error :
	    wf->done ? wf->error : ep - used);
	printf("# %s (mode %u): base %u, used %u before the stop\n", w, mode,
	    (unsigned)d->vq[fc->qidx].base, (unsigned)used);
	if (mode >= 2) {
		err = vuf_renew(d);
		ok(err == 0, "pausereset: new rings at base 0 (a reset)", err);
		usleep(300000);
		ok(d->vq[fc->qidx].used->idx == 0, "pausereset: nothing "
		    "pushed into the new ring", d->vq[fc->qidx].used->idx);
		err = fusec_init(fc);
		ok(err == 0, "pausereset: the new boot's INIT", err);
		left = fds_left(keeper, "pausefile");
		ok(left == 0, "pausereset: the daemon holds no fd of the file",
		    (int)left);
		hp = open(path, O_RDWR);
		hf = open(path, O_RDWR);
		ok(hp >= 0 && hf >= 0 && fcntl(hp, F_OFD_SETLK, &fl) == 0 &&
		    flock(hf, LOCK_EX | LOCK_NB) == 0, "pausereset: no lock "
		    "left (the host takes both again)", 0);
		close(hp);
		close(hf);
		ok(fc->proto_errors == 0, "pausereset: no protocol error",
		    (int)fc->proto_errors);
		return; /* wp and wf went with the old rings */
	}
	err = vuf_resume(d);
	ok(err == 0, "pause: cont (the same rings at the answered bases)", err);
	ep = await(fc, wp, 10000);
	ef = await(fc, wf, 10000);
	ok(ep == 0, "pause: the SETLKW answers 0 after the cont", ep);
	ok(ef == 0, "pause: the flock answers 0 after the cont", ef);
	hp = open(path, O_RDWR);
	hf = open(path, O_RDWR);
	fl.l_type = F_WRLCK;
	ok(hp >= 0 && hf >= 0 && fcntl(hp, F_OFD_GETLK, &fl) == 0 &&
	    fl.l_type == F_WRLCK && flock(hf, LOCK_EX | LOCK_NB) < 0 &&
	    errno == EWOULDBLOCK, "pause: the guest owners hold both locks",
	    0);
	close(hp);
	close(hf);
	err = call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 2, F_UNLCK,
	    false));
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o2.fh, 3,
	    F_UNLCK, true));
	err = err ?: fusec_getattr(fc, e.nodeid, NULL);
	ok(err == 0, "pause: unlocks and a GETATTR after the cont", err);
	ok(fc->proto_errors == 0, "pause: each answered once (no doubled or "
	    "foreign completion)", (int)fc->proto_errors);
}

/*
 * A hostile guest re-posts the head of a SETLKW that waits (in flight):
 * its queue is marked broken, nothing is completed twice, the worker does
 * not die, and another queue serves; then a kill: recovery leaves the
 * broken queue alone (its live slot, marked, is never replayed into it),
 * and the other queue serves again. Needs 2 request queues (--queues 2).
 */
static void
sc_repost(struct vuf_dev *d, struct fusec *fc, pid_t keeper)
{
	struct vuf_vq *vq = &d->vq[1];
	struct fuse_entry_out e;
	struct fuse_open_out o1, o2;
	struct fusec_req *wp;
	pid_t w;
	uint16_t head;
	int err;

	fc->qidx = 1;
	err = fusec_create(fc, 1, "repost", O_RDWR | O_EXCL, 0644, &e, &o1);
	err = err ?: fusec_open(fc, e.nodeid, O_RDWR, &o2);
	err = err ?: call(fc, req_lk(fc, FUSE_SETLK, e.nodeid, o1.fh, 1,
	    F_WRLCK, false));
	ok(err == 0, "repost: CREATE, OPEN, owner 1 SETLK", err);
	wp = req_lk(fc, FUSE_SETLKW, e.nodeid, o2.fh, 2, F_WRLCK, false);
	if (wp == NULL || fusec_submit(fc, wp) < 0)
		return;
	head = vq->avail->ring[(uint16_t)(vq->avail_idx - 1) % vq->num];
	usleep(300000);
	ok(!wp->done, "repost: the SETLKW waits", 0);
	w = ct_find_worker(keeper);
	vuf_vq_publish_raw(vq, head);
	vuf_vq_kick(vq);
	usleep(500000);
	fusec_poll(fc, 0, NULL, 0);
	ok(ct_find_worker(keeper) == w && fc->proto_errors == 0 && !wp->done,
	    "repost: the head re-posted in flight is not run, the worker "
	    "lives", (int)fc->proto_errors);
	fc->qidx = 2;
	err = fusec_getattr(fc, e.nodeid, NULL);
	ok(err == 0, "repost: queue 2 serves", err);
	ok(kill_worker(keeper), "repost: worker killed and respawned", 0);
	err = fusec_getattr(fc, e.nodeid, NULL);
	ok(err == 0, "repost: queue 2 serves after the recovery", err);
	usleep(500000);
	fusec_poll(fc, 0, NULL, 0);
	w = ct_find_worker(keeper);
	usleep(500000);
	ok(ct_find_worker(keeper) == w && fc->proto_errors == 0,
	    "repost: no death after the recovery, nothing completed twice",
	    (int)fc->proto_errors);
	wp->abandoned = true; /* its queue is broken: never answered */
}

/* The keeper's open fds (its table is the worker's). */
static int
keeper_fds(pid_t keeper)
{
	char dir[64];
	struct dirent *de;
	DIR *dp;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)keeper);
	if ((dp = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dp);
	return n;
}

/*
 * sweepslow's stream: MKDIRs of one name (at most one inode) on queues 2
 * and 3, a new one every 0.6 s while fewer than 4 are out, each held 2 s
 * before its mkdirat (PHX_DELAY pt.mkdir): a request is always in flight
 * in a host call, as on a hung mount. Runs it for ms.
 */
struct slow_stream {
	struct fusec_req *r[4];
	uint64_t last_ns;
	unsigned sent, answered;
};

static void
stream_run(struct fusec *fc, struct slow_stream *st, int ms)
{
	uint64_t end = vuf_now_ns() + (uint64_t)ms * 1000000ULL;

	do {
		for (unsigned i = 0; i < 4; i++) {
			int e;

			if (st->r[i] == NULL)
				continue;
			e = fusec_wait(fc, st->r[i], 0);
			if (!st->r[i]->done) {
				/* Still ours: harvest must not free it. */
				st->r[i]->abandoned = false;
				continue;
			}
			(void)e;
			fusec_req_free(st->r[i]);
			st->r[i] = NULL;
			st->answered++;
		}
		for (unsigned i = 0; i < 4; i++) {
			struct fuse_mkdir_in in = {.mode = 0755, .umask = 022};
			struct iovec a[2] = {{&in, sizeof(in)},
			    {(void *)"slowdir", 8}};
			struct fusec_req *r;

			if (st->r[i] != NULL ||
			    vuf_now_ns() - st->last_ns < 600000000ULL)
				continue;
			r = fusec_req_new(fc, FUSE_MKDIR, 1, a, 2, 0,
			    sizeof(struct fuse_entry_out), 0);
			if (r == NULL)
				break;
			r->qidx = 2 + st->sent % 2;
			if (fusec_submit(fc, r) < 0) {
				fusec_req_free(r);
				break;
			}
			st->r[i] = r;
			st->sent++;
			st->last_ns = vuf_now_ns();
		}
		usleep(10000);
	} while (vuf_now_ns() < end);
}

/* The fewest keeper fds over 5 samples (the stream's come and go). */
static int
min_keeper_fds(struct fusec *fc, struct slow_stream *st, pid_t keeper)
{
	int m = -1;

	for (int i = 0; i < 5; i++) {
		int n = keeper_fds(keeper);

		if (n >= 0 && (m < 0 || n < m))
			m = n;
		stream_run(fc, st, 100);
	}
	return m;
}

/*
 * Stops every queue as QEMU does for a pause (ENABLE 0, GET_VRING_BASE
 * each), timing each queue's pair; starts them again (vuf_resume).
 * Returns the slowest stop of queues 0 and 1 (idle: nothing in flight
 * there) in ms, or -1.
 */
static double
timed_pause(struct vuf_dev *d, double *ret_busy)
{
	double idle = 0, busy = 0;
	int r = 0;

	for (unsigned i = 0; i < d->nvq && r >= 0; i++) {
		struct vhost_vring_state st = {.index = i, .num = 0};
		uint64_t t0 = vuf_now_ns();
		double ms;

		r = vuf_msg_ack(d, VUF_SET_VRING_ENABLE, &st, sizeof(st),
		    NULL, 0);
		if (r >= 0)
			r = vuf_msg_send(d, VUF_GET_VRING_BASE, 0, &st,
			    sizeof(st), NULL, 0);
		if (r >= 0)
			r = vuf_msg_recv(d, VUF_GET_VRING_BASE, &st,
			    sizeof(st), 20000);
		if (r >= 0)
			d->vq[i].base = (uint16_t)st.num;
		ms = (double)(vuf_now_ns() - t0) / 1e6;
		if (i <= 1 && ms > idle)
			idle = ms;
		if (i > 1 && ms > busy)
			busy = ms;
	}
	if (r >= 0)
		r = vuf_resume(d);
	*ret_busy = busy;
	return r < 0 ? -1 : idle;
}

/*
 * Issue: a request always in flight in a slow host call (the stream
 * above, held inside the old creation bracket) kept the fd sweep from
 * ever finishing: the leaked fds of each kill piled up; and the gate it
 * shut held every control message, a pause's GET_VRING_BASE included,
 * 0.1-0.8 s. count kills (one every ~3 s), each followed 0.8 s later (the
 * sweep starts 0.35 s after recovery) by a timed pause of every queue,
 * then by 3 files opened and read back on queue 1 (their own bytes: no
 * fd closed and its number reused under a handle). The keeper's fd
 * count after the last kill must be that after the first.
 */
static void
sc_sweepslow(struct vuf_dev *d, struct fusec *fc, pid_t keeper,
    unsigned count)
{
	enum { N = 3 };
	struct slow_stream st;
	uint64_t node[N], fh[N];
	double worst_idle = 0, worst_busy = 0, idles[16], median;
	int fds1 = -1, fds = -1;
	unsigned good = 0, bad_pause = 0;

	memset(&st, 0, sizeof(st));
	if (count == 0 || count > 16)
		count = 5;
	if (d->nvq < 4) {
		ok(false, "sweepslow: 3 request queues (--queues 3)", -EINVAL);
		return;
	}
	if (!make_files(fc, "slow", N, node))
		return;
	stream_run(fc, &st, 1500);
	for (unsigned k = 1; k <= count; k++) {
		struct fuse_open_out o;
		double idle, busy;

		if (!kill_worker(keeper)) {
			ok(false, "sweepslow: worker killed and respawned", 0);
			return;
		}
		stream_run(fc, &st, 800);
		idle = timed_pause(d, &busy);
		if (idle < 0)
			bad_pause++;
		idles[k - 1] = idle;
		if (idle > worst_idle)
			worst_idle = idle;
		if (busy > worst_busy)
			worst_busy = busy;
		for (int i = 0; i < N; i++)
			fh[i] = fusec_open(fc, node[i], O_RDONLY, &o) == 0 ?
			    o.fh : 0;
		good += read_own(fc, N, node, fh);
		for (int i = 0; i < N; i++)
			if (fh[i])
				(void)fusec_release(fc, node[i], fh[i]);
		stream_run(fc, &st, 1200);
		fds = min_keeper_fds(fc, &st, keeper);
		if (k == 1)
			fds1 = fds;
		printf("# sweepslow: kill %u: idle queue stop %.1f ms, busy "
		    "%.1f ms, keeper fds %d, mkdirs %u sent %u answered\n", k,
		    idle, busy, fds, st.sent, st.answered);
	}
	/* The median: one pause slowed by a loaded host is not the gate. */
	for (unsigned i = 1; i < count; i++)
		for (unsigned j = i; j > 0 && idles[j - 1] > idles[j]; j--) {
			double t = idles[j];

			idles[j] = idles[j - 1];
			idles[j - 1] = t;
		}
	median = idles[count / 2];
	printf("# sweepslow: idle-queue stop median %.1f ms, slowest %.1f ms "
	    "(busy queues %.1f ms, their MKDIR held 2 s); %u of %u fhs read "
	    "their own file; keeper fds %d after the first kill, %d after the "
	    "last; %u of %u MKDIRs answered\n", median, worst_idle,
	    worst_busy, good, N * count, fds1, fds, st.answered, st.sent);
	ok(bad_pause == 0, "sweepslow: every pause and cont answered",
	    (int)bad_pause);
	ok(median < 100, "sweepslow: an idle queue's stop (GET_VRING_BASE) "
	    "during the sweep: median < 100 ms", (int)median);
	ok(good == N * count, "sweepslow: every fh opened after a kill read "
	    "its own file", (int)good);
	ok(fds1 > 0 && fds <= fds1 + 1, "sweepslow: keeper fds flat over "
	    "the kills (the sweeps finished)", fds - fds1);
	ok(st.answered > 0 && fc->proto_errors == 0, "sweepslow: the "
	    "stream went on, no protocol error", (int)fc->proto_errors);
}

int
scenario_main(const char *name, const char *sock, const char *share,
    pid_t keeper, unsigned count)
{
	struct vuf_dev *d;
	struct fusec *fc;

	if (ct_connect(sock, strncmp(name, "lock", 4) == 0 ? 200 : 16, &d,
	    &fc) < 0) {
		printf("not ok 1 - %s: connected\n1..1\n", name);
		return 1;
	}
	fc->timeout_ms = 20000;
	if (strcmp(name, "sweep") == 0)
		sc_sweep(fc, keeper);
	else if (strcmp(name, "sweepcreate") == 0)
		sc_sweepcreate(fc, keeper);
	else if (strcmp(name, "sweepslow") == 0)
		sc_sweepslow(d, fc, keeper, count);
	else if (strcmp(name, "poolfirst") == 0)
		sc_poolfirst(fc, keeper);
	else if (strcmp(name, "held") == 0)
		sc_held(fc, keeper, count);
	else if (strcmp(name, "slowfs") == 0)
		sc_slowfs(fc, keeper);
	else if (strcmp(name, "bigio") == 0)
		sc_bigio(d, fc, keeper, share, count <= 3 ? count : 0);
	else if (strcmp(name, "lockwait") == 0)
		sc_lock(fc, keeper, false);
	else if (strcmp(name, "lockleak") == 0)
		sc_lock(fc, keeper, true);
	else if (strcmp(name, "sweepprobe") == 0)
		sc_sweepprobe(fc, keeper);
	else if (strcmp(name, "waitfree") == 0)
		sc_waitfree(fc, keeper);
	else if (strcmp(name, "lockcopy") == 0)
		sc_lockcopy(fc, keeper);
	else if (strcmp(name, "lockmany") == 0)
		sc_lockmany(fc, keeper, count, false);
	else if (strcmp(name, "lockread") == 0)
		sc_lockread(fc, keeper, count);
	else if (strcmp(name, "lockintrcrash") == 0)
		sc_lockintrcrash(fc, keeper);
	else if (strcmp(name, "lockstorm") == 0)
		sc_lockstorm(fc, keeper, count);
	else if (strcmp(name, "lockintr") == 0)
		sc_lockintr(fc);
	else if (strcmp(name, "lockcrash") == 0)
		sc_lockmany(fc, keeper, count, true);
	else if (strcmp(name, "resetmix") == 0)
		sc_resetmix(d, fc, keeper, false);
	else if (strcmp(name, "destroymix") == 0)
		sc_resetmix(d, fc, keeper, true);
	else if (strcmp(name, "destroyrace") == 0)
		sc_destroyrace(fc, keeper, share, count);
	else if (strcmp(name, "mknod") == 0)
		sc_mknod(fc, keeper);
	else if (strcmp(name, "rmxattr") == 0)
		sc_rmxattr(fc, keeper);
	else if (strcmp(name, "excl") == 0)
		sc_excl(fc, keeper, share);
	else if (strcmp(name, "eintr") == 0)
		sc_eintr(fc, keeper, share);
	else if (strcmp(name, "heldop") == 0)
		sc_heldop(fc, keeper, share);
	else if (strcmp(name, "ringless") == 0)
		sc_ringless(fc, keeper, share);
	else if (strcmp(name, "ringlater") == 0)
		sc_ringlater(fc, keeper);
	else if (strcmp(name, "linkdead") == 0)
		sc_linkdead(fc, keeper, share);
	else if (strcmp(name, "submiteagain") == 0)
		sc_submiteagain(fc, share);
	else if (strcmp(name, "forgetparent") == 0)
		sc_forgetparent(fc, keeper, share, count == 1);
	else if (strcmp(name, "forgetlink") == 0)
		sc_forgetlink(fc, keeper, share, count == 1);
	else if (strcmp(name, "degradedknown") == 0)
		sc_degradedknown(fc, keeper, share);
	else if (strcmp(name, "degradeddestroy") == 0)
		sc_degradeddestroy(fc, keeper);
	else if (strcmp(name, "brokenpush") == 0)
		sc_brokenpush(fc, share);
	else if (strcmp(name, "nosubmit") == 0)
		sc_nosubmit(fc, share);
	else if (strcmp(name, "notifyearly") == 0)
		sc_notifyearly(d, fc);
	else if (strcmp(name, "notify") == 0)
		sc_notify(d, fc, keeper);
	else if (strcmp(name, "repost") == 0)
		sc_repost(d, fc, keeper);
	else if (strcmp(name, "pause") == 0)
		sc_pause(d, fc, keeper, share, count <= 4 ? count : 0);
	else if (strcmp(name, "waithead") == 0)
		sc_waithead(d, fc, share);
	else {
		fprintf(stderr, "crashtest: unknown scenario %s\n", name);
		return 2;
	}
	printf("1..%d\n# %d passed, %d failed\n", sc_n, sc_n - sc_fail,
	    sc_fail);
	fusec_free(fc);
	vuf_close(d);
	return sc_fail ? 1 : 0;
}
