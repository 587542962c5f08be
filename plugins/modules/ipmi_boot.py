#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipmi_boot
short_description: Set the device a server boots from over IPMI or Redfish
version_added: 0.1.0
description:
  - Sets the boot device (network/PXE or local disk) through the server's BMC, for the next boot only or for
    every boot.
  - Idempotent - when the BMC already reports the wanted device and persistence, nothing is sent.
  - Several vendors' BMCs accept a boot device and then read back no override (V(default)); that is a warning,
    not a failure. Any other device read back after the change fails the task.
  - A BMC that refuses the user name or password fails the task at once, without retries.
  - A Redfish BMC (O(bmc_driver=redfish)) gets a boot override (C(BootSourceOverrideTarget) V(Pxe) or V(Hdd),
    C(BootSourceOverrideEnabled) V(Once) or V(Continuous)); a target the system does not offer fails the task
    naming the ones it offers.
options:
  device:
    description: V(pxe) boots from the network, V(disk) from the first local disk.
    type: str
    choices: [disk, pxe]
    required: true
  persistent:
    description: Keep the setting for every boot; otherwise it applies to the next boot only.
    type: bool
    default: false
  boot_mode:
    description:
      - Also set the firmware's boot mode for this boot - Redfish's C(BootSourceOverrideMode), IPMI's boot type
        bit (EFI or PC-compatible), which several vendors' BMCs honour; there a UEFI-only server told nothing boots
        the device in legacy mode. Left out, Redfish leaves the mode alone and IPMI sends the bit clear
        (PC-compatible), as IPMI clients do by default.
    type: str
    choices: [uefi, legacy]
extends_documentation_fragment:
  - stackwright.cloud.bmc
attributes:
  check_mode:
    support: full
    description: Reads the boot device and reports whether it would change.
  diff_mode:
    support: full
    description: Boot device before and after.
  platform:
    platforms: posix
    support: full
    description: Any host that reaches the BMC network.
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Boot from the network next time
  stackwright.cloud.ipmi_boot:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ bmc_password }}"
    device: pxe

- name: Always boot from disk
  stackwright.cloud.ipmi_boot:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ bmc_password }}"
    device: disk
    persistent: true

- name: Boot from the network next time, through a Redfish BMC
  stackwright.cloud.ipmi_boot:
    bmc_driver: redfish
    bmc_address: https://192.168.30.12
    bmc_system_id: System.Embedded.1
    bmc_verify_ca: /etc/ssl/certs/bmc-ca.pem
    bmc_username: admin
    bmc_password: "{{ bmc_password }}"
    device: pxe
    boot_mode: uefi
"""

RETURN = r"""
boot:
  description: The boot setting after the run (in check mode, as it would be).
  returned: always
  type: dict
  sample: {device: pxe, persistent: false}
previous_boot:
  description: The boot setting before the run.
  returned: always
  type: dict
  sample: {device: disk, persistent: true}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.bmc import (
    BMC_ARGUMENT_SPEC,
    BmcError,
    bmc_from_params,
    close,
)
from ansible_collections.stackwright.cloud.plugins.module_utils.ipmi import IpmiError

# IPMI's names (pyghmi's) for the devices the module offers
IPMI_DEVICE = {"pxe": "network", "disk": "hd"}
MODULE_DEVICE = dict((v, k) for k, v in IPMI_DEVICE.items())
# What BMCs that keep a boot override without reporting it read back: not a mismatch.
NO_OVERRIDE = ("default", "unknown", "none", "", None)
# Redfish's BootSourceOverrideMode
BOOT_MODE = {"uefi": "UEFI", "legacy": "Legacy"}


def main():
    argument_spec = dict(
        BMC_ARGUMENT_SPEC,
        device=dict(type="str", required=True, choices=["disk", "pxe"]),
        persistent=dict(type="bool", default=False),
        boot_mode=dict(type="str", choices=["uefi", "legacy"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    wanted = dict(device=p["device"], persistent=p["persistent"])
    bmc = None
    try:
        bmc = bmc_from_params(p, boot_mode=BOOT_MODE.get(p["boot_mode"]))
        raw = bmc.boot_device()
        before = dict(device=MODULE_DEVICE.get(raw["device"], raw["device"]), persistent=raw["persistent"])
        changed = before != wanted
        after = wanted if changed else before
        if changed and not module.check_mode:
            bmc.set_boot_device(IPMI_DEVICE[p["device"]], p["persistent"])
            raw = bmc.boot_device()
            after = dict(device=MODULE_DEVICE.get(raw["device"], raw["device"]), persistent=raw["persistent"])
            if after["device"] in NO_OVERRIDE:
                module.warn("%s accepted boot device %s but reads back no override (%r), as several vendors' "
                            "BMCs do; going on: the node's boot (its PXE request in the provisioning listener's "
                            "log) shows whether it took effect" % (bmc.describe(), wanted["device"], raw["device"]))
            elif after["device"] != wanted["device"]:
                raise IpmiError("%s accepted boot device %s but reports %s" % (bmc.describe(), wanted["device"],
                                                                               after["device"]))
    except BmcError as exc:
        module.fail_json(msg=exc.message, code=exc.code)
    finally:
        if bmc is not None:
            close(bmc)
    result = dict(changed=changed, boot=after, previous_boot=before)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
