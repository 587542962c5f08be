# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of plugins/module_utils/openstack_api.py's API_ARGUMENT_SPEC.
    DOCUMENTATION = r"""
options:
  auth:
    description: The admin's credentials (Keystone v3, domain Default).
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
    description: Which endpoints of the catalog to talk to once logged in.
    type: str
    choices: [public, internal, admin]
    default: internal
requirements:
  - openstacksdk on the host that runs it
attributes:
  check_mode:
    support: full
    description: Reads the cloud and reports what it would do (C(actions)), walking the same code as a real run.
  diff_mode:
    support: full
    description: Returns what the module manages before and after (secrets left out).
notes:
  - Bad credentials, an unreachable Keystone and bad input fail naming the option at fault.
"""
