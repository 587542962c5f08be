"""Shared fixtures: a real agent on a temporary socket, real network namespaces,
a real libvirtd. Everything a test creates it removes; processes it starts it
stops by PID."""

import importlib.util
import os
import subprocess
import sys
import threading
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "agent"))

from stackwright_agent.api import Api  # noqa: E402
from stackwright_agent.config import Config  # noqa: E402
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
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
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
                  console_log_dir=str(tmp_path / "console"), domain_type="qemu",
                  libvirt_uri=os.environ.get("STACKWRIGHT_TEST_LIBVIRT_URI", "qemu:///system"))


@pytest.fixture
def agent(agent_config):
    running = RunningAgent(agent_config)
    yield running
    running.stop()


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
    starts virtlogd and libvirtd (the lab's way, roles/lab/files/start-libvirtd.sh)
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
    sh(os.path.join(ROOT, "roles/lab/files/start-libvirtd.sh"), name, "--hide-kvm")
    yield name
    for pidfile in reversed(started):
        try:
            with open(pidfile) as fh:
                os.kill(int(fh.read().strip()), 15)
        except (OSError, ValueError):
            pass
    sh("ip", "netns", "del", name, check=False)
