# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The state of systemd units, read in one call, and the changes a unit needs to reach a
wanted state: systemd_units makes them, deploy_state asks whether any is needed.

Where systemd is not the host's init, the same unit files are run by the supervisor
(module_utils/supervisor.py): read() and act() choose, so callers have one way."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.stackwright.cloud.plugins.module_utils import supervisor


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


def read(module, units):
    """Each unit's {load, active, file}, in order, from systemd or the supervisor."""
    if supervisor.systemd_is_init():
        return show(module, module.get_bin_path("systemctl", required=True), units)
    return [supervisor.status(u) for u in units]


def act(module, action, units):
    """Make ACTION (unmask, mask, enable, disable, start, stop, restart, reload) on the
    units; on failure fail_json naming the action and units, plus the details (extra)."""
    if supervisor.systemd_is_init():
        rc, out, err = module.run_command([module.get_bin_path("systemctl", required=True), action, "--"] + units)
        if rc != 0:
            return "systemctl %s %s failed: %s%s" % (
                action, " ".join(units), err.strip() or out.strip(),
                " (see journalctl -u %s)" % units[0] if action in ("start", "restart", "reload") else "")
        return None
    if action in ("mask", "unmask"):
        return "%s %s: masking needs systemd as the host's init" % (action, " ".join(units))
    try:
        for unit in units:
            if action in ("start", "stop", "restart", "reload"):
                getattr(supervisor, action)(unit)
        # enable/disable: nothing starts at boot without an init to start it
    except (supervisor.UnitError, OSError) as exc:
        return "%s %s failed: %s" % (action, " ".join(units), exc)
    return None


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
