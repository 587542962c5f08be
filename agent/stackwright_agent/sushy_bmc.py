"""The lab's Redfish BMC: sushy-tools' emulator (``python -m stackwright_agent.sushy_bmc
--config FILE``), held to the one system a real BMC manages.

The emulator's SUSHY_EMULATOR_ALLOWED_INSTANCES guards only the routes that check it:
its Managers and Chassis routes list every domain of the libvirtd, and its VirtualMedia
and UpdateService routes act on any domain (a media insert makes the emulator fetch a
URL, as root). A lab BMC's user could so reach every VM of the host. Here every request
is refused (404) unless it is one a BMC client needs for the allowed system: the service
root, sessions, the systems collection and the allowed system with its actions, BIOS and
boot settings - never virtual media.
"""

import re
import sys

from flask import Response, request
from sushy_tools.emulator import main as emulator

ROUTE = re.compile(r"/redfish/v1(/(SessionService(/.*)?|Systems|Systems/(?P<id>[^/]+)(?P<rest>/.*)?|\$metadata|odata))?/?")


def refused(path, allowed):
    """Why a request for ``path`` is refused, or None. ``allowed``: the system Ids."""
    match = ROUTE.fullmatch(path)
    if match is None:
        return "not a route of this BMC"
    system = match.group("id")
    if system is not None and system not in allowed:
        return "no such system"
    if (match.group("rest") or "").startswith("/VirtualMedia"):
        return "no virtual media on this BMC"
    return None


def _guard():
    why = refused(request.path, emulator.app.config.get("SUSHY_EMULATOR_ALLOWED_INSTANCES") or ())
    if why:
        return Response('{"error": {"code": "Base.1.0.ResourceMissingAtURI", "message": "%s"}}' % why,
                        status=404, mimetype="application/json")
    return None


def main():
    emulator.app.before_request(_guard)
    return emulator.main()


if __name__ == "__main__":
    sys.exit(main())
