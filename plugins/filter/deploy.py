# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The fingerprint of a deploy's inputs: what a re-run compares with the one the last
complete deploy recorded on each node (deploy_state)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

from ansible.errors import AnsibleFilterError

# Variables of Ansible's own that say how it runs, not what to deploy.
RUN_VARIABLES = frozenset((
    "ansible_check_mode", "ansible_config_file", "ansible_diff_mode", "ansible_facts", "ansible_forks",
    "ansible_inventory_sources", "ansible_limit", "ansible_play_batch", "ansible_play_hosts",
    "ansible_play_hosts_all", "ansible_play_name", "ansible_playbook_python", "ansible_run_tags",
    "ansible_skip_tags", "ansible_verbosity", "ansible_version", "groups", "inventory_dir", "inventory_file",
    "omit", "play_hosts", "playbook_dir", "role_names",
))
# The collection's code that decides what a deploy does.
CODE = ("galaxy.yml", "playbooks", "roles", "plugins", os.path.join("agent", "stackwright_agent"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def code_digest(root=ROOT):
    h = hashlib.sha256()
    for top in CODE:
        path = os.path.join(root, top)
        files = [path] if os.path.isfile(path) else sorted(
            os.path.join(d, f) for d, dirs, names in os.walk(path) for f in names
            if "__pycache__" not in d and not f.endswith(".pyc"))
        for name in files:
            h.update(os.path.relpath(name, root).encode() + b"\0")
            with open(name, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def deploy_inputs(hostvars, hosts, ignore=()):
    """A sha256 of the hosts' variables as written (before templating: secrets are
    hashed, never returned) and of the collection's code. IGNORE: variables that
    change how a run goes, not what it deploys."""
    if not hasattr(hostvars, "raw_get"):
        raise AnsibleFilterError("deploy_inputs: give it hostvars (hostvars | stackwright.cloud.deploy_inputs(hosts))")
    skip = RUN_VARIABLES | set(ignore)
    inputs = {}
    for host in sorted(hosts):
        raw = hostvars.raw_get(host)
        inputs[host] = {k: raw[k] for k in raw if k not in skip}
    data = json.dumps(inputs, sort_keys=True, default=repr)
    return hashlib.sha256((code_digest() + "\0" + data).encode()).hexdigest()


class FilterModule(object):
    def filters(self):
        return {"deploy_inputs": deploy_inputs}
