#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The undercloud backup's helper, run with the undercloud's Python. Prints one JSON
object; {"error": "..."} and exit 1 when something is wrong.

  registry LIVE COPY   a consistent copy of the node registry (SQLite's online backup:
                       the conductor keeps writing), proven: integrity_check on the copy,
                       its node count within the live counts taken before and after
  check DB             integrity_check and node count of a registry copy
  images STORE         the image store's manifest: each file's name, size, mode, sha256
                       (a big image's from the .sha256 beside it), big or not
  verify STORE FILE    which files of the manifest FILE are missing or different now
"""

import hashlib
import json
import os
import re
import sqlite3
import sys

try:
    from urllib.parse import quote
except ImportError:  # Python 2: never the undercloud's, but compiled by sanity
    from urllib import quote

HEX = re.compile(r"[0-9a-f]{64}\Z")


class Problem(Exception):
    pass


def _open(path):
    if not os.path.isfile(path):
        raise Problem("no registry at %s" % path)
    return sqlite3.connect("file:%s?mode=ro" % quote(os.path.abspath(path)), uri=True, timeout=30)


def _nodes(db):
    return db.execute("SELECT count(*) FROM nodes").fetchone()[0]


def check(path):
    db = _open(path)
    try:
        result = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise Problem("registry %s fails SQLite's integrity check: %s" % (path, "; ".join(result[:5])))
        return {"nodes": _nodes(db)}
    except sqlite3.DatabaseError as exc:
        raise Problem("registry %s cannot be read: %s" % (path, exc))
    finally:
        db.close()


def registry(live, copy):
    src = _open(live)
    try:
        before = _nodes(src)
        dst = sqlite3.connect(copy)
        try:
            # all pages in one step: one snapshot, under a read lock the writers wait out
            src.backup(dst)
        finally:
            dst.close()
        after = _nodes(src)
    finally:
        src.close()
    os.chmod(copy, 0o600)
    out = check(copy)
    if not min(before, after) <= out["nodes"] <= max(before, after):
        raise Problem("the registry's copy holds %d nodes, the live registry %d before and %d after it: "
                      "the copy is not the registry" % (out["nodes"], before, after))
    out.update(live_before=before, live_after=after)
    return out


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path):
    try:
        with open(path + ".sha256", encoding="utf-8") as fh:
            words = fh.read().split()
    except OSError:
        return None
    return words[0].lower() if words and HEX.match(words[0].lower()) else None


def images(store):
    found = []
    for top, dirs, files in os.walk(store):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            st = os.stat(path)
            known = _sidecar(path)
            found.append({"name": os.path.relpath(path, store), "size": st.st_size,
                          "mode": "%04o" % (st.st_mode & 0o7777), "big": known is not None,
                          "sha256": known or _sha256(path)})
    return {"images": found}


def verify(store, manifest):
    with open(manifest, encoding="utf-8") as fh:
        wanted = json.load(fh)["images"]
    missing, different = [], []
    for image in wanted:
        path = os.path.join(store, image["name"])
        if not os.path.isfile(path):
            missing.append(image["name"])
        elif os.path.getsize(path) != image["size"] or _sha256(path) != image["sha256"]:
            different.append(image["name"])
    return {"missing": missing, "different": different}


def main(argv):
    commands = {"registry": (registry, 2), "check": (check, 1), "images": (images, 1), "verify": (verify, 2)}
    if len(argv) < 1 or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        print(json.dumps({"error": "usage: %s" % __doc__.strip()}))
        return 2
    try:
        print(json.dumps(commands[argv[0]][0](*argv[1:])))
    except (Problem, OSError, ValueError, KeyError, sqlite3.Error) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
