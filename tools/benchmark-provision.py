#!/usr/bin/env python3
"""Provisioning benchmark (a measurement, not a test): where the time goes from
power-off to SSH, for one node and for two in parallel, beside the floor.

  sudo .venv/bin/python tools/benchmark-provision.py [--image-dir DIR] [--out FILE] [--pairs N]

The floor is the same work with no orchestration: a bare QEMU VM PXE-boots the
same deploy ramdisk (dnsmasq + iPXE + a static HTTP directory standing in for the
undercloud: the instructions, the image and the first-boot config are files), the
ramdisk writes the same image and powers off, and QEMU boots the disk until SSH
answers. Then the real thing: the lab with 1 (then 2) VMs, the undercloud, and
playbooks/provision.yml; per-phase times come from the registry's history. Peak
memory of the lab's QEMU and BMC processes is sampled during each run. Last, the
one node again while a hostile host on the provisioning network floods the
undercloud's listener (--flood), with the undercloud service's memory and threads.

Images come from --image-dir (an undercloud image store: ramdisk/vmlinuz,
ramdisk/initrd, overcloud-<profile>.raw.gz and its .sha256); the default builds
them through the undercloud role (cached). Prints a Markdown report and writes
JSON to --out.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "agent"))
from stackwright_agent import provisioning  # noqa: E402  (the real first-boot config)

NETNS = "swbench"  # the lab's
# the floor's own: with --pairs it runs while the lab is up
FLOOR_NETNS = "swfloor"
WORKDIR = "/var/lib/stackwright-bench"
PROFILE = "base"


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kw)


def in_ns(*argv, ns=NETNS):
    return ["ip", "netns", "exec", ns] + list(argv)


def wait_ssh(host, timeout, ns=NETNS):
    """Seconds until host:22 sends an SSH banner (probed from inside ns)."""
    probe = ("import socket,sys\ntry:\n s=socket.create_connection((%r,22),2);s.settimeout(3)\n"
             " sys.exit(0 if s.recv(4)==b'SSH-' else 1)\nexcept OSError: sys.exit(1)" % host)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe]).returncode == 0:
            return time.monotonic() - t0
        time.sleep(1)
    raise RuntimeError("no SSH on %s within %ss" % (host, timeout))


class Sampler(threading.Thread):
    """Peak summed RSS (MiB) of processes whose command line contains any marker."""

    def __init__(self, markers):
        super().__init__(daemon=True)
        self.markers, self.peak, self.stop = markers, 0, threading.Event()

    def run(self):
        while not self.stop.wait(2):
            total = 0
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as fh:
                        cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
                    if any(m in cmd for m in self.markers):
                        with open("/proc/%s/status" % pid) as fh:
                            total += next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    continue
            self.peak = max(self.peak, total // 1024)


# --------------------------------------------------------------------- the floor

# The undercloud's stand-in: the files, and a 200 for the ramdisk's result (it retries a
# refused POST until its deadline, as it would against an undercloud restarting).
STAND_IN = """
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])),
                                functools.partial(Handler, directory=sys.argv[3])).serve_forever()
"""


def floor(image_dir, image):
    """PXE -> ramdisk writes the image -> power off -> boot from disk -> SSH, bare."""
    work = tempfile.mkdtemp(prefix="floor.", dir="/var/tmp")
    web = os.path.join(work, "web")
    os.makedirs(os.path.join(web, "v1", "ramdisk"))
    os.makedirs(os.path.join(web, "images"))
    for name in ("ramdisk", image):
        os.symlink(os.path.join(image_dir, name), os.path.join(web, "images", name))
    sha = open(os.path.join(image_dir, image + ".sha256")).read().split()[0]
    mac, ip, api = "52:54:00:99:00:10", "10.99.0.10", "http://10.99.0.1:8099"
    with open(os.path.join(web, "boot.ipxe"), "w") as fh:
        fh.write("#!ipxe\nkernel %s/images/ramdisk/vmlinuz console=ttyS0 sw.api=%s sw.node=bench sw.token=t "
                 "BOOTIF=%s\ninitrd %s/images/ramdisk/initrd\nboot\n" % (api, api, mac, api))
    with open(os.path.join(web, "v1", "ramdisk", "bench"), "w") as fh:
        fh.write("action=deploy\nimage_url=%s/images/%s\nimage_sha256=%s\ntarget_disk=/dev/vda\n"
                 "config_url=%s/config.tar.gz\n" % (api, image, sha, api))
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(work, "key"))
    node = {"name": "bench", "macs": [mac], "network": None,
            "properties": {"ssh_authorized_keys": [open(os.path.join(work, "key.pub")).read()]}}
    with open(os.path.join(web, "config.tar.gz"), "wb") as fh:
        fh.write(provisioning.config_tarball(node, work))
    sh("ip", "netns", "add", FLOOR_NETNS)
    procs = []
    try:
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "br0", "type", "bridge"],
                    ["ip", "addr", "add", "10.99.0.1/24", "dev", "br0"],
                    ["ip", "addr", "add", "fd00:99::1/64", "dev", "br0", "nodad"],
                    ["ip", "link", "set", "br0", "up"],
                    ["ip", "tuntap", "add", "tapb0", "mode", "tap"], ["ip", "link", "set", "tapb0", "master", "br0"],
                    ["ip", "link", "set", "tapb0", "up"]):
            sh(*in_ns(*cmd, ns=FLOOR_NETNS))
        procs.append(subprocess.Popen(in_ns(
            "dnsmasq", "--keep-in-foreground", "--port=0", "--interface=br0", "--bind-interfaces",
            "--dhcp-range=10.99.0.10,static", "--dhcp-host=%s,%s,bench" % (mac, ip), "--enable-ra",
            "--dhcp-range=fd00:99::,ra-only,64", "--dhcp-match=set:ipxe,175",
            "--dhcp-boot=tag:ipxe,%s/boot.ipxe" % api, "--conf-file=/dev/null",
            "--pid-file=%s/dnsmasq.pid" % work, ns=FLOOR_NETNS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(in_ns(sys.executable, "-c", STAND_IN, "10.99.0.1", "8099", web, ns=FLOOR_NETNS),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        disk = os.path.join(work, "disk.qcow2")
        sh("qemu-img", "create", "-f", "qcow2", disk, "4G")
        qemu = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-display", "none", "-no-reboot",
                "-serial", "file:%s/console.log" % work, "-netdev", "tap,id=n0,ifname=tapb0,script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=%s" % mac,
                "-drive", "file=%s,if=virtio,cache=unsafe" % disk]
        t0 = time.monotonic()
        sh(*in_ns(*qemu, "-boot", "n", ns=FLOOR_NETNS), timeout=1800)
        written = time.monotonic() - t0
        log = open(os.path.join(work, "console.log"), errors="replace").read()
        if "ok=true" not in log.replace(" ", "").replace('"ok":true', "ok=true"):
            tail = "\n".join(log.splitlines()[-15:])
            raise RuntimeError("the floor's ramdisk did not deploy:\n" + tail)
        boot = subprocess.Popen(in_ns(*qemu, "-boot", "c", ns=FLOOR_NETNS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(boot)
        to_ssh = wait_ssh(ip, 600, ns=FLOOR_NETNS)
        return {"pxe_and_write_s": round(written, 1), "boot_to_ssh_s": round(to_ssh, 1),
                "total_s": round(written + to_ssh, 1)}
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        sh("ip", "netns", "del", FLOOR_NETNS, check=False)
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------ a hostile host

HOSTILE_NS = "swbench-hostile"
HOSTILE_ADDRESS = "192.168.24.250/24"


def flood(target, stop_file):
    """Run inside HOSTILE_NS until stop_file exists: hold half-sent requests, send
    bodies no listener should read (a negative and a 400 MiB Content-Length) and
    ask for unknown MACs' scripts, in rounds of 1,000. Prints counts as JSON."""
    import random
    import socket
    host, port = target.rsplit(":", 1)
    counts = {"unknown_mac": 0, "oversized": 0, "half_sent": 0, "refused": 0, "statuses": {}}
    held = []

    def ask(data):
        try:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(data)
                status = (sock.recv(64).split() or [b"closed", b"closed"])[1].decode()
        except OSError:
            status = "refused"
        counts["statuses"][status] = counts["statuses"].get(status, 0) + 1

    while not os.path.exists(stop_file):
        while len(held) < 100:  # beyond the listener's bound per address: closed at once
            try:
                sock = socket.create_connection((host, int(port)), timeout=5)
                sock.sendall(b"GET /boot.ipxe HTTP/1.1\r\nHost: x\r\n")
                held.append(sock)
                counts["half_sent"] += 1
            except OSError:
                counts["refused"] += 1
                break
        for length in ("-1", str(400 << 20)):
            ask(("POST /v1/ramdisk/bench0/inspection?token=x HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: %s\r\n\r\n" % length).encode())
            counts["oversized"] += 1
        for _ in range(1000):
            mac = "-".join("%02x" % random.randrange(256) for _ in range(6))
            ask(("GET /nodes/%s.ipxe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % mac).encode())
            counts["unknown_mac"] += 1
        for sock in held[:]:  # the ones the listener dropped are opened again
            sock.setblocking(False)
            try:
                if sock.recv(1) == b"":
                    raise OSError
            except BlockingIOError:
                continue
            except OSError:
                pass
            sock.close()
            held.remove(sock)
    print(json.dumps(counts))


class Hostile:
    """A host on the lab's provisioning bridge (its own namespace, a veth into
    br-prov, an address of the provisioning network) running flood() at the
    undercloud's listener; samples the undercloud service's RSS and threads."""

    def __init__(self, target):
        self.target, self.peak_rss_mib, self.peak_threads, self.counts = target, 0, 0, None
        self.stop_file = tempfile.mktemp(prefix="flood-stop.", dir="/var/tmp")
        self.done = threading.Event()

    def service_pid(self):
        with open("/run/stackwright/units/stackwright-undercloud.service.main") as fh:
            return fh.read().split()[0]

    def sample(self):
        while not self.done.wait(1):
            try:
                with open("/proc/%s/status" % self.service_pid()) as fh:
                    status = dict(line.split(":", 1) for line in fh)
            except OSError:
                continue
            self.peak_rss_mib = max(self.peak_rss_mib, int(status["VmRSS"].split()[0]) // 1024)
            self.peak_threads = max(self.peak_threads, int(status["Threads"]))

    def __enter__(self):
        sh("ip", "netns", "add", HOSTILE_NS)
        sh("ip", "link", "add", "swh0", "netns", HOSTILE_NS, "type", "veth", "peer", "name", "swh1", "netns", NETNS)
        sh(*in_ns("ip", "link", "set", "swh1", "master", "br-prov", "up"))
        for cmd in (["ip", "addr", "add", HOSTILE_ADDRESS, "dev", "swh0"], ["ip", "link", "set", "swh0", "up"],
                    ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", HOSTILE_NS, *cmd)
        self.proc = subprocess.Popen(["ip", "netns", "exec", HOSTILE_NS, sys.executable, os.path.abspath(__file__),
                                      "--flood", self.target, self.stop_file], stdout=subprocess.PIPE, text=True)
        self.sampler = threading.Thread(target=self.sample, daemon=True)
        self.sampler.start()
        return self

    def __exit__(self, *exc):
        open(self.stop_file, "w").close()
        try:
            self.counts = json.loads(self.proc.communicate(timeout=300)[0] or "null")
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.done.set()
        os.unlink(self.stop_file)
        sh("ip", "netns", "del", HOSTILE_NS, check=False)


# --------------------------------------------------------------- the real thing

INVENTORY = """
all:
  children:
    lab_hosts:
      hosts:
        localhost: {ansible_connection: local, ansible_python_interpreter: /usr/bin/python3}
    undercloud:
      hosts:
        undercloud-bench: {ansible_connection: local, ansible_python_interpreter: %(workdir)s/bin/python}
  vars:
    agent_domain_type: qemu
    agent_python: "{{ ansible_playbook_python }}"
    lab_hide_kvm: true
    lab_netns: swbench
    lab_workdir: %(workdir)s
    lab_nodes: %(nodes)s
    undercloud_provisioning_ra_prefix: "fd00:24::"
    undercloud_state_dir: %(workdir)s/undercloud
    undercloud_ssh_key: %(workdir)s/ssh/id_ed25519
    undercloud_overcloud_image_profile: %(profile)s
    provision_image: overcloud-%(profile)s.raw.gz
    provision_nodes_file: %(workdir)s/nodes.yml
    undercloud_image_build_host: localhost
"""


def playbook(inv, name, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    t0 = time.monotonic()
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inv,
                          os.path.join(ROOT, "playbooks", name)] + list(extra), cwd=ROOT, env=env,
                         text=True, capture_output=True)
    if res.returncode:
        raise RuntimeError("%s failed:\n%s" % (name, res.stdout[-4000:]))
    return time.monotonic() - t0


def phases(history, since=0.0):
    """Seconds per phase from a node's registry history (rows after ``since``)."""
    rows = [h for h in history if h["ts"] >= since]

    def ts(pred):
        return next((h["ts"] for h in rows if pred(h)), None)

    def arm(action):
        return lambda h: h["event"] == "arm" and h["detail"] == action

    def result(action):
        return lambda h: h["event"] == "result" and (h["detail"] or "").startswith(action)

    def active(h):
        return h["to_state"] == "active" and h["from_state"] != "active"

    marks = {
        "inspect": (ts(arm("inspect")), ts(result("inspect"))),
        "clean": (ts(arm("clean")), ts(result("clean"))),
        "deploy: PXE, ramdisk, image write": (ts(arm("deploy")), ts(result("deploy"))),
        "boot from disk to SSH": (ts(result("deploy")), ts(active)),
        "power-off to SSH (deploy)": (ts(arm("deploy")), ts(active)),
        "enroll to active": (ts(lambda h: True), ts(active)),
    }
    return {k: round(b - a, 1) for k, (a, b) in marks.items() if a and b}


def stackwright(pairs=0, floor_run=None):
    """Two nodes provisioned in parallel (every phase), then both removed, then one
    deployed alone: the one-node figure. With ``pairs``, then that many times the floor
    (``floor_run()``) and one node again, alternately: the TCG guest's speed drifts by
    the minute, so one floor against one node says little; the medians of pairs do."""
    nodes = [{"name": "bench%d" % i, "role": "Compute", "kind": "vm", "memory_mib": 1024, "disk_gib": 4}
             for i in range(2)]
    inv = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    inv.write(INVENTORY % {"workdir": WORKDIR, "nodes": json.dumps(nodes), "profile": PROFILE})
    inv.close()
    sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
    import agent_client
    client = agent_client.AgentClient("/run/stackwright/undercloud.sock")

    def history(name, since):
        return phases(client.get("/v1/nodes/%s" % name)["history"], since)

    sampler = Sampler(["bench0", "bench1", "stackwright_agent.vbmc"])
    report = {}
    try:
        times = {"lab.yml": playbook(inv.name, "lab.yml"), "undercloud.yml": playbook(inv.name, "undercloud.yml")}
        sampler.start()
        t2 = time.time()
        times["provision.yml, 2 nodes"] = playbook(inv.name, "provision.yml")
        sampler.stop.set()
        report["two_nodes"] = {n["name"]: history(n["name"], t2) for n in nodes}
        times["provision.yml again (no change)"] = playbook(inv.name, "provision.yml")
        for n in nodes:
            times["remove-node.yml %s" % n["name"]] = playbook(inv.name, "remove-node.yml", "-e", "node=" + n["name"])
        t1 = time.time()
        times["provision.yml, 1 node (deploy only)"] = playbook(inv.name, "provision.yml", "-e",
                                                                "provision_nodes=bench0")
        report["one_node"] = {"bench0": history("bench0", t1)}
        times["remove-node.yml bench0 (again)"] = playbook(inv.name, "remove-node.yml", "-e", "node=bench0")
        with Hostile("192.168.24.1:8080") as hostile:
            t3 = time.time()
            times["provision.yml, 1 node, hostile host flooding"] = playbook(inv.name, "provision.yml", "-e",
                                                                             "provision_nodes=bench0")
        report["one_node_flooded"] = {"bench0": history("bench0", t3), "flood": hostile.counts,
                                      "undercloud_peak_rss_mib": hostile.peak_rss_mib,
                                      "undercloud_peak_threads": hostile.peak_threads}
        runs = []
        for _ in range(pairs):
            playbook(inv.name, "remove-node.yml", "-e", "node=bench0")
            bare = floor_run()["total_s"]
            t4 = time.time()
            playbook(inv.name, "provision.yml", "-e", "provision_nodes=bench0")
            runs.append({"floor_s": bare, "stackwright_s": history("bench0", t4)["power-off to SSH (deploy)"]})
            last = runs[-1]
            print("pair %d: floor %.1f s, one node %.1f s" % (len(runs), last["floor_s"], last["stackwright_s"]),
                  file=sys.stderr)
        if runs:
            floor_m = statistics.median(r["floor_s"] for r in runs)
            ours_m = statistics.median(r["stackwright_s"] for r in runs)
            report["pairs"] = {"runs": runs, "median_floor_s": floor_m, "median_stackwright_s": ours_m,
                               "ratio_of_medians": round(ours_m / floor_m, 2)}
        report["playbooks_s"] = {k: round(v, 1) for k, v in times.items()}
        report["peak_rss_mib_2_nodes"] = sampler.peak
        return report
    finally:
        sampler.stop.set()
        for name, extra in (("undercloud.yml", "undercloud_state=absent"), ("lab.yml", "lab_state=absent")):
            try:
                playbook(inv.name, name, "-e", extra)
            except RuntimeError as exc:
                print("cleanup: %s" % exc, file=sys.stderr)
        os.unlink(inv.name)


IMAGES_PLAY = """
- name: Images for the floor (the image cache makes this a copy)
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: stackwright.cloud.image_build
      image_build_output_dir: %s
      image_build_overcloud_profile: %s
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-dir", help="an image store with ramdisk/ and overcloud-base.raw.gz "
                                            "(default: built by the image_build role, from its cache)")
    parser.add_argument("--out", default="benchmark-provision.json")
    parser.add_argument("--only", choices=["floor", "stackwright"], help="measure one side only")
    parser.add_argument("--pairs", type=int, default=0,
                        help="then N more floor and one-node runs, alternately, and their medians (~6 min each)")
    parser.add_argument("--flood", nargs=2, metavar=("HOST:PORT", "STOP_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        return flood(*args.flood)
    # stopped by SIGTERM, it still removes its VMs, servers and namespaces (finally:)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    image_dir = args.image_dir or WORKDIR + "-images"
    if not args.image_dir and args.only != "stackwright":
        play = os.path.join(ROOT, "playbooks", ".benchmark-images.yml")
        with open(play, "w") as fh:
            fh.write(IMAGES_PLAY % (image_dir, PROFILE))
        try:
            playbook(os.path.join(ROOT, "inventories", "lab"), os.path.basename(play))
        finally:
            os.unlink(play)
    report = {}
    if args.only != "stackwright":
        report["floor"] = floor(image_dir, "overcloud-%s.raw.gz" % PROFILE)
    if args.only != "floor":
        report["stackwright"] = stackwright(
            args.pairs if args.only is None else 0,
            lambda: floor(image_dir, "overcloud-%s.raw.gz" % PROFILE))
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
