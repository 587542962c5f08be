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
from ansible.inventory.manager import InventoryManager
from ansible.plugins.loader import cache_loader
from ansible.vars.manager import VariableManager

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


def written_vars(hostvars, hosts):
    """Each host's variables as a run sees them before its first task: its inventory
    read again from the same sources (group and host vars, vars plugins) and the
    extra vars. Not what earlier plays of the same run left on the host (gathered
    facts, set_fact, register, include_vars, add_host's variables and groups): site.yml
    runs provision.yml first, and its deploy must see what deploy.yml alone sees."""
    try:
        loader, sources = hostvars._loader, hostvars._inventory._sources
    except AttributeError:
        raise AnsibleFilterError("deploy_inputs: give it hostvars (hostvars | stackwright.cloud.deploy_inputs(hosts))")
    inventory = InventoryManager(loader=loader, sources=sources)
    variables = VariableManager(loader=loader, inventory=inventory)
    # no facts either, not even from a persistent fact cache
    variables._fact_cache = cache_loader.get("ansible.builtin.memory")
    out = {}
    for name in hosts:
        host = inventory.get_host(name)
        if host is None:
            raise AnsibleFilterError("deploy_inputs: host %r is not in the inventory (%s); a host added by add_host "
                                     "cannot be deployed" % (name, ", ".join(map(str, sources))))
        out[name] = variables.get_vars(host=host, include_hostvars=False)
    return out


def fingerprint(variables, ignore=()):
    """A sha256 of {host: variables} (but for Ansible's own and IGNORE) and of the code."""
    skip = RUN_VARIABLES | set(ignore)
    inputs = {host: {k: v for k, v in raw.items() if k not in skip} for host, raw in variables.items()}
    data = json.dumps(inputs, sort_keys=True, default=repr)
    return hashlib.sha256((code_digest() + "\0" + data).encode()).hexdigest()


def deploy_inputs(hostvars, hosts, ignore=()):
    """A sha256 of the hosts' variables as written (inventory and extra vars, before
    templating: secrets are hashed, never returned) and of the collection's code.
    IGNORE: variables that change how a run goes, not what it deploys."""
    if not hasattr(hostvars, "raw_get"):
        raise AnsibleFilterError("deploy_inputs: give it hostvars (hostvars | stackwright.cloud.deploy_inputs(hosts))")
    return fingerprint(written_vars(hostvars, hosts), ignore)


class FilterModule(object):
    def filters(self):
        return {"deploy_inputs": deploy_inputs}
