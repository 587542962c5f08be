# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One phase = one playbook run through ansible-runner. Its events drive the live
display (phase, play, task, hosts done and failed, elapsed time, a progress bar)
and add up to the phase's record: time, counts per host, the failures."""

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time

import ansible_runner

from stackwright_cli import runs as runs_mod

RESULT_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
                 "runner_on_skipped": "skipped"}
TASK_EVENTS = ("playbook_on_task_start", "playbook_on_handler_task_start")


def clock(seconds):
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds % 3600 // 60, seconds % 60) if seconds >= 3600 \
        else "%d:%02d" % (seconds // 60, seconds % 60)


# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi
# overrides, zero-width): text from nodes and the registry must not drive the terminal
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def escape(text, keep=""):
    """TEXT with every control character but those in KEEP written as an escape (\\x1b)."""
    def repl(match):
        char = match.group()
        if char in keep:
            return char
        return "\\x%02x" % ord(char) if ord(char) < 0x100 else "\\u%04x" % ord(char)
    return CONTROL_RE.sub(repl, str(text))


def one_line(text, width):
    """TEXT on one line of at most WIDTH characters, its control characters escaped."""
    text = escape(" ".join(str(text)[:width * 8].split()))
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


class Display:
    """Where progress goes: a redrawn status line on a terminal, one line per play
    and per failure otherwise (CI logs, pipes), nothing with quiet."""

    def __init__(self, stream=None, mode="auto"):
        self.stream = stream or sys.stdout
        if mode == "auto":
            tty = hasattr(self.stream, "isatty") and self.stream.isatty() and os.environ.get("TERM") != "dumb"
            mode = "bar" if tty else "lines"
        self.mode = mode
        self._lock = threading.Lock()
        self._drawn = False

    def width(self):
        return max(40, shutil.get_terminal_size((100, 24)).columns)

    def status(self, text):
        if self.mode != "bar":
            return
        with self._lock:
            self.stream.write("\r\033[K" + one_line(text, self.width() - 1))
            self.stream.flush()
            self._drawn = True

    def line(self, text, always=False):
        if self.mode == "quiet" and not always:
            return
        with self._lock:
            if self._drawn:
                self.stream.write("\r\033[K")
                self._drawn = False
            # only this line's own escapes reach the terminal; any in TEXT are shown, not obeyed
            self.stream.write(escape(text, keep="\n\t") + "\n")
            self.stream.flush()


class Phase:
    """A playbook run and what its events say."""

    def __init__(self, name, playbook, extravars=None, key=None, show=True):
        self.name = name
        self.playbook = playbook
        self.extravars = extravars or {}
        self.key = key or ""  # tells runs of the same playbook with other settings apart (progress)
        self.show = show
        self.plays = 0
        self.play = ""
        self.task = ""
        self.tasks = 0
        self.hosts = {}  # host -> worst result so far: ok, failed, unreachable
        self.failures = []  # {host, task, msg}
        self.results = []  # (task_action, task, host, res) of ok results, for verbs that read them
        self.stats = {}
        self.started = self.ended = None
        self.status = None
        self.rc = None

    # --- events
    def on_event(self, event):
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.plays += 1
            self.play = data.get("play", "")
            self.task = ""
        elif kind in TASK_EVENTS:
            self.tasks += 1
            self.task = data.get("task", "")
        elif kind in RESULT_EVENTS:
            host = data.get("host", "?")
            result = RESULT_EVENTS[kind]
            if result in ("failed", "unreachable") and not data.get("ignore_errors"):
                self.hosts[host] = result
                res = data.get("res") or {}
                self.failures.append({"host": host, "task": data.get("task", ""),
                                      "msg": res.get("msg") or res.get("stderr") or result})
                return "failure"
            self.hosts.setdefault(host, "ok")
            if result == "ok":
                self.results.append((data.get("task_action", ""), data.get("task", ""), host,
                                     data.get("res") or {}))
        elif kind == "playbook_on_stats":
            self.stats = {k: data.get(k) or {} for k in
                          ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")}
        return kind

    # --- what the phase adds up to
    def hosts_failed(self):
        if self.stats:  # the recap knows which failures a rescue took care of
            return sorted(set(self.stats["failures"]) | set(self.stats["dark"]))
        return sorted(h for h, r in self.hosts.items() if r != "ok")

    def count(self, key):
        return sum((self.stats.get(key) or {}).values())

    def record(self, dir_name, check):
        return {"name": self.name, "playbook": self.playbook, "key": self.key, "dir": dir_name,
                "started": self.started, "ended": self.ended, "seconds": round((self.ended or 0) - (self.started or 0), 1),
                "status": self.status, "rc": self.rc, "check": check, "tasks": self.tasks, "plays": self.plays,
                "hosts": len(self.hosts), "hosts_failed": self.hosts_failed(),
                "ok": self.count("ok"), "changed": self.count("changed"),
                "failed": self.count("failures"), "unreachable": self.count("dark"),
                "changed_by_host": self.stats.get("changed") or {},
                "failures": [f for f in self.failures if f["host"] in self.hosts_failed()][:50]}


def run_phase(ctx, run, index, phase, display, total_phases):
    """Run one phase; returns its record (also added to the run)."""
    dir_name = run.phase_dir(index, phase.name)
    expected = runs_mod.expected_tasks(ctx.runs_dir, phase.playbook, phase.key)
    label = "[%d/%d] %s" % (index, total_phases, phase.name) if total_phases > 1 else phase.name
    phase.started = time.time()
    done = threading.Event()

    def bar():
        elapsed = clock(time.time() - phase.started)
        failed = len(phase.hosts_failed())
        hosts = "%d hosts" % len(phase.hosts) + (", %d failed" % failed if failed else "")
        if expected:
            frac = min(phase.tasks / float(expected), 0.99)
            filled = int(frac * 20)
            meter = "[%s%s] %3d%%" % ("#" * filled, "." * (20 - filled), frac * 100)
        else:
            meter = "[task %d]" % phase.tasks
        where = phase.play + (" | " + phase.task if phase.task else "")
        return "%s %s %s  %s  %s" % (label, meter, elapsed, hosts, where)

    def ticker():
        while not done.wait(1.0):
            if phase.show:
                display.status(bar())

    secrets = run.secrets
    command_file = os.path.join(run.dir, dir_name, "command")
    scrubbed = []

    def on_event(event):
        if not scrubbed:
            # ansible-runner wrote the command line and the whole environment before the first event
            secrets.scrub_command(command_file)
            scrubbed.append(True)
        secrets.scrub_event(event)
        if event.get("event") == "playbook_on_start":
            # ansible-playbook has read its -e files (once, at start): no secret waits on disk for the run
            shutil.rmtree(vars_dir, ignore_errors=True)
        what = phase.on_event(event)
        if not phase.show:
            return True
        now = clock(time.time() - phase.started)
        if what == "playbook_on_play_start":
            display.status(bar())
            if display.mode == "lines":
                display.line("  %s %s play %d: %s" % (now, label, phase.plays, phase.play))
        elif what == "failure":
            f = phase.failures[-1]
            display.line("  %s %s FAILED %s | %s: %s" % (now, label, f["host"], f["task"], one_line(f["msg"], 300)))
        elif what in TASK_EVENTS:
            display.status(bar())
        return True  # keep every event in the run's artifacts

    # the variables go as JSON files outside the runs directory: never split on
    # spaces, never kept in ansible-runner's record of the command
    vars_dir = tempfile.mkdtemp(prefix="stackwright-vars-")
    cmdline = list(ctx.ansible_args) + extra_vars_options(vars_dir, list(ctx.extra_vars) + [phase.extravars])
    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        result = ansible_runner.run(
            private_data_dir=run.dir, artifact_dir=run.dir, ident=dir_name, project_dir=ctx.root,
            playbook=phase.playbook, inventory=ctx.inventories or None, cmdline=" ".join(map(quote, cmdline)),
            envvars=dict(ctx.envvars(), **ledger_env(run.dir)), quiet=True, suppress_env_files=True, event_handler=on_event,
            verbosity=ctx.verbosity or None)
        phase.status, phase.rc = result.status, result.rc
    except KeyboardInterrupt:
        phase.status, phase.rc = "canceled", 130
    finally:
        done.set()
        thread.join()
        phase.ended = time.time()
        shutil.rmtree(vars_dir, ignore_errors=True)
        secrets.scrub_tree(run.dir)
    record = phase.record(dir_name, ctx.check)
    run.add_phase(record)
    if phase.show:
        mark = "ok" if phase.status == "successful" else phase.status
        display.line("%s %-8s %s  changed %d, failed hosts %d%s" % (
            label, mark, clock(record["seconds"]), record["changed"], len(record["hosts_failed"]),
            ("  (" + ", ".join(record["hosts_failed"]) + ")") if record["hosts_failed"] else ""))
    return record


def extra_vars_options(folder, sources):
    """-e @FILE for each source in order (later ones win, as in Ansible): an
    operator's file as given, a mapping written to FOLDER as JSON."""
    out = []
    for n, source in enumerate(sources):
        if isinstance(source, dict):
            if not source:
                continue
            path = os.path.join(folder, "vars-%d.json" % n)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
                json.dump(source, fh)
            source = path
        out += ["-e", "@" + source]
    return out


def ledger_env(run_dir):
    """The change_ledger callback records each playbook's changes and timings in the
    run's ledger.jsonl (tools/benchmark-deploy.py --report reads it)."""
    enabled = [c for c in os.environ.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c]
    return {"ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled + ["stackwright.cloud.change_ledger"]),
            "STACKWRIGHT_CHANGE_LEDGER": os.path.join(run_dir, "ledger.jsonl"),
            "STACKWRIGHT_CHANGE_LEDGER_TIMINGS": "true"}


def quote(word):
    return shlex.quote(str(word))
