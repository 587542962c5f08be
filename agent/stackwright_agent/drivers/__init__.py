"""Resource drivers.

A driver manages one kind of resource declaratively. The API layer calls, in order:

``validate(spec)``
    semantic checks against the node (does the bridge or device exist?), raising
    ``InvalidField`` that names the field; nothing is changed.
``read(spec)``
    the resource as it is now, in the shape of the spec, or ``None`` when absent.
``predict(spec, current)``
    the resource as ``converge`` will leave it (``None`` for absent). ``changed`` is
    ``predict(...) != read(...)``, so check mode and a real run agree by construction.
``converge(spec, current)``
    make it so.
"""

import json
import os
import subprocess

from ..errors import CommandFailed


class Driver:
    kind = None
    schema = None

    def __init__(self, config):
        self.config = config

    def identity(self, spec):
        return spec["name"]

    def spec_from_path(self, ident, query):
        """The identifying fields of a resource addressed as /v1/<kind>/<ident>."""
        return {"name": ident}

    def validate(self, spec):
        """Raise InvalidField for requests that cannot work on this node."""

    def read(self, spec):
        raise NotImplementedError

    def predict(self, spec, current):
        raise NotImplementedError

    def converge(self, spec, current):
        raise NotImplementedError

    def list(self, query):
        raise NotImplementedError


def run(argv, netns=None, check=True, env=None, input_text=None):
    """Run a command (inside ``netns`` when given) and return its stdout.

    A failure raises CommandFailed with the command and its stderr, so the
    operator sees what the node said rather than a bare exit code.
    """
    if netns:
        argv = ["ip", "netns", "exec", netns] + list(argv)
    full_env = dict(os.environ, LC_ALL="C", LVM_SUPPRESS_FD_WARNINGS="1")
    if env:
        full_env.update(env)
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, input=input_text,
                          stdin=None if input_text is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        raise CommandFailed("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode, err))
    return proc.stdout


def run_json(argv, netns=None):
    out = run(argv, netns=netns)
    return json.loads(out) if out.strip() else []
