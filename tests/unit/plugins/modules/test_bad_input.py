# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bad options of runner_register that no other test gives: each fails before any request, naming the
option, the bad value (never a token) and what is expected, and config.toml is not touched."""

from __future__ import annotations

import json

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import runner_register

TOKEN = 'glrt-bad-input-Secret-T0ken'
API_TOKEN = 'glpat-bad-input-Secret-T0ken'
REGISTRATION_TOKEN = 'GR1348941bad-input-Secret'
# A port nothing listens on: a request that went out would fail with "Connection refused", not with the message.
NOWHERE = 'http://127.0.0.1:9/'

CASES = [
    ('two-kinds-of-token', dict(url=NOWHERE, token=TOKEN, api_token=API_TOKEN, runner_type='instance_type'),
     'parameters are mutually exclusive: token|registration_token|api_token'),
    ('three-kinds-of-token', dict(url=NOWHERE, token=TOKEN, api_token=API_TOKEN, registration_token=REGISTRATION_TOKEN),
     'parameters are mutually exclusive: token|registration_token|api_token'),
    ('no-token', dict(url=NOWHERE),
     'one of token, registration_token or api_token is required with state=present'),
    ('url-without-scheme', dict(url='gitlab.lab.test', token=TOKEN),
     "url must be an http:// or https:// URL of the GitLab instance, got 'gitlab.lab.test'"),
    ('socks-proxy', dict(url=NOWHERE, token=TOKEN, proxy='socks5://svc:Pr0xy-S3cret@127.0.0.1:1080'),
     'the proxy must be an http:// URL, got socks5://'),
]


@pytest.mark.parametrize('args, message', [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_options_are_named_before_any_request(tmp_path, run_module, args, message):
    config = tmp_path / 'config.toml'
    config.write_text('concurrent = 1\n')
    result, failed, dummy = run_module(runner_register.main, dict(args, path=str(config), name='docker-1'))
    assert failed and message in result['msg'], result
    assert 'Connection refused' not in result['msg']
    assert config.read_text() == 'concurrent = 1\n'
    text = json.dumps(result)
    for secret in (TOKEN, API_TOKEN, REGISTRATION_TOKEN, 'Pr0xy-S3cret'):
        assert secret not in text
