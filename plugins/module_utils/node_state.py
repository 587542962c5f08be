# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What Stackwright manages on a node, kept on the node so that a later run can tell,
with one module run, whether anything drifted since the last complete deploy:

- the managed files (config_files records each file's sha256, owner, group and mode),
- the managed units (systemd_units records the state each unit was brought to),
- the last complete deploy (deploy_state records its fingerprint and the packages).

config_files and systemd_units forget the last deploy as soon as they change anything,
so a deploy that stops half-way is never taken for a complete one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile

# another place only for tests, which run the modules on a host that is no node
STATE_DIR = os.environ.get("STACKWRIGHT_NODE_STATE_DIR", "/var/lib/stackwright/node-state")
MANAGED = "managed.json"
DEPLOYED = "deployed.json"
DPKG_STATUS = "/var/lib/dpkg/status"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def packages_digest():
    """The installed packages (dpkg's status file): an upgrade changes what a deploy does."""
    return sha256_file(DPKG_STATUS) if os.path.exists(DPKG_STATUS) else ""


def _read(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def _write(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, path)


@contextlib.contextmanager
def locked(state_dir=STATE_DIR):
    """The state directory, locked (tasks delegated to one host may run at once)."""
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, 0o700)
        os.chmod(state_dir, 0o700)  # whatever the umask
    with open(os.path.join(state_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield state_dir


def read_managed(state_dir=STATE_DIR):
    data = _read(os.path.join(state_dir, MANAGED)) or {}
    return {"files": data.get("files", {}), "units": data.get("units", {})}


def read_deployed(state_dir=STATE_DIR):
    return _read(os.path.join(state_dir, DEPLOYED))


def record(files=None, units=None, changed=False, state_dir=STATE_DIR):
    """Add FILES ({path: {sha256, uid, gid, mode}}) and UNITS ({unit: {state, enabled,
    masked}}, only the settings given) to the managed state; CHANGED: the caller
    changed the node, so the last deploy's record no longer describes it."""
    with locked(state_dir):
        managed = read_managed(state_dir)
        new = {"files": dict(managed["files"], **(files or {})), "units": dict(managed["units"])}
        for name, wanted in (units or {}).items():
            new["units"][name] = dict(new["units"].get(name, {}), **wanted)
        if new != managed:
            _write(os.path.join(state_dir, MANAGED), new)
        if changed:
            _unlink_deployed(state_dir)


def _unlink_deployed(state_dir):  # under the lock
    path = os.path.join(state_dir, DEPLOYED)
    if os.path.exists(path):
        os.unlink(path)


def forget_deployed(check=False, state_dir=STATE_DIR):
    """Forget the last complete deploy; returns whether there was one (CHECK: only that)."""
    if read_deployed(state_dir) is None:
        return False
    if not check:
        with locked(state_dir):
            _unlink_deployed(state_dir)
    return True


def record_deployed(fingerprint, check=False, state_dir=STATE_DIR):
    """Record a complete deploy; returns whether the record changed (CHECK: only that)."""
    data = {"fingerprint": fingerprint, "packages": packages_digest()}
    if read_deployed(state_dir) == data:
        return False
    if not check:
        with locked(state_dir):
            _write(os.path.join(state_dir, DEPLOYED), data)
    return True
