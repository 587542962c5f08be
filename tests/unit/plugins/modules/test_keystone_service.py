"""keystone_service registers a service in Keystone in one call: run as Ansible runs
it, with the real openstacksdk, against the Keystone stand-in (see openstack_standin:
there is no Keystone in the unit tests; the Molecule overcloud scenario has a real one)."""

import os

from fixtures import ROOT
from unit.plugins.module_utils.openstack_standin import run_module, standin_fixture

MODULE = os.path.join(ROOT, "plugins", "modules", "keystone_service.py")
standin = standin_fixture()


def args(server, **over):
    a = dict(auth=dict(auth_url=server.url, password="secret"), name="glance", type="image",
             description="OpenStack Image",
             endpoints=dict(public="http://192.0.2.50:9292", internal="http://172.16.2.10:9292",
                            admin="http://172.16.2.10:9292"),
             user=dict(name="glance", password="glance-pw"))
    a.update(over)
    return a


def run(server, check=False, diff=True, **over):
    return run_module(MODULE, args(server, **over), check=check, diff=diff)


def test_check_mode_predicts_the_real_run_and_changes_nothing(standin):
    cloud = standin.cloud
    predicted = run(standin, check=True)
    assert predicted["changed"] and not predicted.get("failed")
    assert cloud.changes() == [("POST", "/v3/auth/tokens")]  # the login alone
    assert cloud.services == {} and cloud.user_named("glance") is None
    assert predicted["service_id"] is None  # would be created

    done = run(standin)
    assert done["actions"] == predicted["actions"] == [
        "create service glance (image)", "create public endpoint http://192.0.2.50:9292",
        "create internal endpoint http://172.16.2.10:9292", "create admin endpoint http://172.16.2.10:9292",
        "create project service", "create user glance", "grant admin on service to glance"]
    assert done["diff"] == predicted["diff"]
    assert done["diff"]["before"] == dict(service=None, endpoints=dict(public=[], internal=[], admin=[]), user=None)
    assert done["diff"]["after"]["user"] == dict(name="glance", enabled=True, project="service", roles=["admin"],
                                                 password="as given")
    (service,) = cloud.services.values()
    assert done["service_id"] == service["id"]
    assert sorted((e["interface"], e["url"]) for e in cloud.endpoints.values()) == [
        ("admin", "http://172.16.2.10:9292"), ("internal", "http://172.16.2.10:9292"),
        ("public", "http://192.0.2.50:9292")]
    assert cloud.passwords[cloud.user_named("glance")["id"]] == "glance-pw"

    # a second run, and its check, change nothing
    for check in (True, False):
        again = run(standin, check=check)
        assert not again["changed"] and again["actions"] == []
        assert again["diff"]["before"] == again["diff"]["after"] == done["diff"]["after"]


def test_drift_is_put_back_and_check_mode_sees_it_first(standin):
    cloud = standin.cloud
    run(standin)
    (service,) = cloud.services.values()
    service.update(enabled=False)
    public = next(e for e in cloud.endpoints.values() if e["interface"] == "public")
    public["url"] = "http://192.0.2.99:9292"
    cloud.add("endpoints", service_id=service["id"], interface="internal", url="http://old:9292",
              region_id="RegionOne", enabled=True)
    user = cloud.user_named("glance")
    cloud.passwords[user["id"]] = "rotated-away"
    before = dict(cloud.passwords), len(cloud.endpoints)

    predicted = run(standin, check=True)
    assert (dict(cloud.passwords), len(cloud.endpoints)) == before and not service["enabled"]
    done = run(standin)
    assert done["actions"] == predicted["actions"] == [
        "update service glance", "update public endpoint http://192.0.2.50:9292",
        "delete duplicate internal endpoint http://old:9292", "set the password of glance"]
    assert done["diff"]["before"]["user"]["password"] == "other"
    assert service["enabled"] and public["url"] == "http://192.0.2.50:9292"
    assert cloud.passwords[user["id"]] == "glance-pw" and len(cloud.endpoints) == 3
    assert not run(standin)["changed"]


def test_a_disabled_user_is_enabled_with_its_password(standin):
    cloud = standin.cloud
    run(standin)
    user = cloud.user_named("glance")
    user["enabled"] = False
    cloud.passwords[user["id"]] = "unknown"
    done = run(standin)
    assert done["actions"] == ["enable user glance and set its password"]
    assert user["enabled"] and cloud.passwords[user["id"]] == "glance-pw"
    assert not run(standin)["changed"]


def test_a_lost_grant_is_given_back_and_the_password_left_alone(standin):
    # the password check asks for an unscoped token: left to Keystone, the token would be
    # scoped to the user's default project, where the user has no role any more
    cloud = standin.cloud
    run(standin)
    cloud.assignments = {a for a in cloud.assignments if a[0] != cloud.user_named("glance")["id"]}
    predicted = run(standin, check=True)
    done = run(standin)
    assert done["actions"] == predicted["actions"] == ["grant admin on service to glance"]
    assert done["diff"]["before"]["user"]["password"] == "as given"
    assert not run(standin)["changed"]


def test_the_password_never_leaves_the_module(standin):
    result = run(standin, check=False, diff=True)
    assert "glance-pw" not in repr(result) and "secret" not in repr(result)


def test_an_unknown_role_fails_naming_it_before_any_change(standin):
    result = run(standin, user=dict(name="glance", password="pw", role="no-such-role"))
    assert result["failed"] and result["msg"].startswith("user.role: role no-such-role does not exist")
    assert standin.cloud.changes() == [("POST", "/v3/auth/tokens")]


def test_bad_input_fails_naming_the_field_and_asks_nothing(standin):
    cases = [
        (dict(endpoints=dict(public="192.0.2.50:9292")), "endpoints.public: '192.0.2.50:9292' is not an http(s) URL"),
        (dict(name=" "), "name: must not be empty"),
        (dict(user=dict(name="glance", password="")), "user.password: must not be empty"),
        (dict(auth=dict(auth_url="keystone:5000", password="secret")), "auth.auth_url: 'keystone:5000' is not"),
        (dict(type=None), "type: type and endpoints go together"),
        (dict(endpoints=None), "endpoints: type and endpoints go together"),
        (dict(type=None, endpoints=None, user=None), "user: nothing to register"),
    ]
    for over, msg in cases:
        result = run(standin, **over)
        assert result.get("failed") and result["msg"].startswith(msg), (over, result["msg"])
    assert standin.cloud.calls == []


def test_without_type_and_endpoints_only_the_user_is_made(standin):
    """A service with no API (Ceilometer's agents) has a user and no catalog entry."""
    cloud = standin.cloud
    done = run(standin, name="ceilometer", type=None, endpoints=None, user=dict(name="ceilometer", password="c-pw"))
    assert done["changed"] and done["service_id"] is None
    assert done["actions"] == ["create project service", "create user ceilometer", "grant admin on service to ceilometer"]
    assert cloud.services == {} and cloud.endpoints == {}
    assert cloud.passwords[cloud.user_named("ceilometer")["id"]] == "c-pw"
    again = run(standin, name="ceilometer", type=None, endpoints=None, user=dict(name="ceilometer", password="c-pw"))
    assert not again["changed"] and again["actions"] == []
