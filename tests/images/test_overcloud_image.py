"""The overcloud image, for real: roles/image_build/files/overcloud/build-image.sh
builds the base image (--packages-file none: the same image without the
OpenStack packages), the tests look at the published files and the disk
layout, then give the disk a first-boot config the way the deploy ramdisk does
(mount partition 1, extract a tarball of files relative to /) and boot it under
QEMU (TCG, SeaBIOS, from the disk through extlinux: no -kernel) with user-mode
networking restricted to the host's loopback (restrict=on, one hostfwd to the
guest's SSH). Checks go through SSH with a key made for the test. QEMU is
stopped by its PID; the loop mount is undone.

The booted node must run only what every node needs (the systemd preset of the
image), and the node agent baked into the image: it answers on its socket, its
version marker is this checkout's agent, and roles/agent applied to the node
afterwards changes nothing.

The build goes through the script's own cache (STACKWRIGHT_OVERCLOUD_CACHE,
default /var/tmp/stackwright-cache/overcloud-base), so only the first run
builds (about two minutes); a cached build must take under 5 s.

The OpenStack image (the default packages file) gets the same service checks
when it is in its cache (STACKWRIGHT_OVERCLOUD_OPENSTACK_CACHE, default
/var/tmp/stackwright-cache/overcloud-openstack, the image_build role's) or
when STACKWRIGHT_TEST_OPENSTACK_IMAGE=1 asks for it to be built (about
seven minutes); otherwise those tests are skipped.
"""

import contextlib
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
import sys
import tarfile
import time

import pytest

from fixtures import ROOT, link_collection

BUILD = os.path.join(ROOT, "roles", "image_build", "files", "overcloud", "build-image.sh")
PRESET = os.path.join(ROOT, "roles", "image_build", "files", "overcloud", "rootfs", "etc", "systemd",
                      "system-preset", "10-stackwright.preset")
AGENT_DIR = os.path.join(ROOT, "agent")
CACHE = os.environ.get("STACKWRIGHT_OVERCLOUD_CACHE", "/var/tmp/stackwright-cache/overcloud-base")
OPENSTACK_CACHE = os.environ.get("STACKWRIGHT_OVERCLOUD_OPENSTACK_CACHE",
                                 "/var/tmp/stackwright-cache/overcloud-openstack")
QEMU = shutil.which("qemu-system-x86_64")
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")
ANSIBLE_PLAYBOOK = (shutil.which("ansible-playbook", path=os.path.dirname(sys.executable))
                    or shutil.which("ansible-playbook"))
MiB = 1 << 20
MBR_BIN = "/usr/lib/syslinux/mbr/gptmbr.bin"
# UEFI firmware for QEMU (Debian's ovmf): its code, and the template of its variables
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
ROOT_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ESP_SIZE = 64 * MiB

PART_START = 1 << 20
BUILD_TIMEOUT = 1800
CACHED_BUILD_LIMIT = 5.0
BOOT_TIMEOUT = 240
GROW = 1024 * MiB  # the disk is made this much larger than the image: growroot
MAC = "52:54:00:5e:00:01"
GUEST_IP = "10.0.2.15"  # QEMU user-mode networking: guest 10.0.2.15, gateway .2, DNS .3
HOSTNAME = "node-under-test"
AGENT_SOCKET = "/run/stackwright/agent.sock"
AGENT_INSTALL_DIR = "/usr/local/lib/stackwright-agent"

# What may be enabled in the image (10-stackwright.preset): what every node
# needs at boot, with the units systemd-networkd and systemd-resolved enable
# along (their Also=). Everything else waits for a role to enable it.
ENABLED_ALLOWED = {
    "systemd-networkd.service", "systemd-networkd-wait-online.service", "systemd-resolved.service",
    "systemd-networkd.socket", "systemd-networkd-varlink.socket", "systemd-networkd-resolve-hook.socket",
    "systemd-network-generator.service", "systemd-resolved-monitor.socket", "systemd-resolved-varlink.socket",
    "ssh.service", "getty@.service", "getty@tty1.service",
    "stackwright-ssh-hostkeys.service", "stackwright-growroot.service", "stackwright-agent.service",
    "remote-fs.target", "reboot.target", "ctrl-alt-del.target",
}
ENABLED_REQUIRED = {
    "systemd-networkd.service", "systemd-networkd-wait-online.service", "systemd-resolved.service",
    "ssh.service", "stackwright-ssh-hostkeys.service", "stackwright-growroot.service", "stackwright-agent.service",
}
# Services the packages enable that a node must not run until a role says so.
FORBIDDEN = re.compile(
    r"^(nova|neutron|cinder|glance|keystone|placement|horizon|mariadb|mysql|rabbitmq|epmd|apache2|apache-htcacheclean"
    r"|httpd|memcached|libvirt|virtlogd|virtlockd|virtqemud|tgt|haproxy|keepalived|chrony|radvd|uwsgi|iscsid"
    r"|open-iscsi|lvm2-monitor|apt-daily|e2scrub)")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot, loop devices)"),
    pytest.mark.skipif(QEMU is None, reason="needs qemu-system-x86_64"),
    pytest.mark.skipif(SSH is None or SSH_KEYGEN is None, reason="needs ssh and ssh-keygen"),
]


def run(*argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)


def build(outdir, cache=CACHE, packages="none", check=False):
    """Run build-image.sh (base image by default); returns (seconds, stdout)."""
    argv = [BUILD, outdir, cache] + (["--packages-file", packages] if packages else []) + (["--check"] if check else [])
    start = time.monotonic()
    proc = run(*argv, timeout=BUILD_TIMEOUT, check=False)
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


def agent_source_sha256():
    """This checkout's agent version, as the image's SOURCE_SHA256 records it: the sha256
    of sha256sum lines of the package's files (sorted paths, no __pycache__, no .pyc)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(AGENT_DIR, "stackwright_agent")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        files += [os.path.relpath(os.path.join(dirpath, f), AGENT_DIR) for f in filenames if not f.endswith(".pyc")]
    lines = "".join("%s  %s\n" % (sha256_file(os.path.join(AGENT_DIR, f)), f) for f in sorted(files, key=str.encode))
    return hashlib.sha256(lines.encode()).hexdigest()


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


def gunzip_sparse(src, raw):
    """Decompress an image to a raw file, writing holes for zero blocks (sparse)."""
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


@contextlib.contextmanager
def mounted(raw, mnt):
    """The image's root filesystem, mounted read-only."""
    mnt.mkdir(exist_ok=True)
    run("mount", "-t", "ext4", "-o", "ro,loop,offset=%d" % PART_START, raw, mnt)
    try:
        yield mnt
    finally:
        run("umount", mnt)


def wanted_units(root):
    """Names of the units enabled in an image: the links in /etc/systemd/system/*.wants/."""
    base = root / "etc/systemd/system"
    return {link.name for wants in base.glob("*.wants") for link in wants.iterdir()}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def base_image(tmp_path_factory):
    """The base image, built (or taken from the cache) once for the module."""
    out = tmp_path_factory.mktemp("overcloud-base")
    seconds, stdout = build(out)
    print("\nbuild-image.sh (base): %.1f s\n%s" % (seconds, stdout))
    return {"dir": out, "seconds": seconds, "stdout": stdout}


@pytest.fixture(scope="module")
def raw_disk(base_image, tmp_path_factory):
    """The image decompressed (sparse) to a raw disk file, untouched."""
    raw = tmp_path_factory.mktemp("overcloud-raw") / "overcloud.raw"
    yield gunzip_sparse(os.path.join(base_image["dir"], "overcloud.raw.gz"), raw)
    os.unlink(raw)


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory):
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

    def agent(self, path):
        """GET path from the agent, through its socket, with curl on the node."""
        out = self.ssh("curl -sS --fail --max-time 60 --unix-socket %s http://x%s" % (AGENT_SOCKET, path),
                       timeout=90).stdout
        return json.loads(out)


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


@contextlib.contextmanager
def booted(raw, key, work, memory_mib=1024, uefi=False):
    """The image on a disk GROW larger, with a first-boot config, booted until SSH answers
    (UEFI: by OVMF, with its variables fresh, so from the removable-media path)."""
    disk = work / "disk.raw"
    run("cp", "--sparse=always", raw, disk)
    os.truncate(disk, os.path.getsize(disk) + GROW)
    pub = (key.parent / (key.name + ".pub")).read_text()
    write_first_boot_config(disk, first_boot_config(pub), work)

    port = free_port()
    console = work / "console.log"
    # One vCPU, as the lab's nodes: with two, multi-threaded TCG sometimes races the
    # kernel's text patching at boot ("Oops: int3" in sched_clock_cpu, a panic).
    argv = [
        QEMU, "-accel", "tcg", "-m", str(memory_mib), "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-no-reboot",
        "-drive", "file=%s,format=raw,if=virtio,cache=unsafe" % disk,
        "-netdev", "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % port,
        "-device", "virtio-net-pci,netdev=n0,mac=%s" % MAC,
        "-serial", "file:%s" % console,
    ]
    if uefi:
        run("cp", OVMF_VARS, work / "vars.fd")
        argv += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=%s" % OVMF_CODE,
                 "-drive", "if=pflash,format=raw,unit=1,file=%s" % (work / "vars.fd")]
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
                if ssh(port, key, "true", timeout=30, check=False).returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                pytest.fail("no SSH after %d s; console:\n%s" % (BOOT_TIMEOUT, console_tail(console)))
            time.sleep(2)
        boot_seconds = time.monotonic() - start
        print("\nboot to SSH: %.1f s" % boot_seconds)
        yield Node(proc, port, key, console, boot_seconds, disk)
    finally:
        stop(proc)
        qemu_log.close()
        disk.unlink()  # GBs: the run's temporary directories share the disk with the rest of the suite


@pytest.fixture(scope="module")
def node(raw_disk, ssh_key, tmp_path_factory):
    """The base image on a disk GROW larger, with a first-boot config, booted."""
    with booted(raw_disk, ssh_key, tmp_path_factory.mktemp("overcloud-node")) as n:
        yield n


def enabled_unit_files(node):
    out = node.ssh("systemctl list-unit-files --state=enabled --no-legend --plain").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def running_services(node):
    out = node.ssh("systemctl list-units --type=service --state=running --no-legend --plain").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def wait_for_agent(node, timeout=120):
    """The agent starts with the system; in TCG its first imports take a while."""
    deadline = time.monotonic() + timeout
    while True:
        res = node.ssh("test -S %s" % AGENT_SOCKET, check=False)
        if res.returncode == 0:
            return
        if time.monotonic() > deadline:
            status = node.ssh("systemctl status --no-pager stackwright-agent; journalctl -b -u stackwright-agent"
                              " --no-pager | tail -n 40", check=False).stdout
            pytest.fail("no agent socket after %d s:\n%s" % (timeout, status))
        time.sleep(2)


# ---------------------------------------------------------------- the build

def test_outputs_and_checksum(base_image):
    d = base_image["dir"]
    for name in ("overcloud.raw.gz", "overcloud.raw.gz.sha256", "overcloud.manifest"):
        assert os.path.getsize(os.path.join(d, name)) > 0, name
    line = open(os.path.join(d, "overcloud.raw.gz.sha256")).read()
    assert re.fullmatch(r"[0-9a-f]{64}  overcloud\.raw\.gz\n", line), line
    assert line.split()[0] == sha256_file(os.path.join(d, "overcloud.raw.gz"))
    # and in the format sha256sum -c reads
    run("sha256sum", "--quiet", "-c", "overcloud.raw.gz.sha256", cwd=d)
    for step in ("debootstrap", "packages", "filesystem", "bootloader", "compress"):
        assert ("time %s " % step) in base_image["stdout"] or "cache hit" in base_image["stdout"], step


def test_manifest_is_the_base_set(base_image):
    rows = [line.split("\t") for line in open(os.path.join(base_image["dir"], "overcloud.manifest")).read().splitlines()]
    assert all(len(r) == 3 and r[0] and r[1] for r in rows), rows[:5]
    names = {r[0] for r in rows}
    for p in ("linux-image-amd64", "systemd-sysv", "udev", "openssh-server", "python3", "iproute2", "lvm2",
              "open-iscsi", "sudo", "ca-certificates", "initramfs-tools", "e2fsprogs"):
        assert p in names, p
    # --packages-file none: nothing of the OpenStack set
    assert not names & {"keystone", "nova-common", "mariadb-server", "rabbitmq-server"}
    python = [r for r in rows if r[0] == "python3"][0]
    assert python[1].startswith("3.13"), python  # trixie's python3


def test_disk_layout(raw_disk):
    size = os.path.getsize(raw_disk)
    assert size % MiB == 0
    table = json.loads(run("sfdisk", "--json", raw_disk).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    parts = table["partitions"]
    assert len(parts) == 2, parts
    p, esp = parts
    # root first, at 1 MiB (the ramdisk and the lab's containers mount it there),
    # bootable for BIOS (gptmbr.bin looks for the attribute)
    assert p["start"] == PART_START // 512
    assert p["type"] == ROOT_TYPE and p.get("name") == "swroot"
    assert "LegacyBIOSBootable" in p.get("attrs", ""), p
    # then the EFI system partition, right after it; the image ends 1 MiB later
    assert esp["type"] == ESP_TYPE and esp["start"] == p["start"] + p["size"]
    assert esp["size"] * 512 == ESP_SIZE
    assert (esp["start"] + esp["size"]) * 512 + MiB == size  # sized to fit
    probe = run("blkid", "-p", "-O", str(esp["start"] * 512), "-o", "export", raw_disk).stdout.split()
    assert "TYPE=vfat" in probe and "VERSION=FAT32" in probe, probe
    # GRUB as the removable-media loader: what firmware boots without a boot entry
    listing = run("mdir", "-i", "%s@@%d" % (raw_disk, esp["start"] * 512), "-b", "::/EFI/BOOT").stdout
    assert "::/EFI/BOOT/BOOTX64.EFI" in listing.split(), listing
    # the filesystem at the 1 MiB offset: ext4 labelled swroot
    probe = run("blkid", "-p", "-O", str(PART_START), "-o", "export", raw_disk).stdout
    assert "TYPE=ext4" in probe.split(), probe
    assert "LABEL=swroot" in probe.split(), probe
    # syslinux's MBR boot code in the first 440 bytes
    if os.path.exists(MBR_BIN):
        mbr = open(MBR_BIN, "rb").read()
        with open(raw_disk, "rb") as f:
            assert f.read(len(mbr)) == mbr


def test_image_content(raw_disk, tmp_path):
    """What every node starts from: no node-specific state, the boot files."""
    with mounted(raw_disk, tmp_path / "mnt") as mnt:
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


def index_digests(stdout):
    return [line for line in stdout.splitlines() if line.startswith("build-image: package indexes")]


def test_cached_rebuild_is_fast(base_image, tmp_path):
    seconds, stdout = build(tmp_path / "again")
    first_stdout = base_image["stdout"]
    if index_digests(stdout) != index_digests(first_stdout):
        # The mirror published new package indexes between the two builds: rebuilding was right (the
        # image would be stale otherwise). The next build must then hit the cache of that rebuild.
        assert "result built" in stdout, stdout
        first_stdout = stdout
        shutil.copytree(tmp_path / "again", tmp_path / "first")
        shutil.rmtree(tmp_path / "again")
        seconds, stdout = build(tmp_path / "again")
        assert index_digests(stdout) == index_digests(first_stdout), "the mirror moved twice in minutes"
        first_dir = tmp_path / "first"
    else:
        first_dir = base_image["dir"]
    print("\ncached build-image.sh (base): %.2f s" % seconds)
    assert "cache hit" in stdout, stdout
    assert seconds < CACHED_BUILD_LIMIT, seconds
    first = open(os.path.join(first_dir, "overcloud.raw.gz.sha256")).read()
    assert (tmp_path / "again" / "overcloud.raw.gz.sha256").read_text() == first
    run("sha256sum", "--quiet", "-c", "overcloud.raw.gz.sha256", cwd=tmp_path / "again")


# ---------------------------------------------------------------- the boot

def test_boots_from_disk_through_extlinux(node):
    log = open(node.console, errors="replace").read()
    # syslinux's banner and loader messages, on serial (SERIAL 0 115200)
    assert "SYSLINUX" in log and "Loading /vmlinuz" in log and "Loading /initrd.img" in log, log[:2000]
    assert "Linux version" in log
    cmdline = node.ssh("cat /proc/cmdline").stdout
    assert "root=LABEL=swroot" in cmdline and "console=ttyS0,115200" in cmdline
    assert node.boot_seconds < BOOT_TIMEOUT


def test_first_boot_config_applied(node):
    assert node.ssh("hostname").stdout.strip() == HOSTNAME
    addr = node.ssh("ip -4 -o addr show").stdout
    assert GUEST_IP + "/24" in addr, addr


def test_python3(node):
    out = node.ssh("python3 --version").stdout
    assert out.startswith("Python 3."), out
    # full python3, not only python3-minimal
    node.ssh("python3 -c 'import json, sqlite3, ssl, venv, urllib.request'")


def test_system_running(node):
    state = node.ssh("systemctl is-system-running --wait", timeout=180, check=False).stdout.strip()
    if state != "running":
        print("systemd: %s; failed units:\n%s" % (state, node.ssh("systemctl --failed --no-legend", check=False).stdout))
    assert state in ("running", "degraded"), state


def test_root_filesystem(node):
    fstype, source = node.ssh("findmnt -n -o FSTYPE,SOURCE /").stdout.split()
    assert fstype == "ext4"
    assert source == "/dev/vda1"
    label = node.ssh("blkid -s LABEL -o value /dev/vda1 || lsblk -n -o LABEL /dev/vda1").stdout.strip()
    assert label == "swroot"
    opts = node.ssh("findmnt -n -o OPTIONS /").stdout
    assert opts.startswith("rw"), opts


def test_root_grown_to_disk(node, raw_disk):
    node.ssh("systemctl is-system-running --wait", timeout=180, check=False)
    node.ssh("test -e /var/lib/stackwright/growroot.done")
    size = int(node.ssh("df -B1 --output=size / | tail -n 1").stdout)
    image_fs = os.path.getsize(raw_disk) - PART_START - ESP_SIZE - MiB  # root, not the ESP and GPT's backup
    assert size > image_fs + GROW * 0.9, (size, image_fs)
    assert_grown_layout(raw_disk, node.disk)


def assert_grown_layout(raw_disk, disk):
    """The guest rewrote the partition table: boot code and attributes kept, the
    backup header and the ESP (its content intact) at the disk's end, root up to it."""
    with open(raw_disk, "rb") as a, open(disk, "rb") as b:
        assert a.read(440) == b.read(440)
    run("sfdisk", "--verify", disk)
    before = json.loads(run("sfdisk", "--json", raw_disk).stdout)["partitiontable"]["partitions"]
    p = json.loads(run("sfdisk", "--json", disk).stdout)["partitiontable"]["partitions"]
    assert len(p) == 2 and p[0]["start"] == PART_START // 512 and "LegacyBIOSBootable" in p[0].get("attrs", "")
    sectors = os.path.getsize(disk) // 512
    assert p[1]["type"] == ESP_TYPE and p[1]["uuid"] == before[1]["uuid"]
    assert sectors - 2048 <= p[1]["start"] + p[1]["size"] <= sectors - 33
    assert p[0]["start"] + p[0]["size"] == p[1]["start"]
    with open(raw_disk, "rb") as a, open(disk, "rb") as b:
        a.seek(before[1]["start"] * 512)
        b.seek(p[1]["start"] * 512)
        assert a.read(ESP_SIZE) == b.read(ESP_SIZE), "the ESP moved with its content"


@pytest.fixture(scope="module")
def uefi_node(raw_disk, ssh_key, tmp_path_factory):
    """The same image booted by UEFI firmware (OVMF) from a fresh disk."""
    if not os.path.exists(OVMF_CODE):
        pytest.skip("needs OVMF (%s, Debian's ovmf)" % OVMF_CODE)
    with booted(raw_disk, ssh_key, tmp_path_factory.mktemp("overcloud-uefi"), uefi=True) as n:
        yield n


def test_boots_from_disk_under_uefi(uefi_node, raw_disk):
    """UEFI-only servers: the firmware finds GRUB on the ESP by the removable-media
    path (no boot entry was written), GRUB boots the kernel extlinux would."""
    log = open(uefi_node.console, errors="replace").read()
    assert "SYSLINUX" not in log and "Loading /vmlinuz" in log and "Linux version" in log, log[-3000:]
    uefi_node.ssh("test -d /sys/firmware/efi")
    cmdline = uefi_node.ssh("cat /proc/cmdline").stdout
    assert "root=LABEL=swroot" in cmdline and "console=ttyS0,115200" in cmdline
    uefi_node.ssh("systemctl is-system-running --wait", timeout=180, check=False)
    uefi_node.ssh("test -e /var/lib/stackwright/growroot.done")
    assert_grown_layout(raw_disk, uefi_node.disk)


def test_node_identity_made_at_first_boot(node):
    mid = node.ssh("cat /etc/machine-id").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", mid), mid
    node.ssh("test -s /etc/ssh/ssh_host_ed25519_key")


def test_ssh_keys_only(node):
    conf = node.ssh("sshd -T").stdout.lower().splitlines()
    assert "passwordauthentication no" in conf
    assert "permitrootlogin without-password" in conf or "permitrootlogin prohibit-password" in conf
    assert node.ssh("passwd -S root").stdout.split()[1] == "L"  # root's password locked


# ---------------------------------------------------------------- services and the agent, in the image

def test_preset_enables_only_what_every_node_needs(raw_disk, tmp_path):
    with mounted(raw_disk, tmp_path / "mnt") as mnt:
        preset = mnt / "etc/systemd/system-preset/10-stackwright.preset"
        assert preset.read_text() == open(PRESET).read()
        assert preset.read_text().rstrip().splitlines()[-1] == "disable *"
        wanted = wanted_units(mnt)
        # the default target and the masks are the packages' own
        assert not (mnt / "etc/systemd/system/default.target").exists()
        assert os.readlink(mnt / "usr/lib/systemd/system/default.target") == "graphical.target"
        # the aliases of the enabled units are kept
        assert os.readlink(mnt / "etc/systemd/system/sshd.service").endswith("/ssh.service")
        assert os.readlink(mnt / "etc/systemd/system/dbus-org.freedesktop.resolve1.service").endswith(
            "/systemd-resolved.service")
    assert ENABLED_REQUIRED <= wanted, ENABLED_REQUIRED - wanted
    assert wanted <= ENABLED_ALLOWED, wanted - ENABLED_ALLOWED


def test_agent_installed_as_the_role_installs_it(raw_disk, tmp_path):
    with mounted(raw_disk, tmp_path / "mnt") as mnt:
        lib = mnt / AGENT_INSTALL_DIR.lstrip("/")
        assert (lib / "SOURCE_SHA256").read_text() == agent_source_sha256() + "\n"
        for path in (lib / "stackwright_agent").rglob("*"):
            st = os.stat(path)
            assert st.st_uid == 0 and oct(st.st_mode & 0o777) == ("0o755" if path.is_dir() else "0o644"), path
            assert path.name != "__pycache__" and path.suffix != ".pyc", path
            if path.is_file():
                rel = path.relative_to(lib)
                assert path.read_bytes() == open(os.path.join(AGENT_DIR, rel), "rb").read(), rel
        wrapper = mnt / "usr/local/sbin/stackwright-agent"
        assert oct(os.stat(wrapper).st_mode & 0o777) == "0o755"
        assert ("PYTHONPATH=%s exec /usr/bin/python3 -m stackwright_agent --config /etc/stackwright/agent.json \"$@\""
                % AGENT_INSTALL_DIR) in wrapper.read_text()
        unit = mnt / "etc/systemd/system/stackwright-agent.service"
        assert unit.read_text() == open(os.path.join(AGENT_DIR, "systemd", "stackwright-agent.service")).read().rstrip() + "\n"
        assert (mnt / "etc/systemd/system/multi-user.target.wants/stackwright-agent.service").is_symlink()
        config = mnt / "etc/stackwright/agent.json"
        assert oct(os.stat(config).st_mode & 0o777) == "0o600"
        settings = json.loads(config.read_text())
        assert settings == {"socket": AGENT_SOCKET, "state_dir": "/var/lib/stackwright/agent", "domain_type": "auto",
                            "libvirt_uri": "qemu:///system", "console_log_dir": "/var/log/stackwright/console"}
        # to_nice_json's layout, so that the role's later write is byte for byte the same
        assert config.read_text() == json.dumps(settings, indent=2, sort_keys=True) + "\n"
        assert oct(os.stat(mnt / "var/lib/stackwright/agent").st_mode & 0o777) == "0o700"
        assert oct(os.stat(mnt / "var/log/stackwright").st_mode & 0o777) == "0o750"


# ---------------------------------------------------------------- services and the agent, booted

def test_only_node_services_enabled_and_running(node):
    node.ssh("systemctl is-system-running --wait", timeout=180, check=False)
    enabled = enabled_unit_files(node)
    assert ENABLED_REQUIRED <= enabled, ENABLED_REQUIRED - enabled
    assert not {u for u in enabled if FORBIDDEN.match(u)}, enabled
    assert enabled <= ENABLED_ALLOWED, enabled - ENABLED_ALLOWED
    running = running_services(node)
    print("\nrunning services: %s" % " ".join(sorted(running)))
    assert not {u for u in running if FORBIDDEN.match(u)}, running
    for unit in ("systemd-networkd.service", "systemd-resolved.service", "ssh.service", "stackwright-agent.service"):
        assert unit in running, (unit, running)


def test_agent_answers_on_its_socket(node):
    assert node.ssh("systemctl is-active stackwright-agent").stdout.strip() == "active"
    wait_for_agent(node)
    assert node.ssh("stat -c '%a %U' " + AGENT_SOCKET).stdout.split() == ["600", "root"]
    health = node.agent("/v1/health")
    assert health["status"] == "ok", health
    facts = node.agent("/v1/facts")
    assert facts["hostname"] == HOSTNAME, facts
    assert facts["memory_mib"] > 512 and facts["cpus"], facts
    assert facts["lvm"]["version"], facts
    assert any(d.get("name") == "vda" for d in facts["disks"]), facts["disks"]


def test_agent_version_is_this_checkout(node):
    marker = node.ssh("cat %s/SOURCE_SHA256" % AGENT_INSTALL_DIR).stdout.strip()
    assert marker == agent_source_sha256()


@pytest.mark.skipif(ANSIBLE_PLAYBOOK is None, reason="needs ansible-playbook")
def test_agent_role_changes_nothing(node, tmp_path):
    """roles/agent on a node deployed from the image: nothing to copy, write or restart."""
    wait_for_agent(node)
    link_collection(tmp_path / "collections")
    (tmp_path / "inventory.ini").write_text(
        "node ansible_host=127.0.0.1 ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s"
        " ansible_python_interpreter=/usr/bin/python3"
        " ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes'\n"
        % (node.port, node.key))
    (tmp_path / "agent.yml").write_text(
        "- hosts: node\n"
        "  gather_facts: true\n"
        "  gather_subset: [min]\n"
        "  roles:\n"
        "    - role: stackwright.cloud.agent\n"
        "      vars:\n"
        "        agent_install_packages: false\n"
        "        agent_with_libvirt: false\n")
    config = tmp_path / "ansible.cfg"  # this checkout's settings (inventory, collections) do not apply
    config.write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_PIPELINING="1",
               ANSIBLE_CONFIG=str(config))
    start = time.monotonic()
    res = run(ANSIBLE_PLAYBOOK, "-i", tmp_path / "inventory.ini", tmp_path / "agent.yml", "--diff",
              cwd=tmp_path, env=env, timeout=900, check=False)
    print("\nroles/agent on the node: %.0f s" % (time.monotonic() - start))
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    recap = re.search(r"^node\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", res.stdout, re.M)
    assert recap, res.stdout[-3000:]
    assert recap.group(2) == "0", res.stdout[-6000:]
    assert int(recap.group(1)) > 5


# ---------------------------------------------------------------- the OpenStack image

@pytest.fixture(scope="module")
def openstack_image(tmp_path_factory):
    """The OpenStack image, from its cache (or built when STACKWRIGHT_TEST_OPENSTACK_IMAGE=1)."""
    out = tmp_path_factory.mktemp("overcloud-openstack")
    if os.environ.get("STACKWRIGHT_TEST_OPENSTACK_IMAGE") != "1":
        _, stdout = build(out, cache=OPENSTACK_CACHE, packages=None, check=True)
        if "result cache-hit" not in stdout:
            pytest.skip("the OpenStack image is not in %s (STACKWRIGHT_TEST_OPENSTACK_IMAGE=1 builds it)"
                        % OPENSTACK_CACHE)
    seconds, stdout = build(out, cache=OPENSTACK_CACHE, packages=None)
    print("\nbuild-image.sh (openstack): %.1f s" % seconds)
    raw = gunzip_sparse(os.path.join(out, "overcloud.raw.gz"), tmp_path_factory.mktemp("overcloud-openstack-raw")
                        / "overcloud.raw")
    os.unlink(os.path.join(out, "overcloud.raw.gz"))
    yield {"dir": out, "raw": raw}
    os.unlink(raw)


def test_openstack_image_installs_but_enables_no_service(openstack_image, tmp_path):
    names = {line.split("\t")[0] for line in open(os.path.join(openstack_image["dir"], "overcloud.manifest"))}
    for p in ("keystone", "nova-api", "nova-compute", "neutron-server", "cinder-volume", "mariadb-server",
              "rabbitmq-server", "apache2", "libvirt-daemon-system", "tgt", "python3-libvirt", "qemu-utils"):
        assert p in names, p
    with mounted(openstack_image["raw"], tmp_path / "mnt") as mnt:
        wanted = wanted_units(mnt)
        units = set(os.listdir(mnt / "usr/lib/systemd/system"))
        # the packages did ship their services ...
        assert {"nova-compute.service", "mariadb.service", "rabbitmq-server.service", "apache2.service"} <= units
        assert (mnt / "usr/local/lib/stackwright-agent/SOURCE_SHA256").read_text().strip() == agent_source_sha256()
    # ... and none of them is enabled
    assert not {u for u in wanted if FORBIDDEN.match(u)}, wanted
    assert ENABLED_REQUIRED <= wanted, ENABLED_REQUIRED - wanted
    assert wanted <= ENABLED_ALLOWED, wanted - ENABLED_ALLOWED


def test_openstack_image_boots_with_only_node_services(openstack_image, ssh_key, tmp_path):
    with booted(openstack_image["raw"], ssh_key, tmp_path, memory_mib=2048) as n:
        n.ssh("systemctl is-system-running --wait", timeout=240, check=False)
        enabled = enabled_unit_files(n)
        assert not {u for u in enabled if FORBIDDEN.match(u)}, enabled
        running = running_services(n)
        print("\nrunning services (openstack): %s" % " ".join(sorted(running)))
        # nothing the image does not need runs (libvirtd included: compute roles enable it)
        assert not {u for u in running if FORBIDDEN.match(u)}, running
        wait_for_agent(n)
        assert n.agent("/v1/health")["status"] == "ok"
        # where libvirt is installed, the agent's domains driver has its binding
        n.ssh("python3 -c 'import libvirt'")
