# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The doctor's hops from its findings: exactly the broken hop fails, what stands behind it is skipped."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.doctor import (
    doctor_cntlm_settings,
    doctor_hops,
    doctor_table,
)

RUNNING = {'state': 'running'}


def healthy():
    """What the doctor finds on a healthy host with cntlm, a mirror and one dind runner."""
    return {
        'plan': {},
        'services': {'cntlm.service': RUNNING, 'docker.service': RUNNING, 'gitlab-runner.service': RUNNING},
        'config': {'exists': True, 'problems': [], 'lint': {'available': True, 'version': '19.4', 'ok': True},
                   'runners': [{'name': 'dind', 'url': 'http://gitlab.test', 'executor': 'docker',
                                'job_environment_problems': [], 'dind': 'docker', 'dind_problems': []}]},
        'config_path': '/etc/gitlab-runner/config.toml',
        'cntlm_expected': True, 'cntlm_file': True,
        'cntlm': doctor_cntlm_settings('Listen 127.0.0.1:3128\nListen 172.17.0.1:3128\nProxy corp:3128\n'),
        'cntlm_listen': [{'state': 'started'}, {'state': 'started'}],
        'upstream': {'ok': True, 'outcome': 'reached', 'detail': '200', 'through': 'http://127.0.0.1:3128'},
        'probe_url': 'http://files.test/',
        'dockerd': {'ok': True, 'outcome': 'reached', 'environment_problems': []},
        'registry_image': 'hub.test/library/docker:cli',
        'mirror': 'http://172.17.0.1:5000', 'mirror_remote': 'https://hub.test',
        'mirror_api': {'ok': True}, 'mirror_pull': {'ok': True}, 'mirror_image': 'library/busybox:latest',
        'runner_api': {'results': [{'ok': True, 'item': 'http://gitlab.test', 'environment_problems': []}]},
        'git_image': 'helper:1', 'git_url': '',
        'git': [{'ok': True, 'outcome': 'reached', 'item': {'name': 'dind'}}],
    }


def failed(hops):
    return [hop['hop'] for hop in hops if hop['result'] == 'FAILED']


def skipped(hops):
    return [hop['hop'] for hop in hops if hop['result'] == 'skipped']


def test_a_healthy_host_has_no_failed_or_skipped_hop():
    hops = doctor_hops(healthy())
    assert failed(hops) == [] and skipped(hops) == []
    assert [hop['hop'] for hop in hops] == ['config.toml', 'cntlm', 'cntlm -> upstream', 'dockerd -> registry',
                                            'registry mirror', 'runner service -> GitLab', 'job environment: dind',
                                            'git in a job: dind', 'dind NO_PROXY: dind']


def behind_the_upstream(facts):
    """The playbook skips every probe through the proxy once the upstream hop failed."""
    for key in ('dockerd', 'mirror_pull'):
        facts[key] = {'skipped': True}
    facts['runner_api'] = {'results': [{'skipped': True}]}
    facts['git'] = [{'skipped': True, 'item': {'name': 'dind'}}]
    return facts


def test_cntlm_stopped_fails_cntlm_only():
    facts = behind_the_upstream(healthy())
    facts['services']['cntlm.service'] = {'state': 'stopped'}
    facts['cntlm_listen'] = [{'msg': 'Timeout'}, {'msg': 'Timeout'}]
    facts['upstream'] = {'skipped': True}
    hops = doctor_hops(facts)
    assert failed(hops) == ['cntlm']
    assert 'cntlm -> upstream' in skipped(hops) and 'dockerd -> registry' in skipped(hops)


def test_a_refused_password_fails_the_upstream_hop_only():
    facts = behind_the_upstream(healthy())
    facts['upstream'] = {'ok': False, 'outcome': 'credentials refused', 'detail': '407 from cntlm',
                         'through': 'http://127.0.0.1:3128'}
    hops = doctor_hops(facts)
    assert failed(hops) == ['cntlm -> upstream']
    assert 'repeated' in doctor_table(hops)


def test_the_runner_s_drop_in_removed_fails_the_runner_service_hop_only():
    facts = healthy()
    facts['runner_api'] = {'results': [{'ok': False, 'outcome': 'name not resolved', 'through': 'direct',
                                        'item': 'http://gitlab.test', 'detail': 'no such host',
                                        'environment_problems': ['gitlab-runner has no HTTP_PROXY']}]}
    assert failed(doctor_hops(facts)) == ['runner service -> GitLab']


def test_the_job_environment_removed_fails_that_hop_and_skips_its_git():
    facts = healthy()
    facts['config']['runners'][0]['job_environment_problems'] = ['HTTP_PROXY and http_proxy are not set']
    facts['config']['runners'][0]['dind_problems'] = ['NO_PROXY lacks docker, docker:2375, docker:2376']
    facts['git'] = [{'skipped': True, 'item': {'name': 'dind'}}]
    hops = doctor_hops(facts)
    assert failed(hops) == ['job environment: dind']
    assert skipped(hops) == ['git in a job: dind', 'dind NO_PROXY: dind']


def test_the_mirror_stopped_fails_the_mirror_hop_only():
    facts = healthy()
    facts['mirror_api'] = {'ok': False, 'outcome': 'destination unreachable', 'detail': 'Connection refused'}
    facts['mirror_pull'] = {'skipped': True}
    assert failed(doctor_hops(facts)) == ['registry mirror']


def test_a_dind_entry_dropped_fails_the_dind_hop_only():
    facts = healthy()
    facts['config']['runners'][0]['dind_problems'] = ['NO_PROXY lacks docker:2375']
    assert failed(doctor_hops(facts)) == ['dind NO_PROXY: dind']


def test_places_the_host_does_not_have_are_not_configured():
    facts = healthy()
    facts.update(plan={'enabled': True, 'cntlm': False, 'auth': 'basic'}, cntlm_expected=False, mirror='',
                 upstream={'ok': True, 'through': 'http://u:********@corp:8080', 'detail': '200'})
    facts['config']['runners'][0]['dind'] = ''
    hops = dict((hop['hop'], hop) for hop in doctor_hops(facts))
    assert hops['cntlm']['result'] == 'not configured' and 'auth basic' in hops['cntlm']['detail']
    assert hops['registry mirror']['result'] == 'not configured'
    assert hops['dind NO_PROXY']['result'] == 'not configured'
    assert hops['proxy -> upstream']['result'] == 'ok'


def test_the_table_refuses_what_is_not_a_list_of_hops():
    with pytest.raises(AnsibleFilterError, match='expected a list of hops'):
        doctor_table('cntlm')
    with pytest.raises(AnsibleFilterError, match='hop number 1 has no'):
        doctor_table([{'hop': 'x'}])
