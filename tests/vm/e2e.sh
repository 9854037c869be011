#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Host-side end-to-end driver: makes a temporary share, starts the daemon on
# a temporary socket, boots one guest running tests/vm/guest/suite.sh (with
# the static fsops helper), changes files on the host while the guest waits
# for them, checks on the host what the guest wrote, stops the daemon and
# prints "N passed, N failed". Exit 0 iff everything passed.
#
# usage: e2e.sh [--daemon phoenixfsd|virtiofsd] [--bin PATH]
#               [--cache auto|none|always] [--timeout SEC] [--queues N] [--keep]
# Against virtiofsd every check passes with cache=auto and cache=none
# (cache=none takes ~4 min); with cache=always the host-change checks that
# need invalidation are reported as SKIP.
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
DAEMON=phoenixfsd BIN="" CACHE=auto TIMEOUT="" QUEUES=1 KEEP=0

while [ $# -gt 0 ]; do
	case $1 in
	--daemon) DAEMON=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--cache) CACHE=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--queues) QUEUES=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0"; exit 0 ;;
	*) echo "e2e.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $DAEMON in
phoenixfsd) BIN=${BIN:-$REPO/build/src/phoenixfsd} ;;
virtiofsd) BIN=${BIN:-/usr/lib/qemu/virtiofsd} ;;
*) echo "e2e.sh: --daemon phoenixfsd|virtiofsd" >&2; exit 2 ;;
esac
# cache=none: no attribute caching, so ls -l of 10,000 entries alone takes
# minutes under TCG.
[ -n "$TIMEOUT" ] || { [ "$CACHE" = none ] && TIMEOUT=900 || TIMEOUT=300; }
[ "$(id -u)" = 0 ] || { echo "e2e.sh: must run as root" >&2; exit 2; }
[ -x "$BIN" ] || { echo "e2e.sh: $BIN not found (build it first)" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-e2e.XXXXXX")
SHARE=$T/share SOCK=$T/vhost.sock
DPID="" RPID="" TPID=""
cleanup() {
	set +e
	for p in $RPID $TPID; do kill "$p" 2>/dev/null; done
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$DPID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$DPID" 2>/dev/null
	fi
	if [ "$KEEP" = 1 ]; then
		echo "e2e.sh: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0 FAIL=0
hok() { PASS=$((PASS + 1)); echo "ok host - $*"; }
hnok() { FAIL=$((FAIL + 1)); echo "not ok host - $*"; }
hcheck() { d=$1; shift; if "$@" >/dev/null 2>&1; then hok "$d"; else hnok "$d"; fi; }

echo "== phoenixfsd e2e: daemon $DAEMON ($BIN), cache=$CACHE"
"$REPO/tests/vm/prepare.sh" >/dev/null
gcc -static -O2 -Wall -o "$T/fsops" "$REPO/tests/vm/guest/fsops.c"
echo "$CACHE" >"$T/cachemode"

# ---- the share -----------------------------------------------------------
mkdir -p "$SHARE/host/dir10k" "$SHARE/hostchg"
dd if=/dev/urandom of="$SHARE/host/big64" bs=1M count=64 status=none
HOSTSUM=$(sha256sum "$SHARE/host/big64" | cut -d' ' -f1)
(cd "$SHARE/host/dir10k" && touch f0{0000..9999})
echo before >"$SHARE/hostchg/file"
echo bye >"$SHARE/hostchg/gone"
echo m >"$SHARE/hostchg/mode"
chmod 644 "$SHARE/hostchg/mode"

# ---- the daemon ----------------------------------------------------------
case $DAEMON in
virtiofsd)
	"$BIN" --socket-path="$SOCK" -o source="$SHARE" -o cache="$CACHE" \
	    >"$T/daemon.log" 2>&1 &
	;;
phoenixfsd)
	"$BIN" --socket-path="$SOCK" --shared-dir="$SHARE" --cache="$CACHE" \
	    >"$T/daemon.log" 2>&1 &
	;;
esac
DPID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
if [ ! -S "$SOCK" ]; then
	echo "e2e.sh: daemon did not create $SOCK; its log:" >&2
	cat "$T/daemon.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# ---- the guest, and the host side of the handshake -----------------------
"$REPO/tests/vm/run.sh" --socket "$SOCK" --timeout "$TIMEOUT" \
    --queues "$QUEUES" --script "$REPO/tests/vm/guest/suite.sh" \
    --add "$T/fsops:/phx/fsops" --add "$T/cachemode:/phx/cache" \
    >"$T/out" 2>&1 &
RPID=$!
tail -n +1 -f --pid="$RPID" "$T/out" &
TPID=$!
changed=0
while kill -0 "$RPID" 2>/dev/null; do
	if [ $changed = 0 ] && [ -e "$SHARE/sync/ready" ]; then
		echo "e2e.sh: guest waiting; changing hostchg/ on the host"
		echo "after, and longer" >"$SHARE/hostchg/file"
		echo new >"$SHARE/hostchg/new.tmp"
		mv "$SHARE/hostchg/new.tmp" "$SHARE/hostchg/new"
		rm "$SHARE/hostchg/gone"
		chmod 600 "$SHARE/hostchg/mode"
		mkdir "$SHARE/hostchg/newdir"
		: >"$SHARE/hostchg/done"
		changed=1
	fi
	sleep 0.2
done
rrc=0
wait "$RPID" || rrc=$?
RPID=""
wait "$TPID" 2>/dev/null || true
TPID=""

# Count the guest's TAP lines (not those repeated in run.sh's error dump).
guest=$(awk '/^---- full console log/ { exit } { print }' "$T/out")
gp=$(printf '%s\n' "$guest" | grep -c '^ok ' || true)
gf=$(printf '%s\n' "$guest" | grep -c '^not ok ' || true)
PASS=$((PASS + gp)) FAIL=$((FAIL + gf))
echo "== host-side checks"
if [ "$rrc" = 0 ] || { [ "$gf" -gt 0 ] && [ "$rrc" = 1 ]; }; then
	hok "guest run completed (run.sh exit $rrc)"
else
	hnok "guest run completed (run.sh exit $rrc: 124 timeout, 125 no status)"
fi
hcheck "guest finished the suite" grep -q '^# suite: ' "$T/out"

sum_of() { sed -n "s|^PHX-SUM $1 \([0-9a-f]*\).*|\1|p" "$T/out" | head -1; }
gsum=$(sum_of guest/big64)
hsum=$( [ -f "$SHARE/guest/big64" ] && sha256sum "$SHARE/guest/big64" | cut -d' ' -f1)
hcheck "guest-written 64 MiB file: host sha256 = guest sha256" \
    test -n "$gsum" -a "$gsum" = "$hsum"
hcheck "host-written 64 MiB file: guest sha256 = host sha256" \
    test "$(sum_of host/big64)" = "$HOSTSUM"
hcheck "guest/hello content on host" \
    test "$(cat "$SHARE/guest/hello" 2>/dev/null)" = "hello from the guest"
hcheck "guest append after host change seen by host" \
    test "$(cat "$SHARE/hostchg/file" 2>/dev/null)" = "after, and longer
guest"
F=$SHARE/fsops.d
hcheck "guest mknod char 1:3 is a char device 1:3 on host" \
    test "$(stat -c '%F %t:%T' "$F/chr" 2>/dev/null)" = "character special file 1:3"
hcheck "guest mkfifo is a fifo on host" test -p "$F/fifo"
hcheck "guest symlink target on host" test "$(readlink "$F/lnk" 2>/dev/null)" = target/x
hcheck "file created by guest uid 1000 owned by 1000:1000 on host" \
    test "$(stat -c %u:%g "$F/pub/ufile" 2>/dev/null)" = 1000:1000
hcheck "guest hard links: nlink 2 on host" \
    test "$(stat -c %h "$F/l2" 2>/dev/null)" = 2
hcheck "guest fallocate/punch: size 1 MiB on host" \
    test "$(stat -c %s "$F/fa" 2>/dev/null)" = 1048576
hcheck "guest utimensat mtime visible on host" \
    test "$(stat -c %Y "$F/sa" 2>/dev/null)" -gt 1300000000
hcheck "share top level holds only what host and guest made" \
    test "$(ls -A "$SHARE" | sort | tr '\n' ' ')" = "fsops.d guest host hostchg sync "

# ---- stop the daemon -----------------------------------------------------
if kill -0 "$DPID" 2>/dev/null; then
	kill "$DPID"
	wait "$DPID" 2>/dev/null || true
fi
DPID=""
if [ "$FAIL" -gt 0 ]; then
	echo "== daemon log (last 40 lines)"
	tail -n 40 "$T/daemon.log"
fi
grep -h '^PHX: boot-to-mount' "$T/out" || true
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
