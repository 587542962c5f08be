# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  agent_socket:
    description:
      - Path of the node agent's Unix socket on the managed node.
      - The role C(stackwright.cloud.agent) installs and starts the agent.
    type: path
    default: /run/stackwright/agent.sock
  agent_timeout:
    description:
      - Seconds to wait for the agent's answer to one request.
    type: int
    default: 300
notes:
  - The module sends one declarative request to the Stackwright node agent, which alone changes the node.
    Check mode asks the agent for a dry run, so the predicted C(changed) and diff come from the same
    code that applies the change.
  - The agent must run on the managed node (role C(stackwright.cloud.agent)).
"""

    # Modules that converge a resource (not *_info).
    RESOURCE = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: The agent computes the change without applying it.
  diff_mode:
    support: full
    description: Returns the resource before and after, as the agent sees it.
  platform:
    platforms: posix
    support: full
    description: Linux nodes running the Stackwright agent.
"""
