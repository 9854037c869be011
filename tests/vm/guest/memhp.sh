#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# In-guest half of tests/vm/memhp.sh (booted with
# memhp_default_state=online_movable): waits for the host's DIMM, then
# reads big.bin (written by the host, its sum in big.sum) and writes
# w.bin through the page cache, whose movable allocations land in the
# hot-plugged memory first; waits for go.unplug, drops the cache, waits
# for the DIMM to go and reads big.bin again. Errors: "PHX-MH error".
err=0
fail() { echo "PHX-MH error: $*"; err=$((err + 1)); }
mt() { sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo; }
movfree() {
	awk '/^Node .* zone *Movable/ { z = 1; next } /^Node/ { z = 0 }
	    z && /^ *pages free/ { print $3; exit }' /proc/zoneinfo
}
wait_for() { # wait_for WHAT CONDITION: evaluated every 0.2 s, up to 120 s
	w=0
	until eval "$2"; do
		sleep 0.2
		w=$((w + 1))
		[ "$w" -lt 600 ] || { fail "no $1"; return 1; }
	done
}
m0=$(mt)
echo "PHX-MH ready memtotal $m0"
wait_for "hot-plugged memory" '[ "$(mt)" -gt "$m0" ]' || exit 1
sleep 1 # every block of the DIMM online
echo "PHX-MH plugged memtotal $(mt) movable free pages $(movfree)"
echo 3 >/proc/sys/vm/drop_caches
f0=$(movfree)
[ "$(sha256sum <big.bin | cut -d' ' -f1)" = "$(cat big.sum)" ] ||
    fail "big.bin read into the DIMM"
f1=$(movfree)
echo "PHX-MH read movable free pages $f1"
# 96 MiB read: at least 32 MiB of it must have gone to the DIMM's pages.
[ "$((${f0:-0} - ${f1:-0}))" -ge 8192 ] ||
    fail "the reads did not land in the DIMM (movable free $f0 -> $f1)"
dd if=/dev/urandom of=w.bin bs=1M count=32 2>/dev/null || fail "write w.bin"
sync
sha256sum <w.bin | cut -d' ' -f1 >w.sum
echo "PHX-MH written movable free pages $(movfree)"
wait_for go.unplug '[ -e go.unplug ]'
echo 3 >/proc/sys/vm/drop_caches
m1=$(mt)
wait_for "memory unplug" '[ "$(mt)" -lt "$m1" ]'
echo "PHX-MH unplugged memtotal $(mt)"
[ "$(sha256sum <big.bin | cut -d' ' -f1)" = "$(cat big.sum)" ] ||
    fail "big.bin read after the unplug"
echo "again" >after && [ "$(cat after)" = again ] || fail "write after"
echo "PHX-MH end: errors $err"
exit $((err > 0))
