# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import fcntl
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


def make_module(check_mode=False, diff=False, **params):
    with patch_module_args(dict(params, _ansible_check_mode=check_mode, _ansible_diff=diff)):
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
    real_link = os.link
    seen_modes = []

    def link_and_record(source, destination):
        seen_modes.append(stat.S_IMODE(os.stat(source).st_mode))
        real_link(source, destination)

    with mock.patch.object(_safe_write.os, 'link', link_and_record):
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
    result = edit_file(make_module(check_mode=True, path=str(target), mode='0600'), str(target), replace_with(b'same'),
                       default_mode='0600')
    assert result.changed and stat.S_IMODE(target.stat().st_mode) == 0o644


def test_backup_only_when_written(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), backup=True)
    assert read_bytes(result.backup_file) == b'old' and target.read_bytes() == b'new'
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), backup=True)
    assert result.backup_file is None


def test_no_diff_and_no_masking_without_diff_mode(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    masked = []

    def mask(text):
        masked.append(text)
        return text

    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), mask=mask)
    assert result.changed and result.diff is None and masked == []
    result = edit_file(make_module(diff=True, path=str(target)), str(target), replace_with(b'newer'), mask=mask)
    assert result.diff['before'] == 'new' and result.diff['after'] == 'newer' and masked == ['new', 'newer']


def test_existing_mode_is_kept_and_a_new_file_gets_the_default(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    target.chmod(0o600)
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), default_mode='0644')
    assert result.changed and stat.S_IMODE(target.stat().st_mode) == 0o600
    result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'), default_mode='0644')
    assert not result.changed and stat.S_IMODE(target.stat().st_mode) == 0o600
    new = tmp_path / 'new'
    edit_file(make_module(path=str(new)), str(new), replace_with(b'x'), default_mode='0644')
    assert stat.S_IMODE(new.stat().st_mode) == 0o644


def test_the_lock_is_held_from_the_read_to_the_rename_and_removed(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    real_rename = os.rename
    seen = []

    def rename_and_check_lock(source, destination):
        lock = tmp_path / '.f.lock'
        handle = os.open(str(lock), os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(handle)
        seen.append(stat.S_IMODE(lock.stat().st_mode))
        real_rename(source, destination)

    with mock.patch.object(_safe_write.os, 'rename', rename_and_check_lock):
        result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'))
    assert result.changed and target.read_bytes() == b'new'
    assert seen and not seen[0] & 0o007
    assert os.listdir(tmp_path) == ['f']


def test_an_edit_overwritten_after_the_rename_is_made_again(tmp_path):
    """A writer that replaces the file with what it read before: the edit is applied again."""
    target = tmp_path / 'f'
    target.write_text('a\n')
    real_rename = os.rename
    renames = []

    def rename_then_someone_writes_the_old_text(source, destination):
        renames.append(source)
        real_rename(source, destination)
        if len(renames) == 1:
            target.write_text('a\nb\n')

    def add_c(current):
        if b'c\n' in current:
            return current, 'payload'
        return current + b'c\n', 'payload'

    with mock.patch.object(_safe_write.os, 'rename', rename_then_someone_writes_the_old_text):
        result = edit_file(make_module(path=str(target)), str(target), add_c)
    assert result.changed and target.read_text() == 'a\nb\nc\n' and len(renames) == 2


def test_without_the_right_to_create_the_lock_the_edit_is_made_unlocked(tmp_path):
    """A directory where this user may not create the lock file: the check before the rename still guards."""
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    real_open = os.open

    def open_refusing_the_lock(path, flags, *args):
        if os.path.basename(path) == '.f.lock':
            raise PermissionError(13, 'Permission denied', path)
        return real_open(path, flags, *args)

    with mock.patch.object(_safe_write.os, 'open', open_refusing_the_lock):
        result = edit_file(make_module(path=str(target)), str(target), replace_with(b'new'))
    assert result.changed and target.read_bytes() == b'new' and os.listdir(tmp_path) == ['f']


def test_a_lock_file_that_is_a_symlink_is_refused(tmp_path):
    target = tmp_path / 'f'
    target.write_bytes(b'old')
    (tmp_path / '.f.lock').symlink_to(tmp_path / 'elsewhere')
    with pytest.raises(OSError, match='is a symbolic link'):
        edit_file(make_module(path=str(target)), str(target), replace_with(b'new'))
    assert target.read_bytes() == b'old' and not (tmp_path / 'elsewhere').exists()
