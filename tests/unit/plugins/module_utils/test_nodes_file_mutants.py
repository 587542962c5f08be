"""The nodes file's TripleO and bifrost readers at their edges, with the exact words
each refusal uses: the behaviours a mutation run (tools/mutation.py) left untested."""

import pytest

from fixtures import _load

nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")
NodesFileError = nodes_file.NodesFileError


def instackenv(**fields):
    node = dict(name="ctl-0", pm_type="ipmi", pm_addr="192.0.2.30", pm_user="admin", pm_password="pw",
                mac=["52:54:00:bb:00:01"])
    node.update(fields)
    return {"nodes": [node]}


def bifrost(**fields):
    node = dict(name="n0", driver="ipmi", driver_info=dict(ipmi_address="192.0.2.40", ipmi_username="admin",
                                                           ipmi_password="pw"),
                nics=[dict(mac="52:54:00:cc:00:01")])
    node.update(fields)
    return {"n0": node}


def error(data):
    with pytest.raises(NodesFileError) as info:
        nodes_file.load_nodes(data)
    return info.value


def test_capabilities_skip_empty_items_and_read_every_pair():
    nodes = nodes_file.load_nodes(instackenv(capabilities="boot_option:local,, profile:control ,"))
    assert nodes[0]["role"] == "Controller"
    assert nodes_file.load_nodes(instackenv(capabilities={"profile": "control"}))[0]["role"] == "Controller"
    assert nodes_file.load_nodes(instackenv(capabilities=None))[0]["role"] == "Compute"


def test_a_capability_without_a_colon_is_named():
    err = error(instackenv(capabilities="profile:control,uefi"))
    assert err.field == "capabilities" and err.node == "ctl-0"
    assert err.message.endswith("'uefi' is not key:value (capabilities look like "
                                "'profile:compute,boot_option:local')")


def test_bifrost_capabilities_and_properties():
    nodes = nodes_file.load_nodes(bifrost(properties=dict(capabilities="boot_mode:uefi,,profile:compute",
                                                          cpus=4, ram=8192)))
    assert nodes[0]["properties"]["boot_mode"] == "uefi" and nodes[0]["properties"]["cpus"] == 4
    assert nodes_file.load_nodes(bifrost(properties=None))[0]["properties"]["cpus"] is None
    err = error(bifrost(properties="big"))
    assert err.field == "properties"


def test_bifrost_refusals_name_field_and_fix():
    err = error(bifrost(driver_info=None))
    assert err.field == "driver_info" and err.message.endswith(
        "missing; give the BMC as driver_info: {ipmi_address, ipmi_username, ipmi_password}")
    err = error(bifrost(ipv4_address="192.0.2.300", ipv4_subnet_mask="255.255.255.0"))
    assert err.field == "ipv4_address" and err.message.endswith("'192.0.2.300' is not an IPv4 address")
    err = error(bifrost(ipv4_gateway="192.0.2.1"))
    assert err.field == "ipv4_gateway" and err.message.endswith(
        "given without ipv4_address; add the node's address or remove it")


@pytest.mark.parametrize("data, words", [
    (None, "nodes file: is empty; expected {nodes: [...]} (Stackwright or TripleO instackenv), a list of nodes, "
           "or a bifrost inventory (node name: {driver_info: ...})"),
    ({}, "nodes file: not a nodes file: expected {nodes: [...]}"),
    ("", "nodes file: not a nodes file: expected"),
    ([], "nodes file: lists no nodes"),
    ({"nodes": []}, "nodes file: nodes: lists no nodes"),
])
def test_an_empty_file_says_what_it_expected(data, words):
    err = error(data)
    assert err.node is None and err.message.startswith(words)


@pytest.mark.parametrize("mask, prefix", [("32", 32), (24, 24), ("255.255.255.0", 24), (" 255.255.0.0 ", 16)])
def test_a_subnet_mask_or_prefix_length(mask, prefix):
    nodes = nodes_file.load_nodes(bifrost(ipv4_address="192.0.2.10", ipv4_subnet_mask=mask))
    assert nodes[0]["network"]["address"] == "192.0.2.10/%d" % prefix


def test_a_prefix_length_0_is_read_and_refused_as_covering_everything():
    err = error(bifrost(ipv4_address="192.0.2.10", ipv4_subnet_mask=0))
    assert err.field == "ipv4_address" and "covers every address" in err.message


@pytest.mark.parametrize("mask", [33, "33", "255.0.255.0", "wide", True])
def test_a_bad_subnet_mask_is_named(mask):
    err = error(bifrost(ipv4_address="192.0.2.10", ipv4_subnet_mask=mask))
    assert err.field == "ipv4_subnet_mask" and err.message.endswith(
        "is not a subnet mask; write it like '255.255.255.0' (or a prefix length, 24)")


def test_a_profile_must_be_text_and_a_bifrost_node_a_mapping():
    err = error(instackenv(capabilities={"profile": 5}))
    assert err.field == "capabilities" and err.message.endswith("profile: expected a string, got a number")
    err = error({"n0": "not a node", "n1": bifrost()["n0"]})
    assert err.node == "n0" and err.message.endswith("expected a mapping (one node), got a string")


def test_an_older_bifrost_gives_the_bmc_under_power():
    info = dict(power=dict(ipmi_address="192.0.2.41", ipmi_username="admin", ipmi_password="pw"))
    assert nodes_file.load_nodes(bifrost(driver_info=info))[0]["bmc"]["address"] == "192.0.2.41"
    err = error(bifrost(driver_info=dict(power=dict(ipmi_username="admin", ipmi_password="pw"))))
    assert err.field == "driver_info.power.ipmi_address"


def test_a_default_role_that_is_not_allowed_is_named():
    with pytest.raises(NodesFileError) as info:
        nodes_file.load_nodes(instackenv(), roles=["Controller"])
    assert info.value.field == "capabilities" and info.value.message.endswith(
        "missing, and the default role 'Compute' is not allowed; give one of the allowed roles: Controller")
    with pytest.raises(NodesFileError) as info:
        nodes_file.load_nodes(bifrost(), roles=["Controller"])
    assert info.value.message.endswith(
        "missing, and the default role 'Compute' is not allowed; give one of the allowed roles: Controller")


def test_the_bmc_under_power_only_when_not_given_directly():
    info = dict(ipmi_address="192.0.2.42", ipmi_username="admin", ipmi_password="pw",
                power=dict(ipmi_address="192.0.2.43", ipmi_username="admin", ipmi_password="pw"))
    assert nodes_file.load_nodes(bifrost(driver_info=info))[0]["bmc"]["address"] == "192.0.2.42"
    err = error(bifrost(driver_info=dict(ipmi_username="admin", ipmi_password="pw")))
    assert err.field == "driver_info.ipmi_address"
