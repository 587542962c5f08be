"""Hardware and capability facts, read from /proc, /sys and udev's database.

Nodes differ in what they expose (containers have no udev database, virtio
disks have no model): a fact that cannot be read is None, never an error.
"""

import os
import re
import socket

from . import run
from .lvm import device_mapper_available

# Not disks an operator installs onto: loop/zram/ram/dm are software devices, sr is optical.
SKIP_DISKS = ("loop", "ram", "zram", "dm-", "sr")


def _read(path):
    """A sysfs/procfs file's stripped text, or None when missing or unreadable (e.g. carrier of a down link)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _cpuinfo():
    model, flags = None, set()
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    virt = "vmx" if "vmx" in flags else "svm" if "svm" in flags else None
    return {"count": os.cpu_count(), "model": model, "flags_virt": virt}


def _memory_mib():
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024  # reported in kB
    return None


def _udev(dev_numbers):
    """udev's properties (E: lines) for a block device "major:minor"; {} without a udev database."""
    text = _read("/run/udev/data/b%s" % dev_numbers) if dev_numbers else None
    lines = (text or "").splitlines()
    return dict(line[2:].split("=", 1) for line in lines if line.startswith("E:") and "=" in line)


def _by_path(name):
    """The first /dev/disk/by-path link to /dev/NAME: stable across reboots, unlike the name."""
    base = "/dev/disk/by-path"
    try:
        links = sorted(os.listdir(base))
    except OSError:
        return None
    for link in links:
        if os.path.realpath(os.path.join(base, link)) == "/dev/" + name:
            return os.path.join(base, link)
    return None


def _first(*values):
    return next((v for v in values if v), None)


def _disks():
    disks = []
    try:
        names = sorted(os.listdir("/sys/block"))
    except OSError:
        return disks
    for name in names:
        sysdir = os.path.join("/sys/block", name)
        size = _int(_read(os.path.join(sysdir, "size")))
        if name.startswith(SKIP_DISKS) or not size:  # size 0: an empty card reader or nbd slot
            continue
        dev = os.path.join(sysdir, "device")
        udev = _udev(_read(os.path.join(sysdir, "dev")))
        rotational = _read(os.path.join(sysdir, "queue", "rotational"))
        hctl = os.path.basename(os.path.realpath(dev)) if os.path.exists(dev) else ""
        # as ironic-python-agent reports them, which root device hints are written against:
        # model/vendor from sysfs, serial/wwn from udev, sysfs where there is no udev database
        disks.append({
            "name": name,
            "path": "/dev/" + name,
            "size_bytes": size * 512,  # sysfs counts 512-byte sectors whatever the block size
            "rotational": None if rotational is None else rotational == "1",
            "model": _first(_read(os.path.join(dev, "model")), udev.get("ID_MODEL")),
            "vendor": _first(_read(os.path.join(dev, "vendor")), udev.get("ID_VENDOR")),
            # virtio puts the serial beside the disk, SCSI/NVMe under device/
            "serial": _first(udev.get("ID_SERIAL_SHORT"), _read(os.path.join(dev, "serial")),
                             _read(os.path.join(sysdir, "serial"))),
            "wwn": _first(udev.get("ID_WWN"),
                          _read(os.path.join(dev, "wwid")), _read(os.path.join(sysdir, "wwid"))),
            "by_path": _by_path(name),
            "hctl": hctl if re.fullmatch(r"\d+:\d+:\d+:\d+", hctl) else None,
        })
    return disks


def _nics():
    nics = []
    try:
        names = sorted(os.listdir("/sys/class/net"))
    except OSError:
        return nics
    for name in names:
        if name == "lo":
            continue
        sysdir = os.path.join("/sys/class/net", name)
        carrier = _read(os.path.join(sysdir, "carrier"))  # EINVAL while the link is down
        speed = _int(_read(os.path.join(sysdir, "speed")))
        driver = os.path.join(sysdir, "device", "driver")
        nics.append({
            "name": name,
            "mac": _read(os.path.join(sysdir, "address")),
            "link": None if carrier is None else carrier == "1",
            "speed_mbps": speed if speed is not None and speed > 0 else None,  # -1: unknown
            "driver": os.path.basename(os.readlink(driver)) if os.path.islink(driver) else None,
            "is_bridge": os.path.isdir(os.path.join(sysdir, "bridge")),
        })
    return nics


def _kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


def _virtualization(config, cpu_flag):
    nested = None
    for module in ("kvm_intel", "kvm_amd"):
        value = _read("/sys/module/%s/parameters/nested" % module)
        if value is not None:
            nested = value in ("Y", "1")
            break
    domain_type = config.domain_type
    if domain_type == "auto":
        # /dev/kvm alone is not enough: paravirtual KVM can expose it without the CPU extension
        domain_type = "kvm" if cpu_flag and _kvm_usable() else "qemu"
    return {"kvm_device": os.path.exists("/dev/kvm"), "cpu_flag": cpu_flag, "nested": nested,
            "domain_type": domain_type}


def _os_release():
    values = {}
    for line in (_read("/etc/os-release") or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return {"id": values.get("ID"), "version_id": values.get("VERSION_ID")}


def _lvm_version():
    try:
        out = run(["lvm", "version"], check=False)
    except OSError:  # lvm2 not installed
        return None
    match = re.search(r"LVM version:\s*([\d.]+)", out)
    return match.group(1) if match else None


def gather_facts(config):
    cpus = _cpuinfo()
    return {
        "hostname": socket.gethostname(),
        "os": _os_release(),
        "kernel": os.uname().release,
        "cpus": cpus,
        "memory_mib": _memory_mib(),
        "disks": _disks(),
        "nics": _nics(),
        "virtualization": _virtualization(config, cpus["flags_virt"]),
        "device_mapper": device_mapper_available(),
        "lvm": {"version": _lvm_version()},
    }
