"""Virtual BMCs: one BMC per lab domain, so the lab's VMs are driven exactly like
bare-metal servers (power and boot device over IPMI, or over Redfish).

``protocol`` ipmi (the default): the BMC is a ``python3 -m stackwright_agent.vbmc``
process listening on UDP. ``protocol`` redfish: it is sushy-tools' emulator
(``python3 -m stackwright_agent.sushy_bmc``: its libvirt driver, kept to one system) listening on TCP,
over HTTPS with a self-signed certificate the driver makes (``<name>.crt``, the CA
a client verifies against; ``certificate`` in the resource), HTTP basic auth from a
bcrypt htpasswd file (``<name>.htpasswd``, 0600), and shown only its own domain
(SUSHY_EMULATOR_ALLOWED_INSTANCES: the domain's UUID, which is the system's Id,
``system_id`` in the resource). Its settings are the Python file ``<name>.conf``
(0600) its command line names. Everything below holds for both.

Each BMC is a ``python3 -m stackwright_agent.vbmc`` process, optionally inside a
network namespace, listening on ``address``:``port`` (UDP). Its settings,
credentials included, are in ``<state_dir>/bmcs/<name>.json`` (mode 0600) and
never on its command line; its pid is in ``<name>.pid``, its log in
``<name>.log``. The process runs in a session of its own, so it outlives an
agent restart; the agent finds it again through the pid file, or, when an agent
was killed before it wrote that file, by its command line (the module and this
spec file): such an orphan is adopted when it runs the wanted settings, else
ended, so a retry never fails on a port the orphan holds.

The password is never returned: ``credentials`` is a short digest of a per-BMC
random salt, the username and the password, enough to see (and predict) that a
request changes the credentials. The driver's ``secret_fields`` name the request
fields that must not be journaled.
"""

import hashlib
import importlib.util
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

from .. import schema as s
from ..errors import CommandFailed, InvalidField, Unsupported
from . import Driver
from .bridges import ip_json, require_netns
from .domains import DomainDriver

LOG = logging.getLogger("stackwright-agent.bmcs")


class Secret(s.Str):
    """A string whose value never appears in an error message (or anywhere else)."""

    def check(self, value, path):
        try:
            return super().check(value, path)
        except InvalidField:
            raise InvalidField(path, "must be a string of %d characters at most: %s" % (self.max_len, self.hint))


SCHEMA = s.Obj({
    "name": s.NAME,  # the libvirt domain the BMC controls
    "netns": s.NETNS,
    "state": s.Enum("present", "absent", default="present"),
    # loopback allowed: a BMC on 127.0.0.1 inside a lab namespace is reached from there
    "address": s.Ip(loopback=True, doc="IP address the BMC listens on; it must be on an interface (in netns)"),
    "protocol": s.Enum("ipmi", "redfish", default="ipmi"),
    # unset: the protocol's port (DEFAULT_PORTS)
    "port": s.Int(minimum=1, maximum=65535),
    # IPMI 2.0 limits: user names up to 16 bytes, passwords up to 20
    "username": s.Str(max_len=16, pattern=r"[!-~]+", hint="use printable ASCII without spaces"),
    "password": Secret(max_len=20, pattern=r"[ -~]+", hint="printable ASCII"),
})

MODULE = "stackwright_agent.vbmc"
# the Redfish BMC: sushy-tools' emulator behind a guard that keeps it to its one system
SUSHY_MODULE = "stackwright_agent.sushy_bmc"
# a Redfish BMC's files besides the IPMI BMC's (.json, .pid, .log)
REDFISH_FILES = (".conf", ".htpasswd", ".crt", ".key")
DEFAULT_PORTS = {"ipmi": 623, "redfish": 443}
# the self-signed certificate of a Redfish BMC (as vendors ship theirs)
CERT_DAYS = 3650
# how long converge waits for a started BMC to bind its port, or a stopped one to exit
START_TIMEOUT = 10
STOP_TIMEOUT = 10
# the package's parent directory: the BMC process must import the same code
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def credentials_digest(salt, username, password):
    data = "\0".join((salt, username, password)).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _proc_state(pid):
    """The process state letter from /proc/<pid>/stat, or None when there is none."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _reap(pid):
    """Collect the exit status when the BMC is our own child (started by this agent
    process), so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _port(spec):
    return spec.get("port") or DEFAULT_PORTS[spec.get("protocol") or "ipmi"]


def _ports_bound(pid, protocol="ipmi"):
    """Local ports process ``pid`` serves on - UDP sockets for IPMI, listening TCP
    sockets for Redfish - read through its own /proc view, which shows its network
    namespace."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    tcp = protocol == "redfish"
    for table in ("tcp", "tcp6") if tcp else ("udp", "udp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table), encoding="ascii") as fh:
                next(fh)
                for line in fh:
                    cols = line.split()
                    # TCP: only sockets in LISTEN (0A)
                    if len(cols) > 9 and cols[9] in inodes and (not tcp or cols[3] == "0A"):
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except (OSError, StopIteration):
            continue
    return ports


class BmcDriver(Driver):
    kind = "bmcs"
    schema = SCHEMA
    # request fields the API must never journal or echo
    secret_fields = ("password",)

    def __init__(self, config):
        super().__init__(config)
        # salts for BMCs not created yet, so a dry run and the real run predict alike
        self._new_salts = {}

    # -- files -----------------------------------------------------------------
    @property
    def dir(self):
        return os.path.join(self.config.state_dir, "bmcs")

    def _path(self, name, ext):
        return os.path.join(self.dir, name + ext)

    def _salt(self, name, stored):
        if stored and stored.get("salt"):
            return stored["salt"]
        return self._new_salts.setdefault(name, secrets.token_hex(16))

    def _pid(self, name):
        """The pid of this BMC's process when it runs, else None: the pid file's, or
        the oldest process running this BMC's spec file that the pid file does not
        name (an agent killed between starting it and writing the file); converge
        adopts that one."""
        try:
            with open(self._path(name, ".pid"), encoding="ascii") as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            pid = None
        # the pid may have been reused by another process since: check it is ours
        if pid is not None:
            _reap(pid)  # as before: a BMC this agent process started, exited, is no zombie
            if self._runs_bmc(pid, name):
                return pid
        found = self._processes(name)
        if not found:
            return None
        return found[0]  # the oldest holds the port

    def _runs_bmc(self, pid, name):
        # the command line first: only our BMCs are looked at further (never reaped here:
        # the status of another child of this process is not ours to collect)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                argv = fh.read().decode("utf-8", "replace").split("\0")
        except OSError:
            return False
        if not ((MODULE in argv and self._path(name, ".json") in argv)
                or (SUSHY_MODULE in argv and self._path(name, ".conf") in argv)):
            return False
        return _proc_state(pid) not in (None, "Z", "X")

    def _processes(self, name):
        """Every live process running this BMC's spec file, oldest first."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid() and self._runs_bmc(int(entry), name):
                try:
                    with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as fh:
                        started = int(fh.read().rsplit(")", 1)[1].split()[19])
                except (OSError, IndexError, ValueError):
                    continue
                found.append((started, int(entry)))
        return [pid for _, pid in sorted(found)]

    def _write_pid(self, name, pid):
        tmp = self._path(name, ".pid.tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write("%d\n" % pid)
        os.replace(tmp, self._path(name, ".pid"))  # never an empty pid file, whenever the agent dies

    # -- Driver interface ------------------------------------------------------
    def validate(self, spec):
        ns = spec["netns"]
        require_netns(ns)
        if spec["state"] == "absent":
            return
        for field in ("address", "username", "password"):
            if spec[field] is None:
                raise InvalidField(field, "is required for a BMC that is present")
        redfish = spec["protocol"] == "redfish"
        if redfish and ":" in spec["username"]:
            raise InvalidField("username", "must not contain ':' for a Redfish BMC (HTTP basic auth splits on it)")
        try:
            address = str(ipaddress.ip_address(spec["address"]))
        except ValueError:
            raise InvalidField("address", "%r is not an IP address" % spec["address"])
        links = ip_json(["addr", "show"], netns=ns)
        lo = [r for r in links if r.get("ifname") == "lo"]
        if lo and "UP" not in lo[0].get("flags", []) and not redfish:
            # pyghmi's session loop wakes itself through a loopback socket
            raise InvalidField("netns", "the loopback interface is down in %s; bring it up first "
                               "(ip -n %s link set lo up)" % ("netns " + ns if ns else "the host namespace", ns or "."))
        local = {a.get("local") for r in links for a in r.get("addr_info", [])}
        if address not in local:
            raise InvalidField("address", "%s is not on any interface in %s; add it to one first (e.g. a bridge's "
                               "addresses)" % (address, "netns " + ns if ns else "the host namespace"))
        for other in self._stored_specs():
            if (other["name"] != spec["name"] and other.get("netns") == ns and other["address"] == address
                    and other["port"] == _port(spec)
                    and (other.get("protocol") or "ipmi") == spec["protocol"]):  # UDP and TCP ports differ
                raise InvalidField("port", "%s port %d is taken by the BMC of %r"
                                   % (address, _port(spec), other["name"]))
        for module in ("sushy_tools", "bcrypt") if redfish else ("pyghmi",):
            if importlib.util.find_spec(module) is None:
                raise Unsupported("the %s BMC needs %s, which is not installed for %s"
                                  % (spec["protocol"], module, sys.executable))
        if redfish and shutil.which("openssl") is None:
            raise Unsupported("the redfish BMC needs openssl (its certificate), which is not installed")
        if DomainDriver(self.config).read({"name": spec["name"]}) is None:
            raise InvalidField("name", "no domain %r in libvirt (%s); define it first"
                               % (spec["name"], self.config.libvirt_uri))

    def _stored_specs(self):
        try:
            names = sorted(f[:-5] for f in os.listdir(self.dir) if f.endswith(".json"))
        except FileNotFoundError:
            return []
        specs = []
        for name in names:
            stored = _read_json(self._path(name, ".json"))
            if stored:
                specs.append(dict(stored, name=name))
        return specs

    def read(self, spec):
        name = spec["name"]
        stored = _read_json(self._path(name, ".json"))
        if stored is None:
            return None
        return self._resource(stored, self._pid(name) is not None)

    def _resource(self, content, running):
        redfish = content.get("protocol") == "redfish"
        return {"name": content["domain"], "netns": content.get("netns"), "protocol": content.get("protocol", "ipmi"),
                "address": content["address"], "port": content["port"], "username": content["username"],
                "running": running,
                "credentials": credentials_digest(content.get("salt", ""), content["username"], content["password"]),
                # what a Redfish client needs: the system's Id and the CA to verify the BMC with
                "system_id": content.get("system_id") if redfish else None,
                "certificate": self._path(content["domain"], ".crt") if redfish else None}

    def _file_content(self, spec, stored):
        content = {"domain": spec["name"], "netns": spec["netns"],
                   "address": str(ipaddress.ip_address(spec["address"])), "port": _port(spec),
                   "username": spec["username"], "password": spec["password"],
                   "libvirt_uri": self.config.libvirt_uri, "salt": self._salt(spec["name"], stored)}
        if spec["protocol"] == "redfish":  # the IPMI BMC's file stays as it was: no restart on upgrade
            content["protocol"] = "redfish"
            content["system_id"] = self._domain_uuid(spec["name"])
        return content

    def _domain_uuid(self, name):
        dom = DomainDriver(self.config)
        conn = dom._connect()
        try:
            found = dom._lookup(conn, name)
            if found is None:
                raise InvalidField("name", "no domain %r in libvirt (%s); define it first"
                                   % (name, self.config.libvirt_uri))
            return found.UUIDString()
        finally:
            conn.close()

    def predict(self, spec, current):
        if spec["state"] == "absent":
            return None
        stored = _read_json(self._path(spec["name"], ".json"))
        return self._resource(self._file_content(spec, stored), True)

    def converge(self, spec, current):
        name = spec["name"]
        if spec["state"] == "absent":
            self._stop(name)
            self._unlink(name, (".json", ".pid", ".log") + REDFISH_FILES)
            self._new_salts.pop(name, None)
            return
        stored = _read_json(self._path(name, ".json"))
        want = self._file_content(spec, stored)
        pid = self._pid(name)
        if want == stored and pid is not None and self._adopt(name, pid, want):
            return
        self._stop(name)  # a BMC reads its settings once, at start
        self._write_spec(name, want)
        if spec["protocol"] == "redfish":
            self._write_redfish_files(name, want)
        else:
            self._unlink(name, REDFISH_FILES)  # it was a Redfish BMC before
        self._start(name, spec["netns"], want)

    def _unlink(self, name, extensions):
        for ext in extensions:
            try:
                os.unlink(self._path(name, ext))
            except FileNotFoundError:
                pass

    def list(self, query):
        return [self.read({"name": stored["name"]}) for stored in self._stored_specs()]

    # -- process ---------------------------------------------------------------
    def _adopt(self, name, pid, content):
        """Keep the running BMC ``pid`` (it runs the wanted settings): its pid file
        written, younger duplicates ended, its port listening. False when it does
        not come to listen: it is then stopped and started again."""
        if not self._runs_bmc(pid, name):
            return False
        for extra in self._processes(name):
            if extra != pid:
                LOG.warning("BMC for domain %s: ending duplicate pid %d (pid %d holds the port)", name, extra, pid)
                self._stop_pid(name, extra)
        try:
            with open(self._path(name, ".pid"), encoding="ascii") as fh:
                recorded = int(fh.read().strip())
        except (OSError, ValueError):
            recorded = None
        if recorded != pid:
            LOG.warning("BMC for domain %s runs as pid %d, which its pid file does not name (an agent was killed "
                        "while starting it): adopting it", name, pid)
            self._write_pid(name, pid)
        return self._wait_listening(name, pid, content)

    def _wait_listening(self, name, pid, content, proc=None):
        """True once ``pid`` listens on its port (``content``); False when it exits first or takes
        longer than START_TIMEOUT. A child just started (``proc``) is watched through
        it: until it execs, its command line is still the agent's."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and (proc.poll() is None if proc else self._runs_bmc(pid, name)):
            if content["port"] in _ports_bound(pid, content.get("protocol", "ipmi")):
                return True
            time.sleep(0.1)
        return False

    def _write_spec(self, name, content):
        self._write_private(self._path(name, ".json"), json.dumps(content, sort_keys=True))

    def _write_private(self, path, text, mode=0o600):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        tmp = path + ".tmp"
        # born 0600: the password is never readable by others, not even briefly
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def _write_redfish_files(self, name, content):
        """The emulator's settings, its htpasswd and a fresh self-signed certificate
        for its address (the key 0600; the certificate is public)."""
        import bcrypt
        crt, key = self._path(name, ".crt"), self._path(name, ".key")
        self._write_private(key + ".new", "")  # openssl writes into a file that is already 0600
        proc = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(CERT_DAYS),
             "-subj", "/CN=%s" % content["address"], "-addext", "subjectAltName=IP:%s" % content["address"],
             "-addext", "basicConstraints=critical,CA:TRUE", "-keyout", key + ".new", "-out", crt + ".new"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CommandFailed("openssl could not make the certificate of the BMC for domain %r: %s"
                                % (name, proc.stderr.strip()[-300:]))
        os.chmod(crt + ".new", 0o644)
        os.replace(key + ".new", key)
        os.replace(crt + ".new", crt)
        hashed = bcrypt.hashpw(content["password"].encode("utf-8"), bcrypt.gensalt()).decode("ascii")
        self._write_private(self._path(name, ".htpasswd"), "%s:%s\n" % (content["username"], hashed))
        settings = {
            "SUSHY_EMULATOR_LISTEN_IP": content["address"],
            "SUSHY_EMULATOR_LISTEN_PORT": content["port"],
            "SUSHY_EMULATOR_LIBVIRT_URI": content["libvirt_uri"],
            "SUSHY_EMULATOR_ALLOWED_INSTANCES": [content["system_id"]],
            "SUSHY_EMULATOR_AUTH_FILE": self._path(name, ".htpasswd"),
            "SUSHY_EMULATOR_SSL_CERT": crt,
            "SUSHY_EMULATOR_SSL_KEY": key,
        }
        self._write_private(self._path(name, ".conf"),
                            "".join("%s = %r\n" % item for item in sorted(settings.items())))

    def _start(self, name, netns, content):
        port = content["port"]
        if content.get("protocol") == "redfish":
            argv = [sys.executable, "-m", SUSHY_MODULE, "--config", self._path(name, ".conf")]
        else:
            argv = [sys.executable, "-m", MODULE, "--spec", self._path(name, ".json")]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv  # ip execs the BMC: the pid stays the same
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        log_path = self._path(name, ".log")
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # a session of its own: the BMC survives the agent's restart and its signals
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    start_new_session=True, close_fds=True)
        finally:
            os.close(log)
        self._write_pid(name, proc.pid)
        if self._wait_listening(name, proc.pid, content, proc):
            LOG.info("BMC for domain %s runs as pid %d", name, proc.pid)
            return
        if proc.poll() is None:
            self._stop(name)
        raise CommandFailed("the BMC for domain %r did not start listening on port %d within %ds; its log says: %s"
                            % (name, port, START_TIMEOUT, self._log_tail(name)))

    def _log_tail(self, name, lines=5):
        try:
            with open(self._path(name, ".log"), encoding="utf-8", errors="replace") as fh:
                return " | ".join(line.strip() for line in fh.readlines()[-lines:]) or "(nothing)"
        except OSError:
            return "(no log)"

    def _stop(self, name):
        # the tracked process and any orphan beside it
        for pid in [p for p in [self._pid(name)] if p is not None] + self._processes(name):
            self._stop_pid(name, pid)

    def _stop_pid(self, name, pid):
        if not self._runs_bmc(pid, name):
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline:
                _reap(pid)  # ours: its command line said so
                if not self._runs_bmc(pid, name):
                    break
                time.sleep(0.1)
            if not self._runs_bmc(pid, name):
                LOG.info("BMC for domain %s (pid %d) stopped", name, pid)
                return
            LOG.warning("BMC for domain %s (pid %d) outlived signal %d for %ds", name, pid, sig, STOP_TIMEOUT)
        raise CommandFailed("the BMC for domain %r (pid %d) does not stop, not even on SIGKILL" % (name, pid))
