#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest memory hot-plug and hot-unplug (a DIMM of a memfd backend, as Kata
# and cloud VM resizes do) on a running share, with the worker killed
# around each change. QEMU sends ADD_MEM_REG at the plug and REM_MEM_REG
# once the guest has offlined the DIMM; the guest (tests/vm/guest/memhp.sh,
# memory onlined movable) reads a 96 MiB file and writes 32 MiB through
# page cache that lands in the DIMM. Kills: right after the plug (the new
# worker maps the DIMM from the state region's table), while the guest
# reads into it, right after the REM_MEM_REG. Checks: no guest error, the
# bytes on both sides, and the keeper's memfd count (the fds QEMU sent for
# guest RAM, plus our state region) back to its count before the plug
# (an fd kept for a removed DIMM pins its memory on the host).
#
# usage: memhp.sh [--bin PATH] [--timeout SEC] [--keep]
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
DAEMON=phoenixfsd BIN="" TIMEOUT=300 KEEP=0
while [ $# -gt 0 ]; do
	lib_opt memhp.sh "$@"
	shift "$LIB_SHIFT"
done
lib_daemon_bin memhp.sh "$REPO/build/src/phoenixfsd"
lib_need_root memhp.sh
lib_need_exec memhp.sh "$BIN" "(build it first)"
"$REPO/tests/vm/prepare.sh" >/dev/null || { lib_nok "tests/vm/prepare.sh"; lib_finish; }

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-memhp.XXXXXX")
SHARE=$T/share SOCK=$T/sock MON=$T/mon OUT=$T/out LOG=$T/daemon.log
DPID="" RPID="" TPID="" KPID=""
cleanup() {
	set +e
	for p in $RPID $TPID; do kill "$p" 2>/dev/null; done
	[ -z "$RPID" ] || wait "$RPID" 2>/dev/null
	lib_stop_daemon 25
	lib_keep_or_remove memhp.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A monitor gone (the guest ended, QEMU with it) is no error of ours here:
# what a command did is checked from its output file and the guest.
hmp() { lib_hmp "$MON" "$1" 2>&1 || true; }
KILLS=0
killw() { # killw WHY
	local w
	w=$(ps -o pid=,stat= --ppid "$KPID" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }' | head -1)
	if [ -n "$w" ] && kill -KILL "$w" 2>/dev/null; then
		KILLS=$((KILLS + 1))
		echo "memhp: killed worker $w ($1)"
	else
		lib_nok "a worker to kill ($1)"
	fi
}
memfds() { ls -l "/proc/$KPID/fd" 2>/dev/null | grep -c 'memfd:' || true; }
await() { # await PATTERN FILE SECONDS
	local i
	for i in $(seq $(($3 * 5))); do
		grep -q -- "$1" "$2" 2>/dev/null && return 0
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.2
	done
	grep -q -- "$1" "$2" 2>/dev/null
}

mkdir -p "$SHARE"
head -c $((96 << 20)) /dev/urandom >"$SHARE/big.bin"
sha256sum <"$SHARE/big.bin" | cut -d' ' -f1 >"$SHARE/big.sum"
"$BIN" --socket-path="$SOCK" --shared-dir="$SHARE" --pid-file="$T/pid" \
    --debug >"$LOG" 2>&1 &
DPID=$!
lib_wait_socket "$SOCK" 100 "$DPID" "$T/pid" || { lib_nok "daemon started"; cat "$LOG"; lib_finish; }
KPID=$(cat "$T/pid")
echo "== memhp: phoenixfsd $BIN, keeper $KPID"
lib_guest_start "$OUT" '' --socket "$SOCK" --timeout "$TIMEOUT" \
    --script "$REPO/tests/vm/guest/memhp.sh" --mem 256M --maxmem 1G \
    --monitor "$MON" --append memhp_default_state=online_movable
if await '^PHX-MH ready' "$OUT" 120; then
	m0=$(memfds)
	hmp "object_add memory-backend-memfd,id=mem1,size=256M,share=on" >"$T/mon.obj"
	hmp "device_add pc-dimm,id=dimm1,memdev=mem1" >"$T/mon.add"
	lib_check "the DIMM plugged (no monitor error)" \
	    bash -c "! grep -qi error '$T/mon.obj' '$T/mon.add'"
	await 'ADD_MEM_REG' "$LOG" 10 && sleep 0.2
	m1=$(memfds)
	[ -n "${NOKILL1:-}" ] || killw "right after the plug's ADD_MEM_REG"
	if await '^PHX-MH plugged' "$OUT" 120; then
		sleep 1.5
		killw "while the guest reads into the DIMM"
	fi
	await '^PHX-MH written' "$OUT" 240 || true
	: >"$SHARE/go.unplug"
	hmp "device_del dimm1" >"$T/mon.del"
	if await 'REM_MEM_REG' "$LOG" 120; then
		killw "right after the unplug's REM_MEM_REG"
	else
		lib_nok "REM_MEM_REG after device_del"
	fi
	await '^PHX-MH unplugged' "$OUT" 120 || true
	# The DIMM's memfd goes once nothing uses it any more.
	for i in $(seq 50); do [ "$(memfds)" -le "$m0" ] && break; sleep 0.1; done
	m2=$(memfds)
	echo "memhp: keeper memfds before the plug $m0, after it $m1, after the unplug $m2"
	lib_check "the plug added one memfd to the keeper's table ($m0 -> $m1)" \
	    test "$m1" -eq $((m0 + 1))
	lib_check "the unplug closed it ($m2 = $m0)" test "$m2" -eq "$m0"
fi
rc=0
lib_guest_wait || rc=$?
lib_check "guest: no error (exit $rc)" test "$rc" = 0
lib_check "guest: every step done" grep -q '^PHX-MH end: errors 0' "$OUT"
lib_check "guest's 32 MiB written through the DIMM, checksummed on the host" \
    test "$(sha256sum <"$SHARE/w.bin" | cut -d' ' -f1)" = "$(cat "$SHARE/w.sum" 2>/dev/null)"
lib_check "3 kills" test "$KILLS" -eq 3
lib_check "3 recoveries in the daemon log" \
    test "$(grep -c 'recovered from a worker kill' "$LOG")" -eq 3
lib_check "one ADD_MEM_REG and one REM_MEM_REG at run time" \
    test "$(grep -c 'REM_MEM_REG' "$LOG")" -eq 1
lib_stop_daemon 25
lib_finish
