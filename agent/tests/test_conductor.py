"""The undercloud's conductor (conductor.py) driving nodes through the real registry,
API and provisioning listener. The machine is the one fake here, and says so: a BMC
that powers it and a "ramdisk" thread that, on a one-time network boot, asks the
listener for its iPXE script and instructions and reports as the real ramdisk does
(Molecule's provision scenario drives real QEMU machines over IPMI and PXE)."""

import re
import ssl
import threading
import time

import pytest

from fixtures import FakeMachine, _load, agent_client, token_of
from test_nodes import node_body

from stackwright_agent import conductor as cond, ipmi
from stackwright_agent.drivers import nodes as nodes_driver

IMAGE = {"image_url": "/images/overcloud.raw.gz", "image_sha256": "ab" * 32}


@pytest.fixture
def machine(agent, listener):
    machine = FakeMachine(listener).behind(agent.api.drivers["nodes"].conductor)
    agent.put("nodes", "n1", node_body(network={"address": "192.0.2.50/24"}))
    return machine


def act(agent, body, wait=True):
    answer = agent.put("nodes", "n1", {"provision_action": body})
    if wait:
        agent.api.drivers["nodes"].conductor.join("n1", 30)
    return answer


def test_a_deploy_goes_every_step_from_enrolled_to_active(agent, machine):
    answer = act(agent, dict(IMAGE, action="deploy"))
    assert answer["changed"] and answer["resource"]["target"]["status"] == "running"
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "active" and node["power_state"] == "on", node["history"]
    assert node["target"]["status"] == "done" and node["target"]["action"] == "deploy"
    states = [row["to_state"] for row in node["history"] if row["to_state"] != row["from_state"]]
    assert states == ["verified", "inspected", "cleaning", "available", "deploying", "active"]
    # what `stackwright node show` says happened, step by step
    said = [row["detail"] for row in node["history"] if row["event"] == "conductor"]
    assert said == ["verify: the BMC answers, power off", "inspect: ramdisk booting", "ramdisk done, node off",
                    "clean: ramdisk booting", "ramdisk done, node off", "deploy: ramdisk booting",
                    "ramdisk done, node off", "deploy: image written, booting from disk",
                    "deploy: SSH answers on 192.0.2.50", "deploy done"]
    assert machine.boots == 3 and machine.persistent_boot == "hd"
    # no command the node does not need: it was off, and each ramdisk switched it off itself
    assert machine.commands == [("boot", "network"), ("power", "on")] * 3 + [("boot", "hd"), ("power", "on")]
    # asked again: nothing to do, nothing changes
    assert not act(agent, dict(IMAGE, action="deploy"))["changed"]
    # the way back: undeploy cleans it and leaves it off
    act(agent, {"action": "undeploy"})
    node = agent.find("nodes", "n1")
    assert (node["provision_state"], node["power_state"], node["target"]["status"]) == ("available", "off", "done")
    assert not node["deploy_done"], "a cleaned disk holds no image"
    # deployed again: the image is written again (the disk was wiped), not booted from
    act(agent, dict(IMAGE, action="deploy"))
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "active" and machine.boots == 5, node["history"]


def test_a_node_that_never_pxe_boots_fails_naming_the_step_and_its_macs(agent, machine):
    machine.pxe = False
    act(agent, {"action": "inspect", "timeouts": {"pxe": 1}})
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "failed" and node["target"]["status"] == "failed"
    assert node["last_error"] == (
        "inspect: no PXE boot within 1 s for inspect: the node never asked for its iPXE script (MACs "
        "52:54:00:aa:00:01). Check the MACs in the nodes file, that the node boots from the network, and its link "
        "to the provisioning network"), node["last_error"]
    assert node["action"] is None and token_of(agent, "n1") is None, "a failed step leaves nothing armed"
    # the history's last row says why the action ended
    assert node["history"][-1]["detail"] == node["last_error"]
    # a new action on a failed node starts over, and gets there
    machine.pxe = True
    act(agent, {"action": "provide"})
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "available" and node["last_error"] is None
    assert any(h["detail"] == "start over from enrolled (was failed: inspect: no PXE boot within 1 s for inspect: "
               "the node never asked for its iPXE script (MACs 52:54:00:aa:00:01). Check the MACs in the nodes "
               "file, that the node boots from the network, and its link to the provisioning network)"
               for h in node["history"]), [h["detail"] for h in node["history"]]


def test_a_bmc_that_refuses_fails_verify_at_once(agent, machine):
    machine.refuse = "BMC fake refused user 'admin': wrong user name or password"
    act(agent, {"action": "provide"})
    node = agent.find("nodes", "n1")
    assert node["last_error"] == "verify: " + machine.refuse and node["provision_state"] == "failed"
    target = node["target"]
    assert target["error"] == node["last_error"] and target["finished_at"] >= target["started_at"]
    assert time.time() - target["finished_at"] < 30, "finished_at says when it ended"


def test_a_defect_in_a_step_ends_the_action_failed_with_its_reason(agent, machine):
    def broken(node, retries=5):
        raise RuntimeError("the BMC client broke")
    agent.api.drivers["nodes"].conductor._bmc_factory = broken
    act(agent, {"action": "provide"})
    node = agent.find("nodes", "n1")
    assert node["last_error"] == "verify: conductor error: RuntimeError: the BMC client broke"
    assert node["provision_state"] == "failed" and node["target"]["status"] == "failed"


def test_a_node_that_failed_while_the_service_was_down_ends_its_action_on_resume(agent, machine):
    nodes = agent.api.drivers["nodes"]
    machine.pxe = False
    act(agent, {"action": "inspect"}, wait=False)
    deadline = time.time() + 10
    while not agent.find("nodes", "n1")["action"] and time.time() < deadline:
        time.sleep(0.05)
    # the service stops; meanwhile the ramdisk's failure report lands
    nodes.registry.update("n1", {"target": dict(agent.find("nodes", "n1")["target"], status="stopping")})
    nodes.conductor.join("n1", 10)
    nodes.registry.update("n1", {"target": dict(agent.find("nodes", "n1")["target"], status="running"),
                                 "provision_state": "failed", "last_error": "inspect: no disks found"})
    fresh = cond.Conductor(nodes.registry, bmc_factory=lambda node, retries=5: machine, poll=0.05, power_watch=0.2,
                           sleep=lambda s: time.sleep(min(s, 0.05)))
    fresh.resume()
    fresh.join("n1", 10)
    node = agent.find("nodes", "n1")
    assert node["target"]["status"] == "failed" and node["target"]["error"] == "inspect: no disks found"
    assert machine.boots == 0, "a failed node is not booted again by a resume"


def test_an_action_is_not_started_twice_another_waits_and_abort_stops_it(agent, machine):
    machine.pxe = False
    assert act(agent, {"action": "inspect"}, wait=False)["changed"]
    assert not act(agent, {"action": "inspect"}, wait=False)["changed"], "the same action goes on"
    deadline = time.time() + 10
    while not agent.find("nodes", "n1")["action"] and time.time() < deadline:
        time.sleep(0.05)
    # the ramdisk's token (and its own deadline) lasts as long as the step may take
    assert agent.api.drivers["nodes"].registry.get("n1")["action"]["timeout"] == cond.TIMEOUTS["inspect"] + 60
    for body in ({"action": "provide"}, ):
        with pytest.raises(agent_client.AgentClientError) as info:
            act(agent, body, wait=False)
        assert info.value.field == "provision_action" and "busy with inspect" in info.value.message
        assert re.fullmatch(r"provision_action: node 'n1' is busy with inspect since \d\d:\d\d:\d\d; wait for "
                            r"it, or abort it first", info.value.message), info.value.message
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", "n1", {"action": {"action": None}})
    assert info.value.field == "action", "low-level changes wait until the conductor is done"
    act(agent, {"action": "abort"})
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "failed" and node["last_error"].endswith("aborted by the operator")
    assert not act(agent, {"action": "abort"})["changed"], "nothing runs: nothing to abort"


def test_a_restarted_conductor_resumes_without_a_new_boot(agent, machine, listener):
    machine.pxe = False
    act(agent, {"action": "inspect"}, wait=False)
    nodes = agent.api.drivers["nodes"]
    deadline = time.time() + 10
    while not agent.find("nodes", "n1")["action"] and time.time() < deadline:
        time.sleep(0.05)
    token = token_of(agent, "n1")
    # the service stops (its worker with it) ...
    nodes.registry.update("n1", {"target": dict(agent.find("nodes", "n1")["target"], status="stopping")})
    nodes.conductor.join("n1", 10)
    nodes.registry.update("n1", {"target": dict(agent.find("nodes", "n1")["target"], status="running")})
    # ... and a new one resumes the inspection: the ramdisk armed before may still report
    fresh = cond.Conductor(nodes.registry, bmc_factory=lambda node, retries=5: machine, poll=0.05, power_watch=0.2,
                           sleep=lambda s: time.sleep(min(s, 0.05)))
    fresh.resume()
    time.sleep(0.3)
    assert token_of(agent, "n1") == token and machine.boots == 0, "no new arming, no new boot"
    machine.pxe = True
    machine._ramdisk()  # the node, booted meanwhile, reports with the armed token
    fresh.join("n1", 30)
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "inspected" and node["target"]["status"] == "done", node["history"]


def test_a_deploy_without_an_image_is_refused_and_changes_nothing(agent, machine):
    before = agent.find("nodes", "n1")
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, {"action": "deploy"}, wait=False)
    assert info.value.field == "provision_action.image_url" and "is required for a deploy" in info.value.message
    assert agent.find("nodes", "n1") == before


@pytest.mark.parametrize("action,state", [("deploy", "enrolled"), ("provide", "enrolled"), ("inspect", "failed")])
def test_every_state_has_a_next_step_or_is_the_goal(action, state):
    # the step order as a table: from each state an action starts from, it goes on
    seen = set()
    node = {"provision_state": state, "power_state": "off", "bmc_address": "192.0.2.11"}
    after = {"start_over": "enrolled", "verify": "verified", "inspect": "inspected", "clean": "available",
             "deploy": "active"}
    while True:
        step = cond.next_step(action, node)
        if step is None:
            break
        assert step not in seen, "a loop: %s again" % step
        seen.add(step)
        node = dict(node, provision_state=after[step])
    assert node["provision_state"] == {"deploy": "active", "provide": "available", "inspect": "inspected"}[action]


def test_the_clean_mode_is_the_actions_else_the_nodes_else_metadata(agent, machine):
    act(agent, {"action": "provide"})
    assert machine.instructions == {"action": "clean", "clean_mode": "metadata"}
    act(agent, dict(IMAGE, action="deploy"))
    act(agent, {"action": "undeploy", "clean_mode": "full"})
    node = agent.find("nodes", "n1")
    assert machine.instructions["clean_mode"] == "full" and node["target"]["status"] == "done", node["history"]
    agent.put("nodes", "n1", {"properties": {"clean_mode": "full"}})
    act(agent, dict(IMAGE, action="deploy"))
    act(agent, {"action": "undeploy"})
    assert machine.instructions["clean_mode"] == "full", "the node's own mode"
    act(agent, dict(IMAGE, action="deploy"))
    act(agent, {"action": "undeploy", "clean_mode": "metadata"})
    assert machine.instructions["clean_mode"] == "metadata", "the action's mode comes first"
    # a clean asked for by name runs on a node that is clean already (available), once
    boots = machine.boots
    assert act(agent, {"action": "undeploy", "clean_mode": "full"})["changed"]
    assert machine.boots == boots + 1 and machine.instructions["clean_mode"] == "full"
    assert act(agent, {"action": "provide", "clean_mode": "metadata"})["changed"] and machine.boots == boots + 2
    assert not act(agent, {"action": "provide"})["changed"], "nothing asked: nothing to clean"
    # ... and where nothing would clean, asking for a mode is refused, not ignored
    act(agent, dict(IMAGE, action="deploy"))
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, dict(IMAGE, action="deploy", clean_mode="full"), wait=False)
    assert info.value.status == 409 and info.value.field == "provision_action.clean_mode"
    assert "cleans nothing now; undeploy it with clean_mode" in info.value.message, info.value.message
    before = agent.find("nodes", "n1")
    for body, words in (({"action": "inspect", "clean_mode": "full"}, "applies to deploy, provide, undeploy"),
                        ({"action": "provide", "clean_mode": "shred"}, "metadata, full")):
        with pytest.raises(agent_client.AgentClientError) as info:
            act(agent, body, wait=False)
        assert info.value.status == 400 and info.value.field == "provision_action.clean_mode", info.value.message
        assert words in info.value.message, info.value.message
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", "n1", {"properties": {"clean_mode": "secure"}})
    assert info.value.field == "properties.clean_mode" and "not a clean mode" in info.value.message
    assert agent.find("nodes", "n1")["history"] == before["history"], "a refused request changes nothing"


def test_a_running_action_asked_again_with_another_clean_mode_is_refused(agent, machine):
    machine.pxe = False
    assert act(agent, {"action": "provide", "clean_mode": "full"}, wait=False)["changed"]
    assert not act(agent, {"action": "provide", "clean_mode": "full"}, wait=False)["changed"], "the same: goes on"
    assert not act(agent, {"action": "provide"}, wait=False)["changed"], "no mode asked: whatever runs"
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, {"action": "provide", "clean_mode": "metadata"}, wait=False)
    assert info.value.status == 409 and info.value.field == "provision_action.clean_mode"
    assert "node 'n1' is running its provide with clean_mode full; wait for it, or abort it first" \
        in info.value.message, info.value.message
    act(agent, {"action": "abort"})
    # a running action that took the node's own mode says so
    act(agent, {"action": "provide"}, wait=False)
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, {"action": "provide", "clean_mode": "full"}, wait=False)
    assert "with clean_mode of the node;" in info.value.message, info.value.message
    act(agent, {"action": "abort"})


# The step tables, written out here rather than read from the module: a change to the
# conductor's tables must change these too.
STATES = ("enrolled", "verified", "inspected", "cleaning", "available", "deploying", "active", "failed")
REFUSED_FROM = {"deploy": (), "power_on": (), "power_off": (),
                "provide": ("deploying", "active"),
                "inspect": ("cleaning", "deploying", "active"),
                "undeploy": ("enrolled", "verified", "deploying")}


@pytest.mark.parametrize("action", sorted(REFUSED_FROM))
def test_the_states_each_action_starts_from(action):
    request = dict(IMAGE, action=action)
    for state in STATES:
        row = {"provision_state": state, "power_state": "on", "bmc_address": "192.0.2.11", "target": None}
        if state in REFUSED_FROM[action]:
            with pytest.raises(cond.Conflict) as info:
                cond.check_action("n1", row, request)
            assert "node 'n1' is %s; %s starts from" % (state, action) in info.value.message
            assert info.value.field == "provision_action"
            assert ("undeploy it first" in info.value.message) == (state == "active")
        else:
            cond.check_action("n1", row, request)  # taken (or nothing to do)


FIRST_STEP = {  # (action, state, power) -> the step the conductor takes first
    ("deploy", "enrolled", "off"): "verify", ("deploy", "verified", "off"): "inspect",
    ("deploy", "inspected", "off"): "clean", ("deploy", "cleaning", "on"): "clean",
    ("deploy", "available", "off"): "deploy", ("deploy", "deploying", "on"): "deploy",
    ("deploy", "active", "on"): None, ("deploy", "failed", "off"): "start_over",
    ("provide", "enrolled", "off"): "verify", ("provide", "verified", "off"): "inspect",
    ("provide", "inspected", "off"): "clean", ("provide", "cleaning", "off"): "clean",
    ("provide", "available", "off"): None, ("provide", "failed", "on"): "start_over",
    ("inspect", "enrolled", "off"): "verify", ("inspect", "verified", "off"): "inspect",
    ("inspect", "inspected", "off"): None, ("inspect", "available", "off"): "verify",
    ("inspect", "failed", "off"): "start_over",
    ("undeploy", "active", "on"): "clean", ("undeploy", "failed", "on"): "clean",
    ("undeploy", "inspected", "off"): "clean", ("undeploy", "cleaning", "off"): "clean",
    ("undeploy", "available", "on"): "power_off", ("undeploy", "available", "off"): None,
    ("power_on", "active", "off"): "power_on", ("power_on", "failed", "on"): None,
    ("power_off", "available", "on"): "power_off", ("power_off", "active", "off"): None,
}


@pytest.mark.parametrize("key", sorted(FIRST_STEP), ids=["-".join(k) for k in sorted(FIRST_STEP)])
def test_the_first_step_of_each_action_from_each_state(key):
    action, state, power = key
    node = {"provision_state": state, "power_state": power, "bmc_address": "192.0.2.11"}
    assert cond.next_step(action, node) == FIRST_STEP[key]


# (armed, booted, pxe timeout, seconds since arming) -> gives up?
NO_PXE = [((True, False, 10, 11), True), ((True, False, 10, 10), False), ((True, True, 10, 99), False),
          ((False, False, 10, 99), False), ((True, False, 0, 99), False)]


@pytest.mark.parametrize("case, gives_up", NO_PXE)
def test_when_a_node_that_never_pxe_boots_is_given_up(case, gives_up):
    armed, booted, pxe, waited = case
    node = {"action": {"action": "inspect"} if armed else None, "armed_at": 1000.0,
            "booted_at": 1001.0 if booted else None, "macs": ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]}
    why = cond.no_pxe_boot(node, pxe, 1000.0 + waited, 0)
    assert (why is not None) == gives_up, why
    if gives_up:
        assert why.startswith("no PXE boot within %d s for inspect" % pxe)
        assert "(MACs 52:54:00:aa:00:01, 52:54:00:aa:00:02)" in why
    # waited from the later of the arming and ``since`` (a resumed wait starts again)
    assert cond.no_pxe_boot(dict(node, booted_at=None, action={"action": "clean"}), 10, 1020.0, 1015.0) is None


def test_a_node_without_a_bmc_is_adopted_and_takes_no_bmc_action():
    node = {"provision_state": "enrolled", "power_state": None, "bmc_address": None, "target": None}
    assert cond.next_step("deploy", node) == "adopt"
    assert cond.next_step("deploy", dict(node, provision_state="active")) is None
    assert cond.check_action("n1", node, {"action": "deploy"})["action"] == "deploy", "no image needed to adopt"
    for action in ("inspect", "undeploy", "power_on", "power_off"):
        with pytest.raises(cond.Conflict) as info:
            cond.check_action("n1", node, {"action": action})
        assert info.value.field == "provision_action"
        assert info.value.message == "provision_action: node 'n1' has no BMC (it is pre-provisioned): %s needs one" \
            % action


def test_an_action_carries_its_timeouts_and_image_and_asks_nothing_of_a_node_that_is_there():
    row = {"provision_state": "available", "power_state": "off", "bmc_address": "192.0.2.11", "target": None}
    target = cond.check_action("n1", row, dict(IMAGE, action="deploy", config_url="/config/n1.tar.gz",
                                               timeouts={"pxe": 0, "deploy": 60, "boot": None}))
    assert target["timeouts"] == dict(cond.TIMEOUTS, pxe=0, deploy=60), "unset ones keep their defaults"
    assert (target["image_url"], target["image_sha256"], target["config_url"]) == (
        IMAGE["image_url"], IMAGE["image_sha256"], "/config/n1.tar.gz")
    assert target["status"] == "running" and target["action"] == "deploy"
    assert cond.check_action("n1", dict(row, provision_state="active"), dict(IMAGE, action="deploy")) is None
    assert cond.check_action("n1", row, {"action": "power_off"}) is None
    with pytest.raises(cond.Conflict) as info:
        cond.check_action("n1", None, {"action": "deploy"})
    assert info.value.field == "provision_action"
    assert info.value.message == "provision_action: node 'n1' is not enrolled"
    with pytest.raises(cond.Conflict) as info:
        cond.check_action("n1", dict(row, provision_state="active"), {"action": "provide"})
    assert info.value.message == ("provision_action: node 'n1' is active; provide starts from enrolled, verified, "
                                  "inspected, cleaning, available, failed; undeploy it first")
    assert cond.check_action("n1", row, {"action": "abort"}) is None, "nothing runs: nothing to abort"


def test_a_bmc_that_never_answers_holds_up_no_other_node(agent, silent_bmc):
    """Real IPMI both ways: a UDP port that drops everything (a dead BMC) and pyghmi's
    BMC server (tests/unit/plugins/module_utils/ipmi_test_bmc.py)."""
    test_bmc = _load("ipmi_test_bmc", "tests/unit/plugins/module_utils/ipmi_test_bmc.py")
    password = "pw-conductor"
    with test_bmc.running("admin", password) as port:
        ports = {"dead": silent_bmc, "live": port}
        conductor = agent.api.drivers["nodes"].conductor
        conductor._bmc_factory = lambda node, retries=5: ipmi.Bmc(
            "127.0.0.1", ports[node["name"]], "admin", password, retries=0, min_interval=0, login_timeout=12)
        agent.put("nodes", "dead", node_body("dead", mac="52:54:00:aa:00:0d", address="192.0.2.12"))
        agent.put("nodes", "live", node_body("live", mac="52:54:00:aa:00:0e", address="192.0.2.13"))
        agent.put("nodes", "dead", {"provision_action": {"action": "provide"}})
        time.sleep(0.5)  # its verify is logging in to a BMC that never answers
        started = time.monotonic()
        agent.put("nodes", "live", {"provision_action": {"action": "power_on"}})
        conductor.join("live", 20)
        took = time.monotonic() - started
        live = agent.find("nodes", "live")
        assert live["power_state"] == "on" and live["target"]["status"] == "done", live["target"]
        assert took < 8, "held up %.1f s by the other node's silent BMC" % took
        conductor.join("dead", 30)
        dead = agent.find("nodes", "dead")
        assert dead["provision_state"] == "failed" and dead["last_error"].startswith("verify: BMC 127.0.0.1:")


def slowed(machine):
    """The machine's BMC holds its next power-state answer until the event is set."""
    gate, real = threading.Event(), machine.power_state
    machine.power_state = lambda: (gate.wait(10), real())[1]
    return gate, real


@pytest.mark.parametrize("power", ["power_off", "power_on"])
def test_an_aborted_power_action_leaves_an_active_node_active(agent, machine, power):
    act(agent, dict(IMAGE, action="deploy"))
    if power == "power_on":
        machine.set_power("off")
        agent.api.drivers["nodes"].conductor.sync_power()
    gate, real = slowed(machine)
    act(agent, {"action": power}, wait=False)
    time.sleep(0.2)
    act(agent, {"action": "abort"}, wait=False)
    gate.set()
    agent.api.drivers["nodes"].conductor.join("n1", 10)
    machine.power_state = real
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "active" and node["last_error"] is None
    assert node["target"]["status"] == "failed" and node["target"]["error"].endswith("aborted by the operator")
    assert not act(agent, dict(IMAGE, action="deploy"))["changed"], "nothing to redeploy, nothing wiped"
    assert machine.boots == 3


def test_a_busy_node_is_not_removed_and_takes_no_new_action_while_it_stops(agent, machine):
    gate, _ = slowed(machine)
    act(agent, {"action": "provide"}, wait=False)  # its verify waits for the BMC
    time.sleep(0.2)
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", "n1", {"state": "absent"})
    assert info.value.field == "state" and "busy with provide" in info.value.message
    assert act(agent, {"action": "abort"}, wait=False)["changed"]
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, {"action": "inspect"}, wait=False)
    assert info.value.field == "provision_action"
    assert "node 'n1' is stopping its provide (aborted); ask again in a moment" in info.value.message
    gate.set()
    agent.api.drivers["nodes"].conductor.join("n1", 10)
    node = agent.find("nodes", "n1")
    assert node["target"]["action"] == "provide" and node["last_error"] == "verify: aborted by the operator"
    assert agent.put("nodes", "n1", {"state": "absent"})["changed"], "stopped: it may go now"


def test_a_restart_between_arming_and_booting_boots_the_ramdisk(agent, machine):
    registry = agent.api.drivers["nodes"].registry
    # the service stopped right after it armed the inspection, before the power-on
    registry.update("n1", {"provision_state": "verified", "target": {
        "action": "inspect", "status": "running", "started_at": time.time(), "timeouts": dict(cond.TIMEOUTS)}})
    registry.update("n1", cond.arming({"action": "inspect"}), event="arm")
    fresh = cond.Conductor(registry, bmc_factory=lambda node, retries=5: machine, poll=0.05, power_watch=0.2,
                           sleep=lambda s: time.sleep(min(s, 0.05)))
    fresh.resume()
    fresh.join("n1", 30)
    node = agent.find("nodes", "n1")
    assert machine.boots == 1 and node["provision_state"] == "inspected", node["last_error"]


def test_an_abort_racing_the_end_of_the_action_is_refused_not_applied(agent, machine, monkeypatch):
    conductor, asked = agent.api.drivers["nodes"].conductor, []

    def racing(name, row, request, check=cond.check_action):
        out = check(name, row, request)
        asked.append(request["action"])
        if asked.count("abort") == 2:  # between the abort's read and its write the action ends
            machine._ramdisk()
            conductor.join(name, 30)
        return out
    monkeypatch.setattr(nodes_driver.cond, "check_action", racing)
    machine.pxe = False
    act(agent, {"action": "inspect"}, wait=False)
    while not agent.find("nodes", "n1").get("booted") and not agent.find("nodes", "n1")["action"]:
        time.sleep(0.05)
    time.sleep(0.3)
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, {"action": "abort"})
    assert info.value.field == "provision_action" and "changed while" in info.value.message
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "inspected" and node["target"]["status"] == "done"


@pytest.mark.parametrize("key", ["inspect", "clean", "deploy", "boot", "power", "poweroff"])
def test_a_zero_timeout_is_refused_but_pxe_may_wait_the_whole_phase(agent, machine, key):
    with pytest.raises(agent_client.AgentClientError) as info:
        act(agent, {"action": "inspect", "timeouts": {key: 0}}, wait=False)
    assert info.value.field == "provision_action.timeouts." + key
    assert agent.find("nodes", "n1")["target"] is None


def test_the_power_sync_reads_what_was_done_outside_and_power_actions_follow(agent, machine):
    conductor = agent.api.drivers["nodes"].conductor
    machine.power = "on"
    assert conductor.sync_power() == {}, "an enrolled node's BMC is not verified yet: left alone"
    act(agent, {"action": "provide"})
    assert agent.find("nodes", "n1")["power_state"] == "off"
    machine.power = "on"  # switched on at the BMC's web page
    assert conductor.sync_power() == {"n1": ("off", "on")}
    node = agent.find("nodes", "n1")
    assert node["power_state"] == "on" and node["history"][-1]["detail"] == "power on, read from the BMC (recorded off)"
    # so switching it off is a change, and does it
    assert act(agent, {"action": "power_off"})["changed"] and machine.power == "off"
    assert conductor.sync_power() == {}, "the record is right: nothing to correct"
    # a BMC that stops answering changes no record, and is asked less and less often
    machine.refuse = "BMC fake: no answer"
    machine.power = "on"
    assert conductor.sync_power() == {} and agent.find("nodes", "n1")["power_state"] == "off"
    assert conductor.sync_power() == {}  # asked again at the next sweep, fails again
    machine.refuse = None
    assert conductor.sync_power() == {}, "after two failures the next sweep skips it"
    assert conductor.sync_power() == {"n1": ("off", "on")}
    # a fault that is not the BMC's words (a CA file that holds no CA) is that node's alone
    conductor._bmc_factory = lambda node, retries=5: (_ for _ in ()).throw(ssl.SSLError("no CA"))
    machine.power = "off"
    assert conductor.sync_power() == {}


def test_the_power_sync_backs_off_a_failing_bmc_and_says_so_once(agent, machine, caplog):
    conductor = agent.api.drivers["nodes"].conductor
    act(agent, {"action": "provide"})
    machine.refuse = "BMC fake: no answer"
    asked = []
    real = machine.power_state

    def counted():
        asked.append(conductor._sweep)
        return real()
    machine.power_state = counted
    with caplog.at_level("WARNING", logger="stackwright-agent.conductor"):
        for _ in range(100):
            conductor.sync_power()
    assert asked == [1, 2, 4, 8, 16, 32, 64, 96], "1, 2, 4 ... 32 sweeps apart"
    warned = [r for r in caplog.records if "power-state sync" in r.getMessage()]
    assert len(warned) == 1 and "n1" in warned[0].getMessage() and "no answer" in warned[0].getMessage()
    machine.refuse = None
    with caplog.at_level("INFO", logger="stackwright-agent.conductor"):
        for _ in range(32):
            conductor.sync_power()
    assert asked[8:] == [128, 129, 130, 131, 132], "answering again (at 128), it is asked at every sweep"
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_ramdisk_that_reports_a_failure_fails_its_step_with_the_ramdisks_words(agent, machine):
    machine.report = "inspect:disks: no disk found"
    act(agent, {"action": "inspect"})
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "failed" and node["target"]["status"] == "failed"
    assert node["last_error"] == "inspect: ramdisk inspect failed: inspect:disks: no disk found", node["last_error"]


def test_a_ramdisk_that_never_reports_times_out_naming_what_it_waited_for(agent, machine):
    machine.report = "hang"
    act(agent, {"action": "inspect", "timeouts": {"inspect": 1}})
    node = agent.find("nodes", "n1")
    assert node["last_error"] == "inspect: timed out after 1 s waiting for inspected (state was verified)"
    machine.pxe = False
    act(agent, {"action": "inspect", "timeouts": {"inspect": 1, "pxe": 0}})
    node = agent.find("nodes", "n1")
    assert node["last_error"] == ("inspect: timed out after 1 s waiting for inspected (state was verified, "
                                  "not PXE booted)"), node["last_error"]
    assert node["action"] is None, "nothing left armed"


def test_a_node_switched_off_before_its_report_fails_at_the_second_check(agent, machine):
    machine.report = "off"
    act(agent, {"action": "inspect"})
    node = agent.find("nodes", "n1")
    assert node["last_error"].startswith("inspect: the node is powered off, waiting for inspected (state "
                                         "verified): it was switched off, or its ramdisk stopped"), node["last_error"]


def test_a_bmc_that_does_not_switch_fails_after_the_power_timeout(agent, machine):
    act(agent, {"action": "provide"})
    machine.power = "on"
    agent.api.drivers["nodes"].conductor.sync_power()
    machine.set_power = lambda verb, wait=False: None  # takes the request, does nothing
    act(agent, {"action": "power_off", "timeouts": {"power": 1}})
    node = agent.find("nodes", "n1")
    assert node["target"]["status"] == "failed" and node["provision_state"] == "available"
    assert node["target"]["error"] == "power_off: BMC fake: still on 1 s after power off", node["target"]


def test_a_boot_device_read_back_as_no_override_is_a_warning_and_another_a_failure(agent, machine):
    real = machine.boot_device
    machine.boot_device = lambda: {"device": "default", "persistent": False}
    act(agent, {"action": "inspect"})
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "inspected", node["history"]
    warned = [h for h in node["history"] if h["event"] == "warning"]
    assert warned and warned[0]["detail"] == ("BMC fake took boot device network and reads back no override "
                                              "('default'); the node's PXE request shows whether it took effect")
    machine.boot_device = lambda: {"device": "cdrom", "persistent": False}
    act(agent, {"action": "provide"})
    node = agent.find("nodes", "n1")
    assert node["last_error"] == "clean: BMC fake accepted boot device network but reports cdrom"
    machine.boot_device = real


def test_a_deploy_of_a_node_without_a_target_disk_fails_naming_the_fix(agent, machine):
    act(agent, {"action": "provide"})
    agent.api.drivers["nodes"].registry.update("n1", {"target_disk": None})
    act(agent, dict(IMAGE, action="deploy"))
    node = agent.find("nodes", "n1")
    assert node["last_error"] == "deploy: node 'n1' has no target disk; inspect it first" and machine.boots == 2


def test_a_node_without_a_bmc_is_adopted_when_ssh_answers_else_fails_naming_the_address(agent, machine):
    agent.put("nodes", "n2", {"role": "Compute", "network": {"address": "192.0.2.51/24"}})
    machine.booted_disk = False
    act2 = agent.put("nodes", "n2", {"provision_action": {"action": "deploy", "timeouts": {"boot": 1}}})
    assert act2["changed"]
    agent.api.drivers["nodes"].conductor.join("n2", 30)
    node = agent.find("nodes", "n2")
    assert node["last_error"] == "adopt: no SSH on 192.0.2.51:22 within 1 s after adopt", node["last_error"]
    machine.booted_disk = True
    agent.put("nodes", "n2", {"provision_action": {"action": "deploy"}})
    agent.api.drivers["nodes"].conductor.join("n2", 30)
    node = agent.find("nodes", "n2")
    assert node["provision_state"] == "active" and node["history"][-1]["detail"] == "deploy done"
    assert any(h["detail"] == "adopt: SSH answers on 192.0.2.51" for h in node["history"])


def test_a_nodes_boot_mode_goes_to_its_bmc_in_the_bmcs_words():
    assert cond._boot_mode({"properties": {"boot_mode": "uefi"}}) == "UEFI"
    assert cond._boot_mode({"properties": {"boot_mode": "bios"}}) == "Legacy"
    assert cond._boot_mode({"properties": {}}) is None and cond._boot_mode({"properties": None}) is None


def test_ssh_is_seen_only_when_an_ssh_server_greets():
    import socket as sockets
    server = sockets.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def greet(banner):
        conn, _ = server.accept()
        conn.sendall(banner)
        conn.close()
    for banner, seen in ((b"SSH-2.0-OpenSSH_9.2\r\n", True), (b"HTTP/1.1 400 Bad Request\r\n", False)):
        threading.Thread(target=greet, args=(banner,), daemon=True).start()
        assert cond._ssh_greets("127.0.0.1", port) is seen
    server.close()
    assert cond._ssh_greets("127.0.0.1", port) is False, "nothing listening"


def test_a_deployed_node_whose_ssh_never_answers_fails_naming_the_address(agent, machine):
    real = machine.set_power

    def powered(verb, wait=False):
        real(verb, wait)
        machine.booted_disk = False  # the disk boots, its SSH never answers
    machine.set_power = powered
    act(agent, dict(IMAGE, action="deploy", timeouts={"boot": 1}))
    node = agent.find("nodes", "n1")
    assert node["last_error"] == "deploy: no SSH on 192.0.2.50:22 within 1 s after boot", node["last_error"]


def test_the_service_log_says_what_it_resumed_and_what_the_power_sync_found(agent, machine, caplog):
    nodes = agent.api.drivers["nodes"]
    act(agent, {"action": "provide"})
    machine.power = "on"
    with caplog.at_level("INFO", logger="stackwright-agent.conductor"):
        nodes.conductor.sync_power()
        machine.pxe = False
        act(agent, {"action": "inspect"}, wait=False)
        nodes.conductor.resume()
    said = [r.getMessage() for r in caplog.records]
    assert "node n1: power on, read from the BMC (recorded off)" in said, said
    assert "resuming inspect of node n1" in said, said
    act(agent, {"action": "abort"})


def test_ssh_is_looked_for_on_port_22():
    import random
    import socket as sockets
    address = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(1, 254), random.randint(1, 254))
    server = sockets.socket()
    try:
        server.bind((address, 22))
    except OSError as exc:
        pytest.skip("cannot listen on %s:22 here: %s" % (address, exc))
    server.listen(1)
    threading.Thread(target=lambda: server.accept()[0].sendall(b"SSH-2.0-test\r\n"), daemon=True).start()
    try:
        assert cond._ssh_greets(address) is True
    finally:
        server.close()


def test_one_off_reading_during_a_ramdisk_step_is_not_yet_a_failure(agent, machine):
    real_state, real_ramdisk = machine.power_state, machine._ramdisk
    machine.blink = False

    def state():
        if machine.blink:
            machine.blink = False
            return "off"  # a BMC's one odd answer
        return real_state()

    def ramdisk():
        # booted, and the conductor's power-on check done: the odd answer is its power
        # watch's first reading (not counted as the second, which fails the step)
        deadline = time.monotonic() + 10
        while not any(row["detail"] == "inspect: ramdisk booting" for row in agent.find("nodes", "n1")["history"]):
            assert time.monotonic() < deadline, "the conductor never said the ramdisk was booting"
            time.sleep(0.01)
        machine.blink = True
        time.sleep(1.0)  # several power checks (0.2 s apart here) before the report
        real_ramdisk()
    machine.power_state, machine._ramdisk = state, ramdisk
    act(agent, {"action": "inspect"})
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "inspected", node["last_error"]
