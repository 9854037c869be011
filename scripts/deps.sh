#!/bin/sh
# Installs the Debian 12 packages phoenixfsd needs to build, test and run its
# demo. Idempotent; needs root. Only Debian's archive is used.
# `deps.sh libvirt`: only what tests/vm/libvirt.sh adds (libvirt 9.0 with
# its QEMU driver: libvirtd, virtlogd, virsh), installed by that test when
# virsh is missing, so the demo stays light.
set -e
PKGS="meson ninja-build gcc clang pkg-config liburing-dev libseccomp-dev
      qemu-system-x86 busybox-static cpio libclang-rt-14-dev python3 attr acl strace util-linux
      xfsprogs btrfs-progs"
[ "${1:-}" != libvirt ] || PKGS="libvirt-daemon-system libvirt-clients
      libvirt-daemon-driver-qemu"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
