# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: overcloud
short_description: The overcloud's nodes, from the undercloud's node registry
version_added: 0.1.0
description:
  - Reads the node registry of the undercloud's Stackwright agent and makes every node in one of O(states) a host,
    named after the node and reached at its provisioning address (C(ansible_host)).
  - Each host is in a group named after its role (C(Controller), C(Compute), C(BlockStorage); characters that are
    not letters, digits or C(_) become C(_)); the role groups are children of the group C(overcloud), which holds
    every host (a node without a role is in C(overcloud) directly).
  - Each host gets the variable C(stackwright_baremetal) - role, kind, MACs, address, target disk, provision state and a
    summary of the inspection data - so plays can size services by the hardware.
  - A node without a provisioning address is skipped, with a warning.
  - The inventory file must be named C(*.stackwright.yml) or C(*.stackwright.yaml), and be read on a host that
    reaches the agent's socket (the undercloud, or the lab host where the undercloud runs).
  - Before the undercloud exists (no file at O(agent_socket)) the inventory is empty and says nothing; the
    group C(overcloud) has no hosts. An agent whose socket is there but does not answer is an error.
options:
  plugin:
    description: The name of this plugin; it makes the file an inventory source for it.
    type: str
    required: true
    choices: [stackwright.cloud.overcloud]
  agent_socket:
    description: Path of the Unix socket of the undercloud's agent (the one with the node registry).
    type: path
    default: /run/stackwright/agent.sock
  agent_timeout:
    description: Seconds to wait for the agent's answer to one request.
    type: int
    default: 60
  states:
    description: Provision states of the nodes to include.
    type: list
    elements: str
    default: [active]
  ssh_user:
    description: The user to log in as (C(ansible_user)).
    type: str
    default: root
  ssh_private_key_file:
    description: The SSH private key to log in with (C(ansible_ssh_private_key_file)); unset means SSH's default.
    type: path
  known_hosts_file:
    description:
      - The undercloud's C(known_hosts) (C(<state_dir>/known_hosts) of its agent; the undercloud writes each node's
        line when it makes the node's first-boot config, host key included).
      - When set, every host gets C(ansible_ssh_common_args) that make SSH check the node's host key against this
        file alone, strictly (C(StrictHostKeyChecking=yes)); a host the file does not list gets a warning, and SSH
        to it is refused until its key is added (for a pre-provisioned node, its key checked out of band).
      - Unset, SSH uses its own C(known_hosts) files, with the collection's C(host_key_checking).
    type: path
extends_documentation_fragment:
  - constructed
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
# overcloud.stackwright.yml - the deployed nodes of the lab's undercloud
plugin: stackwright.cloud.overcloud
agent_socket: /run/stackwright/undercloud.sock
ssh_private_key_file: ~/.ssh/stackwright_lab
known_hosts_file: /var/lib/stackwright-undercloud/agent/known_hosts

# Also the nodes being deployed, and a group per node kind (kind_baremetal, kind_vm, kind_container)
# plugin: stackwright.cloud.overcloud
# states: [active, deploying]
# keyed_groups:
#   - key: stackwright_baremetal.kind
#     prefix: kind
# groups:
#   big_memory: (stackwright_baremetal.inspection.memory_mib | default(0)) >= 65536
# compose:
#   ansible_python_interpreter: "'/usr/bin/python3'"
"""

import os
import re
import shlex

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AgentClient,
    AgentClientError,
    resource_path,
)

display = Display()

OVERCLOUD = "overcloud"


def group_name(role):
    """A role as an inventory group name: letters, digits and _ only, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", role)
    return "_" + name if name[:1].isdigit() else name


def inspection_summary(inspection):
    """What plays size services by: CPUs, memory, disks and NICs of the ramdisk's inventory."""
    if not inspection:
        return None
    disks = [dict(name=d.get("name"), size_bytes=d.get("size_bytes"), rotational=d.get("rotational"))
             for d in inspection.get("disks") or [] if isinstance(d, dict)]
    nics = [dict(name=n.get("name"), mac=n.get("mac"), link=n.get("link"), speed_mbps=n.get("speed_mbps"))
            for n in inspection.get("nics") or [] if isinstance(n, dict)]
    return dict(cpus=inspection.get("cpus"), memory_mib=inspection.get("memory_mib"), disks=disks, nics=nics)


def known_host_names(path):
    """The host names and addresses a known_hosts file lists (none when it does not exist yet)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise AnsibleParserError("known_hosts_file: cannot read %s: %s" % (path, exc))
    return {host for line in lines if line.strip() and not line.startswith("#")
            for host in line.split(None, 1)[0].split(",")}


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "stackwright.cloud.overcloud"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(
            (".stackwright.yml", ".stackwright.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        socket_path = self.get_option("agent_socket")
        self.inventory.add_group(OVERCLOUD)
        if not os.path.exists(socket_path):
            # Before the undercloud exists there is no registry and so no node yet: an
            # empty overcloud, not a parse failure (Ansible would then try every other
            # inventory plugin on this file and warn once for each).
            display.vvv("stackwright.cloud.overcloud: agent_socket %s does not exist (no undercloud yet, or "
                        "agent_socket in %s names another socket): no overcloud nodes" % (socket_path, path))
            return
        client = AgentClient(socket_path, self.get_option("agent_timeout"))
        states = self.get_option("states")
        try:
            listed = client.get("/v1/nodes")["nodes"]
            nodes = []
            for entry in listed:
                if entry["provision_state"] not in states:
                    continue
                node = client.find(resource_path("nodes", entry["name"]))
                if node is not None:  # None: removed since the listing
                    nodes.append(node)
        except AgentClientError as exc:
            raise AnsibleParserError("agent_socket: the agent on %s: %s" % (socket_path, exc.message))
        self._known = None
        known_hosts = self.get_option("known_hosts_file")
        if known_hosts:
            self._known = known_host_names(known_hosts)
            self._ssh_args = "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s" % shlex.quote(known_hosts)
        for node in nodes:
            self._add_node(node)

    def _add_node(self, node):
        name = node["name"]
        address = node.get("address")
        if not address:
            display.warning("stackwright.cloud.overcloud: node %s is %s but has no provisioning address (no static "
                            "network.address, and the agent has no provisioning_pool); it is left out of the "
                            "inventory" % (name, node["provision_state"]))
            return
        parent = OVERCLOUD
        if node.get("role"):
            parent = self.inventory.add_group(group_name(node["role"]))
            if parent != OVERCLOUD:
                self.inventory.add_child(OVERCLOUD, parent)
        self.inventory.add_host(name, group=parent)
        self.inventory.set_variable(name, "ansible_host", address)
        self.inventory.set_variable(name, "ansible_user", self.get_option("ssh_user"))
        key = self.get_option("ssh_private_key_file")
        if key:
            self.inventory.set_variable(name, "ansible_ssh_private_key_file", key)
        if self._known is not None:
            self.inventory.set_variable(name, "ansible_ssh_common_args", self._ssh_args)
        self.inventory.set_variable(name, "stackwright_baremetal", dict(
            name=name, role=node.get("role"), kind=node.get("kind"), macs=node.get("macs") or [], address=address,
            target_disk=node.get("target_disk"), provision_state=node["provision_state"],
            inspection=inspection_summary(node.get("inspection"))))

        strict = self.get_option("strict")
        hostvars = self.inventory.get_host(name).get_vars()
        self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
        hostvars = self.inventory.get_host(name).get_vars()
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
        # after compose, which may set other SSH options for some hosts (the lab's containers)
        if (self._known is not None and address not in self._known
                and hostvars.get("ansible_ssh_common_args") == self._ssh_args):
            display.warning("stackwright.cloud.overcloud: node %s (%s) is not in known_hosts_file %s: SSH will "
                            "refuse it until its host key is there" % (name, address,
                                                                       self.get_option("known_hosts_file")))
