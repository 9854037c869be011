#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# compare.sh: phoenixfsd vs QEMU's C virtiofsd on the same prepared share,
# alternating daemons figure by figure, every workload at each depth, via
# phx-front bench. Writes a markdown table: each figure for both daemons,
# the ratio phoenixfsd/virtiofsd, and each daemon's peak RSS (VmHWM summed
# over the daemon and its children, sampled while it runs). A daemon that
# fails to start is marked "missing"; every step runs under timeout.
# --journal-cost also runs phoenixfsd --no-journal (benchmarks only) and
# adds the column "journal cost" = 1 - ops(journal on) / ops(journal off).
# --guest appends the in-guest figures of bench/guest.sh (QEMU guests).
# A workload W@1m (or W@64k) runs W with requests of that size
# (phx-front bench --bs); seqread/seqwrite default to 128 KiB.
# --runs N runs every figure N times, daemons alternated, and reports the
# median of each column (of the runs' ops/s, MB/s, p50 and p99 each). The
# header gives the machine's wakeup round trip (bench/wakeup) before and
# after: 40+ us means idle vCPUs halt (a quiet virtualized host), a few us
# a busy one; the two regimes favour different ways of waiting.
# --queues "1 2 4" runs phoenixfsd at each number of request queues
# (phoenixfsd --queues N, phx-front --queues N: --depth is the total,
# spread over the N queues) and adds a scaling table; virtiofsd 7.2 serves
# one request queue only, so its 1-queue figure is the reference for every
# column. The main table uses the first number of the list. Each figure
# also gets the daemon's CPU per request: utime+stime summed over its
# processes for the whole connection (warm-up included) / (ops/s x the
# time the bench ran). The memory table gives the peak of summed VmHWM,
# the largest summed PSS (smaps_rollup: the state memfd and guest RAM
# counted once across processes; read once, 80% into each figure) and,
# from a separate connection that sends nothing after INIT, the idle RSS
# and PSS.
#
# usage: bench/compare.sh [--short] [--seconds S] [--runs N] [--depths "1 16"]
#        [--workloads "getattr lookup ..."] [--build DIR] [--share DIR]
#        [--queues "1 2 4"] [--journal-cost] [--guest] [--out FILE]
set -u
. "$(dirname "$0")/../tests/lib.sh"
SECONDS_PER=10
DEPTHS="1 16"
WORKLOADS="getattr lookup randread randwrite seqread seqwrite seqread@1m seqwrite@1m create_unlink readdir mixed"
BUILD=build
SHARE=
OUT=
NJ=0
GUEST=0
RUNS=1
QUEUES=1
while [ $# -gt 0 ]; do
	case $1 in
	--short) SECONDS_PER=2 ;;
	--seconds) SECONDS_PER=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--depths) DEPTHS=$2; shift ;;
	--queues) QUEUES=$2; shift ;;
	--workloads) WORKLOADS=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--share) SHARE=$2; shift ;;
	--out) OUT=$2; shift ;;
	--journal-cost) NJ=1 ;;
	--guest) GUEST=1 ;;
	-h|--help) sed -n '3,32p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
FRONT=$BUILD/front/phx-front
OURS=$BUILD/src/phoenixfsd
VFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
[ -x "$FRONT" ] || { echo "compare.sh: $FRONT not built" >&2; exit 1; }
[ -x "$VFSD" ] || { echo "compare.sh: $VFSD missing" >&2; exit 1; }

T=$(mktemp -d /tmp/phx-compare.XXXXXX)
[ -n "$SHARE" ] || SHARE=$T/share
mkdir -p "$SHARE"
SOCK=$T/vhost.sock
DPID=
SPID=

# pid outfile: max over time of summed VmHWM (kB) in outfile, summed Pss
# (kB) once per figure in outfile.pss, and the max of summed
# utime+stime+cutime+cstime (clock ticks, exited threads and reaped
# children included) in outfile.cpu. No process is forked and no page
# table walked while the front-end measures, but once: this sampler ran
# awk three times per process every 0.2 s and read smaps_rollup each time
# (a walk of every mapping, guest RAM included), which took 1-2 ms of a
# CPU per process each time and slowed the daemons it measured
# (create_unlink depth 1 on a journaled ext4, by hand: with it 11.6k
# against virtiofsd's 18.1k ops/s, without 24.6-33.1k against
# 30.2-31.4k; session 8).
proc_field() { # file key: $V = the first number after key on its line
	local k v rest
	V=0
	while read -r k v rest; do
		[ "$k" = "$2" ] && { V=$v; return 0; }
	done 2>/dev/null < "$1"
	return 0
}
rss_sampler() {
	local pid=$1 out=$2 max=0 cmax=0 sum psum cpu p st on=0
	local pss_at=$(( ${SECONDS_PER%.*} * 4 )) # ticks of 0.2 s: 80% of a figure
	[ "$pss_at" -gt 0 ] || pss_at=1
	local tick fifo=$out.tick.$BASHPID
	# A FIFO nobody writes: read -t waits 0.2 s without forking sleep.
	mkfifo "$fifo" && exec {tick}<>"$fifo" || return 1
	echo 0 > "$out"
	echo 0 > "$out.pss"
	echo 0 > "$out.cpu"
	while kill -0 "$pid" 2>/dev/null; do
		sum=0 psum=0 cpu=0 LIB_DESC=
		lib_descendants_into "$pid"
		[ -e "$T/front.on" ] && on=$((on + 1))
		for p in $LIB_DESC; do
			proc_field /proc/"$p"/status VmHWM:
			sum=$((sum + V))
			# PSS once, 80% into the figure, while the front-end
			# is connected: the guest RAM it shares counts half
			# then (QEMU maps it for good).
			if [ "$on" -eq "$pss_at" ]; then
				proc_field /proc/"$p"/smaps_rollup Pss:
				psum=$((psum + V))
			fi
			# utime + stime + cutime + cstime: a reaped worker's
			# time moves into the keeper's cutime. Fields 14-17
			# (our processes' names have no space).
			st=()
			read -r -a st 2>/dev/null < /proc/"$p"/stat
			cpu=$((cpu + ${st[13]:-0} + ${st[14]:-0} + ${st[15]:-0} + ${st[16]:-0}))
		done
		if [ "$sum" -gt "$max" ]; then max=$sum; echo "$max" > "$out"; fi
		[ "$on" -eq "$pss_at" ] && echo "$psum" > "$out.pss"
		if [ "$cpu" -gt "$cmax" ]; then cmax=$cpu; echo "$cmax" > "$out.cpu"; fi
		read -r -t 0.2 -u "$tick" _ || true
	done
	exec {tick}<&-
	rm -f "$fifo"
}

start_daemon() { # name [queues]
	rm -f "$SOCK"
	case $1 in
	phoenixfsd)
		[ -x "$OURS" ] || return 1
		"$OURS" --socket-path="$SOCK" --shared-dir="$SHARE" \
		    --queues "${2:-1}" </dev/null >>"$T/phoenixfsd.log" 2>&1 &
		;;
	phoenixfsd-nj)
		[ -x "$OURS" ] || return 1
		"$OURS" --socket-path="$SOCK" --shared-dir="$SHARE" \
		    --queues "${2:-1}" \
		    --no-journal </dev/null >>"$T/phoenixfsd-nj.log" 2>&1 &
		;;
	virtiofsd)
		"$VFSD" --socket-path="$SOCK" -o source="$SHARE" -o cache=auto \
		    -o log_level=err </dev/null >>"$T/virtiofsd.log" 2>&1 &
		;;
	esac
	DPID=$!
	rss_sampler "$DPID" "$T/rss.$1.cur" &
	SPID=$!
	return 0
}

stop_daemon() {
	local pids p i
	[ -n "$DPID" ] || return 0
	pids=$(lib_descendants "$DPID")
	kill -TERM $pids 2>/dev/null
	for i in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.2
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait "$DPID" 2>/dev/null
	[ -n "$SPID" ] && { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
	DPID=
	SPID=
}

cleanup() { stop_daemon; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

peak() { # name: keep the max of all runs (VmHWM and PSS)
	local cur old x
	for x in "" .pss; do
		cur=$(cat "$T/rss.$1.cur$x" 2>/dev/null || echo 0)
		old=$(cat "$T/rss.$1.max$x" 2>/dev/null || echo 0)
		[ "$cur" -gt "$old" ] && echo "$cur" > "$T/rss.$1.max$x"
	done
	return 0
}

# cpu_per_op "bench line" name: the daemon's CPU us per request (see top).
cpu_per_op() {
	local ticks ops s
	ticks=$(cat "$T/rss.$2.cur.cpu" 2>/dev/null || echo 0)
	ops=$(field "$1" ops_s)
	s=$(field "$1" seconds)
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v o="${ops:-0}" \
	    -v s="${s:-0}" 'BEGIN { w = s / 9; if (w > 1) w = 1;
	    if (o > 0 && t > 0) printf "%.2f", t / hz * 1e6 / (o * (s + w)) }'
}

# bsopt WORKLOAD: "W@1m" / "W@64k" runs W with that request size.
bsopt() {
	local n=${1##*@}
	case $1 in
	*@*m) echo "--bs $(( ${n%m} * 1048576 ))" ;;
	*@*k) echo "--bs $(( ${n%k} * 1024 ))" ;;
	esac
}

field() { # line key
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Prepare the share once, through virtiofsd (data file + 10k entries).
start_daemon virtiofsd
timeout 300 "$FRONT" --socket "$SOCK" bench --workload mixed --prepare-only \
    >/dev/null 2>"$T/prepare.log" || { echo "compare.sh: prepare failed:" >&2; cat "$T/prepare.log" >&2; exit 1; }
stop_daemon

wakeup() { "$BUILD/bench/wakeup" 2>/dev/null | sed -n 's/^wakeup rtt_us=//p'; }
# The host's page cache empties on its own here (DAMON reclaim): without
# this a figure after an idle spell reads its data from disk (randread
# depth 16: 4.3k ops/s cold, 300k warm). Reads the share once per figure.
warm() { find "$SHARE" -type f -exec cat {} + >/dev/null 2>&1; return 0; }
WAKE0=$(wakeup)
FLOOR=$("$BUILD/bench/hostfloor" 2>/dev/null | sed -n 's/^hostfloor //p')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

RES=$T/results
: > "$RES"
order="phoenixfsd virtiofsd"
for w in $WORKLOADS; do
	for d in $DEPTHS; do
	    for run in $(seq 1 "$RUNS"); do
		names=$order
		[ "$NJ" = 1 ] && names="$order phoenixfsd-nj"
		for name in $names; do
		    qs=$QUEUES
		    # virtiofsd 7.2 refuses a second request queue.
		    [ "$name" = virtiofsd ] && qs=1
		    for q in $qs; do
			line=
			warm
			if start_daemon "$name" "$q"; then
				touch "$T/front.on"
				line=$(timeout $((SECONDS_PER + 120)) "$FRONT" \
				    --socket "$SOCK" --label "$name" --wait 5 \
				    --queues "$q" \
				    bench --workload "${w%@*}" --depth "$d" \
				    $(bsopt "$w") \
				    --seconds "$SECONDS_PER" 2>>"$T/front.log" |
				    grep '^bench ' |
				    sed "s/ workload=[^ ]* / workload=$w /")
				rm -f "$T/front.on"
				stop_daemon
				peak "$name"
				[ -n "$line" ] && line="$line cpu_us_op=$(cpu_per_op "$line" "$name")"
			fi
			[ -n "$line" ] || line="bench daemon=$name workload=$w depth=$d queues=$q missing=1"
			echo "$line" >> "$RES"
			echo "$line" >&2
		    done
		done
		# Alternate who goes first, so neither always gets a warm cache.
		order=$(echo "$order" | awk '{print $2, $1}')
	    done
	done
done
WAKE1=$(wakeup)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# Idle memory: a connection that sends nothing after INIT (2 s).
idle_mem() { # name: "RSS kB PSS kB" summed over the daemon's processes
	local p r s rs=0 ps=0
	start_daemon "$1" || { echo "0 0"; return; }
	timeout 30 "$FRONT" --socket "$SOCK" --wait 5 bench --workload idle \
	    --seconds 2 >/dev/null 2>&1 &
	sleep 1.5
	for p in $(lib_descendants "$DPID"); do
		r=$(awk '/^VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null)
		s=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null)
		rs=$((rs + ${r:-0})); ps=$((ps + ${s:-0}))
	done
	wait $!
	stop_daemon
	echo "$rs $ps"
}
IDLE_OURS=$(idle_mem phoenixfsd)
IDLE_VFSD=$(idle_mem virtiofsd)
Q1=${QUEUES%% *}

get() { # daemon workload depth key [queues]: the median over the runs
	local q=${5:-1}
	[ "$1" = virtiofsd ] && q=1
	grep "daemon=$1 workload=$2 depth=$3 queues=$q " "$RES" |
	    tr ' ' '\n' | sed -n "s/^$4=//p" | sort -g |
	    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

ratio() {
	if [ -z "$1" ] || [ -z "$2" ]; then echo "n/a"; return; fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

show() { if [ -n "$1" ]; then echo "$1"; else echo "missing"; fi; }

mib() { # kB
	if [ "${1:-0}" -gt 0 ]; then awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo missing; fi
}
rss() { mib "$(cat "$T/rss.$1.max${2:-}" 2>/dev/null || echo 0)"; }

# goals: issue 10's targets against this run's medians, one line each
# ("met", "short" with the figure, or "not measured").
goals() {
	local w d want oo vo r op vp below="" tail="" ro rv
	echo
	echo "| goal (issue 10) | this run | |"
	echo "|---|---|---|"
	for d in 16 1; do
		want=1.5
		[ "$d" = 1 ] && want=2.0
		for w in getattr lookup randread; do
			oo=$(get phoenixfsd "$w" "$d" ops_s "$Q1")
			vo=$(get virtiofsd "$w" "$d" ops_s)
			r=$(ratio "$oo" "$vo")
			if [ "$r" = n/a ]; then
				echo "| $w depth $d >= ${want}x | not measured | |"
			else
				echo "| $w depth $d >= ${want}x | ${r}x | $(awk -v r="$r" -v w="$want" 'BEGIN { print (r >= w) ? "met" : "short" }') |"
			fi
		done
	done
	for w in $WORKLOADS; do
		for d in $DEPTHS; do
			r=$(ratio "$(get phoenixfsd "$w" "$d" ops_s "$Q1")" "$(get virtiofsd "$w" "$d" ops_s)")
			[ "$r" != n/a ] && awk -v r="$r" 'BEGIN { exit !(r < 1.0) }' &&
			    below="$below $w/$d (${r}x)"
			op=$(get phoenixfsd "$w" "$d" p99_us "$Q1")
			vp=$(get virtiofsd "$w" "$d" p99_us)
			[ -n "$op" ] && [ -n "$vp" ] && awk -v a="$op" -v b="$vp" 'BEGIN { exit !(a > b) }' &&
			    tail="$tail $w/$d ($op vs $vp us)"
		done
	done
	echo "| no workload below 1.0x |${below:- none below} | $([ -z "$below" ] && echo met || echo short) |"
	echo "| p99 no higher than virtiofsd's |${tail:- none higher} | $([ -z "$tail" ] && echo met || echo short) |"
	ro=$(cat "$T/rss.phoenixfsd.max" 2>/dev/null || echo 0)
	rv=$(cat "$T/rss.virtiofsd.max" 2>/dev/null || echo 0)
	if [ "$ro" -gt 0 ] && [ "$rv" -gt 0 ]; then
		echo "| peak RSS <= virtiofsd's | $(rss phoenixfsd) vs $(rss virtiofsd) | $([ "$ro" -le "$rv" ] && echo met || echo short) |"
	else
		echo "| peak RSS <= virtiofsd's | not measured | |"
	fi
}

{
	echo "# phoenixfsd vs virtiofsd ($(date -u +%Y-%m-%dT%H:%MZ), ${SECONDS_PER}s per figure, median of $RUNS run(s))"
	echo
	echo "machine: $(nproc) CPUs; eventfd wakeup round trip ${WAKE0:-?} us before, ${WAKE1:-?} us after; load average $LOAD0 at the start, $LOAD1 at the end"
	echo
	echo "process start (bench/hostfloor): ${FLOOR:-?}"
	echo
	echo "virtiofsd: $("$VFSD" --version 2>/dev/null | head -1); phx-front $FRONT; phoenixfsd at $Q1 request queue(s), virtiofsd at 1"
	echo
	h="| workload | depth | ops/s phoenixfsd | ops/s virtiofsd | ratio | MB/s phoenixfsd | MB/s virtiofsd | p50 us phoenixfsd | p50 us virtiofsd | p99 us phoenixfsd | p99 us virtiofsd | errors (ours/theirs) | CPU us/op phoenixfsd | CPU us/op virtiofsd |"
	sep="|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
	if [ "$NJ" = 1 ]; then
		h="$h ops/s --no-journal | journal cost |"
		sep="$sep---:|---:|"
	fi
	echo "$h"
	echo "$sep"
	for w in $WORKLOADS; do
		for d in $DEPTHS; do
			oo=$(get phoenixfsd "$w" "$d" ops_s "$Q1")
			vo=$(get virtiofsd "$w" "$d" ops_s)
			om=$(get phoenixfsd "$w" "$d" mb_s "$Q1")
			vm=$(get virtiofsd "$w" "$d" mb_s)
			o5=$(get phoenixfsd "$w" "$d" p50_us "$Q1")
			v5=$(get virtiofsd "$w" "$d" p50_us)
			op=$(get phoenixfsd "$w" "$d" p99_us "$Q1")
			vp=$(get virtiofsd "$w" "$d" p99_us)
			oe=$(get phoenixfsd "$w" "$d" errors "$Q1")
			ve=$(get virtiofsd "$w" "$d" errors)
			line="| $w | $d | $(show "$oo") | $(show "$vo") | $(ratio "$oo" "$vo") | $(show "$om") | $(show "$vm") | $(show "$o5") | $(show "$v5") | $(show "$op") | $(show "$vp") | ${oe:--}/${ve:--} | $(show "$(get phoenixfsd "$w" "$d" cpu_us_op "$Q1")") | $(show "$(get virtiofsd "$w" "$d" cpu_us_op)") |"
			if [ "$NJ" = 1 ]; then
				no=$(get phoenixfsd-nj "$w" "$d" ops_s "$Q1")
				c=$(awk -v a="$oo" -v b="$no" 'BEGIN { if (a != "" && b > 0) printf "%.1f%%", 100 * (1 - a / b); else print "n/a" }')
				line="$line $(show "$no") | $c |"
			fi
			echo "$line"
		done
	done
	if [ "$QUEUES" != 1 ]; then
		echo
		echo "Request queues (phx-front --queues N, --depth spread over the N queues; virtiofsd 7.2 serves one request queue, so its 1-queue figure is the reference of every ratio). CPU us/op: the daemon's utime+stime, all processes, / requests."
		echo
		h="| workload | depth | virtiofsd (1 queue) ops/s | CPU us/op |"
		sep="|---|---:|---:|---:|"
		for q in $QUEUES; do
			h="$h phoenixfsd $q q ops/s | ratio | p99 us | CPU us/op |"
			sep="$sep---:|---:|---:|---:|"
		done
		echo "$h"
		echo "$sep"
		for w in $WORKLOADS; do
			for d in $DEPTHS; do
				vo=$(get virtiofsd "$w" "$d" ops_s)
				line="| $w | $d | $(show "$vo") | $(show "$(get virtiofsd "$w" "$d" cpu_us_op)") |"
				for q in $QUEUES; do
					oo=$(get phoenixfsd "$w" "$d" ops_s "$q")
					line="$line $(show "$oo") | $(ratio "$oo" "$vo") | $(show "$(get phoenixfsd "$w" "$d" p99_us "$q")") | $(show "$(get phoenixfsd "$w" "$d" cpu_us_op "$q")") |"
				done
				echo "$line"
			done
		done
	fi
	echo
	echo "| daemon | peak RSS (VmHWM summed over daemon + children) | peak PSS (summed) | idle RSS after INIT | idle PSS |"
	echo "|---|---:|---:|---:|---:|"
	echo "| phoenixfsd | $(rss phoenixfsd) | $(rss phoenixfsd .pss) | $(mib "${IDLE_OURS%% *}") | $(mib "${IDLE_OURS##* }") |"
	echo "| virtiofsd | $(rss virtiofsd) | $(rss virtiofsd .pss) | $(mib "${IDLE_VFSD%% *}") | $(mib "${IDLE_VFSD##* }") |"
	goals
	if [ "$GUEST" = 1 ]; then
		stop_daemon
		bash "$(dirname "$0")/guest.sh" --build "$BUILD" --out "$T/guest.md" \
		    >"$T/guest.log" 2>&1
		cat "$T/guest.md" 2>/dev/null || echo "in-guest figures: guest.sh failed"
	fi
} > "$T/table.md"

if [ -n "$OUT" ]; then cp "$T/table.md" "$OUT"; fi
cat "$T/table.md"
