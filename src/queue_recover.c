/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Recovery of the rings by a new worker (DESIGN 4 steps 3-5), before its
 * queue threads start: settle each publish record, push what was replied,
 * set last_avail_idx from the live slots, and replay every live slot,
 * oldest first, one at a time on this thread (so a crash is charged to the
 * request that caused it; DESIGN 6's culprit search).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "compiler.h"
#include "crashpoint.h"
#include "fault.h"
#include "log.h"
#include "phase.h"
#include "queue_int.h"
#include "redo.h"
#include "stats.h"

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


/*
 * The state words of a queue's maybe-live slots, read through the
 * region's memfd (pread: the kernel's own mapping of the page cache), not
 * through ours: this worker's mm is new, and the first touch of each of
 * the ring's 8 KiB slots through it costs a page-table fill each (about
 * 5 us on a virtualised host: 5 ms for a 512-entry ring before the first
 * reply, measured). Which slots: the live index's marks (one read of at
 * most 1 KiB), so a kill costs a read per slot in flight, not one per
 * head ever used (1,024 reads, 2.4 ms at p50, measured). A region
 * without its memfd at REGION_FD_STATE (unit tests) is read through the
 * mapping.
 */
unsigned
queue_live_words(const struct region *r, unsigned q, unsigned used,
    uint16_t *ret_heads, uint64_t *ret_words)
{
	const uint8_t *live = region_live(r, q);
	uint8_t marks[REGION_MAX_QUEUE_SIZE];
	struct stat sb;
	bool fd_ok = fstat(REGION_FD_STATE, &sb) == 0 &&
	    (uint64_t)sb.st_size == r->size;
	unsigned n = 0;

	used = MIN(used, (unsigned)REGION_MAX_QUEUE_SIZE);
	if (live == NULL)
		memset(marks, 1, used);
	else if (!fd_ok || pread(REGION_FD_STATE, marks, used,
	    (off_t)region_off(r, live)) != (ssize_t)used) {
		for (unsigned h = 0; h < used; h++)
			marks[h] = __atomic_load_n(&live[h], __ATOMIC_ACQUIRE);
	}
	/*
	 * Marks, then words: a slot marked after our read of its mark was
	 * FREE before it (set before the word leaves FREE), and no writer
	 * runs here (recovery, or the queue's own thread before it pops).
	 */
	for (unsigned h = 0; h < used; h++) {
		if (marks[h] == 0)
			continue;
		ret_words[n] = region_slot_word(r, fd_ok ? REGION_FD_STATE : -1,
		    q, h);
		ret_heads[n++] = (uint16_t)h;
	}
	return n;
}

struct live {
	uint16_t head;
	uint32_t age;		/* last_avail - pos: larger = older */
};

/*
 * Oldest (largest age) first. Not qsort(): glibc's (2.36) asks
 * sysconf(_SC_PHYS_PAGES), a sysinfo() the worker's seccomp filter
 * refuses, once the array passes 1 KiB (128 live slots): a worker killed
 * with that many requests in flight then died in every recovery.
 */
static void
sort_live(struct live *v, unsigned n)
{
	static const unsigned gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

	for (unsigned g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++)
		for (unsigned i = gaps[g]; i < n; i++) {
			struct live x = v[i];
			unsigned j = i;

			for (; j >= gaps[g] && v[j - gaps[g]].age < x.age;
			     j -= gaps[g])
				v[j] = v[j - gaps[g]];
			v[j] = x;
		}
}

static int
recover_queue(struct queue_set *qs, unsigned q, struct region_thread_rec *t,
    struct queue_recover_stats *st)
{
	struct queue *qu = &qs->q[q];
	struct region_queue_rec *rec = &qs->r->dev->queue[q];
	struct vring_used_ent *e = NULL;
	struct live *live = NULL;
	uint64_t *words = NULL;
	uint16_t *heads = NULL;
	uint16_t epoch = (uint16_t)rec->epoch, saved, best, avail, num;
	unsigned used, nm;
	unsigned ne = 0, nl = 0, pushed = 0;
	bool settled;
	int err;

	err = queue_reattach(qu);
	if (err < 0)
		goto broken;
	num = qu->vq.num;
	used = queue_heads_used(rec, num);
	e = calloc(num, sizeof(*e));
	live = calloc(num, sizeof(*live));
	words = calloc(num, sizeof(*words));
	heads = calloc(num, sizeof(*heads));
	if (e == NULL || live == NULL || words == NULL || heads == NULL) {
		err = -ENOMEM;
		goto out;
	}
	/* Step 3: settle the publish record, then push what was replied. */
	err = vring_settle_publish(&qu->vq);
	settled = err > 0;
	if (err > 0)
		st->settled++;
	/* After the settle, which frees the slots it publishes. */
	nm = queue_live_words(qs->r, q, used, heads, words);
	for (unsigned i = 0; i < nm; i++) {
		struct journal_slot_rec *s;
		uint64_t w = words[i];
		uint16_t h = heads[i];

		/* A mark a kill left after the free (single-threaded here). */
		if (journal_state(w) == JOURNAL_FREE)
			region_live_clear(qs->r, q, h);
		if (journal_epoch(w) != epoch ||
		    journal_state(w) != JOURNAL_REPLIED)
			continue;
		/* vring_push() below frees it. */
		words[i] = journal_with_state(w, JOURNAL_FREE);
		s = region_slot(qs->r, q, h);
		e[ne].id = h;
		e[ne].len = (uint32_t)MIN(s->reply_len, s->out_total);
		ne++;
	}
	if (ne > 0) {
		(void)vring_push(&qu->vq, e, ne);
		st->pushed += ne;
	}
	pushed = ne;
	/*
	 * Step 4: last_avail_idx from the live slots. Only the newest pop can
	 * be ahead of it (pop_one: POPPED, then the index), and only by one.
	 * Every other live slot is behind, by any distance: a request held by
	 * the pool or a parked lock wait while the guest cycles its other heads
	 * lets the index run far past it (more than the ring size: such a
	 * slot was once dropped here as corrupt, and its request lost). A
	 * slot held for a multiple of 65536 pops also shows pos == saved: the
	 * newest pop is the one whose head the avail ring still holds there
	 * (the guest cannot have overwritten that entry: it would need more
	 * heads than the ring has), a held one's head is in flight elsewhere.
	 */
	saved = (uint16_t)rec->last_avail_idx;
	best = saved;
	for (unsigned i = 0; i < nm; i++) {
		uint64_t w = words[i];
		enum journal_state s = journal_state(w);
		uint16_t h = heads[i], at;

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
	for (unsigned i = 0; i < nm; i++) {
		struct journal_slot_rec *s;
		uint64_t w = words[i];
		uint16_t h = heads[i];
		enum journal_state js = journal_state(w);
		uint32_t age = (uint16_t)(best - journal_pos(w));

		if (journal_epoch(w) != epoch || js == JOURNAL_FREE)
			continue;
		/*
		 * age 0 with best == saved: no newest pop sits at saved (see
		 * above), so this slot was held exactly k x 65536 pops: the
		 * oldest (it was dropped here as corrupt, its request never
		 * answered: issue 11 defect 2). age 0 with best == saved + 1:
		 * "popped" at an index not yet reached: corrupt.
		 */
		if (age == 0 && best == saved)
			age = 65536;
		s = region_slot(qs->r, q, h);
		if ((js != JOURNAL_POPPED && js != JOURNAL_EXECUTING) ||
		    age == 0) {
			region_store(&s->word, journal_with_state(w,
			    JOURNAL_FREE));
			region_live_clear(qs->r, q, h);
			st->dropped++;
			continue;
		}
		live[nl].head = (uint16_t)h;
		live[nl].age = age;
		nl++;
	}
	sort_live(live, nl);
	/*
	 * The thread's io_uring, for the replays' exactly-once operations:
	 * set up only if there are any (most kills leave none live, and the
	 * set-up costs 0.2-0.3 ms of the stall, measured).
	 */
	if (nl > 0)
		queue_thread_ring(qs->r, t);
	free(qu->waits);
	qu->waits = calloc(num, sizeof(*qu->waits));
	qu->nwaits = 0;
	ne = 0;
	for (unsigned i = 0; i < nl; i++) {
		struct journal_slot_rec *s = region_slot(qs->r, q, live[i].head);
		struct vring_chain c = { .iov = qu->iov, .max = VRING_MAX_IOV };
		uint32_t len = 0;
		uint64_t key;
		int res = 0;

		/* Tests: a recovery that dies before its first replay. */
		CRASHPOINT("queue.recover_replay");
		/*
		 * DESIGN 4 step 5: a lock wait waits again, on a thread that
		 * may block; recovery must not (it answered EINTR, which the
		 * guest turned into errno 512: issue 11 defect 3). The slot
		 * stays live; queue_resume_waits() parks it when the queue
		 * starts (queue_wait.c).
		 */
		if (queue_blocking(s)) {
			st->waits++;
			if (qu->waits != NULL)
				qu->waits[qu->nwaits++] = live[i].head;
			continue;
		}
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
			stats_quarantined(qs->r, s, q, live[i].head);
			log_warnx("queue %u head %u: request crashed the worker "
			    "%llu times: quarantined (EIO)", q, live[i].head,
			    (unsigned long long)fault_crashes(qs->r, key));
		}
		if (res == 0)
			len = queue_run_request(qs, q, live[i].head, s, &c, t, true);
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
	/*
	 * Tell the guest now: the queue thread signals again before its
	 * first sleep, but a queue stopped before that never would, and
	 * the completions above would wait unseen (issue 11 defect 14).
	 */
	if (ne > 0 || pushed > 0 || settled)
		(void)vring_notify(&qu->vq);
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
	free(words);
	free(heads);
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
	/* No io_uring yet: only a replay needs one (recover_queue). */
	phase_mark(PHASE_W_URING);
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
	if (err == 0) {
		*ret = st;
		stats_recovery_counts(qs->r, st.replayed + st.executing,
		    st.quarantined);
	}
	return err;
}
