# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a RabbitMQ account exist with a password and full rights on its vhost (/ unless
given; made if missing), without the password ever being a command-line argument (journald
records every process's command line): the password comes on stdin, is compared with the
stored salted hash from `rabbitmqctl export_definitions`, and is set through
`import_definitions` as a hash.
Usage: python3 rabbitmq_account.py USER [VHOST] < password. Prints what it changed, nothing if
nothing."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def hashed(password, salt):
    # rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)), 4-byte salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def main():
    user = sys.argv[1]
    vhost = sys.argv[2] if len(sys.argv) > 2 else "/"
    password = sys.stdin.read().rstrip("\n")
    definitions = json.loads(subprocess.run(["rabbitmqctl", "-q", "export_definitions", "-"], check=True,
                                            capture_output=True, text=True).stdout)
    current = next((u for u in definitions.get("users", []) if u["name"] == user), None)
    changes = []
    if not any(v["name"] == vhost for v in definitions.get("vhosts", [])):
        changes.append("vhost %s created" % vhost)
    if current is None:
        changes.append("created")
    else:
        stored = base64.b64decode(current.get("password_hash") or "")
        if current.get("hashing_algorithm") != "rabbit_password_hashing_sha256" or \
                hashed(password, stored[:4]) != current["password_hash"]:
            changes.append("password set")
    rights = [p for p in definitions.get("permissions", []) if p["user"] == user and p["vhost"] == vhost]
    if not rights or (rights[0]["configure"], rights[0]["write"], rights[0]["read"]) != (".*", ".*", ".*"):
        changes.append("permissions set")
    if not changes:
        return
    wanted = {
        "users": [{"name": user, "password_hash": hashed(password, os.urandom(4)),
                   "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": current["tags"] if current else []}],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:  # 0600, removed on close
        json.dump(wanted, f)
        f.flush()
        os.chmod(f.name, 0o644)  # rabbitmqctl reads it as the rabbitmq user
        subprocess.run(["rabbitmqctl", "-q", "import_definitions", f.name], check=True, capture_output=True)
    print(", ".join(changes))


if __name__ == "__main__":
    main()
