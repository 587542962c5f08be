"""The node schema: one file that the collection and the agent both carry, whose
hint matching agrees with what the deploy ramdisk reports and with the hints its
checks accept."""

import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from fixtures import ROOT, _load
from stackwright_agent import node_schema as agent_schema
from stackwright_agent.drivers import nodes as nodes_driver
from ansible_collections.stackwright.cloud.plugins.module_utils import baremetal, node_schema, nodes_file

GiB = 1 << 30
MODULE_UTIL = os.path.join(ROOT, "plugins", "module_utils", "node_schema.py")
AGENT_FILE = os.path.join(ROOT, "agent", "stackwright_agent", "node_schema.py")
RAMDISK_INIT = os.path.join(ROOT, "roles", "image_build", "files", "ramdisk", "init")


# --- one file --------------------------------------------------------------------------


def test_the_module_util_is_the_agents_file():
    assert os.path.islink(MODULE_UTIL), "a link, not a copy that could drift"
    assert os.path.realpath(MODULE_UTIL) == os.path.realpath(AGENT_FILE)
    assert os.path.realpath(node_schema.__file__) == os.path.realpath(agent_schema.__file__)


def test_the_agent_archive_carries_it():
    archive = _load("agent_archive", "roles/agent/files/agent_archive.py")
    assert "stackwright_agent/node_schema.py" in archive.source_files(os.path.join(ROOT, "agent"))


def test_the_built_collection_carries_it(tmp_path):
    """ansible-galaxy keeps a link inside the collection as a link; installed, it reads as the file."""
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")

    def run(*args):
        proc = subprocess.run([galaxy, "collection"] + list(args), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    run("build", "--force", "--output-path", str(tmp_path), ROOT)
    tarball = next(p for p in os.listdir(tmp_path) if p.endswith(".tar.gz"))
    run("install", "--force", "-p", str(tmp_path / "installed"), str(tmp_path / tarball))
    with tarfile.open(str(tmp_path / tarball)) as tar:
        member = tar.getmember("plugins/module_utils/node_schema.py")
        assert member.issym() or member.isfile()
    installed = tmp_path / "installed" / "ansible_collections" / "stackwright" / "cloud"
    with open(AGENT_FILE, "rb") as fh:
        source = fh.read()
    assert (installed / "plugins" / "module_utils" / "node_schema.py").read_bytes() == source
    assert (installed / "agent" / "stackwright_agent" / "node_schema.py").read_bytes() == source


def test_the_option_declarations_are_the_fields():
    """baremetal_node's options are the node's fields, as the schema declares them."""
    assert sorted(node_schema.NODE_OPTIONS) == sorted(node_schema.NODE_FIELDS)
    assert sorted(node_schema.BMC_OPTIONS) == sorted(node_schema.BMC_FIELDS)
    assert sorted(node_schema.NETWORK_OPTIONS) == sorted(node_schema.NETWORK_FIELDS)
    assert node_schema.NODE_OPTIONS["kind"]["choices"] == list(node_schema.KINDS)
    assert baremetal.NODE_OPTIONS is node_schema.NODE_OPTIONS
    assert sorted(baremetal.DESCRIPTIVE + ("name",)) == sorted(node_schema.NODE_FIELDS)
    # the agent's API checks the same fields with the schema (and others that drive provisioning)
    assert sorted(node_schema.FIELD_CHECKS) == sorted(node_schema.NODE_FIELDS)
    assert sorted(nodes_driver.NODE_FIELDS) == sorted(node_schema.NODE_FIELDS)
    assert set(nodes_driver.NODE_FIELDS) <= set(nodes_driver.SCHEMA.fields)


@pytest.mark.parametrize("sample", ["instackenv.json", "bifrost.json", "nodes.yml", "lab-nodes.yml"])
def test_every_format_becomes_a_schema_node(sample):
    """instackenv and bifrost nodes are translated into the schema's node: checked again
    as native nodes, they come out as they went in."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", sample), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for loaded in nodes_file.load_nodes(data):
        again = node_schema.node(node_schema.Checker(), json.loads(json.dumps(loaded)), nodes_file.DEFAULT_ROLES)
        assert again == loaded


# --- root-device hints: the checks, the matching and the ramdisk agree --------------------


def ramdisk_disk_fields():
    """{key: reported} of each disk in the inventory the deploy ramdisk posts (its printf):
    reported is False for a key it always sends as null."""
    with open(RAMDISK_INIT, encoding="utf-8") as fh:
        init = fh.read()
    line = next(ln for ln in init.splitlines() if '"size_bytes"' in ln and "printf" in ln)
    return dict((key, value == "%") for key, value in re.findall(r'"([a-z_]+)": (%|null)', line))


def test_the_ramdisk_reports_what_the_hints_read():
    fields = ramdisk_disk_fields()
    sample = {"name": "sdb", "path": "/dev/sdb", "size_bytes": 120 * GiB, "rotational": False, "model": "PERC H730",
              "vendor": "DELL", "serial": "6C81F66", "wwn": "0x5000c500a1b2c3d4",
              "by_path": "/dev/disk/by-path/pci-0000:00:1f.2-ata-2", "hctl": "1:0:0:0"}
    assert sorted(fields) == sorted(sample), "the ramdisk's disk fields changed: update this test and the matching"
    # a disk as the ramdisk reports it, and another one
    disk = dict((k, v if fields[k] else None) for k, v in sample.items())
    other = dict((k, None) for k in sample)
    other.update(name="sda", path="/dev/sda", size_bytes=500 * GiB, rotational=True)
    # what an operator writes for this disk, hint by hint
    wanted = dict(sample, name="/dev/sdb", size=120, wwn_with_extension=sample["wwn"], wwn_vendor_extension="0x0")
    unmatched = set()
    for hint in node_schema.ROOT_DEVICE_HINTS:
        hints = node_schema.root_device(node_schema.Checker(), "root_device", {hint: wanted[hint]})
        chosen = node_schema.pick_root_disk([other, disk], hints)
        assert chosen in (disk, None), hint
        if chosen is None:
            unmatched.add(hint)
    # the ramdisk sends no by-path link and no WWN vendor extension: hints on them choose no disk
    # it reports (inspection then fails the node, naming the hints); every other hint can
    assert unmatched == {"by_path", "wwn_vendor_extension"}


@pytest.mark.parametrize("given", [1, 120, "120", ">=100", "<  2000", "== 120", "!= 7", "> 119", "<121", "= 120"])
def test_a_size_hint_means_the_same_checked_or_not(given):
    """The stored (normalized) hint chooses what the operator's spelling would."""
    checked = node_schema.size_hint(node_schema.Checker(), "root_device.size", given)
    for gib in (1, 7, 100, 119, 120, 121, 2000):
        assert node_schema.size_matches(checked, gib * GiB) == node_schema.size_matches(given, gib * GiB), gib


def test_a_size_hint_is_whole_gib():
    for bad in ("10GB", "0", 0, -1, 1.5, "~ 10", True):
        with pytest.raises(node_schema.Invalid) as info:
            node_schema.size_hint(node_schema.Checker(), "root_device.size", bad)
        assert info.value.field == "root_device.size"


def test_one_node_alone_catches_a_mac_listed_twice():
    with pytest.raises(node_schema.Invalid) as info:
        node_schema.macs(node_schema.Checker(), "macs", ["52:54:00:aa:00:01", "52-54-00-AA-00-01"])
    assert info.value.field == "macs[1]" and "listed twice on this node (also at macs[0])" in str(info.value)


def test_the_checks_are_json_clean():
    """What the checks return is what the agent stores and the nodes file returns: plain JSON."""
    checked = node_schema.node(node_schema.Checker(), {
        "name": "c0", "bmc": {"address": "BMC-0.Example.com", "username": "a", "password": "b"},
        "macs": ["52-54-00-AA-00-01"], "root_device": {"size": ">=10"},
        "network": {"address": "192.0.2.5/24", "gateway": "192.0.2.1", "dns": ["192.0.2.1"]}})
    assert json.loads(json.dumps(checked)) == checked
    assert checked["bmc"] == {"driver": "ipmi", "address": "bmc-0.example.com", "port": 623, "username": "a",
                              "password": "b"}
    assert checked["macs"] == ["52:54:00:aa:00:01"] and checked["root_device"] == {"size": ">= 10"}
    assert checked["role"] is None and checked["kind"] == "baremetal"
