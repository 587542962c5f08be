#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_facts
short_description: Read a node's hardware facts and agent-managed resources
version_added: 0.1.0
description:
  - Returns what the Stackwright agent knows of the node - CPUs, memory, disks with the fields root-device
    hints use (size, rotational, serial, WWN, by-path), NICs with MAC, link and speed, and virtualization
    support - and, on request, the bridges, domains, volume groups and volumes it can see.
  - Never fails because something is missing; a resource kind with nothing in it is an empty list.
  - The facts are also set as the C(stackwright_node) host fact.
options:
  resources:
    description: Resource kinds to list beside the facts.
    type: list
    elements: str
    choices: [bridges, domains, volume_groups, volumes]
    default: []
  netns:
    description: Network namespace whose bridges to list. Unset means the host's.
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
    description: Linux nodes running the Stackwright agent.
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Read the node's facts
  stackwright.cloud.node_facts:
  register: node

- name: Show the disks root-device hints can choose from
  ansible.builtin.debug:
    msg: "{{ node.facts.disks | map(attribute='path') | list }}"

- name: List the lab's bridges
  stackwright.cloud.node_facts:
    resources: [bridges]
    netns: swlab
"""

RETURN = r"""
facts:
  description: Hardware and capability facts.
  returned: always
  type: dict
  contains:
    hostname:
      description: Host name.
      type: str
    cpus:
      description: CPU count, model and virtualization flag.
      type: dict
    memory_mib:
      description: Total memory in MiB.
      type: int
    disks:
      description: Block devices with name, path, size_bytes, rotational, model, vendor, serial, wwn, by_path, hctl.
      type: list
      elements: dict
    nics:
      description: Network interfaces with name, mac, link, speed_mbps, driver, is_bridge.
      type: list
      elements: dict
    virtualization:
      description: KVM device presence and the domain type new domains get.
      type: dict
resources:
  description: The listed resources per requested kind.
  returned: always
  type: dict
  sample: {bridges: [{name: br-prov, netns: swlab, mtu: 1500, up: true, addresses: [], ports: []}]}
agent:
  description: The agent's version.
  returned: always
  type: dict
  sample: {status: ok, version: 0.1.0}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    AgentClient,
    AgentClientError,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        netns=dict(type="str"),
        resources=dict(type="list", elements="str", default=[],
                       choices=["bridges", "domains", "volume_groups", "volumes"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    client = AgentClient(p["agent_socket"], p["agent_timeout"])
    try:
        health = client.get("/v1/health")
        facts = client.get("/v1/facts")
        resources = {}
        for kind in p["resources"]:
            query = {"netns": p["netns"]} if kind == "bridges" and p["netns"] else None
            try:
                resources[kind] = client.get("/v1/" + kind, query)[kind]
            except AgentClientError as exc:
                if exc.field != "netns":  # a missing namespace simply has no bridges
                    raise
                resources[kind] = []
    except AgentClientError as exc:
        module.fail_json(**exc.to_dict())
    module.exit_json(changed=False, agent=health, facts=facts, resources=resources,
                     ansible_facts=dict(stackwright_node=facts))


if __name__ == "__main__":
    main()
