# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A node's planned addresses as systemd-networkd files (roles/host_network): a drop-in
for the ctlplane link with the untagged subnets and the VLANs on it, and a .netdev and a
.network per VLAN."""

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


def networkd_files(addresses, dropin, header="Ansible managed", directory="/etc/systemd/network"):
    """[{dest, content}] for config_files: the ctlplane link's drop-in DROPIN, then a .netdev
    and a .network in DIRECTORY for each network with a VLAN, networks in name order.
    ADDRESSES: the node's plan ({network: {address, prefix, vlan, mtu, gateway}}); its
    ctlplane entry, the link's own address, is left out."""
    if not isinstance(addresses, Mapping):
        raise AnsibleFilterError("networkd_files: the addresses must be a mapping {network: {address, prefix, ...}}, "
                                 "got %s" % type(addresses).__name__)
    extra = sorted(((name, net) for name, net in addresses.items() if name != "ctlplane"), key=lambda i: i[0].lower())
    for name, net in extra:
        missing = [key for key in ("address", "prefix", "mtu") if not isinstance(net, Mapping) or key not in net]
        if missing:
            raise AnsibleFilterError("networkd_files: %s lacks %s" % (name, ", ".join(missing)))
    vlans = [(name, net) for name, net in extra if net.get("vlan")]

    lines = ["# %s" % header, "[Network]"]
    for name, net in extra:
        if not net.get("vlan"):
            lines += ["# %s" % name, "Address=%s/%s" % (net["address"], net["prefix"])]
    lines += ["VLAN=%s" % vlan_interface(name, net["vlan"]) for name, net in vlans]
    files = [{"dest": dropin, "content": _text(lines)}]

    for name, net in vlans:
        iface = vlan_interface(name, net["vlan"])
        netdev = ["# %s" % header, "[NetDev]", "Name=%s" % iface, "Kind=vlan", "MTUBytes=%s" % net["mtu"], "",
                  "[VLAN]", "Id=%s" % net["vlan"]]
        network = ["# %s" % header, "[Match]", "Name=%s" % iface, "", "[Network]",
                   "Address=%s/%s" % (net["address"], net["prefix"])]
        network += ["Gateway=%s" % net["gateway"]] if net.get("gateway") else []
        network += ["", "[Link]", "MTUBytes=%s" % net["mtu"]]
        base = "%s/50-stackwright-%s" % (directory.rstrip("/"), name)
        files += [{"dest": base + ".netdev", "content": _text(netdev)},
                  {"dest": base + ".network", "content": _text(network)}]
    return files


def _text(lines):
    return "\n".join(lines) + "\n"


class FilterModule(object):
    def filters(self):
        return {"networkd_files": networkd_files}
