/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Redo transactions (DESIGN 3 step 4). Each worker thread owns one log in
 * its region_thread_rec. The log's state word is seq << 2 | REDO_*, stored
 * with release semantics after the entries and their checksum, so a reader
 * that sees COMMITTED sees the whole list. Locks and fd closes registered
 * with a transaction happen only after DONE: whoever rolls a committed log
 * forward after a crash finds the tables exactly as the dead thread left
 * them under its locks.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fdtab.h"
#include "redo.h"

static uint64_t
checksum(const struct region_redo_ent *e, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ n;

	for (uint64_t i = 0; i < n; i++) {
		h = (h ^ e[i].off) * 0x100000001b3ULL;
		h = (h ^ e[i].val) * 0x100000001b3ULL;
	}
	return h;
}

void
redo_begin(struct redo_txn *tx, struct region *r, struct region_thread_rec *t)
{
	tx->r = r;
	tx->t = t;
	tx->count = 0;
	tx->nclose = 0;
	tx->nlocks = 0;
	tx->nabort = 0;
	tx->held = 0;
}

int
redo_set(struct redo_txn *tx, const void *field, uint64_t val)
{
	const uint8_t *p = field;
	uint64_t off;

	if (p < tx->r->base || p + 8 > tx->r->base + tx->r->size)
		return -EINVAL;
	off = (uint64_t)(p - tx->r->base);
	if (off % 8)
		return -EINVAL;
	/* Overwrite an entry for the same word: keeps the log short. */
	for (unsigned i = tx->count; i-- > 0;) {
		if (tx->t->redo[i].off == off) {
			tx->t->redo[i].val = val;
			return 0;
		}
	}
	if (tx->count >= REGION_REDO_MAX)
		return -ENOSPC;
	tx->t->redo[tx->count].off = off;
	tx->t->redo[tx->count].val = val;
	tx->count++;
	return 0;
}

uint64_t
redo_get(const struct redo_txn *tx, const void *field)
{
	uint64_t off = (uint64_t)((const uint8_t *)field - tx->r->base);

	for (unsigned i = tx->count; i-- > 0;)
		if (tx->t->redo[i].off == off)
			return tx->t->redo[i].val;
	return __atomic_load_n((const uint64_t *)field, __ATOMIC_ACQUIRE);
}

unsigned
redo_room(const struct redo_txn *tx)
{
	return REGION_REDO_MAX - tx->count;
}

int
redo_close_after_fn(struct redo_txn *tx, int fd, redo_close_fn *fn,
    uint64_t key)
{
	if (fd < 0)
		return 0;
	if (tx->nclose >= REDO_MAX_CLOSE)
		return -ENOSPC;
	/*
	 * Before the commit that drops its reference: the fd sweep, reading
	 * the tables after its snapshot, then sees the reference or this.
	 */
	fdtab_note(fd);
	tx->close_fn[tx->nclose] = fn;
	tx->close_key[tx->nclose] = key;
	tx->close_fds[tx->nclose++] = fd;
	return 0;
}

int
redo_close_after(struct redo_txn *tx, int fd)
{
	return redo_close_after_fn(tx, fd, NULL, 0);
}

int
redo_close_on_abort(struct redo_txn *tx, int fd)
{
	if (fd < 0)
		return 0;
	if (tx->nabort >= REDO_MAX_CLOSE)
		return -ENOSPC;
	tx->abort_fds[tx->nabort++] = fd;
	return 0;
}

int
redo_unlock_after(struct redo_txn *tx, pthread_mutex_t *m)
{
	if (tx->nlocks >= REDO_MAX_LOCKS)
		return -ENOSPC;
	tx->locks[tx->nlocks++] = m;
	return 0;
}

static void
apply(uint8_t *base, const struct region_redo_ent *e, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		__atomic_store_n((uint64_t *)(base + e[i].off), e[i].val,
		    __ATOMIC_RELAXED);
}

static void
release_all(struct redo_txn *tx, bool aborted)
{
	if (!aborted)
		for (unsigned i = 0; i < tx->nclose; i++) {
			if (tx->close_fn[i] != NULL)
				tx->close_fn[i](tx->close_fds[i],
				    tx->close_key[i]);
			else
				close(tx->close_fds[i]);
		}
	else
		for (unsigned i = 0; i < tx->nabort; i++)
			close(tx->abort_fds[i]);
	for (unsigned i = tx->nlocks; i-- > 0;)
		pthread_mutex_unlock(tx->locks[i]);
	tx->nclose = 0;
	tx->nabort = 0;
	tx->nlocks = 0;
	tx->held = 0;
	tx->count = 0;
}

void
redo_commit(struct redo_txn *tx)
{
	struct region_thread_rec *t = tx->t;
	uint64_t seq = (t->redo_state >> 2) + 1;

	if (tx->count > 0) {
		t->redo_count = tx->count;
		t->redo_csum = checksum(t->redo, tx->count);
		/* Orders entries + csum before COMMITTED for redo_recover(). */
		region_store(&t->redo_state, seq << 2 | REDO_COMMITTED);
		apply(tx->r->base, t->redo, tx->count);
		/* Orders the applied values before DONE. */
		region_store(&t->redo_state, seq << 2 | REDO_DONE);
	}
	if (tx->nclose > 0)
		CRASHPOINT("redo.before_close"); /* tests: a close lost */
	release_all(tx, false);
}

void
redo_abort(struct redo_txn *tx)
{
	release_all(tx, true);
}

int
redo_recover(struct region *r)
{
	int rolled = 0;
	bool corrupt = false;

	/* Only records ever claimed can hold a log (threads_used). */
	for (unsigned i = 0; i < region_threads_used(r); i++) {
		struct region_thread_rec *t = &r->threads[i];
		uint64_t st = region_load(&t->redo_state);
		uint64_t n = t->redo_count;
		bool ok = true;

		if ((st & 3) != REDO_COMMITTED)
			continue;
		if (n > REGION_REDO_MAX ||
		    checksum(t->redo, n) != t->redo_csum)
			ok = false;
		for (uint64_t j = 0; ok && j < n; j++)
			if (t->redo[j].off % 8 || t->redo[j].off < 4096 ||
			    t->redo[j].off > r->size - 8)
				ok = false;
		if (ok) {
			apply(r->base, t->redo, n);
			rolled++;
		} else {
			corrupt = true;
		}
		region_store(&t->redo_state, (st >> 2) << 2 | REDO_DONE);
	}
	return corrupt ? -EPROTO : rolled;
}
