"""The collection's ansible.cfg checks SSH host keys: a play against a host that
answers with a key nobody listed, or with another key than the listed one, stops
there (a real ssh client against tests/ssh_server.py; nothing is sent to it)."""

import json
import os
import subprocess
import sys

import pytest

from ssh_server import KexServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def keypair(tmp_path, name):
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_bytes(), (tmp_path / (name + ".pub")).read_text().split()[:2]


def check_run(tmp_path, port, known_hosts):
    inventory = {"all": {"hosts": {"node": {
        "ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "root",
        "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null" % known_hosts,
        "ansible_ssh_private_key_file": str(tmp_path / "client")}}}}
    (tmp_path / "inventory.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(json.dumps([{"hosts": "node", "gather_facts": False, "tasks": [
        {"name": "Would receive a secret", "ansible.builtin.copy": {"content": "s3cret", "dest": "/tmp/x"}}]}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_TIMEOUT="10")
    return subprocess.run([os.path.join(BIN, "ansible-playbook"), "--check", "-i", str(tmp_path / "inventory.yml"),
                           str(tmp_path / "play.yml")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("listed", ["nothing", "another key"])
def test_a_host_with_an_unlisted_key_is_refused(tmp_path, listed):
    keypair(tmp_path, "client")
    server_key, _ = keypair(tmp_path, "server")
    _, other = keypair(tmp_path, "other")
    known_hosts = tmp_path / "known_hosts"
    with KexServer(server_key) as srv:
        known_hosts.write_text("" if listed == "nothing" else "[127.0.0.1]:%d %s\n" % (srv.port, " ".join(other)))
        run = check_run(tmp_path, srv.port, known_hosts)
    out = run.stdout + run.stderr
    assert run.returncode == 4, out  # unreachable
    assert "Host key verification failed" in out, out
    if listed == "another key":
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out, out
