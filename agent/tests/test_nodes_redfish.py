"""Redfish BMCs in the node registry, through the agent's API (an in-process agent
on a temporary socket): the driver, system id and CA setting are stored and
returned (the password never), several systems of one BMC are nodes of their own,
one system is one node; a registry made before Redfish gets the columns and the
wider endpoint index."""

import sqlite3
import uuid

import pytest

from fixtures import agent_client
from stackwright_agent.registry import Registry

PASSWORD = "pw-" + uuid.uuid4().hex[:10]


def redfish_node(system, mac, **bmc):
    body = {"role": "compute", "kind": "baremetal", "macs": [mac],
            "bmc": dict({"driver": "redfish", "address": "https://BMC-1.example.com:8443", "system_id": system,
                         "username": "root", "password": PASSWORD, "verify_ca": "/etc/ssl/bmc-ca.pem"}, **bmc)}
    return body


def test_driver_system_id_and_verify_ca_are_stored_and_returned(agent):
    agent.put("nodes", "rf0", redfish_node("/redfish/v1/Systems/1", "52:54:00:aa:01:01"))
    bmc = agent.find("nodes", "rf0")["bmc"]
    assert {k: v for k, v in bmc.items() if k != "credentials"} == {
        "driver": "redfish", "address": "https://bmc-1.example.com:8443", "port": 8443, "system_id": "1",
        "username": "root", "verify_ca": "/etc/ssl/bmc-ca.pem"}
    assert PASSWORD not in repr(bmc)
    # the same again changes nothing; the agent restarted reads it back the same
    agent.put("nodes", "rf0", redfish_node("1", "52:54:00:aa:01:01"))
    agent.restart()
    assert agent.find("nodes", "rf0")["bmc"] == bmc
    # an IPMI node shows no Redfish fields
    agent.put("nodes", "ip0", {"role": "compute", "macs": ["52:54:00:aa:01:09"],
                               "bmc": {"address": "192.0.2.9", "username": "a", "password": "b"}})
    assert set(agent.find("nodes", "ip0")["bmc"]) == {"driver", "address", "port", "username", "credentials"}


def test_systems_of_one_bmc_are_nodes_of_their_own_and_one_system_is_one_node(agent):
    agent.put("nodes", "rf1", redfish_node("1", "52:54:00:aa:01:02"))
    agent.put("nodes", "rf2", redfish_node("2", "52:54:00:aa:01:03", verify_ca=False))
    assert agent.find("nodes", "rf2")["bmc"]["verify_ca"] is False
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", "rf3", redfish_node("/redfish/v1/Systems/2", "52:54:00:aa:01:04"))
    assert info.value.field == "bmc.address", info.value.message
    assert "system 2 is the BMC of node 'rf2' already" in info.value.message, info.value.message


@pytest.mark.parametrize("bmc, field, words", [
    (dict(address="ftp://bmc-1"), "bmc.address", "the scheme must be https"),
    (dict(address="https://root:%s@bmc-1" % PASSWORD), "bmc.address", "holds credentials"),
    (dict(system_id="a/b"), "bmc.system_id", "is not a Redfish system id"),
    (dict(verify_ca="ca.pem"), "bmc.verify_ca", "is neither true, false nor an absolute path"),
    (dict(driver="ipmi", address="192.0.2.7"), "bmc.system_id", "is for a Redfish BMC"),
])
def test_the_api_refuses_bad_redfish_fields_by_name(agent, bmc, field, words):
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", "rf9", redfish_node("1", "52:54:00:aa:01:05", **bmc))
    assert info.value.field == field and words in info.value.message, info.value.message
    assert PASSWORD not in info.value.message


def test_a_registry_from_before_redfish_gets_the_columns_and_the_wider_index(tmp_path):
    state = tmp_path / "state"
    Registry(str(state))
    with sqlite3.connect(str(state / "registry.sqlite")) as db:
        # as it was: no Redfish columns, the endpoint index on address and port only
        db.execute("DROP INDEX nodes_bmc_system")
        db.execute("CREATE UNIQUE INDEX nodes_bmc_endpoint ON nodes (bmc_address, bmc_port)")
        db.execute("ALTER TABLE nodes DROP COLUMN bmc_system_id")
        db.execute("ALTER TABLE nodes DROP COLUMN bmc_verify_ca")
        db.execute("INSERT INTO nodes (name, bmc_driver, bmc_address, bmc_port) "
                   "VALUES ('old', 'ipmi', '192.0.2.1', 623)")
    reg = Registry(str(state))
    assert reg.get("old")["bmc_system_id"] is None
    for name in ("a", "b"):
        reg.update(name, {"bmc_driver": "redfish", "bmc_address": "https://bmc", "bmc_port": 443,
                          "bmc_system_id": name, "bmc_verify_ca": True}, create=True)
    assert reg.get("b")["bmc_verify_ca"] is True
    with sqlite3.connect(str(state / "registry.sqlite")) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
        assert "nodes_bmc_endpoint" not in names and "nodes_bmc_system" in names
        with pytest.raises(sqlite3.IntegrityError):  # the database itself holds one node per system
            db.execute("UPDATE nodes SET bmc_system_id = 'a' WHERE name = 'b'")
