# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The nodes file: what operators hand the undercloud to enroll servers.

``load_nodes`` takes the parsed document in one of three formats and returns
one normalized list of nodes, or raises ``NodesFileError`` at the first thing
that is wrong, naming the node and the field (as the file spells it):

* native (Stackwright): ``{"nodes": [{name, role, kind, bmc, macs, root_device,
  network, properties}]}`` or a bare list of such nodes; unknown keys are errors.
  A node without ``bmc`` is pre-provisioned (a deployed server; a ``container``
  node always is one) and needs ``network.address``; ``macs`` is then optional;
* TripleO ``instackenv.json``: ``{"nodes": [{name, pm_type, pm_addr, pm_user,
  pm_password, pm_port, mac | ports, capabilities, root_device, cpu, memory,
  disk}]}``, recognised by ``pm_addr``/``pm_type`` on any node; keys not used
  here are ignored;
* bifrost inventory: ``{node_name: {driver, driver_info, nics, properties,
  ipv4_address, ipv4_subnet_mask, ipv4_gateway, ipv4_nameserver,
  ipv4_interface_mac, host_groups}}``, recognised by ``driver_info``.

Everything is validated before anything is returned. Only the standard library
is used, so the file imports on any managed node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re

DEFAULT_ROLES = frozenset(["AllInOne", "BlockStorage", "Compute", "Controller"])
DEFAULT_ROLE = "Compute"
KINDS = ("baremetal", "container", "vm")
DEFAULT_KIND = "baremetal"
DEFAULT_IPMI_PORT = 623
PASSWORD_MASK = "********"

FORMAT_NATIVE = "native"
FORMAT_INSTACKENV = "instackenv"
FORMAT_BIFROST = "bifrost"

ROOT_DEVICE_HINTS = ("by_path", "hctl", "model", "name", "rotational", "serial", "size", "vendor", "wwn",
                     "wwn_vendor_extension", "wwn_with_extension")

NATIVE_NODE_FIELDS = ("bmc", "kind", "macs", "name", "network", "properties", "role", "root_device")
NATIVE_BMC_FIELDS = ("address", "driver", "password", "port", "username")
NATIVE_NETWORK_FIELDS = ("address", "dns", "gateway", "interface_mac")
NATIVE_PROPERTY_FIELDS = ("cpus", "local_gb", "memory_mb")

# instackenv pm_type / bifrost driver values that mean IPMI (hardware type and the old classic drivers).
IPMI_DRIVERS = ("agent_ipmitool", "ipmi", "pxe_ipmitool")

# TripleO profiles and bifrost host groups whose role name is not simply the group name in CamelCase.
PROFILE_ROLES = {
    "control": "Controller",
    "controller": "Controller",
    "compute": "Compute",
    "block-storage": "BlockStorage",
    "block_storage": "BlockStorage",
    "storage": "BlockStorage",
}

_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")
_HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DOTTED_NUMBERS_RE = re.compile(r"^[0-9.]+$")
_SIZE_RE = re.compile(r"^\s*(==|!=|>=|<=|>|<|=)\s*([0-9]+)\s*$")
_DIGITS_RE = re.compile(r"^\s*[0-9]+\s*$")


class NodesFileError(Exception):
    """The nodes file is invalid.

    ``message`` is the full text (source, node, field path and what is wrong),
    ``node`` the node's name (``nodes[3]`` for a node without a usable name,
    None for the document as a whole) and ``field`` the path of the offending
    field inside the node as the file spells it (``bmc.address``, ``macs[1]``,
    ``pm_addr``, ``driver_info.ipmi_port``) or None.
    """

    def __init__(self, message, node=None, field=None):
        super(NodesFileError, self).__init__(message)
        self.message = message
        self.node = node
        self.field = field

    def __str__(self):
        return self.message

    def to_dict(self):
        return dict(msg=self.message, node=self.node, field=self.field)


def _q(value):
    """A value as messages show it: strings in single quotes, the rest as they read."""
    if isinstance(value, str):
        return "'%s'" % value
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _kind_of(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a %s" % type(value).__name__


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _suggest(word, choices):
    """' did you mean X?' for a near miss (case-insensitive first), '' otherwise."""
    word, choices = str(word), sorted(choices)
    for choice in choices:
        if choice.lower() == word.lower():
            return "; did you mean '%s'?" % choice
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
        close = [c for c in choices if close and c.lower() == close[0]]
    return "; did you mean '%s'?" % close[0] if close else ""


def _join(path, key):
    return "%s.%s" % (path, key) if path else str(key)


def _camel(name):
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_\s]+", name) if part)


def profile_role(profile, roles=DEFAULT_ROLES):
    """The role a TripleO profile or bifrost host group stands for.

    Known names map (control -> Controller, block-storage -> BlockStorage...),
    a name equal to an allowed role but for case and separators is that role,
    anything else is the name in CamelCase (which may not be an allowed role).
    """
    key = profile.strip().lower()
    if key in PROFILE_ROLES:
        return PROFILE_ROLES[key]
    flat = re.sub(r"[-_\s]", "", key)
    for role in sorted(roles):
        if role.lower() == flat:
            return role
    return _camel(profile.strip())


class _Loader:
    """Parses one document: error reporting, and what nodes have claimed so far."""

    def __init__(self, source, roles):
        self.source = source
        self.roles = frozenset(DEFAULT_ROLES if roles is None else roles)
        self.claims = {}

    def fail(self, detail, node=None, label=None, field=None, at=None):
        parts = [self.source]
        if label:
            parts.append(label)
        shown = field if at is None else at
        if shown:
            parts.append(shown)
        parts.append(detail)
        raise NodesFileError(": ".join(parts), node=node, field=field)

    def node(self, index, name, fallback):
        return _Node(self, index, name, fallback)


class _Node:
    """Where a node's errors point: its name (or position) in messages."""

    def __init__(self, loader, index, name, fallback):
        self.loader = loader
        self.index = index
        if isinstance(name, str) and name.strip():
            self.ident = name
            self.label = "node '%s'" % name
        else:
            self.ident = fallback
            self.label = fallback

    def fail(self, field, detail, at=None):
        self.loader.fail(detail, node=self.ident, label=self.label, field=field, at=at)

    def claim(self, kind, key, field, what, advice, same_node_ok=False):
        """Record that this node uses ``key`` (a MAC, a BMC endpoint...); fail if another does."""
        owner = self.loader.claims.get((kind, key))
        if owner is None:
            self.loader.claims[(kind, key)] = (self.index, self.label, field)
            return
        index, label, where = owner
        if index == self.index:
            if same_node_ok:
                return
            self.fail(field, "%s is listed twice on this node (also at %s)" % (what, where))
        self.fail(field, "%s is also used by %s (%s); %s" % (what, label, where, advice))


# --- values shared by all formats ------------------------------------------------


def _check_fields(node, value, allowed, path, what="field"):
    for key in value:
        if key not in allowed:
            node.fail(_join(path, key), "unknown %s %s%s" % (what, _q(key), _suggest(key, allowed) or
                                                             "; allowed: %s" % ", ".join(sorted(allowed))),
                      at=path)


def _mapping(node, path, value):
    if not isinstance(value, dict):
        node.fail(path, "expected a mapping, got %s" % _kind_of(value))
    return value


def _list(node, path, value, what="a list"):
    if not isinstance(value, list):
        node.fail(path, "expected %s, got %s" % (what, _kind_of(value)))
    return value


def _text(node, path, value, what="a string", secret=False):
    """A non-empty string. Numbers are refused with a hint to quote them: YAML read them as numbers."""
    if _is_int(value) or isinstance(value, float):
        shown = "" if secret else " (%s)" % value
        node.fail(path, "is a number%s, not text; quote it in the file so YAML reads it as a string" % shown)
    if value is True or value is False:
        node.fail(path, "is a boolean%s, not text: YAML reads unquoted yes, no, on, off, true and false as booleans; "
                        "quote it" % ("" if secret else " (%s)" % _q(value)))
    if not isinstance(value, str):
        node.fail(path, "expected %s, got %s" % (what, _kind_of(value)))
    if not value.strip():
        node.fail(path, "is empty")
    return value


def _name(node, path, value):
    if value is None:
        node.fail(path, "missing; every node needs a name (for example 'compute-0')")
    _text(node, path, value, "a node name")
    if not _NAME_RE.match(value):
        fix = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63].strip("-")
        node.fail(path, "%s is not a valid node name: node names become host names, so use 1 to 63 lowercase "
                        "letters, digits and hyphens, starting and ending with a letter or digit%s"
                  % (_q(value), "; try '%s'" % fix if fix and _NAME_RE.match(fix) else ""))
    node.claim("name", value, path, "the name %s" % _q(value), "node names must be unique")
    return value


def _role(node, path, value, origin=None):
    """An allowed role; ``origin`` says where a role derived from another name came from (None: given as is,
    "": the default)."""
    allowed = node.loader.roles
    if value in allowed:
        return value
    listing = ", ".join(sorted(allowed)) or "(none)"
    if origin == "":
        node.fail(path, "missing, and the default role %s is not allowed; give one of the allowed roles: %s"
                  % (_q(value), listing))
    if origin:
        node.fail(path, "%s means role %s, which is not allowed; allowed roles: %s" % (origin, _q(value), listing))
    node.fail(path, "%s is not an allowed role (allowed: %s)%s" % (_q(value), listing, _suggest(value, allowed)))


def _mac(node, path, value):
    if _is_int(value):
        node.fail(path, "is the number %d, not a MAC address: YAML reads an unquoted MAC made only of digits and colons "
                        "as a base-60 number; quote it ('52:54:00:12:34:56')" % value)
    if not isinstance(value, str):
        node.fail(path, "expected a MAC address, got %s" % _kind_of(value))
    if not _MAC_RE.match(value.strip()):
        node.fail(path, "%s is not a MAC address; write six pairs of hex digits separated by colons, "
                        "like '52:54:00:12:34:56'" % _q(value))
    mac = value.strip().lower().replace("-", ":")
    if mac == "00:00:00:00:00:00":
        node.fail(path, "%s is the null MAC address; give the NIC's real address" % _q(value))
    if int(mac[:2], 16) & 1:
        node.fail(path, "%s is a multicast address, which no NIC has; check the first byte" % _q(value))
    return mac


def _macs(node, path, value, key="", required=True):
    """A list of MACs (``key``: the name of the address inside each item, for lists of ports)."""
    if value is None or value == []:
        if required:
            node.fail(path, "missing; list the MAC address of the node's provisioning (PXE) NIC at least")
        return []
    _list(node, path, value, "a list of MAC addresses" if not key else "a list of ports")
    macs = []
    for i, item in enumerate(value):
        where = "%s[%d]" % (path, i)
        if key:
            _mapping(node, where, item)
            where = _join(where, key)
            item = item.get(key)
            if item is None:
                node.fail(where, "missing; each port needs its MAC address")
        mac = _mac(node, where, item)
        node.claim("mac", mac, where, "MAC %s" % mac, "a MAC address belongs to one NIC on one node")
        macs.append(mac)
    return macs


def _host(node, path, value):
    """An IPv4/IPv6 address (normalized) or a host name (lowercased)."""
    _text(node, path, value, "an IP address or host name")
    text = value.strip()
    bad = "%s is not an IP address or host name" % _q(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if ":" in text:
        node.fail(path, bad + " (not a valid IPv6 address; write it without brackets or port)")
    if _DOTTED_NUMBERS_RE.match(text):
        node.fail(path, bad)
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        node.fail(path, bad)
    return name.lower()


def _port(node, path, value, lenient=False):
    if value is None:
        return DEFAULT_IPMI_PORT
    if lenient and isinstance(value, str) and _DIGITS_RE.match(value):
        value = int(value)
    if not _is_int(value):
        node.fail(path, "expected a port number, got %s" % _kind_of(value))
    if not 1 <= value <= 65535:
        node.fail(path, "%d is not a port number (1 to 65535; IPMI's is 623)" % value)
    return value


def _bmc(node, address, port, username, password, paths, lenient=False):
    """The BMC endpoint; ``paths`` names the address, port, username and password fields."""
    if address is None:
        node.fail(paths["address"], "missing; give the address of the node's BMC")
    bmc = dict(driver="ipmi", address=_host(node, paths["address"], address),
               port=_port(node, paths["port"], port, lenient))
    node.claim("bmc", (bmc["address"], bmc["port"]), paths["address"],
               "BMC %s port %d" % (bmc["address"], bmc["port"]),
               "each node needs a BMC endpoint of its own (virtual BMCs on one host: give each node its own port)")
    if username is None:
        node.fail(paths["username"], "missing; give the user name for the node's BMC")
    bmc["username"] = _text(node, paths["username"], username, "a user name")
    if password is None:
        node.fail(paths["password"], "missing; give the password for the node's BMC")
    bmc["password"] = _text(node, paths["password"], password, "a password", secret=True)
    return bmc


def _size(node, path, value):
    if _is_int(value):
        if value <= 0:
            node.fail(path, "must be a positive number of GiB, got %d" % value)
        return value
    if isinstance(value, str):
        if _DIGITS_RE.match(value) and int(value) > 0:
            return int(value)
        match = _SIZE_RE.match(value)
        if match:
            return "%s %d" % (match.group(1), int(match.group(2)))
    node.fail(path, "%s is not a disk size: give whole GiB as a number (100) or with an operator ('>= 100')" % _q(value))


def _root_device(node, path, value):
    if value is None:
        return {}
    _mapping(node, path, value)
    hints = {}
    for key in value:
        if key not in ROOT_DEVICE_HINTS:
            node.fail(_join(path, key), "unknown root device hint %s%s" % (
                _q(key), _suggest(key, ROOT_DEVICE_HINTS) or "; allowed: %s" % ", ".join(ROOT_DEVICE_HINTS)), at=path)
        hint = value[key]
        where = _join(path, key)
        if key == "size":
            hints[key] = _size(node, where, hint)
        elif key == "rotational":
            if hint is not True and hint is not False:
                node.fail(where, "expected true or false (unquoted), got %s" % _q(hint))
            hints[key] = hint
        else:
            hints[key] = _text(node, where, hint)
    return hints


def _count(node, path, value, what, lenient=False):
    """A positive integer property (CPUs, MiB, GiB), or None when absent."""
    if value is None:
        return None
    if lenient and isinstance(value, str) and _DIGITS_RE.match(value):
        value = int(value)
    if not _is_int(value):
        got = _q(value) if isinstance(value, str) else _kind_of(value)
        node.fail(path, "expected a whole number of %s, got %s" % (what, got))
    if value <= 0:
        node.fail(path, "must be a positive number of %s, got %d" % (what, value))
    return value


def _properties(cpus, memory_mb, local_gb):
    return dict(cpus=cpus, memory_mb=memory_mb, local_gb=local_gb)


def _network(node, address, gateway, dns, interface_mac, paths, dns_may_be_text=False):
    """Static addressing; ``paths`` names the address, gateway, dns and interface_mac fields."""
    if address is None:
        node.fail(paths["address"], "missing; give the node's address with its prefix length, like '192.0.2.10/24'")
    _text(node, paths["address"], address, "an address with a prefix length")
    if "/" not in address:
        node.fail(paths["address"], "%s has no prefix length; write it as a CIDR, like '%s/24'" % (_q(address), address))
    try:
        iface = ipaddress.ip_interface(address.strip())
    except ValueError:
        node.fail(paths["address"], "%s is not an address with a prefix length (CIDR), like '192.0.2.10/24'"
                  % _q(address))
    net = iface.network
    if net.num_addresses > 2 and iface.ip == net.network_address:
        node.fail(paths["address"], "%s is the address of the network itself, not of a host in it; give the node's "
                                    "own address, like '%s/%d'" % (_q(address), net.network_address + 1, net.prefixlen))
    if iface.version == 4 and net.num_addresses > 2 and iface.ip == net.broadcast_address:
        node.fail(paths["address"], "%s is the broadcast address of %s, not a host address" % (_q(address), net))
    gw = None
    if gateway is not None:
        _text(node, paths["gateway"], gateway, "an IP address")
        try:
            gw_ip = ipaddress.ip_address(gateway.strip())
        except ValueError:
            node.fail(paths["gateway"], "%s is not an IP address" % _q(gateway))
        if gw_ip.version != iface.version or gw_ip not in net:
            node.fail(paths["gateway"], "%s is not inside the node's network %s; the gateway must be reachable "
                                        "on that network" % (_q(gateway), net))
        if gw_ip == iface.ip:
            node.fail(paths["gateway"], "%s is the node's own address" % _q(gateway))
        if net.num_addresses > 2 and (gw_ip == net.network_address or
                                      (iface.version == 4 and gw_ip == net.broadcast_address)):
            node.fail(paths["gateway"], "%s is not a host address of %s" % (_q(gateway), net))
        gw = str(gw_ip)
    servers = []
    if dns is not None:
        if dns_may_be_text and isinstance(dns, str):
            dns = [dns]
        _list(node, paths["dns"], dns, "a list of DNS server addresses")
        for i, server in enumerate(dns):
            where = "%s[%d]" % (paths["dns"], i)
            _text(node, where, server, "an IP address")
            try:
                servers.append(str(ipaddress.ip_address(server.strip())))
            except ValueError:
                node.fail(where, "%s is not an IP address (DNS servers are given by address)" % _q(server))
    mac = None
    if interface_mac is not None:
        mac = _mac(node, paths["interface_mac"], interface_mac)
        node.claim("mac", mac, paths["interface_mac"], "MAC %s" % mac, "a MAC address belongs to one NIC on one node",
                   same_node_ok=True)
    node.claim("ip", iface.ip, paths["address"], "the address %s" % iface.ip, "each node needs an address of its own")
    return dict(address=str(iface), gateway=gw, dns=servers, interface_mac=mac)


def _normalized(name, role, kind, bmc, macs, root_device, network, properties):
    return dict(name=name, role=role, kind=kind, bmc=bmc, macs=macs, root_device=root_device, network=network,
                properties=properties)


# --- the three formats ----------------------------------------------------------


def _native_node(loader, index, raw):
    fallback = "nodes[%d]" % index
    if not isinstance(raw, dict):
        loader.fail("expected a mapping (one node), got %s" % _kind_of(raw), node=fallback, label=fallback)
    node = loader.node(index, raw.get("name"), fallback)
    _check_fields(node, raw, NATIVE_NODE_FIELDS, "")
    name = _name(node, "name", raw.get("name"))

    role = raw.get("role")
    if role is None:
        role = _role(node, "role", DEFAULT_ROLE, "")
    else:
        role = _role(node, "role", _text(node, "role", role, "a role name"))

    kind = raw.get("kind")
    if kind is None:
        kind = DEFAULT_KIND
    elif kind not in KINDS:
        hint = _suggest(kind, KINDS) if isinstance(kind, str) else ""
        node.fail("kind", "%s is not a node kind (%s)%s" % (_q(kind), ", ".join(KINDS), hint))
    container = kind == "container"

    # A node without a BMC is pre-provisioned (a deployed server): the undercloud neither powers nor PXE-boots
    # it, it reaches it at its static address. A container node is always one.
    bmc = raw.get("bmc")
    network = raw.get("network")
    has_address = isinstance(network, dict) and network.get("address") is not None
    if container:
        if bmc is not None:
            node.fail("bmc", "a container node is pre-provisioned and has no BMC; remove bmc, or set kind to "
                             "baremetal or vm")
        if network is None:
            node.fail("network.address", "missing; a container node is pre-provisioned: give the address the "
                                         "undercloud reaches it at, with its prefix length, like '192.0.2.10/24'")
    elif bmc is None:
        if not has_address:
            node.fail("bmc", "missing; a %s node is powered on and off through its BMC (address, username, "
                             "password): bmc is required unless the node is pre-provisioned (give network.address)"
                      % kind)
    else:
        _mapping(node, "bmc", bmc)
        _check_fields(node, bmc, NATIVE_BMC_FIELDS, "bmc")
        driver = bmc.get("driver")
        if driver is not None and driver != "ipmi":
            node.fail("bmc.driver", "%s is not supported; Stackwright drives BMCs over IPMI only ('ipmi')" % _q(driver))
        bmc = _bmc(node, bmc.get("address"), bmc.get("port"), bmc.get("username"), bmc.get("password"),
                   dict((k, "bmc." + k) for k in ("address", "port", "username", "password")))

    # PXE needs the MACs; a pre-provisioned node may list them (they name its NICs)
    macs = _macs(node, "macs", raw.get("macs"), required=bmc is not None)
    root_device = _root_device(node, "root_device", raw.get("root_device"))

    if network is not None:
        _mapping(node, "network", network)
        _check_fields(node, network, NATIVE_NETWORK_FIELDS, "network")
        network = _network(node, network.get("address"), network.get("gateway"), network.get("dns"),
                           network.get("interface_mac"),
                           dict((k, "network." + k) for k in NATIVE_NETWORK_FIELDS))

    props = raw.get("properties")
    if props is None:
        props = {}
    _mapping(node, "properties", props)
    _check_fields(node, props, NATIVE_PROPERTY_FIELDS, "properties")
    properties = _properties(_count(node, "properties.cpus", props.get("cpus"), "CPUs"),
                             _count(node, "properties.memory_mb", props.get("memory_mb"), "MiB"),
                             _count(node, "properties.local_gb", props.get("local_gb"), "GiB"))
    return _normalized(name, role, kind, bmc, macs, root_device, network, properties)


def _capabilities(node, value):
    """instackenv capabilities ('profile:compute,boot_option:local') as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    _text(node, "capabilities", value, "a string like 'profile:compute,boot_option:local'")
    caps = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if ":" not in item:
            node.fail("capabilities", "%s is not key:value (capabilities look like 'profile:compute,boot_option:local')"
                      % _q(item))
        key, val = item.split(":", 1)
        caps[key.strip()] = val.strip()
    return caps


def _instackenv_node(loader, index, raw):
    fallback = "nodes[%d]" % index
    if not isinstance(raw, dict):
        loader.fail("expected a mapping (one node), got %s" % _kind_of(raw), node=fallback, label=fallback)
    node = loader.node(index, raw.get("name"), fallback)
    name = _name(node, "name", raw.get("name"))

    pm_type = raw.get("pm_type", "ipmi")
    if pm_type not in IPMI_DRIVERS:
        node.fail("pm_type", "%s is not supported; Stackwright enrolls nodes over IPMI only (pm_type %s)"
                  % (_q(pm_type), ", ".join(IPMI_DRIVERS)))
    bmc = _bmc(node, raw.get("pm_addr"), raw.get("pm_port"), raw.get("pm_user"), raw.get("pm_password"),
               dict(address="pm_addr", port="pm_port", username="pm_user", password="pm_password"), lenient=True)

    if raw.get("mac") is not None and raw.get("ports") is not None:
        node.fail("mac", "give the node's MACs either as mac or as ports, not both")
    if raw.get("ports") is not None:
        macs = _macs(node, "ports", raw.get("ports"), key="address")
    else:
        macs = _macs(node, "mac", raw.get("mac"))

    caps = _capabilities(node, raw.get("capabilities"))
    profile = caps.get("profile")
    if profile:
        if not isinstance(profile, str):
            node.fail("capabilities", "profile: expected a string, got %s" % _kind_of(profile))
        role = _role(node, "capabilities", profile_role(profile, loader.roles), "profile %s" % _q(profile))
    else:
        role = _role(node, "capabilities", DEFAULT_ROLE, "")

    root_device = _root_device(node, "root_device", raw.get("root_device"))
    properties = _properties(_count(node, "cpu", raw.get("cpu"), "CPUs", lenient=True),
                             _count(node, "memory", raw.get("memory"), "MiB", lenient=True),
                             _count(node, "disk", raw.get("disk"), "GiB", lenient=True))
    return _normalized(name, role, DEFAULT_KIND, bmc, macs, root_device, None, properties)


def _netmask_prefix(node, path, value):
    if _is_int(value) or (isinstance(value, str) and _DIGITS_RE.match(value)):
        prefix = int(value)
        if 0 <= prefix <= 32:
            return prefix
    elif isinstance(value, str):
        try:
            return ipaddress.IPv4Network("0.0.0.0/%s" % value.strip()).prefixlen
        except ValueError:
            pass
    node.fail(path, "%s is not a subnet mask; write it like '255.255.255.0' (or a prefix length, 24)" % _q(value))


def _bifrost_node(loader, index, key, raw):
    label = "node '%s'" % key
    if not isinstance(raw, dict):
        loader.fail("expected a mapping (one node), got %s" % _kind_of(raw), node=str(key), label=label)
    node = loader.node(index, str(key), str(key))
    if raw.get("name") is not None and raw.get("name") != key:
        node.fail("name", "%s differs from the key %s the node is listed under; make them the same"
                  % (_q(raw.get("name")), _q(key)))
    name = _name(node, "name", key)

    driver = raw.get("driver", "ipmi")
    if driver not in IPMI_DRIVERS:
        node.fail("driver", "%s is not supported; Stackwright enrolls nodes over IPMI only (driver %s)"
                  % (_q(driver), ", ".join(IPMI_DRIVERS)))
    info = raw.get("driver_info")
    if info is None:
        node.fail("driver_info", "missing; give the BMC as driver_info: {ipmi_address, ipmi_username, ipmi_password}")
    _mapping(node, "driver_info", info)
    base = "driver_info"
    if "ipmi_address" not in info and isinstance(info.get("power"), dict):  # older bifrost: driver_info.power
        info, base = info["power"], "driver_info.power"
    bmc = _bmc(node, info.get("ipmi_address"), info.get("ipmi_port"), info.get("ipmi_username"),
               info.get("ipmi_password"),
               dict(address=base + ".ipmi_address", port=base + ".ipmi_port", username=base + ".ipmi_username",
                    password=base + ".ipmi_password"), lenient=True)

    macs = _macs(node, "nics", raw.get("nics"), key="mac")

    groups = raw.get("host_groups")
    role_path, profile = "host_groups", None
    if groups is not None:
        if isinstance(groups, str):
            groups = [groups]
        _list(node, "host_groups", groups, "a list of group names")
        for i, group in enumerate(groups):
            _text(node, "host_groups[%d]" % i, group, "a group name")
            if group.strip() != "baremetal":
                role_path, profile = "host_groups[%d]" % i, group
                break
    if profile is None:
        role = _role(node, role_path, DEFAULT_ROLE, "")
    else:
        role = _role(node, role_path, profile_role(profile, loader.roles), "host group %s" % _q(profile))

    props = raw.get("properties")
    if props is None:
        props = {}
    _mapping(node, "properties", props)
    root_device = _root_device(node, "properties.root_device", props.get("root_device"))
    properties = _properties(_count(node, "properties.cpus", props.get("cpus"), "CPUs", lenient=True),
                             _count(node, "properties.ram", props.get("ram"), "MiB", lenient=True),
                             _count(node, "properties.disk_size", props.get("disk_size"), "GiB", lenient=True))

    network = None
    address = raw.get("ipv4_address")
    if address is None:
        for extra in ("ipv4_subnet_mask", "ipv4_gateway", "ipv4_nameserver", "ipv4_interface_mac"):
            if raw.get(extra) is not None:
                node.fail(extra, "given without ipv4_address; add the node's address or remove it")
    else:
        _text(node, "ipv4_address", address, "an IPv4 address")
        try:
            ipaddress.IPv4Address(address.strip())
        except ValueError:
            node.fail("ipv4_address", "%s is not an IPv4 address" % _q(address))
        if raw.get("ipv4_subnet_mask") is None:
            node.fail("ipv4_subnet_mask", "missing; needed with ipv4_address to know the node's network "
                                          "(for example '255.255.255.0')")
        prefix = _netmask_prefix(node, "ipv4_subnet_mask", raw.get("ipv4_subnet_mask"))
        network = _network(node, "%s/%d" % (address.strip(), prefix), raw.get("ipv4_gateway"),
                           raw.get("ipv4_nameserver"), raw.get("ipv4_interface_mac"),
                           dict(address="ipv4_address", gateway="ipv4_gateway", dns="ipv4_nameserver",
                                interface_mac="ipv4_interface_mac"), dns_may_be_text=True)
    return _normalized(name, role, DEFAULT_KIND, bmc, macs, root_device, network, properties)


# --- entry points ---------------------------------------------------------------

_SHAPES = ("expected {nodes: [...]} (Stackwright or TripleO instackenv), a list of nodes, "
           "or a bifrost inventory (node name: {driver_info: ...})")


def _detect(data, loader):
    """(format, items): items are (index, key, raw node); key is the bifrost node name."""
    if data is None:
        loader.fail("is empty; " + _SHAPES)
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        nodes = data["nodes"]
        top = data
    elif isinstance(data, dict) and any(isinstance(v, dict) and "driver_info" in v for v in data.values()):
        return FORMAT_BIFROST, [(i, k, v) for i, (k, v) in enumerate(data.items())]
    elif isinstance(data, dict):
        if "nodes" in data:
            loader.fail("expected a list of nodes, got %s" % _kind_of(data["nodes"]), field="nodes")
        loader.fail("not a nodes file: %s; found a mapping with the keys %s"
                    % (_SHAPES, ", ".join(sorted(str(k) for k in data)) or "(none)"))
    elif isinstance(data, list):
        nodes, top = data, None
    else:
        loader.fail("not a nodes file: %s; found %s" % (_SHAPES, _kind_of(data)))
    if not nodes:
        loader.fail("lists no nodes", field="nodes" if top is not None else None)
    items = [(i, None, raw) for i, raw in enumerate(nodes)]
    if any(isinstance(raw, dict) and ("pm_addr" in raw or "pm_type" in raw) for raw in nodes):
        return FORMAT_INSTACKENV, items
    if top is not None:
        for key in top:
            if key != "nodes":
                loader.fail("unknown field %s%s; a Stackwright nodes file holds only 'nodes'"
                            % (_q(key), _suggest(key, ["nodes"])), field=str(key))
    return FORMAT_NATIVE, items


def detect_format(data, source="nodes file"):
    """'native', 'instackenv' or 'bifrost'; raises NodesFileError for a document that is none of them."""
    return _detect(data, _Loader(source, None))[0]


def load_nodes(data, source="nodes file", roles=None):
    """Validate a parsed nodes document and return its nodes, normalized.

    ``data`` is the parsed YAML/JSON (dict or list), ``source`` names it in
    messages (a path, say), ``roles`` is the set of allowed roles (default
    ``DEFAULT_ROLES``). Raises NodesFileError at the first problem.
    """
    loader = _Loader(source, roles)
    fmt, items = _detect(data, loader)
    nodes = []
    for index, key, raw in items:
        if fmt == FORMAT_BIFROST:
            nodes.append(_bifrost_node(loader, index, key, raw))
        elif fmt == FORMAT_INSTACKENV:
            nodes.append(_instackenv_node(loader, index, raw))
        else:
            nodes.append(_native_node(loader, index, raw))
    return nodes


def mask_passwords(nodes):
    """Copies of normalized nodes with every BMC password replaced by PASSWORD_MASK."""
    masked = []
    for node in nodes:
        node = dict(node)
        if node.get("bmc") is not None:
            node["bmc"] = dict(node["bmc"], password=PASSWORD_MASK)
        masked.append(node)
    return masked
