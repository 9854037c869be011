#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# sandbox.sh PHOENIXFSD PHX_FRONT: issue 3 items 5 and 6 end to end.
# phx-front smoke under each --sandbox and each --seccomp mode; the running
# worker (the keeper's only child) has the worker capability set, no
# ambient or inheritable caps, NoNewPrivs 1 and Seccomp 2 with two filters
# (the keeper's and its own), the keeper has the launcher's caps, no
# no_new_privs and one filter of its own (kfilter.c); --modcaps changes the worker's set;
# --readonly refuses changes with EROFS; --translate-uid reaches the
# credentials of a creation; invalid rules stop the start; no thread name
# is written through a planted proc/self/task/*/comm in the share; a
# process with the worker's capabilities in the daemon's namespace cannot
# open the share's file system root by a forged file handle (SHOCKER, the
# optional third argument, tests/integ/shocker.c). TAP.
set -u
PHX=${1:?usage: sandbox.sh PHOENIXFSD PHX_FRONT [SHOCKER]}
FRONT=${2:?usage: sandbox.sh PHOENIXFSD PHX_FRONT [SHOCKER]}
SHOCKER=${3:-}
. "$(dirname "$0")/../lib.sh"
lib_tmp_pids phx-sandbox
SOCK=$T/vhost.sock
SHARE=$T/share
mkdir -p "$SHARE"

start() { # daemon options
	rm -f "$SOCK"
	"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" "$@" \
	    >"$T/daemon.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	lib_wait_socket "$SOCK" 50
}

finish() {
	lib_wait_exit "$DPID" 50 && return 0
	kill -9 "$DPID"
	return 1
}

smoke() { # desc; leaves the output in $T/smoke.out
	timeout 120 "$FRONT" --socket "$SOCK" smoke >"$T/smoke.out" 2>&1
	rc=$?
	grep '^not ok' "$T/smoke.out" | sed 's/^/# /'
	lib_tap $rc "$1"
}

smoke_fails() { # a smoke expected to fail: only its lines are checked
	timeout 120 "$FRONT" --socket "$SOCK" smoke >"$T/smoke.out" 2>&1
}

field() { # pid name
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null
}

# keeper = the launcher's child (namespace) or the launcher itself
# (it forks the keeper in every mode); worker = the keeper's only child.
procs() {
	KEEPER= WORKER=
	for i in $(seq 50); do
		KEEPER=$(pgrep -P "$DPID" | head -1)
		[ -n "$KEEPER" ] && WORKER=$(pgrep -P "$KEEPER" | head -1)
		[ -n "$WORKER" ] && return 0
		sleep 0.1
	done
	return 1
}

hex() { printf '%d' "0x$1"; }

# The worker set: chown dac_override fowner fsetid setgid setuid ipc_lock
# mknod setfcap (bits 0, 1, 3, 4, 6, 7, 14, 27, 31), within what we have;
# plus dac_read_search (bit 2) only with --inode-file-handles=prefer|mandatory.
HAVE=$(hex "$(field $$ CapPrm)")
WANT=$(( 0x880040db & HAVE ))

# A compromised worker's reach: the "shocker" escape with its caps.
if [ -n "$SHOCKER" ] && command -v nsenter >/dev/null; then
	cp "$SHOCKER" "$SHARE/.phx-shocker"
	start
	procs
	mask=$(field "$WORKER" CapEff)
	timeout 20 nsenter -t "$WORKER" -m -r /.phx-shocker "$mask" \
	    >"$T/shocker.out" 2>&1
	rc=$?
	echo "# worker CapEff $mask: $(head -c 300 "$T/shocker.out")"
	if [ $rc -eq 77 ]; then
		lib_tap 0 "# SKIP $(cat "$T/shocker.out")"
	else
		[ $rc -eq 0 ]
		lib_tap $? "the worker's capabilities open no file system root by a forged handle (default --inode-file-handles=never)"
	fi
	# The daemon's own /proc (REGION_FD_PROC, fd 904) as the worker
	# holds it: no host-wide sysctl, no sysrq-trigger (subset=pid).
	timeout 20 "$SHOCKER" procsys /proc/"$WORKER"/fd/904 "$mask" \
	    >"$T/procsys.out" 2>&1
	rc=$?
	sed 's/^/# /' "$T/procsys.out"
	if [ $rc -eq 77 ]; then
		lib_tap 0 "# SKIP $(cat "$T/procsys.out")"
	else
		[ $rc -eq 0 ]
		lib_tap $? "the worker's /proc root opens no host sysctl or sysrq-trigger for writing"
	fi
	smoke "smoke after the handle probe"
	finish
	rm -f "$SHARE/.phx-shocker"
	# With file handles the capability is needed, and documented.
	start --inode-file-handles=prefer
	procs
	eff=$(hex "$(field "$WORKER" CapEff)")
	[ "$eff" -eq $(( (WANT | 4) & HAVE )) ]
	lib_tap $? "--inode-file-handles=prefer: worker CapEff $(field "$WORKER" CapEff) adds dac_read_search"
	smoke "smoke with --inode-file-handles=prefer"
	finish
else
	lib_tap 0 "# SKIP no shocker helper or no nsenter"
fi

for sb in namespace chroot none; do
	start --sandbox=$sb
	smoke "smoke under --sandbox=$sb"
	finish
	lib_tap $? "daemon exits after the frontend ($sb)"
done

for sc in kill log trap none; do
	start --seccomp=$sc
	procs
	st=$(field "$WORKER" Seccomp)
	kst=$(field "$KEEPER" Seccomp)
	want=2; [ $sc = none ] && want=0
	[ "$st" = "$want" ] && [ "$kst" = "$want" ]
	lib_tap $? "--seccomp=$sc: worker Seccomp $st, keeper Seccomp $kst (want $want)"
	smoke "smoke under --seccomp=$sc"
	finish
	lib_tap $? "daemon exits after the frontend (seccomp $sc)"
	! grep -q "forbidden syscall" "$T/daemon.log"
	lib_tap $? "no forbidden syscall trapped ($sc)"
done

# Review rev8b: chroot/none in a PID namespace whose /proc is an outer
# one (unshare --pid without --mount-proc): refused at start, saying why
# (the keeper's wait for a dead worker's memory and the fd snapshot read
# /proc by our pids).
for m in chroot none; do
	rm -f "$SOCK"
	timeout 20 unshare --pid --fork "$PHX" --socket-path="$SOCK" \
	    --shared-dir="$SHARE" --sandbox=$m >"$T/daemon.log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
	    grep -q "/proc belongs to another PID namespace" "$T/daemon.log"
	lib_tap $? "--sandbox=$m under a PID namespace with the host's /proc: refused (rc $rc)"
done

# A container without CAP_SYS_ADMIN (--sandbox=chroot): the keeper cannot
# install a filter without no_new_privs; it warns and serves, the worker
# keeps its own.
if command -v capsh >/dev/null; then
	rm -f "$SOCK"
	capsh --drop=cap_sys_admin -- -c "exec \"$PHX\" --socket-path=\"$SOCK\" \
	    --shared-dir=\"$SHARE\" --sandbox=chroot" >"$T/daemon.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	lib_wait_socket "$SOCK" 50
	for i in $(seq 50); do
		WORKER=$(pgrep -P "$DPID" | head -1)
		[ -n "$WORKER" ] && [ "$(field "$WORKER" Seccomp)" = 2 ] && break
		sleep 0.1
	done
	ws=$(field "$WORKER" Seccomp)
	smoke "smoke without CAP_SYS_ADMIN (chroot)"
	grep -q "no CAP_SYS_ADMIN: the keeper runs without" "$T/daemon.log" &&
	    [ "$ws" = 2 ]
	lib_tap $? "without CAP_SYS_ADMIN: the keeper warns, the worker $WORKER has its filter (Seccomp $ws)"
	finish
else
	lib_tap 0 "# SKIP no capsh"
fi

start
procs
lib_tap $? "found keeper $KEEPER and worker $WORKER"
eff=$(hex "$(field "$WORKER" CapEff)")
prm=$(hex "$(field "$WORKER" CapPrm)")
bnd=$(hex "$(field "$WORKER" CapBnd)")
[ "$eff" -eq "$WANT" ] && [ "$prm" -eq "$WANT" ] && [ "$bnd" -eq "$WANT" ]
lib_tap $? "worker CapEff/CapPrm/CapBnd $(field "$WORKER" CapEff) = worker set $(printf %x $WANT)"
[ "$(hex "$(field "$WORKER" CapInh)")" -eq 0 ] && [ "$(hex "$(field "$WORKER" CapAmb)")" -eq 0 ]
lib_tap $? "worker CapInh and CapAmb empty"
[ "$(field "$WORKER" NoNewPrivs)" = 1 ] && [ "$(field "$WORKER" Seccomp)" = 2 ]
lib_tap $? "worker NoNewPrivs 1, Seccomp 2 (default kill)"
[ "$(field "$KEEPER" CapEff)" = "$(field $$ CapEff)" ] &&
    [ "$(field "$KEEPER" CapBnd)" = "$(field $$ CapBnd)" ]
lib_tap $? "keeper keeps every capability ($(field "$KEEPER" CapEff))"
[ "$(field "$KEEPER" Seccomp)" = 2 ] &&
    [ "$(field "$KEEPER" Seccomp_filters)" = 1 ] &&
    [ "$(field "$WORKER" Seccomp_filters)" = 2 ] &&
    [ "$(field "$KEEPER" NoNewPrivs)" = 0 ]
lib_tap $? "keeper: its own filter (Seccomp_filters $(field "$KEEPER" Seccomp_filters)), no no_new_privs; worker: keeper's + its own ($(field "$WORKER" Seccomp_filters))"
# A respawned worker restricts itself again.
kill -9 "$WORKER"
sleep 0.5
OLD=$WORKER
procs
[ "$WORKER" != "$OLD" ] && [ "$(field "$WORKER" Seccomp)" = 2 ] &&
    [ "$(hex "$(field "$WORKER" CapEff)")" -eq "$WANT" ]
lib_tap $? "respawned worker $WORKER: same caps, Seccomp 2"
smoke "smoke after the respawn"
finish

# --modcaps
start --modcaps=+sys_admin:-mknod
procs
eff=$(hex "$(field "$WORKER" CapEff)")
[ "$eff" -eq $(( (WANT | (1 << 21)) & ~(1 << 27) & HAVE )) ]
lib_tap $? "--modcaps=+sys_admin:-mknod: worker CapEff $(field "$WORKER" CapEff)"
smoke "smoke with --modcaps=+sys_admin:-mknod (MKNOD fifo needs no cap)"
finish
"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" --modcaps=+nosuch \
    >"$T/bad.log" 2>&1
[ $? -ne 0 ] && grep -q "invalid capability '+nosuch'" "$T/bad.log"
lib_tap $? "--modcaps=+nosuch refused: $(head -1 "$T/bad.log")"

# --readonly
start --readonly
smoke_fails
grep -q "^not ok .* - MKDIR (Read-only file system)" "$T/smoke.out"
lib_tap $? "--readonly: MKDIR -> EROFS"
grep -q "^ok .* - GETATTR root" "$T/smoke.out" &&
    grep -q "^ok .* - STATFS" "$T/smoke.out"
lib_tap $? "--readonly: GETATTR and STATFS still served"
finish
[ -z "$(ls -A "$SHARE")" ]
lib_tap $? "--readonly: the share is unchanged"

# --translate-uid: a creation runs with the mapped host ids
chmod 0755 "$SHARE"
start --translate-uid=squash-guest:0:4242:4294967295
smoke_fails
grep -q "^not ok .* - MKDIR (Permission denied)" "$T/smoke.out"
lib_tap $? "squash-guest: MKDIR in a root-owned 0755 dir as 4242 -> EACCES"
finish
chmod 0777 "$SHARE"
start --translate-uid=squash-guest:0:4242:4294967295 \
    --translate-gid=squash-guest:0:4343:4294967295
smoke "smoke, squashed to 4242:4343 in a 0777 share"
finish
start --translate-uid=forbid-guest:0:1
smoke_fails
grep -q "^not ok .* - MKDIR (Operation not permitted)" "$T/smoke.out"
lib_tap $? "forbid-guest: MKDIR by uid 0 -> EPERM"
finish
# Thread names: glibc names another thread through /proc/self/task/TID/comm,
# a path in the share after pivot_root; the guest plants files there (a
# device node would take the bytes). Every thread must name itself.
chmod 0755 "$SHARE"
for i in $(seq 1 64); do
	mkdir -p "$SHARE/proc/self/task/$i"
	echo original >"$SHARE/proc/self/task/$i/comm"
done
start --thread-pool-size=2
smoke "smoke with planted proc/self/task/*/comm in the share"
finish
n=$(cat "$SHARE"/proc/self/task/*/comm | grep -vc '^original$')
[ "$n" = 0 ]
lib_tap $? "no thread name written into the share ($n of 64 planted comm files changed)"
rm -rf "$SHARE/proc"
"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" \
    --translate-uid=map:0:0:10 --translate-uid=guest:5:100:1 \
    >"$T/bad.log" 2>&1
[ $? -ne 0 ] && grep -q "intersects" "$T/bad.log"
lib_tap $? "overlapping --translate-uid refused: $(head -1 "$T/bad.log")"

lib_tap_end "# "
