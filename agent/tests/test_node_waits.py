"""The provisioning waits (module_utils/baremetal.wait_for_state) against a real
in-process agent: a wait left behind by a killed run (Ansible's workers live on in
sessions of their own) stands down when another run arms the node again, and never
fails that run's attempt; a power-off is a verdict only at two checks in a row."""

import importlib
import sys
import threading

import pytest

from fixtures import http
from test_nodes import node_body


@pytest.fixture(scope="module")
def baremetal(collections):
    sys.path.insert(0, collections)
    try:
        yield importlib.import_module("ansible_collections.stackwright.cloud.plugins.module_utils.baremetal")
    finally:
        sys.path.remove(collections)


def armed_and_booted(agent, listener):
    agent.put("nodes", "n1", node_body())
    agent.put("nodes", "n1", {"provision_state": "verified", "action": {"action": "inspect"}})
    assert http(listener, "/nodes/52-54-00-aa-00-01.ipxe")[0] == 200


def client_of(agent, baremetal):
    # the client the waits import (conftest's agent_client is a copy loaded apart)
    return baremetal.AgentClient(agent.config.socket, timeout=30)


def test_a_wait_left_behind_stands_down_when_another_run_takes_over(agent, listener, baremetal):
    armed_and_booted(agent, listener)
    seen_off = threading.Event()

    def power():  # the run taking over power-cycles the node into its ramdisk
        seen_off.set()
        return "off"

    outcome = {}

    def left_behind():
        try:
            baremetal.wait_for_state(client_of(agent, baremetal), "n1", ["inspected"], 60, interval=0.2,
                                     power=power, power_interval=0.5)
        except baremetal.NodeWaitError as exc:
            outcome["error"] = exc.message

    waiter = threading.Thread(target=left_behind)
    waiter.start()
    assert seen_off.wait(10)
    agent.put("nodes", "n1", {"action": {"action": "inspect"}})  # the new run arms it again
    waiter.join(20)
    assert not waiter.is_alive()
    assert outcome["error"].startswith("node 'n1' was armed again while this waited for inspected: "
                                       "another run took over"), outcome
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "verified" and node["last_error"] is None, "the new attempt is untouched"


def test_a_stale_wait_cannot_mark_the_new_attempt_failed(agent, listener, baremetal):
    # the re-arm lands between the wait's last look and its verdict
    armed_and_booted(agent, listener)
    client = client_of(agent, baremetal)
    clock = iter([0.0, 0.0] + [1000.0] * 10).__next__  # the deadline has passed at the first look
    looks = []

    def wall_clock():
        looks.append(1)
        if len(looks) == 2:  # after the wait read the node, before it marks it failed
            agent.put("nodes", "n1", {"action": {"action": "inspect"}})
        return 0.0

    with pytest.raises(baremetal.NodeWaitError) as info:
        baremetal.wait_for_state(client, "n1", ["inspected"], 150, clock=clock, wall_clock=wall_clock,
                                 sleep=lambda s: None)
    assert "another run took over" in info.value.message
    assert agent.find("nodes", "n1")["provision_state"] == "verified"


def test_power_off_fails_the_node_at_the_second_check_in_a_row(agent, listener, baremetal):
    armed_and_booted(agent, listener)
    answers = iter(["off", "on", "off", "off"])
    asked = []

    def power():
        asked.append(1)
        return next(answers)

    with pytest.raises(baremetal.NodeWaitError) as info:
        baremetal.wait_for_state(client_of(agent, baremetal), "n1", ["inspected"], 60, interval=0.05,
                                 power=power, power_interval=0.1)
    assert len(asked) == 4, "one 'off' (a power cycle) is no verdict; two in a row are"
    assert info.value.message.startswith("the node is powered off, waiting for inspected")
    node = agent.find("nodes", "n1")
    assert node["provision_state"] == "failed" and node["last_error"] == info.value.message
