/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compiler helpers shared by every module: attributes, nitems, container_of,
 * and compile-time layout checks. No state, no functions.
 */
#ifndef PHX_COMPILER_H
#define PHX_COMPILER_H

#include <stddef.h>

#define __dead		    __attribute__((noreturn))
#define PRINTF_LIKE(a, b)   __attribute__((format(printf, a, b)))
#define likely(x)	    __builtin_expect(!!(x), 1)
#define unlikely(x)	    __builtin_expect(!!(x), 0)
#define nitems(a)	    (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member)                                          \
	((type *)((char *)(p)-offsetof(type, member)))
#define ASSERT_SIZE(type, n)                                                   \
	_Static_assert(sizeof(type) == (n), #type " layout changed")
#define ALIGN_UP(x, a)	    (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define MIN(a, b)	    ((a) < (b) ? (a) : (b))
#define MAX(a, b)	    ((a) > (b) ? (a) : (b))

#endif
