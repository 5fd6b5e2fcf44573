# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
import stat
from unittest import mock

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _safe_write
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._safe_write import (
    build_diff,
    edit_file,
    read_bytes,
)


def make_module(check_mode=False, **params):
    with patch_module_args(dict(params, _ansible_check_mode=check_mode)):
        return AnsibleModule(argument_spec={'path': {'type': 'path'}}, supports_check_mode=True,
                             add_file_common_args=True)


def replace_with(content):
    return lambda dummy_current: (content, 'payload')


def test_build_diff_masks_both_sides_and_names_the_file():
    diff = build_diff('/etc/x', b'secret=1\n', None, lambda text: text.replace('secret', '***'))
    assert diff == {'before_header': '/etc/x (content)', 'after_header': '/etc/x (content)',
                    'before': '***=1\n', 'after': ''}


def test_read_bytes_of_missing_file():
    assert read_bytes('/nonexistent/behindproxy/file') is None


def test_new_file_never_exists_with_loose_permissions(tmp_path):
    target = tmp_path / 'config.toml'
    module = make_module(path=str(target))
    real_replace = os.replace
    seen_modes = []

    def replace_and_record(source, destination):
        seen_modes.append(stat.S_IMODE(os.stat(source).st_mode))
        real_replace(source, destination)

    with mock.patch.object(_safe_write.os, 'replace', replace_and_record):
        result = edit_file(module, str(target), replace_with(b'token = "x"\n'), default_mode='0600')
    assert result.changed and result.payload == 'payload'
    assert seen_modes == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_unchanged_content_is_not_written(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'same')
    target.chmod(0o600)
    os.utime(target, (1_000_000, 1_000_000))
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'same'), default_mode='0600')
    assert not result.changed and target.stat().st_mtime == 1_000_000


def test_no_file_needed_creates_nothing(tmp_path):
    target = tmp_path / 'f'
    result = edit_file(make_module(path=str(target)), str(target), replace_with(None), default_mode='0600')
    assert not result.changed and not target.exists()


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match='is a directory, expected a file'):
        edit_file(make_module(path=str(tmp_path)), str(tmp_path), replace_with(b'x'))


def test_refusing_transform_leaves_no_trace(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')

    def refuse(dummy_current):
        raise ValueError('bad input')

    with pytest.raises(ValueError, match='bad input'):
        edit_file(make_module(path=str(target)), str(target), refuse)
    assert target.read_bytes() == b'old' and os.listdir(tmp_path) == ['f']


def test_check_mode_reports_mode_change_without_applying_it(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'same')
    target.chmod(0o644)
    result = edit_file(make_module(check_mode=True, path=str(target)), str(target), replace_with(b'same'),
                       default_mode='0600')
    assert result.changed and stat.S_IMODE(target.stat().st_mode) == 0o644


def test_backup_only_when_written(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), backup=True)
    assert read_bytes(result.backup_file) == b'old' and target.read_bytes() == b'new'
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), backup=True)
    assert result.backup_file is None
