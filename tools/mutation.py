#!/usr/bin/env python3
"""Mutation testing of the pure-Python core: does a test fail when the code is wrong?

mutmut (2.x, from PyPI) changes one operator, constant or name at a time in each
module below and runs that module's fast, root-free tests against the change; a
change no test notices (a surviving mutant) is a behaviour the tests do not pin.
Results and survivors: docs/design/mutation-testing.md.

Not part of CI (a run takes tens of minutes on two cores). Install and run:

    .venv/bin/pip install 'mutmut>=2.5,<3' whatthepatch   # into the checkout's venv only
    .venv/bin/python tools/mutation.py --jobs 2 --sample 0.2   # a seeded fifth of the lines
    .venv/bin/python tools/mutation.py ipmi systemd            # every line of two modules
    .venv/bin/python tools/mutation.py --list                  # the modules and their tests

mutmut 2 mutates the file in place and restores it, so this script never runs it in
the checkout: it copies the tracked and new files of the working tree into a
temporary directory (one per module), runs mutmut there and removes the copy.
mutmut's results are kept (--cache): a later run re-tests only the mutants that
survived, and new ones of changed lines (--fresh: all). Each mutant's tests run in a
child of a fork server (tools/mutation_fork.py; --no-fork: a new Python each). It
prints the kill rate per module and the diff of every surviving mutant; --json writes
both to a file.
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module -> (file to mutate, its fast root-free tests). Slow tests (real IPMI
# retries with timeouts, module runs in a subprocess, the agent over its socket)
# are left out: each mutant runs its module's selection once.
MODULES = {
    "transitions": ("agent/stackwright_agent/drivers/nodes.py", [
        "agent/tests/test_node_mutants.py",
        "agent/tests/test_node_transitions_table.py",
        "agent/tests/test_nodes_redfish.py",
    ]),
    "registry": ("agent/stackwright_agent/registry.py", [
        "agent/tests/test_registry_mutants.py",
        "agent/tests/test_nodes_redfish.py::test_a_registry_from_before_redfish_gets_the_columns_and_the_wider_index",
        "agent/tests/test_node_mutants.py",
        "agent/tests/test_node_transitions_table.py",
    ]),
    "schema": ("agent/stackwright_agent/schema.py", [
        "agent/tests/test_schema_mutants.py",
        "agent/tests/test_inputs.py",
    ]),
    "node_schema": ("agent/stackwright_agent/node_schema.py", [
        "tests/unit/plugins/module_utils/test_node_schema_mutants.py",
        "tests/unit/plugins/module_utils/test_node_schema.py",
        "tests/unit/plugins/module_utils/test_nodes_file_redfish.py",
        "tests/unit/plugins/module_utils/test_nodes_file_strict.py",
        "agent/tests/test_schema_mutants.py",
        "agent/tests/test_inputs.py",
        # builds the collection with ansible-galaxy: packaging, not the schema
        "--deselect",
        "tests/unit/plugins/module_utils/test_node_schema.py::test_the_built_collection_carries_it",
    ]),
    "nodes_file": ("plugins/module_utils/nodes_file.py", [
        "tests/unit/plugins/module_utils/test_nodes_file.py",
        "tests/unit/plugins/module_utils/test_nodes_file_strict.py",
        "tests/unit/plugins/module_utils/test_nodes_file_redfish.py",
        "tests/unit/plugins/module_utils/test_nodes_file_mutants.py",
        "tests/unit/plugins/module_utils/test_node_schema.py",
        "-k", "not test_module_ and not test_the_built_collection",  # subprocess runs: the module, packaging
    ]),
    "conductor": ("agent/stackwright_agent/conductor.py", [
        "agent/tests/test_conductor.py",
        # 12 s of a real login to a silent BMC; the step table and the rest pin the same code
        "--deselect", "agent/tests/test_conductor.py::test_a_bmc_that_never_answers_holds_up_no_other_node",
    ]),
    "ipmi": ("agent/stackwright_agent/ipmi.py", [
        "tests/unit/plugins/module_utils/test_ipmi.py",
        "tests/unit/plugins/module_utils/test_ipmi_mutants.py",
        # 10 s of real retries against a silent BMC; test_ipmi_mutants pins the same bounds
        "--deselect", "tests/unit/plugins/module_utils/test_ipmi.py::test_a_silent_bmc_is_retried_and_named",
    ]),
    "systemd": ("plugins/module_utils/systemd.py", [
        "tests/unit/plugins/modules/test_systemd_units.py",
        # systemd_units run as Ansible runs it, through read() and act() (no systemd here)
        "tests/unit/plugins/module_utils/test_supervisor.py::test_systemd_units_runs_units_through_it_without_systemd",
        # the module's own argument checks (a process each): not this file's decisions
        "-k", "not arguments_are_refused",
    ]),
}

COPY_EXCLUDE = (".git", ".venv", "build", "__pycache__", ".mutmut-cache")


def copy_tree(dest):
    """The working tree's tracked and untracked (not ignored) files, as they are now."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
    for rel in filter(None, out.decode().split("\0")):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src) or any(part in COPY_EXCLUDE for part in rel.split("/")):
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)


def sample_lines(work, path, name, fraction, seed):
    """Line numbers (1-based) of PATH that mutmut mutates: every line, or a FRACTION of
    them drawn with SEED (the same lines on every run with that seed, so a later run
    re-tests the same sample), written as a patch mutmut reads (--use-patch-file)."""
    with open(os.path.join(work, path), encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rng = random.Random("%s:%s" % (seed, name))
    chosen = {i + 1 for i in range(len(lines)) if rng.random() < fraction}
    body = ["%s%s" % ("+" if i + 1 in chosen else " ", line) for i, line in enumerate(lines)]
    patch = os.path.join(work, ".mutation-sample.patch")
    with open(patch, "w", encoding="utf-8") as fh:
        fh.write("--- a/%s\n+++ b/%s\n@@ -1,%d +1,%d @@\n%s\n"
                 % (path, path, len(lines) - len(chosen), len(lines), "\n".join(body)))
    return patch, chosen


def run_module(name, keep=False, cache_dir=None, fork=True, fraction=1.0, seed=1):
    path, tests = MODULES[name]
    work = tempfile.mkdtemp(prefix="stackwright-mutation-%s-" % name)
    started = time.time()
    server = None
    try:
        copy_tree(work)
        missing = [t for t in tests if t.endswith(".py") and not os.path.exists(os.path.join(work, t))]
        if missing:
            print("%s: no test file %s" % (name, ", ".join(missing)), file=sys.stderr)
            tests = [t for t in tests if t not in missing]
        if not any(t.endswith(".py") for t in tests):
            # pytest without a file would run the whole suite for every mutant
            return {"module": name, "path": path, "total": 0, "killed": 0, "survived": 0, "counts": {},
                    "kill_rate": None, "survivors": [], "seconds": 0, "error": "no test file"}
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"] + [_quote(t) for t in tests]
        if fork:
            # pytest, Ansible and pyghmi imported once (tools/mutation_fork.py)
            sock = os.path.join(work, ".mutation-fork.sock")
            server = subprocess.Popen([sys.executable, os.path.join(work, "tools", "mutation_fork.py"), "serve", sock],
                                      cwd=work, env=env)
            deadline = time.time() + 60
            while not os.path.exists(sock) and time.time() < deadline and server.poll() is None:
                time.sleep(0.2)
            runner = " ".join([sys.executable, "-I", "-S", "tools/mutation_fork.py", "run", sock] + args)
        else:
            runner = " ".join([sys.executable, "tools/mutation_fork.py", "exec"] + args)
        cache = os.path.join(cache_dir, name + ".sqlite") if cache_dir else None
        if cache and os.path.exists(cache):
            # mutmut re-tests survivors only (when a file of --tests-dir changed): a killed
            # mutant stays killed
            shutil.copy2(cache, os.path.join(work, ".mutmut-cache"))
        mutmut = [sys.executable, "-m", "mutmut"]
        log = os.path.join(work, "mutmut.log")
        sample = []
        chosen = None
        if fraction < 1.0:
            patch, chosen = sample_lines(work, path, name, fraction, seed)
            sample = ["--use-patch-file", patch]
        with open(log, "w") as fh:
            subprocess.run(mutmut + ["run", "--paths-to-mutate", path, "--runner", runner, "--tests-dir", "tests:agent/tests",
                                     "--no-progress", "--simple-output"] + sample,
                           cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
        if cache and os.path.exists(os.path.join(work, ".mutmut-cache")):
            os.makedirs(cache_dir, exist_ok=True)
            shutil.copy2(os.path.join(work, ".mutmut-cache"), cache)
        result = _results(work, name, path, mutmut, env, chosen)
        result["sample"] = fraction
        if result["total"] == 0:
            with open(log) as fh:
                result["error"] = fh.read()[-3000:]
        result["seconds"] = round(time.time() - started)
        return result
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if keep:
            print("kept %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _quote(arg):
    return "'%s'" % arg if " " in arg else arg


def _results(work, name, path, mutmut, env, chosen=None):
    cache = os.path.join(work, ".mutmut-cache")
    counts, survivors = {}, []
    if os.path.exists(cache):
        db = sqlite3.connect(cache)
        with open(os.path.join(work, path), encoding="utf-8") as fh:
            current = fh.read().split("\n")
        rows = db.execute("SELECT Mutant.id, Mutant.status, Line.line, Line.line_number FROM Mutant JOIN Line ON Mutant.line = Line.id "
                          "JOIN SourceFile ON Line.sourcefile = SourceFile.id WHERE SourceFile.filename = ?",
                          (path,)).fetchall()
        db.close()
        for mid, status, line, number in rows:
            if number >= len(current) or current[number] != line:
                continue  # a line of an earlier version of the file (the cache keeps them)
            if chosen is not None and number + 1 not in chosen:
                continue  # tested in an earlier run, not in this sample
            counts[status] = counts.get(status, 0) + 1
            if status in ("bad_survived", "bad_timeout", "ok_suspicious", "untested"):
                diff = subprocess.run(mutmut + ["show", str(mid)], cwd=work, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, universal_newlines=True).stdout
                survivors.append({"id": mid, "status": status, "diff": _short_diff(diff)})
    total = sum(counts.values())
    # a timeout is a mutant the tests noticed (it made them hang): mutmut counts it apart
    killed = counts.get("ok_killed", 0) + counts.get("bad_timeout", 0) + counts.get("ok_suspicious", 0)
    return {"module": name, "path": path, "total": total, "killed": killed,
            "survived": counts.get("bad_survived", 0), "counts": counts,
            "kill_rate": round(100.0 * killed / total, 1) if total else None,
            "survivors": [s for s in survivors if s["status"] == "bad_survived"]}


def _short_diff(diff):
    lines = [ln for ln in diff.splitlines() if ln.startswith(("@@", "-", "+")) and not ln.startswith(("---", "+++"))]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all): %s" % ", ".join(MODULES))
    parser.add_argument("--jobs", type=int, default=1, help="modules mutated at the same time (default 1)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (for `mutmut show`)")
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    parser.add_argument("--cache", default=os.path.join(cache_home, "stackwright-mutation"),
                        help="keep mutmut's results here between runs (default %(default)s)")
    parser.add_argument("--no-fork", action="store_true",
                        help="run each mutant's tests in a new Python (slower; no fork server)")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="mutate this fraction of each module's lines, drawn with --seed (default 1: all)")
    parser.add_argument("--seed", default="1", help="the sample's seed (default 1)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier runs' results")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error("unknown module(s) %s; known: %s" % (", ".join(unknown), ", ".join(MODULES)))
    if not 0 < args.sample <= 1:
        parser.error("--sample must be a fraction above 0, at most 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.list:
        for name, (path, tests) in MODULES.items():
            print("%-12s %s\n             %s" % (name, path, " ".join(tests)))
        return 0
    try:
        subprocess.run([sys.executable, "-m", "mutmut", "--help"], check=True, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        sys.exit("mutmut is not installed in this Python: %s -m pip install 'mutmut>=2.5,<3' whatthepatch"
                 % sys.executable)
    started = time.time()
    names = args.modules or list(MODULES)
    if args.fresh:
        for name in names:
            if os.path.exists(os.path.join(args.cache, name + ".sqlite")):
                os.unlink(os.path.join(args.cache, name + ".sqlite"))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(
            lambda n: run_module(n, args.keep, args.cache, not args.no_fork, args.sample, args.seed), names))
    for r in results:
        for s in r["survivors"]:
            print("--- %s: surviving mutant %d\n%s" % (r["module"], s["id"], s["diff"]))
        if r.get("error"):
            print("--- %s: mutmut made no mutant; its log ends:\n%s" % (r["module"], r["error"]))
    print("\n%-12s %7s %7s %9s %8s" % ("module", "mutants", "killed", "survived", "rate"))
    for r in results:
        print("%-12s %7d %7d %9d %7s%% (%ds)"
              % (r["module"], r["total"], r["killed"], r["survived"], r["kill_rate"], r["seconds"]))
    total = sum(r["total"] for r in results)
    killed = sum(r["killed"] for r in results)
    print("%-12s %7d %7d %9d %7.1f%% (%ds)"
          % ("all", total, killed, total - killed, 100.0 * killed / total if total else 0, time.time() - started))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "seconds": round(time.time() - started)}, fh, indent=1)
    return 0 if total and killed == total else 2


if __name__ == "__main__":
    sys.exit(main())
