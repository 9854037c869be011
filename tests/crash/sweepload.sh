#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# sweepload.sh PHOENIXFSD PHX_FRONT: the fd sweep finishes under a steady
# load of fd creators (DESIGN 4 step 9). Two cases, each on 2 queues with
# a 4-thread pool, the sweep starting 0.3 s after each recovery
# (PHX_DELAY=fdtab.sweep_start), the worker killed KILLS times, one kill
# every 2 to 8 s; after each kill the sweep must log "closed N fds" within a
# bound (3 s, 6 s for long) while the load runs:
#   steady  create_unlink (CREATE O_EXCL, RELEASE, UNLINK, FORGET), every
#           request held 2 ms before its commit (queue.before_commit), so
#           that requests in flight always overlap; the
#           keeper's fd count must not grow with the kills (each kill
#           leaks 1 to 3 fds of the dead incarnation until a sweep ends).
#           Before the gate (glibc's reader-preferring rwlock) no sweep
#           finished until the load stopped, and the leaked fds piled up.
#   long    a GETATTR load whose every 40th request holds 0.25 s (a slow
#           host call, longer than the old gate's first shut of 0.1 s):
#           the sweep finishes (since the snapshot, fdtab.c, it waits for
#           no request at all).
# TAP; about 70 s.
set -u
DAEMON=${1:?usage: sweepload.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: sweepload.sh PHOENIXFSD PHX_FRONT}
KILLS=${PHX_SWEEPLOAD_KILLS:-6}
. "$(dirname "$0")/lib.sh"

worker() { cat /proc/"$KEEPER"/task/*/children 2>/dev/null | awk '{print $1; exit}'; }
nfds() { ls /proc/"$KEEPER"/fd 2>/dev/null | wc -l; }
swept() { grep -c 'closed [0-9]* fds leaked' "$LOG"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# The fewest fds over 5 samples: a leak stays, the workload's own come and go.
minfds() {
	m=999999
	for j in 1 2 3 4 5; do
		f=$(nfds)
		[ "$f" -gt 0 ] && [ "$f" -lt "$m" ] && m=$f
		sleep 0.1
	done
	echo $m
}

# load CASE WORKLOAD KILLS DELAY BOUND_MS: one case; sets FDS0, FDS1 (after
# the first kill) and FDS (after the last).
load() {
	c=$1 w=$2 kills=$3 bound=$5
	DAEMON_ARGS="--queues 2 --thread-pool-size 4"
	if ! start_daemon "$c" \
	    PHX_DELAY="queue.before_commit:$4,fdtab.sweep_start:300000"; then
		tap_ok 1 "$c: daemon started"; show_log 10; return
	fi
	secs=$((kills * (bound / 1000 + 2) + 6))
	timeout $((secs + 30)) "$FRONT" --socket "$SOCK" --queues 2 bench \
	    --workload "$w" --depth 16 --seconds "$secs" >"$D/bench" 2>&1 &
	BENCH=$!
	T0=$(now_ms)
	# In the measured loop a second after the bench directory exists.
	i=0
	while [ $i -lt 100 ] && ! [ -d "$SHARE"/phx-bench ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep 1
	FDS0=$(minfds)
	late=0 FDS=$FDS0
	for k in $(seq "$kills"); do
		if ! kill -0 "$BENCH" 2>/dev/null; then
			late=$((late + 1))
			echo "# $c: kill $k: the load ended before it"
			continue
		fi
		n0=$(swept)
		t0=$(now_ms)
		kill -9 "$(worker)"
		while [ "$(swept)" -le "$n0" ] &&
		    [ $(($(now_ms) - t0)) -lt "$bound" ]; do
			sleep 0.05
		done
		ms=$(($(now_ms) - t0))
		kill -0 "$BENCH" 2>/dev/null && run=yes || run=no
		[ "$(swept)" -gt "$n0" ] && done_=yes || done_=no
		[ "$done_" = yes ] && [ "$run" = yes ] || late=$((late + 1))
		sleep 0.5
		[ $run = yes ] && FDS=$(minfds)
		[ "$k" = 1 ] && FDS1=$FDS
		echo "# $c: kill $k at +$(((t0 - T0) / 1000)) s: sweep done=$done_ after ${ms} ms (load running: $run), keeper fds $FDS"
	done
	tap_ok $([ $late -eq 0 ] && echo 0 || echo 1) \
	    "$c: each of $kills sweeps finished within $((bound / 1000)) s under the load ($late did not)"
	grep -o 'closed [0-9]* fds leaked.*' "$LOG" | tail -n 3 | sed 's/^/#   /'
	wait "$BENCH"
	rc=$?
	grep -E '^bench' "$D/bench" | head -2 | sed 's/^/# /'
	grep -q 'errors=0 proto_errors=0' "$D/bench" && [ $rc -eq 0 ]
	tap_ok $? "$c: the workload saw no error across the kills"
	stop_daemon
}

if [ -z "${PHX_SWEEPLOAD_LONG_ONLY:-}" ]; then
load steady create_unlink "$KILLS" 2000 3000
# From the first kill on (its sweep done): at most 8 more after 5 kills.
tap_ok $([ "$FDS" -le $((FDS1 + 8)) ] && echo 0 || echo 1) \
    "steady: keeper fds bounded over $KILLS kills under the load ($FDS0 before, $FDS1 after the first, $FDS after the last)"
fi
load long getattr 3 250000:40 6000
tap_end
[ $TAPFAIL -eq 0 ]
