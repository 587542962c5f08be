# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find each replica of a Swift object on the storage server the object ring names.

    swift_replicas.py PREFIX

Run on a Swift proxy host (it reaches the storage network): Swift's internal client
(/etc/swift/internal-client.conf) writes PREFIX-<random> of random bytes in the
account .stackwright_validate; every primary node of the object ring for it is asked
directly (HEAD on its object server, which reads the object from its device) and its
ETag compared; the object and its container are then deleted. Prints one JSON line: {ok, detail,
replicas: [{ip, port, device, found}], expected}. Exit status 0 whatever the verdict
(a server that is down or an object not written is a verdict); a crash is a traceback.
"""
import hashlib
import io
import json
import os
import sys

import eventlet
from swift.common import direct_client
from swift.common.internal_client import InternalClient
from swift.common.ring import Ring

ACCOUNT = ".stackwright_validate"
CONTAINER = "replicas"


def main(argv):
    name = "%s-%s" % (argv[1], os.urandom(4).hex())
    data = os.urandom(64 * 1024)
    etag = hashlib.md5(data).hexdigest()
    client = InternalClient("/etc/swift/internal-client.conf", "stackwright-validate", 3)
    ring = Ring("/etc/swift", ring_name="object")
    try:
        client.create_container(ACCOUNT, CONTAINER)
        client.upload_object(io.BytesIO(data), ACCOUNT, CONTAINER, name)
    except Exception as exc:
        print(json.dumps({"ok": False, "detail": "the object could not be written: %s: %s" % (type(exc).__name__, exc),
                          "replicas": [], "expected": int(ring.replica_count)}))
        return 0
    try:
        part, nodes = ring.get_nodes(ACCOUNT, CONTAINER, name)
        replicas = []
        for node in nodes:
            try:
                headers = direct_client.direct_head_object(node, part, ACCOUNT, CONTAINER, name)
                found = "yes" if headers.get("etag", "").strip('"') == etag else "wrong ETag %s" % headers.get("etag")
            except direct_client.ClientException as exc:
                found = "no (%s)" % (exc.http_status or exc)
            except (Exception, eventlet.Timeout) as exc:  # refused, unreachable, timed out
                found = "no (%s: %s)" % (type(exc).__name__, exc)
            replicas.append({"ip": node["ip"], "port": node["port"], "device": node["device"], "found": found})
    finally:
        client.delete_object(ACCOUNT, CONTAINER, name)
        client.delete_container(ACCOUNT, CONTAINER)
    expected = int(ring.replica_count)
    where = ", ".join("%s:%s/%s %s" % (r["ip"], r["port"], r["device"], r["found"]) for r in replicas)
    hosts = {r["ip"] for r in replicas}
    ok = len(replicas) == expected and all(r["found"] == "yes" for r in replicas)
    detail = "%d of %d replicas of %s where the ring puts them, on %d host(s): %s" % (
        sum(r["found"] == "yes" for r in replicas), expected, name, len(hosts), where)
    print(json.dumps({"ok": ok, "detail": detail, "replicas": replicas, "expected": expected}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
