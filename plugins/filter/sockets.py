# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The listening sockets a node may have, from what the deploy declares (each service's
groups[...].api_ports and sockets, and the infrastructure roles' <role>_sockets), what
`ss` says it has, and the difference between the two."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.errors import AnsibleFilterError

PROTOCOLS = ("tcp", "udp")
# "network": a network of the node, or one of these
PLACES = ("api", "public", "any", "loopback")
# a plan entry's address that allows the loopback addresses (127.0.0.0/8 and ::1:
# systemd-resolved's stubs are 127.0.0.53 and 127.0.0.54)
LOOPBACK = "loopback"
# a plan entry's address that allows every address, the wildcard ones included
ANY = "any"
# the kernel keeps 15 characters of a process name (comm)
COMM_LENGTH = 15


def _port_range(value, where):
    """A port (80, "80") or a range ("5900-5999") as (first, last)."""
    text = str(value).strip()
    match = re.match(r"^(\d+)(?:-(\d+))?$", text)
    if not match:
        raise AnsibleFilterError("%s: port must be a number or a range FIRST-LAST, not %r" % (where, value))
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if not 1 <= first <= last <= 65535:
        raise AnsibleFilterError("%s: port %r is outside 1-65535 or its range is reversed" % (where, value))
    return first, last


def normal_address(address):
    """An address as ss prints it, without brackets or %scope, in its short form
    (ss's "*", a socket on every IPv4 and IPv6 address, stays "*")."""
    text = str(address).strip().split("%", 1)[0]
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text == "*":
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise AnsibleFilterError("not an IP address: %r" % (address,))


def _addresses(network, node_addresses, public_network, where):
    def of(network):
        entry = node_addresses.get(network)
        if not isinstance(entry, dict) or not entry.get("address"):
            raise AnsibleFilterError("%s: the node has no address on network %r (it has %s)"
                                     % (where, network, ", ".join(sorted(node_addresses)) or "none"))
        return [normal_address(entry["address"])]

    if network == "any":
        return [ANY]
    if network == "loopback":
        return [LOOPBACK]
    if network == "public":
        return of(public_network)
    if network == "api":
        # the API addresses of the overcloud role: internal_api, and the public network's where the node has one
        found = of("internal_api")
        if public_network in node_addresses:
            found += [a for a in of(public_network) if a not in found]
        return found
    if network in node_addresses:
        return of(network)
    raise AnsibleFilterError("%s: network must be a network of the node (%s) or one of %s, not %r"
                             % (where, ", ".join(sorted(node_addresses)) or "none", ", ".join(PLACES), network))


def _entry(entry, service, node_addresses, public_network, where):
    if not isinstance(entry, dict):
        raise AnsibleFilterError("%s: give a mapping {port, network, proto, process}, not %r" % (where, entry))
    # str(): YAML 1.1 reads a key "on" as true
    unknown = sorted(str(k) for k in set(entry) - {"port", "network", "proto", "process"})
    if unknown:
        raise AnsibleFilterError("%s: unknown field(s) %s (give port, network, proto, process)"
                                 % (where, ", ".join(unknown)))
    if "port" not in entry:
        raise AnsibleFilterError("%s: port is missing" % where)
    proto = entry.get("proto", "tcp")
    if proto not in PROTOCOLS:
        raise AnsibleFilterError("%s: proto must be tcp or udp, not %r" % (where, proto))
    network = entry.get("network", "internal_api")
    first, last = _port_range(entry["port"], where)
    process = entry.get("process")
    if process is not None and not (isinstance(process, str) and process.strip()):
        raise AnsibleFilterError("%s: process must be a process name, not %r" % (where, process))
    return [{"proto": proto, "address": address, "ports": [first, last], "process": process, "service": service}
            for address in _addresses(network, node_addresses, public_network, where)]


def socket_plan(services, addresses, declarations=(), sockets=(), common=(), public_network="ctlplane"):
    """The sockets a node may listen on. services: the node's services (nova_control,
    mariadb, ...); addresses: its overcloud_addresses; declarations: services'
    declarations (<role>_service: groups service_<name> with api_ports, on the API
    addresses, and sockets); sockets: mappings service_<name> -> [entries] (the
    infrastructure roles' <role>_sockets); common: entries every node may have.
    An entry: {port: N or "FIRST-LAST", network: internal_api (default) | NETWORK | api |
    public | any | loopback, proto: tcp (default) | udp, process: NAME}."""
    if not isinstance(addresses, dict):
        raise AnsibleFilterError("socket_plan: addresses must be the node's overcloud_addresses (a mapping)")
    groups = ["service_%s" % s for s in services]
    plan = []
    for number, declaration in enumerate(declarations):
        if not isinstance(declaration, dict) or not isinstance(declaration.get("groups"), dict):
            raise AnsibleFilterError("socket_plan: declarations[%d] has no groups mapping" % number)
        name = declaration.get("name", "declarations[%d]" % number)
        for group, spec in declaration["groups"].items():
            if group not in groups:
                continue
            spec = spec or {}
            for port in spec.get("api_ports") or []:
                plan += _entry({"port": port, "network": "api"}, name, addresses, public_network,
                               "%s.groups.%s.api_ports" % (name, group))
            for index, entry in enumerate(spec.get("sockets") or []):
                plan += _entry(entry, name, addresses, public_network, "%s.groups.%s.sockets[%d]" % (name, group, index))
    for number, mapping in enumerate(sockets):
        if not isinstance(mapping, dict):
            raise AnsibleFilterError("socket_plan: sockets[%d] must map service_<name> to entries" % number)
        for group, entries in mapping.items():
            if group not in groups:
                continue
            for index, entry in enumerate(entries or []):
                plan += _entry(entry, group[len("service_"):], addresses, public_network, "%s[%d]" % (group, index))
    for index, entry in enumerate(common):
        plan += _entry(entry, "node", addresses, public_network, "common[%d]" % index)
    return plan


USERS = re.compile(r'\("([^"]*)",pid=(\d+)')


def listening_sockets(text):
    """The listening sockets in the output of `ss -H -l -n -t -u -p` (TCP listening,
    UDP unconnected): [{proto, address, port, processes}]."""
    found = []
    for number, line in enumerate(str(text).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 6 or fields[0] not in PROTOCOLS:
            raise AnsibleFilterError("ss output line %d is not 'PROTO STATE RECV-Q SEND-Q LOCAL PEER [PROCESS]': %r"
                                     % (number, line))
        local = fields[4]
        address, _, port = local.rpartition(":")
        if not address or not port.isdigit():
            raise AnsibleFilterError("ss output line %d: no ADDRESS:PORT in %r" % (number, local))
        found.append({"proto": fields[0], "address": normal_address(address), "port": int(port),
                      "processes": [m.group(1) for m in USERS.finditer(" ".join(fields[6:]))]})
    return found


def _allows(allowed, socket):
    if allowed["proto"] != socket["proto"] or not allowed["ports"][0] <= socket["port"] <= allowed["ports"][1]:
        return False
    # a wildcard socket (0.0.0.0, ::, *) reaches every network: only an entry "network: any" allows it
    if allowed["address"] == LOOPBACK:
        if socket["address"] == "*" or not ipaddress.ip_address(socket["address"]).is_loopback:
            return False
    elif allowed["address"] != ANY and allowed["address"] != socket["address"]:
        return False
    process = allowed.get("process")
    return not process or process[:COMM_LENGTH] in [p[:COMM_LENGTH] for p in socket["processes"]]


def _shown(socket):
    address = socket["address"]
    address = "[%s]" % address if ":" in address else address
    return "%s %s:%s (%s)" % (socket["proto"], address, socket["port"], ", ".join(socket["processes"]) or "process unknown")


def unplanned_sockets(sockets, plan, node=None):
    """Of the sockets (listening_sockets), those no entry of the plan (socket_plan)
    allows, each as a sentence naming the node, protocol, address, port and process."""
    prefix = "%s: " % node if node else ""
    out = []
    for socket in sockets:
        if not any(_allows(entry, socket) for entry in plan):
            line = "%s%s is not in the plan" % (prefix, _shown(socket))
            if line not in out:  # one process may hold the same socket twice (IPv4 and IPv6 both '*')
                out.append(line)
    return out


def erlang_address(address):
    """An IP address as an Erlang term ({172,16,2,10}), for kernel settings such as
    inet_dist_use_interface."""
    try:
        parsed = ipaddress.ip_address(str(address).strip())
    except ValueError:
        raise AnsibleFilterError("erlang_address: not an IP address: %r" % (address,))
    if parsed.version == 4:
        parts = parsed.packed
    else:
        parts = [int(group, 16) for group in parsed.exploded.split(":")]
    return "{%s}" % ",".join(str(p) for p in parts)


class FilterModule(object):
    def filters(self):
        return {"socket_plan": socket_plan, "listening_sockets": listening_sockets,
                "unplanned_sockets": unplanned_sockets, "erlang_address": erlang_address}
