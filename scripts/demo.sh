#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# phoenixfsd demo: serve a small host directory to a QEMU guest (TCG, no KVM
# needed), let the guest list it, read a host file, write a file and make a
# directory, then show what the host sees. Builds nothing: run it after
#   sh scripts/deps.sh && meson setup build && ninja -C build
#
# usage: sh scripts/demo.sh [--daemon phoenixfsd|virtiofsd] [--bin PATH]
#                           [--timeout SEC] [--keep]
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/tests/lib.sh"
DAEMON=phoenixfsd BIN="" TIMEOUT=120 KEEP=0
while [ $# -gt 0 ]; do
	lib_opt demo.sh "$@"
	shift "$LIB_SHIFT"
done
lib_daemon_bin demo.sh "$REPO/build/src/phoenixfsd"
if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: run as root (the daemon and QEMU need it)" >&2
	exit 2
fi
if [ ! -x "$BIN" ]; then
	echo "demo.sh: $BIN not found." >&2
	echo "  build it: meson setup build && ninja -C build" >&2
	echo "  or show the baseline: sh scripts/demo.sh --daemon virtiofsd" >&2
	exit 2
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-demo.XXXXXX")
SHARE=$T/share SOCK=$T/vhost.sock DPID=""
cleanup() {
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		lib_stop "$DPID" 10
	fi
	lib_keep_or_remove demo.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "1. Guest kernel and initramfs (tests/vm/prepare.sh; cached after the first run)"
"$REPO/tests/vm/prepare.sh"

say "2. A host directory to share: $SHARE"
mkdir -p "$SHARE/docs"
echo "Hello from the host! This file was written before the VM booted." \
    >"$SHARE/hello.txt"
printf 'phoenixfsd keeps serving\nwhile its worker restarts\n' >"$SHARE/docs/poem.txt"
seq 1 1000 >"$SHARE/numbers.txt"
(cd "$SHARE" && ls -lR)

say "3. Starting $DAEMON on $SOCK"
case $DAEMON in
phoenixfsd)
	echo "\$ $BIN --socket-path=$SOCK --shared-dir=$SHARE --cache=auto --pid-file=$T/pid"
	"$BIN" --socket-path="$SOCK" --shared-dir="$SHARE" --cache=auto \
	    --pid-file="$T/pid" >"$T/daemon.log" 2>&1 &
	;;
virtiofsd)
	echo "\$ $BIN --socket-path=$SOCK -o source=$SHARE -o cache=auto"
	"$BIN" --socket-path="$SOCK" -o source="$SHARE" -o cache=auto \
	    >"$T/daemon.log" 2>&1 &
	;;
esac
DPID=$!
if ! lib_wait_socket "$SOCK" 100 "$DPID"; then
	echo "demo.sh: $DAEMON did not create its socket. Its log:" >&2
	cat "$T/daemon.log" >&2
	exit 1
fi

cat >"$T/guest.sh" <<'EOF'
g() { echo "[guest] \$ $*"; "$@"; }
echo "[guest] kernel $(uname -r); share mounted:"
grep virtiofs /proc/mounts
g ls -l /mnt
g cat /mnt/hello.txt
echo "[guest] numbers.txt has $(wc -l < /mnt/numbers.txt) lines, sum $(awk '{s+=$1} END {print s}' /mnt/numbers.txt)"
echo "[guest] \$ echo ... > /mnt/from-guest.txt"
echo "Hello from the guest (kernel $(uname -r))!" > /mnt/from-guest.txt
g mkdir /mnt/made-in-guest
g cp /mnt/docs/poem.txt /mnt/made-in-guest/poem-copy.txt
g df -h /mnt
echo "[guest] crash demo: start (meanwhile the host SIGKILLs the daemon's worker every 300 ms)"
mkdir -p /mnt/crash-demo
i=0; bad=0
while [ $i -lt 400 ]; do
	echo "line $i written by the guest" > /mnt/crash-demo/f$i || bad=$((bad + 1))
	[ "$(cat /mnt/crash-demo/f$i)" = "line $i written by the guest" ] || bad=$((bad + 1))
	i=$((i + 1))
done
rm /mnt/crash-demo/f1*[0-9] || bad=$((bad + 1))
echo "[guest] crash demo: done: $i files written and read back, then 110 removed; errors: $bad"
EOF

say "4. Booting a guest (QEMU TCG) that mounts the share with -t virtiofs"
: >"$T/console"
if [ "$DAEMON" = phoenixfsd ]; then
	# The point of phoenixfsd: kill its worker while the guest works.
	(
		while ! grep -q 'crash demo: start' "$T/console"; do
			sleep 0.1
		done
		n=0
		while ! grep -q 'crash demo: done' "$T/console" && [ $n -lt 100 ]; do
			w=$(pgrep -P "$(cat "$T/pid")" | head -n 1)
			if [ -n "$w" ] && kill -9 "$w" 2>/dev/null; then
				n=$((n + 1))
				echo "[host] kill -9 $w (the worker; kill #$n)"
			fi
			sleep 0.3
		done
		echo "$n" >"$T/kills"
	) &
fi
rc=0
"$REPO/tests/vm/run.sh" --socket "$SOCK" --script "$T/guest.sh" \
    --timeout "$TIMEOUT" | tee "$T/console" || rc=$?
if [ "$rc" != 0 ]; then
	echo "demo.sh: the guest run failed (exit $rc; 124 = timeout)." >&2
	echo "== $DAEMON log:" >&2
	tail -n 40 "$T/daemon.log" >&2
	exit 1
fi

say "5. What the host sees now"
(cd "$SHARE" && ls -lR)
echo "\$ cat from-guest.txt"
cat "$SHARE/from-guest.txt"
echo "\$ cmp docs/poem.txt made-in-guest/poem-copy.txt"
ok=1
cmp "$SHARE/docs/poem.txt" "$SHARE/made-in-guest/poem-copy.txt" &&
    echo "identical" || ok=0
grep -q "Hello from the guest" "$SHARE/from-guest.txt" || ok=0
[ -d "$SHARE/made-in-guest" ] || ok=0
grep -q '^\[guest\] numbers.txt has 1000 lines, sum 500500' "$T/console" || ok=0
if [ "$DAEMON" = phoenixfsd ]; then
	grep -q 'crash demo: done: 400 files written and read back, then 110 removed; errors: 0' \
	    "$T/console" || ok=0
	[ "$(ls "$SHARE/crash-demo" | wc -l)" = 290 ] || ok=0
fi

say "Result"
t=$(sed -n 's/^PHX: boot-to-mount //p' "$T/console")
echo "daemon: $DAEMON   boot-to-mount (QEMU start to share mounted): ${t:-?}"
if [ "$DAEMON" = phoenixfsd ]; then
	sleep 0.5
	echo "worker SIGKILLs during the guest's work: $(cat "$T/kills" 2>/dev/null || echo 0);" \
	    "guest errors: $(sed -n 's/.*crash demo: done:.*errors: //p' "$T/console")" \
	    "(the guest saw only short stalls; QEMU never reconnected)"
	echo "host: $(ls "$SHARE/crash-demo" | wc -l) files in crash-demo (400 written, 110 removed)"
fi
if [ $ok = 1 ]; then
	echo "demo OK: the guest read host files, and the host sees what the guest wrote."
	[ "$DAEMON" = phoenixfsd ] &&
	    echo "         and killing the daemon's worker mid-work cost the guest nothing."
else
	echo "demo FAILED: the host does not see what the guest should have written." >&2
	exit 1
fi
