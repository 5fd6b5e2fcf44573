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
  - Downloads the signing key file of a package repository from O(url) on every run, computes the fingerprints of
    the keys in it, and installs at O(dest) (for C(signed-by)) a keyring of the keys whose fingerprints are in
    O(fingerprints), each with its user ids, subkeys and signatures, and nothing else.
  - The file is read as apt and gpg read it, binary or ASCII-armoured, every armoured block in it. Keys in it that are
    not accepted are left out of O(dest), with a warning that names them. apt trusts any key in a C(signed-by)
    keyring, so one key added to the vendor's file (by a tampered mirror or an inspecting proxy) would otherwise be
    trusted as the vendor's. A secret key, or anything but public keys, user ids and signatures, is
    refused.
  - A file none of whose keys is accepted fails the task with an error that names their fingerprints; O(dest) is
    left as it was. When a vendor replaces its key and the inventory accepts the new one, the next run installs it.
  - O(dest) is written ASCII-armoured when its name ends in C(.asc), binary otherwise, as apt expects.
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
    description:
      - Where the key is served (C(http) or C(https)), armoured or binary.
      - Credentials in it (C(https://user:password@host/key), percent-encoded as in any URL) are sent with HTTP Basic
        authentication, as apt sends those of a repository URL, and never shown. The password is masked in every
        message and result.
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
  description:
    - The fingerprints of the primary keys served at O(url), in every armoured block, accepted or not (empty when it
      could not be read in check mode).
  returned: always
  type: list
  elements: str
  sample: [0123456789ABCDEF0123456789ABCDEF01234567]
installed_fingerprints:
  description:
    - The fingerprints of the primary keys O(dest) holds after the run (would hold, in check mode), the accepted ones
      among RV(fingerprints).
  returned: success
  type: list
  elements: str
  sample: [0123456789ABCDEF0123456789ABCDEF01234567]
previous_fingerprints:
  description: The fingerprints of the key O(dest) held before (empty when there was none or it was unreadable).
  returned: always
  type: list
  elements: str
'''

import base64
import os
import re
import urllib.parse
from collections import namedtuple

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import make_context

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _http
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _openpgp
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import MASK, mask_url_userinfo, secret_values


def normal_fingerprint(text):
    return re.sub(r'\s', '', text).upper()


def installed_fingerprints(path):
    try:
        with open(path, 'rb') as handle:
            return _openpgp.fingerprints(handle.read())
    except (OSError, ValueError):
        return []


# A key URL taken apart: ``plain`` without user info (what is requested), ``shown`` with the password masked,
# ``user`` and ``password`` percent-decoded (None when not given), ``secrets`` every form of the password that
# could show (as written, decoded, in the Basic header).
KeyUrl = namedtuple('KeyUrl', 'plain shown user password secrets')


def basic_authorization(user, password):
    """The headers that send ``user`` and ``password`` with HTTP Basic authentication (none without a user)."""
    if user is None:
        return {}
    credentials = '%s:%s' % (user, password or '')
    return {'Authorization': 'Basic ' + base64.b64encode(credentials.encode('utf-8')).decode('ascii')}


def split_credentials(url):
    """The KeyUrl of ``url``; its user info ends at the last "@" before the path, as apt and curl read it."""
    parts = urllib.parse.urlsplit(url)
    if '@' not in parts.netloc:
        return KeyUrl(url, url, None, None, frozenset())
    userinfo, dummy, hostport = parts.netloc.rpartition('@')
    written_user, colon, written_password = userinfo.partition(':')
    user = urllib.parse.unquote(written_user)
    password = urllib.parse.unquote(written_password) if colon else None
    secrets = frozenset()
    if password:
        header = basic_authorization(user, password)['Authorization'].split(' ', 1)[1]
        secrets = frozenset((written_password, password, header))
    return KeyUrl(plain=urllib.parse.urlunsplit(parts._replace(netloc=hostport)),
                  shown=urllib.parse.urlunsplit(parts._replace(
                      netloc='%s%s@%s' % (written_user, ':' + MASK if colon else '', hostport))),
                  user=user, password=password, secrets=secrets)


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
    try:
        key_url = split_credentials(params['url'])
    except ValueError as error:
        # Not shown: where its password ends cannot be told.
        module.fail_json(msg='url must be an http:// or https:// URL of the key; the one given is not a URL (%s)'
                             % to_native(error))
    # Passwords of the proxy and key URLs stay out of everything the module returns, its arguments' echo included.
    module.no_log_values.update(secret_values({'proxy': params['proxy']}, ()))
    module.no_log_values.update(key_url.secrets)
    accepted = [normal_fingerprint(value) for value in params['fingerprints']]
    bad = [value for value, normal in zip(params['fingerprints'], accepted) if not re.fullmatch(r'[0-9A-F]{40}', normal)]
    if bad:
        module.fail_json(msg='fingerprints must be 40 hex digits each, got %r' % bad)
    previous = installed_fingerprints(params['dest'])
    try:
        status, reason, headers, download = _http.request(
            'GET', key_url.plain, headers=basic_authorization(key_url.user, key_url.password), proxy=params['proxy'] or None,
            timeout=params['timeout'], ssl_context=make_context(validate_certs=params['validate_certs']))
        if status != 200:
            raise _http.HttpError('HTTP %d %s' % (status, reason))
    except _http.HttpError as error:
        message = 'cannot download the key from %s%s: %s' % (
            key_url.shown, ' through %s' % mask_url_userinfo(params['proxy']) if params['proxy'] else '', error)
        if module.check_mode:
            module.warn('%s; in check mode this counts as a change that cannot be checked yet' % message)
            module.exit_json(changed=True, fingerprints=[], installed_fingerprints=[], previous_fingerprints=previous)
        module.fail_json(msg=message, previous_fingerprints=previous)
    try:
        keys = _openpgp.read_keys(download)
    except ValueError as error:
        module.fail_json(msg='%s does not serve an OpenPGP key file apt can use: %s' % (key_url.shown, to_native(error)),
                         previous_fingerprints=previous)
    served = list(dict.fromkeys(key.fingerprint for key in keys))
    installed = [key for key in keys if key.fingerprint in accepted]
    if not installed:
        module.fail_json(
            msg='The key served at %s has the fingerprint(s) %s, none of which is accepted (%s). Check the fingerprint '
                'with the vendor and add it to accept the key; %s is left as it is.'
                % (key_url.shown, ', '.join(served), ', '.join(accepted) or 'none', params['dest']),
            fingerprints=served, previous_fingerprints=previous)
    unaccepted = [fingerprint for fingerprint in served if fingerprint not in accepted]
    if unaccepted:
        module.warn('The key file served at %s also holds the key(s) %s, which are not accepted; %s holds only the '
                    'accepted ones.' % (key_url.shown, ', '.join(unaccepted), params['dest']))
    content = _openpgp.keyring(installed, armoured=params['dest'].endswith('.asc'))

    try:
        with open(params['dest'], 'rb') as handle:
            current = handle.read()
    except OSError:
        current = None
    changed = current != content
    if changed and not module.check_mode:
        directory = os.path.dirname(params['dest']) or '.'
        temporary = os.path.join(directory, '.%s.new' % os.path.basename(params['dest']))
        try:
            with open(temporary, 'wb') as handle:
                handle.write(content)
            module.atomic_move(temporary, params['dest'])
        except OSError as error:
            module.fail_json(msg='%s: %s' % (params['dest'], to_native(error)))
    file_args = module.load_file_common_arguments(dict(path=params['dest'], mode=params['mode'], owner='root',
                                                       group='root'))
    if not module.check_mode or not changed:
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, fingerprints=served,
                     installed_fingerprints=list(dict.fromkeys(key.fingerprint for key in installed)),
                     previous_fingerprints=previous)


if __name__ == '__main__':
    main()
