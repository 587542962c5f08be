"""A no-change re-run: deploy_state tells whether a node is as the last complete deploy
left it, from what config_files recorded (the modules run as Ansible runs them, on
real files; the units part needs systemd as PID 1 and runs in the Molecule overcloud
scenario). And the fingerprint of a deploy's inputs."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, _load

MODULES = os.path.join(ROOT, "plugins", "modules")
deploy_filter = _load("deploy_filter", "plugins/filter/deploy.py")
pytestmark = pytest.mark.usefixtures("node_state_dir")


def run(tmp_path, module, **args):
    path = tmp_path / ("%s.json" % module)
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    out = subprocess.run([sys.executable, os.path.join(MODULES, module + ".py"), str(path)],
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def write_files(tmp_path, content="[DEFAULT]\n"):
    conf = tmp_path / "etc" / "svc.conf"
    return conf, run(tmp_path, "config_files", files=[dict(dest=str(conf), content=content, mode="0640")])


def test_a_node_is_converged_only_after_a_complete_deploy_with_the_same_fingerprint(tmp_path):
    write_files(tmp_path)
    first = run(tmp_path, "deploy_state", fingerprint="f1")
    assert (first["changed"], first["converged"]) == (False, False)
    assert first["reasons"] == ["no complete deploy recorded on this node"]
    assert run(tmp_path, "deploy_state", state="present", fingerprint="f1")["changed"]
    assert not run(tmp_path, "deploy_state", state="present", fingerprint="f1")["changed"]
    assert run(tmp_path, "deploy_state", fingerprint="f1")["converged"]
    other = run(tmp_path, "deploy_state", fingerprint="f2")
    assert not other["converged"] and other["reasons"] == ["the deploy's inputs changed since the last complete deploy"]


def test_a_file_changed_by_hand_is_drift(tmp_path):
    conf, _ = write_files(tmp_path)
    run(tmp_path, "deploy_state", state="present", fingerprint="f")
    conf.write_text("[DEFAULT]\ndebug = true\n")
    assert run(tmp_path, "deploy_state", fingerprint="f")["reasons"] == ["%s: content differs" % conf]
    # the deploy's full run writes it back: converged again once recorded
    _, again = write_files(tmp_path)
    assert again["changed"]
    run(tmp_path, "deploy_state", state="present", fingerprint="f")
    assert run(tmp_path, "deploy_state", fingerprint="f")["converged"]
    os.chmod(conf, 0o644)
    assert run(tmp_path, "deploy_state", fingerprint="f")["reasons"] == ["%s: owner, group or mode differs" % conf]
    conf.unlink()
    assert run(tmp_path, "deploy_state", fingerprint="f")["reasons"] == ["%s: missing" % conf]


def test_a_change_forgets_the_last_deploy(tmp_path):
    """A deploy that changed a file and stopped half-way is not a complete one, even
    when the inputs are set back to the last complete deploy's."""
    write_files(tmp_path)
    run(tmp_path, "deploy_state", state="present", fingerprint="f1")
    _, changed = write_files(tmp_path, "[DEFAULT]\ndebug = true\n")
    assert changed["changed"]
    write_files(tmp_path)  # set back by hand, say
    assert run(tmp_path, "deploy_state", fingerprint="f1")["reasons"] == ["no complete deploy recorded on this node"]
    # and forgetting it is a module run of its own
    run(tmp_path, "deploy_state", state="present", fingerprint="f1")
    assert run(tmp_path, "deploy_state", state="absent")["changed"]
    assert not run(tmp_path, "deploy_state", state="absent")["changed"]


def test_check_mode_records_nothing(tmp_path):
    conf = tmp_path / "a.conf"
    args = dict(files=[dict(dest=str(conf), content="x\n")], _ansible_check_mode=True)
    assert run(tmp_path, "config_files", **args)["changed"]
    assert not os.path.exists(os.environ["STACKWRIGHT_NODE_STATE_DIR"])
    assert run(tmp_path, "deploy_state", state="present", fingerprint="f", _ansible_check_mode=True)["changed"]
    assert not os.path.exists(os.environ["STACKWRIGHT_NODE_STATE_DIR"])


def test_the_state_is_root_only(tmp_path):
    write_files(tmp_path)
    state = os.environ["STACKWRIGHT_NODE_STATE_DIR"]
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"


class HostVars:
    """What the filter gets from Ansible: raw_get(host), the variables as written."""

    def __init__(self, hosts):
        self.hosts = hosts

    def raw_get(self, host):
        return dict(self.hosts[host], ansible_run_tags=["all"], playbook_dir="/somewhere", omit="__omit_%s" % id(self))


def test_the_fingerprint_follows_the_inputs_not_how_ansible_runs():
    hosts = {"ctl0": {"nova_config_overrides": {}, "ansible_host": "192.168.24.10"}, "cmp0": {"x": 1}}
    first = deploy_filter.deploy_inputs(HostVars(hosts), ["ctl0", "cmp0"])
    assert first == deploy_filter.deploy_inputs(HostVars(hosts), ["cmp0", "ctl0"])  # run and order alone: the same
    hosts["ctl0"]["nova_config_overrides"] = {"DEFAULT": {"debug": True}}
    second = deploy_filter.deploy_inputs(HostVars(hosts), ["ctl0", "cmp0"])
    assert second != first
    # a variable left out on purpose, and a host more
    hosts["ctl0"]["overcloud_fast_rerun"] = False
    assert deploy_filter.deploy_inputs(HostVars(hosts), ["ctl0", "cmp0"], ignore=["overcloud_fast_rerun"]) == second
    assert deploy_filter.deploy_inputs(HostVars(hosts), ["ctl0"]) != second
    with pytest.raises(Exception, match="give it hostvars"):
        deploy_filter.deploy_inputs({"ctl0": {}}, ["ctl0"])


def test_the_fingerprint_follows_the_code(tmp_path):
    root = tmp_path / "collection"
    (root / "roles" / "nova" / "tasks").mkdir(parents=True)
    task = root / "roles" / "nova" / "tasks" / "main.yml"
    task.write_text("---\n")
    first = deploy_filter.code_digest(str(root))
    (root / "roles" / "nova" / "tasks" / "__pycache__").mkdir()
    assert deploy_filter.code_digest(str(root)) == first
    task.write_text("---\n- name: A task\n")
    assert deploy_filter.code_digest(str(root)) != first
