"""The lab's undercloud runs its tasks inside the lab's network namespace (its
interpreter enters it), which has no way out: an apt install there fails on a
fresh machine ("Temporary failure resolving"). So every package the undercloud
and its conductor agent install must come with the lab host's own set-up
(tools/apt-packages.txt, which tools/bootstrap.sh installs beforehand)."""

import os

import yaml

from fixtures import ROOT


def lab_host_packages():
    with open(os.path.join(ROOT, "tools", "apt-packages.txt")) as fh:
        return {line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")}


def role_vars(role, name):
    with open(os.path.join(ROOT, "roles", role, "vars", name)) as fh:
        return yaml.safe_load(fh)


def test_the_lab_host_has_every_package_the_undercloud_installs():
    # the conductor agent runs without libvirt (roles/undercloud/tasks/agent.yml)
    wanted = set(role_vars("undercloud", "main.yml")["_undercloud_packages"])
    wanted |= set(role_vars("agent", "Debian.yml")["agent_os_packages"])
    missing = sorted(wanted - lab_host_packages())
    assert not missing, "tools/apt-packages.txt lacks %s: the lab's undercloud cannot download them" % missing
