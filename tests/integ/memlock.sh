#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# memlock.sh PHOENIXFSD PHX_FRONT RINGHOG: a worker's io_uring rings do not
# depend on the uid's RLIMIT_MEMLOCK budget, which every process of the uid
# on the host shares (~146 daemons of ~7 rings as root spend 8 MiB). RINGHOG
# (tests/integ/ringhog.c) drops CAP_IPC_LOCK and holds rings until
# io_uring_setup answers ENOMEM, and keeps the budget spent while a daemon
# starts and serves `bench --workload create_unlink` (creations: the
# exactly-once path). Checks: the budget is spent (`ringhog check` without
# CAP_IPC_LOCK gets ENOMEM), the worker holds io_uring fds
# (/proc/WORKER/fd) and the daemon log has no "no io_uring for exactly-once
# operations" (before, with no CAP_IPC_LOCK in the worker set: no ring, the
# warning, every creation decided by identity after a kill); RINGHOG gone,
# the budget is back (other tests on the host need it). The window is held
# for as short as the checks take (a few seconds: other daemons of the host
# lose their rings meanwhile; not parallel). TAP.
set -u
PHX=${1:?usage: memlock.sh PHOENIXFSD PHX_FRONT RINGHOG}
FRONT=${2:?usage: memlock.sh PHOENIXFSD PHX_FRONT RINGHOG}
HOG=${3:?usage: memlock.sh PHOENIXFSD PHX_FRONT RINGHOG}
. "$(dirname "$0")/../lib.sh"
lib_need_root memlock.sh
lib_tmp_pids phx-memlock
SOCK=$T/vhost.sock
SHARE=$T/share
mkdir -p "$SHARE/d"

if ! "$HOG" check 2>"$T/check0.out"; then
	# Someone else has spent it: no test possible, and nothing of ours.
	lib_tap 0 "# SKIP the memlock budget is spent before the test: $(cat "$T/check0.out")"
	lib_tap_end
	exit 0
fi

# At most 60 s, whatever happens to this script (PR_SET_PDEATHSIG too).
"$HOG" hold 60 >"$T/hog.out" 2>&1 &
HPID=$!
PIDS="$PIDS $HPID"
for _ in $(seq 100); do
	grep -q '^held' "$T/hog.out" && break
	kill -0 "$HPID" 2>/dev/null || break
	sleep 0.1
done
echo "# ringhog: $(cat "$T/hog.out")"
# A second hog takes what the first leaves: a fresh process could still
# set up one small ring next to a single hog (seen 2 runs of 3 with 22
# rings held; with 23, none).
"$HOG" hold 60 >"$T/hog2.out" 2>&1 &
H2PID=$!
PIDS="$PIDS $H2PID"
for _ in $(seq 100); do
	grep -q '^held' "$T/hog2.out" && break
	sleep 0.1
done
echo "# ringhog 2: $(cat "$T/hog2.out")"
! "$HOG" check 2>"$T/check1.out"
lib_tap $? "the budget is spent: a ring without CAP_IPC_LOCK is refused ($(cat "$T/check1.out"))"

rm -f "$SOCK"
"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" --pid-file="$T/pid" \
    >"$T/daemon.log" 2>&1 &
DPID=$!
PIDS="$PIDS $DPID"
lib_wait_socket "$SOCK" 100 "$DPID"
timeout 60 "$FRONT" --socket "$SOCK" bench --workload create_unlink \
    --depth 4 --seconds 2 --dir d >"$T/bench.out" 2>&1 &
FPID=$!
# The worker (the keeper's child) and its io_uring fds, the most seen
# while the workload runs.
rings=0 worker=0
while kill -0 "$FPID" 2>/dev/null; do
	k=$(cat "$T/pid" 2>/dev/null)
	w=$( [ -n "$k" ] && pgrep -P "$k" | head -n 1)
	if [ -n "$w" ]; then
		worker=$w
		n=$(ls -l "/proc/$w/fd" 2>/dev/null | grep -c io_uring)
		[ "$n" -le "$rings" ] || rings=$n
	fi
	sleep 0.05
done
wait "$FPID"
rc=$?
echo "# $(grep -m1 '^bench' "$T/bench.out")"
lib_tap $rc "bench create_unlink with the budget spent"
[ "$rings" -gt 0 ]
lib_tap $? "the worker $worker holds io_uring rings (at most $rings seen)"
grep -i 'io_uring' "$T/daemon.log" | sed 's/^/# /'
! grep -q 'no io_uring for exactly-once operations' "$T/daemon.log"
lib_tap $? "no \"no io_uring for exactly-once operations\" in the daemon log"

! grep -q 'forbidden syscall' "$T/daemon.log"
lib_tap $? "no forbidden syscall trapped"

# Release first, then the daemon's end.
kill "$HPID" "$H2PID" 2>/dev/null
wait "$HPID" "$H2PID" 2>/dev/null
ok=1
for _ in $(seq 50); do
	"$HOG" check 2>/dev/null && { ok=0; break; }
	sleep 0.1
done
lib_tap $ok "ringhog gone: the budget is back (a ring without CAP_IPC_LOCK is set up)"
lib_wait_exit "$DPID" 100 || kill -9 "$DPID" 2>/dev/null
lib_tap_end
