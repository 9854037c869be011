/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Queue threads: the life of a request (DESIGN 3) and its recovery (DESIGN
 * 4 steps 3-5, 8). A queue thread pops a head, copies the request into the
 * head's journal slot (POPPED, with a new generation, the avail position
 * and the ring epoch), advances last_avail_idx, runs the FUSE layer in a
 * redo transaction that also moves the slot to REPLIED, and pushes the
 * batch's completions under the push lock. With --thread-pool-size N the
 * queue thread only pops; N pool threads run and push.
 *
 * Invariants: a slot is POPPED before last_avail_idx passes it, REPLIED
 * only in the transaction that commits the request's effects, and FREE
 * before the guest can see its completion (vring_push). A slot of another
 * ring epoch counts as FREE. A head whose slot is live at pop is a guest
 * protocol violation: the queue is marked broken and never touched again
 * until the front-end restarts the ring.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "clock.h"
#include "crashpoint.h"
#include "fault.h"
#include "fdtab.h"
#include "inode.h"
#include "intent.h"
#include "fdispatch.h"
#include "journal.h"
#include "log.h"
#include "pollwin.h"
#include "queue.h"
#include "redo.h"
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
static __thread bool may_block_thread;

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
	bool running;		/* control thread only */
	int stop;		/* atomic: set by queue_stop */
	bool signal_once;	/* recovery: call fd once before first wait */
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
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;	/* jobs queued or stop */
	pthread_cond_t free_cv;	/* a job returned to the free list */
	struct pool_job *jobs, *jobs_tail, *free_jobs;
	unsigned njobs_alloc;
	bool pool_stop;
};

/* ---- thread records ------------------------------------------------- */

struct region_thread_rec *
queue_thread_claim(struct region *r)
{
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++) {
		struct region_thread_rec *t = &r->threads[i];
		uint64_t zero = 0;

		if (__atomic_compare_exchange_n(&t->in_use, &zero, 1, false,
		    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			t->tid = (uint64_t)gettid();
			return t;
		}
	}
	return NULL;
}

void
queue_thread_release(struct region_thread_rec *t)
{
	if (t == NULL)
		return;
	intent_thread_fini(t);
	region_store(&t->act, REGION_ACT_IDLE);
	region_store(&t->in_use, 0);
}

/* The thread's io_uring for exactly-once operations (intent.h). */
static void
thread_ring(struct region *r, struct region_thread_rec *t)
{
	static bool warned;
	int err = intent_thread_init(r, t);

	if (err < 0 && !warned) {
		warned = true;
		log_warnc(err, "no io_uring for exactly-once operations: "
		    "falling back to identity checks");
	}
}

/* ---- helpers --------------------------------------------------------- */

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static bool
slot_free(uint64_t w, uint16_t epoch)
{
	return journal_state(w) == JOURNAL_FREE || journal_epoch(w) != epoch;
}

static bool
stopping(const struct queue *qu)
{
	return __atomic_load_n(&qu->stop, __ATOMIC_ACQUIRE);
}

static void
mark_broken(struct queue *qu, int err, const char *why)
{
	region_store(&qu->qs->r->dev->queue[qu->idx].broken, 1);
	if (!qu->broken_logged)
		log_warnx("queue %u: %s (%s): queue stopped until the guest "
		    "resets it", qu->idx, why, strerror(-err));
	qu->broken_logged = true;
}

/*
 * The inode mutation exclusion (DESIGN 5): a size-changing request
 * (SETATTR size, OPEN with O_TRUNC, FALLOCATE without KEEP_SIZE) holds
 * its inode's stripe exclusively, a WRITE or COPY_FILE_RANGE holds the
 * destination's stripe shared, from before execution to after commit. So
 * when a worker dies no write ran after a truncate that is not committed
 * (or the other way round), and replaying either cannot undo the other.
 * Per incarnation; recovery replays one request at a time.
 */
#define EXCL_STRIPES 64
static pthread_rwlock_t excl[EXCL_STRIPES];
static pthread_once_t excl_once = PTHREAD_ONCE_INIT;

static void
excl_init(void)
{
	for (unsigned i = 0; i < EXCL_STRIPES; i++)
		pthread_rwlock_init(&excl[i], NULL);
}

/* 0: no exclusion; 1: shared; 2: exclusive. Decoded from the copy. */
static int
excl_kind(const struct journal_slot_rec *slot, uint64_t *ret_nodeid)
{
	const size_t h = sizeof(struct fuse_in_header);
	struct fuse_in_header ih;
	size_t n = MIN(slot->req_len, REGION_SLOT_REQ_MAX);

	if (n < h)
		return 0;
	memcpy(&ih, slot->req, h);
	*ret_nodeid = ih.nodeid;
	switch (ih.opcode) {
	case FUSE_WRITE:
		return 1;
	case FUSE_COPY_FILE_RANGE: {
		struct fuse_copy_file_range_in a;

		if (n < h + sizeof(a))
			return 0;
		memcpy(&a, slot->req + h, sizeof(a));
		*ret_nodeid = a.nodeid_out;
		return 1;
	}
	case FUSE_SETATTR: {
		struct fuse_setattr_in a;

		if (n < h + sizeof(a))
			return 0;
		memcpy(&a, slot->req + h, sizeof(a));
		return a.valid & FATTR_SIZE ? 2 : 0;
	}
	case FUSE_OPEN: {
		struct fuse_open_in a;

		if (n < h + sizeof(a))
			return 0;
		memcpy(&a, slot->req + h, sizeof(a));
		return a.flags & O_TRUNC ? 2 : 0;
	}
	case FUSE_FALLOCATE: {
		struct fuse_fallocate_in a;

		if (n < h + sizeof(a))
			return 0;
		memcpy(&a, slot->req + h, sizeof(a));
		return a.mode & FALLOC_FL_KEEP_SIZE ? 0 : 2;
	}
	default:
		return 0;
	}
}

static pthread_rwlock_t *
excl_take(const struct journal_slot_rec *slot)
{
	uint64_t nodeid = 0;
	pthread_rwlock_t *l;
	int kind = excl_kind(slot, &nodeid);

	if (kind == 0)
		return NULL;
	pthread_once(&excl_once, excl_init);
	l = &excl[(nodeid * 0x9e3779b97f4a7c15ULL) >> 58];
	if (kind == 2)
		pthread_rwlock_wrlock(l);
	else
		pthread_rwlock_rdlock(l);
	return l;
}

/*
 * The FUSE layer's view of a request whose copy is in slot and whose live
 * buffers are c; one redo transaction commits its effects with the slot's
 * move to REPLIED. Returns the reply length.
 */
static uint32_t
run_request(struct queue_set *qs, unsigned q, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c,
    struct region_thread_rec *t, bool replay)
{
	bool journaled = qs->journal || replay;
	pthread_rwlock_t *ex;
	struct redo_txn tx;
	struct fuse_req req;
	size_t len;
	uint64_t w;

	fault_begin(REGION_ACT_REQUEST, (uint64_t)q << 16 | head);
	ex = excl_take(slot);
	/* No fd sweep between an fd's creation and its commit (fdtab.h). */
	fdtab_req_begin();
	memset(&req, 0, sizeof(req));
	req.in = slot->req;
	req.in_len = MIN(slot->req_len, REGION_SLOT_REQ_MAX);
	req.in_total = MAX(slot->in_total, req.in_len);
	req.in_iov = c->iov;
	req.in_iovcnt = c->nrd;
	req.out_iov = c->iov + c->nrd;
	req.out_iovcnt = c->nwr;
	req.out_total = c->wr_len;
	/* Without a journal slot, pt_once.c decides by identity (DESIGN 5). */
	req.slot = journaled ? slot : NULL;
	req.txn = &tx;
	req.replay = replay;
	req.may_block = may_block_thread;
	req.cancel = &qs->q[q].stop;
	redo_begin(&tx, qs->r, t);
#ifdef PHX_CRASHPOINTS
	if (req.in_len >= sizeof(struct fuse_in_header)) {
		uint64_t unique;

		memcpy(&unique, slot->req + offsetof(struct fuse_in_header,
		    unique), sizeof(unique));
		/* Degraded mode answers EIO without running anything. */
		if (region_load(&qs->r->hdr->degraded) == 0)
			crashpoint_unique(unique);
	}
#endif
	len = fdispatch_handle(qs->fs, &req);
	if (len > c->wr_len)
		len = c->wr_len;
	CRASHPOINT("queue.after_handler");
	if (journaled) {
		w = redo_get(&tx, &slot->word);
		if (redo_set(&tx, &slot->reply_len, len) < 0 ||
		    redo_set(&tx, &slot->word,
			journal_with_state(w, JOURNAL_REPLIED)) < 0)
			fatalx("queue %u head %u: no redo room for the commit",
			    q, head);
	}
	redo_commit(&tx);
	inode_put_temps();
	fdtab_req_end();
	if (ex != NULL)
		pthread_rwlock_unlock(ex);
	CRASHPOINT("queue.after_commit");
	fault_end();
	return (uint32_t)len;
}

/* Pushes n completions of queue qu and notifies (DESIGN 3 step 5). */
static void
push(struct queue *qu, const struct vring_used_ent *e, unsigned n)
{
	if (n == 0)
		return;
	/* --no-journal: free the heap copies before the guest sees them. */
	if (qu->heap != NULL)
		for (unsigned k = 0; k < n; k++)
			__atomic_store_n(&qu->heap[e[k].id].word, 0,
			    __ATOMIC_RELEASE);
	pthread_mutex_lock(&qu->push_lock);
	fault_begin(REGION_ACT_PUSH, qu->idx);
	if (vring_push(&qu->vq, e, n))
		(void)vring_notify(&qu->vq);
	fault_end();
	pthread_mutex_unlock(&qu->push_lock);
}

/*
 * DESIGN 3 step 1 for the next available head: 1 popped (head, slot and
 * chain set), 0 nothing available, -EBUSY head in use, -EPROTO / -EFAULT /
 * -E2BIG malformed ring or chain.
 */
static int
pop_one(struct queue *qu, uint16_t *ret_head,
    struct journal_slot_rec **ret_slot, struct vring_chain *c)
{
	struct region *r = qu->qs->r;
	struct region_queue_rec *rec = qu->vq.rec;
	uint16_t last = (uint16_t)rec->last_avail_idx;
	uint16_t epoch = (uint16_t)rec->epoch, n, head;
	struct journal_slot_rec *slot;
	uint64_t w, copy, want;
	uint32_t opcode = 0;
	int err;

	err = vring_avail_count(&qu->vq, last, &n);
	if (err < 0 || n == 0)
		return err;
	fault_begin(REGION_ACT_RING, (uint64_t)qu->idx << 16 | last);
	err = vring_avail_head(&qu->vq, last, &head);
	if (err < 0)
		return err;
	slot = qu->heap != NULL ? &qu->heap[head] :
	    region_slot(r, qu->idx, head);
	w = region_load(&slot->word);
	if (!slot_free(w, epoch))
		return -EBUSY;
	err = vring_walk(&qu->vq, head, c);
	if (err < 0)
		return err;
	/* The copy replay and resolution decode (never guest memory). */
	want = MIN(c->rd_len, (uint64_t)REGION_SLOT_REQ_MAX);
	copy = vring_copy_readable(c, slot->req, MIN(want, QUEUE_WRITE_COPY));
	if (copy >= 8)
		memcpy(&opcode, slot->req + offsetof(struct fuse_in_header,
		    opcode), sizeof(opcode));
	if (opcode != FUSE_WRITE && want > copy)
		copy = vring_copy_readable(c, slot->req, want);
	slot->req_len = copy;
	slot->in_total = c->rd_len;
	slot->out_total = c->wr_len;
	slot->reply_len = 0;
	slot->step = 0;
	if (qu->heap == NULL)
		memset(slot->intent, 0, sizeof(slot->intent));
	/* Release: the copy is complete before the slot says POPPED. */
	region_store(&slot->word, journal_word(JOURNAL_POPPED,
	    journal_gen(w) + 1, last, epoch));
	CRASHPOINT("queue.after_pop");
	region_store(&rec->last_avail_idx, (uint16_t)(last + 1));
	fault_end();
	*ret_head = head;
	*ret_slot = slot;
	return 1;
}

/* ---- requests that may wait: a thread each (issue 3) ------------------ */

/*
 * A SETLKW may wait for another guest process's unlock, which this queue
 * must go on serving: it runs on a detached thread of its own with a
 * thread record (redo log, io_uring, activity) and counts as outstanding,
 * so queue_stop() waits for it, and it ends its wait on qu->stop.
 */
struct blocker {
	struct queue *qu;
	uint16_t head;
	struct journal_slot_rec *slot;
	struct guestmem_table *gt; /* reference: the iovecs point into it */
	struct region_thread_rec *t;
	struct vring_chain c;
	struct iovec iov[VRING_MAX_IOV];
};

static bool
blocking_request(const struct journal_slot_rec *slot)
{
	uint32_t opcode = 0;

	if (slot->req_len >= offsetof(struct fuse_in_header, opcode) + 4)
		memcpy(&opcode, slot->req + offsetof(struct fuse_in_header,
		    opcode), sizeof(opcode));
	return opcode == FUSE_SETLKW;
}

/*
 * A request that waits on the host: an io_uring exactly-once operation
 * (handed to an io-wq worker and back: two wakeups, 40-90 us on a quiet
 * virtualized host), or an fsync. Inline mode hands these to the pool so
 * that several wait at once while the queue thread serves the rest.
 */
static bool
slow_request(const struct journal_slot_rec *slot)
{
	const size_t h = sizeof(struct fuse_in_header);
	uint32_t opcode = 0, word = 0;

	if (slot->req_len < h)
		return false;
	memcpy(&opcode, slot->req + offsetof(struct fuse_in_header, opcode),
	    sizeof(opcode));
	switch (opcode) {
	case FUSE_CREATE: case FUSE_MKDIR: case FUSE_SYMLINK: case FUSE_LINK:
	case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_RENAME: case FUSE_RENAME2:
	case FUSE_FALLOCATE: case FUSE_SETXATTR: case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		return true;
	case FUSE_SETATTR:	/* valid: a size change is an FTRUNCATE */
		if (slot->req_len >= h + sizeof(word))
			memcpy(&word, slot->req + h, sizeof(word));
		return (word & FATTR_SIZE) != 0;
	case FUSE_OPEN:		/* flags: O_TRUNC is an FTRUNCATE */
		if (slot->req_len >= h + sizeof(word))
			memcpy(&word, slot->req + h, sizeof(word));
		return (word & O_TRUNC) != 0;
	default:
		return false;
	}
}

static void *
blocker_main(void *arg)
{
	struct blocker *b = arg;
	struct queue *qu = b->qu;
	struct queue_set *qs = qu->qs;
	struct vring_used_ent e;

	b->t->tid = (uint64_t)gettid();
	(void)fault_thread_init(b->t);
	thread_ring(qs->r, b->t);
	may_block_thread = true;
	e.id = b->head;
	e.len = run_request(qs, qu->idx, b->head, b->slot, &b->c, b->t, false);
	push(qu, &e, 1);
	guestmem_put(b->gt);
	fault_end();
	queue_thread_release(b->t);
	pthread_mutex_lock(&qs->pool_lock);
	if (--qu->outstanding == 0)
		pthread_cond_broadcast(&qu->drained);
	pthread_mutex_unlock(&qs->pool_lock);
	free(b);
	return NULL;
}

/* 0: the request is the blocker thread's now; < 0: run it here. */
static int
blocker_start(struct queue *qu, uint16_t head, struct journal_slot_rec *slot,
    const struct vring_chain *c)
{
	struct queue_set *qs = qu->qs;
	struct blocker *b = malloc(sizeof(*b));
	pthread_attr_t at;
	pthread_t th;
	int err;

	if (b == NULL)
		return -ENOMEM;
	b->t = queue_thread_claim(qs->r);
	if (b->t == NULL) {
		free(b);
		return -EAGAIN;
	}
	b->qu = qu;
	b->head = head;
	b->slot = slot;
	b->c = *c;
	memcpy(b->iov, c->iov, (c->nrd + c->nwr) * sizeof(*c->iov));
	b->c.iov = b->iov;
	b->c.max = VRING_MAX_IOV;
	b->gt = guestmem_ref(qu->vq.gt);
	pthread_mutex_lock(&qs->pool_lock);
	qu->outstanding++;
	pthread_mutex_unlock(&qs->pool_lock);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &at, blocker_main, b);
	pthread_attr_destroy(&at);
	if (err == 0)
		return 0;
	pthread_mutex_lock(&qs->pool_lock);
	qu->outstanding--;
	pthread_mutex_unlock(&qs->pool_lock);
	guestmem_put(b->gt);
	region_store(&b->t->in_use, 0);
	free(b);
	return -err;
}

static struct pool_job *job_get(struct queue_set *qs);
static void pool_enqueue(struct queue *qu, struct pool_job *j);

/* Inline mode: hands a popped slow request to the pool (a copy of c). */
static void
pool_hand(struct queue *qu, uint16_t head, struct journal_slot_rec *slot,
    const struct vring_chain *c)
{
	struct pool_job *j = job_get(qu->qs);

	j->head = head;
	j->slot = slot;
	j->c = *c;
	memcpy(j->iov, c->iov, (c->nrd + c->nwr) * sizeof(*c->iov));
	j->c.iov = j->iov;
	j->c.max = VRING_MAX_IOV;
	pool_enqueue(qu, j);
}

/*
 * Inline mode: pop and run up to QUEUE_BATCH, pushing every
 * QUEUE_PUSH_EVERY; slow requests go to the pool.
 */
static int
serve_batch(struct queue *qu, struct region_thread_rec *t)
{
	unsigned nc = 0, pushed = 0;
	int err = 0;

	while (nc < QUEUE_BATCH && !stopping(qu)) {
		struct journal_slot_rec *slot;
		struct vring_chain c = { .iov = qu->iov, .max = VRING_MAX_IOV };
		uint16_t head;

		err = pop_one(qu, &head, &slot, &c);
		if (err <= 0)
			break;
		if (blocking_request(slot) && blocker_start(qu, head, slot, &c) == 0)
			continue;
		if (qu->qs->npool > 0 && slow_request(slot)) {
			pool_hand(qu, head, slot, &c);
			continue;
		}
		qu->comps[nc].id = head;
		qu->comps[nc].len = run_request(qu->qs, qu->idx, head, slot, &c,
		    t, false);
		nc++;
		if (nc - pushed >= QUEUE_PUSH_EVERY) {
			push(qu, qu->comps + pushed, nc - pushed);
			pushed = nc;
		}
	}
	push(qu, qu->comps + pushed, nc - pushed);
	return err < 0 ? err : (int)nc;
}

/* ---- pool ------------------------------------------------------------ */

static struct pool_job *
job_get(struct queue_set *qs)
{
	struct pool_job *j;

	pthread_mutex_lock(&qs->pool_lock);
	/* Bounded: at most one job per head of every queue. */
	while (qs->free_jobs == NULL &&
	    qs->njobs_alloc >= REGION_MAX_QUEUE_SIZE * 2)
		pthread_cond_wait(&qs->free_cv, &qs->pool_lock);
	j = qs->free_jobs;
	if (j != NULL)
		qs->free_jobs = j->next;
	else
		qs->njobs_alloc++;
	pthread_mutex_unlock(&qs->pool_lock);
	if (j == NULL) {
		j = malloc(sizeof(*j));
		if (j == NULL)
			fatalx("out of memory for a pool job");
	}
	return j;
}

/* Pool mode: pop up to QUEUE_BATCH and queue them for the pool. */
static int
dispatch_batch(struct queue *qu)
{
	struct queue_set *qs = qu->qs;
	unsigned n = 0;
	int err = 0;

	while (n < QUEUE_BATCH && !stopping(qu)) {
		struct pool_job *j = job_get(qs);

		j->c.iov = j->iov;
		j->c.max = VRING_MAX_IOV;
		err = pop_one(qu, &j->head, &j->slot, &j->c);
		if (err <= 0) {
			pthread_mutex_lock(&qs->pool_lock);
			j->next = qs->free_jobs;
			qs->free_jobs = j;
			pthread_mutex_unlock(&qs->pool_lock);
			break;
		}
		if (blocking_request(j->slot) &&
		    blocker_start(qu, j->head, j->slot, &j->c) == 0) {
			pthread_mutex_lock(&qs->pool_lock);
			j->next = qs->free_jobs;
			qs->free_jobs = j;
			pthread_cond_signal(&qs->free_cv);
			pthread_mutex_unlock(&qs->pool_lock);
			n++;
			continue;
		}
		pool_enqueue(qu, j);
		n++;
	}
	return err < 0 ? err : (int)n;
}

/* Queues a popped request (head, slot, chain set) for the pool. */
static void
pool_enqueue(struct queue *qu, struct pool_job *j)
{
	struct queue_set *qs = qu->qs;

	j->qu = qu;
	j->gt = guestmem_ref(qu->vq.gt);
	j->next = NULL;
	pthread_mutex_lock(&qs->pool_lock);
	if (qs->jobs_tail != NULL)
		qs->jobs_tail->next = j;
	else
		qs->jobs = j;
	qs->jobs_tail = j;
	qu->outstanding++;
	pthread_cond_signal(&qs->pool_cv);
	pthread_mutex_unlock(&qs->pool_lock);
}

static void *
pool_main(void *arg)
{
	struct queue_set *qs = arg;
	struct region_thread_rec *t = queue_thread_claim(qs->r);

	if (t == NULL)
		fatalx("no free thread record for a pool thread");
	(void)fault_thread_init(t);
	thread_ring(qs->r, t);
	for (;;) {
		struct pool_job *j;
		struct vring_used_ent e;
		struct queue *qu;

		pthread_mutex_lock(&qs->pool_lock);
		while (qs->jobs == NULL && !qs->pool_stop)
			pthread_cond_wait(&qs->pool_cv, &qs->pool_lock);
		j = qs->jobs;
		if (j == NULL) {
			pthread_mutex_unlock(&qs->pool_lock);
			break;
		}
		qs->jobs = j->next;
		if (qs->jobs == NULL)
			qs->jobs_tail = NULL;
		pthread_mutex_unlock(&qs->pool_lock);

		qu = j->qu;
		e.id = j->head;
		/* tests: a request held while many others pass (recovery). */
		DELAYPOINT("queue.pool_job");
		e.len = run_request(qs, qu->idx, j->head, j->slot, &j->c, t,
		    false);
		push(qu, &e, 1);
		guestmem_put(j->gt);

		pthread_mutex_lock(&qs->pool_lock);
		j->next = qs->free_jobs;
		qs->free_jobs = j;
		pthread_cond_signal(&qs->free_cv);
		if (--qu->outstanding == 0)
			pthread_cond_broadcast(&qu->drained);
		pthread_mutex_unlock(&qs->pool_lock);
	}
	queue_thread_release(t);
	return NULL;
}

/* ---- the queue thread ------------------------------------------------ */

/* Re-translates the rings after a memory table change. */
static int
reattach(struct queue *qu)
{
	struct queue_set *qs = qu->qs;
	struct guestmem_table *gt = guestmem_get(qs->gm);
	int err;

	pthread_mutex_lock(&qu->push_lock);
	err = vring_attach(&qu->vq, qs->r, qu->idx, gt,
	    qs->r->dev->features);
	qu->vq.no_slots = qu->heap != NULL;
	pthread_mutex_unlock(&qu->push_lock);
	guestmem_put(gt);
	return err;
}

static void
drain_fd(int fd)
{
	uint64_t v;

	if (fd >= 0)
		(void)!read(fd, &v, sizeof(v));
}

/*
 * Waits for a kick; 0, or -errno of poll. The control thread wakes us by
 * writing the kick eventfd itself (after setting the stop flag, or after a
 * memory table change): a spurious kick costs one ring check, and the
 * worker owns no fd of its own that a crash would leak.
 */
static int
wait_kick(struct queue *qu)
{
	int kick = (int)qu->vq.rec->kick_fd;
	struct pollfd p = { .fd = kick, .events = POLLIN };
	int n;

	fault_end();
	/* No kick fd (VHOST_USER_VRING_NOFD_MASK): poll the ring each ms. */
	n = poll(&p, kick >= 0 ? 1 : 0, kick >= 0 ? -1 : 1);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (kick >= 0 && (p.revents & POLLIN))
		drain_fd(kick);
	return 0;
}

/* Wakes queue qu's thread out of wait_kick(). */
static void
wake(struct queue *qu)
{
	int kick = (int)region_load((const uint64_t *)&qu->vq.rec->kick_fd);
	uint64_t one = 1;

	if (kick >= 0)
		(void)!write(kick, &one, sizeof(one));
}

static void *
queue_main(void *arg)
{
	struct queue *qu = arg;
	struct queue_set *qs = qu->qs;
	struct region_thread_rec *t = queue_thread_claim(qs->r);
	struct region_queue_rec *rec = qu->vq.rec;
	struct pollwin pw;

	if (t == NULL)
		fatalx("queue %u: no free thread record", qu->idx);
	(void)fault_thread_init(t);
	thread_ring(qs->r, t);
	pollwin_init(&pw, qs->poll_max_ns);
	vring_suppress_kicks(&qu->vq);
	while (!stopping(qu)) {
		uint64_t deadline, slept, now;
		enum pollwin_way way;
		uint16_t last;
		int n;

		if (guestmem_gen(qs->gm) != qu->vq.gt->gen &&
		    (n = reattach(qu)) < 0) {
			mark_broken(qu, n, "rings unmapped by a memory change");
			break;
		}
		n = qs->pool_all ? dispatch_batch(qu) : serve_batch(qu, t);
		if (n < 0) {
			mark_broken(qu, n, n == -EBUSY ?
			    "guest posted a head that is in flight" :
			    "malformed ring or descriptor chain");
			break;
		}
		if (n > 0) {
			pollwin_served(&pw, (unsigned)n);
			continue;
		}
		/* Spin, yielding or not, or sleep at once: pollwin.h. */
		last = (uint16_t)rec->last_avail_idx;
		now = clock_now_ns();
		way = pollwin_idle(&pw, now,
		    __atomic_load_n(&qu->outstanding, __ATOMIC_RELAXED) > 0);
		deadline = now + (way == POLLWIN_SLEEP ? 0 : pollwin_window(&pw));
		while (!stopping(qu) && vring_avail_idx(&qu->vq) == last &&
		    (now = clock_now_ns()) < deadline) {
			cpu_relax();
			if (way == POLLWIN_YIELD)
				sched_yield();
		}
		if (stopping(qu) || vring_avail_idx(&qu->vq) != last) {
			pollwin_woke(&pw, clock_now_ns(), 0);
			continue;
		}
		/* DESIGN 4 step 8 too: event published, barrier, re-check. */
		if (!vring_prepare_sleep(&qu->vq, last)) {
			vring_suppress_kicks(&qu->vq);
			pollwin_woke(&pw, clock_now_ns(), 0);
			continue;
		}
		if (qu->signal_once) {
			pthread_mutex_lock(&qu->push_lock);
			(void)vring_notify(&qu->vq);
			pthread_mutex_unlock(&qu->push_lock);
			qu->signal_once = false;
		}
		slept = clock_now_ns();
		if (wait_kick(qu) < 0)
			break;
		now = clock_now_ns();
		pollwin_woke(&pw, now, MAX(now - slept, 1));
		vring_suppress_kicks(&qu->vq);
	}
	fault_end();
	queue_thread_release(t);
	return NULL;
}

/* ---- control --------------------------------------------------------- */

int
queue_set_create(struct queue_set **ret, struct region *r,
    const struct config *cfg, struct guestmem *gm, struct fuse_session *fs)
{
	struct queue_set *qs = calloc(1, sizeof(*qs));

	if (qs == NULL)
		return -ENOMEM;
	qs->r = r;
	qs->cfg = cfg;
	qs->gm = gm;
	qs->fs = fs;
	qs->poll_max_ns = cfg != NULL ? (uint64_t)cfg->poll_max_us * 1000 :
	    POLLWIN_MAX_NS_DEF;
	qs->journal = cfg == NULL || cfg->journal;
	if (!qs->journal)
		log_warnx("--no-journal: requests are not journaled; a worker "
		    "crash loses the requests in flight (benchmarks only)");
	pthread_mutex_init(&qs->pool_lock, NULL);
	pthread_cond_init(&qs->pool_cv, NULL);
	pthread_cond_init(&qs->free_cv, NULL);
	for (unsigned i = 0; i < REGION_MAX_QUEUES; i++) {
		struct queue *qu = &qs->q[i];

		qu->qs = qs;
		qu->idx = i;
		pthread_mutex_init(&qu->push_lock, NULL);
		pthread_cond_init(&qu->drained, NULL);
	}
	/*
	 * --thread-pool-size N: the pool runs every request. Without it the
	 * queue threads run them and a small pool only the slow ones.
	 */
	qs->npool = cfg != NULL ? cfg->thread_pool_size : 0;
	qs->pool_all = qs->npool > 0;
	if (!qs->pool_all)
		qs->npool = QUEUE_SLOW_THREADS;
	if (qs->npool > REGION_MAX_THREADS - REGION_MAX_QUEUES - 4)
		qs->npool = REGION_MAX_THREADS - REGION_MAX_QUEUES - 4;
	if (qs->npool > 0) {
		qs->pool_th = calloc(qs->npool, sizeof(*qs->pool_th));
		if (qs->pool_th == NULL) {
			qs->npool = 0;
			queue_set_destroy(qs);
			return -ENOMEM;
		}
		for (unsigned i = 0; i < qs->npool; i++) {
			int err = pthread_create(&qs->pool_th[i], NULL,
			    pool_main, qs);

			if (err != 0) {
				qs->npool = i;
				queue_set_destroy(qs);
				return -err;
			}
			pthread_setname_np(qs->pool_th[i], "phx-pool");
		}
	}
	*ret = qs;
	return 0;
}

void
queue_set_destroy(struct queue_set *qs)
{
	struct pool_job *j;

	if (qs == NULL)
		return;
	queue_stop_all(qs);
	pthread_mutex_lock(&qs->pool_lock);
	qs->pool_stop = true;
	pthread_cond_broadcast(&qs->pool_cv);
	pthread_mutex_unlock(&qs->pool_lock);
	for (unsigned i = 0; i < qs->npool; i++)
		pthread_join(qs->pool_th[i], NULL);
	free(qs->pool_th);
	while ((j = qs->free_jobs) != NULL) {
		qs->free_jobs = j->next;
		free(j);
	}
	for (unsigned i = 0; i < REGION_MAX_QUEUES; i++) {
		vring_detach(&qs->q[i].vq);
		free(qs->q[i].heap);
	}
	free(qs);
}

int
queue_start(struct queue_set *qs, unsigned q, bool signal_once)
{
	struct region_queue_rec *rec;
	struct queue *qu;
	char name[16];
	int err;

	if (q >= REGION_MAX_QUEUES)
		return -EINVAL;
	qu = &qs->q[q];
	rec = &qs->r->dev->queue[q];
	if (qu->running || !rec->started || !rec->enabled || rec->broken)
		return 0;
	if (!qs->journal && qu->heap == NULL) {
		/* Untouched pages cost nothing: only posted heads are. */
		qu->heap = calloc(REGION_MAX_QUEUE_SIZE, sizeof(*qu->heap));
		if (qu->heap == NULL)
			return -ENOMEM;
	}
	err = reattach(qu);
	if (err < 0)
		return err;
	__atomic_store_n(&qu->stop, 0, __ATOMIC_RELEASE);
	qu->signal_once = signal_once;
	qu->broken_logged = false;
	err = pthread_create(&qu->th, NULL, queue_main, qu);
	if (err != 0)
		return -err;
	snprintf(name, sizeof(name), "phx-q%u", q);
	pthread_setname_np(qu->th, name);
	qu->running = true;
	return 0;
}

void
queue_stop(struct queue_set *qs, unsigned q)
{
	struct queue *qu;

	if (q >= REGION_MAX_QUEUES)
		return;
	qu = &qs->q[q];
	if (!qu->running)
		return;
	/* Release: the thread sees stop when it wakes from our kick. */
	__atomic_store_n(&qu->stop, 1, __ATOMIC_RELEASE);
	wake(qu);
	pthread_join(qu->th, NULL);
	qu->running = false;
	/* Pool requests of this queue: finished and pushed before we return. */
	pthread_mutex_lock(&qs->pool_lock);
	while (qu->outstanding > 0)
		pthread_cond_wait(&qu->drained, &qs->pool_lock);
	pthread_mutex_unlock(&qs->pool_lock);
}

void
queue_stop_all(struct queue_set *qs)
{
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++)
		queue_stop(qs, q);
}

bool
queue_running(const struct queue_set *qs, unsigned q)
{
	return q < REGION_MAX_QUEUES && qs->q[q].running;
}

void
queue_lock_push(struct queue_set *qs, unsigned q)
{
	pthread_mutex_lock(&qs->q[q].push_lock);
}

void
queue_unlock_push(struct queue_set *qs, unsigned q)
{
	pthread_mutex_unlock(&qs->q[q].push_lock);
}

void
queue_wake_all(struct queue_set *qs)
{
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++)
		if (qs->q[q].running)
			wake(&qs->q[q]);
}

/* ---- recovery (DESIGN 4 steps 3-5) ------------------------------------ */

/*
 * Writes the EIO reply of a quarantined request (DESIGN 6) into its
 * writable buffers; a request without them (FORGET) completes with 0.
 */
static uint32_t
quarantine_reply(const struct journal_slot_rec *s, const struct vring_chain *c)
{
	struct fuse_out_header oh;
	struct fuse_in_header ih;
	const uint8_t *p = (const uint8_t *)&oh;
	size_t left = sizeof(oh);

	if (s->req_len < sizeof(ih) || c->wr_len < sizeof(oh))
		return 0;
	memcpy(&ih, s->req, sizeof(ih));
	memset(&oh, 0, sizeof(oh));
	oh.len = sizeof(oh);
	oh.error = -EIO;
	oh.unique = ih.unique;
	for (unsigned i = c->nrd; i < c->nrd + c->nwr && left > 0; i++) {
		size_t n = MIN(left, c->iov[i].iov_len);

		memcpy(c->iov[i].iov_base, p, n);
		p += n;
		left -= n;
	}
	return sizeof(oh);
}


struct live {
	uint16_t head;
	uint16_t age;		/* last_avail - pos: larger = older */
};

static int
cmp_live(const void *a, const void *b)
{
	const struct live *x = a, *y = b;

	return (int)y->age - (int)x->age;
}

static int
recover_queue(struct queue_set *qs, unsigned q, struct region_thread_rec *t,
    struct queue_recover_stats *st)
{
	struct queue *qu = &qs->q[q];
	struct region_queue_rec *rec = &qs->r->dev->queue[q];
	struct vring_used_ent *e = NULL;
	struct live *live = NULL;
	uint16_t epoch = (uint16_t)rec->epoch, saved, best, avail, num;
	unsigned ne = 0, nl = 0;
	int err;

	err = reattach(qu);
	if (err < 0)
		goto broken;
	num = qu->vq.num;
	e = calloc(num, sizeof(*e));
	live = calloc(num, sizeof(*live));
	if (e == NULL || live == NULL) {
		err = -ENOMEM;
		goto out;
	}
	/* Step 3: settle the publish record, then push what was replied. */
	err = vring_settle_publish(&qu->vq);
	if (err > 0)
		st->settled++;
	for (unsigned h = 0; h < num; h++) {
		struct journal_slot_rec *s = region_slot(qs->r, q, h);
		uint64_t w = region_load(&s->word);

		if (journal_epoch(w) != epoch ||
		    journal_state(w) != JOURNAL_REPLIED)
			continue;
		e[ne].id = h;
		e[ne].len = (uint32_t)MIN(s->reply_len, s->out_total);
		ne++;
	}
	if (ne > 0) {
		(void)vring_push(&qu->vq, e, ne);
		st->pushed += ne;
	}
	/*
	 * Step 4: last_avail_idx from the live slots. Only the newest pop can
	 * be ahead of it (pop_one: POPPED, then the index), and only by one.
	 * Every other live slot is behind, by any distance: a request held by
	 * the pool or a blocker thread while the guest cycles its other heads
	 * lets the index run far past it (more than the ring size: such a
	 * slot was once dropped here as corrupt, and its request lost). A
	 * slot held for a multiple of 65536 pops also shows pos == saved: the
	 * newest pop is the one whose head the avail ring still holds there
	 * (the guest cannot have overwritten that entry: it would need more
	 * heads than the ring has), a held one's head is in flight elsewhere.
	 */
	saved = (uint16_t)rec->last_avail_idx;
	best = saved;
	for (unsigned h = 0; h < num; h++) {
		uint64_t w = region_load(&region_slot(qs->r, q, h)->word);
		enum journal_state s = journal_state(w);
		uint16_t at;

		if (journal_epoch(w) != epoch || s == JOURNAL_FREE)
			continue;
		if (s != JOURNAL_POPPED && s != JOURNAL_EXECUTING)
			continue; /* handled below as corrupt */
		if ((uint16_t)journal_pos(w) == saved &&
		    vring_avail_head(&qu->vq, saved, &at) == 0 && at == h)
			best = (uint16_t)(saved + 1);
	}
	avail = vring_avail_idx(&qu->vq);
	if ((uint16_t)(avail - best) > num) {
		err = -EPROTO;
		goto broken;
	}
	region_store(&rec->last_avail_idx, best);
	/* Step 5: every live slot, oldest first. */
	for (unsigned h = 0; h < num; h++) {
		struct journal_slot_rec *s = region_slot(qs->r, q, h);
		uint64_t w = region_load(&s->word);
		enum journal_state js = journal_state(w);
		uint16_t age = (uint16_t)(best - journal_pos(w));

		if (journal_epoch(w) != epoch || js == JOURNAL_FREE)
			continue;
		/* age 0: "popped" at an index not yet reached: corrupt. */
		if ((js != JOURNAL_POPPED && js != JOURNAL_EXECUTING) ||
		    age == 0) {
			region_store(&s->word, journal_with_state(w,
			    JOURNAL_FREE));
			st->dropped++;
			continue;
		}
		live[nl].head = (uint16_t)h;
		live[nl].age = age;
		nl++;
	}
	qsort(live, nl, sizeof(*live), cmp_live);
	ne = 0;
	for (unsigned i = 0; i < nl; i++) {
		struct journal_slot_rec *s = region_slot(qs->r, q, live[i].head);
		struct vring_chain c = { .iov = qu->iov, .max = VRING_MAX_IOV };
		uint32_t len = 0;
		uint64_t key;
		int res = 0;

		/* Only for the iovecs: the request is decoded from the copy. */
		err = vring_walk(&qu->vq, live[i].head, &c);
		if (err < 0)
			goto broken;
		/*
		 * An EXECUTING slot (DESIGN 5) is replayed like a POPPED one:
		 * its non-idempotent host call asks intent.c again, which
		 * answers with the result intent_drain_dead() recorded from
		 * the dead thread's io_uring (or runs it if it never ran), so
		 * the reply is the first run's.
		 */
		if (journal_state(region_load(&s->word)) == JOURNAL_EXECUTING)
			st->executing++;
		else
			st->replayed++;
		key = fault_key_request(q, live[i].head,
		    journal_gen(region_load(&s->word)));
		if (res == 0 && qs->cfg != NULL && fault_crashes(qs->r, key) >=
		    qs->cfg->quarantine_crashes) {
			/* A poison request: answer EIO, never run it again. */
			len = quarantine_reply(s, &c);
			res = 1;
			qs->r->health->quarantined++;
			st->quarantined++;
			log_warnx("queue %u head %u: request crashed the worker "
			    "%llu times: quarantined (EIO)", q, live[i].head,
			    (unsigned long long)fault_crashes(qs->r, key));
		}
		if (res == 0)
			len = run_request(qs, q, live[i].head, s, &c, t, true);
		else {
			struct redo_txn tx;

			redo_begin(&tx, qs->r, t);
			if (redo_set(&tx, &s->reply_len, len) < 0 ||
			    redo_set(&tx, &s->word, journal_with_state(
				region_load(&s->word), JOURNAL_REPLIED)) < 0)
				fatalx("queue %u: no redo room", q);
			redo_commit(&tx);
		}
		fault_clear(qs->r, key);
		e[ne].id = live[i].head;
		e[ne].len = len;
		ne++;
	}
	if (ne > 0)
		(void)vring_push(&qu->vq, e, ne);
	err = 0;
	goto out;
broken:
	region_store(&rec->broken, 1);
	st->broken++;
	log_warnx("queue %u: unrecoverable ring (%s): marked broken", q,
	    strerror(-err));
	err = 0;
out:
	free(e);
	free(live);
	vring_detach(&qu->vq);
	return err;
}

int
queue_recover(struct queue_set *qs, struct queue_recover_stats *ret)
{
	struct queue_recover_stats st;
	struct region_thread_rec *t;
	int err = 0;

	memset(&st, 0, sizeof(st));
	t = queue_thread_claim(qs->r);
	if (t == NULL)
		return -EAGAIN;
	(void)fault_thread_init(t);
	thread_ring(qs->r, t);
	for (unsigned q = 0; q < REGION_MAX_QUEUES && err == 0; q++) {
		struct region_queue_rec *rec = &qs->r->dev->queue[q];

		if (!rec->started || !rec->enabled)
			continue;
		st.queues++;
		if (rec->broken) {
			st.broken++;
			continue;
		}
		err = recover_queue(qs, q, t, &st);
	}
	fault_end();
	queue_thread_release(t);
	if (err == 0)
		*ret = st;
	return err;
}
