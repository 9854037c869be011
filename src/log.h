/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging, in the style of C virtiofsd ("[ID: 00001234] text") on stderr, or
 * syslog(3) with --syslog. Safe from any thread; not async-signal-safe.
 * Only main, keeper, worker and recover log above debug; other modules return
 * -errno for their caller to log once.
 */
#ifndef PHX_LOG_H
#define PHX_LOG_H

#include <stdbool.h>

#include "compiler.h"

enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	_LOG_LEVEL_MAX
};

/* Sets the threshold and destination. Call once, early; may be called again. */
void log_init(enum log_level level, bool use_syslog);
/* Parses "debug|info|warn|error" (virtiofsd names; "err" too). -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret_level);
/* Names the process in every later line ("keeper", "worker#3"). */
void log_procinit(const char *fmt, ...) PRINTF_LIKE(1, 2);
enum log_level log_get_level(void);

/* log_warn appends strerror(errno); log_warnc appends strerror(-err). */
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warnx(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warnc(int err, const char *fmt, ...) PRINTF_LIKE(2, 3);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Called by fatal/fatalx before _exit (a worker counts its activities). */
extern void (*log_fatal_hook)(void);
/* Log at error level and _exit(1). fatal appends strerror(errno). */
__dead void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2);
__dead void fatalx(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
