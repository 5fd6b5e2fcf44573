#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: repository_key
short_description: Install a package repository's signing key, if it is one the inventory accepts
version_added: 1.0.0
description:
  - Downloads the signing key of a package repository from O(url) on every run, computes the fingerprints of
    its keys, and installs it at O(dest) (for C(signed-by)) when one of them is in O(fingerprints).
  - A key none of whose fingerprints is accepted fails the task with an error that names them; O(dest) is left
    as it was. When a vendor replaces its key and the inventory accepts the new one, the next run installs it.
  - The download keeps its connection open (it sends no C(Connection) header set to C(close)), so that it passes through cntlm 0.92.3,
    which cannot authenticate such clients; Ansible's M(ansible.builtin.uri) and M(ansible.builtin.get_url) send
    that header.
  - Reading the key changes nothing, so the module reads it in check mode too. When it cannot be read in check
    mode (the proxy it goes through is installed by the same play, say), the task reports a change it cannot
    check yet, with a warning, instead of failing.
author:
  - behindproxy developers (@behindproxy)
attributes:
  check_mode:
    support: full
    description: Reads the key and reports whether O(dest) would change.
  diff_mode:
    support: none
    description: The fingerprints before and after are returned instead.
options:
  url:
    description: Where the key is served (C(http) or C(https)), armoured or binary.
    type: str
    required: true
  dest:
    description: Where the key is installed, for example C(/etc/apt/keyrings/gitlab-runner.asc).
    type: path
    required: true
  fingerprints:
    description:
      - The fingerprints to accept (40 hex digits, spaces allowed, either case). Empty accepts nothing.
    type: list
    elements: str
    required: true
  proxy:
    description:
      - An C(http://[user:password@]host:port) proxy for the download. Empty or not given, the download is direct.
    type: str
  timeout:
    description: Seconds to wait for the server.
    type: int
    default: 30
  validate_certs:
    description: Check the server's certificate for an C(https) URL.
    type: bool
    default: true
  mode:
    description: Permissions of O(dest).
    type: str
    default: '0644'
notes:
  - Version 4 OpenPGP keys only (what GnuPG 1 and 2 make).
seealso:
  - plugin: behindproxy.gitlab_runner.openpgp_fingerprints
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Install GitLab's package signing key through cntlm, if it is the one we accept
  behindproxy.gitlab_runner.repository_key:
    url: https://packages.gitlab.com/runner/gitlab-runner/gpgkey
    dest: /etc/apt/keyrings/gitlab-runner.asc
    fingerprints: "{{ gitlab_runner_repository_key_fingerprints }}"
    proxy: http://127.0.0.1:3128
'''

RETURN = r'''
fingerprints:
  description: The fingerprints of the primary keys served at O(url) (empty when it could not be read in check mode).
  returned: always
  type: list
  elements: str
  sample: [0123456789ABCDEF0123456789ABCDEF01234567]
previous_fingerprints:
  description: The fingerprints of the key O(dest) held before (empty when there was none or it was unreadable).
  returned: always
  type: list
  elements: str
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import make_context

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _http
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _openpgp
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo, secret_values


def normal_fingerprint(text):
    return re.sub(r'\s', '', text).upper()


def installed_fingerprints(path):
    try:
        with open(path, 'rb') as handle:
            return _openpgp.fingerprints(handle.read())
    except (OSError, ValueError):
        return []


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            dest=dict(type='path', required=True),
            fingerprints=dict(type='list', elements='str', required=True),
            proxy=dict(type='str'),
            timeout=dict(type='int', default=30),
            validate_certs=dict(type='bool', default=True),
            mode=dict(type='str', default='0644'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # A proxy URL's password stays out of everything the module returns.
    module.no_log_values.update(secret_values({'proxy': params['proxy']}, ()))
    accepted = [normal_fingerprint(value) for value in params['fingerprints']]
    bad = [value for value, normal in zip(params['fingerprints'], accepted) if not re.fullmatch(r'[0-9A-F]{40}', normal)]
    if bad:
        module.fail_json(msg='fingerprints must be 40 hex digits each, got %r' % bad)
    previous = installed_fingerprints(params['dest'])
    try:
        status, reason, headers, key = _http.request(
            'GET', params['url'], proxy=params['proxy'] or None, timeout=params['timeout'],
            ssl_context=make_context(validate_certs=params['validate_certs']))
        if status != 200:
            raise _http.HttpError('HTTP %d %s' % (status, reason))
    except _http.HttpError as error:
        message = 'cannot download the key from %s%s: %s' % (
            params['url'], ' through %s' % mask_url_userinfo(params['proxy']) if params['proxy'] else '', error)
        if module.check_mode:
            module.warn('%s; in check mode this counts as a change that cannot be checked yet' % message)
            module.exit_json(changed=True, fingerprints=[], previous_fingerprints=previous)
        module.fail_json(msg=message, previous_fingerprints=previous)
    try:
        served = _openpgp.fingerprints(key)
    except ValueError as error:
        module.fail_json(msg='%s does not serve an OpenPGP key: %s' % (params['url'], to_native(error)))
    if not set(served) & set(accepted):
        module.fail_json(
            msg='The key served at %s has the fingerprint(s) %s, none of which is accepted (%s). Check the fingerprint '
                'with the vendor and add it to accept the key; %s is left as it is.'
                % (params['url'], ', '.join(served), ', '.join(accepted) or 'none', params['dest']),
            fingerprints=served, previous_fingerprints=previous)

    try:
        with open(params['dest'], 'rb') as handle:
            current = handle.read()
    except OSError:
        current = None
    changed = current != key
    if changed and not module.check_mode:
        directory = os.path.dirname(params['dest']) or '.'
        temporary = os.path.join(directory, '.%s.new' % os.path.basename(params['dest']))
        try:
            with open(temporary, 'wb') as handle:
                handle.write(key)
            module.atomic_move(temporary, params['dest'])
        except OSError as error:
            module.fail_json(msg='%s: %s' % (params['dest'], to_native(error)))
    file_args = module.load_file_common_arguments(dict(path=params['dest'], mode=params['mode'], owner='root',
                                                       group='root'))
    if not module.check_mode or not changed:
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, fingerprints=served, previous_fingerprints=previous)


if __name__ == '__main__':
    main()
