# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection whose playbooks the verbs run, found as Ansible finds it: through
its collection loader and configuration (ANSIBLE_COLLECTIONS_PATH, ansible.cfg,
the default paths, sys.path). A checkout set up by tools/bootstrap.sh and a
collection installed from its tarball are found the same way."""

import importlib
import json
import os

NAME = "stackwright.cloud"
PACKAGE = "ansible_collections.stackwright.cloud"


class NotFound(Exception):
    pass


class Collection:
    def __init__(self, path, search_root=None):
        # a checkout's link resolved: the very files a plain ansible-playbook run reads
        self.path = os.path.realpath(path)
        # the collections path it was found in; the runs get it first in ANSIBLE_COLLECTIONS_PATH
        self.search_root = search_root

    def version(self):
        """The version the collection says it is: MANIFEST.json once built, galaxy.yml in a checkout."""
        try:
            with open(os.path.join(self.path, "MANIFEST.json")) as fh:
                return json.load(fh)["collection_info"]["version"]
        except (OSError, ValueError, KeyError):
            pass
        import yaml  # ansible-core's own dependency

        try:
            with open(os.path.join(self.path, "galaxy.yml")) as fh:
                return str(yaml.safe_load(fh)["version"])
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            return "unknown"

    def collections_path(self, current=None):
        """ANSIBLE_COLLECTIONS_PATH for the runs: where this collection was found, then what was set."""
        paths = [self.search_root] if self.search_root else []
        return os.pathsep.join(paths + [p for p in (current or "").split(os.pathsep) if p and p not in paths])


def find():
    """The collection: $STACKWRIGHT_HOME (a checkout or an installed collection) if
    set, else the one Ansible's collection loader imports as stackwright.cloud."""
    home = os.environ.get("STACKWRIGHT_HOME")
    if home:
        if not os.path.isdir(os.path.join(home, "playbooks")):
            raise NotFound("STACKWRIGHT_HOME=%s has no playbooks/: point it at a checkout or an installed "
                           "collection (.../ansible_collections/stackwright/cloud)" % home)
        return Collection(home)
    from ansible import constants as C
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()
    try:
        package = importlib.import_module(PACKAGE)
    except ImportError:
        raise NotFound("Ansible finds no collection %s (collections paths: %s, then sys.path): install it "
                       "(ansible-galaxy collection install) or set ANSIBLE_COLLECTIONS_PATH; a checkout: "
                       "run tools/bootstrap.sh" % (NAME, ":".join(C.COLLECTIONS_PATHS)))
    path = list(package.__path__)[0]
    return Collection(path, os.path.dirname(os.path.dirname(os.path.dirname(path))))
