# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring a fault about at a chosen point of a playbook run, for the lab's fault tests.

When the first task whose name (as the TASK banner shows it, "role : name")
matches LAB_FAULT_AT_TASK (a regular expression) is about to start, the
command LAB_FAULT_COMMAND (a JSON list) runs, and the task starts only once
it has finished: Ansible sends this event before it hands the task to the
hosts. It runs once per playbook run, and says so in the output ("lab fault:
..."), so that a test knows where its fault came. Enabled per run by
labtest.fault_at(), which sets the variables and names this folder in
ANSIBLE_CALLBACK_PLUGINS and the plugin in ANSIBLE_CALLBACKS_ENABLED.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: lab_fault
type: aggregate
short_description: Run a command when a chosen task starts (lab fault tests)
description:
  - Runs the command in E(LAB_FAULT_COMMAND) before the first task whose name matches E(LAB_FAULT_AT_TASK) starts.
requirements:
  - enabled in callbacks_enabled
"""

import json
import os
import re
import subprocess

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lab_fault"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pattern = os.environ.get("LAB_FAULT_AT_TASK", "")
        self._pattern = re.compile(pattern) if pattern else None
        self._command = json.loads(os.environ.get("LAB_FAULT_COMMAND", "[]"))
        self._done = False

    def v2_playbook_on_task_start(self, task, is_conditional):
        name = task.get_name()
        if self._done or self._pattern is None or not self._command or not self._pattern.search(name):
            return
        self._done = True
        completed = subprocess.run(self._command, capture_output=True, text=True, check=False)
        outcome = "ran" if completed.returncode == 0 else "FAILED (exit %d) to run" % completed.returncode
        self._display.display("lab fault: %s %s before TASK [%s]: %s"
                              % (outcome, " ".join(self._command), name,
                                 (completed.stderr + completed.stdout).strip()))
