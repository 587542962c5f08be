"""The day-2 playbooks that talk to the undercloud's registry (node-list.yml,
remove-node.yml, scale-in.yml's checks) and the provision role's entry points behind
them, run for real: ansible-playbook against an in-process conductor agent on a
temporary socket, every host local. Nothing here powers or cleans a machine: the
refusals are what is run, and a pre-provisioned node's record is what is removed."""

import json
import os
import subprocess
import sys

import pytest

from fixtures import ROOT, RunningAgent
from stackwright_agent.config import Config

BIN = os.path.dirname(sys.executable)
NODES = {"nodes": [
    {"name": "bm0", "role": "Compute", "macs": ["52:54:00:aa:01:01"], "root_device": {},
     "bmc": {"address": "192.0.2.11", "username": "admin", "password": "pw-bm0"}},
    {"name": "pp0", "role": "Compute", "network": {"address": "192.168.24.40/24"}},
]}
NETWORKS = [{"name": "ctlplane", "cidr": "192.168.24.0/24"}, {"name": "internal_api", "cidr": "172.16.2.0/24"},
            {"name": "tenant", "cidr": "172.16.0.0/24"}, {"name": "storage", "cidr": "172.16.1.0/24"},
            {"name": "external", "cidr": "10.0.0.0/24"}]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, collections):
    """A conductor agent holding bm0 (bare metal) and pp0 (pre-provisioned), enrolled by
    provision.yml from a nodes file; an inventory with that undercloud and an overcloud
    of ctl0 (Controller) and cmp0 (Compute). Yields run(playbook, *args) -> (rc, output)."""
    tmp = tmp_path_factory.mktemp("registry")
    agent = RunningAgent(Config(socket=str(tmp / "agent.sock"), state_dir=str(tmp / "state"), roles=["conductor"]))
    (tmp / "nodes.yml").write_text(json.dumps(NODES))
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "provision_agent_socket": agent.config.socket, "overcloud_state_dir": str(tmp / "overcloud"),
                 "overcloud_networks": NETWORKS},
        "children": {
            "undercloud": {"hosts": {"uc": {"provision_nodes_file": str(tmp / "nodes.yml")}}},
            "overcloud": {"children": {"Controller": {"hosts": {"ctl0": {"ansible_host": "192.168.24.10"}}},
                                       "Compute": {"hosts": {"cmp0": {"ansible_host": "192.168.24.20"}}}}}}}}
    (tmp / "inventory.yml").write_text(json.dumps(inventory))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0")

    def run(playbook, *args):
        path = playbook if os.path.isabs(playbook) else os.path.join(ROOT, "playbooks", playbook)
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp / "inventory.yml"), path]
                              + list(args), cwd=str(tmp), env=env, capture_output=True, text=True, timeout=600)
        return proc.returncode, " ".join((proc.stdout + proc.stderr).split())

    code, output = run("provision.yml", "-e", "provision_enroll_only=true")
    assert code == 0, output
    run.tmp = tmp
    yield run
    agent.stop()


def test_node_list_shows_the_registry(lab):
    code, output = lab("node-list.yml")
    assert code == 0, output
    assert "bm0 | Compute | enrolled | unknown | None | None" in output
    assert "pp0 | Compute | enrolled | unknown | 192.168.24.40 | None" in output


@pytest.mark.parametrize("args, message", [
    ((), "node: give -e node=NAME, one of bm0, pp0"),
    (("-e", "node=nosuch"), "node: give -e node=NAME, one of bm0, pp0"),
    (("-e", "node=pp0"), "node: pp0 has no BMC (pre-provisioned): it cannot be cleaned over PXE"),
])
def test_remove_node_refuses(lab, args, message):
    code, output = lab("remove-node.yml", *args)
    assert code != 0 and message in output, output


@pytest.mark.parametrize("args, message", [
    (("-e", "node=nosuch"), "node: nosuch is not an overcloud host of the inventory (its compute hosts: cmp0), and "
                            "the registry has no record of it; give one of the compute hosts"),
    (("-e", "node=nosuch", "-e", "scale_in_unprovision=false"),
     "node: nosuch is not an overcloud host of the inventory (its compute hosts: cmp0); give one of the compute hosts"),
    (("-e", "node=ctl0"), "node: ctl0 runs no nova_compute"),
    ((), "node: give -e node=NAME, one of the compute hosts cmp0"),
])
def test_scale_in_refuses_before_anything_changes(lab, args, message):
    code, output = lab("scale-in.yml", *args)
    assert code != 0 and message in output, output
    assert "Disable nova-compute on the node" not in output


def test_provision_entry_points_from_another_host(lab):
    """What scale-in runs from a nova control host: a node's record, the bare-metal node
    made a host of group removing (with its BMC password), a pre-provisioned node's record
    removed."""
    play = [{"hosts": "ctl0", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_role": {"name": "stackwright.cloud.provision", "tasks_from": "record.yml"},
         "vars": {"provision_node_name": "pp0"}},
        {"ansible.builtin.set_fact": {"pp0": "{{ [provision_record.provision_state, provision_file_entry.bmc] }}"}},
        {"ansible.builtin.include_role": {"name": "stackwright.cloud.provision", "tasks_from": "record.yml"},
         "vars": {"provision_node_name": "nosuch"}},
        {"ansible.builtin.include_role": {"name": "stackwright.cloud.provision", "tasks_from": "select.yml"},
         "vars": {"provision_node_name": "bm0"}},
        {"ansible.builtin.include_role": {"name": "stackwright.cloud.provision", "tasks_from": "forget.yml"},
         "vars": {"provision_node_name": "pp0"}},
        {"ansible.builtin.copy": {"dest": str(lab.tmp / "entry.json"), "mode": "0600", "content": (
            "{{ {'pp0': pp0, 'nosuch': [provision_record, provision_file_entry], 'removing': groups['removing'],"
            " 'bm0_password': hostvars['bm0'].provision_node.bmc.password} | to_json }}")},
         "delegate_to": "localhost"}]}]
    (lab.tmp / "entry.yml").write_text(json.dumps(play))
    code, output = lab(str(lab.tmp / "entry.yml"))
    assert code == 0, output
    assert "pw-bm0" not in output  # the nodes file's passwords are never shown
    assert json.loads((lab.tmp / "entry.json").read_text()) == {
        "pp0": ["enrolled", None], "nosuch": [None, None], "removing": ["bm0"], "bm0_password": "pw-bm0"}
    code, output = lab("node-list.yml")
    assert code == 0 and "bm0 | Compute" in output and "pp0 |" not in output, output
