#!/usr/bin/env bash
# Builds the validation guest: a tiny kernel + initramfs that Nova boots
# directly (Glance image with kernel_id/ramdisk_id and os_command_line).
#
# Usage: build-guest-image.sh OUTDIR [KERNEL]
#
#   KERNEL  default: the node's /vmlinuz (symlink to /boot/vmlinuz-VERSION),
#           else the newest /boot/vmlinuz-*. VERSION comes from the file name
#           (not uname -r: this may run in a container on another kernel);
#           the modules are read from /lib/modules/VERSION.
#
# Writes (nothing is downloaded, everything comes from the node):
#   OUTDIR/guest-vmlinuz  a copy of KERNEL
#   OUTDIR/guest-initrd   gzip'd newc cpio: busybox (+ its shared libraries),
#                         virtio_pci/virtio_blk/virtio_net and dependencies, /init
#   OUTDIR/guest.sha256   sha256sum lines of both (cd OUTDIR && sha256sum -c)
#   OUTDIR/guest-cmdline  the kernel command line for the image property
#                         os_command_line (one line; trim the newline):
#                           console=ttyS0 quiet
#                         ttyS0 is the serial port Nova logs as the console log;
#                         quiet keeps kernel messages out of it, /init still prints.
#
# What the guest prints on the console (prefix "stackwright-guest:"):
#   stackwright-guest: booted kernel VERSION
#   stackwright-guest: eth0 IP/PREFIX            (when DHCP answers)
#   stackwright-guest: metadata uuid UUID        (the instance's id from
#                                                 169.254.169.254, once; "metadata
#                                                 unreachable" after a minute without)
#   stackwright-guest: disks NAME...             (/sys/block, again on every change,
#                                                 checked every 5 s: a hot-plugged
#                                                 volume shows up as a new line with vdb;
#                                                 no names at all when there is no disk)
#
# Reproducible: the same inputs give the same bytes (sorted members, inode
# numbers by position, root owners, mtime 0, gzip -n; written by python3, or by
# cpio --reproducible when python3 is missing, see "archive" below).
# The last line printed is "unchanged" when OUTDIR already held identical files
# (they are left untouched), else "built" (for an Ansible changed_when).
#
# Needs root (mknod) on Debian 12 or 13 with the packages busybox (or
# busybox-static), python3 or cpio, kmod's modules.dep for the kernel, and xz
# or zstd when the modules are compressed that way.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/sbin:/sbin

log() { echo "build-guest-image: $*"; }
die() {
	echo "build-guest-image: error: $*" >&2
	exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 OUTDIR [KERNEL]"; fi
OUTDIR=$1
KERNEL=${2:-}
[ "$(id -u)" = 0 ] || die "must run as root (mknod /dev/console in the initramfs)"
START=$(date +%s)
CMDLINE="console=ttyS0 quiet"
# Modules to see a hot-plugged virtio disk and the virtio NIC; their
# dependencies come from modules.dep.
MODULES="virtio_pci virtio_blk virtio_net"

# ------------------------------------------------------------------ kernel
if [ -z "$KERNEL" ]; then
	if [ -e /vmlinuz ]; then
		KERNEL=/vmlinuz
	else
		KERNEL=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -type f 2>/dev/null | sort -V | tail -n 1)
		[ -n "$KERNEL" ] || die "no kernel: neither /vmlinuz nor /boot/vmlinuz-* exists (install linux-image-amd64 or pass KERNEL)"
	fi
fi
# /vmlinuz is a symlink: its target's name carries the version.
KFILE=$(readlink -f "$KERNEL") || die "cannot resolve $KERNEL"
[ -f "$KFILE" ] || die "kernel $KERNEL not found"
case "$(basename "$KFILE")" in
vmlinuz-?*) KVER=${KFILE##*/vmlinuz-} ;;
*) die "cannot tell the kernel version of $KFILE: its name must be vmlinuz-VERSION" ;;
esac
MODDIR=""
for d in "/lib/modules/$KVER" "/usr/lib/modules/$KVER"; do
	[ -f "$d/modules.dep" ] && MODDIR=$d && break
done
[ -n "$MODDIR" ] || die "no /lib/modules/$KVER/modules.dep: install the modules of kernel $KVER (linux-image-$KVER) or run depmod $KVER"

# ------------------------------------------------------------------ busybox
BUSYBOX=""
for f in /usr/bin/busybox /bin/busybox; do
	[ -x "$f" ] && BUSYBOX=$f && break
done
[ -n "$BUSYBOX" ] || die "no busybox (/usr/bin/busybox, /bin/busybox): install the Debian package busybox (or busybox-static)"

W=$(mktemp -d "${TMPDIR:-/var/tmp}/build-guest-image.XXXXXX")
trap 'rm -rf "$W"' EXIT
R=$W/root
mkdir -p "$R"/{bin,dev,etc,proc,sys,tmp,run,lib/modules}
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
chmod 0755 "$R/bin/busybox"
# A dynamic busybox (package busybox) needs its libraries at the paths ldd
# shows (the loader's path is compiled in); busybox-static needs none.
nlibs=0
if ldd_out=$(ldd "$BUSYBOX" 2>/dev/null); then
	! grep -q 'not found' <<< "$ldd_out" || die "ldd $BUSYBOX: $(grep 'not found' <<< "$ldd_out" | tr -s ' \t' ' ')"
	while read -r lib; do
		[ -n "$lib" ] || continue
		[ -f "$lib" ] || die "ldd $BUSYBOX lists $lib, which does not exist"
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
		nlibs=$((nlibs + 1))
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<< "$ldd_out" | sort -u)
fi
APPLETS=$("$BUSYBOX" --list) || die "$BUSYBOX --list failed"
# The applets /init and the DHCP script use: the first group is required.
for a in sh mount insmod uname sleep wget sed timeout; do
	grep -qxF "$a" <<< "$APPLETS" || die "$BUSYBOX has no applet $a"
	ln -s busybox "$R/bin/$a"
done
for a in cat ls mkdir ip udhcpc; do
	if grep -qxF "$a" <<< "$APPLETS"; then ln -s busybox "$R/bin/$a"; fi
done

# ------------------------------------------------------------------ modules
# modules.dep lines: "kernel/.../m.ko[.xz]: dep.ko ...". Each dependency has
# its own line; load the dependencies first, recursively (what modprobe does).
declare -A SEEN=()
: > "$W/order"
dep_line() { # NAME -> the modules.dep line of NAME (- and _ are the same)
	awk -v want="$1" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n)
		if (n == want) { print; exit } }' "$MODDIR/modules.dep"
}
# grep without -q: under pipefail, grep -q leaving at the first match can kill the
# writer with SIGPIPE and fail the pipeline although the line was there.
is_compiled_in() { # NAME
	[ -f "$MODDIR/modules.builtin" ] &&
		sed 's,.*/,,; s,\.ko$,,; s,-,_,g' "$MODDIR/modules.builtin" | grep -xF "$1" >/dev/null
}
add_module() { # RELPATH (as in modules.dep)
	local rel=$1 line dep dst
	[ -z "${SEEN[$rel]:-}" ] || return 0
	SEEN[$rel]=1
	line=$(awk -F: -v rel="$rel" '$1 == rel { print; exit }' "$MODDIR/modules.dep")
	[ -n "$line" ] || die "$rel has no line in $MODDIR/modules.dep"
	for dep in ${line#*:}; do
		add_module "$dep"
	done
	[ -f "$MODDIR/$rel" ] || die "$MODDIR/$rel is missing"
	dst=lib/modules/$KVER/${rel%.ko*}.ko
	mkdir -p "$(dirname "$R/$dst")"
	# busybox insmod wants plain ELF: decompress (Debian 13 ships .ko.xz)
	case "$rel" in
	*.ko) cp "$MODDIR/$rel" "$R/$dst" ;;
	*.ko.xz)
		if command -v xz >/dev/null; then xz -dc "$MODDIR/$rel" > "$R/$dst"; else "$BUSYBOX" xzcat "$MODDIR/$rel" > "$R/$dst"; fi
		;;
	*.ko.gz) gzip -dc "$MODDIR/$rel" > "$R/$dst" ;;
	*.ko.zst)
		command -v zstd >/dev/null || die "$rel is zstd-compressed: install the package zstd"
		zstd -q -dc "$MODDIR/$rel" > "$R/$dst"
		;;
	*) die "unexpected module file $rel" ;;
	esac
	echo "/$dst" >> "$W/order"
}
compiled_in=()
for m in $MODULES; do
	line=$(dep_line "$m")
	if [ -n "$line" ]; then
		add_module "${line%%:*}"
	elif is_compiled_in "$m"; then
		compiled_in+=("$m")
	else
		die "kernel $KVER has no module $m (neither in modules.dep nor in modules.builtin)"
	fi
done
cp "$W/order" "$R/etc/guest-modules"
nmods=$(wc -l < "$W/order")

# ------------------------------------------------------------------ /init
cat > "$R/init" << 'EOF'
#!/bin/sh
# Stackwright validation guest, PID 1 (built by build-guest-image.sh).
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
while read -r m; do
	insmod "$m" || echo "stackwright-guest: insmod $m failed"
done < /etc/guest-modules
# the empty line: with quiet, the firmware's last output may still be on the console's line
echo
echo "stackwright-guest: booted kernel $(uname -r)"
if [ -e /sys/class/net/eth0 ] && [ -x /bin/udhcpc ] && [ -x /bin/ip ]; then
	ip link set lo up
	# In the background, retrying for ever: the disk lines must not wait for DHCP.
	# staticroutes (option 121): the route to the metadata service, as cloud-init asks.
	udhcpc -f -i eth0 -s /etc/udhcpc.script -O staticroutes -t 5 -T 3 -A 10 >/dev/null 2>&1 &
fi
last="-"
while :; do
	disks=""
	for d in /sys/block/*; do
		[ -e "$d" ] && disks="$disks ${d##*/}"
	done
	if [ "$disks" != "$last" ]; then
		echo "stackwright-guest: disks${disks}"
		last=$disks
	fi
	sleep 5
done
EOF
cat > "$R/etc/udhcpc.script" << 'EOF'
#!/bin/sh
# udhcpc hook: configure $interface (mask is the prefix length here).
case "$1" in
deconfig)
	ip addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	for r in $router; do
		ip route replace default via "$r" dev "$interface"
		break
	done
	# "dest/len gateway" pairs; a default route here wins over the router option (RFC 3442)
	set -- $staticroutes
	while [ $# -ge 2 ]; do
		ip route replace "$1" via "$2" dev "$interface"
		shift 2
	done
	echo "stackwright-guest: $interface $ip/$mask" > /dev/console
	# Once: the instance's id from the metadata service, as cloud-init reads it
	# (retried for a minute: the metadata path may come up after the address).
	if [ ! -e /run/metadata ]; then
		: > /run/metadata
		(
			for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
				# timeout, not wget -T: busybox 1.35's wget (Debian 12) crashes with -T
				uuid=$(timeout 10 wget -q -O - http://169.254.169.254/openstack/latest/meta_data.json 2>/dev/null |
					sed -n 's/.*"uuid": *"\([0-9a-f-]*\)".*/\1/p')
				if [ -n "$uuid" ]; then
					echo "stackwright-guest: metadata uuid $uuid" > /dev/console
					exit 0
				fi
				sleep 5
			done
			echo "stackwright-guest: metadata unreachable" > /dev/console
		) </dev/null >/dev/null 2>&1 &
	fi
	;;
esac
exit 0
EOF
chmod 0755 "$R/init" "$R/etc/udhcpc.script"
mknod -m 0600 "$R/dev/console" c 5 1
mknod -m 0666 "$R/dev/null" c 1 3
find "$R" -exec touch -h -d @0 {} +

# ------------------------------------------------------------------ archive
O=$W/out
mkdir -p "$O"
write_cpio_python() { # NUL-separated names on stdin -> newc on stdout: inodes 1.., root owners, mtime 0
	python3 -c '
import os, stat, sys
out = sys.stdout.buffer
size = 0
def entry(name, mode=0, nlink=1, data=b"", rdev=0, ino=0):
    global size
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, os.major(rdev), os.minor(rdev), len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"
    blob = head + b"\0" * (-len(head) % 4) + data + b"\0" * (-len(data) % 4)
    out.write(blob)
    size += len(blob)
ino = 0
for name in sorted(n for n in sys.stdin.buffer.read().split(b"\0") if n):
    st = os.lstat(name)
    data = b""
    if stat.S_ISLNK(st.st_mode):
        data = os.readlink(name)
    elif stat.S_ISREG(st.st_mode):
        with open(name, "rb") as f:
            data = f.read()
    ino += 1
    entry(name[2:] if name.startswith(b"./") else name, st.st_mode,
          2 if stat.S_ISDIR(st.st_mode) else 1, data, st.st_rdev, ino)
entry(b"TRAILER!!!")
out.write(b"\0" * (-size % 512))
'
}
# python3 first: its headers depend on nothing but the sorted names and contents.
# GNU cpio 2.13 (Debian 12) --reproducible is not: on a freshly made tree it
# numbers inodes and counts directory links differently from run to run, so
# with cpio a re-run may say "built" although every member is the same.
if command -v python3 >/dev/null; then
	WRITER=python3
	(cd "$R" && find . -mindepth 1 -print0 | sort -z | write_cpio_python) | gzip -n -9 > "$O/guest-initrd"
elif command -v cpio >/dev/null && cpio --help 2>&1 | grep -e --reproducible >/dev/null; then
	WRITER=cpio
	(cd "$R" && find . -mindepth 1 -print0 | sort -z |
		cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 > "$O/guest-initrd"
else
	die "neither python3 nor cpio (2.13 or later): install the package cpio"
fi
cp "$KFILE" "$O/guest-vmlinuz"
(cd "$O" && sha256sum guest-vmlinuz guest-initrd > guest.sha256)
echo "$CMDLINE" > "$O/guest-cmdline"

# ------------------------------------------------------------------ publish
OUTPUTS="guest-vmlinuz guest-initrd guest.sha256 guest-cmdline"
same=1
for f in $OUTPUTS; do
	cmp -s "$O/$f" "$OUTDIR/$f" 2> /dev/null || same=""
done
if [ -z "$same" ]; then
	mkdir -p "$OUTDIR"
	for f in $OUTPUTS; do
		cmp -s "$O/$f" "$OUTDIR/$f" 2> /dev/null && continue
		cp "$O/$f" "$OUTDIR/.$f.tmp"
		mv -f "$OUTDIR/.$f.tmp" "$OUTDIR/$f"
	done
fi

how="${#compiled_in[@]} of the wanted modules compiled into the kernel"
[ ${#compiled_in[@]} -eq 0 ] || how="$how (${compiled_in[*]})"
log "kernel $KVER ($KFILE), $nmods modules from $MODDIR, $how"
log "busybox $BUSYBOX ($([ "$nlibs" -gt 0 ] && echo "$nlibs shared libraries" || echo static)), archive written with $WRITER"
for f in guest-vmlinuz guest-initrd; do
	log "$f $(stat -c %s "$O/$f") bytes"
done
sed 's/^/build-guest-image: /' "$O/guest.sha256"
log "command line: $CMDLINE"
log "$OUTDIR in $(($(date +%s) - START))s"
if [ -n "$same" ]; then echo unchanged; else echo built; fi
