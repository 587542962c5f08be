#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lab_libvirtd
short_description: Run the virtual lab's libvirtd inside the lab's network namespace, through the Stackwright agent
version_added: 0.1.0
description:
  - Starts virtlogd and libvirtd on a lab host whose PID 1 is not systemd, libvirtd inside O(netns) so that the
    lab VMs' taps land on the lab's bridges there, through the lab host's agent (role C(lab_host)).
  - A libvirtd that already runs is left alone, wherever it runs. It counts as running when the process in
    C(/run/libvirtd.pid) is alive and C(virsh -c qemu:///system version) answers.
options:
  netns:
    description: The lab's network namespace.
    type: str
    required: true
  hide_kvm:
    description:
      - Run libvirtd in a private mount namespace whose C(/dev) has no C(kvm) node (and QEMU without a C(/dev)
        namespace of its own). Where C(/dev/kvm) exists but cannot run guests, libvirt otherwise probes QEMU
        again on every call (30-50 s per define or start). Guests are emulated either way.
    type: bool
    default: false
  state:
    description: C(running) starts it unless one runs; C(stopped) ends it only when it runs in O(netns).
    type: str
    choices: [running, stopped]
    default: running
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: The lab's libvirtd
  stackwright.cloud.lab_libvirtd:
    netns: swlab
    hide_kvm: true
"""

RETURN = r"""
resource:
  description: libvirtd after the run (in check mode, as it would be). Null when it does not run.
  returned: always
  type: dict
  contains:
    name:
      description: Always C(libvirtd).
      type: str
      sample: libvirtd
    state:
      description: C(running).
      type: str
      sample: running
    netns:
      description: The network namespace it runs in, null for the host's.
      type: str
      sample: swlab
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        hide_kvm=dict(type="bool", default=False),
        netns=dict(type="str", required=True),
        state=dict(type="str", default="running", choices=["running", "stopped"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    body = dict((k, v) for k, v in module.params.items() if k not in AGENT_ARGUMENT_SPEC)
    converge(module, "libvirtd", ["libvirtd"], body)


if __name__ == "__main__":
    main()
