#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_nodes_file
short_description: Read and validate the nodes file that lists the servers to enroll
version_added: 0.1.0
description:
  - Reads the nodes file an operator hands the undercloud - the servers to enroll, with their BMCs, MACs,
    root-device hints and optional static addresses - and returns its nodes in one normalized form.
  - "Reads three formats and tells them apart by their shape: the Stackwright format (C({nodes: [...]}) or a
    bare list of nodes), a TripleO C(instackenv.json) (nodes with C(pm_addr)/C(pm_type)) and a bifrost inventory
    (a mapping of node name to node, with C(driver_info))."
  - Validates everything before returning anything, and fails at the first problem with a message that names
    the node and the field as the file spells it (C(bmc.address), C(macs[1]), C(pm_addr),
    C(driver_info.ipmi_port)). Checks names (lowercase DNS labels, unique), roles, MACs (valid, on one node
    only), BMC endpoints (address and port, one node each, with user name and password; a node without a BMC
    must be pre-provisioned, with a static address), static addresses
    (a host address with its prefix length, the gateway inside that network, one node each) and root-device
    hints.
  - A BMC is IPMI or Redfish - C(bmc.driver=redfish) with C(bmc.address) a URL, C(bmc.system_id) and
    C(bmc.verify_ca); C(pm_type=redfish) with C(pm_system_id) in instackenv; C(driver=redfish) with
    C(driver_info.redfish_address), C(redfish_system_id), C(redfish_username), C(redfish_password) and
    C(redfish_verify_ca) in bifrost.
  - The Stackwright format refuses unknown keys and suggests the nearest known one. The instackenv and bifrost
    formats carry many keys this module does not use; those are ignored.
  - Never changes anything. BMC passwords are returned only with O(show_passwords).
options:
  path:
    description:
      - Path of the nodes file, YAML or JSON, on the host the task runs on (delegate the task to
        C(localhost) to read a file on the controller).
      - Exactly one of O(path) and O(data) is required.
    type: path
  data:
    description:
      - The nodes document itself, as a mapping or list, or as YAML or JSON text.
      - Exactly one of O(path) and O(data) is required.
    type: raw
  roles:
    description:
      - Roles a node may have. A node without a role gets C(Compute), which must then be among them.
      - "TripleO profiles (C(capabilities: profile:...)) and bifrost host groups (the first one other than
        C(baremetal)) map to roles: C(control) to C(Controller), C(compute) to C(Compute), C(block-storage)
        and C(storage) to C(BlockStorage), a name equal to an allowed role but for case and hyphens to
        that role, anything else to the name in CamelCase."
      - Unset means C(Controller), C(Compute), C(BlockStorage) and C(AllInOne).
    type: list
    elements: str
  show_passwords:
    description:
      - Return the BMC passwords, for the tasks that enroll the nodes and drive their BMCs.
      - Set C(no_log) on the task, and on every task that passes the nodes on.
    type: bool
    default: false
notes:
  - "The Stackwright format, one node: C(name), C(role) (default C(Compute)), C(kind) (C(baremetal), the default,
    C(vm) or C(container)), C(bmc) (C(address), C(port) default 623, C(username), C(password)), C(macs),
    C(root_device) (hints C(name), C(model), C(vendor), C(serial), C(size), C(wwn), C(wwn_with_extension),
    C(wwn_vendor_extension), C(rotational), C(hctl), C(by_path)), C(network) (C(address) as a CIDR, C(gateway),
    C(dns), C(interface_mac)) and C(properties) (C(cpus), C(memory_mb), C(local_gb))."
  - "A node without C(bmc) is pre-provisioned (a deployed server that the undercloud neither powers nor PXE-boots:
    it reaches it at its static address). It needs C(network.address), and C(macs) is optional for it. A
    C(container) node is always pre-provisioned: it has no C(bmc) and needs C(network.address)."
  - In YAML, quote passwords, serial numbers and WWNs that are made of digits, and MACs made only of digits
    and colons; unquoted, YAML reads them as numbers and the module refuses them.
  - With O(data), the BMC passwords are part of the module's arguments, which Ansible logs on the host the
    task runs on unless the task sets C(no_log). Prefer O(path). The arguments echoed in the result
    (C(invocation)) have every C(*password*) key masked.
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
    description: Any host with Python; the file is read on the host the task runs on.
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Read the nodes file on the undercloud
  stackwright.cloud.baremetal_nodes_file:
    path: /home/stack/nodes.yml
  register: nodes_file

- name: Show what would be enrolled
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.role }}) BMC {{ item.bmc.address }}:{{ item.bmc.port }}"
  loop: "{{ nodes_file.nodes }}"
  loop_control:
    label: "{{ item.name }}"

- name: Validate a TripleO instackenv.json kept beside the playbooks
  stackwright.cloud.baremetal_nodes_file:
    path: "{{ playbook_dir }}/files/instackenv.json"
    roles: [Controller, Compute, BlockStorage, Networker]
  delegate_to: localhost

- name: Validate nodes given inline
  stackwright.cloud.baremetal_nodes_file:
    data:
      nodes:
        - name: compute-0
          bmc: {address: 192.0.2.20, username: admin, password: "{{ vault_bmc_password }}"}
          macs: ["52:54:00:aa:00:01"]
        - name: ctl-0
          role: Controller
          kind: container
          network: {address: 192.0.2.10/24, gateway: 192.0.2.1, dns: [192.0.2.1]}
        - name: storage-0
          role: BlockStorage
          # no bmc: a server installed by other means (pre-provisioned), reached at its address
          network: {address: 192.0.2.11/24}
  no_log: true
"""

RETURN = r"""
nodes:
  description: The nodes, normalized, in the order of the file. Every BMC password is replaced by C(********).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Node name, a lowercase DNS label.
      type: str
      sample: compute-0
    role:
      description: The node's role.
      type: str
      sample: Compute
    kind:
      description: C(baremetal), C(vm) or C(container) (always pre-provisioned, no BMC).
      type: str
      sample: baremetal
    bmc:
      description: The BMC, null for a pre-provisioned node (one without a BMC, such as a C(container) node).
      type: dict
      contains:
        driver:
          description: Always C(ipmi).
          type: str
          sample: ipmi
        address:
          description: IP address or host name.
          type: str
          sample: 192.0.2.20
        port:
          description: UDP port.
          type: int
          sample: 623
        username:
          description: User name.
          type: str
          sample: admin
        password:
          description: C(********), unless O(show_passwords) is set.
          type: str
          sample: "********"
    macs:
      description: MAC addresses, lowercase with colons; may be empty for a pre-provisioned node.
      type: list
      elements: str
      sample: ["52:54:00:aa:00:01"]
    root_device:
      description: Root-device hints, empty when none.
      type: dict
      sample: {size: ">= 100", rotational: false}
    network:
      description: Static addressing, null when none.
      type: dict
      contains:
        address:
          description: Address with prefix length.
          type: str
          sample: 192.0.2.10/24
        gateway:
          description: Default gateway, or null.
          type: str
          sample: 192.0.2.1
        dns:
          description: DNS servers.
          type: list
          elements: str
          sample: [192.0.2.1]
        interface_mac:
          description: MAC of the interface that gets the address, or null.
          type: str
          sample: "52:54:00:aa:00:01"
    properties:
      description: C(cpus), C(memory_mb) and C(local_gb), each null when the file does not give it.
      type: dict
      sample: {cpus: 8, memory_mb: 16384, local_gb: 100}
count:
  description: Number of nodes.
  returned: success
  type: int
  sample: 3
format:
  description: The format the file was read as - C(native), C(instackenv) or C(bifrost).
  returned: success
  type: str
  sample: instackenv
node:
  description: On failure, the node at fault (its name, or C(nodes[N]) when it has no usable name); null when the
    problem is not in one node.
  returned: failure
  type: str
  sample: compute-0
field:
  description: On failure, the offending field as the file spells it; null when there is none.
  returned: failure
  type: str
  sample: bmc.address
"""

import json
import os

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core, but maybe not on the managed node
    yaml = None

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.stackwright.cloud.plugins.module_utils.nodes_file import (
    PASSWORD_MASK,
    NodesFileError,
    detect_format,
    load_nodes,
    mask_passwords,
)


def _mask_secrets(value):
    """The module's arguments as the result may echo them: every *password* key masked."""
    if isinstance(value, dict):
        return dict((k, PASSWORD_MASK if "password" in str(k).lower() and v is not None else _mask_secrets(v))
                    for k, v in value.items())
    if isinstance(value, list):
        return [_mask_secrets(v) for v in value]
    return value


_NO_YAML = "PyYAML is needed"


def _read(path):
    """(text, None) or (None, message)."""
    if not os.path.exists(path):
        return None, "%s: no such file" % path
    if not os.path.isfile(path):
        return None, "%s: not a file" % path
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except (IOError, OSError) as exc:
        return None, "%s: cannot be read: %s" % (path, exc.strerror or exc)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "%s: is not UTF-8 text" % path


def _parse(text, source):
    """(document, None) or (None, message). The message never quotes the file's lines: they may hold passwords."""
    try:
        return json.loads(text), None
    except ValueError:
        pass
    if yaml is None:
        return None, _NO_YAML
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " (line %d, column %d)" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        what = getattr(exc, "problem", None) or "not valid YAML or JSON"
        return None, "%s: cannot be parsed%s: %s" % (source, where, what)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            data=dict(type="raw"),
            roles=dict(type="list", elements="str"),
            show_passwords=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("path", "data")],
        required_one_of=[("path", "data")],
        supports_check_mode=True,
    )
    p = module.params
    invocation = dict(module_args=_mask_secrets(p))

    def fail(msg, node=None, field=None):
        module.fail_json(msg=msg, node=node, field=field, invocation=invocation)

    if p["path"] is not None:
        source = p["path"]
        text, error = _read(source)
        if error is None:
            data, error = _parse(text, source)
    else:
        source = "data"
        data, error = p["data"], None
        if isinstance(data, str):
            data, error = _parse(data, source)
    if error == _NO_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), node=None, field=None, invocation=invocation)
    if error:
        fail(error, field="path" if p["path"] is not None else "data")

    # fail_json is called outside the except block: a pending exception would be reported as a crash.
    problem = None
    try:
        fmt = detect_format(data, source)
        nodes = load_nodes(data, source, roles=p["roles"])
    except NodesFileError as exc:
        problem = exc
    if problem is not None:
        fail(problem.message, problem.node, problem.field)
    if not p["show_passwords"]:
        nodes = mask_passwords(nodes)
    module.exit_json(changed=False, nodes=nodes, count=len(nodes), format=fmt, invocation=invocation)


if __name__ == "__main__":
    main()
