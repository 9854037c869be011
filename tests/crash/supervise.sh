#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# supervise.sh PHOENIXFSD PHX_FRONT: the keeper's supervision under the
# timing windows of issue 11 part 2 (defects 7, 9, 10, 13; issue 9 finding
# 10). Each case holds a window open with PHX_DELAY (a daemon built with
# -Dcrashpoints=true), kills the worker inside it and checks that the
# phx-front workload on the one connection sees no error and no hang:
#   ring     a thread's io_uring ring created while the fd sweep runs
#   upgrade  the keeper's upgrade-binary fd received while a sweep runs
#   swap     the upgrade fd's number names another file before the exec:
#            the keeper refuses it (fail closed), never executes it
#   accept   a kill between accept4 and dup2, and between dup2 and
#            conn_state=UP, on the first connection
#   clone    5 failed clone()s (PHX_CLONE_FAIL) after a kill
#   resume   after a live upgrade the keeper lists only its own fds
#   oom      after a live upgrade an OOM kill is still told from SIGKILL
#            (a memory cgroup of its own; skipped if none can be made)
# TAP; ends with "# N passed, N failed". About 150 s (70 s of it the oom case
# and the workloads it waits for; loaded 2-CPU host).
set -u
DAEMON=${1:?usage: supervise.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: supervise.sh PHOENIXFSD PHX_FRONT}
PHX_CRASH_SANDBOX=${PHX_CRASH_SANDBOX:-namespace}
. "$(dirname "$0")/lib.sh"

worker() { cat /proc/"$KEEPER"/task/*/children 2>/dev/null | awk '{print $1; exit}'; }
sockets() { ls -l /proc/"$KEEPER"/fd 2>/dev/null | grep -c 'socket:'; }

# bench SECONDS: a GETATTR workload (no fd created in steady state, so a
# kill leaks nothing) in the background; BENCH = its pid, output $D/bench.
bench() {
	timeout 60 "$FRONT" --socket "$SOCK" bench --workload getattr \
	    --depth 4 --seconds "$1" >"$D/bench" 2>&1 &
	BENCH=$!
}
bench_ok() { # DESC: the workload ended well
	wait "$BENCH"
	rc=$?
	grep -E '^bench' "$D/bench" | head -2 | sed 's/^/# /'
	grep -q 'errors=0 proto_errors=0' "$D/bench" && [ $rc -eq 0 ]
	tap_ok $? "$1"
}
swept() { # the number of fds the sweeps closed, from the log
	grep -o 'closed [0-9]* fds leaked' "$LOG" | awk '{n += $2} END {print n + 0}'
}

# ring: a kill at a steady state leaks only the dead incarnation's own
# fds (baseline run); with every io_uring ring creation held 0.4 s before
# its fd is recorded, the sweep after the same kill must close no more.
for run in base ring; do
	case $run in
	base) env=PHX_X=1 ;;
	ring) env=PHX_DELAY=intent.ring_init:400000 ;;
	esac
	if start_daemon $run $env; then
		bench 8
		sleep 3
		kill -9 "$(worker)"
		bench_ok "$run: workload across a kill"
		sleep 1
		n=$(swept)
		echo "# $run: the sweep closed $n fds"
		[ $run = base ] && BASE=$n
		stop_daemon
	else
		tap_ok 1 "$run: daemon started"; show_log 10
	fi
done
tap_ok $([ "$n" -le "${BASE:-0}" ] && echo 0 || echo 1) \
    "ring: the sweep closed no ring fd of a starting thread ($n closed, $BASE without the delay)"

# upgrade: the sweep after a kill waits 1 s; the upgrade fd arrives in
# that second and the keeper holds it 2.5 s before the probe.
cp "$DAEMON" "$T/phx-b"
if start_daemon upgrade \
    PHX_DELAY=fdtab.sweep_start:1000000,keeper.upgrade_fd:2500000; then
	bench 10
	sleep 2
	kill -9 "$(worker)"
	sleep 0.3
	timeout 40 "$DAEMON" --upgrade "$T/phx-b" --pid-file="$PIDF" \
	    >"$D/up" 2>&1
	tap_ok $? "upgrade: the upgrade received during a sweep succeeds"
	n=$(swept)
	echo "# upgrade: sweep closed $n fds; $(grep -E 'upgrade' "$LOG" | tail -1)"
	tap_ok $([ "$n" -le "${BASE:-0}" ] && echo 0 || echo 1) \
	    "upgrade: the sweep left the keeper's upgrade fd alone ($n closed, $BASE without an upgrade)"
	bench_ok "upgrade: workload across the kill and the upgrade"
	stop_daemon
else
	tap_ok 1 "upgrade: daemon started"; show_log 10
fi

# swap: the fd's number is made to name the running binary (what a guest
# file could be after a sweep); the keeper must refuse, not execute it.
if start_daemon swap PHX_TEST_UPGRADE_SWAP=1; then
	timeout 40 "$DAEMON" --upgrade "$T/phx-b" --pid-file="$PIDF" \
	    >"$D/up" 2>&1
	st=$?
	grep -E 'upgrade' "$LOG" | tail -2 | sed 's/^/# /'
	! grep -q 'upgraded to phoenixfsd' "$LOG"
	tap_ok $? "swap: the keeper never executes a file it was not sent"
	grep -q 'no longer the binary' "$LOG" && [ $st -ne 0 ]
	tap_ok $? "swap: the upgrade is refused and the tool says so"
	bench 2
	bench_ok "swap: the daemon serves on"
	stop_daemon
else
	tap_ok 1 "swap: daemon started"; show_log 10
fi

# accept: the first worker is killed between accept4 and dup2, then
# between dup2 and conn_state=UP; QEMU (phx-front) connects only once.
for p in worker.accepted worker.conn_moved; do
	if start_daemon "$p" PHX_DELAY=$p:1500000; then
		s0=$(sockets)
		bench 3
		# In the window: the accepted socket is in the table.
		i=0
		while [ "$(sockets)" -le "$s0" ] && [ $i -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		sleep 0.2
		w=$(worker)
		kill -9 "$w"
		bench_ok "accept: $p: the first connection survives a kill in the window"
		grep -q 'adopting the connection' "$LOG"
		tap_ok $? "accept: $p: the next worker adopted the connection"
		stop_daemon
	else
		tap_ok 1 "accept: $p: daemon started"; show_log 10
	fi
done

# clone: after a kill the next five clone()s fail (EAGAIN).
if start_daemon clone PHX_CLONE_FAIL=5; then
	bench 6
	sleep 1.5
	kill -9 "$(worker)"
	bench_ok "clone: workload across 5 failed respawns"
	grep -E 'cannot start|started after' "$LOG" | sed 's/^/# /'
	grep -q 'worker started after 5 failed attempts' "$LOG"
	tap_ok $? "clone: the keeper retried and started a worker"
	stop_daemon
else
	tap_ok 1 "clone: daemon started"; show_log 10
fi

# resume: a live upgrade with 64+ table fds open; the new keeper keeps
# its own handful of fds, not a snapshot of the worker's.
if start_daemon resume; then
	timeout 60 "$FRONT" --socket "$SOCK" bench --workload lookup \
	    --depth 4 --seconds 6 >"$D/bench" 2>&1 &
	BENCH=$!
	sleep 2
	timeout 40 "$DAEMON" --upgrade "$T/phx-b" --pid-file="$PIDF" \
	    >"$D/up" 2>&1
	tap_ok $? "resume: upgraded while files are open"
	l=$(grep 'upgraded to phoenixfsd' "$LOG" | tail -1)
	echo "# $l"
	n=$(echo "$l" | sed -n 's/.*keeper fds \([0-9]*\).*/\1/p')
	[ -n "$n" ] && [ "$n" -le 16 ]
	tap_ok $? "resume: the resumed keeper lists only its own fds (${n:-?})"
	bench_ok "resume: workload across the upgrade"
	stop_daemon
else
	tap_ok 1 "resume: daemon started"; show_log 10
fi

# oom: after a live upgrade the keeper still tells an OOM kill from an
# operator's SIGKILL. The daemon runs in a memory cgroup of its own (v1
# memory.oom_control or v2 memory.events); a hog there is OOM-killed (the
# cgroup's oom_kill counter moves), then the worker dies of SIGKILL: the
# keeper must count it as an OOM kill. Skipped without a writable cgroup.
CG=""
mem=$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' /proc/self/cgroup)
if [ -n "$mem" ] && mkdir "/sys/fs/cgroup/memory$mem/phx-oom.$$" 2>/dev/null; then
	CG=/sys/fs/cgroup/memory$mem/phx-oom.$$
	echo $((128 << 20)) >"$CG/memory.limit_in_bytes"
	echo $((128 << 20)) >"$CG/memory.memsw.limit_in_bytes" 2>/dev/null
fi
if [ -n "$CG" ]; then
	printf '#!/bin/sh\necho $$ >%s/cgroup.procs\nexec %s "$@"\n' \
	    "$CG" "$DAEMON" >"$T/in-cg"
	chmod +x "$T/in-cg"
	REAL=$DAEMON DAEMON=$T/in-cg
	if start_daemon oom; then
		bench 20
		sleep 1
		timeout 40 "$REAL" --upgrade "$T/phx-b" --pid-file="$PIDF" \
		    >"$D/up" 2>&1
		tap_ok $? "oom: upgraded"
		sh -c "echo \$\$ >$CG/cgroup.procs; exec python3 -c 'a = bytearray(512 << 20)'" \
		    >/dev/null 2>&1
		echo "# oom: $(grep oom_kill "$CG/memory.oom_control" | tr '\n' ' ')"
		i=0
		while [ $i -lt 50 ]; do
			w=$(worker)
			[ -n "$w" ] && kill -9 "$w" && break
			sleep 0.1
			i=$((i + 1))
		done
		echo "# oom: killed worker ${w:-none} (hog done at $(date +%s), bench still running: $(kill -0 $BENCH 2>/dev/null && echo yes || echo no))"
		i=0
		while ! grep -q 'killed by the OOM killer' "$LOG" && [ $i -lt 30 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		grep -q 'killed by the OOM killer' "$LOG"
		tap_ok $? "oom: after the upgrade an OOM kill is still detected"
		grep -E 'upgraded to|OOM' "$LOG" | sed 's/^/# /'
		bench_ok "oom: workload across the upgrade and the kill"
		stop_daemon
	else
		tap_ok 1 "oom: daemon started"; show_log 10
	fi
	DAEMON=$REAL
	rmdir "$CG" 2>/dev/null
else
	echo "# oom: skipped (no writable memory cgroup)"
fi

tap_end
[ $TAPFAIL -eq 0 ]
