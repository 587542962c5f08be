#!/bin/sh
# Start one container node of the lab - systemd booted by systemd-nspawn - in the
# background, on a host whose PID 1 is not systemd.
#
#   start-container.sh DIR [--restart]
#
# DIR is the node's directory; DIR/container.conf (shell variables, written by the
# lab role) describes it:
#   NAME        machine name (and host name)
#   NETNS       the node's own network namespace (created here)
#   LAB_NETNS   the lab's namespace, which holds BRIDGE
#   BRIDGE      the provisioning bridge the node is plugged into
#   VETH        name of the veth end in LAB_NETNS (at most 15 characters)
#   MAC         MAC of the node's NIC (eth0, inside NETNS)
#   IMAGE       the raw overcloud image (MBR, root file system at 1 MiB)
#   BASE        where the image's file system is mounted read-only, the lower layer
#   MEMORY_MIB  memory limit, empty for none
#   CPUS        CPU limit (CFS quota of this many CPUs), empty for none
#
# Set up on the host, each only when missing: a read-only loop device over the
# image's partition, shared by all nodes (one file system, one page cache); NETNS
# with eth0, a veth whose other end is a port of BRIDGE; DIR/seed/ (files the lab
# role writes: host name, network, SSH key) copied into the upper layer DIR/upper; a
# cgroup of its own in every hierarchy (nested under this script's, so that two
# nodes never share one), with the limits.
#
# Mounted in a private mount namespace of the node's own, so that nothing is left
# mounted when it stops and no other namespace (every `ip netns exec` makes one)
# keeps a copy: the loop device on BASE, the overlayfs root DIR/root (DIR/upper over
# BASE), and a tmpfs on /run/systemd/nspawn (systemd-nspawn wants one there on a
# host without systemd). Then systemd-nspawn runs detached; its PID goes to
# DIR/nspawn.pid, its console to DIR/console.log.
#
# Does nothing when DIR/nspawn.pid names a running systemd-nspawn of this node;
# --restart stops it first (stop-container.sh) and starts it again.
# Prints "started" when it started one.
set -eu
dir=${1:?usage: start-container.sh DIR [--restart]}
restart=${2:-}
# shellcheck source=/dev/null
. "$dir/container.conf"
here=$(cd "$(dirname "$0")" && pwd)
pidfile=$dir/nspawn.pid
cgname=stackwright-$NETNS
# The image's layout: one partition, starting at 1 MiB.
offset=1048576

# The PID in DIR/nspawn.pid when it is this node's systemd-nspawn, else nothing.
running() {
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -x -- "--machine=$NAME" >/dev/null || return 1
  echo "$pid"
}

# Every cgroup hierarchy as "MOUNTPOINT RELATIVE-PATH-OF-PID-$1"; cgroup2 has the key 0.
hierarchies() {
  while IFS=: read -r _ keys path; do
    if [ -z "$keys" ]; then
      mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
    else
      # v1: the hierarchy mounted with these options (cpu,cpuacct or name=systemd...)
      mnt=$(awk -v keys="$keys" '$3 == "cgroup" {
              n = split($4, o, ","); want = split(keys, k, ","); found = 0
              for (i = 1; i <= want; i++) for (j = 1; j <= n; j++) if (o[j] == k[i]) found++
              if (found == want) { print $2; exit } }' /proc/self/mounts)
    fi
    if [ -n "$mnt" ] && [ -d "$mnt$path" ]; then echo "$mnt ${path%/}"; fi
  done <"/proc/$1/cgroup"
}

# Put PID $1 into a cgroup of its own, below its present one, in every hierarchy where
# that is possible, with the limits where there is a controller for them.
join_cgroups() {
  hierarchies "$1" | while read -r mnt path; do
    group=$mnt$path/$cgname
    mkdir -p "$group" 2>/dev/null || continue
    if ! echo "$1" >"$group/cgroup.procs" 2>/dev/null; then
      rmdir "$group" 2>/dev/null || true  # e.g. cpuset, which has no CPUs for a new group
      continue
    fi
    if [ -n "${MEMORY_MIB:-}" ]; then
      for f in memory.max memory.limit_in_bytes; do
        if [ -e "$group/$f" ]; then echo $((MEMORY_MIB * 1048576)) >"$group/$f"; fi
      done
    fi
    if [ -n "${CPUS:-}" ] && [ -e "$group/cpu.max" ]; then
      echo "$((CPUS * 100000)) 100000" >"$group/cpu.max"
    fi
    if [ -n "${CPUS:-}" ] && [ -e "$group/cpu.cfs_quota_us" ]; then
      echo $((CPUS * $(cat "$group/cpu.cfs_period_us"))) >"$group/cpu.cfs_quota_us"
    fi
  done
}

if running >/dev/null; then
  [ "$restart" = --restart ] || exit 0
  "$here/stop-container.sh" "$dir" >/dev/null
fi

[ -e "/run/netns/$LAB_NETNS" ] || { echo "network namespace $LAB_NETNS does not exist" >&2; exit 2; }
[ -f "$IMAGE" ] || { echo "$IMAGE: no such image" >&2; exit 2; }

# The shared loop device (read-only, over the partition); one per image, whoever asks first.
loop=$(
  flock 9
  dev=$(losetup -n -O NAME,OFFSET -j "$IMAGE" | awk -v o=$offset '$2 == o { print $1; exit }')
  [ -n "$dev" ] || dev=$(losetup --find --show --read-only --offset $offset "$IMAGE")
  echo "$dev"
) 9>"$IMAGE.lock"

# The node's network: its namespace, eth0 in it, the other end on the bridge.
if [ ! -e "/run/netns/$NETNS" ]; then
  ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
fi
if ! ip -n "$NETNS" link show eth0 >/dev/null 2>&1; then
  # a stale end left in the lab's namespace goes first
  ip -n "$LAB_NETNS" link del "$VETH" 2>/dev/null || true
  ip -n "$LAB_NETNS" link add "$VETH" type veth peer name eth0 netns "$NETNS" address "$MAC"
fi
ip -n "$LAB_NETNS" link set "$VETH" master "$BRIDGE" up

# The lab's files into the upper layer (nothing is mounted over it now).
mkdir -p "$BASE" "$dir/upper" "$dir/work" "$dir/root"
if [ -d "$dir/seed" ]; then
  cp -a "$dir/seed/." "$dir/upper/"
fi

# Detached, in a session, cgroups and mount namespace of its own. The subshell learns
# its own PID (dash has no $BASHPID), joins the cgroups, and becomes systemd-nspawn:
# setsid does not fork there (a background subshell is no process group leader), and
# unshare without --fork does not either.
rm -f "$pidfile"
(
  self=$(exec sh -c 'echo $PPID')
  join_cgroups "$self"
  echo "$self" >"$pidfile"
  # shellcheck disable=SC2016
  exec setsid unshare --mount --propagation private sh -euc '
    loop=$1 base=$2 dir=$3 name=$4 netns=$5
    mount -o ro,noload "$loop" "$base"
    mount -t overlay "stackwright-$name" -o "lowerdir=$base,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
    mkdir -p /run/systemd/nspawn
    mount -t tmpfs -o mode=0755,size=1m stackwright-nspawn /run/systemd/nspawn
    # the node owns its network namespace: its /proc/sys/net writable, and /sys showing
    # that namespace (systemd-nspawn treats --network-namespace-path as the host network)
    export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
    exec systemd-nspawn --boot --register=no --keep-unit \
      --machine="$name" --directory="$dir/root" \
      --network-namespace-path="/run/netns/$netns" \
      --capability=CAP_NET_ADMIN \
      --link-journal=no --resolv-conf=off --console=read-only' \
    start-container "$loop" "$BASE" "$dir" "$NAME" "$NETNS"
) </dev/null >"$dir/console.log" 2>&1 &

for _ in $(seq 20); do
  [ -s "$pidfile" ] && break
  sleep 0.1
done
sleep 0.5
if ! running >/dev/null; then
  echo "systemd-nspawn for $NAME exited at once:" >&2
  tail -n 20 "$dir/console.log" >&2
  exit 1
fi
echo started
