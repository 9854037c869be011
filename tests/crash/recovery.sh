#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# recovery.sh PHOENIXFSD CRASHTEST [NOURING]: issue 11's recovery
# windows, each held open by a delay hook or crash point and killed
# inside it (crashtest
# scenario, scenario.c; builds with -Dcrashpoints=true): an fd committed
# during the fd sweep (1), a request held across 65535 and 65536 pops (2),
# lock waits across a kill (3) and against a leaked lock (4), a never
# executed MKNOD replayed (5; popped, and EXECUTING before its call), a
# CREATE O_EXCL error path (8), an EINTR
# completion in the dead ring (12) and an ENOENT one (a LINKAT through
# /proc/self/fd after the dying worker's files went), a queue stopped
# before its first sleep after recovery pushed (14), lock waits across a
# VM pause (with a kill, or a reset, while paused), a head re-posted
# while in flight (a hostile guest) and a kill after it, and (with NOURING)
# the refusal to start without io_uring (5), and (PHX_UPGRADE_FROM=BIN,
# a layout-5 build) lock waits across a live upgrade from it. TAP; exit
# 1 on failure.
# Knobs: PHX_RECOV_SCENARIOS (all), PHX_RECOV_HELD_COUNTS (65535 65536).
set -u
DAEMON=${1:?usage: recovery.sh PHOENIXFSD CRASHTEST [NOURING]}
CT=${2:?usage: recovery.sh PHOENIXFSD CRASHTEST [NOURING]}
NOURING=${3:-}
. "$(dirname "$0")/lib.sh"

run() { # scenario [count] -- VAR=value ...
	name=$1; shift
	count=0
	[ "$1" != -- ] && { count=$1; shift; }
	shift
	if ! start_daemon "$name$count" "$@"; then
		tap_ok 1 "$name: daemon started"; show_log 20; return
	fi
	run_tap "$name${count#0}" "$CT" scenario --name "$name" \
	    --count "$count" --socket "$SOCK" --share "$SHARE" \
	    --keeper "$KEEPER" ${CT_ARGS:-}
	[ $? -ne 0 ] && show_log 30
	grep -E 'recovered|closed [0-9]+ fds' "$LOG" | tail -n 3 | sed 's/^/#   /'
	stop_daemon
}

for s in ${PHX_RECOV_SCENARIOS:-sweep sweepcreate sweepgap sweepslow sweepprobe poolfirst held bigio slowfs lockwait lockleak waitfree lockcopy lockmany lockcrash lockread lockintr lockintrcrash lockstorm waithead resetmix destroymix destroyrace mknod mknodexec rmxattr excl eintr linkdead forgetparent forgetlink degradedknown degradeddestroy ringless ringlater heldop brokenpush nosubmit submiteagain notify notifyearly pause repost upgrade5 nouring}; do
	case $s in
	sweep) run sweep -- \
	    PHX_DELAY=queue.before_commit:1500000,fdtab.sweep_start:500000 ;;
	# The same for an O_EXCL CREATE whose op completed while it was out
	# (queue_async.c): held between its completion and its commit.
	sweepcreate) run sweepcreate -- \
	    PHX_DELAY=queue.async_rerun:1500000,fdtab.sweep_start:500000 ;;
	# The same held between its first run, which left the op out (its fd
	# installed), and the queue's bracket for its commit: the whole sweep
	# runs in that gap.
	sweepgap) run sweepcreate 1 -- \
	    PHX_DELAY=queue.async_gap:1500000,fdtab.sweep_start:300000 ;;
	# A request always in flight in a slow host call (MKDIRs held 2 s
	# before their mkdirat, a hung mount) across 5 kills: each sweep
	# finishes (its log line), the keeper's fds stay flat, an idle
	# queue's GET_VRING_BASE is not held, fhs opened while the sweep
	# closes (each close held 0.2 s) read their own files.
	sweepslow)
		DAEMON_ARGS="--queues 3 --thread-pool-size 4" CT_ARGS="--queues 3"
		run sweepslow 5 -- \
		    PHX_DELAY=pt.mkdir:2000000,fdtab.sweep_start:300000,fdtab.before_close:200000
		n=$(grep -c 'closed [0-9]* fds leaked' "$LOG")
		tap_ok $([ "$n" -ge 5 ] && echo 0 || echo 1) \
		    "sweepslow: 5 sweeps finished under the slow requests ($n)"
		DAEMON_ARGS= CT_ARGS= ;;
	poolfirst) run poolfirst -- ;;
	held)
		for n in ${PHX_RECOV_HELD_COUNTS:-65535 65536}; do
			run held "$n" -- PHX_DELAY=queue.pool_job:120000000:2
		done ;;
	# Issue 10: large READ/WRITE on pool threads, killed there.
	slowfs) run slowfs -- PHX_DELAY=pt.getattr_fd:200000 ;;
	bigio)
		for n in 0 1 2; do
			# Every commit held: no slow mode (queue_int.h).
			# Large I/O in the pool on any host (2 CPUs: not).
			run bigio "$n" -- PHX_NO_SLOW_MODE=1 PHX_POOL_LARGE_IO=1 \
			    PHX_DELAY=queue.before_commit:300000,queue.pool_job:1500000
		done
		# One CPU (<= queues + 1): large I/O stays on the queue thread.
		run bigio 3 -- PHX_NO_SLOW_MODE=1 \
		    PHX_DELAY=queue.before_commit:300000 taskset -c 0 ;;
	lockwait) run lockwait -- ;;
	lockleak) run lockleak -- PHX_CRASH=redo.before_close ;;
	# A worker killed inside its snapshot's probe, holding a dup in each
	# free fd number (each held 100 ms): the next sweep closes those.
	sweepprobe) run sweepprobe -- PHX_DELAY=fdtab.probe:100000 ;;
	waitfree) run waitfree -- PHX_DELAY=fdtab.sweep_start:1500000 ;;
	# Review rev8: a lock's OFD closed by FLUSH before the sweep starts
	# (held, then not held): the lock goes at once.
	lockcopy) run lockcopy 1 -- PHX_DELAY=fdtab.sweep_start:1500000
		run lockcopy -- ;;
	resetmix) run resetmix -- PHX_DELAY=pt.destroy_chunk:100000 \
	    PHX_CRASH=pt.destroy_chunk:10 ;;
	destroymix) run destroymix -- PHX_DELAY=pt.destroy_chunk:100000 \
	    PHX_CRASH=pt.destroy_chunk:10 ;;
	# 200 and 1000 lock waits on one file (SETLKW and flock), then
	# the convoy; lockcrash: 500, killed while they wait and once
	# between a grant's lock call and its commit.
	lockmany) run lockmany 200 --
		run lockmany 1000 -- ;;
	lockcrash) run lockcrash 500 -- PHX_CRASH=pt.lock_taken:37 ;;
	lockintr) run lockintr -- ;;
	# A grant killed before its commit, then interrupted while its
	# retry in the next worker is held.
	lockintrcrash) run lockintrcrash -- PHX_CRASH=pt.lock_taken \
	    PHX_DELAY=queue.wait_retry:300000 ;;
	lockread) run lockread 1000 -- ;;
	# A storm of unlocks on one file while a wait on another gets its
	# lock; each retry held 300 us, as a lock call on a network file
	# system takes.
	# A head a granted wait freed, re-posted with a SETLKW that parks
	# before the first wait is dropped (held 500 ms), then a VM pause.
	waithead) run waithead -- PHX_DELAY=queue.wait_pushed:500000 ;;
	lockstorm) run lockstorm "${PHX_LOCK_WAITS:-300}" -- \
	    PHX_DELAY=queue.wait_retry:300 ;;
	# By hand, for figures (CPU of idle waits, unlock to grant):
	# PHX_LOCK_WAITS waits (50 fit the blocker threads of old builds).
	lockbench) run lockmany "${PHX_LOCK_WAITS:-50}" -- ;;
	# A hostile guest on the DESTROY's closed session: an INIT racing
	# it, a LINK held across its sweep, a kill before its sweep.
	destroyrace)
		run destroyrace 1 -- PHX_DELAY=fdispatch.destroy_closed:1000000
		run destroyrace 2 -- PHX_DELAY=pt.link_done:1000000
		run destroyrace 3 -- PHX_CRASH=fdispatch.destroy_closed
		run destroyrace 4 -- PHX_DELAY=pt.owner_new:1000000 ;;
	mknod) run mknod -- PHX_CRASH=queue.after_pop:3 ;;
	# The same, killed EXECUTING, just before its mknodat.
	mknodexec) run mknod 1 -- PHX_CRASH=pt.before_mknod:2 ;;
	rmxattr)
		DAEMON_ARGS=--xattr
		run rmxattr -- PHX_CRASH=pt.before_removexattr
		DAEMON_ARGS= ;;
	excl) run excl -- PHX_FAIL=pt.create_fstat PHX_CRASH=pt.create_undo ;;
	eintr) run eintr -- PHX_FAIL=intent.eintr ;;
	linkdead) run linkdead -- PHX_FAIL=intent.enoent:2 ;;
	# A hostile FORGET of the directory of an op left in flight, whose
	# second run is held 1 s: the op's result, not ESTALE; then the
	# same with a kill in that second (recovery's replay).
	forgetparent) run forgetparent -- PHX_DELAY=queue.async_rerun:1000000
		run forgetparent 1 -- PHX_DELAY=queue.async_rerun:1000000 ;;
	forgetlink) run forgetlink -- PHX_DELAY=pt.link_done:1000000
		run forgetlink 1 -- PHX_DELAY=pt.link_done:1000000 ;;
	# Degraded mode with a slot whose op is KNOWN: its result, not EIO.
	degradedknown)
		DAEMON_ARGS=--degrade-after=2
		run degradedknown -- PHX_DELAY=queue.async_rerun:2000000 \
		    PHX_CRASH_RECUR=queue.recover_replay:2
		DAEMON_ARGS= ;;
	# A MKDIR run directly on a thread whose io_uring set-up failed
	# (ENOMEM), killed after it: the replay's ring must not decide it.
	ringless) run ringless -- PHX_FAIL=intent.ring_enomem \
	    PHX_CRASH=queue.after_handler:2 ;;
	# A MKDIR's EEXIST from its ring, killed before the commit, replayed
	# by a recovery whose ring set-up fails: EEXIST, not identity's 0.
	ringlater) run ringlater -- PHX_FAIL=intent.ring_enomem_later \
	    PHX_CRASH=queue.after_handler:3 ;;
	# A MKDIR's op held in the kernel (io-wq) at the kill: recovery
	# waits for it and drains its completion; it never runs twice.
	heldop) run heldop -- ;;
	# An unmount in degraded mode: its DESTROY ends the session, the
	# next mount's INIT is answered once degraded mode ends.
	degradeddestroy)
		DAEMON_ARGS="--degrade-after=2 --watchdog-ms=2000"
		run degradeddestroy -- PHX_DELAY=queue.async_rerun:2000000 \
		    PHX_CRASH_RECUR=queue.recover_replay:2
		DAEMON_ARGS= ;;
	# A ring broken while an op is out: its completion not written.
	brokenpush) run brokenpush -- PHX_DELAY=intent.async_submitted:300000 ;;
	# An op the queue thread meant to leave in flight, its submit
	# refused: it must run once, and not eat a later op's completion.
	nosubmit) run nosubmit -- PHX_FAIL=intent.async_nosubmit ;;
	# A waited-for op whose enter failed: no error for an op run later.
	submiteagain) run submiteagain -- PHX_FAIL=intent.submit_eagain ;;
	nouring)
		# No io_uring (a container's seccomp): refuse to start, say why.
		[ -n "$NOURING" ] || continue
		timeout -k 2 10 "$NOURING" "$DAEMON" --socket-path="$T/nouring.sock" \
		    --shared-dir="$T" --sandbox=none >"$T/nouring.log" 2>&1
		rc=$?
		sed 's/^/#   /' "$T/nouring.log" | tail -n 2
		[ $rc -eq 1 ] && grep -q 'io_uring is not available' \
		    "$T/nouring.log" && [ ! -S "$T/nouring.sock" ]
		tap_ok $? "nouring: without io_uring phoenixfsd refuses to start (exit $rc)" ;;
	# A hostile guest re-posts a waiting SETLKW's head: that queue is
	# broken, nothing runs twice, the other queue serves, a kill after.
	repost)
		DAEMON_ARGS="--queues 2" CT_ARGS="--queues 2"
		run repost --
		DAEMON_ARGS= CT_ARGS= ;;
	# PHX_UPGRADE_FROM=BIN (a layout-5 build, by hand): lock waits
	# waiting while BIN's keeper is upgraded to this binary (its worker
	# killed, the live index made from the slots): both get their locks.
	upgrade5)
		[ -n "${PHX_UPGRADE_FROM:-}" ] || continue
		cp "$DAEMON" "$T/phx-new"
		up_daemon=$DAEMON
		DAEMON=$PHX_UPGRADE_FROM
		if start_daemon upgrade5; then
			export PHX_SCENARIO_KILL_CMD="$T/phx-new --upgrade \
			    $T/phx-new --pid-file=$PIDF >$T/upgrade5.out 2>&1"
			run_tap upgrade5 "$CT" scenario --name lockwait \
			    --socket "$SOCK" --share "$SHARE" --keeper "$KEEPER"
			[ $? -ne 0 ] && show_log 30
			unset PHX_SCENARIO_KILL_CMD
			grep -q "state layout 5 -> 6" "$LOG"
			tap_ok $? "upgrade5: the keeper added the live index"
			stop_daemon
		else
			tap_ok 1 "upgrade5: daemon started"; show_log 20
		fi
		DAEMON=$up_daemon ;;
	# Not a recovery window: the call before the queue runs dry.
	notifyearly) run notifyearly -- PHX_NO_SLOW_MODE=1 \
	    PHX_DELAY=pt.getattr_fd:20000 ;;
	notify) run notify -- PHX_CRASH=queue.after_commit:2 \
	    PHX_DELAY=queue.thread_start:1500000 ;;
	# A VM pause (stop, cont) with lock waits: plain, a kill while
	# paused, a reset instead of the cont, a session-ending INIT after
	# it; a reset of running rings killed after it dropped the waits.
	pause) for n in 0 1 2 4; do run pause "$n" --; done
		run pause 3 -- PHX_CRASH=vu.reset_stopped ;;
	esac
done
tap_end
[ $TAPFAIL -eq 0 ]
