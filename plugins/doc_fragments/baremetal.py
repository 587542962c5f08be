# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # the waits of baremetal_node, baremetal_deploy and baremetal_undeploy
    DOCUMENTATION = r"""
options:
  pxe_timeout:
    description:
      - With a wait - seconds the node may take, from the arming of its ramdisk action, to PXE boot (ask the
        undercloud for its iPXE script). A node that has not by then is marked V(failed) with the reason (no PXE
        boot - check its MACs, boot order and provisioning link) and the task fails, long before O(wait_timeout).
      - V(0) - no such limit.
    type: int
    default: 0
"""
