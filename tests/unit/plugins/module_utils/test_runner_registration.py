# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The registration's pure parts: option checks, request bodies, settings comparison, entry selection."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_registration import (
    ZERO_TIME,
    RegistrationError,
    check_options,
    create_runner_body,
    entry_settings,
    environment_mapping,
    expiry_text,
    legacy_registration_body,
    parse_expiry,
    run_after_write,
    select_entries,
    select_entry,
    server_settings_diff,
    wanted_server_settings,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._gitlab_api import GitLabApiError
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import find_runner


def options(**given):
    base = dict(state='present', name='docker-1', url='https://gitlab.example.com/', token=None,
                registration_token=None, api_token=None, runner_type=None, group_id=None, project_id=None,
                description=None, tags=None, run_untagged=None, locked=None, paused=None, access_level=None,
                maximum_timeout=None, maintenance_note=None, executor='docker', settings=None, delete_runner=False)
    base.update(given)
    return base


@pytest.mark.parametrize('given, message', [
    (dict(), 'one of token, registration_token or api_token is required'),
    (dict(token='glrt-x', tags=['a'], paused=True), 'tags, paused cannot be set with token'),
    (dict(token='glrt-x', description='d'), 'description cannot be set with token'),
    (dict(api_token='glpat-x'), 'runner_type is required with api_token'),
    (dict(api_token='glpat-x', runner_type='project_type'), 'project_id is required'),
    (dict(registration_token='GR-x', runner_type='group_type'), 'runner_type is only used with api_token'),
    (dict(registration_token='GR-x', maximum_timeout=60), 'at least 600 seconds'),
    (dict(token='glrt-x', settings={'token_expires_at': 'x', 'id': 1}), 'settings must not contain id, token_expires_at'),
    (dict(token='glrt-x', settings={'executor': 'shell'}), 'settings must not contain executor'),
])
def test_options_that_do_not_fit_together(given, message):
    with pytest.raises(RegistrationError) as raised:
        check_options(options(**given))
    assert message in str(raised.value)


def test_options_that_fit():
    check_options(options(token='glrt-x', settings={'limit': 2}))
    check_options(options(api_token='glpat-x', runner_type='group_type', group_id=3, tags=[]))
    check_options(options(state='absent'))
    check_options(options(state='absent', token='glrt-x', tags=['kept in the inventory'], runner_type='group_type'))


def test_legacy_body_is_the_runners():
    body = legacy_registration_body(options(tags=['docker', 'proxy'], maximum_timeout=3600))
    assert body['description'] == 'docker-1'
    assert body['tag_list'] == 'docker,proxy'
    assert (body['run_untagged'], body['locked'], body['paused']) == (False, True, False)
    assert body['maximum_timeout'] == 3600
    assert 'access_level' not in body and 'maintenance_note' not in body
    assert body['info']['name'] == 'behindproxy.gitlab_runner' and body['info']['executor'] == 'docker'
    untagged = legacy_registration_body(options(run_untagged=False, locked=False, description='D'))
    assert (untagged['run_untagged'], untagged['locked'], untagged['description']) == (False, False, 'D')
    assert 'tag_list' not in untagged


def test_create_body_has_owner_and_only_the_settings_that_are_set():
    body = create_runner_body(options(api_token='t', runner_type='project_type', project_id=9, group_id=None,
                                      tags=['a'], paused=False))
    assert body == {'runner_type': 'project_type', 'project_id': 9, 'description': 'docker-1', 'tag_list': ['a'],
                    'paused': False}


def test_settings_differences_compare_tags_as_sets_and_paused_by_active():
    wanted = wanted_server_settings(options(tags=['b', 'a'], paused=True, maintenance_note='', locked=True))
    current = {'description': 'docker-1', 'tag_list': ['a', 'b'], 'active': False, 'locked': True}
    assert server_settings_diff(current, wanted) == {}
    current['tag_list'] = ['a']
    current['locked'] = 1
    assert server_settings_diff(current, wanted) == {'tag_list': (['a'], ['b', 'a']), 'locked': (1, True)}


def test_environment_as_mapping_or_list():
    assert environment_mapping(['A=1', 'B=x=y', 'C=']) == {'A': '1', 'B': 'x=y', 'C': ''}
    assert environment_mapping({'A': '1'}) == {'A': '1'}
    assert environment_mapping(None) == {}
    for bad in (['A'], ['=x'], [1], 'A=1'):
        with pytest.raises(RegistrationError):
            environment_mapping(bad)


def test_expiry_of_gitlabs_answers():
    assert parse_expiry(None) == ZERO_TIME
    assert parse_expiry('2026-03-01T12:00:00.000Z') == datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.timezone.utc)
    assert expiry_text(parse_expiry('2026-03-01T12:00:00.000Z')) == '2026-03-01T12:00:00Z'
    assert expiry_text(ZERO_TIME) is None
    with pytest.raises(RegistrationError):
        parse_expiry('soon')


def test_entry_selection_by_name_and_url_or_a_lone_entry_without_url():
    data = {'runners': [{'name': 'a', 'url': 'https://one/'}, {'name': 'b'}, {'name': 'c', 'url': 'https://one/'}]}
    assert select_entry(data, 'a', 'https://one', find_runner) == ({'name': 'a', 'url': 'https://one/'}, 'https://one')
    assert select_entry(data, 'b', 'https://one/', find_runner) == ({'name': 'b'}, None)
    assert select_entry(data, 'c', 'https://two/', find_runner) == (None, 'https://two/')
    assert select_entry({}, 'a', 'https://one/', find_runner) == (None, 'https://one/')


def test_entry_settings_put_registration_first():
    settings = entry_settings({'id': 1, 'token': 't'}, options(settings={'limit': 2}), 'https://one/')
    assert list(settings) == ['url', 'id', 'token', 'executor', 'limit']
    assert entry_settings(None, options()) == {'executor': 'docker'}


def test_an_entry_without_url_is_completed_for_one_runner_only():
    data = {'runners': [{'name': 'a'}, {'name': 'b', 'url': 'https://one/'}]}
    assert select_entries(data, [('a', 'https://one/'), ('a', 'https://two/'), ('b', 'https://one')], find_runner) == [
        ({'name': 'a'}, None), (None, 'https://two/'), ({'name': 'b', 'url': 'https://one/'}, 'https://one')]


class Outcome:
    def __init__(self, calls):
        self.after_write = calls


def test_what_is_left_for_after_the_write_waits_once_for_all_the_runners():
    events = []

    def removal(name, fails=False):
        def call():
            events.append(name)
            if fails:
                raise GitLabApiError('DELETE /api/v4/runners/managers answered 500')
        return call
    failing = Outcome([removal('b', fails=True)])
    outcomes = [Outcome([removal('a')]), Outcome([]), failing, Outcome([removal('c')])]
    failures = run_after_write(outcomes, events.append)
    assert events == [3.5, 'a', 'b', 'c']
    assert [(outcome, str(exc)) for outcome, exc in failures] == [(failing, 'DELETE /api/v4/runners/managers answered 500')]
    assert run_after_write([Outcome([])], lambda seconds: events.append('waited')) == [] and events[-1] == 'c'
