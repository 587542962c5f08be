"""The inventory plugin stackwright.cloud.overcloud, for real: ansible-inventory
(from this Python's venv) reads an in-process agent's node registry on a
temporary socket; the nodes get there through the API and the provisioning
listener, as the provisioning playbook and the ramdisk put them there."""

import json
import os
import socket
import subprocess
import sys

import yaml

from fixtures import http, token_of

BIN = os.path.dirname(sys.executable)
GiB = 1 << 30
SHA = "ab" * 32
INVENTORY = {"cpus": {"count": 4, "model": "QEMU"}, "memory_mib": 8192,
             "nics": [{"name": "ens3", "mac": "52:54:00:aa:00:01", "link": True, "speed_mbps": 1000}],
             "disks": [{"name": "vda", "path": "/dev/vda", "size_bytes": 20 * GiB, "rotational": False,
                        "serial": "S1", "model": None, "vendor": None, "wwn": None, "by_path": None, "hctl": None},
                       {"name": "vdb", "path": "/dev/vdb", "size_bytes": 100 * GiB, "rotational": True,
                        "serial": "S2", "model": None, "vendor": None, "wwn": None, "by_path": None, "hctl": None}]}


def ansible_inventory(tmp_path, collections, config, *args):
    path = tmp_path / "overcloud.stackwright.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_INVENTORY_UNPARSED_FAILED="1")
    return subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path)] + list(args),
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)


def plain(value):
    """ansible-inventory --list marks strings from the registry as not to be templated
    ({"__ansible_unsafe": "..."}); the values themselves."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def bare_metal(agent, listener, name, mac, bmc, role, network, until):
    """Enroll a node with a BMC and take it, the ramdisk's way, as far as ``until``."""
    agent.put("nodes", name, {"role": role, "kind": "baremetal", "macs": [mac], "network": network,
                              "root_device": {"serial": "S2"},
                              "bmc": {"address": bmc, "username": "admin", "password": "secret-" + name}})
    agent.put("nodes", name, {"provision_state": "verified", "action": {"action": "inspect"}})
    token = token_of(agent, name)
    assert http(listener, "/v1/ramdisk/%s/inspection?token=%s" % (name, token), json.dumps(INVENTORY).encode())[0] == 200
    assert http(listener, "/v1/ramdisk/%s/result?token=%s" % (name, token), json.dumps({"ok": True}).encode())[0] == 200
    agent.put("nodes", name, {"provision_state": "available"})
    if until == "available":
        return
    agent.put("nodes", name, {"provision_state": "deploying", "action": {
        "action": "deploy", "image_url": "/images/overcloud.raw.gz", "image_sha256": SHA}})
    token = token_of(agent, name)
    # the ramdisk fetches the first-boot config: the undercloud makes the host key then
    assert http(listener, "/v1/ramdisk/%s/config.tar.gz?token=%s" % (name, token))[0] == 200
    assert http(listener, "/v1/ramdisk/%s/result?token=%s" % (name, token), json.dumps({"ok": True}).encode())[0] == 200
    node = agent.put("nodes", name, {"provision_state": "active", "power_state": "on"})["resource"]
    assert node["provision_state"] == "active"


def test_active_nodes_grouped_by_role(agent, listener, tmp_path, collections):
    bare_metal(agent, listener, "compute-0", "52:54:00:aa:00:01", "192.0.2.11", "Compute",
               {"address": "192.168.24.20/24", "gateway": "192.168.24.1"}, "active")
    bare_metal(agent, listener, "spare-0", "52:54:00:aa:00:02", "192.0.2.12", "Compute",
               {"address": "192.168.24.21/24"}, "available")
    # DHCP and no provisioning pool: no address, so no way to reach it
    bare_metal(agent, listener, "lost-0", "52:54:00:aa:00:03", "192.0.2.13", "Block-Storage", {}, "active")
    # pre-provisioned, adopted
    agent.put("nodes", "ctl-0", {"role": "Controller", "kind": "container", "network": {"address": "192.168.24.10/24"}})
    agent.put("nodes", "ctl-0", {"provision_state": "active"})
    # a role that is no valid group name as it is
    agent.put("nodes", "storage-0", {"role": "Block-Storage", "kind": "container",
                                     "network": {"address": "192.168.24.30/24"}})
    agent.put("nodes", "storage-0", {"provision_state": "active"})

    config = {"plugin": "stackwright.cloud.overcloud", "agent_socket": agent.config.socket,
              "ssh_private_key_file": "/home/stack/.ssh/id_lab",
              "keyed_groups": [{"key": "stackwright_baremetal.kind", "prefix": "kind"}],
              "groups": {"big_disks": "stackwright_baremetal.inspection.disks | map(attribute='size_bytes') | max "
                                      ">= 50 * 1024 ** 3"},
              "compose": {"cpu_count": "stackwright_baremetal.inspection.cpus.count"}}
    run = ansible_inventory(tmp_path, collections, config, "--list")
    assert run.returncode == 0, run.stderr
    inv = plain(json.loads(run.stdout))
    hostvars = inv["_meta"]["hostvars"]
    assert sorted(hostvars) == ["compute-0", "ctl-0", "storage-0"], "only active nodes with an address"
    assert sorted(inv["overcloud"]["children"]) == ["Block_Storage", "Compute", "Controller"]
    assert inv["Compute"]["hosts"] == ["compute-0"] and inv["Controller"]["hosts"] == ["ctl-0"]
    assert inv["Block_Storage"]["hosts"] == ["storage-0"]
    assert inv["kind_baremetal"]["hosts"] == ["compute-0"]
    assert sorted(inv["kind_container"]["hosts"]) == ["ctl-0", "storage-0"]
    assert inv["big_disks"]["hosts"] == ["compute-0"]
    assert "lost-0" in run.stderr and "no provisioning address" in run.stderr

    compute = hostvars["compute-0"]
    assert compute["ansible_host"] == "192.168.24.20" and compute["ansible_user"] == "root"
    assert compute["ansible_ssh_private_key_file"] == "/home/stack/.ssh/id_lab"
    assert compute["cpu_count"] == 4
    node = compute["stackwright_baremetal"]
    assert node["role"] == "Compute" and node["kind"] == "baremetal" and node["macs"] == ["52:54:00:aa:00:01"]
    assert node["target_disk"] == "/dev/vdb" and node["provision_state"] == "active"
    assert node["inspection"] == {
        "cpus": {"count": 4, "model": "QEMU"}, "memory_mib": 8192,
        "disks": [{"name": "vda", "size_bytes": 20 * GiB, "rotational": False},
                  {"name": "vdb", "size_bytes": 100 * GiB, "rotational": True}],
        "nics": [{"name": "ens3", "mac": "52:54:00:aa:00:01", "link": True, "speed_mbps": 1000}]}
    ctl = hostvars["ctl-0"]
    assert ctl["ansible_host"] == "192.168.24.10" and ctl["stackwright_baremetal"]["inspection"] is None
    assert "secret-" not in run.stdout + run.stderr

    assert "ansible_ssh_common_args" not in compute  # no known_hosts_file: SSH's own files

    # other states, another user, no key
    config = {"plugin": "stackwright.cloud.overcloud", "agent_socket": agent.config.socket,
              "states": ["available", "active"], "ssh_user": "stack"}
    inv = plain(json.loads(ansible_inventory(tmp_path, collections, config, "--list").stdout))
    assert sorted(inv["Compute"]["hosts"]) == ["compute-0", "spare-0"]
    assert inv["_meta"]["hostvars"]["spare-0"]["ansible_user"] == "stack"
    assert "ansible_ssh_private_key_file" not in inv["_meta"]["hostvars"]["spare-0"]


def test_before_the_undercloud_exists_the_overcloud_is_empty(tmp_path, collections):
    """No socket yet (the lab's first run): no host, no warning, and Ansible does not
    go on to try its other inventory plugins on the file."""
    config = {"plugin": "stackwright.cloud.overcloud", "agent_socket": str(tmp_path / "nowhere.sock")}
    run = ansible_inventory(tmp_path, collections, config, "--list")
    assert run.returncode == 0, run.stderr
    assert "WARNING" not in run.stderr and "Failed to parse" not in run.stderr, run.stderr
    inv = json.loads(run.stdout)
    assert inv["_meta"]["hostvars"] == {}
    assert not inv.get("overcloud", {}).get("hosts") and not inv.get("overcloud", {}).get("children")

    # beside a static inventory, as in inventories/lab: the static hosts, and not a warning
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"lab0": {"ansible_connection": "local"}}}}))
    (inventory / "overcloud.stackwright.yml").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(inventory), "--graph"], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "lab0" in run.stdout and "@overcloud" in run.stdout
    assert "WARNING" not in run.stderr and "Failed to parse" not in run.stderr, run.stderr


def test_a_socket_nobody_answers_on_is_an_error(tmp_path, collections):
    """A socket file left by an agent that is gone is not "no undercloud yet": it fails, naming the option."""
    path = str(tmp_path / "stale.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)  # the file exists, nobody listens
    sock.close()
    run = ansible_inventory(tmp_path, collections, {"plugin": "stackwright.cloud.overcloud", "agent_socket": path},
                            "--list")
    assert run.returncode != 0
    assert "agent_socket: the agent on %s" % path in run.stderr


def test_other_files_are_not_ours(tmp_path, collections):
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"plugin": "stackwright.cloud.overcloud"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_INVENTORY_ENABLED="auto", ANSIBLE_INVENTORY_UNPARSED_FAILED="1")
    run = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list"], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "stackwright" in run.stderr


def test_known_hosts_file_makes_ssh_strict(agent, listener, tmp_path, collections):
    bare_metal(agent, listener, "compute-0", "52:54:00:aa:00:01", "192.0.2.11", "Compute",
               {"address": "192.168.24.20/24"}, "active")
    agent.put("nodes", "ctl-0", {"role": "Controller", "kind": "container", "network": {"address": "192.168.24.10/24"}})
    agent.put("nodes", "ctl-0", {"provision_state": "active"})
    known_hosts = os.path.join(agent.config.state_dir, "known_hosts")
    with open(known_hosts) as fh:
        assert fh.read().startswith("compute-0,192.168.24.20 ssh-ed25519 ")
    config = {"plugin": "stackwright.cloud.overcloud", "agent_socket": agent.config.socket,
              "known_hosts_file": known_hosts}
    run = ansible_inventory(tmp_path, collections, config, "--list")
    assert run.returncode == 0, run.stderr
    hostvars = plain(json.loads(run.stdout))["_meta"]["hostvars"]
    strict = "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s" % known_hosts
    assert hostvars["compute-0"]["ansible_ssh_common_args"] == strict
    # adopted, so no key from the undercloud: still strict, and the operator is told
    assert hostvars["ctl-0"]["ansible_ssh_common_args"] == strict
    assert "ctl-0 (192.168.24.10) is not in known_hosts_file" in " ".join(run.stderr.split())
    assert "compute-0 (" not in run.stderr

    # the built-in lab's inventory relaxes it for its container nodes only
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "inventories", "lab",
                           "overcloud.stackwright.yml")) as fh:
        lab = yaml.safe_load(fh)
    config["compose"] = {"ansible_ssh_common_args": lab["compose"]["ansible_ssh_common_args"]}
    run = ansible_inventory(tmp_path, collections, config, "--list")
    hostvars = plain(json.loads(run.stdout))["_meta"]["hostvars"]
    assert hostvars["compute-0"]["ansible_ssh_common_args"] == strict
    assert "StrictHostKeyChecking=no" in hostvars["ctl-0"]["ansible_ssh_common_args"]
    assert "known_hosts_file" not in run.stderr  # relaxed on purpose: no warning
