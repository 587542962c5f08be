# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The base of the modules that talk to the overcloud's OpenStack APIs.

A module declares its own options and writes what it manages as small functions; the
base gives it the rest, the same way in every module:
- the connection: openstacksdk from the ``auth`` dict, ``region`` and ``interface``
  (the options of the ``stackwright.cloud.openstack_api`` doc fragment), logged in
  once up front so that bad credentials or an unreachable Keystone fail naming the
  option at fault;
- one way to change something, ``act(what)``: it records the action and answers whether
  to do it, so that check mode walks the same code as a real run and predicts instead of
  stopping early;
- ``before``/``after`` dicts the module fills, returned as the diff;
- errors that name the field (``fail(msg, field)``, ``check_url``, ``check_not_empty``);
- a module with a ``state`` option runs ``state_<value>()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.six.moves.urllib.parse import urlparse

try:
    import openstack
    from keystoneauth1 import exceptions as ks_exceptions
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3 as ks_v3
    SDK_ERROR = None
except ImportError:
    SDK_ERROR = traceback.format_exc()

# The overcloud's users and projects all live in Keystone's default domain.
DOMAIN = "default"

API_ARGUMENT_SPEC = dict(
    auth=dict(type="dict", required=True, options=dict(
        auth_url=dict(type="str", required=True),
        username=dict(type="str", default="admin"),
        password=dict(type="str", required=True, no_log=True),
        project_name=dict(type="str", default="admin"),
    )),
    region=dict(type="str", default="RegionOne"),
    interface=dict(type="str", choices=["public", "internal", "admin"], default="internal"),
)


class ApiError(Exception):
    """A failure to report as it is, naming the field at fault when there is one."""

    def __init__(self, msg, field=None):
        super(ApiError, self).__init__(msg)
        self.field = field


class OpenStackApiModule(object):
    """Subclasses set ``argument_spec`` (their own options) and write ``run()`` or, with
    a ``state`` option, one ``state_<value>()`` per choice; ``validate()`` checks the
    input before anything is asked of the cloud."""

    argument_spec = {}
    module_kwargs = {}
    state_param = "state"

    def __init__(self):
        spec = dict(API_ARGUMENT_SPEC)
        spec.update(self.argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **self.module_kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.actions = []
        self.before = {}
        self.after = {}
        # what the module returns besides changed, actions and diff
        self.result = {}
        self.conn = None

    # -- input -----------------------------------------------------------------------
    def fail(self, msg, field=None):
        raise ApiError(msg, field)

    def check_url(self, field, url):
        parsed = urlparse(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.fail("%r is not an http(s) URL" % (url,), field)

    def check_not_empty(self, field, value):
        if not (value or "").strip():
            self.fail("must not be empty", field)

    def validate(self):
        self.check_url("auth.auth_url", self.params["auth"]["auth_url"])
        self.check_not_empty("auth.username", self.params["auth"]["username"])
        self.check_not_empty("auth.project_name", self.params["auth"]["project_name"])
        self.check_not_empty("region", self.params["region"])

    # -- the cloud ------------------------------------------------------------------
    def connect(self):
        """A connection as the admin of ``auth``, logged in at once."""
        a = self.params["auth"]
        auth = dict(auth_url=a["auth_url"], username=a["username"], password=a["password"],
                    project_name=a["project_name"], user_domain_id=DOMAIN, project_domain_id=DOMAIN)
        conn = openstack.connect(auth=auth, region_name=self.params["region"], interface=self.params["interface"],
                                 load_yaml_config=False, load_envvars=False)
        # not conn.authorize(): it turns keystoneauth's errors (a refused password among them)
        # into a bare SDKException
        conn.session.get_token()
        return conn

    def can_log_in(self, username, password):
        """Whether Keystone takes this password: the only way to compare one it stores hashed.
        Asks for an unscoped token, and says so: given no scope at all, Keystone scopes the
        token to the user's default project and refuses it while the user has no role there."""
        url = self.params["auth"]["auth_url"].rstrip("/")
        plugin = ks_v3.Password(auth_url=url if url.endswith("/v3") else url + "/v3", username=username,
                                password=password, user_domain_id=DOMAIN, unscoped=True)
        try:
            ks_session.Session(auth=plugin).get_token()
            return True
        except ks_exceptions.Unauthorized:
            return False

    def raise_for(self, response):
        """Raises the SDK's error for a raw API call's failed response."""
        openstack.exceptions.raise_from_response(response)

    # -- changes --------------------------------------------------------------------
    def act(self, what):
        """Records an action; true when it is to be done (not in check mode)."""
        self.actions.append(what)
        return not self.check_mode

    # -- running --------------------------------------------------------------------
    def run(self):
        state = self.params.get(self.state_param)
        handler = getattr(self, "state_%s" % state, None)
        if handler is None:
            raise NotImplementedError("%s: no state_%s()" % (type(self).__name__, state))
        handler()

    def _auth_error(self, exc):
        url = self.params["auth"]["auth_url"]
        if isinstance(exc, ks_exceptions.Unauthorized):
            return ApiError("Keystone at %s refused user %s in project %s (auth.username, auth.password)" % (
                url, self.params["auth"]["username"], self.params["auth"]["project_name"]), "auth")
        if isinstance(exc, (ks_exceptions.ConnectionError, ks_exceptions.DiscoveryFailure)):
            return ApiError("cannot reach Keystone at %s: %s" % (url, exc), "auth.auth_url")
        if isinstance(exc, ks_exceptions.EndpointNotFound):
            return ApiError("no %s endpoint in region %s: %s" % (self.params["interface"], self.params["region"],
                                                                 exc), "region")
        return ApiError("Keystone at %s: %s" % (url, exc))

    def execute(self):
        """The module's entry point: validate, connect, run, then exit with the result."""
        if SDK_ERROR:
            self.module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_ERROR)
        try:
            self.validate()
            try:
                self.conn = self.connect()
                self.run()
            except ks_exceptions.ClientException as exc:
                raise self._auth_error(exc)
            except (openstack.exceptions.ServiceDisabledException, openstack.exceptions.EndpointNotFound) as exc:
                # the catalog has no endpoint of a service for this region and interface
                raise ApiError("no %s endpoint in region %s: %s" % (self.params["interface"], self.params["region"],
                                                                    exc), "region")
            except openstack.exceptions.SDKException as exc:
                raise ApiError(self.describe_sdk_error(exc))
        except ApiError as exc:
            msg = "%s: %s" % (exc.field, exc) if exc.field else str(exc)
            self.module.fail_json(msg=msg, **self._output())
        self.module.exit_json(**self._output())

    def describe_sdk_error(self, exc):
        """The message of an API error; modules prefix what they were working on."""
        return str(exc)

    def _output(self):
        out = dict(self.result, changed=bool(self.actions), actions=self.actions)
        if self.module._diff:
            out["diff"] = dict(before=self.before, after=self.after)
        return out
