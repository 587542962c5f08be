# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the baremetal_* modules share: the node request body built from module
parameters, and the agent calls. The node's states and their order are the
undercloud conductor's (agent/stackwright_agent/conductor.py): nothing here names one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.stackwright.cloud.plugins.module_utils import node_schema
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AgentClient,
    AgentClientError,
    resource_path,
)

# the node's own fields, as the node schema declares them (the agent checks them with it)
DESCRIPTIVE = tuple(f for f in node_schema.NODE_FIELDS if f != "name")

NODE_OPTIONS = node_schema.NODE_OPTIONS


def node_path(name):
    return resource_path("nodes", name)


def client_for(module):
    return AgentClient(module.params["agent_socket"], module.params["agent_timeout"])


def node_body(params):
    """The PUT body for /v1/nodes/<name> from baremetal_node's parameters.

    Unset (None) options are left out, so the agent keeps those fields as they are.
    ``network`` given with no field set (``{}``) means DHCP.
    """
    if params.get("state") == "absent":
        return {"state": "absent"}
    body = {}
    for key in DESCRIPTIVE:
        value = params.get(key)
        if value is None:
            continue
        if key == "network":
            value = dict((k, v) for k, v in value.items() if v is not None)
        body[key] = value
    return body


def get_node(module, client, name):
    """The node (GET, with inspection and history) or None; fails the module on agent errors."""
    try:
        return client.find(node_path(name))
    except AgentClientError as exc:
        module.fail_json(**exc.to_dict())


def put_node(module, client, name, body):
    """PUT with the module's check mode as dry_run; returns the agent's answer or fails the module."""
    try:
        return client.put(node_path(name), dict(body, dry_run=module.check_mode))
    except AgentClientError as exc:
        module.fail_json(**exc.to_dict())


def answer_result(module, answer):
    """changed, node (and diff with --diff) of a PUT's answer."""
    result = dict(changed=answer["changed"], node=answer["resource"])
    if module._diff:
        result["diff"] = dict(before=answer["diff"]["before"] or {}, after=answer["diff"]["after"] or {})
    return result
