#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# poison.sh PHOENIXFSD PHX_FRONT: DESIGN 6 accounting (issue 11 part 2
# defects 6 and 11), on a daemon built with -Dcrashpoints=true, with a
# phx-front workload on one connection:
#   recur   a crash that recurs outside any request (every incarnation's
#           first ring pop, PHX_CRASH_RECUR): degraded mode must come (and
#           the backoff with it; the crash count is printed)
#   leave   the same crash stops after 6 incarnations: degraded mode is
#           left after a healthy period, requests are served again
#   two     two poison requests in flight at once: both quarantined (EIO)
#           after 3 crashes each, no degraded mode, the rest served
#   slowio  every FSYNC takes 1.5 s (a slow disk) with a 0.5 s watchdog:
#           the watchdog leaves a thread inside a host call alone
# TAP; ends with "# N passed, N failed". About 40 s.
set -u
DAEMON=${1:?usage: poison.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: poison.sh PHOENIXFSD PHX_FRONT}
PHX_CRASH_SANDBOX=${PHX_CRASH_SANDBOX:-namespace}
. "$(dirname "$0")/lib.sh"

bench() { # SECONDS DEPTH: a GETATTR workload; figures in $D/bench
	timeout 90 "$FRONT" --socket "$SOCK" bench --workload getattr \
	    --depth "$2" --seconds "$1" >"$D/bench" 2>&1
	grep -E '^bench' "$D/bench" | sed 's/^/# /'
}
fig() { # NAME: a bench figure
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$D/bench" | head -n 1
}
deaths() { grep -c 'ended (signal 11)' "$LOG"; }

# recur: every incarnation dies at its first pop (a ring parse).
if DAEMON_ARGS="--degrade-after=5" start_daemon recur \
    PHX_CRASH_RECUR=queue.after_pop; then
	bench 8 1
	n=$(deaths)
	echo "# recur: $n crashes in 8 s; $(grep -c 'degraded mode' "$LOG") degraded lines"
	grep -q 'degraded mode' "$LOG"
	tap_ok $? "recur: a crash outside any request reaches degraded mode"
	stop_daemon
else
	tap_ok 1 "recur: daemon started"; show_log 10
fi

# leave: the same crash in 6 incarnations only, watchdog period 0.5 s.
if DAEMON_ARGS="--degrade-after=5 --watchdog-ms=500" start_daemon leave \
    PHX_CRASH_RECUR=queue.after_pop:6; then
	bench 14 1
	ops=$(fig ops) err=$(fig errors)
	echo "# leave: $(deaths) crashes, ops=$ops errors=$err"
	grep 'degraded mode' "$LOG" | sed 's/^/# /'
	grep -q 'leaving degraded mode' "$LOG"
	tap_ok $? "leave: degraded mode is left after a healthy period"
	[ -n "$ops" ] && [ -n "$err" ] && [ "$ops" -gt $((err * 2)) ]
	tap_ok $? "leave: requests are served again after it (ops=$ops errors=$err)"
	stop_daemon
else
	tap_ok 1 "leave: daemon started"; show_log 10
fi

# two: uniques 60 and 62 crash every worker that runs them.
if start_daemon two PHX_CRASH_UNIQUE=60,62; then
	bench 5 4
	err=$(fig errors) n=$(deaths)
	echo "# two: $n crashes, errors=$err, ops=$(fig ops)"
	grep -E 'quarantined|degraded' "$LOG" | sed 's/^/# /'
	! grep -q 'degraded mode' "$LOG"
	tap_ok $? "two: two poison requests do not degrade the service"
	[ "$(grep -c 'quarantined (EIO)' "$LOG")" -eq 2 ] && [ "$err" = 2 ]
	tap_ok $? "two: both are quarantined and answer EIO, nothing else fails (errors=$err)"
	stop_daemon
else
	tap_ok 1 "two: daemon started"; show_log 10
fi

# slowio: a 1.5 s FSYNC against a 0.5 s watchdog.
if DAEMON_ARGS="--watchdog-ms=500" start_daemon slowio \
    PHX_DELAY=pt.fsync:1500000; then
	timeout 90 "$FRONT" --socket "$SOCK" smoke >"$D/smoke" 2>&1
	rc=$?
	grep -E 'FSYNC' "$D/smoke" | sed 's/^/# /'
	grep -E 'stuck|quarantined' "$LOG" | head -3 | sed 's/^/# /'
	! grep -q 'stuck in activity' "$LOG"
	tap_ok $? "slowio: the watchdog leaves a thread inside fsync alone"
	grep -q '^ok.*FSYNC$' "$D/smoke" || grep -q '^ok .* FSYNC' "$D/smoke"
	tap_ok $? "slowio: FSYNC answers (smoke status $rc)"
	stop_daemon
else
	tap_ok 1 "slowio: daemon started"; show_log 10
fi

tap_end
[ $TAPFAIL -eq 0 ]
