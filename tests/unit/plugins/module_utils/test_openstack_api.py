"""The base of the OpenStack API modules (plugins/module_utils/openstack_api.py), through
the smallest module written on it - a Keystone role, present or absent, one function per
state - run as Ansible runs it, with the real openstacksdk, against the Keystone stand-in
(see openstack_standin: no Keystone in the unit tests)."""

import socket
import textwrap

import pytest

from unit.plugins.module_utils.openstack_standin import run_module, standin_fixture

standin = standin_fixture()

ROLE_MODULE = textwrap.dedent('''
    from ansible_collections.stackwright.cloud.plugins.module_utils.openstack_api import OpenStackApiModule


    class Role(OpenStackApiModule):
        argument_spec = dict(name=dict(type="str", required=True),
                             state=dict(type="str", choices=["present", "absent"], default="present"))

        def run(self):
            self.role = self.conn.identity.find_role(self.params["name"])
            self.before["role"] = None if self.role is None else self.params["name"]
            super(Role, self).run()

        def state_present(self):
            if self.role is None and self.act("create role %s" % self.params["name"]):
                self.conn.identity.create_role(name=self.params["name"])
            self.after["role"] = self.params["name"]

        def state_absent(self):
            if self.role is not None and self.act("delete role %s" % self.params["name"]):
                self.conn.identity.delete_role(self.role)
            self.after["role"] = None


    if __name__ == "__main__":
        Role().execute()
''')


@pytest.fixture
def role_module(tmp_path):
    path = tmp_path / "role.py"
    path.write_text(ROLE_MODULE)
    return str(path)


def run(module, server, check=False, diff=False, **over):
    return run_module(module, dict(dict(auth=dict(auth_url=server.url, password="secret"), name="observer"), **over),
                      check=check, diff=diff)


def role_names(cloud):
    return sorted(r["name"] for r in cloud.roles.values())


def test_each_state_is_a_function_check_mode_predicts_and_a_rerun_changes_nothing(role_module, standin):
    cloud = standin.cloud
    predicted = run(role_module, standin, check=True, diff=True)
    assert predicted["changed"] and predicted["actions"] == ["create role observer"]
    assert predicted["diff"] == dict(before=dict(role=None), after=dict(role="observer"))
    assert "observer" not in role_names(cloud) and cloud.changes() == [("POST", "/v3/auth/tokens")]

    done = run(role_module, standin, diff=True)
    assert done["actions"] == predicted["actions"] and done["diff"] == predicted["diff"]
    assert "observer" in role_names(cloud)
    again = run(role_module, standin)
    assert not again["changed"] and again["actions"] == [] and "diff" not in again  # no diff unless asked

    gone = run(role_module, standin, state="absent")
    assert gone["actions"] == ["delete role observer"] and "observer" not in role_names(cloud)
    assert not run(role_module, standin, state="absent")["changed"]


def test_refused_credentials_fail_naming_auth(role_module, standin):
    result = run(role_module, standin, auth=dict(auth_url=standin.url, password="wrong"))
    assert result["failed"] and result["msg"] == (
        "auth: Keystone at %s refused user admin in project admin (auth.username, auth.password)" % standin.url)
    assert "wrong" not in repr(result)


def test_an_unreachable_keystone_fails_naming_auth_url(role_module, standin):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % sock.getsockname()[1]
    result = run(role_module, standin, auth=dict(auth_url=url, password="secret"))
    assert result["failed"] and result["msg"].startswith("auth.auth_url: cannot reach Keystone at %s" % url)


def test_a_region_without_the_endpoint_fails_naming_region(role_module, standin):
    result = run(role_module, standin, region="Elsewhere")
    assert result["failed"] and result["msg"].startswith("region: "), result["msg"]
    assert "Elsewhere" in result["msg"]


def test_bad_input_fails_naming_the_field_before_any_request(role_module, standin):
    for over, msg in [(dict(auth=dict(auth_url="ftp://x", password="secret")), "auth.auth_url: 'ftp://x' is not an"),
                      (dict(auth=dict(auth_url=standin.url, password="secret", username="")),
                       "auth.username: must not"),
                      (dict(region=""), "region: must not be empty")]:
        result = run(role_module, standin, **over)
        assert result["failed"] and result["msg"].startswith(msg), result["msg"]
    # the argument spec's own checks come first, naming the option too
    result = run(role_module, standin, interface="private")
    assert result["failed"] and "interface" in result["msg"]
    assert standin.cloud.calls == []
