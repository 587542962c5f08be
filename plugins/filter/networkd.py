# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A node's planned addresses as systemd-networkd files (roles/host_network): a drop-in
for the ctlplane link with the untagged subnets and the VLANs on it, and a .netdev and a
.network per VLAN; with its server role's links, the NICs and bonds that carry the other
networks (a .netdev per bond, a .network per link and per bond member)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def vlan_interface(network, vlan):
    """The VLAN interface's name: the network's name without _, then the VLAN id. A name
    longer than 15 characters is cut to 10 (as the role's templates did, by Jinja's
    truncate with its leeway of 5)."""
    name = network.replace("_", "")
    if len(name) > 15:
        name = name[:10]
    return "%s%s" % (name, vlan)


def networkd_files(addresses, dropin, header="Ansible managed", directory="/etc/systemd/network", links=None):
    """[{dest, content}] for config_files: the ctlplane link's drop-in DROPIN, then a .netdev
    and a .network in DIRECTORY for each network with a VLAN, networks in name order.
    ADDRESSES: the node's plan ({network: {address, prefix, vlan, mtu, gateway}}); its
    ctlplane entry, the link's own address, is left out. LINKS: the server role's links
    (filter node_links; checked by server_role_problems): the networks a link names are
    on it (untagged: an address; with a VLAN: a VLAN interface over it), not on the
    ctlplane link."""
    if not isinstance(addresses, Mapping):
        raise AnsibleFilterError("networkd_files: the addresses must be a mapping {network: {address, prefix, ...}}, "
                                 "got %s" % type(addresses).__name__)
    extra = sorted(((name, net) for name, net in addresses.items() if name != "ctlplane"), key=lambda i: i[0].lower())
    for name, net in extra:
        missing = [key for key in ("address", "prefix", "mtu") if not isinstance(net, Mapping) or key not in net]
        if missing:
            raise AnsibleFilterError("networkd_files: %s lacks %s" % (name, ", ".join(missing)))
    links = links or []
    carrier = dict((net, link["name"]) for link in links for net in link.get("networks") or [])
    vlans = [(name, net) for name, net in extra if net.get("vlan")]

    def link_network(nets, lines):
        """The untagged addresses and the VLANs of NETS, after LINES."""
        for name, net in nets:
            if not net.get("vlan"):
                lines += ["# %s" % name, "Address=%s/%s" % (net["address"], net["prefix"])]
        return lines + ["VLAN=%s" % vlan_interface(name, net["vlan"]) for name, net in nets if net.get("vlan")]

    on_ctlplane = [(name, net) for name, net in extra if name not in carrier]
    # [Match] Type=ether: the first-boot file matches the NIC by MAC, which its VLANs
    # inherit; without it, that file (sorting first) would configure them too. Nodes
    # provisioned before their first-boot file said so get it here.
    head = ["# %s" % header, "[Match]", "Type=ether", "", "[Network]"]
    files = [{"dest": dropin, "content": _text(link_network(on_ctlplane, head))}]

    base = directory.rstrip("/") + "/50-stackwright-"
    for link in links:
        files += _link_files(link, [(name, net) for name, net in extra if carrier.get(name) == link["name"]],
                             header, base, link_network)

    for name, net in vlans:
        iface = vlan_interface(name, net["vlan"])
        netdev = ["# %s" % header, "[NetDev]", "Name=%s" % iface, "Kind=vlan", "MTUBytes=%s" % net["mtu"], "",
                  "[VLAN]", "Id=%s" % net["vlan"]]
        network = ["# %s" % header, "[Match]", "Name=%s" % iface, "", "[Network]",
                   "Address=%s/%s" % (net["address"], net["prefix"])]
        network += ["Gateway=%s" % net["gateway"]] if net.get("gateway") else []
        network += ["", "[Link]", "MTUBytes=%s" % net["mtu"]]
        files += [{"dest": base + name + ".netdev", "content": _text(netdev)},
                  {"dest": base + name + ".network", "content": _text(network)}]
    return files


def _link_files(link, nets, header, base, link_network):
    """A link's files: its .network (its untagged addresses, its VLANs), and for a bond its
    .netdev and a .network per member. Its MTU: the link's, else its largest network's."""
    name = link["name"]
    mtu = link.get("mtu") or max([net["mtu"] for _, net in nets] or [1500])
    small = [net_name for net_name, net in nets if net["mtu"] > mtu]
    if small:
        raise AnsibleFilterError("link %s: its MTU %s is smaller than that of %s, which it carries; raise the link's "
                                 "mtu or lower the network's" % (name, mtu, ", ".join(small)))
    files = []
    if link.get("bond"):
        mode = link.get("mode") or "active-backup"
        netdev = ["# %s" % header, "[NetDev]", "Name=%s" % name, "Kind=bond", "MTUBytes=%s" % mtu, "",
                  "[Bond]", "Mode=%s" % mode, "MIIMonitorSec=100ms"]
        if mode == "802.3ad":
            netdev += ["LACPTransmitRate=fast", "TransmitHashPolicy=layer3+4"]
        files.append({"dest": "%sif-%s.netdev" % (base, name), "content": _text(netdev)})
        for member in link["bond"]:
            files.append({"dest": "%sif-%s.network" % (base, member), "content": _text(
                ["# %s" % header, "# a member of %s" % name, "[Match]", "Name=%s" % member, "", "[Network]",
                 "Bond=%s" % name, "", "[Link]", "MTUBytes=%s" % mtu])})
    if link.get("provider_bridge"):
        # the provider bridge's port: up, no address; the agent puts it in the bridge, and
        # KeepMaster stops networkd from taking it out again whenever it configures the link
        lines = ["# %s" % header, "# the port of provider bridge %s" % link["provider_bridge"], "[Match]",
                 "Name=%s" % name, "", "[Network]", "LinkLocalAddressing=no", "ConfigureWithoutCarrier=yes",
                 "KeepMaster=yes"]
    else:
        lines = link_network(nets, ["# %s" % header, "[Match]", "Name=%s" % name, "", "[Network]",
                                    "LinkLocalAddressing=no"])
    files.append({"dest": "%sif-%s.network" % (base, name),
                  "content": _text(lines + ["", "[Link]", "MTUBytes=%s" % mtu])})
    return files


def _text(lines):
    return "\n".join(lines) + "\n"


def bridge_ports(links, bridge):
    """[{name}]: the LINKS that are provider bridge BRIDGE's ports (linux_bridge's ports)."""
    return [{"name": link["name"]} for link in links or [] if link.get("provider_bridge") == bridge]


class FilterModule(object):
    def filters(self):
        return {"networkd_files": networkd_files, "bridge_ports": bridge_ports}
