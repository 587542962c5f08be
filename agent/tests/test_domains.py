"""Domains: real libvirt guests under TCG. The guests never boot an OS; they only
have to be defined, started and stopped. Every domain, image and bridge a test
creates is removed afterwards."""

import json
import os
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET

import pytest

from fixtures import RunningAgent, agent_client
from stackwright_agent.config import Config
from stackwright_agent.drivers import domains

MAC = "52:54:00:5a:00:01"


def virsh(agent, *args, check=True):
    proc = subprocess.run(["virsh", "-c", agent.config.libvirt_uri] + list(args),
                          capture_output=True, text=True)
    if check and proc.returncode:
        raise AssertionError("virsh %s: %s" % (" ".join(args), proc.stderr))
    return proc.stdout


def defined(agent):
    return virsh(agent, "list", "--all", "--name").split()


def dumpxml(agent, name, inactive=False):
    return ET.fromstring(virsh(agent, "dumpxml", name, *(["--inactive"] if inactive else [])))


def img_info(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--output", "json", path],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture
def images():
    # qemu runs as libvirt-qemu, which cannot pass through pytest's 0700 tmp_path,
    # so images live in a directory it can search
    path = tempfile.mkdtemp(prefix="swt-img-", dir="/var/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def dom_name(agent, libvirt_netns):
    name = "swt-dom-" + uuid.uuid4().hex[:8]
    yield name
    virsh(agent, "destroy", name, check=False)
    virsh(agent, "undefine", "--nvram", name, check=False)


@pytest.fixture
def bridge(agent, libvirt_netns):
    """A bridge where libvirtd creates the guests' taps."""
    name = "swtbr" + uuid.uuid4().hex[:6]
    agent.put("bridges", name, {"netns": libvirt_netns} if libvirt_netns else {})
    yield name
    subprocess.run(["ip"] + (["-n", libvirt_netns] if libvirt_netns else []) + ["link", "del", name],
                   capture_output=True)


def test_lifecycle_define_start_redefine_stop_remove(agent, dom_name, bridge, images, libvirt_netns, tmp_path):
    # One domain through its whole life: some hosts make libvirtd re-probe QEMU on every
    # definition or start (30 s or more each), so the test does both as rarely as it can.
    root_disk = os.path.join(images, "root.qcow2")
    base = os.path.join(images, "base.raw")
    overlay = os.path.join(images, "overlay.qcow2")
    data = os.path.join(images, "data.raw")
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", base, "2G"], check=True)
    want = {"vcpus": 1, "memory_mib": 128, "boot": ["network", "hd"],
            "disks": [{"path": root_disk, "size_gib": 1},
                      {"path": overlay, "backing": base},
                      {"path": data, "format": "raw", "size_gib": 1, "bus": "sata", "cache": "none"}],
            "nics": [{"bridge": bridge, "mac": MAC}]}

    plan = agent.put("domains", dom_name, want, dry_run=True)
    assert plan["changed"] and plan["diff"]["before"] is None
    assert dom_name not in defined(agent), "dry_run must not define the domain"
    assert not os.path.exists(root_disk), "dry_run must not create images"

    done = agent.put("domains", dom_name, want)
    assert done["changed"]
    assert done["resource"] == plan["resource"], "the dry run predicted a different result"
    log = os.path.join(agent.config.console_log_dir, dom_name + ".log")
    assert done["resource"] == {
        "name": dom_name, "state": "running", "domain_type": "qemu", "vcpus": 1, "memory_mib": 128,
        "disks": [{"path": root_disk, "format": "qcow2", "bus": "virtio", "cache": "default"},
                  {"path": overlay, "format": "qcow2", "bus": "virtio", "cache": "default"},
                  {"path": data, "format": "raw", "bus": "sata", "cache": "none"}],
        "nics": [{"bridge": bridge, "mac": MAC, "model": "virtio"}],
        "boot": ["network", "hd"], "firmware": "bios", "console_log": log}

    xml = dumpxml(agent, dom_name)
    assert xml.get("type") == "qemu"
    assert xml.find("features/acpi") is not None
    assert [b.get("dev") for b in xml.findall("os/boot")] == ["network", "hd"]
    iface = xml.find("devices/interface")
    assert iface.find("mac").get("address") == MAC and iface.find("source").get("bridge") == bridge
    assert [(t.get("dev"), t.get("bus")) for t in xml.findall("devices/disk/target")] == \
        [("vda", "virtio"), ("vdb", "virtio"), ("sda", "sata")]
    assert xml.find("devices/graphics") is None
    info = img_info(root_disk)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30
    info = img_info(overlay)
    assert info["format"] == "qcow2" and info["virtual-size"] == 2 << 30
    assert info["backing-filename"] == base and info["backing-filename-format"] == "raw"
    assert img_info(data)["format"] == "raw"
    assert os.path.isfile(log), "the serial console log was not created"
    # the guest's tap sits on the bridge, in the namespace libvirtd runs in
    ports = subprocess.run(["ip", "-j"] + (["-n", libvirt_netns] if libvirt_netns else [])
                           + ["link", "show", "master", bridge], capture_output=True, text=True).stdout
    assert len(json.loads(ports)) == 1
    assert dom_name in [d["name"] for d in agent.client.get("/v1/domains")["domains"]]

    again = agent.put("domains", dom_name, want)
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    res = agent.put("domains", dom_name, {"state": "present"})
    assert not res["changed"] and res["resource"]["state"] == "running", "present must not stop it"

    # out of band, as a virtual BMC would: boot from disk only. The next read sees it.
    inactive = dumpxml(agent, dom_name, inactive=True)
    os_el = inactive.find("os")
    for boot in os_el.findall("boot"):
        os_el.remove(boot)
    ET.SubElement(os_el, "boot", dev="hd")
    edited = tmp_path / "edited.xml"
    edited.write_text(ET.tostring(inactive, encoding="unicode"))
    virsh(agent, "define", str(edited))
    assert agent.find("domains", dom_name)["boot"] == ["hd"]

    # one redefinition restores the boot order and changes memory; the running guest keeps
    # its old memory until it restarts
    res = agent.put("domains", dom_name, dict(want, memory_mib=192))
    assert res["changed"] and res["diff"]["before"]["boot"] == ["hd"]
    assert res["resource"] == dict(done["resource"], memory_mib=192)
    inactive = dumpxml(agent, dom_name, inactive=True)
    assert inactive.find("memory").text == str(192 * 1024)
    assert [b.get("dev") for b in inactive.findall("os/boot")] == ["network", "hd"]
    assert inactive.find("devices/interface/address") is not None, "unchanged devices keep their addresses"
    assert dumpxml(agent, dom_name).find("memory").text == str(128 * 1024)
    assert not agent.put("domains", dom_name, dict(want, memory_mib=192))["changed"]

    # no OS answers the ACPI shutdown, so the driver powers the guest off after stop_timeout
    res = agent.put("domains", dom_name, {"state": "stopped", "stop_timeout": 1})
    assert res["changed"] and res["resource"]["state"] == "stopped"
    assert virsh(agent, "domstate", dom_name).strip() == "shut off"
    assert res["resource"]["memory_mib"] == 192, "fields left unset must keep their values"

    res = agent.put("domains", dom_name, {"state": "present"})
    assert not res["changed"] and res["resource"]["state"] == "stopped", "present must not start it"

    # delete_disks removes only the images the request names, never the backing file
    gone = agent.put("domains", dom_name, {"state": "absent", "delete_disks": True,
                                           "disks": [{"path": root_disk}, {"path": overlay}]})
    assert gone["changed"] and gone["resource"] is None
    assert dom_name not in defined(agent)
    assert not os.path.exists(root_disk) and not os.path.exists(overlay)
    assert os.path.exists(base) and os.path.exists(data)
    assert not agent.put("domains", dom_name, {"state": "absent"})["changed"]
    assert agent.find("domains", dom_name) is None


@pytest.mark.parametrize("body, field, words", [
    ({"nics": [{"bridge": "swt-nobr", "mac": MAC}]}, "nics[0].bridge", "no bridge 'swt-nobr'"),
    ({"disks": [{"path": "{images}/missing.qcow2"}]}, "disks[0].path", "does not exist; set size_gib"),
    ({"disks": [{"path": "disk.qcow2", "size_gib": 1}]}, "disks[0].path", "not an absolute path"),
    ({"disks": [{"path": "{images}/nodir/d.qcow2", "size_gib": 1}]}, "disks[0].path", "does not exist"),
    ({"disks": [{"path": "{images}/o.qcow2", "backing": "{images}/nope.raw"}]}, "disks[0].backing",
     "no backing file"),
    ({"disks": [{"path": "{images}/plain.raw"}]}, "disks[0].format", "is a raw image, not qcow2"),
    ({"memory_mib": None}, "memory_mib", "is required"),
    ({"vcpu": 2}, "vcpu", "did you mean 'vcpus'"),
    ({"nics": [{"bridge": "br0", "mac": "52:54:00:5a"}]}, "nics[0].mac", "write it like"),
    ({"boot": ["hd", "hd"]}, "boot[1]", "listed twice"),
])
def test_bad_input_names_the_field_and_changes_nothing(agent, dom_name, images, body, field, words):
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", os.path.join(images, "plain.raw"), "1M"], check=True)
    body = json.loads(json.dumps(body).replace("{images}", images))
    before = sorted(os.listdir(images))
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("domains", dom_name, dict({"vcpus": 1, "memory_mib": 128}, **body))
    assert err.value.status == 400 and err.value.field == field
    assert words in err.value.message
    assert dom_name not in defined(agent)
    assert sorted(os.listdir(images)) == before


@pytest.mark.parametrize("usable, expected", [(True, "kvm"), (False, "qemu")])
def test_auto_domain_type_follows_kvm_usability(agent, dom_name, libvirt_netns, monkeypatch, usable, expected):
    monkeypatch.setattr(domains, "kvm_usable", lambda: usable)
    plan = agent.put("domains", dom_name, {"vcpus": 1, "memory_mib": 64, "domain_type": "auto"}, dry_run=True)
    assert plan["resource"]["domain_type"] == expected
    # the config (qemu here) decides when the request does not
    plan = agent.put("domains", dom_name, {"vcpus": 1, "memory_mib": 64}, dry_run=True)
    assert plan["resource"]["domain_type"] == "qemu"
    assert dom_name not in defined(agent)


def test_kvm_requested_is_rendered_with_host_cpu():
    want = {"domain_type": "kvm", "firmware": "bios", "vcpus": 2, "memory_mib": 256, "disks": [], "nics": [],
            "boot": ["hd"],
            "console_log": None}
    xml = ET.fromstring(domains.render("d", want))
    assert xml.get("type") == "kvm" and xml.find("cpu").get("mode") == "host-passthrough"
    xml = ET.fromstring(domains.render("d", dict(want, domain_type="qemu")))
    assert xml.get("type") == "qemu" and xml.find("cpu") is None


def test_uefi_is_ovmf_with_the_boot_order_on_the_devices():
    """UEFI firmware ignores <os><boot> (QEMU's -boot order is the PC BIOS's): the order
    must be on the devices, where libvirt turns it into bootindex."""
    want = {"domain_type": "qemu", "firmware": "uefi", "vcpus": 1, "memory_mib": 256, "boot": ["network", "hd"],
            "disks": [{"path": "/var/lib/x/a.qcow2", "format": "qcow2", "bus": "virtio", "cache": "default"},
                      {"path": "/var/lib/x/b.qcow2", "format": "qcow2", "bus": "virtio", "cache": "default"}],
            "nics": [{"bridge": "br0", "mac": MAC, "model": "virtio"}], "console_log": None}
    xml = ET.fromstring(domains.render("d", want))
    loader = xml.find("os/loader")
    assert loader.get("type") == "pflash" and loader.get("readonly") == "yes" and "OVMF_CODE" in loader.text
    assert "OVMF_VARS" in xml.find("os/nvram").get("template")
    assert xml.findall("os/boot") == []
    assert xml.find("devices/interface/boot").get("order") == "1"
    disks = xml.findall("devices/disk")
    assert disks[0].find("boot").get("order") == "2" and disks[1].find("boot") is None
    parsed = domains.parse_definition(ET.tostring(xml, encoding="unicode"))
    assert parsed["firmware"] == "uefi" and parsed["boot"] == ["network", "hd"]
    # back to BIOS: no loader, the order in <os> again, none left on the devices
    have = dict(want)
    bios = ET.fromstring(domains.render("d", dict(want, firmware="bios", boot=["hd"]), have,
                                        ET.tostring(xml, encoding="unicode")))
    assert bios.find("os/loader") is None and bios.find("os/nvram") is None
    assert [b.get("dev") for b in bios.findall("os/boot")] == ["hd"]
    assert bios.findall("devices/*/boot") == []
    assert domains.parse_definition(ET.tostring(bios, encoding="unicode"))["firmware"] == "bios"


def test_uefi_without_ovmf_is_refused_naming_the_field(agent, dom_name, monkeypatch):
    """A node without OVMF (paths elsewhere than the driver looks, as on a host without
    the package): refused before anything is defined."""
    monkeypatch.setattr(domains, "OVMF_PAIRS", (("/nonexistent/OVMF_CODE.fd", "/nonexistent/OVMF_VARS.fd"),))
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("domains", dom_name, {"vcpus": 1, "memory_mib": 128, "firmware": "uefi"})
    assert err.value.field == "firmware" and "apt install ovmf" in err.value.message
    assert dom_name not in defined(agent)


def test_unreachable_libvirt_is_a_structured_error(tmp_path):
    pytest.importorskip("libvirt")
    uri = "qemu:///system?socket=%s" % (tmp_path / "no-libvirt.sock")
    running = RunningAgent(Config(socket=str(tmp_path / "agent.sock"), state_dir=str(tmp_path / "state"),
                                  console_log_dir=str(tmp_path / "console"), domain_type="qemu",
                                  libvirt_uri=uri))
    try:
        with pytest.raises(agent_client.AgentClientError) as err:
            running.put("domains", "swt-nowhere", {"vcpus": 1, "memory_mib": 64})
    finally:
        running.stop()
    assert err.value.status == 503 and err.value.code == "libvirt_unreachable"
    assert uri in err.value.message
