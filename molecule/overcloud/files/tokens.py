# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A token of the admin, or whether Keystone still accepts one, for side_effect.yml's
key rotation check.

    tokens.py issue     prints a new token of the admin
    tokens.py check     exits 0 when Keystone accepts the token in $TOKEN (GET /v3/auth/tokens)

OS_CLIENT_CONFIG_FILE names the clouds.yaml of cloud "stackwright".
"""

import os
import sys

import openstack

conn = openstack.connect(cloud="stackwright")
if sys.argv[1] == "issue":
    print(conn.auth_token)
else:
    answer = conn.identity.get("auth/tokens", headers={"X-Subject-Token": os.environ["TOKEN"]}, raise_exc=False)
    print(answer.status_code)
    sys.exit(0 if answer.status_code == 200 else 1)
