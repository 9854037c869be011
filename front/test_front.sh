#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# test_front.sh PHX_FRONT: drives QEMU's C virtiofsd with phx-front (smoke,
# bench, hostile, chaos) and checks the results. Exit 77 (skip) when
# virtiofsd is not installed. Only processes this script started are killed.
set -u
FRONT=${1:?usage: test_front.sh PATH/TO/phx-front}
VFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
[ -x "$VFSD" ] || { echo "SKIP: $VFSD not found"; exit 77; }

T=$(mktemp -d /tmp/phx-front-test.XXXXXX)
SOCK=$T/vhost.sock
SHARE=$T/share
PIDF=$T/vfsd.pid
mkdir -p "$SHARE"
fail=0

cat > "$T/restart.sh" <<EOS
#!/bin/sh
if [ -f "$PIDF" ]; then
	old=\$(cat "$PIDF")
	kill -9 \$old 2>/dev/null
	# virtiofsd locks a pid file per shared dir: wait for the old one
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		kill -0 \$old 2>/dev/null || [ -d /proc/\$old ] || break
		sleep 0.1
	done
fi
sleep 0.1
rm -f "$SOCK"
"$VFSD" --socket-path="$SOCK" -o source="$SHARE" -o cache=auto -o log_level=err </dev/null >>"$T/vfsd.log" 2>&1 &
echo \$! > "$PIDF"
EOS
chmod +x "$T/restart.sh"

cleanup() {
	[ -f "$PIDF" ] && kill -9 "$(cat "$PIDF")" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

check() { # desc cond...
	d=$1; shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fail=1; fi
}

run() { # fresh virtiofsd for every phx-front run (it exits on disconnect)
	"$T/restart.sh"
	timeout 120 "$FRONT" --socket "$SOCK" --label virtiofsd "$@"
}

out=$(run smoke); rc=$?
echo "$out" | grep -v '^ok'
check "smoke: every opcode against virtiofsd" [ $rc -eq 0 ]

out=$(run bench --workload getattr --depth 1 --seconds 1 2>&1); rc=$?
echo "$out"
check "bench getattr depth 1" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q 'errors=0 proto_errors=0' && ! echo '$out' | grep -q ' ops=0 '"

out=$(run bench --workload randread --depth 16 --seconds 1 --file-mb 8 --dir phx-test 2>&1); rc=$?
echo "$out"
check "bench randread depth 16 (verified)" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q 'errors=0 proto_errors=0'"

"$T/restart.sh"
out=$(timeout 300 "$FRONT" --socket "$SOCK" hostile --restart-cmd "$T/restart.sh" 2>/dev/null)
echo "$out"
check "hostile: 50 cases reported" [ "$(echo "$out" | grep -c '^\(not \)\?ok ')" -eq 50 ]
check "hostile: summary line" sh -c "echo '$out' | tail -1 | grep -q '^[0-9]* passed, [0-9]* failed'"
# Cases virtiofsd 7.2 is known to handle: regressions in the harness
# itself would turn these into failures.
for n in 1 2 8 9 10 12 18 22 35; do
	check "hostile: case $n ok against virtiofsd" sh -c "echo '$out' | grep -q '^ok $n '"
done
# The known virtiofsd abort: CREATE without O_EXCL of an existing file.
check "hostile: case 13 detects the virtiofsd abort" sh -c "echo '$out' | grep -q '^not ok 13 '"

out=$(run chaos --seconds 2 --depth 16 2>&1); rc=$?
echo "$out"
check "chaos without kills passes" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q 'result=PASS'"

"$T/restart.sh"
start=$(date +%s)
out=$(timeout 60 "$FRONT" --socket "$SOCK" --label virtiofsd chaos --seconds 5 --depth 16 --kill-cmd "kill -9 \$(cat $PIDF)" --every-ms 500 2>&1); rc=$?
echo "$out"
check "chaos notices virtiofsd dying (no hang)" sh -c "[ $rc -eq 1 ] && echo '$out' | grep -q 'reason=\"backend closed the socket\"' && [ $(( $(date +%s) - start )) -lt 30 ]"

exit $fail
