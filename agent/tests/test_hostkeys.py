"""Deployed nodes' SSH host keys: made by the undercloud, put into the first-boot
config, listed in known_hosts, and enforced by a real ssh client (no root needed)."""

import io
import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest

from ssh_server import KexServer
from stackwright_agent import provisioning
from stackwright_agent.hostkeys import HostKeyError, known_hosts_path, node_host_key

KEY = "etc/ssh/ssh_host_ed25519_key"


def node(name="n1", address="192.0.2.11"):
    return {"name": name, "address": address, "macs": ["52:54:00:aa:00:01"], "network": None,
            "properties": {"ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB root@uc"]}}


def members(tarball):
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def known_hosts(state_dir):
    with open(known_hosts_path(state_dir), encoding="ascii") as fh:
        return fh.read().splitlines()


def test_config_carries_the_host_key_and_known_hosts_lists_it(tmp_path):
    got = members(provisioning.config_tarball(node(), str(tmp_path)))
    private, public = got[KEY], got[KEY + ".pub"]
    assert stat.S_IMODE(private[0].mode) == 0o600 and private[0].uid == 0
    assert stat.S_IMODE(public[0].mode) == 0o644
    assert got["etc/ssh"][0].isdir() and list(got).index("etc/ssh") < list(got).index(KEY)
    assert private[1].startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    # the pair matches, and the undercloud keeps it 0600 in a 0700 directory
    kept = tmp_path / "host-keys" / "n1" / "ssh_host_ed25519_key"
    assert kept.read_bytes() == private[1]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.parent.stat().st_mode) == 0o700
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(kept)], capture_output=True, text=True, check=True)
    key_type, key_b64 = public[1].decode().split()[:2]
    assert derived.stdout.split()[:2] == [key_type, key_b64] and key_type == "ssh-ed25519"
    assert known_hosts(str(tmp_path)) == ["n1,192.0.2.11 %s %s" % (key_type, key_b64)]
    assert stat.S_IMODE(os.stat(known_hosts_path(str(tmp_path))).st_mode) == 0o644


def test_redeploys_keep_the_key_and_known_hosts_follows_addresses(tmp_path):
    sd = str(tmp_path)
    first = node_host_key(node(), sd)
    other = node_host_key(node("n2", "192.0.2.12"), sd)
    assert other != first
    assert node_host_key(node(), sd) == first  # a redeploy: same key, same lines
    assert len(known_hosts(sd)) == 2
    node_host_key(node(address="192.0.2.20"), sd)  # n1 got another address: its old line goes
    lines = known_hosts(sd)
    assert sorted(ln.split()[0] for ln in lines) == ["n1,192.0.2.20", "n2,192.0.2.12"]
    # a new node that takes n2's old address replaces the line for that address
    node_host_key(node("n3", "192.0.2.12"), sd)
    assert sorted(ln.split()[0] for ln in known_hosts(sd)) == ["n1,192.0.2.20", "n3,192.0.2.12"]
    # removing the kept pair rotates the key at the next deploy
    shutil.rmtree(tmp_path / "host-keys" / "n1")
    assert node_host_key(node(address="192.0.2.20"), sd)[0] != first[0]


@pytest.mark.parametrize("name, address, field", [
    ("n1\n", "192.0.2.11", "name"),
    ("a,b", "192.0.2.11", "name"),
    ("../x", "192.0.2.11", "name"),
    ("n1", "192.0.2.11\n", "address"),
    ("n1", "*", "address"),
])
def test_names_and_addresses_unfit_for_known_hosts_are_refused(tmp_path, name, address, field):
    with pytest.raises(HostKeyError, match="^%s: " % field):
        node_host_key(node(name, address), str(tmp_path))
    assert not os.path.exists(known_hosts_path(str(tmp_path)))


def ssh_to(port, known_hosts_file):
    # HostKeyAlias: look the server up as node n1 (the test server is not on port 22)
    return subprocess.run(
        ["ssh", "-v", "-F", "/dev/null", "-p", str(port), "-o", "HostKeyAlias=n1", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", "UserKnownHostsFile=" + known_hosts_file, "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=10", "root@127.0.0.1", "true"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30).stderr


def test_ssh_refuses_a_node_answering_with_another_key(tmp_path):
    sd = str(tmp_path)
    private, _ = node_host_key(node("n1", "127.0.0.1"), sd)
    impostor, _ = node_host_key(node("impostor", "192.0.2.99"), sd)
    with KexServer(private) as real:
        out = ssh_to(real.port, known_hosts_path(sd))
        assert "is known and matches the ED25519 host key" in out, out
        assert "Host key verification failed" not in out
    with KexServer(impostor) as fake:
        out = ssh_to(fake.port, known_hosts_path(sd))
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out and "Host key verification failed" in out, out


def test_a_node_deleted_from_the_registry_takes_its_key_and_known_hosts_line(agent):
    from test_nodes import node_body
    sd = agent.config.state_dir
    for name, mac, bmc in (("n1", "52:54:00:aa:00:01", "192.0.2.11"), ("n2", "52:54:00:aa:00:02", "192.0.2.12")):
        agent.put("nodes", name, node_body(name, mac=mac, address=bmc))
        node_host_key(agent.find("nodes", name), sd)
    assert len(known_hosts(sd)) == 2
    agent.put("nodes", "n1", {"state": "absent"})
    # a later machine named n1 is another host: nothing of the old one is trusted
    assert not os.path.exists(os.path.join(sd, "host-keys", "n1"))
    assert [ln.split()[0] for ln in known_hosts(sd)] == ["n2"]
    assert os.path.exists(os.path.join(sd, "host-keys", "n2"))


def network_file(tarball):
    return members(tarball)["etc/systemd/network/10-provisioning.network"][1].decode()


def test_a_deployed_node_keeps_its_pool_address_statically(tmp_path):
    """With the conductor's provisioning_network, a node without a static network keeps its
    pool address with no DHCP: its lease from the undercloud is never renewed."""
    from stackwright_agent.config import Config
    plan = Config(provisioning_network={"prefix": 24, "gateway": "192.0.2.254", "dns": ["192.0.2.53"]},
                  roles=["conductor"]).provisioning_network
    net = network_file(provisioning.config_tarball(node(), str(tmp_path), plan))
    assert "DHCP" not in net and "Address=192.0.2.11/24" in net
    assert "Gateway=192.0.2.254" in net and "DNS=192.0.2.53" in net
    # without the setting, or without an address, the node asks DHCP as before
    assert "DHCP=yes" in network_file(provisioning.config_tarball(node(), str(tmp_path)))
    assert "DHCP=yes" in network_file(provisioning.config_tarball(node(address=None), str(tmp_path), plan))


@pytest.mark.parametrize("value, says", [
    ({"prefix": 33}, "prefix"),
    ({"prefix": "24"}, "prefix"),
    ({"prefix": 24, "gateway": "0.0.0.0"}, "gateway"),
    ({"prefix": 24, "gateway": "192.0.2.1\nDNS=evil"}, "gateway"),
    ({"prefix": 24, "dns": "192.0.2.53"}, "dns"),
    ({"prefix": 24, "dns": ["224.0.0.1"]}, "dns[0]"),
    ({"prefix": 24, "mtu": 9000}, "mapping of prefix"),
    ("24", "mapping of prefix"),
])
def test_a_bad_provisioning_network_setting_is_refused(value, says):
    from stackwright_agent.config import Config
    from stackwright_agent.errors import AgentError
    with pytest.raises(AgentError, match="provisioning_network: .*%s" % re.escape(says)):
        Config(provisioning_network=value, roles=["conductor"])
