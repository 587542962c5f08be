#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_node
short_description: Enroll or update a bare-metal node in the undercloud's registry, and wait for its state
version_added: 0.1.0
description:
  - Enrolls a server in the node registry of the undercloud's Stackwright agent, or brings its record in line -
    role, kind, BMC, PXE MACs, root-device hints, provisioning network, properties - and removes it with
    O(state=absent).
  - Options left unset keep the node's value, so a task may set just the operational fields a provisioning step
    drives (O(provision_state), O(power_state), O(last_error), O(action)) or only wait (O(wait_for)).
  - The agent checks every change of O(provision_state) against its transitions (for example C(available) only
    from C(inspected), C(cleaning) or C(failed)) and refuses the others, naming the states the node may go to.
  - The BMC password is stored by the agent but never returned; a change of it is detected through a salted
    digest (C(bmc.credentials)).
  - A node without O(bmc) is pre-provisioned (a deployed server, for example a container); it needs
    O(network.address) and is adopted by setting O(provision_state=active) straight from C(enrolled).
  - The agent checks the node's fields as the nodes file's are checked (M(stackwright.cloud.baremetal_nodes_file),
    one node schema) and names the field at fault.
  - This module never drives the BMC; use M(stackwright.cloud.ipmi_power) and M(stackwright.cloud.ipmi_boot).
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
  provision_state:
    description:
      - The state to move the node to. The agent refuses a transition it does not allow (a new node starts
        V(enrolled)). V(failed) needs O(last_error).
    type: str
    choices: [enrolled, verified, inspected, available, deploying, active, cleaning, failed]
  power_state:
    description: The power state as last seen by the caller; the agent records it and does not act on it.
    type: str
    choices: ["on", "off", unknown]
  last_error:
    description: Why the node failed; kept until the node leaves V(failed).
    type: str
  action:
    description:
      - Arms the deploy ramdisk for the node's next network boot. An empty O(action) (or O(action.action) unset)
        disarms it - the node then boots from disk. Re-sending the action already armed changes nothing until
        the node has booted the ramdisk for it; after that (no report, a run cut short) it arms a new attempt.
      - The ramdisk's result disarms the node by itself.
      - M(stackwright.cloud.baremetal_deploy) and M(stackwright.cloud.baremetal_undeploy) arm deploys and
        cleaning with the right state checks; prefer them.
    type: dict
    suboptions:
      action:
        description: What the ramdisk does.
        type: str
        choices: [inspect, clean, deploy]
      image_url:
        description: With V(deploy), the gzip'd raw disk image; a path starting with C(/) is on the provisioning listener.
        type: str
      image_sha256:
        description: With V(deploy), the SHA-256 of the image as served (64 hex digits).
        type: str
      config_url:
        description: With V(deploy), the first-boot configuration tarball; unset means the one the agent generates.
        type: str
  wait_for:
    description:
      - After the update, wait until the node is in one of these states; V(deployed) means the image is written
        (C(deploying) with C(deploy_done)), or the node is C(active) already.
      - A node that goes V(failed) while V(failed) is not listed fails the task with its C(last_error).
      - A node not there within O(wait_timeout) is marked V(failed), with the reason as its C(last_error), and
        the task fails.
      - The wait watches the ramdisk action armed when it started. When another run arms the node again meanwhile
        (this run was killed and its wait lives on), the task fails without touching the node.
      - Check mode does not wait.
    type: list
    elements: str
    choices: [enrolled, verified, inspected, available, deploying, deployed, active, cleaning, failed]
  wait_timeout:
    description: Seconds to wait with O(wait_for).
    type: int
    default: 900
  power_watch:
    description:
      - With a wait - the node's BMC, asked every 15 s for the power state. A node found off at two checks in a
        row before it reached O(wait_for) (switched off, or its ramdisk died) is marked V(failed) with the reason
        and the task fails, instead of waiting out O(wait_timeout). A BMC that does not answer is no verdict.
      - The ramdisk powers the node off after it reported; that is told apart by reading the node again.
    type: dict
    suboptions: *bmc_suboptions  # the same as O(bmc)'s
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
  - stackwright.cloud.baremetal
notes:
  - Run it where the undercloud's agent runs, with O(agent_socket) set to that agent's socket.
seealso:
  - module: stackwright.cloud.baremetal_node_info
  - module: stackwright.cloud.baremetal_deploy
  - module: stackwright.cloud.baremetal_undeploy
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
    provision_state: active

- name: Arm an inspection
  stackwright.cloud.baremetal_node:
    name: compute-0
    provision_state: verified
    action:
      action: inspect

- name: Wait for the inspection data (the node is marked failed after 10 minutes)
  stackwright.cloud.baremetal_node:
    name: compute-0
    wait_for: [inspected]
    wait_timeout: 600

- name: Remove the node from the registry
  stackwright.cloud.baremetal_node:
    name: compute-0
    state: absent
"""

RETURN = r"""
node:
  description:
    - The node after the run (in check mode, as it would be; after O(wait_for), as the wait left it). Null when
      absent. Never holds the BMC password.
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
    inspection:
      description: The ramdisk's inventory (CPUs, memory, disks, NICs). Only when the task did not change the node.
      type: dict
      returned: when nothing was sent or after O(wait_for)
    history:
      description: The node's last 20 state changes and events, with timestamps.
      type: list
      elements: dict
      returned: when nothing was sent or after O(wait_for)
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import AGENT_ARGUMENT_SPEC
from ansible_collections.stackwright.cloud.plugins.module_utils.baremetal import (
    ACTION_OPTIONS,
    BMC_OPTIONS,
    NODE_OPTIONS,
    PROVISION_STATES,
    WAIT_STATES,
    answer_result,
    client_for,
    get_node,
    node_body,
    put_node,
    wait_or_fail,
)
from ansible_collections.stackwright.cloud.plugins.module_utils.bmc import BmcError, bmc_from_node, driver_of
from ansible_collections.stackwright.cloud.plugins.module_utils.ipmi import HAS_PYGHMI


def main():
    # the node's fields (name, role, kind, bmc, macs, root_device, network, properties) as the
    # node schema declares them; the agent checks their values with it
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        action=dict(type="dict", options=ACTION_OPTIONS),
        last_error=dict(type="str"),
        power_state=dict(type="str", choices=["on", "off", "unknown"]),
        provision_state=dict(type="str", choices=list(PROVISION_STATES)),
        state=dict(type="str", default="present", choices=["absent", "present"]),
        wait_for=dict(type="list", elements="str", choices=list(WAIT_STATES)),
        wait_timeout=dict(type="int", default=900),
        pxe_timeout=dict(type="int", default=0),
        power_watch=dict(type="dict", options=BMC_OPTIONS),
        **NODE_OPTIONS
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    name = p["name"]
    if p["state"] == "absent" and p["wait_for"]:
        module.fail_json(msg="wait_for: there is nothing to wait for on a node that state=absent removes",
                         field="wait_for")
    client = client_for(module)
    body = node_body(p)
    if body == {}:
        # nothing to set (a task that only waits): read, so a missing node is named as such
        node = get_node(module, client, name)
        if node is None:
            module.fail_json(msg="name: node %r is not enrolled; give bmc and macs (or network.address for a "
                                 "pre-provisioned node) to enroll it" % name, field="name", node=None)
        result = dict(changed=False, node=node)
        if module._diff:
            result["diff"] = dict(before=node, after=node)
    else:
        result = answer_result(module, put_node(module, client, name, body))
    if p["wait_for"] and not module.check_mode:
        power = None
        watch = p["power_watch"]
        if watch:
            if not HAS_PYGHMI and driver_of(watch["driver"], watch["address"]) == "ipmi":
                module.fail_json(msg=missing_required_lib("pyghmi (Debian: python3-pyghmi)"), field="power_watch")
            try:
                power = bmc_from_node(watch, retries=1).power_state
            except BmcError as exc:
                module.fail_json(msg="power_watch: %s" % exc.message, field="power_watch")
        result["node"] = wait_or_fail(module, client, name, p["wait_for"], p["wait_timeout"], result,
                                      pxe_timeout=p["pxe_timeout"], power=power)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
