"""The nodes file refuses values that cannot be a node's: names ending in a newline,
control characters, loopback/multicast/unspecified/all-covering addresses and networks,
IPMI credentials longer than IPMI 2.0 carries. Each error names the node, the field
and the fix."""

import pytest

from fixtures import _load

nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")
load_nodes = nodes_file.load_nodes
NodesFileError = nodes_file.NodesFileError


def node(**fields):
    base = dict(name="compute-0", bmc=dict(address="192.0.2.20", username="admin", password="secret"),
                macs=["52:54:00:aa:00:01"])
    base.update(fields)
    return base


def bmc(**fields):
    return dict(dict(address="192.0.2.20", username="admin", password="secret"), **fields)


def static(address, **fields):
    return dict(address=address, **fields)


BAD = [
    (node(name="compute-0\n"), "name", "control character"),
    (node(role="Compute\n"), "role", "control character"),
    (node(bmc=bmc(address="0.0.0.0")), "bmc.address", "unspecified address"),
    (node(bmc=bmc(address="::")), "bmc.address", "unspecified address"),
    (node(bmc=bmc(address="224.0.0.1")), "bmc.address", "multicast"),
    (node(bmc=bmc(address="ff02::1")), "bmc.address", "multicast"),
    (node(bmc=bmc(address="255.255.255.255")), "bmc.address", "broadcast"),
    (node(bmc=bmc(address="fe80::1%eth0")), "bmc.address", "is not an IP address or host name"),
    (node(bmc=bmc(address="bmc.example\n")), "bmc.address", "control character"),
    (node(bmc=bmc(address="bmc;reboot")), "bmc.address", "is not an IP address or host name"),
    (node(bmc=bmc(username="a" * 17)), "bmc.username", "at most 16"),
    (node(bmc=bmc(username="ad min")), "bmc.username", "no spaces"),
    (node(bmc=bmc(username="admin\x1b[2J")), "bmc.username", "control character"),
    (node(bmc=bmc(password="p" * 21)), "bmc.password", "at most 20"),
    (node(bmc=bmc(password="pass\nword")), "bmc.password", "control character"),
    (node(root_device={"serial": "S1\x1b[31m"}), "root_device.serial", "control character"),
    (node(network=static("127.0.0.5/8")), "network.address", "loopback"),
    (node(network=static("::1/128")), "network.address", "loopback"),
    (node(network=static("224.0.0.5/24")), "network.address", "multicast"),
    (node(network=static("0.0.0.0/0")), "network.address", "unspecified"),
    (node(network=static("10.0.0.5/0")), "network.address", "covers every address"),
    (node(network=static("::5/0")), "network.address", "covers every address"),
    (node(network=static("0.0.0.5/8")), "network.address", "unspecified range"),
    (node(network=static("192.0.2.50/24", dns=["127.0.0.53"])), "network.dns[0]", "loopback"),
    (node(network=static("192.0.2.50/24", dns=["0.0.0.0"])), "network.dns[0]", "unspecified"),
]


@pytest.mark.parametrize("raw, field, words", BAD)
def test_bad_values_name_the_field_and_the_fix(raw, field, words):
    with pytest.raises(NodesFileError) as info:
        load_nodes([raw])
    # a name with a control character is never printed: the node is named by position
    where = "nodes[0]" if field == "name" else "compute-0"
    assert (info.value.node, info.value.field) == (where, field), str(info.value)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert words in str(info.value), str(info.value)
    if field == "bmc.password":
        assert raw["bmc"]["password"] not in str(info.value), "a password is never shown"


def test_instackenv_and_bifrost_nodes_are_checked_alike():
    with pytest.raises(NodesFileError) as info:
        load_nodes({"nodes": [{"name": "n0", "pm_type": "ipmi", "pm_addr": "0.0.0.0", "pm_user": "u",
                               "pm_password": "p", "mac": ["52:54:00:aa:00:01"]}]})
    assert info.value.field == "pm_addr" and "unspecified" in str(info.value)
    with pytest.raises(NodesFileError) as info:
        load_nodes({"nodes": [{"name": "n0", "pm_type": "ipmi", "pm_addr": "192.0.2.9", "pm_user": "u" * 17,
                               "pm_password": "p", "mac": ["52:54:00:aa:00:01"]}]})
    assert info.value.field == "pm_user" and "at most 16" in str(info.value)


def test_loopback_bmcs_and_ipmi_limits_pass():
    """A BMC emulator on the undercloud host answers on loopback; 16/20 bytes fit IPMI."""
    got = load_nodes([node(bmc=bmc(address="127.0.0.1", username="u" * 16, password="p" * 20))])[0]["bmc"]
    assert (got["address"], got["username"], got["password"]) == ("127.0.0.1", "u" * 16, "p" * 20)
