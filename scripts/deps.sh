#!/bin/sh
# Installs the Debian 12 packages phoenixfsd needs to build, test and run its
# demo. Idempotent; needs root. Only Debian's archive is used.
set -e
PKGS="meson ninja-build gcc clang pkg-config liburing-dev libseccomp-dev
      qemu-system-x86 busybox-static cpio libclang-rt-14-dev python3 attr acl
      xfsprogs btrfs-progs"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq $missing >/dev/null
fi
