"""The node schema's checks at their edges, called directly: the option declarations
Ansible validates baremetal_node's arguments with, special networks, gateways of
point-to-point links, the words of near-miss suggestions and of every refusal, and
what a node's kind needs. The behaviours a mutation run (tools/mutation.py) left
untested."""

import ipaddress

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from fixtures import _load

ns = _load("node_schema", "agent/stackwright_agent/node_schema.py")

PATHS = dict(address="network.address", gateway="network.gateway", dns="network.dns",
             interface_mac="network.interface_mac")


def invalid(check, *args, **kwargs):
    with pytest.raises(ns.Invalid) as info:
        check(ns.Checker(), *args, **kwargs)
    return info.value


def test_the_option_declarations_validate_a_node_as_ansible_reads_it():
    result = ArgumentSpecValidator(ns.NODE_OPTIONS).validate(dict(
        name="n1", bmc=dict(address="192.0.2.9", username="admin", password="pw"),
        network=dict(address="192.0.2.10/24", gateway="192.0.2.1", dns=["192.0.2.53"])))
    assert result.error_messages == []
    params = result.validated_parameters
    assert params["bmc"]["driver"] == "ipmi", "IPMI unless told"
    assert params["network"]["dns"] == ["192.0.2.53"] and params["network"]["gateway"] == "192.0.2.1"
    missing = ArgumentSpecValidator(ns.NODE_OPTIONS).validate(dict(name="n1", bmc=dict(username="admin")))
    assert any("address" in m for m in missing.error_messages), missing.error_messages
    wrong = ArgumentSpecValidator(ns.NODE_OPTIONS).validate(dict(name="n1", bmc=dict(
        address="192.0.2.9", username="admin", password="pw", driver="amt")))
    assert any("driver" in m for m in wrong.error_messages), wrong.error_messages
    assert ArgumentSpecValidator(ns.NODE_OPTIONS).validate(dict(name="n1", bmc="x")).error_messages


@pytest.mark.parametrize("cidr", ["0.1.0.0/16", "0.0.0.0/8", "0.255.0.0/24"])
def test_this_network_0_0_0_0_8_is_no_network_of_a_cloud(cidr):
    assert ns.network_problem(ipaddress.ip_network(cidr))


def test_a_multicast_range_is_named():
    assert ns.network_problem(ipaddress.ip_network("239.1.0.0/16")) == (
        "239.1.0.0/16 is a multicast range; give a unicast network, like 192.0.2.0/24")


def test_values_read_in_messages_as_written():
    assert [ns.kind_of(v) for v in (None, True, 1, 1.5, "x", [], (), {}, object())] == [
        "null", "a boolean", "a number", "a number", "a string", "a list", "a list", "a mapping", "a object"]
    assert [ns.q(v) for v in (None, True, False, "x", 5)] == ["null", "true", "false", "'x'", "5"]


def test_suggestions_for_near_misses():
    assert ns.suggest("COMPUTE", ["Compute", "Controller"]) == "; did you mean 'Compute'?"
    assert ns.suggest("Controler", ["Compute", "Controller"]) == "; did you mean 'Controller'?"
    assert ns.suggest("CONTROLER", ["Compute", "Controller"]) == "; did you mean 'Controller'?"
    assert ns.suggest("zzz", ["Compute", "Controller"]) == ""


def test_text_length_limit_is_inclusive():
    ns.text(ns.Checker(), "f", "a" * 8, max_len=8)  # at the limit: no error
    err = invalid(ns.text, "f", "a" * 9, max_len=8)
    assert err.field == "f" and err.detail and err.detail == str(err).split(": ", 1)[1]


def test_a_gateway_of_a_point_to_point_link():
    net = ns.network(ns.Checker(), "192.0.2.1/31", "192.0.2.0", None, None, PATHS)
    assert net["gateway"] == "192.0.2.0", "a /31 has no network or broadcast address"
    err = invalid(ns.network, "192.0.2.10/24", "192.0.2.0", None, None, PATHS)
    assert err.field == "network.gateway" and err.detail == "'192.0.2.0' is not a host address of 192.0.2.0/24"
    err = invalid(ns.network, "192.0.2.10/24", "192.0.2.x", None, None, PATHS)
    assert err.field == "network.gateway" and err.detail == "'192.0.2.x' is not an IP address"


def test_a_static_network_keeps_its_interface_mac():
    net = ns.network(ns.Checker(), "192.0.2.10/24", None, ["192.0.2.53"], "52:54:00:AA:00:01", PATHS)
    assert net == dict(address="192.0.2.10/24", gateway=None, dns=["192.0.2.53"], interface_mac="52:54:00:aa:00:01")


@pytest.mark.parametrize("address, gateway, dns, field, detail", [
    (None, None, None, "network.address",
     "missing; give the node's address with its prefix length, like '192.0.2.10/24'"),
    ("192.0.2.10", None, None, "network.address",
     "'192.0.2.10' has no prefix length; write it as a CIDR, like '192.0.2.10/24'"),
    ("192.0.2.10/24", None, "192.0.2.53", "network.dns", "expected a list of DNS server addresses, got a string"),
])
def test_network_refusals_name_field_and_fix(address, gateway, dns, field, detail):
    err = invalid(ns.network, address, gateway, dns, None, PATHS)
    assert (err.field, err.detail) == (field, detail)


def test_what_a_kind_needs():
    err = invalid(ns.presence, "container", True, {"address": "192.0.2.10/24"})
    assert err.field == "bmc" and err.detail.startswith("a container node is pre-provisioned and has no BMC")
    err = invalid(ns.presence, "baremetal", False, None)
    assert err.field == "bmc" and "bmc is required unless the node is pre-provisioned" in err.detail
    ns.presence(ns.Checker(), "baremetal", False, {"address": "192.0.2.10/24"})


GiB = 1 << 30


def test_without_hints_the_smallest_disk_of_4_gib_is_the_root_disk():
    tiny, four, big = (dict(name="vdc", size_bytes=GiB), dict(name="vdb", size_bytes=4 * GiB),
                       dict(name="vda", size_bytes=40 * GiB))
    assert ns.pick_root_disk([big, tiny, four], {}) is four, "4 GiB exactly is big enough"
    assert ns.pick_root_disk([big, tiny], {}) is big
    assert ns.pick_root_disk([tiny, dict(name="vdd")], {})["name"] == "vdd", "none is big: the smallest"
    assert ns.pick_root_disk([], {}) is None
    assert ns.pick_root_disk([big, four], {"name": "/dev/vda"}) is big
    assert ns.pick_root_disk([big, four], {"name": "sdz"}) is None


@pytest.mark.parametrize("check, args, field, detail", [
    (ns.check_fields, ({"bogus": 1}, ("address", "gateway"), "network"), "network.bogus",
     "unknown field 'bogus'; allowed: address, gateway"),
    (ns.mac, ("macs[0]", 5.5), "macs[0]", "expected a MAC address, got a number"),
    (ns.mac, ("macs[0]", "52:54:00"), "macs[0]",
     "'52:54:00' is not a MAC address; write six pairs of hex digits separated by colons, like '52:54:00:12:34:56'"),
    (ns.kind, ("kind", 5), "kind", "5 is not a node kind (baremetal, container, vm)"),
    (ns.boot_mode, ("properties.boot_mode", 5), "properties.boot_mode", "5 is not a boot mode (bios, uefi)"),
    (ns.kind, ("kind", "VM"), "kind", "'VM' is not a node kind (baremetal, container, vm); did you mean 'vm'?"),
    (ns.boot_mode, ("properties.boot_mode", "efi"), "properties.boot_mode", "'efi' is not a boot mode"),
    (ns.root_device, ("root_device", {"rotational": "yes"}), "root_device.rotational",
     "expected true or false (unquoted), got 'yes'"),
])
def test_refusals_are_invalid_fields_not_crashes(check, args, field, detail):
    err = invalid(check, *args)
    assert err.field == field and err.detail.startswith(detail), err.detail
    if not isinstance(args[-1], str):
        assert err.detail == detail, "no hint for a value that is not text"


def test_a_boot_mode_is_kept_in_the_properties():
    assert ns.properties(ns.Checker(), "properties", {"boot_mode": "uefi", "cpus": 2})["boot_mode"] == "uefi"
    assert ns.properties(ns.Checker(), "properties", {"boot_mode": "bios"}, others=True)["boot_mode"] == "bios"
    assert "boot_mode" not in ns.properties(ns.Checker(), "properties", {"cpus": 2})


def test_option_types_convert_as_ansible_does():
    result = ArgumentSpecValidator(ns.NODE_OPTIONS).validate(dict(
        name="n1", bmc=dict(address=5, username="admin", password="pw"),
        network=dict(address="192.0.2.10/24", gateway=7, dns=[8])))
    params = result.validated_parameters
    assert params["bmc"]["address"] == "5" and params["network"]["gateway"] == "7"
    assert params["network"]["dns"] == ["8"]


def test_the_agents_properties_check_their_boot_mode():
    assert ns.properties(ns.Checker(), "properties", {"boot_mode": "bios", "x": 1}, others=True) == {
        "boot_mode": "bios", "x": 1}
    err = invalid(ns.properties, "properties", {"boot_mode": "efi"}, others=True)
    assert err.field == "properties.boot_mode"


@pytest.mark.parametrize("value, verify", [("false", False), (" No ", False), ("true", True), ("YES", True),
                                           (None, True), (False, False)])
def test_verify_ca_words(value, verify):
    assert ns.verify_ca(ns.Checker(), "bmc.verify_ca", value) is verify


def test_a_mac_or_address_twice_names_both_places():
    err = invalid(ns.macs, "macs", ["52:54:00:aa:00:01", "52:54:00:AA:00:01"])
    assert (err.field, err.detail) == ("macs[1]", "MAC 52:54:00:aa:00:01 is listed twice on this node (also at "
                                                  "macs[0])")
    nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")
    two = [dict(name="a", bmc=dict(address="192.0.2.20", username="u", password="p"), macs=["52:54:00:aa:00:01"],
                network=dict(address="192.0.2.10/24")),
           dict(name="b", bmc=dict(address="192.0.2.21", username="u", password="p"), macs=["52:54:00:aa:00:01"])]
    with pytest.raises(nodes_file.NodesFileError) as info:
        nodes_file.load_nodes({"nodes": two})
    assert info.value.message.endswith("a MAC address belongs to one NIC on one node"), info.value.message
    assert "MAC 52:54:00:aa:00:01" in info.value.message
    two[1].update(macs=["52:54:00:aa:00:02"], network=dict(address="192.0.2.10/24"))
    with pytest.raises(nodes_file.NodesFileError) as info:
        nodes_file.load_nodes({"nodes": two})
    assert info.value.message.endswith("each node needs an address of its own"), info.value.message
    assert "the address 192.0.2.10" in info.value.message


BMC_PATHS = dict(address="bmc.address", port="bmc.port", username="bmc.username", password="bmc.password")


@pytest.mark.parametrize("check, args, field, detail", [
    (ns.bmc_endpoint, (None, 623, "u", "p", BMC_PATHS),
     "bmc.address", "missing; give the address of the node's BMC"),
    (ns.bmc_endpoint, ("192.0.2.9", 623, "u", "p" * 21, BMC_PATHS),
     "bmc.password", "is not an IPMI password: at most 20 printable ASCII characters (IPMI 2.0)"),
    (ns.port, ("bmc.port", 70000), "bmc.port", "70000 is not a port number (1 to 65535; IPMI's is 623)"),
    (ns.presence, ("container", False, None), "network.address", "missing; a container node is pre-provisioned"),
    (ns.redfish_address, (dict(address="bmc.address", port="bmc.port"), "https://[fd00::10", None), "bmc.address",
     "'https://[fd00::10' is not a URL: an IPv6 address goes in brackets, like 'https://[fd00::10]:443'"),
    (ns.redfish_address, (dict(address="bmc.address", port="bmc.port"), "https://[192.0.2.1]", None),
     "bmc.address", "'https://[192.0.2.1]': only an IPv6 address goes in brackets"),
    (ns.redfish_address, (dict(address="bmc.address", port="bmc.port"), "ftp://192.0.2.1", None), "bmc.address",
     "'ftp': the scheme must be https (or http, for an emulator), like 'https://192.0.2.10'"),
    (ns.redfish_address, (dict(address="bmc.address", port="bmc.port"), "https://u:p@192.0.2.1", None),
     "bmc.address", "holds credentials (user@ or user:password@); give them as username and password, and the URL "
                    "without them"),
])
def test_bmc_and_presence_refusals_name_the_field(check, args, field, detail):
    err = invalid(check, *args)
    assert err.field == field and err.detail.startswith(detail), (err.field, err.detail)


@pytest.mark.parametrize("field", ["verify_ca", "system_id"])
def test_redfish_fields_on_an_ipmi_bmc_are_refused(field):
    err = invalid(ns.bmc, "bmc", {"address": "192.0.2.9", "username": "u", "password": "p", field: "1"})
    assert (err.field, err.detail) == ("bmc." + field, "is for a Redfish BMC; set bmc.driver: redfish, or remove "
                                                       + field)
