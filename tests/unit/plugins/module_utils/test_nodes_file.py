"""The nodes file: the three input formats, every validation rule, and the
baremetal_nodes_file module run end to end by ansible-playbook."""

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from fixtures import ROOT, _load

nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")
load_nodes = nodes_file.load_nodes
NodesFileError = nodes_file.NodesFileError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def sample(name):
    with open(os.path.join(DATA, name)) as fh:
        return yaml.safe_load(fh)


def node(name="compute-0", **fields):
    """A valid native node; keyword arguments replace (None: remove) its fields."""
    base = dict(name=name, bmc=dict(address="192.0.2.20", username="admin", password="secret"),
                macs=["52:54:00:aa:00:01"])
    for key, value in fields.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def fails(data, node=None, field=None, fragment="", **kwargs):
    """load_nodes raises, naming this node and field, with ``fragment`` in the message."""
    with pytest.raises(NodesFileError) as info:
        load_nodes(data, **kwargs)
    exc = info.value
    assert (exc.node, exc.field) == (node, field), str(exc)
    assert fragment in str(exc), str(exc)
    assert str(exc).startswith(kwargs.get("source", "nodes file") + ": ")
    return exc


# --- the three formats --------------------------------------------------------------


def test_native_sample():
    nodes = load_nodes(sample("nodes.yml"))
    assert [n["name"] for n in nodes] == ["ctl-0", "compute-0", "compute-1", "storage-0"]
    ctl, c0, c1, storage = nodes
    assert ctl == {
        "name": "ctl-0", "role": "Controller", "kind": "baremetal",
        "bmc": {"driver": "ipmi", "address": "192.0.2.10", "port": 623, "username": "admin", "password": "s3cret-ctl0"},
        "macs": ["52:54:00:aa:00:01", "52:54:00:aa:00:02"],
        "root_device": {"size": ">= 100", "rotational": False},
        "network": {"address": "192.168.24.10/24", "gateway": "192.168.24.1", "dns": ["192.168.24.1", "2001:db8::53"],
                    "interface_mac": "52:54:00:aa:00:02"},
        "properties": {"cpus": 8, "memory_mb": 32768, "local_gb": 200},
    }
    assert c0["role"] == "Compute" and c0["kind"] == "baremetal"
    assert c0["bmc"]["address"] == "bmc-compute-0.lab.example.com" and c0["bmc"]["port"] == 6230
    assert c0["bmc"]["password"] == "12345678"
    assert c0["root_device"] == {"serial": "S3EVNX0K123456", "wwn": "0x5000c500a1b2c3d4"}
    assert c0["network"] is None
    assert c0["properties"] == {"cpus": None, "memory_mb": None, "local_gb": None}
    assert c1["kind"] == "vm" and c1["macs"] == ["52:54:00:aa:02:01"]  # hyphens become colons
    assert storage["kind"] == "container" and storage["bmc"] is None and storage["macs"] == []
    assert storage["network"] == {"address": "192.168.24.30/24", "gateway": "192.168.24.1", "dns": [],
                                  "interface_mac": None}
    assert storage["root_device"] == {}
    assert nodes_file.detect_format(sample("nodes.yml")) == "native"


def test_native_bare_list_and_every_key_present():
    nodes = load_nodes([node(), node("compute-1", bmc=dict(address="fd00::20", port=6230, username="a", password="b"),
                                     macs=["52:54:00:AA:00:02"])])
    assert nodes[1]["bmc"]["address"] == "fd00::20" and nodes[1]["macs"] == ["52:54:00:aa:00:02"]
    for n in nodes:
        assert sorted(n) == ["bmc", "kind", "macs", "name", "network", "properties", "role", "root_device"]
        assert sorted(n["bmc"]) == ["address", "driver", "password", "port", "username"]
    assert nodes_file.detect_format([node()]) == "native"


def test_native_output_loads_again():
    nodes = load_nodes(sample("nodes.yml"))
    assert load_nodes({"nodes": copy.deepcopy(nodes)}) == nodes


def test_instackenv_sample():
    data = sample("instackenv.json")
    assert nodes_file.detect_format(data) == "instackenv"
    ctl, compute, storage = load_nodes(data)
    assert ctl == {
        "name": "overcloud-controller-0", "role": "Controller", "kind": "baremetal",
        "bmc": {"driver": "ipmi", "address": "10.0.0.8", "port": 623, "username": "admin", "password": "p@55w0rd!"},
        "macs": ["52:54:00:00:01:01"],
        "root_device": {"serial": "61866da04f380d001ea4e13c12e36ad6"},
        "network": None,
        "properties": {"cpus": 4, "memory_mb": 16384, "local_gb": 60},
    }
    assert compute["role"] == "Compute" and compute["bmc"]["port"] == 6230  # pm_port given as a string
    assert compute["macs"] == ["52:54:00:00:02:01"]  # from ports
    assert compute["properties"] == {"cpus": 8, "memory_mb": 32768, "local_gb": 100}
    assert storage["role"] == "BlockStorage" and storage["bmc"]["username"] == "root"
    assert storage["macs"] == ["52:54:00:00:03:01", "52:54:00:00:03:02"]
    assert storage["root_device"] == {"size": 200, "rotational": True}


@pytest.mark.parametrize("profile, role", [
    ("control", "Controller"), ("compute", "Compute"), ("block-storage", "BlockStorage"), ("storage", "BlockStorage"),
    ("allinone", "AllInOne"), ("networker", "Networker"), ("object-storage", "ObjectStorage"),
])
def test_instackenv_profiles(profile, role):
    data = {"nodes": [{"name": "n0", "pm_type": "ipmi", "pm_addr": "10.0.0.8", "pm_user": "u", "pm_password": "p",
                       "mac": ["52:54:00:00:01:01"], "capabilities": "boot_option:local,profile:%s" % profile}]}
    assert load_nodes(data, roles=[role])[0]["role"] == role


def test_instackenv_without_capabilities_is_compute():
    data = {"nodes": [{"name": "n0", "pm_addr": "10.0.0.8", "pm_user": "u", "pm_password": "p",
                       "mac": ["52:54:00:00:01:01"], "unknown_to_us": [1, 2]}]}
    assert load_nodes(data)[0]["role"] == "Compute"


def test_bifrost_sample():
    data = sample("bifrost.json")
    assert nodes_file.detect_format(data) == "bifrost"
    vm1, vm2, vm3 = load_nodes(data)
    assert vm1 == {
        "name": "testvm1", "role": "Controller", "kind": "baremetal",
        "bmc": {"driver": "ipmi", "address": "192.168.122.1", "port": 6230, "username": "admin", "password": "pa$$w0rd"},
        "macs": ["52:54:00:9a:3e:01"],
        "root_device": {"size": ">= 10"},
        "network": {"address": "192.168.122.101/24", "gateway": "192.168.122.1", "dns": ["192.168.122.1"],
                    "interface_mac": "52:54:00:9a:3e:01"},
        "properties": {"cpus": 2, "memory_mb": 3072, "local_gb": 10},
    }
    assert vm2["role"] == "Compute" and vm2["macs"] == ["52:54:00:9a:3e:02", "52:54:00:9a:3e:12"]
    assert vm2["network"]["dns"] == ["192.168.122.1", "8.8.8.8"]
    assert vm3["name"] == "testvm3" and vm3["role"] == "Compute"  # name from the key; no host_groups
    assert vm3["bmc"]["port"] == 6232  # older bifrost: driver_info.power
    assert vm3["network"] is None


def test_bifrost_prefix_length_mask():
    data = sample("bifrost.json")
    data["testvm1"]["ipv4_subnet_mask"] = "22"
    assert load_nodes(data)[0]["network"]["address"] == "192.168.122.101/22"


def test_passwords_masked_in_a_copy():
    nodes = load_nodes(sample("nodes.yml"))
    masked = nodes_file.mask_passwords(nodes)
    assert [n["bmc"]["password"] for n in masked if n["bmc"]] == ["********"] * 3
    assert nodes[0]["bmc"]["password"] == "s3cret-ctl0"


# --- documents that are no nodes file -----------------------------------------------


@pytest.mark.parametrize("data, field, fragment", [
    (None, None, "is empty"),
    ("nodes.yml", None, "not a nodes file"),
    ({"servers": []}, None, "found a mapping with the keys servers"),
    ({"nodes": {"c0": {}}}, "nodes", "expected a list of nodes, got a mapping"),
    ({"nodes": []}, "nodes", "lists no nodes"),
    ([], None, "lists no nodes"),
    ({"nodes": [node()], "node": 1}, "node", "unknown field 'node'; did you mean 'nodes'?"),
])
def test_not_a_nodes_file(data, field, fragment):
    fails(data, None, field, fragment)


def test_source_names_the_file():
    fails([node(macs=["zz"])], "compute-0", "macs[0]", "'zz' is not a MAC address", source="/home/stack/nodes.yml")


def test_error_attributes():
    exc = NodesFileError("nodes file: node 'c0': macs: missing", node="c0", field="macs")
    assert isinstance(exc, Exception)
    assert str(exc) == "nodes file: node 'c0': macs: missing"
    assert exc.to_dict() == {"msg": str(exc), "node": "c0", "field": "macs"}


def test_first_error_in_file_order_wins():
    data = [node("c0", macs=["bad"]), node("C1")]
    fails(data, "c0", "macs[0]", "'bad' is not a MAC address")
    data = [node("c0", bmc=dict(address="300.1.1.1", username="", password=1)), node("C1")]
    fails(data, "c0", "bmc.address", "'300.1.1.1'")


# --- unknown keys (native) ------------------------------------------------------------


def test_unknown_field_did_you_mean():
    exc = fails([node("c0", mac=["52:54:00:aa:00:09"])], "c0", "mac")
    assert str(exc) == "nodes file: node 'c0': unknown field 'mac'; did you mean 'macs'?"


def test_unknown_field_without_near_miss_lists_allowed():
    fails([node(colour="red")], "compute-0", "colour", "unknown field 'colour'; allowed: bmc, kind, macs")


@pytest.mark.parametrize("section, key, field, fragment", [
    ("bmc", "adress", "bmc.adress", "bmc: unknown field 'adress'; did you mean 'address'?"),
    ("network", "gw", "network.gw", "network: unknown field 'gw'"),
    ("properties", "memory", "properties.memory", "did you mean 'memory_mb'?"),
    ("root_device", "sizee", "root_device.sizee", "root_device: unknown root device hint 'sizee'; did you mean 'size'?"),
])
def test_unknown_nested_field(section, key, field, fragment):
    base = node()
    value = dict(base.get(section) or {}, **{key: "x"})
    if section == "network":
        value["address"] = "192.0.2.50/24"
    fails([node(**{section: value})], "compute-0", field, fragment)


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, fix", [
    ("Compute_0", "try 'compute-0'"),
    ("-compute", "try 'compute'"),
    ("compute.0", "try 'compute-0'"),
    ("a" * 64, "1 to 63 lowercase letters"),
])
def test_name_not_a_dns_label(name, fix):
    exc = fails([node(name)], name, "name", "'%s' is not a valid node name" % name)
    assert "node names become host names" in str(exc) and fix in str(exc)


def test_name_missing_points_at_position():
    fails([node("c0"), node(None, macs=["52:54:00:aa:00:02"])], "nodes[1]", "name", "nodes[1]: name: missing")


def test_name_number():
    fails([node(7)], "nodes[0]", "name", "is a number (7), not text; quote it")


def test_name_duplicate_names_both():
    data = [node("c0"),
            node("c0", bmc=dict(address="192.0.2.21", username="a", password="b"), macs=["52:54:00:aa:00:02"])]
    exc = fails(data, "c0", "name", "the name 'c0' is also used by node 'c0' (name)")
    assert "must be unique" in str(exc)


def test_node_not_a_mapping():
    fails([node(), ["c1"]], "nodes[1]", None, "nodes[1]: expected a mapping (one node), got a list")


# --- roles ----------------------------------------------------------------------------


def test_role_not_allowed_suggests_case():
    fails([node(role="compute")], "compute-0", "role",
          "'compute' is not an allowed role (allowed: AllInOne, BlockStorage, Compute, Controller); did you mean 'Compute'?")


def test_role_typo_suggested():
    fails([node(role="Controler")], "compute-0", "role", "did you mean 'Controller'?")


def test_custom_roles():
    assert load_nodes([node(role="Networker")], roles=["Networker", "Compute"])[0]["role"] == "Networker"
    fails([node(role="Controller")], "compute-0", "role", "(allowed: Compute, Networker)",
          roles=["Networker", "Compute"])


def test_default_role_must_be_allowed():
    fails([node()], "compute-0", "role", "missing, and the default role 'Compute' is not allowed", roles=["Controller"])


# --- kinds ----------------------------------------------------------------------------


def test_kind_unknown():
    fails([node(kind="VM")], "compute-0", "kind", "'VM' is not a node kind (baremetal, container, vm); did you mean 'vm'?")


def test_baremetal_and_vm_need_a_bmc():
    fails([node(bmc=None)], "compute-0", "bmc", "missing; a baremetal node is powered on and off through its BMC")
    fails([node(kind="vm", bmc=None)], "compute-0", "bmc", "a vm node")


def test_no_bmc_needs_the_address_of_a_pre_provisioned_node():
    exc = fails([node(), node("controller0", bmc=None, macs=None)], "controller0", "bmc")
    assert str(exc) == ("nodes file: node 'controller0': bmc: missing; a baremetal node is powered on and off through "
                        "its BMC (address, username, password): bmc is required unless the node is pre-provisioned "
                        "(give network.address)")
    # a network without an address is no help: the address is what is missing
    fails([node(bmc=None, network=dict(gateway="192.0.2.1"))], "compute-0", "bmc",
          "bmc is required unless the node is pre-provisioned (give network.address)")


@pytest.mark.parametrize("kind", [None, "baremetal", "vm"])
def test_pre_provisioned_node_without_bmc(kind):
    """A deployed server: no BMC, reached at its static address; its MACs are optional."""
    data = [node("ctl-0", kind=kind, bmc=None, macs=None, network=dict(address="192.168.24.50/24"))]
    n = load_nodes(data)[0]
    assert n["bmc"] is None and n["macs"] == [] and n["kind"] == (kind or "baremetal")
    assert n["network"] == {"address": "192.168.24.50/24", "gateway": None, "dns": [], "interface_mac": None}
    assert nodes_file.mask_passwords([n]) == [n]


def test_pre_provisioned_node_address_still_checked():
    fails([node(bmc=None, network=dict(address="192.168.24.50"))], "compute-0", "network.address", "has no prefix length")
    data = [node("c0", network=dict(address="192.168.24.50/24")),
            node("c1", bmc=None, macs=None, network=dict(address="192.168.24.50/24"))]
    fails(data, "c1", "network.address", "the address 192.168.24.50 is also used by node 'c0'")


def test_container_has_no_bmc():
    fails([node(kind="container")], "compute-0", "bmc", "a container node is pre-provisioned and has no BMC")


def test_container_needs_its_address():
    exc = fails([node(kind="container", bmc=None, macs=None)], "compute-0", "network.address")
    assert "missing; a container node is pre-provisioned: give the address the undercloud reaches it at" in str(exc)
    fails([node(kind="container", bmc=None, network=dict(gateway="192.0.2.1"))], "compute-0", "network.address",
          "missing")


def test_container_macs_optional_but_checked():
    net = dict(address="192.168.24.50/24")
    assert load_nodes([node(kind="container", bmc=None, macs=None, network=net)])[0]["macs"] == []
    fails([node(kind="container", bmc=None, macs=["nope"], network=net)], "compute-0", "macs[0]", "is not a MAC address")


def test_lab_nodes_file():
    """What roles/lab writes: VMs with virtual BMCs, then container nodes (MAC, static address, no BMC)."""
    nodes = load_nodes(sample("lab-nodes.yml"))
    assert [(n["name"], n["kind"]) for n in nodes] == [("compute0", "vm"), ("storage0", "vm"),
                                                       ("controller0", "container")]
    ctl = nodes[2]
    assert ctl == {"name": "controller0", "role": "Controller", "kind": "container", "bmc": None,
                   "macs": ["52:54:00:24:00:03"], "root_device": {},
                   "network": {"address": "192.168.24.50/24", "gateway": None, "dns": [], "interface_mac": None},
                   "properties": {"cpus": 2, "memory_mb": 4096, "local_gb": None}}
    # the container's MAC follows the VMs' scheme and is claimed like theirs
    data = sample("lab-nodes.yml")
    data["nodes"][2]["macs"] = data["nodes"][0]["macs"]
    fails(data, "controller0", "macs[0]", "MAC 52:54:00:24:00:01 is also used by node 'compute0' (macs[0])")


# --- MACs -----------------------------------------------------------------------------


def test_macs_required():
    fails([node(macs=None)], "compute-0", "macs", "missing; list the MAC address")
    fails([node(macs=[])], "compute-0", "macs", "missing")


@pytest.mark.parametrize("mac, fragment", [
    ("52:54:00:aa:00", "'52:54:00:aa:00' is not a MAC address"),
    ("52:54:00-aa:00:01", "is not a MAC address"),
    ("01:00:5e:00:00:01", "is a multicast address"),
    ("00:00:00:00:00:00", "is the null MAC address"),
    (["52:54:00:aa:00:01"], "expected a MAC address, got a list"),
])
def test_mac_invalid(mac, fragment):
    fails([node(macs=["52:54:00:aa:00:09", mac])], "compute-0", "macs[1]", fragment)


def test_mac_read_as_sexagesimal_number():
    data = yaml.safe_load("- name: c0\n  bmc: {address: 192.0.2.1, username: a, password: b}\n  macs: [52:54:00:12:34:56]\n")
    assert isinstance(data[0]["macs"][0], int)  # YAML 1.1 base 60
    fails(data, "c0", "macs[0]", "quote it ('52:54:00:12:34:56')")


def test_macs_not_a_list():
    fails([node(macs="52:54:00:aa:00:01")], "compute-0", "macs", "expected a list of MAC addresses, got a string")


def test_mac_on_two_nodes_names_both():
    data = [node("c0"),
            node("c1", bmc=dict(address="192.0.2.21", username="a", password="b"),
                 macs=["52:54:00:aa:00:02", "52:54:00:AA:00:01"])]
    exc = fails(data, "c1", "macs[1]", "MAC 52:54:00:aa:00:01 is also used by node 'c0' (macs[0])")
    assert str(exc).startswith("nodes file: node 'c1': macs[1]: ")


def test_mac_twice_on_one_node():
    fails([node(macs=["52:54:00:aa:00:01", "52-54-00-aa-00-01"])], "compute-0", "macs[1]",
          "is listed twice on this node (also at macs[0])")


def test_interface_mac_of_another_node():
    data = [node("c0"),
            node("c1", bmc=dict(address="192.0.2.21", username="a", password="b"), macs=["52:54:00:aa:00:02"],
                 network=dict(address="192.0.2.50/24", interface_mac="52:54:00:aa:00:01"))]
    fails(data, "c1", "network.interface_mac", "also used by node 'c0' (macs[0])")


# --- BMC ------------------------------------------------------------------------------


def test_bmc_address_not_ip_or_host():
    exc = fails([node("compute0", bmc=dict(address="300.1.1.1", username="a", password="b"))],
                "compute0", "bmc.address")
    assert str(exc) == "nodes file: node 'compute0': bmc.address: '300.1.1.1' is not an IP address or host name"


@pytest.mark.parametrize("address", ["bmc_0.lab", "fd00::1::2", "[fd00::1]", "10.0.0", "bmc.123", ""])
def test_bmc_address_invalid(address):
    fails([node(bmc=dict(address=address, username="a", password="b"))], "compute-0", "bmc.address",
          "is empty" if not address else "is not an IP address or host name")


@pytest.mark.parametrize("address, normalized", [
    ("BMC-0.Lab.Example.COM", "bmc-0.lab.example.com"), ("fd00:0::0020", "fd00::20"), ("ilo-7", "ilo-7"),
])
def test_bmc_address_normalized(address, normalized):
    assert load_nodes([node(bmc=dict(address=address, username="a", password="b"))])[0]["bmc"]["address"] == normalized


@pytest.mark.parametrize("port, fragment", [
    (0, "0 is not a port number"), (65536, "65536 is not a port number"), ("623", "expected a port number, got a string"),
    (True, "got a boolean"),
])
def test_bmc_port_invalid(port, fragment):
    fails([node(bmc=dict(address="192.0.2.20", port=port, username="a", password="b"))], "compute-0", "bmc.port",
          fragment)


def test_bmc_endpoint_shared_names_both():
    data = [node("c0", bmc=dict(address="192.0.2.1", port=6230, username="a", password="b")),
            node("c1", bmc=dict(address="192.0.2.1", port=6231, username="a", password="b"), macs=["52:54:00:aa:00:02"]),
            node("c2", bmc=dict(address="192.0.2.1", port=6230, username="a", password="b"), macs=["52:54:00:aa:00:03"])]
    exc = fails(data, "c2", "bmc.address", "BMC 192.0.2.1 port 6230 is also used by node 'c0' (bmc.address)")
    assert "its own port" in str(exc)


def test_bmc_endpoint_default_port_counts():
    data = [node("c0", bmc=dict(address="192.0.2.1", username="a", password="b")),
            node("c1", bmc=dict(address="192.0.2.1", port=623, username="a", password="b"), macs=["52:54:00:aa:00:02"])]
    fails(data, "c1", "bmc.address", "BMC 192.0.2.1 port 623 is also used by node 'c0'")


@pytest.mark.parametrize("field", ["address", "username", "password"])
def test_bmc_field_missing(field):
    bmc = dict(address="192.0.2.20", username="a", password="b")
    del bmc[field]
    fails([node(bmc=bmc)], "compute-0", "bmc." + field, "bmc.%s: missing" % field)


def test_bmc_username_empty():
    fails([node(bmc=dict(address="192.0.2.20", username="  ", password="b"))], "compute-0", "bmc.username", "is empty")


def test_bmc_password_number_says_quote_and_never_shows_it():
    data = yaml.safe_load("- name: c0\n  bmc: {address: 192.0.2.1, username: a, password: 90210}\n"
                          "  macs: ['52:54:00:aa:00:01']\n")
    exc = fails(data, "c0", "bmc.password", "is a number, not text; quote it")
    assert "90210" not in str(exc)


def test_bmc_password_boolean_says_quote():
    data = yaml.safe_load("- name: c0\n  bmc: {address: 192.0.2.1, username: a, password: on}\n"
                          "  macs: ['52:54:00:aa:00:01']\n")
    exc = fails(data, "c0", "bmc.password", "is a boolean, not text: YAML reads unquoted yes, no, on, off")
    assert "boolean (" not in str(exc)  # the value is not shown


def test_bmc_driver_ipmi_or_redfish():
    assert load_nodes([node(bmc=dict(driver="ipmi", address="192.0.2.20", username="a", password="b"))])
    fails([node(bmc=dict(driver="idrac", address="192.0.2.20", username="a", password="b"))], "compute-0",
          "bmc.driver", "'idrac' is not supported; Stackwright drives BMCs over IPMI ('ipmi') or Redfish ('redfish')")


# --- network --------------------------------------------------------------------------


def net(**fields):
    return dict(dict(address="192.0.2.50/24", gateway="192.0.2.1", dns=["192.0.2.1"]), **fields)


@pytest.mark.parametrize("network, field, fragment", [
    (net(address="192.0.2.50"), "network.address", "'192.0.2.50' has no prefix length; write it as a CIDR, like '192.0.2.50/24'"),
    (net(address="192.0.2.0/24"), "network.address", "is the address of the network itself, not of a host in it"),
    (net(address="192.0.2.255/24"), "network.address", "is the broadcast address of 192.0.2.0/24"),
    (net(address="192.0.2.300/24"), "network.address", "is not an address with a prefix length (CIDR)"),
    (net(address="fd00::/64", gateway="fd00::1"), "network.address", "is the address of the network itself"),
    (net(gateway="198.51.100.1"), "network.gateway", "'198.51.100.1' is not inside the node's network 192.0.2.0/24"),
    (net(gateway="fd00::1"), "network.gateway", "is not inside the node's network"),
    (net(gateway="192.0.2.50"), "network.gateway", "is the node's own address"),
    (net(gateway="gw.lab"), "network.gateway", "'gw.lab' is not an IP address"),
    (net(dns="192.0.2.1"), "network.dns", "expected a list of DNS server addresses, got a string"),
    (net(dns=["192.0.2.1", "ns1.lab"]), "network.dns[1]", "'ns1.lab' is not an IP address"),
    (net(interface_mac="52:54:00"), "network.interface_mac", "is not a MAC address"),
    (dict(gateway="192.0.2.1"), "network.address", "missing"),
    ("192.0.2.50/24", "network", "expected a mapping, got a string"),
])
def test_network_invalid(network, field, fragment):
    fails([node(network=network)], "compute-0", field, fragment)


def test_network_point_to_point_and_ipv6():
    nodes = load_nodes([node("c0", network=dict(address="192.0.2.7/32")),
                        node("c1", bmc=dict(address="192.0.2.21", username="a", password="b"), macs=["52:54:00:aa:00:02"],
                             network=dict(address="FD00:0::10/64", gateway="fd00::1", dns=["fd00::53"],
                                          interface_mac="52:54:00:AA:00:02"))])
    assert nodes[0]["network"]["address"] == "192.0.2.7/32"
    assert nodes[1]["network"] == {"address": "fd00::10/64", "gateway": "fd00::1", "dns": ["fd00::53"],
                                   "interface_mac": "52:54:00:aa:00:02"}


def test_network_address_on_two_nodes_names_both():
    data = [node("c0", network=net()),
            node("c1", bmc=dict(address="192.0.2.21", username="a", password="b"), macs=["52:54:00:aa:00:02"],
                 network=net(address="192.0.2.50/25"))]
    fails(data, "c1", "network.address", "the address 192.0.2.50 is also used by node 'c0' (network.address)")


# --- root device hints ----------------------------------------------------------------


def test_root_device_all_hints():
    hints = dict(name="/dev/sda", model="PERC H730", vendor="DELL", serial="6C81F66", size=100, wwn="0x5000c500a1b2c3d4",
                 wwn_with_extension="0x5000c500a1b2c3d4", wwn_vendor_extension="0x0", rotational=True, hctl="1:0:0:0",
                 by_path="/dev/disk/by-path/pci-0000:00:1f.2-ata-1")
    assert load_nodes([node(root_device=hints)])[0]["root_device"] == hints


@pytest.mark.parametrize("size, normalized", [(1, 1), ("250", 250), (">=10", ">= 10"), ("<  2000", "< 2000"), ("== 80", "== 80")])
def test_root_device_size_forms(size, normalized):
    assert load_nodes([node(root_device=dict(size=size))])[0]["root_device"] == {"size": normalized}


@pytest.mark.parametrize("hints, field, fragment", [
    (dict(size=0), "root_device.size", "must be a positive number of GiB, got 0"),
    (dict(size=-5), "root_device.size", "got -5"),
    (dict(size="10GB"), "root_device.size", "'10GB' is not a disk size: give whole GiB as a number (100) or with an operator"),
    (dict(size=1.5), "root_device.size", "is not a disk size"),
    (dict(rotational="false"), "root_device.rotational", "expected true or false (unquoted), got 'false'"),
    (dict(serial=12345), "root_device.serial", "is a number (12345), not text; quote it"),
    (dict(wwn=0x5000c500), "root_device.wwn", "quote it"),
    (dict(model=""), "root_device.model", "is empty"),
    (dict(disk="/dev/sda"), "root_device.disk", "unknown root device hint 'disk'; allowed: by_path, hctl"),
    ("/dev/sda", "root_device", "expected a mapping, got a string"),
])
def test_root_device_invalid(hints, field, fragment):
    fails([node(root_device=hints)], "compute-0", field, fragment)


# --- properties -----------------------------------------------------------------------


@pytest.mark.parametrize("props, field, fragment", [
    (dict(cpus=0), "properties.cpus", "must be a positive number of CPUs, got 0"),
    (dict(memory_mb="16G"), "properties.memory_mb", "expected a whole number of MiB, got '16G'"),
    (dict(local_gb=1.5), "properties.local_gb", "got a number"),
])
def test_properties_invalid(props, field, fragment):
    fails([node(properties=props)], "compute-0", field, fragment)


# --- instackenv -----------------------------------------------------------------------


def instack(**fields):
    base = {"name": "overcloud-compute-0", "pm_type": "ipmi", "pm_addr": "10.0.0.9", "pm_user": "admin",
            "pm_password": "pw", "mac": ["52:54:00:00:02:01"]}
    for key, value in fields.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return {"nodes": [base]}


@pytest.mark.parametrize("fields, node, field, fragment", [
    (dict(pm_type="idrac"), "overcloud-compute-0", "pm_type",
     "'idrac' is not supported; Stackwright enrolls nodes over IPMI or Redfish (pm_type agent_ipmitool, ipmi, "
     "pxe_ipmitool, redfish)"),
    (dict(pm_type="pxe_drac"), "overcloud-compute-0", "pm_type", "'pxe_drac' is not supported"),
    (dict(pm_addr="10.0.0.256"), "overcloud-compute-0", "pm_addr", "'10.0.0.256' is not an IP address or host name"),
    (dict(pm_addr=None), "overcloud-compute-0", "pm_addr", "pm_addr: missing"),
    (dict(pm_port="ipmi"), "overcloud-compute-0", "pm_port", "expected a port number, got a string"),
    (dict(pm_user=None), "overcloud-compute-0", "pm_user", "missing"),
    (dict(pm_password=1234), "overcloud-compute-0", "pm_password", "is a number, not text; quote it"),
    (dict(name=None), "nodes[0]", "name", "nodes[0]: name: missing"),
    (dict(name="overcloud_compute_0"), "overcloud_compute_0", "name", "try 'overcloud-compute-0'"),
    (dict(mac=None), "overcloud-compute-0", "mac", "missing"),
    (dict(mac="52:54:00:00:02:01"), "overcloud-compute-0", "mac", "expected a list of MAC addresses, got a string"),
    (dict(mac=None, ports=[{"address": "52:54:00:00:02:01"}, {"pxe_enabled": False}]), "overcloud-compute-0",
     "ports[1].address", "missing; each port needs its MAC address"),
    (dict(mac=None, ports=[{"address": "52:54:00:00:02:xx"}]), "overcloud-compute-0", "ports[0].address",
     "is not a MAC address"),
    (dict(ports=[{"address": "52:54:00:00:02:02"}]), "overcloud-compute-0", "mac", "either as mac or as ports, not both"),
    (dict(capabilities="profile:network"), "overcloud-compute-0", "capabilities",
     "profile 'network' means role 'Network', which is not allowed; allowed roles: AllInOne"),
    (dict(capabilities="profile"), "overcloud-compute-0", "capabilities", "'profile' is not key:value"),
    (dict(capabilities=["profile:compute"]), "overcloud-compute-0", "capabilities", "got a list"),
    (dict(cpu="four"), "overcloud-compute-0", "cpu", "expected a whole number of CPUs, got 'four'"),
    (dict(memory=0), "overcloud-compute-0", "memory", "must be a positive number of MiB"),
    (dict(disk=[40]), "overcloud-compute-0", "disk", "got a list"),
    (dict(root_device={"sise": 10}), "overcloud-compute-0", "root_device.sise", "did you mean 'size'?"),
])
def test_instackenv_invalid(fields, node, field, fragment):
    fails(instack(**fields), node, field, fragment)


def test_instackenv_duplicates_across_nodes():
    data = sample("instackenv.json")
    data["nodes"][2]["mac"][1] = "52:54:00:00:01:01"
    fails(data, "overcloud-cephstorage-0", "mac[1]", "MAC 52:54:00:00:01:01 is also used by node 'overcloud-controller-0' (mac[0])")
    data = sample("instackenv.json")
    data["nodes"][1]["pm_addr"], data["nodes"][1]["pm_port"] = "10.0.0.8", 623
    fails(data, "overcloud-compute-0", "pm_addr", "BMC 10.0.0.8 port 623 is also used by node 'overcloud-controller-0' (pm_addr)")


def test_instackenv_detected_by_any_node():
    data = {"nodes": [node("c0"), instack()["nodes"][0]]}
    fails(data, "c0", "pm_addr", "missing")


# --- bifrost --------------------------------------------------------------------------


@pytest.mark.parametrize("target, change, node, field, fragment", [
    ("testvm1", lambda n: n.update(driver="idrac"), "testvm1", "driver",
     "'idrac' is not supported; Stackwright enrolls nodes over IPMI or Redfish (driver agent_ipmitool, ipmi, "
     "pxe_ipmitool, redfish)"),
    ("testvm1", lambda n: n["driver_info"].pop("ipmi_password"), "testvm1", "driver_info.ipmi_password", "missing"),
    ("testvm1", lambda n: n["driver_info"].update(ipmi_address="192.168.122"), "testvm1", "driver_info.ipmi_address",
     "'192.168.122' is not an IP address or host name"),
    ("testvm1", lambda n: n["driver_info"].update(ipmi_port="70000"), "testvm1", "driver_info.ipmi_port", "70000 is not a port number"),
    ("testvm1", lambda n: n["driver_info"].update(ipmi_port="6231"), "testvm2", "driver_info.ipmi_address",
     "BMC 192.168.122.1 port 6231 is also used by node 'testvm1' (driver_info.ipmi_address)"),
    ("testvm1", lambda n: n.update(nics=[]), "testvm1", "nics", "missing"),
    ("testvm1", lambda n: n.update(nics=[{"address": "52:54:00:9a:3e:01"}]), "testvm1", "nics[0].mac", "missing"),
    ("testvm1", lambda n: n["nics"].append({"mac": "52:54:00:9a:3e:03"}), "testvm3", "nics[0].mac",
     "MAC 52:54:00:9a:3e:03 is also used by node 'testvm1' (nics[1].mac)"),
    ("testvm1", lambda n: n.update(ipv4_subnet_mask="255.0.255.0"), "testvm1", "ipv4_subnet_mask", "'255.0.255.0' is not a subnet mask"),
    ("testvm1", lambda n: n.pop("ipv4_subnet_mask"), "testvm1", "ipv4_subnet_mask", "missing; needed with ipv4_address"),
    ("testvm1", lambda n: n.update(ipv4_address="192.168.122.0"), "testvm1", "ipv4_address", "is the address of the network itself"),
    ("testvm1", lambda n: n.update(ipv4_address="192.168.122.102"), "testvm2", "ipv4_address",
     "the address 192.168.122.102 is also used by node 'testvm1' (ipv4_address)"),
    ("testvm1", lambda n: n.update(ipv4_address="192.168.122.300"), "testvm1", "ipv4_address", "'192.168.122.300' is not an IPv4 address"),
    ("testvm1", lambda n: n.update(ipv4_gateway="10.0.0.1"), "testvm1", "ipv4_gateway", "is not inside the node's network 192.168.122.0/24"),
    ("testvm1", lambda n: n.update(ipv4_nameserver="dns.lab"), "testvm1", "ipv4_nameserver[0]", "'dns.lab' is not an IP address"),
    ("testvm1", lambda n: n.pop("ipv4_address"), "testvm1", "ipv4_subnet_mask", "given without ipv4_address"),
    ("testvm1", lambda n: n.update(host_groups=["baremetal", "nova"]), "testvm1", "host_groups[1]",
     "host group 'nova' means role 'Nova', which is not allowed"),
    ("testvm1", lambda n: n.update(name="testvm9"), "testvm1", "name", "'testvm9' differs from the key 'testvm1'"),
    ("testvm1", lambda n: n["properties"].update(ram="3GB"), "testvm1", "properties.ram", "expected a whole number of MiB, got '3GB'"),
    ("testvm1", lambda n: n["properties"]["root_device"].update(size="big"), "testvm1", "properties.root_device.size",
     "'big' is not a disk size"),
])
def test_bifrost_invalid(target, change, node, field, fragment):
    data = sample("bifrost.json")
    change(data[target])
    fails(data, node, field, fragment)


def test_bifrost_name_is_the_key():
    data = sample("bifrost.json")
    data["TestVM4"] = data.pop("testvm3")
    fails(data, "TestVM4", "name", "'TestVM4' is not a valid node name")


def test_bifrost_roles_from_host_groups_with_custom_roles():
    data = sample("bifrost.json")
    data["testvm2"]["host_groups"] = ["baremetal", "nova", "compute"]
    assert load_nodes(data, roles=["Controller", "Compute", "Nova"])[1]["role"] == "Nova"


# --- the module, run by ansible ---------------------------------------------------------

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the nodes file
      stackwright.cloud.baremetal_nodes_file: {args}
      register: result
      ignore_errors: true

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: {out}
        mode: "0600"
      check_mode: false
"""


def run_module(tmp_path, args, check=False):
    """Run the module in a playbook; return its registered result and the playbook's output."""
    out = tmp_path / "result.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK.format(args=json.dumps(args), out=out))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)]
    if check:
        argv.append("--check")
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout + proc.stderr


def test_module_reads_instackenv_and_masks_passwords(tmp_path):
    result, output = run_module(tmp_path, {"path": os.path.join(DATA, "instackenv.json")})
    assert not result.get("failed") and result["changed"] is False
    assert result["count"] == 3 and result["format"] == "instackenv"
    names = ["overcloud-controller-0", "overcloud-compute-0", "overcloud-cephstorage-0"]
    assert [n["name"] for n in result["nodes"]] == names
    assert [n["bmc"]["password"] for n in result["nodes"]] == ["********"] * 3
    for secret in ("p@55w0rd!", "calvin"):
        assert secret not in json.dumps(result) and secret not in output


def test_module_reads_yaml_in_check_mode(tmp_path):
    result, _ = run_module(tmp_path, {"path": os.path.join(DATA, "nodes.yml")}, check=True)
    assert result["count"] == 4 and result["format"] == "native"
    assert result["nodes"][3]["bmc"] is None
    assert "s3cret-ctl0" not in json.dumps(result)


def test_module_bad_file_names_the_field(tmp_path):
    bad = tmp_path / "nodes.yml"
    bad.write_text("nodes:\n  - name: compute0\n    bmc: {address: 300.1.1.1, username: a, password: hunter2}\n"
                   "    macs: ['52:54:00:aa:00:01']\n")
    result, _ = run_module(tmp_path, {"path": str(bad)})
    assert result["failed"] is True
    assert result["msg"] == "%s: node 'compute0': bmc.address: '300.1.1.1' is not an IP address or host name" % bad
    assert (result["node"], result["field"]) == ("compute0", "bmc.address")
    assert "hunter2" not in json.dumps(result)


def test_module_data_and_roles(tmp_path):
    data = {"nodes": [node("net-0", role="Networker", bmc=dict(address="192.0.2.9", username="a", password="t0ps3cret"))]}
    result, _ = run_module(tmp_path, {"data": data, "roles": ["Networker"]})
    assert result["count"] == 1 and result["nodes"][0]["role"] == "Networker"
    assert "t0ps3cret" not in json.dumps(result)  # not even in the echoed arguments (invocation)
    result, _ = run_module(tmp_path, {"data": data})
    assert result["failed"] and (result["node"], result["field"]) == ("net-0", "role")
    assert result["msg"].startswith("data: node 'net-0': role: 'Networker' is not an allowed role")


def test_module_unparsable_file_does_not_quote_it(tmp_path):
    bad = tmp_path / "nodes.yml"
    bad.write_text("nodes:\n  - name: c0\n    bmc: {address: 192.0.2.1, password: [hunter2\n")
    result, _ = run_module(tmp_path, {"path": str(bad)})
    assert result["failed"] and result["field"] == "path" and "cannot be parsed (line" in result["msg"]
    assert "hunter2" not in json.dumps(result)


def test_module_missing_file(tmp_path):
    result, _ = run_module(tmp_path, {"path": str(tmp_path / "nope.yml")})
    assert result["failed"] and result["field"] == "path" and result["msg"].endswith("nope.yml: no such file")
