/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The median of a benchmark's rounds (bench/wakeup, bench/hostfloor). */
#ifndef PHX_BENCH_MEDIAN_H
#define PHX_BENCH_MEDIAN_H

#include <stdlib.h>

static int
median_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v[0..n) in place; the middle one. */
static inline double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(v[0]), median_cmp);
	return v[n / 2];
}

#endif
