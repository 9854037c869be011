#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fd limits (issue 12 part 3): a tree of --files files (dirs of 1000) on the
# host, a daemon with --rlimit-nofile=--rlimit (1024), a guest that runs
#   find tree | wc -l;  find tree -type f | xargs stat;  tar cf - tree
# and the worker's fd count and RSS sampled every 0.5 s on the host. Runs
# phoenixfsd with each --inode-file-handles mode of --modes, then QEMU's C
# virtiofsd (-o cache=auto, --rlimit-nofile too) on the same tree, and
# prints a table: daemon, mode -> seconds, entries found, stat'ed, tar
# bytes, guest errors (by kind), peak fds, peak RSS (of the daemon's
# process tree, the largest process), clean exit.
# Checks, phoenixfsd only:
#   prefer: every command completes with zero errors; the worker's peak fd
#       count stays below 200 (no fd per inode);
#   never:  every command completes (no hang); the only guest errors are
#       ENFILE ("Too many open files in system"), never EMFILE, EIO or
#       ESTALE; the peak fd count stays at or below the limit;
#   both:   the guest script ran to its end, no worker death (no "ended
#       (signal" in the log), the share still serves after (a last guest
#       ls works), the daemon exits 0 when QEMU leaves.
# virtiofsd's row is a figure, never a check. Ends "N passed, N failed".
#
# usage: fdlimit.sh [--bin PATH] [--files 20000] [--rlimit 1024]
#                   [--modes "prefer never"] [--virtiofsd PATH|none]
#                   [--timeout 1800] [--mem 1G] [--keep]
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
BIN=$REPO/build/src/phoenixfsd FILES=20000 RL=1024 MODES="prefer never"
VFSD=/usr/lib/qemu/virtiofsd TIMEOUT=1800 MEM=1G KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--bin) BIN=$2; shift 2 ;;
	--files) FILES=$2; shift 2 ;;
	--rlimit) RL=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	--virtiofsd) VFSD=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) lib_usage "$0"; exit 0 ;;
	*) echo "fdlimit.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
lib_need_root fdlimit.sh
lib_need_exec fdlimit.sh "$BIN" "(build it first)"

T=$(mktemp -d /var/tmp/phx-fdlimit.XXXXXX)
SHARE=$T/share
DPID="" SPID=""
cleanup() {
	set +e
	[ -z "$SPID" ] || kill "$SPID" 2>/dev/null
	lib_stop_daemon 15
	lib_keep_or_remove fdlimit.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== fdlimit: $FILES files, --rlimit-nofile=$RL, modes: $MODES, virtiofsd: $VFSD"
"$REPO/tests/vm/prepare.sh" >/dev/null
t0=$(date +%s)
python3 - "$SHARE/tree" "$FILES" <<'EOF'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(top, "d%d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%d" % i), "w") as f:
        f.write("%d\n" % i)
EOF
echo "fdlimit: tree of $FILES files made in $(( $(date +%s) - t0 )) s"
cat >"$T/guest.sh" <<'EOF'
#!/bin/sh
t0=$(date +%s)
n=$(find tree 2>/tmp/e1 | wc -l)
echo "PHX-FD find $n"
s=$(find tree -type f 2>>/tmp/e1 | xargs stat -c %s 2>/tmp/e2 | wc -l)
echo "PHX-FD stat $s"
b=$(tar cf - tree 2>/tmp/e3 | wc -c)
echo "PHX-FD tar $b"
echo "PHX-FD seconds $(( $(date +%s) - t0 ))"
cat /tmp/e1 /tmp/e2 /tmp/e3 | sed 's/^/PHX-ERR /' | head -n 20
cat /tmp/e1 /tmp/e2 /tmp/e3 | sed -n 's/.*: \([A-Z][a-z][^:]*\)$/\1/p' |
    sort | uniq -c | sed 's/^ */PHX-ERRKIND /'
echo "PHX-FD errors $(cat /tmp/e1 /tmp/e2 /tmp/e3 | wc -l)"
# the share still serves: a listing of the tree names its directories,
# and every error is the cap's (under never, a subdirectory find could not
# look up before the cap answers ENFILE to ls's lstat; busybox ls used to
# stop quietly at the first READDIRPLUS the cap refused, so this passed
# with the names of the replies before it only)
n=$(ls tree 2>/tmp/e4 | wc -l)
sed 's/^/PHX-LSERR /' /tmp/e4 | head -n 3
echo "PHX-FD ls-names $n"
[ "$n" -gt 0 ] && ! grep -v 'Too many open files in system' /tmp/e4 | grep -q . &&
    echo "PHX-FD ls-after ok"
EOF

# sample MAXFILE PIDS...: the highest fd count and RSS (kB) of any of
# the processes, every 0.5 s, written to MAXFILE as "fds rss".
sample() {
	local out=$1 f=0 r=0 p n k
	shift
	while :; do
		for p in $(for q in "$@"; do lib_descendants "$q"; done); do
			n=$(ls /proc/"$p"/fd 2>/dev/null | wc -l)
			k=$(awk '/^VmRSS/ { print $2 }' /proc/"$p"/status 2>/dev/null)
			[ "$n" -le "$f" ] || f=$n
			[ "${k:-0}" -le "$r" ] || r=${k:-0}
		done
		echo "$f $r" >"$out"
		sleep 0.5
	done
}

declare -A ROWS
run_one() { # label; daemon command (@SOCK@ replaced)
	local label=$1 sock=$T/$1.sock out=$T/$1.out rc=0 a args=()
	shift
	for a in "$@"; do args+=("${a//@SOCK@/$sock}"); done
	rm -f "$T/$label.pid"
	"${args[@]}" >"$T/$label.log" 2>&1 &
	DPID=$!
	if ! lib_wait_socket "$sock" 100 "$DPID"; then
		lib_nok "$label: daemon started"
		cat "$T/$label.log"
		DPID=""
		return
	fi
	echo 0 0 >"$T/$label.max"
	sample "$T/$label.max" "$DPID" &
	SPID=$!
	"$REPO/tests/vm/run.sh" --socket "$sock" --timeout "$TIMEOUT" --mem "$MEM" \
	    --script "$T/guest.sh" >"$out" 2>&1 || rc=$?
	kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=""
	# QEMU closed the connection at the guest's poweroff: the daemon
	# must be exiting on its own, status 0 (not dead before that).
	local alive=no i
	for i in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	wait "$DPID" 2>/dev/null && alive=yes
	DPID=""
	local g; g=$(lib_guest_lines "$out" | tr -d '\r')
	v() { printf '%s\n' "$g" | sed -n "s/^PHX-FD $1 //p" | tail -1; }
	local kinds; kinds=$(printf '%s\n' "$g" | sed -n 's/^PHX-ERRKIND //p' | tr '\n' ';')
	read -r pf pr <"$T/$label.max"
	ROWS[$label]=$(printf '%-8s %-8s %-8s %-10s %-7s %-6s %-9s %-5s %s' \
	    "$(v seconds)" "$(v find)" "$(v stat)" "$(v tar)" "$(v errors)" \
	    "$pf" "$((pr / 1024))M" "$alive" "${kinds:-none}")
	echo "fdlimit: $label: run.sh $rc; ${ROWS[$label]}"
	printf '%s\n' "$g" | grep '^PHX-ERR ' | head -n 5
	printf '%s\n' "$g" | grep -E '^PHX-LSERR |^PHX-FD ls-names' | sed 's/^/fdlimit: /'
	LRC=$rc LERR=$(v errors) LPF=$pf LLS=$(v ls-after) LKINDS=$kinds LALIVE=$alive
	LDONE=$(v errors)
}

want=$((FILES + FILES / 1000 + 1))
for mode in $MODES; do
	run_one "phx-$mode" "$BIN" --socket-path=@SOCK@ --shared-dir="$SHARE" \
	    --cache=auto --rlimit-nofile="$RL" --inode-file-handles="$mode" \
	    --pid-file="$T/phx-$mode.pid"
	lib_check "phx $mode: the guest script ran to its end (run.sh exit $LRC)" \
	    test -n "$LDONE" -a "$LRC" -le 1
	lib_check "phx $mode: the daemon served to the end and exited 0 after the guest" \
	    test "$LALIVE" = yes
	lib_check "phx $mode: the share still serves after (ls)" test "$LLS" = ok
	if grep -qE 'ended \(signal|ended \(status [1-9]|failed recoveries' "$T/phx-$mode.log"; then
		lib_nok "phx $mode: the worker never died"
		grep -E 'ended|recover' "$T/phx-$mode.log" | head -5
	else
		lib_ok "phx $mode: the worker never died"
	fi
	if [ "$mode" = never ]; then
		lib_check "phx never: the only guest errors are ENFILE (${LKINDS:-none})" \
		    bash -c '[ -z "$1" ] || ! printf "%s" "$1" | tr ";" "\n" | grep -v "Too many open files in system" | grep -q .' _ "$LKINDS"
		lib_check "phx never: peak fds $LPF <= $RL" test "$LPF" -le "$RL"
	else
		lib_check "phx $mode: zero guest errors (${LERR:-?})" test "${LERR:-x}" = 0
		lib_check "phx $mode: find saw all $want entries" \
		    test "$(printf '%s' "${ROWS[phx-$mode]}" | awk '{ print $2 }')" = "$want"
		lib_check "phx $mode: peak fds $LPF < 200 (no fd per inode)" test "$LPF" -lt 200
	fi
done
if [ "$VFSD" != none ] && [ -x "$VFSD" ]; then
	run_one virtiofsd "$VFSD" --socket-path=@SOCK@ -o source="$SHARE" \
	    -o cache=auto --rlimit-nofile="$RL"
fi

echo
echo "== $FILES files, --rlimit-nofile=$RL: guest find + stat + tar"
printf '%-14s %-8s %-8s %-8s %-10s %-7s %-6s %-9s %-5s %s\n' daemon seconds find \
    stat "tar bytes" errors "fds" "RSS" "exit0" "error kinds"
for k in $(printf '%s\n' "${!ROWS[@]}" | sort); do
	printf '%-14s %s\n' "$k" "${ROWS[$k]}"
done
lib_finish
