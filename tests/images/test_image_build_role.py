"""roles/image_build, for real: ansible-playbook applies stackwright.cloud.image_build
(the base overcloud profile and the deploy ramdisk) to this machine, publishing into a
temporary directory. Check mode first (it predicts a change and writes nothing), then
twice for real: the first run publishes (changed), the second changes nothing, and check
mode then predicts nothing either. The published .sha256 files verify with sha256sum -c,
the image is hard-linked from the builder's cache, and the role's facts name it.

The collection is this checkout, through a temporary ANSIBLE_COLLECTIONS_PATH
(ansible_collections/stackwright/cloud -> the checkout). Builds go through the role's
default cache (STACKWRIGHT_IMAGE_CACHE, else /var/tmp/stackwright-cache), the one
test_overcloud_image.py and test_ramdisk.py use, so only a first run builds.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from fixtures import link_collection

CACHE = os.environ.get("STACKWRIGHT_IMAGE_CACHE") or "/var/tmp/stackwright-cache"
ANSIBLE_PLAYBOOK = (shutil.which("ansible-playbook", path=os.path.dirname(sys.executable))
                    or shutil.which("ansible-playbook"))
RUN_TIMEOUT = 3600

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot, loop devices)"),
    pytest.mark.skipif(ANSIBLE_PLAYBOOK is None, reason="needs ansible-playbook"),
]

PLAYBOOK = """\
- name: Build and publish the images
  hosts: builder
  gather_facts: false
  roles:
    - role: stackwright.cloud.image_build
      vars:
        image_build_output_dir: {out}
        image_build_overcloud_profile: base
  tasks:
    - name: Show the facts
      ansible.builtin.debug:
        msg: "FACTS image={{{{ image_build_overcloud_image }}}} sha256={{{{ image_build_overcloud_sha256 }}}}"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("image-build-role")
    link_collection(d / "collections")
    out = d / "images"
    (d / "inventory.ini").write_text(
        "builder ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    (d / "build.yml").write_text(PLAYBOOK.format(out=out))
    (d / "ansible.cfg").write_text("[defaults]\n")  # this checkout's settings do not apply
    # the role's temporary directories (controller and build host: both this machine)
    (d / "tmp").mkdir()
    return {"dir": d, "out": out}


def playbook(project, *args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(project["dir"] / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_CONFIG=str(project["dir"] / "ansible.cfg"),
               TMPDIR=str(project["dir"] / "tmp"))
    res = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(project["dir"] / "inventory.ini"),
                          str(project["dir"] / "build.yml")] + list(args),
                         cwd=project["dir"], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert res.returncode == 0, res.stdout[-8000:] + res.stderr[-3000:]
    recap = re.search(r"^builder\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", res.stdout, re.M)
    assert recap, res.stdout[-3000:]
    facts = re.search(r"FACTS image=(\S*) sha256=([0-9a-f]*)", res.stdout)
    return {"changed": int(recap.group(2)), "stdout": res.stdout,
            "image": facts.group(1) if facts else None, "sha256": facts.group(2) if facts else None}


def published(out):
    return sorted(os.path.relpath(p, out) for p in glob.glob(os.path.join(out, "**", "*"), recursive=True)
                  if os.path.isfile(p))


EXPECTED = [
    "overcloud-base.manifest", "overcloud-base.raw.gz", "overcloud-base.raw.gz.sha256",
    "ramdisk/initrd", "ramdisk/initrd.sha256", "ramdisk/vmlinuz", "ramdisk/vmlinuz.sha256",
]


def test_role_publishes_once_then_changes_nothing(project):
    out = project["out"]

    check = playbook(project, "--check")
    assert check["changed"] >= 1, check["stdout"][-4000:]
    assert not out.exists(), "check mode wrote %s" % published(out)

    first = playbook(project)
    print("\nfirst run:\n" + "\n".join(line for line in first["stdout"].splitlines() if "msg" in line))
    assert first["changed"] >= 1
    assert published(out) == EXPECTED
    line = (out / "overcloud-base.raw.gz.sha256").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}  overcloud-base\.raw\.gz\n", line), line
    subprocess.run(["sha256sum", "--quiet", "-c", "overcloud-base.raw.gz.sha256"], cwd=out, check=True)
    for f in ("vmlinuz", "initrd"):
        assert (out / "ramdisk" / (f + ".sha256")).read_text().endswith("  %s\n" % f)
        subprocess.run(["sha256sum", "--quiet", "-c", f + ".sha256"], cwd=out / "ramdisk", check=True)
    assert first["image"] == "overcloud-base.raw.gz"
    assert first["sha256"] == line.split()[0]
    # hard-linked from the builder's cache (same filesystem here)
    gz = os.stat(out / "overcloud-base.raw.gz")
    if os.stat(CACHE).st_dev == os.stat(out).st_dev:
        assert gz.st_nlink >= 2
    assert "\nlinux-image-amd64\t" in (out / "overcloud-base.manifest").read_text()

    second = playbook(project)
    assert second["changed"] == 0, second["stdout"][-6000:]
    assert published(out) == EXPECTED
    assert os.stat(out / "overcloud-base.raw.gz").st_ino == gz.st_ino  # not even replaced by itself
    assert second["sha256"] == first["sha256"]

    again = playbook(project, "--check")
    assert again["changed"] == 0, again["stdout"][-6000:]
    assert again["sha256"] == first["sha256"]

    # the role's and the scripts' temporary files are gone (TMPDIR is the project's tmp/)
    assert os.listdir(project["dir"] / "tmp") == []
