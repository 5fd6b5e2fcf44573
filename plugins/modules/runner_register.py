#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: runner_register
short_description: Register GitLab Runners through GitLab's REST API and write their config.toml entries
version_added: 1.0.0
description:
  - Registers one runner (O(name), O(url) and the other options of one runner), or a host's whole list of runners
    in one call (O(runners)), with GitLab through GitLab's REST API, from the managed host (through its proxy),
    without the C(gitlab-runner) command and without a token on any command line, and writes the runner's
    C([[runners]]) entry into C(config.toml) with the code of M(behindproxy.gitlab_runner.runner_config), so that
    comments, the other runners and the keys the runner writes itself stay as they are.
  - "Three ways in, exactly one per runner: O(token), a runner authentication token (C(glrt-...)) made in GitLab,
    verified with C(POST /api/v4/runners/verify) and this host's system id; O(registration_token), a legacy
    registration token, with C(POST /api/v4/runners); O(api_token), an access token with the C(create_runner)
    scope, which creates the runner with C(POST /api/v4/user/runners) and verifies its new token."
  - With O(api_token) the runner's server-side settings (O(description), O(tags), O(run_untagged), O(locked),
    O(paused), O(access_level), O(maximum_timeout), O(maintenance_note)) are also kept in sync on later runs
    (C(GET) and C(PUT /api/v4/runners/:id)), and reported as a change only when they differ - which
    C(gitlab-runner register --token) cannot do. Only the options that are set are compared.
  - An entry with this O(name) and O(url) whose token GitLab accepts is a working registration - nothing is
    created then. Its token is the runner's own (the runner rotates it and rewrites the entry), so it is never
    replaced by the older token of the inventory; only an O(token) that belongs to a different runner replaces
    it. A runner whose token GitLab refuses (deleted in GitLab) is registered again.
  - The system id, C(.runner_system_id) beside C(config.toml), is read, or made as the runner makes it
    (C(s_) and 12 hex digits derived from the machine id; C(r_) and 12 random letters and digits without one;
    mode C(0600)), so that the runner uses the same id later.
  - O(state=absent) unregisters what the entry holds - this host's runner manager for a C(glrt-) token, the
    runner for a legacy one, the whole runner with O(delete_runner) - and removes the entry. A runner already
    gone on GitLab is not an error. GitLab makes a runner manager again for every request that carries its
    token and system id, and a running runner polls with the entry until it rereads config.toml (every 3
    seconds), so a manager is removed a second time 3.5 seconds after its entry is gone.
  - Requests that GitLab answers C(429), C(408), C(500), C(502), C(503), C(504) or 512 and above are retried
    like GitLab Runner 18.3 and newer do it, five attempts in all - wait until C(RateLimit-ResetTime) (one
    minute when it is not a date), else C(Retry-After) seconds, else a jittered exponential backoff from 0.1 s
    to 60 s - and never longer than O(max_wait) in all.
  - Tokens are never returned, shown in the diff or put into messages; every token learned from GitLab is
    masked in the module's output too.
  - "With O(runners), config.toml is read once, every runner's edit is checked in one dry run before anything is
    called on GitLab, GitLab is called for each runner in the order given (its API has no batch; a runner with a
    working registration costs one C(POST /api/v4/runners/verify), and these verifications, which only confirm the
    entries, are made four at a time ahead of the rest), and all the entries are written in one atomic write, with the lock
    and the re-read of a single run. The wait before the second removal of managers is made once for all the
    runners that need it."
  - "When a runner of O(runners) fails on GitLab (a refused token, a rate limit that does not end, ...), the runners
    after it are left as they are (nothing registered, created, changed or removed for them, their entries
    untouched), the runners before it are written to config.toml all the same (a registration made on GitLab is
    never lost), and the task fails with a message naming the runner, the reason, the runners written and the
    runners left as they are. The next run starts again from config.toml: what was written is not done again."
author:
  - behindproxy developers (@behindproxy)
extends_documentation_fragment:
  - behindproxy.gitlab_runner.safe_write
requirements:
  - Python 3.11 or newer on the managed host (for C(tomllib)).
  - tomlkit on the managed host (Debian and Ubuntu package C(python3-tomlkit); tomlkit 0.11.7 or newer).
attributes:
  check_mode:
    support: full
    description:
      - Can run in check mode and return changed status prediction without modifying target.
      - Nothing that creates, changes or deletes anything on GitLab is called. C(POST /api/v4/runners/verify)
        (which records this host as one of the runner's managers) is called only with a system id the host has
        already saved; otherwise the result is predicted from C(config.toml) alone.
  diff_mode:
    support: full
    description: Shows C(config.toml) before and after, tokens masked.
options:
  path:
    description:
      - Path of the runner's configuration file. The system id file is C(.runner_system_id) in its directory.
    type: path
    default: /etc/gitlab-runner/config.toml
  name:
    description:
      - The C(name) of the C([[runners]]) entry, which only C(config.toml) knows.
      - An entry with this name and no C(url) yet (for example made by M(behindproxy.gitlab_runner.runner_config)
        before the registration) is completed instead of a second one being added.
      - Required, with O(url), unless O(runners) is given; mutually exclusive with O(runners).
    type: str
  url:
    description:
      - The GitLab instance, for example V(https://gitlab.example.com/). Requests go to its C(/api/v4/).
      - Also selects the entry together with O(name) (a trailing slash does not matter).
      - Required with O(name).
    type: str
  runners:
    description:
      - A host's whole list of runners, registered and written in one call (see the description). Each item takes
        the options of one runner; they are checked like the module's own.
      - Mutually exclusive with O(name) and the other options of one runner (O(url), O(token), O(settings), ...).
        O(path), O(timeout), O(max_wait), O(backup) and O(validate_keys) are the module's, for all the runners,
        O(proxy), O(ca_file) and O(validate_certs) are the module's for the items that do not set them.
      - Two items with the same name and URL are an error. An empty list does nothing.
    type: list
    elements: dict
    suboptions:
      name:
        description: The C(name) of the runner's C([[runners]]) entry, as O(name).
        type: str
        required: true
      url:
        description: The GitLab instance, as O(url).
        type: str
        required: true
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
        default: present
      token:
        description: As O(token). Mutually exclusive with O(runners[].registration_token) and O(runners[].api_token).
        type: str
      registration_token:
        description: As O(registration_token).
        type: str
      api_token:
        description: As O(api_token).
        type: str
      runner_type:
        description: As O(runner_type).
        type: str
        choices: [instance_type, group_type, project_type]
      group_id:
        description: As O(group_id).
        type: int
      project_id:
        description: As O(project_id).
        type: int
      description:
        description: As O(description).
        type: str
      tags:
        description: As O(tags).
        type: list
        elements: str
      run_untagged:
        description: As O(run_untagged).
        type: bool
      locked:
        description: As O(locked).
        type: bool
      paused:
        description: As O(paused).
        type: bool
      access_level:
        description: As O(access_level).
        type: str
        choices: [not_protected, ref_protected]
      maximum_timeout:
        description: As O(maximum_timeout).
        type: int
      maintenance_note:
        description: As O(maintenance_note).
        type: str
      executor:
        description: As O(executor).
        type: str
        default: docker
      settings:
        description: As O(settings).
        type: dict
      environment:
        description: As O(environment).
        type: raw
      delete_runner:
        description: As O(delete_runner).
        type: bool
        default: false
      ca_file:
        description: As O(ca_file); the module's when not set.
        type: path
      validate_certs:
        description: As O(validate_certs); the module's when not set.
        type: bool
      proxy:
        description: As O(proxy); the module's when not set.
        type: str
  token:
    description:
      - A runner authentication token (C(glrt-...)), made in GitLab for a runner whose settings GitLab holds.
      - The server-side options (O(description), O(tags), ...) cannot be used with it.
      - Mutually exclusive with O(registration_token) and O(api_token).
    type: str
  registration_token:
    description:
      - A legacy registration token. GitLab deprecated them and switched them off by default on new instances
        and namespaces from GitLab 17.0; use O(api_token) where they are disabled.
      - The runner is registered with O(description), O(tags), O(run_untagged), O(locked), O(access_level),
        O(maximum_timeout), O(paused) and O(maintenance_note), once; they are not synchronised later.
    type: str
  api_token:
    description:
      - A personal, group or project access token with the C(create_runner) scope, which creates the runner
        (O(runner_type) and O(group_id) or O(project_id) say where).
      - Keeping the settings in sync needs the C(manage_runner) (or C(api)) scope too; reading them
        C(read_api), C(manage_runner) or C(api).
    type: str
  runner_type:
    description:
      - The kind of runner O(api_token) creates. Required with O(api_token) and O(state=present).
    type: str
    choices: [instance_type, group_type, project_type]
  group_id:
    description:
      - The group of a V(group_type) runner.
    type: int
  project_id:
    description:
      - The project of a V(project_type) runner.
    type: int
  description:
    description:
      - The runner's description in GitLab. Defaults to O(name).
    type: str
  tags:
    description:
      - The runner's tags. Not set - GitLab's (for a new runner, none); an empty list removes every tag.
    type: list
    elements: str
  run_untagged:
    description:
      - Whether the runner takes jobs without tags. Not set - GitLab's default (a legacy registration, like
        C(gitlab-runner register), takes untagged jobs only when there are no O(tags)).
    type: bool
  locked:
    description:
      - Whether the runner is locked to its current projects. Not set - GitLab's default (a legacy registration,
        like C(gitlab-runner register), locks it).
    type: bool
  paused:
    description:
      - Whether the runner is paused (takes no jobs).
    type: bool
  access_level:
    description:
      - V(ref_protected) runs only jobs of protected branches and tags.
    type: str
    choices: [not_protected, ref_protected]
  maximum_timeout:
    description:
      - Longest time, in seconds, a job may run on this runner; GitLab wants at least 600.
    type: int
  maintenance_note:
    description:
      - Free text shown to the runner's administrators in GitLab.
    type: str
  executor:
    description:
      - The C(executor) written into the entry.
    type: str
    default: docker
  settings:
    description:
      - More keys of the runner's entry, deep-merged like M(behindproxy.gitlab_runner.runner_config)'s
        O(behindproxy.gitlab_runner.runner_config#module:settings) - tables merge, scalars and arrays replace,
        V(null) removes.
      - C(name), C(url), C(id), C(token), C(token_obtained_at), C(token_expires_at) and C(executor) are set by
        the module and not accepted here.
    type: dict
  environment:
    description:
      - Variables merged by name into the entry's C(environment), like
        M(behindproxy.gitlab_runner.runner_config)'s O(behindproxy.gitlab_runner.runner_config#module:environment)
        - a mapping, or a list of C(NAME=value) strings.
    type: raw
  state:
    description:
      - V(absent) unregisters the runner held by the entry and removes the entry; nothing is done on GitLab when
        there is no entry.
    type: str
    choices: [present, absent]
    default: present
  delete_runner:
    description:
      - With O(state=absent), delete the whole runner on GitLab rather than only this host's runner manager -
        with C(DELETE /api/v4/runners/:id) when O(api_token) is given, else with the runner's own token
        (C(DELETE /api/v4/runners)). A legacy runner is always deleted whole (it has no managers).
    type: bool
    default: false
  ca_file:
    description:
      - CA bundle (PEM) to check GitLab's certificate with, for an instance whose certificate a private CA
        signed. The system's bundle is used when not set.
    type: path
  validate_certs:
    description:
      - Check GitLab's TLS certificate. Only switch this off in a lab.
    type: bool
    default: true
  proxy:
    description:
      - The HTTP proxy to reach GitLab through, for example V(http://172.17.0.1:3128); V('') means none.
      - Not set - chosen like GitLab Runner chooses it (Go's rules) from the module's environment -
        C(HTTPS_PROXY) for an https URL, C(HTTP_PROXY) for an http one (upper case before lower case), no proxy
        for C(localhost), loopback addresses and the hosts C(NO_PROXY) names.
      - A given proxy is used for every request, C(NO_PROXY) is not consulted then. A password in it is masked
        in the output.
    type: str
  timeout:
    description:
      - Seconds one request may take as a whole, from connecting (through the proxy) to the
        last byte of the answer; a server that answers slowly, byte by byte, fails it too.
    type: int
    default: 30
  max_wait:
    description:
      - Most seconds to spend waiting, in all, for rate limits and retries. A wait that would go beyond fails at
        once, naming the time to try again.
      - With O(runners), the runners that reach one GitLab instance the same way share this budget.
    type: int
    default: 300
  backup:
    description:
      - Keep a timestamped copy of C(config.toml) before it is changed.
    type: bool
    default: false
  validate_keys:
    description:
      - What to do about keys in O(settings) that gitlab-runner does not know (it ignores them silently, so a
        typo is a setting that never takes effect), as in M(behindproxy.gitlab_runner.runner_config).
      - V(warn) returns them in RV(unknown_keys) and warns, V(error) fails before anything is written or
        called, V(ignore) does not look. Values of the wrong type fail with V(warn) and V(error).
    type: str
    choices: [warn, error, ignore]
    default: warn
notes:
  - C(config.toml) is created with mode C(0600); it is never left with any permission for other users nor
    writable by its group - an existing one that allows either becomes C(0600), with a warning. It is written
    atomically, and not at all when nothing changes.
  - What a run does on GitLab is undone when the run cannot finish it, so that no orphan runner is left and the next
    run does not make a second one. A runner that O(api_token) created or O(registration_token) registered is
    deleted again when anything fails before its entry is written - its new token does not verify, GitLab's answer
    cannot be written, config.toml cannot be written (C(DELETE /api/v4/runners/:id) with the access token, or with
    the runner's own token, C(DELETE /api/v4/runners), when the access token may not delete) - and a manager this
    host became of a O(token)'s runner is removed again when config.toml cannot be written. The failure message
    says so; when the deletion fails too, it names the runner's id to delete in GitLab.
  - The token is sent in the JSON body and the C(Runner-Token) header, an access token in the C(PRIVATE-TOKEN)
    header; never in a URL. Redirects are not followed, so no token is sent elsewhere - give the final URL.
seealso:
  - module: behindproxy.gitlab_runner.runner_config
  - name: GitLab Runner registration
    description: How runners are created and registered, and the deprecation of registration tokens.
    link: https://docs.gitlab.com/ci/runners/new_creation_workflow/
  - name: Runners API
    description: GitLab's REST API for runners.
    link: https://docs.gitlab.com/api/runners/
'''

EXAMPLES = r'''
- name: Register docker-1 with an authentication token made in GitLab
  behindproxy.gitlab_runner.runner_register:
    name: docker-1
    url: https://gitlab.example.com/
    token: "{{ vault_runner_token_docker_1 }}"
    proxy: http://172.17.0.1:3128
    environment:
      HTTPS_PROXY: http://172.17.0.1:3128
      https_proxy: http://172.17.0.1:3128
    settings:
      docker:
        image: alpine:3.20

- name: Create a group runner with an access token and keep its settings in GitLab in sync
  behindproxy.gitlab_runner.runner_register:
    name: docker-2
    url: https://gitlab.example.com/
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    runner_type: group_type
    group_id: 42
    tags: [docker, proxy]
    run_untagged: false
    locked: true
    maximum_timeout: 3600

- name: Register with a legacy registration token through a private CA
  behindproxy.gitlab_runner.runner_register:
    name: legacy-1
    url: https://gitlab.internal.example/
    registration_token: "{{ vault_registration_token }}"
    ca_file: /usr/local/share/ca-certificates/corp-root.crt
    tags: [shell]

- name: Take this host off the runner, keeping the runner for its other hosts
  behindproxy.gitlab_runner.runner_register:
    name: docker-1
    url: https://gitlab.example.com/
    state: absent

- name: Register every runner of this host in one task
  behindproxy.gitlab_runner.runner_register:
    proxy: http://172.17.0.1:3128
    runners:
      - name: docker-1
        url: https://gitlab.example.com/
        token: "{{ vault_runner_token_docker_1 }}"
        settings:
          docker:
            image: alpine:3.20
      - name: docker-2
        url: https://gitlab.example.com/
        api_token: "{{ vault_gitlab_runner_admin_token }}"
        runner_type: instance_type
        tags: [docker]
      - name: retired
        url: https://gitlab.example.com/
        state: absent
  register: registered
  no_log: true

- name: Say what was done to each runner
  ansible.builtin.debug:
    msg: "{{ registered.runners | map(attribute='name') | zip(registered.runners | map(attribute='action')) }}"

- name: Delete the runner in GitLab altogether
  behindproxy.gitlab_runner.runner_register:
    name: docker-2
    url: https://gitlab.example.com/
    api_token: "{{ vault_gitlab_runner_admin_token }}"
    state: absent
    delete_runner: true
'''

RETURN = r'''
action:
  description:
    - What was done on GitLab (in check mode, what would be done).
    - V(none) - a working registration was there; V(verified) - a token was verified and written;
      V(registered) - a legacy registration; V(created) - O(api_token) created the runner; V(updated) - its
      server-side settings were changed; V(unregistered) - the runner or this host's manager was removed, or
      the entry.
  returned: without O(runners)
  type: str
  sample: verified
runner_id:
  description: The runner's id in GitLab; null when it is not known (in check mode before a registration).
  returned: without O(runners)
  type: int
  sample: 42
runners:
  description:
    - With O(runners), what was done for each runner, in the order given; when the task fails on a runner, the
      runners before it (the ones written to config.toml).
    - No token, and not the entry (100 entries would add some 70 KB to the result); the diff shows the file.
  returned: with O(runners)
  type: list
  elements: dict
  contains:
    name:
      description: The runner's name.
      type: str
    url:
      description: Its GitLab URL.
      type: str
    state:
      description: V(present) or V(absent).
      type: str
    changed:
      description: Whether its entry or anything on GitLab changed (or would change, in check mode).
      type: bool
    action:
      description: As RV(action).
      type: str
    runner_id:
      description: As RV(runner_id).
      type: int
    token_expires_at:
      description: As RV(token_expires_at).
      type: str
    settings_changes:
      description: As RV(settings_changes).
      type: dict
    notes:
      description: As RV(notes).
      type: list
      elements: str
  sample:
    - name: docker-1
      url: https://gitlab.example.com/
      state: present
      changed: true
      action: verified
      runner_id: 42
      token_expires_at: null
      settings_changes: {}
      notes: []
system_id:
  description: This host's system id, as the runner reads it from C(.runner_system_id).
  returned: always
  type: str
  sample: s_0123456789ab
token_expires_at:
  description: When the runner's token expires (ISO 8601); null when it does not or it is not known.
  returned: without O(runners)
  type: str
  sample: '2026-03-01T12:00:00Z'
settings_changes:
  description: The server-side settings that differed and were (or would be) set, each with C(before) and C(after).
  returned: without O(runners)
  type: dict
  sample:
    tag_list:
      before: [docker]
      after: [docker, proxy]
runner:
  description: The runner's C([[runners]]) entry after the run, tokens masked, dates as ISO 8601 text; empty for
    O(state=absent).
  returned: without O(runners)
  type: dict
  sample:
    name: docker-1
    url: https://gitlab.example.com/
    id: 42
    token: '********'
    executor: docker
unknown_keys:
  description: Keys the entries get that gitlab-runner does not know (a warning is shown for each).
  returned: always
  type: list
  elements: str
  sample: ['runners[0].docker.imgae']
notes:
  description: What the module found on the way, for example that the runner had rotated its token.
  returned: without O(runners)
  type: list
  elements: str
  sample: ['the token option is refused but the token in config.toml works for runner 42: kept (the runner rotated its token)']
diff:
  description: C(config.toml) before and after, tokens masked.
  returned: when diff mode is on
  type: dict
  sample:
    before_header: /etc/gitlab-runner/config.toml (content)
    after_header: /etc/gitlab-runner/config.toml (content)
    before: ""
    after: "[[runners]]\n  name = \"docker-1\"\n  token = \"********\"\n"
backup_file:
  description: Path of the backup copy.
  returned: when O(backup=true) and the file was changed
  type: str
  sample: /etc/gitlab-runner/config.toml.12345.2026-01-01@00:00:00~
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._gitlab_api import GitLabApiError, GitLabClient
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_registration import (
    ACCESS_LEVELS,
    RUNNER_TYPES,
    Registrar,
    RegistrationError,
    check_options,
    entry_settings,
    environment_mapping,
    expiry_text,
    run_after_write,
    select_entries,
    undo_all,
    verify_entries,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_system_id import (
    ensure_system_id,
    load_system_id,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._safe_write import (
    edit_file,
    read_bytes,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    SECRET_KEYS,
    TOMLKIT_IMPORT_ERROR,
    RunnerEdit,
    TomlDocumentError,
    check_config_edit,
    config_transform,
    decode_config,
    find_runner,
    load_plain,
    mask_config_text,
    normal_url,
    require_libraries,
)

# The options of one runner: of the module in the single form, of each item of runners in the list form.
RUNNER_OPTIONS = dict(
    name=dict(type='str', required=True),
    url=dict(type='str', required=True),
    token=dict(type='str', no_log=True),
    registration_token=dict(type='str', no_log=True),
    api_token=dict(type='str', no_log=True),
    runner_type=dict(type='str', choices=list(RUNNER_TYPES)),
    group_id=dict(type='int'),
    project_id=dict(type='int'),
    description=dict(type='str'),
    tags=dict(type='list', elements='str'),
    run_untagged=dict(type='bool'),
    locked=dict(type='bool'),
    paused=dict(type='bool'),
    access_level=dict(type='str', choices=list(ACCESS_LEVELS)),
    maximum_timeout=dict(type='int'),
    maintenance_note=dict(type='str'),
    executor=dict(type='str', default='docker'),
    settings=dict(type='dict'),
    environment=dict(type='raw'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    delete_runner=dict(type='bool', default=False),
    # Not set in an item: the module's.
    ca_file=dict(type='path'),
    validate_certs=dict(type='bool'),
    proxy=dict(type='str'),
)
# How GitLab is reached: options of the module that an item of runners may set for itself.
CONNECTION_OPTIONS = ('ca_file', 'validate_certs', 'proxy')
WAYS_IN = ('token', 'registration_token', 'api_token')
# Options of one runner that the list form takes in each item, never beside runners.
SINGLE_FORM_OPTIONS = tuple(name for name in RUNNER_OPTIONS if name not in CONNECTION_OPTIONS)

ARGUMENT_SPEC = dict(
    dict((name, dict(spec, required=False)) for name, spec in RUNNER_OPTIONS.items()),
    path=dict(type='path', default='/etc/gitlab-runner/config.toml'),
    runners=dict(type='list', elements='dict', options=RUNNER_OPTIONS, mutually_exclusive=[WAYS_IN]),
    validate_certs=dict(type='bool', default=True),
    timeout=dict(type='int', default=30),
    max_wait=dict(type='int', default=300),
    backup=dict(type='bool', default=False),
    validate_keys=dict(type='str', choices=['warn', 'error', 'ignore'], default='warn'),
)


class RunnerFailure(Exception):
    """One runner of the list cannot be done: the message names it."""


def read_config(path):
    """Plain data of config.toml ({} when there is none yet)."""
    content = read_bytes(os.path.realpath(path))
    return {} if content is None else load_plain(decode_config(content))


def runner_options(params):
    """The options of each runner: the module's (single form), or each item's with the module's connection."""
    if params['runners'] is None:
        return [params]
    runners = []
    for item in params['runners']:
        options = dict(item)
        for name in CONNECTION_OPTIONS:
            if options[name] is None:
                options[name] = params[name]
        runners.append(options)
    return runners


def describe(options):
    return 'runner %r at %s' % (options['name'], options['url'])


def check_runners(runners, listed):
    """Raise RegistrationError (naming the runner in the list form) for options that do not fit together."""
    seen = {}
    for options in runners:
        try:
            check_options(options)
            environment_mapping(options['environment'])
        except RegistrationError as exc:
            raise RegistrationError('%s: %s' % (describe(options), exc) if listed else to_native(exc))
        key = (options['name'], normal_url(options['url']))
        if key in seen:
            raise RegistrationError('runners has two items with name %r and url %s: config.toml holds one entry '
                                    'for each; give each runner once' % key)
        seen[key] = options


class Clients:
    """One GitLab client per instance and route: the runners of one GitLab share its waiting budget (max_wait)."""

    def __init__(self, params):
        self.params = params
        self.clients = {}

    def get(self, options):
        key = (normal_url(options['url']), options['ca_file'], options['validate_certs'], options['proxy'])
        if key not in self.clients:
            self.clients[key] = GitLabClient(options['url'], timeout=self.params['timeout'], ca_file=options['ca_file'],
                                             validate_certs=options['validate_certs'], proxy=options['proxy'],
                                             max_wait=self.params['max_wait'])
        return self.clients[key]


class Runner:
    """One runner of the run: its options, entry, client and, once done on GitLab, its outcome."""

    def __init__(self, options, entry, select_url, client):
        self.options = options
        self.entry = entry
        self.select_url = select_url
        self.client = client
        self.environment = environment_mapping(options['environment'])
        self.outcome = None

    @property
    def present(self):
        return self.options['state'] == 'present'

    def planned_edit(self):
        """The edit as far as it is known before GitLab is asked (for the dry run)."""
        options = self.options
        return RunnerEdit(name=options['name'], url=self.select_url, settings=entry_settings(None, options),
                          environment=self.environment, state=options['state'])

    def edit(self):
        """The edit of config.toml once the outcome is known."""
        options = self.options
        if not self.present:
            return RunnerEdit(name=options['name'], url=self.select_url, state='absent')
        url_setting = None if self.select_url else options['url']
        return RunnerEdit(name=options['name'], url=self.select_url,
                          settings=entry_settings(self.outcome.fields, options, url_setting),
                          environment=self.environment)

    def result(self, entry_changed):
        """What the list form returns for this runner: no token, and not the entry (the diff shows the file)."""
        outcome = self.outcome
        return dict(
            name=self.options['name'],
            url=self.options['url'],
            state=self.options['state'],
            changed=entry_changed or outcome.server_changed,
            action=outcome.action,
            runner_id=outcome.runner_id,
            token_expires_at=expiry_text(outcome.expires_at),
            settings_changes=outcome.settings_changes,
            notes=outcome.notes,
        )


def prepare(module, params, listed):
    """The runners of the run with their entries, after every check that needs no call to GitLab.

    Raises RegistrationError, GitLabApiError, TomlDocumentError, ValueError
    or OSError before anything is done.
    """
    options_list = runner_options(params)
    check_runners(options_list, listed)
    clients = Clients(params)
    runner_clients = [clients.get(options) for options in options_list]
    data = read_config(params['path'])
    selections = select_entries(data, [(options['name'], options['url']) for options in options_list], find_runner)
    runners = [Runner(options, entry, select_url, client)
               for options, (entry, select_url), client in zip(options_list, selections, runner_clients)]
    # Refuse an unacceptable edit before anything happens on GitLab: bad
    # options, and (one dry run of every runner's edit on the file as it
    # is) wrong types and, with validate_keys=error, keys the runner does
    # not know.
    planned = [runner.planned_edit() for runner in runners]
    for edit in planned:
        edit.check()
    if any(runner.present for runner in runners):
        content = read_bytes(params['path'])
        check_config_edit(None if content is None else decode_config(content), planned, params['validate_keys'])
    return runners


def register_all(module, runners, system_id, listed):
    """Do each runner's part on GitLab, in order; stop at the first that fails.

    The tokens config.toml holds are verified beforehand, a few at a time
    (verify_entries). Returns the runners done and, when one failed, the
    RunnerFailure that says which and why (the runners after it are not
    registered, created or removed).
    """
    registrars = [Registrar(runner.client, runner.options, system_id, check_mode=module.check_mode,
                            remember_secret=module.no_log_values.add) for runner in runners]
    verifying = verify_entries(zip(registrars, [runner.entry for runner in runners]))
    done = []
    try:
        for runner, registrar in zip(runners, registrars):
            try:
                runner.outcome = registrar.present(runner.entry) if runner.present else registrar.absent(runner.entry)
            except (RegistrationError, GitLabApiError) as exc:
                if not listed:
                    return done, RunnerFailure(to_native(exc))
                return done, RunnerFailure(failure_message(runners, runner, done, exc, module.check_mode))
            done.append(runner)
    finally:
        verifying.shutdown(wait=True)
    return done, None


def names(runners):
    return ', '.join(runner.options['name'] for runner in runners)


def counted(runners, verb_one, verb_more):
    """'the 1 runner ... is' or 'the 3 runners ... are', with their names."""
    if len(runners) == 1:
        return '1 runner', '(%s) %s' % (names(runners), verb_one)
    return '%d runners' % len(runners), '(%s) %s' % (names(runners), verb_more)


def failure_message(runners, failed, done, exc, check_mode):
    message = '%s: %s.' % (describe(failed.options), to_native(exc).rstrip('.'))
    if done:
        number, rest = counted(done, *(('would be', 'would be') if check_mode else ('is', 'are')))
        message += ' The %s before it %s written to config.toml.' % (number, rest)
    after = runners[runners.index(failed) + 1:]
    if after:
        number, rest = counted(after, 'is', 'are')
        message += ' The %s after it %s left as %s.' % (number, rest, 'it is' if len(after) == 1 else 'they are')
    return message


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[WAYS_IN] + [('runners', name) for name in SINGLE_FORM_OPTIONS],
        required_one_of=[('name', 'runners')],
        required_together=[('name', 'url')],
        supports_check_mode=True,
    )
    missing = require_libraries()
    if missing:
        module.fail_json(msg=missing_required_lib(missing), exception=TOMLKIT_IMPORT_ERROR)
    params = module.params
    listed = params['runners'] is not None
    # Secrets in the settings, the environment and URLs (proxy passwords) stay
    # out of everything the module returns, its echo of the arguments included.
    for options in runner_options(params):
        module.no_log_values.update(secret_values(
            dict((key, options[key]) for key in ('settings', 'environment', 'url', 'proxy')), SECRET_KEYS))
    path = params['path']
    failure = dict(system_id=None, runners=[]) if listed else dict(action='none', system_id=None)
    try:
        runners = prepare(module, params, listed)
    except (RegistrationError, GitLabApiError, TomlDocumentError, ValueError, OSError) as exc:
        module.fail_json(msg=to_native(exc), **failure)
    if not runners:
        module.exit_json(changed=False, system_id=None, runners=[], unknown_keys=[])

    system_id = load_system_id(path)
    failure['system_id'] = system_id.value
    system_id_created = False
    if any(runner.present for runner in runners):
        if module.check_mode:
            system_id_created = not system_id.saved
        else:
            try:
                system_id_created = ensure_system_id(system_id)
            except OSError as exc:
                module.fail_json(msg='%s: %s' % (system_id.path, to_native(exc)), **failure)

    done, registration_failure = register_all(module, runners, system_id, listed)
    outcomes = [runner.outcome for runner in done]
    server_changed = any(outcome.server_changed for outcome in outcomes)
    if not done:
        module.fail_json(msg=to_native(registration_failure), changed=system_id_created, **failure)

    # One edit of config.toml for every runner done, registrations before a
    # failure included: what happened on GitLab is never lost.
    try:
        result = edit_file(
            module, path, config_transform([runner.edit() for runner in done], params['validate_keys']),
            create=True, default_mode='0600', backup=params['backup'],
            mask=lambda text: mask_config_text(text, known=tuple(module.no_log_values)),
            # The entries hold the runners' tokens from the first run on.
            holds_secret=lambda content: True,
        )
    except Exception as exc:
        # Whatever stops the write - a full disk, a lock held elsewhere, an
        # error nobody foresaw - what this run created on GitLab is taken
        # back: the next run would create it a second time.
        message = '%s: %s' % (path, to_native(exc) or type(exc).__name__)
        if any(outcome.undo for outcome in outcomes) and not module.check_mode:
            failures = undo_all(outcomes)
            message += ('; what was done on GitLab was taken back' if not failures else
                        '; taking back what was done on GitLab failed too: %s' % '; '.join(failures))
        if registration_failure is not None:
            message = '%s Writing config.toml failed as well: %s' % (registration_failure, message)
        module.fail_json(msg=message, changed=system_id_created or server_changed, **failure)

    # Every manager removal waits once for the runner to reread config.toml.
    for outcome, exc in run_after_write(outcomes, done[0].client.sleep):
        module.warn('the entry is gone from config.toml, but a second removal on GitLab failed: %s' % to_native(exc))
    for message in result.payload.unknown_key_messages:
        module.warn('config.toml key unknown to gitlab-runner: %s' % message)
    changed = result.changed or any(outcome.server_changed for outcome in outcomes) or system_id_created
    if listed:
        returned = dict(
            changed=changed,
            system_id=system_id.value,
            runners=[runner.result(entry_changed) for runner, entry_changed in zip(done, result.payload.runner_changed)],
            unknown_keys=result.payload.unknown_keys,
        )
    else:
        outcome = outcomes[0]
        returned = dict(
            changed=changed,
            action=outcome.action,
            runner_id=outcome.runner_id,
            system_id=system_id.value,
            token_expires_at=expiry_text(outcome.expires_at),
            settings_changes=outcome.settings_changes,
            runner=result.payload.runner,
            unknown_keys=result.payload.unknown_keys,
            notes=outcome.notes,
        )
    returned.update(result.file_returns())
    if registration_failure is not None:
        module.fail_json(msg=to_native(registration_failure), **returned)
    module.exit_json(**returned)


if __name__ == '__main__':
    main()
