#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Conformance comparison: runs tests/vm/guest/conform.c (static, as root)
#   (a) directly on a host directory: the reference (same kernel ABI; users
#       1000/1001 are numeric ids, no passwd entries needed),
#   (b) in a guest through QEMU's C virtiofsd
#       (-o cache=auto -o xattr -o posix_acl -o posix_lock -o flock;
#        killpriv_v2 is on by default),
#   (c) in a guest through phoenixfsd (--cache=auto --xattr --posix-acl),
# prints the three results side by side for every check, then counts of
# checks where phoenixfsd == host and virtiofsd == host, the checks where
# phoenixfsd differs from the host while virtiofsd matches (phoenixfsd bugs:
# the run FAILS if there are any), and the checks where both differ, with a
# reason when known. All shares live in one directory on the same host file
# system; the EXDEV checks use /dev/shm on the host and the guest's /tmp.
#
# usage: conform.sh [--bin PATH] [--virtiofsd PATH] [--timeout SEC] [--keep]
#                   [--dir DIR] [--phx-arg ARG]...
# --dir: where the shares (and the host reference) live, to test a given host
# file system (tests/vm/fsmatrix.sh); --phx-arg: one more phoenixfsd option.
# Exit 0 iff phoenixfsd matches the host on every check where virtiofsd does.
# Ends with "N passed, N failed" (one line per check: passed when phoenixfsd
# matches the host or virtiofsd does not either).
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
BIN="" VFSD=/usr/lib/qemu/virtiofsd TIMEOUT=900 KEEP=0 DIR=${TMPDIR:-/tmp}
PARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--bin) BIN=$2; shift 2 ;;
	--virtiofsd) VFSD=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--dir) DIR=$2; shift 2 ;;
	--phx-arg) PARGS+=("$2"); shift 2 ;;
	-h|--help) lib_usage "$0"; exit 0 ;;
	*) echo "conform.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$BIN" ]; then
	BIN=$REPO/build/src/phoenixfsd
	[ -x "$BIN" ] || BIN=/tmp/bv/src/phoenixfsd
fi
lib_need_root conform.sh
lib_need_exec conform.sh "$BIN" "(build it first)"
lib_need_exec conform.sh "$VFSD"

T=$(mktemp -d "$DIR/phx-conform.XXXXXX")
SHMO=$(mktemp -d /dev/shm/phx-conform.XXXXXX)
DPID=""
cleanup() {
	set +e
	lib_stop_daemon 15
	rm -rf "$SHMO"
	lib_keep_or_remove conform.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== conform: phoenixfsd $BIN, virtiofsd $VFSD"
"$REPO/tests/vm/prepare.sh" >/dev/null
gcc -static -O2 -Wall -o "$T/conform" "$REPO/tests/vm/guest/conform.c"
cat >"$T/guest.sh" <<'EOF'
#!/bin/sh
/phx/conform /mnt/conform.d /tmp/conform-other
echo "PHX-CONFORM-DONE $?"
EOF

# ---- (a) the host reference ------------------------------------------------
mkdir -p "$T/host"
timeout -k 5 300 "$T/conform" "$T/host/conform.d" "$SHMO/other" \
    >"$T/host.out" 2>&1 || echo "conform.sh: host run exit $?"

# ---- (b), (c) guests -------------------------------------------------------
guest_run() { # label; daemon command line follows
	local label=$1 share=$T/$1-share sock=$T/$1.sock rc=0
	shift
	mkdir -p "$share"
	local args=() a
	for a in "$@"; do args+=("${a//@SHARE@/$share}"); done
	"${args[@]}" --socket-path="$sock" >"$T/$label.daemon.log" 2>&1 &
	DPID=$!
	if ! lib_wait_socket "$sock" 100 "$DPID"; then
		echo "conform.sh: $label did not create its socket; log:"
		cat "$T/$label.daemon.log"
		DPID=""
		: >"$T/$label.out"
		return 0
	fi
	"$REPO/tests/vm/run.sh" --socket "$sock" --timeout "$TIMEOUT" \
	    --script "$T/guest.sh" --add "$T/conform:/phx/conform" \
	    >"$T/$label.out" 2>&1 || rc=$?
	echo "== $label guest: run.sh exit $rc, $(grep -c '^CHECK ' "$T/$label.out" || true) checks"
	grep -h '^PHX: boot-to-mount' "$T/$label.out" || true
	lib_stop_daemon 15
}
guest_run virtiofsd "$VFSD" -o source=@SHARE@ -o cache=auto -o xattr -o posix_acl \
    -o posix_lock -o flock
guest_run phoenixfsd "$BIN" --shared-dir=@SHARE@ --cache=auto --xattr --posix-acl \
    ${PARGS[@]+"${PARGS[@]}"}

# ---- comparison ------------------------------------------------------------
# Reasons for checks where both daemons differ from the host, when known.
declare -A REASON=(
[setgid.member_create_sgid_file_kept]="FUSE carries the caller's uid/gid but not its supplementary groups; the daemon creates as fsuid 1000/fsgid 1000 without group 2000, so the host kernel strips S_ISGID from a file in a gid-2000 setgid dir"
[suid.write_nonmember_sgid_no_gx_mode]="guest kernel 6.1 keeps S_ISGID without S_IXGRP on a non-member write; host 6.18 drops it (setattr_should_drop_sgid, Linux >= 6.2)"
[suid.otrunc_nonowner_cleared]="open(O_TRUNC) of an existing file by a non-owner: the guest kernel sends FUSE_OPEN with O_TRUNC and no kill-suid request, the daemon truncates with its own credentials, so suid/sgid survive"
[xattr.trusted_root]="trusted.* needs CAP_SYS_ADMIN in the daemon; virtiofsd drops it (EPERM)"
[xattr.trusted_root_get]="follows from xattr.trusted_root"
[xattr.nonroot_trusted_hidden]="virtiofsd: no trusted.* xattr to hide (xattr.trusted_root failed)"
[xattr.nonroot_list_hides_trusted]="virtiofsd: no trusted.* xattr to hide (xattr.trusted_root failed); FUSE LISTXATTR carries no caller capabilities, so a daemon holding CAP_SYS_ADMIN must filter trusted.* itself"
[lock.posix_getlk_pid]="virtiofsd -o posix_lock keeps OFD locks on the host; F_GETLK cannot name the guest pid (0)"
[lock.posix_setlkw_waits]="virtiofsd does not implement blocking SETLKW (EOPNOTSUPP)"
[lock.flock_child_locked]="virtiofsd -o flock: flock(LOCK_EX) in the guest failed"
[lock.flock_ex_conflict]="follows from lock.flock_child_locked (no lock held)"
[lock.flock_sh_conflict]="follows from lock.flock_child_locked (no lock held)"
[lock.flock_blocking_waits]="virtiofsd does not implement blocking flock (EOPNOTSUPP)"
)
declare -A H V P
ORDER=()
while read -r _ id res; do
	H[$id]=$res; ORDER+=("$id")
done < <(awk '/^---- full console log/ { exit } /^CHECK / { print }' "$T/host.out")
while read -r _ id res; do
	[ -n "${H[$id]+x}" ] || ORDER+=("$id")
	V[$id]=$res
done < <(awk '/^---- full console log/ { exit } /^CHECK / { print }' "$T/virtiofsd.out" | tr -d '\r')
while read -r _ id res; do
	[ -n "${H[$id]+x}" ] || [ -n "${V[$id]+x}" ] || ORDER+=("$id")
	P[$id]=$res
done < <(awk '/^---- full console log/ { exit } /^CHECK / { print }' "$T/phoenixfsd.out" | tr -d '\r')

printf '%-48s %-24s %-24s %s\n' CHECK host virtiofsd phoenixfsd
ph_eq=0 v_eq=0 total=0 pass=0 fail=0
BUGS=() BOTH=() VONLY=()
for id in "${ORDER[@]}"; do
	h=${H[$id]-MISSING} v=${V[$id]-MISSING} p=${P[$id]-MISSING}
	total=$((total + 1))
	mark=""
	[ "$p" = "$h" ] && ph_eq=$((ph_eq + 1))
	[ "$v" = "$h" ] && v_eq=$((v_eq + 1))
	if [ "$p" != "$h" ] && [ "$v" = "$h" ]; then
		BUGS+=("$id"); mark=" <== phoenixfsd"; fail=$((fail + 1))
	else
		pass=$((pass + 1))
		if [ "$p" != "$h" ]; then BOTH+=("$id"); mark=" <- both"
		elif [ "$v" != "$h" ]; then VONLY+=("$id"); mark=" <- virtiofsd"
		fi
	fi
	printf '%-48s %-24s %-24s %s%s\n' "$id" "$h" "$v" "$p" "$mark"
done
echo
echo "== summary: $total checks"
echo "phoenixfsd == host: $ph_eq / $total"
echo "virtiofsd  == host: $v_eq / $total"
echo "phoenixfsd differs from host where virtiofsd matches (phoenixfsd bugs): ${#BUGS[@]}"
for id in ${BUGS[@]+"${BUGS[@]}"}; do
	echo "  BUG $id: host ${H[$id]-MISSING}, virtiofsd ${V[$id]-MISSING}, phoenixfsd ${P[$id]-MISSING}"
done
echo "both daemons differ from host: ${#BOTH[@]}"
for id in ${BOTH[@]+"${BOTH[@]}"}; do
	echo "  BOTH $id: host ${H[$id]-MISSING}, virtiofsd ${V[$id]-MISSING}, phoenixfsd ${P[$id]-MISSING}; reason: ${REASON[$id]-unknown}"
done
echo "only virtiofsd differs from host (phoenixfsd matches): ${#VONLY[@]}"
for id in ${VONLY[@]+"${VONLY[@]}"}; do
	echo "  VIRTIOFSD $id: host ${H[$id]-MISSING}, virtiofsd ${V[$id]-MISSING}; reason: ${REASON[$id]-unknown}"
done
if [ "$total" -lt 100 ] || ! grep -q '^PHX-CONFORM-DONE 0' "$T/phoenixfsd.out"; then
	echo "conform.sh: the phoenixfsd guest run did not complete"
	fail=$((fail + 1))
	tail -n 60 "$T/phoenixfsd.out"
fi
if [ "$fail" -gt 0 ]; then
	echo "== phoenixfsd daemon log (last 30 lines)"
	tail -n 30 "$T/phoenixfsd.daemon.log"
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
