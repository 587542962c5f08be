"""The node state machine as a table: every (state, wanted state) pair is sent to the
nodes API (in process, no socket, no root). An allowed pair reaches the expected
state; every other pair is a 409 naming the field, both states and what the node
may become instead, and changes nothing.

The table below is written out here on purpose, not read from the driver: a change
to the driver's TRANSITIONS (a skipped cleaning, say) must fail this test."""

import pytest

from stackwright_agent.api import Api
from stackwright_agent.config import Config
from stackwright_agent.registry import STATES

# (from, to) pairs the conductor accepts; a state may always be asked for again
ALLOWED = {
    ("failed", "enrolled"), ("verified", "enrolled"),
    ("enrolled", "verified"), ("failed", "verified"), ("inspected", "verified"), ("available", "verified"),
    ("verified", "inspected"), ("failed", "inspected"),
    ("inspected", "available"), ("cleaning", "available"), ("failed", "available"),
    ("available", "deploying"),
    ("deploying", "active"),
    ("inspected", "cleaning"), ("available", "cleaning"), ("active", "cleaning"), ("failed", "cleaning"),
    ("enrolled", "failed"), ("verified", "failed"), ("inspected", "failed"), ("available", "failed"),
    ("deploying", "failed"), ("active", "failed"), ("cleaning", "failed"),
}
ADOPTION = ("enrolled", "active")
LIVE = [s for s in STATES if s != "deleted"]
DISK = "/dev/disk/by-id/virtio-DISK-B"
BODY = {"role": "compute", "kind": "baremetal",
        "bmc": {"address": "192.0.2.11", "port": 623, "username": "admin", "password": "pw-table"},
        "macs": ["52:54:00:aa:00:01"], "root_device": {"serial": "DISK-B"}}


@pytest.fixture
def api(tmp_path):
    return Api(Config(state_dir=str(tmp_path / "state"), roles=["conductor"]))


def registry(api):
    return api.drivers["nodes"].registry


def put(api, body, name="n1"):
    return api.handle("PUT", "/v1/nodes/" + name, body)


def node_in(api, state, name="n1", **fields):
    """Node NAME enrolled through the API, then placed in STATE as the conductor's own
    steps would leave it (the registry holds it so)."""
    status, out = put(api, dict(BODY), name)
    assert status == 200, out
    fields.setdefault("last_error", "earlier failure" if state == "failed" else None)
    registry(api).update(name, dict(fields, provision_state=state), event="test")
    return registry(api).get(name)


def want(state):
    body = {"provision_state": state}
    if state == "failed":
        body["last_error"] = "the ramdisk reported: disk gone"
    return body


@pytest.mark.parametrize("to", LIVE)
@pytest.mark.parametrize("frm", LIVE)
def test_every_pair_of_the_table(api, frm, to):
    before = node_in(api, frm)
    status, out = put(api, want(to))
    after = registry(api).get("n1")
    if frm == to or (frm, to) in ALLOWED:
        assert status == 200, out
        assert after["provision_state"] == to
        assert out["changed"] is (frm != to or to == "failed")
        if to != "failed":
            assert after["last_error"] is None, "leaving failed clears the old error"
        else:
            assert after["last_error"] == "the ramdisk reported: disk gone"
        if frm != to:
            assert [h["from_state"] for h in registry(api).history("n1")][-1:] == [frm]
    else:
        assert status == 409, (frm, to, status, out)
        err = out["error"]
        assert err["field"] == "provision_state"
        assert after == before, "a refused transition changes nothing"
        if (frm, to) == ADOPTION:
            assert "by a deploy, not by adoption" in err["message"]
            return
        # enrolled -> active: the adoption of a node without a BMC (test below)
        reachable = sorted(t for f, t in ALLOWED | {ADOPTION} if f == frm)
        assert "is %s and cannot become %s" % (frm, to) in err["message"]
        # the message lists what the node may become instead (the driver's order)
        listed = err["message"].rsplit("may become ", 1)[1]
        assert sorted(listed.split(", ")) == reachable


def test_the_table_has_every_state_and_no_other(api):
    """Every stored state but 'deleted' may be asked for; 'deleted' and unknown names
    are a 400 naming the field (deleting is PUT state=absent)."""
    node_in(api, "available")
    for bad in ("deleted", "Available", "clean", ""):
        status, out = put(api, {"provision_state": bad})
        assert status == 400 and out["error"]["field"] == "provision_state", (bad, out)
        assert registry(api).get("n1")["provision_state"] == "available"


def test_skipping_cleaning_to_deploy_is_refused(api):
    """inspected -> deploying would write an image over a disk nobody cleaned."""
    node_in(api, "inspected", target_disk=DISK)
    status, out = put(api, {"provision_state": "deploying"})
    assert status == 409 and out["error"]["field"] == "provision_state"
    assert "from inspected it may become verified, available, cleaning, failed" in out["error"]["message"]


def test_a_new_node_starts_enrolled(api):
    for i, state in enumerate(LIVE):
        body = dict(BODY, macs=["52:54:00:aa:01:%02x" % i],
                    bmc=dict(BODY["bmc"], port=1000 + i), **want(state))
        status, out = put(api, body, name="new-" + state)
        if state == "enrolled":
            assert status == 200 and out["resource"]["provision_state"] == "enrolled"
        else:
            assert status == 409 and out["error"]["field"] == "provision_state", (state, out)
            assert "starts enrolled, not %s" % state in out["error"]["message"]
            assert registry(api).get("new-" + state) is None


def test_failed_needs_its_reason(api):
    node_in(api, "deploying")
    status, out = put(api, {"provision_state": "failed"})
    assert status == 400 and out["error"]["field"] == "last_error"
    assert registry(api).get("n1")["provision_state"] == "deploying"


def test_a_redeploy_starts_with_deploy_done_false(api):
    """A node deployed before (deploy_done true) and cleaned: asking for deploying again
    resets deploy_done, or a wait would report the new deploy done at once."""
    node_in(api, "available", deploy_done=True, target_disk=DISK)
    assert registry(api).get("n1")["deploy_done"] is True
    status, out = put(api, {"provision_state": "deploying"})
    assert status == 200 and out["resource"]["deploy_done"] is False
    assert registry(api).get("n1")["deploy_done"] is False
    # other transitions leave it as the ramdisk set it
    registry(api).update("n1", {"deploy_done": True})
    status, out = put(api, {"provision_state": "active"})
    assert status == 200 and out["resource"]["deploy_done"] is True


def test_adoption_is_for_nodes_without_a_bmc(api):
    """enrolled -> active: only a pre-provisioned node (no BMC) is adopted."""
    node_in(api, "enrolled")
    status, out = put(api, {"provision_state": "active"})
    assert status == 409 and out["error"]["field"] == "provision_state"
    assert "becomes active by a deploy, not by adoption" in out["error"]["message"]
    status, out = put(api, {"role": "compute", "kind": "baremetal", "network": {"address": "192.0.2.50/24"},
                            "provision_state": "active"}, name="pre1")
    assert status == 409, "a new node starts enrolled, even one to adopt"
    status, out = put(api, {"role": "compute", "kind": "baremetal", "network": {"address": "192.0.2.50/24"}},
                      name="pre1")
    assert status == 200, out
    status, out = put(api, {"provision_state": "active"}, name="pre1")
    assert status == 200 and out["resource"]["provision_state"] == "active", out
