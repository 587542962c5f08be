#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: baremetal_deploy
short_description: Arm the deploy of an image onto an available bare-metal node
version_added: 0.1.0
description:
  - Moves a node of the undercloud's registry from C(available) to C(deploying) and arms the deploy ramdisk with
    the image, its SHA-256 and the first-boot configuration. At the node's next network boot the ramdisk writes
    the image onto the disk inspection chose and reports back; the node then stays C(deploying) with
    C(deploy_done) true until the playbook records it C(active) (after booting it from disk and reaching SSH).
  - Idempotent - a node already C(active) is left alone (nothing is sent); a node C(deploying) with the same
    deploy armed, or with its image written already, is unchanged. Once the node has booted the ramdisk for that
    deploy without a report (a run cut short), the deploy is armed again - a new attempt; the earlier ramdisk can
    no longer report, and a wait left behind by the earlier run stands down.
  - A node in any other state fails the task with a message saying the state a deploy needs and how to get there.
options:
  name:
    description: Node name.
    type: str
    required: true
  image_url:
    description:
      - The gzip'd raw disk image. A path starting with C(/) is on the undercloud's provisioning listener
        (V(/images/overcloud.raw.gz) is C(overcloud.raw.gz) in its image store).
    type: str
    required: true
  image_sha256:
    description:
      - The SHA-256 of the image as served, 64 hex digits.
      - Exactly one of O(image_sha256) and O(image_checksum_url) is required.
    type: str
  image_checksum_url:
    description:
      - URL of a checksum file in C(sha256sum) format (C(HEX  FILENAME) lines, or a lone digest). The module
        fetches it from the host it runs on, and takes the line for the file name of O(image_url), or the only
        line.
      - Exactly one of O(image_sha256) and O(image_checksum_url) is required.
    type: str
  config_url:
    description:
      - The first-boot configuration (a tar.gz unpacked onto the root file system). Unset means the one the
        agent generates - host name, network from the node's record, the C(ssh_authorized_keys) property.
    type: str
  wait:
    description:
      - Wait until the image is written (C(deploying) with C(deploy_done)). A node that goes C(failed) fails the
        task with its C(last_error); a node not done within O(wait_timeout) is marked C(failed) with the reason.
      - The module does not power the node - boot it from the network between arming and waiting, with
        M(stackwright.cloud.ipmi_boot) and M(stackwright.cloud.ipmi_power) - so O(wait=true) suits a node
        something else boots.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait).
    type: int
    default: 900
extends_documentation_fragment:
  - stackwright.cloud.agent
  - stackwright.cloud.agent.RESOURCE
  - stackwright.cloud.baremetal
notes:
  - The module never drives the BMC. The provisioning playbook arms the deploy, boots the node from the network
    with M(stackwright.cloud.ipmi_boot) and M(stackwright.cloud.ipmi_power), then waits with
    M(stackwright.cloud.baremetal_node) and O(stackwright.cloud.baremetal_node#module:wait_for=[deployed]).
  - In check mode the checksum file is fetched as well (it is only read), so the prediction is exact.
seealso:
  - module: stackwright.cloud.baremetal_node
  - module: stackwright.cloud.baremetal_undeploy
  - module: stackwright.cloud.ipmi_power
  - module: stackwright.cloud.ipmi_boot
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Arm the deploy of the image in the undercloud's image store
  stackwright.cloud.baremetal_deploy:
    agent_socket: /run/stackwright/undercloud.sock
    name: compute-0
    image_url: /images/overcloud-openstack.raw.gz
    image_checksum_url: http://192.168.24.1:8080/images/overcloud-openstack.raw.gz.sha256
  register: deploy

- name: Boot the ramdisk
  stackwright.cloud.ipmi_boot:
    bmc_address: 192.168.30.11
    bmc_username: admin
    bmc_password: "{{ vault_bmc_password }}"
    device: pxe
  when: not deploy.node.deploy_done and deploy.node.provision_state == 'deploying'

- name: Wait until the image is written
  stackwright.cloud.baremetal_node:
    name: compute-0
    wait_for: [deployed]
    wait_timeout: 1800
"""

RETURN = r"""
node:
  description:
    - The node after the run (in check mode, as it would be; with O(wait), as the wait left it), as
      M(stackwright.cloud.baremetal_node) returns it.
  returned: always
  type: dict
  sample:
    name: compute-0
    provision_state: deploying
    deploy_done: false
    target_disk: /dev/sda
    address: 192.168.24.100
    action:
      action: deploy
      image_url: /images/overcloud.raw.gz
      image_sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
      config_url: null
image_sha256:
  description: The SHA-256 the deploy uses (given, or read from O(image_checksum_url)).
  returned: when the node was not active already
  type: str
  sample: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
"""

import os
import re
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import fetch_url
from ansible_collections.stackwright.cloud.plugins.module_utils.agent_client import AGENT_ARGUMENT_SPEC
from ansible_collections.stackwright.cloud.plugins.module_utils.baremetal import (
    answer_result,
    client_for,
    get_node,
    put_node,
    wait_or_fail,
)

SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
SUM_LINE_RE = re.compile(r"^([0-9a-fA-F]{64})(?:\s+\*?(.*?))?\s*$")

# how a node in each state gets to available, the state a deploy starts from
HOW_TO_AVAILABLE = {
    "enrolled": "verify its BMC (stackwright.cloud.baremetal_node provision_state=verified), inspect it "
                "(action inspect, then wait_for [inspected]) and clean it (stackwright.cloud.baremetal_undeploy); "
                "the stackwright.cloud.provision role does all of that",
    "verified": "inspect it (stackwright.cloud.baremetal_node action inspect, then wait_for [inspected]) and clean "
                "it (stackwright.cloud.baremetal_undeploy); the stackwright.cloud.provision role does both",
    "inspected": "clean it with stackwright.cloud.baremetal_undeploy, which makes it available",
    "cleaning": "wait until cleaning is done (stackwright.cloud.baremetal_node wait_for [available])",
    "failed": "fix the cause and clean it with stackwright.cloud.baremetal_undeploy, which makes it available again",
}


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


def main():
    argument_spec = dict(
        AGENT_ARGUMENT_SPEC,
        config_url=dict(type="str"),
        image_checksum_url=dict(type="str"),
        image_sha256=dict(type="str"),
        image_url=dict(type="str", required=True),
        name=dict(type="str", required=True),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=900),
        pxe_timeout=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("image_sha256", "image_checksum_url")],
                           required_one_of=[("image_sha256", "image_checksum_url")])
    p = module.params
    name = p["name"]
    if p["image_sha256"] is not None and not SHA256_RE.match(p["image_sha256"]):
        module.fail_json(msg="image_sha256: %r is not a SHA-256 (64 hex digits)" % p["image_sha256"],
                         field="image_sha256")
    client = client_for(module)
    node = get_node(module, client, name)
    if node is None:
        module.fail_json(msg="name: node %r is not enrolled (stackwright.cloud.baremetal_node enrolls it)" % name,
                         field="name", node=None)
    state = node["provision_state"]
    if state == "active":
        module.exit_json(changed=False, node=node, msg="node %r is active: deployed already" % name)
    if state == "deploying" and node["deploy_done"]:
        module.exit_json(changed=False, node=node, msg="node %r is deploying and its image is written" % name)
    if state not in ("available", "deploying"):
        detail = ""
        if state == "failed" and node.get("last_error"):
            detail = " (last_error: %s)" % node["last_error"]
        module.fail_json(msg="provision_state: node %r is %s%s; a deploy needs it available: %s"
                             % (name, state, detail, HOW_TO_AVAILABLE.get(state, "see its history")),
                         field="provision_state", node=node)
    sha256 = p["image_sha256"]
    if sha256 is None:
        sha256 = checksum_from_url(module, p["image_checksum_url"], p["image_url"])
    action = dict(action="deploy", image_url=p["image_url"], image_sha256=sha256.lower(), config_url=p["config_url"])
    # deploying, not done: re-sending the armed action changes nothing until the node booted for it
    # (then it is a new attempt); another action re-arms
    answer = put_node(module, client, name, dict(provision_state="deploying", action=action))
    result = answer_result(module, answer)
    result["image_sha256"] = sha256.lower()
    if p["wait"] and not module.check_mode:
        result["node"] = wait_or_fail(module, client, name, ["deployed"], p["wait_timeout"], result, field="wait",
                                      pxe_timeout=p["pxe_timeout"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
