#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# In-guest half of tests/vm/pause.sh, run by /init in /mnt. Two programs
# wait for the host process's locks on pz/file (fcntl F_SETLKW, flock
# LOCK_EX); once both wait, pz/waiting tells the host, which pauses the VM
# (QMP stop), drops its locks, and continues it (QMP cont). Both calls
# must return 0, once, with no EINTR or errno 512.
cd /mnt || exit 98
[ -e pz/held ] || { echo "PHX-PZ error: the host holds no lock"; exit 1; }
/phx/lockwait pz/file posix >pz/out.posix 2>&1 &
P=$!
/phx/lockwait pz/file flock >pz/out.flock 2>&1 &
F=$!
w=0
until grep -q waiting pz/out.posix 2>/dev/null &&
    grep -q waiting pz/out.flock 2>/dev/null; do
	sleep 0.1
	w=$((w + 1))
	[ "$w" -lt 300 ] || { echo "PHX-PZ error: helpers did not start"; exit 1; }
done
sleep 1 # both are inside their lock calls now
: >pz/waiting
echo "PHX-PZ waiting"
err=0
wait "$P" || err=$((err + 1))
wait "$F" || err=$((err + 1))
cat pz/out.posix pz/out.flock
echo "PHX-PZ end: errors $err"
exit "$err"
