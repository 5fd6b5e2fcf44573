# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback of benchmarks/site_rerun.py: every task result of a play, as JSON, for the benchmark.

It writes, to the file the environment variable BENCH_TASK_TALLY names, one
entry per task and host: the task's name and action, whether the action runs
a module on the host or only on the controller, its status (ok, changed,
skipped, failed, unreachable), how many loop items it ran and how long it
took. The benchmark builds from it a playbook of the same tasks that do
nothing, and names the slowest ones. Not part of the collection's plugins:
it is loaded only by the benchmark (ANSIBLE_CALLBACK_PLUGINS).
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: task_tally
type: aggregate
short_description: Record each task result (action, status, loop items, duration) as JSON for a benchmark
description:
  - Writes the list of task results to the file named by the environment variable E(BENCH_TASK_TALLY)
    when the playbook ends.
'''

# Actions whose work is done by their action plugin on the controller: they
# never start a module on the host.
CONTROLLER_ACTIONS = frozenset(('add_host', 'assert', 'debug', 'fail', 'group_by', 'include_role', 'include_tasks',
                                'include_vars', 'meta', 'set_fact', 'set_stats', 'validate_argument_spec'))


def short_action(action):
    for prefix in ('ansible.builtin.', 'ansible.legacy.'):
        if action.startswith(prefix):
            return action[len(prefix):]
    return action


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'task_tally'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._started = {}
        self._results = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task):
        self._started[task._uuid] = time.monotonic()

    def _record(self, result, status):
        task = result._task
        action = short_action(task.action)
        items = result._result.get('results')
        if status == 'ok' and result._result.get('changed'):
            status = 'changed'
        self._results.append({
            'host': result._host.get_name(),
            'task': task.get_name(),
            'action': action,
            'where': 'controller' if action in CONTROLLER_ACTIONS else 'host',
            'status': status,
            'items': len(items) if isinstance(items, list) else None,
            'seconds': round(time.monotonic() - self._started.get(task._uuid, time.monotonic()), 3),
        })

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('BENCH_TASK_TALLY')
        if path:
            with open(path, 'w', encoding='utf-8') as tally:
                json.dump(self._results, tally, indent=1)
