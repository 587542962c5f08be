"""Agent settings: defaults, overridden by a JSON file, overridden by flags."""

import ipaddress
import json
import os

from . import roles
from .errors import AgentError

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
}

CONDUCTOR_SETTINGS = ("provisioning_listen", "provisioning_pool", "dhcp_hosts_dir", "dhcp_lease_file")


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
        if merged["provisioning_pool"] is not None:
            merged["provisioning_pool"] = parse_pool(merged["provisioning_pool"])
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
