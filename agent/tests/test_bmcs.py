"""Virtual BMCs: a real BMC process in a throw-away network namespace, driven by
ipmitool and by pyghmi's stock client from inside that namespace, controlling a
real (TCG) libvirt domain that never boots an OS. Every domain, process and file
a test creates is removed afterwards; processes are stopped by PID."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from fixtures import ROOT, agent_client
from stackwright_agent import conductor

ADDRESS = "192.0.2.50"
# a BMC's settings file -> the module its process runs
BMC_MODULES = {".json": b"stackwright_agent.vbmc", ".conf": b"stackwright_agent.sushy_bmc"}
PORT = 6230
USER = "admin"
# distinctive, so "appears nowhere" checks cannot be fooled by other processes' words
PASSWORD = "s3cret-" + uuid.uuid4().hex[:8]
NEW_PASSWORD = "n3w-" + uuid.uuid4().hex[:8]
# libvirt operations can be slow here (QEMU capability probes); the BMC applies them
# in the background, so tests wait for libvirt's view with a generous bound
LIBVIRT_WAIT = 240


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def ipmitool(netns, *args, password=PASSWORD, cipher="3"):
    # -E: the password comes from IPMI_PASSWORD, not from the command line
    env = dict(os.environ, IPMI_PASSWORD=password)
    return run(["ip", "netns", "exec", netns, "ipmitool", "-I", "lanplus", "-C", cipher, "-H", ADDRESS,
                "-p", str(PORT), "-U", USER, "-E"] + list(args), env=env, timeout=60)


def ipmi_ok(netns, *args):
    deadline = time.monotonic() + 60
    while True:
        proc = ipmitool(netns, *args)
        # "Node busy" (0xC0) asks clients to retry: the BMC lost libvirt for a moment
        if "Node busy" not in proc.stderr or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert proc.returncode == 0, "ipmitool %s: %s" % (" ".join(args), proc.stderr)
    return proc.stdout


PYGHMI_PRELUDE = """
import json, os
from pyghmi.ipmi import command
ipmi = command.Command(bmc=%r, userid=%r, password=os.environ["BMC_PASSWORD"], port=%d)
out = {}
""" % (ADDRESS, USER, PORT)


def pyghmi(netns, body):
    """Run ``body`` with pyghmi's stock client inside ``netns``; it fills ``out``."""
    script = PYGHMI_PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    proc = run(["ip", "netns", "exec", netns, sys.executable, "-c", script],
               env=dict(os.environ, BMC_PASSWORD=PASSWORD), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def virsh(uri, *args):
    return run(["virsh", "-c", uri] + list(args), check=True).stdout


def boot_order(uri, name, inactive=True):
    root = ET.fromstring(virsh(uri, "dumpxml", name, *(["--inactive"] if inactive else [])))
    return [b.get("dev") for b in root.findall("os/boot")]


def is_active(uri, name):
    return virsh(uri, "domstate", name).strip() == "running"


def wait_for(what, check, timeout=LIBVIRT_WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(0.5)


def udp_port_open(netns, port):
    out = run(["ip", "netns", "exec", netns, "ss", "-Huln", "sport = :%d" % port], check=True).stdout
    return bool(out.strip())


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(scope="module")
def domain(libvirt_netns):
    """A defined, stopped TCG domain: 128 MiB, no disk, boots from hd."""
    import libvirt
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    uri = os.environ.get("STACKWRIGHT_TEST_LIBVIRT_URI", "qemu:///system")
    name = "swt-bmc-" + uuid.uuid4().hex[:8]
    conn = libvirt.open(uri)
    conn.defineXML("""<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
      <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os><devices/></domain>""" % name)
    yield name
    try:
        dom = conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    finally:
        conn.close()


@pytest.fixture
def bmc_netns(agent, netns):
    """The test namespace with 192.0.2.50/24 on a bridge (set by the agent) and
    loopback up, without which the namespace cannot reach its own addresses."""
    run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    agent.put("bridges", "br-bmc", {"netns": netns, "addresses": [ADDRESS + "/24"]})
    yield netns
    # stop any BMC a failed test left running: IPMI or Redfish, found by the settings
    # file on its command line (so one whose pid file was never written too)
    bmc_dir = os.path.join(agent.config.state_dir, "bmcs")
    for entry in os.listdir(bmc_dir) if os.path.isdir(bmc_dir) else []:
        module = BMC_MODULES.get(os.path.splitext(entry)[1])
        for pid in _bmc_processes(os.path.join(bmc_dir, entry), module) if module else ():
            os.kill(pid, signal.SIGTERM)
            wait_for("pid %d to exit" % pid, lambda: not alive(pid) or _reap(pid), timeout=15)


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return not alive(pid)


def bmc_body(netns, password=PASSWORD, **extra):
    return dict({"netns": netns, "address": ADDRESS, "port": PORT, "username": USER, "password": password}, **extra)


def pid_of(agent, name):
    with open(os.path.join(agent.config.state_dir, "bmcs", name + ".pid")) as fh:
        return int(fh.read())


def test_bmc_lifecycle_power_boot_device_and_credentials(agent, bmc_netns, domain):
    ns, uri = bmc_netns, agent.config.libvirt_uri
    spec_file = os.path.join(agent.config.state_dir, "bmcs", domain + ".json")

    # -- create: predicted, applied, idempotent ---------------------------------
    plan = agent.put("bmcs", domain, bmc_body(ns), dry_run=True)
    assert plan["changed"] and plan["diff"]["before"] is None
    assert not os.path.exists(spec_file) and not udp_port_open(ns, PORT), "dry_run must not start a BMC"
    done = agent.put("bmcs", domain, bmc_body(ns))
    assert done["changed"] and done["resource"] == plan["resource"], "the dry run predicted a different result"
    res = done["resource"]
    assert res["running"] is True and res["address"] == ADDRESS and res["port"] == PORT
    assert res["netns"] == ns and res["username"] == USER and len(res["credentials"]) == 16
    assert stat.S_IMODE(os.stat(spec_file).st_mode) == 0o600
    pid = pid_of(agent, domain)
    assert alive(pid) and udp_port_open(ns, PORT)
    for dry_run in (True, False):
        again = agent.put("bmcs", domain, bmc_body(ns), dry_run=dry_run)
        assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    assert pid_of(agent, domain) == pid, "an unchanged BMC must not be restarted"

    # the BMC outlives the agent, which finds it again
    agent.restart()
    assert agent.find("bmcs", domain)["running"] is True and pid_of(agent, domain) == pid
    assert agent.put("bmcs", domain, bmc_body(ns))["changed"] is False

    # -- ipmitool: credentials, power, persistent boot device ---------------------
    assert ipmi_ok(ns, "power", "status").strip() == "Chassis Power is off"
    wrong = ipmitool(ns, "power", "status", password="wrong-password")
    assert wrong.returncode != 0
    sha256 = ipmitool(ns, "power", "status", cipher="17")
    assert sha256.returncode != 0 and "cipher suite" in sha256.stderr, "suite 17 must fail cleanly"

    ipmi_ok(ns, "chassis", "bootdev", "pxe", "options=persistent")
    wait_for("network first in the persistent definition", lambda: boot_order(uri, domain)[:1] == ["network"])
    flags = ipmi_ok(ns, "chassis", "bootparam", "get", "5")
    assert "Force PXE" in flags and "all future boots" in flags

    ipmi_ok(ns, "power", "on")
    wait_for("the domain to run", lambda: is_active(uri, domain))
    wait_for("ipmitool to see power on", lambda: ipmi_ok(ns, "power", "status").strip() == "Chassis Power is on",
             timeout=10)

    ipmi_ok(ns, "chassis", "bootdev", "disk", "options=persistent")
    wait_for("hd first in the persistent definition", lambda: boot_order(uri, domain)[:1] == ["hd"])
    assert "Force Boot from default Hard-Drive" in ipmi_ok(ns, "chassis", "bootparam", "get", "5")
    ipmi_ok(ns, "power", "off")
    wait_for("the domain to stop", lambda: not is_active(uri, domain))

    # -- pyghmi's stock client: power and a next-boot-only network boot ------------
    out = pyghmi(ns, """
        out["before"] = ipmi.get_power()["powerstate"]
        ipmi.set_bootdev("network")  # persist=False: the next boot only
        out["bootdev"] = ipmi.get_bootdev()
    """)
    assert out["before"] == "off"
    assert out["bootdev"]["bootdev"] == "network" and out["bootdev"]["persistent"] is False
    wait_for("network first for the next boot", lambda: boot_order(uri, domain)[:1] == ["network"])
    out = pyghmi(ns, """
        out["on"] = ipmi.set_power("on", wait=True)["powerstate"]
        out["after"] = ipmi.get_power()["powerstate"]
    """)
    assert out == {"on": "on", "after": "on"}
    assert is_active(uri, domain)
    # the guest started with network first; then the previous order came back
    assert boot_order(uri, domain, inactive=False)[:1] == ["network"]
    wait_for("hd first again after that boot", lambda: boot_order(uri, domain)[:1] == ["hd"])
    assert "bootonce" not in virsh(uri, "dumpxml", "--inactive", domain)
    out = pyghmi(ns, 'out["bootdev"] = ipmi.get_bootdev()')
    assert out["bootdev"]["bootdev"] == "hd" and out["bootdev"]["persistent"] is True

    # -- the password is never shown ------------------------------------------------
    got = agent.find("bmcs", domain)
    assert PASSWORD not in json.dumps(got) and "password" not in got
    assert PASSWORD not in run(["ps", "-eo", "args"], check=True).stdout

    # -- a new password: changed, applied, the old one refused -----------------------
    plan = agent.put("bmcs", domain, bmc_body(ns, NEW_PASSWORD), dry_run=True)
    assert plan["changed"] and plan["resource"]["credentials"] != res["credentials"]
    changed = agent.put("bmcs", domain, bmc_body(ns, NEW_PASSWORD))
    assert changed["changed"] and changed["resource"] == plan["resource"]
    assert NEW_PASSWORD not in json.dumps(changed)
    assert not alive(pid) and pid_of(agent, domain) != pid
    assert ipmitool(ns, "power", "status").returncode != 0, "the old password still works"
    assert ipmitool(ns, "power", "status", password=NEW_PASSWORD).stdout.strip() == "Chassis Power is on"
    assert agent.put("bmcs", domain, bmc_body(ns, NEW_PASSWORD))["changed"] is False

    # -- absent: the process stops, the port closes, the files go ---------------------
    pid = pid_of(agent, domain)
    gone = agent.client.request("DELETE", agent_client.resource_path("bmcs", domain))
    assert gone["changed"] and gone["resource"] is None
    assert not alive(pid) and not udp_port_open(ns, PORT)
    assert not os.path.exists(spec_file)
    assert agent.find("bmcs", domain) is None
    assert agent.put("bmcs", domain, {"state": "absent"})["changed"] is False
    assert is_active(uri, domain), "removing the BMC must leave its domain alone"


def test_password_is_not_journaled(agent, bmc_netns, domain):
    agent.put("bmcs", domain, bmc_body(bmc_netns))
    agent.put("bmcs", domain, {"state": "absent"})
    with open(agent.config.journal_path) as fh:
        journal = fh.read()
    assert '"bmcs"' in journal and PASSWORD not in journal


@pytest.mark.parametrize("body, field, words", [
    ({"address": "192.0.2.99"}, "address", "not on any interface"),
    ({"address": "not-an-ip"}, "address", "not an IP address"),
    ({"password": None}, "password", "is required"),
    ({"username": None}, "username", "is required"),
    ({"port": 0}, "port", "below the minimum"),
    ({"pasword": "x"}, "pasword", "did you mean 'password'"),
])
def test_bad_input_names_the_field_and_starts_nothing(agent, bmc_netns, domain, body, field, words):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bmcs", domain, dict(bmc_body(bmc_netns), **body))
    assert err.value.status == 400 and err.value.field == field
    assert words in err.value.message
    assert agent.find("bmcs", domain) is None and not udp_port_open(bmc_netns, PORT)


def test_unknown_domain_is_refused(agent, bmc_netns, libvirt_netns):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bmcs", "swt-no-such-domain", bmc_body(bmc_netns))
    assert err.value.status == 400 and err.value.field == "name" and "no domain" in err.value.message


def test_bad_password_is_not_echoed(agent, bmc_netns, domain):
    secret = "x" * 21 + PASSWORD  # over IPMI's 20 characters
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bmcs", domain, bmc_body(bmc_netns, secret))
    assert err.value.field == "password" and secret not in err.value.message


def test_boot_rewrite_touches_only_the_boot_order_and_our_record():
    from stackwright_agent import vbmc
    xml = """<domain type='qemu'><name>d</name>
      <metadata><app:info xmlns:app="urn:example:app">keep me</app:info></metadata>
      <os><type arch='x86_64'>hvm</type><boot dev='hd'/><bootmenu enable='no'/></os>
      <devices><interface type='bridge'><source bridge='br0'/><boot order='1'/></interface></devices>
    </domain>"""
    record = {"once": ["network", "hd"], "restore": ["hd"], "domid": -1}
    once = ET.fromstring(vbmc.rewrite_boot(xml, ["network", "hd"], record))
    assert [el.tag for el in once.find("os")] == ["type", "boot", "boot", "bootmenu"]
    assert vbmc.boot_order(once) == ["network", "hd"] and vbmc.boot_record(once) == record
    assert once.find("devices/interface/boot") is None, "libvirt refuses per-device boot order next to <os><boot>"
    assert once.find("metadata/{urn:example:app}info").text == "keep me"
    back = ET.fromstring(vbmc.rewrite_boot(ET.tostring(once, encoding="unicode"), ["hd"], None))
    assert vbmc.boot_order(back) == ["hd"] and vbmc.boot_record(back) is None
    assert back.find("metadata/{urn:example:app}info").text == "keep me"


def test_boot_rewrite_of_a_uefi_domain_orders_its_devices():
    """OVMF reads the order from the devices (bootindex), not from <os><boot>."""
    from stackwright_agent import vbmc
    xml = """<domain type='qemu'><name>d</name>
      <os><type arch='x86_64'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
        <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/d_VARS.fd</nvram></os>
      <devices><disk type='file' device='disk'><source file='/x.qcow2'/><target dev='vda' bus='virtio'/>
        <boot order='1'/></disk>
        <interface type='bridge'><source bridge='br0'/><boot order='2'/></interface></devices>
    </domain>"""
    record = {"once": ["network", "hd"], "restore": ["hd", "network"], "domid": -1}
    once = ET.fromstring(vbmc.rewrite_boot(xml, ["network", "hd"], record))
    assert once.findall("os/boot") == []
    assert once.find("devices/interface/boot").get("order") == "1"
    assert once.find("devices/disk/boot").get("order") == "2"
    assert vbmc.boot_order(once) == ["network", "hd"] and vbmc.boot_record(once) == record
    assert once.find("os/nvram").text.endswith("d_VARS.fd"), "the domain's own variables are kept"
    back = ET.fromstring(vbmc.rewrite_boot(ET.tostring(once, encoding="unicode"), ["hd"], None))
    assert vbmc.boot_order(back) == ["hd"] and back.find("devices/interface/boot") is None


def test_a_login_again_from_a_lapsed_sessions_address_starts_a_new_session():
    """pyghmi routes a session request that comes from the address and port of an
    earlier session to that session object, which has no sessionless_data: the BMC's
    server loop died of it (a long-lived client, the undercloud's conductor, keeps its
    socket: Molecule provision lost prov-b's BMC so). The session hands it to the BMC.
    The real exchange takes a minute of idle time: Molecule provision has it."""
    from stackwright_agent import vbmc
    started = []

    class Server:
        def sessionless_data(self, data, sockaddr):
            started.append((bytes(data), sockaddr))
    session = object.__new__(vbmc._Sha1OnlySession)
    session.bmc = Server()
    session.sessionless_data(bytearray(b"\x06\x00\xff\x07\x06\x10"), ("192.0.2.1", 40000))
    assert started == [(b"\x06\x00\xff\x07\x06\x10", ("192.0.2.1", 40000))]


# the conductor, in the BMC's network namespace, resuming the inspection set up below
WATCHER = """
import json, sys
from stackwright_agent import conductor
from stackwright_agent.registry import Registry
registry = Registry(sys.argv[1])
worker = conductor.Conductor(registry, power_watch=3)
worker.start("pw", resuming=True)
worker.join("pw", 170)
print(json.dumps(registry.get("pw")["target"]))
"""


def test_a_node_powered_off_mid_phase_fails_the_wait_with_the_reason(agent, bmc_netns, domain):
    """The conductor's wait asks the node's BMC (a real virtual BMC over a TCG domain):
    switched off while its ramdisk should be working, the node fails at once with the
    reason, not at the end of the phase's timeout."""
    ns = bmc_netns
    agent.put("bmcs", domain, bmc_body(ns))
    agent.put("nodes", "pw", {"role": "Compute", "kind": "baremetal", "macs": ["52:54:00:aa:00:71"],
                              "bmc": {"address": ADDRESS, "port": PORT, "username": USER, "password": PASSWORD}})
    agent.put("nodes", "pw", {"provision_state": "verified"})
    agent.put("nodes", "pw", {"action": {"action": "inspect"}})
    ipmi_ok(ns, "power", "on")
    wait_for("the domain to run", lambda: is_active(agent.config.libvirt_uri, domain))
    # an inspection the conductor runs (written straight to the registry: the agent of
    # this process cannot reach the BMC's namespace)
    agent.api.drivers["nodes"].registry.update("pw", {"target": {
        "action": "inspect", "status": "running", "started_at": time.time(),
        "timeouts": dict(conductor.TIMEOUTS, inspect=180)}})

    watcher = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", WATCHER, agent.config.state_dir],
                               env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "agent")),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the conductor powers the node off and on into its ramdisk first (seconds, or half a
    # minute on a busy host): switched off before that, it would simply be switched on again
    wait_for("the conductor to boot the ramdisk", lambda: any(
        h["detail"] == "inspect: ramdisk booting" for h in agent.find("nodes", "pw")["history"]), timeout=120)
    time.sleep(7)  # the watch (every 3 s) sees "on" twice and goes on waiting
    assert watcher.poll() is None, watcher.communicate()
    ipmi_ok(ns, "power", "off")
    switched_off = time.monotonic()
    try:
        out, err = watcher.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        watcher.kill()
        out, err = watcher.communicate()
        history = [(round(h["ts"] - time.time()), h["event"], h["detail"]) for h in agent.find("nodes", "pw")["history"]]
        pytest.fail("the conductor did not end the action within 120 s; its history: %s; stderr: %s"
                    % (history, err[-2000:]))
    assert watcher.returncode == 0, err
    target = json.loads(out.strip().splitlines()[-1])
    assert target["status"] == "failed", target
    assert target["error"].startswith("inspect: the node is powered off, waiting for inspected"), target
    assert time.monotonic() - switched_off < 30, "noticed long before the wait's 180 s"
    node = agent.find("nodes", "pw")
    assert node["provision_state"] == "failed" and node["last_error"] == target["error"]


def _bmc_processes(spec_file, module=b"stackwright_agent.vbmc"):
    """Pids of live processes running the BMC of ``spec_file`` (the Redfish BMC's:
    module stackwright_agent.sushy_bmc, its settings file)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if module in argv and spec_file.encode() in argv and alive(int(entry)):
            found.append(int(entry))
    return found


def test_an_orphan_of_a_killed_agent_is_adopted_on_the_next_converge(tmp_path, bmc_netns, domain):
    """A real agent process, SIGKILLed while it starts a BMC, leaves the BMC process
    without a pid file (the kill lands between the start and the file's write; the
    test removes the file if the kill came a moment later). The next agent's converge
    adopts the orphan instead of failing on "Address already in use"; a change of
    credentials then ends it. Exactly one BMC answers on the port throughout."""
    ns = bmc_netns
    sock, state = str(tmp_path / "a.sock"), str(tmp_path / "state")
    spec_file = os.path.join(state, "bmcs", domain + ".json")
    argv = [sys.executable, "-m", "stackwright_agent", "--config", str(tmp_path / "none.json"), "--role", "lab_host",
            "--socket", sock, "--state-dir", state,
            "--libvirt-uri", os.environ.get("STACKWRIGHT_TEST_LIBVIRT_URI", "qemu:///system")]
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

    def start():
        log = open(str(tmp_path / "agent.log"), "ab")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        client = agent_client.AgentClient(sock, timeout=120)
        wait_for("the agent to answer", lambda: proc.poll() is None and _answers(client), timeout=30)
        return proc, client

    path = agent_client.resource_path("bmcs", domain)
    proc, client = start()
    try:
        threading.Thread(target=_ignore_errors, args=(client.put, path, bmc_body(ns)), daemon=True).start()
        orphan = wait_for("the BMC process to start", lambda: _bmc_processes(spec_file), timeout=60)[0]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        os.unlink(sock)  # a killed agent leaves its socket behind
        pidfile = os.path.join(state, "bmcs", domain + ".pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        assert alive(orphan), "the BMC must outlive its agent"

        proc, client = start()
        answer = client.put(path, bmc_body(ns))
        # it runs the wanted settings: nothing to change
        assert answer["resource"]["running"] is True and answer["changed"] is False
        assert _bmc_processes(spec_file) == [orphan], "the orphan is adopted, no second BMC started"
        assert len(run(["ip", "netns", "exec", ns, "ss", "-Huln", "sport = :%d" % PORT]).stdout.splitlines()) == 1
        assert ipmi_ok(ns, "power", "status").strip().startswith("Chassis Power is")
        assert client.put(path, bmc_body(ns))["changed"] is False

        # new credentials: the adopted BMC is ended, one new BMC takes the port
        changed = client.put(path, bmc_body(ns, NEW_PASSWORD))
        assert changed["changed"] and changed["resource"]["running"] is True
        now = _bmc_processes(spec_file)
        assert len(now) == 1 and now[0] != orphan and not alive(orphan)
        client.request("DELETE", path)
        assert _bmc_processes(spec_file) == []
    finally:
        for pid in _bmc_processes(spec_file):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _answers(client):
    try:
        return client.get("/v1/health")["status"] == "ok"
    except agent_client.AgentClientError:
        return False


def _ignore_errors(call, *args):
    try:
        call(*args)
    except Exception:  # the agent is killed under it
        pass
