#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lvm_volume
short_description: Manage an LVM logical volume through the Stackwright agent
version_added: 0.1.0
description:
  - Creates, extends or removes a logical volume, a thin pool, or a thin volume in a pool.
  - A larger absolute O(size) extends the volume; a smaller one is refused, because shrinking loses data.
    Percentages (V(100%FREE), V(50%VG)) apply only at creation.
  - On a kernel without device-mapper, volumes can be created only with O(active=false) and thin pools not at all;
    the agent says so rather than failing half-way.
options:
  vg:
    description: Volume group that holds the volume.
    type: str
    required: true
  name:
    description: Logical volume name.
    type: str
    required: true
  size:
    description: Size with a unit (V(512M), V(10G)) or a percentage (V(100%FREE)). Required to create.
    type: str
  type:
    description: V(linear) volume or V(thin-pool). Unset means V(linear), or a thin volume with O(thin_pool).
    type: str
    choices: [linear, thin-pool]
  thin_pool:
    description: Create a thin volume of virtual size O(size) in this thin pool of the same group.
    type: str
  active:
    description: Whether the volume is activated (has a device node).
    type: bool
    default: true
  state:
    description: Whether the volume exists.
    type: str
    choices: [absent, present]
    default: present
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: A 10 GiB volume for a service's data
  stackwright.cloud.lvm_volume:
    vg: data
    name: glance
    size: 10G

- name: Thin pool taking the rest of the group
  stackwright.cloud.lvm_volume:
    vg: cinder-volumes
    name: pool
    type: thin-pool
    size: 90%FREE
"""

RETURN = r"""
resource:
  description: The volume after the run (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  contains:
    vg:
      description: Volume group.
      type: str
      sample: data
    name:
      description: Volume name.
      type: str
      sample: glance
    size_bytes:
      description: Size in bytes.
      type: int
      sample: 10737418240
    active:
      description: Whether the volume is active.
      type: bool
      sample: true
    type:
      description: V(linear), V(thin-pool) or V(thin).
      type: str
      sample: linear
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        active=dict(type="bool", default=True),
        name=dict(type="str", required=True),
        size=dict(type="str"),
        state=dict(type="str", default="present", choices=["absent", "present"]),
        thin_pool=dict(type="str"),
        type=dict(type="str", choices=["linear", "thin-pool"]),
        vg=dict(type="str", required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("thin_pool", "type")])
    p = module.params
    body = dict((k, v) for k, v in p.items() if k not in AGENT_ARGUMENT_SPEC)
    converge(module, "volumes", [p["vg"], p["name"]], body)


if __name__ == "__main__":
    main()
