# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runs directory: one folder per stackwright command, holding run.json (the
command, its phases with their times, counts and failures, the exit code) and,
per phase, ansible-runner's artifacts (every event as JSON, the full stdout).

    RUNS/20261202-191503-node-provision/run.json
    RUNS/20261202-191503-node-provision/1-provision/job_events/*.json
    RUNS/20261202-191503-node-provision/1-provision/stdout

The directory is root's only (0700): a playbook's output is no place for
secrets, and no_log keeps them out, but an operator's -e may not.
"""

import json
import os
import re
import time

# -e values of keys like these are masked in run.json
SECRET_KEY_RE = re.compile(r"(password|passwd|secret|token|key)", re.I)


def default_runs_dir():
    return os.environ.get("STACKWRIGHT_RUNS_DIR") or "/var/lib/stackwright/runs"


def mask_argv(argv):
    """The command line as recorded: values of secret-looking keys in key=value
    words (and in JSON given to -e) become ***."""
    out = []
    for word in argv:
        stripped = word.strip()
        if stripped.startswith("{"):
            try:
                data = json.loads(stripped)
            except ValueError:
                data = None
            if isinstance(data, dict):
                out.append(json.dumps({k: "***" if SECRET_KEY_RE.search(k) else v for k, v in data.items()}))
                continue
        out.append(" ".join(_mask_pair(part) for part in word.split(" ")))
    return out


def _mask_pair(part):
    key, sep, _ = part.partition("=")
    return key + "=***" if sep and SECRET_KEY_RE.search(key) else part


class Run:
    """One stackwright command's record, written after every phase."""

    def __init__(self, runs_dir, verb, argv):
        os.makedirs(runs_dir, mode=0o700, exist_ok=True)
        os.chmod(runs_dir, 0o700)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = "%s-%s" % (stamp, verb.replace(" ", "-"))
        ident, n = base, 1
        while True:
            try:
                os.mkdir(os.path.join(runs_dir, ident), 0o700)
                break
            except FileExistsError:
                n += 1
                ident = "%s-%d" % (base, n)
        self.id = ident
        self.dir = os.path.join(runs_dir, ident)
        self.data = {"id": ident, "verb": verb, "argv": mask_argv(argv), "started": time.time(),
                     "ended": None, "exit_code": None, "phases": []}
        self.save()

    def phase_dir(self, index, name):
        return "%d-%s" % (index, name)

    def add_phase(self, phase):
        self.data["phases"].append(phase)
        self.save()

    def finish(self, exit_code):
        self.data["ended"] = time.time()
        self.data["exit_code"] = exit_code
        self.save()

    def save(self):
        path = os.path.join(self.dir, "run.json")
        tmp = path + ".tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            json.dump(self.data, fh, indent=2)
        os.replace(tmp, path)


def load_runs(runs_dir):
    """Every recorded run, oldest first (unreadable ones are skipped)."""
    runs = []
    if not os.path.isdir(runs_dir):
        return runs
    for name in sorted(os.listdir(runs_dir)):
        try:
            with open(os.path.join(runs_dir, name, "run.json")) as fh:
                runs.append(json.load(fh))
        except (OSError, ValueError):
            continue
    return runs


def find_run(runs_dir, ident):
    """A run by its id, a unique prefix of it, or 'last'."""
    runs = load_runs(runs_dir)
    if ident == "last":
        return runs[-1] if runs else None
    exact = [r for r in runs if r["id"] == ident]
    if exact:
        return exact[0]
    matches = [r for r in runs if r["id"].startswith(ident)]
    return matches[0] if len(matches) == 1 else None


def expected_tasks(runs_dir, playbook, extra_key):
    """How many tasks the last successful run of this playbook (with the same
    settings key) started: the progress bar's 100 %."""
    for run in reversed(load_runs(runs_dir)):
        for phase in run.get("phases", []):
            if (phase.get("playbook") == playbook and phase.get("key") == extra_key
                    and phase.get("status") == "successful" and not phase.get("check")):
                return phase.get("tasks") or None
    return None


def phase_events(runs_dir, run, phase):
    """The phase's events in order, as ansible-runner kept them."""
    folder = os.path.join(runs_dir, run["id"], phase["dir"], "job_events")
    events = []
    if not os.path.isdir(folder):
        return events
    for name in os.listdir(folder):
        if name.endswith(".json"):
            try:
                with open(os.path.join(folder, name)) as fh:
                    events.append(json.load(fh))
            except (OSError, ValueError):
                continue
    events.sort(key=lambda e: e.get("counter", 0))
    return events
