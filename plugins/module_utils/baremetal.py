# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the baremetal_* modules share: the node request body built from module
parameters, and waiting for a node of the undercloud's registry to reach a state."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.stackwright.cloud.plugins.module_utils import node_schema
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AgentClient,
    AgentClientError,
    resource_path,
)

# the agent's provision states (agent/stackwright_agent/drivers/nodes.py, TRANSITIONS)
PROVISION_STATES = ("enrolled", "verified", "inspected", "available", "deploying", "active", "cleaning", "failed")
# what a wait may ask for: a provision state, or "deployed" (the image is written)
WAIT_STATES = PROVISION_STATES + ("deployed",)
# states the agent lets a node go to cleaning from (TRANSITIONS["cleaning"])
CLEANABLE = ("inspected", "available", "active", "failed")

# the node's own fields, as the node schema declares them (the agent checks them with it)
DESCRIPTIVE = tuple(f for f in node_schema.NODE_FIELDS if f != "name")
OPERATIONAL = ("provision_state", "power_state", "last_error", "action")

NODE_OPTIONS = node_schema.NODE_OPTIONS
BMC_OPTIONS = node_schema.BMC_OPTIONS
ACTION_OPTIONS = dict(
    action=dict(type="str", choices=["inspect", "clean", "deploy"]),
    image_url=dict(type="str"),
    image_sha256=dict(type="str"),
    config_url=dict(type="str"),
)


class NodeWaitError(Exception):
    """A wait that ended without the wanted state; ``node`` is the node as last seen."""

    def __init__(self, message, node=None):
        super(NodeWaitError, self).__init__(message)
        self.message = message
        self.node = node


def node_path(name):
    return resource_path("nodes", name)


def client_for(module):
    return AgentClient(module.params["agent_socket"], module.params["agent_timeout"])


def node_body(params):
    """The PUT body for /v1/nodes/<name> from baremetal_node's parameters.

    Unset (None) options are left out, so the agent keeps those fields as they are.
    ``network`` given with no field set (``{}``) means DHCP. ``action`` with no
    action disarms the node (``{"action": null}``).
    """
    if params.get("state") == "absent":
        return {"state": "absent"}
    body = {}
    for key in DESCRIPTIVE + OPERATIONAL:
        value = params.get(key)
        if value is None:
            continue
        if key == "network":
            value = dict((k, v) for k, v in value.items() if v is not None)
        elif key == "action":
            value = dict((k, v) for k, v in value.items() if v is not None or k == "action")
            if value.get("image_sha256"):
                value["image_sha256"] = value["image_sha256"].lower()
        body[key] = value
    return body


def reached(node, states):
    """Whether ``node`` is in one of ``states`` (``deployed``: the image is written -
    deploying with deploy_done - or the node is active already)."""
    state = node["provision_state"]
    for want in states:
        if want == "deployed":
            if state == "active" or (state == "deploying" and node.get("deploy_done")):
                return True
        elif state == want:
            return True
    return False


def describe(states):
    states = list(states)
    return states[0] if len(states) == 1 else "%s or %s" % (", ".join(states[:-1]), states[-1])


def no_pxe_boot(node, pxe_timeout, now, since):
    """The reason to give up on ``node`` when its armed ramdisk action has waited more
    than ``pxe_timeout`` seconds - counted from the arming, or from ``since`` (the wait's
    start, just after the power-on) when later - for the node to ask for its iPXE
    script; else None."""
    armed_at = node.get("armed_at")
    if not (pxe_timeout and node.get("action") and armed_at) or node.get("booted_at"):
        return None
    if now - max(armed_at, since) <= pxe_timeout:
        return None
    return ("no PXE boot within %d s for %s: the node never asked for its iPXE script (MACs %s). "
            "Check the MACs in the nodes file, that the node boots from the network, and its link to "
            "the provisioning network" % (pxe_timeout, node["action"]["action"], ", ".join(node.get("macs") or [])))


def wait_for_state(client, name, states, timeout, interval=2, fail_on_timeout=True, pxe_timeout=None,
                   power=None, power_interval=15, sleep=time.sleep, clock=time.monotonic, wall_clock=time.time):
    """Poll GET /v1/nodes/<name> until the node is in one of ``states``; return it.

    Raises NodeWaitError when the node goes ``failed`` (and ``failed`` is not wanted),
    disappears, or is not there in ``timeout`` seconds - or, with ``pxe_timeout``, when
    the node's armed ramdisk action has waited that long for a PXE boot - or, with
    ``power`` (a function that asks the node's BMC: "on" or "off"; checked every
    ``power_interval`` seconds), when the node is off at two checks in a row before it
    got there. On a timeout,
    with ``fail_on_timeout``, the node is first marked failed with the reason as its
    ``last_error``. AgentClientError passes through.

    The wait watches the attempt armed when it started: when the node's action is armed
    again meanwhile (another run took over from a killed one, whose wait lives on), it
    stands down, and it never marks a later attempt failed (``if_armed_at``).
    """
    path = node_path(name)
    wanted = describe(states)
    deadline = clock() + timeout
    started = wall_clock()
    next_power = clock() + power_interval
    attempt, off = None, False
    while True:
        node = client.find(path)
        if node is None:
            raise NodeWaitError("node %r does not exist (waiting for %s)" % (name, wanted))
        if reached(node, states):
            return node
        attempt = attempt or node.get("armed_at")
        if node.get("armed_at") not in (None, attempt):
            raise NodeWaitError(taken_over(name, wanted), node)
        if node["provision_state"] == "failed" and "failed" not in states:
            raise NodeWaitError("node %r failed while waiting for %s: %s"
                                % (name, wanted, node.get("last_error") or "no last_error recorded"), node)
        left = deadline - clock()
        # the agent's clock: armed_at is its time.time(), and it runs on this host
        message = no_pxe_boot(node, pxe_timeout, wall_clock(), started)
        if message is None and power is not None and clock() >= next_power:
            next_power = clock() + power_interval
            off_before, off = off, powered_off(power)
            if off:
                # the ramdisk powers the node off once it has reported: look again
                node = client.find(path)
                if node is not None and reached(node, states):
                    return node
                # off at two checks in a row: not the power cycle of a run taking over
                if node is not None and off_before:
                    message = ("the node is powered off, waiting for %s (state %s): it was switched off, or "
                               "its ramdisk stopped before it reported (its console says which)"
                               % (wanted, node["provision_state"]))
        if left <= 0 and message is None:
            state = node["provision_state"]
            if state == "deploying" and not node.get("deploy_done"):
                state = "deploying, image not written yet"
            message = "timed out after %d s waiting for %s (state was %s)" % (timeout, wanted, state)
        if message is not None:
            if fail_on_timeout:
                body = {"provision_state": "failed", "last_error": message}
                if attempt is not None:
                    body["if_armed_at"] = attempt
                try:
                    node = client.put(path, body)["resource"]
                except AgentClientError as exc:
                    if exc.field != "if_armed_at":
                        raise
                    raise NodeWaitError(taken_over(name, wanted), node)
            raise NodeWaitError(message, node)
        sleep(min(interval, left))


def taken_over(name, wanted):
    return ("node %r was armed again while this waited for %s: another run took over; this wait leaves "
            "the node to it" % (name, wanted))


def powered_off(power):
    """Whether the BMC says off; a BMC that does not answer is no verdict (False)."""
    try:
        return power() == "off"
    except Exception:
        return False


def wait_or_fail(module, client, name, states, timeout, result, field="wait_for", pxe_timeout=None, power=None):
    """wait_for_state for a module: exits with ``result`` failed when the wait fails."""
    try:
        return wait_for_state(client, name, states, timeout, pxe_timeout=pxe_timeout, power=power)
    except NodeWaitError as exc:
        result = dict(result, msg=exc.message, field=field)
        if exc.node is not None:
            result["node"] = exc.node
        module.fail_json(**result)
    except AgentClientError as exc:
        module.fail_json(**dict(result, **exc.to_dict()))


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
