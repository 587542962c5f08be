#!/bin/sh
# Stop one container node of the lab (see start-container.sh).
#
#   stop-container.sh DIR [--remove-network]
#
# The node's systemd (the container's PID 1, the child of the systemd-nspawn in
# DIR/nspawn.pid) gets SIGRTMIN+3, which asks it to halt; after STOP_TIMEOUT seconds
# (default 30) both get SIGKILL. Its mounts go with it (they live in its own mount
# namespace). Then the node's cgroups are removed; --remove-network also deletes its
# network namespace and veth. Anything already gone is skipped. Prints "stopped" or
# "removed" for what it did.
set -eu
dir=${1:?usage: stop-container.sh DIR [--remove-network]}
remove=${2:-}
# shellcheck source=/dev/null
. "$dir/container.conf"
pidfile=$dir/nspawn.pid
cgname=stackwright-$NETNS
timeout=${STOP_TIMEOUT:-30}

# The PID in DIR/nspawn.pid when it is this node's systemd-nspawn, else nothing.
running() {
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -x -- "--machine=$NAME" >/dev/null || return 1
  echo "$pid"
}

wait_gone() {  # PID TENTHS-OF-SECONDS
  n=0
  while kill -0 "$1" 2>/dev/null && [ "$n" -lt "$2" ]; do
    sleep 0.1
    n=$((n + 1))
  done
  ! kill -0 "$1" 2>/dev/null
}

if pid=$(running); then
  leader=$(ps -o pid= --ppid "$pid" | head -n 1 | tr -d ' ')
  if [ -n "$leader" ]; then
    kill -s RTMIN+3 "$leader" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true  # systemd-nspawn passes it on as SIGRTMIN+3
  fi
  if ! wait_gone "$pid" $((timeout * 10)); then
    echo "$NAME did not halt within $timeout s: killing it" >&2
    [ -z "$leader" ] || kill -KILL "$leader" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 50 || { echo "systemd-nspawn ($pid) of $NAME does not go away" >&2; exit 1; }
  fi
  echo stopped
fi
rm -f "$pidfile"

# The node's cgroups (start-container.sh nested them below its own): deepest first.
awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | while read -r mnt; do
  find "$mnt" -type d -name "$cgname" -prune 2>/dev/null | while read -r group; do
    find "$group" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
done

if [ "$remove" = --remove-network ]; then
  if [ -e "/run/netns/$NETNS" ]; then
    ip netns del "$NETNS"  # takes eth0 and so the veth pair with it
    echo removed
  fi
  if [ -e "/run/netns/$LAB_NETNS" ] && ip -n "$LAB_NETNS" link show "$VETH" >/dev/null 2>&1; then
    ip -n "$LAB_NETNS" link del "$VETH"
    echo removed
  fi
fi
exit 0
