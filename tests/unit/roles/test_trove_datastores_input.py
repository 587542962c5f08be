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
    mysql = {"name": "mysql", "versions": [{"name": "8.0", "manager": "mysql", "image_tags": ["trove", "mysql"]}]}
    rc, out = check(tmp_path, [GOOD, mysql])
    assert rc == 0, out


@pytest.mark.parametrize("stores", [
    [dict(GOOD, default="10.11")],                      # inactive
    [dict(GOOD, default="12")],                         # no such version
    [dict(GOOD, versions=GOOD["versions"] + [{"name": "11.4", "manager": "mariadb"}])],
    [dict(GOOD, name="maria db")],
    [dict(GOOD, versions=[{"name": "../11", "manager": "mariadb"}], default="")],
    # what YAML reads as a number would be registered as another name (10.10 as 10.1)
    [dict(GOOD, versions=[{"name": 10.1, "manager": "mariadb"}], default="")],
    [dict(GOOD, versions=[{"name": "11.4", "manager": "mariadb"}], default=11.4)],
    # one string of tags would be split into letters; a string "false" is not false
    [dict(GOOD, versions=[{"name": "11.4", "manager": "mariadb", "image_tags": "trove,mariadb"}])],
    [dict(GOOD, versions=[{"name": "11.4", "manager": "mariadb", "active": "false"}], default="")],
    # the same datastore twice would flip between the two on every run
    [GOOD, dict(GOOD, default="")],
])
def test_bad_datastores_are_refused_naming_them(tmp_path, stores):
    rc, out = check(tmp_path, stores)
    assert rc != 0
    assert "trove_datastores: each needs a unique name" in out and stores[-1]["name"] in out
