# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state of systemd units, read in one call, and the changes a unit needs to reach a
wanted state: systemd_units makes them, deploy_state asks whether any is needed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# What `systemctl is-enabled` answers with exit status 0.
ENABLED = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient")
RUNNING = ("active", "activating", "reloading")


def unit_name(name):
    return name if "." in name.rsplit("/", 1)[-1] else name + ".service"


def show(module, systemctl, units):
    """LoadState, ActiveState and UnitFileState of each unit, in order (systemctl
    prints one block per unit, in the order asked)."""
    rc, out, err = module.run_command([systemctl, "show", "--property=LoadState,ActiveState,UnitFileState", "--"]
                                      + units)
    if rc != 0:
        module.fail_json(msg="systemctl show failed: %s" % (err.strip() or out.strip()), rc=rc)
    blocks, current = [], {}
    for line in out.splitlines() + [""]:
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    if len(blocks) != len(units):
        module.fail_json(msg="systemctl show answered for %d units, not %d" % (len(blocks), len(units)), stdout=out)
    return [{"load": b.get("LoadState", ""), "active": b.get("ActiveState", ""), "file": b.get("UnitFileState", "")}
            for b in blocks]


def wanted_actions(params, unit, restart=False):
    """The changes one unit needs, in the order they are made; RESTART: the unit is one
    of those to restart."""
    masked = unit["load"] == "masked" or unit["file"].startswith("masked")
    actions = []
    if params["masked"] is False and masked:
        actions.append("unmask")
        masked = False
    if params["masked"] is True and not masked:
        actions.append("mask")
    if params["enabled"] is True and unit["file"] not in ENABLED:
        actions.append("enable")
    if params["enabled"] is False and unit["file"] in ("enabled", "enabled-runtime"):
        actions.append("disable")
    running = unit["active"] in RUNNING
    state = params["state"]
    if state == "started" and restart:
        actions.append("restart")
    elif state == "started" and not running:
        actions.append("start")
    elif state == "stopped" and (running or unit["active"] == "deactivating"):
        actions.append("stop")
    elif state == "restarted":
        actions.append("restart")
    elif state == "reloaded":
        actions.append("reload" if running else "start")
    return actions
