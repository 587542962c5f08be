"""A node's firmware boot mode (bios or uefi), in the three formats: native
``properties.boot_mode``, Ironic's ``boot_mode`` capability in instackenv
``capabilities`` and in a bifrost node's ``properties.capabilities``. Unset, a node
has none (its BMC requests leave the firmware's mode alone); a wrong value names the
field and the choices."""

import pytest

from fixtures import _load

nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")
load_nodes = nodes_file.load_nodes
NodesFileError = nodes_file.NodesFileError

BMC = dict(address="192.0.2.20", username="admin", password="secret")


def native(**properties):
    return [dict(name="n0", bmc=BMC, macs=["52:54:00:aa:00:01"], properties=properties)]


def instackenv(capabilities):
    return {"nodes": [{"name": "n0", "pm_type": "ipmi", "pm_addr": "192.0.2.20", "pm_user": "admin",
                       "pm_password": "secret", "mac": ["52:54:00:aa:00:01"], "capabilities": capabilities}]}


def bifrost(capabilities):
    return {"n0": {"driver": "ipmi", "driver_info": {"ipmi_address": "192.0.2.20", "ipmi_username": "admin",
                                                     "ipmi_password": "secret"},
                   "nics": [{"mac": "52:54:00:aa:00:01"}], "properties": {"capabilities": capabilities}}}


@pytest.mark.parametrize("data", [native(boot_mode="uefi"), instackenv("profile:compute,boot_mode:uefi"),
                                  bifrost("boot_mode:uefi")])
def test_each_format_carries_the_boot_mode(data):
    assert load_nodes(data)[0]["properties"]["boot_mode"] == "uefi"


@pytest.mark.parametrize("data", [native(), instackenv("profile:compute"), bifrost("boot_option:local")])
def test_unset_is_no_boot_mode(data):
    assert "boot_mode" not in load_nodes(data)[0]["properties"]


@pytest.mark.parametrize("data, field", [
    (native(boot_mode="efi"), "properties.boot_mode"),
    (native(boot_mode=1), "properties.boot_mode"),
    (instackenv("boot_mode:legacy"), "capabilities"),
    (bifrost("boot_mode:UEFI"), "properties.capabilities"),
    (bifrost("boot_mode"), "properties.capabilities"),
])
def test_a_wrong_boot_mode_names_the_field_and_the_choices(data, field):
    with pytest.raises(NodesFileError) as info:
        load_nodes(data)
    assert info.value.field == field, str(info.value)
    if "boot_mode:" in str(data) or "boot_mode'" in str(data):
        assert "bios, uefi" in str(info.value) or "key:value" in str(info.value)


def test_a_nodes_clean_mode_is_kept_and_a_wrong_one_named():
    """properties.clean_mode (metadata or full): how the ramdisk cleans this node."""
    assert load_nodes(native(clean_mode="full"))[0]["properties"]["clean_mode"] == "full"
    assert "clean_mode" not in load_nodes(native())[0]["properties"]
    for bad in ("secure", "Full", 1):
        with pytest.raises(NodesFileError) as info:
            load_nodes(native(clean_mode=bad))
        assert info.value.field == "properties.clean_mode" and "not a clean mode" in str(info.value), str(info.value)
