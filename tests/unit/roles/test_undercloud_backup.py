"""playbooks/undercloud-backup.yml and undercloud-restore.yml, run for real with
ansible-playbook against this host, every path of the undercloud below tmp_path:
the registry is the in-process conductor's (real SQLite, written by its API while the
backup runs). Stopping and starting the conductor is the role's one task file
(undercloud_backup_service_tasks); here it is a task that writes what it was asked to
a log, since the conductor runs in this test's process (the test says so)."""

import hashlib
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import uuid

import pytest
import yaml

from fixtures import ROOT
from stackwright_agent.config import Config

BIN = os.path.dirname(sys.executable)
PASSWORD = "bmc-" + uuid.uuid4().hex[:12]
PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-" + uuid.uuid4().hex + "\n-----END OPENSSH PRIVATE KEY-----\n"
NAME = re.compile(r"[0-9]{8}T[0-9]{6}Z\Z")


@pytest.fixture
def agent_config(tmp_path):
    """The undercloud conductor, its state dir where roles/undercloud puts it:
    <undercloud_state_dir>/agent."""
    return Config(socket=str(tmp_path / "run" / "undercloud.sock"), state_dir=str(tmp_path / "uc" / "agent"),
                  roles=["conductor"])


def node_body(index, password=PASSWORD):
    return {"role": "Compute", "kind": "baremetal", "macs": ["52:54:00:bb:%02x:%02x" % divmod(index, 256)],
            "bmc": {"address": "192.0.2.%d" % (index % 250 + 1), "port": 6230 + index // 250,
                    "username": "admin", "password": password}}


def write(path, content, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    os.chmod(path, mode)


class Undercloud:
    def __init__(self, tmp_path, collections, agent):
        self.tmp, self.agent = tmp_path, agent
        self.state = tmp_path / "uc"
        self.agent_dir = self.state / "agent"
        self.images = self.state / "images"
        self.key = self.state / "ssh" / "id_ed25519"
        self.nodes_file = tmp_path / "site" / "nodes.yml"
        self.backups = tmp_path / "backups"
        self.log = tmp_path / "service.log"
        write(self.agent_dir / "known_hosts", "n0,192.0.2.50 ssh-ed25519 AAAAn0\n", 0o644)
        write(self.agent_dir / "authorized_keys", "ssh-ed25519 AAAApub stackwright-undercloud\n")
        write(self.agent_dir / "host-keys" / "n0" / "ssh_host_ed25519_key", PRIVATE)
        write(self.key, PRIVATE)
        write(self.key.with_suffix(".pub"), "ssh-ed25519 AAAApub stackwright-undercloud\n", 0o644)
        write(self.nodes_file, yaml.safe_dump({"nodes": [{"name": "n0", "bmc": {"password": PASSWORD}}]}))
        self.image = b"overcloud image " * 4096
        write(self.images / "overcloud-openstack.raw.gz", self.image, 0o644)
        write(self.images / "overcloud-openstack.raw.gz.sha256",
              "%s  overcloud-openstack.raw.gz\n" % hashlib.sha256(self.image).hexdigest(), 0o644)
        write(self.images / "ramdisk" / "cmdline", "console=ttyS0\n", 0o644)
        service = tmp_path / "service.yml"
        service.write_text(yaml.safe_dump([{"name": "the conductor (a log here)", "ansible.builtin.shell": {
            "cmd": "echo {{ _undercloud_backup_service_state }} >> %s" % self.log}, "changed_when": True}]))
        self.inventory = tmp_path / "hosts.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"undercloud": {"hosts": {"uc": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "undercloud_state_dir": str(self.state), "undercloud_ssh_key": str(self.key),
            "provision_nodes_file": str(self.nodes_file), "undercloud_agent_socket": agent.config.socket,
            "undercloud_backup_dir": str(self.backups), "undercloud_backup_service_tasks": str(service)}}}}}}))
        # as the project's ansible.cfg runs modules: piped, not copied
        (tmp_path / "ansible.cfg").write_text("[defaults]\ninternal_poll_interval = 0.01\n[connection]\npipelining = true\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env.update(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"),
                        ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0")

    def run(self, playbook, *extra):
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(self.inventory),
                               os.path.join(ROOT, "playbooks", playbook)] + list(extra),
                              capture_output=True, text=True, env=self.env, cwd=str(self.tmp), timeout=300)
        output = proc.stdout + proc.stderr
        assert PASSWORD not in output and "secret-" not in output, "no secret in Ansible's output"
        return proc.returncode, " ".join(output.split())

    def backup_names(self):
        return sorted(os.listdir(self.backups)) if self.backups.exists() else []


def nodes_of(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return db.execute("SELECT name, bmc_password FROM nodes ORDER BY name").fetchall()
    finally:
        db.close()


def reseal(backup):
    """SHA256SUMS made again, as the backup makes it."""
    subprocess.run("find . -type f ! -name SHA256SUMS -printf '%P\\n' | LC_ALL=C sort | xargs -r -d '\\n' sha256sum "
                   "> SHA256SUMS", shell=True, cwd=str(backup), check=True)


@pytest.fixture
def undercloud(tmp_path, collections, agent):
    return Undercloud(tmp_path, collections, agent)


def test_backup_while_the_registry_is_written_then_restore_puts_it_back(undercloud, agent):
    for i in range(3):
        agent.put("nodes", "n%d" % i, node_body(i))
    written, stop = [], threading.Event()

    def enroll():
        # the conductor's API keeps writing the registry all through the backup
        while not stop.is_set() and len(written) < 2000:
            agent.put("nodes", "w%04d" % len(written), node_body(len(written) + 3))
            written.append(len(written))
            stop.wait(0.01)  # a steady writer, not one that starves the run of the CPU

    writer = threading.Thread(target=enroll)
    writer.start()
    try:
        code, out = undercloud.run("undercloud-backup.yml")
    finally:
        stop.set()
        writer.join()
    assert code == 0, out
    (name,) = undercloud.backup_names()
    assert NAME.match(name), "complete, with its name (no .partial left)"
    backup = undercloud.backups / name
    assert written, "the registry was written to while the backup ran"

    # a consistent copy: the first nodes, then every node written before the copy and none after
    saved = nodes_of(backup / "registry.sqlite")
    names = [n for n, _ in saved]
    copied = [n for n in names if n.startswith("w")]
    assert names[:3] == ["n0", "n1", "n2"] and copied == ["w%04d" % i for i in range(len(copied))]
    assert all(password == PASSWORD for _, password in saved)
    assert json.loads((backup / "backup.json").read_text())["nodes"] == len(saved)
    assert "%d nodes" % len(saved) in out

    for top, dirs, files in os.walk(backup):
        assert stat.S_IMODE(os.stat(top).st_mode) == 0o700, top
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(top, f)).st_mode) == 0o600, f
    assert stat.S_IMODE(os.stat(undercloud.backups).st_mode) == 0o700
    subprocess.run(["sha256sum", "--check", "--quiet", "--strict", "SHA256SUMS"], cwd=str(backup), check=True)
    # the big image by name and SHA-256 only, the small files copied
    manifest = {i["name"]: i for i in json.loads((backup / "images.json").read_text())["images"]}
    assert manifest["overcloud-openstack.raw.gz"]["big"] is True
    assert manifest["overcloud-openstack.raw.gz"]["sha256"] == hashlib.sha256(undercloud.image).hexdigest()
    assert not (backup / "images" / "overcloud-openstack.raw.gz").exists()
    assert (backup / "images" / "ramdisk" / "cmdline").read_text() == "console=ttyS0\n"

    # the undercloud loses its state
    registry = undercloud.agent_dir / "registry.sqlite"
    registry.write_bytes(b"not a database" * 100)
    (undercloud.agent_dir / "known_hosts").unlink()
    write(undercloud.agent_dir / "host-keys" / "w9999" / "ssh_host_ed25519_key", "stray", 0o600)
    write(undercloud.key, "another key\n", 0o644)
    undercloud.nodes_file.unlink()
    (undercloud.images / "overcloud-openstack.raw.gz").unlink()
    write(undercloud.images / "ramdisk" / "cmdline", "changed\n", 0o644)

    code, out = undercloud.run("undercloud-restore.yml")
    assert code == 0, out
    assert undercloud.log.read_text() == "stopped\nstarted\n", "the conductor stopped while the registry went back"
    assert nodes_of(registry) == saved
    assert stat.S_IMODE(os.stat(registry).st_mode) == 0o600
    # the running conductor serves the restored registry
    assert agent.find("nodes", "w%04d" % (len(copied) - 1))["name"] == "w%04d" % (len(copied) - 1)
    assert (undercloud.agent_dir / "known_hosts").read_text().startswith("n0,192.0.2.50 ")
    assert sorted(os.listdir(undercloud.agent_dir / "host-keys")) == ["n0"]
    assert undercloud.key.read_text() == PRIVATE and stat.S_IMODE(os.stat(undercloud.key).st_mode) == 0o600
    assert PASSWORD in undercloud.nodes_file.read_text()
    assert (undercloud.images / "ramdisk" / "cmdline").read_text() == "console=ttyS0\n"
    assert "images not as backed up (not in the backup: undercloud.yml builds them again): " \
           "overcloud-openstack.raw.gz (missing)" in out, out


def test_a_damaged_backup_is_refused_naming_the_file_and_an_image_it_has_goes_back(undercloud, agent):
    agent.put("nodes", "n0", node_body(0))
    code, out = undercloud.run("undercloud-backup.yml", "-e", "undercloud_backup_images=true")
    assert code == 0, out
    (name,) = undercloud.backup_names()
    backup = undercloud.backups / name
    assert (backup / "images" / "overcloud-openstack.raw.gz").read_bytes() == undercloud.image

    # a later backup (the one restore takes by default) with one byte more in a file
    damaged = undercloud.backups / "29991231T235959Z"
    subprocess.run(["cp", "-a", str(backup), str(damaged)], check=True)
    with open(damaged / "files.tar.gz", "ab") as fh:
        fh.write(b"\0")
    agent.put("nodes", "n1", node_body(1))  # after the backup: a restore would remove it
    registry = undercloud.agent_dir / "registry.sqlite"
    before = registry.read_bytes()
    code, out = undercloud.run("undercloud-restore.yml")
    assert code != 0
    assert "undercloud backup 29991231T235959Z is damaged, nothing was restored: files.tar.gz: FAILED" in out, out
    assert not undercloud.log.exists(), "the conductor was not stopped"
    assert registry.read_bytes() == before and [n for n, _ in nodes_of(registry)] == ["n0", "n1"]

    # an archive that would put a file elsewhere (its checksums made again): only the undercloud's go back
    outside = undercloud.tmp / "outside"
    outside.write_text("not the undercloud's")
    subprocess.run(["gunzip", str(backup / "files.tar.gz")], check=True)
    subprocess.run(["tar", "--append", "--file", str(backup / "files.tar"), "--directory", "/",
                    str(outside).lstrip("/")], check=True)
    subprocess.run(["gzip", str(backup / "files.tar")], check=True)
    reseal(backup)
    outside.unlink()
    # a registry copy that is no database, its checksums made again: refused all the same
    broken = undercloud.backups / "29991231T235958Z"
    subprocess.run(["cp", "-a", str(backup), str(broken)], check=True)
    (broken / "registry.sqlite").write_bytes(b"not a database" * 100)
    reseal(broken)
    code, out = undercloud.run("undercloud-restore.yml", "-e", "undercloud_backup_restore=%s" % broken.name)
    assert code != 0 and "undercloud backup %s: nothing was restored: registry %s cannot be read" % (
        broken.name, broken / "registry.sqlite") in out, out
    assert not undercloud.log.exists() and registry.read_bytes() == before

    (undercloud.images / "overcloud-openstack.raw.gz").unlink()
    code, out = undercloud.run("undercloud-restore.yml", "-e", "undercloud_backup_restore=%s" % name)
    assert code == 0, out
    assert [n for n, _ in nodes_of(registry)] == ["n0"]
    assert (undercloud.images / "overcloud-openstack.raw.gz").read_bytes() == undercloud.image
    assert stat.S_IMODE(os.stat(undercloud.images / "overcloud-openstack.raw.gz").st_mode) == 0o644
    assert "; images as backed up" in out, out
    assert not outside.exists()


def test_no_registry_no_backup_and_a_restore_with_no_backup_says_so(undercloud):
    registry = undercloud.agent_dir / "registry.sqlite"
    assert not registry.exists(), "no node enrolled yet: no registry"
    code, out = undercloud.run("undercloud-backup.yml")
    assert code != 0 and "no backup was made: no registry at %s" % registry in out, out
    assert not [n for n in undercloud.backup_names() if NAME.match(n)], "no complete backup"

    code, out = undercloud.run("undercloud-restore.yml")
    assert code != 0 and "there is no complete undercloud backup in %s to restore: make one first" % (
        undercloud.backups) in out, out
    assert not undercloud.log.exists()


@pytest.mark.parametrize("setting", ["backups", "/var/lib/stackwright/backups/overcloud/"])
def test_a_backup_directory_that_would_lose_backups_is_refused(undercloud, setting):
    # relative: wherever Ansible runs; the overcloud's: its retention would remove the other's backups
    where = os.path.join(str(undercloud.tmp), setting)
    before = sorted(os.listdir(where)) if os.path.isdir(where) else None
    code, out = undercloud.run("undercloud-backup.yml", "-e", "undercloud_backup_dir=%s" % setting)
    assert code != 0 and "undercloud_backup_dir %s: an absolute path outside undercloud_state_dir" % setting in out, out
    assert (sorted(os.listdir(where)) if os.path.isdir(where) else None) == before, "nothing written there"
