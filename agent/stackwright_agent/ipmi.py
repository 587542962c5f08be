# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""IPMI over LAN (lanplus) with pyghmi, as BMCs need it: every call retried with
backoff when the BMC is busy or silent, and calls to one BMC spaced out across
processes, because many BMCs drop requests (or crash) when hammered."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX node
    fcntl = None

try:
    from pyghmi.ipmi import command as ipmi_command
    from pyghmi.ipmi.private import constants as ipmi_constants
    from pyghmi.ipmi.private import session as ipmi_session
    from pyghmi import exceptions as ipmi_exceptions
    HAS_PYGHMI = True
except ImportError:
    HAS_PYGHMI = False
    ipmi_command = ipmi_constants = ipmi_session = ipmi_exceptions = None

BMC_ARGUMENT_SPEC = dict(
    bmc_address=dict(type="str", required=True),
    bmc_port=dict(type="int", default=623),
    bmc_username=dict(type="str", required=True),
    bmc_password=dict(type="str", required=True, no_log=True),
    retries=dict(type="int", default=5),
    min_interval=dict(type="float", default=1.0),
)

LOCK_DIR = "/run/stackwright/ipmi"
# The longest a login (RMCP+ handshake) may take; pyghmi retransmits within it.
LOGIN_SECONDS = 20
# Completion codes worth a retry: node busy, timeout, out of space, not present (yet),
# and pyghmi's own "Timeout" (0xFFFF).
RETRY_CODES = (0xC0, 0xC3, 0xC4, 0xCB, 0xD5, 0xFFFF)
# The BMC's answers (RAKP2/RAKP4 status, as pyghmi words them) to a session for a
# user it does not know or whose password is wrong: final at once, a retry only
# repeats them and, after pyghmi drops the session, hides them behind "Session no
# longer connected".
AUTH_REFUSALS = (
    ("Incorrect password provided", "wrong user name or password"),
    ("Unauthorized name", "wrong user name or password"),
    ("Unauthorized role or privilege level", "the user may not have the administrator or operator privilege"),
    ("Invalid role", "the user may not have the administrator or operator privilege"),
    ("Invalid RAKP4 integrity code", "wrong BMC key (Kg)"),
)


class IpmiError(Exception):
    def __init__(self, message, code=None):
        super(IpmiError, self).__init__(message)
        self.message = message
        self.code = code


class IpmiAuthError(IpmiError):
    """The BMC refused the user name or password."""


def completion_code(exc):
    """The IPMI completion code of a pyghmi exception. Many pyghmi calls raise
    only the code's text (ipmicode 0): read it back from that text."""
    code = getattr(exc, "ipmicode", None)
    if not code and HAS_PYGHMI:
        for number, text in ipmi_constants.ipmi_completion_codes.items():
            if number and str(exc) == text:
                return number
    return code


def auth_refusal(exc):
    """Why the BMC refused the session (None: it did not)."""
    text = str(exc)
    for words, meaning in AUTH_REFUSALS:
        if words in text:
            return meaning
    return None


class Bmc:
    """One BMC endpoint; every method is one IPMI request with retries."""

    def __init__(self, address, port, username, password, retries=5, min_interval=1.0, sleep=time.sleep,
                 login_timeout=LOGIN_SECONDS, uefi=None):
        if not HAS_PYGHMI:
            raise IpmiError("the pyghmi Python library is missing on this host (Debian: python3-pyghmi)")
        self.address = address
        self.port = port
        self.username = username
        self.password = password
        self.retries = retries
        self.min_interval = min_interval
        self._sleep = sleep
        self.login_timeout = login_timeout
        # the boot flags' "BIOS boot type" bit with a boot device: True EFI, False PC-compatible;
        # None sends it clear, as pyghmi does (the BMCs that honour it then boot legacy)
        self.uefi = uefi
        self._session = None

    def describe(self):
        return "BMC %s:%d" % (self.address, self.port)

    def _connect(self):
        if self._session is None:
            # log in asynchronously to bound the wait: pyghmi alone restarts a handshake
            # the BMC stopped answering for ever
            answer = []
            # pyghmi keeps a failed login here (filed under a key it then cannot find) and
            # hands it, dead, to the next attempt: a retry would not ask the BMC again
            ipmi_session.Session.initting_sessions.pop((self.address, self.username, self.password, self.port,
                                                        None), None)
            session = ipmi_command.Command(bmc=self.address, userid=self.username, password=self.password,
                                           port=self.port, onlogon=lambda response, _cmd: answer.append(response))
            deadline = time.monotonic() + self.login_timeout
            while not answer and not session.ipmi_session.broken and time.monotonic() < deadline:
                ipmi_session.Session.wait_for_rsp(timeout=0.2)
            if not answer and session.ipmi_session.broken:  # pyghmi gave up (or reused a dead session)
                raise ipmi_exceptions.IpmiException(getattr(session.ipmi_session, "errormsg", None) or "")
            if not answer:
                stage = getattr(session.ipmi_session, "sessioncontext", None)
                session.ipmi_session._mark_broken()  # stops pyghmi's retries
                if stage == "EXPECTINGRAKP2":
                    # it answered the session request, then not the user's RAKP 1
                    raise IpmiAuthError("%s did not answer the login of user '%s' within %d s, though it answered "
                                        "the session request: a user name it does not know, on BMCs that stay "
                                        "silent about it" % (self.describe(), self.username, self.login_timeout))
                raise ipmi_exceptions.IpmiException("")  # no answer: retried, reported as such
            if "error" in answer[0]:  # pyghmi's "timeout": no answer at all, said as such
                raise ipmi_exceptions.IpmiException("" if answer[0]["error"] == "timeout" else answer[0]["error"])
            self._session = session
        return self._session

    def _paced(self):
        """Hold a per-BMC lock and keep min_interval between requests from any process."""
        if fcntl is None or self.min_interval <= 0:
            return None
        try:
            os.makedirs(LOCK_DIR, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        path = os.path.join(LOCK_DIR, "%s_%d" % (self.address.replace("/", "_"), self.port))
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        wait = os.fstat(fd).st_mtime + self.min_interval - time.time()
        if wait > 0:
            self._sleep(min(wait, self.min_interval))
        return fd

    def call(self, what, func, *args, **kwargs):
        delay = 1.0
        last = silent = None
        for attempt in range(self.retries + 1):
            fd = self._paced()
            try:
                return func(self._connect(), *args, **kwargs)
            except IpmiAuthError:
                raise
            except Exception as exc:  # pyghmi raises its own types and plain ones
                last = exc
                refusal = auth_refusal(exc)
                if refusal:
                    self._session = None
                    raise IpmiAuthError("%s refused user '%s': %s (%s)"
                                        % (self.describe(), self.username, refusal, exc))
                code = completion_code(exc)
                if str(exc) in ("", "None") and not code:
                    silent = exc  # later attempts only say the session is gone

                # pyghmi reports a BMC that never answered with code 0 (no completion code)
                if code and code not in RETRY_CODES:
                    break  # the BMC understood and refused: retrying will not help
                self._session = None  # a broken session is not reused
            finally:
                if fd is not None:
                    # the lock file's mtime is when this BMC was last asked: the time given, as
                    # utime's own "now" is the kernel's coarse clock, up to a tick behind
                    now = time.time()
                    os.utime(fd, (now, now))
                    os.close(fd)
            if attempt < self.retries:
                self._sleep(delay)
                delay = min(delay * 2, 16)
        reason = _text(silent or last)
        raise IpmiError("%s: %s failed after %d attempt(s): %s" % (self.describe(), what, attempt + 1, reason),
                        code=completion_code(last))

    def power_state(self):
        return self.call("get power state", lambda s: s.get_power())["powerstate"]

    def set_power(self, state, wait):
        return self.call("power %s" % state, lambda s: s.set_power(state, wait=wait))

    def boot_device(self):
        answer = self.call("get boot device", lambda s: s.get_bootdev())
        return dict(device=answer.get("bootdev"), persistent=bool(answer.get("persistent")),
                    uefi=bool(answer.get("uefimode")))

    def set_boot_device(self, device, persistent):
        return self.call("set boot device %s" % device,
                         lambda s: s.set_bootdev(device, persist=persistent, uefiboot=bool(self.uefi)))


def _text(exc):
    text = str(exc)
    if text in ("", "None") and not getattr(exc, "ipmicode", None):
        return "no answer from the BMC (check its address, port, network and user name)"
    return text or type(exc).__name__


def bmc_from_params(params):
    return Bmc(params["bmc_address"], params["bmc_port"], params["bmc_username"], params["bmc_password"],
               retries=params["retries"], min_interval=params["min_interval"])
