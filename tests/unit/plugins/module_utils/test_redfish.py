"""The Redfish client against a real Redfish service: sushy-tools' emulator (the one
Ironic's own CI drives its redfish hardware type with), on 127.0.0.1, with HTTP basic
auth, over libvirt, controlling a real TCG domain that never boots an OS (no disk:
it powers on and is forced off). Every domain, process and file a test makes it
removes; the emulator is stopped by its PID."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from fixtures import ROOT, _load

redfish = _load("redfish_client", "plugins/module_utils/redfish.py")
strict = _load("redfish_test_service", "tests/unit/plugins/module_utils/redfish_test_service.py")

USER = "admin"
PASSWORD = "rf-" + uuid.uuid4().hex[:8]
URI = os.environ.get("STACKWRIGHT_TEST_LIBVIRT_URI", "qemu:///system")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def define(conn, disk):
    """A defined, stopped TCG domain: 64 MiB, a 1 MiB disk and a NIC (the emulator sets
    the boot device per device), no OS: it powers on and is forced off."""
    return conn.defineXML("""<domain type='qemu'><name>swt-rf-%s</name><memory unit='MiB'>64</memory>
      <vcpu>1</vcpu><features><acpi/></features><os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>
      <target dev='vda' bus='virtio'/></disk><interface type='ethernet'><model type='virtio'/></interface>
      </devices></domain>""" % (uuid.uuid4().hex[:8], disk))


@pytest.fixture(scope="module")
def domains(libvirt_netns, tmp_path_factory):
    """Two domains: the one the tests drive and a second system on the same service."""
    import libvirt
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(URI)
    # QEMU runs as another user: the disks live where it may read them
    base = pathlib.Path(tempfile.mkdtemp(prefix="swt-rf-", dir="/var/tmp"))
    os.chmod(str(base), 0o755)
    made = []
    for i in range(2):
        disk = base / ("d%d.img" % i)
        with open(str(disk), "wb") as fh:
            fh.truncate(1 << 20)
        os.chmod(str(disk), 0o666)
        made.append(define(conn, disk))
    yield made
    for dom in made:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    conn.close()
    shutil.rmtree(str(base))


@pytest.fixture(scope="module")
def domain(domains):
    return domains[0]


def start_emulator(base, allowed=None, tls=None):
    """sushy-emulator on 127.0.0.1 (its libvirt driver, HTTP basic auth); with
    ``allowed``, it shows only those domains; with ``tls`` (certificate, key), it
    speaks https. (address, process, log)."""
    pytest.importorskip("sushy_tools")
    import bcrypt
    auth = base / "htpasswd"
    auth.write_text("%s:%s\n" % (USER, bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
    config = base / "emulator.conf"
    config.write_text("SUSHY_EMULATOR_AUTH_FILE = %r\n" % str(auth) +
                      ("SUSHY_EMULATOR_ALLOWED_INSTANCES = %r\n" % allowed if allowed else ""))
    port = free_port()
    log = open(str(base / "emulator.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sushy_tools.emulator.main", "--config", str(config),
                             "-i", "127.0.0.1", "-p", str(port), "--libvirt-uri", URI] +
                            (["--ssl-certificate", tls[0], "--ssl-key", tls[1]] if tls else []),
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return "%s://127.0.0.1:%d" % ("https" if tls else "http", port), proc, log
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("sushy-emulator did not start: %s" % (base / "emulator.log").read_text())
            time.sleep(0.2)


def stop_emulator(proc, log):
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def emulator(domains, tmp_path_factory):
    """A service with several systems (every domain of the libvirtd, ours among them)."""
    address, proc, log = start_emulator(tmp_path_factory.mktemp("sushy"))
    yield address
    stop_emulator(proc, log)


@pytest.fixture(scope="module")
def single(domain, tmp_path_factory):
    """A service with one system: ``domain``."""
    address, proc, log = start_emulator(tmp_path_factory.mktemp("sushy1"), [domain.UUIDString()])
    yield address
    stop_emulator(proc, log)


def client(emulator, domain=None, user=USER, password=PASSWORD, pauses=None, system_id=None):
    return redfish.Bmc(emulator, user, password, system_id=system_id or (domain.UUIDString() if domain else None),
                       retries=3, sleep=(pauses if pauses is not None else []).append)


def first_boot(domain):
    """What libvirt boots the domain from first: the emulator sets a per-device boot order."""
    devices = ET.fromstring(domain.XMLDesc(2)).find("devices")  # 2: the inactive (next boot) XML
    order = [(int(el.find("boot").get("order")), el.tag) for el in devices if el.find("boot") is not None]
    return min(order)[1] if order else None


def test_power_on_and_off_drive_the_real_domain(emulator, domain):
    bmc = client(emulator, domain)
    assert bmc.power_state() == "off"
    bmc.set_power("on", wait=True, timeout=60)
    assert domain.isActive() and bmc.power_state() == "on"
    bmc.set_power("off", wait=True, timeout=60)  # ForceOff: the guest has no OS to shut down
    assert not domain.isActive() and bmc.power_state() == "off"


def test_the_only_system_is_found_without_an_id(single, domain):
    bmc = client(single)
    assert bmc.power_state() == "off"
    assert bmc.system_path() == "/redfish/v1/Systems/" + domain.UUIDString()


def test_several_systems_without_an_id_ask_for_one(emulator, domains):
    with pytest.raises(redfish.RedfishError) as info:
        client(emulator).power_state()
    message = info.value.message
    assert "systems; give the node's system id (one of: " in message, message
    assert all(d.UUIDString() in message for d in domains), message


def test_pxe_once_is_set_and_read_back(emulator, domain):
    bmc = client(emulator, domain, system_id="/redfish/v1/Systems/" + domain.UUIDString())
    bmc.set_boot_device("network", persistent=False)
    assert bmc.boot_device()["device"] == "network"
    assert first_boot(domain) == "interface", "libvirt boots the domain from its NIC first"
    bmc.set_boot_device("hd", persistent=True)
    assert bmc.boot_device() == dict(device="hd", persistent=True, mode=bmc.boot_device()["mode"])
    assert first_boot(domain) == "disk"


@pytest.mark.parametrize("user, password", [(USER, "wrong-" + PASSWORD), ("nobody", PASSWORD)])
def test_a_refused_user_fails_at_once_naming_user_and_bmc(emulator, domain, user, password):
    pauses = []
    started = time.monotonic()
    with pytest.raises(redfish.RedfishAuthError) as info:
        client(emulator, domain, user, password, pauses).power_state()
    message = info.value.message
    assert message.startswith("Redfish BMC %s refused user '%s' (read system" % (emulator, user)), message
    assert "HTTP 401" in message and info.value.code == 401, message
    assert password not in message and PASSWORD not in message
    assert pauses == [] and time.monotonic() - started < 5, "no retries"


def test_an_unknown_system_id_is_named_with_the_systems_there(emulator, domain):
    with pytest.raises(redfish.RedfishError) as info:
        client(emulator, system_id="no-such-node").power_state()
    message = info.value.message
    assert message.startswith("Redfish BMC %s has no system 'no-such-node'" % emulator), message
    assert domain.UUIDString() in message, "the systems that are there are listed"


def test_a_silent_service_is_retried_and_named():
    with socket.socket() as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        pauses = []
        bmc = redfish.Bmc("http://127.0.0.1:%d" % sock.getsockname()[1], USER, PASSWORD, retries=2, timeout=1,
                          sleep=pauses.append)
        with pytest.raises(redfish.RedfishError) as info:
            bmc.power_state()
    assert "failed after 3 attempt(s): no answer" in info.value.message, info.value.message
    assert pauses == [1.0, 2.0]


@pytest.mark.parametrize("address, words", [
    ("ftp://bmc.example.com", "scheme must be http or https"),
    ("https://root:pw@bmc.example.com", "not inside the URL"),
    ("https://bmc.example.com/redfish/v1/Systems/1", "the system goes in system_id"),
    ("https://bmc.example.com:99999", "port is not a number"),
])
def test_bad_addresses_are_refused(address, words):
    with pytest.raises(redfish.RedfishError) as info:
        redfish.Bmc(address, USER, PASSWORD)
    assert words in info.value.message and "pw" not in info.value.message.replace(words, "")


def test_verify_ca_takes_booleans_and_paths(tmp_path):
    assert redfish.verify_ca_value(None) is True and redfish.verify_ca_value("no") is False
    assert redfish.Bmc("https://bmc.example.com", USER, PASSWORD, verify_ca=False)._context.verify_mode == 0
    with pytest.raises(redfish.RedfishError) as info:
        redfish.Bmc("https://bmc.example.com", USER, PASSWORD, verify_ca=str(tmp_path / "missing.pem"))
    assert "neither true, false nor a CA bundle" in info.value.message


# --- a strict service: sessions, ETags, vendors' answers ------------------------------


def test_a_session_is_used_and_ended():
    with strict.running(USER, PASSWORD) as (service, address):
        with redfish.Bmc(address, USER, PASSWORD) as bmc:
            assert bmc.power_state() == "off" and service.tokens
        assert not service.tokens, "the session is deleted: a BMC has few session slots"


def test_the_boot_override_is_patched_with_the_etag_and_may_read_back_as_none():
    with strict.running(USER, PASSWORD) as (service, address):
        bmc = redfish.Bmc(address, USER, PASSWORD, sleep=[].append)
        bmc.set_boot_device("network", persistent=False)
        patches = [entry for entry in service.log if entry[0] == "PATCH"]
        assert patches == [("PATCH", strict.SYSTEM, 'W/"1"')], service.log
        # accepted, read back as no override: the modules warn on "default", never fail
        assert bmc.boot_device() == dict(device="default", persistent=False, mode=None)


def test_a_stale_etag_is_read_again_once():
    with strict.running(USER, PASSWORD) as (service, address):
        bmc = redfish.Bmc(address, USER, PASSWORD, sleep=[].append)
        real_system = bmc.system

        def stale():  # the system changes between the read and the PATCH
            resource, etag = real_system()
            service.etag += 1
            return resource, etag
        bmc.system = stale
        with pytest.raises(redfish.RedfishError) as info:
            bmc.set_boot_device("network", persistent=True)
        patches = [entry[2] for entry in service.log if entry[0] == "PATCH"]
        assert len(patches) == 2, service.log
        assert info.value.code == 412
        assert "HTTP 412: The ETag supplied did not match" in info.value.message, info.value.message


def test_a_reset_type_the_system_does_not_allow_is_named():
    with strict.running(USER, PASSWORD) as (service, address):
        bmc = redfish.Bmc(address, USER, PASSWORD, sleep=[].append)
        with pytest.raises(redfish.RedfishError) as info:
            bmc.set_power("shutdown")
        assert info.value.message == ("Redfish BMC %s: the system allows no reset type for power shutdown (it wants "
                                      "GracefulShutdown; it allows On, ForceOff, PowerCycle)" % address)
        bmc.set_power("reset")  # ForceRestart and GracefulRestart are not offered: PowerCycle is
        assert ("POST", strict.SYSTEM + "/Actions/ComputerSystem.Reset", None) in service.log
        assert bmc.power_state() == "on"


def test_a_refused_session_says_what_the_bmc_answered():
    with strict.running(USER, PASSWORD) as (service, address):
        with pytest.raises(redfish.RedfishAuthError) as info:
            redfish.Bmc(address, "operator", PASSWORD, sleep=[].append).power_state()
    assert info.value.message == (
        "Redfish BMC %s refused user 'operator' (log in: HTTP 401: The authentication credentials included with "
        "this request are missing or invalid.): check the user name and password, and that the user may control "
        "the system" % address)


# --- the modules, run as Ansible runs them, against the same service ---------------

standin = _load("openstack_standin", "tests/unit/plugins/module_utils/openstack_standin.py")
MODULES = os.path.join(ROOT, "plugins", "modules")


def run(module, emulator, domain, **args):
    args = dict(dict(bmc_address=emulator, bmc_system_id=domain.UUIDString(), bmc_username=USER,
                     bmc_password=PASSWORD), **args)
    return standin.run_module(os.path.join(MODULES, module + ".py"), args)


@pytest.mark.usefixtures("node_state_dir")
def test_the_modules_drive_a_redfish_bmc(emulator, domain):
    on = run("ipmi_power", emulator, domain, state="on", timeout=60)
    assert (on.get("failed"), on["changed"], on["previous_power_state"], on["power_state"]) == \
        (None, True, "off", "on"), on
    assert domain.isActive()
    again = run("ipmi_power", emulator, domain, state="on", bmc_driver="redfish")
    assert not again["changed"], again
    boot = run("ipmi_boot", emulator, domain, device="pxe")
    assert (boot.get("failed"), boot["changed"], boot["boot"]["device"]) == (None, True, "pxe"), boot
    assert first_boot(domain) == "interface"
    off = run("ipmi_power", emulator, domain, state="off", timeout=60)
    assert (off["changed"], off["power_state"]) == (True, "off"), off
    assert not domain.isActive()


@pytest.mark.usefixtures("node_state_dir")
def test_the_modules_fail_at_once_on_a_refused_user(emulator, domain):
    started = time.monotonic()
    result = run("ipmi_power", emulator, domain, bmc_password="wrong-" + PASSWORD, retries=5)
    assert result.get("failed") and time.monotonic() - started < 10, result
    assert result["msg"].startswith("Redfish BMC %s refused user '%s'" % (emulator, USER)), result
    assert PASSWORD not in json.dumps(result)


@pytest.mark.usefixtures("node_state_dir")
@pytest.mark.parametrize("args, words", [
    (dict(bmc_address="192.0.2.1", bmc_driver="ipmi"), "bmc_system_id is for Redfish BMCs"),
    (dict(bmc_driver="ipmi", bmc_system_id=None), "is a URL, which an IPMI BMC has not"),
    (dict(bmc_address="ftp://192.0.2.1"), "the scheme must be http or https"),
])
def test_the_modules_refuse_mixed_up_options(emulator, domain, args, words):
    result = run("ipmi_power", emulator, domain, **args)
    assert result.get("failed") and words in result["msg"], result


def test_a_redirect_is_not_followed_with_the_credentials():
    import http.server
    import threading

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(301)
            self.send_header("Location", "http://192.0.2.99/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(redfish.RedfishError) as info:
            redfish.Bmc("http://127.0.0.1:%d" % server.server_address[1], USER, PASSWORD, system_id="1",
                        sleep=[].append, timeout=5).power_state()
    finally:
        server.shutdown()
        server.server_close()
    assert "HTTP 301" in info.value.message, info.value.message


@pytest.fixture(scope="module")
def tls_emulator(domain, tmp_path_factory):
    """The emulator over https, with a certificate for 127.0.0.1 signed by a CA of the
    test's own: (address, CA bundle path)."""
    base = tmp_path_factory.mktemp("sushy-tls")
    ca, ca_key, cert, key, csr = (str(base / n) for n in ("ca.pem", "ca.key", "bmc.pem", "bmc.key", "bmc.csr"))

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
            "-subj", "/CN=test BMC CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = base / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
            "-extfile", str(ext))
    address, proc, log = start_emulator(base, [domain.UUIDString()], tls=(cert, key))
    yield address, ca
    stop_emulator(proc, log)


def test_tls_is_verified_by_default_and_a_ca_bundle_is_taken(tls_emulator, domain):
    address, ca = tls_emulator
    started = time.monotonic()
    with pytest.raises(redfish.RedfishError) as info:
        redfish.Bmc(address, USER, PASSWORD, sleep=[].append).power_state()
    assert info.value.message.startswith("Redfish BMC %s: its TLS certificate is not trusted" % address), \
        info.value.message
    assert "give verify_ca the path of the CA bundle" in info.value.message
    assert time.monotonic() - started < 5, "not retried"
    assert redfish.Bmc(address, USER, PASSWORD, verify_ca=ca).power_state() == "off"
    assert redfish.Bmc(address, USER, PASSWORD, verify_ca="false").power_state() == "off"
