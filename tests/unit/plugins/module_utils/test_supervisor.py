"""The supervisor that runs units where systemd is not the init (this machine's PID 1
is not systemd, so it is the one the lab host's agent and the undercloud run under):
real processes from real unit files, in temporary directories instead of /etc and /run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fixtures import ROOT

from ansible_collections.stackwright.cloud.plugins.module_utils import supervisor


@pytest.fixture
def units(tmp_path, monkeypatch):
    """Unit, state, log, runtime and state-directory roots under tmp_path; stops every
    unit a test started."""
    for attr, sub in (("UNIT_DIRS", None), ("STATE_DIR", "run/units"), ("LOG_DIR", "log"),
                      ("RUNTIME_ROOT", "run"), ("STATE_ROOT", "lib")):
        monkeypatch.setattr(supervisor, attr, (str(tmp_path / "units"),) if sub is None else str(tmp_path / sub))
    (tmp_path / "units").mkdir()
    started = []

    def write(name, service, **kw):
        text = "[Unit]\nDescription=test\n\n[Service]\n%s\n\n[Install]\nWantedBy=multi-user.target\n" % service
        (tmp_path / "units" / name).write_text(text)
        started.append(name)
        return name

    yield write
    for name in started:
        supervisor.stop(name, timeout=2)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_agents_own_unit_is_understood():
    with open(os.path.join(ROOT, "agent/systemd/stackwright-agent.service")) as fh:
        unit = supervisor.parse("stackwright-agent.service", fh.read())
    assert unit["argv"] == ["/usr/local/sbin/stackwright-agent"]
    assert unit["restart"] == "on-failure" and unit["restart_sec"] == 2
    assert unit["umask"] == 0o077
    assert unit["runtime_dirs"] == ["stackwright"] and unit["state_dirs"] == ["stackwright/agent"]
    assert unit["state_dir_mode"] == 0o700


@pytest.mark.parametrize("service, words", [
    ("Type=forking\nExecStart=/usr/sbin/foo", ["x.service", "Type=forking", "needs systemd"]),
    ("Type=oneshot\nExecStart=/bin/true", ["Type=oneshot"]),
    ("ExecStart=-/usr/sbin/foo", ["prefix", "-"]),
    ("Restart=always", ["no ExecStart"]),
    ("ExecStart=/bin/true\nRestartSec=soon", ["RestartSec=soon"]),
])
def test_what_it_cannot_run_is_refused_naming_the_setting(service, words):
    with pytest.raises(supervisor.UnitError) as err:
        supervisor.parse("x.service", "[Service]\n" + service + "\n")
    for word in words:
        assert word in str(err.value)


def test_a_unit_starts_detached_with_its_settings_and_stops(units, tmp_path):
    out = tmp_path / "out"
    name = units("sleeper.service", "Type=simple\nUMask=0077\nRuntimeDirectory=sleeper\nEnvironment=GREETING=hi\n"
                 "ExecStart=/bin/sh -c 'umask > %s; echo $GREETING >> %s; exec sleep 300'" % (out, out))
    assert supervisor.status(name) == {"load": "loaded", "active": "inactive", "file": "static"}
    pid = supervisor.start(name)
    assert supervisor.status(name)["active"] == "active"
    wait(lambda: out.exists() and len(out.read_text().split()) == 2)
    assert out.read_text().split() == ["0077", "hi"]
    assert (tmp_path / "run" / "sleeper").is_dir()
    main = supervisor.main_pid(name)
    # its own session: a terminal's or the caller's hang-up does not reach it
    assert os.getsid(pid) != os.getsid(0) and os.getsid(main) == os.getsid(pid)
    assert supervisor.stop(name) is True
    assert not alive(main) and not alive(pid)
    assert supervisor.status(name)["active"] == "inactive"
    assert supervisor.stop(name) is False  # nothing left to stop


def test_a_service_that_dies_is_restarted_as_the_unit_says(units):
    name = units("phoenix.service", "Restart=on-failure\nRestartSec=0.2\nExecStart=/bin/sleep 300")
    supervisor.start(name)
    first = supervisor.main_pid(name)
    os.kill(first, signal.SIGKILL)
    wait(lambda: supervisor.main_pid(name) not in (None, first))
    assert supervisor.status(name)["active"] == "active"


def test_without_restart_a_dead_service_leaves_the_unit_inactive(units):
    name = units("once.service", "ExecStart=/bin/sleep 300")
    supervisor.start(name)
    os.kill(supervisor.main_pid(name), signal.SIGTERM)
    wait(lambda: supervisor.status(name)["active"] == "inactive")


def test_a_service_that_fails_at_once_is_an_error_with_its_output(units, tmp_path):
    name = units("broken.service", "ExecStart=/bin/sh -c 'echo bad setting in line 3 >&2; exit 3'")
    with pytest.raises(supervisor.UnitError) as err:
        supervisor.start(name)
    assert "broken.service exited as it started" in str(err.value)
    assert "bad setting in line 3" in str(err.value)
    assert supervisor.status(name)["active"] == "inactive"


def test_a_missing_program_is_an_error_naming_it(units):
    name = units("ghost.service", "ExecStart=/nonexistent/daemon --flag")
    with pytest.raises(supervisor.UnitError) as err:
        supervisor.start(name)
    assert "/nonexistent/daemon" in str(err.value)


def test_a_service_deaf_to_sigterm_is_killed(units):
    name = units("stubborn.service", "ExecStart=/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'")
    supervisor.start(name)
    main = supervisor.main_pid(name)
    started = time.monotonic()
    assert supervisor.stop(name, timeout=1) is True
    assert time.monotonic() - started < 5
    wait(lambda: not alive(main), timeout=3)
    assert supervisor.status(name)["active"] == "inactive"


def test_reload_signals_when_the_unit_says_so_else_restarts(units, tmp_path):
    log = tmp_path / "hup"
    name = units("hup.service", "ExecReload=/bin/kill -HUP $MAINPID\n"
                 "ExecStart=/bin/sh -c 'trap \"echo hup >> %s\" HUP; while :; do sleep 0.1; done'" % log)
    supervisor.start(name)
    main = supervisor.main_pid(name)
    supervisor.reload(name)
    wait(lambda: log.exists() and "hup" in log.read_text())
    assert supervisor.main_pid(name) == main
    other = units("plain.service", "ExecStart=/bin/sleep 300")
    supervisor.start(other)
    before = supervisor.main_pid(other)
    supervisor.reload(other)
    assert supervisor.main_pid(other) not in (None, before)


def test_a_reused_pid_is_not_taken_for_the_unit(units, tmp_path):
    name = units("stale.service", "ExecStart=/bin/sleep 300")
    os.makedirs(supervisor.STATE_DIR, exist_ok=True)
    # this test's own PID, with another start time: a supervisor that died long ago
    with open(os.path.join(supervisor.STATE_DIR, name + ".pid"), "w") as fh:
        fh.write("%d 1\n" % os.getpid())
    assert supervisor.status(name)["active"] == "inactive"
    assert supervisor.stop(name) is False


def test_systemd_units_runs_units_through_it_without_systemd(tmp_path, node_state_dir):
    """As Ansible runs the module on this host (PID 1 is not systemd): a unit that is not
    installed is an error naming it before anything changes; stopping it is no change."""
    if supervisor.systemd_is_init():
        pytest.skip("systemd is this host's init")
    module = os.path.join(ROOT, "plugins", "modules", "systemd_units.py")

    def run(**params):
        args = tmp_path / "args.json"
        args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
        out = subprocess.run([sys.executable, module, str(args)], capture_output=True, text=True)
        return json.loads(out.stdout)

    result = run(names=["stackwright-no-such-unit"], state="started")
    assert result["failed"] and "no such unit on this node: stackwright-no-such-unit.service" in result["msg"]
    result = run(names=["stackwright-no-such-unit"], state="stopped", enabled=False)
    assert not result.get("failed") and result["changed"] is False
    assert result["units"]["stackwright-no-such-unit.service"]["load"] == "not-found"
    result = run(names=["cron"], masked=True, state="stopped")
    assert result.get("failed") and "masking needs systemd" in result["msg"]
