"""The undercloud's node registry: SQLite in ``<state_dir>/registry.sqlite``, mode 0600.

It holds BMC credentials and ramdisk tokens, so the file is born 0600 (made before
SQLite opens it; its journal files take its mode) and chmod'ed again when the agent
opens it.
Not through the umask: it is the process's, and the agent's threads share it.

The agent's two listeners (the Unix-socket API and the provisioning HTTP listener)
run threads that share the registry: every call opens its own
connection, and writes go through one process-wide lock plus SQLite's own locking
(``BEGIN IMMEDIATE``), so a ramdisk report and an API request never interleave.

Writes change only the columns they name (``update``), so an API converge and a
concurrent ramdisk report touch disjoint fields instead of overwriting each other.

Invariants (docs/design/provisioning.md, "Trust model"): one node per MAC, per BMC
endpoint (address and port) and per provisioning address. They are checked inside
the write lock (a Conflict naming the field) and held by the database itself
(``node_macs``' primary key, unique indexes; a Redfish BMC's endpoint is its
URL, port and system id), so two enrollments at once cannot
both pass. ``node_macs`` is also the index a MAC lookup reads: an unknown MAC
costs one indexed query, not a decode of the whole registry.

Text that came from outside (``last_error``, history details) is stored capped at
``MAX_TEXT`` characters with control characters escaped: nothing stored can move
a terminal's cursor when ``node list`` prints it.
"""

import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time

from .errors import AgentError, Conflict

LOG = logging.getLogger("stackwright-agent.registry")

STATES = ("enrolled", "verified", "inspected", "available", "deploying", "active", "cleaning", "failed", "deleted")

# columns stored as JSON text
JSON_COLUMNS = ("macs", "root_device", "network", "properties", "inspection", "action", "bmc_verify_ca",
                "target")

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    role TEXT,
    kind TEXT,
    bmc_driver TEXT,
    bmc_address TEXT,
    bmc_port INTEGER,
    bmc_username TEXT,
    bmc_password TEXT,
    bmc_salt TEXT,
    macs TEXT NOT NULL DEFAULT '[]',
    root_device TEXT NOT NULL DEFAULT '{}',
    network TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    provision_state TEXT NOT NULL DEFAULT 'enrolled',
    power_state TEXT NOT NULL DEFAULT 'unknown',
    inspection TEXT,
    last_error TEXT,
    target_disk TEXT,
    action TEXT,
    token TEXT,
    deploy_done INTEGER NOT NULL DEFAULT 0,
    address TEXT,
    updated_at REAL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    ts REAL NOT NULL,
    from_state TEXT,
    to_state TEXT,
    event TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS history_node ON history (node, id);
CREATE TABLE IF NOT EXISTS node_macs (
    mac TEXT PRIMARY KEY,
    node TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS node_macs_node ON node_macs (node);
"""

# made after the added columns exist; a registry that already breaks one (written
# before these checks) is left without it, with a warning, until it is fixed.
# (name, columns, how the warning names them)
UNIQUE_INDEXES = (
    # a Redfish BMC may serve several systems (a chassis manager, an emulator): one node
    # per system of it; an IPMI BMC is one system (no system id)
    ("nodes_bmc_system", "nodes (bmc_address, bmc_port, ifnull(bmc_system_id, ''))",
     "nodes (bmc_address, bmc_port) with the Redfish system id"),
    ("nodes_address", "nodes (address)", "nodes (address)"),
)

MAX_TEXT = 2048
# C0, DEL and C1 controls (ESC starts terminal escape sequences), and the invisible
# formatting ones that reorder or hide text (bidi overrides, zero widths)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def clean_text(text, limit=MAX_TEXT):
    """``text`` as it may be stored: control characters escaped (\\xNN), at most
    ``limit`` characters (the cut says how much was left out)."""
    if text is None:
        return None
    text = _CONTROL.sub(lambda m: ("\\x%02x" if ord(m.group()) < 256 else "\\u%04x") % ord(m.group()), str(text))
    if len(text) > limit:
        cut = len(text) - (limit - 40)
        text = text[:limit - 40] + " ... (%d more characters)" % cut
    return text


# armed_at: when the current ramdisk action was armed; booted_at: when a node then
# asked for its iPXE script (it PXE booted), None until it does.
# bmc_system_id, bmc_verify_ca: a Redfish BMC's system and how its certificate is checked
# (JSON: true, false or a CA bundle's path); NULL for IPMI.
# target: the action the conductor runs or ran last (conductor.py), JSON.
ADDED_COLUMNS = (("address", "TEXT"), ("armed_at", "REAL"), ("booted_at", "REAL"), ("bmc_system_id", "TEXT"),
                 ("bmc_verify_ca", "TEXT"), ("target", "TEXT"))
# indexes of older registries that a wider one replaced
DROPPED_INDEXES = ("nodes_bmc_endpoint",)

_WRITE_LOCK = threading.Lock()


def new_token():
    return secrets.token_urlsafe(24)


class Registry:
    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, "registry.sqlite")
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        # born 0600: credentials are never readable by others
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        # two threads making their Registry at once would both add the new columns
        with _WRITE_LOCK, self._connect() as db:
            db.executescript(SCHEMA)
            # columns added after a registry was first made
            have = {r[1] for r in db.execute("PRAGMA table_info(nodes)")}
            for column, decl in ADDED_COLUMNS:
                if column not in have:
                    db.execute("ALTER TABLE nodes ADD COLUMN %s %s" % (column, decl))
            self._migrate(db)

    def _migrate(self, db):
        """The MAC index and the unique indexes for a registry made before them."""
        if db.execute("SELECT 1 FROM node_macs LIMIT 1").fetchone() is None:
            for name, macs in db.execute("SELECT name, macs FROM nodes").fetchall():
                for mac in json.loads(macs or "[]"):
                    cur = db.execute("INSERT OR IGNORE INTO node_macs (mac, node) VALUES (?, ?)", (mac.lower(), name))
                    if not cur.rowcount:
                        LOG.warning("MAC %s is enrolled twice (node %r and another): fix the registry", mac, name)
        for index in DROPPED_INDEXES:
            db.execute("DROP INDEX IF EXISTS %s" % index)
        for index, on, shown in UNIQUE_INDEXES:
            try:
                db.execute("CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s" % (index, on))
            except sqlite3.IntegrityError:
                LOG.warning("the registry holds duplicates for %s: not enforced until they are fixed", shown)

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return _Conn(db, self.path)

    # -- reads -------------------------------------------------------------------
    def get(self, name):
        with self._connect() as db:
            row = db.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
        return _decode(row) if row else None

    def all(self):
        with self._connect() as db:
            return [_decode(r) for r in db.execute("SELECT * FROM nodes ORDER BY name")]

    def by_mac(self, mac):
        with self._connect() as db:
            row = db.execute("SELECT nodes.* FROM node_macs JOIN nodes ON nodes.name = node_macs.node "
                             "WHERE node_macs.mac = ?", (mac.lower(),)).fetchone()
        return _decode(row) if row else None

    def check_unique(self, name, macs=None, bmc=None, address=None):
        """A Conflict when node ``name`` would share a MAC, a BMC endpoint (address,
        port) or an address with another node (before a write; the write checks again)."""
        with self._connect() as db:
            _unique(db, name, macs, bmc, address)

    def history(self, name, limit=20):
        with self._connect() as db:
            rows = db.execute("SELECT * FROM history WHERE node = ? ORDER BY id DESC LIMIT ?", (name, limit)).fetchall()
        return [dict(r) for r in reversed(rows)]

    # -- writes ------------------------------------------------------------------
    def update(self, name, fields, event=None, detail=None, create=False, expect=None):
        """Set ``fields`` of node ``name`` (inserting it when ``create``) in one
        transaction. A provision_state change, or any ``event``, appends a history row.
        ``expect``: a function of the current row that returns False to abort (the row
        changed under us); the update then returns None. Returns the new row."""
        fields = dict(fields)
        if fields.get("last_error") is not None:
            fields["last_error"] = clean_text(fields["last_error"])
        detail = clean_text(detail)
        for key in JSON_COLUMNS:
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key], sort_keys=True)
        now = time.time()
        fields["updated_at"] = now
        with _WRITE_LOCK, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
                current = _decode(row) if row else None
                if expect is not None and not expect(current):
                    db.execute("ROLLBACK")
                    return None
                before = current["provision_state"] if current else None
                if current is None and not create:
                    db.execute("ROLLBACK")
                    return None
                _check_unique(db, name, fields, current)
                if current is None:
                    fields.setdefault("provision_state", "enrolled")
                    cols = ["name"] + list(fields)
                    db.execute("INSERT INTO nodes (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols))),
                               [name] + list(fields.values()))
                else:
                    db.execute("UPDATE nodes SET %s WHERE name = ?" % ", ".join("%s = ?" % k for k in fields),
                               list(fields.values()) + [name])
                if "macs" in fields:
                    db.execute("DELETE FROM node_macs WHERE node = ?", (name,))
                    db.executemany("INSERT INTO node_macs (mac, node) VALUES (?, ?)",
                                   [(mac.lower(), name) for mac in json.loads(fields["macs"] or "[]")])
                after = fields.get("provision_state", before)
                if after != before or event:
                    db.execute("INSERT INTO history (node, ts, from_state, to_state, event, detail) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (name, now, before, after, event or "update", detail))
                db.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk)
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return self.get(name)

    def delete(self, name, detail=None):
        with _WRITE_LOCK, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT provision_state FROM nodes WHERE name = ?", (name,)).fetchone()
            if row:
                db.execute("DELETE FROM nodes WHERE name = ?", (name,))
                db.execute("DELETE FROM node_macs WHERE node = ?", (name,))
                # the history outlives the node: who had this name, and when it went
                db.execute("INSERT INTO history (node, ts, from_state, to_state, event, detail) "
                           "VALUES (?, ?, ?, 'deleted', 'delete', ?)", (name, time.time(), row[0], detail))
            db.execute("COMMIT")


def _check_unique(db, name, fields, current):
    """The registry's invariants for this write, inside its transaction: a Conflict
    naming the field instead of the database's constraint error."""
    after = dict(current or {}, **fields)
    bmc = None
    if after.get("bmc_address") and ("bmc_address" in fields or "bmc_port" in fields or "bmc_system_id" in fields):
        bmc = (after["bmc_address"], after.get("bmc_port"), after.get("bmc_system_id"))
    _unique(db, name, json.loads(fields["macs"]) if fields.get("macs") is not None else None, bmc,
            fields.get("address"))


def _unique(db, name, macs, bmc, address):
    """Raise a Conflict naming the field when another node than ``name`` has one of
    ``macs``, the BMC endpoint ``bmc`` (address, port[, Redfish system id]) or the provisioning ``address``."""
    for i, mac in enumerate(macs or ()):
        row = db.execute("SELECT node FROM node_macs WHERE mac = ? AND node != ?", (mac.lower(), name)).fetchone()
        if row:
            raise Conflict("macs[%d]: MAC %s already belongs to node %r; a MAC address belongs to one NIC on "
                           "one node" % (i, mac, row[0]), field="macs[%d]" % i)
    if bmc:
        system = bmc[2] if len(bmc) > 2 else None
        row = db.execute("SELECT name FROM nodes WHERE bmc_address = ? AND bmc_port IS ? AND "
                         "ifnull(bmc_system_id, '') = ? AND name != ?",
                         (bmc[0], bmc[1], system or "", name)).fetchone()
        if row:
            raise Conflict("bmc.address: BMC %s port %s%s is the BMC of node %r already"
                           % (bmc[0], bmc[1], " system %s" % system if system else "", row[0]), field="bmc.address")
    if address:
        row = db.execute("SELECT name FROM nodes WHERE address = ? AND name != ?", (address, name)).fetchone()
        if row:
            raise Conflict("network.address: address %s is the provisioning address of node %r already"
                           % (address, row[0]), field="network.address")


class _Conn:
    """A connection closed (not merely committed) at the end of a with block. A full
    disk becomes an error that says so (SQLite's own words name neither the cause
    nor the place)."""

    def __init__(self, db, path):
        self.db = db
        self.path = path

    def __enter__(self):
        return self.db

    def __exit__(self, kind, exc, tb):
        self.db.close()
        if isinstance(exc, sqlite3.Error) and _disk_full(exc):
            raise StateDirFull("the undercloud's state directory is full (%s): free space there; the registry "
                               "was not changed" % os.path.dirname(self.path)) from exc


class StateDirFull(AgentError):
    status = 507
    code = "state_dir_full"


def _disk_full(exc):
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def _decode(row):
    node = dict(row)
    for key in JSON_COLUMNS:
        if node.get(key) is not None:
            node[key] = json.loads(node[key])
    node["deploy_done"] = bool(node["deploy_done"])
    return node
