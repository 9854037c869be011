/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exactly-once execution of non-idempotent host operations (DESIGN 5).
 * Each runs through the calling thread's io_uring, whose fd stays in the
 * shared table when the worker dies: the completion ring then holds the
 * exact result, including the number of an fd that openat installed.
 * Before the submit the slot moves to EXECUTING; after the completion the
 * result is stored in the slot (KNOWN) before the CQE is consumed, so at
 * every instant one of the two holds it. A replayed request asks the same
 * intent_* call again and gets the recorded result instead of a second
 * execution. Where io_uring is unavailable the operation runs directly
 * and recovery falls back to identity checks (pt.c).
 *
 * Threads: each function uses the calling thread's ring (intent_thread_init).
 */
#ifndef PHX_INTENT_H
#define PHX_INTENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdispatch.h"
#include "region.h"

enum intent_state {
	INTENT_NONE = 0,	/* nothing submitted for this pop */
	INTENT_SUBMITTED = 1,	/* on the ring of thread intent[2] */
	INTENT_KNOWN = 2,	/* intent[1] holds the result */
	/*
	 * This pop ran on a thread without an io_uring (its set-up failed:
	 * ENOMEM when the user's RLIMIT_MEMLOCK budget is spent and the
	 * worker has no CAP_IPC_LOCK: an unprivileged run, caps.c), calling
	 * the host directly: no ring holds its result, so a replay is
	 * decided by the identity rules (pt_once.c), even on a thread that
	 * has a ring.
	 */
	INTENT_DIRECT = 3,
};

/* Slot intent words. */
#define INTENT_W_STATE	0	/* enum intent_state | slot gen << 8 */
#define INTENT_W_RESULT 1	/* int64 result (>= 0 or -errno) */
#define INTENT_W_THREAD 2	/* thread index of the ring */
#define INTENT_W_OP	3	/* io_uring opcode */
/*
 * The directory fd the op makes its entry in (the SQE's fd; LINKAT's new
 * directory, its len), written before STATE says SUBMITTED: a replay
 * whose directory nodeid a hostile FORGET freed finds the directory by it
 * (pt_once_parent), while no sweep has run.
 */
#define INTENT_W_DIRFD	4

/*
 * Launcher, before anything starts: 0 if io_uring can be set up here.
 * Without it a kill between sending a vhost-user reply and recording it
 * sends the reply twice (QEMU then reads it as the reply to its next
 * message, and the device breaks), and exactly-once falls back to
 * identity checks: phoenixfsd refuses to start (issue 11 defect 5).
 */
int intent_probe(void);
/* Sets up the calling thread's ring, recorded in t. -errno (then the
 * thread runs operations directly). */
int intent_thread_init(struct region *r, struct region_thread_rec *t);
/* Closes the calling thread's ring (its results are all in slots). */
void intent_thread_fini(struct region_thread_rec *t);
/* True if the calling thread has a ring. */
bool intent_available(void);

/*
 * Recovery, DESIGN 4 step 2: for every thread record whose ring belongs to
 * a dead incarnation, read the unconsumed completions (never submit),
 * record each in the EXECUTING slot it names (same generation), then
 * close the ring, before any replay (each open ring spends the user's
 * RLIMIT_MEMLOCK; closed later, kills piled them up: kills.sh pool run).
 * Returns the number of results recovered.
 */
int intent_drain_dead(struct region *r);
/*
 * Whether req's exactly-once op goes through this module's io_uring (the
 * kernel's record decides a replay) rather than a direct host call (the
 * identity rules decide it). False without a slot, when the slot says
 * INTENT_DIRECT for this pop, or when this thread has no ring: the slot
 * then says INTENT_DIRECT before the caller's host call (and
 * req->once_failed is set if a ring run of this pop is recorded failed).
 */
bool intent_route(struct fuse_req *req);
/* The recorded result of req's slot, if KNOWN: true and *ret_res. */
bool intent_known(const struct fuse_req *req, int64_t *ret_res);

/*
 * Sends the vhost-user reply of control message seq through the calling
 * thread's ring, so that after a crash the completion says whether it
 * left (DESIGN 7): intent_drain_dead() then moves the control state from
 * HANDLED to SENT. Returns bytes sent, -errno, or -ENOSYS without a ring.
 */
int intent_send(int fd, const void *buf, size_t len, uint64_t seq);
/* Consumes the send's completion; call right after storing SENT. */
void intent_send_seen(void);

/*
 * Requests that do not wait for their operation (queue_async.c). With
 * intent_async_allow(true), an UNLINKAT, MKDIRAT, SYMLINKAT, RENAMEAT or
 * OPENAT (O_CREAT|O_EXCL) is
 * submitted and the intent_* call returns -EINPROGRESS: the slot is
 * EXECUTING with the op SUBMITTED on this thread's ring, exactly as when a
 * worker dies during a wait (recovery needs nothing new), and
 * intent_async_left() gives its key (queue, head, gen), or 0. The
 * completion is recorded in the slot (KNOWN, failures too) by
 * intent_async_reap(), which returns the keys of the requests to run
 * again; run with intent_async_resume(true), their intent_* call returns
 * the recorded result. At most INTENT_ASYNC_MAX per thread (the CQ holds
 * twice as many). Calling thread only.
 */
#define INTENT_ASYNC_MAX 16
void intent_async_allow(bool allow);
void intent_async_resume(bool on);
uint64_t intent_async_left(void);
unsigned intent_async_inflight(void);
/* A completion waits (no syscall). */
bool intent_async_ready(void);
/* The keys of finished requests, up to max; wait: block for one first. */
unsigned intent_async_reap(uint64_t *keys, unsigned max, bool wait);
/* The calling thread's ring fd (POLLIN: a completion), or -1. */
int intent_ring_fd(void);

/* The operations. Each returns the syscall's result or -errno. */
int intent_mkdirat(struct fuse_req *req, int dirfd, const char *name,
    mode_t mode);
int intent_unlinkat(struct fuse_req *req, int dirfd, const char *name,
    int flags);
int intent_renameat2(struct fuse_req *req, int olddirfd, const char *oldname,
    int newdirfd, const char *newname, unsigned flags);
int intent_symlinkat(struct fuse_req *req, const char *target, int dirfd,
    const char *name);
int intent_linkat(struct fuse_req *req, int olddirfd, const char *oldname,
    int newdirfd, const char *newname, int flags);
/* openat with O_CREAT|O_EXCL: the result is the installed fd number. */
int intent_openat(struct fuse_req *req, int dirfd, const char *name,
    int flags, mode_t mode);
int intent_fallocate(struct fuse_req *req, int fd, int mode, off_t off,
    off_t len);
int intent_ftruncate(struct fuse_req *req, int fd, off_t len);
int intent_fsetxattr(struct fuse_req *req, int fd, const char *name,
    const void *value, size_t size, int flags);

#endif
