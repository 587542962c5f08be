#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: virtual_bmc
short_description: Give a KVM/QEMU domain a virtual BMC that speaks IPMI or Redfish, through the Stackwright agent
version_added: 0.1.0
description:
  - Runs an IPMI 2.0 (lanplus) BMC for one libvirt domain on its own address and port, optionally inside a
    network namespace, so the domain is driven exactly like a rack server - power on, off, soft, reset, status,
    and boot device pxe or disk, for the next boot or persistently - with C(ipmitool) or any IPMI client.
  - With O(protocol=redfish) the BMC is sushy-tools' Redfish emulator (its libvirt driver; sushy-tools must be
    installed in the agent's Python) over HTTPS with a self-signed certificate the agent makes, HTTP basic auth,
    and only this domain as its one system. Its libvirt driver keeps a boot device set "once" for every boot.
  - The agent keeps the BMC running across its own restarts. The password is never returned; a change of it
    is detected through a salted digest.
options:
  name:
    description: Name of the libvirt domain the BMC controls.
    type: str
    required: true
  netns:
    description: Network namespace the BMC listens in. Unset means the host's.
    type: str
  address:
    description: IP address to listen on; it must be on an interface in that namespace.
    type: str
  protocol:
    description: What the BMC speaks.
    type: str
    choices: [ipmi, redfish]
    default: ipmi
  port:
    description: Port to listen on (UDP for IPMI, TCP for Redfish). Unset means 623 for IPMI, 443 for Redfish.
    type: int
  username:
    description: The BMC's user name.
    type: str
  password:
    description: The BMC's password.
    type: str
  state:
    description: Whether the BMC runs.
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
- name: A BMC for a lab VM on the lab's BMC network
  stackwright.cloud.virtual_bmc:
    name: compute0
    netns: swlab
    address: 192.168.30.11
    username: admin
    password: "{{ lab_bmc_password }}"

- name: A Redfish BMC; its certificate and system id go into the nodes file
  stackwright.cloud.virtual_bmc:
    name: compute1
    netns: swlab
    protocol: redfish
    address: 192.168.30.12
    username: admin
    password: "{{ lab_bmc_password }}"
  register: bmc
  # bmc.resource.certificate is the node's bmc.verify_ca, bmc.resource.system_id its bmc.system_id
"""

RETURN = r"""
resource:
  description: The BMC after the run (in check mode, as it would be). Null when absent. Never holds the password.
  returned: always
  type: dict
  contains:
    name:
      description: Domain name.
      type: str
      sample: compute0
    netns:
      description: Network namespace.
      type: str
      sample: swlab
    address:
      description: Listening address.
      type: str
      sample: 192.168.30.11
    protocol:
      description: What the BMC speaks.
      type: str
      sample: ipmi
    port:
      description: Listening port (UDP for IPMI, TCP for Redfish).
      type: int
      sample: 623
    username:
      description: User name.
      type: str
      sample: admin
    running:
      description: Whether the BMC process runs.
      type: bool
      sample: true
    credentials:
      description: A salted digest of the user name and password, which changes when they do.
      type: str
      sample: 3f2a9c0d1e4b5a67
    system_id:
      description: The Redfish system's Id (the domain's UUID). Null for IPMI.
      type: str
      sample: 0f6e3b8a-2c4d-4e5f-9a1b-2c3d4e5f6a7b
    certificate:
      description: The Redfish BMC's self-signed certificate (PEM), the CA to verify it with. Null for IPMI.
      type: str
      sample: /var/lib/stackwright/agent/bmcs/compute1.crt
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        address=dict(type="str"),
        name=dict(type="str", required=True),
        netns=dict(type="str"),
        password=dict(type="str", no_log=True),
        port=dict(type="int"),
        protocol=dict(type="str", default="ipmi", choices=["ipmi", "redfish"]),
        state=dict(type="str", default="present", choices=["absent", "present"]),
        username=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "present", ("address", "username", "password"))])
    body = dict((k, v) for k, v in module.params.items() if k not in AGENT_ARGUMENT_SPEC)
    converge(module, "bmcs", [module.params["name"]], body)


if __name__ == "__main__":
    main()
