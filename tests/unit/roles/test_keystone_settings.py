"""Keystone's key rotation settings, checked with the plan (roles/keystone/tasks/
validate.yml, run by ansible-playbook): a calendar that would break the timer's unit
file, or too few keys to validate the tokens issued before a rotation, is refused
naming the setting; good ones pass."""
import json
import os
import subprocess
import sys

import pytest


def check(tmp_path, collections, **settings):
    play = [{"hosts": "localhost", "gather_facts": False, "vars": settings, "tasks": [
        {"ansible.builtin.include_role": {"name": "stackwright.cloud.keystone", "tasks_from": "validate.yml"}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-c", "local",
                           "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("settings", [{}, {"keystone_fernet_rotation": "Mon *-*-* 03:00"},
                                      {"keystone_fernet_rotation": "weekly", "keystone_fernet_max_active_keys": 9}])
def test_good_rotation_settings_pass(tmp_path, collections, settings):
    proc = check(tmp_path, collections, **settings)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("settings", [
    {"keystone_fernet_rotation": "daily\nExecStart=/bin/sh -c id"},
    {"keystone_fernet_rotation": ""},
    {"keystone_fernet_rotation": "daily; reboot"},
    {"keystone_fernet_rotation": ["daily"]},
    {"keystone_fernet_max_active_keys": 2},
    {"keystone_fernet_max_active_keys": "three"},
])
def test_bad_rotation_settings_are_refused_naming_them(tmp_path, collections, settings):
    proc = check(tmp_path, collections, **settings)
    assert proc.returncode != 0
    (name,) = settings
    assert name in proc.stdout and "a systemd calendar" in proc.stdout, proc.stdout
