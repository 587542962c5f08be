# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A helper script's result, as the roles' scripts give it: one JSON object on the last
line of their output that holds one (anything before it, a library's warning or a
merged stderr, is not the result)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError


def last_json(lines, default=None):
    """The last line of LINES that is a JSON object, decoded; DEFAULT ({}) if none is."""
    if isinstance(lines, (str, bytes)) or not hasattr(lines, "__iter__"):
        raise AnsibleFilterError("last_json: expects a list of lines (stdout_lines), got %s" % type(lines).__name__)
    for line in reversed(list(lines)):
        line = str(line).strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {} if default is None else default


class FilterModule(object):
    def filters(self):
        return {"last_json": last_json}
