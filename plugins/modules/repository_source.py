#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: repository_source
short_description: Make one apt source of a vendor repository, with its keyring, the only source of that repository
version_added: 1.0.0
description:
  - Writes the one-line source C(deb [signed-by=SIGNED_BY] URL SUITE COMPONENTS) at O(dest).
  - Takes over every other source of the same repository that apt reads - in O(sources_list) and in the C(.list)
    and C(.sources) files of O(sources_dir), in the one-line or the deb822 form, C(deb) and C(deb-src) - by
    commenting it out, with a comment line saying where the source now is; nothing else in those files changes,
    and no file is removed. apt refuses all its sources ("Conflicting values set for option Signed-By") when one
    repository is configured twice with different keyrings, which is what a host set up earlier by GitLab's own
    repository script has (C(/etc/apt/sources.list.d/runner_gitlab-runner.list)); a second source with the same
    keyring would be configured twice as well.
  - A source is of the same repository when its URI has the same host, port and path (a trailing C(/) aside),
    whatever its scheme. Disabled deb822 stanzas (C(Enabled) V(no)) are left alone.
  - A deb822 stanza that lists this repository among other URIs cannot be taken over alone; the module then fails
    naming the file and the line, before it writes anything.
  - A URL that carries credentials is refused (a source list is readable by every user); apt reads them from
    C(/etc/apt/auth.conf.d/) (mode 0600).
author:
  - behindproxy developers (@behindproxy)
extends_documentation_fragment:
  - behindproxy.gitlab_runner.safe_write
attributes:
  check_mode:
    support: full
    description: Reports what would be written and taken over, and fails as it would, writing nothing.
  diff_mode:
    support: full
    description: The text of each file before and after, passwords in URLs masked.
options:
  url:
    description: The repository's URL (C(http) or C(https)), without credentials.
    type: str
    required: true
  suite:
    description: The suite (distribution code name), such as V(bookworm).
    type: str
    required: true
  components:
    description: The components, such as V([main]).
    type: list
    elements: str
    default: [main]
  signed_by:
    description: The keyring that signs the repository, such as C(/etc/apt/keyrings/gitlab-runner.asc).
    type: path
    required: true
  dest:
    description: The source file to write, in O(sources_dir), such as C(/etc/apt/sources.list.d/gitlab-runner.list).
    type: path
    required: true
  sources_list:
    description: apt's main source list.
    type: path
    default: /etc/apt/sources.list
  sources_dir:
    description: apt's folder of source files.
    type: path
    default: /etc/apt/sources.list.d
'''

EXAMPLES = r'''
- name: Add GitLab's runner repository, taking over the source GitLab's script wrote
  behindproxy.gitlab_runner.repository_source:
    url: https://packages.gitlab.com/runner/gitlab-runner/debian/
    suite: bookworm
    signed_by: /etc/apt/keyrings/gitlab-runner.asc
    dest: /etc/apt/sources.list.d/gitlab-runner.list
'''

RETURN = r'''
taken_over:
  description:
    - The other sources of the repository that were commented out (would be, in check mode), by file, each line as
      it was (passwords in URLs masked).
  returned: always
  type: dict
  sample:
    /etc/apt/sources.list.d/runner_gitlab-runner.list:
      - deb [signed-by=/usr/share/keyrings/runner_gitlab-runner-archive-keyring.gpg]
        https://packages.gitlab.com/runner/gitlab-runner/debian/ bookworm main
source:
  description: The source line at O(dest).
  returned: success
  type: str
  sample: deb [signed-by=/etc/apt/keyrings/gitlab-runner.asc] https://packages.gitlab.com/runner/gitlab-runner/debian/ bookworm main
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._apt import (
    checked_repository_url,
    one_line_source,
    source_files,
    taken_over,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._safe_write import (
    FileChangedError,
    FileLockError,
    edit_file,
)

HEADER = '# Managed by Ansible: behindproxy.gitlab_runner.repository_source\n'


def takeover_plan(files, url, dest):
    """{path: lines taken over} of the other source files, or ValueError (nothing written yet)."""
    plan = {}
    own = os.path.realpath(dest)
    for path in files:
        if os.path.realpath(path) == own:
            continue
        with open(path, 'rb') as handle:
            text = to_text(handle.read(), errors='surrogate_or_strict')
        dummy, taken = taken_over(path, text, url, dest)
        if taken:
            plan[path] = [mask_url_userinfo(line) for line in taken]
    return plan


def _taking_over(path, url, dest):
    def transform(content):
        if content is None:
            return None, []
        text, taken = taken_over(path, to_text(content, errors='surrogate_or_strict'), url, dest)
        return to_bytes(text, errors='surrogate_or_strict'), taken
    return transform


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            suite=dict(type='str', required=True),
            components=dict(type='list', elements='str', default=['main']),
            signed_by=dict(type='path', required=True),
            dest=dict(type='path', required=True),
            sources_list=dict(type='path', default='/etc/apt/sources.list'),
            sources_dir=dict(type='path', default='/etc/apt/sources.list.d'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        checked_repository_url(params['url'], 'url')
        source = one_line_source(params['url'], params['suite'], params['components'], params['signed_by'])
        plan = takeover_plan(source_files(params['sources_list'], params['sources_dir']), params['url'], params['dest'])
    except (ValueError, OSError, UnicodeError) as error:
        module.fail_json(msg=to_native(error), taken_over={})
    changed, diffs = False, []
    try:
        for path in plan:
            result = edit_file(module, path, _taking_over(path, params['url'], params['dest']), create=False,
                               mask=mask_url_userinfo)
            changed |= result.changed
            diffs.append(result.diff)
            module.warn('Took over the source of %s in %s (commented out): the one source of that repository is %s'
                        % (mask_url_userinfo(params['url']), path, params['dest']))
        result = edit_file(module, params['dest'], lambda content: (to_bytes(HEADER + source), None),
                           default_mode=0o644, mask=mask_url_userinfo)
        changed |= result.changed
        diffs.append(result.diff)
    except (ValueError, OSError, FileChangedError, FileLockError) as error:
        module.fail_json(msg=to_native(error), taken_over=plan)
    returned = dict(changed=changed, taken_over=plan, source=source.rstrip('\n'))
    if module._diff:
        returned['diff'] = [diff for diff in diffs if diff]
    module.exit_json(**returned)


if __name__ == '__main__':
    main()
