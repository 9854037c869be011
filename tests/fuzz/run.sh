#!/bin/sh
# Runs every libFuzzer target of BUILD_DIR (configured with -Dfuzz=true):
# first each input of tests/fuzz/regress/<target>/ once (crashes found
# before must stay fixed), then SECONDS of fuzzing (default 30) seeded
# from corpus/ and regress/. New inputs go to a scratch directory, never
# into the tree; a crash leaves its input there and its report in a log.
# Prints "N passed, N failed" (one per target); exits non-zero on a failure.
set -u
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [SECONDS]" >&2
	exit 2
fi
B=$(cd "$1" && pwd) || exit 2
T=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/phx-fuzz-run.XXXXXX)
pass=0
fail=0

run_target() { # name -> exit status
	t=$1
	exe=$B/tests/fuzz/$t
	mkdir -p "$work/$t/new" "$work/$t/art"
	if [ ! -x "$exe" ]; then
		echo "$t: $exe not built"
		return 1
	fi
	reg=
	if ls "$here/regress/$t"/* >/dev/null 2>&1; then
		reg=$here/regress/$t
		if ! "$exe" -timeout=20 "$here/regress/$t"/* \
		    >"$work/$t/regress.log" 2>&1; then
			echo "$t: a regression input fails again:"
			grep -E "ERROR|SUMMARY|Running:" "$work/$t/regress.log" |
			    tail -n 5
			return 1
		fi
	fi
	if ! "$exe" -max_total_time="$T" -timeout=20 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$work/$t/art/" \
	    "$work/$t/new" "$here/corpus/$t" $reg \
	    >"$work/$t/fuzz.log" 2>&1; then
		echo "$t: crash after fuzzing; input and log in $work/$t:"
		grep -E "ERROR|SUMMARY|#0 |#1 |#2 " "$work/$t/fuzz.log" |
		    head -n 8
		ls "$work/$t/art"
		return 1
	fi
	grep -E "stat::number_of_executed_units|cov:" "$work/$t/fuzz.log" |
	    tail -n 2 | sed "s/^/$t: /"
	return 0
}

for t in fuzz_vu_msg fuzz_vring fuzz_fuse_req; do
	if run_target "$t"; then
		pass=$((pass + 1))
		echo "PASS: $t"
	else
		fail=$((fail + 1))
		echo "FAIL: $t"
	fi
done
[ "$fail" -eq 0 ] && rm -rf "$work"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
