#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# In-guest end-to-end suite (busybox sh), run by tests/vm/e2e.sh through
# run.sh with cwd = the share (/mnt) and /phx/fsops added. Prints TAP lines
# and "# suite: P passed, F failed"; exits 1 if anything failed.
#
# The host driver prepares in the share:
#   host/big64     64 MiB of random data (its sha256 is checked by the host)
#   host/dir10k/   10,000 empty files f00000..f09999
#   hostchg/       file (content "before"), gone, mode (0644)
# and the guest leaves for the host:
#   guest/big64    64 MiB written here; "PHX-SUM guest/big64 <sha256>" printed
#   guest/hello    "hello from the guest"
#   PHX-SUM host/big64 <sha256> as read in the guest
# Host-change handshake: the guest creates sync/ready and waits (<= 60 s) for
# hostchg/done, which the host writes after changing hostchg/*. The guest
# then expects each change to become visible within 10 s: with cache=auto
# the entry and attr timeouts are 1 s and open drops the page cache, so
# this holds; with cache=always the guest may legitimately keep stale data.

N=0 P=0 F=0
ok() { N=$((N + 1)); P=$((P + 1)); echo "ok $N - $*"; }
nok() { N=$((N + 1)); F=$((F + 1)); echo "not ok $N - $*"; }
# t DESC CMD...: pass iff CMD succeeds
t() { d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else nok "$d"; fi; }
# eventually SECONDS DESC CMD...: pass once CMD succeeds, polling
eventually() {
	s=$1 d=$2; shift 2
	i=0
	while [ $i -lt $((s * 5)) ]; do
		if "$@" >/dev/null 2>&1; then ok "$d"; return; fi
		sleep 0.2; i=$((i + 1))
	done
	nok "$d (not within ${s}s)"
}
dropcaches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

SHARE=$(pwd)
grep -q " $SHARE virtiofs " /proc/mounts && ok "share mounted as virtiofs" ||
    nok "share mounted as virtiofs"

# ---- syscall-level checks (fsops.c) --------------------------------------
if [ -x /phx/fsops ]; then
	/phx/fsops -n 1 fsops.d >/tmp/fsops.out 2>&1
	frc=$?
	cat /tmp/fsops.out
	fp=$(grep -c '^ok ' /tmp/fsops.out)
	ff=$(grep -c '^not ok ' /tmp/fsops.out)
	N=$((N + fp + ff)) P=$((P + fp)) F=$((F + ff))
	[ $frc -le 1 ] || nok "fsops ran (exit $frc)"
else
	nok "fsops helper present"
fi

# ---- shell-level operations ----------------------------------------------
mkdir -p guest
t "echo > file" sh -c 'echo "hello from the guest" > guest/hello'
t "cat file" sh -c '[ "$(cat guest/hello)" = "hello from the guest" ]'
t "cp -a a tree" sh -c 'mkdir -p guest/tree/a/b && echo x > guest/tree/a/b/c &&
    ln -s b guest/tree/a/l && cp -a guest/tree guest/tree2 &&
    [ "$(cat guest/tree2/a/l/c)" = x ]'
t "mv a tree" sh -c 'mv guest/tree2 guest/tree3 && [ -L guest/tree3/a/l ]'
t "rm -rf a tree" sh -c 'rm -rf guest/tree3 && [ ! -e guest/tree3 ]'
t "find counts" sh -c '[ "$(find guest/tree | wc -l)" = 5 ]'

# ---- 64 MiB in both directions -------------------------------------------
if dd if=/dev/urandom of=guest/big64 bs=1M count=64 2>/dev/null; then
	ok "write 64 MiB file"
else
	nok "write 64 MiB file"
fi
sz=$(stat -c %s guest/big64 2>/dev/null)
[ "$sz" = 67108864 ] && ok "64 MiB file size" || nok "64 MiB file size ($sz)"
s1=$(sha256sum guest/big64 | cut -d' ' -f1)
dropcaches
s2=$(sha256sum guest/big64 | cut -d' ' -f1)
[ -n "$s1" ] && [ "$s1" = "$s2" ] && ok "64 MiB re-read after drop_caches matches" ||
    nok "64 MiB re-read after drop_caches matches ($s1 vs $s2)"
echo "PHX-SUM guest/big64 $s1"
if [ -f host/big64 ]; then
	echo "PHX-SUM host/big64 $(sha256sum host/big64 | cut -d' ' -f1)"
	ok "read host-made 64 MiB file"
else
	nok "read host-made 64 MiB file"
fi

# ---- 10,000-entry directory made on the host -----------------------------
n=$(ls host/dir10k 2>/dev/null | wc -l)
[ "$n" = 10000 ] && ok "list 10000-entry host dir" || nok "list 10000-entry host dir (got $n)"
n=$(ls -l host/dir10k 2>/dev/null | grep -c '^-')
[ "$n" = 10000 ] && ok "ls -l (stat) 10000 entries" || nok "ls -l 10000 entries (got $n)"
t "first and last entry" test -e host/dir10k/f00000 -a -e host/dir10k/f09999
n=$(find host/dir10k -type f | wc -l)
[ "$n" = 10000 ] && ok "find 10000 entries" || nok "find 10000 entries (got $n)"

# ---- host changes seen by the running guest ------------------------------
t "hostchg: initial content" sh -c '[ "$(cat hostchg/file)" = before ]'
t "hostchg: 'gone' exists" test -e hostchg/gone
t "hostchg: 'new' absent" test ! -e hostchg/new
t "hostchg: initial mode 644" sh -c '[ "$(stat -c %a hostchg/mode)" = 644 ]'
mkdir -p sync && : >sync/ready && echo "PHX-WAIT hostchg/done"
eventually 60 "host signalled its changes" test -e hostchg/done
# With cache=always (/phx/cache from e2e.sh) the guest may keep cached
# entries, attributes and pages of files it saw before: those checks SKIP.
CACHE=$(cat /phx/cache 2>/dev/null || echo auto)
cached() {
	if [ "$CACHE" = always ]; then
		N=$((N + 1)); P=$((P + 1))
		echo "ok $N - $2 # SKIP cache=always may keep stale data"
	else
		eventually "$@"
	fi
}
cached 10 "host-changed content seen" sh -c '[ "$(cat hostchg/file)" = "after, and longer" ]'
eventually 10 "host-made file seen" sh -c '[ "$(cat hostchg/new)" = new ]'
cached 10 "host-deleted file gone" test ! -e hostchg/gone
cached 10 "host chmod seen" sh -c '[ "$(stat -c %a hostchg/mode)" = 600 ]'
eventually 10 "host-made dir listed" sh -c 'ls hostchg | grep -qx newdir'
t "guest write after host change" sh -c 'echo guest >> hostchg/file'

echo "# suite: $P passed, $F failed"
[ $F -eq 0 ]
