# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Address checks for role inputs, so bad values fail before anything changes, and the
network plan: a networks list in TripleO's network_data shape checked, and every node's
addresses allocated from it, deterministically and stable across runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.stackwright.cloud.plugins.module_utils.node_schema import address_problem, network_problem

try:
    import netaddr
except ImportError:  # pragma: no cover - in requirements.txt; only the planning filters need it
    netaddr = None


def address_problems(address, prefix, pool=None):
    """A list of what is wrong with ADDRESS/PREFIX and the FIRST-LAST pool (empty: all fine)."""
    try:
        iface = ipaddress.ip_interface("%s/%s" % (address, prefix))
    except ValueError as exc:
        return ["%s/%s is not an IP address with a prefix length: %s" % (address, prefix, exc)]
    problems = list(filter(None, [_special("%s/%s" % (address, prefix), iface)]))
    if pool:
        parts = str(pool).split("-")
        try:
            first, last = (ipaddress.ip_address(p.strip()) for p in parts)
        except ValueError:
            return ["pool %r must be FIRST-LAST, two addresses" % pool]
        for which, ip in (("first", first), ("last", last)):
            if ip not in iface.network:
                problems.append("pool's %s address %s is outside %s" % (which, ip, iface.network))
        if last < first:
            problems.append("pool %s ends before it starts" % pool)
        elif first <= iface.ip <= last:
            problems.append("pool %s holds the address %s itself" % (pool, iface.ip))
        elif first == iface.network.network_address or last == iface.network.broadcast_address:
            problems.append("pool %s holds the network or broadcast address of %s" % (pool, iface.network))
    return problems


def ip_network(cidr):
    """ADDRESS/PREFIX -> {address, prefix, network, netmask, broadcast}."""
    try:
        iface = ipaddress.ip_interface(cidr)
    except ValueError as exc:
        raise AnsibleFilterError("ip_network: %s" % exc)
    problem = _special(cidr, iface)
    if problem:
        raise AnsibleFilterError("ip_network: %s" % problem)
    net = iface.network
    return {"address": str(iface.ip), "prefix": net.prefixlen, "network": str(net.network_address),
            "netmask": str(net.netmask), "broadcast": str(net.broadcast_address)}


def _special(given, iface):
    """Why the interface address IFACE (as GIVEN) is no host's address on a real network:
    loopback, multicast, unspecified or all-covering (None: it is fine)."""
    problem = network_problem(iface.network) or address_problem(iface.ip)
    return "%s: %s" % (given, problem) if problem else None


# --- network planning ------------------------------------------------------------------

_NETWORK_FIELDS = ("name", "cidr", "vlan", "mtu", "gateway", "allocation_pools", "external")
_NAME = re.compile(r"^[a-z][a-z0-9_]*\Z")  # \Z: '$' would let a final newline through
# TripleO's own spelling of a field, so an existing network_data.yaml fails with the fix
_TRIPLEO_FIELDS = {"ip_subnet": "cidr", "ipv6_subnet": "cidr", "gateway_ip": "gateway", "gateway_ipv6": "gateway",
                   "ipv6_allocation_pools": "allocation_pools", "name_lower": "name"}


def _need_netaddr():
    if netaddr is None:
        raise AnsibleFilterError("the network planning filters need the Python library netaddr on the "
                                 "controller: pip install netaddr")


# an MTU the plan accepts, for a network or a link that carries networks (jumbo frames at most)
MTU_MIN = 576
MTU_MAX = 9216


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python, not a VLAN


def _hosts(cidr):
    """(first, last) host address of CIDR as integers: no network or broadcast address (IPv4
    below /31), no subnet-router anycast address (IPv6 below /127), as netaddr's iter_hosts."""
    if cidr.prefixlen >= (31 if cidr.version == 4 else 127):
        return cidr.first, cidr.last
    return cidr.first + 1, cidr.last - (1 if cidr.version == 4 else 0)


def _host_problem(field, value, cidr):
    """Why VALUE is no host address of CIDR (None: it is one)."""
    try:
        ip = netaddr.IPAddress(value) if isinstance(value, str) else None
    except (netaddr.AddrFormatError, ValueError):
        ip = None
    if ip is None:
        return "%s: %r is not an IP address; use an address inside cidr %s" % (field, value, cidr)
    if ip.version != cidr.version or ip not in cidr:
        return "%s: %s is outside cidr %s; use an address inside it" % (field, ip, cidr)
    first, last = _hosts(cidr)
    if not first <= int(ip) <= last:
        what = "network" if int(ip) == cidr.first else "broadcast"
        return "%s: %s is the %s address of cidr %s; use a host address" % (field, ip, what, cidr)
    return None


def _unknown_field(field, key, known):
    hint = _TRIPLEO_FIELDS.get(key) if known is _NETWORK_FIELDS else None
    hint = hint or next(iter(difflib.get_close_matches(str(key), known, 1)), None)
    suggestion = "did you mean %s? " % hint if hint else ""
    return "%s.%s: unknown field; %sknown fields: %s" % (field, key, suggestion, ", ".join(sorted(known)))


def _check_networks(networks):
    """(problems, {name: parsed network}); the parsed networks are complete only without problems."""
    if not isinstance(networks, list):
        return ["networks: must be a list of networks ({name, cidr, ...} each, TripleO's network_data shape), "
                "got %s" % type(networks).__name__], {}
    problems, parsed, names, vlans, cidrs = [], {}, {}, {}, []
    for index, net in enumerate(networks):
        if not isinstance(net, dict):
            problems.append("networks[%d]: must be a mapping {name, cidr, ...}, got %s" % (index, type(net).__name__))
            continue
        name = net.get("name")
        # a network is named by its name; by its index when it has none, or when an earlier one has it
        label = "networks[%s]" % (name if isinstance(name, str) and name and name not in names else index)
        for key in sorted(set(net) - set(_NETWORK_FIELDS), key=str):
            problems.append(_unknown_field(label, key, _NETWORK_FIELDS))

        if name is None or name == "":
            problems.append("%s.name: required; name the network, e.g. internal_api" % label)
        elif not isinstance(name, str) or not _NAME.match(name):
            problems.append("%s.name: %r must start with a lowercase letter and hold only lowercase letters, digits "
                            "and _ (^[a-z][a-z0-9_]*$), e.g. internal_api" % (label, name))
        elif name in names:
            problems.append("%s.name: %s is already the name of networks[%d]; names must be unique"
                            % (label, name, names[name]))
        else:
            names[name] = index

        cidr = None
        if net.get("cidr") is None:
            problems.append("%s.cidr: required; the network's range, e.g. 172.16.2.0/24" % label)
        else:
            try:
                cidr = netaddr.IPNetwork(net["cidr"]) if isinstance(net["cidr"], str) and "/" in net["cidr"] else None
            except (netaddr.AddrFormatError, ValueError):
                pass
            if cidr is None:
                problems.append("%s.cidr: %r is not an IPv4 or IPv6 network; write ADDRESS/PREFIX, e.g. 172.16.2.0/24"
                                % (label, net["cidr"]))
            elif cidr.ip != cidr.network:
                problems.append("%s.cidr: %s has host bits set; use %s" % (label, net["cidr"], cidr.cidr))
            if cidr is not None:
                special = network_problem(ipaddress.ip_network(str(cidr.cidr)))
                if special:
                    problems.append("%s.cidr: %s" % (label, special))
                    cidr = None
            if cidr is not None:
                cidr = cidr.cidr  # with host bits set, the rest is still checked against the intended network

        vlan = net.get("vlan")
        if vlan is not None:
            if not _is_int(vlan) or not 1 <= vlan <= 4094:
                problems.append("%s.vlan: %r is not a VLAN id; use an integer 1-4094" % (label, vlan))
            elif vlan in vlans:
                problems.append("%s.vlan: %d is also the vlan of %s; give each network its own VLAN"
                                % (label, vlan, vlans[vlan]))
            else:
                vlans[vlan] = label
        mtu = net.get("mtu")
        if mtu is not None and (not _is_int(mtu) or not MTU_MIN <= mtu <= MTU_MAX):
            problems.append("%s.mtu: %r is out of range; use an integer %d-%d (default 1500)" % (label, mtu, MTU_MIN, MTU_MAX))
        if net.get("external") is not None and not isinstance(net["external"], bool):
            problems.append("%s.external: %r must be true or false" % (label, net["external"]))
        if cidr is None:
            continue

        for other_label, other in cidrs:
            if other.version == cidr.version and cidr.first <= other.last and other.first <= cidr.last:
                problems.append("%s.cidr: %s overlaps %s.cidr %s; give each network its own range"
                                % (label, cidr, other_label, other))
        cidrs.append((label, cidr))

        gateway = net.get("gateway")
        if gateway is not None:
            bad = _host_problem(label + ".gateway", gateway, cidr)
            problems += [bad] if bad else []
            gateway = None if bad else netaddr.IPAddress(gateway)

        pools = net.get("allocation_pools")
        ranges = []
        if pools is None:
            ranges.append(_hosts(cidr))  # the gateway is left out as a used address
        elif not isinstance(pools, list):
            problems.append("%s.allocation_pools: must be a list of {start, end}, got %s; or leave it out to use "
                            "every host address of cidr %s" % (label, type(pools).__name__, cidr))
        else:
            for p_index, pool in enumerate(pools):
                field = "%s.allocation_pools[%d]" % (label, p_index)
                if not isinstance(pool, dict):
                    problems.append("%s: must be a mapping {start, end}, got %s" % (field, type(pool).__name__))
                    continue
                for key in sorted(set(pool) - {"start", "end"}, key=str):
                    problems.append(_unknown_field(field, key, ("start", "end")))
                bad = []
                for end in ("start", "end"):
                    if pool.get(end) is None:
                        bad.append("%s.%s: required; an address inside cidr %s" % (field, end, cidr))
                    else:
                        bad += filter(None, [_host_problem("%s.%s" % (field, end), pool[end], cidr)])
                problems += bad
                if bad:
                    continue
                start, end = netaddr.IPAddress(pool["start"]), netaddr.IPAddress(pool["end"])
                if start > end:
                    problems.append("%s: start %s is after end %s; swap them" % (field, start, end))
                    continue
                for o_index, (o_start, o_end) in ranges:
                    if int(start) <= o_end and o_start <= int(end):
                        problems.append("%s: %s-%s overlaps allocation_pools[%d] %s-%s; pools must not share "
                                        "addresses" % (field, start, end, o_index, netaddr.IPAddress(o_start, cidr.version),
                                                       netaddr.IPAddress(o_end, cidr.version)))
                if gateway is not None and start <= gateway <= end:
                    problems.append("%s: %s-%s holds the gateway %s; keep the gateway out of the pools"
                                    % (field, start, end, gateway))
                ranges.append((p_index, (int(start), int(end))))
            ranges = [r for _, r in ranges]
        if isinstance(name, str) and names.get(name) == index:
            parsed[name] = {"cidr": cidr, "pools": ranges, "gateway": gateway,
                            "vlan": vlan, "mtu": 1500 if mtu is None else mtu}
    return problems, parsed


def network_problems(networks):
    """What is wrong with NETWORKS (TripleO's network_data shape), each naming the network and
    the field and saying the fix; [] when it is valid."""
    _need_netaddr()
    return _check_networks(networks)[0]


def network_plan(nodes, networks, previous=None, fixed=None):
    """Every node's address on each network it needs: {node: {network: {address, prefix, cidr,
    vlan, mtu, gateway}}}.

    NODES: {node: [network names]}. FIXED: {node: {network: address}} decided elsewhere (the
    ctlplane address), used as is. PREVIOUS: an earlier result; its addresses are kept while
    still valid, so adding or removing a node never moves another. The rest come from the pools,
    lowest free address first, nodes in name order: the same input always gives the same plan.
    """
    _need_netaddr()
    problems, nets = _check_networks(networks)
    if problems:
        raise AnsibleFilterError("the networks have %d problem(s): %s" % (len(problems), "; ".join(problems)))
    wanted = _wanted_networks(nodes, nets)
    used = dict((name, {}) for name in nets)  # network -> {address as int: node holding it}
    plan = dict((node, {}) for node in wanted)

    # fixed addresses first: they are in use whatever the plan says
    for node, net_name, address in _fixed_addresses(fixed, nets):
        cidr = nets[net_name]["cidr"]
        needed = net_name in wanted.get(node, ())
        bad = _host_problem("fixed address of node %s on network %s" % (node, net_name), address, cidr)
        if bad:
            if needed:
                raise AnsibleFilterError(bad)
            continue  # not this plan's business, and not in the network: it takes nothing from it
        ip = netaddr.IPAddress(address)
        if int(ip) in used[net_name]:
            raise AnsibleFilterError("fixed addresses: nodes %s and %s both have %s on network %s; give each its own"
                                     % (used[net_name][int(ip)], node, ip, net_name))
        used[net_name][int(ip)] = node
        if needed:
            plan[node][net_name] = ip

    # then what the previous plan gave, while it still fits
    if previous is not None and not isinstance(previous, dict):
        raise AnsibleFilterError("previous: must be an earlier result of network_plan ({node: {network: {address, "
                                 "...}}}), got %s" % type(previous).__name__)
    for node in sorted(wanted):
        old = (previous or {}).get(node)
        if old is None:
            continue
        if not isinstance(old, dict):
            raise AnsibleFilterError("previous[%s]: must be a mapping {network: {address, ...}}, got %s; fix it or "
                                     "drop the entry (the node then gets new addresses)" % (node, type(old).__name__))
        for net_name in wanted[node]:
            entry = old.get(net_name)
            if entry is None or net_name in plan[node]:
                continue
            address = entry.get("address") if isinstance(entry, dict) else None
            try:
                ip = netaddr.IPAddress(address) if isinstance(address, str) else None
            except (netaddr.AddrFormatError, ValueError):
                ip = None
            if ip is None:
                raise AnsibleFilterError("previous[%s][%s].address: %r is not an IP address; fix it or drop the entry "
                                         "(the node then gets a new address)" % (node, net_name, address))
            net = nets[net_name]
            # an address outside the network now, or that became its gateway, is given up
            if _host_problem("", str(ip), net["cidr"]) or ip == net["gateway"] or int(ip) in used[net_name]:
                continue
            used[net_name][int(ip)] = node
            plan[node][net_name] = ip

    # the rest from the pools; networks are independent, each is filled in node name order
    for net_name in sorted(nets):
        net = nets[net_name]
        waiting = [node for node in sorted(wanted) if net_name in wanted[node] and net_name not in plan[node]]
        if not waiting:
            continue
        taken = set(used[net_name])
        if net["gateway"] is not None:
            taken.add(int(net["gateway"]))
        free = sum(last - first + 1 for first, last in net["pools"])
        free -= sum(1 for ip in taken if any(first <= ip <= last for first, last in net["pools"]))
        if len(waiting) > free:
            raise AnsibleFilterError("networks[%s]: allocation pools exhausted: %d nodes need an address, %d free; "
                                     "widen allocation_pools (left without one: %s)"
                                     % (net_name, len(waiting), free, ", ".join(waiting[free:])))
        addresses = _free_addresses(net["pools"], taken)
        for node in waiting:
            plan[node][net_name] = netaddr.IPAddress(next(addresses), net["cidr"].version)

    return dict((node, dict((net_name, _plan_entry(nets[net_name], ip)) for net_name, ip in sorted(plan[node].items())))
                for node in sorted(plan))


def _wanted_networks(nodes, nets):
    """{node: sorted network names} of NODES, each network defined."""
    if not isinstance(nodes, dict):
        raise AnsibleFilterError("nodes: must be a mapping {node name: [network names]}, got %s"
                                 % type(nodes).__name__)
    wanted = {}
    for node, names in nodes.items():
        if not isinstance(node, str):
            raise AnsibleFilterError("nodes: node name %r must be a string" % (node,))
        if names is None:
            names = []
        if not isinstance(names, (list, tuple)):
            raise AnsibleFilterError("nodes[%s]: must be a list of network names, got %s" % (node, type(names).__name__))
        for name in names:
            if not isinstance(name, str) or name not in nets:
                raise AnsibleFilterError("nodes[%s]: network %r is not defined in the networks (defined: %s); define "
                                         "it or drop it from the node" % (node, name, ", ".join(sorted(nets))))
        wanted[node] = sorted(set(names))
    return wanted


def _fixed_addresses(fixed, nets):
    """(node, network, address) of FIXED, sorted, so a clash is reported the same way every run."""
    if fixed is None:
        return []
    if not isinstance(fixed, dict):
        raise AnsibleFilterError("fixed: must be a mapping {node name: {network name: address}}, got %s"
                                 % type(fixed).__name__)
    out = []
    for node in sorted(fixed, key=str):
        addresses = fixed[node] or {}
        if not isinstance(addresses, dict):
            raise AnsibleFilterError("fixed[%s]: must be a mapping {network name: address}, got %s"
                                     % (node, type(addresses).__name__))
        for net_name in sorted(addresses, key=str):
            if net_name not in nets:
                raise AnsibleFilterError("fixed[%s]: network %r is not defined in the networks (defined: %s)"
                                         % (node, net_name, ", ".join(sorted(nets))))
            out.append((node, net_name, addresses[net_name]))
    return out


def _free_addresses(pools, taken):
    """Addresses (ints) of POOLS not in TAKEN, pool by pool, lowest first; lazily, as an IPv6
    pool is too large to list."""
    for first, last in pools:
        ip = first
        while ip <= last:
            if ip not in taken:
                yield ip
            ip += 1


def _plan_entry(net, ip):
    cidr = net["cidr"]
    return {"address": str(ip), "prefix": cidr.prefixlen, "cidr": str(cidr), "vlan": net["vlan"], "mtu": net["mtu"],
            "gateway": None if net["gateway"] is None else str(net["gateway"])}


class FilterModule(object):
    def filters(self):
        return {"address_problems": _filter, "ip_network": ip_network,
                "network_problems": network_problems, "network_plan": network_plan}


def _filter(address, prefix, pool=None):
    try:
        return address_problems(address, prefix, pool)
    except Exception as exc:  # pragma: no cover - a template error is clearer than a traceback
        raise AnsibleFilterError("address_problems: %s" % exc)
