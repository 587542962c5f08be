"""The baremetal_* modules, run for real: ansible-playbook (from this Python's
venv) against an in-process agent on a temporary socket, its provisioning
listener on 127.0.0.1, and a thread that plays the ramdisk's reports through
that listener. Each play registers every task's result and writes them to a
JSON file the test reads."""

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

from fixtures import FakeMachine

BIN = os.path.dirname(sys.executable)
PASSWORD = "pw-" + uuid.uuid4().hex[:12]
NEW_PASSWORD = "pw2-" + uuid.uuid4().hex[:12]
IMAGE_SHA = hashlib.sha256(b"overcloud image").hexdigest()
OTHER_SHA = hashlib.sha256(b"another image").hexdigest()


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


# ------------------------------------------------------------------- tests

def test_enroll_update_info_and_remove(play, agent):
    conductor = agent.api.drivers["nodes"].conductor
    conductor._ssh_greets = lambda address: address == "192.0.2.50"  # c1's SSH (a fake: the test says so)
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
        action_task("deploy", name="c1"),                                       # 10 adopted
        {"name": "all nodes", "stackwright.cloud.baremetal_node_info": {}},       # 11
        node_task(**enroll_args(mac="52:54:00:aa:00:02", password=NEW_PASSWORD)),  # 12 new password
        node_task("c1", state="absent"),                                         # 13
        node_task("c1", module="baremetal_node_info"),                           # 14
        node_task("c2", macs=["52:54:00:aa:00:09"]),                             # 15 neither BMC nor address
        node_task("n1", provision_state="active"),                               # 16 states are the conductor's
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
    assert r[16]["failed"] and "Unsupported parameters" in r[16]["msg"] and "provision_state" in r[16]["msg"]
    assert agent.find("nodes", "n1")["macs"] == ["52:54:00:aa:00:02"]

    # the BMC password never shows: not in the -vvv --diff output, not in any result
    with open(play.results, encoding="utf-8") as fh:
        shown = fh.read()
    for text in (output, shown):
        assert PASSWORD not in text and NEW_PASSWORD not in text
    # -vvv shows the module arguments, the password masked
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output and "192.0.2.11" in output


def action_task(action, name="n1", **args):
    return node_task(name, module="baremetal_node_action", action=action, **dict({"wait_timeout": 60}, **args))


def test_node_action_deploys_undeploys_powers_and_changes_nothing_twice(play, agent, listener):
    """The module asks the conductor and waits; the machine is tests/fixtures.py's
    FakeMachine (a fake BMC and ramdisk: Molecule provision drives real ones)."""
    machine = FakeMachine(listener).behind(agent.api.drivers["nodes"].conductor)
    with open(os.path.join(listener.image_store, "overcloud.raw.gz.sha256"), "w") as fh:
        fh.write("%s  overcloud.raw.gz\n%s  other.raw.gz\n" % (IMAGE_SHA, OTHER_SHA))
    deploy = {"image_url": "/images/overcloud.raw.gz",
              "image_checksum_url": listener.url + "/images/overcloud.raw.gz.sha256"}
    results, _ = play.run([
        node_task(**enroll_args(network={"address": "192.0.2.60/24"})),  # 0
        dict(action_task("deploy", **deploy), check_mode=True),          # 1
        action_task("deploy", **deploy),                                  # 2
        action_task("deploy", **deploy),                                  # 3 active: unchanged
        action_task("undeploy", clean_mode="full"),                       # 4
        action_task("undeploy"),                                          # 5 available and off: unchanged
        action_task("power_on"),                                          # 6
        action_task("power_on"),                                          # 7
    ])
    assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
    assert results[1]["changed"] and results[1]["node"]["target"]["status"] == "running"
    assert results[2]["changed"] and results[2]["image_sha256"] == IMAGE_SHA
    assert results[2]["node"]["provision_state"] == "active" and results[2]["node"]["target"]["status"] == "done"
    assert not results[3]["changed"]
    assert results[4]["changed"] and results[4]["node"]["provision_state"] == "available"
    assert results[4]["node"]["power_state"] == "off"
    assert not results[5]["changed"]
    assert results[6]["changed"] and results[6]["node"]["power_state"] == "on" and not results[7]["changed"]
    assert machine.boots == 4  # inspect, clean, deploy, clean
    assert machine.instructions == {"action": "clean", "clean_mode": "full"}, "the module's clean_mode reached it"


def test_node_action_refusals_and_failures_name_the_field_or_step(play, agent, listener):
    machine = FakeMachine(listener, pxe=False).behind(agent.api.drivers["nodes"].conductor)
    results, _ = play.run([
        node_task(**enroll_args()),                                                           # 0
        action_task("deploy", name="ghost", image_url="/images/x.raw.gz", image_sha256=IMAGE_SHA),  # 1
        action_task("deploy"),                                                                # 2
        action_task("deploy", image_url="/images/x.raw.gz", image_sha256="abc"),             # 3
        action_task("inspect", timeouts={"pxe": -1}),                                         # 4
        action_task("deploy", image_url="/images/x.raw.gz", image_sha256=IMAGE_SHA,           # 5
                    timeouts={"pxe": 1}),
        action_task("inspect", timeouts={"clean": 0}),                                        # 6
        action_task("undeploy", image_url="/images/x.raw.gz"),                               # 7
        action_task("inspect", wait_timeout=0),                                               # 8
        dict(action_task("deploy", name="ghost", image_url="/images/x.raw.gz",                # 9
                         image_sha256=IMAGE_SHA), check_mode=True),
        action_task("power_off", clean_mode="full"),                                          # 10
    ])
    assert results[1]["failed"] and results[1]["field"] == "name" and "not enrolled" in results[1]["msg"]
    assert results[2]["failed"] and results[2]["field"] == "image_url"
    assert results[3]["failed"] and results[3]["field"] == "image_sha256"
    assert results[4]["failed"] and results[4]["field"] == "timeouts.pxe"
    assert results[5]["failed"] and results[5]["msg"].startswith("n1 failed in inspect: no PXE boot within 1 s")
    assert results[5]["failed_step"] == "inspect" and machine.boots == 0
    assert results[6]["failed"] and results[6]["field"] == "timeouts.clean"
    assert results[7]["failed"] and results[7]["field"] == "image_url" and "only a deploy" in results[7]["msg"]
    assert results[8]["failed"] and results[8]["field"] == "wait_timeout"
    # in check mode a node whose enrollment was only predicted gets its action predicted too
    assert not results[9].get("failed") and results[9]["changed"]
    assert results[10]["failed"] and results[10]["field"] == "clean_mode" and "power_off does not" in results[10]["msg"]
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "failed" and node["target"]["status"] == "failed"
