# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which backup a restore takes and which ones retention removes, from the names of
the entries of the backup directory. A backup is a directory named by its UTC start
time (20261206T153000Z); it has that name only once it is complete (it is written as
NAME.partial and renamed last), so a name alone says whether a backup can be used."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

NAME = re.compile(r"[0-9]{8}T[0-9]{6}Z\Z")
PARTIAL = re.compile(r"[0-9]{8}T[0-9]{6}Z[.]partial\Z")


def _complete(names):
    return sorted(n for n in names if isinstance(n, str) and NAME.match(n))


def backup_select(names, wanted="latest"):
    """The complete backup named ``wanted`` (or the newest for ``latest``)."""
    complete = _complete(names)
    if wanted in (None, "", "latest"):
        if not complete:
            raise AnsibleFilterError("backup: there is no complete backup to restore: make one first "
                                     "(playbooks/backup.yml, stackwright overcloud backup)")
        return complete[-1]
    if not isinstance(wanted, str) or not NAME.match(wanted):
        raise AnsibleFilterError("backup: %r is not a backup's name: give a directory name of the backup "
                                 "directory (like 20261206T153000Z), or latest" % (wanted,))
    if wanted not in complete:
        raise AnsibleFilterError("backup: there is no complete backup %s; there are: %s"
                                 % (wanted, ", ".join(complete) or "none"))
    return wanted


def backup_prune(names, keep, current=None):
    """The entries retention removes: complete backups beyond the newest ``keep``
    (never ``current``, the one just made) and the leftovers of interrupted ones."""
    try:
        keep = int(keep)
    except (TypeError, ValueError):
        keep = -1
    if keep < 1:
        raise AnsibleFilterError("backup_keep: keep at least 1 backup (a whole number), not %r" % (keep,))
    complete = [n for n in _complete(names) if n != current]
    old = complete[:max(0, len(complete) - (keep - (1 if current else 0)))]
    partial = sorted(n for n in names if isinstance(n, str) and PARTIAL.match(n) and n != "%s.partial" % current)
    return old + partial


class FilterModule(object):
    def filters(self):
        return {"backup_select": backup_select, "backup_prune": backup_prune}
