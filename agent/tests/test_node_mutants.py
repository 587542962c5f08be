"""The nodes API's arming of ramdisk actions, its address pool, its dhcp-host files and
what a read shows, in process (no socket, no root, no VM): the behaviours a mutation
run (tools/mutation.py) found no test for."""

import os
import stat

import pytest

from stackwright_agent.api import Api
from stackwright_agent.config import Config
from stackwright_agent.drivers.bmcs import credentials_digest

DISK = "/dev/disk/by-id/virtio-DISK-B"
SHA = "ab" * 32
DEPLOY = {"action": "deploy", "image_url": "http://192.0.2.1:8080/images/overcloud.qcow2", "image_sha256": SHA}


def body(i=1, **extra):
    out = {"role": "compute", "kind": "baremetal",
           "bmc": {"address": "192.0.2.%d" % (10 + i), "port": 623, "username": "admin", "password": "pw-%d" % i},
           "macs": ["52:54:00:aa:00:%02x" % i], "root_device": {"serial": "DISK-%d" % i}}
    out.update(extra)
    return out


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "state")


@pytest.fixture
def api(state_dir):
    return Api(Config(state_dir=state_dir, roles=["conductor"]))


def put(api, name, data, dry_run=False):
    return api.handle("PUT", "/v1/nodes/%s%s" % (name, "?dry_run=true" if dry_run else ""), data)


def get(api, name):
    return api.handle("GET", "/v1/nodes/" + name, None)


def ok(result):
    status, out = result
    assert status == 200, out
    return out


def refused(result, status, field):
    got, out = result
    assert got == status and out["error"]["field"] == field, out
    return out["error"]["message"]


def row(api, name="n1"):
    return api.drivers["nodes"].registry.get(name)


def enrolled(api, name="n1", i=1, **fields):
    ok(put(api, name, body(i)))
    if fields:
        api.drivers["nodes"].registry.update(name, fields)
    return row(api, name)


# ------------------------------------------------------------------ arming

def test_a_deploy_without_a_target_disk_is_refused(api):
    enrolled(api, provision_state="available")
    message = refused(put(api, "n1", {"action": DEPLOY}), 409, "action")
    assert "node 'n1' has no target disk yet; inspect it first" in message
    assert row(api)["action"] is None and row(api)["token"] is None
    # inspect and clean need none
    for action in ("inspect", "clean"):
        out = ok(put(api, "n1", {"action": {"action": action}}))
        assert out["resource"]["action"]["action"] == action


@pytest.mark.parametrize("missing", ["image_url", "image_sha256"])
def test_a_deploy_names_its_missing_image_field(api, missing):
    enrolled(api, target_disk=DISK)
    action = dict(DEPLOY)
    del action[missing]
    refused(put(api, "n1", {"action": action}), 400, "action." + missing)
    assert row(api)["action"] is None


def test_arming_gives_a_fresh_token_and_resending_keeps_it(api):
    enrolled(api, target_disk=DISK)
    dry = ok(put(api, "n1", {"action": DEPLOY}, dry_run=True))
    assert dry["changed"] and row(api)["action"] is None, "a dry run arms nothing"
    out = ok(put(api, "n1", {"action": DEPLOY}))
    assert out["changed"] and out["resource"] == dry["resource"]
    armed = row(api)
    assert armed["action"]["action"] == "deploy" and armed["token"] and armed["armed_at"]
    assert "token" not in out["resource"] and armed["token"] not in repr(out)
    last = api.drivers["nodes"].registry.history("n1")[-1]
    assert (last["event"], last["detail"]) == ("arm", "deploy")
    # the same action again: nothing changes, the ramdisk's token stays valid
    again = ok(put(api, "n1", {"action": DEPLOY}))
    assert not again["changed"] and row(api)["token"] == armed["token"]
    assert row(api)["armed_at"] == armed["armed_at"]


def test_an_action_resent_after_the_node_booted_is_a_new_attempt(api):
    enrolled(api, target_disk=DISK)
    ok(put(api, "n1", {"action": DEPLOY}))
    first = row(api)
    api.drivers["nodes"].registry.update("n1", {"booted_at": first["armed_at"] + 1})
    assert ok(get(api, "n1"))["booted"] is True
    out = ok(put(api, "n1", {"action": DEPLOY}))
    assert out["changed"] and out["resource"]["booted"] is False
    second = row(api)
    assert second["token"] != first["token"], "the earlier ramdisk can no longer report"
    assert second["booted_at"] is None and second["armed_at"] >= first["armed_at"]
    last = api.drivers["nodes"].registry.history("n1")[-1]
    assert last["detail"] == "deploy again (the earlier boot never reported)"


def test_disarming_clears_token_and_times(api):
    enrolled(api, target_disk=DISK)
    ok(put(api, "n1", {"action": {"action": "inspect"}}))
    out = ok(put(api, "n1", {"action": {"action": None}}))
    assert out["changed"] and out["resource"]["action"] is None
    after = row(api)
    assert after["token"] is None and after["armed_at"] is None and after["booted_at"] is None
    assert api.drivers["nodes"].registry.history("n1")[-1]["event"] == "disarm"
    assert not ok(put(api, "n1", {"action": {"action": None}}))["changed"]


def test_if_armed_at_applies_only_to_the_attempt_it_names(api):
    enrolled(api, target_disk=DISK, provision_state="available")
    ok(put(api, "n1", {"provision_state": "deploying"}))
    ok(put(api, "n1", {"action": DEPLOY}))
    armed_at = ok(get(api, "n1"))["armed_at"]
    message = refused(put(api, "n1", {"provision_state": "failed", "last_error": "timed out",
                                      "if_armed_at": armed_at - 5}), 409, "if_armed_at")
    assert "was armed at %s, not at %s" % (armed_at, armed_at - 5) in message
    assert row(api)["provision_state"] == "deploying"
    out = ok(put(api, "n1", {"provision_state": "failed", "last_error": "timed out", "if_armed_at": armed_at}))
    assert out["resource"]["provision_state"] == "failed" and out["resource"]["last_error"] == "timed out"
    refused(put(api, "n1", {"power_state": "off", "if_armed_at": True}), 400, "if_armed_at")


# ------------------------------------------------------------------ reads

def test_a_read_shows_no_secret_and_the_details_only_on_get(api):
    enrolled(api, inspection={"disks": []}, power_state="on")
    full = ok(get(api, "n1"))
    secret = row(api)
    assert full["bmc"] == {"driver": "ipmi", "address": "192.0.2.11", "port": 623, "username": "admin",
                           "credentials": credentials_digest(secret["bmc_salt"], "admin", "pw-1")}
    assert "pw-1" not in repr(full) and "password" not in full["bmc"]
    assert full["inspection"] == {"disks": []} and full["history"][0]["event"] == "enroll"
    assert full["armed_at"] is None and full["booted_at"] is None and full["booted"] is False
    assert full["power_state"] == "on" and full["deploy_done"] is False
    put_view = ok(put(api, "n1", {"power_state": "on"}))["resource"]
    assert "history" not in put_view and "inspection" not in put_view
    listed = ok(api.handle("GET", "/v1/nodes", None))["nodes"]
    assert listed == [{"name": "n1", "role": "compute", "kind": "baremetal", "address": None,
                       "provision_state": "enrolled", "power_state": "on", "last_error": None}]
    assert get(api, "n2")[0] == 404


def test_a_new_password_changes_the_credentials_digest(api):
    enrolled(api)
    before = ok(get(api, "n1"))["bmc"]["credentials"]
    out = ok(put(api, "n1", body(1, bmc=dict(body(1)["bmc"], password="pw-new"))))
    assert out["changed"] and out["resource"]["bmc"]["credentials"] != before
    assert row(api)["bmc_salt"] and row(api)["bmc_password"] == "pw-new"


def test_an_omitted_field_keeps_its_value(api):
    enrolled(api)
    out = ok(put(api, "n1", {"power_state": "off"}))
    res = out["resource"]
    assert res["role"] == "compute" and res["macs"] == ["52:54:00:aa:00:01"]
    assert res["root_device"] == {"serial": "DISK-1"} and res["bmc"]["address"] == "192.0.2.11"
    out = ok(put(api, "n1", {"role": "controller"}))
    assert out["resource"]["role"] == "controller" and out["resource"]["macs"] == ["52:54:00:aa:00:01"]


def test_absent_deletes_and_keeps_the_history(api):
    enrolled(api)
    out = ok(api.handle("DELETE", "/v1/nodes/n1", None))
    assert out["changed"] and out["resource"] is None and row(api) is None
    assert api.drivers["nodes"].registry.history("n1")[-1]["event"] == "delete"
    assert not ok(api.handle("DELETE", "/v1/nodes/n1", None))["changed"]


# ------------------------------------------------------------------ addresses

def pool_api(state_dir, pool="192.0.2.100-192.0.2.102", hosts=None):
    return Api(Config(state_dir=state_dir, roles=["conductor"], provisioning_pool=pool, dhcp_hosts_dir=hosts))


def test_the_pool_gives_the_lowest_free_address_for_life(state_dir):
    api = pool_api(state_dir)
    assert ok(put(api, "a", body(1)))["resource"]["address"] == "192.0.2.100"
    assert ok(put(api, "b", body(2)))["resource"]["address"] == "192.0.2.101"
    ok(api.handle("DELETE", "/v1/nodes/a", None))
    assert ok(put(api, "c", body(3)))["resource"]["address"] == "192.0.2.100", "the freed one, lowest first"
    # b keeps its own while others come and go
    assert ok(put(api, "b", {"role": "controller"}))["resource"]["address"] == "192.0.2.101"
    assert ok(put(api, "d", body(4)))["resource"]["address"] == "192.0.2.102", "the pool's last address"
    message = refused(put(api, "e", body(5)), 409, "provisioning_pool")
    assert message == ("provisioning_pool 192.0.2.100-192.0.2.102 has no free address for node 'e' (3 nodes hold "
                       "addresses); widen the pool")


def test_a_static_address_wins_over_the_pool_and_is_unique(state_dir):
    api = pool_api(state_dir)
    assert ok(put(api, "a", body(1, network={"address": "192.0.2.50/24"})))["resource"]["address"] == "192.0.2.50"
    message = refused(put(api, "b", body(2, network={"address": "192.0.2.50/24"})), 409, "network.address")
    assert "192.0.2.50 is the provisioning address of node 'a'" in message
    # back to DHCP ({}): a pool address again
    out = ok(put(api, "a", {"network": {}}))
    assert out["resource"]["address"] == "192.0.2.100" and out["resource"]["network"] is None


def test_a_kept_address_outside_a_new_pool_is_replaced(state_dir):
    ok(put(pool_api(state_dir), "a", body(1)))
    api = pool_api(state_dir, pool="192.0.2.200-192.0.2.201")
    assert ok(put(api, "a", {"role": "controller"}))["resource"]["address"] == "192.0.2.200"


def test_dhcp_host_files_follow_the_pxe_nodes(state_dir, tmp_path):
    hosts = str(tmp_path / "dhcp-hosts")
    api = pool_api(state_dir, hosts=hosts)
    ok(put(api, "a", body(1, macs=["52:54:00:aa:00:01", "52:54:00:aa:00:0a"])))
    ok(put(api, "pre", {"role": "compute", "kind": "baremetal", "network": {"address": "192.0.2.60/24"}}))
    path = os.path.join(hosts, "a")
    with open(path) as fh:
        assert fh.read() == "52:54:00:aa:00:01,52:54:00:aa:00:0a,192.0.2.100,a\n"
    assert sorted(os.listdir(hosts)) == ["a"], "a node without a BMC gets no DHCP entry"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, "dnsmasq reads it after dropping privileges"
    mtime = os.stat(path).st_mtime_ns
    ok(put(api, "a", {"power_state": "off"}))
    assert os.stat(path).st_mtime_ns == mtime, "an unchanged file is not rewritten"
    ok(put(api, "a", {"macs": ["52:54:00:aa:00:0b"]}))
    with open(path) as fh:
        assert fh.read() == "52:54:00:aa:00:0b,192.0.2.100,a\n"
    # an unchanged file does not stop the next node's from being written
    ok(put(api, "b", body(2)))
    ok(put(api, "b", {"macs": ["52:54:00:aa:00:0c"]}))
    with open(os.path.join(hosts, "b")) as fh:
        assert fh.read() == "52:54:00:aa:00:0c,192.0.2.101,b\n"
    assert sorted(os.listdir(hosts)) == ["a", "b"], "no temporary file is left"
    ok(api.handle("DELETE", "/v1/nodes/b", None))
    open(os.path.join(hosts, "stale"), "w").close()
    open(os.path.join(hosts, ".keep"), "w").close()
    ok(api.handle("DELETE", "/v1/nodes/a", None))
    assert sorted(os.listdir(hosts)) == [".keep"]


# ------------------------------------------------------------------ bad inputs

LONG_URL = "http://192.0.2.1/" + "a" * (2048 - len("http://192.0.2.1/"))
BAD_INPUTS = [
    ({"state": "gone"}, "state"),
    ({"power_state": "up"}, "power_state"),
    ({"power_state": "ON"}, "power_state"),
    ({"provision_state": "deleted"}, "provision_state"),
    ({"last_error": "e" * 4097}, "last_error"),
    ({"last_error": 5}, "last_error"),
    ({"action": {"action": "reboot"}}, "action.action"),
    ({"action": {"actoin": "deploy"}}, "action.actoin"),
    ({"action": "deploy"}, "action"),
    ({"action": dict(DEPLOY, image_url="http://192.0.2.1/a b")}, "action.image_url"),
    ({"action": dict(DEPLOY, image_url=LONG_URL + "a")}, "action.image_url"),
    ({"action": dict(DEPLOY, image_sha256="ab" * 31)}, "action.image_sha256"),
    ({"action": dict(DEPLOY, image_sha256="g" * 64)}, "action.image_sha256"),
    # what the listener would refuse to send the ramdisk, refused when armed
    ({"action": dict(DEPLOY, config_url="http://192.0.2.1/\"x")}, "action.config_url"),
    ({"action": dict(DEPLOY, image_url="http://192.0.2.1/$(reboot)")}, "action.image_url"),
    ({"action": dict(DEPLOY, image_url="http://192.0.2.1/a'b")}, "action.image_url"),
    ({"action": dict(DEPLOY, image_url="file:///etc/shadow")}, "action.image_url"),
    ({"action": dict(DEPLOY, image_url="ftp://192.0.2.1/x.raw")}, "action.image_url"),
    ({"action": dict(DEPLOY, image_url="images/x.raw")}, "action.image_url"),
    ({"action": dict(DEPLOY, config_url="http://192.0.2.1/" + "c" * 2048)}, "action.config_url"),
    ({"if_armed_at": "now"}, "if_armed_at"),
    ({"if_armed_at": False}, "if_armed_at"),
    ({"name": "n2"}, "name"),
]


@pytest.mark.parametrize("data, field", BAD_INPUTS)
def test_a_bad_input_is_a_400_naming_the_field_and_changes_nothing(api, data, field):
    before = enrolled(api, target_disk=DISK)
    got, out = put(api, "n1", data)
    assert got == 400 and out["error"]["field"] == field, out
    assert row(api) == before


def test_the_messages_say_what_to_give(api):
    enrolled(api, target_disk=DISK)
    assert refused(put(api, "n1", {"if_armed_at": "now"}), 400, "if_armed_at") == (
        "if_armed_at: expected a number, got 'now'")
    assert refused(put(api, "n1", {"action": dict(DEPLOY, image_url="x y")}), 400, "action.image_url") == (
        "action.image_url: 'x y' is not valid; give an http(s) URL or a path on the undercloud's listener like "
        "/images/x.raw.gz, without spaces or quotes")
    assert refused(put(api, "n1", {"provision_state": "failed"}), 400, "last_error") == (
        "last_error: is required when provision_state is failed")


def test_the_same_request_again_changes_nothing(api):
    """The BMC's credentials digest keeps its salt: a node PUT twice is unchanged."""
    first = ok(put(api, "n1", body(1)))
    again = ok(put(api, "n1", body(1)))
    assert not again["changed"] and again["resource"] == first["resource"]


def test_a_get_shows_the_last_20_history_rows(api):
    enrolled(api)
    for i in range(25):
        api.drivers["nodes"].registry.update("n1", {}, event="e%d" % i)
    history = ok(get(api, "n1"))["history"]
    assert [h["event"] for h in history] == ["e%d" % i for i in range(5, 25)]


def test_inputs_at_their_limits_pass(api):
    enrolled(api, target_disk=DISK)
    ok(put(api, "n1", {"last_error": "e" * 4096, "power_state": "unknown", "state": "present"}))
    out = ok(put(api, "n1", {"action": dict(DEPLOY, image_url=LONG_URL, config_url=LONG_URL,
                                            image_sha256="AB" * 32)}))
    assert out["resource"]["action"]["image_url"] == LONG_URL
    for url in ("/images/overcloud.raw.gz", "https://mirror.example/images/x.raw.gz?v=1&k=%20"):
        assert ok(put(api, "n1", {"action": dict(DEPLOY, image_url=url)}))["resource"]["action"]["image_url"] == url
    armed_at = row(api)["armed_at"]
    assert ok(put(api, "n1", {"power_state": "off", "if_armed_at": armed_at}))["resource"]["power_state"] == "off"
    refused(put(api, "n1", {"power_state": "on", "if_armed_at": int(armed_at)}), 409, "if_armed_at")


def test_the_schema_needs_a_name():
    from stackwright_agent.drivers.nodes import SCHEMA
    from stackwright_agent.errors import InvalidField
    with pytest.raises(InvalidField) as info:
        SCHEMA.check({"role": "compute"})
    assert info.value.field == "name" and "is required" in str(info.value)
    assert SCHEMA.check({"name": "n1"})["state"] == "present"
