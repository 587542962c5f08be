"""The deploy ramdisk, for real: built by roles/image_build/files/build-ramdisk.sh
from Debian packages, booted under QEMU (TCG) in a network namespace of its own
with dnsmasq answering DHCP on a bridge and fake_undercloud.py serving the
ramdisk API, images and config tarballs. Each boot ends with the ramdisk
powering the VM off; the tests then look at what was POSTed and at the disk
files. Everything started is stopped by PID, the namespace is deleted.

The build goes through the script's own cache (STACKWRIGHT_RAMDISK_CACHE,
default /var/tmp/stackwright-cache/ramdisk), so only the first run builds.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "roles", "image_build", "files", "build-ramdisk.sh")
CACHE = os.environ.get("STACKWRIGHT_RAMDISK_CACHE", "/var/tmp/stackwright-cache/ramdisk")
QEMU = shutil.which("qemu-system-x86_64")
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

MiB = 1 << 20
NET = "192.168.77"
UC = NET + ".1"
PORT = 8080
API = "http://%s:%d" % (UC, PORT)
BOOT_TIMEOUT = 180
IMAGE_SIZE = 64 * MiB

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, dpkg-deb, mknod)"),
    pytest.mark.skipif(QEMU is None, reason="needs qemu-system-x86_64"),
    pytest.mark.skipif(not os.path.exists(DNSMASQ), reason="needs dnsmasq"),
]


def run(*argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def mac(i):
    return "52:54:00:77:00:%02x" % i


def stop(proc):
    """Stop a process this module started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(autouse=True)
def _drop_disk_files(tmp_path):
    """Disk images are big: remove them after each test (logs stay)."""
    yield
    for f in tmp_path.glob("*"):
        if f.suffix in (".raw", ".ext4"):
            f.unlink()


# --------------------------------------------------------------------- build

@pytest.fixture(scope="module")
def ramdisk(tmp_path_factory):
    out = tmp_path_factory.mktemp("ramdisk")
    t0 = time.monotonic()
    res = run(BUILD, str(out), CACHE, check=False)
    seconds = time.monotonic() - t0
    assert res.returncode == 0, "build-ramdisk.sh failed:\n%s%s" % (res.stdout, res.stderr)
    sys.stderr.write("\n" + res.stdout + "(%.1fs)\n" % seconds)
    for f in ("vmlinuz", "initrd", "ramdisk.sha256"):
        assert (out / f).is_file()
    return {"dir": out, "vmlinuz": str(out / "vmlinuz"), "initrd": str(out / "initrd"),
            "log": res.stdout, "seconds": seconds}


def test_build_outputs_verify_and_are_cached(ramdisk, tmp_path):
    """The checksum file verifies; a second build is a cache hit with the same bytes."""
    run("sha256sum", "--quiet", "-c", "ramdisk.sha256", cwd=ramdisk["dir"])
    with gzip.open(ramdisk["initrd"]) as f:
        assert f.read(6) == b"070701", "initrd is not a gzip'd newc cpio"
    # the size budget (modules.list): every byte crosses the provisioning network per boot
    assert os.path.getsize(ramdisk["initrd"]) < 8 * MiB
    # the drivers of current servers' disks and NICs are in the load list /init follows
    with gzip.open(ramdisk["initrd"]) as f:
        loads = [line.rsplit("/", 1)[-1] for line in _cpio_file(f.read(), "etc/sw-ramdisk/modules").split()]
    for driver in ("nvme", "megaraid_sas", "mpt3sas", "smartpqi", "hpsa", "igb", "igc", "ixgbe", "i40e", "ice",
                   "mlx5_core", "bnxt_en", "tg3"):
        assert driver + ".ko" in loads, "%s is not in the ramdisk's modules" % driver
    again = run(BUILD, str(tmp_path), CACHE)
    assert "cache hit" in again.stdout
    assert (tmp_path / "ramdisk.sha256").read_text() == (ramdisk["dir"] / "ramdisk.sha256").read_text()


def _cpio_file(data, name):
    """The text of NAME in a newc cpio archive."""
    offset = 0
    while data[offset:offset + 6] == b"070701":
        head = data[offset:offset + 110]
        size, namesize = int(head[54:62], 16), int(head[94:102], 16)
        start = offset + 110
        entry = data[start:start + namesize - 1].decode()
        body = (start + namesize + 3) & ~3
        if entry == name:
            return data[body:body + size].decode()
        if entry == "TRAILER!!!":
            break
        offset = (body + size + 3) & ~3
    raise AssertionError("%s is not in the initrd" % name)


# ----------------------------------------------------------------------- lab

class Boot:
    def __init__(self, node, console, seconds, returncode):
        self.node, self.console, self.seconds, self.returncode = node, console, seconds, returncode

    def lines(self):
        return "\n".join(line for line in self.console.splitlines() if "sw-ramdisk:" in line)


class Lab:
    """A namespace with a bridge, dnsmasq and the fake undercloud."""

    def __init__(self, workdir, ramdisk):
        self.dir = workdir
        self.ramdisk = ramdisk
        self.ns = "swrd-" + uuid.uuid4().hex[:8]
        self.files = workdir / "files"
        self.files.mkdir()
        self.config = workdir / "undercloud.json"
        self.records_file = workdir / "records.json"
        self.nodes = {}
        self._write_config()
        self.procs = {}
        self.boots = 0
        run("ip", "netns", "add", self.ns)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def ip(self, *argv):
        return run("ip", "-n", self.ns, *argv)

    def _start(self):
        self.ip("link", "set", "lo", "up")
        self.ip("link", "add", "br0", "type", "bridge")
        self.ip("addr", "add", UC + "/24", "dev", "br0")
        self.ip("link", "set", "br0", "up")
        hosts = ["--dhcp-host=%s,%s.%d" % (mac(i), NET, 10 + i) for i in range(1, 16)]
        self.procs["dnsmasq"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
             "--bind-interfaces", "--interface=br0", "--port=0", "--pid-file=",
             "--dhcp-range=%s.100,%s.199,255.255.255.0,10m" % (NET, NET), "--dhcp-ignore=tag:!known",
             "--dhcp-leasefile=%s" % (self.dir / "dnsmasq.leases"),
             "--log-facility=%s" % (self.dir / "dnsmasq.log"), "--log-dhcp"] + hosts,
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "dnsmasq.out", "w"), stderr=subprocess.STDOUT)
        ready = self.dir / "server.ready"
        self.procs["server"] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, os.path.join(HERE, "fake_undercloud.py"),
             "--listen", "%s:%d" % (UC, PORT), "--config", str(self.config),
             "--records", str(self.records_file), "--files", str(self.files), "--ready", str(ready)],
            stdin=subprocess.DEVNULL, stdout=open(self.dir / "server.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not ready.exists():
            for name, proc in self.procs.items():
                assert proc.poll() is None, "%s exited: %s" % (name, (self.dir / ("%s.out" % name)).read_text()
                                                               if name == "dnsmasq" else
                                                               (self.dir / "server.log").read_text())
            assert time.monotonic() < deadline, "fake undercloud did not start"
            time.sleep(0.1)

    def close(self):
        for proc in self.procs.values():
            stop(proc)
        run("ip", "netns", "del", self.ns, check=False)

    def _write_config(self):
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps({"nodes": self.nodes}))
        os.replace(tmp, self.config)

    def add_node(self, name, instructions, token=None):
        token = token or "tok-" + uuid.uuid4().hex[:12]
        self.nodes[name] = {"token": token, "instructions": instructions}
        self._write_config()
        return token

    def publish(self, name, data):
        (self.files / name).write_bytes(data)
        return "%s/files/%s" % (API, name)

    def records(self, node, kind=None):
        if not self.records_file.exists():
            return []
        return [r for r in json.loads(self.records_file.read_text())
                if r.get("node") == node and (kind is None or r.get("kind") == kind)]

    def result(self, boot):
        results = self.records(boot.node, "result")
        assert len(results) == 1, "expected one result POST, got %r\n%s" % (results, boot.lines())
        assert results[0]["content_type"] == "application/json"
        return results[0]["body"]

    def boot(self, node, nic_mac, disks, bootif=None, extra_nic=False, append=""):
        """Boot the ramdisk for NODE and wait for it to power off.

        disks: dicts with file, bus (virtio | scsi | sata | nvme) and optional serial,
        wwn, rotation_rate, model.
        """
        self.boots += 1
        n = self.boots
        tap = "swtap%d" % n
        self.ip("tuntap", "add", tap, "mode", "tap")
        self.ip("link", "set", tap, "master", "br0", "up")
        taps = [tap]
        argv = ["ip", "netns", "exec", self.ns, QEMU, "-accel", "tcg", "-m", "256", "-smp", "1",
                "-nodefaults", "-display", "none", "-no-reboot",
                "-kernel", self.ramdisk["vmlinuz"], "-initrd", self.ramdisk["initrd"],
                "-append", "console=ttyS0 sw.api=%s sw.node=%s sw.token=%s BOOTIF=%s"
                % (API, node, self.nodes[node]["token"], bootif or nic_mac) + (" " + append if append else "")]
        if extra_nic:
            # an e1000 on a tap outside the bridge: DHCP would fail there, and
            # it is probed before virtio-net, so it becomes eth0
            self.ip("tuntap", "add", tap + "x", "mode", "tap")
            self.ip("link", "set", tap + "x", "up")
            taps.append(tap + "x")
            argv += ["-netdev", "tap,id=nx,ifname=%sx,script=no,downscript=no" % tap,
                     "-device", "e1000,netdev=nx,mac=52:54:00:78:00:%02x,romfile=" % n]
        argv += ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % tap,
                 "-device", "virtio-net-pci,netdev=n0,mac=%s,romfile=" % nic_mac]  # no PXE ROM: direct kernel boot
        buses = {d["bus"] for d in disks}
        if "scsi" in buses:
            argv += ["-device", "virtio-scsi-pci,id=scsi0"]
        if "sata" in buses:
            argv += ["-device", "ahci,id=ahci0"]
        for i, d in enumerate(disks):
            # discard=unmap: the guest's discards punch holes in the file (read back as zeros);
            # without it QEMU takes them and keeps the data, as some disks do
            argv += ["-drive", "file=%s,format=raw,if=none,id=d%d,cache=unsafe%s%s"
                     % (d["file"], i, ",discard=unmap" if d.get("discard") else "",
                        ",readonly=on" if d.get("readonly") else "")]
            opts = "".join(",%s=%s" % (k, d[k]) for k in ("serial", "wwn", "rotation_rate", "model") if k in d)
            dev = {"virtio": "virtio-blk-pci", "scsi": "scsi-hd,bus=scsi0.0",
                   "sata": "ide-hd,bus=ahci0.%d" % i, "nvme": "nvme"}[d["bus"]]
            argv += ["-device", "%s,drive=d%d%s" % (dev, i, opts)]
        console = self.dir / ("console-%s.log" % node)
        argv += ["-serial", "file:%s" % console]
        t0 = time.monotonic()
        with open(self.dir / ("qemu-%s.log" % node), "w") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.procs["qemu-" + node] = proc
        try:
            proc.wait(BOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop(proc)
            text = console.read_text(errors="replace") if console.exists() else ""
            pytest.fail("the ramdisk did not power off within %ds; console:\n%s" % (BOOT_TIMEOUT, text[-6000:]))
        finally:
            for t in taps:
                self.ip("link", "del", t)
        boot = Boot(node, console.read_text(errors="replace"), time.monotonic() - t0, proc.returncode)
        sys.stderr.write("\n[%s: %.1fs]\n%s\n" % (node, boot.seconds, boot.lines()))
        assert boot.returncode == 0, (self.dir / ("qemu-%s.log" % node)).read_text()
        assert "sw-ramdisk: done after" in boot.console, boot.console[-6000:]
        return boot


@pytest.fixture(scope="module")
def lab(ramdisk, tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("lab"), ramdisk)
    yield lab
    lab.close()


# -------------------------------------------------------------------- images

def make_mbr(part_start, part_sectors, disk_id=b"SWT1"):
    mbr = bytearray(512)
    mbr[440:444] = disk_id
    entry = bytes([0x80, 0xFE, 0xFF, 0xFF, 0x83, 0xFE, 0xFF, 0xFF]) + \
        part_start.to_bytes(4, "little") + part_sectors.to_bytes(4, "little")
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A 64 MiB raw disk: MBR, one ext4 partition from 1 MiB to the end."""
    d = tmp_path_factory.mktemp("image")
    root = d / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("image-default\n")
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Stackwright test image"\n')
    part = d / "part.ext4"
    part_bytes = IMAGE_SIZE - MiB
    with open(part, "wb") as f:
        f.truncate(part_bytes)
    run("mkfs.ext4", "-q", "-F", "-L", "sw-root", "-U", "6b8b4567-0000-4000-8000-000000000001",
        "-E", "root_owner=0:0", "-d", str(root), str(part))
    raw = d / "image.raw"
    with open(raw, "wb") as f:
        f.write(make_mbr(2048, part_bytes // 512))
        f.seek(MiB)
        with open(part, "rb") as p:
            shutil.copyfileobj(p, f)
    data = raw.read_bytes()
    assert len(data) == IMAGE_SIZE
    gz = gzip.compress(data, 6)
    return {"raw": data, "gz": gz, "sha256": hashlib.sha256(gz).hexdigest()}


def config_tarball(hostname):
    """A first-boot config: files relative to the target's /."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name, data=None, mode=0o644):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 1700000000
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        add("etc/hostname", hostname.encode() + b"\n")
        add("etc/systemd", mode=0o755)
        add("etc/systemd/network", mode=0o755)
        add("etc/systemd/network/10-prov.network", b"[Match]\nMACAddress=52:54:00:77:00:05\n[Network]\nDHCP=yes\n")
        add("root", mode=0o700)
        add("root/.ssh", mode=0o700)
        add("root/.ssh/authorized_keys", b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStackwrightTest test@sw\n", 0o600)
    return buf.getvalue()


def disk(path, size, fill=None):
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in fill or ():
            f.seek(offset)
            f.write(data)
    return str(path)


def read(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def debugfs(part, request):
    return run("debugfs", "-R", request, str(part)).stdout


# --------------------------------------------------------------------- tests

def test_inspect_reports_cpus_memory_disks_and_nics(lab, tmp_path):
    lab.add_node("n-inspect", "action=inspect\n")
    d1 = disk(tmp_path / "vda.raw", 40 * MiB)
    d2 = disk(tmp_path / "sda.raw", 48 * MiB)
    d3 = disk(tmp_path / "sata.raw", 36 * MiB)
    d4 = disk(tmp_path / "nvme.raw", 44 * MiB)  # current servers' disks: the ramdisk carries nvme
    boot = lab.boot("n-inspect", mac(1), [
        {"file": d1, "bus": "virtio", "serial": "SWVIRTIO1"},
        {"file": d2, "bus": "scsi", "serial": "SWSCSI1", "wwn": "0x5000c500a1b2c3d4", "rotation_rate": 1},
        {"file": d3, "bus": "sata", "serial": "SWSATA1", "model": "SWMODEL"},
        {"file": d4, "bus": "nvme", "serial": "SWNVME1"},
    ], extra_nic=True)

    # BOOTIF picked the virtio NIC although the e1000 came first
    assert "BOOTIF %s is eth1" % mac(1) in boot.console
    assert "DHCP on eth0" not in boot.console

    posts = lab.records("n-inspect", "inspection")
    assert len(posts) == 1 and posts[0]["status"] == 200, posts
    assert posts[0]["content_type"] == "application/json"
    inv = posts[0]["body"]
    assert inv["cpus"]["count"] == 1 and inv["cpus"]["model"]
    assert abs(inv["memory_mib"] - 256) <= 16, inv["memory_mib"]

    nics = {n["mac"]: n for n in inv["nics"]}
    assert set(nics) == {mac(1), "52:54:00:78:00:%02x" % lab.boots}
    assert nics[mac(1)]["link"] is True and nics[mac(1)]["name"] == "eth1"
    for n in inv["nics"]:
        assert set(n) == {"name", "mac", "link", "speed_mbps"}

    disks = {d["serial"]: d for d in inv["disks"]}
    assert set(disks) == {"SWVIRTIO1", "SWSCSI1", "SWSATA1", "SWNVME1"}, inv["disks"]
    keys = {"name", "path", "size_bytes", "rotational", "model", "vendor", "serial", "wwn", "by_path", "hctl"}
    for d in inv["disks"]:
        assert set(d) == keys and d["path"] == "/dev/" + d["name"]
    vda, sda, sata = disks["SWVIRTIO1"], disks["SWSCSI1"], disks["SWSATA1"]
    assert vda["name"] == "vda" and vda["size_bytes"] == os.path.getsize(d1) and vda["hctl"] is None
    assert sda["size_bytes"] == os.path.getsize(d2)
    assert sda["rotational"] is False and sda["wwn"] == "0x5000c500a1b2c3d4"
    assert sda["vendor"] == "QEMU" and sda["model"] == "QEMU HARDDISK"
    assert sda["hctl"] and len(sda["hctl"].split(":")) == 4
    assert sata["size_bytes"] == os.path.getsize(d3) and sata["rotational"] is True
    assert sata["model"] == "SWMODEL" and sata["vendor"] == "ATA"
    nvme = disks["SWNVME1"]
    assert nvme["name"] == "nvme0n1" and nvme["size_bytes"] == os.path.getsize(d4) and nvme["rotational"] is False

    result = lab.result(boot)
    assert set(result) == {"action", "ok", "error", "seconds"}
    assert result["action"] == "inspect" and result["ok"] is True and result["error"] is None
    assert isinstance(result["seconds"], int) and 0 < result["seconds"] < BOOT_TIMEOUT


def test_deploy_writes_the_image_byte_for_byte(lab, image, tmp_path):
    url = lab.publish("image-plain.raw.gz", image["gz"])
    lab.add_node("n-deploy", {"action": "deploy", "image_url": url, "image_sha256": image["sha256"],
                              "target_disk": "/dev/vda"})
    target = disk(tmp_path / "target.raw", 80 * MiB)
    boot = lab.boot("n-deploy", mac(2), [{"file": target, "bus": "virtio"}])
    result = lab.result(boot)
    assert result["ok"] is True and result["error"] is None, boot.lines()
    assert "no config_url" in boot.console
    with open(target, "rb") as f:
        written = f.read(IMAGE_SIZE)
        rest = f.read()
    assert written == image["raw"], "the target disk differs from the image"
    assert rest == bytes(len(rest))


def test_deploy_with_config_writes_first_boot_files(lab, image, tmp_path):
    url = lab.publish("image-cfg.raw.gz", image["gz"])
    cfg = lab.publish("n-deploy-cfg.tar.gz", config_tarball("n-deploy-cfg"))
    lab.add_node("n-deploy-cfg", "action=deploy\r\nimage_url=%s\r\nimage_sha256=%s\r\n"
                 "target_disk=/dev/sda\r\nconfig_url=%s\r\nsomething_new=ignored\r\n"
                 % (url, image["sha256"].upper(), cfg))
    target = disk(tmp_path / "target.raw", 72 * MiB)
    boot = lab.boot("n-deploy-cfg", mac(3), [{"file": target, "bus": "scsi"}])
    result = lab.result(boot)
    assert result["ok"] is True, boot.lines()
    assert "ignoring unknown key 'something_new'" in boot.console

    assert read(target, 0, MiB) == image["raw"][:MiB], "MBR/gap differ from the image"
    part = tmp_path / "part1.ext4"
    part.write_bytes(read(target, MiB, IMAGE_SIZE - MiB))
    fsck = run("e2fsck", "-fn", str(part), check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert debugfs(part, "cat /etc/hostname") == "n-deploy-cfg\n"
    assert "Stackwright test image" in debugfs(part, "cat /etc/os-release"), "the image's own files are kept"
    assert "MACAddress=52:54:00:77:00:05" in debugfs(part, "cat /etc/systemd/network/10-prov.network")
    assert debugfs(part, "cat /root/.ssh/authorized_keys").startswith("ssh-ed25519 ")
    st = debugfs(part, "stat /root/.ssh/authorized_keys")
    assert "Mode:  0600" in st and "User:     0" in st, st
    assert "Mode:  0700" in debugfs(part, "stat /root/.ssh")


def test_deploy_with_a_bad_checksum_fails_and_wipes_the_disk(lab, image, tmp_path):
    url = lab.publish("image-bad.raw.gz", image["gz"])
    lab.add_node("n-badsum", {"action": "deploy", "image_url": url, "image_sha256": "0" * 64,
                              "target_disk": "/dev/vda", "config_url": API + "/files/none.tar.gz"})
    size = 80 * MiB
    target = disk(tmp_path / "target.raw", size, [(0, b"\xaa" * 2 * MiB), (size - MiB, b"\xaa" * MiB)])
    boot = lab.boot("n-badsum", mac(4), [{"file": target, "bus": "virtio"}])
    result = lab.result(boot)
    assert result["ok"] is False and result["action"] == "deploy"
    assert "checksum" in result["error"] and image["sha256"] in result["error"], result
    assert result["error"].startswith("deploy:write:")
    assert read(target, 0, MiB) == bytes(MiB), "the first MiB was not wiped"
    assert read(target, size - MiB, MiB) == bytes(MiB), "the last MiB was not wiped"
    fetched = [r["path"] for r in json.loads(lab.records_file.read_text())]
    assert "/files/none.tar.gz" not in fetched, "the config must not be fetched after a failed write"


def test_a_config_failure_after_the_write_wipes_the_disk(lab, image, tmp_path):
    url = lab.publish("image-nocfg.raw.gz", image["gz"])
    lab.add_node("n-nocfg", {"action": "deploy", "image_url": url, "image_sha256": image["sha256"],
                             "target_disk": "/dev/vda", "config_url": API + "/files/missing.tar.gz"})
    target = disk(tmp_path / "target.raw", 72 * MiB)
    boot = lab.boot("n-nocfg", mac(8), [{"file": target, "bus": "virtio"}])
    result = lab.result(boot)
    assert result["ok"] is False and result["error"].startswith("deploy:config: downloading "), result
    assert "missing.tar.gz" in result["error"]
    assert "root partition: /dev/vda1" in boot.console, "the image was written and its partition found"
    assert read(target, 0, MiB) == bytes(MiB), "the first MiB was not wiped"
    assert read(target, MiB, MiB) == bytes(MiB), "the root partition's first MiB was not wiped"
    assert read(target, 2 * MiB, MiB) == image["raw"][2 * MiB:3 * MiB]


def test_clean_wipes_disk_and_partition_edges(lab, tmp_path):
    lab.add_node("n-clean", "action=clean\n")
    size1, size2 = 32 * MiB, 24 * MiB
    part_sectors = (size1 - 2 * MiB) // 512
    d1 = disk(tmp_path / "vda.raw", size1, [
        (0, b"\xaa" * 3 * MiB),
        (0, make_mbr(2048, part_sectors)),
        (16 * MiB, b"KEEP" * 1024),
        (size1 - 2 * MiB, b"\xbb" * 2 * MiB),
    ])
    d2 = disk(tmp_path / "sda.raw", size2, [(0, os.urandom(size2))])
    # BOOTIF the way pxelinux writes it
    boot = lab.boot("n-clean", mac(5), [{"file": d1, "bus": "virtio"}, {"file": d2, "bus": "scsi"}],
                    bootif="01-" + mac(5).replace(":", "-").upper())
    result = lab.result(boot)
    assert result["ok"] is True and result["action"] == "clean", boot.lines()
    zero = bytes(MiB)
    assert read(d1, 0, MiB) == zero, "partition table not wiped"
    assert read(d1, MiB, MiB) == zero, "the partition's first MiB not wiped"
    assert read(d1, 2 * MiB, MiB) == b"\xaa" * MiB, "more than the edges was wiped"
    assert read(d1, 16 * MiB, 4096) == b"KEEP" * 1024
    assert read(d1, size1 - MiB, MiB) == zero
    assert read(d1, size1 - 2 * MiB, MiB) == zero, "the partition's last MiB not wiped"
    assert read(d2, 0, MiB) == zero and read(d2, size2 - MiB, MiB) == zero
    assert read(d2, 4 * MiB, MiB) != zero


def test_a_full_clean_leaves_no_byte_discarded_or_overwritten(lab, tmp_path):
    lab.add_node("n-erase", "action=clean\nclean_mode=full\n")
    size = 16 * MiB + 512 * 3  # not a whole number of MiB: the tail too
    d1 = disk(tmp_path / "vda.raw", size, [(0, os.urandom(size))])
    d2 = disk(tmp_path / "sda.raw", size, [(0, os.urandom(size))])
    d3 = disk(tmp_path / "vdb.raw", 4 * MiB, [(0, b"\x5a" * MiB)])
    disks = [{"file": d1, "bus": "virtio", "discard": True}, {"file": d2, "bus": "scsi"},
             {"file": d3, "bus": "virtio", "readonly": True}]
    boot = lab.boot("n-erase", mac(10), disks)
    result = lab.result(boot)
    # full promises every disk: the read-only one fails the clean, after the others are erased
    assert result["ok"] is False and result["error"] == "clean: wiping failed on: vdb(read-only)", result
    for path in (d1, d2):
        with open(path, "rb") as fh:
            data = fh.read()
        assert len(data) == size and data.count(0) == size, "%s: %d bytes left" % (path, size - data.count(0))
    lines = boot.lines().splitlines()
    assert any("erased vda" in line and "discarded" in line for line in lines), lines
    # the SCSI disk takes the discard and keeps the data: found by the read-back, overwritten
    assert any("erased sda" in line and "overwritten" in line for line in lines), lines


def test_an_unknown_clean_mode_fails_and_wipes_nothing(lab, tmp_path):
    lab.add_node("n-badmode", "action=clean\nclean_mode=shred\n")
    d1 = disk(tmp_path / "vda.raw", 8 * MiB, [(0, b"\xee" * MiB)])
    boot = lab.boot("n-badmode", mac(11), [{"file": d1, "bus": "virtio"}])
    result = lab.result(boot)
    assert result["ok"] is False and "unknown clean_mode 'shred'" in result["error"], result
    assert read(d1, 0, MiB) == b"\xee" * MiB


def test_unsafe_instructions_are_refused(lab, tmp_path):
    lab.add_node("n-unsafe", "action=deploy\nimage_url=http://x/$(poweroff)\nimage_sha256=%s\n"
                 "target_disk=/dev/vda\n" % ("a" * 64))
    target = disk(tmp_path / "target.raw", 8 * MiB, [(0, b"\xcc" * MiB)])
    boot = lab.boot("n-unsafe", mac(6), [{"file": target, "bus": "virtio"}])
    result = lab.result(boot)
    assert result["ok"] is False and "invalid value for: image_url" in result["error"], result
    assert read(target, 0, MiB) == b"\xcc" * MiB, "nothing may be written"


def test_a_hung_download_hits_the_deadline_reports_and_wipes(lab, tmp_path):
    lab.add_node("n-hang", {"action": "deploy", "image_url": API + "/stall/image.raw.gz?seconds=120",
                            "image_sha256": "b" * 64, "target_disk": "/dev/vda"})
    target = disk(tmp_path / "target.raw", 8 * MiB, [(0, b"\xdd" * MiB)])
    boot = lab.boot("n-hang", mac(7), [{"file": target, "bus": "virtio"}], append="sw.timeout=20")
    result = lab.result(boot)
    assert result["ok"] is False and result["error"] == "deploy:write: timed out after 20s", result
    assert 20 <= result["seconds"] < 40
    assert read(target, 0, MiB) == bytes(MiB), "the watchdog did not wipe the target"
