"""deploy.yml on a failed node: a compute or storage node (node services only) is set
aside and the others deploy on, the run ends failed and names it; a failed controller,
or too many failed compute nodes, stops the run at the end of the play. Runs
deploy.yml's own post_tasks and closing task in plays whose tasks fail on chosen hosts."""
import os
import sys

import yaml

from fixtures import ROOT, run_play

COMPUTES = ["cmp0", "cmp1", "cmp2", "cmp3"]


def deploy_plays():
    with open(os.path.join(ROOT, "playbooks", "deploy.yml")) as fh:
        return yaml.safe_load(fh)


def test_every_node_play_ends_with_the_failure_check():
    plays = deploy_plays()
    assert plays[0]["any_errors_fatal"] is True  # the plan: nothing touched yet, any failure stops
    gate = plays[1]["post_tasks"]
    assert gate[0]["ansible.builtin.import_role"]["tasks_from"] == "failures.yml"
    for play in plays[1:-1]:
        assert "any_errors_fatal" not in play, play["name"]
        assert play["post_tasks"] == gate, play["name"]


def run(tmp_path, collections, fail_on, percentage=25, returncode=2, unreachable=()):
    plays = deploy_plays()
    gate, summary = plays[1]["post_tasks"], plays[-1]["tasks"][-1]
    marker = str(tmp_path / "reached-{{ inventory_hostname }}")

    def play(name, tasks):
        return {"name": name, "hosts": "all", "gather_facts": False, "tasks": tasks, "post_tasks": gate}
    book = [
        play("Service A", [{"name": "A node's step", "ansible.builtin.fail": {"msg": "broken"},
                            "when": "inventory_hostname in %r" % (fail_on,)}]),
        play("Service B", [{"name": "Reached", "ansible.builtin.file": {"path": marker, "state": "touch",
                                                                        "mode": "0600"}}]),
        {"name": "Closing", "hosts": "all", "gather_facts": False, "tasks": [summary]},
    ]
    inventory = {"all": {
        # an unreachable node: SSH to a closed port
        "hosts": {h: ({"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9}
                      if h in unreachable else {}) for h in ["ctl0"] + COMPUTES},
        "children": {"overcloud_node_service_hosts": {"hosts": {h: {} for h in COMPUTES}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes",
                 "overcloud_max_fail_percentage": percentage}}}
    proc = run_play(tmp_path, collections, book, inventory, returncode=returncode)
    reached = sorted(p.name[len("reached-"):] for p in tmp_path.iterdir() if p.name.startswith("reached-"))
    return proc.stdout, reached


def test_a_failed_compute_node_is_set_aside(tmp_path, collections):
    out, reached = run(tmp_path, collections, fail_on=["cmp2"])
    assert reached == ["cmp0", "cmp1", "cmp3", "ctl0"]
    assert "failed, left out of the deploy: cmp2" in out


def test_an_unreachable_compute_node_is_set_aside(tmp_path, collections):
    out, reached = run(tmp_path, collections, fail_on=[], unreachable=["cmp1"], returncode=4)
    assert reached == ["cmp0", "cmp2", "cmp3", "ctl0"]
    assert "failed, left out of the deploy: cmp1" in out


def test_a_failed_controller_stops_the_run(tmp_path, collections):
    out, reached = run(tmp_path, collections, fail_on=["ctl0"])
    assert reached == []
    assert "a node that runs control services failed (ctl0): the run stops" in out


def test_more_failed_compute_nodes_than_allowed_stop_the_run(tmp_path, collections):
    out, reached = run(tmp_path, collections, fail_on=["cmp0", "cmp1"])
    assert reached == []
    assert "2 of the 4 compute and storage nodes in this play failed (cmp0, cmp1)" in out


def test_zero_percent_stops_on_any_failure(tmp_path, collections):
    out, reached = run(tmp_path, collections, fail_on=["cmp3"], percentage=0)
    assert reached == []
    assert "more than overcloud_max_fail_percentage (0 %)" in out


def test_no_failure_no_summary(tmp_path, collections):
    out, reached = run(tmp_path, collections, fail_on=[], returncode=0)
    assert reached == ["cmp0", "cmp1", "cmp2", "cmp3", "ctl0"]
    assert "left out of the deploy" not in out


def test_which_nodes_may_be_set_aside(tmp_path, collections):
    roles = os.path.join(collections, "ansible_collections", "stackwright", "cloud", "roles", "overcloud")
    out = tmp_path / "out-{{ inventory_hostname }}"
    tasks = [{"ansible.builtin.include_vars": {"file": "%s/vars/main.yml" % roles}}]
    tasks.append({"ansible.builtin.copy": {"content": "{{ _overcloud_node_services_only }}", "dest": str(out),
                                           "mode": "0600"}})
    # the default server roles, and a compute role that also runs a control service
    inventory = {"all": {
        "children": {"Controller": {"hosts": {"ctl": {}}}, "Compute": {"hosts": {"cmp": {}, "mixed": {}}},
                     "BlockStorage": {"hosts": {"blk": {}, "mixed": {}}}, "AllInOne": {"hosts": {"aio": {}}},
                     "Telemetry": {"hosts": {"mixed": {}}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    play = {"hosts": "all", "gather_facts": False, "tasks": tasks,
            "vars": {"overcloud_server_roles": {
                "Controller": {"services": ["keystone"]}, "Compute": {"services": ["nova_compute", "neutron_agent"]},
                "BlockStorage": {"services": ["cinder_volume"]}, "AllInOne": {"services": ["keystone", "nova_compute"]},
                "Telemetry": {"services": ["ceilometer_compute", "gnocchi"]}}}}
    run_play(tmp_path, collections, [play], inventory)
    got = {h: (tmp_path / ("out-" + h)).read_text() for h in ("ctl", "cmp", "blk", "aio", "mixed")}
    assert got == {"ctl": "False", "cmp": "True", "blk": "True", "aio": "False", "mixed": "False"}
