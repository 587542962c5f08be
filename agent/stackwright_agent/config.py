"""Agent settings: defaults, overridden by a JSON file, overridden by flags."""

import ipaddress
import json
import os

from . import roles
from .errors import AgentError
from .node_schema import address_problem

DEFAULTS = {
    # what this agent is, and so which drivers it loads: node, conductor, lab_host
    # (roles.py); a list, for the rare process that serves several. None: conductor
    # when a conductor's setting below is given (settings an older agent wrote), else node
    "roles": None,
    "socket": "/run/stackwright/agent.sock",
    "state_dir": "/var/lib/stackwright/agent",
    "libvirt_uri": "qemu:///system",
    # "auto" picks kvm when the node reports usable KVM; set "qemu" where /dev/kvm
    # exists but cannot run guests (nested or paravirtual hosts).
    "domain_type": "auto",
    "console_log_dir": "/var/log/stackwright/console",
    # undercloud only: "IP:PORT" of the provisioning HTTP listener (provisioning.py);
    # None: no listener
    "provisioning_listen": None,
    # what the listener serves under /images/; None: <state_dir>/images
    "image_store": None,
    # undercloud only: "FIRST-LAST" IPv4 range; each enrolled node without a static
    # address gets the lowest free one, kept for its life (its provisioning address)
    "provisioning_pool": None,
    # undercloud only: a directory of dnsmasq dhcp-host files, one per node with MACs
    # and an address (dnsmasq --dhcp-hostsdir re-reads it by itself); None: none written
    "dhcp_hosts_dir": None,
    # undercloud only: dnsmasq's dhcp-leasefile; the listener answers a node's script,
    # token and instructions only to the address leased to its MACs. None: no check
    "dhcp_lease_file": None,
    # seconds a ramdisk action's token lives after arming, when the action does not
    # say (its ramdisk gets the rest as sw.timeout)
    "ramdisk_timeout": 3600,
    # undercloud only: the provisioning network as a deployed node keeps its pool address,
    # statically, so a running cloud renews no lease from the undercloud:
    # {"prefix": 24, "gateway": "192.168.24.254" or null, "dns": ["IP", ...]}. None: DHCP
    "provisioning_network": None,
    # undercloud only: seconds between two reads of every idle node's power state from
    # its BMC (the conductor's power-state sync); 0: never
    "power_sync_interval": 60,
}

CONDUCTOR_SETTINGS = ("provisioning_listen", "provisioning_pool", "dhcp_hosts_dir", "dhcp_lease_file",
                      "provisioning_network")


def parse_pool(text):
    """"FIRST-LAST" (IPv4) -> (first, last) as ip_address objects."""
    if isinstance(text, (tuple, list)):
        return tuple(text)
    try:
        first, last = (ipaddress.IPv4Address(part.strip()) for part in str(text).split("-"))
    except ValueError:
        raise AgentError("provisioning_pool must be FIRST-LAST IPv4 addresses (192.168.24.100-192.168.24.199), "
                         "not %r" % text, code="invalid_config")
    if last < first:
        raise AgentError("provisioning_pool %r ends before it starts" % text, code="invalid_config")
    return first, last


def parse_provisioning_network(value):
    """{"prefix", "gateway", "dns"} checked: what deployed nodes' network files will say."""
    def bad(why):
        return AgentError("provisioning_network: %s (e.g. {\"prefix\": 24, \"gateway\": \"192.168.24.254\", "
                          "\"dns\": [\"192.168.24.53\"]})" % why, code="invalid_config")
    if not isinstance(value, dict) or set(value) - {"prefix", "gateway", "dns"}:
        raise bad("must be a mapping of prefix, gateway and dns, not %r" % (value,))
    prefix = value.get("prefix")
    if isinstance(prefix, bool) or not isinstance(prefix, int) or not 8 <= prefix <= 30:
        raise bad("prefix must be a whole number from 8 to 30, not %r" % (prefix,))
    addresses = [("gateway", value["gateway"])] if value.get("gateway") else []
    dns = value.get("dns") or []
    if not isinstance(dns, list):
        raise bad("dns must be a list of addresses, not %r" % (dns,))
    addresses += [("dns[%d]" % i, d) for i, d in enumerate(dns)]
    for field, text in addresses:
        try:
            ip = ipaddress.IPv4Address(text)
        except (ValueError, TypeError):
            raise bad("%s must be an IPv4 address, not %r" % (field, text))
        problem = address_problem(ip)
        if problem:
            raise bad("%s: %s" % (field, problem))
    return {"prefix": prefix, "gateway": value.get("gateway") or None, "dns": list(dns)}


class Config:
    def __init__(self, **values):
        unknown = set(values) - set(DEFAULTS)
        if unknown:
            raise AgentError("unknown setting(s) %s; known: %s"
                             % (", ".join(sorted(unknown)), ", ".join(sorted(DEFAULTS))),
                             code="invalid_config")
        merged = dict(DEFAULTS, **{k: v for k, v in values.items() if v is not None})
        if merged["domain_type"] not in ("auto", "kvm", "qemu"):
            raise AgentError("domain_type must be auto, kvm or qemu, not %r" % merged["domain_type"],
                             code="invalid_config")
        conducting = [key for key in CONDUCTOR_SETTINGS if merged[key] is not None]
        if merged["roles"] is None:
            merged["roles"] = ("conductor",) if conducting else roles.DEFAULT
        merged["roles"] = roles.check(merged["roles"])
        for key in conducting:
            if "conductor" not in merged["roles"]:
                raise AgentError("%s is the undercloud conductor's setting; this agent's roles are %s "
                                 "(add conductor to roles)" % (key, ", ".join(merged["roles"])),
                                 code="invalid_config")
        interval = merged["power_sync_interval"]
        if isinstance(interval, bool) or not isinstance(interval, int) or not 0 <= interval <= 86400:
            raise AgentError("power_sync_interval must be whole seconds from 0 (never) to 86400, not %r"
                             % (interval,), code="invalid_config")
        if merged["provisioning_pool"] is not None:
            merged["provisioning_pool"] = parse_pool(merged["provisioning_pool"])
        if merged["provisioning_network"] is not None:
            merged["provisioning_network"] = parse_provisioning_network(merged["provisioning_network"])
        self.__dict__.update(merged)

    @property
    def journal_path(self):
        return os.path.join(self.state_dir, "journal.jsonl")

    @classmethod
    def load(cls, path=None, **overrides):
        values = {}
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                try:
                    values = json.load(fh)
                except ValueError as exc:
                    raise AgentError("%s is not valid JSON: %s" % (path, exc), code="invalid_config")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
