"""What the service roles bind, rendered by ansible-playbook from the roles' own vars and
templates for a controller with an internal_api and a public address: nothing on the
wildcard, Open vSwitch reached through its local socket, RabbitMQ's distribution port
and epmd on internal_api."""
import json
import os
import sys

from fixtures import run_play

ADDRESSES = {"ctlplane": {"address": "192.168.24.10"}, "internal_api": {"address": "172.16.2.10"},
             "tenant": {"address": "172.16.0.10"}}
MANAGERS = ["ptcp:6640:127.0.0.1", "ptcp:6640", "pssl:6640:10.0.0.1", "ptcp6:6640", "punix:/run/openvswitch/x.sock",
            "tcp:192.168.24.1:6640"]


def test_what_the_roles_bind(tmp_path, collections):
    roles = os.path.join(collections, "ansible_collections", "stackwright", "cloud", "roles")
    out = tmp_path / "out.json"
    render = {
        "novncproxy_host": "{{ _nova_config_control.vnc.novncproxy_host }}",
        "os_vif": "{{ _nova_config_compute.os_vif_ovs.ovsdb_connection }}",
        "ovs_socket_dropin": "{{ _neutron_files_ovs_socket[0].content }}",
        "managers_kept": "{{ managers | reject('match', _neutron_ovs_listening_managers) | list }}",
        "rabbitmq_env": "{{ lookup('ansible.builtin.template', '%s/rabbitmq/templates/rabbitmq-env.conf.j2') }}" % roles,
        "epmd_socket": "{{ lookup('ansible.builtin.template', '%s/rabbitmq/templates/epmd-socket.conf.j2') }}" % roles,
    }
    tasks = [{"ansible.builtin.include_vars": {"file": "%s/%s/%s/main.yml" % (roles, role, kind)}}
             for role in ("nova", "neutron", "rabbitmq") for kind in ("defaults", "vars")
             if os.path.exists("%s/%s/%s/main.yml" % (roles, role, kind))]
    tasks.append({"ansible.builtin.copy": {"content": "{{ render | to_json }}", "dest": str(out), "mode": "0600"},
                  "vars": {"render": render, "managers": MANAGERS}})
    inventory = {"all": {
        "children": {g: {"hosts": {"ctl0": {}}}
                     for g in ("service_nova_control", "service_nova_compute", "service_neutron_agent",
                               "service_rabbitmq")},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "overcloud_addresses": ADDRESSES, "overcloud_public_network": "ctlplane",
                 "overcloud_api_addresses": ["172.16.2.10", "192.168.24.10"],
                 "nova_virt_type": "qemu", "neutron_provider_bridges": []}}}
    run_play(tmp_path, collections, [{"hosts": "ctl0", "gather_facts": False, "tasks": tasks}], inventory)
    got = json.loads(out.read_text())

    # the console proxy on the public address alone (it was 0.0.0.0 with two addresses)
    assert got["novncproxy_host"] == "192.168.24.10"
    # os-vif through the database's socket, no TCP manager left but those that do not listen
    assert got["os_vif"] == "unix:/run/openvswitch/db.sock"
    assert got["managers_kept"] == ["punix:/run/openvswitch/x.sock", "tcp:192.168.24.1:6640"]
    assert "ExecStartPost=-/bin/sh -c 'chgrp nova /run/openvswitch/db.sock && chmod 0770 /run/openvswitch/db.sock'" \
        in got["ovs_socket_dropin"].splitlines()
    # Erlang's distribution port and epmd: internal_api (and epmd the loopback), not every address
    env_lines = got["rabbitmq_env"].splitlines()
    assert 'SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {172,16,2,10}"' in env_lines
    assert "NODE_IP_ADDRESS=172.16.2.10" in env_lines
    socket_lines = got["epmd_socket"].splitlines()
    assert [line for line in socket_lines if line.startswith("ListenStream=")] == [
        "ListenStream=", "ListenStream=127.0.0.1:4369", "ListenStream=172.16.2.10:4369"]
    assert "FreeBind=true" in socket_lines
