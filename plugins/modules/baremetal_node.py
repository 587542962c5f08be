#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_node
short_description: Enroll or update a bare-metal node in the undercloud's registry
version_added: 0.1.0
description:
  - Enrolls a server in the node registry of the undercloud's Stackwright agent, or brings its record in line -
    role, kind, BMC, PXE MACs, root-device hints, provisioning network, properties - and removes it with
    O(state=absent).
  - Options left unset keep the node's value. The node's states are the conductor's to change - deploy,
    inspect, clean, undeploy and power with M(stackwright.cloud.baremetal_node_action).
  - The BMC password is stored by the agent but never returned; a change of it is detected through a salted
    digest (C(bmc.credentials)).
  - A node without O(bmc) is pre-provisioned (a deployed server, for example a container); it needs
    O(network.address) and is adopted by M(stackwright.cloud.baremetal_node_action) with C(action=deploy).
  - The agent checks the node's fields as the nodes file's are checked (M(stackwright.cloud.baremetal_nodes_file),
    one node schema) and names the field at fault.
  - This module never drives the BMC.
options:
  name:
    description:
      - Node name, unique in the registry. It becomes the node's host name - 1 to 63 lowercase letters, digits and
        hyphens, starting and ending with a letter or digit.
    type: str
    required: true
  state:
    description: V(present) enrolls or updates the node; V(absent) removes it (its history stays).
    type: str
    choices: [absent, present]
    default: present
  role:
    description: The node's role, for example V(Controller), V(Compute) or V(BlockStorage).
    type: str
  kind:
    description: What the node is. A V(container) node is always pre-provisioned (no O(bmc)).
    type: str
    choices: [baremetal, container, vm]
  bmc:
    description:
      - The node's BMC. Required to enroll a node unless it is pre-provisioned (then give O(network.address)).
    type: dict
    suboptions: &bmc_suboptions
      driver:
        description: BMC protocol - IPMI over LAN or Redfish.
        type: str
        choices: [ipmi, redfish]
        default: ipmi
      address:
        description:
          - IPMI - the BMC's IP address or host name.
          - Redfish - its URL, V(https://host[:port]) (a bare host means https; V(http://) for an emulator).
        type: str
        required: true
      port:
        description:
          - IPMI - the BMC's UDP port (623 when left out).
          - Redfish - the port when O(bmc.address) gives none (443 for https, 80 for http).
        type: int
      system_id:
        description:
          - Redfish only - the node's system, as its C(Id) or its path V(/redfish/v1/Systems/<Id>). Left out, the
            BMC's only system.
        type: str
      verify_ca:
        description:
          - Redfish only - V(true) checks the BMC's TLS certificate against the host's CA store (the default),
            V(false) does not check it, an absolute path names a CA bundle file or directory to check it with.
        type: raw
      username:
        description: BMC user name.
        type: str
        required: true
      password:
        description: BMC password. Never returned, never logged.
        type: str
        required: true
  macs:
    description:
      - MAC addresses of the node's PXE NICs. Required to enroll a node with a BMC.
      - A MAC address belongs to one node only.
    type: list
    elements: str
  root_device:
    description:
      - Root-device hints choosing the disk the image is written to, Ironic's names -
        C(by_path), C(hctl), C(model), C(name), C(rotational) (a bool), C(serial), C(size) (whole GiB, a number or
        with an operator, C('>= 100')), C(vendor), C(wwn), C(wwn_with_extension), C(wwn_vendor_extension). All
        given hints must match.
      - V({}) clears them (the smallest disk of at least 4 GiB is chosen).
    type: dict
  network:
    description:
      - The node's address on the provisioning network. V({}) means DHCP; the agent then gives the node an
        address from its provisioning pool, if it has one.
    type: dict
    suboptions:
      address:
        description: Static address with its prefix length (CIDR), for example V(192.168.24.50/24).
        type: str
      gateway:
        description: Default gateway, inside the network of O(network.address).
        type: str
      dns:
        description: DNS servers.
        type: list
        elements: str
      interface_mac:
        description: MAC of the NIC the address goes on; unset means the first of O(macs).
        type: str
  properties:
    description:
      - Free-form properties kept with the node (for example C(cpus), C(memory_mb), C(local_gb)).
      - C(ssh_authorized_keys) (a list) goes into the deployed node's C(/root/.ssh/authorized_keys).
    type: dict
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
notes:
  - Run it where the undercloud's agent runs, with O(agent_socket) set to that agent's socket.
seealso:
  - module: stackwright.cloud.baremetal_node_info
  - module: stackwright.cloud.baremetal_node_action
  - module: stackwright.cloud.baremetal_nodes_file
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Enroll a server
  stackwright.cloud.baremetal_node:
    agent_socket: /run/stackwright/undercloud.sock
    name: compute-0
    role: Compute
    kind: baremetal
    bmc:
      address: 192.168.30.11
      username: admin
      password: "{{ vault_bmc_password }}"
    macs: ["52:54:00:aa:00:01"]
    root_device: {size: ">= 20"}
    network: {}

- name: Enroll a pre-provisioned server and adopt it
  stackwright.cloud.baremetal_node:
    name: controller-0
    role: Controller
    kind: container
    network: {address: 192.168.24.50/24, gateway: 192.168.24.1}

- name: Adopt it once SSH answers on its address
  stackwright.cloud.baremetal_node_action:
    name: controller-0
    action: deploy

- name: Remove the node from the registry
  stackwright.cloud.baremetal_node:
    name: compute-0
    state: absent
"""

RETURN = r"""
node:
  description:
    - The node after the run (in check mode, as it would be). Null when absent. Never holds the BMC password.
  returned: always
  type: dict
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
      description: BMC driver, address, port, username and C(credentials), a salted digest. Null when pre-provisioned.
      type: dict
      sample: {driver: ipmi, address: 192.168.30.11, port: 623, username: admin, credentials: 9f2c...}
    macs:
      description: PXE MACs, lowercase.
      type: list
      elements: str
      sample: ["52:54:00:aa:00:01"]
    root_device:
      description: Root-device hints.
      type: dict
      sample: {size: ">= 20"}
    network:
      description: Static provisioning network settings; null for DHCP.
      type: dict
      sample: {address: 192.168.24.50/24, gateway: 192.168.24.1, dns: [], interface_mac: null}
    address:
      description: The node's provisioning address - static, or from the agent's pool - or null.
      type: str
      sample: 192.168.24.100
    properties:
      description: Properties.
      type: dict
    provision_state:
      description: Provision state.
      type: str
      sample: available
    power_state:
      description: Power state as last recorded.
      type: str
      sample: "off"
    last_error:
      description: Why the node failed, or null.
      type: str
    target_disk:
      description: The disk inspection chose for the image, or null.
      type: str
      sample: /dev/sda
    action:
      description: The ramdisk action armed, or null.
      type: dict
      sample: {action: deploy, image_url: /images/overcloud.raw.gz, image_sha256: 3b0c..., config_url: null}
    deploy_done:
      description: Whether the ramdisk has written the image of the current deploy.
      type: bool
      sample: false
    booted:
      description: Whether the node has network-booted the ramdisk for the action armed.
      type: bool
    target:
      description:
        - The conductor's action on the node (M(stackwright.cloud.baremetal_node_action)) - running, or as it
          ended (C(status) done or failed, C(error)) - or null.
      type: dict
      sample: {action: deploy, status: running, started_at: 1765000000.0}
    inspection:
      description: The ramdisk's inventory (CPUs, memory, disks, NICs). Only when the task did not change the node.
      type: dict
      returned: when nothing was sent
    history:
      description: The node's last 20 state changes and events, with timestamps.
      type: list
      elements: dict
      returned: when nothing was sent
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import AGENT_ARGUMENT_SPEC
from ansible_collections.stackwright.cloud.plugins.module_utils.baremetal import (
    NODE_OPTIONS,
    answer_result,
    client_for,
    get_node,
    node_body,
    put_node,
)


def main():
    # the node's fields (name, role, kind, bmc, macs, root_device, network, properties) as the
    # node schema declares them; the agent checks their values with it
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        state=dict(type="str", default="present", choices=["absent", "present"]),
        **NODE_OPTIONS
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    name = p["name"]
    client = client_for(module)
    body = node_body(p)
    if body == {}:
        # nothing to set: read, so a missing node is named as such
        node = get_node(module, client, name)
        if node is None:
            module.fail_json(msg="name: node %r is not enrolled; give bmc and macs (or network.address for a "
                                 "pre-provisioned node) to enroll it" % name, field="name", node=None)
        result = dict(changed=False, node=node)
        if module._diff:
            result["diff"] = dict(before=node, after=node)
    else:
        result = answer_result(module, put_node(module, client, name, body))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
