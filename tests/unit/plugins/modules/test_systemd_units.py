"""systemd_units' decisions: which changes a unit in a given systemd state needs, and
the state diff mode shows after them. The module runs against real systemd in the
Molecule overcloud scenario (this machine's PID 1 is not systemd); here, the table
of cases a wrong answer would turn into a unit started, stopped or masked wrongly."""

import json
import os
import subprocess
import sys

import pytest

from fixtures import ROOT, _load

units = _load("systemd_units", "plugins/modules/systemd_units.py")


def params(state=None, enabled=None, masked=None):
    return dict(state=state, enabled=enabled, masked=masked)


def unit(load="loaded", active="inactive", file="disabled"):
    return dict(load=load, active=active, file=file)


@pytest.mark.parametrize("wanted, current, actions", [
    # what service.yml asks of a unit it runs
    (params("started", True, False), unit(), ["enable", "start"]),
    (params("started", True, False), unit(active="active", file="enabled"), []),
    (params("started", True, False), unit(load="masked", file="masked"), ["unmask", "enable", "start"]),
    # static, indirect and generated units cannot be enabled and need not be
    (params("started", True, False), unit(active="active", file="static"), []),
    (params("started", True, False), unit(active="active", file="indirect"), []),
    # a unit still starting is not started twice
    (params("started"), unit(active="activating", file="enabled"), []),
    # restarted restarts a running unit and starts a stopped one, every time
    (params("restarted"), unit(active="active"), ["restart"]),
    (params("restarted"), unit(), ["restart"]),
    (params("reloaded"), unit(active="active"), ["reload"]),
    (params("reloaded"), unit(), ["start"]),
    # what masked.yml asks of the units a node must not run
    (params("stopped", masked=True), unit(active="active", file="enabled"), ["mask", "stop"]),
    (params("stopped", masked=True), unit(load="masked", file="masked"), []),
    (params("stopped", masked=True), unit(load="not-found", file=""), ["mask"]),
    (params("stopped", masked=True), unit(active="deactivating"), ["mask", "stop"]),
    # scale-in: stopped and disabled
    (params("stopped", False), unit(active="active", file="enabled"), ["disable", "stop"]),
    (params("stopped", False), unit(file="static"), []),
    # nothing asked, nothing done
    (params(), unit(active="active", file="enabled"), []),
])
def test_wanted_actions(wanted, current, actions):
    assert units.wanted_actions(wanted, current) == actions


@pytest.mark.parametrize("current, actions", [
    (unit(active="active", file="enabled"), ["restart"]),
    (unit(), ["enable", "restart"]),  # a stopped one starts
    (unit(load="masked", file="masked"), ["unmask", "enable", "restart"]),
])
def test_a_unit_whose_files_changed_restarts(current, actions):
    assert units.wanted_actions(params("started", True, False), current, restart=True) == actions


def test_unit_names_get_service_unless_they_have_a_suffix():
    assert units.unit_name("nova-api") == "nova-api.service"
    assert units.unit_name("libvirtd.socket") == "libvirtd.socket"
    assert units.unit_name("/etc/systemd/system/foo") == "/etc/systemd/system/foo.service"


def test_the_predicted_state_is_what_diff_mode_shows_after():
    masked = dict(unit(active="active", file="enabled"), actions=["mask", "stop"])
    assert units.predicted(masked) == dict(masked, load="masked", active="inactive", file="masked")
    started = dict(unit(load="masked", file="masked"), actions=["unmask", "enable", "start"])
    assert units.predicted(started) == dict(started, load="loaded", active="active", file="enabled")
    text = units.describe({"nova-api.service": started}, units.predicted)
    assert text == "nova-api.service: loaded, active, enabled\n"


def run_module(tmp_path, **params):
    """systemd_units as Ansible runs it (a process of its own, its JSON answer)."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "plugins", "modules", "systemd_units.py"), str(args)],
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


@pytest.mark.parametrize("params, words", [
    (dict(masked=True, enabled=True), "masked=true and enabled=true: a masked unit cannot be enabled"),
    (dict(masked=True, state="started"), "masked=true and state=started: a masked unit cannot run"),
    (dict(masked=True, state="reloaded"), "masked=true and state=reloaded"),
    (dict(state="stopped", restart=["nova-api"]), "restart is for state=started"),
    (dict(restart=["nova-api"]), "restart is for state=started"),
    (dict(state="halted"), "value of state must be one of"),
])
def test_contradictory_arguments_are_refused_before_anything_changes(tmp_path, node_state_dir, params, words):
    result = run_module(tmp_path, names=["stackwright-no-such-unit"], **params)
    assert result["failed"] and words in result["msg"], result
    assert not node_state_dir.exists(), "a refused call records nothing"


def test_a_unit_asked_for_nothing_is_no_change_and_is_recorded(tmp_path, node_state_dir):
    """names given twice and with or without .service are one unit; a call that changes
    nothing still records what was asked (deploy_state checks against it)."""
    names = ["stackwright-no-such-unit", "stackwright-no-such-unit.service"]
    result = run_module(tmp_path, names=names, state="stopped", enabled=False, _ansible_check_mode=True)
    assert result["changed"] is False and list(result["units"]) == ["stackwright-no-such-unit.service"]
    assert not node_state_dir.exists(), "check mode records nothing"
    result = run_module(tmp_path, names=names, state="stopped", enabled=False)
    assert result["changed"] is False and not result.get("failed")
    recorded = json.dumps([json.load(open(os.path.join(d, f))) for d, _, fs in os.walk(str(node_state_dir))
                           for f in fs if f.endswith(".json")])
    assert "stackwright-no-such-unit.service" in recorded and '"stopped"' in recorded
