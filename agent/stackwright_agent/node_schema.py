# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A bare-metal node, declared once: its fields and how each is checked, and how
root-device hints choose a disk.

Three readers share this file: the nodes file (``plugins/module_utils/nodes_file.py``:
the native format is this shape, instackenv.json and bifrost inventories are
translated into it), the undercloud agent's API (``drivers/nodes.py``) and the
``baremetal_node`` module's options (``plugins/module_utils/baremetal.py``). It is one
file: ``plugins/module_utils/node_schema.py`` is a link to this one, so the agent
package carries it as it is and the collection imports it as a module_util. Only the
standard library is used.

A node::

    name         DNS label (it becomes the host name)
    role         a server role (the caller may restrict them: the nodes file does)
    kind         baremetal | vm | container
    bmc          {driver: ipmi, address, port (623), username, password}, or
                 {driver: redfish, address (https://host[:port]), system_id, verify_ca, username,
                 password}; none: pre-provisioned
    macs         PXE NICs; required with a BMC
    root_device  Ironic's root-device hints (ROOT_DEVICE_HINTS)
    network      {address (CIDR), gateway, dns, interface_mac}: static addressing
    properties   {cpus, memory_mb, local_gb, boot_mode (bios | uefi: how the firmware boots,
                 which the BMC's boot-device request must say on servers that honour it),
                 clean_mode (metadata | full: how the ramdisk cleans the node's disks; an
                 action may say otherwise)}

The checks take a *node* that reports: ``node.fail(field, detail, at=None)`` raises
(``field`` is the path inside the node, ``bmc.address``; ``at`` what the message shows
when it differs) and ``node.claim(...)`` records what the node holds (a MAC, a BMC
endpoint, an address) so that two holders are caught. ``Checker`` is such a node for
one node alone (it raises ``Invalid``); the nodes file's claims span the whole file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import re

KINDS = ("baremetal", "container", "vm")
DEFAULT_KIND = "baremetal"
DEFAULT_IPMI_PORT = 623
BMC_DRIVERS = ("ipmi", "redfish")
REDFISH_SCHEMES = {"https": 443, "http": 80}

# the fields of a node and of its parts, as the native nodes file and the agent's API spell them
NODE_FIELDS = ("bmc", "kind", "macs", "name", "network", "properties", "role", "root_device")
BMC_FIELDS = ("address", "driver", "password", "port", "system_id", "username", "verify_ca")
# the fields only a Redfish BMC has
REDFISH_FIELDS = ("system_id", "verify_ca")
NETWORK_FIELDS = ("address", "dns", "gateway", "interface_mac")
PROPERTY_FIELDS = ("boot_mode", "clean_mode", "cpus", "local_gb", "memory_mb")
# Ironic's boot_mode capability values
BOOT_MODES = ("bios", "uefi")
# metadata: partition tables and signatures; full: every byte (the conductor's CLEAN_MODES)
CLEAN_MODES = ("metadata", "full")
# longest values the registry keeps
MAX_ROLE = 64
# IPMI 2.0: a user name is at most 16 bytes, a password at most 20
MAX_USERNAME = 16
MAX_PASSWORD = 20
# Redfish: user names and passwords as HTTP carries them (no IPMI limits), bounded
MAX_REDFISH_TEXT = 255

# Ironic's names. Each matches the disk field of the same name in an inspection's
# inventory (the ramdisk's and node_facts' "disks"), size against size_bytes in whole GiB.
ROOT_DEVICE_HINTS = ("by_path", "hctl", "model", "name", "rotational", "serial", "size", "vendor", "wwn",
                     "wwn_vendor_extension", "wwn_with_extension")
SIZE_OPERATORS = ("==", "!=", ">=", "<=", ">", "<", "=")
GiB = 1 << 30

# The same fields as options (an Ansible argument spec: the baremetal_node module's).
# None of them defaults at the top level: an option left out keeps the node's value.
BMC_OPTIONS = dict(
    driver=dict(type="str", default="ipmi", choices=list(BMC_DRIVERS)),
    address=dict(type="str", required=True),
    # IPMI: 623 when left out; Redfish: the address's port (443 for https)
    port=dict(type="int"),
    system_id=dict(type="str"),
    verify_ca=dict(type="raw"),
    username=dict(type="str", required=True),
    password=dict(type="str", required=True, no_log=True),
)
NETWORK_OPTIONS = dict(
    address=dict(type="str"),
    gateway=dict(type="str"),
    dns=dict(type="list", elements="str"),
    interface_mac=dict(type="str"),
)
NODE_OPTIONS = dict(
    name=dict(type="str", required=True),
    role=dict(type="str"),
    kind=dict(type="str", choices=list(KINDS)),
    bmc=dict(type="dict", options=BMC_OPTIONS),
    macs=dict(type="list", elements="str"),
    root_device=dict(type="dict"),
    network=dict(type="dict", options=NETWORK_OPTIONS),
    properties=dict(type="dict"),
)

# Every pattern ends in \Z, not $: '$' also matches before a final newline, so
# "compute-0\n" would pass as a name
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}\Z")
_HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_DOTTED_NUMBERS_RE = re.compile(r"^[0-9.]+\Z")
# a role: what inventories and Ansible group names are made of
_ROLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*\Z")
# what IPMI carries: printable ASCII; a user name without spaces
_IPMI_USER_RE = re.compile(r"^[!-~]+\Z")
_IPMI_PASSWORD_RE = re.compile(r"^[ -~]+\Z")
# a Redfish system: its Id (one URL path segment) or its path under /redfish/v1/Systems
_SYSTEM_ID_RE = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,;=-]+\Z")
_SYSTEM_PATH_PREFIX = "/redfish/v1/Systems/"
# control characters (C0, DEL, C1): a terminal obeys the escape codes when the value is printed
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# one OpenSSH public key line: type, base64 key, optional comment; no options
# (command="..."), which would give the key holder something else than a shell
_SSH_KEY_RE = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|"
                         r"sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [ -~]*)?\Z")
# a size hint: whole GiB, with or without an operator
SIZE_RE = re.compile(r"^\s*(==|!=|>=|<=|>|<|=)?\s*([0-9]+)\s*\Z")
DIGITS_RE = re.compile(r"^\s*[0-9]+\s*\Z")


def address_problem(ip, loopback=False):
    """Why the ipaddress ``ip`` cannot be a host's or a BMC's address (None: it can):
    the unspecified address, multicast, IPv4 broadcast; loopback unless ``loopback``."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_unspecified:
        return "%s is the unspecified address (it means any address, not one host); give the host's own address" % ip
    if ip.is_multicast:
        return "%s is a multicast address, which no single host has; give a unicast address" % ip
    if ip.version == 4 and int(ip) == 0xFFFFFFFF:
        return "%s is the broadcast address; give a host's own address" % ip
    if ip.is_loopback and not loopback:
        return "%s is a loopback address, which only the machine itself reaches; give an address on the network" % ip
    return None


def network_problem(net):
    """Why the ipaddress network ``net`` cannot be a network of the cloud (None: it can)."""
    if net.prefixlen == 0:
        return "%s covers every address; give the network's own prefix, like 192.0.2.0/24" % net
    if net.network_address.is_unspecified or (net.version == 4 and net.subnet_of(ipaddress.ip_network("0.0.0.0/8"))):
        return "%s is the unspecified range (0.0.0.0/8 means 'this host'); give the network's own range" % net
    if net.is_loopback:
        return "%s is the loopback range, which never leaves a machine; give a network the hosts share" % net
    if net.is_multicast:
        return "%s is a multicast range; give a unicast network, like 192.0.2.0/24" % net
    return None


class Invalid(Exception):
    """A field of a node is wrong: ``field`` its path, ``detail`` what is wrong,
    ``at`` the path the message shows (None: ``field``)."""

    def __init__(self, field, detail, at=None):
        super(Invalid, self).__init__("%s: %s" % (field if at is None else at, detail))
        self.field = field
        self.detail = detail
        self.at = at


class Checker:
    """The node of the checks below for a node on its own: errors raise Invalid; a
    MAC (or anything else claimed) listed twice on it is an error."""

    def __init__(self):
        self.claims = {}

    def fail(self, field, detail, at=None):
        raise Invalid(field, detail, at)

    def claim(self, kind, key, field, what, advice, same_node_ok=False):
        where = self.claims.setdefault((kind, key), field)
        if where != field and not same_node_ok:
            self.fail(field, "%s is listed twice on this node (also at %s)" % (what, where))


# --- how values read in messages ---------------------------------------------------


def q(value):
    """A value as messages show it: strings in single quotes, the rest as they read."""
    if isinstance(value, str):
        return "'%s'" % value
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def kind_of(value):
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


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def suggest(word, choices):
    """'; did you mean X?' for a near miss (case-insensitive first), '' otherwise."""
    word, choices = str(word), sorted(choices)
    for choice in choices:
        if choice.lower() == word.lower():
            return "; did you mean '%s'?" % choice
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
        close = [c for c in choices if close and c.lower() == close[0]]
    return "; did you mean '%s'?" % close[0] if close else ""


def join(path, key):
    return "%s.%s" % (path, key) if path else str(key)


# --- values ------------------------------------------------------------------------


def check_fields(node, value, allowed, path, what="field"):
    for key in value:
        if key not in allowed:
            node.fail(join(path, key), "unknown %s %s%s" % (what, q(key), suggest(key, allowed) or
                                                            "; allowed: %s" % ", ".join(sorted(allowed))),
                      at=path)


def mapping(node, path, value):
    if not isinstance(value, dict):
        node.fail(path, "expected a mapping, got %s" % kind_of(value))
    return value


def a_list(node, path, value, what="a list"):
    if not isinstance(value, list):
        node.fail(path, "expected %s, got %s" % (what, kind_of(value)))
    return value


def text(node, path, value, what="a string", secret=False, max_len=None):
    """A non-empty string. Numbers are refused with a hint to quote them: YAML read them as numbers."""
    if is_int(value) or isinstance(value, float):
        shown = "" if secret else " (%s)" % value
        node.fail(path, "is a number%s, not text; quote it in the file so YAML reads it as a string" % shown)
    if value is True or value is False:
        node.fail(path, "is a boolean%s, not text: YAML reads unquoted yes, no, on, off, true and false as booleans; "
                        "quote it" % ("" if secret else " (%s)" % q(value)))
    if not isinstance(value, str):
        node.fail(path, "expected %s, got %s" % (what, kind_of(value)))
    if not value.strip():
        node.fail(path, "is empty")
    if max_len is not None and len(value) > max_len:
        node.fail(path, "is %d characters long; at most %d are allowed" % (len(value), max_len))
    if _CONTROL_RE.search(value):
        node.fail(path, "holds a control character (a newline, tab or escape code)%s; remove it"
                  % ("" if secret else " (%r)" % value[:80]))
    return value


def name(node, path, value):
    if value is None:
        node.fail(path, "missing; every node needs a name (for example 'compute-0')")
    text(node, path, value, "a node name")
    if not _NAME_RE.match(value):
        fix = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63].strip("-")
        node.fail(path, "%s is not a valid node name: node names become host names, so use 1 to 63 lowercase "
                        "letters, digits and hyphens, starting and ending with a letter or digit%s"
                  % (q(value), "; try '%s'" % fix if fix and _NAME_RE.match(fix) else ""))
    node.claim("name", value, path, "the name %s" % q(value), "node names must be unique")
    return value


def role(node, path, value, roles=None, origin=None):
    """A role name; with ``roles``, one of them. ``origin`` says where a role derived from
    another name came from (None: given as is, "": the default)."""
    if roles is None:
        text(node, path, value, "a role name", max_len=MAX_ROLE)
        if not _ROLE_RE.match(value):
            node.fail(path, "%r is not a role name: start with a letter, then letters, digits, '-' or '_' "
                            "(like Controller or compute)" % value)
        return value
    if value in roles:
        return value
    listing = ", ".join(sorted(roles)) or "(none)"
    if origin == "":
        node.fail(path, "missing, and the default role %s is not allowed; give one of the allowed roles: %s"
                  % (q(value), listing))
    if origin:
        node.fail(path, "%s means role %s, which is not allowed; allowed roles: %s" % (origin, q(value), listing))
    node.fail(path, "%s is not an allowed role (allowed: %s)%s" % (q(value), listing, suggest(value, roles)))


def one_of(node, path, value, choices, what, listing=None):
    """``value`` when it is one of ``choices``; else fails: "X is not WHAT (LISTING)",
    with a near miss named."""
    if value not in choices:
        hint = suggest(value, choices) if isinstance(value, str) else ""
        node.fail(path, "%s is not %s (%s)%s" % (q(value), what, listing or ", ".join(choices), hint))
    return value


def kind(node, path, value):
    return one_of(node, path, value, KINDS, "a node kind")


def mac(node, path, value):
    if is_int(value):
        node.fail(path, "is the number %d, not a MAC address: YAML reads an unquoted MAC made only of digits and colons "
                        "as a base-60 number; quote it ('52:54:00:12:34:56')" % value)
    if not isinstance(value, str):
        node.fail(path, "expected a MAC address, got %s" % kind_of(value))
    if not _MAC_RE.match(value.strip()):
        node.fail(path, "%s is not a MAC address; write six pairs of hex digits separated by colons, "
                        "like '52:54:00:12:34:56'" % q(value))
    address = value.strip().lower().replace("-", ":")
    if address == "00:00:00:00:00:00":
        node.fail(path, "%s is the null MAC address; give the NIC's real address" % q(value))
    if int(address[:2], 16) & 1:
        node.fail(path, "%s is a multicast address, which no NIC has; check the first byte" % q(value))
    return address


def macs(node, path, value, key="", required=True):
    """A list of MACs (``key``: the name of the address inside each item, for lists of ports)."""
    if value is None or value == []:
        if required:
            node.fail(path, "missing; list the MAC address of the node's provisioning (PXE) NIC at least")
        return []
    a_list(node, path, value, "a list of MAC addresses" if not key else "a list of ports")
    found = []
    for i, item in enumerate(value):
        where = "%s[%d]" % (path, i)
        if key:
            mapping(node, where, item)
            where = join(where, key)
            item = item.get(key)
            if item is None:
                node.fail(where, "missing; each port needs its MAC address")
        address = mac(node, where, item)
        node.claim("mac", address, where, "MAC %s" % address, "a MAC address belongs to one NIC on one node")
        found.append(address)
    return found


def host(node, path, value):
    """An IPv4/IPv6 address (normalized) or a host name (lowercased)."""
    text(node, path, value, "an IP address or host name")
    stripped = value.strip()
    bad = "%s is not an IP address or host name" % q(value)
    try:
        ip = ipaddress.ip_address(stripped) if "%" not in stripped else None
    except ValueError:
        ip = None
    if ip is not None:
        # loopback stays allowed: a BMC emulator on the undercloud host itself answers there
        problem = address_problem(ip, loopback=True)
        if problem:
            node.fail(path, problem)
        return str(ip)
    if ":" in stripped or "%" in stripped:
        node.fail(path, bad + " (not a valid IPv6 address; write it without brackets or port)")
    if _DOTTED_NUMBERS_RE.match(stripped):
        node.fail(path, bad)
    host_name = stripped[:-1] if stripped.endswith(".") else stripped
    labels = host_name.split(".")
    if len(host_name) > 253 or not all(_HOST_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        node.fail(path, bad)
    return host_name.lower()


def port(node, path, value, lenient=False):
    if value is None:
        return DEFAULT_IPMI_PORT
    if lenient and isinstance(value, str) and DIGITS_RE.match(value):
        value = int(value)
    if not is_int(value):
        node.fail(path, "expected a port number, got %s" % kind_of(value))
    if not 1 <= value <= 65535:
        node.fail(path, "%d is not a port number (1 to 65535; IPMI's is 623)" % value)
    return value


def bmc_endpoint(node, address, port_number, username, password, paths, lenient=False):
    """The BMC; ``paths`` names the address, port, username and password fields."""
    if address is None:
        node.fail(paths["address"], "missing; give the address of the node's BMC")
    bmc = dict(driver="ipmi", address=host(node, paths["address"], address),
               port=port(node, paths["port"], port_number, lenient))
    node.claim("bmc", (bmc["address"], bmc["port"]), paths["address"],
               "BMC %s port %d" % (bmc["address"], bmc["port"]),
               "each node needs a BMC endpoint of its own (virtual BMCs on one host: give each node its own port)")
    if username is None:
        node.fail(paths["username"], "missing; give the user name for the node's BMC")
    bmc["username"] = text(node, paths["username"], username, "a user name")
    if not _IPMI_USER_RE.match(username) or len(username) > MAX_USERNAME:
        node.fail(paths["username"], "%r is not an IPMI user name: at most %d printable ASCII characters, "
                                     "no spaces (IPMI 2.0)" % (username[:40], MAX_USERNAME))
    if password is None:
        node.fail(paths["password"], "missing; give the password for the node's BMC")
    bmc["password"] = text(node, paths["password"], password, "a password", secret=True)
    if not _IPMI_PASSWORD_RE.match(password) or len(password) > MAX_PASSWORD:
        # the value is a secret: never in the message
        node.fail(paths["password"], "is not an IPMI password: at most %d printable ASCII characters (IPMI 2.0)"
                  % MAX_PASSWORD)
    return bmc


def bmc(node, path, value):
    """The native ``bmc`` mapping."""
    mapping(node, path, value)
    check_fields(node, value, BMC_FIELDS, path)
    driver = value.get("driver")
    if driver is not None and driver not in BMC_DRIVERS:
        node.fail(join(path, "driver"), "%s is not supported; Stackwright drives BMCs over IPMI ('ipmi') or Redfish "
                                        "('redfish')%s" % (q(driver), suggest(driver, BMC_DRIVERS)))
    paths = dict((k, join(path, k)) for k in BMC_FIELDS)
    if driver == "redfish":
        return redfish_endpoint(node, value.get("address"), value.get("port"), value.get("username"),
                                value.get("password"), value.get("system_id"), value.get("verify_ca"), paths)
    for key in REDFISH_FIELDS:
        if value.get(key) is not None:
            node.fail(paths[key], "is for a Redfish BMC; set %s: redfish, or remove %s" % (paths["driver"], key))
    address = value.get("address")
    if isinstance(address, str) and "://" in address:
        node.fail(paths["address"], "%s is a URL, which an IPMI BMC has not: for a Redfish BMC set %s: redfish; for "
                                    "IPMI give the BMC's IP address or host name" % (q(address), paths["driver"]))
    return bmc_endpoint(node, address, value.get("port"), value.get("username"), value.get("password"), paths)


def verify_ca(node, path, value):
    """Ironic's redfish_verify_ca: true (the host's CA store, the default), false (no
    check) or the absolute path of a CA bundle file or directory on the undercloud."""
    if value is None or value is True or value is False:
        return value is not False
    text(node, path, value, "true, false or the path of a CA bundle")
    if value.strip().lower() in ("true", "yes"):
        return True
    if value.strip().lower() in ("false", "no"):
        return False
    if not value.startswith("/"):
        node.fail(path, "%s is neither true, false nor an absolute path (of a CA bundle file or directory on the "
                        "undercloud)" % q(value))
    return value


def system_id(node, path, value):
    """A Redfish system: its Id, or its path /redfish/v1/Systems/<Id> (normalized to the Id)."""
    if value is None:
        return None
    if is_int(value):
        value = str(value)  # "1" is a common Id; YAML reads it as a number
    text(node, path, value, "a system id")
    ident = value.strip()
    if ident.startswith(_SYSTEM_PATH_PREFIX):
        ident = ident[len(_SYSTEM_PATH_PREFIX):].rstrip("/")
    if not _SYSTEM_ID_RE.match(ident) or ident in (".", ".."):
        node.fail(path, "%s is not a Redfish system id: give the system's Id (one URL path segment, like "
                        "'System.Embedded.1' or '1') or its path, '/redfish/v1/Systems/<Id>'" % q(value))
    return ident


def redfish_address(node, paths, address, port_number, lenient=False):
    """(normalized URL, port) of a Redfish address: http(s)://host[:port]; a bare host
    means https, as Ironic's redfish_address."""
    if address is None:
        node.fail(paths["address"], "missing; give the URL of the node's Redfish BMC, like 'https://192.0.2.10'")
    text(node, paths["address"], address, "a URL like 'https://192.0.2.10'")
    raw = address.strip()
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "https", raw
    if scheme.lower() not in REDFISH_SCHEMES:
        node.fail(paths["address"], "%s: the scheme must be https (or http, for an emulator), like "
                                    "'https://192.0.2.10'" % q(scheme))
    scheme = scheme.lower()
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        # never shown: it holds a password
        node.fail(paths["address"], "holds credentials (user@ or user:password@); give them as username and "
                                    "password, and the URL without them")
    if tail or "?" in netloc or "#" in netloc:
        node.fail(paths["address"], "%s has a path; give only scheme://host[:port] (the system goes in system_id)"
                  % q(address))
    if netloc.startswith("["):
        host_part, bracket, after = netloc[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            node.fail(paths["address"], "%s is not a URL: an IPv6 address goes in brackets, like "
                                        "'https://[fd00::10]:443'" % q(address))
        port_text = after[1:] if after else None
        if ":" not in host_part:
            node.fail(paths["address"], "%s: only an IPv6 address goes in brackets" % q(address))
    else:
        host_part, colon, port_text = netloc.partition(":")
        port_text = port_text if colon else None
        if ":" in (port_text or ""):
            node.fail(paths["address"], "%s: an IPv6 address goes in brackets, like 'https://[fd00::10]'"
                      % q(address))
    checked = host(node, paths["address"], host_part)
    given = None
    if port_text is not None:
        if not DIGITS_RE.match(port_text) or not 1 <= int(port_text) <= 65535:
            node.fail(paths["address"], "%s: the port %s is not a number from 1 to 65535"
                      % (q(address), q(port_text)))
        given = int(port_text)
    if port_number is not None:
        explicit = port(node, paths["port"], port_number, lenient)
        if given is not None and explicit != given:
            node.fail(paths["port"], "%d differs from the port %d in the address; give the port once" %
                      (explicit, given))
        given = explicit
    effective = given or REDFISH_SCHEMES[scheme]
    shown = "[%s]" % checked if ":" in checked else checked
    url = "%s://%s" % (scheme, shown) + ("" if effective == REDFISH_SCHEMES[scheme] else ":%d" % effective)
    return url, effective


def redfish_endpoint(node, address, port_number, username, password, system, ca, paths, lenient=False):
    """A Redfish BMC; ``paths`` names the address, port, username, password, system_id and
    verify_ca fields. One BMC may serve several systems (a chassis manager, an emulator):
    what is the node's own is the URL with the system."""
    url, effective = redfish_address(node, paths, address, port_number, lenient)
    ident = system_id(node, paths["system_id"], system)
    bmc = dict(driver="redfish", address=url, port=effective, system_id=ident)
    node.claim("bmc", (url, effective, ident), paths["address"],
               "Redfish BMC %s%s" % (url, " system %s" % ident if ident else ""),
               "each node is a system of its own (several on one BMC: give each its system_id)")
    if username is None:
        node.fail(paths["username"], "missing; give the user name for the node's BMC")
    bmc["username"] = text(node, paths["username"], username, "a user name", max_len=MAX_REDFISH_TEXT)
    if password is None:
        node.fail(paths["password"], "missing; give the password for the node's BMC")
    bmc["password"] = text(node, paths["password"], password, "a password", secret=True, max_len=MAX_REDFISH_TEXT)
    bmc["verify_ca"] = verify_ca(node, paths["verify_ca"], ca)
    return bmc


def size_hint(node, path, value):
    """A size hint, normalized: whole GiB (100) or an operator and whole GiB ('>= 100')."""
    if is_int(value):
        if value <= 0:
            node.fail(path, "must be a positive number of GiB, got %d" % value)
        return value
    if isinstance(value, str):
        match = SIZE_RE.match(value)
        if match and match.group(1):
            return "%s %d" % (match.group(1), int(match.group(2)))
        if match and int(match.group(2)) > 0:
            return int(match.group(2))
    node.fail(path, "%s is not a disk size: give whole GiB as a number (100) or with an operator ('>= 100')" % q(value))


def root_device(node, path, value):
    """Root-device hints, normalized; {} for none."""
    if value is None:
        return {}
    mapping(node, path, value)
    hints = {}
    for key in value:
        if key not in ROOT_DEVICE_HINTS:
            node.fail(join(path, key), "unknown root device hint %s%s" % (
                q(key), suggest(key, ROOT_DEVICE_HINTS) or "; allowed: %s" % ", ".join(ROOT_DEVICE_HINTS)), at=path)
        hint = value[key]
        where = join(path, key)
        if key == "size":
            hints[key] = size_hint(node, where, hint)
        elif key == "rotational":
            if hint is not True and hint is not False:
                node.fail(where, "expected true or false (unquoted), got %s" % q(hint))
            hints[key] = hint
        else:
            hints[key] = text(node, where, hint)
    return hints


def count(node, path, value, what, lenient=False):
    """A positive integer property (CPUs, MiB, GiB), or None when absent."""
    if value is None:
        return None
    if lenient and isinstance(value, str) and DIGITS_RE.match(value):
        value = int(value)
    if not is_int(value):
        got = q(value) if isinstance(value, str) else kind_of(value)
        node.fail(path, "expected a whole number of %s, got %s" % (what, got))
    if value <= 0:
        node.fail(path, "must be a positive number of %s, got %d" % (what, value))
    return value


PROPERTY_UNITS = (("cpus", "CPUs"), ("memory_mb", "MiB"), ("local_gb", "GiB"))


def boot_mode(node, path, value):
    return None if value is None else one_of(node, path, value, BOOT_MODES, "a boot mode")


def clean_mode(node, path, value):
    return None if value is None else one_of(node, path, value, CLEAN_MODES, "a clean mode",
                                             "metadata: partition tables and signatures, full: every byte")


# the properties whose values are names: each checked by its function when given
NAMED_PROPERTIES = (("boot_mode", boot_mode), ("clean_mode", clean_mode))


def properties(node, path, value, others=False):
    """The native ``properties`` mapping: every field, None when not given. With
    ``others`` (the agent's API), keys besides PROPERTY_FIELDS are kept as given
    (ssh_authorized_keys) and only the given ones are returned."""
    if value is None:
        value = {}
    mapping(node, path, value)
    if not others:
        check_fields(node, value, PROPERTY_FIELDS, path)
        out = dict((k, count(node, join(path, k), value.get(k), unit)) for k, unit in PROPERTY_UNITS)
        # unset: left out (a boot mode unset leaves the firmware's mode alone)
        out.update(_named_properties(node, path, value))
        return out
    out = dict(value)
    for key, unit in PROPERTY_UNITS:
        if value.get(key) is not None:
            out[key] = count(node, join(path, key), value[key], unit)
    out.update(_named_properties(node, path, value))
    if value.get("ssh_authorized_keys") is not None:
        out["ssh_authorized_keys"] = ssh_keys(node, join(path, "ssh_authorized_keys"), value["ssh_authorized_keys"])
    return out


def _named_properties(node, path, value):
    return dict((key, check(node, join(path, key), value[key]))
                for key, check in NAMED_PROPERTIES if value.get(key) is not None)


def ssh_keys(node, path, value):
    """A list of OpenSSH public key lines (a final newline, as a .pub file has, is dropped)."""
    a_list(node, path, value, "a list of SSH public keys")
    keys = []
    for i, key in enumerate(value):
        where = "%s[%d]" % (path, i)
        if not isinstance(key, str):
            node.fail(where, "expected an SSH public key (a string), got %s" % kind_of(key))
        line = key[:-1] if key.endswith("\n") else key
        if not _SSH_KEY_RE.match(line):
            node.fail(where, "%r is not one SSH public key line (type, key, comment, like 'ssh-ed25519 AAAA... "
                             "me@host'; one key per item, no options)" % key[:60])
        keys.append(line)
    return keys


def network(node, address, gateway, dns, interface_mac, paths, dns_may_be_text=False):
    """Static addressing; ``paths`` names the address, gateway, dns and interface_mac fields."""
    if address is None:
        node.fail(paths["address"], "missing; give the node's address with its prefix length, like '192.0.2.10/24'")
    text(node, paths["address"], address, "an address with a prefix length")
    if "/" not in address:
        node.fail(paths["address"], "%s has no prefix length; write it as a CIDR, like '%s/24'" % (q(address), address))
    try:
        iface = ipaddress.ip_interface(address.strip())
    except ValueError:
        node.fail(paths["address"], "%s is not an address with a prefix length (CIDR), like '192.0.2.10/24'"
                  % q(address))
    net = iface.network
    problem = address_problem(iface.ip) or network_problem(net)
    if problem:
        node.fail(paths["address"], problem)
    if net.num_addresses > 2 and iface.ip == net.network_address:
        node.fail(paths["address"], "%s is the address of the network itself, not of a host in it; give the node's "
                                    "own address, like '%s/%d'" % (q(address), net.network_address + 1, net.prefixlen))
    if iface.version == 4 and net.num_addresses > 2 and iface.ip == net.broadcast_address:
        node.fail(paths["address"], "%s is the broadcast address of %s, not a host address" % (q(address), net))
    gw = None
    if gateway is not None:
        text(node, paths["gateway"], gateway, "an IP address")
        try:
            gw_ip = ipaddress.ip_address(gateway.strip())
        except ValueError:
            node.fail(paths["gateway"], "%s is not an IP address" % q(gateway))
        if gw_ip.version != iface.version or gw_ip not in net:
            node.fail(paths["gateway"], "%s is not inside the node's network %s; the gateway must be reachable "
                                        "on that network" % (q(gateway), net))
        if gw_ip == iface.ip:
            node.fail(paths["gateway"], "%s is the node's own address" % q(gateway))
        if net.num_addresses > 2 and (gw_ip == net.network_address or
                                      (iface.version == 4 and gw_ip == net.broadcast_address)):
            node.fail(paths["gateway"], "%s is not a host address of %s" % (q(gateway), net))
        gw = str(gw_ip)
    servers = []
    if dns is not None:
        if dns_may_be_text and isinstance(dns, str):
            dns = [dns]
        a_list(node, paths["dns"], dns, "a list of DNS server addresses")
        for i, server in enumerate(dns):
            where = "%s[%d]" % (paths["dns"], i)
            text(node, where, server, "an IP address")
            try:
                server_ip = ipaddress.ip_address(server.strip()) if "%" not in server else None
            except ValueError:
                server_ip = None
            if server_ip is None:
                node.fail(where, "%s is not an IP address (DNS servers are given by address)" % q(server))
            problem = address_problem(server_ip)
            if problem:
                node.fail(where, problem)
            servers.append(str(server_ip))
    nic = None
    if interface_mac is not None:
        nic = mac(node, paths["interface_mac"], interface_mac)
        node.claim("mac", nic, paths["interface_mac"], "MAC %s" % nic, "a MAC address belongs to one NIC on one node",
                   same_node_ok=True)
    node.claim("ip", iface.ip, paths["address"], "the address %s" % iface.ip, "each node needs an address of its own")
    return dict(address=str(iface), gateway=gw, dns=servers, interface_mac=nic)


def static_network(node, path, value):
    """The native ``network`` mapping."""
    mapping(node, path, value)
    check_fields(node, value, NETWORK_FIELDS, path)
    return network(node, value.get("address"), value.get("gateway"), value.get("dns"), value.get("interface_mac"),
                   dict((k, join(path, k)) for k in NETWORK_FIELDS))


# --- a whole node ------------------------------------------------------------------


def _network_or_dhcp(node, path, value):
    return {} if value == {} else static_network(node, path, value)


def _properties_and_others(node, path, value):
    return properties(node, path, value, others=True)


# Each field checked on its own, as a request that may leave the others out gives it (the
# agent's API): ``network: {}`` is DHCP (no static address), properties keep other keys
# (ssh_authorized_keys). ``presence`` then checks the node as it would be.
FIELD_CHECKS = dict(
    name=name,
    role=role,
    kind=kind,
    bmc=bmc,
    macs=macs,
    root_device=root_device,
    network=_network_or_dhcp,
    properties=_properties_and_others,
)


def presence(node, node_kind, has_bmc, node_network):
    """What a node of ``node_kind`` must have: a BMC unless pre-provisioned (then its
    ``network.address``); a container node is always pre-provisioned."""
    has_address = isinstance(node_network, dict) and node_network.get("address") is not None
    if node_kind == "container":
        if has_bmc:
            node.fail("bmc", "a container node is pre-provisioned and has no BMC; remove bmc, or set kind to "
                             "baremetal or vm")
        if node_network is None:
            node.fail("network.address", "missing; a container node is pre-provisioned: give the address the "
                                         "undercloud reaches it at, with its prefix length, like '192.0.2.10/24'")
    elif not has_bmc and not has_address:
        node.fail("bmc", "missing; a %s node is powered on and off through its BMC (address, username, "
                         "password): bmc is required unless the node is pre-provisioned (give network.address)"
                  % node_kind)


def normalized(node_name, node_role, node_kind, node_bmc, node_macs, hints, node_network, node_properties):
    return dict(name=node_name, role=node_role, kind=node_kind, bmc=node_bmc, macs=node_macs, root_device=hints,
                network=node_network, properties=node_properties)


def node(checker, raw, roles=None, default_role=None):
    """A whole native node, every field checked in order, normalized. ``roles``: the
    allowed roles (None: any); ``default_role``: the role of a node that gives none."""
    check_fields(checker, raw, NODE_FIELDS, "")
    node_name = name(checker, "name", raw.get("name"))
    if raw.get("role") is None:
        node_role = None if default_role is None else role(checker, "role", default_role, roles, "")
    else:
        node_role = role(checker, "role", text(checker, "role", raw["role"], "a role name"), roles)
    node_kind = DEFAULT_KIND if raw.get("kind") is None else kind(checker, "kind", raw["kind"])

    # A node without a BMC is pre-provisioned (a deployed server): the undercloud neither powers nor PXE-boots
    # it, it reaches it at its static address.
    node_bmc, node_network = raw.get("bmc"), raw.get("network")
    presence(checker, node_kind, node_bmc is not None, node_network)
    if node_bmc is not None:
        node_bmc = bmc(checker, "bmc", node_bmc)
    # PXE needs the MACs; a pre-provisioned node may list them (they name its NICs)
    node_macs = macs(checker, "macs", raw.get("macs"), required=node_bmc is not None)
    hints = root_device(checker, "root_device", raw.get("root_device"))
    if node_network is not None:
        node_network = static_network(checker, "network", node_network)
    node_properties = properties(checker, "properties", raw.get("properties"))
    return normalized(node_name, node_role, node_kind, node_bmc, node_macs, hints, node_network, node_properties)


# --- root-device hints choose a disk -------------------------------------------------


def size_matches(hint, size_bytes):
    if size_bytes is None:
        return False
    gib = size_bytes // GiB
    if is_int(hint):
        return gib == hint
    op, num = SIZE_RE.match(hint).groups()
    num = int(num)
    return {None: gib == num, "=": gib == num, "==": gib == num, "!=": gib != num, ">=": gib >= num,
            "<=": gib <= num, ">": gib > num, "<": gib < num}[op]


def disk_value(disk, key):
    """The disk's value for hint ``key``: a disk whose inventory has no vendor extension
    (the ramdisk reports none) has its WWN with the extension equal to its WWN."""
    if key == "wwn_with_extension" and disk.get(key) is None:
        return disk.get("wwn")
    return disk.get(key)


def hint_matches(key, hint, disk):
    if key == "size":
        return size_matches(hint, disk.get("size_bytes"))
    if key == "rotational":
        return disk.get("rotational") is hint
    value = disk_value(disk, key)
    if value is None:
        return False
    if key == "name":
        # "sda" and "/dev/sda" name the same disk
        return value.rsplit("/", 1)[-1] == hint.rsplit("/", 1)[-1]
    return value.strip().lower() == hint.strip().lower()


def pick_root_disk(disks, hints):
    """The disk (a dict of an inventory's ``disks``) the hints choose, or None: all given
    hints must match; of several matches the smallest (then by name). No hints: the
    smallest disk of at least 4 GiB, else the smallest disk at all (lab VMs have tiny disks)."""
    def order(d):
        return (d.get("size_bytes") or 0, d.get("name") or "")
    if hints:
        matching = [d for d in disks if all(hint_matches(k, v, d) for k, v in hints.items())]
        return min(matching, key=order) if matching else None
    big = [d for d in disks if (d.get("size_bytes") or 0) >= 4 * GiB]
    return min(big or disks, key=order) if disks else None
