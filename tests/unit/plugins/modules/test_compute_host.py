"""compute_host takes a compute host out of the overcloud (drained, absent) or puts it
back (enabled): run as Ansible runs it, with the real openstacksdk, against the Nova,
Placement and Neutron stand-in (see openstack_standin: no cloud in the unit tests; the
Molecule overcloud scenario's scale-in runs it against the real services)."""

import os

from fixtures import ROOT
from unit.plugins.module_utils.openstack_standin import run_module, standin_fixture

MODULE = os.path.join(ROOT, "plugins", "modules", "compute_host.py")
standin = standin_fixture()


def run(server, state, check=False, diff=True, host="cmp0", **over):
    return run_module(MODULE, dict(auth=dict(auth_url=server.url, password="secret"), host=host, state=state, **over),
                      check=check, diff=diff)


def test_drain_disables_and_moves_the_instances_check_mode_first(standin):
    cloud = standin.cloud
    cmp0 = cloud.add_compute_host("cmp0")
    cloud.add_compute_host("cmp1")
    running, stopped = cloud.add_server("web", "cmp0"), cloud.add_server("db", "cmp0", status="SHUTOFF")

    predicted = run(standin, "drained", check=True)
    assert cloud.changes() == [("POST", "/v3/auth/tokens")]
    assert cmp0["status"] == "enabled" and running["host"] == stopped["host"] == "cmp0"
    done = run(standin, "drained")
    assert done["actions"] == predicted["actions"] == [
        "disable nova-compute on cmp0 (scale-in)", "live-migrate web (%s)" % running["id"],
        "migrate db (%s), shut off" % stopped["id"]]
    assert done["diff"] == predicted["diff"]
    assert done["diff"]["after"]["service"]["status"] == "disabled" and done["diff"]["after"]["instances"] == []
    assert [i["name"] for i in done["instances"]] == ["web", "db"]
    assert (cmp0["status"], cmp0["disabled_reason"]) == ("disabled", "scale-in")
    # the cold migration was confirmed by the module
    assert (running["host"], stopped["host"], stopped["status"]) == ("cmp1", "cmp1", "SHUTOFF")

    again = run(standin, "drained")
    assert not again["changed"] and again["instances"] == []


def test_a_drain_with_nowhere_to_go_fails_naming_the_instances_in_check_mode_too(standin):
    cloud = standin.cloud
    cloud.add_compute_host("cmp0")
    web = cloud.add_server("web", "cmp0")
    for check in (True, False):
        result = run(standin, "drained", check=check)
        assert result["failed"] and "cmp0 still hosts 1 instance(s): web (%s, ACTIVE)" % web["id"] in result["msg"]
        assert "No other enabled compute host is up" in result["msg"]
    assert web["host"] == "cmp0"
    # force: predicted, then done
    predicted = run(standin, "drained", check=True, force=True)
    assert "web" in cloud.servers[web["id"]]["name"]
    done = run(standin, "drained", force=True)
    assert done["actions"] == predicted["actions"] == [
        "delete instance web (%s, ACTIVE): forced" % web["id"]]  # the service: disabled by the failed runs
    assert cloud.servers == {}


def test_absent_deletes_the_records_and_check_mode_counts_on_nova_for_the_provider(standin):
    cloud = standin.cloud
    cloud.add_compute_host("cmp0", status="disabled", disabled_reason="scale-in", hypervisor="cmp0.example")
    cloud.add_compute_host("cmp1")
    agent = cloud.add_agent("cmp0")
    predicted = run(standin, "absent", check=True)
    assert cloud.changes() == [("POST", "/v3/auth/tokens")] and len(cloud.providers) == 2
    done = run(standin, "absent")
    assert done["actions"] == predicted["actions"] == [
        "delete the nova-compute service of cmp0", "delete network agent OVN Controller agent (%s)" % agent["id"]]
    assert done["diff"]["before"]["resource_providers"] == ["cmp0.example"]
    assert done["diff"]["after"] == dict(service=None, instances=[], resource_providers=[], network_agents=[])
    assert [s["host"] for s in cloud.compute_services.values()] == ["cmp1"]
    assert [rp["name"] for rp in cloud.providers.values()] == ["cmp1"] and cloud.agents == {}
    assert not run(standin, "absent")["changed"]


def test_absent_deletes_a_provider_nova_left_behind(standin):
    cloud = standin.cloud
    cloud.nova_deletes_providers = False
    cloud.add_compute_host("cmp0")
    (rp,) = cloud.providers.values()
    done = run(standin, "absent")
    assert done["actions"] == ["delete the nova-compute service of cmp0",
                               "delete resource provider cmp0 (%s)" % rp["uuid"]]
    assert cloud.providers == {}
    assert not run(standin, "absent")["changed"]


def test_absent_refuses_a_host_with_instances(standin):
    cloud = standin.cloud
    cloud.add_compute_host("cmp0")
    web = cloud.add_server("web", "cmp0")
    result = run(standin, "absent")
    assert result["failed"] and result["msg"] == "cmp0 still hosts instance(s) %s: drain it first (state=drained)" % (
        web["id"])
    assert cloud.changes() == [("POST", "/v3/auth/tokens")]


def test_enabled_undoes_only_a_disable_with_the_reason(standin):
    cloud = standin.cloud
    ours = cloud.add_compute_host("cmp0", status="disabled", disabled_reason="scale-in")
    theirs = cloud.add_compute_host("cmp1", status="disabled", disabled_reason="hardware check")
    predicted = run(standin, "enabled", check=True)
    assert ours["status"] == "disabled"
    done = run(standin, "enabled")
    assert done["actions"] == predicted["actions"] == ["enable nova-compute on cmp0 (disabled: scale-in)"]
    assert done["diff"]["after"]["service"]["status"] == "enabled" and ours["status"] == "enabled"
    assert not run(standin, "enabled")["changed"]
    for host in ("cmp1", "unknown"):  # an operator's own disable; a host Nova does not know
        assert not run(standin, "enabled", host=host)["changed"]
    assert theirs["status"] == "disabled"


def test_disabled_keeps_the_scheduler_off_and_an_operators_reason(standin):
    cloud = standin.cloud
    up = cloud.add_compute_host("cmp0")
    theirs = cloud.add_compute_host("cmp1", status="disabled", disabled_reason="hardware check")
    predicted = run(standin, "disabled", check=True, reason="set aside")
    assert up["status"] == "enabled"
    done = run(standin, "disabled", reason="set aside")
    assert done["actions"] == predicted["actions"] == ["disable nova-compute on cmp0 (set aside)"]
    assert (up["status"], up["disabled_reason"]) == ("disabled", "set aside")
    assert not run(standin, "disabled", reason="set aside")["changed"]
    for host in ("cmp1", "unknown"):  # already disabled, whatever the reason; a host Nova does not know
        assert not run(standin, "disabled", host=host, reason="set aside")["changed"]
    assert theirs["disabled_reason"] == "hardware check"


def test_bad_input_fails_naming_the_field_and_asks_nothing(standin):
    cases = [(dict(state="drained", host=""), "host: must not be empty"),
             (dict(state="drained", timeout=0), "timeout: must be a positive number of seconds"),
             (dict(state="enabled", reason=" "), "reason: must not be empty")]
    for over, msg in cases:
        result = run_module(MODULE, dict(dict(auth=dict(auth_url=standin.url, password="secret"), host="cmp0"), **over))
        assert result.get("failed") and result["msg"].startswith(msg), (over, result["msg"])
    assert standin.cloud.calls == []
