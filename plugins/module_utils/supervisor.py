# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Units on a host whose init is not systemd (a container, a CI runner).

Roles have one way to run a service whatever the init: they write its unit file with
config_files and start or restart it with systemd_units. Where systemd is not PID 1,
systemd_units hands the unit to this module, which reads the same unit file and runs
its ExecStart under a small supervisor process: detached (its own session, stdio to
/var/log/stackwright/<unit>.log), restarting it as Restart= says, with
RuntimeDirectory=, StateDirectory= and UMask= honoured. Nothing starts at boot without
an init to start it, so such units read as "static"; masking needs systemd.

The supervisor's PID and start time are in /run/stackwright/units/<unit>.pid (the
start time tells a live supervisor from a reused PID); the PID of the service it runs
is in <unit>.main.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import signal
import time

UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
STATE_DIR = "/run/stackwright/units"
LOG_DIR = "/var/log/stackwright"
# Where unit files put runtime and state directories (RuntimeDirectory=, StateDirectory=).
RUNTIME_ROOT = "/run"
STATE_ROOT = "/var/lib"
STOP_TIMEOUT = 10
# systemd's Restart= values that restart after a non-zero exit; "always" also after zero.
RESTART_ON_FAILURE = ("on-failure", "on-abnormal", "on-abort", "always")


class UnitError(Exception):
    pass


def systemd_is_init():
    """systemd's own test (sd_booted): it made this directory when it booted the host."""
    return os.path.isdir("/run/systemd/system")


def unit_path(name):
    for directory in UNIT_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def parse(name, text):
    """The [Service] settings the supervisor honours, from a unit file's text; UnitError
    for what it cannot run (naming the unit and the setting)."""
    section, service = None, {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep and section == "Service":
            service.setdefault(key.strip(), []).append(value.strip())

    def one(key, default=None):
        values = [v for v in service.get(key, []) if v]
        return values[-1] if values else default

    kind = one("Type", "simple")
    if kind not in ("simple", "exec", "notify", "idle"):
        raise UnitError("%s: Type=%s needs systemd (without it, units run in the foreground: simple, exec, notify)"
                        % (name, kind))
    start = one("ExecStart")
    if not start:
        raise UnitError("%s: no ExecStart=" % name)
    if start[0] in "@-:+!":
        raise UnitError("%s: ExecStart= with a prefix (%s) needs systemd" % (name, start[0]))
    env = {}
    for value in service.get("Environment", []):
        for item in shlex.split(value):
            key, _, val = item.partition("=")
            env[key] = val
    restart_sec = one("RestartSec", "0.1")
    try:
        restart_sec = float(restart_sec.rstrip("s"))
    except ValueError:
        raise UnitError("%s: RestartSec=%s is not a number of seconds" % (name, restart_sec))
    reload = one("ExecReload", "")
    return {
        "argv": shlex.split(start),
        "environment": env,
        "restart": one("Restart", "no"),
        "restart_sec": restart_sec,
        "umask": int(one("UMask", "0022"), 8),
        "runtime_dirs": [d for v in service.get("RuntimeDirectory", []) for d in v.split()],
        "state_dirs": [d for v in service.get("StateDirectory", []) for d in v.split()],
        "state_dir_mode": int(one("StateDirectoryMode", "0755"), 8),
        # the reload a unit file usually declares: a signal to the main process
        "reload_signal": signal.SIGHUP if "-HUP" in reload or "SIGHUP" in reload else None,
    }


def _start_time(pid):
    """The process's start time in clock ticks since boot, or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    # a zombie has left already, whether or not its parent has reaped it yet
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


def _files(name):
    base = os.path.join(STATE_DIR, name)
    return base + ".pid", base + ".main"


def supervisor_pid(name):
    """The PID of the unit's live supervisor, or None."""
    try:
        with open(_files(name)[0]) as fh:
            pid, started = fh.read().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


def main_pid(name):
    try:
        with open(_files(name)[1]) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) is not None else None


def status(name):
    """{load, active, file} as systemctl show reads them."""
    if unit_path(name) is None:
        return {"load": "not-found", "active": "inactive", "file": ""}
    return {"load": "loaded", "active": "active" if supervisor_pid(name) else "inactive", "file": "static"}


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)


def _supervise(name, unit, log):
    """The supervisor's loop (in the detached grandchild): run the service, restart it as
    Restart= says, pass SIGTERM on and leave when it is asked to."""
    pidfile, mainfile = _files(name)
    state = {"stopping": False, "child": None}

    def stop(*_):
        state["stopping"] = True
        if state["child"]:
            try:
                os.kill(state["child"], signal.SIGTERM)
            except OSError:
                pass

    def reload(*_):
        if state["child"]:
            os.kill(state["child"], signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, reload)
    env = dict(os.environ, **unit["environment"])
    backoff = unit["restart_sec"]
    while not state["stopping"]:
        started = time.monotonic()
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            try:
                os.execvpe(unit["argv"][0], unit["argv"], env)
            except OSError as exc:
                os.write(2, ("%s: cannot run %s: %s\n" % (name, unit["argv"][0], exc)).encode())
            os._exit(127)
        state["child"] = child
        _write(mainfile, "%d\n" % child)
        status = os.waitpid(child, 0)[1]
        state["child"] = None
        code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
        os.write(log, ("%s: %s exited (status %s)\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), name, code)).encode())
        if state["stopping"] or unit["restart"] not in RESTART_ON_FAILURE or (code == 0 and unit["restart"] != "always"):
            break
        # RestartSec= after a service that ran a while; one that keeps failing at once
        # is restarted less and less often
        if time.monotonic() - started > 30:
            backoff = unit["restart_sec"]
        time.sleep(backoff)
        backoff = min(max(backoff, 0.1) * 2, 30)
    for path in (mainfile, pidfile):
        try:
            os.unlink(path)
        except OSError:
            pass


def start(name):
    """Start the unit's supervisor (detached); return its PID. UnitError when the unit
    cannot be run, or its service exits within the first second (with its log's end)."""
    path = unit_path(name)
    if path is None:
        raise UnitError("no such unit on this node: %s (is its package installed?)" % name)
    with open(path) as fh:
        unit = parse(name, fh.read())
    for directory in [STATE_DIR, LOG_DIR] + [os.path.join(RUNTIME_ROOT, d) for d in unit["runtime_dirs"]]:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    for directory in unit["state_dirs"]:
        os.makedirs(os.path.join(STATE_ROOT, directory), mode=unit["state_dir_mode"], exist_ok=True)
    logfile = os.path.join(LOG_DIR, name.rsplit(".", 1)[0] + ".log")
    pidfile = _files(name)[0]
    read_end, write_end = os.pipe()
    first = os.fork()
    if first:
        os.close(write_end)
        with os.fdopen(read_end) as fh:
            answer = fh.read()
        os.waitpid(first, 0)
        if not answer.strip().isdigit():
            raise UnitError("%s: the supervisor did not start: %s" % (name, answer.strip() or "no answer"))
        return _check_started(name, int(answer), logfile)
    # The first child: a session of its own, then the supervisor is its child, which
    # init adopts when this one leaves; nothing of the caller's stays open in it.
    try:
        os.close(read_end)
        os.setsid()
        if os.fork():
            os._exit(0)
        os.umask(unit["umask"])
        log = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in [int(f) for f in os.listdir("/proc/self/fd")]:
            if fd > 2 and fd != write_end:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.chdir("/")
        _write(pidfile, "%d %s\n" % (os.getpid(), _start_time(os.getpid())))
        os.write(write_end, b"%d" % os.getpid())
        os.close(write_end)
        _supervise(name, unit, 1)
    except BaseException as exc:  # never return into the caller's code in a forked child
        try:
            os.write(write_end, str(exc).encode())
        except OSError:
            pass
    os._exit(0)


def _check_started(name, pid, logfile, settle=0.5):
    """PID, once the service has run for SETTLE seconds without exiting."""
    deadline, seen = time.monotonic() + settle, None
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if supervisor_pid(name) != pid:
            break
        main = main_pid(name)
        if seen is not None and main != seen:
            break  # it exited (and may be restarting)
        seen = seen or main
    else:
        if seen:
            return pid
    try:
        with open(logfile, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 2048))
            tail = fh.read().decode("utf-8", "replace").strip()
    except OSError:
        tail = ""
    raise UnitError("%s exited as it started; the end of %s:\n%s" % (name, logfile, tail))


def stop(name, timeout=STOP_TIMEOUT):
    """Stop the unit: SIGTERM to its supervisor (which passes it on), SIGKILL to both
    after TIMEOUT seconds. True when something was running."""
    pid, main = supervisor_pid(name), main_pid(name)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while supervisor_pid(name) == pid and time.monotonic() < deadline:
        time.sleep(0.1)
    if supervisor_pid(name) == pid:
        for victim in (main, pid):
            if victim:
                try:
                    os.kill(victim, signal.SIGKILL)
                except OSError:
                    pass
        for path in _files(name):
            try:
                os.unlink(path)
            except OSError:
                pass
    return True


def restart(name):
    stop(name)
    return start(name)


def reload(name):
    """What ExecReload= declares (a SIGHUP to the service), else a restart; a stopped
    unit starts."""
    path = unit_path(name)
    pid = supervisor_pid(name)
    if path is None or pid is None:
        return start(name)
    with open(path) as fh:
        unit = parse(name, fh.read())
    if unit["reload_signal"] is None:
        return restart(name)
    os.kill(pid, signal.SIGHUP)
    return pid
