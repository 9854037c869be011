/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny TAP producer shared by every tests/unit/test_<module>.c (meson
 * runs them with protocol 'tap'). Header-only, single-threaded: call the
 * checks from the main thread. plan() is optional; done_testing() prints the
 * plan if none was given and returns the exit status for main().
 */
#ifndef PHX_TAP_H
#define PHX_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_run, tap_failed, tap_planned = -1;

static inline void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

/* Skips the whole file: TAP "1..0 # SKIP", exit 0. */
static inline void __attribute__((noreturn)) skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline void __attribute__((format(printf, 1, 2)))
diag(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\n", stdout);
	fflush(stdout);
}

static inline bool __attribute__((format(printf, 2, 3)))
ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

#define is_int(got, want, name)                                                \
	do {                                                                   \
		long long tap_g_ = (long long)(got),                           \
			  tap_w_ = (long long)(want);                          \
		if (!ok(tap_g_ == tap_w_, "%s", name))                         \
			diag("got %lld, want %lld", tap_g_, tap_w_);           \
	} while (0)

#define is_str(got, want, name)                                                \
	do {                                                                   \
		const char *tap_g_ = (got), *tap_w_ = (want);                  \
		if (!ok(tap_g_ != NULL && strcmp(tap_g_, tap_w_) == 0, "%s",   \
			name))                                                 \
			diag("got '%s', want '%s'",                            \
			    tap_g_ ? tap_g_ : "(null)", tap_w_);               \
	} while (0)

/* Prints the plan if plan() was not called; returns main()'s status. */
static inline int
done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	return tap_failed == 0 && (tap_planned < 0 || tap_planned == tap_run)
		   ? 0
		   : 1;
}

#endif
