"""A server role's links: the NICs and bonds that carry its networks as VLANs or
untagged subnets (plugins/filter/overcloud.py checks them and gives each host its
own, plugins/filter/networkd.py renders them as systemd-networkd files)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.networkd import networkd_files
from ansible_collections.stackwright.cloud.plugins.filter.overcloud import (
    link_network_problems, link_problems, node_links, server_role_problems)

NETWORKS = ["ctlplane", "internal_api", "tenant", "storage", "external"]
BOND = {"name": "bond0", "bond": ["enp2s0", "enp3s0"], "mode": "802.3ad", "mtu": 9000,
        "networks": ["internal_api", "tenant", "storage"]}
UPLINK = {"name": "enp4s0", "provider_bridge": "br-ex"}
DROPIN = "/etc/systemd/network/10-provisioning.network.d/50-stackwright-networks.conf"
D = "/etc/systemd/network/50-stackwright-"


def entry(address, vlan=None, mtu=1500, prefix=24):
    return {"address": address, "prefix": prefix, "vlan": vlan, "mtu": mtu, "gateway": None}


ADDRESSES = {"ctlplane": entry("192.168.24.20"), "internal_api": entry("172.16.2.20", vlan=20),
             "tenant": entry("172.16.0.20", vlan=50, mtu=9000), "storage": entry("172.16.1.20", vlan=30),
             "external": entry("10.0.0.20")}


def test_a_bond_and_a_bridge_uplink_are_fine():
    assert link_problems("Compute", [BOND, UPLINK], NETWORKS) == []
    assert link_problems("Compute", [{"name": "enp2s0", "networks": ["storage"]}], NETWORKS) == []
    roles = {"Compute": {"services": [], "networks": NETWORKS, "links": [BOND, "eth9"]}}
    assert server_role_problems(roles, []) == ["Compute.links[1]: must be a mapping {name, bond, ...}, not 'eth9'"]


@pytest.mark.parametrize("links, problem", [
    ("bond0", "Compute.links: must be a list of {name, bond, mode, mtu, networks, provider_bridge}"),
    ([dict(BOND, name="bond0/1")], "Compute.links[0].name: an interface name of at most 15 letters, digits, '_', "
                                   "'.' or '-' (e.g. bond0, enp2s0), not 'bond0/1'"),
    ([dict(BOND, name="a-very-long-name0")], "Compute.links[0].name: an interface name of at most 15"),
    ([dict(BOND, name="bond0\n")], "Compute.links[0].name: an interface name"),
    ([dict(BOND, speed=10)], "Compute.links[0]: unknown key speed (known: name, bond, mode, mtu, networks, "
                             "provider_bridge)"),
    ([dict(BOND, bond=[])], "Compute.links bond0.bond: the list of the bond's interfaces (e.g. [enp2s0, enp3s0]), "
                            "not []"),
    ([dict(BOND, bond=["enp2s0", "enp2s0"])], "Compute.links bond0.bond: names an interface twice"),
    ([dict(BOND, mode="balance-rr")], "Compute.links bond0.mode: one of active-backup, 802.3ad, not 'balance-rr'"),
    ([{"name": "enp2s0", "mode": "802.3ad"}], "Compute.links enp2s0.mode: only a bond has a mode"),
    ([BOND, {"name": "enp3s0"}], "Compute.links enp3s0: interface enp3s0 is already in bond0"),
    ([dict(BOND, mtu=65536)], "Compute.links bond0.mtu: a whole number of bytes from 576 to 9216, not 65536"),
    ([dict(BOND, mtu="9000")], "Compute.links bond0.mtu: a whole number of bytes from 576 to 9216, not '9000'"),
    ([dict(BOND, networks=["ctlplane"])], "Compute.links bond0.networks: ctlplane stays on the link the node was "
                                          "provisioned on"),
    ([dict(BOND, networks=["management"])], "Compute.links bond0.networks: management is not one of the role's "
                                            "networks (ctlplane, internal_api, tenant, storage, external)"),
    ([BOND, {"name": "enp5s0", "networks": ["tenant"]}], "Compute.links enp5s0.networks: tenant is on link bond0 "
                                                         "already"),
    ([dict(UPLINK, networks=["external"])], "Compute.links enp4s0: a provider bridge's port carries no networks of "
                                            "its own (its traffic is the bridge's); put external on another link"),
    ([dict(UPLINK, provider_bridge="br ex")], "Compute.links enp4s0.provider_bridge: the name of one of "
                                              "host_network_provider_bridges, not 'br ex'"),
    ([dict(UPLINK, provider_bridge=None)], "Compute.links[0]: provider_bridge given empty (null): give a value or "
                                           "leave it out"),
    ([dict(BOND, bond=None, mtu=None)], "Compute.links[0]: bond, mtu given empty (null)"),
    ([{"name": "lo", "networks": ["storage"]}], "Compute.links[0].name: an interface name"),
    ([dict(BOND, bond=["bond0", "enp3s0"])], "Compute.links bond0.bond: names the bond itself; list the NICs it bonds"),
])
def test_each_bad_link_is_named_with_its_field(links, problem):
    problems = link_problems("Compute", links, NETWORKS)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_a_host_takes_its_roles_links_once_and_refuses_two_definitions():
    roles = {"Compute": {"networks": NETWORKS, "links": [BOND]},
             "BlockStorage": {"networks": ["ctlplane", "storage"], "links": [BOND, UPLINK]},
             "Controller": {"networks": NETWORKS}}
    hostvars = {"hyb0": {"group_names": ["BlockStorage", "Compute"]}, "ctl0": {"group_names": ["Controller"]}}
    assert node_links(["hyb0", "ctl0"], hostvars, roles) == {"hyb0": [BOND, UPLINK], "ctl0": []}
    roles["Compute"]["links"] = [dict(BOND, mode="active-backup")]
    with pytest.raises(AnsibleFilterError, match="hyb0: server roles BlockStorage and Compute define link bond0 "
                                                 "differently; a host in both needs one definition"):
        node_links(["hyb0"], hostvars, roles)


@pytest.mark.parametrize("other, problem", [
    ({"name": "enp3s0"}, "BlockStorage\\+Compute.links bond0: interface enp3s0 is already a link of its own"),
    ({"name": "enp5s0", "networks": ["storage"]}, "storage is on link enp5s0 already"),
])
def test_the_links_of_a_hosts_roles_together_use_a_nic_and_carry_a_network_once(other, problem):
    roles = {"Compute": {"networks": NETWORKS, "links": [BOND]},
             "BlockStorage": {"networks": ["ctlplane", "storage"], "links": [other]}}
    hostvars = {"hyb0": {"group_names": ["BlockStorage", "Compute"]}}
    with pytest.raises(AnsibleFilterError, match="hyb0: the links of its server roles together: .*" + problem):
        node_links(["hyb0"], hostvars, roles)


def test_links_against_the_networks_mtu_and_vlan_names():
    networks = [{"name": "tenant", "vlan": 50, "mtu": 9000}, {"name": "storage", "vlan": 30},
                {"name": "internal_api"}]
    assert link_network_problems({"Compute": {"links": [BOND]}}, networks) == []
    assert link_network_problems({"Compute": {"links": [dict(BOND, mtu=1500)]},
                                  "Storage": {"links": [{"name": "storage30", "networks": ["internal_api"]}]}},
                                 networks) == [
        "Compute.links bond0.mtu: 1500 is smaller than the MTU of tenant, which it carries; raise it or leave it out "
        "(the largest of its networks')",
        "Storage.links storage30: storage30 is the name of storage's VLAN interface; name the link otherwise"]


def test_vlans_over_a_bond_and_the_rest_on_the_ctlplane_link():
    files = {f["dest"]: f["content"] for f in networkd_files(ADDRESSES, DROPIN, links=[BOND, UPLINK])}
    assert sorted(files) == sorted([DROPIN, D + "if-bond0.netdev", D + "if-enp2s0.network", D + "if-enp3s0.network",
                                    D + "if-bond0.network", D + "if-enp4s0.network"]
                                   + [D + n + ext for n in ("internal_api", "storage", "tenant")
                                      for ext in (".netdev", ".network")])
    # external is on no link: it stays an untagged subnet of the ctlplane link
    assert files[DROPIN] == "# Ansible managed\n[Match]\nType=ether\n\n[Network]\n# external\nAddress=10.0.0.20/24\n"
    assert files[D + "if-bond0.netdev"] == ("# Ansible managed\n[NetDev]\nName=bond0\nKind=bond\nMTUBytes=9000\n\n"
                                            "[Bond]\nMode=802.3ad\nMIIMonitorSec=100ms\nLACPTransmitRate=fast\n"
                                            "TransmitHashPolicy=layer3+4\n")
    assert files[D + "if-enp3s0.network"] == ("# Ansible managed\n# a member of bond0\n[Match]\nName=enp3s0\n\n"
                                              "[Network]\nBond=bond0\n\n[Link]\nMTUBytes=9000\n")
    assert files[D + "if-bond0.network"] == ("# Ansible managed\n[Match]\nName=bond0\n\n[Network]\n"
                                             "LinkLocalAddressing=no\nVLAN=internalapi20\nVLAN=storage30\n"
                                             "VLAN=tenant50\n\n[Link]\nMTUBytes=9000\n")
    assert files[D + "if-enp4s0.network"] == ("# Ansible managed\n# the port of provider bridge br-ex\n[Match]\n"
                                              "Name=enp4s0\n\n[Network]\nLinkLocalAddressing=no\n"
                                              "ConfigureWithoutCarrier=yes\nKeepMaster=yes\n\n[Link]\nMTUBytes=1500\n")
    assert "Name=tenant50\nKind=vlan\nMTUBytes=9000" in files[D + "tenant.netdev"]


def test_an_active_backup_bond_takes_its_largest_networks_mtu_and_carries_untagged_subnets():
    bond = {"name": "bond1", "bond": ["eno1", "eno2"], "networks": ["external", "tenant"]}
    files = {f["dest"]: f["content"] for f in networkd_files(ADDRESSES, DROPIN, links=[bond])}
    assert files[D + "if-bond1.netdev"].endswith("MTUBytes=9000\n\n[Bond]\nMode=active-backup\nMIIMonitorSec=100ms\n")
    assert "# external\nAddress=10.0.0.20/24\nVLAN=tenant50\n" in files[D + "if-bond1.network"]
    assert "tenant" not in files[DROPIN] and "external" not in files[DROPIN]


def test_a_link_smaller_than_its_networks_mtu_is_refused():
    with pytest.raises(AnsibleFilterError, match="link bond0: its MTU 1500 is smaller than that of tenant, which it "
                                                 "carries; raise the link's mtu or lower the network's"):
        networkd_files(ADDRESSES, DROPIN, links=[dict(BOND, mtu=1500)])


def test_no_links_render_as_before():
    assert networkd_files(ADDRESSES, DROPIN) == networkd_files(ADDRESSES, DROPIN, links=[])
