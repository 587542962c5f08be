#!/bin/sh
# Start virtlogd and libvirtd for a lab host that has no systemd, with libvirtd
# inside network namespace NETNS so guests' taps land on the lab's bridges there.
#
#   start-libvirtd.sh NETNS [--hide-kvm]
#
# --hide-kvm runs libvirtd in a private mount namespace whose /dev has no kvm
# node. Where /dev/kvm exists but cannot run guests (nested or paravirtual
# hosts), libvirt finds its cached QEMU capabilities stale on every call (they
# were probed without working KVM while the device is there) and probes QEMU
# again: 30-50 s per define or start. Without the node the cache holds and a
# define takes milliseconds. Guests are emulated (domain type qemu) either way.
#
# Exit 0 when libvirtd answers (already running is fine: nothing is restarted);
# prints "started" when it started one.
set -eu
netns=$1
hide_kvm=${2:-}
pidfile=/run/libvirtd.pid

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! alive $pidfile; then
  started=1
  alive /run/virtlogd.pid || virtlogd -d -p /run/virtlogd.pid
  [ -e "/run/netns/$netns" ] || { echo "network namespace $netns does not exist" >&2; exit 2; }
  if [ "$hide_kvm" = --hide-kvm ] && [ -e /dev/kvm ]; then
    # shellcheck disable=SC2016
    ip netns exec "$netns" unshare --mount --propagation private sh -eu -c '
      dev=/run/stackwright-libvirtd-dev
      mkdir -p $dev
      mount -t tmpfs -o mode=755,size=1m stackwright-dev $dev
      cp -a /dev/. $dev/ 2>/dev/null || true
      rm -f $dev/kvm
      for m in pts shm mqueue; do
        if mountpoint -q /dev/$m; then mkdir -p $dev/$m; mount --rbind /dev/$m $dev/$m; fi
      done
      mount --rbind $dev /dev
      # QEMU then runs without a /dev namespace of its own, which libvirt cannot
      # build from this /dev; the change is seen by this libvirtd only.
      conf=/run/stackwright-libvirtd-qemu.conf
      { cat /etc/libvirt/qemu.conf; echo "namespaces = [ ]"; } > $conf
      mount --bind $conf /etc/libvirt/qemu.conf
      exec libvirtd -d -p '"$pidfile"
  else
    ip netns exec "$netns" libvirtd -d -p $pidfile
  fi
fi
for _ in $(seq 120); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    [ -n "${started:-}" ] && echo started
    exit 0
  fi
  sleep 0.5
done
echo "libvirtd did not answer within 60 s" >&2
exit 1
