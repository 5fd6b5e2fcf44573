# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""docker_json_config through its main(): files on disk, check mode, diff, backup, modes, errors."""

from __future__ import annotations

import json
import os
import stat
from unittest import mock

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _safe_write
from ansible_collections.behindproxy.gitlab_runner.plugins.modules.docker_json_config import main

DAEMON = '{\n  "storage-driver": "vfs",\n  "registry-mirrors": ["http://one.internal:5000"]\n}\n'
CLIENT = '{\n\t"auths": {"registry.example.com": {"auth": "Y2k6c2VjcmV0"}},\n\t"credsStore": "pass"\n}\n'
OLD_TIME = 1_600_000_000


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def daemon_json(tmp_path):
    path = tmp_path / 'daemon.json'
    path.write_text(DAEMON)
    path.chmod(0o644)
    os.utime(path, (OLD_TIME, OLD_TIME))
    return path


@pytest.fixture
def client_json(tmp_path):
    path = tmp_path / '.docker' / 'config.json'
    path.parent.mkdir()
    path.write_text(CLIENT)
    path.chmod(0o600)
    return path


def test_union_of_mirrors_is_a_reload_and_idempotent(run_module, daemon_json):
    args = dict(path=str(daemon_json), list_merge='union',
                settings={'registry-mirrors': ['http://two.internal:5000'], 'live-restore': True})
    result, failed, dummy = run_module(main, args)
    assert not failed and result['changed'] and result['daemon_action'] == 'reload'
    assert json.loads(daemon_json.read_text()) == {
        'storage-driver': 'vfs', 'registry-mirrors': ['http://one.internal:5000', 'http://two.internal:5000'],
        'live-restore': True}
    assert daemon_json.read_text().endswith('}\n')
    os.utime(daemon_json, (OLD_TIME, OLD_TIME))
    result, failed, dummy = run_module(main, args)
    assert not result['changed'] and result['daemon_action'] == 'none'
    assert daemon_json.stat().st_mtime == OLD_TIME


def test_other_daemon_keys_need_a_restart(run_module, daemon_json):
    result, dummy, dummy = run_module(main, dict(path=str(daemon_json), settings={'iptables': False}))
    assert result['daemon_action'] == 'restart'


def test_client_proxies_keep_auths_and_never_ask_for_daemon_action(run_module, client_json):
    result, failed, dummy = run_module(main, dict(path=str(client_json), settings={'proxies': {'default': {
        'httpProxy': 'http://cntlm.internal:3128', 'noProxy': 'docker:2375,docker:2376'}}}))
    assert not failed and result['changed'] and result['daemon_action'] == 'none'
    data = json.loads(client_json.read_text())
    assert data['auths'] == {'registry.example.com': {'auth': 'Y2k6c2VjcmV0'}} and data['credsStore'] == 'pass'
    assert result['content']['auths']['registry.example.com']['auth'] == '********'
    assert 'Y2k6c2VjcmV0' not in repr(result)
    assert mode_of(client_json) == 0o600


def test_remove_with_dotted_keys(run_module, client_json):
    result, dummy, dummy = run_module(main, dict(path=str(client_json), remove=[['auths', 'registry.example.com'],
                                                                                'credsStore']))
    assert result['changed']
    assert json.loads(client_json.read_text()) == {'auths': {}}


def test_check_mode_never_writes(run_module, daemon_json, tmp_path):
    result, dummy, dummy = run_module(main, dict(path=str(daemon_json), settings={'debug': True}), check_mode=True)
    assert result['changed'] and result['daemon_action'] == 'reload'
    assert daemon_json.read_text() == DAEMON and daemon_json.stat().st_mtime == OLD_TIME
    assert '"debug": true' in result['diff']['after']
    new = tmp_path / 'new' / 'daemon.json'
    result, dummy, dummy = run_module(main, dict(path=str(new), settings={'debug': True}), check_mode=True)
    assert result['changed'] and not new.exists()


def test_diff_has_headers_and_masks(run_module, client_json):
    result, dummy, dummy = run_module(main, dict(path=str(client_json), settings={
        'proxies': {'default': {'httpProxy': 'http://alice:s3cret@proxy.corp.example:8080'}}}))
    diff = result['diff']
    assert diff['before_header'] == '%s (content)' % client_json
    assert 'Y2k6c2VjcmV0' not in diff['before'] + diff['after']
    assert 's3cret' not in repr(result)
    assert 'http://alice:********@proxy.corp.example:8080' in diff['after']


def test_default_modes_by_kind(run_module, tmp_path):
    daemon = tmp_path / 'docker' / 'daemon.json'
    run_module(main, dict(path=str(daemon), settings={'live-restore': True}))
    assert mode_of(daemon) == 0o644
    client = tmp_path / 'client' / 'config.json'
    run_module(main, dict(path=str(client), settings={'proxies': {}}))
    assert mode_of(client) == 0o600
    forced = tmp_path / 'daemon.json'
    run_module(main, dict(path=str(forced), kind='client', settings={'x': 1}))
    assert mode_of(forced) == 0o600
    result, dummy, dummy = run_module(main, dict(path=str(forced), kind='client', mode='0640', settings={'x': 1}))
    assert result['changed'] and mode_of(forced) == 0o640


def test_indent_option(run_module, tmp_path):
    path = tmp_path / 'config.json'
    run_module(main, dict(path=str(path), indent=4, settings={'a': {'b': 1}}))
    assert path.read_text() == '{\n    "a": {\n        "b": 1\n    }\n}\n'


def test_backup(run_module, daemon_json):
    result, dummy, dummy = run_module(main, dict(path=str(daemon_json), backup=True, settings={'debug': True}))
    with open(result['backup_file']) as handle:
        assert handle.read() == DAEMON


def test_invalid_json_fails_with_position_and_file_untouched(run_module, tmp_path):
    path = tmp_path / 'daemon.json'
    broken = '{\n  "debug": true,\n}\n'
    path.write_text(broken)
    result, failed, dummy = run_module(main, dict(path=str(path), settings={'debug': False}))
    assert failed and 'line 3, column 1' in result['msg'] and str(path) in result['msg']
    assert path.read_text() == broken
    assert os.listdir(tmp_path) == ['daemon.json']


def test_bad_values_fail_clearly(run_module, daemon_json):
    result, failed, dummy = run_module(main, dict(path=str(daemon_json), remove=[{'a': 1}]))
    assert failed and "remove entries must be dotted strings or lists of keys, got {'a': 1}" in result['msg']
    result, failed, dummy = run_module(main, dict(path=str(daemon_json), indent=-2, settings={'a': 1}))
    assert failed and 'indent must be a number of spaces from 0 to 16, got -2' in result['msg']
    assert daemon_json.read_text() == DAEMON


def test_create_false(run_module, tmp_path):
    path = tmp_path / 'daemon.json'
    result, failed, dummy = run_module(main, dict(path=str(path), create=False, settings={'debug': True}))
    assert failed and 'create is false' in result['msg'] and not path.exists()


def test_concurrent_change_is_merged_again(run_module, daemon_json):
    real_write_temp = _safe_write._write_temp
    calls = []

    def write_temp_while_someone_edits(directory, name, content):
        calls.append(content)
        if len(calls) == 1:
            daemon_json.write_text('{"storage-driver": "overlay2", "bip": "192.0.2.1/24"}')
        return real_write_temp(directory, name, content)

    with mock.patch.object(_safe_write, '_write_temp', write_temp_while_someone_edits):
        result, failed, dummy = run_module(main, dict(path=str(daemon_json), settings={'debug': True}))
    assert not failed and len(calls) == 2
    assert json.loads(daemon_json.read_text()) == {'storage-driver': 'overlay2', 'bip': '192.0.2.1/24', 'debug': True}
