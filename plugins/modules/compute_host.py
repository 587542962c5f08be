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
  - With O(state=disabled) - the host's nova-compute service is disabled with O(reason) (the scheduler places nothing
    new there; its instances stay), as a deploy does for a compute host it set aside. A service already disabled, with
    whatever reason, is left as it is, and so is a host Nova does not know.
  - A host Nova and Neutron no longer know changes nothing, so a repeated run reports no change.
  - Check mode predicts the change without making it - the moves, what would stay and fail the drain, the records
    Nova would delete with the service - and C(--diff) shows the service, instances, resource providers and network
    agents before and after.
options:
  host: {description: The compute host (its nova-compute service's host name)., type: str, required: true}
  state: {description: What to make of the host., type: str, choices: [drained, absent, enabled, disabled], required: true}
  reason:
    description: Why the service is disabled (shown in the compute service list); with O(state=enabled), the reason of
      the disables to undo.
    type: str
    default: scale-in
  force: {description: Delete the instances that cannot be moved instead of failing., type: bool, default: false}
  timeout: {description: Seconds the moves and deletions may take together., type: int, default: 900}
extends_documentation_fragment:
  - stackwright.cloud.openstack_api
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

- name: Keep the scheduler off compute1, its instances where they are
  stackwright.cloud.compute_host:
    auth: {auth_url: "http://172.16.2.10:5000", password: "{{ admin_password }}"}
    host: compute1
    state: disabled
    reason: set aside by a failed deploy
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

from ansible_collections.stackwright.cloud.plugins.module_utils.openstack_api import OpenStackApiModule

POLL = 5
# what a drain moves: running or paused instances live, shut-off ones cold
LIVE = ("ACTIVE", "PAUSED")
COLD = ("SHUTOFF",)
MOVING = ("MIGRATING", "RESIZE", "VERIFY_RESIZE")


def summary(server):
    return dict(id=server.id, name=server.name, status=server.status)


def service_view(service):
    if service is None:
        return None
    return dict(id=service.id, status=service.status, state=service.state, disabled_reason=service.disabled_reason)


class ComputeHost(OpenStackApiModule):
    argument_spec = dict(
        host=dict(type="str", required=True),
        state=dict(type="str", choices=["drained", "absent", "enabled", "disabled"], required=True),
        reason=dict(type="str", default="scale-in"),
        force=dict(type="bool", default=False),
        timeout=dict(type="int", default=900),
    )

    def validate(self):
        super(ComputeHost, self).validate()
        self.check_not_empty("host", self.params["host"])
        if self.params["state"] != "absent":  # the only state that does not use it
            self.check_not_empty("reason", self.params["reason"])
        if self.params["timeout"] <= 0:
            self.fail("must be a positive number of seconds, not %d" % self.params["timeout"], "timeout")

    def describe_sdk_error(self, exc):
        return "%s: %s" % (self.params["host"], exc)

    def run(self):
        self.host = self.params["host"]
        self.services = list(self.conn.compute.services(binary="nova-compute"))
        self.service = next((s for s in self.services if s.host == self.host), None)
        self._provider_names = None
        self.result.update(instances=[], service=service_view(self.service))
        self.before["service"] = self.after["service"] = service_view(self.service)
        super(ComputeHost, self).run()

    # -- the states -----------------------------------------------------------------
    def state_enabled(self):
        s, reason = self.service, self.params["reason"]
        if s is not None and s.status == "disabled" and s.disabled_reason == reason:
            if self.act("enable nova-compute on %s (disabled: %s)" % (self.host, reason)):
                self.conn.compute.enable_service(s, host=self.host, binary="nova-compute")
            self.after["service"] = dict(self.after["service"], status="enabled", disabled_reason=None)

    def state_disabled(self):
        if self.service is not None and self.service.status != "disabled":
            self.disable()

    def state_drained(self):
        servers = self.instances()
        deadline = time.time() + self.params["timeout"]
        self.disable()
        targets = [s.host for s in self.services if s.host != self.host and s.status == "enabled" and s.state == "up"]
        left = self.move(servers, targets, deadline)
        if left and not self.params["force"]:
            self.fail("%s still hosts %d instance(s): %s. %s; or run again with -e scale_in_force=true to delete "
                      "them" % (self.host, len(left), ", ".join("%s (%s, %s)" % (s.name, s.id, s.status) for s in left),
                                "Their moves to %s did not finish: see nova's instance actions" % ", ".join(targets)
                                if targets else "No other enabled compute host is up to move them to: add one "
                                "(playbooks/scale.yml), or migrate or delete them yourself"))
        self.delete_instances(left, deadline)
        self.after["instances"] = []

    def state_absent(self):
        servers = self.instances()
        providers = self.providers()
        agents = list(self.conn.network.agents(host=self.host))
        self.before.update(resource_providers=[rp.name for rp in providers],
                           network_agents=["%s (%s)" % (a.agent_type, a.id) for a in agents])
        if self.service is not None:
            if servers:
                self.fail("%s still hosts instance(s) %s: drain it first (state=drained)" % (
                    self.host, ", ".join(s.id for s in servers)))
            if self.act("delete the nova-compute service of %s" % self.host):
                self.conn.compute.delete_service(self.service)
                providers = self.providers()
            else:
                providers = []  # Nova deletes them with the service
            self.after["service"] = None
        # a provider Nova left behind (a failed call) goes here
        for rp in providers:
            if self.act("delete resource provider %s (%s)" % (rp.name, rp.id)):
                self.conn.placement.delete_resource_provider(rp)
        for agent in agents:
            if self.act("delete network agent %s (%s)" % (agent.agent_type, agent.id)):
                self.conn.network.delete_agent(agent)
        self.after.update(instances=[], resource_providers=[], network_agents=[])

    # -- the parts --------------------------------------------------------------------
    def on_host(self):
        # compute_host, not host: the SDK sends both as ?host=, but also filters on its own what
        # comes back by a "host" field that Nova's listing does not have (so nothing matched)
        return list(self.conn.compute.servers(all_projects=True, compute_host=self.host))

    def instances(self):
        servers = self.on_host()
        self.result["instances"] = [summary(s) for s in servers]
        self.before["instances"] = [summary(s) for s in servers]
        return servers

    def disable(self):
        s, reason = self.service, self.params["reason"]
        if s is not None and (s.status != "disabled" or s.disabled_reason != reason):
            if self.act("disable nova-compute on %s (%s)" % (self.host, reason)):
                self.conn.compute.disable_service(s, host=self.host, binary="nova-compute", disabled_reason=reason)
            self.after["service"] = dict(self.after["service"], status="disabled", disabled_reason=reason)

    def move(self, servers, targets, deadline):
        """Starts the moves and waits for them; returns the instances that stay (in check mode,
        those that would: every one with nowhere to go, and those in a state no move takes)."""
        movable = [s for s in servers if targets and s.status in LIVE + COLD]
        for server in movable:
            if server.status in LIVE:
                if self.act("live-migrate %s (%s)" % (server.name, server.id)):
                    self.conn.compute.live_migrate_server(server, block_migration="auto")
            elif self.act("migrate %s (%s), shut off" % (server.name, server.id)):
                self.conn.compute.migrate_server(server)
        if self.check_mode:
            return [s for s in servers if s not in movable]
        while movable and time.time() < deadline:
            moving = self.on_host()
            for server in moving:
                if server.status == "VERIFY_RESIZE":
                    self.conn.compute.confirm_server_resize(server)
            # a move that failed leaves the instance here with no task: stop waiting for it
            if all(s.status not in MOVING and not s.task_state for s in moving):
                break
            time.sleep(POLL)
        return self.on_host() if servers else []

    def delete_instances(self, servers, deadline):
        for server in servers:
            if self.act("delete instance %s (%s, %s): forced" % (server.name, server.id, server.status)):
                self.conn.compute.delete_server(server, force=True)
        left = [] if self.check_mode else servers
        while left and time.time() < deadline:
            left = self.on_host()
            time.sleep(POLL if left else 0)
        if left:
            self.fail("%s: instances not deleted within %ds: %s" % (self.host, self.params["timeout"], ", ".join(
                s.id for s in left)))

    def providers(self):
        """The host's resource providers: named after its hypervisors, which may differ from
        the service's host (asked once: the listing loses them with the service)."""
        if self._provider_names is None:
            self._provider_names = {self.host}
            if self.service is not None:
                # below 2.88: from 2.88 the listing asks each nova-compute (this one stopped) for its uptime
                listing = self.conn.compute.get("/os-hypervisors/detail", microversion="2.53")
                self.raise_for(listing)
                self._provider_names.update(h["hypervisor_hostname"] for h in listing.json()["hypervisors"]
                                            if (h.get("service") or {}).get("host") == self.host)
        return [rp for name in sorted(self._provider_names) for rp in self.conn.placement.resource_providers(name=name)]


def main():
    ComputeHost().execute()


if __name__ == "__main__":
    main()
