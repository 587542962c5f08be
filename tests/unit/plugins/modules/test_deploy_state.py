"""A no-change re-run: deploy_state tells whether a node is as the last complete deploy
left it, from what config_files recorded (the modules run as Ansible runs them, on
real files; the units part needs systemd as PID 1 and runs in the Molecule overcloud
scenario). And the fingerprint of a deploy's inputs."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from fixtures import ROOT, _load

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


def test_the_fingerprint_follows_the_inputs_not_how_ansible_runs():
    run_vars = {"ansible_run_tags": ["all"], "playbook_dir": "/somewhere", "omit": "__omit_1"}
    hosts = {"ctl0": {"nova_config_overrides": {}, "ansible_host": "192.168.24.10"}, "cmp0": {"x": 1}}
    first = deploy_filter.fingerprint(hosts)
    # how Ansible runs, and the hosts' order: the same
    assert first == deploy_filter.fingerprint({h: dict(v, **run_vars) for h, v in reversed(hosts.items())})
    hosts["ctl0"]["nova_config_overrides"] = {"DEFAULT": {"debug": True}}
    second = deploy_filter.fingerprint(hosts)
    assert second != first
    # a variable left out on purpose, and a host more
    hosts["ctl0"]["overcloud_fast_rerun"] = False
    assert deploy_filter.fingerprint(hosts, ignore=["overcloud_fast_rerun"]) == second
    assert deploy_filter.fingerprint({"ctl0": hosts["ctl0"]}, ignore=["overcloud_fast_rerun"]) != second
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


def plan_playbook(path, out):
    """deploy.yml's first play up to its fingerprint (its own pre_task, as written),
    which it writes to OUT/<host>."""
    with open(os.path.join(ROOT, "playbooks", "deploy.yml")) as fh:
        plan = yaml.safe_load(fh)[0]
    fingerprint_task = [t for t in plan["pre_tasks"] if "overcloud_deploy_inputs" in str(t)]
    assert len(fingerprint_task) == 1, "deploy.yml's plan takes the fingerprint in one pre_task"
    path.write_text(yaml.safe_dump([{
        "name": plan["name"], "hosts": plan["hosts"], "gather_facts": False, "pre_tasks": fingerprint_task,
        "tasks": [{"name": "Keep it", "delegate_to": "localhost", "ansible.builtin.copy": {
            "content": "{{ overcloud_deploy_inputs }}", "dest": str(out) + "/{{ inventory_hostname }}"}}]}]))
    return path


def snapshot(base):
    """A copy of the collection's code, so that the runs compared see the same code
    (the fingerprint covers it, and the checkout may change meanwhile)."""
    dest = base / "ansible_collections" / "stackwright" / "cloud"
    for top in ("galaxy.yml", "meta", "playbooks", "roles", "plugins", os.path.join("agent", "stackwright_agent")):
        src = os.path.join(ROOT, top)
        if os.path.isdir(src):
            shutil.copytree(src, dest / top, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            os.makedirs(dest, exist_ok=True)
            shutil.copy(src, dest / top)
    return str(base)


def test_site_and_deploy_alone_take_the_same_fingerprint(tmp_path):
    """site.yml runs lab, undercloud and provision before deploy.yml's plan, in one
    process: what those plays leave on the nodes' hosts (facts, set_fact, register,
    include_vars, add_host's variables and groups) must not enter the fingerprint, or
    `stackwright overcloud deploy` after site.yml redeploys everything."""
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"overcloud_state_dir": "/srv/x"}, "children": {
        "overcloud": {"vars": local, "children": {"Controller": {"hosts": {"ctl0": {"ansible_host": "192.0.2.10"}}},
                                                  "Compute": {"hosts": {"cmp0": None}}}}}}}))
    (tmp_path / "more.yml").write_text("provision_wait: 30\n")
    out = {k: tmp_path / k for k in ("site", "alone", "cli", "changed")}
    for d in out.values():
        d.mkdir()
    plan_playbook(tmp_path / "plan-site.yml", out["site"])
    plan_playbook(tmp_path / "plan-alone.yml", out["alone"])
    plan_playbook(tmp_path / "plan-changed.yml", out["changed"])
    site = tmp_path / "site.yml"
    site.write_text(yaml.safe_dump([
        {"name": "As provision.yml does", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"ansible.builtin.add_host": {"name": "{{ item }}", "groups": ["provisioning"],
                                          "provision_node": {"name": "{{ item }}", "bmc": {"password": "s3cret"}},
                                          "provision_undercloud": "undercloud-lab"},
             "loop": ["ctl0", "cmp0"]}]},
        {"name": "As the lab, the undercloud and provision do on the nodes' hosts", "hosts": "overcloud",
         "gather_facts": True, "gather_subset": ["min"], "tasks": [
             {"ansible.builtin.set_fact": {"provision_result": "active", "cacheable_one": 1, "cacheable": True}},
             {"ansible.builtin.command": "true", "register": "_probe", "changed_when": False},
             {"ansible.builtin.include_vars": str(tmp_path / "more.yml")}]},
        {"name": "As site.yml does", "hosts": "localhost", "gather_facts": False,
         "tasks": [{"ansible.builtin.meta": "refresh_inventory"}]},
        {"ansible.builtin.import_playbook": str(tmp_path / "plan-site.yml")}]))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    collections = snapshot(tmp_path / "collections")
    # `stackwright overcloud deploy` runs the collection's playbooks/deploy.yml
    home = os.path.join(collections, "ansible_collections", "stackwright", "cloud")
    plan_playbook(tmp_path / "plan-cli.yml", out["cli"])
    shutil.copy(tmp_path / "plan-cli.yml", os.path.join(home, "playbooks", "deploy.yml"))
    shutil.copy(tmp_path / "ansible.cfg", os.path.join(home, "ansible.cfg"))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
               ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_NOCOLOR="1")

    def play(playbook, *extra):
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
                               str(playbook)] + list(extra),
                              capture_output=True, text=True, env=env, cwd=str(tmp_path))
        assert proc.returncode == 0, proc.stdout + proc.stderr

    cli = subprocess.run([os.path.join(os.path.dirname(sys.executable), "stackwright"), "-i", str(inventory),
                          "--runs-dir", str(tmp_path / "runs"), "--progress", "lines", "overcloud", "deploy"],
                         capture_output=True, text=True, env=dict(env, STACKWRIGHT_HOME=home), cwd=str(tmp_path))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    play(site)
    play(tmp_path / "plan-alone.yml")
    play(tmp_path / "plan-changed.yml", "-e", "nova_debug=true")
    taken = {k: {h: (d / h).read_text() for h in ("ctl0", "cmp0")} for k, d in out.items()}
    assert len(set(taken["alone"].values())) == 1 and len(taken["alone"]["ctl0"]) == 64
    assert taken["site"] == taken["alone"], "site.yml's deploy would not take the fast path deploy.yml alone takes"
    assert taken["cli"] == taken["alone"], "stackwright overcloud deploy and deploy.yml disagree"
    assert taken["changed"] != taken["alone"], "an extra var is an input"
