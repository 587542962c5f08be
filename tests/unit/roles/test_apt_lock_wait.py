"""Every apt run the project makes waits for dpkg's lock (bounded) instead of failing
at once when unattended-upgrades holds it on a fresh host: a scan of the roles,
tools, playbooks, Molecule scenarios and image build scripts, so a new apt call
cannot slip in without it; and apt itself, waiting on a lock this test holds (in a
private dpkg state directory: the host's packages are not touched)."""

import fcntl
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from fixtures import ROOT

SCANNED = ("roles", "tools", "playbooks", "molecule")
LOCK_OPTION = "DPkg::Lock::Timeout="
# apt-get/apt actions that take dpkg's lock (or the package lists')
ACTIONS = {"install", "reinstall", "remove", "purge", "autoremove", "upgrade", "dist-upgrade", "full-upgrade",
           "update", "autoclean", "clean", "build-dep", "satisfy", "-f"}
APT_MODULES = ("ansible.builtin.apt", "apt")


def scanned_files():
    for top in SCANNED:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d not in (".venv", "__pycache__", ".git")]
            for name in filenames:
                yield os.path.join(dirpath, name)


def shell_problems(text):
    """The apt commands in shell text that lack the lock wait."""
    text = text.replace("\\\n", " ")  # continuation lines make one command
    problems = []
    for line in text.splitlines():
        code = re.sub(r"(^|\s)#.*", "", line)  # comments
        # quoted text without a command substitution is a message, not a command
        code = re.sub(r'"[^"$]*(\$(?!\()[^"$]*)*"|\'[^\']*\'', "''", code)
        for match in re.finditer(r"(?<![\w.-])apt(-get)?(?![\w.-])([^;&|)]*)", code):
            words = match.group(2).split()
            if ACTIONS & set(words) and not any(LOCK_OPTION in w for w in words):
                problems.append(line.strip())
    return problems


def yaml_problems(node):
    """The apt tasks in parsed YAML that lack lock_timeout."""
    problems = []
    if isinstance(node, dict):
        for key in APT_MODULES:
            if isinstance(node.get(key), dict) and "lock_timeout" not in node[key]:
                problems.append(node.get("name", key))
        for value in node.values():
            problems += yaml_problems(value)
    elif isinstance(node, list):
        for item in node:
            problems += yaml_problems(item)
    return problems


def test_every_apt_run_waits_for_the_dpkg_lock():
    problems = []
    for path in scanned_files():
        rel = os.path.relpath(path, ROOT)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (UnicodeDecodeError, OSError):
            continue  # binary
        if "apt" not in text:
            continue
        if path.endswith((".yml", ".yaml")):
            try:
                problems += ["%s: task %r" % (rel, p) for p in yaml_problems(yaml.safe_load(text))]
            except yaml.YAMLError:
                pass  # Jinja templates of YAML: scanned as text below
        problems += ["%s: %s" % (rel, p) for p in shell_problems(text)]
    assert not problems, "apt runs without a bounded wait for dpkg's lock (ansible.builtin.apt: lock_timeout; " \
        "apt-get: -o %s600):\n%s" % (LOCK_OPTION, "\n".join(problems))


@pytest.mark.parametrize("text, found", [
    ("apt-get install -y foo", True),
    ("  DEBIAN_FRONTEND=noninteractive apt-get -q install foo >/dev/null", True),
    ("x=$(apt-get update -qq 2>&1)", True),
    ("quiet in_chroot apt-get -q -y \\\n\t-o Dpkg::Use-Pty=0 \\\n\tinstall a b", True),
    ("apt install -y foo && echo done", True),
    ("apt-get -o DPkg::Lock::Timeout=600 install -y foo", False),
    ('die "apt-get install $* failed"', False),
    ('die "no installable version of $1 (run apt-get update?)"', False),
    ("# apt-get install foo", False),
    ("(cd dl && apt-get download -q foo=1)", False),
    ("apt-cache policy foo", False),
])
def test_the_scan_finds_apt_commands_not_messages(text, found):
    assert bool(shell_problems(text)) == found


def test_the_scan_finds_apt_tasks_without_lock_timeout():
    tasks = yaml.safe_load("""
- name: a
  ansible.builtin.apt: {name: foo}
- block:
    - name: b
      apt: {name: bar, lock_timeout: 600}
    - name: c
      apt: {name: baz}
""")
    assert yaml_problems(tasks) == ["a", "c"]


@pytest.mark.skipif(not shutil.which("apt-get"), reason="needs apt-get")
def test_apt_get_waits_for_a_held_dpkg_lock_and_says_so(tmp_path):
    state = tmp_path / "dpkg"
    (tmp_path / "lists" / "partial").mkdir(parents=True)
    state.mkdir()
    (state / "status").write_text("")
    fd = os.open(str(state / "lock-frontend"), os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)  # as dpkg and apt lock it
        argv = ["apt-get", "-o", "Dir::State::status=%s" % (state / "status"),
                "-o", "Dir::State::Lists=%s" % (tmp_path / "lists"), "-o", "Debug::NoLocking=0"]
        runs = {}
        for timeout in (0, 2):
            started = time.monotonic()
            out = subprocess.run(argv + ["-o", LOCK_OPTION + str(timeout), "remove", "-y", "no-such-package"],
                                 capture_output=True, text=True, timeout=60)
            runs[timeout] = (time.monotonic() - started, out)
    finally:
        os.close(fd)
    waited, out = runs[2]
    assert out.returncode != 0 and "Waiting for cache lock" in out.stdout + out.stderr, out
    assert waited >= 1.8, "apt-get gave up after %.1f s" % waited
    assert runs[0][0] < 1.5 and "Waiting for cache lock" not in runs[0][1].stdout + runs[0][1].stderr
