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
. "$REPO/tests/lib.sh"
DAEMON=phoenixfsd BIN="" CACHE=auto TIMEOUT=300 KEEP=0

while [ $# -gt 0 ]; do
	case $1 in
	--cache) CACHE=$2; shift 2 ;;
	*) lib_opt e2e_ext.sh "$@"; shift "$LIB_SHIFT" ;;
	esac
done
lib_daemon_bin e2e_ext.sh "$REPO/build/src/phoenixfsd"
lib_need_root e2e_ext.sh
lib_need_exec e2e_ext.sh "$BIN"

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-e2e-ext.XXXXXX")
SHARE=$T/share SOCK=$T/vhost.sock
DPID="" MOUNTED=0
cleanup() {
	set +e
	lib_stop_daemon 10
	[ "$MOUNTED" = 1 ] && umount "$SHARE"
	lib_keep_or_remove e2e_ext.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LIB_WHO=host

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
if ! lib_wait_socket "$SOCK" 100 "$DPID"; then
	echo "e2e_ext.sh: daemon did not create $SOCK; its log:" >&2
	cat "$T/daemon.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

rrc=0
"$REPO/tests/vm/run.sh" --socket "$SOCK" --timeout "$TIMEOUT" \
    --script "$T/script.sh" --add "$T/fsops_ext:/phx/fsops_ext" \
    >"$T/out" 2>&1 || rrc=$?
guest=$(lib_guest_lines "$T/out")
printf '%s\n' "$guest" | grep -E '^(not )?ok |^# fsops_ext' || true

lib_guest_tally "$guest" "$rrc"
lib_check "guest finished fsops_ext" grep -q '^# fsops_ext: ' "$T/out"
E=$SHARE/ext.d
hx() { python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode(errors="replace"))' "$@" 2>/dev/null; }
lib_check "guest user.a xattr on the host" test "$(hx "$E/x" user.a)" = value
if grep -q 'trusted.\* on a symlink # SKIP' "$T/out"; then
	lib_ok "trusted.* on a symlink skipped in the guest # SKIP"
else
	lib_check "guest trusted.* on a symlink stays on the link" \
	    test "$(hx "$E/sl" trusted.s)" = s
fi
lib_check "guest ACL on the host (system.posix_acl_access)" \
    python3 -c 'import os,sys; os.getxattr(sys.argv[1], "system.posix_acl_access")' "$E/acl"
lib_check "copy_file_range result on the host" test "$(head -c 5 "$E/cfb" 2>/dev/null)" = 23456
if grep -q 'O_TMPFILE # SKIP' "$T/out"; then
	lib_ok "O_TMPFILE skipped in the guest # SKIP"
else
	lib_check "linked O_TMPFILE on the host" test -f "$E/tmpnamed"
fi

lib_vm_end "$T/daemon.log" "$T/out"
