# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The overcloud plan's checks and inputs (roles/overcloud): what is wrong with the server
roles and where the services land, which networks each host needs, its fixed ctlplane
address, and the secrets still to generate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import secrets
import string
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Neutron's ML2/OVN driver keeps its state in the OVN databases.
_NEUTRON = ("neutron_control", "neutron_agent")
_SECRET_CHARS = string.ascii_letters + string.digits


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
    return problems


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


def placement_problems(hosts_of, required, single):
    """What is wrong with where the services run (HOSTS_OF, from service_hosts): a REQUIRED
    service no host runs, Neutron without the OVN databases, a SINGLE service on several
    hosts; [] when all is fine."""
    problems = ["no host runs %s: put a Controller (or AllInOne) node in the inventory" % service
                for service in required if service not in hosts_of]
    if any(service in hosts_of for service in _NEUTRON) and "ovn_central" not in hosts_of:
        problems.append("Neutron (ML2/OVN) needs the OVN databases: put ovn_central in a server role (Controller)")
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
                "placement_problems": placement_problems, "node_networks": node_networks,
                "ctlplane_addresses": ctlplane_addresses, "new_secrets": new_secrets}
