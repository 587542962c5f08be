#!/usr/bin/env python3
"""Deploy benchmark (a measurement, not a test): where the time of a whole flow
goes, per phase (playbook), per play and per role, and how a no-change re-run
compares with the first run. Peak memory of the lab (its VMs, BMCs, container
nodes) is sampled while it runs.

  sudo .venv/bin/python tools/benchmark-deploy.py [--playbook site.yml] [--rerun deploy.yml] [--out FILE]
  .venv/bin/python tools/benchmark-deploy.py --report LEDGER.jsonl      (report on earlier runs only)

Each playbook runs with the change_ledger callback's timings on (the ledger is
kept beside --out); the report is Markdown on stdout, the figures JSON in --out.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def clock(seconds):
    seconds = int(round(seconds))
    return "%d min %02d s" % (seconds // 60, seconds % 60) if seconds >= 60 else "%d s" % seconds


class MemorySampler(threading.Thread):
    """Peak resident memory of the lab's processes: QEMU, the container nodes'
    processes (their cgroup) and the agent serving the BMCs."""

    def __init__(self, interval=5.0):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_mib = 0
        self.stop = threading.Event()

    @staticmethod
    def lab_rss_kib():
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ")
                with open("/proc/%s/cgroup" % pid) as fh:
                    cgroup = fh.read()
                # container nodes live in cgroups named stackwright-<netns>-<node>
                if not (b"qemu-system" in cmd or b"stackwright-agent" in cmd or b"stackwright_agent" in cmd
                        or ":/stackwright-" in cgroup):
                    continue
                with open("/proc/%s/status" % pid) as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def run(self):
        while not self.stop.wait(self.interval):
            self.peak_mib = max(self.peak_mib, self.lab_rss_kib() // 1024)


def run_playbook(playbook, ledger, extra):
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="stackwright.cloud.change_ledger",
               STACKWRIGHT_CHANGE_LEDGER=ledger, STACKWRIGHT_CHANGE_LEDGER_TIMINGS="true",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    argv = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", playbook)] + extra
    t0 = time.monotonic()
    with open(ledger + "." + playbook + ".log", "a") as log:
        rc = subprocess.call(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return rc, time.monotonic() - t0


def load(ledger):
    with open(ledger) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def breakdown(run):
    """Seconds per play, per role (tasks outside roles under their play's name) and the slowest tasks."""
    plays = [(p["name"], p.get("end", run["finished"]) - p["start"]) for p in run.get("plays", [])]
    roles, tasks = {}, []
    for t in run.get("tasks", []):
        seconds = t.get("end", run["finished"]) - t["start"]
        role = t.get("role")
        play = run["plays"][t["play"]]["name"] if run.get("plays") else ""
        if not role:  # a task of the play itself
            role = "(play) %s" % play
        elif role.endswith(".openstack_service"):  # every service's lifecycle: by service
            role = "%s (%s)" % (role, play)
        roles[role] = roles.get(role, 0.0) + seconds
        tasks.append((seconds, t["name"], t.get("changed", 0)))
    tasks.sort(reverse=True)
    return plays, sorted(roles.items(), key=lambda kv: -kv[1]), tasks


def report(runs, memory_mib=None):
    lines = ["| Run | Wall time | Tasks | Changed (task results) | Failed |", "| --- | --- | --- | --- | --- |"]
    for i, run in enumerate(runs):
        label = "%d. %s%s" % (i + 1, run["playbook"], " (check)" if run.get("check_mode") else "")
        row = (label, clock(run["finished"] - run["started"]),
               len(run.get("tasks", [])), len(run["changed"]), len(run["failed"]))
        lines.append("| %s | %s | %d | %d | %d |" % row)
    if memory_mib:
        lines += ["", "Peak memory of the lab (VMs, BMCs, container nodes): %d MiB." % memory_mib]
    for i, run in enumerate(runs):
        plays, roles, tasks = breakdown(run)
        lines += ["", "### %d. %s: per play" % (i + 1, run["playbook"]), "", "| Play | Time |", "| --- | --- |"]
        lines += ["| %s | %s |" % (name, clock(s)) for name, s in plays]
        lines += ["", "Per role (top 12):", "", "| Role | Time |", "| --- | --- |"]
        lines += ["| %s | %s |" % (name, clock(s)) for name, s in roles[:12]]
        lines += ["", "Slowest tasks:", "", "| Task | Time | Hosts changed |", "| --- | --- | --- |"]
        lines += ["| %s | %s | %d |" % (name.replace("|", "/"), clock(s), changed) for s, name, changed in tasks[:8]]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--playbook", default="site.yml", help="the first run (default: site.yml, the whole flow)")
    parser.add_argument("--rerun", default="deploy.yml", help="run again with nothing to change ('' for none)")
    parser.add_argument("--out", default="/var/tmp/stackwright-benchmark-deploy.json")
    parser.add_argument("--report", metavar="LEDGER", help="only report on the runs of this ledger")
    parser.add_argument("-e", dest="extra", action="append", default=[], help="extra vars for every run")
    args = parser.parse_args()
    if args.report:
        print(report(load(args.report)))
        return 0
    ledger = args.out + ".ledger.jsonl"
    if os.path.exists(ledger):
        os.unlink(ledger)
    extra = sum((["-e", e] for e in args.extra), [])
    sampler = MemorySampler()
    sampler.start()
    results = []
    for playbook in [args.playbook] + ([args.rerun] if args.rerun else []):
        rc, seconds = run_playbook(playbook, ledger, extra)
        results.append({"playbook": playbook, "rc": rc, "seconds": round(seconds, 1)})
        print("%s: exit %d after %s" % (playbook, rc, clock(seconds)), file=sys.stderr)
        if rc != 0:
            break
    sampler.stop.set()
    runs = load(ledger)
    with open(args.out, "w") as fh:
        json.dump({"runs": results, "memory_peak_mib": sampler.peak_mib, "ledger": ledger}, fh, indent=2)
    print(report(runs, sampler.peak_mib))
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
