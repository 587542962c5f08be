"""Bridges: real Linux bridges and veths in a throw-away network namespace."""

import json
import subprocess

import pytest

from fixtures import agent_client


def links(netns):
    out = subprocess.run(["ip", "-j", "-n", netns, "link", "show"], capture_output=True, text=True, check=True)
    return {r["ifname"]: r for r in json.loads(out.stdout)}


def test_create_is_predicted_applied_then_idempotent(agent, netns):
    want = {"netns": netns, "mtu": 9000, "addresses": ["192.0.2.1/24", "fd00:99::1/64"]}
    plan = agent.put("bridges", "br-prov", want, dry_run=True)
    assert plan["changed"] and plan["diff"]["before"] is None
    assert "br-prov" not in links(netns), "dry_run must not create the bridge"

    done = agent.put("bridges", "br-prov", want)
    assert done["changed"]
    assert done["resource"] == plan["resource"], "the dry run predicted a different result"
    link = links(netns)["br-prov"]
    assert link["mtu"] == 9000 and "UP" in link["flags"]
    assert done["resource"]["addresses"] == ["192.0.2.1/24", "fd00:99::1/64"]

    again = agent.put("bridges", "br-prov", want)
    assert again["changed"] is False
    assert again["diff"]["before"] == again["diff"]["after"]


def test_veth_port_created_attached_and_purged(agent, netns):
    agent.put("bridges", "br0", {"netns": netns})
    res = agent.put("bridges", "br0", {"netns": netns, "ports": [{"name": "veth-a", "veth_peer": "veth-a-p"}]})
    assert res["changed"] and res["resource"]["ports"] == ["veth-a"]
    assert links(netns)["veth-a"]["master"] == "br0"
    assert "UP" in links(netns)["veth-a-p"]["flags"]
    # a port listed nowhere stays attached unless purge_ports asks otherwise
    assert not agent.put("bridges", "br0", {"netns": netns, "ports": []})["changed"]
    res = agent.put("bridges", "br0", {"netns": netns, "ports": [], "purge_ports": True})
    assert res["changed"] and res["resource"]["ports"] == []
    assert "master" not in links(netns)["veth-a"]


def test_addresses_are_the_exact_set(agent, netns):
    agent.put("bridges", "br1", {"netns": netns, "addresses": ["198.51.100.1/24", "198.51.100.2/24"]})
    res = agent.put("bridges", "br1", {"netns": netns, "addresses": ["198.51.100.2/24"]})
    assert res["changed"] and res["resource"]["addresses"] == ["198.51.100.2/24"]


def test_addresses_the_kernel_or_a_dhcp_client_added_are_left_alone(agent, netns):
    """A dynamic address (SLAAC from the undercloud's own router advertisements, a
    DHCP lease) is not the bridge's to manage: removed, it comes back, and every run
    would change the bridge."""
    want = {"netns": netns, "addresses": ["198.51.100.1/24", "fd00:98::1/64"]}
    agent.put("bridges", "br3", want)
    subprocess.run(["ip", "-n", netns, "addr", "add", "fd00:98::5054:ff:fe00:1/64", "dev", "br3",
                    "valid_lft", "3600", "preferred_lft", "3600"], check=True)
    again = agent.put("bridges", "br3", want)
    assert again["changed"] is False and again["resource"]["addresses"] == ["198.51.100.1/24", "fd00:98::1/64"]
    out = subprocess.run(["ip", "-n", netns, "addr", "show", "dev", "br3"], capture_output=True, text=True).stdout
    assert "fd00:98::5054:ff:fe00:1/64" in out


def test_absent_removes_and_is_idempotent(agent, netns):
    agent.put("bridges", "br2", {"netns": netns})
    assert agent.put("bridges", "br2", {"netns": netns, "state": "absent"})["changed"]
    assert "br2" not in links(netns)
    assert not agent.put("bridges", "br2", {"netns": netns, "state": "absent"})["changed"]
    assert agent.find("bridges", "br2", netns=netns) is None


@pytest.mark.parametrize("body, field, words", [
    ({"mut": 1500}, "mut", "did you mean 'mtu'"),
    ({"mtu": "big"}, "mtu", "expected an integer"),
    ({"addresses": ["10.0.0.1"]}, "addresses[0]", "no prefix length"),
    ({"ports": [{"name": "tap-nowhere"}]}, "ports[0].name", "no interface 'tap-nowhere'"),
    ({"netns": "swt-missing-ns"}, "netns", "does not exist"),
])
def test_bad_input_names_the_field_and_changes_nothing(agent, netns, body, field, words):
    body = dict({"netns": netns}, **body)
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bridges", "br-bad", body)
    assert err.value.status == 400 and err.value.field == field
    assert words in err.value.message
    assert "br-bad" not in links(netns)


def test_name_over_15_characters_is_refused(agent, netns):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bridges", "br-name-too-long-x", {"netns": netns})
    assert err.value.field == "name" and "at most 15" in err.value.message
    assert "br-name-too-long-x" not in links(netns)
