#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: runner_config_check
short_description: Check a GitLab Runner config.toml, every key of it, and what its runners give their jobs
version_added: 1.0.0
description:
  - Reads config.toml (never writes it) and reports, in RV(problems), every key gitlab-runner would
    silently ignore - misspelled keys (with the runner's closest key), keys removed from the runner, keys
    in the wrong section (known only in another one) - and every value of a type the runner would refuse.
    Every key of the file is checked, not only those the collection writes.
  - Where the installed runner has C(gitlab-runner lint) (19.3.0 and later), its verdict on the file is
    added (RV(lint)).
  - >-
    For each C([[runners]]) entry, RV(runners) says what its job containers get: the proxy variables
    in both cases, the same value in both, a NO_PROXY every client honours, a proxy a container can reach
    (RV(runners[].job_environment_problems)); and, for a runner with a Docker-in-Docker service, whether
    NO_PROXY holds the dind daemon's name and ports (RV(runners[].dind_problems)).
  - Tokens and other secrets are never returned; URL passwords are masked.
  - Used by the C(behindproxy.gitlab_runner.doctor) playbook.
author:
  - behindproxy developers (@behindproxy)
attributes:
  check_mode:
    support: full
    description: Runs in check mode too; it only reads.
  diff_mode:
    support: none
    description: Nothing to show a difference of; it changes nothing.
options:
  path:
    description:
      - Path of config.toml.
    type: path
    default: /etc/gitlab-runner/config.toml
  lint:
    description:
      - Ask the installed runner too (C(gitlab-runner lint)), when it has the command.
    type: bool
    default: true
  runner_binary:
    description:
      - The gitlab-runner program.
    type: str
    default: gitlab-runner
'''

EXAMPLES = r'''
- name: Check config.toml the way the doctor does
  behindproxy.gitlab_runner.runner_config_check:
  register: config_check
'''

RETURN = r'''
exists:
  description: Whether the file exists.
  returned: always
  type: bool
problems:
  description: One line per key or value gitlab-runner would ignore or refuse, or the TOML parser's error.
  returned: always
  type: list
  elements: str
  sample: ["runners[0].docker.imgae: unknown key, did you mean 'image'?"]
lint:
  description: The runner's own verdict (C(gitlab-runner lint)); C(available) false when the runner has no lint.
  returned: always
  type: dict
  contains:
    available: {description: "Whether the command was run.", type: bool}
    version: {description: "The runner's version (major.minor), or empty.", type: str}
    ok: {description: "Whether lint accepted the file.", type: bool}
    output: {description: "What lint said, secrets masked.", type: str}
runners:
  description: One entry per C([[runners]]) entry, in file order.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: "The runner's name.", type: str}
    url: {description: "Its GitLab URL (password masked).", type: str}
    executor: {description: "Its executor.", type: str}
    image: {description: "[runners.docker] image.", type: str}
    helper_image: {description: "[runners.docker] helper_image, or empty.", type: str}
    network_mode: {description: "[runners.docker] network_mode, or empty.", type: str}
    job_environment_problems: {description: "What keeps its jobs' clients from the proxy.", type: list, elements: str}
    dind: {description: "The dind daemon's host name, or empty when the runner has no dind.", type: str}
    dind_problems: {description: "The dind entries missing from NO_PROXY.", type: list, elements: str}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._doctor import (
    config_key_problems,
    lint_available,
    read_config,
    runner_summary,
    runner_version,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import SECRET_KEYS, mask_config_text

NO_LINT = {'available': False, 'version': '', 'ok': True, 'output': ''}


def _lint(module, path, binary):
    rc, out, err = module.run_command([binary, '--version'])
    version = runner_version(out) if rc == 0 else None
    found = {'available': lint_available(version), 'version': '%d.%d' % version if version else '', 'ok': True,
             'output': ''}
    if found['available']:
        rc, out, err = module.run_command([binary, 'lint', '--config', path])
        found['ok'] = rc == 0
        found['output'] = mask_config_text((err + out).strip(), known=tuple(module.no_log_values))
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/gitlab-runner/config.toml'),
            lint=dict(type='bool', default=True),
            runner_binary=dict(type='str', default='gitlab-runner'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        with open(params['path'], 'rb') as handle:
            raw = handle.read()
    except FileNotFoundError:
        module.exit_json(changed=False, exists=False, problems=[], runners=[], lint=NO_LINT)
    except OSError as error:
        module.fail_json(msg='cannot read %s: %s' % (params['path'], error))
    document, problem = read_config(raw)
    if document is not None:
        module.no_log_values.update(value for value in secret_values(document, SECRET_KEYS) if value)
    problems = [problem] if problem else config_key_problems(document)
    runners = [runner_summary(entry) for entry in (document or {}).get('runners', []) if isinstance(entry, dict)]
    binary = module.get_bin_path(params['runner_binary']) if params['lint'] else None
    lint = _lint(module, params['path'], binary) if binary else NO_LINT
    module.exit_json(changed=False, exists=True, problems=problems, runners=runners, lint=lint)


if __name__ == '__main__':
    main()
