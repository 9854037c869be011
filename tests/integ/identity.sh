#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# identity.sh PHOENIXFSD PHX_FRONT: issue 9 findings 4 and 9.
# Groups: the daemon starts with a supplementary group X (setpriv
# --groups, as sudo or a service manager would leave it). The share holds
# sgid/ (root:X 02777) and grp/ (root:X 0770). A request of 1000:1000,
# not in X, creating sgid/f 02755 must not keep S_ISGID (the host kernel
# clears it for a caller outside X), and CREATE/MKDIR in grp/ must fail
# with EACCES; the worker's Groups: line is empty (phx-front secprobe
# groups, host stat).
# Xattrs: without --xattrmap, SETXATTR and REMOVEXATTR of
# security.capability are refused: x never gets file capabilities, y
# keeps the ones the host gave it; user.* still works (phx-front secprobe
# xattr). With --security-label, MKNODs carrying a user.phx and a
# security.capability context store neither (phx-front secprobe secctx).
# TAP; ends with "N passed, N failed".
set -u
PHX=${1:?usage: identity.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: identity.sh PHOENIXFSD PHX_FRONT}
. "$(dirname "$0")/../lib.sh"
command -v setpriv >/dev/null || { echo "identity.sh: setpriv missing" >&2; exit 2; }
lib_tmp_pids phx-identity
X=4242
SOCK=$T/sock SHARE=$T/share
mkdir -p "$SHARE/sgid" "$SHARE/grp"
chown 0:$X "$SHARE/sgid" "$SHARE/grp"
chmod 02777 "$SHARE/sgid"
chmod 0770 "$SHARE/grp"
: >"$SHARE/x"
: >"$SHARE/y"
CAPV=0x0100000280000000000000000000000000000000 # permitted+effective: setuid
setfattr -n security.capability -v $CAPV "$SHARE/y"

start() { # daemon options
	rm -f "$SOCK" "$T/pid"
	setpriv --groups=$X -- "$PHX" --socket-path="$SOCK" \
	    --shared-dir="$SHARE" --pid-file="$T/pid" "$@" >"$T/log" 2>&1 &
	D=$!
	PIDS="$PIDS $D"
	lib_wait_socket "$SOCK" 100 "" "$T/pid"
}
stop() {
	kill "$D" 2>/dev/null
	lib_wait_exit "$D" 50 || kill -9 "$D" 2>/dev/null
}

start
K=$(cat "$T/pid")
sleep 0.5
W=$(cat /proc/"$K"/task/*/children 2>/dev/null | awk '{print $1}')
echo "# launcher $(grep '^Groups' /proc/$D/status)"
echo "# keeper $(grep '^Groups' /proc/$K/status 2>/dev/null)"
echo "# worker $(grep '^Groups' /proc/$W/status 2>/dev/null)"
for p in $K $W; do
	g=$(grep '^Groups' /proc/$p/status 2>/dev/null) && [ -z "$(echo "$g" | cut -f2 | tr -d ' ')" ]
	lib_tap $? "process $p (keeper, worker) holds no supplementary group"
done
timeout 60 "$FRONT" --socket "$SOCK" --wait 30 secprobe groups --uid 1000 \
    --gid 1000 >"$T/front" 2>&1
rc=$?
sed 's/^/#   /' "$T/front"
lib_tap $rc "phx-front secprobe groups"
stop
m=$(stat -c %A "$SHARE/sgid/f" 2>/dev/null)
echo "# host: sgid/f $m $(stat -c %U:%G "$SHARE/sgid/f" 2>/dev/null)"
case $m in -*s*|-*S*) false ;; -*) true ;; *) false ;; esac
lib_tap $? "host: sgid/f has no S_ISGID ($m)"
[ ! -e "$SHARE/grp/f" ] && [ ! -e "$SHARE/grp/d" ]
lib_tap $? "host: nothing was created in grp/"

start --xattr
timeout 60 "$FRONT" --socket "$SOCK" --wait 30 secprobe xattr >"$T/front" 2>&1
rc=$?
sed 's/^/#   /' "$T/front"
lib_tap $rc "phx-front secprobe xattr"
stop
caps=$(getfattr -h --only-values -n security.capability "$SHARE/x" 2>/dev/null | od -An -tx1 | tr -d ' \n')
echo "# host: security.capability of x: '${caps:-none}'"
[ -z "$caps" ]
lib_tap $? "host: x has no file capabilities"
caps=$(getfattr -h -e hex --only-values -n security.capability "$SHARE/y" 2>/dev/null | od -An -c | tr -d ' \n')
[ -n "$caps" ]
lib_tap $? "host: y keeps the file capabilities the host set"
[ "$(getfattr -h --only-values -n user.phx "$SHARE/x" 2>/dev/null)" = ok ]
lib_tap $? "host: user.phx set"

# --security-label: the context must be security.*, never capabilities.
start --security-label
timeout 60 "$FRONT" --socket "$SOCK" --wait 30 secprobe secctx >"$T/front" 2>&1
rc=$?
sed 's/^/#   /' "$T/front"
lib_tap $rc "phx-front secprobe secctx"
stop
v1=$(getfattr -h --only-values -n user.phx "$SHARE/s1" 2>/dev/null)
v2=$(getfattr -h --only-values -n security.capability "$SHARE/s2" 2>/dev/null | od -An -tx1 | tr -d ' \n')
echo "# host: s1 user.phx '${v1:-none}', s2 security.capability '${v2:-none}'"
[ -e "$SHARE/s1" ] && [ -z "$v1" ]
lib_tap $? "host: a user.* security context is not stored"
[ -e "$SHARE/s2" ] && [ -z "$v2" ]
lib_tap $? "host: a security.capability security context is not stored"
lib_tap_end
