"""The runs directory and the exit codes, without Ansible: what an operator reads
back (stackwright runs list | show) and what a script sees ($?)."""

import io
import json
import os
import stat
import uuid

import pytest

from stackwright_cli import main as cli_main
from stackwright_cli import runner, runs


def test_secret_looking_extra_vars_are_masked_in_the_record():
    argv = ["overcloud", "deploy", "-e", "bmc_password=hunter2 region=one", "-e",
            '{"admin_password": "x1", "debug": true}', "-e", "nova_secret_key=abc", "--limit", "ctl0"]
    masked = runs.mask_argv(argv)
    text = " ".join(masked)
    assert "hunter2" not in text and "x1" not in text and "abc" not in text
    assert "bmc_password=*** region=one" in masked
    assert json.loads(masked[5]) == {"admin_password": "***", "debug": True}
    assert masked[-2:] == ["--limit", "ctl0"]


@pytest.mark.parametrize("word", [
    "token=@@", "-etoken=@@", "--extra-vars=token=@@", '{"token": "@@"}', "{token: @@}", '{"auth": {"token": "@@"}}',
    "{os: {auth: {password: @@}}}", "api_key=@@", "ssh_key=@@", "OS_AUTH_TOKEN=@@", "db_passphrase=@@",
    "region=one token=@@"])
def test_a_token_or_other_secret_is_masked_in_every_form(word):
    secret = "s-" + uuid.uuid4().hex
    masked = runs.mask_argv(["overcloud", "deploy", "-e", word.replace("@@", secret)])
    assert secret not in " ".join(masked), masked


def test_secret_names_and_not():
    for name in ("token", "OS_PASSWORD", "bmc_passwd", "nova_secret", "api_key", "ssh_private_key", "key",
                 "OS_AUTH_TOKEN", "ipmi_credentials", "luks_passphrase"):
        assert runs.is_secret_key(name), name
    for name in ("region", "ANSIBLE_HOST_KEY_CHECKING", "keystone_url", "monkey", "provision_nodes_file"):
        assert not runs.is_secret_key(name), name


def test_a_known_secret_is_scrubbed_from_every_file_of_a_run(tmp_path):
    secret = 'p"w\\-' + uuid.uuid4().hex  # a quote and a backslash: JSON writes it escaped
    secrets = runs.Secrets()
    secrets.add_env({"OS_PASSWORD": secret, "OS_REGION_NAME": "RegionOne", "KEY_SHORT": "k"})
    phase = tmp_path / "1-deploy"
    (phase / "job_events").mkdir(parents=True)
    (phase / "command").write_text(json.dumps({"command": ["ansible-playbook", "-e", "pw=" + secret],
                                               "env": {"OS_PASSWORD": secret, "MY_TOKEN": "abc",
                                                       "OS_REGION_NAME": "RegionOne"}}))
    (phase / "job_events" / "1-x.json").write_text(json.dumps({"stdout": "said " + secret}))
    (phase / "stdout").write_text("fatal: %s\n" % secret)
    os.chmod(phase / "stdout", 0o644)
    secrets.scrub_tree(str(tmp_path))
    for folder, dirs, files in os.walk(tmp_path):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        for name in files:
            path = os.path.join(folder, name)
            text = open(path).read()
            assert secret not in text and json.dumps(secret)[1:-1] not in text, path
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    command = json.loads((phase / "command").read_text())
    assert command["env"] == {"OS_PASSWORD": "***", "MY_TOKEN": "***", "OS_REGION_NAME": "RegionOne"}
    assert (phase / "stdout").read_text() == "fatal: ***\n"


def test_node_table_escapes_and_cuts_what_the_registry_says():
    stream = io.StringIO()
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[31mboom\r\x9b\u202e" + "E" * 900 * 1024
    cli_main.print_nodes(runner.Display(stream, mode="lines"), [
        {"name": "compute0\x1b[8m", "role": "Compute", "provision_state": "failed\x07", "last_error": hostile},
        {"name": "compute1", "address": "10.0.0.5" + "\x1b[1A" * 100}], None)
    out = stream.getvalue()
    assert not any(c in out for c in "\x1b\x07\x9b\r\u202e"), "no control character reaches the terminal"
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mboom" in out and "compute0\\x1b[8m" in out, "shown, escaped"
    assert max(len(line) for line in out.splitlines()) < 400, "every value cut"


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
