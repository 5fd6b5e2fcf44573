# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a module's main() in-process, as Ansible would, and capture its result."""

from __future__ import annotations

from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """Raised instead of exit_json/fail_json so the test gets the result."""

    def __init__(self, result, failed):
        super().__init__(result)
        self.result = result
        self.failed = failed


def _exit_json(module, **result):
    result.setdefault('changed', False)
    raise ModuleExit(result, failed=False)


def _fail_json(module, msg, **result):
    result['msg'] = msg
    raise ModuleExit(result, failed=True)


def _warn(module, warning):
    module.test_warnings.append(warning)


@pytest.fixture
def run_module():
    """run_module(main, args, check_mode=False) -> (result, failed, warnings)."""
    def run(main, args, check_mode=False):
        warnings = []
        module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)
        with patch_module_args(module_args), \
                mock.patch.object(basic.AnsibleModule, 'exit_json', _exit_json), \
                mock.patch.object(basic.AnsibleModule, 'fail_json', _fail_json), \
                mock.patch.object(basic.AnsibleModule, 'warn', _warn), \
                mock.patch.object(basic.AnsibleModule, 'test_warnings', warnings, create=True):
            with pytest.raises(ModuleExit) as raised:
                main()
        return raised.value.result, raised.value.failed, warnings
    return run
