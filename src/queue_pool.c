/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests run off the queue thread: the pool (every request with
 * --thread-pool-size N, else the requests that wait on the host and the
 * large READs and WRITEs of a deep queue, queue_large_io); lock waits
 * park instead (queue_wait.c). A job holds a guest memory
 * reference and a copy of the chain; the request's journal slot is what
 * recovery sees, so a job lost with the worker is replayed like any
 * popped request.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "clock.h"
#include "crashpoint.h"
#include "fault.h"
#include "guestmem.h"
#include "log.h"
#include "queue_int.h"

/* ---- which requests go where ----------------------------------------- */

bool
queue_blocking(const struct journal_slot_rec *slot)
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
bool
queue_slow(const struct journal_slot_rec *slot)
{
	const size_t h = sizeof(struct fuse_in_header);
	uint32_t word = 0;

	switch (queue_slot_opcode(slot)) {
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

/*
 * A READ or WRITE of at least QUEUE_POOL_IO_MIN bytes (the size its
 * arguments ask for; the copy in the slot, never guest memory): its copy
 * between the page cache and guest memory is the request's whole cost,
 * and a queue thread that makes every copy of its queue is the limit
 * (issue 10: 85% of the queue thread in _copy_to_iter at depth 16).
 */
bool
queue_large_io(const struct journal_slot_rec *slot)
{
	const size_t at = sizeof(struct fuse_in_header) +
	    offsetof(struct fuse_read_in, size);
	uint32_t size = 0;
	uint32_t opcode = queue_slot_opcode(slot);

	_Static_assert(offsetof(struct fuse_read_in, size) ==
	    offsetof(struct fuse_write_in, size), "READ and WRITE size");
	if (opcode != FUSE_READ && opcode != FUSE_WRITE)
		return false;
	if (slot->req_len >= at + sizeof(size))
		memcpy(&size, slot->req + at, sizeof(size));
	return size >= QUEUE_POOL_IO_MIN;
}

/*
 * Queue thread, before it serves: parks every lock wait that recovery left
 * live (queue_recover.c), or that a worker killed during a ring stop left
 * (a VM paused and continued), to be retried at once from the top (a
 * SETLKW's steps, the owner's OFD and the lock call, find their own
 * effects). Only slots of this ring epoch, and none already parked in
 * this incarnation (a ring stop leaves them parked). Returns how many.
 */
unsigned
queue_resume_waits(struct queue *qu)
{
	struct region *r = qu->qs->r;
	uint16_t epoch = (uint16_t)qu->vq.rec->epoch;
	struct iovec iov[VRING_MAX_IOV];
	uint16_t *heads = qu->waits;
	unsigned n = 0, nh = qu->nwaits;
	uint64_t *words = NULL;

	qu->waits = NULL;
	qu->nwaits = 0;
	if (qu->heap != NULL) {
		free(heads);
		return 0; /* --no-journal: nothing survives a crash */
	}
	if (heads == NULL) {
		/*
		 * No list from recovery (a ring restart): every slot the live
		 * index marks (every one used if the lists cannot be had).
		 */
		nh = queue_heads_used(qu->vq.rec, qu->vq.num);
		heads = calloc(nh ? nh : 1, sizeof(*heads));
		words = calloc(nh ? nh : 1, sizeof(*words));
		if (heads != NULL && words != NULL)
			nh = queue_live_words(r, qu->idx, nh, heads, words);
		else {
			free(heads);
			free(words);
			heads = NULL;
			words = NULL;
		}
	}
	for (unsigned i = 0; i < nh; i++) {
		uint16_t h = heads != NULL ? heads[i] : (uint16_t)i;
		struct journal_slot_rec *s;
		uint64_t w;
		struct vring_chain c = { .iov = iov, .max = VRING_MAX_IOV };
		bool ours;
		int err;

		if (words != NULL && (journal_epoch(words[i]) != epoch ||
		    (journal_state(words[i]) != JOURNAL_POPPED &&
		     journal_state(words[i]) != JOURNAL_EXECUTING)))
			continue;
		s = region_slot(r, qu->idx, h);
		/* Bit, then word: a clear bit means the word is final. */
		pthread_mutex_lock(&qu->qs->pool_lock);
		ours = queue_blocked_head(qu, h);
		pthread_mutex_unlock(&qu->qs->pool_lock);
		w = region_load(&s->word);
		if (ours || journal_epoch(w) != epoch ||
		    (journal_state(w) != JOURNAL_POPPED &&
		     journal_state(w) != JOURNAL_EXECUTING) ||
		    !queue_blocking(s))
			continue;
		err = vring_walk(&qu->vq, (uint16_t)h, &c);
		if (err == 0)
			queue_wait_park(qu, (uint16_t)h, s, &c, qu->vq.gt, true);
		if (err < 0) {
			log_warnx("queue %u head %u: lock wait not resumed "
			    "(%s)", qu->idx, h, strerror(-err));
			continue;
		}
		n++;
	}
	free(heads);
	free(words);
	return n;
}

static struct pool_job *job_get(struct queue_set *qs);
static void pool_enqueue(struct queue *qu, struct pool_job *j);

/* Inline mode: hands a popped request to the pool (a copy of c). */
void
queue_pool_hand(struct queue *qu, uint16_t head, struct journal_slot_rec *slot,
    const struct vring_chain *c, enum queue_pool_why why)
{
	struct pool_job *j = job_get(qu->qs);

	j->why = why;
	if (why == POOL_LARGE)
		__atomic_add_fetch(&qu->nlarge, 1, __ATOMIC_RELAXED);
	j->head = head;
	j->slot = slot;
	j->c = *c;
	memcpy(j->iov, c->iov, (c->nrd + c->nwr) * sizeof(*c->iov));
	j->c.iov = j->iov;
	j->c.max = VRING_MAX_IOV;
	pool_enqueue(qu, j);
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
int
queue_dispatch_batch(struct queue *qu)
{
	struct queue_set *qs = qu->qs;
	unsigned n = 0;
	int err = 0;

	while (n < QUEUE_BATCH && !queue_stopping(qu)) {
		struct pool_job *j = job_get(qs);

		j->why = POOL_WAITS;
		j->c.iov = j->iov;
		j->c.max = VRING_MAX_IOV;
		err = queue_pop_one(qu, &j->head, &j->slot, &j->c);
		if (err <= 0) {
			pthread_mutex_lock(&qs->pool_lock);
			j->next = qs->free_jobs;
			qs->free_jobs = j;
			pthread_mutex_unlock(&qs->pool_lock);
			break;
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
	struct region_thread_rec *t;

	/* By itself, never through a /proc path (queue_main). */
	pthread_setname_np(pthread_self(), "phx-pool");
	pthread_mutex_lock(&qs->pool_lock);
	t = qs->pool_rec[qs->pool_rec_next++];
	pthread_mutex_unlock(&qs->pool_lock);
	t->tid = (uint64_t)gettid();
	(void)fault_thread_init(t);
	queue_thread_ring(qs->r, t);
	for (;;) {
		struct pool_job *j;
		struct vring_used_ent e;
		struct queue *qu;
		struct queue_timing qt;

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
		if (j->why == POOL_SLOWFS)
			queue_time_begin(qu, &qt, clock_now_ns(), true);
		e.len = queue_run_request(qs, qu->idx, j->head, j->slot, &j->c, t,
		    false);
		if (j->why == POOL_SLOWFS)
			queue_time_end(qu, &qt, false);
		if (e.len == QUEUE_RUN_PARKED)
			queue_wait_park(qu, j->head, j->slot, &j->c, j->gt,
			    false);
		else
			queue_push(qu, &e, 1);
		guestmem_put(j->gt);
		if (j->why == POOL_LARGE)
			__atomic_sub_fetch(&qu->nlarge, 1, __ATOMIC_RELAXED);

		pthread_mutex_lock(&qs->pool_lock);
		j->next = qs->free_jobs;
		qs->free_jobs = j;
		pthread_cond_signal(&qs->free_cv);
		/* Always: a ring stop waits for outstanding == nwaiting. */
		qu->outstanding--;
		pthread_cond_broadcast(&qu->drained);
		pthread_mutex_unlock(&qs->pool_lock);
	}
	queue_thread_release(t);
	return NULL;
}

/*
 * Claims the records of qs->npool pool threads (capped); 0 or -errno. The
 * threads come with queue_pool_spawn().
 */
int
queue_pool_start(struct queue_set *qs)
{
	if (qs->npool > REGION_MAX_THREADS - REGION_MAX_QUEUES - 5)
		qs->npool = REGION_MAX_THREADS - REGION_MAX_QUEUES - 5;
	if (qs->npool > 0) {
		qs->pool_th = calloc(qs->npool, sizeof(*qs->pool_th));
		qs->pool_rec = calloc(qs->npool, sizeof(*qs->pool_rec));
		if (qs->pool_th == NULL || qs->pool_rec == NULL) {
			qs->npool = 0;
			return -ENOMEM;
		}
		for (unsigned i = 0; i < qs->npool; i++) {
			/* Claimed before the thread runs (queue_int.h). */
			qs->pool_rec[i] = queue_thread_claim(qs->r);
			if (qs->pool_rec[i] == NULL) {
				qs->npool = i;
				return -EAGAIN;
			}
		}
	}
	if (qs->pool_first > qs->npool)
		qs->pool_first = qs->npool;
	return 0;
}

/* The pool threads, once (the first caller creates pool_first of them). */
void
queue_pool_spawn(struct queue_set *qs)
{
	if (__atomic_load_n(&qs->pool_spawn_once, __ATOMIC_ACQUIRE) ||
	    __atomic_exchange_n(&qs->pool_spawn_once, 1, __ATOMIC_ACQ_REL))
		return;
	for (unsigned i = 0; i < qs->pool_first; i++) {
		int err = pthread_create(&qs->pool_th[i], NULL, pool_main, qs);

		/* As a failed start at device creation was: the worker dies
		 * and the next one tries again. */
		if (err != 0)
			fatalx("cannot create a pool thread: %s", strerror(err));
		__atomic_store_n(&qs->pool_spawned, i + 1, __ATOMIC_RELEASE);
	}
}

/* Spawns the pool threads beyond the first (slow mode), once. */
static void
queue_pool_grow(struct queue_set *qs)
{
	/* After the first ones (one spawner at a time, queue threads). */
	if (__atomic_load_n(&qs->pool_spawned, __ATOMIC_ACQUIRE) <
	    qs->pool_first || qs->pool_first >= qs->npool ||
	    __atomic_load_n(&qs->pool_grow_once, __ATOMIC_ACQUIRE) ||
	    __atomic_exchange_n(&qs->pool_grow_once, 1, __ATOMIC_ACQ_REL))
		return;
	for (unsigned i = qs->pool_first; i < qs->npool; i++) {
		int err = pthread_create(&qs->pool_th[i], NULL, pool_main, qs);

		/* Fewer threads, not a dead worker: the pool still serves. */
		if (err != 0) {
			log_warnx("slow mode: pool thread %u: %s", i,
			    strerror(err));
			return;
		}
		__atomic_store_n(&qs->pool_spawned, i + 1, __ATOMIC_RELEASE);
	}
	log_info("a request took over %llu ms on the host: %u pool threads",
	    QUEUE_SLOW_NS / 1000000, qs->npool);
}

bool
queue_slowed(struct queue *qu, uint64_t now)
{
	return now < __atomic_load_n(&qu->slow_until, __ATOMIC_RELAXED);
}

/* The calling thread's voluntary context switches so far (it slept). */
static long
thread_sleeps(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : -1;
}

void
queue_time_begin(struct queue *qu, struct queue_timing *qt, uint64_t now,
    bool exact)
{
	qt->t0 = now;
	qt->sleeps = exact || qu->suspect > 0 ? thread_sleeps() : -1;
}

void
queue_time_end(struct queue *qu, struct queue_timing *qt, bool queue)
{
	uint64_t now = clock_now_ns();
	bool slow = now - qt->t0 > QUEUE_SLOW_NS;

	if (qt->sleeps < 0) {
		if (slow && queue) {
			qu->suspect = QUEUE_SLOW_CHECKS;
			qu->slow_hits = 0;
		}
		return;
	}
	slow = slow && thread_sleeps() > qt->sleeps;
	if (queue) {
		qu->suspect--;
		qu->slow_hits += slow;
		if (qu->slow_hits < QUEUE_SLOW_HITS)
			return;
		qu->suspect = 0;
	} else if (!slow) {
		return;
	}
	__atomic_store_n(&qu->slow_until, now + QUEUE_SLOW_HOLD_NS,
	    __ATOMIC_RELAXED);
	if (queue)
		queue_pool_grow(qu->qs);
}

/* Stops and joins the pool threads, frees the jobs. */
void
queue_pool_stop(struct queue_set *qs)
{
	struct pool_job *j;

	pthread_mutex_lock(&qs->pool_lock);
	qs->pool_stop = true;
	pthread_cond_broadcast(&qs->pool_cv);
	pthread_mutex_unlock(&qs->pool_lock);
	/* The queue threads are joined: no spawn is under way. */
	for (unsigned i = 0; i < qs->pool_spawned; i++)
		pthread_join(qs->pool_th[i], NULL);
	for (unsigned i = qs->pool_spawned; i < qs->npool; i++)
		queue_thread_release(qs->pool_rec[i]);
	free(qs->pool_th);
	free(qs->pool_rec);
	while ((j = qs->free_jobs) != NULL) {
		qs->free_jobs = j->next;
		free(j);
	}
}
