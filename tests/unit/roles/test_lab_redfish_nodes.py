"""The lab's nodes file for a node with a Redfish BMC: roles/lab's own variables and
template, rendered by ansible-playbook with the BMC resources the virtual_bmc module
returns, then read back by the nodes-file loader the undercloud enrolls with; and the
role's check of the ``bmc`` field."""

import os
import subprocess
import sys

import yaml

from fixtures import ROOT, _load

nodes_file = _load("nodes_file", "plugins/module_utils/nodes_file.py")

UUID = "0f6e3b8a-2c4d-4e5f-9a1b-2c3d4e5f6a7b"
CERT = "/var/lib/stackwright/agent/bmcs/b.crt"

VARS = """
lab_workdir: %(out)s
lab_nodes: %(nodes)s
_lab_bmc_password: pw-12345
_lab_bmcs:
  results:
    - {item: {name: a}, resource: {system_id: null, certificate: null}}
    - {item: {name: b}, resource: {system_id: %(uuid)s, certificate: %(cert)s}}
_lab_bmc_of: "{{ dict(_lab_bmcs.results | map(attribute='item.name') | zip(_lab_bmcs.results | map(attribute='resource'))) }}"
"""

PLAY = """
- hosts: localhost
  gather_facts: false
  # later files win over earlier ones (play vars would lose to the role's defaults here)
  vars_files: [%(role)s/defaults/main.yml, %(role)s/vars/main.yml, %(out)s/vars.yml]
  tasks:
    - name: The role's check
      ansible.builtin.include_tasks: %(check)s
    - name: The role's template
      ansible.builtin.template:
        src: %(role)s/templates/nodes.yml.j2
        dest: %(out)s/nodes.yml
        mode: "0600"
"""


def render(tmp_path, nodes):
    role = os.path.join(ROOT, "roles", "lab")
    # the role's first tasks, up to the directory it creates: its checks
    with open(os.path.join(role, "tasks", "present.yml")) as fh:
        tasks = yaml.safe_load(fh)
    check = tmp_path / "check.yml"
    check.write_text(yaml.safe_dump([t for t in tasks if "ansible.builtin.assert" in t]))
    (tmp_path / "vars.yml").write_text(VARS % dict(out=tmp_path, nodes=nodes, uuid=UUID, cert=CERT))
    play = tmp_path / "play.yml"
    play.write_text(PLAY % dict(role=role, out=tmp_path, check=check))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, str(play)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_redfish_node_is_written_with_its_url_system_id_and_ca(tmp_path):
    proc = render(tmp_path, "[{name: a, role: Compute}, {name: b, role: Compute, firmware: uefi, bmc: redfish}]")
    assert proc.returncode == 0, proc.stdout[-2000:]
    a, b = nodes_file.load_nodes(yaml.safe_load((tmp_path / "nodes.yml").read_text()))
    assert a["bmc"]["driver"] == "ipmi" and a["bmc"]["address"] == "192.168.30.11" and a["bmc"]["port"] == 623
    assert b["bmc"]["driver"] == "redfish" and b["bmc"]["address"] == "https://192.168.30.12"
    assert b["bmc"]["system_id"] == UUID and b["bmc"]["verify_ca"] == CERT
    assert b["bmc"]["username"] == "admin" and b["bmc"]["password"] == "pw-12345"
    assert b["properties"]["boot_mode"] == "uefi"


def test_an_unknown_bmc_protocol_is_refused_naming_the_field(tmp_path):
    proc = render(tmp_path, "[{name: a, role: Compute, bmc: redfsh}]")
    assert proc.returncode != 0
    assert "lab_nodes: bmc is ipmi or redfish" in proc.stdout and "redfsh" in proc.stdout
    assert not (tmp_path / "nodes.yml").exists()
