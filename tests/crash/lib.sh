# SPDX-License-Identifier: GPL-2.0-or-later
# lib.sh: what the crash test scripts share (sourced, not run). Starts
# phoenixfsd daemons in a mktemp directory, stops exactly the processes it
# started (launcher, keeper, the keeper's child) and merges the TAP of
# several crashtest runs into one numbered stream ending in "# N passed, N
# failed". Knobs: PHX_CRASH_SANDBOX (none|chroot|namespace, default namespace),
# PHX_CRASH_KEEP=1 keeps the temporary directory and logs.

: "${PHX_CRASH_SANDBOX:=namespace}"
T=$(mktemp -d /tmp/phx-crash.XXXXXX)
STARTED=""	# launcher:keeper pairs
TAPN=0
TAPPASS=0
TAPFAIL=0

tap_ok() { # ok(0|1) description
	TAPN=$((TAPN + 1))
	if [ "$1" -eq 0 ]; then
		TAPPASS=$((TAPPASS + 1)); echo "ok $TAPN - $2"
	else
		TAPFAIL=$((TAPFAIL + 1)); echo "not ok $TAPN - $2"
	fi
}

tap_end() {
	echo "1..$TAPN"
	echo "# $TAPPASS passed, $TAPFAIL failed"
}

# Children of pid $1.
ppid_children() {
	pgrep -P "$1" 2>/dev/null
}

# start_daemon TAG [VAR=value ...]: sets SOCK SHARE LOG KEEPER LAUNCHER
start_daemon() {
	tag=$1; shift
	D=$T/$tag
	mkdir -p "$D/share"
	SOCK=$D/sock SHARE=$D/share LOG=$D/log PIDF=$D/pid
	env "$@" "$DAEMON" --socket-path="$SOCK" --shared-dir="$SHARE" \
	    --sandbox="$PHX_CRASH_SANDBOX" --pid-file="$PIDF" \
	    ${DAEMON_ARGS:-} </dev/null >"$LOG" 2>&1 &
	LAUNCHER=$!
	KEEPER=""
	i=0
	while [ $i -lt 200 ]; do
		[ -S "$SOCK" ] && [ -s "$PIDF" ] && break
		kill -0 "$LAUNCHER" 2>/dev/null || break
		sleep 0.05
		i=$((i + 1))
	done
	if [ -s "$PIDF" ]; then
		KEEPER=$(cat "$PIDF")
	elif [ -S "$SOCK" ] && kill -0 "$LAUNCHER" 2>/dev/null; then
		# Daemon bug seen with --sandbox=namespace: the launcher
		# sometimes fails to write the pid file (the keeper's
		# pivot_root moved its root). Report it, go on with the
		# launcher's child (or the launcher itself without a pid
		# namespace) so the other checks still run.
		tap_ok 1 "$tag: launcher wrote the pid file ($(grep -m1 'pid' "$LOG" | tail -c 120))"
		KEEPER=$(ppid_children "$LAUNCHER" | head -n 1)
		[ "$PHX_CRASH_SANDBOX" = namespace ] || KEEPER=$LAUNCHER
	fi
	STARTED="$STARTED $LAUNCHER:${KEEPER:-0}"
	[ -n "$KEEPER" ]
}

# stop_daemon: the daemon exits when the front-end closes; if it does not
# within 5 s, kill what this script started.
stop_daemon() {
	i=0
	while [ $i -lt 50 ] && kill -0 "$LAUNCHER" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	kill_started "$LAUNCHER:$KEEPER"
	wait "$LAUNCHER" 2>/dev/null
	return 0
}

kill_started() { # launcher:keeper ...
	for pair in "$@"; do
		l=${pair%%:*} k=${pair##*:}
		if [ "$k" != 0 ] && kill -0 "$k" 2>/dev/null; then
			for w in $(ppid_children "$k"); do
				kill -9 "$w" 2>/dev/null
			done
			kill -9 "$k" 2>/dev/null
		fi
		kill -0 "$l" 2>/dev/null && kill -9 "$l" 2>/dev/null
	done
}

cleanup() {
	kill_started $STARTED
	if [ -n "${PHX_CRASH_KEEP:-}" ]; then
		echo "# kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_tap PREFIX CMD...: runs a TAP-speaking crashtest, renumbers its
# results into this script's stream, passes comments through.
run_tap() {
	prefix=$1; shift
	out=$D/tap.$TAPN
	timeout -k 5 "${PHX_CRASH_RUN_TIMEOUT:-120}" "$@" >"$out" 2>&1
	rc=$?
	got=0
	while IFS= read -r line; do
		case $line in
		"ok "*)
			got=1; tap_ok 0 "$prefix: ${line#ok * - }" ;;
		"not ok "*)
			got=1; tap_ok 1 "$prefix: ${line#not ok * - }" ;;
		"#"*|"Bail out"*) echo "# $line" ;;
		*) ;;
		esac
	done <"$out"
	if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
		tap_ok 1 "$prefix: crashtest ended with status $rc"
	elif [ $got -eq 0 ]; then
		tap_ok 1 "$prefix: crashtest printed no result"
	fi
	return $rc
}

# Log lines of interest after a failure.
show_log() {
	echo "# --- daemon log ($1 last lines) ---"
	tail -n "$1" "$LOG" 2>/dev/null | sed 's/^/#   /'
}
