"""host_network with a server role's links, run by ansible-playbook on this host: a link
on an interface the node does not have, or naming a provider bridge that is not
planned, fails with a message naming the field before anything is read from
systemd-networkd or written (only `ip -o link show` runs)."""

import json
import os
import subprocess
import sys

ADDRESSES = {"ctlplane": {"address": "192.0.2.10", "prefix": 24, "vlan": None, "mtu": 1500},
             "tenant": {"address": "198.51.100.10", "prefix": 24, "vlan": 50, "mtu": 1500}}


def run_role(tmp_path, collections, links):
    inventory = {"all": {"hosts": {"node0": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "overcloud_addresses": ADDRESSES, "overcloud_links": links}}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(json.dumps([{"hosts": "node0", "gather_facts": False,
                                                    "roles": ["stackwright.cloud.host_network"]}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "inventory.json",
                           "play.yml"], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_a_link_on_an_interface_the_node_lacks_is_named(tmp_path, collections):
    code, output = run_role(tmp_path, collections, [
        {"name": "bond0", "bond": ["lo", "swnosuch0"], "networks": ["tenant"]}, {"name": "swnosuch1"}])
    assert code != 0
    assert ("node0 has no interface swnosuch1, swnosuch0, which its server role's links name (overcloud_server_roles "
            "links: name and bond); it has lo, ") in output, output
    assert "Find the ctlplane link" not in output, "refused before systemd-networkd was asked anything"


def test_a_link_to_a_provider_bridge_not_planned_is_named(tmp_path, collections):
    code, output = run_role(tmp_path, collections, [{"name": "lo", "provider_bridge": "br-nosuch"}])
    assert code != 0
    assert ("overcloud_server_roles: links lo name provider bridges (br-nosuch) that host_network_provider_bridges "
            "does not have (br-ex)") in output, output
