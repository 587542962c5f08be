# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""stackwright: stand up and run an OpenStack cloud on bare metal.

Every verb runs one or more of the collection's playbooks (a phase each) through
ansible-runner, shows where it is while it runs and ends with a summary. Every
run is kept in the runs directory (stackwright runs list | show RUN).

Exit status: 0 done; 1 a task failed on some host; 2 bad usage or input (this
command's arguments, or Ansible's own parse and option errors); 3 some hosts were
unreachable (and none failed); 130 interrupted.
"""

import argparse
import os
import re
import sys
import time

import yaml

from stackwright_cli import __version__
from stackwright_cli import collection as collection_mod
from stackwright_cli import runs as runs_mod
from stackwright_cli.runner import Display, Phase, clock, escape, one_line, run_phase

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_WORDS = {EXIT_OK: "ok", EXIT_FAILED: "failed", EXIT_USAGE: "bad input", EXIT_UNREACHABLE: "unreachable",
              EXIT_INTERRUPTED: "interrupted"}
DEPLOY_VERBS = ("deploy", "overcloud deploy")


class Context:
    def __init__(self, args, collection=None):
        self.collection = collection
        self.root = collection.path if collection else None
        self.runs_dir = os.path.abspath(args.runs_dir)
        self.state_dir = os.path.dirname(self.runs_dir)
        self.inventories = [os.path.abspath(i) for i in (args.inventory or [])]
        self.verbosity = args.verbose
        self.check = bool(getattr(args, "check", False))
        self.ansible_args = ansible_args(args)
        # -e in order: the operator's files (paths) and mappings (dicts), checked by check_arguments
        self.extra_vars = getattr(args, "extra_sources", [])
        self.secrets = getattr(args, "secrets", None) or runs_mod.Secrets()

    def envvars(self):
        bindir = os.path.dirname(sys.executable)
        env = {
            # the collection's own settings (the lab inventory by default), wherever it is installed
            "ANSIBLE_CONFIG": os.path.join(self.root, "ansible.cfg"),
            # the ansible-playbook beside this Python (the venv's), even when it is not on PATH
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "ANSIBLE_NOCOLOR": "1",
        }
        if self.collection.search_root:
            # the playbooks' roles and plugins from the collection found, not from ansible.cfg's path
            env["ANSIBLE_COLLECTIONS_PATH"] = self.collection.collections_path(
                os.environ.get("ANSIBLE_COLLECTIONS_PATH"))
        return env

    def nodes_file_record(self):
        return os.path.join(self.state_dir, "nodes-file")

    def imported_nodes_file(self):
        try:
            with open(self.nodes_file_record()) as fh:
                return fh.read().strip() or None
        except OSError:
            return None


def ansible_args(args):
    out = []
    if getattr(args, "check", False):
        out.append("--check")
    if getattr(args, "diff", False):
        out.append("--diff")
    if getattr(args, "limit", None):
        out += ["--limit", args.limit]
    if getattr(args, "tags", None):
        out += ["--tags", args.tags]
    if getattr(args, "skip_tags", None):
        out += ["--skip-tags", args.skip_tags]
    return out


# --------------------------------------------------------------------- running phases

def run_phases(ctx, verb, argv, phases, display):
    """Run the phases in order, stopping at the first that fails; print the summary."""
    run = runs_mod.Run(ctx.runs_dir, verb, argv, ctx.secrets)
    records = []
    code = EXIT_OK
    started = time.time()
    for index, phase in enumerate(phases, 1):
        record = run_phase(ctx, run, index, phase, display, len(phases))
        records.append(record)
        code = exit_code(record)
        if code != EXIT_OK:
            break
    run.finish(code)
    if any(p.show for p in phases):
        print_summary(display, run.data, records, time.time() - started, phases)
    return code, run, records


def exit_code(record):
    if record["status"] == "canceled":
        return EXIT_INTERRUPTED
    if record["status"] == "successful" and record["rc"] == 0:
        return EXIT_OK
    if record["failed"]:
        return EXIT_FAILED
    if record["unreachable"]:
        return EXIT_UNREACHABLE
    if record["rc"] in (4, 5) and not record["tasks"]:
        return EXIT_USAGE  # Ansible refused the playbook, inventory or options before any task
    return EXIT_FAILED


def print_summary(display, run, records, seconds, phases):
    rows = [("phase", "time", "ok", "changed", "failed", "unreachable", "result")]
    for r in records:
        rows.append((r["name"], clock(r["seconds"]), str(r["ok"]), str(r["changed"]), str(r["failed"]),
                     str(r["unreachable"]), "ok" if r["status"] == "successful" else r["status"]))
    for phase in phases[len(records):]:
        rows.append((phase.name, "-", "-", "-", "-", "-", "not run"))
    display.line("")
    for line in table(rows):
        display.line(line, always=True)
    for r in records:
        for f in r["failures"][:20]:
            display.line("  %s: %s | %s: %s" % (r["name"], f["host"], f["task"], one_line(f["msg"], 400)), always=True)
    display.line("%s in %s (%s) - stackwright runs show %s" % (
        EXIT_WORDS.get(run["exit_code"], "failed"), clock(seconds), run["verb"], run["id"]), always=True)


def table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


# --------------------------------------------------------------------- what verbs check, run and print

def nodes_file_vars(ctx, args):
    """-e provision_nodes_file=... when node import recorded one and -e does not say."""
    if "provision_nodes_file" in getattr(args, "extra_names", ()):
        return {}
    imported = ctx.imported_nodes_file()
    return {"provision_nodes_file": imported} if imported else {}


def with_names(key):
    """Phase variables: the recorded nodes file, and NAME... as a comma list in KEY."""
    def extra(ctx, args):
        out = nodes_file_vars(ctx, args)
        if args.names:
            out[key] = ",".join(args.names)
        return out
    return extra


def with_name(key, flags=()):
    """Phase variables: the recorded nodes file, NAME in KEY, and flags given as VAR=true."""
    def extra(ctx, args):
        out = nodes_file_vars(ctx, args)
        out[key] = args.name
        for flag, var in flags:
            if getattr(args, flag):
                out[var] = "true"
        return out
    return extra


def import_file_exists(ctx, args):
    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        return "node import: %s is not a file" % args.file
    args.file = path
    return None


def names_or_all(ctx, args):
    if not args.names and not args.all:
        return "node provision: name the nodes to provision, or give --all"
    if args.names and args.all:
        return "node provision: give node names or --all, not both"
    return None


# --------------------------------------------------------------------- the arguments, checked before anything runs

# a node name as the nodes file has it: a lowercase DNS label
NODE_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
NODE_NAME_RULE = "a node name is 1-63 lowercase letters, digits and '-', not starting or ending with '-'"
VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")
# a backup's name is its UTC start time (roles/backup)
BACKUP_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z|latest")
# --limit, --tags: one word each (Ansible's own pattern syntax within it)
WORD_RE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]{1,1024}")


def shown(value, width=80):
    """A value quoted for an error message: control characters escaped, cut at WIDTH."""
    return "'%s%s'" % (escape(value[:width]), "…" if len(value) > width else "")


def unfit_path(text):
    return not text or escape(text) != text


def check_arguments(args):
    """What the command line says, checked before anything starts: a problem naming
    the argument and the rule, or None. Sets args.extra_sources (the -e values in
    order, a file's path or a mapping), args.extra_names and args.secrets."""
    for name in getattr(args, "names", None) or []:
        if not NODE_NAME_RE.fullmatch(name):
            return "NAME %s: %s%s" % (shown(name), NODE_NAME_RULE, "; an empty name never means all nodes (--all does)"
                                      if not name else "")
    name = getattr(args, "name", None)
    if name is not None and not NODE_NAME_RE.fullmatch(name):
        return "NAME %s: %s" % (shown(name), NODE_NAME_RULE)
    ident = getattr(args, "run", None)
    if ident is not None and not RUN_ID_RE.fullmatch(ident):
        return "RUN %s: a run id (stackwright runs list), a prefix of one, or 'last'" % shown(ident)
    backup = getattr(args, "backup", None)
    if backup is not None and not BACKUP_RE.fullmatch(backup):
        return "BACKUP %s: a backup's name (its UTC start time, like 20261206T153000Z), or 'latest'" % shown(backup)
    for option in ("limit", "tags", "skip_tags"):
        value = getattr(args, option, None)
        if value is not None and not WORD_RE.fullmatch(value):
            return "--%s %s: one word of at most 1024 characters, no spaces or control characters" % (
                option.replace("_", "-"), shown(value))
    paths = [("--inventory", p) for p in args.inventory or []] + [("--runs-dir", args.runs_dir)]
    if getattr(args, "file", None) is not None:
        paths.append(("FILE", args.file))
    for option, path in paths:
        if unfit_path(path):
            return "%s %s: a path, not empty and without control characters" % (option, shown(path))
    return parse_extra_vars(args)


class TaggedLoader(yaml.SafeLoader):
    """An extra-vars file as Ansible reads it, its tags (!vault, !unsafe) read as plain
    values: the file goes to Ansible as it is, this reads it only for its names and secrets."""


TaggedLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None))


def parse_extra_vars(args):
    """-e KEY=VALUE (Ansible's own key=value parsing), a JSON/YAML mapping or @FILE,
    each read here into what goes to Ansible as JSON; the secrets they hold noted."""
    from ansible.errors import AnsibleError
    from ansible.parsing.splitter import parse_kv

    args.extra_sources, args.extra_names, args.secrets = [], set(), runs_mod.Secrets()
    args.secrets.add_env(os.environ)
    for word in getattr(args, "extra_vars", None) or []:
        label = "-e %s" % shown(runs_mod.mask_argv([word])[0], 60)
        if word.startswith("@"):
            path = os.path.abspath(word[1:])
            if unfit_path(word[1:]) or not os.path.isfile(path):
                return "%s: no such file" % label
            with open(path, errors="replace") as fh:
                text = fh.read()
            if text.startswith("$ANSIBLE_VAULT"):
                args.extra_sources.append(path)  # encrypted: Ansible reads it; nothing in it is kept
                continue
            try:
                data = yaml.load(text, Loader=TaggedLoader)
            except yaml.YAMLError as exc:
                return "%s: not YAML or JSON (%s)" % (label, one_line(exc, 200))
            data = {} if data is None else data
            source = path
        elif word.lstrip().startswith(("{", "[")):
            try:
                data = yaml.safe_load(word)
            except yaml.YAMLError as exc:
                return "%s: not a JSON or YAML mapping (%s); values with tags (!unsafe, !vault) go in -e @FILE" % (
                    label, one_line(exc, 200))
            source = data
        else:
            try:
                data = parse_kv(word)
            except AnsibleError:
                return "%s: unbalanced quotes or Jinja2 braces" % label
            if "_raw_params" in data or not data:
                return ("%s: give KEY=VALUE (several separated by spaces), a JSON or YAML mapping, or @FILE; "
                        "a value with spaces goes in a mapping: -e '{\"key\": \"a b\"}'" % label)
            for key, value in data.items():
                if escape(value) != value:
                    return "%s: %s: a KEY=VALUE value has no control characters (give it in a mapping)" % (
                        label, key)
            source = data
        if not isinstance(data, dict):
            return "%s: not a mapping of variable names to values" % label
        for key in data:
            if not isinstance(key, str) or not VAR_NAME_RE.fullmatch(key):
                return "%s: %s: a variable name is a letter or '_', then letters, digits and '_'" % (
                    label, shown(str(key)))
        args.secrets.add_vars(data)
        args.extra_names.update(data)
        args.extra_sources.append(source)
    return None


def inventories_exist(ctx, args):
    for inv in ctx.inventories:
        if not os.path.exists(inv):
            return "--inventory %s: no such file or directory" % inv
    return None


def record_nodes_file(ctx, args, code, run, records, display):
    if code == EXIT_OK and not ctx.check:
        with open(os.open(ctx.nodes_file_record(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write(args.file + "\n")
        display.line("nodes file %s recorded: node provision, node remove and deploy use it" % args.file, always=True)
    return code


def say_if_already_down(ctx, args, code, run, records, display):
    if code == EXIT_OK and records and not any(r["changed"] for r in records):
        display.line("nothing to remove: the undercloud and the lab were already down", always=True)
    return code


def show_nodes(ctx, args, code, run, records, display):
    if code != EXIT_OK:
        print_failures(display, records)
        return code
    nodes = result_of(run, "stackwright.cloud.baremetal_node_info", "nodes")
    print_nodes(display, nodes or [], ctx.imported_nodes_file())
    return code


def print_validation(run, display):
    """validate's pass/fail table, if the run got that far; whether it did."""
    results = result_of(run, "ansible.builtin.set_fact", "ansible_facts", "validate_results")
    if results:
        display.line("", always=True)
        for line in results.get("table", []):
            display.line(line, always=True)
    return bool(results)


def show_validation(ctx, args, code, run, records, display):
    if records:
        print_validation(run, display)
    return code


def show_status(ctx, args, code, run, records, display):
    if records:
        print_last_deploy(ctx, display)
        if not print_validation(run, display):
            print_failures(display, records)
    return code


def result_of(run, action, *keys):
    """A value from the last ok result of a task of this action in the run's events."""
    for record in reversed(run.data["phases"]):
        for event in reversed(runs_mod.phase_events(os.path.dirname(run.dir), run.data, record)):
            data = event.get("event_data") or {}
            if event.get("event") != "runner_on_ok" or data.get("task_action") != action:
                continue
            value = data.get("res") or {}
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                return value
    return None


def print_failures(display, records):
    for r in records:
        for f in r["failures"][:20]:
            display.line("%s: %s" % (f["host"], one_line(f["msg"], 600)), always=True)


def print_nodes(display, nodes, nodes_file):
    rows = [("name", "role", "kind", "provision state", "power", "address", "last error")]
    for n in sorted(nodes, key=lambda n: str(n.get("name", ""))):
        # the registry's text: cut, and its control characters escaped, one line each
        rows.append(tuple(one_line(n.get(key) or "", 64) for key in
                          ("name", "role", "kind", "provision_state", "power_state", "address"))
                    + (one_line(n.get("last_error") or "", 160),))
    for line in table(rows):
        display.line(line, always=True)
    display.line("%d node(s)%s" % (len(nodes), (", nodes file %s" % nodes_file) if nodes_file else ""), always=True)


def print_last_deploy(ctx, display):
    deploys = [r for r in runs_mod.load_runs(ctx.runs_dir) if r.get("verb") in DEPLOY_VERBS and r.get("ended")]
    if not deploys:
        display.line("last deploy: none recorded in %s" % ctx.runs_dir, always=True)
        return
    last = deploys[-1]
    display.line("last deploy: %s, %s, %s (stackwright runs show %s)" % (
        last["verb"], time.strftime("%Y-%m-%d %H:%M", time.localtime(last["ended"])),
        EXIT_WORDS.get(last["exit_code"], "failed"), last["id"]), always=True)


# --------------------------------------------------------------------- runs

def runs_list(ctx, display, limit):
    runs = runs_mod.load_runs(ctx.runs_dir)[-limit:]
    rows = [("run", "command", "started", "time", "result", "phases")]
    for r in runs:
        seconds = (r.get("ended") or time.time()) - r["started"]
        phases = " ".join("%s:%s" % (p["name"], "ok" if p["status"] == "successful" else p["status"])
                          for p in r.get("phases", []))
        result = EXIT_WORDS.get(r.get("exit_code"), "failed") if r.get("ended") else "running or cut short"
        rows.append((r["id"], r["verb"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"])),
                     clock(seconds), result, phases))
    for line in table(rows):
        display.line(line, always=True)
    return EXIT_OK


def runs_show(ctx, display, ident, output=False, events=False):
    run = runs_mod.find_run(ctx.runs_dir, ident)
    if run is None:
        display.line("runs show: no run %s in %s (stackwright runs list)" % (ident, ctx.runs_dir), always=True)
        return EXIT_USAGE
    display.line("run %s: stackwright %s" % (run["id"], " ".join(run["argv"])), always=True)
    ended = run.get("ended")
    if ended:
        outcome = "ended after %s: %s (exit %s)" % (
            clock(ended - run["started"]), EXIT_WORDS.get(run["exit_code"], "failed"), run["exit_code"])
    else:
        outcome = "not ended (running, or cut short)"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started"]))
    display.line("started %s, %s" % (started, outcome), always=True)
    rows = [("phase", "playbook", "time", "tasks", "ok", "changed", "failed", "unreachable", "result")]
    for p in run["phases"]:
        rows.append((p["name"], p["playbook"], clock(p["seconds"]), str(p["tasks"]), str(p["ok"]), str(p["changed"]),
                     str(p["failed"]), str(p["unreachable"]), "ok" if p["status"] == "successful" else p["status"]))
    display.line("", always=True)
    for line in table(rows):
        display.line(line, always=True)
    for p in run["phases"]:
        changed = {h: n for h, n in (p.get("changed_by_host") or {}).items() if n}
        if changed:
            display.line("%s changed: %s" % (p["name"], ", ".join("%s %d" % hn for hn in sorted(changed.items()))),
                         always=True)
        for f in p["failures"]:
            display.line("%s failed: %s | %s: %s" % (p["name"], f["host"], f["task"], one_line(f["msg"], 600)),
                         always=True)
    for p in run["phases"]:
        folder = os.path.join(ctx.runs_dir, run["id"], p["dir"])
        if output:
            try:
                with open(os.path.join(folder, "stdout"), errors="replace") as fh:
                    display.line("\n==> %s output" % p["name"], always=True)
                    display.line(fh.read().rstrip(), always=True)
            except OSError:
                display.line("%s: no output kept" % p["name"], always=True)
        if events:
            display.line("\n==> %s events" % p["name"], always=True)
            for e in runs_mod.phase_events(ctx.runs_dir, run, p):
                d = e.get("event_data") or {}
                display.line("%5s %s %s %s %s" % (e.get("counter", ""), e.get("created", "")[:19], e.get("event"),
                                                  d.get("host", ""), d.get("task", "") or d.get("play", "")),
                             always=True)
    if not output and not events:
        display.line("events and output: %s/<phase>/ (job_events/, stdout); --output, --events" % os.path.join(
            ctx.runs_dir, run["id"]), always=True)
    return EXIT_OK


# --------------------------------------------------------------------- the verbs

class Verb:
    """One command: its words and help, its own arguments, the checks of its input
    before anything runs, the phases (playbooks) it runs, and what it prints from
    their results. A verb with ``run`` runs no playbook (runs list, runs show)."""

    def __init__(self, words, help, phases=None, arguments=(), checks=(), after=None, run=None):
        self.words = words
        self.help = help
        self.phases = phases  # (ctx, args) -> [Phase]
        self.arguments = arguments  # ((flags...), {argparse options})
        self.checks = checks  # (ctx, args) -> a problem to print, or None
        self.after = after  # (ctx, args, code, run, records, display) -> exit code
        self.run = run  # (ctx, args, display) -> exit code

    def check(self, ctx, args):
        for check in tuple(self.checks) + (() if self.run else (inventories_exist,)):
            problem = check(ctx, args)
            if problem:
                return problem
        return None


def phase(name, playbook, extravars=None, **options):
    """A phase as a verb runs it: fixed variables, or variables from (ctx, args)."""
    def make(ctx, args):
        extra = extravars(ctx, args) if callable(extravars) else dict(extravars or {})
        return Phase(name, "playbooks/%s.yml" % playbook, extra, **options)
    return make


def phases(*makers):
    return lambda ctx, args: [make(ctx, args) for make in makers]


NAMES = (("names",), dict(nargs="*", metavar="NAME"))
NAME = (("name",), dict(metavar="NAME"))
BACKUP = (("backup",), dict(nargs="?", default="latest", metavar="BACKUP",
                            help="the backup's name (its UTC start time), or latest"))

GROUPS = {"lab": "the built-in virtual lab", "undercloud": "the undercloud", "node": "bare-metal nodes",
          "overcloud": "the OpenStack cloud", "runs": "the runs directory"}

VERBS = [
    Verb("lab up", "build the lab (networks, bare-metal VMs with BMCs, container nodes)", phases(phase("lab", "lab"))),
    Verb("lab down", "remove the undercloud and the lab, and nothing else", phases(
        phase("undercloud", "undercloud", {"undercloud_state": "absent"}, key="absent"),
        phase("lab", "lab", {"lab_state": "absent"}, key="absent")), after=say_if_already_down),
    Verb("undercloud install", "dnsmasq, the node registry, the image store, the images",
         phases(phase("undercloud", "undercloud"))),
    Verb("undercloud backup", "back up the node registry, the SSH keys, the nodes file and the image manifest",
         phases(phase("backup", "undercloud-backup",
                      lambda ctx, args: {"undercloud_backup_images": True} if args.images else {})),
         arguments=[(("--images",), dict(action="store_true", help="copy the images too (by default their names "
                                                                   "and SHA-256: undercloud install rebuilds them)"))]),
    Verb("undercloud restore", "restore the registry and the keys from a backup (default: the newest)",
         phases(phase("restore", "undercloud-restore", lambda ctx, args: {"undercloud_backup_restore": args.backup})),
         arguments=[BACKUP]),
    Verb("node import", "validate a nodes file and enroll its nodes", phases(
        phase("import", "provision", lambda ctx, args: {"provision_nodes_file": args.file,
                                                        "provision_enroll_only": "true"}, key="enroll")),
         arguments=[(("file",), dict(metavar="FILE", help="nodes file: Stackwright YAML/JSON, TripleO "
                                                          "instackenv.json or bifrost"))],
         checks=[import_file_exists], after=record_nodes_file),
    Verb("node list", "the registry's nodes: role, states, address, last error",
         phases(phase("nodes", "node-list", show=False)), after=show_nodes),
    Verb("node provision", "provision nodes over IPMI and PXE up to active",
         phases(phase("provision", "provision", with_names("provision_nodes"))),
         arguments=[NAMES, (("--all",), dict(action="store_true", help="every node of the nodes file"))],
         checks=[names_or_all]),
    Verb("node remove", "power a node off, clean it, back to available (scale-in a compute host first)",
         phases(phase("remove", "remove-node", with_name("node"))), arguments=[NAME]),
    Verb("node abort", "stop the provisioning action running on a node (it goes failed; provision starts it over)",
         phases(phase("abort", "node-abort", lambda ctx, args: {"node": args.name})), arguments=[NAME]),
    Verb("overcloud deploy", "deploy (or converge) the overcloud on the active nodes",
         phases(phase("deploy", "deploy"))),
    Verb("overcloud validate", "prove the cloud works: boot a server, attach a volume, ...",
         phases(phase("validate", "validate")), after=show_validation),
    Verb("overcloud status", "the last deploy and the services' state now (reads only)",
         phases(phase("status", "validate", {"validate_read_only": "true"}, key="status", show=False)),
         after=show_status),
    Verb("overcloud rotate-keys", "rotate Keystone's fernet keys now (tokens issued before still validate)",
         phases(phase("rotate-keys", "rotate-keys"))),
    Verb("overcloud backup", "back up the databases, keys, configuration and secrets to the deploy host",
         phases(phase("backup", "backup"))),
    Verb("overcloud restore", "restore the databases and keys from a backup (default: the newest)",
         phases(phase("restore", "restore", lambda ctx, args: {"backup_restore": args.backup})),
         arguments=[BACKUP]),
    Verb("overcloud scale-out", "provision and deploy new nodes (default: those the last deploy did not plan)",
         phases(phase("scale-out", "scale", with_names("scale_nodes"))), arguments=[NAMES]),
    Verb("overcloud scale-in", "disable and drain a compute host, delete its records, unprovision it",
         phases(phase("scale-in", "scale-in", with_name("node", [("force", "scale_in_force")]))),
         arguments=[NAME, (("--force",), dict(action="store_true",
                                              help="delete the instances that cannot be moved off it"))]),
    Verb("deploy", "everything: lab, undercloud, provision, deploy, validate", phases(
        phase("lab", "lab"), phase("undercloud", "undercloud"),
        phase("provision", "provision", nodes_file_vars), phase("deploy", "deploy"),
        phase("validate", "validate")), after=show_validation),
    Verb("runs list", "the runs, newest last",
         arguments=[(("-n",), dict(type=int, default=30, help="how many (default 30)"))],
         run=lambda ctx, args, display: runs_list(ctx, display, args.n)),
    Verb("runs show", "one run: phases, counts, failures",
         arguments=[(("run",), dict(metavar="RUN", help="run id, a unique prefix of it, or 'last'")),
                    (("--output",), dict(action="store_true",
                                         help="also print each phase's full Ansible output")),
                    (("--events",), dict(action="store_true", help="also list each phase's events"))],
         run=lambda ctx, args, display: runs_show(ctx, display, args.run, args.output, args.events)),
]


# --------------------------------------------------------------------- arguments

def version_text():
    """This command's version, and the collection's it would run (they ship together)."""
    import ansible.release

    me = "stackwright %s (%s)" % (__version__, os.path.dirname(os.path.abspath(__file__)))
    try:
        found = collection_mod.find()
    except collection_mod.NotFound as exc:
        return "%s\ncollection %s: %s" % (me, collection_mod.NAME, exc), EXIT_USAGE
    return "%s\ncollection %s %s (%s)\nansible-core %s" % (
        me, collection_mod.NAME, found.version(), found.path, ansible.release.__version__), EXIT_OK


class VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0,
                         help="print the versions and where the collection is, then exit")

    def __call__(self, parser, namespace, values, option_string=None):
        text, code = version_text()
        print(text)
        parser.exit(code)


def build_parser():
    parser = argparse.ArgumentParser(prog="stackwright", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("-i", "--inventory", action="append",
                        help="inventory file or directory (repeatable; default: ansible.cfg's, the built-in lab)")
    parser.add_argument("--runs-dir", default=runs_mod.default_runs_dir(),
                        help="where runs are kept (default: $STACKWRIGHT_RUNS_DIR or /var/lib/stackwright/runs)")
    parser.add_argument("--progress", choices=["auto", "bar", "lines", "quiet"], default="auto",
                        help="bar: a live status line; lines: a line per play and failure; auto: bar on a terminal")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="Ansible verbosity, kept in the run's output")

    ansible = argparse.ArgumentParser(add_help=False)
    group = ansible.add_argument_group("passed to Ansible")
    group.add_argument("-C", "--check", action="store_true", help="predict the changes, make none")
    group.add_argument("-D", "--diff", action="store_true", help="show what files and settings change")
    group.add_argument("-l", "--limit", help="only these hosts (an Ansible pattern)")
    group.add_argument("-t", "--tags", help="only tasks with these tags")
    group.add_argument("--skip-tags", help="skip tasks with these tags")
    group.add_argument("-e", "--extra-vars", action="append", help="KEY=VALUE, a JSON/YAML mapping or @FILE (repeatable)")

    top = parser.add_subparsers(dest="group", metavar="COMMAND")
    top.required = True
    groups = {}
    for verb in VERBS:
        words = verb.words.split()
        if len(words) == 1:
            sub = top.add_parser(words[0], parents=[] if verb.run else [ansible], help=verb.help)
        else:
            if words[0] not in groups:
                parent = top.add_parser(words[0], help=GROUPS[words[0]])
                inner = parent.add_subparsers(dest="action", metavar="ACTION")
                inner.required = True
                groups[words[0]] = inner
            sub = groups[words[0]].add_parser(words[1], parents=[] if verb.run else [ansible], help=verb.help)
        for flags, options in verb.arguments:
            sub.add_argument(*flags, **options)
        sub.set_defaults(verb=verb.words)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    verb = next(v for v in VERBS if v.words == args.verb)
    problem = check_arguments(args)
    if problem:
        print("stackwright: " + problem, file=sys.stderr)
        return EXIT_USAGE
    display = Display(mode=args.progress)
    if verb.run:
        return verb.run(Context(args), args, display)
    try:
        found = collection_mod.find()
    except collection_mod.NotFound as exc:
        print("stackwright: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    ctx = Context(args, found)
    problem = verb.check(ctx, args)
    if problem:
        print("stackwright: " + problem, file=sys.stderr)
        return EXIT_USAGE
    if os.geteuid() != 0:
        print("stackwright: run as root (the playbooks manage namespaces, VMs and the node registry)", file=sys.stderr)
        return EXIT_USAGE
    try:
        code, run, records = run_phases(ctx, args.verb, argv, verb.phases(ctx, args), display)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return verb.after(ctx, args, code, run, records, display) if verb.after else code


if __name__ == "__main__":
    sys.exit(main())
