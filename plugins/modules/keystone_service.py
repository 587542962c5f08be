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
  - The catalog entry (O(name), O(type), O(description)) and its public, internal and admin endpoints in O(region).
  - Optionally the service's user, with its password (checked by logging in as the user, so a rotated password is
    set and an unchanged one is not touched), in a project (created when missing) with a role.
  - Check mode predicts the change without making it.
requirements:
  - openstacksdk on the host that runs it
options:
  auth:
    description: Admin credentials (Keystone v3, domain Default).
    type: dict
    required: true
    suboptions:
      auth_url:
        description: Keystone URL, without C(/v3).
        type: str
        required: true
      username:
        description: Admin user.
        type: str
        default: admin
      password:
        description: Admin password.
        type: str
        required: true
      project_name:
        description: Admin project.
        type: str
        default: admin
  region:
    description: Region of the endpoints.
    type: str
    default: RegionOne
  interface:
    description: Which of Keystone's own endpoints to talk to once logged in.
    type: str
    choices: [public, internal, admin]
    default: internal
  name:
    description: Service name (C(nova), C(glance), ...).
    type: str
    required: true
  type:
    description: Service type (C(compute), C(image), ...).
    type: str
    required: true
  description:
    description: Human description of the service.
    type: str
    default: ""
  endpoints:
    description: URL per interface; interfaces left out are not managed.
    type: dict
    required: true
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
attributes:
  check_mode:
    support: full
    description: Reads Keystone and reports what it would create or correct.
  diff_mode:
    support: none
    description: The C(actions) list says what changed.
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
  description: ID of the catalog entry; null in check mode when it would be created.
  returned: always
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import openstack
    from keystoneauth1 import exceptions as ks_exceptions
    SDK_ERROR = None
except ImportError:
    SDK_ERROR = traceback.format_exc()

DOMAIN = "default"


def user_password_works(auth_url, name, password, project):
    """Log in as the user: the only way to compare a password Keystone stores hashed."""
    try:
        conn = openstack.connect(auth=dict(auth_url=auth_url, username=name, password=password, project_name=project,
                                           user_domain_id=DOMAIN, project_domain_id=DOMAIN),
                                 load_yaml_config=False, load_envvars=False)
        conn.authorize()
        return True
    except ks_exceptions.Unauthorized:
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            auth=dict(type="dict", required=True, options=dict(
                auth_url=dict(type="str", required=True),
                username=dict(type="str", default="admin"),
                password=dict(type="str", required=True, no_log=True),
                project_name=dict(type="str", default="admin"),
            )),
            region=dict(type="str", default="RegionOne"),
            interface=dict(type="str", choices=["public", "internal", "admin"], default="internal"),
            name=dict(type="str", required=True),
            type=dict(type="str", required=True),
            description=dict(type="str", default=""),
            endpoints=dict(type="dict", required=True, options=dict(
                public=dict(type="str"), internal=dict(type="str"), admin=dict(type="str"))),
            user=dict(type="dict", options=dict(
                name=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
                project=dict(type="str", default="service"),
                role=dict(type="str", default="admin"),
            )),
        ),
        supports_check_mode=True,
    )
    if SDK_ERROR:
        module.fail_json(msg=missing_required_lib("openstacksdk"), exception=SDK_ERROR)
    p = module.params
    auth = dict(p["auth"], user_domain_id=DOMAIN, project_domain_id=DOMAIN)
    actions = []
    check = module.check_mode

    def act(what):
        actions.append(what)
        return not check

    try:
        conn = openstack.connect(auth=auth, region_name=p["region"], interface=p["interface"],
                                 load_yaml_config=False, load_envvars=False)
        ident = conn.identity

        service = next((s for s in ident.services() if s.name == p["name"] and s.type == p["type"]), None)
        if service is None:
            if act("create service %s (%s)" % (p["name"], p["type"])):
                service = ident.create_service(name=p["name"], type=p["type"], description=p["description"],
                                               is_enabled=True)
        elif (service.description or "") != p["description"] or not service.is_enabled:
            if act("update service %s" % p["name"]):
                service = ident.update_service(service, description=p["description"], is_enabled=True)

        for interface in ("public", "internal", "admin"):
            url = p["endpoints"].get(interface)
            if not url:
                continue
            found = [] if service is None else [
                e for e in ident.endpoints(service_id=service.id, interface=interface)
                if e.region_id == p["region"]]
            if not found:
                if act("create %s endpoint %s" % (interface, url)):
                    ident.create_endpoint(service_id=service.id, interface=interface, url=url,
                                          region_id=p["region"], is_enabled=True)
                continue
            if found[0].url != url or not found[0].is_enabled:
                if act("update %s endpoint %s" % (interface, url)):
                    ident.update_endpoint(found[0], url=url, is_enabled=True)
            for extra in found[1:]:  # duplicates make clients pick one at random
                if act("delete duplicate %s endpoint %s" % (interface, extra.url)):
                    ident.delete_endpoint(extra)

        u = p["user"]
        if u:
            project = ident.find_project(u["project"], domain_id=DOMAIN)
            if project is None and act("create project %s" % u["project"]):
                project = ident.create_project(name=u["project"], domain_id=DOMAIN,
                                               description="Service users")
            role = ident.find_role(u["role"])
            if role is None:
                module.fail_json(msg="role %s does not exist in Keystone" % u["role"], actions=actions)
            user = ident.find_user(u["name"], domain_id=DOMAIN)
            if user is None:
                if act("create user %s" % u["name"]):
                    user = ident.create_user(name=u["name"], password=u["password"], domain_id=DOMAIN,
                                             default_project_id=project.id, is_enabled=True)
            else:
                if not user.is_enabled and act("enable user %s" % u["name"]):
                    ident.update_user(user, is_enabled=True)
            granted = user is not None and project is not None and any(
                True for _ in ident.role_assignments(user_id=user.id, scope_project_id=project.id, role_id=role.id))
            if not granted and act("grant %s on %s to %s" % (u["role"], u["project"], u["name"])):
                ident.assign_project_role_to_user(project, user, role)
            # After the grant: a user without a role on the project cannot log in to it.
            if user is not None and granted and not user_password_works(
                    p["auth"]["auth_url"], u["name"], u["password"], u["project"]):
                if act("set the password of %s" % u["name"]):
                    ident.update_user(user, password=u["password"])
    except openstack.exceptions.SDKException as e:
        module.fail_json(msg="keystone: %s" % e, actions=actions)
    except ks_exceptions.ClientException as e:
        module.fail_json(msg="keystone at %s: %s" % (p["auth"]["auth_url"], e), actions=actions)

    module.exit_json(changed=bool(actions), actions=actions, service_id=service.id if service is not None else None)


if __name__ == "__main__":
    main()
