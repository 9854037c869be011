#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The long soak (issue 11; not in CI, which runs the 60 s variants): the
# in-guest model-checked torture of tests/vm/crash_kill.sh (a real QEMU
# guest running tests/vm/guest/workload.c, every answer checked against
# its model, the host tree compared at the end) for --minutes, with the
# worker killed every --every-ms (default 300), niced. Prints kills,
# operations and errors, and exits 0 iff crash_kill.sh passed.
#
# usage: scripts/soak.sh [--bin build/src/phoenixfsd] [--minutes 30]
#                        [--every-ms 300] [--signal KILL|SEGV] [--jobs 2]
#                        [-- crash_kill.sh options...]
# PHX_VM_CACHE must name the prepared guest kernel (tests/vm/README.md).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$REPO/build/src/phoenixfsd MIN=30 EVERY=300 SIG=KILL JOBS=2
while [ $# -gt 0 ]; do
	case $1 in
	--bin) BIN=$2; shift 2 ;;
	--minutes) MIN=$2; shift 2 ;;
	--every-ms) EVERY=$2; shift 2 ;;
	--signal) SIG=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--) shift; break ;;
	-h|--help) sed -n '/^# usage:/,/^# PHX_VM/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ "$EVERY" -gt 300 ]; then
	echo "soak.sh: --every-ms $EVERY: the soak kills every 300 ms or less" >&2
	exit 2
fi
SECS=$((MIN * 60))
OUT=$(mktemp "${TMPDIR:-/tmp}/phx-soak.XXXXXX")
trap 'rm -f "$OUT"' EXIT
echo "soak: $BIN, $MIN min, SIG$SIG every $EVERY ms, $JOBS workloads (started $(date -u +%H:%M:%S) UTC)"
rc=0
nice -n 10 "$REPO/tests/vm/crash_kill.sh" --bin "$BIN" --seconds "$SECS" \
    --every-ms "$EVERY" --signal "$SIG" --jobs "$JOBS" \
    --timeout $((SECS * 3 + 600)) "$@" 2>&1 | tee "$OUT" || rc=$?
line=$(grep '^crash_kill: SIG' "$OUT" | tail -n 1)
kills=$(sed -n 's/.*: \([0-9]*\) kills landed.*/\1/p' <<<"$line")
ops=$(sed -n 's/.* ops=\([0-9?]*\).*/\1/p' <<<"$line")
errs=$(sed -n 's/.* errors=\([0-9?]*\).*/\1/p' <<<"$line")
mis=$(sed -n 's/.* mismatches=\([0-9?]*\).*/\1/p' <<<"$line")
echo "soak: $MIN min: kills ${kills:-?}, operations ${ops:-?}, errors ${errs:-?}, mismatches ${mis:-?} ($(grep -c '^ok' "$OUT" || true) passed, $(grep -c '^not ok' "$OUT" || true) failed; ended $(date -u +%H:%M:%S) UTC)"
exit "$rc"
