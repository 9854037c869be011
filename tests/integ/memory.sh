#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# memory.sh PHOENIXFSD PHX_FRONT: the state region costs memory by what the
# guest uses, not by its capacity (issue 10, peak and idle RSS). The region
# is a sparse memfd of 222 MiB (journal slots of 8 KiB per head of 9
# queues of up to 1024, inode tables for 1M entries); `phoenixfsd --status`
# prints the bytes of it in memory. Checked:
#   - idle after INIT with 2 request queues of 1024 heads: under 2 MiB
#     (before: every slot's page was read by the queue start's scan, 12.3
#     MiB; now scans stop at the queue's heads_used);
#   - after a lookup workload over 10,000 files: under 8 MiB (before: the
#     inode index's hash touched a page per inode, 14.3 MiB of it; now
#     neighbouring inode numbers share pages).
# TAP; ends with "N passed, N failed".
set -u
PHX=${1:?usage: memory.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: memory.sh PHOENIXFSD PHX_FRONT}
. "$(dirname "$0")/../lib.sh"
lib_tmp_pids phx-memory
SOCK=$T/vhost.sock
SHARE=$T/share
mkdir -p "$SHARE"

region_kib() { # KiB of the region in memory, from --status
	"$PHX" --status --json --pid-file "$T/pid" 2>/dev/null |
	    sed -n 's/.*"resident_bytes":\([0-9]*\).*/\1/p' |
	    awk '{ printf "%d", $1 / 1024 }'
}

start() {
	rm -f "$SOCK" "$T/pid"
	"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" --sandbox=none \
	    --pid-file="$T/pid" "$@" >"$T/daemon.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	lib_wait_socket "$SOCK" 100 "$DPID" "$T/pid"
}

# Waits (up to 10 s) for the worker to log the connection.
connected() {
	for _ in $(seq 100); do
		grep -q "client connected" "$T/daemon.log" && return 0
		sleep 0.1
	done
	return 1
}

# measure SECONDS LIMIT_KIB DESC: after the front-end (FPID) connected and
# SECONDS passed, the region's bytes in memory must be under LIMIT_KIB;
# then the front-end must end well.
measure() {
	connected && sleep "$1"
	kib=$(region_kib)
	echo "# region in memory, $3: ${kib:-?} KiB"
	[ -n "$kib" ] && [ "$kib" -lt "$2" ]
	lib_tap $? "$3: region under $(($2 / 1024)) MiB (${kib:-?} KiB)"
	wait "$FPID"
	rc=$?
	grep '^bench' "$T/front.out" | sed 's/^/# /'
	lib_tap $rc "$3: the front-end ended without errors"
	lib_wait_exit "$DPID" 50 || lib_stop "$DPID" 5
}

# 1. Idle after INIT, 2 request queues of 1024 heads.
start --queues 2
timeout 60 "$FRONT" --socket "$SOCK" --wait 5 --queues 2 --queue-size 1024 \
    bench --workload idle --seconds 4 >"$T/front.out" 2>&1 &
FPID=$!
measure 1 2048 "idle after INIT, 2 queues of 1024"

# 2. Lookups over 10,000 files (prepared through the daemon).
start
timeout 300 "$FRONT" --socket "$SOCK" --wait 5 bench --workload lookup \
    --prepare-only >"$T/front.out" 2>&1
lib_wait_exit "$DPID" 50 || lib_stop "$DPID" 5
start
timeout 120 "$FRONT" --socket "$SOCK" --wait 5 bench --workload lookup \
    --depth 16 --seconds 6 >"$T/front.out" 2>&1 &
FPID=$!
measure 4 8192 "lookups over 10,000 files"
lib_tap_end
