"""A service's own Keystone domain (roles/openstack_service, the declaration's domain;
Heat's stack domain, Magnum's trustees): service_domain.py keeps stdout to one JSON line even
when Keystone needs another try (a memcached restarted under it answers 500 once),
and the task reads its result from the last line, as a terminal over SSH merges
stderr into stdout. Before: the retry's note went to stderr, the task's from_json
failed on it and the deploy stopped with "Unknown error" (Molecule overcloud's
drift run, after memcached was stopped by hand)."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import yaml
from keystoneauth1 import exceptions as ks_exceptions

from fixtures import ROOT

SCRIPT = os.path.join(ROOT, "roles", "openstack_service", "files", "service_domain.py")
TASKS = os.path.join(ROOT, "roles", "openstack_service", "tasks", "domain.yml")


@pytest.fixture
def service_domain(monkeypatch):
    spec = importlib.util.spec_from_file_location("service_domain", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PAUSE", 0)
    monkeypatch.setenv("SERVICE_DOMAIN_ADMIN_PASSWORD", "s3cret-domain")
    monkeypatch.setenv("OS_PASSWORD", "s3cret-admin")
    return module


def test_a_retried_keystone_error_leaves_one_json_line(service_domain, monkeypatch, capsys):
    calls = []

    def main(notes):
        calls.append(1)
        if len(calls) == 1:
            raise ks_exceptions.InternalServerError("memcached went away (s3cret-admin)")
        print(json.dumps({"changed": True, "actions": ["create domain heat"], "notes": notes}))
        return 0

    monkeypatch.setattr(service_domain, "main", main)
    assert service_domain.run() == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["changed"] is True
    assert len(result["notes"]) == 1 and "InternalServerError" in result["notes"][0]
    assert "s3cret" not in out


def test_a_lasting_failure_is_one_json_line_with_the_tries(service_domain, monkeypatch, capsys):
    def main(notes):
        raise ks_exceptions.ServiceUnavailable("down")

    monkeypatch.setattr(service_domain, "main", main)
    assert service_domain.run() == 1
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 1
    result = json.loads(out)
    assert result["failed"] is True and "ServiceUnavailable" in result["msg"]
    assert len(result["notes"]) == service_domain.TRIES - 1


def _task(name_start):
    tasks = yaml.safe_load(open(TASKS))[0]["block"]
    return next(t for t in tasks if t["name"].startswith(name_start))


@pytest.mark.parametrize("stdout_lines, changed, msg", [
    # a library's warning ahead of the result, as the terminal merges it
    (["/usr/lib/python3/dist-packages/x.py:1: DeprecationWarning: old", '{"changed": true, "actions": ["a"]}'],
     True, None),
    (['{"changed": false, "actions": []}'], False, None),
    (["warning", '{"changed": false, "actions": [], "failed": true, "msg": "Forbidden: no"}'], False, "Forbidden: no"),
    ([], False, "service_domain.py exited 1: Traceback"),
    # a crash before the script could report: the traceback, through the terminal
    (["Traceback (most recent call last):", "ImportError: no openstack"], False,
     "service_domain.py exited 1: Traceback (most recent call last):\nImportError: no openstack"),
])
def test_the_task_reads_the_last_line(tmp_path, stdout_lines, changed, msg):
    """The task's own expressions (read from domain.yml), on what the script printed."""
    run_task = _task("The domain, its admin")
    fail_task = _task("Fail with the reason")
    registered = {"stdout_lines": stdout_lines, "stdout": "\n".join(stdout_lines),
                  "rc": 1 if msg else 0, "stderr": "Traceback" if not stdout_lines else ""}
    out = tmp_path / "out.json"
    fail_msg = fail_task["ansible.builtin.fail"]["msg"].strip()[3:-3] if msg else "none"
    # the block's variables (the result read from the output), with the registered output
    block_vars = yaml.safe_load(open(TASKS))[0]["vars"]
    play = [{"hosts": "localhost", "gather_facts": False, "vars": dict(block_vars, _openstack_service_domain=registered),
             "tasks": [{"ansible.builtin.copy": {
                 "dest": str(out),
                 "content": "{{ {'changed': (%s), 'msg': (%s)} | to_json }}" % (run_task["changed_when"], fail_msg)}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                           str(tmp_path / "play.yml")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    got = json.loads(out.read_text())
    assert got["changed"] is changed
    if msg:
        assert got["msg"].startswith(msg)
