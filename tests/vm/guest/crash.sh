#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# In-guest driver for tests/vm/crash_*.sh (busybox sh), run by run.sh with
# cwd = the share (/mnt) and /phx/workload, /phx/params added. /phx/params
# sets SEED, SECONDS_, MAXFILES, MAXDIRS, JOBS and HANDSHAKE (1: wait for the
# host's sync/go and sync/fdcheck files; 0: no waiting, for a daemon that
# may die before the handshake).
#
# Lines the host reads:
#   PHX-CRASH ready        sync/ exists, caches dropped; host measures the
#                          daemon's fds, then creates sync/go
#   PHX-WL ...             the workload's own lines (workload.c)
#   PHX-CRASH done RC      workloads exited (RC: the highest status), caches dropped; host
#                          measures fds again, then creates sync/fdcheck
# Exit status: the workload's.

. /phx/params

# wait_for FILE SECONDS: poll for a file the host creates
wait_for() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		if [ $i -gt $(($2 * 10)) ]; then
			echo "PHX-CRASH no $1 from the host within $2 s"
			return 1
		fi
		sleep 0.1
	done
}

if [ "$HANDSHAKE" = 1 ]; then
	mkdir -p sync || echo "PHX-CRASH mkdir sync failed"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo "PHX-CRASH ready"
	wait_for sync/go 120
fi
# JOBS instances in parallel, on w0, w1, ... (seeds SEED, SEED+1, ...), so
# that more requests are in flight when the daemon dies.
pids=""
i=0
while [ $i -lt "${JOBS:-1}" ]; do
	/phx/workload -s $((SEED + i)) -t "$SECONDS_" -f "$MAXFILES" \
	    -d "$MAXDIRS" -l w$i w$i &
	pids="$pids $!"
	i=$((i + 1))
done
rc=0
for p in $pids; do
	wait $p
	r=$?
	[ $r -le $rc ] || rc=$r
done
echo 3 >/proc/sys/vm/drop_caches
echo "PHX-CRASH done $rc"
if [ "$HANDSHAKE" = 1 ]; then
	wait_for sync/fdcheck 60
fi
exit $rc
