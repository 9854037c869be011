#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A VM's whole life on one phoenixfsd (issue 11, DESIGN 7 "Device reset"):
# real QEMU guests that reboot, panic, get a system_reset and reload the
# driver, with the worker killed around each reset. Three runs, each one
# daemon (--debug: the vhost-user message sequence is printed per reset)
# and one VM whose /init runs tests/vm/guest/reboot.sh at every boot:
#   reboot  4 boots, 3 resets by sysrq b (-action reboot=reset). Kills:
#           before reset 1 (at "ready 1"), during its stop between rings
#           (PHX_DELAY holds GET_VRING_BASE of queue 1 open), right after
#           the INIT of boot 2 ("ready 2"), inside the table sweep of
#           reset 2 (PHX_CRASH=pt.destroy_chunk:10), right after the INIT
#           of boot 4 (its "boot 4" line, before its checks).
#   panic   3 boots: a kernel panic (sysrq c, panic=1), then system_reset
#           over the QEMU monitor.
#   reload  1 boot: umount, rmmod virtiofs, insmod, mount again.
#   replug  1 boot: umount, then a hot-unplug (device_del over the QEMU
#           monitor) and a hot-plug of the same device on the same
#           vhost-user connection (device_add: QEMU sends SET_OWNER, the
#           memory table and the rings again), mount again. Kills: right
#           after device_del, with the device gone, right after
#           device_add.
#   yank    the same without the umount: the device goes while mounted,
#           and the new device's INIT ends the old session.
# Each boot checks the files of the boot before and writes its own; the
# last checks all. Figures: boots, kills, guest errors, the keeper's fd
# count (the worker's table) at each "ready N", which must be the same
# for every boot but the first (which reads no earlier boot's files).
#
# usage: reboot.sh [--bin PATH] [--only reboot|panic|reload|replug|yank] [--keep]
#                  [--timeout SEC]
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/lib.sh"
BIN=$REPO/build/src/phoenixfsd KEEP=0 TIMEOUT=1200 ONLY="" PASS=0 FAIL=0
while [ $# -gt 0 ]; do
	case $1 in
	--only) ONLY=$2; shift 2 ;;
	*) lib_opt reboot.sh "$@"; shift "$LIB_SHIFT" ;;
	esac
done
lib_need_root reboot.sh
lib_need_exec reboot.sh "$BIN" "(build it first, -Dcrashpoints=true)"
"$REPO/tests/vm/prepare.sh" >/dev/null || { lib_nok "tests/vm/prepare.sh"; lib_finish; }

T=$(mktemp -d "${TMPDIR:-/tmp}/phx-reboot.XXXXXX")
DPID="" RPID="" TPID="" KPID=""
cleanup() {
	set +e
	for p in $RPID $TPID; do kill "$p" 2>/dev/null; done
	[ -z "$RPID" ] || wait "$RPID" 2>/dev/null
	lib_stop_daemon 25
	lib_keep_or_remove reboot.sh "$KEEP" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

workers() { ps -o pid=,stat= --ppid "$KPID" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'; }
fdcount() { ls "/proc/$KPID/fd" 2>/dev/null | wc -l; }
KILLS=0
killw() { # killw WHY
	local w
	w=$(workers | head -1)
	if [ -n "$w" ] && kill -KILL "$w" 2>/dev/null; then
		KILLS=$((KILLS + 1))
		echo "reboot: killed worker $w ($1)"
	else
		lib_nok "a worker to kill ($1)"
	fi
}
found() { grep -q -- "$1" "$2" 2>/dev/null; }
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

# run NAME PLAN... : one daemon + one VM whose boot N does PLAN word N.
# Env for the daemon in DENV (array), extra run.sh arguments in RARGS.
run() {
	local name=$1 d=$T/$1 boots=0 state i n fd
	shift
	mkdir -p "$d/share/rb"
	printf '%s\n' "$@" >"$d/share/rb/plan"
	: >"$d/out"
	env ${DENV[@]+"${DENV[@]}"} "$BIN" --socket-path="$d/sock" \
	    --shared-dir="$d/share" --pid-file="$d/pid" --debug \
	    >"$d/daemon.log" 2>&1 &
	DPID=$!
	if ! lib_wait_socket "$d/sock" 100 "$DPID" "$d/pid"; then
		lib_nok "$name: daemon started"; cat "$d/daemon.log"; return
	fi
	KPID=$(cat "$d/pid")
	echo "== reboot/$name: plan $*, keeper $KPID"
	lib_guest_start "$d/out" '' --socket "$d/sock" --timeout "$TIMEOUT" \
	    --reboot --script "$REPO/tests/vm/guest/reboot.sh" \
	    ${RARGS[@]+"${RARGS[@]}"}
	declare -A FD=() DONE=()
	while kill -0 "$RPID" 2>/dev/null; do
		n=$(count '^PHX-RB boot ' "$d/out")
		boots=$n
		# Right after the INIT of a boot (hook), before its work.
		if [ "$n" -gt 0 ] && [ -z "${DONE[boot$n]+x}" ]; then
			DONE[boot$n]=1
			type -t "hook_boot_$name" >/dev/null && "hook_boot_$name" "$n"
		fi
		if found "^PHX-RB ready $n\$" "$d/out" &&
		    [ -z "${DONE[ready$n]+x}" ]; then
			DONE[ready$n]=1
			FD[$n]=$(fdcount)
			echo "reboot/$name: boot $n ready, keeper fds ${FD[$n]}"
			type -t "hook_ready_$name" >/dev/null && "hook_ready_$name" "$n" "$d"
			: >"$d/share/rb/go.$n"
		fi
		type -t "hook_poll_$name" >/dev/null && "hook_poll_$name" "$n" "$d"
		sleep 0.1
	done
	rc=0
	wait "$RPID" || rc=$?
	wait "$TPID" 2>/dev/null || true
	RPID="" TPID=""
	[ "$rc" = 0 ] && lib_ok "$name: guest ended with no error ($boots boots)" ||
	    lib_nok "$name: guest exit $rc ($boots boots)"
	lib_check "$name: $# boots" test "$boots" -eq "$#"
	local errs
	errs=$(sed -n 's/^PHX-RB end: boots [0-9]*, errors \([0-9]*\).*/\1/p' "$d/out" | tail -1)
	echo "reboot/$name: boots $boots, kills $KILLS, guest errors ${errs:-?}," \
	    "keeper fds at each boot: $(for i in $(seq "$boots"); do printf '%s ' "${FD[$i]:-?}"; done)"
	for i in $(seq 3 "$boots"); do
		lib_check "$name: keeper fds at boot $i (${FD[$i]:-?}) = boot 2's (${FD[2]:-?})" \
		    test "${FD[$i]:-x}" = "${FD[2]:-y}"
	done
	lib_check "$name: no INIT refused (EPROTO) in the daemon log" \
	    bash -c "! grep -q 'second INIT' '$d/daemon.log'"
	echo "reboot/$name: session ends: $(count 'ending the old session' "$d/daemon.log"), recoveries: $(count 'recovery:' "$d/daemon.log")"
	echo "reboot/$name: vhost-user messages per boot (from --debug):"
	awk '/vhost-user #/ { sub(/.*vhost-user #[0-9]+ /, ""); m = $1;
		if (m == "GET_VRING_BASE" || m == "SET_VRING_NUM" ||
		    m == "SET_VRING_BASE" || m == "SET_VRING_ADDR" ||
		    m == "SET_VRING_KICK" || m == "SET_VRING_CALL" ||
		    m == "SET_VRING_ENABLE") m = m "(" $NF ")";
		if (m != last) { if (last != "") printf "%s%s ", last, (k > 1 ? "x" k : ""); last = m; k = 1 } else k++ }
		/ending the old session/ { if (last != "") printf "%s%s ", last, (k > 1 ? "x" k : ""); last = ""; print "\n   -> FUSE INIT ends the session" }
		/DESTROY|opcode 38/ { }
		END { if (last != "") printf "%s%s", last, (k > 1 ? "x" k : ""); print "" }' \
	    "$d/daemon.log" | sed 's/^/   /'
	lib_stop_daemon 25
	[ "$KEEP" = 1 ] || rm -rf "$d/share"
}

# ---- reboot: 3 resets by sysrq b, kills around each ----
KILLED_STOP=0
hook_ready_reboot() {
	case $1 in
	1) killw "before reset 1" ;;
	2) killw "right after the INIT of boot 2" ;;
	esac
}
hook_boot_reboot() {
	[ "$1" = 4 ] && killw "right after the INIT of boot 4 (reset 3)"
	return 0
}
hook_poll_reboot() {
	# Reset 1: the host kills while GET_VRING_BASE of queue 1 is held.
	if [ "$KILLED_STOP" = 0 ] && [ "$1" = 1 ] &&
	    found 'GET_VRING_BASE size 8 fds 0 arg 0x1$' "$2/daemon.log"; then
		KILLED_STOP=1
		killw "during the stop of reset 1, between rings"
	fi
}
if [ -z "$ONLY" ] || [ "$ONLY" = reboot ]; then
	KILLS=0
	DENV=(PHX_DELAY=vu.get_vring_base:1500000 PHX_CRASH=pt.destroy_chunk:10)
	RARGS=()
	run reboot sysrq sysrq sysrq end
	deaths=$(count 'ended (signal' "$T/reboot/daemon.log")
	lib_check "reboot: the crash point in the sweep of reset 2 fired (worker deaths $deaths = host kills $KILLS + 1)" \
	    test "$deaths" -eq $((KILLS + 1))
	echo "reboot/reboot: kills by the host $KILLS, + 1 crash point (pt.destroy_chunk:10)"
fi

# ---- panic (panic=1), then system_reset over the monitor ----
hook_poll_panic() {
	if [ "$1" = 2 ] && found '^PHX-RB waiting for system_reset' "$2/out" &&
	    [ -z "${SENT:-}" ]; then
		SENT=1
		lib_hmp "$2/mon" system_reset >/dev/null
		echo "reboot/panic: system_reset sent over the monitor"
	fi
}
if [ -z "$ONLY" ] || [ "$ONLY" = panic ]; then
	KILLS=0 SENT=""
	DENV=()
	RARGS=(--append panic=1 --monitor "$T/panic/mon")
	run panic panic reset end
fi

# ---- reload: rmmod + insmod of virtiofs ----
# The standard /init (prepare.sh) runs the script in /mnt, whose busy cwd
# would keep the module: this run appends the same /init running it in /.
if [ -z "$ONLY" ] || [ "$ONLY" = reload ]; then
	KILLS=0
	DENV=()
	sed -n "/cat >\"\$root\/init\" <<'EOF'/,/^EOF/p" "$REPO/tests/vm/prepare.sh" |
	    sed -e '1d' -e '$d' -e 's|^\tcd /mnt$|\tcd /|' >"$T/init"
	chmod +x "$T/init"
	RARGS=(--add "$T/init:/init")
	run reload reload
	# Had the umount sent no DESTROY, the stop would have marked the
	# session and the new INIT ended it (logged).
	lib_check "reload: the umount's DESTROY, then a first INIT (no session end)" \
	    bash -c "! grep -q 'ending the old session' '$T/reload/daemon.log'"
fi

# ---- replug: device_del, then device_add on the same connection ----
RP=0
hook_poll_replug() {
	if [ "$RP" = 0 ] && found '^PHX-RB waiting for replug' "$2/out"; then
		RP=1
		lib_hmp "$2/mon" "device_del fs0" >"$2/mon.del" 2>&1
		echo "reboot/replug: device_del sent"
		killw "right after device_del"
	elif [ "$RP" = 1 ] && found '^PHX-RB unplugged' "$2/out"; then
		RP=2
		killw "with the device gone"
		# The kill lands while QEMU sets the new device up.
		lib_hmp "$2/mon" "device_add vhost-user-fs-pci,id=fs0,chardev=char0,tag=myfs,num-request-queues=1" \
		    >"$2/mon.add" 2>&1 &
		sleep 0.3
		killw "right after device_add"
		wait $!
		echo "reboot/replug: device_add sent"
	elif [ "$RP" = 2 ] && found '^PHX-RB replugged' "$2/out"; then
		RP=3
		: >"$2/share/rb/go.replug"
	fi
}
hook_poll_yank() { hook_poll_replug "$@"; }
for how in replug yank; do
	[ -z "$ONLY" ] || [ "$ONLY" = $how ] || continue
	KILLS=0 RP=0
	DENV=()
	[ -x "$T/init" ] || {
		sed -n "/cat >\"\$root\/init\" <<'EOF'/,/^EOF/p" "$REPO/tests/vm/prepare.sh" |
		    sed -e '1d' -e '$d' -e 's|^\tcd /mnt$|\tcd /|' >"$T/init"
		chmod +x "$T/init"
	}
	RARGS=(--add "$T/init:/init" --monitor "$T/$how/mon")
	run $how $how
	lib_check "$how: device_del and device_add sent, no monitor error" \
	    bash -c "[ -s '$T/$how/mon.del' ] && [ -s '$T/$how/mon.add' ] && ! grep -qi error '$T/$how/mon.del' '$T/$how/mon.add'"
	lib_check "$how: 3 kills around the unplug and the plug" test "$KILLS" -eq 3
	lib_check "$how: QEMU set the new device up on the same connection (a second SET_OWNER)" \
	    test "$(grep -c 'vhost-user #[0-9]* SET_OWNER' "$T/$how/daemon.log")" -eq 2
	if [ $how = replug ]; then
		# As for reload: the umount's DESTROY ended the session.
		lib_check "replug: the new device's INIT is a first INIT (no session end)" \
		    bash -c "! grep -q 'ending the old session' '$T/replug/daemon.log'"
	else
		lib_check "yank: the new device's INIT ended the old session (no DESTROY came)" \
		    grep -q 'ending the old session' "$T/yank/daemon.log"
	fi
done
lib_finish
