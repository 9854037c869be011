#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# limits.sh PHOENIXFSD PHX_FRONT: the per-daemon caps that keep one guest
# from exhausting the host for the others (issue 9 finding 7) and the fd
# budget under a low RLIMIT_NOFILE (issue 12 part 3), at protocol level.
# The share holds capdir/f0 .. f1499 (made here, on the host);
# `phx-front fdcap` looks them up until the daemon refuses (fdcap.c):
#   --max-fds=100 --inode-file-handles=never: refusal ENFILE at 75 fds
#       (a quarter stays for open files), OPENs then succeed until their
#       own ENFILE at 100, the daemon keeps serving, FORGET frees entries;
#   --max-inodes=64 --inode-file-handles=prefer: the same for the inode
#       table (no fd per inode);
#   --rlimit-nofile=1024 never: the fd budget stops the tables below the
#       worker's own limit: ENFILE, never EMFILE (before: EMFILE from
#       openat, the tables had no budget below 1088);
#   --rlimit-nofile=1024 prefer: all 1500 lookups succeed, no fd per inode;
#   --rlimit-nofile=1024 never, the worker SIGKILLed at the cap: the new
#       worker takes over the full tables (GETATTR of every held entry),
#       then the same ENFILE, serving, FORGET checks; one death, no crash
#       loop (no eviction in never mode: see README, fd and inode limits).
# Each case also checks that the worker never died (no worker end but the
# one after the frontend left, in the daemon log) and prints the worker's
# highest fd count. TAP; ends with
# "N passed, N failed".
set -u
PHX=${1:?usage: limits.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: limits.sh PHOENIXFSD PHX_FRONT}
. "$(dirname "$0")/../lib.sh"
lib_tmp_pids phx-limits
SOCK=$T/vhost.sock
SHARE=$T/share
mkdir -p "$SHARE/capdir"
i=0
while [ $i -lt 1500 ]; do : >"$SHARE/capdir/f$i"; i=$((i + 1)); done

worker_of() { # the keeper's child, waiting up to 5 s for it
	W=""
	for _ in $(seq 50); do
		[ -s "$T/pid" ] && W=$(pgrep -P "$(cat "$T/pid")" | head -n 1)
		[ -n "$W" ] && break
		sleep 0.1
	done
	echo "${W:-0}"
}

fdcap_bg() { # runs fdcap in the background; FPID, output in $T/fdcap.out
	timeout 120 "$FRONT" --socket "$SOCK" fdcap --dir capdir --files 1500 \
	    ${KILLCMD:+--kill-cmd "$KILLCMD"} "$@" >"$T/fdcap.out" 2>&1 &
	FPID=$!
}

run_case() { # desc; fdcap options; -- daemon options
	desc=$1 fopts=$2
	shift 2
	rm -f "$SOCK" "$T/pid"
	"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" --sandbox=namespace \
	    --pid-file="$T/pid" "$@" >"$T/daemon.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	lib_wait_socket "$SOCK" 50
	w0=$(worker_of)
	KILLCMD=${KILL:+kill -KILL $w0}
	fdcap_bg $fopts
	nfd=0
	# the worker's highest fd count while fdcap runs (shares the keeper's;
	# after a kill, the new worker's)
	while kill -0 "$FPID" 2>/dev/null; do
		[ -d "/proc/$w0" ] || w0=$(worker_of)
		n=$(ls "/proc/$w0/fd" 2>/dev/null | wc -l)
		[ "$n" -le "$nfd" ] || nfd=$n
		sleep 0.05
	done
	wait "$FPID"
	rc=$?
	grep -E '^not ok|^fdcap:' "$T/fdcap.out" | sed 's/^/# /'
	echo "# worker fds, highest seen: $nfd (daemon: $*)"
	lib_tap $rc "fdcap $fopts: $desc"
	lib_wait_exit "$DPID" 50
	# a worker death is logged "worker N ended (signal S)"; the one
	# normal end, after the frontend left, "(status 0)"; with KILL, the
	# one SIGKILL and nothing else (a worker that cannot recover at the
	# cap dies again: "died before serving", "failed recoveries")
	if [ -n "${KILL:-}" ]; then
		d=$(grep -cE 'ended \(signal|ended \(status [1-9]' "$T/daemon.log")
		k=$(grep -cE 'ended \(signal 9\)' "$T/daemon.log")
		! grep -qE 'before serving|failed recoveries|degraded' "$T/daemon.log" &&
		    [ "$d" -eq 1 ] && [ "$k" -eq 1 ]
		lib_tap $? "one worker death, the kill's, no crash loop ($d deaths; $*)"
	else
		! grep -qE 'ended \(signal|ended \(status [1-9]' "$T/daemon.log"
		lib_tap $? "the worker never died ($*)"
	fi
	if grep -qiE 'fatal|too many open' "$T/daemon.log"; then
		sed 's/^/# log: /' "$T/daemon.log" | tail -n 5
		lib_tap 1 "daemon log clean ($*)"
	else
		lib_tap 0 "daemon log clean ($*)"
	fi
}

run_case "the operator's fd cap: ENFILE, serving, FORGET frees" \
    "--open-reserve" --max-fds=100 --inode-file-handles=never
run_case "the operator's inode cap: ENFILE, serving, FORGET frees" \
    "" --max-inodes=64 --inode-file-handles=prefer
run_case "RLIMIT_NOFILE 1024, never: ENFILE below the worker's limit" \
    "--open-reserve" --rlimit-nofile=1024 --inode-file-handles=never
run_case "RLIMIT_NOFILE 1024, prefer: no fd per inode, all 1500 held" \
    "--expect-all" --rlimit-nofile=1024 --inode-file-handles=prefer
KILL=1 run_case "RLIMIT_NOFILE 1024, never, worker killed at the cap" \
    "--open-reserve" --rlimit-nofile=1024 --inode-file-handles=never

# A held nodeid whose file is removed while a new one takes its inode
# number (the share is on ext4 or xfs in CI: /tmp): the new file must get
# its own nodeid, in both modes (prefer: the table's handle pins nothing).
for mode in never prefer; do
	rm -f "$SOCK" "$T/pid"
	"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" --sandbox=namespace \
	    --pid-file="$T/pid" --inode-file-handles=$mode >"$T/daemon.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	lib_wait_socket "$SOCK" 50
	out=$(timeout 120 "$FRONT" --socket "$SOCK" inoreuse --rounds 50 2>&1)
	rc=$?
	echo "$out" | grep -E '^not ok|^inoreuse:' | sed 's/^/# /'
	lib_tap $rc "inoreuse --inode-file-handles=$mode ($(df -T "$SHARE" | awk 'NR == 2 { print $2 }'))"
	lib_wait_exit "$DPID" 50
done
lib_tap_end
