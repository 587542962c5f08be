"""KVM/QEMU domains through libvirt-python.

The resource is read from the domain's live libvirt definition (its persistent,
"inactive" XML), never from metadata of our own, so changes made out of band --
a virtual BMC switching the boot order, an operator running ``virsh edit`` --
show up in the next read and are converged back when a request names the field.

Definition fields (domain_type, firmware, vcpus, memory_mib, disks, nics,
boot, console_log) are changed by redefining the domain with the same UUID. Only the
parts of the XML whose field changed are rewritten; the rest (PCI addresses,
controllers, devices we do not manage) is kept. libvirt applies a new
definition at the next boot: a running domain keeps its old hardware until it
is powered off and started again (state stopped, then running).

Fields a request leaves unset (None) keep the domain's current values; when a
domain is created, vcpus and memory_mib are required, boot defaults to
["hd"], firmware to "bios" and domain_type to the agent's ``domain_type``
setting ("auto": kvm when /dev/kvm is usable, else plain qemu/TCG).

firmware "uefi" is OVMF (its code read-only, its variables a per-domain copy
libvirt makes from the template). UEFI firmware ignores ``<os><boot>`` (QEMU's
-boot order is for the PC BIOS); it takes the order from the devices'
``bootindex``, so a UEFI domain's boot order is written per device (``<boot
order='N'/>`` on its first disk and first NIC), a BIOS domain's as ``<os><boot>``.
"""

import json
import logging
import os
import stat
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from .. import schema as s
from ..errors import AgentError, CommandFailed, InvalidField, Unsupported
from . import Driver, run

LOG = logging.getLogger("stackwright-agent.domains")

DISK = s.Obj({
    "path": s.Path(required=True, doc="absolute path of the image file (or block device)"),
    "format": s.Enum("qcow2", "raw", default="qcow2"),
    "size_gib": s.Int(minimum=1, maximum=65536, doc="create the image with this size when it is missing"),
    "backing": s.Path(doc="create the image as a qcow2 overlay on this file when it is missing"),
    "bus": s.Enum("virtio", "sata", default="virtio"),
    "cache": s.Enum("default", "none", "writeback", "unsafe", default="default"),
})

NIC = s.Obj({
    "bridge": s.IFNAME,
    "mac": s.Mac(required=True),
    "model": s.Enum("virtio", "e1000", default="virtio"),
})

SCHEMA = s.Obj({
    "name": s.NAME,
    "state": s.Enum("running", "stopped", "present", "absent", default="running"),
    "domain_type": s.Enum("auto", "kvm", "qemu"),
    "vcpus": s.Int(minimum=1, maximum=64),
    "memory_mib": s.Int(minimum=64, maximum=1048576),
    "disks": s.List(DISK),
    "nics": s.List(NIC),
    "boot": s.List(s.Enum("network", "hd"), min_items=1, unique=True),
    "firmware": s.Enum("bios", "uefi"),
    "console_log": s.Bool(default=True),
    "stop_timeout": s.Int(minimum=0, maximum=3600, default=60),
    "delete_disks": s.Bool(default=False),
})

DEFINITION_FIELDS = ("domain_type", "firmware", "vcpus", "memory_mib", "disks", "nics", "boot", "console_log")
# OVMF, as distributions install it (Debian/Ubuntu ovmf, Fedora/RHEL edk2-ovmf): (code, variables template)
OVMF_PAIRS = (
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
)
TARGET_PREFIX = {"virtio": "vd", "sata": "sd"}
# how long converge waits for a power transition it started (create/destroy/resume)
TRANSITION_TIMEOUT = 10

_error_handler_set = False


def _libvirt():
    try:
        import libvirt
    except ImportError:
        raise Unsupported("the libvirt Python binding is not installed (Debian: python3-libvirt)")
    global _error_handler_set
    if not _error_handler_set:
        # libvirt prints every error to stderr by default; we report them ourselves
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _error_handler_set = True
    return libvirt


def kvm_usable():
    """True when this node can run KVM guests: /dev/kvm opens read-write and the
    CPU advertises hardware virtualisation (vmx or svm)."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError:
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "vmx" in flags or "svm" in flags
    except OSError:
        pass
    return False


def resolve_domain_type(value):
    if value == "auto":
        return "kvm" if kvm_usable() else "qemu"
    return value


def target_name(prefix, index):
    """libvirt's disk naming: vda..vdz, vdaa..vdaz, ..."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return prefix + letters


def qemu_img_info(path):
    # -U: the image may be open by a running guest; we only read its header
    return json.loads(run(["qemu-img", "info", "-U", "--output", "json", path]))


def libvirtd_pid():
    """PID of the local libvirt daemon, or None."""
    for pidfile in ("/run/libvirtd.pid", "/run/virtqemud.pid"):
        try:
            with open(pidfile, encoding="ascii") as fh:
                pid = int(fh.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            continue
    return None


def bridge_problem(name):
    """Why ``name`` cannot take a guest NIC, or None when it is a Linux bridge in
    the network namespace libvirtd runs in (that is where it creates the taps)."""
    pid = libvirtd_pid()
    prefix = ["nsenter", "--net=/proc/%d/ns/net" % pid] if pid else []
    where = "libvirtd's network namespace (pid %d)" % pid if pid else "the host namespace"
    out = run(prefix + ["ip", "-j", "-d", "link", "show", "dev", name], check=False)
    try:
        records = json.loads(out) if out.strip() else []
    except ValueError:
        records = []
    if not records:
        return "no bridge %r in %s, where libvirtd attaches guest NICs; create it first" % (name, where)
    if records[0].get("linkinfo", {}).get("info_kind") != "bridge":
        return "interface %r in %s is not a Linux bridge" % (name, where)
    return None


# -- reading the definition --------------------------------------------------

def boot_order(root):
    devs = [b.get("dev") for b in root.findall("os/boot")]
    if devs:
        return devs
    # per-device <boot order='N'/> (used instead of os/boot by some tools)
    ordered = []
    devices = root.find("devices")
    for dev in devices if devices is not None else []:
        order = dev.find("boot")
        if order is not None and dev.tag in ("disk", "interface"):
            ordered.append((int(order.get("order", "0")), "hd" if dev.tag == "disk" else "network"))
    out = []
    for _, dev in sorted(ordered):
        if dev not in out:
            out.append(dev)
    return out


def parse_definition(xml):
    """The definition fields of a domain, from its libvirt XML."""
    root = ET.fromstring(xml)
    memory = root.find("memory")
    kib = int(memory.text) * {"KiB": 1, "MiB": 1024, "GiB": 1024 * 1024}.get(memory.get("unit", "KiB"), 1)
    disks = []
    for disk in root.findall("devices/disk"):
        if disk.get("device", "disk") != "disk":
            continue  # cdroms and floppies are not managed here
        source = disk.find("source")
        driver = disk.find("driver")
        target = disk.find("target")
        disks.append({
            "path": source.get("file") or source.get("dev") if source is not None else None,
            "format": driver.get("type") if driver is not None else None,
            "bus": target.get("bus") if target is not None else None,
            "cache": (driver.get("cache") if driver is not None else None) or "default",
        })
    nics = []
    for iface in root.findall("devices/interface"):
        source, mac, model = iface.find("source"), iface.find("mac"), iface.find("model")
        nics.append({
            "bridge": source.get("bridge") if source is not None and iface.get("type") == "bridge" else None,
            "mac": mac.get("address").lower() if mac is not None else None,
            "model": model.get("type") if model is not None else None,
        })
    console_log = None
    for serial in root.findall("devices/serial"):
        source = serial.find("source")
        if serial.get("type") == "file" and source is not None:
            console_log = source.get("path")
            break
    return {
        "domain_type": root.get("type"),
        "vcpus": int(root.find("vcpu").text),
        "memory_mib": kib // 1024,
        "disks": disks,
        "nics": nics,
        "boot": boot_order(root),
        "firmware": firmware_of(root),
        "console_log": console_log,
    }


def firmware_of(root):
    """uefi for a domain with a pflash loader (or libvirt's firmware='efi'), else bios."""
    os_el = root.find("os")
    if os_el is None:
        return "bios"
    loader = os_el.find("loader")
    if os_el.get("firmware") == "efi" or (loader is not None and loader.get("type") == "pflash"):
        return "uefi"
    return "bios"


def ovmf():
    """(code, variables template) of the installed OVMF, or None."""
    for code, template in OVMF_PAIRS:
        if os.path.exists(code) and os.path.exists(template):
            return code, template
    return None


def write_boot_order(root, order):
    """Write ORDER (["network", "hd"]...) into the definition: per device for UEFI
    (the first NIC, the first disk), as <os><boot> for BIOS; the other form removed
    (libvirt refuses both at once)."""
    os_el, devices = root.find("os"), root.find("devices")
    _remove(os_el, os_el.findall("boot"))
    for dev in devices:
        _remove(dev, dev.findall("boot"))
    if firmware_of(root) == "uefi":
        first = {"hd": next((d for d in devices.findall("disk") if d.get("device", "disk") == "disk"), None),
                 "network": next(iter(devices.findall("interface")), None)}
        for index, dev in enumerate(order, start=1):
            if first[dev] is not None:
                target = first[dev].find("target")
                # after <source>/<target>: libvirt accepts any order, but keep its own
                position = list(first[dev]).index(target) + 1 if target is not None else len(first[dev])
                first[dev].insert(position, ET.Element("boot", order=str(index)))
        return
    position = list(os_el).index(os_el.find("type")) + 1
    for offset, dev in enumerate(order):
        os_el.insert(position + offset, ET.Element("boot", dev=dev))


# -- writing the definition --------------------------------------------------

def _child(parent, tag, **attrs):
    el = ET.SubElement(parent, tag)
    for key, value in attrs.items():
        el.set(key, str(value))
    return el


def _skeleton(name):
    root = ET.Element("domain")
    _child(root, "name").text = name
    os_el = _child(root, "os")
    _child(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    features = _child(root, "features")
    _child(features, "acpi")  # without ACPI a guest halts instead of powering off
    _child(features, "apic")
    _child(root, "on_poweroff").text = "destroy"
    _child(root, "on_reboot").text = "restart"
    devices = _child(root, "devices")
    _child(devices, "memballoon", model="none")
    return root


def _set_text(root, tag, text, **attrs):
    el = root.find(tag)
    if el is None:
        el = _child(root, tag)
    el.text = str(text)
    el.attrib.update({k: str(v) for k, v in attrs.items()})


def _remove(parent, children):
    for child in list(children):
        parent.remove(child)


def render(name, want, have=None, base_xml=None):
    """Domain XML for the definition ``want``. With ``base_xml`` (the current
    definition) only the parts whose field differs from ``have`` are rewritten,
    so devices and addresses libvirt or others added survive a redefinition."""
    root = ET.fromstring(base_xml) if base_xml else _skeleton(name)
    have = have or {}
    devices = root.find("devices")
    changed = {f for f in DEFINITION_FIELDS if want[f] != have.get(f)}

    if "domain_type" in changed:
        root.set("type", want["domain_type"])
        # host-passthrough only works with KVM; for TCG libvirt picks its default model
        _remove(root, root.findall("cpu"))
        if want["domain_type"] == "kvm":
            _child(root, "cpu", mode="host-passthrough")
    if "vcpus" in changed:
        _set_text(root, "vcpu", want["vcpus"], placement="static")
        vcpu = root.find("vcpu")
        vcpu.attrib.pop("current", None)
        # a fixed topology would contradict the new count
        for cpu in root.findall("cpu"):
            _remove(cpu, cpu.findall("topology"))
    if "memory_mib" in changed:
        _set_text(root, "memory", want["memory_mib"] * 1024, unit="KiB")
        _set_text(root, "currentMemory", want["memory_mib"] * 1024, unit="KiB")
    if "firmware" in changed:
        os_el = root.find("os")
        _remove(os_el, os_el.findall("loader") + os_el.findall("nvram"))
        os_el.attrib.pop("firmware", None)
        if want["firmware"] == "uefi":
            code, template = ovmf() or OVMF_PAIRS[0]
            position = list(os_el).index(os_el.find("type")) + 1
            loader = ET.Element("loader", readonly="yes", type="pflash")
            loader.text = code
            os_el.insert(position, loader)
            os_el.insert(position + 1, ET.Element("nvram", template=template))
    if "disks" in changed:
        _remove(devices, [d for d in devices.findall("disk") if d.get("device", "disk") == "disk"])
        taken = {t.get("dev") for t in devices.findall("disk/target")}
        counters = {}
        for disk in want["disks"]:
            prefix = TARGET_PREFIX[disk["bus"]]
            while True:
                target = target_name(prefix, counters.get(prefix, 0))
                counters[prefix] = counters.get(prefix, 0) + 1
                if target not in taken:
                    break
            block = _is_block(disk["path"])
            el = _child(devices, "disk", type="block" if block else "file", device="disk")
            driver = _child(el, "driver", name="qemu", type=disk["format"])
            if disk["cache"] != "default":
                driver.set("cache", disk["cache"])
            _child(el, "source", **{"dev" if block else "file": disk["path"]})
            _child(el, "target", dev=target, bus=disk["bus"])
    if "nics" in changed:
        _remove(devices, devices.findall("interface"))
        for nic in want["nics"]:
            el = _child(devices, "interface", type="bridge")
            _child(el, "source", bridge=nic["bridge"])
            _child(el, "mac", address=nic["mac"])
            _child(el, "model", type=nic["model"])
    if changed & {"boot", "firmware", "disks", "nics"}:
        write_boot_order(root, want["boot"])
    if "console_log" in changed:
        _remove(devices, devices.findall("serial") + devices.findall("console"))
        if want["console_log"]:
            path = want["console_log"]
            serial = _child(devices, "serial", type="file")
            _child(serial, "source", path=path, append="on")
            _child(serial, "target", port=0)
            console = _child(devices, "console", type="file")
            _child(console, "source", path=path, append="on")
            _child(console, "target", type="serial", port=0)
    return ET.tostring(root, encoding="unicode")


def _is_block(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


class DomainDriver(Driver):
    kind = "domains"
    schema = SCHEMA

    # -- libvirt plumbing ----------------------------------------------------
    def _connect(self):
        libvirt = _libvirt()
        try:
            return libvirt.open(self.config.libvirt_uri)
        except libvirt.libvirtError as exc:
            raise AgentError("cannot reach libvirt at %s: %s" % (self.config.libvirt_uri, exc),
                             status=503, code="libvirt_unreachable")

    def _lookup(self, conn, name):
        libvirt = _libvirt()
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise CommandFailed("libvirt: looking up domain %r failed: %s" % (name, exc))

    def _describe(self, dom):
        libvirt = _libvirt()
        code = dom.state()[0]
        if code in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED):
            state = "stopped"
        elif code in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PMSUSPENDED):
            state = "paused"
        else:  # running, blocked, or an ACPI shutdown still in progress
            state = "running"
        # the persistent definition: what the domain boots with next, and what we redefine
        definition = parse_definition(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        return dict({"name": dom.name(), "state": state}, **definition)

    def console_path(self, name):
        return os.path.join(self.config.console_log_dir, name + ".log")

    # -- Driver interface ----------------------------------------------------
    def validate(self, spec):
        disks = spec["disks"] or []
        for i, disk in enumerate(disks):
            if not os.path.isabs(disk["path"]):
                raise InvalidField("disks[%d].path" % i, "%r is not an absolute path" % disk["path"])
        if spec["state"] == "absent":
            return
        current = self.read(spec)
        if current is None:
            for field in ("vcpus", "memory_mib"):
                if spec[field] is None:
                    raise InvalidField(field, "is required to create domain %r" % spec["name"])
        if spec["domain_type"] == "kvm" and not os.path.exists("/dev/kvm"):
            raise InvalidField("domain_type", "kvm was asked for but this node has no /dev/kvm; use qemu")
        if spec["firmware"] == "uefi" and ovmf() is None:
            raise InvalidField("firmware", "uefi needs OVMF, which this node does not have (looked for %s); "
                               "install it (Debian: apt install ovmf) or use bios"
                               % ", ".join(code for code, _ in OVMF_PAIRS))
        in_use = {d["path"] for d in current["disks"]} if current else set()
        seen = set()
        for i, disk in enumerate(disks):
            self._validate_disk(i, disk, in_use, seen)
        macs = set()
        local = not urlsplit(self.config.libvirt_uri).hostname
        for i, nic in enumerate(spec["nics"] or []):
            if nic["mac"] in macs:
                raise InvalidField("nics[%d].mac" % i, "%s is listed twice" % nic["mac"])
            macs.add(nic["mac"])
            problem = bridge_problem(nic["bridge"]) if local else None
            if problem:
                raise InvalidField("nics[%d].bridge" % i, problem)

    def _validate_disk(self, i, disk, in_use, seen):
        path, field = disk["path"], "disks[%d]" % i
        if path in seen:
            raise InvalidField(field + ".path", "%s is listed twice" % path)
        seen.add(path)
        if not os.path.isdir(os.path.dirname(path)):
            raise InvalidField(field + ".path", "directory %s does not exist" % os.path.dirname(path))
        if disk["backing"] is not None:
            if disk["format"] != "qcow2":
                raise InvalidField(field + ".format", "an overlay on a backing file is always qcow2")
            if not os.path.isabs(disk["backing"]) or not os.path.isfile(disk["backing"]):
                raise InvalidField(field + ".backing", "no backing file %r (give an absolute path to an "
                                   "existing image)" % disk["backing"])
        if not os.path.exists(path):
            if disk["size_gib"] is None and disk["backing"] is None:
                raise InvalidField(field + ".path", "%s does not exist; set size_gib to create an empty "
                                   "image or backing to create an overlay" % path)
            return
        if os.path.isdir(path):
            raise InvalidField(field + ".path", "%s is a directory, not an image" % path)
        if path not in in_use:
            # a new disk for this domain: refuse an image whose format differs from the request,
            # the guest would see garbage (disks the domain already uses are trusted as they are)
            actual = qemu_img_info(path).get("format")
            if actual != disk["format"]:
                raise InvalidField(field + ".format", "%s is a %s image, not %s" % (path, actual, disk["format"]))

    def read(self, spec):
        conn = self._connect()
        try:
            dom = self._lookup(conn, spec["name"])
            return self._describe(dom) if dom is not None else None
        finally:
            conn.close()

    def predict(self, spec, current):
        if spec["state"] == "absent":
            return None
        name = spec["name"]
        if current is None:
            cur = {"name": name, "state": "stopped",
                   "domain_type": resolve_domain_type(self.config.domain_type),
                   "vcpus": None, "memory_mib": None, "disks": [], "nics": [], "boot": ["hd"],
                   "firmware": "bios", "console_log": None}
        else:
            cur = current
        want = dict(cur)
        if spec["domain_type"] is not None:
            want["domain_type"] = resolve_domain_type(spec["domain_type"])
        for field in ("vcpus", "memory_mib", "boot", "firmware"):
            if spec[field] is not None:
                want[field] = list(spec[field]) if field == "boot" else spec[field]
        if spec["disks"] is not None:
            want["disks"] = [{k: d[k] for k in ("path", "format", "bus", "cache")} for d in spec["disks"]]
        if spec["nics"] is not None:
            want["nics"] = [{k: n[k] for k in ("bridge", "mac", "model")} for n in spec["nics"]]
        want["console_log"] = self.console_path(name) if spec["console_log"] else None
        if spec["state"] in ("running", "stopped"):
            want["state"] = spec["state"]
        return want

    def converge(self, spec, current):
        libvirt = _libvirt()
        conn = self._connect()
        try:
            dom = self._lookup(conn, spec["name"])
            if spec["state"] == "absent":
                if dom is not None:
                    self._undefine(dom, spec)
                return
            want = self.predict(spec, current)
            self._create_images(spec["disks"] or [])
            have = {f: current[f] for f in DEFINITION_FIELDS} if current else None
            if have is None or any(want[f] != have[f] for f in DEFINITION_FIELDS):
                if want["console_log"]:
                    os.makedirs(os.path.dirname(want["console_log"]), exist_ok=True)
                base = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if dom is not None else None
                xml = render(spec["name"], want, have, base)
                try:
                    dom = conn.defineXML(xml)
                except libvirt.libvirtError as exc:
                    raise CommandFailed("libvirt refused the definition of %r: %s" % (spec["name"], exc))
            self._power(dom, spec, self._describe(dom)["state"])
        finally:
            conn.close()

    def list(self, query):
        conn = self._connect()
        try:
            doms = conn.listAllDomains(0)
            return [self._describe(d) for d in sorted(doms, key=lambda d: d.name())]
        finally:
            conn.close()

    # -- helpers -------------------------------------------------------------
    def _create_images(self, disks):
        for disk in disks:
            path = disk["path"]
            if os.path.exists(path):
                continue  # never resize or replace an existing image
            argv = ["qemu-img", "create", "-q", "-f", disk["format"]]
            if disk["backing"]:
                argv += ["-b", disk["backing"], "-F", qemu_img_info(disk["backing"])["format"]]
            argv.append(path)
            if disk["size_gib"]:
                argv.append("%dG" % disk["size_gib"])
            run(argv)

    def _power(self, dom, spec, state):
        libvirt = _libvirt()
        want = spec["state"]
        try:
            if want == "running":
                if state == "stopped":
                    dom.create()
                elif state == "paused":
                    dom.resume()
                self._wait(dom, "running", TRANSITION_TIMEOUT)
            elif want == "stopped" and state != "stopped":
                if state == "running" and spec["stop_timeout"] > 0:
                    dom.shutdown()  # ACPI power button; only a guest OS can act on it
                    if self._wait(dom, "stopped", spec["stop_timeout"], check=False):
                        LOG.info("domain %s shut down by ACPI", spec["name"])
                        return
                    LOG.warning("domain %s ignored the ACPI shutdown for %ds; powering it off",
                                spec["name"], spec["stop_timeout"])
                self._destroy(dom)
        except libvirt.libvirtError as exc:
            raise CommandFailed("libvirt: changing domain %r to %s failed: %s" % (spec["name"], want, exc))

    def _destroy(self, dom):
        libvirt = _libvirt()
        try:
            dom.destroy()
        except libvirt.libvirtError:
            # it may have powered off by itself in the meantime
            if self._describe(dom)["state"] != "stopped":
                raise
        self._wait(dom, "stopped", TRANSITION_TIMEOUT)

    def _wait(self, dom, state, timeout, check=True):
        deadline = time.monotonic() + timeout
        while True:
            now = self._describe(dom)["state"]
            if now == state:
                return True
            if time.monotonic() >= deadline:
                if check:
                    raise CommandFailed("domain %r is %s, not %s, after %ds" % (dom.name(), now, state, timeout))
                return False
            time.sleep(0.2)

    def _undefine(self, dom, spec):
        libvirt = _libvirt()
        current = self._describe(dom)
        if current["state"] != "stopped":
            self._destroy(dom)
        flags = 0
        for flag in ("VIR_DOMAIN_UNDEFINE_MANAGED_SAVE", "VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA",
                     "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", "VIR_DOMAIN_UNDEFINE_NVRAM"):
            flags |= getattr(libvirt, flag, 0)
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError as exc:
            raise CommandFailed("libvirt: undefining domain %r failed: %s" % (spec["name"], exc))
        if spec["delete_disks"]:
            # only images both the domain used and the request names; never backing files
            # or block devices
            defined = {d["path"] for d in current["disks"]}
            for disk in spec["disks"] or []:
                path = disk["path"]
                if path in defined and os.path.isfile(path):
                    os.unlink(path)
                    LOG.info("deleted disk image %s of domain %s", path, spec["name"])
