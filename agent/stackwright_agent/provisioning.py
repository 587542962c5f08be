"""The provisioning listener: plain HTTP on the provisioning network, for what
booting servers need (docs/design/provisioning.md, "Boot chain"). Nothing else:

    GET  /boot.ipxe                           chains the per-MAC script
    GET  /nodes/<aa-bb-cc-dd-ee-ff>.ipxe      ramdisk boot when an action is armed, else `exit`
    GET  /images/<path>                       files under image_store (nothing outside it)
    GET  /v1/ramdisk/<name>?token=            key=value instructions (ramdisk/init's format)
    POST /v1/ramdisk/<name>/inspection?token= inventory JSON -> inspected, target_disk chosen
    POST /v1/ramdisk/<name>/result?token=     {action, ok, error, seconds}; disarms the node
    GET  /v1/ramdisk/<name>/config.tar.gz?token=  first-boot config for a deploy

Protocol decisions:
- A token is valid only while an action is armed; a result disarms (token cleared),
  so a second report or a stale ramdisk gets 403. Wrong/missing token: 403, no change.
- A deploy's success leaves provision_state ``deploying`` with ``deploy_done`` true: the
  playbook then sets the boot device, power-cycles, waits for SSH and PUTs ``active``.
- Clean success: ``available``. Inspect: the inspection POST makes the node ``inspected``
  (or ``failed`` when no disk matches the hints); the result only disarms.
- A relative ``image_url``/``config_url`` (starting with /) is made absolute with this
  listener's URL; a deploy without ``config_url`` gets the generated config tarball.
- Root device hints choose the disk as node_schema.pick_root_disk says (the hints the
  API accepted are checked there too): all given hints must match; several matches ->
  the smallest (then by name). No hints: the smallest disk of at least 4 GiB, else the
  smallest disk at all (lab VMs have tiny disks).

Trust (docs/design/provisioning.md, "Trust model"): every host on the provisioning
network may be hostile.
- With ``dhcp_lease_file`` set, a node's iPXE script (it carries the token), its
  instructions, config and reports are answered only to an address dnsmasq's lease
  file gives one of its MACs (403 otherwise). Without it (tests) there is no such check.
- A token lives while its action is armed and at most ``armed_at`` + the action's
  timeout (``action.timeout``, else ``ramdisk_timeout``); the ramdisk is told the rest
  as ``sw.timeout``.
- Bodies: POST needs a Content-Length (411), a number (400) of at most MAX_POST bytes
  (413), refused before anything is read. Every connection has a read timeout; at
  most MAX_CONNECTIONS at once (PER_ADDRESS from one address): beyond, closed at once.
- Every value that reaches the ramdisk matches a strict pattern; an inventory is
  checked whole before anything is stored (400, the node unchanged).
- HEAD never marks a node as PXE-booted.
"""

import hmac
import io
import json
import logging
import os
import re
import stat
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import __version__
from .hostkeys import KEY_FILE, HostKeyError, node_host_key
from .node_schema import CLEAN_MODES, pick_root_disk
from .registry import Registry, StateDirFull

LOG = logging.getLogger("stackwright-agent.provisioning")
MAX_POST = 1 << 20
CHUNK = 1 << 20
MAC_PATH = re.compile(r"/nodes/([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})\.ipxe")
# a request (line, headers, body) must keep coming: a half-sent one is dropped
READ_TIMEOUT = 5
# while an image streams, the client may pause longer (a ramdisk writing to a slow disk)
WRITE_TIMEOUT = 120
MAX_CONNECTIONS = 64
PER_ADDRESS = 16
# what may reach the ramdisk: its init refuses quotes, '$', '\\', '`' and whitespace
URL_VALUE = re.compile(r"https?://[A-Za-z0-9._~:/?#@!&()*+,;=%\[\]-]+")
DISK_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DISK_PATH = re.compile(r"/dev/[A-Za-z0-9_-]{1,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")
# inventory strings (the ramdisk sends printable ASCII only)
PRINTABLE = re.compile(r"[ -~]{0,256}")


# ---------------------------------------------------------------- config tarball

def config_tarball(node, state_dir, provisioning_network=None):
    """The first-boot config (ramdisk/init's config_url format) for a node.

    The node's network: its static one when it has one; else, with the conductor's
    ``provisioning_network``, its pool address kept statically (a deployed node renews
    no lease: the undercloud is no runtime dependency of the cloud); else DHCP."""
    keys = (node.get("properties") or {}).get("ssh_authorized_keys")
    if isinstance(keys, list):
        keys = "".join(k.strip() + "\n" for k in keys)
    if not keys:
        try:
            with open(os.path.join(state_dir, "authorized_keys"), encoding="utf-8") as fh:
                keys = fh.read()
        except FileNotFoundError:
            keys = ""
    net = node.get("network")
    mac = (net or {}).get("interface_mac") or node["macs"][0]
    # Type=ether: a VLAN (or bridge) made over the NIC later carries its MAC, and this
    # file, sorting first, would take it too (systemd issue 17337)
    lines = ["[Match]", "MACAddress=%s" % mac, "Type=ether", "", "[Network]"]
    if not (net and net.get("address")) and provisioning_network and node.get("address"):
        net = dict(provisioning_network, address="%s/%d" % (node["address"], provisioning_network["prefix"]))
    if net and net.get("address"):
        lines.append("Address=%s" % net["address"])
        if net.get("gateway"):
            lines.append("Gateway=%s" % net["gateway"])
        lines += ["DNS=%s" % d for d in net.get("dns") or []]
    else:
        lines.append("DHCP=yes")
    # The node's SSH host key, made here so that known_hosts has it before the node boots
    # (the image's first-boot key generation skips when the key is there).
    host_private, host_public = node_host_key(node, state_dir)
    buf = io.BytesIO()
    mtime = int(time.time())
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        def add(name, data=None, mode=0o644):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0  # numeric owners: root on the target, whatever it calls root
            info.uname = info.gname = ""
            info.mtime = mtime
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        add("etc/hostname", (node["name"] + "\n").encode())
        add("etc/systemd", mode=0o755)
        add("etc/systemd/network", mode=0o755)
        add("etc/systemd/network/10-provisioning.network", ("\n".join(lines) + "\n").encode())
        add("root", mode=0o700)
        add("root/.ssh", mode=0o700)
        add("root/.ssh/authorized_keys", keys.encode(), 0o600)
        add("etc/ssh", mode=0o755)
        add("etc/ssh/" + KEY_FILE, host_private, 0o600)
        add("etc/ssh/%s.pub" % KEY_FILE, host_public, 0o644)
    return buf.getvalue()


# ------------------------------------------------------------------------ server

class ProvisioningServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, config, registry=None):
        host, port = config.provisioning_listen.rsplit(":", 1)
        self.config = config
        self.registry = registry or Registry(config.state_dir)
        self.image_store = os.path.realpath(config.image_store or os.path.join(config.state_dir, "images"))
        os.makedirs(self.image_store, mode=0o755, exist_ok=True)
        self._slots = threading.Lock()
        self._open = {}  # client address -> connections being served
        self.leases = Leases(config.dhcp_lease_file)
        super().__init__((host.strip("[]"), int(port)), _Handler)
        # the URL booting servers use: the address we listen on (port 0: the one we got)
        self.url = "http://%s:%d" % (host, self.server_address[1])

    def process_request(self, request, client_address):
        # a bounded number of threads: beyond it a connection is closed at once
        addr = client_address[0]
        with self._slots:
            total = sum(self._open.values())
            if total >= MAX_CONNECTIONS or self._open.get(addr, 0) >= PER_ADDRESS:
                refused = True
            else:
                refused = False
                self._open[addr] = self._open.get(addr, 0) + 1
        if refused:
            LOG.warning("too many connections (%d, from %s); closing one", total, addr)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(addr)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(client_address[0])

    def _release(self, addr):
        with self._slots:
            self._open[addr] -= 1
            if not self._open[addr]:
                del self._open[addr]

    def token_expiry(self, node):
        """When the node's armed action's token stops being valid (epoch seconds)."""
        action = node.get("action") or {}
        timeout = action.get("timeout") or self.config.ramdisk_timeout
        return (node.get("armed_at") or 0) + timeout


class Leases:
    """dnsmasq's lease file ("EXPIRY MAC IP HOSTNAME CLIENTID" lines; expiry 0: never),
    re-read when it changes. ``path`` None: no lease check (``allows`` is always True)."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp = None
        self._by_mac = {}

    def addresses(self, mac):
        try:
            st = os.stat(self.path)
        except OSError:
            return set()  # no lease file yet: nobody has a lease
        with self._lock:
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self._stamp:
                by_mac = {}
                try:
                    with open(self.path, encoding="ascii", errors="replace") as fh:
                        for line in fh:
                            parts = line.split()
                            if len(parts) >= 3 and parts[0].isdigit():
                                by_mac.setdefault(parts[1].lower(), []).append((int(parts[0]), parts[2]))
                except OSError as exc:
                    LOG.warning("cannot read the DHCP lease file %s: %s", self.path, exc)
                    by_mac = {}
                self._stamp, self._by_mac = stamp, by_mac
            now = time.time()
            return {ip for expiry, ip in self._by_mac.get(mac.lower(), ()) if expiry == 0 or expiry > now}

    def allows(self, address, macs):
        if not self.path:
            return True
        if address.startswith("::ffff:"):
            address = address[len("::ffff:"):]
        return any(address in self.addresses(mac) for mac in macs)


def start(config, registry=None, poll_interval=0.5):
    """Start the listener in a thread; returns the server (``shutdown()`` stops it,
    within ``poll_interval`` seconds)."""
    server = ProvisioningServer(config, registry)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True,
                     name="provisioning").start()
    LOG.info("provisioning listener on %s (images from %s)", server.url, server.image_store)
    return server


class _Handler(BaseHTTPRequestHandler):
    server_version = "stackwright-provisioning/" + __version__
    timeout = READ_TIMEOUT  # StreamRequestHandler sets it on the socket

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except StateDirFull as exc:
            LOG.error("%s", exc)
            self._reply(503, "the undercloud cannot store this now\n")
        except (TimeoutError, ConnectionError) as exc:
            LOG.info("%s: connection dropped (%s)", self.client_address[0], exc.__class__.__name__)
            self.close_connection = True

    def log_message(self, fmt, *args):
        # the token is in query strings: never log them
        LOG.info("%s %s", self.address_string(), (fmt % args).replace(self.path, urlsplit(self.path).path))

    def _reply(self, status, body=b"", ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- routing -----------------------------------------------------------------
    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path
        if path == "/boot.ipxe":
            return self._reply(200, "#!ipxe\nchain %s/nodes/${net0/mac:hexhyp}.ipxe || exit\n" % self.server.url)
        match = MAC_PATH.fullmatch(path)
        if match:
            return self._per_mac(match.group(1).lower().replace("-", ":"))
        if path.startswith("/images/"):
            return self._image(path[len("/images/"):])
        route = self._ramdisk_route(url)
        if route and route[1] in ("instructions", "config.tar.gz"):
            return self._ramdisk_get(*route)
        self._reply(404, "not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        url = urlsplit(self.path)
        # the body's size is checked before a byte of it is read
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            return self._reply(411, "Transfer-Encoding is not supported: send a Content-Length\n")
        if length is None:
            return self._reply(411, "Content-Length required\n")
        if not re.fullmatch(r"[0-9]{1,12}", length.strip()):
            return self._reply(400, "Content-Length must be a number of bytes\n")
        length = int(length)
        if length > MAX_POST:
            return self._reply(413, "too large: at most %d bytes\n" % MAX_POST)
        raw = self.rfile.read(length) if length else b""
        if len(raw) != length:
            return self._reply(400, "body shorter than its Content-Length\n")
        route = self._ramdisk_route(url)
        if not route or route[1] not in ("inspection", "result"):
            return self._reply(404, "not found\n")
        name, kind, token = route
        node = self._authorized(name, token)
        if node is None:
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return self._reply(400, "invalid JSON: %s\n" % exc)
        if kind == "inspection":
            return self._inspection(node, token, body)
        return self._result(node, token, body)

    @staticmethod
    def _ramdisk_route(url):
        """-> (name, kind, token) for /v1/ramdisk/NAME[/KIND], else None"""
        parts = url.path.strip("/").split("/")
        if len(parts) not in (3, 4) or parts[:2] != ["v1", "ramdisk"]:
            return None
        token = parse_qs(url.query).get("token", [""])[-1]
        return parts[2], (parts[3] if len(parts) == 4 else "instructions"), token

    def _authorized(self, name, token):
        """The node when ``token`` is its armed action's live token and the request comes
        from an address leased to one of its MACs; else replies 404/403, None."""
        node = self.server.registry.get(name)
        if node is None:
            LOG.warning("ramdisk request for unknown node %r", name[:80])
            self._reply(404, "no such node\n")
            return None
        if not (node["token"] and node["action"] and token and hmac.compare_digest(node["token"], token)):
            LOG.warning("ramdisk request for node %r with a wrong or stale token", name)
            self._reply(403, "forbidden\n")
            return None
        if not self._leased(node["macs"], name):
            return None
        if time.time() > self.server.token_expiry(node):
            LOG.warning("ramdisk request for node %r with an expired token", name)
            self._reply(403, "token expired\n")
            return None
        return node

    def _leased(self, macs, who):
        """True when the client's address is leased to one of ``macs``; else replies 403."""
        address = self.client_address[0]
        if self.server.leases.allows(address, macs):
            return True
        LOG.warning("request for %s from %s, an address not leased to its MACs: refused", who, address)
        self._reply(403, "forbidden: not the address leased to this node\n")
        return False

    # -- boot chain --------------------------------------------------------------
    def _per_mac(self, mac):
        node = self.server.registry.by_mac(mac)
        if node is None:
            LOG.warning("iPXE script asked for unknown MAC %s", mac)
            return self._reply(404, "unknown MAC\n")
        if not self._leased([mac], mac):
            return None
        remaining = int(self.server.token_expiry(node) - time.time())
        if not (node["action"] and node["token"]) or remaining <= 0:
            return self._reply(200, "#!ipxe\nexit\n")
        if not node.get("booted_at") and self.command != "HEAD":
            # the node PXE booted for this action (once per action: iPXE may ask again)
            token = node["token"]
            self.server.registry.update(node["name"], {"booted_at": time.time()}, event="pxe",
                                        detail="iPXE script served to %s" % mac,
                                        expect=lambda row: row is not None and row["token"] == token)
        url = self.server.url
        # BOOTIF is the MAC the script was asked for: the NIC iPXE booted from. Under UEFI
        # the kernel's EFI stub loads its initrd itself, by the name on its command line
        # (initrd=), from the images iPXE holds (iPXE before 1.21 hands it no other way);
        # a BIOS kernel ignores the argument. Ironic's iPXE scripts do the same.
        script = ("#!ipxe\n"
                  "kernel %s/images/ramdisk/vmlinuz console=ttyS0 sw.api=%s sw.node=%s sw.token=%s BOOTIF=%s "
                  "sw.timeout=%d initrd=ramdisk.img\n"
                  "initrd --name ramdisk.img %s/images/ramdisk/initrd\n"
                  "boot\n" % (url, url, node["name"], node["token"], mac, remaining, url))
        return self._reply(200, script)

    def _image(self, rel):
        rel = unquote(rel)
        parts = rel.split("/")
        if not rel or "\0" in rel or any(p in ("", ".", "..") for p in parts):
            return self._reply(403, "forbidden\n")
        root = self.server.image_store
        full = os.path.realpath(os.path.join(root, *parts))
        if not full.startswith(root + os.sep):  # a symlink pointing out of the store
            return self._reply(403, "forbidden\n")
        try:
            fh = open(full, "rb")
        except OSError:
            return self._reply(404, "not found\n")
        with fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return self._reply(404, "not found\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(st.st_size))
            self.end_headers()
            if self.command == "HEAD":
                return
            self.connection.settimeout(WRITE_TIMEOUT)
            left = st.st_size
            try:
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                LOG.info("client went away during /images/%s", rel)

    # -- ramdisk API -------------------------------------------------------------
    def _absolute(self, url):
        return self.server.url + url if url and url.startswith("/") else url

    def _ramdisk_get(self, name, kind, token):
        node = self._authorized(name, token)
        if node is None:
            return
        action = node["action"]
        if kind == "config.tar.gz":
            if action["action"] != "deploy":
                return self._reply(404, "no deploy armed\n")
            try:
                tarball = config_tarball(node, self.server.config.state_dir,
                                         self.server.config.provisioning_network)
            except HostKeyError as exc:
                # the ramdisk only sees its download fail: the reason goes on the node
                message = "the undercloud cannot build the node's first-boot config: %s" % exc
                LOG.error("%s: %s", node["name"], message)
                self.server.registry.update(node["name"], {"last_error": message}, event="config", detail=message)
                return self._reply(503, message + "\n")
            return self._reply(200, tarball, "application/gzip")
        lines = ["action=%s" % action["action"]]
        if action["action"] == "deploy":
            config_url = self._absolute(action.get("config_url")) or "%s/v1/ramdisk/%s/config.tar.gz?token=%s" % (
                self.server.url, node["name"], node["token"])
            values = {"image_url": self._absolute(action["image_url"]),
                      "image_sha256": (action.get("image_sha256") or "").lower(),
                      "target_disk": node["target_disk"], "config_url": config_url}
            problem = _instruction_problem(values, node.get("inspection"))
            if problem:
                # the API checked these when they were stored: this is a registry edited by hand
                LOG.error("node %r: refusing to send instructions: %s", node["name"], problem)
                return self._reply(409, "the node's instructions are invalid: %s\n" % problem)
            lines += ["%s=%s" % item for item in values.items()]
        elif action["action"] == "clean" and action.get("clean_mode") in CLEAN_MODES:
            lines.append("clean_mode=%s" % action["clean_mode"])
        self._reply(200, "\n".join(lines) + "\n")

    def _inspection(self, node, token, inventory):
        if node["action"]["action"] != "inspect":
            return self._reply(409, "no inspection armed\n")
        problem = inventory_problem(inventory)
        if problem:
            LOG.warning("node %r: inspection report refused: %s", node["name"], problem)
            return self._reply(400, "invalid inventory: %s\n" % problem)
        disks = inventory["disks"]
        disk = pick_root_disk(disks, node["root_device"])
        fields = {"inspection": inventory}
        if disk is None:
            fields.update(provision_state="failed", target_disk=None,
                          last_error="inspection: no disk matches the root device hints %s (disks: %s)"
                          % (json.dumps(node["root_device"], sort_keys=True),
                             ", ".join(d.get("name") or "?" for d in disks) or "none"))
        else:
            fields.update(provision_state="inspected", target_disk=disk.get("path") or "/dev/" + disk["name"],
                          last_error=None)
        row = self.server.registry.update(node["name"], fields, event="inspection",
                                          detail=fields["target_disk"] or fields["last_error"],
                                          expect=lambda cur: cur is not None and cur["token"] == token)
        if row is None:
            return self._reply(403, "forbidden\n")
        self._reply(200, json.dumps({"ok": True, "target_disk": row["target_disk"]}) + "\n", "application/json")

    def _result(self, node, token, result):
        action = node["action"]["action"]
        fields = {"action": None, "token": None}  # a result disarms: the token dies with it
        if result.get("ok") is True:
            if action == "clean":
                fields["provision_state"] = "available"
            elif action == "deploy":
                fields["deploy_done"] = True
            elif action == "inspect" and node["inspection"] is None:
                fields.update(provision_state="failed",
                              last_error="inspect: the ramdisk reported success but sent no inventory")
        else:
            # capped and control characters escaped by the registry
            fields.update(provision_state="failed",
                          last_error="ramdisk %s failed: %s" % (action, str(result.get("error") or "no error given")))
        row = self.server.registry.update(node["name"], fields, event="result",
                                          detail="%s ok=%s seconds=%s" % (action, result.get("ok"),
                                                                          result.get("seconds")),
                                          expect=lambda cur: cur is not None and cur["token"] == token)
        if row is None:
            return self._reply(403, "forbidden\n")
        self._reply(200, json.dumps({"ok": True, "provision_state": row["provision_state"]}) + "\n",
                    "application/json")


# --------------------------------------------------------------- strict values

_DISK_STRINGS = ("model", "vendor", "serial", "wwn", "by_path", "hctl")


def inventory_problem(inventory):
    """What is wrong with an inspection report (a field and why), or None. Checked
    whole before anything is stored: the chosen disk's path reaches the ramdisk."""
    disks = inventory.get("disks")
    if not isinstance(disks, list):
        return "disks: expected a list of disks"
    if len(disks) > 256:
        return "disks: more than 256 disks"
    for i, d in enumerate(disks):
        where = "disks[%d]" % i
        if not isinstance(d, dict):
            return "%s: expected an object" % where
        if not (isinstance(d.get("name"), str) and DISK_NAME.fullmatch(d["name"])):
            return "%s.name: expected a kernel disk name (letters, digits, _ and -)" % where
        if d.get("path") is not None and not (isinstance(d["path"], str) and DISK_PATH.fullmatch(d["path"])):
            return "%s.path: expected /dev/NAME (letters, digits, _ and -)" % where
        size = d.get("size_bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return "%s.size_bytes: expected a whole number of bytes" % where
        if d.get("rotational") is not None and not isinstance(d["rotational"], bool):
            return "%s.rotational: expected true, false or null" % where
        for key in _DISK_STRINGS:
            value = d.get(key)
            if value is not None and not (isinstance(value, str) and PRINTABLE.fullmatch(value)):
                return "%s.%s: expected printable text (at most 256 characters) or null" % (where, key)
    return _text_problem(inventory, "inventory")


def _text_problem(value, where, depth=0):
    """Any string anywhere in a report that is not printable ASCII (a control character,
    a newline) or too long, or nesting too deep."""
    if depth > 8:
        return "%s: nested too deep" % where
    if isinstance(value, str):
        return None if PRINTABLE.fullmatch(value) else "%s: expected printable text of at most 256 characters" % where
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and not PRINTABLE.fullmatch(key):
            return "%s: a key that is not printable text" % where
        problem = _text_problem(item, "%s.%s" % (where, key) if isinstance(key, str) else "%s[%d]" % (where, key),
                                depth + 1)
        if problem:
            return problem
    return None


def _instruction_problem(values, inspection):
    """Why these deploy instructions must not reach the ramdisk, or None."""
    for key in ("image_url", "config_url"):
        if not (isinstance(values[key], str) and URL_VALUE.fullmatch(values[key])):
            return "%s is not a plain http(s) URL" % key
    if not SHA256.fullmatch(values["image_sha256"]):
        return "image_sha256 is not 64 hex digits"
    disks = (inspection or {}).get("disks") if isinstance(inspection, dict) else None
    paths = {d.get("path") or "/dev/%s" % d.get("name") for d in disks or [] if isinstance(d, dict)}
    target = values["target_disk"]
    if not (isinstance(target, str) and DISK_PATH.fullmatch(target)) or target not in paths:
        return "target_disk %r is not one of the inventoried disks" % (target,)
    return None
