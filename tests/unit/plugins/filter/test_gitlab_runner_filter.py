# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""gitlab_runner_entries: the gitlab_runner role's runners as runner_register's runners option takes them."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import shutil
import subprocess
import sys

import yaml

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.gitlab_runner import (
    GIT_PROXY_SCRIPT,
    FilterModule,
    gitlab_runner_apt_proxy,
    gitlab_runner_entries,
    gitlab_runner_unlisted,
)

PROXY = 'http://172.17.0.1:3128'
PROXY_ENVIRONMENT = {'HTTP_PROXY': PROXY, 'http_proxy': PROXY, 'HTTPS_PROXY': PROXY, 'https_proxy': PROXY,
                     'NO_PROXY': 'localhost,127.0.0.1', 'no_proxy': 'localhost,127.0.0.1'}
TOKEN = 'glrt-filter-Secret-T0ken'


def entries(runners, **given):
    arguments = dict(environment=PROXY_ENVIRONMENT, compose_project_name='ci-job-${CI_JOB_ID}',
                     runner_version='17.11.0', http_proxy='http://http-proxy:3128', https_proxy=PROXY)
    arguments.update(given)
    return gitlab_runner_entries(runners, **arguments)


def runner(**fields):
    return dict({'name': 'docker-1', 'url': 'https://gitlab.example.com/', 'token': TOKEN}, **fields)


def test_the_filter_is_registered():
    assert FilterModule().filters()['gitlab_runner_entries'] is gitlab_runner_entries
    assert FilterModule().filters()['gitlab_runner_unlisted'] is gitlab_runner_unlisted


def test_a_runner_gets_the_proxy_environment_git_compose_name_and_the_proxy_of_its_scheme():
    plain_http = dict(runner(name='docker-2', url='http://gitlab.internal/'), executor='shell', tags=None)
    result = entries([runner(settings={'docker': {'image': 'alpine:3.20'}}), plain_http])
    first = result[0]
    assert first['name'] == 'docker-1' and first['token'] == TOKEN and first['proxy'] == PROXY
    assert first['settings'] == {'docker': {'image': 'alpine:3.20'}, 'pre_get_sources_script': GIT_PROXY_SCRIPT}
    assert first['environment'] == dict(PROXY_ENVIRONMENT, COMPOSE_PROJECT_NAME='ci-job-${CI_JOB_ID}')
    second = result[1]
    assert second['proxy'] == 'http://http-proxy:3128'
    assert (second['executor'], second['tags']) == ('shell', None)
    assert set(second) == {'name', 'url', 'token', 'executor', 'tags', 'proxy', 'settings', 'environment'}


SHELLS = [shell for shell in (['bash'], ['dash'], ['busybox', 'sh']) if shutil.which(shell[0])]


@pytest.mark.parametrize('shell', SHELLS, ids=[' '.join(shell) for shell in SHELLS])
def test_the_git_line_points_git_at_the_jobs_proxy_without_running_a_program(shell, tmp_path):
    # With an empty PATH every program fails, and the shell stops (-e): the line uses built-ins only, so the
    # proxy URL with its password is never a program's argument (the process table shows those to every user).
    proxy = 'http://corp%5Cuser:pa%24%24%20word@proxy.internal:3128'
    (tmp_path / 'empty').mkdir()
    script = GIT_PROXY_SCRIPT + '\nexec "$GIT" config --get http.proxy'
    run = subprocess.run([shutil.which(shell[0])] + shell[1:] + ['-ec', script], capture_output=True, text=True,
                         check=False, env={'PATH': str(tmp_path / 'empty'), 'HOME': str(tmp_path),
                                           'HTTP_PROXY': proxy, 'GIT': shutil.which('git')})
    assert (run.returncode, run.stdout, run.stderr) == (0, proxy + '\n', '')


@pytest.mark.parametrize('shell', SHELLS, ids=[' '.join(shell) for shell in SHELLS])
@pytest.mark.parametrize('own', ['', 'export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.sslCAInfo GIT_CONFIG_VALUE_0=/ca.pem',
                                 'export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=http.sslCAInfo GIT_CONFIG_VALUE_0=/ca.pem '
                                 'GIT_CONFIG_KEY_1=http.proxy GIT_CONFIG_VALUE_1=http://users-own:3128'],
                         ids=['no own settings', 'own CA', 'own CA and proxy'])
def test_the_git_line_adds_to_the_git_settings_the_users_script_made(shell, own, tmp_path):
    # The runner runs the user's script and the role's line in one shell: git must see the user's settings and the
    # job's proxy, which comes last and so wins over a proxy of the user's own.
    settings = entries([runner(settings={'pre_get_sources_script': own} if own else {})])[0]['settings']
    script = (settings['pre_get_sources_script']
              + '\nprintf "%s\\n" "$("$GIT" config --get http.proxy)" "$("$GIT" config --get http.sslCAInfo || :)"')
    run = subprocess.run([shutil.which(shell[0])] + shell[1:] + ['-ec', script], capture_output=True, text=True,
                         check=False, env={'PATH': '/nonexistent', 'HOME': str(tmp_path),
                                           'HTTP_PROXY': PROXY, 'GIT': shutil.which('git')})
    assert (run.returncode, run.stdout, run.stderr) == (0, '%s\n%s\n' % (PROXY, '/ca.pem' if own else ''), '')


def test_the_users_git_script_comes_first_and_an_old_runner_gets_pre_clone_script():
    result = entries([runner(settings={'pre_get_sources_script': 'echo mine'})])
    assert result[0]['settings']['pre_get_sources_script'] == 'echo mine\n' + GIT_PROXY_SCRIPT
    old = entries([runner(settings={'pre_clone_script': 'echo mine'})], runner_version='15.8.3')
    assert old[0]['settings'] == {'pre_clone_script': 'echo mine\n' + GIT_PROXY_SCRIPT}
    assert entries([runner()], runner_version='')[0]['settings'] == {'pre_get_sources_script': GIT_PROXY_SCRIPT}


def test_without_a_proxy_git_is_left_alone_and_the_jobs_get_no_proxy_variables():
    result = entries([runner(settings={'limit': 2})], environment={}, compose_project_name='')
    assert result[0]['settings'] == {'limit': 2}
    assert result[0]['environment'] == {}


def test_the_runners_own_environment_wins_by_name():
    result = entries([runner(environment={'NO_PROXY': 'only-mine', 'COMPOSE_PROJECT_NAME': 'fixed', 'X': '1'})])
    environment = result[0]['environment']
    assert environment['NO_PROXY'] == 'only-mine' and environment['no_proxy'] == 'localhost,127.0.0.1'
    assert environment['COMPOSE_PROJECT_NAME'] == 'fixed' and environment['X'] == '1'


def test_an_absent_runner_gets_neither_settings_nor_environment():
    result = entries([runner(state='absent', settings={'limit': 1}, environment={'A': '1'})],
                     additions={'docker-1': {'no_proxy': ['docker']}})
    assert result == [{'name': 'docker-1', 'url': 'https://gitlab.example.com/', 'token': TOKEN, 'state': 'absent',
                       'proxy': PROXY}]


def test_runners_to_remove_are_added_as_absent_with_the_proxy_of_their_scheme():
    result = entries([runner()], remove=[{'name': 'old', 'url': 'http://gitlab.internal/'}])
    assert result[1] == {'name': 'old', 'url': 'http://gitlab.internal/', 'state': 'absent',
                         'proxy': 'http://http-proxy:3128'}


@pytest.mark.parametrize('no_proxy, url, direct', [
    ('gitlab.example.com', 'https://gitlab.example.com/', True),
    (['localhost', '.example.com'], 'https://gitlab.example.com/', True),
    ('example.com:8443', 'https://gitlab.example.com/', False),
    ('example.com:443', 'https://gitlab.example.com/', True),
    ('10.1.0.0/16', 'https://10.1.2.3/', True),
    ('gitlab.example', 'https://gitlab.example.com/', False),
    ('', 'http://localhost:8080/', True),
    ('', 'https://[::ffff:127.0.0.1]/', True),
])
def test_registration_goes_direct_exactly_where_the_runner_service_does(no_proxy, url, direct):
    # The service decides with Go's ProxyFromEnvironment and its own NO_PROXY; so does the registration.
    result = entries([runner(url=url)], no_proxy=no_proxy,
                     remove=[{'name': 'old', 'url': url}])
    assert [entry['proxy'] for entry in result] == ['' if direct else PROXY] * 2


def test_the_service_no_proxy_is_checked_like_a_url():
    with pytest.raises(AnsibleFilterError, match=r"no_proxy must be a string or a list of strings"):
        entries([runner()], no_proxy={'gitlab.example.com': True})


# ------------------------------------------------------------------ additions

def test_no_proxy_additions_go_into_both_cases_without_duplicates():
    result = entries([runner(), runner(name='docker-2')],
                     additions={'docker-1': {'no_proxy': ['docker', 'LOCALHOST', 'docker:2375', 'docker']}})
    environment = result[0]['environment']
    assert environment['NO_PROXY'] == environment['no_proxy'] == 'localhost,127.0.0.1,docker,docker:2375'
    assert result[1]['environment']['NO_PROXY'] == 'localhost,127.0.0.1'


def test_no_proxy_additions_join_the_runners_own_value_in_both_cases():
    result = entries([runner(environment={'NO_PROXY': 'mine.example', 'no_proxy': 'mine.example,other.example'})],
                     additions={'docker-1': {'no_proxy': 'docker,mine.example'}})
    environment = result[0]['environment']
    assert environment['NO_PROXY'] == environment['no_proxy'] == 'mine.example,other.example,docker'


def test_no_proxy_additions_are_left_out_when_the_jobs_have_no_proxy():
    result = entries([runner()], environment={}, compose_project_name='',
                     additions={'docker-1': {'no_proxy': ['docker']}})
    assert result[0]['environment'] == {}
    result = entries([runner(environment={'https_proxy': PROXY})], environment={}, compose_project_name='',
                     additions={'docker-1': {'no_proxy': ['docker']}})
    assert result[0]['environment'] == {'https_proxy': PROXY, 'NO_PROXY': 'docker', 'no_proxy': 'docker'}


def test_the_pre_build_script_comes_after_the_runners_own():
    additions = {'docker-1': {'pre_build_script': 'mkdir -p $HOME/.docker'}}
    result = entries([runner(settings={'pre_build_script': 'echo mine'}), runner(name='docker-2')], additions=dict(
        additions, **{'docker-2': additions['docker-1']}))
    assert result[0]['settings']['pre_build_script'] == 'echo mine\nmkdir -p $HOME/.docker'
    assert result[1]['settings']['pre_build_script'] == 'mkdir -p $HOME/.docker'


def test_services_come_after_the_runners_own_but_not_an_alias_it_already_has():
    own = [{'name': 'postgres:16', 'alias': 'db'}, {'name': 'docker:24-dind', 'alias': 'dind docker'},
           {'name': 'redis:7'}]
    added = [{'name': 'docker:27-dind', 'alias': 'docker', 'command': ['--tls=false']},
             {'name': 'registry:2', 'alias': 'registry,mirror'},
             {'name': 'redis:7'},
             {'name': 'memcached:1'}]
    result = entries([runner(settings={'docker': {'image': 'alpine', 'services': own}})],
                     additions={'docker-1': {'services': added}})
    docker = result[0]['settings']['docker']
    assert docker['image'] == 'alpine'
    assert docker['services'] == own + [{'name': 'registry:2', 'alias': 'registry,mirror'}, {'name': 'memcached:1'}]


def test_services_of_a_runner_without_docker_settings_make_the_table():
    result = entries([runner()], additions={'docker-1': {'services': [{'name': 'docker:27-dind', 'alias': 'docker'}]}})
    assert result[0]['settings']['docker'] == {'services': [{'name': 'docker:27-dind', 'alias': 'docker'}]}


def test_settings_merge_under_the_runners_own_which_win():
    result = entries([runner(settings={'docker': {'privileged': False, 'image': 'alpine'}, 'limit': 4})],
                     additions={'docker-1': {'settings': {'docker': {'privileged': True, 'volumes': ['/certs/client']},
                                                          'limit': 1, 'output_limit': 8192}}})
    settings = result[0]['settings']
    assert settings['docker'] == {'privileged': False, 'volumes': ['/certs/client'], 'image': 'alpine'}
    assert (settings['limit'], settings['output_limit']) == (4, 8192)


def test_volumes_come_after_the_runners_own_but_not_a_container_path_it_already_uses():
    own = ['/cache', '/etc/docker/certs.d:/etc/docker/certs.d:ro']
    added = ['/certs/client', '/srv/other:/cache', '/var/run/docker.sock:/var/run/docker.sock']
    result = entries([runner(settings={'docker': {'volumes': own}})], additions={'docker-1': {'volumes': added}})
    assert result[0]['settings']['docker']['volumes'] == own + ['/certs/client', '/var/run/docker.sock:/var/run/docker.sock']


def test_environment_additions_go_under_the_runners_own_which_win():
    result = entries([runner(environment={'DOCKER_HOST': 'tcp://mine:2375'})],
                     additions={'docker-1': {'environment': {'DOCKER_HOST': 'tcp://docker:2376',
                                                             'DOCKER_TLS_CERTDIR': '/certs'}}})
    environment = result[0]['environment']
    assert environment['DOCKER_HOST'] == 'tcp://mine:2375' and environment['DOCKER_TLS_CERTDIR'] == '/certs'
    assert environment['HTTP_PROXY'] == PROXY


def test_what_dind_proxy_computes_is_accepted_and_written_once():
    from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _dind
    additions = _dind.runner_additions({'docker-1': {'mode': 'service'}}, 'docker:dind', mirror='http://172.17.0.1:5000',
                                       avoid={'proxy': PROXY})
    result = entries([runner(settings={'docker': {'image': 'docker:cli', 'volumes': ['/cache']}})], additions=additions)
    entry = result[0]
    assert entry['environment']['NO_PROXY'] == entry['environment']['no_proxy'] == (
        'localhost,127.0.0.1,docker,docker:2375,docker:2376')
    assert entry['environment']['DOCKER_HOST'] == 'tcp://docker:2376'
    assert entry['settings']['docker']['volumes'] == ['/cache', '/certs/client']
    assert entry['settings']['docker']['privileged'] is True
    assert [service['alias'] for service in entry['settings']['docker']['services']] == ['docker']
    assert entry == entries([runner(settings={'docker': {'image': 'docker:cli', 'volumes': ['/cache']}})],
                            additions=additions)[0]


def test_the_same_inputs_give_the_same_entries_and_are_never_changed():
    runners = [runner(settings={'pre_build_script': 'echo mine', 'docker': {'services': [{'name': 'a:1'}]}},
                      environment={'NO_PROXY': 'x'})]
    additions = {'docker-1': {'no_proxy': ['docker'], 'pre_build_script': 'echo dind',
                              'services': [{'name': 'docker:dind', 'alias': 'docker'}],
                              'settings': {'docker': {'privileged': True}}}}
    kept = copy.deepcopy((runners, additions))
    first = entries(runners, additions=additions)
    second = entries(runners, additions=additions)
    assert first == second
    assert (runners, additions) == kept
    assert first[0]['settings']['pre_build_script'] == 'echo mine\necho dind'
    assert first[0]['settings']['docker']['services'] == [{'name': 'a:1'}, {'name': 'docker:dind', 'alias': 'docker'}]


# --------------------------------------------------------------------- errors

@pytest.mark.parametrize('additions, words', [
    ({'docker-9': {}}, ['names runners that gitlab_runner_runners does not: docker-9']),
    ([], ['must be a mapping of runner names']),
    ({'docker-1': ['docker']}, ["__behindproxy_runner_additions['docker-1'] must be a mapping"]),
    ({'docker-1': {'noproxy': ['docker']}}, ['unknown keys noproxy', 'known: no_proxy, pre_build_script']),
    ({'docker-1': {'pre_build_script': ['echo']}}, ['.pre_build_script must be a string, got list']),
    ({'docker-1': {'settings': 'privileged'}}, ['.settings must be a mapping, got str']),
    ({'docker-1': {'services': {'name': 'docker:dind'}}}, ['.services must be a list of mappings']),
    ({'docker-1': {'services': [{'alias': 'docker'}]}}, ['.services[0] must be a mapping with a name']),
    ({'docker-1': {'no_proxy': 2375}}, ['.no_proxy must be a list of host names, got int']),
    ({'docker-1': {'volumes': '/certs/client'}}, ['.volumes must be a list of volume strings, got str']),
    ({'docker-1': {'environment': ['DOCKER_HOST=x']}}, ['.environment must be a mapping, got list']),
])
def test_unusable_additions_are_named(additions, words):
    with pytest.raises(AnsibleFilterError) as refused:
        entries([runner()], additions=additions)
    for word in words:
        assert word in str(refused.value)


def test_services_cannot_be_added_to_a_docker_setting_that_is_not_a_table():
    with pytest.raises(AnsibleFilterError, match="runner 'docker-1' have docker as str"):
        entries([runner(settings={'docker': 'alpine'})], additions={'docker-1': {'services': [{'name': 'x'}]}})
    removed = entries([runner(settings={'docker': None})], additions={'docker-1': {'services': [{'name': 'x'}]}})
    assert removed[0]['settings']['docker'] is None


@pytest.mark.parametrize('item, words', [
    ({'url': 'https://gitlab.example.com/', 'token': TOKEN}, ["item '(no name)'", 'given: token']),
    ({'name': 'docker-1', 'url': 'gitlab.example.com', 'token': TOKEN}, ["item 'docker-1'", 'a url (http or https)']),
    (runner(api_token='glpat-filter-Secret'), ['given: token, api_token']),
    ({'name': 'docker-1', 'url': 'https://g/', 'api_token': 'glpat-filter-Secret'}, ['api_token needs runner_type']),
    (runner(runner_type='group_type', api_token=None), ['given: token, api_token']),
    (runner(tgas=['x'], proxy='http://p:1/'), ['Unknown keys: tgas, proxy; known: name, url, state']),
    (runner(settings=['x']), ['environment and settings are mappings']),
    (runner(state='gone'), ['state present or absent']),
])
def test_unusable_runners_are_named_without_their_tokens(item, words):
    with pytest.raises(AnsibleFilterError) as refused:
        entries([item])
    for word in words:
        assert word in str(refused.value)
    assert 'Secret' not in str(refused.value)


def test_an_absent_runner_needs_no_way_in():
    assert entries([{'name': 'old', 'url': 'https://gitlab.example.com/', 'state': 'absent'}])[0]['state'] == 'absent'


# ------------------------------------------------------------------ unlisted

MOVED = [{'name': 'docker-1', 'url': 'https://old-gitlab.example.com/'},
         {'name': 'docker-1', 'url': 'https://gitlab.example.com/'},
         {'name': 'retired', 'url': 'https://gitlab.example.com/'}]


def test_a_runner_is_unlisted_unless_an_item_has_its_name_and_its_url():
    listed = [runner(url='https://gitlab.example.com')]
    assert gitlab_runner_unlisted(MOVED, listed) == [MOVED[0], MOVED[2]]
    assert gitlab_runner_unlisted(MOVED[1:2], [runner(url='https://gitlab.example.com/')]) == []


def test_an_entry_without_url_whose_name_is_listed_is_not_unlisted():
    # runner_register completes it (runner_config made it before the registration).
    in_config = [{'name': 'docker-1', 'url': None}, {'name': 'other', 'url': None}]
    assert gitlab_runner_unlisted(in_config, [runner()]) == [{'name': 'other', 'url': None}]


@pytest.mark.parametrize('in_config, runners', [('docker-1', []), ([], {'name': 'x'}), (['docker-1'], [])])
def test_unusable_inputs_of_unlisted_are_named(in_config, runners):
    with pytest.raises(AnsibleFilterError, match='gitlab_runner_unlisted: .* must be a list of mappings'):
        gitlab_runner_unlisted(in_config, runners)


REPOSITORY = pathlib.Path(__file__).resolve().parents[4]


def test_the_roles_listing_removes_the_entry_left_at_the_old_url():
    """The gitlab_runner role's own expression (tasks/listing.yml), run by Ansible, after GitLab moved."""
    tasks = yaml.safe_load((REPOSITORY / 'roles' / 'gitlab_runner' / 'tasks' / 'listing.yml').read_text())
    task = next(task for task in tasks if task['name'] == 'Tell the listed runners from the others')
    variables = dict(task.get('vars', {}), __gitlab_runner_listing={'stdout': json.dumps(MOVED)},
                     gitlab_runner_runners=[{'name': 'docker-1', 'url': 'https://gitlab.example.com',
                                             'token': TOKEN}])
    expression = task['ansible.builtin.set_fact']['__gitlab_runner_unlisted']
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPOSITORY / 'build' / 'collections'),
                       ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
                       ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='true')
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / 'ansible'), 'localhost', '-c', 'local',
                          '-m', 'ansible.builtin.debug', '-a', json.dumps({'msg': expression}),
                          '-e', json.dumps(variables)],
                         capture_output=True, text=True, env=environment, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    assert result['msg'] == [MOVED[0], MOVED[2]]


# ------------------------------------------------------------------ apt proxy

PACKAGES = 'https://packages.gitlab.com/runner/gitlab-runner/debian/'
KEY_URL = 'https://packages.gitlab.com/runner/gitlab-runner/gpgkey'


def test_the_apt_proxy_names_the_repository_host_alone():
    assert gitlab_runner_apt_proxy('http://127.0.0.1:3128', PACKAGES, KEY_URL) == (
        'Acquire::http::Proxy::packages.gitlab.com "http://127.0.0.1:3128";\n'
        'Acquire::https::Proxy::packages.gitlab.com "http://127.0.0.1:3128";\n')
    assert gitlab_runner_apt_proxy('', PACKAGES, KEY_URL) == ''


@pytest.mark.parametrize('proxy, repository_url, key_url, words', [
    ('http://x";APT::Update::Pre-Invoke {"id";};//', PACKAGES, KEY_URL, ['gitlab_runner_repository_proxy']),
    ('http://svc:Pa"Secret@proxy:8080', PACKAGES, KEY_URL, ['gitlab_runner_repository_proxy', '%22']),
    ('', 'https://svc:Pa-Secret@packages.gitlab.com/', KEY_URL, ['gitlab_runner_repository_url', 'auth.conf.d']),
    ('', PACKAGES, 'ftp://svc:Pa-Secret@packages.gitlab.com/key', ['gitlab_runner_repository_key_url', 'svc:****']),
])
def test_repository_variables_apt_cannot_take_are_named_without_their_passwords(proxy, repository_url, key_url, words):
    with pytest.raises(AnsibleFilterError) as raised:
        gitlab_runner_apt_proxy(proxy, repository_url, key_url)
    for word in words:
        assert word in str(raised.value)
    assert 'Secret' not in str(raised.value)
