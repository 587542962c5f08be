"""The network planning filters (plugins/filter/network.py): every rule of the networks
list, and the address plan - deterministic, stable as nodes come and go, fixed addresses
honoured - called directly and rendered by a real ansible run."""

import copy
import json
import os
import random
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.network import network_plan, network_problems
from fixtures import ROOT

# TripleO's sample network_data, in this collection's spelling (cidr, gateway)
NETWORKS_YAML = """
- name: ctlplane
  cidr: 192.168.24.0/24
  gateway: 192.168.24.1
  allocation_pools: [{start: 192.168.24.100, end: 192.168.24.199}]
- name: internal_api
  cidr: 172.16.2.0/24
  vlan: 20
  allocation_pools: [{start: 172.16.2.4, end: 172.16.2.250}]
- name: tenant
  cidr: 172.16.0.0/24
  vlan: 50
  mtu: 9000
- name: storage
  cidr: 172.16.1.0/24
  vlan: 30
  allocation_pools:
    - {start: 172.16.1.10, end: 172.16.1.11}
    - {start: 172.16.1.4, end: 172.16.1.5}
- name: storage_mgmt
  cidr: fd00:fd00:fd00:4000::/64
  vlan: 40
- name: external
  cidr: 10.0.0.0/24
  vlan: 10
  gateway: 10.0.0.1
  allocation_pools: [{start: 10.0.0.4, end: 10.0.0.250}]
  external: true
"""


def networks():
    return yaml.safe_load(NETWORKS_YAML)


def with_net(which, **fields):
    """The sample networks, the fields of network WHICH replaced (None: removed)."""
    nets = networks()
    net = next(n for n in nets if n["name"] == which)
    for key, value in fields.items():
        if value is None:
            net.pop(key, None)
        else:
            net[key] = value
    return nets


def one_problem(nets, prefix, fragment=""):
    """network_problems finds exactly one problem, starting with PREFIX (network and field)."""
    problems = network_problems(nets)
    assert len(problems) == 1, problems
    assert problems[0].startswith(prefix + ": "), problems
    assert fragment in problems[0], problems
    return problems[0]


def addresses(plan):
    return dict((node, dict((net, e["address"]) for net, e in nets.items())) for node, nets in plan.items())


# --- network_problems ---------------------------------------------------------------------


def test_tripleo_like_networks_pass():
    assert network_problems(networks()) == []


def test_the_scenario_networks_file_passes():
    with open(os.path.join(ROOT, "molecule/overcloud/networks.yml")) as fh:
        assert network_problems(yaml.safe_load(fh)) == []


def test_not_a_list_is_one_problem():
    for value in ({"name": "ctlplane"}, "ctlplane", None):
        problems = network_problems(value)
        assert len(problems) == 1 and problems[0].startswith("networks: must be a list"), problems


def test_an_item_not_a_mapping_is_named_by_index():
    one_problem(networks() + ["storage"], "networks[6]", "must be a mapping")


def test_example_message_of_the_brief():
    nets = with_net("internal_api", allocation_pools=[{"start": "172.16.2.10", "end": "172.16.3.10"}])
    assert one_problem(nets, "networks[internal_api].allocation_pools[0].end").startswith(
        "networks[internal_api].allocation_pools[0].end: 172.16.3.10 is outside cidr 172.16.2.0/24")


@pytest.mark.parametrize("fields, prefix, fragment", [
    ({"name": None}, "networks[1].name", "required"),
    ({"name": "Internal-API"}, "networks[Internal-API].name", "^[a-z][a-z0-9_]*$"),
    ({"name": "2nd"}, "networks[2nd].name", "lowercase letter"),
    ({"cidr": None}, "networks[internal_api].cidr", "required"),
    ({"cidr": "172.16.2.300/24"}, "networks[internal_api].cidr", "not an IPv4 or IPv6 network"),
    ({"cidr": "172.16.2.0"}, "networks[internal_api].cidr", "ADDRESS/PREFIX"),
    ({"cidr": "172.16.2.1/24"}, "networks[internal_api].cidr", "host bits set; use 172.16.2.0/24"),
    ({"vlan": 0}, "networks[internal_api].vlan", "1-4094"),
    ({"vlan": 4095}, "networks[internal_api].vlan", "1-4094"),
    ({"vlan": "20"}, "networks[internal_api].vlan", "1-4094"),
    ({"vlan": True}, "networks[internal_api].vlan", "1-4094"),
    ({"vlan": 30}, "networks[storage].vlan", "30 is also the vlan of networks[internal_api]"),
    ({"mtu": 575}, "networks[internal_api].mtu", "576-9216"),
    ({"mtu": 9217}, "networks[internal_api].mtu", "576-9216"),
    ({"external": "yes"}, "networks[internal_api].external", "true or false"),
    ({"gateway": "172.16.3.1"}, "networks[internal_api].gateway", "outside cidr 172.16.2.0/24"),
    ({"gateway": "fd00::1"}, "networks[internal_api].gateway", "outside cidr 172.16.2.0/24"),
    ({"gateway": "gw.example.com"}, "networks[internal_api].gateway", "not an IP address"),
    ({"gateway": "172.16.2.0"}, "networks[internal_api].gateway", "network address"),
    ({"gateway": "172.16.2.255"}, "networks[internal_api].gateway", "broadcast address"),
    ({"gateway": "172.16.2.100"}, "networks[internal_api].allocation_pools[0]", "holds the gateway 172.16.2.100"),
    ({"allocation_pools": {"start": "172.16.2.4", "end": "172.16.2.9"}}, "networks[internal_api].allocation_pools",
     "must be a list"),
    ({"allocation_pools": ["172.16.2.4-172.16.2.9"]}, "networks[internal_api].allocation_pools[0]",
     "must be a mapping"),
    ({"allocation_pools": [{"start": "172.16.2.4"}]}, "networks[internal_api].allocation_pools[0].end", "required"),
    ({"allocation_pools": [{"start": "172.16.2.4", "end": "172.16.2.9", "stop": "x"}]},
     "networks[internal_api].allocation_pools[0].stop", "unknown field"),
    ({"allocation_pools": [{"start": "172.16.2.0", "end": "172.16.2.9"}]},
     "networks[internal_api].allocation_pools[0].start", "network address"),
    ({"allocation_pools": [{"start": "172.16.2.200", "end": "172.16.2.255"}]},
     "networks[internal_api].allocation_pools[0].end", "broadcast address"),
    ({"allocation_pools": [{"start": "172.16.2.9", "end": "172.16.2.4"}]},
     "networks[internal_api].allocation_pools[0]", "after end 172.16.2.4; swap them"),
    ({"allocation_pools": [{"start": "172.16.2.4", "end": "172.16.2.9"}, {"start": "172.16.2.9", "end": "172.16.2.20"}]},
     "networks[internal_api].allocation_pools[1]", "overlaps allocation_pools[0]"),
    ({"mut": 9000}, "networks[internal_api].mut", "unknown field; did you mean mtu?"),
    ({"ip_subnet": "172.16.2.0/24"}, "networks[internal_api].ip_subnet", "did you mean cidr?"),
])
def test_each_error_names_network_and_field(fields, prefix, fragment):
    one_problem(with_net("internal_api", **fields), prefix, fragment)


def test_names_are_unique_the_second_named_by_index():
    nets = networks() + [{"name": "tenant", "cidr": "172.16.9.0/24"}]
    one_problem(nets, "networks[6].name", "tenant is already the name of networks[2]")


def test_two_cidrs_overlap():
    nets = with_net("tenant", cidr="172.16.0.0/23")
    assert network_problems(nets) == [
        "networks[storage].cidr: 172.16.1.0/24 overlaps networks[tenant].cidr 172.16.0.0/23; "
        "give each network its own range"]
    # a network overlapping several: one problem for each
    problems = network_problems(networks() + [{"name": "storage_nfs", "cidr": "172.16.0.0/22"}])
    assert [p.split(" overlaps ")[1].split(";")[0] for p in problems] == [
        "networks[internal_api].cidr 172.16.2.0/24", "networks[tenant].cidr 172.16.0.0/24",
        "networks[storage].cidr 172.16.1.0/24"]
    assert all(p.startswith("networks[storage_nfs].cidr: 172.16.0.0/22 overlaps") for p in problems)


def test_ipv6_and_ipv4_do_not_overlap_and_ipv6_rules_apply():
    # the same integers (10.0.0.0/8 and ::a00:0/104), different families: no overlap
    assert network_problems([{"name": "a", "cidr": "10.0.0.0/8"}, {"name": "b", "cidr": "::a00:0/104"}]) == []
    one_problem(with_net("storage_mgmt", cidr="fd00:fd00:fd00:4000::1/64"), "networks[storage_mgmt].cidr",
                "use fd00:fd00:fd00:4000::/64")
    one_problem(with_net("storage_mgmt", gateway="fd00:fd00:fd00:4000::"), "networks[storage_mgmt].gateway",
                "network address")


def test_all_problems_are_reported_at_once():
    nets = with_net("internal_api", vlan=5000, mtu=100, gateway="1.2.3.4")
    fields = sorted(p.split(":")[0] for p in network_problems(nets))
    assert fields == ["networks[internal_api].gateway", "networks[internal_api].mtu", "networks[internal_api].vlan"]


# --- network_plan -------------------------------------------------------------------------

NODES = {"controller-0": ["ctlplane", "internal_api", "tenant", "storage", "external"],
         "controller-1": ["ctlplane", "internal_api", "tenant", "storage", "external"],
         "compute-0": ["ctlplane", "internal_api", "tenant", "storage"]}


def test_plan_shape_and_first_allocation():
    plan = network_plan(NODES, networks())
    assert sorted(plan) == ["compute-0", "controller-0", "controller-1"]
    assert plan["compute-0"]["internal_api"] == {"address": "172.16.2.4", "prefix": 24, "cidr": "172.16.2.0/24",
                                                 "vlan": 20, "mtu": 1500, "gateway": None}
    assert plan["controller-0"]["external"] == {"address": "10.0.0.4", "prefix": 24, "cidr": "10.0.0.0/24",
                                                "vlan": 10, "mtu": 1500, "gateway": "10.0.0.1"}
    assert plan["controller-0"]["ctlplane"] == {"address": "192.168.24.101", "prefix": 24, "cidr": "192.168.24.0/24",
                                                "vlan": None, "mtu": 1500, "gateway": "192.168.24.1"}
    assert plan["controller-1"]["tenant"]["mtu"] == 9000  # no pools: the cidr's hosts, from .1
    assert addresses(plan) == {
        "compute-0": {"ctlplane": "192.168.24.100", "internal_api": "172.16.2.4", "tenant": "172.16.0.1",
                      "storage": "172.16.1.10"},
        "controller-0": {"ctlplane": "192.168.24.101", "internal_api": "172.16.2.5", "tenant": "172.16.0.2",
                         "storage": "172.16.1.11", "external": "10.0.0.4"},
        "controller-1": {"ctlplane": "192.168.24.102", "internal_api": "172.16.2.6", "tenant": "172.16.0.3",
                         "storage": "172.16.1.4", "external": "10.0.0.5"},  # pools in their order, not sorted
    }
    json.dumps(plan)  # plain data, ready for to_nice_yaml


def test_default_pool_skips_the_gateway():
    nets = [{"name": "ctlplane", "cidr": "192.168.24.0/29", "gateway": "192.168.24.1"}]
    plan = network_plan({"a": ["ctlplane"], "b": ["ctlplane"]}, nets)
    assert addresses(plan) == {"a": {"ctlplane": "192.168.24.2"}, "b": {"ctlplane": "192.168.24.3"}}


def test_deterministic_whatever_the_order():
    expected = network_plan(NODES, networks())
    rng = random.Random(7)
    for _ in range(5):
        items = list(NODES.items())
        rng.shuffle(items)
        nodes = dict((node, list(reversed(nets))) for node, nets in items)
        assert network_plan(nodes, networks()) == expected
        assert list(network_plan(nodes, networks())) == sorted(NODES)


def test_adding_a_node_moves_no_other():
    before = network_plan(NODES, networks())
    nodes = dict(NODES, **{"compute-00": ["ctlplane", "internal_api"]})  # sorts before controller-0
    after = network_plan(nodes, networks(), previous=before)
    for node in NODES:
        assert after[node] == before[node]
    assert after["compute-00"]["internal_api"]["address"] == "172.16.2.7"
    # without the previous plan it would have taken controller-0's address: the previous plan is what keeps them
    assert network_plan(nodes, networks())["compute-00"]["internal_api"]["address"] == "172.16.2.5"


def test_removing_a_node_moves_no_other_and_drops_it():
    before = network_plan(NODES, networks())
    nodes = dict(NODES)
    del nodes["compute-0"]
    after = network_plan(nodes, networks(), previous=before)
    assert sorted(after) == ["controller-0", "controller-1"]
    for node in nodes:
        assert after[node] == before[node]
    # its freed addresses are the next ones handed out
    nodes["compute-1"] = ["internal_api"]
    assert network_plan(nodes, networks(), previous=after)["compute-1"]["internal_api"]["address"] == "172.16.2.4"


def test_previous_address_kept_though_not_the_lowest():
    previous = {"compute-0": {"internal_api": {"address": "172.16.2.200"}}}
    plan = network_plan({"compute-0": ["internal_api"], "compute-1": ["internal_api"]}, networks(), previous=previous)
    assert addresses(plan) == {"compute-0": {"internal_api": "172.16.2.200"}, "compute-1": {"internal_api": "172.16.2.4"}}


def test_previous_outside_the_pools_but_in_the_cidr_is_kept():
    previous = {"compute-0": {"internal_api": {"address": "172.16.2.251", "prefix": 24}}}
    plan = network_plan({"compute-0": ["internal_api"]}, networks(), previous=previous)
    assert plan["compute-0"]["internal_api"]["address"] == "172.16.2.251"


def test_previous_dropped_when_no_longer_valid():
    previous = {"a": {"internal_api": {"address": "172.16.9.7"},  # outside the cidr now
                      "external": {"address": "10.0.0.1"},  # the gateway now
                      "tenant": {"address": "172.16.0.9"}},  # a network a no longer needs
                "gone": {"internal_api": {"address": "172.16.2.4"}}}
    plan = network_plan({"a": ["internal_api", "external"]}, networks(), previous=previous)
    assert addresses(plan) == {"a": {"internal_api": "172.16.2.4", "external": "10.0.0.4"}}


def test_previous_refreshes_vlan_mtu_gateway_of_the_network():
    before = network_plan({"a": ["internal_api"]}, networks())
    nets = with_net("internal_api", vlan=21, mtu=9000, gateway="172.16.2.1")
    after = network_plan({"a": ["internal_api"]}, nets, previous=before)
    assert after["a"]["internal_api"] == {"address": "172.16.2.4", "prefix": 24, "cidr": "172.16.2.0/24",
                                          "vlan": 21, "mtu": 9000, "gateway": "172.16.2.1"}


def test_previous_loaded_from_yaml_round_trips():
    before = network_plan(NODES, networks())
    previous = yaml.safe_load(yaml.safe_dump(before))
    assert network_plan(NODES, networks(), previous=previous) == before


def test_previous_malformed_is_an_error():
    with pytest.raises(AnsibleFilterError, match=r"previous\[a\]\[internal_api\]\.address: 'nope' is not an IP"):
        network_plan({"a": ["internal_api"]}, networks(), previous={"a": {"internal_api": {"address": "nope"}}})
    with pytest.raises(AnsibleFilterError, match="previous: must be an earlier result"):
        network_plan({"a": ["internal_api"]}, networks(), previous=["a"])


def test_fixed_addresses_used_as_is_and_skipped_by_others():
    fixed = {"controller-0": {"ctlplane": "192.168.24.100"}, "compute-0": {"ctlplane": "192.168.24.10"}}
    plan = network_plan(NODES, networks(), fixed=fixed)
    assert addresses(plan)["compute-0"]["ctlplane"] == "192.168.24.10"  # outside the pools is fine
    assert addresses(plan)["controller-0"]["ctlplane"] == "192.168.24.100"
    assert addresses(plan)["controller-1"]["ctlplane"] == "192.168.24.101"  # .100 is taken


def test_fixed_wins_over_another_nodes_previous_address():
    previous = network_plan(NODES, networks())
    assert previous["compute-0"]["ctlplane"]["address"] == "192.168.24.100"
    plan = network_plan(NODES, networks(), previous=previous, fixed={"controller-1": {"ctlplane": "192.168.24.100"}})
    assert addresses(plan)["controller-1"]["ctlplane"] == "192.168.24.100"
    # moved: to the lowest free address, which controller-1 gave up for its fixed one
    assert addresses(plan)["compute-0"]["ctlplane"] == "192.168.24.102"
    assert addresses(plan)["controller-0"] == addresses(previous)["controller-0"]


def test_fixed_of_a_network_not_needed_still_reserves_it():
    plan = network_plan({"a": ["ctlplane"], "b": []}, networks(), fixed={"b": {"ctlplane": "192.168.24.100"}})
    assert plan == {"a": {"ctlplane": dict(plan["a"]["ctlplane"], address="192.168.24.101")}, "b": {}}


@pytest.mark.parametrize("address, fragment", [
    ("192.168.25.10", "192.168.25.10 is outside cidr 192.168.24.0/24"),
    ("192.168.24.255", "192.168.24.255 is the broadcast address of cidr 192.168.24.0/24"),
    ("ctl-0.example.com", "'ctl-0.example.com' is not an IP address"),
])
def test_fixed_address_validated(address, fragment):
    with pytest.raises(AnsibleFilterError) as info:
        network_plan({"ctl-0": ["ctlplane"]}, networks(), fixed={"ctl-0": {"ctlplane": address}})
    assert str(info.value).startswith("fixed address of node ctl-0 on network ctlplane: " + fragment), info.value


def test_fixed_address_shared_by_two_nodes():
    fixed = {"b": {"ctlplane": "192.168.24.10"}, "a": {"ctlplane": "192.168.24.10"}}
    with pytest.raises(AnsibleFilterError, match="nodes a and b both have 192.168.24.10 on network ctlplane"):
        network_plan({"a": ["ctlplane"], "b": ["ctlplane"]}, networks(), fixed=fixed)


def test_fixed_on_an_undefined_network():
    with pytest.raises(AnsibleFilterError, match=r"fixed\[a\]: network 'ctlplnae' is not defined"):
        network_plan({"a": ["ctlplane"]}, networks(), fixed={"a": {"ctlplnae": "192.168.24.10"}})


def test_unknown_network_names_node_and_network():
    with pytest.raises(AnsibleFilterError, match=r"nodes\[compute-0\]: network 'storage_nfs' is not defined"):
        network_plan({"compute-0": ["ctlplane", "storage_nfs"]}, networks())


def test_invalid_networks_raise_with_every_problem():
    nets = with_net("internal_api", vlan=5000, mtu=100)
    with pytest.raises(AnsibleFilterError) as info:
        network_plan({"a": ["ctlplane"]}, nets)
    msg = str(info.value)
    assert msg.startswith("the networks have 2 problem(s): ")
    assert "networks[internal_api].vlan" in msg and "networks[internal_api].mtu" in msg


def test_exhaustion_names_the_nodes_left_without():
    nets = with_net("storage", allocation_pools=[{"start": "172.16.1.10", "end": "172.16.1.11"}])
    nodes = dict(("node-%d" % i, ["storage"]) for i in range(4))
    previous = {"node-3": {"storage": {"address": "172.16.1.10"}}}
    with pytest.raises(AnsibleFilterError) as info:
        network_plan(nodes, nets, previous=previous)
    assert str(info.value) == ("networks[storage]: allocation pools exhausted: 3 nodes need an address, 1 free; "
                               "widen allocation_pools (left without one: node-1, node-2)")


def test_empty_pools_only_fixed_addresses():
    nets = with_net("ctlplane", allocation_pools=[])
    assert network_problems(nets) == []
    plan = network_plan({"a": ["ctlplane"]}, nets, fixed={"a": {"ctlplane": "192.168.24.5"}})
    assert plan["a"]["ctlplane"]["address"] == "192.168.24.5"
    with pytest.raises(AnsibleFilterError, match="1 nodes need an address, 0 free"):
        network_plan({"a": ["ctlplane"], "b": ["ctlplane"]}, nets, fixed={"a": {"ctlplane": "192.168.24.5"}})


def test_ipv6_network():
    nets = networks() + [{"name": "v6", "cidr": "2001:DB8:0:1::/64", "gateway": "2001:db8:0:1::1", "mtu": 1400,
                          "allocation_pools": [{"start": "2001:db8:0:1::10", "end": "2001:db8:0:1::ffff"}]}]
    plan = network_plan({"b": ["storage_mgmt", "v6"], "a": ["storage_mgmt", "v6"]}, nets,
                        previous={"b": {"v6": {"address": "2001:0db8:0:1::0020"}}})
    assert plan["a"]["storage_mgmt"] == {"address": "fd00:fd00:fd00:4000::1", "prefix": 64,
                                         "cidr": "fd00:fd00:fd00:4000::/64", "vlan": 40, "mtu": 1500, "gateway": None}
    assert plan["b"]["storage_mgmt"]["address"] == "fd00:fd00:fd00:4000::2"
    assert plan["a"]["v6"] == {"address": "2001:db8:0:1::10", "prefix": 64, "cidr": "2001:db8:0:1::/64",
                               "vlan": None, "mtu": 1400, "gateway": "2001:db8:0:1::1"}
    assert plan["b"]["v6"]["address"] == "2001:db8:0:1::20"  # kept, written the canonical way


def test_input_is_not_changed():
    nets, nodes = networks(), copy.deepcopy(NODES)
    previous = network_plan(NODES, networks())
    saved = copy.deepcopy((nets, nodes, previous))
    network_plan(nodes, nets, previous=previous, fixed={"compute-0": {"ctlplane": "192.168.24.9"}})
    assert (nets, nodes, previous) == saved


# --- through ansible -----------------------------------------------------------------------


def test_filters_render_in_ansible(tmp_path, collections):
    """The filters as a play uses them: the networks from a file, the plan saved and read back."""
    (tmp_path / "networks.yml").write_text(NETWORKS_YAML)
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"ansible.builtin.set_fact": {
            "nets": "{{ lookup('ansible.builtin.file', 'networks.yml') | from_yaml }}"}},
        {"ansible.builtin.set_fact": {
            "problems": "{{ nets | stackwright.cloud.network_problems }}",
            "bad": "{{ [{'name': 'x', 'cidr': '10.0.0.0/24', 'vlan': 9999}] | stackwright.cloud.network_problems }}",
            "plan": "{{ {'b': ['internal_api', 'ctlplane'], 'a': ['internal_api']}"
                    " | stackwright.cloud.network_plan(nets, fixed={'b': {'ctlplane': '192.168.24.7'}}) }}"}},
        {"ansible.builtin.set_fact": {
            "plan2": "{{ {'a': ['internal_api'], 'b': ['internal_api'], 'aa': ['internal_api']}"
                     " | stackwright.cloud.network_plan(nets, previous=(plan | to_nice_yaml | from_yaml)) }}"}},
        {"ansible.builtin.copy": {"dest": str(tmp_path / "out.json"), "mode": "0600",
                                  "content": "{{ {'problems': problems, 'bad': bad, 'plan': plan, 'plan2': plan2}"
                                             " | to_json }}"}},
        {"ansible.builtin.debug": {"msg": "{{ [] | stackwright.cloud.network_plan(nets) }}"},
         "register": "failure", "ignore_errors": True},
        {"ansible.builtin.assert": {"that": ["failure is failed", "'nodes: must be a mapping' in failure.msg"]}},
    ]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "play.yml"], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["problems"] == []
    assert out["bad"] == ["networks[x].vlan: 9999 is not a VLAN id; use an integer 1-4094"]
    assert out["plan"] == network_plan({"a": ["internal_api"], "b": ["ctlplane", "internal_api"]}, networks(),
                                       fixed={"b": {"ctlplane": "192.168.24.7"}})
    assert out["plan"]["b"]["ctlplane"]["address"] == "192.168.24.7"
    assert addresses(out["plan2"]) == {"a": {"internal_api": "172.16.2.4"}, "aa": {"internal_api": "172.16.2.6"},
                                       "b": {"internal_api": "172.16.2.5"}}
