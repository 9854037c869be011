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
#
# usage: bench/compare.sh [--short] [--seconds S] [--runs N] [--depths "1 16"]
#        [--workloads "getattr lookup ..."] [--build DIR] [--share DIR]
#        [--journal-cost] [--guest] [--out FILE]
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
while [ $# -gt 0 ]; do
	case $1 in
	--short) SECONDS_PER=2 ;;
	--seconds) SECONDS_PER=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--depths) DEPTHS=$2; shift ;;
	--workloads) WORKLOADS=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--share) SHARE=$2; shift ;;
	--out) OUT=$2; shift ;;
	--journal-cost) NJ=1 ;;
	--guest) GUEST=1 ;;
	-h|--help) sed -n '3,20p' "$0"; exit 0 ;;
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

rss_sampler() { # pid outfile: max over time of summed VmHWM (kB)
	local pid=$1 out=$2 max=0 sum p v
	echo 0 > "$out"
	while kill -0 "$pid" 2>/dev/null; do
		sum=0
		for p in $(lib_descendants "$pid"); do
			v=$(awk '/^VmHWM/ {print $2}' /proc/"$p"/status 2>/dev/null)
			sum=$((sum + ${v:-0}))
		done
		if [ "$sum" -gt "$max" ]; then max=$sum; echo "$max" > "$out"; fi
		sleep 0.2
	done
}

start_daemon() { # name
	rm -f "$SOCK"
	case $1 in
	phoenixfsd)
		[ -x "$OURS" ] || return 1
		"$OURS" --socket-path="$SOCK" --shared-dir="$SHARE" \
		    </dev/null >>"$T/phoenixfsd.log" 2>&1 &
		;;
	phoenixfsd-nj)
		[ -x "$OURS" ] || return 1
		"$OURS" --socket-path="$SOCK" --shared-dir="$SHARE" \
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

peak() { # name: keep the max of all runs
	local cur old
	cur=$(cat "$T/rss.$1.cur" 2>/dev/null || echo 0)
	old=$(cat "$T/rss.$1.max" 2>/dev/null || echo 0)
	[ "$cur" -gt "$old" ] && echo "$cur" > "$T/rss.$1.max"
	return 0
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
			line=
			warm
			if start_daemon "$name"; then
				line=$(timeout $((SECONDS_PER + 120)) "$FRONT" \
				    --socket "$SOCK" --label "$name" --wait 5 \
				    bench --workload "${w%@*}" --depth "$d" \
				    $(bsopt "$w") \
				    --seconds "$SECONDS_PER" 2>>"$T/front.log" |
				    grep '^bench ' |
				    sed "s/ workload=[^ ]* / workload=$w /")
				stop_daemon
				peak "$name"
			fi
			[ -n "$line" ] || line="bench daemon=$name workload=$w depth=$d missing=1"
			echo "$line" >> "$RES"
			echo "$line" >&2
		done
		# Alternate who goes first, so neither always gets a warm cache.
		order=$(echo "$order" | awk '{print $2, $1}')
	    done
	done
done
WAKE1=$(wakeup)

get() { # daemon workload depth key: the median over the runs
	grep "daemon=$1 workload=$2 depth=$3 " "$RES" |
	    tr ' ' '\n' | sed -n "s/^$4=//p" | sort -g |
	    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

ratio() {
	if [ -z "$1" ] || [ -z "$2" ]; then echo "n/a"; return; fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

show() { if [ -n "$1" ]; then echo "$1"; else echo "missing"; fi; }

rss() { # name
	local v
	v=$(cat "$T/rss.$1.max" 2>/dev/null || echo 0)
	if [ "$v" -gt 0 ]; then awk -v k="$v" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo missing; fi
}

# goals: issue 10's targets against this run's medians, one line each
# ("met", "short" with the figure, or "not measured").
goals() {
	local w d oo vo r op vp below="" tail="" ro rv
	echo
	echo "| goal (issue 10) | this run | |"
	echo "|---|---|---|"
	for d in 16 1; do
		want=1.5
		[ "$d" = 1 ] && want=2.0
		for w in getattr lookup randread; do
			oo=$(get phoenixfsd "$w" "$d" ops_s)
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
			r=$(ratio "$(get phoenixfsd "$w" "$d" ops_s)" "$(get virtiofsd "$w" "$d" ops_s)")
			[ "$r" != n/a ] && awk -v r="$r" 'BEGIN { exit !(r < 1.0) }' &&
			    below="$below $w/$d (${r}x)"
			op=$(get phoenixfsd "$w" "$d" p99_us)
			vp=$(get virtiofsd "$w" "$d" p99_us)
			[ -n "$op" ] && [ -n "$vp" ] && awk -v a="$op" -v b="$vp" 'BEGIN { exit !(a > b) }' &&
			    tail="$tail $w/$d ($op vs $vp us)"
		done
	done
	echo "| no workload below 1.0x | ${below:- none below} | $([ -z "$below" ] && echo met || echo short) |"
	echo "| p99 no higher than virtiofsd's | ${tail:- none higher} | $([ -z "$tail" ] && echo met || echo short) |"
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
	echo "machine: $(nproc) CPUs; eventfd wakeup round trip ${WAKE0:-?} us before, ${WAKE1:-?} us after; load average $LOAD0 at the start"
	echo
	echo "virtiofsd: $("$VFSD" --version 2>/dev/null | head -1); phx-front $FRONT"
	echo
	h="| workload | depth | ops/s phoenixfsd | ops/s virtiofsd | ratio | MB/s phoenixfsd | MB/s virtiofsd | p50 us phoenixfsd | p50 us virtiofsd | p99 us phoenixfsd | p99 us virtiofsd | errors (ours/theirs) |"
	sep="|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	if [ "$NJ" = 1 ]; then
		h="$h ops/s --no-journal | journal cost |"
		sep="$sep---:|---:|"
	fi
	echo "$h"
	echo "$sep"
	for w in $WORKLOADS; do
		for d in $DEPTHS; do
			oo=$(get phoenixfsd "$w" "$d" ops_s)
			vo=$(get virtiofsd "$w" "$d" ops_s)
			om=$(get phoenixfsd "$w" "$d" mb_s)
			vm=$(get virtiofsd "$w" "$d" mb_s)
			o5=$(get phoenixfsd "$w" "$d" p50_us)
			v5=$(get virtiofsd "$w" "$d" p50_us)
			op=$(get phoenixfsd "$w" "$d" p99_us)
			vp=$(get virtiofsd "$w" "$d" p99_us)
			oe=$(get phoenixfsd "$w" "$d" errors)
			ve=$(get virtiofsd "$w" "$d" errors)
			line="| $w | $d | $(show "$oo") | $(show "$vo") | $(ratio "$oo" "$vo") | $(show "$om") | $(show "$vm") | $(show "$o5") | $(show "$v5") | $(show "$op") | $(show "$vp") | ${oe:--}/${ve:--} |"
			if [ "$NJ" = 1 ]; then
				no=$(get phoenixfsd-nj "$w" "$d" ops_s)
				c=$(awk -v a="$oo" -v b="$no" 'BEGIN { if (a != "" && b > 0) printf "%.1f%%", 100 * (1 - a / b); else print "n/a" }')
				line="$line $(show "$no") | $c |"
			fi
			echo "$line"
		done
	done
	echo
	echo "| daemon | peak RSS (VmHWM, daemon + children) |"
	echo "|---|---:|"
	echo "| phoenixfsd | $(rss phoenixfsd) |"
	echo "| virtiofsd | $(rss virtiofsd) |"
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
