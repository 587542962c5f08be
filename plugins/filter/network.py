# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Address checks for role inputs, so bad values fail before anything changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible.errors import AnsibleFilterError


def address_problems(address, prefix, pool=None):
    """A list of what is wrong with ADDRESS/PREFIX and the FIRST-LAST pool (empty: all fine)."""
    try:
        iface = ipaddress.ip_interface("%s/%s" % (address, prefix))
    except ValueError as exc:
        return ["%s/%s is not an IP address with a prefix length: %s" % (address, prefix, exc)]
    problems = []
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
    net = iface.network
    return {"address": str(iface.ip), "prefix": net.prefixlen, "network": str(net.network_address),
            "netmask": str(net.netmask), "broadcast": str(net.broadcast_address)}


class FilterModule(object):
    def filters(self):
        return {"address_problems": _filter, "ip_network": ip_network}


def _filter(address, prefix, pool=None):
    try:
        return address_problems(address, prefix, pool)
    except Exception as exc:  # pragma: no cover - a template error is clearer than a traceback
        raise AnsibleFilterError("address_problems: %s" % exc)
