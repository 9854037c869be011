#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# In-guest half of tests/vm/reboot.sh, run by /init in /mnt at every boot
# of one VM. The boot number comes from the counter file rb/boots in the
# share, which each boot increments. Each boot checks every earlier boot's files, writes its
# own (a line and 256 KiB, checksummed), keeps a file open, locked and a
# directory open (state the reset must sweep), says "PHX-RB ready N" and
# waits for the host's rb/go.N, then does what line N of rb/plan says:
#   sysrq   reboot by sysrq b (-action reboot=reset: the VM resets)
#   panic   kernel panic by sysrq c (booted with panic=1: the VM resets)
#   reset   wait: the host sends system_reset over the QEMU monitor
#   reload  umount, rmmod virtiofs, insmod it again, mount, check, go on
#   replug  umount, wait for the host's device_del to remove the device
#           and its device_add to bring it back, mount, check, go on
#   yank    the same without the umount (the device goes while mounted)
#   end     exit with the number of errors of every boot
# Errors go to rb/err.N (they must survive the reboots), and the console.
cd /mnt || exit 98 # the reload run's /init starts us in / (reboot.sh)
D=rb
err=0
fail() { echo "PHX-RB error boot $n: $*"; echo "$*" >>"$D/err.$n"; err=$((err + 1)); }

mkdir -p "$D" 2>/dev/null
# The boot number from a counter file, so that every boot looks up the
# same number of names (the host compares the daemon's fd counts).
n=$(($(cat "$D/boots" 2>/dev/null || echo 0) + 1))
echo "$n" >"$D/boots"
echo "PHX-RB boot $n"

# check_all FROM TO: boots FROM..TO-1 (a boot checks the one before it, so
# every boot does the same work and holds the same fds; the end all).
check_all() {
	i=$1
	while [ "$i" -lt "$2" ]; do
		[ "$(cat "$D/boot.$i" 2>/dev/null)" = "boot $i written" ] ||
		    fail "boot.$i content"
		[ "$(sha256sum <"$D/data.$i" 2>/dev/null | cut -d' ' -f1)" = \
		    "$(cat "$D/sum.$i" 2>/dev/null)" ] || fail "data.$i checksum"
		i=$((i + 1))
	done
}
[ "$n" -eq 1 ] || check_all $((n - 1)) "$n"
# This boot's files: written, renamed into place, synced.
dd if=/dev/urandom of="$D/data.$n" bs=64k count=4 2>/dev/null ||
    fail "write data.$n"
sha256sum <"$D/data.$n" | cut -d' ' -f1 >"$D/sum.$n" || fail "sum.$n"
echo "boot $n written" >"$D/boot.$n.tmp" && mv "$D/boot.$n.tmp" "$D/boot.$n" ||
    fail "boot.$n"
mkdir -p "$D/dir.$n" && : >"$D/dir.$n/x" && ls "$D/dir.$n" >/dev/null ||
    fail "mkdir/ls"
# Session state a reset must sweep: open files, a lock, an open dir.
exec 3<>"$D/held.$n" || fail "open held"
if command -v flock >/dev/null; then
	flock -x 3 || fail "flock held.$n"
fi
sleep 100000 <"$D/dir.$n" >/dev/null 2>&1 &
SPID=$!
sync
echo "PHX-RB ready $n"
w=0
while [ ! -e "$D/go.$n" ]; do
	sleep 0.2
	w=$((w + 1))
	[ "$w" -lt 1500 ] || { fail "no go.$n from the host"; break; }
done
# After the host's kill (if any) the share must still work.
echo "again $n" >"$D/after.$n" && [ "$(cat "$D/after.$n")" = "again $n" ] ||
    fail "write after go.$n"
act=$(sed -n "${n}p" "$D/plan")
echo "PHX-RB action $n $act"
case $act in
sysrq)
	sync; echo b >/proc/sysrq-trigger; sleep 100 ;;
panic)
	sync; echo c >/proc/sysrq-trigger; sleep 100 ;;
reset)
	sync; echo "PHX-RB waiting for system_reset"; sleep 600 ;;
reload)
	exec 3>&-
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
	cd /
	umount /mnt || fail "umount before rmmod"
	rmmod virtiofs || fail "rmmod virtiofs"
	insmod /lib/modules/virtiofs.ko || fail "insmod virtiofs"
	tag=$(sed -n 's/.*phx.tag=\([^ ]*\).*/\1/p' /proc/cmdline)
	mount -t virtiofs "${tag:-myfs}" /mnt || { echo "PHX-RB reload mount failed"; exit 99; }
	cd /mnt
	echo "PHX-RB reloaded"
	check_all 1 $((n + 1))
	echo "after reload" >"$D/reload" && [ "$(cat "$D/reload")" = "after reload" ] ||
	    fail "write after reload"
	;;
replug|yank)
	exec 3>&-
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
	cd /
	if [ "$act" = replug ]; then
		umount /mnt || { echo "PHX-RB replug: umount failed"; exit 99; }
	fi
	echo "PHX-RB waiting for replug"
	w=0
	while ls /sys/bus/virtio/drivers/virtiofs 2>/dev/null | grep -q '^virtio'; do
		sleep 0.2
		w=$((w + 1))
		[ "$w" -lt 600 ] || { echo "PHX-RB replug: the device never went"; exit 99; }
	done
	echo "PHX-RB unplugged"
	tag=$(sed -n 's/.*phx.tag=\([^ ]*\).*/\1/p' /proc/cmdline)
	w=0
	until mount -t virtiofs "${tag:-myfs}" /mnt 2>/dev/null; do
		sleep 0.2
		w=$((w + 1))
		[ "$w" -lt 600 ] || { echo "PHX-RB replug: no device to mount"; exit 99; }
	done
	cd /mnt
	echo "PHX-RB replugged"
	w=0
	while [ ! -e "$D/go.replug" ]; do
		sleep 0.2
		w=$((w + 1))
		[ "$w" -lt 1500 ] || { fail "no go.replug from the host"; break; }
	done
	check_all 1 $((n + 1))
	echo "after replug" >"$D/replug" && [ "$(cat "$D/replug")" = "after replug" ] ||
	    fail "write after replug"
	;;
esac
# end (and after a reload or replug): every boot's errors.
check_all 1 $((n + 1))
exec 3>&-
kill "$SPID" 2>/dev/null
total=$(cat "$D"/err.* 2>/dev/null | wc -l)
echo "PHX-RB end: boots $n, errors $total"
cat "$D"/err.* 2>/dev/null
exit $((total > 0))
