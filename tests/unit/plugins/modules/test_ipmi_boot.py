"""ipmi_boot and ipmi_power run as Ansible runs them against a real IPMI server on
127.0.0.1 (tests/unit/plugins/module_utils/ipmi_test_bmc.py). Reading back "default"
after a boot device was set stands in for the vendors' BMCs that keep the override
without reporting it: no BMC on this machine does that otherwise."""

import json
import os
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
