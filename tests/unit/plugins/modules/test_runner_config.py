# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""runner_config through its main(): files on disk, check mode, diff, backup, modes, errors."""

from __future__ import annotations

import os
import stat
import tomllib
from unittest import mock

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _safe_write, _toml_document
from ansible_collections.behindproxy.gitlab_runner.plugins.modules.runner_config import main

CONFIG = '''concurrent = 1
check_interval = 0

[[runners]]
  name = "r1"
  url = "https://gitlab.example.com/"
  token = "glrt-VERYSECRETTOKEN"
  token_obtained_at = 2025-01-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
'''

OLD_TIME = 1_600_000_000


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text(CONFIG)
    path.chmod(0o600)
    os.utime(path, (OLD_TIME, OLD_TIME))
    return path


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_edit_then_second_run_is_unchanged_and_not_rewritten(run_module, config):
    args = dict(path=str(config), name='r1', settings={'docker': {'volumes': ['/cache']}},
                environment={'HTTP_PROXY': 'http://cntlm.internal:3128'}, **{'global': {'concurrent': 4}})
    result, failed, dummy = run_module(main, args)
    assert not failed and result['changed']
    data = tomllib.loads(config.read_text())
    assert data['concurrent'] == 4
    assert data['runners'][0]['docker'] == {'image': 'alpine:3.20', 'volumes': ['/cache']}
    assert data['runners'][0]['environment'] == ['HTTP_PROXY=http://cntlm.internal:3128']
    os.utime(config, (OLD_TIME, OLD_TIME))
    inode = config.stat().st_ino

    result, failed, dummy = run_module(main, args)
    assert not failed and not result['changed']
    assert config.stat().st_mtime == OLD_TIME
    assert config.stat().st_ino == inode


def test_check_mode_never_writes(run_module, config, tmp_path):
    result, failed, dummy = run_module(main, dict(path=str(config), **{'global': {'concurrent': 9}}), check_mode=True)
    assert result['changed'] and not failed
    assert config.read_text() == CONFIG
    assert config.stat().st_mtime == OLD_TIME
    assert 'concurrent = 9' in result['diff']['after']

    missing = tmp_path / 'new' / 'config.toml'
    result, failed, dummy = run_module(main, dict(path=str(missing), name='r'), check_mode=True)
    assert result['changed'] and not missing.exists() and not missing.parent.exists()


def test_diff_has_headers_and_masks_secrets(run_module, config):
    result, dummy, dummy = run_module(main, dict(path=str(config), name='r1',
                                                 environment={'HTTPS_PROXY': 'http://bob:hunter2@proxy.corp.example:8080'}))
    diff = result['diff']
    assert diff['before_header'] == diff['after_header'] == '%s (content)' % config
    assert 'glrt-VERYSECRETTOKEN' not in repr(result)
    assert 'hunter2' not in repr(result)
    assert 'token = "********"' in diff['before'] and 'token = "********"' in diff['after']
    assert 'HTTPS_PROXY=http://bob:********@proxy.corp.example:8080' in diff['after']
    assert result['runner']['token'] == '********'
    assert 'hunter2' in config.read_text()


def test_new_file_is_created_0600(run_module, tmp_path):
    path = tmp_path / 'etc' / 'gitlab-runner' / 'config.toml'
    result, failed, dummy = run_module(main, dict(path=str(path), name='r', url='https://g.example.com',
                                                  **{'global': {'concurrent': 2}}))
    assert result['changed'] and not failed
    assert mode_of(path) == 0o600
    assert tomllib.loads(path.read_text()) == {'concurrent': 2, 'runners': [{'name': 'r', 'url': 'https://g.example.com'}]}
    assert result['diff']['before'] == ''
    assert [name for name in os.listdir(path.parent) if name != 'config.toml'] == []


def test_create_false_refuses_a_missing_file(run_module, tmp_path):
    path = tmp_path / 'config.toml'
    result, failed, dummy = run_module(main, dict(path=str(path), create=False, **{'global': {'concurrent': 2}}))
    assert failed and 'does not exist and create is false' in result['msg']
    assert not path.exists()


def test_mode_is_tightened_by_default_and_settable(run_module, config):
    config.chmod(0o644)
    result, dummy, warnings = run_module(main, dict(path=str(config), **{'global': {'concurrent': 1}}))
    # The file holds a token: only its owner keeps access to it, as the runner's own config.toml.
    assert result['changed'] and mode_of(config) == 0o600 and warnings
    assert config.read_text() == CONFIG
    result, dummy, dummy = run_module(main, dict(path=str(config), mode='0640', **{'global': {'concurrent': 1}}))
    assert result['changed'] and mode_of(config) == 0o640
    result, dummy, dummy = run_module(main, dict(path=str(config), mode='0640', **{'global': {'concurrent': 1}}))
    assert not result['changed']


def test_existing_mode_kept_on_rewrite_when_given(run_module, config):
    config.chmod(0o640)
    run_module(main, dict(path=str(config), mode='0640', **{'global': {'concurrent': 3}}))
    assert mode_of(config) == 0o640


def test_backup_keeps_the_original(run_module, config):
    result, dummy, dummy = run_module(main, dict(path=str(config), backup=True, **{'global': {'concurrent': 5}}))
    backup = result['backup_file']
    with open(backup) as handle:
        assert handle.read() == CONFIG
    assert mode_of(config) == 0o600
    result, dummy, dummy = run_module(main, dict(path=str(config), backup=True, **{'global': {'concurrent': 5}}))
    assert 'backup_file' not in result


@pytest.mark.parametrize('broken, where', [
    (b'concurrent = 1\n[[runners]\nname = "x"\n', 'line 2, column 10'),
    (b'concurrent = 1\nconcurrent = 2\n', 'line 2, column 15'),
    (b'a = {x = 1,\n}\n', 'line 1, column 12'),
])
def test_invalid_toml_fails_with_position_and_leaves_file_untouched(run_module, tmp_path, broken, where):
    path = tmp_path / 'config.toml'
    path.write_bytes(broken)
    path.chmod(0o644)
    result, failed, dummy = run_module(main, dict(path=str(path), name='x', settings={'limit': 1}))
    assert failed
    assert where in result['msg'] and str(path) in result['msg']
    assert path.read_bytes() == broken
    assert mode_of(path) == 0o644
    assert os.listdir(tmp_path) == ['config.toml']


def test_ambiguous_name_fails_naming_urls(run_module, tmp_path):
    path = tmp_path / 'config.toml'
    text = ('[[runners]]\n  name = "s"\n  url = "https://one.example.com/"\n'
            '[[runners]]\n  name = "s"\n  url = "https://two.example.com"\n')
    path.write_text(text)
    result, failed, dummy = run_module(main, dict(path=str(path), name='s', settings={'limit': 1}))
    assert failed and "'https://one.example.com/'" in result['msg'] and "'https://two.example.com'" in result['msg']
    assert path.read_text() == text
    result, failed, dummy = run_module(main, dict(path=str(path), name='s', url='https://one.example.com',
                                                  settings={'limit': 1}))
    assert not failed and result['runner']['url'] == 'https://one.example.com/'
    assert [runner.get('limit') for runner in tomllib.loads(path.read_text())['runners']] == [1, None]


def test_state_absent(run_module, config, tmp_path):
    result, dummy, dummy = run_module(main, dict(path=str(config), name='r1', state='absent'))
    assert result['changed'] and result['runner'] == {}
    assert tomllib.loads(config.read_text()) == {'concurrent': 1, 'check_interval': 0}
    result, dummy, dummy = run_module(main, dict(path=str(config), name='r1', state='absent'))
    assert not result['changed']
    missing = tmp_path / 'missing.toml'
    result, dummy, dummy = run_module(main, dict(path=str(missing), name='r1', state='absent'))
    assert not result['changed'] and not missing.exists()


def test_validate_keys_modes(run_module, config):
    args = dict(path=str(config), name='r1', settings={'docker': {'imgae': 'x'}, 'pre_clone_script': 'true'})
    result, failed, warnings = run_module(main, dict(args, validate_keys='error'))
    assert failed and 'runners[0].docker.imgae' in result['msg'] and 'pre_clone_script' in result['msg']
    assert config.read_text() == CONFIG

    result, failed, warnings = run_module(main, args)
    assert not failed and result['unknown_keys'] == ['runners[0].docker.imgae', 'runners[0].pre_clone_script']
    assert any("did you mean 'image'" in warning for warning in warnings)
    assert any('removed in gitlab-runner 17.0.0' in warning for warning in warnings)

    result, failed, warnings = run_module(main, dict(args, validate_keys='ignore'))
    assert result['unknown_keys'] == [] and warnings == []


def test_bad_option_values_fail_clearly(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), settings={'limit': 1}))
    assert failed and 'name is required' in result['msg']
    result, failed, dummy = run_module(main, dict(path=str(config), name='r1', settings={'volumes': ['/a', None]}))
    assert failed and 'settings.volumes[1]' in result['msg']
    assert config.read_text() == CONFIG


def test_file_changed_between_read_and_write_is_merged_again(run_module, config):
    """The runner rotates its token while the module is editing: both changes survive."""
    rotated = CONFIG.replace('glrt-VERYSECRETTOKEN', 'glrt-ROTATEDTOKEN')
    real_write_temp = _safe_write._write_temp
    calls = []

    def write_temp_while_runner_rotates(directory, name, content):
        calls.append(content)
        if len(calls) == 1:
            config.write_text(rotated)
        return real_write_temp(directory, name, content)

    with mock.patch.object(_safe_write, '_write_temp', write_temp_while_runner_rotates):
        result, failed, dummy = run_module(main, dict(path=str(config), name='r1', settings={'limit': 4}))
    assert not failed and result['changed'] and len(calls) == 2
    data = tomllib.loads(config.read_text())
    assert data['runners'][0]['token'] == 'glrt-ROTATEDTOKEN'
    assert data['runners'][0]['limit'] == 4
    assert [name for name in os.listdir(config.parent) if name != 'config.toml'] == []


def test_file_that_keeps_changing_fails_without_writing(run_module, config):
    real_write_temp = _safe_write._write_temp
    counter = []

    def always_changing(directory, name, content):
        counter.append(1)
        config.write_text(CONFIG.replace('concurrent = 1', 'concurrent = %d' % (100 + len(counter))))
        return real_write_temp(directory, name, content)

    with mock.patch.object(_safe_write, '_write_temp', always_changing):
        result, failed, dummy = run_module(main, dict(path=str(config), name='r1', settings={'limit': 4}))
    assert failed and 'changed on disk during each of 5 attempts' in result['msg']
    assert 'limit' not in config.read_text()
    assert [name for name in os.listdir(config.parent) if name != 'config.toml'] == []


def test_symlinked_config_is_edited_through_the_link(run_module, config, tmp_path):
    link = tmp_path / 'link.toml'
    link.symlink_to(config)
    run_module(main, dict(path=str(link), **{'global': {'concurrent': 6}}))
    assert link.is_symlink()
    assert tomllib.loads(config.read_text())['concurrent'] == 6


def test_missing_tomlkit_is_reported(run_module, config):
    with mock.patch.object(_toml_document, 'tomlkit', None):
        result, failed, dummy = run_module(main, dict(path=str(config), **{'global': {'concurrent': 2}}))
    assert failed and 'tomlkit' in result['msg']
    assert config.read_text() == CONFIG


# ------------------------------------------------------- runners: a list

def test_a_list_of_runners_is_edited_in_one_write_and_a_second_run_changes_nothing(run_module, config, monkeypatch):
    installed = []
    install = _safe_write._install
    monkeypatch.setattr(_safe_write, '_install', lambda *args: installed.append(args) or install(*args))
    args = dict(path=str(config), runners=[
        dict(name='r1', settings={'docker': {'volumes': ['/cache']}}),
        dict(name='r2', url='https://gitlab.example.com/', environment={'HTTP_PROXY': 'http://cntlm.internal:3128'}),
        dict(name='r3', settings={'limit': 2}),
    ], **{'global': {'concurrent': 4}})
    result, failed, dummy = run_module(main, args)
    assert not failed and result['changed'], result
    assert len(installed) == 1
    assert [(runner['name'], runner['changed']) for runner in result['runners']] == [
        ('r1', True), ('r2', True), ('r3', True)]
    assert result['runners'][0]['runner']['token'] == '********'
    assert 'runner' not in result
    data = tomllib.loads(config.read_text())
    assert data['concurrent'] == 4
    assert [runner['name'] for runner in data['runners']] == ['r1', 'r2', 'r3']
    assert data['runners'][0]['docker']['volumes'] == ['/cache']
    assert data['runners'][1]['environment'] == ['HTTP_PROXY=http://cntlm.internal:3128']
    head = CONFIG.split('[[runners]]', maxsplit=1)[0]
    assert config.read_text().startswith(head.replace('concurrent = 1', 'concurrent = 4'))
    os.utime(config, (OLD_TIME, OLD_TIME))

    result, failed, dummy = run_module(main, args)
    assert not failed and not result['changed']
    assert [runner['changed'] for runner in result['runners']] == [False] * 3
    assert config.stat().st_mtime == OLD_TIME and len(installed) == 1


def test_a_list_changes_only_the_entries_that_differ_and_removes_absent_ones(run_module, config):
    run_module(main, dict(path=str(config), runners=[dict(name='r2', settings={'limit': 1}),
                                                     dict(name='r3', settings={'limit': 1})]))
    result, failed, dummy = run_module(main, dict(path=str(config), runners=[
        dict(name='r1', settings={'docker': {'image': 'alpine:3.20'}}),
        dict(name='r2', state='absent'),
        dict(name='r3', settings={'limit': 3}),
        dict(name='never-there', state='absent'),
    ]))
    assert not failed, result
    assert [runner['changed'] for runner in result['runners']] == [False, True, True, False]
    assert result['runners'][1]['runner'] == {}
    data = tomllib.loads(config.read_text())
    assert [(runner['name'], runner.get('limit')) for runner in data['runners']] == [('r1', None), ('r3', 3)]


def test_a_list_in_check_mode_names_the_runner_with_an_unknown_key_and_writes_nothing(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), validate_keys='error', runners=[
        dict(name='r1', settings={'docker': {'image': 'debian:12'}}),
        dict(name='typo', settings={'docker': {'imgae': 'debian:12'}}),
    ]), check_mode=True)
    assert failed
    assert "runner 'typo': runners[1].docker.imgae: unknown key, did you mean 'image'?" in result['msg']
    assert config.read_text() == CONFIG


def test_two_items_that_select_one_entry_are_refused(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), runners=[
        dict(name='r1', settings={'limit': 1}), dict(name='r1', url='https://gitlab.example.com', settings={'limit': 2})]))
    assert failed and 'two edits select the same [[runners]] entry' in result['msg'] and "'r1'" in result['msg']
    assert config.read_text() == CONFIG


@pytest.mark.parametrize('single', ['name', 'url', 'settings', 'environment', 'state'])
def test_the_options_of_one_entry_cannot_stand_beside_runners(run_module, config, single):
    value = {'name': 'r1', 'url': 'https://x/', 'settings': {}, 'environment': {}, 'state': 'absent'}[single]
    result, failed, dummy = run_module(main, dict(path=str(config), runners=[dict(name='r1')], **{single: value}))
    assert failed and 'mutually exclusive' in result['msg'] and single in result['msg']
    assert config.read_text() == CONFIG
