"""The IPMI client's handling of a BMC that never answers: a real UDP socket that
reads and drops every packet stands in for a dead BMC (bounded retries, a message
that says what is wrong)."""

import time

import pytest

from fixtures import _load

ipmi = _load("ipmi_client", "plugins/module_utils/ipmi.py")


def test_a_silent_bmc_is_retried_and_named(silent_bmc):
    pauses = []
    bmc = ipmi.Bmc("127.0.0.1", silent_bmc, "admin", "secret-pw", retries=2, min_interval=0, sleep=pauses.append)
    started = time.monotonic()
    with pytest.raises(ipmi.IpmiError) as info:
        bmc.power_state()
    message = info.value.message
    assert "failed after 3 attempt(s)" in message, message
    assert "no answer from the BMC" in message, message
    assert "secret-pw" not in message
    assert pauses == [1.0, 2.0], "backoff doubles between attempts"
    assert time.monotonic() - started < 60, "every attempt is bounded"
