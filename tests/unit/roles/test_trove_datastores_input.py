"""roles/trove's check of trove_datastores, before it touches a node (the task's own
expressions, read from tasks/main.yml): a default that is not one of the
datastore's active versions, a duplicate version or a name Trove's URLs cannot
carry is refused, naming the datastore."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from fixtures import ROOT

TASKS = os.path.join(ROOT, "roles", "trove", "tasks", "main.yml")
GOOD = {"name": "mariadb", "default": "11.4",
        "versions": [{"name": "11.4", "manager": "mariadb"}, {"name": "10.11", "manager": "mariadb", "active": False}]}


def check(tmp_path, datastores):
    task = yaml.safe_load(open(TASKS))[0]
    assert task["name"] == "Check the datastores"
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"trove_datastores": datastores}, "tasks": [task]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"],
                          capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    return done.returncode, done.stdout


def test_good_datastores_pass(tmp_path):
    # a version name YAML reads as a number is a name all the same
    rc, out = check(tmp_path, [GOOD, {"name": "mysql", "versions": [{"name": 8.0, "manager": "mysql"}], "default": 8.0}])
    assert rc == 0, out


@pytest.mark.parametrize("store", [
    dict(GOOD, default="10.11"),                      # inactive
    dict(GOOD, default="12"),                          # no such version
    dict(GOOD, versions=GOOD["versions"] + [{"name": "11.4", "manager": "mariadb"}]),
    dict(GOOD, name="maria db"),
    dict(GOOD, versions=[{"name": "../11", "manager": "mariadb"}], default=""),
])
def test_bad_datastores_are_refused_naming_them(tmp_path, store):
    rc, out = check(tmp_path, [store])
    assert rc != 0
    assert "trove_datastores: each needs a name" in out and store["name"] in out
