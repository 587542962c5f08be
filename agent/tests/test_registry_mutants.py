"""The node registry on its own (a SQLite file in a temporary directory; no agent, no
root): stored text, history, the MAC index, the invariants and old registries. The
behaviours a mutation run (tools/mutation.py) found no test for."""

import logging
import os
import sqlite3
import stat

import pytest

from stackwright_agent.errors import Conflict
from stackwright_agent.registry import MAX_TEXT, SCHEMA, Registry, StateDirFull, _Conn, clean_text, new_token

OLD_NODES = SCHEMA.split(";")[0].replace("    address TEXT,\n", "")


@pytest.fixture
def reg(tmp_path):
    return Registry(str(tmp_path / "state"))


def test_clean_text_escapes_controls_and_caps_the_length():
    assert clean_text(None) is None
    assert clean_text("plain text, tab\tand newline\n") == "plain text, tab\\x09and newline\\x0a"
    assert clean_text("\x1b[2J\x7f\x9b") == "\\x1b[2J\\x7f\\x9b"
    assert clean_text("a\u202eb\u200bc\ufeff") == "a\\u202eb\\u200bc\\ufeff", "bidi and zero-width are shown"
    assert clean_text("é ü ∑") == "é ü ∑", "printable non-ASCII is kept"
    assert clean_text(42) == "42"
    exact = "x" * MAX_TEXT
    assert clean_text(exact) == exact, "text at the limit is kept whole"
    long = "y" * (MAX_TEXT + 1)
    cut = clean_text(long)
    assert len(cut) <= MAX_TEXT
    assert cut == "y" * (MAX_TEXT - 40) + " ... (41 more characters)"
    assert clean_text("z" * 100, limit=50) == "z" * 10 + " ... (90 more characters)"


def test_the_file_is_born_0600_in_a_0700_directory(tmp_path):
    state = tmp_path / "state"
    Registry(str(state))
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state / "registry.sqlite").st_mode) == 0o600
    os.chmod(state / "registry.sqlite", 0o644)
    Registry(str(state))
    assert stat.S_IMODE(os.stat(state / "registry.sqlite").st_mode) == 0o600, "tightened again on open"


def test_update_writes_named_fields_and_records_transitions(reg):
    assert reg.update("n1", {"role": "compute"}) is None, "no node, no create: nothing"
    assert reg.get("n1") is None and reg.all() == []
    node = reg.update("n1", {"role": "compute", "macs": ["52:54:00:AA:00:01"], "root_device": {"serial": "S"},
                             "properties": {"cpus": 2}}, event="enroll", create=True)
    assert node["provision_state"] == "enrolled" and node["power_state"] == "unknown"
    assert node["macs"] == ["52:54:00:AA:00:01"] and node["root_device"] == {"serial": "S"}
    assert node["properties"] == {"cpus": 2} and node["inspection"] is None and node["network"] is None
    assert node["deploy_done"] is False and node["updated_at"] > 0
    reg.update("n1", {"power_state": "on"})
    assert [h["event"] for h in reg.history("n1")] == ["enroll"], "a plain update leaves no history row"
    reg.update("n1", {"provision_state": "verified"})
    reg.update("n1", {"provision_state": "verified", "deploy_done": True}, event="check", detail="again\x1b")
    rows = reg.history("n1")
    assert [(h["from_state"], h["to_state"], h["event"]) for h in rows] == [
        (None, "enrolled", "enroll"), ("enrolled", "verified", "update"), ("verified", "verified", "check")]
    assert rows[-1]["detail"] == "again\\x1b" and rows[-1]["ts"] >= rows[0]["ts"]
    assert [h["event"] for h in reg.history("n1", limit=2)] == ["update", "check"], "the last ones, in order"
    node = reg.get("n1")
    assert node["deploy_done"] is True and node["role"] == "compute", "fields not named are kept"
    assert reg.update("n1", {"last_error": "bad\x07" + "e" * 5000})["last_error"].startswith("bad\\x07eee")
    stored = reg.get("n1")["last_error"]
    assert len(stored) <= MAX_TEXT and stored.endswith("e ... (2999 more characters)")


def test_expect_aborts_a_write_when_the_row_changed(reg):
    reg.update("n1", {"provision_state": "enrolled"}, create=True)
    seen = []
    assert reg.update("n1", {"role": "x"}, expect=lambda row: seen.append(row) or False) is None
    assert seen[0]["name"] == "n1" and reg.get("n1")["role"] is None
    assert reg.update("n1", {"role": "y"}, expect=lambda row: row["provision_state"] == "enrolled")["role"] == "y"
    assert reg.update("n2", {"role": "z"}, create=True, expect=lambda row: row is None)["role"] == "z"


def test_macs_are_indexed_case_blind_and_replaced(reg):
    reg.update("n1", {"macs": ["52:54:00:AA:00:01", "52:54:00:aa:00:02"]}, create=True)
    assert reg.by_mac("52:54:00:aa:00:01")["name"] == "n1"
    assert reg.by_mac("52:54:00:AA:00:02")["name"] == "n1"
    reg.update("n1", {"macs": ["52:54:00:aa:00:03"]})
    assert reg.by_mac("52:54:00:aa:00:01") is None and reg.by_mac("52:54:00:aa:00:03")["name"] == "n1"
    reg.update("n1", {"role": "compute"})
    assert reg.by_mac("52:54:00:aa:00:03")["name"] == "n1", "a write without macs keeps the index"
    reg.delete("n1", detail="gone")
    assert reg.by_mac("52:54:00:aa:00:03") is None and reg.get("n1") is None
    last = reg.history("n1")[-1]
    assert (last["from_state"], last["to_state"], last["event"], last["detail"]) == (
        "enrolled", "deleted", "delete", "gone")
    reg.delete("n1")
    assert len(reg.history("n1")) == 2, "deleting nothing records nothing"


def test_one_node_per_mac_bmc_endpoint_and_address(reg):
    reg.update("a", {"macs": ["52:54:00:aa:00:01"], "bmc_address": "192.0.2.11", "bmc_port": 623,
                     "address": "192.0.2.100"}, create=True)
    with pytest.raises(Conflict) as err:
        reg.update("b", {"macs": ["52:54:00:aa:00:09", "52:54:00:AA:00:01"]}, create=True)
    assert err.value.field == "macs[1]" and str(err.value).startswith(
        "macs[1]: MAC 52:54:00:AA:00:01 already belongs to node 'a'; a MAC address belongs to one NIC on one node")
    with pytest.raises(Conflict) as err:
        reg.update("b", {"bmc_address": "192.0.2.11", "bmc_port": 623}, create=True)
    assert err.value.field == "bmc.address" and "BMC 192.0.2.11 port 623 is the BMC of node 'a'" in str(err.value)
    with pytest.raises(Conflict) as err:
        reg.update("b", {"address": "192.0.2.100"}, create=True)
    assert err.value.field == "network.address" and str(err.value) == (
        "network.address: address 192.0.2.100 is the provisioning address of node 'a' already")
    assert reg.get("b") is None, "a refused write leaves nothing"
    # another port of the same BMC address is another endpoint; a node may keep its own
    reg.update("b", {"bmc_address": "192.0.2.11", "bmc_port": 624, "macs": ["52:54:00:aa:00:02"]}, create=True)
    with pytest.raises(Conflict):
        reg.update("b", {"bmc_port": 623})
    reg.update("a", {"macs": ["52:54:00:aa:00:01"], "bmc_address": "192.0.2.11", "bmc_port": 623,
                     "address": "192.0.2.100"})
    with pytest.raises(Conflict) as err:
        reg.check_unique("c", macs=["52:54:00:aa:00:02"])
    assert err.value.field == "macs[0]"
    with pytest.raises(Conflict):
        reg.check_unique("c", bmc=("192.0.2.11", 624))
    with pytest.raises(Conflict):
        reg.check_unique("c", address="192.0.2.100")
    reg.check_unique("a", macs=["52:54:00:aa:00:01"], bmc=("192.0.2.11", 623), address="192.0.2.100")
    reg.check_unique("c", macs=["52:54:00:aa:00:03"], bmc=("192.0.2.12", 623), address="192.0.2.101")


def test_an_old_registry_gets_the_new_columns_and_its_duplicates_are_named(tmp_path, caplog):
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(str(state / "registry.sqlite")) as db:
        # the nodes table as first released: no address, armed_at, booted_at, no MAC index
        assert "\n    address TEXT" not in OLD_NODES
        db.execute(OLD_NODES)
        for name in ("a", "b"):
            db.execute("INSERT INTO nodes (name, macs, bmc_address, bmc_port) VALUES (?, ?, '192.0.2.11', 623)",
                       (name, '["52:54:00:aa:00:01"]'))
    with caplog.at_level(logging.WARNING, logger="stackwright-agent.registry"):
        reg = Registry(str(state))
    text = caplog.text
    assert {r.name for r in caplog.records} == {"stackwright-agent.registry"}, "the agent's log names the registry"
    assert "MAC 52:54:00:aa:00:01 is enrolled twice (node 'b' and another)" in text
    assert "holds duplicates for nodes (bmc_address, bmc_port)" in text
    node = reg.get("a")
    assert node["address"] is None and node["armed_at"] is None and node["booted_at"] is None
    assert reg.by_mac("52:54:00:aa:00:01")["name"] == "a"
    # the address index could be made: it holds
    reg.update("a", {"address": "192.0.2.100"})
    with sqlite3.connect(str(state / "registry.sqlite")) as db:
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE nodes SET address = '192.0.2.100' WHERE name = 'b'")
    caplog.clear()
    Registry(str(state))
    assert "enrolled twice" not in caplog.text, "the index is made once"


def test_tokens_are_long_and_fresh():
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) >= 32 for t in tokens)


def test_a_full_database_is_named_as_a_full_state_directory(tmp_path):
    """SQLite's own "database or disk is full" (here: a page limit, no root needed to
    fill a file system) becomes a 507 that names the directory to free."""
    path = str(tmp_path / "state" / "registry.sqlite")
    Registry(str(tmp_path / "state"))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA max_page_count = %d" % db.execute("PRAGMA page_count").fetchone()[0])
    with pytest.raises(StateDirFull) as info:
        with _Conn(db, path) as conn:
            conn.execute("INSERT INTO history (node, ts, event, detail) VALUES ('n', 0, 'e', ?)", ("x" * 100000,))
    err = info.value
    assert str(err) == ("the undercloud's state directory is full (%s): free space there; the registry was not "
                        "changed" % (tmp_path / "state"))
    assert err.status == 507 and err.to_dict()["code"] == "state_dir_full"
    assert isinstance(err.__cause__, sqlite3.OperationalError)
    # any other database error is passed on as it is
    with pytest.raises(sqlite3.OperationalError):
        with _Conn(sqlite3.connect(path), path) as conn:
            conn.execute("SELECT nothing FROM nowhere")
