"""A virtual BMC for one libvirt domain: IPMI 2.0 over LAN (RMCP+, cipher suite 3)
on a UDP port, with chassis power and the boot device mapped onto libvirt.

    python3 -m stackwright_agent.vbmc --spec FILE

FILE is a JSON object, mode 0600, with ``domain``, ``address``, ``port``,
``username``, ``password`` and ``libvirt_uri`` (other keys are ignored). The
credentials live in that file and never on the command line, which ``ps`` shows
to every user. The agent's ``bmcs`` driver writes the file and runs this module;
it logs to stderr.

Design:

* All libvirt work happens in one worker thread, in the order the requests
  arrived. The IPMI loop only reads a snapshot the worker keeps fresh (every
  second and after each operation) and queues operations, so every request is
  answered at once: redefining a domain can take a minute on hosts where libvirt
  re-probes QEMU, far longer than an IPMI client waits for an answer. Power
  requests are acknowledged like on real hardware and take effect shortly after;
  the power state reported is libvirt's.
* The boot device is the first of the domain's boot order in its persistent
  definition (the one the next start uses), rewritten with defineXML like
  VirtualBMC does: ``<os><boot dev=.../>`` for a BIOS domain, per-device
  ``<boot order=.../>`` for a UEFI one (OVMF reads only those). "Next boot only" requests also store the previous order
  in the domain's ``<metadata>``; after the domain's next start it is put back.
  Keeping that record in the definition, not in this process, means a restarted
  BMC still restores it.
* A request that cannot be queued because libvirt is unreachable is answered
  with completion code 0xC0 (node busy), which clients retry.
"""

import argparse
import json
import logging
import os
import queue
import signal
import stat
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pyghmi.ipmi.bmc as bmc
import pyghmi.ipmi.command as ipmicommand
import pyghmi.ipmi.private.constants as constants
import pyghmi.ipmi.private.serversession as serversession
import pyghmi.ipmi.private.session as ipmisession

from .drivers import domains

LOG = logging.getLogger("stackwright-vbmc")

# IPMI completion codes
CC_OK = 0x00
CC_PARAM_NOT_SUPPORTED = 0x80
CC_NODE_BUSY = 0xC0
CC_INVALID_DATA = 0xCC
CC_NOT_IN_PRESENT_STATE = 0xD5

# boot device names: pyghmi's (IPMI's) and libvirt's <boot dev=...>
LIBVIRT_DEV = {"network": "network", "hd": "hd", "optical": "cdrom", "floppy": "fd"}
IPMI_DEV = {v: k for k, v in LIBVIRT_DEV.items()}

# where a pending "next boot only" request is remembered, in the domain's <metadata>
META_NS = "urn:stackwright:vbmc:1"
META_TAG = "{%s}bootonce" % META_NS
ET.register_namespace("swvbmc", META_NS)
ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")

POLL_SECONDS = 1.0
# idempotent operations are tried this often when libvirt fails, RETRY_DELAY seconds apart
RETRIES = 3
RETRY_DELAY = 2.0
REQUIRED_KEYS = ("domain", "address", "port", "username", "password", "libvirt_uri")


def _libvirt():
    import libvirt
    # libvirt prints every error to stderr by default; we log them ourselves
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


# -- the libvirt side ----------------------------------------------------------

def boot_order(root):
    return domains.boot_order(root)


def boot_record(root):
    """The pending next-boot-only record: {"once": [...], "restore": [...], "domid": int}."""
    el = root.find("metadata/" + META_TAG)
    if el is None:
        return None
    try:
        return {"once": el.get("once", "").split(), "restore": el.get("restore", "").split(),
                "domid": int(el.get("domid", "-1"))}
    except ValueError:
        return None


def rewrite_boot(xml, order, record):
    """The definition ``xml`` with only its ``<os><boot>`` elements (and our
    metadata record) replaced; everything else is kept as it is."""
    root = ET.fromstring(xml)
    domains.write_boot_order(root, order)
    meta = root.find("metadata")
    if meta is not None:
        for el in meta.findall(META_TAG):
            meta.remove(el)
    if record:
        if meta is None:
            meta = ET.SubElement(root, "metadata")
        ET.SubElement(meta, META_TAG, once=" ".join(record["once"]),
                      restore=" ".join(record["restore"]), domid=str(record["domid"]))
    elif meta is not None and len(meta) == 0:
        root.remove(meta)
    return ET.tostring(root, encoding="unicode")


class Domain:
    """One libvirt domain. Used from the worker thread only."""

    def __init__(self, uri, name):
        self.uri = uri
        self.name = name
        self._conn = None

    def _dom(self):
        libvirt = _libvirt()
        if self._conn is None:
            self._conn = libvirt.open(self.uri)
        try:
            return self._conn.lookupByName(self.name)
        except libvirt.libvirtError:
            self.disconnect()  # the connection may be dead; the next call reconnects
            raise

    def disconnect(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def snapshot(self):
        libvirt = _libvirt()
        dom = self._dom()
        active = bool(dom.isActive())
        persistent = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        return {
            "uuid": dom.UUIDString(),
            "active": active,
            "id": dom.ID() if active else -1,
            "order": boot_order(persistent),
            # the order the running guest was started with (a reset keeps it)
            "live_order": boot_order(ET.fromstring(dom.XMLDesc(0))) if active else None,
            "record": boot_record(persistent),
        }

    def define_boot(self, order, record):
        libvirt = _libvirt()
        dom = self._dom()
        # SECURE: keep secrets such as VNC passwords in the redefinition
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        self._conn.defineXML(rewrite_boot(xml, order, record))

    def create(self):
        self._dom().create()

    def destroy(self):
        self._dom().destroy()

    def shutdown(self):
        self._dom().shutdown()

    def reset(self):
        self._dom().reset(0)


class Worker(threading.Thread):
    """Runs libvirt operations one at a time, in order, and keeps ``view`` (the
    domain's last snapshot, None while libvirt cannot be reached) fresh."""

    def __init__(self, domain):
        super().__init__(name="libvirt", daemon=True)
        self.domain = domain
        self.view = None
        self._ops = queue.Queue()
        self._last_error = None
        self._stopped_since = None  # the pending record when the domain was last seen off

    def submit(self, label, fn, retry=True):
        """Queue ``fn``. ``retry``: it is idempotent, so it may run again when
        libvirt failed midway (libvirtd restarting, say)."""
        self._ops.put((label, fn, retry))

    def busy(self):
        return not self._ops.empty()

    def run(self):
        while True:
            try:
                self._execute(*self._ops.get(timeout=POLL_SECONDS))
            except queue.Empty:
                pass
            self.refresh()
            if self.view is not None:
                try:
                    self.check_boot_once(self.view)
                except Exception as exc:
                    LOG.error("%s: restoring the boot order failed: %s", self.domain.name, exc)
                    self.domain.disconnect()

    def _execute(self, label, fn, retry):
        LOG.info("%s: %s", self.domain.name, label)
        attempts = RETRIES if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                fn()
                return
            except Exception as exc:  # a failed operation must not stop the BMC
                self.domain.disconnect()
                if attempt == attempts:
                    LOG.error("%s: %s failed: %s", self.domain.name, label, exc)
                else:
                    LOG.warning("%s: %s failed (%s); trying again", self.domain.name, label, exc)
                    time.sleep(RETRY_DELAY)

    def current(self):
        """A fresh snapshot, for operations that act on it."""
        view = self.refresh()
        if view is None:
            raise RuntimeError("libvirt cannot be reached: %s" % self._last_error)
        return view

    def refresh(self):
        try:
            self.view = self.domain.snapshot()
            if self._last_error:
                LOG.info("%s: libvirt answers again", self.domain.name)
            self._last_error = None
        except Exception as exc:
            self.view = None
            if str(exc) != self._last_error:  # log a lasting outage once, not every second
                LOG.error("%s: cannot read the domain: %s", self.domain.name, exc)
                self._last_error = str(exc)
        return self.view

    def check_boot_once(self, view, booted=False):
        """Put back the boot order a next-boot-only request replaced, once the
        domain has started with it: it runs with another id than when the request
        was applied, or was seen off since, or the caller says it was ``booted``."""
        record = view["record"]
        if not record:
            return
        if view["order"] != record["once"]:
            # someone else (an operator, the agent's domains API) changed the order
            # since: theirs wins, forget ours
            LOG.info("%s: boot order changed elsewhere; dropping the next-boot-only record",
                     self.domain.name)
            self.domain.define_boot(view["order"], None)
        elif not view["active"]:
            # the instance that ran when the request came has stopped: any start from now
            # on is the next boot, even one that gets the same id again (libvirtd numbers
            # domains anew after a restart)
            self._stopped_since = record
            return
        elif booted or view["id"] != record["domid"] or self._stopped_since == record:
            LOG.info("%s: started with the next-boot-only order %s; restoring %s",
                     self.domain.name, record["once"], record["restore"])
            self.domain.define_boot(record["restore"], None)
        else:
            return
        self.refresh()


# -- the IPMI side -------------------------------------------------------------

class _Sha1OnlySession(serversession.ServerSession):
    """pyghmi's server session always answers an RMCP+ Open Session Request
    with cipher suite 3 (HMAC-SHA1 / HMAC-SHA1-96 / AES-CBC-128), whatever the
    client proposed. pyghmi's own client proposes SHA-256 first and then fails
    on the SHA-1 RAKP2 (struct.error in _got_rakp2). Refusing other proposals
    with status 0x11 (no cipher suite match) makes that client retry with SHA-1,
    and makes any other client fail cleanly instead of mid-handshake."""

    SUITE_3 = {0: 1, 1: 1, 2: 1}  # payload type -> algorithm: auth, integrity, confidentiality

    def create_open_session_response(self, request):
        proposed = {}
        for offset in (8, 16, 24):  # three 8-byte algorithm payloads (IPMI 2.0 table 13-16)
            rec = request[offset:offset + 8]
            if len(rec) == 8 and rec[3] == 8:  # a zero length means "the BMC picks"
                proposed[rec[0]] = rec[4] & 0x3F
        if any(self.SUITE_3.get(ptype) != algo for ptype, algo in proposed.items()):
            # table 13-17: tag, status, reserved, reserved, console session id
            return bytearray([request[0], 0x11, 0, 0]) + bytearray(request[4:8])
        return super().create_open_session_response(request)

    def _got_rakp1(self, data):
        # pyghmi's server ignores a RAKP1 for a user it does not know; real BMCs answer
        # RAKP2 with status 0x0D (unauthorized name), and a client left without an
        # answer retries the handshake for ever
        name = bytes(data[28:]).decode("utf-8", "replace")
        if len(data) > 28 and data[27] and self.authdata.get(name) is None:
            self.send_payload(bytearray([data[0], 0x0D, 0, 0]) + self.clientsessionid,
                              constants.payload_types["rakp2"], retry=False)
            return
        super()._got_rakp1(data)

    def sessionless_data(self, data, sockaddr):
        # A client that logs in again from the address and port of a session it let
        # lapse (a long-lived client, as the undercloud's conductor is, keeps its UDP
        # socket): pyghmi hands the new session request to the old session, which has
        # no such method, and its server loop died of it. A BMC starts a new session.
        self.bmc.sessionless_data(data, sockaddr)


class VirtualBmc(bmc.Bmc):
    def __init__(self, spec, worker):
        self.worker = worker
        self.domain_name = spec["domain"]
        # a boot request the worker has not applied yet: reported by Get System Boot Options
        self.pending_boot = None
        view = worker.view
        super().__init__({spec["username"]: spec["password"]}, port=spec["port"],
                         address=spec["address"],
                         bmcuuid=uuid.UUID(view["uuid"]) if view else None)

    def sessionless_data(self, data, sockaddr):
        data = bytearray(data)
        # an RMCP+ Open Session Request (IPMI 2.0, payload type 0x10) starts a session:
        # use our session class; everything else as pyghmi does it
        if len(data) >= 22 and data[0] == 6 and data[2:4] == b"\xff\x07" and data[4] == 6 and data[5] == 0x10:
            _Sha1OnlySession(self.authdata, self.kg, sockaddr, self.serversocket, data[16:], self.uuid, bmc=self)
            return
        super().sessionless_data(data, sockaddr)

    def serve(self):
        while True:
            try:
                ipmisession.Session.wait_for_rsp(timeout=30)
            except Exception:  # a packet it cannot handle must not take the BMC down
                LOG.exception("%s: a request failed", self.domain_name)

    # -- power ---------------------------------------------------------------
    def _queue(self, label, fn, retry=True):
        if self.worker.view is None:
            return CC_NODE_BUSY
        self.worker.submit(label, fn, retry)
        return CC_OK

    def get_power_state(self):
        view = self.worker.view
        if view is None:
            raise NotImplementedError  # not reached: get_chassis_status answers first
        return "on" if view["active"] else "off"

    def get_chassis_status(self, session):
        view = self.worker.view
        if view is None:
            return session.send_ipmi_response(code=CC_NODE_BUSY)
        # current power state: bit 0 power is on; the other bytes say nothing is wrong
        session.send_ipmi_response(data=[1 if view["active"] else 0, 0, 0])

    def get_system_guid(self):
        view = self.worker.view
        return uuid.UUID(view["uuid"]) if view else self.uuid

    def power_on(self):
        return self._queue("power on", self._do_on)

    def power_off(self):
        return self._queue("power off", self._do_off)

    def power_shutdown(self):
        return self._queue("soft shutdown (ACPI)", self._do_shutdown)

    def power_cycle(self):
        return self._queue("power cycle", self._do_cycle, retry=False)

    def power_reset(self):
        view = self.worker.view
        if view is not None and not view["active"] and not self.worker.busy():
            return CC_NOT_IN_PRESENT_STATE  # like hardware: a powered-off system has nothing to reset
        return self._queue("power reset", self._do_reset, retry=False)

    def _do_on(self):
        if not self.worker.current()["active"]:
            self.worker.domain.create()

    def _do_off(self):
        if self.worker.current()["active"]:
            self.worker.domain.destroy()

    def _do_shutdown(self):
        if self.worker.current()["active"]:
            self.worker.domain.shutdown()

    def _do_cycle(self):
        if self.worker.current()["active"]:
            self.worker.domain.destroy()
        self.worker.domain.create()

    def _do_reset(self):
        view = self.worker.current()
        if not view["active"]:
            LOG.info("%s: reset ignored, the domain is off", self.domain_name)
            return
        if view["live_order"] != view["order"]:
            # a guest reset keeps the boot order the domain was started with; restart
            # it so a boot device set since takes effect, as on real hardware
            self.worker.domain.destroy()
            self.worker.domain.create()
        else:
            self.worker.domain.reset()
        self.worker.check_boot_once(self.worker.current(), booted=True)

    # -- boot device ---------------------------------------------------------
    def get_boot_device(self):
        view = self.worker.view
        return IPMI_DEV.get(self._reported_boot(view)[0], "default") if view else "default"

    def _reported_boot(self, view):
        """(libvirt device or None, persistent) as a client should see it."""
        pending = self.pending_boot
        if pending is not None and pending[0] is not None:
            return pending
        if view["record"]:
            return view["record"]["once"][0], False
        return (view["order"][0] if view["order"] else None), True

    def get_system_boot_options(self, request, session):
        selector = request["data"][0] & 0x7F if request["data"] else None
        if selector != 5:  # only the boot flags parameter is kept
            return session.send_ipmi_response(code=CC_PARAM_NOT_SUPPORTED)
        view = self.worker.view
        if view is None:
            return session.send_ipmi_response(code=CC_NODE_BUSY)
        dev, persistent = self._reported_boot(view)
        flags = 0x80 | (0x40 if persistent else 0)  # valid; persistent or next boot only
        device = ipmicommand.boot_devices[IPMI_DEV.get(dev, "default")]
        # parameter version 1, parameter 5, then the 5 bytes of boot flags
        session.send_ipmi_response(data=[1, 5, flags, device, 0, 0, 0])

    def set_system_boot_options(self, request, session):
        data = request["data"]
        selector = data[0] & 0x7F if data else None
        if selector in (0, 3, 4):
            # set-in-progress, service partition, boot info acknowledge: accepted, not kept
            return session.send_ipmi_response()
        if selector != 5 or len(data) < 3:
            return session.send_ipmi_response(code=CC_PARAM_NOT_SUPPORTED if selector != 5 else CC_INVALID_DATA)
        flags, code = data[1], (data[2] >> 2) & 0x0F
        persistent = bool(flags & 0x40)
        if not flags & 0x80 or code == 0:
            dev = None  # "no override": back to the persistent order
        else:
            dev = LIBVIRT_DEV.get(ipmicommand.boot_devices.get(code))
            if dev is None:
                LOG.info("%s: boot device %r is not supported", self.domain_name,
                         ipmicommand.boot_devices.get(code, code))
                return session.send_ipmi_response(code=CC_INVALID_DATA)
        request_token = (dev, persistent)
        label = "boot device %s (%s)" % (dev or "default", "persistent" if persistent else "next boot only")
        code = self._queue(label, lambda: self._do_boot(dev, persistent, request_token))
        if code == CC_OK:
            self.pending_boot = request_token
        session.send_ipmi_response(code=code)

    def _do_boot(self, dev, persistent, token):
        try:
            view = self.worker.current()
            record = view["record"]
            if record and view["order"] != record["once"]:
                record = None  # stale: the order was changed elsewhere since
            base = record["restore"] if record else view["order"]
            if dev is None:
                order, new_record = base, None
            else:
                order = [dev] + [d for d in base if d != dev]
                new_record = None
                if not persistent and order != base:
                    new_record = {"once": order, "restore": base,
                                  "domid": view["id"] if view["active"] else -1}
            if order != view["order"] or new_record != view["record"]:
                self.worker.domain.define_boot(order, new_record)
        finally:
            if self.pending_boot is token:
                self.pending_boot = None


# -- process -------------------------------------------------------------------

def load_spec(path):
    st = os.stat(path)
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise SystemExit("%s holds credentials and must not be readable by others (chmod 600)" % path)
    with open(path, encoding="utf-8") as fh:
        spec = json.load(fh)
    missing = [k for k in REQUIRED_KEYS if k not in spec]
    if missing:
        raise SystemExit("%s lacks %s" % (path, ", ".join(missing)))
    return spec


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m stackwright_agent.vbmc",
                                     description="Virtual IPMI BMC for one libvirt domain.")
    parser.add_argument("--spec", required=True, help="JSON file (mode 0600) with domain, address, port, "
                        "username, password, libvirt_uri")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = load_spec(args.spec)
    worker = Worker(Domain(spec["libvirt_uri"], spec["domain"]))
    worker.refresh()
    server = VirtualBmc(spec, worker)
    worker.start()

    def stop(signum, _frame):
        # raised in the main thread, out of pyghmi's wait: its I/O thread wakes only
        # for packets, so a flag checked between waits could go unseen for minutes
        LOG.info("signal %d: stopping", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info("BMC for domain %s listening on %s port %d", spec["domain"], spec["address"], spec["port"])
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
