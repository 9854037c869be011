#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# crashpoints.sh PHOENIXFSD CRASHTEST SRCDIR: for every CRASHPOINT("name")
# in SRCDIR, start a daemon (built with -Dcrashpoints=true) with
# PHX_CRASH=name:count[:sig] and run crashtest's checked workload (64
# requests in flight, run-time vhost-user messages) on one connection:
# the point must fire (the worker is respawned) and every check of
# crashtest must hold. Then the poison case: PHX_CRASH_UNIQUE on one
# request, which must answer EIO after 3 crashes while the rest goes on.
# pt.destroy_chunk (inside DESTROY's chunk loop) gets its own workload:
# phx-front remount, killed mid-DESTROY. TAP; exit 1 on failure.
# Knobs: PHX_CRASH_POINTS (names, default: all found), PHX_CRASH_COUNTS
# (request-path variants, default "1 200 150:SEGV"), PHX_CRASH_VU_COUNTS
# (vhost-user points, default "1 5 40 30:SEGV"), PHX_CRASH_SECONDS (1).
set -u
DAEMON=${1:?usage: crashpoints.sh PHOENIXFSD CRASHTEST SRCDIR}
CT=${2:?usage: crashpoints.sh PHOENIXFSD CRASHTEST SRCDIR}
SRC=${3:?usage: crashpoints.sh PHOENIXFSD CRASHTEST SRCDIR}
. "$(dirname "$0")/lib.sh"

SECS=${PHX_CRASH_SECONDS:-1}
POINTS=${PHX_CRASH_POINTS:-$(grep -rhoE 'CRASHPOINT\("[^"]+"\)' "$SRC" |
    sed 's/CRASHPOINT("\(.*\)")/\1/' | sort -u)}
[ -n "$POINTS" ] || { echo "Bail out! no CRASHPOINT() in $SRC"; exit 1; }
echo "# crash points: $(echo $POINTS)"

for p in $POINTS; do
	case $p in
	pt.do_create) continue ;; # integ/guestsec.sh's: a kill in one CREATE
	pt.destroy_chunk) continue ;; # below: crashtest never unmounts
	pt.create_undo) continue ;; # needs PHX_FAIL: recovery.sh excl
	pt.before_mknod|pt.before_removexattr) continue ;; # recovery.sh
	pt.lock_taken) continue ;; # recovery.sh lockcrash (lock waits)
	# only in a recovery (crashtest's workload never kills): recovery.sh
	queue.recover_replay) continue ;;
	# below: the reset path (crashtest never reboots its guest)
	fdispatch.*|vu.get_vring_base|vu.reset_stopped) continue ;;
	esac
	case $p in
	vu.*) counts=${PHX_CRASH_VU_COUNTS:-1 5 40 30:SEGV} ;;
	*) counts=${PHX_CRASH_COUNTS:-1 200 150:SEGV} ;;
	esac
	for c in $counts; do
		spec=$p:$c
		tag=$(echo "$spec" | tr ':.' '__')
		if ! start_daemon "$tag" PHX_CRASH="$spec"; then
			tap_ok 1 "$spec: daemon started"; show_log 20; continue
		fi
		run_tap "$spec" "$CT" work --socket "$SOCK" --share "$SHARE" \
		    --keeper "$KEEPER" --depth 64 --seconds "$SECS" \
		    --ctl-every-ms 25 --expect-respawn --pool 300 \
		    --stall-timeout 10
		rc=$?
		[ $rc -ne 0 ] && show_log 15
		stop_daemon
	done
done

# Kill mid-DESTROY: 300 files with two handles and a lookup each, so the
# DESTROY walks ~600 handles, then ~300 inodes, a few per chunk. The worker
# dies at the count-th entry (the first, in the handle phase after a few
# chunks, in the inode phase); the replay resumes at the step the journal
# slot recorded. The tool checks the keeper's fd count (the worker's
# table) is back at the baseline (slack 8 for the new incarnation's own
# fds) -- no leak -- and that the new mount creates, writes, reads, looks
# up and opens correctly (a double close would have hit a number the new
# worker reuses) and that the old nodeid and fh are stale.
FRONT=${PHX_FRONT:-$(dirname "$CT")/../front/phx-front}
if echo "$POINTS" | grep -qx pt.destroy_chunk; then
	for c in ${PHX_CRASH_DESTROY_COUNTS:-1 100 800:SEGV}; do
		spec=pt.destroy_chunk:$c
		tag=$(echo "$spec" | tr ':.' '__')
		if ! start_daemon "$tag" PHX_CRASH="$spec"; then
			tap_ok 1 "$spec: daemon started"; show_log 20; continue
		fi
		out=$(timeout 120 "$FRONT" --socket "$SOCK" remount \
		    --pid "$KEEPER" --files 300 --slack 8 2>&1)
		rc=$?
		echo "$out" | grep -E '^not ok|baseline' | sed 's/^/# /'
		tap_ok $rc "$spec: DESTROY resumed after the crash, no fd leaked"
		grep -q 'ended (signal' "$LOG"
		tap_ok $? "$spec: the worker died mid-DESTROY and was respawned"
		[ $rc -ne 0 ] && show_log 15
		stop_daemon
	done
fi

# Device reset (DESIGN 7): phx-front reboot plays 3 guest reboots (50
# files with a lookup and two handles each, an open directory; then
# GET_VRING_BASE per queue, RESET_DEVICE, the rings again and an INIT with
# no DESTROY). The worker dies during the stop (the first GET_VRING_BASE,
# between rings: the second), at RESET_DEVICE, in the table sweep (the
# first entry, mid-handles after chunks, among the inodes), as the sweep
# starts, and right after the new INIT (fdispatch.after_reset: the first
# request after it). Every new INIT must be answered as the first, the
# old ids be stale, the new session work, the fd count come back to the
# first reset's (slack 8 for a respawned worker's own fds) and the table
# sizes (--status --json: inodes, inodes with an fd, handles) equal them.
if [ -x "$FRONT" ]; then
	for spec in ${PHX_CRASH_RESET_SPECS:-vu.get_vring_base:1 \
	    vu.get_vring_base:2 vu.reset_stopped:1 pt.destroy_chunk:1 \
	    pt.destroy_chunk:70 pt.destroy_chunk:140:SEGV \
	    fdispatch.session_end:2 fdispatch.after_reset:1 \
	    fdispatch.after_reset:3}; do
		case " $POINTS " in *" ${spec%%:*} "*) ;; *) continue ;; esac
		tag=reset_$(echo "$spec" | tr ':.' '__')
		if ! start_daemon "$tag" PHX_CRASH="$spec"; then
			tap_ok 1 "$spec: daemon started"; show_log 20; continue
		fi
		out=$(timeout 180 "$FRONT" --socket "$SOCK" reboot \
		    --pid "$KEEPER" --boots 3 --files 50 --slack 8 \
		    --status-cmd "'$DAEMON' --status --json --pid-file='$PIDF'" \
		    2>&1)
		rc=$?
		echo "$out" | grep -E '^not ok|^# boots' | sed 's/^/# /'
		tap_ok $rc "$spec: 3 reboots, each INIT ends the old session"
		grep -q 'ended (signal' "$LOG"
		tap_ok $? "$spec: the worker died in the reset path, respawned"
		[ $rc -ne 0 ] && show_log 15
		stop_daemon
	done
fi

# Poison: one request crashes every worker that handles it.
U=1000000002
if start_daemon poison PHX_CRASH_UNIQUE=$U; then
	run_tap "poison unique $U" "$CT" work --socket "$SOCK" \
	    --share "$SHARE" --keeper "$KEEPER" --depth 64 --seconds 2 \
	    --poison-unique $U --expect-respawn --pool 300 --stall-timeout 8
	rc=$?
	n=$(grep -c 'ended (signal 11)' "$LOG")
	tap_ok $([ "$n" -eq 3 ] && echo 0 || echo 1) \
	    "poison unique $U: 3 crashes before quarantine (log shows $n SIGSEGV deaths)"
	[ $rc -ne 0 ] && show_log 20
	stop_daemon
else
	tap_ok 1 "poison: daemon started"; show_log 20
fi
# Degraded mode (DESIGN 6): when recoveries keep failing (here the INIT
# request, unique 2, crashes every worker and quarantine is set too high to
# catch it), after --degrade-after failures in a row every request answers
# EIO while vhost-user keeps being served: the guest gets errors, not a hang.
if [ -x "$FRONT" ] && DAEMON_ARGS="--quarantine-crashes=100 --degrade-after=3" \
    start_daemon degraded PHX_CRASH_UNIQUE=2; then
	out=$(timeout 60 "$FRONT" --socket "$SOCK" bench --workload getattr \
	    --depth 1 --seconds 1 2>&1)
	echo "$out" | sed 's/^/# /' | head -5
	grep -q "degraded mode" "$LOG"
	tap_ok $? "degraded: entered after 3 failed recoveries in a row"
	echo "$out" | grep -qiE "EIO|Input/output|error -5|errno 5"
	tap_ok $? "degraded: the guest gets EIO, not a hang"
	n=$(grep -c 'ended (signal 11)' "$LOG")
	tap_ok $([ "$n" -eq 3 ] && echo 0 || echo 1) \
	    "degraded: no more crashes once degraded ($n SIGSEGV deaths)"
	stop_daemon
else
	tap_ok 1 "degraded: daemon and phx-front started"
fi
tap_end
[ $TAPFAIL -eq 0 ]
