# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The modes the file-editing modules give their files and backups.

An existing file keeps its mode unless the task asks for another; a new file
gets the module's default, 0600 when it holds a secret; a file that holds a
secret is never left with any permission for other users nor writable by its
group (an existing one is tightened to 0600), and its backup is never looser
than the file.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import docker_json_config, runner_config

DAEMON = '{\n  "storage-driver": "vfs"\n}\n'
PROXY = 'http://svc:Pr0xy-Passw0rd@proxy.corp.example:3128'
DAEMON_WITH_PASSWORD = json.dumps({'storage-driver': 'vfs', 'proxies': {'http-proxy': PROXY}}, indent=2) + '\n'
CONFIG = '''concurrent = 1

[[runners]]
  name = "r1"
  url = "https://gitlab.example.com/"
  token = "glrt-VERYSECRETTOKEN"
  executor = "docker"
'''
NO_TOKEN = 'concurrent = 1\n'


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


def write(path, text, mode):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_daemon_json_keeps_an_existing_0600(run_module, tmp_path):
    path = write(tmp_path / 'daemon.json', DAEMON, 0o600)
    result, failed, dummy = run_module(docker_json_config.main, dict(path=str(path), settings={'storage-driver': 'vfs'}))
    assert not failed and not result['changed'] and mode_of(path) == 0o600
    result, failed, dummy = run_module(docker_json_config.main, dict(path=str(path), settings={'debug': True}))
    assert not failed and result['changed'] and mode_of(path) == 0o600


def test_existing_modes_are_kept_unless_asked(run_module, tmp_path):
    client = write(tmp_path / 'config.json', '{}\n', 0o640)
    run_module(docker_json_config.main, dict(path=str(client), settings={'proxies': {}}))
    assert mode_of(client) == 0o640
    config = write(tmp_path / 'config.toml', CONFIG, 0o640)
    result, failed, dummy = run_module(runner_config.main, dict(path=str(config), **{'global': {'concurrent': 2}}))
    assert not failed and result['changed'] and mode_of(config) == 0o640
    config.chmod(0o644)
    result, failed, dummy = run_module(runner_config.main, dict(path=str(config), mode='0600',
                                                                **{'global': {'concurrent': 2}}))
    assert not failed and result['changed'] and mode_of(config) == 0o600
    plain = write(tmp_path / 'plain.toml', NO_TOKEN, 0o644)
    result, failed, dummy = run_module(runner_config.main, dict(path=str(plain), **{'global': {'concurrent': 3}}))
    assert not failed and result['changed'] and mode_of(plain) == 0o644


def test_new_daemon_json_is_0600_when_it_holds_a_secret(run_module, tmp_path):
    plain = tmp_path / 'plain' / 'daemon.json'
    run_module(docker_json_config.main, dict(path=str(plain), settings={'live-restore': True}))
    assert mode_of(plain) == 0o644
    secret = tmp_path / 'secret' / 'daemon.json'
    result, failed, dummy = run_module(docker_json_config.main, dict(path=str(secret),
                                                                     settings={'proxies': {'http-proxy': PROXY}}))
    assert not failed and result['changed'] and mode_of(secret) == 0o600
    new_config = tmp_path / 'config.toml'
    run_module(runner_config.main, dict(path=str(new_config), **{'global': {'concurrent': 3}}))
    assert mode_of(new_config) == 0o600


@pytest.mark.parametrize('main, name, text, args', [
    (docker_json_config.main, 'daemon.json', DAEMON_WITH_PASSWORD, {'settings': {'debug': True}}),
    (docker_json_config.main, 'daemon.json', DAEMON, {'settings': {'proxies': {'http-proxy': PROXY}}}),
    (docker_json_config.main, 'daemon.json', DAEMON_WITH_PASSWORD, {}),
    (runner_config.main, 'config.toml', CONFIG, {'global': {'concurrent': 5}}),
    (runner_config.main, 'config.toml', NO_TOKEN, {'name': 'r', 'settings': {'token': 'glrt-NEW'}}),
], ids=['daemon-edit', 'daemon-secret-added', 'daemon-unchanged', 'config-edit', 'config-token-added'])
def test_a_secret_is_never_made_world_readable_on_request(run_module, tmp_path, main, name, text, args):
    path = write(tmp_path / name, text, 0o600)
    result, failed, dummy = run_module(main, dict(args, path=str(path), mode='0644'))
    assert failed
    assert str(path) in result['msg'] and '0644' in result['msg'] and 'secret' in result['msg']
    assert path.read_text() == text and mode_of(path) == 0o600
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize('main, name, text, args', [
    (docker_json_config.main, 'daemon.json', DAEMON_WITH_PASSWORD, {'settings': {'debug': True}}),
    (docker_json_config.main, 'daemon.json', DAEMON, {'settings': {'proxies': {'http-proxy': PROXY}}}),
    (docker_json_config.main, 'daemon.json', DAEMON_WITH_PASSWORD, {}),
    (runner_config.main, 'config.toml', CONFIG, {'global': {'concurrent': 5}}),
    (runner_config.main, 'config.toml', CONFIG, {'global': {'concurrent': 1}}),
], ids=['daemon-edit', 'daemon-secret-added', 'daemon-unchanged', 'config-edit', 'config-unchanged'])
def test_a_world_readable_file_with_a_secret_is_tightened_with_a_warning(run_module, tmp_path, main, name, text, args):
    path = write(tmp_path / name, text, 0o644)
    result, failed, warnings = run_module(main, dict(args, path=str(path)), check_mode=True)
    assert not failed and result['changed'] and mode_of(path) == 0o644
    result, failed, warnings = run_module(main, dict(args, path=str(path)))
    assert not failed and result['changed'] and mode_of(path) == 0o600
    assert [warning for warning in warnings if str(path) in warning and '0644' in warning and '0600' in warning]
    result, failed, warnings = run_module(main, dict(args, path=str(path)))
    assert not failed and not result['changed'] and mode_of(path) == 0o600


@pytest.mark.parametrize('main, name, text, args', [
    (docker_json_config.main, 'daemon.json', DAEMON_WITH_PASSWORD, {'settings': {'debug': True}}),
    (runner_config.main, 'config.toml', CONFIG, {'global': {'concurrent': 5}}),
], ids=['daemon.json', 'config.toml'])
@pytest.mark.parametrize('mode, expected', [(None, 0o600), ('0600', 0o600), ('0640', 0o640)],
                         ids=['tightened', 'asked', 'asked-group-read'])
def test_a_backup_is_never_looser_than_the_file(run_module, tmp_path, main, name, text, args, mode, expected):
    path = write(tmp_path / name, text, 0o644)
    result, failed, dummy = run_module(main, dict(args, path=str(path), backup=True, mode=mode))
    assert not failed and result['changed']
    assert mode_of(path) == expected
    with open(result['backup_file']) as handle:
        assert handle.read() == text
    assert stat.S_IMODE(os.stat(result['backup_file']).st_mode) == expected


SECRET_FILES = [
    (docker_json_config.main, 'daemon.json', DAEMON_WITH_PASSWORD, {'settings': {'debug': True}}),
    (docker_json_config.main, 'daemon.json', DAEMON, {'settings': {'proxies': {'http-proxy': PROXY}}}),
    (runner_config.main, 'config.toml', CONFIG, {'global': {'concurrent': 5}}),
    (runner_config.main, 'config.toml', CONFIG, {'global': {'concurrent': 1}}),
]
SECRET_FILE_IDS = ['daemon-edit', 'daemon-secret-added', 'config-edit', 'config-unchanged']


@pytest.mark.parametrize('main, name, text, args', SECRET_FILES, ids=SECRET_FILE_IDS)
@pytest.mark.parametrize('mode, who', [('0622', 'every user change it'), ('0602', 'every user change it'),
                                       ('0660', 'its group change it'), ('0620', 'its group change it'),
                                       ('0604', 'every user read it'), ('u=rw,o=w', 'every user change it')])
def test_a_mode_that_lets_others_or_the_group_write_a_secret_is_refused(run_module, tmp_path, main, name, text, args,
                                                                        mode, who):
    path = write(tmp_path / name, text, 0o600)
    result, failed, dummy = run_module(main, dict(args, path=str(path), mode=mode))
    assert failed
    assert str(path) in result['msg'] and 'secret' in result['msg'] and who in result['msg']
    assert path.read_text() == text and mode_of(path) == 0o600
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize('main, name, text, args', SECRET_FILES, ids=SECRET_FILE_IDS)
@pytest.mark.parametrize('before', [0o662, 0o622, 0o602, 0o660, 0o620, 0o606])
def test_an_existing_secret_file_others_or_the_group_may_write_is_tightened_to_0600(
        run_module, tmp_path, main, name, text, args, before):
    path = write(tmp_path / name, text, before)
    result, failed, warnings = run_module(main, dict(args, path=str(path)), check_mode=True)
    assert not failed and result['changed'] and mode_of(path) == before
    assert [warning for warning in warnings if 'would get mode 0600' in warning]
    result, failed, warnings = run_module(main, dict(args, path=str(path), backup=True))
    assert not failed and result['changed'] and mode_of(path) == 0o600
    assert [warning for warning in warnings
            if str(path) in warning and '%04o' % before in warning and 'now has mode 0600' in warning]
    if 'backup_file' in result:
        assert stat.S_IMODE(os.stat(result['backup_file']).st_mode) == 0o600
    result, failed, warnings = run_module(main, dict(args, path=str(path)))
    assert not failed and not result['changed'] and not warnings and mode_of(path) == 0o600


def test_group_read_stays_allowed_when_asked_or_already_there(run_module, tmp_path):
    path = write(tmp_path / 'config.toml', CONFIG, 0o600)
    result, failed, dummy = run_module(runner_config.main, dict(path=str(path), mode='0640',
                                                                **{'global': {'concurrent': 2}}))
    assert not failed and result['changed'] and mode_of(path) == 0o640
    result, failed, warnings = run_module(runner_config.main, dict(path=str(path), **{'global': {'concurrent': 3}}))
    assert not failed and result['changed'] and not warnings and mode_of(path) == 0o640
