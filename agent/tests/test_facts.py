"""Facts: what the agent reports against what /proc and /sys say on this host."""

import os

import pytest

from fixtures import RunningAgent
from stackwright_agent.config import Config

HINT_KEYS = {"name", "path", "size_bytes", "rotational", "model", "vendor", "serial", "wwn", "by_path", "hctl"}


@pytest.fixture
def facts(agent):
    return agent.client.get("/v1/facts")


def test_cpu_and_memory(facts):
    with open("/proc/meminfo") as fh:
        mem_kib = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
    assert facts["memory_mib"] == mem_kib // 1024
    assert facts["cpus"]["count"] == os.cpu_count()
    assert facts["cpus"]["flags_virt"] in ("vmx", "svm", None)
    assert facts["kernel"] == os.uname().release and facts["hostname"]
    assert facts["os"]["id"]


def test_every_nic_but_lo_with_its_mac(facts):
    by_name = {n["name"]: n for n in facts["nics"]}
    expected = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    assert sorted(by_name) == expected
    for name in expected:
        with open("/sys/class/net/%s/address" % name) as fh:
            assert by_name[name]["mac"] == fh.read().strip()
        assert by_name[name]["is_bridge"] == os.path.isdir("/sys/class/net/%s/bridge" % name)
        assert by_name[name]["speed_mbps"] is None or by_name[name]["speed_mbps"] > 0


def test_disks_carry_every_root_device_hint(facts):
    real = [d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram", "zram", "dm-", "sr"))]
    if not real:
        pytest.skip("this host has no disk outside loop/ram/zram/dm/sr")
    assert facts["disks"], "the host has %s but no disk was reported" % ", ".join(real)
    for disk in facts["disks"]:
        assert set(disk) == HINT_KEYS
        assert disk["size_bytes"] > 0 and disk["path"] == "/dev/" + disk["name"]
        assert os.path.exists("/sys/block/" + disk["name"])


def test_virtualization_and_storage_capabilities(facts):
    virt = facts["virtualization"]
    assert virt["kvm_device"] == os.path.exists("/dev/kvm")
    assert virt["cpu_flag"] == facts["cpus"]["flags_virt"]
    assert virt["domain_type"] == "qemu", "the fixture's config sets domain_type=qemu"
    assert isinstance(facts["device_mapper"], bool)
    assert facts["lvm"]["version"] is None or facts["lvm"]["version"][0].isdigit()


def _kvm_opens():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def test_domain_type_auto_follows_the_node(agent_config):
    running = RunningAgent(Config(**dict(vars(agent_config), domain_type="auto")))
    try:
        virt = running.client.get("/v1/facts")["virtualization"]
    finally:
        running.stop()
    # kvm needs both the CPU extension and a /dev/kvm that opens read-write
    usable = virt["cpu_flag"] is not None and _kvm_opens()
    assert virt["domain_type"] == ("kvm" if usable else "qemu")
