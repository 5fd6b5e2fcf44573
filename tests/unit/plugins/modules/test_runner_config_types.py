# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""runner_config refuses values of the wrong type, and unusable environment variable names.

gitlab-runner decodes config.toml into Go structs with BurntSushi/toml: a
string where an int belongs makes it refuse the whole file. So the module
fails before writing, with validate_keys=error and with warn.
"""

from __future__ import annotations

import os
import tomllib

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules.runner_config import main

CONFIG = '''concurrent = 1

[[runners]]
  name = "r1"
  url = "https://gitlab.example.com/"
  token = "glrt-VERYSECRETTOKEN"
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
'''


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'config.toml'
    path.write_text(CONFIG)
    path.chmod(0o600)
    os.utime(path, (1_600_000_000, 1_600_000_000))
    return path


BAD_VALUES = [
    ({'global': {'concurrent': 'abc'}}, "concurrent: gitlab-runner expects an integer (Go int), got the string 'abc'"),
    ({'global': {'session_server': 'oops'}},
     "session_server: gitlab-runner expects a table (Go SessionServer), got the string 'oops'"),
    ({'name': 'r1', 'settings': {'limit': 'two'}},
     "runners[0].limit: gitlab-runner expects an integer (Go int), got the string 'two'"),
    ({'name': 'r1', 'settings': {'docker': {'privileged': 'yes'}}},
     "runners[0].docker.privileged: gitlab-runner expects a boolean (Go bool), got the string 'yes'"),
    ({'global': {'check_interval': 2.5}}, "check_interval: gitlab-runner expects an integer (Go int), got the float 2.5"),
    ({'name': 'r1', 'settings': {'docker': {'volumes': '/cache'}}},
     "runners[0].docker.volumes: gitlab-runner expects an array of strings (Go []string), got the string '/cache'"),
    ({'name': 'r1', 'settings': {'docker': {'volumes': ['/cache', 3]}}},
     "runners[0].docker.volumes[1]: gitlab-runner expects a string (Go string), got the integer 3"),
    ({'name': 'r1', 'settings': {'feature_flags': {'FF_NETWORK_PER_BUILD': 'true'}}},
     "runners[0].feature_flags.FF_NETWORK_PER_BUILD: gitlab-runner expects a boolean (Go bool), got the string 'true'"),
    ({'name': 'r1', 'settings': {'docker': {'services': [{'name': 'docker:dind', 'alias': ['docker']}]}}},
     "runners[0].docker.services[0].alias: gitlab-runner expects a string (Go string), got the array ['docker']"),
    ({'name': 'r1', 'settings': {'unhealthy_interval': '10 minutes'}},
     "runners[0].unhealthy_interval: gitlab-runner expects a duration"),
    ({'name': 'r1', 'settings': {'cache': {'s3': {'SecretKey': 12345}}}},
     "runners[0].cache.s3.SecretKey: gitlab-runner expects a string (Go string), got the integer ********"),
]


@pytest.mark.parametrize('validate_keys', ['error', 'warn'])
@pytest.mark.parametrize('args, message', BAD_VALUES)
def test_wrong_types_fail_before_anything_is_written(run_module, config, validate_keys, args, message):
    result, failed, dummy = run_module(main, dict(args, path=str(config), validate_keys=validate_keys))
    assert failed, result
    assert message in result['msg']
    assert config.read_text() == CONFIG


def test_secret_values_stay_out_of_the_message(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), name='r1',
                                                  settings={'token': ['glrt-LEAKED-TOKEN']}))
    assert failed and 'runners[0].token' in result['msg'] and 'LEAKED' not in result['msg']


def test_ignore_does_not_look_at_types(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), validate_keys='ignore',
                                                  **{'global': {'concurrent': 'abc'}}))
    assert not failed and tomllib.loads(config.read_text())['concurrent'] == 'abc'


def test_all_type_errors_are_listed_together(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), name='r1', settings={'limit': 'two', 'docker': {'privileged': 'yes'}},
                                                  **{'global': {'concurrent': 'abc'}}))
    assert failed
    for path in ('concurrent', 'runners[0].limit', 'runners[0].docker.privileged'):
        assert path + ': gitlab-runner expects' in result['msg']


def test_right_types_are_written(run_module, config):
    settings = {
        'limit': 2, 'request_concurrency': 4, 'unhealthy_interval': '1h30m', 'environment': ['A=1'],
        'docker': {'privileged': False, 'volumes': ['/cache'], 'pull_policy': 'if-not-present', 'shm_size': 0,
                   'sysctls': {'net.ipv4.ip_forward': '1'}, 'services': [{'name': 'docker:dind', 'command': ['--mtu=1400']}]},
        'feature_flags': {'FF_NETWORK_PER_BUILD': True},
        'autoscaler': {'policy': [{'idle_count': 1, 'idle_time': '20m', 'scale_factor': 1}],
                       'plugin_config': {'anything': {'goes': [1, 'a']}}},
        'machine': {'IdleScaleFactor': 0.5},
        'kubernetes': {'affinity': {'node_affinity': {}}, 'pull_policy': ['always', 'if-not-present']},
    }
    result, failed, dummy = run_module(main, dict(path=str(config), name='r1', settings=settings, validate_keys='error',
                                                  **{'global': {'concurrent': 4, 'connection_max_age': 900000000000,
                                                                'session_server': {'session_timeout': 1800}}}))
    assert not failed, result
    assert tomllib.loads(config.read_text())['runners'][0]['docker']['privileged'] is False


def test_removing_a_key_is_no_type_error(run_module, config):
    result, failed, dummy = run_module(main, dict(path=str(config), name='r1', settings={'docker': {'image': None}},
                                                  validate_keys='error'))
    assert not failed and 'image' not in tomllib.loads(config.read_text())['runners'][0]['docker']


@pytest.mark.parametrize('name', ['HTTP PROXY', 'A=B', 'LINE\nBREAK', 'TAB\t', ' LEADING', 'CR\r', ''])
def test_unusable_environment_variable_names_are_refused(run_module, config, name):
    result, failed, dummy = run_module(main, dict(path=str(config), name='r1', environment={name: 'x'}))
    assert failed
    assert 'environment variable name %r' % name in result['msg']
    assert config.read_text() == CONFIG
