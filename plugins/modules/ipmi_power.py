#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ipmi_power
short_description: Read or set a server's power state over IPMI or Redfish
version_added: 0.1.0
description:
  - Powers a server on or off through its BMC, asks its OS to shut down (soft), resets it, or only reads the
    power state.
  - Idempotent - a server already in the wanted state is left alone and the result says unchanged.
  - A Redfish BMC (O(bmc_driver=redfish)) is asked through C(ComputerSystem.Reset) with a reset type the system
    allows - V(On) or V(ForceOn); V(ForceOff); V(GracefulShutdown) for V(soft); V(ForceRestart),
    V(GracefulRestart) or V(PowerCycle) for V(reset). A system that allows none of them fails the task naming
    what it allows.
options:
  state:
    description:
      - V(on) and V(off) set the power (hard); V(soft) asks the OS to shut down (ACPI) and waits for off;
        V(reset) resets a running server; V(status) only reads.
    type: str
    choices: ["on", "off", soft, reset, status]
    default: status
  wait:
    description: Wait until the server reports the wanted state.
    type: bool
    default: true
  timeout:
    description: Seconds to wait with O(wait). A server that is not there by then fails the task, naming the state it is in.
    type: int
    default: 300
extends_documentation_fragment:
  - stackwright.cloud.bmc
attributes:
  check_mode:
    support: full
    description: Reads the power state and reports whether it would change.
  diff_mode:
    support: full
    description: Power state before and after.
  platform:
    platforms: posix
    support: full
    description: Any host that reaches the BMC network.
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Power the server off and wait until it is off
  stackwright.cloud.ipmi_power:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ bmc_password }}"
    state: "off"

- name: Read the power state
  stackwright.cloud.ipmi_power:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ bmc_password }}"
  register: power

- name: Power a server on through its Redfish BMC
  stackwright.cloud.ipmi_power:
    bmc_driver: redfish
    bmc_address: https://192.168.30.12:8443
    bmc_system_id: "1"
    bmc_username: admin
    bmc_password: "{{ bmc_password }}"
    state: "on"
"""

RETURN = r"""
power_state:
  description: The power state after the run (in check mode, as it would be).
  returned: always
  type: str
  sample: "on"
previous_power_state:
  description: The power state before the run.
  returned: always
  type: str
  sample: "off"
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.bmc import (
    BMC_ARGUMENT_SPEC,
    BmcError,
    bmc_from_params,
    close,
)
from ansible_collections.stackwright.cloud.plugins.module_utils.ipmi import IpmiError

# What each request leaves the server in.
TARGET = {"on": "on", "off": "off", "soft": "off", "reset": "on"}
# pyghmi's verbs
VERB = {"on": "on", "off": "off", "soft": "shutdown", "reset": "reset"}


def main():
    argument_spec = dict(
        BMC_ARGUMENT_SPEC,
        state=dict(type="str", default="status", choices=["on", "off", "soft", "reset", "status"]),
        timeout=dict(type="int", default=300),
        wait=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    state = p["state"]
    bmc = None
    try:
        bmc = bmc_from_params(p)
        before = bmc.power_state()
        if state == "status":
            module.exit_json(changed=False, power_state=before, previous_power_state=before)
        if state == "reset" and before != "on":
            module.fail_json(msg="%s: cannot reset a server that is %s; use state=on" % (bmc.describe(), before),
                             power_state=before)
        changed = state == "reset" or before != TARGET[state]
        after = TARGET[state] if changed else before
        if changed and not module.check_mode:
            bmc.set_power(VERB[state], wait=False)
            if p["wait"]:
                after = wait_for(bmc, TARGET[state], p["timeout"], state)
            else:
                after = bmc.power_state()
    except BmcError as exc:
        module.fail_json(msg=exc.message, code=exc.code)
    finally:
        if bmc is not None:
            close(bmc)
    result = dict(changed=changed, power_state=after, previous_power_state=before)
    if module._diff:
        result["diff"] = dict(before="power: %s\n" % before, after="power: %s\n" % after)
    module.exit_json(**result)


def wait_for(bmc, target, timeout, state):
    deadline = time.time() + timeout
    current = bmc.power_state()
    while current != target:
        if time.time() > deadline:
            raise IpmiError("%s: still %s %ds after power %s" % (bmc.describe(), current, timeout, state))
        time.sleep(2)
        current = bmc.power_state()
    return current


if __name__ == "__main__":
    main()
