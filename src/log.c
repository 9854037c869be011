/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Log lines go to stderr as "[ID: <tid>] <proc>: <text>" (C virtiofsd's
 * format plus the process name) or to syslog. The whole line is formatted
 * into one buffer and written with one write(2), so lines of concurrent
 * threads and processes never interleave. Owns no shared state but the
 * threshold, the process name and the syslog socket, all set before
 * threads start.
 *
 * Syslog is our own datagram socket, connected to /dev/log once by the
 * launcher, before any sandbox, and adopted by a keeper re-executed for a
 * live upgrade (PHX_LOG_FD): glibc's syslog() would reconnect to
 * "/dev/log" and read "/etc/localtime" later, paths that lead into the
 * guest's share after sandbox_enter (issue 9 finding 1). It never
 * reconnects: a line the socket refuses goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static enum log_level threshold = LOG_LEVEL_INFO;
void (*log_fatal_hook)(void);
static bool to_syslog;
static int syslog_fd = -1;
static char procname[32] = "phoenixfsd";

/* The syslog socket: adopted by a resumed keeper (PHX_LOG_FD), else
 * connected now; -1. */
static int
syslog_open(void)
{
	const char *e = getenv("PHX_LOG_FD");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char num[16];
	int fd, type;
	socklen_t len = sizeof(type);

	if (getenv("PHX_KEEPER_RESUME") != NULL) {
		fd = e != NULL ? atoi(e) : -1;
		if (fd > STDERR_FILENO && getsockopt(fd, SOL_SOCKET, SO_TYPE,
		    &type, &len) == 0 && type == SOCK_DGRAM)
			return fd;
		return -1; /* never a path after the first keeper */
	}
	fd = socket(AF_UNIX, SOCK_DGRAM, 0); /* kept across the re-exec */
	if (fd < 0)
		return -1;
	strcpy(sun.sun_path, "/dev/log");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	snprintf(num, sizeof(num), "%d", fd);
	setenv("PHX_LOG_FD", num, 1);
	return fd;
}

void
log_init(enum log_level level, bool use_syslog)
{
	threshold = level;
	if (use_syslog && !to_syslog)
		syslog_fd = syslog_open();
	to_syslog = use_syslog;
}

/* One datagram "<PRI>phoenixfsd[PID]: TEXT"; false if refused. */
static bool
syslog_send(int prio, const char *text)
{
	char buf[1100];
	int n;

	if (syslog_fd < 0)
		return false;
	n = snprintf(buf, sizeof(buf), "<%d>phoenixfsd[%ld]: %s",
	    LOG_DAEMON | prio, (long)getpid(), text);
	if (n < 0)
		return false;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	return send(syslog_fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    n;
}

int
log_level_parse(const char *s, enum log_level *ret_level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
		{"warn", LOG_LEVEL_WARN}, {"warning", LOG_LEVEL_WARN},
		{"err", LOG_LEVEL_ERR}, {"error", LOG_LEVEL_ERR},
	};

	for (size_t i = 0; i < nitems(names); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*ret_level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

enum log_level
log_get_level(void)
{
	return threshold;
}

void
log_procinit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(procname, sizeof(procname), fmt, ap);
	va_end(ap);
}

static void
vlog(enum log_level level, int err, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char buf[1024];
	int n = 0, saved = errno;

	if (level > threshold)
		return;
	n = snprintf(buf, sizeof(buf), "[ID: %08ld] %s: ", (long)gettid(),
	    procname);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if ((size_t)n < sizeof(buf) && err)
		n += snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(err));
	if ((size_t)n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n] = '\0';
	if (!to_syslog || !syslog_send(prio[level], strchr(buf, ']') + 2)) {
		buf[n++] = '\n';
		(void)!write(STDERR_FILENO, buf, n);
	}
	errno = saved;
}

#define LOG_BODY(level, err)                                                   \
	do {                                                                   \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, err, fmt, ap);                                     \
		va_end(ap);                                                    \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, errno);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
}

void
log_warnc(int err, const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, err < 0 ? -err : err);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, errno);
	if (log_fatal_hook != NULL)
		log_fatal_hook();
	_exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 0);
	if (log_fatal_hook != NULL)
		log_fatal_hook();
	_exit(1);
}
