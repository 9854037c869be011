#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Boots a test guest under QEMU (TCG) against an already-listening vhost-user
# fs socket. The guest's /init (see prepare.sh) loads the modules, mounts
# `-t virtiofs myfs /mnt`, runs --script with /mnt as cwd, prints
# "PHX-EXIT <status>", syncs, unmounts and powers off.
#
# usage: run.sh --socket PATH [--script FILE] [--add HOSTFILE:GUESTPATH]...
#               [--timeout SEC] [--mem 512M] [--queues N] [--tag TAG]
#               [--mntopts OPTS] [--verbose]
#               [--reboot] [--monitor PATH] [--qmp PATH]
#               [--append KERNEL-ARGS] [--maxmem SIZE]
#
# --reboot: a guest reboot resets the VM (-action reboot=reset) instead of
# ending QEMU; /init then runs again (tests/vm/reboot.sh). --monitor: a
# QEMU monitor on the unix socket PATH (system_reset). --qmp: a QMP
# socket at PATH (stop, cont: tests/vm/pause.sh). --append: more
# kernel arguments (a later panic=N wins over run.sh's panic=-1).
# --maxmem: room for memory hot-plug (2 DIMM slots up to SIZE in all).
#
# Console lines are streamed to stdout as they arrive (kernel log lines
# dropped unless --verbose); on any failure the whole raw console log is
# printed. Exit status: the script's, 124 on timeout (QEMU killed), 125 if
# the guest never reported a status (boot or mount failure, QEMU error).
# The time from QEMU start to the "PHX-MOUNTED" line is printed as
# "PHX: boot-to-mount N.NN s".
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
SOCK="" SCRIPT="" TIMEOUT=120 MEM=512M QUEUES=1 TAG=myfs MNTOPTS="" VERBOSE=0
REBOOT=(-no-reboot) MONITOR=(-monitor none) QMP=() XAPPEND="" MAXMEM=""
ADDS=()

usage() {
	sed -n '/^# usage:/,/^#$/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--socket) SOCK=$2; shift 2 ;;
	--script) SCRIPT=$2; shift 2 ;;
	--add) ADDS+=("$2"); shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--queues) QUEUES=$2; shift 2 ;;
	--tag) TAG=$2; shift 2 ;;
	--mntopts) MNTOPTS=$2; shift 2 ;;
	--verbose|-v) VERBOSE=1; shift ;;
	--reboot) REBOOT=(-action reboot=reset); shift ;;
	--monitor) MONITOR=(-monitor "unix:$2,server=on,wait=off"); shift 2 ;;
	--qmp) QMP=(-qmp "unix:$2,server=on,wait=off"); shift 2 ;;
	--append) XAPPEND=$2; shift 2 ;;
	--maxmem) MAXMEM=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$SOCK" ] || usage
[ -S "$SOCK" ] || { echo "run.sh: $SOCK is not a socket" >&2; exit 2; }

paths=$("$HERE/prepare.sh") || exit 125
eval "$paths"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/phx-vm.XXXXXX")
QPID=""
cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill -TERM "$QPID" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$QPID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the per-run cpio archive, appended to the base initramfs ------------
mkdir -p "$TMP/root/phx"
if [ -n "$SCRIPT" ]; then
	cp "$SCRIPT" "$TMP/root/phx/script"
fi
for a in ${ADDS[@]+"${ADDS[@]}"}; do
	src=${a%%:*} dst=${a#*:}
	[ "$src" != "$a" ] && [ -n "$dst" ] ||
	    { echo "run.sh: --add wants HOSTFILE:GUESTPATH" >&2; exit 2; }
	[ -f "$src" ] || { echo "run.sh: $src: no such file" >&2; exit 2; }
	mkdir -p "$TMP/root/$(dirname "$dst")"
	cp -p "$src" "$TMP/root/$dst"
done
(cd "$TMP/root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) \
    >"$TMP/extra.img"
cat "$INITRD" "$TMP/extra.img" >"$TMP/initrd.img"

# ---- boot ----------------------------------------------------------------
APPEND="console=ttyS0 panic=-1 quiet loglevel=3 cryptomgr.notests"
APPEND="$APPEND tsc=reliable no_timer_check phx.tag=$TAG"
[ -z "$MNTOPTS" ] || APPEND="$APPEND phx.mntopts=$MNTOPTS"
[ -z "$XAPPEND" ] || APPEND="$APPEND $XAPPEND"
mkfifo "$TMP/console"
t0=$EPOCHREALTIME
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 -m "$MEM${MAXMEM:+,slots=2,maxmem=$MAXMEM}" \
	-object "memory-backend-memfd,id=mem,size=$MEM,share=on" \
	-numa node,memdev=mem \
	-chardev "socket,id=char0,path=$SOCK" \
	-device "vhost-user-fs-pci,id=fs0,chardev=char0,tag=$TAG,num-request-queues=$QUEUES" \
	-kernel "$KERNEL" -initrd "$TMP/initrd.img" -append "$APPEND" \
	-nodefaults -display none -serial stdio "${MONITOR[@]}" ${QMP[@]+"${QMP[@]}"} "${REBOOT[@]}" \
	</dev/null >"$TMP/console" 2>&1 &
QPID=$!

status="" mounted=""
while IFS= read -r line; do
	line=${line%$'\r'}
	printf '%s\n' "$line" >>"$TMP/log"
	case $line in
	*PHX-MOUNTED*)
		[ -n "$mounted" ] || mounted=$EPOCHREALTIME ;;
	PHX-EXIT\ *)
		status=${line#PHX-EXIT }; status=${status%% *} ;;
	esac
	if [ "$VERBOSE" = 1 ]; then
		printf '%s\n' "$line"
	else
		# drop kernel log lines ("[    1.234567] ...") and blank lines
		if [ -n "$line" ] && ! [[ $line =~ ^\[\ *[0-9]+\.[0-9]+\]\  ]]; then
			printf '%s\n' "$line"
		fi
	fi
done <"$TMP/console"

qrc=0
wait "$QPID" || qrc=$?
QPID=""

if [ -n "$mounted" ]; then
	awk -v a="$t0" -v b="$mounted" \
	    'BEGIN { printf "PHX: boot-to-mount %.2f s\n", b - a }'
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "PHX: timeout after ${TIMEOUT}s, QEMU killed" >&2
	rc=124
elif [ -z "$status" ]; then
	echo "PHX: guest reported no exit status (QEMU exit $qrc)" >&2
	rc=125
else
	rc=$status
fi
if [ "$rc" != 0 ]; then
	echo "---- full console log (exit $rc) ----"
	cat "$TMP/log" 2>/dev/null || true
	echo "---- end of console log ----"
fi
exit "$rc"
