"""The validation guest, for real: roles/validate/files/build-guest-image.sh
builds a kernel + busybox initramfs from what a Debian node has installed,
QEMU (TCG) boots it directly (-kernel/-initrd, as Nova does for an image with
kernel_id/ramdisk_id) with one virtio disk (vda, the root disk Nova gives every
instance) and a virtio NIC on user-mode networking (restrict=on, in a network
namespace of its own), then a second virtio disk is hot-plugged through QMP the
way Nova attaches a Cinder volume. The console (ttyS0) must say the guest
booted and later list vdb.

The "node" the script runs on: this host, if it has a kernel (/boot/vmlinuz-*)
and busybox. Otherwise a chroot (in a private mount namespace: nothing is left
mounted) over this host's /usr and /etc, with what the host lacks laid over /usr
from the packages the image builders keep in their caches (the ramdisk's
STACKWRIGHT_RAMDISK_CACHE/debs, the overcloud's, STACKWRIGHT_IMAGE_CACHE/*/debs):
each cached linux-image-VERSION package (vmlinuz in /boot, /vmlinuz pointing at
it, the module directories the guest's modules live in, depmod as the package's
postinst does) and busybox-static. When no kernel package is cached, the
ramdisk builder is run once to fetch them (the ramdisk tests reuse its cache);
the tests are skipped only when that fails too.
"""

import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from fixtures import ROOT
# reused, not copied: helpers and the ramdisk builder's cache (its debs)
import test_ramdisk as ramdisk_tests
from test_ramdisk import MiB, run, stop

BUILD = os.path.join(ROOT, "roles", "validate", "files", "build-guest-image.sh")
QEMU = shutil.which("qemu-system-x86_64")
BOOT_TIMEOUT = 120     # the "booted" line, from QEMU's start
HOTPLUG_TIMEOUT = 60   # the "disks ... vdb" line, from device_add
PREFIX = "stackwright-guest: "
# QEMU user-mode networking on the link-local net, so that it can answer for the
# metadata service's 169.254.169.254 (guestfwd wants an address in its network)
GUEST_NET = "net=169.254.0.0/16,host=169.254.0.2,dhcpstart=169.254.0.15"
GUEST_IP = "169.254.0.15"  # its DHCP answer
INSTANCE_ID = "5e7a0000-0000-4000-8000-00000000c0de"
# what the metadata service answers, once per connection (stdin/stdout are the TCP stream)
METADATA = """#!/bin/sh
while IFS= read -r line; do [ "$line" = "$(printf '\\r')" ] && break; done
printf 'HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{"uuid": "%s", "name": "sw"}\\n'
""" % INSTANCE_ID

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the script mknods; chroot, mounts)"),
    pytest.mark.skipif(QEMU is None, reason="needs qemu-system-x86_64"),
]


# ------------------------------------------------------------------ sources

def host_kernel():
    kernels = sorted(f for f in os.listdir("/boot") if f.startswith("vmlinuz-")) if os.path.isdir("/boot") else []
    return bool(kernels) and any(os.path.isfile("/lib/modules/%s/modules.dep" % k[len("vmlinuz-"):])
                                 for k in kernels)


def host_busybox():
    return any(os.access(p, os.X_OK) for p in ("/usr/bin/busybox", "/bin/busybox"))


def cache_debs_dirs():
    image_cache = os.environ.get("STACKWRIGHT_IMAGE_CACHE") or "/var/tmp/stackwright-cache"
    dirs = [os.path.join(ramdisk_tests.CACHE, "debs"),
            os.path.join(os.environ.get("STACKWRIGHT_OVERCLOUD_CACHE", os.path.join(image_cache, "overcloud-base")),
                         "debs")]
    if os.path.isdir(image_cache):
        dirs += sorted(os.path.join(image_cache, d, "debs") for d in os.listdir(image_cache))
    seen = []
    for d in dirs:
        if os.path.isdir(d) and os.path.realpath(d) not in map(os.path.realpath, seen):
            seen.append(d)
    return seen


def cached_debs(pattern):
    """{package name: newest .deb path} over the cache dirs."""
    found = {}
    for d in cache_debs_dirs():
        for f in os.listdir(d):
            m = re.match(pattern, f)
            if m and f.endswith(".deb"):
                path = os.path.join(d, f)
                if m.group(1) not in found or os.path.getmtime(path) > os.path.getmtime(found[m.group(1)]):
                    found[m.group(1)] = path
    return found


def kernel_debs():
    return cached_debs(r"(linux-image-\d[^_]*)_")


def kernel_params():
    if host_kernel():
        return ["host"]
    names = sorted(kernel_debs())
    return names or ["fetch"]


def fetch_kernel_deb(tmp_path_factory):
    """No kernel package cached: let the ramdisk builder download one (and busybox-static) into its cache."""
    res = run(ramdisk_tests.BUILD, str(tmp_path_factory.mktemp("ramdisk")), ramdisk_tests.CACHE, check=False)
    debs = kernel_debs()
    if not debs:
        where = ", ".join(cache_debs_dirs()) or "any cache"
        pytest.skip("no Debian kernel: this host has no /boot/vmlinuz-*, no linux-image-*.deb in %s, and "
                    "build-ramdisk.sh could not fetch one:\n%s" % (where, (res.stdout + res.stderr)[-2000:]))
    return sorted(debs.values())[-1]


# ------------------------------------------------------------------ the node

def extract_kernel(deb, dest):
    """vmlinuz + the module directories the guest needs from a linux-image .deb; depmod like its postinst."""
    staging = dest / "deb"
    staging.mkdir()
    members = ["./boot/vmlinuz-*"]
    for prefix in ("./lib/modules/*", "./usr/lib/modules/*"):
        members += [prefix + "/modules.builtin", prefix + "/modules.builtin.modinfo", prefix + "/modules.order"]
        members += [prefix + "/kernel/" + sub + "/*" for sub in ("drivers/virtio", "drivers/block", "drivers/net",
                                                                 "net/core")]
    # tar complains about the members of the other layout: what counts is what arrived
    subprocess.run("dpkg-deb --fsys-tarfile '%s' | tar -x -C '%s' --no-recursion --wildcards --no-wildcards-match-slash %s"
                   % (deb, staging, " ".join("'%s'" % m for m in members)), shell=True, capture_output=True)
    vmlinuz = sorted((staging / "boot").glob("vmlinuz-*"))
    moddirs = sorted((staging / "lib" / "modules").glob("*")) + sorted((staging / "usr" / "lib" / "modules").glob("*"))
    assert len(vmlinuz) == 1 and len(moddirs) == 1, "unexpected layout of %s: %s %s" % (deb, vmlinuz, moddirs)
    version = vmlinuz[0].name[len("vmlinuz-"):]
    assert moddirs[0].name == version
    add = dest / "usr-layer"
    (add / "lib" / "modules").mkdir(parents=True)
    moddirs[0].rename(add / "lib" / "modules" / version)
    run("depmod", "-b", str(add), version)
    boot = dest / "boot"
    boot.mkdir()
    vmlinuz[0].rename(boot / vmlinuz[0].name)
    shutil.rmtree(staging)
    return version, add, boot


class Node:
    """Where build-guest-image.sh runs: this host, or a chroot over its /usr and /etc with layers on /usr."""

    def __init__(self, workdir, usr_layers=(), boot=None):
        self.dir = workdir
        self.layers = list(usr_layers)
        self.boot = boot
        self.direct = not self.layers and boot is None

    def run(self, outdir, *args, hide=()):
        """Runs the script (OUTDIR and KERNEL are node paths); HIDE: paths under /usr the node must not have."""
        if self.direct and not hide:
            return run(BUILD, str(outdir), *args, check=False)
        os.makedirs(outdir, exist_ok=True)  # the bind mount's source
        w = self.dir / ("run-%d" % time.monotonic_ns())
        r, upper, work, whiteouts = w / "root", w / "upper", w / "work", w / "hidden"
        for d in (r / "usr", r / "etc", r / "dev", r / "proc", r / "boot", r / "var" / "tmp", r / "tmp",
                  upper, work, whiteouts):
            d.mkdir(parents=True)
        for d in (r / "tmp", r / "var" / "tmp"):
            d.chmod(0o1777)
        for link in ("bin", "sbin", "lib", "lib64"):
            os.symlink("usr/" + link, r / link)
        for path in hide:  # an overlay whiteout: a 0/0 character device
            rel = os.path.relpath(path, "/usr")
            os.makedirs(whiteouts / os.path.dirname(rel), exist_ok=True)
            os.mknod(whiteouts / rel, 0o600 | 0o020000, os.makedev(0, 0))
        boot = self.boot or "/boot"
        vmlinuz = sorted(f for f in os.listdir(boot) if f.startswith("vmlinuz-"))
        if self.boot is None and os.path.islink("/vmlinuz"):
            os.symlink(os.readlink("/vmlinuz"), r / "vmlinuz")
        elif vmlinuz:
            os.symlink("boot/" + vmlinuz[-1], r / "vmlinuz")  # what the kernel package's postinst makes
        shutil.copy(BUILD, r / "build-guest-image.sh")
        node_out = r / str(outdir).lstrip("/")
        node_out.mkdir(parents=True)
        lower = ":".join([str(whiteouts)] + [str(p) for p in self.layers] + ["/usr"])
        script = " && ".join([
            "mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s/usr" % (lower, upper, work, r),
            "mount --bind /etc %s/etc && mount -o remount,bind,ro %s/etc" % (r, r),
            "mount --rbind /dev %s/dev" % r,
            "mount -t proc proc %s/proc" % r,
            "mount --bind %s %s/boot" % (boot, r),
            "mount --bind %s %s" % (outdir, node_out),
            'exec chroot %s /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/bash /build-guest-image.sh "$@"' % r,
        ])
        try:
            return run("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(outdir), *args,
                       check=False)
        finally:
            shutil.rmtree(w, ignore_errors=True)


@pytest.fixture(scope="module", params=kernel_params())
def node(request, tmp_path_factory):
    work = tmp_path_factory.mktemp("node")
    layers, boot, version = [], None, None
    if request.param != "host":
        deb = kernel_debs().get(request.param) if request.param != "fetch" else fetch_kernel_deb(tmp_path_factory)
        version, layer, boot = extract_kernel(deb, work)
        layers.append(layer)
    if not host_busybox():
        debs = cached_debs(r"(busybox(?:-static)?)_")
        if not debs:
            pytest.skip("no busybox on this host and no busybox*.deb in %s" % ", ".join(cache_debs_dirs()))
        x = work / "busybox-deb"
        run("dpkg-deb", "-x", sorted(debs.values())[0], str(x))
        layer = work / "busybox-layer"
        (layer / "bin").mkdir(parents=True)
        # bookworm's package ships bin/busybox, trixie's (merged /usr) usr/bin/busybox
        shutil.copy(next(p for p in (x / "usr" / "bin" / "busybox", x / "bin" / "busybox") if p.exists()),
                    layer / "bin" / "busybox")
        layers.append(layer)
    n = Node(work, layers, boot)
    n.version = version
    return n


def build(node, outdir, *args, hide=()):
    t0 = time.monotonic()
    res = node.run(outdir, *args, hide=hide)
    seconds = time.monotonic() - t0
    assert res.returncode == 0, "build-guest-image.sh failed:\n%s%s" % (res.stdout, res.stderr)
    sys.stderr.write("\n%s(%.1fs)\n" % (res.stdout, seconds))
    return res.stdout.splitlines()


@pytest.fixture(scope="module")
def guest(node, tmp_path_factory):
    out = tmp_path_factory.mktemp("guest")
    lines = build(node, out)
    assert lines[-1] == "built"
    version = re.search(r"kernel (\S+) ", "\n".join(lines)).group(1)
    if node.version:
        assert version == node.version
    return {"dir": out, "lines": lines, "version": version, "sha256": (out / "guest.sha256").read_text()}


# ------------------------------------------------------------------ cpio reader

def newc_members(path):
    """{name: (mode, rdev major, rdev minor, data)} of a gzip'd newc archive."""
    with gzip.open(path) as f:
        blob = f.read()
    members, pos = {}, 0
    while True:
        assert blob[pos:pos + 6] == b"070701", "not newc at offset %d" % pos
        fields = [int(blob[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name = blob[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        data = blob[pos:pos + filesize]
        pos += filesize + (-filesize % 4)
        if name == "TRAILER!!!":
            return members
        members[name[2:] if name.startswith("./") else name] = (fields[1], fields[9], fields[10], data)


# ------------------------------------------------------------------ QEMU

class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                assert time.monotonic() < deadline, "QMP socket %s did not appear" % path
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")
        assert "QMP" in json.loads(self.file.readline())
        self.execute("qmp_capabilities")

    def execute(self, command, **arguments):
        self.file.write(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "event" in reply:
                continue
            assert "error" not in reply, "%s: %s" % (command, reply["error"])
            return reply["return"]

    def close(self):
        self.file.close()
        self.sock.close()


def guest_lines(console):
    text = console.read_text(errors="replace") if console.exists() else ""
    return [line[line.index(PREFIX) + len(PREFIX):].strip() for line in text.splitlines() if PREFIX in line]


def wait_for(console, proc, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in guest_lines(console) if predicate(line)]
        if found:
            return found[0]
        text = console.read_text(errors="replace") if console.exists() else ""
        assert proc.poll() is None, "QEMU exited (%s) before %s; console:\n%s" % (proc.returncode, what, text[-4000:])
        if time.monotonic() > deadline:
            pytest.fail("no %s within %ds; console:\n%s" % (what, timeout, text[-4000:]))
        time.sleep(0.5)


# ------------------------------------------------------------------ tests

def test_outputs(guest):
    d = guest["dir"]
    assert sorted(os.listdir(d)) == ["guest-cmdline", "guest-initrd", "guest-vmlinuz", "guest.sha256"]
    run("sha256sum", "--quiet", "-c", "guest.sha256", cwd=d)
    assert (d / "guest-cmdline").read_text() == "console=ttyS0 quiet\n"
    assert os.path.getsize(d / "guest-initrd") < 8 * MiB
    members = newc_members(d / "guest-initrd")
    for name in ("init", "bin/busybox", "bin/sh", "bin/insmod", "dev/console", "etc/guest-modules"):
        assert name in members, name
    for path in members["etc/guest-modules"][3].decode().split():
        assert path.lstrip("/") in members, path
        assert members[path.lstrip("/")][3][:4] == b"\x7fELF", "%s is not a plain ELF module" % path
    assert any(line.startswith("build-guest-image: guest-initrd ") and line.endswith(" bytes")
               for line in guest["lines"])


def test_boots_and_sees_a_hot_plugged_disk(guest, tmp_path, netns):
    d = guest["dir"]
    console, qmp_path = tmp_path / "console.log", tmp_path / "qmp.sock"
    root, volume = tmp_path / "root.raw", tmp_path / "volume.raw"
    metadata = tmp_path / "metadata.sh"
    metadata.write_text(METADATA)
    # QEMU joins guestfwd's command to the guest through a loopback socket pair
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    for f in (root, volume):
        with open(f, "wb") as fh:
            fh.truncate(MiB)
    argv = ["ip", "netns", "exec", netns, QEMU, "-accel", "tcg", "-m", "256", "-smp", "1", "-nographic",
            "-nodefaults", "-no-reboot",
            "-kernel", str(d / "guest-vmlinuz"), "-initrd", str(d / "guest-initrd"),
            "-append", "console=ttyS0 panic=-1",  # panic: QEMU exits at once (-no-reboot)
            "-serial", "file:%s" % console, "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
            "-drive", "file=%s,format=raw,if=none,id=root,cache=unsafe" % root,
            "-device", "virtio-blk-pci,drive=root",
            "-netdev", "user,id=n0,restrict=on,%s,guestfwd=tcp:169.254.169.254:80-cmd:/bin/sh %s" % (
                GUEST_NET, metadata), "-device", "virtio-net-pci,netdev=n0,romfile="]
    t0 = time.monotonic()
    with open(tmp_path / "qemu.log", "w") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    qmp = None
    try:
        booted = wait_for(console, proc, lambda line: line.startswith("booted kernel "), BOOT_TIMEOUT, "booted line")
        boot_seconds = time.monotonic() - t0
        assert booted == "booted kernel " + guest["version"]
        assert wait_for(console, proc, lambda line: line.startswith("disks"), 30, "disks line") == "disks vda"
        qmp = Qmp(qmp_path)
        qmp.execute("blockdev-add", **{"node-name": "volume", "driver": "raw",
                                       "file": {"driver": "file", "filename": str(volume)}})
        qmp.execute("device_add", driver="virtio-blk-pci", drive="volume", id="volume0")
        t1 = time.monotonic()
        wait_for(console, proc, lambda line: line.startswith("disks") and "vdb" in line.split(), HOTPLUG_TIMEOUT,
                 "disks line with vdb after the hot-plug")
        hotplug_seconds = time.monotonic() - t1
        wait_for(console, proc, lambda line: line.startswith("eth0 "), 30, "eth0 line (DHCP)")
        wait_for(console, proc, lambda line: line.startswith("metadata "), 90, "metadata line")
        lines = guest_lines(console)
    finally:
        if qmp:
            qmp.close()
        stop(proc)
    sys.stderr.write("\n[booted in %.1fs, vdb seen %.1fs after device_add]\n%s\n"
                     % (boot_seconds, hotplug_seconds, "\n".join(lines)))
    assert [line for line in lines if line.startswith("disks")] == ["disks vda", "disks vda vdb"]
    assert "eth0 %s/16" % GUEST_IP in lines
    assert "metadata uuid %s" % INSTANCE_ID in lines
    assert not [line for line in lines if "failed" in line], lines


def test_rebuild_is_unchanged_and_reproducible(node, guest, tmp_path):
    d = guest["dir"]
    before = {f: os.stat(d / f).st_mtime_ns for f in os.listdir(d)}
    assert build(node, d)[-1] == "unchanged"
    assert {f: os.stat(d / f).st_mtime_ns for f in os.listdir(d)} == before, "an unchanged build touched OUTDIR"
    assert (d / "guest.sha256").read_text() == guest["sha256"]
    assert build(node, d, "/boot/vmlinuz-" + guest["version"])[-1] == "unchanged", "KERNEL given: the same kernel"

    fresh = tmp_path / "fresh"
    assert build(node, fresh)[-1] == "built"
    for f in os.listdir(d):
        assert (fresh / f).read_bytes() == (d / f).read_bytes(), f

    (fresh / "guest-cmdline").write_text("console=tty0\n")
    (fresh / "guest-initrd").unlink()
    assert build(node, fresh)[-1] == "built"
    assert (fresh / "guest-cmdline").read_text() == "console=ttyS0 quiet\n"
    assert (fresh / "guest.sha256").read_text() == guest["sha256"]
    run("sha256sum", "--quiet", "-c", "guest.sha256", cwd=fresh)


@pytest.mark.skipif(not os.path.exists("/usr/bin/cpio"), reason="needs cpio on this host")
def test_without_python3_cpio_writes_the_same_members(node, guest, tmp_path):
    """cpio is the fallback: the same members (its inode numbers and directory link counts may differ)."""
    lines = build(node, tmp_path, hide=["/usr/bin/python3"])
    assert "archive written with cpio" in "\n".join(lines)
    assert lines[-1] == "built"
    ours, theirs = newc_members(tmp_path / "guest-initrd"), newc_members(guest["dir"] / "guest-initrd")
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        assert ours[name] == theirs[name], name


def test_no_busybox_names_the_package(node, tmp_path):
    hidden = Node(node.dir, [p for p in node.layers if not (p / "bin" / "busybox").exists()], node.boot)
    res = hidden.run(tmp_path / "out", hide=["/usr/bin/busybox", "/usr/sbin/busybox"])
    assert res.returncode != 0
    assert "install the Debian package busybox" in res.stderr, res.stderr
    assert not (tmp_path / "out" / "guest-initrd").exists()
