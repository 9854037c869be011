#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real host file systems under the share (issue 12 part 2). For each file
# system, made on a loop-mounted image (ext4, xfs, btrfs), an overlayfs
# (lower + upper on the root file system; the share is in the merged view;
# "overlay" without index, "overlay-nfs" with index=on,nfs_export=on, whose
# file handles decode) or a tmpfs, and each --inode-file-handles mode
# (mandatory only where the file system gives file handles that decode at
# its root, probed here), runs
#   - tests/vm/conform.sh --dir MOUNT --phx-arg --inode-file-handles=MODE
#     (the syscall checks on the host, through virtiofsd, through phoenixfsd)
#   - tests/vm/crash_kill.sh --dir MOUNT (the worker SIGKILLed every 200 ms
#     under a guest workload; zero errors and mismatches)
#   - on btrfs, a guest check of subvolumes as submounts (two subvolumes
#     whose root directories share inode number 256, files of equal inode
#     numbers in each: distinct in the guest, contents right, a guest write
#     lands in the right one)
#   - on overlayfs, a guest check of copy-up: files of the lower layer
#     appended, chmodded, renamed and removed in the merged view, the
#     worker killed in between (the O_PATH fd or handle a lookup recorded
#     names the lower file until copy-up)
# and prints a table: file system x mode -> conform checks passed, crash
# checks passed, kills, workload errors. Ends with "N passed, N failed"
# (one per cell and check).
#
# usage: fsmatrix.sh [--bin PATH] [--fs "ext4 xfs btrfs overlay overlay-nfs tmpfs"]
#                    [--modes "never prefer mandatory"] [--seconds 30]
#                    [--no-conform] [--short] [--keep]
# --short: CI's variant: xfs, btrfs and overlay with prefer, crash runs of
# 10 s, no conform (a few minutes); the full matrix is scripts/matrix.sh.
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
BIN=$REPO/build/src/phoenixfsd FSL="ext4 xfs btrfs overlay overlay-nfs tmpfs"
MODES="never prefer mandatory" SECS=30 CONFORM=1 KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--bin) BIN=$2; shift 2 ;;
	--fs) FSL=$2; shift 2 ;;
	--modes) MODES=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--no-conform) CONFORM=0; shift ;;
	--short) FSL="xfs btrfs overlay" MODES=prefer SECS=10 CONFORM=0; shift ;;
	--keep) KEEP=1; shift ;;
	-h|--help) lib_usage "$0"; exit 0 ;;
	*) echo "fsmatrix.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
lib_need_root fsmatrix.sh
lib_need_exec fsmatrix.sh "$BIN" "(build it first)"
for t in mkfs.xfs mkfs.btrfs losetup; do
	command -v "$t" >/dev/null || { echo "fsmatrix.sh: $t missing (scripts/deps.sh)"; echo "0 passed, 1 failed"; exit 1; }
done

# Images on the root file system (never /tmp if that is a tmpfs).
W=$(mktemp -d /var/tmp/phx-fsmatrix.XXXXXX)
MNTS=()
cleanup() {
	set +e
	local i
	for ((i = ${#MNTS[@]} - 1; i >= 0; i--)); do
		umount "${MNTS[$i]}" 2>/dev/null || umount -l "${MNTS[$i]}"
	done
	lib_keep_or_remove fsmatrix.sh "$KEEP" "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
gcc -O2 -Wall -o "$W/fhprobe" "$REPO/tests/vm/fhprobe.c" ||
    { echo "0 passed, 1 failed"; exit 1; }

# mount_fs FS: mounts it under $W/FS/m (never in a subshell: MNTS lists
# what cleanup unmounts).
mount_fs() {
	local fs=$1 d=$W/$1 opts
	mkdir -p "$d/m"
	case $fs in
	ext4|xfs|btrfs)
		truncate -s 2G "$d/img"
		case $fs in
		ext4) mkfs.ext4 -q -F "$d/img" ;;
		xfs) mkfs.xfs -q -f "$d/img" ;;
		btrfs) mkfs.btrfs -q -f "$d/img" ;;
		esac >"$d/mkfs.log" 2>&1 || return 1
		mount -o loop "$d/img" "$d/m" || return 1 ;;
	tmpfs)
		mount -t tmpfs -o size=2G,mode=0755 tmpfs "$d/m" || return 1 ;;
	overlay|overlay-nfs)
		mkdir -p "$d/upper" "$d/work"
		# the lower layer's files, for the copy-up check of each mode
		for mode in $MODES; do
			mkdir -p "$d/lower/layer-$mode"
			for i in $(seq 0 19); do echo "lower $i" >"$d/lower/layer-$mode/f$i"; done
		done
		opts=lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work
		[ "$fs" = overlay ] || opts=$opts,index=on,nfs_export=on
		mount -t overlay overlay -o "$opts" "$d/m" || return 1 ;;
	esac
	MNTS+=("$d/m")
}

declare -A ROW
PASSN=0 FAILN=0
cell() { # ok|nok text
	if [ "$1" = ok ]; then PASSN=$((PASSN + 1)); echo "ok - $2"
	else FAILN=$((FAILN + 1)); echo "not ok - $2"; fi
}

# The guest checks of btrfs subvolumes and overlayfs copy-up: one daemon
# on the mount's share dir, a guest script, host checks after.
special() { # fs mode mnt
	local fs=$1 mode=$2 m=$3 s=$W/$1-$2 sock out rc=0 n
	mkdir -p "$s"
	sock=$s/vhost.sock out=$s/guest.out
	local share=$m/special-$mode
	case $fs in
	btrfs)
		mkdir -p "$share"
		for v in s1 s2; do
			btrfs subvolume create "$share/$v" >/dev/null || return 1
			echo "in $v" >"$share/$v/f"
		done
		cat >"$s/guest.sh" <<'EOF'
#!/bin/sh
# stat of the name itself does not cross into the submount (it acts as
# AT_NO_AUTOMOUNT): both are inode 256 of the parent, as on the host;
# "s1/." enters each subvolume's own (automounted) superblock.
echo "PHX-SUB names $(stat -c '%d:%i' s1) $(stat -c '%d:%i' s2)"
a=$(stat -c '%d:%i' s1/.) b=$(stat -c '%d:%i' s2/.)
echo "PHX-SUB s1 $a s2 $b"
[ "$a" != "$b" ] && echo "PHX-SUB distinct ok"
[ "$(cat s1/f)" = "in s1" ] && [ "$(cat s2/f)" = "in s2" ] && echo "PHX-SUB read ok"
echo "guest" >>s2/f && echo "PHX-SUB write ok"
grep -c ' /mnt/s[12] ' /proc/mounts | sed 's/^/PHX-SUB submounts /'
ls -la s1 s2 >/dev/null && echo "PHX-SUB ls ok"
EOF
		;;
	overlay|overlay-nfs)
		share=$m/layer-$mode
		cat >"$s/guest.sh" <<'EOF'
#!/bin/sh
bad=0
for i in $(seq 0 19); do
	[ "$(cat f$i)" = "lower $i" ] || bad=$((bad + 1))
	if [ "$i" -lt 5 ]; then echo "guest $i" >>f$i || bad=$((bad + 1)); fi
	if [ "$i" -ge 5 ] && [ "$i" -lt 10 ]; then chmod 600 f$i || bad=$((bad + 1)); fi
	if [ "$i" -ge 10 ] && [ "$i" -lt 15 ]; then mv f$i g$i || bad=$((bad + 1)); fi
	if [ "$i" -ge 15 ]; then rm f$i || bad=$((bad + 1)); fi
	sleep 0.3
done
for i in 0 1 2 3 4; do [ "$(tail -n 1 f$i)" = "guest $i" ] || bad=$((bad + 1)); done
for i in 10 11 12 13 14; do [ "$(cat g$i)" = "lower $i" ] || bad=$((bad + 1)); done
echo "PHX-OVL errors $bad"
EOF
		;;
	*) return 0 ;;
	esac
	"$BIN" --socket-path="$sock" --shared-dir="$share" --pid-file="$s/pid" \
	    --inode-file-handles="$mode" --cache=auto >"$s/daemon.log" 2>&1 &
	local dpid=$!
	lib_wait_socket "$sock" 100 "$dpid" "$s/pid" || { cell nok "$fs $mode: daemon started"; return 0; }
	"$REPO/tests/vm/run.sh" --socket "$sock" --timeout 300 --script "$s/guest.sh" \
	    >"$out" 2>&1 &
	local rpid=$! kills=0 w
	# the worker, killed every 200 ms while the guest runs
	while kill -0 "$rpid" 2>/dev/null; do
		w=$(ps -o pid= --ppid "$(cat "$s/pid" 2>/dev/null || echo 0)" 2>/dev/null | head -1)
		[ -n "$w" ] && kill -KILL $w 2>/dev/null && kills=$((kills + 1))
		sleep 0.2
	done
	wait "$rpid" || rc=$?
	kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
	case $fs in
	btrfs)
		grep -q '^PHX-SUB distinct ok' "$out" && grep -q '^PHX-SUB read ok' "$out" &&
		    grep -q '^PHX-SUB write ok' "$out" && grep -q '^PHX-SUB ls ok' "$out" &&
		    [ "$(tail -n 1 "$share/s2/f")" = guest ] && [ "$(cat "$share/s1/f")" = "in s1" ]
		n=$?
		grep '^PHX-SUB ' "$out" | tr -d '\r' | sed 's/^/  /'
		cell "$([ $n = 0 ] && echo ok || echo nok)" "$fs $mode: subvolumes as submounts ($kills kills, run.sh $rc)"
		ROW[$fs/$mode/special]="subvol $([ $n = 0 ] && echo ok || echo FAIL)" ;;
	overlay|overlay-nfs)
		n=$(sed -n 's/^PHX-OVL errors \([0-9]*\).*/\1/p' "$out" | tr -d '\r')
		[ "$n" = 0 ] && [ -f "$m/../upper/layer-$mode/f0" ] && [ ! -e "$share/f15" ]
		local st=$?
		cell "$([ $st = 0 ] && echo ok || echo nok)" "$fs $mode: copy-up of lower files (${n:-?} errors, $kills kills, run.sh $rc)"
		ROW[$fs/$mode/special]="copy-up $([ $st = 0 ] && echo ok || echo FAIL)" ;;
	esac
	[ $rc = 0 ] || tail -n 20 "$out"
}

echo "== fsmatrix: $BIN; file systems: $FSL; modes: $MODES; crash runs ${SECS} s"
"$REPO/tests/vm/prepare.sh" >/dev/null
T0=$(date +%s)
for fs in $FSL; do
	mount_fs "$fs" || { cell nok "$fs: mounted"; continue; }
	m=$W/$fs/m
	h=$("$W/fhprobe" "$m")
	echo "== $fs on $m: file handles: $h"
	for mode in $MODES; do
		if [ "$mode" = mandatory ] && [ "$h" != yes ]; then
			ROW[$fs/$mode]="n/a (no file handles: $h)"
			continue
		fi
		conf="-" crash="-" kills="-" errs="-"
		if [ "$CONFORM" = 1 ]; then
			bash "$REPO/tests/vm/conform.sh" --bin "$BIN" --dir "$m" \
			    --phx-arg "--inode-file-handles=$mode" >"$W/conform-$fs-$mode.log" 2>&1
			st=$?
			eq=$(sed -n 's/^phoenixfsd == host: \(.*\)/\1/p' "$W/conform-$fs-$mode.log")
			pf=$(tail -n 1 "$W/conform-$fs-$mode.log")
			conf="$eq ($pf)"
			cell "$([ $st = 0 ] && echo ok || echo nok)" "$fs $mode: conform: $conf"
			[ $st = 0 ] || grep -E '^  BUG|did not complete' "$W/conform-$fs-$mode.log" | head -10
		fi
		bash "$REPO/tests/vm/crash_kill.sh" --bin "$BIN" --dir "$m" --seconds "$SECS" \
		    --every-ms 200 --daemon-arg "--inode-file-handles=$mode" \
		    >"$W/crash-$fs-$mode.log" 2>&1
		st=$?
		line=$(grep '^crash_kill: SIGKILL:' "$W/crash-$fs-$mode.log" | tail -1)
		kills=$(sed -n 's/.*: \([0-9]*\) kills landed.*/\1/p' <<<"$line")
		errs=$(sed -n 's/.* errors=\([^ ]*\) mismatches=\([^ ;]*\).*/\1+\2/p' <<<"$line")
		crash=$(tail -n 1 "$W/crash-$fs-$mode.log")
		cell "$([ $st = 0 ] && echo ok || echo nok)" "$fs $mode: crash_kill: $crash; $line"
		[ $st = 0 ] || grep -E '^not ok|PHX-WL (ERROR|MISMATCH)' "$W/crash-$fs-$mode.log" | head -10
		ROW[$fs/$mode]="$(printf '%-26s %-22s %-6s %s' "$conf" "$crash" "${kills:-?}" "${errs:-?}")"
		special "$fs" "$mode" "$m"
	done
done
echo
echo "== file system x --inode-file-handles ($(( $(date +%s) - T0 )) s)"
printf '%-12s %-10s %-26s %-22s %-6s %-8s %s\n' "fs" "mode" "conform (==host)" \
    "crash checks" "kills" "err+mis" "fs-specific"
for fs in $FSL; do
	for mode in $MODES; do
		[ -n "${ROW[$fs/$mode]+x}" ] || continue
		printf '%-12s %-10s %s %s\n' "$fs" "$mode" "${ROW[$fs/$mode]}" \
		    "${ROW[$fs/$mode/special]-}"
	done
done
echo "$PASSN passed, $FAILN failed"
[ "$FAILN" = 0 ]
