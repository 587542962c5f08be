"""LVM: real volume groups on loop devices backed by sparse files.

This host's kernel may lack device-mapper; LVM metadata works without it, so
logical volumes are created with active: false, which works on any kernel."""

import json
import os
import subprocess
import uuid

import pytest

from fixtures import agent_client
from stackwright_agent.drivers.lvm import device_mapper_available

MIB = 1024 * 1024
LVM_ENV = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1")
NO_DM = [] if device_mapper_available() else ["--driverloaded", "n"]


def lvm(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True, env=LVM_ENV).stdout


def report(command, fields):
    out = lvm(command, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields)
    return json.loads(out)["report"][0][command[:-1]]


def vg_names():
    return {r["vg_name"] for r in report("vgs", "vg_name")}


def pv_owners():
    return {r["pv_name"]: r["vg_name"] for r in report("pvs", "pv_name,vg_name")}


def lv_sizes(vg):
    rows = report("lvs", "vg_name,lv_name,lv_size")
    return {r["lv_name"]: int(r["lv_size"]) for r in rows if r["vg_name"] == vg}


@pytest.fixture
def vg():
    """A VG name no other test uses; whatever carries it is removed afterwards."""
    name = "swt" + uuid.uuid4().hex[:8]
    yield name
    if name in vg_names():
        lvm("vgremove", "-f", *NO_DM, name, check=False)


@pytest.fixture
def loops(tmp_path, vg):
    """Factory of loop devices over sparse files; wiped and detached afterwards (after ``vg``'s cleanup)."""
    devices = []

    def make(size_mib=64):
        image = tmp_path / ("disk%d.img" % len(devices))
        with open(image, "wb") as fh:
            fh.truncate(size_mib * MIB)
        devices.append(subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                                      capture_output=True, text=True).stdout.strip())
        return devices[-1]

    yield make
    owners = pv_owners()
    for dev in devices:
        if owners.get(dev):  # left in a VG by a failing test
            lvm("vgremove", "-f", *NO_DM, owners[dev], check=False)
        lvm("pvremove", "-ff", "-y", dev, check=False)
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.fixture
def vg_with_pv(agent, vg, loops):
    agent.put("volume_groups", vg, {"pvs": [loops()]})
    return vg


def expect_error(status, field, call, *args, **kw):
    with pytest.raises(agent_client.AgentClientError) as err:
        call(*args, **kw)
    assert (err.value.status, err.value.field) == (status, field), err.value.message
    return err.value.message


# -- volume groups -------------------------------------------------------------
def test_vg_create_is_predicted_applied_then_idempotent(agent, vg, loops):
    dev = loops()
    plan = agent.put("volume_groups", vg, {"pvs": [dev]}, dry_run=True)
    assert plan["changed"] and plan["diff"]["before"] is None
    assert vg not in vg_names() and dev not in pv_owners(), "dry_run must not touch the device"

    done = agent.put("volume_groups", vg, {"pvs": [dev]})
    assert done["changed"] and done["resource"] == plan["resource"], "the dry run predicted a different result"
    assert done["resource"] == {"name": vg, "state": "present", "pvs": [dev], "lv_count": 0}
    assert pv_owners()[dev] == vg

    again = agent.put("volume_groups", vg, {"pvs": [dev]})
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    assert agent.find("volume_groups", vg) == done["resource"]
    assert done["resource"] in agent.client.get("/v1/volume_groups")["volume_groups"]


def test_vg_extend_adds_listed_devices_and_keeps_the_others(agent, vg, loops):
    first, second = loops(), loops(32)
    agent.put("volume_groups", vg, {"pvs": [first]})
    plan = agent.put("volume_groups", vg, {"pvs": [second]}, dry_run=True)
    assert plan["changed"] and pv_owners().get(second) is None
    done = agent.put("volume_groups", vg, {"pvs": [second]})
    assert done["resource"] == plan["resource"]
    assert done["resource"]["pvs"] == sorted([first, second])
    assert pv_owners()[first] == pv_owners()[second] == vg
    # an existing VG needs no device list at all
    assert agent.put("volume_groups", vg, {})["changed"] is False


def test_vg_absent_needs_force_while_it_holds_volumes(agent, vg_with_pv):
    vg = vg_with_pv
    dev = agent.find("volume_groups", vg)["pvs"][0]
    agent.put("volumes", vg + "/data", {"size": "8M", "active": False})
    message = expect_error(409, "force", agent.put, "volume_groups", vg, {"state": "absent"})
    assert "force: true" in message
    assert vg in vg_names() and "data" in lv_sizes(vg)

    done = agent.put("volume_groups", vg, {"state": "absent", "force": True})
    assert done["changed"] and done["resource"] is None
    assert vg not in vg_names() and dev not in pv_owners(), "the PV label should be wiped too"
    assert agent.put("volume_groups", vg, {"state": "absent"})["changed"] is False


def test_vg_absent_without_volumes_needs_no_force(agent, vg_with_pv):
    assert agent.put("volume_groups", vg_with_pv, {"state": "absent"})["changed"]
    assert vg_with_pv not in vg_names()


@pytest.mark.parametrize("body, field, words", [
    ({"pvs": ["/dev/does-not-exist"]}, "pvs[0]", "does not exist"),
    ({"pvs": ["/etc/hostname"]}, "pvs[0]", "not a block device"),
    ({"pvs": ["dev/sdb"]}, "pvs[0]", "device path"),
    ({"pvz": ["/dev/loop0"]}, "pvz", "did you mean 'pvs'"),
    ({}, "pvs", "is required to create"),
    ({"state": "gone"}, "state", "not one of"),
])
def test_vg_bad_input_names_the_field_and_changes_nothing(agent, vg, body, field, words):
    message = expect_error(400, field, agent.put, "volume_groups", vg, body)
    assert words in message
    assert vg not in vg_names()


def test_vg_refuses_a_pv_of_another_vg_and_a_formatted_device(agent, vg_with_pv, loops):
    taken = agent.find("volume_groups", vg_with_pv)["pvs"][0]
    other = "swt" + uuid.uuid4().hex[:8]
    assert "already a physical volume" in expect_error(400, "pvs[0]", agent.put, "volume_groups", other,
                                                       {"pvs": [taken]})
    formatted = loops()
    subprocess.run(["mkfs.ext4", "-q", formatted], check=True, capture_output=True)
    assert "ext4 signature" in expect_error(400, "pvs[1]", agent.put, "volume_groups", vg_with_pv,
                                            {"pvs": [taken, formatted]})
    assert other not in vg_names() and formatted not in pv_owners()
    subprocess.run(["wipefs", "-a", "-q", formatted], check=True)


def test_vg_name_is_checked(agent):
    expect_error(400, "name", agent.put, "volume_groups", "-bad", {"pvs": ["/dev/does-not-exist"]})


# -- logical volumes -----------------------------------------------------------
def test_lv_create_is_predicted_applied_then_idempotent(agent, vg_with_pv):
    vg = vg_with_pv
    want = {"size": "20M", "active": False}
    plan = agent.put("volumes", vg + "/data", want, dry_run=True)
    assert plan["changed"] and plan["diff"]["before"] is None
    assert "data" not in lv_sizes(vg), "dry_run must not create the LV"

    done = agent.put("volumes", vg + "/data", want)
    assert done["changed"] and done["resource"] == plan["resource"], "the dry run predicted a different result"
    assert done["resource"] == {"vg": vg, "name": "data", "state": "present", "size_bytes": 20 * MIB,
                                "active": False, "type": "linear", "thin_pool": None}
    assert lv_sizes(vg)["data"] == 20 * MIB
    assert agent.put("volumes", vg + "/data", want)["changed"] is False
    assert agent.find("volumes", vg + "/data") == done["resource"]
    assert agent.find("volume_groups", vg)["lv_count"] == 1
    assert agent.client.get("/v1/volumes", {"vg": vg})["volumes"] == [done["resource"]]


def test_lv_extend_rounds_to_extents_and_shrink_is_refused(agent, vg_with_pv):
    vg = vg_with_pv
    agent.put("volumes", vg + "/data", {"size": "20M", "active": False})
    plan = agent.put("volumes", vg + "/data", {"size": "30M", "active": False}, dry_run=True)
    assert plan["changed"] and lv_sizes(vg)["data"] == 20 * MIB
    done = agent.put("volumes", vg + "/data", {"size": "30M", "active": False})
    assert done["resource"] == plan["resource"]
    assert done["resource"]["size_bytes"] == lv_sizes(vg)["data"] == 32 * MIB  # whole 4 MiB extents
    assert agent.put("volumes", vg + "/data", {"size": "30M", "active": False})["changed"] is False

    message = expect_error(409, "size", agent.put, "volumes", vg + "/data", {"size": "8M", "active": False})
    assert "shrinking" in message and "not supported" in message
    assert lv_sizes(vg)["data"] == 32 * MIB
    expect_error(409, "size", agent.put, "volumes", vg + "/data", {"size": "1T", "active": False})


def test_lv_percent_size_applies_at_creation_only(agent, vg_with_pv):
    vg = vg_with_pv
    plan = agent.put("volumes", vg + "/half", {"size": "50%FREE", "active": False}, dry_run=True)
    done = agent.put("volumes", vg + "/half", {"size": "50%FREE", "active": False})
    assert done["resource"] == plan["resource"] and done["resource"]["size_bytes"] == lv_sizes(vg)["half"]
    # half of what is free now would be less: percentages are not compared afterwards
    assert agent.put("volumes", vg + "/half", {"size": "50%FREE", "active": False})["changed"] is False


def test_lv_absent_is_idempotent(agent, vg_with_pv):
    vg = vg_with_pv
    agent.put("volumes", vg + "/data", {"size": "8M", "active": False})
    res = agent.put("volumes", vg + "/data", {"state": "absent"})
    assert res["changed"] and res["resource"] is None and "data" not in lv_sizes(vg)
    assert agent.put("volumes", vg + "/data", {"state": "absent"})["changed"] is False
    assert agent.find("volumes", vg + "/data") is None


def test_active_volume_needs_device_mapper(agent, vg_with_pv):
    vg = vg_with_pv
    if device_mapper_available():
        res = agent.put("volumes", vg + "/live", {"size": "8M"})
        assert res["changed"] and res["resource"]["active"] is True
    else:
        message = expect_error(422, "active", agent.put, "volumes", vg + "/live", {"size": "8M"})
        assert "device-mapper is not available" in message
        assert "live" not in lv_sizes(vg)
        expect_error(422, "type", agent.put, "volumes", vg + "/pool",
                     {"size": "8M", "active": False, "type": "thin-pool"})


@pytest.mark.parametrize("ident_suffix, body, status, field, words", [
    ("/data", {"size": "12 parsecs", "active": False}, 400, "size", "is not a size"),
    ("/data", {"size": "0M", "active": False}, 400, "size", "larger than 0"),
    ("/data", {"size": "150%VG", "active": False}, 400, "size", "between 1 and 100"),
    ("/data", {"active": False}, 400, "size", "is required"),
    ("/data", {"sise": "8M", "active": False}, 400, "sise", "did you mean 'size'"),
    ("/data_tmeta", {"size": "8M", "active": False}, 400, "name", "reserved"),
])
def test_lv_bad_input_names_the_field_and_changes_nothing(agent, vg_with_pv, ident_suffix, body, status, field,
                                                          words):
    assert words in expect_error(status, field, agent.put, "volumes", vg_with_pv + ident_suffix, body)
    assert lv_sizes(vg_with_pv) == {}


def test_lv_on_a_missing_vg_or_thin_pool(agent, vg_with_pv):
    assert "does not exist" in expect_error(400, "vg", agent.put, "volumes", "swt-no-such-vg/data",
                                            {"size": "8M", "active": False})
    if device_mapper_available():
        expect_error(400, "thin_pool", agent.put, "volumes", vg_with_pv + "/thin",
                     {"size": "8M", "thin_pool": "nopool"})


def test_lv_path_needs_vg_and_name(agent):
    expect_error(400, "path", agent.client.get, "/v1/volumes/a/b/c")


def test_change_is_journaled(agent, vg_with_pv):
    ident = vg_with_pv + "/data"
    agent.put("volumes", ident, {"size": "8M", "active": False})
    entries = [e for e in agent.client.get("/v1/journal")["entries"] if e["resource"] == ident]
    assert [e["phase"] for e in entries] == ["started", "completed"]
    assert entries[0]["op"] == entries[1]["op"] and entries[1]["after"]["size_bytes"] == 8 * MIB
