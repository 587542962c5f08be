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
import sys
import time

from stackwright_cli import runs as runs_mod
from stackwright_cli.runner import Display, Phase, clock, one_line, run_phase

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_WORDS = {EXIT_OK: "ok", EXIT_FAILED: "failed", EXIT_USAGE: "bad input", EXIT_UNREACHABLE: "unreachable",
              EXIT_INTERRUPTED: "interrupted"}
DEPLOY_VERBS = ("deploy", "overcloud deploy")


def find_root():
    """The collection checkout (or installed collection) whose playbooks we run."""
    env = os.environ.get("STACKWRIGHT_HOME")
    if env:
        return os.path.abspath(env)
    here = os.path.dirname(os.path.abspath(__file__))
    while here != os.path.dirname(here):
        if os.path.isfile(os.path.join(here, "galaxy.yml")) and os.path.isdir(os.path.join(here, "playbooks")):
            return here
        here = os.path.dirname(here)
    return None


class Context:
    def __init__(self, args, root):
        self.root = root
        self.runs_dir = os.path.abspath(args.runs_dir)
        self.state_dir = os.path.dirname(self.runs_dir)
        self.inventories = [os.path.abspath(i) for i in (args.inventory or [])]
        self.verbosity = args.verbose
        self.check = bool(getattr(args, "check", False))
        self.ansible_args = ansible_args(args)

    def envvars(self):
        bindir = os.path.dirname(sys.executable)
        return {
            "ANSIBLE_CONFIG": os.path.join(self.root, "ansible.cfg"),
            # the ansible-playbook beside this Python (the venv's), even when it is not on PATH
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "ANSIBLE_NOCOLOR": "1",
        }

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
    for extra in getattr(args, "extra_vars", None) or []:
        out += ["-e", extra]
    return out


# --------------------------------------------------------------------- running phases

def run_phases(ctx, verb, argv, phases, display):
    """Run the phases in order, stopping at the first that fails; print the summary."""
    run = runs_mod.Run(ctx.runs_dir, verb, argv)
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


# --------------------------------------------------------------------- the verbs

def nodes_file_vars(ctx, args):
    """-e provision_nodes_file=... when node import recorded one and -e does not say."""
    if any(e.startswith("provision_nodes_file=") for e in (args.extra_vars or [])):
        return {}
    imported = ctx.imported_nodes_file()
    return {"provision_nodes_file": imported} if imported else {}


def verb_phases(ctx, args):
    """The phases a verb runs (playbook, extra vars), or None for verbs that run none."""
    v = args.verb
    if v == "lab up":
        return [Phase("lab", "playbooks/lab.yml")]
    if v == "lab down":
        return [Phase("undercloud", "playbooks/undercloud.yml", {"undercloud_state": "absent"}, key="absent"),
                Phase("lab", "playbooks/lab.yml", {"lab_state": "absent"}, key="absent")]
    if v == "undercloud install":
        return [Phase("undercloud", "playbooks/undercloud.yml")]
    if v == "node import":
        return [Phase("import", "playbooks/provision.yml",
                      {"provision_nodes_file": args.file, "provision_enroll_only": "true"}, key="enroll")]
    if v == "node list":
        return [Phase("nodes", "playbooks/node-list.yml", show=False)]
    if v == "node provision":
        extra = nodes_file_vars(ctx, args)
        if args.names:
            extra["provision_nodes"] = ",".join(args.names)
        return [Phase("provision", "playbooks/provision.yml", extra)]
    if v == "node remove":
        extra = nodes_file_vars(ctx, args)
        extra["node"] = args.name
        return [Phase("remove", "playbooks/remove-node.yml", extra)]
    if v == "overcloud deploy":
        return [Phase("deploy", "playbooks/deploy.yml")]
    if v == "overcloud validate":
        return [Phase("validate", "playbooks/validate.yml")]
    if v == "overcloud status":
        return [Phase("status", "playbooks/validate.yml", {"validate_read_only": "true"}, key="status", show=False)]
    if v == "overcloud scale-out":
        extra = nodes_file_vars(ctx, args)
        if args.names:
            extra["scale_nodes"] = ",".join(args.names)
        return [Phase("scale-out", "playbooks/scale.yml", extra)]
    if v == "overcloud scale-in":
        extra = nodes_file_vars(ctx, args)
        extra["node"] = args.name
        if args.force:
            extra["scale_in_force"] = "true"
        return [Phase("scale-in", "playbooks/scale-in.yml", extra)]
    if v == "deploy":
        extra = nodes_file_vars(ctx, args)
        return [Phase("lab", "playbooks/lab.yml"), Phase("undercloud", "playbooks/undercloud.yml"),
                Phase("provision", "playbooks/provision.yml", extra), Phase("deploy", "playbooks/deploy.yml"),
                Phase("validate", "playbooks/validate.yml")]
    return None


def check_input(ctx, args):
    """Problems with the arguments, before anything runs (an error names the fix)."""
    if args.verb == "node import":
        path = os.path.abspath(args.file)
        if not os.path.isfile(path):
            return "node import: %s is not a file" % args.file
        args.file = path
    if args.verb == "node provision" and not args.names and not args.all:
        return "node provision: name the nodes to provision, or give --all"
    if args.verb == "node provision" and args.names and args.all:
        return "node provision: give node names or --all, not both"
    for extra in args.extra_vars or []:
        if not extra.startswith("@") and "=" not in extra and not extra.lstrip().startswith("{"):
            return "-e %s: give KEY=VALUE, a JSON or YAML mapping, or @FILE" % extra
    for inv in ctx.inventories:
        if not os.path.exists(inv):
            return "--inventory %s: no such file or directory" % inv
    return None


def after(ctx, args, code, run, records, display):
    """What some verbs print from their phase's results."""
    phase = records[-1] if records else None
    if args.verb == "node import" and code == EXIT_OK and not ctx.check:
        with open(os.open(ctx.nodes_file_record(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write(args.file + "\n")
        display.line("nodes file %s recorded: node provision, node remove and deploy use it" % args.file, always=True)
    if args.verb == "node list":
        if code != EXIT_OK:
            print_failures(display, records)
            return code
        nodes = result_of(run, "stackwright.cloud.baremetal_node_info", "nodes")
        print_nodes(display, nodes or [], ctx.imported_nodes_file())
    if args.verb in ("overcloud validate", "overcloud status") and phase:
        results = result_of(run, "ansible.builtin.set_fact", "ansible_facts", "validate_results")
        if args.verb == "overcloud status":
            print_last_deploy(ctx, display)
        if results:
            display.line("", always=True)
            for line in results.get("table", []):
                display.line(line, always=True)
        elif args.verb == "overcloud status":
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
    for n in sorted(nodes, key=lambda n: n.get("name", "")):
        rows.append((n.get("name", ""), n.get("role") or "", n.get("kind") or "", n.get("provision_state") or "",
                     n.get("power_state") or "", n.get("address") or "", one_line(n.get("last_error") or "", 160)))
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


# --------------------------------------------------------------------- arguments

def build_parser():
    parser = argparse.ArgumentParser(prog="stackwright", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
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

    verbs = parser.add_subparsers(dest="group", metavar="COMMAND")
    verbs.required = True

    def group(name, help_text):
        sub = verbs.add_parser(name, help=help_text)
        inner = sub.add_subparsers(dest="action", metavar="ACTION")
        inner.required = True
        return inner

    lab = group("lab", "the built-in virtual lab")
    lab.add_parser("up", parents=[ansible], help="build the lab (networks, bare-metal VMs with BMCs, container nodes)")
    lab.add_parser("down", parents=[ansible], help="remove the undercloud and the lab, and nothing else")

    under = group("undercloud", "the undercloud")
    under.add_parser("install", parents=[ansible], help="dnsmasq, the node registry, the image store, the images")

    node = group("node", "bare-metal nodes")
    imp = node.add_parser("import", parents=[ansible], help="validate a nodes file and enroll its nodes")
    imp.add_argument("file", metavar="FILE", help="nodes file: Stackwright YAML/JSON, TripleO instackenv.json or bifrost")
    node.add_parser("list", parents=[ansible], help="the registry's nodes: role, states, address, last error")
    prov = node.add_parser("provision", parents=[ansible], help="provision nodes over IPMI and PXE up to active")
    prov.add_argument("names", nargs="*", metavar="NAME")
    prov.add_argument("--all", action="store_true", help="every node of the nodes file")
    rem = node.add_parser("remove", parents=[ansible], help="power a node off, clean it, back to available (scale-in a compute host first)")
    rem.add_argument("name", metavar="NAME")

    over = group("overcloud", "the OpenStack cloud")
    over.add_parser("deploy", parents=[ansible], help="deploy (or converge) the overcloud on the active nodes")
    over.add_parser("validate", parents=[ansible], help="prove the cloud works: boot a server, attach a volume, ...")
    over.add_parser("status", parents=[ansible], help="the last deploy and the services' state now (reads only)")
    out = over.add_parser("scale-out", parents=[ansible],
                          help="provision and deploy new nodes (default: those the last deploy did not plan)")
    out.add_argument("names", nargs="*", metavar="NAME")
    sin = over.add_parser("scale-in", parents=[ansible],
                          help="disable and drain a compute host, delete its records, unprovision it")
    sin.add_argument("name", metavar="NAME")
    sin.add_argument("--force", action="store_true", help="delete the instances that cannot be moved off it")

    verbs.add_parser("deploy", parents=[ansible], help="everything: lab, undercloud, provision, deploy, validate")

    runs = group("runs", "the runs directory")
    rl = runs.add_parser("list", help="the runs, newest last")
    rl.add_argument("-n", type=int, default=30, help="how many (default 30)")
    rs = runs.add_parser("show", help="one run: phases, counts, failures")
    rs.add_argument("run", metavar="RUN", help="run id, a unique prefix of it, or 'last'")
    rs.add_argument("--output", action="store_true", help="also print each phase's full Ansible output")
    rs.add_argument("--events", action="store_true", help="also list each phase's events")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    args.verb = args.group if args.group == "deploy" else "%s %s" % (args.group, args.action)
    root = find_root()
    if root is None:
        print("stackwright: cannot find the collection's playbooks: set STACKWRIGHT_HOME to the checkout",
              file=sys.stderr)
        return EXIT_USAGE
    ctx = Context(args, root)
    display = Display(mode=args.progress)
    if args.group == "runs":
        if args.action == "list":
            return runs_list(ctx, display, args.n)
        return runs_show(ctx, display, args.run, args.output, args.events)
    problem = check_input(ctx, args)
    if problem:
        print("stackwright: " + problem, file=sys.stderr)
        return EXIT_USAGE
    if os.geteuid() != 0:
        print("stackwright: run as root (the playbooks manage namespaces, VMs and the node registry)", file=sys.stderr)
        return EXIT_USAGE
    phases = verb_phases(ctx, args)
    try:
        code, run, records = run_phases(ctx, args.verb, argv, phases, display)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return after(ctx, args, code, run, records, display)


if __name__ == "__main__":
    sys.exit(main())
