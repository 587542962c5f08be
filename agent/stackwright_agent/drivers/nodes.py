"""Bare-metal nodes in the undercloud's registry (``registry.py``): /v1/nodes/<name>.

A PUT enrolls or updates a node declaratively. On an existing node, an omitted
(or null) descriptive field (role, kind, bmc, macs, root_device, network,
properties) keeps its value, so the provisioning steps can PUT just the
operational fields they drive:

``provision_state``
    the wanted state; only the transitions in ``TRANSITIONS`` are accepted
    (409, field provision_state, otherwise). ``failed`` needs ``last_error``.
``power_state``
    as last seen by the caller (on, off, unknown); the agent does not drive BMCs here.
``action``
    ``{"action": "inspect"|"clean"|"deploy"|null, "image_url", "image_sha256",
    "config_url"}`` arms the ramdisk: the node gets a fresh token and its per-MAC
    iPXE script boots the ramdisk. ``{"action": null}`` disarms (the script says
    ``exit``: boot from disk). The ramdisk's result disarms it too. Re-sending the
    action already armed changes nothing (same token) until the node has PXE booted
    for it; after that (a run cut short, its ramdisk never reported) re-sending it
    arms it again, a new attempt: fresh token and ``armed_at``, the earlier
    ramdisk can no longer report.
``if_armed_at``
    a precondition, not stored: the request applies only while the armed action is
    the one armed at that time (``armed_at`` as read), else 409 (field
    if_armed_at) and nothing changes. A wait that marks its node failed sends it,
    so a wait left behind by a killed run cannot fail the attempt of the run that
    took over.

The node's own fields (name, role, kind, bmc, macs, root_device, network,
properties) are checked as the node schema (``node_schema.py``) says, as the nodes
file is: the same rules and messages. A node without ``bmc`` is pre-provisioned (a
"deployed server"): it needs ``network.address`` and is adopted, ``enrolled`` ->
``active``, with no PXE; a ``container`` node is always one.

``address`` (read-only) is the node's provisioning address: the static
``network.address`` when given, else the lowest free address of the agent's
``provisioning_pool``, kept for the node's life. With ``dhcp_hosts_dir`` set,
the agent keeps one dnsmasq dhcp-host file per PXE node there (its MACs, address
and name), so DHCP answers enrolled MACs only, always with the same address.

A GET also says when the current action was armed (``armed_at``, epoch seconds) and
when the node then asked for its iPXE script (``booted_at``, None until it PXE boots;
every answer has ``booted``, whether it did):
a wait can tell a node that never PXE boots from a slow ramdisk.

The BMC password is stored but never returned: ``bmc.credentials`` is a salted
digest (as for ``bmcs``). The token is never returned either. A GET adds the
inspection data and the last 20 history rows.
"""

import ipaddress
import logging
import os
import secrets
import threading

from .. import conductor as cond
from .. import hostkeys
from .. import node_schema as ns
from .. import schema as s
from ..errors import Conflict, InvalidField
from ..provisioning import URL_VALUE
from ..registry import Registry
from . import Driver
from .bmcs import credentials_digest

# wanted state -> states it may be reached from (a state may always be "reached"
# from itself: no change). "failed" may be reached from anywhere.
TRANSITIONS = {
    "enrolled": ("failed", "verified"),
    "verified": ("enrolled", "failed", "inspected", "available"),
    "inspected": ("verified", "failed"),
    "available": ("inspected", "cleaning", "failed"),
    "deploying": ("available",),
    # from enrolled: adoption of a pre-provisioned node (no BMC), checked in _fields
    "active": ("deploying", "enrolled"),
    "cleaning": ("inspected", "available", "active", "failed"),
    "failed": ("enrolled", "verified", "inspected", "available", "deploying", "active", "cleaning"),
}
ACTIONS = ("inspect", "clean", "deploy")
# an image or config URL as the listener sends it to the ramdisk (URL_VALUE), or a path
# on the listener (/images/...): refused here, not when the node has booted for it
URL = s.Str(max_len=2048, pattern=URL_VALUE.pattern.replace("https?://", "(?:https?://|/)", 1),
            hint="give an http(s) URL or a path on the undercloud's listener like /images/x.raw.gz, "
                 "without spaces or quotes")
LOG = logging.getLogger("stackwright-agent.nodes")


class Number(s.Field):
    """An epoch timestamp as the API returned it (a JSON number)."""

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidField(path, "expected a number, got %r" % (value,))
        return value


def _schema(check, *args, **kwargs):
    """check(node, *args) of the node schema, its Invalid an InvalidField."""
    try:
        return check(ns.Checker(), *args, **kwargs)
    except ns.Invalid as exc:
        raise InvalidField(exc.field, exc.detail)


class NodeField(s.Field):
    """A field of a node, checked (and normalized) as the node schema says: the same
    checks as the nodes file's."""

    def __init__(self, check, **kw):
        super().__init__(**kw)
        self._check = check

    def check(self, value, path):
        return _schema(self._check, path, value)


# the node's own fields are the node schema's (network {} is DHCP, stored as null)
NODE_FIELDS = dict((field, NodeField(check, required=field == "name")) for field, check in ns.FIELD_CHECKS.items())
# ...and these drive provisioning
SCHEMA = s.Obj(dict(NODE_FIELDS, **{
    "state": s.Enum("present", "absent", default="present"),
    "provision_state": s.Enum(*[st for st in TRANSITIONS]),
    "power_state": s.Enum("on", "off", "unknown"),
    "last_error": s.Str(max_len=4096),
    "action": s.Obj({
        "action": s.Enum(*ACTIONS),
        "image_url": URL,
        "image_sha256": s.Str(pattern=r"[0-9a-fA-F]{64}", hint="64 hex digits"),
        "config_url": URL,
        "clean_mode": s.Enum(*ns.CLEAN_MODES),
    }),
    "if_armed_at": Number(),
    # what the conductor is to do with the node (conductor.py): the module
    # baremetal_node_action sends it
    "provision_action": s.Obj({
        "action": s.Enum(*cond.ACTIONS, required=True),
        "image_url": URL,
        "image_sha256": s.Str(pattern=r"[0-9a-fA-F]{64}", hint="64 hex digits"),
        "config_url": URL,
        "clean_mode": s.Enum(*ns.CLEAN_MODES),
        "timeouts": s.Obj(dict((key, s.Int(minimum=0 if key == "pxe" else 1, maximum=86400))
                               for key in cond.TIMEOUTS)),
    }),
}))
# the fields a client may set only while the conductor runs no action on the node
LOW_LEVEL = ("provision_state", "action", "if_armed_at")

# stored as given (the BMC goes into columns of its own)
DESCRIPTIVE = tuple(f for f in ns.NODE_FIELDS if f not in ("name", "bmc"))


class NodeDriver(Driver):
    kind = "nodes"
    schema = SCHEMA
    # request fields the API must never journal ("a.b": a nested field)
    secret_fields = ("bmc.password",)

    def __init__(self, config):
        super().__init__(config)
        self._registry = None
        self._registry_lock = threading.Lock()
        self._new_salts = {}  # for nodes not enrolled yet: dry run and real run predict alike
        self._conductor = None

    @property
    def registry(self):
        # created on first use: agents that are not an undercloud never get a registry
        # file; once, though requests come in on several threads
        with self._registry_lock:
            if self._registry is None:
                self._registry = Registry(self.config.state_dir)
        return self._registry

    @property
    def conductor(self):
        registry = self.registry
        with self._registry_lock:
            if self._conductor is None:
                self._conductor = cond.Conductor(registry)
        return self._conductor

    # -- Driver interface ------------------------------------------------------
    def validate(self, spec):
        if spec["state"] == "absent":
            target = cond.busy(self.registry.get(spec["name"]))
            if target:
                raise Conflict("state: node %r is busy with %s; abort it (and let it stop) before removing the "
                               "node" % (spec["name"], target["action"]), field="state")
            return
        # one node per MAC, BMC endpoint and static address (409); the registry checks
        # again inside its write lock, for requests racing this one
        bmc, network = spec["bmc"], spec["network"]
        self.registry.check_unique(
            spec["name"], macs=spec["macs"], bmc=(bmc["address"], bmc["port"], bmc.get("system_id")) if bmc else None,
            address=str(ipaddress.ip_interface(network["address"]).ip) if network and network.get("address") else None)
        if spec["provision_state"] == "failed" and not spec["last_error"]:
            raise InvalidField("last_error", "is required when provision_state is failed")
        action = spec["action"]
        if action and action["action"] == "deploy":
            for field in ("image_url", "image_sha256"):
                if not action[field]:
                    raise InvalidField("action." + field, "is required for a deploy")

    def read(self, spec):
        row = self.registry.get(spec["name"])
        if row is None:
            return None
        out = _resource(row)
        if "state" not in spec:
            # a GET (spec straight from the path): the details that converge never predicts
            out["inspection"] = row["inspection"]
            out["history"] = self.registry.history(spec["name"], 20)
            out["armed_at"], out["booted_at"] = row.get("armed_at"), row.get("booted_at")
        return out

    def predict(self, spec, current):
        if spec["state"] == "absent":
            return None
        row = self.registry.get(spec["name"])
        fields = self._fields(spec, row)
        if row is not None and current is not None and not fields:
            # this request changes nothing: the node as read, not as a conductor worker
            # may have moved it on since (that is not this request's change)
            return current
        merged = dict(row or {"name": spec["name"], "provision_state": "enrolled", "power_state": "unknown",
                              "last_error": None, "target_disk": None, "action": None, "deploy_done": False,
                              "macs": [], "root_device": {}, "network": None, "properties": {}, "role": None,
                              "kind": None, "address": None, "target": None})
        merged.update(fields)
        if "action" in fields:
            merged["booted_at"] = None  # armed (again): not booted for it yet
        return _resource(merged)

    def _fields(self, spec, row):
        """The registry columns this request sets (raises Conflict for illegal jumps)."""
        fields = {}
        busy = cond.busy(row)
        if busy:
            for key in LOW_LEVEL:
                if spec[key] is not None:
                    raise Conflict("%s: node %r is busy with %s (the conductor drives its states); abort that "
                                   "first" % (key, spec["name"], busy["action"]), field=key)
        if spec["provision_action"] is not None:
            target = cond.check_action(spec["name"], row, spec["provision_action"])
            if target is not None:
                fields["target"] = target
        if spec["if_armed_at"] is not None and (row or {}).get("armed_at") != spec["if_armed_at"]:
            raise Conflict("if_armed_at: the action of node %r was armed at %s, not at %s: it was armed again "
                           "(or disarmed) since; nothing changed"
                           % (spec["name"], (row or {}).get("armed_at"), spec["if_armed_at"]), field="if_armed_at")
        if row is None or any(spec[key] is not None for key in DESCRIPTIVE + ("bmc",)):
            _presence(spec, row)
        if row is None:
            if spec["provision_state"] not in (None, "enrolled"):
                raise Conflict("provision_state: a new node starts enrolled, not %s" % spec["provision_state"],
                               field="provision_state")
        for key in DESCRIPTIVE:
            if spec[key] is not None:
                fields[key] = None if key == "network" and spec[key] == {} else spec[key]
        bmc = spec["bmc"]
        if bmc:
            salt = row["bmc_salt"] if row and row.get("bmc_salt") else self._new_salts.setdefault(
                spec["name"], secrets.token_hex(16))
            fields.update(bmc_driver=bmc["driver"], bmc_address=bmc["address"], bmc_port=bmc["port"],
                          bmc_username=bmc["username"], bmc_password=bmc["password"], bmc_salt=salt,
                          # Redfish only (None for IPMI)
                          bmc_system_id=bmc.get("system_id"), bmc_verify_ca=bmc.get("verify_ca"))
        address = self._address(spec, row, fields)
        if address != (row or {}).get("address"):
            fields["address"] = address
        state = row["provision_state"] if row else "enrolled"
        want = spec["provision_state"]
        if want is not None and want != state:
            has_bmc = bool(bmc or (row or {}).get("bmc_address"))
            if want == "active" and state == "enrolled" and has_bmc:
                raise Conflict("provision_state: node %r is enrolled and has a BMC: it becomes active by a deploy, "
                               "not by adoption (adoption is for pre-provisioned nodes without a BMC)" % spec["name"],
                               field="provision_state")
            if state not in TRANSITIONS[want]:
                raise Conflict("provision_state: node %r is %s and cannot become %s; from %s it may become %s"
                               % (spec["name"], state, want, state,
                                  ", ".join(w for w, f in TRANSITIONS.items() if state in f) or "nothing"),
                               field="provision_state")
            fields["provision_state"] = want
            if want == "deploying":
                fields["deploy_done"] = False
            if want != "failed":
                fields["last_error"] = None  # leaving failed (or never there): the old error is history
        if spec["last_error"] is not None:
            fields["last_error"] = spec["last_error"]
        if spec["power_state"] is not None:
            fields["power_state"] = spec["power_state"]
        action = spec["action"]
        if action is not None:
            armed = action if action["action"] else None
            if armed and armed["action"] == "deploy" and not (row or {}).get("target_disk"):
                raise Conflict("action: node %r has no target disk yet; inspect it first" % spec["name"],
                               field="action")
            if armed != (row or {}).get("action"):
                fields["action"] = armed
            elif armed and row.get("booted_at"):
                # the node PXE booted for it and its ramdisk never reported: a new attempt
                fields["action"] = armed
        return fields

    def lock_key(self, spec):
        """One lock for every node: a node's address comes from the pool's lowest free
        one, so two nodes enrolled at once (provision.yml runs nodes in parallel) would
        otherwise both take it. A change to a node is a quick write: waits poll reads."""
        return (self.kind, "*")

    def _address(self, spec, row, fields):
        """The node's provisioning address after this request (see the module doc)."""
        network = fields["network"] if "network" in fields else (row or {}).get("network")
        if network and network.get("address"):
            return str(ipaddress.ip_interface(network["address"]).ip)
        kept = (row or {}).get("address")
        pool = self.config.provisioning_pool
        if pool is None:
            return None
        first, last = pool
        if kept and first <= ipaddress.ip_address(kept) <= last and not (row or {}).get("network"):
            return kept
        taken = {n["address"] for n in self.registry.all() if n["address"] and n["name"] != spec["name"]}
        candidate = first
        while candidate <= last:
            if str(candidate) not in taken:
                return str(candidate)
            candidate += 1
        raise Conflict("provisioning_pool %s-%s has no free address for node %r (%d nodes hold addresses); "
                       "widen the pool" % (first, last, spec["name"], len(taken)), field="provisioning_pool")

    def converge(self, spec, current):
        name = spec["name"]
        if spec["state"] == "absent":
            gone = self.registry.get(name)
            self.registry.delete(name, "PUT state=absent")
            if gone:
                hostkeys.forget(self.config.state_dir, name, gone.get("address"))
            self._new_salts.pop(name, None)
            self.after_converge()
            return
        row = self.registry.get(name)
        fields = self._fields(spec, row)
        event, detail = ("enroll", None) if row is None else ("api", None)
        if "action" in fields:
            # a new ramdisk action gets a new token: an old ramdisk can no longer report
            if fields["action"]:
                fields.update(cond.arming(fields["action"]))
            else:
                fields.update(token=None, armed_at=None, booted_at=None)
            event, detail = ("arm", fields["action"]["action"]) if fields["action"] else ("disarm", None)
            if fields["action"] and fields["action"] == (row or {}).get("action"):
                detail += " again (the earlier boot never reported)"
        if "target" in fields:
            event, detail = "action", fields["target"]["action"]
            if fields["target"]["status"] == "aborting":
                detail = "abort " + detail
        # an action is set over the one read, not over what a worker wrote meanwhile
        expect = (lambda now: (now or {}).get("target") == (row or {}).get("target")) if "target" in fields else None
        for _ in range(5):
            if self.registry.update(name, fields, event=event, detail=detail, create=row is None,
                                    expect=expect) is not None or expect is None:
                break
            # an abort must land: the worker writes its own action's record as it goes
            # (arming, booting), so it is set again over that record while it still runs
            now = self.registry.get(name)
            if not (fields["target"]["status"] == "aborting" and cond.busy(now)
                    and now["target"].get("started_at") == fields["target"].get("started_at")):
                raise Conflict("provision_action: the action of node %r changed while this request was made; "
                               "look again" % name, field="provision_action")
            row, fields["target"] = now, dict(now["target"], status="aborting")
        else:
            raise Conflict("provision_action: the action of node %r keeps changing; look again" % name,
                           field="provision_action")
        self._new_salts.pop(name, None)
        self.after_converge()
        if "target" in fields:
            self.conductor.start(name)

    def after_converge(self):
        sync_dhcp_hosts(self.registry, self.config.dhcp_hosts_dir)

    def list(self, query):
        return [{"name": r["name"], "role": r["role"], "kind": r["kind"], "address": r["address"],
                 "provision_state": r["provision_state"], "power_state": r["power_state"],
                 "last_error": r["last_error"]} for r in self.registry.all()]


def _presence(spec, row):
    """The node as it would be after this request has what its kind needs (node schema):
    a BMC and PXE MACs, or, pre-provisioned, its address."""
    row = row or {}

    def after(key):
        return spec[key] if spec[key] is not None else row.get(key)
    network = after("network")
    has_bmc = bool(spec["bmc"] or row.get("bmc_address"))
    _schema(ns.presence, after("kind") or ns.DEFAULT_KIND, has_bmc, None if network == {} else network)
    _schema(ns.macs, "macs", after("macs"), required=has_bmc)


def sync_dhcp_hosts(registry, directory):
    """One dnsmasq dhcp-host file per PXE node (MACs, address, name) in ``directory``;
    files of nodes that are gone are removed. Only changed files are rewritten (dnsmasq
    re-reads a changed file: --dhcp-hostsdir watches the directory)."""
    if not directory:
        return
    os.makedirs(directory, mode=0o755, exist_ok=True)
    wanted = {}
    for node in registry.all():
        if node["bmc_address"] and node["macs"] and node["address"]:
            wanted[node["name"]] = "%s,%s,%s\n" % (",".join(node["macs"]), node["address"], node["name"])
    for entry in os.listdir(directory):
        if entry not in wanted and not entry.startswith("."):
            os.unlink(os.path.join(directory, entry))
    for name, text in wanted.items():
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read() == text:
                    continue
        except FileNotFoundError:
            pass
        tmp = os.path.join(directory, ".%s.tmp" % name)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        LOG.info("dhcp-host for %s: %s", name, text.strip())


def _resource(row):
    """A registry row as the API shows it: no password, no token."""
    bmc = None
    if row.get("bmc_address"):
        bmc = {"driver": row["bmc_driver"], "address": row["bmc_address"], "port": row["bmc_port"],
               "username": row["bmc_username"],
               "credentials": credentials_digest(row["bmc_salt"], row["bmc_username"], row["bmc_password"])}
        if row["bmc_driver"] == "redfish":
            bmc.update(system_id=row.get("bmc_system_id"), verify_ca=row.get("bmc_verify_ca"))
    return {"name": row["name"], "role": row["role"], "kind": row["kind"], "bmc": bmc, "macs": row["macs"],
            "root_device": row["root_device"], "network": row["network"], "properties": row["properties"],
            "provision_state": row["provision_state"], "power_state": row["power_state"],
            "last_error": row["last_error"], "target_disk": row["target_disk"], "action": row["action"],
            "deploy_done": bool(row["deploy_done"]), "booted": bool(row.get("booted_at")),
            "address": row.get("address"), "target": row.get("target")}
