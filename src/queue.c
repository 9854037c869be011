/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Queue threads: the life of a request (DESIGN 3 and 4 step 8; recovery
 * is queue_recover.c, the pool queue_pool.c, lock waits queue_wait.c). A queue
 * thread pops a head, copies the request into the head's journal slot
 * (POPPED, with a new generation, the avail position and the ring epoch),
 * advances last_avail_idx, runs the FUSE layer in a redo transaction that
 * also moves the slot to REPLIED, and pushes completions every few
 * requests under the push lock. Requests that wait on the host go to the
 * pool; with --thread-pool-size N the queue thread only pops and N pool
 * threads run and push.
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
#include <sys/prctl.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "clock.h"
#include "crashpoint.h"
#include "fault.h"
#include "inode.h"
#include "intent.h"
#include "fdispatch.h"
#include "journal.h"
#include "log.h"
#include "pollwin.h"
#include "queue.h"
#include "queue_int.h"
#include "redo.h"
#include "stats.h"
#include "vring.h"


/* ---- thread records ------------------------------------------------- */

struct region_thread_rec *
queue_thread_claim(struct region *r)
{
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++) {
		struct region_thread_rec *t = &r->threads[i];
		uint64_t zero = 0, u = region_load(&r->hdr->threads_used);

		/* threads_used covers the record before it is written. */
		while (u <= i && !__atomic_compare_exchange_n(
		    &r->hdr->threads_used, &u, (uint64_t)i + 1, false,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
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
void
queue_thread_ring(struct region *r, struct region_thread_rec *t)
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
 *
 * The session exclusion: an INIT and a DESTROY (whatever nodeid a hostile
 * guest gives them) run one at a time, also from before execution (the
 * session check, fdispatch.c) to after commit. A DESTROY holds the
 * session closed while it sweeps (FD_DESTROYING) and commits its end last;
 * an INIT on another queue in that state ran beside it, answered, and the
 * DESTROY's sweep and end then ran over the session it had opened (and an
 * INIT after that one, finding the session closed, swept nothing).
 */
#define EXCL_STRIPES 64
#define EXCL_SESSION EXCL_STRIPES /* excl[] index of the session exclusion */
static pthread_rwlock_t excl[EXCL_STRIPES + 1];
static pthread_once_t excl_once = PTHREAD_ONCE_INIT;

static void
excl_init(void)
{
	for (unsigned i = 0; i <= EXCL_SESSION; i++)
		pthread_rwlock_init(&excl[i], NULL);
}

/*
 * 0: no exclusion; 1: shared; 2: exclusive; 3: the session exclusion.
 * Decoded from the copy.
 */
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
	case FUSE_INIT:
	case FUSE_DESTROY:
		return 3;
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
	l = kind == 3 ? &excl[EXCL_SESSION] :
	    &excl[(nodeid * 0x9e3779b97f4a7c15ULL) >> 58];
	if (kind >= 2)
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
uint32_t
queue_run_request(struct queue_set *qs, unsigned q, uint16_t head,
    struct journal_slot_rec *slot, const struct vring_chain *c,
    struct region_thread_rec *t, bool replay)
{
	bool journaled = qs->journal || replay;
	pthread_rwlock_t *ex;
	struct redo_txn tx;
	struct fuse_req req;
	uint64_t w, akey, t0 = clock_now_ns();
	size_t len;

	fault_begin(REGION_ACT_REQUEST, (uint64_t)q << 16 | head);
	ex = excl_take(slot);
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
	/*
	 * DESIGN 5: the slot says EXECUTING before the first host call, so
	 * only a replay of a slot that may have run finds its own effects
	 * (identity rules); a POPPED one never ran and runs as new.
	 */
	req.replay = false;
	if (journaled) {
		w = region_load(&slot->word);
		req.replay = replay && journal_state(w) == JOURNAL_EXECUTING;
		if (journal_state(w) == JOURNAL_POPPED)
			region_store(&slot->word, journal_with_state(w,
			    JOURNAL_EXECUTING));
	}
	/* Recovery's replays never park (it leaves lock waits live). */
	req.may_park = !replay;
	req.wait_end = queue_wait_end;
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
	if ((akey = intent_async_left()) != 0) {
		/*
		 * Its op left in flight (queue_async.c): nothing committed,
		 * no reply; the slot stays EXECUTING and the pins stay held.
		 */
		redo_abort(&tx);
		queue_async_left(akey);
		inode_put_temps();
		if (ex != NULL)
			pthread_rwlock_unlock(ex);
		fault_end();
		return QUEUE_RUN_LEFT;
	}
	if (req.parked) {
		/*
		 * A SETLKW parked (queue_wait.c): nothing but its owner's
		 * OFD committed (pt_lock.c), no reply; the slot stays live.
		 */
		redo_abort(&tx);
		inode_put_temps();
		if (ex != NULL)
			pthread_rwlock_unlock(ex);
		fault_end();
		return QUEUE_RUN_PARKED;
	}
	if (len > c->wr_len)
		len = c->wr_len;
	CRASHPOINT("queue.after_handler");
	DELAYPOINT("queue.before_commit"); /* tests: the fd sweep runs here */
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
	if (ex != NULL)
		pthread_rwlock_unlock(ex);
	CRASHPOINT("queue.after_commit");
	/* After the commit: an OFD or fd it freed is closed by now. */
	if (req.unlocked) {
		struct fuse_in_header ih;

		memcpy(&ih, slot->req, sizeof(ih));
		queue_wait_kick(qs, ih.nodeid);
	}
	if (req.interrupt != 0)
		queue_wait_interrupt(qs, req.interrupt);
	fault_end();
	stats_request(qs->r, t, queue_slot_opcode(slot), clock_now_ns() - t0);
	return (uint32_t)len;
}

/*
 * Under push_lock, with the rings attached: DESIGN 3 step 5; notifies
 * if the driver asked, or with quiet only returns whether it asked.
 */
static bool
push_locked(struct queue *qu, const struct vring_used_ent *e, unsigned n,
    bool quiet)
{
	bool want;

	/* --no-journal: free the heap copies before the guest sees them. */
	if (qu->heap != NULL)
		for (unsigned k = 0; k < n; k++)
			__atomic_store_n(&qu->heap[e[k].id].word, 0,
			    __ATOMIC_RELEASE);
	want = vring_push(&qu->vq, e, n);
	if (want && !quiet)
		(void)vring_notify(&qu->vq);
	return want && quiet;
}

/* Drops the deferred completions (their ring was restarted). */
static void
drop_deferred(struct queue *qu)
{
	if (qu->heap != NULL)
		for (unsigned k = 0; k < qu->ndeferred; k++)
			__atomic_store_n(&qu->heap[qu->deferred[k].id].word, 0,
			    __ATOMIC_RELEASE);
	qu->ndeferred = 0;
}

/*
 * Under push_lock, the ring stopped as broken (mark_broken): the guest
 * memory of its rings is not written again until the guest resets it.
 * The ops in flight at the stop (queue_async_drain, the pool) are
 * committed REPLIED; the reset's new ring epoch frees their slots. The
 * --no-journal copies are freed here, as drop_deferred does.
 */
static void
drop_broken(struct queue *qu, const struct vring_used_ent *e, unsigned n)
{
	if (qu->heap != NULL)
		for (unsigned k = 0; k < n; k++)
			__atomic_store_n(&qu->heap[e[k].id].word, 0,
			    __ATOMIC_RELEASE);
}

/*
 * Under push_lock, rings detached: keeps n completions for the next
 * attach (queue_int.h). Never more than the ring's heads in flight.
 */
static void
defer_locked(struct queue *qu, const struct vring_used_ent *e, unsigned n)
{
	uint64_t epoch = region_load(&qu->qs->r->dev->queue[qu->idx].epoch);

	if (qu->ndeferred > 0 && qu->deferred_epoch != epoch)
		drop_deferred(qu);
	qu->deferred_epoch = epoch;
	if (qu->ndeferred + n > qu->deferred_cap) {
		unsigned cap = MAX(qu->deferred_cap * 2, qu->ndeferred + n);
		struct vring_used_ent *d = NULL;

		if (cap <= 2 * REGION_MAX_QUEUE_SIZE)
			d = realloc(qu->deferred, cap * sizeof(*d));
		if (d == NULL) {
			/* The slots stay REPLIED: a recovery still pushes. */
			log_warnx("queue %u: %u completions not kept while "
			    "its rings are unmapped", qu->idx, n);
			return;
		}
		qu->deferred = d;
		qu->deferred_cap = cap;
	}
	memcpy(qu->deferred + qu->ndeferred, e, n * sizeof(*e));
	qu->ndeferred += n;
}

/*
 * Pushes n completions of queue qu and notifies (DESIGN 3 step 5). Pool
 * and lock wait threads call this at any time: with the rings detached by a
 * failed reattach, the completions are deferred, never written through a
 * ring pointer that is gone.
 */
static bool
push(struct queue *qu, const struct vring_used_ent *e, unsigned n, bool quiet)
{
	bool want = false;

	if (n == 0)
		return false;
	pthread_mutex_lock(&qu->push_lock);
	fault_begin(REGION_ACT_PUSH, qu->idx);
	if (region_load(&qu->qs->r->dev->queue[qu->idx].broken) != 0)
		drop_broken(qu, e, n);
	else if (qu->vq.used == NULL)
		defer_locked(qu, e, n);
	else
		want = push_locked(qu, e, n, quiet);
	fault_end();
	pthread_mutex_unlock(&qu->push_lock);
	return want;
}

void
queue_push(struct queue *qu, const struct vring_used_ent *e, unsigned n)
{
	(void)push(qu, e, n, false);
}

/* The call the quiet pushes of a batch owe the driver (see serve_batch). */
static void
notify_owed(struct queue *qu)
{
	pthread_mutex_lock(&qu->push_lock);
	if (qu->vq.used != NULL)
		(void)vring_notify(&qu->vq);
	pthread_mutex_unlock(&qu->push_lock);
}

/*
 * DESIGN 3 step 1 for the next available head: 1 popped (head, slot and
 * chain set), 0 nothing available, -EBUSY head in use, -EPROTO / -EFAULT /
 * -E2BIG malformed ring or chain.
 */
/* heads_used covers head before its slot is touched (a raise only). */
static void
note_head(struct region_queue_rec *rec, uint16_t head)
{
	uint64_t u = region_load(&rec->heads_used);

	while (u <= head && !__atomic_compare_exchange_n(&rec->heads_used, &u,
	    (uint64_t)head + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

int
queue_pop_one(struct queue *qu, uint16_t *ret_head,
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
	if (qu->heap == NULL) {
		note_head(rec, head);
		/* Before the slot can leave FREE (the POPPED store below). */
		region_live_mark(r, qu->idx, head);
	}
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
	CRASHPOINT("queue.after_mark");
	/* Release: the copy (and the mark) before the slot says POPPED. */
	region_store(&slot->word, journal_word(JOURNAL_POPPED,
	    journal_gen(w) + 1, last, epoch));
	CRASHPOINT("queue.after_pop");
	region_store(&rec->last_avail_idx, (uint16_t)(last + 1));
	fault_end();
	*ret_head = head;
	*ret_slot = slot;
	return 1;
}

/* Requests waiting in the avail ring after the last one popped. */
static unsigned
avail_left(const struct queue *qu)
{
	uint16_t n = 0;

	return vring_avail_count(&qu->vq,
	    (uint16_t)qu->vq.rec->last_avail_idx, &n) == 0 ? n : 0;
}

static bool
more_avail(const struct queue *qu)
{
	return avail_left(qu) > 0;
}

/*
 * Inline mode: pop and run up to QUEUE_BATCH, pushing every
 * QUEUE_PUSH_EVERY and notifying (if the driver asked since) every
 * QUEUE_NOTIFY_EVERY, when the ring is about to run dry, and at the end;
 * slow requests go to the pool or
 * leave their op in flight (queue_async.c).
 */
static int
serve_batch(struct queue *qu, struct region_thread_rec *t)
{
	unsigned nc = 0, pushed = 0;
	bool owed = false;
	int err = 0;

	while (nc < QUEUE_BATCH && !queue_stopping(qu)) {
		struct journal_slot_rec *slot;
		struct vring_chain c = { .iov = qu->iov, .max = VRING_MAX_IOV };
		uint64_t now = 0;
		uint16_t head;

		err = queue_pop_one(qu, &head, &slot, &c);
		if (err <= 0)
			break;
		qu->comps[nc].id = head;
		if (queue_async_candidate(qu, slot)) {
			if (queue_async_run(qu, head, slot, &c, t,
			    &qu->comps[nc].len) == 1)
				continue;
		} else if (qu->qs->npool > 0 && queue_slow(slot)) {
			queue_pool_hand(qu, head, slot, &c, POOL_WAITS);
			continue;
		} else if (qu->qs->large_io && queue_large_io(slot) &&
		    __atomic_load_n(&qu->nlarge, __ATOMIC_RELAXED) <
		    QUEUE_POOL_IO_CAP && more_avail(qu)) {
			queue_pool_hand(qu, head, slot, &c, POOL_LARGE);
			continue;
		} else if (qu->qs->npool > 0 && !qu->qs->no_slow_mode &&
		    queue_slowed(qu, (now = clock_now_ns()))) {
			/* A slow host file system (queue_int.h). */
			queue_pool_hand(qu, head, slot, &c, POOL_SLOWFS);
			continue;
		} else {
			struct queue_timing qt;

			queue_time_begin(qu, &qt, now ? now : clock_now_ns(),
			    false);
			qu->comps[nc].len = queue_run_request(qu->qs, qu->idx,
			    head, slot, &c, t, false);
			queue_time_end(qu, &qt, true);
			if (qu->comps[nc].len == QUEUE_RUN_PARKED) {
				queue_wait_park(qu, head, slot, &c, qu->vq.gt,
				    false);
				continue;
			}
		}
		nc++;
		if (nc - pushed >= QUEUE_PUSH_EVERY) {
			owed |= push(qu, qu->comps + pushed, nc - pushed, true);
			pushed = nc;
			if (owed && (nc % QUEUE_NOTIFY_EVERY == 0 ||
			    avail_left(qu) <= QUEUE_PUSH_EVERY)) {
				notify_owed(qu);
				owed = false;
			}
		}
	}
	owed |= push(qu, qu->comps + pushed, nc - pushed, true);
	/* Never left owed: the driver may be asleep waiting for it. */
	if (owed)
		notify_owed(qu);
	return err < 0 ? err : (int)nc;
}

/* ---- the queue thread ------------------------------------------------ */

/* Re-translates the rings; publishes the deferred completions. */
int
queue_reattach(struct queue *qu)
{
	struct queue_set *qs = qu->qs;
	struct guestmem_table *gt = guestmem_get(qs->gm);
	uint64_t epoch;
	int err;

	pthread_mutex_lock(&qu->push_lock);
	err = vring_attach(&qu->vq, qs->r, qu->idx, gt,
	    qs->r->dev->features);
	qu->vq.no_slots = qu->heap != NULL;
	if (err == 0 && qu->ndeferred > 0) {
		epoch = region_load(&qs->r->dev->queue[qu->idx].epoch);
		if (qu->deferred_epoch != epoch) {
			drop_deferred(qu);
		} else {
			/* Oldest first, at most a ring's worth per push. */
			for (unsigned k = 0; k < qu->ndeferred;) {
				unsigned m = MIN(qu->ndeferred - k,
				    (unsigned)qu->vq.num);

				push_locked(qu, qu->deferred + k, m, false);
				k += m;
			}
			log_info("queue %u: %u deferred completions "
			    "published", qu->idx, qu->ndeferred);
			qu->ndeferred = 0;
		}
	}
	pthread_mutex_unlock(&qu->push_lock);
	guestmem_put(gt);
	return err;
}

/*
 * The queue thread's rings for the current memory table: true when
 * attached. A table without them (a front-end's protocol error, or a
 * region removed and not yet added back) detaches the queue until the
 * next table: requests wait, completions are deferred (queue_push).
 */
static bool
attach_current(struct queue *qu)
{
	uint64_t gen = guestmem_gen(qu->qs->gm);
	int err;

	if (qu->vq.used != NULL && qu->vq.gt->gen == gen)
		return true;
	if (qu->detached && qu->failed_gen == gen)
		return false;
	err = queue_reattach(qu);
	if (err == 0) {
		if (qu->detached)
			log_info("queue %u: rings mapped again", qu->idx);
		qu->detached = false;
		vring_suppress_kicks(&qu->vq);
		return true;
	}
	if (!qu->detached)
		log_warnx("queue %u: the memory table does not map its rings "
		    "(%s): requests wait for one that does", qu->idx,
		    strerror(-err));
	qu->detached = true;
	qu->failed_gen = gen;
	return false;
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
/* A completion of an op left in flight waits (queue_async.c). */
static bool
async_ready(const struct queue *qu)
{
	return qu->nasync > 0 && intent_async_ready();
}

static int
wait_kick_ms(struct queue *qu, int ms)
{
	int kick = (int)qu->qs->r->dev->queue[qu->idx].kick_fd;
	struct pollfd p[2] = {
		{ .fd = kick, .events = POLLIN },
		/* A completion of an op left in flight (queue_async.c). */
		{ .fd = qu->nasync > 0 ? intent_ring_fd() : -1,
		  .events = POLLIN },
	};
	int n;

	fault_end();
	n = poll(p, 2, ms); /* a negative fd is ignored */
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (kick >= 0 && (p[0].revents & POLLIN))
		drain_fd(kick);
	return 0;
}

static int
wait_kick(struct queue *qu)
{
	/* No kick fd (VHOST_USER_VRING_NOFD_MASK): poll the ring each ms. */
	return wait_kick_ms(qu,
	    (int64_t)qu->qs->r->dev->queue[qu->idx].kick_fd >= 0 ? -1 : 1);
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
	struct region_thread_rec *t = qu->th_rec;
	struct region_queue_rec *rec = qu->vq.rec;
	struct pollwin pw;
	char name[16];

	/*
	 * Named by itself: glibc names another thread by opening
	 * /proc/self/task/TID/comm, a path in the guest's share after
	 * pivot_root (issue 9 finding 1); its own name is a prctl.
	 */
	snprintf(name, sizeof(name), "phx-q%u", qu->idx);
	pthread_setname_np(pthread_self(), name);
	t->tid = (uint64_t)gettid();
	(void)fault_thread_init(t);
	queue_thread_ring(qs->r, t);
	pollwin_init(&pw, qs->poll_max_ns);
	vring_suppress_kicks(&qu->vq);
	DELAYPOINT("queue.thread_start"); /* tests: stopped before a sleep */
	(void)queue_resume_waits(qu);
	while (!queue_stopping(qu)) {
		uint64_t deadline, slept, now;
		enum pollwin_way way;
		uint16_t last;
		int n;

		/* Detached, the completions are deferred (queue_push). */
		if (async_ready(qu))
			(void)queue_async_reap(qu, t, false);
		if (!attach_current(qu)) {
			/* Detached: only a kick, a stop or a new table. */
			if (wait_kick_ms(qu, 100) < 0)
				break;
			continue;
		}
		n = qs->pool_all ? queue_dispatch_batch(qu) : serve_batch(qu, t);
		/*
		 * After the first batch (queue_int.h), also one that answered
		 * nothing itself: the jobs it handed over wait for the pool,
		 * and the guest may wait for them before sending more.
		 */
		if (n > 0 || __atomic_load_n(&qu->outstanding,
		    __ATOMIC_RELAXED) > 0)
			queue_pool_spawn(qs);
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
		way = pollwin_idle(&pw, now, qu->nasync > 0 ||
		    __atomic_load_n(&qu->outstanding, __ATOMIC_RELAXED) > 0);
		deadline = now + (way == POLLWIN_SLEEP ? 0 : pollwin_window(&pw));
		while (!queue_stopping(qu) && vring_avail_idx(&qu->vq) == last &&
		    !async_ready(qu) &&
		    (now = pollwin_tick(&pw, clock_now_ns())) < deadline) {
			cpu_relax();
			if (way == POLLWIN_YIELD)
				sched_yield();
		}
		if (queue_stopping(qu) || vring_avail_idx(&qu->vq) != last ||
		    async_ready(qu)) {
			pollwin_woke(&pw, clock_now_ns(), 0);
			continue;
		}
		/* DESIGN 4 step 8 too: event published, barrier, re-check. */
		if (!vring_prepare_sleep(&qu->vq, last) ||
		    async_ready(qu)) {
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
	queue_async_drain(qu, t);
	fault_end();
	queue_thread_release(t);
	return NULL;
}

/* ---- control --------------------------------------------------------- */

/*
 * More CPUs in the worker's affinity mask than request queues plus one
 * (queue_int.h, QUEUE_POOL_IO_MIN): a large copy in the pool has a CPU
 * of its own.
 */
static bool
large_io_cpus(const struct config *cfg)
{
	unsigned nq = cfg != NULL ? cfg->num_request_queues : 1;
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    (unsigned)CPU_COUNT(&set) > nq + 1;
}

int
queue_set_create(struct queue_set **ret, struct region *r,
    const struct config *cfg, struct guestmem *gm, struct fuse_session *fs)
{
	struct queue_set *qs = calloc(1, sizeof(*qs));
	pthread_rwlockattr_t ga;
	int err;

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
		/* Writers first: lock waits only ever try (queue_wait.c). */
		pthread_rwlockattr_init(&ga);
		pthread_rwlockattr_setkind_np(&ga,
		    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&qu->gate, &ga);
		pthread_rwlockattr_destroy(&ga);
	}
	/*
	 * --thread-pool-size N: the pool runs every request. Without it the
	 * queue threads run them and a small pool only the slow ones.
	 */
	qs->npool = cfg != NULL ? cfg->thread_pool_size : 0;
	qs->pool_all = qs->npool > 0;
	qs->pool_first = qs->npool;
	if (!qs->pool_all) {
		qs->npool = QUEUE_SLOW_THREADS_MAX;
		qs->pool_first = QUEUE_SLOW_THREADS;
	}
	qs->large_io = !qs->pool_all && large_io_cpus(cfg);
#ifdef PHX_CRASHPOINTS
	/* Tests whose delay points hold every request: no slow mode. */
	qs->no_slow_mode = getenv("PHX_NO_SLOW_MODE") != NULL;
	/* Tests on a small host: large I/O in the pool (1) or not (0). */
	const char *large = getenv("PHX_POOL_LARGE_IO");
	if (large != NULL)
		qs->large_io = !qs->pool_all && strcmp(large, "1") == 0;
#endif
	if ((err = queue_wait_init(qs)) < 0 ||
	    (err = queue_pool_start(qs)) < 0) {
		queue_set_destroy(qs);
		return err;
	}
	*ret = qs;
	return 0;
}

void
queue_set_destroy(struct queue_set *qs)
{
	if (qs == NULL)
		return;
	queue_stop_all(qs);
	queue_wait_fini(qs);
	queue_pool_stop(qs);
	for (unsigned i = 0; i < REGION_MAX_QUEUES; i++) {
		vring_detach(&qs->q[i].vq);
		free(qs->q[i].heap);
		free(qs->q[i].deferred);
		free(qs->q[i].waits);
	}
	free(qs);
}

int
queue_start(struct queue_set *qs, unsigned q, bool signal_once)
{
	struct region_queue_rec *rec;
	struct queue *qu;
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
	err = queue_reattach(qu);
	if (err < 0)
		return err;
	/* Attached: lock waits may answer again (queue_wait.c). */
	__atomic_store_n(&qu->held, 0, __ATOMIC_RELEASE);
	queue_wait_kick(qs, 0);
	__atomic_store_n(&qu->stop, 0, __ATOMIC_RELEASE);
	qu->signal_once = signal_once;
	qu->broken_logged = false;
	qu->detached = false;
	qu->th_rec = queue_thread_claim(qs->r);
	if (qu->th_rec == NULL)
		return -EAGAIN;
	err = pthread_create(&qu->th, NULL, queue_main, qu);
	if (err != 0) {
		queue_thread_release(qu->th_rec);
		qu->th_rec = NULL;
		return -err;
	}
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
	if (qu->running) {
		/* Release: the thread sees stop when it wakes from our kick. */
		__atomic_store_n(&qu->stop, 1, __ATOMIC_RELEASE);
		wake(qu);
		pthread_join(qu->th, NULL);
		qu->running = false;
	}
	/*
	 * Pool requests of this queue: finished and pushed before we return.
	 * Lock waits go on: a VM pause must not end them (the guest turns a
	 * SETLKW's EINTR into errno 512 with no signal pending).
	 */
	pthread_mutex_lock(&qs->pool_lock);
	while (qu->outstanding > qu->nwaiting)
		pthread_cond_wait(&qu->drained, &qs->pool_lock);
	pthread_mutex_unlock(&qs->pool_lock);
	/*
	 * A stopped device writes no guest memory: no lock wait answers
	 * until the ring goes on (queue_start) or is dropped with its waits
	 * (queue_end_waits). The write lock waits for a wait answering now.
	 */
	pthread_rwlock_wrlock(&qu->gate);
	__atomic_store_n(&qu->held, 1, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&qu->gate);
	pthread_mutex_lock(&qu->push_lock);
	vring_detach(&qu->vq);
	pthread_mutex_unlock(&qu->push_lock);
}

void
queue_end_waits(struct queue_set *qs, unsigned q)
{
	struct queue *qu;

	if (q >= REGION_MAX_QUEUES)
		return;
	qu = &qs->q[q];
	/* Interrupts for the old session's requests must not match new ones. */
	queue_wait_forget_interrupts(qs);
	pthread_mutex_lock(&qs->pool_lock);
	if (qu->nwaiting > 0) {
		__atomic_store_n(&qu->cancel_waits, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&qs->pool_lock);
		/* The lock wait thread drops them (queue_wait.c). */
		queue_wait_wake(qs);
		pthread_mutex_lock(&qs->pool_lock);
		while (qu->nwaiting > 0)
			pthread_cond_wait(&qu->drained, &qs->pool_lock);
		__atomic_store_n(&qu->cancel_waits, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&qs->pool_lock);
}

void
queue_stop_all(struct queue_set *qs)
{
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		queue_stop(qs, q);
		queue_end_waits(qs, q);
	}
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
