"""The baremetal_* modules, run for real: ansible-playbook (from this Python's
venv) against an in-process agent on a temporary socket, its provisioning
listener on 127.0.0.1, and a thread that plays the ramdisk's reports through
that listener. Each play registers every task's result and writes them to a
JSON file the test reads."""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest

from fixtures import http

BIN = os.path.dirname(sys.executable)
PASSWORD = "pw-" + uuid.uuid4().hex[:12]
NEW_PASSWORD = "pw2-" + uuid.uuid4().hex[:12]
GiB = 1 << 30
IMAGE_SHA = hashlib.sha256(b"overcloud image").hexdigest()
OTHER_SHA = hashlib.sha256(b"another image").hexdigest()
INVENTORY = {"cpus": {"count": 2, "model": "QEMU"}, "memory_mib": 2048,
             "nics": [{"name": "ens3", "mac": "52:54:00:aa:00:01", "link": True, "speed_mbps": 1000}],
             "disks": [{"name": "vda", "path": "/dev/vda", "size_bytes": 20 * GiB, "rotational": True}]}


# ----------------------------------------------------------------- harness

class Playbook:
    """Runs tasks on localhost with ansible-playbook; every task's result is registered
    (errors ignored) and returned in order, with the run's output."""

    def __init__(self, tmp_path, collections, socket):
        self.dir = tmp_path
        self.socket = socket
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"),
                        ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                        ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0",
                        ANSIBLE_RETRY_FILES_ENABLED="0")
        self.runs = 0

    def start(self, tasks, *args):
        self.runs += 1
        self.results = str(self.dir / ("results%d.json" % self.runs))
        play_tasks = [dict(task, register="r%d" % i, ignore_errors=True) for i, task in enumerate(tasks)]
        play_tasks.append({"name": "write the results", "check_mode": False, "diff": False,
                           "ansible.builtin.copy": {
                               "dest": self.results,
                               "content": "{{ [%s] | to_json }}" % ", ".join("r%d" % i for i in range(len(tasks)))}})
        play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 # the action group: agent_socket for every agent-backed module
                 "module_defaults": {"group/stackwright.cloud.agent": {"agent_socket": self.socket,
                                                                       "agent_timeout": 30}},
                 "tasks": play_tasks}]
        path = self.dir / ("play%d.yml" % self.runs)
        path.write_text(json.dumps(play, indent=1))  # JSON is YAML
        return subprocess.Popen([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(path)] + list(args),
                                cwd=str(self.dir), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    def finish(self, proc):
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output
        with open(self.results, encoding="utf-8") as fh:
            return json.load(fh), output

    def run(self, tasks, *args):
        return self.finish(self.start(tasks, *args))


@pytest.fixture
def play(tmp_path, collections, agent):
    return Playbook(tmp_path, collections, agent.config.socket)


def node_task(name="n1", module="baremetal_node", **args):
    return {"name": "%s %s" % (module, name), "stackwright.cloud." + module: dict(args, name=name)}


def enroll_args(mac="52:54:00:aa:00:01", password=PASSWORD, **extra):
    args = {"role": "Compute", "kind": "baremetal", "macs": [mac], "root_device": {"name": "vda"},
            "network": {}, "properties": {"cpus": 2},
            "bmc": {"address": "192.0.2.11", "username": "admin", "password": password}}
    args.update(extra)
    return args


def armed(agent, name):
    """(token, action name) of the node, read from the registry file (the API never shows tokens)."""
    with sqlite3.connect(os.path.join(agent.config.state_dir, "registry.sqlite")) as db:
        token, action = db.execute("SELECT token, action FROM nodes WHERE name = ?", (name,)).fetchone()
    return token, (json.loads(action)["action"] if action else None)


def enroll_direct(agent, name, mac, bmc_address):
    agent.put("nodes", name, {"role": "Compute", "kind": "baremetal", "macs": [mac],
                              "bmc": {"address": bmc_address, "username": "admin", "password": PASSWORD}})


def make_available(agent, listener, name):
    """enrolled -> verified -> inspected (through the listener: target disk chosen) -> available."""
    agent.put("nodes", name, {"provision_state": "verified", "action": {"action": "inspect"}})
    token, _ = armed(agent, name)
    assert http(listener, "/v1/ramdisk/%s/inspection?token=%s" % (name, token),
                json.dumps(INVENTORY).encode())[0] == 200
    assert http(listener, "/v1/ramdisk/%s/result?token=%s" % (name, token), b'{"ok": true}')[0] == 200
    node = agent.put("nodes", name, {"provision_state": "available"})["resource"]
    assert node["provision_state"] == "available" and node["target_disk"] == "/dev/vda"


class Ramdisk(threading.Thread):
    """Plays the ramdisk of one node: for each (action, result) in turn, waits until that
    action is armed with a token not used yet, then reports the result through the listener."""

    def __init__(self, agent, listener, name, script):
        super().__init__(daemon=True)
        self.agent, self.listener, self.name, self.script = agent, listener, name, list(script)
        self.reported = []
        self.error = None

    def run(self):
        used = set()
        for action, result in self.script:
            deadline = time.monotonic() + 180
            while True:
                token, current = armed(self.agent, self.name)
                if token and token not in used and current == action:
                    break
                if time.monotonic() > deadline:
                    self.error = "%s was never armed (reported so far: %s)" % (action, self.reported)
                    return
                time.sleep(0.2)
            used.add(token)
            time.sleep(0.5)  # a ramdisk takes a moment: the module is polling by now
            status, _ = http(self.listener, "/v1/ramdisk/%s/result?token=%s" % (self.name, token),
                             json.dumps(dict(result, action=action, seconds=1)).encode())
            self.reported.append((action, status))


# ------------------------------------------------------------------- tests

def test_enroll_update_info_and_remove(play, agent):
    tasks = [
        dict(node_task(**enroll_args()), check_mode=True),                       # 0 predicted
        node_task(**enroll_args()),                                              # 1 enrolled
        node_task(**enroll_args()),                                              # 2 unchanged
        dict(node_task(**enroll_args(mac="52:54:00:aa:00:02")), check_mode=True),  # 3 predicted only
        node_task(module="baremetal_node_info"),                                 # 4
        node_task(**enroll_args(mac="52:54:00:AA:00:02")),                       # 5 MAC reconciled
        node_task(**enroll_args(mac="52:54:00:aa:00")),                          # 6 bad MAC
        node_task(**enroll_args(root_device={"colour": "red"})),                 # 7 unknown hint
        node_task("nobody", module="baremetal_node_info"),                       # 8 missing
        node_task("c1", role="Controller", kind="container",                     # 9 pre-provisioned
                  network={"address": "192.0.2.50/24", "gateway": "192.0.2.1"}),
        node_task("c1", provision_state="active"),                               # 10 adopted
        {"name": "all nodes", "stackwright.cloud.baremetal_node_info": {}},       # 11
        node_task(**enroll_args(mac="52:54:00:aa:00:02", password=NEW_PASSWORD)),  # 12 new password
        node_task("c1", state="absent"),                                         # 13
        node_task("c1", module="baremetal_node_info"),                           # 14
        node_task("c2", macs=["52:54:00:aa:00:09"]),                             # 15 neither BMC nor address
        node_task("n1", provision_state="active"),                               # 16 a BMC node is not adopted
    ]
    results, output = play.run(tasks, "-vvv", "--diff")
    r = results

    assert r[0]["changed"] and r[0]["node"]["provision_state"] == "enrolled"
    assert r[1]["changed"] and r[1]["node"] == r[0]["node"], "check mode predicts the real run"
    assert r[1]["node"]["network"] is None and r[1]["node"]["bmc"]["address"] == "192.0.2.11"
    assert "password" not in r[1]["node"]["bmc"]
    assert not r[2]["changed"]
    assert r[3]["changed"] and r[3]["node"]["macs"] == ["52:54:00:aa:00:02"]
    assert r[4]["nodes"][0]["macs"] == ["52:54:00:aa:00:01"], "check mode changed nothing"
    assert r[4]["nodes"][0]["history"][0]["to_state"] == "enrolled" and "inspection" in r[4]["nodes"][0]
    assert r[5]["changed"] and r[5]["node"]["macs"] == ["52:54:00:aa:00:02"]
    assert r[5]["diff"]["before"]["macs"] == ["52:54:00:aa:00:01"]
    assert r[6]["failed"] and "macs[0]" in r[6]["msg"] and r[6]["field"] == "macs[0]"
    assert r[7]["failed"] and "root_device.colour" in r[7]["msg"] and "unknown root device hint" in r[7]["msg"]
    assert not r[8]["failed"] and r[8]["nodes"] == []
    assert r[9]["changed"] and r[9]["node"]["address"] == "192.0.2.50" and r[9]["node"]["bmc"] is None
    assert r[10]["changed"] and r[10]["node"]["provision_state"] == "active"
    assert [n["name"] for n in r[11]["nodes"]] == ["c1", "n1"]
    assert "history" not in r[11]["nodes"][0]
    assert r[12]["changed"] and r[12]["node"]["bmc"]["credentials"] != r[5]["node"]["bmc"]["credentials"]
    assert r[13]["changed"] and r[13]["node"] is None
    assert r[14]["nodes"] == []
    assert r[15]["failed"] and r[15]["field"] == "bmc" and "network.address" in r[15]["msg"]
    assert r[16]["failed"] and "provision_state" in r[16]["msg"] and "adoption" in r[16]["msg"]
    assert agent.find("nodes", "n1")["macs"] == ["52:54:00:aa:00:02"]

    # the BMC password never shows: not in the -vvv --diff output, not in any result
    with open(play.results, encoding="utf-8") as fh:
        shown = fh.read()
    for text in (output, shown):
        assert PASSWORD not in text and NEW_PASSWORD not in text
    # -vvv shows the module arguments, the password masked
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output and "192.0.2.11" in output


def test_deploy_and_undeploy_through_the_ramdisk(play, agent, listener):
    enroll_direct(agent, "n1", "52:54:00:aa:00:01", "192.0.2.11")
    make_available(agent, listener, "n1")
    store = listener.image_store
    with open(os.path.join(store, "overcloud.raw.gz.sha256"), "w") as fh:
        fh.write("%s *other.raw.gz\n%s  overcloud.raw.gz\n" % (OTHER_SHA, IMAGE_SHA))
    checksum_url = listener.url + "/images/overcloud.raw.gz.sha256"
    deploy = dict(image_url="/images/overcloud.raw.gz", image_checksum_url=checksum_url)

    # arming: from available; the same deploy again changes nothing
    results, _ = play.run([
        dict(node_task(module="baremetal_deploy", **deploy), check_mode=True),                  # 0
        node_task(module="baremetal_deploy", **deploy),                                        # 1
        node_task(module="baremetal_deploy", **deploy),                                        # 2
        dict(node_task(module="baremetal_deploy", image_url="/images/other.raw.gz",            # 3
                       image_sha256=OTHER_SHA.upper()), check_mode=True),
    ])
    r = results
    assert r[0]["changed"] and r[0]["image_sha256"] == IMAGE_SHA
    assert r[1]["changed"] and r[1]["node"] == r[0]["node"]
    assert r[1]["node"]["provision_state"] == "deploying" and not r[1]["node"]["deploy_done"]
    assert r[1]["node"]["action"] == {"action": "deploy", "image_url": "/images/overcloud.raw.gz",
                                      "image_sha256": IMAGE_SHA, "config_url": None}
    assert not r[2]["changed"], "the same deploy armed already"
    assert r[3]["changed"] and r[3]["node"]["action"]["image_sha256"] == OTHER_SHA, "another image re-arms"
    token, action = armed(agent, "n1")
    assert action == "deploy" and agent.find("nodes", "n1")["action"]["image_sha256"] == IMAGE_SHA

    # the ramdisk writes the image, cleans, then fails a deploy
    ramdisk = Ramdisk(agent, listener, "n1", [
        ("deploy", {"ok": True}), ("clean", {"ok": True}),
        ("deploy", {"ok": False, "error": "deploy:write: checksum mismatch"})])
    ramdisk.start()
    proc = play.start([
        node_task(wait_for=["deployed"], wait_timeout=60),                                     # 0
        node_task(module="baremetal_deploy", **deploy),                                        # 1 written: unchanged
        node_task(provision_state="active", power_state="on"),                                 # 2
        node_task(module="baremetal_deploy", **deploy),                                        # 3 active: unchanged
        dict(node_task(module="baremetal_undeploy"), check_mode=True),                         # 4
        node_task(module="baremetal_undeploy", wait=True, wait_timeout=60),                    # 5
        node_task(module="baremetal_undeploy", wait=True),                                     # 6 available: unchanged
        node_task(module="baremetal_deploy", image_url="/images/overcloud.raw.gz",             # 7 the ramdisk fails
                  image_sha256=IMAGE_SHA, wait=True, wait_timeout=60),
        node_task(module="baremetal_node_info"),                                               # 8
    ])
    results, _ = play.finish(proc)
    ramdisk.join(10)
    assert ramdisk.error is None and ramdisk.reported == [("deploy", 200), ("clean", 200), ("deploy", 200)]
    r = results
    assert not r[0]["changed"] and r[0]["node"]["provision_state"] == "deploying" and r[0]["node"]["deploy_done"]
    assert not r[1]["changed"] and r[1]["node"]["deploy_done"]
    assert r[2]["changed"] and r[2]["node"]["provision_state"] == "active"
    assert not r[3]["changed"] and "deployed already" in r[3]["msg"]
    assert r[4]["changed"] and r[4]["node"]["provision_state"] == "cleaning"
    assert r[4]["node"]["action"]["action"] == "clean"
    assert r[5]["changed"] and r[5]["node"]["provision_state"] == "available" and r[5]["node"]["action"] is None
    assert not r[6]["changed"] and r[6]["node"]["provision_state"] == "available"
    assert r[7]["failed"] and "checksum mismatch" in r[7]["msg"] and r[7]["node"]["provision_state"] == "failed"
    history = [(h["from_state"], h["to_state"], h["event"]) for h in r[8]["nodes"][0]["history"]]
    assert ("available", "deploying", "arm") in history and ("active", "cleaning", "arm") in history
    assert history[-1] == ("deploying", "failed", "result")


def test_refusals_and_timeouts(play, agent, listener):
    enroll_direct(agent, "fresh", "52:54:00:aa:00:11", "192.0.2.21")
    enroll_direct(agent, "busy", "52:54:00:aa:00:12", "192.0.2.22")
    make_available(agent, listener, "busy")
    agent.put("nodes", "busy", {"provision_state": "deploying", "action": {
        "action": "deploy", "image_url": "/images/x.raw.gz", "image_sha256": IMAGE_SHA}})
    enroll_direct(agent, "slow", "52:54:00:aa:00:13", "192.0.2.23")
    make_available(agent, listener, "slow")
    agent.put("nodes", "slow", {"provision_state": "cleaning", "action": {"action": "clean"}})
    with open(os.path.join(listener.image_store, "two.sha256"), "w") as fh:
        fh.write("%s  a.raw.gz\n%s  b.raw.gz\n" % (IMAGE_SHA, OTHER_SHA))

    results, _ = play.run([
        node_task("fresh", module="baremetal_deploy", image_url="/images/x.raw.gz", image_sha256=IMAGE_SHA),  # 0
        node_task("busy", module="baremetal_undeploy"),                                                      # 1
        node_task("fresh", module="baremetal_undeploy"),                                                     # 2
        node_task("busy", module="baremetal_deploy", image_url="/images/x.raw.gz", image_sha256="abc"),      # 3
        node_task("busy", module="baremetal_deploy", image_url="/images/x.raw.gz", image_sha256=IMAGE_SHA,   # 4
                  image_checksum_url=listener.url + "/images/two.sha256"),
        node_task("busy", module="baremetal_deploy", image_url="/images/c.raw.gz",                           # 5
                  image_checksum_url=listener.url + "/images/two.sha256"),
        node_task("busy", module="baremetal_deploy", image_url="/images/c.raw.gz",                           # 6
                  image_checksum_url=listener.url + "/images/missing.sha256"),
        node_task("ghost", module="baremetal_deploy", image_url="/images/x.raw.gz", image_sha256=IMAGE_SHA),  # 7
        node_task("ghost", wait_for=["available"]),                                                          # 8
        node_task("slow", wait_for=["available"], wait_timeout=2),                                           # 9
        node_task("fresh", provision_state="deploying"),                                                     # 10
    ])
    r = results
    assert r[0]["failed"] and r[0]["field"] == "provision_state"
    assert "'fresh' is enrolled" in r[0]["msg"] and "available" in r[0]["msg"] and "inspect" in r[0]["msg"]
    assert r[1]["failed"] and r[1]["field"] == "provision_state"
    assert "deploying node cannot go to cleaning directly" in r[1]["msg"] and "failed" in r[1]["msg"]
    assert r[2]["failed"] and "never inspected" in r[2]["msg"]
    assert r[3]["failed"] and "image_sha256" in r[3]["msg"]
    assert r[4]["failed"] and "mutually exclusive" in r[4]["msg"]
    assert r[5]["failed"] and "image_checksum_url" in r[5]["msg"] and "c.raw.gz" in r[5]["msg"]
    assert r[6]["failed"] and "image_checksum_url" in r[6]["msg"] and "missing.sha256" in r[6]["msg"]
    assert r[7]["failed"] and r[7]["field"] == "name" and "not enrolled" in r[7]["msg"]
    assert r[8]["failed"] and "not enrolled" in r[8]["msg"]
    reason = "timed out after 2 s waiting for available (state was cleaning)"
    assert r[9]["failed"] and r[9]["msg"] == reason
    assert r[9]["node"]["provision_state"] == "failed" and r[9]["node"]["last_error"] == reason
    assert r[10]["failed"] and "provision_state" in r[10]["msg"] and "enrolled" in r[10]["msg"]

    slow = agent.find("nodes", "slow")
    assert slow["provision_state"] == "failed" and slow["last_error"] == reason
    assert agent.find("nodes", "fresh")["provision_state"] == "enrolled"
    busy = agent.find("nodes", "busy")
    assert busy["provision_state"] == "deploying" and busy["action"]["image_url"] == "/images/x.raw.gz"


def test_a_node_that_never_pxe_boots_fails_early_with_the_reason(play, agent, listener):
    # "silent" never asks for its iPXE script; "booted" does (as iPXE would, over HTTP),
    # and then waits for a ramdisk that never reports: only the phase's own timeout ends it
    for name, mac in (("silent", "52:54:00:aa:00:21"), ("booted", "52:54:00:aa:00:22")):
        enroll_direct(agent, name, mac, "192.0.2.3%s" % mac[-1])
        make_available(agent, listener, name)
    deploy = dict(image_url="/images/x.raw.gz", image_sha256=IMAGE_SHA)
    results, _ = play.run([node_task("silent", module="baremetal_deploy", **deploy),
                           node_task("booted", module="baremetal_deploy", **deploy)])
    assert all(r["changed"] for r in results)
    status, body = http(listener, "/nodes/52-54-00-aa-00-22.ipxe")
    assert status == 200 and b"kernel " in body, body

    results, _ = play.run([
        node_task("silent", wait_for=["deployed"], wait_timeout=60, pxe_timeout=3),   # 0
        node_task("booted", wait_for=["deployed"], wait_timeout=6, pxe_timeout=3),    # 1
        node_task("silent", module="baremetal_node_info"),                            # 2
        node_task("booted", module="baremetal_node_info"),                            # 3
    ])
    r = results
    assert r[0]["failed"] and r[0]["msg"].startswith("no PXE boot within 3 s for deploy"), r[0]["msg"]
    assert "52:54:00:aa:00:21" in r[0]["msg"] and "MACs in the nodes file" in r[0]["msg"]
    silent = r[2]["nodes"][0]
    assert silent["provision_state"] == "failed" and silent["last_error"] == r[0]["msg"]
    assert silent["booted_at"] is None
    assert r[1]["failed"] and r[1]["msg"].startswith("timed out after 6 s waiting for deployed"), r[1]["msg"]
    booted = r[3]["nodes"][0]
    assert booted["booted_at"] and booted["booted_at"] >= booted["armed_at"]
    assert [h["event"] for h in booted["history"]].count("pxe") == 1
