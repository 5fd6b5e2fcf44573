#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: proxy_probe
short_description: Make one HTTP request through a proxy and say what its answer means
version_added: 1.0.0
description:
  - >-
    Sends exactly one C(GET) to O(url) - directly, through O(proxy), or through the proxy a systemd
    O(unit)'s environment gives that URL (Go's rules, as dockerd and gitlab-runner read C(HTTP_PROXY),
    C(HTTPS_PROXY) and C(NO_PROXY)) - and classifies the outcome. Nothing is retried: a proxy that refuses
    an account sees it once, since repeated failures lock corporate accounts.
  - RV(outcome) tells apart the proxy refusing the credentials (C(credentials refused)), cntlm reaching
    none of its upstream proxies (C(upstream unreachable)), a name that does not resolve (C(name not
    resolved)) - for cntlm's upstreams this is decided by resolving O(upstreams) on this host, since
    cntlm answers both the same way - a local proxy that does not answer (C(proxy unreachable)), the
    proxy's own error pages, and C(reached) when the destination answered, whatever it said.
  - >-
    The request changes nothing on the host. The module never fails because of the outcome: it reports it.
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
  url:
    description:
      - The http:// or https:// URL to request. Through a proxy an https:// URL is a C(CONNECT) to its
        host and port; the answer to that tells everything about the proxy.
    type: str
    required: true
  proxy:
    description:
      - The proxy, C(http://[user:password@]host:port). Empty for a direct request. Its password is never
        returned.
      - Mutually exclusive with O(unit).
    type: str
  unit:
    description:
      - A systemd unit (C(docker), C(gitlab-runner)) whose C(Environment) decides the proxy for O(url), as
        the service itself would decide. RV(environment_problems) says what its proxy environment lacks.
    type: str
  upstreams:
    description:
      - The upstream proxies (C(host:port)) behind O(proxy) when it is cntlm. When cntlm reaches none of
        them, each name is resolved and a TCP connection opened to tell a name that does not resolve from
        a proxy that does not answer. No HTTP request is sent to them.
    type: list
    elements: str
    default: []
  expect_status:
    description:
      - Statuses the destination must answer with; another is reported as C(unexpected answer). By default
        every answer of the destination counts as C(reached).
    type: list
    elements: int
  headers:
    description:
      - Request headers (for example C(Accept) for a registry manifest).
    type: dict
    default: {}
  timeout:
    description:
      - Seconds for the whole request.
    type: int
    default: 20
'''

EXAMPLES = r'''
- name: Ask cntlm for a URL outside the company, once
  behindproxy.gitlab_runner.proxy_probe:
    url: http://files.example.com/
    proxy: http://127.0.0.1:3128
    upstreams: [proxy.corp.example:8080]
  register: upstream
  check_mode: false

- name: Call GitLab's API the way the runner service would
  behindproxy.gitlab_runner.proxy_probe:
    url: https://gitlab.example.com/api/v4/version
    unit: gitlab-runner
  register: runner_api
'''

RETURN = r'''
outcome:
  description: What the answer means (C(reached), C(credentials refused), C(upstream unreachable), C(name not
    resolved), C(proxy unreachable), C(access denied), C(proxy error), C(destination unreachable), C(timed out),
    C(TLS failed), C(unexpected answer), C(no answer)).
  returned: always
  type: str
  sample: credentials refused
ok:
  description: Whether the destination answered as expected.
  returned: always
  type: bool
status:
  description: The HTTP status of the answer (the proxy's or the destination's), or null without one.
  returned: always
  type: int
  sample: 407
detail:
  description: What was seen, in one line; passwords masked.
  returned: always
  type: str
through:
  description: The proxy used (password masked), or C(direct).
  returned: always
  type: str
  sample: http://127.0.0.1:3128
environment_problems:
  description: With O(unit), what the unit's proxy environment lacks.
  returned: always
  type: list
  elements: str
'''

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._doctor import (
    REACHED,
    UPSTREAM_UNREACHABLE,
    diagnose_upstreams,
    probe_url,
    service_environment_problems,
    shown,
    systemd_environment,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._gitlab_api import choose_proxy
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import UrlError
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values


def _resolves(host):
    try:
        return bool(socket.getaddrinfo(host, None))
    except (socket.gaierror, UnicodeError):
        return False


def _accepts(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            proxy=dict(type='str', no_log=False),
            unit=dict(type='str'),
            upstreams=dict(type='list', elements='str', default=[]),
            expect_status=dict(type='list', elements='int'),
            headers=dict(type='dict', default={}),
            timeout=dict(type='int', default=20),
        ),
        mutually_exclusive=[('proxy', 'unit')],
        supports_check_mode=True,
    )
    params = module.params
    # The proxy is shown (as RV(through)), its password never.
    module.no_log_values.update(secret_values({'proxy': params['proxy'] or ''}, ()))
    problems = []
    proxy = params['proxy'] or None
    if params['unit']:
        rc, out, err = module.run_command(['systemctl', 'show', '--property=Environment', params['unit']])
        if rc != 0:
            module.fail_json(msg='cannot read the environment of %s: %s' % (params['unit'], err.strip()))
        environment = systemd_environment(out)
        module.no_log_values.update(secret_values(environment, ()))
        problems = service_environment_problems(environment, params['unit'])
        proxy = choose_proxy(params['url'], environ=environment)
    try:
        found, status = probe_url(params['url'], proxy, params['timeout'], params['headers'], params['expect_status'])
    except UrlError as error:
        module.fail_json(msg=str(error))
    if found.outcome == UPSTREAM_UNREACHABLE and params['upstreams']:
        found = diagnose_upstreams(params['upstreams'], _resolves, _accepts)
    module.exit_json(changed=False, outcome=found.outcome, ok=found.outcome == REACHED, status=status,
                     detail=found.detail, through=shown(proxy) if proxy else 'direct',
                     environment_problems=problems)


if __name__ == '__main__':
    main()
