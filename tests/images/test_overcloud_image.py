"""The overcloud image, for real: roles/image_build/files/overcloud/build-image.sh
builds the base image (--packages-file none: the same image without the
OpenStack packages), the tests look at the published files and the disk
layout, then give the disk a first-boot config the way the deploy ramdisk does
(mount partition 1, extract a tarball of files relative to /) and boot it under
QEMU (TCG, SeaBIOS, from the disk through extlinux: no -kernel) with user-mode
networking restricted to the host's loopback (restrict=on, one hostfwd to the
guest's SSH). Checks go through SSH with a key made for the test. QEMU is
stopped by its PID; the loop mount is undone.

The build goes through the script's own cache (STACKWRIGHT_OVERCLOUD_CACHE,
default /var/tmp/stackwright-cache/overcloud-base), so only the first run
builds (about two minutes); a cached build must take under 5 s.
"""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "roles", "image_build", "files", "overcloud", "build-image.sh")
CACHE = os.environ.get("STACKWRIGHT_OVERCLOUD_CACHE", "/var/tmp/stackwright-cache/overcloud-base")
QEMU = shutil.which("qemu-system-x86_64")
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")
MBR_BIN = "/usr/lib/syslinux/mbr/mbr.bin"

MiB = 1 << 20
PART_START = 1 * MiB
BUILD_TIMEOUT = 1800
CACHED_BUILD_LIMIT = 5.0
BOOT_TIMEOUT = 240
GROW = 1024 * MiB  # the disk is made this much larger than the image: growroot
MAC = "52:54:00:5e:00:01"
GUEST_IP = "10.0.2.15"  # QEMU user-mode networking: guest 10.0.2.15, gateway .2, DNS .3
HOSTNAME = "node-under-test"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot, loop devices)"),
    pytest.mark.skipif(QEMU is None, reason="needs qemu-system-x86_64"),
    pytest.mark.skipif(SSH is None or SSH_KEYGEN is None, reason="needs ssh and ssh-keygen"),
]


def run(*argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)


def build(outdir):
    """Run build-image.sh for the base image; returns (seconds, stdout)."""
    start = time.monotonic()
    proc = run(BUILD, outdir, CACHE, "--packages-file", "none", timeout=BUILD_TIMEOUT, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        pytest.fail("build-image.sh failed (%d):\n%s\n%s" % (proc.returncode, proc.stdout[-5000:], proc.stderr[-5000:]))
    return seconds, proc.stdout


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc):
    """Stop a QEMU this module started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def ovc_build(tmp_path_factory):
    """The base image, built (or taken from the cache) once for the module."""
    out = tmp_path_factory.mktemp("overcloud-base")
    seconds, stdout = build(out)
    print("\nbuild-image.sh (base): %.1f s\n%s" % (seconds, stdout))
    return {"dir": out, "seconds": seconds, "stdout": stdout}


@pytest.fixture(scope="module")
def ovc_raw(ovc_build, tmp_path_factory):
    """The image decompressed (sparse) to a raw disk file, untouched."""
    raw = tmp_path_factory.mktemp("overcloud-raw") / "overcloud.raw"
    src = os.path.join(ovc_build["dir"], "overcloud.raw.gz")
    # gunzip writing holes for zero blocks keeps the file sparse.
    with gzip.open(src, "rb") as fin, open(raw, "wb") as fout:
        zero = bytes(MiB)
        while True:
            chunk = fin.read(MiB)
            if not chunk:
                break
            if chunk == zero[: len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate()
    return raw


@pytest.fixture(scope="module")
def ovc_key(tmp_path_factory):
    d = tmp_path_factory.mktemp("overcloud-key")
    key = d / "id_ed25519"
    run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "overcloud-test", "-f", key)
    return key


def first_boot_config(pubkey):
    """The tarball the undercloud serves as config_url: files relative to /."""
    network = (
        "[Match]\nMACAddress=%s\n\n[Network]\nAddress=%s/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n" % (MAC, GUEST_IP)
    )
    files = [
        ("etc/hostname", HOSTNAME + "\n", 0o644),
        ("root/.ssh/authorized_keys", pubkey, 0o600),
        ("etc/systemd/network/10-%s.network" % HOSTNAME, network, 0o644),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for d in ("root/.ssh",):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o700
            tar.addfile(info)
        for name, text, mode in files:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_first_boot_config(disk, tarball, workdir):
    """What the ramdisk does after dd: mount partition 1, extract the config."""
    mnt = workdir / "mnt"
    mnt.mkdir()
    tgz = workdir / "config.tar.gz"
    tgz.write_bytes(tarball)
    # mount -o loop sets the loop device's autoclear: it goes with the umount.
    run("mount", "-t", "ext4", "-o", "loop,offset=%d" % PART_START, disk, mnt)
    try:
        run("tar", "-xzf", tgz, "-C", mnt, "--numeric-owner")
    finally:
        run("umount", mnt)


class Node:
    def __init__(self, proc, port, key, console, boot_seconds, disk):
        self.proc, self.port, self.key, self.console = proc, port, key, console
        self.boot_seconds, self.disk = boot_seconds, disk

    def ssh(self, command, timeout=60, check=True):
        return ssh(self.port, self.key, command, timeout=timeout, check=check)


def ssh(port, key, command, timeout=60, check=True):
    argv = [
        SSH, "-i", key, "-p", port,
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
        "root@127.0.0.1", command,
    ]
    return run(*argv, timeout=timeout, check=check)


def console_tail(path, n=60):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no console log)"


@pytest.fixture(scope="module")
def ovc_node(ovc_raw, ovc_key, tmp_path_factory):
    """The image on a disk GROW larger, with a first-boot config, booted."""
    work = tmp_path_factory.mktemp("overcloud-node")
    disk = work / "disk.raw"
    run("cp", "--sparse=always", ovc_raw, disk)
    os.truncate(disk, os.path.getsize(disk) + GROW)
    pub = (ovc_key.parent / (ovc_key.name + ".pub")).read_text()
    write_first_boot_config(disk, first_boot_config(pub), work)

    port = free_port()
    console = work / "console.log"
    argv = [
        QEMU, "-accel", "tcg", "-m", "1024", "-smp", "2",
        "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
        "-drive", "file=%s,format=raw,if=virtio,cache=unsafe" % disk,
        "-netdev", "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % port,
        "-device", "virtio-net-pci,netdev=n0,mac=%s" % MAC,
        "-serial", "file:%s" % console,
    ]
    qemu_log = open(work / "qemu.log", "wb")
    start = time.monotonic()
    proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT)
    try:
        deadline = start + BOOT_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail("QEMU exited (%s) during boot; console:\n%s\nqemu:\n%s"
                            % (proc.returncode, console_tail(console), (work / "qemu.log").read_text()))
            try:
                if ssh(port, ovc_key, "true", timeout=30, check=False).returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                pytest.fail("no SSH after %d s; console:\n%s" % (BOOT_TIMEOUT, console_tail(console)))
            time.sleep(2)
        boot_seconds = time.monotonic() - start
        print("\nboot to SSH: %.1f s" % boot_seconds)
        yield Node(proc, port, ovc_key, console, boot_seconds, disk)
    finally:
        stop(proc)
        qemu_log.close()


# ---------------------------------------------------------------- the build

def test_outputs_and_checksum(ovc_build):
    d = ovc_build["dir"]
    for name in ("overcloud.raw.gz", "overcloud.raw.gz.sha256", "overcloud.manifest"):
        assert os.path.getsize(os.path.join(d, name)) > 0, name
    line = open(os.path.join(d, "overcloud.raw.gz.sha256")).read()
    assert re.fullmatch(r"[0-9a-f]{64}  overcloud\.raw\.gz\n", line), line
    assert line.split()[0] == sha256_file(os.path.join(d, "overcloud.raw.gz"))
    # and in the format sha256sum -c reads
    run("sha256sum", "--quiet", "-c", "overcloud.raw.gz.sha256", cwd=d)
    for step in ("debootstrap", "packages", "filesystem", "bootloader", "compress"):
        assert ("time %s " % step) in ovc_build["stdout"] or "cache hit" in ovc_build["stdout"], step


def test_manifest_is_the_base_set(ovc_build):
    rows = [line.split("\t") for line in open(os.path.join(ovc_build["dir"], "overcloud.manifest")).read().splitlines()]
    assert all(len(r) == 3 and r[0] and r[1] for r in rows), rows[:5]
    names = {r[0] for r in rows}
    for p in ("linux-image-amd64", "systemd-sysv", "udev", "openssh-server", "python3", "iproute2", "lvm2",
              "open-iscsi", "sudo", "ca-certificates", "initramfs-tools", "e2fsprogs"):
        assert p in names, p
    # --packages-file none: nothing of the OpenStack set
    assert not names & {"keystone", "nova-common", "mariadb-server", "rabbitmq-server"}
    python = [r for r in rows if r[0] == "python3"][0]
    assert python[1].startswith("3.13"), python  # trixie's python3


def test_disk_layout(ovc_raw):
    size = os.path.getsize(ovc_raw)
    assert size % MiB == 0
    table = json.loads(run("sfdisk", "--json", ovc_raw).stdout)["partitiontable"]
    assert table["label"] == "dos"
    parts = table["partitions"]
    assert len(parts) == 1, parts
    p = parts[0]
    assert p["start"] == PART_START // 512
    assert p["start"] + p["size"] == size // 512  # sized to fit: nothing after it
    assert p.get("bootable") is True
    assert p["type"] == "83"
    # the filesystem at the 1 MiB offset: ext4 labelled swroot
    probe = run("blkid", "-p", "-O", str(PART_START), "-o", "export", ovc_raw).stdout
    assert "TYPE=ext4" in probe.split(), probe
    assert "LABEL=swroot" in probe.split(), probe
    # syslinux's MBR boot code in the first 440 bytes
    if os.path.exists(MBR_BIN):
        mbr = open(MBR_BIN, "rb").read()
        with open(ovc_raw, "rb") as f:
            assert f.read(len(mbr)) == mbr


def test_image_content(ovc_raw, tmp_path):
    """What every node starts from: no node-specific state, the boot files."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    run("mount", "-t", "ext4", "-o", "ro,loop,offset=%d" % PART_START, ovc_raw, mnt)
    try:
        assert os.readlink(mnt / "vmlinuz").startswith("boot/vmlinuz-")
        assert os.readlink(mnt / "initrd.img").startswith("boot/initrd.img-")
        assert (mnt / "initrd.img").resolve().is_file() or os.path.isfile(mnt / os.readlink(mnt / "initrd.img"))
        conf = (mnt / "boot/extlinux/extlinux.conf").read_text()
        assert "LINUX /vmlinuz" in conf and "INITRD /initrd.img" in conf
        assert "root=LABEL=swroot" in conf and "console=ttyS0,115200" in conf and "console=tty0" in conf
        assert (mnt / "boot/extlinux/ldlinux.sys").is_file()
        assert "LABEL=swroot" in (mnt / "etc/fstab").read_text()
        assert (mnt / "etc/hostname").read_text().strip() == "localhost"
        assert (mnt / "etc/machine-id").read_text() == ""
        assert not list((mnt / "etc/ssh").glob("ssh_host_*"))
        st = os.stat(mnt / "root/.ssh")
        assert oct(st.st_mode & 0o777) == "0o700" and not os.listdir(mnt / "root/.ssh")
        assert not (mnt / "usr/sbin/policy-rc.d").exists()
        assert os.listdir(mnt / "var/lib/apt/lists") == ["partial"]
        assert os.listdir(mnt / "var/cache/apt/archives") == ["partial"]
        assert os.listdir(mnt / "run") == []
        # per-node: iscsid names the initiator at its first start
        assert (mnt / "etc/iscsi/initiatorname.iscsi").read_text().strip() == "GenerateName=yes"
        assert "update_initramfs=yes" in (mnt / "etc/initramfs-tools/update-initramfs.conf").read_text()
        assert "Name=en*" in (mnt / "etc/systemd/network/99-stackwright-default.network").read_text()
        wants = mnt / "etc/systemd/system/multi-user.target.wants"
        for unit in ("systemd-networkd.service", "ssh.service"):
            assert (wants / unit).is_symlink(), unit
        sshd = (mnt / "etc/ssh/sshd_config.d/stackwright.conf").read_text()
        assert "PasswordAuthentication no" in sshd
    finally:
        run("umount", mnt)


def test_cached_rebuild_is_fast(ovc_build, tmp_path):
    seconds, stdout = build(tmp_path / "again")
    print("\ncached build-image.sh (base): %.2f s" % seconds)
    assert "cache hit" in stdout, stdout
    assert seconds < CACHED_BUILD_LIMIT, seconds
    first = open(os.path.join(ovc_build["dir"], "overcloud.raw.gz.sha256")).read()
    assert (tmp_path / "again" / "overcloud.raw.gz.sha256").read_text() == first
    run("sha256sum", "--quiet", "-c", "overcloud.raw.gz.sha256", cwd=tmp_path / "again")


# ---------------------------------------------------------------- the boot

def test_boots_from_disk_through_extlinux(ovc_node):
    log = open(ovc_node.console, errors="replace").read()
    # syslinux's banner and loader messages, on serial (SERIAL 0 115200)
    assert "SYSLINUX" in log and "Loading /vmlinuz" in log and "Loading /initrd.img" in log, log[:2000]
    assert "Linux version" in log
    cmdline = ovc_node.ssh("cat /proc/cmdline").stdout
    assert "root=LABEL=swroot" in cmdline and "console=ttyS0,115200" in cmdline
    assert ovc_node.boot_seconds < BOOT_TIMEOUT


def test_first_boot_config_applied(ovc_node):
    assert ovc_node.ssh("hostname").stdout.strip() == HOSTNAME
    addr = ovc_node.ssh("ip -4 -o addr show").stdout
    assert GUEST_IP + "/24" in addr, addr


def test_python3(ovc_node):
    out = ovc_node.ssh("python3 --version").stdout
    assert out.startswith("Python 3."), out
    # full python3, not only python3-minimal
    ovc_node.ssh("python3 -c 'import json, sqlite3, ssl, venv, urllib.request'")


def test_system_running(ovc_node):
    state = ovc_node.ssh("systemctl is-system-running --wait", timeout=180, check=False).stdout.strip()
    if state != "running":
        print("systemd: %s; failed units:\n%s" % (state, ovc_node.ssh("systemctl --failed --no-legend", check=False).stdout))
    assert state in ("running", "degraded"), state


def test_root_filesystem(ovc_node):
    fstype, source = ovc_node.ssh("findmnt -n -o FSTYPE,SOURCE /").stdout.split()
    assert fstype == "ext4"
    assert source == "/dev/vda1"
    label = ovc_node.ssh("blkid -s LABEL -o value /dev/vda1 || lsblk -n -o LABEL /dev/vda1").stdout.strip()
    assert label == "swroot"
    opts = ovc_node.ssh("findmnt -n -o OPTIONS /").stdout
    assert opts.startswith("rw"), opts


def test_root_grown_to_disk(ovc_node, ovc_raw):
    ovc_node.ssh("systemctl is-system-running --wait", timeout=180, check=False)
    ovc_node.ssh("test -e /var/lib/stackwright/growroot.done")
    size = int(ovc_node.ssh("df -B1 --output=size / | tail -n 1").stdout)
    image_fs = os.path.getsize(ovc_raw) - PART_START
    assert size > image_fs + GROW * 0.9, (size, image_fs)
    # the guest rewrote the partition table: boot code and boot flag kept
    with open(ovc_raw, "rb") as a, open(ovc_node.disk, "rb") as b:
        assert a.read(440) == b.read(440)
    p = json.loads(run("sfdisk", "--json", ovc_node.disk).stdout)["partitiontable"]["partitions"]
    assert len(p) == 1 and p[0]["start"] == PART_START // 512 and p[0].get("bootable") is True
    assert p[0]["start"] + p[0]["size"] == os.path.getsize(ovc_node.disk) // 512


def test_node_identity_made_at_first_boot(ovc_node):
    mid = ovc_node.ssh("cat /etc/machine-id").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", mid), mid
    ovc_node.ssh("test -s /etc/ssh/ssh_host_ed25519_key")


def test_ssh_keys_only(ovc_node):
    conf = ovc_node.ssh("sshd -T").stdout.lower().splitlines()
    assert "passwordauthentication no" in conf
    assert "permitrootlogin without-password" in conf or "permitrootlogin prohibit-password" in conf
    assert ovc_node.ssh("passwd -S root").stdout.split()[1] == "L"  # root's password locked
