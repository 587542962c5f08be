# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The overcloud plan's checks and inputs (roles/overcloud): what is wrong with the server
roles and where the services land, which networks each host needs, its fixed ctlplane
address, and the secrets still to generate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import secrets
import string
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.stackwright.cloud.plugins.filter.network import MTU_MAX, MTU_MIN, _is_int
from ansible_collections.stackwright.cloud.plugins.filter.networkd import vlan_interface

# Neutron's ML2/OVN driver keeps its state in the OVN databases.
_NEUTRON = ("neutron_control", "neutron_agent")
_SECRET_CHARS = string.ascii_letters + string.digits
# a kernel interface name: at most 15 characters, no "/", ":" or white space
_IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\Z")
# the bond modes a server role's link may take: active-backup needs nothing of the
# switch; 802.3ad (LACP) needs the switch ports in one port channel
BOND_MODES = ("active-backup", "802.3ad")
_LINK_KEYS = ("name", "bond", "mode", "mtu", "networks", "provider_bridge")


def _is_list(value):
    return isinstance(value, (list, tuple))


def _server_roles_of(host, hostvars, server_roles):
    """The server roles HOST is in, in the order of its group_names."""
    try:
        groups = hostvars[host]["group_names"]
    except KeyError:
        raise AnsibleFilterError("host %s is not in the inventory" % host)
    return [group for group in groups if group in server_roles]


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def server_role_problems(server_roles, known_services):
    """What is wrong with SERVER_ROLES ({name: {services, networks}}), each problem naming the
    role and the field; [] when all is fine."""
    if not isinstance(server_roles, Mapping):
        return ["must be a mapping {server role: {services, networks}}, got %s" % type(server_roles).__name__]
    problems = []
    for name, spec in server_roles.items():
        if not isinstance(spec, Mapping) or not _is_list(spec.get("services")) or not _is_list(spec.get("networks")):
            problems.append("%s: needs services and networks lists" % name)
            continue
        for service in spec["services"]:
            if service not in known_services:
                problems.append("%s.services: unknown service %s (known: %s)" % (name, service, ", ".join(known_services)))
        if "ctlplane" not in spec["networks"]:
            problems.append("%s.networks: must include ctlplane, the network the node is reached on" % name)
        if spec.get("links") is not None:
            problems += link_problems(name, spec["links"], spec["networks"])
    return problems


def link_problems(role, links, networks):
    """What is wrong with a server role's LINKS: the NICs and bonds that carry its NETWORKS
    (each [{name, bond, mode, mtu, networks, provider_bridge}]; networks on no link stay on
    the ctlplane link)."""
    where = "%s.links" % role
    if not _is_list(links):
        return ["%s: must be a list of {name, bond, mode, mtu, networks, provider_bridge}" % where]
    problems, carried, used = [], {}, {}
    for i, link in enumerate(links):
        at = "%s[%d]" % (where, i)
        if not isinstance(link, Mapping):
            problems.append("%s: must be a mapping {name, bond, ...}, not %r" % (at, link))
            continue
        unknown = sorted(set(link) - set(_LINK_KEYS))
        if unknown:
            problems.append("%s: unknown key %s (known: %s)" % (at, ", ".join(map(str, unknown)), ", ".join(_LINK_KEYS)))
        empty = [key for key in _LINK_KEYS if key in link and link[key] is None]
        if empty:
            problems.append("%s: %s given empty (null): give a value or leave it out" % (at, ", ".join(empty)))
            continue
        name = link.get("name")
        if not isinstance(name, str) or not _IFNAME.match(name) or name == "lo":
            problems.append("%s.name: an interface name of at most 15 letters, digits, '_', '.' or '-' (e.g. bond0, "
                            "enp2s0), not %r" % (at, name))
            continue
        at = "%s %s" % (where, name)
        members = link.get("bond")
        if members is not None:
            if not _is_list(members) or not members or not all(isinstance(m, str) and _IFNAME.match(m) for m in members):
                problems.append("%s.bond: the list of the bond's interfaces (e.g. [enp2s0, enp3s0]), not %r"
                                % (at, members))
                members = []
            elif len(set(members)) != len(members):
                problems.append("%s.bond: names an interface twice" % at)
            elif name in members:
                problems.append("%s.bond: names the bond itself; list the NICs it bonds" % at)
                members = []
            if link.get("mode", "active-backup") not in BOND_MODES:
                problems.append("%s.mode: one of %s, not %r" % (at, ", ".join(BOND_MODES), link.get("mode")))
        elif "mode" in link:
            problems.append("%s.mode: only a bond has a mode (give bond: its interfaces)" % at)
        for iface in [name] + _unique(members or []):
            if iface in used:
                problems.append("%s: interface %s is already %s" % (
                    at, iface, "a link of its own" if used[iface] == iface else "in " + used[iface]))
            used[iface] = name
        mtu = link.get("mtu")
        if mtu is not None and (not _is_int(mtu) or not MTU_MIN <= mtu <= MTU_MAX):
            problems.append("%s.mtu: a whole number of bytes from %d to %d, not %r" % (at, MTU_MIN, MTU_MAX, mtu))
        nets = link.get("networks", [])
        if not _is_list(nets):
            problems.append("%s.networks: a list of the role's networks, not %r" % (at, nets))
            nets = []
        for net in nets:
            if net == "ctlplane":
                problems.append("%s.networks: ctlplane stays on the link the node was provisioned on" % at)
            elif net not in networks:
                problems.append("%s.networks: %s is not one of the role's networks (%s)" % (at, net, ", ".join(networks)))
            elif net in carried:
                problems.append("%s.networks: %s is on link %s already" % (at, net, carried[net]))
            else:
                carried[net] = name
        bridge = link.get("provider_bridge")
        if bridge is not None:
            if not isinstance(bridge, str) or not _IFNAME.match(bridge):
                problems.append("%s.provider_bridge: the name of one of host_network_provider_bridges, not %r"
                                % (at, bridge))
            elif nets:
                problems.append("%s: a provider bridge's port carries no networks of its own (its traffic is the "
                                "bridge's); put %s on another link" % (at, ", ".join(map(str, nets))))
    return problems


def link_network_problems(server_roles, networks):
    """What is wrong with the server roles' links given the NETWORKS (network_data): a link's
    MTU below that of a network it carries, a link named as a VLAN interface is; [] when
    all is fine (after server_role_problems and network_problems passed)."""
    by_name = dict((net["name"], net) for net in networks)
    vlan_names = dict((vlan_interface(net["name"], net["vlan"]), net["name"]) for net in networks if net.get("vlan"))
    problems = []
    for role, spec in server_roles.items():
        for link in spec.get("links") or []:
            at = "%s.links %s" % (role, link["name"])
            names = [link["name"]] + list(link.get("bond") or [])
            for iface in names:
                if iface in vlan_names:
                    problems.append("%s: %s is the name of %s's VLAN interface; name the link otherwise"
                                    % (at, iface, vlan_names[iface]))
            carried = [by_name[net] for net in link.get("networks") or [] if net in by_name]
            small = [net["name"] for net in carried if link.get("mtu") and net.get("mtu", 1500) > link["mtu"]]
            if small:
                problems.append("%s.mtu: %s is smaller than the MTU of %s, which it carries; raise it or leave it out "
                                "(the largest of its networks')" % (at, link["mtu"], ", ".join(small)))
    return problems


def node_links(hosts, hostvars, server_roles):
    """{host: [link, ...]}: the links (NICs and bonds) of each of HOSTS' server roles; a
    host in several roles takes each link once. Two roles that define one link
    differently, or whose links together use a NIC twice or carry a network twice,
    are an error naming the host and its roles."""
    out = {}
    for host in hosts:
        links, source, roles = [], {}, _server_roles_of(host, hostvars, server_roles)
        for role in roles:
            for link in server_roles[role].get("links") or []:
                seen = next((known for known in links if known["name"] == link["name"]), None)
                if seen is None:
                    links.append(link)
                    source[link["name"]] = role
                elif seen != link:
                    raise AnsibleFilterError("%s: server roles %s and %s define link %s differently; a host in both "
                                             "needs one definition" % (host, source[link["name"]], role, link["name"]))
        if len(roles) > 1:
            networks = _unique(net for role in roles for net in server_roles[role]["networks"])
            problems = link_problems("+".join(roles), links, networks)
            if problems:
                raise AnsibleFilterError("%s: the links of its server roles together: %s" % (host, "; ".join(problems)))
        out[host] = links
    return out


def service_hosts(hosts, hostvars, server_roles):
    """{service: [host, ...]}: the HOSTS that run each service, by the server role groups
    they are in; hosts in the order given, each once."""
    out = {}
    for host in hosts:
        for role in _server_roles_of(host, hostvars, server_roles):
            for service in server_roles[role]["services"]:
                out.setdefault(service, [])
                if host not in out[service]:
                    out[service].append(host)
    return out


# What a service cannot run without, and why (checked before any node is touched).
_SERVICE_NEEDS = [
    ("swift_proxy", ["swift_storage"], "the objects are on its hosts"),
    ("ceilometer_central", ["gnocchi"], "Ceilometer publishes to Gnocchi"),
    ("ceilometer_compute", ["ceilometer_central", "gnocchi"], "its user and Gnocchi's resource types come with them"),
    ("aodh", ["gnocchi"], "the alarms are on Gnocchi's measures"),
    ("zaqar", ["swift_proxy", "swift_storage"], "the messages are kept in Swift"),
    ("magnum", ["heat"], "its clusters are Heat stacks"),
    ("cinder_backup", ["cinder_control", "cinder_volume"], "it backs up the volumes of cinder-volume"),
]


def placement_problems(hosts_of, required, single):
    """What is wrong with where the services run (HOSTS_OF, from service_hosts): a REQUIRED
    service no host runs, Neutron without the OVN databases, a service without one it needs
    (_SERVICE_NEEDS), a SINGLE service on several hosts; [] when all is fine."""
    problems = ["no host runs %s: put a Controller (or AllInOne) node in the inventory" % service
                for service in required if service not in hosts_of]
    if any(service in hosts_of for service in _NEUTRON) and "ovn_central" not in hosts_of:
        problems.append("Neutron (ML2/OVN) needs the OVN databases: put ovn_central in a server role (Controller)")
    for service, needs, why in _SERVICE_NEEDS:
        missing = [n for n in needs if n not in hosts_of]
        if service in hosts_of and missing:
            problems.append("%s needs %s (%s): put %s in a server role" % (service, " and ".join(missing), why,
                                                                           " and ".join(missing)))
    for service in single:
        hosts = _unique(hosts_of.get(service, []))
        if len(hosts) > 1:
            problems.append("%s runs on one host only (no clustering), not on %s" % (service, ", ".join(hosts)))
    return problems


def node_networks(hosts, hostvars, server_roles):
    """{host: [network, ...]}: the networks each of HOSTS joins, those of all its server
    roles, each once (network_plan's input)."""
    out = {}
    for host in hosts:
        networks = []
        for role in _server_roles_of(host, hostvars, server_roles):
            networks.extend(server_roles[role]["networks"])
        out[host] = _unique(networks)
    return out


def ctlplane_addresses(hosts, hostvars):
    """{host: {'ctlplane': its ansible_host}}: each host's provisioning address, which the
    plan takes as it is (network_plan's fixed)."""
    out = {}
    for host in hosts:
        try:
            out[host] = {"ctlplane": hostvars[host]["ansible_host"]}
        except KeyError:
            raise AnsibleFilterError("%s: needs its ctlplane address as ansible_host" % host)
    return out


def new_secrets(names, stored=None, length=32):
    """{name: random secret} for each of NAMES not in STORED: LENGTH letters and digits from
    the system's random source."""
    stored = stored or {}
    return dict((name, "".join(secrets.choice(_SECRET_CHARS) for _ in range(length)))
                for name in names if name not in stored)


class FilterModule(object):
    def filters(self):
        return {"server_role_problems": server_role_problems, "service_hosts": service_hosts,
                "placement_problems": placement_problems, "node_networks": node_networks, "node_links": node_links,
                "link_network_problems": link_network_problems,
                "ctlplane_addresses": ctlplane_addresses, "new_secrets": new_secrets}
