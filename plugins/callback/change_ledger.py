# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: change_ledger
type: notification
short_description: Record which tasks changed in each playbook run
version_added: 0.1.0
description:
  - Appends one JSON line per playbook run to a ledger file - the playbook, whether it ran in check mode, and
    every task result that reported C(changed), per host.
  - Comparing a check-mode run with the real run that follows shows whether the predictions were true;
    a run with an empty list proves idempotence.
requirements:
  - enable in configuration (C(callbacks_enabled))
options:
  ledger:
    description: Path of the ledger file. Nothing is written when unset.
    type: path
    env:
      - name: STACKWRIGHT_CHANGE_LEDGER
    ini:
      - section: stackwright_change_ledger
        key: ledger
"""

import json
import os
import time

from ansible import context
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "stackwright.cloud.change_ledger"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._run = None

    def v2_playbook_on_start(self, playbook):
        self._run = dict(playbook=os.path.basename(playbook._file_name), started=time.time(),
                         check_mode=bool(context.CLIARGS.get("check")), changed=[], failed=[])

    def _record(self, key, result):
        if self._run is None:
            return
        entry = dict(host=result._host.get_name(), task=result._task.get_name())
        item = result._result.get("item") if isinstance(result._result, dict) else None
        if item is not None:
            label = result._task.loop_control.label if result._task.loop_control else None
            entry["item"] = str(label or item)
        self._run[key].append(entry)

    def v2_runner_on_ok(self, result):
        # a loop's summary result repeats what its items reported
        if result._result.get("changed") and "results" not in result._result:
            self._record("changed", result)

    def v2_runner_item_on_ok(self, result):
        if result._result.get("changed"):
            self._record("changed", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._record("failed", result)

    def v2_playbook_on_stats(self, stats):
        path = self.get_option("ledger")
        if not path or self._run is None:
            return
        self._run["finished"] = time.time()
        with open(path, "a") as fh:
            fh.write(json.dumps(self._run, sort_keys=True) + "\n")
