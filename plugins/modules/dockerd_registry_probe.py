#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: dockerd_registry_probe
short_description: Have dockerd ask a registry for an image's manifest, through its own proxy
version_added: 1.0.0
description:
  - >-
    Asks the Docker daemon, over its API socket, for the registry's description of O(image)
    (C(GET /distribution/IMAGE/json)): dockerd makes that request itself, with its own proxy environment
    and its C(registry-mirrors), and nothing is pulled or written.
  - Reads the proxy environment of the C(docker) unit (C(systemctl show)) and says what it lacks.
  - RV(outcome) classifies dockerd's answer as M(behindproxy.gitlab_runner.proxy_probe) does; a registry
    that answers "unknown manifest" or "unauthorized" still counts as C(reached).
  - Used by the C(behindproxy.gitlab_runner.doctor) playbook.
author:
  - behindproxy developers (@behindproxy)
attributes:
  check_mode:
    support: full
    description: Runs in check mode too; it only reads and asks.
  diff_mode:
    support: none
    description: Nothing to show a difference of; it changes nothing.
options:
  image:
    description:
      - The image reference, for example V(docker.io/library/busybox:latest).
    type: str
    required: true
  socket:
    description:
      - Path of dockerd's API socket.
    type: path
    default: /var/run/docker.sock
  unit:
    description:
      - The systemd unit of dockerd, whose environment is read.
    type: str
    default: docker
  timeout:
    description:
      - Seconds for dockerd's answer.
    type: int
    default: 60
'''

EXAMPLES = r'''
- name: Let dockerd reach its registry through the proxy
  behindproxy.gitlab_runner.dockerd_registry_probe:
    image: docker.io/library/busybox:latest
  register: dockerd
'''

RETURN = r'''
outcome:
  description: What dockerd's answer means (see M(behindproxy.gitlab_runner.proxy_probe)).
  returned: always
  type: str
  sample: proxy unreachable
ok:
  description: Whether the registry answered dockerd.
  returned: always
  type: bool
detail:
  description: dockerd's answer in one line, passwords masked.
  returned: always
  type: str
environment_problems:
  description: What dockerd's proxy environment lacks.
  returned: always
  type: list
  elements: str
'''

import http.client
import socket
import urllib.parse

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._doctor import (
    REACHED,
    classify_dockerd_answer,
    service_environment_problems,
    proxy_host,
    systemd_environment,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over dockerd's unix socket."""

    def __init__(self, path, timeout):
        super().__init__('localhost', timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _ask_dockerd(path, image, timeout):
    connection = _UnixConnection(path, timeout)
    try:
        connection.request('GET', '/distribution/%s/json' % urllib.parse.quote(image, safe='/:@'))
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type='str', required=True),
            socket=dict(type='path', default='/var/run/docker.sock'),
            unit=dict(type='str', default='docker'),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    rc, out, err = module.run_command(['systemctl', 'show', '--property=Environment', params['unit']])
    if rc != 0:
        module.fail_json(msg='cannot read the environment of %s: %s' % (params['unit'], err.strip()))
    environment = systemd_environment(out)
    module.no_log_values.update(secret_values(environment, ()))
    proxy = environment.get('HTTPS_PROXY') or environment.get('https_proxy') or ''
    try:
        status, body = _ask_dockerd(params['socket'], params['image'], params['timeout'])
    except OSError as error:
        module.fail_json(msg='dockerd does not answer on %s: %s' % (params['socket'], error))
    found = classify_dockerd_answer(status, body, proxy_host(proxy) if proxy else None)
    module.exit_json(changed=False, outcome=found.outcome, ok=found.outcome == REACHED, detail=found.detail,
                     environment_problems=service_environment_problems(environment, params['unit']))


if __name__ == '__main__':
    main()
