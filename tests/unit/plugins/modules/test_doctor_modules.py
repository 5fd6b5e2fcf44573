# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The doctor's modules run in-process: one request, no secret in the result, config.toml read only."""

from __future__ import annotations

import os
import socketserver
import threading
from unittest import mock

import pytest

from ansible.module_utils import basic

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import proxy_probe, runner_config_check, runner_git_probe

REFUSAL = (b'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n'
           b'Proxy-Authenticate: Basic realm="Cntlm for parent"\r\n\r\n')
CONFIG = b'''concurrent = 1
[[runners]]
  name = "r1"
  url = "https://gitlab.example.test"
  token = "glrt-very-secret-token"
  executor = "docker"
  environment = ["HTTPS_PROXY=http://user:pw-in-env@172.17.0.1:3128", "NO_PROXY=docker"]
  [runners.docker]
    imgae = "alpine"
'''


@pytest.fixture
def refusing_proxy():
    requests = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            requests.append(self.rfile.readline())
            while self.rfile.readline() not in (b'\r\n', b''):
                pass
            self.wfile.write(REFUSAL)

    server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield 'http://svc:pw-of-proxy@127.0.0.1:%d' % server.server_address[1], requests
    server.shutdown()
    server.server_close()


def test_proxy_probe_sends_one_request_and_returns_no_password(run_module, refusing_proxy):
    proxy, requests = refusing_proxy
    result, failed, dummy = run_module(proxy_probe.main, {'url': 'http://files.example.test/', 'proxy': proxy},
                                       check_mode=True)
    assert not failed and result['changed'] is False
    assert (result['outcome'], result['ok'], result['status']) == ('credentials refused', False, 407)
    assert len(requests) == 1
    assert 'pw-of-proxy' not in repr(result)


def test_proxy_probe_takes_the_proxy_a_unit_s_environment_gives(run_module, refusing_proxy):
    proxy, requests = refusing_proxy
    shown = 'Environment="HTTP_PROXY=%s" NO_PROXY=localhost\n' % proxy
    with mock.patch.object(basic.AnsibleModule, 'run_command', return_value=(0, shown, '')):
        result, failed, dummy = run_module(proxy_probe.main, {'url': 'http://files.example.test/', 'unit': 'x'})
    assert result['outcome'] == 'credentials refused' and len(requests) == 1
    assert result['environment_problems'] == ['x has no HTTPS_PROXY']
    assert 'pw-of-proxy' not in repr(result)


def test_runner_config_check_names_problems_and_hides_secrets(run_module, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_bytes(CONFIG)
    before = os.stat(path)
    result, failed, dummy = run_module(runner_config_check.main, {'path': str(path), 'lint': False})
    assert not failed and result['exists'] is True
    assert result['problems'] == ["runners[0].docker.imgae: unknown key, did you mean 'image'?"]
    [runner] = result['runners']
    assert runner['name'] == 'r1' and 'only HTTPS_PROXY is set (https_proxy is missing)' in runner['job_environment_problems']
    assert 'glrt-very-secret-token' not in repr(result) and 'pw-in-env' not in repr(result)
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns and path.read_bytes() == CONFIG


def test_runner_config_check_reports_a_missing_file(run_module, tmp_path):
    result, failed, dummy = run_module(runner_config_check.main, {'path': str(tmp_path / 'none.toml')})
    assert not failed and result['exists'] is False


def test_runner_git_probe_passes_the_job_environment_outside_the_command_line(run_module, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_bytes(CONFIG)
    calls = []

    def fake_run(module, argv, environ_update=None, **others):
        calls.append((argv, environ_update))
        return 128, '', "fatal: unable to access 'https://g/': Received HTTP code 407 from proxy after CONNECT"

    with mock.patch.object(basic.AnsibleModule, 'run_command', fake_run):
        result, failed, dummy = run_module(runner_git_probe.main, {'path': str(path), 'runner': 'r1', 'image': 'h:1',
                                                                   'url': 'https://g/x.git'})
    [(argv, environment)] = calls
    assert 'pw-in-env' not in ' '.join(argv) and environment['HTTPS_PROXY'].endswith('@172.17.0.1:3128')
    assert result['outcome'] == 'credentials refused' and 'pw-in-env' not in repr(result)


def test_runner_git_probe_names_an_unknown_runner(run_module, tmp_path):
    path = tmp_path / 'config.toml'
    path.write_bytes(CONFIG)
    result, failed, dummy = run_module(runner_git_probe.main, {'path': str(path), 'runner': 'nope', 'image': 'h:1',
                                                               'url': 'https://g/x.git'})
    assert failed and "no runner named 'nope'" in result['msg']
