# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  bmc_driver:
    description:
      - The BMC's protocol - V(ipmi) (IPMI 2.0 over LAN) or V(redfish) (Redfish over HTTPS).
      - Left out, an O(bmc_address) that is a URL (V(https://...)) means Redfish and any other IPMI.
    type: str
    choices: [ipmi, redfish]
  bmc_address:
    description:
      - IPMI - the BMC's IP address or host name.
      - Redfish - its URL, V(https://host[:port]) (V(http://) only for an emulator); no path, no credentials.
    type: str
    required: true
  bmc_port:
    description:
      - IPMI - the UDP port of the BMC's IPMI-over-LAN service (623 when left out).
      - Redfish - the port when O(bmc_address) gives none (443 for https when both are left out).
    type: int
  bmc_system_id:
    description:
      - Redfish only - the system the node is, as its C(Id) (V(System.Embedded.1), V(1)) or its path
        (V(/redfish/v1/Systems/1)). Left out, the BMC's only system; a BMC with several fails, listing them.
    type: str
  bmc_verify_ca:
    description:
      - Redfish over https only - V(true) checks the BMC's certificate against this host's CA store, V(false) does
        not check it (a lab BMC with a self-signed certificate), any other value is the path of a CA bundle file
        or directory to check it with (as Ironic's C(redfish_verify_ca)).
    type: raw
    default: true
  bmc_username:
    description: BMC user name.
    type: str
    required: true
  bmc_password:
    description: BMC password. Never logged.
    type: str
    required: true
  retries:
    description: How many times to retry a request the BMC answered busy (Redfish - HTTP 5xx), or did not answer, with backoff (1, 2, 4 ... 16 s).
    type: int
    default: 5
  min_interval:
    description:
      - Least seconds between two requests to one BMC, from any process on this host.
        Many BMCs drop requests, or hang, when asked too often. IPMI only.
    type: float
    default: 1.0
requirements:
  - IPMI - pyghmi (Debian package python3-pyghmi) on the host that runs the module. Redfish needs nothing
    beyond Python's standard library.
notes:
  - Speaks IPMI 2.0 over LAN (lanplus). A reboot is done as power off, verify off, power on; never as
    a chassis power cycle, which many BMCs mishandle.
  - Speaks Redfish as Ironic's redfish hardware type does - a session when the service offers one (ended when the
    module is done), else HTTP basic auth; a user the BMC refuses (HTTP 401/403) fails the task at once, naming
    the user and the BMC, with the BMC's own message. Each HTTP request is bounded to 30 s.
"""
