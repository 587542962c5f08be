#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: systemd_units
short_description: Bring several systemd units to one wanted state in a single call
version_added: 0.1.0
description:
  - Reads the state of every unit in O(names) with one C(systemctl show), then makes only the changes needed - in
    this order - unmask, mask, enable or disable (each one C(systemctl) call for all the units that need it), then
    start, stop, restart or reload, one unit after the other in the order of O(names).
  - The same wanted state as M(ansible.builtin.systemd_service) gives one unit, for a list of units at the price
    of one module run. That matters where a module run is dear (a node under emulation pays seconds for each),
    and a no-change run then costs one C(systemctl show) per task.
  - A unit that is not installed can be masked and is left alone by O(state=stopped) and O(enabled=false); to
    enable, start, restart or reload it is an error that names it, before anything changes.
  - Check mode predicts the changes without making them; with diff mode, each changed unit's C(load, active, file)
    state before and after.
options:
  names:
    description: The units (C(nova-api) means C(nova-api.service)). An empty list changes nothing.
    type: list
    elements: str
    required: true
  state:
    description:
      - What the units should be doing. V(started) and V(stopped) change only the units not yet so; V(restarted)
        restarts every unit (a stopped one starts); V(reloaded) reloads the running ones and starts the others.
      - Unset leaves whether they run alone.
    type: str
    choices: [started, stopped, restarted, reloaded]
  enabled:
    description:
      - Whether the units start at boot. A static, indirect or generated unit counts as enabled (C(systemctl
        is-enabled) says so). Unset leaves it alone.
    type: bool
  restart:
    description:
      - Of O(names), the units to restart rather than only start, with O(state=started) - typically the
        C(restarts) of M(stackwright.cloud.config_files), the units whose files changed. A stopped one starts.
      - Units not in O(names) are left to the task that names them (one file can concern units started at different
        points of a role).
    type: list
    elements: str
    default: []
  masked:
    description:
      - Whether the units are masked (linked to C(/dev/null), so nothing can start them; they are masked even when not
        installed). Unset leaves it alone. Not with O(enabled=true).
    type: bool
author:
  - Stackwright contributors (@stackwright)
notes:
  - The units are the system manager's where systemd is the host's init. Elsewhere (a container, a CI runner) the
    same unit files are run by Stackwright's supervisor - C(ExecStart) detached, restarted as C(Restart=) says, its
    output in C(/var/log/stackwright/<unit>.log) - so a role has one way to run a service; such units read as
    C(static) (nothing starts at boot) and cannot be masked.
"""

EXAMPLES = r"""
- name: Start the API's units (restart them when their configuration changed)
  stackwright.cloud.systemd_units:
    names: [nova-api, nova-scheduler, nova-conductor]
    enabled: true
    masked: false
    state: "{{ 'restarted' if nova_config is changed else 'started' }}"

- name: Start Placement, restart it when one of its files changed
  stackwright.cloud.systemd_units:
    names: [placement-api]
    enabled: true
    state: started
    restart: "{{ placement_files.restarts }}"

- name: Mask and stop what this node must not run
  stackwright.cloud.systemd_units:
    names: [mariadb.service, rabbitmq-server.service]
    masked: true
    state: stopped
"""

RETURN = r"""
units:
  description: Each unit's state before the change (C(load), C(active), C(file) - systemd's LoadState, ActiveState and
    UnitFileState) and the C(actions) taken on it (in check mode, the ones that would be).
  type: dict
  returned: always
  sample:
    nova-api.service:
      load: loaded
      active: inactive
      file: enabled
      actions: [start]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.stackwright.cloud.plugins.module_utils import node_state
from ansible_collections.stackwright.cloud.plugins.module_utils.systemd import act, read, unit_name, wanted_actions


def predicted(unit):
    """The unit's state once its actions are done (what diff mode shows as after)."""
    after = dict(unit)
    for action in unit["actions"]:
        if action == "mask":
            after.update(load="masked", file="masked")
        elif action == "unmask":
            after.update(load="loaded", file="disabled")
        elif action in ("enable", "disable"):
            after["file"] = action + "d"
        else:
            after["active"] = "inactive" if action == "stop" else "active"
    return after


def describe(units, when):
    return "".join("%s: %s, %s, %s\n" % (n, u["load"], u["active"], u["file"] or "-")
                   for n, u in ((n, when(u)) for n, u in units.items()))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["started", "stopped", "restarted", "reloaded"]),
            enabled=dict(type="bool"),
            masked=dict(type="bool"),
            restart=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["masked"] is True and p["enabled"] is True:
        module.fail_json(msg="masked=true and enabled=true: a masked unit cannot be enabled; set one of them")
    if p["masked"] is True and p["state"] in ("started", "restarted", "reloaded"):
        module.fail_json(msg="masked=true and state=%s: a masked unit cannot run; use state=stopped" % p["state"])
    names = list(dict.fromkeys(unit_name(n) for n in p["names"]))
    restart = set(unit_name(n) for n in p["restart"])
    if restart and p["state"] != "started":
        module.fail_json(msg="restart is for state=started (the units to restart of those started), not state=%s"
                         % p["state"])
    units = {}
    if names:
        for name, unit in zip(names, read(module, names)):
            unit["actions"] = wanted_actions(p, unit, name in restart)
            units[name] = unit
    missing = sorted(n for n, u in units.items() if u["load"] == "not-found"
                     and set(u["actions"]) & {"enable", "start", "restart", "reload"})
    if missing:
        module.fail_json(msg="no such unit on this node: %s (is its package installed?)" % ", ".join(missing),
                         units=units)

    changed = any(u["actions"] for u in units.values())
    result = dict(changed=changed, units=units)
    if module._diff and changed:
        acting = {n: u for n, u in units.items() if u["actions"]}
        result["diff"] = dict(before=describe(acting, dict), after=describe(acting, predicted))
    if module.check_mode:
        module.exit_json(**result)
    # what a later deploy_state checks these units against
    wanted = dict((k, "started" if k == "state" and v != "stopped" else v)
                  for k, v in p.items() if k in ("state", "enabled", "masked") and v is not None)
    node_state.record(units=dict((n, wanted) for n in units), changed=changed)
    if not changed:
        module.exit_json(**result)

    # Unit files change for all the units at once; jobs run one unit after the other, in
    # the order given, as a loop of systemd_service did: restarted in one call,
    # nova-conductor and nova-scheduler once left nova-scheduler failed to start.
    calls = [(a, [n for n, u in units.items() if a in u["actions"]]) for a in ("unmask", "mask", "enable", "disable")]
    calls += [(a, [n]) for n, u in units.items() for a in u["actions"] if a in ("start", "stop", "restart", "reload")]
    for action, todo in calls:
        if not todo:
            continue
        failure = act(module, action, todo)
        if failure:
            module.fail_json(msg=failure, units=units)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
