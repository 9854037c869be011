#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# upgrade.sh PHOENIXFSD PHX_FRONT: live upgrade (DESIGN 8) while a frontend
# keeps requests in flight on its one connection: `phoenixfsd --upgrade
# NEWBIN --pid-file P` makes the keeper re-execute itself from another copy
# of the binary (same pid, same connection), twice, under each sandbox
# mode; a binary that refuses the layout (/bin/false) is never exec'ed and
# the daemon goes on serving. The workload must see no error. The keeper's
# seccomp filter (kfilter.c) allows all of it, and survives the two
# upgrades as the one filter it was (no stack of one per upgrade).
# PHX_UPGRADE_FROM=BIN (a build of layout 5, run by hand): also a live
# upgrade from it, whose keeper adds the live index (layout 6) to the
# old region while requests are in flight, a downgrade back to it
# (refused), then kills of the worker.
# TAP; ends with "N passed, N failed".
set -u
PHX=${1:?usage: upgrade.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: upgrade.sh PHOENIXFSD PHX_FRONT}
. "$(dirname "$0")/../lib.sh"
lib_tmp_pids phx-upgrade
cp "$PHX" "$T/phx-a"
cp "$PHX" "$T/phx-b"
# start_busy BIN DIR MODE SECONDS: a daemon of BIN in DIR (sets S, K)
# and a workload on it for SECONDS (sets B); returns after 1 s of it.
start_busy() {
	S=$2
	mkdir -p "$S/share"
	"$1" --socket-path="$S/sock" --shared-dir="$S/share" \
	    --sandbox="$3" --pid-file="$S/pid" >"$S/log" 2>&1 &
	PIDS="$PIDS $!"
	lib_wait_socket "$S/sock" 50 "" "$S/pid"
	K=$(cat "$S/pid")
	timeout 120 "$FRONT" --socket "$S/sock" --label upgrade bench \
	    --workload mixed --depth 16 --seconds "$4" >"$S/bench" 2>&1 &
	B=$!
	sleep 1
}
for mode in namespace none; do
	start_busy "$T/phx-a" "$T/$mode" $mode 6
	"$T/phx-a" --upgrade "$T/phx-b" --pid-file="$S/pid" >"$S/up1" 2>&1
	lib_tap $? "$mode: upgrade to another binary while requests are in flight"
	[ "$(stat -L -c %i /proc/$K/exe)" = "$(stat -c %i "$T/phx-b")" ]
	lib_tap $? "$mode: the keeper (same pid $K) runs the new binary"
	sleep 1
	"$T/phx-b" --upgrade /bin/false --pid-file="$S/pid" >"$S/up2" 2>&1
	st=$?
	grep -q "upgrade refused" "$S/log"
	lib_tap $(( st != 0 && $? == 0 ? 0 : 1 )) "$mode: a binary that refuses the layout is never executed"
	sleep 0.5
	"$T/phx-b" --upgrade "$T/phx-a" --pid-file="$S/pid" >"$S/up3" 2>&1
	lib_tap $? "$mode: upgrade back to the first binary"
	sleep 0.5
	st=$(awk '$1 == "Seccomp:" { print $2 }' /proc/$K/status)
	nf=$(awk '$1 == "Seccomp_filters:" { print $2 }' /proc/$K/status)
	[ "$st" = 2 ] && [ "$nf" = 1 ]
	lib_tap $? "$mode: after two upgrades the keeper has its one filter (Seccomp $st, filters $nf)"
	wait $B
	rc=$?
	sed 's/^/# /' "$S/bench"
	grep -q 'errors=0 proto_errors=0' "$S/bench" && [ $rc -eq 0 ]
	lib_tap $? "$mode: the workload saw no error across the upgrades"
	[ "$(grep -c 'upgraded to phoenixfsd' "$S/log")" -eq 2 ]
	lib_tap $? "$mode: two upgrades logged by the keeper"
	! grep -q "forbidden syscall" "$S/log"
	lib_tap $? "$mode: no call refused by a filter"
	grep -E "upgrade|refus|recovered" "$S/log" | head -8 | sed 's/^/# /'
done

if [ -n "${PHX_UPGRADE_FROM:-}" ]; then
	cp "$PHX_UPGRADE_FROM" "$T/phx-old"
	start_busy "$T/phx-old" "$T/from-old" namespace 8
	"$T/phx-a" --upgrade "$T/phx-b" --pid-file="$S/pid" >"$S/up1" 2>&1
	lib_tap $? "from layout 5: upgrade while requests are in flight"
	grep -q "state layout 5 -> 6" "$S/log"
	lib_tap $? "from layout 5: the new keeper added the live index"
	# No way back: the layout-5 binary's probe refuses layout 6, so it
	# is never executed and the new binary goes on serving.
	sleep 0.3
	"$T/phx-b" --upgrade "$T/phx-old" --pid-file="$S/pid" >"$S/up2" 2>&1
	st=$?
	[ $st -ne 0 ] && grep -q "upgrade refused" "$S/log" &&
	    [ "$(stat -L -c %i /proc/$K/exe)" = "$(stat -c %i "$T/phx-b")" ]
	lib_tap $? "from layout 5: a downgrade to it is refused (status $st)"
	# Kills after the conversion: recovery reads the index it built.
	n=0
	for i in 1 2 3 4 5; do
		sleep 0.5
		w=$(pgrep -P "$K" | head -n 1)
		[ -n "$w" ] && kill -KILL "$w" && n=$((n + 1))
	done
	wait $B
	rc=$?
	sed 's/^/# /' "$S/bench"
	grep -q 'errors=0 proto_errors=0' "$S/bench" && [ $rc -eq 0 ]
	lib_tap $? "from layout 5: no error across the upgrade and $n kills"
	[ "$(grep -c 'recovery:' "$S/log")" -ge "$n" ] && [ "$n" -ge 3 ]
	lib_tap $? "from layout 5: the worker recovered after each kill"
	grep -E "upgrade|layout|recovery:" "$S/log" | head -8 | sed 's/^/# /'
fi
lib_tap_end
