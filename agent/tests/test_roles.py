"""The agent's three roles: a node agent, the undercloud conductor and the lab host
each load and serve only their own drivers."""

import json
import os
import subprocess
import sys

import pytest

from fixtures import ROOT, RunningAgent, agent_client
from stackwright_agent.config import Config
from stackwright_agent.errors import AgentError

AGENT = os.path.join(ROOT, "agent")


def loaded_drivers(tmp_path, settings):
    """The driver modules a fresh agent process imports for these settings."""
    code = ("import json, sys; from stackwright_agent.api import Api; from stackwright_agent.config import Config;"
            "api = Api(Config(**json.loads(sys.argv[1])));"
            "print(json.dumps([sorted(api.drivers), sorted(m.rsplit('.', 1)[1] for m in sys.modules"
            " if m.startswith('stackwright_agent.drivers.')), 'libvirt' in sys.modules]))")
    settings = dict(settings, state_dir=str(tmp_path / "state"), socket=str(tmp_path / "a.sock"))
    out = subprocess.run([sys.executable, "-c", code, json.dumps(settings)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=AGENT), check=True).stdout
    return json.loads(out)


def test_each_role_imports_only_its_drivers(tmp_path):
    kinds, modules, _ = loaded_drivers(tmp_path, {})
    assert kinds == ["bridges", "domains", "volume_groups", "volumes"]
    assert "bmcs" not in modules and "nodes" not in modules, "a node agent loads no registry and no BMC"
    kinds, modules, libvirt = loaded_drivers(tmp_path, {"roles": ["conductor"]})
    assert kinds == ["nodes"] and not libvirt, "the undercloud conductor needs no libvirt"
    kinds, modules, _ = loaded_drivers(tmp_path, {"roles": ["lab_host"]})
    assert kinds == ["bmcs", "bridges", "containers", "domains", "libvirtd"] and "nodes" not in modules
    assert "containers" not in loaded_drivers(tmp_path, {})[1], "only the lab host runs containers"
    # settings an older undercloud wrote (no roles): still a conductor
    assert loaded_drivers(tmp_path, {"dhcp_hosts_dir": str(tmp_path / "dhcp")})[0] == ["nodes"]


def test_a_kind_of_another_role_is_not_found_and_says_whose_it_is(tmp_path):
    running = RunningAgent(Config(socket=str(tmp_path / "a.sock"), state_dir=str(tmp_path / "state")))
    try:
        assert running.client.get("/v1/health")["status"] == "ok"
        assert "hostname" in json.dumps(running.client.get("/v1/facts"))  # every role answers facts
        with pytest.raises(agent_client.AgentClientError) as err:
            running.client.get("/v1/nodes")
        assert err.value.status == 404 and "roles: node" in err.value.message
    finally:
        running.stop()


@pytest.mark.parametrize("settings, field", [
    ({"roles": ["compute"]}, "roles"),
    ({"roles": []}, "roles"),
    ({"roles": ["node"], "provisioning_listen": "127.0.0.1:8080"}, "provisioning_listen"),
    ({"roles": ["lab_host"], "provisioning_pool": "192.0.2.10-192.0.2.20"}, "provisioning_pool"),
    ({"power_sync_interval": -1}, "power_sync_interval"),
    ({"power_sync_interval": "60"}, "power_sync_interval"),
    ({"power_sync_interval": True}, "power_sync_interval"),
    ({"power_sync_interval": 1.5}, "power_sync_interval"),
])
def test_bad_roles_are_refused_naming_the_setting(settings, field):
    with pytest.raises(AgentError) as err:
        Config(**settings)
    assert err.value.message.startswith(field) and err.value.code == "invalid_config"


def test_the_command_line_picks_the_role(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stackwright_agent", "--role", "node", "--config",
                           str(tmp_path / "none.json"), "--socket", str(tmp_path / "a.sock"), "--state-dir",
                           str(tmp_path / "s"), "--provisioning-listen", "127.0.0.1:0"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=AGENT), timeout=30)
    proc2 = subprocess.run([sys.executable, "-m", "stackwright_agent", "--role", "agent"], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=AGENT), timeout=30)
    assert proc2.returncode == 2 and "--role" in proc2.stderr and "lab_host" in proc2.stderr
    assert proc.returncode == 2 and "provisioning_listen is the undercloud conductor's setting" in proc.stderr
    assert not (tmp_path / "a.sock").exists()
