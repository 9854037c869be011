/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of the queue module share; other modules use queue.h.
 * queue.c: pop, run and push a request, the queue thread, control.
 * queue_pool.c: the pool (requests run off the queue thread).
 * queue_wait.c: parked lock waits and the thread that retries them.
 * queue_recover.c: recovery of the rings (DESIGN 4 steps 3-5). Nothing here is persisted: after a crash only the region counts.
 */
#ifndef PHX_QUEUE_INT_H
#define PHX_QUEUE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <linux/fuse.h>

#include "journal.h"
#include "queue.h"
#include "region.h"
#include "vring.h"

#define QUEUE_BATCH	64	/* requests popped per ring check */
/*
 * Completions pushed every QUEUE_PUSH_EVERY requests, not once per batch:
 * the front-end harvests and re-posts while we serve the rest (depth-16
 * getattr, 2 CPUs: 180-210k ops/s pushing per batch of 16, 400-490k every
 * 4, 370-470k every 1; randread 60k / 280-350k / 230-285k).
 */
#define QUEUE_PUSH_EVERY 4
/*
 * A call (the driver's interrupt) at most every QUEUE_NOTIFY_EVERY
 * completions of a batch and at its end, never left owed: a driver
 * that harvests as completions come sees them pushed every 4 anyway,
 * one asleep wakes once per 16 instead of once per 4. Depth-16 getattr,
 * 2 CPUs, alternated runs: 135-193k ops/s and 3.7-4.1 us CPU/request
 * notifying every 4, 194-246k and 2.3-3.2 us every 16 (lookup 119-120k
 * -> 132-143k, randread 140-148k -> 149-155k); every 8 or only at the
 * batch end no better. And when the ring holds no more than
 * QUEUE_PUSH_EVERY requests after a push (queue.c serve_batch): the
 * driver then refills while we run those, instead of after we ran dry
 * and slept (session 9, 2 CPUs, alternated, depth 16: randread 164-188k
 * -> 206-249k ops/s, getattr 283-310k -> 280-383k, lookup 186-196k ->
 * 218-222k; depth 8 randread 127-156k -> 175-188k).
 */
#define QUEUE_NOTIFY_EVERY 16
/* Pool threads for slow requests when there is no --thread-pool-size. */
#define QUEUE_SLOW_THREADS 4
/*
 * A slow host file system (a slow or remote disk, a FUSE or network
 * mount under the share): a request that ran longer than QUEUE_SLOW_NS on
 * a queue's thread (or for it in the pool) sends the queue's next requests
 * to the pool for QUEUE_SLOW_HOLD_NS after the last slow one, so that
 * they wait on the host side by side instead of each behind the one
 * before (virtiofsd runs a pool of 64 for this), and the pool grows to
 * QUEUE_SLOW_THREADS_MAX threads. PHX_DELAY=pt.getattr_fd:2000 (every
 * GETATTR 2 ms), getattr depth 16: 300 ops/s inline, FIGURES.
 */
#define QUEUE_SLOW_NS		1000000ull
#define QUEUE_SLOW_HOLD_NS	1000000000ull
#define QUEUE_SLOW_THREADS_MAX	16
#define QUEUE_SLOW_CHECKS	8
#define QUEUE_SLOW_HITS		2
/*
 * Inline mode: a READ or WRITE of at least this many bytes goes to the
 * pool when more requests wait behind it (queue_large_io), so that the
 * copies of a deep queue run on several threads; alone (depth 1) it runs
 * here, without a handoff. Only where the worker may run on more CPUs
 * than its request queues plus one (the guest's vCPU that sends them;
 * queue_set_create() decides, qs->large_io): a copy on a pool thread is
 * a gain only on a CPU that neither a queue thread nor the guest needs.
 * Depth 16, ratio to virtiofsd (bench/RESULTS.md): on a loaded 2-CPU
 * host (session 7, medians of 4-5) the pool seemed to help (1 MiB
 * seqwrite 0.92 -> 1.64); quiet (session 8, alternated) it cost: 128 KiB
 * seqread 0.66 in the pool against 1.00 inline, seqwrite 0.68 against
 * 0.99, 1 MiB 0.83/0.81 against 1.00/0.99, 9 us more CPU per 128 KiB
 * request, and under three CPU hogs no better (0.64/0.60 against
 * 0.65/0.75).
 */
#ifndef QUEUE_POOL_IO_MIN /* benchmarks: -DQUEUE_POOL_IO_MIN=N */
#define QUEUE_POOL_IO_MIN (128u * 1024)
#endif
/*
 * ... and at most this many of them per queue are in the pool at once:
 * more would wait in its list while the queue thread, which could copy
 * them, idles (caps 2 and 4 and none measured alike within the noise).
 */
#ifndef QUEUE_POOL_IO_CAP /* benchmarks: -DQUEUE_POOL_IO_CAP=N */
#define QUEUE_POOL_IO_CAP QUEUE_SLOW_THREADS
#endif
/* A FUSE_WRITE's copy: header and write_in; the payload is read live. */
#define QUEUE_WRITE_COPY \
	(sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

struct queue;

/*
 * How many heads of a queue a journal scan reads: the slots at and above
 * region_queue_rec.heads_used were never written (they read as FREE) and
 * are left untouched, since reading a page of the sparse memfd through
 * the mapping allocates it.
 */
static inline unsigned
queue_heads_used(const struct region_queue_rec *rec, unsigned num)
{
	uint64_t u = region_load(&rec->heads_used);

	return u < num ? (unsigned)u : num;
}

/* Set by the lock wait thread for a retry: fuse_req.wait_end (> 0:
 * interrupted, the lock tried once more). */
extern __thread int queue_wait_end;
/* Early interrupts kept for a SETLKW not parked yet (queue_wait.c). */
#define QUEUE_WAIT_INTR 16

/* Why an inline-mode request went to the pool (queue_pool_hand). */
enum queue_pool_why {
	POOL_WAITS,	/* it waits on the host (queue_slow) */
	POOL_LARGE,	/* a large READ or WRITE of a deep queue */
	POOL_SLOWFS,	/* slow mode: the host file system is slow */
};

/* A request's run on a queue or pool thread, as slow mode sees it. */
struct queue_timing {
	uint64_t t0;	/* clock ns at its start */
	long sleeps;	/* the thread's voluntary switches then; -1: unread */
};

struct pool_job {
	struct pool_job *next;
	struct queue *qu;
	uint16_t head;
	struct journal_slot_rec *slot;
	struct guestmem_table *gt; /* reference: the iovecs point into it */
	enum queue_pool_why why; /* POOL_LARGE: counted in qu->nlarge */
	struct vring_chain c;
	struct iovec iov[VRING_MAX_IOV];
};

struct queue {
	struct queue_set *qs;
	unsigned idx;
	pthread_t th;
	/* The queue thread's record, claimed by queue_start(). */
	struct region_thread_rec *th_rec;
	bool running;		/* control thread only */
	int stop;		/* atomic: set by queue_stop */
	/*
	 * atomic: parked lock waits must end unanswered. Set only by
	 * queue_end_waits(): a ring stop (GET_VRING_BASE, a VM pause) keeps
	 * them waiting, whatever stop says.
	 */
	int cancel_waits;
	/*
	 * The reply gate of parked lock waits (queue_wait.c): the lock wait
	 * thread holds it (read) for each retry, which may write guest
	 * memory and push, and only tries it; queue_stop() takes it (write)
	 * to set held, queue_start() clears held once the rings are
	 * attached again. So no lock wait is retried between a ring stop and
	 * the ring going on: the guest's buffers may be a new boot's by then
	 * (a reset), and a stopped device writes no guest memory (a pause).
	 */
	pthread_rwlock_t gate;
	int held; /* atomic */
	bool signal_once;	/* recovery: call fd once before first wait */
	/*
	 * Recovery's list of the live slots that are lock waits (heads),
	 * for the queue thread's queue_resume_waits(): it then needs no scan
	 * of its own over every slot (a page-table fill each in a new
	 * worker, 5-10 ms per 512-entry ring, measured). NULL: scan.
	 */
	uint16_t *waits;
	unsigned nwaits;
	bool broken_logged;
	pthread_mutex_t push_lock; /* used ring, publish record, call fd, vq */
	struct vring_queue vq;	/* consumer side: the queue thread's */
	/* Pool jobs and parked lock waits in flight, under pool_lock. */
	unsigned outstanding;
	/* atomic: of the pool jobs, large READs and WRITEs (queue_pool_hand) */
	unsigned nlarge;
	/*
	 * atomic, CLOCK_MONOTONIC ns: until then the queue's requests go to
	 * the pool (QUEUE_SLOW_NS); worker memory only, 0 after a crash.
	 */
	uint64_t slow_until;
	/*
	 * Queue thread only: requests still to time exactly (with the
	 * thread's sleeps) after one took over QUEUE_SLOW_NS of wall time.
	 */
	unsigned suspect;
	unsigned slow_hits;	/* of those, slow ones that slept */
	/*
	 * Of those, parked lock waits (queue_wait.c), and their heads,
	 * under pool_lock: a bit is set when the wait parks and cleared
	 * once its slot is REPLIED, before its push (or when it is dropped
	 * unanswered), so a slot whose bit is clear is final (REPLIED or
	 * FREE) or no wait of ours holds it.
	 */
	unsigned nwaiting;
	uint64_t blocking[REGION_MAX_QUEUE_SIZE / 64];
	pthread_cond_t drained;
	struct iovec iov[VRING_MAX_IOV];
	struct vring_used_ent comps[QUEUE_BATCH];
	/*
	 * --no-journal: the request copies live here, indexed by head, and
	 * not in the region's journal (nothing for recovery to replay).
	 */
	struct journal_slot_rec *heap;
	/*
	 * A memory table without this queue's rings (issue 9 finding 5), or
	 * a stopped ring whose lock waits go on (queue_stop: a VM pause):
	 * vq is detached (no ring pointers) until a table with them comes
	 * or the ring starts again. Completions pushed meanwhile wait here,
	 * under push_lock, with the ring epoch they belong to; their slots
	 * stay REPLIED (a crash meanwhile: recovery, or queue_start() after
	 * a pause, pushes them). A later attach in the same epoch publishes
	 * them first; a restarted ring (new epoch) drops them.
	 */
	struct vring_used_ent *deferred;
	unsigned ndeferred, deferred_cap;
	uint64_t deferred_epoch;
	bool detached;       /* queue thread: the current table lacks them */
	/* Requests whose host op is in flight (queue_async.c): queue thread. */
	struct queue_async_job *async, *async_free;
	unsigned nasync;
	uint64_t failed_gen; /* the table it could not attach, if detached */
};

struct queue_set {
	struct region *r;
	const struct config *cfg;
	struct guestmem *gm;
	struct fuse_session *fs;
	uint64_t poll_max_ns;	/* --poll-max-us (pollwin.h) */
	bool journal;		/* false: --no-journal (benchmarks only) */
	struct queue q[REGION_MAX_QUEUES];
	/* pool */
	unsigned npool;
	bool pool_all;		/* every request (--thread-pool-size), or slow ones */
	pthread_t *pool_th;
	/* Records claimed for the pool threads before they start; taken by
	 * pool_main() under pool_lock (pool_rec_next). */
	struct region_thread_rec **pool_rec;
	unsigned pool_rec_next;
	/*
	 * Threads created (queue_pool_spawn): not before a queue thread
	 * finished its first batch, so that their start (stacks, arenas,
	 * io_uring rings: a CPU for 1-2 ms, measured) is not in the stall
	 * after a crash. Jobs handed before wait in the list.
	 */
	unsigned pool_spawned;
	int pool_spawn_once;	/* atomic: 1 once a thread began spawning */
	/*
	 * Inline mode: QUEUE_SLOW_THREADS spawn first, the rest of npool
	 * (queue_pool_grow) only once a queue saw a slow request.
	 */
	unsigned pool_first;
	int pool_grow_once;	/* atomic: 1 once a thread began growing */
	bool no_slow_mode;	/* tests (PHX_NO_SLOW_MODE) */
	/* Large READs/WRITEs may go to the pool (QUEUE_POOL_IO_MIN). */
	bool large_io;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;	/* jobs queued or stop */
	pthread_cond_t free_cv;	/* a job returned to the free list */
	struct pool_job *jobs, *jobs_tail, *free_jobs;
	unsigned njobs_alloc;
	bool pool_stop;
	/* parked lock waits (queue_wait.c), under wait_lock */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cv;	/* a wait parked or due now, or stop */
	struct queue_wait *wait_first, *wait_last; /* park order */
	unsigned nparked;	/* atomic: how many (a lock-free peek) */
	struct region_thread_rec *wait_rec; /* claimed at creation */
	pthread_t wait_th;	/* started with the first wait */
	bool wait_started, wait_stop;
	bool wait_pass;		/* something is due now: pass again */
	uint64_t intr[QUEUE_WAIT_INTR], intr_at[QUEUE_WAIT_INTR];
	unsigned intr_next;
};

/* The FUSE opcode of the request copied in slot; 0 below a whole header. */
static inline uint32_t
queue_slot_opcode(const struct journal_slot_rec *slot)
{
	uint32_t opcode = 0;

	if (slot->req_len >= sizeof(struct fuse_in_header))
		memcpy(&opcode, slot->req +
		    offsetof(struct fuse_in_header, opcode), sizeof(opcode));
	return opcode;
}

static inline bool
queue_stopping(const struct queue *qu)
{
	return __atomic_load_n(&qu->stop, __ATOMIC_ACQUIRE);
}

/* queue.c */
void queue_thread_ring(struct region *r, struct region_thread_rec *t);
/*
 * The FUSE layer's view of a request whose copy is in slot and whose live
 * buffers are c; one redo transaction commits its effects with the slot's
 * move to REPLIED. Returns the reply length.
 */
uint32_t queue_run_request(struct queue_set *qs, unsigned q, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c,
    struct region_thread_rec *t, bool replay);
/* Pushes n completions of queue qu and notifies (DESIGN 3 step 5). */
void queue_push(struct queue *qu, const struct vring_used_ent *e, unsigned n);
/*
 * Re-translates the rings after a memory table change and publishes the
 * completions deferred while they were unmapped. On failure the queue is
 * detached: queue_push defers, nothing touches the rings.
 */
int queue_reattach(struct queue *qu);
/* DESIGN 3 step 1: 1 popped, 0 none, -EBUSY / -EPROTO / -EFAULT / -E2BIG. */
int queue_pop_one(struct queue *qu, uint16_t *ret_head,
    struct journal_slot_rec **ret_slot, struct vring_chain *c);

/* queue_run_request: the request left its op in flight (queue_async.c). */
#define QUEUE_RUN_LEFT UINT32_MAX
/* queue_run_request: a SETLKW parked, nothing answered (queue_wait.c). */
#define QUEUE_RUN_PARKED (UINT32_MAX - 1)

/* queue_async.c */
bool queue_async_candidate(const struct queue *qu,
    const struct journal_slot_rec *slot);
/*
 * Runs a candidate on the queue thread t: 1 left in flight (the queue
 * keeps it), 0 answered with *ret_len, to push.
 */
int queue_async_run(struct queue *qu, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c,
    struct region_thread_rec *t, uint32_t *ret_len);
/* queue_run_request, when the request left its op key: keeps its pins. */
void queue_async_left(uint64_t key);
/* Runs again and pushes the requests whose op completed; wait: for one. */
unsigned queue_async_reap(struct queue *qu, struct region_thread_rec *t,
    bool wait);
/* At the end of the queue thread: every request in flight answered. */
void queue_async_drain(struct queue *qu, struct region_thread_rec *t);

/* queue_pool.c */
bool queue_blocking(const struct journal_slot_rec *slot);
/* Under pool_lock: head is a lock wait parked in this incarnation. */
bool queue_blocked_head(const struct queue *qu, uint16_t head);
/*
 * Queue thread, before it serves: parks every lock wait that recovery
 * left live (or a worker killed during a ring stop), to be retried at
 * once. How many.
 */
unsigned queue_resume_waits(struct queue *qu);
bool queue_slow(const struct journal_slot_rec *slot);
/*
 * Slow mode (QUEUE_SLOW_NS): true while qu's requests go to the pool. A
 * request that took over QUEUE_SLOW_NS of wall time makes the queue
 * thread time its next QUEUE_SLOW_CHECKS exactly: QUEUE_SLOW_HITS of those
 * that take as long *and slept* (a voluntary switch: it waited on the
 * host, not on a CPU other jobs held) turn slow mode on (and grow the
 * pool); a POOL_SLOWFS job that does keeps it on. One such request alone
 * is a lock held by a preempted thread on a loaded host as often as a
 * slow disk (LOOKUP, load 8: once in 5 s). Around each run: begin, end.
 */
bool queue_slowed(struct queue *qu, uint64_t now);
void queue_time_begin(struct queue *qu, struct queue_timing *qt, uint64_t now,
    bool exact);
void queue_time_end(struct queue *qu, struct queue_timing *qt, bool queue);
/* A READ or WRITE of at least QUEUE_POOL_IO_MIN bytes (from the copy). */
bool queue_large_io(const struct journal_slot_rec *slot);
/*
 * Inline mode: hands a popped slow request, or a large READ or WRITE
 * (large: counted in qu->nlarge until answered), to the pool (a copy of c).
 */
void queue_pool_hand(struct queue *qu, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c,
    enum queue_pool_why why);
/*
 * The slots of queue q below used that may be live: the heads the live
 * index marks (every head below used in a region without one), in head
 * order, into ret_heads, and their state words, read through the memfd,
 * into ret_words (both of used entries). Returns how many.
 */
unsigned queue_live_words(const struct region *r, unsigned q, unsigned used,
    uint16_t *ret_heads, uint64_t *ret_words);

/* Pool mode: pop up to QUEUE_BATCH and queue them for the pool. */
int queue_dispatch_batch(struct queue *qu);
int queue_pool_start(struct queue_set *qs);
void queue_pool_spawn(struct queue_set *qs);
void queue_pool_stop(struct queue_set *qs);

/* queue_wait.c */
/*
 * Parks a SETLKW whose first run parked (QUEUE_RUN_PARKED), or that
 * recovery left live (now: retried at once): a copy of c and a reference
 * to gt, its table. Counts as outstanding and in nwaiting until the
 * lock wait thread (started here with the first wait) answers or drops
 * it. Out of memory or no thread: the worker dies (fatalx).
 */
void queue_wait_park(struct queue *qu, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c,
    struct guestmem_table *gt, bool now);
/* The waits on nodeid (0: all) are retried at once (fuse_req.unlocked). */
void queue_wait_kick(struct queue_set *qs, uint64_t nodeid);
/* The lock wait thread passes over its waits (a queue's end or start). */
void queue_wait_wake(struct queue_set *qs);
/* FUSE_INTERRUPT: the parked wait unique answers EINTR (fuse_req). */
void queue_wait_interrupt(struct queue_set *qs, uint64_t unique);
/* Interrupts kept for waits not parked yet are forgotten (a reset). */
void queue_wait_forget_interrupts(struct queue_set *qs);
/* Claims the lock wait thread's record; -EAGAIN if none is free. */
int queue_wait_init(struct queue_set *qs);
/* Stops the lock wait thread (every wait ended: queue_stop_all). */
void queue_wait_fini(struct queue_set *qs);

#endif
