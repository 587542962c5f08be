#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_undeploy
short_description: Return a bare-metal node to available by cleaning its disks
version_added: 0.1.0
description:
  - Moves a node of the undercloud's registry to C(cleaning) and arms the cleaning ramdisk. At the node's next
    network boot the ramdisk wipes the partition tables and file system, RAID and LVM signatures of every disk
    and reports back; the node then becomes C(available), ready for another deploy.
  - Cleans nodes that are C(active) (undeploy), C(inspected) (first cleaning after inspection) or C(failed).
    A node C(available) already is left alone; a node C(cleaning) keeps its armed cleaning until the node has
    booted the ramdisk for it (after that, with no report, a run was cut short - it is armed again).
  - The agent does not let a node go to C(cleaning) from C(enrolled), C(verified) or C(deploying); the task then
    fails and says what to do - for C(deploying), mark the node C(failed) first
    (M(stackwright.cloud.baremetal_node) with O(stackwright.cloud.baremetal_node#module:provision_state=failed)
    and a O(stackwright.cloud.baremetal_node#module:last_error)), then clean it.
options:
  name:
    description: Node name.
    type: str
    required: true
  wait:
    description:
      - Wait until the node is C(available). A node that goes C(failed) fails the task with its C(last_error); a
        node not available within O(wait_timeout) is marked C(failed) with the reason.
      - The module does not power the node - boot it from the network between arming and waiting, with
        M(stackwright.cloud.ipmi_boot) and M(stackwright.cloud.ipmi_power) - so O(wait=true) suits a node
        something else boots.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait).
    type: int
    default: 900
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
  - stackwright.cloud.baremetal
notes:
  - The module never drives the BMC. A playbook arms the cleaning, boots the node from the network with
    M(stackwright.cloud.ipmi_boot) and M(stackwright.cloud.ipmi_power), then waits with
    M(stackwright.cloud.baremetal_node) and O(stackwright.cloud.baremetal_node#module:wait_for=[available]).
seealso:
  - module: stackwright.cloud.baremetal_node
  - module: stackwright.cloud.baremetal_deploy
  - module: stackwright.cloud.ipmi_power
  - module: stackwright.cloud.ipmi_boot
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Arm cleaning
  stackwright.cloud.baremetal_undeploy:
    agent_socket: /run/stackwright/undercloud.sock
    name: compute-0

- name: Boot the ramdisk
  stackwright.cloud.ipmi_boot:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ vault_bmc_password }}"
    device: pxe

- name: Power it on
  stackwright.cloud.ipmi_power:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ vault_bmc_password }}"
    state: "on"

- name: Wait until the disks are clean
  stackwright.cloud.baremetal_node:
    name: compute-0
    wait_for: [available]
    wait_timeout: 600
"""

RETURN = r"""
node:
  description:
    - The node after the run (in check mode, as it would be; with O(wait), as the wait left it), as
      M(stackwright.cloud.baremetal_node) returns it.
  returned: always
  type: dict
  sample:
    name: compute-0
    provision_state: cleaning
    action: {action: clean, image_url: null, image_sha256: null, config_url: null}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import AGENT_ARGUMENT_SPEC
from ansible_collections.stackwright.cloud.plugins.module_utils.baremetal import (
    CLEANABLE,
    answer_result,
    client_for,
    get_node,
    put_node,
    wait_or_fail,
)

REFUSED = {
    "enrolled": "it was never inspected: verify and inspect it first (stackwright.cloud.baremetal_node "
                "provision_state=verified, then action inspect and wait_for [inspected]); cleaning starts from %s",
    "verified": "it was never inspected: inspect it first (stackwright.cloud.baremetal_node action inspect, then "
                "wait_for [inspected]); cleaning starts from %s",
    "deploying": "a deploying node cannot go to cleaning directly (cleaning starts from %s): mark it failed "
                 "first (stackwright.cloud.baremetal_node provision_state=failed with a last_error saying why), "
                 "then run this module again",
}


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        name=dict(type="str", required=True),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=900),
        pxe_timeout=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    name = p["name"]
    client = client_for(module)
    node = get_node(module, client, name)
    if node is None:
        module.fail_json(msg="name: node %r is not enrolled" % name, field="name", node=None)
    state = node["provision_state"]
    if state == "available":
        module.exit_json(changed=False, node=node, msg="node %r is available: clean already" % name)
    if state not in CLEANABLE + ("cleaning",):
        starts = ", ".join(s for s in CLEANABLE)
        module.fail_json(msg="provision_state: node %r is %s and cannot be cleaned: %s"
                             % (name, state, REFUSED.get(state, "cleaning starts from %s") % starts),
                         field="provision_state", node=node)
    answer = put_node(module, client, name, dict(provision_state="cleaning", action=dict(action="clean")))
    result = answer_result(module, answer)
    if p["wait"] and not module.check_mode:
        result["node"] = wait_or_fail(module, client, name, ["available"], p["wait_timeout"], result, field="wait",
                                      pxe_timeout=p["pxe_timeout"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
