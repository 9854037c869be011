#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash recovery under a real guest: starts phoenixfsd on a temporary share,
# boots a guest (run.sh) that runs tests/vm/guest/workload.c for --seconds
# against the share, and kills the worker (the keeper's only child) every
# --every-ms for as long as the workload runs, its final walk included. A
# new worker is killed each time. Then checks:
#   - the workload saw zero errors and zero mismatches against its model
#     (exactly-once: no EEXIST/ENOENT from a replay, no doubled append, no
#     lost write) and the guest finished (no hang: run.sh did not time out)
#   - kills landed (at least a quarter of the attempts the schedule allows)
#   - the longest single operation (the stall a user sees) is below
#     --max-stall-ms
#   - the host tree under share/w equals the workload's final model listing
#   - the keeper is the same process, alive, with a worker; its fd count
#     after the run, io_uring rings apart, is within --fd-slack of the
#     count before, and it holds no more rings than the worker has threads
# and prints "N passed, N failed". Exit 0 iff everything passed.
#
# usage: crash_kill.sh [--bin PATH] [--seconds 60] [--every-ms 200]
#                      [--signal KILL|SEGV] [--seed N] [--max-stall-ms 5000]
#                      [--timeout SEC] [--hang-s 60] [--queues 1] [--cache auto]
#                      [--fd-slack 8] [--jobs 2] [--max-files 200]
#                      [--max-dirs 40] [--daemon-arg ARG]... [--keep]
#                      [--dir DIR]
# --signal SEGV sends SIGSEGV instead (the worker's fault handler runs, as
# for a real fault). --seconds is workload time in the guest. --jobs: workload
# instances run in parallel in the guest (on w0, w1, ..., each with its own
# model and up to --max-files files and --max-dirs directories), so that
# more requests are in flight when a worker dies. --hang-s: once a guest op
# has blocked this long the guest counts as hung and is stopped. --dir: where
# the share lives (a given host file system, tests/vm/fsmatrix.sh).
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
BIN=$REPO/build/src/phoenixfsd SECS=60 EVERY=200 SIG=KILL SEED="" MAXSTALL=5000
HANG=60 TIMEOUT="" QUEUES=1 CACHE=auto FDSLACK=8 KEEP=0 MAXFILES=200 MAXDIRS=40 JOBS=2
DIR=${TMPDIR:-/tmp}
DARGS=()

usage() {
	sed -n '/^# usage:/,/^# --seconds/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--bin) BIN=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--every-ms) EVERY=$2; shift 2 ;;
	--signal) SIG=${2#SIG}; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--max-stall-ms) MAXSTALL=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--hang-s) HANG=$2; shift 2 ;;
	--queues) QUEUES=$2; shift 2 ;;
	--cache) CACHE=$2; shift 2 ;;
	--fd-slack) FDSLACK=$2; shift 2 ;;
	--max-files) MAXFILES=$2; shift 2 ;;
	--max-dirs) MAXDIRS=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--daemon-arg) DARGS+=("$2"); shift 2 ;;
	--keep) KEEP=1; shift ;;
	--dir) DIR=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "crash_kill.sh: unknown argument $1" >&2; usage ;;
	esac
done
case $SIG in KILL|SEGV) ;; *) echo "crash_kill.sh: --signal KILL|SEGV" >&2; exit 2 ;; esac
[ -n "$SEED" ] || SEED=$(( $(date +%s) % 100000 ))
[ -n "$TIMEOUT" ] || TIMEOUT=$((SECS * 2 + 240))
lib_need_root crash_kill.sh
lib_need_exec crash_kill.sh "$BIN" "(build it first)"


T=$(mktemp -d "$DIR/phx-crash.XXXXXX")
SHARE=$T/share SOCK=$T/vhost.sock PIDF=$T/keeper.pid OUT=$T/out
DPID="" RPID="" TPID="" KPID=""
cleanup() {
	set +e
	for p in $RPID $TPID; do kill "$p" 2>/dev/null; done
	[ -z "$RPID" ] || wait "$RPID" 2>/dev/null
	lib_stop_daemon 25
	# the keeper we started (not the launcher's child if it outlived it)
	if [ -n "$KPID" ] && kill -0 "$KPID" 2>/dev/null; then
		kill -KILL "$KPID" 2>/dev/null
	fi
	lib_keep_or_remove crash_kill.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


echo "== crash_kill: $BIN, SIG$SIG every ${EVERY} ms, workload ${SECS} s, seed $SEED, cache=$CACHE"
"$REPO/tests/vm/prepare.sh" >/dev/null || { lib_nok "tests/vm/prepare.sh"; lib_finish; }
gcc -static -O2 -Wall -o "$T/workload" "$REPO/tests/vm/guest/workload.c" -lpthread
gcc -O2 -Wall -o "$T/workload-host" "$REPO/tests/vm/guest/workload.c" -lpthread
cat >"$T/params" <<EOF
SEED=$SEED
SECONDS_=$SECS
MAXFILES=$MAXFILES
MAXDIRS=$MAXDIRS
JOBS=$JOBS
HANDSHAKE=1
EOF
mkdir -p "$SHARE"

# ---- the daemon ----------------------------------------------------------
"$BIN" --socket-path="$SOCK" --shared-dir="$SHARE" --pid-file="$PIDF" \
    --cache="$CACHE" --queues="$QUEUES" ${DARGS[@]+"${DARGS[@]}"} \
    >"$T/daemon.log" 2>&1 &
DPID=$!
if ! lib_wait_socket "$SOCK" 100 "$DPID" "$PIDF"; then
	lib_nok "daemon created $SOCK"
	cat "$T/daemon.log"
	lib_finish
fi
# The keeper is the launcher's child (--sandbox=namespace) or the launcher.
kchild=$(ps -o pid= --ppid "$DPID" 2>/dev/null | head -1 | tr -d ' ')
if [ -s "$PIDF" ]; then
	KPID=$(cat "$PIDF")
	lib_check "pid file names the keeper ($KPID)" \
	    test "$KPID" = "${kchild:-$DPID}"
else
	lib_nok "pid file $PIDF written (daemon log: $(grep -m1 "$PIDF" \
	    "$T/daemon.log" || true)); using the launcher's child"
	KPID=${kchild:-$DPID}
fi
echo "crash_kill: launcher $DPID, keeper $KPID"

# live, non-zombie children of the keeper
workers() { ps -o pid=,stat= --ppid "$KPID" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'; }
# what each of the keeper's fds is, a line each
fdlinks() { for f in /proc/"$KPID"/fd/*; do readlink "$f" 2>/dev/null; done; }
# the keeper's fds but its io_uring rings (counted apart: ringcount)
fdcount() { fdlinks | grep -vc '^anon_inode:\[io_uring\]$' || true; }
ringcount() { fdlinks | grep -c '^anon_inode:\[io_uring\]$' || true; }
# what the keeper's fds are, by kind (anon_inode:[io_uring], socket, path...)
fdkinds() {
	fdlinks | sed -e 's/:\[[0-9]*\]$//' -e 's|[0-9][0-9]*|N|g' | sort | uniq -c |
	    sort -rn | tr -s ' \n' '  '
}
msnow() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
found() { grep -q "$1" "$OUT" 2>/dev/null; }

# ---- the guest -----------------------------------------------------------
: >"$OUT"
lib_guest_start "$OUT" '^PHX-MODEL ' --socket "$SOCK" --timeout "$TIMEOUT" \
    --queues "$QUEUES" --script "$REPO/tests/vm/guest/crash.sh" \
    --add "$T/workload:/phx/workload" --add "$T/params:/phx/params"

declare -A KILLED=() STARTS=()
state=ready FD_BEFORE="" FD_AFTER="" KINDS_BEFORE="" KINDS_AFTER=""
RINGS_AFTER="" WTHREADS=""
KEEPER_ALIVE=0 LIVE_WORKER="" KILLS=0 ATTEMPTS=0 NOWORKER=0 FAILEDKILL=0
T_KILL0=0 T_KILLEND=0 settle_start=0
HUNG=0
while kill -0 "$RPID" 2>/dev/null; do
	case $state in
	ready)
		if found '^PHX-CRASH ready'; then
			FD_BEFORE=$(fdcount) KINDS_BEFORE=$(fdkinds)
			echo "crash_kill: keeper fds before: $FD_BEFORE"
			: >"$SHARE/sync/go"
			state=start
		fi
		sleep 0.1 ;;
	start)
		if found '^PHX-WL start'; then
			T_KILL0=$(msnow)
			state=kill
		else
			sleep 0.1
		fi ;;
	kill)
		if found '^PHX-CRASH done'; then
			T_KILLEND=$(msnow)
			echo "crash_kill: stopped killing: $KILLS kills landed in $(( (T_KILLEND - T_KILL0) / 1000 )) s"
			settle_start=$(msnow)
			state=settle
			continue
		fi
		b=$(grep '^PHX-WL STALL' "$OUT" | tail -1 |
		    sed -n 's/.* for \([0-9]*\)\..*/\1/p')
		if [ -n "$b" ] && [ "$b" -ge "$HANG" ]; then
			echo "crash_kill: a guest op blocked ${b} s: hung; stopping the guest"
			HUNG=1
			kill "$RPID" 2>/dev/null || true
			break
		fi
		ATTEMPTS=$((ATTEMPTS + 1))
		w="" ws=""
		for p in $(workers); do
			# its start time: pids wrap (pid_max 32768 here: a
			# 30 min soak's workers, threads and this loop's own
			# processes reuse a killed worker's pid), so a killed
			# pid is skipped only while it is the process we killed
			ps_=$(awk '{ print $22 }' "/proc/$p/stat" 2>/dev/null) || continue
			[ -n "${KILLED[$p]+x}" ] && [ "${STARTS[$p]}" = "$ps_" ] &&
			    continue
			w=$p ws=$ps_
			break
		done
		[ -z "$w" ] || STARTS[$w]=$ws
		if [ -z "$w" ]; then
			NOWORKER=$((NOWORKER + 1))
		elif kill "-$SIG" "$w" 2>/dev/null; then
			KILLED[$w]=$(( $(msnow) - T_KILL0 ))
			KILLS=$((KILLS + 1))
			echo "$(( $(msnow) - T_KILL0 )) ms: SIG$SIG worker $w" >>"$T/kills.log"
			if [ $((KILLS % 50)) = 0 ]; then
				echo "crash_kill: $KILLS kills landed"
			fi
		else
			FAILEDKILL=$((FAILEDKILL + 1))
		fi
		# keep the schedule: attempt n at T_KILL0 + n * EVERY
		d=$(( T_KILL0 + ATTEMPTS * EVERY - $(msnow) ))
		[ "$d" -le 0 ] || sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))" ;;
	settle)
		n=$(fdcount)
		if [ "$n" -le $((FD_BEFORE + FDSLACK)) ] ||
		    [ $(( $(msnow) - settle_start )) -gt 10000 ]; then
			FD_AFTER=$n KINDS_AFTER=$(fdkinds)
			for f in /proc/"$KPID"/fd/*; do
				echo "${f##*/} $(readlink "$f") flags=$(awk '/^flags/ { print $2 }' \
				    "/proc/$KPID/fdinfo/${f##*/}" 2>/dev/null)"
			done >"$T/fds.after" 2>/dev/null || true
			KEEPER_ALIVE=0 LIVE_WORKER=$(workers)
			RINGS_AFTER=$(ringcount)
			WTHREADS=$(ls "/proc/${LIVE_WORKER%%[!0-9]*}/task" 2>/dev/null | wc -l)
			! kill -0 "$KPID" 2>/dev/null || KEEPER_ALIVE=1
			echo "crash_kill: keeper fds after: $FD_AFTER"
			mkdir -p "$SHARE/sync"
			: >"$SHARE/sync/fdcheck"
			state=end
		fi
		sleep 0.2 ;;
	end)
		sleep 0.2 ;;
	esac
done
rrc=0
lib_guest_wait || rrc=$?

# ---- checks --------------------------------------------------------------
echo "== checks"
guest=$(lib_guest_lines "$OUT")
result=$(printf '%s\n' "$guest" | grep '^PHX-WL result ' || true)
nresult=$(printf '%s\n' "$result" | grep -c . || true)
# sums over the jobs; the longest op of all
sums=$(printf '%s\n' "$result" | awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	  ops += v["ops"]; e += v["errors"]; m += v["mismatches"]
	  if (v["maxlat_ms"] + 0 >= lat + 0) { lat = v["maxlat_ms"]; op = v["maxlat_op"] } }
	END { if (NR) printf "%d %d %d %s %s\n", ops, e, m, lat, op }')
read -r ops errs mis lat latop <<<"${sums:-? ? ? ? -}" || true
stalls=$(printf '%s\n' "$guest" | grep -c '^PHX-WL STALL' || true)
expected=$(( SECS * 1000 / EVERY ))
survivors=0
for p in "${!KILLED[@]}"; do
	st=$(ps -o stat= -p "$p" 2>/dev/null || true)
	# the same process, not a later one given the same pid
	[ "$(awk '{ print $22 }' "/proc/$p/stat" 2>/dev/null)" = "${STARTS[$p]:-}" ] || st=""
	case $st in ''|Z*) ;; *) survivors=$((survivors + 1)) ;; esac
done

if [ "$HUNG" = 1 ]; then
	lib_nok "guest finished (an op blocked >= ${HANG} s: the guest hung)"
elif [ "$rrc" = 124 ]; then
	lib_nok "guest finished (run.sh timed out after ${TIMEOUT}s: the guest hung)"
elif [ "$rrc" = 125 ]; then
	lib_nok "guest finished (run.sh exit 125: no status from the guest)"
else
	lib_ok "guest finished without hanging (run.sh exit $rrc)"
fi
lib_check "all $JOBS workloads ran to their result line ($nresult)" \
    test "$nresult" = "$JOBS"
lib_check "workload: zero errors (got ${errs:-?})" test "${errs:-x}" = 0
lib_check "workload: zero mismatches (got ${mis:-?})" test "${mis:-x}" = 0
lib_check "workload exit status 0" grep -q '^PHX-CRASH done 0$' "$OUT"
lib_check "SIG$SIG landed on workers: $KILLS (of $ATTEMPTS attempts; want >= $((expected / 4)))" \
    test "$KILLS" -ge $((expected / 4)) -a "$KILLS" -ge 1
lib_check "every signalled worker died ($survivors still alive)" test "$survivors" = 0
lib_check "longest single op ${lat:-?} ms ($latop) < ${MAXSTALL} ms" \
    awk -v l="${lat:-x}" -v m="$MAXSTALL" 'BEGIN { exit !(l + 0 == l && l < m) }'
lib_check "no op blocked >= 5 s (stall reports: $stalls)" test "$stalls" = 0
lib_check "keeper $KPID alive after the workload" test "$KEEPER_ALIVE" = 1
lib_check "keeper has a live worker after the workload (${LIVE_WORKER:-none})" \
    test -n "$LIVE_WORKER"
lib_check "keeper fd count after, io_uring rings apart ($FD_AFTER) <= before ($FD_BEFORE) + $FDSLACK" \
    test -n "$FD_BEFORE" -a -n "$FD_AFTER" -a "${FD_AFTER:-0}" -le $(( ${FD_BEFORE:-0} + FDSLACK ))
# A ring per worker thread that has one: slow mode (a host request over
# 1 ms, src/queue_pool.c) grows the pool by 12 threads and their rings.
lib_check "keeper's io_uring rings ($RINGS_AFTER) <= the live worker's threads ($WTHREADS)" \
    test -n "$RINGS_AFTER" -a "${RINGS_AFTER:-0}" -le "${WTHREADS:-0}"

printf '%s\n' "$guest" | grep '^PHX-MODEL ' | LC_ALL=C sort >"$T/model.txt" || true
hl=0
: >"$T/host.unsorted"
for i in $(seq 0 $((JOBS - 1))); do
	"$T/workload-host" --list "$SHARE/w$i" "w$i" >>"$T/host.unsorted" \
	    2>>"$T/host.err" || hl=1
done
LC_ALL=C sort "$T/host.unsorted" >"$T/host.txt"
if [ "$hl" = 0 ] && [ -s "$T/model.txt" ] && cmp -s "$T/model.txt" "$T/host.txt"; then
	lib_ok "host trees share/w* equal the guests' final models ($(wc -l <"$T/model.txt") entries)"
else
	lib_nok "host trees share/w* equal the guests' final models"
	cat "$T/host.err"
	diff "$T/model.txt" "$T/host.txt" | head -20
fi

echo "crash_kill: SIG$SIG: $KILLS kills landed ($ATTEMPTS attempts, $NOWORKER with no new worker yet, $FAILEDKILL failed kill calls); ops=${ops:-?} errors=${errs:-?} mismatches=${mis:-?} longest op ${lat:-?} ms ($latop); keeper fds $FD_BEFORE -> $FD_AFTER; seed $SEED"
if [ "$FAIL" -gt 0 ]; then
	echo "== workload reports"
	printf '%s\n' "$guest" | grep -E '^PHX-WL (ERROR|MISMATCH|STALL)' | head -20 || true
	echo "== last kills"
	tail -n 10 "$T/kills.log" 2>/dev/null || true
	echo "== keeper fds before: $KINDS_BEFORE"
	echo "== keeper fds after:  $KINDS_AFTER"
	grep -v '/fd flags=' "$T/fds.after" 2>/dev/null | tail -n 12 || true
	echo "== daemon log (last 40 lines)"
	tail -n 40 "$T/daemon.log"
fi
lib_finish
