"""The overcloud plan's filters (plugins/filter/overcloud.py), called directly, and the
overcloud role that uses them run by a real ansible-playbook on a local inventory: the
plan's facts, the secrets generated once, and the messages of bad server roles."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.stackwright.cloud.plugins.filter.overcloud import (
    ctlplane_addresses, new_secrets, node_networks, placement_problems, server_role_problems, service_hosts)

KNOWN = ["mariadb", "keystone", "nova_control", "nova_compute", "cinder_volume", "neutron_agent", "ovn_central"]
ROLES = {
    "Controller": {"services": ["mariadb", "keystone", "nova_control"], "networks": ["ctlplane", "internal_api", "external"]},
    "Compute": {"services": ["nova_compute", "neutron_agent"], "networks": ["ctlplane", "internal_api", "tenant"]},
    "BlockStorage": {"services": ["cinder_volume"], "networks": ["ctlplane", "storage", "internal_api"]},
}
# hostvars as Ansible gives them: group_names sorted, ansible_host the ctlplane address
HOSTVARS = {
    "ctl0": {"group_names": ["Controller", "overcloud"], "ansible_host": "192.168.24.10"},
    "cmp0": {"group_names": ["Compute", "overcloud"], "ansible_host": "192.168.24.20"},
    "hyb0": {"group_names": ["BlockStorage", "Compute", "overcloud"], "ansible_host": "192.168.24.30"},
    "uc": {"group_names": ["undercloud"]},
}


# --- server_role_problems ------------------------------------------------------------------


def test_good_server_roles_have_no_problem():
    assert server_role_problems(ROLES, KNOWN) == []


def test_each_problem_names_the_role_and_field():
    roles = {"Controller": {"services": ["mariadb", "nosuch"], "networks": ["internal_api"]},
             "Compute": {"services": ["nova_compute"]},
             "BlockStorage": "cinder_volume",
             "Edge": {"services": "nova_compute", "networks": ["ctlplane"]}}
    known = ", ".join(KNOWN)
    assert server_role_problems(roles, KNOWN) == [
        "Controller.services: unknown service nosuch (known: %s)" % known,
        "Controller.networks: must include ctlplane, the network the node is reached on",
        "Compute: needs services and networks lists",
        "BlockStorage: needs services and networks lists",
        "Edge: needs services and networks lists",
    ]


def test_server_roles_not_a_mapping():
    assert server_role_problems(["Controller"], KNOWN) == [
        "must be a mapping {server role: {services, networks}}, got list"]


# --- service_hosts and placement_problems ----------------------------------------------------


def test_service_hosts_by_the_groups_each_host_once():
    hosts_of = service_hosts(["ctl0", "cmp0", "hyb0", "uc"], HOSTVARS, ROLES)
    assert hosts_of == {"mariadb": ["ctl0"], "keystone": ["ctl0"], "nova_control": ["ctl0"],
                        "nova_compute": ["cmp0", "hyb0"], "neutron_agent": ["cmp0", "hyb0"],
                        "cinder_volume": ["hyb0"]}
    # a host in two roles that share a service is listed once
    roles = dict(ROLES, BlockStorage={"services": ["cinder_volume", "nova_compute"], "networks": ["ctlplane"]})
    assert service_hosts(["hyb0"], HOSTVARS, roles)["nova_compute"] == ["hyb0"]


def test_service_hosts_of_an_unknown_host():
    with pytest.raises(AnsibleFilterError, match="host nosuch is not in the inventory"):
        service_hosts(["nosuch"], HOSTVARS, ROLES)


def test_placement_without_problem():
    hosts_of = {"mariadb": ["c"], "rabbitmq": ["c"], "memcached": ["c"], "keystone": ["c"], "ovn_central": ["c"],
                "neutron_agent": ["c", "d"]}
    assert placement_problems(hosts_of, ["mariadb", "rabbitmq", "memcached", "keystone"], ["mariadb", "keystone"]) == []


def test_placement_problems_name_a_service_without_what_it_needs():
    base = {s: ["ctl0"] for s in ("mariadb", "rabbitmq", "memcached", "keystone")}
    problems = placement_problems(dict(base, zaqar=["ctl0"], ceilometer_compute=["cmp0"], swift_proxy=["ctl0"],
                                       magnum=["ctl0"], cinder_backup=["st0"], cinder_control=["ctl0"]),
                                  ["mariadb"], [])
    assert problems == [
        "swift_proxy needs swift_storage (the objects are on its hosts): put swift_storage in a server role",
        "ceilometer_compute needs ceilometer_central and gnocchi (its user and Gnocchi's resource types come with "
        "them): put ceilometer_central and gnocchi in a server role",
        "zaqar needs swift_storage (the messages are kept in Swift): put swift_storage in a server role",
        "magnum needs heat (its clusters are Heat stacks): put heat in a server role",
        "cinder_backup needs cinder_volume (it backs up the volumes of cinder-volume): put cinder_volume in a server "
        "role"]
    whole = dict(base, zaqar=["ctl0"], swift_proxy=["ctl0"], swift_storage=["ctl0"], gnocchi=["ctl0"],
                 ceilometer_central=["ctl0"], ceilometer_compute=["cmp0"], aodh=["ctl0"], magnum=["ctl0"],
                 heat=["ctl0"], trove=["ctl0"], cinder_control=["ctl0"], cinder_volume=["st0"], cinder_backup=["st0"])
    assert placement_problems(whole, ["mariadb"], []) == []


def test_placement_problems_in_order():
    hosts_of = {"mariadb": ["a", "b", "a"], "neutron_control": ["a"], "glance": ["a"], "keystone": ["b"]}
    assert placement_problems(hosts_of, ["mariadb", "rabbitmq", "keystone"], ["mariadb", "glance", "keystone"]) == [
        "no host runs rabbitmq: put a Controller (or AllInOne) node in the inventory",
        "Neutron (ML2/OVN) needs the OVN databases: put ovn_central in a server role (Controller)",
        "mariadb runs on one host only (no clustering), not on a, b",
    ]


# --- node_networks and ctlplane_addresses ------------------------------------------------------


def test_node_networks_of_all_a_hosts_roles_each_once():
    assert node_networks(["ctl0", "hyb0", "uc"], HOSTVARS, ROLES) == {
        "ctl0": ["ctlplane", "internal_api", "external"],
        "hyb0": ["ctlplane", "storage", "internal_api", "tenant"],
        "uc": [],
    }


def test_ctlplane_addresses():
    assert ctlplane_addresses(["ctl0", "cmp0"], HOSTVARS) == {"ctl0": {"ctlplane": "192.168.24.10"},
                                                              "cmp0": {"ctlplane": "192.168.24.20"}}
    with pytest.raises(AnsibleFilterError, match="uc: needs its ctlplane address as ansible_host"):
        ctlplane_addresses(["uc"], HOSTVARS)


# --- new_secrets ------------------------------------------------------------------------------


def test_new_secrets_only_for_the_missing_names():
    new = new_secrets(["a", "b", "c"], {"b": "kept"})
    assert sorted(new) == ["a", "c"]
    assert all(re.fullmatch("[A-Za-z0-9]{32}", value) for value in new.values())
    assert new["a"] != new["c"]
    assert new_secrets(["a"], {"a": "x"}) == {}
    assert sorted(new_secrets(["a"], None)) == ["a"]  # an empty secrets file reads as None
    assert len(new_secrets(["a"], {}, length=12)["a"]) == 12


def test_new_secrets_differ_between_calls():
    assert len({new_secrets(["a"])["a"] for _ in range(20)}) == 20


# --- the overcloud role, through ansible -------------------------------------------------------

NETWORKS = [
    {"name": "ctlplane", "cidr": "192.168.24.0/24", "gateway": "192.168.24.1"},
    {"name": "internal_api", "cidr": "172.16.2.0/24", "allocation_pools": [{"start": "172.16.2.10", "end": "172.16.2.99"}]},
    {"name": "tenant", "cidr": "172.16.0.0/24", "vlan": 50},
    {"name": "storage", "cidr": "172.16.1.0/24", "vlan": 30},
    {"name": "external", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "vlan": 10, "external": True},
]


def run_plan(tmp_path, collections, *extra):
    """The overcloud role on ctl0 (Controller), cmp0 (Compute) and sto0 (BlockStorage), all
    local; (returncode, output, {host: facts})."""
    state = tmp_path / "state"
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "overcloud_state_dir": str(state), "overcloud_networks": NETWORKS},
        "children": {"overcloud": {"children": {
            "Controller": {"hosts": {"ctl0": {"ansible_host": "192.168.24.10"}}},
            "Compute": {"hosts": {"cmp0": {"ansible_host": "192.168.24.20"}}},
            "BlockStorage": {"hosts": {"sto0": {"ansible_host": "192.168.24.30"}}}}}}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    play = [{"hosts": "overcloud", "gather_facts": False, "roles": ["stackwright.cloud.overcloud"], "tasks": [
        {"ansible.builtin.copy": {"dest": str(out) + "/{{ inventory_hostname }}.json", "mode": "0600",
                                  "content": "{{ {'addresses': overcloud_addresses, 'groups': group_names,"
                                             " 'links': overcloud_links,"
                                             " 'endpoints': overcloud_endpoints, 'secrets': overcloud_secrets} | to_json }}"},
         "delegate_to": "localhost"}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventory.yml",
                           "play.yml"] + list(extra), cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=300)
    facts = dict((p.stem, json.loads(p.read_text())) for p in out.glob("*.json"))
    return proc.returncode, proc.stdout + proc.stderr, facts


@pytest.fixture
def plan_run(tmp_path, collections):
    return lambda *extra: run_plan(tmp_path, collections, *extra)


def test_the_role_plans_addresses_groups_and_secrets(plan_run, tmp_path):
    code, output, facts = plan_run()
    assert code == 0, output
    assert {host: sorted(f["addresses"]) for host, f in facts.items()} == {
        "ctl0": ["ctlplane", "external", "internal_api", "storage", "tenant"],
        "cmp0": ["ctlplane", "internal_api", "storage", "tenant"],
        "sto0": ["ctlplane", "internal_api", "storage"]}  # the default server roles' networks
    assert facts["cmp0"]["addresses"]["ctlplane"]["address"] == "192.168.24.20"  # the fixed address
    # nodes in name order take the pool's lowest free addresses
    assert [facts[h]["addresses"]["internal_api"]["address"] for h in ("cmp0", "ctl0", "sto0")] == [
        "172.16.2.10", "172.16.2.11", "172.16.2.12"]
    assert "service_keystone" in facts["ctl0"]["groups"] and "service_cinder_volume" in facts["sto0"]["groups"]
    assert facts["cmp0"]["endpoints"]["keystone_internal_url"] == "http://172.16.2.11:5000"
    secrets = facts["ctl0"]["secrets"]
    assert len(secrets) == 43 and all(re.fullmatch("[A-Za-z0-9]{32}", v) for v in secrets.values())
    assert yaml.safe_load((tmp_path / "state" / "secrets.yml").read_text()) == secrets
    assert oct((tmp_path / "state" / "secrets.yml").stat().st_mode & 0o777) == "0o600"

    # run again: the same secrets, a removed one generated alone
    stored = dict(secrets)
    del stored["rabbitmq_password"]
    (tmp_path / "state" / "secrets.yml").write_text(yaml.safe_dump(stored))
    code, output, again = plan_run()
    assert code == 0, output
    assert again["ctl0"]["addresses"] == facts["ctl0"]["addresses"]
    assert {k: v for k, v in again["ctl0"]["secrets"].items() if k != "rabbitmq_password"} == stored
    assert re.fullmatch("[A-Za-z0-9]{32}", again["ctl0"]["secrets"]["rabbitmq_password"])


@pytest.mark.parametrize("roles, message", [
    ({"Controller": {"services": ["mariadb", "nosuch"], "networks": ["internal_api"]},
      "Compute": {"services": ["nova_compute"]}, "BlockStorage": {"services": [], "networks": ["ctlplane"]}},
     "overcloud_server_roles: Controller.services: unknown service nosuch (known: mariadb, rabbitmq, memcached, "
     "keystone, glance, placement, nova_control, nova_compute, ovn_central, neutron_control, neutron_agent, "
     "cinder_control, cinder_volume, cinder_backup, horizon, barbican, heat, designate, swift_proxy, swift_storage, "
     "gnocchi, ceilometer_central, ceilometer_compute, aodh, zaqar, magnum, trove); Controller.networks: must include ctlplane, the network the node is "
     "reached on; Compute: needs services and networks lists"),
    ({"Controller": {"services": ["mariadb", "neutron_control", "glance"], "networks": ["ctlplane"]},
      "Compute": {"services": ["glance", "mariadb"], "networks": ["ctlplane"]},
      "BlockStorage": {"services": ["glance"], "networks": ["ctlplane"]}},
     "no host runs rabbitmq: put a Controller (or AllInOne) node in the inventory; no host runs memcached: put a "
     "Controller (or AllInOne) node in the inventory; no host runs keystone: put a Controller (or AllInOne) node in "
     "the inventory; Neutron (ML2/OVN) needs the OVN databases: put ovn_central in a server role (Controller); "
     "mariadb runs on one host only (no clustering), not on ctl0, cmp0; glance runs on one host only (no "
     "clustering), not on ctl0, cmp0, sto0"),
])
def test_the_role_refuses_bad_server_roles_naming_the_field(plan_run, tmp_path, roles, message):
    code, output, facts = plan_run("-e", json.dumps({"overcloud_server_roles": roles}))
    assert code != 0 and facts == {}
    assert message in " ".join(output.split()), output
    assert not (tmp_path / "state").exists()  # refused before anything was written


def default_server_roles():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "overcloud", "defaults",
                           "main.yml")) as fh:
        return yaml.safe_load(fh)["overcloud_server_roles"]


BOND = {"name": "bond0", "bond": ["enp2s0", "enp3s0"], "mode": "802.3ad", "networks": ["tenant", "storage"]}


def test_each_host_gets_its_server_roles_links(plan_run):
    roles = default_server_roles()
    roles["Compute"]["links"] = [BOND]
    code, output, facts = plan_run("-e", json.dumps({"overcloud_server_roles": roles}))
    assert code == 0, output
    assert facts["cmp0"]["links"] == [BOND] and facts["ctl0"]["links"] == [] and facts["sto0"]["links"] == []


@pytest.mark.parametrize("links, message", [
    ([dict(BOND, networks=["external"])], "overcloud_server_roles: Compute.links bond0.networks: external is not one "
                                          "of the role's networks (ctlplane, internal_api, tenant, storage)"),
    ([dict(BOND, mode="balance-rr")], "overcloud_server_roles: Compute.links bond0.mode: one of active-backup, "
                                      "802.3ad, not 'balance-rr'"),
])
def test_the_role_refuses_bad_links_before_writing_anything(plan_run, tmp_path, links, message):
    roles = default_server_roles()
    roles["Compute"]["links"] = links
    code, output, facts = plan_run("-e", json.dumps({"overcloud_server_roles": roles}))
    assert code != 0 and facts == {}
    assert message in " ".join(output.split()), output
    assert not (tmp_path / "state").exists()
