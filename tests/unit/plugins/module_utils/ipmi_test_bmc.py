"""A small IPMI server on 127.0.0.1 for the IPMI client's tests: pyghmi's BMC
server with the virtual BMC's session handshake (agent/stackwright_agent/vbmc.py,
which keeps pyghmi's stock client working against it), power and boot device
kept in memory.

    python ipmi_test_bmc.py USER PASSWORD READBACK [--silent-to-unknown-users]

It prints its UDP port on stdout, then serves until killed. READBACK is what
Get System Boot Options reports after a boot device was set: ``kept`` (the
device set, as most BMCs do), ``unset`` (boot flags not valid) or an IPMI device
name such as ``default``: stand-ins for the vendors' BMCs that accept a boot
device and then read back no override, which no other BMC on this machine does."""

import contextlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 4, "agent"))

import pyghmi.ipmi.bmc as bmc  # noqa: E402
import pyghmi.ipmi.command as ipmicommand  # noqa: E402
import pyghmi.ipmi.private.serversession as serversession  # noqa: E402
import pyghmi.ipmi.private.session as ipmisession  # noqa: E402

from stackwright_agent import vbmc  # noqa: E402


class MemoryBmc(vbmc.VirtualBmc):
    """The virtual BMC's RMCP+ handshake (SHA-1 only, see vbmc._Sha1OnlySession)
    and pyghmi's own chassis and boot option commands (the EFI boot type bit kept);
    no libvirt behind it."""

    get_chassis_status = bmc.Bmc.get_chassis_status

    def __init__(self, user, password, readback):
        bmc.Bmc.__init__(self, {user: password}, port=0, address="127.0.0.1")
        # sessions are filed under the port: the one the system picked
        self.port = self.serversocket.getsockname()[1]
        self.readback = readback
        self.device = "hd"
        self.uefi = False
        self.persistent = False
        self.power = "off"

    def get_boot_device(self):
        return self.device if self.readback == "kept" else self.readback

    def get_system_boot_options(self, request, session):
        if self.readback == "unset" and request["data"][0] == 5:
            # boot flags without their "valid" bit: no override at all
            return session.send_ipmi_response(data=[1, 5, 0, 0, 0, 0, 0])
        if self.readback == "kept" and request["data"][0] == 5:
            # pyghmi's answer, with the boot type bit (EFI) as it was set
            device = ipmicommand.boot_devices.get(self.device, self.device)
            return session.send_ipmi_response(data=[1, 5, 0b10000000 | (0b1000000 if self.persistent else 0) |
                                                    (0b100000 if self.uefi else 0), device, 0, 0, 0])
        return bmc.Bmc.get_system_boot_options(self, request, session)

    def set_system_boot_options(self, request, session):
        if request["data"][0] == 5:
            self.uefi = bool(request["data"][1] & 0b100000)
            self.persistent = bool(request["data"][1] & 0b1000000)
        return bmc.Bmc.set_system_boot_options(self, request, session)

    def set_boot_device(self, device):
        self.device = device

    def get_power_state(self):
        return self.power

    def power_on(self):
        self.power = "on"

    def power_off(self):
        self.power = "off"

    def power_reset(self):
        return 0xCC  # refused: invalid data field in request

    def pulse_diag(self):
        return 0xC0  # node busy, for ever


@contextlib.contextmanager
def running(user, password, readback="kept", *flags):
    """This server in a process of its own (pyghmi's client and server share
    module state, so not in the test's process); yields its port, stops it by PID."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), user, password, readback] + list(flags),
                            stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def main():
    if "--silent-to-unknown-users" in sys.argv:
        # as pyghmi's own server and some BMCs do: no RAKP 2 for a user name it does not know
        vbmc._Sha1OnlySession._got_rakp1 = serversession.ServerSession._got_rakp1
    server = MemoryBmc(*sys.argv[1:4])
    print(server.port, flush=True)
    while True:
        ipmisession.Session.wait_for_rsp(timeout=30)


if __name__ == "__main__":
    main()
