# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove a deployed overcloud works, through its public API, with openstacksdk.

    validate_cloud.py --config CONFIG.json --results RESULTS.json
    validate_cloud.py --table RESULTS.json      (print the table of an earlier run)

Each check runs in order and is recorded as {name, ok, seconds, detail}; ok is
null for a check that did not run (disabled, or something it needs failed: its
detail says which). A failure does not stop the run. Everything created is named
PREFIX-<what> and deleted at the end - and, at the start, whatever an earlier,
interrupted run with the same prefix left behind (found by name).

The results file: {"ok": bool, "failed": [names], "checks": [...], "table": [lines]}.
Exit status: 0 every check that ran passed, 1 some failed, 2 bad usage or config.
The admin password is read from clouds.yaml here and appears in no output.
"""

import argparse
import base64
import concurrent.futures
import functools
import hashlib
import http.client
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import urllib.parse
import uuid

GUEST_BOOTED_RE = re.compile(r"stackwright-guest: booted(?: kernel (\S+))?")
GUEST_DISKS_RE = re.compile(r"stackwright-guest: disks\b([^\r\n]*)")
GUEST_ADDRESS_RE = re.compile(r"stackwright-guest: eth0 (\S+/\d+)")
GUEST_METADATA_RE = re.compile(r"stackwright-guest: metadata (uuid ([0-9a-f-]+)|unreachable)")
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,}$")
DETAIL_WIDTH = 200
RAW_IMAGE_BYTES = 1024 * 1024

# Headless as root: no sandbox; nothing that phones home or waits on the network
# the cloud is not on; a profile of its own each run.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# ChromeDriver's own log lines ("[1796410106.605][INFO]: ...") and its indented JSON
CHROMEDRIVER_LINE = re.compile(r"\[\d+\.\d+\]\[|[\s{}\]]")

CHECKS = [
    "token", "leftovers", "catalog", "compute_services", "network_agents", "image", "flavor",
    "network", "external_network", "router", "security_group", "server", "guest_network", "console",
    "volume", "snapshot", "backup", "secret", "stack",
    "zone", "object", "telemetry", "queue", "cluster_template", "datastore", "dashboard", "cleanup",
]

DEFAULTS = {
    "cloud": "stackwright",
    "clouds_yaml": None,
    "prefix": "sw-validate",
    "work_dir": None,
    "boot_server": True,
    "volume": True,
    "dashboard": True,
    # Barbican's and Heat's checks, where the catalog has the service
    "key_manager": True,
    "orchestration": True,
    # Designate's check, where the catalog has dns: its zone lives under dns_domain; the
    # DNS server asked is dns_server (host or host:port), else the dns endpoint's host
    "dns": True,
    "dns_domain": "example.com",
    "dns_server": "",
    # Swift's check, where the catalog has object-store
    "object_store": True,
    # Gnocchi's (and Aodh's) check, where the catalog has metric (and alarming)
    "telemetry": True,
    # Zaqar's check, where the catalog has messaging
    "messaging": True,
    # Magnum's check, where the catalog has container-infra
    "container_infra": True,
    # Trove's check, where the catalog has database: the datastores deploy.yml registered
    # (roles/trove's trove_datastores; empty: any datastore with an active default)
    "database": True,
    "datastores": [],
    # the Keystone domain of the users and projects Heat makes for stacks
    "stack_domain": "heat",
    "stack_network": {"cidr": "10.198.0.0/24"},
    # the network whose port Neutron publishes in the zone check's zone
    "dns_network": {"cidr": "10.197.0.0/24"},
    # status only: the checks that read (token, catalog, services, agents); nothing is created or deleted
    "read_only": False,
    "compute_hosts": [],
    "chassis_hosts": [],
    "guest": {"kernel": None, "ramdisk": None, "cmdline": None},
    "flavor": {"vcpus": 1, "ram": 128, "disk": 1},
    "tenant_network": {"cidr": "10.199.0.0/24", "network_type": "geneve"},
    "external": {"cidr": None, "gateway": None, "pool": None, "exclude": [],
                 "physical_network": "physnet1", "network_type": "flat"},
    "dashboard_url": "",
    "catalog_interfaces": ["public", "internal", "admin"],
    "chromium": "/usr/bin/chromium",
    "chromedriver": "/usr/bin/chromedriver",
    # a backup reads and checksums the whole volume (minutes where the nodes are emulated)
    "timeouts": {"server": 900, "volume": 300, "backup": 900, "image": 300, "services": 120, "http": 10,
                 "api": 60, "dashboard": 120, "delete": 300, "stack": 900, "zone": 120,
                 # Ceilometer's polling interval and Gnocchi's processing, then Aodh's evaluation
                 "telemetry": 600, "alarm": 300,
                 # the services' notifications reaching Gnocchi through Ceilometer
                 "notification": 120},
}

# What a read-only run (an overcloud status) checks: nothing it does creates or deletes.
READ_ONLY_CHECKS = ("token", "catalog", "compute_services", "network_agents")

# Agent types an OVN chassis reports itself as
OVN_CONTROLLERS = ("OVN Controller agent", "OVN Controller Gateway agent")


def barbican_id(secret):
    """A secret's UUID (openstacksdk may give its whole secret_ref URL as the id)."""
    return str(secret.id).rstrip("/").rsplit("/", 1)[-1]


def delete_secret(km, secret):
    """By URL: openstacksdk's delete_secret with a secret's record left it in place
    against Barbican 20 (the check and its cleanup both saw it)."""
    km.delete("secrets/%s" % barbican_id(secret), raise_exc=False)


class Alarm(dict):
    """An Aodh alarm as its API gives it (openstacksdk has no proxy for Aodh), named as
    the cleanup names what it deletes."""

    @property
    def name(self):
        return self.get("name")


class ClusterTemplate(dict):
    """A Magnum cluster template as its API gives it, named as the cleanup names what
    it deletes."""

    @property
    def name(self):
        return self.get("name")


class Queue(object):
    """A Zaqar queue, by its name (openstacksdk has no proxy for Zaqar)."""

    def __init__(self, name):
        self.name = name


class CheckFailed(Exception):
    """A check's verdict: its message is the detail."""


class NotDeployed(Exception):
    """The service a check is for is not in this cloud: the check is skipped, saying so."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT: stop checking, still clean up."""


class ConfigError(Exception):
    pass


# --- configuration ---------------------------------------------------------------


def merge(base, over):
    """Deep merge of dicts: over's values win; None in over keeps base's."""
    out = dict(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def load_config(data):
    """The run's settings: DEFAULTS merged with data, checked (ConfigError names the field)."""
    config = merge(DEFAULTS, data)
    if not config["clouds_yaml"]:
        raise ConfigError("clouds_yaml: required")
    if not PREFIX_RE.match(str(config["prefix"])):
        # everything named PREFIX or PREFIX-* is deleted: a short or odd prefix could hit an operator's resources
        raise ConfigError("prefix: %r must be 3 or more letters, digits, '_', '.', '-'" % (config["prefix"],))
    if config["boot_server"]:
        missing = [k for k in ("kernel", "ramdisk", "cmdline") if not config["guest"].get(k)]
        if missing:
            raise ConfigError("guest: %s needed to boot a server" % ", ".join(missing))
    try:
        ipaddress.ip_network(str(config["stack_network"]["cidr"]))
    except ValueError:
        raise ConfigError("stack_network.cidr: %r is not a network (CIDR)" % (config["stack_network"]["cidr"],))
    if config["dns_server"]:
        try:
            host, port = split_host_port(config["dns_server"], 53)
            ipaddress.ip_address(host)
            if not 0 < port < 65536:
                raise ValueError(port)
        except ValueError:
            raise ConfigError("dns_server: %r is not an IP address, or address:port" % (config["dns_server"],))
    if not all(DNS_LABEL_RE.match(label) for label in str(config["dns_domain"]).rstrip(".").split(".")):
        raise ConfigError("dns_domain: %r is not a domain name (lower-case letters, digits, '-', dots)" % (
            config["dns_domain"],))
    for key, value in config["timeouts"].items():
        if not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError("timeouts.%s: %r is not a positive number" % (key, value))
    return config


DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def _skip_name(data, offset):
    """The offset after the (possibly compressed) name at offset."""
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def dns_query_a(server, port, name, timeout=3.0):
    """Ask SERVER:PORT over UDP for NAME's A records, without recursion, as a
    resolver asks an authoritative server: (rcode, authoritative, [addresses]);
    rcode "no answer (...)" when none came in time, "malformed answer" for one that
    cannot be read (the server is a cloud node: its answer is not trusted)."""
    qid = secrets.randbelow(65536)
    labels = [part.encode("ascii") for part in name.rstrip(".").split(".")]
    query = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l for l in labels) + \
        b"\0" + struct.pack(">HH", 1, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.settimeout(timeout)
            sock.connect((server, port))  # only that address's datagrams come back
            sock.send(query)
            deadline = time.monotonic() + timeout
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(4096)
                if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid and data[2] & 0x80:
                    break  # the answer to this query (a stray datagram is dropped)
        except OSError as exc:  # a timeout, or the port unreachable
            return "no answer (%s)" % (exc.strerror or exc or type(exc).__name__), False, []
    try:
        flags, qdcount, ancount = struct.unpack(">HHH", data[2:8])
        offset = 12
        for _ in range(qdcount):
            offset = _skip_name(data, offset) + 4
        addresses = []
        for _ in range(ancount):
            offset = _skip_name(data, offset)
            rtype, rclass, _ttl, length = struct.unpack(">HHIH", data[offset:offset + 10])
            offset += 10
            if rtype == 1 and rclass == 1 and length == 4:
                addresses.append(socket.inet_ntoa(data[offset:offset + 4]))
            offset += length
    except (IndexError, struct.error, OSError):
        return "malformed answer", False, []
    return DNS_RCODES.get(flags & 0xF, str(flags & 0xF)), bool(flags & 0x0400), addresses


def split_host_port(text, default_port):
    """'host', 'host:port', '[v6]:port' -> (host, port)."""
    text = str(text).strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def free_pool(cidr, gateway=None, exclude=()):
    """(first, last) of the longest run of host addresses of cidr outside the
    exclude ranges ([start, end] pairs or {start, end}) and the gateway."""
    net = ipaddress.ip_network(cidr, strict=False)
    taken = []
    for item in exclude or ():
        start, end = (item["start"], item["end"]) if isinstance(item, dict) else item
        taken.append((int(ipaddress.ip_address(start)), int(ipaddress.ip_address(end))))
    if gateway:
        taken.append((int(ipaddress.ip_address(gateway)),) * 2)
    first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    if net.prefixlen >= net.max_prefixlen - 1:
        first, last = int(net.network_address), int(net.broadcast_address)
    best, start = None, first
    for lo, hi in sorted(taken) + [(last + 1, last + 1)]:
        end = min(lo - 1, last)
        if end >= start and (best is None or end - start > best[1] - best[0]):
            best = (start, end)
        start = max(start, hi + 1)
    if best is None:
        raise ValueError("%s has no free addresses outside %s" % (cidr, exclude))
    return str(ipaddress.ip_address(best[0])), str(ipaddress.ip_address(best[1]))


def read_clouds_yaml(path, cloud):
    """The cloud's entry of clouds.yaml."""
    import yaml

    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    try:
        return data["clouds"][cloud]
    except (KeyError, TypeError):
        raise ConfigError("%s: no cloud %r" % (path, cloud))


def dashboard_url(entry, override=""):
    """Horizon's address: the override, or /horizon/ on the host of keystone's public URL."""
    if override:
        return override if override.endswith("/") else override + "/"
    host = urllib.parse.urlsplit(entry["auth"]["auth_url"]).hostname
    if ":" in host:
        host = "[%s]" % host
    return "http://%s/horizon/" % host


# --- results ---------------------------------------------------------------------


class Results:
    """Records checks in order; a check whose dependencies did not pass is skipped."""

    def __init__(self, secrets=()):
        self.checks = []
        self.secrets = [s for s in secrets if s]

    def redact(self, text):
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def get(self, name):
        for check in self.checks:
            if check["name"] == name:
                return check
        return None

    def passed(self, name):
        check = self.get(name)
        return bool(check and check["ok"])

    def record(self, name, ok, seconds, detail):
        entry = {"name": name, "ok": ok, "seconds": round(seconds, 1), "detail": self.redact(detail)}
        self.checks.append(entry)
        return entry

    def skip(self, name, reason):
        return self.record(name, None, 0.0, "skipped: " + reason)

    def unmet(self, needs):
        """Why a check needing these cannot run ('' when it can)."""
        problems = []
        for need in needs:
            check = self.get(need)
            if check is None:
                problems.append("%s (not run)" % need)
            elif check["ok"] is False:
                problems.append("%s (failed)" % need)
            elif check["ok"] is None:
                problems.append("%s (skipped)" % need)
        return ("needs " + ", ".join(problems)) if problems else ""

    def run(self, name, func, needs=(), enabled=True, why_disabled="disabled"):
        """Run func (its return value is the detail; CheckFailed or any error fails it)."""
        if not enabled:
            return self.skip(name, why_disabled)
        reason = self.unmet(needs)
        if reason:
            return self.skip(name, reason)
        start = time.monotonic()
        try:
            detail, ok = func(), True
        except CheckFailed as exc:
            detail, ok = str(exc), False
        except NotDeployed as exc:
            return self.skip(name, str(exc))
        except Exception as exc:  # any error is the check's failure, the run goes on
            detail, ok = "%s: %s" % (type(exc).__name__, exc), False
        return self.record(name, ok, time.monotonic() - start, detail or "")

    def summary(self):
        failed = [c["name"] for c in self.checks if c["ok"] is False]
        return {
            "ok": not failed,
            "failed": failed,
            "passed": sum(1 for c in self.checks if c["ok"] is True),
            "skipped": sum(1 for c in self.checks if c["ok"] is None),
            "checks": self.checks,
            "table": format_table(self.checks),
        }


def result_word(ok):
    return {True: "PASS", False: "FAIL"}.get(ok, "SKIP")


def one_line(text, width=DETAIL_WIDTH):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def format_table(checks, width=DETAIL_WIDTH):
    """Lines of a fixed-width table: check | result | seconds | detail."""
    rows = [("check", "result", "seconds", "detail")]
    rows += [(c["name"], result_word(c["ok"]), "%.1f" % c["seconds"], one_line(c["detail"], width))
             for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(row):
        return "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3]]).rstrip()

    return [line(rows[0]), "  ".join("-" * w for w in widths) + "  " + "-" * 6] + [line(r) for r in rows[1:]]


# --- what the guest prints --------------------------------------------------------


def guest_booted(console):
    """(booted, kernel version or None) from the guest's console log."""
    match = None
    for match in GUEST_BOOTED_RE.finditer(console or ""):
        pass
    return (match is not None, match.group(1) if match else None)


def guest_address(console):
    """The address/prefix the guest got by DHCP (None: not yet)."""
    found = GUEST_ADDRESS_RE.findall(console or "")
    return found[-1] if found else None


def guest_metadata(console):
    """The instance id the guest read from the metadata service; "unreachable" when it
    gave up; None: not yet."""
    found = GUEST_METADATA_RE.findall(console or "")
    return (found[-1][1] or "unreachable") if found else None


def console_token(url):
    """The token of a noVNC console URL: ?token=T, or as Nova writes it, ?path=%3Ftoken%3DT."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if query.get("token"):
        return query["token"][0]
    path = urllib.parse.urlsplit((query.get("path") or [""])[0])
    return (urllib.parse.parse_qs(path.query).get("token") or [""])[0]


def guest_disks(console):
    """Disk names of the guest's last 'disks' line (None: no such line yet)."""
    lines = GUEST_DISKS_RE.findall(console or "")
    return lines[-1].split() if lines else None


# --- Heat's stack ------------------------------------------------------------------


def stack_template(prefix, cidr, volume=False, server=None):
    """The HOT template of the stack check: a network, subnet and port, a wait condition
    handle (its token user lives in Heat's stack domain), a 1 GiB volume when volume,
    a server on the port when server is (image id, flavor id). Every name is
    PREFIX-stack-*; the outputs name what was made."""
    def name(what):
        return "%s-stack-%s" % (prefix, what)

    resources = {
        "net": {"type": "OS::Neutron::Net", "properties": {"name": name("net")}},
        "subnet": {"type": "OS::Neutron::Subnet",
                   "properties": {"name": name("subnet"), "network": {"get_resource": "net"}, "cidr": cidr}},
        "port": {"type": "OS::Neutron::Port",
                 "properties": {"name": name("port"), "network": {"get_resource": "net"},
                                "fixed_ips": [{"subnet": {"get_resource": "subnet"}}]}},
        "handle": {"type": "OS::Heat::WaitConditionHandle"},
    }
    outputs = {
        "network_id": {"value": {"get_resource": "net"}},
        "subnet_cidr": {"value": {"get_attr": ["subnet", "cidr"]}},
        "port_id": {"value": {"get_resource": "port"}},
        "port_ip": {"value": {"get_attr": ["port", "fixed_ips", 0, "ip_address"]}},
        "signal_endpoint": {"value": {"get_attr": ["handle", "endpoint"]}},
    }
    if volume:
        resources["volume"] = {"type": "OS::Cinder::Volume", "properties": {"name": name("volume"), "size": 1}}
        outputs["volume_id"] = {"value": {"get_resource": "volume"}}
        outputs["volume_size"] = {"value": {"get_attr": ["volume", "size"]}}
    if server:
        image, flavor = server
        resources["server"] = {"type": "OS::Nova::Server",
                               "properties": {"name": name("server"), "image": image, "flavor": flavor,
                                              "networks": [{"port": {"get_resource": "port"}}]}}
        outputs["server_id"] = {"value": {"get_resource": "server"}}
    return {"heat_template_version": "2018-08-31", "description": "validate.yml's stack check",
            "resources": resources, "outputs": outputs}


def lookup(find, ident):
    """find(ident), None for an empty ident (a missing output)."""
    return find(ident) if ident else None


def stack_outputs(stack):
    """{key: value} of a stack's outputs."""
    return {o["output_key"]: o.get("output_value") for o in (getattr(stack, "outputs", None) or [])}


# --- leftovers -------------------------------------------------------------------


def is_ours(name, prefix):
    return bool(name) and (name == prefix or name.startswith(prefix + "-"))


def leftovers(resources, prefix, project_id=None, owner_attr="project_id"):
    """The resources named PREFIX or PREFIX-*, of project_id when given."""
    found = []
    for res in resources:
        if not is_ours(getattr(res, "name", None), prefix):
            continue
        if project_id and getattr(res, owner_attr, None) not in (None, project_id):
            continue
        found.append(res)
    return found


def short_host(name):
    return (name or "").split(".")[0].lower()


def transient_retry(func, attempts=4, delay=3):
    """func(), again after a dropped connection (an API worker being recycled under load)."""
    for attempt in range(attempts):
        try:
            return func()
        except Exception as exc:
            dropped = type(exc).__name__ in ("ConnectFailure", "ConnectionError", "ConnectTimeout") or \
                "Connection reset" in str(exc) or "Connection aborted" in str(exc)
            if not dropped or attempt == attempts - 1:
                raise
            time.sleep(delay)


def wait_until(predicate, timeout, interval=5, what="condition"):
    """Call predicate until it returns a true value (returned) or timeout passes (CheckFailed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CheckFailed("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(min(interval, max(0.1, deadline - time.monotonic())))


# --- the checks ------------------------------------------------------------------


class Validator:
    def __init__(self, config, results, entry):
        self.config = config
        self.results = results
        self.entry = entry
        self.prefix = config["prefix"]
        self.timeouts = config["timeouts"]
        self.conn = None
        self.project_id = None
        self.made = {}
        self.work_dir = config["work_dir"] or tempfile.mkdtemp(prefix="validate-")
        # Zaqar's clients name themselves (a UUID) in every request
        self.client_id = str(uuid.uuid4())

    def name(self, what):
        return "%s-%s" % (self.prefix, what)

    # (1) token
    def make_connection(self):
        """An openstacksdk connection from this clouds.yaml only (no environment, no other files)."""
        from openstack import config as os_config
        from openstack import connection

        loader = os_config.OpenStackConfig(config_files=[self.config["clouds_yaml"]], vendor_files=[],
                                           secure_files=[], load_envvars=False)
        region = loader.get_one(self.config["cloud"], api_timeout=self.timeouts["api"])
        return connection.Connection(config=region)

    def connect(self):
        self.conn = self.make_connection()
        self.conn.authorize()
        self.project_id = self.conn.current_project_id
        services = self._catalog()
        return "token for %s in project %s; %d services in the catalog" % (
            self.entry["auth"].get("username"), self.entry["auth"].get("project_name"), len(services))

    def _catalog(self):
        access = self.conn.session.auth.get_access(self.conn.session)
        return access.service_catalog.catalog or []

    # (2) catalog
    def catalog(self):
        import requests

        endpoints = {}
        for service in self._catalog():
            for ep in service.get("endpoints", []):
                if ep.get("interface") not in self.config["catalog_interfaces"]:
                    continue
                label = "%s %s" % (service.get("name") or service.get("type"), ep.get("interface"))
                endpoints.setdefault(ep["url"], []).append(label)
        if not endpoints:
            raise CheckFailed("the catalog has no endpoints")

        def probe(url):
            try:
                resp = requests.get(url, timeout=self.timeouts["http"], allow_redirects=False)
                return resp.status_code, None
            except requests.RequestException as exc:
                return None, type(exc).__name__

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            answers = dict(zip(endpoints, pool.map(probe, endpoints)))
        bad = []
        for url, (status, error) in sorted(answers.items()):
            if status is None or status >= 500:
                bad.append("%s %s: %s" % ("/".join(endpoints[url]), url, error or "HTTP %d" % status))
        if bad:
            raise CheckFailed("%d of %d endpoints fail: %s" % (len(bad), len(answers), "; ".join(bad)))
        labels = sum(len(v) for v in endpoints.values())
        return "%d endpoints (%d URLs) answer" % (labels, len(answers))

    # (3) compute services and network agents
    def _expected_computes(self):
        return sorted({short_host(h) for h in self.config["compute_hosts"]})

    def compute_services(self):
        expected = self._expected_computes()
        state = {}

        def ready():
            services = list(self.conn.compute.services())
            problems = []
            computes = {short_host(s.host): s for s in services if s.binary == "nova-compute"}
            for host in expected:
                svc = computes.get(host)
                if svc is None:
                    problems.append("no nova-compute on %s" % host)
            if not computes:
                problems.append("no nova-compute at all")
            for svc in services:
                if svc.status == "enabled" and svc.state != "up":
                    problems.append("%s on %s is %s" % (svc.binary, svc.host, svc.state))
                elif svc.binary == "nova-compute" and short_host(svc.host) in expected and svc.status != "enabled":
                    problems.append("nova-compute on %s is disabled" % svc.host)
            state["problems"], state["services"] = problems, services
            return not problems

        try:
            wait_until(ready, self.timeouts["services"], 10, "compute services")
        except CheckFailed:
            raise CheckFailed("; ".join(state["problems"]))
        services = state["services"]
        hosts = sorted(s.host for s in services if s.binary == "nova-compute")
        return "nova-compute up on %s; %d services up" % (", ".join(hosts), len(services))

    def network_agents(self):
        # ML2/OVN: every chassis (a host running neutron_agent) shows an OVN controller and a
        # metadata agent; OVN itself does DHCP and routing.
        expected = sorted({short_host(h) for h in self.config["chassis_hosts"]})
        state = {}

        def ready():
            agents = list(self.conn.network.agents())
            problems = []
            for host in expected:
                for kinds, what in ((OVN_CONTROLLERS, "OVN controller"), (("OVN Metadata agent",), "OVN metadata agent")):
                    if not any(a.agent_type in kinds and a.is_alive and short_host(a.host) == host for a in agents):
                        problems.append("no live %s on %s" % (what, host))
            for agent in agents:
                if not agent.is_alive:
                    problems.append("%s on %s is dead" % (agent.agent_type, agent.host))
                elif not agent.is_admin_state_up:
                    problems.append("%s on %s is administratively down" % (agent.agent_type, agent.host))
            # a booted guest's router needs a gateway chassis
            if self.config["boot_server"] and not any(
                    a.agent_type == "OVN Controller Gateway agent" and a.is_alive for a in agents):
                problems.append("no live OVN gateway chassis")
            state["problems"], state["agents"] = problems, agents
            return not problems

        try:
            wait_until(ready, self.timeouts["services"], 10, "network agents")
        except CheckFailed:
            raise CheckFailed("; ".join(state["problems"]))
        kinds = {}
        for agent in state["agents"]:
            kinds[agent.agent_type] = kinds.get(agent.agent_type, 0) + 1
        if not kinds:
            return "no chassis in this cloud (no host runs neutron_agent): OVN central and the API only"
        return "alive: " + ", ".join("%d %s" % (n, k) for k, n in sorted(kinds.items()))

    # (4) image
    def _upload(self, what, path, disk_format, container_format, **properties):
        image = self.conn.image.create_image(
            self.name(what), filename=path, disk_format=disk_format, container_format=container_format,
            disable_vendor_agent=False, allow_duplicates=True, validate_checksum=True,
            wait=True, timeout=self.timeouts["image"], **properties)
        image = self.conn.image.get_image(image.id)
        if image.status != "active":
            raise CheckFailed("%s is %s, not active" % (image.name, image.status))
        return image

    def _raw_disk(self):
        path = os.path.join(self.work_dir, "%s-disk.raw" % self.prefix)
        with open(path, "wb") as fh:
            fh.truncate(RAW_IMAGE_BYTES)
        return path

    def image(self):
        if not self.config["boot_server"]:
            path = self._raw_disk()
            image = self._upload("raw", path, "raw", "bare")
            # stored, not just accepted: what comes back is what went in
            data = self.conn.image.download_image(image)
            data = getattr(data, "content", data)
            if hashlib.sha256(data).hexdigest() != hashlib.sha256(b"\0" * RAW_IMAGE_BYTES).hexdigest():
                raise CheckFailed("%s: the downloaded data differs from the upload (%d bytes)" % (image.name, len(data)))
            self.made["image"] = image
            return "%s active, %d bytes stored and read back" % (image.name, len(data))
        guest = self.config["guest"]
        with open(guest["cmdline"]) as fh:
            cmdline = fh.read().strip()
        kernel = self._upload("kernel", guest["kernel"], "aki", "aki")
        ramdisk = self._upload("ramdisk", guest["ramdisk"], "ari", "ari")
        disk = self._upload("disk", self._raw_disk(), "ami", "ami", kernel_id=kernel.id, ramdisk_id=ramdisk.id,
                            os_command_line=cmdline)
        self.made["image"] = disk
        return "%s (kernel %s, ramdisk %s) active; command line %r" % (disk.name, kernel.name, ramdisk.name, cmdline)

    # (5) flavor, networks, router, security group
    def flavor(self):
        spec = self.config["flavor"]
        flavor = self.conn.compute.create_flavor(name=self.name("flavor"), vcpus=spec["vcpus"], ram=spec["ram"],
                                                 disk=spec["disk"], is_public=True)
        self.made["flavor"] = flavor
        return "%s: %d vCPU, %d MiB, %d GiB" % (flavor.name, spec["vcpus"], spec["ram"], spec["disk"])

    def network(self):
        spec = self.config["tenant_network"]
        net = self.conn.network.create_network(name=self.name("net"), provider_network_type=spec["network_type"])
        self.made["network"] = net
        subnet = self.conn.network.create_subnet(name=self.name("subnet"), network_id=net.id, ip_version=4,
                                                 cidr=spec["cidr"], enable_dhcp=True)
        self.made["subnet"] = subnet
        net = self.conn.network.get_network(net.id)
        return "%s (%s %s) subnet %s" % (
            net.name, net.provider_network_type, net.provider_segmentation_id, subnet.cidr)

    def external_network(self):
        spec = self.config["external"]
        if not spec.get("cidr"):
            raise CheckFailed("no external network CIDR in the config")
        # one flat network per physical network: reuse the operator's, if there is one
        for net in self.conn.network.networks(is_router_external=True):
            if (net.provider_physical_network == spec["physical_network"]
                    and net.provider_network_type == spec["network_type"] and net.subnet_ids):
                self.made["external"] = net
                return "reusing the existing external network %s on %s" % (net.name, spec["physical_network"])
        if spec.get("pool"):
            first, last = spec["pool"]["start"], spec["pool"]["end"]
        else:
            first, last = free_pool(spec["cidr"], spec.get("gateway"), spec.get("exclude"))
        net = self.conn.network.create_network(
            name=self.name("external"), is_router_external=True, provider_network_type=spec["network_type"],
            provider_physical_network=spec["physical_network"])
        self.made["external"] = net
        attrs = dict(name=self.name("external-subnet"), network_id=net.id, ip_version=4, cidr=spec["cidr"],
                     enable_dhcp=False, allocation_pools=[{"start": first, "end": last}])
        if spec.get("gateway"):
            attrs["gateway_ip"] = spec["gateway"]
        else:
            attrs["gateway_ip"] = None
        subnet = self.conn.network.create_subnet(**attrs)
        return "%s (%s %s) subnet %s, pool %s-%s, gateway %s" % (
            net.name, spec["network_type"], spec["physical_network"], subnet.cidr, first, last,
            spec.get("gateway") or "none")

    def router(self):
        ext, subnet = self.made["external"], self.made["subnet"]
        router = self.conn.network.create_router(name=self.name("router"),
                                                 external_gateway_info={"network_id": ext.id})
        self.made["router"] = router
        self.conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        router = self.conn.network.get_router(router.id)
        ips = [ip["ip_address"] for ip in (router.external_gateway_info or {}).get("external_fixed_ips", [])]
        if not ips:
            raise CheckFailed("%s has no address on %s" % (router.name, ext.name))

        def ports():
            found = list(self.conn.network.ports(device_id=router.id))
            return found if all(p.status == "ACTIVE" for p in found) else None

        detail = "%s: gateway %s on %s, interface on %s" % (router.name, ", ".join(ips), ext.name, subnet.cidr)
        # a guest behind it needs the L3 agent to have plugged the ports
        if self.config["boot_server"]:
            wait_until(ports, self.timeouts["services"], 5, "the router's ports to be ACTIVE")
            detail += "; ports ACTIVE"
        return detail

    def security_group(self):
        group = self.conn.network.create_security_group(name=self.name("sg"),
                                                        description="stackwright validate: ICMP and SSH")
        self.made["security_group"] = group
        self.conn.network.create_security_group_rule(security_group_id=group.id, direction="ingress",
                                                     ethertype="IPv4", protocol="icmp")
        self.conn.network.create_security_group_rule(security_group_id=group.id, direction="ingress",
                                                     ethertype="IPv4", protocol="tcp", port_range_min=22,
                                                     port_range_max=22)
        return "%s: ingress ICMP and TCP 22" % group.name

    # (6) server
    def _console(self, server):
        return self.conn.compute.get_server_console_output(server).get("output") or ""

    def server(self):
        deadline = time.monotonic() + self.timeouts["server"]
        server = self.conn.compute.create_server(
            name=self.name("server"), image_id=self.made["image"].id, flavor_id=self.made["flavor"].id,
            networks=[{"uuid": self.made["network"].id}], security_groups=[{"name": self.made["security_group"].name}])
        self.made["server"] = server
        start = time.monotonic()
        try:
            server = self.conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], interval=5,
                                                       wait=self.timeouts["server"])
        except Exception as exc:
            fault = (self.conn.compute.get_server(server.id).fault or {}).get("message", "")
            raise CheckFailed("%s did not become ACTIVE: %s%s" % (server.name, exc, " (%s)" % fault if fault else ""))
        self.made["server"] = server
        active_after = time.monotonic() - start
        host = server.compute_host or server.hypervisor_hostname or "?"

        def booted():
            ok, kernel = guest_booted(self._console(server))
            return (kernel or "?") if ok else None

        try:
            kernel = wait_until(booted, max(1, deadline - time.monotonic()), 10, "the guest's boot line on the console")
        except CheckFailed as exc:
            tail = one_line(self._console(server)[-300:], 300)
            raise CheckFailed("%s ACTIVE on %s, but %s; console ends: %s" % (server.name, host, exc, tail))
        detail = "%s ACTIVE on %s after %.0fs; guest booted kernel %s after %.0fs" % (
            server.name, host, active_after, kernel, time.monotonic() - start)
        return detail

    def guest_network(self):
        """What a cloud image needs after its boot: its port's address by DHCP, then the
        metadata service (the guest asks for both once it booted)."""
        server = self.made["server"]
        host = server.compute_host or server.hypervisor_hostname or "?"
        wait = min(120, self.timeouts["server"])
        try:
            address = wait_until(lambda: guest_address(self._console(server)), wait, 5, "DHCP")
        except CheckFailed:
            raise CheckFailed("no DHCP answer on eth0 within %d s (OVN's DHCP for the subnet, the guest's port on %s)"
                              % (wait, host))
        fixed = [ip["ip_address"] for port in self.conn.network.ports(device_id=server.id)
                 for ip in (port.fixed_ips or [])]
        if address.split("/")[0] not in fixed:
            raise CheckFailed("DHCP gave eth0 %s, not its port's address %s" % (address, ", ".join(fixed) or "none"))
        try:
            seen = wait_until(lambda: guest_metadata(self._console(server)), wait, 5, "the metadata service")
        except CheckFailed:
            seen = None
        if seen != server.id:
            raise CheckFailed("eth0 %s; the metadata service (169.254.169.254) %s" % (
                address, "gave instance %s" % seen if seen not in (None, "unreachable") else
                "did not answer the guest (OVN's metadata agent on %s)" % host))
        return "eth0 %s by DHCP; the metadata service gave the server's id" % address

    def console(self):
        """noVNC as a user opens it: Nova's console URL, its page, then the websocket with
        the URL's token: the proxy checks the token and connects to the guest's VNC
        server, whose first bytes (RFB) come back through it."""
        server = self.made["server"]
        console = self.conn.compute.create_server_remote_console(server, protocol="vnc", type="novnc")
        url = urllib.parse.urlsplit(console.url)
        token = console_token(console.url)
        if url.scheme != "http" or not token:
            raise CheckFailed("Nova's console URL has %s: %s" % ("no token" if not token else "scheme " + url.scheme,
                                                                 url._replace(query="").geturl()))
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=self.timeouts["http"])
        try:
            conn.request("GET", url.path)
            resp = conn.getresponse()
            page = resp.read(65536)
            if resp.status != 200 or b"noVNC" not in page:
                raise CheckFailed("%s answered %d%s" % (url._replace(query="").geturl(), resp.status,
                                                        "" if resp.status != 200 else ", not noVNC's page"))
        finally:
            conn.close()
        key = base64.b64encode(os.urandom(16)).decode()
        sock = socket.create_connection((url.hostname, url.port or 80), timeout=self.timeouts["http"])
        try:
            sock.sendall(("GET /websockify?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: binary\r\n\r\n" % (urllib.parse.quote(token), url.netloc, key)
                          ).encode())
            reply = b""
            while b"\r\n\r\n" not in reply and len(reply) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
            head, _, rest = reply.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            if " 101 " not in status + " ":
                raise CheckFailed("the console's websocket was refused: %s" % one_line(status, 120))
            while len(rest) < 2 + 4:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
        finally:
            sock.close()
        # one unmasked binary frame from the server: 0x82, a short length, the payload
        payload = rest[2:] if len(rest) >= 2 and rest[1] < 126 else b""
        if not payload.startswith(b"RFB "):
            raise CheckFailed("the console's websocket opened, but the guest's VNC server did not greet (got %r)"
                              % rest[:24])
        return "%s: noVNC's page, then the guest's VNC server through the proxy (%s)" % (
            url.netloc, payload[:12].decode(errors="replace").strip())

    # (7) volume
    def volume(self):
        start = time.monotonic()
        volume = self.conn.block_storage.create_volume(name=self.name("volume"), size=1)
        self.made["volume"] = volume
        volume = self.conn.block_storage.wait_for_status(volume, "available", failures=["error"], interval=3,
                                                         wait=self.timeouts["volume"])
        detail = "%s available after %.0fs" % (volume.name, time.monotonic() - start)
        server = self.made.get("server")
        if not self.config["boot_server"] or server is None:
            return detail + "; not attached: no server booted"
        self.conn.compute.create_volume_attachment(server, volume=volume.id)
        # Nova reserves the volume before it answers: "available" again means the attach
        # failed on the compute host (its nova-compute log says why)
        volume = self.conn.block_storage.wait_for_status(volume, "in-use",
                                                         failures=["error", "error_attaching", "available"],
                                                         interval=3, wait=self.timeouts["volume"])
        detail += ", in-use after %.0fs" % (time.monotonic() - start)

        def seen():
            disks = guest_disks(self._console(server))
            return disks if disks and "vdb" in disks else None

        disks = wait_until(seen, self.timeouts["volume"], 5, "the guest to list vdb on its console")
        return detail + "; the guest sees disks %s" % " ".join(disks)

    # (7b) a snapshot of the volume and a volume made from it, as users keep and restore
    # their data; both deleted again (Cinder keeps a volume that has snapshots)
    def snapshot(self):
        bs, wait, volume = self.conn.block_storage, self.timeouts["volume"], self.made["volume"]
        start = time.monotonic()
        # forced: the volume is attached where a server booted (Cinder snapshots it as it stands)
        snap = bs.create_snapshot(volume_id=volume.id, name=self.name("snapshot"), is_forced=True)
        self.made["snapshot"] = snap
        snap = bs.wait_for_status(snap, "available", failures=["error"], interval=3, wait=wait)
        detail = "%s available after %.0fs" % (snap.name, time.monotonic() - start)
        restored = bs.create_volume(name=self.name("restored"), size=volume.size or 1, snapshot_id=snap.id)
        self.made["restored"] = restored
        restored = bs.wait_for_status(restored, "available", failures=["error"], interval=3, wait=wait)
        if restored.snapshot_id != snap.id:
            raise CheckFailed("%s is available but was not made from %s (its snapshot: %s)" % (
                restored.name, snap.name, restored.snapshot_id))
        detail += ", %s made from it available after %.0fs" % (restored.name, time.monotonic() - start)
        bs.delete_volume(restored)
        bs.wait_for_delete(restored, interval=3, wait=wait)
        bs.delete_snapshot(snap)
        bs.wait_for_delete(snap, interval=3, wait=wait)
        return detail + "; both deleted"

    # (7c) a backup of the volume (cinder-backup) restored into a new volume; both
    # deleted again
    def backup(self):
        bs, wait = self.conn.block_storage, self.timeouts["backup"]
        if not any(s.binary == "cinder-backup" for s in bs.services()):
            raise NotDeployed("no cinder-backup in the cloud (cinder_backup is in no server role)")
        volume, start = self.made["volume"], time.monotonic()
        # forced: the volume is attached where a server booted
        made = bs.create_backup(volume_id=volume.id, name=self.name("backup"), force=True)
        self.made["backup"] = made
        made = bs.wait_for_status(made, "available", failures=["error"], interval=5, wait=wait)
        detail = "%s available after %.0fs" % (made.name, time.monotonic() - start)
        # the restore's answer names the volume it makes
        restored = bs.get_volume(bs.restore_backup(made, name=self.name("from-backup")).volume_id)
        restored = bs.wait_for_status(restored, "available", failures=["error", "error_restoring"], interval=5,
                                      wait=wait)
        detail += ", restored into %s after %.0fs" % (restored.name, time.monotonic() - start)
        bs.delete_volume(restored)
        bs.wait_for_delete(restored, interval=3, wait=self.timeouts["delete"])
        # back to available once the restore is done
        made = bs.wait_for_status(made, "available", failures=["error"], interval=3, wait=wait)
        bs.delete_backup(made)
        bs.wait_for_delete(made, interval=3, wait=self.timeouts["delete"])
        return detail + "; both deleted"

    def _in_catalog(self, service_type):
        return any(s.get("type") == service_type for s in self._catalog())

    def _deployed(self, service_type, role):
        if not self._in_catalog(service_type):
            raise NotDeployed("no %s in the catalog (%s is in no server role)" % (service_type, role))

    # (8) Barbican: a secret stored and read back
    def secret(self):
        self._deployed("key-manager", "barbican")
        km = self.conn.key_manager
        # a text secret, as users store passwords: an octet-stream payload came back 95
        # bytes for 64 through openstacksdk against Barbican 20 (Molecule overcloud)
        payload = base64.urlsafe_b64encode(os.urandom(48)).decode()
        made = km.create_secret(name=self.name("secret"), secret_type="opaque", payload=payload,
                                payload_content_type="text/plain")
        self.made["secret"] = made
        # the payload as any client reads it: GET secrets/<id>/payload (openstacksdk's
        # get_secret gave back nothing for it against Barbican 20)
        secret_id = barbican_id(made)
        # GETs again after a reset: uWSGI closes a connection after a body-less answer (the
        # DELETE's 204) that the client's pool then reuses (Molecule overcloud)
        answer = transient_retry(lambda: km.get("secrets/%s/payload" % secret_id, headers={"Accept": "text/plain"}))
        data = answer.content.decode("utf-8", "replace")
        if data != payload:
            raise CheckFailed("%s: the payload read back (%d characters) differs from the one stored (%d)" % (
                self.name("secret"), len(data or ""), len(payload)))
        delete_secret(km, made)
        if transient_retry(lambda: km.get("secrets/%s" % secret_id, raise_exc=False)).status_code != 404:
            raise CheckFailed("%s: still there after its delete" % self.name("secret"))
        # what users other than admin need to store secrets (Barbican's policy)
        if self.conn.identity.find_role("creator") is None:
            raise CheckFailed("the secret round trip passed, but Keystone has no role creator for Barbican's users")
        return "%s: %d random characters stored, read back exactly, deleted; role creator present" % (
            self.name("secret"), len(payload))

    # (9) Heat: a stack created, its outputs checked, deleted with its resources
    def stack(self):
        self._deployed("orchestration", "heat")
        orch = self.conn.orchestration
        cidr = self.config["stack_network"]["cidr"]
        boot, vol = self.config["boot_server"], self.config["volume"]
        server = (self.made["image"].id, self.made["flavor"].id) if boot else None
        template = stack_template(self.prefix, cidr, volume=vol, server=server)
        stack = orch.create_stack(name=self.name("stack"), template=template,
                                  timeout_mins=max(1, self.timeouts["stack"] // 60))
        self.made["stack"] = stack
        start = time.monotonic()
        try:
            orch.wait_for_status(stack, "CREATE_COMPLETE", failures=["CREATE_FAILED"], interval=5,
                                 wait=self.timeouts["stack"])
        except Exception as exc:
            reason = getattr(self._stack_now(stack), "status_reason", None)
            raise CheckFailed("%s did not reach CREATE_COMPLETE: %s" % (self.name("stack"), reason or one_line(exc)))
        created = time.monotonic() - start
        outputs = stack_outputs(orch.get_stack(stack))
        made = self._stack_resources(outputs, cidr, boot, vol)
        domain_projects = self._stack_domain_projects(stack.id)
        if not domain_projects:
            raise CheckFailed("no project for %s in Heat's stack domain %s (its wait condition handle's user)" % (
                self.name("stack"), self.config["stack_domain"]))
        orch.delete_stack(stack)
        self._wait_stack_deleted(stack)
        left = [what for what, gone in made if not gone()]
        if self._stack_domain_projects(stack.id):
            left.append("its project in the stack domain")
        if left:
            raise CheckFailed("%s deleted, but left behind: %s" % (self.name("stack"), ", ".join(left)))
        return "%s CREATE_COMPLETE in %.0fs (%s; outputs match); deleted with all of them" % (
            self.name("stack"), created, ", ".join(what for what, _ in made))

    # (10) Designate: a zone and its record, answered by BIND; gone after the delete
    def zone(self):
        self._deployed("dns", "designate")
        label = self.prefix.lower()
        if not DNS_LABEL_RE.match(label + "-zone"):
            raise CheckFailed("prefix %r cannot start a DNS name (letters, digits, '-'): set another for this check"
                              % self.prefix)
        dns = self.conn.dns
        domain = self.config["dns_domain"].rstrip(".")
        zone_name = "%s-zone.%s." % (label, domain)
        host, port = self._dns_server()
        zone = dns.create_zone(name=zone_name, email="hostmaster@%s" % domain, ttl=300, type="PRIMARY")
        self.made["zone"] = zone
        start = time.monotonic()
        self._wait_active(lambda: dns.get_zone(zone), "zone %s" % zone_name)
        record, address = "www." + zone_name, "192.0.2.%d" % (10 + secrets.randbelow(200))
        recordset = dns.create_recordset(zone, name=record, type="A", records=[address], ttl=300)
        self._wait_active(lambda: dns.get_recordset(recordset, zone), "recordset %s" % record)
        active = time.monotonic() - start

        def answered():
            rcode, authoritative, found = dns_query_a(host, port, record)
            return (rcode, authoritative, found) if rcode == "NOERROR" and address in found else None
        try:
            _, authoritative, _ = wait_until(answered, self.timeouts["zone"], 2, "%s:%d to answer %s" % (host, port, record))
        except CheckFailed:
            rcode, _, found = dns_query_a(host, port, record)
            raise CheckFailed("%s is ACTIVE in Designate, but the DNS server %s:%d gives %s for %s (wanted A %s)"
                              % (zone_name, host, port, "%s %s" % (rcode, found) if found else rcode, record, address))
        if not authoritative:
            raise CheckFailed("%s:%d answered %s, but not as the zone's authority" % (host, port, record))
        published = self._published_port(zone, zone_name, host, port)
        self._delete_zone(zone)

        def forgotten():
            rcode, _, found = dns_query_a(host, port, record)
            return rcode if address not in found else None
        try:
            rcode = wait_until(forgotten, self.timeouts["zone"], 2, "%s:%d to forget %s" % (host, port, zone_name))
        except CheckFailed:
            raise CheckFailed("%s deleted in Designate, but %s:%d still answers %s with %s" % (
                zone_name, host, port, record, address))
        return "%s ACTIVE in %.0fs; %s:%d answers %s A %s (authoritative); %s; deleted, it answers %s" % (
            zone_name, active, host, port, record, address, published, rcode)

    def _published_port(self, zone, zone_name, host, port):
        """Neutron's DNS integration: a port named on a network whose dns_domain is the
        zone is published by Neutron in Designate and answered by the DNS server; its
        record goes with it."""
        net_api, dns = self.conn.network, self.conn.dns
        if not any(e.alias == "subnet-dns-publish-fixed-ip" for e in net_api.extensions()):
            raise CheckFailed("Neutron has no DNS integration with Designate (no extension subnet-dns-publish-fixed-ip)")
        net = net_api.create_network(name=self.name("dns-net"), dns_domain=zone_name)
        net_api.create_subnet(name=self.name("dns-subnet"), network_id=net.id, ip_version=4, enable_dhcp=False,
                              cidr=self.config["dns_network"]["cidr"], dns_publish_fixed_ip=True)
        hostname = "%s-port" % self.prefix.lower()
        made = net_api.create_port(network_id=net.id, name=self.name("dns-port"), dns_name=hostname)
        address, fqdn = made.fixed_ips[0]["ip_address"], "%s.%s" % (hostname, zone_name)

        def published():
            found = [r for r in dns.recordsets(zone) if r.name == fqdn and r.type == "A"]
            return found[0] if found else None

        recordset = wait_until(published, self.timeouts["zone"], 2,
                               "Neutron to publish port %s as %s in Designate" % (made.name, fqdn))
        if list(recordset.records or []) != [address]:
            raise CheckFailed("Neutron published %s as %s, not the port's %s" % (fqdn, recordset.records, address))
        wait_until(lambda: address in dns_query_a(host, port, fqdn)[2], self.timeouts["zone"], 2,
                   "%s:%d to answer %s (the port Neutron published)" % (host, port, fqdn))
        serial = dns.get_zone(zone).serial or 0
        net_api.delete_port(made)
        wait_until(lambda: published() is None, self.timeouts["zone"], 2,
                   "Neutron to remove %s from Designate with its port" % fqdn)

        # Designate applies a record's removal later: its producer raises the zone's serial
        # (the zone stays ACTIVE until then), then the worker updates BIND. A zone deleted
        # before that update is added back to BIND by it, from the file delzone left, and
        # answers for good (Molecule overcloud): delete it only once the update is done.
        def updated():
            shown = dns.get_zone(zone)
            return shown if (shown.serial or 0) > serial and shown.status == "ACTIVE" else None
        wait_until(updated, self.timeouts["zone"], 2, "Designate to update zone %s in the DNS server after the "
                   "port's record went (serial above %d, ACTIVE)" % (zone_name, serial))
        net_api.delete_network(net)
        return "Neutron published port %s as %s A %s, answered; gone with the port" % (made.name, fqdn, address)

    # (11) Swift: an object stored and read back byte for byte, then deleted
    def object(self):
        self._deployed("object-store", "swift_proxy")
        store = self.conn.object_store
        container = store.create_container(name=self.name("objects"))
        self.made["container"] = container
        data = os.urandom(256 * 1024)
        name = self.name("object")
        store.upload_object(container=container.name, name=name, data=data)
        back = store.download_object(name, container=container.name)
        if back != data:
            raise CheckFailed("%s/%s: %d bytes read back differ from the %d written" % (
                container.name, name, len(back or b""), len(data)))
        etag = store.get_object_metadata(name, container=container.name).etag
        if etag != hashlib.md5(data).hexdigest():
            raise CheckFailed("%s/%s: the proxy's ETag %s is not the MD5 of what was written" % (container.name, name, etag))
        self._delete_container(container)
        return "%s/%s: %d random bytes written, read back exactly, deleted with the container" % (
            container.name, name, len(data))

    # (12) Telemetry: the image's size measured into Gnocchi; an Aodh alarm on it evaluated
    def telemetry(self):
        self._deployed("metric", "gnocchi")
        image = self.made["image"]
        resource, measures = {}, []

        def measured():
            answer = self._api("metric", "GET", "/v1/resource/image/%s" % image.id)
            if answer.status_code == 404:
                return None
            resource.update(self._json(answer, "Gnocchi's resource for the image"))
            metric = (resource.get("metrics") or {}).get("image.size")
            if not metric:
                return None
            answer = self._api("metric", "GET", "/v1/metric/%s/measures?refresh=true" % metric)
            measures[:] = self._json(answer, "the measures of image.size")
            return measures or None

        start = time.monotonic()
        wait_until(measured, self.timeouts["telemetry"], 10, "Gnocchi to have measures of image.size for %s" % image.name)
        sizes = {m[2] for m in measures}
        if sizes != {float(image.size)}:
            raise CheckFailed("image.size of %s in Gnocchi is %s, not its %d bytes" % (
                image.name, ", ".join("%g" % v for v in sorted(sizes)), image.size))
        detail = "image.size of %s measured (%d bytes, %d point(s)) after %.0fs" % (
            image.name, image.size, len(measures), time.monotonic() - start)
        detail += self._ended_on_delete()
        if not self._in_catalog("alarming"):
            return detail + "; no alarming in the catalog"
        granularity = int(measures[-1][1])
        answer = self._api("alarming", "POST", "/v2/alarms", json={
            "name": self.name("alarm"), "type": "gnocchi_resources_threshold",
            "gnocchi_resources_threshold_rule": {
                "metric": "image.size", "resource_type": "image", "resource_id": image.id,
                "aggregation_method": "mean", "granularity": granularity, "evaluation_periods": 1,
                "comparison_operator": "gt", "threshold": 1}})
        alarm = Alarm(self._json(answer, "the alarm created"))
        self.made["alarm"] = alarm
        start = time.monotonic()

        def evaluated():
            state = self._json(self._api("alarming", "GET", "/v2/alarms/%s" % alarm["alarm_id"]), "the alarm")["state"]
            return state if state != "insufficient data" else None

        state = wait_until(evaluated, self.timeouts["alarm"], 5, "Aodh to evaluate alarm %s" % alarm["name"])
        if state != "alarm":
            raise CheckFailed("alarm %s (image.size > 1) is %s, not alarm" % (alarm["name"], state))
        self._delete_alarm(alarm)
        return detail + "; alarm %s (image.size > 1) went from insufficient data to alarm in %.0fs, deleted" % (
            alarm["name"], time.monotonic() - start)

    def _ended_on_delete(self):
        """A deleted image's resource is ended in Gnocchi: only the services' notifications
        (Glance's image.delete, through Ceilometer's event pipeline) do that, not polling."""
        path = os.path.join(self.work_dir, "%s-events.raw" % self.prefix)
        with open(path, "wb") as fh:
            fh.write(os.urandom(4096))
        try:
            image = self._upload("events-image", path, "raw", "bare")
        finally:
            os.unlink(path)
        wait = self.timeouts["notification"]

        def resource():
            answer = self._api("metric", "GET", "/v1/resource/image/%s" % image.id)
            return None if answer.status_code == 404 else self._json(answer, "Gnocchi's resource for %s" % image.name)

        start = time.monotonic()
        wait_until(resource, wait, 3, "Gnocchi to know image %s (Glance's notification of its upload)" % image.name)
        known = time.monotonic() - start
        self.conn.image.delete_image(image)
        start = time.monotonic()
        wait_until(lambda: (resource() or {}).get("ended_at"), wait, 3,
                   "Gnocchi to end the resource of deleted image %s (Glance's notification of the delete, "
                   "through Ceilometer's event pipeline)" % image.name)
        return "; image %s known to Gnocchi %.0fs after its upload, its resource ended %.0fs after its delete" % (
            image.name, known, time.monotonic() - start)

    # (13) Zaqar: a queue, a message posted, claimed, deleted
    def queue(self):
        self._deployed("messaging", "zaqar")
        name = self.name("queue")
        token = secrets.token_hex(8)
        self.made["queue"] = Queue(name=name)
        self._zaqar("PUT", "/v2/queues/%s" % name, "the queue", json={})
        posted = self._zaqar("POST", "/v2/queues/%s/messages" % name, "the message posted",
                             json={"messages": [{"ttl": 300, "body": {"token": token}}]})
        if len(posted.get("resources") or []) != 1:
            raise CheckFailed("%s: posting one message answered %s" % (name, one_line(posted, 150)))
        claimed = self._zaqar("POST", "/v2/queues/%s/claims" % name, "the claim", json={"ttl": 60, "grace": 60})
        messages = claimed.get("messages") if isinstance(claimed, dict) else claimed
        ours = [m for m in messages or [] if (m.get("body") or {}).get("token") == token]
        if not ours:
            raise CheckFailed("%s: the claim holds %d message(s), not the one posted" % (name, len(messages or [])))
        href = urllib.parse.urlsplit(ours[0]["href"])
        self._zaqar("DELETE", "%s?%s" % (href.path, href.query), "the claimed message deleted")
        left = self._zaqar("GET", "/v2/queues/%s/stats" % name, "the queue's stats")
        total = left.get("messages", {}).get("total")
        if total != 0:
            raise CheckFailed("%s: %s message(s) left after the delete" % (name, total))
        self._delete_queue(self.made["queue"])
        return "%s: a message posted, claimed, read back and deleted; queue deleted" % name

    # (14) Magnum: a cluster template made on a cluster image, read back, deleted
    def cluster_template(self):
        self._deployed("container-infra", "magnum")
        # the image record a cluster would boot (no data: a template only names it)
        image = self._json(self._api("image", "POST", "/v2/images", json={
            "name": self.name("coe-image"), "disk_format": "qcow2", "container_format": "bare",
            "os_distro": "fedora-coreos"}), "the cluster image's record")
        body = {"name": self.name("cluster-template"), "coe": "kubernetes", "image_id": image["id"],
                "network_driver": "flannel"}
        if self.made.get("external") is not None:
            body["external_network_id"] = self.made["external"].id
        if self.made.get("flavor") is not None:
            body["flavor_id"] = body["master_flavor_id"] = self.made["flavor"].id
        made = ClusterTemplate(self._json(self._api("container-infra", "POST", "/clustertemplates", json=body),
                                          "the cluster template"))
        self.made["cluster template"] = made
        if not any(t.get("uuid") == made.get("uuid") for t in self._cluster_templates()):
            raise CheckFailed("%s: made, but not in the list of cluster templates" % made.name)
        got = self._json(self._api("container-infra", "GET", "/clustertemplates/%s" % made["uuid"]),
                         "the cluster template read back")
        wrong = {key: got.get(key) for key, value in body.items() if key != "name" and got.get(key) != value}
        if got.get("cluster_distro") != "fedora-coreos":
            wrong["cluster_distro"] = got.get("cluster_distro")
        if wrong:
            raise CheckFailed("%s read back with %s" % (made.name, wrong))
        self._delete_cluster_template(made)
        self.conn.image.delete_image(image["id"], ignore_missing=True)
        named = [what for key, what in (("external_network_id", "external network"), ("flavor_id", "flavor"))
                 if key in body]
        return "%s: kubernetes on image %s (fedora-coreos)%s: made, listed, read back, deleted" % (
            made.name, self.name("coe-image"), "".join(", " + what for what in named))

    # (15) Trove: the datastores users may ask for, with their versions
    def datastore(self):
        self._deployed("database", "trove")
        found = self._json(self._api("database", "GET", "/datastores"), "the datastores").get("datastores") or []
        by_name = {d.get("name"): d for d in found}
        wanted = self.config["datastores"] or []
        if not wanted:
            usable = [d for d in found if d.get("default_version")]
            if not usable:
                raise CheckFailed("no datastore with a default version (found: %s)" % (
                    ", ".join(sorted(by_name)) or "none"))
            wanted = [{"name": d["name"]} for d in usable]
        told = []
        for want in wanted:
            store = by_name.get(want["name"])
            if store is None:
                raise CheckFailed("datastore %s is not listed (found: %s)" % (
                    want["name"], ", ".join(sorted(by_name)) or "none"))
            versions = self._json(self._api("database", "GET", "/datastores/%s/versions" % store["id"]),
                                  "the versions of %s" % want["name"]).get("versions") or []
            active = {v.get("name"): v for v in versions if v.get("active", True)}
            expected = [str(v["name"]) for v in want.get("versions") or [] if v.get("active", True)]
            missing = [v for v in expected if v not in active]
            if missing:
                raise CheckFailed("datastore %s: version(s) %s not listed as active (listed: %s)" % (
                    want["name"], ", ".join(missing), ", ".join(sorted(active)) or "none"))
            default = store.get("default_version")
            if want.get("default") and default != active.get(str(want["default"]), {}).get("id"):
                raise CheckFailed("datastore %s: the default version is not %s" % (want["name"], want["default"]))
            told.append("%s (%s)" % (want["name"], ", ".join(sorted(active))))
        return "datastores listed with their active versions: %s" % "; ".join(told)

    def _cluster_templates(self):
        listed = self._json(self._api("container-infra", "GET", "/clustertemplates"), "the cluster templates")
        return [ClusterTemplate(t) for t in listed.get("clustertemplates") or []]

    def _delete_cluster_template(self, template):
        answer = self._api("container-infra", "DELETE", "/clustertemplates/%s" % template["uuid"])
        if answer.status_code not in (204, 404):
            raise CheckFailed("cluster template %s: delete answered HTTP %d" % (template.name, answer.status_code))

    def _zaqar(self, method, path, what, **kwargs):
        """A Zaqar v2 request: every client names itself (Client-ID); the answer's JSON, or {}."""
        headers = {"Client-ID": self.client_id}
        answer = self._api("messaging", method, path, headers=headers, **kwargs)
        if answer.status_code == 204 or not answer.content:
            if answer.status_code >= 300:
                raise CheckFailed("%s: HTTP %d" % (what, answer.status_code))
            return {}
        return self._json(answer, what)

    def _queue_names(self, page=20, pages=100):
        """Every queue's name, a page (20 at most, by name) at a time."""
        names, marker = [], ""
        for _ in range(pages):
            query = "limit=%d" % page + ("&marker=%s" % urllib.parse.quote(marker) if marker else "")
            found = [q["name"] for q in self._zaqar("GET", "/v2/queues?" + query, "the queues").get("queues") or []]
            names += found
            if len(found) < page:
                break
            marker = found[-1]
        return names

    def _delete_queue(self, queue):
        self._zaqar("DELETE", "/v2/queues/%s" % queue.name, "queue %s deleted" % queue.name)

    def _api(self, service_type, method, path, **kwargs):
        """A request to a service openstacksdk has no proxy for, at its public endpoint
        (PATH after the catalog's URL, which may hold the version: Magnum's /v1); a read
        is asked again after a dropped connection (a uWSGI worker recycled under load)."""
        url = self.conn.endpoint_for(service_type, interface="public").rstrip("/") + path

        def request():
            return self.conn.session.request(url, method, raise_exc=False, **kwargs)
        return transient_retry(request) if method in ("GET", "HEAD") else request()

    @staticmethod
    def _json(answer, what):
        if answer.status_code >= 300:
            raise CheckFailed("%s: HTTP %d %s" % (what, answer.status_code, one_line(answer.text, 150)))
        try:
            return answer.json()
        except ValueError:
            raise CheckFailed("%s: not JSON: %s" % (what, one_line(answer.text, 150)))

    def _delete_alarm(self, alarm):
        answer = self._api("alarming", "DELETE", "/v2/alarms/%s" % alarm["alarm_id"])
        if answer.status_code not in (204, 404):
            raise CheckFailed("alarm %s: delete answered HTTP %d" % (alarm["name"], answer.status_code))

    def _delete_container(self, container):
        store = self.conn.object_store
        for obj in store.objects(container.name):
            store.delete_object(obj, container=container.name, ignore_missing=True)
        store.delete_container(container.name, ignore_missing=False)
        wait_until(lambda: not any(c.name == container.name for c in store.containers()), self.timeouts["delete"], 2,
                   "container %s to be deleted" % container.name)

    def _delete_zone(self, zone):
        self.conn.dns.delete_zone(zone)
        wait_until(lambda: self.conn.dns.find_zone(zone.name) is None, self.timeouts["delete"], 2,
                   "zone %s to be deleted" % zone.name)

    def _dns_server(self):
        """The DNS server to ask: dns_server, else the host of the dns service's public endpoint."""
        if self.config["dns_server"]:
            return split_host_port(self.config["dns_server"], 53)
        for service in self._catalog():
            if service.get("type") == "dns":
                for endpoint in service.get("endpoints", []):
                    if endpoint.get("interface") == "public":
                        return urllib.parse.urlsplit(endpoint["url"]).hostname, 53
        raise CheckFailed("no public dns endpoint in the catalog to find the DNS server by: set dns_server")

    def _wait_active(self, get, what):
        def active():
            res = get()
            if res.status == "ERROR":
                raise CheckFailed("%s went to ERROR (action %s)" % (what, getattr(res, "action", "?")))
            return res if res.status == "ACTIVE" else None
        return wait_until(active, self.timeouts["zone"], 2, "%s to be ACTIVE" % what)

    def _wait_stack_deleted(self, stack):
        """Until Heat has deleted the stack. An error reading it on the way (heat-api or
        Keystone answering 5xx a moment) is not the delete's failure: read again until
        the timeout; DELETE_FAILED ends the wait with Heat's reason."""
        deadline = time.monotonic() + self.timeouts["delete"]
        while True:
            try:
                self.conn.orchestration.wait_for_delete(stack, interval=5,
                                                        wait=max(1, int(deadline - time.monotonic())))
                return
            except Exception as exc:
                now = self._stack_now(stack)
                if getattr(now, "status", None) == "DELETE_FAILED" or time.monotonic() >= deadline:
                    reason = getattr(now, "status_reason", None)
                    raise CheckFailed("%s: its delete did not complete: %s" % (
                        self.name("stack"), reason if reason and now.status == "DELETE_FAILED"
                        else "%s (%s)" % (one_line(exc), reason or "status unknown")))
                time.sleep(min(5, max(0.1, deadline - time.monotonic())))

    def _stack_now(self, stack):
        try:
            return self.conn.orchestration.get_stack(stack)
        except Exception:
            return None

    def _stack_domain_projects(self, stack_id):
        """The stack's project in Heat's stack domain: Heat names it <project id>-<stack
        id>, cut at 64 characters."""
        domain = self.conn.identity.find_domain(self.config["stack_domain"])
        if domain is None:
            raise CheckFailed("Keystone has no domain %s (Heat's stack domain)" % self.config["stack_domain"])
        name = ("%s-%s" % (self.project_id, stack_id))[:64]
        return [p.name for p in self.conn.identity.projects(domain_id=domain.id) if p.name == name]

    def _stack_resources(self, outputs, cidr, boot, vol):
        """Each output checked against the resource it names; [(what, gone)] with
        gone() true once the resource is deleted."""
        conn, net = self.conn, self.conn.network
        wrong = []
        network = lookup(net.find_network, outputs.get("network_id"))
        if network is None or network.name != self.name("stack-net"):
            wrong.append("network_id %r is not network %s" % (outputs.get("network_id"), self.name("stack-net")))
        if outputs.get("subnet_cidr") != cidr:
            wrong.append("subnet_cidr %r, not %s" % (outputs.get("subnet_cidr"), cidr))
        port = lookup(net.find_port, outputs.get("port_id"))
        addresses = [ip.get("ip_address") for ip in (port.fixed_ips or [])] if port is not None else []
        if port is None or outputs.get("port_ip") not in addresses:
            wrong.append("port_ip %r is not the address of port %s (%s)" % (
                outputs.get("port_ip"), outputs.get("port_id"), ", ".join(addresses) or "no such port"))
        elif ipaddress.ip_address(outputs["port_ip"]) not in ipaddress.ip_network(cidr):
            wrong.append("port_ip %s is outside %s" % (outputs["port_ip"], cidr))
        if not str(outputs.get("signal_endpoint") or "").startswith("http"):
            wrong.append("signal_endpoint %r is no URL" % outputs.get("signal_endpoint"))
        made = [("network", lambda: net.find_network(outputs["network_id"]) is None),
                ("port", lambda: net.find_port(outputs["port_id"]) is None)]
        if vol:
            volume = lookup(conn.block_storage.find_volume, outputs.get("volume_id"))
            if volume is None or volume.size != 1 or outputs.get("volume_size") != 1:
                wrong.append("volume %r: size %r (output %r), not 1 GiB" % (
                    outputs.get("volume_id"), getattr(volume, "size", None), outputs.get("volume_size")))
            made.append(("volume", lambda: conn.block_storage.find_volume(outputs["volume_id"]) is None))
        if boot:
            server = lookup(conn.compute.find_server, outputs.get("server_id"))
            if server is None or server.status != "ACTIVE":
                wrong.append("server %r is %s, not ACTIVE" % (
                    outputs.get("server_id"), getattr(server, "status", "missing")))
            made.append(("server", lambda: conn.compute.find_server(outputs["server_id"]) is None))
        if wrong:
            raise CheckFailed("%s: %s" % (self.name("stack"), "; ".join(wrong)))
        return made

    # (10) dashboard
    def dashboard(self):
        from selenium import webdriver
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        base = dashboard_url(self.entry, self.config["dashboard_url"])
        auth = self.entry["auth"]
        timeout = self.timeouts["dashboard"]
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.work_dir)
        options = webdriver.ChromeOptions()
        options.binary_location = self.config["chromium"]
        for flag in CHROMIUM_FLAGS + ["--user-data-dir=" + os.path.join(profile, "data")]:
            options.add_argument(flag)
        # an explicit driver: Selenium Manager would try to download one; the
        # browser's own messages go to a log that says why when it does not start
        log = os.path.join(profile, "chromium.log")
        service = Service(executable_path=self.config["chromedriver"], service_args=["--enable-chrome-logs"],
                          log_output=log)
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except Exception as exc:
            with open(log, errors="replace") as f:  # the browser's lines, not the driver's or its JSON
                said = [line.strip() for line in f if line.strip() and not CHROMEDRIVER_LINE.match(line)][-5:]
            shutil.rmtree(profile, ignore_errors=True)
            raise CheckFailed("Chromium (%s) did not start: %s; it said: %s" % (
                self.config["chromium"], one_line(getattr(exc, "msg", None) or exc, 200),
                one_line(" | ".join(said) or "nothing", 600)))
        driver.set_page_load_timeout(timeout)
        wait = WebDriverWait(driver, timeout)
        step = "the login page " + base
        try:
            driver.get(base)
            try:
                wait.until(lambda d: d.find_elements(By.NAME, "username") and d.find_elements(By.NAME, "password"))
            except TimeoutException:
                raise CheckFailed("%s shows no login form (title %r)" % (base, driver.title))
            step = "logging in"
            driver.find_element(By.NAME, "username").send_keys(auth["username"])
            domain = driver.find_elements(By.NAME, "domain")
            if domain and domain[0].is_displayed():
                domain[0].send_keys(auth.get("user_domain_name", "Default"))
            password = driver.find_element(By.NAME, "password")
            password.send_keys(auth["password"])
            buttons = driver.find_elements(By.ID, "loginBtn")
            (buttons[0].click if buttons else password.submit)()
            try:
                wait.until(lambda d: "/auth/login" not in d.current_url
                           or d.find_elements(By.CSS_SELECTOR, ".alert-danger, .error"))
            except TimeoutException:
                pass
            if "/auth/login" in driver.current_url:
                alerts = [a.text for a in driver.find_elements(By.CSS_SELECTOR, ".alert-danger, .error") if a.text]
                raise CheckFailed("login as %s failed: %s" % (auth["username"], "; ".join(alerts) or "still on the login page"))
            step = "the admin instance list"
            url = urllib.parse.urljoin(base, "admin/instances/")
            driver.get(url)
            try:
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table#instances"))
            except TimeoutException:
                raise CheckFailed("%s shows no instance table (title %r, at %s)" % (
                    url, driver.title, driver.current_url))
            server = self.made.get("server") if self.results.passed("server") else None
            if server is not None:
                table = driver.find_element(By.CSS_SELECTOR, "table#instances").text
                if server.name not in table:
                    raise CheckFailed("%s does not list %s" % (url, server.name))
                return "logged in as %s at %s; the instance list shows %s" % (auth["username"], base, server.name)
            return "logged in as %s at %s; the instance list renders (no server booted)" % (auth["username"], base)
        except CheckFailed as exc:
            raise CheckFailed("%s%s" % (exc, self._screenshot(driver)))
        except Exception as exc:
            raise CheckFailed("%s: %s: %s%s" % (step, type(exc).__name__, one_line(getattr(exc, "msg", None) or exc),
                                                self._screenshot(driver)))
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)

    def _screenshot(self, driver):
        path = os.path.join(self.work_dir, "dashboard-failure.png")
        try:
            driver.save_screenshot(path)
            return " (screenshot %s)" % path
        except Exception:
            return ""

    # (12) cleanup - also of an earlier run's leftovers
    def cleanup(self):
        """Delete every resource named PREFIX or PREFIX-*, dependents first; (deleted, errors)
        lists of strings. An error deleting one resource does not stop the others'."""
        conn, wait = self.conn, self.timeouts["delete"]
        deleted, errors = [], []

        def attempt(label, func):
            try:
                transient_retry(func)
                deleted.append(label)
            except Exception as exc:
                errors.append("%s: %s: %s" % (label, type(exc).__name__, one_line(exc, 150)))

        def delete_volume(volume):
            # deleting the server detaches it: wait for that first
            if volume.status in ("in-use", "attaching", "detaching", "creating", "reserved"):
                conn.block_storage.wait_for_status(volume, "available", failures=["error"], interval=3, wait=wait)
            conn.block_storage.delete_volume(volume)
            conn.block_storage.wait_for_delete(volume, interval=3, wait=wait)

        def delete_backup(backup):
            # one being made or restored cannot be deleted yet
            if backup.status in ("creating", "restoring"):
                conn.block_storage.wait_for_status(backup, "available", failures=["error"], interval=3, wait=wait)
            conn.block_storage.delete_backup(backup)
            conn.block_storage.wait_for_delete(backup, interval=3, wait=wait)

        def delete_snapshot(snap):
            # one being made cannot be deleted yet
            if snap.status == "creating":
                conn.block_storage.wait_for_status(snap, "available", failures=["error"], interval=3, wait=wait)
            conn.block_storage.delete_snapshot(snap)
            conn.block_storage.wait_for_delete(snap, interval=3, wait=wait)

        def delete_router(router):
            for port in conn.network.ports(device_id=router.id):
                if (port.device_owner or "").startswith("network:router_interface"):
                    conn.network.remove_interface_from_router(router, port_id=port.id)
            conn.network.delete_router(router)

        def delete_network(net):
            # ports a failed server left behind; DHCP ports go with the network
            for port in conn.network.ports(network_id=net.id):
                if not (port.device_owner or "").startswith("network:"):
                    conn.network.delete_port(port)
            conn.network.delete_network(net)

        def delete_stack(stack):
            conn.orchestration.delete_stack(stack)
            conn.orchestration.wait_for_delete(stack, interval=5, wait=wait)

        delete = {
            "stack": delete_stack,
            "zone": self._delete_zone,
            "container": self._delete_container,
            "alarm": self._delete_alarm,
            "queue": self._delete_queue,
            "cluster template": self._delete_cluster_template,
            "secret": lambda secret: delete_secret(conn.key_manager, secret),
            "server": conn.compute.delete_server,
            "backup": delete_backup,
            "snapshot": delete_snapshot,
            "volume": delete_volume,
            "router": delete_router,
            "network": delete_network,
            "security group": conn.network.delete_security_group,
            "flavor": conn.compute.delete_flavor,
            "image": conn.image.delete_image,
        }
        for kind, _ in self.LISTS:
            try:
                found = transient_retry(functools.partial(self._ours, kind))
            except Exception as exc:
                errors.append("listing %ss: %s: %s" % (kind, type(exc).__name__, one_line(exc, 150)))
                continue
            if kind == "image":
                found.sort(key=lambda i: i.disk_format != "ami")  # the AMI names the kernel and ramdisk
            for res in found:
                attempt("%s %s" % (kind, res.name), functools.partial(delete[kind], res))
            if kind == "server":
                # gone, with their ports and attachments, before their network and volume go
                for server in found:
                    try:
                        conn.compute.wait_for_delete(server, interval=3, wait=wait)
                    except Exception as exc:
                        errors.append("server %s: not gone: %s" % (server.name, one_line(exc, 150)))
        raw = os.path.join(self.work_dir, "%s-disk.raw" % self.prefix)
        if os.path.exists(raw):
            os.unlink(raw)
        return deleted, errors

    # what the cleanup looks at, in the order it deletes
    LISTS = [
        # a stack first: it holds its own network, port, volume and server
        ("stack", lambda c, pid: c.orchestration.stacks()),
        ("secret", lambda c, pid: c.key_manager.secrets()),
        ("zone", lambda c, pid: c.dns.zones()),
        ("container", lambda c, pid: c.object_store.containers()),
        ("alarm", None),
        ("queue", None),
        # before the images its templates name
        ("cluster template", None),
        ("server", lambda c, pid: c.compute.servers()),
        ("backup", None),
        ("snapshot", None),  # before the volumes they hold
        ("volume", None),
        ("router", lambda c, pid: c.network.routers(project_id=pid)),
        ("network", lambda c, pid: c.network.networks(project_id=pid)),
        ("security group", lambda c, pid: c.network.security_groups(project_id=pid)),
        ("flavor", lambda c, pid: c.compute.flavors()),
        ("image", lambda c, pid: c.image.images(owner=pid)),
    ]

    # the kinds of a service the cloud may not have: looked at where the catalog has it
    OPTIONAL = {"stack": "orchestration", "secret": "key-manager", "zone": "dns", "container": "object-store",
                "alarm": "alarming", "queue": "messaging", "cluster template": "container-infra"}

    def _ours(self, kind):
        if kind in ("volume", "snapshot", "backup"):
            return leftovers(self._block_storage(kind), self.prefix)
        if kind in self.OPTIONAL:
            if not self._in_catalog(self.OPTIONAL[kind]):
                return []
            if kind == "alarm":
                found = [Alarm(a) for a in self._json(self._api("alarming", "GET", "/v2/alarms"), "the alarms")]
            elif kind == "queue":
                found = [Queue(name=name) for name in self._queue_names()]
            elif kind == "cluster template":
                found = self._cluster_templates()
            else:
                found = dict(self.LISTS)[kind](self.conn, self.project_id)
            # zone names are DNS names: the check makes them in lower case
            prefix = self.prefix.lower() if kind == "zone" else self.prefix
            return leftovers(found, prefix)
        lister = dict(self.LISTS)[kind]
        owner_attr = "owner" if kind == "image" else "project_id"
        # flavors have no project; the others are this project's only
        pid = None if kind == "flavor" else self.project_id
        return leftovers(lister(self.conn, self.project_id), self.prefix, pid, owner_attr=owner_attr)

    def _block_storage(self, kind):
        try:
            bs = self.conn.block_storage
            return list({"volume": bs.volumes, "snapshot": bs.snapshots, "backup": bs.backups}[kind]())
        except Exception:
            if not self.config["volume"]:
                return []  # no volume service to clean up after, and none was used
            raise

    def remaining(self):
        return ["%s %s" % (kind, res.name) for kind, _ in self.LISTS for res in self._ours(kind)]

    def clean(self, when):
        deleted, errors = self.cleanup()
        left = self.remaining()
        if errors or left:
            raise CheckFailed("; ".join(errors + ["still there: " + ", ".join(left)] if left else errors))
        if not deleted:
            return "nothing to delete" if when == "end" else "no leftovers of an earlier run"
        return "deleted " + ", ".join(deleted)


# --- the run ---------------------------------------------------------------------


def _on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def run(config):
    """Every check in order; returns the results summary."""
    entry = read_clouds_yaml(config["clouds_yaml"], config["cloud"])
    results = Results(secrets=[(entry.get("auth") or {}).get("password")])
    v = Validator(config, results, entry)
    boot, vol = config["boot_server"], config["volume"]
    plan = [
        ("token", v.connect, (), True, ""),
        ("leftovers", lambda: v.clean("start"), ("token",), True, ""),
        ("catalog", v.catalog, ("token",), True, ""),
        ("compute_services", v.compute_services, ("token",), True, ""),
        ("network_agents", v.network_agents, ("token",), True, ""),
        ("image", v.image, ("token", "leftovers"), True, ""),
        ("flavor", v.flavor, ("token", "leftovers"), True, ""),
        ("network", v.network, ("token", "leftovers"), True, ""),
        ("external_network", v.external_network, ("token", "leftovers"), True, ""),
        ("router", v.router, ("network", "external_network"), True, ""),
        ("security_group", v.security_group, ("token", "leftovers"), True, ""),
        ("server", v.server, ("image", "flavor", "network", "security_group"), boot,
         "disabled (boot_server is false)"),
        ("guest_network", v.guest_network, ("server",), boot, "disabled (boot_server is false)"),
        ("console", v.console, ("server",), boot, "disabled (boot_server is false)"),
        ("volume", v.volume, ("server",) if boot else ("token", "leftovers"), vol, "disabled (volume is false)"),
        ("snapshot", v.snapshot, ("volume",), vol, "disabled (volume is false)"),
        ("backup", v.backup, ("volume",), vol, "disabled (volume is false)"),
        ("secret", v.secret, ("token", "leftovers"), config["key_manager"], "disabled (key_manager is false)"),
        ("stack", v.stack, ("token", "leftovers") + (("image", "flavor") if boot else ()), config["orchestration"],
         "disabled (orchestration is false)"),
        ("zone", v.zone, ("token", "leftovers"), config["dns"], "disabled (dns is false)"),
        ("object", v.object, ("token", "leftovers"), config["object_store"], "disabled (object_store is false)"),
        ("telemetry", v.telemetry, ("image",), config["telemetry"], "disabled (telemetry is false)"),
        ("queue", v.queue, ("token", "leftovers"), config["messaging"], "disabled (messaging is false)"),
        ("cluster_template", v.cluster_template, ("token", "leftovers"), config["container_infra"],
         "disabled (container_infra is false)"),
        ("datastore", v.datastore, ("token", "leftovers"), config["database"], "disabled (database is false)"),
        ("dashboard", v.dashboard, (), config["dashboard"], "disabled (dashboard is false)"),
    ]
    if config["read_only"]:
        plan = [(name, func, needs, enabled and name in READ_ONLY_CHECKS, why if not enabled else "read-only run")
                for name, func, needs, enabled, why in plan]
    old = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for name, func, needs, enabled, why in plan:
            results.run(name, func, needs, enabled, why)
    except Interrupted as exc:
        # the check it cut short failed; the rest did not run
        pending = [name for name, *_ in plan if results.get(name) is None]
        if pending:
            results.record(pending[0], False, 0.0, "interrupted (%s)" % exc)
        for name in pending[1:]:
            results.skip(name, "interrupted")
    finally:
        # cleanup must not be cut short by a second signal
        for sig in old:
            signal.signal(sig, signal.SIG_IGN)
        # without a token nothing was created, nor can anything be deleted
        results.run("cleanup", lambda: v.clean("end"), needs=("token",), enabled=not config["read_only"],
                    why_disabled="read-only run")
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if not config["work_dir"]:
            shutil.rmtree(v.work_dir, ignore_errors=True)
    return results.summary()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="the run's settings (JSON)")
    parser.add_argument("--results", help="where to write the results (JSON)")
    parser.add_argument("--table", metavar="RESULTS", help="print the table of a results file and exit")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.table) as fh:
            print("\n".join(format_table(json.load(fh)["checks"])))
        return 0
    if not args.config or not args.results:
        parser.error("--config and --results are needed")
    try:
        with open(args.config) as fh:
            config = load_config(json.load(fh))
        read_clouds_yaml(config["clouds_yaml"], config["cloud"])
    except (OSError, ValueError, ConfigError) as exc:
        print("validate_cloud: %s" % exc, file=sys.stderr)
        return 2
    summary = run(config)
    tmp = args.results + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        json.dump(summary, fh, indent=2)
    os.replace(tmp, args.results)
    print("\n".join(summary["table"]))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
