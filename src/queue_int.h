/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of the queue module share; other modules use queue.h.
 * queue.c: pop, run and push a request, the queue thread, control.
 * queue_pool.c: the pool and the blocker threads (requests run off the
 * queue thread). queue_recover.c: recovery of the rings (DESIGN 4 steps
 * 3-5). Nothing here is persisted: after a crash only the region counts.
 */
#ifndef PHX_QUEUE_INT_H
#define PHX_QUEUE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
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
/* Pool threads for slow requests when there is no --thread-pool-size. */
#define QUEUE_SLOW_THREADS 4
/* A FUSE_WRITE's copy: header and write_in; the payload is read live. */
#define QUEUE_WRITE_COPY \
	(sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

struct queue;

/* Set on a blocker thread (a SETLKW's own): fuse_req.may_block. */
extern __thread bool queue_may_block;

struct pool_job {
	struct pool_job *next;
	struct queue *qu;
	uint16_t head;
	struct journal_slot_rec *slot;
	struct guestmem_table *gt; /* reference: the iovecs point into it */
	struct vring_chain c;
	struct iovec iov[VRING_MAX_IOV];
};

struct queue {
	struct queue_set *qs;
	unsigned idx;
	pthread_t th;
	/*
	 * The queue thread's record, claimed by queue_start() before the
	 * thread exists: lock waits resumed on other queues (blocker
	 * threads) may claim every free record meanwhile.
	 */
	struct region_thread_rec *th_rec;
	bool running;		/* control thread only */
	int stop;		/* atomic: set by queue_stop */
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
	unsigned outstanding;	/* pool jobs in flight, under pool_lock */
	pthread_cond_t drained;
	struct iovec iov[VRING_MAX_IOV];
	struct vring_used_ent comps[QUEUE_BATCH];
	/*
	 * --no-journal: the request copies live here, indexed by head, and
	 * not in the region's journal (nothing for recovery to replay).
	 */
	struct journal_slot_rec *heap;
	/*
	 * A memory table without this queue's rings (issue 9 finding 5):
	 * vq is detached (no ring pointers) until a table with them comes.
	 * Completions pushed meanwhile wait here, under push_lock, with the
	 * ring epoch they belong to; their slots stay REPLIED (a crash
	 * meanwhile: recovery pushes them). A later attach in the same epoch
	 * publishes them first; a restarted ring (new epoch) drops them.
	 */
	struct vring_used_ent *deferred;
	unsigned ndeferred, deferred_cap;
	uint64_t deferred_epoch;
	bool detached;       /* queue thread: the current table lacks them */
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
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;	/* jobs queued or stop */
	pthread_cond_t free_cv;	/* a job returned to the free list */
	struct pool_job *jobs, *jobs_tail, *free_jobs;
	unsigned njobs_alloc;
	bool pool_stop;
};

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

/* queue_pool.c */
bool queue_blocking(const struct journal_slot_rec *slot);
/*
 * Lock waits recovery left live go to blocker threads; one that finds no
 * thread runs on the queue thread t and answers as at its pop (ENOLCK).
 * How many went to blockers.
 */
unsigned queue_resume_waits(struct queue *qu, struct region_thread_rec *t);
bool queue_slow(const struct journal_slot_rec *slot);
/* 0: the request is the blocker thread's now; < 0: run it here. */
int queue_blocker_start(struct queue *qu, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c);
/* Inline mode: hands a popped slow request to the pool (a copy of c). */
void queue_pool_hand(struct queue *qu, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c);
/* The state words of num slots of queue q, read through the memfd. */
void queue_read_words(const struct region *r, unsigned q, unsigned num,
    uint64_t *w);

/* Pool mode: pop up to QUEUE_BATCH and queue them for the pool. */
int queue_dispatch_batch(struct queue *qu);
int queue_pool_start(struct queue_set *qs);
void queue_pool_spawn(struct queue_set *qs);
void queue_pool_stop(struct queue_set *qs);

#endif
