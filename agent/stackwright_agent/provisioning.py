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
from .hostkeys import KEY_FILE, node_host_key
from .node_schema import pick_root_disk
from .registry import Registry

LOG = logging.getLogger("stackwright-agent.provisioning")
MAX_POST = 1 << 20
CHUNK = 1 << 20
MAC_PATH = re.compile(r"/nodes/([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})\.ipxe")


# ---------------------------------------------------------------- config tarball

def config_tarball(node, state_dir):
    """The first-boot config (ramdisk/init's config_url format) for a node."""
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
    lines = ["[Match]", "MACAddress=%s" % mac, "", "[Network]"]
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

    def __init__(self, config, registry=None):
        host, port = config.provisioning_listen.rsplit(":", 1)
        self.config = config
        self.registry = registry or Registry(config.state_dir)
        self.image_store = os.path.realpath(config.image_store or os.path.join(config.state_dir, "images"))
        os.makedirs(self.image_store, mode=0o755, exist_ok=True)
        super().__init__((host.strip("[]"), int(port)), _Handler)
        # the URL booting servers use: the address we listen on (port 0: the one we got)
        self.url = "http://%s:%d" % (host, self.server_address[1])


def start(config, registry=None):
    """Start the listener in a thread; returns the server (``shutdown()`` stops it)."""
    server = ProvisioningServer(config, registry)
    threading.Thread(target=server.serve_forever, daemon=True, name="provisioning").start()
    LOG.info("provisioning listener on %s (images from %s)", server.url, server.image_store)
    return server


class _Handler(BaseHTTPRequestHandler):
    server_version = "stackwright-provisioning/" + __version__

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
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_POST:
            return self._reply(413, "too large\n")
        raw = self.rfile.read(length) if length else b""
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
        """The node when ``token`` is its armed action's token; else replies 404/403, None."""
        node = self.server.registry.get(name)
        if node is None:
            LOG.warning("ramdisk request for unknown node %r", name)
            self._reply(404, "no such node\n")
            return None
        if not (node["token"] and node["action"] and token and hmac.compare_digest(node["token"], token)):
            LOG.warning("ramdisk request for node %r with a wrong or stale token", name)
            self._reply(403, "forbidden\n")
            return None
        return node

    # -- boot chain --------------------------------------------------------------
    def _per_mac(self, mac):
        node = self.server.registry.by_mac(mac)
        if node is None:
            LOG.warning("iPXE script asked for unknown MAC %s", mac)
            return self._reply(404, "unknown MAC\n")
        if not (node["action"] and node["token"]):
            return self._reply(200, "#!ipxe\nexit\n")
        if not node.get("booted_at"):
            # the node PXE booted for this action (once per action: iPXE may ask again)
            token = node["token"]
            self.server.registry.update(node["name"], {"booted_at": time.time()}, event="pxe",
                                        detail="iPXE script served to %s" % mac,
                                        expect=lambda row: row is not None and row["token"] == token)
        url = self.server.url
        # BOOTIF is the MAC the script was asked for: the NIC iPXE booted from
        script = ("#!ipxe\n"
                  "kernel %s/images/ramdisk/vmlinuz console=ttyS0 sw.api=%s sw.node=%s sw.token=%s BOOTIF=%s\n"
                  "initrd %s/images/ramdisk/initrd\n"
                  "boot\n" % (url, url, node["name"], node["token"], mac, url))
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
            return self._reply(200, config_tarball(node, self.server.config.state_dir), "application/gzip")
        lines = ["action=%s" % action["action"]]
        if action["action"] == "deploy":
            config_url = self._absolute(action.get("config_url")) or "%s/v1/ramdisk/%s/config.tar.gz?token=%s" % (
                self.server.url, node["name"], node["token"])
            lines += ["image_url=%s" % self._absolute(action["image_url"]),
                      "image_sha256=%s" % action["image_sha256"].lower(),
                      "target_disk=%s" % node["target_disk"], "config_url=%s" % config_url]
        self._reply(200, "\n".join(lines) + "\n")

    def _inspection(self, node, token, inventory):
        if node["action"]["action"] != "inspect":
            return self._reply(409, "no inspection armed\n")
        disks = [d for d in inventory.get("disks") or [] if isinstance(d, dict)]
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
