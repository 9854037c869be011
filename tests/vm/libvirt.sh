#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libvirt as Debian 12 ships it (9.0) runs phoenixfsd: the test starts its
# own virtlogd and libvirtd (no systemd here) and stops them, defines a
# domain of type qemu (TCG) with a shared memfd memory backing, direct
# kernel boot of tests/vm/prepare.sh's guest and the <filesystem> element
# of issue 12, and checks:
#   1. libvirt starts phoenixfsd with its own command line (logged here, from
#      /proc and from libvirt's domain log); the guest mounts the share and
#      writes and reads files while the worker is killed twice, with no
#      error; --status, given libvirt's pid file, counts the two kills;
#   2. `virsh shutdown` (ACPI power button: the guest powers off), then
#      `virsh start`, `virsh reboot` and `virsh reset` during guest I/O
#      (the guest mounts the share again and works, on the same phoenixfsd:
#      no second process, socket or pid file) and `virsh destroy`: after
#      each stop no phoenixfsd process, socket or pid file is left;
#   3. without <binary path>: `meson install` puts the vhost-user
#      description in /usr/share/qemu/vhost-user/ and libvirt starts the
#      installed phoenixfsd through it (uninstalled at the end).
# Installs libvirt (scripts/deps.sh libvirt) if virsh is missing. Root.
#
# usage: libvirt.sh [--bin PATH] [--timeout SEC] [--keep] [--no-install]
# Ends with "N passed, N failed".
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
DAEMON=phoenixfsd BIN="" TIMEOUT=240 KEEP=0 INSTALL=1
while [ $# -gt 0 ]; do
	case $1 in
	--no-install) INSTALL=0; shift ;;
	*) lib_opt libvirt.sh "$@"; shift "$LIB_SHIFT" ;;
	esac
done
lib_daemon_bin libvirt.sh "$REPO/build/src/phoenixfsd"
lib_need_root libvirt.sh
lib_need_exec libvirt.sh "$BIN" "(build it first)"
BIN=$(readlink -f "$BIN")
command -v virsh >/dev/null || "$REPO/scripts/deps.sh" libvirt ||
    { echo "libvirt.sh: cannot install libvirt"; exit 1; }

PASS=0 FAIL=0
T=$(mktemp -d /tmp/phx-libvirt.XXXXXX)
chmod 755 "$T" # QEMU runs as libvirt-qemu: it reads the kernel and initrd
DOM=phx-libvirt-$$
STARTED_LIBVIRTD="" STARTED_VIRTLOGD="" INSTALLED=""
export LIBVIRT_DEFAULT_URI=qemu:///system

cleanup() {
	set +e
	virsh destroy "$DOM" >/dev/null 2>&1
	virsh undefine "$DOM" >/dev/null 2>&1
	if [ -n "$INSTALLED" ]; then
		# files, then the directories meson made (if now empty)
		while read -r f; do [ -d "$f" ] || rm -f "$f"; done <"$T/installed"
		while read -r f; do [ ! -d "$f" ] || rmdir "$f" 2>/dev/null; done <"$T/installed"
		echo "# uninstalled: $(tr '\n' ' ' <"$T/installed")"
	fi
	[ -z "$STARTED_LIBVIRTD" ] || { kill "$STARTED_LIBVIRTD"; lib_wait_exit "$STARTED_LIBVIRTD" 100; }
	[ -z "$STARTED_VIRTLOGD" ] || { kill "$STARTED_VIRTLOGD"; lib_wait_exit "$STARTED_VIRTLOGD" 50; }
	lib_keep_or_remove libvirt.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the daemons ---------------------------------------------------------
if ! pgrep -x virtlogd >/dev/null; then
	virtlogd -d && sleep 0.5
	STARTED_VIRTLOGD=$(cat /run/virtlogd.pid 2>/dev/null)
fi
if ! pgrep -x libvirtd >/dev/null; then
	libvirtd -d
	STARTED_LIBVIRTD=$(cat /run/libvirtd.pid 2>/dev/null)
fi
for i in $(seq 100); do virsh version >/dev/null 2>&1 && break; sleep 0.2; done
echo "# $(virsh version 2>&1 | grep -E 'library|hypervisor' | tr -s ' ' | tr '\n' ';')"
echo "# libvirtd pid ${STARTED_LIBVIRTD:-(already running)}, virtlogd pid ${STARTED_VIRTLOGD:-(already running)}"

# ---- the guest -----------------------------------------------------------
paths=$("$REPO/tests/vm/prepare.sh") || exit 1
eval "$paths"
cp "$KERNEL" "$T/vmlinux"
# The guest: every boot appends to ctl/boots; boot N writes and checks
# files until the host creates ctl/stop-io.N, then says PHX-READY N and
# powers off at the ACPI power button (virsh shutdown / reboot).
cat >"$T/script" <<'EOF'
if [ "$(pwd)" != /mnt ] || ! ls /mnt >/dev/null; then
	echo "PHX-NO-SHARE: $(ls /mnt 2>&1 | head -n 1)"
	exit 1
fi
mkdir -p ctl
echo boot >>ctl/boots
n=$(wc -l <ctl/boots)
echo "PHX-BOOT $n"
mkdir -p io.$n
i=0 err=0
echo "PHX-IO-RUNNING $n"
while [ ! -e ctl/stop-io.$n ] && [ $i -lt 20000 ]; do
	i=$((i + 1))
	echo "boot $n file $i" >io.$n/f$i || err=$((err + 1))
	[ "$(cat io.$n/f$i 2>/dev/null)" = "boot $n file $i" ] || err=$((err + 1))
	[ $((i % 50)) -ne 0 ] || mv io.$n/f$i io.$n/g$i || err=$((err + 1))
done
bad=0
for f in io.$n/f*; do
	j=${f##*/f}
	[ "$(cat "$f")" = "boot $n file $j" ] || bad=$((bad + 1))
done
echo "PHX-IO $n files=$i errors=$err bad=$bad"
echo "$i $err $bad" >ctl/io.$n
sync
b=/sys/firmware/acpi/interrupts/ff_pwr_btn
echo enable >$b 2>/dev/null
echo "PHX-READY $n ($b: $(cat $b 2>&1))"
while :; do
	c=$(cut -d' ' -f1 $b 2>/dev/null | tr -d ' ')
	if [ "${c:-0}" -gt 0 ] 2>/dev/null; then
		echo "PHX-POWER-BUTTON $n"
		cd /; sync; umount /mnt; poweroff -f
	fi
	# This guest has no ACPI button driver (button.ko is not in the
	# initramfs): the host says here that it asked for a power-off.
	if [ -e ctl/poweroff.$n ]; then
		echo "PHX-POWER-CTL $n"
		cd /; sync; umount /mnt; poweroff -f
	fi
	sleep 0.2
done
EOF
mkdir -p "$T/root/phx"
cp "$T/script" "$T/root/phx/script"
(cd "$T/root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$T/extra.img"
cat "$INITRD" "$T/extra.img" >"$T/initrd.img"

SHARE=$T/share
mkdir -p "$SHARE"
# domxml BINARY-ELEMENT: the domain, with or without <binary path>
domxml() {
	cat <<EOF
<domain type='qemu'>
  <name>$DOM</name>
  <memory unit='MiB'>512</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu>2</vcpu>
  <cpu mode='maximum' check='none'/>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$T/vmlinux</kernel>
    <initrd>$T/initrd.img</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet loglevel=3 cryptomgr.notests tsc=reliable no_timer_check phx.tag=myfs</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      $1
      <source dir='$SHARE'/>
      <target dir='myfs'/>
    </filesystem>
    <serial type='file'>
      <source path='$T/console.log' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
BINARY_EL="<binary path='$BIN' xattr='on'><cache mode='always'/><lock posix='on' flock='on'/></binary>"

# ---- helpers ---------------------------------------------------------------
# chk STATUS DESC: one result line
chk() { if [ "$1" -eq 0 ]; then lib_ok "$2"; else lib_nok "$2"; fi; }
# wait_console PATTERN SECONDS: the guest printed a line matching PATTERN
wait_console() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -le $end ]; do
		grep -qa "$1" "$T/console.log" 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}
# wait_state STATE SECONDS
wait_state() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -le $end ]; do
		[ "$(virsh domstate "$DOM" 2>/dev/null | head -n 1)" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}
# our_pids: every process running a phoenixfsd binary (ours or installed)
our_pids() {
	local p e
	for p in /proc/[0-9]*; do
		e=$(readlink "$p/exe" 2>/dev/null) || continue
		case $e in
		"$BIN"*|/usr/local/libexec/phoenixfsd*) echo "${p#/proc/}" ;;
		esac
	done
}
# fs_pidfile / fs_socket: what libvirt made for the running domain's fs0
fs_pidfile() { ls /run/libvirt/qemu/*"$DOM"-fs0-fs.pid 2>/dev/null | head -n 1; }
fs_socket() { ls /var/lib/libvirt/qemu/domain-*-"$DOM"/fs0-fs.sock 2>/dev/null | head -n 1; }
# nothing_left WHAT: no phoenixfsd process, socket or pid file is left
nothing_left() {
	local i p s f
	for i in $(seq 50); do
		p=$(our_pids); [ -z "$p" ] && break; sleep 0.2
	done
	s=$(ls /var/lib/libvirt/qemu/domain-*-"$DOM"/*.sock 2>/dev/null)
	f=$(ls /run/libvirt/qemu/*"$DOM"-fs*.pid 2>/dev/null)
	[ -z "$p" ] && [ -z "$s" ] && [ -z "$f" ]
	chk $? "$1: no phoenixfsd process (${p:-none}), socket (${s:-none}) or pid file (${f:-none}) left"
}
# same_daemon WHAT: the domain still runs on the phoenixfsd libvirt started
# (pid P1, N1 processes: launcher, keeper, worker), no second one, one
# socket and one pid file
same_daemon() {
	local pf p s f
	pf=$(fs_pidfile)
	p=$(our_pids | wc -l)
	s=$(ls /var/lib/libvirt/qemu/domain-*-"$DOM"/fs*-fs.sock 2>/dev/null | wc -l)
	f=$(ls /run/libvirt/qemu/*"$DOM"-fs*.pid 2>/dev/null | wc -l)
	[ "$(cat "$pf" 2>/dev/null)" = "$P1" ] && [ "$p" = "$N1" ] &&
	    [ "$s" = 1 ] && [ "$f" = 1 ]
	chk $? "$1: the same phoenixfsd serves (pid $(cat "$pf" 2>/dev/null), was $P1; $p processes, were $N1; $s socket, $f pid file)"
}
show_argv() {
	local pf pid
	pf=$(fs_pidfile)
	pid=$(cat "$pf" 2>/dev/null)
	echo "# libvirt's pid file $pf: pid $pid"
	echo "# argv of pid $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)"
	grep -a 'phoenixfsd' /var/log/libvirt/qemu/"$DOM".log 2>/dev/null |
	    tail -n 1 | sed 's/^/# libvirt log: /'
	ARGV=$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)
	FSPID=$pid
}

# ---- 1. start, argv, I/O across worker kills, --status -------------------
echo "== 1. <binary path='$BIN' xattr='on'> with cache, lock posix/flock"
domxml "$BINARY_EL" >"$T/dom.xml"
sed 's/^/# /' "$T/dom.xml" | grep -A8 '<filesystem'
virsh define "$T/dom.xml" >"$T/virsh.out" 2>&1
chk $? "virsh define ($(head -c 200 "$T/virsh.out" | tr '\n' ' '))"
virsh start "$DOM" >"$T/virsh.out" 2>&1
chk $? "virsh start ($(head -c 300 "$T/virsh.out" | tr '\n' ' '))"
show_argv
case $ARGV in
*--fd=*source=$SHARE*xattr*flock*posix_lock*) lib_ok "libvirt's argv: --fd=N -o source=,cache=,xattr,flock,posix_lock" ;;
*) lib_nok "libvirt's argv as expected: $ARGV" ;;
esac
wait_console "PHX-IO-RUNNING 1" "$TIMEOUT"
chk $? "the guest mounted the share and writes (boot 1)"
sleep 2
for k in 1 2; do
	K=$(cat "$(fs_pidfile)" 2>/dev/null)
	K=$(pgrep -P "$K" | head -n 1) # the launcher's child: the keeper
	W=$(pgrep -P "$K" | head -n 1)
	echo "# kill $k: SIGKILL to worker $W (keeper $K) during guest I/O"
	kill -9 "$W"
	sleep 3
done
"$BIN" --status --json --pid-file "$(fs_pidfile)" >"$T/status.json" 2>&1
"$BIN" --status --pid-file "$(fs_pidfile)" | sed 's/^/# /' | head -8
grep -q '"kill":2' "$T/status.json" && grep -q '"count":2,' "$T/status.json"
chk $? "--status with libvirt's pid file: 2 kills, 2 recoveries"
touch "$SHARE/ctl/stop-io.1"
wait_console "PHX-READY 1" 120
chk $? "the guest finished its I/O (boot 1)"
grep -a "PHX-IO 1 " "$T/console.log" | sed 's/^/# /'
grep -qa "PHX-IO 1 files=[1-9][0-9]* errors=0 bad=0" "$T/console.log"
chk $? "no guest error across the two worker kills"
[ "$(ls "$SHARE"/io.1 | wc -l)" -gt 0 ]
chk $? "the host sees the guest's $(ls "$SHARE"/io.1 | wc -l) files"
grep -a 'recovered from' /var/log/libvirt/qemu/"$DOM"-fs0-virtiofsd.log 2>/dev/null | sed 's/^/# /'

# ---- 2. virsh shutdown, start, reboot, reset, destroy ---------------------
echo "== 2. shutdown, start, reboot, reset, destroy"
# power_off N: after virsh shutdown/reboot, the guest powers off at the
# ACPI button if it sees it, else when told through the share
power_off() {
	wait_console "PHX-POWER-BUTTON $1" 15 || touch "$SHARE/ctl/poweroff.$1"
}
virsh shutdown "$DOM" >"$T/virsh.out" 2>&1
chk $? "virsh shutdown accepted"
power_off 1
wait_state "shut off" 90
chk $? "virsh shutdown: the guest powered off, libvirt stopped the domain ($(grep -a 'PHX-POWER' "$T/console.log" | tail -n 1))"
nothing_left "virsh shutdown"
virsh start "$DOM" >"$T/virsh.out" 2>&1
chk $? "virsh start again"
wait_console "PHX-IO-RUNNING 2" "$TIMEOUT"
chk $? "the guest mounted the share again (boot 2)"
touch "$SHARE/ctl/stop-io.2"
wait_console "PHX-READY 2" 120
grep -qa "PHX-IO 2 files=[1-9][0-9]* errors=0 bad=0" "$T/console.log"
chk $? "boot 2: I/O without error"
show_argv
P1=$FSPID N1=$(our_pids | wc -l)
virsh reboot "$DOM" >"$T/virsh.out" 2>&1
chk $? "virsh reboot accepted"
power_off 2
# libvirt's reboot: the guest powers off (umount: DESTROY), libvirt resets
# the machine (system_reset) and keeps QEMU and phoenixfsd running
wait_console "PHX-IO-RUNNING 3\|PHX-NO-SHARE" "$TIMEOUT" &&
    grep -qa "PHX-IO-RUNNING 3" "$T/console.log"
chk $? "after virsh reboot the guest mounted the share and writes (boot 3)"
same_daemon "virsh reboot"
# virsh reset: a hard reset during the guest's I/O (requests in flight,
# no DESTROY): the next INIT ends the old session (DESIGN 7)
sleep 2
virsh reset "$DOM" >"$T/virsh.out" 2>&1
chk $? "virsh reset during guest I/O accepted ($(head -c 120 "$T/virsh.out" | tr '\n' ' '))"
wait_console "PHX-IO-RUNNING 4\|PHX-NO-SHARE" "$TIMEOUT" &&
    grep -qa "PHX-IO-RUNNING 4" "$T/console.log"
chk $? "after virsh reset the guest mounted the share and writes (boot 4)"
touch "$SHARE/ctl/stop-io.4"
wait_console "PHX-READY 4" 120
grep -a "PHX-IO 4 " "$T/console.log" | sed 's/^/# /'
grep -qa "PHX-IO 4 files=[1-9][0-9]* errors=0 bad=0" "$T/console.log"
chk $? "boot 4: I/O without error after the reset"
n3=$(ls "$SHARE"/io.3 2>/dev/null | wc -l)
[ "$n3" -gt 0 ]
chk $? "the host sees the $n3 files boot 3 wrote before the reset"
same_daemon "virsh reset"
grep -a 'ending the old session\|recovered from' \
    /var/log/libvirt/qemu/"$DOM"-fs0-virtiofsd.log 2>/dev/null | sed 's/^/# /'
# (a guest that lost its share powers itself off: then nothing to destroy)
virsh destroy "$DOM" >"$T/virsh.out" 2>&1
st=$?
wait_state "shut off" 30
chk $? "virsh destroy (status $st: $(head -c 120 "$T/virsh.out" | tr '\n' ' '))"
nothing_left "virsh destroy (after reboot)"
virsh undefine "$DOM" >/dev/null 2>&1

# ---- 3. without <binary path>: the installed vhost-user description ----------
echo "== 3. no <binary path>: meson install, libvirt finds the description"
if [ "$INSTALL" = 1 ]; then
	rm -f /usr/share/qemu/vhost-user/50-qemu-phoenixfsd.json
	nice meson setup "$T/build" "$REPO" --prefix=/usr/local >"$T/meson.log" 2>&1 &&
	    nice ninja -C "$T/build" src/phoenixfsd front/phx-front >>"$T/meson.log" 2>&1 &&
	    meson install -C "$T/build" --no-rebuild >>"$T/meson.log" 2>&1
	rc=$?
	grep -v '^#' "$T/build/meson-logs/install-log.txt" >"$T/installed" 2>/dev/null
	INSTALLED=1
	chk $rc "meson install ($(tr '\n' ' ' <"$T/installed"))"
	J=/usr/share/qemu/vhost-user/50-qemu-phoenixfsd.json
	grep -q '"binary": "/usr/local/libexec/phoenixfsd"' "$J" 2>/dev/null
	chk $? "the description $J names the installed binary"
	ls /usr/share/qemu/vhost-user/ | sed 's/^/# /'
	: >"$T/console.log"
	# also the parts of libvirt's argv not used above: sandbox=, a pool
	domxml "<binary xattr='off'><cache mode='none'/><sandbox mode='chroot'/><lock posix='off' flock='off'/><thread_pool size='2'/></binary>" >"$T/dom.xml"
	grep '<binary' "$T/dom.xml" | sed 's/^ */# /'
	virsh define "$T/dom.xml" >"$T/virsh.out" 2>&1
	chk $? "virsh define ($(head -c 300 "$T/virsh.out" | tr '\n' ' '))"
	virsh start "$DOM" >"$T/virsh.out" 2>&1
	chk $? "virsh start without <binary path> ($(head -c 300 "$T/virsh.out" | tr '\n' ' '))"
	show_argv
	case $ARGV in
	*--fd=*source=$SHARE,cache=none,sandbox=chroot,no_xattr,no_flock,no_posix_lock*--thread-pool-size=2*)
		lib_ok "libvirt's argv: cache=none,sandbox=chroot,no_xattr,no_flock,no_posix_lock --thread-pool-size=2" ;;
	*) lib_nok "libvirt's argv with sandbox= and --thread-pool-size: $ARGV" ;;
	esac
	[ "$(readlink /proc/"$FSPID"/root)" = "$SHARE" ]
	chk $? "sandbox=chroot honoured: the daemon's root is the share ($(readlink /proc/"$FSPID"/root))"
	"$BIN" --status --pid-file "$(fs_pidfile)" >"$T/status.txt" 2>&1
	chk $? "--status through libvirt's pid file (chroot: the pid is the keeper)"
	[ "$(readlink /proc/"$FSPID"/exe)" = /usr/local/libexec/phoenixfsd ]
	chk $? "libvirt started the installed phoenixfsd ($(readlink /proc/"$FSPID"/exe))"
	# (a reboot that lost the share wrote its boot outside the share)
	n=$(($(wc -l <"$SHARE/ctl/boots") + 1))
	wait_console "PHX-IO-RUNNING $n" "$TIMEOUT"
	chk $? "the guest mounted the share (boot $n)"
	touch "$SHARE/ctl/stop-io.$n"
	wait_console "PHX-READY $n" 120
	grep -qa "PHX-IO $n files=[1-9][0-9]* errors=0 bad=0" "$T/console.log"
	chk $? "boot $n: I/O without error"
	virsh destroy "$DOM" >/dev/null 2>&1
	nothing_left "virsh destroy (installed binary)"
	virsh undefine "$DOM" >/dev/null 2>&1
else
	echo "# --no-install: skipped"
fi

echo "# virtiofsd log of libvirt:"
tail -n 5 /var/log/libvirt/qemu/"$DOM"-fs0-virtiofsd.log 2>/dev/null | sed 's/^/#   /'
[ "$FAIL" = 0 ] || { echo "== console"; tail -n 30 "$T/console.log"; }
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
