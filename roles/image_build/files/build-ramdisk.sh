#!/usr/bin/env bash
# Builds the Stackwright deploy ramdisk from Debian packages only:
#   OUTDIR/vmlinuz         the kernel of linux-image-amd64's current version
#   OUTDIR/initrd          gzip'd newc cpio: busybox-static, ramdisk/init,
#                          the modules of ramdisk/modules.list + dependencies
#   OUTDIR/ramdisk.sha256  sha256sum lines of both (check: cd OUTDIR && sha256sum -c)
#
# Usage: build-ramdisk.sh [--check] OUTDIR [CACHEDIR]
#
#   --check  only say what would happen (needs CACHEDIR): prints the key and
#            "result cache-hit" or "result would-build"; downloads, installs
#            and writes nothing.
# The last lines of a run are "build-ramdisk: cache CACHEDIR/<key>" (with a
# CACHEDIR) and "build-ramdisk: result cache-hit|built|would-build".
#
# Packages come from the host's configured apt sources (`apt-get download`, so
# they are verified against the signed indexes): the versioned kernel package
# that linux-image-amd64 depends on, and busybox-static. Module dependencies
# (modules.dep, modules.softdep, aliases) are resolved with the host's kmod
# against the kernel's own tree (depmod -b; modprobe -d --show-depends); the
# initrd gets a flat load-order list (/etc/sw-ramdisk/modules) that /init
# insmods, so no modprobe is needed at run time.
#
# Reproducible: fixed mtimes, sorted cpio members, numeric root owners,
# cpio --reproducible, gzip -n (bit-identical for the same key and host
# release; cpio 2.13 and 2.15 differ in directory link counts). Cached: the key is the sha256 of this script,
# every file under ramdisk/ and the exact package versions; with CACHEDIR, a
# complete CACHEDIR/<key>/ is copied instead of building (the three most
# recently used builds are kept), and downloaded .debs are kept in
# CACHEDIR/debs/ (two versions per package).
#
# Needs root on Debian 12 or 13 (apt-get, dpkg-deb, kmod, cpio; kmod and cpio
# are installed with apt-get when missing).
# Environment: SW_RAMDISK_KERNEL_META (default linux-image-amd64); apt's own
# APT_CONFIG selects other sources (e.g. trixie packages on a bookworm host).
set -euo pipefail
umask 022
export LC_ALL=C

log() { echo "build-ramdisk: $*"; }
die() { echo "build-ramdisk: error: $*" >&2; exit 1; }

CHECK=""
if [ "${1:-}" = --check ]; then CHECK=1; shift; fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 [--check] OUTDIR [CACHEDIR]"; fi
OUTDIR=$1
CACHEDIR=${2:-}
[ -z "$CHECK" ] || [ -n "$CACHEDIR" ] || die "--check needs a CACHEDIR"
[ "$(id -u)" = 0 ] || die "must run as root (dpkg-deb -x, mknod)"
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then die "needs a Debian host (apt-get, dpkg-deb)"; fi

SCRIPT=$(readlink -f "$0")
HERE=$(dirname "$SCRIPT")
RD=$HERE/ramdisk
for f in init udhcpc.script modules.list; do
	[ -f "$RD/$f" ] || die "missing $RD/$f"
done
EPOCH=0 # mtime of every file in the initrd
START=$(date +%s)

PATH=$PATH:/usr/sbin:/sbin
install_deps() { # PACKAGE...
	log "installing build dependencies: $*"
	if ! out=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" 2>&1); then
		echo "$out" >&2
		die "apt-get install $* failed"
	fi
}
missing=()
command -v depmod >/dev/null && command -v modprobe >/dev/null || missing+=(kmod)
command -v cpio >/dev/null || missing+=(cpio)
[ ${#missing[@]} -eq 0 ] || [ -n "$CHECK" ] || install_deps "${missing[@]}"

candidate() {
	local v
	v=$(apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then die "no installable version of $1 (run apt-get update?)"; fi
	echo "$v"
}

META=${SW_RAMDISK_KERNEL_META:-linux-image-amd64}
# One apt-cache call (each one costs about a second): the candidate records of
# the kernel metapackage and of busybox-static.
show=$(apt-cache show --no-all-versions "$META" busybox-static 2>/dev/null) ||
	die "apt-cache show $META busybox-static failed (run apt-get update?)"
field() { # PACKAGE FIELD
	awk -v p="$1" -v f="$2:" '$1 == "Package:" { cur = $2 } cur == p && $1 == f { sub(/^[^:]*: */, ""); print; exit }' <<< "$show"
}
kdep=$(field "$META" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\)\( (\(.*\))\)\{0,1\}.*$/\1 \3/p' | head -n 1)
KPKG=${kdep%% *}
KVER_DEB=${kdep#* }
[ -n "$KPKG" ] || die "cannot resolve the kernel package $META depends on"
case "$KVER_DEB" in
"= "*) KVER_DEB=${KVER_DEB#= } ;;
*) KVER_DEB=$(candidate "$KPKG") ;;
esac
BBVER=$(field busybox-static Version)
[ -n "$BBVER" ] || die "no installable version of busybox-static (run apt-get update?)"
ARCH=$(dpkg --print-architecture)

KEY=$(
	{
		echo "script $(sha256sum < "$SCRIPT" | cut -d' ' -f1)"
		(cd "$RD" && find . -type f | sort | while read -r f; do
			echo "file $f $(sha256sum < "$f" | cut -d' ' -f1)"
		done)
		echo "arch $ARCH"
		echo "package $KPKG=$KVER_DEB"
		echo "package busybox-static=$BBVER"
	} | sha256sum | cut -d' ' -f1
)
log "key $KEY ($KPKG=$KVER_DEB, busybox-static=$BBVER)"

publish() { # SRC: copy the three outputs to OUTDIR
	mkdir -p "$OUTDIR"
	for f in vmlinuz initrd ramdisk.sha256; do
		cp "$1/$f" "$OUTDIR/.$f.tmp"
		mv -f "$OUTDIR/.$f.tmp" "$OUTDIR/$f"
	done
	(cd "$OUTDIR" && sha256sum --quiet -c ramdisk.sha256) || die "checksum of $OUTDIR does not verify"
}

# Keep the SW_RAMDISK_CACHE_KEEP (default 3) most recently used builds.
prune_cache() {
	find "$CACHEDIR" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{64}' \
		-printf '%T@ %p\n' | sort -rn | tail -n +$((${SW_RAMDISK_CACHE_KEEP:-3} + 1)) |
		while read -r _ d; do
			rm -rf "$d"
			log "pruned old build $(basename "$d")"
		done
}

cached() {
	[ -n "$CACHEDIR" ] && [ -f "$CACHEDIR/$KEY/ramdisk.sha256" ] &&
		(cd "$CACHEDIR/$KEY" && sha256sum --quiet -c ramdisk.sha256 2>/dev/null)
}
if [ -n "$CHECK" ]; then
	log "cache $CACHEDIR/$KEY"
	if cached; then log "result cache-hit"; else log "result would-build"; fi
	exit 0
fi
if cached; then
	publish "$CACHEDIR/$KEY"
	touch "$CACHEDIR/$KEY"
	log "cache hit: copied $CACHEDIR/$KEY to $OUTDIR (initrd $(stat -c %s "$OUTDIR/initrd") bytes) in $(($(date +%s) - START))s"
	log "cache $CACHEDIR/$KEY"
	log "result cache-hit"
	exit 0
fi

W=$(mktemp -d "${TMPDIR:-/var/tmp}/build-ramdisk.XXXXXX")
trap 'rm -rf "$W"' EXIT

# ------------------------------------------------------------- packages
fetch() { # PKG VERSION -> prints the .deb path
	local pkg=$1 ver=$2 f cached=""
	if [ -n "$CACHEDIR" ]; then
		for f in "$CACHEDIR/debs/${pkg}_"*.deb; do
			[ -f "$f" ] || continue
			if [ "$(dpkg-deb -f "$f" Package)" = "$pkg" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ]; then
				cached=$f
				break
			fi
		done
	fi
	if [ -n "$cached" ]; then
		log "using cached $(basename "$cached")" >&2
		echo "$cached"
		return
	fi
	mkdir -p "$W/dl"
	(cd "$W/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null) ||
		die "apt-get download $pkg=$ver failed"
	f=$(ls "$W/dl/${pkg}_"*.deb)
	log "downloaded $(basename "$f") ($(stat -c %s "$f") bytes)" >&2
	if [ -n "$CACHEDIR" ]; then
		mkdir -p "$CACHEDIR/debs"
		cp "$f" "$CACHEDIR/debs/.tmp.$$" && mv "$CACHEDIR/debs/.tmp.$$" "$CACHEDIR/debs/$(basename "$f")"
		# keep the two newest versions of each package
		# shellcheck disable=SC2012  # Debian package file names are plain
		ls -1t "$CACHEDIR/debs/${pkg}_"*.deb | tail -n +3 | xargs -r rm -f
	fi
	echo "$f"
}
KDEB=$(fetch "$KPKG" "$KVER_DEB")
BBDEB=$(fetch busybox-static "$BBVER")

mkdir -p "$W/kernel" "$W/busybox"
dpkg-deb -x "$KDEB" "$W/kernel"
dpkg-deb -x "$BBDEB" "$W/busybox"

moddir=""
for d in "$W"/kernel/lib/modules/* "$W"/kernel/usr/lib/modules/*; do
	[ -d "$d/kernel" ] && moddir=$d
done
[ -n "$moddir" ] || die "no modules in $KPKG"
KVER=$(basename "$moddir")
VMLINUZ=""
for f in "$W/kernel/boot/vmlinuz-$KVER" "$W/kernel/usr/lib/linux-image-$KVER/vmlinuz"; do
	[ -f "$f" ] && VMLINUZ=$f && break
done
[ -n "$VMLINUZ" ] || die "no vmlinuz-$KVER in $KPKG"
BUSYBOX=""
for f in "$W/busybox/bin/busybox" "$W/busybox/usr/bin/busybox"; do
	[ -x "$f" ] && BUSYBOX=$f && break
done
[ -n "$BUSYBOX" ] || die "no busybox in busybox-static"

# ------------------------------------------------------------- modules
# A depmod base with the tree at both lib/modules and usr/lib/modules, so
# that kmod finds it whichever module directory it was built with.
B=$W/modbase
mkdir -p "$B/lib/modules" "$B/usr/lib"
mv "$moddir" "$B/lib/modules/$KVER"
ln -s ../../lib/modules "$B/usr/lib/modules"
depmod -b "$B" "$KVER"

R=$W/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,mnt,root,etc/sw-ramdisk,lib/modules/"$KVER"}
chmod 1777 "$R/tmp"
: > "$W/order"
nmods=0
while read -r name _; do
	case "$name" in '' | '#'*) continue ;; esac
	out=$(modprobe -d "$B" -S "$KVER" --show-depends --ignore-install "$name" 2>&1) ||
		die "module $name: $out"
	while read -r kind path _; do
		case "$kind" in
		builtin) log "module $path is built into the kernel" ;;
		insmod)
			rel=${path#"$B/lib/modules/$KVER/"}
			rel=${rel#"$B/usr/lib/modules/$KVER/"}
			dst=${rel%.xz}
			dst=${dst%.zst}
			dst=${dst%.gz}
			grep -qxF "$dst" "$W/order" && continue
			mkdir -p "$(dirname "$R/lib/modules/$KVER/$dst")"
			case "$rel" in
			*.ko) cp "$B/lib/modules/$KVER/$rel" "$R/lib/modules/$KVER/$dst" ;;
			*.ko.xz) # Debian 13: xz-compressed; busybox (static) can unpack them too
				if command -v xz >/dev/null; then
					xz -dc "$B/lib/modules/$KVER/$rel" > "$R/lib/modules/$KVER/$dst"
				else
					"$BUSYBOX" xzcat "$B/lib/modules/$KVER/$rel" > "$R/lib/modules/$KVER/$dst"
				fi
				;;
			*.ko.zst)
				command -v zstd >/dev/null || install_deps zstd
				zstd -q -dc "$B/lib/modules/$KVER/$rel" > "$R/lib/modules/$KVER/$dst"
				;;
			*.ko.gz) gzip -dc "$B/lib/modules/$KVER/$rel" > "$R/lib/modules/$KVER/$dst" ;;
			*) die "unexpected module file $rel" ;;
			esac
			echo "$dst" >> "$W/order"
			nmods=$((nmods + 1))
			;;
		*) die "module $name: unexpected modprobe output: $kind $path" ;;
		esac
	done <<< "$out"
done < "$RD/modules.list"
{
	echo "# load order, generated by build-ramdisk.sh from modules.list"
	cat "$W/order"
} > "$R/etc/sw-ramdisk/modules"

# ------------------------------------------------------------- root tree
cp "$BUSYBOX" "$R/bin/busybox"
chmod 0755 "$R/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
	[ -e "$R/$applet" ] || [ -L "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done
[ -L "$R/bin/sh" ] || ln -s busybox "$R/bin/sh"
install -m 0755 "$RD/init" "$R/init"
install -m 0755 "$RD/udhcpc.script" "$R/etc/sw-ramdisk/udhcpc.script"
echo "build $KEY busybox-static $BBVER" > "$R/etc/sw-ramdisk/build"
mknod -m 0600 "$R/dev/console" c 5 1
mknod -m 0666 "$R/dev/null" c 1 3
find "$R" -exec touch -h -d "@$EPOCH" {} +

# ------------------------------------------------------------- artifacts
O=$W/out
mkdir -p "$O"
(cd "$R" && find . -mindepth 1 -print0 | sort -z |
	cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 > "$O/initrd"
cp "$VMLINUZ" "$O/vmlinuz"
touch -d "@$EPOCH" "$O/initrd" "$O/vmlinuz"
(cd "$O" && sha256sum vmlinuz initrd > ramdisk.sha256)

if [ -n "$CACHEDIR" ]; then
	mkdir -p "$CACHEDIR"
	rm -rf "${CACHEDIR:?}/$KEY"
	cp -a "$O" "$CACHEDIR/.$KEY.tmp.$$"
	mv "$CACHEDIR/.$KEY.tmp.$$" "$CACHEDIR/$KEY"
	touch "$CACHEDIR/$KEY"
	prune_cache
fi
publish "$O"
log "built kernel $KVER, $nmods modules, busybox $BBVER: initrd $(stat -c %s "$O/initrd") bytes ($(du -sk "$R" | cut -f1) KiB unpacked), vmlinuz $(stat -c %s "$O/vmlinuz") bytes, in $(($(date +%s) - START))s"
sed 's/^/build-ramdisk: /' "$O/ramdisk.sha256"
[ -z "$CACHEDIR" ] || log "cache $CACHEDIR/$KEY"
log "result built"
