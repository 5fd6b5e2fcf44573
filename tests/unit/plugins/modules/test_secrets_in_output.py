# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Secrets given to a module never appear in what it prints.

These tests run each module's main() with Ansible's real exit_json, which
prints the whole result (the `invocation` echo of the arguments included, as
shown at -vvv and kept in registered results), and search that text.
"""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import docker_json_config, runner_config

TOKEN = 'glrt-Secret-Token-0123456789'
PROXY_PASSWORD = 'Pr0xy-Passw0rd-q7'
REGISTRY_AUTH = 'cmVnaXN0cnk6c2VjcmV0LWF1dGgtOTk='


def printed_result(main, args, capsys):
    with patch_module_args(dict(args, _ansible_diff=True)):
        with pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    return printed, json.loads(printed)


def test_runner_config_masks_tokens_and_url_passwords_everywhere(tmp_path, capsys):
    path = tmp_path / 'config.toml'
    proxy = 'http://svc-runner:%s@proxy.lab.test:3128' % PROXY_PASSWORD
    printed, result = printed_result(runner_config.main, {
        'path': str(path),
        'name': 'docker-1',
        'url': 'https://gitlab.lab.test/',
        'settings': {'token': TOKEN, 'executor': 'docker'},
        'environment': {'HTTP_PROXY': proxy, 'http_proxy': proxy},
    }, capsys)

    assert result['changed'] is True
    assert 'invocation' in result
    for secret in (TOKEN, PROXY_PASSWORD):
        assert secret not in printed
    # The file itself holds what was asked for.
    written = path.read_text()
    assert TOKEN in written and PROXY_PASSWORD in written
    # What is not a secret is still shown.
    assert result['invocation']['module_args']['settings']['executor'] == 'docker'
    assert 'svc-runner' in result['invocation']['module_args']['environment']['HTTP_PROXY']


def test_docker_json_config_masks_registry_auth_and_url_passwords_everywhere(tmp_path, capsys):
    path = tmp_path / 'config.json'
    proxy = 'http://svc-runner:%s@proxy.lab.test:3128' % PROXY_PASSWORD
    printed, result = printed_result(docker_json_config.main, {
        'path': str(path),
        'settings': {
            'auths': {'hub.lab.test': {'auth': REGISTRY_AUTH}},
            'proxies': {'default': {'httpProxy': proxy, 'noProxy': 'localhost'}},
        },
    }, capsys)

    assert result['changed'] is True
    assert 'invocation' in result
    for secret in (REGISTRY_AUTH, PROXY_PASSWORD):
        assert secret not in printed
    written = json.loads(path.read_text())
    assert written['auths']['hub.lab.test']['auth'] == REGISTRY_AUTH
    assert result['invocation']['module_args']['settings']['proxies']['default']['noProxy'] == 'localhost'
