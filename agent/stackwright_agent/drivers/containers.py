"""The lab's container nodes: systemd booted by systemd-nspawn, detached, on a host
whose PID 1 is not systemd. Only the lab host loads this driver (roles.py).

A container is a directory ``dir`` the lab prepares (``seed/``: the node's own
files) over one raw image (MBR, the root file system at 1 MiB). Started, it has:

- a read-only loop device over the image's partition, shared by every node of the
  image (one file system, one page cache), found or made under ``<image>.lock``;
- its network namespace ``netns``, with ``eth0`` (``mac``) whose veth peer ``veth``
  is a port of ``bridge`` in ``lab_netns``;
- ``seed/`` copied into the upper layer ``upper/``;
- a cgroup of its own in every hierarchy, nested below the agent's, with the
  memory (``memory_mib``) and CPU (``cpus``) limits;
- a private mount namespace holding the loop mount on ``base``, the overlayfs root
  ``root/`` (``upper/`` over ``base``) and a tmpfs on /run/systemd/nspawn, so that
  nothing stays mounted when it stops;
- systemd-nspawn in a session of its own, adopted by init (``setsid --fork``): the
  agent leaves no zombie and a restarted agent finds the container again. Its PID is
  in ``dir/nspawn.pid`` (written by the process itself before it execs
  systemd-nspawn), its console in ``dir/console.log``; a PID counts only while its
  command line holds ``--machine=<name>``.

What a container was started with (the spec, ``generation`` included: the
fingerprint of the node's files) is recorded in ``dir/container.json``. A request
whose settings or generation differ from the running container's restarts it.

Stopping sends SIGRTMIN+3 to the container's systemd (halt), SIGKILL after
``stop_timeout``, and removes the cgroups; ``absent`` also deletes the network
namespace and the veth, and the record.
"""

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import time

from .. import schema as s
from ..errors import CommandFailed, InvalidField, Unsupported
from . import Driver, run
from .bridges import ip, link, netns_exists, require_netns

LOG = logging.getLogger("stackwright-agent.containers")


class UnicastMac(s.Mac):
    """A MAC an Ethernet interface can have: not multicast, not all zeros."""

    def check(self, value, path):
        value = super().check(value, path)
        if int(value[:2], 16) & 1 or value == "00:00:00:00:00:00":
            raise InvalidField(path, "%s is a multicast or zero address; a NIC needs a unicast one like "
                                     "52:54:00:12:34:56" % value)
        return value


SCHEMA = s.Obj({
    # the machine name systemd-nspawn gets, and the container's host name: a DNS label
    "name": s.Str(required=True, max_len=63, pattern=r"[a-z0-9]([a-z0-9-]*[a-z0-9])?",
                  hint="use a DNS label: 1-63 lowercase letters, digits and '-', not at either end"),
    "dir": s.Path(required=True, doc="the node's directory: seed/, upper/, work/, root/, its record and pid"),
    "state": s.Enum("running", "stopped", "absent", default="running"),
    "generation": s.Str(max_len=128, pattern=r"[A-Za-z0-9._:+\-]+",
                        hint="use up to 128 letters, digits, '.', '_', ':', '+' or '-' (a checksum)",
                        doc="fingerprint of the node's files; another than the running one's restarts it"),
    "netns": s.NETNS,
    "lab_netns": s.NETNS,
    "bridge": s.Str(max_len=15, pattern=s.IFNAME.pattern.pattern, hint=s.IFNAME.hint),
    "veth": s.Str(max_len=15, pattern=s.IFNAME.pattern.pattern, hint=s.IFNAME.hint),
    "mac": UnicastMac(),
    "image": s.Path(doc="the raw image: MBR, the root file system at 1 MiB"),
    "base": s.Path(doc="where the image's file system is mounted read-only (the lower layer)"),
    "memory_mib": s.Int(minimum=64, maximum=1048576),
    "cpus": s.Int(minimum=1, maximum=1024),
    "stop_timeout": s.Int(minimum=0, maximum=3600, default=30),
})

# what a running container was started with: a change of any of them restarts it
SETTINGS = ("netns", "lab_netns", "bridge", "veth", "mac", "image", "base", "memory_mib", "cpus", "generation")
REQUIRED_TO_RUN = ("netns", "lab_netns", "bridge", "veth", "mac", "image", "base")
# the image's layout: one partition, starting at 1 MiB
OFFSET = 1048576
START_WAIT = 2.0  # for the pid file
START_SETTLE = 0.5  # then systemd-nspawn must still run
KILL_WAIT = 5.0

# Runs as the container's own process, in its session: joins the cgroups the agent
# made, writes its PID, and becomes (exec, the PID stays) unshare and then, in the
# new mount namespace, systemd-nspawn.
OUTER = r"""
pidfile=$1 name=$2 dir=$3 netns=$4
shift 4
for procs; do
  echo $$ >"$procs" 2>/dev/null || rmdir "${procs%/cgroup.procs}" 2>/dev/null || true
done
echo $$ >"$pidfile.tmp"
mv -f "$pidfile.tmp" "$pidfile"
exec unshare --mount --propagation private sh -euc "$INNER" stackwright-container "$name" "$dir" "$netns"
"""
INNER = r"""
mount -o ro,noload "$SW_LOOP" "$SW_BASE"
mount -t overlay "stackwright-$SW_NAME" -o "lowerdir=$SW_BASE,upperdir=$SW_DIR/upper,workdir=$SW_DIR/work" "$SW_DIR/root"
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755,size=1m stackwright-nspawn /run/systemd/nspawn
unset SW_LOOP SW_BASE SW_NAME SW_DIR INNER
exec systemd-nspawn --boot --register=no --keep-unit \
  --machine="$1" --directory="$2/root" \
  --network-namespace-path="/run/netns/$3" \
  --capability=CAP_NET_ADMIN \
  --link-journal=no --resolv-conf=off --console=read-only
"""


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def _alive(pid):
    """True while ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(out)


def _cgroup_mounts():
    """(fstype, mountpoint, options) of every cgroup hierarchy."""
    out = []
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 3 and fields[2] in ("cgroup", "cgroup2"):
                out.append((fields[2], fields[1].replace("\\040", " "), fields[3].split(",")))
    return out


def hierarchies(pid):
    """The directory of process ``pid``'s cgroup in every mounted hierarchy."""
    mounts = _cgroup_mounts()
    out = []
    with open("/proc/%d/cgroup" % pid, encoding="utf-8") as fh:
        for line in fh:
            _, keys, path = line.rstrip("\n").split(":", 2)
            if not keys:
                mnt = next((m for t, m, _ in mounts if t == "cgroup2"), None)
            else:
                want = keys.split(",")  # v1: the hierarchy mounted with these options
                mnt = next((m for t, m, o in mounts if t == "cgroup" and all(k in o for k in want)), None)
            if mnt and os.path.isdir(mnt + path):
                out.append(mnt + path.rstrip("/"))
    return out


def _write(path, text):
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)


def _tail(path, lines=20):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).strip() or "(nothing)"
    except OSError:
        return "(no console log)"


class ContainerDriver(Driver):
    kind = "containers"
    schema = SCHEMA
    query_keys = ("dir",)  # GET /v1/containers/<name>?dir=<the node's directory>

    def spec_from_path(self, ident, query):
        spec = {"name": SCHEMA.fields["name"].check(ident, "name")}
        if "dir" in query:
            spec["dir"] = SCHEMA.fields["dir"].check(query["dir"], "dir")
        return spec

    def read(self, spec):
        if spec.get("dir") is None:
            raise InvalidField("dir", "is required: the container's directory (?dir=... in a GET)")
        record = _read_json(self._record(spec["dir"])) or {}
        pid = self._pid(spec["dir"], spec["name"])
        netns = spec.get("netns") or record.get("netns")
        network = bool(netns) and netns_exists(netns)
        if pid is None and not record and not network:
            return None
        out = {"name": spec["name"], "dir": spec["dir"], "state": "running" if pid else "stopped",
               "network": network}
        out.update((k, record.get(k)) for k in SETTINGS)
        return out

    def validate(self, spec):
        name, dir_ = spec["name"], spec["dir"]
        record = _read_json(self._record(dir_))
        if record and record.get("name") not in (None, name):
            raise InvalidField("name", "%s holds the container %r, not %r" % (dir_, record["name"], name))
        if spec["state"] != "running":
            return
        for field in REQUIRED_TO_RUN:
            if spec[field] is None:
                raise InvalidField(field, "is required for a container that is running")
        if spec["netns"] == spec["lab_netns"]:
            raise InvalidField("netns", "must be the container's own namespace, not the lab's (%s)"
                               % spec["lab_netns"])
        if os.path.exists(dir_) and not os.path.isdir(dir_):
            raise InvalidField("dir", "%s is not a directory" % dir_)
        if not os.path.isfile(spec["image"]):
            raise InvalidField("image", "%s: no such image file" % spec["image"])
        if os.path.realpath(spec["base"]).startswith(os.path.realpath(dir_) + "/"):
            raise InvalidField("base", "%s is inside the container's directory; the base is shared, put it "
                                       "beside the image" % spec["base"])
        require_netns(spec["lab_netns"], "lab_netns")
        bridge = link(spec["bridge"], spec["lab_netns"])
        if not bridge or bridge.get("linkinfo", {}).get("info_kind") != "bridge":
            raise InvalidField("bridge", "no bridge %r in netns %s; create it first"
                               % (spec["bridge"], spec["lab_netns"]))
        for tool in ("systemd-nspawn", "losetup", "unshare", "setsid"):
            if shutil.which(tool) is None:
                raise Unsupported("%s is not installed on this host (Debian: systemd-container, util-linux)"
                                  % tool)

    def predict(self, spec, current):
        if spec["state"] == "absent":
            return None
        if spec["state"] == "stopped":
            return dict(current, state="stopped") if current else None
        want = {k: spec[k] for k in SETTINGS}
        if want["generation"] is None and current:
            want["generation"] = current["generation"]  # not asked: whatever runs
        if (current and current["state"] == "running" and current["network"]
                and all(current[k] == want[k] for k in SETTINGS)):
            return current
        return dict(want, name=spec["name"], dir=spec["dir"], state="running", network=True)

    def converge(self, spec, current):
        if spec["state"] != "running" or (current and current["state"] == "running"):
            self._stop(spec, current)  # also clears the cgroups of a container that died
        if spec["state"] == "absent":
            self._remove_network(spec, current)
            _unlink(self._record(spec["dir"]))
            return
        if spec["state"] != "running":
            return
        if current and any(current[k] not in (None, spec[k]) for k in ("netns", "lab_netns", "veth", "mac")):
            # the old network goes: eth0 keeps its MAC, a veth its name, while they exist
            self._remove_network(dict.fromkeys(("netns", "lab_netns", "veth")), current)
        self._start(spec, current)

    def list(self, query):
        """The containers that run (found by their systemd-nspawn's command line)."""
        out = []
        for entry in os.listdir("/proc"):
            argv = _cmdline(int(entry)) if entry.isdigit() else []
            if not argv or os.path.basename(argv[0]) != "systemd-nspawn":
                continue
            opts = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
            if "machine" in opts and opts.get("directory", "").endswith("/root"):
                found = self.read({"name": opts["machine"], "dir": opts["directory"][:-5]})
                if found and found not in out:
                    out.append(found)
        return sorted(out, key=lambda c: c["name"])

    # -- files -----------------------------------------------------------------
    @staticmethod
    def _record(dir_):
        return os.path.join(dir_, "container.json")

    @staticmethod
    def _pidfile(dir_):
        return os.path.join(dir_, "nspawn.pid")

    def _pid(self, dir_, name):
        """The PID in dir/nspawn.pid when it is this container's systemd-nspawn."""
        try:
            with open(self._pidfile(dir_), encoding="ascii") as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            return None
        if "--machine=" + name in _cmdline(pid) and _alive(pid):
            return pid
        return None

    # -- start -----------------------------------------------------------------
    def _loop_device(self, image):
        """The shared read-only loop device over the image's partition: one per image,
        whoever asks first (the lock keeps two starts from making two)."""
        with open(image + ".lock", "w", encoding="ascii") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for line in run(["losetup", "-n", "-O", "NAME,OFFSET", "-j", image]).splitlines():
                fields = line.split()
                if len(fields) == 2 and fields[1] == str(OFFSET):
                    return fields[0]
            return run(["losetup", "--find", "--show", "--read-only", "--offset", str(OFFSET), image]).strip()

    def _plug(self, spec):
        """The container's network: its namespace, eth0 in it, the peer on the bridge."""
        ns, lab = spec["netns"], spec["lab_netns"]
        if not netns_exists(ns):
            run(["ip", "netns", "add", ns])
            ip(["link", "set", "lo", "up"], netns=ns)
        if link("eth0", ns) is None:
            ip(["link", "del", spec["veth"]], netns=lab, check=False)  # a stale end goes first
            ip(["link", "add", spec["veth"], "type", "veth", "peer", "name", "eth0", "netns", ns,
                "address", spec["mac"]], netns=lab)
        ip(["link", "set", spec["veth"], "master", spec["bridge"], "up"], netns=lab)

    def _make_cgroups(self, spec):
        """A cgroup of its own below the agent's in every hierarchy, with the limits;
        the container joins them itself (their cgroup.procs files)."""
        procs = []
        for parent in hierarchies(os.getpid()):
            group = os.path.join(parent, "stackwright-" + spec["netns"])
            try:
                os.makedirs(group, exist_ok=True)
            except OSError:
                continue
            if spec["memory_mib"]:
                for name in ("memory.max", "memory.limit_in_bytes"):
                    if os.path.exists(os.path.join(group, name)):
                        _write(os.path.join(group, name), str(spec["memory_mib"] * 1048576))
            if spec["cpus"]:
                if os.path.exists(os.path.join(group, "cpu.max")):
                    _write(os.path.join(group, "cpu.max"), "%d 100000" % (spec["cpus"] * 100000))
                if os.path.exists(os.path.join(group, "cpu.cfs_quota_us")):
                    with open(os.path.join(group, "cpu.cfs_period_us"), encoding="ascii") as fh:
                        period = int(fh.read())
                    _write(os.path.join(group, "cpu.cfs_quota_us"), str(spec["cpus"] * period))
            procs.append(os.path.join(group, "cgroup.procs"))
        return procs

    def _start(self, spec, current):
        dir_, name = spec["dir"], spec["name"]
        os.makedirs(dir_, mode=0o700, exist_ok=True)
        loop = self._loop_device(spec["image"])
        self._plug(spec)
        for sub in (spec["base"], os.path.join(dir_, "upper"), os.path.join(dir_, "work"),
                    os.path.join(dir_, "root")):
            os.makedirs(sub, exist_ok=True)
        if os.path.isdir(os.path.join(dir_, "seed")):
            run(["cp", "-a", os.path.join(dir_, "seed") + "/.", os.path.join(dir_, "upper") + "/"])
        procs = self._make_cgroups(spec)
        pidfile = self._pidfile(dir_)
        _unlink(pidfile)
        _write_json(self._record(dir_), dict({k: spec[k] for k in SETTINGS}, name=name))
        env = dict(os.environ, INNER=INNER, SW_LOOP=loop, SW_BASE=spec["base"], SW_NAME=name, SW_DIR=dir_,
                   # the node owns its network namespace: /proc/sys/net writable, /sys showing it
                   # (systemd-nspawn treats --network-namespace-path as the host's network)
                   SYSTEMD_NSPAWN_API_VFS_WRITABLE="network")
        with open(os.path.join(dir_, "console.log"), "wb") as console:
            # setsid forks: the container is init's child, never the agent's (no zombie,
            # and it outlives the agent)
            subprocess.run(["setsid", "--fork", "sh", "-euc", OUTER, "stackwright-container", pidfile, name, dir_,
                            spec["netns"]] + procs,
                           stdin=subprocess.DEVNULL, stdout=console, stderr=console, env=env, check=True,
                           close_fds=True)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and not os.path.exists(pidfile):
            time.sleep(0.05)
        time.sleep(START_SETTLE)
        if self._pid(dir_, name) is None:
            raise CommandFailed("systemd-nspawn for %s exited at once; its console says: %s"
                                % (name, _tail(os.path.join(dir_, "console.log"))))
        LOG.info("container %s started (pid %s)", name, self._pid(dir_, name))

    # -- stop ------------------------------------------------------------------
    def _stop(self, spec, current):
        dir_, name = spec["dir"], spec["name"]
        pid = self._pid(dir_, name)
        if pid is not None:
            leaders = _children(pid)  # the container's systemd
            try:
                if leaders:
                    os.kill(leaders[0], signal.SIGRTMIN + 3)  # halt
                else:
                    os.kill(pid, signal.SIGTERM)  # systemd-nspawn passes it on as SIGRTMIN+3
            except ProcessLookupError:
                pass
            if not self._wait_gone(pid, spec["stop_timeout"]):
                LOG.warning("container %s did not halt within %d s: killing it", name, spec["stop_timeout"])
                for victim in leaders[:1] + [pid]:
                    try:
                        os.kill(victim, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if not self._wait_gone(pid, KILL_WAIT):
                    raise CommandFailed("systemd-nspawn (%d) of %s does not go away, not even on SIGKILL"
                                        % (pid, name))
        _unlink(self._pidfile(dir_))
        for netns in {(current or {}).get("netns"), spec.get("netns")} - {None}:
            self._remove_cgroups("stackwright-" + netns)

    @staticmethod
    def _wait_gone(pid, timeout):
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return not _alive(pid)

    @staticmethod
    def _remove_cgroups(cgname):
        """Every cgroup named ``cgname`` (in any hierarchy, wherever nested), deepest first."""
        for _, mnt, _ in _cgroup_mounts():
            for top, dirs, _ in os.walk(mnt):
                if os.path.basename(top) == cgname:
                    dirs[:] = []
                    for sub, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                        try:
                            os.rmdir(sub)
                        except OSError:
                            pass

    def _remove_network(self, spec, current):
        netns = spec["netns"] or (current or {}).get("netns")
        lab = spec["lab_netns"] or (current or {}).get("lab_netns")
        veth = spec["veth"] or (current or {}).get("veth")
        if netns and netns_exists(netns):
            run(["ip", "netns", "del", netns])  # takes eth0, and so the veth pair, with it
        if lab and veth and netns_exists(lab) and link(veth, lab) is not None:
            ip(["link", "del", veth], netns=lab)
