#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: keystone_service
short_description: Register an OpenStack service in Keystone - catalog entry, endpoints and service user
version_added: 0.1.0
description:
  - In one call, what a service needs from Keystone; each part is created when missing and corrected when it differs,
    so a second run reports no change.
  - The catalog entry (O(name), O(type), O(description)) and its public, internal and admin endpoints in O(region);
    without O(type) and O(endpoints), none (a service that has no API, such as Ceilometer's agents, needs its user only).
  - Optionally the service's user, with its password (checked by logging in as the user, so a rotated password is
    set and an unchanged one is not touched), in a project (created when missing) with a role.
  - Check mode predicts the change without making it (the user's password included, checked by logging in unscoped,
    which needs no role), and C(--diff) shows the catalog entry, endpoints and user before and after,
    never the password.
  - A role that does not exist fails before anything is changed.
options:
  name:
    description: Service name (C(nova), C(glance), ...).
    type: str
    required: true
  type:
    description: Service type (C(compute), C(image), ...); with O(endpoints), or neither for the user alone.
    type: str
  description:
    description: Human description of the service.
    type: str
    default: ""
  endpoints:
    description: URL per interface; interfaces left out are not managed. With O(type), or neither for the user alone.
    type: dict
    suboptions:
      public:
        description: Public URL.
        type: str
      internal:
        description: Internal URL.
        type: str
      admin:
        description: Admin URL.
        type: str
  user:
    description: The service's own user; unset manages none.
    type: dict
    suboptions:
      name:
        description: User name.
        type: str
        required: true
      password:
        description: User password.
        type: str
        required: true
      project:
        description: Project the user gets O(user.role) in.
        type: str
        default: service
      role:
        description: Role in the project.
        type: str
        default: admin
extends_documentation_fragment:
  - stackwright.cloud.openstack_api
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Register Glance
  stackwright.cloud.keystone_service:
    auth:
      auth_url: http://172.16.2.10:5000
      password: "{{ overcloud_secrets.keystone_admin_password }}"
    name: glance
    type: image
    description: OpenStack Image
    endpoints:
      public: http://192.168.24.50:9292
      internal: http://172.16.2.10:9292
      admin: http://172.16.2.10:9292
    user:
      name: glance
      password: "{{ overcloud_secrets.glance_keystone_password }}"
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
  sample: ["create service glance (image)", "create public endpoint", "create user glance", "grant admin on service"]
service_id:
  description: ID of the catalog entry; null in check mode when it would be created, and without O(type).
  returned: always
  type: str
"""

from ansible_collections.stackwright.cloud.plugins.module_utils.openstack_api import DOMAIN, OpenStackApiModule

INTERFACES = ("public", "internal", "admin")


def service_view(service):
    if service is None:
        return None
    return dict(name=service.name, type=service.type, description=service.description or "",
                enabled=bool(service.is_enabled))


class KeystoneService(OpenStackApiModule):
    argument_spec = dict(
        name=dict(type="str", required=True),
        type=dict(type="str"),
        description=dict(type="str", default=""),
        endpoints=dict(type="dict", options=dict(
            public=dict(type="str"), internal=dict(type="str"), admin=dict(type="str"))),
        user=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            project=dict(type="str", default="service"),
            role=dict(type="str", default="admin"),
        )),
    )

    def validate(self):
        super(KeystoneService, self).validate()
        self.check_not_empty("name", self.params["name"])
        if (self.params["type"] is None) != (self.params["endpoints"] is None):
            self.fail("type and endpoints go together: give both for a catalog entry, neither for the user alone",
                      "type" if self.params["type"] is None else "endpoints")
        if self.params["type"] is None and not self.params["user"]:
            self.fail("nothing to register: give type and endpoints, or user", "user")
        if self.params["type"] is not None:
            self.check_not_empty("type", self.params["type"])
        for interface in INTERFACES:
            url = (self.params["endpoints"] or {}).get(interface)
            if url is not None:
                self.check_url("endpoints.%s" % interface, url)
        for key in ("name", "password", "project", "role"):
            if self.params["user"]:
                self.check_not_empty("user.%s" % key, self.params["user"][key])

    def describe_sdk_error(self, exc):
        return "keystone: %s" % exc

    def run(self):
        self.ident = self.conn.identity
        role = None
        if self.params["user"]:
            # looked up first: a wrong role name fails before anything is changed
            role = self.ident.find_role(self.params["user"]["role"])
            if role is None:
                self.fail("role %s does not exist in Keystone" % self.params["user"]["role"], "user.role")
        service = None
        if self.params["type"] is not None:
            service = self.converge_service()
            self.converge_endpoints(service)
        self.result["service_id"] = service.id if service is not None else None
        if role is not None:
            self.converge_user(role)

    # -- the parts --------------------------------------------------------------------
    def converge_service(self):
        p = self.params
        service = next((s for s in self.ident.services() if s.name == p["name"] and s.type == p["type"]), None)
        self.before["service"] = service_view(service)
        self.after["service"] = dict(name=p["name"], type=p["type"], description=p["description"], enabled=True)
        if service is None:
            if self.act("create service %s (%s)" % (p["name"], p["type"])):
                service = self.ident.create_service(name=p["name"], type=p["type"], description=p["description"],
                                                    is_enabled=True)
        elif service_view(service) != self.after["service"]:
            if self.act("update service %s" % p["name"]):
                service = self.ident.update_service(service, description=p["description"], is_enabled=True)
        return service

    def converge_endpoints(self, service):
        region = self.params["region"]
        self.before["endpoints"], self.after["endpoints"] = {}, {}
        for interface in INTERFACES:
            url = self.params["endpoints"].get(interface)
            if not url:  # not managed
                continue
            found = [] if service is None else [
                e for e in self.ident.endpoints(service_id=service.id, interface=interface) if e.region_id == region]
            self.before["endpoints"][interface] = [dict(url=e.url, enabled=bool(e.is_enabled)) for e in found]
            self.after["endpoints"][interface] = [dict(url=url, enabled=True)]
            if not found:
                if self.act("create %s endpoint %s" % (interface, url)):
                    self.ident.create_endpoint(service_id=service.id, interface=interface, url=url,
                                               region_id=region, is_enabled=True)
                continue
            if found[0].url != url or not found[0].is_enabled:
                if self.act("update %s endpoint %s" % (interface, url)):
                    self.ident.update_endpoint(found[0], url=url, is_enabled=True)
            for extra in found[1:]:  # duplicates make clients pick one at random
                if self.act("delete duplicate %s endpoint %s" % (interface, extra.url)):
                    self.ident.delete_endpoint(extra)

    def converge_user(self, role):
        u = self.params["user"]
        project = self.ident.find_project(u["project"], domain_id=DOMAIN)
        user = self.ident.find_user(u["name"], domain_id=DOMAIN)
        granted = user is not None and project is not None and any(
            True for _ in self.ident.role_assignments(user_id=user.id, scope_project_id=project.id, role_id=role.id))
        # unscoped: the check needs no role, so it holds before the grant and in check mode; a
        # disabled user cannot log in, and gets the password with its enabling
        enabled = user is not None and bool(user.is_enabled)
        password_ok = enabled and self.can_log_in(u["name"], u["password"])
        self.before["user"] = None if user is None else dict(
            name=u["name"], enabled=enabled, project=u["project"] if project is not None else None,
            roles=[u["role"]] if granted else [], password="as given" if password_ok else "other")
        self.after["user"] = dict(name=u["name"], enabled=True, project=u["project"], roles=[u["role"]],
                                  password="as given")

        if project is None and self.act("create project %s" % u["project"]):
            project = self.ident.create_project(name=u["project"], domain_id=DOMAIN, description="Service users")
        if user is None:
            if self.act("create user %s" % u["name"]):
                user = self.ident.create_user(name=u["name"], password=u["password"], domain_id=DOMAIN,
                                              default_project_id=project.id, is_enabled=True)
        else:
            if not enabled:
                if self.act("enable user %s and set its password" % u["name"]):
                    self.ident.update_user(user, is_enabled=True, password=u["password"])
            elif not password_ok and self.act("set the password of %s" % u["name"]):
                self.ident.update_user(user, password=u["password"])
        if not granted and self.act("grant %s on %s to %s" % (u["role"], u["project"], u["name"])):
            self.ident.assign_project_role_to_user(project, user, role)


def main():
    KeystoneService().execute()


if __name__ == "__main__":
    main()
