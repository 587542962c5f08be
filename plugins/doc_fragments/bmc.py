# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  bmc_address:
    description: Address (IP or host name) of the server's BMC.
    type: str
    required: true
  bmc_port:
    description: UDP port of the BMC's IPMI-over-LAN service.
    type: int
    default: 623
  bmc_username:
    description: BMC user name.
    type: str
    required: true
  bmc_password:
    description: BMC password. Never logged.
    type: str
    required: true
  retries:
    description: How many times to retry a request the BMC answered busy, or did not answer, with backoff (1, 2, 4 ... 16 s).
    type: int
    default: 5
  min_interval:
    description:
      - Least seconds between two requests to one BMC, from any process on this host.
        Many BMCs drop requests, or hang, when asked too often.
    type: float
    default: 1.0
requirements:
  - pyghmi (Debian package python3-pyghmi) on the host that runs the module
notes:
  - Speaks IPMI 2.0 over LAN (lanplus). A reboot is done as power off, verify off, power on; never as
    a chassis power cycle, which many BMCs mishandle.
"""
