/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pins: which entries of a region table (inodes, handles) the running
 * requests use, so that a commit freeing an entry closes its fd only when
 * its last user is done (DESIGN 3 step 4: a number closed under a running
 * request can be reused by any open, and the request would then act on
 * the wrong file). Pins are heap memory of one incarnation: after a crash
 * nothing is in use, every count starts at zero, and a freed fd that was
 * still waiting is in no table, so the fd sweep (fdtab.h) closes it; the
 * sweep keeps the fds this incarnation defers (pin_each_deferred()).
 * Nothing here is in the region.
 */
#ifndef PHX_PIN_H
#define PHX_PIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One table's pins; one static instance per table module. */
struct pin_table {
	/*
	 * counts[i]: pins of entry i, plus a pending bit while a freed fd of
	 * entry i waits in deferred[]. calloc'd at the first pin (pages cost
	 * only when touched), published with a release CAS, never freed.
	 */
	uint32_t *counts;
	uint64_t cap;		/* entries of counts; read after counts */
	pthread_mutex_t lock;	/* the deferred list below */
	struct pin_deferred *deferred; /* under lock */
	size_t ndeferred, deferred_cap; /* under lock */
	uint64_t nfds;		/* atomic: fds in deferred */
	bool listed;		/* under lock: in pin.c's list of tables */
};
#define PIN_TABLE_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Pins one thread may hold at once (one request: a few inodes, 2 fhs). */
#define PIN_MAX_HELD 32

/*
 * Counts the calling thread as a user of entry idx of t (a table of cap
 * entries) until its pin_put_all(). The caller must then check that the
 * entry is live and read what it needs, and check the entry's generation
 * again after the reads (it may have been freed and reused meanwhile);
 * when a check fails, pin_undo(). Lock-free: one seq_cst add on the
 * entry's counter, which orders it against pin_close()'s fence.
 * -ENFILE when the thread holds PIN_MAX_HELD pins, -ENOMEM when the
 * counters cannot be allocated, -EINVAL for idx >= cap.
 */
int pin_get(struct pin_table *t, uint64_t cap, uint64_t idx);
/* Drops the calling thread's most recent pin (its entry was not live). */
void pin_undo(void);
/*
 * Ends every pin of the calling thread, in every table; the last user of
 * a freed entry closes its deferred fd here. Call after the request's
 * commit, on the thread that took the pins (inode_put_temps() does).
 */
void pin_put_all(void);
/*
 * A request that leaves its host operation in flight (queue_async.c)
 * keeps its pins until it runs again: moved off the thread into s, then
 * released with pin_put_set() once its second run has taken its own.
 */
struct pin_set {
	unsigned n;
	struct {
		struct pin_table *t;
		uint64_t idx;
	} e[PIN_MAX_HELD];
};
void pin_detach(struct pin_set *s);
void pin_put_set(struct pin_set *s);
/*
 * Closes fd, which the commit just applied freed from entry idx of t
 * (its generation changed, so no new pin can use it), now if nobody pins
 * idx, else when the last pin of idx ends. For redo_close_after_fn(),
 * through a table's own redo_close_fn. Takes t->lock only if deferred.
 * An fd that cannot be deferred (no memory) is left open for the sweep.
 */
void pin_close(struct pin_table *t, int fd, uint64_t idx);
/*
 * Calls fn on every freed fd whose close waits for a request still using
 * it, in every table. The fd sweep (fdtab.c) keeps them: a SETLKW or
 * flock waits with its entry pinned, and a FLUSH or RELEASE may free
 * that entry meanwhile (issue 11 review). Each was a table's, so never
 * one the sweep's snapshot found unreferenced: kept all the same.
 */
void pin_each_deferred(void (*fn)(int fd, void *arg), void *arg);
/* Freed fds of t whose close waits for a request still using them. */
uint64_t pin_deferred(const struct pin_table *t);
/* The same, over every table (they count against the fd budget). */
uint64_t pin_deferred_all(void);

#endif
