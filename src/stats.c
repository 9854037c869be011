/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writers of the status counters (stats.h): what the keeper learns of a
 * death, what a worker learns of its recovery, and the rate limit of the
 * warn lines they log, kept in the region because each worker is a new
 * process. Every field is a 64-bit word: a reader outside never locks.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <linux/fuse.h>

#include "clock.h"
#include "log.h"
#include "stats.h"

/* At most STATS_LOG_BURST crash/recovery lines per STATS_LOG_WINDOW. */
#define STATS_LOG_WINDOW (60ULL * 1000000000ULL)
#define STATS_LOG_BURST	 20

static const char *const cause_names[STATS_CAUSE_MAX] = {
	[STATS_CAUSE_NONE] = "none",
	[STATS_CAUSE_SIGNAL] = "signal",
	[STATS_CAUSE_WATCHDOG] = "watchdog",
	[STATS_CAUSE_OOM] = "oom",
	[STATS_CAUSE_KILL] = "kill",
	[STATS_CAUSE_EXIT] = "exit",
	[STATS_CAUSE_UPGRADE] = "upgrade",
};

const char *
stats_cause_name(uint64_t cause)
{
	return cause < STATS_CAUSE_MAX ? cause_names[cause] : "?";
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void
inc(uint64_t *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
}

/*
 * Whether one more crash/recovery line may be logged now; *ret_suppressed
 * gets the lines dropped in the previous window (said once, in the first
 * line of the next). Keeper and workers share it through the region.
 */
static bool
log_ok(struct region_stats_rec *s, uint64_t *ret_suppressed)
{
	uint64_t now = clock_now_ns(), w = ld(&s->log_window_ns);

	*ret_suppressed = 0;
	if (now - w >= STATS_LOG_WINDOW &&
	    __atomic_compare_exchange_n(&s->log_window_ns, &w, now, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		*ret_suppressed = __atomic_exchange_n(&s->log_suppressed, 0,
		    __ATOMIC_ACQ_REL);
		st(&s->log_in_window, 0);
	}
	if (__atomic_fetch_add(&s->log_in_window, 1, __ATOMIC_ACQ_REL) <
	    STATS_LOG_BURST)
		return true;
	inc(&s->log_suppressed);
	return false;
}

static const char *
suppressed_note(char *buf, size_t len, uint64_t n)
{
	if (n == 0)
		return "";
	snprintf(buf, len, " (%llu similar lines suppressed)",
	    (unsigned long long)n);
	return buf;
}

/*
 * " <signal name>" after the cause, but for an external SIGKILL ("kill"
 * says it; the signal is known only when the keeper reaped the worker
 * before the line, so the line differed from kill to kill).
 */
static const char *
sig_note(uint64_t cause, uint64_t sig, char *buf, size_t len)
{
	if (sig == 0 || (cause == STATS_CAUSE_KILL && sig == SIGKILL))
		return "";
	snprintf(buf, len, " %s", strsignal((int)sig));
	return buf;
}

void
stats_spawned(struct region *r)
{
	st(&r->stats->seen_faults, ld(&r->health->faults));
	st(&r->stats->seen_watchdog, ld(&r->health->watchdog_kills));
}

void
stats_died(struct region *r, bool oom, int wstatus)
{
	struct region_stats_rec *s = r->stats;
	uint64_t cause, sig = 0, sup, n;
	char note[64], sigbuf[48];

	if (oom)
		cause = STATS_CAUSE_OOM;
	else if (ld(&r->health->watchdog_kills) != ld(&s->seen_watchdog))
		cause = STATS_CAUSE_WATCHDOG;
	else if (wstatus != -1 && WIFEXITED(wstatus))
		cause = STATS_CAUSE_EXIT;
	else if (ld(&r->health->faults) != ld(&s->seen_faults))
		cause = STATS_CAUSE_SIGNAL;
	else
		cause = STATS_CAUSE_KILL;
	if (wstatus != -1 && WIFSIGNALED(wstatus))
		sig = (uint64_t)WTERMSIG(wstatus);
	inc(&s->crashes[cause]);
	n = __atomic_add_fetch(&s->unserved, 1, __ATOMIC_ACQ_REL);
	/*
	 * A worker that never recovered logs no recovery line: say it here,
	 * with the deaths since a worker last served (the next recovery
	 * line speaks for the one death before it).
	 */
	if (!__atomic_load_n(&r->hdr->recovered, __ATOMIC_ACQUIRE) &&
	    log_ok(s, &sup))
		log_warnx("worker #%llu died before serving: %s%s, "
		    "respawning (%llu deaths since a worker last served)%s",
		    (unsigned long long)r->hdr->incarnation,
		    stats_cause_name(cause), sig_note(cause, sig, sigbuf,
		    sizeof(sigbuf)), (unsigned long long)n,
		    suppressed_note(note, sizeof(note), sup));
	st(&s->down_cause, cause);
	st(&s->down_signal, sig);
	st(&s->down_ns, clock_now_ns());
}

void
stats_upgrading(struct region *r)
{
	st(&r->stats->down_cause, STATS_CAUSE_UPGRADE);
	st(&r->stats->down_signal, 0);
	st(&r->stats->down_ns, clock_now_ns());
}

void
stats_recovery_counts(struct region *r, unsigned replayed,
    unsigned quarantined)
{
	st(&r->stats->rec_replayed, replayed);
	st(&r->stats->rec_quarantined, quarantined);
	__atomic_add_fetch(&r->stats->replayed, replayed, __ATOMIC_RELAXED);
}

void
stats_recovered(struct region *r)
{
	struct region_stats_rec *s = r->stats;
	uint64_t replayed = ld(&s->rec_replayed);
	uint64_t quarantined = ld(&s->rec_quarantined);
	uint64_t down = ld(&s->down_ns), now = clock_now_ns(), stall, sup;
	uint64_t cause = ld(&s->down_cause), sig = ld(&s->down_signal);
	char note[64], sigbuf[48];

	stall = down != 0 && now > down ? now - down : 0;
	st(&s->last_stall_ns, stall);
	inc(&s->stall_hist[stats_bucket(stall)]);
	inc(&s->recoveries);
	st(&s->unserved, 0);
	st(&s->rec_replayed, 0);
	st(&s->rec_quarantined, 0);
	if (log_ok(s, &sup))
		log_warnx("recovered from a worker %s%s: guest stall %.3f ms, "
		    "%llu requests replayed, %llu quarantined%s",
		    cause == STATS_CAUSE_UPGRADE ? "stop for an upgrade" :
		    stats_cause_name(cause), sig_note(cause, sig, sigbuf,
		    sizeof(sigbuf)), (double)stall / 1e6,
		    (unsigned long long)replayed,
		    (unsigned long long)quarantined,
		    suppressed_note(note, sizeof(note), sup));
}

void
stats_quarantined(struct region *r, const struct journal_slot_rec *s,
    unsigned queue, unsigned head)
{
	struct region_stats_rec *ss = r->stats;
	struct stats_quar_rec *q;
	struct fuse_in_header h;
	uint64_t n;

	memset(&h, 0, sizeof(h));
	if (s->req_len >= sizeof(h))
		memcpy(&h, s->req, sizeof(h));
	n = __atomic_fetch_add(&ss->quar_total, 1, __ATOMIC_ACQ_REL);
	q = &ss->quar[n % STATS_QUAR_MAX];
	st(&q->when_ns, clock_now_ns());
	st(&q->opcode, h.opcode);
	st(&q->nodeid, h.nodeid);
	st(&q->where, (uint64_t)queue << 16 | head);
}
