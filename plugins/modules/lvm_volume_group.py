#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lvm_volume_group
short_description: Manage an LVM volume group through the Stackwright agent
version_added: 0.1.0
description:
  - Creates a volume group on block devices (initialising them as physical volumes), extends it with newly
    listed devices, or removes it and wipes its physical volumes.
  - Physical volumes not listed in O(pvs) are never removed from an existing group.
options:
  name:
    description: Volume group name.
    type: str
    required: true
  pvs:
    description: Block devices for the group. Required to create it.
    type: list
    elements: path
  state:
    description: Whether the group exists.
    type: str
    choices: [absent, present]
    default: present
  force:
    description: Allow O(state=absent) to remove a group that still holds logical volumes.
    type: bool
    default: false
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Volume group for Cinder on the second disk
  stackwright.cloud.lvm_volume_group:
    name: cinder-volumes
    pvs:
      - /dev/vdb
"""

RETURN = r"""
resource:
  description: The volume group after the run (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Volume group name.
      type: str
      sample: cinder-volumes
    pvs:
      description: Its physical volumes, sorted.
      type: list
      elements: str
      sample: [/dev/vdb]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        force=dict(type="bool", default=False),
        name=dict(type="str", required=True),
        pvs=dict(type="list", elements="path"),
        state=dict(type="str", default="present", choices=["absent", "present"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    body = dict((k, v) for k, v in module.params.items() if k not in AGENT_ARGUMENT_SPEC)
    converge(module, "volume_groups", [module.params["name"]], body)


if __name__ == "__main__":
    main()
