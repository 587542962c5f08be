#!/usr/bin/env bash
# Builds one of Stackwright's images (or takes it from the builder's cache)
# and publishes it under the names the undercloud serves (roles/image_build):
#
#   build-and-publish.sh [--check] ramdisk CACHEDIR OUTDIR
#       build-ramdisk.sh with the cache CACHEDIR/ramdisk; publishes
#       OUTDIR/ramdisk/vmlinuz, OUTDIR/ramdisk/initrd and a .sha256 of each.
#   build-and-publish.sh [--check] overcloud PROFILE CACHEDIR OUTDIR AGENT_DIR
#       overcloud/build-image.sh with the cache CACHEDIR/overcloud-PROFILE
#       (PROFILE openstack: packages-openstack.txt; base: no extra packages)
#       and the agent source AGENT_DIR; publishes OUTDIR/overcloud-PROFILE.raw.gz,
#       its .sha256 and OUTDIR/overcloud-PROFILE.manifest.
#
# Publishing: a file whose content is already published (the same inode, or
# the same size and bytes) is left alone; any other is hard-linked from the
# build (copied when OUTDIR is on another filesystem than the cache) to a
# temporary name in its directory and renamed over the old one. A .sha256 (one
# sha256sum line naming the published file) is rewritten, the same way, only
# when it differs, and after the file it describes.
#
# --check builds, installs and writes nothing: the builder only computes its
# cache key; what would be published is compared with what is.
#
# The last line is "build-and-publish: result JSON" with
#   changed  true when a published file was (--check: would be) replaced
#   build    built | cache-hit | would-build (--check, no complete cache entry)
#   cache    the builder's cache entry
#   files    published name (relative to OUTDIR) -> sha256 ("" when unknown)
#   sha256   the main file's sha256 (the image, or the initrd)
set -euo pipefail
umask 022
export LC_ALL=C
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

PROG=build-and-publish
log() { echo "$PROG: $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage() {
	die "usage: $0 [--check] ramdisk CACHEDIR OUTDIR | [--check] overcloud PROFILE CACHEDIR OUTDIR AGENT_DIR"
}

HERE=$(dirname "$(readlink -f "$0")")
CHECK=""
if [ "${1:-}" = --check ]; then CHECK=1; shift; fi
KIND=${1:-}
case "$KIND" in
ramdisk)
	[ $# -eq 3 ] || usage
	CACHEDIR=$2 OUTDIR=$3
	SUBCACHE=$CACHEDIR/ramdisk
	;;
overcloud)
	[ $# -eq 5 ] || usage
	PROFILE=$2 CACHEDIR=$3 OUTDIR=$4 AGENT_DIR=$5
	case "$PROFILE" in
	openstack) PKGARGS=() ;;
	base) PKGARGS=(--packages-file none) ;;
	*) die "unknown overcloud profile $PROFILE (openstack or base)" ;;
	esac
	SUBCACHE=$CACHEDIR/overcloud-$PROFILE
	;;
*) usage ;;
esac
case "$CACHEDIR" in /*) ;; *) die "CACHEDIR must be an absolute path" ;; esac
case "$OUTDIR" in /*) ;; *) die "OUTDIR must be an absolute path" ;; esac

STAGE="" BUILDER_LOG=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	[ -z "$STAGE" ] || rm -rf "$STAGE"
	[ -z "$BUILDER_LOG" ] || rm -f "$BUILDER_LOG"
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
# The builder publishes into a staging directory inside its cache (hard links
# for the overcloud image), so that what is published below cannot be pruned
# from under us by a concurrent build; --check reads the cache entry itself.
BUILD_OUT=""
if [ -z "$CHECK" ]; then
	mkdir -p "$SUBCACHE"
	STAGE=$(mktemp -d "$SUBCACHE/.publish.XXXXXX")
	BUILD_OUT=$STAGE
fi
BUILDER_LOG=$(mktemp)
set +e
if [ "$KIND" = ramdisk ]; then
	"$HERE/build-ramdisk.sh" ${CHECK:+--check} "${BUILD_OUT:-/nonexistent}" "$SUBCACHE" > "$BUILDER_LOG" 2>&1
else
	"$HERE/overcloud/build-image.sh" "${BUILD_OUT:-/nonexistent}" "$SUBCACHE" "${PKGARGS[@]}" \
		--agent-dir "$AGENT_DIR" ${CHECK:+--check} > "$BUILDER_LOG" 2>&1
fi
rc=$?
set -e
cat "$BUILDER_LOG"
[ "$rc" = 0 ] || die "the $KIND builder failed ($rc)"
BUILD=$(sed -n 's/^build-[a-z]*: result \([a-z-]*\)$/\1/p' "$BUILDER_LOG" | tail -n 1)
CACHE=$(sed -n 's/^build-[a-z]*: cache \(.*\)$/\1/p' "$BUILDER_LOG" | tail -n 1)
if [ -z "$BUILD" ] || [ -z "$CACHE" ]; then die "the $KIND builder did not report its result and cache entry"; fi
SRC=${BUILD_OUT:-$CACHE}

# ---------------------------------------------------------------- publish
CHANGED=false
changed() { CHANGED=true; log "$1 $2"; }
same_file() { # A B: B exists with A's content
	[ -f "$2" ] || return 1
	[ "$(stat -c %d:%i "$1")" = "$(stat -c %d:%i "$2")" ] && return 0
	[ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ] && cmp -s "$1" "$2"
}
publish_file() { # SRC DEST
	local src=$1 dest=$2 tmp
	if same_file "$src" "$dest"; then
		log "unchanged $dest"
		return 0
	fi
	if [ -n "$CHECK" ]; then changed "would publish" "$dest"; return 0; fi
	mkdir -p "$(dirname "$dest")"
	tmp=$(dirname "$dest")/.$(basename "$dest").tmp.$$
	rm -f "$tmp"
	ln "$src" "$tmp" 2>/dev/null || cp --preserve=timestamps "$src" "$tmp"
	chmod 644 "$tmp"
	mv -f "$tmp" "$dest"
	changed published "$dest"
}
publish_sum() { # SHA256 DEST: DEST.sha256 names DEST
	local sum=$1 dest=$2 line tmp
	line="$sum  $(basename "$dest")"
	if [ -f "$dest.sha256" ] && printf '%s\n' "$line" | cmp -s - "$dest.sha256"; then
		log "unchanged $dest.sha256"
		return 0
	fi
	if [ -n "$CHECK" ]; then changed "would publish" "$dest.sha256"; return 0; fi
	tmp=$(dirname "$dest")/.$(basename "$dest").sha256.tmp.$$
	printf '%s\n' "$line" > "$tmp"
	chmod 644 "$tmp"
	mv -f "$tmp" "$dest.sha256"
	changed published "$dest.sha256"
}
sum_of() { # SUMSFILE NAME: the sha256 the builder recorded for NAME
	awk -v n="$2" '$2 == n || $2 == "*" n { print $1; exit }' "$1"
}

FILES_JSON=""
MAIN_SUM=""
record() { # NAME SHA256
	FILES_JSON="$FILES_JSON${FILES_JSON:+, }\"$1\": \"$2\""
}

if [ "$BUILD" = would-build ]; then
	# --check without a cache entry: a build would publish new files
	CHANGED=true
	if [ "$KIND" = ramdisk ]; then
		for f in vmlinuz initrd; do log "would publish $OUTDIR/ramdisk/$f"; record "ramdisk/$f" ""; done
	else
		log "would publish $OUTDIR/overcloud-$PROFILE.raw.gz"
		record "overcloud-$PROFILE.raw.gz" ""
	fi
elif [ "$KIND" = ramdisk ]; then
	for f in vmlinuz initrd; do
		sum=$(sum_of "$SRC/ramdisk.sha256" "$f")
		[ -n "$sum" ] || die "no sha256 of $f in $SRC/ramdisk.sha256"
		publish_file "$SRC/$f" "$OUTDIR/ramdisk/$f"
		publish_sum "$sum" "$OUTDIR/ramdisk/$f"
		record "ramdisk/$f" "$sum"
		MAIN_SUM=$sum
	done
else
	name=overcloud-$PROFILE
	sum=$(sum_of "$SRC/overcloud.raw.gz.sha256" overcloud.raw.gz)
	[ -n "$sum" ] || die "no sha256 in $SRC/overcloud.raw.gz.sha256"
	publish_file "$SRC/overcloud.raw.gz" "$OUTDIR/$name.raw.gz"
	publish_sum "$sum" "$OUTDIR/$name.raw.gz"
	publish_file "$SRC/overcloud.manifest" "$OUTDIR/$name.manifest"
	record "$name.raw.gz" "$sum"
	MAIN_SUM=$sum
fi

echo "$PROG: result {\"changed\": $CHANGED, \"build\": \"$BUILD\", \"cache\": \"$CACHE\", \"files\": {$FILES_JSON}, \"sha256\": \"$MAIN_SUM\"}"
