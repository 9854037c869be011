# SPDX-License-Identifier: GPL-2.0-or-later
# tests/lib.sh: the harness code that tests/integ/*.sh, tests/vm/*.sh and
# scripts/demo.sh share; sourced, never run. It owns: result lines and their
# counts up to the closing "N passed, N failed" (numbered TAP for meson's
# integ suite; the VM scripts' unnumbered "ok [WHO] - ..."), the usage text
# from a script's header comment, the options the VM drivers share (--daemon
# --bin --timeout --keep --help) and which binary each daemon flavour runs,
# the root and binary checks, waiting for a daemon's socket, stopping a
# daemon (SIGTERM, a grace period, SIGKILL), keeping or removing the
# temporary directory, listing a daemon's process tree (also for bench/),
# and booting a guest with tests/vm/run.sh in the
# background and collecting its status and its own output lines. Every
# script keeps its daemon command lines, its checks and its cleanup trap
# (only the integ scripts' kill-all trap is here, lib_tmp_pids). Starts
# nothing by itself when sourced. POSIX sh: tests/integ/*.sh run under
# /bin/sh, the others under bash. Names start with lib_; the globals each
# function reads or sets are named in its comment.

# ---- numbered TAP (tests/integ) ------------------------------------------

lib_tap_n=0 lib_tap_pass=0 lib_tap_fail=0

# lib_tap STATUS DESC: "ok N - DESC" if STATUS is 0, else "not ok N - DESC".
lib_tap() {
	lib_tap_n=$((lib_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $lib_tap_n - $2"; lib_tap_pass=$((lib_tap_pass + 1))
	else
		echo "not ok $lib_tap_n - $2"; lib_tap_fail=$((lib_tap_fail + 1))
	fi
}

# lib_tap_end [PREFIX]: the plan "1..N", then "PREFIXN passed, N failed";
# returns 0 iff nothing failed.
lib_tap_end() {
	echo "1..$lib_tap_n"
	echo "${1:-}$lib_tap_pass passed, $lib_tap_fail failed"
	[ "$lib_tap_fail" -eq 0 ]
}

# lib_tmp_pids PREFIX: T = a new /tmp/PREFIX.XXXXXX. On exit, INT or TERM
# every pid in PIDS (append what you start) gets SIGKILL and T is removed.
lib_tmp_pids() {
	T=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=""
	trap lib_kill_pids EXIT INT TERM
}
lib_kill_pids() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}

# lib_descendants_into PID: appends PID and all its descendants to
# $LIB_DESC (a daemon's process tree: launcher, keeper, worker), forking
# nothing (bench/compare.sh samples it while a figure runs).
lib_descendants_into() {
	local p=$1 c f kids
	LIB_DESC="$LIB_DESC $p"
	for f in /proc/"$p"/task/*/children; do
		[ -r "$f" ] || continue
		kids=
		read -r kids 2>/dev/null < "$f"
		for c in $kids; do lib_descendants_into "$c"; done
	done
}

# lib_descendants PID: the same, one per line.
lib_descendants() {
	local LIB_DESC=
	lib_descendants_into "$1"
	printf '%s\n' $LIB_DESC
}

# ---- unnumbered results (tests/vm) ---------------------------------------

PASS=0 FAIL=0
LIB_WHO=""	# "host" makes the lines "ok host - ..."

# lib_ok DESC..., lib_nok DESC...: one result line; count PASS or FAIL.
lib_ok() { PASS=$((PASS + 1)); echo "ok${LIB_WHO:+ $LIB_WHO} - $*"; }
lib_nok() { FAIL=$((FAIL + 1)); echo "not ok${LIB_WHO:+ $LIB_WHO} - $*"; }
# lib_check DESC CMD...: lib_ok if CMD (output discarded) succeeds.
lib_check() {
	lib_d=$1
	shift
	if "$@" >/dev/null 2>&1; then lib_ok "$lib_d"; else lib_nok "$lib_d"; fi
}
# lib_finish: "PASS passed, FAIL failed", then exit 0 iff FAIL is 0.
lib_finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ]
	exit
}

# ---- options and preconditions (tests/vm, scripts/demo.sh) ---------------

# lib_usage FILE: the "usage:" paragraph of FILE's header comment.
lib_usage() {
	sed -n 's/^# \{0,1\}//; /^usage:/,/^$/p' "$1"
}

# lib_opt NAME ARG...: takes the option at the start of ARG... if it is one
# of --daemon D, --bin PATH, --timeout SEC (setting DAEMON, BIN, TIMEOUT),
# --keep (KEEP=1) or -h/--help (prints the usage of $0, exits 0); sets
# LIB_SHIFT to the number of words it took. Anything else: "NAME: unknown
# argument ARG" on stderr, exit 2.
lib_opt() {
	lib_name=$1
	shift
	LIB_SHIFT=2
	case $1 in
	--daemon) DAEMON=$2 ;;
	--bin) BIN=$2 ;;
	--timeout) TIMEOUT=$2 ;;
	--keep) KEEP=1; LIB_SHIFT=1 ;;
	-h|--help) lib_usage "$0"; exit 0 ;;
	*) echo "$lib_name: unknown argument $1" >&2; exit 2 ;;
	esac
}

# lib_daemon_bin NAME PHOENIXFSD: BIN, unless set, for DAEMON: PHOENIXFSD
# or QEMU's /usr/lib/qemu/virtiofsd. Another DAEMON: exit 2.
lib_daemon_bin() {
	case $DAEMON in
	phoenixfsd) BIN=${BIN:-$2} ;;
	virtiofsd) BIN=${BIN:-/usr/lib/qemu/virtiofsd} ;;
	*) echo "$1: --daemon phoenixfsd|virtiofsd" >&2; exit 2 ;;
	esac
}

# lib_need_root NAME: exit 2 unless root.
lib_need_root() {
	[ "$(id -u)" = 0 ] || { echo "$1: must run as root" >&2; exit 2; }
}

# lib_need_exec NAME PATH [HINT]: exit 2 unless PATH is executable.
lib_need_exec() {
	[ -x "$2" ] || { echo "$1: $2 not found${3:+ $3}" >&2; exit 2; }
}

# ---- daemons -------------------------------------------------------------

# lib_wait_socket SOCK TRIES [PID [FILE]]: waits up to TRIES x 0.1 s for
# SOCK to be a socket (and FILE, if named, to be non-empty), giving up
# early if PID (if not empty) has exited. Returns 0 iff SOCK is a socket.
lib_wait_socket() {
	for lib_i in $(seq "$2"); do
		[ -S "$1" ] && { [ -z "${4:-}" ] || [ -s "$4" ]; } && break
		[ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	[ -S "$1" ]
}

# lib_wait_exit PID TRIES: waits up to TRIES x 0.1 s for PID to exit;
# returns 0 iff it has.
lib_wait_exit() {
	for lib_i in $(seq "$2"); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# lib_stop PID TRIES: SIGTERM, up to TRIES x 0.2 s for PID to exit, then
# SIGKILL and reap it. PID must be a child of this shell. Returns 0, also
# under set -e.
lib_stop() {
	kill "$1" 2>/dev/null || true
	for lib_i in $(seq "$2"); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# lib_stop_daemon TRIES: lib_stop DPID, if set, and clears DPID.
lib_stop_daemon() {
	[ -n "$DPID" ] || return 0
	lib_stop "$DPID" "$1"
	DPID=""
}

# lib_keep_or_remove NAME KEEP DIR: with KEEP 1 says "NAME: kept DIR",
# otherwise removes DIR.
lib_keep_or_remove() {
	if [ "$2" = 1 ]; then echo "$1: kept $3"; else rm -rf "$3"; fi
}

# ---- the guest (tests/vm/run.sh) -----------------------------------------
# lib_hmp SOCKET CMD: one command on a QEMU human monitor at the unix
# SOCKET (run.sh --monitor); its echo and output on stdout.
lib_hmp() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(1.0)
def drain():
    b = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            b += c
    except socket.timeout:
        pass
    return b
drain()
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
sys.stdout.write(drain().decode(errors="replace"))
PY
}


# lib_guest_start OUT DROP RUN.SH-ARGS...: boots a guest with
# tests/vm/run.sh (REPO names the tree) in the background, its output in
# OUT and echoed as it arrives, less the lines matching the grep pattern
# DROP if not empty. Sets RPID (run.sh) and TPID (the echo).
lib_guest_start() {
	lib_out=$1 lib_drop=$2
	shift 2
	"$REPO/tests/vm/run.sh" "$@" >"$lib_out" 2>&1 &
	RPID=$!
	if [ -n "$lib_drop" ]; then
		tail -n +1 -f --pid="$RPID" "$lib_out" |
		    grep --line-buffered -v "$lib_drop" &
	else
		tail -n +1 -f --pid="$RPID" "$lib_out" &
	fi
	TPID=$!
}

# lib_guest_wait: waits for the guest of lib_guest_start; returns run.sh's
# status (124 timeout, 125 no status from the guest). Clears RPID and TPID.
lib_guest_wait() {
	lib_rc=0
	wait "$RPID" || lib_rc=$?
	RPID=""
	wait "$TPID" 2>/dev/null || true
	TPID=""
	return "$lib_rc"
}

# lib_guest_lines FILE: run.sh's output in FILE up to the raw console dump
# it appends on failure (so no guest line is counted twice).
lib_guest_lines() {
	awk '/^---- full console log/ { exit } { print }' "$1"
}

# lib_guest_tally GUEST RRC: adds the guest's "ok"/"not ok" lines in GUEST
# to PASS and FAIL (setting gp and gf), then starts the host-side checks
# with one result: the guest run completed (run.sh exit RRC is 0, or 1
# with a failed guest check).
lib_guest_tally() {
	gp=$(printf '%s\n' "$1" | grep -c '^ok ' || true)
	gf=$(printf '%s\n' "$1" | grep -c '^not ok ' || true)
	PASS=$((PASS + gp)) FAIL=$((FAIL + gf))
	echo "== host-side checks"
	if [ "$2" = 0 ] || { [ "$gf" -gt 0 ] && [ "$2" = 1 ]; }; then
		lib_ok "guest run completed (run.sh exit $2)"
	else
		lib_nok "guest run completed (run.sh exit $2: 124 timeout, 125 no status)"
	fi
}

# lib_vm_end DAEMONLOG OUT [LINES]: stops DPID if it runs (SIGTERM, reaped;
# clears DPID), counts a failure if DAEMONLOG says a seccomp filter refused
# a call, shows the last LINES (40) lines of DAEMONLOG if anything failed,
# the guest's boot-to-mount time from OUT, and "PASS passed, FAIL failed";
# returns 0 iff FAIL is 0.
lib_vm_end() {
	lib_lines=${3:-40}
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill "$DPID"
		wait "$DPID" 2>/dev/null || true
	fi
	DPID=""
	# A worker killed by its seccomp filter is respawned and the guest
	# sees nothing: only the log tells (issue 9 finding 8).
	if [ -f "$1" ] && grep -q "forbidden syscall" "$1"; then
		lib_nok "a seccomp filter refused a call: $(grep -m1 \
		    'forbidden syscall' "$1")"
	fi
	if [ "$FAIL" -gt 0 ]; then
		echo "== daemon log (last $lib_lines lines)"
		tail -n "$lib_lines" "$1"
	fi
	grep -h '^PHX: boot-to-mount' "$2" || true
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ]
}
