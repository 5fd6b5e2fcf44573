# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_config_keys import (
    RUNNER_CONFIG_KEYS,
    child_section,
    removed_in,
    type_error_messages,
    unknown_key_messages,
    unknown_keys,
)


def test_known_document_has_no_unknown_keys():
    document = {
        'concurrent': 4,
        'check_interval': 0,
        'log_level': 'info',
        'session_server': {'session_timeout': 1800},
        'runners': [{
            'name': 'r1',
            'url': 'https://gitlab.example.com/',
            'token': 'glrt-x',
            'executor': 'docker',
            'environment': ['HTTP_PROXY=http://proxy:3128'],
            'pre_get_sources_script': 'true',
            'docker': {'image': 'alpine', 'services': [{'name': 'docker:dind', 'alias': 'docker'}]},
            'cache': {'Type': 's3', 's3': {'BucketName': 'b'}},
            'machine': {'IdleCount': 1, 'autoscaling': [{'Periods': ['* * 9-17 * * mon-fri *'], 'IdleCount': 5}]},
            'autoscaler': {'plugin': 'aws', 'policy': [{'idle_count': 1, 'periods': ['* * * * *']}]},
        }],
    }
    assert unknown_keys(document) == []


def test_typos_are_reported_with_list_indexes():
    document = {
        'concurrnt': 1,
        'runners': [
            {'name': 'ok', 'docker': {'image': 'alpine'}},
            {'name': 'bad', 'docker': {'imgae': 'alpine', 'services': [{'name': 'x', 'alais': 'y'}]}},
        ],
    }
    assert unknown_keys(document) == [
        'concurrnt',
        'runners[1].docker.imgae',
        'runners[1].docker.services[0].alais',
    ]


def test_pre_clone_script_is_unknown_and_explained():
    document = {'runners': [{'name': 'r', 'pre_clone_script': 'git config ...'}]}
    assert unknown_keys(document) == ['runners[0].pre_clone_script']
    assert unknown_key_messages(document) == [
        'runners[0].pre_clone_script: removed in gitlab-runner 17.0.0, ignored by newer runners']


def test_typo_message_suggests_the_close_key():
    assert unknown_key_messages({'runners': [{'docker': {'imgae': 'x'}}]}) == [
        "runners[0].docker.imgae: unknown key, did you mean 'image'?"]


@pytest.mark.parametrize('runner', [
    {'feature_flags': {'FF_NOT_A_REAL_FLAG': True}},
    {'autoscaler': {'plugin_config': {'anything': {'goes': 1}}}},
    {'docker': {'sysctls': {'net.ipv4.ip_forward': '1'}, 'tmpfs': {'/x': 'rw'}}},
    {'kubernetes': {'affinity': {'node_affinity': {'whatever': [{'deep': 1}]}}, 'node_selector': {'a': 'b'}}},
    {'labels': {'team': 'x'}},
])
def test_open_maps_are_not_reported(runner):
    assert unknown_keys({'runners': [runner]}) == []


def test_shared_struct_types_are_checked_everywhere():
    document = {'runners': [{
        'kubernetes': {'bogus': 1, 'services': [{'nme': 'x'}]},
        'autoscaler': {'vm_isolation': {'connector_config': {'oss': 'linux'}}},
    }]}
    assert unknown_keys(document) == [
        'runners[0].kubernetes.bogus',
        'runners[0].kubernetes.services[0].nme',
        'runners[0].autoscaler.vm_isolation.connector_config.oss',
    ]


def test_global_only_sections():
    document = {'machine': {'shutdown_drain': {'enabled': True, 'retries': 3}}, 'session_server': {'listen': 'x'}}
    assert unknown_keys(document) == ['machine.shutdown_drain.retries', 'session_server.listen']


def test_keys_that_need_quoting_are_quoted_in_paths():
    assert unknown_keys({'runners': [{'docker': {'a.b': 1}}]}) == ['runners[0].docker."a.b"']


def test_child_section_resolution():
    assert child_section('global', 'runners') == 'runners'
    assert child_section('global', 'machine') == 'machine (global)'
    assert child_section('runners', 'machine') == 'runners.machine'
    assert child_section('runners.kubernetes', 'services') == 'runners.docker.services'
    assert child_section('runners', 'feature_flags') is None
    assert child_section('runners.kubernetes', 'affinity') is None


def test_version_diffs_are_kept():
    assert removed_in('runners', 'post_clone_script') == 'v17.0.0'
    assert removed_in('runners', 'image') is None
    assert 'v17.0.0->v18.0.0' in RUNNER_CONFIG_KEYS['_version_diffs']


# ------------------------------------------------------------------ types

@pytest.mark.parametrize('document', [
    {'concurrent': 4, 'check_interval': 0, 'log_level': 'info', 'shutdown_timeout': 30},
    {'connection_max_age': '15m'},
    {'connection_max_age': 900000000000},
    {'connection_max_age': '1h2m3.5s'},
    {'connection_max_age': '-1.5µs'},
    {'connection_max_age': '0'},
    {'labels': {'team': 'a'}},
    {'session_server': {'listen_address': '[::]:8093', 'session_timeout': 1800}},
    {'runners': [{'docker': {'pull_policy': 'always'}}, {'docker': {'pull_policy': ['always', 'never']}}]},
    {'runners': [{'docker': {'services_devices': {'x': ['/dev/a']}, 'ulimit': {'nofile': '1024'}}}]},
    {'runners': [{'autoscaler': {'policy': [{'scale_factor': 2}, {'scale_factor': 0.5}],
                                 'instance_operation_time_buckets': [1, 2.5]}}]},
    {'runners': [{'kubernetes': {'retry_limits': {'a': 1}, 'affinity': {'x': 1}, 'host_aliases': [{'ip': 'x'}]}}]},
    {'runners': [{'token_obtained_at': datetime.datetime(2025, 1, 1)}]},
    {'runners': [{'bogus_unknown_key': {'no': 'type'}}]},
])
def test_values_of_the_right_type_pass(document):
    assert type_error_messages(document) == []


@pytest.mark.parametrize('document, message', [
    ({'concurrent': True}, "concurrent: gitlab-runner expects an integer (Go int), got the boolean true"),
    ({'concurrent': '4'}, "concurrent: gitlab-runner expects an integer (Go int), got the string '4'"),
    ({'connection_max_age': '15 minutes'},
     "connection_max_age: gitlab-runner expects a duration such as '30m' or '1h30m' or an integer of "
     "nanoseconds (Go *time.Duration), got the string '15 minutes'"),
    ({'connection_max_age': ''}, "connection_max_age: gitlab-runner expects a duration"),
    ({'connection_max_age': 1.5}, "connection_max_age: gitlab-runner expects a duration"),
    ({'session_server': {'session_timeout': '30m'}},
     "session_server.session_timeout: gitlab-runner expects an integer (Go int), got the string '30m'"),
    ({'labels': ['a']}, "labels: gitlab-runner expects a table of strings (Go Labels), got the array ['a']"),
    ({'labels': {'a': 1}}, "labels.a: gitlab-runner expects a string (Go string), got the integer 1"),
    ({'runners': {'name': 'x'}}, "runners: gitlab-runner expects an array of tables (Go []*RunnerConfig), got the table"),
    ({'runners': [{'docker': 'alpine'}]}, "runners[0].docker: gitlab-runner expects a table (Go *DockerConfig), got the string 'alpine'"),
    ({'runners': [{'docker': {'pull_policy': 1}}]},
     "runners[0].docker.pull_policy: gitlab-runner expects a string or an array of strings (Go StringOrArray), got the integer 1"),
    ({'runners': [{'docker': {'services': ['docker:dind']}}]},
     "runners[0].docker.services[0]: gitlab-runner expects a table (Go Service), got the string 'docker:dind'"),
    ({'runners': [{'autoscaler': {'policy': [{'scale_factor': 'x'}]}}]},
     "runners[0].autoscaler.policy[0].scale_factor: gitlab-runner expects a float (Go float64), got the string 'x'"),
    ({'runners': [{'machine': {'IdleScaleFactor': 2 ** 60}}]},
     "runners[0].machine.IdleScaleFactor: gitlab-runner expects a float (Go float64), got the integer 1152921504606846976"),
    ({'runners': [{'kubernetes': {'node_selector': {'a': True}}}]},
     "runners[0].kubernetes.node_selector.a: gitlab-runner expects a string (Go string), got the boolean true"),
    ({'runners': [{'environment': 'A=1'}]},
     "runners[0].environment: gitlab-runner expects an array of strings (Go []string), got the string 'A=1'"),
    ({'runners': [{'url': 'https://u:hunter2@gitlab.example.com', 'limit': 'https://u:hunter2@x'}]},
     "runners[0].limit: gitlab-runner expects an integer (Go int), got the string 'https://u:********@x'"),
    ({'runners': [{'cache': {'s3': {'AccessKey': 1, 'SecretKey': ['s3cr3t']}}}]},
     "runners[0].cache.s3.SecretKey: gitlab-runner expects a string (Go string), got the array ********"),
    ({'concurrent': 'x' * 200}, "concurrent: gitlab-runner expects an integer (Go int), got the string 'xxxxxxxx"),
])
def test_values_of_the_wrong_type_are_named(document, message):
    messages = type_error_messages(document, secret_keys=('SecretKey', 'AccessKey'))
    assert any(line.startswith(message) for line in messages), messages
    assert all('s3cr3t' not in line and 'hunter2' not in line for line in messages)
    assert all(len(line) < 300 for line in messages)
