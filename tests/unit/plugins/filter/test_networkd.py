"""The networkd_files filter (plugins/filter/networkd.py): the systemd-networkd files
host_network gives a node for its planned addresses."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.networkd import networkd_files, vlan_interface

DROPIN = "/etc/systemd/network/10-eth0.network.d/50-stackwright-networks.conf"


def entry(address, prefix=24, vlan=None, mtu=1500, gateway=None):
    return {"address": address, "prefix": prefix, "vlan": vlan, "mtu": mtu, "gateway": gateway}


ADDRESSES = {
    "ctlplane": entry("192.168.24.10", gateway="192.168.24.1"),
    "tenant": entry("172.16.0.4", vlan=50, mtu=9000),
    "internal_api": entry("172.16.2.10"),
    "external": entry("10.0.0.10", vlan=10, gateway="10.0.0.1"),
    "storage": entry("172.16.1.4", gateway="172.16.1.1"),
}


def test_dropin_then_a_netdev_and_a_network_per_vlan():
    files = networkd_files(ADDRESSES, DROPIN)
    assert [f["dest"] for f in files] == [
        DROPIN,
        "/etc/systemd/network/50-stackwright-external.netdev", "/etc/systemd/network/50-stackwright-external.network",
        "/etc/systemd/network/50-stackwright-tenant.netdev", "/etc/systemd/network/50-stackwright-tenant.network"]
    # the untagged subnets on the link (a gateway there is not the node's business), the VLANs on it
    assert files[0]["content"] == ("# Ansible managed\n[Match]\nType=ether\n\n[Network]\n# internal_api\nAddress=172.16.2.10/24\n"
                                   "# storage\nAddress=172.16.1.4/24\nVLAN=external10\nVLAN=tenant50\n")
    assert files[3]["content"] == ("# Ansible managed\n[NetDev]\nName=tenant50\nKind=vlan\nMTUBytes=9000\n\n"
                                   "[VLAN]\nId=50\n")
    assert files[4]["content"] == ("# Ansible managed\n[Match]\nName=tenant50\n\n[Network]\nAddress=172.16.0.4/24\n\n"
                                   "[Link]\nMTUBytes=9000\n")
    assert "Gateway=10.0.0.1\n" in files[2]["content"]


def test_only_the_ctlplane_gives_an_empty_dropin():
    files = networkd_files({"ctlplane": ADDRESSES["ctlplane"]}, DROPIN, header="managed by me",
                           directory="/run/systemd/network/")
    assert files == [{"dest": DROPIN, "content": "# managed by me\n[Match]\nType=ether\n\n[Network]\n"}]


def test_ipv6_address():
    files = networkd_files({"storage_mgmt": entry("fd00:fd00::5", prefix=64, vlan=40)}, DROPIN)
    assert "Address=fd00:fd00::5/64\n" in files[2]["content"]


@pytest.mark.parametrize("network, vlan, name", [
    ("tenant", 50, "tenant50"),
    ("internal_api_b", 60, "internalapib60"),  # 12 characters once _ goes: kept whole
    ("storage_mgmt_fifteen", 41, "storagemgm41"),  # 18: cut to 10
])
def test_vlan_interface_names(network, vlan, name):
    assert vlan_interface(network, vlan) == name


def test_bad_addresses_name_the_network():
    with pytest.raises(AnsibleFilterError, match="must be a mapping"):
        networkd_files(["tenant"], DROPIN)
    with pytest.raises(AnsibleFilterError, match="tenant lacks prefix, mtu"):
        networkd_files({"tenant": {"address": "172.16.0.4"}}, DROPIN)
