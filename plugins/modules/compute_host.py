#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: compute_host
short_description: Take a compute host out of the overcloud - disable and drain it, then delete its records - or back
version_added: 0.1.0
description:
  - With O(state=drained) - the host's nova-compute service is disabled with O(reason) (the scheduler places
    nothing new there), and its instances are moved to the other enabled compute hosts (live migration for running
    or paused ones, a cold migration, confirmed, for shut-off ones). Instances that cannot move (no other enabled
    compute host, a failed move) stop the module with their list, unless O(force) deletes them.
  - With O(state=absent) - the host's nova-compute service record is deleted (Nova then deletes its compute node,
    its cell host mapping and its Placement resource provider; a provider Nova leaves behind is deleted here), and
    so are the host's Neutron agents (with ML2/OVN, its OVN chassis). Stop the host's nova-compute and
    ovn-controller first, or they register themselves again.
  - With O(state=enabled) - the host's nova-compute service is enabled again if it was disabled with O(reason), as a
    scale-in that stopped after its drain leaves it. A service disabled with another reason (an operator's own) is left
    as it is, and so is a host Nova does not know (yet).
  - A host Nova and Neutron no longer know changes nothing, so a repeated run reports no change.
  - Check mode predicts the change without making it.
requirements:
  - openstacksdk on the host that runs it
options:
  auth:
    description:
      - "The admin's credentials, C({auth_url, password}) (Keystone v3 without C(/v3), domain Default), with
        optional C(username) and C(project_name) (both C(admin) unless given)."
    type: dict
    required: true
  region: {description: Region of the endpoints., type: str, default: RegionOne}
  interface:
    description: Which endpoints to talk to.
    type: str
    choices: [public, internal, admin]
    default: internal
  host: {description: The compute host (its nova-compute service's host name)., type: str, required: true}
  state: {description: What to make of the host., type: str, choices: [drained, absent, enabled], required: true}
  reason:
    description: Why the service is disabled (shown in the compute service list); with O(state=enabled), the reason of
      the disables to undo.
    type: str
    default: scale-in
  force: {description: Delete the instances that cannot be moved instead of failing., type: bool, default: false}
  timeout: {description: Seconds the moves and deletions may take together., type: int, default: 900}
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Disable compute1's nova-compute and move its instances to the other compute hosts
  stackwright.cloud.compute_host:
    auth: {auth_url: "http://172.16.2.10:5000", password: "{{ admin_password }}"}
    host: compute1
    state: drained
  no_log: true

- name: Put compute1 back in service after a scale-in that stopped after its drain
  stackwright.cloud.compute_host:
    auth: {auth_url: "http://172.16.2.10:5000", password: "{{ admin_password }}"}
    host: compute1
    state: enabled
  no_log: true

- name: Delete compute1's compute service, resource provider and network agents
  stackwright.cloud.compute_host:
    auth: {auth_url: "http://172.16.2.10:5000", password: "{{ admin_password }}"}
    host: compute1
    state: absent
  no_log: true
"""

RETURN = r"""
actions: {description: "What was done (in check mode: what would be).", type: list, elements: str, returned: always}
instances:
  description: The host's instances when the module started (C(id), C(name), C(status)).
  type: list
  elements: dict
  returned: always
service: {description: The host's nova-compute service before the change (none when Nova has none)., type: dict,
          returned: always}
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import openstack
    SDK_ERROR = None
except ImportError:
    SDK_ERROR = traceback.format_exc()

POLL = 5


def summary(server):
    return dict(id=server.id, name=server.name, status=server.status)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # auth_url, password (username and project_name: admin); all of it kept out of logs
            auth=dict(type="dict", required=True, no_log=True),
            region=dict(type="str", default="RegionOne"),
            interface=dict(type="str", choices=["public", "internal", "admin"], default="internal"),
            host=dict(type="str", required=True),
            state=dict(type="str", choices=["drained", "absent", "enabled"], required=True),
            reason=dict(type="str", default="scale-in"),
            force=dict(type="bool", default=False),
            timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    if SDK_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_ERROR)
    p = module.params
    host = p["host"]
    check = module.check_mode
    actions = []
    result = dict(changed=False, actions=actions, instances=[], service=None)

    def act(what):
        actions.append(what)
        result["changed"] = True
        return not check

    def fail(msg):
        module.fail_json(msg=msg, **result)

    def on_host():
        return list(conn.compute.servers(all_projects=True, host=host))

    try:
        auth = dict(dict(username="admin", project_name="admin"), **p["auth"])
        conn = openstack.connect(auth=dict(auth, user_domain_id="default", project_domain_id="default"),
                                 region_name=p["region"], interface=p["interface"],
                                 load_yaml_config=False, load_envvars=False)
        services = list(conn.compute.services(binary="nova-compute"))
        mine = next((s for s in services if s.host == host), None)
        if mine is not None:
            result["service"] = dict(id=mine.id, status=mine.status, state=mine.state,
                                     disabled_reason=mine.disabled_reason)
        if p["state"] == "enabled":
            if mine is not None and mine.status == "disabled" and mine.disabled_reason == p["reason"]:
                if act("enable nova-compute on %s (disabled: %s)" % (host, p["reason"])):
                    conn.compute.enable_service(mine, host=host, binary="nova-compute")
            module.exit_json(**result)
        servers = on_host()
        result["instances"] = [summary(s) for s in servers]
        deadline = time.time() + p["timeout"]

        if p["state"] == "drained":
            if mine is not None and (mine.status != "disabled" or mine.disabled_reason != p["reason"]):
                if act("disable nova-compute on %s (%s)" % (host, p["reason"])):
                    conn.compute.disable_service(mine, host=host, binary="nova-compute",
                                                 disabled_reason=p["reason"])
            targets = [s.host for s in services if s.host != host and s.status == "enabled" and s.state == "up"]
            if servers and targets:
                for server in servers:
                    if server.status in ("ACTIVE", "PAUSED"):
                        if act("live-migrate %s (%s)" % (server.name, server.id)):
                            conn.compute.live_migrate_server(server, block_migration="auto")
                    elif server.status == "SHUTOFF":
                        if act("migrate %s (%s), shut off" % (server.name, server.id)):
                            conn.compute.migrate_server(server)
                while not check and time.time() < deadline:
                    moving = on_host()
                    for server in moving:
                        if server.status == "VERIFY_RESIZE":
                            conn.compute.confirm_server_resize(server)
                    # a move that failed leaves the instance here with no task: stop waiting for it
                    if all(s.status not in ("MIGRATING", "RESIZE", "VERIFY_RESIZE") and not s.task_state
                           for s in moving):
                        break
                    time.sleep(POLL)
            left = servers if check else on_host()
            if left and not p["force"]:
                fail("%s still hosts %d instance(s): %s. %s; or run again with -e scale_in_force=true to delete "
                     "them" % (host, len(left), ", ".join("%s (%s, %s)" % (s.name, s.id, s.status) for s in left),
                               "Their moves to %s did not finish: see nova's instance actions" % ", ".join(targets)
                               if targets else "No other enabled compute host is up to move them to: add one "
                               "(playbooks/scale.yml), or migrate or delete them yourself"))
            for server in left:
                if act("delete instance %s (%s, %s): forced" % (server.name, server.id, server.status)):
                    conn.compute.delete_server(server, force=True)
            while left and not check and time.time() < deadline:
                left = on_host()
                time.sleep(POLL if left else 0)
            if left and not check:
                fail("%s: instances not deleted within %ds: %s" % (host, p["timeout"], ", ".join(
                    s.id for s in left)))

        else:
            # the provider is named after the hypervisor, which may differ from the service's host
            names = {host}
            if mine is not None:
                # below 2.88: from 2.88 the listing asks each nova-compute (this one stopped) for its uptime
                listing = conn.compute.get("/os-hypervisors/detail", microversion="2.53")
                openstack.exceptions.raise_from_response(listing)
                names.update(h["hypervisor_hostname"] for h in listing.json()["hypervisors"]
                             if (h.get("service") or {}).get("host") == host)
            if mine is not None:
                if servers:
                    fail("%s still hosts instance(s) %s: drain it first (state=drained)" % (
                        host, ", ".join(s.id for s in servers)))
                if act("delete the nova-compute service of %s" % host):
                    conn.compute.delete_service(mine)
            # Nova deletes the provider with the service; one left behind (a failed call) goes here
            for name in sorted(names):
                for rp in conn.placement.resource_providers(name=name):
                    if act("delete resource provider %s (%s)" % (rp.name, rp.id)):
                        conn.placement.delete_resource_provider(rp)
            for agent in conn.network.agents(host=host):
                if act("delete network agent %s (%s)" % (agent.agent_type, agent.id)):
                    conn.network.delete_agent(agent)
    except openstack.exceptions.SDKException as exc:
        fail("%s: %s" % (host, exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
