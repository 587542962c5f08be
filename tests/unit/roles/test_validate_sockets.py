"""The listening-socket check (roles/validate/tasks/sockets.yml) run by ansible-playbook
against the collection's real service roles: the plan comes from their declarations
and the deployment's address plan, each node's sockets from `ss` (a stand-in printing
what a node printed), and a socket outside the plan fails the run naming it."""
import json
import os
import stat
import subprocess
import sys

import yaml

PLAN = {
    "ctl0": {"ctlplane": {"address": "192.168.24.10"}, "internal_api": {"address": "172.16.2.10"},
             "tenant": {"address": "172.16.0.10"}, "storage": {"address": "172.16.1.10"},
             "external": {"address": "10.0.0.10"}},
    "cmp0": {"ctlplane": {"address": "192.168.24.20"}, "internal_api": {"address": "172.16.2.20"},
             "tenant": {"address": "172.16.0.20"}, "storage": {"address": "172.16.1.20"}},
}


def _ss(address, port, process, proto="tcp"):
    state = "LISTEN" if proto == "tcp" else "UNCONN"
    return '%s %s 0 128 %s:%s 0.0.0.0:* users:(("%s",pid=100,fd=3))' % (proto, state, address, port, process)


# A controller of the stock Controller role, as deployed with the exposure closed.
CONTROLLER = [_ss("0.0.0.0", 22, "sshd"), _ss("127.0.0.1", 323, "chronyd", "udp"),
              _ss("172.16.2.10", 3306, "mariadbd"), _ss("172.16.2.10", 5672, "beam.smp"),
              _ss("172.16.2.10", 25672, "beam.smp"), _ss("172.16.2.10", 4369, "epmd"), _ss("127.0.0.1", 4369, "epmd"),
              _ss("172.16.2.10", 11211, "memcached"), _ss("172.16.2.10", 6641, "ovsdb-server"),
              _ss("172.16.2.10", 6642, "ovsdb-server"), _ss("192.168.24.10", 6080, "nova-novncproxy")]
CONTROLLER += [_ss(a, p, "uwsgi_python3") for a in ("172.16.2.10", "192.168.24.10")
               for p in (5000, 9292, 8778, 8774, 8775, 9696, 8776)]
CONTROLLER += [_ss(a, 80, "apache2") for a in ("172.16.2.10", "192.168.24.10")]
COMPUTE = [_ss("0.0.0.0", 22, "sshd"), _ss("172.16.2.20", 5900, "qemu-system-x86")]


def _run(tmp_path, collections, outputs, strays):
    """One run: the check over the nodes' outputs, then again with the strays added,
    its failure message kept in failure.txt."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "network-plan.yml").write_text(yaml.safe_dump(PLAN))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, lines in outputs.items():
        (tmp_path / ("ss-" + name)).write_text("".join(line + "\n" for line in lines))
        (tmp_path / ("stray-" + name)).write_text("".join(line + "\n" for line in lines + strays.get(name, [])))
        # each node's interpreter says which node it is to the stand-in ss
        python = bin_dir / ("python-" + name)
        python.write_text('#!/bin/sh\nSS_NODE=%s exec %s "$@"\n' % (name, sys.executable))
        python.chmod(0o755)
    ss = bin_dir / "ss"
    ss.write_text('#!/bin/sh\n[ "$*" = "-H -l -n -t -u -p" ] || exit 2\nexec cat %s/ss-"$SS_NODE"\n' % tmp_path)
    ss.chmod(ss.stat().st_mode | stat.S_IEXEC)
    inventory = {"all": {
        "children": {
            "undercloud": {"hosts": {"uc": {"ansible_python_interpreter": sys.executable}}},
            "overcloud": {"children": {
                "Controller": {"hosts": {"ctl0": {"ansible_python_interpreter": str(bin_dir / "python-ctl0")}}},
                "Compute": {"hosts": {"cmp0": {"ansible_python_interpreter": str(bin_dir / "python-cmp0")}}}}}},
        "vars": {"ansible_connection": "local", "overcloud_state_dir": str(state),
                 "overcloud_public_network": "ctlplane"}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    check = {"ansible.builtin.include_role": {"name": "stackwright.cloud.validate", "tasks_from": "sockets.yml"}}
    (tmp_path / "play.yml").write_text(json.dumps([{
        "hosts": "undercloud", "gather_facts": False,
        "tasks": [check,
                  {"ansible.builtin.copy": {"content": "{{ _validate_socket_roles | to_json }}",
                                            "dest": str(tmp_path / "roles.json"), "mode": "0600"}},
                  {"ansible.builtin.shell": "for f in stray-*; do cp $f ss-${f#stray-}; done",
                   "args": {"chdir": str(tmp_path)}},
                  {"block": [check],
                   "rescue": [{"ansible.builtin.copy": {"content": "{{ ansible_failed_result.msg }}",
                                                        "dest": str(tmp_path / "failure.txt"), "mode": "0600"}}]}]}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               PATH="%s:%s" % (bin_dir, env["PATH"]))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           "-i", "inventory.yml", "play.yml"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)


def test_nodes_as_deployed_pass_and_strays_are_named(tmp_path, collections):
    proc = _run(tmp_path, collections, {"ctl0": CONTROLLER, "cmp0": COMPUTE}, strays={
        # the console proxy on the wildcard; Horizon on the tenant network
        "ctl0": [_ss("0.0.0.0", 6080, "nova-novncproxy"), _ss("172.16.0.10", 80, "apache2")],
        # Open vSwitch's TCP manager; Keystone's port where the plan puts no Keystone
        "cmp0": [_ss("127.0.0.1", 6640, "ovsdb-server"), _ss("172.16.2.20", 5000, "uwsgi_python3")]})
    # the first check passed (the play went on), the second failed and was rescued
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the roles found: those with a declaration or sockets of their own
    found = json.loads((tmp_path / "roles.json").read_text())
    assert {"cinder", "glance", "horizon", "keystone", "mariadb", "memcached", "neutron", "nova", "placement",
            "rabbitmq"} <= set(found), found
    failure = (tmp_path / "failure.txt").read_text()
    assert failure.startswith("4 listening socket(s) are not in the plan:"), failure
    for named in ("ctl0: tcp 0.0.0.0:6080 (nova-novncproxy) is not in the plan",
                  "ctl0: tcp 172.16.0.10:80 (apache2) is not in the plan",
                  "cmp0: tcp 127.0.0.1:6640 (ovsdb-server) is not in the plan",
                  "cmp0: tcp 172.16.2.20:5000 (uwsgi_python3) is not in the plan"):
        assert named in failure, failure
