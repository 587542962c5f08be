"""Shared fixtures: a real agent on a temporary socket, real network namespaces,
a real libvirtd. Everything a test creates it removes; processes it starts it
stops by PID. The collection's tests (tests/) and the agent's (agent/tests/) both
use them, through their conftest.py."""

import atexit
import json
import importlib.util
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "agent"))

from stackwright_agent import provisioning  # noqa: E402
from stackwright_agent.api import Api  # noqa: E402
from stackwright_agent.config import Config  # noqa: E402
from stackwright_agent.ipmi import IpmiError  # noqa: E402
from stackwright_agent.roles import ROLES  # noqa: E402
from stackwright_agent.server import AgentServer  # noqa: E402


def _load(name, relpath):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


agent_client = _load("agent_client", "plugins/module_utils/agent_client.py")


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout


class RunningAgent:
    """An agent serving on a temporary socket in this process."""

    def __init__(self, config):
        self.config = config
        self.start()

    def start(self):
        self.api = Api(self.config)
        self.server = AgentServer(self.config.socket, self.api)
        # a short poll: shutdown() waits up to one for serve_forever to see it (every test pays it)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.client = agent_client.AgentClient(self.config.socket, timeout=120)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        os.unlink(self.config.socket)

    def restart(self):
        self.stop()
        self.start()

    # shortcuts for tests
    def put(self, kind, ident, body, dry_run=False):
        return self.client.put(agent_client.resource_path(kind, *ident.split("/")), dict(body, dry_run=dry_run))

    def find(self, kind, ident, **query):
        return self.client.find(agent_client.resource_path(kind, *ident.split("/")), query or None)


@pytest.fixture
def agent_config(tmp_path):
    return Config(socket=str(tmp_path / "run" / "agent.sock"), state_dir=str(tmp_path / "state"),
                  console_log_dir=str(tmp_path / "console"), domain_type="qemu", roles=list(ROLES),
                  libvirt_uri=os.environ.get("STACKWRIGHT_TEST_LIBVIRT_URI", "qemu:///system"))


@pytest.fixture
def agent(agent_config):
    running = RunningAgent(agent_config)
    yield running
    running.stop()


def link_collection(base):
    """BASE/ansible_collections/stackwright/cloud -> this checkout; returns BASE (for
    ANSIBLE_COLLECTIONS_PATH)."""
    namespace = os.path.join(str(base), "ansible_collections", "stackwright")
    os.makedirs(namespace, exist_ok=True)
    os.symlink(ROOT, os.path.join(namespace, "cloud"))
    return str(base)


# The modules import their module_utils as ansible_collections.stackwright.cloud, as
# Ansible ships them: the tests import them so too, in this process and in the
# module runs they start (PYTHONPATH).
COLLECTIONS = link_collection(tempfile.mkdtemp(prefix="stackwright-collections-"))
atexit.register(shutil.rmtree, COLLECTIONS, True)
sys.path.insert(0, COLLECTIONS)


@pytest.fixture
def node_state_dir(tmp_path, monkeypatch):
    """Where config_files, systemd_units and deploy_state keep the node's state, for a
    test (this host is no node); module runs started from the test inherit it."""
    path = tmp_path / "node-state"
    monkeypatch.setenv("STACKWRIGHT_NODE_STATE_DIR", str(path))
    monkeypatch.setenv("PYTHONPATH", COLLECTIONS)
    return path


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    return link_collection(tmp_path_factory.mktemp("collections"))


def run_play(tmp_path, collections, play, inventory, returncode=0):
    """ansible-playbook on PLAY (a list of plays) with INVENTORY (a YAML inventory as a
    dict), the collection from COLLECTIONS, no user settings; asserts it exited with
    RETURNCODE (passed) and gives the finished process."""
    (tmp_path / "play.yml").write_text(json.dumps(play))
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventory.yml",
                           "play.yml"], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == returncode, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def listener(agent):
    """The agent's provisioning listener on 127.0.0.1, a free port."""
    config = Config(state_dir=agent.config.state_dir, provisioning_listen="127.0.0.1:0")
    server = provisioning.start(config, agent.api.drivers["nodes"].registry, poll_interval=0.05)
    yield server
    server.shutdown()
    server.server_close()


def http(server, path, data=None):
    """(status, body bytes) of a request to the listener."""
    req = urllib.request.Request(server.url + path, data=data,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def token_of(agent, name):
    """A node's ramdisk token: it never leaves the agent through the API, so read the registry file."""
    with sqlite3.connect(os.path.join(agent.config.state_dir, "registry.sqlite")) as db:
        return db.execute("SELECT token FROM nodes WHERE name = ?", (name,)).fetchone()[0]


@pytest.fixture
def netns():
    """A fresh network namespace, deleted (with everything in it) afterwards."""
    name = "swt-" + uuid.uuid4().hex[:8]
    sh("ip", "netns", "add", name)
    yield name
    sh("ip", "netns", "del", name, check=False)


def _netns_of(pid):
    """Name of the namespace a process lives in (None: the host's)."""
    target = os.stat("/proc/%d/ns/net" % pid).st_ino
    if target == os.stat("/proc/self/ns/net").st_ino:
        return None
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if os.stat(os.path.join("/run/netns", name)).st_ino == target:
            return name
    raise RuntimeError("libvirtd (pid %d) runs in a network namespace with no name" % pid)


def _pid_alive(pidfile):
    try:
        with open(pidfile) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _libvirtd_pid():
    return _pid_alive("/run/libvirtd.pid")


@pytest.fixture(scope="session")
def libvirt_netns():
    """A running libvirtd and the namespace its guests' NICs live in.

    Uses the libvirtd already running on this host if there is one; otherwise
    starts virtlogd and libvirtd (the lab's way: the lab host's libvirtd driver)
    inside a namespace of its own and stops them, by PID, at the end of the session.
    """
    pytest.importorskip("libvirt")
    pid = _libvirtd_pid()
    if pid:
        yield _netns_of(pid)
        return
    name = "swt-libvirt-" + uuid.uuid4().hex[:6]
    sh("ip", "netns", "add", name)
    started = ["/run/libvirtd.pid"]
    if not _pid_alive("/run/virtlogd.pid"):
        started.insert(0, "/run/virtlogd.pid")
    subprocess.run([sys.executable, "-m", "stackwright_agent.drivers.libvirtd", name, "--hide-kvm"], check=True,
                   env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "agent")))
    yield name
    for pidfile in reversed(started):
        try:
            with open(pidfile) as fh:
                os.kill(int(fh.read().strip()), 15)
        except (OSError, ValueError):
            pass
    sh("ip", "netns", "del", name, check=False)


@pytest.fixture
def silent_bmc():
    """A UDP port that reads and drops everything: a BMC that never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


FAKE_INVENTORY = {"cpus": {"count": 2, "model": "QEMU"}, "memory_mib": 2048, "nics": [], "disks": [
    {"name": "sda", "path": "/dev/sda", "size_bytes": 40 << 30, "serial": "DISK-B", "rotational": False},
    {"name": "vda", "path": "/dev/vda", "size_bytes": 20 << 30, "rotational": True}]}


class FakeMachine:
    """A server behind a BMC (fake: see the module doc)."""

    def __init__(self, listener, mac="52-54-00-aa-00-01", pxe=True, refuse=None, name="n1"):
        self.listener, self.mac, self.pxe, self.refuse, self.name = listener, mac, pxe, refuse, name
        self.power, self.next_boot, self.persistent_boot = "off", None, "hd"
        self.booted_disk = False
        self.boots = 0
        self.commands = []  # what the BMC was told: ("power", verb), ("boot", device)
        self.instructions = None  # what the ramdisk was last told (key=value lines)
        # what the ramdisk does after its instructions: True reports success; "hang" stays
        # on and silent; "off" powers off without a report; any other text reports that failure
        self.report = True
        self.lock = threading.Lock()

    def behind(self, conductor):
        """Make this the one machine ``conductor`` drives (its BMC, its SSH), polling fast."""
        conductor._bmc_factory = lambda node, retries=5: self
        conductor._ssh_greets = lambda address: self.booted_disk
        conductor._poll, conductor._power_watch = 0.05, 0.2
        conductor._sleep = lambda seconds: time.sleep(min(seconds, 0.05))
        return self

    # the BMC client's interface (bmc.py)
    def describe(self):
        return "BMC fake"

    def power_state(self):
        if self.refuse:
            raise IpmiError(self.refuse)
        return self.power

    def set_power(self, verb, wait=False):
        self.commands.append(("power", verb))
        with self.lock:
            if verb == "off":
                self.power, self.booted_disk = "off", False
                return
            if self.power == "on":
                return
            self.power = "on"
            device = self.next_boot or self.persistent_boot
            self.next_boot = None
        if device == "network" and self.pxe:
            self.boots += 1
            threading.Thread(target=self._ramdisk, daemon=True).start()
        elif device == "hd":
            self.booted_disk = True

    def boot_device(self):
        return {"device": self.next_boot or self.persistent_boot, "persistent": self.next_boot is None}

    def set_boot_device(self, device, persistent):
        self.commands.append(("boot", device))
        if persistent:
            self.persistent_boot, self.next_boot = device, None
        else:
            self.next_boot = device

    def _ramdisk(self):
        status, script = http(self.listener, "/nodes/%s.ipxe" % self.mac)
        token = re.search(r"sw\.token=(\S+)", script.decode()).group(1)
        status, body = http(self.listener, "/v1/ramdisk/%s?token=" % self.name + token)
        self.instructions = dict(line.split("=", 1) for line in body.decode().splitlines())
        action = self.instructions["action"]
        if self.report is not True:
            if self.report == "hang":
                return
            if self.report != "off":
                http(self.listener, "/v1/ramdisk/%s/result?token=" % self.name + token,
                     json.dumps({"action": action, "ok": False, "error": self.report, "seconds": 1}).encode())
            self.power = "off"
            return
        if action == "inspect":
            http(self.listener, "/v1/ramdisk/%s/inspection?token=" % self.name + token,
                 json.dumps(FAKE_INVENTORY).encode())
        http(self.listener, "/v1/ramdisk/%s/result?token=" % self.name + token,
             json.dumps({"action": action, "ok": True, "error": None, "seconds": 1}).encode())
        self.power = "off"  # as the ramdisk does after its report
