# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bad role variables against the roles' preflight, run by ansible-playbook on localhost.

One playbook holds every case: each includes one role with ``tasks_from:
preflight`` and a good set of variables with one thing wrong, inside a block
whose rescue records the failure's message. Each message must name the
variable and the bad value (masked when it is a secret) and say what is
expected; no secret may appear anywhere in the output (at -v); and preflight
changes nothing on the host.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = REPOSITORY / 'build' / 'collections'
MARKER = 'PREFLIGHT-RESULTS='

PASSWORD = 'Pässwörd-Fa1l-Ünicode'
PROXY_SECRET = 'Pr0xy-Preflight-S3cret'
RUNNER_TOKEN = 'glrt-preflight-Secret-T0ken'
API_TOKEN = 'glpat-preflight-Secret-T0ken'
FINGERPRINT = '0123456789ABCDEF0123456789ABCDEF01234567'

GOOD = {
    'cntlm': {'cntlm_username': 'svc-runner', 'cntlm_domain': 'CORP', 'cntlm_password': PASSWORD,
              'cntlm_upstream_proxies': ['proxy.corp.test:8080'], 'cntlm_listen': ['172.17.0.1:3128']},
    'docker_proxy': {'docker_proxy_http': 'http://172.17.0.1:3128', 'docker_proxy_https': 'http://172.17.0.1:3128'},
    'gitlab_runner': {'gitlab_runner_repository_url': 'https://packages.gitlab.com/runner/gitlab-runner/debian/',
                      'gitlab_runner_repository_key_fingerprints': [FINGERPRINT],
                      'gitlab_runner_http_proxy': 'http://172.17.0.1:3128',
                      'gitlab_runner_https_proxy': 'http://172.17.0.1:3128',
                      'gitlab_runner_runners': [{'name': 'docker-1', 'url': 'https://gitlab.lab.test/',
                                                 'token': RUNNER_TOKEN}]},
}


def runner(**fields):
    return [dict({'name': 'docker-1', 'url': 'https://gitlab.lab.test/'}, **fields)]


# (case id, role, the variables that differ from GOOD, the words the message must hold, the secrets it must not)
CASES = [
    ('cntlm-no-upstream', 'cntlm', {'cntlm_upstream_proxies': []},
     ['cntlm_upstream_proxies', 'host:port', 'got []']),
    ('cntlm-upstream-url', 'cntlm', {'cntlm_upstream_proxies': ['http://proxy.corp.test:8080']},
     ['cntlm_upstream_proxies', 'host:port', 'http://proxy.corp.test:8080']),
    ('cntlm-upstream-no-port', 'cntlm', {'cntlm_upstream_proxies': ['proxy.corp.test']},
     ['cntlm_upstream_proxies', 'host:port', 'proxy.corp.test']),
    ('cntlm-no-username', 'cntlm', {'cntlm_username': ''},
     ['cntlm_username', 'cntlm_password']),
    ('cntlm-password-and-hashes', 'cntlm', {'cntlm_pass_nt': 'A' * 32},
     ['cntlm_password', 'cntlm_pass_nt', 'not both']),
    ('cntlm-hash-missing-for-auth', 'cntlm', {'cntlm_password': '', 'cntlm_pass_nt': 'A' * 32},
     ['cntlm_auth NTLMv2 needs PassNTLMv2', 'missing: PassNTLMv2']),
    ('cntlm-listen-name', 'cntlm', {'cntlm_listen': ['localhost:3128']},
     ['cntlm_listen', 'IPv4 address:port', 'localhost:3128']),
    ('cntlm-listen-ipv6', 'cntlm', {'cntlm_listen': ['[::1]:3128']},
     ['cntlm_listen', 'IPv4', '[::1]:3128']),
    ('cntlm-port', 'cntlm', {'cntlm_port': 70000},
     ['cntlm_port', 'a port number', '70000']),
    ('cntlm-username-line-break', 'cntlm', {'cntlm_username': 'svc-runner\nListen 0.0.0.0:3128'},
     ['cntlm_username', 'has a line break', 'one line']),
    ('cntlm-extra-option-hash', 'cntlm', {'cntlm_extra_options': {'Header': 'X-Team: a#b'}},
     ['cntlm_extra_options.Header', "'X-Team: a#b'", "has a '#'", 'without']),
    ('cntlm-plaintext-password-hash', 'cntlm', {'cntlm_plaintext_password': True, 'cntlm_password': PASSWORD + '#'},
     ['cntlm_password', "has a '#'", 'without']),
    ('docker-proxy-no-scheme', 'docker_proxy', {'docker_proxy_http': '172.17.0.1:3128'},
     ['docker_proxy_http', 'http://172.17.0.1:3128', "got '172.17.0.1:3128'"]),
    ('docker-proxy-credentials-and-path', 'docker_proxy',
     {'docker_proxy_https': 'http://svc:%s@proxy.corp.test:8080/path' % PROXY_SECRET},
     ['docker_proxy_https', "got 'http://***@proxy.corp.test:8080/path'"]),
    ('gitlab-runner-proxy-socks', 'gitlab_runner', {'gitlab_runner_https_proxy': 'socks5://proxy.corp.test:1080'},
     ['gitlab_runner_https_proxy', "got 'socks5://proxy.corp.test:1080'"]),
    ('gitlab-runner-version', 'gitlab_runner', {'gitlab_runner_version': 'v17.11'},
     ['gitlab_runner_version', "got 'v17.11'"]),
    ('gitlab-runner-fingerprint', 'gitlab_runner', {'gitlab_runner_repository_key_fingerprints': ['ABCD']},
     ['gitlab_runner_repository_key_fingerprints', '40-hex-digit', '"ABCD"']),
    ('gitlab-runner-runner-no-url', 'gitlab_runner', {'gitlab_runner_runners': [{'name': 'docker-1',
                                                                                 'token': RUNNER_TOKEN}]},
     ["gitlab_runner_runners item 'docker-1'", 'a url (http or https)']),
    ('gitlab-runner-two-ways', 'gitlab_runner',
     {'gitlab_runner_runners': runner(token=RUNNER_TOKEN, api_token=API_TOKEN, runner_type='instance_type')},
     ["gitlab_runner_runners item 'docker-1'", 'exactly one of', 'given: token, api_token']),
    ('gitlab-runner-api-token-no-type', 'gitlab_runner', {'gitlab_runner_runners': runner(api_token=API_TOKEN)},
     ["gitlab_runner_runners item 'docker-1'", 'api_token needs runner_type']),
    ('gitlab-runner-unknown-key', 'gitlab_runner', {'gitlab_runner_runners': runner(token=RUNNER_TOKEN, tgas=['x'])},
     ["gitlab_runner_runners item 'docker-1'", 'Unknown keys: tgas', 'known: name, url']),
    ('gitlab-runner-same-name-and-url', 'gitlab_runner',
     {'gitlab_runner_runners': runner(token=RUNNER_TOKEN) + runner(token=RUNNER_TOKEN + '2')},
     ['gitlab_runner_runners', 'same name and url', 'docker-1 at https://gitlab.lab.test/']),
    ('gitlab-runner-remote-executor-local-proxy', 'gitlab_runner',
     {'gitlab_runner_runners': runner(token=RUNNER_TOKEN, executor='docker-autoscaler')},
     ['docker-1', 'other machines', 'cntlm_gateway']),
    ('gitlab-runner-apt-proxy-injection', 'gitlab_runner',
     {'gitlab_runner_repository_proxy': 'http://x";APT::Update::Pre-Invoke{"id";};//'},
     ['gitlab_runner_repository_proxy', 'expected host:port']),
    ('gitlab-runner-apt-proxy-quote-in-password', 'gitlab_runner',
     {'gitlab_runner_repository_proxy': 'http://svc:%s"@proxy.corp.test:8080' % PROXY_SECRET},
     ['gitlab_runner_repository_proxy', 'percent-encode', '%22', 'account without it']),
    ('gitlab-runner-repository-credentials', 'gitlab_runner',
     {'gitlab_runner_repository_url': 'https://deploy:%s@packages.corp.test/runner/' % PROXY_SECRET},
     ['gitlab_runner_repository_url', '/etc/apt/auth.conf.d/', '0600']),
    ('gitlab-runner-additions-for-no-runner', 'gitlab_runner',
     {'__behindproxy_runner_additions': {'dind-missing': {'no_proxy': ['docker']}}},
     ['__behindproxy_runner_additions', 'dind-missing']),
]
SECRETS = [PASSWORD, PROXY_SECRET, RUNNER_TOKEN, API_TOKEN]


def playbook():
    tasks = []
    for case, role, changed, dummy in CASES + [('%s-good' % role, role, {}, None) for role in sorted(GOOD)]:
        record = "{{ __preflight_results | default({}) | combine({%r: %s}) }}"
        tasks.append({
            'name': case,
            'block': [
                {'name': 'Preflight of %s' % role, 'ansible.builtin.include_role': {
                    'name': 'behindproxy.gitlab_runner.%s' % role, 'tasks_from': 'preflight'},
                 'vars': dict(GOOD[role], **changed)},
                {'name': 'Passed', 'ansible.builtin.set_fact': {'__preflight_results': record % (case, "'passed'")}},
            ],
            # A looped assert fails with 'One or more items failed': the messages are the failed items'.
            'rescue': [{'name': 'Failed', 'ansible.builtin.set_fact': {'__preflight_results': record % (
                case, "(ansible_failed_result.results | default([]) | selectattr('failed', 'defined') "
                      "| selectattr('failed') | map(attribute='msg') | list or [ansible_failed_result.msg]) "
                      "| join(' | ')")}}],
        })
    tasks.append({'name': 'Results', 'ansible.builtin.debug': {
        'msg': MARKER + '{{ __preflight_results | to_json }}'}})
    return [{'name': 'Preflight with bad variables', 'hosts': 'localhost', 'connection': 'local',
             'gather_facts': False, 'tasks': tasks}]


@pytest.fixture(scope='module')
def preflight(tmp_path_factory):
    """(results by case, the whole output at -v) of one ansible-playbook run over every case."""
    directory = tmp_path_factory.mktemp('preflight')
    path = directory / 'playbook.yml'
    path.write_text(yaml.safe_dump(playbook(), sort_keys=False, allow_unicode=True))
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR='1',
                       ANSIBLE_HOME=str(directory / 'ansible-home'),
                       ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
                       ANSIBLE_STDOUT_CALLBACK='default', ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    # The Python running the tests runs the modules (the setup module of gitlab_runner's preflight) too.
    command = [str(pathlib.Path(sys.executable).parent / 'ansible-playbook'), '-v', '-i', 'localhost,',
               '-e', 'ansible_python_interpreter=%s' % sys.executable, str(path)]
    finished = subprocess.run(command, cwd=str(directory),
                              env=environment, capture_output=True, text=True, timeout=600, check=False)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    line = next(line for line in output.splitlines() if MARKER in line)
    results = json.loads(json.loads('"%s"' % line.split(MARKER, 1)[1].rstrip().rstrip('"')))
    return results, output


@pytest.mark.parametrize('case, role, changed, words', CASES, ids=[case[0] for case in CASES])
def test_a_bad_variable_is_named_with_its_value_and_what_is_expected(preflight, case, role, changed, words):
    results, dummy = preflight
    message = results[case]
    assert message != 'passed'
    for word in words:
        assert word in message, message
    for secret in SECRETS:
        assert secret not in message


def test_good_variables_pass_and_nothing_is_changed_or_shown(preflight):
    results, output = preflight
    assert [results['%s-good' % role] for role in sorted(GOOD)] == ['passed'] * len(GOOD)
    assert 'changed=0' in output.split('PLAY RECAP', 1)[1]
    for secret in SECRETS:
        assert secret not in output
