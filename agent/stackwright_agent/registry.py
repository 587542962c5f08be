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
"""

import json
import os
import secrets
import sqlite3
import threading
import time

STATES = ("enrolled", "verified", "inspected", "available", "deploying", "active", "cleaning", "failed", "deleted")

# columns stored as JSON text
JSON_COLUMNS = ("macs", "root_device", "network", "properties", "inspection", "action")

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
"""

# armed_at: when the current ramdisk action was armed; booted_at: when a node then
# asked for its iPXE script (it PXE booted), None until it does.
ADDED_COLUMNS = (("address", "TEXT"), ("armed_at", "REAL"), ("booted_at", "REAL"))

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

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return _Conn(db)

    # -- reads -------------------------------------------------------------------
    def get(self, name):
        with self._connect() as db:
            row = db.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
        return _decode(row) if row else None

    def all(self):
        with self._connect() as db:
            return [_decode(r) for r in db.execute("SELECT * FROM nodes ORDER BY name")]

    def by_mac(self, mac):
        mac = mac.lower()
        for node in self.all():
            if mac in node["macs"]:
                return node
        return None

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
                if current is None:
                    if not create:
                        db.execute("ROLLBACK")
                        return None
                    fields.setdefault("provision_state", "enrolled")
                    cols = ["name"] + list(fields)
                    db.execute("INSERT INTO nodes (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols))),
                               [name] + list(fields.values()))
                else:
                    db.execute("UPDATE nodes SET %s WHERE name = ?" % ", ".join("%s = ?" % k for k in fields),
                               list(fields.values()) + [name])
                after = fields.get("provision_state", before)
                if after != before or event:
                    db.execute("INSERT INTO history (node, ts, from_state, to_state, event, detail) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (name, now, before, after, event or "update", detail))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return self.get(name)

    def delete(self, name, detail=None):
        with _WRITE_LOCK, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT provision_state FROM nodes WHERE name = ?", (name,)).fetchone()
            if row:
                db.execute("DELETE FROM nodes WHERE name = ?", (name,))
                # the history outlives the node: who had this name, and when it went
                db.execute("INSERT INTO history (node, ts, from_state, to_state, event, detail) "
                           "VALUES (?, ?, ?, 'deleted', 'delete', ?)", (name, time.time(), row[0], detail))
            db.execute("COMMIT")


class _Conn:
    """A connection closed (not merely committed) at the end of a with block."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        return self.db

    def __exit__(self, *exc):
        self.db.close()


def _decode(row):
    node = dict(row)
    for key in JSON_COLUMNS:
        if node.get(key) is not None:
            node[key] = json.loads(node[key])
    node["deploy_done"] = bool(node["deploy_done"])
    return node
