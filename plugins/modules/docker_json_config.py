#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: docker_json_config
short_description: Edit Docker's daemon.json or a client's config.json
version_added: 1.0.0
description:
  - Deep-merges O(settings) into Docker's JSON configuration files - the daemon's C(/etc/docker/daemon.json)
    or a client's C(~/.docker/config.json) - and removes the keys listed in O(remove). Every key the task
    does not name (C(auths), C(credsStore), C(storage-driver), ...) is kept.
  - When the data does not change, the file is not touched at all (not even reformatted). When it does,
    the whole document is written with O(indent) and a final newline, through a temporary file in the
    file's own directory that is moved into place atomically. If the file changes on disk between the
    module's read and its write, the edit is applied again to the new content.
  - Invalid JSON on disk makes the task fail with the line and column of the error; the file is left
    untouched.
  - For the daemon, RV(daemon_action) tells whether dockerd must be reloaded (every changed key is one
    dockerd re-reads on SIGHUP) or restarted.
  - Credentials (C(auth), C(password), C(identitytoken), C(registrytoken)) and the passwords of
    C(scheme://user:password@host) URLs are masked in the diff and in RV(content); those given in
    O(settings) are also masked in the module's echo of its own arguments (C(invocation), shown at C(-vvv)).
author:
  - behindproxy developers (@behindproxy)
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
      - Path of the JSON file.
    type: path
    required: true
  kind:
    description:
      - V(daemon) for dockerd's C(daemon.json), V(client) for a client's C(config.json).
      - Defaults to V(daemon) when the file is named C(daemon.json), V(client) otherwise.
    type: str
    choices: [daemon, client]
  settings:
    description:
      - Keys deep-merged into the document. Objects merge recursively, a key set to V(null) is removed,
        lists follow O(list_merge).
    type: dict
  remove:
    description:
      - Keys to delete. Each entry is a dotted path such as V(proxies.default.ftpProxy), or a list of keys
        for keys that contain dots, such as V([auths, registry.example.com]).
      - Keys that are not there are ignored.
    type: list
    elements: raw
  list_merge:
    description:
      - V(replace) replaces a list with the given one. V(union) keeps the existing items and appends the
        new ones that are not there yet, for example to add a mirror to C(registry-mirrors) without
        dropping the others.
    type: str
    choices: [replace, union]
    default: replace
  create:
    description:
      - Create the file when it does not exist. With V(false) a missing file is an error.
    type: bool
    default: true
  indent:
    description:
      - Spaces per indentation level when the file is written.
    type: int
    default: 2
  mode:
    description:
      - Permissions of the file. An existing file keeps its mode when O(mode) is not given.
      - A new file gets V('0600') for O(kind=client), whose C(auths) hold registry credentials, and
        V('0644') for O(kind=daemon) - V('0600') when it holds a secret (a credential or a URL with a
        password, such as a proxy URL with its password in C(proxies)).
      - A file that holds a secret is never left with any permission for other users, nor writable by its
        group. A O(mode) that would allow either (V('0644'), V('0622'), V('0660'), ...) fails the task, naming
        the file, the mode and who could read or change it, before anything is written; V('0600') and
        V('0640') are accepted. An existing file with such a mode is tightened instead to its owner's
        permissions alone, so V('0644') and V('0662') become V('0600') (the mode the Docker CLI gives
        config.json), with a warning.
      - A O(backup) is never looser than the file it was made from is left.
    type: raw
  backup:
    description:
      - Keep a timestamped copy of the file before it is changed.
    type: bool
    default: false
notes:
  - C(proxies) in daemon.json needs Docker Engine 23.0 or newer; Debian 12's Engine 20.10 reads its proxy
    from a systemd drop-in (the docker_proxy role).
  - A key set both in daemon.json and as a dockerd command-line flag stops dockerd from starting.
seealso:
  - module: behindproxy.gitlab_runner.runner_config
'''

EXAMPLES = r'''
- name: Use the local pull-through cache and keep containers running across restarts
  behindproxy.gitlab_runner.docker_json_config:
    path: /etc/docker/daemon.json
    settings:
      registry-mirrors: [http://172.17.0.1:5000]
      live-restore: true
    list_merge: union
  register: daemon_json

- name: Reload or restart dockerd as the change requires
  ansible.builtin.systemd_service:
    name: docker
    state: "{{ 'reloaded' if daemon_json.daemon_action == 'reload' else 'restarted' }}"
  when: daemon_json.daemon_action != 'none'

- name: Give containers started by root the proxy
  behindproxy.gitlab_runner.docker_json_config:
    path: /root/.docker/config.json
    settings:
      proxies:
        default:
          httpProxy: http://172.17.0.1:3128
          httpsProxy: http://172.17.0.1:3128
          noProxy: localhost,127.0.0.1,docker

- name: Drop the FTP proxy and the credentials of a registry whose name has dots
  behindproxy.gitlab_runner.docker_json_config:
    path: /root/.docker/config.json
    remove:
      - proxies.default.ftpProxy
      - [auths, registry.example.com]
'''

RETURN = r'''
content:
  description: The document after the edit, credentials and URL passwords masked.
  returned: always
  type: dict
  sample:
    registry-mirrors: [http://172.17.0.1:5000]
    live-restore: true
daemon_action:
  description:
    - V(reload) when every changed top-level key is one dockerd re-reads on SIGHUP (C(registry-mirrors),
      C(live-restore), C(insecure-registries), C(debug), C(labels), C(max-concurrent-downloads),
      C(max-concurrent-uploads), C(shutdown-timeout)), V(restart) when any other key changed, V(none) when
      nothing changed. Always V(none) for O(kind=client).
  returned: always
  type: str
  sample: reload
diff:
  description:
    - The file's text before and after the edit, credentials masked.
    - Only in diff mode (C(--diff)); a file's text is not returned otherwise.
  returned: when diff mode is on
  type: dict
  sample:
    before_header: /etc/docker/daemon.json (content)
    after_header: /etc/docker/daemon.json (content)
    before: "{}\n"
    after: "{\n  \"live-restore\": true\n}\n"
backup_file:
  description: Path of the backup copy.
  returned: when O(backup=true) and the file was changed
  type: str
  sample: /etc/docker/daemon.json.12345.2026-01-01@00:00:00~
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._json_document import (
    SECRET_KEYS,
    JsonDocumentError,
    JsonEdit,
    default_kind,
    default_mode,
    holds_secret,
    json_transform,
    mask_json_text,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._safe_write import (
    FileChangedError,
    edit_file,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            kind=dict(type='str', choices=['daemon', 'client']),
            settings=dict(type='dict'),
            remove=dict(type='list', elements='raw'),
            list_merge=dict(type='str', choices=['replace', 'union'], default='replace'),
            create=dict(type='bool', default=True),
            indent=dict(type='int', default=2),
            backup=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
        add_file_common_args=True,
    )
    params = module.params
    # Registry credentials and URL passwords given in the arguments stay out
    # of everything the module returns, the echo of its arguments included.
    module.no_log_values.update(secret_values(params['settings'] or {}, SECRET_KEYS))
    kind = params['kind'] or default_kind(params['path'])
    edit = JsonEdit(kind=kind, settings=params['settings'], remove=params['remove'],
                    list_merge=params['list_merge'], indent=params['indent'])
    try:
        result = edit_file(
            module, params['path'], json_transform(edit), create=params['create'],
            default_mode=default_mode(kind), backup=params['backup'],
            mask=lambda text: mask_json_text(text, known=tuple(module.no_log_values)),
            holds_secret=holds_secret,
        )
    except (JsonDocumentError, FileChangedError, ValueError, OSError) as exc:
        module.fail_json(msg='%s: %s' % (params['path'], to_native(exc)))

    returned = dict(
        changed=result.changed,
        content=result.payload.content,
        daemon_action=result.payload.daemon_action,
    )
    returned.update(result.file_returns())
    module.exit_json(**returned)


if __name__ == '__main__':
    main()
