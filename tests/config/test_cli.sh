#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the built daemon binary the way libvirt and users do, without
# starting a daemon: bad command lines exit 2 with exactly one
# "phoenixfsd: ..." line on stderr and nothing on stdout; --help, --version
# and --print-capabilities exit 0 with output on stdout only. TAP output.
# Usage: test_cli.sh PATH-TO-phoenixfsd
set -u

bin=${1:?usage: test_cli.sh PATH-TO-phoenixfsd}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

result() {	# result OK|FAIL description
	n=$((n + 1))
	if [ "$1" = OK ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fail=1
	fi
}

# bad EXPECTED-STDERR-LINE ARG...
bad() {
	want=$1
	shift
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$tmp/out" ] &&
	    [ "$(cat "$tmp/err")" = "phoenixfsd: $want" ]; then
		result OK "exit 2, one line: $*"
	else
		result FAIL "exit 2, one line: $*"
		echo "# rc=$rc, stderr:"; sed 's/^/#   /' "$tmp/err"
	fi
}

# good ARG...: exit 0, stdout not empty, stderr empty
good() {
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" -eq 0 ] && [ -s "$tmp/out" ] && [ ! -s "$tmp/err" ]; then
		result OK "exit 0: $*"
	else
		result FAIL "exit 0: $*"
		echo "# rc=$rc, stderr:"; sed 's/^/#   /' "$tmp/err"
	fi
}

bad "unknown option '--bogus'" --bogus
bad "unknown option '-o bogus'" -o bogus
bad "invalid value 'bogus' for --cache (expected auto, always, metadata or never)" \
    --shared-dir / --socket-path "$tmp/s" --cache bogus
bad "invalid value 'bogus' for --cache (expected auto, always, metadata or never)" \
    --cache=bogus
bad "invalid value 'x' for -o cache (expected auto, always, metadata or never)" \
    -o source=/,cache=x
bad "option '--socket-path' requires a value" --shared-dir / --socket-path
bad "missing --shared-dir (or -o source=DIR)" --socket-path "$tmp/s"
bad "missing --socket-path or --fd" --shared-dir /
bad "--socket-path and --fd are mutually exclusive" \
    --shared-dir / --socket-path "$tmp/s" --fd 0
bad "shared directory '$tmp/nope': No such file or directory" \
    --shared-dir "$tmp/nope" --socket-path "$tmp/s"
bad "--fd 77 is not an open socket" --shared-dir / --fd 77
bad "invalid value '0' for --queues (expected an integer from 1 to 8)" --queues 0
bad "unexpected argument 'stray'" stray
bad "--daemonize is not supported by phoenixfsd" --daemonize
# The first error wins; nothing runs.
bad "unknown option '--bogus'" --print-capabilities --bogus
[ -e "$tmp/s" ] && result FAIL "no socket created by a refused command line" ||
    result OK "no socket created by a refused command line"

good --help
good -h
# QEMU C virtiofsd's lock options are accepted (libvirt passes them).
good -o posix_lock,flock,no_posix_lock,no_flock --help
good --version
good -V
if [ "$(cat "$tmp/out")" = "$("$bin" --version)" ] &&
    grep -q '^phoenixfsd [0-9]' "$tmp/out"; then
	result OK "version line is 'phoenixfsd VERSION'"
else
	result FAIL "version line is 'phoenixfsd VERSION'"
fi
good --print-capabilities
cat >"$tmp/caps" <<'JSON'
{
  "type": "fs",
  "features": [
    "separate-options"
  ]
}
JSON
if cmp -s "$tmp/out" "$tmp/caps"; then
	result OK "capabilities JSON"
else
	result FAIL "capabilities JSON"
	sed 's/^/#   /' "$tmp/out"
fi
if command -v python3 >/dev/null &&
    ! python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out"; then
	result FAIL "capabilities output parses as JSON"
else
	result OK "capabilities output parses as JSON"
fi
# libvirt probes the binary with only this option: no --shared-dir needed.
good --print-capabilities --fd 3

echo "1..$n"
exit $fail
