#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The contrast to crash_kill.sh: what users get today. Runs the same guest
# workload (tests/vm/guest/workload.c) against QEMU's C virtiofsd, SIGKILLs
# virtiofsd once a few seconds into the workload, and records what the
# guest sees: a hang (the workload's op blocks; its watchdog prints STALL
# lines and nothing completes) or errors. Prints one summary line
# "contrast: ..." and "N passed, N failed". Exit 0 iff it ran as expected:
# the workload was clean before the kill and the failure was observed after
# it. A guest that carried on unharmed is a failure of this script (the
# contrast did not show).
#
# usage: crash_contrast.sh [--bin IGNORED] [--virtiofsd PATH] [--seconds 30]
#                          [--kill-after 5] [--hang-s 20] [--timeout SEC]
#                          [--seed N] [--baseline] [--keep]
# --bin is accepted (and ignored) because scripts/test.sh passes phoenixfsd's
# path to every tests/vm/crash_*.sh. --hang-s: the guest counts as hung once
# an op has blocked this long after the kill (the guest is then stopped).
# --baseline first runs the workload once without a kill (expects 0 errors,
# 0 mismatches and a host tree equal to the model), to validate the
# workload against the reference daemon.
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
VFSD=/usr/lib/qemu/virtiofsd SECS=30 KAFTER=5 HANG=20 TIMEOUT="" SEED=""
BASELINE=0 KEEP=0

usage() {
	sed -n '/^# usage:/,/^# --bin/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--bin) shift 2 ;;
	--virtiofsd) VFSD=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--kill-after) KAFTER=$2; shift 2 ;;
	--hang-s) HANG=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--baseline) BASELINE=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h|--help) usage ;;
	*) echo "crash_contrast.sh: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$SEED" ] || SEED=$(( $(date +%s) % 100000 ))
[ -n "$TIMEOUT" ] || TIMEOUT=$((SECS * 2 + 180))
lib_need_root crash_contrast.sh
lib_need_exec crash_contrast.sh "$VFSD"


T=$(mktemp -d "${TMPDIR:-/tmp}/phx-contrast.XXXXXX")
DPID="" RPID="" TPID=""
cleanup() {
	set +e
	for p in $RPID $TPID; do kill "$p" 2>/dev/null; done
	[ -z "$RPID" ] || wait "$RPID" 2>/dev/null
	lib_stop_daemon 25
	lib_keep_or_remove crash_contrast.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

msnow() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

echo "== crash_contrast: $VFSD, one SIGKILL ${KAFTER} s into a ${SECS} s workload, seed $SEED"
"$REPO/tests/vm/prepare.sh" >/dev/null || { lib_nok "tests/vm/prepare.sh"; lib_finish; }
gcc -static -O2 -Wall -o "$T/workload" "$REPO/tests/vm/guest/workload.c" -lpthread
gcc -O2 -Wall -o "$T/workload-host" "$REPO/tests/vm/guest/workload.c" -lpthread

# start_vfsd DIR: virtiofsd on $T/vhost.sock sharing DIR
start_vfsd() {
	rm -f "$T/vhost.sock"
	"$VFSD" --socket-path="$T/vhost.sock" -o source="$1" -o cache=auto \
	    >"$T/daemon.log" 2>&1 &
	DPID=$!
	lib_wait_socket "$T/vhost.sock" 100 "$DPID" && return 0
	cat "$T/daemon.log"
	return 1
}
# start_guest OUT: boot the guest running guest/crash.sh, output to OUT
start_guest() {
	lib_guest_start "$1" '^PHX-MODEL ' --socket "$T/vhost.sock" \
	    --timeout "$TIMEOUT" --script "$REPO/tests/vm/guest/crash.sh" \
	    --add "$T/workload:/phx/workload" --add "$T/params:/phx/params"
}
stop_vfsd() {
	kill "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=""
}

cat >"$T/params" <<EOF
SEED=$SEED
SECONDS_=$SECS
MAXFILES=300
MAXDIRS=60
JOBS=1
HANDSHAKE=0
EOF

# ---- optional baseline: no kill ------------------------------------------
if [ "$BASELINE" = 1 ]; then
	echo "== baseline: the workload against virtiofsd, no kill"
	mkdir -p "$T/base"
	start_vfsd "$T/base" || { lib_nok "virtiofsd started"; lib_finish; }
	start_guest "$T/base.out"
	brc=0
	lib_guest_wait || brc=$?
	stop_vfsd
	res=$(grep '^PHX-WL result ' "$T/base.out" | head -1 || true)
	lib_check "baseline: workload clean against virtiofsd ($res)" \
	    test "$brc" = 0 -a -n "$res"
	awk '/^---- full console log/ { exit } /^PHX-MODEL / { print }' \
	    "$T/base.out" | LC_ALL=C sort >"$T/base.model"
	"$T/workload-host" --list "$T/base/w0" w0 2>&1 | LC_ALL=C sort \
	    >"$T/base.host" || true
	lib_check "baseline: host tree equals the model ($(wc -l <"$T/base.model") entries)" \
	    cmp -s "$T/base.model" "$T/base.host"
fi

# ---- the contrast: one kill ----------------------------------------------
mkdir -p "$T/share"
start_vfsd "$T/share" || { lib_nok "virtiofsd started"; lib_finish; }
lib_ok "virtiofsd started (pid $DPID)"
OUT=$T/out
start_guest "$OUT"
state=start t_start=0 t_kill=0 killed=0 hung=0 t_hung=0
while kill -0 "$RPID" 2>/dev/null; do
	case $state in
	start)
		if grep -q '^PHX-WL start' "$OUT"; then
			t_start=$(msnow)
			state=wait
		fi ;;
	wait)
		if [ $(( $(msnow) - t_start )) -ge $((KAFTER * 1000)) ]; then
			ops_before=$(grep '^PHX-WL progress' "$OUT" | tail -1 |
			    sed -n 's/.* ops=\([0-9]*\).*/\1/p')
			errs_before=$(grep -c '^PHX-WL \(ERROR\|MISMATCH\)' "$OUT" || true)
			if kill -KILL "$DPID" 2>/dev/null; then
				killed=1
				t_kill=$(msnow)
				wait "$DPID" 2>/dev/null || true
				DPID=""
				echo "crash_contrast: SIGKILLed virtiofsd"
			fi
			state=watch
		fi ;;
	watch)
		# hung: the guest watchdog reports an op blocked >= HANG s
		b=$(grep '^PHX-WL STALL' "$OUT" | tail -1 |
		    sed -n 's/.* for \([0-9]*\)\..*/\1/p')
		if [ -n "$b" ] && [ "$b" -ge "$HANG" ]; then
			hung=1
			t_hung=$(msnow)
			echo "crash_contrast: guest op blocked ${b} s: hung; stopping the guest"
			kill "$RPID" 2>/dev/null || true
			break
		fi ;;
	esac
	sleep 0.2
done
rrc=0
lib_guest_wait || rrc=$?

guest=$(lib_guest_lines "$OUT")
res=$(printf '%s\n' "$guest" | grep '^PHX-WL result ' | tail -1 || true)
nerr=$(printf '%s\n' "$res" | sed -n 's/.* errors=\([0-9]*\).*/\1/p')
nmis=$(printf '%s\n' "$res" | sed -n 's/.* mismatches=\([0-9]*\).*/\1/p')
first=$(printf '%s\n' "$guest" | grep -m1 '^PHX-WL \(ERROR\|MISMATCH\)' |
    sed 's/^PHX-WL //' || true)
stall=$(printf '%s\n' "$guest" | grep '^PHX-WL STALL' | tail -1 |
    sed 's/^PHX-WL STALL //' || true)

lib_check "workload started against virtiofsd" test "$t_start" -gt 0
lib_check "workload clean before the kill (${ops_before:-?} ops, ${errs_before:-?} errors/mismatches)" \
    test "${errs_before:-1}" = 0
lib_check "virtiofsd SIGKILLed once" test "$killed" = 1
if [ "$hung" = 1 ]; then
	outcome="guest I/O hung: $stall; no reconnect, the share is dead"
elif [ "$rrc" = 124 ]; then
	outcome="guest hung until run.sh's ${TIMEOUT} s timeout"
	hung=1
elif [ -n "$res" ] && { [ "${nerr:-0}" != 0 ] || [ "${nmis:-0}" != 0 ]; }; then
	outcome="guest saw errors=$nerr mismatches=$nmis (first: $first)"
elif [ -z "$res" ]; then
	outcome="guest never finished the workload (run.sh exit $rrc)"
	hung=1
else
	outcome="guest unharmed ($res)"
fi
lib_check "the failure was observed (hang or errors)" \
    test "$hung" = 1 -o "${nerr:-0}" != 0 -o "${nmis:-0}" != 0
echo "contrast: virtiofsd SIGKILLed ${KAFTER} s into the workload (after ${ops_before:-?} clean ops): $outcome"
lib_finish
