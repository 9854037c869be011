#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# guest.sh: in-guest figures for phoenixfsd and QEMU's C virtiofsd. For
# each daemon: a fresh share, the daemon, one QEMU guest (tests/vm/run.sh,
# TCG: this machine's KVM refuses -cpu host) running the static
# tests/vm/guest/gbench.c in the mount: stat and create+unlink ops/s,
# sequential write/read MB/s (64 MiB, 1 MiB calls), 4 KiB random read IOPS
# at 1 and QD threads (O_DIRECT).
#
# Both daemons run with cache=none (phoenixfsd --cache=never): every stat
# and read then reaches the daemon, so the figures measure the daemon and
# not the guest's page cache, and O_DIRECT behaves the same on both.
# Override with --cache MODE (auto, always; never = none).
#
# --runs N boots N guests per daemon, alternating which daemon goes first,
# and reports each figure's median. Each run also records the daemon's CPU
# time (user + system, summed over its processes) while the guest ran: CPU
# a daemon burns is taken from the TCG vCPU threads on this 2-CPU host.
#
# Output: result lines "guest daemon=NAME metric=M value=V unit=U" on
# stdout (bench/compare.sh folds them into its table), with --table a
# markdown table with ratios.
#
# usage: bench/guest.sh [--build DIR] [--seconds S] [--qd N] [--cache MODE]
#        [--runs N] [--table] [--out FILE]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
. "$REPO/tests/lib.sh"
BUILD=build SECS=3 QD=8 CACHE=never TABLE=0 OUT= RUNS=1
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--qd) QD=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--cache) CACHE=$2; shift ;;
	--table) TABLE=1 ;;
	--out) OUT=$2; shift ;;
	-h|--help) sed -n '3,25p' "$0"; exit 0 ;;
	*) echo "guest.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
OURS=$BUILD/src/phoenixfsd
VFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
VCACHE=$CACHE
[ "$CACHE" = never ] && VCACHE=none
[ "$CACHE" = none ] && { CACHE=never; VCACHE=none; }

T=$(mktemp -d /tmp/phx-guest.XXXXXX)
DPID=
cleanup() {
	[ -n "$DPID" ] && { kill -TERM "$DPID" 2>/dev/null; sleep 0.3;
	    kill -9 "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$REPO/tests/vm/prepare.sh" >/dev/null || { echo "guest.sh: prepare failed" >&2; exit 1; }
gcc -static -O2 -Wall -o "$T/gbench" "$REPO/tests/vm/guest/gbench.c" \
    -lpthread || exit 1
cat >"$T/script.sh" <<EOF
#!/bin/sh
/phx/gbench -t $SECS -q $QD /mnt
EOF

cpu_ticks() { # pid: utime + stime of the tree's live threads, in ticks
	local p t sum=0
	for p in $(lib_descendants "$1"); do
		for t in /proc/"$p"/task/*/stat; do
			t=$(sed 's/.*) //' "$t" 2>/dev/null | awk '{print $12 + $13}')
			sum=$((sum + ${t:-0}))
		done
	done
	echo "$sum"
}

one_run() { # name
	local name=$1 share=$T/share.$1 sock=$T/sock.$1 c0 c1
	rm -rf "$share"
	mkdir -p "$share"
	rm -f "$sock"
	case $name in
	phoenixfsd)
		[ -x "$OURS" ] || return 0
		"$OURS" --socket-path="$sock" --shared-dir="$share" \
		    --cache="$CACHE" </dev/null >"$T/$name.log" 2>&1 & ;;
	virtiofsd)
		[ -x "$VFSD" ] || return 0
		"$VFSD" --socket-path="$sock" -o source="$share" \
		    -o cache="$VCACHE" -o log_level=err </dev/null \
		    >"$T/$name.log" 2>&1 & ;;
	esac
	DPID=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	c0=$(cpu_ticks "$DPID")
	timeout 600 "$REPO/tests/vm/run.sh" --socket "$sock" --timeout 500 \
	    --script "$T/script.sh" --add "$T/gbench:/phx/gbench" \
	    >"$T/$name.out" 2>&1 &
	local qpid=$! last=$c0 now
	# The daemon may exit when QEMU disconnects: keep the last sample.
	while kill -0 "$qpid" 2>/dev/null; do
		now=$(cpu_ticks "$DPID")
		[ "$now" -gt "$last" ] && last=$now
		sleep 0.5
	done
	wait "$qpid"
	c1=$last
	grep '^GBENCH ' "$T/$name.out" | while read -r _ m v u; do
		echo "guest daemon=$name metric=$m value=$v unit=$u"
	done >>"$RES"
	echo "guest daemon=$name metric=daemon_cpu value=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }') unit=s" >>"$RES"
	grep -q '^GBENCH-DONE' "$T/$name.out" ||
	    { echo "guest.sh: $name: gbench did not finish:" >&2; tail -20 "$T/$name.out" >&2; }
	grep '^GBENCH-DONE' "$T/$name.out" | sed "s/^/# $name /" >&2
	kill -TERM "$DPID" 2>/dev/null; sleep 0.3; kill -9 "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}

RES=$T/res
: >"$RES"
order="phoenixfsd virtiofsd"
for _ in $(seq 1 "$RUNS"); do
	for name in $order; do
		one_run "$name"
	done
	order=$(echo "$order" | awk '{print $2, $1}')
done

cat "$RES"
if [ "$TABLE" = 1 ] || [ -n "$OUT" ]; then
	get() { # the median over the runs
		grep "daemon=$1 metric=$2 " "$RES" |
		    sed -n 's/.*value=\([^ ]*\).*/\1/p' | sort -g |
		    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
	}
	{
		echo
		echo "In-guest (QEMU TCG, 2 vCPUs, cache=$VCACHE on both, ${SECS}s per figure, QD=$QD, median of $RUNS run(s)):"
		echo
		echo "| in-guest figure | unit | phoenixfsd | virtiofsd | ratio |"
		echo "|---|---|---:|---:|---:|"
		for m in stat create_unlink seqwrite seqread randread randread_qd daemon_cpu; do
			o=$(get phoenixfsd $m) v=$(get virtiofsd $m)
			u=$(grep "metric=$m " "$RES" | head -1 | sed -n 's/.*unit=\([^ ]*\).*/\1/p')
			r=$(awk -v a="$o" -v b="$v" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "n/a" }')
			echo "| $m | ${u:-} | ${o:-missing} | ${v:-missing} | $r |"
		done
	} >"$T/table.md"
	cat "$T/table.md"
	[ -n "$OUT" ] && cp "$T/table.md" "$OUT"
fi
exit 0
