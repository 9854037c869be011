/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pins of region table entries by running requests, and the deferred
 * close of a freed entry's fd until its last user is done (DESIGN 3 step
 * 4; used by inode.c and handle.c). A user adds its pin (seq_cst) before
 * it checks the entry's generation; the closer, after the commit that
 * changed the generation is applied, fences (seq_cst) and reads the
 * count: either the user sees the entry freed, or the closer sees the
 * user and defers. Per incarnation, on the heap: a crash ends every use,
 * and the fd sweep closes what was waiting.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "pin.h"

#define PENDING (1u << 31) /* in counts[i]: a freed fd of i waits */

struct pin_deferred {
	uint64_t idx;
	int fd;
};

struct held {
	struct pin_table *t;
	uint64_t idx;
};

static __thread struct held held[PIN_MAX_HELD];
static __thread unsigned nheld;
static uint64_t all_deferred; /* atomic: the sum of every table's nfds */
/* Every table that ever deferred a close (the fd sweep lists them). */
static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pin_table *tables[8];
static unsigned ntables;

static uint32_t *
counts_of(struct pin_table *t, uint64_t cap)
{
	uint32_t *p = __atomic_load_n(&t->counts, __ATOMIC_ACQUIRE);
	uint32_t *mine, *none = NULL;

	if (p != NULL)
		return p;
	mine = calloc(cap, sizeof(*mine));
	if (mine == NULL)
		return NULL;
	/* Every allocator stores the same value; read after counts. */
	__atomic_store_n(&t->cap, cap, __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(&t->counts, &none, mine, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(mine);
		return none;
	}
	return mine;
}

int
pin_get(struct pin_table *t, uint64_t cap, uint64_t idx)
{
	uint32_t *c;

	if (idx >= cap)
		return -EINVAL;
	if (nheld >= PIN_MAX_HELD)
		return -ENFILE;
	if ((c = counts_of(t, cap)) == NULL)
		return -ENOMEM;
	/* Before the caller's generation check: see pin_close(). */
	__atomic_fetch_add(&c[idx], 1, __ATOMIC_SEQ_CST);
	held[nheld].t = t;
	held[nheld].idx = idx;
	nheld++;
	return 0;
}

/* Closes the deferred fds of entry idx if nobody uses it. t->lock. */
static void
drain_locked(struct pin_table *t, uint64_t idx)
{
	uint32_t *c = __atomic_load_n(&t->counts, __ATOMIC_ACQUIRE);
	uint32_t want = PENDING;
	size_t i = 0;

	/* Fails if a request pinned idx meanwhile: its unpin drains. */
	if (!__atomic_compare_exchange_n(&c[idx], &want, 0, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	while (i < t->ndeferred) {
		if (t->deferred[i].idx != idx) {
			i++;
			continue;
		}
		close(t->deferred[i].fd);
		t->deferred[i] = t->deferred[--t->ndeferred];
		__atomic_fetch_sub(&t->nfds, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&all_deferred, 1, __ATOMIC_RELAXED);
	}
}

static void
unpin(struct pin_table *t, uint64_t idx)
{
	uint32_t *c = __atomic_load_n(&t->counts, __ATOMIC_ACQUIRE);

	/* The last user of an entry with a deferred fd closes it. */
	if (__atomic_sub_fetch(&c[idx], 1, __ATOMIC_SEQ_CST) ==
	    PENDING) {
		pthread_mutex_lock(&t->lock);
		drain_locked(t, idx);
		pthread_mutex_unlock(&t->lock);
	}
}

void
pin_undo(void)
{
	if (nheld > 0) {
		nheld--;
		unpin(held[nheld].t, held[nheld].idx);
	}
}

void
pin_put_all(void)
{
	while (nheld > 0) {
		nheld--;
		unpin(held[nheld].t, held[nheld].idx);
	}
}

void
pin_detach(struct pin_set *s)
{
	s->n = nheld;
	for (unsigned i = 0; i < nheld; i++) {
		s->e[i].t = held[i].t;
		s->e[i].idx = held[i].idx;
	}
	nheld = 0;
}

void
pin_put_set(struct pin_set *s)
{
	while (s->n > 0) {
		s->n--;
		unpin(s->e[s->n].t, s->e[s->n].idx);
	}
}

void
pin_close(struct pin_table *t, int fd, uint64_t idx)
{
	struct pin_deferred *d;
	uint32_t *c;

	/* After the applied generation store, before any count is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	c = __atomic_load_n(&t->counts, __ATOMIC_ACQUIRE);
	if (c == NULL || idx >= __atomic_load_n(&t->cap, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&c[idx], __ATOMIC_SEQ_CST) == 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (t->ndeferred == t->deferred_cap) {
		size_t cap = t->deferred_cap ? 2 * t->deferred_cap : 16;

		d = realloc(t->deferred, cap * sizeof(*d));
		if (d == NULL) {
			/*
			 * Never close a number in use: leaked until the
			 * fd sweep after the next crash.
			 */
			pthread_mutex_unlock(&t->lock);
			return;
		}
		t->deferred = d;
		t->deferred_cap = cap;
	}
	if (!t->listed) {
		pthread_mutex_lock(&tables_lock);
		if (ntables < sizeof(tables) / sizeof(tables[0]))
			tables[ntables++] = t;
		pthread_mutex_unlock(&tables_lock);
		t->listed = true;
	}
	t->deferred[t->ndeferred].idx = idx;
	t->deferred[t->ndeferred].fd = fd;
	t->ndeferred++;
	__atomic_fetch_add(&t->nfds, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&all_deferred, 1, __ATOMIC_RELAXED);
	/* Its users may all have gone since the check above. */
	if ((__atomic_fetch_or(&c[idx], PENDING, __ATOMIC_SEQ_CST) &
	    ~PENDING) == 0)
		drain_locked(t, idx);
	pthread_mutex_unlock(&t->lock);
}

uint64_t
pin_deferred(const struct pin_table *t)
{
	return __atomic_load_n(&t->nfds, __ATOMIC_RELAXED);
}

void
pin_each_deferred(void (*fn)(int fd, void *arg), void *arg)
{
	pthread_mutex_lock(&tables_lock);
	for (unsigned i = 0; i < ntables; i++) {
		struct pin_table *t = tables[i];

		pthread_mutex_lock(&t->lock);
		for (size_t k = 0; k < t->ndeferred; k++)
			fn(t->deferred[k].fd, arg);
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&tables_lock);
}

uint64_t
pin_deferred_all(void)
{
	return __atomic_load_n(&all_deferred, __ATOMIC_RELAXED);
}
