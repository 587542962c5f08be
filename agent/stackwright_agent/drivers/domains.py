"""KVM/QEMU domains with libvirt-python (placeholder until implemented)."""
from . import Driver


class DomainDriver(Driver):
    kind = "domains"
