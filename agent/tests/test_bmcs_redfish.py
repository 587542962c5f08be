"""Redfish BMCs from the agent's bmcs driver: sushy-tools' emulator in a throw-away
network namespace, over HTTPS with the certificate the driver made, driven by the
conductor's own Redfish client from inside that namespace, controlling one real
UEFI (OVMF) TCG domain that never boots an OS. Every domain, process and file a test
creates is removed afterwards; processes are stopped by PID."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET

import pytest

from fixtures import ROOT, agent_client
import test_bmcs
from test_bmcs import ADDRESS, BMC_MODULES, _bmc_processes, alive

pytest.importorskip("sushy_tools")

PORT = 8443
USER = "admin"
PASSWORD = "rf-" + uuid.uuid4().hex[:8]
NEW_PASSWORD = "rf-new-" + uuid.uuid4().hex[:8]
OVMF = ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd")

# the conductor's client (conductor._bmc_of, as for a registry row), run in the BMC's namespace
CLIENT = """
import json, sys
from stackwright_agent import conductor
row, calls = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bmc = conductor._bmc_of(row, retries=0)
out = []
try:
    for call in calls:
        if call[0] == "power":
            bmc.set_power(call[1], wait=False)
        elif call[0] == "boot":
            bmc.set_boot_device(call[1], call[2])
        out.append([bmc.power_state(), bmc.boot_device()["device"]])
except Exception as exc:
    out.append({"error": str(exc)})
print(json.dumps(out))
"""


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


# the IPMI tests' namespace (a bridge with ADDRESS, loopback up), which also stops a
# Redfish BMC a failed test left running
bmc_netns = test_bmcs.bmc_netns


def sushy_processes(conf):
    return _bmc_processes(conf, BMC_MODULES[".conf"])


@pytest.fixture(scope="module")
def domain(libvirt_netns):
    """A stopped UEFI TCG domain with a 1 MiB disk and a NIC (the emulator orders boot
    per device), no OS. (name, uuid, libvirt domain)."""
    import libvirt
    if not all(os.path.exists(p) for p in OVMF):
        pytest.skip("no OVMF here")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(os.environ.get("STACKWRIGHT_TEST_LIBVIRT_URI", "qemu:///system"))
    base = tempfile.mkdtemp(prefix="swt-rfb-", dir="/var/tmp")  # QEMU runs as another user
    os.chmod(base, 0o755)
    disk = os.path.join(base, "d.img")
    with open(disk, "wb") as fh:
        fh.truncate(1 << 20)
    os.chmod(disk, 0o666)
    name = "swt-rfb-" + uuid.uuid4().hex[:8]
    dom = conn.defineXML("""<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><features><acpi/></features>
      <os><type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>%s</loader>
      <nvram template='%s'>%s/VARS.fd</nvram></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>
      <target dev='vda' bus='virtio'/><boot order='1'/></disk>
      <interface type='ethernet'><model type='virtio'/></interface></devices></domain>"""
                         % (name, OVMF[0], OVMF[1], base, disk))
    yield name, dom.UUIDString(), dom
    if dom.isActive():
        dom.destroy()
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    conn.close()
    shutil.rmtree(base)


def body(netns, password=PASSWORD, **extra):
    return dict({"netns": netns, "protocol": "redfish", "address": ADDRESS, "port": PORT, "username": USER,
                 "password": password}, **extra)


def drive(netns, resource, calls, password=PASSWORD):
    """The conductor's Redfish client, from the BMC's namespace: [power, boot device]
    after each call, or an error."""
    row = {"bmc_driver": "redfish", "bmc_address": "https://%s:%d" % (ADDRESS, PORT), "bmc_port": None,
           "bmc_username": USER, "bmc_password": password, "bmc_system_id": resource["system_id"],
           "bmc_verify_ca": resource["certificate"], "properties": {"boot_mode": "uefi"}}
    proc = run(["ip", "netns", "exec", netns, sys.executable, "-c", CLIENT, json.dumps(row), json.dumps(calls)],
               env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "agent")), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# a GET with the BMC's credentials, from its namespace: the HTTP status
STATUS = """
import base64, sys, ssl, urllib.error, urllib.request
url, ca, auth = sys.argv[1:4]
req = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
try:
    print(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=30).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


def status(netns, resource, path):
    proc = run(["ip", "netns", "exec", netns, sys.executable, "-c", STATUS,
                "https://%s:%d%s" % (ADDRESS, PORT, path), resource["certificate"], USER + ":" + PASSWORD],
               timeout=60)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


def test_redfish_bmc_lifecycle_through_the_conductors_client(agent, bmc_netns, domain):
    ns, (name, system_id, dom) = bmc_netns, domain
    files = {ext: os.path.join(agent.config.state_dir, "bmcs", name + ext)
             for ext in (".json", ".conf", ".htpasswd", ".crt", ".key", ".pid", ".log")}

    # -- dry run predicts, converge starts, a second converge changes nothing -------
    plan = agent.put("bmcs", name, body(ns), dry_run=True)
    assert plan["changed"] and plan["diff"]["before"] is None
    assert not any(os.path.exists(f) for f in files.values()), "a dry run must not touch anything"
    done = agent.put("bmcs", name, body(ns))
    assert done["changed"] and done["resource"] == plan["resource"]
    res = done["resource"]
    assert res["protocol"] == "redfish" and res["running"] and res["port"] == PORT
    assert res["system_id"] == system_id and res["certificate"] == files[".crt"]
    for ext in (".json", ".conf", ".htpasswd", ".key"):
        assert stat.S_IMODE(os.stat(files[ext]).st_mode) == 0o600, ext
    pid = int(open(files[".pid"]).read())
    assert sushy_processes(files[".conf"]) == [pid]
    assert PASSWORD not in run(["ps", "-eo", "args"], check=True).stdout
    assert PASSWORD not in open(files[".htpasswd"]).read() and PASSWORD not in open(files[".conf"]).read()
    assert PASSWORD not in json.dumps(done)
    again = agent.put("bmcs", name, body(ns))
    assert again["changed"] is False and int(open(files[".pid"]).read()) == pid

    # -- the conductor's client over HTTPS, verified against the certificate ---------
    # the domain is UEFI and the client sends the mode: the emulator must leave its firmware alone
    out = drive(ns, res, [["boot", "network", False], ["power", "on"]])
    assert out[-1] == ["on", "network"], out
    assert dom.isActive()
    xml = ET.fromstring(dom.XMLDesc(2))
    assert xml.find("os/loader").text == OVMF[0], "the domain's firmware was rewritten"
    assert xml.find("devices/interface/boot").get("order") == "1", "PXE first (per device: OVMF's bootindex)"
    out = drive(ns, res, [["boot", "hd", True], ["power", "off"]])
    assert out[-1] == ["off", "hd"], out
    assert not dom.isActive()
    assert ET.fromstring(dom.XMLDesc(2)).find("devices/disk/boot").get("order") == "1"
    # a BMC manages its one server: nothing of the host's other domains is reachable
    # (the emulator's own check leaves Managers, Chassis and VirtualMedia open)
    assert status(ns, res, "/redfish/v1/Systems/%s" % system_id) == 200
    for path in ("/redfish/v1/Managers", "/redfish/v1/Chassis", "/redfish/v1/UpdateService",
                 "/redfish/v1/Systems/%s/VirtualMedia" % system_id, "/redfish/v1/Systems/%s" % uuid.uuid4()):
        assert status(ns, res, path) == 404, path
    # its log has the requests (Molecule provision's verify reads it)
    assert re.search(r'PATCH /redfish/v1/Systems/%s HTTP/1.1[^"]*" 20[0-9]' % system_id, open(files[".log"]).read())

    # a wrong password is refused at once; so is a CA that is not the BMC's
    wrong = drive(ns, res, [["read"]], password="wrong-password")
    assert "error" in wrong[-1] and "401" in wrong[-1]["error"] and "wrong-password" not in wrong[-1]["error"]
    untrusted = drive(ns, dict(res, certificate=True), [["read"]])
    assert "certificate" in untrusted[-1]["error"].lower(), untrusted

    # -- an orphan (its agent killed before the pid file) is adopted ----------------
    os.unlink(files[".pid"])
    agent.restart()
    kept = agent.put("bmcs", name, body(ns))
    assert kept["changed"] is False and kept["resource"]["running"] is True
    assert sushy_processes(files[".conf"]) == [pid], "the orphan is kept, no second BMC started"
    assert drive(ns, res, [["read"]]) == [["off", "hd"]]

    # -- new credentials restart it; the old password is refused ---------------------
    changed = agent.put("bmcs", name, body(ns, NEW_PASSWORD))
    assert changed["changed"] and changed["resource"]["credentials"] != res["credentials"]
    assert not alive(pid) and len(sushy_processes(files[".conf"])) == 1
    assert "401" in drive(ns, res, [["read"]])[-1]["error"]
    assert drive(ns, res, [["read"]], password=NEW_PASSWORD) == [["off", "hd"]]

    # -- absent stops it and removes its files ---------------------------------------
    pid = int(open(files[".pid"]).read())
    gone = agent.client.request("DELETE", agent_client.resource_path("bmcs", name))
    assert gone["changed"] and gone["resource"] is None
    assert not alive(pid) and sushy_processes(files[".conf"]) == []
    assert [f for f in files.values() if os.path.exists(f)] == []
    assert agent.put("bmcs", name, {"state": "absent"})["changed"] is False


@pytest.mark.parametrize("extra, field, words", [
    ({"protocol": "redfsh"}, "protocol", "redfsh"),
    ({"username": "ad:min"}, "username", "must not contain ':'"),
    ({"port": 70000}, "port", "above the maximum"),
    ({"address": "192.0.2.99"}, "address", "not on any interface"),
])
def test_bad_redfish_input_names_the_field_and_starts_nothing(agent, bmc_netns, domain, extra, field, words):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bmcs", domain[0], dict(body(bmc_netns), **extra))
    assert err.value.status == 400 and err.value.field == field and words in err.value.message
    assert agent.find("bmcs", domain[0]) is None
    assert not os.path.exists(os.path.join(agent.config.state_dir, "bmcs", domain[0] + ".conf"))


def test_an_ipmi_bmc_and_a_redfish_one_may_share_a_port_number(agent, bmc_netns, domain):
    """UDP 8443 and TCP 8443 are different ports: the check must not refuse it, but the
    same protocol on the same address and port is refused naming the other BMC."""
    bmcs = agent.api.drivers["bmcs"]
    os.makedirs(bmcs.dir, exist_ok=True)
    other = {"domain": "other", "netns": bmc_netns, "address": ADDRESS, "port": PORT, "username": USER,
             "password": PASSWORD, "protocol": "redfish"}
    bmcs._write_spec("other", other)
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bmcs", domain[0], body(bmc_netns), dry_run=True)
    assert err.value.field == "port" and "'other'" in err.value.message
    bmcs._write_spec("other", dict(other, protocol="ipmi"))
    assert agent.put("bmcs", domain[0], body(bmc_netns), dry_run=True)["changed"]
