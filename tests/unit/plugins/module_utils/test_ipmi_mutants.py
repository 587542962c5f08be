"""The IPMI client's decisions, fast: which answers are final and which are retried,
how a failure is worded, the pacing between calls to one BMC (a lock directory under
tmp_path instead of /run) and a silent BMC bounded by a short login timeout. The
behaviours a mutation run (tools/mutation.py) found no fast test for."""

import os
import stat
import time

import pytest

from fixtures import _load

ipmi = _load("ipmi_client", "plugins/module_utils/ipmi.py")


class Coded(Exception):
    def __init__(self, text, code):
        super().__init__(text)
        self.ipmicode = code


def test_the_password_is_no_log_and_the_defaults_are_gentle():
    assert ipmi.BMC_ARGUMENT_SPEC == dict(
        bmc_address=dict(type="str", required=True),
        bmc_port=dict(type="int", default=623),
        bmc_username=dict(type="str", required=True),
        bmc_password=dict(type="str", required=True, no_log=True),
        retries=dict(type="int", default=5),
        min_interval=dict(type="float", default=1.0),
    )
    bmc = ipmi.bmc_from_params(dict(bmc_address="192.0.2.9", bmc_port=6230, bmc_username="u", bmc_password="p",
                                    retries=2, min_interval=0.5))
    assert (bmc.address, bmc.port, bmc.username, bmc.password, bmc.retries, bmc.min_interval) == (
        "192.0.2.9", 6230, "u", "p", 2, 0.5)
    assert bmc.describe() == "BMC 192.0.2.9:6230" and bmc.login_timeout == ipmi.LOGIN_SECONDS


@pytest.mark.parametrize("exc, code", [
    (Coded("Node Busy", 0xC0), 0xC0),
    (Exception("Node Busy"), 0xC0),  # pyghmi often raises the text alone
    (Exception("Invalid data field in request"), 0xCC),
    (Exception("Insufficient privilege level or firmware firewall"), 0xD4),
    (Exception("Success"), None),  # code 0 is no failure: never read from a text
    (Exception("something else"), None),
    (Coded("", 0), 0),
    (Coded("Node Busy", 0xD5), 0xD5),  # the code wins over the text
])
def test_the_completion_code_is_read_from_the_code_or_its_text(exc, code):
    assert ipmi.completion_code(exc) == code


def test_only_busy_and_timeout_codes_are_retried():
    assert set(ipmi.RETRY_CODES) == {0xC0, 0xC3, 0xC4, 0xCB, 0xD5, 0xFFFF}
    for refused in (0xC1, 0xCC, 0xD4, 0xD6, 0xC9):
        assert refused not in ipmi.RETRY_CODES


@pytest.mark.parametrize("text, meaning", [
    ("Incorrect password provided", "wrong user name or password"),
    ("RAKP2 said: Unauthorized name", "wrong user name or password"),
    ("Unauthorized role or privilege level", "the user may not have the administrator or operator privilege"),
    ("Invalid role", "the user may not have the administrator or operator privilege"),
    ("Invalid RAKP4 integrity code", "wrong BMC key (Kg)"),
    ("Node Busy", None),
    ("", None),
])
def test_auth_refusals_are_named(text, meaning):
    assert ipmi.auth_refusal(Exception(text)) == meaning


def test_a_failure_text_says_what_happened():
    silent = "no answer from the BMC (check its address, port, network and user name)"
    assert ipmi._text(Exception("")) == silent
    assert ipmi._text(Exception(None)) == silent
    assert ipmi._text(Exception("Node Busy")) == "Node Busy"
    assert ipmi._text(Coded("", 0xC0)) == "Coded", "a code without text: at least its type"


def test_a_missing_pyghmi_is_named(monkeypatch):
    monkeypatch.setattr(ipmi, "HAS_PYGHMI", False)
    with pytest.raises(ipmi.IpmiError) as info:
        ipmi.Bmc("192.0.2.9", 623, "u", "p")
    assert "pyghmi Python library is missing" in info.value.message and "python3-pyghmi" in info.value.message
    assert info.value.code is None


def test_calls_to_one_bmc_are_spaced_through_a_lock_file(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    monkeypatch.setattr(ipmi, "LOCK_DIR", str(locks))
    pauses = []
    bmc = ipmi.Bmc("fe80::1/x", 6230, "u", "p", min_interval=30.0, sleep=pauses.append)
    fd = bmc._paced()
    assert fd is not None
    path = locks / "fe80::1_x_6230"
    assert path.exists() and stat.S_IMODE(os.stat(locks).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.close(fd)
    del pauses[:]
    # the lock file was touched just now: the next call waits, at most min_interval
    os.utime(path, (time.time(), time.time()))
    os.close(bmc._paced())
    assert len(pauses) == 1 and 29 < pauses[0] <= 30.0
    # asked long ago: no wait
    os.utime(path, (time.time() - 100, time.time() - 100))
    os.close(bmc._paced())
    assert len(pauses) == 1
    # a lock file from the future (a clock step) waits min_interval, not longer
    os.utime(path, (time.time() + 1000, time.time() + 1000))
    os.close(bmc._paced())
    assert pauses[-1] == 30.0
    assert ipmi.Bmc("192.0.2.9", 623, "u", "p", min_interval=0)._paced() is None, "no pacing asked"


def test_a_silent_bmc_is_retried_with_backoff_within_the_login_bound(silent_bmc, tmp_path, monkeypatch):
    monkeypatch.setattr(ipmi, "LOCK_DIR", str(tmp_path / "locks"))
    pauses = []
    bmc = ipmi.Bmc("127.0.0.1", silent_bmc, "admin", "secret-pw", retries=2, min_interval=0.001,
                   sleep=pauses.append, login_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ipmi.IpmiError) as info:
        bmc.power_state()
    elapsed = time.monotonic() - started
    assert not isinstance(info.value, ipmi.IpmiAuthError)
    assert info.value.message == ("BMC 127.0.0.1:%d: get power state failed after 3 attempt(s): no answer from the "
                                  "BMC (check its address, port, network and user name)" % silent_bmc)
    assert [p for p in pauses if p >= 1] == [1.0, 2.0], "backoff doubles"
    assert elapsed < 5, "each login waits login_timeout, not pyghmi's own"
    assert os.path.exists(str(tmp_path / "locks" / ("127.0.0.1_%d" % silent_bmc)))


@pytest.mark.parametrize("persistent", [True, False])
def test_the_boot_device_reads_back_as_set(persistent):
    test_bmc = _load("ipmi_test_bmc", "tests/unit/plugins/module_utils/ipmi_test_bmc.py")
    with test_bmc.running("admin", "pw-boot") as port:
        bmc = ipmi.Bmc("127.0.0.1", port, "admin", "pw-boot", retries=0, min_interval=0)
        bmc.set_boot_device("network", persistent)
        assert bmc.boot_device() == dict(device="network", persistent=persistent, uefi=False)
