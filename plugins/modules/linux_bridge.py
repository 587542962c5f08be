#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: linux_bridge
short_description: Manage a Linux bridge and its ports through the Stackwright agent
version_added: 0.1.0
description:
  - Creates, changes or removes a Linux bridge on the node, optionally inside a named network namespace.
  - Sets its MTU and the exact set of global addresses, attaches ports (taps, veths) and can create a missing
    veth port together with its peer.
  - Properties left unset are not managed; a bridge created without them gets the kernel's defaults.
options:
  name:
    description: Bridge name, at most 15 characters (the kernel's limit).
    type: str
    required: true
  netns:
    description: Network namespace that holds the bridge (as C(ip netns list) shows it). Unset means the host's.
    type: str
  state:
    description: Whether the bridge exists.
    type: str
    choices: [absent, present]
    default: present
  mtu:
    description: MTU of the bridge.
    type: int
  addresses:
    description:
      - The exact set of global addresses on the bridge, each with its prefix length (V(192.0.2.1/24), V(fd00::1/64)).
      - Addresses not listed are removed; link-local addresses are left alone.
    type: list
    elements: str
  ports:
    description:
      - Interfaces to attach to the bridge. Ports already attached and not listed stay attached unless
        O(purge_ports=true).
    type: list
    elements: dict
    suboptions:
      name:
        description: Interface name of the port.
        type: str
        required: true
      veth_peer:
        description: When the port does not exist, create it as a veth pair with this peer name.
        type: str
      peer_netns:
        description: Network namespace to put the veth peer in.
        type: str
  purge_ports:
    description: Detach every port that O(ports) does not list.
    type: bool
    default: false
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Provisioning bridge inside the lab namespace, with an address for DHCP and TFTP
  stackwright.cloud.linux_bridge:
    name: br-prov
    netns: swlab
    mtu: 1500
    addresses:
      - 192.168.24.1/24

- name: Connect a node's namespace to the bridge with a veth pair
  stackwright.cloud.linux_bridge:
    name: br-prov
    netns: swlab
    ports:
      - name: veth-ctl0
        veth_peer: eth0
        peer_netns: ctl0

- name: Remove the bridge
  stackwright.cloud.linux_bridge:
    name: br-prov
    netns: swlab
    state: absent
"""

RETURN = r"""
resource:
  description: The bridge as the agent sees it after the run (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Bridge name.
      type: str
      sample: br-prov
    netns:
      description: Network namespace, null for the host's.
      type: str
      sample: swlab
    mtu:
      description: MTU.
      type: int
      sample: 1500
    up:
      description: Whether the bridge is administratively up.
      type: bool
      sample: true
    addresses:
      description: Global addresses with prefix lengths, sorted.
      type: list
      elements: str
      sample: [192.168.24.1/24]
    ports:
      description: Names of the attached ports, sorted.
      type: list
      elements: str
      sample: [veth-ctl0, vnet0]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        addresses=dict(type="list", elements="str"),
        mtu=dict(type="int"),
        name=dict(type="str", required=True),
        netns=dict(type="str"),
        ports=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            peer_netns=dict(type="str"),
            veth_peer=dict(type="str"),
        )),
        purge_ports=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["absent", "present"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    converge(module, "bridges", [p["name"]], dict(
        name=p["name"], netns=p["netns"], state=p["state"], mtu=p["mtu"], addresses=p["addresses"],
        ports=p["ports"], purge_ports=p["purge_ports"]))


if __name__ == "__main__":
    main()
