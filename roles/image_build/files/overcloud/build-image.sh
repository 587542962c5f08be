#!/usr/bin/env bash
# Builds the Stackwright overcloud image, a bootable whole-disk image of
# Debian 13 (trixie) made from Debian packages only, with the node agent:
#   OUTDIR/overcloud.raw.gz         GPT disk that boots under BIOS and UEFI:
#                                   partition 1 ext4 at 1 MiB labelled "swroot"
#                                   (legacy-BIOS bootable, extlinux), partition 2
#                                   the EFI system partition after it (FAT32,
#                                   GRUB as the removable-media loader)
#   OUTDIR/overcloud.raw.gz.sha256  sha256sum line of the .gz
#   OUTDIR/overcloud.manifest       installed packages: name, version, arch
#
# Usage: build-image.sh OUTDIR CACHEDIR [--packages-file FILE|none]
#                       [--agent-dir DIR] [--check]
#
#   --packages-file FILE  extra packages, one per line ('#' comments); the
#                         default is packages-openstack.txt next to this script;
#                         "none" builds the base image (systemd, SSH, python3,
#                         LVM, iSCSI, networkd, the agent) without extra packages.
#   --agent-dir DIR       the node agent's source: DIR/stackwright_agent/ (the
#                         package) and DIR/systemd/stackwright-agent.service;
#                         default: the repository's agent/ (../../../../agent
#                         from this script).
#   --check               only say what would happen: prints the key and
#                         "result cache-hit" or "result would-build"; builds,
#                         installs and writes nothing (OUTDIR is not touched).
#
# A run reports "build-image: result cache-hit|built|would-build" and
# "build-image: cache DIR", its cache entry (CACHEDIR/<key>).
#
# Steps (each prints "build-image: time STEP SECONDS"):
#   debootstrap  --variant=minbase trixie from the host's configured Debian
#                mirror (first non-security URI of /etc/apt/sources.list{,.d});
#   packages     base set + the packages file, --no-install-recommends,
#                noninteractive, debconf-openstack.txt preseeded, a
#                policy-rc.d that exits 101 so no service starts in the chroot;
#   configure    rootfs/ overlay (fstab, extlinux.conf, networkd fallback,
#                sshd, first-boot units, the systemd preset), the agent (as
#                roles/agent installs it: /usr/local/lib/stackwright-agent with
#                its SOURCE_SHA256 marker, /usr/local/sbin/stackwright-agent,
#                the unit, /etc/stackwright/agent.json), `systemctl preset-all`
#                (etc/systemd/system-preset/10-stackwright.preset: only what
#                every node needs at boot is enabled, every unit a package
#                enabled is disabled; the roles enable services), the one
#                update-initramfs (MODULES=most), node-specific state removed
#                (machine-id, SSH host keys, resolv.conf, apt lists);
#   filesystem   raw disk sized content + 5% + 128 MiB (growroot takes the rest
#                of the disk at first boot, moving the ESP to the disk's end),
#                GPT by sfdisk, ext4 made from the staging directory by
#                mkfs.ext4 -d straight into the disk file at the 1 MiB offset
#                (no mount);
#   bootloader   BIOS: the partition mounted through a loop device for
#                `extlinux --install` (it needs a mounted filesystem and the
#                partition's offset), syslinux's gptmbr.bin in the first 440
#                bytes. UEFI: GRUB built standalone (grub-mkstandalone, the
#                host's grub-efi-amd64-bin) with extlinux.conf's kernel line,
#                as \EFI\BOOT\BOOTX64.EFI on the ESP (made by mkfs.fat and
#                mtools, no mount): firmware boots it without a boot entry, so
#                nothing in NVRAM has to be written at deploy time;
#   compress     pigz -1 (gzip -1 without pigz), sha256, manifest.
#
# Agent version: SOURCE_SHA256 is the sha256 of the lines
# "<sha256 of the file>  <path>" (sha256sum's format) of every regular file
# under stackwright_agent/ (paths relative to the agent directory, sorted
# bytewise; __pycache__ and *.pyc left out). roles/agent computes the same to
# skip reinstalling an agent that is already there.
#
# Cache: the key is the sha256 of this script, every file under rootfs/, the
# debconf selections, the packages file (or "none"), the suite, the agent
# (SOURCE_SHA256 and the unit) and the package versions on offer: the SHA256
# lines of the main/binary-amd64 and main/binary-all Packages indexes in the
# mirror's InRelease of trixie, trixie-updates and (with a security mirror)
# trixie-security, fetched at every run (a new package version is a new key;
# a re-signed InRelease with the same indexes is not). When CACHEDIR/<key>/
# holds a complete build (its .gz verifies against its .sha256) the outputs
# are hard-linked (or copied) to OUTDIR and nothing is built. The
# SW_IMAGE_CACHE_KEEP (default 2) most recently used builds are kept;
# downloaded .debs are kept in CACHEDIR/debs/ (only current versions). Builds
# sharing a CACHEDIR run one at a time (flock CACHEDIR/.lock).
#
# Cleanup: the build runs in a private mount namespace (unshare -m), so its
# mounts cannot leak to the host even if it is killed; on exit it unmounts,
# detaches its loop device, stops anything left running in the chroot (by
# PID) and removes its work directory (only once nothing is mounted in it).
#
# Needs root on a Debian host (12 or 13). Installs missing build tools with
# apt-get: debootstrap, e2fsprogs, fdisk, extlinux, syslinux-common, pigz,
# grub-efi-amd64-bin, dosfstools, mtools.
# Environment: SW_IMAGE_MIRROR / SW_IMAGE_SECURITY_MIRROR override the
# mirrors read from the host's apt sources (not part of the cache key),
# TMPDIR (default /var/tmp) for the work directory (several GiB).
# The whole script is one { ... } block: bash parses it completely before
# running it, so editing this file during a build cannot derail that build.
{
set -euo pipefail
umask 022
export LC_ALL=C
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

PROG=build-image
log() { echo "$PROG: $*"; }
warn() { echo "$PROG: warning: $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage() { die "usage: $0 OUTDIR CACHEDIR [--packages-file FILE|none] [--agent-dir DIR] [--check]"; }

SUITE=trixie
ARCH=amd64
LABEL=swroot
PART_START_MIB=1
# The EFI system partition: FAT32 (what the UEFI specification names; some
# firmware reads nothing else) needs at least 65525 clusters, so 64 MiB.
ESP_MIB=64
ESP_LABEL=SW-ESP
BASE_PACKAGES=(
	linux-image-amd64 systemd-sysv udev openssh-server python3 iproute2 lvm2 open-iscsi sudo ca-certificates
	# initramfs-tools is linux-image-amd64's first choice anyway; zstd is
	# what its COMPRESS=zstd needs (a Recommends), e2fsprogs gives fsck.ext4
	# and resize2fs, fdisk gives sfdisk (growroot), dbus serves systemctl's
	# friends and libvirt, systemd-resolved takes the DNS servers networkd
	# learns, libnss-myhostname resolves the node's own name (sudo, RabbitMQ).
	initramfs-tools zstd e2fsprogs fdisk dbus systemd-resolved libnss-myhostname
	# curl: HTTP from the node (and to the agent's socket: curl --unix-socket).
	# The agent itself needs python3, iproute2, lvm2 and util-linux (above or
	# essential); python3-libvirt only where libvirt is (packages-openstack.txt).
	curl
)
# The agent, installed as roles/agent installs it (same paths, same files).
AGENT_INSTALL_DIR=/usr/local/lib/stackwright-agent
AGENT_CONFIG=/etc/stackwright/agent.json
# Kernel modules that must be in the initramfs (or built in) so that root is
# found on virtio, SATA (AHCI) and SCSI disks.
REQUIRED_MODULES=(virtio_blk virtio_scsi virtio_pci ahci sd_mod ext4)

# ---------------------------------------------------------------- arguments
OUTDIR="" CACHEDIR="" PKGFILE="" AGENT_DIR="" CHECK="" W=""
SCRIPT=$(readlink -f "$0")
HERE=$(dirname "$SCRIPT")
args=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	--packages-file) [ $# -ge 2 ] || usage; PKGFILE=$2; shift 2 ;;
	--packages-file=*) PKGFILE=${1#*=}; shift ;;
	--agent-dir) [ $# -ge 2 ] || usage; AGENT_DIR=$2; shift 2 ;;
	--agent-dir=*) AGENT_DIR=${1#*=}; shift ;;
	--check) CHECK=1; shift ;;
	-h | --help) sed -n '2,/^# The whole script/p' "$SCRIPT" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*)
		if [ -z "$OUTDIR" ]; then OUTDIR=$1
		elif [ -z "$CACHEDIR" ]; then CACHEDIR=$1
		else usage
		fi
		shift ;;
	esac
done
if [ -z "$OUTDIR" ] || [ -z "$CACHEDIR" ]; then usage; fi
[ -n "$PKGFILE" ] || PKGFILE=$HERE/packages-openstack.txt
if [ "$PKGFILE" != none ]; then
	[ -f "$PKGFILE" ] || die "packages file $PKGFILE not found"
	PKGFILE=$(readlink -f "$PKGFILE")
fi
OVERLAY=$HERE/rootfs
SELECTIONS=$HERE/debconf-openstack.txt
[ -d "$OVERLAY" ] || die "missing $OVERLAY"
[ -f "$SELECTIONS" ] || die "missing $SELECTIONS"
[ -n "$AGENT_DIR" ] || AGENT_DIR=$HERE/../../../../agent
[ -d "$AGENT_DIR" ] || die "agent source $AGENT_DIR not found (--agent-dir DIR)"
AGENT_DIR=$(readlink -f "$AGENT_DIR")
AGENT_UNIT=$AGENT_DIR/systemd/stackwright-agent.service
[ -f "$AGENT_DIR/stackwright_agent/__init__.py" ] || die "$AGENT_DIR/stackwright_agent/ is not the agent package (--agent-dir DIR)"
[ -f "$AGENT_UNIT" ] || die "missing $AGENT_UNIT"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, loop devices)"
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
	die "needs a Debian host (apt-get, dpkg)"
fi
[ "$(dpkg --print-architecture)" = "$ARCH" ] || die "builds $ARCH images on an $ARCH host only"

# Everything below runs in a private mount namespace: the chroot's /proc,
# /sys, /dev and the loop mount vanish with the process, whatever happens.
if [ -z "${SW_IMAGE_MOUNTNS:-}" ]; then
	command -v unshare >/dev/null || die "needs unshare (util-linux)"
	SW_IMAGE_MOUNTNS=1 exec unshare --mount --propagation private -- "$SCRIPT" "${args[@]}"
fi

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
START=$(now)
TIMES=()
STEP="" STEP_START=""
step() { # NAME: ends the current step (printing its time), starts NAME
	if [ -n "$STEP" ]; then
		local t
		t=$(secs "$STEP_START")
		log "time $STEP $t"
		TIMES+=("$STEP=$t")
	fi
	STEP=$1
	STEP_START=$(now)
	[ -z "$STEP" ] || log "step $STEP"
}

# ---------------------------------------------------------------- mirrors
# The host's configured Debian mirror: the first URI (deb822 .sources or
# one-line .list) that serves a suite which is not -security, and the first
# that serves a -security suite.
MIRROR=${SW_IMAGE_MIRROR:-} SECURITY_MIRROR=${SW_IMAGE_SECURITY_MIRROR:-}
read_sources() { # prints "URI SUITE" for each deb source of the host
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: stanzas separated by blank lines; Enabled: no skips one
		awk '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && enabled != "no")
					for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
				types = ""; enabled = ""; nu = 0; ns = 0
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{ line = $0; sub(/^[^:]*:[ \t]*/, "", line); key = tolower($1) }
			key == "types:" { types = line }
			key == "enabled:" { enabled = tolower(line) }
			key == "uris:" { nu = split(line, u, /[ \t]+/) }
			key == "suites:" { ns = split(line, s, /[ \t]+/) }
			END { flush() }
		' "$f"
	done
}
while read -r uri suite; do
	case "$uri" in http://* | https://* | ftp://*) ;; *) continue ;; esac
	uri=${uri%/}
	case "$suite" in
	*-security | */updates) [ -n "$SECURITY_MIRROR" ] || SECURITY_MIRROR=$uri ;;
	*) [ -n "$MIRROR" ] || MIRROR=$uri ;;
	esac
done < <(read_sources)
[ -n "$MIRROR" ] || die "no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/ (set SW_IMAGE_MIRROR)"
log "mirror $MIRROR, security ${SECURITY_MIRROR:-(none: no $SUITE-security updates)}"

# ---------------------------------------------------------------- cache key
# The agent's version (see the header): the same on the controller (roles/agent).
agent_files() { # the agent package's files, relative to AGENT_DIR, NUL-separated, sorted
	(cd "$AGENT_DIR" && find stackwright_agent -name __pycache__ -prune -o -type f ! -name '*.pyc' -print0 | sort -z)
}
AGENT_SHA=$(cd "$AGENT_DIR" && agent_files | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
[ -n "$(agent_files | tr -d '\0')" ] || die "no files under $AGENT_DIR/stackwright_agent"

# The package versions on offer: the Packages indexes' SHA256 lines of each
# suite's InRelease (the Date and Valid-Until of a re-signed InRelease do not count).
fetch_url() { # URL: prints the document; short timeouts, one retry
	if command -v curl >/dev/null; then
		curl -fsSL --connect-timeout 10 --max-time 60 --retry 1 "$1"
	else
		python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=30).read())' "$1"
	fi
}
release_sum() { # MIRROR SUITE: sha256 of the suite's Packages index entries
	local url=$1/dists/$2/InRelease doc idx
	doc=$(fetch_url "$url" 2>&1) || die "cannot fetch $url (the package versions are part of the cache key): ${doc:0:300}"
	idx=$(awk '
		/^[^ ]/ { sha = ($0 == "SHA256:") }
		sha && $3 ~ /^main\/binary-(amd64|all)\/Packages(\.[a-z0-9]+)?$/ { print $1, $2, $3 }
	' <<< "$doc")
	[ -n "$idx" ] || die "$url lists no main/binary-amd64 Packages index under SHA256:"
	sha256sum <<< "$idx" | cut -d' ' -f1
}
RELEASES=("$MIRROR $SUITE" "$MIRROR $SUITE-updates")
[ -z "$SECURITY_MIRROR" ] || RELEASES+=("$SECURITY_MIRROR $SUITE-security")
RELEASE_SUMS=()
for r in "${RELEASES[@]}"; do
	RELEASE_SUMS+=("${r#* } $(release_sum "${r% *}" "${r#* }")")
done

pkgfile_sum=none
[ "$PKGFILE" = none ] || pkgfile_sum=$(sha256sum < "$PKGFILE" | cut -d' ' -f1)
KEY=$(
	{
		echo "script $(sha256sum < "$SCRIPT" | cut -d' ' -f1)"
		echo "selections $(sha256sum < "$SELECTIONS" | cut -d' ' -f1)"
		(cd "$OVERLAY" && find . -type f | sort | while read -r f; do
			x=644
			[ -x "$f" ] && x=755
			echo "overlay $f $x $(sha256sum < "$f" | cut -d' ' -f1)"
		done)
		echo "packages $pkgfile_sum"
		echo "suite $SUITE"
		echo "agent $AGENT_SHA"
		echo "agent-unit $(sha256sum < "$AGENT_UNIT" | cut -d' ' -f1)"
		for r in "${RELEASE_SUMS[@]}"; do echo "release $r"; done
	} | sha256sum | cut -d' ' -f1
)
OUTPUTS=(overcloud.raw.gz overcloud.raw.gz.sha256 overcloud.manifest)
log "key $KEY (packages file: $PKGFILE, suite $SUITE, agent $AGENT_SHA)"
for r in "${RELEASE_SUMS[@]}"; do log "package indexes ${r% *}: ${r#* }"; done

cache_complete() { # DIR
	local f
	for f in "${OUTPUTS[@]}"; do [ -f "$1/$f" ] || return 1; done
	(cd "$1" && sha256sum --quiet --status -c overcloud.raw.gz.sha256)
}

publish() { # SRC: hard-link (or copy) the outputs to OUTDIR
	local f
	mkdir -p "$OUTDIR"
	for f in "${OUTPUTS[@]}"; do
		# already this very file (rename(2) would do nothing and leave the .tmp)
		[ ! "$1/$f" -ef "$OUTDIR/$f" ] || continue
		rm -f "$OUTDIR/.$f.tmp"
		ln "$1/$f" "$OUTDIR/.$f.tmp" 2>/dev/null || cp "$1/$f" "$OUTDIR/.$f.tmp"
		mv -f "$OUTDIR/.$f.tmp" "$OUTDIR/$f"
	done
}

cache_hit() {
	cache_complete "$CACHEDIR/$KEY" || return 1
	publish "$CACHEDIR/$KEY"
	touch "$CACHEDIR/$KEY"
	log "cache hit: $CACHEDIR/$KEY -> $OUTDIR ($(stat -c %s "$OUTDIR/overcloud.raw.gz") bytes gz) in $(secs "$START")s"
	log "time total $(secs "$START")"
	log "cache $CACHEDIR/$KEY"
	log "result cache-hit"
}

if [ -n "$CHECK" ]; then
	[ ! -d "$CACHEDIR" ] || CACHEDIR=$(readlink -f "$CACHEDIR")
	log "cache $CACHEDIR/$KEY"
	if [ -d "$CACHEDIR" ] && cache_complete "$CACHEDIR/$KEY"; then
		log "result cache-hit"
	else
		log "result would-build"
	fi
	exit 0
fi
mkdir -p "$CACHEDIR"
CACHEDIR=$(readlink -f "$CACHEDIR")
cache_hit && exit 0

# One build per CACHEDIR at a time; whoever waited may find it built.
exec 9>"$CACHEDIR/.lock"
if ! flock -n 9; then
	log "waiting for another build using $CACHEDIR"
	flock 9
	cache_hit && exit 0
fi

# ---------------------------------------------------------------- host tools
install_deps() { # PACKAGE...
	log "installing build dependencies: $*"
	local out
	if ! out=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" 2>&1); then
		echo "$out" >&2
		return 1
	fi
}
MBR_BIN=""
find_mbr() {
	local f
	for f in /usr/lib/syslinux/mbr/gptmbr.bin /usr/lib/SYSLINUX/gptmbr.bin /usr/share/syslinux/gptmbr.bin; do
		[ -f "$f" ] && MBR_BIN=$f && return 0
	done
	return 1
}
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null || missing+=(e2fsprogs)
command -v sfdisk >/dev/null || missing+=(fdisk)
command -v extlinux >/dev/null || missing+=(extlinux)
find_mbr || missing+=(syslinux-common)
[ -d /usr/lib/grub/x86_64-efi ] && command -v grub-mkstandalone >/dev/null || missing+=(grub-efi-amd64-bin)
command -v mkfs.fat >/dev/null || missing+=(dosfstools)
command -v mcopy >/dev/null || missing+=(mtools)
command -v losetup >/dev/null && command -v partx >/dev/null && command -v flock >/dev/null || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] || install_deps "${missing[@]}" || die "cannot install ${missing[*]}"
find_mbr || die "no syslinux gptmbr.bin (syslinux-common)"
if ! command -v pigz >/dev/null; then
	install_deps pigz || warn "pigz not installable, compressing with gzip"
fi
[[ $(mkfs.ext4 2>&1 || true) == *"-d root-directory"* ]] || die "mkfs.ext4 does not support -d (e2fsprogs >= 1.43 needed)"

# ---------------------------------------------------------------- packages file
EXTRA_PACKAGES=()
if [ "$PKGFILE" != none ]; then
	while read -r p _; do
		[ -n "$p" ] && EXTRA_PACKAGES+=("$p")
	done < <(sed 's/#.*//' "$PKGFILE")
	[ ${#EXTRA_PACKAGES[@]} -gt 0 ] || die "$PKGFILE lists no packages"
fi

# ---------------------------------------------------------------- work area
W=$(readlink -f "$(mktemp -d "${TMPDIR:-/var/tmp}/build-image.XXXXXX")")
R=$W/root
DISK=$W/overcloud.raw
OUT=$W/out
DEBS=$CACHEDIR/debs
mkdir -p "$R" "$OUT" "$DEBS/partial"
MOUNTS=()
LOOP=""

chroot_pids() { # PIDs of processes whose root is the chroot
	local p root
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$root" = "$R" ] && echo "${p#/proc/}"
	done
	return 0
}
stop_chroot_processes() {
	local pids pid
	pids=$(chroot_pids)
	[ -n "$pids" ] || return 0
	for pid in $pids; do
		warn "stopping process $pid left in the chroot: $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	sleep 2
	for pid in $(chroot_pids); do kill -KILL "$pid" 2>/dev/null || true; done
}
# shellcheck disable=SC2317 # used by cleanup
mounted_under_w() { awk -v w="$W/" 'index($5 "/", w) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; }
unmount_all() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null ||
			warn "cannot unmount ${MOUNTS[$i]}"
	done
	MOUNTS=()
}
detach_loop() {
	[ -n "$LOOP" ] || return 0
	losetup -d "$LOOP" 2>/dev/null || warn "cannot detach $LOOP"
	LOOP=""
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM HUP
	[ -z "$W" ] || stop_chroot_processes
	unmount_all
	detach_loop
	if [ -n "$W" ] && [ -d "$W" ]; then
		if mounted_under_w; then
			warn "something is still mounted under $W, not removing it"
		else
			local t
			t=$(now)
			rm -rf --one-file-system "$W"
			log "time cleanup $(secs "$t")"
		fi
	fi
	[ "$rc" = 0 ] || echo "$PROG: failed${STEP:+ in step $STEP}" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mnt() { # mount ARGS... TARGET (TARGET last); remembered for cleanup
	mount "$@"
	MOUNTS+=("${!#}")
}
in_chroot() { # CHROOT_INITRD=No: the kernel's postinst makes no initramfs
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
		LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
		INITRD="${CHROOT_INITRD:-}" chroot "$R" "$@"
}
quiet() { # run a command, show its output only when it fails
	local out
	if ! out=$("$@" 2>&1); then
		echo "$out" | tail -n 60 >&2
		die "failed: $*"
	fi
}

# ---------------------------------------------------------------- debootstrap
step debootstrap
quiet debootstrap --variant=minbase --arch="$ARCH" --components=main --cache-dir="$DEBS" \
	"$SUITE" "$R" "$MIRROR"
log "debootstrap: $(du -sh "$R" | cut -f1)"

# ---------------------------------------------------------------- packages
step packages
# No service may start in the chroot.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
# apt sources of the image: the same mirror, plus updates and security.
rm -f "$R/etc/apt/sources.list"
{
	echo "Types: deb"
	echo "URIs: $MIRROR"
	echo "Suites: $SUITE $SUITE-updates"
	echo "Components: main"
	echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	if [ -n "$SECURITY_MIRROR" ]; then
		echo
		echo "Types: deb"
		echo "URIs: $SECURITY_MIRROR"
		echo "Suites: $SUITE-security"
		echo "Components: main"
		echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	fi
} > "$R/etc/apt/sources.list.d/debian.sources"
# fstab and the initramfs configuration before the kernel, so its hooks see them.
install -D -m 644 "$OVERLAY/etc/fstab" "$R/etc/fstab"
install -D -m 644 "$OVERLAY/etc/initramfs-tools/conf.d/stackwright.conf" "$R/etc/initramfs-tools/conf.d/stackwright.conf"
# One initramfs, made in "configure": none while the packages install (the
# kernel's hook honours INITRD=No, the dpkg trigger update_initramfs=no).
mkdir -p "$R/etc/initramfs-tools"
echo "update_initramfs=no" > "$R/etc/initramfs-tools/update-initramfs.conf"

mnt -t proc proc "$R/proc"
mnt -t sysfs sysfs "$R/sys"
mnt --bind /dev "$R/dev"
mnt --bind /dev/pts "$R/dev/pts"
# A /run of its own: what postinsts leave there must not end up in the image.
mnt -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
install -d -m 1777 "$R/run/lock"
mkdir -p "$R/var/cache/apt/archives"
mnt --bind "$DEBS" "$R/var/cache/apt/archives"

quiet in_chroot apt-get -o DPkg::Lock::Timeout=600 -q update
# Every name must exist in the suite: say which ones do not.
# (One apt-cache call: a virtual or unknown name has no candidate.)
installable=$(in_chroot apt-cache policy "${BASE_PACKAGES[@]}" "${EXTRA_PACKAGES[@]}" 2>/dev/null |
	awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } $1 == "Candidate:" && $2 != "(none)" { print p }')
bad=()
for p in "${BASE_PACKAGES[@]}" "${EXTRA_PACKAGES[@]}"; do
	grep -qxF "$p" <<< "$installable" || bad+=("$p")
done
[ ${#bad[@]} -eq 0 ] || die "not installable from $SUITE (no candidate; for a virtual package name its provider): ${bad[*]}"
grep -v '^[[:space:]]*\(#\|$\)' "$SELECTIONS" | in_chroot debconf-set-selections
log "installing ${#BASE_PACKAGES[@]} base + ${#EXTRA_PACKAGES[@]} listed packages"
# --force-unsafe-io: no fsync per unpacked file; the staging directory is
# only ever read back by mkfs.ext4 -d.
CHROOT_INITRD=No quiet in_chroot apt-get -o DPkg::Lock::Timeout=600 -q -y --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	-o Dpkg::Options::=--force-unsafe-io -o Dpkg::Use-Pty=0 \
	install "${BASE_PACKAGES[@]}" "${EXTRA_PACKAGES[@]}"
stop_chroot_processes
# Keep only the current versions in the .deb cache.
quiet in_chroot apt-get -o DPkg::Lock::Timeout=600 -q autoclean
log "packages: $(in_chroot dpkg-query -W -f '.\n' | wc -l) installed"

# ---------------------------------------------------------------- configure
step configure
# The overlay, owned by root, files 0644 or 0755.
(cd "$OVERLAY" && find . -type f | sort) | while read -r f; do
	m=644
	[ -x "$OVERLAY/$f" ] && m=755
	install -D -o root -g root -m "$m" "$OVERLAY/$f" "$R/${f#./}"
done
echo localhost > "$R/etc/hostname"
cat > "$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
# The agent, exactly as roles/agent installs it (its later run changes nothing):
# the package with its version marker, the command, the unit, the settings.
A=$R$AGENT_INSTALL_DIR
install -d -m 755 "$A"
agent_files | while IFS= read -r -d '' f; do
	install -D -m 644 "$AGENT_DIR/$f" "$A/$f"
done
echo "$AGENT_SHA" > "$A/SOURCE_SHA256"
chmod 644 "$A/SOURCE_SHA256"
# roles/agent/templates/stackwright-agent.j2 rendered with agent_install_dir
# and agent_python /usr/bin/python3 (tests/images compare the two).
cat > "$R/usr/local/sbin/stackwright-agent" <<WRAPPER
#!/bin/sh
# Ansible managed
# The Stackwright node agent, run from $AGENT_INSTALL_DIR by the system Python.
PYTHONPATH=$AGENT_INSTALL_DIR exec /usr/bin/python3 -m stackwright_agent --config $AGENT_CONFIG "\$@"
WRAPPER
chmod 755 "$R/usr/local/sbin/stackwright-agent"
# the unit as the role writes it: trailing newlines stripped, one added
printf '%s\n' "$(cat "$AGENT_UNIT")" > "$R/etc/systemd/system/stackwright-agent.service"
chmod 644 "$R/etc/systemd/system/stackwright-agent.service"
# The role's directories and settings (to_nice_json: sorted keys, indent 2).
install -d -m 755 "$R/etc/stackwright" "$R/var/lib/stackwright"
install -d -m 700 "$R/var/lib/stackwright/agent"
install -d -m 750 "$R/var/log/stackwright"
install -m 600 /dev/null "$R$AGENT_CONFIG"
cat > "$R$AGENT_CONFIG" <<'SETTINGS'
{
  "console_log_dir": "/var/log/stackwright/console",
  "domain_type": "auto",
  "libvirt_uri": "qemu:///system",
  "socket": "/run/stackwright/agent.sock",
  "state_dir": "/var/lib/stackwright/agent"
}
SETTINGS
log "agent $AGENT_SHA from $AGENT_DIR ($(agent_files | tr -cd '\0' | wc -c) files)"

# Services: etc/systemd/system-preset/10-stackwright.preset enables what every
# node needs at boot and disables everything else the packages enabled (masks
# and the default target are left alone).
quiet in_chroot systemctl preset-all
for u in systemd-networkd.service systemd-networkd-wait-online.service systemd-resolved.service ssh.service \
	stackwright-ssh-hostkeys.service stackwright-growroot.service stackwright-agent.service getty@tty1.service; do
	state=$(in_chroot systemctl is-enabled "$u" 2>/dev/null || true)
	[ "$state" = enabled ] || die "$u is ${state:-unknown} after systemctl preset-all, not enabled"
done
log "enabled: $(cd "$R/etc/systemd/system" && find . -path './*.wants/*' -printf '%f\n' | sort -u | tr '\n' ' ')"
# DNS from networkd through resolved's stub (replaces debootstrap's copy of
# the host's resolv.conf).
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
# Root: no password (locked), an empty ~/.ssh for the first-boot config's key.
quiet in_chroot usermod -p '!' root
install -d -m 700 -o root -g root "$R/root/.ssh"
find "$R/root/.ssh" -mindepth 1 -delete
# Per-node identity is made at first boot: the machine-id (an empty file:
# systemd makes one at boot and commits it to disk; unlike "uninitialized" it
# is not a "first boot" for systemd, so no preset-all re-enables units), the
# SSH host keys (stackwright-ssh-hostkeys.service).
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
[ ! -e "$R/var/lib/dbus" ] || ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"
rm -f "$R"/etc/ssh/ssh_host_*
# bind9's postinst made an rndc key: every node would share it (roles/designate writes BIND's)
rm -f "$R/etc/bind/rndc.key"
# and whatever else a package generated at install time that must differ
# between nodes: the iSCSI initiator name (iscsid makes one at first start
# from GenerateName=yes), systemd's random seed and credential secret, the
# RabbitMQ Erlang cookie (a shared secret: the roles set the cluster's own).
if [ -f "$R/etc/iscsi/initiatorname.iscsi" ]; then
	echo "GenerateName=yes" > "$R/etc/iscsi/initiatorname.iscsi"
fi
rm -f "$R/var/lib/systemd/random-seed" "$R/var/lib/systemd/credential.secret" "$R/var/lib/rabbitmq/.erlang.cookie"

# The initramfs, once, with everything in place.
# Back to the package's own conffile (dpkg kept ours, confold, and put its
# version beside it as .dpkg-dist), which says update_initramfs=yes.
conf=$R/etc/initramfs-tools/update-initramfs.conf
if [ -f "$conf.dpkg-dist" ]; then
	mv -f "$conf.dpkg-dist" "$conf"
fi
sed -i 's/^update_initramfs=.*/update_initramfs=yes/' "$conf"
grep -q '^update_initramfs=yes$' "$conf" || die "cannot re-enable update-initramfs in $conf"
KVERS=$(cd "$R/lib/modules" && ls)
[ -n "$KVERS" ] || die "no kernel in the image"
for k in $KVERS; do
	quiet in_chroot update-initramfs -c -k "$k"
	quiet in_chroot linux-update-symlinks install "$k" "/boot/vmlinuz-$k"
done
for l in vmlinuz initrd.img; do
	if [ ! -L "$R/$l" ] || [ ! -f "$R/$(readlink "$R/$l" | sed 's|^/||')" ]; then
		die "/$l is not a symlink to a file"
	fi
done
KVER=$(readlink "$R/vmlinuz" | sed 's|.*vmlinuz-||')
initrd_list=$(in_chroot lsinitramfs "/boot/initrd.img-$KVER")
for m in "${REQUIRED_MODULES[@]}"; do
	if ! grep -q "/$m\.ko" <<< "$initrd_list" &&
		! grep -q "/$m\.ko" "$R/lib/modules/$KVER/modules.builtin"; then
		die "module $m is neither in the initramfs nor built into $KVER"
	fi
done
log "kernel $KVER, initramfs $(stat -c %s "$R/boot/initrd.img-$KVER") bytes, has ${REQUIRED_MODULES[*]}"

# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
in_chroot dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' | sort > "$OUT/overcloud.manifest"

# Leave no build-time state: caches, lists, logs, the policy-rc.d.
unmount_all
rm -f "$R/usr/sbin/policy-rc.d"
rm -rf "$R"/run/* "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/debconf/*-old \
	"$R"/var/lib/dpkg/*-old "$R"/tmp/* "$R"/var/tmp/* "$R"/root/.bash_history
# (debootstrap leaves its .debs in the target's own archives directory)
find "$R/var/cache/apt/archives" -mindepth 1 -maxdepth 1 -type f -delete
mkdir -p "$R/var/lib/apt/lists/partial" "$R/var/cache/apt/archives/partial"
find "$R/var/log" -type f \( -name '*.gz' -o -name '*.xz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find "$R/var/log" -type f -exec truncate -s 0 {} +

# ---------------------------------------------------------------- filesystem
step filesystem
MiB=$((1 << 20))
content=$(du -s -x --block-size=1 "$R" | cut -f1)
nfiles=$(find "$R" -xdev | wc -l)
# Little slack: every byte of the image is written at each deploy, and growroot
# grows the filesystem to the disk at first boot.
fs_bytes=$(((content * 21 / 20 + 128 * MiB + MiB - 1) / MiB * MiB))
# then the ESP, then 1 MiB for GPT's backup header
disk_bytes=$((PART_START_MIB * MiB + fs_bytes + ESP_MIB * MiB + MiB))
esp_start=$((PART_START_MIB * MiB + fs_bytes))
blocks=$((fs_bytes / 4096))
inodes=$((fs_bytes / 16384))
[ "$inodes" -ge $((nfiles * 2)) ] || inodes=$((nfiles * 2))
truncate -s "$disk_bytes" "$DISK"
# Partition 1 (root) first, at 1 MiB, so that every reader of the image that
# mounts it at that offset (the ramdisk, the lab's containers) is unchanged.
quiet sfdisk -q "$DISK" <<PARTS
label: gpt
start=$((PART_START_MIB * 2048)), size=$((fs_bytes / 512)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="$LABEL", attrs="LegacyBIOSBootable"
start=$((esp_start / 512)), size=$((ESP_MIB * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
PARTS
# mke2fs writes the filesystem at the partition's offset inside the disk file.
quiet mkfs.ext4 -q -F -b 4096 -L "$LABEL" -N "$inodes" -E "offset=$((PART_START_MIB * MiB))" -d "$R" "$DISK" "$blocks"
log "content $((content / MiB)) MiB in $nfiles files, disk $((disk_bytes / MiB)) MiB, $inodes inodes"

# ---------------------------------------------------------------- bootloader
step bootloader
# extlinux installs onto a mounted filesystem and records where ldlinux.sys
# lies relative to the disk, so the partition must be a partition device
# (loopNp1, whose sysfs "start" it reads), not a loop device with an offset.
LOOP=$(losetup --find --show --partscan "$DISK")
if [ ! -b "${LOOP}p1" ]; then
	# Kernels without MSDOS partition parsing: add it by hand (BLKPG).
	partx -a "$LOOP" 2>/dev/null || true
fi
for _ in $(seq 50); do [ -b "${LOOP}p1" ] && break; sleep 0.1; done
[ -b "${LOOP}p1" ] || die "no partition device ${LOOP}p1"
[ "$(cat "/sys/class/block/${LOOP#/dev/}p1/start")" = $((PART_START_MIB * 2048)) ] || die "${LOOP}p1 has the wrong start"
quiet e2fsck -f -n "${LOOP}p1"
mkdir -p "$W/mnt"
mnt -t ext4 "${LOOP}p1" "$W/mnt"
quiet extlinux --install "$W/mnt/boot/extlinux"
if [ ! -f "$W/mnt/boot/extlinux/ldlinux.sys" ] || [ ! -f "$W/mnt/boot/extlinux/extlinux.conf" ]; then
	die "extlinux did not install"
fi
unmount_all
detach_loop
dd if="$MBR_BIN" of="$DISK" bs=440 count=1 conv=notrunc status=none
log "extlinux $(extlinux --version 2>&1 | awk '{ print $2; exit }'), $(basename "$MBR_BIN") from $MBR_BIN"

# UEFI: GRUB with the kernel line of extlinux.conf (one place says how the node
# boots), finding the root file system by its label.
append=$(awk '$1 == "APPEND" { $1 = ""; sub(/^ /, ""); print; exit }' "$R/boot/extlinux/extlinux.conf")
[ -n "$append" ] || die "no APPEND line in extlinux.conf"
cat > "$W/grub.cfg" <<GRUB
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=0
search --no-floppy --label $LABEL --set root
echo "Loading /vmlinuz"
linux /vmlinuz $append
echo "Loading /initrd.img"
initrd /initrd.img
boot
GRUB
quiet grub-mkstandalone -O x86_64-efi -o "$W/BOOTX64.EFI" --fonts= --locales= --themes= \
	--install-modules="normal part_gpt part_msdos ext2 fat search search_label linux echo serial terminal gzio efi_gop" \
	--modules="part_gpt ext2" "boot/grub/grub.cfg=$W/grub.cfg"
rm -f "$W/esp.img"
quiet mkfs.fat -C -F 32 -S 512 -s 1 -n "$ESP_LABEL" "$W/esp.img" $((ESP_MIB * 1024))
quiet mmd -i "$W/esp.img" ::/EFI ::/EFI/BOOT
quiet mcopy -i "$W/esp.img" "$W/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
dd if="$W/esp.img" of="$DISK" bs=1M seek=$((esp_start / MiB)) conv=notrunc,sparse status=none
rm -f "$W/esp.img"
log "grub $(grub-mkstandalone --version | awk '{ print $NF }') as EFI/BOOT/BOOTX64.EFI ($(stat -c %s "$W/BOOTX64.EFI") bytes) on the ESP"

# ---------------------------------------------------------------- compress
step compress
if command -v pigz >/dev/null; then
	pigz -1 -n -c < "$DISK" > "$OUT/overcloud.raw.gz"
else
	gzip -1 -n -c < "$DISK" > "$OUT/overcloud.raw.gz"
fi
(cd "$OUT" && sha256sum overcloud.raw.gz > overcloud.raw.gz.sha256)
rm -f "$DISK"
step ""

# ---------------------------------------------------------------- publish
rm -rf "${CACHEDIR:?}/.$KEY.tmp"
mv "$OUT" "$CACHEDIR/.$KEY.tmp"
rm -rf "${CACHEDIR:?}/$KEY"
mv "$CACHEDIR/.$KEY.tmp" "$CACHEDIR/$KEY"
publish "$CACHEDIR/$KEY"
find "$CACHEDIR" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{64}' \
	-printf '%T@ %p\n' | sort -rn | tail -n +$((${SW_IMAGE_CACHE_KEEP:-2} + 1)) |
	while read -r _ d; do
		rm -rf "$d"
		log "pruned old build $(basename "$d")"
	done
log "built $OUTDIR/overcloud.raw.gz: raw $disk_bytes bytes, gz $(stat -c %s "$OUTDIR/overcloud.raw.gz") bytes, $(wc -l < "$OUTDIR/overcloud.manifest") packages"
log "times ${TIMES[*]} total=$(secs "$START")"
log "cache $CACHEDIR/$KEY"
log "result built"
exit 0
}
