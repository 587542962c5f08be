#!/usr/bin/env python3
"""BMC fleet benchmark (a measurement, not a test): the undercloud's conductor
driving hundreds of BMCs at once, from enrollment to every node's PXE boot.

  sudo .venv/bin/python tools/benchmark-fleet.py [--nodes 500] [--out FILE]

The BMCs are the lab's own virtual IPMI BMC (stackwright_agent.vbmc, RMCP+),
all served from one process on loopback ports, each over a domain of libvirt's
test driver (test:///default): a power state and a boot order kept in memory,
no VM behind them. The undercloud is the real agent daemon (API, registry,
conductor; role conductor) on a temporary socket and state directory. Through
the agent client the collection's modules use (ten at a time, as Ansible's
forks), the tool enrolls every node (baremetal_node's request) and asks each to
inspect (baremetal_node_action's): the conductor reads the power (verify), sets
a one-time network boot and reads it back, and powers the node on, every
request paced per BMC as on a rack. Measured: the enrollment, and from the
first action to the last node's "inspect: ramdisk booting" in the registry's
history. The BMCs note when each IPMI command reaches them, so the report
gives the shortest gap any BMC saw between two requests (a request: one
client call - its login, and a power request with the status read pyghmi
sends before it, count as one). Then every action is aborted and everything removed.
"""

import argparse
import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(ROOT, "agent")
sys.path.insert(0, AGENT)
sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))

USER = "fleet"
# commands closer together than this are one client call (a power request and the
# status read pyghmi sends with it)
BURST = 0.3
DOMAIN_XML = ("<domain type='test'><name>%s</name><memory>1048576</memory><vcpu>1</vcpu>"
              "<os><type>hvm</type><boot dev='hd'/></os></domain>")


def serve(count, base_port, ready_path, log_path, first=0):
    """The fleet: ``count`` BMCs on 127.0.0.1:base_port.. (domains fleetFIRST..), one
    process, one I/O loop."""
    import libvirt
    import pyghmi.ipmi.private.session as ipmisession
    from stackwright_agent import vbmc

    # nothing changes these domains behind the BMCs' backs: no need to look every
    # second (a busy fleet of 500 would spend a core on it, not the conductor's work)
    vbmc.POLL_SECONDS = 60
    password = json.load(sys.stdin)["password"]  # never on a command line
    seen = {}  # port -> monotonic times of the IPMI commands it got

    class RecordingBmc(vbmc.VirtualBmc):
        def handle_raw_request(self, request, session):
            # a login's device id and session commands (netfn 6) and the boot info acknowledge
            # a boot device request starts with (parameter 3) are part of another request
            if request["netfn"] != 6 and not (request["command"] == 8 and bytes(request["data"][:1]) == b"\x03"):
                seen.setdefault(self.port, []).append(time.monotonic())
            return super().handle_raw_request(request, session)

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open("test:///default")
    for i in range(count):
        name = "fleet%04d" % (first + i)
        conn.defineXML(DOMAIN_XML % name)
        worker = vbmc.Worker(vbmc.Domain("test:///default", name))
        worker.refresh()
        RecordingBmc({"domain": name, "address": "127.0.0.1", "port": base_port + i, "username": USER,
                      "password": password}, worker)
        worker.start()

    def stop(_signum, _frame):
        with open(log_path, "w") as fh:
            json.dump(seen, fh)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(ready_path, "w") as fh:
        fh.write("ready\n")
    while True:
        try:
            ipmisession.Session.wait_for_rsp(timeout=30)
        except Exception as exc:  # one bad packet must not end the fleet
            sys.stderr.write("fleet: %s\n" % exc)


def wait_for(what, check, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark-fleet: %s did not happen within %d s" % (what, timeout))
        time.sleep(step)


def sample(pid, peak, stop):
    """The agent's peak RSS (MiB) and threads, every half second."""
    while not stop.wait(0.5):
        try:
            with open("/proc/%d/status" % pid) as fh:
                fields = dict(line.split(":", 1) for line in fh)
        except OSError:
            return
        if "VmRSS" not in fields:  # it has ended (a zombie has no memory)
            return
        peak["rss_mib"] = max(peak.get("rss_mib", 0), int(fields["VmRSS"].split()[0]) // 1024)
        peak["threads"] = max(peak.get("threads", 0), int(fields["Threads"]))


def pacing(seen, min_interval):
    """The shortest gap between two requests at any one BMC, and how many BMCs saw one
    under ``min_interval`` (1 ms of clock slack)."""
    shortest, crowded = None, 0
    for times in seen.values():
        times.sort()
        gaps = [b - a for a, b in zip(times, times[1:]) if b - a > BURST]
        if not gaps:
            continue
        least = min(gaps)
        shortest = least if shortest is None else min(shortest, least)
        crowded += least < min_interval - 0.001
    return shortest, crowded


def run(count, base_port, out, timeout, servers):
    import agent_client
    from stackwright_agent import ipmi

    work = tempfile.mkdtemp(prefix="stackwright-fleet-")
    procs = []
    report = {"nodes": count}
    try:
        # the fleet: SERVERS processes, each its share of the BMCs
        password = secrets.token_hex(8)
        started = time.monotonic()
        share = -(-count // servers)
        for k in range(servers):
            first, last = k * share, min(count, (k + 1) * share)
            if first >= last:
                break
            ready, log = os.path.join(work, "fleet%d.ready" % k), os.path.join(work, "fleet%d.json" % k)
            fleet = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(last - first),
                                      str(base_port + first), ready, log, str(first)], stdin=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONPATH=AGENT))
            procs.append(fleet)
            fleet.stdin.write(json.dumps({"password": password}))
            fleet.stdin.close()
            wait_for("the fleet's start", lambda: os.path.exists(ready) or fleet.poll() is not None, 600)
            if fleet.poll() is not None:
                raise SystemExit("benchmark-fleet: the fleet of BMCs ended (%s)" % fleet.returncode)
        report["fleet_processes"] = len(procs)
        report["fleet_start_s"] = round(time.monotonic() - started, 1)

        # the undercloud's agent, as its unit runs it, in a directory of its own
        sock, state = os.path.join(work, "agent.sock"), os.path.join(work, "state")
        config = os.path.join(work, "agent.json")
        with open(config, "w") as fh:
            json.dump({"console_log_dir": os.path.join(work, "console")}, fh)
        agent = subprocess.Popen([sys.executable, "-m", "stackwright_agent", "--config", config, "--role", "conductor",
                                  "--socket", sock, "--state-dir", state,
                                  "--provisioning-listen", "127.0.0.1:%d" % (base_port + count)],
                                 env=dict(os.environ, PYTHONPATH=AGENT), stderr=open(os.path.join(work, "agent.log"), "w"))
        procs.append(agent)
        wait_for("the agent's socket", lambda: os.path.exists(sock) or agent.poll() is not None, 60)
        if agent.poll() is not None:
            with open(os.path.join(work, "agent.log")) as fh:
                raise SystemExit("benchmark-fleet: the agent ended (%s): %s" % (agent.returncode, fh.read()[-2000:]))
        peak, stop = {}, threading.Event()
        threading.Thread(target=sample, args=(agent.pid, peak, stop), daemon=True).start()
        client = agent_client.AgentClient(sock, timeout=300)
        names = ["fleet%04d" % i for i in range(count)]

        def put(name, body):
            return client.put(agent_client.resource_path("nodes", name), dict(body, dry_run=False))

        def node(i):
            mac = "52:54:01:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 0xff, i & 0xff)
            return {"role": "compute", "kind": "baremetal", "macs": [mac],
                    "bmc": {"address": "127.0.0.1", "port": base_port + i, "username": USER, "password": password}}

        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            t0 = time.time()
            list(pool.map(lambda i: put(names[i], node(i)), range(count)))
            report["enroll_s"] = round(time.time() - t0, 1)
            t1 = time.time()
            list(pool.map(lambda name: put(name, {"provision_action": {"action": "inspect"}}), names))
            report["actions_requested_s"] = round(time.time() - t1, 1)

        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "registry.sqlite"), uri=True, timeout=30)

        def booted():
            booted.row = db.execute("SELECT count(DISTINCT node), max(ts) FROM history WHERE detail = "
                                    "'inspect: ramdisk booting'").fetchone()
            booted.failed = db.execute("SELECT name, last_error FROM nodes WHERE provision_state = 'failed'"
                                       ).fetchall()
            return booted.row[0] >= count or booted.failed
        try:
            wait_for("every node's PXE boot", booted, timeout, step=1)
        except SystemExit:  # said in the report: how far it got
            report["stalled_after_s"] = timeout
        report["booted"] = booted.row[0]
        if booted.failed:
            report["failed"] = {"count": len(booted.failed), "first": booted.failed[0]}
        if booted.row[1] is not None:
            report["power_read_boot_device_power_on_s"] = round(booted.row[1] - t1, 1)
            report["enroll_and_actions_s"] = round(booted.row[1] - t0, 1)

        stop.set()
        if "stalled_after_s" not in report:  # else its workers hear no abort: the agent is stopped as it is
            with concurrent.futures.ThreadPoolExecutor(10) as pool:
                list(pool.map(lambda name: put(name, {"provision_action": {"action": "abort"}}), names))
            wait_for("every action's end", lambda: not db.execute(
                "SELECT count(*) FROM nodes WHERE json_extract(target, '$.status') IN ('running', 'aborting')"
            ).fetchone()[0], 600, step=1)
        report["agent_peak_rss_mib"], report["agent_peak_threads"] = peak.get("rss_mib"), peak.get("threads")
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        seen = {}
        for name in os.listdir(work):
            if name.startswith("fleet") and name.endswith(".json"):
                with open(os.path.join(work, name)) as fh:
                    seen.update(json.load(fh))
        if seen:
            shortest, crowded = pacing(seen, 1.0)
            report["shortest_gap_between_requests_s"] = round(shortest, 3) if shortest is not None else None
            report["bmcs_asked_sooner_than_their_interval"] = crowded
        for port in range(base_port, base_port + count):  # the pacing's lock files of these BMCs
            try:
                os.unlink(os.path.join(ipmi.LOCK_DIR, "127.0.0.1_%d" % port))
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    with open(out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps(report, indent=2))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--base-port", type=int, default=31000, help="the first BMC's UDP port on 127.0.0.1")
    parser.add_argument("--out", default="benchmark-fleet.json")
    parser.add_argument("--timeout", type=int, default=300, help="seconds to wait for every node's PXE boot")
    parser.add_argument("--fleet-processes", type=int, default=1,
                        help="serve the BMCs from this many processes (a real rack's BMCs are each a machine)")
    parser.add_argument("--serve", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        count, port, ready, log, first = args.serve
        return serve(int(count), int(port), ready, log, int(first))
    if not 1 <= args.nodes <= 5000 or not 1024 <= args.base_port <= 65535 - args.nodes - 1:
        parser.error("--nodes from 1 to 5000, and --base-port with room for them below 65535")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still clean up (finally:)
    if not 1 <= args.fleet_processes <= 64:
        parser.error("--fleet-processes from 1 to 64")
    return run(args.nodes, args.base_port, args.out, args.timeout, args.fleet_processes)


if __name__ == "__main__":
    sys.exit(main())
