#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lab_container
short_description: Run one container node of the virtual lab (systemd in systemd-nspawn), through the Stackwright agent
version_added: 0.1.0
description:
  - Runs a "deployed server" of the lab - systemd booted by C(systemd-nspawn), detached - on a lab host whose
    PID 1 is not systemd, through the lab host's agent (role C(lab_host)).
  - Its root is an overlayfs of O(dir)C(/upper) over the image's file system, mounted read-only from a loop device
    that every node of the image shares; O(dir)C(/seed/) is copied into the upper layer before it boots. It has a
    network namespace of its own (O(netns)) whose C(eth0) has O(mac) and whose veth peer O(veth) is a port of
    O(bridge) in O(lab_netns), a cgroup of its own with the memory and CPU limits, and a private mount namespace,
    so nothing stays mounted when it stops.
  - The container outlives the agent's restarts. A request whose O(generation) or settings differ from the
    running container's restarts it.
options:
  name:
    description: Machine name and host name of the container (a DNS label).
    type: str
    required: true
  dir:
    description: The node's directory (absolute), with C(seed/); the agent keeps C(upper/), C(work/), C(root/),
      C(container.json) (what it was started with), C(nspawn.pid) and C(console.log) there.
    type: path
    required: true
  state:
    description:
      - C(running) starts it (again, when its generation or settings changed).
      - C(stopped) halts it (SIGRTMIN+3 to its systemd, SIGKILL after O(stop_timeout)); its network stays.
      - C(absent) also deletes its network namespace, its veth and its record.
    type: str
    choices: [absent, running, stopped]
    default: running
  generation:
    description: Fingerprint of the node's files (for example a checksum of its seed files). Another than the
      running container's restarts it; unset accepts whichever runs.
    type: str
  netns:
    description: The container's own network namespace (created when missing).
    type: str
  lab_netns:
    description: The lab's network namespace, which holds O(bridge).
    type: str
  bridge:
    description: The bridge in O(lab_netns) the container is plugged into.
    type: str
  veth:
    description: Name of the veth end in O(lab_netns) (at most 15 characters).
    type: str
  mac:
    description: MAC address of the container's C(eth0) (unicast).
    type: str
  image:
    description: The raw image (MBR, the root file system at 1 MiB).
    type: path
  base:
    description: Where the image's file system is mounted read-only, the lower layer (shared by the image's nodes).
    type: path
  memory_mib:
    description: Memory limit in MiB; unset for none.
    type: int
  cpus:
    description: CPU limit (a CFS quota of this many CPUs); unset for none.
    type: int
  stop_timeout:
    description: Seconds the container's systemd has to halt before it is killed.
    type: int
    default: 30
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
notes:
  - O(netns), O(lab_netns), O(bridge), O(veth), O(mac), O(image) and O(base) are required with O(state=running).
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: A controller node of the lab
  stackwright.cloud.lab_container:
    name: controller0
    dir: /var/lib/stackwright-lab/containers/controller0
    netns: swlab-controller0
    lab_netns: swlab
    bridge: br-prov
    veth: ct1-controller0
    mac: "52:54:00:5a:00:01"
    image: /var/lib/stackwright-lab/images/overcloud-openstack.raw
    base: /var/lib/stackwright-lab/images/overcloud-openstack.root
    memory_mib: 8192
    generation: "{{ controller0_files_checksum }}"

- name: Remove it with its network
  stackwright.cloud.lab_container:
    name: controller0
    dir: /var/lib/stackwright-lab/containers/controller0
    state: absent
"""

RETURN = r"""
resource:
  description: The container after the run (in check mode, as it would be). Null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Machine name.
      type: str
      sample: controller0
    dir:
      description: The node's directory.
      type: str
      sample: /var/lib/stackwright-lab/containers/controller0
    state:
      description: C(running) or C(stopped).
      type: str
      sample: running
    network:
      description: Whether its network namespace exists.
      type: bool
      sample: true
    generation:
      description: The generation it was (last) started with.
      type: str
      sample: 5d41402abc4b2a76b9719d911017c592
    netns:
      description: Its network namespace, as started.
      type: str
      sample: swlab-controller0
    memory_mib:
      description: Memory limit it was started with.
      type: int
      sample: 8192
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    converge,
)

TO_RUN = ("netns", "lab_netns", "bridge", "veth", "mac", "image", "base")


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        base=dict(type="path"),
        bridge=dict(type="str"),
        cpus=dict(type="int"),
        dir=dict(type="path", required=True),
        generation=dict(type="str"),
        image=dict(type="path"),
        lab_netns=dict(type="str"),
        mac=dict(type="str"),
        memory_mib=dict(type="int"),
        name=dict(type="str", required=True),
        netns=dict(type="str"),
        state=dict(type="str", default="running", choices=["absent", "running", "stopped"]),
        stop_timeout=dict(type="int", default=30),
        veth=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "running", TO_RUN)])
    body = dict((k, v) for k, v in module.params.items() if k not in AGENT_ARGUMENT_SPEC)
    converge(module, "containers", [module.params["name"]], body)


if __name__ == "__main__":
    main()
