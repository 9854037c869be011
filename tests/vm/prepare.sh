#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fetches a Debian 6.1 kernel and builds the base busybox initramfs for the
# tests/vm guests, into ${PHX_VM_CACHE:-<repo>/.cache/vm}. Idempotent: a
# second run only checks that the outputs exist. Prints the paths as
# KERNEL=..., INITRD=... lines (sourceable by sh).
#
# The base initramfs holds busybox, the virtio/fuse/virtiofs modules
# (uncompressed: busybox insmod cannot read .ko.xz) and /init. run.sh appends
# a second cpio archive with /phx/script and the --add files; /init runs it.
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${PHX_VM_CACHE:-$REPO/.cache/vm}
KVER_WANT=6.1.0-56-amd64
# Bump when the initramfs layout or /init changes, so caches rebuild.
LAYOUT=3
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
      virtio_pci fuse virtiofs"

die() { echo "prepare.sh: $*" >&2; exit 1; }

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
# Concurrent runs (meson test -j) share the cache: one builder at a time.
exec 9>"$CACHE/.lock"
flock 9

# ---- kernel ---------------------------------------------------------------
if [ ! -s "$CACHE/vmlinuz" ] || [ ! -d "$CACHE/modules" ]; then
	command -v apt-get >/dev/null || die "apt-get not found"
	pkg="linux-image-$KVER_WANT"
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		# Fall back to the newest 6.1.0-N-amd64 image the archive has.
		pkg=$(apt-cache search --names-only \
		    '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' |
		    sort -V | tail -1)
		[ -n "$pkg" ] || die "no linux-image-6.1.0-*-amd64 in apt"
		echo "prepare.sh: $KVER_WANT not available, using $pkg" >&2
	fi
	dl=$(mktemp -d)
	chmod 777 "$dl"	# apt-get download drops privileges to _apt
	(cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" \
	    >/dev/null) || die "apt-get download $pkg failed"
	deb=$(ls "$dl"/*.deb)
	dpkg-deb -x "$deb" "$dl/x"
	kver=${pkg#linux-image-}
	rm -rf "$CACHE/modules.tmp"
	mkdir -p "$CACHE/modules.tmp"
	for m in $MODS; do
		f=$(find "$dl/x/lib/modules/$kver" -name "$m.ko" -o \
		    -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
		[ -n "$f" ] || die "module $m not found in $pkg"
		case $f in
		*.xz) xz -dc "$f" >"$CACHE/modules.tmp/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$CACHE/modules.tmp/$m.ko" ;;
		*) cp "$f" "$CACHE/modules.tmp/$m.ko" ;;
		esac
	done
	cp "$dl/x/boot/vmlinuz-$kver" "$CACHE/vmlinuz.tmp"
	echo "$kver" >"$CACHE/kver"
	rm -rf "$CACHE/modules"
	mv "$CACHE/modules.tmp" "$CACHE/modules"
	mv "$CACHE/vmlinuz.tmp" "$CACHE/vmlinuz"
	rm -rf "$dl"
	rm -f "$CACHE/initrd.img" "$CACHE/vmlinux" "$CACHE/vmlinux.failed"
fi

# ---- uncompressed vmlinux for PVH boot -----------------------------------
# Under TCG, the bzImage's own xz decompressor takes ~4.5 s before the kernel
# prints anything. QEMU boots an ELF vmlinux with a Xen PVH note directly
# (Debian sets CONFIG_PVH), so unpack it once here.
if [ ! -s "$CACHE/vmlinux" ] && [ ! -e "$CACHE/vmlinux.failed" ]; then
	python3 - "$CACHE/vmlinuz" "$CACHE/vmlinux.tmp" <<'PY' &&
import gzip, lzma, sys
d = open(sys.argv[1], "rb").read()
for magic, unpack in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor(
        format=lzma.FORMAT_XZ).decompress(b)),
        (b"\x1f\x8b\x08\x00", lambda b: gzip.GzipFile(fileobj=__import__(
        "io").BytesIO(b)).read())):
    i = d.find(magic)
    while i >= 0:
        try:
            out = unpack(d[i:])
            if out[:4] == b"\x7fELF":
                open(sys.argv[2], "wb").write(out)
                sys.exit(0)
        except Exception:
            pass
        i = d.find(magic, i + 1)
sys.exit(1)
PY
	mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux" ||
	    { rm -f "$CACHE/vmlinux.tmp"; touch "$CACHE/vmlinux.failed"; }
fi

# ---- base initramfs -------------------------------------------------------
stamp="$LAYOUT $(sha256sum "$REPO/tests/vm/prepare.sh" | cut -c1-16)"
if [ ! -s "$CACHE/initrd.img" ] || [ "$(cat "$CACHE/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
	BB=/bin/busybox
	[ -x "$BB" ] || BB=$(command -v busybox) || die "busybox missing"
	file -L "$BB" 2>/dev/null | grep -q 'dynamically' &&
	    die "$BB is not static (install busybox-static)"
	command -v cpio >/dev/null || die "cpio missing (scripts/deps.sh)"
	root=$(mktemp -d)
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,mnt,tmp,phx,lib/modules,etc}
	cp "$BB" "$root/bin/busybox"
	for a in $("$BB" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	cp "$CACHE"/modules/*.ko "$root/lib/modules/"
	echo "$MODS" | tr -s ' \n' '  ' >"$root/lib/modules/order"
	cat >"$root/init" <<'EOF'
#!/bin/sh
# phoenixfsd test guest init (built by tests/vm/prepare.sh).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m.ko || echo "PHX-INIT: insmod $m failed"
done
tag=$(sed -n 's/.*phx.tag=\([^ ]*\).*/\1/p' /proc/cmdline)
opts=$(sed -n 's/.*phx.mntopts=\([^ ]*\).*/\1/p' /proc/cmdline)
i=0
while ! mount -t virtiofs ${opts:+-o $opts} "${tag:-myfs}" /mnt; do
	i=$((i + 1))
	if [ $i -ge 3 ]; then
		echo "PHX-MOUNT-FAILED"
		echo "PHX-EXIT 125"
		poweroff -f
	fi
	sleep 1
done
echo "PHX-MOUNTED"
rc=0
if [ -f /phx/script ]; then
	cd /mnt
	sh /phx/script 2>&1
	rc=$?
	cd /
fi
sync
umount /mnt || { echo "PHX-INIT: umount failed"; [ $rc -ne 0 ] || rc=126; }
echo "PHX-EXIT $rc"
poweroff -f
EOF
	chmod 755 "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) \
	    >"$CACHE/initrd.img.tmp"
	mv "$CACHE/initrd.img.tmp" "$CACHE/initrd.img"
	echo "$stamp" >"$CACHE/initrd.stamp"
	rm -rf "$root"
	trap - EXIT
fi

if [ -s "$CACHE/vmlinux" ] && [ -z "${PHX_VM_BZIMAGE:-}" ]; then
	echo "KERNEL=$CACHE/vmlinux"
else
	echo "KERNEL=$CACHE/vmlinuz"
fi
echo "INITRD=$CACHE/initrd.img"
echo "KVER=$(cat "$CACHE/kver")"
