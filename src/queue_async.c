/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exactly-once operations the queue thread does not wait for (issue 10).
 * An UNLINK, RMDIR, MKDIR, SYMLINK or RENAME runs on the queue thread up
 * to its host operation, which it leaves on the thread's io_uring
 * (intent.h, intent_async_*): the request returns at once with nothing
 * committed and no reply, keeping its pins (the directory fds the op
 * names by number) and a copy of its chain here. When the completion
 * comes, its result is recorded in the slot (KNOWN) and the request runs
 * again from the top: its intent_* call returns the recorded result, and
 * the request commits and answers as if it had waited. The pool's two
 * wakeups per operation (queue thread to pool thread, and back from the
 * io-wq worker to the pool thread) are gone, and one thread keeps up to
 * INTENT_ASYNC_MAX operations in flight.
 *
 * After a crash nothing here exists: the slot is EXECUTING with its op
 * SUBMITTED on this thread's ring, or KNOWN, the same two states a worker
 * killed in a wait leaves, and recovery resolves them as it does those
 * (DESIGN 4 step 2, DESIGN 5). Heap memory of the queue thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fuse.h>

#include "crashpoint.h"
#include "guestmem.h"
#include "inode.h"
#include "intent.h"
#include <liburing.h>
#include "log.h"
#include "pin.h"
#include "queue_int.h"

struct queue_async_job {
	struct queue_async_job *next;
	uint64_t key; /* (queue, head, gen) of its op on the ring */
	uint16_t head;
	struct journal_slot_rec *slot;
	struct guestmem_table *gt; /* reference: the iovecs point into it */
	struct vring_chain c;
	struct pin_set pins;
	struct inode_memo memo; /* the inodes its first run resolved */
	struct iovec iov[VRING_MAX_IOV];
};

/* The run that just left its op in flight (queue_run_request): its key
 * (queue, head, gen) and pins. */
static __thread uint64_t left_key;
static __thread struct pin_set left_pins;
static __thread struct inode_memo left_memo;

bool
queue_async_candidate(const struct queue *qu, const struct journal_slot_rec *slot)
{
	const struct queue_set *qs = qu->qs;

	if (!qs->journal || qu->heap != NULL || !intent_available() ||
	    qu->nasync >= INTENT_ASYNC_MAX ||
	    (qs->cfg != NULL &&
		qs->cfg->inode_file_handles != CONFIG_IFH_NEVER))
		return false;
	switch (queue_slot_opcode(slot)) {
	case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_MKDIR:
	case FUSE_SYMLINK: case FUSE_RENAME: case FUSE_RENAME2:
		return true;
	case FUSE_CREATE: {
		struct fuse_create_in in;

		/*
		 * O_EXCL only: the one creation that is a single io_uring
		 * op (pt_once.c).
		 */
		if (slot->req_len < sizeof(struct fuse_in_header) + sizeof(in))
			return false;
		memcpy(&in, slot->req + sizeof(struct fuse_in_header),
		    sizeof(in));
		return (in.flags & O_EXCL) && !(in.flags & O_TRUNC);
	}
	default:
		return false;
	}
}

void
queue_async_left(uint64_t key)
{
	left_key = key;
	pin_detach(&left_pins);
	inode_memo_detach(&left_memo);
}

int
queue_async_run(struct queue *qu, uint16_t head, struct journal_slot_rec *slot,
    const struct vring_chain *c, struct region_thread_rec *t,
    uint32_t *ret_len)
{
	struct queue_async_job *j;
	uint32_t len;

	intent_async_allow(true);
	len = queue_run_request(qu->qs, qu->idx, head, slot, c, t, false);
	intent_async_allow(false);
	if (len != QUEUE_RUN_LEFT) {
		*ret_len = len;
		return 0;
	}
	/* Tests: an OPENAT out, its fd installed, not yet recorded. */
	DELAYPOINT("queue.async_gap");
	j = qu->async_free;
	if (j != NULL)
		qu->async_free = j->next;
	else if ((j = malloc(sizeof(*j))) == NULL)
		fatalx("out of memory for a request in flight");
	j->key = left_key;
	j->head = head;
	j->slot = slot;
	j->gt = guestmem_ref(qu->vq.gt);
	j->c = *c;
	memcpy(j->iov, c->iov, (c->nrd + c->nwr) * sizeof(*c->iov));
	j->c.iov = j->iov;
	j->c.max = VRING_MAX_IOV;
	j->pins = left_pins;
	left_pins.n = 0;
	j->memo = left_memo;
	j->next = qu->async;
	qu->async = j;
	qu->nasync++;
	/* Tests: killed with requests out, their ops done or not. */
	CRASHPOINT("queue.async_left");
	return 1;
}

/* Runs the request of key again and frees its job; false if unknown. */
static bool
finish(struct queue *qu, struct region_thread_rec *t, uint64_t key,
    struct vring_used_ent *e)
{
	struct queue_async_job **pp = &qu->async, *j;

	while ((j = *pp) != NULL && j->key != key)
		pp = &j->next;
	if (j == NULL)
		return false;
	*pp = j->next;
	qu->nasync--;
	/* Tests: the result is KNOWN in the slot, the request not run. */
	CRASHPOINT("queue.async_rerun");
	DELAYPOINT("queue.async_rerun"); /* tests: the fd sweep runs here */
	intent_async_resume(true);
	/*
	 * Its inodes as its first run found them: a hostile FORGET of its
	 * directory meanwhile must not make a done op answer ESTALE (the
	 * kept pins hold their fds open).
	 */
	inode_memo_attach(&j->memo);
	e->id = j->head;
	e->len = queue_run_request(qu->qs, qu->idx, j->head, j->slot, &j->c,
	    t, false);
	intent_async_resume(false);
	pin_put_set(&j->pins);
	guestmem_put(j->gt);
	/* Kept for the next one: at most INTENT_ASYNC_MAX ever allocated. */
	j->next = qu->async_free;
	qu->async_free = j;
	return true;
}

unsigned
queue_async_reap(struct queue *qu, struct region_thread_rec *t, bool wait)
{
	struct vring_used_ent e[INTENT_ASYNC_MAX];
	uint64_t keys[INTENT_ASYNC_MAX];
	unsigned n, done = 0;

	if (qu->nasync == 0)
		return 0;
	n = intent_async_reap(keys, INTENT_ASYNC_MAX, wait);
	for (unsigned i = 0; i < n; i++)
		if (finish(qu, t, keys[i], &e[done]))
			done++;
	queue_push(qu, e, done);
	return done;
}

void
queue_async_drain(struct queue *qu, struct region_thread_rec *t)
{
	struct queue_async_job *j;

	while (qu->nasync > 0 && intent_async_inflight() > 0)
		(void)queue_async_reap(qu, t, true);
	if (qu->nasync > 0) {
		/* Cannot happen: a job whose op left no completion. */
		log_warnx("queue %u: %u requests in flight lost their "
		    "completion; recovery answers them", qu->idx, qu->nasync);
	}
	while ((j = qu->async_free) != NULL) {
		qu->async_free = j->next;
		free(j);
	}
}
