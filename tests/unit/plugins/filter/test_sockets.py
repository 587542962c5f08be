"""The listening-socket check's filters (plugins/filter/sockets.py): the plan of a node
from the services' declarations, the parser of `ss -H -l -n -t -u -p`, the sockets
outside the plan, each named with its node, address, port and process."""

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.sockets import (
    erlang_address, listening_sockets, socket_plan, unplanned_sockets)

ADDRESSES = {
    "ctlplane": {"address": "192.168.24.10", "cidr": "192.168.24.0/24"},
    "internal_api": {"address": "172.16.2.10", "cidr": "172.16.2.0/24"},
    "storage": {"address": "172.16.1.10", "cidr": "172.16.1.0/24"},
    "tenant": {"address": "172.16.0.10", "cidr": "172.16.0.0/24"},
}
# As the roles declare them (ports already rendered by Ansible, some as strings)
DECLARATIONS = [
    {"name": "keystone", "groups": {"service_keystone": {"api_ports": ["5000"], "sockets": []}}},
    {"name": "nova", "groups": {
        "service_nova_control": {"api_ports": ["8774", "8775"], "sockets": [{"port": "6080", "network": "public"}]},
        "service_nova_compute": {"api_ports": [], "sockets": [
            {"port": "5900-65535", "network": "internal_api", "process": "qemu-system-x86_64"}]}}},
    {"name": "horizon", "groups": {"service_horizon": {"sockets": [{"port": 80, "network": "api", "process": "apache2"}]}}},
]
SOCKETS = [
    {"service_mariadb": [{"port": 3306, "network": "internal_api", "process": "mariadbd"}]},
    {"service_rabbitmq": [{"port": 5672, "network": "internal_api", "process": "beam.smp"},
                          {"port": 25672, "network": "internal_api", "process": "beam.smp"},
                          {"port": "4369", "network": "internal_api"}, {"port": "4369", "network": "loopback"}]},
    {"service_ovn_central": [{"port": 6641, "network": "internal_api", "process": "ovsdb-server"}]},
]
COMMON = [{"port": 22, "network": "any", "process": "sshd"},
          {"port": 323, "proto": "udp", "network": "loopback", "process": "chronyd"}]
CONTROLLER = ["mariadb", "rabbitmq", "keystone", "nova_control", "ovn_central", "horizon", "neutron_agent"]
COMPUTE = ["nova_compute", "neutron_agent"]

# What ss printed on a controller after a deploy with the exposure closed
SS_CONTROLLER = """\
tcp   LISTEN 0      4096     172.16.2.10:5000      0.0.0.0:*    users:(("uwsgi_python3",pid=2231,fd=3),("uwsgi_python3",pid=2230,fd=3))
tcp   LISTEN 0      4096   192.168.24.10:5000      0.0.0.0:*    users:(("uwsgi_python3",pid=2231,fd=4))
tcp   LISTEN 0      100      172.16.2.10:8774      0.0.0.0:*    users:(("uwsgi_python3",pid=3012,fd=3))
tcp   LISTEN 0      100    192.168.24.10:8774      0.0.0.0:*    users:(("uwsgi_python3",pid=3012,fd=4))
tcp   LISTEN 0      100      172.16.2.10:8775      0.0.0.0:*    users:(("uwsgi_python3",pid=3020,fd=3))
tcp   LISTEN 0      100    192.168.24.10:6080      0.0.0.0:*    users:(("nova-novncproxy",pid=3100,fd=5))
tcp   LISTEN 0      80       172.16.2.10:3306      0.0.0.0:*    users:(("mariadbd",pid=801,fd=20))
tcp   LISTEN 0      128      172.16.2.10:5672      0.0.0.0:*    users:(("beam.smp",pid=990,fd=40))
tcp   LISTEN 0      128      172.16.2.10:25672     0.0.0.0:*    users:(("beam.smp",pid=990,fd=17))
tcp   LISTEN 0      4096       127.0.0.1:4369      0.0.0.0:*    users:(("epmd",pid=950,fd=3),("systemd",pid=1,fd=45))
tcp   LISTEN 0      4096     172.16.2.10:4369      0.0.0.0:*    users:(("epmd",pid=950,fd=4),("systemd",pid=1,fd=46))
tcp   LISTEN 0      10       172.16.2.10:6641      0.0.0.0:*    users:(("ovsdb-server",pid=700,fd=21))
tcp   LISTEN 0      511    192.168.24.10:80        0.0.0.0:*    users:(("apache2",pid=1500,fd=4),("apache2",pid=1499,fd=4))
tcp   LISTEN 0      511      172.16.2.10:80        0.0.0.0:*    users:(("apache2",pid=1500,fd=3))
tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=300,fd=3))
tcp   LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=300,fd=4))
udp   UNCONN 0      0          127.0.0.1:323       0.0.0.0:*    users:(("chronyd",pid=250,fd=5))
udp   UNCONN 0      0              [::1]:323          [::]:*    users:(("chronyd",pid=250,fd=6))
"""


def plan(services, addresses=ADDRESSES, **kwargs):
    return socket_plan(services, addresses, declarations=DECLARATIONS, sockets=SOCKETS, common=COMMON, **kwargs)


def test_a_closed_controller_has_nothing_outside_the_plan():
    found = listening_sockets(SS_CONTROLLER)
    assert len(found) == 18
    assert unplanned_sockets(found, plan(CONTROLLER), node="ctl0") == []


@pytest.mark.parametrize("line, named", [
    # nova-novncproxy on the wildcard, as before its fix
    ('tcp LISTEN 0 100 0.0.0.0:6080 0.0.0.0:* users:(("nova-novncproxy",pid=3100,fd=5))',
     "ctl0: tcp 0.0.0.0:6080 (nova-novncproxy) is not in the plan"),
    # the Open vSwitch manager Nova's os-vif used, TCP on the loopback
    ('tcp LISTEN 0 10 127.0.0.1:6640 0.0.0.0:* users:(("ovsdb-server",pid=640,fd=22))',
     "ctl0: tcp 127.0.0.1:6640 (ovsdb-server) is not in the plan"),
    # epmd from Debian's socket unit: every address, IPv4 and IPv6
    ('tcp LISTEN 0 4096 *:4369 *:* users:(("epmd",pid=950,fd=3),("systemd",pid=1,fd=45))',
     "ctl0: tcp *:4369 (epmd, systemd) is not in the plan"),
    # RabbitMQ's distribution port before inet_dist_use_interface
    ('tcp LISTEN 0 128 0.0.0.0:25672 0.0.0.0:* users:(("beam.smp",pid=990,fd=17))',
     "ctl0: tcp 0.0.0.0:25672 (beam.smp) is not in the plan"),
    # the northbound database on the public network
    ('tcp LISTEN 0 10 192.168.24.10:6641 0.0.0.0:* users:(("ovsdb-server",pid=700,fd=21))',
     "ctl0: tcp 192.168.24.10:6641 (ovsdb-server) is not in the plan"),
    # MariaDB on every IPv6 address
    ('tcp LISTEN 0 80 [::]:3306 [::]:* users:(("mariadbd",pid=801,fd=21))',
     "ctl0: tcp [::]:3306 (mariadbd) is not in the plan"),
    # memcached's UDP port on the planned address: the plan has TCP only
    ('udp UNCONN 0 0 172.16.2.10:5672 0.0.0.0:* users:(("beam.smp",pid=990,fd=50))',
     "ctl0: udp 172.16.2.10:5672 (beam.smp) is not in the plan"),
    # a planned address and port, held by another process than the plan's
    ('tcp LISTEN 0 10 172.16.2.10:3306 0.0.0.0:* users:(("python3",pid=5000,fd=3))',
     "ctl0: tcp 172.16.2.10:3306 (python3) is not in the plan"),
    # a scoped IPv6 address, and ss run without root (no process)
    ('udp UNCONN 0 0 [fe80::5054:ff:fe12:3456]%eth0:5353 [::]:*',
     "ctl0: udp [fe80::5054:ff:fe12:3456]:5353 (process unknown) is not in the plan"),
])
def test_each_socket_outside_the_plan_is_named(line, named):
    found = listening_sockets(SS_CONTROLLER + line + "\n")
    assert unplanned_sockets(found, plan(CONTROLLER), node="ctl0") == [named]


def test_loopback_means_127_0_0_0_8_and_ipv6s_one():
    rules = socket_plan([], ADDRESSES, common=[{"port": 53, "proto": "udp", "network": "loopback"}])
    stubs = listening_sockets("udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*\nudp UNCONN 0 0 127.0.0.54:53 0.0.0.0:*\n"
                              "udp UNCONN 0 0 [::1]:53 [::]:*\n")
    assert unplanned_sockets(stubs, rules) == []
    others = listening_sockets("udp UNCONN 0 0 0.0.0.0:53 0.0.0.0:*\nudp UNCONN 0 0 *:53 *:*\n"
                               "udp UNCONN 0 0 172.16.2.10:53 0.0.0.0:*\ntcp LISTEN 0 1 127.0.0.53:53 0.0.0.0:*\n")
    assert unplanned_sockets(others, rules) == [
        "udp 0.0.0.0:53 (process unknown) is not in the plan", "udp *:53 (process unknown) is not in the plan",
        "udp 172.16.2.10:53 (process unknown) is not in the plan", "tcp 127.0.0.53:53 (process unknown) is not in the plan"]


def test_the_wildcard_is_refused_where_the_plan_names_an_address():
    # every planned port of a controller, on 0.0.0.0 instead: only sshd's stays allowed
    wild = "".join('tcp LISTEN 0 1 0.0.0.0:%d 0.0.0.0:* users:(("p",pid=1,fd=3))\n' % p
                   for p in (22, 80, 3306, 4369, 5000, 5672, 6080, 6641, 8774, 8775, 25672))
    problems = unplanned_sockets(listening_sockets(wild), plan(CONTROLLER), node="ctl0")
    assert len(problems) == 11  # sshd's entry wants process sshd, not p


def test_a_compute_node_has_none_of_the_controllers_sockets():
    rules = plan(COMPUTE, addresses={k: v for k, v in ADDRESSES.items() if k != "ctlplane"} | {
        "ctlplane": {"address": "192.168.24.20"}, "internal_api": {"address": "172.16.2.20"}})
    guest_vnc = 'tcp LISTEN 0 1 172.16.2.20:5901 0.0.0.0:* users:(("qemu-system-x86",pid=9,fd=30))\n'
    assert unplanned_sockets(listening_sockets(guest_vnc), rules, node="cmp0") == []
    stray = listening_sockets('tcp LISTEN 0 4096 172.16.2.20:5000 0.0.0.0:* users:(("uwsgi",pid=1,fd=3))\n'
                              'tcp LISTEN 0 1 172.16.2.20:5901 0.0.0.0:* users:(("python3",pid=9,fd=30))\n'
                              'tcp LISTEN 0 1 0.0.0.0:5901 0.0.0.0:* users:(("qemu-system-x86",pid=9,fd=30))\n')
    assert unplanned_sockets(stray, rules, node="cmp0") == [
        "cmp0: tcp 172.16.2.20:5000 (uwsgi) is not in the plan",
        "cmp0: tcp 172.16.2.20:5901 (python3) is not in the plan",
        "cmp0: tcp 0.0.0.0:5901 (qemu-system-x86) is not in the plan"]


def test_the_plan_of_a_controller():
    rules = {(r["proto"], r["address"], tuple(r["ports"]), r["service"]) for r in plan(CONTROLLER)}
    assert ("tcp", "192.168.24.10", (6080, 6080), "nova") in rules
    assert ("tcp", "172.16.2.10", (6080, 6080), "nova") not in rules  # the console proxy: public only
    assert {("tcp", a, (5000, 5000), "keystone") for a in ("172.16.2.10", "192.168.24.10")} <= rules
    assert ("tcp", "loopback", (4369, 4369), "rabbitmq") in rules
    assert not any(r[3] == "nova" and r[2] == (5900, 65535) for r in rules)  # no guests' VNC on a controller


def test_a_public_network_other_than_ctlplane():
    addresses = dict(ADDRESSES, external={"address": "10.0.0.10"})
    rules = plan(["nova_control"], addresses=addresses, public_network="external")
    assert {(r["address"], r["ports"][0]) for r in rules if r["service"] == "nova"} == {
        ("172.16.2.10", 8774), ("10.0.0.10", 8774), ("172.16.2.10", 8775), ("10.0.0.10", 8775), ("10.0.0.10", 6080)}


def test_ipv6_addresses_compare_in_their_short_form():
    addresses = {"ctlplane": {"address": "fd00:24::10"}, "internal_api": {"address": "fd00:0002:0000::0010"}}
    rules = plan(["keystone"], addresses=addresses)
    found = listening_sockets('tcp LISTEN 0 1 [fd00:2::10]:5000 [::]:*  users:(("uwsgi",pid=1,fd=3))\n')
    assert unplanned_sockets(found, rules) == []


@pytest.mark.parametrize("entry, message", [
    ({"network": "internal_api"}, "common[0]: port is missing"),
    ({"port": "http"}, "common[0]: port must be a number or a range FIRST-LAST, not 'http'"),
    ({"port": 70000}, "common[0]: port 70000 is outside 1-65535"),
    ({"port": "6000-5900"}, "common[0]: port '6000-5900' is outside 1-65535 or its range is reversed"),
    ({"port": 80, "proto": "sctp"}, "common[0]: proto must be tcp or udp, not 'sctp'"),
    ({"port": 80, "network": "backstage"}, "common[0]: network must be a network of the node"),
    ({"port": 80, "network": "external"}, "common[0]: network must be a network of the node (ctlplane, internal_api, storage, tenant)"),
    ({"port": 80, "process": ""}, "common[0]: process must be a process name"),
    ({"port": 80, "address": "0.0.0.0"}, "common[0]: unknown field(s) address"),
    ({"port": 80, True: "api"}, "common[0]: unknown field(s) True"),  # YAML 1.1's reading of "on: api"
    ("80", "common[0]: give a mapping"),
])
def test_bad_plan_entries_are_refused_naming_the_field(entry, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        socket_plan(["keystone"], ADDRESSES, common=[entry])


def test_a_network_the_node_lacks_is_named():
    with pytest.raises(AnsibleFilterError, match=r"nova.groups.service_nova_control.sockets\[0\]: the node has no "
                                                 r"address on network 'external'"):
        socket_plan(["nova_control"], ADDRESSES, declarations=DECLARATIONS, public_network="external")


@pytest.mark.parametrize("declarations, message", [
    ([{"name": "x"}], r"declarations\[0\] has no groups mapping"),
    (["x"], r"declarations\[0\] has no groups mapping"),
])
def test_bad_declarations_are_refused(declarations, message):
    with pytest.raises(AnsibleFilterError, match=message):
        socket_plan(["x"], ADDRESSES, declarations=declarations)


@pytest.mark.parametrize("text, message", [
    ("LISTEN 0 128 0.0.0.0:22 0.0.0.0:*", "line 1 is not 'PROTO STATE"),
    ("tcp LISTEN 0 128 0.0.0.0 0.0.0.0:*", r"line 1: no ADDRESS:PORT in '0.0.0.0'"),
    ("tcp LISTEN 0 128 localhost:22 0.0.0.0:*", "not an IP address: 'localhost'"),
])
def test_unreadable_ss_output_is_refused(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        listening_sockets(text)


def test_erlang_address():
    assert erlang_address("172.16.2.10") == "{172,16,2,10}"
    assert erlang_address("fd00:2::10") == "{64768,2,0,0,0,0,0,16}"
    with pytest.raises(AnsibleFilterError, match="erlang_address: not an IP address: 'ctl0'"):
        erlang_address("ctl0")
