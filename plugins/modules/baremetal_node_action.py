#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_node_action
short_description: Have the undercloud's conductor deploy, inspect, clean, undeploy or power a bare-metal node
version_added: 0.2.0
description:
  - Asks the undercloud's conductor to take an enrolled node (M(stackwright.cloud.baremetal_node)) where
    O(action) says, and optionally waits for it. The conductor owns every step - the BMC (IPMI or Redfish),
    the boot device, the ramdisk's PXE boot and report, the timeouts, the power watch, the record of each
    transition in the node's history - so a run of this module that is killed leaves the action running, and
    the next run waits for the same action instead of starting it again.
  - V(deploy) takes the node the whole way to C(active) - verify the BMC, inspect, clean, write the image,
    boot from disk, SSH answering - starting where the node is (a C(failed) node starts over). A node without a
    BMC (pre-provisioned) is adopted once SSH answers on its address.
  - V(provide) - verify, inspect and clean, ending C(available). V(inspect) - verify and inspect.
    V(undeploy) - clean an C(active) (or C(failed)) node back to C(available) and power it off.
    V(power_on), V(power_off) - through the BMC. V(abort) - stop the running action; the node goes C(failed).
  - Idempotent - a node already where the action takes it is left alone (C(changed=false)); the action
    already running on the node is not started twice.
options:
  name:
    description: Node name.
    type: str
    required: true
  action:
    description: What the conductor is to do.
    type: str
    required: true
    choices: [deploy, provide, inspect, undeploy, power_on, power_off, abort]
  image_url:
    description:
      - For V(deploy) of a node with a BMC - the gzip'd raw disk image. A path starting with C(/) is on the
        undercloud's provisioning listener (V(/images/overcloud.raw.gz) is C(overcloud.raw.gz) in its image
        store).
    type: str
  image_sha256:
    description:
      - The SHA-256 of the image as served, 64 hex digits. For V(deploy), exactly one of O(image_sha256) and
        O(image_checksum_url) is required.
    type: str
  image_checksum_url:
    description:
      - URL of a checksum file in C(sha256sum) format (C(HEX  FILENAME) lines, or a lone digest). The module
        fetches it from the host it runs on, and takes the line for the file name of O(image_url), or the only
        line.
    type: str
  config_url:
    description:
      - The first-boot configuration (a tar.gz unpacked onto the root file system). Unset means the one the
        agent generates - host name, network from the node's record, the C(ssh_authorized_keys) property.
    type: str
  clean_mode:
    description:
      - How the ramdisk cleans the node's disks on the way of a V(deploy), V(provide) or V(undeploy).
      - V(metadata) wipes partition tables and signatures (the first and last MiB of every disk and
        partition), in seconds.
      - V(full) erases every byte of every disk - discarded where the disk supports it and reads back as
        zeros, else overwritten with zeros. An overwrite runs at the disk's write speed (hours for large
        disks), so raise O(timeouts.clean) with it.
      - Unset means the node's C(properties.clean_mode), else V(metadata).
      - Given, a clean runs even on a node that is V(available) (clean already), once per action; where the
        action would clean nothing (an V(active) node's V(deploy), a node without a BMC) it is refused, and so
        is another mode while the same action runs.
    type: str
    choices: [metadata, full]
  timeouts:
    description:
      - Seconds each part of the action may take before the node is marked C(failed) with the reason. Unset
        keys keep the conductor's defaults.
    type: dict
    suboptions:
      pxe:
        description:
          - From power-on to the node asking for its iPXE script (a wrong MAC, a disk-first boot order, a dead
            provisioning link fail here). V(0) waits the whole phase.
          - The conductor takes 300 when it is unset.
        type: int
      inspect:
        description:
          - The inspection ramdisk's report.
          - The conductor takes 600 when it is unset.
        type: int
      clean:
        description:
          - The cleaning ramdisk's report.
          - The conductor takes 600 when it is unset.
        type: int
      deploy:
        description:
          - The image written.
          - The conductor takes 1800 when it is unset.
        type: int
      boot:
        description:
          - From power-on from disk (or from adoption's start) to SSH answering.
          - The conductor takes 600 when it is unset.
        type: int
      poweroff:
        description:
          - For the ramdisk to power the node off after its report (then the conductor does).
          - The conductor takes 120 when it is unset.
        type: int
      power:
        description:
          - For the BMC to report the power state asked for.
          - The conductor takes 300 when it is unset.
        type: int
  wait:
    description:
      - Wait until the action ends. A node that fails fails the task with its C(last_error) ("STEP - why").
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait with O(wait). When they pass the task fails, but the action goes on (its own
        O(timeouts) end it); run the module again to wait again, or with O(action=abort) to stop it.
    type: int
    default: 7200
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
notes:
  - In check mode the checksum file is fetched as well (it is only read), so the prediction is exact.
  - Model - openstack.cloud's C(baremetal_node_action) over Ironic's conductor.
seealso:
  - module: stackwright.cloud.baremetal_node
  - module: stackwright.cloud.baremetal_node_info
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Deploy the image in the undercloud's image store onto compute-0
  stackwright.cloud.baremetal_node_action:
    agent_socket: /run/stackwright/undercloud.sock
    name: compute-0
    action: deploy
    image_url: /images/overcloud-openstack.raw.gz
    image_checksum_url: http://192.168.24.1:8080/images/overcloud-openstack.raw.gz.sha256
    timeouts:
      pxe: 600  # a server that takes long to POST

- name: Clean compute-0 back to available
  stackwright.cloud.baremetal_node_action:
    agent_socket: /run/stackwright/undercloud.sock
    name: compute-0
    action: undeploy
"""

RETURN = r"""
node:
  description:
    - The node after the run (in check mode, as it would be; with O(wait), as the action left it), as
      M(stackwright.cloud.baremetal_node_info) returns it. Its C(target) is the action - C(status) running,
      done or failed, C(error) when failed.
  returned: always
  type: dict
  sample:
    name: compute-0
    provision_state: active
    power_state: "on"
    address: 192.168.24.100
    target: {action: deploy, status: done, started_at: 1765000000.0, finished_at: 1765000120.5}
image_sha256:
  description: The SHA-256 the deploy uses (given, or read from O(image_checksum_url)).
  returned: for a deploy of a node with a BMC
  type: str
  sample: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
"""

import os
import re
import time
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import fetch_url
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import (
    AGENT_ARGUMENT_SPEC,
    AgentClientError,
)
from ansible_collections.stackwright.cloud.plugins.module_utils.baremetal import (
    answer_result,
    client_for,
    get_node,
    node_path,
    put_node,
)

SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
SUM_LINE_RE = re.compile(r"^([0-9a-fA-F]{64})(?:\s+\*?(.*?))?\s*$")
ACTIONS = ["deploy", "provide", "inspect", "undeploy", "power_on", "power_off", "abort"]
TIMEOUT_KEYS = ("pxe", "inspect", "clean", "deploy", "boot", "poweroff", "power")
POLL = 2


def checksum_from_url(module, url, image_url):
    resp, info = fetch_url(module, url, timeout=module.params["agent_timeout"])
    if resp is None or info.get("status") not in (200, None):
        module.fail_json(msg="image_checksum_url: cannot fetch %s: %s" % (url, info.get("msg") or info.get("status")),
                         field="image_checksum_url")
    text = to_text(resp.read(), errors="surrogate_or_strict")
    wanted = os.path.basename(urlsplit(image_url).path)
    sums = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = SUM_LINE_RE.match(line)
        if match is None:
            module.fail_json(msg="image_checksum_url: %s is not in sha256sum format (HEX  FILENAME lines); "
                                 "its line %r is not" % (url, line[:100]), field="image_checksum_url")
        sums.append((match.group(1).lower(), os.path.basename(match.group(2) or "")))
    for digest, filename in sums:
        if filename == wanted:
            return digest
    if len(sums) == 1:
        return sums[0][0]
    module.fail_json(msg="image_checksum_url: %s has %s; none for %s" % (
        url, "no checksum" if not sums else "checksums for %s" % ", ".join(f or "?" for _, f in sums), wanted),
        field="image_checksum_url")


def wait_until_ended(module, client, name, result):
    """Poll the node until its action is no longer running; fail the module when it failed."""
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        try:
            node = client.find(node_path(name))
        except AgentClientError as exc:
            module.fail_json(**dict(result, **exc.to_dict()))
        if node is None:
            module.fail_json(**dict(result, msg="node %r was removed while its action ran" % name, node=None))
        target = node.get("target") or {}
        if target.get("status") not in ("running", "aborting"):
            result["node"] = node
            action = module.params["action"]
            # an abort's action ends failed, as asked
            if action != "abort" and target.get("action") == action and target.get("status") == "failed":
                module.fail_json(**dict(result, msg="%s failed in %s" % (name, target.get("error") or "?"),
                                        failed_step=(target.get("error") or "").split(":")[0]))
            return node
        if time.monotonic() > deadline:
            module.fail_json(**dict(result, node=node, msg="node %r: %s still running after %d s (wait_timeout); "
                                    "it goes on - run again to wait, or abort it"
                                    % (name, target.get("action"), module.params["wait_timeout"])))
        time.sleep(POLL)


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        name=dict(type="str", required=True),
        action=dict(type="str", required=True, choices=ACTIONS),
        clean_mode=dict(type="str", choices=["metadata", "full"]),
        config_url=dict(type="str"),
        image_checksum_url=dict(type="str"),
        image_sha256=dict(type="str"),
        image_url=dict(type="str"),
        timeouts=dict(type="dict", options=dict((key, dict(type="int")) for key in TIMEOUT_KEYS)),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=7200),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("image_sha256", "image_checksum_url")])
    p = module.params
    name = p["name"]
    if p["image_sha256"] is not None and not SHA256_RE.match(p["image_sha256"]):
        module.fail_json(msg="image_sha256: %r is not a SHA-256 (64 hex digits)" % p["image_sha256"],
                         field="image_sha256")
    for key, value in (p["timeouts"] or {}).items():
        least = 0 if key == "pxe" else 1
        if value is not None and not least <= value <= 86400:
            module.fail_json(msg="timeouts.%s: %d is not between %d and 86400 seconds" % (key, value, least),
                             field="timeouts." + key)
    if p["wait_timeout"] < 1:
        module.fail_json(msg="wait_timeout: %d is not a number of seconds (1 or more)" % p["wait_timeout"],
                         field="wait_timeout")
    if p["action"] != "deploy":
        for field in ("image_url", "image_sha256", "image_checksum_url", "config_url"):
            if p[field] is not None:
                module.fail_json(msg="%s: only a deploy takes an image; %s does not" % (field, p["action"]),
                                 field=field)
    if p["clean_mode"] is not None and p["action"] not in ("deploy", "provide", "undeploy"):
        module.fail_json(msg="clean_mode: only deploy, provide and undeploy clean; %s does not" % p["action"],
                         field="clean_mode")
    client = client_for(module)
    node = get_node(module, client, name)
    if node is None:
        if module.check_mode:
            # the enrollment before this task was only predicted: so is the action
            module.exit_json(changed=True, node=None, msg="node %r is not enrolled yet: check mode" % name)
        module.fail_json(msg="name: node %r is not enrolled (stackwright.cloud.baremetal_node enrolls it)" % name,
                         field="name", node=None)
    request = dict(action=p["action"], timeouts=dict((k, v) for k, v in (p["timeouts"] or {}).items()
                                                     if v is not None))
    if p["clean_mode"] is not None:
        request["clean_mode"] = p["clean_mode"]
    result = {}
    if p["action"] == "deploy" and node.get("bmc"):
        if not p["image_url"] or not (p["image_sha256"] or p["image_checksum_url"]):
            module.fail_json(msg="image_url with image_sha256 or image_checksum_url: a deploy needs the image",
                             field="image_url")
        sha256 = p["image_sha256"]
        if sha256 is None:
            sha256 = checksum_from_url(module, p["image_checksum_url"], p["image_url"])
        request.update(image_url=p["image_url"], image_sha256=sha256.lower())
        if p["config_url"]:
            request["config_url"] = p["config_url"]
        result["image_sha256"] = sha256.lower()
    answer = put_node(module, client, name, dict(provision_action=request))
    result.update(answer_result(module, answer))
    if p["wait"] and not module.check_mode:
        result["node"] = wait_until_ended(module, client, name, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
