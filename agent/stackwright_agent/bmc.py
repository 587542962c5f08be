# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A node's BMC, IPMI or Redfish: one argument spec for the modules and the client
the ``driver`` chooses. Both clients answer power_state, set_power, boot_device and
set_boot_device alike (pyghmi's words: on/off, network/hd)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import ipmi, redfish

DRIVERS = ("ipmi", "redfish")
IPMI_PORT = 623

BMC_ARGUMENT_SPEC = dict(
    ipmi.BMC_ARGUMENT_SPEC,
    bmc_driver=dict(type="str", choices=list(DRIVERS)),
    # IPMI's 623 unless given; a Redfish address carries its port (443 for https)
    bmc_port=dict(type="int"),
    bmc_system_id=dict(type="str"),
    bmc_verify_ca=dict(type="raw", default=True),
)

# what either client raises
BmcError = (ipmi.IpmiError, redfish.RedfishError)
BmcAuthError = (ipmi.IpmiAuthError, redfish.RedfishAuthError)


def driver_of(driver, address):
    """The driver given, else Redfish for an http(s):// address and IPMI for any other."""
    if driver:
        return driver
    return "redfish" if "://" in (address or "") else "ipmi"


def make(driver, address, port, username, password, system_id=None, verify_ca=True, retries=5, min_interval=1.0,
         boot_mode=None):
    driver = driver_of(driver, address)
    if driver == "redfish":
        return redfish.Bmc(address, username, password, system_id=system_id, verify_ca=verify_ca, port=port,
                           retries=retries, boot_mode=boot_mode)
    if system_id:
        raise ipmi.IpmiError("bmc_system_id is for Redfish BMCs; an IPMI BMC is one system (set bmc_driver: "
                             "redfish, or leave the system id out)")
    if "://" in address:
        raise ipmi.IpmiError("%s is a URL, which an IPMI BMC has not; give its IP address or host name, or set "
                             "bmc_driver: redfish" % address)
    # IPMI's boot flags carry the mode as one bit (EFI or PC-compatible): UEFI or Legacy
    return ipmi.Bmc(address, port or IPMI_PORT, username, password, retries=retries,
                    min_interval=min_interval, uefi=None if not boot_mode else boot_mode == "UEFI")


def bmc_from_params(params, boot_mode=None):
    """The BMC of the modules' options (bmc_driver, bmc_address, bmc_port...)."""
    return make(params.get("bmc_driver"), params["bmc_address"], params.get("bmc_port"), params["bmc_username"],
                params["bmc_password"], system_id=params.get("bmc_system_id"),
                verify_ca=params.get("bmc_verify_ca", True), retries=params["retries"],
                min_interval=params["min_interval"], boot_mode=boot_mode)


def bmc_from_node(bmc, retries=1):
    """The BMC of a node's ``bmc`` mapping (the nodes file's and the agent's shape)."""
    return make(bmc.get("driver"), bmc["address"], bmc.get("port"), bmc["username"], bmc["password"],
                system_id=bmc.get("system_id"), verify_ca=bmc.get("verify_ca", True), retries=retries)


def close(bmc):
    """End the BMC's session, if its protocol has one (a BMC has few session slots)."""
    if hasattr(bmc, "close"):
        bmc.close()
