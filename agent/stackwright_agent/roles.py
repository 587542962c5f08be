"""What an agent is for, and so which drivers it loads.

One program, three roles; each host runs it for the role it has, and only that
role's drivers are imported and serve requests (others answer 404):

``node``
    the node agent, on every overcloud node: its bridges, LVM and KVM domains.
``conductor``
    the undercloud conductor: the node registry (nodes) and, with
    ``provisioning_listen``, the provisioning listener (iPXE, images, ramdisk API).
``lab_host``
    the built-in lab's host: the lab's "bare-metal" VMs, bridges and virtual BMCs,
    its systemd-nspawn container nodes and its libvirtd.

Health, facts and the journal answer in every role. A host that holds two roles
(the lab's machine is the lab host and the undercloud) runs two instances.
"""

import importlib

from .errors import AgentError

# role -> (module under drivers/, class) in the order they load
ROLES = {
    "node": (("bridges", "BridgeDriver"), ("domains", "DomainDriver"),
             ("lvm", "VolumeGroupDriver"), ("lvm", "LogicalVolumeDriver")),
    "conductor": (("nodes", "NodeDriver"),),
    "lab_host": (("bridges", "BridgeDriver"), ("domains", "DomainDriver"), ("bmcs", "BmcDriver"),
                 ("containers", "ContainerDriver"), ("libvirtd", "LibvirtdDriver")),
}
DEFAULT = ("node",)


def check(roles):
    """The roles as a tuple, or AgentError naming the setting."""
    if isinstance(roles, str):
        roles = (roles,)
    if not isinstance(roles, (list, tuple)) or not roles:
        raise AgentError("roles must be a non-empty list of %s, not %r" % (", ".join(ROLES), roles),
                         code="invalid_config")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise AgentError("roles: unknown role(s) %s; known: %s" % (", ".join(map(repr, unknown)), ", ".join(ROLES)),
                         code="invalid_config")
    return tuple(roles)


def driver_classes(roles):
    """The driver classes the roles need, each once, imported only now."""
    out = []
    for role in check(roles):
        for module, name in ROLES[role]:
            cls = getattr(importlib.import_module("." + module, __package__ + ".drivers"), name)
            if cls not in out:
                out.append(cls)
    return out
