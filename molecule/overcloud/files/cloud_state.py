# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cloud knows of its compute hosts, as JSON, for side_effect.yml's checks.

    cloud_state.py        (OS_CLIENT_CONFIG_FILE names the clouds.yaml of cloud "stackwright")

Prints {"services": [{host, status, state, disabled_reason}], "providers": [names],
"agents": [{host, type}]}: nova-compute services, Placement's resource providers and
Neutron's agents.
"""

import json

import openstack

conn = openstack.connect(cloud="stackwright")
print(json.dumps({
    "services": [dict(host=s.host, status=s.status, state=s.state, disabled_reason=s.disabled_reason)
                 for s in conn.compute.services(binary="nova-compute")],
    "providers": sorted(rp.name for rp in conn.placement.resource_providers()),
    "agents": [dict(host=a.host, type=a.agent_type) for a in conn.network.agents()],
}))
