"""The node registry (resource kind ``nodes``) and the provisioning listener, for
real: an in-process agent on a temporary socket and the listener on 127.0.0.1
with a free port, talked to over HTTP. No VM here (tests/images has those)."""

import io
import json
import os
import re
import stat
import tarfile
import threading
import uuid

import pytest

from ansible_collections.stackwright.cloud.plugins.module_utils import nodes_file
from fixtures import agent_client, http, token_of
from stackwright_agent import provisioning
from stackwright_agent.config import Config

PASSWORD = "pw-" + uuid.uuid4().hex[:10]
NEW_PASSWORD = "pw2-" + uuid.uuid4().hex[:10]
GiB = 1 << 30


def node_body(name="n1", mac="52:54:00:aa:00:01", address="192.0.2.11", password=PASSWORD, **extra):
    body = {"role": "compute", "kind": "baremetal",
            "bmc": {"address": address, "port": 623, "username": "admin", "password": password},
            "macs": [mac], "root_device": {"serial": "DISK-B"}, "network": None,
            "properties": {"cpus": 2}}
    body.update(extra)
    return body


def put_error(agent, ident, body):
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", ident, body)
    return info.value


# ------------------------------------------------------------------- registry

def test_enroll_is_idempotent_and_dry_run_predicts(agent):
    dry = agent.put("nodes", "n1", node_body(), dry_run=True)
    assert dry["changed"] and dry["diff"]["before"] is None
    assert agent.find("nodes", "n1") is None, "a dry run must not enroll"
    real = agent.put("nodes", "n1", node_body())
    assert real["changed"] and real["resource"] == dry["resource"]
    res = real["resource"]
    assert res["provision_state"] == "enrolled" and res["power_state"] == "unknown"
    assert res["bmc"]["address"] == "192.0.2.11" and "password" not in res["bmc"]
    again = agent.put("nodes", "n1", node_body())
    assert not again["changed"]
    listed = agent.client.get("/v1/nodes")["nodes"]
    assert listed == [{"name": "n1", "role": "compute", "kind": "baremetal", "address": None,
                       "provision_state": "enrolled", "power_state": "unknown", "last_error": None}]


def test_bmc_and_macs_changes_are_reconciled(agent):
    agent.put("nodes", "n1", node_body())
    moved = agent.put("nodes", "n1", node_body(address="192.0.2.99"))
    assert moved["changed"]
    assert moved["diff"]["before"]["bmc"]["address"] == "192.0.2.11"
    assert moved["diff"]["after"]["bmc"]["address"] == "192.0.2.99"
    macs = agent.put("nodes", "n1", node_body(address="192.0.2.99", macs=["52:54:00:aa:00:01", "52:54:00:AA:00:02"]))
    assert macs["changed"] and macs["resource"]["macs"] == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]


def test_password_change_is_detected_but_never_shown(agent):
    first = agent.put("nodes", "n1", node_body())
    dry = agent.put("nodes", "n1", node_body(password=NEW_PASSWORD), dry_run=True)
    assert dry["changed"]
    changed = agent.put("nodes", "n1", node_body(password=NEW_PASSWORD))
    assert changed["changed"] and changed["resource"] == dry["resource"]
    assert changed["resource"]["bmc"]["credentials"] != first["resource"]["bmc"]["credentials"]
    assert not agent.put("nodes", "n1", node_body(password=NEW_PASSWORD))["changed"]
    shown = json.dumps([first, dry, changed, agent.find("nodes", "n1"), agent.client.get("/v1/journal")])
    with open(agent.config.journal_path, encoding="utf-8") as fh:
        journal = fh.read()
    for text in (shown, journal):
        assert PASSWORD not in text and NEW_PASSWORD not in text
    assert "<secret>" in journal


def test_registry_file_is_0600_and_history_has_timestamps(agent):
    agent.put("nodes", "n1", node_body())
    agent.put("nodes", "n1", {"provision_state": "verified"})
    path = os.path.join(agent.config.state_dir, "registry.sqlite")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    got = agent.find("nodes", "n1")
    assert got["provision_state"] == "verified" and got["inspection"] is None
    history = got["history"]
    assert [(h["from_state"], h["to_state"]) for h in history] == [(None, "enrolled"), ("enrolled", "verified")]
    assert all(isinstance(h["ts"], float) and h["ts"] > 1.6e9 for h in history)


def test_illegal_transition_is_a_conflict(agent):
    agent.put("nodes", "n1", node_body())
    err = put_error(agent, "n1", {"provision_state": "active"})
    assert err.status == 409 and err.field == "provision_state"
    assert "enrolled" in str(err)
    assert agent.find("nodes", "n1")["provision_state"] == "enrolled"
    err = put_error(agent, "n1", {"provision_state": "failed"})
    assert err.status == 400 and err.field == "last_error"
    failed = agent.put("nodes", "n1", {"provision_state": "failed", "last_error": "BMC unreachable"})
    assert failed["resource"]["last_error"] == "BMC unreachable"
    back = agent.put("nodes", "n1", {"provision_state": "enrolled"})["resource"]
    assert back["provision_state"] == "enrolled" and back["last_error"] is None


def test_duplicate_mac_names_the_other_node(agent):
    agent.put("nodes", "n1", node_body())
    err = put_error(agent, "n2", node_body("n2", mac="52:54:00:AA:00:01", address="192.0.2.12"))
    assert err.status == 409 and err.field == "macs[0]" and "'n1'" in str(err)
    err = put_error(agent, "n2", node_body("n2", mac="52:54:00:aa:00:02"))
    assert err.status == 409 and err.field == "bmc.address" and "'n1'" in str(err)
    err = put_error(agent, "n2", node_body("n2", mac="52:54:00:aa:00:02", address="192.0.2.12",
                                           root_device={"colour": "red"}))
    assert err.field == "root_device.colour"


def test_absent_removes_the_node(agent):
    agent.put("nodes", "n1", node_body())
    gone = agent.put("nodes", "n1", {"state": "absent"})
    assert gone["changed"] and gone["resource"] is None
    assert agent.find("nodes", "n1") is None
    assert not agent.put("nodes", "n1", {"state": "absent"})["changed"]


# -------------------------------------------------------- one node schema

# (field, a bad value) the nodes file and the API refuse alike
BAD_VALUES = [
    ("name", "Compute_0"),
    ("kind", "metal"),
    ("bmc", {"address": "300.1.1.1", "username": "admin", "password": PASSWORD}),
    ("bmc", {"address": "192.0.2.11", "username": "admin", "password": PASSWORD, "adress": "x"}),
    ("bmc", {"address": "192.0.2.11", "username": "admin", "password": 987654}),
    ("macs", ["01:00:5e:00:00:01"]),
    ("macs", ["52:54:00:aa:00:01", "52-54-00-AA-00-01"]),
    ("root_device", {"sizee": 10}),
    ("root_device", {"size": "10GB"}),
    ("root_device", {"rotational": "false"}),
    ("root_device", {"serial": 12345}),
    ("network", {"address": "192.0.2.50/24", "gateway": "198.51.100.1"}),
    ("network", {"address": "192.0.2.0/24"}),
    ("network", {"address": "192.0.2.50"}),
    ("network", {"address": "192.0.2.50/24", "dns": ["one.one.one.one"]}),
    ("properties", {"cpus": 0}),
]


@pytest.mark.parametrize("field, value", BAD_VALUES)
def test_the_api_and_the_nodes_file_refuse_alike(agent, field, value):
    """One node schema: the same field at fault, the same reason, the password never shown."""
    body = node_body()
    raw = {"name": "n1", "bmc": body["bmc"], "macs": body["macs"]}
    name = "n1"
    if field == "name":
        name = value
    else:
        body[field] = raw[field] = value
    raw["name"] = name
    with pytest.raises(nodes_file.NodesFileError) as info:
        nodes_file.load_nodes([raw])
    in_file = info.value
    err = put_error(agent, name, body)
    assert err.status == 400 and err.field == in_file.field, (err.message, str(in_file))
    reason = err.message[len(err.field) + 2:]
    assert str(in_file).endswith(reason), (err.message, str(in_file))
    assert PASSWORD not in err.message and "987654" not in err.message
    assert agent.find("nodes", name) is None


def test_the_api_keeps_a_node_as_the_nodes_file_returns_it(agent):
    """Values are normalized once, the same way: what the nodes file returns, enrolled,
    reads back the same, and the enrollment is idempotent."""
    raw = {"name": "n1", "role": "Compute", "kind": "vm",
           "bmc": {"address": "BMC-1.Example.com", "port": 6231, "username": "admin", "password": PASSWORD},
           "macs": ["52-54-00-AA-00-01"], "root_device": {"size": ">=10", "serial": "S1"},
           "network": {"address": "192.0.2.50/24", "gateway": "192.0.2.1", "dns": ["2001:DB8::53"]},
           "properties": {"cpus": 2, "memory_mb": 2048, "local_gb": None}}
    checked = nodes_file.load_nodes([raw])[0]
    body = dict((k, v) for k, v in checked.items() if k != "name")
    got = agent.put("nodes", "n1", body)["resource"]
    for key in ("role", "kind", "macs", "root_device", "network"):
        assert got[key] == checked[key], key
    assert got["bmc"]["address"] == "bmc-1.example.com" and got["root_device"]["size"] == ">= 10"
    assert got["network"]["dns"] == ["2001:db8::53"]
    # the raw spellings are the same node: nothing changes
    raw_body = dict((k, v) for k, v in raw.items() if k != "name")
    assert not agent.put("nodes", "n1", raw_body)["changed"]


def test_what_a_kind_needs_holds_for_every_change(agent):
    """A container node is pre-provisioned: no BMC, an address; the schema's rule, at
    enrollment and when a change would break it."""
    err = put_error(agent, "c1", {"kind": "container", "bmc": node_body()["bmc"], "macs": ["52:54:00:aa:00:09"],
                                  "network": {"address": "192.0.2.60/24"}})
    assert err.field == "bmc" and "a container node is pre-provisioned and has no BMC" in err.message
    err = put_error(agent, "c1", {"kind": "container", "network": {}})
    assert err.field == "network.address" and "pre-provisioned" in err.message
    agent.put("nodes", "n1", node_body())
    err = put_error(agent, "n1", {"kind": "container"})
    assert err.field == "bmc", "a node with a BMC cannot become a container"
    err = put_error(agent, "n2", node_body("n2", mac=None, macs=None, address="192.0.2.12"))
    assert err.field == "macs" and "PXE" in err.message
    assert agent.find("nodes", "n1")["kind"] == "baremetal"


def test_properties_keep_other_keys_and_check_the_counts(agent):
    keys = ["ssh-ed25519 AAAAtest t@sw"]
    got = agent.put("nodes", "n1", node_body(properties={"cpus": 4, "ssh_authorized_keys": keys}))["resource"]
    assert got["properties"] == {"cpus": 4, "ssh_authorized_keys": keys}
    err = put_error(agent, "n1", {"properties": {"memory_mb": "16G"}})
    assert err.field == "properties.memory_mb" and "expected a whole number of MiB" in err.message


# ------------------------------------------------------------------ listener

def test_boot_chain_scripts(agent, listener):
    agent.put("nodes", "n1", node_body())
    status, body = http(listener, "/boot.ipxe")
    assert status == 200 and body.startswith(b"#!ipxe\n")
    assert b"chain %s/nodes/${net0/mac:hexhyp}.ipxe || exit" % listener.url.encode() in body
    assert http(listener, "/nodes/52-54-00-aa-00-01.ipxe") == (200, b"#!ipxe\nexit\n")
    assert http(listener, "/nodes/52-54-00-aa-00-09.ipxe")[0] == 404

    armed = agent.put("nodes", "n1", {"action": {"action": "inspect"}})
    assert armed["changed"] and armed["resource"]["action"]["action"] == "inspect"
    token = token_of(agent, "n1")
    assert token and token not in json.dumps(armed)
    assert not agent.put("nodes", "n1", {"action": {"action": "inspect"}})["changed"]
    assert token_of(agent, "n1") == token, "re-arming the same action keeps the token"
    status, body = http(listener, "/nodes/52-54-00-AA-00-01.ipxe")
    url = listener.url
    # sw.timeout: what is left of the token's life (ramdisk_timeout after arming)
    script, left = re.subn(r" sw\.timeout=(359[0-9]|3600) ", " ", body.decode())
    # initrd= names the initrd for a UEFI kernel's EFI stub, which loads it itself
    assert status == 200 and left == 1 and script == (
        "#!ipxe\nkernel %s/images/ramdisk/vmlinuz console=ttyS0 sw.api=%s sw.node=n1 sw.token=%s "
        "BOOTIF=52:54:00:aa:00:01 initrd=ramdisk.img\ninitrd --name ramdisk.img %s/images/ramdisk/initrd\nboot\n"
        % (url, url, token, url))

    agent.put("nodes", "n1", {"action": {"action": None}})
    assert http(listener, "/nodes/52-54-00-aa-00-01.ipxe") == (200, b"#!ipxe\nexit\n")
    agent.put("nodes", "n1", {"action": {"action": "clean"}})
    assert token_of(agent, "n1") not in (None, token), "a new action gets a new token"


def test_images_serves_the_store_only(agent, listener):
    store = listener.image_store
    os.makedirs(os.path.join(store, "ramdisk"))
    data = os.urandom(3 * (1 << 20) + 17)  # several chunks and a tail
    with open(os.path.join(store, "ramdisk", "initrd"), "wb") as fh:
        fh.write(data)
    os.symlink("/etc/passwd", os.path.join(store, "escape"))
    agent.put("nodes", "n1", node_body())  # creates registry.sqlite next to the store
    status, body = http(listener, "/images/ramdisk/initrd")
    assert status == 200 and body == data
    for path in ("/images/../registry.sqlite", "/images/%2e%2e/registry.sqlite",
                 "/images/ramdisk/..%2f..%2fregistry.sqlite", "/images/%2E%2E%2Fregistry.sqlite",
                 "/images/escape", "/images/ramdisk", "/images/", "/images/nope",
                 "/registry.sqlite", "/v1/nodes"):
        status, body = http(listener, path)
        assert status in (403, 404), (path, status)
        assert b"SQLite" not in body and b"root:" not in body


def test_ramdisk_api_tokens_inspection_and_results(agent, listener):
    agent.put("nodes", "n1", node_body())
    agent.put("nodes", "n1", {"provision_state": "verified", "action": {"action": "inspect"}})
    token = token_of(agent, "n1")
    before = agent.find("nodes", "n1")
    inventory = {"cpus": {"count": 2, "model": "QEMU"}, "memory_mib": 2048, "nics": [], "disks": [
        {"name": "vda", "path": "/dev/vda", "size_bytes": 20 * GiB, "serial": "DISK-A", "rotational": True},
        {"name": "sda", "path": "/dev/sda", "size_bytes": 40 * GiB, "serial": "DISK-B", "rotational": False}]}
    for query in ("", "?token=", "?token=wrong", "?token=" + token + "x"):
        assert http(listener, "/v1/ramdisk/n1" + query)[0] == 403
        assert http(listener, "/v1/ramdisk/n1/inspection" + query, json.dumps(inventory).encode())[0] == 403
        assert http(listener, "/v1/ramdisk/n1/result" + query, b'{"ok": false, "error": "x"}')[0] == 403
    assert http(listener, "/v1/ramdisk/nobody?token=" + token)[0] == 404
    assert agent.find("nodes", "n1") == before, "refused requests change nothing"

    assert http(listener, "/v1/ramdisk/n1?token=" + token) == (200, b"action=inspect\n")
    status, _ = http(listener, "/v1/ramdisk/n1/inspection?token=" + token, json.dumps(inventory).encode())
    assert status == 200
    got = agent.find("nodes", "n1")
    assert got["provision_state"] == "inspected" and got["target_disk"] == "/dev/sda"  # serial hint
    assert got["inspection"] == inventory
    assert http(listener, "/v1/ramdisk/n1/result?token=" + token,
                b'{"action": "inspect", "ok": true, "error": null, "seconds": 9}')[0] == 200
    assert agent.find("nodes", "n1")["action"] is None and token_of(agent, "n1") is None
    assert http(listener, "/v1/ramdisk/n1?token=" + token)[0] == 403, "a result disarms the token"

    # deploy: instructions carry the image, the chosen disk and the generated config
    agent.put("nodes", "n1", {"provision_state": "available",
                              "properties": {"ssh_authorized_keys": ["ssh-ed25519 AAAAtest t@sw"]},
                              "network": {"address": "192.0.2.50/24", "gateway": "192.0.2.1", "dns": ["192.0.2.2"]}})
    agent.put("nodes", "n1", {"provision_state": "deploying", "action": {
        "action": "deploy", "image_url": "/images/overcloud.raw.gz", "image_sha256": "AB" * 32}})
    token = token_of(agent, "n1")
    status, body = http(listener, "/v1/ramdisk/n1?token=" + token)
    lines = dict(line.split("=", 1) for line in body.decode().splitlines())
    assert lines == {"action": "deploy", "image_url": listener.url + "/images/overcloud.raw.gz",
                     "image_sha256": "ab" * 32, "target_disk": "/dev/sda",
                     "config_url": "%s/v1/ramdisk/n1/config.tar.gz?token=%s" % (listener.url, token)}
    status, tgz = http(listener, "/v1/ramdisk/n1/config.tar.gz?token=" + token)
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        read = {n: tar.extractfile(m).read().decode() for n, m in members.items() if m.isfile()}
    assert read["etc/hostname"] == "n1\n"
    assert read["root/.ssh/authorized_keys"] == "ssh-ed25519 AAAAtest t@sw\n"
    assert members["root/.ssh/authorized_keys"].mode == 0o600 and members["root/.ssh"].mode == 0o700
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    net = read["etc/systemd/network/10-provisioning.network"]
    assert "MACAddress=52:54:00:aa:00:01" in net and "Address=192.0.2.50/24" in net
    # by MAC and type: the VLANs made over the NIC later carry its MAC, and must not match
    assert net.startswith("[Match]\nMACAddress=52:54:00:aa:00:01\nType=ether\n\n[Network]\n")
    assert "Gateway=192.0.2.1" in net and "DNS=192.0.2.2" in net

    status, _ = http(listener, "/v1/ramdisk/n1/result?token=" + token,
                     b'{"action": "deploy", "ok": false, "error": "deploy:write: checksum mismatch", "seconds": 3}')
    assert status == 200
    got = agent.find("nodes", "n1")
    assert got["provision_state"] == "failed" and "checksum mismatch" in got["last_error"]
    assert got["action"] is None and token_of(agent, "n1") is None
    assert got["history"][-1]["event"] == "result" and got["history"][-1]["to_state"] == "failed"


def disk(name, gib, **kw):
    return dict({"name": name, "path": "/dev/" + name, "size_bytes": gib * GiB, "rotational": True,
                 "model": None, "vendor": None, "serial": None, "wwn": None, "hctl": None, "by_path": None}, **kw)


def test_root_device_hints():
    disks = [disk("sdb", 100, model="SSD 860", vendor="Samsung", rotational=False, wwn="0x5000AB"),
             disk("sda", 500, serial="S1", hctl="0:0:0:0"), disk("vda", 2), disk("sdc", 100, serial="S3")]
    pick = provisioning.pick_root_disk
    assert pick(disks, {})["name"] == "sdb", "no hints: the smallest disk of at least 4 GiB, then by name"
    assert pick([disk("vda", 1), disk("vdb", 2)], {})["name"] == "vda", "all tiny: the smallest"
    assert pick(disks, {"serial": "S1"})["name"] == "sda"
    assert pick(disks, {"name": "/dev/sda"})["name"] == "sda"
    assert pick(disks, {"model": "ssd 860", "vendor": "samsung"})["name"] == "sdb"
    assert pick(disks, {"wwn": "0x5000ab"})["name"] == "sdb"
    assert pick(disks, {"rotational": False})["name"] == "sdb"
    assert pick(disks, {"hctl": "0:0:0:0"})["name"] == "sda"
    assert pick(disks, {"size": 500})["name"] == "sda"
    assert pick(disks, {"size": ">= 200"})["name"] == "sda"
    assert pick(disks, {"size": "<10"})["name"] == "vda"
    assert pick(disks, {"size": ">= 50", "rotational": True})["name"] == "sdc"
    assert pick(disks, {"serial": "nope"}) is None
    assert pick([], {}) is None


def test_inspection_without_a_matching_disk_fails_the_node(agent, listener):
    agent.put("nodes", "n1", node_body(root_device={"size": ">= 1000"}))
    agent.put("nodes", "n1", {"provision_state": "verified", "action": {"action": "inspect"}})
    token = token_of(agent, "n1")
    status, _ = http(listener, "/v1/ramdisk/n1/inspection?token=" + token,
                     json.dumps({"disks": [disk("vda", 20)]}).encode())
    assert status == 200
    got = agent.find("nodes", "n1")
    assert got["provision_state"] == "failed" and "vda" in got["last_error"] and got["target_disk"] is None


@pytest.fixture
def pool_agent(tmp_path):
    from fixtures import RunningAgent
    config = Config(socket=str(tmp_path / "a.sock"), state_dir=str(tmp_path / "state"),
                    provisioning_pool="192.168.24.100-192.168.24.101", dhcp_hosts_dir=str(tmp_path / "dhcp"))
    running = RunningAgent(config)
    yield running
    running.stop()


def test_addresses_come_from_the_pool_and_dnsmasq_gets_a_host_file(pool_agent, tmp_path):
    dhcp = tmp_path / "dhcp"
    first = pool_agent.put("nodes", "n1", node_body("n1"))["resource"]
    assert first["address"] == "192.168.24.100"
    # the dry run of a second node predicts the address the real run gives
    second = node_body("n2", mac="52:54:00:aa:00:02", address="192.0.2.12")
    assert pool_agent.put("nodes", "n2", second, dry_run=True)["resource"]["address"] == "192.168.24.101"
    assert pool_agent.put("nodes", "n2", second)["resource"]["address"] == "192.168.24.101"
    assert (dhcp / "n1").read_text() == "52:54:00:aa:00:01,192.168.24.100,n1\n"
    # the address is kept across updates; a MAC change rewrites the host file
    moved = pool_agent.put("nodes", "n1", {"macs": ["52:54:00:aa:00:09"]})
    assert moved["changed"] and moved["resource"]["address"] == "192.168.24.100"
    assert (dhcp / "n1").read_text() == "52:54:00:aa:00:09,192.168.24.100,n1\n"
    # a full pool is a clear conflict, and nothing is enrolled
    err = put_error(pool_agent, "n3", node_body("n3", mac="52:54:00:aa:00:03", address="192.0.2.13"))
    assert err.status == 409 and err.field == "provisioning_pool" and "widen" in err.message
    assert pool_agent.find("nodes", "n3") is None
    # a deleted node frees its address and loses its host file
    pool_agent.put("nodes", "n2", {"state": "absent"})
    assert sorted(os.listdir(dhcp)) == ["n1"]
    third = pool_agent.put("nodes", "n3", node_body("n3", mac="52:54:00:aa:00:03", address="192.0.2.13"))
    assert third["resource"]["address"] == "192.168.24.101"


def test_a_new_registry_opened_by_several_threads_at_once(tmp_path):
    """The agent's first requests come in on several threads: each may open the registry
    while another is still adding its columns (seen: "duplicate column name"; without
    the lock, about one attempt in three here)."""
    from stackwright_agent.registry import Registry

    for attempt in range(30):
        state_dir, barrier, errors = str(tmp_path / str(attempt)), threading.Barrier(16), []

        def open_it():
            barrier.wait()
            try:
                Registry(state_dir)
            except Exception as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=open_it) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], "attempt %d" % attempt
        assert Registry(state_dir).all() == []


def test_nodes_enrolled_at_once_get_addresses_of_their_own(pool_agent):
    # provision.yml enrolls its nodes in parallel: two taking the pool's lowest free
    # address at once would share it, and dnsmasq would answer only one of them
    for attempt in range(10):
        names = ("p1", "p2")
        barrier, got = threading.Barrier(len(names)), {}

        def enroll(i, name):
            body = node_body(name, mac="52:54:00:bb:00:%02d" % i, address="192.0.2.%d" % (30 + i))
            barrier.wait()
            got[name] = pool_agent.put("nodes", name, body)["resource"]["address"]

        threads = [threading.Thread(target=enroll, args=(i, n)) for i, n in enumerate(names, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got.values()) == ["192.168.24.100", "192.168.24.101"], "attempt %d: %s" % (attempt, got)
        for name in names:
            pool_agent.put("nodes", name, {"state": "absent"})


def test_a_node_without_bmc_is_adopted(pool_agent, tmp_path):
    body = {"role": "Controller", "kind": "container", "macs": ["52:54:00:24:01:01"],
            "network": {"address": "192.168.24.50/24"}}
    node = pool_agent.put("nodes", "c1", body)["resource"]
    assert node["bmc"] is None and node["address"] == "192.168.24.50"
    adopted = pool_agent.put("nodes", "c1", {"provision_state": "active"})
    assert adopted["changed"] and adopted["resource"]["provision_state"] == "active"
    # no PXE for it: no dhcp-host file
    assert not (tmp_path / "dhcp" / "c1").exists()
    err = put_error(pool_agent, "c2", {"role": "Controller", "macs": ["52:54:00:24:01:02"]})
    assert err.status == 400 and err.field == "bmc" and "network.address" in err.message
    # a node with a BMC is never adopted: it is deployed
    pool_agent.put("nodes", "n1", node_body("n1"))
    err = put_error(pool_agent, "n1", {"provision_state": "active"})
    assert err.status == 409 and "adoption" in err.message


def test_an_action_sent_again_after_its_boot_is_a_new_attempt(agent, listener):
    """A run killed after its node PXE booted leaves the action armed; the run that takes
    over sends it again: a fresh attempt (token, armed_at), the old ramdisk locked out.
    Before the boot, sending it again changes nothing."""
    agent.put("nodes", "n1", node_body())
    agent.put("nodes", "n1", {"provision_state": "verified", "action": {"action": "inspect"}})
    first = agent.find("nodes", "n1")
    token = token_of(agent, "n1")
    assert not agent.put("nodes", "n1", {"action": {"action": "inspect"}})["changed"]
    assert token_of(agent, "n1") == token

    assert http(listener, "/nodes/52-54-00-aa-00-01.ipxe")[0] == 200  # it PXE booted
    assert agent.find("nodes", "n1")["booted_at"] is not None
    again = agent.put("nodes", "n1", {"action": {"action": "inspect"}})
    assert again["changed"]
    now = agent.find("nodes", "n1")
    assert now["armed_at"] > first["armed_at"] and now["booted_at"] is None
    assert token_of(agent, "n1") not in (None, token)
    assert http(listener, "/v1/ramdisk/n1?token=" + token)[0] == 403, "the earlier boot's ramdisk is locked out"
    assert now["history"][-1]["event"] == "arm" and now["history"][-1]["detail"] == \
        "inspect again (the earlier boot never reported)"

    # a change meant for the earlier attempt is refused; one for this attempt applies
    stale = {"provision_state": "failed", "last_error": "from a wait left behind", "if_armed_at": first["armed_at"]}
    err = put_error(agent, "n1", stale)
    assert err.status == 409 and err.field == "if_armed_at"
    assert agent.find("nodes", "n1")["provision_state"] == "verified", "a refused request changes nothing"
    current = dict(stale, if_armed_at=now["armed_at"])
    assert agent.put("nodes", "n1", current)["resource"]["provision_state"] == "failed"
