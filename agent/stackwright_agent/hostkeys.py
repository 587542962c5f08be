"""Deployed nodes' SSH host keys, made by the undercloud (docs/design/host-keys.md).

Each node gets an ed25519 host key pair when its first-boot config is first built:
``<state_dir>/host-keys/<name>/ssh_host_ed25519_key`` (0600, directory 0700) and
``.pub``. Redeploys of the same node reuse it, so ``known_hosts`` stays valid; deleting
that directory makes the next deploy generate a new one. ``<state_dir>/known_hosts``
has one line per node (its name and provisioning address), replaced whenever the
node's config is built, and the overcloud inventory points SSH at it with
StrictHostKeyChecking=yes. The private key is never logged nor returned by the API;
it leaves this machine only inside the node's config tarball.
"""

import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import threading

KEY_FILE = "ssh_host_ed25519_key"
# what may stand in a known_hosts host field (and a directory name): no ",", "*", "["
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
# config builds run in the listener's threads: one node's key and the shared file at a time
_LOCK = threading.Lock()


class HostKeyError(Exception):
    pass


def known_hosts_path(state_dir):
    return os.path.join(state_dir, "known_hosts")


def node_host_key(node, state_dir):
    """``(private, public)`` (bytes, OpenSSH formats) of the node's host key, generated
    when missing; the node's line in ``known_hosts`` written to match."""
    name = node["name"]
    if not isinstance(name, str) or not HOST_NAME.match(name):
        raise HostKeyError("name: %r cannot name a host in known_hosts (letters, digits, '.', '_', '-')" % (name,))
    hosts = [name]
    if node.get("address"):
        try:
            hosts.append(str(ipaddress.ip_address(node["address"])))
        except ValueError:
            raise HostKeyError("address: %r is not an IP address" % (node["address"],))
    key_dir = os.path.join(state_dir, "host-keys", name)
    private_path = os.path.join(key_dir, KEY_FILE)
    with _LOCK:
        if not (os.path.exists(private_path) and os.path.exists(private_path + ".pub")):
            _generate(key_dir, name)
        with open(private_path, "rb") as fh:
            private = fh.read()
        with open(private_path + ".pub", "rb") as fh:
            public = fh.read()
        _record(state_dir, hosts, public.decode("ascii"))
    return private, public


def forget(state_dir, name, address=None):
    """A node leaves the registry: its key pair goes, and every known_hosts line naming
    its name or address (a later machine of that name or address is another host)."""
    if not isinstance(name, str) or not HOST_NAME.match(name):
        return  # never had a key: config_tarball refuses such names
    with _LOCK:
        shutil.rmtree(os.path.join(state_dir, "host-keys", name), ignore_errors=True)
        _rewrite(state_dir, lambda hosts: not ({name, address} & hosts))


def _generate(key_dir, name):
    os.makedirs(os.path.dirname(key_dir), mode=0o700, exist_ok=True)
    # generated aside and renamed in, so a half-made pair is never used
    tmp = tempfile.mkdtemp(prefix=".new-", dir=os.path.dirname(key_dir))
    try:
        run = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + name,
                              "-f", os.path.join(tmp, KEY_FILE)],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            raise HostKeyError("ssh-keygen for node %s failed: %s" % (name, run.stderr.strip()[-300:]))
        os.chmod(os.path.join(tmp, KEY_FILE), 0o600)
        shutil.rmtree(key_dir, ignore_errors=True)
        os.rename(tmp, key_dir)
    except FileNotFoundError:
        raise HostKeyError("ssh-keygen is not installed (package openssh-client): no host key for node %s" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _record(state_dir, hosts, public_line):
    """Replace every known_hosts line naming this node's name or address with its key."""
    key = " ".join(public_line.split()[:2])  # type and key, without the comment
    wanted = set(hosts)
    _rewrite(state_dir, lambda names: not wanted & names, "%s %s" % (",".join(hosts), key))


def _rewrite(state_dir, keep, add=None):
    """known_hosts with the lines whose host names KEEP accepts, and ADD; written only
    when that changes it."""
    path = known_hosts_path(state_dir)
    try:
        with open(path, encoding="ascii") as fh:
            old = fh.read().splitlines()
    except FileNotFoundError:
        if add is None:
            return
        old = []
    lines = [ln for ln in old if ln.strip() and keep(set(ln.split(None, 1)[0].split(",")))]
    if add is not None:
        lines.append(add)
    text = "\n".join(lines) + "\n" if lines else ""
    if sorted(lines) == sorted(ln for ln in old if ln.strip()):
        return  # unchanged: no rewrite
    fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # public keys only
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
