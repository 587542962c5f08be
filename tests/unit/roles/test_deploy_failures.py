"""deploy.yml on a failed node: a compute or storage node (node services only) is set
aside and the others deploy on, the run ends failed and names it; a failed controller,
or too many failed compute nodes, stops the run at the end of the play. Runs
deploy.yml's own post_tasks and closing task in plays whose tasks fail on chosen hosts."""
import os
import sys

import yaml

from fixtures import ROOT, run_play
from unit.plugins.module_utils.openstack_standin import standin_fixture

COMPUTES = ["cmp0", "cmp1", "cmp2", "cmp3"]
standin = standin_fixture()


def deploy_plays():
    with open(os.path.join(ROOT, "playbooks", "deploy.yml")) as fh:
        return yaml.safe_load(fh)


def test_every_node_play_ends_with_the_failure_check():
    plays = deploy_plays()
    assert plays[0]["any_errors_fatal"] is True  # the plan: nothing touched yet, any failure stops
    gate, stopped = plays[1]["post_tasks"], plays[1]["pre_tasks"]
    assert gate[0]["ansible.builtin.import_role"]["tasks_from"] == "failures.yml"
    assert stopped[0]["ansible.builtin.import_role"]["tasks_from"] == "stopped.yml"
    for play in plays[1:-1]:
        assert "any_errors_fatal" not in play, play["name"]
        assert (play["pre_tasks"], play["post_tasks"]) == (stopped, gate), play["name"]
    assert plays[-1]["pre_tasks"] == stopped


def failing(hosts):
    return [{"name": "A node's step", "ansible.builtin.fail": {"msg": "broken"},
             "when": "inventory_hostname in %r" % (hosts,)}]


def run(tmp_path, collections, fail_on, percentage=25, returncode=2, unreachable=(), also=None):
    """Plays with deploy.yml's own checks: Service A fails on FAIL_ON, (ALSO: (hosts,
    failing hosts) of a Service A2), Service B marks the hosts it reaches, then the
    closing summary."""
    plays = deploy_plays()
    gate, stopped = plays[1]["post_tasks"], plays[1]["pre_tasks"]
    overcloud = os.path.join(ROOT, "roles", "overcloud")
    with open(os.path.join(overcloud, "tasks", "set_aside.yml")) as fh:
        summary = [{"ansible.builtin.include_vars": {"file": os.path.join(overcloud, "vars", "main.yml")}},
                   next(t for t in yaml.safe_load(fh) if t["name"].startswith("The nodes set aside"))]
    marker = str(tmp_path / "reached-{{ inventory_hostname }}")

    def play(name, tasks, hosts="all"):
        return {"name": name, "hosts": hosts, "gather_facts": False, "pre_tasks": stopped, "tasks": tasks,
                "post_tasks": gate}
    book = [play("Service A", failing(fail_on))]
    if also:
        book.append(play("Service A2", failing(also[1]), hosts=also[0]))
    book += [
        play("Service B", [{"name": "Reached", "ansible.builtin.file": {"path": marker, "state": "touch",
                                                                        "mode": "0600"}}]),
        {"name": "Closing", "hosts": "all", "gather_facts": False, "pre_tasks": stopped, "tasks": summary},
    ]
    inventory = {"all": {
        # an unreachable node: SSH to a closed port
        "hosts": {h: ({"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9}
                      if h in unreachable else {}) for h in ["ctl0"] + COMPUTES},
        "children": {"overcloud_node_service_hosts": {"hosts": {h: {} for h in COMPUTES}},
                     "overcloud_deploy": {"hosts": {h: {} for h in ["ctl0"] + COMPUTES}}},
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


def test_a_stop_ends_the_run_for_hosts_outside_its_play(tmp_path, collections):
    # cmp0 set aside in A; ctl0 fails in A2, whose hosts cmp2 and cmp3 are not: they must not go on
    out, reached = run(tmp_path, collections, fail_on=["cmp0"], also=("ctl0:cmp0:cmp1", ["ctl0"]))
    assert reached == []
    assert "not run: Service A2: a node that runs control services failed (ctl0): the run stops" in out
    assert "left out of the deploy" not in out


def test_a_play_whose_every_node_failed_ends_the_run(tmp_path, collections):
    # cmp0 set aside in A; in A2 every live node fails (a failed run_once task fails them all):
    # its end is never reached, and cmp2, cmp3 outside it must not go on
    out, reached = run(tmp_path, collections, fail_on=["cmp0"], also=("ctl0:cmp0:cmp1", ["ctl0", "cmp1"]))
    assert reached == []
    assert "not run: Service A2: did not finish (every node of it failed)" in out


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


def set_aside_run(tmp_path, collections, standin, fail_on, returncode):
    """deploy.yml's closing steps for the compute hosts set aside (overcloud's
    set_aside.yml), after a play in which FAIL_ON failed, against the Nova stand-in."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    roles = os.path.join(collections, "ansible_collections", "stackwright", "cloud", "roles", "overcloud")
    book = [{"name": "Service", "hosts": "all", "gather_facts": False, "tasks": failing(fail_on)},
            {"name": "Closing", "hosts": "all", "gather_facts": False, "tasks": [
                {"ansible.builtin.include_vars": {"file": roles + "/vars/main.yml"}},
                {"ansible.builtin.include_role": {"name": "stackwright.cloud.overcloud", "tasks_from": "set_aside.yml"}}]}]
    inventory = {"all": {
        "children": {"service_nova_control": {"hosts": {"ctl0": {}}},
                     "service_nova_compute": {"hosts": {h: {} for h in COMPUTES}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "overcloud_state_dir": str(state), "overcloud_server_roles": {},
                 "overcloud_admin_auth": {"auth_url": standin.url, "password": "secret"},
                 "overcloud_endpoints": {"region": "RegionOne"}}}}
    run_play(tmp_path, collections, book, inventory, returncode=returncode)
    path = state / "set-aside.yml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def test_a_compute_host_set_aside_is_kept_out_of_scheduling_until_deployed(tmp_path, collections, standin):
    hosts = {h: standin.cloud.add_compute_host(h) for h in COMPUTES}
    theirs = standin.cloud.add_compute_host("cmp9", status="disabled", disabled_reason="hardware check")
    assert set_aside_run(tmp_path, collections, standin, ["cmp1"], 2) == ["cmp1"]
    assert (hosts["cmp1"]["status"], hosts["cmp1"]["disabled_reason"]) == (
        "disabled", "set aside by a failed deploy (stackwright)")
    assert [h for h, s in hosts.items() if s["status"] == "enabled"] == ["cmp0", "cmp2", "cmp3"]
    # the next run deploys it: back in service, nothing remembered; an operator's disable stays
    assert set_aside_run(tmp_path, collections, standin, [], 0) == []
    assert all(s["status"] == "enabled" for s in hosts.values())
    assert theirs["status"] == "disabled"
