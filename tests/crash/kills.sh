#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# kills.sh PHOENIXFSD CRASHTEST: random kills of the worker (the keeper's
# only child) while crashtest keeps 64 checked requests in flight on one
# connection: SIGKILL every 5-50 ms, then SIGSEGV the same way, then
# SIGKILL with 2 and 4 request queues busy, then with a pool of 4 threads
# running every request (--thread-pool-size), then with 256 KiB data
# READs and WRITEs (on pool threads in inline mode). Each run
# checks exactly-one-correct-reply, pre-crash nodeids/fhs, the host's view
# and the keeper's fd count. TAP; exit 1 on failure.
# Knobs: PHX_CRASH_KILL_SECONDS (12), PHX_CRASH_SEGV_SECONDS (4),
# PHX_CRASH_KILL_MIN_MS (5), PHX_CRASH_KILL_MAX_MS (50), PHX_CRASH_DEPTH (64),
# PHX_CRASH_HELD_SECONDS (6), PHX_CRASH_MQ_SECONDS (8: the runs with 2 and
# 4 request queues), PHX_CRASH_POOL_SECONDS (15: the pool run),
# PHX_CRASH_BIGIO_SECONDS (8: the 256 KiB run).
set -u
DAEMON=${1:?usage: kills.sh PHOENIXFSD CRASHTEST}
CT=${2:?usage: kills.sh PHOENIXFSD CRASHTEST}
. "$(dirname "$0")/lib.sh"

KSEC=${PHX_CRASH_KILL_SECONDS:-12}
SSEC=${PHX_CRASH_SEGV_SECONDS:-4}
KMIN=${PHX_CRASH_KILL_MIN_MS:-5}
KMAX=${PHX_CRASH_KILL_MAX_MS:-50}
DEPTH=${PHX_CRASH_DEPTH:-64}

for sig in KILL SEGV; do
	secs=$KSEC
	[ $sig = SEGV ] && secs=$SSEC
	if ! start_daemon "kill-$sig"; then
		tap_ok 1 "SIG$sig: daemon started"; show_log 20; continue
	fi
	run_tap "SIG$sig every $KMIN-$KMAX ms, depth $DEPTH" \
	    "$CT" work --socket "$SOCK" --share "$SHARE" --keeper "$KEEPER" \
	    --depth "$DEPTH" --seconds "$secs" --kill-min-ms "$KMIN" \
	    --kill-max-ms "$KMAX" --kill-sig $sig --expect-respawn \
	    --pool 2000 --stall-timeout 10
	rc=$?
	[ $rc -ne 0 ] && show_log 30
	stop_daemon
done
# Several request queues busy at each kill: a queue thread per queue,
# each with its own slots in flight and its own used ring; recovery
# settles every queue (DESIGN 4), still exactly once.
# kill_run TAG DESCRIPTION SECONDS QUEUES [CRASHTEST_ARGS]: SIGKILLs with
# DAEMON_ARGS.
kill_run() {
	if ! start_daemon "$1"; then
		tap_ok 1 "$2: daemon started"; show_log 20; return
	fi
	run_tap "$2" "$CT" work --socket "$SOCK" --share "$SHARE" \
	    --keeper "$KEEPER" --queues "$4" --depth "$DEPTH" --seconds "$3" \
	    --kill-min-ms "$KMIN" --kill-max-ms "$KMAX" --kill-sig KILL \
	    --expect-respawn --pool 2000 --stall-timeout 10 ${5:-}
	[ $? -ne 0 ] && show_log 30
	stop_daemon
}
for nq in 2 4; do
	DAEMON_ARGS="--queues $nq"
	kill_run "queues-$nq" "$nq request queues, SIGKILL every $KMIN-$KMAX ms, depth $DEPTH" \
	    "${PHX_CRASH_MQ_SECONDS:-8}" "$nq"
done
# Pool mode (--thread-pool-size): every request on a pool thread, the
# exactly-once ops waited for on each pool thread's io_uring, so a kill
# leaves ops on several dead rings, and many rings are made and closed.
# Their closes once waited until after recovery: kills cut them short,
# the open rings spent RLIMIT_MEMLOCK, later threads got no ring and
# called the host directly, and a replay on a ring answered that run's
# EEXIST (a MKDIR or CREATE; recovery.sh ringless holds that window).
DAEMON_ARGS="--queues 2 --thread-pool-size=4"
kill_run pool "pool of 4, 2 request queues, SIGKILL every $KMIN-$KMAX ms" \
    "${PHX_CRASH_POOL_SECONDS:-15}" 2
DAEMON_ARGS=
# Inline mode with 256 KiB data READs and WRITEs (issue 10): with
# requests behind them they run on pool threads (queue_large_io), so
# kills land while pool threads copy into and out of guest memory; every
# READ's bytes checked, every WRITE's in the file at the end.
export PHX_POOL_LARGE_IO=1 # on any host (queue_int.h)
kill_run bigio "256 KiB READs and WRITEs on pool threads, SIGKILL every $KMIN-$KMAX ms" \
    "${PHX_CRASH_BIGIO_SECONDS:-8}" 1 "--bs 262144"
unset PHX_POOL_LARGE_IO
# A request held long in the pool (PHX_DELAY: one pool job in 20 sleeps
# 400 ms) while the other heads cycle far past it, more than the ring
# size; then a SIGKILL. Recovery once took such a slot for corrupt and
# dropped it: its request was never answered.
export PHX_DELAY=queue.pool_job:400000:20
if ! start_daemon "held"; then
	tap_ok 1 "held request: daemon started"; show_log 20
else
	run_tap "held request, SIGKILL every 300-500 ms, depth 16" \
	    "$CT" work --socket "$SOCK" --share "$SHARE" --keeper "$KEEPER" \
	    --depth 16 --seconds "${PHX_CRASH_HELD_SECONDS:-6}" \
	    --kill-min-ms 300 --kill-max-ms 500 --kill-sig KILL \
	    --expect-respawn --pool 2000 --stall-timeout 10
	[ $? -ne 0 ] && show_log 30
	stop_daemon
fi
unset PHX_DELAY
tap_end
[ $TAPFAIL -eq 0 ]
