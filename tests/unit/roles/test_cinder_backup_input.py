"""roles/cinder's checks of cinder-backup's settings, made with the plan's before any
node is touched (the tasks' own expressions, read from tasks/validate.yml): a relative path, one with . or ..
components or with characters a path in cinder.conf cannot carry is refused, and so
is a file size that is not a whole number of MiB from 1 to 1024, naming the field."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from fixtures import ROOT

TASKS = os.path.join(ROOT, "roles", "cinder", "tasks", "validate.yml")


def check(tmp_path, path="/var/lib/cinder/backups", mib=64):
    tasks = yaml.safe_load(open(TASKS))[:2]
    names = ["Check where cinder-backup keeps the backups", "Check the size of the backups' files"]
    assert [t["name"] for t in tasks] == names
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": {"cinder_backup_posix_path": path, "cinder_backup_file_mib": mib}, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"],
                          capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    return done.returncode, done.stdout


@pytest.mark.parametrize("path", ["/var/lib/cinder/backups", "/srv/nfs-backups.1"])
def test_an_absolute_path_passes(tmp_path, path):
    rc, out = check(tmp_path, path)
    assert rc == 0, out


@pytest.mark.parametrize("path", ["backups", "/var/lib/../etc", "/var/./backups", "/srv/back ups",
                                  "/srv/backups\nbackup_driver = x", "/srv/backups\n", "/", "", 5])
def test_a_bad_path_is_refused_naming_the_field(tmp_path, path):
    rc, out = check(tmp_path, path)
    assert rc != 0
    assert "cinder_backup_posix_path must be an absolute path" in out


@pytest.mark.parametrize("mib", [1, "128", 1024])
def test_a_file_size_in_range_passes(tmp_path, mib):
    rc, out = check(tmp_path, mib=mib)
    assert rc == 0, out


@pytest.mark.parametrize("mib", [0, 1025, 1.5, True, "64M", -1])
def test_a_bad_file_size_is_refused_naming_the_field(tmp_path, mib):
    rc, out = check(tmp_path, mib=mib)
    assert rc != 0
    assert "cinder_backup_file_mib: a whole number of MiB from 1 to 1024" in out
