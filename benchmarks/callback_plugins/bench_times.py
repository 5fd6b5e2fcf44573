# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: bench_times
type: aggregate
short_description: When each play and task of a benchmark's playbook started and ended, as JSON
description:
  - For benchmarks/gitlab_runner_role.py, not part of the collection. Writes, at the end of the run, a JSON list
    of plays to the file named by the environment variable BENCH_TIMES_FILE, each play with its name, start and
    end (time.perf_counter seconds) and its tasks, each with its name, start, end and whether it reported a change.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED, BENCH_TIMES_FILE set
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.plays = []
        self.tasks = {}

    def v2_playbook_on_play_start(self, play):
        now = time.perf_counter()
        if self.plays:
            self.plays[-1]['end'] = now
        self.plays.append({'name': play.get_name(), 'start': now, 'end': None, 'tasks': []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        entry = {'name': task.get_name(), 'start': time.perf_counter(), 'end': None, 'changed': False}
        self.tasks[task._uuid] = entry
        self.plays[-1]['tasks'].append(entry)

    def _ended(self, result, changed=False):
        entry = self.tasks.get(result._task._uuid)
        if entry is not None:
            entry['end'] = time.perf_counter()
            entry['changed'] = entry['changed'] or changed

    def v2_runner_on_ok(self, result):
        self._ended(result, bool(result._result.get('changed')))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._ended(result)

    def v2_runner_on_skipped(self, result):
        self._ended(result)

    def v2_runner_on_unreachable(self, result):
        self._ended(result)

    def v2_playbook_on_stats(self, stats):
        if self.plays:
            self.plays[-1]['end'] = time.perf_counter()
        with open(os.environ['BENCH_TIMES_FILE'], 'w', encoding='utf-8') as handle:
            json.dump(self.plays, handle)
