#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A VM pause must be invisible to the guest (QMP stop and cont: virsh
# suspend/resume, a migration's stop phase). A host process holds a POSIX
# lock and a flock on pz/file; in a real QEMU guest two programs
# (guest/lockwait.c) block in fcntl(F_SETLKW) and flock(LOCK_EX) for them
# (guest/pause.sh). The host then sends QMP stop (QEMU 7.2 stops every
# ring: SET_VRING_ENABLE 0, GET_VRING_BASE), drops its locks while the VM
# is paused, waits, and sends QMP cont (the rings start again at the bases
# answered). Both guest calls must return 0, once, with no EINTR and no
# errno 512 (ERESTARTSYS: the guest kernel's answer to a lock wait the
# daemon ended with EINTR, as it did at every GET_VRING_BASE before).
# Also: the daemon logged that each ring went on (same epoch), and no
# worker died. About 15 s on an idle host.
#
# usage: pause.sh [--bin PATH] [--timeout SEC] [--keep]
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
BIN=$REPO/build/src/phoenixfsd KEEP=0 TIMEOUT=120 PASS=0 FAIL=0
while [ $# -gt 0 ]; do
	lib_opt pause.sh "$@"; shift "$LIB_SHIFT"
done
lib_need_root pause.sh
lib_need_exec pause.sh "$BIN"
"$REPO/tests/vm/prepare.sh" >/dev/null || { lib_nok "tests/vm/prepare.sh"; lib_finish; }

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-pause.XXXXXX")
DPID="" RPID="" TPID="" HPID=""
cleanup() {
	set +e
	for p in $RPID $TPID $HPID; do kill "$p" 2>/dev/null; done
	[ -z "$RPID" ] || wait "$RPID" 2>/dev/null
	lib_stop_daemon 25
	lib_keep_or_remove pause.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# qmp CMD...: each QMP command (no arguments) on the VM's QMP socket,
# printed with its return value.
qmp() {
	python3 - "$T/qmp" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile('rw')
def rd():
    while True:
        m = json.loads(f.readline())
        if 'event' not in m:
            return m
rd()
def ex(c):
    f.write(json.dumps({'execute': c}) + '\n')
    f.flush()
    return rd()
ex('qmp_capabilities')
for c in sys.argv[2:]:
    r = ex(c)
    if 'error' in r:
        sys.exit('qmp %s: %s' % (c, r['error']))
    print('qmp %s: %s' % (c, json.dumps(r['return'])))
PY
}
# wait_for FILE TRIES: up to TRIES x 0.1 s for FILE to exist (while the
# guest runs, if one was started).
wait_for() {
	local i
	for i in $(seq "$2"); do
		[ -e "$1" ] && return 0
		[ -z "$RPID" ] || kill -0 "$RPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

gcc -static -O2 -Wall -o "$T/lockwait" "$REPO/tests/vm/guest/lockwait.c"
mkdir -p "$T/share/pz"
: >"$T/share/pz/file"
"$BIN" --socket-path="$T/sock" --shared-dir="$T/share" --pid-file="$T/pid" \
    --debug >"$T/daemon.log" 2>&1 &
DPID=$!
lib_wait_socket "$T/sock" 100 "$DPID" "$T/pid" ||
    { lib_nok "daemon started"; cat "$T/daemon.log"; lib_finish; }
KPID=$(cat "$T/pid")
# The host process: a classic POSIX write lock and a flock, until pz/release.
python3 - "$T/share/pz" <<'PY' &
import fcntl, os, sys, time
d = sys.argv[1]
a = os.open(d + '/file', os.O_RDWR)
b = os.open(d + '/file', os.O_RDWR)
fcntl.lockf(a, fcntl.LOCK_EX)
fcntl.flock(b, fcntl.LOCK_EX)
open(d + '/held', 'w').close()
while not os.path.exists(d + '/release'):
    time.sleep(0.05)
PY
HPID=$!
wait_for "$T/share/pz/held" 100 || true
lib_check "the host process holds its locks" test -e "$T/share/pz/held"

START=$(date +%s.%N)
lib_guest_start "$T/out" '' --socket "$T/sock" --timeout "$TIMEOUT" \
    --qmp "$T/qmp" --script "$REPO/tests/vm/guest/pause.sh" \
    --add "$T/lockwait:/phx/lockwait"
if wait_for "$T/share/pz/waiting" $((TIMEOUT * 10)); then
	lib_ok "the guest's fcntl(F_SETLKW) and flock(LOCK_EX) wait"
	nbase=$(grep -c 'GET_VRING_BASE' "$T/daemon.log" || true)
	qmp stop query-status
	# QEMU answers stop once every ring is stopped (GET_VRING_BASE).
	lib_check "QMP stop reached the daemon (GET_VRING_BASE)" \
	    test "$(grep -c 'GET_VRING_BASE' "$T/daemon.log")" -gt "$nbase"
	: >"$T/share/pz/release"
	wait "$HPID" 2>/dev/null || true
	HPID=""
	echo "pause: the host process dropped its locks while the VM is paused"
	sleep 1.5 # the daemon's retries (every 50 ms at most) would see it
	qmp cont query-status
else
	lib_nok "the guest's lock calls wait (no pz/waiting)"
fi
rc=0
lib_guest_wait || rc=$?
echo "pause: guest done after $(echo "$(date +%s.%N) - $START" | bc) s (run.sh exit $rc)"
guest=$(lib_guest_lines "$T/out")
[ "$rc" = 0 ] && lib_ok "guest ended with no error" || lib_nok "guest exit $rc"
for m in posix flock; do
	line=$(printf '%s\n' "$guest" | grep "^PHX-LW $m rc" || true)
	lib_check "the guest's $m lock call returned 0 once after the cont (${line:-no result})" \
	    test "$line" = "PHX-LW $m rc 0 errno 0"
done
lib_check "each ring the stop stopped went on at the cont (daemon log)" \
    grep -q 'the ring stopped at .* goes on' "$T/daemon.log"
lib_check "no worker died" bash -c "! grep -q 'ended (signal' '$T/daemon.log'"
lib_vm_end "$T/daemon.log" "$T/out" 60
