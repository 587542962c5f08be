#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: config_files
short_description: Write a service's configuration files in a single call, and say which units must restart
version_added: 0.1.0
description:
  - Compares each file of O(files) (content, owner, group, mode) with what the node has and writes only the ones that
    differ, each atomically (a temporary file in the same directory, then a rename). Missing parent directories are
    made (root, mode 0755).
  - Returns the files it changed and the union of their O(files[].restarts), in order, for
    M(stackwright.cloud.systemd_units) to restart; a service restarts only when one of its files changed.
  - A changed file under C(/etc/systemd/system/) or C(/usr/lib/systemd/system/) makes systemd reload its unit files
    (one C(systemctl daemon-reload)), so the units started next see it. Where systemd is not the host's init,
    M(stackwright.cloud.systemd_units) reads unit files as it starts them, and nothing is reloaded.
  - The contents are rendered on the controller (templates, the P(stackwright.cloud.ini#filter) filter), so a role's
    files cost one module run per node however many they are. That matters where a module run is dear (a node under
    emulation pays seconds for each), and on a no-change run it is all the files cost.
  - Check mode says what would change without writing; diff mode shows a unified diff of each changed file, its
    content hidden when O(files[].secret) is set. The contents are never logged, so where a diff would show a
    whole content (a file of one line) Ansible masks it.
options:
  files:
    description: The files. An empty list changes nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file. Never logged.
        type: str
        required: true
      owner:
        description: Owning user.
        type: str
        default: root
      group:
        description: Owning group.
        type: str
        default: root
      mode:
        description: Permissions, an octal string such as V('0640') (or a number YAML reads as octal, C(0640)).
        type: raw
        default: "0644"
      secret:
        description: The content holds passwords or keys; diff mode names the file but does not show its content.
        type: bool
        default: false
      restarts:
        description: Units that must restart when this file changes.
        type: list
        elements: str
        default: []
author:
  - Stackwright contributors (@stackwright)
notes:
  - Owner and group must exist on the node; an unknown one is an error that names it, before anything is written.
"""

EXAMPLES = r"""
- name: Placement's files
  stackwright.cloud.config_files:
    files:
      - dest: /etc/placement/placement.conf
        content: "{{ placement_settings | stackwright.cloud.ini }}"
        group: placement
        mode: "0640"
        secret: true
        restarts: [placement-api]
  register: placement_files

- name: Start Placement (restart it when one of its files changed)
  stackwright.cloud.systemd_units:
    names: [placement-api]
    enabled: true
    state: started
    restart: "{{ placement_files.restarts }}"
"""

RETURN = r"""
changed_files:
  description: The files written (in check mode, the ones that would be), in the order given.
  type: list
  elements: str
  returned: always
  sample: [/etc/placement/placement.conf]
restarts:
  description: The units named by the changed files' O(files[].restarts), each once, in order.
  type: list
  elements: str
  returned: always
  sample: [placement-api]
"""

import difflib
import grp
import hashlib
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.stackwright.cloud.plugins.module_utils import node_state, supervisor

# Unit files and drop-ins: systemd reads them again only when told to.
UNIT_DIRS = ("/etc/systemd/system/", "/usr/lib/systemd/system/", "/lib/systemd/system/")


def current(path):
    """(content, uid, gid, mode) of the file, or None when there is none (a symbolic
    link counts as none: it is replaced by the file, as ansible.builtin.copy does)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    with open(path, "rb") as fh:
        return (fh.read(), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def ids(module, entry):
    try:
        uid = pwd.getpwnam(entry["owner"]).pw_uid
    except KeyError:
        module.fail_json(msg="%s: no user %s on this node (owner); is its package installed?" % (
            entry["dest"], entry["owner"]))
    try:
        gid = grp.getgrnam(entry["group"]).gr_gid
    except KeyError:
        module.fail_json(msg="%s: no group %s on this node (group); is its package installed?" % (
            entry["dest"], entry["group"]))
    return uid, gid


def parse_mode(module, entry):
    """An octal string ('0640'), or a number YAML already read as octal (0640)."""
    raw = entry["mode"]
    try:
        mode = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        module.fail_json(msg="%s: mode %r is not an octal permission such as '0640'" % (entry["dest"], entry["mode"]))
    return mode


def make_parents(path):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        make_parents(parent)
        os.mkdir(parent, 0o755)
        os.chmod(parent, 0o755)  # whatever the umask


def write(path, content, uid, gid, mode):
    make_parents(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".%s." % os.path.basename(path))
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def file_diff(entry, have, content, uid, gid, mode):
    """A unified diff of one file (its content left out when secret), with any owner,
    group or mode change."""
    dest = entry["dest"]
    lines = []
    if have is not None and have[1:] != (uid, gid, mode):
        lines.append("%s: owner %s, group %s, mode %s -> owner %s, group %s, mode %04o\n" % (
            dest, have[1], have[2], "%04o" % have[3], uid, gid, mode))
    if have is not None and have[0] == content:
        return "".join(lines)
    if entry["secret"]:
        return "".join(lines) + "%s: content %s (not shown: secret)\n" % (dest, "written" if have is None else "changed")
    old = [] if have is None else have[0].decode("utf-8", "replace").splitlines(True)
    new = content.decode("utf-8", "replace").splitlines(True)
    diff = difflib.unified_diff(old, new, "/dev/null" if have is None else dest, dest)
    return "".join(lines) + "".join(line if line.endswith("\n") else line + "\n" for line in diff)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=dict(
                dest=dict(type="path", required=True),
                content=dict(type="str", required=True, no_log=True),
                owner=dict(type="str", default="root"),
                group=dict(type="str", default="root"),
                mode=dict(type="raw", default="0644"),
                secret=dict(type="bool", default=False),
                restarts=dict(type="list", elements="str", default=[]),
            )),
        ),
        supports_check_mode=True,
    )
    files = module.params["files"]
    dests = [f["dest"] for f in files]
    twice = sorted(set(d for d in dests if dests.count(d) > 1))
    if twice:
        module.fail_json(msg="files: %s given more than once" % ", ".join(twice))
    relative = [d for d in dests if not os.path.isabs(d)]
    if relative:
        module.fail_json(msg="files: dest must be an absolute path, not %s" % ", ".join(relative))

    # Every input checked before the first write.
    wanted = []
    for entry in files:
        if os.path.isdir(entry["dest"]) and not os.path.islink(entry["dest"]):
            module.fail_json(msg="%s is a directory, not a file (dest)" % entry["dest"])
        uid, gid = ids(module, entry)
        wanted.append((entry, to_bytes(entry["content"]), uid, gid, parse_mode(module, entry)))

    changing = [(w, current(w[0]["dest"])) for w in wanted]
    changing = [(w, have) for w, have in changing if have != w[1:]]
    if not module.check_mode:  # what a later deploy_state checks these files against, before any write
        node_state.record(files=dict((e["dest"], {"sha256": hashlib.sha256(c).hexdigest(), "uid": u, "gid": g,
                                                  "mode": m}) for e, c, u, g, m in wanted),
                          changed=bool(changing))
    changed_files, restarts, diffs = [], [], []
    for (entry, content, uid, gid, mode), have in changing:
        changed_files.append(entry["dest"])
        restarts.extend(u for u in entry["restarts"] if u not in restarts)
        if module._diff:
            diffs.append(file_diff(entry, have, content, uid, gid, mode))
        if not module.check_mode:
            try:
                write(entry["dest"], content, uid, gid, mode)
            except OSError as exc:
                module.fail_json(msg="%s: cannot write it: %s" % (entry["dest"], exc),
                                 changed=bool(changed_files[:-1]), changed_files=changed_files[:-1])

    result = dict(changed=bool(changed_files), changed_files=changed_files, restarts=restarts)
    if diffs:
        # Prepared (a unified diff, not before/after): the content is a no_log value,
        # which Ansible would mask wherever it appears whole.
        result["diff"] = dict(prepared="".join(diffs))
    # (without systemd the supervisor reads a unit file each time it starts the unit)
    if changed_files and not module.check_mode and any(d.startswith(UNIT_DIRS) for d in changed_files) \
            and supervisor.systemd_is_init():
        rc, out, err = module.run_command([module.get_bin_path("systemctl", required=True), "daemon-reload"])
        if rc != 0:
            module.fail_json(msg="systemctl daemon-reload failed: %s" % (err.strip() or out.strip()), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
