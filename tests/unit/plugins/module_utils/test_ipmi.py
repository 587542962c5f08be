"""The IPMI client against real IPMI servers on 127.0.0.1: a UDP socket that reads
and drops every packet stands in for a dead BMC (bounded retries, a message that
says what is wrong); pyghmi's BMC server with the virtual BMC's handshake
(ipmi_test_bmc.py) for a BMC that answers, refuses a user or refuses a command."""

import time
import uuid

import pytest

from fixtures import _load

ipmi = _load("ipmi_client", "plugins/module_utils/ipmi.py")
test_bmc = _load("ipmi_test_bmc", "tests/unit/plugins/module_utils/ipmi_test_bmc.py")

PASSWORD = "pw-" + uuid.uuid4().hex[:8]


@pytest.fixture
def bmc_port():
    with test_bmc.running("admin", PASSWORD) as port:
        yield port


def client(port, user="admin", password=PASSWORD, pauses=None):
    return ipmi.Bmc("127.0.0.1", port, user, password, retries=5, min_interval=0,
                    sleep=(pauses if pauses is not None else []).append)


def test_a_silent_bmc_is_retried_and_named(silent_bmc):
    pauses = []
    bmc = ipmi.Bmc("127.0.0.1", silent_bmc, "admin", "secret-pw", retries=1, min_interval=0, sleep=pauses.append)
    started = time.monotonic()
    with pytest.raises(ipmi.IpmiError) as info:
        bmc.power_state()
    message = info.value.message
    assert "failed after 2 attempt(s)" in message, message
    assert "no answer from the BMC" in message, message
    assert "secret-pw" not in message
    assert pauses == [1.0]
    elapsed = time.monotonic() - started
    assert elapsed < 20, "every attempt is bounded"
    # pyghmi gives up a login after about 5 s; it hands the failed one, dead, to the
    # next attempt unless told otherwise
    assert elapsed > 8, "each attempt waits for the BMC again"


def test_a_busy_bmc_is_retried_with_backoff(bmc_port):
    pauses = []
    with pytest.raises(ipmi.IpmiError) as info:
        # the test BMC answers 0xC0 (node busy)
        ipmi.Bmc("127.0.0.1", bmc_port, "admin", PASSWORD, retries=6, min_interval=0,
                 sleep=pauses.append).set_power("diag", wait=False)
    assert "power diag failed after 7 attempt(s): Node Busy" in info.value.message, info.value.message
    assert info.value.code == 0xC0
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 16.0], "backoff doubles between attempts, up to 16 s"
    assert not isinstance(info.value, ipmi.IpmiAuthError)


@pytest.mark.parametrize("user, password, answer", [
    ("admin", "wrong-" + PASSWORD, "Incorrect password"),  # RAKP2's integrity check fails
    ("nobody", PASSWORD, "Unauthorized name"),  # RAKP2 status 0x0D
])
def test_a_refused_user_fails_at_once_naming_user_and_bmc(bmc_port, user, password, answer):
    pauses = []
    started = time.monotonic()
    with pytest.raises(ipmi.IpmiAuthError) as info:
        client(bmc_port, user, password, pauses).power_state()
    elapsed = time.monotonic() - started
    message = info.value.message
    assert message.startswith("BMC 127.0.0.1:%d refused user '%s': wrong user name or password" % (bmc_port, user)), \
        message
    assert answer in message, message
    assert password not in message and PASSWORD not in message
    assert pauses == [], "no retries"
    assert elapsed < 5, "took %.1f s" % elapsed
    # the right user and password still work
    assert client(bmc_port).power_state() == "off"


def test_a_bmc_silent_to_an_unknown_user_fails_within_the_login_bound():
    pauses = []
    with test_bmc.running("admin", PASSWORD, "kept", "--silent-to-unknown-users") as port:
        bmc = ipmi.Bmc("127.0.0.1", port, "nobody", PASSWORD, retries=5, min_interval=0, sleep=pauses.append,
                       login_timeout=2)
        started = time.monotonic()
        with pytest.raises(ipmi.IpmiAuthError) as info:
            bmc.power_state()  # pyghmi alone restarts the handshake for ever
        elapsed = time.monotonic() - started
        assert client(port).power_state() == "off"
    assert info.value.message.startswith("BMC 127.0.0.1:%d did not answer the login of user 'nobody' within 2 s"
                                         % port), info.value.message
    assert pauses == [] and elapsed < 5, (pauses, elapsed)


def test_a_refused_completion_code_is_not_retried(bmc_port):
    pauses = []
    with pytest.raises(ipmi.IpmiError) as info:
        # the test BMC refuses a reset with 0xCC (invalid data field); pyghmi words
        # it without the code
        client(bmc_port, pauses=pauses).set_power("reset", wait=False)
    assert "power reset failed after 1 attempt(s): Invalid data field in request" in info.value.message
    assert info.value.code == 0xCC
    assert pauses == []


@pytest.mark.parametrize("uefi", [True, False, None])
def test_the_boot_mode_goes_with_the_boot_device(bmc_port, uefi):
    """UEFI-only servers whose BMC honours the boot type bit boot a device set without
    it in legacy mode: a UEFI node's request carries it (read back here as the BMC kept it)."""
    bmc = ipmi.Bmc("127.0.0.1", bmc_port, "admin", PASSWORD, retries=5, min_interval=0, sleep=[].append, uefi=uefi)
    bmc.set_boot_device("network", False)
    answer = bmc.boot_device()
    assert answer["device"] == "network" and answer["uefi"] is bool(uefi)


def test_a_busy_bmc_code_is_worth_a_retry():
    class Busy(Exception):
        ipmicode = 0xC0

    assert ipmi.completion_code(Busy("Node Busy")) in ipmi.RETRY_CODES
    assert ipmi.completion_code(Exception("Node Busy")) == 0xC0
    assert ipmi.completion_code(Exception("Invalid data field in request")) not in ipmi.RETRY_CODES
