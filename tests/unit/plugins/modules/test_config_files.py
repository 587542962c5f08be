"""config_files writes a role's files in one module run and names the units to
restart: run here as Ansible runs it (the module file with its arguments as JSON),
on real files in a temporary directory. And the filters that render the contents."""

import json
import os
import stat
import subprocess
import sys

import pytest

from fixtures import ROOT, _load

MODULE = os.path.join(ROOT, "plugins", "modules", "config_files.py")
pytestmark = pytest.mark.usefixtures("node_state_dir")
service_files = _load("service_files", "plugins/filter/service_files.py")


def run(tmp_path, files, check=False, diff=False):
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "files": files, "_ansible_check_mode": check, "_ansible_diff": diff}}))
    out = subprocess.run([sys.executable, MODULE, str(args)], capture_output=True, text=True)
    return json.loads(out.stdout)


def entry(path, content, **kw):
    return dict(dest=str(path), content=content, **kw)


def test_writes_what_differs_and_names_the_units_to_restart(tmp_path):
    conf, dropin = tmp_path / "etc" / "nova.conf", tmp_path / "nova-api.service.d" / "stackwright.conf"
    files = [entry(conf, "[DEFAULT]\ndebug = false\n", mode="0640", restarts=["nova-api", "nova-scheduler"]),
             entry(dropin, "[Service]\n", restarts=["nova-api"])]
    first = run(tmp_path, files)
    assert first["changed"] and first["changed_files"] == [str(conf), str(dropin)]
    assert first["restarts"] == ["nova-api", "nova-scheduler"]
    assert conf.read_text() == "[DEFAULT]\ndebug = false\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE(conf.parent.stat().st_mode) == 0o755  # made parent
    # the second run changes nothing and restarts nothing
    again = run(tmp_path, files)
    assert not again["changed"] and again["changed_files"] == [] and again["restarts"] == []
    # one file changed: only its units restart
    files[1]["content"] = "[Service]\nTimeoutStartSec=600\n"
    third = run(tmp_path, files)
    assert third["changed_files"] == [str(dropin)] and third["restarts"] == ["nova-api"]


def test_a_mode_change_alone_is_a_change(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("x\n")
    os.chmod(conf, 0o666)
    result = run(tmp_path, [entry(conf, "x\n", mode="0600", restarts=["a"])])
    assert result["changed_files"] == [str(conf)] and result["restarts"] == ["a"]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600


def test_a_mode_yaml_read_as_a_number_is_taken_as_it_is(tmp_path):
    conf = tmp_path / "a.conf"
    run(tmp_path, [entry(conf, "x\n", mode=0o640)])  # YAML's 0640 arrives as 416
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640


def test_a_file_that_cannot_be_written_is_named(tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory should be\n")
    result = run(tmp_path, [entry(tmp_path / "blocker" / "a.conf", "x\n")])
    assert result.get("failed") and "blocker/a.conf: cannot write it" in result["msg"]


def test_check_mode_writes_nothing(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("old\n")
    result = run(tmp_path, [entry(conf, "new\n", restarts=["a"])], check=True)
    assert result["changed"] and result["restarts"] == ["a"]
    assert conf.read_text() == "old\n"


def test_diff_shows_the_change_but_never_a_secret(tmp_path):
    plain, secret = tmp_path / "ports.conf", tmp_path / "keystone.conf"
    plain.write_text("# ports\nListen 10.0.0.1:80\n")
    files = [entry(plain, "# ports\nListen 10.0.0.2:80\n"),
             entry(secret, "[database]\nconnection = mysql://keystone:s3cret-pw@db/keystone\n", secret=True)]
    result = run(tmp_path, files, diff=True)
    shown = result["diff"]["prepared"]
    assert "-Listen 10.0.0.1:80" in shown and "+Listen 10.0.0.2:80" in shown
    assert str(secret) in shown and "s3cret-pw" not in json.dumps(result)
    # the contents are never echoed back in the module's arguments either
    assert "s3cret-pw" not in json.dumps(result.get("invocation", {}))


@pytest.mark.parametrize("bad, message", [
    (dict(owner="no-such-user-here"), "no user no-such-user-here"),
    (dict(group="no-such-group-here"), "no group no-such-group-here"),
    (dict(mode="0999"), "is not an octal permission"),
])
def test_bad_input_names_the_field_and_writes_nothing(tmp_path, bad, message):
    good, bad_file = tmp_path / "good.conf", tmp_path / "bad.conf"
    result = run(tmp_path, [entry(good, "x\n"), entry(bad_file, "y\n", **bad)])
    assert result.get("failed") and message in result["msg"]
    assert not good.exists() and not bad_file.exists()


def test_a_directory_is_not_overwritten(tmp_path):
    (tmp_path / "d").mkdir()
    result = run(tmp_path, [entry(tmp_path / "d", "x\n")])
    assert result.get("failed") and "is a directory" in result["msg"]


def test_ini_is_the_sorted_sections_of_a_mapping():
    text = service_files.ini({"DEFAULT": {"debug": False, "workers": 2, "hosts": ["a", "b"], "gone": None},
                              "api": {"Auth": "keystone"}})
    assert text == ("# Ansible managed\n[api]\nAuth = keystone\n\n"
                    "[DEFAULT]\ndebug = false\nhosts = a,b\nworkers = 2\n\n")


def test_uwsgi_files_bind_each_address_once_and_restart_their_unit():
    ini, dropin = service_files.uwsgi_files("nova-api", project="nova", port=8774, wsgi_file="/usr/bin/nova-api-wsgi",
                                            addresses=["172.16.2.10", "10.0.0.10", "172.16.2.10"], processes=3)
    assert ini["dest"] == "/etc/nova/nova-api-uwsgi.ini" and ini["group"] == "nova" and ini["mode"] == "0640"
    assert ini["content"].count("http-socket") == 2 and "http-socket = 10.0.0.10:8774\n" in ini["content"]
    # http-socket closes the connection after each answer, and says so (a client's pool
    # would otherwise reuse it after a 204)
    assert "add-header = Connection: close\n" in ini["content"]
    assert "processes = 3\n" in ini["content"] and "logto = /var/log/nova/nova-api.log\n" in ini["content"]
    assert dropin["dest"] == "/etc/systemd/system/nova-api.service.d/stackwright.conf"
    assert "--ini /etc/nova/nova-api-uwsgi.ini\n" in dropin["content"]
    assert ini["restarts"] == dropin["restarts"] == ["nova-api"]
