"""The agent's transport, journal and error contract, over its real socket."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from fixtures import ROOT, agent_client
from test_bridges import links
from stackwright_agent.journal import Journal


def raw(sock_path, request):
    """Send raw bytes, as curl --unix-socket would, and return (status, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_socket_is_root_only(agent):
    mode = os.stat(agent.config.socket).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_the_registry_and_sockets_leave_the_process_umask_alone(tmp_path):
    """The umask is the process's: an agent thread that changed it for its registry or
    socket could leave it so for every thread (two at once: the second restores the
    first's), and files made meanwhile get its mode (a directory 0600 no one can enter)."""
    from stackwright_agent.registry import Registry
    from stackwright_agent.server import AgentServer

    def registries(i):
        for j in range(25):
            Registry(str(tmp_path / ("state-%d-%d" % (i, j))))

    old = os.umask(0o022)
    try:
        threads = [threading.Thread(target=registries, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        servers = [AgentServer(str(tmp_path / ("agent-%d.sock" % i)), None) for i in range(25)]
        for t in threads:
            t.join()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)
    for server in servers:
        assert stat.S_IMODE(os.stat(server.server_address).st_mode) == 0o600
        server.server_close()
    assert stat.S_IMODE(os.stat(tmp_path / "state-0-0" / "registry.sqlite").st_mode) == 0o600
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".bind-")]


def test_health_and_unknown_endpoints(agent):
    assert agent.client.get("/v1/health")["status"] == "ok"
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.client.get("/v1/gadgets")
    assert err.value.status == 404 and "known kinds" in err.value.message


def test_invalid_json_is_a_structured_400(agent):
    status, body = raw(agent.config.socket,
                       b"PUT /v1/bridges/br0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n{nope")
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_path_and_body_must_agree(agent, netns):
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.client.put("/v1/bridges/br-a", {"name": "br-b", "netns": netns})
    assert err.value.field == "name" and "path says" in err.value.message


def test_missing_socket_is_a_clear_error(tmp_path):
    client = agent_client.AgentClient(str(tmp_path / "nowhere.sock"), timeout=5)
    with pytest.raises(agent_client.AgentClientError) as err:
        client.get("/v1/health")
    assert err.value.field == "agent_socket" and "is the agent running" in err.value.message


def test_second_agent_on_same_socket_is_refused(agent):
    from stackwright_agent.errors import AgentError
    from stackwright_agent.server import AgentServer
    with pytest.raises(AgentError) as err:
        AgentServer(agent.config.socket, agent.api)
    assert err.value.code == "socket_in_use"
    assert agent.client.get("/v1/health")["status"] == "ok", "the running agent must keep its socket"


def test_journal_records_changes_and_survives_restart(agent, netns):
    agent.put("bridges", "br-j", {"netns": netns})
    agent.put("bridges", "br-j", {"netns": netns})  # no change: no entry
    agent.put("bridges", "br-j", {"netns": netns}, dry_run=True)  # dry run: no entry
    agent.restart()
    entries = agent.client.get("/v1/journal", {"resource": "%s/br-j" % netns})["entries"]
    assert [e["phase"] for e in entries] == ["started", "completed"]
    assert entries[1]["after"]["name"] == "br-j"
    assert stat.S_IMODE(os.stat(agent.config.journal_path).st_mode) == 0o600


def test_failed_operation_is_journaled_with_its_error(agent, netns):
    # an address the kernel refuses (the all-ones broadcast as a host address is fine,
    # but an IPv6 address on a namespace with IPv6 disabled is not): use a real failure
    # instead: a veth peer name that already exists in the peer namespace.
    agent.put("bridges", "br-f", {"netns": netns, "ports": [{"name": "veth-x", "veth_peer": "veth-x-p"}]})
    with pytest.raises(agent_client.AgentClientError) as err:
        agent.put("bridges", "br-f", {"netns": netns, "ports": [{"name": "veth-y", "veth_peer": "veth-x-p"}]})
    assert err.value.status == 500 and err.value.code == "command_failed"
    last = agent.client.get("/v1/journal", {"resource": "%s/br-f" % netns})["entries"][-1]
    assert last["phase"] == "failed" and "veth-y" in last["error"]["message"]


def test_operation_cut_short_is_marked_interrupted(tmp_path):
    path = str(tmp_path / "journal.jsonl")
    journal = Journal(path)
    journal.begin("bridges", "-/br0", "present", {"name": "br0"})  # and then the agent "dies"
    reopened = Journal(path)
    phases = [e["phase"] for e in reopened.entries()]
    assert phases == ["started", "interrupted"]
    assert [e["phase"] for e in Journal(path).entries()] == phases, "marking must happen once"


def test_agent_killed_mid_operation_journal_says_so_and_a_retry_converges(tmp_path, netns):
    """A real agent process, SIGKILLed while it builds a bridge with many ports: after a
    restart its journal says the operation was interrupted, and the same request again
    completes it."""
    sock, state = str(tmp_path / "agent.sock"), str(tmp_path / "state")
    argv = [sys.executable, "-m", "stackwright_agent", "--config", str(tmp_path / "none.json"),
            "--socket", sock, "--state-dir", state]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "agent"))

    def start():
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = agent_client.AgentClient(sock, timeout=120)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.get("/v1/health")
                return proc, client
            except agent_client.AgentClientError:
                assert proc.poll() is None and time.monotonic() < deadline, "the agent did not start"
                time.sleep(0.1)

    ports = [{"name": "vk%d" % i, "veth_peer": "vk%dp" % i} for i in range(120)]
    path = agent_client.resource_path("bridges", "br-k")
    want = {"netns": netns, "ports": ports}
    journal = os.path.join(state, "journal.jsonl")
    proc, client = start()
    try:
        request = threading.Thread(target=lambda: _ignore(client.put, path, want), daemon=True)
        request.start()
        deadline = time.monotonic() + 30
        while not (os.path.exists(journal) and '"started"' in open(journal, encoding="utf-8").read()):
            assert time.monotonic() < deadline, "the operation never started"
            time.sleep(0.02)
        # kill once the first ports exist: some made, not all (a fixed sleep races a fast machine)
        deadline = time.monotonic() + 60
        while not any(name.startswith("vk") for name in links(netns)):
            assert time.monotonic() < deadline, "no port was ever made"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        os.unlink(sock)  # a killed agent leaves its socket behind

        proc, client = start()
        entries = client.get("/v1/journal", {"resource": "%s/br-k" % netns})["entries"]
        assert [e["phase"] for e in entries] == ["started", "interrupted"], entries
        made = client.find(path, {"netns": netns})
        assert made is None or len(made["ports"]) < len(ports), "the kill came after the operation ended"

        answer = client.put(path, want)
        assert answer["changed"] and len(answer["resource"]["ports"]) == len(ports)
        entries = client.get("/v1/journal", {"resource": "%s/br-k" % netns})["entries"]
        assert [e["phase"] for e in entries] == ["started", "interrupted", "started", "completed"]
        assert not client.put(path, want)["changed"]
    finally:
        proc.kill()
        proc.wait(10)


def _ignore(call, *args):
    try:
        call(*args)
    except Exception:  # the agent is killed under it
        pass
