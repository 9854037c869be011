/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request journal: one slot per descriptor head per queue
 * (region_slot()). A slot's word packs its state, a generation that
 * changes at every pop, the avail position it was popped at and the ring
 * epoch. States move FREE -> POPPED -> [EXECUTING ->] REPLIED -> FREE.
 */
#ifndef PHX_JOURNAL_H
#define PHX_JOURNAL_H

#include <stdint.h>

#include "region.h"

enum journal_state {
	JOURNAL_FREE = 0,
	JOURNAL_POPPED = 1,	/* request copied; nothing executed yet */
	JOURNAL_EXECUTING = 2,	/* host calls may have run (set before the first) */
	JOURNAL_REPLIED = 3,	/* reply written to guest; push pending */
	_JOURNAL_STATE_MAX
};

static inline uint64_t
journal_word(enum journal_state st, uint32_t gen, uint16_t pos, uint16_t epoch)
{
	return (uint64_t)st | (uint64_t)(gen & 0xffffff) << 8 |
	    (uint64_t)pos << 32 | (uint64_t)epoch << 48;
}

static inline enum journal_state
journal_state(uint64_t w)
{
	return (enum journal_state)(w & 0xff);
}

static inline uint32_t
journal_gen(uint64_t w)
{
	return (w >> 8) & 0xffffff;
}

static inline uint16_t
journal_pos(uint64_t w)
{
	return (uint16_t)(w >> 32);
}

static inline uint16_t
journal_epoch(uint64_t w)
{
	return (uint16_t)(w >> 48);
}

/* The same word with another state. */
static inline uint64_t
journal_with_state(uint64_t w, enum journal_state st)
{
	return (w & ~0xffULL) | (uint64_t)st;
}

#endif
