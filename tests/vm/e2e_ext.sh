#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 3 end to end: the FUSE operations beyond e2e.sh's (xattrs, POSIX
# ACLs, fcntl locks and flock between two guest processes, copy_file_range,
# O_TMPFILE, syncfs, fallocate modes, ioctl) through one guest running
# tests/vm/guest/fsops_ext.c, then host-side checks of what the guest left.
# The share is a tmpfs (64 KiB xattr values, trusted.* and ACLs), mounted
# under a temporary directory and unmounted at the end. Prints "N passed,
# N failed" (guest SKIP lines count as passed); exit 0 iff nothing failed.
#
# usage: e2e_ext.sh [--daemon phoenixfsd|virtiofsd] [--bin PATH]
#                   [--cache auto|none|always] [--timeout SEC] [--keep]
# phoenixfsd runs with --xattr --posix-acl; QEMU's C virtiofsd with
# -o xattr -o posix_acl -o posix_lock -o flock (its reference behaviour).
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
DAEMON=phoenixfsd BIN="" CACHE=auto TIMEOUT=300 KEEP=0

while [ $# -gt 0 ]; do
	case $1 in
	--daemon) DAEMON=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--cache) CACHE=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$0"; exit 0 ;;
	*) echo "e2e_ext.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $DAEMON in
phoenixfsd) BIN=${BIN:-$REPO/build/src/phoenixfsd} ;;
virtiofsd) BIN=${BIN:-/usr/lib/qemu/virtiofsd} ;;
*) echo "e2e_ext.sh: --daemon phoenixfsd|virtiofsd" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "e2e_ext.sh: must run as root" >&2; exit 2; }
[ -x "$BIN" ] || { echo "e2e_ext.sh: $BIN not found" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-e2e-ext.XXXXXX")
SHARE=$T/share SOCK=$T/vhost.sock
DPID="" MOUNTED=0
cleanup() {
	set +e
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$DPID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$DPID" 2>/dev/null
	fi
	[ "$MOUNTED" = 1 ] && umount "$SHARE"
	if [ "$KEEP" = 1 ]; then echo "e2e_ext.sh: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0 FAIL=0
hok() { PASS=$((PASS + 1)); echo "ok host - $*"; }
hnok() { FAIL=$((FAIL + 1)); echo "not ok host - $*"; }
hcheck() { d=$1; shift; if "$@" >/dev/null 2>&1; then hok "$d"; else hnok "$d"; fi; }

echo "== phoenixfsd e2e_ext: daemon $DAEMON ($BIN), cache=$CACHE"
"$REPO/tests/vm/prepare.sh" >/dev/null
gcc -static -O2 -Wall -o "$T/fsops_ext" "$REPO/tests/vm/guest/fsops_ext.c"
cat >"$T/script.sh" <<'SCRIPT'
#!/bin/sh
/phx/fsops_ext /mnt/ext.d
SCRIPT
mkdir -p "$SHARE"
mount -t tmpfs -o size=256m,mode=755 phx-ext "$SHARE" && MOUNTED=1

case $DAEMON in
virtiofsd)
	"$BIN" --socket-path="$SOCK" -o source="$SHARE" -o cache="$CACHE" \
	    -o xattr -o posix_acl -o posix_lock -o flock \
	    >"$T/daemon.log" 2>&1 &
	;;
phoenixfsd)
	"$BIN" --socket-path="$SOCK" --shared-dir="$SHARE" --cache="$CACHE" \
	    --xattr --posix-acl >"$T/daemon.log" 2>&1 &
	;;
esac
DPID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
if [ ! -S "$SOCK" ]; then
	echo "e2e_ext.sh: daemon did not create $SOCK; its log:" >&2
	cat "$T/daemon.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

rrc=0
"$REPO/tests/vm/run.sh" --socket "$SOCK" --timeout "$TIMEOUT" \
    --script "$T/script.sh" --add "$T/fsops_ext:/phx/fsops_ext" \
    >"$T/out" 2>&1 || rrc=$?
guest=$(awk '/^---- full console log/ { exit } { print }' "$T/out")
printf '%s\n' "$guest" | grep -E '^(not )?ok |^# fsops_ext' || true
gp=$(printf '%s\n' "$guest" | grep -c '^ok ' || true)
gf=$(printf '%s\n' "$guest" | grep -c '^not ok ' || true)
PASS=$((PASS + gp)) FAIL=$((FAIL + gf))

echo "== host-side checks"
if [ "$rrc" = 0 ] || { [ "$gf" -gt 0 ] && [ "$rrc" = 1 ]; }; then
	hok "guest run completed (run.sh exit $rrc)"
else
	hnok "guest run completed (run.sh exit $rrc: 124 timeout, 125 no status)"
fi
hcheck "guest finished fsops_ext" grep -q '^# fsops_ext: ' "$T/out"
E=$SHARE/ext.d
hx() { python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode(errors="replace"))' "$@" 2>/dev/null; }
hcheck "guest user.a xattr on the host" test "$(hx "$E/x" user.a)" = value
if grep -q 'trusted.\* on a symlink # SKIP' "$T/out"; then
	hok "trusted.* on a symlink skipped in the guest # SKIP"
else
	hcheck "guest trusted.* on a symlink stays on the link" \
	    test "$(hx "$E/sl" trusted.s)" = s
fi
hcheck "guest ACL on the host (system.posix_acl_access)" \
    python3 -c 'import os,sys; os.getxattr(sys.argv[1], "system.posix_acl_access")' "$E/acl"
hcheck "copy_file_range result on the host" test "$(head -c 5 "$E/cfb" 2>/dev/null)" = 23456
if grep -q 'O_TMPFILE # SKIP' "$T/out"; then
	hok "O_TMPFILE skipped in the guest # SKIP"
else
	hcheck "linked O_TMPFILE on the host" test -f "$E/tmpnamed"
fi

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
