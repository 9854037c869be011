/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parked lock waits. A SETLKW (or a flock without LOCK_NB) whose lock is
 * taken runs once where it was popped (queue or pool thread) and parks:
 * nothing committed but its owner's OFD (committed before the lock call,
 * DESIGN 5), no reply, its slot EXECUTING, a copy of its chain here. One
 * waiter thread per queue set, with one thread record, retries every
 * parked wait from the top (queue_run_request: the owner's OFD found
 * again, the same lock call, a no-op once that OFD holds the lock), in
 * park order, 1 to 50 ms apart per wait, and at once for the waits on a
 * nodeid where a request may have released locks (fuse_req.unlocked): so
 * the oldest wait that can take a lock freed through us takes it, within
 * one pass. A wait that takes its lock commits and pushes as any request.
 * No thread and no thread record per wait: as many waits as heads.
 *
 * The reply gate (queue_int.h): a retry runs only inside it, so a stopped
 * ring (a VM pause) leaves its waits parked and untried until it goes on;
 * queue_end_waits() drops them unanswered (a device reset: the new ring
 * epoch frees their slots). A wait whose guest session ended, or that the
 * guest interrupted (FUSE_INTERRUPT), answers EINTR; an interrupted one
 * tries its lock once more first, and answers 0 if it has it (a kill
 * between a retry's lock call and its commit left it taken).
 *
 * After a crash nothing here exists: a parked wait is a live SETLKW slot,
 * which recovery leaves live and the queue thread parks again
 * (queue_resume_waits); its retry finds the OFD and any lock it took.
 * An interrupt is not persisted: one lost with the worker leaves the wait
 * waiting, as a daemon that ignores interrupts would.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "clock.h"
#include "crashpoint.h"
#include "fault.h"
#include "guestmem.h"
#include "log.h"
#include "queue_int.h"

#define WAIT_FIRST_NS 1000000ull     /* first retry of a parked wait */
#define WAIT_MAX_NS   50000000ull    /* the slowest retry */
#define WAIT_GATE_NS  20000000ull    /* a stopped ring's waits: re-check */
#define WAIT_INTR_NS  1000000000ull  /* an early interrupt is kept this long */
/*
 * Restarts from the oldest wait within one pass: past them the pass goes
 * on to the end. An unlock restarts it (fairness: the oldest wait takes
 * a freed lock), but every answered SETLK F_UNLCK counts as an unlock,
 * so a storm of them (thousands a second, from any guest process, on
 * any file with waits) restarted the pass before it reached the younger
 * waits, whose lock could be free: 1000 waits on one file starved a wait
 * on another for as long as the storm went on (recovery.sh lockstorm).
 */
#define WAIT_RESTARTS 8

struct queue_wait {
	struct queue_wait *prev, *next; /* park order, under wait_lock */
	struct queue *qu;
	uint16_t head;
	struct journal_slot_rec *slot;
	struct guestmem_table *gt; /* reference: the iovecs point into it */
	uint64_t unique, nodeid;   /* from the slot's copy of the header */
	uint64_t sessions;	   /* the guest session it waits in */
	uint64_t due, delay;	   /* next retry (clock_now_ns), backoff */
	bool interrupted;	   /* FUSE_INTERRUPT named it */
	bool answered;		   /* pushed: its head's bit already cleared */
	struct vring_chain c;
	struct iovec iov[];
};

__thread int queue_wait_end;
/* The lock wait thread: its own grants kick nothing (queue_wait_kick). */
static __thread bool on_wait_thread;

static void
unlink_wait(struct queue_set *qs, struct queue_wait *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		qs->wait_first = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		qs->wait_last = w->prev;
}

/* Under wait_lock: an interrupt that came before its wait parked. */
static bool
early_interrupt(struct queue_set *qs, uint64_t unique, uint64_t now)
{
	for (unsigned i = 0; i < QUEUE_WAIT_INTR; i++)
		if (qs->intr[i] == unique && unique != 0 &&
		    now - qs->intr_at[i] < WAIT_INTR_NS) {
			qs->intr[i] = 0;
			return true;
		}
	return false;
}

static void *wait_main(void *arg);

void
queue_wait_park(struct queue *qu, uint16_t head, struct journal_slot_rec *slot,
    const struct vring_chain *c, struct guestmem_table *gt, bool now)
{
	struct queue_set *qs = qu->qs;
	unsigned n = c->nrd + c->nwr;
	struct queue_wait *w = malloc(sizeof(*w) + n * sizeof(struct iovec));
	struct fuse_in_header ih;
	uint64_t t = clock_now_ns();
	int err;

	if (w == NULL)
		fatalx("out of memory for a lock wait");
	memset(w, 0, sizeof(*w));
	w->qu = qu;
	w->head = head;
	w->slot = slot;
	w->gt = guestmem_ref(gt);
	memset(&ih, 0, sizeof(ih));
	memcpy(&ih, slot->req, MIN(sizeof(ih), (size_t)slot->req_len));
	w->unique = ih.unique;
	w->nodeid = ih.nodeid;
	w->sessions = region_load(&qs->r->fuse->sessions);
	w->delay = WAIT_FIRST_NS;
	w->due = now ? 0 : t + WAIT_FIRST_NS;
	w->c = *c;
	memcpy(w->iov, c->iov, n * sizeof(*c->iov));
	w->c.iov = w->iov;
	w->c.max = n;
	pthread_mutex_lock(&qs->pool_lock);
	qu->outstanding++;
	qu->nwaiting++;
	qu->blocking[head / 64] |= 1ull << (head % 64);
	pthread_mutex_unlock(&qs->pool_lock);
	pthread_mutex_lock(&qs->wait_lock);
	w->interrupted = early_interrupt(qs, w->unique, t);
	if (w->interrupted)
		w->due = 0;
	w->prev = qs->wait_last;
	if (qs->wait_last != NULL)
		qs->wait_last->next = w;
	else
		qs->wait_first = w;
	qs->wait_last = w;
	__atomic_add_fetch(&qs->nparked, 1, __ATOMIC_RELEASE);
	if (!qs->wait_started) {
		/* As a pool thread's: the worker dies, the next one retries. */
		err = pthread_create(&qs->wait_th, NULL, wait_main, qs);
		if (err != 0)
			fatalx("cannot create the lock wait thread: %s",
			    strerror(err));
		qs->wait_started = true;
	}
	qs->wait_pass = true;
	pthread_cond_signal(&qs->wait_cv);
	pthread_mutex_unlock(&qs->wait_lock);
}

bool
queue_blocked_head(const struct queue *qu, uint16_t head)
{
	return head < REGION_MAX_QUEUE_SIZE &&
	    (qu->blocking[head / 64] & 1ull << (head % 64)) != 0;
}

void
queue_wait_kick(struct queue_set *qs, uint64_t nodeid)
{
	bool any = false;

	/*
	 * Pairs with the release add in queue_wait_park(). A retry that got
	 * a read lock freed nothing (a parked wait never conflicted with its
	 * own locks): kicking from there would restart the pass at every
	 * grant of a convoy of readers, N passes over N waits.
	 */
	if (on_wait_thread ||
	    __atomic_load_n(&qs->nparked, __ATOMIC_ACQUIRE) == 0)
		return;
	pthread_mutex_lock(&qs->wait_lock);
	for (struct queue_wait *w = qs->wait_first; w != NULL; w = w->next)
		if (nodeid == 0 || w->nodeid == nodeid) {
			w->due = 0;
			w->delay = WAIT_FIRST_NS;
			any = true;
		}
	if (any) {
		qs->wait_pass = true;
		pthread_cond_signal(&qs->wait_cv);
	}
	pthread_mutex_unlock(&qs->wait_lock);
}

void
queue_wait_wake(struct queue_set *qs)
{
	pthread_mutex_lock(&qs->wait_lock);
	qs->wait_pass = true;
	pthread_cond_signal(&qs->wait_cv);
	pthread_mutex_unlock(&qs->wait_lock);
}

void
queue_wait_interrupt(struct queue_set *qs, uint64_t unique)
{
	uint64_t now = clock_now_ns();
	struct queue_wait *w;

	pthread_mutex_lock(&qs->wait_lock);
	for (w = qs->wait_first; w != NULL; w = w->next)
		if (w->unique == unique)
			break;
	if (w != NULL) {
		w->interrupted = true;
		w->due = 0;
		qs->wait_pass = true;
		pthread_cond_signal(&qs->wait_cv);
	} else {
		/* Its SETLKW may still be on its way (another queue). */
		qs->intr[qs->intr_next] = unique;
		qs->intr_at[qs->intr_next] = now;
		qs->intr_next = (qs->intr_next + 1) % QUEUE_WAIT_INTR;
	}
	pthread_mutex_unlock(&qs->wait_lock);
}

void
queue_wait_forget_interrupts(struct queue_set *qs)
{
	pthread_mutex_lock(&qs->wait_lock);
	memset(qs->intr, 0, sizeof(qs->intr));
	pthread_mutex_unlock(&qs->wait_lock);
}

/*
 * The ring's reply gate: 1 inside (held for reading), 0 the ring is
 * stopped (retry later), -1 its waits end unanswered (queue_end_waits).
 * Only ever tried: queue_stop() takes it for writing (writers first).
 */
static int
gate_enter(struct queue *qu)
{
	if (__atomic_load_n(&qu->cancel_waits, __ATOMIC_ACQUIRE))
		return -1;
	if (__atomic_load_n(&qu->held, __ATOMIC_ACQUIRE) ||
	    pthread_rwlock_tryrdlock(&qu->gate) != 0)
		return 0;
	if (__atomic_load_n(&qu->held, __ATOMIC_ACQUIRE)) {
		pthread_rwlock_unlock(&qu->gate);
		return 0;
	}
	return 1;
}

/* The guest session the wait belongs to ended (DESTROY, or an INIT). */
static bool
session_over(const struct region *r, uint64_t sessions)
{
	return region_load(&r->fuse->initialized) == 0 ||
	    region_load(&r->fuse->sessions) != sessions;
}

/*
 * Retries w (not under wait_lock): true when it is over (answered and
 * pushed, or dropped with its ring), false when it stays parked (due
 * set). Its slot is the wait's alone while parked.
 */
static bool
retry(struct queue_set *qs, struct queue_wait *w, struct region_thread_rec *t,
    uint64_t now)
{
	struct queue *qu = w->qu;
	struct vring_used_ent e = { .id = w->head };
	uint32_t len;
	int in = gate_enter(qu);

	if (in < 0)
		return true;
	if (in == 0) {
		w->due = now + WAIT_GATE_NS;
		return false;
	}
	/* Tests: a slow lock call (a network file system), a storm. */
	DELAYPOINT("queue.wait_retry");
	queue_wait_end = 0;
	if (session_over(qs->r, w->sessions))
		queue_wait_end = -EINTR;
	else if (w->interrupted)
		queue_wait_end = 1; /* one more try (fuse_req.wait_end) */
	len = queue_run_request(qs, qu->idx, w->head, w->slot, &w->c, t,
	    false);
	queue_wait_end = 0;
	if (len == QUEUE_RUN_PARKED) {
		pthread_rwlock_unlock(&qu->gate);
		w->due = now + w->delay;
		w->delay = MIN(w->delay * 2, WAIT_MAX_NS);
		return false;
	}
	e.len = len;
	/*
	 * The head's bit goes before the push, while the slot is REPLIED
	 * (final for queue_resume_waits): once pushed, the guest may re-post
	 * the head with a SETLKW that parks and sets the bit again, which
	 * drop_wait() then cleared: a ring restart (a VM pause and cont)
	 * parked that wait a second time, and its head completed twice
	 * (recovery.sh waithead).
	 */
	pthread_mutex_lock(&qs->pool_lock);
	qu->blocking[w->head / 64] &= ~(1ull << (w->head % 64));
	pthread_mutex_unlock(&qs->pool_lock);
	w->answered = true;
	queue_push(qu, &e, 1);
	pthread_rwlock_unlock(&qu->gate);
	/* Tests: the guest re-posts the head before the wait is dropped. */
	DELAYPOINT("queue.wait_pushed");
	return true;
}

/* Under wait_lock: w is over; unlinked, its counts dropped, freed. */
static void
drop_wait(struct queue_set *qs, struct queue_wait *w)
{
	struct queue *qu = w->qu;

	unlink_wait(qs, w);
	__atomic_sub_fetch(&qs->nparked, 1, __ATOMIC_RELAXED);
	guestmem_put(w->gt);
	pthread_mutex_lock(&qs->pool_lock);
	if (!w->answered) /* dropped unanswered: its slot stays live */
		qu->blocking[w->head / 64] &= ~(1ull << (w->head % 64));
	qu->nwaiting--;
	qu->outstanding--;
	pthread_cond_broadcast(&qu->drained);
	pthread_mutex_unlock(&qs->pool_lock);
	free(w);
}

static void *
wait_main(void *arg)
{
	struct queue_set *qs = arg;
	struct region_thread_rec *t = qs->wait_rec;
	unsigned restarts = 0; /* of the pass under way (WAIT_RESTARTS) */

	/* By itself, never through a /proc path (queue_main). */
	pthread_setname_np(pthread_self(), "phx-wait");
	on_wait_thread = true;
	t->tid = (uint64_t)gettid();
	(void)fault_thread_init(t);
	queue_thread_ring(qs->r, t);
	pthread_mutex_lock(&qs->wait_lock);
	while (!qs->wait_stop) {
		uint64_t now = clock_now_ns(), next = UINT64_MAX;
		struct queue_wait *w, *nw;
		struct timespec ts;

		qs->wait_pass = false;
		/*
		 * Park order: the oldest wait that can take a freed lock
		 * takes it. Only this thread unlinks, so w stays valid while
		 * the lock is dropped for its retry, and w->next is read
		 * after (a park may have appended).
		 */
		for (w = qs->wait_first; w != NULL; w = nw) {
			bool over;

			if (w->due > now &&
			    !__atomic_load_n(&w->qu->cancel_waits,
				__ATOMIC_ACQUIRE)) {
				next = MIN(next, w->due);
				nw = w->next;
				continue;
			}
			pthread_mutex_unlock(&qs->wait_lock);
			over = retry(qs, w, t, now);
			pthread_mutex_lock(&qs->wait_lock);
			nw = w->next;
			if (over)
				drop_wait(qs, w);
			else
				next = MIN(next, w->due);
			/*
			 * A kick meanwhile (a lock freed): again from the
			 * oldest, or a younger wait later in this pass takes
			 * the lock an older one waits for; but only so many
			 * times (WAIT_RESTARTS), then to the end.
			 */
			if (qs->wait_pass && restarts < WAIT_RESTARTS) {
				restarts++;
				break;
			}
		}
		if (w == NULL)
			restarts = 0; /* the pass reached the youngest */
		fault_end();
		if (qs->wait_pass || qs->wait_stop)
			continue;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&qs->wait_cv, &qs->wait_lock);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		(void)pthread_cond_clockwait(&qs->wait_cv, &qs->wait_lock,
		    CLOCK_MONOTONIC, &ts);
	}
	pthread_mutex_unlock(&qs->wait_lock);
	queue_thread_release(t);
	return NULL;
}

int
queue_wait_init(struct queue_set *qs)
{
	pthread_mutex_init(&qs->wait_lock, NULL);
	pthread_cond_init(&qs->wait_cv, NULL);
	/* Claimed now: the thread starts with the first wait, any time. */
	qs->wait_rec = queue_thread_claim(qs->r);
	return qs->wait_rec != NULL ? 0 : -EAGAIN;
}

void
queue_wait_fini(struct queue_set *qs)
{
	pthread_mutex_lock(&qs->wait_lock);
	qs->wait_stop = true;
	pthread_cond_signal(&qs->wait_cv);
	pthread_mutex_unlock(&qs->wait_lock);
	if (qs->wait_started)
		pthread_join(qs->wait_th, NULL);
	else
		queue_thread_release(qs->wait_rec);
	qs->wait_rec = NULL;
}
