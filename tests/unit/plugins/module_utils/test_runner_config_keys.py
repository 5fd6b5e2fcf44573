# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_config_keys import (
    RUNNER_CONFIG_KEYS,
    child_section,
    removed_in,
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
