#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_node_info
short_description: Read bare-metal nodes from the undercloud's registry
version_added: 0.1.0
description:
  - Returns one node of the node registry of the undercloud's Stackwright agent, with its inspection data and
    history, or every node.
  - Never fails because a node is missing; a node that is not enrolled gives an empty list.
  - Never changes anything. The BMC password is never returned.
options:
  name:
    description: The node to read. Unset means every node (without inspection data and history).
    type: str
extends_documentation_fragment:
  - stackwright.cloud.agent
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Reads only.
  platform:
    platforms: posix
    support: full
    description: The undercloud, running the Stackwright agent with the node registry.
seealso:
  - module: stackwright.cloud.baremetal_node
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Read one node
  stackwright.cloud.baremetal_node_info:
    agent_socket: /run/stackwright/undercloud.sock
    name: compute-0
  register: info

- name: Show why it failed
  ansible.builtin.debug:
    msg: "{{ info.nodes[0].last_error }}"
  when: info.nodes and info.nodes[0].provision_state == 'failed'

- name: Read every node
  stackwright.cloud.baremetal_node_info:
  register: all_nodes

- name: List the active nodes' addresses
  ansible.builtin.debug:
    msg: "{{ all_nodes.nodes | selectattr('provision_state', 'eq', 'active') | map(attribute='address') | list }}"
"""

RETURN = r"""
nodes:
  description:
    - The nodes, by name, as M(stackwright.cloud.baremetal_node) returns one. Empty when O(name) is not enrolled.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
      sample: compute-0
    role:
      description: Role.
      type: str
      sample: Compute
    kind:
      description: Kind.
      type: str
      sample: baremetal
    bmc:
      description: BMC driver, address, port, username and a digest of the credentials; null when pre-provisioned.
      type: dict
    macs:
      description: PXE MACs.
      type: list
      elements: str
    root_device:
      description: Root-device hints.
      type: dict
    network:
      description: Static provisioning network settings; null for DHCP.
      type: dict
    address:
      description: Provisioning address, or null.
      type: str
      sample: 192.168.24.100
    properties:
      description: Properties.
      type: dict
    provision_state:
      description: Provision state.
      type: str
      sample: active
    power_state:
      description: Power state as last recorded.
      type: str
      sample: "on"
    last_error:
      description: Why the node failed, or null.
      type: str
    target_disk:
      description: The disk chosen for the image, or null.
      type: str
      sample: /dev/sda
    action:
      description: The ramdisk action armed, or null.
      type: dict
    deploy_done:
      description: Whether the image of the current deploy is written.
      type: bool
    booted:
      description: Whether the node has network-booted the ramdisk for the action armed.
      type: bool
    inspection:
      description: The ramdisk's inventory - C(cpus), C(memory_mib), C(disks), C(nics) - or null.
      type: dict
      returned: with O(name)
    history:
      description: The last 20 state changes and events (C(ts), C(from_state), C(to_state), C(event), C(detail)).
      type: list
      elements: dict
      returned: with O(name)
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    AgentClientError,
)
from ansible_collections.stackwright.cloud.plugins.module_utils.baremetal import client_for, node_path


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        name=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = client_for(module)
    nodes = []
    try:
        if module.params["name"]:
            node = client.find(node_path(module.params["name"]))
            if node is not None:
                nodes.append(node)
        else:
            for entry in client.get("/v1/nodes")["nodes"]:
                node = client.find(node_path(entry["name"]))
                if node is None:  # removed since the listing
                    continue
                node.pop("inspection", None)
                node.pop("history", None)
                nodes.append(node)
    except AgentClientError as exc:
        module.fail_json(**exc.to_dict())
    module.exit_json(changed=False, nodes=nodes)


if __name__ == "__main__":
    main()
