"""The deploy ramdisk against the REAL undercloud side: the agent, run as a
process inside the lab's network namespace with its provisioning listener on
the address the ramdisk talks to, instead of fake_undercloud.py. The lab (netns,
bridge, dnsmasq, QEMU) and the ramdisk build are test_ramdisk.py's.

The VM boots the ramdisk directly (-kernel/-initrd) with the command line the
per-MAC iPXE script gives; the test checks that the script says exactly that.
"""

import gzip
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from fixtures import agent_client
# reused, not copied: the build, the lab and its helpers
import test_ramdisk as base
from test_ramdisk import API, MiB, PORT, UC, Lab, debugfs, disk, mac, read, run, stop

# the same marks and fixtures as test_ramdisk (pytest finds fixtures by module attribute)
pytestmark = base.pytestmark
ramdisk = base.ramdisk
image = base.image
_drop_disk_files = base._drop_disk_files

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "agent")
PASSWORD = "pw-lab-secret"


class AgentLab(Lab):
    """test_ramdisk's lab with the agent (nodes + provisioning listener) as the undercloud."""

    def _start(self):
        super()._start()
        stop(self.procs.pop("server"))  # the fake undercloud: replaced by the real thing below
        self.state = self.dir / "state"
        self.socket = str(self.dir / "agent.sock")
        env = dict(os.environ, PYTHONPATH=AGENT_DIR)
        self.procs["agent"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m", "stackwright_agent",
             "--config", str(self.dir / "no-config.json"), "--socket", self.socket,
             "--state-dir", str(self.state), "--provisioning-listen", "%s:%d" % (UC, PORT)],
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "agent.log", "w"), stderr=subprocess.STDOUT, env=env)
        self.client = agent_client.AgentClient(self.socket, timeout=60)
        deadline = time.monotonic() + 30
        while True:
            assert self.procs["agent"].poll() is None, (self.dir / "agent.log").read_text()
            try:
                # health answers once serve_forever runs: the listener is bound by then
                self.client.get("/v1/health")
                break
            except agent_client.AgentClientError:
                assert time.monotonic() < deadline, (self.dir / "agent.log").read_text()
                time.sleep(0.2)

    def put(self, name, body):
        return self.client.put(agent_client.resource_path("nodes", name), body)

    def node(self, name):
        return self.client.get(agent_client.resource_path("nodes", name))

    def arm(self, name, body):
        """PUT an action; remember its token (never in the API: read from the registry)
        where Lab.boot takes it from."""
        self.put(name, body)
        with sqlite3.connect(str(self.state / "registry.sqlite")) as db:
            token = db.execute("SELECT token FROM nodes WHERE name = ?", (name,)).fetchone()[0]
        self.nodes[name] = {"token": token}
        return token

    def ipxe(self, path):
        """GET from the listener, from inside the namespace (where it listens)."""
        code = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())"
        return run("ip", "netns", "exec", self.ns, sys.executable, "-c", code, API + path).stdout


@pytest.fixture(scope="module")
def uclab(ramdisk, tmp_path_factory):
    lab = AgentLab(tmp_path_factory.mktemp("uclab"), ramdisk)
    yield lab
    lab.close()


NODE = "uc-node"
NIC = mac(9)


def test_inspect_through_the_agent(uclab, tmp_path):
    uclab.put(NODE, {"role": "compute", "macs": [NIC], "root_device": {"serial": "SWROOT"},
                     "bmc": {"address": "192.168.30.9", "username": "admin", "password": PASSWORD}})
    uclab.put(NODE, {"provision_state": "verified"})
    token = uclab.arm(NODE, {"action": {"action": "inspect"}})
    script = uclab.ipxe("/nodes/%s.ipxe" % NIC.replace(":", "-"))
    assert ("kernel %s/images/ramdisk/vmlinuz console=ttyS0 sw.api=%s sw.node=%s sw.token=%s BOOTIF=%s sw.timeout="
            % (API, API, NODE, token, NIC)) in script, script

    small = disk(tmp_path / "small.raw", 40 * MiB)
    root = disk(tmp_path / "root.raw", 48 * MiB)
    boot = uclab.boot(NODE, NIC, [{"file": small, "bus": "virtio", "serial": "SWSMALL"},
                                  {"file": root, "bus": "scsi", "serial": "SWROOT"}])
    assert "result reported" in boot.console, boot.lines()

    got = uclab.node(NODE)
    assert got["provision_state"] == "inspected", got
    serials = {d["serial"]: d for d in got["inspection"]["disks"]}
    assert set(serials) == {"SWSMALL", "SWROOT"}
    assert serials["SWROOT"]["size_bytes"] == 48 * MiB
    assert got["target_disk"] == serials["SWROOT"]["path"] == "/dev/sda"
    assert got["action"] is None, "the result disarms the node"
    assert uclab.ipxe("/nodes/%s.ipxe" % NIC.replace(":", "-")) == "#!ipxe\nexit\n"
    assert [h["event"] for h in got["history"]][-2:] == ["inspection", "result"]
    assert PASSWORD not in (uclab.dir / "agent.log").read_text() + (uclab.state / "journal.jsonl").read_text()
    assert token not in (uclab.dir / "agent.log").read_text(), "tokens must not be logged"


def test_deploy_through_the_agent(uclab, image, tmp_path):
    assert uclab.node(NODE)["provision_state"] == "inspected", "needs the inspection above"
    store = uclab.state / "images"
    (store / "overcloud.raw.gz").write_bytes(image["gz"])
    (uclab.state / "authorized_keys").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUndercloudTest uc@sw\n")
    uclab.put(NODE, {"provision_state": "available"})
    uclab.arm(NODE, {"provision_state": "deploying", "action": {
        "action": "deploy", "image_url": "/images/overcloud.raw.gz", "image_sha256": image["sha256"]}})

    small = disk(tmp_path / "small.raw", 40 * MiB)
    root = disk(tmp_path / "root.raw", 72 * MiB)
    boot = uclab.boot(NODE, NIC, [{"file": small, "bus": "virtio", "serial": "SWSMALL"},
                                  {"file": root, "bus": "scsi", "serial": "SWROOT"}])
    got = uclab.node(NODE)
    assert got["provision_state"] == "deploying" and got["deploy_done"] is True, (got, boot.lines())
    assert got["last_error"] is None and got["action"] is None
    raw = gzip.decompress(image["gz"])
    assert read(root, 0, MiB) == raw[:MiB], "the image went to the hinted disk"
    assert read(small, 0, MiB) == bytes(MiB), "the other disk is untouched"
    part = tmp_path / "part1.ext4"
    part.write_bytes(read(root, MiB, len(raw) - MiB))
    assert debugfs(part, "cat /etc/hostname") == NODE + "\n"
    assert "UndercloudTest" in debugfs(part, "cat /root/.ssh/authorized_keys")
    assert "MACAddress=%s" % NIC in debugfs(part, "cat /etc/systemd/network/10-provisioning.network")
    assert "Mode:  0600" in debugfs(part, "stat /root/.ssh/authorized_keys")
    # the playbook's part (boot device, power, SSH) done: active
    assert uclab.put(NODE, {"provision_state": "active"})["resource"]["provision_state"] == "active"
