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
. "$REPO/tests/lib.sh"
DAEMON=phoenixfsd BIN="" CACHE=auto TIMEOUT="" QUEUES=1 KEEP=0

while [ $# -gt 0 ]; do
	case $1 in
	--cache) CACHE=$2; shift 2 ;;
	--queues) QUEUES=$2; shift 2 ;;
	*) lib_opt e2e.sh "$@"; shift "$LIB_SHIFT" ;;
	esac
done
lib_daemon_bin e2e.sh "$REPO/build/src/phoenixfsd"
# cache=none: no attribute caching, so ls -l of 10,000 entries alone takes
# minutes under TCG.
[ -n "$TIMEOUT" ] || { [ "$CACHE" = none ] && TIMEOUT=900 || TIMEOUT=300; }
lib_need_root e2e.sh
lib_need_exec e2e.sh "$BIN" "(build it first)"

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-e2e.XXXXXX")
SHARE=$T/share SOCK=$T/vhost.sock
DPID="" RPID="" TPID=""
cleanup() {
	set +e
	for p in $RPID $TPID; do kill "$p" 2>/dev/null; done
	lib_stop_daemon 10
	lib_keep_or_remove e2e.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LIB_WHO=host

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
if ! lib_wait_socket "$SOCK" 100 "$DPID"; then
	echo "e2e.sh: daemon did not create $SOCK; its log:" >&2
	cat "$T/daemon.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# ---- the guest, and the host side of the handshake -----------------------
lib_guest_start "$T/out" "" --socket "$SOCK" --timeout "$TIMEOUT" \
    --queues "$QUEUES" --script "$REPO/tests/vm/guest/suite.sh" \
    --add "$T/fsops:/phx/fsops" --add "$T/cachemode:/phx/cache"
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
lib_guest_wait || rrc=$?

# Count the guest's TAP lines (not those repeated in run.sh's error dump).
guest=$(lib_guest_lines "$T/out")
lib_guest_tally "$guest" "$rrc"
lib_check "guest finished the suite" grep -q '^# suite: ' "$T/out"

sum_of() { sed -n "s|^PHX-SUM $1 \([0-9a-f]*\).*|\1|p" "$T/out" | head -1; }
gsum=$(sum_of guest/big64)
hsum=$( [ -f "$SHARE/guest/big64" ] && sha256sum "$SHARE/guest/big64" | cut -d' ' -f1)
lib_check "guest-written 64 MiB file: host sha256 = guest sha256" \
    test -n "$gsum" -a "$gsum" = "$hsum"
lib_check "host-written 64 MiB file: guest sha256 = host sha256" \
    test "$(sum_of host/big64)" = "$HOSTSUM"
lib_check "guest/hello content on host" \
    test "$(cat "$SHARE/guest/hello" 2>/dev/null)" = "hello from the guest"
lib_check "guest append after host change seen by host" \
    test "$(cat "$SHARE/hostchg/file" 2>/dev/null)" = "after, and longer
guest"
F=$SHARE/fsops.d
lib_check "guest mknod char 1:3 is a char device 1:3 on host" \
    test "$(stat -c '%F %t:%T' "$F/chr" 2>/dev/null)" = "character special file 1:3"
lib_check "guest mkfifo is a fifo on host" test -p "$F/fifo"
lib_check "guest symlink target on host" test "$(readlink "$F/lnk" 2>/dev/null)" = target/x
lib_check "file created by guest uid 1000 owned by 1000:1000 on host" \
    test "$(stat -c %u:%g "$F/pub/ufile" 2>/dev/null)" = 1000:1000
lib_check "guest hard links: nlink 2 on host" \
    test "$(stat -c %h "$F/l2" 2>/dev/null)" = 2
lib_check "guest fallocate/punch: size 1 MiB on host" \
    test "$(stat -c %s "$F/fa" 2>/dev/null)" = 1048576
lib_check "guest utimensat mtime visible on host" \
    test "$(stat -c %Y "$F/sa" 2>/dev/null)" -gt 1300000000
lib_check "share top level holds only what host and guest made" \
    test "$(ls -A "$SHARE" | sort | tr '\n' ' ')" = "fsops.d guest host hostchg sync "

# ---- stop the daemon -----------------------------------------------------
lib_vm_end "$T/daemon.log" "$T/out"
