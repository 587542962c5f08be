"""The lab's libvirtd (and virtlogd) on a host without systemd, inside the lab's
network namespace so that guests' taps land on the lab's bridges there. Only the
lab host loads this driver (roles.py); one resource, named ``libvirtd``.

``hide_kvm`` runs libvirtd in a private mount namespace whose /dev has no kvm node.
Where /dev/kvm exists but cannot run guests (nested or paravirtual hosts), libvirt
finds its cached QEMU capabilities stale on every call (they were probed without
working KVM while the device is there) and probes QEMU again: 30-50 s per define or
start. Without the node the cache holds and a define takes milliseconds. Guests are
emulated (domain type qemu) either way.

``running``: it runs when the process in /run/libvirtd.pid is alive and
``virsh -c qemu:///system version`` answers. A libvirtd that already runs is left
alone, wherever it runs. ``stopped`` ends it only when it runs in ``netns`` (the
lab's own), never another one's.

Also a command, for tests and hosts without an agent:
``python3 -m stackwright_agent.drivers.libvirtd NETNS [--hide-kvm]`` prints
"started" when it started one.
"""

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .. import schema as s
from ..errors import CommandFailed, InvalidField, Unsupported
from . import Driver
from .bridges import require_netns

LOG = logging.getLogger("stackwright-agent.libvirtd")

NAME = "libvirtd"
SCHEMA = s.Obj({
    "name": s.Enum(NAME, required=True),
    "netns": s.NETNS,
    "hide_kvm": s.Bool(default=False),
    "state": s.Enum("running", "stopped", default="running"),
})

PIDFILE = "/run/libvirtd.pid"
VIRTLOGD_PIDFILE = "/run/virtlogd.pid"
URI = "qemu:///system"
ANSWER_TIMEOUT = 60
# the daemons live in sbin, which a service's PATH may lack
PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
STOP_TIMEOUT = 30

# in a mount namespace of its own: /dev without kvm, and a qemu.conf without QEMU's
# /dev namespace (which libvirt cannot build from this /dev), seen by this libvirtd only
HIDE_KVM = r"""
dev=/run/stackwright-libvirtd-dev
mkdir -p $dev
mount -t tmpfs -o mode=755,size=1m stackwright-dev $dev
cp -a /dev/. $dev/ 2>/dev/null || true
rm -f $dev/kvm
for m in pts shm mqueue; do
  if mountpoint -q /dev/$m; then mkdir -p $dev/$m; mount --rbind /dev/$m $dev/$m; fi
done
mount --rbind $dev /dev
conf=/run/stackwright-libvirtd-qemu.conf
{ cat /etc/libvirt/qemu.conf; echo "namespaces = [ ]"; } > $conf
mount --bind $conf /etc/libvirt/qemu.conf
exec libvirtd -d -p "$1"
"""


def pid_of(pidfile):
    """The PID in ``pidfile`` when that process is alive, else None."""
    try:
        with open(pidfile, encoding="ascii") as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _same_netns(pid, netns):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino == os.stat(os.path.join("/run/netns", netns)).st_ino
    except OSError:
        return False


def netns_of(pid):
    """The name of the network namespace ``pid`` lives in (None: the host's or unnamed)."""
    try:
        names = sorted(os.listdir("/run/netns"))
    except OSError:
        return None
    return next((n for n in names if _same_netns(pid, n)), None)


def answers():
    try:
        return subprocess.run(["virsh", "-c", URI, "version"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, PATH=PATH), timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _daemon(argv):
    """Run a command that daemonizes; its output goes to a file, not a pipe the
    daemon could keep open."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=dict(os.environ, PATH=PATH))
        if proc.returncode != 0:
            err.seek(0)
            said = err.read().decode("utf-8", "replace").strip()
            raise CommandFailed("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode, said))


def start(netns, hide_kvm):
    """Start virtlogd and libvirtd in ``netns`` unless libvirtd runs; wait until it
    answers. True when it started one."""
    started = False
    if pid_of(PIDFILE) is None:
        require_netns(netns)
        if pid_of(VIRTLOGD_PIDFILE) is None:
            _daemon(["virtlogd", "-d", "-p", VIRTLOGD_PIDFILE])
        if hide_kvm and os.path.exists("/dev/kvm"):
            _daemon(["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private",
                     "sh", "-euc", HIDE_KVM, "stackwright-libvirtd", PIDFILE])
        else:
            _daemon(["ip", "netns", "exec", netns, "libvirtd", "-d", "-p", PIDFILE])
        started = True
        LOG.info("libvirtd started in netns %s%s", netns, " without /dev/kvm" if hide_kvm else "")
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while not answers():
        if time.monotonic() > deadline:
            raise CommandFailed("libvirtd did not answer (virsh -c %s version) within %d s" % (URI, ANSWER_TIMEOUT))
        time.sleep(0.5)
    return started


class LibvirtdDriver(Driver):
    kind = "libvirtd"
    schema = SCHEMA

    def spec_from_path(self, ident, query):
        return {"name": SCHEMA.fields["name"].check(ident, "name")}

    def validate(self, spec):
        if spec["netns"] is None:
            raise InvalidField("netns", "is required: the lab's network namespace, where libvirtd runs")
        if spec["state"] == "running":
            require_netns(spec["netns"])
            for tool in ("libvirtd", "virtlogd", "virsh"):
                if shutil.which(tool, path=PATH) is None:
                    raise Unsupported("%s is not installed (Debian: libvirt-daemon-system, libvirt-clients)" % tool)

    def read(self, spec):
        pid = pid_of(PIDFILE)
        if pid is None or not answers():
            return None
        return {"name": NAME, "state": "running", "netns": netns_of(pid)}

    def predict(self, spec, current):
        if spec["state"] == "stopped":
            return None if current and current["netns"] == spec["netns"] else current
        if current:
            return current  # one that runs is left alone
        return {"name": NAME, "state": "running", "netns": spec["netns"]}

    def converge(self, spec, current):
        if spec["state"] == "running":
            start(spec["netns"], spec["hide_kvm"])
            return
        pid = pid_of(PIDFILE)
        if pid is None or not _same_netns(pid, spec["netns"]):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while pid_of(PIDFILE) == pid:
            if time.monotonic() > deadline:
                raise CommandFailed("libvirtd (%d) did not stop within %d s" % (pid, STOP_TIMEOUT))
            time.sleep(0.2)

    def list(self, query):
        current = self.read({"name": NAME})
        return [current] if current else []


def main(argv):
    if not argv or len(argv) > 2 or argv[1:] not in ([], ["--hide-kvm"]):
        sys.stderr.write("usage: python3 -m stackwright_agent.drivers.libvirtd NETNS [--hide-kvm]\n")
        return 2
    try:
        if start(argv[0], argv[1:] == ["--hide-kvm"]):
            print("started")
    except (CommandFailed, InvalidField) as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
