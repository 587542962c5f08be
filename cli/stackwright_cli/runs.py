# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runs directory: one folder per stackwright command, holding run.json (the
command, its phases with their times, counts and failures, the exit code) and,
per phase, ansible-runner's artifacts (every event as JSON, the full stdout).

    RUNS/20261202-191503-node-provision/run.json
    RUNS/20261202-191503-node-provision/1-provision/job_events/*.json
    RUNS/20261202-191503-node-provision/1-provision/stdout

The directory is root's only (0700, its files 0600) and holds no secret the
command was given: its variables reach Ansible from a file outside the directory,
and ansible-runner's records (command with the whole environment, job_events,
stdout) are scrubbed of the values of secret-named variables (-e, -e @FILE) and
environment variables (OS_PASSWORD, ...). A secret a playbook prints on its own
is no_log's to keep out.
"""

import json
import os
import re
import time

import yaml

# names of variables and environment variables whose values are secrets
SECRET_KEY_RE = re.compile(r"pass(word|wd|phrase)?|secret|token|credential|(^|_)((api|private|ssh)_?)?key$", re.I)
MASK = "***"
# free text is scrubbed of secret values at least this long; a shorter one would
# mangle the record (every "1" replaced) and is masked by its key only
SCRUB_MIN = 4


def default_runs_dir():
    return os.environ.get("STACKWRIGHT_RUNS_DIR") or "/var/lib/stackwright/runs"


def is_secret_key(name):
    return bool(SECRET_KEY_RE.search(str(name)))


def mask_data(data):
    """DATA with the values of secret-named keys, at any depth, masked."""
    if isinstance(data, dict):
        return {k: MASK if is_secret_key(k) else mask_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_data(v) for v in data]
    return data


def mask_argv(argv, secrets=None):
    """The command line as recorded: values of secret-named keys in key=value
    words and in mappings given to -e (JSON or YAML, at any depth; also as
    -eWORD and --extra-vars=WORD) become ***, and so does any value SECRETS holds."""
    out = []
    for word in argv:
        prefix, body = _split_option(word)
        data = None
        if body.lstrip().startswith("{"):
            try:
                data = yaml.safe_load(body)
            except yaml.YAMLError:
                data = None
        if isinstance(data, dict):
            masked = prefix + json.dumps(mask_data(data))
        else:
            masked = prefix + " ".join(_mask_pair(part) for part in body.split(" "))
        out.append(secrets.scrub(masked) if secrets else masked)
    return out


def _split_option(word):
    if word.startswith("--extra-vars="):
        return "--extra-vars=", word[len("--extra-vars="):]
    if word.startswith("-e") and len(word) > 2:
        return "-e", word[2:]
    return "", word


def _mask_pair(part):
    key, sep, _ = part.partition("=")
    return key + "=" + MASK if sep and is_secret_key(key) else part


class Secrets:
    """The secret values a command was given, to keep them out of its record."""

    def __init__(self):
        self.values = set()

    def add(self, value):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) >= SCRUB_MIN:
            self.values.add(str(value))

    def add_vars(self, data, secret=False):
        """Every value under a secret-named key of DATA, at any depth."""
        if isinstance(data, dict):
            for key, value in data.items():
                self.add_vars(value, secret or is_secret_key(key))
        elif isinstance(data, list):
            for value in data:
                self.add_vars(value, secret)
        elif secret:
            self.add(data)

    def add_env(self, environ):
        self.add_vars({k: v for k, v in environ.items() if is_secret_key(k)})

    def _forms(self):
        # longest first, so a secret that holds another is masked whole; each also as JSON escapes it
        for value in sorted(self.values, key=len, reverse=True):
            yield value
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                yield escaped

    def scrub(self, text):
        for form in self._forms():
            text = text.replace(form, MASK)
        return text

    def scrub_data(self, data):
        if isinstance(data, dict):
            return {(self.scrub(k) if isinstance(k, str) else k): self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.scrub_data(v) for v in data]
        return self.scrub(data) if isinstance(data, str) else data

    def scrub_event(self, event):
        """An ansible-runner event, in place: job_events gets it after the handler."""
        if not self.values:
            return
        for key, value in list(event.items()):
            event[key] = self.scrub_data(value)

    def scrub_command(self, path):
        """ansible-runner's `command` record: the command line and the whole environment."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and isinstance(data.get("env"), dict):
            data["env"] = {k: MASK if is_secret_key(k) else v for k, v in data["env"].items()}
        write_private(path, json.dumps(self.scrub_data(data), ensure_ascii=False))

    def scrub_tree(self, top):
        """Every file under TOP scrubbed and private: directories 0700, files 0600."""
        os.chmod(top, 0o700)
        for folder, dirs, files in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o700)
            for name in files:
                path = os.path.join(folder, name)
                if name == "command":
                    self.scrub_command(path)
                elif self.values:
                    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                        text = fh.read()
                    clean = self.scrub(text)
                    if clean != text:
                        write_private(path, clean)
                os.chmod(path, 0o600)


def write_private(path, text):
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8",
              errors="surrogateescape") as fh:
        fh.write(text)
    os.replace(tmp, path)


class Run:
    """One stackwright command's record, written after every phase."""

    def __init__(self, runs_dir, verb, argv, secrets=None):
        self.secrets = secrets or Secrets()
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
        self.data = {"id": ident, "verb": verb, "argv": mask_argv(argv, self.secrets), "started": time.time(),
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
        write_private(os.path.join(self.dir, "run.json"), json.dumps(self.secrets.scrub_data(self.data), indent=2))


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
