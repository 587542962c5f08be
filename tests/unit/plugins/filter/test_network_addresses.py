"""The address checks of role inputs (address_problems, ip_network) and the network
plan refuse what is no network of a cloud: loopback, multicast, unspecified and
all-covering networks and addresses, each problem naming the field and the fix."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.network import (
    address_problems, ip_network, network_problems)

SPECIAL = [
    ("127.0.0.1", 8, "loopback"), ("::1", 128, "loopback"), ("224.0.0.1", 24, "multicast"),
    ("ff02::1", 64, "multicast"), ("0.0.0.0", 24, "unspecified"), ("::", 64, "unspecified"),
    ("192.168.24.1", 0, "covers every address"), ("fd00::1", 0, "covers every address"),
]


@pytest.mark.parametrize("address, prefix, words", SPECIAL)
def test_address_problems_refuse_special_addresses(address, prefix, words):
    problems = address_problems(address, prefix)
    assert len(problems) == 1 and words in problems[0], problems
    assert problems[0].startswith("%s/%s: " % (address, prefix))


@pytest.mark.parametrize("address, prefix, words", SPECIAL)
def test_ip_network_refuses_special_addresses(address, prefix, words):
    with pytest.raises(AnsibleFilterError) as err:
        ip_network("%s/%s" % (address, prefix))
    assert words in str(err.value)


def test_a_provisioning_address_and_pool_pass_and_are_described():
    assert address_problems("192.168.24.1", 24, "192.168.24.100-192.168.24.199") == []
    assert ip_network("192.168.24.1/24") == {"address": "192.168.24.1", "prefix": 24, "network": "192.168.24.0",
                                             "netmask": "255.255.255.0", "broadcast": "192.168.24.255"}


def test_the_existing_address_rules_hold():
    assert address_problems("192.168.24.1", 24, "192.168.25.1-192.168.25.9") == [
        "pool's first address 192.168.25.1 is outside 192.168.24.0/24",
        "pool's last address 192.168.25.9 is outside 192.168.24.0/24"]
    assert address_problems("192.168.24.1", 24, "192.168.24.9-192.168.24.2") == [
        "pool 192.168.24.9-192.168.24.2 ends before it starts"]
    assert address_problems("192.168.24.5", 24, "192.168.24.2-192.168.24.9") == [
        "pool 192.168.24.2-192.168.24.9 holds the address 192.168.24.5 itself"]
    assert address_problems("192.168.24.200", 24, "192.168.24.0-192.168.24.9") == [
        "pool 192.168.24.0-192.168.24.9 holds the network or broadcast address of 192.168.24.0/24"]
    assert address_problems("192.168.24.1", 24, "nonsense") == ["pool 'nonsense' must be FIRST-LAST, two addresses"]
    assert "is not an IP address" in address_problems("192.168.24.300", 24)[0]
    with pytest.raises(AnsibleFilterError):
        ip_network("192.168.24.1/33")


@pytest.mark.parametrize("cidr, words", [
    ("0.0.0.0/0", "covers every address"), ("::/0", "covers every address"), ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"), ("224.0.0.0/24", "multicast"), ("ff00::/8", "multicast"),
    ("0.0.0.0/8", "unspecified"),
])
def test_the_network_plan_refuses_special_networks(cidr, words):
    problems = network_problems([{"name": "ctlplane", "cidr": cidr}])
    assert len(problems) == 1 and problems[0].startswith("networks[ctlplane].cidr: ") and words in problems[0], problems


def test_a_network_name_ending_in_a_newline_is_refused():
    problems = network_problems([{"name": "ctlplane\n", "cidr": "192.168.24.0/24"}])
    assert len(problems) == 1 and ".name:" in problems[0] and "must start with a lowercase letter" in problems[0]
