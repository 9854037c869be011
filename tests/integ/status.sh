#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# status.sh PHOENIXFSD PHX_FRONT CRASHTEST: `phoenixfsd --status` (and
# --json) read from the state region while a front-end keeps requests in
# flight: the figures move as expected under an external SIGKILL of the
# worker (crashes.kill, recoveries, incarnation, a stall), a SEGV of its
# own (crash point: crashes.signal), a poison request (crash point on one
# request: 3 signal crashes, one quarantine with its opcode and nodeid);
# it answers, unchanged and without changing the daemon, while the worker
# is stopped with SIGSTOP, and while the worker crash-loops; the text form
# has every line; each crash+recovery logs one warn line. Needs root and a
# build with -Dcrashpoints=true. TAP; ends with "N passed, N failed".
set -u
PHX=${1:?usage: status.sh PHOENIXFSD PHX_FRONT CRASHTEST}
FRONT=${2:?usage: status.sh PHOENIXFSD PHX_FRONT CRASHTEST}
CT=${3:?usage: status.sh PHOENIXFSD PHX_FRONT CRASHTEST}
. "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
lib_tmp_pids phx-status

# start TAG [VAR=value...]: S, K (keeper), D (launcher) of a new daemon.
start() {
	S=$T/$1; shift
	mkdir -p "$S/share"
	env "$@" "$PHX" --socket-path="$S/sock" --shared-dir="$S/share" \
	    --pid-file="$S/pid" ${ARGS:-} >"$S/log" 2>&1 &
	D=$!
	PIDS="$PIDS $D"
	lib_wait_socket "$S/sock" 100 "$D" "$S/pid"
	K=$(cat "$S/pid" 2>/dev/null)
}
# json: the --status --json of the daemon of $S into $S/st.json
json() {
	timeout 5 "$PHX" --status --json --pid-file "$S/pid" >"$S/st.json" \
	    2>"$S/st.err" && return 0
	echo "# --status failed: $(cat "$S/st.err")"
	return 1
}
# get EXPR: python expressions on j, the parsed $S/st.json, one result a
# line (one interpreter for all: it is slow to start on a loaded host).
get() {
	$PY -c "import json,sys
j=json.load(open(sys.argv[1]))
for e in sys.argv[2:]: print(eval(e))" "$S/st.json" "$@" 2>/dev/null
}
# until_json SECONDS EXPR: polls --status until EXPR is true
until_json() {
	_end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -le $_end ]; do
		json && [ "$(get "$2")" = True ] && return 0
		sleep 0.2
	done
	return 1
}
worker() { pgrep -P "$K" | head -n 1; }

# ---- 1. external SIGKILL, SIGSTOP, text form ----------------------------
# (a worker stopped longer than --watchdog-ms is killed by the watchdog,
# and --status says so: here the stop must outlast the slow checks)
ARGS=--watchdog-ms=120000 start kill
timeout 120 "$FRONT" --socket "$S/sock" bench --workload mixed --depth 8 \
    --seconds 20 >"$S/bench" 2>&1 &
B=$!
PIDS="$PIDS $B"
# READs come only in the bench's measured phase (after its setup writes
# the pattern and creates its entries): a kill in the setup leaves WRITE
# flat for as long as the MKNODs take.
until_json 60 "j['worker']['serving'] and j['requests'].get('READ',{}).get('count',0) > 0"
lib_tap $? "kill: --status answers while requests are served"
set -- $(get "j['worker']['incarnation']" "j['requests']['WRITE']['count']")
inc0=${1:-0} w0=${2:-0}
echo "# before: incarnation $inc0, WRITE $w0"
kill -9 "$(worker)"
until_json 20 "j['worker']['incarnation'] == $inc0 + 1 and j['recoveries']['count'] == 1 and j['worker']['serving']"
lib_tap $? "kill: a new incarnation recovered (recoveries 1)"
echo "# after kill: crashes $(get "j['crashes']"), recoveries $(get "j['recoveries']")"
[ "$(get "j['crashes']['kill'] == 1 and j['crashes']['signal'] == 0")" = True ]
lib_tap $? "kill: counted as one external kill, no signal crash"
[ "$(get "j['recoveries']['last_stall_ns'] > 0 and j['recoveries']['p99_stall_ns'] >= j['recoveries']['last_stall_ns']")" = True ]
lib_tap $? "kill: last stall and p99 bound $(get "j['recoveries']" | tr -d "{}'")"
until_json 10 "j['requests']['WRITE']['count'] > $w0 and j['requests']['WRITE']['p99_ns'] > 0"
lib_tap $? "kill: per-opcode counts keep growing across incarnations (WRITE $w0 -> $(get "j['requests']['WRITE']" | tr -d "{}'"))"
[ "$(get "j['inodes']['used'] > 0 and j['inodes']['capacity'] > 0 and j['fds']['used'] > 0 and j['fds']['capacity'] > 0 and j['region']['resident_bytes'] > 0 and j['handles']['capacity'] > 0")" = True ]
lib_tap $? "kill: $(get "'inodes', j['inodes'], 'handles', j['handles'], 'fds', j['fds'], 'region', j['region']" | tr -d "{}'")"
W=$(worker)
kill -STOP "$W"
# Every task stopped (a loaded host takes its time: a thread finishing a
# request would change the counts the reads below compare).
for _i in $(seq 100); do
	awk '{ print $3 }' /proc/"$W"/task/*/stat 2>/dev/null | grep -qv '^[Tt]$' || break
	sleep 0.05
done
sleep 0.1
t0=$(date +%s%N)
json; rc=$?
t1=$(date +%s%N)
[ $rc -eq 0 ] && [ "$(get "j['worker']['state']")" = stopped ]
lib_tap $? "SIGSTOP: --status answers in $(( (t1 - t0) / 1000000 )) ms and says the worker is stopped"
set -- $(get "j['region']['resident_bytes']" "j['fds']['used']")
res1=${1:-} fds1=${2:-}
req1=$(get "j['requests']")
for _i in 1 2 3 4 5; do json; done
[ -n "$res1" ] && [ "$(get "j['region']['resident_bytes']" "j['fds']['used']" | tr '\n' ' ')" = "$res1 $fds1 " ] &&
    [ "$(get "j['requests']")" = "$req1" ]
lib_tap $? "SIGSTOP: 5 more reads change nothing (region $res1 bytes, $fds1 fds, same counts)"
timeout 5 "$PHX" --status --pid-file "$S/pid" >"$S/st.txt" 2>&1
rc=$?
sed 's/^/# /' "$S/st.txt"
for k in uptime worker crashes recoveries replayed quarantined degraded \
    upgrades inodes handles fds region requests WRITE; do
	grep -q "^ *$k" "$S/st.txt" || { rc=1; echo "# missing: $k"; }
done
lib_tap $rc "SIGSTOP: the text form has every figure"
kill -CONT "$W"
wait $B
rc=$?
grep 'errors=' "$S/bench" | sed 's/^/# /'
grep -q 'errors=0 proto_errors=0' "$S/bench" && [ $rc -eq 0 ]
lib_tap $? "kill: the workload saw no error"
n=$(grep -c 'recovered from a worker kill: guest stall' "$S/log")
[ "$n" -eq 1 ] || grep -E 'recover|ended|died|watchdog' "$S/log" | head -8 |
    sed 's/^/# /'
[ "$n" -eq 1 ]
lib_tap $? "kill: one warn line for the crash and its recovery ($n)"
grep 'recovered from' "$S/log" | sed 's/^/# /'

# ---- 2. a SEGV of the worker's own (crash point) -------------------------
start segv PHX_CRASH=queue.after_handler:300:SEGV
timeout 120 "$CT" work --socket "$S/sock" --share "$S/share" --keeper "$K" \
    --depth 32 --seconds 4 --expect-respawn --pool 300 --stall-timeout 10 \
    >"$S/ct" 2>&1 &
B=$!
PIDS="$PIDS $B"
until_json 30 "j['recoveries']['count'] >= 1 and j['worker']['serving']"
lib_tap $? "segv: recovered after the crash point fired"
echo "# $(get "j['crashes'], j['recoveries']")"
[ "$(get "j['crashes']['signal'] == 1 and j['crashes']['kill'] == 0")" = True ]
lib_tap $? "segv: counted as one signal crash, no kill"
wait $B
lib_tap $? "segv: crashtest checks hold ($(tail -n 1 "$S/ct"))"
grep -q 'recovered from a worker signal.*: guest stall' "$S/log"
lib_tap $? "segv: the warn line names the signal and the stall"

# ---- 3. a poison request: quarantined after 3 crashes --------------------
U=1000000002
start poison PHX_CRASH_UNIQUE=$U
timeout 120 "$CT" work --socket "$S/sock" --share "$S/share" --keeper "$K" \
    --depth 32 --seconds 4 --poison-unique $U --expect-respawn --pool 300 \
    --stall-timeout 8 >"$S/ct" 2>&1 &
B=$!
PIDS="$PIDS $B"
until_json 40 "j['quarantined'] == 1 and j['worker']['serving']"
lib_tap $? "poison: --status shows one quarantined request"
echo "# $(get "j['quarantine'], j['crashes'], 'replayed', j['replayed']")"
[ "$(get "j['crashes']['signal'] == 3 and j['recoveries']['count'] >= 1")" = True ]
lib_tap $? "poison: 3 signal crashes, $(get "j['recoveries']['count']") recoveries (a replay of the poison kills a recovering worker)"
[ "$(get "len(j['quarantine']) == 1 and j['quarantine'][0]['opcode'] not in ('', 'OTHER') and j['quarantine'][0]['nodeid'] > 0")" = True ]
lib_tap $? "poison: the quarantined request's opcode and nodeid ($(get "j['quarantine'][0]['opcode'], 'nodeid', j['quarantine'][0]['nodeid']"))"
[ "$(get "j['replayed'] >= 1")" = True ]
lib_tap $? "poison: requests replayed counted ($(get "j['replayed']"))"
wait $B
lib_tap $? "poison: crashtest checks hold ($(tail -n 1 "$S/ct"))"

# ---- 4. crash loop: every worker dies in INIT ----------------------------
ARGS="--quarantine-crashes=100 --degrade-after=100" start loop PHX_CRASH_UNIQUE=2
timeout 60 "$FRONT" --socket "$S/sock" bench --workload getattr --depth 1 \
    --seconds 1 >"$S/bench" 2>&1 &
B=$!
PIDS="$PIDS $B"
until_json 30 "j['crashes']['signal'] >= 4"
lib_tap $? "crash loop: --status answers while every worker dies ($(get "j['crashes']"))"
[ "$(get "j['recoveries']['count'] == 0 and not j['worker']['serving']")" = True ]
lib_tap $? "crash loop: no recovery counted, the worker is not serving"
n=$(grep -c 'died before serving: signal' "$S/log")
grep 'died before serving' "$S/log" | head -3 | sed 's/^/# /'
[ "$n" -ge 3 ]
lib_tap $? "crash loop: one warn line per crash ($n)"
kill "$B" 2>/dev/null; wait "$B" 2>/dev/null
kill "$D" 2>/dev/null

"$PHX" --status --pid-file "$T/none" >/dev/null 2>&1
[ $? -eq 2 ]
lib_tap $? "no pid file: exit 2"
lib_tap_end
