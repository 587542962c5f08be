"""HTTP/JSON over a root-only Unix socket, plus the process plumbing: a foreground
server, run by its unit (systemd's, or where systemd is not the init the collection's
supervisor, which runs the same unit file: plugins/module_utils/supervisor.py)."""

import argparse
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import socketserver
import stat
import sys
import tempfile
from http.server import BaseHTTPRequestHandler

from . import __version__, roles
from .api import Api
from .node_schema import address_problem
from .config import Config
from .errors import AgentError

LOG = logging.getLogger("stackwright-agent")
MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    server_version = "stackwright-agent/" + __version__
    protocol_version = "HTTP/1.1"

    def address_string(self):  # Unix sockets have no peer address
        return "unix"

    def log_message(self, fmt, *args):
        LOG.info("%s", fmt % args)

    def _serve(self):
        body = None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            status, payload = 413, {"error": {"status": 413, "code": "too_large",
                                              "message": "request body over %d bytes" % MAX_BODY}}
        else:
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw.strip() else None
                status, payload = self.server.api.handle(self.command, self.path, body)
            except ValueError as exc:
                status, payload = 400, {"error": {"status": 400, "code": "invalid_json",
                                                  "message": "the body is not valid JSON: %s" % exc}}
        data = (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = do_POST = _serve


class AgentServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # socketserver's default backlog of 5: a client with a timeout (non-blocking
    # connect) got EAGAIN whenever more modules than that asked at once (forks=10)
    request_queue_size = 128

    def __init__(self, path, api):
        self.api = api
        _claim_socket_path(path)
        super().__init__(path, _Handler)

    def server_bind(self):
        """Bound in a private directory, made 0600 there, then moved into place: no
        moment when others could connect (not through the umask, which is the
        process's: another agent thread could be making a file meanwhile)."""
        path = self.server_address
        private = tempfile.mkdtemp(prefix=".bind-", dir=os.path.dirname(path))
        try:
            bound = os.path.join(private, "sock")
            self.socket.bind(bound)
            os.chmod(bound, 0o600)
            st = os.lstat(bound)
            self.bound = (st.st_dev, st.st_ino)
            os.rename(bound, path)
        finally:
            shutil.rmtree(private, ignore_errors=True)
        self.server_address = path


def _claim_socket_path(path):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        # a typo'd --socket must not cost the operator a file: only a socket is replaced
        raise AgentError("%s exists and is not a socket; give the agent's socket path (default "
                         "/run/stackwright/agent.sock), or move that file away" % path, code="socket_not_a_socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # stale socket from a dead agent
        return
    finally:
        probe.close()
    raise AgentError("another agent already answers on %s" % path, code="socket_in_use")


def serve(config):
    api = Api(config)
    server = AgentServer(config.socket, api)
    if config.provisioning_listen:
        from . import provisioning
        provisioning.start(config, api.drivers["nodes"].registry)
        # actions a previous run of the service left running go on where they were
        api.drivers["nodes"].conductor.resume()
        if config.power_sync_interval:
            api.drivers["nodes"].conductor.start_power_sync(config.power_sync_interval)
    if config.dhcp_hosts_dir:
        api.drivers["nodes"].after_converge()  # files written by an older agent, or removed by hand
    signal.signal(signal.SIGTERM, lambda *_: _shutdown(server, config.socket))
    LOG.info("stackwright-agent %s (%s: %s) listening on %s", __version__, ", ".join(config.roles),
             ", ".join(sorted(api.drivers)), config.socket)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        _remove_socket(config.socket, server.bound)


def _shutdown(server, path):
    # serve_forever must be stopped from another thread; exit is simpler and safe:
    # every change is journaled before it starts. The socket goes with the agent, so
    # that a client finds no agent rather than a dead socket.
    server.server_close()
    _remove_socket(path, server.bound)
    os._exit(0)


def _remove_socket(path, bound):
    """Unlink the socket at ``path`` if it is still the one this server bound (a newer
    agent may have taken the path since)."""
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == bound:
            os.unlink(path)
    except OSError:
        pass


def _configure_logging():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# paths the agent makes, writes or serves: the settings' (from --flags or the settings file)
PATH_SETTINGS = ("socket", "state_dir", "image_store", "console_log_dir", "dhcp_hosts_dir")


def _check_paths(values):
    """``values``: {setting or --flag: path or None}, each absolute, without '..' or
    control characters."""
    for flag, value in values.items():
        if value is not None and not isinstance(value, str):
            raise AgentError("%s: expected a path, got %r" % (flag, value), code="invalid_config")
        if value is not None and (not value.startswith("/") or any(ord(c) < 32 for c in value)):
            raise AgentError("%s %r: give an absolute path (like /run/stackwright/agent.sock)" % (flag, value),
                             code="invalid_config")
        if value is not None and ".." in value.split("/"):
            raise AgentError("%s %r: give the path without '..'" % (flag, value), code="invalid_config")


def _check_listen(value):
    """provisioning_listen is IP:PORT (an IPv6 address as [IP]:PORT is not read by the
    listener: give it unbracketed, ::1:8080 reads as ::1 port 8080)."""
    if value is None:
        return
    fix = "give IP:PORT, like 192.168.24.1:8080"
    host, sep, port = str(value).rpartition(":")
    if not sep:
        raise AgentError("provisioning_listen %r has no port; %s" % (value, fix), code="invalid_config")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise AgentError("provisioning_listen %r: %r is not an IP address; %s" % (value, host, fix),
                         code="invalid_config")
    if not (port.isdigit() and port.isascii() and 1 <= int(port) <= 65535):
        raise AgentError("provisioning_listen %r: %r is not a port (1-65535); %s" % (value, port, fix),
                         code="invalid_config")
    # the unspecified address is a listener's "every address": allowed here
    problem = None if ip.is_unspecified else address_problem(ip, loopback=True)
    if problem:
        raise AgentError("provisioning_listen %r: %s" % (value, problem), code="invalid_config")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="stackwright-agent", description=__doc__)
    parser.add_argument("--config", default="/etc/stackwright/agent.json",
                        help="JSON settings file (default: %(default)s)")
    parser.add_argument("--role", action="append", choices=sorted(roles.ROLES), dest="roles",
                        help="what this agent is, and so which drivers it loads (repeatable; "
                             "default: the settings' roles, else node)")
    parser.add_argument("--socket", help="Unix socket path")
    parser.add_argument("--state-dir", help="where the journal is kept")
    parser.add_argument("--libvirt-uri")
    parser.add_argument("--domain-type", choices=("auto", "kvm", "qemu"))
    parser.add_argument("--provisioning-listen", metavar="IP:PORT",
                        help="serve iPXE scripts, images and the ramdisk API there (undercloud)")
    parser.add_argument("--image-store", help="directory served under /images/ (default: <state-dir>/images)")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config, roles=args.roles, socket=args.socket, state_dir=args.state_dir,
                             libvirt_uri=args.libvirt_uri, domain_type=args.domain_type,
                             provisioning_listen=args.provisioning_listen, image_store=args.image_store)
        _check_paths({key: getattr(config, key) for key in PATH_SETTINGS})
        _check_listen(config.provisioning_listen)
        _configure_logging()
        serve(config)
    except AgentError as exc:
        sys.stderr.write("stackwright-agent: %s\n" % exc.message)
        return 2
    return 0
