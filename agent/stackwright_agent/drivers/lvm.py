"""LVM volume groups and logical volumes through lvm2's JSON reports.

Volume groups grow: listed devices are made PVs and added; PVs that are not
listed are never removed (moving data off a PV is an operator's decision).
Logical volumes grow too (lvextend); shrinking is refused.

Sizes are not part of a volume group's resource: what a device yields after
pvcreate depends on LVM's alignment and metadata settings, so it cannot be
predicted exactly, and check mode must predict exactly what a run leaves.

On a kernel without device-mapper LVM metadata still works: volume groups can
be managed and logical volumes created, extended and removed inactive, which is
what this driver then does; activation and thin pools are refused as Unsupported.
"""

import functools
import os
import re
import stat
from decimal import ROUND_CEILING, Decimal

from .. import schema as s
from ..errors import CommandFailed, Conflict, InvalidField, Unsupported
from . import Driver, run, run_json

NO_DM_MESSAGE = ("device-mapper is not available in this kernel: logical volumes can be created only "
                 "with active: false (thin pools not at all)")

OPT_NAME = s.Str(max_len=64, pattern=s.NAME.pattern.pattern, hint=s.NAME.hint)

# lvcreate -L reads units as powers of 1024, upper or lower case alike.
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:([kmgtpe])(?:i?b)?|(b))", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(\d{1,3})%(FREE|VG)", re.IGNORECASE)
_UNIT_POWER = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
# LVM keeps these for its own hidden sub-volumes and refuses them in LV names.
_RESERVED_LV = re.compile(r"^(snapshot|pvmove)|_(cdata|cmeta|corig|iorig|imeta|mimage|mlog|pmspare|"
                          r"rimage|rmeta|tdata|tmeta|vdata|vorigin|wcorig)")


def parse_size(value, field="size"):
    """``("bytes", n)`` for '512M', '2.5G', '4096b'; ``("percent", n, "FREE"|"VG")`` for '50%VG'."""
    match = _PERCENT_RE.fullmatch(value.strip())
    if match:
        pct = int(match.group(1))
        if not 1 <= pct <= 100:
            raise InvalidField(field, "%r: a percentage must be between 1 and 100" % value)
        return ("percent", pct, match.group(2).upper())
    match = _SIZE_RE.fullmatch(value.strip())
    if not match:
        raise InvalidField(field, "%r is not a size; write it like 512M, 2.5G or 1T (units of 1024), "
                                  "or 100%%FREE / 50%%VG" % value)
    power = _UNIT_POWER[match.group(2).lower()] if match.group(2) else 0
    size = int((Decimal(match.group(1)) * 1024 ** power).to_integral_value(rounding=ROUND_CEILING))
    if size <= 0:
        raise InvalidField(field, "%r: a size must be larger than 0" % value)
    return ("bytes", size)


class Size(s.Str):
    """A size as lvcreate takes it; checked when the request is parsed."""

    def check(self, value, path):
        value = super().check(value, path)
        parse_size(value, path)
        return value


@functools.lru_cache(maxsize=None)
def device_mapper_available():
    """Whether the kernel offers device-mapper; asked once, it does not change while we run."""
    try:
        with open("/proc/misc", encoding="ascii") as fh:
            if any(line.split()[1:] == ["device-mapper"] for line in fh):
                return True
    except OSError:
        pass
    # a modular device-mapper shows in /proc/misc only once loaded; dmsetup loads it
    try:
        run(["dmsetup", "version"])
    except (CommandFailed, OSError):
        return False
    return True


def _no_dm_args():
    """Arguments that keep LVM from talking to a device-mapper that is not there."""
    return [] if device_mapper_available() else ["--driverloaded", "n"]


def report(command, fields, *args):
    """Rows of an lvm2 JSON report (``pvs``, ``vgs`` or ``lvs``), sizes in bytes."""
    out = run_json([command, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields] + list(args))
    rows = []
    for part in (out or {}).get("report", []):
        rows.extend(part.get(command[:-1], []))
    return rows


def canonical(path):
    """Compare devices by their kernel name, so /dev/disk/by-id links match what LVM reports."""
    return os.path.realpath(path) if path.startswith("/") else path


def pv_owners():
    """{device: VG name, or "" for a PV in no VG} for every PV LVM sees."""
    return {canonical(r["pv_name"]): r["vg_name"] for r in report("pvs", "pv_name,vg_name")}


def vg_info(name):
    """The VG's extent geometry in bytes and extents, or None when there is no such VG."""
    for r in report("vgs", "vg_name,vg_extent_size,vg_extent_count,vg_free_count,lv_count"):
        if r["vg_name"] == name:
            return {"extent_size": int(r["vg_extent_size"]), "extents": int(r["vg_extent_count"]),
                    "free_extents": int(r["vg_free_count"]), "lv_count": int(r["lv_count"])}
    return None


def _signature(device):
    """What blkid finds on the device (a filesystem, partition table...), or None."""
    out = run(["blkid", "-p", "-o", "export", device], check=False)
    found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return found.get("TYPE") or (found.get("PTTYPE") and "%s partition table" % found["PTTYPE"])


VG_SCHEMA = s.Obj({
    "name": s.NAME,
    "pvs": s.List(s.Path(hint="give a device path like /dev/sdb"), unique=True,
                  doc="devices to make PVs of and add; PVs not listed are left in the VG"),
    "state": s.Enum("present", "absent", default="present"),
    "force": s.Bool(default=False, doc="allow removing a VG that still holds logical volumes"),
})


class VolumeGroupDriver(Driver):
    kind = "volume_groups"
    schema = VG_SCHEMA

    def validate(self, spec):
        if spec["state"] == "absent":
            return
        owners = pv_owners()
        seen = {}
        for i, dev in enumerate(spec["pvs"] or []):
            field = "pvs[%d]" % i
            try:
                mode = os.stat(dev).st_mode
            except OSError:
                raise InvalidField(field, "%s does not exist" % dev)
            if not stat.S_ISBLK(mode):
                raise InvalidField(field, "%s is not a block device" % dev)
            real = canonical(dev)
            if real in seen:
                raise InvalidField(field, "%s is the same device as pvs[%d]" % (dev, seen[real]))
            seen[real] = i
            owner = owners.get(real)
            if owner and owner != spec["name"]:
                raise InvalidField(field, "%s is already a physical volume of volume group %r" % (dev, owner))
            if owner is None:
                found = _signature(real)
                if found:
                    # pvcreate would ask before wiping it; we never wipe data on our own
                    raise InvalidField(field, "%s holds a %s signature; wipe it first (wipefs -a %s) if "
                                              "its data is no longer needed" % (dev, found, dev))
        if not spec["pvs"] and vg_info(spec["name"]) is None:
            raise InvalidField("pvs", "is required to create volume group %r: list its devices" % spec["name"])

    def read(self, spec):
        info = vg_info(spec["name"])
        if info is None:
            return None
        pvs = sorted(dev for dev, vg in pv_owners().items() if vg == spec["name"])
        return {"name": spec["name"], "state": "present", "pvs": pvs, "lv_count": info["lv_count"]}

    def predict(self, spec, current):
        if spec["state"] == "absent":
            if current and current["lv_count"] and not spec["force"]:
                raise Conflict("volume group %r still holds %d logical volume(s); set force: true to remove "
                               "them with it" % (spec["name"], current["lv_count"]), field="force")
            return None
        wanted = {canonical(d) for d in spec["pvs"] or []}
        if current is None:
            return {"name": spec["name"], "state": "present", "pvs": sorted(wanted), "lv_count": 0}
        return dict(current, pvs=sorted(set(current["pvs"]) | wanted))

    def converge(self, spec, current):
        name = spec["name"]
        if spec["state"] == "absent":
            run(["vgremove"] + (["-f"] if spec["force"] else []) + _no_dm_args() + [name])
            # a missing PV shows as "[unknown]": nothing to wipe there
            pvs = [d for d in current["pvs"] if d.startswith("/")]
            if pvs:
                run(["pvremove"] + pvs)
            return
        owners = pv_owners()
        devices = [canonical(d) for d in spec["pvs"] or []]
        fresh = [d for d in devices if d not in owners]
        if fresh:
            run(["pvcreate"] + fresh)  # no -y: should a signature appear meanwhile, LVM refuses
        if current is None:
            run(["vgcreate", name] + devices)
            return
        added = [d for d in devices if d not in current["pvs"]]
        if added:
            run(["vgextend", name] + added)

    def list(self, query):
        return [self.read({"name": r["vg_name"]}) for r in report("vgs", "vg_name")]


LV_SCHEMA = s.Obj({
    "vg": s.NAME,
    "name": s.NAME,
    "size": Size(doc="512M, 2.5G (units of 1024), or 100%FREE / 50%VG (applied at creation only)"),
    "state": s.Enum("present", "absent", default="present"),
    "active": s.Bool(default=True),
    "thin_pool": OPT_NAME,
    # None keeps an existing LV's type; a new one is linear unless thin_pool makes it thin
    "type": s.Enum("linear", "thin-pool", doc="linear (the default when created) or thin-pool"),
})

LV_FIELDS = "vg_name,lv_name,lv_size,lv_attr,segtype,pool_lv"


def _lv_resource(row):
    return {"vg": row["vg_name"], "name": row["lv_name"], "state": "present", "size_bytes": int(row["lv_size"]),
            # lv_attr's 5th character is the activation state; without device-mapper it reads 'X'
            "active": row["lv_attr"][4:5] == "a", "type": row["segtype"],
            # pool_lv also names the pool of cache and VDO volumes, which are no thin volumes
            "thin_pool": (row["pool_lv"] or None) if row["segtype"] == "thin" else None}


def _round_up(size, extent):
    """lvcreate and lvextend round a size up to whole extents."""
    return -(-size // extent) * extent


def lvs(vg=None):
    return [r for r in report("lvs", LV_FIELDS) if vg is None or r["vg_name"] == vg]


class LogicalVolumeDriver(Driver):
    kind = "volumes"
    schema = LV_SCHEMA
    query_keys = ("vg",)  # GET /v1/volumes?vg=<vg>

    def identity(self, spec):
        return "%s/%s" % (spec["vg"], spec["name"])

    def spec_from_path(self, ident, query):
        parts = ident.split("/")
        if len(parts) != 2 or not all(parts):
            raise InvalidField("path", "address a logical volume as /v1/volumes/<vg>/<lv>, not %r" % ident)
        return {"vg": parts[0], "name": parts[1]}

    def validate(self, spec):
        if spec["state"] == "absent":
            return
        if not device_mapper_available():
            for field, wanted in (("active", spec["active"]), ("type", spec["type"] == "thin-pool"),
                                  ("thin_pool", spec["thin_pool"])):
                if wanted:
                    raise Unsupported(NO_DM_MESSAGE, field=field)
        if _RESERVED_LV.search(spec["name"]):
            raise InvalidField("name", "%r is reserved by LVM for its internal volumes" % spec["name"])
        if vg_info(spec["vg"]) is None:
            raise InvalidField("vg", "volume group %r does not exist (see 'vgs')" % spec["vg"])
        size = parse_size(spec["size"]) if spec["size"] else None
        if spec["thin_pool"]:
            if spec["type"]:
                raise InvalidField("type", "a thin volume (thin_pool set) takes no type")
            pool = self.read({"vg": spec["vg"], "name": spec["thin_pool"]})
            if pool is None or pool["type"] != "thin-pool":
                raise InvalidField("thin_pool", "volume group %r has no thin pool %r"
                                   % (spec["vg"], spec["thin_pool"]))
        if size and size[0] == "percent" and (spec["thin_pool"] or spec["type"] == "thin-pool"):
            # thin sizes are virtual, and a pool's metadata takes space beside its data
            raise InvalidField("size", "give thin volumes and thin pools an absolute size, like 10G")
        if size is None and self.read(spec) is None:
            raise InvalidField("size", "is required to create logical volume %s" % self.identity(spec))

    def read(self, spec):
        for row in lvs(spec["vg"]):
            if row["lv_name"] == spec["name"]:
                return _lv_resource(row)
        return None

    def predict(self, spec, current):
        if spec["state"] == "absent":
            if current and current["type"] == "thin-pool":
                users = sorted(r["lv_name"] for r in lvs(spec["vg"]) if r["pool_lv"] == spec["name"])
                if users:
                    raise Conflict("thin pool %s still holds thin volume(s) %s; remove them first"
                                   % (self.identity(spec), ", ".join(users)), field="state")
            return None
        vg = vg_info(spec["vg"])
        if vg is None:  # removed since validate() looked
            raise InvalidField("vg", "volume group %r does not exist (see 'vgs')" % spec["vg"])
        extent = vg["extent_size"]
        size = parse_size(spec["size"]) if spec["size"] else None
        if current is None:
            kind = "thin" if spec["thin_pool"] else spec["type"] or "linear"
            if size[0] == "bytes":
                wanted = _round_up(size[1], extent)
            else:  # lvcreate rounds a percentage down to whole extents
                base = vg["free_extents"] if size[2] == "FREE" else vg["extents"]
                wanted = size[1] * base // 100 * extent
                if not wanted:
                    raise Conflict("%s of volume group %r is less than one extent" % (spec["size"], spec["vg"]),
                                   field="size")
            if kind != "thin":
                self._check_free(spec, vg, wanted)
            return {"vg": spec["vg"], "name": spec["name"], "state": "present", "size_bytes": wanted,
                    "active": spec["active"], "type": kind, "thin_pool": spec["thin_pool"]}
        for field, cur in (("type", current["type"]), ("thin_pool", current["thin_pool"])):
            if spec[field] and spec[field] != cur:
                raise Conflict("logical volume %s is %s=%r; changing that is not supported"
                               % (self.identity(spec), field, cur), field=field)
        wanted = current["size_bytes"]
        if size and size[0] == "bytes":  # percentages were applied at creation
            wanted = _round_up(size[1], extent)
            if wanted < current["size_bytes"]:
                raise Conflict("shrinking logical volume %s from %d to %d bytes is not supported"
                               % (self.identity(spec), current["size_bytes"], wanted), field="size")
            if current["type"] != "thin":
                self._check_free(spec, vg, wanted - current["size_bytes"])
        return dict(current, size_bytes=wanted, active=spec["active"])

    @staticmethod
    def _check_free(spec, vg, needed):
        free = vg["free_extents"] * vg["extent_size"]
        if needed > free:
            raise Conflict("%s needs %d bytes of free space but volume group %r has only %d"
                           % (spec["size"], needed, spec["vg"], free), field="size")

    def converge(self, spec, current):
        target = self.identity(spec)
        if spec["state"] == "absent":
            run(["lvremove", "-y"] + _no_dm_args() + [target])
            return
        want = self.predict(spec, current)
        size = "%db" % want["size_bytes"]  # already whole extents, so LVM creates exactly this
        if current is None:
            argv = ["lvcreate", "-y", "-n", spec["name"]]
            if want["type"] == "thin":
                argv += ["-V", size, "--thinpool", spec["thin_pool"]]
            else:
                argv += (["--type", "thin-pool"] if want["type"] == "thin-pool" else []) + ["-L", size]
            if not spec["active"]:
                # an inactive LV cannot be zeroed; the pool zeroes thin volumes itself
                argv += ["--activate", "n"] + (["-Zn"] if want["type"] == "linear" else [])
            run(argv + _no_dm_args() + [spec["vg"]])
            return
        if want["size_bytes"] > current["size_bytes"]:
            run(["lvextend", "-L", size] + _no_dm_args() + [target])
        if want["active"] != current["active"]:
            run(["lvchange", "-ay" if want["active"] else "-an"] + _no_dm_args() + [target])

    def list(self, query):
        vg = query.get("vg")
        if vg and vg_info(vg) is None:
            raise InvalidField("vg", "volume group %r does not exist" % vg)
        return [_lv_resource(r) for r in sorted(lvs(vg), key=lambda r: (r["vg_name"], r["lv_name"]))]
