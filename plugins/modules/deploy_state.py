#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: deploy_state
short_description: Whether a node is still as the last complete deploy left it
version_added: 0.1.0
description:
  - A node keeps what Stackwright manages on it (in C(/var/lib/stackwright/node-state)) - the files
    M(stackwright.cloud.config_files) wrote, the states M(stackwright.cloud.systemd_units) brought units to - and
    the fingerprint of the last deploy that completed on it, with a digest of its installed packages.
  - O(state=check) tells, in one module run, whether the node is converged - the same fingerprint, the same
    packages, every managed file with its content, owner, group and mode, every managed unit in its state - and if
    not, why. It changes nothing. A deploy whose nodes are all converged has nothing to do (see the operator's
    guide, "A no-change re-run").
  - O(state=present) records the fingerprint at the end of a complete deploy; O(state=absent) forgets it.
  - M(stackwright.cloud.config_files) and M(stackwright.cloud.systemd_units) forget it themselves as soon as they
    change something, so a deploy that stopped half-way is never taken for a complete one.
options:
  state:
    description: Check the node, record a completed deploy, or forget it.
    type: str
    choices: [check, present, absent]
    default: check
  fingerprint:
    description: The deploy's inputs (P(stackwright.cloud.deploy_inputs#filter)); needed with O(state=check) and
      O(state=present).
    type: str
author:
  - Stackwright contributors (@stackwright)
notes:
  - Only what is recorded is checked. Drift of what lives in the cloud's databases (a Keystone endpoint deleted by
    hand, say) is repaired by a full run, C(-e overcloud_fast_rerun=false).
"""
EXAMPLES = r"""
- name: Is this node as the last deploy left it?
  stackwright.cloud.deploy_state:
    fingerprint: "{{ overcloud_deploy_fingerprint }}"
  register: node_state

- name: Record the completed deploy
  stackwright.cloud.deploy_state:
    state: present
    fingerprint: "{{ overcloud_deploy_fingerprint }}"
"""
RETURN = r"""
converged:
  description: With O(state=check), whether nothing differs from the last complete deploy with this fingerprint.
  type: bool
  returned: always
  sample: false
reasons:
  description: With O(state=check), what differs (at most 20 listed).
  type: list
  elements: str
  returned: always
  sample: ["/etc/nova/nova.conf: content differs", "nova-compute.service: needs start"]
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils import node_state
from ansible_collections.stackwright.cloud.plugins.module_utils.systemd import read, wanted_actions


def file_drift(path, wanted):
    """What differs of one managed file, or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return "%s: missing" % path
    if not stat.S_ISREG(st.st_mode):
        return "%s: not a regular file" % path
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (wanted["uid"], wanted["gid"], wanted["mode"]):
        return "%s: owner, group or mode differs" % path
    if node_state.sha256_file(path) != wanted["sha256"]:
        return "%s: content differs" % path
    return None


def check(module, fingerprint):
    deployed = node_state.read_deployed()
    if deployed is None:
        return ["no complete deploy recorded on this node"]
    if deployed.get("fingerprint") != fingerprint:
        return ["the deploy's inputs changed since the last complete deploy"]
    if deployed.get("packages") != node_state.packages_digest():
        return ["packages were installed, removed or upgraded since the last complete deploy"]
    managed = node_state.read_managed()
    reasons = [r for r in (file_drift(p, w) for p, w in sorted(managed["files"].items())) if r]
    names = sorted(managed["units"])
    if names:
        for name, unit in zip(names, read(module, names)):
            wanted = dict(dict(state=None, enabled=None, masked=None), **managed["units"][name])
            actions = wanted_actions(wanted, unit)
            if actions:
                reasons.append("%s: needs %s" % (name, ", ".join(actions)))
    return reasons


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["check", "present", "absent"], default="check"),
            fingerprint=dict(type="str"),
        ),
        required_if=[("state", "check", ["fingerprint"]), ("state", "present", ["fingerprint"])],
        supports_check_mode=True,
    )
    state, fingerprint = module.params["state"], module.params["fingerprint"]
    if state == "check":
        reasons = check(module, fingerprint)
        module.exit_json(changed=False, converged=not reasons, reasons=reasons[:20])
    if state == "absent":
        module.exit_json(changed=node_state.forget_deployed(check=module.check_mode), converged=False, reasons=[])
    module.exit_json(changed=node_state.record_deployed(fingerprint, check=module.check_mode), converged=True,
                     reasons=[])


if __name__ == "__main__":
    main()
