#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: runner_git_probe
short_description: Run git in a container with a runner's job environment, once
version_added: 1.0.0
description:
  - >-
    Starts one throw-away container (C(docker run --rm --pull never)) from O(image) with the C(environment)
    of the C([[runners]]) entry O(runner) of config.toml, and runs C(git ls-remote --heads) O(url) in it:
    what a job's git sees of the proxy. The proxy variables the job does not set are passed empty, so the
    docker client's own proxy settings cannot hide a missing job environment.
  - The variables' values reach the container through the docker client's environment; the command line
    only names them. Nothing is pulled; the container is removed.
  - RV(outcome) classifies git's answer as M(behindproxy.gitlab_runner.proxy_probe) does; a server that
    answers "repository not found" or asks for credentials still counts as C(reached). C(no git in the image)
    and C(image not on the host) mean the probe could not run.
  - Used by the C(behindproxy.gitlab_runner.doctor) playbook.
author:
  - behindproxy developers (@behindproxy)
attributes:
  check_mode:
    support: full
    description: Runs in check mode too; the container it starts is removed and nothing else is written.
  diff_mode:
    support: none
    description: Nothing to show a difference of; it changes nothing.
options:
  runner:
    description:
      - The C(name) of the runner whose environment the job gets.
    type: str
    required: true
  image:
    description:
      - An image on the host that has git (the runner's helper image has it).
    type: str
    required: true
  url:
    description:
      - The git repository URL (http or https).
    type: str
    required: true
  path:
    description:
      - Path of config.toml.
    type: path
    default: /etc/gitlab-runner/config.toml
  timeout:
    description:
      - Seconds git may take.
    type: int
    default: 60
'''

EXAMPLES = r'''
- name: Let a job's git reach the repository
  behindproxy.gitlab_runner.runner_git_probe:
    runner: docker-runner
    image: registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v19.4.0
    url: https://gitlab.example.com/group/project.git
  register: git
'''

RETURN = r'''
outcome:
  description: What git's answer means (see M(behindproxy.gitlab_runner.proxy_probe)), or C(no git in the image),
    C(image not on the host).
  returned: always
  type: str
ok:
  description: Whether git reached the server.
  returned: always
  type: bool
detail:
  description: git's answer in one line, passwords masked.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._doctor import (
    REACHED,
    classify_git_output,
    environment_dict,
    git_probe_command,
    proxy_host,
    read_config,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import SECRET_KEYS


def main():
    module = AnsibleModule(
        argument_spec=dict(
            runner=dict(type='str', required=True),
            image=dict(type='str', required=True),
            url=dict(type='str', required=True),
            path=dict(type='path', default='/etc/gitlab-runner/config.toml'),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        with open(params['path'], 'rb') as handle:
            document, problem = read_config(handle.read())
    except OSError as error:
        module.fail_json(msg='cannot read %s: %s' % (params['path'], error))
    if document is None:
        module.fail_json(msg=problem)
    module.no_log_values.update(value for value in secret_values(document, SECRET_KEYS) if value)
    entries = [entry for entry in document.get('runners', []) if entry.get('name') == params['runner']]
    if not entries:
        module.fail_json(msg='config.toml has no runner named %r' % params['runner'])
    entry = entries[0]
    variables = environment_dict(entry.get('environment'))
    network_mode = (entry.get('docker') or {}).get('network_mode', '')
    argv, environment = git_probe_command(params['image'], params['url'], network_mode, variables)
    rc, out, err = module.run_command(['timeout', str(params['timeout'])] + argv, environ_update=environment)
    proxy = environment.get('https_proxy') or environment.get('HTTPS_PROXY') or environment.get('http_proxy') or ''
    found = classify_git_output(rc, err + out, proxy_host(proxy) if proxy else None)
    module.exit_json(changed=False, outcome=found.outcome, ok=found.outcome == REACHED, detail=found.detail)


if __name__ == '__main__':
    main()
