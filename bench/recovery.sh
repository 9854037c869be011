#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# recovery.sh [BUILD_DIR]: recovery figures of phoenixfsd (figures only,
# not a timed test). For each inode count, start a daemon, look up that
# many files, then SIGKILL the worker KILLS times with DEPTH requests in
# flight and measure kill() -> first reply published by the new worker
# (crashtest bench: the mark is the used index once every task of the old
# worker has released its mm). Then throughput without kills, with the
# journal and with --no-journal. Prints machine-readable lines:
#   recovery mem_mb=128 inodes=1000 kills=200 depth=64 p50_ms=... p99_ms=... max_ms=...
#   throughput journal=on inodes=1000 depth=64 ... ops_per_s=...
# Knobs: INODES ("1000 15000"), MEM_MB (guest RAM, "128"; e.g. "256 4096
# 16384": a memfd each, one at a time; the worker writes all of it before
# the kills and the workload's buffers are spread over it), KILLS (200),
# DEPTH (64), TPUT_SECONDS (5; 0: no throughput runs), SANDBOX (namespace),
# SWEEP_EACH=1 (the worker writes all guest RAM again before every kill).
# First prints bench/hostfloor: what a new process costs on this host.
# Above 15,000 inodes the daemon runs with --inode-file-handles=mandatory
# (RLIMIT_NOFILE cannot hold an fd per inode).
set -u
B=${1:-$(dirname "$0")/../build-crash}
DAEMON=$B/src/phoenixfsd
CT=$B/tests/crashtest
[ -x "$DAEMON" ] && [ -x "$CT" ] || { echo "need $DAEMON and $CT" >&2; exit 2; }
INODES=${INODES:-1000 15000}
MEM_MB=${MEM_MB:-128}
KILLS=${KILLS:-200}
DEPTH=${DEPTH:-64}
TPUT_SECONDS=${TPUT_SECONDS:-5}
PHX_CRASH_SANDBOX=${SANDBOX:-namespace}
. "$(dirname "$0")/../tests/crash/lib.sh"
rc=0

# The host's floor under a stall (a new worker is a new process).
"$B/bench/hostfloor" 2>/dev/null | sed 's/^/# /'
for m in $MEM_MB; do
for n in $INODES; do
	args=${DAEMON_ARGS:-}
	[ "$n" -gt 15000 ] && DAEMON_ARGS="$args --inode-file-handles=mandatory"
	if ! start_daemon "rec-$m-$n"; then
		echo "recovery mem_mb=$m inodes=$n error=daemon-did-not-start"; show_log 10; rc=1
		DAEMON_ARGS=$args; continue
	fi
	DAEMON_ARGS=$args
	timeout -k 5 1800 "$CT" bench --socket "$SOCK" --share "$SHARE" \
	    --keeper "$KEEPER" --inodes "$n" --kills "$KILLS" --mem-mb "$m" \
	    --depth "$DEPTH" --watchdog 1790 ${SWEEP_EACH:+--sweep-each} || rc=1
	# (The kills are crashtest's count above: the keeper's "respawning"
	# line is at debug level, and the daemon is gone once crashtest is.)
	echo "# recovery mem_mb=$m inodes=$n: $(grep -c 'stuck in activity' "$LOG") watchdog kills, load $(cut -d' ' -f1-3 /proc/loadavg)"
	stop_daemon
done
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
