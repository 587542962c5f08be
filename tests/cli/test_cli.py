"""The stackwright command, run for real: the installed console script drives the
collection's playbooks through ansible-runner against a real agent (registry on a
temporary socket) as the undercloud. What an operator sees is asserted: exit
codes, the progress and summary, the node table, the runs directory, and that a
BMC password shows up nowhere."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid

import pytest
import yaml

BIN = os.path.dirname(sys.executable)
STACKWRIGHT = os.path.join(BIN, "stackwright")
PASSWORD = "bmc-" + uuid.uuid4().hex[:12]

pytestmark = pytest.mark.skipif(not os.path.exists(STACKWRIGHT), reason="the stackwright CLI is not installed")


@pytest.fixture
def env(tmp_path, agent):
    """An inventory whose undercloud is this machine with the test agent's socket."""
    nodes_file = tmp_path / "nodes.yml"
    inventory = tmp_path / "inventory.yml"
    # group all: the provision role runs for each node as a host of its own
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"provision_agent_socket": agent.config.socket, "provision_nodes_file": str(nodes_file)},
        "children": {"undercloud": {"hosts": {"undercloud-test": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    runs = tmp_path / "state" / "runs"

    def cli(*args, progress="lines", timeout=300, environ=None):
        argv = [STACKWRIGHT, "-i", str(inventory), "--runs-dir", str(runs), "--progress", progress] + list(args)
        # bytes, decoded here: text mode would turn the status line's \r into \n
        proc = subprocess.run(argv, capture_output=True, timeout=timeout,
                              env=dict({k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
                                       **(environ or {})))
        return proc.returncode, (proc.stdout + proc.stderr).decode()

    return {"cli": cli, "runs": runs, "nodes_file": nodes_file, "inventory": inventory, "agent": agent,
            "tmp": tmp_path}


def write_nodes(path, nodes):
    path.write_text(yaml.safe_dump({"nodes": nodes}))
    return str(path)


def node(name, port, mac_last, password=PASSWORD):
    return {"name": name, "role": "Compute", "kind": "vm",
            "bmc": {"address": "127.0.0.1", "port": port, "username": "admin", "password": password},
            "macs": ["52:54:00:77:00:%02x" % mac_last]}


def registry(agent):
    return {n["name"]: n for n in agent.client.get("/v1/nodes")["nodes"]}


def runs_text(runs):
    """Everything the runs directory holds, as text (events, output, records)."""
    out = []
    for folder, _, files in os.walk(runs):
        for name in files:
            with open(os.path.join(folder, name), errors="replace") as fh:
                out.append(fh.read())
    return "\n".join(out)


def version(tmp_path, **env):
    """stackwright --version from an empty directory (no ansible.cfg), with only these ANSIBLE_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "STACKWRIGHT_"))}
    proc = subprocess.run([STACKWRIGHT, "--version"], capture_output=True, text=True, cwd=str(tmp_path), timeout=120,
                          env=dict(clean, ANSIBLE_HOME=str(tmp_path / "ansible-home"), **env))
    return proc.returncode, proc.stdout + proc.stderr


def test_version_names_the_collection_ansible_finds(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "galaxy.yml")) as fh:
        galaxy = yaml.safe_load(fh)
    code, out = version(tmp_path)
    assert code == 0, out
    assert "collection stackwright.cloud %s (%s)" % (galaxy["version"], root) in out, "the checkout, as bootstrap set it up"

    # an installed collection first in ANSIBLE_COLLECTIONS_PATH wins, and tells its version by its MANIFEST.json
    installed = tmp_path / "collections" / "ansible_collections" / "stackwright" / "cloud"
    (installed / "playbooks").mkdir(parents=True)
    (installed / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": "9.8.7"}}))
    code, out = version(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"))
    assert code == 0, out
    assert "collection stackwright.cloud 9.8.7 (%s)" % installed in out

    # nowhere Ansible looks: a usage error that says how to install it
    code, out = version(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "empty"), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    assert code == 2, out
    assert "Ansible finds no collection stackwright.cloud" in out and "ansible-galaxy collection install" in out


def test_usage_errors_exit_2_and_run_nothing(env):
    cli = env["cli"]
    assert cli("node", "provision")[0] == 2
    code, out = cli("node", "provision")
    assert "name the nodes to provision, or give --all" in out
    code, out = cli("node", "import", str(env["tmp"] / "missing.yml"))
    assert code == 2 and "missing.yml is not a file" in out
    code, out = cli("overcloud", "deploy", "-e", "novalue")
    assert code == 2 and "-e 'novalue': give KEY=VALUE" in out
    assert cli("frobnicate")[0] == 2
    code, out = cli("runs", "show", "nonesuch")
    assert code == 2 and "no run nonesuch" in out
    # nothing ran, so nothing was recorded
    assert not env["runs"].exists() or not os.listdir(env["runs"])


def test_invalid_nodes_file_names_the_field_and_enrolls_nothing(env):
    bad = node("compute0", 623, 1)
    bad["macs"] = ["52:54:00:zz:00:01"]
    path = write_nodes(env["tmp"] / "bad.yml", [node("compute1", 624, 2), bad])
    code, out = env["cli"]("node", "import", path)
    assert code == 1, out
    assert "node 'compute0': macs[0]: '52:54:00:zz:00:01' is not a MAC address" in out
    assert "failed in" in out  # the summary's last line
    assert registry(env["agent"]) == {}, "the valid node was not enrolled either"
    assert PASSWORD not in out and PASSWORD not in runs_text(env["runs"])


def test_import_check_import_list_and_runs(env):
    cli, agent = env["cli"], env["agent"]
    path = write_nodes(env["tmp"] / "rack.yml", [node("compute0", 623, 1), node("compute1", 624, 2)])

    code, out = cli("node", "import", "--check", path)
    assert code == 0, out
    assert registry(agent) == {}, "check mode enrolls nothing"

    code, out = cli("node", "import", path)
    assert code == 0, out
    assert "import play 1: Read and validate the nodes file on the undercloud" in out
    summary = [line for line in out.splitlines() if line.startswith("import ")]
    assert summary and "changed 2" in summary[0], out
    assert {n: r["provision_state"] for n, r in registry(agent).items()} == {"compute0": "enrolled",
                                                                             "compute1": "enrolled"}
    assert "nodes file %s recorded" % path in out

    code, out = cli("node", "import", path)
    assert code == 0 and "changed 0" in out, "a second import changes nothing"

    # a node the flow marked failed shows its reason
    agent.put("nodes", "compute1", {"provision_state": "failed", "last_error": "inspect: no DHCP request within 60 s"})
    code, out = cli("node", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "role", "kind", "provision", "state", "power", "address", "last", "error"]
    row0 = next(line for line in lines if line.startswith("compute0 "))
    row1 = next(line for line in lines if line.startswith("compute1 "))
    assert row0.split()[:4] == ["compute0", "Compute", "vm", "enrolled"]
    assert row1.split()[:4] == ["compute1", "Compute", "vm", "failed"]
    assert row1.endswith("inspect: no DHCP request within 60 s")
    assert "2 node(s), nodes file %s" % path in out

    # the runs: every command kept, newest last, with its result
    code, out = cli("runs", "list")
    listed = [line.split() for line in out.splitlines()[2:]]
    assert [row[1:3] for row in listed] == [["node", "import"]] * 3 + [["node", "list"]]
    assert [row[-2:] for row in listed[:3]] == [["ok", "import:ok"]] * 3
    code, out = cli("runs", "show", "last", "--events")
    assert code == 0 and "run " in out and "playbook_on_stats" in out
    code, out = cli("runs", "show", listed[1][0])
    assert "import  playbooks/provision.yml" in out
    assert "import changed: compute0 1, compute1 1" in out  # each node is a host of its own
    # root's only, and no password anywhere
    assert stat.S_IMODE(os.stat(env["runs"]).st_mode) == 0o700
    record = env["runs"] / listed[1][0] / "run.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert json.loads(record.read_text())["exit_code"] == 0
    assert PASSWORD not in runs_text(env["runs"])


def test_progress_bar_learns_the_task_count(env):
    path = write_nodes(env["tmp"] / "rack.yml", [node("compute0", 623, 1)])
    code, first = env["cli"]("node", "import", path, progress="bar")
    assert code == 0, first
    assert "\r\x1b[K" in first, "a status line redrawn in place"
    assert "[task " in first, "no earlier run: the bar counts tasks"
    code, second = env["cli"]("node", "import", path, progress="bar")
    assert code == 0, second
    assert "] 100%" not in second and "%" in second, "the earlier run gives the bar its length"
    # the summary table is plain text in every mode
    assert "phase   time  ok  changed  failed  unreachable  result" in second


def test_interrupted_run_exits_130_and_is_recorded(env, silent_bmc):
    write_nodes(env["nodes_file"], [node("compute0", silent_bmc, 1)])
    # the image's checksum, where the deploy reads it (an image store's listener)
    store = env["tmp"] / "store"
    (store / "images").mkdir(parents=True)
    (store / "images" / "overcloud-openstack.raw.gz.sha256").write_text("%s  overcloud-openstack.raw.gz\n" % ("0" * 64))
    listener = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"], cwd=str(store),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(listener.stdout.readline().split("port ")[1].split()[0])
    argv = [STACKWRIGHT, "-i", str(env["inventory"]), "--runs-dir", str(env["runs"]), "--progress", "lines",
            "node", "provision", "--all", "-e", "provision_http_url=http://127.0.0.1:%d" % port]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")})
        # the BMC never answers, so the conductor's verify is retrying (and the run waiting
        # for it) when the operator hits Ctrl-C
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ((env["agent"].find("nodes", "compute0") or {}).get("target") or {}).get(
                "status") != "running":
            time.sleep(0.5)
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        listener.kill()
        listener.wait()
        # the conductor's action outlives the run (as designed): stop it
        if env["agent"].find("nodes", "compute0"):
            env["agent"].put("nodes", "compute0", {"provision_action": {"action": "abort"}})
    assert proc.returncode == 130, out
    run = json.loads(next(env["runs"].glob("*-node-provision/run.json")).read_text())
    assert run["exit_code"] == 130
    assert run["phases"][0]["status"] == "canceled"
    assert PASSWORD not in out and PASSWORD not in runs_text(env["runs"])


def test_an_empty_or_unfit_node_name_is_refused_before_anything_runs(env):
    # an empty name once meant "every node"; "a b=c" once became a second variable b=c
    code, out = env["cli"]("node", "provision", "")
    assert code == 2, out
    assert "NAME '': a node name is 1-63 lowercase letters" in out and "never means all nodes" in out
    code, out = env["cli"]("node", "remove", "a b=c")
    assert code == 2, out
    assert "NAME 'a b=c': a node name is" in out
    assert not env["runs"].exists() or not os.listdir(env["runs"]), "nothing ran, nothing recorded"
    assert registry(env["agent"]) == {}


def test_a_value_with_spaces_and_equals_signs_arrives_whole(env):
    # Ansible splits a key=value string on spaces; the CLI's variables go as JSON
    folder = env["tmp"] / "my rack"
    folder.mkdir()
    path = write_nodes(folder / "nodes b=c.yml", [node("compute0", 623, 1)])
    code, out = env["cli"]("node", "import", path)
    assert code == 0, out
    assert "nodes file %s recorded" % path in out
    assert list(registry(env["agent"])) == ["compute0"]


def test_the_runs_directory_holds_no_secret_given_any_way(env):
    """Secrets as an operator passes them: the environment, -e key=value, -e JSON
    (a token among them), -e --extra-vars=..., an extra-vars file with a nested
    password. None is in any file of the runs directory, whose files are root's."""
    secret = {way: "%s-%s" % (way, uuid.uuid4().hex) for way in
              ("env", "kv", "json_token", "yaml", "joined", "file", "auth_token")}
    vars_file = env["tmp"] / "secrets.yml"
    vars_file.write_text(yaml.safe_dump({"bmc": {"password": secret["file"]}, "site_name": "rack-one"}))
    code, out = env["cli"](
        "node", "list", "-e", "keystone_admin_password=%s region=one" % secret["kv"],
        "-e", json.dumps({"token": secret["json_token"], "debug_level": 2}),
        "-e", "{ssh_key: %s}" % secret["yaml"], "--extra-vars=api_token=%s" % secret["joined"],
        "-e", "@%s" % vars_file, environ={"OS_PASSWORD": secret["env"], "OS_AUTH_TOKEN": secret["auth_token"]})
    assert code == 0, out
    run = json.loads(next(env["runs"].glob("*-node-list/run.json")).read_text())
    command = json.loads(next(env["runs"].glob("*-node-list/1-nodes/command")).read_text())["command"]
    vars_files = [word[1:] for word in command if word.startswith("@")]
    assert len(vars_files) == 5, command
    assert not any(os.path.exists(path) for path in vars_files if path != str(vars_file)), \
        "the variables' JSON files are gone"
    files = [os.path.join(folder, name) for folder, _, names in os.walk(env["runs"]) for name in names]
    assert any(f.endswith("/command") for f in files) and any("/job_events/" in f for f in files)
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        for way, value in secret.items():
            assert value.encode() not in data, "%s secret in %s" % (way, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for folder, _, _ in os.walk(env["runs"]):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    # what is no secret stays on record
    assert "keystone_admin_password=*** region=one" in run["argv"]
    assert json.loads(run["argv"][run["argv"].index("-e") + 3]) == {"token": "***", "debug_level": 2}


def test_runs_show_prints_what_nodes_said_escaped(env):
    """A run's output holds what nodes and the registry said (a failure's last
    error); printing it back must not hand the terminal its escape codes."""
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[31mboom\x9b"
    run = env["runs"] / "20260101-000000-node-provision"
    (run / "1-provision").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "id": run.name, "verb": "node provision", "argv": ["node", "provision", "--all"], "started": 1.0,
        "ended": 2.0, "exit_code": 1, "phases": [{
            "name": "provision", "playbook": "playbooks/provision.yml", "dir": "1-provision", "seconds": 1.0,
            "tasks": 1, "ok": 0, "changed": 0, "failed": 1, "unreachable": 0, "status": "failed",
            "failures": [{"host": "compute0", "task": "Deploy", "msg": "deploy: " + hostile}]}]}))
    (run / "1-provision" / "stdout").write_text("fatal: [compute0]: FAILED! => %s\n" % hostile)
    code, out = env["cli"]("runs", "show", "last", "--output")
    assert code == 0, out
    assert not any(c in out for c in "\x1b\x07\x9b"), "no control character reaches the terminal"
    assert out.count("\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mboom\\x9b") == 2, "shown, escaped: failure and output"
