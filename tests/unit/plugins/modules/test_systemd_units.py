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


# ------------------------------------------------- systemctl's answers, as recorded

systemd = _load("systemd_utils", "plugins/module_utils/systemd.py")

# `systemctl show --property=LoadState,ActiveState,UnitFileState -- a b c` on Debian 13:
# one block per unit, in the order asked, a blank line between
SHOW = ("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
        "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n\n"
        "ActiveState=inactive\nLoadState=masked\nUnitFileState=masked-runtime\n")


class Failed(Exception):
    pass


class Recorded:
    """An Ansible module whose commands answer as systemctl answered."""

    def __init__(self, rc=0, out="", err=""):
        self.answer = (rc, out, err)
        self.commands = []

    def run_command(self, argv):
        self.commands.append(argv)
        return self.answer

    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name

    def fail_json(self, **kwargs):
        raise Failed(kwargs)


def test_show_reads_one_block_per_unit_in_order():
    module = Recorded(out=SHOW + "\n\n")
    states = systemd.show(module, "/bin/systemctl", ["a.service", "b.service", "c.service"])
    assert module.commands == [["/bin/systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "--",
                                "a.service", "b.service", "c.service"]]
    assert states == [dict(load="loaded", active="active", file="enabled"),
                      dict(load="not-found", active="inactive", file=""),
                      dict(load="masked", active="inactive", file="masked-runtime")]
    assert systemd.show(Recorded(out="LoadState=loaded\nDescription=a=b"), "systemctl", ["a"]) == [
        dict(load="loaded", active="", file="")], "no trailing newline; a missing property is empty"


@pytest.mark.parametrize("answer, words", [
    ((1, "", "Failed to connect to bus\n"), "systemctl show failed: Failed to connect to bus"),
    ((1, "some output\n", ""), "systemctl show failed: some output"),
    ((0, SHOW, ""), "systemctl show answered for 3 units, not 2"),
])
def test_show_fails_naming_what_systemctl_said(answer, words):
    with pytest.raises(Failed) as info:
        systemd.show(Recorded(*answer), "systemctl", ["a.service", "b.service"])
    assert info.value.args[0]["msg"] == words


def test_with_systemd_read_and_act_call_systemctl(monkeypatch):
    monkeypatch.setattr(systemd.supervisor, "systemd_is_init", lambda: True)
    module = Recorded(out=SHOW)
    assert [u["load"] for u in systemd.read(module, ["a", "b", "c"])] == ["loaded", "not-found", "masked"]
    assert systemd.act(module, "restart", ["a.service"]) is None
    assert module.commands[-1] == ["/usr/bin/systemctl", "restart", "--", "a.service"]
    failing = Recorded(1, "", "Job for a.service failed.\n")
    assert systemd.act(failing, "start", ["a.service", "b.service"]) == (
        "systemctl start a.service b.service failed: Job for a.service failed. (see journalctl -u a.service)")
    assert systemd.act(Recorded(1, "out only", ""), "mask", ["a.service"]) == (
        "systemctl mask a.service failed: out only")


def test_without_systemd_the_supervisor_acts(monkeypatch, tmp_path):
    monkeypatch.setattr(systemd.supervisor, "systemd_is_init", lambda: False)
    monkeypatch.setattr(systemd.supervisor, "UNIT_DIRS", (str(tmp_path),))
    monkeypatch.setattr(systemd.supervisor, "STATE_DIR", str(tmp_path / "state"))
    module = Recorded()
    assert systemd.read(module, ["nope.service"])[0]["load"] == "not-found"
    assert systemd.act(module, "mask", ["a.service", "b.service"]) == (
        "mask a.service b.service: masking needs systemd as the host's init")
    assert systemd.act(module, "unmask", ["a.service"]).startswith("unmask a.service: masking needs systemd")
    assert systemd.act(module, "enable", ["nope.service"]) is None, "nothing to enable without an init"
    assert systemd.act(module, "start", ["nope.service"]).startswith("start nope.service failed: ")
    assert module.commands == [], "no systemctl without systemd"


@pytest.mark.parametrize("wanted, current, actions", [
    (params("started", True), unit(active="active", file="enabled-runtime"), []),
    (params("started", True), unit(active="active", file="alias"), []),
    (params("started", True), unit(active="active", file="generated"), []),
    (params("started", True), unit(active="active", file="transient"), []),
    (params("started", True), unit(active="active", file="disabled"), ["enable"]),
    (params("started"), unit(active="reloading"), []),
    (params("stopped"), unit(active="reloading"), ["stop"]),
    (params("stopped"), unit(active="failed"), []),
    (params("reloaded"), unit(active="activating"), ["reload"]),
    (params(enabled=False), unit(file="enabled-runtime"), ["disable"]),
    (params(enabled=False), unit(file="disabled"), []),
    (params(masked=False), unit(file="masked-runtime"), ["unmask"]),
    (params(masked=False), unit(load="masked", file=""), ["unmask"]),
    (params(masked=False), unit(), []),
    (params(masked=True), unit(file="masked-runtime"), []),
    (params("started", masked=False), unit(load="masked", file="masked"), ["unmask", "start"]),
])
def test_wanted_actions_at_the_edges(wanted, current, actions):
    assert systemd.wanted_actions(wanted, current) == actions
