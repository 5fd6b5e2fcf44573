# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The gitlab_runner role's filters: its runners as runner_register takes them, and the runners it does not list.

gitlab_runner_entries computes every runner's job environment and settings
in one expression, so that the role registers and configures all of a host's
runners in one runner_register task; gitlab_runner_unlisted tells the
runners of config.toml that the role's list does not hold. Their
documentation is in the YAML files of the same names beside this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _proxy_strings
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._apt import apt_proxy_configuration
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._gitlab_api import bypasses_proxy
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import UrlError, parse_url
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._plain_data import plain as _plain
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import normal_url

# Points git at the job's proxy (http.proxy, for every scheme), with the job's own $HTTP_PROXY at job time.
# Only shell built-ins: git reads its configuration from these variables (git 2.31 and later), so the proxy URL,
# credentials included, is never an argument of a program, readable in the host's process table; `git config
# --global http.proxy "$HTTP_PROXY"` would be. The runner runs this script in the shell of its git fetch, after the
# user's own script of that key: the setting is added after the GIT_CONFIG_* ones that script may have exported
# (GIT_CONFIG_COUNT, 0 when unset), never in their place, and being the last, it wins over a proxy of theirs.
GIT_PROXY_SCRIPT = ('export "GIT_CONFIG_KEY_${GIT_CONFIG_COUNT:-0}=http.proxy" '
                    '"GIT_CONFIG_VALUE_${GIT_CONFIG_COUNT:-0}=$HTTP_PROXY" '
                    '"GIT_CONFIG_COUNT=$((${GIT_CONFIG_COUNT:-0} + 1))"')
# gitlab-runner 15.9 added pre_get_sources_script and 17.0 removed pre_clone_script.
PRE_GET_SOURCES_SINCE = (15, 9)
# What an item of gitlab_runner_runners may hold: runner_register's options of one runner, but proxy (the
# role's) and the settings and environment the role computes from the item's own.
RUNNER_KEYS = ('name', 'url', 'state', 'token', 'registration_token', 'api_token', 'runner_type', 'group_id',
               'project_id', 'description', 'tags', 'run_untagged', 'locked', 'paused', 'access_level',
               'maximum_timeout', 'maintenance_note', 'executor', 'settings', 'environment', 'delete_runner',
               'ca_file', 'validate_certs')
COMPUTED_KEYS = ('settings', 'environment')
WAYS_IN = ('token', 'registration_token', 'api_token')
RUNNER_TYPES = ('instance_type', 'group_type', 'project_type')
GITLAB_URL = re.compile(r'^https?://[^/\s]+')
ADDITION_KEYS = ('no_proxy', 'pre_build_script', 'services', 'volumes', 'environment', 'settings')
PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'no_proxy')
ADDITIONS = '__behindproxy_runner_additions'


def _merged_under(base, top):
    """``top`` deep-merged over ``base``: tables merge, and ``top``'s scalars and lists win."""
    merged = _plain(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged_under(merged[key], value)
        else:
            merged[key] = _plain(value)
    return merged


def _version(text):
    """The leading numbers of a runner version ('17.11.0' -> (17, 11, 0)); None when there are none."""
    numbers = re.findall(r'[0-9]+', re.split(r'[~-]', str(text or ''), maxsplit=1)[0])
    return tuple(int(number) for number in numbers) or None


def _git_key(runner_version):
    version = _version(runner_version)
    return 'pre_clone_script' if version is not None and version < PRE_GET_SOURCES_SINCE else 'pre_get_sources_script'


def _aliases(service):
    """The aliases of a [[runners.docker.services]] table (the runner splits ``alias`` at commas and spaces)."""
    return set(alias for alias in re.split(r'[,\s]+', str(service.get('alias') or '')) if alias)


def _check_runner(runner):
    """Raise AnsibleFilterError naming the item and what it needs, and the ways in it gives (never their values)."""
    if not isinstance(runner, Mapping):
        raise AnsibleFilterError('gitlab_runner_entries: each item of gitlab_runner_runners must be a mapping, got %s'
                                 % type(runner).__name__)
    name = runner.get('name')
    ways = [way for way in WAYS_IN if way in runner]
    unknown = [str(key) for key in runner if key not in RUNNER_KEYS]
    present = runner.get('state', 'present') == 'present'
    runner_type = runner.get('runner_type')
    usable = (
        isinstance(name, str) and name
        and isinstance(runner.get('url'), str) and GITLAB_URL.match(runner['url'])
        and not unknown
        and runner.get('state', 'present') in ('present', 'absent')
        and len(ways) == (1 if present else len(ways)) and len(ways) <= 1
        and ('api_token' not in runner or runner_type in RUNNER_TYPES)
        and (runner_type != 'group_type' or 'group_id' in runner)
        and (runner_type != 'project_type' or 'project_id' in runner)
        and isinstance(runner.get('environment', {}), Mapping)
        and isinstance(runner.get('settings', {}), Mapping)
    )
    if usable:
        return
    message = ("gitlab_runner_runners item '%s': it needs a name, a url (http or https), state present or absent, "
               "and, to be present, exactly one of token (glrt-...), registration_token or api_token (given: %s); "
               "api_token needs runner_type (instance_type, group_type with group_id, project_type with "
               "project_id); environment and settings are mappings."
               % (name if isinstance(name, str) and name else '(no name)', ', '.join(ways) or 'none'))
    if unknown:
        message += ' Unknown keys: %s; known: %s.' % (', '.join(unknown), ', '.join(RUNNER_KEYS))
    raise AnsibleFilterError(message)


def _check_additions(additions, runners):
    """Raise AnsibleFilterError for additions the role cannot apply; values are never shown (they may be secret)."""
    if additions is None:
        return {}
    if not isinstance(additions, Mapping):
        raise AnsibleFilterError('gitlab_runner_entries: %s must be a mapping of runner names to additions, got %s'
                                 % (ADDITIONS, type(additions).__name__))
    names = set(runner.get('name') for runner in runners)
    unknown = sorted(str(name) for name in additions if name not in names)
    if unknown:
        raise AnsibleFilterError('gitlab_runner_entries: %s names runners that gitlab_runner_runners does not: %s'
                                 % (ADDITIONS, ', '.join(unknown)))
    for name, addition in additions.items():
        where = '%s[%r]' % (ADDITIONS, name)
        if not isinstance(addition, Mapping):
            raise AnsibleFilterError('gitlab_runner_entries: %s must be a mapping with any of %s, got %s'
                                     % (where, ', '.join(ADDITION_KEYS), type(addition).__name__))
        extra = sorted(str(key) for key in addition if key not in ADDITION_KEYS)
        if extra:
            raise AnsibleFilterError('gitlab_runner_entries: %s has unknown keys %s; known: %s'
                                     % (where, ', '.join(extra), ', '.join(ADDITION_KEYS)))
        expected = (('pre_build_script', str, 'a string'), ('settings', Mapping, 'a mapping'),
                    ('services', list, 'a list of mappings'), ('no_proxy', (list, str), 'a list of host names'),
                    ('volumes', list, 'a list of volume strings'), ('environment', Mapping, 'a mapping'))
        for key, kind, description in expected:
            if addition.get(key) is not None and not isinstance(addition[key], kind):
                raise AnsibleFilterError('gitlab_runner_entries: %s.%s must be %s, got %s'
                                         % (where, key, description, type(addition[key]).__name__))
        for index, service in enumerate(addition.get('services') or []):
            if not isinstance(service, Mapping) or not isinstance(service.get('name'), str) or not service['name']:
                raise AnsibleFilterError('gitlab_runner_entries: %s.services[%d] must be a mapping with a name (the '
                                         'image), as a [[runners.docker.services]] table' % (where, index))
    return additions


def _with_services(settings, services, where):
    """The services appended after the runner's own, but for those whose alias (or name) its own already have."""
    docker = settings.setdefault('docker', {})
    if docker is None:
        # The runner's settings remove [runners.docker]: nothing to add to.
        return
    if not isinstance(docker, Mapping):
        raise AnsibleFilterError('gitlab_runner_entries: the settings of %s have docker as %s, not a table: its '
                                 'services cannot be added' % (where, type(docker).__name__))
    own = docker.get('services') or []
    if not isinstance(own, list) or not all(isinstance(service, Mapping) for service in own):
        raise AnsibleFilterError('gitlab_runner_entries: the settings of %s have docker.services that is not a '
                                 'list of tables: the additional services cannot be added' % where)
    taken = set().union(*(_aliases(service) for service in own)) if own else set()
    names = set(service.get('name') for service in own)
    added = []
    for service in services:
        aliases = _aliases(service)
        if (aliases & taken) if aliases else service['name'] in names:
            continue
        added.append(_plain(service))
    if added:
        docker['services'] = list(own) + added


def _volume_destination(volume):
    """The path inside the container of a [runners.docker] volume: "/dest", "/src:/dest" or "/src:/dest:mode"."""
    parts = str(volume).split(':')
    return parts[1] if len(parts) > 1 else parts[0]


def _with_volumes(settings, volumes, where):
    """The volumes appended after the runner's own, but for those whose container path its own already use."""
    docker = settings.setdefault('docker', {})
    if docker is None:
        return
    if not isinstance(docker, Mapping):
        raise AnsibleFilterError('gitlab_runner_entries: the settings of %s have docker as %s, not a table: its '
                                 'volumes cannot be added' % (where, type(docker).__name__))
    own = docker.get('volumes') or []
    if not isinstance(own, list):
        raise AnsibleFilterError('gitlab_runner_entries: the settings of %s have docker.volumes that is not a '
                                 'list: the additional volumes cannot be added' % where)
    taken = set(_volume_destination(volume) for volume in own)
    added = [volume for volume in volumes if _volume_destination(volume) not in taken]
    if added:
        docker['volumes'] = list(own) + added


def _with_no_proxy(environment, entries):
    """NO_PROXY and no_proxy, both the same, with ``entries`` merged in; only where the jobs have a proxy."""
    if not any(name.lower() in PROXY_VARIABLES for name in environment):
        return environment
    try:
        merged, dummy_warnings = _proxy_strings.merge_no_proxy(environment.get('NO_PROXY'),
                                                               environment.get('no_proxy'), entries)
    except ValueError as error:
        raise AnsibleFilterError('gitlab_runner_entries: %s' % error) from None
    environment['NO_PROXY'] = environment['no_proxy'] = merged
    return environment


def _present_entry(runner, entry, proxy_environment, compose_project_name, git_key, addition):
    where = 'runner %r' % (runner['name'],)
    own_settings = runner.get('settings') or {}
    if not isinstance(own_settings, Mapping):
        raise AnsibleFilterError('gitlab_runner_entries: the settings of %s must be a mapping, got %s'
                                 % (where, type(own_settings).__name__))
    settings = _merged_under(addition.get('settings') or {}, own_settings)
    if proxy_environment:
        # After the runner's own script of that key, never instead of it.
        settings[git_key] = '\n'.join(([settings[git_key]] if settings.get(git_key) else []) + [GIT_PROXY_SCRIPT])
    if addition.get('pre_build_script'):
        settings['pre_build_script'] = '\n'.join(
            ([settings['pre_build_script']] if settings.get('pre_build_script') else []) + [addition['pre_build_script']])
    if addition.get('services'):
        _with_services(settings, addition['services'], where)
    if addition.get('volumes'):
        _with_volumes(settings, addition['volumes'], where)
    environment = dict(proxy_environment or {})
    if compose_project_name:
        environment['COMPOSE_PROJECT_NAME'] = compose_project_name
    # Under the runner's own variables, which win.
    environment.update(addition.get('environment') or {})
    own_environment = runner.get('environment') or {}
    if not isinstance(own_environment, Mapping):
        raise AnsibleFilterError('gitlab_runner_entries: the environment of %s must be a mapping, got %s'
                                 % (where, type(own_environment).__name__))
    environment.update(own_environment)
    if addition.get('no_proxy'):
        environment = _with_no_proxy(environment, addition['no_proxy'])
    entry['settings'] = settings
    entry['environment'] = environment
    return entry


def _service_no_proxy(no_proxy):
    """The runner service's NO_PROXY as one string, from a string or a list of entries."""
    if isinstance(no_proxy, str):
        return no_proxy
    if isinstance(no_proxy, list) and all(isinstance(entry, str) for entry in no_proxy):
        return ','.join(no_proxy)
    raise AnsibleFilterError('gitlab_runner_entries: no_proxy must be a string or a list of strings (the runner '
                             "service's NO_PROXY), got %s" % type(no_proxy).__name__)


def gitlab_runner_entries(runners, environment=None, compose_project_name='', runner_version='',
                          http_proxy='', https_proxy='', additions=None, remove=None, no_proxy=''):
    if not isinstance(runners, list):
        raise AnsibleFilterError('gitlab_runner_entries: expected gitlab_runner_runners, a list of runners, got %s'
                                 % type(runners).__name__)
    for runner in runners:
        _check_runner(runner)
    additions = _check_additions(additions, runners)
    git_key = _git_key(runner_version)
    service_no_proxy = _service_no_proxy(no_proxy)

    def proxy_for(url):
        # As the runner service decides (Go's ProxyFromEnvironment with the service's variables): the proxy of the
        # URL's scheme, none for localhost, loopback and what the service's NO_PROXY names.
        proxy = https_proxy if str(url).startswith('https:') else http_proxy
        try:
            return '' if proxy and bypasses_proxy(url, service_no_proxy) else proxy
        except UrlError as error:
            raise AnsibleFilterError('gitlab_runner_entries: %s' % error) from None

    entries = []
    for runner in runners:
        entry = dict((key, _plain(value)) for key, value in runner.items() if key not in COMPUTED_KEYS)
        entry['proxy'] = proxy_for(runner.get('url', ''))
        if runner.get('state', 'present') == 'present':
            entry = _present_entry(runner, entry, environment, compose_project_name, git_key,
                                   additions.get(runner['name']) or {})
        entries.append(entry)
    for unlisted in remove or []:
        entries.append({'name': unlisted['name'], 'url': unlisted['url'], 'state': 'absent',
                        'proxy': proxy_for(unlisted['url'])})
    return entries


def gitlab_runner_unlisted(in_config, runners):
    """The runners of config.toml (``in_config``: each a mapping with name and url) that ``runners`` does not list.

    A runner is its name AND its url, as everywhere else (runner_config,
    runner_register): after GitLab moved, the entry with the old url is
    unlisted, token and all, though its name is listed. An entry without a
    url whose name is listed is not: runner_register completes it.
    """
    for name, value in (('the runners of config.toml', in_config), ('gitlab_runner_runners', runners)):
        if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
            raise AnsibleFilterError('gitlab_runner_unlisted: %s must be a list of mappings with name and url, got %s'
                                     % (name, type(value).__name__))
    listed = set((runner.get('name'), normal_url(runner.get('url'))) for runner in runners)
    listed_names = set(name for name, dummy_url in listed)
    return [dict(name=entry.get('name'), url=entry.get('url')) for entry in in_config
            if (entry.get('name'), normal_url(entry.get('url'))) not in listed
            and not (entry.get('url') is None and entry.get('name') in listed_names)]


def gitlab_runner_apt_proxy(repository_proxy, repository_url, key_url):
    """The apt.conf lines that send apt to the repository's host through ``repository_proxy`` ('' for none).

    Checks the role's repository variables on the way, each error naming
    its variable with the URL's password masked: the repository URL without
    credentials (a source list is readable by all), the key URL an http(s)
    URL, the proxy one that apt.conf can carry in a quoted value.
    """
    try:
        parse_url(key_url, 'gitlab_runner_repository_key_url')
        return apt_proxy_configuration(repository_url, repository_proxy, 'gitlab_runner_repository_url',
                                       'gitlab_runner_repository_proxy')
    except (ValueError, UrlError) as error:
        raise AnsibleFilterError('gitlab_runner_apt_proxy: %s' % error) from None


class FilterModule:
    """gitlab_runner role filters of behindproxy.gitlab_runner."""

    def filters(self):
        return {'gitlab_runner_entries': gitlab_runner_entries, 'gitlab_runner_unlisted': gitlab_runner_unlisted,
                'gitlab_runner_apt_proxy': gitlab_runner_apt_proxy}
