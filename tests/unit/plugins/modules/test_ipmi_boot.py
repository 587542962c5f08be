"""ipmi_boot and ipmi_power run as Ansible runs them against a real IPMI server on
127.0.0.1 (tests/unit/plugins/module_utils/ipmi_test_bmc.py). Reading back "default"
after a boot device was set stands in for the vendors' BMCs that keep the override
without reporting it: no BMC on this machine does that otherwise."""

import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from fixtures import ROOT, _load

test_bmc = _load("ipmi_test_bmc", "tests/unit/plugins/module_utils/ipmi_test_bmc.py")
standin = _load("openstack_standin", "tests/unit/plugins/module_utils/openstack_standin.py")
MODULES = os.path.join(ROOT, "plugins", "modules")
PASSWORD = "pw-" + uuid.uuid4().hex[:8]
pytestmark = pytest.mark.usefixtures("node_state_dir")  # module runs find the collection


def run(module, port, **args):
    args = dict(dict(bmc_address="127.0.0.1", bmc_port=port, bmc_username="admin", bmc_password=PASSWORD,
                     min_interval=0), **args)
    return standin.run_module(os.path.join(MODULES, module + ".py"), args)


@pytest.mark.parametrize("readback", ["default", "unset"])
def test_a_boot_device_read_back_as_no_override_is_a_warning(readback):
    with test_bmc.running("admin", PASSWORD, readback) as port:
        result = run("ipmi_boot", port, device="pxe")
    assert not result.get("failed"), result
    assert result["changed"]
    warning = json.dumps(result["warnings"])  # plain strings or (ansible-core 2.19) event records
    assert "BMC 127.0.0.1:%d accepted boot device pxe but reads back no override ('default')" % port \
        in warning, warning


def test_a_boot_device_that_reads_back_as_set_gives_no_warning():
    with test_bmc.running("admin", PASSWORD) as port:
        first = run("ipmi_boot", port, device="pxe")
        again = run("ipmi_boot", port, device="pxe")
    wanted = (True, dict(device="pxe", persistent=False), None)
    assert (first["changed"], first["boot"], first.get("warnings")) == wanted, first
    assert not again["changed"], again


def test_another_device_read_back_is_still_an_error():
    with test_bmc.running("admin", PASSWORD, "floppy") as port:
        result = run("ipmi_boot", port, device="pxe")
    assert result.get("failed"), result
    assert result["msg"] == "BMC 127.0.0.1:%d accepted boot device pxe but reports floppy" % port


@pytest.mark.parametrize("module, args", [("ipmi_boot", dict(device="pxe")), ("ipmi_power", dict(state="on"))])
def test_a_wrong_password_fails_the_module_at_once(module, args):
    with test_bmc.running("admin", PASSWORD) as port:
        started = time.monotonic()
        result = run(module, port, bmc_password="wrong-" + PASSWORD, **args)
        elapsed = time.monotonic() - started
    assert result.get("failed"), result
    assert result["msg"].startswith("BMC 127.0.0.1:%d refused user 'admin': wrong user name or password" % port), \
        result["msg"]
    assert PASSWORD not in result["msg"]
    assert elapsed < 5, "took %.1f s" % elapsed


SIM_LAN_CONF = """name "swsim"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %(port)d
    priv_limit admin
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%(chassis)s 0x20"
user 2 true "admin" "%(password)s" admin 10 none md2 md5 straight
"""
# ipmi_sim's chassis_control program: "MC get PARAM..." prints PARAM:VALUE lines,
# "MC set PARAM VALUE..." applies them; the power is off, the boot device kept
SIM_CHASSIS = """#!/bin/sh
op=$2; shift 2
boot=$(dirname "$0")/boot
if [ "$op" = set ]; then
  while [ $# -gt 1 ]; do [ "$1" = boot ] && echo "$2" > "$boot"; shift 2; done
  exit 0
fi
for p; do case $p in power) echo power:0 ;; boot) echo "boot:$(cat "$boot" 2>/dev/null || echo default)" ;; esac; done
"""
SIM_EMU = "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"


@pytest.mark.skipif(not shutil.which("ipmi_sim"), reason="OpenIPMI's ipmi_sim is not installed (Debian: openipmi)")
def test_openipmi_reads_back_a_boot_device_as_no_override(tmp_path):
    """OpenIPMI's simulator, an independent BMC implementation, answers Get System
    Boot Options with the boot flags' "valid" bit cleared after a boot device was set."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    chassis = tmp_path / "chassis.sh"
    chassis.write_text(SIM_CHASSIS)
    chassis.chmod(0o755)
    (tmp_path / "lan.conf").write_text(SIM_LAN_CONF % dict(port=port, chassis=chassis, password=PASSWORD))
    (tmp_path / "sim.emu").write_text(SIM_EMU)
    (tmp_path / "state").mkdir()
    sim = subprocess.Popen(["ipmi_sim", "-n", "-c", str(tmp_path / "lan.conf"), "-f", str(tmp_path / "sim.emu"),
                            "-s", str(tmp_path / "state")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)  # it binds its port at start
        result = run("ipmi_boot", port, device="pxe")
        refused = run("ipmi_power", port, state="status", bmc_password="wrong-" + PASSWORD)
    finally:
        sim.kill()
        sim.wait()
    assert (tmp_path / "boot").read_text().strip() == "pxe", "the simulator was told"
    assert not result.get("failed") and "reads back no override ('default')" in json.dumps(result["warnings"]), result
    assert refused["msg"].startswith("BMC 127.0.0.1:%d refused user 'admin': wrong user name or password" % port), \
        refused
