# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keystone's projects whose names start with "backup-", as JSON, for side_effect.yml's
backup and restore checks; with NAME, that project is created first.

    projects.py [NAME]    (OS_CLIENT_CONFIG_FILE names the clouds.yaml of cloud "stackwright")

Exits non-zero when Keystone does not answer or refuses the admin.
"""

import json
import sys

import openstack

conn = openstack.connect(cloud="stackwright")
if len(sys.argv) > 1 and conn.identity.find_project(sys.argv[1]) is None:
    conn.identity.create_project(name=sys.argv[1], domain_id="default", description="side_effect.yml backup check")
print(json.dumps(sorted(p.name for p in conn.identity.projects() if p.name.startswith("backup-"))))
