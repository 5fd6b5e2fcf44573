#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: runner_config
short_description: Edit GitLab Runner's config.toml structurally
version_added: 1.0.0
description:
  - Edits the global keys and one C([[runners]]) entry (O(name)), or many (O(runners)), of GitLab Runner's
    C(config.toml) with tomlkit,
    so that everything the task does not ask for stays byte-for-byte as it was - comments, blank lines,
    key order, quoting, unknown keys and the fields the runner writes itself (C(id), C(token),
    C(token_obtained_at), C(token_expires_at)).
  - Selects the entry by O(name), plus O(url) when several entries share a name, deep-merges O(settings)
    into it and merges O(environment) by variable name. A new entry is appended after the last one.
  - With O(runners), every entry of the list is edited in one parse, one check and one atomic write, in the
    order given, after O(global).
  - The file is checked with Python's strict TOML 1.0 parser (C(tomllib)) before it is edited, and the
    edited text is checked again before it is written, so a document the runner would refuse never
    reaches the disk. A broken file makes the task fail with the parser's line and column and is left
    untouched.
  - The runner rewrites the file itself when it rotates its token. When the file changes on disk
    between the module's read and its write, the module reads it again and applies the edit to the
    new content instead of overwriting it.
  - Token values and the passwords of C(scheme://user:password@host) URLs are masked in the diff and in
    the returned RV(runner); those given in O(global), O(settings), O(environment) or O(url) are also
    masked in the module's echo of its own arguments (C(invocation), shown at C(-vvv)). Keep proxy
    passwords out of URLs altogether - let cntlm hold them (see the cntlm role) and point the runner at cntlm.
author:
  - behindproxy developers (@behindproxy)
requirements:
  - Python 3.11 or newer on the managed host (for C(tomllib)).
  - tomlkit on the managed host (Debian and Ubuntu package C(python3-tomlkit); tomlkit 0.11.7 or newer).
extends_documentation_fragment:
  - ansible.builtin.files
  - behindproxy.gitlab_runner.safe_write
attributes:
  check_mode:
    support: full
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    support: full
    description: Returns details on what has changed (or possibly needs changing in check mode), when in diff mode.
options:
  path:
    description:
      - Path of the runner's configuration file.
    type: path
    default: /etc/gitlab-runner/config.toml
  create:
    description:
      - Create the file when it does not exist. With V(false) a missing file is an error.
    type: bool
    default: true
  global:
    description:
      - Top-level keys, deep-merged into the document, for example C(concurrent), C(check_interval),
        C(log_level), C(shutdown_timeout) or the C(session_server) table.
      - Tables merge recursively, scalars and arrays replace, a key set to V(null) is removed.
      - C(runners) is not accepted here; select an entry with O(name) and edit it with O(settings).
    type: dict
  name:
    description:
      - The C(name) of the C([[runners]]) entry to edit, create or remove.
      - Required with O(settings), O(environment), O(url) and O(state=absent).
      - Mutually exclusive with O(runners), as are O(url), O(settings), O(environment) and O(state).
    type: str
  runners:
    description:
      - Several C([[runners]]) entries edited in one run, each item with the options of one entry.
      - Two items that select the same entry are an error.
    type: list
    elements: dict
    suboptions:
      name:
        description: As O(name).
        type: str
        required: true
      url:
        description: As O(url).
        type: str
      settings:
        description: As O(settings).
        type: dict
      environment:
        description: As O(environment).
        type: dict
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
        default: present
  url:
    description:
      - The entry's C(url), to choose between entries with the same O(name). Compared ignoring a trailing
        slash. Several entries with the same name and no O(url) is an error that names each entry's URL.
      - Written into a new entry.
    type: str
  settings:
    description:
      - Keys deep-merged into the selected entry, for example C(executor), C(docker), C(cache),
        C(pre_get_sources_script).
      - Tables merge recursively, scalars and arrays replace (a list of dictionaries becomes an array of
        tables such as C([[runners.docker.services]])), a key set to V(null) is removed.
      - C(name) is not accepted here.
    type: dict
  environment:
    description:
      - Variables merged by name into the entry's C(environment) array of C(NAME=value) strings.
      - A variable already there keeps its place and gets the new value; new ones are appended; the
        others keep their values and order. A value of V(null) removes the variable.
      - Values are stored as they are; do not put proxy passwords in URLs here (see the description).
      - Names must be non-empty and free of C(=), spaces, line breaks and other control characters; any
        other name is an error.
    type: dict
  state:
    description:
      - V(absent) removes the selected entry (nothing happens when it is not there).
    type: str
    choices: [present, absent]
    default: present
  validate_keys:
    description:
      - What to do when the edit writes keys that gitlab-runner does not know. The runner ignores unknown
        keys silently, so a typo is a setting that never takes effect; C(pre_clone_script) is one of
        them on runner 17.0 and newer.
      - V(warn) returns them in RV(unknown_keys) and warns, V(error) fails before anything is written,
        V(ignore) does not look.
      - Open maps (C(feature_flags), autoscaler C(plugin_config), the kubernetes sub-tables, ...) are not
        checked for unknown keys.
      - The type of every value the edit writes is checked too, against the Go type of its field - integer,
        boolean, string, float, duration (V('30m') or nanoseconds), date-time, arrays of these, tables of
        strings or booleans (C(labels), C(feature_flags), C(tmpfs), ...), sections and arrays of tables - in
        the global keys, the runner's settings and every nested section. The error names the key path, the
        value (masked for secret keys such as C(token)) and the expected type.
      - A value of the wrong type fails the task before anything is written with V(warn) as well as V(error).
        Unlike an unknown key, which the runner ignores, it makes the runner refuse the whole file, because it decodes
        C(config.toml) into Go structs with BurntSushi/toml, where for example C(concurrent = "abc") or
        C(privileged = "yes") is a decoding error, so the runner does not start, or keeps its old
        configuration and logs the error on every reload. V(ignore) skips this check as well (for a runner
        release whose types differ from the key data shipped with the collection).
    type: str
    choices: [warn, error, ignore]
    default: warn
  mode:
    description:
      - Permissions of the file. As the runner does, a new file is created V('0600') and an existing file
        keeps its mode when O(mode) is not given.
      - A file that holds a secret (a runner token, a cache key, a URL with a password) is never left with
        any permission for other users, nor writable by its group (whoever may write config.toml can point a
        runner's C(url) elsewhere and collect its token). A O(mode) that would allow either (V('0644'),
        V('0622'), V('0602'), V('0660'), ...) fails the task, naming the file, the mode and who could read or
        change it, before anything is written; V('0600') and V('0640') are accepted. An existing file with
        such a mode is tightened instead to its owner's permissions alone, so V('0644') and V('0662') become
        V('0600') (the runner's own mode for config.toml), with a warning.
      - A O(backup) is never looser than the file it was made from is left.
    type: raw
  backup:
    description:
      - Keep a timestamped copy of the file before it is changed.
    type: bool
    default: false
notes:
  - The file is replaced atomically by a temporary file written in its own directory.
seealso:
  - module: behindproxy.gitlab_runner.docker_json_config
  - name: GitLab Runner advanced configuration
    description: The keys of config.toml.
    link: https://docs.gitlab.com/runner/configuration/advanced-configuration/
'''

EXAMPLES = r'''
- name: Run four jobs at once and log at info level
  behindproxy.gitlab_runner.runner_config:
    global:
      concurrent: 4
      log_level: info

- name: Send the jobs of runner docker-1 through cntlm
  behindproxy.gitlab_runner.runner_config:
    name: docker-1
    environment:
      HTTP_PROXY: http://172.17.0.1:3128
      http_proxy: http://172.17.0.1:3128
      HTTPS_PROXY: http://172.17.0.1:3128
      https_proxy: http://172.17.0.1:3128
      NO_PROXY: localhost,127.0.0.1,docker:2375,docker:2376
      no_proxy: localhost,127.0.0.1,docker:2375,docker:2376
    settings:
      pre_get_sources_script: git config --global http.proxy $HTTP_PROXY
      docker:
        image: alpine:3.20
        volumes: [/cache]
        services:
          - name: docker:24-dind
            alias: docker

- name: Edit the runner named shared on the second GitLab instance only
  behindproxy.gitlab_runner.runner_config:
    name: shared
    url: https://gitlab-2.example.com
    settings:
      limit: 2
      pre_clone_script: null

- name: Check every runner's settings against the runner's keys, writing nothing
  behindproxy.gitlab_runner.runner_config:
    runners:
      - name: docker-1
        settings: {docker: {image: "alpine:3.20"}}
      - name: docker-2
        settings: {docker: {image: "debian:12"}, limit: 2}
    validate_keys: error
  check_mode: true

- name: Remove a runner entry, keeping a backup
  behindproxy.gitlab_runner.runner_config:
    name: old-runner
    state: absent
    backup: true
'''

RETURN = r'''
runner:
  description:
    - The selected C([[runners]]) entry after the edit, with token values and URL passwords masked and
      dates as ISO 8601 text. Empty when O(name) is not given or O(state=absent).
  returned: without O(runners)
  type: dict
  sample:
    name: docker-1
    url: https://gitlab.example.com/
    token: '********'
    executor: docker
    environment: [HTTP_PROXY=http://172.17.0.1:3128]
runners:
  description: With O(runners), each entry's name, url, state, whether it changed, and the entry as RV(runner).
  returned: with O(runners)
  type: list
  elements: dict
  sample:
    - name: docker-1
      url: null
      state: present
      changed: true
      runner: {name: docker-1, token: '********', docker: {image: 'alpine:3.20'}}
unknown_keys:
  description:
    - Dotted paths, with list indexes, of the keys the edit writes that gitlab-runner does not know.
  returned: always
  type: list
  elements: str
  sample: ['runners[0].docker.imgae', 'runners[0].pre_clone_script']
diff:
  description:
    - The file's text before and after the edit, secrets masked.
    - Only in diff mode (C(--diff)); a file's text is not returned otherwise.
  returned: when diff mode is on
  type: dict
  sample:
    before_header: /etc/gitlab-runner/config.toml (content)
    after_header: /etc/gitlab-runner/config.toml (content)
    before: "concurrent = 1\n"
    after: "concurrent = 4\n"
backup_file:
  description: Path of the backup copy.
  returned: when O(backup=true) and the file was changed
  type: str
  sample: /etc/gitlab-runner/config.toml.12345.2026-01-01@00:00:00~
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._safe_write import (
    FileChangedError,
    edit_file,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    SECRET_KEYS,
    TOMLKIT_IMPORT_ERROR,
    RunnerEdit,
    TomlDocumentError,
    config_transform,
    decode_config,
    load_plain,
    mask_config_text,
    require_libraries,
)


def config_holds_secret(content):
    """Whether config.toml bytes hold a secret (a token, a cache key, a URL with a password).

    Content that does not parse is taken to hold one.
    """
    try:
        data = load_plain(decode_config(content).lstrip('\ufeff'))
    except TomlDocumentError:
        return True
    return bool(secret_values(data, SECRET_KEYS))


RUNNER_OPTIONS = dict(
    name=dict(type='str', required=True),
    url=dict(type='str'),
    settings=dict(type='dict'),
    environment=dict(type='dict'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/gitlab-runner/config.toml'),
            create=dict(type='bool', default=True),
            name=dict(type='str'),
            url=dict(type='str'),
            settings=dict(type='dict'),
            environment=dict(type='dict'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            runners=dict(type='list', elements='dict', options=RUNNER_OPTIONS),
            validate_keys=dict(type='str', choices=['warn', 'error', 'ignore'], default='warn'),
            mode=dict(type='raw'),
            backup=dict(type='bool', default=False),
            **{'global': dict(type='dict')}
        ),
        mutually_exclusive=[('runners', name) for name in ('name', 'url', 'settings', 'environment', 'state')],
        supports_check_mode=True,
        add_file_common_args=True,
    )
    missing = require_libraries()
    if missing:
        module.fail_json(msg=missing_required_lib(missing), exception=TOMLKIT_IMPORT_ERROR)

    params = module.params
    listed = params['runners'] is not None
    items = params['runners'] if listed else [params]
    # Tokens and URL passwords given in the arguments stay out of everything
    # the module returns, the echo of its arguments (invocation) included.
    module.no_log_values.update(secret_values(params['global'] or {}, SECRET_KEYS))
    for item in items:
        module.no_log_values.update(secret_values(
            dict((key, item[key]) for key in ('settings', 'environment', 'url')), SECRET_KEYS))
    if listed:
        # The global keys first, then each runner in the order given.
        edits = [RunnerEdit(global_settings=params['global'])] + [
            RunnerEdit(name=item['name'], url=item['url'], settings=item['settings'],
                       environment=item['environment'], state=item['state']) for item in items]
    else:
        edits = [RunnerEdit(global_settings=params['global'], name=params['name'], url=params['url'],
                            settings=params['settings'], environment=params['environment'], state=params['state'])]
    try:
        result = edit_file(
            module, params['path'], config_transform(edits, params['validate_keys']),
            create=params['create'], default_mode='0600', backup=params['backup'],
            mask=lambda text: mask_config_text(text, known=tuple(module.no_log_values)),
            holds_secret=config_holds_secret,
        )
    except (TomlDocumentError, FileChangedError, ValueError, OSError) as exc:
        module.fail_json(msg='%s: %s' % (params['path'], to_native(exc)))

    for message in result.payload.unknown_key_messages:
        module.warn('config.toml key unknown to gitlab-runner: %s' % message)
    returned = dict(changed=result.changed, unknown_keys=result.payload.unknown_keys)
    if listed:
        returned['runners'] = [
            dict(name=item['name'], url=item['url'], state=item['state'], changed=changed, runner=runner)
            for item, runner, changed in zip(items, result.payload.runners[1:], result.payload.runner_changed[1:])]
    else:
        returned['runner'] = result.payload.runner
    returned.update(result.file_returns())
    module.exit_json(**returned)


if __name__ == '__main__':
    main()
