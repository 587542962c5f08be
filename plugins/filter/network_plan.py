# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Network planning: a networks list in TripleO's network_data shape checked, and every
node's addresses allocated from it - deterministically, and stable across runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

try:
    import netaddr
except ImportError:  # pragma: no cover - a requirement of the collection
    netaddr = None

_NETWORK_KEYS = {"name", "cidr", "vlan", "mtu", "gateway", "allocation_pools", "external", "name_lower"}


def network_problems(networks):
    """The problems of a networks list, each naming the network and the field; [] when it is valid."""
    _need_netaddr()
    return _plan_networks_problems(networks)


def _need_netaddr():
    if netaddr is None:
        raise AnsibleFilterError("the network planning filters need netaddr on the controller (pip install netaddr)")


def _plan_networks_problems(networks):
    """Problems of a network_data list, each naming the network and field."""
    if not isinstance(networks, list):
        return ["networks: must be a list of networks (TripleO's network_data shape), got %s" % type(networks).__name__]
    problems = []
    seen_names, seen_vlans, cidrs = set(), {}, []
    for index, net in enumerate(networks):
        if not isinstance(net, dict):
            problems.append("networks[%d]: must be a mapping" % index)
            continue
        label = "networks[%s]" % (net.get("name") or index)
        for key in sorted(set(net) - _NETWORK_KEYS):
            problems.append("%s.%s: unknown field (known: %s)" % (label, key, ", ".join(sorted(_NETWORK_KEYS))))
        name = net.get("name")
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
            problems.append("%s.name: required, lowercase letters, digits and _ (got %r)" % (label, name))
        elif name in seen_names:
            problems.append("%s.name: defined twice" % label)
        else:
            seen_names.add(name)
        try:
            cidr = netaddr.IPNetwork(str(net.get("cidr")))
            if cidr.ip != cidr.network:
                problems.append("%s.cidr: %s has host bits set; use %s" % (label, net["cidr"], cidr.cidr))
                cidr = cidr.cidr
        except (netaddr.AddrFormatError, ValueError, TypeError):
            problems.append("%s.cidr: required, a network such as 172.16.2.0/24 (got %r)" % (label, net.get("cidr")))
            cidr = None
        vlan = net.get("vlan")
        if vlan is not None:
            if not isinstance(vlan, int) or isinstance(vlan, bool) or not 1 <= vlan <= 4094:
                problems.append("%s.vlan: an integer 1-4094 (got %r)" % (label, vlan))
            elif vlan in seen_vlans:
                problems.append("%s.vlan: %d is also the VLAN of %s" % (label, vlan, seen_vlans[vlan]))
            else:
                seen_vlans[vlan] = name
        mtu = net.get("mtu", 1500)
        if not isinstance(mtu, int) or isinstance(mtu, bool) or not 576 <= mtu <= 9216:
            problems.append("%s.mtu: an integer 576-9216 (got %r)" % (label, mtu))
        if cidr is None:
            continue
        for other_name, other in cidrs:
            if cidr in other or other in cidr:
                problems.append("%s.cidr: %s overlaps %s of networks[%s]" % (label, cidr, other, other_name))
        cidrs.append((name or index, cidr))
        gateway = net.get("gateway")
        if gateway is not None:
            problems += _address_in(label + ".gateway", gateway, cidr)
        pools = net.get("allocation_pools")
        if pools is not None:
            if not isinstance(pools, list):
                problems.append("%s.allocation_pools: a list of {start, end}" % label)
                continue
            ranges = []
            for p_index, pool in enumerate(pools):
                field = "%s.allocation_pools[%d]" % (label, p_index)
                if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
                    problems.append("%s: needs exactly start and end" % field)
                    continue
                bad = _address_in(field + ".start", pool["start"], cidr) + _address_in(field + ".end", pool["end"], cidr)
                problems += bad
                if bad:
                    continue
                start, end = netaddr.IPAddress(pool["start"]), netaddr.IPAddress(pool["end"])
                if start > end:
                    problems.append("%s: start %s is after end %s" % (field, start, end))
                    continue
                for o_index, (o_start, o_end) in ranges:
                    if start <= o_end and o_start <= end:
                        problems.append("%s: overlaps allocation_pools[%d]" % (field, o_index))
                ranges.append((p_index, (start, end)))
                if gateway is not None and not _address_in("", gateway, cidr) and start <= netaddr.IPAddress(gateway) <= end:
                    problems.append("%s: holds the gateway %s; keep the gateway out of the pools" % (field, gateway))
    return problems


def _address_in(field, address, cidr):
    try:
        ip = netaddr.IPAddress(str(address))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return ["%s: %r is not an IP address" % (field, address)]
    if ip not in cidr:
        return ["%s: %s is outside cidr %s" % (field, ip, cidr)]
    if cidr.version == 4 and cidr.prefixlen < 31 and ip in (cidr.network, cidr.broadcast):
        return ["%s: %s is the network's %s address" % (field, ip, "network" if ip == cidr.network else "broadcast")]
    return []


def _pool_addresses(net, cidr):
    """Every address new nodes may get, in order."""
    pools = net.get("allocation_pools")
    if pools is None:
        hosts = cidr.iter_hosts()
        pools_iter = [hosts]
    else:
        pools_iter = [netaddr.iter_iprange(p["start"], p["end"]) for p in pools]
    gateway = netaddr.IPAddress(net["gateway"]) if net.get("gateway") else None
    for it in pools_iter:
        for ip in it:
            if ip != gateway:
                yield ip


def network_plan(nodes, networks, previous=None, fixed=None):
    """Every node's address on each network it needs, kept stable across runs.

    nodes: {node: [network names]}; fixed: {node: {network: address}} decided elsewhere (the
    ctlplane address); previous: an earlier result, whose addresses are kept while still valid.
    """
    _need_netaddr()
    problems = _plan_networks_problems(networks)
    if problems:
        raise AnsibleFilterError("networks: " + "; ".join(problems))
    by_name = dict((n["name"], n) for n in networks)
    previous = previous or {}
    fixed = fixed or {}
    taken = dict((name, {}) for name in by_name)  # network -> {ip: node}
    plan = {}

    def entry(net, ip):
        cidr = netaddr.IPNetwork(net["cidr"]).cidr
        return {"address": str(ip), "prefix": cidr.prefixlen, "cidr": str(cidr), "vlan": net.get("vlan"),
                "mtu": net.get("mtu", 1500), "gateway": net.get("gateway")}

    for node in sorted(nodes):
        for name in nodes[node]:
            if name not in by_name:
                raise AnsibleFilterError("node %s: network %s is not defined in the networks" % (node, name))
    # fixed first: they win over anything remembered
    for node in sorted(fixed):
        if node not in nodes:
            continue
        for name, address in sorted(fixed[node].items()):
            if name not in nodes[node]:
                continue
            cidr = netaddr.IPNetwork(by_name[name]["cidr"]).cidr
            bad = _address_in("node %s, network %s" % (node, name), address, cidr)
            if bad:
                raise AnsibleFilterError(bad[0])
            ip = netaddr.IPAddress(address)
            if ip in taken[name]:
                raise AnsibleFilterError("network %s: %s is the fixed address of both %s and %s"
                                         % (name, ip, taken[name][ip], node))
            taken[name][ip] = node
            plan.setdefault(node, {})[name] = entry(by_name[name], ip)
    # then what the previous plan gave, where still valid
    for node in sorted(nodes):
        for name in nodes[node]:
            if name in plan.get(node, {}):
                continue
            old = (previous.get(node) or {}).get(name) or {}
            try:
                ip = netaddr.IPAddress(old["address"])
            except (KeyError, TypeError, netaddr.AddrFormatError, ValueError):
                continue
            cidr = netaddr.IPNetwork(by_name[name]["cidr"]).cidr
            if ip in cidr and ip not in taken[name]:
                taken[name][ip] = node
                plan.setdefault(node, {})[name] = entry(by_name[name], ip)
    # new allocations: lowest free pool address, nodes in name order
    for name, net in sorted(by_name.items()):
        wanting = [node for node in sorted(nodes) if name in nodes[node] and name not in plan.get(node, {})]
        if not wanting:
            continue
        cidr = netaddr.IPNetwork(net["cidr"]).cidr
        free = (ip for ip in _pool_addresses(net, cidr) if ip not in taken[name])
        for i, node in enumerate(wanting):
            ip = next(free, None)
            if ip is None:
                raise AnsibleFilterError(
                    "networks[%s]: allocation pools exhausted: %d nodes need an address, %d free; widen "
                    "allocation_pools (left without one: %s)" % (name, len(wanting), i, ", ".join(wanting[i:])))
            taken[name][ip] = node
            plan.setdefault(node, {})[name] = entry(net, ip)
    return dict((node, plan.get(node, {})) for node in nodes)


class FilterModule(object):
    def filters(self):
        return {"network_problems": network_problems, "network_plan": network_plan}
