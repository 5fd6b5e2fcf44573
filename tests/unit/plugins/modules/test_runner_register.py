# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""runner_register through its main(), against the lab's fake GitLab on loopback.

Every result of every run is searched for every token the fake GitLab knows
or the test used: none may appear.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib.util
import json
import pathlib
import select
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import tomllib

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.gitlab_runner import (
    GIT_PROXY_SCRIPT,
    gitlab_runner_entries,
    gitlab_runner_unlisted,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _gitlab_api, _http
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _safe_write as runner_register_safe_write
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_registration import VERIFY_AT_ONCE
from ansible_collections.behindproxy.gitlab_runner.plugins.modules import runner_register
from ansible_collections.behindproxy.gitlab_runner.plugins.modules.runner_register import main
from loopback import stop_listening

REPOSITORY = pathlib.Path(__file__).resolve().parents[4]
URL_PATH = '/'
SYSTEM_ID = 's_0123456789ab'


def load_fake_gitlab():
    name = 'lab_fakegitlab_server'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPOSITORY / 'tests' / 'lab' / 'fakegitlab' / 'server.py')
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakegitlab = load_fake_gitlab()
PAT = fakegitlab.LAB_PERSONAL_ACCESS_TOKEN
REGISTRATION_TOKEN = fakegitlab.LAB_REGISTRATION_TOKEN
STATE_CHANGING = {('POST', '/api/v4/runners'), ('POST', '/api/v4/user/runners'), ('DELETE', '/api/v4/runners'),
                  ('DELETE', '/api/v4/runners/managers')}


class Lab:
    """The fake GitLab in this process, and every token and result seen."""

    def __init__(self, tmp_path):
        (tmp_path / 'gitlab-state').mkdir()
        self.gitlab = fakegitlab.FakeGitLab(str(tmp_path / 'gitlab-state'))
        self.server = fakegitlab.make_server(fakegitlab.ApiHandler, self.gitlab, '127.0.0.1', 0)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()
        self.url = 'http://127.0.0.1:%d/' % self.server.server_address[1]
        self.config = tmp_path / 'etc' / 'config.toml'
        self.config.parent.mkdir()
        self.system_id_file = self.config.parent / '.runner_system_id'
        self.tokens = {PAT, REGISTRATION_TOKEN}
        self.results = []
        self.seen = 0

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def new_runner(self, **fields):
        """A runner made in GitLab (as a user would in the UI): its id and glrt- token."""
        body = dict({'runner_type': 'instance_type', 'description': 'made-in-ui'}, **fields)
        status, payload = self.gitlab.create_user_runner(body, PAT)
        assert status == 201
        self.tokens.add(payload['token'])
        return payload['id'], payload['token']

    def requests(self):
        """(method, path) of the API requests since the last call."""
        return [(entry['method'], entry['path']) for entry in self.log()]

    def log(self):
        """The fake's log entries of the API requests since the last call.

        The fake logs a request after its answer has gone out, holding its lock
        from before the answer until after the entry is written: taking the lock
        waits for the entry of the last answer the module got.
        """
        with self.gitlab._lock:
            log = self.gitlab.request_log[self.seen:]
            self.seen = len(self.gitlab.request_log)
        return log

    def entry(self, name='docker-1'):
        data = tomllib.loads(self.config.read_text())
        return next(runner for runner in data.get('runners', []) if runner['name'] == name)

    def server_runner(self, runner_id):
        return self.gitlab.runners.get(runner_id)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(lambda seconds: None))
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
    running = Lab(tmp_path)
    yield running
    running.close()
    # No result may hold any token: those of the fake GitLab (issued, rotated), and those the tests used.
    for runner in running.gitlab.runners.values():
        running.tokens.add(runner['token'])
    for result in running.results:
        text = json.dumps(result, default=str)
        for token in running.tokens:
            assert token not in text


@pytest.fixture
def register(lab, run_module):
    """register(check_mode=False, **args) -> (result, failed, warnings); name, url and path filled in."""
    def run(check_mode=False, **args):
        args = dict(dict(path=str(lab.config), name='docker-1', url=lab.url), **args)
        for key in ('token', 'registration_token', 'api_token'):
            if args.get(key):
                lab.tokens.add(args[key])
        result, failed, warnings = run_module(main, args, check_mode=check_mode)
        lab.results.append(result)
        for runner in lab.gitlab.runners.values():
            lab.tokens.add(runner['token'])
        return result, failed, warnings
    return run


def machine_system_id():
    for path in ('/var/lib/dbus/machine-id', '/etc/machine-id'):
        try:
            machine_id = pathlib.Path(path).read_text().strip()
        except OSError:
            continue
        return 's_' + hmac.new(machine_id.encode(), b'gitlab-runner', hashlib.sha256).hexdigest()[:12]
    return None


# ------------------------------------------------------ token (glrt-)

def test_token_is_verified_and_written_with_a_new_system_id(lab, register):
    runner_id, token = lab.new_runner()
    lab.requests()
    result, failed, dummy = register(token=token, settings={'docker': {'image': 'alpine:3.20'}},
                                     environment={'HTTPS_PROXY': 'http://172.17.0.1:3128'})
    assert not failed, result
    assert result['changed'] and result['action'] == 'verified'
    assert result['runner_id'] == runner_id
    assert result['token_expires_at'] is None

    system_id = lab.system_id_file.read_text()
    assert result['system_id'] == system_id
    assert stat.S_IMODE(lab.system_id_file.stat().st_mode) == 0o600
    assert not system_id.endswith('\n')
    expected = machine_system_id()
    assert system_id == expected if expected else system_id.startswith('r_')

    entry = lab.entry()
    assert list(entry)[:7] == ['name', 'url', 'id', 'token', 'token_obtained_at', 'token_expires_at', 'executor']
    assert entry['url'] == lab.url and entry['id'] == runner_id and entry['token'] == token
    assert entry['executor'] == 'docker' and entry['docker'] == {'image': 'alpine:3.20'}
    assert entry['environment'] == ['HTTPS_PROXY=http://172.17.0.1:3128']
    assert entry['token_expires_at'] == datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
    obtained = entry['token_obtained_at']
    assert obtained.microsecond == 0 and abs(datetime.datetime.now(datetime.timezone.utc) - obtained).total_seconds() < 60
    assert stat.S_IMODE(lab.config.stat().st_mode) == 0o600
    assert result['runner']['token'] == '********'
    log = lab.log()
    assert [(entry['method'], entry['path']) for entry in log] == [('POST', '/api/v4/runners/verify')]
    assert log[0]['headers']['Runner-Token'] == '[REDACTED]'
    assert lab.server_runner(runner_id)['managers'] == [system_id]


def test_second_run_changes_nothing_and_creates_nothing(lab, register):
    dummy, token = lab.new_runner()
    args = dict(token=token, environment=['HTTP_PROXY=http://cntlm:3128'])
    register(**args)
    before = lab.config.read_bytes()
    lab.requests()
    result, failed, dummy = register(**args)
    assert not failed and not result['changed'] and result['action'] == 'none'
    assert lab.config.read_bytes() == before
    assert lab.requests() == [('POST', '/api/v4/runners/verify')]


def test_a_token_the_runner_rotated_is_kept(lab, register):
    runner_id, inventory_token = lab.new_runner()
    register(token=inventory_token)
    # The runner rotates its token and rewrites its entry (token and both dates).
    status, rotated = lab.gitlab.reset_authentication_token({'token': inventory_token})
    assert status == 201
    lab.tokens.add(rotated['token'])
    text = lab.config.read_text().replace(inventory_token, rotated['token'])
    text = text.replace('token_expires_at = 0001-01-01T00:00:00Z', 'token_expires_at = 2030-01-01T00:00:00Z')
    lab.config.write_text(text)
    before = lab.config.read_bytes()
    lab.requests()

    result, failed, dummy = register(token=inventory_token)
    assert not failed, result
    assert not result['changed'] and result['action'] == 'none'
    assert lab.config.read_bytes() == before
    assert lab.entry()['token'] == rotated['token']
    assert result['runner_id'] == runner_id
    assert result['token_expires_at'] == '2030-01-01T00:00:00Z'
    assert any('rotated' in note for note in result['notes'])
    assert all(call == ('POST', '/api/v4/runners/verify') for call in lab.requests())


def test_a_token_of_a_different_runner_rewrites_the_entry(lab, register):
    first_id, first = lab.new_runner()
    second_id, second = lab.new_runner()
    register(token=first, settings={'limit': 2})
    result, failed, dummy = register(token=second, settings={'limit': 2})
    assert not failed and result['changed'] and result['action'] == 'verified'
    entry = lab.entry()
    assert (entry['id'], entry['token'], entry['limit']) == (second_id, second, 2)
    assert result['runner_id'] == second_id != first_id
    assert tomllib.loads(lab.config.read_text())['runners'].__len__() == 1


def test_a_dead_entry_token_is_replaced_by_a_working_inventory_token(lab, register):
    old_id, old = lab.new_runner()
    register(token=old)
    lab.gitlab.delete_runner({'token': old})
    new_id, new = lab.new_runner()
    result, failed, dummy = register(token=new)
    assert not failed and result['action'] == 'verified'
    assert lab.entry()['id'] == new_id and lab.entry()['token'] == new


def test_a_refused_token_fails_without_showing_it(lab, register):
    result, failed, dummy = register(token='glrt-never-issued-0000000')
    assert failed
    assert 'POST /api/v4/runners/verify refused the token option (403)' in result['msg']
    assert 'glrt-never-issued' not in result['msg']
    assert not lab.config.exists()


def test_server_side_options_are_refused_with_a_token_before_any_call(lab, register):
    dummy, token = lab.new_runner()
    lab.requests()
    result, failed, dummy = register(token=token, tags=['docker'], locked=True)
    assert failed and 'tags, locked cannot be set with token' in result['msg']
    assert lab.requests() == []


def test_an_entry_made_by_runner_config_without_url_is_completed(lab, register):
    lab.config.write_text('concurrent = 2\n\n[[runners]]\n  # made by runner_config\n  name = "docker-1"\n'
                          '  executor = "docker"\n  [runners.docker]\n    image = "debian:12"\n')
    runner_id, token = lab.new_runner()
    result, failed, dummy = register(token=token)
    assert not failed, result
    data = tomllib.loads(lab.config.read_text())
    assert len(data['runners']) == 1
    assert data['runners'][0]['url'] == lab.url and data['runners'][0]['id'] == runner_id
    assert data['runners'][0]['docker'] == {'image': 'debian:12'}
    assert '# made by runner_config' in lab.config.read_text()


def test_comments_and_other_runners_survive(lab, register):
    original = ('# managed by hand\nconcurrent = 4\n\n[[runners]]\n  name = "other"\n  url = "https://elsewhere/"\n'
                '  token = "glrt-other-runner-token"\n  executor = "shell"  # keep me\n')
    lab.tokens.add('glrt-other-runner-token')
    lab.config.write_text(original)
    dummy, token = lab.new_runner()
    result, failed, dummy = register(token=token)
    assert not failed, result
    text = lab.config.read_text()
    assert text.startswith(original)
    assert len(tomllib.loads(text)['runners']) == 2


# ------------------------------------------------ registration_token (legacy)

def test_legacy_registration_sends_the_runners_body_and_is_not_repeated(lab, register):
    args = dict(registration_token=REGISTRATION_TOKEN, tags=['docker', 'proxy'], maintenance_note='lab',
                access_level='ref_protected', maximum_timeout=3600, description='Docker 1')
    result, failed, dummy = register(**args)
    assert not failed, result
    assert result['changed'] and result['action'] == 'registered'
    runner = lab.server_runner(result['runner_id'])
    assert runner['kind'] == 'legacy'
    assert runner['description'] == 'Docker 1' and runner['tag_list'] == ['docker', 'proxy']
    assert (runner['run_untagged'], runner['locked'], runner['paused']) == (False, True, False)
    assert (runner['access_level'], runner['maximum_timeout'], runner['maintenance_note']) == ('ref_protected', 3600, 'lab')
    entry = lab.entry()
    assert entry['token'] == runner['token'] and entry['id'] == runner['id']
    assert lab.requests() == [('POST', '/api/v4/runners')]

    result, failed, dummy = register(**args)
    assert not failed and not result['changed'] and result['action'] == 'none'
    assert lab.requests() == [('POST', '/api/v4/runners/verify')]
    assert len(lab.gitlab.runners) == 1


def test_legacy_defaults_are_the_runners(lab, register):
    result, dummy, dummy = register(registration_token=REGISTRATION_TOKEN)
    runner = lab.server_runner(result['runner_id'])
    assert runner['description'] == 'docker-1'
    assert (runner['run_untagged'], runner['locked'], runner['paused'], runner['tag_list']) == (True, True, False, [])


def test_legacy_runner_deleted_in_gitlab_is_registered_again(lab, register):
    first, dummy, dummy = register(registration_token=REGISTRATION_TOKEN)
    lab.gitlab.delete_runner({'token': lab.entry()['token']})
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN)
    assert not failed and result['action'] == 'registered' and result['runner_id'] != first['runner_id']


def test_410_says_registration_tokens_are_disabled_and_what_to_do(lab, register):
    lab.gitlab.registration_enabled = False
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN)
    assert failed
    assert 'POST /api/v4/runners answered 410' in result['msg']
    assert 'registration tokens are disabled' in result['msg'] and 'api_token' in result['msg']
    assert REGISTRATION_TOKEN not in result['msg']
    assert not lab.config.exists()


def test_a_wrong_registration_token_is_a_clear_error(lab, register):
    result, failed, dummy = register(registration_token='GR1348941wrong')
    assert failed and '403' in result['msg'] and 'registration token is refused' in result['msg']


def test_a_failed_write_takes_the_new_registration_back(lab, register, monkeypatch):
    def failing_edit(*args, **kwargs):
        raise OSError('No space left on device')
    monkeypatch.setattr(runner_register, 'edit_file', failing_edit)
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN)
    assert failed and 'No space left on device' in result['msg'] and 'taken back' in result['msg']
    assert lab.gitlab.runners == {}
    assert lab.requests() == [('POST', '/api/v4/runners'), ('DELETE', '/api/v4/runners')]


# ------------------------------------------------------------ api_token

API_ARGS = dict(api_token=PAT, runner_type='instance_type', tags=['docker'], locked=True, run_untagged=False)


def test_api_token_creates_verifies_and_writes(lab, register):
    result, failed, dummy = register(**API_ARGS)
    assert not failed, result
    assert result['changed'] and result['action'] == 'created'
    assert lab.requests() == [('POST', '/api/v4/user/runners'), ('POST', '/api/v4/runners/verify')]
    runner = lab.server_runner(result['runner_id'])
    assert runner['token'].startswith('glrt-') and runner['description'] == 'docker-1'
    assert (runner['tag_list'], runner['locked'], runner['run_untagged']) == (['docker'], True, False)
    assert runner['managers'] == [result['system_id']]
    assert lab.entry()['token'] == runner['token']


def test_api_token_group_runner_needs_group_id(lab, register):
    result, failed, dummy = register(api_token=PAT, runner_type='group_type')
    assert failed and 'group_id is required' in result['msg']
    result, failed, dummy = register(api_token=PAT, runner_type='group_type', group_id=12)
    assert not failed and lab.server_runner(result['runner_id'])['group_id'] == 12


def test_api_token_settings_are_synced_and_changed_only_when_different(lab, register):
    created, dummy, dummy = register(**API_ARGS)
    lab.requests()
    result, failed, dummy = register(**API_ARGS)
    assert not failed and not result['changed'] and result['action'] == 'none'
    assert result['settings_changes'] == {}
    assert lab.requests() == [('POST', '/api/v4/runners/verify'), ('GET', '/api/v4/runners/%d' % created['runner_id'])]

    # Someone changes the runner in GitLab's UI; and the inventory now wants more tags.
    lab.server_runner(created['runner_id'])['locked'] = False
    changed_args = dict(API_ARGS, tags=['proxy', 'docker'], maintenance_note='patched monthly')
    before = lab.config.read_bytes()
    result, failed, dummy = register(**changed_args)
    assert not failed and result['changed'] and result['action'] == 'updated'
    assert result['settings_changes'] == {
        'tag_list': {'before': ['docker'], 'after': ['proxy', 'docker']},
        'locked': {'before': False, 'after': True},
        'maintenance_note': {'before': '', 'after': 'patched monthly'},
    }
    assert lab.config.read_bytes() == before
    runner = lab.server_runner(created['runner_id'])
    assert sorted(runner['tag_list']) == ['docker', 'proxy']
    assert (runner['locked'], runner['maintenance_note']) == (True, 'patched monthly')
    put = lab.log()[-1]
    assert (put['method'], put['path']) == ('PUT', '/api/v4/runners/%d' % created['runner_id'])
    assert {name.lower(): value for name, value in put['headers'].items()}['private-token'] == '[REDACTED]'

    result, failed, dummy = register(**changed_args)
    assert not failed and not result['changed']


def test_api_token_without_create_runner_scope_is_refused(lab, register):
    lab.gitlab.personal_access_tokens['glpat-read-only-token'] = ['read_api']
    result, failed, dummy = register(api_token='glpat-read-only-token', runner_type='instance_type')
    assert failed
    assert 'POST /api/v4/user/runners answered 403' in result['msg'] and 'create_runner' in result['msg']
    assert 'glpat-read-only-token' not in result['msg']


def test_api_token_that_cannot_read_the_runner_is_a_clear_error(lab, register):
    lab.gitlab.personal_access_tokens['glpat-create-only-token'] = ['create_runner']
    args = dict(API_ARGS, api_token='glpat-create-only-token')
    result, failed, dummy = register(**args)
    assert not failed
    result, failed, dummy = register(**args)
    assert failed and 'GET /api/v4/runners/%d answered 403' % lab.entry()['id'] in result['msg']
    assert 'manage_runner' in result['msg']


def test_api_token_runner_deleted_in_gitlab_is_created_again(lab, register):
    first, dummy, dummy = register(**API_ARGS)
    lab.gitlab.delete_runner_by_id(first['runner_id'], PAT)
    result, failed, dummy = register(**API_ARGS)
    assert not failed and result['action'] == 'created' and result['runner_id'] != first['runner_id']
    assert lab.entry()['id'] == result['runner_id']


def refusing_new_tokens(lab, monkeypatch, error):
    """Verify answers ``error`` (a fakegitlab.ApiError) for every token but those issued before this call."""
    verify = lab.gitlab.verify
    known = set(runner['token'] for runner in lab.gitlab.runners.values())

    def refused(body):
        if body.get('token') not in known:
            raise error
        return verify(body)
    monkeypatch.setattr(lab.gitlab, 'verify', refused)
    return verify


@pytest.mark.parametrize('error', [fakegitlab.ApiError(403, '403 Forbidden'),
                                   fakegitlab.ApiError(422, '422 Unprocessable Entity - Runner is orphaned')],
                         ids=['refused', 'orphaned'])
def test_a_created_runner_whose_token_fails_to_verify_is_deleted_again(lab, register, monkeypatch, error):
    verify = refusing_new_tokens(lab, monkeypatch, error)
    result, failed, dummy = register(**API_ARGS)
    assert failed
    assert 'POST /api/v4/runners/verify' in result['msg']
    assert 'the runner this run created (id 1) was deleted again' in result['msg']
    assert lab.gitlab.runners == {} and not lab.config.exists()
    assert lab.requests() == [('POST', '/api/v4/user/runners'), ('POST', '/api/v4/runners/verify'),
                              ('DELETE', '/api/v4/runners/1')]
    # The next run that can finish leaves one runner on GitLab, not two.
    monkeypatch.setattr(lab.gitlab, 'verify', verify)
    result, failed, dummy = register(**API_ARGS)
    assert not failed and result['action'] == 'created'
    assert list(lab.gitlab.runners) == [result['runner_id']] == [lab.entry()['id']]


def test_a_created_runner_is_deleted_with_its_own_token_when_the_access_token_may_not(lab, register, monkeypatch):
    lab.gitlab.personal_access_tokens['glpat-create-only-token'] = ['create_runner']
    refusing_new_tokens(lab, monkeypatch, fakegitlab.ApiError(403, '403 Forbidden'))
    result, failed, dummy = register(**dict(API_ARGS, api_token='glpat-create-only-token'))
    assert failed and 'was deleted again' in result['msg']
    assert lab.gitlab.runners == {}
    assert lab.requests() == [('POST', '/api/v4/user/runners'), ('POST', '/api/v4/runners/verify'),
                              ('DELETE', '/api/v4/runners/1'), ('DELETE', '/api/v4/runners')]


def test_when_the_creation_cannot_be_taken_back_the_message_says_which_runner_to_delete(lab, register, monkeypatch):
    refusing_new_tokens(lab, monkeypatch, fakegitlab.ApiError(403, '403 Forbidden'))

    def conflict(*args):
        raise fakegitlab.ApiError(409, '409 Conflict')
    monkeypatch.setattr(lab.gitlab, 'delete_runner_by_id', conflict)
    result, failed, dummy = register(**API_ARGS)
    assert failed
    assert 'deleting the runner this run created (id 1) failed too' in result['msg']
    assert 'DELETE /api/v4/runners/1 answered 409' in result['msg'] and 'delete it in GitLab' in result['msg']
    assert list(lab.gitlab.runners) == [1]


def test_a_legacy_registration_with_an_answer_that_cannot_be_written_is_deleted_again(lab, register, monkeypatch):
    register_legacy = lab.gitlab.register_legacy

    def bad_expiry(body):
        status, payload = register_legacy(body)
        return status, dict(payload, token_expires_at='next tuesday')
    monkeypatch.setattr(lab.gitlab, 'register_legacy', bad_expiry)
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN)
    assert failed and 'not a date' in result['msg'] and 'the runner this run registered was deleted again' in result['msg']
    assert lab.gitlab.runners == {} and not lab.config.exists()
    assert lab.requests() == [('POST', '/api/v4/runners'), ('DELETE', '/api/v4/runners')]


def test_an_unforeseen_error_of_the_write_takes_the_creation_back_too(lab, register, monkeypatch):
    def failing_edit(*args, **kwargs):
        raise KeyError('runners')
    monkeypatch.setattr(runner_register, 'edit_file', failing_edit)
    result, failed, dummy = register(**API_ARGS)
    assert failed and 'taken back' in result['msg']
    assert lab.gitlab.runners == {}


# --------------------------------------------------------------- absent

def test_absent_with_an_authentication_token_removes_this_hosts_manager(lab, register):
    runner_id, token = lab.new_runner()
    register(token=token)
    lab.requests()
    result, failed, dummy = register(state='absent')
    assert not failed and result['changed'] and result['action'] == 'unregistered'
    # Once before the entry goes, once after the runner has reread config.toml.
    assert lab.requests() == [('DELETE', '/api/v4/runners/managers')] * 2
    assert lab.server_runner(runner_id)['managers'] == []
    assert 'runners' not in tomllib.loads(lab.config.read_text())

    result, failed, dummy = register(state='absent')
    assert not failed and not result['changed'] and result['action'] == 'none'
    assert lab.requests() == []


def test_a_manager_the_running_runner_makes_again_before_it_rereads_config_is_removed(lab, register, monkeypatch):
    runner_id, token = lab.new_runner()
    register(token=token)
    system_id = lab.system_id_file.read_text()
    waits = []

    def runner_polls_while_waiting(seconds):
        # The runner still has the entry: its job request makes the manager again.
        waits.append(seconds)
        if seconds >= 3:
            assert 'runners' not in tomllib.loads(lab.config.read_text())
            lab.gitlab.request_job({'token': token, 'system_id': system_id})
            assert lab.server_runner(runner_id)['managers'] == [system_id]

    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(runner_polls_while_waiting))
    lab.requests()
    result, failed, dummy = register(state='absent')
    assert not failed and result['changed']
    assert waits == [3.5]
    assert lab.server_runner(runner_id)['managers'] == []
    assert any('again' in note for note in result['notes'])


def test_absent_with_delete_runner_deletes_the_runner_with_its_own_token(lab, register):
    runner_id, token = lab.new_runner()
    register(token=token)
    result, failed, dummy = register(state='absent', delete_runner=True)
    assert not failed and result['action'] == 'unregistered'
    assert runner_id not in lab.gitlab.runners


def test_absent_with_a_legacy_token_deletes_the_runner(lab, register):
    registered, dummy, dummy = register(registration_token=REGISTRATION_TOKEN)
    lab.requests()
    result, failed, dummy = register(state='absent', registration_token=REGISTRATION_TOKEN)
    assert not failed and result['changed']
    assert lab.requests() == [('DELETE', '/api/v4/runners')]
    assert registered['runner_id'] not in lab.gitlab.runners


def test_absent_with_api_token_and_delete_runner_deletes_by_id(lab, register):
    created, dummy, dummy = register(**API_ARGS)
    lab.requests()
    result, failed, dummy = register(state='absent', api_token=PAT, delete_runner=True)
    assert not failed and result['changed'] and result['runner_id'] == created['runner_id']
    assert lab.requests() == [('DELETE', '/api/v4/runners/%d' % created['runner_id'])]
    assert lab.gitlab.runners == {}


@pytest.mark.parametrize('kind', ['manager', 'legacy', 'by_id'])
def test_absent_when_the_runner_is_already_gone_is_not_an_error(lab, register, kind):
    if kind == 'legacy':
        register(registration_token=REGISTRATION_TOKEN)
        extra = {}
    elif kind == 'by_id':
        register(**API_ARGS)
        extra = dict(api_token=PAT, delete_runner=True)
    else:
        dummy, token = lab.new_runner()
        register(token=token)
        extra = {}
    lab.gitlab.runners.clear()
    lab.requests()
    result, failed, dummy = register(state='absent', **extra)
    assert not failed, result
    assert result['changed'] and 'runners' not in tomllib.loads(lab.config.read_text())
    assert [(entry['method'], entry['status']) for entry in lab.log()] in ([('DELETE', 403)], [('DELETE', 404)])
    assert any('already gone' in note for note in result['notes'])


# ----------------------------------------------------------- check mode

def test_check_mode_on_a_fresh_host_calls_nothing_and_writes_nothing(lab, register):
    dummy, token = lab.new_runner()
    lab.requests()
    for args in (dict(token=token), dict(registration_token=REGISTRATION_TOKEN), API_ARGS):
        result, failed, dummy = register(check_mode=True, **args)
        assert not failed and result['changed'], result
        assert result['action'] in ('verified', 'registered', 'created')
        assert result['runner_id'] is None
        assert result['system_id'] and not lab.system_id_file.exists()
        assert 'token = "********"' in result['diff']['after']
    assert lab.requests() == []
    assert not lab.config.exists()


def test_check_mode_with_a_saved_system_id_only_verifies_and_reads(lab, register):
    lab.system_id_file.write_text(SYSTEM_ID)
    lab.system_id_file.chmod(0o600)
    created, dummy, dummy = register(**API_ARGS)
    lab.requests()
    before = lab.config.read_bytes()
    result, failed, dummy = register(check_mode=True, **dict(API_ARGS, paused=True))
    assert not failed and result['changed'] and result['action'] == 'updated'
    assert result['settings_changes'] == {'paused': {'before': False, 'after': True}}
    assert lab.requests() == [('POST', '/api/v4/runners/verify'), ('GET', '/api/v4/runners/%d' % created['runner_id'])]
    assert lab.server_runner(created['runner_id'])['paused'] is False
    assert lab.config.read_bytes() == before

    result, failed, dummy = register(check_mode=True, registration_token=REGISTRATION_TOKEN, name='docker-2')
    assert not failed and result['changed'] and result['action'] == 'registered'
    result, failed, dummy = register(check_mode=True, state='absent', api_token=PAT, delete_runner=True)
    assert not failed and result['changed'] and result['action'] == 'unregistered'
    assert not any(call in STATE_CHANGING or call[0] in ('PUT', 'DELETE') for call in lab.requests())
    assert lab.config.read_bytes() == before
    assert len(lab.gitlab.runners) == 1


def test_check_mode_of_a_converged_host_reports_no_change(lab, register):
    dummy, token = lab.new_runner()
    register(token=token)
    result, failed, dummy = register(check_mode=True, token=token)
    assert not failed and not result['changed'] and result['action'] == 'none'


# ------------------------------------------------------------ diff, errors

def test_diff_shows_the_entry_before_and_after_with_tokens_masked(lab, register):
    first_id, first = lab.new_runner()
    dummy, second = lab.new_runner()
    register(token=first)
    result, dummy, dummy = register(token=second)
    diff = result['diff']
    assert 'id = %d' % first_id in diff['before'] and 'token = "********"' in diff['before']
    assert 'token = "********"' in diff['after']
    for token in (first, second):
        assert token not in diff['before'] and token not in diff['after']


def test_settings_may_not_hold_what_the_module_writes(lab, register):
    result, failed, dummy = register(token='glrt-some-token-value', settings={'token': 'glrt-other-token-value'})
    lab.tokens.add('glrt-other-token-value')
    assert failed and 'settings must not contain token' in result['msg']
    assert lab.requests() == []


def test_unknown_keys_with_validate_keys_error_fail_before_any_call(lab, register):
    # [runners.docker] has no environment: a setting the runner would ignore.
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN, validate_keys='error',
                                     settings={'docker': {'environment': ['DOCKER_AUTH_CONFIG={}']}})
    assert failed and 'docker.environment' in result['msg']
    assert lab.requests() == []
    assert not lab.config.exists()


def test_unknown_keys_only_warn_by_default(lab, register):
    result, failed, warnings = register(registration_token=REGISTRATION_TOKEN,
                                        settings={'docker': {'environment': ['A=1']}})
    assert not failed, result
    assert any('docker.environment' in key for key in result['unknown_keys'])
    assert any('docker.environment' in warning for warning in warnings)


def test_a_wrong_type_fails_before_any_call(lab, register):
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN, settings={'limit': 'two'})
    assert failed and 'limit' in result['msg'] and 'integer' in result['msg']
    assert lab.requests() == []


def test_invalid_toml_fails_before_anything_happens_on_gitlab(lab, register):
    lab.config.write_text('[[runners]\nname = 1\n')
    result, failed, dummy = register(registration_token=REGISTRATION_TOKEN)
    assert failed and 'line 1' in result['msg']
    assert lab.requests() == []


def test_gitlab_unreachable_names_the_endpoint(lab, register):
    result, failed, dummy = register(url='http://127.0.0.1:9/', token='glrt-unreachable-token-1')
    assert failed and 'POST /api/v4/runners/verify: no answer from http://127.0.0.1:9' in result['msg']


def test_rate_limits_are_waited_out_and_given_up_on(lab, register, monkeypatch):
    slept = []
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(slept.append))
    dummy, token = lab.new_runner()
    lab.gitlab.set_rate_limit({'count': 2, 'mode': 'retry-after', 'seconds': 7})
    result, failed, dummy = register(token=token)
    assert not failed and result['action'] == 'verified'
    assert slept == [7.0, 7.0]

    lab.gitlab.set_rate_limit({'count': 5, 'mode': 'invalid-reset-time'})
    result, failed, dummy = register(token=token)
    assert failed and 'gave up due to rate limit' in result['msg'] and '429' in result['msg']
    assert slept[2:] == [60.0] * 4

    lab.gitlab.set_rate_limit({'count': 1, 'mode': 'reset-time', 'seconds': 7200})
    result, failed, dummy = register(token=token, max_wait=600)
    assert failed and 'retry after' in result['msg'] and 'max_wait (600 s)' in result['msg']
    assert len(slept) == 6


# ----------------------------------------------------------------- proxy

class RecordingProxy:
    """A tiny HTTP proxy that records each request line (GET/POST absolute URLs and CONNECT) and forwards it.

    ``hosts`` maps names to addresses, the lab's DNS, which this host's resolver does not know.
    """

    def __init__(self, hosts=None):
        self.hosts = hosts or {}
        self.lines = []
        self.authorizations = []
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                client, dummy = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        with client:
            reader = client.makefile('rb')
            request_line = reader.readline().decode('latin-1').rstrip('\r\n')
            headers = []
            while True:
                line = reader.readline()
                if line in (b'\r\n', b'\n', b''):
                    break
                headers.append(line)
            self.lines.append(request_line)
            self.authorizations += [line.decode().split(':', 1)[1].strip() for line in headers
                                    if line.lower().startswith(b'proxy-authorization:')]
            method, target, dummy = request_line.split(' ', 2)
            if method == 'CONNECT':
                host, port = target.rsplit(':', 1)
                upstream = socket.create_connection((self.hosts.get(host, host), int(port)))
                client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
                self._pipe(client, upstream)
                return
            rest = target.split('://', 1)[1]
            hostport, dummy, path = rest.partition('/')
            host, port = hostport.rsplit(':', 1)
            length = next((int(line.split(b':', 1)[1]) for line in headers
                           if line.lower().startswith(b'content-length:')), 0)
            body = reader.read(length) if length else b''
            kept = [line for line in headers if not line.lower().startswith((b'proxy-', b'connection:'))]
            with socket.create_connection((self.hosts.get(host, host), int(port))) as upstream:
                upstream.sendall(('%s /%s HTTP/1.1\r\n' % (method, path)).encode() + b''.join(kept)
                                 + b'Connection: close\r\n\r\n' + body)
                while True:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        break
                    client.sendall(chunk)

    @staticmethod
    def _pipe(first, second):
        sockets = [first, second]
        while True:
            readable, dummy, dummy = select.select(sockets, [], [], 5)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (second if source is first else first).sendall(data)

    def close(self):
        self.running = False
        stop_listening(self.listener, self.thread)


def test_the_proxy_option_is_used_and_its_password_masked(lab, register):
    proxy = RecordingProxy()
    try:
        dummy, token = lab.new_runner()
        result, failed, dummy = register(token=token, proxy='http://svc-runner:Pr0xy-Secret@127.0.0.1:%d' % proxy.port)
    finally:
        proxy.close()
    assert not failed, result
    assert proxy.lines == ['POST %sapi/v4/runners/verify HTTP/1.1' % lab.url]
    assert proxy.authorizations and proxy.authorizations[0].startswith('Basic ')
    assert 'Pr0xy-Secret' not in json.dumps(result)


def test_the_environments_proxy_is_used_like_the_runner_does(lab, register, monkeypatch):
    proxy = RecordingProxy(hosts={'gitlab.lab.test': '127.0.0.1'})
    lab_url = lab.url.replace('127.0.0.1', 'gitlab.lab.test')
    try:
        dummy, token = lab.new_runner()
        monkeypatch.setenv('HTTP_PROXY', 'http://127.0.0.1:%d' % proxy.port)
        monkeypatch.setenv('HTTPS_PROXY', 'http://127.0.0.1:1')
        # Loopback addresses never go through the proxy, as in Go.
        result, failed, dummy = register(token=token)
        assert not failed and proxy.lines == []
        # Other names do, through the proxy of the URL's scheme.
        result, failed, dummy = register(token=token, url=lab_url, name='docker-2')
        assert not failed, result
        assert proxy.lines == ['POST %sapi/v4/runners/verify HTTP/1.1' % lab_url]
        # Unless NO_PROXY names them (then this host, which cannot resolve the lab's names, fails to).
        monkeypatch.setenv('no_proxy', 'lab.test')
        result, failed, dummy = register(token=token, url=lab_url, name='docker-2')
        assert failed and 'no answer from %s (directly)' % lab_url.rstrip('/') in result['msg']
        assert len(proxy.lines) == 1
    finally:
        proxy.close()


def test_no_token_in_what_the_module_prints_invocation_included(lab, capsys):
    runner_id, token = lab.new_runner()
    args = dict(path=str(lab.config), name='docker-1', url=lab.url, token=token,
                proxy='http://svc:Pr0xy-Passw0rd@127.0.0.1:1', _ansible_diff=True)
    with patch_module_args(dict(args, proxy='')):
        with pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    result = json.loads(printed)
    assert result['runner_id'] == runner_id and 'invocation' in result
    assert token not in printed
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            main()
    printed = capsys.readouterr().out
    assert exited.value.code == 1
    assert 'Pr0xy-Passw0rd' not in printed and token not in printed
    assert 'svc:********@127.0.0.1:1' in json.loads(printed)['msg']


# ------------------------------------------------------------------- TLS

@pytest.fixture
def tls_url(lab, tmp_path):
    """The fake GitLab on HTTPS with a certificate of its own CA; yields (url, the CA file)."""
    key, certificate = tmp_path / 'key.pem', tmp_path / 'certificate.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(key), '-out',
                    str(certificate), '-days', '2', '-subj', '/CN=gitlab.lab.test',
                    '-addext', 'subjectAltName=DNS:gitlab.lab.test,IP:127.0.0.1'], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate), str(key))
    server = fakegitlab.make_server(fakegitlab.ApiHandler, lab.gitlab, '127.0.0.1', 0, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield 'https://127.0.0.1:%d/' % server.server_address[1], str(certificate)
    server.shutdown()
    server.server_close()


def test_https_with_a_private_ca_through_a_connect_proxy(lab, register, tls_url):
    url, ca_file = tls_url
    dummy, token = lab.new_runner()
    result, failed, dummy = register(url=url, token=token, timeout=5)
    assert failed and 'POST /api/v4/runners/verify: no answer from %s' % url.rstrip('/') in result['msg']
    assert 'CERTIFICATE_VERIFY_FAILED' in result['msg']

    result, failed, dummy = register(url=url, token=token, ca_file=ca_file)
    assert not failed and result['action'] == 'verified'
    result, failed, dummy = register(url=url, token=token, validate_certs=False, name='docker-2')
    assert not failed and result['action'] == 'verified'

    proxy = RecordingProxy()
    try:
        result, failed, dummy = register(url=url, token=token, ca_file=ca_file, name='docker-3',
                                         proxy='127.0.0.1:%d' % proxy.port)
    finally:
        proxy.close()
    assert not failed, result
    assert proxy.lines == ['CONNECT %s HTTP/1.0' % url[len('https://'):].rstrip('/')]


# ------------------------------------------------------- runners: a list

@pytest.fixture
def register_all(lab, run_module):
    """register_all(runners, check_mode=False, **args): the list form, each item's url the fake GitLab's by default."""
    def run(runners, check_mode=False, **args):
        items = [dict(dict(url=lab.url), **item) for item in runners]
        for item in items:
            lab.tokens.update(item[key] for key in ('token', 'registration_token', 'api_token') if item.get(key))
        result, failed, warnings = run_module(main, dict(dict(path=str(lab.config), runners=items), **args),
                                              check_mode=check_mode)
        lab.results.append(result)
        for runner in lab.gitlab.runners.values():
            lab.tokens.add(runner['token'])
        return result, failed, warnings
    return run


def counting_writes(monkeypatch):
    """The number of edit_file calls and of renames into place they make, as a dict updated as they happen."""
    counts = {'edit_file': 0, 'installed': 0}
    edit_file, install = runner_register.edit_file, runner_register_safe_write._install

    def counted_edit_file(*args, **kwargs):
        counts['edit_file'] += 1
        return edit_file(*args, **kwargs)

    def counted_install(*args, **kwargs):
        counts['installed'] += 1
        return install(*args, **kwargs)
    monkeypatch.setattr(runner_register, 'edit_file', counted_edit_file)
    monkeypatch.setattr(runner_register_safe_write, '_install', counted_install)
    return counts


def test_a_list_registers_each_way_in_with_one_write_then_changes_nothing(lab, register_all, monkeypatch):
    runner_id, token = lab.new_runner()
    lab.requests()
    counts = counting_writes(monkeypatch)
    runners = [
        dict(name='by-token', token=token, settings={'docker': {'image': 'alpine:3.20'}}),
        dict(name='by-registration', registration_token=REGISTRATION_TOKEN, tags=['legacy']),
        dict(API_ARGS, name='by-api', environment={'HTTP_PROXY': 'http://172.17.0.1:3128'}),
    ]
    result, failed, dummy = register_all(runners)
    assert not failed, result
    assert result['changed'] and counts == {'edit_file': 1, 'installed': 1}
    assert [(runner['name'], runner['action'], runner['changed']) for runner in result['runners']] == [
        ('by-token', 'verified', True), ('by-registration', 'registered', True), ('by-api', 'created', True)]
    assert result['runners'][0]['runner_id'] == runner_id
    assert all('runner' not in runner for runner in result['runners'])
    assert lab.requests() == [('POST', '/api/v4/runners/verify'), ('POST', '/api/v4/runners'),
                              ('POST', '/api/v4/user/runners'), ('POST', '/api/v4/runners/verify')]
    entries = {entry['name']: entry for entry in tomllib.loads(lab.config.read_text())['runners']}
    assert list(entries) == ['by-token', 'by-registration', 'by-api']
    for answered in result['runners']:
        assert entries[answered['name']]['token'] == lab.server_runner(answered['runner_id'])['token']
    assert entries['by-token']['docker'] == {'image': 'alpine:3.20'}
    assert entries['by-api']['environment'] == ['HTTP_PROXY=http://172.17.0.1:3128']
    assert lab.server_runner(result['runners'][1]['runner_id'])['tag_list'] == ['legacy']
    before, mtime = lab.config.read_bytes(), lab.config.stat().st_mtime_ns

    result, failed, dummy = register_all(runners)
    assert not failed and not result['changed'], result
    assert [(runner['action'], runner['changed']) for runner in result['runners']] == [('none', False)] * 3
    assert lab.config.read_bytes() == before and lab.config.stat().st_mtime_ns == mtime
    assert counts['installed'] == 1
    assert lab.requests() == [('POST', '/api/v4/runners/verify')] * 3 + [
        ('GET', '/api/v4/runners/%d' % result['runners'][2]['runner_id'])]


def test_only_the_runner_whose_settings_differ_is_changed(lab, register_all):
    tokens = [lab.new_runner()[1] for dummy in range(3)]
    runners = [dict(name='docker-%d' % index, token=token, settings={'limit': 1}) for index, token in enumerate(tokens)]
    register_all(runners)
    runners[1]['settings'] = {'limit': 2}
    result, failed, dummy = register_all(runners)
    assert not failed and result['changed']
    assert [runner['changed'] for runner in result['runners']] == [False, True, False]
    assert [runner['action'] for runner in result['runners']] == ['none'] * 3
    assert [entry['limit'] for entry in tomllib.loads(lab.config.read_text())['runners']] == [1, 2, 1]


def test_a_runner_that_fails_after_another_was_created_leaves_the_first_in_config_toml(lab, register_all):
    dummy, third_token = lab.new_runner()
    lab.requests()
    runners = [dict(name='created-first', registration_token=REGISTRATION_TOKEN),
               dict(name='refused', token='glrt-never-issued-0000000'),
               dict(name='not-tried', token=third_token)]
    result, failed, dummy = register_all(runners)
    assert failed
    assert result['msg'].startswith("runner 'refused' at %s: POST /api/v4/runners/verify refused the token option"
                                    % lab.url)
    assert "The 1 runner before it (created-first) is written to config.toml" in result['msg']
    assert 'The 1 runner after it (not-tried) is left as it is' in result['msg']
    assert 'glrt-never-issued' not in result['msg']
    assert result['changed'] is True
    created = result['runners']
    assert [(runner['name'], runner['action']) for runner in created] == [('created-first', 'registered')]
    entries = tomllib.loads(lab.config.read_text())['runners']
    assert [entry['name'] for entry in entries] == ['created-first']
    assert entries[0]['token'] == lab.server_runner(created[0]['runner_id'])['token']
    # Nothing was asked about the runner after the one that failed.
    assert lab.requests() == [('POST', '/api/v4/runners'), ('POST', '/api/v4/runners/verify')]

    # The next run, with the refused runner fixed, registers nothing twice.
    runners[1] = dict(name='refused', token=lab.new_runner()[1])
    result, failed, dummy = register_all(runners)
    assert not failed, result
    assert [runner['action'] for runner in result['runners']] == ['none', 'verified', 'verified']
    assert ('POST', '/api/v4/runners') not in lab.requests()


def test_a_runner_of_the_list_created_but_not_verified_is_deleted_again_and_the_others_written(
        lab, register_all, monkeypatch):
    dummy, token = lab.new_runner()
    refusing_new_tokens(lab, monkeypatch, fakegitlab.ApiError(403, '403 Forbidden'))
    lab.requests()
    result, failed, dummy = register_all([dict(name='first', token=token), dict(API_ARGS, name='second'),
                                          dict(name='third', token=token)])
    assert failed
    assert result['msg'].startswith("runner 'second' at %s: POST /api/v4/runners/verify refused" % lab.url)
    assert 'the runner this run created (id 2) was deleted again' in result['msg']
    assert 'The 1 runner before it (first) is written' in result['msg']
    assert [entry['name'] for entry in tomllib.loads(lab.config.read_text())['runners']] == ['first']
    assert list(lab.gitlab.runners) == [1]


def test_a_failed_write_takes_back_every_registration_of_the_list(lab, register_all, monkeypatch):
    def failing_edit(*args, **kwargs):
        raise OSError('No space left on device')
    monkeypatch.setattr(runner_register, 'edit_file', failing_edit)
    result, failed, dummy = register_all([dict(name='first', registration_token=REGISTRATION_TOKEN),
                                          dict(API_ARGS, name='second')])
    assert failed and 'No space left on device' in result['msg'] and 'taken back' in result['msg']
    assert lab.gitlab.runners == {}


def test_managers_of_several_runners_are_removed_twice_after_one_wait(lab, register_all, monkeypatch):
    made = [lab.new_runner() for dummy in range(3)]
    register_all([dict(name='docker-%d' % index, token=token) for index, (dummy, token) in enumerate(made)])
    waits = []

    def wait(seconds):
        # Every entry is gone before the one wait for the runner to reread config.toml.
        assert 'runners' not in tomllib.loads(lab.config.read_text())
        waits.append(seconds)
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(wait))
    lab.requests()
    result, failed, dummy = register_all([dict(name='docker-%d' % index, state='absent') for index in range(3)])
    assert not failed and result['changed']
    assert waits == [3.5]
    assert lab.requests() == [('DELETE', '/api/v4/runners/managers')] * 6
    assert all(lab.server_runner(runner_id)['managers'] == [] for runner_id, dummy in made)
    assert [runner['action'] for runner in result['runners']] == ['unregistered'] * 3


def test_no_wait_when_no_manager_was_removed(lab, register_all, monkeypatch):
    register_all([dict(name='legacy', registration_token=REGISTRATION_TOKEN)])
    waits = []
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(waits.append))
    result, failed, dummy = register_all([dict(name='legacy', state='absent'), dict(name='never-there', state='absent')])
    assert not failed and result['changed'] and waits == []
    assert [runner['changed'] for runner in result['runners']] == [True, False]


def test_check_mode_with_a_list_on_a_fresh_host_calls_nothing_and_writes_nothing(lab, register_all):
    dummy, token = lab.new_runner()
    lab.requests()
    result, failed, dummy = register_all(
        [dict(name='a', token=token), dict(name='b', registration_token=REGISTRATION_TOKEN), dict(API_ARGS, name='c')],
        check_mode=True)
    assert not failed and result['changed'], result
    assert [runner['action'] for runner in result['runners']] == ['verified', 'registered', 'created']
    assert lab.requests() == [] and not lab.config.exists() and not lab.system_id_file.exists()
    assert result['diff']['after'].count('token = "********"') == 3
    assert [runner['changed'] for runner in result['runners']] == [True] * 3


def test_every_runners_settings_are_checked_before_any_call_and_the_message_names_the_runner(lab, register_all):
    result, failed, dummy = register_all(
        [dict(name='good', registration_token=REGISTRATION_TOKEN, settings={'docker': {'image': 'alpine'}}),
         dict(name='wrong-key', registration_token=REGISTRATION_TOKEN,
              settings={'docker': {'environment': ['DOCKER_AUTH_CONFIG={}']}})],
        validate_keys='error')
    assert failed
    assert "runner 'wrong-key': runners[1].docker.environment: unknown key" in result['msg']
    assert lab.requests() == [] and not lab.config.exists()


def test_bad_options_of_an_item_fail_naming_it_before_any_call(lab, register_all):
    result, failed, dummy = register_all([dict(name='fine', registration_token=REGISTRATION_TOKEN),
                                          dict(name='no-type', api_token=PAT)])
    assert failed and result['msg'] == ("runner 'no-type' at %s: runner_type is required with api_token "
                                        "(instance_type, group_type or project_type)" % lab.url)
    assert lab.requests() == []

    result, failed, dummy = register_all([dict(name='twice', registration_token=REGISTRATION_TOKEN),
                                          dict(name='twice', url=lab.url.rstrip('/'), registration_token=REGISTRATION_TOKEN)])
    assert failed and "two items with name 'twice'" in result['msg']

    result, failed, dummy = register_all([dict(name='two-ways', token='glrt-two-ways-token-000', api_token=PAT)])
    assert failed and 'mutually exclusive' in result['msg'] and 'glrt-two-ways' not in result['msg']
    assert lab.requests() == []


@pytest.mark.parametrize('single', ['name', 'token', 'settings', 'state'])
def test_the_options_of_one_runner_cannot_stand_beside_runners(lab, register_all, single):
    value = {'name': 'x', 'token': 'glrt-beside-runners-000', 'settings': {}, 'state': 'absent'}[single]
    result, failed, dummy = register_all([dict(name='a', registration_token=REGISTRATION_TOKEN)], **{single: value})
    assert failed and 'mutually exclusive' in result['msg'] and single in result['msg']
    assert lab.requests() == []


def test_an_empty_list_does_nothing(lab, register_all):
    result, failed, dummy = register_all([])
    assert not failed and not result['changed'] and result['runners'] == []
    assert not lab.config.exists() and lab.requests() == []


def test_items_take_the_modules_proxy_unless_they_set_their_own(lab, register_all):
    module_proxy, item_proxy = RecordingProxy(), RecordingProxy()
    try:
        tokens = [lab.new_runner()[1] for dummy in range(2)]
        result, failed, dummy = register_all(
            [dict(name='by-module', token=tokens[0]),
             dict(name='by-item', token=tokens[1], proxy='http://127.0.0.1:%d' % item_proxy.port)],
            proxy='http://svc:Pr0xy-L1st@127.0.0.1:%d' % module_proxy.port)
    finally:
        module_proxy.close()
        item_proxy.close()
    assert not failed, result
    assert module_proxy.lines == ['POST %sapi/v4/runners/verify HTTP/1.1' % lab.url]
    assert item_proxy.lines == ['POST %sapi/v4/runners/verify HTTP/1.1' % lab.url]
    assert 'Pr0xy-L1st' not in json.dumps(result)


def test_secrets_in_the_items_settings_are_masked_in_the_diff_and_the_result(lab, register_all):
    auth = '{"auths": {"registry.example": {"auth": "c2VjcmV0LWF1dGg="}}}'
    dummy, token = lab.new_runner()
    result, failed, dummy = register_all([dict(name='a', token=token, environment={'DOCKER_AUTH_CONFIG': auth})])
    assert not failed, result
    printed = json.dumps(result)
    assert 'c2VjcmV0LWF1dGg=' not in printed and token not in printed
    assert 'DOCKER_AUTH_CONFIG=********' in result['diff']['after']


def test_the_roles_entries_filter_output_is_what_the_list_form_takes(lab, register_all):
    dummy, token = lab.new_runner()
    inventory = [dict(name='docker-1', url=lab.url, token=token, settings={'docker': {'image': 'alpine:3.20'}}),
                 dict(name='legacy', url=lab.url, registration_token=REGISTRATION_TOKEN, tags=['dind'])]
    additions = {'legacy': {'no_proxy': ['docker'], 'services': [{'name': 'docker:27-dind', 'alias': 'docker'}],
                            'settings': {'docker': {'privileged': True}}, 'pre_build_script': 'echo dind'}}
    proxy_environment = {'HTTP_PROXY': '', 'http_proxy': '', 'NO_PROXY': 'localhost', 'no_proxy': 'localhost'}
    runners = gitlab_runner_entries(inventory, environment=proxy_environment, compose_project_name='ci-${CI_JOB_ID}',
                                    runner_version='17.11.0', additions=additions)
    result, failed, dummy = register_all(runners)
    assert not failed, result
    entries = {entry['name']: entry for entry in tomllib.loads(lab.config.read_text())['runners']}
    assert 'NO_PROXY=localhost,docker' in entries['legacy']['environment']
    assert entries['legacy']['docker'] == {'privileged': True, 'services': [{'name': 'docker:27-dind', 'alias': 'docker'}]}
    assert entries['legacy']['pre_build_script'] == 'echo dind'
    assert entries['docker-1']['pre_get_sources_script'] == GIT_PROXY_SCRIPT
    assert 'COMPOSE_PROJECT_NAME=ci-${CI_JOB_ID}' in entries['docker-1']['environment']

    result, failed, dummy = register_all(gitlab_runner_entries(inventory, environment=proxy_environment,
                                                               compose_project_name='ci-${CI_JOB_ID}',
                                                               runner_version='17.11.0', additions=additions))
    assert not failed and not result['changed']


def test_a_runner_whose_gitlab_the_services_no_proxy_names_registers_directly(lab, register_all):
    # The runner service (Go's ProxyFromEnvironment) reaches a GitLab that its NO_PROXY names directly: so must its
    # registration. This host cannot resolve the lab's names, so going direct shows as "(directly)" and nothing at
    # the proxy, which resolves them; the runner that NO_PROXY does not name goes through the proxy.
    proxy = RecordingProxy(hosts={'gitlab.lab.test': '127.0.0.1', 'gitlab.corp.test': '127.0.0.1'})
    internal_url = lab.url.replace('127.0.0.1', 'gitlab.corp.test')
    outside_url = lab.url.replace('127.0.0.1', 'gitlab.lab.test')
    try:
        inventory = [dict(name='outside', url=outside_url, token=lab.new_runner()[1]),
                     dict(name='internal', url=internal_url, token=lab.new_runner()[1])]
        runners = gitlab_runner_entries(inventory, http_proxy='http://127.0.0.1:%d' % proxy.port,
                                        no_proxy=['localhost', '127.0.0.1', '.corp.test'])
        result, failed, dummy = register_all(runners)
    finally:
        proxy.close()
    assert failed and 'no answer from %s (directly)' % internal_url.rstrip('/') in result['msg']
    assert proxy.lines == ['POST %sapi/v4/runners/verify HTTP/1.1' % outside_url]


def test_after_gitlab_moved_the_role_removes_the_entry_and_token_left_at_the_old_url(lab, register_all):
    old_url = lab.url.replace('127.0.0.1', 'localhost')
    old_id, old_token = lab.new_runner()
    register_all([dict(name='docker-1', url=old_url, token=old_token)])
    new_id, new_token = lab.new_runner()
    inventory = [dict(name='docker-1', url=lab.url, token=new_token)]
    in_config = [dict(name=entry['name'], url=entry.get('url'))
                 for entry in tomllib.loads(lab.config.read_text())['runners']]
    result, failed, dummy = register_all(gitlab_runner_entries(
        inventory, remove=gitlab_runner_unlisted(in_config, inventory)))
    assert not failed, result
    assert [(runner['url'], runner['action']) for runner in result['runners']] == [
        (lab.url, 'verified'), (old_url, 'unregistered')]
    entries = tomllib.loads(lab.config.read_text())['runners']
    assert [(entry['name'], entry['url'], entry['id']) for entry in entries] == [('docker-1', lab.url, new_id)]
    assert old_token not in lab.config.read_text()
    assert lab.server_runner(old_id)['managers'] == []


def test_the_tokens_config_toml_holds_are_verified_a_few_at_a_time(lab, register_all, monkeypatch):
    runners = [dict(name='docker-%d' % index, token=lab.new_runner()[1]) for index in range(8)]
    register_all(runners)
    lock, in_flight, most = threading.Lock(), [0], [0]
    request = _http.request

    def slow_request(*args, **kwargs):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            time.sleep(0.05)
            return request(*args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1
    monkeypatch.setattr(_http, 'request', slow_request)
    lab.requests()
    result, failed, dummy = register_all(runners)
    assert not failed and not result['changed']
    assert lab.requests() == [('POST', '/api/v4/runners/verify')] * 8
    assert 1 < most[0] <= VERIFY_AT_ONCE


def test_a_verification_that_fails_is_reported_in_its_turn(lab, register_all, monkeypatch):
    made = [lab.new_runner() for dummy in range(3)]
    runners = [dict(name='docker-%d' % index, token=token, settings={'limit': 1})
               for index, (dummy, token) in enumerate(made)]
    register_all(runners)
    verify = lab.gitlab.verify

    def orphaned_second(body):
        if body.get('token') == made[1][1]:
            raise fakegitlab.ApiError(422, '422 Unprocessable Entity - Runner is orphaned')
        return verify(body)
    monkeypatch.setattr(lab.gitlab, 'verify', orphaned_second)
    changed = [dict(runner, settings={'limit': 2}) for runner in runners]
    result, failed, dummy = register_all(changed)
    assert failed
    assert result['msg'].startswith("runner 'docker-1' at %s: POST /api/v4/runners/verify answered 422" % lab.url)
    assert 'orphaned' in result['msg'] and 'The 1 runner after it (docker-2) is left as it is' in result['msg']
    assert [entry['limit'] for entry in tomllib.loads(lab.config.read_text())['runners']] == [2, 1, 1]
    assert [(runner['name'], runner['changed']) for runner in result['runners']] == [('docker-0', True)]
