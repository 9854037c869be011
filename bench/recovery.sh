#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# recovery.sh [BUILD_DIR]: recovery figures of phoenixfsd (figures only,
# not a timed test). For each inode count, start a daemon, look up that
# many files, then SIGKILL the worker KILLS times with DEPTH requests in
# flight and measure kill() -> first reply published by the new worker
# (crashtest bench: the mark is the used index once every task of the old
# worker has released its mm). Then throughput without kills, with the
# journal and with --no-journal. Prints machine-readable lines:
#   recovery inodes=1000 kills=200 depth=64 p50_ms=... p99_ms=... max_ms=...
#   throughput journal=on inodes=1000 depth=64 ... ops_per_s=...
# Knobs: INODES ("1000 15000"), KILLS (200), DEPTH (64), TPUT_SECONDS (5;
# 0: no throughput runs),
# SANDBOX (namespace).
set -u
B=${1:-$(dirname "$0")/../build-crash}
DAEMON=$B/src/phoenixfsd
CT=$B/tests/crashtest
[ -x "$DAEMON" ] && [ -x "$CT" ] || { echo "need $DAEMON and $CT" >&2; exit 2; }
INODES=${INODES:-1000 15000}
KILLS=${KILLS:-200}
DEPTH=${DEPTH:-64}
TPUT_SECONDS=${TPUT_SECONDS:-5}
PHX_CRASH_SANDBOX=${SANDBOX:-namespace}
. "$(dirname "$0")/../tests/crash/lib.sh"
rc=0

for n in $INODES; do
	if ! start_daemon "rec-$n"; then
		echo "recovery inodes=$n error=daemon-did-not-start"; show_log 10; rc=1; continue
	fi
	timeout -k 5 600 "$CT" bench --socket "$SOCK" --share "$SHARE" \
	    --keeper "$KEEPER" --inodes "$n" --kills "$KILLS" \
	    --depth "$DEPTH" --watchdog 590 || rc=1
	echo "# recovery inodes=$n: $(grep -c respawning "$LOG") respawns in the log, $(grep -c 'stuck in activity' "$LOG") watchdog kills"
	stop_daemon
done

[ "$TPUT_SECONDS" = 0 ] && exit $rc
for j in on off; do
	extra=""
	[ $j = off ] && extra=--no-journal
	DAEMON_ARGS=$extra
	if ! start_daemon "tput-$j"; then
		echo "throughput journal=$j error=daemon-did-not-start"
		show_log 5
		DAEMON_ARGS=""
		continue
	fi
	DAEMON_ARGS=""
	timeout -k 5 120 "$CT" bench --socket "$SOCK" --share "$SHARE" \
	    --keeper "$KEEPER" --inodes 1000 --kills 0 --depth "$DEPTH" \
	    --seconds "$TPUT_SECONDS" | sed "s/^throughput /throughput journal=$j /" || rc=1
	stop_daemon
done
exit $rc
