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
  - With O(timings), the line also says when each play and task started and ended, which role each task
    comes from, and the recap's counts per host; C(tools/benchmark-deploy.py) reads them.
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
  timings:
    description:
      - >-
        Also record timings - C(plays), a list of C(name), C(start) and C(end); C(tasks), a list of C(name)
        (C(role : task) for a role's task), C(role) (null outside roles), C(play) (index in C(plays)),
        C(handler), C(start), C(end) and C(changed) (how many hosts it changed) - and C(stats), the recap's
        counts per host.
      - Times are seconds since the epoch; a task ends when the next task, the next play or the recap starts.
    type: bool
    default: false
    version_added: 0.1.0
    env:
      - name: STACKWRIGHT_CHANGE_LEDGER_TIMINGS
    ini:
      - section: stackwright_change_ledger
        key: timings
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
        self._tasks = {}  # task uuid -> its latest entry in self._run["tasks"] (timings)

    def v2_playbook_on_start(self, playbook):
        self._run = dict(playbook=os.path.basename(playbook._file_name), started=time.time(),
                         check_mode=bool(context.CLIARGS.get("check")), changed=[], failed=[])
        if self.get_option("timings"):
            self._run.update(plays=[], tasks=[], stats={})

    def _timing(self):
        return self._run is not None and "plays" in self._run

    def _end(self, key, now):
        if self._run[key] and "end" not in self._run[key][-1]:
            self._run[key][-1]["end"] = now

    def v2_playbook_on_play_start(self, play):
        if self._timing():
            now = round(time.time(), 3)
            self._end("tasks", now)
            self._end("plays", now)
            self._run["plays"].append(dict(name=play.get_name(), start=now))

    def v2_playbook_on_task_start(self, task, is_conditional, handler=False):
        if self._timing():
            now = round(time.time(), 3)
            self._end("tasks", now)
            entry = dict(name=task.get_name(), role=task._role.get_name() if task._role else None,
                         play=len(self._run["plays"]) - 1, handler=handler, start=now, changed=0)
            self._run["tasks"].append(entry)
            self._tasks[task._uuid] = entry

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False, handler=True)

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
        if self._timing() and result._result.get("changed") and result._task._uuid in self._tasks:
            self._tasks[result._task._uuid]["changed"] += 1  # once per host, as the recap counts
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
        if self._timing():
            now = round(self._run["finished"], 3)
            self._end("tasks", now)
            self._end("plays", now)
            self._run["stats"] = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        with open(path, "a") as fh:
            fh.write(json.dumps(self._run, sort_keys=True) + "\n")
