/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One worker incarnation (DESIGN 1 and 4). Right after clone, before any
 * thread or guest input, it restricts itself (parent-death signal, fd soft
 * limit 64 below the keeper's, no_new_privs, seccomp), then recovers:
 * validates the region, rolls the redo logs forward, remaps guest memory,
 * settles every queue, and only then serves. Its main thread carries the
 * keeper's glibc TID (raw clone), so it takes no locks and serves nothing:
 * it accepts the connection, creates the threads and waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crashpoint.h"
#include "fault.h"
#include "fdispatch.h"
#include "fdtab.h"
#include "intent.h"
#include "inode.h"
#include "log.h"
#include "phase.h"
#include "queue.h"
#include "redo.h"
#include "region.h"
#include "stats.h"
#include "sandbox.h"
#include "vu.h"
#include "worker.h"

static struct region *worker_region;

/* A deliberate exit on a broken invariant counts against all activities. */
static void
count_fatal(void)
{
	if (worker_region != NULL) {
		__atomic_add_fetch(&worker_region->health->faults, 1,
		    __ATOMIC_RELAXED);
		fault_count_all_active(worker_region);
	}
}

static void
restrict_self(const struct config *cfg)
{
	uint64_t budget = 0;
	struct rlimit rl;
	sigset_t all;
	int err;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "phx-worker");
	/* A leaking worker must not starve the keeper (DESIGN 1). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 128) {
		rl.rlim_cur -= 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		/*
		 * The tables stop 512 fds (a quarter of a small limit) short
		 * of our own limit: what the worker opens for itself, and fds
		 * a dead worker leaked until the sweep closes them, must never
		 * make a recovery fail; the guest gets ENFILE, never EMFILE.
		 */
		budget = rl.rlim_cur - (rl.rlim_cur / 4 < 512 ?
		    rl.rlim_cur / 4 : 512);
	}
	/* --max-fds: the operator's cap, one guest against the others. */
	if (cfg->max_fds != 0 && (budget == 0 || cfg->max_fds < budget))
		budget = cfg->max_fds;
	inode_set_fd_budget(budget);
	/* The keeper's handlers are flags in its copy: take the defaults. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	err = sandbox_worker(cfg);
	if (err < 0)
		fatalx("cannot restrict the worker: %s", strerror(-err));
}

/*
 * A connected vhost-user socket a dead worker accepted and never recorded
 * (killed between accept4 and conn_state = UP): at REGION_FD_CONN already,
 * or still at the number accept4 gave. -1 if none. Before the first
 * connection the table holds only the keeper's fds and the reserved ones,
 * so the only connected stream socket outside both is that one.
 */
static bool
is_conn(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);
	char c;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 ||
	    v != AF_UNIX)
		return false;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 ||
	    v != SOCK_STREAM)
		return false;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 0)
		return false;
	/* Connected (an unconnected stream socket answers ENOTCONN); the
	 * peer's pid may be outside our PID namespace, so not SO_PEERCRED. */
	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
	    errno == EAGAIN;
}

static int
orphan_conn(struct region *r)
{
	if (is_conn(REGION_FD_CONN))
		return REGION_FD_CONN;
	for (int fd = 3; fd < 1024; fd++) {
		bool keeper = false;

		for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++)
			keeper |= r->fdlist[i] == fd;
		if (!keeper && !REGION_FD_RESERVED(fd) &&
		    fcntl(fd, F_GETFD) >= 0 && is_conn(fd))
			return fd;
	}
	return -1;
}

/* The connection, accepted once and kept at REGION_FD_CONN for good. */
static int
connection(struct region *r)
{
	int fd;

	if (region_load(&r->hdr->conn_state) == REGION_CONN_UP)
		return 0;
	/* QEMU connects once: a connection accepted by a dead worker is it. */
	fd = orphan_conn(r);
	if (fd >= 0)
		log_info("adopting the connection a dead worker accepted");
	else
		do
			fd = accept4(REGION_FD_LISTEN, NULL, NULL, 0);
		while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	DELAYPOINT("worker.accepted");
	if (fd != REGION_FD_CONN) {
		if (dup2(fd, REGION_FD_CONN) < 0)
			return -errno;
		/*
		 * An adopted one is the fd sweep's candidate (open and
		 * unreferenced at the snapshot): once closed here its number
		 * is free for a new fd, which the sweep must keep.
		 */
		fdtab_note(fd);
		close(fd);
	}
	DELAYPOINT("worker.conn_moved");
	region_store(&r->hdr->conn_state, REGION_CONN_UP);
	log_info("client connected, servicing requests");
	return 0;
}

struct serve_arg {
	struct vu_dev *dev;
	int ret;
};

static void *
serve_thread(void *p)
{
	struct serve_arg *a = p;

	a->ret = vu_serve(a->dev);
	return NULL;
}

int
worker_main(struct region *r, const struct config *cfg)
{
	struct fuse_session *fs;
	struct serve_arg sa;
	struct vu_dev *dev;
	uint64_t t0 = clock_now_ns(), t1, t2, t3, inc;
	pthread_t th;
	int err;

	phase_reset();
	phase_mark(PHASE_W_START);
	inc = r->hdr->incarnation;
	log_procinit("worker#%llu", (unsigned long long)inc);
	restrict_self(cfg);
	phase_mark(PHASE_W_SANDBOX);

	/* DESIGN 4 step 1: validate, roll forward. */
	err = region_attach(r, r->base, r->size);
	if (err < 0)
		fatalx("state region refused: %s", strerror(-err));
	phase_mark(PHASE_W_REGION);
	err = redo_recover(r);
	if (err < 0)
		log_warnx("a corrupt redo log was ignored");
	else if (err > 0)
		log_info("rolled %d redo transactions forward", err);
	phase_mark(PHASE_W_REDO);
	/* DESIGN 4 step 2: the dead threads' io_uring records, then closed. */
	err = intent_drain_dead(r);
	phase_mark(PHASE_W_RINGS);
	if (err > 0)
		log_info("%d operation results recovered from io_uring "
		    "completion rings", err);
	/*
	 * DESIGN 4 step 9's snapshot: before this incarnation creates any
	 * fd, the open ones nothing references are the dead worker's leak.
	 */
	if (inc > 1) {
		uint64_t ts = clock_now_ns();

		fdtab_parent_shares((pid_t)r->hdr->keeper_pid);
		err = fdtab_snapshot(r);
		if (err < 0)
			log_warnc(err, "no fd sweep snapshot");
		else
			log_debug("fd sweep snapshot: %d candidate fds (%.3f "
			    "ms)",
			    err, (double)(clock_now_ns() - ts) / 1e6);
	}
	/* The dead incarnation's thread records are free again. */
	for (unsigned i = 0; i < region_threads_used(r); i++) {
		region_store(&r->threads[i].act, REGION_ACT_IDLE);
		region_store(&r->threads[i].in_use, 0);
	}
	fault_install(r);
	worker_region = r;
	log_fatal_hook = count_fatal;
	crashpoint_init(r);

	t1 = clock_now_ns();
	err = connection(r);
	if (err < 0)
		fatalx("accept: %s", strerror(-err));
	t2 = clock_now_ns();
	inode_set_file_handles(cfg->inode_file_handles == CONFIG_IFH_NEVER ? 0 :
	    cfg->inode_file_handles == CONFIG_IFH_PREFER ? 1 : 2);
	err = fdispatch_init(&fs, r, cfg, REGION_FD_ROOT);
	if (err < 0)
		fatalx("FUSE session: %s", strerror(-err));
	phase_mark(PHASE_W_SESSION);
	err = vu_dev_create(&dev, r, cfg, fs);
	if (err < 0)
		fatalx("device: %s", strerror(-err));
	phase_mark(PHASE_W_DEVICE);
	t3 = clock_now_ns();
	/* DESIGN 4 steps 2-8: memory, queues, in-flight requests. */
	err = vu_dev_recover(dev);
	if (err < 0)
		fatalx("recovery failed: %s", strerror(-err));
	r->hdr->last_recovery_ns = clock_now_ns() - t0;
	log_debug("recovery phases: region+redo+rings %.3f ms, session+device "
	    "%.3f ms, memory+queues %.3f ms", (double)(t1 - t0) / 1e6,
	    (double)(t3 - t2) / 1e6, (double)(clock_now_ns() - t3) / 1e6);
	/* failed_recoveries: the keeper's (reset after a healthy window). */
	__atomic_store_n(&r->hdr->recovered, 1, __ATOMIC_RELEASE);
	if (inc > 1) {
		log_debug("recovered in %.3f ms", (double)(clock_now_ns() - t0) / 1e6);
		stats_recovered(r);	/* the warn line: cause and guest stall */
		phase_log_later();
		/* DESIGN 4 step 9: in the background, never in the stall. */
		err = fdtab_start_sweep(r);
		if (err < 0)
			log_warnc(err, "cannot start the fd sweep");
	}

	sa.dev = dev;
	sa.ret = 0;
	err = pthread_create(&th, NULL, serve_thread, &sa);
	if (err != 0)
		fatalx("cannot create the control thread: %s", strerror(err));
	pthread_join(th, NULL);
	if (sa.ret == 0) {
		region_store(&r->hdr->conn_state, REGION_CONN_CLOSED);
		return 0;
	}
	fatalx("control plane: %s", strerror(-sa.ret));
}
