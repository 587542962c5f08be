"""undercloud.yml -e undercloud_state=absent where there is no undercloud: in the
built-in lab, once the lab is down, the undercloud's Python (the lab's wrapper
that runs in its network namespace) is gone too. `stackwright lab down` runs
this first: it must say so and succeed, not fail at gathering facts."""

import os
import subprocess
import sys

import yaml

from fixtures import ROOT, link_collection


def remove_undercloud(tmp_path, interpreter):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"undercloud": {"hosts": {"undercloud-gone": {
        "ansible_connection": "local", "ansible_python_interpreter": interpreter,
        # were it to run, it would remove only what is below tmp_path
        "undercloud_state_dir": str(tmp_path / "state"), "undercloud_agent_instance": "sw-test-gone",
        "undercloud_agent_socket": str(tmp_path / "gone.sock")}}}}}}))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=link_collection(tmp_path / "collections"))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
                           os.path.join(ROOT, "playbooks", "undercloud.yml"), "-e", "undercloud_state=absent"],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)


def test_no_python_no_undercloud_says_so_and_succeeds(tmp_path):
    proc = remove_undercloud(tmp_path, str(tmp_path / "lab" / "bin" / "python"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "undercloud-gone: no undercloud to remove: its Python (%s) does not exist" % (
        tmp_path / "lab" / "bin" / "python") in " ".join(proc.stdout.split())
    assert "Gathering Facts" not in proc.stdout and "changed=0" in proc.stdout
    assert "Stop the daemons" not in proc.stdout, "nothing more runs on that host"


def test_a_host_that_cannot_run_modules_for_another_reason_fails_saying_so(tmp_path):
    proc = remove_undercloud(tmp_path, "/bin/false")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "undercloud-gone: cannot run modules to remove the undercloud" in proc.stdout
