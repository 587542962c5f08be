#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kvm_domain
short_description: Manage a KVM/QEMU virtual machine through the Stackwright agent
version_added: 0.1.0
description:
  - Defines, starts, shuts down, destroys and undefines a libvirt domain on the node.
  - Disks are image files; a missing one is created empty (O(disks[].size_gib)) or as a qcow2 overlay
    (O(disks[].backing)). NICs attach to named Linux bridges with fixed MAC addresses.
  - The serial console is written to a log file, so a guest that never answers can still be diagnosed.
  - A change to the definition of an existing domain (vCPUs, memory, disks, NICs, boot order) redefines it;
    a running guest sees it at its next boot.
  - Properties left unset are not managed; O(vcpus) and O(memory_mib) are required to create a domain.
options:
  name:
    description: Domain name.
    type: str
    required: true
  state:
    description:
      - V(running) defines and starts the domain; V(stopped) shuts it down (ACPI, then a hard stop after
        O(stop_timeout)); V(present) defines it and leaves its power alone; V(absent) stops and undefines it.
    type: str
    choices: [absent, present, running, stopped]
    default: running
  domain_type:
    description:
      - V(kvm) for hardware acceleration, V(qemu) for software emulation (TCG).
      - V(auto), or unset, uses the agent's setting, which picks kvm only where KVM can run guests.
    type: str
    choices: [auto, kvm, qemu]
  vcpus:
    description: Number of virtual CPUs.
    type: int
  memory_mib:
    description: Memory in MiB.
    type: int
  disks:
    description: Disks in boot order of their buses (vda, vdb, ...).
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path of the image file.
        type: path
        required: true
      format:
        description: Image format.
        type: str
        choices: [qcow2, raw]
        default: qcow2
      size_gib:
        description: Create an empty image of this size when the file is missing.
        type: int
      backing:
        description: Create the image as a qcow2 overlay on this file when it is missing.
        type: path
      bus:
        description: Disk bus.
        type: str
        choices: [sata, virtio]
        default: virtio
      cache:
        description: Host cache mode; V(unsafe) is fastest and fine for throw-away lab disks.
        type: str
        choices: [default, none, unsafe, writeback]
        default: default
  nics:
    description: Network interfaces, in order.
    type: list
    elements: dict
    suboptions:
      bridge:
        description: Linux bridge to attach to; it must exist where libvirtd runs.
        type: str
        required: true
      mac:
        description: Fixed MAC address.
        type: str
        required: true
      model:
        description: NIC model.
        type: str
        choices: [e1000, virtio]
        default: virtio
  boot:
    description:
      - Boot order. Set at creation to V([hd]) when unset.
      - Written as C(<os><boot>) for BIOS and as per-device boot order for UEFI, which UEFI firmware reads (it
        ignores C(<os><boot>)).
    type: list
    elements: str
    choices: [hd, network]
  firmware:
    description:
      - V(bios) (SeaBIOS) or V(uefi) (OVMF, which the node must have installed; each domain gets its own copy of the
        UEFI variables). Set at creation to V(bios) when unset. A change applies at the domain's next start.
    type: str
    choices: [bios, uefi]
  console_log:
    description: Write the serial console to a log file in the agent's console log directory.
    type: bool
    default: true
  stop_timeout:
    description: Seconds to wait for an ACPI shutdown before a hard stop.
    type: int
    default: 60
  delete_disks:
    description: With O(state=absent), also delete the image files listed in O(disks).
    type: bool
    default: false
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: A bare-metal-like VM that boots from the network first
  stackwright.cloud.kvm_domain:
    name: compute0
    domain_type: qemu
    vcpus: 1
    memory_mib: 2048
    disks:
      - path: /var/lib/stackwright-lab/compute0.qcow2
        size_gib: 10
        cache: unsafe
    nics:
      - bridge: br-prov
        mac: "52:54:00:00:10:01"
    boot: [network, hd]
    state: stopped

- name: Remove it with its disk
  stackwright.cloud.kvm_domain:
    name: compute0
    state: absent
    delete_disks: true
    disks:
      - path: /var/lib/stackwright-lab/compute0.qcow2
"""

RETURN = r"""
resource:
  description: The domain as the agent sees it after the run (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Domain name.
      type: str
      sample: compute0
    state:
      description: V(running) or V(stopped).
      type: str
      sample: running
    domain_type:
      description: V(kvm) or V(qemu).
      type: str
      sample: qemu
    vcpus:
      description: Virtual CPUs.
      type: int
      sample: 1
    memory_mib:
      description: Memory in MiB.
      type: int
      sample: 2048
    disks:
      description: Disks with path, format, bus and cache.
      type: list
      elements: dict
    nics:
      description: NICs with bridge, mac and model.
      type: list
      elements: dict
    boot:
      description: Boot order.
      type: list
      elements: str
      sample: [network, hd]
    firmware:
      description: V(bios) or V(uefi).
      type: str
      sample: uefi
    console_log:
      description: Path of the serial console log, or null.
      type: str
      sample: /var/log/stackwright/console/compute0.log
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        boot=dict(type="list", elements="str", choices=["hd", "network"]),
        console_log=dict(type="bool", default=True),
        delete_disks=dict(type="bool", default=False),
        disks=dict(type="list", elements="dict", options=dict(
            backing=dict(type="path"),
            bus=dict(type="str", default="virtio", choices=["sata", "virtio"]),
            cache=dict(type="str", default="default", choices=["default", "none", "unsafe", "writeback"]),
            format=dict(type="str", default="qcow2", choices=["qcow2", "raw"]),
            path=dict(type="path", required=True),
            size_gib=dict(type="int"),
        )),
        domain_type=dict(type="str", choices=["auto", "kvm", "qemu"]),
        firmware=dict(type="str", choices=["bios", "uefi"]),
        memory_mib=dict(type="int"),
        name=dict(type="str", required=True),
        nics=dict(type="list", elements="dict", options=dict(
            bridge=dict(type="str", required=True),
            mac=dict(type="str", required=True),
            model=dict(type="str", default="virtio", choices=["e1000", "virtio"]),
        )),
        state=dict(type="str", default="running", choices=["absent", "present", "running", "stopped"]),
        stop_timeout=dict(type="int", default=60),
        vcpus=dict(type="int"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    body = dict((k, v) for k, v in module.params.items() if k not in AGENT_ARGUMENT_SPEC)
    converge(module, "domains", [module.params["name"]], body)


if __name__ == "__main__":
    main()
