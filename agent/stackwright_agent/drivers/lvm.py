"""LVM (placeholder until implemented)."""
from . import Driver


class VolumeGroupDriver(Driver):
    kind = "volume_groups"


class LogicalVolumeDriver(Driver):
    kind = "volumes"
