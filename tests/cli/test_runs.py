"""The runs directory and the exit codes, without Ansible: what an operator reads
back (stackwright runs list | show) and what a script sees ($?)."""

import json
import os
import stat

from stackwright_cli import main as cli_main
from stackwright_cli import runs


def test_secret_looking_extra_vars_are_masked_in_the_record():
    argv = ["overcloud", "deploy", "-e", "bmc_password=hunter2 region=one", "-e",
            '{"admin_password": "x1", "debug": true}', "-e", "nova_secret_key=abc", "--limit", "ctl0"]
    masked = runs.mask_argv(argv)
    text = " ".join(masked)
    assert "hunter2" not in text and "x1" not in text and "abc" not in text
    assert "bmc_password=*** region=one" in masked
    assert json.loads(masked[5]) == {"admin_password": "***", "debug": True}
    assert masked[-2:] == ["--limit", "ctl0"]


def test_runs_are_kept_root_only_and_found_by_prefix_or_last(tmp_path):
    root = str(tmp_path / "runs")
    first = runs.Run(root, "node list", ["node", "list"])
    first.finish(0)
    second = runs.Run(root, "node list", ["node", "list"])  # same second: a suffix keeps them apart
    second.finish(1)
    assert first.id != second.id
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(second.dir, "run.json")).st_mode) == 0o600
    assert [r["id"] for r in runs.load_runs(root)] == [first.id, second.id]
    assert runs.find_run(root, "last")["id"] == second.id
    assert runs.find_run(root, second.id)["exit_code"] == 1
    assert runs.find_run(root, first.id[:8]) is None, "an ambiguous prefix finds nothing"
    assert runs.find_run(root, "nonesuch") is None


def test_expected_tasks_come_from_the_last_successful_real_run(tmp_path):
    root = str(tmp_path / "runs")

    def phase(status, tasks, check=False, key=""):
        return {"name": "deploy", "playbook": "playbooks/deploy.yml", "key": key, "status": status,
                "tasks": tasks, "check": check}

    for status, tasks, check, key in [("successful", 100, False, ""), ("failed", 7, False, ""),
                                      ("successful", 60, True, ""), ("successful", 5, False, "status")]:
        run = runs.Run(root, "overcloud deploy", [])
        run.add_phase(phase(status, tasks, check, key))
        run.finish(0)
    assert runs.expected_tasks(root, "playbooks/deploy.yml", "") == 100
    assert runs.expected_tasks(root, "playbooks/deploy.yml", "status") == 5
    assert runs.expected_tasks(root, "playbooks/lab.yml", "") is None


def test_exit_codes_say_what_went_wrong():
    def record(status, rc, failed=0, unreachable=0, tasks=3):
        return {"status": status, "rc": rc, "failed": failed, "unreachable": unreachable, "tasks": tasks}

    assert cli_main.exit_code(record("successful", 0)) == 0
    assert cli_main.exit_code(record("failed", 2, failed=1)) == 1
    assert cli_main.exit_code(record("failed", 4, unreachable=2)) == 3
    assert cli_main.exit_code(record("failed", 2, failed=1, unreachable=1)) == 1
    assert cli_main.exit_code(record("failed", 4, tasks=0)) == 2  # a playbook Ansible could not parse
    assert cli_main.exit_code(record("canceled", 130)) == 130
