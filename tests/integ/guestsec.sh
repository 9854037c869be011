#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# guestsec.sh PHOENIXFSD PHX_FRONT: issue 9 findings 2, 3 and 5 at the
# protocol level (phx-front guestsec plays a hostile guest kernel over a
# real vhost-user socket and real shared memory; the host side is checked
# here):
#   2. caller uid or gid -1 under each --translate-uid/-gid mode: every
#      creation EPERM, nothing made on the host, no setuid-root file;
#   3. CREATE without O_EXCL of an existing FIFO and char device node made
#      on the host: an error at once, the daemon serving on; then a worker
#      killed inside such a CREATE (PHX_CRASH=pt.do_create): the replay
#      answers and recovery does not hang;
#   2b. the setuid bit of a host file whose owner no guest id maps to
#      (guest root sent to 100000, a root-owned file in the share): a
#      SETATTR 04755 is refused, a WRITE or truncation clears S_ISUID
#      (the worker has CAP_FOWNER and CAP_FSETID; before, the guest made
#      a host setuid-root file);
#   5. a slow request held in the pool (PHX_DELAY=queue.pool_job) while a
#      SET_MEM_TABLE without the rings arrives: no worker crash, and once
#      the real table is back the held completion and a request posted
#      meanwhile are delivered.
# TAP; ends with "# N passed, N failed". About 20 s.
set -u
PHX=${1:?usage: guestsec.sh PHOENIXFSD PHX_FRONT}
FRONT=${2:?usage: guestsec.sh PHOENIXFSD PHX_FRONT}
. "$(dirname "$0")/../lib.sh"
lib_tmp_pids phx-guestsec
SOCK=$T/vhost.sock
SHARE=$T/share
mkdir -p "$SHARE"
chmod 0777 "$SHARE"

start() { # daemon options
	rm -f "$SOCK"
	"$PHX" --socket-path="$SOCK" --shared-dir="$SHARE" --sandbox=namespace \
	    "$@" >"$T/daemon.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	lib_wait_socket "$SOCK" 50
}

finish() { # the daemon exits after the frontend; killed if it does not
	lib_wait_exit "$DPID" 50 && return 0
	kill -9 "$DPID" 2>/dev/null
	return 1
}

front() { # desc, phx-front arguments; the output in $T/front.out
	d=$1
	shift
	t0=$(date +%s)
	timeout 120 "$FRONT" --socket "$SOCK" "$@" >"$T/front.out" 2>&1
	rc=$?
	grep -E '^not ok|passed|\[' "$T/front.out" | sed 's/^/# /'
	lib_tap $rc "$d ($(( $(date +%s) - t0 )) s)"
}

crashes() { grep -c 'ended (signal' "$T/daemon.log"; }

# ---- finding 2: uid/gid -1 under every translate mode --------------------
for mode in identity map:0:100000:65536 squash-guest:0:4242:4294967295 \
    forbid-guest:0:1000 guest:0:500:1,host:500:0:1 map:1000:4294967295:1; do
	set --
	if [ "$mode" != identity ]; then
		for rule in $(echo "$mode" | tr , ' '); do
			set -- "$@" --translate-uid="$rule" --translate-gid="$rule"
		done
	fi
	start "$@"
	front "guest uid/gid -1, translate '$mode': every creation EPERM" \
	    guestsec ids
	n=$(find "$SHARE" -name 'gs-neg1-*' | wc -l)
	s=$(find "$SHARE" -perm -4000 | wc -l)
	[ "$n" -eq 0 ] && [ "$s" -eq 0 ]
	lib_tap $? "translate '$mode': nothing made on the host ($n names, $s setuid files)"
	rm -rf "$SHARE"/gs-neg1-*
	finish
done

# ---- finding 2b: setuid bits of host files no guest id owns ---------------
for f in gs-rootplain gs-rootsuid1 gs-rootsuid2; do
	printf 'host' >"$SHARE/$f"
	chown 0:0 "$SHARE/$f"
done
chmod 0755 "$SHARE/gs-rootplain"
chmod 04755 "$SHARE/gs-rootsuid1" "$SHARE/gs-rootsuid2"
start --translate-uid=map:0:100000:65536 --translate-gid=map:0:100000:65536
front "map:0:100000:65536: setuid bits of root's files in the share" \
    guestsec owner gs-rootplain gs-rootsuid1 gs-rootsuid2
finish
echo "# host: $(stat -c '%n %a %U' "$SHARE"/gs-root* | tr '\n' ' ')"
s=$(find "$SHARE" -name 'gs-root*' -perm /6000 | wc -l)
[ "$s" -eq 0 ]
lib_tap $? "host: no root-owned file in the share is setuid or setgid ($s)"
rm -f "$SHARE"/gs-root* "$SHARE/gs-own"

# ---- finding 3: CREATE on a FIFO and a device node -----------------------
mkfifo "$SHARE/gs-fifo"
mknod "$SHARE/gs-chr" c 1 3
start
front "CREATE (no O_EXCL) of an existing FIFO and char device 1:3: errors in time, still serving" \
    guestsec special gs-fifo gs-chr
[ "$(crashes)" -eq 0 ]
lib_tap $? "no worker died ($(crashes) in the log)"
finish
start
front "variants: special files through every opcode, bad names, ids -1" \
    guestsec variants gs-fifo gs-chr
[ "$(crashes)" -eq 0 ] && [ ! -e "$SHARE/gs-x" ] &&
    [ -z "$(find "$SHARE" -name 'gs-neg1-*')" ]
lib_tap $? "variants: no worker died, nothing made ($(crashes) deaths)"
finish
export PHX_CRASH=pt.do_create:1
start
unset PHX_CRASH
front "worker killed inside a CREATE of the FIFO: the replay answers, recovery does not hang" \
    guestsec --timeout 60000 special gs-fifo
[ "$(crashes)" -ge 1 ]
lib_tap $? "the kill happened ($(crashes) worker deaths in the log)"
finish
[ -p "$SHARE/gs-fifo" ] && [ -c "$SHARE/gs-chr" ]
lib_tap $? "the FIFO and the device node are untouched"

# ---- finding 5: failed ring reattach with a request held in the pool -----
for opts in "" --thread-pool-size=2; do
	export PHX_DELAY=queue.pool_job:1500000
	start $opts
	unset PHX_DELAY
	front "SET_MEM_TABLE without the rings while a CREATE is held in the pool, then the real table ('$opts')" \
	    guestsec ringgone
	[ "$(crashes)" -eq 0 ]
	lib_tap $? "no worker died ($(crashes) in the log)"
	grep -q 'does not map its rings' "$T/daemon.log"
	lib_tap $? "the detached queue is logged: $(grep -o 'queue [0-9]*: the memory table.*' "$T/daemon.log" | head -1)"
	grep -q 'deferred completions published' "$T/daemon.log"
	lib_tap $? "the held completion was deferred, then published: $(grep -o 'queue [0-9]*: [0-9]* deferred.*' "$T/daemon.log" | head -1)"
	finish
done

lib_tap_end "# "
