"""Append-only journal of applied operations (JSON lines, fsynced).

Every change is written twice: ``started`` before the driver touches the node and
``completed`` or ``failed`` after. An operation that has a ``started`` entry and no
end was cut short (the agent died); on start-up the agent records it as
``interrupted`` so the journal always says which operations finished.
"""

import json
import os
import threading
import time
import uuid


class Journal:
    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        self._mark_interrupted()

    def _append(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())

    def begin(self, kind, identity, action, request):
        op = uuid.uuid4().hex[:12]
        self._append({"op": op, "ts": time.time(), "phase": "started", "kind": kind,
                      "resource": identity, "action": action, "request": request})
        return op

    def end(self, op, kind, identity, error=None, after=None):
        entry = {"op": op, "ts": time.time(), "kind": kind, "resource": identity,
                 "phase": "failed" if error else "completed"}
        if error:
            entry["error"] = error
        else:
            entry["after"] = after
        self._append(entry)

    def entries(self, limit=100, kind=None, resource=None):
        out = []
        try:
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash mid-write
                    if kind and entry.get("kind") != kind:
                        continue
                    if resource and entry.get("resource") != resource:
                        continue
                    out.append(entry)
        except FileNotFoundError:
            return []
        return out[-limit:] if limit else out

    def _mark_interrupted(self):
        open_ops = {}
        for entry in self.entries(limit=0):
            if entry.get("phase") == "started":
                open_ops[entry["op"]] = entry
            else:
                open_ops.pop(entry.get("op"), None)
        for op, entry in open_ops.items():
            self._append({"op": op, "ts": time.time(), "kind": entry["kind"],
                          "resource": entry["resource"], "phase": "interrupted",
                          "error": "the agent stopped before this operation finished"})
