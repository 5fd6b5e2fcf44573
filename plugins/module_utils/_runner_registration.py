# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the runner_register module does on GitLab, decided from config.toml and GitLab's answers.

Three ways in, one per runner:

- ``token``, a runner authentication token (``glrt-...``): verified with
  ``POST /runners/verify`` and this host's system id, which makes this host
  one of the runner's managers. Like ``gitlab-runner register --token``.
- ``registration_token`` (legacy): ``POST /runners`` creates the runner and
  returns its token. Like ``gitlab-runner register --registration-token``.
- ``api_token``, an access token with the ``create_runner`` scope:
  ``POST /user/runners`` creates the runner, its token is verified like the
  first way, and on later runs the runner's server-side settings are
  compared (``GET /runners/:id``) and set (``PUT /runners/:id``).

config.toml is the memory between runs. Its entry's token is the runner's own:
the runner replaces it when it rotates it, so it is newer than anything in the
inventory. An entry whose token verifies is a working registration and is
kept; only an inventory token that verifies for a different runner replaces
it. Nothing that creates, changes or deletes anything on GitLab is called in
check mode, and neither is verify with a system id this host has not saved
yet (verify records the manager).

Messages name the endpoint, the status and GitLab's message; no token is put
into one. Every token learned from GitLab is handed to ``remember_secret``
at once (the module's no_log values).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import platform

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._gitlab_api import API_PREFIX, GitLabApiError
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import MASK

AUTHENTICATION_TOKEN_PREFIX = 'glrt-'
RUNNER_TYPES = ('instance_type', 'group_type', 'project_type')
ACCESS_LEVELS = ('not_protected', 'ref_protected')
# What the runner writes when GitLab gives no expiry (Go's zero time).
ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
# The server-side settings of a runner: option name -> GitLab's field.
SERVER_SETTINGS = (
    ('description', 'description'),
    ('tags', 'tag_list'),
    ('run_untagged', 'run_untagged'),
    ('locked', 'locked'),
    ('paused', 'paused'),
    ('access_level', 'access_level'),
    ('maximum_timeout', 'maximum_timeout'),
    ('maintenance_note', 'maintenance_note'),
)
# Options that only GitLab can apply; with a runner authentication token they live on the server.
SERVER_ONLY_OPTIONS = ('description', 'tags', 'run_untagged', 'locked', 'paused', 'access_level', 'maximum_timeout',
                       'maintenance_note')
# Keys of the entry the module writes from GitLab's answers, never from settings.
REGISTRATION_KEYS = ('name', 'url', 'id', 'token', 'token_obtained_at', 'token_expires_at')
# Go's names for Python's machine names, for the info GitLab shows until the runner itself reports.
GO_ARCHITECTURES = {'x86_64': 'amd64', 'amd64': 'amd64', 'aarch64': 'arm64', 'arm64': 'arm64', 'i686': '386',
                    'i386': '386', 'armv7l': 'arm', 'ppc64le': 'ppc64le', 's390x': 's390x', 'riscv64': 'riscv64'}
# The way in of each token option.
WAYS = ('token', 'registration_token', 'api_token')


class RegistrationError(Exception):
    """The registration cannot be done; the message says why and what to do."""


def is_authentication_token(token):
    return isinstance(token, str) and token.startswith(AUTHENTICATION_TOKEN_PREFIX)


def check_options(options):
    """Raise RegistrationError for options that do not fit together (beyond the argument spec)."""
    way = way_in(options)
    if options['state'] == 'present' and way is None:
        raise RegistrationError('one of token, registration_token or api_token is required with state=present')
    if options['state'] == 'present' and way == 'token':
        given = [name for name in SERVER_ONLY_OPTIONS if options.get(name) is not None]
        if given:
            raise RegistrationError(
                '%s cannot be set with token: a runner authentication token belongs to a runner whose settings '
                'live on GitLab (gitlab-runner register --token refuses them too); set them in GitLab, or let this '
                'module create the runner with api_token and keep them in sync' % ', '.join(given))
    if options['state'] == 'present' and way == 'api_token':
        if options.get('runner_type') is None:
            raise RegistrationError('runner_type is required with api_token (instance_type, group_type or project_type)')
        if options['runner_type'] == 'group_type' and options.get('group_id') is None:
            raise RegistrationError('group_id is required with runner_type=group_type')
        if options['runner_type'] == 'project_type' and options.get('project_id') is None:
            raise RegistrationError('project_id is required with runner_type=project_type')
    for name in ('group_id', 'project_id', 'runner_type'):
        if options['state'] == 'present' and options.get(name) is not None and way != 'api_token':
            raise RegistrationError('%s is only used with api_token' % name)
    if options.get('maximum_timeout') is not None and options['maximum_timeout'] < 600:
        raise RegistrationError('maximum_timeout must be at least 600 seconds (GitLab refuses less), got %d'
                                % options['maximum_timeout'])
    settings = options.get('settings') or {}
    taken = [key for key in REGISTRATION_KEYS + ('executor',) if key in settings]
    if taken:
        raise RegistrationError('settings must not contain %s: the module writes %s from its options and from '
                                "GitLab's answers" % (', '.join(taken), 'it' if len(taken) == 1 else 'them'))


def way_in(options):
    for way in WAYS:
        if options.get(way):
            return way
    return None


def environment_mapping(environment):
    """The environment option (a mapping, or a list of ``NAME=value`` strings) as an ordered mapping."""
    if environment is None:
        return {}
    if isinstance(environment, dict):
        return dict(environment)
    if isinstance(environment, (list, tuple)):
        mapping = {}
        for item in environment:
            if not isinstance(item, str) or '=' not in item or item.startswith('='):
                raise RegistrationError('environment list items must be NAME=value strings, got %r' % (item,))
            name, dummy, value = item.partition('=')
            mapping[name] = value
        return mapping
    raise RegistrationError('environment must be a mapping or a list of NAME=value strings, got %s'
                            % type(environment).__name__)


def parse_expiry(value):
    """GitLab's ``token_expires_at`` (ISO 8601 or null) as the datetime the runner writes."""
    if not value:
        return ZERO_TIME
    try:
        parsed = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    except (TypeError, ValueError):
        raise RegistrationError('GitLab answered a token_expires_at that is not a date: %r' % (value,))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def expiry_text(value):
    """An expiry for the module's result: ISO 8601, or None for none (Go's zero time)."""
    if value is None or value == ZERO_TIME:
        return None
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace('+00:00', 'Z')
    return str(value)


def wanted_server_settings(options):
    """GitLab's fields for the server-side options that are set (description defaults to the name)."""
    wanted = {}
    for option, field in SERVER_SETTINGS:
        value = options.get(option)
        if option == 'description' and value is None:
            value = options['name']
        if value is not None:
            wanted[field] = list(value) if option == 'tags' else value
    return wanted


def _current_value(runner, field):
    if field == 'paused' and 'paused' not in runner and 'active' in runner:
        return not runner['active']
    value = runner.get(field)
    if field == 'maintenance_note' and value is None:
        return ''
    return value


def server_settings_diff(runner, wanted):
    """{field: (current, wanted)} for each wanted field GitLab holds differently (tags compared as sets)."""
    differences = {}
    for field, value in wanted.items():
        current = _current_value(runner, field)
        if field == 'tag_list':
            same = sorted(set(current or [])) == sorted(set(value))
        else:
            same = current == value and type(current) is type(value)
        if not same:
            differences[field] = (current, value)
    return differences


def legacy_registration_body(options):
    """The body of ``POST /runners`` as ``gitlab-runner register`` sends it (common.RegisterRunnerRequest).

    The runner's defaults when an option is not set: locked, not paused, and
    untagged jobs taken when the runner has no tags.
    """
    tags = list(options.get('tags') or [])
    body = {
        'description': options.get('description') or options['name'],
        'run_untagged': options['run_untagged'] if options.get('run_untagged') is not None else not tags,
        'locked': options['locked'] if options.get('locked') is not None else True,
        'paused': bool(options.get('paused')),
        'info': runner_info(options),
    }
    if tags:
        body['tag_list'] = ','.join(tags)
    for option in ('access_level', 'maximum_timeout', 'maintenance_note'):
        if options.get(option):
            body[option] = options[option]
    return body


def create_runner_body(options):
    """The body of ``POST /user/runners``: the runner's type and owner and the settings that are set."""
    body = {'runner_type': options['runner_type']}
    if options['runner_type'] == 'group_type':
        body['group_id'] = options['group_id']
    if options['runner_type'] == 'project_type':
        body['project_id'] = options['project_id']
    body.update(wanted_server_settings(options))
    return body


def runner_info(options):
    """What GitLab shows about the runner until the runner reports itself (its own info replaces this)."""
    machine = platform.machine().lower()
    return {
        'name': 'behindproxy.gitlab_runner',
        'platform': platform.system().lower() or 'linux',
        'architecture': GO_ARCHITECTURES.get(machine, machine),
        'executor': options.get('executor') or '',
    }


class Verified:
    """A token GitLab accepted: the runner's id and the token's expiry."""

    def __init__(self, runner_id, expires_at):
        self.runner_id = runner_id
        self.expires_at = expires_at


# How often a running gitlab-runner rereads config.toml
# (common.ReloadConfigInterval, seconds).
RUNNER_RELOAD_SECONDS = 3


class Outcome:
    """What was done (or, in check mode, would be done) and what the entry needs.

    ``fields``: the registration keys to write into the entry (None: keep the
    entry's); ``undo``: callables that take back on GitLab what was created,
    should config.toml fail to take the new entry.
    """

    def __init__(self):
        self.action = 'none'
        self.server_changed = False
        self.runner_id = None
        self.expires_at = None
        self.fields = None
        self.settings_changes = {}
        self.remove_entry = False
        self.undo = []
        # Called once the entry is out of config.toml (see Registrar.absent).
        self.after_write = []
        self.notes = []


class Registrar:
    """Decides and does the GitLab side of one runner's registration.

    ``client``: a _gitlab_api.GitLabClient; ``options``: the module's
    parameters; ``system_id``: a _runner_system_id.SystemId (saved by the
    caller before anything is done, unless in check mode); ``now``: returns
    the current UTC datetime.
    """

    def __init__(self, client, options, system_id, check_mode=False, remember_secret=None, now=None):
        self.client = client
        self.options = options
        self.system_id = system_id
        self.check_mode = check_mode
        self.remember_secret = remember_secret or (lambda secret: None)
        self.now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
        # A verification of the entry's token made beforehand (verify_entries): a Future.
        self.entry_verification = None

    # ------------------------------------------------------------ calls

    def _call(self, method, endpoint, body=None, private_token=None, runner_token=None):
        headers = {}
        if private_token:
            headers['PRIVATE-TOKEN'] = private_token
        if runner_token:
            headers['Runner-Token'] = runner_token
        return self.client.call(method, endpoint, body, headers)

    @staticmethod
    def _failure(method, endpoint, response, advice=''):
        message = '%s %s%s answered %d %s' % (method, API_PREFIX, endpoint, response.status, response.reason)
        if response.message:
            message += ' (GitLab: %s)' % response.message
        if advice:
            message += ': ' + advice
        return GitLabApiError(message, response.status, response.message)

    @staticmethod
    def _malformed(method, endpoint, response, missing):
        """The error for an answer without what GitLab's holds; when it is not JSON at all, it says what came."""
        message = '%s %s%s answered %d %s without %s' % (method, API_PREFIX, endpoint, response.status,
                                                         response.reason, missing)
        if response.data is None:
            message += ('; the answer is not JSON (Content-Type %s: %r): something between this host and GitLab, '
                        'such as a proxy or a login page, answered in its place'
                        % (response.header('Content-Type'), response.message[:200]))
        return RegistrationError(message)

    def _learn(self, data):
        if isinstance(data, dict) and isinstance(data.get('token'), str) and data['token']:
            self.remember_secret(data['token'])

    def can_verify(self):
        """Verify records this host's manager: not in check mode with a system id that is not saved yet."""
        return self.system_id.saved or not self.check_mode

    def verify(self, token, what):
        """Verified for an accepted token, None for a refused one (403); anything else raises."""
        body = {'token': token, 'system_id': self.system_id.value, 'info': runner_info(self.options)}
        response = self._call('POST', 'runners/verify', body, runner_token=token)
        if response.status == 200:
            self._learn(response.data)
            data = response.data if isinstance(response.data, dict) else {}
            if not isinstance(data.get('id'), int):
                raise self._malformed('POST', 'runners/verify', response, 'a runner id (verifying %s)' % what)
            return Verified(data['id'], parse_expiry(data.get('token_expires_at')))
        if response.status == 403:
            return None
        advice = ''
        if response.status == 422:
            advice = ('GitLab keeps the runner but it has no project or group left (an orphaned runner): '
                      'delete it in GitLab and register again')
        raise self._failure('POST', 'runners/verify', response, 'verifying %s. %s' % (what, advice) if advice
                            else 'verifying %s' % what)

    def _delete(self, method, endpoint, body=None, private_token=None, runner_token=None, gone=(403, 404)):
        """True when GitLab removed it (204), False when it was already gone; anything else raises."""
        response = self._call(method, endpoint, body, private_token=private_token, runner_token=runner_token)
        if response.status in (200, 204):
            return True
        if response.status in gone:
            return False
        raise self._failure(method, endpoint, response)

    # ------------------------------------------------------- the entry

    def _registration_fields(self, token, verified):
        return {
            'id': verified.runner_id,
            'token': token,
            'token_obtained_at': self.now().replace(microsecond=0),
            'token_expires_at': verified.expires_at,
        }

    @staticmethod
    def _entry_token(entry):
        token = (entry or {}).get('token')
        return token if isinstance(token, str) and token else None

    def _keep(self, outcome, entry, verified):
        """A working registration: the entry keeps its token; only a missing or wrong id is put right."""
        outcome.runner_id = verified.runner_id
        outcome.expires_at = entry.get('token_expires_at', verified.expires_at)
        if entry.get('id') != verified.runner_id:
            outcome.fields = {'id': verified.runner_id}
        return outcome

    def _rewrite(self, outcome, token, verified, action):
        outcome.action = action
        outcome.server_changed = action in ('registered', 'created')
        outcome.runner_id = verified.runner_id
        outcome.expires_at = verified.expires_at
        outcome.fields = self._registration_fields(token, verified)
        return outcome

    def _predict(self, outcome, action, note):
        outcome.action = action
        outcome.server_changed = action in ('registered', 'created', 'updated', 'unregistered')
        # Placeholders for the check-mode diff: GitLab has not been asked for the real values.
        outcome.fields = {'id': 0, 'token': MASK, 'token_obtained_at': self.now().replace(microsecond=0),
                          'token_expires_at': ZERO_TIME}
        outcome.notes.append(note)
        return outcome

    @staticmethod
    def _taken_back(exc, outcome, what):
        """``exc``, which stops this runner after ``what`` was created on GitLab, once that is undone.

        The error to raise: its message says whether the creation was taken
        back or, when that failed too, what to delete in GitLab - so the next
        run does not find an orphan runner and create a second one.
        """
        failures = undo_all([outcome])
        if failures:
            return RegistrationError('%s; deleting %s failed too (%s): delete it in GitLab'
                                     % (str(exc).rstrip('.'), what, '; '.join(failures)))
        return RegistrationError('%s; %s was deleted again: nothing of it is left on GitLab'
                                 % (str(exc).rstrip('.'), what))

    def _undo_manager(self, token):
        system_id = self.system_id.value

        def undo():
            self._delete('DELETE', 'runners/managers', {'token': token, 'system_id': system_id}, runner_token=token)
        return undo

    # ----------------------------------------------------------- present

    def present(self, entry):
        """The Outcome of state=present for the config.toml entry ``entry`` (plain data or None)."""
        entry = entry or {}
        entry_token = self._entry_token(entry)
        if entry_token:
            self.remember_secret(entry_token)
        way = way_in(self.options)
        if way == 'token':
            return self._present_with_token(entry, entry_token)
        if way == 'registration_token':
            return self._present_with_registration_token(entry, entry_token)
        return self._present_with_api_token(entry, entry_token)

    def _verify_entry(self, entry_token):
        if self.entry_verification is not None:
            # Its answer, or what it raised.
            return self.entry_verification.result()
        return self.verify(entry_token, 'the token in config.toml')

    def entry_token_to_verify(self, entry):
        """The token of ``entry`` that present() will verify first, or None."""
        token = self._entry_token(entry)
        if token and self.options['state'] == 'present' and self.can_verify():
            return token
        return None

    def _present_with_token(self, entry, entry_token):
        outcome = Outcome()
        token = self.options['token']
        if not self.can_verify():
            if entry_token == token:
                outcome.notes.append('check mode: no system id saved yet, the token was not verified')
                return outcome
            return self._predict(outcome, 'verified', 'check mode: the token would be verified and written')
        if entry_token:
            current = self._verify_entry(entry_token)
            if current is not None:
                if token == entry_token:
                    return self._keep(outcome, entry, current)
                given = self.verify(token, 'the token option')
                if given is None or given.runner_id == current.runner_id:
                    # The runner rotated its token (the inventory's is the older one) or
                    # both are the same runner's: the entry's token is the one to keep.
                    if given is None:
                        outcome.notes.append('the token option is refused but the token in config.toml works for '
                                             'runner %d: kept (the runner rotated its token)' % current.runner_id)
                    return self._keep(outcome, entry, current)
                outcome.undo.append(self._undo_manager(token))
                return self._rewrite(outcome, token, given, 'verified')
        given = self.verify(token, 'the token option') if token != entry_token or not entry_token else None
        if given is None:
            raise RegistrationError(
                'POST %srunners/verify refused the token option (403)%s: the runner was deleted in GitLab, or the '
                'token is wrong or expired; create the runner again in GitLab and use its new token'
                % (API_PREFIX, ', and config.toml holds no working token' if entry_token else ''))
        outcome.undo.append(self._undo_manager(token))
        return self._rewrite(outcome, token, given, 'verified')

    def _present_with_registration_token(self, entry, entry_token):
        outcome = Outcome()
        if entry_token:
            if not self.can_verify():
                outcome.notes.append('check mode: no system id saved yet, the token in config.toml was not verified')
                return outcome
            current = self._verify_entry(entry_token)
            if current is not None:
                return self._keep(outcome, entry, current)
            outcome.notes.append('the token in config.toml is refused: registering again')
        if self.check_mode:
            return self._predict(outcome, 'registered', 'check mode: the runner would be registered')
        body = legacy_registration_body(self.options)
        body['token'] = self.options['registration_token']
        response = self._call('POST', 'runners', body, runner_token=self.options['registration_token'])
        self._learn(response.data)
        if response.status == 410:
            raise self._failure(
                'POST', 'runners', response,
                'registration tokens are disabled on this GitLab instance (they are deprecated and switched off by '
                'default since GitLab 17.0). Create the runner with an access token instead: give api_token (a '
                'personal, group or project access token with the create_runner scope) and runner_type '
                '(and group_id or project_id) in place of registration_token')
        if response.status == 403:
            raise self._failure('POST', 'runners', response, 'the registration token is refused (wrong, reset, or '
                                'for another instance)')
        if response.status != 201:
            raise self._failure('POST', 'runners', response, 'registering the runner')
        data = response.data if isinstance(response.data, dict) else {}
        token = data.get('token') if isinstance(data.get('token'), str) else None

        def undo():
            self._delete('DELETE', 'runners', {'token': token}, runner_token=token)
        if token:
            outcome.undo.append(undo)
        try:
            if not isinstance(data.get('id'), int) or not token:
                raise self._malformed('POST', 'runners', response, 'a runner id and token')
            return self._rewrite(outcome, token, Verified(data['id'], parse_expiry(data.get('token_expires_at'))),
                                 'registered')
        except (RegistrationError, GitLabApiError) as exc:
            if not outcome.undo:
                raise
            raise self._taken_back(exc, outcome, 'the runner this run registered') from exc

    def _present_with_api_token(self, entry, entry_token):
        outcome = Outcome()
        current = None
        if entry_token:
            if not self.can_verify():
                outcome.notes.append('check mode: no system id saved yet, the token in config.toml was not verified')
                if isinstance(entry.get('id'), int):
                    self._sync_settings(outcome, entry['id'])
                return outcome
            current = self._verify_entry(entry_token)
            if current is None:
                outcome.notes.append('the token in config.toml is refused: creating the runner again')
        if current is not None:
            self._keep(outcome, entry, current)
            self._sync_settings(outcome, current.runner_id)
            return outcome
        if self.check_mode:
            return self._predict(outcome, 'created', 'check mode: the runner would be created')
        api_token = self.options['api_token']
        response = self._call('POST', 'user/runners', create_runner_body(self.options), private_token=api_token)
        self._learn(response.data)
        if response.status in (401, 403):
            raise self._failure('POST', 'user/runners', response,
                                'the api_token is refused or may not create this runner (it needs the create_runner '
                                'scope and the right to add runners to the instance, group or project)')
        if response.status != 201:
            raise self._failure('POST', 'user/runners', response, 'creating the runner')
        data = response.data if isinstance(response.data, dict) else {}
        runner_id = data.get('id') if isinstance(data.get('id'), int) else None
        token = data.get('token') if isinstance(data.get('token'), str) else None

        def undo():
            try:
                self._delete('DELETE', 'runners/%d' % runner_id, private_token=api_token, gone=(404,))
            except GitLabApiError as exc:
                if exc.status not in (401, 403) or not token:
                    raise
                # An access token with the create_runner scope alone may not
                # delete runners; the runner's own token may delete it.
                self._delete('DELETE', 'runners', {'token': token}, runner_token=token, gone=(404,))
        if runner_id is not None:
            outcome.undo.append(undo)
        try:
            if runner_id is None or not token:
                raise self._malformed('POST', 'user/runners', response, 'a runner id and token')
            verified = self.verify(token, 'the token GitLab just created')
            if verified is None:
                raise RegistrationError('POST %srunners/verify refused the token GitLab created for runner %d a '
                                        'moment ago' % (API_PREFIX, runner_id))
            return self._rewrite(outcome, token, verified, 'created')
        except (RegistrationError, GitLabApiError) as exc:
            if not outcome.undo:
                raise
            raise self._taken_back(exc, outcome, 'the runner this run created (id %s)' % runner_id) from exc

    def _sync_settings(self, outcome, runner_id):
        """Compare the runner's server-side settings with the options and PUT the ones that differ."""
        api_token = self.options['api_token']
        endpoint = 'runners/%d' % runner_id
        response = self._call('GET', endpoint, private_token=api_token)
        if response.status != 200:
            raise self._failure('GET', endpoint, response, 'reading the runner\'s settings needs an api_token with '
                                'the manage_runner, read_api or api scope and access to the runner')
        current = response.data if isinstance(response.data, dict) else {}
        differences = server_settings_diff(current, wanted_server_settings(self.options))
        if not differences:
            return outcome
        outcome.settings_changes = dict((field, {'before': before, 'after': after})
                                        for field, (before, after) in differences.items())
        outcome.action = 'updated'
        outcome.server_changed = True
        if self.check_mode:
            return outcome
        body = dict((field, after) for field, (before, after) in differences.items())
        response = self._call('PUT', endpoint, body, private_token=api_token)
        if response.status != 200:
            raise self._failure('PUT', endpoint, response, 'changing the runner\'s settings needs an api_token with '
                                'the manage_runner or api scope')
        return outcome

    # ------------------------------------------------------------ absent

    def absent(self, entry):
        """The Outcome of state=absent: unregister what the entry holds, then the entry goes."""
        outcome = Outcome()
        if entry is None:
            return outcome
        outcome.remove_entry = True
        outcome.action = 'unregistered'
        token = self._entry_token(entry)
        if token:
            self.remember_secret(token)
        runner_id = entry.get('id') if isinstance(entry.get('id'), int) and entry.get('id') > 0 else None
        outcome.runner_id = runner_id
        delete_runner = self.options.get('delete_runner')
        api_token = self.options.get('api_token')
        if delete_runner and api_token and runner_id:
            endpoint, body, kwargs = 'runners/%d' % runner_id, None, {'private_token': api_token, 'gone': (404,)}
        elif not token:
            outcome.notes.append('the entry holds no token: nothing to unregister on GitLab')
            return outcome
        elif is_authentication_token(token) and not delete_runner:
            if not self.system_id.saved:
                outcome.notes.append('no system id saved on this host: no runner manager of it to remove')
                return outcome
            endpoint, body, kwargs = ('runners/managers', {'token': token, 'system_id': self.system_id.value},
                                      {'runner_token': token})
        else:
            endpoint, body, kwargs = 'runners', {'token': token}, {'runner_token': token}
        if self.check_mode:
            outcome.server_changed = True
            outcome.notes.append('check mode: DELETE %s%s would be called' % (API_PREFIX, endpoint))
            return outcome
        outcome.server_changed = self._delete('DELETE', endpoint, body, **kwargs)
        if not outcome.server_changed:
            outcome.notes.append('DELETE %s%s: already gone on GitLab' % (API_PREFIX, endpoint))
        if endpoint == 'runners/managers' and outcome.server_changed:
            # GitLab makes a manager again for any request that carries the
            # token and the system id, and the running runner keeps polling
            # with the entry until it rereads config.toml (every
            # RUNNER_RELOAD_SECONDS). Once the entry is gone and that time has
            # passed (run_after_write waits), a second DELETE removes a
            # manager made in between.
            outcome.after_write.append(lambda: self._delete_again(outcome, endpoint, body, kwargs))
        return outcome

    def _delete_again(self, outcome, endpoint, body, kwargs):
        if self._delete('DELETE', endpoint, body, **kwargs):
            outcome.server_changed = True
            outcome.notes.append('DELETE %s%s again after the runner reread config.toml: it had polled in between'
                                 % (API_PREFIX, endpoint))


# How many verifications of config.toml's tokens are under way at once.
VERIFY_AT_ONCE = 4


def verify_entries(registrars_and_entries, at_once=VERIFY_AT_ONCE):
    """Verify the tokens config.toml holds for present runners, a few at a time, ahead of present().

    On a host whose runners are registered this is all a run asks GitLab -
    one POST /runners/verify per runner - and the answers come in parallel
    instead of one after the other. Each registrar's present() takes its
    answer (or raises what the verification raised) in its turn, so that
    the runners are still decided, and fail, in the order given. Returns
    the executor, to shut down once present() has been called for all.
    """
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=at_once)
    for registrar, entry in registrars_and_entries:
        token = registrar.entry_token_to_verify(entry)
        if token:
            registrar.remember_secret(token)
            registrar.entry_verification = executor.submit(registrar.verify, token, 'the token in config.toml')
    return executor


def undo_all(outcomes):
    """Take back on GitLab what the outcomes created; the messages of what could not be."""
    failures = []
    for outcome in outcomes:
        for undo in outcome.undo:
            try:
                undo()
            except GitLabApiError as exc:
                failures.append(str(exc))
    return failures


def run_after_write(outcomes, sleep):
    """What the outcomes left for after config.toml was written: one wait, then each call.

    The wait (for the running runner to reread config.toml) is made once for
    all the outcomes, however many runners lost their entry. Returns
    (outcome, GitLabApiError) for each call that failed.
    """
    pending = [outcome for outcome in outcomes if outcome.after_write]
    if not pending:
        return []
    sleep(RUNNER_RELOAD_SECONDS + 0.5)
    failures = []
    for outcome in pending:
        for call in outcome.after_write:
            try:
                call()
            except GitLabApiError as exc:
                failures.append((outcome, exc))
    return failures


# --------------------------------------------------------- config.toml

def select_entry(data, name, url, find_runner):
    """The ``[[runners]]`` entry of this runner in plain config data, and the url to select it by.

    The entry named ``name`` with ``url``; failing that, a single entry named
    ``name`` that has no url yet (one that runner_config made before the
    runner was registered), which is then completed rather than duplicated:
    the url returned is None and the url goes into the entry as a setting.
    ``find_runner`` is _toml_document.find_runner.
    """
    return select_entries(data, [(name, url)], find_runner)[0]


def select_entries(data, runners, find_runner):
    """select_entry for each (name, url) of ``runners``, in order.

    An entry without url is completed for the first runner that may take it
    only: the others get a new entry.
    """
    entries = data.get('runners', [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise RegistrationError('"runners" in config.toml is not an array of tables')
    claimed = set()
    selected = []
    for name, url in runners:
        index = find_runner(entries, name, url)
        if index is not None:
            selected.append((entries[index], url))
            continue
        unnamed = [position for position, entry in enumerate(entries)
                   if entry.get('name') == name and 'url' not in entry]
        if len(unnamed) == 1 and unnamed[0] not in claimed:
            claimed.add(unnamed[0])
            selected.append((entries[unnamed[0]], None))
        else:
            selected.append((None, url))
    return selected


def entry_settings(fields, options, url_setting=None):
    """The keys the module merges into the entry: registration ``fields`` first, then executor and settings."""
    settings = {}
    if url_setting is not None:
        settings['url'] = url_setting
    if fields:
        settings.update(fields)
    settings['executor'] = options['executor']
    settings.update(options.get('settings') or {})
    return settings
