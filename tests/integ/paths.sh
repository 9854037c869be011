#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# paths.sh PHOENIXFSD PHX_FRONT: issue 9 finding 1. After sandbox_enter "/"
# is the guest's share, so no process of ours may open a path by name
# again except the worker on a guest request (always relative to a table
# fd). The share is planted the way a guest would: proc/self/oom_score_adj
# (a regular file "original"), proc/self/cmdline (an argv with
# --seccomp=none and a marker), proc/self/fd/, proc/self/task/*/comm,
# proc/sys/vm/overcommit_memory, dev/null and dev/log, etc/localtime.
# Under each of --sandbox=namespace and chroot, every process runs under
# `strace -f` through a start, a phx-front bench, a SIGKILL of the worker
# and its recovery, and two live upgrades; then:
#  - no traced call after the sandbox was built names an absolute path or
#    a path relative to the cwd ("/" = the share), and no open goes
#    through a planted name (counted and listed);
#  - the planted oom_score_adj is unchanged and the keeper's real one is
#    -1000; the keeper's argv after the second upgrade is its own, not the
#    planted one; the workload saw no error.
# Then (namespace): proc/self/oom_score_adj a FIFO must not hang the
# keeper (phx-front smoke answers); a char device node 1:5 (/dev/zero) in
# the share cannot be opened as a device in the daemon's mount namespace
# (nodev; mountinfo says nodev on every mount of the share); an upgrade to
# a dynamically linked binary is refused before the kernel would run the
# share's lib64/ld-linux-x86-64.so.2 (planted: busybox).
# TAP; ends with "N passed, N failed".
set -u
PHX=${1:?usage: paths.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: paths.sh PHOENIXFSD PHX_FRONT}
. "$(dirname "$0")/../lib.sh"
command -v strace >/dev/null || { echo "paths.sh: strace missing (scripts/deps.sh)" >&2; exit 2; }
lib_tmp_pids phx-paths
cp "$PHX" "$T/phx-a"
cp "$PHX" "$T/phx-b"

plant() { # share
	mkdir -p "$1/proc/self/fd" "$1/proc/self/task/3" "$1/proc/sys/vm" \
	    "$1/dev" "$1/etc" "$1/sys/fs/cgroup"
	printf original >"$1/proc/self/oom_score_adj"
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		mkdir -p "$1/proc/self/task/$i"
		echo planted >"$1/proc/self/task/$i/comm"
	done
	echo 1 >"$1/proc/sys/vm/overcommit_memory"
	echo planted >"$1/etc/localtime"
	mkfifo "$1/dev/null" "$1/dev/log"
}

# Path-taking calls after the sandbox of the keeper was built, by any
# process but the launcher (namespace mode: it stays on the host): a
# string first argument, or AT_FDCWD. The sandbox's own chdir("/") and
# open of "." (REGION_FD_ROOT) are the end of the construction. One call
# is not ours and is listed apart: the start code of static glibc in each
# exec'ed image (resumed keeper, --probe-layout child) does
# readlink("/proc/self/exe") for dlopen's $ORIGIN; readlink opens nothing
# (a FIFO or device there gives EINVAL) and nothing of ours dlopens.
violations() { # strace file, launcher pid or ""
	awk -v L="$2" '
	!on && /(pivot_root|chroot)\(/ { on = 1; next }
	!on { next }
	!built { if ($0 ~ /openat\(AT_FDCWD, "\.",/) built = 1; next }
	{ pid = $1 }
	pid == L { next }
	/^[0-9]+ +readlink\("\/proc\/self\/exe",/ { next }
	/^[0-9]+ +[a-z0-9_]+\("/ || /\(AT_FDCWD, "/ { print }
	' "$1"
}

for mode in namespace chroot; do
	S=$T/$mode
	mkdir -p "$S/share"
	plant "$S/share"
	# The argv a planted cmdline would give a resumed keeper.
	printf '%s\0--socket-path=%s\0--shared-dir=%s\0--sandbox=%s\0--seccomp=none\0--pid-file=%s\0PLANTED-ARGV\0' \
	    "$T/phx-a" "$S/sock" "$S/share" "$mode" "$S/pid" >"$S/share/proc/self/cmdline"
	strace -f -qq -o "$S/strace" \
	    -e trace=%file,execveat,connect,mount_setattr,pivot_root,chroot \
	    "$T/phx-a" --socket-path="$S/sock" --shared-dir="$S/share" \
	    --sandbox=$mode --pid-file="$S/pid" --watchdog-ms=0 >"$S/log" 2>&1 &
	D=$!
	PIDS="$PIDS $D"
	lib_wait_socket "$S/sock" 300 "" "$S/pid"
	K=$(cat "$S/pid")
	timeout 300 "$FRONT" --socket "$S/sock" --wait 30 --label paths bench \
	    --workload mixed --depth 4 --seconds 14 >"$S/bench" 2>&1 &
	B=$!
	sleep 3
	W=$(cat /proc/"$K"/task/*/children 2>/dev/null | awk '{print $1}')
	[ -n "$W" ] && kill -9 "$W"
	lib_tap $? "$mode: killed the worker ($W) under load"
	sleep 3
	"$T/phx-a" --upgrade "$T/phx-b" --pid-file="$S/pid" >"$S/up1" 2>&1
	lib_tap $? "$mode: live upgrade 1 under strace"
	sleep 2
	"$T/phx-b" --upgrade "$T/phx-a" --pid-file="$S/pid" >"$S/up2" 2>&1
	lib_tap $? "$mode: live upgrade 2 (uses the argv the first resumed keeper kept)"
	{ tr '\0' ' ' </proc/"$K"/cmdline; } >"$S/argv" 2>/dev/null
	grep -h -e 'upgrade' -e 'config' -e 'unknown' -e 'usage' "$S/log" | tail -3 | sed 's/^/# log: /'
	echo "# keeper argv after two upgrades: $(cat "$S/argv")"
	grep -q -- --shared-dir "$S/argv" &&
	    ! grep -q -e PLANTED-ARGV -e seccomp=none "$S/argv"
	lib_tap $? "$mode: the keeper runs with its own argv, not the planted proc/self/cmdline"
	adj=$(cat /proc/"$K"/oom_score_adj)
	wait $B
	rc=$?
	sed 's/^/# /' "$S/bench" | tail -3
	grep -q 'errors=0 proto_errors=0' "$S/bench" && [ $rc -eq 0 ]
	lib_tap $? "$mode: the workload saw no error across kill, recovery and upgrades"
	lib_wait_exit "$D" 100 || { kill "$D"; lib_wait_exit "$D" 50; }
	[ "$(cat "$S/share/proc/self/oom_score_adj")" = original ]
	lib_tap $? "$mode: planted proc/self/oom_score_adj unchanged ($(cat "$S/share/proc/self/oom_score_adj"))"
	if (echo -1000 >/proc/self/oom_score_adj) 2>/dev/null; then
		[ "$adj" = -1000 ]
		lib_tap $? "$mode: the keeper's own oom_score_adj is -1000 ($adj)"
	else
		lib_tap 0 "$mode: keeper's oom_score_adj $adj # SKIP this host refuses -1000 even to root"
	fi
	comm=$(cat "$S"/share/proc/self/task/*/comm | sort -u | tr '\n' ' ')
	[ "$comm" = "planted " ]
	lib_tap $? "$mode: planted proc/self/task/N/comm unchanged ($comm)"
	L=""
	[ $mode = namespace ] && L=$(head -1 "$S/strace" | awk '{print $1}')
	violations "$S/strace" "$L" >"$S/viol"
	n=$(wc -l <"$S/viol")
	total=$(wc -l <"$S/strace")
	echo "# $mode: $total traced calls, $(grep -c 'execveat(' "$S/strace") execveat, $n by name after the sandbox, $(grep -c 'readlink("/proc/self/exe"' "$S/strace") readlink(\"/proc/self/exe\") by static glibc start code"
	sed 's/^/#   /' "$S/viol" | head -20
	[ "$n" -eq 0 ] && grep -qE '(pivot_root|chroot)\(' "$S/strace"
	lib_tap $? "$mode: strace -f: no path opened by name after sandbox entry ($n)"
done

# ---- a FIFO at proc/self/oom_score_adj; a device node (nodev) -----------
S=$T/fifo
mkdir -p "$S/share/proc/self"
mkfifo "$S/share/proc/self/oom_score_adj"
mknod "$S/share/zero" c 1 5
cp /bin/busybox "$S/share/busybox"
start_plain() { # name: a namespace daemon on $S/name.sock; sets D and K
	"$T/phx-a" --socket-path="$S/$1.sock" --shared-dir="$S/share" \
	    --pid-file="$S/$1.pid" >"$S/$1.log" 2>&1 &
	D=$!
	PIDS="$PIDS $D"
	lib_wait_socket "$S/$1.sock" 100 "" "$S/$1.pid"
	K=$(cat "$S/$1.pid")
}
start_plain fifo
timeout 60 "$FRONT" --socket "$S/fifo.sock" --wait 30 smoke >"$S/smoke" 2>&1
lib_tap $? "a FIFO at proc/self/oom_score_adj does not hang the keeper (smoke: $(tail -1 "$S/smoke"))"
kill "$D" 2>/dev/null
lib_wait_exit "$D" 50
start_plain nodev
# The keeper's root mount and every mount below it.
awk '{print $5, $6}' /proc/"$K"/mountinfo | sed 's/^/# mount /'
awk '$5 == "/" || index($5, "/") == 1 { if ($6 !~ /(^|,)nodev(,|$)/) bad++ } END { exit bad > 0 }' /proc/"$K"/mountinfo
lib_tap $? "the daemon's mounts of the share are all nodev"
n=$(timeout 20 nsenter -t "$K" -m -r /busybox head -c 4 /zero 2>"$S/nsenter.err" | wc -c)
echo "# read of the share's c 1:5 node inside the daemon's namespace: $n bytes ($(cat "$S/nsenter.err"))"
[ "$n" -eq 0 ] && grep -q 'Permission denied' "$S/nsenter.err"
lib_tap $? "a device node in the share cannot be opened as a device in the daemon's namespace"
# A dynamically linked upgrade binary: its interpreter would be looked
# up in the share. The guest's "ld.so" here is busybox: if the kernel ever
# runs it, it says "applet not found" or crashes (the probe's status).
mkdir -p "$S/share/lib64"
cp /bin/busybox "$S/share/lib64/ld-linux-x86-64.so.2"
"$T/phx-a" --upgrade /bin/true --pid-file="$S/nodev.pid" >"$S/up" 2>&1
sleep 1
grep -h -e 'applet' -e 'upgrade refused' "$S/nodev.log" | sed 's/^/# log: /'
! grep -q 'applet not found' "$S/nodev.log" &&
    grep -q 'not statically linked' "$S/nodev.log"
lib_tap $? "a dynamic upgrade binary is refused before the share's ld.so runs"
kill "$D" 2>/dev/null
lib_wait_exit "$D" 50
lib_tap_end
