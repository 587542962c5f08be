"""Linux bridges through iproute2's JSON output, optionally inside a named
network namespace. Ports (taps, veths) are attached and detached; a missing
veth port is created when its peer is named."""

import json
import os

from .. import schema as s
from ..errors import InvalidField
from . import Driver, run, run_json

PORT = s.Obj({
    "name": s.IFNAME,
    "veth_peer": s.Str(max_len=15, pattern=s.IFNAME.pattern.pattern, hint=s.IFNAME.hint,
                       doc="create the port as a veth pair with this peer when it is missing"),
    "peer_netns": s.NETNS,
})

SCHEMA = s.Obj({
    "name": s.IFNAME,
    "netns": s.NETNS,
    "state": s.Enum("present", "absent", default="present"),
    "mtu": s.Int(minimum=68, maximum=65535),
    "addresses": s.List(s.Cidr(), unique=True),
    "ports": s.List(PORT),
    "purge_ports": s.Bool(default=False),
})

DEFAULT_MTU = 1500


def netns_exists(name):
    return os.path.exists(os.path.join("/run/netns", name))


def require_netns(name, field="netns"):
    """Refuse a request that names a network namespace that is not there."""
    if name and not netns_exists(name):
        raise InvalidField(field, "network namespace %r does not exist (see 'ip netns list')" % name)


def ip(args, netns=None, check=True):
    return run(["ip"] + (["-n", netns] if netns else []) + list(args), check=check)


def ip_json(args, netns=None):
    return run_json(["ip", "-j"] + (["-n", netns] if netns else []) + list(args))


def link(name, netns=None):
    """The link's iproute2 JSON record, or None when there is no such interface."""
    out = ip(["-j", "-d", "link", "show", "dev", name], netns=netns, check=False)
    try:
        records = json.loads(out) if out.strip() else []
    except ValueError:  # "Device does not exist" arrives on stderr, stdout stays empty
        return None
    return records[0] if records else None


class BridgeDriver(Driver):
    kind = "bridges"
    schema = SCHEMA
    query_keys = ("netns",)  # a bridge in a namespace: /v1/bridges/<name>?netns=<ns>

    def identity(self, spec):
        return "%s/%s" % (spec["netns"] or "-", spec["name"])

    def spec_from_path(self, ident, query):
        spec = {"name": ident}
        if query.get("netns"):
            spec["netns"] = s.NETNS.check(query["netns"], "netns")
        return spec

    def validate(self, spec):
        ns = spec["netns"]
        require_netns(ns)
        if spec["state"] == "absent":
            return
        existing = link(spec["name"], ns)
        if existing and existing.get("linkinfo", {}).get("info_kind") != "bridge":
            raise InvalidField("name", "interface %r exists and is not a bridge" % spec["name"])
        for i, port in enumerate(spec["ports"] or []):
            if port["name"] == spec["name"]:
                raise InvalidField("ports[%d].name" % i, "a bridge cannot be its own port")
            require_netns(port["peer_netns"], "ports[%d].peer_netns" % i)
            if not port["veth_peer"] and link(port["name"], ns) is None:
                raise InvalidField("ports[%d].name" % i,
                                   "no interface %r in %s; create it first, or set veth_peer to create "
                                   "a veth pair" % (port["name"], "netns " + ns if ns else "the host namespace"))

    def read(self, spec):
        ns, name = spec["netns"], spec["name"]
        rec = link(name, ns)
        if rec is None or rec.get("linkinfo", {}).get("info_kind") != "bridge":
            return None
        addrs = ip_json(["addr", "show", "dev", name], netns=ns)
        addresses = sorted(
            "%s/%d" % (a["local"], a["prefixlen"])
            for r in addrs for a in r.get("addr_info", [])
            # dynamic: the kernel's (SLAAC, e.g. from the undercloud's own RAs) or a DHCP
            # client's, not configured: removing them would change the bridge on every run
            if a.get("scope") == "global" and not a.get("dynamic"))
        ports = sorted(p["ifname"] for p in ip_json(["link", "show", "master", name], netns=ns))
        return {"name": name, "netns": ns, "state": "present", "mtu": rec.get("mtu"),
                "up": "UP" in rec.get("flags", []), "addresses": addresses, "ports": ports}

    def predict(self, spec, current):
        if spec["state"] == "absent":
            return None
        cur = current or {"name": spec["name"], "netns": spec["netns"], "state": "present",
                          "mtu": DEFAULT_MTU, "up": True, "addresses": [], "ports": []}
        wanted_ports = [p["name"] for p in spec["ports"] or []]
        ports = set(wanted_ports) if spec["purge_ports"] else set(cur["ports"]) | set(wanted_ports)
        return dict(cur, up=True,
                    mtu=spec["mtu"] if spec["mtu"] is not None else cur["mtu"],
                    addresses=sorted(spec["addresses"]) if spec["addresses"] is not None else cur["addresses"],
                    ports=sorted(ports))

    def converge(self, spec, current):
        ns, name = spec["netns"], spec["name"]
        if spec["state"] == "absent":
            ip(["link", "del", "dev", name], netns=ns)
            return
        if current is None:
            ip(["link", "add", "name", name, "type", "bridge"], netns=ns)
            current = self.read(spec)
        if spec["mtu"] is not None and spec["mtu"] != current["mtu"]:
            ip(["link", "set", "dev", name, "mtu", str(spec["mtu"])], netns=ns)
        ip(["link", "set", "dev", name, "up"], netns=ns)
        if spec["addresses"] is not None:
            for addr in sorted(set(current["addresses"]) - set(spec["addresses"])):
                ip(["addr", "del", addr, "dev", name], netns=ns)
            # deleting a primary IPv4 address also drops its secondaries: look again
            present = self.read(spec)["addresses"]
            for addr in spec["addresses"]:
                if addr not in present:
                    ip(["addr", "add", addr, "dev", name], netns=ns)
        for port in spec["ports"] or []:
            if link(port["name"], ns) is None:
                peer_ns = port["peer_netns"]
                ip(["link", "add", "name", port["name"], "type", "veth", "peer", "name", port["veth_peer"]]
                   + (["netns", peer_ns] if peer_ns else []), netns=ns)
                ip(["link", "set", "dev", port["veth_peer"], "up"], netns=peer_ns or ns)
            if port["name"] not in current["ports"]:
                ip(["link", "set", "dev", port["name"], "master", name], netns=ns)
            ip(["link", "set", "dev", port["name"], "up"], netns=ns)
        if spec["purge_ports"]:
            wanted = {p["name"] for p in spec["ports"] or []}
            for extra in sorted(set(current["ports"]) - wanted):
                ip(["link", "set", "dev", extra, "nomaster"], netns=ns)

    def list(self, query):
        ns = s.NETNS.check(query["netns"], "netns") if query.get("netns") else None
        require_netns(ns)
        names = [r["ifname"] for r in ip_json(["-d", "link", "show", "type", "bridge"], netns=ns)]
        return [self.read({"name": n, "netns": ns}) for n in sorted(names)]
