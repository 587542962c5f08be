"""The lifecycle of roles/openstack_service, run by ansible-playbook on local hosts:
the declaring role's hooks run in their place on every host, the declaration is
checked before anything runs, and each host starts the units of its own groups.

The hosts are this machine (connection local), which runs no systemd: the
declarations here have no units, databases or catalog, the steps that need a node."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

# A service role as a contributor writes one: a declaration and hooks that log
# where they ran.
HOOK = """\
- name: Log the hook
  ansible.builtin.shell: echo "{{{{ inventory_hostname }}}} {name} {{{{ openstack_service_written.changed_files is defined }}}}" >> {log}
  changed_when: false
"""


def _probe_role(tmp_path, declaration):
    role = tmp_path / "roles" / "probe"
    (role / "tasks").mkdir(parents=True)
    (role / "vars").mkdir()
    log = tmp_path / "hooks.log"
    for hook in ("facts", "before_units", "after_units"):
        (role / "tasks" / (hook + ".yml")).write_text(HOOK.format(name=hook, log=log))
    (role / "tasks" / "main.yml").write_text(textwrap.dedent("""\
        - name: What the declaration is made of
          ansible.builtin.include_tasks: facts.yml

        - name: What the declaration is made of, as a fact
          ansible.builtin.set_fact:
            probe_later: {dest: "{{ playbook_dir }}/{{ inventory_hostname }}.conf", content: "made later"}

        - name: The service
          ansible.builtin.include_role:
            name: stackwright.cloud.openstack_service
          vars:
            openstack_service: "{{ probe_service }}"
        """))
    (role / "vars" / "main.yml").write_text(json.dumps({"probe_service": declaration}))
    return log


def _run(tmp_path, collections):
    inventory = {"all": {"children": {
        "service_probe_control": {"hosts": {"ctl0": {}, "ctl1": {}}},
        "service_probe_worker": {"hosts": {"cmp0": {}}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(json.dumps([{
        "hosts": "all", "gather_facts": False, "roles": ["probe"]}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_ROLES_PATH=str(tmp_path / "roles"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           "-i", "inventory.yml", "play.yml"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)


DECLARATION = {
    "name": "probe",
    "control_group": "service_probe_control",
    "groups": {"service_probe_control": {}, "service_probe_worker": {}},
    # made of a fact the role sets before it includes the lifecycle
    "files": "{{ [probe_later] }}",
    "hooks": {"before_units": "before_units.yml", "after_units": "after_units.yml"},
}


def test_hooks_run_in_lifecycle_order_on_every_host(tmp_path, collections, node_state_dir):
    log = _probe_role(tmp_path, DECLARATION)
    proc = _run(tmp_path, collections)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = log.read_text().split("\n")[:-1]
    for host in ("ctl0", "ctl1", "cmp0"):
        # after the files step, its result is there for the hooks to read
        assert [line.split(" ", 1)[1] for line in lines if line.startswith(host + " ")] == [
            "facts False", "before_units True", "after_units True"], lines
        assert (tmp_path / (host + ".conf")).read_text() == "made later"


def test_a_declaration_with_a_mistyped_key_fails_before_anything_runs(tmp_path, collections):
    log = _probe_role(tmp_path, dict(DECLARATION, catalogue={"type": "probe"}))
    proc = _run(tmp_path, collections)
    assert proc.returncode != 0
    assert "openstack_service.catalogue. Supported parameters include" in proc.stdout + proc.stderr
    assert "before_units" not in log.read_text()
    assert list(tmp_path.glob("*.conf")) == []


@pytest.mark.parametrize("missing", ["name", "control_group", "groups"])
def test_a_declaration_without_a_required_key_fails_naming_it(tmp_path, collections, missing):
    log = _probe_role(tmp_path, {k: v for k, v in DECLARATION.items() if k != missing})
    proc = _run(tmp_path, collections)
    assert proc.returncode != 0
    assert "missing required arguments: %s found in openstack_service" % missing in proc.stdout + proc.stderr
    assert "before_units" not in log.read_text()
    assert list(tmp_path.glob("*.conf")) == []
