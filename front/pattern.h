/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The data pattern the bench and chaos modes write and verify: each 8-byte
 * word is a function of its file offset and a per-tool seed, so data read
 * back from the wrong offset, a stale buffer or another tool's file fails
 * the check. Offsets and lengths are multiples of 8.
 */
#ifndef PHX_FRONT_PATTERN_H
#define PHX_FRONT_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t
pat_word(uint64_t seed, uint64_t off)
{
	return ((off >> 3) ^ seed) * 0x9E3779B97F4A7C15ull;
}

static inline void
pat_fill(uint64_t seed, uint8_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = pat_word(seed, off + i);

		memcpy(p + i, &w, 8);
	}
}

static inline bool
pat_check(uint64_t seed, const uint8_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = pat_word(seed, off + i), v;

		memcpy(&v, p + i, 8);
		if (v != w)
			return false;
	}
	return true;
}

#endif
