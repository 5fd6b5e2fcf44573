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
import re
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import docker_json_config, runner_config, runner_register

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


# Passwords Go's url.Parse (dockerd, the runner) takes whole: the user info ends at the authority's LAST "@".
HARD_PASSWORDS = ['P@ssw0rd-q7', "it's-Secret-q7", "a@b'c:d-q7"]
HARD_IDS = ['at', 'quote', 'at-quote-colon']


def pieces_of(password):
    """The password and each run of it between its "@", "'" and ":": none may show."""
    return [password] + [piece for piece in re.split(r"[@':]", password) if len(piece) > 2]


def printed_anywhere(main, args, capsys, code=0):
    with patch_module_args(dict(args, _ansible_diff=True)):
        with pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == code
    return capsys.readouterr().out


@pytest.mark.parametrize('password', HARD_PASSWORDS, ids=HARD_IDS)
@pytest.mark.parametrize('form', ['url', 'scheme-less'])
def test_runner_config_diff_hides_passwords_with_at_and_quote(tmp_path, capsys, password, form):
    path = tmp_path / 'config.toml'
    proxy = ('http://svc:%s@proxy.lab.test:3128' if form == 'url' else 'svc:%s@proxy.lab.test:3128') % password
    path.write_text('[[runners]]\n  name = "docker-1"\n  url = "https://gitlab.lab.test/"\n'
                    '  environment = ["HTTP_PROXY=%s"]\n' % proxy.replace('\\', '\\\\'))
    path.chmod(0o600)
    printed = printed_anywhere(runner_config.main, {
        'path': str(path), 'name': 'docker-1', 'url': 'https://gitlab.lab.test/',
        'environment': {'HTTPS_PROXY': proxy}, 'settings': {'limit': 2}}, capsys)
    result = json.loads(printed)
    assert result['changed'] and 'diff' in result and 'invocation' in result
    for piece in pieces_of(password):
        assert piece not in printed
    assert 'svc:********@proxy.lab.test:3128' in result['diff']['after']


@pytest.mark.parametrize('password', HARD_PASSWORDS, ids=HARD_IDS)
@pytest.mark.parametrize('form', ['url', 'scheme-less'])
def test_docker_json_config_hides_such_passwords_and_writes_the_new_file_0600(tmp_path, capsys, password, form):
    path = tmp_path / 'daemon.json'
    proxy = ('http://svc:%s@proxy.lab.test:3128' if form == 'url' else 'svc:%s@proxy.lab.test:3128') % password
    printed = printed_anywhere(docker_json_config.main, {
        'path': str(path), 'settings': {'proxies': {'http-proxy': proxy, 'no-proxy': 'localhost'}}}, capsys)
    result = json.loads(printed)
    assert result['changed'] and 'diff' in result and 'invocation' in result
    for piece in pieces_of(password):
        assert piece not in printed
    assert json.loads(path.read_text())['proxies']['http-proxy'] == proxy
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize('password', HARD_PASSWORDS, ids=HARD_IDS)
def test_runner_register_failure_message_and_echo_hide_such_passwords(tmp_path, capsys, monkeypatch, password):
    # Under ansible-core 2.19 a failed no_log task still prints its message: the message must be clean itself.
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
    proxy = 'http://svc:%s@127.0.0.1:1' % password
    printed = printed_anywhere(runner_register.main, {
        'path': str(tmp_path / 'config.toml'), 'name': 'docker-1', 'url': 'http://gitlab.lab.test/', 'token': TOKEN,
        'proxy': proxy, 'timeout': 5, 'environment': {'HTTPS_PROXY': proxy}}, capsys, code=1)
    result = json.loads(printed)
    assert 'through proxy http://svc:********@127.0.0.1:1' in result['msg']
    for piece in pieces_of(password) + [TOKEN]:
        assert piece not in printed
