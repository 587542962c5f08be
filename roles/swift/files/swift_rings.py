# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make Swift's account, container and object rings hold the devices asked for.

Argument: the request as base64 of JSON - {dir, part_power, replicas, min_part_hours,
ports: {account, container, object}, devices: [{host, ip, region, zone, device,
weight}]}. For each ring the builder in DIR (made when missing) gets the devices it
lacks, the weights and replica count asked for, and loses the devices not asked for;
where anything changed, or the ring file is missing, it is rebalanced and the ring
written. Prints one JSON line: {changed, rings: {name: what was done}}; exits 1 with
{msg} when the request cannot be met. Swift's own RingBuilder does the work, as
swift-ring-builder would.
"""
import base64
import json
import os
import sys

from swift.common.exceptions import SwiftException
from swift.common.ring import RingBuilder

RINGS = ("account", "container", "object")


def converge(path, ring_path, request, port):
    """Bring one builder to the request; return what was done (a list of words)."""
    done = []
    if os.path.exists(path):
        builder = RingBuilder.load(path)
        if builder.part_power != request["part_power"]:
            raise ValueError("%s has part power %d, not %d: the part power of a ring cannot change"
                             % (path, builder.part_power, request["part_power"]))
    else:
        builder = RingBuilder(request["part_power"], request["replicas"], request["min_part_hours"])
        done.append("created")
    if builder.replicas != request["replicas"]:
        builder.set_replicas(request["replicas"])
        done.append("replicas %s" % request["replicas"])
    if builder.min_part_hours != request["min_part_hours"]:
        builder.change_min_part_hours(request["min_part_hours"])
        done.append("min_part_hours %s" % request["min_part_hours"])
    wanted = {(d["ip"], port, d["device"]): d for d in request["devices"]}
    have = {(d["ip"], d["port"], d["device"]): d for d in builder.devs if d is not None}
    for key, dev in have.items():
        if key not in wanted:
            builder.remove_dev(dev["id"])
            done.append("removed %s:%s/%s" % key)
            continue
        want = wanted[key]
        if float(dev["weight"]) != float(want["weight"]):
            builder.set_dev_weight(dev["id"], float(want["weight"]))
            done.append("weight of %s:%s/%s" % key)
        if dev["region"] != int(want["region"]):
            builder.set_dev_region(dev["id"], int(want["region"]))
            done.append("region of %s:%s/%s" % key)
        if dev["zone"] != int(want["zone"]):
            builder.set_dev_zone(dev["id"], int(want["zone"]))
            done.append("zone of %s:%s/%s" % key)
    for key, dev in wanted.items():
        if key not in have:
            builder.add_dev({"region": int(dev["region"]), "zone": int(dev["zone"]), "ip": dev["ip"], "port": port,
                             "device": dev["device"], "weight": float(dev["weight"]), "meta": dev.get("host", "")})
            done.append("added %s:%s/%s" % key)
    if done or not os.path.exists(ring_path):
        builder.rebalance()
        save(builder, path, ring_path)
        done.append("rebalanced")
    elif builder.min_part_seconds_left == 0:
        # a rebalance min_part_hours held back (partitions it could not move yet):
        # finished on a later run; on a balanced ring it moves nothing
        moved, balance, _ = builder.rebalance()
        if moved:
            save(builder, path, ring_path)
            done.append("rebalanced (%d partitions moved, balance %.2f)" % (moved, balance))
    return done


def save(builder, path, ring_path):
    builder.validate()
    builder.save(path)
    builder.get_ring().save(ring_path)


def main(argv):
    try:
        request = json.loads(base64.b64decode(argv[1]))
        if not request["devices"]:
            raise ValueError("no storage devices: a server role must list swift_storage")
        rings = {}
        for name in RINGS:
            rings[name] = converge(os.path.join(request["dir"], name + ".builder"),
                                   os.path.join(request["dir"], name + ".ring.gz"), request, request["ports"][name])
    except (IndexError, KeyError, TypeError, ValueError, SwiftException) as exc:
        print(json.dumps({"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc)}))
        return 1
    print(json.dumps({"changed": any(rings.values()), "rings": rings}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
