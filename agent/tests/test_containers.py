"""The lab's container nodes (systemd-nspawn) and its libvirtd: strict inputs,
dry runs that predict the real run, a restart when the node's files changed."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from fixtures import COLLECTIONS, ROOT, agent_client
from stackwright_agent.drivers import libvirtd
from stackwright_agent.drivers.containers import _cmdline

NAME = "node1"


def spec(tmp_path, **over):
    out = {"dir": str(tmp_path / NAME), "netns": "swt-ct-absent", "lab_netns": "swt-lab-absent",
           "bridge": "br-prov", "veth": "ct1-node1", "mac": "52:54:00:aa:00:01",
           "image": str(tmp_path / "image.raw"), "base": str(tmp_path / "image.root"),
           "memory_mib": 512, "cpus": 1, "generation": "g1", "stop_timeout": 5}
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


def refused(agent, body, name=NAME):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("containers", name, body, dry_run=True)
    assert err.value.status == 400, err.value.message
    return err.value


# (field, bad value, words the message must hold)
BAD = [
    ("name", "Node1", "DNS label"),
    ("name", "-node", "DNS label"),
    ("name", "n" * 64, "at most 63"),
    ("dir", "containers/node1", "absolute"),
    ("dir", "/lab/../etc", "'..'"),
    ("dir", 7, "expected a string"),
    ("netns", "lab/ns", "network namespace"),
    ("netns", "..", "network namespace"),
    ("lab_netns", "sw lab", "network namespace"),
    ("bridge", "br-provisioning0", "at most 15"),
    ("veth", "ct12-controller0", "at most 15"),
    ("veth", "ct1 node1", "1-15 letters"),
    ("mac", "52:54:00:aa:01", "52:54:00:12:34:56"),
    ("mac", "01:00:5e:00:00:01", "multicast"),
    ("mac", "00:00:00:00:00:00", "unicast"),
    ("image", "overcloud.raw", "absolute"),
    ("base", "/images/\nroot", "not valid"),
    ("memory_mib", 0, "minimum 64"),
    ("memory_mib", "512", "integer"),
    ("memory_mib", True, "integer"),
    ("cpus", 0, "minimum 1"),
    ("cpus", 4096, "maximum 1024"),
    ("generation", "sha1 abc", "checksum"),
    ("generation", "a" * 129, "at most 128"),
    ("stop_timeout", -1, "minimum 0"),
    ("state", "started", "running, stopped, absent"),
]


@pytest.mark.parametrize("field, value, words", BAD, ids=["%s-%d" % (b[0], i) for i, b in enumerate(BAD)])
def test_a_bad_field_is_refused_by_name_before_anything_changes(agent, tmp_path, field, value, words):
    body = spec(tmp_path)
    body[field] = value
    err = refused(agent, body, name=value if field == "name" else NAME)
    assert err.field == field and words in err.message, err.message
    assert not os.path.exists(tmp_path / NAME), "nothing may be created for a refused request"


def test_an_unknown_field_is_refused_with_the_closest_name(agent, tmp_path):
    err = refused(agent, dict(spec(tmp_path), memory=512))
    assert err.field == "memory" and "memory_mib" in err.message


@pytest.mark.parametrize("missing", ["netns", "lab_netns", "bridge", "veth", "mac", "image", "base"])
def test_a_running_container_needs_every_setting(agent, tmp_path, missing):
    err = refused(agent, spec(tmp_path, **{missing: None}))
    assert err.field == missing and "required" in err.message


def test_what_the_host_lacks_is_named(agent, tmp_path):
    (tmp_path / NAME).write_text("")
    err = refused(agent, spec(tmp_path))
    assert err.field == "dir" and "not a directory" in err.message
    (tmp_path / NAME).unlink()
    (tmp_path / NAME).mkdir()
    assert refused(agent, spec(tmp_path)).field == "image"
    (tmp_path / "image.raw").write_bytes(b"")
    err = refused(agent, spec(tmp_path, netns="swt-lab-absent"))
    assert err.field == "netns" and "not the lab's" in err.message
    err = refused(agent, spec(tmp_path, base=str(tmp_path / NAME / "base")))
    assert err.field == "base" and "shared" in err.message
    err = refused(agent, spec(tmp_path))
    assert err.field == "lab_netns" and "does not exist" in err.message
    # the directory of another container
    (tmp_path / NAME / "container.json").write_text(json.dumps({"name": "node2"}))
    err = refused(agent, spec(tmp_path, state="absent"))
    assert err.field == "name" and "node2" in err.message


def test_the_bridge_must_be_in_the_lab_namespace(agent, tmp_path, netns):
    (tmp_path / NAME).mkdir()
    (tmp_path / "image.raw").write_bytes(b"")
    err = refused(agent, spec(tmp_path, lab_netns=netns))
    assert err.field == "bridge" and netns in err.message


def test_an_absent_container_reads_as_absent_and_a_start_is_predicted(agent, tmp_path):
    (tmp_path / NAME).mkdir()
    assert agent.find("containers", NAME, dir=str(tmp_path / NAME)) is None
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.find("containers", NAME)
    assert err.value.field == "dir"
    # removing what is not there changes nothing
    gone = agent.put("containers", NAME, spec(tmp_path, state="absent"))
    assert gone["changed"] is False and gone["resource"] is None


class FakeContainer:
    """A process that passes for the container's systemd-nspawn (its command line
    holds --machine=NAME), its PID in the node's pid file, and the record of what it
    was started with: enough to read, predict and stop, without an image."""

    def __init__(self, tmp_path, body):
        self.dir = tmp_path / NAME
        self.dir.mkdir()
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "--machine=" + NAME])
        # Popen returns once exec has begun; the new command line is readable a moment
        # later (a loaded CI machine saw it empty), and the agent finds a container by it.
        deadline = time.monotonic() + 10
        while "--machine=" + NAME not in _cmdline(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        (self.dir / "nspawn.pid").write_text("%d\n" % self.proc.pid)
        keys = ("netns", "lab_netns", "bridge", "veth", "mac", "image", "base", "memory_mib", "cpus", "generation")
        (self.dir / "container.json").write_text(json.dumps(dict({k: body[k] for k in keys}, name=NAME)))

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def fake(tmp_path, netns):
    """The fake container in a real network: the lab's namespace (netns) with its
    bridge, and the container's own namespace."""
    subprocess.run(["ip", "-n", netns, "link", "add", "br-prov", "type", "bridge"], check=True)
    own = "swt-ct-" + uuid.uuid4().hex[:6]
    subprocess.run(["ip", "netns", "add", own], check=True)
    (tmp_path / "image.raw").write_bytes(b"")
    running = FakeContainer(tmp_path, spec(tmp_path, netns=own, lab_netns=netns))
    running.spec = lambda **over: spec(tmp_path, **dict(dict(netns=own, lab_netns=netns), **over))
    yield running
    running.close()
    subprocess.run(["ip", "netns", "del", own], check=False)


def test_a_running_container_is_read_and_left_alone(agent, tmp_path, fake):
    current = agent.find("containers", NAME, dir=str(fake.dir))
    assert current["state"] == "running" and current["generation"] == "g1" and current["memory_mib"] == 512
    listed = agent.client.get("/v1/containers")["containers"]
    assert str(fake.dir) not in [c["dir"] for c in listed], "only real systemd-nspawn processes are listed"


def test_another_generation_or_setting_predicts_a_restart(agent, fake):
    spec = fake.spec
    same = agent.put("containers", NAME, spec(), dry_run=True)
    assert same["changed"] is False
    unasked = agent.put("containers", NAME, spec(generation=None), dry_run=True)
    assert unasked["changed"] is False, "no generation asked: whatever runs is fine"
    newer = agent.put("containers", NAME, spec(generation="g2"), dry_run=True)
    assert newer["changed"] and newer["diff"]["before"]["generation"] == "g1"
    assert newer["diff"]["after"]["generation"] == "g2" and newer["diff"]["after"]["state"] == "running"
    bigger = agent.put("containers", NAME, spec(memory_mib=1024), dry_run=True)
    assert bigger["changed"] and bigger["diff"]["after"]["memory_mib"] == 1024
    assert fake.proc.poll() is None, "a dry run must not stop the container"


def test_stop_then_remove_with_the_network(agent, fake):
    spec = fake.spec
    plan = agent.put("containers", NAME, spec(state="stopped"), dry_run=True)
    assert plan["changed"], plan
    assert plan["resource"]["state"] == "stopped"
    done = agent.put("containers", NAME, spec(state="stopped"))
    assert done["resource"] == plan["resource"], "the dry run predicted another result"
    assert fake.proc.wait(timeout=10) is not None and not (fake.dir / "nspawn.pid").exists()
    assert done["resource"]["generation"] == "g1", "a stopped container keeps its record"
    assert done["resource"]["network"] is True, "a stopped container keeps its network"
    gone = agent.put("containers", NAME, spec(state="absent"))
    assert gone["changed"], gone
    assert gone["resource"] is None
    assert not (fake.dir / "container.json").exists()
    assert not os.path.exists("/run/netns/" + done["resource"]["netns"]), "absent removes the network"
    assert agent.find("containers", NAME, dir=str(fake.dir)) is None
    entries = agent.client.get("/v1/journal", {"kind": "containers"})["entries"]
    assert [e["action"] for e in entries if e["phase"] == "started"] == ["stopped", "absent"]
    assert [e["phase"] for e in entries if e["phase"] != "started"] == ["completed", "completed"]


def run_module(tmp_path, name, params, check=False):
    """A lab module as Ansible runs it: a process of its own, its JSON answer."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(params, _ansible_check_mode=check, _ansible_diff=True)}))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "plugins", "modules", name + ".py"), str(args)],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=COLLECTIONS))
    return json.loads(out.stdout)


def test_the_module_checks_diffs_and_stops_through_the_agent(agent, tmp_path, fake):
    params = dict(fake.spec(generation="g2"), name=NAME, agent_socket=agent.config.socket)
    plan = run_module(tmp_path, "lab_container", params, check=True)
    assert plan["changed"] and plan["diff"]["before"]["generation"] == "g1"
    assert plan["diff"]["after"]["generation"] == "g2" and fake.proc.poll() is None
    missing = run_module(tmp_path, "lab_container", dict(params, mac=None), check=True)
    assert missing["failed"] and "mac" in missing["msg"]
    bad = run_module(tmp_path, "lab_container", dict(params, veth="x" * 16), check=True)
    assert bad["failed"] and bad["field"] == "veth"
    stopped = run_module(tmp_path, "lab_container", dict(params, state="stopped"))
    assert stopped["changed"] and stopped["resource"]["state"] == "stopped"
    assert fake.proc.wait(timeout=10) is not None


# -- libvirtd --------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"netns": "swlab", "hide_kvm": "yes"}, "hide_kvm"),
    ({"netns": "a/b"}, "netns"),
    ({"netns": "swlab", "state": "absent"}, "state"),
    ({}, "netns"),
])
def test_libvirtd_bad_inputs_are_refused_by_name(agent, body, field):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("libvirtd", "libvirtd", body, dry_run=True)
    assert err.value.status == 400 and err.value.field == field, err.value.message


def test_libvirtd_is_a_singleton(agent):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("libvirtd", "virtqemud", {"netns": "swlab"}, dry_run=True)
    assert err.value.field == "name" and "libvirtd" in err.value.message


def test_libvirtd_command_refuses_bad_usage():
    out = subprocess.run([sys.executable, "-m", "stackwright_agent.drivers.libvirtd"], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "agent")))
    assert out.returncode == 2 and "usage" in out.stderr
    assert libvirtd.main(["swlab", "--kvm"]) == 2


def test_a_running_libvirtd_is_left_alone(agent, libvirt_netns):
    if libvirt_netns is None:
        pytest.skip("libvirtd runs in the host's network namespace here")
    plan = agent.put("libvirtd", "libvirtd", {"netns": libvirt_netns, "hide_kvm": True}, dry_run=True)
    assert plan["changed"] is False and plan["resource"]["state"] == "running"
    assert plan["resource"]["netns"] == libvirt_netns
    # stopped, for another namespace: not this one's to end
    other = agent.put("libvirtd", "libvirtd", {"netns": "swt-not-" + libvirt_netns[:20], "state": "stopped"})
    assert other["changed"] is False and libvirtd.pid_of(libvirtd.PIDFILE)


# -- a real container --------------------------------------------------------------

INIT = """#!/bin/sh
# stands in for systemd: halts on SIGRTMIN+3, as systemd does
trap 'echo halting; exit 0' 37
echo "booted as $(cat /etc/hostname)"
while :; do sleep 600 & wait $!; done
"""


def tiny_image(tmp_path):
    """A raw image with its root file system at 1 MiB, as the lab's overcloud image:
    dash, sleep and their libraries, an os-release, and INIT as /sbin/init."""
    root = tmp_path / "image-root"
    for sub in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "proc", "sys", "dev", "run", "tmp", "root"):
        (root / sub).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        os.symlink("usr/" + link, str(root / link))
    for tool in ("/bin/sh", "/bin/sleep"):
        real = os.path.realpath(tool)
        subprocess.run(["cp", "-L", real, str(root / "usr/bin" / os.path.basename(tool))], check=True)
        for line in subprocess.run(["ldd", real], capture_output=True, text=True, check=True).stdout.splitlines():
            lib = [w for w in line.split() if w.startswith("/")]
            if lib:
                dest = root / lib[0].lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-L", lib[0], str(dest)], check=True)
    (root / "etc/os-release").write_text("ID=stackwright-test\nNAME=test\n")
    (root / "usr/sbin/init").write_text(INIT)
    os.chmod(str(root / "usr/sbin/init"), 0o755)
    image = tmp_path / "image.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), "-E", "offset=1048576", str(image), "24M"],
                   check=True, capture_output=True)
    return image


def ended(pid):
    """True when ``pid`` has exited (init here reaps its orphans when it gets to it)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def cgroup_limit(netns):
    parent = [line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup") if ":memory:" in line]
    path = "/sys/fs/cgroup/memory%s/stackwright-%s/memory.limit_in_bytes" % (parent[0].rstrip("/"), netns)
    try:
        with open(path) as fh:
            return int(fh.read())
    except OSError:
        return None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-nspawn") or not shutil.which("mkfs.ext4"),
                    reason="needs root, systemd-nspawn and mkfs.ext4")
def test_a_real_container_starts_restarts_on_a_new_generation_and_goes(agent, tmp_path, netns):
    image = tiny_image(tmp_path)
    subprocess.run(["ip", "-n", netns, "link", "add", "br-prov", "type", "bridge"], check=True)
    own = "swt-ct-" + uuid.uuid4().hex[:6]
    (tmp_path / NAME / "seed/etc").mkdir(parents=True)
    (tmp_path / NAME / "seed/etc/hostname").write_text(NAME + "\n")
    body = spec(tmp_path, netns=own, lab_netns=netns, veth="v" + own[4:], image=str(image))
    try:
        plan = agent.put("containers", NAME, body, dry_run=True)
        assert plan["changed"] and plan["diff"]["before"] is None and not os.path.exists("/run/netns/" + own)
        done = agent.put("containers", NAME, body)
        assert done["resource"] == plan["resource"], "the dry run predicted another result"
        pid = int((tmp_path / NAME / "nspawn.pid").read_text())
        assert os.getppid() != pid and os.stat("/proc/%d" % pid).st_uid == 0
        eth0 = json.loads(subprocess.run(["ip", "-j", "-n", own, "link", "show", "eth0"], capture_output=True,
                                         text=True, check=True).stdout)[0]
        assert eth0["address"] == "52:54:00:aa:00:01"
        veth = json.loads(subprocess.run(["ip", "-j", "-n", netns, "link", "show", body["veth"]],
                                         capture_output=True, text=True, check=True).stdout)[0]
        assert veth["master"] == "br-prov"
        assert (tmp_path / NAME / "upper/etc/hostname").read_text() == NAME + "\n", "seed copied to upper"
        assert subprocess.run(["mountpoint", "-q", body["base"]]).returncode != 0, "mounts stay in its namespace"
        limit = cgroup_limit(own)
        assert limit == 512 * 1048576, "the memory limit is set"
        assert agent.put("containers", NAME, body)["changed"] is False
        listed = agent.client.get("/v1/containers")["containers"]
        assert done["resource"] in listed, "a running container is listed"
        # the node's files changed: a restart
        newer = agent.put("containers", NAME, dict(body, generation="g2"))
        assert newer["changed"] and newer["resource"]["generation"] == "g2"
        assert int((tmp_path / NAME / "nspawn.pid").read_text()) != pid and ended(pid)
        # a new MAC: the container restarts on a new eth0 (an existing one would keep the old MAC)
        moved = agent.put("containers", NAME, dict(body, generation="g2", mac="52:54:00:aa:00:02"))
        assert moved["changed"] and moved["resource"]["mac"] == "52:54:00:aa:00:02"
        eth0 = json.loads(subprocess.run(["ip", "-j", "-n", own, "link", "show", "eth0"], capture_output=True,
                                         text=True, check=True).stdout)[0]
        assert eth0["address"] == "52:54:00:aa:00:02"
        pid = int((tmp_path / NAME / "nspawn.pid").read_text())
        gone = agent.put("containers", NAME, dict(body, state="absent"))
        assert gone["changed"] and gone["resource"] is None
        assert ended(pid) and not os.path.exists("/run/netns/" + own)
        assert cgroup_limit(own) is None, "its cgroups go with it"
        assert "halting" in (tmp_path / NAME / "console.log").read_text(), "it was asked to halt, not killed"
    finally:
        agent.put("containers", NAME, dict(body, state="absent", stop_timeout=0))
        for dev in subprocess.run(["losetup", "-n", "-O", "NAME", "-j", str(image)], capture_output=True,
                                  text=True).stdout.split():
            subprocess.run(["losetup", "-d", dev])
