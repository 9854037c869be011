#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# sweepload.sh PHOENIXFSD PHX_FRONT: the fd sweep finishes under a steady
# load of fd creators (DESIGN 4 step 9). A create_unlink workload (CREATE
# O_EXCL, RELEASE, UNLINK, FORGET) runs on 2 queues with a 4-thread pool,
# every request held 2 ms before its commit (PHX_DELAY=
# queue.before_commit) so that the creation lock's shared holders always
# overlap; each sweep starts 0.3 s after its recovery
# (fdtab.sweep_start). The worker is killed KILLS times, one kill every
# 4 s: after each kill the sweep must log "closed N fds" within 3 s while
# the load runs, and the keeper's fd count must not grow with the kills
# (each kill leaks the dead incarnation's own fds). Before the gate
# (glibc's reader-preferring rwlock) no sweep finished until the load
# stopped, and the leaked fds piled up. TAP; about 35 s.
set -u
DAEMON=${1:?usage: sweepload.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: sweepload.sh PHOENIXFSD PHX_FRONT}
KILLS=${PHX_SWEEPLOAD_KILLS:-6}
. "$(dirname "$0")/lib.sh"

worker() { cat /proc/"$KEEPER"/task/*/children 2>/dev/null | awk '{print $1; exit}'; }
nfds() { ls /proc/"$KEEPER"/fd 2>/dev/null | wc -l; }
swept() { grep -c 'closed [0-9]* fds leaked' "$LOG"; }

DAEMON_ARGS="--queues 2 --thread-pool-size 4"
if ! start_daemon load \
    PHX_DELAY=queue.before_commit:2000,fdtab.sweep_start:300000; then
	tap_ok 1 "daemon started"; show_log 10; tap_end; exit 1
fi
secs=$((KILLS * 4 + 6))
timeout $((secs + 30)) "$FRONT" --socket "$SOCK" --queues 2 bench \
    --workload create_unlink --depth 16 --seconds "$secs" >"$D/bench" 2>&1 &
BENCH=$!
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
# The workload is in its measured loop once its files come and go.
i=0
while [ $i -lt 100 ] && ! ls "$SHARE"/phx-bench 2>/dev/null | grep -q '^cu\.'; do
	sleep 0.1
	i=$((i + 1))
done
sleep 1
fds0=$(minfds)
late=0 fds=$fds0
for k in $(seq "$KILLS"); do
	if ! kill -0 "$BENCH" 2>/dev/null; then
		late=$((late + 1))
		echo "# kill $k: the load ended before it"
		continue
	fi
	n0=$(swept)
	t0=$(now_ms)
	kill -9 "$(worker)"
	while [ "$(swept)" -le "$n0" ] && [ $(($(now_ms) - t0)) -lt 3000 ]; do
		sleep 0.05
	done
	ms=$(($(now_ms) - t0))
	kill -0 "$BENCH" 2>/dev/null && run=yes || run=no
	[ "$(swept)" -gt "$n0" ] && done_=yes || done_=no
	[ "$done_" = yes ] && [ "$run" = yes ] || late=$((late + 1))
	sleep 0.5
	[ $run = yes ] && fds=$(minfds)
	echo "# kill $k: sweep done=$done_ after ${ms} ms (load running: $run), keeper fds $fds"
done
tap_ok $([ $late -eq 0 ] && echo 0 || echo 1) \
    "each of $KILLS sweeps finished within 3 s under the load ($late did not)"
grep -o 'closed [0-9]* fds leaked.*' "$LOG" | tail -n 3 | sed 's/^/#   /'
# Each kill leaks 1 to 3 fds of the dead incarnation until a sweep ends.
tap_ok $([ "$fds" -le $((fds0 + 8)) ] && echo 0 || echo 1) \
    "keeper fds bounded over $KILLS kills under the load ($fds0 before, $fds after)"
wait "$BENCH"
rc=$?
grep -E '^bench' "$D/bench" | head -2 | sed 's/^/# /'
grep -q 'errors=0 proto_errors=0' "$D/bench" && [ $rc -eq 0 ]
tap_ok $? "the workload saw no error across the kills"
stop_daemon
tap_end
[ $TAPFAIL -eq 0 ]
