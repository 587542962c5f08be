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
  here are ignored. ``pm_type: redfish`` takes ``pm_addr`` as a URL (a bare
  host means https), ``pm_system_id`` and ``redfish_verify_ca``;
* bifrost inventory: ``{node_name: {driver, driver_info, nics, properties,
  ipv4_address, ipv4_subnet_mask, ipv4_gateway, ipv4_nameserver,
  ipv4_interface_mac, host_groups}}``, recognised by ``driver_info``; ``driver:
  redfish`` takes ``driver_info.redfish_address``, ``redfish_system_id``,
  ``redfish_username``, ``redfish_password`` and ``redfish_verify_ca``.

The node's fields and their checks are the node schema's (``node_schema.py``, which
the undercloud agent's API checks nodes with too): the native format is its node, and
instackenv and bifrost nodes are translated into it, each field checked by the schema
under the name the file gives it. What spans the file (a MAC, BMC endpoint, address or
name used by two nodes) is caught here.

Everything is validated before anything is returned. Only the standard library
is used, so the file imports on any managed node.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.stackwright.cloud.plugins.module_utils import node_schema as ns
from ansible_collections.stackwright.cloud.plugins.module_utils.node_schema import (
    DEFAULT_KIND,
    kind_of as _kind_of,
    q as _q,
    suggest as _suggest,
)

DEFAULT_ROLES = frozenset(["AllInOne", "BlockStorage", "Compute", "Controller"])
DEFAULT_ROLE = "Compute"
PASSWORD_MASK = "********"

FORMAT_NATIVE = "native"
FORMAT_INSTACKENV = "instackenv"
FORMAT_BIFROST = "bifrost"

# the native format is the node schema's shape
KINDS = ns.KINDS
DEFAULT_IPMI_PORT = ns.DEFAULT_IPMI_PORT
ROOT_DEVICE_HINTS = ns.ROOT_DEVICE_HINTS
NATIVE_NODE_FIELDS = ns.NODE_FIELDS
NATIVE_BMC_FIELDS = ns.BMC_FIELDS
NATIVE_NETWORK_FIELDS = ns.NETWORK_FIELDS
NATIVE_PROPERTY_FIELDS = ns.PROPERTY_FIELDS

# instackenv pm_type / bifrost driver values that mean IPMI (hardware type and the old classic drivers).
IPMI_DRIVERS = ("agent_ipmitool", "ipmi", "pxe_ipmitool")
# ...and Redfish (Ironic's redfish hardware type)
REDFISH_DRIVERS = ("redfish",)

# TripleO profiles and bifrost host groups whose role name is not simply the group name in CamelCase.
PROFILE_ROLES = {
    "control": "Controller",
    "controller": "Controller",
    "compute": "Compute",
    "block-storage": "BlockStorage",
    "block_storage": "BlockStorage",
    "storage": "BlockStorage",
}


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
        # a name with a newline or an escape code is shown by position, never printed
        if isinstance(name, str) and name.strip() and not re.search(r"[\x00-\x1f\x7f-\x9f]", name):
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


# --- the three formats: the native one is the schema's node; the others are translated
# into it field by field, each checked by the schema under the name the file gives it ---


def _native_node(loader, index, raw):
    fallback = "nodes[%d]" % index
    if not isinstance(raw, dict):
        loader.fail("expected a mapping (one node), got %s" % _kind_of(raw), node=fallback, label=fallback)
    return ns.node(loader.node(index, raw.get("name"), fallback), raw, loader.roles, DEFAULT_ROLE)


def _capabilities(node, value, path="capabilities"):
    """Ironic capabilities ('profile:compute,boot_mode:uefi') as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    ns.text(node, path, value, "a string like 'profile:compute,boot_option:local'")
    caps = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if ":" not in item:
            node.fail(path, "%s is not key:value (capabilities look like 'profile:compute,boot_option:local')"
                      % _q(item))
        key, val = item.split(":", 1)
        caps[key.strip()] = val.strip()
    return caps


def _instackenv_node(loader, index, raw):
    fallback = "nodes[%d]" % index
    if not isinstance(raw, dict):
        loader.fail("expected a mapping (one node), got %s" % _kind_of(raw), node=fallback, label=fallback)
    node = loader.node(index, raw.get("name"), fallback)
    name = ns.name(node, "name", raw.get("name"))

    pm_type = raw.get("pm_type", "ipmi")
    if pm_type not in IPMI_DRIVERS + REDFISH_DRIVERS:
        node.fail("pm_type", "%s is not supported; Stackwright enrolls nodes over IPMI or Redfish (pm_type %s)"
                  % (_q(pm_type), ", ".join(IPMI_DRIVERS + REDFISH_DRIVERS)))
    paths = dict(address="pm_addr", port="pm_port", username="pm_user", password="pm_password",
                 system_id="pm_system_id", verify_ca="redfish_verify_ca")
    if pm_type in REDFISH_DRIVERS:
        bmc = ns.redfish_endpoint(node, raw.get("pm_addr"), raw.get("pm_port"), raw.get("pm_user"),
                                  raw.get("pm_password"), raw.get("pm_system_id"), raw.get("redfish_verify_ca"),
                                  paths, lenient=True)
    else:
        _only_redfish(node, raw, ("pm_system_id", "redfish_verify_ca"), "pm_type", pm_type)
        bmc = ns.bmc_endpoint(node, raw.get("pm_addr"), raw.get("pm_port"), raw.get("pm_user"),
                              raw.get("pm_password"), paths, lenient=True)

    if raw.get("mac") is not None and raw.get("ports") is not None:
        node.fail("mac", "give the node's MACs either as mac or as ports, not both")
    if raw.get("ports") is not None:
        macs = ns.macs(node, "ports", raw.get("ports"), key="address")
    else:
        macs = ns.macs(node, "mac", raw.get("mac"))

    caps = _capabilities(node, raw.get("capabilities"))
    profile = caps.get("profile")
    if profile:
        if not isinstance(profile, str):
            node.fail("capabilities", "profile: expected a string, got %s" % _kind_of(profile))
        role = ns.role(node, "capabilities", profile_role(profile, loader.roles), loader.roles, "profile %s" % _q(profile))
    else:
        role = ns.role(node, "capabilities", DEFAULT_ROLE, loader.roles, "")

    root_device = ns.root_device(node, "root_device", raw.get("root_device"))
    properties = dict(cpus=ns.count(node, "cpu", raw.get("cpu"), "CPUs", lenient=True),
                      memory_mb=ns.count(node, "memory", raw.get("memory"), "MiB", lenient=True),
                      local_gb=ns.count(node, "disk", raw.get("disk"), "GiB", lenient=True))
    if caps.get("boot_mode") is not None:
        properties["boot_mode"] = ns.boot_mode(node, "capabilities", caps["boot_mode"])
    return ns.normalized(name, role, DEFAULT_KIND, bmc, macs, root_device, None, properties)


def _only_redfish(node, raw, keys, driver_field, driver, base=""):
    """Redfish's fields given with an IPMI driver: an error naming the field."""
    for key in keys:
        if raw.get(key) is not None:
            node.fail(base + key, "is for a Redfish BMC, and %s is %s; set %s: redfish, or remove %s"
                      % (driver_field, _q(driver), driver_field, key))


def _netmask_prefix(node, path, value):
    if ns.is_int(value) or (isinstance(value, str) and ns.DIGITS_RE.match(value)):
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
    name = ns.name(node, "name", key)

    driver = raw.get("driver", "ipmi")
    if driver not in IPMI_DRIVERS + REDFISH_DRIVERS:
        node.fail("driver", "%s is not supported; Stackwright enrolls nodes over IPMI or Redfish (driver %s)"
                  % (_q(driver), ", ".join(IPMI_DRIVERS + REDFISH_DRIVERS)))
    info = raw.get("driver_info")
    if info is None:
        node.fail("driver_info", "missing; give the BMC as driver_info: {ipmi_address, ipmi_username, ipmi_password}"
                  if driver not in REDFISH_DRIVERS else "missing; give the BMC as driver_info: {redfish_address, "
                  "redfish_system_id, redfish_username, redfish_password}")
    ns.mapping(node, "driver_info", info)
    base = "driver_info"
    if driver in REDFISH_DRIVERS:
        paths = dict((k, "driver_info.redfish_" + k)
                     for k in ("address", "port", "username", "password", "system_id", "verify_ca"))
        bmc = ns.redfish_endpoint(node, info.get("redfish_address"), None, info.get("redfish_username"),
                                  info.get("redfish_password"), info.get("redfish_system_id"),
                                  info.get("redfish_verify_ca"), paths, lenient=True)
    else:
        _only_redfish(node, info, ("redfish_address", "redfish_system_id", "redfish_verify_ca"), "driver", driver,
                      "driver_info.")
        if "ipmi_address" not in info and isinstance(info.get("power"), dict):  # older bifrost: driver_info.power
            info, base = info["power"], "driver_info.power"
        bmc = ns.bmc_endpoint(
            node, info.get("ipmi_address"), info.get("ipmi_port"), info.get("ipmi_username"),
            info.get("ipmi_password"), dict(address=base + ".ipmi_address", port=base + ".ipmi_port",
                                            username=base + ".ipmi_username", password=base + ".ipmi_password"),
            lenient=True)

    macs = ns.macs(node, "nics", raw.get("nics"), key="mac")

    groups = raw.get("host_groups")
    role_path, profile = "host_groups", None
    if groups is not None:
        if isinstance(groups, str):
            groups = [groups]
        ns.a_list(node, "host_groups", groups, "a list of group names")
        for i, group in enumerate(groups):
            ns.text(node, "host_groups[%d]" % i, group, "a group name")
            if group.strip() != "baremetal":
                role_path, profile = "host_groups[%d]" % i, group
                break
    if profile is None:
        role = ns.role(node, role_path, DEFAULT_ROLE, loader.roles, "")
    else:
        role = ns.role(node, role_path, profile_role(profile, loader.roles), loader.roles, "host group %s" % _q(profile))

    props = raw.get("properties")
    if props is None:
        props = {}
    ns.mapping(node, "properties", props)
    root_device = ns.root_device(node, "properties.root_device", props.get("root_device"))
    properties = dict(cpus=ns.count(node, "properties.cpus", props.get("cpus"), "CPUs", lenient=True),
                      memory_mb=ns.count(node, "properties.ram", props.get("ram"), "MiB", lenient=True),
                      local_gb=ns.count(node, "properties.disk_size", props.get("disk_size"), "GiB",
                                        lenient=True))
    # Ironic's capability string, as bifrost inventories carry it ("boot_mode:uefi,...")
    caps = _capabilities(node, props.get("capabilities"), "properties.capabilities")
    if caps.get("boot_mode") is not None:
        properties["boot_mode"] = ns.boot_mode(node, "properties.capabilities", caps["boot_mode"])

    network = None
    address = raw.get("ipv4_address")
    if address is None:
        for extra in ("ipv4_subnet_mask", "ipv4_gateway", "ipv4_nameserver", "ipv4_interface_mac"):
            if raw.get(extra) is not None:
                node.fail(extra, "given without ipv4_address; add the node's address or remove it")
    else:
        ns.text(node, "ipv4_address", address, "an IPv4 address")
        try:
            ipaddress.IPv4Address(address.strip())
        except ValueError:
            node.fail("ipv4_address", "%s is not an IPv4 address" % _q(address))
        if raw.get("ipv4_subnet_mask") is None:
            node.fail("ipv4_subnet_mask", "missing; needed with ipv4_address to know the node's network "
                                          "(for example '255.255.255.0')")
        prefix = _netmask_prefix(node, "ipv4_subnet_mask", raw.get("ipv4_subnet_mask"))
        network = ns.network(
            node, "%s/%d" % (address.strip(), prefix), raw.get("ipv4_gateway"), raw.get("ipv4_nameserver"),
            raw.get("ipv4_interface_mac"),
            dict(address="ipv4_address", gateway="ipv4_gateway", dns="ipv4_nameserver",
                 interface_mac="ipv4_interface_mac"), dns_may_be_text=True)
    return ns.normalized(name, role, DEFAULT_KIND, bmc, macs, root_device, network, properties)


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
